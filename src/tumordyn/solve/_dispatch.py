"""The one dispatcher: a :class:`~tumordyn.solve._problem.Problem` to the engine its method names.

:func:`solve` is the only place that picks an engine and the only fallback policy: for
``method="auto"``, the compiled Dormand–Prince engine with stiffness detection, then LSODA for the
patients whose :class:`~tumordyn.errors.SolverStatus` is in :data:`FALLBACK_STATUSES`. Problems with
adaptive rules take the same route: the compiled engine locates the switches itself; only a rule on an
observable numba cannot compile (:func:`tumordyn.solve._compiled.supports_rules`, a capability check) sends an
``"auto"`` solve to LSODA.
"""

from __future__ import annotations

import numpy as np

from ._batch import BatchEngine
from . import _compiled as _fast
from ._compiled import CompiledEngine
from ._scipy_engine import ScipyEngine
from ._problem import (
    ALL_METHODS,
    BATCH_METHOD,
    COMPILED_METHOD,
    SCIPY_METHODS,
    Engine,
    Problem,
    Solution,
    SolverOptions,
)
from ..errors import SolverStatus, SpecificationError

__all__ = ["solve", "engine_for", "auto_method", "FALLBACK_STATUSES"]


def engine_for(method: str, parallel: bool = False) -> Engine:
    """The engine a (non-``auto``) method names; ``parallel`` spreads the compiled engine over threads."""
    if method == COMPILED_METHOD:
        return CompiledEngine(parallel)
    if method == BATCH_METHOD:
        return BatchEngine()
    if method in SCIPY_METHODS:
        return ScipyEngine(method)
    raise SpecificationError(f"unknown method {method!r}; choose one of {', '.join(map(repr, ALL_METHODS))}")


def auto_method() -> str:
    """What ``method="auto"`` starts with: the compiled engine when numba is installed, else LSODA."""
    return COMPILED_METHOD if _fast.numba_available() else "LSODA"


#: Statuses after which ``method="auto"`` hands a patient from the explicit compiled engine to LSODA.
FALLBACK_STATUSES = (SolverStatus.STIFF, SolverStatus.TOO_MANY_STEPS)


def solve(problem: Problem, options: SolverOptions, *, parallel: bool = False) -> Solution:
    """Integrate ``problem`` with the engine ``options.method`` names (the one dispatcher).

    For ``method="auto"``: the compiled engine with stiffness detection, then LSODA for each patient
    whose status is in :data:`FALLBACK_STATUSES`; without numba, LSODA. Other failures (non-finite
    values, step size underflow, negative states) are kept: an implicit method does not cure a
    solution that blows up.

    Parameters
    ----------
    problem : Problem
        What to integrate.
    options : SolverOptions
        ``Solver(...).options(compiled)``.
    parallel : bool, optional
        Spread the patients over numba's threads on the compiled engine.

    Returns
    -------
    Solution
        Never raises for a failed solve: read :attr:`Solution.status` (or call
        :meth:`Solution.raise_first_failure`).
    """
    if options.method != "auto":
        return engine_for(options.method, parallel).solve(problem, options)
    first = auto_method()
    if first == COMPILED_METHOD and not _fast.supports_rules(problem.compiled, problem.rules):
        first = "LSODA"
    if first != COMPILED_METHOD:
        return engine_for(first).solve(problem, options)
    sol = engine_for(COMPILED_METHOD, parallel).solve(problem, options, detect_stiff=True)
    redo = np.flatnonzero(np.isin(sol.status, [int(s) for s in FALLBACK_STATUSES]))
    if redo.size == 0:
        return sol
    again = engine_for("LSODA").solve(problem.subset(redo), options)
    return Solution.merge(sol, redo, again)
