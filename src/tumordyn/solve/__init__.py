"""The solve layer: one problem type, one dispatcher, several engines.

:class:`Solver` holds the settings a user chooses (method, tolerances, step
limits). A :class:`Problem` (compiled model, dosing plan, parameter and initial
rows, output times) goes through the one dispatcher :func:`solve`, which picks an
engine (scipy, compiled Dormand–Prince, numpy batch), applies the one fallback
policy (by :class:`~tumordyn.errors.SolverStatus`) and returns a :class:`Solution`
in the one layout ``(patients, times, states)``.
"""

from ..errors import SolverStatus  # noqa: F401  (the status enum is part of the solve API)

# --- the names other layers import from this package ---
from ._compiled import numba_available  # noqa: F401
from ._dispatch import solve, solve_states  # noqa: F401
from ._problem import BATCH_METHOD, COMPILED_METHOD, Engine, Problem, SCIPY_METHODS, Solution, Solver, SolverOptions, SolverStats  # noqa: F401
from ._scipy import ScipyEngine  # noqa: F401
from ._scipy_engine import PlanSystem, integrate_plan  # noqa: F401
# --- end of package API ---

__all__ = ['Solver', 'SolverStats', 'SolverStatus', 'Problem', 'Solution', 'Engine', 'solve']
