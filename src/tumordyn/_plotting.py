"""Small helpers shared by the plot methods: the axes to draw on, units on the y axis, log-axis limits,
dose ticks in lanes. matplotlib is imported inside the functions (importing tumordyn stays headless)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["panels", "unit_of", "y_label", "log_limits", "dose_lanes"]


def panels(ax: Any, n: int, ncols: int, *, panel_size: tuple[float, float], where: str) -> tuple[Any, list[Any]]:
    """The figure and ``n`` axes to draw ``n`` panels on.

    ``ax=None``: a new figure of ``ceil(n / ncols)`` rows (the unused cells hidden). A single Axes:
    only when ``n == 1``. A sequence or array of Axes: its first ``n`` (flattened).

    Raises
    ------
    TypeError
        If ``ax`` is neither None, an Axes nor a sequence of Axes.
    ValueError
        If fewer axes are given than there are panels (``where`` and the count are named).
    """
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    if ax is None:
        ncols = max(1, min(int(ncols), n))
        nrows = max(1, math.ceil(n / ncols))
        fig, grid = plt.subplots(nrows, ncols, figsize=(panel_size[0] * ncols, panel_size[1] * nrows), squeeze=False)
        flat = list(grid.ravel())
        for extra in flat[n:]:
            extra.set_visible(False)
        return fig, flat[:n]
    if isinstance(ax, Axes):
        flat = [ax]
    else:
        try:
            flat = list(np.asarray(ax, dtype=object).ravel())
        except TypeError:
            flat = []
        if not flat or not all(isinstance(a, Axes) for a in flat):
            raise TypeError(f"{where}: `ax` must be a matplotlib Axes or a sequence of Axes, got {type(ax).__name__}")
    if len(flat) < n:
        raise ValueError(f"{where} draws {n} panels but `ax` holds {len(flat)} axes; pass {n} axes "
                         "(e.g. plt.subplots(1, n)[1]) or leave `ax` out")
    return flat[0].figure, flat[:n]


def unit_of(model: Any, name: str) -> str | None:
    """The unit of a state, observable or drug input (``u_<drug>``: dose unit per day) of ``model``."""
    for group in (model.states, model.observables):
        if name in group.names:
            return str(group[name].unit)
    drugs = model.drugs.names
    if name.startswith("u_") and name[2:] in drugs:
        return f"{model.drugs[name[2:]].dose_unit}/day"
    if name in drugs:
        return str(model.drugs[name].dose_unit)
    return None


def y_label(model: Any, names: Sequence[str]) -> str:
    """A y label with units: ``"S (cells)"`` for one name, ``"cells"`` for several of one unit, else
    ``"value (units in the legend)"``; a unit of ``"1"`` reads "dimensionless"."""
    def pretty(u: str | None) -> str:
        return "dimensionless" if u in ("1", "", None) else str(u)

    units = [unit_of(model, n) for n in names]
    if len(names) == 1:
        return f"{names[0]} ({pretty(units[0])})"
    if len(set(units)) == 1:
        return pretty(units[0])
    return "value (units in the legend)"


def log_limits(values: np.ndarray, units: Sequence[str | None], decades: float = 8.0) -> tuple[float, float] | None:
    """Limits of a log axis: from the smallest positive value (but at most ``decades`` below the largest,
    and not below 0.1 cell when every series counts cells) to the largest, with a margin.

    A decaying population would otherwise stretch the axis to 1e-4 cells, which means nothing."""
    v = np.asarray(values, dtype=float)
    pos = v[np.isfinite(v) & (v > 0)]
    if pos.size == 0:
        return None
    hi = float(pos.max())
    lo = max(float(pos.min()), hi * 10.0 ** (-decades))
    if units and all(u == "cells" for u in units) and hi > 1.0:
        lo = max(lo, 0.1)
    return lo / 2.0, hi * 2.0


def dose_lanes(ax: Any, doses: Sequence[Any], drugs: Sequence[str], colors: dict[str, str], *,
               height: float = 0.035) -> None:
    """Dose times as ticks along the bottom of ``ax``, one lane per drug (the first at the bottom), so
    doses of several drugs on the same day stay visible; each drug is labelled once in the legend."""
    lane = {d: i for i, d in enumerate(drugs)}
    seen: set[str] = set()
    for dose in doses:
        i = lane[dose.drug]
        ax.axvline(dose.time, ymin=i * height, ymax=(i + 1) * height - 0.006, color=colors[dose.drug], lw=1.5,
                   label=f"dose: {dose.drug}" if dose.drug not in seen else None)
        seen.add(dose.drug)
