"""A schedule (and a regimen's adaptive rules) turned once into the array form every engine consumes.

:class:`DosingPlan` is the immutable dosing of one simulation window: the breakpoints (dose times,
infusion starts and ends, ``t0`` and ``t_end``), the summed bolus amount of each drug due at each
breakpoint, and the infusion rates in force from each breakpoint to the next. No engine reads a
:class:`~tumordyn.Schedule` while it integrates; each reads a plan, so all of them apply the same
doses and count them by one rule (a dose of amount 0 is no dose).

:class:`RulePlan` adds the adaptive rules of a :class:`~tumordyn.Regimen` in array form: per rule the
gated drug, the watched state or observable, the pause/resume fractions, the baseline, ``start_on``
and the rule's template doses and infusion rates on the breakpoints of the fixed plan. The compiled
engine and the scipy rules path both read it; neither re-reads a rule object while integrating.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ._schedule import Schedule
from ..errors import SpecificationError

if TYPE_CHECKING:
    from ..numerics import CompiledModel

__all__ = ["DosingPlan", "RulePlan", "check_no_direct_bolus", "check_schedule"]


@dataclass(frozen=True, eq=False)
class DosingPlan:
    """The dosing of one simulation window as read-only arrays.

    Attributes
    ----------
    t0, t_end : float
        The window (days).
    drug_names : tuple of str
        Drug order of the columns of ``bolus`` and ``rates``.
    breaks : numpy.ndarray
        Breakpoints, shape ``(n_b,)``, strictly increasing, first ``t0`` and last ``t_end`` (days).
    bolus : numpy.ndarray
        Summed bolus amount per drug due at each breakpoint, shape ``(n_b, n_drugs)`` (dose units).
    rates : numpy.ndarray
        Infusion rate per drug in force from each breakpoint to the next, shape ``(n_b, n_drugs)``
        (dose units per day); infusions are right-open ``[start, end)``.
    n_doses : int
        Bolus doses applied in ``[t0, t_end]`` (amount > 0; a dose at ``t_end`` included; two doses at
        one time count as two).
    """

    t0: float
    t_end: float
    drug_names: tuple[str, ...]
    breaks: np.ndarray
    bolus: np.ndarray
    rates: np.ndarray
    n_doses: int

    @classmethod
    def build(cls, drug_names: tuple[str, ...], schedule: Schedule, t0: float, t_end: float) -> DosingPlan:
        """The plan of ``schedule`` over ``[t0, t_end]`` days for a model with drugs ``drug_names``.

        Memoised on the (immutable, hashable) schedule and window: a schedule shared by many solves is
        turned into arrays once.

        Parameters
        ----------
        drug_names : tuple of str
            The model's drugs (``compile_model(model).drug_names``).
        schedule : Schedule
            Doses and infusions, already validated against the model (:func:`check_schedule`).
        t0, t_end : float
            The window (days), ``t0 <= t_end``.

        Returns
        -------
        DosingPlan
        """
        return _build(tuple(drug_names), schedule, float(t0), float(t_end))

    @property
    def n_segments(self) -> int:
        """Number of integration segments (between consecutive breakpoints)."""
        return max(0, self.breaks.size - 1)

    def rates_at(self, times: np.ndarray) -> np.ndarray:
        """Infusion rates in force at ``times`` (right-continuous), shape ``(len(times), n_drugs)``."""
        inner = self._inner_breaks
        if inner is None:  # no infusion in the window
            return np.zeros(np.shape(times) + (self.rates.shape[1],))
        # the number of breakpoints after the first that are <= t: the row in force, 0 before t0
        return self.rates.take(np.searchsorted(inner, times, side="right"), axis=0)

    @functools.cached_property
    def _inner_breaks(self) -> np.ndarray | None:
        """The breakpoints after the first (for :meth:`rates_at`); ``None`` if every rate is 0."""
        return self.breaks[1:] if self.rates.any() else None


@functools.lru_cache(maxsize=256)
def _build(drug_names: tuple[str, ...], schedule: Schedule, t0: float, t_end: float) -> DosingPlan:
    breaks = np.ascontiguousarray(schedule.breakpoints(t0, t_end), dtype=float)
    return _on_breaks(drug_names, schedule, t0, t_end, breaks)


def _on_breaks(drug_names: tuple[str, ...], schedule: Schedule, t0: float, t_end: float,
               breaks: np.ndarray) -> DosingPlan:
    """The plan of ``schedule`` on given breakpoints (a superset of the schedule's own)."""
    n_drugs = len(drug_names)
    drug_index = {d: i for i, d in enumerate(drug_names)}
    bolus = np.zeros((breaks.size, n_drugs))
    rates = np.zeros((breaks.size, n_drugs))
    doses = [d for d in schedule.doses if d.amount > 0 and t0 <= d.time <= t_end]
    if doses:
        rows = np.searchsorted(breaks, np.array([d.time for d in doses], dtype=float))
        cols = np.array([drug_index[d.drug] for d in doses], dtype=np.int64)
        np.add.at(bolus, (rows, cols), np.array([d.amount for d in doses], dtype=float))
    for inf in schedule.infusions:
        if inf.rate > 0:
            on = (breaks >= inf.start) & (breaks < inf.end)
            rates[on, drug_index[inf.drug]] += inf.rate
    for arr in (breaks, bolus, rates):
        arr.flags.writeable = False
    return DosingPlan(t0, t_end, drug_names, breaks, bolus, rates, len(doses))


@dataclass(frozen=True, eq=False)
class RulePlan:
    """The adaptive rules of a regimen as read-only arrays, on the breakpoints of its fixed dosing.

    Built once per (model structure, regimen, window) by :meth:`build` (memoised). Rule ``j`` gates
    drug ``drug[j]``; it watches state ``state[j]`` (or, if that is -1, observable ``obs[j]``); it
    pauses when the watched value falls below ``pause[j] × baseline`` and resumes when it climbs back
    to ``resume[j] × baseline``.

    Attributes
    ----------
    regimen : Regimen
        The regimen the plan was built from (for names in messages and the realised schedule only).
    dosing : DosingPlan
        The fixed schedule on the union of its own and the rules' template breakpoints (days).
    drug : numpy.ndarray
        Gated drug index per rule (into ``dosing.drug_names``), shape ``(n_rules,)``.
    state, obs : numpy.ndarray
        Watched state index, or -1; watched observable index, or -1; shape ``(n_rules,)``.
    pause, resume : numpy.ndarray
        Pause and resume fractions of the baseline (dimensionless), shape ``(n_rules,)``.
    baseline : numpy.ndarray
        Baseline of the watched quantity (its unit); NaN means "its value at ``t0``, before any dose",
        computed per patient (:meth:`baselines`).
    start_on : numpy.ndarray
        Whether each rule starts on (bool), shape ``(n_rules,)``.
    bolus : numpy.ndarray
        Template bolus amount of the rule's drug due at each breakpoint, shape ``(n_b, n_rules)``
        (dose units); given only if the rule is on at that breakpoint.
    n_bolus : numpy.ndarray
        Number of template doses (amount > 0) at each breakpoint, shape ``(n_b, n_rules)``.
    rates : numpy.ndarray
        Template infusion rate of the rule's drug in force from each breakpoint to the next, shape
        ``(n_b, n_rules)`` (dose units per day); it contributes only while the rule is on.
    templates : tuple of Schedule
        Each rule's template over the window (to list the doses actually given).
    """

    regimen: Any
    dosing: DosingPlan
    drug: np.ndarray
    state: np.ndarray
    obs: np.ndarray
    pause: np.ndarray
    resume: np.ndarray
    baseline: np.ndarray
    start_on: np.ndarray
    bolus: np.ndarray
    n_bolus: np.ndarray
    rates: np.ndarray
    templates: tuple[Schedule, ...]

    @classmethod
    def build(cls, compiled: CompiledModel, regimen: Any, t0: float, t_end: float) -> RulePlan:
        """The rule plan of ``regimen`` (validated against the model) over ``[t0, t_end]`` days."""
        return _build_rules(tuple(compiled.drug_names), tuple(compiled.state_names),
                            tuple(compiled.observable_names), regimen, float(t0), float(t_end))

    @property
    def n_rules(self) -> int:
        """Number of rules."""
        return int(self.drug.size)

    @property
    def watches_observable(self) -> bool:
        """Whether some rule watches an observable (not a state)."""
        return bool(np.any(self.state < 0))

    def baselines(self, compiled: CompiledModel, params: np.ndarray, y0: np.ndarray) -> np.ndarray:
        """Each patient's rule baselines, shape ``(B, n_rules)`` (the watched quantity's unit).

        A rule without an explicit baseline takes the watched value at ``t0`` before any dose.

        Raises
        ------
        SpecificationError
            If a baseline is not finite and > 0.
        """
        params = np.atleast_2d(params)
        y0 = np.atleast_2d(y0)
        B = y0.shape[0]
        out = np.empty((B, self.n_rules))
        obs_vals = None
        for j in range(self.n_rules):
            if not np.isnan(self.baseline[j]):
                out[:, j] = self.baseline[j]
            elif self.state[j] >= 0:
                out[:, j] = y0[:, self.state[j]]
            else:
                if obs_vals is None:
                    with np.errstate(divide="ignore", invalid="ignore"):
                        obs_vals = np.asarray(compiled.observe(self.dosing.t0, y0.T, params.T,
                                                               np.zeros(compiled.n_drugs)), dtype=float)
                    obs_vals = obs_vals.reshape(len(compiled.observable_names), B)
                out[:, j] = obs_vals[self.obs[j]]
        bad = ~(np.isfinite(out) & (out > 0))
        if np.any(bad):
            i, j = (int(v) for v in np.argwhere(bad)[0])
            r = self.regimen.rules[j]
            raise SpecificationError(
                f"adaptive rule for {r.drug!r}: the baseline of {r.observable!r} at t0={self.dosing.t0:g} days is "
                f"{out[i, j]:g}{f' (patient {i})' if B > 1 else ''}; it must be > 0 (give baseline=...)"
            )
        return out

    def realised(self, given: np.ndarray, event_times: np.ndarray, event_rules: np.ndarray) -> Schedule:
        """The doses and infusions one patient actually received.

        Parameters
        ----------
        given : numpy.ndarray
            Whether rule ``j``'s template doses at breakpoint ``b`` were given, shape ``(n_b, n_rules)``.
        event_times, event_rules : numpy.ndarray
            The patient's rule switches in time order: time (days) and rule index.

        Returns
        -------
        Schedule
            The fixed schedule's doses in the window, the gated doses given, and the infusions split at
            every switch and breakpoint then joined back (adjacent pieces at one rate become one).
        """
        from ._schedule import Infusion

        plan = self.dosing
        breaks = plan.breaks
        sched = self.regimen.schedule
        doses = [d for d in sched.doses if d.amount > 0 and plan.t0 <= d.time <= plan.t_end]
        rows = {float(t): b for b, t in enumerate(breaks.tolist())}
        for j, tmpl in enumerate(self.templates):
            doses.extend(d for d in tmpl.doses if d.amount > 0 and given[rows[float(d.time)], j])
        doses.sort(key=lambda d: d.time)  # stable: the fixed doses first at one time, as given
        # infusion pieces: between consecutive stops (breakpoints and switches), the rates in force
        stops = np.unique(np.concatenate([breaks, np.asarray(event_times, dtype=float)]))
        on = self.start_on.copy()
        ev = 0
        n_ev = len(event_times)
        pieces: list[Infusion] = []
        for a, b_ in zip(stops[:-1].tolist(), stops[1:].tolist()):
            while ev < n_ev and event_times[ev] <= a:
                on[event_rules[ev]] = not on[event_rules[ev]]
                ev += 1
            row = int(np.searchsorted(breaks, a, side="right")) - 1
            u = plan.rates[row].copy()
            for j in range(self.n_rules):
                if on[j]:
                    u[self.drug[j]] += self.rates[row, j]
            for d in np.flatnonzero(u > 0).tolist():
                pieces.append(Infusion(plan.drug_names[d], a, b_, float(u[d])))
        return Schedule(doses=doses, infusions=_merge(pieces))


def _merge(pieces: list[Any]) -> list[Any]:
    """Join back-to-back pieces of one drug at one rate into single infusions."""
    from ._schedule import Infusion

    out: list[Any] = []
    last: dict[str, int] = {}
    for inf in sorted(pieces, key=lambda i: (i.start, i.drug)):
        j = last.get(inf.drug)
        if j is not None and out[j].end == inf.start and out[j].rate == inf.rate:
            out[j] = Infusion(inf.drug, out[j].start, inf.end, inf.rate)
        else:
            last[inf.drug] = len(out)
            out.append(inf)
    return out


@functools.lru_cache(maxsize=64)
def _build_rules(drug_names: tuple[str, ...], state_names: tuple[str, ...], obs_names: tuple[str, ...],
                 regimen: Any, t0: float, t_end: float) -> RulePlan:
    rules = regimen.rules
    templates = tuple(r.template(t0, t_end) for r in rules)
    breaks = np.unique(np.concatenate([regimen.schedule.breakpoints(t0, t_end)]
                                      + [s.breakpoints(t0, t_end) for s in templates]))
    breaks = np.ascontiguousarray(breaks, dtype=float)
    dosing = _on_breaks(drug_names, regimen.schedule, t0, t_end, breaks)
    n_r, n_b = len(rules), breaks.size
    drug = np.array([drug_names.index(r.drug) for r in rules], dtype=np.int64)
    state = np.array([state_names.index(r.observable) if r.observable in state_names else -1 for r in rules],
                     dtype=np.int64)
    obs = np.array([obs_names.index(r.observable) if s < 0 else -1 for r, s in zip(rules, state)],
                   dtype=np.int64)
    bolus = np.zeros((n_b, n_r))
    n_bolus = np.zeros((n_b, n_r), dtype=np.int64)
    rates = np.zeros((n_b, n_r))
    for j, tmpl in enumerate(templates):
        for d in tmpl.doses:
            if d.unit is not None:
                raise SpecificationError(
                    f"adaptive rule for {d.drug!r}: the {d._describe()} is in {d.unit!r}, not yet in the drug's dose "
                    "unit; pass covariates= to simulate, or give the rule a schedule in the drug's dose unit")
            if d.amount > 0 and t0 <= d.time <= t_end:
                b = int(np.searchsorted(breaks, d.time))
                bolus[b, j] += d.amount
                n_bolus[b, j] += 1
        for inf in tmpl.infusions:
            if inf.unit is not None:
                raise SpecificationError(
                    f"adaptive rule for {inf.drug!r}: the {inf._describe()} is in {inf.unit!r}, not yet in the "
                    "drug's dose unit; pass covariates= to simulate, or give the rule a schedule in the drug's dose unit")
            if inf.rate > 0:
                rates[(breaks >= inf.start) & (breaks < inf.end), j] += inf.rate
    arrays = {
        "drug": drug, "state": state, "obs": obs,
        "pause": np.array([r.pause_below for r in rules], dtype=float),
        "resume": np.array([r.resume_at for r in rules], dtype=float),
        "baseline": np.array([math.nan if r.baseline is None else r.baseline for r in rules], dtype=float),
        "start_on": np.array([r.start_on for r in rules], dtype=np.bool_),
        "bolus": bolus, "n_bolus": n_bolus, "rates": rates,
    }
    for arr in arrays.values():
        arr.flags.writeable = False
    return RulePlan(regimen, dosing, templates=templates, **arrays)


def check_schedule(compiled: CompiledModel, schedule: Schedule, *, t0: float, t_end: float | None,
                   where: str) -> None:
    """Check a schedule against a model: known drugs, times within the window, no bolus of a direct-input drug.

    Parameters
    ----------
    compiled : CompiledModel
        ``compile_model(model)``.
    schedule : Schedule
        The doses and infusions.
    t0 : float
        Start of the window (days).
    t_end : float or None
        End of the window (days); ``None`` skips the upper check.
    where : str
        What is checked, for messages (e.g. ``"model 'x'"`` or ``"schedule of subject 'A'"``).

    Raises
    ------
    UnknownNameError
        For a drug the model does not have.
    SpecificationError
        For a dose outside the window, or a bolus dose of a direct-input drug (which takes infusions).
    """
    direct = _direct_drugs(compiled)
    try:  # memoised on the immutable schedule: a schedule shared by many solves is checked once
        _schedule_ok(schedule, compiled.drug_names, direct, t0, t_end)
    except Exception:  # noqa: BLE001 - the check is redone below for the message naming `where`
        pass
    else:
        return
    schedule.validate(compiled.drug_names, t_end=t_end, t0=t0, where=where)
    check_no_direct_bolus(compiled, schedule, where)


def _direct_drugs(compiled: CompiledModel) -> frozenset[str]:
    """The model's direct-input drugs (no compartment), cached on the compiled model."""
    direct = compiled.__dict__.get("_direct_drugs")
    if direct is None:
        direct = frozenset(d for d, comp in zip(compiled.drug_names, compiled.dose_compartment.tolist()) if comp < 0)
        compiled.__dict__["_direct_drugs"] = direct
    return direct


@functools.lru_cache(maxsize=256)
def _schedule_ok(schedule: Schedule, drug_names: tuple[str, ...], direct: frozenset[str], t0: float,
                 t_end: float | None) -> bool:
    """Whether ``schedule`` passes :func:`check_schedule` for these drugs and window; raises if not.

    Only passing checks are cached (an exception is not), so the cache never changes an outcome; the
    caller redoes a failing check with its own ``where`` for the message.
    """
    schedule.validate(drug_names, t_end=t_end, t0=t0, where="schedule")
    if direct and any(d.drug in direct for d in schedule.doses):
        raise SpecificationError("a bolus dose of a direct-input drug")
    return True


def check_no_direct_bolus(compiled: CompiledModel, schedule: Schedule, where: str, hint: str = "") -> None:
    """Refuse a bolus :class:`~tumordyn.Dose` of a direct-input drug (one without a compartment).

    A direct-input drug's level is its infusion rate, so it takes
    :class:`~tumordyn.Infusion` items only. The drugs must already be known to the model.

    Parameters
    ----------
    compiled : CompiledModel
        ``compile_model(model)``.
    schedule : Schedule
        The doses to check.
    where : str
        What is checked, for the message.
    hint : str
        What to give instead, for the message (default: Infusion items).

    Raises
    ------
    SpecificationError
        Naming the drug and the dose time (days).
    """
    direct = _direct_drugs(compiled)
    if not direct:
        return
    for dose in schedule.doses:
        if dose.drug in direct:
            raise SpecificationError(
                f"{where}: drug {dose.drug!r} is a direct-input drug (no compartment): "
                f"{hint or 'it takes Infusion items'}, not the bolus Dose at t = {dose.time} days"
            )
