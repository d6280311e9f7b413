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
* **Scans.** The diameter ``D`` is read at the scan times (exactly at an output
  time, linearly between output times); the first scan is the baseline ``D0``.
* **Response at a follow-up scan**, with ``Dmin`` the nadir (the smallest diameter
  at *earlier* scans, baseline included), checked in this order: PD if
  ``D >= (1 + increase) Dmin`` and ``D - Dmin >= min_increase``; CR if
  ``D < cr_below``; PR if ``D <= (1 - response) D0``; SD otherwise.
* **Best overall response**: the best category (CR > PR > SD > PD) from the first
  follow-up scan up to and including the first PD.
* **Best percent change** (the waterfall plot's bar): the smallest percent change
  from baseline ``100 (D / D0 - 1)`` over the *post-baseline* assessments, i.e. the
  follow-up scans. The baseline scan itself is not an assessment of response, so
  the value is reported even when positive (a tumor that only grew has a positive
  best change). Continuously (no scans), the infimum of the percent change over
  ``(t0, t_end]``: by continuity of a trajectory this is the minimum over
  ``[t0, t_end]``, the nadir's percent change (``<= 0``).
* **Time to progression**: at scans, the time of the first PD scan minus the
  baseline scan's; continuously, the first time ``t > t0`` at which the
  progression condition holds against the running nadir (the smallest value
  before ``t``, baseline included), located by linear interpolation on the grid.
  ``inf`` if none within the horizon.

Units: times in days; diameters in the observable's unit (mm for the lesion
diameter); percent changes in %.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
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
]

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


def classify(d: np.ndarray, base: np.ndarray, low: np.ndarray, *, cr_below: float, response: float,
             increase: float, min_increase: float) -> np.ndarray:
    """RECIST 1.1 response code (:data:`CR`, :data:`PR`, :data:`SD`, :data:`PD`) of diameters at a scan.

    Parameters
    ----------
    d, base, low : numpy.ndarray
        Diameter at the scan, at the baseline scan and the nadir of the earlier scans
        (baseline included), all in the same unit (mm); broadcast together.
    cr_below : float
        Diameter below which the lesion counts as gone (mm).
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
    d, base, low = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (d, base, low)))
    pd_ = (d >= low * (1 + increase)) & (d - low >= min_increase)
    cr = d < cr_below
    pr = d <= base * (1 - response)
    return np.where(pd_, PD, np.where(cr, CR, np.where(pr, PR, SD)))


@dataclass(frozen=True)
class RecistArrays:
    """RECIST 1.1 at the scans of ``b`` patients (see :func:`recist_arrays`).

    Attributes
    ----------
    diameter : numpy.ndarray, shape (s, b)
        Diameter at each scan, baseline first (mm).
    change_from_baseline : numpy.ndarray, shape (s, b)
        ``100 (D / D0 - 1)`` (%); 0 at the baseline scan.
    nadir : numpy.ndarray, shape (s, b)
        Smallest diameter at the earlier scans, baseline included (mm); ``D0`` at
        the baseline scan.
    change_from_nadir : numpy.ndarray, shape (s, b)
        ``100 (D / nadir - 1)`` (%).
    response : numpy.ndarray of int, shape (s - 1, b)
        Response code of each follow-up scan (indexes into :data:`RECIST_CATEGORIES`).
    best : numpy.ndarray of int, shape (b,)
        Best overall response code, up to and including the first PD.
    time_to_progression : numpy.ndarray, shape (b,)
        First PD scan minus the baseline scan (days); ``inf`` if none.
    best_percent_change : numpy.ndarray, shape (b,)
        Smallest change from baseline over the follow-up scans (%), positive if the
        lesion only grew.
    time_to_response : numpy.ndarray, shape (b,)
        First PR/CR scan minus the baseline scan (days); NaN if none.
    duration_of_response : numpy.ndarray, shape (b,)
        First PR/CR scan to the first PD scan after it, or to ``t_end`` if none
        (days); 0 without a response.
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


def recist_arrays(scan_t: np.ndarray, D: np.ndarray, *, t_end: float, cr_below: float = 5.0,
                  response: float = 0.3, increase: float = 0.2, min_increase: float = 5.0) -> RecistArrays:
    """RECIST 1.1 of one target lesion at the scans, for every patient at once.

    Parameters
    ----------
    scan_t : numpy.ndarray, shape (s,)
        Scan times (days, strictly increasing, ``s >= 2``); the first is the baseline scan.
    D : numpy.ndarray, shape (s, b)
        Diameter at each scan, one column per patient (mm; see :func:`values_at`).
    t_end : float
        End of the horizon (days): a response without a later PD lasts until then.
    cr_below, response, increase, min_increase : float
        Thresholds (mm and fractions), see :func:`classify`; defaults are RECIST 1.1's.

    Returns
    -------
    RecistArrays
    """
    ts = np.asarray(scan_t, dtype=float)
    D = as_columns(D)
    base = D[0]
    low = np.vstack([D[:1], np.minimum.accumulate(D, axis=0)[:-1]])  # nadir of the earlier scans
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = 100.0 * (D / base - 1.0)
        pct_nadir = 100.0 * (D / low - 1.0)
    code = classify(D[1:], base, low[1:], cr_below=cr_below, response=response, increase=increase,
                    min_increase=min_increase)  # follow-up scans
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
    return RecistArrays(D, pct, low, pct_nadir, code, best, ttp, pct[1:].min(axis=0), t_first_resp - ts[0], dor)


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


def duration_of_response_continuous(t: np.ndarray, x: np.ndarray, *, response: float = 0.3, increase: float = 0.2,
                                    min_increase: float = 5.0) -> np.ndarray:
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

    Returns
    -------
    numpy.ndarray, shape (b,)
    """
    t = np.asarray(t, dtype=float)
    x = as_columns(x)
    t_end = float(t[-1])
    t_resp = first_crossing(t, (1.0 - response) * x[0] - x)
    ttp = time_to_progression_continuous(t, x, increase=increase, min_increase=min_increase)
    stop = np.where(np.isinf(ttp), t_end, t[0] + ttp)
    stop = np.where(stop < t_resp, t_end, stop)  # progressed before responding: count to the horizon
    return np.where(np.isinf(t_resp), 0.0, np.maximum(stop - t_resp, 0.0))
