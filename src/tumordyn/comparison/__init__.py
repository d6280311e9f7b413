"""tumordyn.comparison."""

# --- package API (kept in step with tools/relayout.py) ---
from ._compare import Comparison, compare  # noqa: F401
from ._search import SearchResult, search_schedule  # noqa: F401
# --- end of package API ---
