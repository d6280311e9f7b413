"""State-dependent dosing rules (adaptive on/off therapy) and the regimens that carry them.

An :class:`AdaptiveRule` gates one drug's dosing on a measured quantity: the drug is
given per its on-treatment dosing while the rule is *on*; the rule switches *off*
when the observable falls below ``pause_below × baseline`` and *on* again when it
climbs back to ``resume_at × baseline`` (Zhang et al. 2017, Nat Commun 8:1816).

A regimen is turned once into array form (:class:`~tumordyn.dosing._plan.RulePlan`). The switch
times are located by the integrator: on the compiled Dormand–Prince engine (``method="auto"``
or ``"dopri5"``, :mod:`tumordyn.solve._compiled`) by root finding on each accepted step's dense output;
on the scipy methods by ``solve_ivp`` terminal events with a direction
(``integrate_with_rules`` in :mod:`tumordyn.solve._scipy_engine`). Either way the integration segment ends at the crossing, the
rule toggles, and integration continues. A :class:`Regimen` is a fixed
:class:`~tumordyn.Schedule` plus a tuple of rules; ``schedule + rule`` builds one.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from .._validate import real_number as _number
from ..numerics import compile_model
from ._plan import check_no_direct_bolus
from ._schedule import Dose, Infusion, Schedule
from ..errors import SpecificationError, UnknownNameError

if TYPE_CHECKING:  # pragma: no cover
    from ..spec import Model

__all__ = ["AdaptiveRule", "Regimen", "RuleEvent", "as_regimen"]






@dataclass(frozen=True)
class RuleEvent:
    """One switch of an adaptive rule, as recorded on ``Trajectory.events``.

    Attributes
    ----------
    time : float
        When the rule switched (days): located by root finding on the compiled engine's dense output,
        or by scipy's event finder on the scipy methods; a switch found by the check at a breakpoint
        is at that breakpoint.
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
            infs = [i if i.end <= t_end else Infusion(i.drug, i.start, t_end, i.rate, i.unit)
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

    def resolved(self, model: Model, covariates: Mapping[str, float] | None = None) -> Regimen:
        """The regimen with doses given in a ``unit`` (``"mg/kg"``...) converted to each drug's dose unit.

        See :meth:`Schedule.resolved`; the rules' template schedules are converted too.

        Parameters
        ----------
        model : Model
            The model whose drugs' dose units the doses are converted to.
        covariates : mapping, optional
            The patient's ``weight_kg`` (kg) and/or ``bsa_m2`` (m²).

        Returns
        -------
        Regimen
            A new regimen (this one is unchanged).
        """
        templates = [r.on for r in self.rules if isinstance(r.on, Schedule)]
        if not any(s._has_units() for s in (self.schedule, *templates)):
            return self
        rules = tuple(replace(r, on=r.on.resolved(model, covariates)) if isinstance(r.on, Schedule) else r
                      for r in self.rules)
        return Regimen(self.schedule.resolved(model, covariates), rules)

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
            check_no_direct_bolus(compile_model(model), r.template(t0, t_end), f"{where} (adaptive rule)",
                                  hint="its adaptive rule needs an infusion rate (on=<rate>) or infusions")


RegimenLike = Union[Schedule, Regimen, AdaptiveRule, Dose, Infusion, None]


def as_regimen(value: Any, what: str = "schedule") -> Regimen:
    """Turn a schedule, rule, dose, infusion or ``None`` into a :class:`Regimen`."""
    if value is None:
        return Regimen()
    if isinstance(value, Regimen):
        return value
    if isinstance(value, Schedule):
        return Regimen(value)  # a schedule is immutable: wrapped as it is, not rebuilt
    if isinstance(value, (Dose, Infusion)):
        return Regimen(Schedule(value))
    if isinstance(value, AdaptiveRule):
        return Regimen(rules=(value,))
    raise TypeError(
        f"`{what}` must be a Schedule, a Regimen, an AdaptiveRule or None, got {type(value).__name__}"
    )
