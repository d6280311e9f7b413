"""tumordyn.spec."""

# --- package API (kept in step with tools/relayout.py) ---
from ._expr import ALLOWED_FUNCTIONS, RESERVED_NAMES, parse_expression  # noqa: F401
from ._model import Drug, Model, Module, Observable, Parameter, Process, State, TIME, compose, input_symbol, vanishes_at_zero  # noqa: F401
# --- end of package API ---
