"""The direct least-squares path of ``fit`` (scipy on arrays, lmfit objects made when first read) against lmfit's
own ``least_squares`` (the path taken with ``_Problem.lean_result`` off): the same parameters, standard errors,
covariance, correlations, chi-square, AIC/BIC, success flags and warnings, on several growth laws, real records
(Laleh et al. 2022, shipped), a known-sigma fit, priors, random starts, two subjects and an ODE model; the same
named errors for bad input; the lmfit objects made lazily and only once."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest

import tumordyn as td
from tumordyn.errors import FitWarning, SpecificationError, UnknownNameError
from tumordyn.fitting import GROWTH_LAWS, growth_law
from tumordyn.fitting._fit import _Problem

from test_growth_laws import _laleh_records  # the model-battle records: (days, mm³), all but the last 2 readings

REL = 1e-10


def _battle_kw(name, t, v):
    """The benchmark's settings: linear scale, start values, bounds, time zero at the first reading."""
    free = {"exponential": ["r"], "bertalanffy": ["r", "K", "lam"]}.get(name, ["r", "K"])
    start = {"r": 0.01, "K": float(np.clip(2 * v.max(), 2.0, 9e6)), "lam": 1.0 / 3.0}
    lo = {"r": -2.0 if name == "exponential" else 1e-4, "K": 1.0, "lam": -5.0}
    hi = {"r": 2.0, "K": 1e7, "lam": 5.0}
    n = len(t)
    data = {"subject": np.full(n, "p"), "time": t, "observable": np.full(n, "tumor_volume"), "value": v}
    return data, free, dict(initial_free=["S"], initial={"S": float(max(v[0], 1.0))},
                            params={p: start[p] for p in free}, bounds={p: (lo[p], hi[p]) for p in free},
                            t0=float(t[0]), scale="linear")


def _both(monkeypatch, *args, **kw):
    """The fit by the direct path, then by lmfit's own least_squares; each with the warnings it raised."""
    out = []
    for lean in (True, False):
        monkeypatch.setattr(_Problem, "lean_result", lean)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = td.fit(*args, **kw)
        assert (res._lmfit is None) == lean  # the direct path makes no lmfit object during the fit
        out.append((res, [(w.category, str(w.message)) for w in caught if issubclass(w.category, FitWarning)]))
    monkeypatch.setattr(_Problem, "lean_result", True)
    return out


def _close(a, b, what):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape, what
    same_nan = np.isnan(a) == np.isnan(b)
    assert same_nan.all(), (what, a, b)
    ok = ~np.isnan(a)
    scale = np.abs(b[ok]).max(initial=0.0)
    np.testing.assert_allclose(a[ok], b[ok], rtol=REL, atol=1e-14 * scale, err_msg=what)


def _assert_same(lean, ref):
    (a, wa), (b, wb) = lean, ref
    # first what the direct path reads from its arrays (no lmfit object made yet) ...
    assert a._lmfit is None
    values, stderr, corr, at_bounds = a.values(), a.stderr(), a.correlations(), a.at_bounds
    assert a._lmfit is None
    assert values.keys() == b.values().keys() and stderr.keys() == b.stderr().keys()
    _close(list(values.values()), list(b.values().values()), "values")
    _close(list(stderr.values()), list(b.stderr().values()), "stderr")
    assert list(corr.index) == list(b.correlations().index)
    _close(corr.to_numpy(), b.correlations().to_numpy(), "correlations")
    assert at_bounds == b.at_bounds
    # ... then the lmfit objects it makes on first access, which must agree with the arrays
    assert list(a.params) == list(b.params)
    assert values == {n: float(p.value) for n, p in a.params.items()}
    assert stderr.keys() == a.stderr().keys() and corr.equals(a.correlations())  # (NaN where both have NaN)
    np.testing.assert_array_equal(list(stderr.values()), list(a.stderr().values()))
    assert [p.stderr is None for p in a.params.values()] == [p.stderr is None for p in b.params.values()]
    ca, cb = a.lmfit_result.covar, b.lmfit_result.covar
    assert (ca is None) == (cb is None)
    if ca is not None:
        _close(ca, cb, "covariance")
    for k in ("chisqr", "redchi", "aic", "bic"):
        _close(getattr(a, k), getattr(b, k), k)
        _close(getattr(a.lmfit_result, k), getattr(b.lmfit_result, k), f"lmfit_result.{k}")
    for k in ("ndata", "nvarys", "success", "n_failed_solves", "engine", "optimizer"):
        assert getattr(a, k) == getattr(b, k), k
    for k in ("ndata", "nfree", "nvarys", "errorbars", "success", "method", "var_names", "init_vals"):
        assert getattr(a.lmfit_result, k) == getattr(b.lmfit_result, k), k
    assert [p.init_value for p in a.params.values()] == [p.init_value for p in b.params.values()]
    assert a.at_bounds == b.at_bounds
    assert wa == wb  # the same FitWarnings (parameter at a bound), word for word


@pytest.mark.parametrize("name", GROWTH_LAWS)
def test_direct_path_matches_lmfits_least_squares_on_real_laleh_records(name, monkeypatch):
    done = 0
    for t, v in _laleh_records(6):
        data, free, kw = _battle_kw(name, t, v)
        if len(t) <= len(free) + 1:
            continue  # refused: as many points as parameters
        _assert_same(*_both(monkeypatch, growth_law(name), data, free, **kw))
        done += 1
    assert done >= 3


def test_a_parameter_at_its_bound_warns_alike(monkeypatch):
    # growth faster than the upper bound of r allows: r ends at its bound on both paths, with the same warning
    t = np.array([0.0, 7.0, 14.0, 28.0, 42.0])
    v = 50.0 * np.exp(0.08 * t)
    n = t.size
    data = {"subject": np.full(n, "p"), "time": t, "observable": np.full(n, "tumor_volume"), "value": v}
    lean, ref = _both(monkeypatch, growth_law("exponential"), data, ["r"], initial_free=["S"], initial={"S": 50.0},
                      params={"r": 0.01}, bounds={"r": (-0.05, 0.03)}, scale="linear")
    assert lean[0].at_bounds == {"r": "upper"} and len(lean[1]) == 1 and "r (upper bound 0.03)" in lean[1][0][1]
    _assert_same(lean, ref)


def test_known_sigma_log_scale_priors_and_two_subjects(monkeypatch):
    rng = np.random.default_rng(3)
    law = growth_law("gompertz")
    t = np.array([0.0, 10.0, 25.0, 40.0, 60.0, 90.0])
    rows = []
    for s, S in (("a", 200.0), ("b", 650.0)):
        v = law.predict(t, {"r": 0.03, "K": 5000.0, "S": S}) * np.exp(rng.normal(0.0, 0.05, t.size))
        rows.append(pd.DataFrame({"subject": s, "time": t, "observable": "tumor_volume", "value": v, "sigma": 0.05}))
    df = pd.concat(rows, ignore_index=True)
    kw = dict(initial_free=["S"], initial={"S": 300.0}, params={"r": 0.02, "K": 4000.0})
    # sigma given: no rescaling of the covariance; log scale; one subject's rows, then both with priors
    lean, ref = _both(monkeypatch, law, df[df["subject"] == "a"], ["r", "K"], **kw)
    assert lean[0].known_sigma
    _assert_same(lean, ref)
    _assert_same(*_both(monkeypatch, law, df, ["r", "K"], priors={"K": ("lognormal", 5000.0, 0.5)}, **kw))


def test_random_starts_pick_the_same_fit(monkeypatch):
    t, v = _laleh_records(3)[2]
    data, free, kw = _battle_kw("gompertz", t, v)
    _assert_same(*_both(monkeypatch, growth_law("gompertz"), data, free, n_starts=3, seed=1, **kw))


def test_an_ode_model_fit_matches(monkeypatch):
    m = td.models.logistic_growth()
    t = np.arange(0.0, 12.0, 1.5)
    y = td.models.logistic_solution(t, 10.0, 0.6, 800.0) * np.exp(np.random.default_rng(0).normal(0, 0.02, t.size))
    df = pd.DataFrame({"subject": "A", "time": t, "observable": "N", "value": y})
    _assert_same(*_both(monkeypatch, m, df, ["r", "K"], solver="LSODA"))


def test_lmfit_objects_are_made_once_on_first_access():
    law = growth_law("logistic")
    t = np.array([0.0, 7.0, 21.0, 42.0, 70.0, 98.0, 140.0])
    v = law.predict(t, {"r": 0.04, "K": 6000.0, "S": 300.0}) * np.exp(np.random.default_rng(0).normal(0, 0.05, t.size))
    df = pd.DataFrame({"subject": "p", "time": t, "observable": "tumor_volume", "value": v})
    res = td.fit(law, df, ["r", "K"], initial_free=["S"], initial={"S": 250.0}, params={"r": 0.03, "K": 5000.0})
    assert res._lmfit is None
    assert res.at_bounds == {} and math.isfinite(res.chisqr)  # read from the arrays
    assert res._lmfit is None
    params = res.params
    assert res._lmfit is not None and res.params is params and res.lmfit_result.params is params
    assert res._minimizer.params is params  # the Minimizer of conf_interval holds the same Parameters
    assert res.lmfit_result.nfev >= 1 and res.lmfit_result.least_squares_nfev == res.lmfit_result.nfev
    # lmfit's own tools work on the objects made afterwards
    ci = res.conf_interval(sigmas=[1], names=["r"])
    lo, best, hi = (x for _, x in ci["r"])
    assert lo < params["r"].value == best < hi
    assert "[[Fit Statistics]]" in res.report()


def test_threads_reading_a_shared_result_get_the_lmfit_objects_made_once(monkeypatch):
    # contract: making the lmfit objects mutates the start Parameters, so two threads reading `.params` of one
    # result at once must not both make them: one thread makes them, both get the same objects (a slow
    # preparation keeps the first thread inside while the second arrives)
    import threading
    import time

    from tumordyn.fitting import _fit

    law = growth_law("logistic")
    t = np.array([0.0, 7.0, 21.0, 42.0, 70.0, 98.0, 140.0])
    v = law.predict(t, {"r": 0.04, "K": 6000.0, "S": 300.0}) * np.exp(np.random.default_rng(1).normal(0, 0.05, t.size))
    df = pd.DataFrame({"subject": "p", "time": t, "observable": "tumor_volume", "value": v})
    res = td.fit(law, df, ["r", "K"], initial_free=["S"], initial={"S": 250.0}, params={"r": 0.03, "K": 5000.0})
    made = []
    real = _fit._prepare_owned

    def slow(mini, pars):
        made.append(threading.get_ident())
        time.sleep(0.2)
        return real(mini, pars)

    monkeypatch.setattr(_fit, "_prepare_owned", slow)
    start = threading.Barrier(2)
    got = [None, None]

    def read(i):
        start.wait()
        got[i] = res.params

    threads = [threading.Thread(target=read, args=(i,)) for i in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=30)
    assert len(made) == 1
    assert got[0] is got[1] is res.params
    assert got[0]["r"].value == pytest.approx(0.04, rel=0.2) and got[0]["r"].stderr > 0


@pytest.mark.parametrize("lean", [True, False])
def test_bad_input_raises_the_same_named_errors(lean, monkeypatch):
    monkeypatch.setattr(_Problem, "lean_result", lean)
    t, v = _laleh_records(1)[0]
    data, free, kw = _battle_kw("gompertz", t, v)
    law = growth_law("gompertz")
    with pytest.raises(SpecificationError, match=r"start value 1.0 of 'init_S__p' is outside its bounds \[10.0, "):
        td.fit(law, data, free, **{**kw, "initial": {"S": 1.0}, "bounds": {**kw["bounds"], "S": (10.0, 1e6)}})
    with pytest.raises(SpecificationError, match="state 'S' is non-negative; got -1.0"):
        td.fit(law, data, free, **{**kw, "initial": {"S": -1.0}})
    with pytest.raises(SpecificationError, match="row 1 \\(position 1\\): value is nan"):
        td.fit(law, dict(data, value=np.where(np.arange(len(t)) == 1, np.nan, v)), free, **kw)
    with pytest.raises(UnknownNameError, match="volume"):
        td.fit(law, dict(data, observable=np.full(len(t), "volume")), free, **kw)
    three = {k: a[:3] for k, a in data.items()}
    with pytest.raises(SpecificationError, match="3 data points cannot determine 3 free parameters"):
        td.fit(law, three, free, **kw)
    with pytest.raises(SpecificationError, match="`bounds\\['r'\\]` must satisfy low < high"):
        td.fit(law, data, free, **{**kw, "bounds": {"r": (1.0, 0.5)}})


def test_a_closed_form_evaluated_outside_the_fit_loop_warns_nothing():
    # the loop silences numpy's floating-point warnings once; an evaluation outside it (the residuals of a result,
    # a profile's refit) silences them itself: an initial volume of 0 (log 0) and an overflow to inf are the
    # residual's to judge, not RuntimeWarnings (which the test configuration makes errors)
    t = np.array([0.0, 7.0, 21.0, 42.0])
    df = pd.DataFrame({"subject": "p", "time": t, "observable": "tumor_volume", "value": [100.0, 150.0, 300.0, 900.0]})
    res = td.fit(growth_law("exponential"), df, ["r"], initial_free=["S"], initial={"S": 100.0}, params={"r": 0.01},
                 scale="linear")
    p = res._problem
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p._memo = None
        np.testing.assert_array_equal(p.residual_at(np.array([0.01, 0.0])), -df["value"].to_numpy())  # S = 0
        p._memo = None
        overflow = np.array([2.0, 1e300])  # e^(2 * 42) * 1e300: the penalised residual of a failed evaluation
        np.testing.assert_array_equal(p.residual_at(overflow), np.full(4, p.failed_residual))
        J = p.jacobian_at(np.array([0.01, 0.0]), list(p._var_names), [np.inf, np.inf])  # the analytic one, S = 0
        assert np.array_equal(J, p._lean_jacobian(np.array([0.01, 0.0]), list(p._var_names)))
        assert res.residuals["prediction"].notna().all()
