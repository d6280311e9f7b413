"""Forecasting a patient from early scans with a population model as prior (td.fitting.forecast_patient)."""

import math

import numpy as np
import pandas as pd
import pytest

import tumordyn as td
from tumordyn.errors import SpecificationError, UnknownNameError
from tumordyn.fitting import forecast_patient


def expo_ab(t, p):
    return np.exp(p["a"] + p["b"] * t)


def lesion_data(seed, n, times=(0.0, 42.0, 84.0, 126.0, 168.0), a=math.log(40.0), b=-0.002, sa=0.3, sb=0.004,
                eps=0.08):
    """Diameters (mm): log D = a_i + b_i t + e, a_i ~ N(a, sa²), b_i ~ N(b, sb²) (shrinking on average)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        ai, bi = a + sa * rng.normal(), b + sb * rng.normal()
        for t in times:
            rows.append((f"P{i}", t, math.exp(ai + bi * t + eps * rng.normal())))
    return pd.DataFrame(rows, columns=["subject", "time", "value"])


@pytest.fixture(scope="module")
def pop():
    df = lesion_data(seed=11, n=60)
    return td.fit_population(expo_ab, df, {"a": 3.5, "b": 0.0}, random={"a": "normal", "b": "normal"},
                             error="additive", scale="log", progress=False)


def test_map_and_posterior_are_the_exact_gaussian_ones_in_the_linear_case(pop):
    """Linear in eta, additive log error: the posterior of eta is normal with known mean and covariance."""
    t = np.array([0.0, 42.0, 84.0])
    y = np.array([45.0, 38.0, 33.0])
    fc = forecast_patient(pop, {"time": t, "value": y}, [126.0, 168.0])
    om = pop.omega.to_numpy()
    s2 = pop.residual["additive"] ** 2
    X = np.column_stack([np.ones_like(t), t])
    A = X.T @ X / s2 + np.linalg.inv(om)
    r = np.log(y) - (pop.typical["a"] + pop.typical["b"] * t)
    mean = np.linalg.solve(A, X.T @ r / s2)
    np.testing.assert_allclose([fc.eta["a"], fc.eta["b"]], mean, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(fc.eta_covariance.to_numpy(), np.linalg.inv(A), rtol=1e-5)
    # the MAP curve and the prediction interval: log y(t) ~ N(x'(theta + mean), x' C x + s2)
    tf = np.array([126.0, 168.0])
    Xf = np.column_stack([np.ones_like(tf), tf])
    mu = pop.typical["a"] + pop.typical["b"] * tf + Xf @ mean
    np.testing.assert_allclose(fc.map, np.exp(mu), rtol=1e-6)
    sd = np.sqrt(np.einsum("ij,jk,ik->i", Xf, np.linalg.inv(A), Xf) + s2)
    z = 1.6448536269514722  # 95th percentile of N(0, 1): the 90% interval
    np.testing.assert_allclose(np.log(fc.upper), mu + z * sd, atol=0.1 * sd.max())
    np.testing.assert_allclose(np.log(fc.lower), mu - z * sd, atol=0.1 * sd.max())
    np.testing.assert_allclose(np.log(fc.median), mu, atol=0.1 * sd.max())


def test_prediction_intervals_cover_new_patients_at_the_nominal_rate(pop):
    new = lesion_data(seed=99, n=80)
    hits = []
    for _, d in new.groupby("subject"):
        early, late = d.iloc[:2], d.iloc[2:]
        fc = forecast_patient(pop, early, late["time"].to_numpy(), n_samples=400, seed=1)
        hits.extend((late["value"].to_numpy() >= fc.lower) & (late["value"].to_numpy() <= fc.upper))
    assert 0.84 <= np.mean(hits) <= 0.96, np.mean(hits)


def test_recist_readouts_on_observed_and_forecast_series(pop):
    # observed: 50 -> 34 mm is a partial response (-32%)
    fc = forecast_patient(pop, {"time": [0.0, 42.0], "value": [50.0, 34.0]}, [84.0, 126.0, 168.0])
    obs = fc.readouts.loc["observed"]
    assert obs["last_response"] == "PR" and obs["best_overall_response"] == "PR"
    assert obs["time_to_progression"] == math.inf
    assert obs["nadir_diameter"] == 34.0 and obs["nadir_time"] == 42.0
    assert obs["best_percent_change"] == pytest.approx(-32.0)
    f = fc.readouts.loc["forecast"]
    assert f["best_overall_response"] == "PR"
    assert f["nadir_diameter"] <= 34.0
    assert sum(fc.response_probability.values()) == pytest.approx(1.0)
    assert 0.0 <= fc.progression_probability <= 1.0
    # a lesion growing fast early is forecast to progress
    grow = forecast_patient(pop, {"time": [0.0, 21.0, 42.0], "value": [20.0, 26.0, 34.0]}, [84.0, 126.0])
    assert grow.readouts.loc["observed", "last_response"] == "PD"
    assert grow.readouts.loc["forecast", "time_to_progression"] == 21.0
    assert grow.progression_probability == 1.0  # already progressed on the observed scans


def test_volumes_are_read_as_sphere_diameters(pop):
    d = np.array([50.0, 34.0])
    vol = math.pi / 6 * d ** 3
    fc_d = forecast_patient(pop, {"time": [0.0, 42.0], "value": d}, [84.0])
    # same scans given as volumes: the observed RECIST reading is that of the diameters
    fc_v = forecast_patient(pop, {"time": [0.0, 42.0], "value": vol}, [84.0], quantity="volume")
    assert fc_v.readouts.loc["observed", "nadir_diameter"] == pytest.approx(34.0)
    assert fc_v.readouts.loc["observed", "last_response"] == fc_d.readouts.loc["observed", "last_response"]


def test_seeded_tables_and_fan_plot(pop):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scans = pd.DataFrame({"subject": "X", "time": [0.0, 42.0], "value": [40.0, 36.0]})
    a = forecast_patient(pop, scans, np.linspace(0, 200, 11), seed=3)
    b = forecast_patient(pop, scans, np.linspace(0, 200, 11), seed=3)
    np.testing.assert_array_equal(a.upper, b.upper)
    assert np.all(a.lower <= a.median) and np.all(a.median <= a.upper)
    tab = a.to_dataframe()
    assert list(tab.columns) == ["time", "kind", "observed", "map", "median", "lower", "upper"]
    assert (tab.kind == "scan").sum() == 2 and (tab.kind == "forecast").sum() == 11
    fig, ax = plt.subplots()
    assert a.plot(ax=ax) is ax
    assert len(ax.collections) == 1 and len(ax.lines) >= 2
    plt.close(fig)


def test_bad_input_is_refused_by_name(pop):
    ok = {"time": [0.0, 42.0], "value": [40.0, 36.0]}
    with pytest.raises(SpecificationError, match="one patient"):
        forecast_patient(pop, pd.DataFrame({"subject": [1, 2], "time": [0.0, 1.0], "value": [1.0, 2.0]}), [5.0])
    with pytest.raises(UnknownNameError, match="'day'"):
        forecast_patient(pop, ok, [84.0], time="day")
    with pytest.raises(SpecificationError, match="level"):
        forecast_patient(pop, ok, [84.0], level=1.5)
    with pytest.raises(SpecificationError, match="quantity"):
        forecast_patient(pop, ok, [84.0], quantity="area")
    with pytest.raises(SpecificationError, match="finite"):
        forecast_patient(pop, {"time": [0.0, 42.0], "value": [40.0, np.nan]}, [84.0])
    with pytest.raises(SpecificationError, match="<= 0"):
        forecast_patient(pop, {"time": [0.0, 42.0], "value": [40.0, 0.0]}, [84.0])
    with pytest.raises(SpecificationError, match="times"):
        forecast_patient(pop, ok, [])
    with pytest.raises(SpecificationError, match="schedule"):
        forecast_patient(pop, ok, [84.0], schedule=td.Schedule())
    with pytest.raises(TypeError, match="PopulationResult"):
        forecast_patient("pop", ok, [84.0])


def test_covariates_of_the_new_patient_are_required_and_used():
    rng = np.random.default_rng(2)
    rows = []
    for i in range(30):
        w = float(rng.uniform(50, 90))
        bi = 0.01 + 0.0005 * (w - 70) + 0.002 * rng.normal()
        ai = math.log(30) + 0.2 * rng.normal()
        for t in (0.0, 30.0, 60.0, 90.0):
            rows.append((i, t, math.exp(ai + bi * t + 0.05 * rng.normal()), w))
    df = pd.DataFrame(rows, columns=["subject", "time", "value", "weight"])
    pop = td.fit_population(expo_ab, df, {"a": 3.0, "b": 0.0}, random={"a": "normal", "b": "normal"},
                            covariates={"b": "weight"}, error="additive", scale="log", progress=False)
    scans = {"time": [0.0], "value": [30.0]}
    with pytest.raises(SpecificationError, match="covariate 'weight'"):
        forecast_patient(pop, scans, [90.0])
    light = forecast_patient(pop, scans, [90.0], covariates={"weight": 50.0})
    heavy = forecast_patient(pop, dict(scans, weight=[90.0]), [90.0])
    assert heavy.map[0] > light.map[0] * 1.5  # heavier patients grow faster in these data


def test_readouts_are_taken_at_the_readout_times_not_the_plot_grid(pop):
    scans = {"time": [0.0, 42.0], "value": [50.0, 34.0]}
    fine = forecast_patient(pop, scans, np.linspace(0, 168, 85), readout_times=[84.0, 126.0, 168.0])
    coarse = forecast_patient(pop, scans, [84.0, 126.0, 168.0])
    assert fine.times.size == 85
    assert fine.readouts.loc["forecast", "nadir_time"] in (0.0, 42.0, 84.0, 126.0, 168.0)
    assert fine.readouts.loc["forecast", "best_overall_response"] == coarse.readouts.loc["forecast",
                                                                                         "best_overall_response"]
    np.testing.assert_allclose(fine.map[[42, 63, 84]], coarse.map, rtol=1e-12)


def test_model_structure_forecast_equals_the_closed_form_one():
    """A population built on a Model forecasts like the same model's closed form (logistic growth)."""
    rng = np.random.default_rng(5)
    rows = []
    for i in range(6):
        r, K = 0.3 * math.exp(0.2 * rng.normal()), 800 * math.exp(0.2 * rng.normal())
        for t in (1.0, 3.0, 6.0, 10.0, 15.0):
            rows.append((f"S{i}", t, K / (1 + (K / 10 - 1) * math.exp(-r * t)) * math.exp(0.05 * rng.normal())))
    df = pd.DataFrame(rows, columns=["subject", "time", "value"])
    kw = dict(omega={"r": 0.2, "K": 0.2}, residual={"proportional": 0.05}, estimate=False, progress=False)
    start = {"r": 0.3, "K": 800.0}
    closed = td.fit_population(lambda t, p: p["K"] / (1 + (p["K"] / 10 - 1) * np.exp(-p["r"] * t)), df, start, **kw)
    ode = td.fit_population(td.models.logistic_growth(N0=10.0), df, start, observable="N", **kw)
    scans = {"time": [1.0, 3.0], "value": [20.0, 60.0]}
    a = forecast_patient(closed, scans, [6.0, 10.0, 15.0], n_samples=200)
    b = forecast_patient(ode, scans, [6.0, 10.0, 15.0], n_samples=200)
    np.testing.assert_allclose(b.map, a.map, rtol=1e-5)
    np.testing.assert_allclose(b.upper, a.upper, rtol=1e-4)
    # the Model path takes the patient's own initial state
    c = forecast_patient(ode, scans, [6.0, 10.0, 15.0], n_samples=200, initial={"N": 5.0})
    assert not np.allclose(c.map, b.map)
