"""Tests for tumordyn.fitting._fit (fit, FitResult) and tumordyn.fitting._selection (select_models)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import sympy as sp

import tumordyn as td
from tumordyn.fitting._fit import FAILED_SOLVE_RESIDUAL
from tumordyn.errors import SpecificationError, UnknownNameError
from tumordyn.models import logistic_solution

T = np.arange(0.0, 15.0, 1.0)


def logistic_df(subjects: dict[str, tuple[float, float, float]], times: np.ndarray = T) -> pd.DataFrame:
    """Exact logistic data (closed form, independent of the solver) per subject: (N0, r, K)."""
    frames = [pd.DataFrame({"subject": s, "time": times, "observable": "N", "value": logistic_solution(times, *a)})
              for s, a in subjects.items()]
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def logistic():
    return td.models.logistic_growth()


@pytest.fixture(scope="module")
def tumor():
    return td.fitting.growth_model("logistic", resistant=True)


# ------------------------------------------------------------------ exact recovery (closed form)
@pytest.mark.parametrize("solver", ["auto", "LSODA"])
def test_exact_logistic_recovery(logistic, solver):
    df = logistic_df({"A": (10.0, 0.6, 800.0)})
    res = td.fit(logistic, df, free=["r", "K"], solver=solver)
    assert res.success
    assert res.params["r"].value == pytest.approx(0.6, rel=1e-6)
    assert res.params["K"].value == pytest.approx(800.0, rel=1e-6)
    assert res.chisqr < 1e-10
    assert res.n_failed_solves == 0


def test_compiled_engine_is_used_when_numba_is_available(logistic):
    """The fast engine must not silently fall back to scipy (an internal API change once did)."""
    from tumordyn.solve._compiled import numba_available

    if not numba_available():
        pytest.skip("numba not installed")
    import warnings

    from tumordyn.solve._compiled import CompiledEngine

    calls = []
    original = CompiledEngine.solve

    def spy(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    df = logistic_df({"A": (10.0, 0.6, 800.0)})
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(CompiledEngine, "solve", spy)
            res = td.fit(logistic, df, free=["r", "K"], scale="linear", solver="auto")
    assert calls, "the compiled engine was never called"
    assert res.engine == "dopri5"
    assert res.params["r"].value == pytest.approx(0.6, rel=1e-5)


def test_shared_and_per_subject_parameters_and_initial_states(logistic):
    df = logistic_df({"P-01": (10.0, 0.5, 600.0), "P-02": (25.0, 0.5, 900.0)})
    res = td.fit(logistic, df, free={"r": "shared", "K": "subject"}, initial_free=["N"],
                 initial={"N": 15.0})
    v = res.values()
    assert set(v) == {"r", "K__P_01", "K__P_02", "init_N__P_01", "init_N__P_02"}
    assert v["r"] == pytest.approx(0.5, rel=1e-5)
    assert v["K__P_01"] == pytest.approx(600.0, rel=1e-5)
    assert v["K__P_02"] == pytest.approx(900.0, rel=1e-5)
    assert v["init_N__P_01"] == pytest.approx(10.0, rel=1e-5)
    assert v["init_N__P_02"] == pytest.approx(25.0, rel=1e-5)
    assert res.subject_parameters("P-02")["K"] == pytest.approx(900.0, rel=1e-5)
    assert res.subject_initial("P-01")["N"] == pytest.approx(10.0, rel=1e-5)


def test_shared_initial_state(logistic):
    df = logistic_df({"a": (12.0, 0.5, 700.0), "b": (12.0, 0.5, 700.0)})
    res = td.fit(logistic, df, free=["r"], initial_free={"N": "shared"}, params={"K": 700.0})
    assert set(res.values()) == {"r", "init_N"}
    assert res.params["init_N"].value == pytest.approx(12.0, rel=1e-5)


def test_engines_agree_on_treated_multi_subject_fit(tumor):
    sch = {"a": td.Schedule.infusion("drug", 1.0, 10, 40), "b": td.Schedule.infusion("drug", 1.0, 5, 15)}
    df = td.fitting.synthetic_data(tumor, sch, np.arange(0, 41, 4.0), "tumor_volume", sigma=0.1, seed=3,
                           params={"r": 0.12, "K": 3000.0, "kill": 0.35}, initial={"S": 90.0, "R": 1.5})
    kw = dict(free=["r", "K", "kill"], schedules=sch, initial={"S": 90.0, "R": 1.5})
    fast = td.fit(tumor, df, **kw)
    slow = td.fit(tumor, df, solver="LSODA", **kw)
    for n in ("r", "K", "kill"):
        assert fast.params[n].value == pytest.approx(slow.params[n].value, rel=1e-4)
    assert fast.chisqr == pytest.approx(slow.chisqr, rel=1e-6)


def test_jacobian_matches_central_differences(tumor):
    sch = td.Schedule.infusion("drug", 1.0, 8, 30)
    df = td.fitting.synthetic_data(tumor, sch, np.arange(0, 31, 3.0), "tumor_volume", sigma=0.1, seed=1, subjects=2)
    res = td.fit(tumor, df, free=["r", "kill"], initial_free=["S"], schedules=sch)
    prob = res._problem
    p = res.params.copy()
    J = prob.jacobian(p)
    for k, n in enumerate(p):
        h = 1e-4 * abs(p[n].value)
        a, b = p.copy(), p.copy()
        a[n].value += h
        b[n].value -= h
        central = (prob.residual(a) - prob.residual(b)) / (2 * h)
        np.testing.assert_allclose(J[:, k], central, rtol=1e-3, atol=1e-4 * np.abs(central).max())


# ------------------------------------------------------------------ recovery with noise
def _recovery(tumor, seed: int):
    truth = {"r": 0.12, "K": 3000.0, "kill": 0.35}
    # two treated subjects and an untreated one that saturates (so that K is identifiable)
    sch = {"A": td.Schedule.infusion("drug", 1.0, 10, 70), "B": td.Schedule.infusion("drug", 1.0, 10, 24)
           + td.Schedule.infusion("drug", 1.0, 38, 52), "C": td.Schedule()}
    df = td.fitting.synthetic_data(tumor, sch, np.linspace(0, 70, 15), "tumor_volume", noise="lognormal", sigma=0.1,
                           seed=seed, params=truth, initial={"S": 90.0, "R": 1.5})
    res = td.fit(tumor, df, free=["r", "K", "kill"], initial_free={"S": "shared", "R": "shared"}, schedules=sch)
    ci = res.confidence_table(0.95)
    truth |= {"init_S": 90.0, "init_R": 1.5}
    return {n: bool(ci.loc[n, "lower"] <= truth[n] <= ci.loc[n, "upper"]) for n in truth}, res


# All five truths inside their 95 % intervals at once happens with probability ~0.95**5 = 0.77, so a
# few seeds fail by design (13, 14, 15 do): these seeds are ones where it holds; the calibration
# itself (per-parameter coverage ~95 % over 40 seeds) is checked by the slow test below.
@pytest.mark.parametrize("seed", [11, 12, 16, 17])
def test_truth_inside_95_percent_interval(tumor, seed):
    inside, res = _recovery(tumor, seed)
    assert res.success
    assert all(inside.values()), inside


@pytest.mark.slow
def test_coverage_of_95_percent_intervals_over_many_seeds(tumor):
    hits = [v for seed in range(40) for v in _recovery(tumor, 100 + seed)[0].values()]
    assert 0.90 <= np.mean(hits) <= 0.99  # per-parameter coverage of nominal 95 % intervals


def test_censored_rows_are_one_sided(tumor):
    sch = td.Schedule.infusion("drug", 1.0, 5, 60)
    truth = {"r": 0.1, "K": 3000.0, "kill": 0.4}
    df = td.fitting.synthetic_data(tumor, sch, np.arange(0, 61, 3.0), "tumor_volume", sigma=0.1, seed=5, lod=10.0,
                           params=truth, initial={"S": 100.0, "R": 0.5}, subjects=2)
    assert 4 <= df["censored"].sum() <= 20
    res = td.fit(tumor, df, free=["r", "kill"], schedules=sch, initial={"S": 100.0, "R": 0.5},
                 params={"K": 3000.0})
    r = res.residuals
    cen = r[r["censored"]]
    below = cen["prediction"] <= cen["value"]
    assert below.any()
    assert np.all(cen.loc[below, "residual"] == 0.0)
    above = cen[~below]
    np.testing.assert_allclose(above["residual"], np.log(above["prediction"] / above["value"]) / 0.1)
    ci = res.confidence_table(0.997)  # a sanity check of the estimates (3 standard errors)
    for n in ("r", "kill"):
        assert ci.loc[n, "lower"] <= truth[n] <= ci.loc[n, "upper"]


def test_weights_scale_residuals(logistic):
    df = logistic_df({"A": (10.0, 0.6, 800.0)})
    df["value"] *= np.exp(0.05 * np.sin(np.arange(len(df))))
    r1 = td.fit(logistic, df, free=["r", "K"]).residuals["residual"].to_numpy()
    r2 = td.fit(logistic, df, free=["r", "K"], weights={"N": 2.0}).residuals["residual"].to_numpy()
    np.testing.assert_allclose(r2, 2 * r1, rtol=1e-4, atol=1e-8)


def test_linear_scale_and_sigma(logistic):
    df = logistic_df({"A": (10.0, 0.6, 800.0)})
    df["sigma"] = 5.0
    df.loc[3, "value"] += 5.0
    res = td.fit(logistic, df, free=["r", "K"], scale="linear")
    r = res.residuals
    np.testing.assert_allclose(r["residual"], (r["prediction"] - r["value"]) / 5.0)


def test_plain_arrays_and_no_mutation(logistic):
    df = logistic_df({"A": (10.0, 0.6, 800.0)})
    before = df.copy()
    cols = {c: df[c].to_numpy() for c in df.columns}
    a = td.fit(logistic, df, free=["r", "K"])
    b = td.fit(logistic, cols, free=["r", "K"])
    pd.testing.assert_frame_equal(df, before)
    assert a.params["r"].value == pytest.approx(b.params["r"].value, rel=1e-12)


def test_result_data_is_a_checked_copy_unaffected_by_later_edits_of_the_input(logistic):
    # FitResult.data is built from the checked columns on first access (a fit does not need the DataFrame):
    # it must be the checked table as it was at fit time, whatever the user does to their table afterwards
    df = logistic_df({"A": (10.0, 0.6, 800.0), "B": (20.0, 0.5, 600.0)})
    df.index = df.index * 10 + 3  # row labels are kept
    df["sigma"] = 2.0
    df["censored"] = [i == 4 for i in range(len(df))]
    # the expected table owns its arrays (np.array copies), so the edits below cannot reach it through a view
    expected = pd.DataFrame({"subject": np.array(df["subject"].tolist(), dtype=object),
                             "time": np.array(df["time"], dtype=float), "value": np.array(df["value"], dtype=float),
                             "sigma": 2.0, "observable": "N", "censored": np.array(df["censored"], dtype=bool)},
                            index=df.index.copy())
    res = td.fit(logistic, df, free=["r", "K"], scale="linear")
    df.loc[df.index[0], ["subject", "observable"]] = ["Z", "X"]  # edits after the fit ...
    df["value"] = -1.0
    df["censored"] = True
    data = res.data
    assert data is res.data  # built once
    assert list(data.columns) == ["subject", "time", "value", "sigma", "observable", "censored"]
    text = {"subject": object, "observable": object}
    pd.testing.assert_frame_equal(data.astype(text), expected.astype(text), check_exact=True)  # ... do not reach it
    assert res.residuals["value"].tolist() == expected["value"].tolist()


def test_any_lmfit_method(logistic):
    df = logistic_df({"A": (10.0, 0.6, 800.0)})
    for method in ("leastsq", "nelder"):
        res = td.fit(logistic, df, free=["r"], params={"K": 800.0}, optimizer=method)
        assert res.params["r"].value == pytest.approx(0.6, rel=1e-3)


def test_observable_and_state_data_together():
    m = td.fitting.growth_model("exponential", resistant=True)
    sch = td.Schedule.infusion("drug", 1.0, 5, 30)
    df = td.fitting.synthetic_data(m, sch, np.arange(0, 31, 3.0), ["tumor_volume", "R"], sigma=0.0, seed=0,
                           params={"r": 0.08, "kill": 0.3})
    res = td.fit(m, df, free=["r", "kill"], schedules=sch)
    assert res.params["r"].value == pytest.approx(0.08, rel=1e-5)
    assert res.params["kill"].value == pytest.approx(0.3, rel=1e-5)


# ------------------------------------------------------------------ result API
def test_result_api(logistic):
    df = logistic_df({"A": (10.0, 0.6, 800.0), "B": (20.0, 0.6, 800.0)})
    df["value"] *= np.exp(0.05 * np.cos(np.arange(len(df))))
    res = td.fit(logistic, df, free=["r", "K"], initial_free=["N"])
    rep = res.report()
    assert "logistic_growth" in rep and "init_N__A" in rep and "Akaike" in rep
    assert math.isfinite(res.aic) and math.isfinite(res.bic) and res.bic > res.aic  # k ln n > 2k for n > 7
    corr = res.correlations()
    assert corr.shape == (4, 4) and np.allclose(np.diag(corr), 1.0)
    pred = res.predict(times=T)
    assert list(pred.columns) == ["subject", "time", "observable", "value"]
    r = res.residuals
    a = pred[pred["subject"] == "A"]["value"].to_numpy()
    np.testing.assert_allclose(a, r[r["subject"] == "A"]["prediction"].to_numpy(), rtol=1e-6)
    traj = res.trajectory("B", t_eval=T)
    np.testing.assert_allclose(traj["N"], r[r["subject"] == "B"]["prediction"].to_numpy(), rtol=1e-6)
    fig = res.plot()
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 2
    import matplotlib.pyplot as plt

    plt.close(fig)
    ci = res.conf_interval(sigmas=[1], names=["r"])
    (plo, lo), (_, best), (phi, hi) = ci["r"]
    assert lo < best < hi and best == pytest.approx(res.params["r"].value)
    w = res.confidence_table(0.6827)
    assert lo == pytest.approx(w.loc["r", "lower"], rel=0.02)
    with pytest.raises(UnknownNameError):
        res.trajectory("Z")


def test_failed_solve_gives_finite_penalty():
    # constant loss that does not vanish at zero: the state goes negative for large k
    N, k = sp.symbols("N k")
    m = td.Model("linear_decay", states=[td.State("N", 100.0, atol=1e-6)],
                 parameters=[td.Parameter("k", 5.0, (0.0, 100.0), "cells/day")],
                 processes=[td.Process("loss", k, consumes="N")], check_positivity=False)
    t = np.arange(0.0, 11.0)
    df = pd.DataFrame({"subject": 1, "time": t, "observable": "N", "value": 100.0 - 5.0 * t})
    res = td.fit(m, df, free=["k"], params={"k": 6.0}, scale="linear")
    assert res.params["k"].value == pytest.approx(5.0, rel=1e-6)
    p = res.params.copy()
    p["k"].value = 50.0
    r = res._problem.residual(p)
    assert np.all(r == res._problem.failed_residual) and res._problem.failed_residual >= FAILED_SOLVE_RESIDUAL
    assert res._problem.n_failed >= 1
    with pytest.raises(td.errors.NegativeStateError, match="cannot be solved at the start values"):
        td.fit(m, df, free=["k"], params={"k": 50.0}, scale="linear")


# ------------------------------------------------------------------ bad input
@pytest.fixture()
def good():
    return logistic_df({"A": (10.0, 0.6, 800.0), "B": (20.0, 0.6, 800.0)})


@pytest.mark.parametrize(
    "column, row, value, match",
    [
        ("value", 3, np.nan, r"row 3 \(position 3\): value is nan"),
        ("value", 5, np.inf, r"row 5 .*finite"),
        ("time", 2, -np.inf, r"row 2 .*time"),
        ("value", 4, 0.0, r"row 4 .*not positive.*log scale"),
        ("value", 6, -3.0, r"row 6 .*not positive"),
        ("time", 7, -1.0, r"row 7 .*before the start.*t0 = 0"),
    ],
)
def test_bad_values_name_the_row(logistic, good, column, row, value, match):
    good.loc[row, column] = value
    with pytest.raises(SpecificationError, match=match):
        td.fit(logistic, good, free=["r"])


def test_non_positive_values_are_fine_on_linear_scale(logistic, good):
    good.loc[0, "value"] = 0.0
    td.fit(logistic, good, free=["r"], scale="linear")


def test_bad_sigma(logistic, good):
    good["sigma"] = 0.1
    good.loc[9, "sigma"] = 0.0
    with pytest.raises(SpecificationError, match=r"row 9 .*sigma must be > 0"):
        td.fit(logistic, good, free=["r"])


def test_unknown_observable(logistic, good):
    good.loc[4, "observable"] = "tumour_burden"
    with pytest.raises(UnknownNameError, match=r"tumour_burden.*row 4.*did you mean 'tumor_burden'"):
        td.fit(logistic, good, free=["r"])


def test_unknown_subjects(logistic, good):
    with pytest.raises(UnknownNameError, match=r"unknown subject 'C'.*schedules"):
        td.fit(logistic, good, free=["r"], schedules={"A": td.Schedule(), "B": td.Schedule(), "C": td.Schedule()})
    with pytest.raises(SpecificationError, match=r"subject 'B' .*has no schedule"):
        td.fit(logistic, good, free=["r"], schedules={"A": td.Schedule()})
    with pytest.raises(UnknownNameError, match=r"unknown subject 'X'.*initial"):
        td.fit(logistic, good, free=["r"], initial={"X": {"N": 3.0}})


def test_unknown_parameter_state_and_mode(logistic, good):
    with pytest.raises(UnknownNameError, match=r"unknown parameter 'rr'.*did you mean 'r'"):
        td.fit(logistic, good, free=["rr"])
    with pytest.raises(UnknownNameError, match=r"unknown state 'M'"):
        td.fit(logistic, good, free=["r"], initial_free=["M"])
    with pytest.raises(SpecificationError, match=r"mode of parameter 'r' must be 'shared' or 'subject'"):
        td.fit(logistic, good, free={"r": "global"})
    with pytest.raises(SpecificationError, match="nothing to fit"):
        td.fit(logistic, good, free=[])
    with pytest.raises(UnknownNameError, match=r"unknown parameter 'KK'"):
        td.fit(logistic, good, free=["r"], params={"KK": 1.0})


def test_fewer_points_than_parameters(logistic, good):
    small = good.iloc[:3]
    with pytest.raises(SpecificationError, match=r"3 data points cannot determine 3 free parameters \(r, K, init_N__A\)"):
        td.fit(logistic, small, free=["r", "K"], initial_free={"N": "subject"})


def test_missing_columns_and_types(logistic, good):
    with pytest.raises(SpecificationError, match="lacks the column.*observable"):
        td.fit(logistic, good.drop(columns="observable"), free=["r"])
    with pytest.raises(TypeError, match="DataFrame"):
        td.fit(logistic, [1, 2, 3], free=["r"])
    with pytest.raises(SpecificationError, match="`scale`"):
        td.fit(logistic, good, free=["r"], scale="log10")
    with pytest.raises(TypeError, match="Model"):
        td.fit("logistic", good, free=["r"])
    with pytest.raises(SpecificationError, match="unknown lmfit `optimizer` 'levenberg'"):
        td.fit(logistic, good, free=["r"], optimizer="levenberg")


def test_bounds(logistic, good):
    with pytest.raises(SpecificationError, match=r"bounds\['r'\].*low < high"):
        td.fit(logistic, good, free=["r"], bounds={"r": (1.0, 0.5)})
    with pytest.raises(SpecificationError, match="start value 0.5 of free parameter 'r' is outside"):
        td.fit(logistic, good, free=["r"], bounds={"r": (0.55, 0.9)}, params={"r": 0.5})
    with pytest.raises(SpecificationError, match="not in `free`"):
        td.fit(logistic, good, free=["r"], bounds={"K": (1.0, 2000.0)})
    with pytest.warns(td.errors.FitWarning, match=r"K \(upper bound 700\)"):
        res = td.fit(logistic, good, free=["r", "K"], bounds={"K": (100.0, 700.0)}, params={"K": 500.0})
    assert res.at_bounds == {"K": "upper"}
    assert res.params["K"].max == 700.0
    assert res.params["K"].value == pytest.approx(700.0, rel=1e-6)  # truth 800 lies outside: pinned at the bound


# ------------------------------------------------------------------ model selection
def test_select_models_prefers_the_resistant_clone():
    truth = td.fitting.growth_model("exponential", resistant=True)
    sch = {"a": td.Schedule.infusion("drug", 1.0, 6, 40), "b": td.Schedule.infusion("drug", 1.0, 10, 40)}
    df = td.fitting.synthetic_data(truth, sch, np.arange(0, 41, 3.0), "tumor_volume", sigma=0.1, seed=4,
                           params={"r": 0.1, "kill": 0.4}, initial={"S": 100.0, "R": 2.0})
    cands = {k: v for k, v in td.fitting.growth_models().items() if k.startswith(("exponential", "logistic"))}
    table, fits = td.fitting.select_models(cands, df, schedules=sch, return_fits=True, solver="LSODA")
    assert list(table.columns[:5]) == ["n_params", "n_data", "chisqr", "aic", "bic"]
    assert table.index[0].endswith("_resistant")
    without = table.loc[["exponential", "logistic"], "delta"]
    assert np.all(without > 20)
    assert table["weight"].sum() == pytest.approx(1.0)
    assert table.loc["exponential", "n_params"] == 2 + 2  # r, kill, init_S per subject
    assert fits["exponential_resistant"].aic == pytest.approx(table.loc["exponential_resistant", "aic"])
    by_bic = td.fitting.select_models(cands, df, "bic", schedules=sch, solver="LSODA")
    assert by_bic.index[0].endswith("_resistant")
    with pytest.raises(SpecificationError, match="criterion"):
        td.fitting.select_models(cands, df, "waic")


def test_growth_models_are_correct():
    """Each candidate's untreated solution matches its closed form."""
    t = np.array([0.0, 5.0, 20.0])
    for law, closed in (("exponential", lambda t: 50 * np.exp(0.1 * t)),
                        ("logistic", lambda t: logistic_solution(t, 50, 0.1, 2000)),
                        ("gompertz", lambda t: td.models.gompertz_solution(t, 50, 0.1, 2000))):
        m = td.fitting.growth_model(law, V0=50.0, r=0.1, K=2000.0)
        traj = td.simulate(m, t_end=20.0, t_eval=t, rtol=1e-10, method="LSODA")
        np.testing.assert_allclose(traj["tumor_volume"], closed(t), rtol=1e-6)


@pytest.mark.parametrize("solver", ["auto", "LSODA"])
def test_bolus_doses_per_subject_volume_against_closed_form(solver):
    m = td.models.one_compartment_pk()
    t = np.array([0.0, 0.5, 1, 2, 3, 3.5, 4, 6, 7, 8])
    doses = {"a": [(0.0, 100.0), (3.0, 50.0)], "b": [(0.0, 80.0), (7.0, 80.0)]}
    volume = {"a": 12.0, "b": 8.0}
    df = pd.concat([pd.DataFrame({"subject": s, "time": t, "observable": "C",
                                  "value": td.models.bolus_pk_solution(t, d, 1.5, volume[s])})
                    for s, d in doses.items()])
    sch = {s: td.Schedule([td.Dose(tt, "drug", a) for tt, a in d]) for s, d in doses.items()}
    res = td.fit(m, df, free={"t_half": "shared", "V": "subject"}, schedules=sch, solver=solver)
    assert res.params["t_half"].value == pytest.approx(1.5, rel=1e-6)
    assert res.params["V__a"].value == pytest.approx(12.0, rel=1e-6)
    assert res.params["V__b"].value == pytest.approx(8.0, rel=1e-6)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(deadline=None, max_examples=30)
@given(pred=st.lists(st.floats(1e-3, 1e4), min_size=30, max_size=30),
       cens=st.lists(st.booleans(), min_size=30, max_size=30))
def test_censored_residual_property(logistic, pred, cens):
    """Censored rows: zero residual at or below the limit, the ordinary residual above it."""
    df = logistic_df({"A": (10.0, 0.6, 800.0), "B": (20.0, 0.6, 800.0)})
    df["censored"] = cens
    res_problem = td.fit(logistic, df, free=["r"], fit_kws={"max_nfev": 1})._problem
    p = np.array(pred)
    r = res_problem.residual_from_pred(p)
    plain = np.log(p) - np.log(df["value"].to_numpy())
    c = np.array(cens)
    np.testing.assert_allclose(r[~c], plain[~c])
    np.testing.assert_allclose(r[c], np.maximum(plain[c], 0.0))


# ------------------------------------------------------------------ solver settings and renamed keywords
def test_solver_object_is_honoured(tumor):
    sch = {"A": td.Schedule.infusion("drug", 1.0, 8, 30), "B": td.Schedule.infusion("drug", 1.0, 12, 40)}
    df = td.fitting.synthetic_data(tumor, sch, np.arange(0, 41, 4.0), "tumor_volume", sigma=0.1, seed=5,
                           params={"r": 0.12, "K": 3000.0, "kill": 0.35}, initial={"S": 90.0, "R": 1.5})
    kw = dict(free=["r", "kill"], schedules=sch, initial={"S": 90.0, "R": 1.5}, params={"K": 3000.0})
    tight = td.fit(tumor, df, solver=td.Solver(method="LSODA", rtol=1e-11), **kw)
    loose = td.fit(tumor, df, solver=td.Solver(method="RK23", rtol=1e-3), **kw)
    default = td.fit(tumor, df, **kw)
    assert tight.solver == td.Solver(method="LSODA", rtol=1e-11) and tight.engine == "LSODA"
    assert loose.engine == "RK23"
    # the settings reach the integrator: a loose tolerance moves the optimum, but only a little
    assert loose.chisqr != tight.chisqr
    assert loose.params["kill"].value == pytest.approx(tight.params["kill"].value, rel=1e-2)
    for n in ("r", "kill"):
        assert default.params[n].value == pytest.approx(tight.params[n].value, rel=1e-5)
    # the fitted trajectory uses the fit's solver too
    assert tight.trajectory("A").stats.method == "LSODA"


@pytest.mark.parametrize("method", ["batch", "dopri5"])
def test_explicit_engine_out_of_steps_switches_to_lsoda_on_status(logistic, method):
    from tumordyn.solve._compiled import numba_available

    if method == "dopri5" and not numba_available():
        pytest.skip("numba not installed")
    df = logistic_df({"A": (10.0, 0.6, 800.0), "B": (10.0, 0.6, 800.0)}, times=np.arange(0.0, 20.0, 1.5))
    res = td.fit(logistic, df, free=["r", "K"], solver=td.Solver(method=method, rtol=1e-8, max_steps=3))
    assert res.engine == "LSODA"  # the explicit engine reported TOO_MANY_STEPS
    assert res.n_failed_solves == 0  # the switch redoes the evaluation: no penalised residuals
    assert res.params["r"].value == pytest.approx(0.6, rel=1e-6)
    ample = td.fit(logistic, df, free=["r", "K"], solver=td.Solver(method=method, rtol=1e-8))
    assert ample.engine == method


def test_bad_solver_settings_raise_library_errors(logistic):
    df = logistic_df({"A": (10.0, 0.6, 800.0)})
    with pytest.raises(UnknownNameError, match="nope"):
        td.fit(logistic, df, free=["r"], solver=td.Solver(atol={"nope": 1.0}))
    with pytest.raises(SpecificationError, match="not both"):
        td.fit(logistic, df, free=["r"], solver=td.Solver(), rtol=1e-6)
    with pytest.raises(SpecificationError, match="unknown method 'euler'"):
        td.fit(logistic, df, free=["r"], solver="euler")
    with pytest.raises(TypeError, match="solver"):
        td.fit(logistic, df, free=["r"], solver=1e-8)


def test_deprecated_method_keyword_warns_and_still_works(logistic):
    df = logistic_df({"A": (10.0, 0.6, 800.0)})
    with pytest.warns(DeprecationWarning, match="optimizer"):
        old = td.fit(logistic, df, free=["r"], params={"K": 800.0}, method="leastsq")
    new = td.fit(logistic, df, free=["r"], params={"K": 800.0}, optimizer="leastsq")
    assert old.optimizer == new.optimizer == "leastsq"
    assert old.params["r"].value == new.params["r"].value
    with pytest.warns(DeprecationWarning, match="optimizer"):
        assert new.method == "leastsq"
    with pytest.warns(DeprecationWarning), pytest.raises(SpecificationError, match="not both"):
        td.fit(logistic, df, free=["r"], optimizer="leastsq", method="nelder")
