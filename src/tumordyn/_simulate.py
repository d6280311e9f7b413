"""Simulate a model under a dosing schedule, exactly at every dose.

The horizon is cut at every *breakpoint* of the schedule (dose times, infusion
starts and ends). At each breakpoint the bolus doses due then are applied once
(doses of the same drug at the same time add up), the infusion rates in force
until the next breakpoint are set, and the ODE is integrated up to the next
breakpoint. The solver never steps over a dose. Values reported at a dose time
are the values *after* the dose (right-continuous), including a dose at the
horizon.
"""

from __future__ import annotations

import math
import time as _time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.integrate import solve_ivp

from ._negative import NEGATIVE_SLACK
from ._schedule import Schedule
from .errors import NegativeStateError, SolverError, SpecificationError, UnknownNameError

if TYPE_CHECKING:
    from ._compile import CompiledModel
    from ._model import Model
    from ._trajectory import Trajectory

__all__ = ["simulate", "SolverOptions", "SolverStats", "METHODS", "default_times"]

#: Integration methods: scipy's ``solve_ivp`` methods.
METHODS = ("LSODA", "RK45", "DOP853", "RK23", "BDF", "Radau")
_IMPLICIT = {"LSODA", "BDF", "Radau"}


@dataclass(frozen=True)
class SolverStats:
    """Counters of a solve (performance is observable, not guessed).

    Attributes
    ----------
    method : str
        Integration method used.
    nfev, njev, nlu : int
        Right-hand-side evaluations, Jacobian evaluations, LU decompositions.
    n_segments : int
        Number of integration segments (between breakpoints).
    n_doses_applied : int
        Bolus doses applied (a dose at the horizon included).
    wall_time : float
        Seconds spent in the solve.
    """

    method: str
    nfev: int
    njev: int
    nlu: int
    n_segments: int
    n_doses_applied: int
    wall_time: float


@dataclass(frozen=True)
class SolverOptions:
    """How to integrate (tolerances and method), validated.

    Parameters
    ----------
    method : str
        One of :data:`METHODS` (default ``"LSODA"``).
    rtol : float
        Relative tolerance, in (0, 0.1].
    atol : numpy.ndarray
        Per-state absolute tolerances, in each state's unit.
    max_step : float
        Largest step (days).
    """

    method: str
    rtol: float
    atol: np.ndarray
    max_step: float


def default_times(t0: float, t_end: float) -> np.ndarray:
    """Default output grid: about 4 points per day, at most 2001 points, ends included (days)."""
    n = int(min(2000, max(100, math.ceil((t_end - t0) * 4)))) + 1
    return np.linspace(t0, t_end, n)


def _check_time(value: Any, name: str, what: str = "a real number of days") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"`{name}` must be {what}, got {type(value).__name__} {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise SpecificationError(f"`{name}` must be finite, got {v}")
    return v


def _check_t_eval(t_eval: Any, t0: float, t_end: float) -> np.ndarray:
    if t_eval is None:
        return default_times(t0, t_end)
    try:
        te = np.array(t_eval, dtype=float)
    except (TypeError, ValueError):
        raise TypeError("`t_eval` must be a 1-D sequence of times in days") from None
    if te.ndim != 1 or te.size == 0:
        raise SpecificationError(f"`t_eval` must be a non-empty 1-D array of times, got shape {te.shape}")
    if not np.all(np.isfinite(te)):
        raise SpecificationError(f"`t_eval` has a non-finite time at index {int(np.argmin(np.isfinite(te)))}")
    bad = np.nonzero(np.diff(te) < 0)[0]
    if bad.size:
        i = int(bad[0])
        raise SpecificationError(f"`t_eval` must be sorted: t_eval[{i}] = {te[i]} > t_eval[{i + 1}] = {te[i + 1]}")
    if te[0] < t0 or te[-1] > t_end:
        raise SpecificationError(
            f"`t_eval` must lie within [t0, t_end] = [{t0}, {t_end}] days; got [{te[0]}, {te[-1]}]"
        )
    return te


def resolve_options(
    compiled: CompiledModel, method: str, rtol: float, atol: float | Mapping[str, float] | None, max_step: float
) -> SolverOptions:
    """Validate solver options against a compiled model (see :func:`simulate`)."""
    if method == "auto":
        method = "LSODA"
    if method not in METHODS and method != "dopri5":  # "dopri5": the compiled integrator (tumordyn._fast)
        raise SpecificationError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}, 'dopri5' or 'auto'")
    rtol = _check_time(rtol, "rtol", "a real number")
    if not 0 < rtol <= 0.1:
        raise SpecificationError(f"`rtol` must be in (0, 0.1], got {rtol}")
    a = compiled.atol.copy()
    if atol is not None:
        if isinstance(atol, Mapping):
            for name, v in atol.items():
                if name not in compiled.state_names:
                    raise UnknownNameError("state", name, compiled.state_names, "`atol`")
                a[compiled.state_names.index(name)] = _check_time(v, f"atol[{name!r}]", "a real number (state units)")
        else:
            a[:] = _check_time(atol, "atol", "a real number (state units) or a mapping by state name")
        if np.any(a <= 0):
            raise SpecificationError("`atol` must be > 0 for every state")
    max_step = _check_time(max_step, "max_step") if max_step != np.inf else np.inf
    if max_step <= 0:
        raise SpecificationError(f"`max_step` must be > 0 days, got {max_step}")
    return SolverOptions(method, rtol, a, max_step)


def simulate(
    model: Model,
    schedule: Schedule | None = None,
    *,
    t_end: float,
    t_eval: Sequence[float] | np.ndarray | None = None,
    params: Mapping[str, float] | None = None,
    initial: Mapping[str, float] | None = None,
    t0: float = 0.0,
    method: str = "auto",
    rtol: float = 1e-6,
    atol: float | Mapping[str, float] | None = None,
    max_step: float = np.inf,
) -> Trajectory:
    """Simulate ``model`` under ``schedule`` from ``t0`` to ``t_end`` (days).

    Parameters
    ----------
    model : Model
        The model (e.g. ``tumordyn.models.tumor_immune_tme()``).
    schedule : Schedule, Regimen or AdaptiveRule, optional
        Doses and infusions; ``None`` means no treatment. Every dose in
        ``[t0, t_end]`` is applied exactly once (a dose at ``t_end`` included).
        A :class:`~tumordyn.Regimen` (e.g. ``schedule + td.AdaptiveRule(...)``)
        adds state-dependent rules: their switch times are located by solver
        events, ``traj.schedule`` is then the *realised* schedule (the doses
        actually given) and ``traj.events`` the switches.
    t_end : float
        Horizon (days), greater than ``t0``.
    t_eval : array_like, optional
        Sorted output times within ``[t0, t_end]`` (days). Default: a grid of
        about four points a day (at most 2001 points).
    params : mapping, optional
        Parameter values overriding the model's defaults (checked against bounds).
    initial : mapping, optional
        Initial values overriding the model's defaults, by state name.
    t0 : float, optional
        Initial time (days, >= 0). Default 0.
    method : str, optional
        ``"auto"``: the compiled integrator ``"dopri5"`` when numba is installed
        and the schedule has no adaptive rules (falling back to LSODA if the
        problem turns out stiff), else LSODA. ``"dopri5"``: the compiled
        Dormand–Prince 5(4) integrator (see the performance docs). Or a
        ``scipy.integrate.solve_ivp`` method: ``"LSODA"``, ``"RK45"``,
        ``"DOP853"``, ``"RK23"``, ``"BDF"``, ``"Radau"``; implicit methods use
        the analytic Jacobian.
    rtol : float, optional
        Relative tolerance (default 1e-6).
    atol : float or mapping, optional
        Absolute tolerance for all states, or by state name; default: each
        state's ``atol`` from the spec (about one cell for cell counts).
    max_step : float, optional
        Largest step (days).

    Returns
    -------
    Trajectory
        Times, states and observables by name, the schedule and solver counters.

    Raises
    ------
    UnknownNameError
        For an unknown parameter, state or drug name (the closest names are suggested).
    SpecificationError
        For non-finite or out-of-bounds values, unsorted or out-of-range times,
        doses outside ``[t0, t_end]`` or a bolus dose of a direct-input drug.
    SolverError
        If the solver fails or produces non-finite values; carries the time reached.
    NegativeStateError
        If a non-negative state falls below zero by more than 100 times its error tolerance
        (``atol + rtol * max |y|`` over the segment; smaller undershoots are reported as 0).

    Examples
    --------
    >>> import tumordyn as td
    >>> m = td.models.logistic_growth()
    >>> traj = td.simulate(m, t_end=10.0, t_eval=[0, 5, 10])
    >>> traj["N"].round(1)
    array([ 10. ,  ...])
    """
    from ._model import Model
    from ._trajectory import Trajectory

    if not isinstance(model, Model):
        raise TypeError(f"`model` must be a tumordyn Model, got {type(model).__name__}")
    from ._rules import as_regimen, integrate_with_rules

    regimen = as_regimen(schedule)  # Schedule, Regimen (schedule + adaptive rules), AdaptiveRule or None
    schedule = regimen.schedule
    t0 = _check_time(t0, "t0")
    t_end = _check_time(t_end, "t_end")
    if t0 < 0:
        raise SpecificationError(f"`t0` must be >= 0 days, got {t0}")
    if not t_end > t0:
        raise SpecificationError(f"`t_end` must be greater than t0 = {t0} days, got {t_end}")
    compiled = model.compiled
    schedule.validate(model.drugs.names, t_end=t_end, t0=t0, where=f"model {model.name!r}")
    if regimen.rules:
        regimen.validate(model, t_end=t_end, t0=t0)
    for dose in schedule.doses:
        if compiled.dose_compartment[compiled.drug_names.index(dose.drug)] < 0:
            raise SpecificationError(
                f"drug {dose.drug!r} of model {model.name!r} is a direct-input drug (no compartment): "
                f"it takes Infusion items, not the bolus Dose at t = {dose.time} days"
            )
    te = _check_t_eval(t_eval, t0, t_end)
    p = compiled.param_vector(params)
    y0 = compiled.initial_vector(initial)
    opts = resolve_options(compiled, method, rtol, atol, max_step)
    from ._fast import integrate_compiled, numba_available

    # compiled integrator: method="dopri5", or "auto" when numba is importable and there are no adaptive rules
    fast = opts.method == "dopri5" or (method == "auto" and not regimen.rules and numba_available())
    if regimen.rules and opts.method == "dopri5":
        raise SpecificationError("method 'dopri5' does not support adaptive rules; use 'auto' or a scipy method")

    started = _time.perf_counter()
    events: tuple = ()
    used = opts.method
    if regimen.rules:  # state-dependent rules: scipy path with solver events; records the doses given
        ys, us, counters, schedule, events = integrate_with_rules(compiled, regimen, p, y0, te, t0, t_end, opts)
    elif fast:  # falls back to LSODA (opts.method) for "auto" if the problem is stiff or the compiled path fails
        ys, us, counters, used = integrate_compiled(
            compiled, schedule, p, y0, te, t0, t_end, opts, fallback=method == "auto"
        )
    else:
        ys, us, counters = integrate(compiled, schedule, p, y0, te, t0, t_end, opts)
    stats = SolverStats(used, *counters, wall_time=_time.perf_counter() - started)
    return Trajectory(
        t=te,
        y=ys,
        u=us,
        params=p,
        model=model,
        schedule=schedule,
        stats=stats,
        events=tuple(events),  # adaptive-rule switches (RuleEvent), empty without rules
        regimen=regimen,
    )


#: Segments shorter than this (relative to the time, days) take one Euler step instead of a solve.
_TINY_SEGMENT = 1e-12


class _NonFiniteDerivative(Exception):
    def __init__(self, t: float, index: int) -> None:
        super().__init__(t, index)
        self.t = float(t)
        self.index = index




def check_segment(compiled: CompiledModel, seg: np.ndarray, times: np.ndarray, nonneg: np.ndarray,
                  atol: np.ndarray, rtol: float = 0.0) -> None:
    """Raise on non-finite values, or on a non-negative state below its error tolerance.

    A scipy integrator controls the error of each step to about ``atol + rtol * |y|``; when a
    state falls steeply to zero (a clone collapsing, a drug washing out) a step or its dense
    output may undershoot zero by a few times that much. Such an undershoot is solver noise, and the
    caller reports it as 0. A value below ``-NEGATIVE_SLACK * (atol_i + rtol * max |y_i|)`` (with
    ``NEGATIVE_SLACK = 100``) over the segment is not: it raises
    :class:`~tumordyn.errors.NegativeStateError` with the time.

    Parameters
    ----------
    compiled : CompiledModel
        The model (for names in messages).
    seg : numpy.ndarray
        States of one segment, shape ``(n_states, n_times)``.
    times : numpy.ndarray
        The segment's output times (days).
    nonneg, atol : numpy.ndarray
        Which states are non-negative, and their absolute tolerances.
    rtol : float
        The relative tolerance of the solve.

    Raises
    ------
    SolverError
        At the first time with a non-finite value.
    NegativeStateError
        At the first time a non-negative state is below minus its error tolerance.
    """
    if not np.all(np.isfinite(seg)):
        j = int(np.argmin(np.all(np.isfinite(seg), axis=0)))
        raise SolverError(
            f"integration of model {compiled.model_name!r} produced non-finite values", t=float(times[j])
        )
    band = NEGATIVE_SLACK * (atol[nonneg] + rtol * np.max(np.abs(seg[nonneg]), axis=1))
    low = seg[nonneg] < -band[:, None]
    if np.any(low):
        rows, cols = np.nonzero(low)
        j = int(cols.min())
        i = int(np.flatnonzero(nonneg)[rows[cols == j][0]])
        raise NegativeStateError(
            f"state {compiled.state_names[i]!r} of model {compiled.model_name!r} fell to {seg[i, j]:.6g}, "
            f"below {NEGATIVE_SLACK:g} x its error tolerance (atol {atol[i]:g} + rtol x its "
            "largest value in the segment); tighten rtol/atol or check the rates",
            t=float(times[j]),
        )


def _finite_rhs(t: float, y: np.ndarray, rhs: Any, p: np.ndarray, u: np.ndarray) -> np.ndarray:
    out = rhs(t, y, p, u)
    if not np.isfinite(out).all():
        raise _NonFiniteDerivative(t, int(np.argmin(np.isfinite(out))))
    return out


def is_tiny_segment(t0: float, t1: float) -> bool:
    """Whether ``[t0, t1]`` is far shorter than any solver step (e.g. doses 1e-300 days apart)."""
    return t1 - t0 <= _TINY_SEGMENT * max(1.0, abs(t1))


def euler_step(compiled: CompiledModel, y: np.ndarray, t0: float, t1: float, p: np.ndarray,
               u: np.ndarray) -> np.ndarray:
    """Cross a tiny segment with one Euler step (exact to rounding), clipped at zero.

    scipy's LSODA loops forever on such a segment and Radau fails on it.

    Raises
    ------
    SolverError
        If the step produces non-finite values.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        y = y + (t1 - t0) * compiled.rhs_single(t0, y, p, u)
    if not np.all(np.isfinite(y)):
        raise SolverError(f"integration of model {compiled.model_name!r} produced non-finite values", t=t0)
    y[compiled.nonnegative] = np.maximum(y[compiled.nonnegative], 0.0)
    return y


def solve_segment(
    compiled: CompiledModel,
    y: np.ndarray,
    t0: float,
    t1: float,
    p: np.ndarray,
    u: np.ndarray,
    seg_eval: np.ndarray,
    opts: SolverOptions,
    events: list[Any] | None = None,
) -> Any:
    """One ``solve_ivp`` call over ``[t0, t1]`` days with constant inputs ``u``.

    Implicit methods get the analytic Jacobian; LSODA stops at the first non-finite
    derivative (scipy's LSODA otherwise loops forever on a solution that blows up; the
    other methods report a failure). Non-finite values in the result are left for
    :func:`check_segment`.

    Returns
    -------
    scipy.integrate OdeResult

    Raises
    ------
    SolverError
        If the right-hand side becomes non-finite under LSODA (with the time).
    """
    fun: Any = compiled.rhs_single
    args: tuple[Any, ...] = (p, u)
    kwargs: dict[str, Any] = {}
    if opts.method in _IMPLICIT:
        kwargs["jac"] = compiled.jac
    if opts.method == "LSODA":
        jac = compiled.jac
        fun, args = _finite_rhs, (compiled.rhs_single, p, u)
        kwargs["jac"] = lambda t, yy, f, pp, uu: jac(t, yy, pp, uu)  # same extra args as _finite_rhs
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        try:
            return solve_ivp(fun, (t0, t1), y, method=opts.method, t_eval=seg_eval, rtol=opts.rtol,
                             atol=opts.atol, max_step=opts.max_step, args=args, events=events or None, **kwargs)
        except _NonFiniteDerivative as exc:
            raise SolverError(
                f"the right-hand side of model {compiled.model_name!r} became non-finite "
                f"(state {compiled.state_names[exc.index]!r}; the solution blows up?)",
                t=exc.t,
            ) from None


def integrate(
    compiled: CompiledModel,
    schedule: Schedule,
    p: np.ndarray,
    y0: np.ndarray,
    t_eval: np.ndarray,
    t0: float,
    t_end: float,
    opts: SolverOptions,
) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int, int]]:
    """Integrate segment by segment between breakpoints (the engine behind :func:`simulate`).

    Returns
    -------
    ys : numpy.ndarray
        States at ``t_eval``, shape ``(len(t_eval), n_states)``.
    us : numpy.ndarray
        Infusion rates in force at ``t_eval`` (right-continuous), shape ``(len(t_eval), n_drugs)``.
    counters : tuple of int
        ``(nfev, njev, nlu, n_segments, n_doses_applied)``.
    """
    drug_index = {d: i for i, d in enumerate(compiled.drug_names)}
    breaks = schedule.breakpoints(t0, t_end)
    ys = np.empty((t_eval.size, compiled.n_states))
    us = np.zeros((t_eval.size, compiled.n_drugs))
    y = y0.astype(float).copy()
    nonneg = compiled.nonnegative
    atol = opts.atol
    nfev = njev = nlu = nseg = ndoses = 0
    k = 0  # next output index
    for b, tb in enumerate(breaks):
        # bolus doses due now, applied exactly once (same drug, same time: amounts add up)
        for drug, amount in schedule.bolus_at(tb).items():
            comp, inc = compiled.dose_jump(drug_index[drug], amount, p)
            if comp >= 0:
                y[comp] += inc
            ndoses += sum(1 for d in schedule.doses if d.time == tb and d.drug == drug)
        u = np.zeros(compiled.n_drugs)
        for drug, rate in schedule.infusion_rates(tb).items():
            u[drug_index[drug]] = rate
        last = b == len(breaks) - 1
        t_next = t_end if last else float(breaks[b + 1])
        # outputs in [tb, t_next) come from this segment; t_end gets the post-dose final state
        k_end = t_eval.size if last else int(np.searchsorted(t_eval, t_next, side="left"))
        at_tb = k
        while at_tb < k_end and t_eval[at_tb] == tb:
            ys[at_tb] = y
            us[at_tb] = u
            at_tb += 1
        if last:
            break
        if is_tiny_segment(tb, t_next):
            ys[at_tb:k_end] = y
            us[at_tb:k_end] = u
            y = euler_step(compiled, y, tb, t_next, p, u)
            nseg += 1
            nfev += 1
            k = k_end
            continue
        inner = t_eval[at_tb:k_end]
        seg_eval = np.append(inner, t_next)
        sol = solve_segment(compiled, y, tb, t_next, p, u, seg_eval, opts)
        nseg += 1
        nfev += int(sol.nfev)
        njev += int(sol.njev)
        nlu += int(sol.nlu)
        if sol.status != 0 or sol.y.shape[1] != seg_eval.size:
            t_reached = float(sol.t[-1]) if sol.t.size else tb
            raise SolverError(
                f"integration of model {compiled.model_name!r} failed in the segment [{tb:g}, {t_next:g}] days",
                t=t_reached,
                solver_message=str(sol.message),
            )
        seg = sol.y
        check_segment(compiled, seg, seg_eval, nonneg, atol, opts.rtol)
        seg[nonneg] = np.maximum(seg[nonneg], 0.0)
        n_inner = inner.size
        ys[at_tb:k_end] = seg[:, :n_inner].T
        us[at_tb:k_end] = u
        y = seg[:, -1].copy()
        k = k_end
    return ys, us, (nfev, njev, nlu, nseg, ndoses)
