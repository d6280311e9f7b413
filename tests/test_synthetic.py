"""Tests for tumordyn.fitting._synthetic: noise models, censoring, reproducibility, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import tumordyn as td
from tumordyn.errors import SpecificationError, UnknownNameError
from tumordyn.models import logistic_solution

T = np.linspace(0.0, 12.0, 25)


@pytest.fixture(scope="module")
def logistic():
    return td.models.logistic_growth()


def test_noise_free_values_are_the_closed_form(logistic):
    df = td.fitting.synthetic_data(logistic, None, T, "N", sigma=0.0, seed=0, params={"r": 0.4, "K": 500.0},
                           initial={"N": 5.0})
    np.testing.assert_allclose(df["true_value"], logistic_solution(T, 5.0, 0.4, 500.0), rtol=1e-6)
    np.testing.assert_array_equal(df["value"], df["true_value"])
    assert list(df.columns) == ["subject", "time", "observable", "value", "sigma", "censored", "true_value"]
    assert set(df["subject"]) == {"S1"} and not df["censored"].any()


@pytest.mark.parametrize("noise, stat", [
    ("lognormal", lambda y, f: np.log(y / f)),
    ("proportional", lambda y, f: y / f - 1.0),
    ("additive", lambda y, f: (y - f) / 1.0),
])
def test_noise_models_have_the_stated_distribution(logistic, noise, stat):
    sigma = 0.2 if noise != "additive" else 3.0
    df = td.fitting.synthetic_data(logistic, None, T, "N", noise=noise, sigma=sigma, seed=42, subjects=80)
    z = stat(df["value"].to_numpy(), df["true_value"].to_numpy())
    n = z.size  # 2000 draws: mean within ~4 SE, SD within ~6 %
    assert abs(z.mean()) < 4 * sigma / np.sqrt(n)
    assert z.std(ddof=1) == pytest.approx(sigma, rel=0.06)
    assert np.all(df["sigma"] == sigma)


def test_seed_reproducibility(logistic):
    a = td.fitting.synthetic_data(logistic, None, T, "N", seed=7)
    b = td.fitting.synthetic_data(logistic, None, T, "N", seed=7)
    c = td.fitting.synthetic_data(logistic, None, T, "N", seed=8)
    np.testing.assert_array_equal(a["value"], b["value"])
    assert not np.array_equal(a["value"], c["value"])


def test_censoring_below_detection_limit(logistic):
    df = td.fitting.synthetic_data(logistic, None, T, "N", sigma=0.3, seed=3, lod=40.0, initial={"N": 5.0})
    cen = df["censored"].to_numpy()
    assert cen.any() and not cen.all()
    assert np.all(df.loc[cen, "value"] == 40.0)
    assert np.all(df.loc[~cen, "value"] >= 40.0)
    # the same draws without a limit: censored exactly where they fall below it
    raw = td.fitting.synthetic_data(logistic, None, T, "N", sigma=0.3, seed=3, initial={"N": 5.0})
    np.testing.assert_array_equal(cen, raw["value"].to_numpy() < 40.0)


def test_subjects_schedules_and_per_subject_values():
    m = td.fitting.growth_model("exponential", resistant=False)
    sch = {"a": td.Schedule(), "b": td.Schedule.infusion("drug", 1.0, 0.0, 10.0)}
    df = td.fitting.synthetic_data(m, sch, {"a": [0, 5, 10], "b": [0, 10]}, ["tumor_volume", "S"], sigma=0.0,
                           params={"a": {"r": 0.1}, "b": {"r": 0.2, "kill": 0.3}}, initial={"S": 50.0})
    assert len(df) == 3 * 2 + 2 * 2
    a = df[(df["subject"] == "a") & (df["observable"] == "tumor_volume")]["value"].to_numpy()
    b = df[(df["subject"] == "b") & (df["observable"] == "S")]["value"].to_numpy()
    np.testing.assert_allclose(a, 50 * np.exp(0.1 * np.array([0, 5, 10])), rtol=1e-6)
    np.testing.assert_allclose(b, 50 * np.exp((0.2 - 0.3) * np.array([0, 10])), rtol=1e-6)
    named = td.fitting.synthetic_data(m, None, [0, 1], "S", subjects=["x", "y"])
    assert list(named["subject"].unique()) == ["x", "y"]


def test_bad_input(logistic):
    with pytest.raises(SpecificationError, match="noise"):
        td.fitting.synthetic_data(logistic, None, T, "N", noise="poisson")
    with pytest.raises(SpecificationError, match="sigma"):
        td.fitting.synthetic_data(logistic, None, T, "N", sigma=-0.1)
    with pytest.raises(UnknownNameError, match="did you mean 'N'"):
        td.fitting.synthetic_data(logistic, None, T, "n")
    with pytest.raises(SpecificationError, match="lod"):
        td.fitting.synthetic_data(logistic, None, T, "N", lod=0.0)
    with pytest.raises(SpecificationError, match="before t0"):
        td.fitting.synthetic_data(logistic, None, [-1.0, 2.0], "N")
    with pytest.raises(UnknownNameError, match="unknown subject 'z'"):
        td.fitting.synthetic_data(logistic, {"a": td.Schedule()}, {"z": [1.0]}, "N")
    with pytest.raises(UnknownNameError, match="parameter 'rr'"):
        td.fitting.synthetic_data(logistic, None, T, "N", params={"rr": 1.0})


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(deadline=None, max_examples=10)
@given(n0=st.floats(1.0, 100.0), r=st.floats(0.05, 1.0), k=st.floats(200.0, 5000.0))
def test_noise_free_matches_closed_form_for_any_parameters(logistic, n0, r, k):
    df = td.fitting.synthetic_data(logistic, None, T, "N", sigma=0.0, params={"r": r, "K": k}, initial={"N": n0})
    np.testing.assert_allclose(df["value"], logistic_solution(T, n0, r, k), rtol=2e-5)  # global error, rtol=1e-8


def test_true_values_equal_simulate_per_subject_with_schedules_and_observables():
    m = td.fitting.growth_model("logistic", resistant=True)
    sch = {"A": td.Schedule.infusion("drug", 1.0, 10, 40), "B": td.Schedule.infusion("drug", 2.0, 5, 15)}
    times = {"A": [0.0, 3.0, 10.0, 25.0, 50.0], "B": [2.0, 5.0, 30.0]}
    params = {"A": {"r": 0.12, "kill": 0.3}, "B": {"r": 0.2, "kill": 0.5}}
    df = td.fitting.synthetic_data(m, sch, times, ["tumor_volume", "S"], sigma=0.0, params=params,
                           initial={"S": 90.0, "R": 1.5})
    for s in ("A", "B"):
        tr = td.simulate(m, sch[s], t_end=times[s][-1], t_eval=times[s], params=params[s],
                         initial={"S": 90.0, "R": 1.5}, rtol=1e-10)
        for o in ("tumor_volume", "S"):
            got = df[(df["subject"] == s) & (df["observable"] == o)]
            np.testing.assert_allclose(got["time"], times[s])
            np.testing.assert_allclose(got["true_value"], tr[o], rtol=1e-6)


def test_solver_is_honoured_and_checked(logistic):
    a = td.fitting.synthetic_data(logistic, None, T, "N", sigma=0.0, solver=td.Solver(method="RK23", rtol=1e-3))
    b = td.fitting.synthetic_data(logistic, None, T, "N", sigma=0.0, solver=td.Solver(method="LSODA", rtol=1e-10))
    assert not np.array_equal(a["true_value"], b["true_value"])  # the loose tolerance shows
    np.testing.assert_allclose(a["true_value"], b["true_value"], rtol=1e-2)
    with pytest.raises(SpecificationError, match="not both"):
        td.fitting.synthetic_data(logistic, None, T, "N", solver=td.Solver(), rtol=1e-6)
    with pytest.raises(TypeError, match="Solver"):
        td.fitting.synthetic_data(logistic, None, T, "N", solver="LSODA")
