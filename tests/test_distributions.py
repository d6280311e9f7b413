"""Parameter distributions, seeded sampling (Sobol, LHS, random) and correlations."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import tumordyn as td
from tumordyn.cohorts._distributions import as_distribution, correlation_matrix, sample
from tumordyn.errors import SpecificationError


def test_lognormal_median_and_cv():
    d = td.cohorts.LogNormal(median=2.0, cv=0.5)
    x = sample({"a": d}, 2**14, seed=1)["a"]
    assert np.median(x) == pytest.approx(2.0, rel=0.01)
    assert x.std() / x.mean() == pytest.approx(0.5, rel=0.02)
    assert d.sigma == pytest.approx(math.sqrt(math.log(1.25)))


@pytest.mark.parametrize("method", ["sobol", "lhs", "random"])
def test_marginals_match_by_ks(method):
    dists = {
        "n": td.cohorts.Normal(mean=1.0, sd=0.2),
        "t": td.cohorts.TruncatedNormal(mean=0.5, sd=0.5, lower=0.0, upper=1.0),
        "u": td.cohorts.Uniform(low=-1.0, high=3.0),
    }
    s = sample(dists, 4096, seed=7, method=method)
    assert stats.kstest(s["n"], stats.norm(1.0, 0.2).cdf).pvalue > 0.01
    assert stats.kstest(s["t"], stats.truncnorm(-1.0, 1.0, loc=0.5, scale=0.5).cdf).pvalue > 0.01
    assert stats.kstest(s["u"], stats.uniform(-1.0, 4.0).cdf).pvalue > 0.01
    assert s["t"].min() >= 0.0 and s["t"].max() <= 1.0


def test_sobol_is_more_uniform_than_random():
    d = {"u": td.cohorts.Uniform(0.0, 1.0)}
    err = {m: abs(sample(d, 1024, seed=3, method=m)["u"].mean() - 0.5) for m in ("sobol", "random")}
    assert err["sobol"] < err["random"]


def test_seeded_and_fixed():
    d = {"a": td.cohorts.LogNormal(1.0, 0.3), "b": td.cohorts.Fixed(4.0), "c": 2.5}
    cohort1 = td.Cohort(td.models.logistic_growth(), {"r": td.cohorts.LogNormal(0.3, 0.2), "K": 1e6}, n=10, seed=3)
    cohort2 = td.Cohort(td.models.logistic_growth(), {"r": td.cohorts.LogNormal(0.3, 0.2), "K": 1e6}, n=10, seed=3)
    np.testing.assert_array_equal(cohort1.param_matrix, cohort2.param_matrix)
    assert np.all(cohort1.parameters["K"] == 1e6)
    s = sample({k: as_distribution(v, k) for k, v in d.items()}, 5, seed=0)
    assert np.all(s["b"] == 4.0) and np.all(s["c"] == 2.5)


@settings(deadline=None, max_examples=15)
@given(rho=st.floats(-0.9, 0.9), method=st.sampled_from(["sobol", "lhs", "random"]))
def test_correlation_on_log_scale(rho, method):
    dists = {"a": td.cohorts.LogNormal(1.0, 0.4), "b": td.cohorts.Normal(0.0, 1.0)}
    R = correlation_matrix({("a", "b"): rho}, list(dists))
    s = sample(dists, 4096, seed=11, method=method, correlation=R)
    r = np.corrcoef(np.log(s["a"]), s["b"])[0, 1]
    assert r == pytest.approx(rho, abs=0.05)


def test_singular_correlation_allowed():
    dists = {"a": td.cohorts.Normal(0, 1), "b": td.cohorts.Normal(0, 1)}
    R = correlation_matrix(np.array([[1.0, 1.0], [1.0, 1.0]]), list(dists))
    s = sample(dists, 256, seed=0, correlation=R)
    np.testing.assert_allclose(s["a"], s["b"], atol=1e-6)


@pytest.mark.parametrize(
    "factory, match",
    [
        (lambda: td.cohorts.LogNormal(median=-1.0, cv=0.3), "median"),
        (lambda: td.cohorts.LogNormal(median=1.0, cv=-0.1), "cv"),
        (lambda: td.cohorts.Normal(mean=0.0, sd=-1.0), "sd"),
        (lambda: td.cohorts.TruncatedNormal(mean=0.0, sd=1.0, lower=2.0, upper=1.0), "lower < upper"),
        (lambda: td.cohorts.TruncatedNormal(mean=0.0, sd=1.0, lower=100.0, upper=101.0), "no probability mass"),
        (lambda: td.cohorts.Uniform(low=2.0, high=1.0), "low < high"),
        (lambda: td.cohorts.Fixed(float("nan")), "finite"),
    ],
)
def test_invalid_distribution_parameters(factory, match):
    with pytest.raises(SpecificationError, match=match):
        factory()


def test_invalid_types():
    with pytest.raises(TypeError):
        td.cohorts.LogNormal(median="1", cv=0.3)
    with pytest.raises(TypeError, match="distribution of 'r'"):
        td.Cohort(td.models.logistic_growth(), {"r": "lognormal"}, n=3, seed=0)


def test_bad_correlations():
    names = ["a", "b", "c"]
    not_psd = np.array([[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]])
    with pytest.raises(SpecificationError, match="positive semi-definite"):
        correlation_matrix(not_psd, names)
    with pytest.raises(SpecificationError, match="symmetric"):
        correlation_matrix(np.array([[1, 0.2, 0], [0.3, 1, 0], [0, 0, 1]]), names)
    with pytest.raises(SpecificationError, match="unit diagonal"):
        correlation_matrix(np.diag([1.0, 2.0, 1.0]), names)
    with pytest.raises(SpecificationError, match="3x3"):
        correlation_matrix(np.eye(2), names)
    with pytest.raises(SpecificationError, match="outside"):
        correlation_matrix({("a", "b"): 1.5}, names)
    with pytest.raises(SpecificationError, match="no distribution"):
        correlation_matrix({("a", "zz"): 0.5}, names)


def test_sobol_any_n_without_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = sample({"u": td.cohorts.Uniform(0.0, 1.0)}, 1000, seed=0)
    assert s["u"].shape == (1000,)


# --------------------------------------------------------------------------- any object with a ppf


def test_scipy_lognorm_gives_the_same_patients_as_lognormal():
    """Same seeded uniforms, same quantile function: the frozen scipy distribution and LogNormal agree."""
    m = td.models.logistic_growth()
    ours = td.cohorts.LogNormal(median=0.3, cv=0.4)
    theirs = stats.lognorm(s=ours.sigma, scale=0.3)
    a = td.Cohort(m, {"r": ours}, n=256, seed=5)
    b = td.Cohort(m, {"r": theirs}, n=256, seed=5)
    np.testing.assert_allclose(b.parameters["r"], a.parameters["r"], rtol=1e-12)
    assert isinstance(b.distributions["r"], td.cohorts.FromPPF) and "lognorm" in repr(b.distributions["r"])


def test_scipy_distribution_marginal_and_seeding_independent_of_numpy_global_state():
    m = td.models.logistic_growth()
    g = stats.gamma(a=4.0, scale=0.05)
    np.random.seed(1)
    a = td.Cohort(m, {"r": g}, n=4096, seed=9, sampling="random")
    np.random.seed(2)
    b = td.Cohort(m, {"r": stats.gamma(a=4.0, scale=0.05)}, n=4096, seed=9, sampling="random")
    np.testing.assert_array_equal(a.param_matrix, b.param_matrix)  # bit for bit
    assert stats.kstest(a.parameters["r"], g.cdf).pvalue > 0.01


def test_any_object_with_ppf_and_correlation():
    class Exponential:
        def __init__(self, mean):
            self.mean = mean

        def ppf(self, q):
            return -self.mean * np.log1p(-np.asarray(q))

    m = td.models.logistic_growth()
    c = td.Cohort(m, {"r": Exponential(0.2), "K": stats.uniform(500.0, 1000.0)}, n=2048, seed=1,
                  correlation={("r", "K"): 0.8})
    r, K = c.parameters["r"].to_numpy(), c.parameters["K"].to_numpy()
    assert r.mean() == pytest.approx(0.2, rel=0.02) and K.min() >= 500.0 and K.max() <= 1500.0
    z = stats.norm.ppf(np.column_stack([1 - np.exp(-r / 0.2), (K - 500.0) / 1000.0]))
    assert np.corrcoef(z.T)[0, 1] == pytest.approx(0.8, abs=0.03)  # a Gaussian copula on the normal scores


def test_bad_ppf_objects_are_named():
    m = td.models.logistic_growth()
    with pytest.raises(TypeError, match="'r'.*ppf"):
        td.Cohort(m, {"r": "lognormal"}, n=4, seed=1)
    with pytest.raises(TypeError, match="frozen"):
        td.Cohort(m, {"r": stats.lognorm}, n=4, seed=1)  # the family, not a frozen distribution
    with pytest.raises(SpecificationError, match="'r'.*non-finite"):
        td.Cohort(m, {"r": stats.norm(0.3, np.nan)}, n=4, seed=1)
    with pytest.raises(SpecificationError, match="parameter 'r'.*outside its bounds"):
        td.Cohort(m, {"r": stats.norm(0.0, 1.0)}, n=64, seed=1)  # negative growth rates

    class WrongShape:
        def ppf(self, q):
            return np.ones(3)

    with pytest.raises(SpecificationError, match="'r'.*one value per probability"):
        td.Cohort(m, {"r": WrongShape()}, n=4, seed=1)
