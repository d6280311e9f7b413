"""tumordyn.trajectory."""

# --- package API (kept in step with tools/relayout.py) ---
from ._simulate import SolverStats, _check_t_eval, _check_time, default_times, resolve_options, simulate, simulate_batch  # noqa: F401
from ._trajectory import Trajectory  # noqa: F401
# --- end of package API ---
