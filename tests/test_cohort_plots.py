"""Clinical figures of a cohort: the artists carry the data (colors by best response, numbers at risk, markers)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

import tumordyn as td  # noqa: E402
from tumordyn.cohorts import kaplan_meier  # noqa: E402
from tumordyn.cohorts.plots import RESPONSE_COLORS, km_plot, number_at_risk, spider, swimmer, waterfall  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


BEST = np.array([-100.0, -45.0, -31.0, 5.0, 12.0, 60.0, np.nan, -10.0])
BOR = np.array(["CR", "PR", "PR", "SD", "SD", "PD", "NE", "SD"], dtype=object)


def test_waterfall_bars_sorted_and_colored_by_best_response():
    fig, ax = plt.subplots()
    assert waterfall(BEST, BOR, ax=ax) is ax
    bars = ax.patches
    assert len(bars) == 7  # the NE patient has no value
    heights = [b.get_height() for b in bars]
    assert heights == sorted(heights, reverse=True)  # worst left, best right
    ok = np.isfinite(BEST)
    order = np.argsort(-BEST[ok], kind="stable")
    for b, cat in zip(bars, BOR[ok][order]):
        assert to_hex(b.get_facecolor()) == RESPONSE_COLORS[cat].lower()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["CR", "PR", "SD", "PD"]


def test_km_numbers_at_risk_equal_the_risk_set():
    rng = np.random.default_rng(0)
    arms = {}
    raw = {}
    for name, scale in (("control", 80.0), ("treated", 200.0)):
        t = rng.exponential(scale, 60)
        ev = t < 365
        t = np.minimum(t, 365)
        raw[name] = t
        arms[name] = kaplan_meier(t, ev)
    fig, ax = plt.subplots()
    times = [0, 100, 200, 300]
    assert km_plot(arms, ax=ax, risk_times=times) is ax
    for name, t in raw.items():
        expected = [int(np.sum(t >= x)) for x in times]
        np.testing.assert_array_equal(number_at_risk(arms[name], times), expected)
        for x, n in zip(times, expected):
            [txt] = [a for a in ax.texts if a.get_gid() == f"at_risk:{name}:{x:g}"]
            assert txt.get_text() == str(n)
    # each arm visible: own color and line style, a legend entry with its median, a confidence band
    lines = [ln for ln in ax.get_lines() if ln.get_label() and not ln.get_label().startswith("_")]
    assert len(lines) == 2
    assert lines[0].get_color() != lines[1].get_color() and lines[0].get_linestyle() != lines[1].get_linestyle()
    assert [t.get_text().split(" (")[0] for t in ax.get_legend().get_texts()] == ["control", "treated"]
    assert len(ax.collections) >= 2  # the bands


def test_swimmer_legend_and_markers():
    ttp = np.array([50.0, np.inf, 120.0, np.nan, np.inf])
    ttr = np.array([90.0, 30.0, 40.0, np.nan, np.nan])  # patient 0: a shrinkage after progression is no response
    bor = np.array(["PD", "CR", "PR", "NE", "SD"], dtype=object)
    fig, ax = plt.subplots()
    assert swimmer(ttp, ttr, bor, t_end=200.0, ax=ax, n_patients=None) is ax
    bars = [p for p in ax.patches if (p.get_gid() or "").startswith("patient:")]
    assert len(bars) == 4  # the not-evaluable patient is left out
    for b in bars:
        j = int(b.get_gid().split(":")[1])
        assert to_hex(b.get_facecolor()) == RESPONSE_COLORS[bor[j]].lower()
        assert b.get_width() == pytest.approx(min(ttp[j], 200.0))
    gids = [ln.get_gid() for ln in ax.get_lines()]
    assert gids.count("response") == 2 and gids.count("progression") == 2 and gids.count("ongoing") == 2
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"CR", "PR", "SD", "PD"} <= set(labels)
    assert any("progression" in x for x in labels) and any("ongoing" in x for x in labels)
    assert any("response" in x for x in labels)


def test_spider_lines_colored_by_best_response_with_legend():
    t = np.array([0.0, 42.0, 84.0])
    pc = np.array([[0.0, 0.0, 0.0], [-40.0, 10.0, -100.0], [-50.0, 25.0, -100.0]])
    bor = np.array(["PR", "PD", "CR"], dtype=object)
    fig, ax = plt.subplots()
    assert spider(t, pc, bor, ax=ax, n_patients=None) is ax
    data_lines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 3]
    assert [to_hex(ln.get_color()) for ln in data_lines] == [RESPONSE_COLORS[c].lower() for c in bor]
    assert [x.get_text() for x in ax.get_legend().get_texts()] == ["CR", "PR", "PD"]


def test_cohort_result_figures():
    m = td.models.tumor_immune_tme()
    regs = td.regimens.standard_regimens(m, 168.0)
    res = td.Cohort(m, {"k_T": td.cohorts.LogNormal(median=0.15, cv=0.8)}, n=30, seed=3).simulate(
        {"untreated": regs["untreated"], "targeted": regs["targeted"]}, t_end=168.0,
        scans=td.readouts.ScanPlan(interval=28.0), progress=False)
    fig, axes = plt.subplots(2, 2)
    ax = res.plot_kaplan_meier(ax=axes[0, 0])
    km = res.kaplan_meier()
    for name, k in km.items():
        at = [a for a in ax.texts if (a.get_gid() or "").startswith(f"at_risk:{name}:")]
        assert at and at[0].get_text() == str(k.n)  # at time 0 every evaluable patient is at risk
    assert res.waterfall("targeted", ax=axes[0, 1]) is axes[0, 1]
    assert res.swimmer("targeted", ax=axes[1, 0]) is axes[1, 0]
    assert res.spider("targeted", ax=axes[1, 1]) is axes[1, 1]
