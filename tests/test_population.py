"""Population (nonlinear mixed-effects) fitting: td.fit_population (FOCE-I)."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest

import tumordyn as td
from tumordyn.errors import SpecificationError, UnknownNameError


def expo(t, p):
    """Closed-form exponential growth (the callable path)."""
    return p["v0"] * np.exp(p["r"] * t)


def expo_ab(t, p):
    """Exponential growth written linear in log: log y = a + b t."""
    return np.exp(p["a"] + p["b"] * t)


def linear_in_log_data(seed=3, n=30):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        a = math.log(100.0) + 0.3 * rng.normal()
        b = 0.01 + 0.005 * rng.normal()
        times = np.sort(rng.choice(np.arange(0.0, 120.0, 10.0), size=int(rng.integers(4, 8)), replace=False))
        for t in times:
            rows.append((f"P{i}", t, math.exp(a + b * t + 0.1 * rng.normal())))
    return pd.DataFrame(rows, columns=["subject", "time", "value"])


def growth_data(seed=1, n=20, times=(0.0, 20.0, 40.0, 60.0), v0=100.0, r=0.02, sd=(0.2, 0.2), eps=0.05, add=0.0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        vi, ri = v0 * math.exp(sd[0] * rng.normal()), r * math.exp(sd[1] * rng.normal())
        for t in times:
            rows.append((f"S{i}", t, vi * math.exp(ri * t) * (1 + eps * rng.normal()) + add * rng.normal()))
    return pd.DataFrame(rows, columns=["subject", "time", "value"])


@pytest.fixture(scope="module")
def lin_fit():
    df = linear_in_log_data()
    res = td.fit_population(expo_ab, df, {"a": 4.0, "b": 0.0}, random={"a": "normal", "b": "normal"},
                            covariance="full", error="additive", scale="log", progress=False)
    return df, res


def test_linear_in_log_case_matches_statsmodels_mixedlm(lin_fit):
    """log y = a_i + b_i t + e, (a_i, b_i) ~ N: a linear mixed model, where FOCE-I is exact maximum likelihood."""
    smf = pytest.importorskip("statsmodels.formula.api")
    df, res = lin_fit
    d = df.assign(logy=np.log(df["value"]), t100=df["time"] / 100.0)  # well-scaled time for MixedLM's optimizer
    md = smf.mixedlm("logy ~ t100", d, groups=d["subject"], re_formula="~t100")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = [md.fit(reml=False, method=[m]) for m in ("bfgs", "lbfgs", "cg")]
    ref = max(fits, key=lambda m: m.llf)
    fe = ref.fe_params.to_numpy()
    cov = ref.cov_re.to_numpy()
    expect = {
        "a": fe[0], "b": fe[1] / 100.0,
        "omega(a)": cov[0, 0], "omega(b)": cov[1, 1] / 1e4, "omega(b,a)": cov[0, 1] / 100.0,
        "sigma_additive": math.sqrt(ref.scale),
    }
    for k, v in expect.items():
        assert res.estimates[k] == pytest.approx(v, rel=1e-3), k
    # same likelihood: FOCE-I's -2LL is MixedLM's ML -2 log-likelihood (at least as good an optimum)
    assert res.ofv == pytest.approx(-2 * ref.llf, abs=1e-4)
    assert res.ofv <= -2 * ref.llf + 1e-6
    # fixed-effect standard errors (observed information) agree with MixedLM's
    assert res.stderr["a"] == pytest.approx(ref.bse_fe.iloc[0], rel=2e-2)
    assert res.stderr["b"] == pytest.approx(ref.bse_fe.iloc[1] / 100.0, rel=2e-2)
    assert res.converged and res.method == "FOCE-I"


def test_results_tables_ebes_and_shrinkage(lin_fit):
    df, res = lin_fit
    assert list(res.eta.columns) == ["a", "b"] and len(res.eta) == df["subject"].nunique()
    # normal parameters: the individual parameter is typical + eta
    np.testing.assert_allclose(res.individual["a"], res.typical["a"] + res.eta["a"], rtol=1e-12)
    sd = res.eta.std(ddof=0)
    for k in ("a", "b"):
        assert res.shrinkage[k] == pytest.approx(1 - sd[k] / math.sqrt(res.omega.loc[k, k]))
        assert -0.5 < res.shrinkage[k] < 1
    tab = res.to_dataframe()
    assert set(tab["kind"]) == {"typical", "omega", "residual"}
    assert np.all(tab["stderr"] > 0)
    pr = res.predictions()
    assert list(pr.columns) == ["subject", "time", "observed", "pred", "ipred", "iwres"]
    assert len(pr) == len(df)
    # individual predictions fit better than population ones
    assert np.mean(np.log(pr.observed / pr.ipred) ** 2) < np.mean(np.log(pr.observed / pr.pred) ** 2)
    assert res.aic == pytest.approx(res.ofv + 2 * 6)
    assert "FOCE-I" in repr(res)


def test_the_ebes_are_the_conditional_modes(lin_fit):
    """At the EBE, the conditional objective of a subject is stationary (check by perturbing it)."""
    df, res = lin_fit
    s = res.eta.index[0]
    d = df[df.subject == s]
    om = res.omega.to_numpy()
    sig = res.residual["additive"]

    def cond(eta):
        a, b = res.typical["a"] + eta[0], res.typical["b"] + eta[1]
        r = np.log(d.value.to_numpy()) - (a + b * d.time.to_numpy())
        return float(np.sum(r ** 2) / sig ** 2 + eta @ np.linalg.solve(om, eta))

    e0 = res.eta.loc[s].to_numpy()
    f0 = cond(e0)
    for k in range(2):
        for h in (1e-4, -1e-4):
            e = e0.copy()
            e[k] += h * math.sqrt(om[k, k])
            assert cond(e) >= f0 - 1e-10


def test_lognormal_recovery_small_population():
    df = growth_data(seed=2, n=40)
    res = td.fit_population(expo, df, {"v0": 80.0, "r": 0.01}, error="proportional", progress=False)
    assert res.typical["v0"] == pytest.approx(100.0, rel=0.12)
    assert res.typical["r"] == pytest.approx(0.02, rel=0.12)
    assert res.residual["proportional"] == pytest.approx(0.05, rel=0.25)
    assert res.omega_sd["v0"] == pytest.approx(0.2, rel=0.35)
    # log-normal: individual = typical * exp(eta)
    np.testing.assert_allclose(res.individual["r"], res.typical["r"] * np.exp(res.eta["r"]), rtol=1e-12)


def test_covariate_effect_is_estimated():
    rng = np.random.default_rng(4)
    rows = []
    for i in range(40):
        w = float(rng.uniform(50, 90))
        r = 0.02 * math.exp(0.02 * (w - 70) + 0.1 * rng.normal())
        v0 = 100 * math.exp(0.1 * rng.normal())
        for t in (0.0, 15.0, 30.0, 45.0):
            rows.append((i, t, v0 * math.exp(r * t) * math.exp(0.03 * rng.normal()), w))
    df = pd.DataFrame(rows, columns=["id", "day", "size", "weight"])
    res = td.fit_population(expo, df, {"v0": 90.0, "r": 0.015}, covariates={"r": "weight"}, error="additive",
                            scale="log", subject="id", time="day", value="size", progress=False)
    beta = res.covariate_effects["beta(r,weight)"]
    assert beta == pytest.approx(0.02, abs=3 * res.stderr["beta(r,weight)"] + 1e-3)
    assert res.covariates.loc[0, "weight"] == df.weight.iloc[0]


def test_combined_error_and_fixed_constants():
    df = growth_data(seed=6, n=40, eps=0.05, add=10.0, sd=(0.0, 0.2), times=(0.0, 10.0, 20.0, 30.0, 40.0, 60.0, 80.0))

    def expo_k(t, p):
        return p["v0"] * np.exp(p["r"] * t) + 0 * p["k"]

    res = td.fit_population(expo_k, df, {"v0": 90.0, "r": 0.015}, random=["r"], fixed={"k": 1.0},
                            error="combined", progress=False)
    assert set(res.residual) == {"additive", "proportional"}
    assert res.residual["proportional"] == pytest.approx(0.05, rel=0.4)
    assert res.residual["additive"] == pytest.approx(10.0, rel=0.4)
    assert res.converged
    assert list(res.omega.index) == ["r"]
    assert "sigma_additive" in res.stderr and "sigma_proportional" in res.stderr


def test_model_path_agrees_with_the_closed_form():
    """A Model solved per subject gives the closed form's -2LL and EBEs at the same population values."""
    rng = np.random.default_rng(5)
    rows = []
    for i in range(6):
        r, K = 0.3 * math.exp(0.2 * rng.normal()), 800 * math.exp(0.2 * rng.normal())
        for t in (1.0, 3.0, 6.0, 10.0, 15.0):
            rows.append((f"S{i}", t, K / (1 + (K / 10 - 1) * math.exp(-r * t)) * math.exp(0.05 * rng.normal())))
    df = pd.DataFrame(rows, columns=["subject", "time", "value"])
    kw = dict(omega={"r": 0.2, "K": 0.2}, residual={"proportional": 0.05}, estimate=False, progress=False)
    start = {"r": 0.3, "K": 800.0}
    a = td.fit_population(lambda t, p: p["K"] / (1 + (p["K"] / 10 - 1) * np.exp(-p["r"] * t)), df, start, **kw)
    b = td.fit_population(td.models.logistic_growth(N0=10.0), df, start, observable="N", **kw)
    assert b.ofv == pytest.approx(a.ofv, rel=1e-6)
    np.testing.assert_allclose(b.eta.to_numpy(), a.eta.to_numpy(), atol=1e-5)
    assert a.stderr == {} and a.covariance is None


def test_fitted_initial_state_with_a_model():
    rng = np.random.default_rng(8)
    rows = []
    for i in range(5):
        n0 = 10 * math.exp(0.2 * rng.normal())
        for t in (0.0, 2.0, 4.0, 8.0):
            rows.append((i, t, n0 * 1000 / (n0 + (1000 - n0) * math.exp(-0.4 * t))))
    df = pd.DataFrame(rows, columns=["subject", "time", "value"])
    res = td.fit_population(td.models.logistic_growth(), df, {"N": 10.0}, fixed={"r": 0.4, "K": 1000.0},
                            observable="N", omega={"N": 0.2}, residual={"proportional": 0.01}, estimate=False,
                            progress=False)
    assert res.individual["N"].iloc[0] == pytest.approx(df.value.iloc[0], rel=0.02)


# ------------------------------------------------------------------ bad input
def test_named_errors_for_bad_input():
    df = growth_data(n=3)
    with pytest.raises(UnknownNameError, match="'rr'"):
        td.fit_population(expo, df, {"v0": 100.0, "r": 0.02}, random=["rr"], progress=False)
    with pytest.raises(UnknownNameError, match="parameter or state 'q'"):
        td.fit_population(td.models.logistic_growth(), df, {"q": 1.0}, observable="N", progress=False)
    with pytest.raises(UnknownNameError, match="observable 'M'"):
        td.fit_population(td.models.logistic_growth(), df, {"r": 0.5}, observable="M", progress=False)
    with pytest.raises(SpecificationError, match="observable"):
        td.fit_population(td.models.logistic_growth(), df, {"r": 0.5}, progress=False)
    bad = df.copy()
    bad.loc[2, "value"] = np.nan
    with pytest.raises(SpecificationError, match="finite"):
        td.fit_population(expo, bad, {"v0": 100.0, "r": 0.02}, progress=False)
    bad = df.copy()
    bad.loc[2, "value"] = -1.0
    with pytest.raises(SpecificationError, match="not positive"):
        td.fit_population(expo, bad, {"v0": 100.0, "r": 0.02}, scale="log", progress=False)
    with pytest.raises(SpecificationError, match="no column 'id'"):
        td.fit_population(expo, df, {"v0": 100.0, "r": 0.02}, subject="id", progress=False)
    with pytest.raises(SpecificationError, match="error"):
        td.fit_population(expo, df, {"v0": 100.0, "r": 0.02}, error="exponential", progress=False)
    with pytest.raises(SpecificationError, match="> 0"):
        td.fit_population(expo, df, {"v0": 100.0, "r": -0.02}, progress=False)
    with pytest.raises(SpecificationError, match="cannot be evaluated"):
        td.fit_population(lambda t, p: np.full_like(t, np.nan), df, {"v0": 100.0, "r": 0.02}, progress=False)
    with pytest.raises(TypeError, match="Model or a predict"):
        td.fit_population(42, df, {"v0": 100.0}, progress=False)
    with pytest.raises(UnknownNameError, match="covariate column"):
        td.fit_population(expo, df, {"v0": 100.0, "r": 0.02}, covariates={"r": "age"}, progress=False)
    varying = df.assign(age=np.arange(len(df)))
    with pytest.raises(SpecificationError, match="constant per subject"):
        td.fit_population(expo, varying, {"v0": 100.0, "r": 0.02}, covariates={"r": "age"}, progress=False)
    with pytest.raises(SpecificationError, match="between-subject"):
        td.fit_population(expo, df, {"v0": 100.0, "r": 0.02}, random=[], progress=False)
    with pytest.raises(UnknownNameError, match="subject 'nobody'"):  # a subject with no data
        td.fit_population(td.models.logistic_growth(), df, {"r": 0.5}, observable="N", progress=False,
                          schedules={**{s: td.Schedule() for s in df.subject.unique()}, "nobody": td.Schedule()})
    with pytest.raises(SpecificationError, match="dates"):
        td.fit_population(expo, df.assign(time=pd.Timestamp("2020-01-01") + pd.to_timedelta(df.time, "D")),
                          {"v0": 100.0, "r": 0.02}, progress=False)
    with pytest.raises(SpecificationError, match="subject is missing"):
        td.fit_population(expo, df.assign(subject=None), {"v0": 100.0, "r": 0.02}, progress=False)


def test_input_is_not_mutated_and_progress_is_silenced(capsys):
    df = growth_data(n=8)
    before = df.copy()
    td.fit_population(expo, df, {"v0": 100.0, "r": 0.02}, progress=False, max_iter=5)
    pd.testing.assert_frame_equal(df, before)
    assert capsys.readouterr().err == ""


def test_bounded_iterations_warn_when_not_converged():
    df = growth_data(n=10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = td.fit_population(expo, df, {"v0": 30.0, "r": 0.05}, max_iter=1, progress=False)
    msgs = [str(w.message) for w in caught if issubclass(w.category, td.fitting.PopulationWarning)]
    assert any("did not converge" in m for m in msgs), msgs
    assert not res.converged


# ------------------------------------------------------------------ plots
def test_diagnostic_plots_draw_on_given_axes(lin_fit):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _, res = lin_fit
    fig, axes = plt.subplots(2, 3)
    assert res.plot_observed_vs_predicted("individual", ax=axes[0, 0]) is axes[0, 0]
    assert res.plot_observed_vs_predicted("population", ax=axes[0, 1]) is axes[0, 1]
    assert res.plot_vpc(n=50, ax=axes[0, 2]) is axes[0, 2]
    assert len(axes[0, 2].collections) >= 3  # the three simulated bands
    res.plot_individual_fits(subjects=list(res.eta.index[:3]), ax=axes[1])
    assert len(axes[1, 0].lines) == 3
    with pytest.raises(SpecificationError):
        res.plot_observed_vs_predicted("both")
    with pytest.raises(UnknownNameError):
        res.plot_individual_fits(subjects=["nobody"])
    plt.close("all")


def test_simulated_replicates_reproduce_the_data_spread(lin_fit):
    df, res = lin_fit
    sims = res.simulate(200, seed=1)
    assert sims.shape == (200, len(df))
    np.testing.assert_array_equal(sims, res.simulate(200, seed=1))
    # median and spread of log values across replicates match the data's
    ly = np.log(df.value.to_numpy())
    assert np.median(np.log(sims)) == pytest.approx(np.median(ly), abs=0.1)
    assert np.std(np.log(sims)) == pytest.approx(np.std(ly), rel=0.2)


def test_a_growth_law_is_a_structure_and_gives_the_same_fit_as_its_predict_callable():
    # the closed forms of td.fitting.growth_law plug into fit_population directly
    law = td.fitting.growth_law("gompertz")
    rng = np.random.default_rng(7)
    t = np.array([0.0, 20.0, 40.0, 60.0, 90.0])
    rows = []
    for i in range(30):
        p = {"r": 0.05 * math.exp(rng.normal(0, 0.25)), "K": 5000.0, "S": 200.0 * math.exp(rng.normal(0, 0.25))}
        v = law.predict(t, p) * np.exp(rng.normal(0, 0.05, t.size))
        rows += [{"subject": i, "time": tt, "value": vv} for tt, vv in zip(t, v)]
    df = pd.DataFrame(rows)
    start = {"r": 0.04, "S": 150.0}
    a = td.fit_population(law, df, start, fixed={"K": 5000.0}, progress=False)
    b = td.fit_population(law.predict, df, start, fixed={"K": 5000.0}, progress=False)
    assert a.ofv == pytest.approx(b.ofv, rel=1e-12)
    assert a.typical["r"] == pytest.approx(0.05, rel=0.15)
    assert a.typical["S"] == pytest.approx(200.0, rel=0.15)
