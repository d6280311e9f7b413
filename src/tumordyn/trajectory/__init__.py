"""tumordyn.trajectory."""

# --- package API (kept in step with tools/relayout.py) ---
from ._simulate import SolverStats, _check_time, check_t_eval, default_times, make_solver, resolve_options, simulate, simulate_batch  # noqa: F401
from ._trajectory import Trajectory  # noqa: F401
# --- end of package API ---
