"""One patient, one set of readouts: td.readouts on a Trajectory, td.compare's table and td.Cohort agree.

Best percent change (RECIST 1.1 at the scans: the smallest change from baseline over the follow-up
scans, reported even when positive), best overall response and time to progression (at the scans
and continuous) come from one implementation (tumordyn.readouts._recist) whichever entry point asks. These
tests run the same patient through all three, on the default model's standard regimens and on a
small user-defined model whose diameter observable is not called ``lesion_diameter``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import tumordyn as td
from tumordyn import readouts as ro
from tumordyn.solve._compiled import numba_available

T_END = 365.0
PLAN = td.readouts.ScanPlan()  # baseline at day 0, then every 56 days
RTOL = 1e-8  # solver tolerance of every simulation here (compare and cohort)
SAME = 1e-9  # relative tolerance when the trajectories are the same (readouts then differ by rounding only)
# When the cohort engine is the numpy batch (Dormand-Prince 5(4) of tumordyn.solve._batch) and td.simulate the
# compiled integrator or LSODA, the trajectories differ by the solvers' global errors. Each step keeps the
# local error below atol + RTOL |y|; the global error over a year is a small multiple of it (observed: at
# most 3e-8 relative on the diameter at RTOL 1e-8). EPS = 100 RTOL bounds the relative error of any
# diameter value with a wide margin.
EPS = 100 * RTOL
# Continuous time to progression moves by (error of D) / (slope of D) at the crossing: a 1e-6 relative
# error and a lesion growing by at least 1e-4 of itself a day (20% over the nadir within a year needs
# 5e-4 a day on average) move it by at most 0.01 day, well below the 0.25-day output spacing
# (observed: 1e-7 day).
TTP_DAYS = 0.01


def small_model() -> td.Model:
    """Two clones (the drug kills only S) and a bolus drug; ``diam_mm`` plays the lesion diameter."""
    return td.Model(
        "two_clones_chemo",
        states=[td.State("S", 2e9, "cells", "sensitive tumor cells", atol=1.0),
                td.State("R", 1e6, "cells", "resistant tumor cells", atol=1.0),
                td.State("C", 0.0, "mg/L", "drug concentration", atol=1e-9)],
        parameters=[td.Parameter("r", 0.03, (0, 1), "1/day", "growth rate", "test"),
                    td.Parameter("K", 1e11, (1e9, 1e13), "cells", "carrying capacity", "test"),
                    td.Parameter("k", 0.02, (0, 1), "L/(mg day)", "kill rate per concentration", "test"),
                    td.Parameter("ke", 0.5, (0, 10), "1/day", "elimination rate", "test")],
        processes=[td.Process("growth_S", "r * S * (1 - (S + R) / K)", produces="S"),
                   td.Process("growth_R", "r * R * (1 - (S + R) / K)", produces="R"),
                   td.Process("kill", "k * C * S", consumes="S"),
                   td.Process("elimination", "ke * C", consumes="C")],
        drugs=[td.Drug("chemo", "C", volume=1.0)],
        # a sphere of 1e9 cells (1 cm^3) is 12.4 mm across
        observables=[td.Observable("diam_mm", "12.4 * ((S + R) / 1e9) ** (1 / 3)", "mm"),
                     td.Observable("tumor_burden", "S + R", "cells")],
    )


def small_regimens() -> dict:
    weekly = td.Schedule.every("chemo", 10.0, 7.0, until=T_END)
    return {"untreated": td.Schedule(), "weekly": weekly,
            "adaptive": td.Regimen(rules=(td.AdaptiveRule("chemo", weekly),))}


CASES = {
    # model, regimens, diameter observable
    "default": (td.models.tumor_immune_tme, lambda m: td.regimens.standard_regimens(m, T_END), "lesion_diameter"),
    "small": (small_model, lambda m: small_regimens(), "diam_mm"),
}
ENGINES = [pytest.param("dopri5", marks=pytest.mark.skipif(not numba_available(), reason="needs numba")), "batch"]


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    make, regs, diam = CASES[request.param]
    model = make()
    regimens = regs(model)
    cmp = td.compare(model, regimens, t_end=T_END, scans=PLAN, diameter=diam, rtol=RTOL, progress=False)
    return {"name": request.param, "model": model, "regimens": regimens, "diameter": diam, "compare": cmp,
            "cohorts": {}}


def cohort_results(case, engine):
    """The model's default patient as a one-patient cohort, each regimen on compare's output grid."""
    if engine not in case["cohorts"]:
        model, cmp = case["model"], case["compare"]
        first = model.parameters.names[0]
        cohort = td.Cohort(model, {first: model.defaults()[first]}, n=1, seed=0)  # one patient: the defaults
        case["cohorts"][engine] = {
            name: cohort.simulate({name: reg}, t_end=T_END, scans=PLAN, measure=case["diameter"],
                                  t_eval=cmp[name].t, keep_trajectories=True, method=engine, rtol=RTOL,
                                  progress=False)
            for name, reg in case["regimens"].items()
        }
    return case["cohorts"][engine]


def trajectory_readouts(tr, diam):
    """The readouts of one Trajectory through the public per-trajectory functions."""
    rec = ro.recist(tr, PLAN, diam)
    irec = ro.irecist(tr, PLAN, diam)
    return {
        "irecist_best_overall_response": irec.best_overall_response,
        "pseudoprogression": irec.pseudoprogression,
        "best_percent_change": ro.best_percent_change(tr, diam, scans=PLAN),
        "recist_best_percent_change": rec.best_percent_change,
        "best_overall_response": rec.best_overall_response,
        "time_to_progression_scan": ro.time_to_progression(tr, PLAN, diam),
        "recist_time_to_progression": rec.time_to_progression,
        "time_to_progression": ro.time_to_progression(tr, None, diam),
        "duration_of_response_scan": ro.duration_of_response(tr, PLAN, diam),
        "scan_percent_change": rec.table["change_from_baseline"].to_numpy(),
        "best_percent_change_burden": ro.best_percent_change(tr, "tumor_burden"),
    }


def compare_readouts(row):
    return {
        "best_percent_change": row["best_change_diameter_pct"],
        "best_overall_response": row["recist_bor"],
        "irecist_best_overall_response": row["irecist_bor"],
        "pseudoprogression": row["pseudoprogression"],
        "time_to_progression_scan": row["ttp_scans_days"],
        "time_to_progression": row["ttp_continuous_days"],
        "duration_of_response_scan": row["duration_of_response_days"],
        "best_percent_change_burden": row["best_change_burden_pct"],
    }


def cohort_readouts(res, name):
    r = res.readouts(name)
    out = {k: r[k][0] for k in ("best_percent_change", "best_overall_response", "time_to_progression_scan",
                                "time_to_progression", "duration_of_response_scan", "best_percent_change_burden",
                                "irecist_best_overall_response", "pseudoprogression")}
    out["scan_percent_change"] = r["scan_percent_change"][:, 0]
    return out


def assert_same(a, b, *, rel=SAME, pct_abs=0.0, ttp_abs=0.0, where=""):
    """Readouts a and b equal on their common keys (numbers to rel, percent changes and times as given)."""
    keys = sorted(set(a) & set(b))
    assert {"best_percent_change", "best_overall_response", "time_to_progression_scan",
            "time_to_progression"} <= set(keys), where
    for k in keys:
        x, y = a[k], b[k]
        msg = f"{where}: {k} {x!r} != {y!r}"
        if isinstance(x, (str, bool, np.bool_)) or isinstance(y, (str, bool, np.bool_)):
            assert x == y, msg
        elif np.ndim(x):
            np.testing.assert_allclose(x, y, rtol=rel, atol=pct_abs, err_msg=msg)
        elif math.isinf(x) or math.isinf(y):
            assert x == y, msg
        elif k == "time_to_progression":
            assert x == pytest.approx(y, rel=rel, abs=ttp_abs), msg
        elif "percent" in k:
            assert x == pytest.approx(y, rel=rel, abs=pct_abs), msg
        else:  # scan times: exact unless a classification changed
            assert x == pytest.approx(y, rel=rel), msg


# ----------------------------------------------------------------------------- the reported disagreement


def test_untreated_best_change_is_the_first_follow_up_scan_and_positive():
    """Untreated default patient: +18.7% (day-56 scan) everywhere; compare used to report +0.0%.

    RECIST 1.1 assesses response at the follow-up scans only, so the best change of a lesion that
    only grows is its smallest growth, positive. The old compare column was the continuous nadir
    (baseline included), clamped at 0.
    """
    model = td.models.tumor_immune_tme()
    cmp = td.compare(model, {"untreated": None}, t_end=T_END, scans=PLAN, progress=False)
    tr = cmp["untreated"]
    table = ro.recist(tr, PLAN).table
    day56 = float(table.loc[table["time"] == 56.0, "change_from_baseline"].iloc[0])
    assert day56 == pytest.approx(18.677, abs=0.01)
    assert ro.best_percent_change(tr, "lesion_diameter", scans=PLAN) == pytest.approx(day56, rel=SAME)
    assert cmp.to_dataframe().loc["untreated", "best_change_diameter_pct"] == pytest.approx(day56, rel=SAME)
    res = td.Cohort(model, {"r_S": model.defaults()["r_S"]}, n=1, seed=0).simulate(
        td.Schedule(), t_end=T_END, scans=PLAN, progress=False)
    assert res.readouts()["best_percent_change"][0] == pytest.approx(day56, rel=1e-4)  # daily grid, rtol 1e-6
    # the continuous best change is the nadir's (baseline included): 0 for a growing lesion
    assert ro.best_percent_change(tr, "lesion_diameter") == 0.0


# ----------------------------------------------------------------------------- same trajectory: to rounding


def test_compare_table_equals_the_trajectory_readouts(case):
    df = case["compare"].to_dataframe()
    for name, tr in case["compare"].trajectories.items():
        mine = trajectory_readouts(tr, case["diameter"])
        assert mine["recist_best_percent_change"] == mine["best_percent_change"]
        assert mine["recist_time_to_progression"] == mine["time_to_progression_scan"]
        assert_same(compare_readouts(df.loc[name]), mine, where=f"{case['name']}/{name}")


@pytest.mark.parametrize("engine", ENGINES)
def test_cohort_equals_the_readouts_of_its_own_trajectories(case, engine):
    for name, res in cohort_results(case, engine).items():
        mine = trajectory_readouts(res.trajectory(0, name), case["diameter"])
        assert_same(cohort_readouts(res, name), mine, where=f"{case['name']}/{engine}/{name}")


# ----------------------------------------------------------------------------- cohort engine against td.simulate


@pytest.mark.parametrize("engine", ENGINES)
def test_cohort_equals_compare(case, engine):
    """Cohort readouts equal compare's; to rounding when both solved with the same integrator.

    numba: the cohort's compiled loop is td.simulate's compiled integrator ("dopri5"), and adaptive
    regimens go through td.simulate in both, so the trajectories are the same. batch: another
    Dormand-Prince implementation, so values agree to the solver tolerance (EPS, TTP_DAYS above) and
    categories and scan times exactly.
    """
    cmp = case["compare"]
    df = cmp.to_dataframe()
    diam = case["diameter"]
    n_same = 0
    for name, res in cohort_results(case, engine).items():
        ref, ours = cmp[name], res.trajectory(0, name)
        np.testing.assert_array_equal(ours.t, ref.t)
        same = bool(getattr(res.schedules[name], "rules", ())) or (engine == "dopri5" and ref.stats.method == "dopri5")
        where = f"{case['name']}/{engine}/{name}"
        if same:
            n_same += 1
            np.testing.assert_allclose(ours[diam], ref[diam], rtol=1e-12, err_msg=where)
            assert_same(cohort_readouts(res, name), compare_readouts(df.loc[name]), where=where)
        else:
            np.testing.assert_allclose(ours[diam], ref[diam], rtol=EPS, err_msg=where)
            # a percent change 100 (D / D0 - 1) moves by at most 100 (D / D0) 2 EPS
            pct_abs = 100 * 2 * EPS * float(np.max(ref[diam]) / ref[diam][0])
            assert_same(cohort_readouts(res, name), compare_readouts(df.loc[name]), pct_abs=pct_abs,
                        ttp_abs=TTP_DAYS, where=where)
    assert n_same >= (len(case["regimens"]) if engine == "dopri5" else 1)  # every regimen / the adaptive ones
