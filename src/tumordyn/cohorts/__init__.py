"""tumordyn.cohorts."""

# --- package API (kept in step with tools/relayout.py) ---
from ._cohort import Cohort, CohortResult, CohortStats, KaplanMeier, kaplan_meier, partial_rank_correlation  # noqa: F401
from ._distributions import Distribution, Fixed, LogNormal, Normal, TruncatedNormal, Uniform  # noqa: F401
# --- end of package API ---
