"""Figures: every plot method takes ax= and returns it, y axes carry units, dose ticks of several drugs stay
visible, log axes stop at sensible limits, readable table headers with a glossary in the docs."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import tumordyn as td  # noqa: E402
from tumordyn.models import logistic_solution  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def tme():
    return td.models.tumor_immune_tme()


@pytest.fixture(scope="module")
def combo():
    return td.Schedule.every("targeted", 100.0, 7.0, until=112) + td.Schedule.every("anti_pd1", 200.0, 21.0, until=112)


@pytest.fixture(scope="module")
def fitted():
    m = td.models.logistic_growth()
    t = np.arange(0.0, 12.0)
    y = logistic_solution(t, 10.0, 0.6, 800.0) * np.exp(0.05 * np.random.default_rng(0).standard_normal(t.size))
    df = pd.DataFrame({"subject": "A", "time": t, "observable": "N", "value": y, "sigma": 0.05})
    return td.fit(m, df, free=["r", "K"], progress=False)


def _segments(ax):
    """(x, ymin, ymax, color) of every vertical dose tick drawn with axvline (axes-fraction y)."""
    out = []
    for line in ax.get_lines():
        x, y = line.get_xdata(), line.get_ydata()
        if len(x) == 2 and x[0] == x[1] and max(y) <= 0.2:  # axvline(ymin, ymax) in axes fractions
            out.append((float(x[0]), float(min(y)), float(max(y)), line.get_color()))
    return out


def test_trajectory_plot_units_log_floor_and_dose_lanes(tme, combo):
    tr = td.simulate(tme, combo, t_end=112.0)
    fig, ax = plt.subplots()
    assert tr.plot(ax=ax) is ax
    assert ax.get_ylabel() == "cells"
    lo, hi = ax.get_ylim()
    assert lo >= 0.05 and hi > 1e9  # not 1e-4 cells
    assert tr.plot("lesion_diameter", ax=plt.subplots()[1]).get_ylabel() == "lesion_diameter (mm)"
    ticks = _segments(ax)
    day0 = [s for s in ticks if s[0] == 0.0]  # both drugs dosed on day 0
    assert len(day0) == 2 and len({s[3] for s in day0}) == 2
    (a_lo, a_hi), (b_lo, b_hi) = sorted((s[1], s[2]) for s in day0)
    assert a_hi <= b_lo  # separate lanes: neither tick hides the other


def test_dose_timeline_lanes_do_not_overlap(combo):
    ax = td.comparison.plots.dose_timeline({"combo": combo}, t_end=112)
    spans = {}
    for coll in ax.collections:
        segs = coll.get_segments()
        if segs:
            spans[coll.get_label()] = (min(s[:, 1].min() for s in segs), max(s[:, 1].max() for s in segs))
    (a_lo, a_hi), (b_lo, b_hi) = sorted(spans.values())
    assert set(spans) == {"anti_pd1", "targeted"} and a_hi < b_lo


def test_comparison_plot_takes_one_or_six_axes(tme, combo):
    cmp = td.compare(tme, {"none": None, "combo": combo}, t_end=112.0, progress=False)
    fig = cmp.plot()
    assert isinstance(fig, matplotlib.figure.Figure)
    _, ax = plt.subplots()
    assert cmp.plot(ax=ax) is ax and ax.get_ylabel() == "tumor_burden (cells)" and len(ax.get_lines()) >= 2
    _, axes = plt.subplots(3, 2)
    assert cmp.plot(axes) is axes
    with pytest.raises(ValueError, match="6 panels"):
        cmp.plot(ax=plt.subplots(1, 2)[1])


def test_fit_and_profile_plots_take_ax_and_label_y(fitted):
    fig = fitted.plot()
    assert fig.axes[0].get_ylabel() == "N (cells)"
    _, ax = plt.subplots()
    assert fitted.plot(ax=ax) is ax and ax.get_ylabel() == "N (cells)"
    prof = td.fitting.profile_likelihood(fitted, n_points=5, refine=False, progress=False)
    _, axes = plt.subplots(1, 2)
    assert prof.plot(ax=axes) is axes
    assert axes[0].get_ylabel() == "−2 Δ log-likelihood" and axes[1].get_xlabel() == "K"
    with pytest.raises(ValueError, match="2 panels"):
        prof.plot(ax=axes[0])
    assert isinstance(prof.plot(), matplotlib.figure.Figure)


def test_every_other_plot_method_returns_its_ax(tme):
    m = td.models.logistic_growth()
    checks = []
    sens = td.analysis.sensitivity(m, None, "N", parameters=["r", "K"], t_end=10.0)
    checks.append(lambda ax: sens.tornado(ax=ax))
    om = td.analysis.outcome_map(m, "r", (0.1, 0.5), "K", (100.0, 1000.0), n=2, t_end=5.0, progress=False)
    checks.append(lambda ax: om.plot(ax=ax))
    res = td.comparison.search_schedule(tme, lambda lead: td.regimens.priming_then("anti_pd1", lead, t_end=60),
                                        grid=[0, 7], t_end=60, readout="best_change_burden_pct",
                                        maximize=False, progress=False)
    checks.append(lambda ax: res.plot(ax=ax))
    P = np.tile(td.numerics.compile_model(m).param_vector(), (3, 1))
    checks.append(lambda ax: td.simulate_batch(m, P, t_end=5.0).plot(ax=ax))
    cohort = td.Cohort(m, {"r": td.cohorts.LogNormal(0.3, 0.2)}, n=8, seed=1)
    for fn in checks:
        _, ax = plt.subplots()
        assert fn(ax) is ax
    assert cohort is not None  # cohort plot shortcuts are covered in test_cohort (they need a diameter)


def test_table_headers_are_readable_and_documented(tme, combo):
    cmp = td.compare(tme, {"none": None, "combo": combo}, t_end=112.0, progress=False)
    text = cmp.table(full=True)
    for cryptic in ("best dD", "R>S d", "PF@end", "TTP cont "):
        assert cryptic not in text
    assert "TTP scans (d)" in text and "progr.-free" in text
    assert "ttp_scans_days" in cmp.table(headers="names")
    with pytest.raises(td.errors.SpecificationError, match="headers"):
        cmp.table(headers="long")
    glossary = (DOCS / "compare.md").read_text(encoding="utf-8")
    assert "## Column glossary" in glossary
    for col, header in td.comparison.TABLE_HEADERS.items():
        assert f"`{col}`" in glossary and header in glossary, col
    for col in td.comparison.COLUMN_HELP:
        assert f"`{col}`" in glossary, col
