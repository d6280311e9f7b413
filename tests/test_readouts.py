"""Readouts on hand-built trajectories and closed forms: RECIST 1.1, iRECIST, TTP, AUC, ..."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tumordyn as td
from tumordyn import readouts as ro
from tumordyn.errors import SpecificationError, UnknownNameError

_HAND = td.Model(
    "hand",
    states=[td.State("D", 20.0, "mm", "lesion diameter"), td.State("S", 1.0, "cells", "sensitive"),
            td.State("R", 1.0, "cells", "resistant"), td.State("P", 1.0, "1", "suppression")],
    parameters=[],
    processes=[],
    observables=[td.Observable("lesion_diameter", "D", "mm"), td.Observable("tumor_burden", "S + R", "cells")],
)


def sphere_cells(d):
    """Tumor cells of a sphere of diameter d mm at 1e6 cells/mm^3 (the default model's v_cell)."""
    return np.pi / 6 * np.asarray(d, dtype=float) ** 3 * 1e6


def hand(t, d, s=None, r=None, p=None) -> td.Trajectory:
    """A trajectory with the given diameter (and optionally S, R, P) time courses.

    By default S holds the cells of a sphere of the lesion's diameter, so the tumor burden (the lesion's
    cells, which decide whether it is detectable) follows the diameter as in a real lesion.
    """
    t = np.asarray(t, dtype=float)
    d = np.asarray(d, dtype=float)
    ones = np.ones_like(t)
    y = np.column_stack([d, sphere_cells(d) if s is None else s, ones if r is None else r, ones if p is None else p])
    stats = td.solve.SolverStats("hand", 0, 0, 0, 0, 0, 0.0)
    return td.Trajectory(t, y, np.zeros((t.size, 0)), np.array([]), _HAND, td.Schedule(), stats)


def scans_traj(values, interval=56.0):
    t = interval * np.arange(len(values))
    return hand(t, values)


# ----------------------------------------------------------------------------- RECIST 1.1


def test_recist_five_mm_rule_and_nadir_reference():
    # nadir 10 mm at week 8; +4.9 mm (+49%) is not PD, +5.0 mm (+50%) is
    res = ro.recist(scans_traj([20, 10, 14.9, 15.0]))
    assert list(res.table["response"]) == ["baseline", "PR", "SD", "PD"]
    assert res.best_overall_response == "PR"
    assert res.time_to_progression == 168.0
    assert list(res.table["nadir"]) == [20, 20, 10, 10]


def test_recist_pd_needs_twenty_percent_too():
    # baseline 50 mm: +6 mm is only +12% -> SD; +10 mm = +20% -> PD
    res = ro.recist(scans_traj([50, 56, 60]))
    assert list(res.table["response"]) == ["baseline", "SD", "PD"]
    # small lesion: +20% of 12 mm is 2.4 mm < 5 mm -> not PD until +5 mm
    res = ro.recist(scans_traj([12, 14.5, 16.9, 17.0]))
    assert list(res.table["response"]) == ["baseline", "SD", "SD", "PD"]


def test_recist_cr_pr_thresholds_and_bor_stops_at_first_pd():
    # 2 mm is 4.2e6 cells, below the 1e7-cell detectability limit: the lesion has disappeared (CR)
    res = ro.recist(scans_traj([20, 14.0, 14.1, 2.0]))
    assert list(res.table["response"]) == ["baseline", "PR", "SD", "CR"]
    assert res.best_overall_response == "CR"
    assert res.table["diameter"].iloc[-1] == 0.0
    assert math.isinf(res.time_to_progression)
    # 4.9 mm (6.2e7 cells) is present but too small to measure: recorded as 5 mm, a PR, not a CR
    # (the old rule "diameter < 5 mm is a CR" was not RECIST 1.1's)
    res = ro.recist(scans_traj([20, 14.0, 14.1, 4.9]))
    assert list(res.table["response"]) == ["baseline", "PR", "SD", "PR"]
    assert res.table["diameter"].iloc[-1] == 5.0
    # response after the first PD does not count for the best overall response
    res = ro.recist(scans_traj([20, 26, 10]))
    assert res.best_overall_response == "PD"
    assert res.time_to_progression == 56.0


def test_recist_reads_values_between_output_times_linearly():
    t = np.linspace(0, 112, 8)  # scans at 56 fall between grid points? 112/7 = 16 -> 56 is not on the grid
    d = 20 - 0.1 * t
    res = ro.recist(hand(t, d))
    assert res.table["diameter"].tolist() == pytest.approx([20, 14.4, 8.8])


def test_recist_errors():
    with pytest.raises(SpecificationError, match="measurable"):
        ro.recist(scans_traj([8, 9, 10]))
    with pytest.raises(SpecificationError, match="outside the simulated horizon"):
        ro.recist(scans_traj([20, 20]), ro.ScanPlan(times=(0, 200)))
    with pytest.raises(SpecificationError, match="no follow-up scan"):
        ro.recist(scans_traj([20, 20]), ro.ScanPlan(interval=100))
    kz = td.simulate(td.models.kuznetsov1994(), t_end=10)
    with pytest.raises(SpecificationError, match="lesion_diameter"):
        ro.recist(kz)


# ----------------------------------------------------------------------------- iRECIST


def test_irecist_confirmation_window():
    res = ro.irecist(scans_traj([20, 26, 31]))  # +5 mm more 8 weeks later: confirmed
    assert list(res.table["response"]) == ["baseline", "iUPD", "iCPD"]
    assert res.time_to_progression == 56.0  # dated at the iUPD
    assert res.best_overall_response == "iUPD"
    assert not res.pseudoprogression
    res = ro.irecist(scans_traj([20, 26, 30.9, 30.95]))  # less than 5 mm more: stays unconfirmed
    assert list(res.table["response"]) == ["baseline", "iUPD", "iUPD", "iUPD"]
    assert math.isinf(res.time_to_progression)


def test_irecist_adds_a_confirmation_scan_when_none_is_planned_in_window():
    t = np.arange(0, 253.0, 1.0)
    d = np.where(t <= 84, 20 + 6 * t / 84, 26 + (t - 84) * 0.2)  # keeps growing after the iUPD at day 84
    res = ro.irecist(hand(t, d), ro.ScanPlan(interval=84))
    tab = res.table
    extra = tab[~tab["scheduled"]]
    assert extra["time"].tolist() == [140.0]  # iUPD at 84 + 56 (end of the 4-8 week window)
    assert tab.set_index("time").loc[140.0, "response"] == "iCPD"
    assert res.time_to_progression == 84.0


def test_irecist_pseudoprogression_and_reset():
    res = ro.irecist(scans_traj([20, 26, 12]))  # swelling, then a partial response
    assert list(res.table["response"]) == ["baseline", "iUPD", "iPR"]
    assert res.pseudoprogression
    assert res.best_overall_response == "iPR"
    assert ro.recist(scans_traj([20, 26, 12])).best_overall_response == "PD"  # RECIST 1.1 would stop at PD
    # a reset (back under the PD threshold) makes the next progression a new iUPD
    res = ro.irecist(scans_traj([20, 26, 24, 30]))
    assert list(res.table["response"]) == ["baseline", "iUPD", "iSD", "iUPD"]
    assert not res.pseudoprogression


# ----------------------------------------------------------------------------- continuous readouts


def test_ttp_continuous_closed_form_linear_growth():
    t = np.linspace(0, 100, 201)
    res = ro.time_to_progression(hand(t, 20 + 0.1 * t))  # PD when D >= max(1.2*20, 20+5) = 25 -> t = 50
    assert res == pytest.approx(50.0, abs=1e-9)


def test_ttp_continuous_closed_form_v_shape():
    t = np.linspace(0, 60, 121)
    d = np.abs(t - 20) + 10  # nadir 10 mm at t=20, PD at D = max(12, 15) = 15 -> t = 25
    assert ro.time_to_progression(hand(t, d)) == pytest.approx(25.0, abs=1e-9)
    assert ro.time_to_progression(hand(t, d), ro.ScanPlan(interval=28)) == 56.0  # scans at 0, 28, 56: 30 mm
    assert not ro.progression_free(hand(t, d))


def test_duration_and_durable_response():
    t = np.arange(0, 366.0)
    # PR from day 30 (D <= 14 mm); growth from day 249 reaches nadir + 5 mm = 19 mm at day 254
    d = np.where(t < 30, 20 - t * 0.2, np.where(t < 250, 14.0, 14.0 + (t - 249)))
    d = np.minimum(d, 20)
    tr = hand(t, d)
    assert ro.duration_of_response(tr) == pytest.approx(254 - 30, abs=1e-9)
    assert ro.durable_response(tr, months=6)  # 224 days >= 182.6
    assert not ro.durable_response(tr, months=7.5)  # 228.3 days
    assert ro.MONTH == 30.4375


def test_percent_change_and_nadir_against_logistic_closed_form():
    m = td.models.logistic_growth(N0=10.0, r=0.5, K=1000.0)
    tr = td.simulate(m, t_end=10, t_eval=np.linspace(0, 10, 11), rtol=1e-10, atol=1e-10)
    expect = 100 * (td.models.logistic_solution(tr.t, 10.0, 0.5, 1000.0) / 10.0 - 1)
    assert ro.percent_change(tr, "N") == pytest.approx(expect, rel=1e-6)
    nd = ro.nadir(tr, "N")
    assert (nd.value, nd.time, nd.percent_change) == (10.0, 0.0, 0.0)


def test_resistant_takeover_closed_form():
    t = np.linspace(0, 10, 11)
    tr = hand(t, np.full(t.size, 20.0), s=10 - t, r=t)  # R = S at t = 5
    assert ro.resistant_takeover_time(tr) == pytest.approx(5.0)
    assert ro.resistant_fraction(tr)[5] == pytest.approx(0.5)
    tr = hand(t, np.full(t.size, 20.0), s=10 + t, r=t)
    assert math.isinf(ro.resistant_takeover_time(tr))


def test_mean_suppression_closed_form():
    t = np.linspace(0, 10, 101)
    assert ro.mean_suppression(hand(t, np.full(t.size, 20.0), p=2 * t)) == pytest.approx(10.0)


def test_missing_states_are_clear_errors():
    kz = td.simulate(td.models.kuznetsov1994(), t_end=10)
    with pytest.raises(SpecificationError, match="'S'.*'R'"):
        ro.resistant_takeover_time(kz)
    with pytest.raises(SpecificationError, match="'X'"):
        ro.effector_exhausted_ratio(kz)
    with pytest.raises(SpecificationError, match="'P'"):
        ro.mean_suppression(kz)
    with pytest.raises(UnknownNameError, match="did you mean"):
        ro.auc(td.simulate(td.models.one_compartment_pk(), t_end=1), "drog")
    with pytest.raises(TypeError, match="Trajectory"):
        ro.nadir(np.zeros(3))


# ----------------------------------------------------------------------------- exposure


@given(amount=st.floats(1.0, 500.0), interval=st.sampled_from([1.0, 2.0, 3.5, 7.0]),
       half_life=st.floats(0.3, 5.0))
def test_auc_closed_form_repeated_bolus(amount, interval, half_life):
    m = td.models.one_compartment_pk(half_life=half_life, volume=10.0)
    t_end = 28.0
    s = td.Schedule.every("drug", amount, interval, until=t_end - 1e-9)
    grid = np.union1d(np.linspace(0, t_end, 2801), [d.time for d in s.doses])  # dose times are output times
    tr = td.simulate(m, s, t_end=t_end, t_eval=grid, rtol=1e-10)
    k = math.log(2) / half_life
    exact = sum(amount / 10.0 * (1 - math.exp(-k * (t_end - d.time))) / k for d in s.doses)
    assert ro.auc(tr, "drug") == pytest.approx(exact, rel=2e-4)
    assert ro.dose_counts(tr) == {"drug": s.n_doses()}
    assert ro.total_amount(tr, "drug") == pytest.approx(amount * s.n_doses())


def test_auc_of_direct_input_drug_is_level_times_days():
    m = td.models.zhang2017()
    s = td.Schedule.infusion("abiraterone", 1.0, 10, 30) + td.Schedule.infusion("abiraterone", 1.0, 50, 60)
    tr = td.simulate(m, s, t_end=100, method="RK45")
    assert ro.auc(tr, "abiraterone") == pytest.approx(30.0)


def test_scan_plan_validation():
    assert ro.ScanPlan(interval=28, start=7).times_for(0, 70).tolist() == [7, 35, 63]
    with pytest.raises(SpecificationError, match="interval"):
        ro.ScanPlan(interval=0)
    with pytest.raises(SpecificationError, match="strictly increasing"):
        ro.ScanPlan(times=(0, 56, 56))
    with pytest.raises(SpecificationError, match="baseline scan"):
        ro.ScanPlan(start=400).times_for(0, 365)


@given(st.lists(st.floats(17.6, 22.4), min_size=1, max_size=8))  # all within 4.8 mm of each other
def test_recist_changes_under_five_mm_are_stable_disease(values):
    res = ro.recist(scans_traj([20.0, *values]))
    assert set(res.table["response"].iloc[1:]) == {"SD"}
    assert math.isinf(res.time_to_progression)


@given(st.lists(st.floats(5.5, 60.0), min_size=2, max_size=8))
def test_irecist_confirmed_progression_is_never_before_recist_progression(values):
    tr = scans_traj([20.0, *values])
    rec, irec = ro.recist(tr), ro.irecist(tr)
    assert irec.time_to_progression >= rec.time_to_progression
    resp = list(irec.table["response"])
    if "iCPD" in resp:
        assert "iUPD" in resp[: resp.index("iCPD")]
        assert resp[resp.index("iCPD"):] == ["iCPD"] * (len(resp) - resp.index("iCPD"))
    if "iUPD" not in resp:  # without a progression iRECIST agrees with RECIST 1.1
        assert [r[1:] for r in resp[1:]] == list(rec.table["response"].iloc[1:])
