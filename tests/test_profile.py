"""Tests for tumordyn.fitting._profile: profile likelihood and identifiability verdicts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sympy as sp

import tumordyn as td
from tumordyn.errors import SpecificationError, UnknownNameError
from tumordyn.models import logistic_solution

SIGMA = 0.05


def noisy_logistic(times: np.ndarray, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = logistic_solution(times, 10.0, 0.6, 800.0) * np.exp(SIGMA * rng.standard_normal(times.size))
    return pd.DataFrame({"subject": "A", "time": times, "observable": "N", "value": y, "sigma": SIGMA})


@pytest.fixture(scope="module")
def logistic():
    return td.models.logistic_growth()


@pytest.fixture(scope="module")
def full_fit(logistic):
    return td.fit(logistic, noisy_logistic(np.arange(0.0, 15.0)), free=["r", "K"])


def test_identifiable_parameters_and_profile_interval(full_fit):
    prof = td.fitting.profile_likelihood(full_fit, n_points=7)
    assert prof.verdicts == {"r": "identifiable", "K": "identifiable"}
    assert prof.threshold == pytest.approx(3.841459, rel=1e-6)
    wald = full_fit.confidence_table(0.95)
    for n in ("r", "K"):
        p = prof[n]
        assert p.lower < p.best < p.upper
        # nearly linear problem: the profile interval is close to the Wald interval
        assert p.lower == pytest.approx(wald.loc[n, "lower"], rel=0.01)
        assert p.upper == pytest.approx(wald.loc[n, "upper"], rel=0.01)
        assert np.all(p.delta >= -1e-6) and p.delta[p.values == p.best][0] == 0.0
        assert not p.values.flags.writeable


def test_profile_is_minimum_over_the_other_parameter(full_fit):
    """Independent check of one profile point: brute-force minimum over K at fixed r."""
    prof = td.fitting.profile_likelihood(full_fit, ["r"], grids={"r": [0.62]}, refine=False)
    r = prof["r"]
    d_at = r.delta[r.values == 0.62][0]
    prob = full_fit._problem
    p = full_fit.params.copy()
    p["r"].value = 0.62
    from scipy.optimize import minimize_scalar

    def chi2(K: float) -> float:
        p["K"].value = K
        return float(np.sum(prob.residual(p) ** 2))

    best = minimize_scalar(chi2, bounds=(500.0, 1000.0), method="bounded", options={"xatol": 1e-6})
    assert d_at == pytest.approx(best.fun - full_fit.chisqr, rel=1e-4)


def test_practically_non_identifiable_carrying_capacity(logistic):
    # data in the early, nearly exponential phase only: K is bounded below but not above
    res = td.fit(logistic, noisy_logistic(np.arange(0.0, 5.0, 0.5), seed=1), free=["r", "K"])
    prof = td.fitting.profile_likelihood(res, n_points=9, span=10.0)
    assert prof["K"].verdict == "practically non-identifiable"
    assert prof["K"].upper == np.inf and np.isfinite(prof["K"].lower)
    assert prof["r"].verdict == "identifiable"
    assert prof["K"].delta.max() > 1e-3  # not flat: the data do say something about K


def test_structurally_non_identifiable_product_and_unused_parameter():
    N, a, b, c = sp.symbols("N a b c")
    m = td.Model("product", states=[td.State("N", 10.0)],
                 parameters=[td.Parameter("a", 0.5, (0.01, 10.0)), td.Parameter("b", 1.0, (0.01, 10.0)),
                             td.Parameter("c", 1.0, (0.01, 10.0), description="does not reach N")],
                 processes=[td.Process("growth", a * b * N, produces="N")])
    t = np.arange(0.0, 5.0, 0.5)
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"subject": "A", "time": t, "observable": "N",
                       "value": 10 * np.exp(0.3 * t + SIGMA * rng.standard_normal(t.size)), "sigma": SIGMA})
    res = td.fit(m, df, free=["a", "b", "c"])
    assert res.params["a"].value * res.params["b"].value == pytest.approx(0.3, rel=0.05)
    prof = td.fitting.profile_likelihood(res, n_points=5)
    assert set(prof.verdicts.values()) == {"structurally non-identifiable"}
    assert prof["a"].lower == -np.inf and prof["a"].upper == np.inf
    fig = prof.plot()
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 3
    import matplotlib.pyplot as plt

    plt.close(fig)
    tab = prof.to_dataframe()
    assert list(tab.columns) == ["best", "lower", "upper", "verdict"] and list(tab.index) == ["a", "b", "c"]


def test_unknown_sigma_uses_profiled_noise(logistic):
    df = noisy_logistic(np.arange(0.0, 15.0)).drop(columns="sigma")
    res = td.fit(logistic, df, free=["r", "K"])
    prof = td.fitting.profile_likelihood(res, ["r"], grids={"r": [0.6, 0.61]}, refine=False)
    p = res.params.copy()
    p["r"].set(value=0.61, vary=False)
    sub = td.fit(logistic, df, free=["r", "K"], params={"r": 0.61, "K": res.params["K"].value},
                 bounds={"r": (0.61, 0.6100001)})
    expected = res.ndata * np.log(sub.chisqr / res.chisqr)
    assert prof["r"].delta[prof["r"].values == 0.61][0] == pytest.approx(expected, rel=1e-3)


def test_bad_arguments(full_fit):
    with pytest.raises(UnknownNameError, match="unknown fitted parameter 'rr'"):
        td.fitting.profile_likelihood(full_fit, ["rr"])
    with pytest.raises(SpecificationError, match="n_points"):
        td.fitting.profile_likelihood(full_fit, n_points=2)
    with pytest.raises(SpecificationError, match="span"):
        td.fitting.profile_likelihood(full_fit, span=1.0)
    with pytest.raises(SpecificationError, match="level"):
        td.fitting.profile_likelihood(full_fit, level=95)
    with pytest.raises(SpecificationError, match="outside its bounds"):
        td.fitting.profile_likelihood(full_fit, grids={"r": [-1.0]})
    with pytest.raises(TypeError, match="FitResult"):
        td.fitting.profile_likelihood("fit")


def test_solver_for_the_refits(full_fit):
    prof = td.fitting.profile_likelihood(full_fit, ["r"], n_points=5, refine=False,
                                 solver=td.Solver(method="LSODA", rtol=1e-10))
    ref = td.fitting.profile_likelihood(full_fit, ["r"], n_points=5, refine=False)
    np.testing.assert_allclose(prof["r"].values, ref["r"].values)
    np.testing.assert_allclose(prof["r"].delta, ref["r"].delta, rtol=1e-4, atol=1e-6)
    assert prof["r"].delta[prof["r"].values == full_fit.params["r"].value][0] == 0.0
    with pytest.raises(SpecificationError, match="unknown method"):
        td.fitting.profile_likelihood(full_fit, ["r"], solver="euler")
