"""tumordyn.numerics."""

# --- package API (kept in step with tools/relayout.py) ---
from ._compile import CompiledModel  # noqa: F401
from ._negative import NEGATIVE_SLACK  # noqa: F401
# --- end of package API ---
