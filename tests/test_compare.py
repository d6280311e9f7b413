"""td.compare, the regimen builders and the regimen ordering of DESIGN.md section 2."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tumordyn as td
from tumordyn import readouts as ro
from tumordyn.errors import SpecificationError, UnknownNameError


@pytest.fixture(scope="module")
def model():
    return td.models.tumor_immune_tme()


@pytest.fixture(scope="module")
def standard(model):
    """The eight standard regimens over one year (the main comparison)."""
    return td.compare(model, td.regimens.standard_regimens(model, 365.0), t_end=365.0)


# ----------------------------------------------------------------------------- the result


def test_table_has_one_row_per_regimen_and_matches_the_readouts(model, standard):
    df = standard.to_dataframe()
    assert list(df.index) == list(td.regimens.STANDARD_REGIMEN_NAMES)
    assert df.index.name == "regimen"
    for col in ("recist_bor", "irecist_bor", "ttp_scans_days", "ttp_continuous_days", "best_change_burden_pct",
                "resistant_fraction_end", "r_overtakes_s_day", "ex_ratio_end", "auc_targeted", "doses_anti_pd1",
                "pseudoprogression", "durable_response", "progression_free", "mean_suppression", "n_switches"):
        assert col in df.columns
    # each column is the readout of the stored trajectory
    for name, tr in standard.trajectories.items():
        row = df.loc[name]
        rec = ro.recist(tr, standard.scans)
        assert row["recist_bor"] == rec.best_overall_response
        assert row["ttp_scans_days"] == rec.time_to_progression
        assert row["ttp_continuous_days"] == ro.time_to_progression(tr)
        assert row["doses_targeted"] == tr.schedule.n_doses("targeted")
        assert row["auc_anti_pd1"] == pytest.approx(ro.auc(tr, "anti_pd1"))
        assert row["n_switches"] == len(tr.events)
    # scans are output times, so scan values are exact
    assert np.all(np.isin(standard.scans.times_for(0, 365), standard["untreated"].t))
    df.loc["untreated", "nadir_day"] = -1.0  # a copy
    assert standard.to_dataframe().loc["untreated", "nadir_day"] != -1.0


def test_text_table_and_figure(standard):
    text = str(standard)
    for name in td.regimens.STANDARD_REGIMEN_NAMES:
        assert name in text
    assert "horizon 365 days" in text and "every 56 days" in text
    assert "auc_targeted" not in standard.table() and "AUC targeted" in standard.table(full=True)
    with pytest.raises(UnknownNameError):
        standard.table(["ttp"])
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    fig = standard.plot()
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 6
    assert fig.axes[0].get_yscale() == "log"  # burden on a log axis
    plt.close(fig)


def test_dose_counts_and_exposure_follow_the_regimens(standard):
    df = standard.to_dataframe()
    assert df.loc["targeted", "doses_targeted"] == 53  # weekly from day 0 to day 364
    assert df.loc["anti-pd1", "doses_anti_pd1"] == 18  # every 21 days, 0..357
    assert df.loc["priming>anti-pd1", "doses_priming"] == 14  # lead time 14 days, daily
    assert df.loc["priming>anti-pd1", "doses_anti_pd1"] == 17  # from day 14
    assert df.loc["untreated", "auc_targeted"] == 0.0
    assert 0 < df.loc["adaptive-targeted", "doses_targeted"] < 53
    assert df.loc["adaptive-targeted", "n_switches"] >= 1


def test_compare_works_without_diameter_or_immune_states():
    m = td.models.zhang2017()
    with pytest.warns(td.errors.ReadoutWarning, match="left out"):
        cmp = td.compare(m, {"continuous": td.Schedule.infusion("abiraterone", 1.0, 0, 400),
                             "adaptive": td.AdaptiveRule("abiraterone", on=1.0, observable="PSA")},
                         t_end=400, method="RK45")
    df = cmp.to_dataframe()
    assert "recist_bor" not in df.columns and "best_change_burden_pct" in df.columns
    assert df.loc["adaptive", "auc_abiraterone"] < df.loc["continuous", "auc_abiraterone"] == pytest.approx(400)


# ----------------------------------------------------------------------------- bad input


def test_bad_input(model):
    with pytest.raises(UnknownNameError, match="regimen 'x'.*did you mean 'anti_pd1'"):
        td.compare(model, {"x": td.Schedule.every("anti_pd_1", 200, 21, until=100)}, t_end=112)
    with pytest.raises(SpecificationError, match="empty"):
        td.compare(model, {}, t_end=112)
    with pytest.raises(TypeError, match="mapping"):
        td.compare(model, [td.Schedule()], t_end=112)
    with pytest.raises(SpecificationError, match="outside the simulated horizon"):
        td.compare(model, {"none": None}, t_end=112, scans=td.readouts.ScanPlan(times=(0, 56, 168)))
    with pytest.raises(SpecificationError, match="no follow-up scan"):
        td.compare(model, {"none": None}, t_end=50)
    with pytest.raises(SpecificationError, match="regimen 'late'.*after the end"):
        td.compare(model, {"late": td.Schedule.at("targeted", 100, [200])}, t_end=112)
    with pytest.raises(SpecificationError, match="pause_below"):
        td.regimens.adaptive("targeted", t_end=112, pause_below=1.5)


# ----------------------------------------------------------------------------- builders


def test_builders():
    reg = td.regimens
    s = reg.priming_then("anti_pd1", lead_time=10, t_end=100)
    assert [d.time for d in s.only("priming").doses] == list(range(10))
    assert s.only("anti_pd1").doses[0].time == 10 and s.only("anti_pd1").n_doses() == 5  # 10, 31, 52, 73, 94
    assert reg.priming_then("anti_pd1", lead_time=0, t_end=100) == reg.monotherapy("anti_pd1", t_end=100)
    seq = reg.sequential(reg.monotherapy("targeted", t_end=100), reg.monotherapy("anti_pd1", t_end=100), 28,
                         t_end=100)
    assert seq.only("targeted").last_time == 21 and seq.only("anti_pd1").doses[0].time == 28
    combo = reg.combination(reg.monotherapy("targeted", t_end=70), reg.monotherapy("anti_pd1", t_end=70))
    assert combo.n_doses() == 11 + 4
    ad = reg.adaptive("targeted", t_end=70, fixed=reg.monotherapy("anti_pd1", t_end=70))
    assert isinstance(ad, td.Regimen) and ad.rules[0].pause_below == 0.5 and ad.schedule.drugs == {"anti_pd1"}
    assert isinstance(reg.combination(reg.monotherapy("anti_pd1", t_end=70), ad.rules[0]), td.Regimen)
    assert list(reg.standard_regimens(t_end=200)) == list(reg.STANDARD_REGIMEN_NAMES)
    with pytest.raises(SpecificationError, match="lead_time"):
        reg.priming_then("anti_pd1", lead_time=-1, t_end=100)
    with pytest.raises(UnknownNameError):
        reg.standard_regimens(td.models.zhang2017())
    with pytest.raises(SpecificationError, match="standard dose"):
        reg.monotherapy("abiraterone", t_end=10)


# ----------------------------------------------------------------------------- DESIGN.md section 2


def _final_burden(cmp, name):
    return float(cmp[name]["tumor_burden"][-1])


def _beats(cmp, a, b):
    """Regimen a does better than b: later progression, or (no progression in either) a smaller final tumor."""
    df = cmp.to_dataframe()
    ta, tb = df.loc[a, "ttp_continuous_days"], df.loc[b, "ttp_continuous_days"]
    if ta != tb:
        return ta > tb
    return _final_burden(cmp, a) < 0.5 * _final_burden(cmp, b)


def test_untreated_grows_and_immunity_alone_does_not_clear_it(standard):
    b = standard["untreated"]["tumor_burden"]
    assert b[-1] > 1.5 * b[0]
    assert standard.to_dataframe().loc["untreated", "recist_bor"] in ("SD", "PD")


def test_targeted_deep_response_then_relapse_driven_by_resistance(standard):
    tr = standard["targeted"]
    nd = ro.nadir(tr)
    assert nd.percent_change < -50  # deep initial response
    assert ro.resistant_fraction(tr)[-1] > 0.5  # R has taken over...
    assert tr["tumor_burden"][-1] > 10 * nd.value  # ...and the tumor regrows from its nadir


def test_anti_pd1_monotherapy_is_modest(standard):
    assert _beats(standard, "anti-pd1", "untreated") or _final_burden(standard, "anti-pd1") < _final_burden(
        standard, "untreated")
    assert _beats(standard, "targeted+anti-pd1", "anti-pd1")


def test_combination_beats_either_monotherapy(standard):
    assert _beats(standard, "targeted+anti-pd1", "targeted")
    assert _beats(standard, "targeted+anti-pd1", "anti-pd1")


def test_priming_then_anti_pd1_beats_anti_pd1_alone(standard):
    assert _beats(standard, "priming>anti-pd1", "anti-pd1")


def test_adaptive_delays_progression_against_continuous_targeted(standard):
    """Progression of the burden (above 1.2 x baseline; Zhang et al. 2017 follow PSA, not RECIST)."""
    def burden_ttp(name: str) -> float:
        b = np.asarray(standard[name]["tumor_burden"])
        above = np.nonzero(b > 1.2 * b[0])[0]
        return float(standard[name].t[above[0]]) if above.size else math.inf

    assert burden_ttp("adaptive-targeted") >= burden_ttp("targeted")
    df = standard.to_dataframe()
    ra, rc = df.loc["adaptive-targeted", "r_overtakes_s_day"], df.loc["targeted", "r_overtakes_s_day"]
    assert ra > rc or (math.isinf(ra) and math.isinf(rc))
    # RECIST on the diameter calls the planned regrowth of adaptive therapy progression: from the
    # nadir (50 % of the baseline burden) back to baseline is +26 % and > 5 mm for the 25 mm lesion
    ta, tc = df.loc["adaptive-targeted", "ttp_continuous_days"], df.loc["targeted", "ttp_continuous_days"]
    assert ta < tc
    d = np.asarray(standard["adaptive-targeted"]["lesion_diameter"])
    assert d[0] * (1 - 2 ** (-1 / 3)) > 5.0


def test_solver_object_is_honoured(model):
    regs = {"none": None, "anti-PD-1": td.regimens.monotherapy("anti_pd1", t_end=56.0)}
    cmp = td.compare(model, regs, t_end=56.0, solver=td.Solver(method="LSODA", rtol=1e-9))
    assert {cmp[n].stats.method for n in regs} == {"LSODA"}
    ref = td.compare(model, regs, t_end=56.0)
    np.testing.assert_allclose(cmp["anti-PD-1"]["tumor_burden"], ref["anti-PD-1"]["tumor_burden"], rtol=1e-4)
    old = td.compare(model, regs, t_end=56.0, method="RK45", rtol=1e-7)  # the shorthand keywords still work
    assert old["none"].stats.method == "RK45"
    with pytest.raises(SpecificationError, match="not both"):
        td.compare(model, regs, t_end=56.0, solver=td.Solver(), rtol=1e-6)
    with pytest.raises(TypeError, match="Solver"):
        td.compare(model, regs, t_end=56.0, solver="LSODA")
