"""Virtual cohorts: construction errors, determinism across executors, readouts, statistics, plots."""

import math
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

import tumordyn as td
from tumordyn.errors import SpecificationError, UnknownNameError
from tumordyn.numerics import compile_model

T_END = 168.0


def _model():
    # a weaker immune response and more resistance than the defaults: mixed outcomes across the cohort
    return td.models.tumor_immune_tme().with_defaults(k_E=0.3, mu=1e-5)


def _dists():
    return {
        "r_S": td.cohorts.LogNormal(median=0.05, cv=0.3),
        "k_T": td.cohorts.LogNormal(median=0.08, cv=0.6),
        "k_E": td.cohorts.LogNormal(median=0.3, cv=0.8),
        "S": td.cohorts.LogNormal(median=1e9, cv=0.5),  # baseline tumor size varies (initial state)
    }


def _regimens(t_end=T_END):
    targeted = td.Schedule.every("targeted", 100.0, 7.0, until=t_end)
    return {"targeted": targeted, "combo": targeted + td.Schedule.every("anti_pd1", 200.0, 21.0, until=t_end)}


@pytest.fixture(scope="module")
def result():
    cohort = td.Cohort(_model(), _dists(), n=64, seed=11)
    return cohort.simulate(_regimens(), t_end=T_END, scans=td.readouts.ScanPlan(interval=28.0), keep_trajectories=True,
                           method="batch", progress=False)


# -- construction --------------------------------------------------------------------------


def test_bad_input():
    m = _model()
    with pytest.raises(SpecificationError, match="`n` must be >= 1"):
        td.Cohort(m, _dists(), n=0, seed=1)
    with pytest.raises(UnknownNameError, match="r_s"):
        td.Cohort(m, {"r_s": td.cohorts.LogNormal(0.03, 0.3)}, n=5, seed=1)
    with pytest.raises(SpecificationError, match="bounds"):
        td.Cohort(m, {"b_A": td.cohorts.Normal(0.9, 0.5)}, n=64, seed=1)
    with pytest.raises(SpecificationError, match="positive semi-definite"):
        td.Cohort(m, {"r_S": td.cohorts.LogNormal(0.03, 0.3), "k_T": td.cohorts.LogNormal(0.1, 0.3), "d_E": td.cohorts.LogNormal(0.05, 0.3)},
                  n=5, seed=1, correlation={("r_S", "k_T"): 0.9, ("k_T", "d_E"): 0.9, ("r_S", "d_E"): -0.9})
    with pytest.raises(SpecificationError, match="sampling"):
        td.Cohort(m, _dists(), n=5, seed=1, sampling="halton")
    cohort = td.Cohort(m, _dists(), n=4, seed=1)
    with pytest.raises(TypeError, match="regimen"):
        cohort.simulate({"x": "weekly"})
    with pytest.raises(UnknownNameError):
        cohort.simulate(_regimens(), t_end=T_END, measure="diameter")
    with pytest.raises(SpecificationError, match="method"):
        cohort.simulate(_regimens(), t_end=T_END, method="euler")


def test_cohort_matrices_and_seed():
    m = _model()
    c1 = td.Cohort(m, _dists(), n=16, seed=5)
    c2 = td.Cohort(m, _dists(), n=16, seed=5)
    c3 = td.Cohort(m, _dists(), n=16, seed=6)
    np.testing.assert_array_equal(c1.param_matrix, c2.param_matrix)
    assert not np.array_equal(c1.param_matrix, c3.param_matrix)
    i = compile_model(m).param_names.index("k_T")
    np.testing.assert_array_equal(c1.param_matrix[i], c1.parameters["k_T"].to_numpy())
    np.testing.assert_array_equal(c1.initial_matrix[0], c1.parameters["S"].to_numpy())
    untouched = compile_model(m).param_names.index("d_E")
    assert np.all(c1.param_matrix[untouched] == m.defaults()["d_E"])
    assert not c1.param_matrix.flags.writeable
    assert td.Cohort(m, _dists(), n=3).seed >= 0


# -- readouts ------------------------------------------------------------------------------


def test_dataframe_shape_and_rates(result):
    df = result.to_dataframe()
    assert len(df) == 64 * 2
    assert set(df["regimen"]) == {"targeted", "combo"}
    assert {"best_overall_response", "best_percent_change", "time_to_progression", "k_T"} <= set(df.columns)
    rr = result.response_rates()
    for name, row in rr.iterrows():
        assert row[["CR", "PR", "SD", "PD", "NE"]].sum() == 64
        assert row["ORR"] == pytest.approx((row["CR"] + row["PR"]) / row["n_evaluable"])
        assert row["ORR_low"] <= row["ORR"] <= row["ORR_high"]
    # the combination shrinks the tumor burden at least as much as the targeted drug alone (the *measured*
    # lesion may not: infiltrating T cells count in it, pseudoprogression)
    bpc = df.pivot(index="patient", columns="regimen", values="best_percent_change_burden")
    assert (bpc["combo"] <= bpc["targeted"] + 1e-6).mean() > 0.9
    assert len(set(df["best_overall_response"])) >= 2  # mixed outcomes


def test_array_readouts_equal_trajectory_readouts(result):
    """The batched readouts follow tumordyn.readouts' definitions exactly (same trajectory)."""
    plan = td.readouts.ScanPlan(interval=28.0)
    n_ne = n_evaluable = 0
    for name in result.regimens:
        ro = result.readouts(name)
        for j in range(0, 64, 4):
            tr = result.trajectory(j, name)
            ttp = td.readouts.time_to_progression(tr)
            assert ro["time_to_progression"][j] == pytest.approx(ttp, rel=1e-12)
            assert ro["best_percent_change_burden"][j] == pytest.approx(td.readouts.best_percent_change(tr))
            if ro["best_overall_response"][j] == "NE":  # baseline lesion below 10 mm: not measurable
                n_ne += 1
                with pytest.raises(SpecificationError, match="measurable"):
                    td.readouts.recist(tr, plan)
                continue
            rec = td.readouts.recist(tr, plan)
            assert ro["best_overall_response"][j] == rec.best_overall_response
            assert ro["time_to_progression_scan"][j] == rec.time_to_progression
            np.testing.assert_allclose(ro["scan_percent_change"][:, j], rec.table["change_from_baseline"], atol=1e-9)
            assert ro["best_percent_change"][j] == pytest.approx(rec.table["change_from_baseline"].iloc[1:].min())
            assert ro["duration_of_response_scan"][j] == pytest.approx(td.readouts.duration_of_response(tr, plan))
            n_evaluable += 1
    assert n_evaluable > 10


def test_accuracy_against_simulate(result):
    """Kept trajectories agree with a tight single-patient solve (DOP853, rtol 1e-10)."""
    m = result.cohort.model
    c = compile_model(m)
    atol = dict(zip(c.state_names, (c.atol * 1e-3).tolist()))
    for j in (0, 17, 42):
        ref = td.simulate(m, result.schedules["combo"], t_end=T_END, t_eval=result.t,
                          params=result.cohort.patient_params(j), initial=result.cohort.patient_initial(j),
                          method="DOP853", rtol=1e-10, atol=atol)
        ours = result.trajectory(j, "combo")
        np.testing.assert_allclose(ours["lesion_diameter"], ref["lesion_diameter"], rtol=1e-5)
        np.testing.assert_allclose(ours["tumor_burden"], ref["tumor_burden"], rtol=1e-4)


def test_same_numbers_whatever_executor():
    cohort = td.Cohort(_model(), _dists(), n=10, seed=2)
    kw = dict(t_end=56.0, scans=td.readouts.ScanPlan(interval=28.0), method="batch", progress=False)
    regs = _regimens(56.0)
    ref = cohort.simulate(regs, **kw).to_dataframe()
    with ThreadPoolExecutor(2) as ex:
        threads = cohort.simulate(regs, ex, chunk_size=3, **kw).to_dataframe()
    pd.testing.assert_frame_equal(ref, threads)
    singles = cohort.simulate(regs, chunk_size=1, **kw).to_dataframe()  # one patient per batch
    pd.testing.assert_frame_equal(ref, singles)


@pytest.mark.slow  # numba compiles the model's right-hand side (~10 s on a busy machine)
def test_numba_engine_agrees_with_batch_engine():
    pytest.importorskip("numba")
    cohort = td.Cohort(_model(), _dists(), n=16, seed=8)
    kw = dict(t_end=84.0, scans=td.readouts.ScanPlan(interval=28.0), progress=False, rtol=1e-8)
    a = cohort.simulate(_regimens(84.0), method="batch", **kw).to_dataframe()
    b = cohort.simulate(_regimens(84.0), method="dopri5", **kw).to_dataframe()
    np.testing.assert_allclose(a["best_percent_change"], b["best_percent_change"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(a["final_tumor_burden"], b["final_tumor_burden"], rtol=1e-5)
    assert (a["best_overall_response"] == b["best_overall_response"]).all()


def _small_cohort():
    # a model that compiles fast in a fresh worker process
    m = td.models.logistic_growth()
    return td.Cohort(m, {"r": td.cohorts.LogNormal(0.2, 0.5), "N": td.cohorts.LogNormal(50.0, 0.3)}, n=20, seed=9)


_SMALL_KW = dict(t_end=60.0, scans=td.readouts.ScanPlan(interval=20.0), measure="N", min_measurable=0.0, min_increase=0.0,
                 method="batch", progress=False)


def test_same_numbers_in_a_process_pool():
    cohort = _small_cohort()
    ref = cohort.simulate(td.Schedule(), **_SMALL_KW).to_dataframe()
    with ProcessPoolExecutor(2) as ex:
        procs = cohort.simulate(td.Schedule(), ex, chunk_size=7, **_SMALL_KW).to_dataframe()
    pd.testing.assert_frame_equal(ref, procs)
    assert ref["progressed"].any()


@pytest.mark.parametrize("processes", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_dask_local_cluster(processes):
    distributed = pytest.importorskip("distributed")
    cohort = _small_cohort()
    ref = cohort.simulate(td.Schedule(), **_SMALL_KW).to_dataframe()
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=processes, dashboard_address=None) as cl, \
            distributed.Client(cl) as client:
        out = cohort.simulate(td.Schedule(), client, chunk_size=6, **_SMALL_KW)
    pd.testing.assert_frame_equal(ref, out.to_dataframe())
    assert out.stats.n_chunks == 4


@pytest.mark.parametrize("method", ["batch", pytest.param("dopri5", marks=pytest.mark.slow)])
def test_failed_patient_reported_rest_kept(method):
    if method == "dopri5":
        pytest.importorskip("numba")
    m = td.models.logistic_growth()
    cohort = td.Cohort(m, {"r": td.cohorts.Uniform(0.05, 1.0)}, n=16, seed=0, sampling="random")
    res = cohort.simulate(td.Schedule(), t_end=60.0, scans=td.readouts.ScanPlan(interval=20.0), measure="N",
                          min_measurable=0.0, min_increase=0.0, max_steps=25, fallback=False, method=method)
    fails = res.failures
    assert len(fails) >= 1
    assert set(fails.columns) == {"patient", "regimen", "parameters", "t_reached", "message"}
    row = fails.iloc[0]
    assert "max_steps" in row["message"] and 0 < row["t_reached"] < 60.0
    assert row["parameters"]["r"] == pytest.approx(cohort.parameters["r"][row["patient"]])
    # the failing ones are the fast growers; the others have readouts
    df = res.to_dataframe()
    assert df.loc[df["failed"], "r"].min() > df.loc[~df["failed"], "r"].max()
    assert df.loc[~df["failed"], "time_to_progression"].notna().all()
    assert (df.loc[df["failed"], "best_overall_response"] == "NE").all()
    # with the LSODA fallback every patient is rescued
    res2 = cohort.simulate(td.Schedule(), t_end=60.0, scans=td.readouts.ScanPlan(interval=20.0), measure="N",
                           min_measurable=0.0, min_increase=0.0, max_steps=25, method=method)
    assert res2.failures.empty and res2.stats.n_fallback == len(fails)


def test_run_in_baseline_biomarkers():
    cohort = td.Cohort(_model(), {"a_P": td.cohorts.LogNormal(0.2, 0.5)}, n=8, seed=1)
    res = cohort.simulate(_regimens(56.0), t_end=56.0, scans=td.readouts.ScanPlan(interval=28.0), run_in=30.0, method="batch")
    base = res.baseline()
    assert {"a_P", "baseline_P", "baseline_effector_exhausted_ratio", "baseline_lesion_diameter"} <= set(base.columns)
    # TME suppression after the run-in increases with its production rate a_P
    assert pd.Series(base["a_P"]).corr(base["baseline_P"], method="spearman") > 0.9
    ref = td.simulate(cohort.model, None, t_end=30.0, t_eval=[0, 30.0], params=cohort.patient_params(3),
                      method="DOP853", rtol=1e-10)
    assert base["baseline_P"].iloc[3] == pytest.approx(ref["P"][-1], rel=1e-5)


# -- statistics ------------------------------------------------------------------------------


def test_kaplan_meier_hand_computed():
    km = td.cohorts.kaplan_meier([1, 2, 2, 3, 4, 5], [1, 1, 0, 1, 0, 1])
    tab = km.table
    np.testing.assert_allclose(tab["survival"], [5 / 6, 2 / 3, 2 / 3 * 1, 4 / 9, 4 / 9, 0.0][: len(tab)]
                               if len(tab) == 6 else [5 / 6, 2 / 3, 4 / 9, 4 / 9, 0.0])
    assert tab["at_risk"].tolist() == [6, 5, 3, 2, 1]
    assert tab["censored"].tolist() == [0, 1, 0, 1, 0]
    assert km.median == 3.0
    # Greenwood at t = 3: S^2 (1/30 + 1/20 + 1/6) = (16/81)(1/4)
    assert tab.loc[2, "std_err"] == pytest.approx(math.sqrt(16 / 81 / 4))
    # log-log band at t = 3
    s, g = 4 / 9, 0.25
    sl = math.sqrt(g) / abs(math.log(s))
    assert tab.loc[2, "lower"] == pytest.approx(s ** math.exp(1.959963984540054 * sl))
    assert tab.loc[2, "upper"] == pytest.approx(s ** math.exp(-1.959963984540054 * sl))
    assert km.median_ci[0] <= km.median <= km.median_ci[1]
    assert km.survival_at([0.5, 2.5, 10]).tolist() == pytest.approx([1.0, 2 / 3, 0.0])
    never = td.cohorts.kaplan_meier([5, 6, 7], [0, 0, 1])
    assert never.median == 7.0 and td.cohorts.kaplan_meier([5, 6], [0, 0]).median == math.inf
    with pytest.raises(SpecificationError):
        td.cohorts.kaplan_meier([1, np.inf], [1, 0])


def test_prcc_recovers_monotone_dependence_and_removes_confounding():
    rng = np.random.default_rng(0)
    n = 500
    x1 = rng.normal(size=n)
    x2 = 0.8 * x1 + 0.6 * rng.normal(size=n)  # correlated with x1 but without its own effect
    x3 = rng.normal(size=n)
    y = np.exp(x1) + 0.5 * x3 + 0.05 * rng.normal(size=n)
    res = td.cohorts.partial_rank_correlation(np.column_stack([x1, x2, x3]), y, ["x1", "x2", "x3"])
    assert res.loc["x1", "prcc"] > 0.8 and res.loc["x1", "p_value"] < 1e-10
    assert res.loc["x3", "prcc"] > 0.5
    assert abs(res.loc["x2", "prcc"]) < 0.15
    assert np.corrcoef(x2, y)[0, 1] > 0.5  # plain correlation would have blamed x2


def test_sensitivity_and_responders(result):
    sens = result.sensitivity("combo")
    assert set(sens.index) == {"r_S", "k_T", "k_E", "S"}
    assert sens.loc["k_T", "prcc"] < 0  # a stronger drug shrinks the tumor more (more negative best change)
    resp = result.responders("targeted")
    assert "k_T" in resp.index and resp.loc["k_T", "auc"] > 0.5
    with pytest.raises(UnknownNameError):
        result.sensitivity("combo", outcome="nope")


def test_sensitivity_rbd_fast(result):
    pytest.importorskip("SALib")
    s1 = result.sensitivity("combo", algorithm="rbd_fast")
    assert set(s1.columns) == {"S1", "S1_conf"}
    assert s1["S1"].idxmax() == "k_T"  # the drug's potency explains most of the variance of the best change


def test_kaplan_meier_result(result):
    km = result.kaplan_meier()
    assert set(km) == {"targeted", "combo"}
    for name, k in km.items():
        ttp = result.readouts(name)["time_to_progression_scan"]
        assert k.n_events == int(np.isfinite(ttp).sum())
    med = result.median_ttp("continuous")
    assert list(med.index) == ["targeted", "combo"]


# -- plots -------------------------------------------------------------------------------------


def test_plots_return_axes(result):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2)
    ax = result.waterfall("combo", ax=axes[0, 0])
    assert ax is axes[0, 0]
    n_bars = int(np.isfinite(result.readouts("combo")["best_percent_change"]).sum())
    assert len(ax.patches) == n_bars
    assert result.plot_kaplan_meier(ax=axes[0, 1]) is axes[0, 1]
    assert len(axes[0, 1].get_legend().get_texts()) == 2
    assert result.spider("combo", ax=axes[1, 0], n_patients=10) is axes[1, 0]
    assert result.swimmer("combo", ax=axes[1, 1], n_patients=10) is axes[1, 1]
    assert result.waterfall("targeted") is not None
    plt.close("all")


def test_adaptive_regimen_patient_by_patient():
    """A regimen with an adaptive rule is simulated patient by patient through td.simulate."""
    m = _model()
    cohort = td.Cohort(m, {"k_T": td.cohorts.LogNormal(0.15, 0.3)}, n=3, seed=0)
    template = td.Schedule.every("targeted", 100.0, 7.0, until=83.0)
    adaptive = td.Schedule() + td.AdaptiveRule("targeted", on=template, pause_below=0.7, resume_at=0.9)
    res = cohort.simulate({"adaptive": adaptive, "continuous": template}, t_end=84.0,
                          scans=td.readouts.ScanPlan(interval=28.0), keep_trajectories=True, method="batch")
    for j in range(3):
        ref = td.simulate(m, adaptive, t_end=84.0, t_eval=res.t, params=cohort.patient_params(j),
                          initial=cohort.patient_initial(j))
        np.testing.assert_array_equal(res.trajectory(j, "adaptive").y, ref.y)
    assert res.failures.empty


def test_progress_bar_only_when_asked(capsys):
    cohort = _small_cohort()
    cohort.simulate(td.Schedule(), **dict(_SMALL_KW, progress=True))
    assert "cohort" in capsys.readouterr().err
    cohort.simulate(td.Schedule(), **_SMALL_KW)  # progress=False
    assert capsys.readouterr().err == ""


def test_solver_object_in_place_of_the_keywords():
    cohort = td.Cohort(_model(), _dists(), n=8, seed=3)
    regs = {"targeted": td.Schedule.every("targeted", 100.0, 7.0, until=56.0)}
    a = cohort.simulate(regs, t_end=56.0, solver=td.Solver(method="batch", rtol=1e-8), progress=False)
    b = cohort.simulate(regs, t_end=56.0, method="batch", rtol=1e-8, progress=False)
    pd.testing.assert_frame_equal(a.to_dataframe(), b.to_dataframe())
    with pytest.raises(SpecificationError, match="cohort solver method"):
        cohort.simulate(regs, t_end=56.0, solver=td.Solver(method="LSODA"), progress=False)
    with pytest.raises(TypeError, match="Solver"):
        cohort.simulate(regs, t_end=56.0, solver="batch", progress=False)


def test_a_bare_adaptive_rule_is_a_regimen_as_in_compare():
    model = td.models.tumor_immune_tme()
    rule = td.AdaptiveRule("targeted", on=td.Schedule.every("targeted", 100.0, 7.0, until=120.0),
                           observable="tumor_burden", pause_below=0.5, resume_at=1.0)
    cohort = td.Cohort(model, {"r_S": td.cohorts.LogNormal(0.05, 0.2)}, n=4, seed=1)
    bare = cohort.simulate({"adaptive": rule}, t_end=120.0, progress=False).to_dataframe()
    wrapped = cohort.simulate({"adaptive": td.Regimen(rules=(rule,))}, t_end=120.0, progress=False).to_dataframe()
    pd.testing.assert_frame_equal(bare, wrapped)
