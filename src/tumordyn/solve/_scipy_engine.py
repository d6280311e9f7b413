"""The scipy engine: ``solve_ivp`` between the breakpoints of a dosing plan, one patient at a time.

The horizon is cut at every breakpoint of the plan (dose times, infusion starts and ends). At each
breakpoint the bolus doses due then are applied once, the infusion rates in force until the next
breakpoint are set, and ``solve_ivp`` integrates up to the next breakpoint: the solver never steps
over a dose. Values reported at a dose time are the values after the dose (right-continuous).
The pieces (:func:`solve_segment`, :func:`check_segment`, :func:`euler_step`) also serve the
adaptive-rule path (:mod:`tumordyn._rules`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.integrate import solve_ivp

from ..numerics import NEGATIVE_SLACK
from ._problem import IMPLICIT_METHODS, SCIPY_METHODS, Problem, Solution, SolverOptions
from ..errors import NegativeStateError, SolverError, SolverStatus, SpecificationError

if TYPE_CHECKING:
    from ..numerics import CompiledModel
    from ..dosing import DosingPlan, RulePlan

__all__ = ["ScipyEngine", "integrate", "solve_segment", "check_segment", "euler_step", "is_tiny_segment"]


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
            f"integration of model {compiled.model_name!r} produced non-finite values", t=float(times[j]),
            status=SolverStatus.NON_FINITE,
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
            t=float(times[j]), state_index=i,
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
        raise SolverError(f"integration of model {compiled.model_name!r} produced non-finite values", t=t0,
                          status=SolverStatus.NON_FINITE)
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
    if opts.method in IMPLICIT_METHODS:
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
                t=exc.t, status=SolverStatus.NON_FINITE, state_index=exc.index,
            ) from None


def integrate(
    compiled: CompiledModel,
    plan: DosingPlan,
    p: np.ndarray,
    y0: np.ndarray,
    t_eval: np.ndarray,
    opts: SolverOptions,
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Integrate one patient segment by segment between the plan's breakpoints with ``solve_ivp``.

    Returns
    -------
    ys : numpy.ndarray
        States at ``t_eval``, shape ``(len(t_eval), n_states)``.
    counters : tuple of int
        ``(nfev, njev, nlu)``.

    Raises
    ------
    SolverError
        With its :class:`~tumordyn.errors.SolverStatus` and the time reached.
    """
    breaks = plan.breaks
    ys = np.empty((t_eval.size, compiled.n_states))
    y = np.array(y0, dtype=float)
    nonneg = compiled.nonnegative
    atol = opts.atol
    nfev = njev = nlu = 0
    k = 0  # next output index
    n_b = breaks.size
    for b in range(n_b):
        tb = float(breaks[b])
        # bolus doses due now, applied exactly once (same drug, same time: amounts add up)
        for d in np.flatnonzero(plan.bolus[b]).tolist():
            comp, inc = compiled.dose_jump(d, float(plan.bolus[b, d]), p)
            if comp >= 0:
                y[comp] += inc
        u = np.array(plan.rates[b])
        last = b == n_b - 1
        t_next = plan.t_end if last else float(breaks[b + 1])
        # outputs in [tb, t_next) come from this segment; t_end gets the post-dose final state
        k_end = t_eval.size if last else int(np.searchsorted(t_eval, t_next, side="left"))
        at_tb = k
        while at_tb < k_end and t_eval[at_tb] == tb:
            ys[at_tb] = y
            at_tb += 1
        if last:
            break
        if is_tiny_segment(tb, t_next):
            ys[at_tb:k_end] = y
            y = euler_step(compiled, y, tb, t_next, p, u)
            nfev += 1
            k = k_end
            continue
        inner = t_eval[at_tb:k_end]
        seg_eval = np.append(inner, t_next)
        sol = solve_segment(compiled, y, tb, t_next, p, u, seg_eval, opts)
        nfev += int(sol.nfev)
        njev += int(sol.njev)
        nlu += int(sol.nlu)
        if sol.status != 0 or sol.y.shape[1] != seg_eval.size:
            # with output times, solve_ivp keeps only those reached: solve the segment again without
            # them (the failure path only) to learn the time the integrator reached
            probe = solve_segment(compiled, y, tb, t_next, p, u, None, opts)
            t_reached = float(np.asarray(probe.t)[-1]) if np.size(probe.t) else tb
            raise SolverError(
                f"integration of model {compiled.model_name!r} failed in the segment [{tb:g}, {t_next:g}] days",
                t=t_reached,
                solver_message=str(sol.message),
                status=SolverStatus.FAILED,
            )
        seg = sol.y
        check_segment(compiled, seg, seg_eval, nonneg, atol, opts.rtol)
        seg[nonneg] = np.maximum(seg[nonneg], 0.0)
        n_inner = inner.size
        ys[at_tb:k_end] = seg[:, :n_inner].T
        y = seg[:, -1].copy()
        k = k_end
    return ys, (nfev, njev, nlu)


class ScipyEngine:
    """``scipy.integrate.solve_ivp`` behind the one solve interface, one patient at a time.

    Parameters
    ----------
    method : str
        A ``solve_ivp`` method (:data:`~tumordyn._solve.SCIPY_METHODS`); implicit methods get the
        analytic Jacobian.
    """

    def __init__(self, method: str) -> None:
        if method not in SCIPY_METHODS:
            raise SpecificationError(f"unknown scipy method {method!r}; choose one of {', '.join(SCIPY_METHODS)}")
        self.name = method

    def solve(self, problem: Problem, options: SolverOptions, *, detect_stiff: bool = False) -> Solution:
        """Integrate every patient of ``problem`` (see :class:`tumordyn._solve.Engine`).

        With adaptive rules (``problem.rules``), each patient goes through
        :func:`tumordyn._rules.integrate_with_rules` (solver events locate the switches).
        """
        c = problem.compiled
        opts = replace(options, method=self.name)
        B = problem.n_patients
        te = problem.t_eval
        rp = problem.rules
        ys = np.full((B, te.size, c.n_states), np.nan)
        status = np.zeros(B, dtype=np.int64)
        t_reached = np.full(B, problem.plan.t_end)
        bad_state = np.full(B, -1, dtype=np.int64)
        counts = np.zeros((B, 3), dtype=np.int64)
        messages = [""] * B
        errors: list[SolverError | None] = [None] * B
        if rp is not None:

            base = rp.baselines(c, problem.params, problem.y0)
            us = np.full((B, te.size, c.n_drugs), np.nan)
            logs: list[Any] = [([], np.zeros((rp.dosing.breaks.size, rp.n_rules), dtype=bool))] * B
            seg_dose = np.zeros((B, 2), dtype=np.int64)
        for j in range(B):
            try:
                if rp is None:
                    ys[j], counts[j] = integrate(c, problem.plan, problem.params[j], problem.y0[j], te, opts)
                else:
                    ys[j], us[j], cnt, ev, given = integrate_with_rules(c, rp, problem.params[j], problem.y0[j],
                                                                        base[j], te, opts)
                    counts[j], seg_dose[j] = cnt[:3], cnt[3:]
                    logs[j] = (ev, given)
            except SolverError as err:
                status[j] = int(err.status)
                t_reached[j] = err.t
                bad_state[j] = err.state_index
                messages[j] = err.solver_message
                errors[j] = err
                if rp is not None:
                    ys[j] = np.nan
                    us[j] = np.nan
        rule_log = None
        if rp is not None:
            from ._problem import RuleLog

            m = max([len(ev) for ev, _ in logs] + [1])
            n_ev = np.array([len(ev) for ev, _ in logs], dtype=np.int64)
            ev_t = np.zeros((B, m))
            ev_code = np.zeros((B, m), dtype=np.int64)
            ev_val = np.zeros((B, m))
            ev_thr = np.zeros((B, m))
            for j, (ev, _) in enumerate(logs):
                for e, (t, code, v, thr) in enumerate(ev):
                    ev_t[j, e], ev_code[j, e], ev_val[j, e], ev_thr[j, e] = t, code, v, thr
            rule_log = RuleLog(us, n_ev, ev_t, ev_code, ev_val, ev_thr, np.stack([g for _, g in logs]),
                               seg_dose[:, 0].copy(), seg_dose[:, 1].copy())
        return Solution(te, ys, problem.plan.rates_at(te), status, t_reached, bad_state, tuple(messages),
                        counts[:, 0], counts[:, 1], counts[:, 2], (self.name,) * B, problem.plan.n_segments,
                        problem.plan.n_doses, errors=tuple(errors), rules=rule_log)


# --------------------------------------------------------------------------- event-driven integration (scipy)


def _value(compiled: CompiledModel, rules: RulePlan, j: int, t: float, y: np.ndarray, p: np.ndarray,
           u: np.ndarray) -> float:
    """The quantity rule ``j`` watches, at ``(t, y)`` with inputs ``u``."""
    if rules.state[j] >= 0:
        return float(y[rules.state[j]])
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.asarray(compiled.observe(t, y, p, u), dtype=float).reshape(-1)[rules.obs[j]])


def integrate_with_rules(
    compiled: CompiledModel,
    rules: RulePlan,
    p: np.ndarray,
    y0: np.ndarray,
    baselines: np.ndarray,
    t_eval: np.ndarray,
    opts: SolverOptions,
) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int, int], list[tuple[float, int, float, float]],
           np.ndarray]:
    """Integrate one patient under a rule plan with ``solve_ivp``, switching rules at located events.

    The scipy counterpart of the compiled engine's rule handling (same plan arrays, same semantics): at
    each breakpoint and after each switch the rules are checked against the state; at a breakpoint the
    fixed doses and the gated doses of the rules that are on are given; between stops ``solve_ivp``
    integrates with one terminal event per rule (watched − threshold, in the rule's direction).

    Parameters
    ----------
    compiled : CompiledModel
        ``compile_model(model)``.
    rules : RulePlan
        The regimen's plan (``rules.dosing`` is the fixed dosing).
    p, y0 : numpy.ndarray
        Parameters and initial state.
    baselines : numpy.ndarray
        The patient's rule baselines, shape ``(n_rules,)`` (:meth:`RulePlan.baselines`).
    t_eval : numpy.ndarray
        Output times (days).
    opts : SolverOptions
        Settings; ``opts.method`` a scipy method.

    Returns
    -------
    ys, us : numpy.ndarray
        States and infusion rates at ``t_eval``.
    counters : tuple of int
        ``(nfev, njev, nlu, n_segments, n_doses_applied)``.
    events : list of tuple
        ``(time, 2 × rule + action, value, threshold)`` per switch (action 0 pause, 1 resume).
    given : numpy.ndarray
        Whether each rule was on at each breakpoint, shape ``(n_b, n_rules)``.

    Raises
    ------
    SolverError
        On a failed segment, or (status ``TOO_MANY_SWITCHES``) after more than ``opts.max_switches`` switches (:class:`~tumordyn.Solver`).
    """

    plan = rules.dosing
    t0, t_end = plan.t0, plan.t_end
    cand = plan.breaks
    n_r = rules.n_rules
    u_zero = np.zeros(compiled.n_drugs)
    on = [bool(x) for x in rules.start_on]
    given = np.zeros((cand.size, n_r), dtype=bool)
    lo = [float(rules.pause[j] * baselines[j]) for j in range(n_r)]
    hi = [float(rules.resume[j] * baselines[j]) for j in range(n_r)]

    ys = np.empty((t_eval.size, compiled.n_states))
    us = np.zeros((t_eval.size, compiled.n_drugs))
    y = y0.astype(float).copy()
    nonneg = compiled.nonnegative
    atol = opts.atol
    nfev = njev = nlu = nseg = 0
    ndoses = plan.n_doses
    events: list[tuple[float, int, float, float]] = []
    k = 0
    tc = float(t0)
    at_breakpoint = True
    while True:
        # 1. rules consistent with the current state (checked before any dose now)
        for j in range(n_r):
            v = _value(compiled, rules, j, tc, y, p, u_zero)
            if on[j] and v < lo[j]:
                on[j] = False
                events.append((tc, 2 * j, v, lo[j]))
            elif not on[j] and v >= hi[j]:
                on[j] = True
                events.append((tc, 2 * j + 1, v, hi[j]))
        row = int(np.searchsorted(cand, tc, side="right")) - 1
        # 2. bolus doses due now (fixed ones at breakpoints; gated ones while on)
        if at_breakpoint:
            due = np.array(plan.bolus[row])
            for j in range(n_r):
                given[row, j] = on[j]
                if on[j] and rules.n_bolus[row, j] > 0:
                    due[rules.drug[j]] += rules.bolus[row, j]
                    ndoses += int(rules.n_bolus[row, j])
            for d in np.flatnonzero(due).tolist():
                comp, inc = compiled.dose_jump(d, float(due[d]), p)
                if comp >= 0:
                    y[comp] += inc
        # 3. infusion rates until the next breakpoint
        u = np.array(plan.rates[row])
        for j in range(n_r):
            if on[j]:
                u[rules.drug[j]] += rules.rates[row, j]
        nxt = row + 1
        last = nxt >= cand.size or tc >= t_end
        t_next = t_end if last else float(cand[nxt])
        k_end = t_eval.size if last else int(np.searchsorted(t_eval, t_next, side="left"))
        at_tc = k
        while at_tc < k_end and t_eval[at_tc] == tc:
            ys[at_tc] = y
            us[at_tc] = u
            at_tc += 1
        if last:
            k = k_end
            break
        if is_tiny_segment(tc, t_next):
            ys[at_tc:k_end] = y
            us[at_tc:k_end] = u
            y = euler_step(compiled, y, tc, t_next, p, u)
            nseg += 1
            nfev += 1
            k = k_end
            at_breakpoint = True
            tc = t_next
            continue
        # 4. integrate to the next breakpoint, stopping at the first rule switch
        ev_funcs = []
        for j in range(n_r):
            thr = lo[j] if on[j] else hi[j]

            def g(t: float, yy: np.ndarray, *args: Any, _j: int = j, _thr: float = thr,
                  _u: np.ndarray = u) -> float:
                return _value(compiled, rules, _j, t, yy, p, _u) - _thr

            g.terminal = True  # type: ignore[attr-defined]
            g.direction = -1.0 if on[j] else 1.0  # type: ignore[attr-defined]
            ev_funcs.append(g)
        inner = t_eval[at_tc:k_end]
        seg_eval = np.append(inner, t_next)
        sol = solve_segment(compiled, y, tc, t_next, p, u, seg_eval, opts, ev_funcs)
        nseg += 1
        nfev += int(sol.nfev)
        njev += int(sol.njev)
        nlu += int(sol.nlu)
        if sol.status == -1:
            raise SolverError(
                f"integration of model {compiled.model_name!r} failed in the segment [{tc:g}, {t_next:g}] days",
                t=float(sol.t[-1]) if sol.t.size else tc,
                solver_message=str(sol.message),
            )
        fired = None
        if sol.status == 1:
            te = min((float(tev[0]), j) for j, tev in enumerate(sol.t_events) if len(tev))
            fired = te[1]
            t_stop = te[0]
            y_stop = np.asarray(sol.y_events[fired][0], dtype=float)
            n_out = int(np.searchsorted(inner, t_stop, side="left"))
            sy = np.asarray(sol.y, dtype=float).reshape(compiled.n_states, -1)
            seg = sy[:, : min(n_out, sy.shape[1])]
            n_out = seg.shape[1]
        else:
            if sol.y.shape[1] != seg_eval.size:
                raise SolverError(
                    f"integration of model {compiled.model_name!r} failed in the segment [{tc:g}, {t_next:g}] days",
                    t=float(sol.t[-1]) if sol.t.size else tc,
                    solver_message=str(sol.message),
                )
            t_stop = t_next
            n_out = inner.size
            seg = sol.y[:, :n_out]
            y_stop = sol.y[:, -1]
        check_segment(compiled, np.column_stack([seg, y_stop]), np.append(inner[:n_out], t_stop), nonneg, atol,
                      opts.rtol)
        seg = seg.copy()
        seg[nonneg] = np.maximum(seg[nonneg], 0.0)
        ys[at_tc:at_tc + n_out] = seg.T
        us[at_tc:at_tc + n_out] = u
        k = at_tc + n_out
        y = np.array(y_stop, dtype=float)
        y[nonneg] = np.maximum(y[nonneg], 0.0)
        if fired is not None:
            thr = lo[fired] if on[fired] else hi[fired]
            events.append((t_stop, 2 * fired + (0 if on[fired] else 1),
                           _value(compiled, rules, fired, t_stop, y, p, u), thr))
            on[fired] = not on[fired]
            if len(events) > opts.max_switches:
                raise SolverError(
                    f"adaptive rule for {rules.regimen.rules[fired].drug!r} switched more than {opts.max_switches} "
                    f"times by t = {t_stop:g} days (chattering); widen the gap between pause_below and resume_at",
                    t=t_stop, status=SolverStatus.TOO_MANY_SWITCHES,
                )
            at_breakpoint = bool(np.any(cand == t_stop))
            if t_stop >= t_end:
                # the switch happened exactly at the horizon: record the final state and stop
                ys[k:] = y
                us[k:] = u
                break
        else:
            at_breakpoint = True
        tc = t_stop
    return ys, us, (nfev, njev, nlu, nseg, ndoses), events, given
