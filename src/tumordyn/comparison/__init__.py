"""Comparing schedules: :func:`compare` tabulates clinical readouts of several
regimens for one patient; :func:`search_schedule` searches one dosing parameter.
"""

# --- the names other layers import from this package ---
from ._compare import COLUMN_HELP, TABLE_HEADERS, Comparison, compare  # noqa: F401
from ._search import SearchResult, search_schedule  # noqa: F401
# --- end of package API ---

from . import plots  # noqa: E402

__all__ = ["plots", 'compare', 'Comparison', 'search_schedule', 'SearchResult', 'COLUMN_HELP', 'TABLE_HEADERS']
