"""Virtual cohorts: sample parameter distributions, run a :class:`Cohort` under
several regimens, and read response rates and survival (Kaplan–Meier).
"""

# --- the names other layers import from this package ---
from ._cohort import Cohort, CohortInterrupted, CohortResult, CohortStats, KaplanMeier, kaplan_meier, partial_rank_correlation  # noqa: F401
from ._calibrate import LANDMARK_STATISTICS, MEAN_STATISTICS, RATE_STATISTICS, TIME_STATISTICS, TRIAL_POPULATIONS, PSATrialResult, TargetStatistic, VirtualPopulation, calibrate_population, population_statistics, trial_population, trial_target_statistics, trial_targets, virtual_trial, zhang_trial_model  # noqa: F401
from ._distributions import Distribution, Empirical, Fixed, FromPPF, LogNormal, Normal, TruncatedNormal, Uniform  # noqa: F401
# --- end of package API ---

from . import plots  # noqa: E402

__all__ = ["plots", 'Cohort', 'CohortInterrupted', 'CohortResult', 'CohortStats', 'KaplanMeier', 'kaplan_meier', 'partial_rank_correlation', 'Distribution', 'LogNormal', 'Normal', 'TruncatedNormal', 'Uniform', 'Fixed', 'FromPPF', 'Empirical', 'TargetStatistic', 'VirtualPopulation', 'calibrate_population', 'population_statistics', 'RATE_STATISTICS', 'TIME_STATISTICS', 'LANDMARK_STATISTICS', 'TRIAL_POPULATIONS', 'trial_targets', 'trial_target_statistics', 'trial_population', 'virtual_trial', 'MEAN_STATISTICS', 'PSATrialResult', 'zhang_trial_model']
