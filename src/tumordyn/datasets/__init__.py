"""Datasets shipped with tumordyn, and a reader for a user's own lesion measurements.

* :func:`laleh2022` — target-lesion diameters and volumes of 1,461 patient records from five
  atezolizumab / docetaxel trials (Ghaffari Laleh et al. 2022, CC BY 4.0), as a tidy table;
* :func:`read_lesions` — a user's tidy CSV or DataFrame of lesion measurements, checked
  (columns, units, finite non-negative values, times in days, duplicates) and returned in the
  same form, ready for :func:`~tumordyn.fit` via :func:`fit_table`.
"""

# --- the names other layers import from this package ---
from ._laleh2022 import LALEH2022_BIBTEX, LALEH2022_CITATION, laleh2022  # noqa: F401
from ._lesions import LESION_COLUMNS, fit_table, read_lesions  # noqa: F401
# --- end of package API ---

__all__ = ["laleh2022", "LALEH2022_CITATION", "LALEH2022_BIBTEX", "read_lesions", "fit_table", "LESION_COLUMNS"]
