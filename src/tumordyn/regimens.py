"""Regimen builders: monotherapy, combination, sequencing, TME priming, adaptive on/off.

Each builder returns a value :func:`tumordyn.simulate` and :func:`tumordyn.compare`
accept: a :class:`~tumordyn.Schedule` (fixed doses) or a :class:`~tumordyn.Regimen`
(a fixed schedule plus adaptive rules). Times are in days, amounts in each drug's
dose unit (mg for the default model). Doses after the horizon ``t_end`` are
dropped, and a dose exactly at ``t_end`` is kept.

Standard doses are those of the default model, ``tumordyn.models.STANDARD_DOSES``
(drug -> (amount in mg, interval in days)):
targeted drug 100 mg weekly, anti-PD-1 200 mg every 21 days (pembrolizumab's
approved flat dose), priming agent 20 mg daily.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .dosing import AdaptiveRule, Regimen
from .models import STANDARD_DOSES  # drug -> (amount in mg, interval in days)
from .dosing import Dose, Infusion, Schedule
from .errors import SpecificationError, UnknownNameError

if TYPE_CHECKING:  # pragma: no cover
    from .spec import Model

__all__ = [
    "standard_schedule",
    "monotherapy",
    "combination",
    "sequential",
    "priming_then",
    "adaptive",
    "standard_regimens",
    "STANDARD_REGIMEN_NAMES",
]


#: Names (keys) of :func:`standard_regimens`, in order.
STANDARD_REGIMEN_NAMES: tuple[str, ...] = (
    "untreated",
    "targeted",
    "anti-pd1",
    "priming",
    "targeted+anti-pd1",
    "priming>anti-pd1",
    "priming>targeted+anti-pd1",
    "adaptive-targeted",
)


def _horizon(t_end: float, what: str) -> float:
    if isinstance(t_end, bool) or not isinstance(t_end, (int, float)) or not math.isfinite(t_end) or t_end <= 0:
        raise SpecificationError(f"{what}: t_end must be a finite number of days > 0, got {t_end!r}")
    return float(t_end)


def _clip(s: Schedule, t_end: float) -> Schedule:
    """Drop doses after ``t_end`` (keep one exactly at it) and clip infusions to ``[.., t_end]``."""
    infs = [i if i.end <= t_end else Infusion(i.drug, i.start, t_end, i.rate, i.unit)
            for i in s.infusions if i.start < t_end]
    return Schedule(doses=[d for d in s.doses if d.time <= t_end], infusions=infs)


def standard_schedule(drug: str, t_end: float, start: float = 0.0, *, stop: float | None = None) -> Schedule:
    """A drug's standard dosing (:data:`STANDARD_DOSES`) from ``start`` until ``stop`` or the horizon.

    Parameters
    ----------
    drug : str
        ``"targeted"``, ``"anti_pd1"`` or ``"priming"``.
    t_end : float
        Horizon (days).
    start : float
        First dose (days), default 0.
    stop : float, optional
        Doses are given at times ``< stop`` (days); default: up to and including ``t_end``.

    Returns
    -------
    Schedule

    Raises
    ------
    UnknownNameError
        For a drug without a standard dose.

    Examples
    --------
    >>> standard_schedule("anti_pd1", 63).n_doses()
    4
    >>> standard_schedule("priming", 30, stop=14).n_doses()
    14
    """
    if drug not in STANDARD_DOSES:
        raise UnknownNameError("drug", drug, tuple(STANDARD_DOSES), "standard doses (give amount= and interval=)")
    amount, interval = STANDARD_DOSES[drug]
    return monotherapy(drug, amount, interval, t_end=t_end, start=start, stop=stop)


def monotherapy(
    drug: str,
    amount: float | None = None,
    interval: float | None = None,
    *,
    t_end: float,
    start: float = 0.0,
    stop: float | None = None,
) -> Schedule:
    """One drug at a fixed dose and interval.

    Parameters
    ----------
    drug : str
        Drug name.
    amount : float, optional
        Dose (drug's dose unit); default from :data:`STANDARD_DOSES`.
    interval : float, optional
        Days between doses; default from :data:`STANDARD_DOSES`.
    t_end : float
        Horizon (days); doses after it are dropped.
    start : float
        First dose (days), default 0.
    stop : float, optional
        Doses only at times ``< stop`` (days).

    Returns
    -------
    Schedule

    Examples
    --------
    >>> monotherapy("targeted", 50, 7, t_end=28).n_doses()
    5
    """
    t_end = _horizon(t_end, "monotherapy")
    if amount is None or interval is None:
        if drug not in STANDARD_DOSES:
            raise SpecificationError(
                f"monotherapy: no standard dose for drug {drug!r}; give amount= (dose unit) and interval= (days)"
            )
        a, i = STANDARD_DOSES[drug]
        amount = a if amount is None else amount
        interval = i if interval is None else interval
    if start > t_end:
        return Schedule()
    s = Schedule.every(drug, amount, interval, start=start, until=t_end)
    if stop is not None:
        s = Schedule(doses=[d for d in s.doses if d.time < stop])
    return s


def combination(*parts: Schedule | Regimen | AdaptiveRule) -> Schedule | Regimen:
    """Give several schedules (or regimens) concurrently: their union.

    Parameters
    ----------
    *parts : Schedule, Regimen or AdaptiveRule
        What to combine (at least one).

    Returns
    -------
    Schedule or Regimen
        A :class:`~tumordyn.Regimen` if any part carries a rule, else a schedule.

    Examples
    --------
    >>> c = combination(monotherapy("targeted", t_end=28), monotherapy("anti_pd1", t_end=28))
    >>> sorted(c.drugs)
    ['anti_pd1', 'targeted']
    """
    if not parts:
        raise SpecificationError("combination: give at least one schedule")
    out: Schedule | Regimen = Schedule()
    for i, p in enumerate(parts):
        if not isinstance(p, (Schedule, Regimen, AdaptiveRule, Dose, Infusion)):
            raise TypeError(f"combination: part {i} must be a Schedule, Regimen or AdaptiveRule, "
                            f"got {type(p).__name__}")
        out = out + p
    return out


def sequential(first: Schedule, then: Schedule, switch_at: float, *, t_end: float) -> Schedule:
    """``first`` until ``switch_at``, then ``then`` (written from its own day 0) from ``switch_at`` on.

    Parameters
    ----------
    first : Schedule
        Given on ``[0, switch_at)`` (later items are dropped, infusions clipped).
    then : Schedule
        Written as if starting at day 0; shifted to start at ``switch_at``.
    switch_at : float
        Switch time (days), ``> 0``.
    t_end : float
        Horizon (days).

    Returns
    -------
    Schedule

    Examples
    --------
    >>> s = sequential(monotherapy("priming", t_end=100), monotherapy("anti_pd1", t_end=100), 14, t_end=100)
    >>> s.only("priming").n_doses(), s.only("anti_pd1").doses[0].time
    (14, 14.0)
    """
    t_end = _horizon(t_end, "sequential")
    if not isinstance(first, Schedule) or not isinstance(then, Schedule):
        raise TypeError("sequential: first and then must be Schedules")
    if isinstance(switch_at, bool) or not isinstance(switch_at, (int, float)) or not 0 < switch_at:
        raise SpecificationError(f"sequential: switch_at must be a number of days > 0, got {switch_at!r}")
    head = first.between(0.0, float(switch_at))
    return _clip(head + then.shift(float(switch_at)), t_end)


def priming_then(
    immunotherapy: Schedule | str = "anti_pd1",
    lead_time: float = 14.0,
    *,
    t_end: float,
    priming: Schedule | None = None,
) -> Schedule:
    """TME priming for ``lead_time`` days, then immunotherapy (priming stops when it starts).

    Parameters
    ----------
    immunotherapy : Schedule or str
        The follow-on treatment written from its own day 0 (e.g. anti-PD-1, or
        targeted + anti-PD-1), or a drug name for its standard dosing.
    lead_time : float
        Days of priming before the immunotherapy starts, ``>= 0`` (0: no priming).
    t_end : float
        Horizon (days).
    priming : Schedule, optional
        The priming dosing from day 0; default the standard priming (20 mg daily).

    Returns
    -------
    Schedule

    Examples
    --------
    >>> s = priming_then("anti_pd1", lead_time=7, t_end=60)
    >>> s.only("priming").n_doses(), s.only("anti_pd1").doses[0].time
    (7, 7.0)
    """
    t_end = _horizon(t_end, "priming_then")
    if isinstance(lead_time, bool) or not isinstance(lead_time, (int, float)) or not (
        math.isfinite(lead_time) and 0 <= lead_time < t_end
    ):
        raise SpecificationError(f"priming_then: lead_time must be a number of days in [0, t_end={t_end:g}), "
                                 f"got {lead_time!r}")
    if isinstance(immunotherapy, str):
        immunotherapy = standard_schedule(immunotherapy, t_end)
    if priming is None:
        priming = standard_schedule("priming", t_end)
    if lead_time == 0:
        return _clip(immunotherapy, t_end)
    return sequential(priming, immunotherapy, float(lead_time), t_end=t_end)


def adaptive(
    drug: str = "targeted",
    on: Schedule | float | None = None,
    *,
    t_end: float,
    observable: str = "tumor_burden",
    pause_below: float = 0.5,
    resume_at: float = 1.0,
    baseline: float | None = None,
    fixed: Schedule | None = None,
) -> Regimen:
    """Adaptive on/off therapy (Zhang et al. 2017): pause at 50% of baseline, resume at baseline.

    Parameters
    ----------
    drug : str
        The drug gated by the rule.
    on : Schedule or float, optional
        On-treatment dosing (see :class:`~tumordyn.AdaptiveRule`); default the drug's
        standard dosing over the horizon.
    t_end : float
        Horizon (days).
    observable : str
        What the rule watches (default ``"tumor_burden"``, cells).
    pause_below, resume_at : float
        Fractions of the baseline at which the drug is paused and resumed.
    baseline : float, optional
        Reference value; default the value at the start.
    fixed : Schedule, optional
        Other drugs given on a fixed schedule alongside.

    Returns
    -------
    Regimen
    """
    t_end = _horizon(t_end, "adaptive")
    if on is None:
        on = standard_schedule(drug, t_end)
    rule = AdaptiveRule(drug, on, observable=observable, pause_below=pause_below, resume_at=resume_at,
                        baseline=baseline)
    return Regimen(fixed if fixed is not None else Schedule(), (rule,))


def standard_regimens(
    model: Model | None = None,
    t_end: float = 365.0,
    *,
    lead_time: float = 14.0,
) -> dict[str, Schedule | Regimen]:
    """The eight regimens of the main comparison, by name (:data:`STANDARD_REGIMEN_NAMES`).

    ``untreated``; ``targeted`` (100 mg weekly); ``anti-pd1`` (200 mg every 21 days);
    ``priming`` (20 mg daily); ``targeted+anti-pd1`` (both, concurrently);
    ``priming>anti-pd1`` (priming for ``lead_time`` days, then anti-PD-1);
    ``priming>targeted+anti-pd1`` (priming, then both); ``adaptive-targeted`` (the
    targeted drug's weekly dosing, paused when the tumor burden falls below 50% of
    baseline and resumed when it is back at baseline).

    Parameters
    ----------
    model : Model, optional
        If given, checked to have the drugs ``targeted``, ``anti_pd1`` and ``priming``.
    t_end : float
        Horizon (days), default 365.
    lead_time : float
        Priming lead time (days), default 14.

    Returns
    -------
    dict of str to Schedule or Regimen

    Examples
    --------
    >>> list(standard_regimens(t_end=365))[:3]
    ['untreated', 'targeted', 'anti-pd1']
    """
    t_end = _horizon(t_end, "standard_regimens")
    if model is not None:
        for d in STANDARD_DOSES:
            if d not in model.drugs.names:
                raise UnknownNameError("drug", d, model.drugs.names,
                                       f"model {model.name!r} (standard_regimens needs targeted, anti_pd1, priming)")
    tgt = standard_schedule("targeted", t_end)
    pd1 = standard_schedule("anti_pd1", t_end)
    return {
        "untreated": Schedule(),
        "targeted": tgt,
        "anti-pd1": pd1,
        "priming": standard_schedule("priming", t_end),
        "targeted+anti-pd1": tgt + pd1,
        "priming>anti-pd1": priming_then(pd1, lead_time, t_end=t_end),
        "priming>targeted+anti-pd1": priming_then(tgt + pd1, lead_time, t_end=t_end),
        "adaptive-targeted": adaptive("targeted", tgt, t_end=t_end),
    }
