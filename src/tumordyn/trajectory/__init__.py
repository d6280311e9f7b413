"""The trajectory layer: :func:`simulate` one patient (or :func:`simulate_batch` many)
under a schedule and get a labelled, read-only :class:`Trajectory`.
"""

# --- the names other layers import from this package ---
from ._simulate import (UNIT_COVARIATES, check_t_eval, default_times, dose_scaling, make_solver,  # noqa: F401
                        simulate, simulate_batch)
from ._trajectory import Trajectory  # noqa: F401
from ._batch import BatchTrajectory  # noqa: F401
# --- end of package API ---

__all__ = ['simulate', 'simulate_batch', 'Trajectory', 'BatchTrajectory']
