"""The one dispatcher: a :class:`~tumordyn.solve._problem.Problem` to the engine its method names.

:func:`solve` is the only place that picks an engine and the only fallback policy: for
``method="auto"``, the compiled Dormand–Prince engine with stiffness detection, then LSODA for the
patients whose :class:`~tumordyn.errors.SolverStatus` is in :data:`FALLBACK_STATUSES`. Problems with
adaptive rules take the same route: the compiled engine locates the switches itself; only a rule on an
observable numba cannot compile (:func:`tumordyn.solve._compiled.supports_rules`, a capability check) sends an
``"auto"`` solve to LSODA. Models with events take the compiled engine too (it locates the triggers' changes and
executes the events with :class:`tumordyn.solve._events.EventQueue`), unless their triggers do not compile
(:func:`tumordyn.solve._compiled.supports_events`) or adaptive rules come with them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import overload

import numpy as np

from ._batch import BatchEngine
from . import _compiled as _fast
from ._compiled import CompiledEngine
from ._scipy import ScipyEngine
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
FALLBACK_STATUSES = (SolverStatus.STIFF, SolverStatus.TOO_MANY_STEPS, SolverStatus.UNSUPPORTED)


@overload
def solve(problem: Problem, options: SolverOptions, *, parallel: bool = False,
          done: np.ndarray | None = None) -> Solution: ...


@overload
def solve(problem: Sequence[Problem], options: SolverOptions, *, parallel: bool = False,
          done: np.ndarray | None = None) -> list[Solution]: ...


def solve(problem: Problem | Sequence[Problem], options: SolverOptions, *, parallel: bool = False,
          done: np.ndarray | None = None) -> Solution | list[Solution]:
    """Integrate ``problem`` with the engine ``options.method`` names (the one dispatcher).

    For ``method="auto"``: the compiled engine with stiffness detection, then LSODA for each patient
    whose status is in :data:`FALLBACK_STATUSES`; without numba, LSODA. Other failures (non-finite
    values, step size underflow, negative states) are kept: an implicit method does not cure a
    solution that blows up. A wall-time budget (``max_seconds``) is total: a patient that runs out of it
    on the compiled engine (:attr:`~tumordyn.errors.SolverStatus.TIME_BUDGET`) is not handed over, and
    a patient handed over gets only what its compiled solve left of the budget.

    Several problems of one model, each with its own dosing plan and output times (a fit's subjects), are
    integrated in one call of the compiled kernel (:meth:`CompiledEngine.solve_many
    <tumordyn.solve._compiled.CompiledEngine.solve_many>`), every patient's answer the same as its problem's
    alone; the ``"auto"`` fallback is then applied problem by problem; other engines solve them in turn.

    Parameters
    ----------
    problem : Problem or sequence of Problem
        What to integrate: one problem, or several of one compiled model (``done`` is then not accepted).
    options : SolverOptions
        ``Solver(...).options(compiled)``.
    parallel : bool, optional
        Spread the patients over numba's threads on the compiled engine.
    done : numpy.ndarray of int64, optional
        Shape ``(B,)``: entry ``j`` is set to 1 when patient ``j`` is finished, by the compiled engine as it
        goes (another thread may read it meanwhile: per-patient progress), by the other engines at the end.

    Returns
    -------
    Solution or list of Solution
        One per problem given. Never raises for a failed solve: read :attr:`Solution.status` (or call
        :meth:`Solution.raise_first_failure`).

    Raises
    ------
    SpecificationError
        For several problems of different compiled models, or with ``done``.
    """
    if not isinstance(problem, Problem):
        return _solve_many(list(problem), options, parallel, done)
    if options.method == COMPILED_METHOD:
        return CompiledEngine(parallel).solve(problem, options, done=done)
    if options.method != "auto":
        sol = engine_for(options.method, parallel).solve(problem, options)
        if done is not None:
            done[:] = 1
        return sol
    first = auto_method()
    c = problem.compiled
    if first == COMPILED_METHOD and ((c.n_events and (problem.rules is not None or not _fast.supports_events(c)))
                                     or not _fast.supports_rules(c, problem.rules)):
        first = "LSODA"  # capability checks; the compiled engine would refuse these with UNSUPPORTED
    if first != COMPILED_METHOD:
        sol = engine_for(first).solve(problem, options)
        if done is not None:
            done[:] = 1
        return sol
    return _fall_back(problem, options, CompiledEngine(parallel).solve(problem, options, detect_stiff=True, done=done))


def solve_states(problems: Sequence[Problem],
                 options: SolverOptions) -> tuple[list[np.ndarray] | None, list[Solution] | None]:
    """:func:`solve` of several problems for a caller that reads only the states (a fit's evaluations).

    Returns ``(ys, None)``, each problem's states ``(n_patients, len(t_eval), n_states)`` (its
    :class:`Solution`'s ``y``, the same numbers), when the compiled engine (``options.method == "dopri5"``)
    solved every patient, without making the solutions; otherwise ``(None, solutions)``, :func:`solve`'s
    answer, for the caller to read the failures (or, for other engines, the states) from.
    """
    problems = list(problems)
    if options.method == COMPILED_METHOD and problems:
        if any(p.compiled is not problems[0].compiled for p in problems):
            raise SpecificationError("solve: several problems must be of one compiled model")
        return CompiledEngine().states_many(problems, options)
    return None, _solve_many(problems, options, False, None)


def _solve_many(problems: list[Problem], options: SolverOptions, parallel: bool,
                done: np.ndarray | None) -> list[Solution]:
    """:func:`solve` of several problems: one compiled call for all where the compiled engine runs them."""
    if done is not None:
        raise SpecificationError("solve: `done` (per-patient progress) is for one problem, not a sequence")
    if any(p.compiled is not problems[0].compiled for p in problems):
        raise SpecificationError("solve: several problems must be of one compiled model")
    if options.method == COMPILED_METHOD:
        return CompiledEngine(parallel).solve_many(problems, options)
    compiled = bool(problems) and options.method == "auto" and auto_method() == COMPILED_METHOD
    if not compiled or problems[0].compiled.n_events or any(p.rules is not None for p in problems):
        return [solve(p, options, parallel=parallel) for p in problems]
    sols = CompiledEngine(parallel).solve_many(problems, options, detect_stiff=True)
    return [_fall_back(p, options, s) for p, s in zip(problems, sols)]


def _fall_back(problem: Problem, options: SolverOptions, sol: Solution) -> Solution:
    """``method="auto"``'s one fallback policy: the patients of ``sol`` (the compiled engine's answer to
    ``problem``) whose status is in :data:`FALLBACK_STATUSES` solved again with LSODA."""
    redo = np.flatnonzero(np.isin(sol.status, [int(s) for s in FALLBACK_STATUSES]))
    if redo.size == 0:
        return sol
    if options.max_seconds is None or sol.wall is None:
        again = engine_for("LSODA").solve(problem.subset(redo), options)
        return Solution.merge(sol, redo, again)
    # the wall-time budget is total: each patient's LSODA fallback gets what its compiled solve left; a
    # patient with nothing left ends with TIME_BUDGET at the time the compiled engine reached
    wall = sol.wall
    for j in redo.tolist():
        left = float(options.max_seconds) - float(wall[j])
        if left <= 0.0:
            status = np.array(sol.status)
            status[j] = int(SolverStatus.TIME_BUDGET)
            messages = list(sol.messages)
            messages[j] = "the wall-time budget (max_seconds) ran out before the LSODA fallback"
            sol = dataclasses.replace(sol, status=status, messages=tuple(messages))
            continue
        again = engine_for("LSODA").solve(problem.subset(np.array([j])), dataclasses.replace(options, max_seconds=left))
        sol = Solution.merge(sol, np.array([j]), again)
    return sol
