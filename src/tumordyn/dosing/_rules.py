"""State-dependent dosing rules (adaptive on/off therapy) and the regimens that carry them.

An :class:`AdaptiveRule` gates one drug's dosing on a measured quantity: the drug is
given per its on-treatment dosing while the rule is *on*; the rule switches *off*
when the observable falls below ``pause_below × baseline`` and *on* again when it
climbs back to ``resume_at × baseline`` (Zhang et al. 2017, Nat Commun 8:1816).

The switch times are found by the ODE solver's event location (scipy ``solve_ivp``
``events``, terminal, with a direction): the integration segment ends exactly at the
crossing, the rule toggles, and integration continues. A :class:`Regimen` is a fixed
:class:`~tumordyn.Schedule` plus a tuple of rules; ``schedule + rule`` builds one.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from ._schedule import Dose, Infusion, Schedule
from ..errors import SolverError, SpecificationError, UnknownNameError

if TYPE_CHECKING:  # pragma: no cover
    from ..numerics import CompiledModel
    from ..spec import Model
    from ..solve import SolverOptions

__all__ = ["AdaptiveRule", "Regimen", "RuleEvent", "as_regimen"]

#: Most rule switches in one simulation before it is stopped as chattering.
_MAX_SWITCHES = 10_000


def _number(value: object, what: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a real number, got {value!r} of type {type(value).__name__}")
    x = float(value)
    if not math.isfinite(x):
        raise SpecificationError(f"{what} must be finite, got {x!r}")
    return x


@dataclass(frozen=True)
class RuleEvent:
    """One switch of an adaptive rule, as recorded on ``Trajectory.events``.

    Attributes
    ----------
    time : float
        When the rule switched (days), located by the solver's event finder.
    drug : str
        The drug the rule gates.
    action : str
        ``"pause"`` (the drug is stopped) or ``"resume"`` (the drug is restarted).
    observable : str
        The quantity the rule watches.
    value : float
        The observable's value at the switch (its unit).
    threshold : float
        The threshold crossed: ``pause_below × baseline`` or ``resume_at × baseline``
        (the observable's unit).
    """

    time: float
    drug: str
    action: str
    observable: str
    value: float
    threshold: float


@dataclass(frozen=True)
class AdaptiveRule:
    """Adaptive on/off dosing of one drug, switched by a measured quantity.

    While the rule is *on* the drug is given per ``on`` (the doses of a template
    schedule that fall in an on-period, or a constant infusion rate); while it is
    *off* none of it is given. The rule pauses when ``observable`` falls below
    ``pause_below × baseline`` and resumes when it climbs back to
    ``resume_at × baseline`` (hysteresis: ``pause_below < resume_at``). Zhang et al.
    (2017) paused abiraterone at 50% of the pre-treatment PSA and resumed at 100%,
    which are the defaults.

    Parameters
    ----------
    drug : str
        The drug the rule gates.
    on : Schedule or float
        The on-treatment dosing. A :class:`~tumordyn.Schedule` of ``drug`` only is a
        template covering the whole horizon (e.g. ``Schedule.every(drug, 100, 1,
        until=365)``): a dose in it is applied only if the rule is on at its time,
        and infusions are clipped to the on-periods. A number is a constant infusion
        rate (amount/day; for a direct-input drug such as Zhang's abiraterone, the
        drug level, e.g. ``1.0``) in force whenever the rule is on.
    observable : str
        State or observable name the rule watches (default ``"tumor_burden"``).
    pause_below : float
        Pause when the observable falls below this fraction of the baseline; in
        (0, ``resume_at``). Default 0.5.
    resume_at : float
        Resume when it climbs back to this fraction of the baseline; ``> pause_below``.
        Default 1.0.
    baseline : float, optional
        Reference value of the observable (its unit), ``> 0``. Default: its value
        at the start of the simulation (before any dose then).
    start_on : bool
        Whether the rule starts on (default ``True``). At each breakpoint the state
        is checked: a rule that is on while the observable is already below the
        pause threshold is paused there, and vice versa.

    Raises
    ------
    SpecificationError
        If the thresholds are out of range, the baseline is not positive, or the
        template schedule gives another drug.
    TypeError
        For arguments of the wrong type.

    Examples
    --------
    >>> import tumordyn as td
    >>> rule = td.AdaptiveRule("abiraterone", on=1.0, observable="PSA")
    >>> rule.pause_below, rule.resume_at
    (0.5, 1.0)
    >>> regimen = td.Schedule() + rule
    >>> regimen.rules == (rule,)
    True
    """

    drug: str
    on: Union[Schedule, float]
    observable: str = "tumor_burden"
    pause_below: float = 0.5
    resume_at: float = 1.0
    baseline: float | None = None
    start_on: bool = True

    def __post_init__(self) -> None:
        """Validate the fields."""
        if not isinstance(self.drug, str) or not self.drug.isidentifier():
            raise TypeError(f"AdaptiveRule: drug must be a drug name (identifier-like str), got {self.drug!r}")
        ctx = f"AdaptiveRule for {self.drug!r}"
        if isinstance(self.on, Schedule):
            other = sorted(self.on.drugs - {self.drug})
            if other:
                raise SpecificationError(
                    f"{ctx}: the on-treatment schedule gives {', '.join(map(repr, other))}; "
                    f"it may only give {self.drug!r} (put other drugs in the fixed schedule)"
                )
            if not self.on:
                raise SpecificationError(f"{ctx}: the on-treatment schedule is empty; give doses or an infusion rate")
        else:
            rate = _number(self.on, f"{ctx}: on (an infusion rate, amount/day)")
            if rate <= 0:
                raise SpecificationError(f"{ctx}: on (an infusion rate, amount/day) must be > 0, got {rate!r}")
            object.__setattr__(self, "on", rate)
        if not isinstance(self.observable, str):
            raise TypeError(f"{ctx}: observable must be a state or observable name (str), got {self.observable!r}")
        pause = _number(self.pause_below, f"{ctx}: pause_below")
        resume = _number(self.resume_at, f"{ctx}: resume_at")
        if not 0 < pause < resume:
            raise SpecificationError(
                f"{ctx}: need 0 < pause_below < resume_at (fractions of the baseline), "
                f"got pause_below={pause:g}, resume_at={resume:g}"
            )
        object.__setattr__(self, "pause_below", pause)
        object.__setattr__(self, "resume_at", resume)
        if self.baseline is not None:
            b = _number(self.baseline, f"{ctx}: baseline")
            if b <= 0:
                raise SpecificationError(f"{ctx}: baseline must be > 0 (the observable's unit), got {b:g}")
            object.__setattr__(self, "baseline", b)
        if not isinstance(self.start_on, (bool, np.bool_)):
            raise TypeError(f"{ctx}: start_on must be True or False, got {self.start_on!r}")
        object.__setattr__(self, "start_on", bool(self.start_on))

    def __add__(self, other: object) -> Regimen:
        """Combine with a schedule, a dose, another rule or a regimen into a :class:`Regimen`."""
        if isinstance(other, (Schedule, Dose, Infusion, AdaptiveRule, Regimen)):
            return Regimen(rules=(self,)) + other
        return NotImplemented

    def __radd__(self, other: object) -> Regimen:
        """Support ``schedule + rule``."""
        if isinstance(other, (Schedule, Dose, Infusion)):
            return Regimen(Schedule(other), (self,))
        if isinstance(other, numbers.Integral) and not isinstance(other, bool) and other == 0:
            return Regimen(rules=(self,))
        return NotImplemented

    def template(self, t0: float, t_end: float) -> Schedule:
        """The on-treatment dosing over ``[t0, t_end]`` as if the rule were always on.

        Parameters
        ----------
        t0, t_end : float
            Simulation window (days).

        Returns
        -------
        Schedule
            The template's items in the window (a constant rate becomes one infusion).
        """
        if isinstance(self.on, Schedule):
            inside = self.on.between(t0, math.inf)
            doses = [d for d in inside.doses if d.time <= t_end]
            infs = [i if i.end <= t_end else Infusion(i.drug, i.start, t_end, i.rate)
                    for i in inside.infusions if i.start < t_end]
            return Schedule(doses=doses, infusions=infs)
        return Schedule.infusion(self.drug, float(self.on), t0, t_end)


@dataclass(frozen=True)
class Regimen:
    """A fixed schedule plus state-dependent dosing rules: what :func:`~tumordyn.simulate` runs.

    Parameters
    ----------
    schedule : Schedule
        Doses and infusions given whatever happens (default: none).
    rules : tuple of AdaptiveRule
        Rules gating other dosing (at most one rule per drug). Doses of a ruled drug
        that are in ``schedule`` are given unconditionally.

    Examples
    --------
    >>> import tumordyn as td
    >>> fixed = td.Schedule.every("anti_pd1", 200, 21, until=360)
    >>> rule = td.AdaptiveRule("targeted", td.Schedule.every("targeted", 100, 7, until=360))
    >>> reg = fixed + rule
    >>> reg.schedule == fixed, len(reg.rules)
    (True, 1)
    >>> sorted(reg.drugs)
    ['anti_pd1', 'targeted']
    """

    schedule: Schedule = field(default_factory=Schedule)
    rules: tuple[AdaptiveRule, ...] = ()

    def __post_init__(self) -> None:
        """Validate the fields."""
        if not isinstance(self.schedule, Schedule):
            raise TypeError(f"Regimen: schedule must be a Schedule, got {type(self.schedule).__name__}")
        rules = self.rules
        if isinstance(rules, AdaptiveRule):
            rules = (rules,)
        if not isinstance(rules, Iterable):
            raise TypeError(f"Regimen: rules must be a tuple of AdaptiveRule, got {type(rules).__name__}")
        rules = tuple(rules)
        seen: set[str] = set()
        for i, r in enumerate(rules):
            if not isinstance(r, AdaptiveRule):
                raise TypeError(f"Regimen: rules[{i}] must be an AdaptiveRule, got {type(r).__name__}")
            if r.drug in seen:
                raise SpecificationError(
                    f"Regimen: two rules gate drug {r.drug!r}; combine them into one rule per drug"
                )
            seen.add(r.drug)
        object.__setattr__(self, "rules", rules)

    @property
    def drugs(self) -> frozenset[str]:
        """Names of every drug the regimen may give."""
        return self.schedule.drugs | frozenset(r.drug for r in self.rules)

    def __add__(self, other: object) -> Regimen:
        """Merge with a schedule, dose, infusion, rule or regimen."""
        if isinstance(other, (Schedule, Dose, Infusion)):
            return Regimen(self.schedule + other, self.rules)
        if isinstance(other, AdaptiveRule):
            return Regimen(self.schedule, self.rules + (other,))
        if isinstance(other, Regimen):
            return Regimen(self.schedule + other.schedule, self.rules + other.rules)
        return NotImplemented

    def __radd__(self, other: object) -> Regimen:
        """Support ``schedule + regimen``."""
        if isinstance(other, (Schedule, Dose, Infusion)):
            return Regimen(Schedule(other) + self.schedule, self.rules)
        if isinstance(other, numbers.Integral) and not isinstance(other, bool) and other == 0:
            return self
        return NotImplemented

    def validate(self, model: Model, t_end: float, t0: float = 0.0, where: str | None = None) -> None:
        """Check the drugs, times and observables against a model and a window.

        Raises
        ------
        UnknownNameError
            For a drug or observable the model lacks.
        SpecificationError
            For a dose outside ``[t0, t_end]``.
        """
        where = where or f"model {model.name!r}"
        self.schedule.validate(model.drugs.names, t_end=t_end, t0=t0, where=where)
        watchable = model.states.names + model.observables.names
        for r in self.rules:
            if r.drug not in model.drugs.names:
                raise UnknownNameError("drug", r.drug, model.drugs.names, f"{where} (adaptive rule)")
            if r.observable not in watchable:
                raise UnknownNameError(
                    "state or observable", r.observable, watchable, f"{where} (adaptive rule for {r.drug!r})"
                )
            direct = model.drugs[r.drug].compartment is None
            tmpl = r.template(t0, t_end)
            if direct and tmpl.doses:
                raise SpecificationError(
                    f"{where}: drug {r.drug!r} is a direct-input drug (no compartment): its adaptive rule needs "
                    "an infusion rate (on=<rate>) or infusions, not bolus doses"
                )


RegimenLike = Union[Schedule, Regimen, AdaptiveRule, Dose, Infusion, None]


def as_regimen(value: Any, what: str = "schedule") -> Regimen:
    """Turn a schedule, rule, dose, infusion or ``None`` into a :class:`Regimen`."""
    if value is None:
        return Regimen()
    if isinstance(value, Regimen):
        return value
    if isinstance(value, (Schedule, Dose, Infusion)):
        return Regimen(Schedule(value))
    if isinstance(value, AdaptiveRule):
        return Regimen(rules=(value,))
    raise TypeError(
        f"`{what}` must be a Schedule, a Regimen, an AdaptiveRule or None, got {type(value).__name__}"
    )


# --------------------------------------------------------------------------- event-driven integration


def _watch(compiled: CompiledModel, name: str) -> tuple[str, int]:
    if name in compiled.state_names:
        return "state", compiled.state_names.index(name)
    return "obs", compiled.observable_names.index(name)


def _value(compiled: CompiledModel, kind: str, idx: int, t: float, y: np.ndarray, p: np.ndarray,
           u: np.ndarray) -> float:
    if kind == "state":
        return float(y[idx])
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.asarray(compiled.observe(t, y, p, u), dtype=float).reshape(-1)[idx])


def integrate_with_rules(
    compiled: CompiledModel,
    regimen: Regimen,
    p: np.ndarray,
    y0: np.ndarray,
    t_eval: np.ndarray,
    t0: float,
    t_end: float,
    opts: SolverOptions,
) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int, int], Schedule, tuple[RuleEvent, ...]]:
    """Integrate under a fixed schedule plus adaptive rules, switching rules at located events.

    Returns
    -------
    ys, us : numpy.ndarray
        States and infusion rates at ``t_eval`` (as :func:`tumordyn._simulate.integrate`).
    counters : tuple of int
        ``(nfev, njev, nlu, n_segments, n_doses_applied)``.
    realised : Schedule
        The doses and infusions actually given.
    events : tuple of RuleEvent
        The rule switches, in time order.
    """
    from ..solve import check_segment, euler_step, is_tiny_segment, solve_segment

    fixed = regimen.schedule
    rules = regimen.rules
    drug_index = {d: i for i, d in enumerate(compiled.drug_names)}
    templates = [r.template(t0, t_end) for r in rules]
    watch = [_watch(compiled, r.observable) for r in rules]
    cand = np.unique(np.concatenate([fixed.breakpoints(t0, t_end)] + [s.breakpoints(t0, t_end) for s in templates]))
    u_zero = np.zeros(compiled.n_drugs)
    baselines = []
    for r, (kind, idx) in zip(rules, watch):
        b = r.baseline if r.baseline is not None else _value(compiled, kind, idx, t0, y0, p, u_zero)
        if not (math.isfinite(b) and b > 0):
            raise SpecificationError(
                f"adaptive rule for {r.drug!r}: the baseline of {r.observable!r} at t0={t0:g} days is {b:g}; "
                "it must be > 0 (give baseline=...)"
            )
        baselines.append(b)
    on = [r.start_on for r in rules]

    ys = np.empty((t_eval.size, compiled.n_states))
    us = np.zeros((t_eval.size, compiled.n_drugs))
    y = y0.astype(float).copy()
    nonneg = compiled.nonnegative
    atol = opts.atol
    nfev = njev = nlu = nseg = ndoses = 0
    given: list[Dose] = []
    pieces: list[Infusion] = []
    events: list[RuleEvent] = []
    k = 0
    tc = float(t0)
    at_breakpoint = True
    while True:
        u = np.zeros(compiled.n_drugs)
        # 1. rules consistent with the current state (checked before any dose now)
        for j, r in enumerate(rules):
            kind, idx = watch[j]
            v = _value(compiled, kind, idx, tc, y, p, u)
            if on[j] and v < r.pause_below * baselines[j]:
                on[j] = False
                events.append(RuleEvent(tc, r.drug, "pause", r.observable, v, r.pause_below * baselines[j]))
            elif not on[j] and v >= r.resume_at * baselines[j]:
                on[j] = True
                events.append(RuleEvent(tc, r.drug, "resume", r.observable, v, r.resume_at * baselines[j]))
        # 2. bolus doses due now (fixed ones at breakpoints; gated ones while on)
        if at_breakpoint:
            due: dict[str, float] = {}
            for drug, amount in fixed.bolus_at(tc).items():
                due[drug] = due.get(drug, 0.0) + amount
            given.extend(d for d in fixed.doses if d.time == tc and d.amount > 0)
            for j, s in enumerate(templates):
                if on[j]:
                    for drug, amount in s.bolus_at(tc).items():
                        due[drug] = due.get(drug, 0.0) + amount
                    given.extend(d for d in s.doses if d.time == tc and d.amount > 0)
            for drug, amount in due.items():
                comp, inc = compiled.dose_jump(drug_index[drug], amount, p)
                if comp >= 0:
                    y[comp] += inc
            ndoses = len(given)
        # 3. infusion rates until the next breakpoint
        for drug, rate in fixed.infusion_rates(tc).items():
            u[drug_index[drug]] += rate
        for j, s in enumerate(templates):
            if on[j]:
                for drug, rate in s.infusion_rates(tc).items():
                    u[drug_index[drug]] += rate
        nxt = int(np.searchsorted(cand, tc, side="right"))
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
            for drug_i in np.flatnonzero(u > 0):
                pieces.append(Infusion(compiled.drug_names[drug_i], tc, t_next, float(u[drug_i])))
            nseg += 1
            nfev += 1
            k = k_end
            at_breakpoint = True
            tc = t_next
            continue
        # 4. integrate to the next breakpoint, stopping at the first rule switch
        ev_funcs = []
        for j, r in enumerate(rules):
            kind, idx = watch[j]
            thr = (r.pause_below if on[j] else r.resume_at) * baselines[j]

            def g(t: float, yy: np.ndarray, *args: Any, _k: str = kind, _i: int = idx, _thr: float = thr,
                  _u: np.ndarray = u) -> float:
                return _value(compiled, _k, _i, t, yy, p, _u) - _thr

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
        for drug_i in np.flatnonzero(u > 0) if t_stop > tc else ():
            pieces.append(Infusion(compiled.drug_names[drug_i], tc, t_stop, float(u[drug_i])))
        if fired is not None:
            r = rules[fired]
            kind, idx = watch[fired]
            thr = (r.pause_below if on[fired] else r.resume_at) * baselines[fired]
            events.append(RuleEvent(t_stop, r.drug, "pause" if on[fired] else "resume", r.observable,
                                    _value(compiled, kind, idx, t_stop, y, p, u), thr))
            on[fired] = not on[fired]
            if len(events) > _MAX_SWITCHES:
                raise SolverError(
                    f"adaptive rule for {r.drug!r} switched more than {_MAX_SWITCHES} times by t = {t_stop:g} days "
                    "(chattering); widen the gap between pause_below and resume_at",
                    t=t_stop,
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
    realised = Schedule(doses=given, infusions=_merge(pieces))
    return ys, us, (nfev, njev, nlu, nseg, ndoses), realised, tuple(events)


def _merge(pieces: list[Infusion]) -> list[Infusion]:
    """Join back-to-back pieces of one drug at one rate into single infusions."""
    out: list[Infusion] = []
    last: dict[str, int] = {}
    for inf in sorted(pieces, key=lambda i: (i.start, i.drug)):
        j = last.get(inf.drug)
        if j is not None and out[j].end == inf.start and out[j].rate == inf.rate:
            out[j] = Infusion(inf.drug, out[j].start, inf.end, inf.rate)
        else:
            last[inf.drug] = len(out)
            out.append(inf)
    return out


