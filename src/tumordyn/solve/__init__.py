"""tumordyn.solve."""

# --- package API (kept in step with tools/relayout.py) ---
from ._compiled import numba_available  # noqa: F401
from ._dispatch import solve  # noqa: F401
from ._problem import BATCH_METHOD, COMPILED_METHOD, Engine, Problem, SCIPY_METHODS, Solution, Solver, SolverOptions, SolverStats  # noqa: F401
from ._scipy_engine import PlanSystem, ScipyEngine, check_segment, euler_step, integrate_plan, is_tiny_segment, solve_segment  # noqa: F401
# --- end of package API ---
