"""tumordyn.numerics."""

# --- package API (kept in step with tools/relayout.py) ---
from ._compile import CompiledModel, compile_model  # noqa: F401
from ._negative import NEGATIVE_SLACK  # noqa: F401
# --- end of package API ---
