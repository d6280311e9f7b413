"""Batched adaptive Dormand–Prince 5(4): many patients per right-hand-side call.

One call of the generated right-hand side evaluates every *active* patient of a
batch at once (states of shape ``(n_states, B)``), so the Python overhead of a
Runge–Kutta step is paid once per step of the whole batch instead of once per
step of each patient. Step-size control stays **per patient**:

* every patient has its own time ``t`` and step ``h``;
* at each iteration every unfinished patient attempts one step of its own ``h``;
  the error of that step is measured on that patient's states only (the RMS norm
  of ``err / (atol + rtol * max(|y|, |y_new|))`` over its states, as in scipy's
  ``RK45``), and the step is accepted or rejected for that patient alone — one
  patient's error is never averaged with the others';
* steps are clipped so that no patient passes the next breakpoint of the
  schedule (dose times, infusion starts and ends): every patient ends each
  segment exactly at the breakpoint, the bolus doses are applied there as jumps
  and the infusion rates of the next segment set, as in :func:`tumordyn.simulate`;
* outputs at requested times are obtained from the method's 4th-order dense
  output (scipy ``RK45``'s interpolant) inside the accepted step; outputs at a
  breakpoint are the values after the dose there (right-continuous).

Model events (:class:`~tumordyn.spec.Event`) are executed with the semantics of
:class:`tumordyn.solve._events.EventQueue`, as on the scipy and compiled engines: each patient has its own
time, breakpoint and event queue; after each of its accepted steps the comparisons its triggers are made
of are checked (all patients at once in numpy, also at the quarters of the step when one depends on ``t``
explicitly), a change is located by bisection on that patient's dense output, and that patient alone
stops there while the others go on to their own next stop (a breakpoint, a queued execution time, a
located change or the end); when every patient has reached its stop, each has its doses and events
executed and restarts with a fresh initial step (:func:`_solve_events`). A model without events never
enters that code.

A patient whose integration fails (non-finite values, step size underflow, too
many steps, a non-negative state below the band of :mod:`tumordyn.numerics._negative`) is
marked failed with its :class:`~tumordyn.errors.SolverStatus`, the time reached and
the reason; the others continue.

The coefficients are those of Dormand & Prince (1980) as used by
``scipy.integrate.RK45`` (Shampine 1986 for the dense output).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..numerics import NEGATIVE_SLACK
from ._problem import BATCH_METHOD, Problem, Solution, SolverOptions
from ..errors import SolverStatus, SpecificationError

if TYPE_CHECKING:
    from ..numerics import CompiledModel
    from ..dosing import DosingPlan

__all__ = ["BatchSolution", "BatchEngine", "solve_batch"]

_C = np.array([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0])
_A = [
    np.array([]),
    np.array([1 / 5]),
    np.array([3 / 40, 9 / 40]),
    np.array([44 / 45, -56 / 15, 32 / 9]),
    np.array([19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729]),
    np.array([9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656]),
]
_B = np.array([35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84])
_E = np.array([-71 / 57600, 0.0, 71 / 16695, -71 / 1920, 17253 / 339200, -22 / 525, 1 / 40])
_P = np.array(
    [
        [1, -8048581381 / 2820520608, 8663915743 / 2820520608, -12715105075 / 11282082432],
        [0, 0, 0, 0],
        [0, 131558114200 / 32700410799, -68118460800 / 10900136933, 87487479700 / 32700410799],
        [0, -1754552775 / 470086768, 14199869525 / 1410260304, -10690763975 / 1880347072],
        [0, 127303824393 / 49829197408, -318862633887 / 49829197408, 701980252875 / 199316789632],
        [0, -282668133 / 205662961, 2019193451 / 616988883, -1453857185 / 822651844],
        [0, 40617522 / 29380423, -110615467 / 29380423, 69997945 / 29380423],
    ]
)
#: the non-zero rows of _P as Python floats (the same numbers; cheaper arithmetic on one patient's floats)
_P_ROWS = tuple((kk, tuple(float(v) for v in _P[kk])) for kk in (0, 2, 3, 4, 5, 6))
_SAFETY, _MIN_FACTOR, _MAX_FACTOR, _EXPONENT = 0.9, 0.2, 10.0, -1 / 5


@dataclass(frozen=True)
class BatchSolution:
    """States of a batch of patients at common output times.

    Attributes
    ----------
    t : numpy.ndarray
        Output times, shape ``(k,)`` (days).
    y : numpy.ndarray
        States, shape ``(n_states, k, B)`` (state units); ``NaN`` from the time a
        patient failed onwards. Non-negative states are clipped at zero once they pass the negative-state
        band (at step ends, outputs and located events alike; below it the patient fails with
        ``NEGATIVE_STATE``).
    u : numpy.ndarray
        Infusion rates in force at the output times, shape ``(n_drugs, k)``.
    failed : numpy.ndarray of bool
        Shape ``(B,)``: which patients failed.
    t_reached : numpy.ndarray
        Shape ``(B,)``: time reached by each patient (``t_end`` if it succeeded).
    messages : tuple of str
        Reason of each failure (empty string for a success).
    n_steps, n_rejected, nfev : numpy.ndarray of int
        Per patient: accepted steps, rejected steps, right-hand-side evaluations.
    status : numpy.ndarray of int
        Per patient: :class:`~tumordyn.errors.SolverStatus` code.
    bad_state : numpy.ndarray of int
        Per patient: the state that went negative, else -1.
    errors : tuple
        With model events: per patient the :class:`~tumordyn.errors.SolverError` an event raised (a
        non-finite or negative assignment, too many executions), else ``None``; empty without events.
    """

    t: np.ndarray
    y: np.ndarray
    u: np.ndarray
    failed: np.ndarray
    t_reached: np.ndarray
    messages: tuple[str, ...]
    n_steps: np.ndarray
    n_rejected: np.ndarray
    nfev: np.ndarray
    status: np.ndarray
    bad_state: np.ndarray
    errors: tuple[Any, ...] = ()


def _rms(x: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("ij,ij->j", x, x) / x.shape[0])


def _combine(coef: np.ndarray, K: np.ndarray) -> np.ndarray:
    """``sum_j coef[j] * K[j]`` with zero coefficients skipped (no BLAS: tiny contractions, no threads)."""
    out = None
    for j, c in enumerate(coef.tolist()):
        if c == 0.0:
            continue
        if out is None:
            out = c * K[j]
        else:
            out += c * K[j]
    assert out is not None
    return out


def _interp(y0: np.ndarray, K: np.ndarray, h: Any, x: Any) -> np.ndarray:
    """The 4th-order dense output inside a step: ``y(t + x h) = y + h x sum_k w_k(x) K_k`` with
    ``w_k(x) = P[k,0] + P[k,1] x + P[k,2] x^2 + P[k,3] x^3`` (scipy ``RK45``'s interpolant); ``y0`` (a copy is
    returned) and ``K`` (the stages, shape ``(7,) + y0.shape``) of one patient or of a batch (patients last)."""
    out = np.array(y0, dtype=float)
    hx = h * x
    for kk, (p0, p1, p2, p3) in _P_ROWS:
        w = ((p3 * x + p2) * x + p1) * x + p0
        out += K[kk] * (w * hx)
    return out


def _take(p: Sequence[Any], keep: np.ndarray) -> list[Any]:
    """Subset a parameter list whose entries are floats (shared) or arrays (per patient)."""
    return [v if np.ndim(v) == 0 else v[keep] for v in p]


class BatchEngine:
    """The numpy-vectorised Dormand–Prince engine (``method="batch"``) behind the one solve interface."""

    name = BATCH_METHOD

    def solve(self, problem: Problem, options: SolverOptions, *, detect_stiff: bool = False) -> Solution:
        """Integrate every patient of ``problem`` (see :class:`tumordyn.solve._problem.Engine`).

        Model events are executed (see :func:`solve_batch`). Adaptive rules are not supported on this
        engine (its fixed layout steps all patients between shared breakpoints; per-patient switch times
        would break that layout): a problem with rules raises :class:`~tumordyn.errors.SpecificationError`.
        Use ``"dopri5"`` (compiled, batched) or a scipy method.
        """
        if problem.rules is not None:
            raise SpecificationError(
                "method 'batch' does not run adaptive rules; use 'auto' or 'dopri5' (compiled engine, batched) "
                "or a scipy method such as 'LSODA'"
            )
        sol = solve_batch(problem.compiled, problem.plan, problem.params.T, problem.y0.T, problem.t_eval,
                          rtol=options.rtol, atol=options.atol, max_step=options.max_step,
                          max_steps=options.max_steps, max_seconds=options.max_seconds,
                          dose_scale=problem.dose_scale, max_switches=options.max_switches)
        B = problem.n_patients
        return Solution(
            problem.t_eval, np.ascontiguousarray(np.transpose(sol.y, (2, 1, 0))), np.ascontiguousarray(sol.u.T),
            np.array(sol.status), np.array(sol.t_reached), np.array(sol.bad_state), sol.messages,
            np.array(sol.nfev), np.zeros(B, dtype=np.int64), np.zeros(B, dtype=np.int64), (BATCH_METHOD,) * B,
            problem.plan.n_segments, problem.plan.n_doses, sol.errors,
        )


def solve_batch(
    compiled: CompiledModel,
    plan: DosingPlan,
    params: np.ndarray,
    y0: np.ndarray,
    t_eval: np.ndarray,
    *,
    rtol: float = 1e-6,
    atol: np.ndarray | None = None,
    max_step: float = np.inf,
    max_steps: int = 100_000,
    shared: np.ndarray | None = None,
    max_seconds: float | None = None,
    dose_scale: np.ndarray | None = None,
    max_switches: int = 10_000,
) -> BatchSolution:
    """Integrate a batch of patients under one schedule with per-patient step control.

    Parameters
    ----------
    compiled : CompiledModel
        ``compile_model(model)``.
    plan : DosingPlan
        The dosing shared by the batch (its window ``[plan.t0, plan.t_end]``).
    params : numpy.ndarray
        Parameters, shape ``(n_params, B)`` (one column per patient).
    y0 : numpy.ndarray
        Initial states, shape ``(n_states, B)``.
    t_eval : numpy.ndarray
        Sorted output times within the plan's window (days).
    rtol : float, optional
        Relative tolerance (default 1e-6).
    atol : numpy.ndarray, optional
        Per-state absolute tolerances; default ``compiled.atol``.
    max_step : float, optional
        Largest step (days).
    max_steps : int, optional
        Largest number of attempted steps per patient before it is declared failed
        (a patient needing that many steps is stiff for an explicit method).
    shared : numpy.ndarray of bool, optional
        Which parameter rows are the same for every patient (passed to the
        right-hand side as scalars: cheaper). Default: detected from ``params``.
        Give it explicitly (e.g. from the whole cohort) so that a patient's
        numbers do not depend on which patients share its batch.
    max_seconds : float, optional
        Wall-time budget in seconds (``Solver.max_seconds``). The patients of a batch are stepped together,
        so each patient's solve lasts as long as the batch's: the clock starts with the call and is read at
        every step of the batch; patients still running past it end with
        :attr:`~tumordyn.errors.SolverStatus.TIME_BUDGET` at the time each reached. Default: none.
    dose_scale : numpy.ndarray, optional
        Per-patient factors of each drug's bolus amounts and infusion rates, shape ``(B, n_drugs)``
        (:attr:`tumordyn.solve.Problem.dose_scale`); the solution's ``u`` stays the plan's rates.
    max_switches : int, optional
        Event executions allowed per patient (``Solver.max_switches``); one more ends that patient with
        :attr:`~tumordyn.errors.SolverStatus.TOO_MANY_SWITCHES`.

    Returns
    -------
    BatchSolution
    """
    deadline = None if max_seconds is None else time.perf_counter() + float(max_seconds)
    rhs = compiled.rhs
    params = np.asarray(params, dtype=float)
    y0 = np.asarray(y0, dtype=float)
    n, B = y0.shape
    t_eval = np.asarray(t_eval, dtype=float)
    k_out = t_eval.size
    atol_v = (compiled.atol if atol is None else np.asarray(atol, dtype=float)).reshape(n, 1)
    nonneg = compiled.nonnegative
    neg_slack = np.where(nonneg, NEGATIVE_SLACK, np.inf).reshape(n, 1)  # +inf: no band for a state allowed below 0

    # parameters shared by the whole batch are passed as floats (cheaper arithmetic, nothing to gather)
    if shared is None:
        shared = np.array([bool(B) and bool(np.all(row == row[0])) for row in params], dtype=bool)
    p_full: list[Any] = [float(row[0]) if B and sh else row for row, sh in zip(params, shared)]

    ys = np.full((n, k_out, B), np.nan)
    us = np.zeros((compiled.n_drugs, k_out))
    y = y0.copy()
    failed = np.zeros(B, dtype=bool)
    t_reached = np.full(B, float(plan.t_end))
    messages = [""] * B
    n_steps = np.zeros(B, dtype=np.int64)
    n_rejected = np.zeros(B, dtype=np.int64)
    nfev = np.zeros(B, dtype=np.int64)

    status = np.zeros(B, dtype=np.int64)
    bad_state = np.full(B, -1, dtype=np.int64)

    def fail(gidx: np.ndarray, t_at: np.ndarray, why: str, code: SolverStatus, state: int = -1) -> None:
        for g, tt in zip(gidx.tolist(), np.broadcast_to(t_at, gidx.shape).tolist()):
            failed[g] = True
            status[g] = int(code)
            bad_state[g] = state
            t_reached[g] = tt
            messages[g] = why.format(t=tt)
            ys[:, :, g] = np.nan

    if compiled.n_events:
        errors: list[Any] = [None] * B
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            _solve_events(compiled, plan, params, y, p_full, t_eval, ys, rtol, atol_v, neg_slack, nonneg, max_step,
                          max_steps, n_steps, n_rejected, nfev, fail, deadline, dose_scale, max_switches, failed,
                          status, t_reached, bad_state, messages, errors)
        us[:] = plan.rates_at(t_eval).T
        for a in (ys, us, failed, t_reached, n_steps, n_rejected, nfev, status, bad_state):
            a.flags.writeable = False
        return BatchSolution(t_eval, ys, us, failed, t_reached, tuple(messages), n_steps, n_rejected, nfev, status,
                             bad_state, tuple(errors))
    breaks = plan.breaks
    t_end = plan.t_end
    k = 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for b, tb in enumerate(breaks.tolist()):
            for d in np.flatnonzero(plan.bolus[b]).tolist():
                amount = float(plan.bolus[b, d]) if dose_scale is None else plan.bolus[b, d] * dose_scale[:, d]
                comp, inc = compiled.dose_jump(d, amount, p_full)
                if comp >= 0:
                    y[comp] += inc
            u = np.array(plan.rates[b])
            # each patient's own rates (n_drugs, B) where doses scale per patient
            u_pat = u if dose_scale is None else u[:, None] * dose_scale.T
            last = b == len(breaks) - 1
            t_next = float(t_end) if last else float(breaks[b + 1])
            k_end = k_out if last else int(np.searchsorted(t_eval, t_next, side="left"))
            alive = ~failed
            while k < k_end and t_eval[k] == tb:
                ys[:, k, alive] = np.where(nonneg[:, None], np.maximum(y[:, alive], 0.0), y[:, alive])
                us[:, k] = u
                k += 1
            if last:
                break
            gidx = np.flatnonzero(alive)
            if gidx.size:
                _segment(
                    rhs, y, p_full, u_pat, gidx, tb, t_next, t_eval, k, k_end, ys, rtol, atol_v, neg_slack, nonneg,
                    max_step, max_steps, n_steps, n_rejected, nfev, fail, deadline,
                )
            us[:, k:k_end] = u[:, None]
            k = k_end
    for a in (ys, us, failed, t_reached, n_steps, n_rejected, nfev, status, bad_state):
        a.flags.writeable = False
    return BatchSolution(t_eval, ys, us, failed, t_reached, tuple(messages), n_steps, n_rejected, nfev, status,
                         bad_state)


def _solve_events(
    compiled: CompiledModel,
    plan: DosingPlan,
    params: np.ndarray,
    y: np.ndarray,
    p_full: list[Any],
    t_eval: np.ndarray,
    ys: np.ndarray,
    rtol: float,
    atol: np.ndarray,
    neg_slack: np.ndarray,
    nonneg: np.ndarray,
    max_step: float,
    max_steps: int,
    n_steps: np.ndarray,
    n_rejected: np.ndarray,
    nfev: np.ndarray,
    fail: Any,
    deadline: float | None,
    dose_scale: np.ndarray | None,
    max_switches: int,
    failed: np.ndarray,
    status: np.ndarray,
    t_reached: np.ndarray,
    bad_state: np.ndarray,
    messages: list[str],
    errors: list[Any],
) -> None:
    """:func:`solve_batch` of a model with events (in place in ``y``, ``ys`` and the per-patient records).

    Each patient has its own time, breakpoint and :class:`~tumordyn.solve._events.EventQueue` (the one
    implementation of the events' semantics, as on the scipy and compiled engines). A pass gives every
    running patient, at its own time: the doses due, then its triggers and the events due
    (:meth:`~tumordyn.solve._events.EventQueue.update_triggers`, :meth:`~tumordyn.solve._events.EventQueue.execute_due`)
    and its outputs there; then :func:`_segment` steps all of them together, each with its own step
    control, to its own next stop (its next breakpoint, queued execution time or the end) or to the first
    change of one of its triggers' comparisons, located by bisection on that step's dense output
    (:func:`tumordyn.solve._events._locate`, as the scipy loop); each patient restarts there with a fresh
    initial step, the next pass.
    """
    from ._events import EventQueue, _locate
    from ..errors import SolverError
    from ..numerics import event_functions

    ev = event_functions(compiled)
    n, B = y.shape
    breaks = plan.breaks
    n_b = breaks.size
    t_end = float(plan.t_end)
    k_out = t_eval.size
    what = f"model {compiled.model_name!r}"
    p_cols = [np.ascontiguousarray(params[:, j]) for j in range(B)]
    queues = [EventQueue(compiled, p_cols[j], what, max_switches) for j in range(B)]
    tc = np.full(B, float(plan.t0))
    bi = np.full(B, -1, dtype=np.int64)  # each patient's last breakpoint whose doses were given
    ko = np.zeros(B, dtype=np.int64)  # each patient's next output
    finished = np.zeros(B, dtype=bool)
    t_stop = np.empty(B)
    t_done = np.empty(B)
    watch: list[list[bool]] = [[] for _ in range(B)]  # per patient its comparisons at its restart
    watch_arr = np.zeros((ev.n_atoms, B), dtype=bool)
    rates = np.asarray(plan.rates, dtype=float)
    ds = np.ones((B, compiled.n_drugs)) if dose_scale is None else np.asarray(dose_scale, dtype=float)

    def watcher(gw: np.ndarray, ai: np.ndarray, t: np.ndarray, t_new: np.ndarray, h: np.ndarray, yw: np.ndarray,
                y_new: np.ndarray, K: np.ndarray, pw: list[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """After accepted steps of the working patients ``ai`` (global indices ``gw[ai]``): those whose
        comparisons changed in the step, the located time of the first change and the state there."""
        g = gw[ai]
        w = watch_arr[:, g]
        p = _take(pw, ai) if ai.size < yw.shape[1] else pw  # ai: sorted working indices, all of them or fewer
        t0, t1, hh = t[ai], t_new[ai], h[ai]
        # all patients at once with the numpy comparisons; a change seen there is confirmed below with the
        # Python comparisons the one-patient engines use (they may differ in the last bit of a function)
        quarters = (1, 2, 3) if ev.explicit_time else ()
        seen = (ev.atoms_batch(t1, y_new[:, ai], p) != w).any(axis=0)
        for q in quarters:
            # a comparison of an explicit function of time may change and change back within one step: the
            # quarters of the step on the dense output too (as the scipy loop and the compiled engine)
            tq = t0 + 0.25 * q * (t1 - t0)
            seen |= (ev.atoms_batch(tq, _interp(yw[:, ai], K[:, :, ai], hh, (tq - t0) / hh), p) != w).any(axis=0)
        hit, t_hit, y_hit = [], [], []
        for i in np.flatnonzero(seen).tolist():
            j, a = int(g[i]), int(ai[i])
            y0_i, K_i, h_i, t0_i, t1_i = yw[:, a], K[:, :, a], float(h[a]), float(t[a]), float(t_new[a])

            def dense(tt: float, y0_i: np.ndarray = y0_i, K_i: np.ndarray = K_i, h_i: float = h_i,
                      t0_i: float = t0_i) -> np.ndarray:
                return _interp(y0_i, K_i, h_i, (tt - t0_i) / h_i)

            # as the scipy loop: the first quarter (then the step's end) where a comparison differs from the
            # watch brackets the change, located by bisection on the dense output
            t_lo = t0_i
            for q in (*quarters, 4):
                tq = t0_i + 0.25 * q * (t1_i - t0_i) if q < 4 else t1_i
                if ev.atoms(tq, dense(tq) if q < 4 else y_new[:, a], p_cols[j]) != watch[j]:
                    t_c, y_c = _locate(ev, dense, t_lo, tq, p_cols[j], watch[j])
                    hit.append(a)
                    t_hit.append(t_c)
                    y_hit.append(y_c)
                    break
                t_lo = tq
        if not hit:
            return np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros((n, 0))
        return np.array(hit, dtype=np.int64), np.array(t_hit), np.array(y_hit).T

    # bounded: every pass moves each running patient to a later time (a breakpoint, a located change, an
    # execution time or the end) after at least one step attempt, or ends it
    for _ in range(int(max_steps) + n_b + 2 * int(max_switches) + 8):
        go = []
        for j in np.flatnonzero(~failed & ~finished).tolist():
            yj = y[:, j].copy()
            tj = float(tc[j])
            try:
                while bi[j] + 1 < n_b and float(breaks[bi[j] + 1]) <= tj:
                    bi[j] += 1
                    for d in np.flatnonzero(plan.bolus[bi[j]]).tolist():
                        comp, inc = compiled.dose_jump(d, float(plan.bolus[bi[j], d] * ds[j, d]), p_cols[j])
                        if comp >= 0:
                            yj[comp] += inc
                queues[j].update_triggers(tj, yj)
                queues[j].execute_due(tj, yj)
            except SolverError as err:
                failed[j] = True
                status[j] = int(err.status)
                t_reached[j] = tj if err.t is None else err.t
                bad_state[j] = -1 if err.state_index is None else err.state_index
                messages[j] = err.solver_message or str(err)
                errors[j] = err
                ys[:, :, j] = np.nan
                continue
            y[:, j] = yj
            while ko[j] < k_out and t_eval[ko[j]] <= tj:
                ys[:, ko[j], j] = np.where(nonneg, np.maximum(yj, 0.0), yj)
                ko[j] += 1
            if tj >= t_end:
                finished[j] = True
                continue
            nb = float(breaks[bi[j] + 1]) if bi[j] + 1 < n_b else math.inf
            t_stop[j] = min(t_end, nb, queues[j].next_time())
            watch[j] = ev.atoms(tj, yj, p_cols[j])
            go.append(j)
        if not go:
            return
        gidx = np.array(go, dtype=np.int64)
        watch_arr[:, gidx] = np.array([watch[j] for j in go], dtype=bool).reshape(len(go), ev.n_atoms).T
        u = (rates[bi] * ds).T  # each patient's own rates (n_drugs, B)
        k_end = np.searchsorted(t_eval, t_stop[gidx], side="left")
        _segment(compiled.rhs, y, p_full, u, gidx, tc[gidx], t_stop[gidx], t_eval, ko[gidx], k_end, ys, rtol, atol,
                 neg_slack, nonneg, max_step, max_steps, n_steps, n_rejected, nfev, fail, deadline, watcher, t_done)
        ok = gidx[~failed[gidx]]
        tc[ok] = t_done[ok]
        ko[ok] = np.searchsorted(t_eval, tc[ok], side="left")  # the outputs before the stop were written
        y[:, ok] = np.where(nonneg[:, None], np.maximum(y[:, ok], 0.0), y[:, ok])
    running = np.flatnonzero(~failed & ~finished)
    if running.size:
        fail(running, tc[running], f"more than max_steps = {max_steps} passes of the event loop by t = {{t:.6g}} "
             "days", SolverStatus.TOO_MANY_STEPS)


def _segment(
    rhs: Any,
    y_full: np.ndarray,
    p_full: list[Any],
    u: np.ndarray,
    gidx: np.ndarray,
    t_start: float,
    t_stop: float,
    t_eval: np.ndarray,
    k0: int,
    k_end: int,
    ys: np.ndarray,
    rtol: float,
    atol: np.ndarray,
    neg_slack: np.ndarray,
    nonneg: np.ndarray,
    max_step: float,
    max_steps: int,
    n_steps: np.ndarray,
    n_rejected: np.ndarray,
    nfev: np.ndarray,
    fail: Any,
    deadline: float | None = None,
    watcher: Any = None,
    t_done: np.ndarray | None = None,
) -> None:
    """Integrate the patients ``gidx`` from ``t_start`` to exactly ``t_stop`` (in place in ``y_full``).

    ``t_start``, ``t_stop``, ``k0`` and ``k_end`` are floats/ints shared by the patients or arrays of shape
    ``(gidx.size,)`` (each patient its own interval and outputs ``k0 <= k < k_end``). With model events,
    ``watcher(gidx, ai, t, t_new, h, yw, y_new, K, pw)`` is called after every accepted step of the working
    patients ``ai`` and returns ``(hit, t_hit, y_hit)``: the patients among ``ai`` that stop early at ``t_hit``
    (a located change of a trigger's comparison) with states ``y_hit``; ``t_done`` (shape ``(B,)``) receives
    the time each patient stopped at.
    """
    n = y_full.shape[0]
    yw = y_full[:, gidx]
    pw = _take(p_full, gidx) if gidx.size < y_full.shape[1] else list(p_full)
    if u.ndim == 2:  # per-patient rates (n_drugs, B)
        u = u[:, gidx]
    m = gidx.size
    if np.ndim(t_start) == 0:
        t = np.full(m, t_start)
        # first output strictly inside the segment (outputs at t_start were written before)
        k_first = k0
        while k_first < k_end and t_eval[k_first] <= t_start:
            k_first += 1
        ko = np.full(m, k_first, dtype=np.int64)
    else:  # each patient its own interval; its outputs up to t_start were written before
        t = np.array(t_start, dtype=float)
        ko = np.maximum(np.searchsorted(t_eval, t, side="right"), k0)
    per_patient = np.ndim(t_stop) != 0 or np.ndim(k_end) != 0
    f = rhs(t, yw, pw, u)
    # initial step per patient (Hairer, Norsett & Wanner; scipy's select_initial_step)
    interval = t_stop - t_start
    scale = atol + np.abs(yw) * rtol
    d0 = _rms(yw / scale)
    d1 = _rms(f / scale)
    h0 = np.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / d1)
    h0 = np.minimum(h0, interval)
    f1 = rhs(t + h0, yw + h0 * f, pw, u)
    d2 = _rms((f1 - f) / scale) / h0
    h1 = np.where(
        (d1 <= 1e-15) & (d2 <= 1e-15),
        np.maximum(1e-6, h0 * 1e-3),
        (0.01 / np.maximum(d1, d2)) ** (1 / 5),
    )
    h = np.minimum(np.minimum(100 * h0, h1), interval)
    h = np.where(np.isfinite(h) & (h > 0), h, 1e-6 * interval)
    nfev[gidx] += 2
    rejected_before = np.zeros(m, dtype=bool)
    done = np.zeros(m, dtype=bool)
    steps_used = n_steps[gidx] + n_rejected[gidx]
    K = np.empty((7, n, m))
    segmax = np.abs(yw)  # largest |y| of each state and patient in this segment (the negative-state band)

    def fail_below(cols: np.ndarray, vals: np.ndarray, times: np.ndarray, newly_failed: np.ndarray,
                   accept: np.ndarray) -> np.ndarray:
        """Fail the patients ``cols`` (indices among ``gidx``) whose non-negative state in ``vals`` (``(n,
        cols.size)``, at ``times``) is below the negative-state band (tumordyn.numerics._negative), as the
        compiled engine does at step ends, outputs and located events; returns the mask of those failed."""
        low = np.any(vals < -neg_slack * (atol + rtol * segmax[:, cols]), axis=0)
        for c in np.flatnonzero(low).tolist():
            j = int(cols[c])
            v = vals[:, c]
            i = int(np.flatnonzero(v < -neg_slack[:, 0] * (atol[:, 0] + rtol * segmax[:, j]))[0])
            fail(gidx[j : j + 1], times[c], f"state #{i} fell to {v[i]:.6g} at t = {{t:.6g}} days, below "
                 f"{NEGATIVE_SLACK:g} x its error tolerance; tighten rtol/atol or check the rates",
                 SolverStatus.NEGATIVE_STATE, i)
            newly_failed[j] = True
            accept[j] = False
        return low

    while m:
        h = np.minimum(h, max_step)
        remaining = t_stop - t
        hits_stop = h >= remaining
        h = np.where(hits_stop, remaining, h)
        t_new = np.where(hits_stop, t_stop, t + h)
        K[0] = f
        for s in range(1, 6):
            dy = _combine(_A[s], K)
            K[s] = rhs(t + _C[s] * h, yw + h * dy, pw, u)
        y_new = yw + h * _combine(_B, K)
        f_new = rhs(t_new, y_new, pw, u)
        K[6] = f_new
        err = h * _combine(_E, K)
        scale = atol + rtol * np.maximum(np.abs(yw), np.abs(y_new))
        en = _rms(err / scale)
        live = ~done
        ok = en < 1.0
        accept = ok & live
        factor = np.where(
            ok,
            np.where(en == 0, _MAX_FACTOR, np.minimum(_MAX_FACTOR, _SAFETY * en**_EXPONENT)),
            np.fmax(_MIN_FACTOR, _SAFETY * en**_EXPONENT),  # fmax: a NaN error norm shrinks by _MIN_FACTOR
        )
        factor = np.where(ok & rejected_before, np.minimum(1.0, factor), factor)
        g_live = gidx[live]
        nfev[g_live] += 6
        steps_used[live] += 1
        n_steps[gidx[accept]] += 1
        n_rejected[gidx[live & ~ok]] += 1
        newly_failed = np.zeros(m, dtype=bool)
        hits = None
        if np.any(accept):
            ai = np.flatnonzero(accept)
            # a non-negative state below the band (tumordyn.numerics._negative): the patient fails, as in simulate()
            segmax[:, ai] = np.maximum(segmax[:, ai], np.abs(y_new[:, ai]))
            low = fail_below(ai, y_new[:, ai], t_new[ai], newly_failed, accept)
            if np.any(low):
                ai = ai[~low]
            t_lim = t_new
            if watcher is not None and ai.size:
                hit, t_hit, y_hit = watcher(gidx, ai, t, t_new, h, yw, y_new, K, pw)
                if hit.size:  # the state at a located change (on the dense output) held to the band too
                    low = fail_below(hit, y_hit, t_hit, newly_failed, accept)
                    if np.any(low):
                        ai = ai[~np.isin(ai, hit[low])]
                        hit, t_hit, y_hit = hit[~low], t_hit[~low], y_hit[:, ~low]
                if hit.size:  # outputs of those patients: before the located change only
                    hits = np.zeros(m, dtype=bool)
                    hits[hit] = True
                    t_lim = t_new.copy()
                    t_lim[hit] = np.nextafter(t_hit, -np.inf)
            # dense output at the requested times inside (t, t_new]
            while ai.size:
                has = ko[ai] < (k_end[ai] if per_patient else k_end)
                cand = ai[has]
                if not cand.size:
                    break
                te = t_eval[ko[cand]]
                sel_mask = te <= t_lim[cand]
                sel = cand[sel_mask]
                if not sel.size:
                    break
                te = te[sel_mask]
                hs = h[sel]
                x = (te - t[sel]) / hs
                yo = _interp(yw[:, sel], K[:, :, sel], hs, x)
                low = fail_below(sel, yo, te, newly_failed, accept)  # (the interpolant between two states in the band)
                if np.any(low):
                    sel, te, yo = sel[~low], te[~low], yo[:, ~low]
                    if not sel.size:
                        break
                yo = np.where(nonneg[:, None], np.maximum(yo, 0.0), yo)
                ys[:, ko[sel], gidx[sel]] = yo
                ko[sel] += 1
                ai = sel
            if np.all(accept | done):
                t, yw, f = t_new, y_new, f_new
            else:
                t = np.where(accept, t_new, t)
                yw = np.where(accept, y_new, yw)
                f = np.where(accept, f_new, f)
        h = h * factor
        rejected_before = np.where(live, ~ok, rejected_before)
        # failures: step size underflow or non-finite values, too many steps
        min_step = 10 * np.abs(np.nextafter(t, np.inf) - t)
        tiny = live & ~accept & ~newly_failed & ((h < min_step) | ~np.isfinite(h))
        if np.any(tiny):
            nonfinite = tiny & ~np.all(np.isfinite(y_new), axis=0)
            if np.any(nonfinite):
                fail(gidx[nonfinite], t[nonfinite], "non-finite values at t = {t:.6g} days", SolverStatus.NON_FINITE)
            under = tiny & ~nonfinite
            if np.any(under):
                fail(gidx[under], t[under], "step size fell below the spacing of floating-point numbers at t = "
                     "{t:.6g} days (a blow-up or a singular right-hand side)", SolverStatus.STEP_SIZE_UNDERFLOW)
            newly_failed |= tiny
        stop_now = accept & hits_stop
        if hits is not None:
            stop_now |= hits
        many = live & ~newly_failed & (steps_used >= max_steps) & ~stop_now
        if np.any(many):
            fail(gidx[many], t[many], f"more than max_steps = {max_steps} steps before t = {{t:.6g}} days: the "
                 "problem is stiff for this patient; an implicit method (td.simulate with method='LSODA') solves it",
                 SolverStatus.TOO_MANY_STEPS)
            newly_failed |= many
        if deadline is not None and time.perf_counter() > deadline:
            late = live & ~newly_failed & ~stop_now
            if np.any(late):
                fail(gidx[late], t[late], "the wall-time budget (max_seconds) ran out at t = {t:.6g} days",
                     SolverStatus.TIME_BUDGET)
                newly_failed |= late
        finished = stop_now & ~newly_failed
        if np.any(finished):
            y_full[:, gidx[finished]] = yw[:, finished]
            if t_done is not None:
                t_done[gidx[finished]] = t[finished]
            if hits is not None:  # stopped at the located change, not at the step's end
                y_full[:, gidx[hit]] = y_hit
                t_done[gidx[hit]] = t_hit
        done |= finished | newly_failed
        n_done = int(done.sum())
        if n_done == m:
            break
        if n_done >= max(1, m // 4):
            keep = ~done
            gidx, yw, f, t, h, ko = gidx[keep], yw[:, keep], f[:, keep], t[keep], h[keep], ko[keep]
            rejected_before, steps_used, segmax = rejected_before[keep], steps_used[keep], segmax[:, keep]
            pw = _take(pw, keep)
            if u.ndim == 2:
                u = u[:, keep]
            if per_patient:
                t_stop = t_stop[keep] if np.ndim(t_stop) else t_stop
                k_end = k_end[keep] if np.ndim(k_end) else k_end
            m = gidx.size
            done = np.zeros(m, dtype=bool)
            K = np.empty((7, n, m))
