"""Model events: located triggers, a bounded queue of delayed executions, priorities.

:class:`EventQueue` is the one implementation of the execution semantics below (triggers, queue, priorities,
persistence, bounded executions), called by every engine that executes events: the scipy loop here and the
compiled engine (:mod:`tumordyn.solve._compiled`, which locates the triggers' changes in its kernel).
:func:`integrate_with_events` integrates one patient of a model with :class:`~tumordyn.spec.Event` s
under a dosing plan, with SBML Level 3 semantics:

* a trigger *fires* when its condition changes from false to true (its value before the start is the
  event's ``initial_value``). After each integrator step every comparison the triggers are made of is
  evaluated; when one has changed, the first change is located by bisection on the step's dense output
  to a few ulps of the time (the comparison has its new value at the located time), the triggers are
  evaluated there and the integration restarts there;
* a fired event is *executed* after its delay (evaluated when it fires); its values are computed when
  it fires (``use_values_from_trigger_time``) or when it is executed; a non-persistent event whose
  trigger turns false before its execution is cancelled;
* the events due at one time are executed one at a time, highest priority first (priorities evaluated
  then; events without priority rank below every prioritized one and go in the order they fired, then
  model order; events of *equal* explicit priority go in random order, as SBML prescribes, drawn from a
  generator seeded afresh for every solve, so a result is reproducible); after each execution every trigger is evaluated again, so an execution can fire other
  events (executed at the same time when they have no delay) or cancel non-persistent ones;
* bolus doses of the plan are applied at their breakpoints before the events of that time; outputs at
  an event time hold the values after the events (as after a dose).

Every loop is bounded: integrator steps by the step budget (``Solver.max_steps``), bisection by 200
halvings, executions by ``Solver.max_switches`` (then status
:attr:`~tumordyn.errors.SolverStatus.TOO_MANY_SWITCHES`). A comparison that changes and changes back
within one integrator step is not seen (as with any sign-change detection); ``Solver(max_step=...)``
bounds the step.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import NegativeStateError, SolverError, SolverStatus
from ..numerics import event_functions
from ._problem import IMPLICIT_METHODS, SolverOptions
from ._scipy_engine import (
    Budget,
    _BudgetExhausted,
    _finite_jacobian,
    _guarded,
    _non_finite_error,
    _NonFiniteDerivative,
    check_segment,
    flush_subnormal,
    is_tiny_segment,
    model_system,
)

__all__ = ["integrate_with_events", "EventQueue"]

_MAX_BISECTIONS = 200

#: Seed of the generator that orders due events of equal explicit priority (SBML: at random), per solve.
_TIE_SEED = 20_261_130


def _solver_class(method: str) -> Any:
    import scipy.integrate as si  # imported on first use: `import tumordyn` stays light

    return getattr(si, method)



class EventQueue:
    """The execution semantics of a model's events for one patient (shared by every engine that executes
    events: the scipy loop below and the compiled engine, :mod:`tumordyn.solve._compiled`).

    Holds each trigger's last value, the queue of fired events waiting for their execution time
    (``(time, order fired, event, values or None)``) and the count of executions. The integrators locate the
    times at which a trigger's comparisons change; at such a time (and at every breakpoint and queued
    execution time) they call :meth:`update_triggers` then :meth:`execute_due`.

    Parameters
    ----------
    compiled : CompiledModel
        ``compile_model(model)``; its ``events`` are executed.
    p : numpy.ndarray
        The patient's parameter vector (not extended).
    what : str
        How messages name the patient (e.g. ``"model 'decay'"``).
    max_switches : int
        Executions allowed (``Solver.max_switches``); one more raises ``TOO_MANY_SWITCHES``.
    """

    def __init__(self, compiled: Any, p: np.ndarray, what: str, max_switches: int) -> None:
        self.compiled = compiled
        self.ev = event_functions(compiled)
        self.p = p
        self.what = what
        self.max_switches = int(max_switches)
        self.trig = [bool(v) for v in self.ev.initial_value]
        self.queue: list[tuple[float, int, int, np.ndarray | None]] = []
        self.order = 0
        self.n_exec = 0
        self.rng = np.random.default_rng(_TIE_SEED)

    def next_time(self) -> float:
        """The earliest execution time in the queue (days; ``inf`` when it is empty)."""
        return min((q[0] for q in self.queue), default=math.inf)

    def _check_values(self, k: int, vals: np.ndarray, t: float) -> None:
        bad = ~np.isfinite(vals)
        if bad.any():
            i = int(self.ev.targets[k][int(np.argmax(bad))])
            raise SolverError(f"event {self.ev.names[k]!r} of {self.what} assigns a non-finite value to state "
                              f"{self.compiled.state_names[i]!r} at t = {t:g} days", t=t,
                              status=SolverStatus.NON_FINITE, state_index=i)

    def update_triggers(self, t: float, y: np.ndarray) -> None:
        """Fire the triggers that turned true at ``(t, y)``, cancel the non-persistent events whose trigger
        turned false."""
        ev, p = self.ev, self.p
        now = ev.triggers(t, y, p)
        for k in range(len(ev.names)):
            if now[k] == self.trig[k]:
                continue
            self.trig[k] = now[k]
            if now[k]:
                d = ev.delay(k, t, y, p) if ev.has_delay[k] else 0.0
                if not (d >= 0.0 and math.isfinite(d)):
                    raise SolverError(f"event {ev.names[k]!r} of {self.what} fired at t = {t:g} days with delay "
                                      f"{d}; a delay must be finite and >= 0 days", t=t, status=SolverStatus.FAILED)
                vals = None
                if ev.use_values_from_trigger_time[k]:
                    vals = ev.values(k, t, y, p)
                    self._check_values(k, vals, t)
                self.queue.append((t + d if d > 0.0 else t, self.order, k, vals))
                self.order += 1
            elif not ev.persistent[k]:
                self.queue[:] = [q for q in self.queue if q[2] != k]

    def execute_due(self, t: float, y: np.ndarray) -> None:
        """Execute the events due at ``t`` one at a time, highest priority first, updating ``y`` in place and
        the triggers after each execution (an execution may fire or cancel others)."""
        ev, p, queue = self.ev, self.p, self.queue
        nonneg = self.compiled.nonnegative
        for _ in range(self.max_switches + 2):  # bounded: every pass executes one event or returns
            due = [q for q in queue if q[0] <= t]
            if not due:
                return
            if len(due) > 1:
                rank = {q[1]: (ev.priority(q[2], t, y, p) if ev.has_priority[q[2]] else -math.inf) for q in due}
                if any(math.isnan(r) for r in rank.values()):
                    k = next(q[2] for q in due if math.isnan(rank[q[1]]))
                    raise SolverError(f"event {ev.names[k]!r} of {self.what} has a non-finite priority at "
                                      f"t = {t:g} days", t=t, status=SolverStatus.NON_FINITE)
                best = max(rank.values())
                top = [q for q in due if rank[q[1]] == best]
                if len(top) > 1 and best != -math.inf:
                    # equal explicit priorities: SBML executes them in random order (seeded: reproducible)
                    q = top[int(self.rng.integers(len(top)))]
                else:
                    q = top[0]
            else:
                q = due[0]
            queue.remove(q)
            k = q[2]
            vals = q[3]
            if vals is None:
                vals = ev.values(k, t, y, p)
                self._check_values(k, vals, t)
            tgt = ev.targets[k]
            neg = nonneg[tgt] & (vals < 0.0)
            if neg.any():
                i = int(tgt[int(np.argmax(neg))])
                raise NegativeStateError(f"event {ev.names[k]!r} of {self.what} assigns "
                                         f"{float(vals[np.argmax(neg)]):g} to the non-negative state "
                                         f"{self.compiled.state_names[i]!r} at t = {t:g} days", t=t, state_index=i)
            y[tgt] = vals
            self.n_exec += 1
            if self.n_exec > self.max_switches:
                raise SolverError(f"events of {self.what} were executed more than {self.max_switches} times by "
                                  f"t = {t:g} days (Solver.max_switches); an event that keeps re-triggering "
                                  "itself?", t=t, status=SolverStatus.TOO_MANY_SWITCHES)
            self.update_triggers(t, y)
        raise SolverError(f"events of {self.what} were executed more than {self.max_switches} times at "
                          f"t = {t:g} days", t=t, status=SolverStatus.TOO_MANY_SWITCHES)


def integrate_with_events(compiled: Any, plan: Any, p: np.ndarray, y0: np.ndarray, t_eval: np.ndarray,
                          opts: SolverOptions) -> tuple[np.ndarray, tuple[int, int, int], int]:
    """Integrate one patient of a model with events (see the module docstring for the semantics).

    Parameters
    ----------
    compiled : CompiledModel
        ``compile_model(model)``; ``compiled.events`` are executed.
    plan : DosingPlan
        Doses and infusion rates (may be empty).
    p, y0 : numpy.ndarray
        Parameters and initial state (not modified).
    t_eval : numpy.ndarray
        Sorted output times within ``[plan.t0, plan.t_end]`` (days).
    opts : SolverOptions
        ``opts.method`` a scipy method (``solve_ivp``'s integrator classes are stepped one step at a time).

    Returns
    -------
    ys : numpy.ndarray
        States at ``t_eval``, shape ``(len(t_eval), n_states)``.
    counters : tuple of int
        ``(nfev, njev, nlu)``.
    n_executed : int
        Event executions.

    Raises
    ------
    SolverError
        A failed step, a non-finite value (also a non-finite assigned value or delay, naming the event),
        an exhausted budget, or more than ``opts.max_switches`` executions (``TOO_MANY_SWITCHES``).
    NegativeStateError
        When an event assigns a negative value to a non-negative state.
    """
    ev = event_functions(compiled)
    p = flush_subnormal(p)
    y = flush_subnormal(y0)
    system = model_system(compiled, p, opts)
    what = system.what
    budget = Budget(opts)
    nonneg = compiled.nonnegative
    breaks = plan.breaks
    n_b = breaks.size
    t0, t_end = float(plan.t0), float(plan.t_end)
    ys = np.full((t_eval.size, compiled.n_states), np.nan)
    events = EventQueue(compiled, p, what, opts.max_switches)
    nfev = njev = nlu = 0
    cls = _solver_class(opts.method)
    jac_ok = opts.method in IMPLICIT_METHODS and system.jac is not None

    b = -1
    u = np.zeros(compiled.n_drugs)
    k_out = 0
    tc = t0
    try:
        # every pass ends at a later time (a breakpoint, an execution time, a located trigger or t_end) or
        # stops; the step budget bounds the passes (each spends at least one evaluation)
        while True:
            # 1. the instant tc: doses due now, then triggers, then the events due now
            while b + 1 < n_b and float(breaks[b + 1]) <= tc:
                b += 1
                if plan.bolus[b].any():
                    system.jump(y, plan.bolus[b])
                u = np.array(plan.rates[b], dtype=float)
            events.update_triggers(tc, y)
            events.execute_due(tc, y)
            while k_out < t_eval.size and (t_eval[k_out] <= tc or is_tiny_segment(tc, float(t_eval[k_out]))):
                ys[k_out] = y
                k_out += 1
            if tc >= t_end:
                break
            # 2. integrate to the next stop, watching the triggers
            t_stop = t_end
            if b + 1 < n_b:
                t_stop = min(t_stop, float(breaks[b + 1]))
            t_stop = min(t_stop, events.next_time())
            budget.check_clock(tc)
            if is_tiny_segment(tc, t_stop):
                with np.errstate(all="ignore"):
                    y = y + (t_stop - tc) * np.asarray(system.fun(tc, y, u), dtype=float)
                check_segment(compiled, y[:, None], np.array([t_stop]), nonneg, opts.atol, opts.rtol)
                y[nonneg] = np.maximum(y[nonneg], 0.0)
                nfev += 1
                tc = t_stop
                continue
            f = _guarded(lambda t, yy, _u=u: system.fun(t, yy, _u), budget)
            kw: dict[str, Any] = {}
            if jac_ok:
                jac = system.jac
                kw["jac"] = lambda t, yy, _u=u: _finite_jacobian(jac(t, yy, _u), t)
            with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
                solver = cls(f, tc, y, t_stop, rtol=opts.rtol, atol=opts.atol, max_step=opts.max_step, **kw)
                watch = ev.atoms(tc, y, p)  # the triggers' comparisons as they are now (triggers change with them)
                hit = None
                while solver.status == "running":
                    t_old = solver.t
                    msg = solver.step()
                    if solver.status == "failed":
                        raise SolverError(f"integration of {what} failed in [{tc:g}, {t_stop:g}] days",
                                          t=float(solver.t), solver_message=str(msg), status=SolverStatus.FAILED)
                    t_new = float(solver.t)
                    y_new = np.array(solver.y, dtype=float)
                    check_segment(compiled, y_new[:, None], np.array([t_new]), nonneg, opts.atol, opts.rtol)
                    dense = None
                    if ev.explicit_time:
                        # a comparison of an explicit function of time (e.g. sin(10 t) < 0) may change and change back
                        # within a step the states' error allows: checked at the quarters of the step on the dense
                        # output too (as the compiled engine does for every model); the first quarter where one
                        # differs from the watch brackets the change
                        dense = solver.dense_output()
                        t_lo = t_old
                        for q in (1, 2, 3):
                            tq = t_old + 0.25 * q * (t_new - t_old)
                            if ev.atoms(tq, np.array(dense(tq), dtype=float), p) != watch:
                                hit = _locate(ev, dense, t_lo, tq, p, watch)
                                break
                            t_lo = tq
                        if hit is None and ev.atoms(t_new, y_new, p) != watch:
                            hit = _locate(ev, dense, t_lo, t_new, p, watch)
                    elif ev.atoms(t_new, y_new, p) != watch:
                        dense = solver.dense_output()
                        hit = _locate(ev, dense, t_old, t_new, p, watch)
                    t_upto = hit[0] if hit is not None else t_new
                    if k_out < t_eval.size and t_eval[k_out] < t_upto or (hit is None and t_new >= t_stop):
                        if dense is None:
                            dense = solver.dense_output()
                        while k_out < t_eval.size and t_eval[k_out] < t_upto:
                            yk = np.array(dense(float(t_eval[k_out])), dtype=float) if t_eval[k_out] != t_new \
                                else y_new.copy()
                            yk[nonneg] = np.maximum(yk[nonneg], 0.0)
                            ys[k_out] = yk
                            k_out += 1
                    if hit is not None:
                        break
                nfev += int(solver.nfev)
                njev += int(getattr(solver, "njev", 0))
                nlu += int(getattr(solver, "nlu", 0))
            if hit is not None:
                tc, y = hit
            else:
                tc, y = t_stop, np.array(solver.y, dtype=float)
            check_segment(compiled, y[:, None], np.array([tc]), nonneg, opts.atol, opts.rtol)
            y[nonneg] = np.maximum(y[nonneg], 0.0)
    except _NonFiniteDerivative as exc:
        raise _non_finite_error(exc, what, system.label) from None
    except _BudgetExhausted as exc:
        raise budget.error(exc, what) from None
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
        raise SolverError(f"integration of {what} failed at t = {tc:g} days", t=tc,
                          solver_message=f"{type(exc).__name__}: {exc}", status=SolverStatus.FAILED) from None
    if k_out < t_eval.size:
        ys[k_out:] = y
    return ys, (nfev, njev, nlu), events.n_exec


def _locate(ev: Any, dense: Any, t_lo: float, t_hi: float, p: np.ndarray,
            watch: list[bool]) -> tuple[float, np.ndarray]:
    """The earliest time in ``(t_lo, t_hi]`` at which some comparison of the triggers differs from ``watch``
    (bisection on the dense output, to a few ulps of the time), and the state there."""
    for _ in range(_MAX_BISECTIONS):
        mid = 0.5 * (t_lo + t_hi)
        if not t_lo < mid < t_hi:
            break
        ym = np.array(dense(mid), dtype=float)
        if ev.atoms(mid, ym, p) != watch:
            t_hi = mid
        else:
            t_lo = mid
    return t_hi, np.array(dense(t_hi), dtype=float)
