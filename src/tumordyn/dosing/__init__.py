"""tumordyn.dosing."""

# --- package API (kept in step with tools/relayout.py) ---
from ._plan import DosingPlan, check_schedule  # noqa: F401
from ._rules import AdaptiveRule, Regimen, RuleEvent, as_regimen, integrate_with_rules  # noqa: F401
from ._schedule import Dose, Infusion, Schedule  # noqa: F401
# --- end of package API ---
