"""Plots for comparing treatment schedules: the dose timeline and friends.

Every function imports matplotlib inside (importing tumordyn stays fast and
headless), accepts ``ax=`` and returns the axes it drew on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any


from ..dosing import Schedule

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["dose_timeline", "drug_colors"]

_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def drug_colors(drugs: Sequence[str]) -> dict[str, str]:
    """A stable colour per drug name (sorted order), shared by the comparison plots.

    Parameters
    ----------
    drugs : sequence of str
        Drug names.

    Returns
    -------
    dict of str to str
        Drug name to a matplotlib colour.
    """
    return {d: _PALETTE[i % len(_PALETTE)] for i, d in enumerate(sorted(set(drugs)))}


def dose_timeline(
    schedules: Mapping[str, Schedule] | Schedule,
    ax: Axes | None = None,
    *,
    t_end: float | None = None,
    events: Mapping[str, Sequence[Any]] | None = None,
    colors: Mapping[str, str] | None = None,
) -> Axes:
    """Draw the doses and infusions of one or several schedules against time (days).

    One row per schedule (one per regimen, top to bottom in the mapping's order);
    each bolus dose is a tick in its drug's colour and each infusion a bar, every drug
    of a row in its own lane (so a three-weekly antibody dose is not hidden under a
    weekly dose on the same day). Adaptive
    rule switches (``events``, e.g. ``traj.events``) are drawn as small triangles
    (▼ pause, ▲ resume).

    Parameters
    ----------
    schedules : Schedule or mapping of str to Schedule
        What to draw; a single schedule is one unnamed row. Use the *realised*
        schedules (``traj.schedule``) to show the doses actually given.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is made if omitted.
    t_end : float, optional
        Right end of the time axis (days); default the last dose or infusion end.
    events : mapping of str to sequence of RuleEvent, optional
        Rule switches per row name.
    colors : mapping of str to str, optional
        Colour per drug; default :func:`drug_colors`.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    rows = {"": schedules} if isinstance(schedules, Schedule) else dict(schedules)
    for name, s in rows.items():
        if not isinstance(s, Schedule):
            raise TypeError(f"dose_timeline: schedule {name!r} must be a Schedule, got {type(s).__name__}")
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 0.4 * len(rows) + 1.2))
    drugs = sorted({d for s in rows.values() for d in s.drugs})
    cols = dict(colors) if colors is not None else drug_colors(drugs)
    n = len(rows)
    seen: set[str] = set()
    for r, (name, s) in enumerate(rows.items()):
        y = n - 1 - r
        row_drugs = sorted(s.drugs)
        lane = 0.76 / max(len(row_drugs), 1)  # each drug its own lane within the row: no tick hides another
        for j, drug in enumerate(row_drugs):
            off = (j - (len(row_drugs) - 1) / 2) * lane
            times = [d.time for d in s.doses if d.drug == drug and d.amount > 0]
            label = drug if drug not in seen else None
            if times:
                ax.vlines(times, y + off - 0.42 * lane, y + off + 0.42 * lane, color=cols.get(drug, "k"),
                          linewidth=1.4, label=label)
                seen.add(drug)
                label = None
            for inf in s.infusions:
                if inf.drug == drug and inf.rate > 0:
                    ax.barh(y + off, inf.end - inf.start, left=inf.start, height=0.7 * lane,
                            color=cols.get(drug, "k"), alpha=0.7, label=label)
                    seen.add(drug)
                    label = None
        for ev in (events or {}).get(name, ()):
            ax.plot([ev.time], [y + 0.38], marker="v" if ev.action == "pause" else "^", color="k", markersize=4,
                    linestyle="none")
    ax.set_yticks(range(n))
    ax.set_yticklabels(list(rows)[::-1], fontsize="small")
    ax.set_ylim(-0.6, n - 0.4)
    if t_end is None:
        t_end = max([s.last_time for s in rows.values()] + [1.0])
    ax.set_xlim(-0.01 * t_end, 1.01 * t_end)  # a dose on day 0 or at the end is not half-hidden by the frame
    ax.set_xlabel("time (days)")
    if seen:
        ax.legend(fontsize="x-small", loc="lower right", ncol=max(1, len(seen)), frameon=False,
                  bbox_to_anchor=(1.0, 1.0), borderaxespad=0.1)  # just above the axes, inside the figure
    return ax
