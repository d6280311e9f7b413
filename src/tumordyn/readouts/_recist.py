"""The one implementation of the tumor-response readouts, on arrays over patients.

Every readout of tumor response in tumordyn (RECIST 1.1 at scans, best percent
change, time to progression, time to and duration of response) is computed here,
on a time grid ``t`` of shape ``(k,)`` and values ``x`` of shape ``(k, b)``: one
column per patient. The per-trajectory functions of :mod:`tumordyn.readouts` call
these with one column (``b = 1``); :class:`tumordyn.Cohort` calls them with a whole
chunk of patients; :func:`tumordyn.compare` uses the per-trajectory functions. So a
patient's readouts do not depend on which entry point computed them.

Definitions (RECIST 1.1: Eisenhauer et al. 2009, Eur J Cancer 45:228–247)
-------------------------------------------------------------------------
A patient has one or more *lesions*, each with a diameter series ``D`` (mm) and
optionally a tumor-cell series (cells). Values are read at the scan times (exactly
at an output time, linearly between output times); the first scan is the baseline.

* **Detectable.** A lesion is seen on a scan when its tumor cells are at least the
  detectability limit (:data:`DETECTION_LIMIT`, cells); a lesion without a cell
  series is seen while its diameter is > 0.
* **Target lesions**: at baseline, the lesions that are detectable and measurable
  (``D >= min_measurable``, 10 mm on CT), the largest first, at most
  ``max_targets`` (5) in all and ``max_per_organ`` (2) per organ. The other
  lesions detectable at baseline are non-target lesions; the lesions not detectable
  at baseline are the possible *new lesions*.
* **Recorded diameter** of a target lesion at a scan: ``0`` if it is not detectable
  (it has disappeared), :data:`TOO_SMALL` (5 mm) if it is detectable but smaller
  (present but too small to measure), else ``D``. The **sum** ``Σ`` of the recorded
  target diameters is what RECIST follows; ``Σ0`` is its baseline value.
* **Response at a follow-up scan**, with ``Σmin`` the nadir (the smallest sum at
  *earlier* scans, baseline included), checked in this order: PD if
  ``Σ >= (1 + increase) Σmin`` and ``Σ - Σmin >= min_increase``, or a new lesion is
  detectable; CR if no lesion at all (target or non-target) is detectable; PR if
  ``Σ <= (1 - response) Σ0``; SD otherwise. (Unequivocal progression of non-target
  lesions is a radiologist's judgement and is not modelled.)
* **Best overall response**: the best category (CR > PR > SD > PD) from the first
  follow-up scan up to and including the first PD.
* **Best percent change** (the waterfall plot's bar): the smallest percent change
  of the sum from baseline ``100 (Σ / Σ0 - 1)`` over the *post-baseline*
  assessments, i.e. the follow-up scans. The baseline scan itself is not an
  assessment of response, so the value is reported even when positive. Continuously
  (no scans), the infimum of the percent change over ``(t0, t_end]``: by continuity
  of a trajectory this is the minimum over ``[t0, t_end]``, the nadir's percent
  change (``<= 0``).
* **Time to progression**: at scans, the time of the first PD scan minus the
  baseline scan's; continuously, the first time ``t > t0`` at which the
  progression condition holds for the true (not recorded) sum of the target
  diameters against its running nadir (the smallest value before ``t``, baseline
  included), located by linear interpolation on the grid, or a new lesion becomes
  detectable, whichever is first. ``inf`` if none within the horizon.

With one lesion, the sum is that lesion's recorded diameter.

Units: times in days; diameters in the observable's unit (mm for the lesion
diameter); percent changes in %.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "DETECTION_LIMIT",
    "TOO_SMALL",
    "Lesion",
    "LesionReadings",
    "read_lesions",
    "select_targets",
    "RECIST_CATEGORIES",
    "CR",
    "PR",
    "SD",
    "PD",
    "RecistArrays",
    "as_columns",
    "values_at",
    "first_crossing",
    "classify",
    "recist_arrays",
    "best_percent_change_continuous",
    "progression_function",
    "time_to_progression_continuous",
    "duration_of_response_continuous",
    "lesions_time_to_progression_continuous",
    "IRECIST_CATEGORIES",
    "IrecistOutcome",
    "irecist_one",
]

#: Detectability limit of a lesion (tumor cells): fewer cells than this and the lesion is not seen on a
#: scan (it has disappeared, for a complete response). 1e7 cells are 10 mm3 at 1e6 cells/mm3 (Del Monte
#: 2009, Cell Cycle 8:505), a sphere of 2.7 mm: about half the 5 mm CT slice thickness that RECIST 1.1
#: assumes, below which a scan cannot resolve a lesion. An assumption: pass ``detection_limit=`` to change it.
DETECTION_LIMIT = 1e7

#: Diameter recorded for a lesion that is present but too small to measure (mm; RECIST 1.1, Eisenhauer
#: et al. 2009, appendix I: "a default value of 5 mm should be assigned").
TOO_SMALL = 5.0

#: RECIST 1.1 categories, best first; the integer codes below index this tuple.
RECIST_CATEGORIES = ("CR", "PR", "SD", "PD")
CR, PR, SD, PD = 0, 1, 2, 3


def as_columns(x: np.ndarray) -> np.ndarray:
    """Values as a ``(k, b)`` float array: a 1-D series becomes one column."""
    a = np.asarray(x, dtype=float)
    return a[:, None] if a.ndim == 1 else a


def values_at(t: np.ndarray, x: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Values at given times, per column: exact at an output time, linear between output times.

    Parameters
    ----------
    t : numpy.ndarray, shape (k,)
        Output times (days), non-decreasing. At a repeated time (a dose given then)
        the last value, the one after the dose, is taken.
    x : numpy.ndarray, shape (k, b)
        Values at the output times, one column per patient.
    times : numpy.ndarray, shape (s,)
        Times to read (days), within ``[t[0], t[-1]]``.

    Returns
    -------
    numpy.ndarray, shape (s, b)
    """
    t = np.asarray(t, dtype=float)
    x = as_columns(x)
    times = np.asarray(times, dtype=float)
    k = t.size
    idx = np.searchsorted(t, times, side="right") - 1  # last output time <= time
    safe = np.clip(idx, 0, k - 1)
    exact = (idx >= 0) & (t[safe] == times)
    if k == 1:
        return np.repeat(x[:1], times.size, axis=0)
    lo = np.clip(idx, 0, k - 2)
    hi = lo + 1
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.clip((times - t[lo]) / (t[hi] - t[lo]), 0.0, 1.0)
        out = x[lo] + w[:, None] * (x[hi] - x[lo])
    out[exact] = x[safe[exact]]
    return out


def first_crossing(t: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Per column: the first time ``f`` goes from < 0 to >= 0, by linear interpolation.

    Parameters
    ----------
    t : numpy.ndarray, shape (k,)
        Times (days).
    f : numpy.ndarray, shape (k, b)
        Values on the times (NaN counts as < 0).

    Returns
    -------
    numpy.ndarray, shape (b,)
        The crossing time (days): ``t[0]`` if ``f[0] >= 0``; ``t[i]`` when a
        neighbour is not finite or both are equal; ``inf`` if ``f`` never reaches 0.
    """
    t = np.asarray(t, dtype=float)
    f = as_columns(f)
    hit = f >= 0
    any_hit = hit.any(axis=0)
    i = np.argmax(hit, axis=0)
    cols = np.arange(f.shape[1])
    ip = np.maximum(i - 1, 0)
    f0, f1 = f[ip, cols], f[i, cols]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(np.isfinite(f0) & np.isfinite(f1) & (f1 != f0), -f0 / (f1 - f0), 1.0)
        tc = np.where(i == 0, t[0], t[ip] + (t[i] - t[ip]) * frac)
    return np.where(any_hit, tc, np.inf)


@dataclass(frozen=True)
class Lesion:
    """One lesion of a patient, as the RECIST readouts see it.

    Parameters
    ----------
    name : str
        Label (e.g. ``"liver_1"``).
    diameter : str
        State or observable holding its measured longest diameter (mm).
    cells : str, optional
        State or observable holding its tumor cells (cells), for detectability
        (:data:`DETECTION_LIMIT`); ``None``: the lesion is seen while its diameter
        is > 0.
    organ : str, optional
        Organ label (at most ``max_per_organ`` target lesions per organ); default:
        ``name`` without a trailing ``_<digits>`` (``"liver_2"`` -> ``"liver"``).
    """

    name: str
    diameter: str
    cells: str | None = None
    organ: str | None = None

    def __post_init__(self) -> None:
        """Validate the names; default the organ."""
        for f in ("name", "diameter"):
            if not isinstance(getattr(self, f), str) or not getattr(self, f):
                raise TypeError(f"Lesion: {f} must be a non-empty str, got {getattr(self, f)!r}")
        if self.cells is not None and not isinstance(self.cells, str):
            raise TypeError(f"Lesion {self.name!r}: cells must be a str or None, got {self.cells!r}")
        if self.organ is None:
            base, sep, tail = self.name.rpartition("_")
            object.__setattr__(self, "organ", base if sep and base and tail.isdigit() else self.name)
        elif not isinstance(self.organ, str):
            raise TypeError(f"Lesion {self.name!r}: organ must be a str, got {self.organ!r}")


def _as_lesion_array(D: np.ndarray) -> np.ndarray:
    """Diameters as ``(s, L, b)``: a ``(s,)`` or ``(s, b)`` array is one lesion."""
    a = np.asarray(D, dtype=float)
    if a.ndim == 1:
        return a[:, None, None]
    if a.ndim == 2:
        return a[:, None, :]
    return a


def select_targets(D0: np.ndarray, present0: np.ndarray, organs: tuple[str, ...] | None = None, *,
                   min_measurable: float = 10.0, max_targets: int = 5, max_per_organ: int = 2) -> np.ndarray:
    """RECIST 1.1 target lesions at baseline, per patient: the largest measurable ones.

    Parameters
    ----------
    D0 : numpy.ndarray, shape (L, b)
        Baseline diameters (mm), one row per lesion.
    present0 : numpy.ndarray of bool, shape (L, b)
        Whether each lesion is detectable at baseline.
    organs : tuple of str, optional
        Organ of each lesion (default: each lesion its own organ).
    min_measurable : float
        Smallest measurable baseline diameter (mm).
    max_targets, max_per_organ : int
        At most this many target lesions in all and per organ (RECIST 1.1: 5 and 2).

    Returns
    -------
    numpy.ndarray of bool, shape (L, b)
        ``True`` for a target lesion. Ties in size go to the lesion listed first.
    """
    D0 = np.asarray(D0, dtype=float)
    L, b = D0.shape
    organs = tuple(str(i) for i in range(L)) if organs is None else tuple(organs)
    _, organ_id = np.unique(np.asarray(organs, dtype=object).astype(str), return_inverse=True)
    organ_id = organ_id.reshape(-1)
    ok = np.asarray(present0, dtype=bool) & np.isfinite(D0) & (D0 >= min_measurable)
    key = np.where(ok, D0, -np.inf)
    order = np.argsort(-key, axis=0, kind="stable")  # largest first, ties by listing order
    cols = np.arange(b)
    target = np.zeros((L, b), dtype=bool)
    per_organ = np.zeros((int(organ_id.max()) + 1 if L else 0, b), dtype=int)
    total = np.zeros(b, dtype=int)
    for rank in range(L):  # bounded: one pass per lesion
        i = order[rank]
        org = organ_id[i]
        take = ok[i, cols] & (total < max_targets) & (per_organ[org, cols] < max_per_organ)
        target[i[take], cols[take]] = True
        per_organ[org[take], cols[take]] += 1
        total += take
    return target


@dataclass(frozen=True)
class LesionReadings:
    """Lesions read at scans (see :func:`read_lesions`); arrays over scans ``s`` and patients ``b``.

    Attributes
    ----------
    sum_diameters : numpy.ndarray, shape (s, b)
        Sum of the recorded diameters of the target lesions (mm).
    gone : numpy.ndarray of bool, shape (s, b)
        No lesion (target, non-target or new) is detectable.
    new_lesions : numpy.ndarray of int, shape (s, b)
        Number of new lesions (not detectable at baseline) detectable at the scan.
    new_sum : numpy.ndarray, shape (s, b)
        Sum of the recorded diameters of those new lesions (mm).
    recorded : numpy.ndarray, shape (s, L, b)
        Recorded diameter of every lesion (mm): 0 if not detectable, at least
        :data:`TOO_SMALL` if detectable.
    target, present0 : numpy.ndarray of bool, shape (L, b)
        Target lesions; lesions detectable at baseline.
    measurable : numpy.ndarray of bool, shape (b,)
        The patient has at least one target lesion.
    """

    sum_diameters: np.ndarray
    gone: np.ndarray
    new_lesions: np.ndarray
    new_sum: np.ndarray
    recorded: np.ndarray
    target: np.ndarray
    present0: np.ndarray
    measurable: np.ndarray


def detectable(D: np.ndarray, cells: np.ndarray | None, detection_limit: float = DETECTION_LIMIT) -> np.ndarray:
    """Whether lesions are seen: tumor cells ``>= detection_limit``, or diameter > 0 without a cell series.

    ``cells`` may hold NaN for a lesion without a cell series (then the diameter decides).
    """
    D = np.asarray(D, dtype=float)
    if cells is None:
        return D > 0
    c = np.asarray(cells, dtype=float)
    return np.where(np.isnan(c), D > 0, c >= detection_limit)


def read_lesions(D: np.ndarray, cells: np.ndarray | None = None, organs: tuple[str, ...] | None = None, *,
                 target: np.ndarray | None = None, present0: np.ndarray | None = None,
                 detection_limit: float = DETECTION_LIMIT, too_small: float = TOO_SMALL,
                 min_measurable: float = 10.0, max_targets: int = 5, max_per_organ: int = 2) -> LesionReadings:
    """Read lesions at scans the RECIST 1.1 way: targets, recorded diameters, their sum, new lesions.

    Parameters
    ----------
    D : numpy.ndarray, shape (s, L, b), or (s, b) for one lesion
        Diameter of each lesion at each scan (mm), baseline scan first.
    cells : numpy.ndarray, same shape as ``D``, optional
        Tumor cells of each lesion (cells); NaN or ``None``: use ``D > 0``.
    organs : tuple of str, optional
        Organ of each lesion.
    target, present0 : numpy.ndarray of bool, shape (L, b), optional
        Target lesions and lesions detectable at baseline, when the first row of
        ``D`` is not the baseline (e.g. an added confirmation scan); default: from
        the first row.
    detection_limit : float
        Tumor cells from which a lesion is seen (cells).
    too_small : float
        Diameter recorded for a detectable lesion smaller than this (mm).
    min_measurable, max_targets, max_per_organ
        Target selection, see :func:`select_targets`.

    Returns
    -------
    LesionReadings
    """
    D = _as_lesion_array(D)
    C = None if cells is None else _as_lesion_array(cells)
    det = detectable(D, C, detection_limit)
    if present0 is None:
        present0 = det[0]
    if target is None:
        target = select_targets(D[0], present0, organs, min_measurable=min_measurable, max_targets=max_targets,
                                max_per_organ=max_per_organ)
    rec = np.where(det, np.maximum(D, too_small), 0.0)
    rec = np.where(np.isnan(D), np.nan, rec)
    new = det & ~present0[None]
    return LesionReadings(
        sum_diameters=np.where(target[None], rec, 0.0).sum(axis=1),
        gone=~det.any(axis=1),
        new_lesions=new.sum(axis=1),
        new_sum=np.where(new, rec, 0.0).sum(axis=1),
        recorded=rec,
        target=target,
        present0=present0,
        measurable=target.any(axis=0),
    )


def classify(d: np.ndarray, base: np.ndarray, low: np.ndarray, *, gone: np.ndarray | bool = False,
             new: np.ndarray | int = 0, response: float, increase: float, min_increase: float) -> np.ndarray:
    """RECIST 1.1 response code (:data:`CR`, :data:`PR`, :data:`SD`, :data:`PD`) at a scan.

    Parameters
    ----------
    d, base, low : numpy.ndarray
        Sum of the recorded target diameters at the scan, at the baseline scan and
        its nadir over the earlier scans (baseline included), all in mm; broadcast
        together.
    gone : numpy.ndarray of bool
        No lesion is detectable (complete response unless PD).
    new : numpy.ndarray of int
        Number of new lesions detectable (any is PD).
    response : float
        Fractional decrease from baseline for PR.
    increase : float
        Fractional increase over the nadir for PD.
    min_increase : float
        Absolute increase over the nadir also required for PD (mm).

    Returns
    -------
    numpy.ndarray of int
        The codes, indexes into :data:`RECIST_CATEGORIES`.
    """
    d, base, low, gone, new = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (d, base, low)),
                                                  np.asarray(gone, dtype=bool), np.asarray(new))
    pd_ = ((d >= low * (1 + increase)) & (d - low >= min_increase)) | (new > 0)
    pr = d <= base * (1 - response)
    return np.where(pd_, PD, np.where(gone, CR, np.where(pr, PR, SD)))


@dataclass(frozen=True)
class RecistArrays:
    """RECIST 1.1 at the scans of ``b`` patients (see :func:`recist_arrays`).

    Attributes
    ----------
    diameter : numpy.ndarray, shape (s, b)
        Sum of the recorded target-lesion diameters at each scan, baseline first
        (mm; one lesion: its recorded diameter).
    change_from_baseline : numpy.ndarray, shape (s, b)
        ``100 (Σ / Σ0 - 1)`` (%); 0 at the baseline scan.
    nadir : numpy.ndarray, shape (s, b)
        Smallest sum at the earlier scans, baseline included (mm); ``Σ0`` at the
        baseline scan.
    change_from_nadir : numpy.ndarray, shape (s, b)
        ``100 (Σ / nadir - 1)`` (%).
    response : numpy.ndarray of int, shape (s - 1, b)
        Response code of each follow-up scan (indexes into :data:`RECIST_CATEGORIES`).
    best : numpy.ndarray of int, shape (b,)
        Best overall response code, up to and including the first PD.
    time_to_progression : numpy.ndarray, shape (b,)
        First PD scan minus the baseline scan (days); ``inf`` if none.
    best_percent_change : numpy.ndarray, shape (b,)
        Smallest change from baseline over the follow-up scans (%), positive if the
        sum only grew.
    time_to_response : numpy.ndarray, shape (b,)
        First PR/CR scan minus the baseline scan (days); NaN if none.
    duration_of_response : numpy.ndarray, shape (b,)
        First PR/CR scan to the first PD scan after it, or to ``t_end`` if none
        (days); 0 without a response.
    new_lesions : numpy.ndarray of int, shape (s, b)
        New lesions detectable at each scan (0 at baseline).
    lesions : LesionReadings
        The readings behind the sums (targets, recorded diameters).
    """

    diameter: np.ndarray
    change_from_baseline: np.ndarray
    nadir: np.ndarray
    change_from_nadir: np.ndarray
    response: np.ndarray
    best: np.ndarray
    time_to_progression: np.ndarray
    best_percent_change: np.ndarray
    time_to_response: np.ndarray
    duration_of_response: np.ndarray
    new_lesions: np.ndarray
    lesions: LesionReadings


def recist_arrays(scan_t: np.ndarray, D: np.ndarray, *, t_end: float, cells: np.ndarray | None = None,
                  organs: tuple[str, ...] | None = None, detection_limit: float = DETECTION_LIMIT,
                  too_small: float = TOO_SMALL, response: float = 0.3, increase: float = 0.2,
                  min_increase: float = 5.0, min_measurable: float = 10.0, max_targets: int = 5,
                  max_per_organ: int = 2) -> RecistArrays:
    """RECIST 1.1 of the lesions at the scans, for every patient at once.

    Parameters
    ----------
    scan_t : numpy.ndarray, shape (s,)
        Scan times (days, strictly increasing, ``s >= 2``); the first is the baseline scan.
    D : numpy.ndarray, shape (s, L, b), or (s, b) for one lesion
        Diameter of each lesion at each scan, one column per patient (mm; see :func:`values_at`).
    t_end : float
        End of the horizon (days): a response without a later PD lasts until then.
    cells : numpy.ndarray, same shape as ``D``, optional
        Tumor cells of each lesion at each scan, for detectability.
    organs : tuple of str, optional
        Organ of each lesion (target selection).
    detection_limit, too_small : float
        Detectability (cells) and the diameter recorded for a lesion too small to
        measure (mm), see :func:`read_lesions`.
    response, increase, min_increase : float
        Thresholds (fractions and mm), see :func:`classify`; defaults are RECIST 1.1's.
    min_measurable, max_targets, max_per_organ
        Target selection, see :func:`select_targets`. A patient without a target
        lesion gets a zero sum (callers report such a patient not evaluable).

    Returns
    -------
    RecistArrays
    """
    ts = np.asarray(scan_t, dtype=float)
    les = read_lesions(D, cells, organs, detection_limit=detection_limit, too_small=too_small,
                       min_measurable=min_measurable, max_targets=max_targets, max_per_organ=max_per_organ)
    S = les.sum_diameters
    base = S[0]
    low = np.vstack([S[:1], np.minimum.accumulate(S, axis=0)[:-1]])  # nadir of the earlier scans
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = 100.0 * (S / base - 1.0)
        pct_nadir = 100.0 * (S / low - 1.0)
    code = classify(S[1:], base, low[1:], gone=les.gone[1:], new=les.new_lesions[1:], response=response,
                    increase=increase, min_increase=min_increase)  # follow-up scans
    n_follow = code.shape[0]
    rows = np.arange(n_follow)[:, None]
    pdf = code == PD
    has_pd = pdf.any(axis=0)
    first_pd = np.where(has_pd, np.argmax(pdf, axis=0), n_follow - 1)
    best = np.where(rows <= first_pd[None, :], code, PD + 1).min(axis=0)
    follow_t = ts[1:]
    ttp = np.where(has_pd, follow_t[first_pd] - ts[0], np.inf)
    resp = code <= PR
    has_resp = resp.any(axis=0)
    first_resp = np.argmax(resp, axis=0)
    t_first_resp = np.where(has_resp, follow_t[first_resp], np.nan)
    after = pdf & (rows > first_resp[None, :])
    pd_after = after.any(axis=0)
    stop = np.where(pd_after, follow_t[np.argmax(after, axis=0)], float(t_end))
    dor = np.where(has_resp, stop - t_first_resp, 0.0)
    return RecistArrays(S, pct, low, pct_nadir, code, best, ttp, pct[1:].min(axis=0), t_first_resp - ts[0], dor,
                        les.new_lesions, les)


def best_percent_change_continuous(x: np.ndarray) -> np.ndarray:
    """Best percent change on the output grid (%), per column: ``100 (min x / x[0] - 1)``.

    The infimum of the percent change over ``(t0, t_end]``, which for a continuous
    trajectory is its minimum over ``[t0, t_end]`` (the nadir's percent change,
    ``<= 0``). The scan-based best change, :func:`recist_arrays`, excludes the
    baseline scan instead, since scans are discrete assessments.

    Parameters
    ----------
    x : numpy.ndarray, shape (k, b)
        Values on the output grid, baseline first.

    Returns
    -------
    numpy.ndarray, shape (b,)
    """
    x = as_columns(x)
    i = np.argmin(x, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 100.0 * (x[i, np.arange(x.shape[1])] / x[0] - 1.0)


def progression_function(x: np.ndarray, increase: float, min_increase: float) -> np.ndarray:
    """``f(t) >= 0`` where ``x(t)`` has progressed against the running nadir (smallest value before ``t``).

    ``f = x - max((1 + increase) nadir, nadir + min_increase)``; ``f[0] = -1`` (the
    baseline cannot be a progression). Shape ``(k, b)``.
    """
    x = as_columns(x)
    run_min = np.minimum.accumulate(x, axis=0)
    prev = np.vstack([x[:1], run_min[:-1]])
    f = x - np.maximum(prev * (1.0 + increase), prev + min_increase)
    f[0] = -1.0
    return f


def time_to_progression_continuous(t: np.ndarray, x: np.ndarray, *, increase: float = 0.2,
                                   min_increase: float = 5.0) -> np.ndarray:
    """Continuous time to progression (days from ``t[0]``), per column; ``inf`` if none.

    Parameters
    ----------
    t : numpy.ndarray, shape (k,)
        Output times (days).
    x : numpy.ndarray, shape (k, b)
        Diameter-like values (e.g. mm).
    increase, min_increase : float
        Relative and absolute (the values' unit) increase over the running nadir.

    Returns
    -------
    numpy.ndarray, shape (b,)
    """
    t = np.asarray(t, dtype=float)
    return first_crossing(t, progression_function(x, increase, min_increase)) - t[0]


def lesions_time_to_progression_continuous(t: np.ndarray, D: np.ndarray, cells: np.ndarray | None,
                                           target: np.ndarray, present0: np.ndarray, *,
                                           detection_limit: float = DETECTION_LIMIT, increase: float = 0.2,
                                           min_increase: float = 5.0) -> np.ndarray:
    """Continuous time to progression of several lesions (days from ``t[0]``), per patient; ``inf`` if none.

    The first of: the true sum of the target diameters progressing against its
    running nadir (:func:`time_to_progression_continuous`), and a lesion not
    detectable at baseline becoming detectable (its cells crossing
    ``detection_limit``, located by linear interpolation).

    Parameters
    ----------
    t : numpy.ndarray, shape (k,)
        Output times (days).
    D, cells : numpy.ndarray, shape (k, L, b)
        Diameters (mm) and tumor cells (cells; NaN or ``None``: the diameter decides).
    target, present0 : numpy.ndarray of bool, shape (L, b)
        Target lesions and lesions detectable at baseline (:func:`read_lesions`).
    detection_limit, increase, min_increase : float
        As in :func:`recist_arrays`.

    Returns
    -------
    numpy.ndarray, shape (b,)
    """
    t = np.asarray(t, dtype=float)
    D = _as_lesion_array(D)
    total = np.where(target[None], D, 0.0).sum(axis=1)
    ttp = time_to_progression_continuous(t, total, increase=increase, min_increase=min_increase)
    cand = ~present0
    if cand.any():
        k, L, b = D.shape
        if cells is None:
            f = np.where(D > 0, 1.0, -1.0)  # seen once its diameter is > 0
        else:
            C = _as_lesion_array(cells)
            f = np.where(np.isnan(C), np.where(D > 0, 1.0, -1.0), C - detection_limit)
        f = np.where(cand[None], f, -1.0).reshape(k, L * b)
        first = first_crossing(t, f).reshape(L, b).min(axis=0) - t[0]
        ttp = np.minimum(ttp, first)
    return ttp


def duration_of_response_continuous(t: np.ndarray, x: np.ndarray, *, response: float = 0.3, increase: float = 0.2,
                                    min_increase: float = 5.0, ttp: np.ndarray | None = None) -> np.ndarray:
    """Continuous duration of response (days), per column.

    From the first time ``x <= (1 - response) x[0]`` to the first progression
    (:func:`time_to_progression_continuous`), or to ``t[-1]`` if there is none or it
    came before the response; 0 without a response.

    Parameters
    ----------
    t : numpy.ndarray, shape (k,)
        Output times (days).
    x : numpy.ndarray, shape (k, b)
        Diameter-like values.
    response, increase, min_increase : float
        Thresholds, as in :func:`recist_arrays`.
    ttp : numpy.ndarray, shape (b,), optional
        Times to progression (days from ``t[0]``) to use instead of the one of ``x``
        (several lesions: :func:`lesions_time_to_progression_continuous`).

    Returns
    -------
    numpy.ndarray, shape (b,)
    """
    t = np.asarray(t, dtype=float)
    x = as_columns(x)
    t_end = float(t[-1])
    t_resp = first_crossing(t, (1.0 - response) * x[0] - x)
    if ttp is None:
        ttp = time_to_progression_continuous(t, x, increase=increase, min_increase=min_increase)
    stop = np.where(np.isinf(ttp), t_end, t[0] + ttp)
    stop = np.where(stop < t_resp, t_end, stop)  # progressed before responding: count to the horizon
    return np.where(np.isinf(t_resp), 0.0, np.maximum(stop - t_resp, 0.0))


#: iRECIST categories, best first (Seymour et al. 2017, Lancet Oncol 18:e143–e152).
IRECIST_CATEGORIES = ("iCR", "iPR", "iSD", "iUPD", "iCPD")


@dataclass(frozen=True)
class IrecistOutcome:
    """iRECIST of one patient (see :func:`irecist_one`).

    Attributes
    ----------
    rows : tuple of tuple
        One per scan (added confirmation scans included): time (days), sum of
        recorded target diameters (mm), change from baseline (%), nadir (mm),
        response (``"baseline"`` or an :data:`IRECIST_CATEGORIES` entry), scheduled
        (bool), new lesions (count).
    best : str
        Best response up to the first iCPD.
    time_to_progression : float
        From the baseline scan to the iUPD later confirmed (days); ``inf`` if none.
    pseudoprogression : bool
        An iUPD followed by iPR/iCR without an iCPD in between.
    """

    rows: tuple[tuple[float, float, float, float, str, bool, int], ...]
    best: str
    time_to_progression: float
    pseudoprogression: bool


def irecist_one(scan_t: np.ndarray, values: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]], *,
                t_end: float, organs: tuple[str, ...] | None = None, confirm_window: tuple[float, float] = (28.0, 56.0),
                confirm_increase: float = 5.0, detection_limit: float = DETECTION_LIMIT, too_small: float = TOO_SMALL,
                response: float = 0.3, increase: float = 0.2, min_increase: float = 5.0,
                min_measurable: float = 10.0, max_targets: int = 5, max_per_organ: int = 2,
                planned: tuple[LesionReadings, int] | None = None) -> IrecistOutcome:
    """iRECIST of one patient on the RECIST 1.1 basis of :func:`recist_arrays` (Seymour et al. 2017).

    The RECIST 1.1 response of each scan applies, with the first progression
    *unconfirmed* (iUPD). It is confirmed (iCPD) at a scan at least
    ``confirm_window[0]`` days after the iUPD scan that still meets PD and shows
    further progression since the iUPD scan: the sum of the target diameters grew by
    at least ``confirm_increase`` mm more, or the sum of the new lesions' diameters
    grew by at least ``confirm_increase`` mm, or another new lesion appeared. The
    confirmation scan is the first planned scan in the window; if none falls in it,
    one is added at the end of the window (if within the horizon). A scan that no
    longer meets PD resets the status (the next progression is again an iUPD). A
    response (iPR or iCR) after an iUPD, without an iCPD, is a pseudoprogression.

    Parameters
    ----------
    scan_t : numpy.ndarray, shape (s,)
        Planned scan times (days), the baseline scan first.
    values : callable
        ``values(times)`` returns the diameters ``(len(times), L)`` (mm) and the
        tumor cells ``(len(times), L)`` (or ``None``) of the patient's lesions.
    t_end : float
        End of the horizon (days): no scan is added after it.
    organs, confirm_window, confirm_increase, detection_limit, too_small, response, increase, min_increase,
    min_measurable, max_targets, max_per_organ
        As in :func:`recist_arrays`; the window in days, the increase in mm.
    planned : tuple of (LesionReadings, int), optional
        The readings at the planned scans (:func:`read_lesions` on ``scan_t`` for a
        batch of patients) and this patient's column in them: planned scans are
        then looked up and ``values`` is called only for added confirmation scans
        (what :class:`tumordyn.Cohort` does). Same result.

    Returns
    -------
    IrecistOutcome
    """
    lo_w, hi_w = confirm_window
    ts = np.asarray(scan_t, dtype=float)
    if planned is None:
        D0, C0 = values(ts[:1])
        base_read = read_lesions(np.asarray(D0)[:, :, None], None if C0 is None else np.asarray(C0)[:, :, None],
                                 organs, detection_limit=detection_limit, too_small=too_small,
                                 min_measurable=min_measurable, max_targets=max_targets, max_per_organ=max_per_organ)
        target, present0 = base_read.target, base_read.present0
        base_sum = float(base_read.sum_diameters[0, 0])
        known: dict[float, tuple[float, bool, int, float]] = {}
    else:
        pr, j = planned
        target, present0 = pr.target[:, j:j + 1], pr.present0[:, j:j + 1]
        base_sum = float(pr.sum_diameters[0, j])
        known = {float(t): (float(pr.sum_diameters[i, j]), bool(pr.gone[i, j]), int(pr.new_lesions[i, j]),
                            float(pr.new_sum[i, j])) for i, t in enumerate(ts)}

    def read(t: float) -> tuple[float, bool, int, float]:
        if t in known:
            return known[t]
        D, C = values(np.array([t]))
        r = read_lesions(np.asarray(D)[:, :, None], None if C is None else np.asarray(C)[:, :, None],
                         target=target, present0=present0, detection_limit=detection_limit, too_small=too_small)
        return (float(r.sum_diameters[0, 0]), bool(r.gone[0, 0]), int(r.new_lesions[0, 0]),
                float(r.new_sum[0, 0]))

    queue = [(float(t), True) for t in ts]
    rows = []
    base = low = base_sum
    iupd: tuple[float, float, int, float] | None = None  # time, sum, new lesions, new sum of the pending iUPD
    confirmed_at: float | None = None
    pseudo = seen_iupd = False
    k = 0
    while k < len(queue):  # bounded: at most one scan is added per planned scan
        t, sched = queue[k]
        total, gone, n_new, new_sum = read(t)
        if k == 0:
            resp = "baseline"
        elif confirmed_at is not None:
            resp = "iCPD"
        else:
            r = RECIST_CATEGORIES[int(classify(total, base, low, gone=gone, new=n_new, response=response,
                                               increase=increase, min_increase=min_increase))]
            if iupd is None:
                if r == "PD":
                    resp = "iUPD"
                    iupd = (t, total, n_new, new_sum)
                    seen_iupd = True
                    in_window = [tt for tt, _ in queue[k + 1:] if t + lo_w <= tt <= t + hi_w]
                    if not in_window and t + hi_w <= t_end:
                        queue.append((t + hi_w, False))
                        queue.sort()
                else:
                    resp = "i" + r
            elif r != "PD":  # progression not sustained: reset
                resp = "i" + r
                iupd = None
            elif t - iupd[0] >= lo_w and (total - iupd[1] >= confirm_increase or n_new > iupd[2]
                                          or new_sum - iupd[3] >= confirm_increase):
                resp = "iCPD"
                confirmed_at = iupd[0]
            else:  # too early to confirm, or no further progression: stays unconfirmed
                resp = "iUPD"
            if resp in ("iPR", "iCR") and seen_iupd and confirmed_at is None:
                pseudo = True
        pct = 100.0 * (total / base - 1.0) if base > 0 else math.nan
        rows.append((t, total, pct, low, resp, sched, n_new))
        if k > 0:
            low = min(low, total)
        k += 1
    follow = [r[4] for r in rows[1:]]
    upto = follow[: follow.index("iCPD") + 1] if "iCPD" in follow else follow
    best = min(upto, key=IRECIST_CATEGORIES.index)
    ttp = math.inf if confirmed_at is None else confirmed_at - float(ts[0])
    return IrecistOutcome(tuple(rows), best, ttp, pseudo)
