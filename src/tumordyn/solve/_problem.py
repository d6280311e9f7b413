"""One solve layer: solver settings, a problem, a solution and the engine interface.

The dispatcher with the one fallback policy is :func:`tumordyn.solve._dispatch.solve`. Every simulation in tumordyn — :func:`~tumordyn.simulate`, :func:`~tumordyn.simulate_batch`,
cohorts and fits — builds a :class:`Problem` (a compiled model, a :class:`~tumordyn.dosing._plan.DosingPlan`,
one parameter vector and initial state per patient, output times) and hands it to :func:`solve`
with a :class:`Solver`. :func:`solve` picks the engine the solver's ``method`` names, and for
``method="auto"`` applies the one fallback policy: the compiled Dormand–Prince engine with stiffness
detection first, and LSODA for the patients it reports :attr:`~SolverStatus.STIFF` or
:attr:`~SolverStatus.TOO_MANY_STEPS`. Decisions are made on :class:`SolverStatus` codes.

Engines
-------
``"dopri5"``
    The compiled Dormand–Prince 5(4) integrator (numba; :mod:`tumordyn.solve._compiled`).
``"batch"``
    The same method vectorised over patients in numpy, with per-patient step control
    (:mod:`tumordyn.solve._batch`); needs no compiler.
``"LSODA"``, ``"RK45"``, ``"DOP853"``, ``"RK23"``, ``"BDF"``, ``"Radau"``
    ``scipy.integrate.solve_ivp`` between the plan's breakpoints (:mod:`tumordyn.solve._scipy_engine`), one
    patient at a time, or all patients of one or several problems as one system (``joint=True``, what
    a fit's finite differences use).

Every engine returns a :class:`Solution` in one layout: states ``(patients, times, states)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .._validate import real_number
from ..numerics import NEGATIVE_SLACK
from ..errors import NegativeStateError, SolverError, SolverStatus, SpecificationError, UnknownNameError

if TYPE_CHECKING:
    from ..numerics import CompiledModel
    from ..dosing import DosingPlan, RulePlan
    from ..dosing import RuleEvent

__all__ = [
    "Solver",
    "SolverStats",
    "SolverOptions",
    "Problem",
    "Solution",
    "RuleLog",
    "Engine",
    "SCIPY_METHODS",
    "IMPLICIT_METHODS",
    "COMPILED_METHOD",
    "BATCH_METHOD",
    "DEFAULT_MAX_STEPS",
    "DEFAULT_MAX_SWITCHES",
]

#: ``scipy.integrate.solve_ivp`` methods.
SCIPY_METHODS = ("LSODA", "RK45", "DOP853", "RK23", "BDF", "Radau")
#: The scipy methods that use the analytic Jacobian.
IMPLICIT_METHODS = frozenset({"LSODA", "BDF", "Radau"})
#: The compiled Dormand–Prince 5(4) engine (numba).
COMPILED_METHOD = "dopri5"
#: Dormand–Prince 5(4) vectorised over patients in numpy.
BATCH_METHOD = "batch"
#: Default cap on the number of steps (accepted + rejected) of one patient's solve.
DEFAULT_MAX_STEPS = 1_000_000
#: Most adaptive-rule switches in one patient's solve before it stops as chattering.
DEFAULT_MAX_SWITCHES = 10_000
#: Every value ``Solver.method`` accepts.
ALL_METHODS = ("auto", COMPILED_METHOD, BATCH_METHOD, *SCIPY_METHODS)



def _real(value: Any, name: str) -> float:
    return real_number(value, f"`{name}`", allow_inf=True)



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
class Solver:
    """How to integrate: the method and its tolerances, accepted everywhere a solve happens.

    Parameters
    ----------
    method : str, optional
        ``"auto"`` (default): the compiled Dormand–Prince engine ``"dopri5"`` when numba is
        installed, handing the patients it finds stiff (or that exhaust ``max_steps``) to LSODA;
        LSODA without numba. ``"dopri5"``: the compiled engine only. ``"batch"``: Dormand–Prince
        vectorised over patients in numpy. Or a ``scipy.integrate.solve_ivp`` method: ``"LSODA"``,
        ``"RK45"``, ``"DOP853"``, ``"RK23"``, ``"BDF"``, ``"Radau"``.
    rtol : float, optional
        Relative tolerance, in (0, 0.1] (default 1e-6).
    atol : float or mapping, optional
        Absolute tolerance for every state, or by state name (state units); default: each state's
        ``atol`` from the model (about one cell for cell counts).
    max_step : float, optional
        Largest step (days); default unbounded.
    max_steps : int, optional
        Step budget of one patient's solve (default 1,000,000): accepted + rejected steps on the
        Dormand–Prince engines, right-hand-side evaluations on the scipy engines (every step takes
        at least one, so steps are bounded too); running out ends the solve with
        :attr:`SolverStatus.TOO_MANY_STEPS` and the time reached.
    max_seconds : float or None, optional
        Wall-time budget of one patient's solve in seconds, on every engine (default ``None``: none);
        running out ends the solve with :attr:`SolverStatus.TIME_BUDGET` and the time reached. The
        scipy engines read the clock every 64 right-hand-side evaluations, the compiled engine every
        64 step attempts, the numpy ``"batch"`` engine (whose patients step together, so the budget
        runs from the start of the batch) at every step. Under ``"auto"`` the budget is total: no
        LSODA fallback after it ran out, and a fallback gets what the compiled solve left of it.
    max_switches : int, optional
        Most adaptive-rule switches, or model-event executions (:class:`~tumordyn.spec.Event`), in one
        patient's solve (default 10,000); more ends it with :attr:`SolverStatus.TOO_MANY_SWITCHES`
        (chattering, or an event that keeps re-triggering itself), on every engine.

    Examples
    --------
    >>> import tumordyn as td
    >>> td.Solver(method="LSODA", rtol=1e-8)
    Solver(method='LSODA', rtol=1e-08, atol=None, max_step=inf, max_steps=1000000, max_switches=10000, max_seconds=None)
    """

    method: str = "auto"
    rtol: float = 1e-6
    atol: float | Mapping[str, float] | None = None
    max_step: float = math.inf
    max_steps: int = DEFAULT_MAX_STEPS
    max_switches: int = DEFAULT_MAX_SWITCHES
    max_seconds: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.method, str) or self.method not in ALL_METHODS:
            raise SpecificationError(f"unknown method {self.method!r}; choose one of {', '.join(map(repr, ALL_METHODS))}")
        rtol = _real(self.rtol, "rtol")
        if not 0 < rtol <= 0.1:
            raise SpecificationError(f"`rtol` must be in (0, 0.1], got {rtol}")
        object.__setattr__(self, "rtol", rtol)
        if self.atol is not None:
            if isinstance(self.atol, Mapping):
                items = {}
                for name, v in self.atol.items():
                    if not isinstance(name, str):
                        raise TypeError(f"`atol` keys must be state names, got {type(name).__name__} {name!r}")
                    items[name] = _real(v, f"atol[{name!r}]")
                    if not (items[name] > 0 and math.isfinite(items[name])):
                        raise SpecificationError(f"`atol` must be > 0 and finite for every state; atol[{name!r}] = {items[name]}")
                object.__setattr__(self, "atol", MappingProxyType(items))
            else:
                a = _real(self.atol, "atol")
                if not (a > 0 and math.isfinite(a)):
                    raise SpecificationError(f"`atol` must be > 0 and finite (state units), got {a}")
                object.__setattr__(self, "atol", a)
        max_step = _real(self.max_step, "max_step")
        if not max_step > 0:
            raise SpecificationError(f"`max_step` must be > 0 days, got {max_step}")
        object.__setattr__(self, "max_step", max_step)
        if isinstance(self.max_steps, bool) or not isinstance(self.max_steps, (int, np.integer)) or self.max_steps < 1:
            raise SpecificationError(f"`max_steps` must be a positive integer, got {self.max_steps!r}")
        object.__setattr__(self, "max_steps", int(self.max_steps))
        if (isinstance(self.max_switches, bool) or not isinstance(self.max_switches, (int, np.integer))
                or self.max_switches < 1):
            raise SpecificationError(f"`max_switches` must be a positive integer, got {self.max_switches!r}")
        object.__setattr__(self, "max_switches", int(self.max_switches))
        if self.max_seconds is not None:
            secs = _real(self.max_seconds, "max_seconds")
            if not secs > 0:
                raise SpecificationError(f"`max_seconds` must be > 0 seconds or None, got {secs}")
            object.__setattr__(self, "max_seconds", secs)

    def __hash__(self) -> int:
        atol = tuple(sorted(self.atol.items())) if isinstance(self.atol, Mapping) else self.atol
        return hash((self.method, self.rtol, atol, self.max_step, self.max_steps, self.max_switches, self.max_seconds))

    def __repr__(self) -> str:
        atol = dict(self.atol) if isinstance(self.atol, Mapping) else self.atol
        return (f"Solver(method={self.method!r}, rtol={self.rtol!r}, atol={atol!r}, max_step={self.max_step!r}, "
                f"max_steps={self.max_steps!r}, max_switches={self.max_switches!r}, max_seconds={self.max_seconds!r})")

    def options(self, compiled: CompiledModel) -> SolverOptions:
        """These settings resolved against a model: per-state absolute tolerances as an array.

        Raises
        ------
        UnknownNameError
            For an ``atol`` key that is not a state of the model.
        """
        a = np.array(compiled.atol, dtype=float)
        if isinstance(self.atol, Mapping):
            for name, v in self.atol.items():
                if name not in compiled.state_names:
                    raise UnknownNameError("state", name, compiled.state_names, "`atol`")
                a[compiled.state_names.index(name)] = v
        elif self.atol is not None:
            a[:] = self.atol
        a.flags.writeable = False
        # LSODA as the fallback of an explicit engine (a stiff problem that exhausted the explicit
        # engine's budget) keeps at least the default budget
        scipy_steps = self.max_steps if self.method in SCIPY_METHODS else max(self.max_steps, DEFAULT_MAX_STEPS)
        return SolverOptions(self.method, self.rtol, a, self.max_step, self.max_steps, self.max_switches,
                             self.max_seconds, scipy_steps)


@dataclass(frozen=True)
class SolverOptions:
    """A :class:`Solver` resolved against one model (what the engines read).

    Attributes
    ----------
    method : str
        As in :class:`Solver`.
    rtol : float
        Relative tolerance.
    atol : numpy.ndarray
        Per-state absolute tolerances, in each state's unit.
    max_step : float
        Largest step (days).
    max_steps : int
        Step budget of one patient's solve.
    max_switches : int
        Most adaptive-rule switches or model-event executions in one patient's solve.
    max_seconds : float or None
        Wall-time budget of one patient's solve (seconds) on every engine, or ``None``.
    scipy_max_steps : int or None
        Budget of right-hand-side evaluations of one patient's solve on the scipy engines:
        ``max_steps`` when the solver names a scipy method; when a scipy engine is the fallback of an
        explicit one (``"auto"``, ``"dopri5"``, ``"batch"``), at least :data:`DEFAULT_MAX_STEPS` (a
        stiff problem that exhausted the explicit engine's budget is what the fallback is for).
        ``None``: ``max_steps``.
    """

    method: str
    rtol: float
    atol: np.ndarray
    max_step: float
    max_steps: int = DEFAULT_MAX_STEPS
    max_switches: int = DEFAULT_MAX_SWITCHES
    max_seconds: float | None = None
    scipy_max_steps: int | None = None


@dataclass(frozen=True, eq=False)
class Problem:
    """What to integrate: ``B`` patients of one model under one dosing plan.

    Attributes
    ----------
    compiled : CompiledModel
        ``compile_model(model)``.
    plan : DosingPlan
        The dosing (breakpoints, bolus amounts, infusion rates), shared by the patients.
    params : numpy.ndarray
        One full parameter vector per patient, shape ``(B, n_params)``, in ``compiled.param_names`` order.
    y0 : numpy.ndarray
        Initial states, shape ``(B, n_states)`` (before any dose at ``plan.t0``).
    t_eval : numpy.ndarray
        Sorted output times within the plan's window, shape ``(k,)`` (days).
    rules : RulePlan or None
        Adaptive rules (state-dependent dosing), shared by the patients; ``plan`` is then
        ``rules.dosing`` (the fixed doses on the breakpoints of the fixed schedule and the rules'
        templates). ``None``: a fixed schedule.
    dose_scale : numpy.ndarray or None
        Per-patient factors of each drug's doses and infusion rates, shape ``(B, n_drugs)`` (1: the plan's
        amounts): patient ``j`` receives ``dose_scale[j, d]`` times every bolus amount and rate of drug ``d``
        in the plan and in the rules' templates (a dose per kg of body weight with each patient's weight).
        The solution's ``u`` is then the plan's rates (scale them per patient); with rules,
        ``rules.u`` holds each patient's own rates. ``None``: every patient gets the plan's doses.
    """

    compiled: CompiledModel
    plan: DosingPlan
    params: np.ndarray
    y0: np.ndarray
    t_eval: np.ndarray
    rules: RulePlan | None = None
    dose_scale: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.rules is not None and self.rules.dosing is not self.plan:
            raise SpecificationError("Problem: with adaptive rules the dosing plan must be rules.dosing")
        # C-contiguous and writable: what the compiled engine's typed signature takes
        p = _c_writable(self.params, 2)
        y = _c_writable(self.y0, 2)
        te = _c_writable(self.t_eval, 1)
        if p.shape[1] != self.compiled.n_params or y.shape != (p.shape[0], self.compiled.n_states):
            raise SpecificationError(
                f"Problem: params must be (B, {self.compiled.n_params}) and y0 (B, {self.compiled.n_states}); "
                f"got {p.shape} and {y.shape}"
            )
        object.__setattr__(self, "params", p)
        object.__setattr__(self, "y0", y)
        object.__setattr__(self, "t_eval", te)
        if self.dose_scale is not None:
            ds = _c_writable(self.dose_scale, 2)
            if ds.shape != (p.shape[0], self.compiled.n_drugs):
                raise SpecificationError(f"Problem: dose_scale must be (B, {self.compiled.n_drugs}) = "
                                         f"({p.shape[0]}, {self.compiled.n_drugs}); got {ds.shape}")
            if not (np.all(np.isfinite(ds)) and np.all(ds >= 0)):
                raise SpecificationError("Problem: dose_scale must be finite and >= 0")
            object.__setattr__(self, "dose_scale", ds)

    @property
    def n_patients(self) -> int:
        """Number of patients ``B``."""
        return int(self.params.shape[0])

    def subset(self, rows: np.ndarray) -> Problem:
        """The same problem for some patients only."""
        return Problem(self.compiled, self.plan, self.params[rows], self.y0[rows], self.t_eval, self.rules,
                       None if self.dose_scale is None else self.dose_scale[rows])


def _c_writable(a: Any, ndim: int) -> np.ndarray:
    """``a`` as a C-contiguous, writable float64 array of at least ``ndim`` dimensions (``a`` itself when it
    already is one: the check costs far less than ``np.require``, which a solve would otherwise pay three
    times)."""
    if (type(a) is np.ndarray and a.dtype == np.float64 and a.ndim >= ndim and a.flags.c_contiguous
            and a.flags.writeable):
        return a
    a = np.asarray(a, dtype=float)
    if ndim == 2:
        a = np.atleast_2d(a)
    return np.require(a, requirements=["C", "W"])


@dataclass(frozen=True, eq=False)
class RuleLog:
    """What adaptive rules did, per patient (part of a :class:`Solution` of a problem with rules).

    Attributes
    ----------
    u : numpy.ndarray
        Infusion rates in force at the output times (right-continuous), shape ``(B, k, n_drugs)``
        (dose units per day); they depend on each patient's switches. NaN for a failed patient.
    n_events : numpy.ndarray
        Switches recorded per patient, shape ``(B,)``.
    event_t, event_code, event_value, event_threshold : numpy.ndarray
        Shape ``(B, m)``, the first ``n_events[j]`` columns used: time (days), ``2 × rule + action``
        (action 0 pause, 1 resume), watched value and threshold crossed (its unit).
    given : numpy.ndarray
        Whether each rule was on at each breakpoint of the plan (its template doses there given), shape
        ``(B, n_b, n_rules)``.
    n_segments, n_doses : numpy.ndarray
        Integration segments (switches cut segments) and bolus doses applied (fixed + gated), per patient.
    """

    u: np.ndarray
    n_events: np.ndarray
    event_t: np.ndarray
    event_code: np.ndarray
    event_value: np.ndarray
    event_threshold: np.ndarray
    given: np.ndarray
    n_segments: np.ndarray
    n_doses: np.ndarray

    def events(self, j: int, rules: RulePlan) -> tuple[RuleEvent, ...]:
        """Patient ``j``'s switches as :class:`~tumordyn.RuleEvent` s, in time order."""
        from ..dosing import RuleEvent

        out = []
        for e in range(int(self.n_events[j])):
            code = int(self.event_code[j, e])
            r = rules.regimen.rules[code // 2]
            out.append(RuleEvent(float(self.event_t[j, e]), r.drug, "resume" if code % 2 else "pause", r.observable,
                                 float(self.event_value[j, e]), float(self.event_threshold[j, e])))
        return tuple(out)

    def switch_times(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Patient ``j``'s switch times (days) and rule indices."""
        m = int(self.n_events[j])
        return self.event_t[j, :m], self.event_code[j, :m] // 2

    @staticmethod
    def merge(base: RuleLog, rows: np.ndarray, other: RuleLog) -> RuleLog:
        """``base`` with the patients ``rows`` replaced by ``other``'s."""
        m = max(base.event_t.shape[1], other.event_t.shape[1])

        def widen(a: np.ndarray) -> np.ndarray:
            return np.pad(a, ((0, 0), (0, m - a.shape[1])))

        arrays = []
        for name in ("u", "n_events", "event_t", "event_code", "event_value", "event_threshold", "given",
                     "n_segments", "n_doses"):
            a, b = getattr(base, name), getattr(other, name)
            if name.startswith("event_"):
                a, b = widen(a), widen(b)
            a = np.array(a)
            a[rows] = b
            arrays.append(a)
        return RuleLog(*arrays)


@dataclass(frozen=True, eq=False)
class Solution:
    """What an engine returns: every patient's states at the output times, and how each solve ended.

    Attributes
    ----------
    t : numpy.ndarray
        Output times, shape ``(k,)`` (days).
    y : numpy.ndarray
        States, shape ``(B, k, n_states)`` (state units); NaN for a patient that failed. Values at a
        dose time are after the dose; non-negative states are never below zero.
    u : numpy.ndarray
        Infusion rates in force at ``t`` (right-continuous), shape ``(k, n_drugs)`` (dose units per day).
    status : numpy.ndarray
        :class:`SolverStatus` code per patient, shape ``(B,)``.
    t_reached : numpy.ndarray
        Time each patient's solve reached (days), ``plan.t_end`` on success.
    bad_state : numpy.ndarray
        Index of the state that went negative (``NEGATIVE_STATE``) or became non-finite, else -1.
    messages : tuple of str
        The underlying solver's message per patient (empty on success).
    nfev, njev, nlu : numpy.ndarray
        Per patient: right-hand-side and Jacobian evaluations, LU decompositions.
    methods : tuple of str
        The engine that produced each patient's answer.
    n_segments, n_doses_applied : int
        Integration segments and bolus doses applied (from the plan; the same for every patient).
    errors : tuple
        The engine's own error per patient where it raised one (its message is the most specific),
        else empty or ``None``.
    rules : RuleLog or None
        With adaptive rules: each patient's switches, gated doses, rates and counters (``u``,
        ``n_segments`` and ``n_doses_applied`` above are then those of the fixed schedule alone).
    wall : numpy.ndarray or None
        Seconds each patient's solve took, where the engine measured it (the compiled engine with a
        ``max_seconds`` budget: what ``"auto"`` subtracts from the budget of an LSODA fallback), else ``None``.
    """

    t: np.ndarray
    y: np.ndarray
    u: np.ndarray
    status: np.ndarray
    t_reached: np.ndarray
    bad_state: np.ndarray
    messages: tuple[str, ...]
    nfev: np.ndarray
    njev: np.ndarray
    nlu: np.ndarray
    methods: tuple[str, ...]
    n_segments: int
    n_doses_applied: int
    errors: tuple[SolverError | None, ...] = field(default=(), repr=False)
    rules: RuleLog | None = field(default=None, repr=False)
    wall: np.ndarray | None = field(default=None, repr=False)

    @property
    def ok(self) -> np.ndarray:
        """Which patients reached the end, shape ``(B,)``."""
        return self.status == SolverStatus.OK

    def error(self, j: int, compiled: CompiledModel, where: str = "") -> SolverError | None:
        """The named error of patient ``j``'s failed solve (``None`` if it succeeded)."""
        status = SolverStatus(int(self.status[j]))
        if status == SolverStatus.OK:
            return None
        if self.errors and self.errors[j] is not None:
            return self.errors[j]
        name = compiled.model_name
        t = float(self.t_reached[j])
        msg = self.messages[j]
        if status == SolverStatus.NEGATIVE_STATE:
            i = int(self.bad_state[j])
            state = compiled.state_names[i] if i >= 0 else "?"
            return NegativeStateError(
                f"state {state!r} of model {name!r}{where} fell below zero by more than {NEGATIVE_SLACK:g} x its "
                "error tolerance (atol + rtol x its largest value in the segment); tighten rtol/atol or check "
                "the rates", t=t, solver_message=msg, state_index=i,
            )
        text = {
            SolverStatus.STEP_SIZE_UNDERFLOW: "failed: step size underflow (the solution may blow up or the "
                                              "problem is very stiff; try method='LSODA')",
            SolverStatus.TOO_MANY_STEPS: "failed: maximum number of steps exceeded (the problem may be stiff; "
                                         "try method='LSODA', loosen rtol or raise max_steps)",
            SolverStatus.NON_FINITE: "produced non-finite values",
            SolverStatus.STIFF: "stopped: the problem became stiff",
            SolverStatus.FAILED: "failed",
            SolverStatus.TOO_MANY_SWITCHES: "stopped: adaptive rules switched too often (chattering; widen the gap "
                                            "between pause_below and resume_at)",
            SolverStatus.TIME_BUDGET: "stopped: the wall-time budget (max_seconds) ran out",
            SolverStatus.UNSUPPORTED: "was refused by the engine",
        }[status]
        i = int(self.bad_state[j])
        if status == SolverStatus.NON_FINITE and i >= 0:
            text += (f" (state {compiled.state_names[i]!r}: the solution blows up, or a rate is undefined at the "
                     "states reached, e.g. x/0 or 0*inf at a state of 0)")
        return SolverError(f"integration of model {name!r}{where} {text}", t=t, solver_message=msg, status=status,
                           state_index=i)

    def raise_first_failure(self, compiled: CompiledModel, where: Any = None) -> None:
        """Raise the error of the first failed patient, if any.

        ``where(j)`` gives the text naming patient ``j`` in the message (e.g. ``" (params row 3)"``).
        """
        if not self.status.any():  # SolverStatus.OK is 0: every patient solved (the common case, checked fast)
            return
        bad = np.flatnonzero(self.status != int(SolverStatus.OK))
        if bad.size:
            j = int(bad[0])
            err = self.error(j, compiled, where(j) if where is not None else "")
            assert err is not None
            raise err

    @staticmethod
    def merge(base: Solution, rows: np.ndarray, other: Solution) -> Solution:
        """``base`` with the patients ``rows`` replaced by ``other``'s answers (a fallback's)."""
        y = np.array(base.y)
        y[rows] = other.y
        arrays = {}
        for name in ("status", "t_reached", "bad_state", "nfev", "njev", "nlu"):
            a = np.array(getattr(base, name))
            a[rows] = getattr(other, name)
            arrays[name] = a
        messages = list(base.messages)
        methods = list(base.methods)
        errors = list(base.errors) if base.errors else [None] * len(messages)
        for k, j in enumerate(rows.tolist()):
            messages[j] = other.messages[k]
            methods[j] = other.methods[k]
            errors[j] = other.errors[k] if other.errors else None
        return Solution(base.t, y, base.u, arrays["status"], arrays["t_reached"], arrays["bad_state"],
                        tuple(messages), arrays["nfev"], arrays["njev"], arrays["nlu"], tuple(methods),
                        base.n_segments, base.n_doses_applied, tuple(errors),
                        None if base.rules is None or other.rules is None
                        else RuleLog.merge(base.rules, rows, other.rules))


class Engine(Protocol):
    """An integrator of :class:`Problem` s.

    Contract: ``solve`` integrates every patient exactly at every dose of the plan (a bolus at a
    breakpoint is applied once, before the outputs at that time), reads non-negative states clipped
    at zero and reports an undershoot beyond the :data:`~tumordyn.numerics._negative.NEGATIVE_SLACK` band as
    :attr:`SolverStatus.NEGATIVE_STATE`, reports every failure as a status with the time reached
    (it never raises for a failed solve, never hangs: every loop has a bound), and fills a failed
    patient's rows of ``y`` with NaN.
    """

    name: str

    def solve(self, problem: Problem, options: SolverOptions, *, detect_stiff: bool = False) -> Solution:
        """Integrate ``problem``; see the class docstring for the contract."""
        ...




def unsupported(problem: Problem, method: str, message: str) -> Solution:
    """Every patient of ``problem`` refused with status :attr:`~tumordyn.errors.SolverStatus.UNSUPPORTED`.

    What an engine returns for a problem it cannot integrate faithfully (e.g. model events on the compiled
    engine): no numbers, a status the dispatcher falls back on (``method="auto"``) and ``message`` naming
    the construct and what to use instead.
    """
    B = problem.n_patients
    te = problem.t_eval
    return Solution(te, np.full((B, te.size, problem.compiled.n_states), np.nan), problem.plan.rates_at(te),
                    np.full(B, int(SolverStatus.UNSUPPORTED), dtype=np.int64), np.full(B, problem.plan.t0),
                    np.full(B, -1, dtype=np.int64), (message,) * B, np.zeros(B, dtype=np.int64),
                    np.zeros(B, dtype=np.int64), np.zeros(B, dtype=np.int64), (method,) * B,
                    problem.plan.n_segments, problem.plan.n_doses)
