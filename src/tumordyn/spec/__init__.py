"""tumordyn.spec."""

# --- package API (kept in step with tools/relayout.py) ---
from ._expr import ALLOWED_FUNCTIONS, RESERVED_NAMES, check_name, parse_expression  # noqa: F401
from ._model import Drug, Model, Module, Observable, Parameter, Process, State, TIME, _vanishes_at_zero, compose, input_symbol  # noqa: F401
# --- end of package API ---
