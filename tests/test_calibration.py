"""Virtual-population calibration (Allen, Rieger & Musante 2016): machinery on small plausible sets."""

from __future__ import annotations

import numpy as np
import pytest

import tumordyn as td
from tumordyn.cohorts import TargetStatistic, calibrate_population, population_statistics
from tumordyn.errors import CalibrationError, SpecificationError, UnknownNameError

T_END = 168.0
SCANS = td.readouts.ScanPlan(interval=28.0)


@pytest.fixture(scope="module")
def model():
    return td.models.tumor_immune_tme()


@pytest.fixture(scope="module")
def arms(model):
    regs = td.regimens.standard_regimens(model, T_END)
    return {"untreated": regs["untreated"], "targeted": regs["targeted"]}


PLAUSIBLE = {"r_S": td.cohorts.LogNormal(median=0.03, cv=0.5), "k_T": td.cohorts.LogNormal(median=0.1, cv=1.0)}


def _calibrate(model, arms, targets, **kw):
    kw = {"n_select": 30, "n_plausible": 120, "max_rounds": 3, "seed": 5, "t_end": T_END, "progress": False,
          "scans": SCANS, **kw}
    return calibrate_population(model, PLAUSIBLE, arms, targets, **kw)


@pytest.fixture(scope="module")
def orr_population(model, arms):
    return _calibrate(model, arms, [TargetStatistic("targeted", "ORR", 0.5, 0.4, 0.6, source="test")])


def test_single_rate_target_gives_the_closed_form_minimum_kl_weights(orr_population):
    """One binary target: responders and non-responders are reweighted by t/p and (1-t)/(1-p)."""
    pl = orr_population.plausible
    ach = orr_population.achieved.iloc[0]
    assert ach["weighted"] == pytest.approx(0.5, abs=2e-4)
    assert pl["weight"].sum() == pytest.approx(1.0)
    # rebuild the plausible readouts: the indicator is in the weights' two levels
    levels = np.unique(np.round(pl["weight"].to_numpy() / pl["weight"].max(), 9))
    assert 2 <= levels.size <= 3  # responders, non-responders (and not-evaluable patients, weight of exp(0))
    p = ach["plausible"]
    assert 0 < p < 1
    w_hi, w_lo = pl["weight"].max(), pl["weight"].min()
    ratio = (0.5 / p) / (0.5 / (1 - p))
    assert max(w_hi / w_lo, w_lo / w_hi) == pytest.approx(max(ratio, 1 / ratio), rel=1e-3)
    # acceptance probability is w / max w: the under-represented group is always accepted
    assert pl["p_accept"].max() == pytest.approx(1.0)
    np.testing.assert_allclose(pl["p_accept"], pl["weight"] / pl["weight"].max())


def test_selected_population_reproduces_its_target_on_resimulation(model, arms, orr_population):
    vp = orr_population
    assert vp.n == 30
    assert vp.plausible["accepted"].sum() == 30
    res = vp.cohort().simulate({"targeted": arms["targeted"]}, t_end=T_END, scans=SCANS, progress=False)
    orr = population_statistics(res, "targeted", ["ORR"])["ORR"]
    assert orr == pytest.approx(vp.achieved.iloc[0]["selected"], abs=1e-12)  # same patients, same readouts
    # binomial sampling of 30 accepted patients around the target 0.5: 4 sd is 0.37
    assert abs(orr - 0.5) < 0.37
    # parameters of the re-simulated cohort are exactly the selected ones
    np.testing.assert_array_equal(vp.cohort().parameters["k_T"].to_numpy(), vp.values["k_T"])


def test_same_seed_same_population_other_seed_other(model, arms, orr_population):
    again = _calibrate(model, arms, [TargetStatistic("targeted", "ORR", 0.5, 0.4, 0.6)])
    np.testing.assert_array_equal(again.values["r_S"], orr_population.values["r_S"])
    other = _calibrate(model, arms, [TargetStatistic("targeted", "ORR", 0.5, 0.4, 0.6)], seed=6)
    assert not np.array_equal(other.values["r_S"], orr_population.values["r_S"])


def test_median_and_rate_targets_together(model, arms):
    targets = [TargetStatistic("untreated", "median_pfs", 84.0, 70.0, 100.0),
               TargetStatistic("targeted", "ORR", 0.6, 0.5, 0.7)]
    vp = _calibrate(model, arms, targets, n_select=40, n_plausible=150, max_rounds=4)
    ach = vp.achieved.set_index("statistic")
    assert ach.loc["ORR", "weighted"] == pytest.approx(0.6, abs=2e-4)
    assert ach.loc["median_pfs", "weighted"] == 84.0  # the scan in the accepted range
    assert 30 <= vp.effective_size <= len(vp.plausible)
    # a 1,000-patient trial drawn from the selected patients
    cohort = vp.cohort(n=200, seed=1)
    assert cohort.n == 200
    assert set(np.unique(cohort.parameters["r_S"])) <= set(vp.values["r_S"])


def test_unweighted_statistics_equal_the_cohort_readouts(model, arms):
    res = td.Cohort(model, PLAUSIBLE, n=40, seed=2).simulate(arms, t_end=T_END, scans=SCANS, progress=False)
    st = population_statistics(res, "targeted", ["ORR", "CR", "DCR", "median_pfs"])
    rr = res.response_rates().loc["targeted"]
    assert st["ORR"] == pytest.approx(rr["ORR"]) and st["DCR"] == pytest.approx(rr["DCR"])
    assert st["CR"] == pytest.approx(rr["CR"] / rr["n_evaluable"])
    assert st["median_pfs"] == res.median_ttp().loc["targeted", "median"]
    st_u = population_statistics(res, "untreated", ["median_pfs"])
    assert st_u["median_pfs"] == res.median_ttp().loc["untreated", "median"]


def test_named_errors(model, arms):
    with pytest.raises(CalibrationError, match="out of reach"):  # no CR without treatment
        _calibrate(model, arms, [TargetStatistic("untreated", "CR", 0.3, 0.2, 0.4)])
    with pytest.raises(CalibrationError, match="no scan"):
        _calibrate(model, arms, [TargetStatistic("untreated", "median_pfs", 30.0, 29.0, 31.0)])
    with pytest.raises(CalibrationError, match="accepted"):
        _calibrate(model, arms, [TargetStatistic("targeted", "ORR", 0.5, 0.4, 0.6)], n_select=500, max_rounds=1)
    with pytest.raises(UnknownNameError):
        TargetStatistic("targeted", "OS", 0.5, 0.4, 0.6)
    with pytest.raises(UnknownNameError):
        _calibrate(model, arms, [TargetStatistic("anti-pd1", "ORR", 0.5, 0.4, 0.6)])
    with pytest.raises(SpecificationError, match="fraction"):
        TargetStatistic("targeted", "ORR", 33.0, 28.0, 38.0)
    with pytest.raises(SpecificationError, match="low <= value <= high"):
        TargetStatistic("targeted", "ORR", 0.3, 0.4, 0.6)
    with pytest.raises(SpecificationError):
        _calibrate(model, arms, [TargetStatistic("targeted", "ORR", 0.5, 0.4, 0.6)], n_select=0)


def test_cohort_from_values_is_exact_and_checks_bounds(model):
    vals = {"r_S": [0.02, 0.03, 0.04], "S": [1e9, 2e9, 3e9]}
    c = td.Cohort.from_values(model, vals)
    assert c.n == 3
    np.testing.assert_array_equal(c.parameters["r_S"], vals["r_S"])
    assert c.patient_initial(2)["S"] == 3e9
    with pytest.raises(SpecificationError, match="bounds"):
        td.Cohort.from_values(model, {"r_S": [0.02, 7.0]})
    with pytest.raises(SpecificationError, match="equal lengths"):
        td.Cohort.from_values(model, {"r_S": [0.02], "k_T": [0.1, 0.2]})
    with pytest.raises(UnknownNameError):
        td.Cohort.from_values(model, {"nope": [1.0]})


def test_progress_bar_counts_the_sampling_rounds(model, arms, monkeypatch):
    import tumordyn._progress as tdp

    made = []

    class Recorder:
        def __init__(self, total=None, desc="", unit="it", disable=False, **kwargs):
            self.total, self.desc, self.disable, self.n = total, desc, disable, 0
            made.append(self)

        def update(self, k=1):
            self.n += k

        def close(self):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.close()

    monkeypatch.setattr(tdp, "_bar_class", lambda: Recorder)
    vp = _calibrate(model, arms, [TargetStatistic("targeted", "ORR", 0.5, 0.4, 0.6)], progress=True)
    [bar] = [b for b in made if b.desc == "calibrating population"]
    assert not bar.disable and bar.total == 3 and bar.n == vp.n_rounds >= 1
