"""Clinical readouts of a simulated :class:`~tumordyn.Trajectory`.

Every function takes a trajectory (the result of :func:`tumordyn.simulate`), checks
that it has the states or observables it needs, and returns numbers a clinician
recognises. Definitions and units are given on each function and summarised in the
docs page *Readouts*.

Conventions
-----------
* Time is in days; one month is :data:`MONTH` = 30.4375 days (365.25 / 12).
* The *baseline* of a quantity is its value at the first output time ``traj.t[0]``
  (treatment start).
* "Continuous" readouts use every output time of the trajectory (values between
  output times are interpolated linearly); "scan" readouts use only the values at
  the scan times of a :class:`ScanPlan`, as a clinician sees the tumor.
* A readout that never happens within the horizon (no progression, R never
  overtakes S) is reported as ``math.inf``: the event is censored at the horizon.
* RECIST 1.1 and iRECIST follow the sum of the target lesions' recorded diameters
  (up to 5 lesions, 2 per organ), with CR the disappearance of every lesion (its
  tumor cells below :data:`DETECTION_LIMIT`), a lesion too small to measure recorded
  as :data:`TOO_SMALL` (5 mm) and a new lesion counted as progression. By default
  the lesion is the ``lesion_diameter`` observable (mm; the *measured* lesion, which
  counts infiltrating immune cells), or every ``<prefix>_lesion_diameter`` of a
  multi-lesion model (:func:`lesions_of`). One lesion is a sum of one.
* The best percent change at scans (:func:`best_percent_change` with ``scans``,
  :attr:`RecistResult.best_percent_change`) is the smallest change from baseline
  over the follow-up scans, positive if the lesion only grew (RECIST 1.1,
  Eisenhauer et al. 2009, Eur J Cancer 45:228–247).
* The tumor-response readouts (RECIST, best percent change, time to progression,
  duration of response) are computed by the array functions of
  :mod:`tumordyn.readouts._recist`, which :class:`tumordyn.Cohort` also uses on whole
  batches of patients, so a patient's readouts do not depend on the entry point.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .._validate import real_number
from . import _recist as core
from ..errors import SpecificationError
from ..numerics import compile_model

# numpy >= 2.0 names it trapezoid; numpy 1.x (supported down to 1.24) only has trapz
_trapezoid = getattr(np, "trapezoid", None) or np.trapz

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..trajectory import Trajectory

__all__ = [
    "MONTH",
    "DETECTION_LIMIT",
    "TOO_SMALL",
    "Lesion",
    "lesions_of",
    "resolve_lesions",
    "ScanPlan",
    "Nadir",
    "RecistResult",
    "IrecistResult",
    "percent_change",
    "nadir",
    "best_percent_change",
    "scan_times",
    "recist",
    "irecist",
    "time_to_progression",
    "progression_free",
    "duration_of_response",
    "durable_response",
    "resistant_fraction",
    "resistant_takeover_time",
    "effector_exhausted_ratio",
    "mean_suppression",
    "auc",
    "dose_counts",
    "total_amount",
]

#: One month in days (365.25 / 12), used by month-based readouts.
MONTH = 30.4375

#: RECIST 1.1 categories from best to worst (for best overall response).
_RECIST_ORDER = core.RECIST_CATEGORIES


# --------------------------------------------------------------------------- helpers


def _check_traj(traj: object, what: str) -> None:
    from ..trajectory import Trajectory

    if not isinstance(traj, Trajectory):
        raise TypeError(f"{what}: expected a tumordyn Trajectory, got {type(traj).__name__}")


def _series(traj: Trajectory, name: str, what: str) -> np.ndarray:
    """The values of a state/observable, or a clear error naming what the readout needs."""
    _check_traj(traj, what)
    if not isinstance(name, str):
        raise TypeError(f"{what}: the observable must be a name (str), got {name!r}")
    if name not in traj.names:
        have = ", ".join(traj.state_names + traj.observable_names)
        raise SpecificationError(
            f"{what} needs {name!r}, but the trajectory of model {traj.model.name!r} has no such state or "
            f"observable (it has: {have}); pass another observable= or use a model that provides it"
        )
    return np.asarray(traj[name], dtype=float)


def _need_states(traj: Trajectory, names: Sequence[str], what: str) -> list[np.ndarray]:
    _check_traj(traj, what)
    missing = [n for n in names if n not in traj.names]
    if missing:
        have = ", ".join(traj.state_names + traj.observable_names)
        raise SpecificationError(
            f"{what} needs {', '.join(map(repr, names))}, but the trajectory of model {traj.model.name!r} lacks "
            f"{', '.join(map(repr, missing))} (it has: {have})"
        )
    return [np.asarray(traj[n], dtype=float) for n in names]



def _positive(value: object, what: str, *, allow_zero: bool = False) -> float:
    return real_number(value, what, minimum=0.0, strict=not allow_zero)



def _first_crossing(t: np.ndarray, f: np.ndarray) -> float:
    """First time f goes from < 0 to >= 0, interpolated linearly (inf if never; t[0] if f[0] >= 0)."""
    return float(core.first_crossing(t, f)[0])


# --------------------------------------------------------------------------- continuous readouts


def percent_change(traj: Trajectory, observable: str = "tumor_burden") -> np.ndarray:
    """Percent change of a quantity from its baseline, at every output time.

    ``100 × (x(t) / x(t0) − 1)`` (%), where ``x(t0)`` is the value at the first
    output time.

    Parameters
    ----------
    traj : Trajectory
        A simulation.
    observable : str
        State or observable name (default ``"tumor_burden"``, cells; use
        ``"lesion_diameter"`` for the measured diameter, mm).

    Returns
    -------
    numpy.ndarray
        Percent change (%), one value per output time ``traj.t``.

    Raises
    ------
    SpecificationError
        If the trajectory lacks the observable or its baseline is not > 0.

    Examples
    --------
    >>> import tumordyn as td
    >>> traj = td.simulate(td.models.logistic_growth(), t_end=10.0, t_eval=[0, 10])
    >>> float(td.readouts.percent_change(traj, "N")[0])
    0.0
    """
    x = _series(traj, observable, "percent_change")
    if not x[0] > 0:
        raise SpecificationError(
            f"percent_change: the baseline of {observable!r} at t={traj.t[0]:g} days is {x[0]:g}; it must be > 0"
        )
    out = 100.0 * (x / x[0] - 1.0)
    out.flags.writeable = False
    return out


@dataclass(frozen=True)
class Nadir:
    """The smallest value of a quantity after baseline.

    Attributes
    ----------
    value : float
        The smallest value on ``[t0, t_end]`` (the observable's unit).
    time : float
        When it is first reached (days).
    percent_change : float
        Its change from baseline (%), ``<= 0``.
    """

    value: float
    time: float
    percent_change: float


def nadir(traj: Trajectory, observable: str = "tumor_burden") -> Nadir:
    """The nadir (smallest value, baseline included), its time and its percent change.

    Parameters
    ----------
    traj : Trajectory
        A simulation.
    observable : str
        State or observable name (default ``"tumor_burden"``).

    Returns
    -------
    Nadir
        ``value`` (the observable's unit), ``time`` (days, first time reached) and
        ``percent_change`` (%, from baseline).

    Examples
    --------
    >>> import tumordyn as td
    >>> traj = td.simulate(td.models.logistic_growth(), t_end=10.0, t_eval=[0, 5, 10])
    >>> td.readouts.nadir(traj, "N").time  # a growing tumor's nadir is its baseline
    0.0
    """
    x = _series(traj, observable, "nadir")
    pc = percent_change(traj, observable)
    i = int(np.argmin(x))
    return Nadir(float(x[i]), float(traj.t[i]), float(pc[i]))


def best_percent_change(traj: Trajectory, observable: str = "tumor_burden", *,
                        scans: ScanPlan | None = None) -> float:
    """Best percent change from baseline (%): the smallest change over the post-baseline assessments.

    * with a :class:`ScanPlan` (the RECIST 1.1 waterfall value; Eisenhauer et al.
      2009, Eur J Cancer 45:228–247): the smallest ``100 × (D / D0 − 1)`` over the
      *follow-up* scans, ``D0`` the value at the baseline scan. The baseline scan is
      not an assessment, so the value is **positive** when the quantity only grew
      (e.g. +18% for an untreated tumor whose first follow-up scan reads 18% above
      baseline). This is the value of :class:`tumordyn.Cohort` and of the
      ``best_change_diameter_pct`` column of :func:`tumordyn.compare`.
    * ``scans=None`` (continuous): the infimum over ``(t0, t_end]`` of the percent
      change on the output grid. For a continuous trajectory it equals the minimum
      over ``[t0, t_end]``, the nadir's percent change (:func:`nadir`), so it is
      ``<= 0`` (``0`` if the quantity never falls below baseline).

    Parameters
    ----------
    traj : Trajectory
        A simulation.
    observable : str
        State or observable name (default ``"tumor_burden"``, cells; use
        ``"lesion_diameter"``, mm, for the RECIST value).
    scans : ScanPlan, optional
        Read the quantity at these scans (keyword only); ``None`` for the continuous
        readout.

    Returns
    -------
    float
        Percent change (%).

    Raises
    ------
    SpecificationError
        If the trajectory lacks the observable, its baseline is not > 0, or the
        scans fall outside the horizon.

    Examples
    --------
    >>> import tumordyn as td
    >>> traj = td.simulate(td.models.logistic_growth(), t_end=112.0)
    >>> td.readouts.best_percent_change(traj, "N")  # continuous: a growing tumor's nadir is its baseline
    0.0
    >>> round(td.readouts.best_percent_change(traj, "N", scans=td.readouts.ScanPlan(interval=56)))  # smallest: day-56 scan
    9900
    """
    what = "best_percent_change"
    if scans is not None:
        ts, arr = _recist_arrays(traj, scans, observable, what, min_measurable=0.0)
        base = float(arr.diameter[0, 0])
        if not base > 0:
            raise SpecificationError(
                f"{what}: the baseline of {observable!r} at t={ts[0]:g} days is {base:g}; it must be > 0"
            )
        return float(arr.best_percent_change[0])
    x = _series(traj, observable, what)
    if not x[0] > 0:
        raise SpecificationError(
            f"{what}: the baseline of {observable!r} at t={traj.t[0]:g} days is {x[0]:g}; it must be > 0"
        )
    return float(core.best_percent_change_continuous(x)[0])


def time_to_progression(
    traj: Trajectory,
    scans: ScanPlan | None = None,
    observable: str | Lesion | Sequence[Lesion] = "lesion_diameter",
    *,
    increase: float = 0.2,
    min_increase: float = 5.0,
) -> float:
    """Time to progression (days from the first output time).

    Progression is RECIST 1.1's: the diameter is at least ``increase`` (20%) above
    the nadir (the smallest value so far, baseline included) *and* at least
    ``min_increase`` (5 mm) above it in absolute terms.

    * ``scans=None`` (continuous): the first time on the output grid at which the
      condition holds, located by linear interpolation between output times.
    * with a :class:`ScanPlan`: the time of the first scan classified PD by
      :func:`recist` (the nadir is then the smallest *scanned* value).

    Parameters
    ----------
    traj : Trajectory
        A simulation.
    scans : ScanPlan, optional
        Scan plan; ``None`` for the continuous readout.
    observable : str, Lesion or sequence of Lesion
        Diameter-like quantity (default ``"lesion_diameter"``, mm), or the lesions
        as for :func:`recist` (several lesions: their target sum and new lesions).
    increase : float
        Relative increase over the nadir that counts as progression (default 0.2).
    min_increase : float
        Absolute increase over the nadir that is also required (default 5, in the
        observable's unit; use 0 for quantities other than diameters in mm).

    Returns
    -------
    float
        Days from ``traj.t[0]`` to progression; ``math.inf`` if there is none
        within the horizon.
    """
    if scans is not None:
        res = recist(traj, scans, observable, increase=increase, min_increase=min_increase)
        return res.time_to_progression
    _positive(increase, "time_to_progression: increase", allow_zero=True)
    _positive(min_increase, "time_to_progression: min_increase", allow_zero=True)
    return _ttp_continuous(traj, observable, "time_to_progression", increase=increase, min_increase=min_increase)


def progression_free(
    traj: Trajectory,
    scans: ScanPlan | None = None,
    observable: str | Lesion | Sequence[Lesion] = "lesion_diameter",
    **kwargs: float,
) -> bool:
    """Whether the tumor has not progressed by the end of the horizon.

    ``True`` if :func:`time_to_progression` (continuous, or on ``scans``) is infinite.

    Parameters
    ----------
    traj : Trajectory
        A simulation.
    scans : ScanPlan, optional
        Scan plan; ``None`` for the continuous readout.
    observable : str, Lesion or sequence of Lesion
        Diameter-like quantity (default ``"lesion_diameter"``, mm), or the lesions
        as for :func:`recist` (several lesions: their target sum and new lesions).
    **kwargs
        ``increase`` and ``min_increase`` for :func:`time_to_progression`.

    Returns
    -------
    bool
    """
    return math.isinf(time_to_progression(traj, scans, observable, **kwargs))


def duration_of_response(
    traj: Trajectory,
    scans: ScanPlan | None = None,
    observable: str | Lesion | Sequence[Lesion] = "lesion_diameter",
    *,
    response: float = 0.3,
    min_measurable: float = 10.0,
) -> float:
    """Duration of response (days): from the first response to progression or the horizon.

    A *response* is a diameter at least ``response`` (30%) below baseline (RECIST
    PR or CR). The duration runs from the first response to the first progression
    after it (:func:`time_to_progression`), or to the end of the horizon if there is
    none (censored). ``0`` if there is no response.

    Parameters
    ----------
    traj : Trajectory
        A simulation.
    scans : ScanPlan, optional
        Use the scan times (first PR/CR scan to first PD scan); ``None`` for the
        continuous readout on the output grid.
    observable : str, Lesion or sequence of Lesion
        Diameter-like quantity (default ``"lesion_diameter"``, mm), or the lesions
        as for :func:`recist` (several lesions: their target sum and new lesions).
    response : float
        Fractional decrease from baseline that counts as a response (default 0.3),
        with or without ``scans``.
    min_measurable : float
        With ``scans``: the smallest measurable baseline lesion (mm, default 10, RECIST 1.1).

    Returns
    -------
    float
        Days (``0.0`` without a response).
    """
    if scans is not None:
        _, arr = _recist_arrays(traj, scans, observable, "duration_of_response", response=response,
                                min_measurable=min_measurable)
        return float(arr.duration_of_response[0])
    what = "duration_of_response"
    _check_traj(traj, what)
    lesions = resolve_lesions(traj.names, observable, what, model=traj.model.name)
    t = np.asarray(traj.t)
    if len(lesions) == 1:
        x = _series(traj, lesions[0].diameter, what)
        return float(core.duration_of_response_continuous(t, x, response=response)[0])
    D, C = _lesion_series(traj, lesions, what)
    les = core.read_lesions(D[:1], None if C is None else C[:1], _organs(lesions), min_measurable=min_measurable)
    x = np.where(les.target[None], D, 0.0).sum(axis=1)
    ttp = _ttp_continuous(traj, observable, what, min_measurable=min_measurable)
    return float(core.duration_of_response_continuous(t, x, response=response, ttp=np.array([ttp]))[0])


def durable_response(
    traj: Trajectory,
    months: float = 6.0,
    scans: ScanPlan | None = None,
    observable: str | Lesion | Sequence[Lesion] = "lesion_diameter",
) -> bool:
    """Whether a response lasts at least ``months`` months (1 month = 30.4375 days).

    ``duration_of_response(traj, scans, observable) >= months × MONTH``. A response
    still ongoing at the horizon counts with its duration so far.

    Parameters
    ----------
    traj : Trajectory
        A simulation.
    months : float
        Minimum duration (months), > 0. Default 6.
    scans : ScanPlan, optional
        Scan plan; ``None`` for the continuous readout.
    observable : str, Lesion or sequence of Lesion
        Diameter-like quantity (default ``"lesion_diameter"``, mm), or the lesions
        as for :func:`recist` (several lesions: their target sum and new lesions).

    Returns
    -------
    bool
    """
    m = _positive(months, "durable_response: months")
    dor = duration_of_response(traj, scans, observable)
    return dor > 0 and dor >= m * MONTH


# --------------------------------------------------------------------------- scans, RECIST, iRECIST


@dataclass(frozen=True)
class ScanPlan:
    """When the tumor is scanned (days): a baseline scan, then every ``interval`` days.

    Parameters
    ----------
    interval : float
        Days between scans (> 0). Default 56 (every 8 weeks).
    start : float, optional
        Time of the baseline scan (days, >= 0). Default: the start of the
        simulation (treatment start).
    end : float, optional
        Last time a scan may be taken (days); default: the end of the horizon.
    times : tuple of float, optional
        Explicit scan times (days, sorted, distinct); if given, ``interval``,
        ``start`` and ``end`` are ignored. The first one is the baseline scan.

    Raises
    ------
    SpecificationError
        For a non-positive interval, negative times or unsorted explicit times.

    Examples
    --------
    >>> ScanPlan().times_for(0, 200)
    array([  0.,  56., 112., 168.])
    >>> ScanPlan(times=(0, 30, 90)).times_for(0, 100)
    array([ 0., 30., 90.])
    >>> ScanPlan(interval=28).times_for(7, 70)  # baseline scan at the start of the simulation
    array([ 7., 35., 63.])
    """

    interval: float = 56.0
    start: float | None = None
    end: float | None = None
    times: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        """Validate the fields."""
        object.__setattr__(self, "interval", _positive(self.interval, "ScanPlan: interval (days)"))
        if self.start is not None:
            object.__setattr__(self, "start", _positive(self.start, "ScanPlan: start (days)", allow_zero=True))
        if self.end is not None:
            object.__setattr__(self, "end", _positive(self.end, "ScanPlan: end (days)"))
            if self.start is not None and self.end <= self.start:
                raise SpecificationError(f"ScanPlan: end ({self.end:g} days) must be after start ({self.start:g})")
        if self.times is not None:
            if isinstance(self.times, (str, bytes)) or not isinstance(self.times, Iterable):
                raise TypeError(f"ScanPlan: times must be a sequence of days, got {self.times!r}")
            ts = tuple(_positive(x, f"ScanPlan: times[{i}] (days)", allow_zero=True)
                       for i, x in enumerate(self.times))
            if len(ts) < 2:
                raise SpecificationError("ScanPlan: times needs a baseline scan and at least one follow-up scan")
            for i in range(1, len(ts)):
                if not ts[i] > ts[i - 1]:
                    raise SpecificationError(
                        f"ScanPlan: times must be strictly increasing, got times[{i - 1}]={ts[i - 1]:g} and "
                        f"times[{i}]={ts[i]:g}"
                    )
            object.__setattr__(self, "times", ts)

    def times_for(self, t0: float, t_end: float) -> np.ndarray:
        """The scan times within a horizon ``[t0, t_end]`` (days).

        Parameters
        ----------
        t0, t_end : float
            The simulation's first and last times (days).

        Returns
        -------
        numpy.ndarray
            Scan times (days): the baseline scan first, then at least one follow-up.

        Raises
        ------
        SpecificationError
            If a scan lies outside the horizon, or there is no follow-up scan in it.
        """
        if self.times is not None:
            ts = np.asarray(self.times, dtype=float)
            bad = ts[(ts < t0) | (ts > t_end)]
            if bad.size:
                raise SpecificationError(
                    f"ScanPlan: scan at t={bad[0]:g} days is outside the simulated horizon [{t0:g}, {t_end:g}] days"
                )
            return ts
        start = float(t0) if self.start is None else self.start
        if start < t0 or start >= t_end:
            raise SpecificationError(
                f"ScanPlan: the baseline scan at start={start:g} days is outside the simulated horizon "
                f"[{t0:g}, {t_end:g}) days"
            )
        last = t_end if self.end is None else min(self.end, t_end)
        n = max(int(math.floor((last - start) / self.interval * (1 + 1e-12))) + 1, 1)
        ts = start + self.interval * np.arange(n)
        if ts.size < 2:
            raise SpecificationError(
                f"ScanPlan: no follow-up scan within the horizon: the first one would be at "
                f"t={start + self.interval:g} days, after the end at {last:g} days; shorten the interval "
                f"(now {self.interval:g} days) or lengthen the horizon"
            )
        return ts


def scan_times(traj: Trajectory, scans: ScanPlan | None = None) -> np.ndarray:
    """Scan times of a plan within the trajectory's horizon (days).

    Parameters
    ----------
    traj : Trajectory
        A simulation.
    scans : ScanPlan, optional
        Default ``ScanPlan()`` (every 56 days from the start).

    Returns
    -------
    numpy.ndarray
        Scan times (days).
    """
    _check_traj(traj, "scan_times")
    plan = ScanPlan() if scans is None else scans
    if not isinstance(plan, ScanPlan):
        raise TypeError(f"scans must be a ScanPlan, got {type(plan).__name__}")
    return plan.times_for(float(traj.t[0]), float(traj.t[-1]))


def _values_at(traj: Trajectory, x: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Values at given times: exact at output times (after a dose), linear between them."""
    return core.values_at(np.asarray(traj.t), x, times)[:, 0]


def resolve_lesions(names: Sequence[str], measure: object, what: str, *, model: str = "") -> tuple[Lesion, ...]:
    """The lesions a RECIST readout assesses, from the name(s) a user gave.

    * a :class:`Lesion` or a sequence of them: as given (their series must exist);
    * a state or observable name: one lesion with that diameter (mm). Its tumor
      cells (for detectability) are ``tumor_burden`` when the name is
      ``lesion_diameter``, ``<prefix>_tumor_burden`` when it is
      ``<prefix>_lesion_diameter`` (if the model has them), else none (the lesion is
      seen while its diameter is > 0);
    * ``"lesion_diameter"`` when the model has no such observable but has
      ``<prefix>_lesion_diameter`` observables (a multi-lesion model, e.g.
      :func:`tumordyn.models.multilesion`): every such lesion, named ``<prefix>``,
      with ``<prefix>_tumor_burden`` as its cells and the organ from its name
      (:class:`Lesion`).

    Parameters
    ----------
    names : sequence of str
        The states and observables available.
    measure : str, Lesion or sequence of Lesion
        What the user gave.
    what : str
        The readout, for messages.
    model : str
        The model's name, for messages.

    Returns
    -------
    tuple of Lesion

    Raises
    ------
    SpecificationError
        If a named series does not exist or no lesion is given.
    """
    avail = set(names)

    def check(les: Lesion) -> Lesion:
        for nm in (les.diameter, les.cells):
            if nm is not None and nm not in avail:
                raise SpecificationError(
                    f"{what} needs {nm!r} (lesion {les.name!r}), but model {model!r} has no such state or "
                    f"observable (it has: {', '.join(names)})"
                )
        return les

    if isinstance(measure, Lesion):
        return (check(measure),)
    if isinstance(measure, str):
        suffix = "_lesion_diameter"
        if measure in avail:
            prefix = measure[: -len(suffix)] if measure.endswith(suffix) else ""
            cells = f"{prefix}_tumor_burden" if prefix else ("tumor_burden" if measure == "lesion_diameter" else None)
            return (Lesion(prefix or "lesion", measure, cells if cells in avail else None),)
        if measure == "lesion_diameter":
            found = tuple(
                Lesion(nm[: -len(suffix)], nm, f"{nm[: -len(suffix)]}_tumor_burden"
                       if f"{nm[: -len(suffix)]}_tumor_burden" in avail else None)
                for nm in names if nm.endswith(suffix) and len(nm) > len(suffix)
            )
            if found:
                return found
        raise SpecificationError(
            f"{what} needs {measure!r}, but the trajectory of model {model!r} has no such state or observable "
            f"(it has: {', '.join(names)}); pass another observable= or use a model that provides it"
        )
    if isinstance(measure, Iterable) and not isinstance(measure, (bytes, Mapping)):
        items = tuple(measure)
        if not items or not all(isinstance(x, Lesion) for x in items):
            raise TypeError(f"{what}: the lesions must be a diameter's name (str), a Lesion or a non-empty "
                            f"sequence of Lesion, got {measure!r}")
        labels = [x.name for x in items]
        if len(set(labels)) != len(labels):
            raise SpecificationError(f"{what}: lesion names must be distinct, got {labels}")
        return tuple(check(x) for x in items)
    raise TypeError(f"{what}: the observable must be a diameter's name (str), a Lesion or a sequence of Lesion, "
                    f"got {measure!r}")


def lesions_of(traj: Trajectory, observable: str | Lesion | Sequence[Lesion] = "lesion_diameter") -> tuple[Lesion, ...]:
    """The lesions the RECIST readouts assess in a trajectory (see :func:`recist`).

    Parameters
    ----------
    traj : Trajectory
        A simulation.
    observable : str, Lesion or sequence of Lesion
        As the ``observable`` of :func:`recist` (default ``"lesion_diameter"``: the
        model's lesion, or every ``<prefix>_lesion_diameter`` lesion of a
        multi-lesion model).

    Returns
    -------
    tuple of Lesion
        Each with its diameter and cell series and its organ.

    Examples
    --------
    >>> import tumordyn as td
    >>> traj = td.simulate(td.models.multilesion(), t_end=1.0)
    >>> [(x.name, x.organ) for x in td.readouts.lesions_of(traj)]
    [('liver_1', 'liver'), ('liver_2', 'liver'), ('lung_1', 'lung'), ('bone_1', 'bone')]
    """
    _check_traj(traj, "lesions_of")
    return resolve_lesions(traj.names, observable, "lesions_of", model=traj.model.name)


def _organs(lesions: Sequence[Lesion]) -> tuple[str, ...]:
    return tuple(str(x.organ) for x in lesions)


def _lesion_series(traj: Trajectory, lesions: Sequence[Lesion], what: str,
                   times: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Diameters and tumor cells of the lesions, shape ``(k, L, 1)`` on the output grid (or at ``times``).

    Cells are NaN for a lesion without a cell series; ``None`` if no lesion has one.
    """
    t = np.asarray(traj.t, dtype=float)

    def at(name: str) -> np.ndarray:
        x = _series(traj, name, what)
        return x if times is None else core.values_at(t, x, times)[:, 0]

    D = np.stack([at(x.diameter) for x in lesions], axis=1)[:, :, None]
    if all(x.cells is None for x in lesions):
        return D, None
    C = np.stack([at(x.cells) if x.cells is not None else np.full(D.shape[0], np.nan) for x in lesions],
                 axis=1)[:, :, None]
    return D, C


def _ttp_continuous(traj: Trajectory, observable: object, what: str, *, increase: float = 0.2,
                    min_increase: float = 5.0, min_measurable: float = 10.0,
                    detection_limit: float = core.DETECTION_LIMIT) -> float:
    """Continuous time to progression of one diameter, or of several lesions (their target sum and new lesions)."""
    _check_traj(traj, what)
    lesions = resolve_lesions(traj.names, observable, what, model=traj.model.name)
    t = np.asarray(traj.t)
    if len(lesions) == 1:
        x = _series(traj, lesions[0].diameter, what)
        return float(core.time_to_progression_continuous(t, x, increase=increase, min_increase=min_increase)[0])
    D, C = _lesion_series(traj, lesions, what)
    les = core.read_lesions(D[:1], None if C is None else C[:1], _organs(lesions), detection_limit=detection_limit,
                            min_measurable=min_measurable)
    return float(core.lesions_time_to_progression_continuous(
        t, D, C, les.target, les.present0, detection_limit=detection_limit, increase=increase,
        min_increase=min_increase)[0])


@dataclass(frozen=True)
class RecistResult:
    """RECIST 1.1 assessment at the scans of a plan.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per scan: ``time`` (days), ``diameter`` (the sum of the recorded
        target-lesion diameters, mm; one lesion: its recorded diameter),
        ``change_from_baseline`` (%), ``nadir`` (smallest sum at earlier scans,
        baseline included, mm), ``change_from_nadir`` (%), ``new_lesions`` (count),
        ``response`` (``"baseline"``, ``"CR"``, ``"PR"``, ``"SD"``, ``"PD"``) and one
        column ``diameter_<lesion>`` per lesion (its recorded diameter, mm).
    best_overall_response : str
        The best response from the first follow-up scan up to the first PD (CR >
        PR > SD > PD); ``"PD"`` if the first follow-up scan is PD.
    time_to_progression : float
        Time of the first PD scan minus the baseline scan time (days); ``inf`` if none.
    target_lesions : tuple of str
        The target lesions (selected at baseline).
    best_percent_change : float
        The smallest ``change_from_baseline`` over the follow-up scans (%; positive
        if the sum only grew): the waterfall value, as :func:`best_percent_change`
        with ``scans``.
    """

    table: pd.DataFrame
    best_overall_response: str
    time_to_progression: float
    target_lesions: tuple[str, ...] = ()

    @property
    def best_percent_change(self) -> float:
        """Smallest change from baseline over the follow-up scans (%)."""
        return float(self.table["change_from_baseline"].iloc[1:].min())


def _removed_cr_below(cr_below: object, what: str) -> None:
    if cr_below is not None:
        raise SpecificationError(
            f"{what}: cr_below= was removed: a complete response is now the disappearance of every lesion (its "
            "tumor cells below detection_limit=, RECIST 1.1), and a lesion present but too small to measure is "
            "recorded as too_small= mm (5) and is not a complete response"
        )


def _recist_arrays(traj: Trajectory, scans: ScanPlan | None, observable: object, what: str, *,
                   detection_limit: float = core.DETECTION_LIMIT, too_small: float = core.TOO_SMALL,
                   response: float = 0.3, increase: float = 0.2, min_increase: float = 5.0,
                   min_measurable: float = 10.0) -> tuple[np.ndarray, core.RecistArrays]:
    """Scan times and RECIST 1.1 arrays of one trajectory (one column of :func:`tumordyn.readouts._recist.recist_arrays`).

    A baseline without a target lesion (``min_measurable > 0``) is a
    :class:`~tumordyn.errors.SpecificationError`.
    """
    ts, arr, _ = _recist_lesions(traj, scans, observable, what, detection_limit=detection_limit,
                                 too_small=too_small, response=response, increase=increase,
                                 min_increase=min_increase, min_measurable=min_measurable)
    return ts, arr


def _recist_lesions(traj: Trajectory, scans: ScanPlan | None, observable: object, what: str, *,
                    detection_limit: float, too_small: float, response: float, increase: float,
                    min_increase: float, min_measurable: float) -> tuple[np.ndarray, core.RecistArrays, tuple[Lesion, ...]]:
    """As :func:`_recist_arrays`, with the lesions assessed."""
    _check_traj(traj, what)
    lesions = resolve_lesions(traj.names, observable, what, model=traj.model.name)
    _positive(detection_limit, f"{what}: detection_limit (cells)")
    _positive(too_small, f"{what}: too_small (mm)", allow_zero=True)
    ts = scan_times(traj, scans)
    D, C = _lesion_series(traj, lesions, what, ts)
    arr = core.recist_arrays(ts, D, t_end=float(traj.t[-1]), cells=C, organs=_organs(lesions),
                             detection_limit=detection_limit, too_small=too_small, response=response,
                             increase=increase, min_increase=min_increase, min_measurable=min_measurable)
    if min_measurable > 0 and not arr.lesions.measurable[0]:
        shown = ", ".join(
            f"{x.diameter!r} = {D[0, i, 0]:.3g} mm" + ("" if arr.lesions.present0[i, 0] else " (not detectable)")
            for i, x in enumerate(lesions))
        raise SpecificationError(
            f"{what}: no measurable target lesion at the baseline scan at t={ts[0]:g} days ({shown}): a target "
            f"lesion must be detectable and at least {min_measurable:g} mm (RECIST 1.1); lower min_measurable= "
            "or start from a larger lesion"
        )
    return ts, arr, lesions


def _table(ts: np.ndarray, arr: core.RecistArrays, lesions: Sequence[Lesion]) -> pd.DataFrame:
    import pandas as pd

    tab = pd.DataFrame({
        "time": ts,
        "diameter": arr.diameter[:, 0],
        "change_from_baseline": arr.change_from_baseline[:, 0],
        "nadir": arr.nadir[:, 0],
        "change_from_nadir": arr.change_from_nadir[:, 0],
        "new_lesions": arr.new_lesions[:, 0],
        "response": ["baseline"] + [_RECIST_ORDER[c] for c in arr.response[:, 0].tolist()],
    })
    for i, x in enumerate(lesions):
        tab[f"diameter_{x.name}"] = arr.lesions.recorded[:, i, 0]
    return tab


def recist(
    traj: Trajectory,
    scans: ScanPlan | None = None,
    observable: str | Lesion | Sequence[Lesion] = "lesion_diameter",
    *,
    detection_limit: float = core.DETECTION_LIMIT,
    too_small: float = core.TOO_SMALL,
    response: float = 0.3,
    increase: float = 0.2,
    min_increase: float = 5.0,
    min_measurable: float = 10.0,
    cr_below: None = None,
) -> RecistResult:
    """RECIST 1.1 response at the scan times (Eisenhauer et al. 2009, Eur J Cancer 45:228–247).

    **Lesions.** ``observable`` names the measured diameter of one lesion, or gives
    several :class:`Lesion` (by default, a multi-lesion model's every
    ``<prefix>_lesion_diameter``: see :func:`resolve_lesions`). At the baseline scan
    the *target lesions* are the detectable lesions of at least ``min_measurable``
    mm, the largest first, at most 5 and at most 2 per organ; the others detectable
    then are non-target lesions, the rest possible new lesions.

    **Detectable.** A lesion is seen when its tumor cells are at least
    ``detection_limit`` (default :data:`DETECTION_LIMIT`, 1e7 cells; see the docs
    page *Readouts* for the rationale); without a cell series, while its diameter is > 0.

    **Recorded diameters.** At each scan a target lesion reads 0 if not detectable
    (it has disappeared), ``too_small`` (5 mm) if detectable but smaller (present but
    too small to measure), else its diameter. ``Σ`` is their sum, ``Σ0`` its
    baseline value and ``Σmin`` its nadir (smallest at earlier scans, baseline
    included). At each follow-up scan:

    * **PD**: ``Σ >= 1.2 Σmin`` *and* ``Σ − Σmin >= 5`` mm, or a new lesion is detectable;
    * otherwise **CR**: no lesion (target or non-target) is detectable;
    * otherwise **PR**: ``Σ <= 0.7 Σ0`` (at least 30% below baseline);
    * otherwise **SD**.

    Responses are not confirmed by a second scan (as in randomised trials);
    unequivocal progression of non-target lesions (a radiologist's judgement) is
    not modelled.

    Parameters
    ----------
    traj : Trajectory
        A simulation.
    scans : ScanPlan, optional
        Scan times; default every 56 days (8 weeks) from ``traj.t[0]``.
    observable : str, Lesion or sequence of Lesion
        The measured lesion(s) (default ``"lesion_diameter"``, mm).
    detection_limit : float
        Tumor cells from which a lesion is seen (cells), default 1e7.
    too_small : float
        Diameter recorded for a lesion present but too small to measure (mm), default 5.
    response : float
        Fractional decrease from baseline for PR (default 0.3).
    increase : float
        Fractional increase over the nadir for PD (default 0.2).
    min_increase : float
        Absolute increase over the nadir also required for PD (mm, default 5).
    min_measurable : float
        Smallest measurable baseline diameter of a target lesion (mm, default 10).
    cr_below : None
        Removed (CR was "diameter < 5 mm"); giving it raises
        :class:`~tumordyn.errors.SpecificationError`.

    Returns
    -------
    RecistResult
        Per-scan table, best overall response, time to progression and the target lesions.

    Raises
    ------
    SpecificationError
        If the trajectory lacks a lesion's series, the scans fall outside the
        horizon or there is no measurable target lesion at baseline.
    """
    _removed_cr_below(cr_below, "recist")
    ts, arr, lesions = _recist_lesions(traj, scans, observable, "recist", detection_limit=detection_limit,
                                       too_small=too_small, response=response, increase=increase,
                                       min_increase=min_increase, min_measurable=min_measurable)
    best = _RECIST_ORDER[int(arr.best[0])]
    ttp = float(arr.time_to_progression[0])
    targets = tuple(x.name for i, x in enumerate(lesions) if arr.lesions.target[i, 0])
    return RecistResult(_table(ts, arr, lesions), best, ttp, targets)


@dataclass(frozen=True)
class IrecistResult:
    """iRECIST assessment (Seymour et al. 2017, Lancet Oncol 18:e143–e152).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per scan (confirmation scans added by the rule included): ``time``
        (days), ``diameter`` (sum of the recorded target diameters, mm),
        ``change_from_baseline`` (%), ``nadir`` (mm), ``response`` (``"baseline"``,
        ``"iCR"``, ``"iPR"``, ``"iSD"``, ``"iUPD"``, ``"iCPD"``), ``scheduled``
        (``False`` for an added confirmation scan) and ``new_lesions`` (count).
    best_overall_response : str
        Best response up to the first iCPD (iCR > iPR > iSD > iUPD > iCPD).
    time_to_progression : float
        Time of the iUPD that was later confirmed as iCPD, from the baseline scan
        (days): iRECIST dates a confirmed progression at its first iUPD; ``inf`` if
        no progression was confirmed.
    pseudoprogression : bool
        Whether an iUPD was followed by a response (iPR or iCR) without an iCPD in
        between: apparent growth that resolves.
    """

    table: pd.DataFrame
    best_overall_response: str
    time_to_progression: float
    pseudoprogression: bool


def irecist(
    traj: Trajectory,
    scans: ScanPlan | None = None,
    observable: str | Lesion | Sequence[Lesion] = "lesion_diameter",
    *,
    confirm_window: tuple[float, float] = (28.0, 56.0),
    confirm_increase: float = 5.0,
    detection_limit: float = core.DETECTION_LIMIT,
    too_small: float = core.TOO_SMALL,
    response: float = 0.3,
    increase: float = 0.2,
    min_increase: float = 5.0,
    min_measurable: float = 10.0,
    cr_below: None = None,
) -> IrecistResult:
    """iRECIST response on the RECIST 1.1 basis of :func:`recist` (Seymour et al. 2017).

    Each scan is read as by :func:`recist` (target lesions and their recorded sum,
    new lesions, disappearance), with the first progression *unconfirmed*
    (**iUPD**). It is confirmed (**iCPD**) at the next scan 4–8 weeks later
    (``confirm_window``, days) that still meets PD and shows further progression
    since the iUPD scan: the target sum grew by at least ``confirm_increase`` (5 mm)
    more, the new lesions' sum of diameters grew by at least 5 mm, or another new
    lesion appeared. The confirmation scan is the first planned scan in the window;
    if no planned scan falls in it, one is added at the end of the window (if within
    the horizon). Until confirmed, later scans stay iUPD; a scan that no longer
    meets PD resets the status to iSD/iPR/iCR (the next progression is again an
    iUPD). A response (iPR or iCR) after an iUPD flags **pseudoprogression**.

    Parameters
    ----------
    traj : Trajectory
        A simulation.
    scans : ScanPlan, optional
        Scan times; default every 56 days.
    observable : str, Lesion or sequence of Lesion
        The measured lesion(s) (default ``"lesion_diameter"``, mm), which count
        infiltrating immune cells.
    confirm_window : tuple of float
        Earliest and latest confirmation time after the iUPD scan (days), default
        (28, 56).
    confirm_increase : float
        Further growth since the iUPD scan that confirms it (mm), default 5.
    detection_limit, too_small, response, increase, min_increase, min_measurable : float
        As in :func:`recist`.
    cr_below : None
        Removed, as in :func:`recist`.

    Returns
    -------
    IrecistResult
        Per-scan table, best overall response, time to confirmed progression and the
        pseudoprogression flag.
    """
    import pandas as pd

    _removed_cr_below(cr_below, "irecist")
    lo_w, hi_w = (float(v) for v in confirm_window)
    if not 0 < lo_w <= hi_w:
        raise SpecificationError(f"irecist: confirm_window must be (earliest, latest) days with 0 < earliest <= "
                                 f"latest, got {confirm_window!r}")
    _positive(confirm_increase, "irecist: confirm_increase (mm)", allow_zero=True)
    ts, _, lesions = _recist_lesions(traj, scans, observable, "irecist", detection_limit=detection_limit,
                                     too_small=too_small, response=response, increase=increase,
                                     min_increase=min_increase, min_measurable=min_measurable)  # measurable baseline

    def values(times: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        D, C = _lesion_series(traj, lesions, "irecist", times)
        return D[:, :, 0], None if C is None else C[:, :, 0]

    out = core.irecist_one(ts, values, t_end=float(traj.t[-1]), organs=_organs(lesions),
                           confirm_window=(lo_w, hi_w), confirm_increase=confirm_increase,
                           detection_limit=detection_limit, too_small=too_small, response=response,
                           increase=increase, min_increase=min_increase, min_measurable=min_measurable)
    tab = pd.DataFrame(list(out.rows), columns=["time", "diameter", "change_from_baseline", "nadir", "response",
                                                "scheduled", "new_lesions"])
    return IrecistResult(tab, out.best, out.time_to_progression, out.pseudoprogression)


# --------------------------------------------------------------------------- clones, T cells, TME


def resistant_fraction(traj: Trajectory, sensitive: str | Sequence[str] = "S",
                       resistant: str | Sequence[str] = "R") -> np.ndarray:
    """Resistant fraction ``R / (S + R)`` at every output time (dimensionless, 0 when no tumor is left).

    Parameters
    ----------
    traj : Trajectory
        A simulation.
    sensitive, resistant : str or sequence of str
        States (summed) of the sensitive and resistant cells; default ``"S"`` and
        ``"R"`` (for :func:`tumordyn.models.zhang2017`: ``("Tplus", "TP")`` and ``"Tneg"``).

    Returns
    -------
    numpy.ndarray
        One value in [0, 1] per output time.
    """
    s, r = _clones(traj, sensitive, resistant, "resistant_fraction")
    tot = s + r
    out = np.divide(r, tot, out=np.zeros_like(r), where=tot > 0)
    out.flags.writeable = False
    return out


def _clones(traj: Trajectory, sensitive: str | Sequence[str], resistant: str | Sequence[str],
            what: str) -> tuple[np.ndarray, np.ndarray]:
    sn = [sensitive] if isinstance(sensitive, str) else list(sensitive)
    rn = [resistant] if isinstance(resistant, str) else list(resistant)
    vals = _need_states(traj, sn + rn, what)
    return np.sum(vals[: len(sn)], axis=0), np.sum(vals[len(sn):], axis=0)


def resistant_takeover_time(traj: Trajectory, sensitive: str | Sequence[str] = "S",
                            resistant: str | Sequence[str] = "R") -> float:
    """Time (days from ``traj.t[0]``) at which the resistant cells first outnumber the sensitive ones.

    The first time ``R(t) >= S(t)``, located by linear interpolation of ``R − S``
    between output times; ``0`` if ``R >= S`` at the start, ``inf`` if never.

    Parameters
    ----------
    traj : Trajectory
        A simulation.
    sensitive, resistant : str or sequence of str
        States of the sensitive and resistant cells (default ``"S"``, ``"R"``).

    Returns
    -------
    float
        Days; ``math.inf`` if R never overtakes S within the horizon.
    """
    s, r = _clones(traj, sensitive, resistant, "resistant_takeover_time")
    t = np.asarray(traj.t)
    tc = _first_crossing(t, r - s)
    return tc - float(t[0]) if math.isfinite(tc) else math.inf


def effector_exhausted_ratio(traj: Trajectory) -> np.ndarray:
    """Effector/exhausted T-cell ratio ``E / (X + 1)`` at every output time (dimensionless).

    One cell is added to X so the ratio stays finite when no exhausted cells are
    present (the same definition as the default model's ``effector_exhausted_ratio``
    observable).

    Parameters
    ----------
    traj : Trajectory
        A simulation of a model with states ``E`` and ``X`` (cells).

    Returns
    -------
    numpy.ndarray
        One value per output time.
    """
    e, x = _need_states(traj, ["E", "X"], "effector_exhausted_ratio")
    out = e / (x + 1.0)
    out.flags.writeable = False
    return out


def mean_suppression(traj: Trajectory, state: str = "P") -> float:
    """Time-averaged TME suppression level over the horizon (the state's unit, dimensionless for ``P``).

    ``(1 / (t_end − t0)) ∫ P(t) dt`` by the trapezoidal rule on the output grid.

    Parameters
    ----------
    traj : Trajectory
        A simulation of a model with the suppression state (default ``"P"``).
    state : str
        Name of the suppression state.

    Returns
    -------
    float
    """
    (p,) = _need_states(traj, [state], "mean_suppression")
    t = np.asarray(traj.t)
    if t.size < 2:
        return float(p[0])
    return float(_trapezoid(p, t) / (t[-1] - t[0]))


# --------------------------------------------------------------------------- exposure


def _drug(traj: Trajectory, drug: str, what: str) -> int:
    from ..errors import UnknownNameError

    _check_traj(traj, what)
    names = traj.model.drugs.names
    if drug not in names:
        raise UnknownNameError("drug", drug, names, f"{what} (model {traj.model.name!r})")
    return names.index(drug)


def auc(traj: Trajectory, drug: str) -> float:
    """Cumulative exposure to a drug: the area under its concentration curve over the horizon.

    For a drug with a compartment: ``∫ C(t) dt`` over ``[t0, t_end]`` (the
    compartment's unit × days, e.g. mg/L·day) by the trapezoidal rule on the output
    grid, using the pre-dose value (the value after the dose minus the dose's jump)
    on the left of each dose time, so the jumps of bolus doses are not smeared. For
    a direct-input drug (no compartment): ``∫ u(t) dt``, the integral of its level
    (level × days), exact from the realised schedule.

    Parameters
    ----------
    traj : Trajectory
        A simulation.
    drug : str
        Drug name.

    Returns
    -------
    float
        The AUC (concentration unit × day).

    Raises
    ------
    UnknownNameError
        If the model has no such drug.
    """
    i = _drug(traj, drug, "auc")
    c = compile_model(traj.model)
    t = np.asarray(traj.t)
    t0, t1 = float(t[0]), float(t[-1])
    comp = int(c.dose_compartment[i])
    if comp < 0:
        total = 0.0
        for inf in traj.schedule.infusions:
            if inf.drug == drug:
                total += inf.rate * max(0.0, min(inf.end, t1) - max(inf.start, t0))
        return total
    y = np.asarray(traj.y[:, comp], dtype=float)
    left = y.copy()  # value approached from the left at each output time
    p = np.array([traj.params[n] for n in traj.model.parameters.names])
    for time, amount in _bolus_by_time(traj.schedule, drug).items():
        j = np.flatnonzero(t == time)
        if j.size:
            _, inc = c.dose_jump(i, amount, p)
            left[j[0]] = y[j[0]] - inc
    return float(np.sum(0.5 * (y[:-1] + left[1:]) * np.diff(t)))


def _bolus_by_time(schedule: object, drug: str) -> dict[float, float]:
    acc: dict[float, float] = {}
    for d in schedule.doses:  # type: ignore[attr-defined]
        if d.drug == drug and d.amount > 0:
            acc[d.time] = acc.get(d.time, 0.0) + d.amount
    return acc


def dose_counts(traj: Trajectory) -> dict[str, int]:
    """Number of bolus doses given per drug (every drug of the model, zeros included).

    Counted on ``traj.schedule``, the realised schedule (under an adaptive rule, the
    doses actually given). Infusions are not counted.

    Parameters
    ----------
    traj : Trajectory
        A simulation.

    Returns
    -------
    dict of str to int
    """
    _check_traj(traj, "dose_counts")
    t0, t1 = float(traj.t[0]), float(traj.t[-1])
    out = {name: 0 for name in traj.model.drugs.names}
    for d in traj.schedule.doses:
        if d.amount > 0 and t0 <= d.time <= t1 and d.drug in out:
            out[d.drug] += 1
    return out


def total_amount(traj: Trajectory, drug: str) -> float:
    """Total amount of a drug given over the horizon (bolus doses plus infusions, the drug's dose unit).

    Parameters
    ----------
    traj : Trajectory
        A simulation.
    drug : str
        Drug name.

    Returns
    -------
    float
    """
    _drug(traj, drug, "total_amount")
    t0, t1 = float(traj.t[0]), float(traj.t[-1])
    return float(traj.schedule.between(t0, t1 + 1e-12 * max(1.0, abs(t1))).amount_total(drug))

# --- the names other layers import from this package ---
from ._recist import DETECTION_LIMIT, RECIST_CATEGORIES, TOO_SMALL, Lesion, best_percent_change_continuous, irecist_one, lesions_time_to_progression_continuous, read_lesions, recist_arrays, time_to_progression_continuous, values_at  # noqa: F401
# resolve_lesions (defined above): the measured lesion(s) of a model, for Cohort and compare
# --- end of package API ---
