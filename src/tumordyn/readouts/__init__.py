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
* RECIST 1.1 and iRECIST are applied to one target lesion whose longest diameter is
  the ``lesion_diameter`` observable (mm) by default: the *measured* lesion, which
  counts infiltrating immune cells.
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
from collections.abc import Iterable, Sequence
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
_IRECIST_ORDER = ("iCR", "iPR", "iSD", "iUPD", "iCPD")


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
    x = _series(traj, observable, what)
    t = np.asarray(traj.t, dtype=float)
    if scans is None:
        ts, base = t[:1], x[0]
    else:
        ts = scan_times(traj, scans)
        base = float(core.values_at(t, x, ts[:1])[0, 0])
    if not base > 0:
        raise SpecificationError(
            f"{what}: the baseline of {observable!r} at t={ts[0]:g} days is {base:g}; it must be > 0"
        )
    if scans is None:
        return float(core.best_percent_change_continuous(x)[0])
    d = core.values_at(t, x, ts)
    return float(core.recist_arrays(ts, d, t_end=float(t[-1])).best_percent_change[0])


def time_to_progression(
    traj: Trajectory,
    scans: ScanPlan | None = None,
    observable: str = "lesion_diameter",
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
    observable : str
        Diameter-like quantity (default ``"lesion_diameter"``, mm).
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
    x = _series(traj, observable, "time_to_progression")
    _positive(increase, "time_to_progression: increase", allow_zero=True)
    _positive(min_increase, "time_to_progression: min_increase", allow_zero=True)
    t = np.asarray(traj.t)
    return float(core.time_to_progression_continuous(t, x, increase=increase, min_increase=min_increase)[0])


def progression_free(
    traj: Trajectory,
    scans: ScanPlan | None = None,
    observable: str = "lesion_diameter",
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
    observable : str
        Diameter-like quantity (default ``"lesion_diameter"``, mm).
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
    observable: str = "lesion_diameter",
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
    observable : str
        Diameter-like quantity (default ``"lesion_diameter"``, mm).
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
    x = _series(traj, observable, "duration_of_response")
    return float(core.duration_of_response_continuous(np.asarray(traj.t), x, response=response)[0])


def durable_response(
    traj: Trajectory,
    months: float = 6.0,
    scans: ScanPlan | None = None,
    observable: str = "lesion_diameter",
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
    observable : str
        Diameter-like quantity (default ``"lesion_diameter"``, mm).

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


@dataclass(frozen=True)
class RecistResult:
    """RECIST 1.1 assessment of one target lesion at the scans of a plan.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per scan: ``time`` (days), ``diameter`` (mm), ``change_from_baseline``
        (%), ``nadir`` (smallest diameter at earlier scans, baseline included, mm),
        ``change_from_nadir`` (%) and ``response`` (``"baseline"``, ``"CR"``,
        ``"PR"``, ``"SD"``, ``"PD"``).
    best_overall_response : str
        The best response from the first follow-up scan up to the first PD (CR >
        PR > SD > PD); ``"PD"`` if the first follow-up scan is PD.
    time_to_progression : float
        Time of the first PD scan minus the baseline scan time (days); ``inf`` if none.
    best_percent_change : float
        The smallest ``change_from_baseline`` over the follow-up scans (%; positive
        if the lesion only grew): the waterfall value, as
        :func:`best_percent_change` with ``scans``.
    """

    table: pd.DataFrame
    best_overall_response: str
    time_to_progression: float

    @property
    def best_percent_change(self) -> float:
        """Smallest change from baseline over the follow-up scans (%)."""
        return float(self.table["change_from_baseline"].iloc[1:].min())


def _classify(d: float, base: float, low: float, *, cr_below: float, response: float, increase: float,
              min_increase: float) -> str:
    """RECIST 1.1 category of one scan (the rule of :func:`tumordyn.readouts._recist.classify`)."""
    code = core.classify(d, base, low, cr_below=cr_below, response=response, increase=increase,
                         min_increase=min_increase)
    return _RECIST_ORDER[int(code)]


def _check_recist_args(traj: Trajectory, scans: ScanPlan | None, observable: str, what: str,
                       min_measurable: float) -> tuple[np.ndarray, np.ndarray]:
    x = _series(traj, observable, what)
    ts = scan_times(traj, scans)
    d = _values_at(traj, x, ts)
    if d[0] < min_measurable:
        raise SpecificationError(
            f"{what}: the baseline {observable!r} at the scan at t={ts[0]:g} days is {d[0]:.3g}, below the "
            f"{min_measurable:g} mm needed for a measurable target lesion (RECIST 1.1); lower min_measurable= "
            "or start from a larger lesion"
        )
    return ts, d


def _recist_arrays(traj: Trajectory, scans: ScanPlan | None, observable: str, what: str, *,
                   cr_below: float = 5.0, response: float = 0.3, increase: float = 0.2, min_increase: float = 5.0,
                   min_measurable: float = 10.0) -> tuple[np.ndarray, core.RecistArrays]:
    """Scan times and RECIST 1.1 arrays of one trajectory (one column of :func:`tumordyn.readouts._recist.recist_arrays`)."""
    ts, d = _check_recist_args(traj, scans, observable, what, min_measurable)
    arr = core.recist_arrays(ts, d, t_end=float(traj.t[-1]), cr_below=cr_below, response=response,
                             increase=increase, min_increase=min_increase)
    return ts, arr


def recist(
    traj: Trajectory,
    scans: ScanPlan | None = None,
    observable: str = "lesion_diameter",
    *,
    cr_below: float = 5.0,
    response: float = 0.3,
    increase: float = 0.2,
    min_increase: float = 5.0,
    min_measurable: float = 10.0,
) -> RecistResult:
    """RECIST 1.1 response of one target lesion at the scan times (Eisenhauer et al. 2009).

    At each follow-up scan, with ``D`` the measured diameter, ``D0`` the baseline
    scan's and ``Dmin`` the nadir (smallest at earlier scans, baseline included):

    * **PD**: ``D >= 1.2 Dmin`` *and* ``D − Dmin >= 5`` mm;
    * otherwise **CR**: ``D < cr_below`` (the lesion has disappeared: 5 mm, RECIST
      1.1's smallest measurable size on CT, by default);
    * otherwise **PR**: ``D <= 0.7 D0`` (at least 30% below baseline);
    * otherwise **SD**.

    Responses are not confirmed by a second scan (as in randomised trials) and new
    lesions are not modelled.

    Parameters
    ----------
    traj : Trajectory
        A simulation.
    scans : ScanPlan, optional
        Scan times; default every 56 days (8 weeks) from ``traj.t[0]``.
    observable : str
        The measured diameter (default ``"lesion_diameter"``, mm).
    cr_below : float
        Diameter below which the lesion counts as gone (mm), default 5.
    response : float
        Fractional decrease from baseline for PR (default 0.3).
    increase : float
        Fractional increase over the nadir for PD (default 0.2).
    min_increase : float
        Absolute increase over the nadir also required for PD (mm, default 5).
    min_measurable : float
        Smallest measurable baseline diameter (mm, default 10).

    Returns
    -------
    RecistResult
        Per-scan table, best overall response and time to progression.

    Raises
    ------
    SpecificationError
        If the trajectory lacks the observable, the scans fall outside the horizon
        or the baseline lesion is not measurable.
    """
    import pandas as pd

    ts, arr = _recist_arrays(traj, scans, observable, "recist", cr_below=cr_below, response=response,
                             increase=increase, min_increase=min_increase, min_measurable=min_measurable)
    tab = pd.DataFrame({
        "time": ts,
        "diameter": arr.diameter[:, 0],
        "change_from_baseline": arr.change_from_baseline[:, 0],
        "nadir": arr.nadir[:, 0],
        "change_from_nadir": arr.change_from_nadir[:, 0],
        "response": ["baseline"] + [_RECIST_ORDER[c] for c in arr.response[:, 0].tolist()],
    })
    best = _RECIST_ORDER[int(arr.best[0])]
    ttp = float(arr.time_to_progression[0])
    return RecistResult(tab, best, ttp)


@dataclass(frozen=True)
class IrecistResult:
    """iRECIST assessment of one target lesion (Seymour et al. 2017).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per scan (confirmation scans added by the rule included): ``time``
        (days), ``diameter`` (mm), ``change_from_baseline`` (%), ``nadir`` (mm),
        ``response`` (``"baseline"``, ``"iCR"``, ``"iPR"``, ``"iSD"``, ``"iUPD"``,
        ``"iCPD"``) and ``scheduled`` (``False`` for an added confirmation scan).
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
    observable: str = "lesion_diameter",
    *,
    confirm_window: tuple[float, float] = (28.0, 56.0),
    confirm_increase: float = 5.0,
    cr_below: float = 5.0,
    response: float = 0.3,
    increase: float = 0.2,
    min_increase: float = 5.0,
    min_measurable: float = 10.0,
) -> IrecistResult:
    """iRECIST response of one target lesion on the measured lesion size (Seymour et al. 2017).

    The RECIST 1.1 rules of :func:`recist` apply, with the first progression
    *unconfirmed* (**iUPD**). It is confirmed (**iCPD**) at the next scan 4–8 weeks
    later (``confirm_window``, days) if the diameter has grown by at least
    ``confirm_increase`` (5 mm) more since the iUPD scan. The confirmation scan is
    the first planned scan in the window; if no planned scan falls in it, one is
    added at the end of the window (if within the horizon). Until confirmed, later
    scans stay iUPD; a scan that no longer meets PD against the nadir resets the
    status to iSD/iPR/iCR (the next progression is again an iUPD). A response (iPR or
    iCR) after an iUPD flags **pseudoprogression**.

    Parameters
    ----------
    traj : Trajectory
        A simulation.
    scans : ScanPlan, optional
        Scan times; default every 56 days.
    observable : str
        The measured lesion diameter (default ``"lesion_diameter"``, mm), which
        counts infiltrating immune cells.
    confirm_window : tuple of float
        Earliest and latest confirmation time after the iUPD scan (days), default
        (28, 56).
    confirm_increase : float
        Further growth since the iUPD scan that confirms it (mm), default 5.
    cr_below, response, increase, min_increase, min_measurable : float
        As in :func:`recist`.

    Returns
    -------
    IrecistResult
        Per-scan table, best overall response, time to confirmed progression and the
        pseudoprogression flag.
    """
    import pandas as pd

    lo_w, hi_w = (float(v) for v in confirm_window)
    if not 0 < lo_w <= hi_w:
        raise SpecificationError(f"irecist: confirm_window must be (earliest, latest) days with 0 < earliest <= "
                                 f"latest, got {confirm_window!r}")
    _positive(confirm_increase, "irecist: confirm_increase (mm)", allow_zero=True)
    x = _series(traj, observable, "irecist")
    ts, d = _check_recist_args(traj, scans, observable, "irecist", min_measurable)
    t_end = float(traj.t[-1])
    planned = [(float(t), True) for t in ts]
    rows = []
    base = d[0]
    low = base
    iupd: tuple[float, float] | None = None  # (time, diameter) of the pending iUPD
    confirmed_at: float | None = None
    pseudo = False
    seen_iupd = False
    k = 0
    queue = list(planned)
    while k < len(queue):
        t, sched = queue[k]
        di = float(_values_at(traj, x, np.array([t]))[0])
        if k == 0:
            resp = "baseline"
        elif confirmed_at is not None:
            resp = "iCPD"
        else:
            r = _classify(di, base, low, cr_below=cr_below, response=response, increase=increase,
                          min_increase=min_increase)
            if iupd is None:
                if r == "PD":
                    resp = "iUPD"
                    iupd = (t, di)
                    seen_iupd = True
                    # schedule the confirmation scan if no planned scan falls in the window
                    in_window = [tt for tt, _ in queue[k + 1:] if iupd[0] + lo_w <= tt <= iupd[0] + hi_w]
                    tc = iupd[0] + hi_w
                    if not in_window and tc <= t_end:
                        queue.append((tc, False))
                        queue.sort()
                else:
                    resp = "i" + r
            else:
                if r != "PD":  # progression not sustained: reset
                    resp = "i" + r
                    iupd = None
                elif t - iupd[0] >= lo_w and di - iupd[1] >= confirm_increase:
                    resp = "iCPD"
                    confirmed_at = iupd[0]
                else:  # too early to confirm, or not enough further growth: stays unconfirmed
                    resp = "iUPD"
            if resp in ("iPR", "iCR") and seen_iupd and confirmed_at is None:
                pseudo = True
        rows.append((t, di, 100 * (di / base - 1), float(low), resp, sched))
        if k > 0:
            low = min(low, di)
        k += 1
    tab = pd.DataFrame(rows, columns=["time", "diameter", "change_from_baseline", "nadir", "response", "scheduled"])
    follow = list(tab["response"].iloc[1:])
    upto = follow[: follow.index("iCPD") + 1] if "iCPD" in follow else follow
    best = min(upto, key=_IRECIST_ORDER.index)
    ttp = math.inf if confirmed_at is None else confirmed_at - float(ts[0])
    return IrecistResult(tab, best, ttp, pseudo)


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
from ._recist import RECIST_CATEGORIES, best_percent_change_continuous, recist_arrays, time_to_progression_continuous, values_at  # noqa: F401
# --- end of package API ---
