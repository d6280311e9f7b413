"""The dosing layer: what is given when.

:class:`Dose`, :class:`Infusion` and :class:`Schedule` are immutable values with an
algebra (``+``); an :class:`AdaptiveRule` gates a drug on a measured quantity and a
:class:`Regimen` is a schedule plus rules. Every engine consumes the immutable
array form of a schedule, :class:`DosingPlan`, built once per schedule and window.
"""

# --- the names other layers import from this package ---
from ._plan import DosingPlan, RulePlan, check_schedule  # noqa: F401
from ._rules import AdaptiveRule, Regimen, RuleEvent, as_regimen  # noqa: F401
from ._schedule import Dose, Infusion, Schedule  # noqa: F401
# --- end of package API ---

__all__ = ['Dose', 'Infusion', 'Schedule', 'AdaptiveRule', 'Regimen', 'RuleEvent', 'DosingPlan']
