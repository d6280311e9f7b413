"""Closed-form growth-law fits: the analytic Jacobian (each law's volume differentiated once with sympy) against
central finite differences where it applies, the finite differences it falls back to where it does not, the
optimum it reaches, the closed form's precision where the volume has settled at K, and the fit's fast paths (a
mapping of numpy arrays without pandas, the result keeping the Parameters the fit made) against the general ones."""

import warnings

import mpmath
import numpy as np
import pandas as pd
import pytest

import tumordyn as td
from tumordyn._progress import progress_bar
from tumordyn.errors import FitWarning, SpecificationError, UnknownNameError
from tumordyn.fitting import GROWTH_LAWS, growth_law
from tumordyn.fitting._fit import _Problem

from test_growth_laws import _laleh_records  # the model-battle records: (days, mm³), all but the last 2 readings

T = np.array([0.0, 7.0, 21.0, 42.0, 70.0, 98.0, 140.0])
TRUE = {"r": 0.04, "K": 6000.0, "lam": 0.6, "kill": 0.3}


def _data(name, times=T, subject="p", seed=0, S=300.0, drug=0.0):
    law = growth_law(name)
    p = {k: v for k, v in TRUE.items() if k in law.parameters} | {"S": S}
    v = law.predict(times, p, drug) * np.exp(np.random.default_rng(seed).normal(0.0, 0.05, times.size))
    return pd.DataFrame({"subject": subject, "time": times, "observable": "tumor_volume", "value": v})


def _free(name):
    return {"exponential": ["r"], "bertalanffy": ["r", "K", "lam"]}.get(name, ["r", "K"])


def _central(problem, allv, names):
    """d residual / d names by central differences (relative step 1e-6)."""
    J = np.empty((problem.target.size, len(names)))
    for k, n in enumerate(names):
        i = problem._var_pos[n]
        h = 1e-6 * max(abs(allv[i]), 1e-3)
        up, dn = allv.copy(), allv.copy()
        up[i] += h
        dn[i] -= h
        J[:, k] = (problem.residual_at(up) - problem.residual_at(dn)) / (2 * h)
    return J


def _assert_close(Ja, Jc):
    # central differences resolve a column to about 1e-9 of its largest entry; 1e-6 leaves room for the
    # curvature of the closed form, and entries far below the matrix's scale are compared to it
    col = np.abs(Jc).max(axis=0)
    assert np.all(np.abs(Ja - Jc) <= 1e-6 * col + 1e-9 * np.abs(Jc).max()), np.abs(Ja - Jc).max(axis=0)


def _problem(res):
    p = res._problem
    names = [n for n, q in res.params.items() if q.vary]
    return p, names, p._values(res.params)


@pytest.mark.parametrize("scale", ["linear", "log"])
@pytest.mark.parametrize("name", GROWTH_LAWS)
def test_analytic_jacobian_matches_central_differences(name, scale):
    law = growth_law(name)
    start = {k: v for k, v in {"r": 0.03, "K": 5000.0, "lam": 0.5}.items() if k in law.parameters}
    res = td.fit(law, _data(name), _free(name), initial_free=["S"], initial={"S": 250.0}, scale=scale, params=start)
    p, names, allv = _problem(res)
    assert p._lean is not None  # one subject, one drug level: the direct path
    for f in (1.0, 1.2, 0.7):  # the optimum and points away from it
        v = allv * f
        Ja = p.jacobian_at(v, names, [np.inf] * len(names))
        assert np.array_equal(Ja, p._lean_jacobian(v, names))  # the analytic one was used
        _assert_close(Ja, _central(p, v, names))


def test_analytic_jacobian_of_several_subjects_and_the_drug_on():
    # two subjects (their own initial volume, shared r and K), and an exponential law with the drug on throughout
    d = pd.concat([_data("gompertz", subject="a"), _data("gompertz", subject="b", seed=1, S=800.0)])
    res = td.fit(growth_law("gompertz"), d, ["r", "K"], initial_free=["S"], initial={"S": 500.0},
                 params={"r": 0.03, "K": 5000.0}, scale="linear")
    p, names, allv = _problem(res)
    assert p._lean is None
    P, Y0 = p._matrices(allv)
    assert p._closed_jacobian(P, Y0, names) is not None
    _assert_close(p.jacobian_at(allv, names, [np.inf] * len(names)), _central(p, allv, names))

    sched = td.Schedule.infusion("drug", 1.0, 0.0, 200.0)
    on = _data("exponential", drug=1.0)
    res = td.fit(growth_law("exponential"), on, ["r", "kill"], initial_free=["S"], initial={"S": 300.0},
                 schedules=sched, params={"r": 0.05, "kill": 0.2})
    p, names, allv = _problem(res)
    assert p._lean is not None and p._lean_jacobian(allv, names) is not None
    _assert_close(p.jacobian_at(allv, names, [np.inf] * len(names)), _central(p, allv, names))


@pytest.mark.filterwarnings("ignore::tumordyn.errors.FitWarning")
@pytest.mark.parametrize("case", ["resistant", "saturating_drug_on", "on_off_plan", "lam_near_zero"])
def test_finite_differences_where_no_analytic_jacobian_applies(case, monkeypatch):
    kw = dict(initial_free=["S"], initial={"S": 300.0}, scale="linear")
    if case == "resistant":  # two clones (closed form, no generated gradient)
        law, free = growth_law("exponential", resistant=True), ["r"]
        kw |= dict(initial_free=["S", "R"], initial={"S": 300.0, "R": 3.0})
        data = _data("exponential")
    elif case == "saturating_drug_on":  # the closed form has two branches with the drug on
        law, free = growth_law("logistic"), ["r", "K"]
        kw |= dict(schedules=td.Schedule.infusion("drug", 1.0, 0.0, 200.0), params={"r": 0.2, "kill": 0.05})
        data = _data("logistic", drug=0.0)
    elif case == "on_off_plan":  # levels change over the window: chained closed forms
        law, free = growth_law("gompertz"), ["r", "K"]
        kw |= dict(schedules=td.Schedule.infusion("drug", 1.0, 30.0, 60.0))
        data = _data("gompertz")
    else:  # a fitted Box-Cox exponent this close to 0: d/d lam cancels
        law, free = growth_law("bertalanffy"), ["r", "K", "lam"]
        kw |= dict(params={"lam": 1e-6})
        data = _data("bertalanffy")
    res = td.fit(law, data, free, **kw)
    p, names, allv = _problem(res)
    if case == "lam_near_zero":
        allv[p._var_pos["lam"]] = 1e-6
    J = p.jacobian_at(allv, names, [np.inf] * len(names))
    monkeypatch.setattr(_Problem, "analytic_jacobian", False)
    assert np.array_equal(J, p.jacobian_at(allv, names, [np.inf] * len(names)))  # the finite differences, unchanged


@pytest.mark.parametrize("name", GROWTH_LAWS)
def test_analytic_jacobian_reaches_the_finite_difference_optimum_on_real_records(name, monkeypatch):
    # both stop at scipy's tolerances (ftol = xtol = gtol = 1e-8), on slightly different paths: the same
    # chi-square to 1e-5 relative, or the analytic one lower (measured on these records: within 1e-9 on 35 of
    # 39, the largest differences 2.8e-6 lower (exponential) and 2.3e-6 higher (general Bertalanffy, 4
    # parameters on 5 points))
    free = _free(name)
    lo = {"r": -2.0 if name == "exponential" else 1e-4, "K": 1.0, "lam": -5.0}
    hi = {"r": 2.0, "K": 1e7, "lam": 5.0}
    law = growth_law(name)
    done = 0
    for t, v in _laleh_records(10):
        if len(t) <= len(free) + 1:
            continue
        n = len(t)
        d = {"subject": np.full(n, "p"), "time": t, "observable": np.full(n, "tumor_volume"), "value": v}
        start = {"r": 0.01, "K": float(np.clip(2 * v.max(), 2.0, 9e6)), "lam": 1.0 / 3.0}
        kw = dict(initial_free=["S"], initial={"S": float(max(v[0], 1.0))}, params={p: start[p] for p in free},
                  bounds={p: (lo[p], hi[p]) for p in free}, t0=float(t[0]), scale="linear")
        with warnings.catch_warnings():  # (a parameter may end at a bound: not what this test is about)
            warnings.simplefilter("ignore", FitWarning)
            a = td.fit(law, d, free, **kw)
            monkeypatch.setattr(_Problem, "analytic_jacobian", False)
            b = td.fit(law, d, free, **kw)
            monkeypatch.undo()
        assert a.chisqr <= b.chisqr * (1 + 1e-5) + 1e-12 * float(v @ v), (name, a.chisqr, b.chisqr)
        done += 1
    assert done >= 4


def _mp_bertalanffy(t, r, K, lam, S):
    mpmath.mp.dps = 50
    t, r, K, lam, S = (mpmath.mpf(float(x)) for x in (t, r, K, lam, S))
    if lam == 0:
        return float(K * (S / K) ** mpmath.exp(-r * t))
    return float(K * (1 + ((S / K) ** lam - 1) * mpmath.exp(-r * t)) ** (1 / lam))


@pytest.mark.parametrize("r, K, lam, S", [(0.3, 1.0, 4.5, 1755.0), (0.05, 1.0, 1.0 / 3.0, 2.0e5),
                                          (0.02, 5000.0, 0.6, 100.0), (0.1, 800.0, -1.0, 5000.0),
                                          (0.1, 2000.0, 0.0, 50.0)])
def test_closed_form_keeps_its_digits_where_the_volume_settles_at_K(r, K, lam, S):
    # V0 >> K with lam > 0: the product form 1 - (1 - (K/V0)^lam)(1 - e^{-rt}) cancelled to rounding (the volume
    # stuck, its derivative in K zero); the sum form keeps the digits. Reference: 50-digit mpmath.
    t = np.array([0.0, 1.0, 10.0, 40.0, 80.0, 160.0, 400.0])
    name = "gompertz" if lam == 0 else "bertalanffy"
    p = {"r": r, "K": K, "S": S} | ({"lam": lam} if lam else {})
    got = growth_law(name).predict(t, p)
    ref = np.array([_mp_bertalanffy(x, r, K, lam, S) for x in t])
    np.testing.assert_allclose(got, ref, rtol=1e-12)


def test_a_mapping_of_arrays_fits_as_its_dataframe_does():
    df = _data("gompertz")
    n = len(df)
    arrays = {"subject": np.full(n, "p"), "time": df["time"].to_numpy(), "observable": np.full(n, "tumor_volume"),
              "value": df["value"].to_numpy()}
    before = {k: a.copy() for k, a in arrays.items()}
    kw = dict(initial_free=["S"], initial={"S": 250.0}, params={"r": 0.03, "K": 5000.0})
    a = td.fit(growth_law("gompertz"), arrays, ["r", "K"], **kw)
    b = td.fit(growth_law("gompertz"), df, ["r", "K"], **kw)
    assert repr((a.values(), a.stderr(), a.chisqr)) == repr((b.values(), b.stderr(), b.chisqr))
    pd.testing.assert_frame_equal(a.data, b.data)
    assert all(np.array_equal(arrays[k], before[k]) for k in arrays)  # the user's arrays untouched
    assert a.params["r"].init_value == 0.03 and a.lmfit_result.init_values["K"] == 5000.0
    # a bad value is named as in a DataFrame
    bad = dict(arrays, value=np.where(np.arange(n) == 2, np.nan, arrays["value"]))
    with pytest.raises(SpecificationError, match=r"row 2 \(position 2\): value is nan"):
        td.fit(growth_law("gompertz"), bad, ["r", "K"], **kw)
    with pytest.raises(UnknownNameError, match="volume"):
        td.fit(growth_law("gompertz"), dict(arrays, observable=np.full(n, "volume")), ["r", "K"], **kw)


def test_random_starts_still_start_from_the_start_values():
    # the first start keeps its Parameters as the result's only when no random start reads them again
    kw = dict(initial_free=["S"], initial={"S": 250.0}, params={"r": 0.03, "K": 5000.0})
    one = td.fit(growth_law("gompertz"), _data("gompertz"), ["r", "K"], **kw)
    three = td.fit(growth_law("gompertz"), _data("gompertz"), ["r", "K"], n_starts=3, **kw)
    assert three.chisqr <= one.chisqr * (1 + 1e-9)
    assert one.params is not three.params and one.params["r"].init_value == 0.03


def test_a_bar_nobody_sees_counts_and_prints_nothing(capsys):
    with progress_bar(False, total=3, desc="fit") as bar:
        bar.update(2)
        bar.total = 5
    bar.close()
    assert bar.n == 2 and bar.total == 5 and bar.disable
    assert capsys.readouterr().err == ""


@pytest.mark.filterwarnings("ignore::tumordyn.errors.FitWarning")
def test_an_initial_volume_run_to_zero_falls_back_to_finite_differences(monkeypatch):
    # a record of the battle (Laleh et al. 2022) whose Gompertz optimum runs V0 towards its bound 0: the true
    # d V / d V0 reaches 1e154, which scipy's trust region squares to inf ("array must not contain infs");
    # such an evaluation uses finite differences, and the fit ends where the finite-difference fit does
    t = np.array([0.7, 35.0, 77.0, 126.0])
    v = np.array([8125.0, 44295.68, 96300.36, 77416.04])
    d = {"subject": np.full(4, "p"), "time": t, "observable": np.full(4, "tumor_volume"), "value": v}
    kw = dict(initial_free=["S"], initial={"S": 8125.0}, params={"r": 0.01, "K": 2 * v.max()},
              bounds={"r": (1e-4, 2.0), "K": (1.0, 1e7)}, t0=0.7, scale="linear")
    res = td.fit(growth_law("gompertz"), d, ["r", "K"], **kw)
    assert res.success and res.params["init_S__p"].value < 1e-50
    monkeypatch.setattr(_Problem, "analytic_jacobian", False)
    fd = td.fit(growth_law("gompertz"), d, ["r", "K"], **kw)
    assert res.chisqr <= fd.chisqr * (1 + 1e-5)
