"""Clinical plots of a virtual cohort: waterfall, Kaplan–Meier, spider and swimmer.

Every function imports matplotlib inside (importing tumordyn stays fast and
headless), accepts ``ax=`` (a new figure is made if omitted) and returns the axes.
They take plain arrays, so they also serve for data that did not come from
:class:`tumordyn.Cohort`; :class:`tumordyn.cohorts.CohortResult` has shortcuts
(``result.waterfall()``, ``result.plot_kaplan_meier()``, ``result.spider()``,
``result.swimmer()``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["RESPONSE_COLORS", "waterfall", "km_plot", "number_at_risk", "spider", "swimmer"]

#: Colors of the RECIST categories.
RESPONSE_COLORS = {"CR": "#1a9850", "PR": "#91cf60", "SD": "#fee08b", "PD": "#d73027", "NE": "#bdbdbd"}


def _axes(ax: Any) -> Any:
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(7, 4))
    return ax


def _bor_legend(ax: Any, categories: np.ndarray, extra: list[Any] | None = None) -> None:
    """Legend of the best-overall-response colors present (in RECIST order), then ``extra`` handles."""
    from matplotlib.patches import Patch

    present = [k for k in RESPONSE_COLORS if np.any(categories == k)]
    handles = [Patch(color=RESPONSE_COLORS[k], label=k) for k in present] + list(extra or [])
    ax.legend(handles=handles, loc="best", fontsize=7)


def _subset(n: int, n_patients: int | None, seed: int) -> np.ndarray:
    if n_patients is None or n_patients >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=n_patients, replace=False))


def waterfall(
    best_percent_change: Any,
    category: Any,
    *,
    ax: Any = None,
    title: str | None = None,
    clip: float = 100.0,
) -> Any:
    """Waterfall plot: best percent change from baseline per patient, sorted.

    One bar per patient (worst on the left, best on the right), colored by the
    RECIST best overall response, with dashed lines at +20% (progression) and
    −30% (partial response). Patients without a value (failed, not evaluable)
    are left out.

    Parameters
    ----------
    best_percent_change : array_like
        Best change of the measured diameter from baseline per patient (%).
    category : array_like of str
        Best overall response per patient (``"CR"``, ``"PR"``, ``"SD"``, ``"PD"``, ``"NE"``).
    ax : matplotlib.axes.Axes, optional
        Where to draw.
    title : str, optional
        Axes title.
    clip : float, optional
        Bars are clipped at ``+clip`` % (default 100) so a few fast progressors do
        not flatten the plot.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.patches import Patch

    ax = _axes(ax)
    v = np.asarray(best_percent_change, dtype=float)
    c = np.asarray(category, dtype=object)
    ok = np.isfinite(v)
    v, c = v[ok], c[ok]
    order = np.argsort(-v, kind="stable")
    v, c = np.minimum(v[order], clip), c[order]
    ax.bar(np.arange(v.size), v, width=1.0, color=[RESPONSE_COLORS.get(x, "#bdbdbd") for x in c], linewidth=0)
    ax.axhline(20, color="k", ls="--", lw=0.8)
    ax.axhline(-30, color="k", ls="--", lw=0.8)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xlim(-0.5, max(v.size, 1) - 0.5)
    ax.set_xlabel("patients (sorted)")
    ax.set_ylabel("best change from baseline (%)")
    present = [k for k in RESPONSE_COLORS if np.any(c == k)]
    ax.legend(handles=[Patch(color=RESPONSE_COLORS[k], label=k) for k in present], loc="upper right", fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def number_at_risk(km: Any, times: Any) -> np.ndarray:
    """Numbers at risk of a Kaplan–Meier estimate at given times: subjects still followed, event-free.

    Parameters
    ----------
    km : KaplanMeier
        The estimate (its ``table`` has ``time``, ``events`` and ``censored``).
    times : array_like
        Times (the estimate's unit, days).

    Returns
    -------
    numpy.ndarray of int
        At each time ``t``: the subjects whose event or censoring time is ``>= t`` (the risk set of
        the estimator at ``t``).
    """
    tab = km.table
    tt = tab["time"].to_numpy()
    gone = (tab["events"].to_numpy() + tab["censored"].to_numpy()).astype(np.int64)
    q = np.asarray(times, dtype=float)
    left = np.array([gone[tt < x].sum() for x in q.ravel()], dtype=np.int64)
    return (int(km.n) - left).reshape(q.shape)


_LINESTYLES = ("-", "--", "-.", ":")


def km_plot(
    estimates: Mapping[str, Any],
    *,
    ax: Any = None,
    band: bool = True,
    title: str | None = "Time to progression",
    months: bool = False,
    at_risk: bool = True,
    risk_times: Any = None,
) -> Any:
    """Kaplan–Meier curves (step functions) with confidence bands, censoring ticks and numbers at risk.

    Every arm gets its own color and line style (so arms stay distinguishable in grey print), a
    legend entry with its median, and, with ``at_risk``, a row of numbers at risk under the time axis
    (as in a trial publication); each of those texts has the gid ``"at_risk:<arm>:<time>"``.

    Parameters
    ----------
    estimates : mapping of str to KaplanMeier
        Estimates by label (e.g. ``result.kaplan_meier()``).
    ax : matplotlib.axes.Axes, optional
        Where to draw.
    band : bool, optional
        Shade the pointwise confidence band (default True).
    title : str, optional
        Axes title.
    months : bool, optional
        Time axis in months (30.4375 days) instead of days.
    at_risk : bool, optional
        Write the numbers at risk under the axis (default True).
    risk_times : array_like, optional
        Times of the numbers at risk, in days (default: the axis's major ticks within the data).

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.transforms import blended_transform_factory

    ax = _axes(ax)
    scale = 1 / 30.4375 if months else 1.0
    colors = {}
    t_max = 0.0
    for k, (label, km) in enumerate(estimates.items()):
        tab = km.table
        t = np.concatenate([[0.0], tab["time"].to_numpy()]) * scale
        t_max = max(t_max, float(t[-1]))
        s = np.concatenate([[1.0], tab["survival"].to_numpy()])
        med = "not reached" if not np.isfinite(km.median) else f"{km.median * scale:.1f}"
        (line,) = ax.step(t, s, where="post", ls=_LINESTYLES[k % len(_LINESTYLES)], lw=1.6,
                          label=f"{label} (median {med})")
        colors[label] = line.get_color()
        if band:
            lo = np.concatenate([[1.0], tab["lower"].to_numpy()])
            hi = np.concatenate([[1.0], tab["upper"].to_numpy()])
            ax.fill_between(t, lo, hi, step="post", alpha=0.15, color=line.get_color(), linewidth=0)
        cens = tab["censored"].to_numpy() > 0
        if np.any(cens):
            ax.plot(tab["time"].to_numpy()[cens] * scale, tab["survival"].to_numpy()[cens], "|",
                    color=line.get_color(), ms=8)
    ax.set_ylim(0, 1.02)
    ax.set_xlim(0, max(t_max, 1e-9) * 1.02)
    ax.set_xlabel("months" if months else "days")
    ax.set_ylabel("progression-free (fraction)")
    ax.legend(fontsize=8, loc="upper right")
    if title:
        ax.set_title(title)
    if at_risk and estimates:
        if risk_times is None:
            ticks = np.asarray(ax.get_xticks(), dtype=float)
            xs = ticks[(ticks >= 0) & (ticks <= t_max * 1.0001)]
        else:
            xs = np.asarray(risk_times, dtype=float).ravel() * scale
        trans = blended_transform_factory(ax.transData, ax.transAxes)
        ax.text(-0.05, -0.2, "At risk", transform=ax.transAxes, ha="right", va="top", fontsize=7,
                fontweight="bold")
        for i, (label, km) in enumerate(estimates.items()):
            y = -0.2 - 0.07 * (i + 1)
            ax.text(-0.05, y, str(label), transform=ax.transAxes, ha="right", va="top", fontsize=7,
                    color=colors[label])
            for x, nr in zip(xs, number_at_risk(km, xs / scale)):
                txt = ax.text(x, y, str(int(nr)), transform=trans, ha="center", va="top", fontsize=7,
                              color=colors[label])
                txt.set_gid(f"at_risk:{label}:{x / scale:g}")
    return ax


def spider(
    times: Any,
    percent_change: Any,
    category: Any,
    *,
    ax: Any = None,
    n_patients: int | None = 30,
    seed: int = 0,
    title: str | None = None,
) -> Any:
    """Spider plot: percent change from baseline over time, one line per patient.

    Parameters
    ----------
    times : array_like, shape (s,)
        Scan times (days).
    percent_change : array_like, shape (s, n)
        Change of the measured diameter from baseline at each scan (%).
    category : array_like of str, shape (n,)
        Best overall response per patient (line color).
    ax : matplotlib.axes.Axes, optional
        Where to draw.
    n_patients : int or None, optional
        Draw a seeded random subset of this many patients (default 30; ``None``: all).
    seed : int, optional
        Seed of the subset.
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax)
    t = np.asarray(times, dtype=float)
    pc = np.asarray(percent_change, dtype=float)
    c = np.asarray(category, dtype=object)
    for j in _subset(pc.shape[1], n_patients, seed):
        if np.all(np.isnan(pc[:, j])):
            continue
        ax.plot(t, pc[:, j], "-o", ms=2.5, lw=1.0, color=RESPONSE_COLORS.get(c[j], "#bdbdbd"), alpha=0.85)
    ax.axhline(20, color="k", ls="--", lw=0.8)
    ax.axhline(-30, color="k", ls="--", lw=0.8)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xlabel("days from treatment start")
    ax.set_ylabel("change from baseline (%)")
    _bor_legend(ax, c)
    if title:
        ax.set_title(title)
    return ax


def swimmer(
    time_to_progression: Any,
    time_to_response: Any,
    category: Any,
    *,
    t_end: float,
    ax: Any = None,
    n_patients: int | None = 30,
    seed: int = 0,
    title: str | None = None,
) -> Any:
    """Swimmer plot: time on study per patient with response and progression markers.

    Each bar runs from treatment start to progression (or to the horizon
    ``t_end`` if none: ongoing), colored by the best overall
    response; a triangle marks the first response (PR/CR; not drawn if it comes after the
    progression), a cross the progression and an
    arrowhead at ``t_end`` a patient still progression-free (ongoing); a legend names the colors
    and the markers. Bars have the gid ``"patient:<index>"``.

    Parameters
    ----------
    time_to_progression : array_like
        Days to progression per patient (``inf``: none within the horizon; NaN: not evaluable).
    time_to_response : array_like
        Days to the first response per patient (NaN: no response).
    category : array_like of str
        Best overall response per patient.
    t_end : float
        Horizon (days).
    ax : matplotlib.axes.Axes, optional
        Where to draw.
    n_patients : int or None, optional
        Draw a seeded random subset of this many patients (default 30).
    seed : int, optional
        Seed of the subset.
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.lines import Line2D

    ax = _axes(ax)
    ttp = np.asarray(time_to_progression, dtype=float)
    ttr = np.asarray(time_to_response, dtype=float)
    c = np.asarray(category, dtype=object)
    idx = [j for j in _subset(ttp.size, n_patients, seed) if not np.isnan(ttp[j])]
    idx.sort(key=lambda j: min(ttp[j], t_end))
    for row, j in enumerate(idx):
        end = min(ttp[j], t_end)
        ax.barh(row, end, color=RESPONSE_COLORS.get(c[j], "#bdbdbd"), height=0.8, gid=f"patient:{j}")
        if np.isfinite(ttr[j]) and ttr[j] <= end:  # a "response" after progression is not one (RECIST)
            ax.plot(ttr[j], row, "^", color="k", ms=4, gid="response")
        if np.isfinite(ttp[j]):
            ax.plot(ttp[j], row, "X", color="k", ms=5, gid="progression")
        else:
            ax.plot(t_end, row, ">", color="k", ms=4, gid="ongoing")
    ax.set_yticks(range(len(idx)))
    ax.set_yticklabels([str(j) for j in idx], fontsize=6)
    ax.set_xlim(0, t_end * 1.04)
    ax.set_xlabel("days on study")
    ax.set_ylabel("patient")
    markers = [Line2D([], [], ls="", marker="^", color="k", ms=5, label="response onset (PR/CR)"),
               Line2D([], [], ls="", marker="X", color="k", ms=5, label="progression"),
               Line2D([], [], ls="", marker=">", color="k", ms=5, label="ongoing (no progression)")]
    _bor_legend(ax, c[idx] if idx else c[:0], markers)
    if title:
        ax.set_title(title)
    return ax
