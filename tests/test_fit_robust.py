"""Fits that meet a blowing-up trial solution end in bounded time with a penalised residual; the memoised
base point changes no number; Ctrl-C stops a fit promptly."""

import os
import signal
import subprocess
import sys
import textwrap
import warnings
import time

import numpy as np
import pandas as pd
import pytest
import sympy as sp

import tumordyn as td
from tumordyn.fitting._fit import FAILED_SOLVE_RESIDUAL


def _blowup_model():
    # N' = a N^2: N = N0 / (1 - a N0 t) reaches infinity at t = 1 / (a N0), inside the data for a > 0.1
    N, a = sp.symbols("N a")
    return td.Model("blowup", states=[td.State("N", 1.0, atol=1e-9)],
                    parameters=[td.Parameter("a", 0.01, (0.0, 100.0), "1/day")],
                    processes=[td.Process("growth", a * N**2, produces="N")], check_positivity=False)


def _blowup_data():
    t = np.linspace(0.0, 10.0, 11)
    return pd.DataFrame({"subject": 1, "time": t, "observable": "N", "value": 1.0 / (1.0 - 0.095 * t)})


@pytest.mark.parametrize("solver", ["auto", "LSODA"])
def test_fit_through_a_blowing_up_trial_ends_with_the_penalty(solver):
    if solver == "auto":
        pytest.importorskip("numba")
    m, df = _blowup_model(), _blowup_data()
    started = time.monotonic()
    res = td.fit(m, df, free=["a"], params={"a": 0.02}, solver=solver, scale="linear")
    assert time.monotonic() - started < 120  # generous: a hang would never return
    assert res.params["a"].value == pytest.approx(0.095, rel=1e-5)
    # a trial beyond the singularity gets the finite penalty, the fit keeps its engine
    p = res.params.copy()
    p["a"].value = 5.0
    engine = res._problem.engine
    r = res._problem.residual(p)
    assert np.all(r == res._problem.failed_residual) and res._problem.failed_residual >= FAILED_SOLVE_RESIDUAL
    assert res._problem.engine == engine
    if solver == "auto":
        assert engine == "dopri5"  # a step size underflow does not hand the fit to LSODA


def test_memoised_base_point_changes_no_number():
    pytest.importorskip("numba")
    model = td.fitting.growth_model("logistic", resistant=True)
    sched = {s: td.Schedule.infusion("drug", 1.0, a, 60.0) for s, a in (("A", 10.0), ("B", 14.0))}
    times = np.linspace(0.0, 56.0, 9)
    data = td.fitting.synthetic_data(model, sched, times, "tumor_volume", noise="lognormal", sigma=0.1, seed=3,
                                     params={"r": 0.12, "K": 3000.0, "kill": 0.35}, initial={"S": 90.0, "R": 1.5})
    res = td.fit(model, data, free=["r", "K", "kill"], schedules=sched, initial={"S": 90.0, "R": 1.5},
                 params={"r": 0.1, "K": 5000.0, "kill": 0.2})
    prob = res._problem
    p = res.params.copy()
    p["r"].value = 0.13
    prob._memo = None
    j_fresh = prob.jacobian(p)  # base copy solved with the perturbed ones
    r_fresh = prob.residual(p)  # memoises this point
    j_memo = prob.jacobian(p)  # base copy from the memo
    assert np.array_equal(j_fresh, j_memo)
    assert np.array_equal(r_fresh, prob.residual(p))


_FIT_SCRIPT = textwrap.dedent("""
    import numpy as np, tumordyn as td
    model = td.fitting.growth_model("logistic", resistant=True)
    subjects = [f"P{i}" for i in range(40)]
    sched = {s: td.Schedule.infusion("drug", 1.0, 5.0 + i % 7, 60.0) for i, s in enumerate(subjects)}
    times = np.linspace(0.0, 56.0, 15)
    data = td.fitting.synthetic_data(model, sched, times, "tumor_volume", noise="lognormal", sigma=0.1, seed=3,
                                     params={"r": 0.12, "K": 3000.0, "kill": 0.35}, initial={"S": 90.0, "R": 1.5})
    print("START", flush=True)
    try:
        while True:  # refits until interrupted
            td.fit(model, data, free={"r": "subject", "K": "shared", "kill": "subject"}, schedules=sched,
                   initial={"S": 90.0, "R": 1.5}, params={"r": 0.05, "K": 9000.0, "kill": 0.1}, solver="LSODA")
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
        raise SystemExit(130)
""")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_stops_a_fit_promptly():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, "-c", _FIT_SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith("START"), line + proc.stderr.read()
        time.sleep(2.0)
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "INTERRUPTED" in out, out + err
    assert proc.returncode == 130
    assert took < 30.0


# ------------------------------------------------------------------ issue 14: bugs 2, 3, 4, 5, 7, 8
def _disappearing_lesion():
    t = np.array([0.7, 42, 84, 126, 168, 210, 252, 301, 357, 420, 483, 546, 609])
    v = np.array([26339.56, 26339.56] + [0.0] * 11)  # measured twice, then gone (a record of Laleh et al. 2022)
    return pd.DataFrame({"subject": "p", "time": t, "observable": "tumor_volume", "value": v})


@pytest.mark.parametrize("law", [td.fitting.growth_law("exponential"), td.fitting.growth_model("exponential")])
def test_bug2_fd_step_does_not_underflow_next_to_a_zero_bound(law):
    df = _disappearing_lesion()
    for kw in ({}, dict(bounds={"r": (-2, 2)}, params={"r": 5.18e-17})):
        res = td.fit(law, df, ["r"], initial_free=["S"], initial={"S": 26339.56}, t0=0.7, scale="linear", **kw)
        assert all(np.isfinite(list(res.values().values())))
    # the step at a subnormal value next to the 0 bound is a usable number
    par = res.params["init_S__p"]
    par.value = 5e-320
    h = res._problem._fd_step("init_S__p", par)
    assert h > 0 and par.value + h != par.value and h == pytest.approx(res._problem.fd_step * 26339.56)


def test_bug3_predict_after_a_two_clone_fit_that_kills_the_sensitive_clone():
    # a record where the best fit kills the sensitive clone at the kill bound: the prediction re-solves with the
    # fit's own engine and agrees with the closed form
    df = td.datasets.laleh2022()
    g = df[df["patient"] == "ba7adc0428eee416ea40251662a97a82-S1"]
    t, v = g["time_weeks"].to_numpy() * 7, g["volume_mm3"].to_numpy()
    law = td.fitting.growth_law("exponential", resistant=True)
    data = pd.DataFrame({"subject": "p", "time": t[:-2], "observable": "tumor_volume", "value": v[:-2]})
    sched = td.Schedule.infusion("drug", 1.0, t[0], t[-1] + 1)
    kw = dict(initial_free=["S", "R"], initial={"S": 0.99 * v[0], "R": 0.01 * v[0]}, params={"r": 0.01, "kill": 0.5},
              t0=t[0], scale="linear", schedules=sched)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", td.errors.FitWarning)
        res = td.fit(law.model, data, ["r", "kill"], **kw)
    pred = res.predict(times=t[-2:], observables=["tumor_volume"])["value"].to_numpy()
    p = {**res.subject_parameters("p"), **res.subject_initial("p")}
    np.testing.assert_allclose(pred, law.predict(t[-2:] - t[0], p, drug=1.0), rtol=1e-6)


def test_bug4_failed_solve_penalty_is_relative_to_the_data():
    m = _blowup_model()
    df = _blowup_data().assign(value=lambda d: d["value"] * 1e5)  # mm^3-sized values
    res = td.fit(m, df, free=["a"], params={"a": 0.02e-5}, initial={"N": 1e5}, scale="linear")
    assert res.params["a"].value == pytest.approx(0.095e-5, rel=1e-5)
    prob = res._problem
    assert prob.failed_residual == pytest.approx(FAILED_SOLVE_RESIDUAL * df["value"].abs().max())
    p = res.params.copy()
    p["a"].value = 5e-5  # blows up at t = 0.2 days
    failed = prob.residual(p)
    # a failed trial loses to the worst sensible prediction (0 everywhere) by a wide margin
    assert np.sum(failed ** 2) > 1e6 * np.sum(df["value"].to_numpy() ** 2)


def test_bug5_a_fit_pinned_at_its_bounds_warns():
    m = td.fitting.growth_model("logistic")
    t = np.linspace(0, 40, 9)
    df = pd.DataFrame({"subject": "p", "time": t, "observable": "tumor_volume",
                       "value": td.models.logistic_solution(t, 100.0, 0.5, 9000.0)})
    with pytest.warns(td.errors.FitWarning, match="every fitted parameter ended at a bound"):
        res = td.fit(m, df, ["r", "K"], bounds={"r": (0.01, 0.2), "K": (100.0, 3000.0)}, params={"r": 0.1, "K": 500.0},
                     initial={"S": 100.0})
    assert res.at_bounds == {"r": "upper", "K": "upper"}


def test_bug7_fit_docstring_states_the_optimizer_it_uses(tmp_path):
    m = td.fitting.growth_law("exponential")
    df = pd.DataFrame({"subject": "p", "time": [0.0, 1, 2], "observable": "tumor_volume", "value": [1.0, 2.0, 4.0]})
    res = td.fit(m, df, ["r"], initial={"S": 1.0})
    assert res.optimizer == "least_squares"
    doc = " ".join(td.fit.__doc__.split())
    assert 'default ``"least_squares"``' in doc and 'default ``"leastsq"``' not in doc


@pytest.mark.parametrize("law", [td.fitting.growth_law("exponential"), td.fitting.growth_model("exponential")])
def test_bug8_each_subject_starts_at_its_own_t0(law):
    # two patients whose first scans are at different days, each with its own volume at its first scan
    first = {"a": -21.0, "b": 5.0}
    v0 = {"a": 1000.0, "b": 400.0}
    frames = []
    for s in first:
        t = first[s] + np.array([0.0, 40.0, 80.0, 120.0])
        frames.append(pd.DataFrame({"subject": s, "time": t, "observable": "tumor_volume",
                                    "value": v0[s] * np.exp(0.01 * (t - first[s]))}))
    df = pd.concat(frames, ignore_index=True)
    for t0 in ("first", first):
        res = td.fit(law, df, ["r"], initial_free=["S"], initial={"S": 500.0}, t0=t0, params={"r": 0.02})
        assert res.t0 == first
        assert res.params["r"].value == pytest.approx(0.01, rel=1e-6)
        for s in first:
            assert res.params[f"init_S__{s}"].value == pytest.approx(v0[s], rel=1e-6)
        traj = res.trajectory("a", t_eval=[-21.0, 0.0])
        assert traj["tumor_volume"][1] == pytest.approx(1000.0 * np.exp(0.21), rel=1e-6)
    with pytest.raises(td.errors.SpecificationError, match="before the start.*subject 'a'"):
        td.fit(law, df, ["r"], t0={"a": 0.0, "b": 5.0})
    with pytest.raises(td.errors.SpecificationError, match="no start for subject"):
        td.fit(law, df, ["r"], t0={"a": -21.0})
    with pytest.raises(td.errors.SpecificationError, match="'first'"):
        td.fit(law, df, ["r"], t0="start")


# ------------------------------------------------------------------ priors, time limit, multi-start
def test_normal_prior_gives_the_closed_form_posterior_mode():
    # log-linear model: ln V = ln S0 + r t with known sigma; a Gaussian prior on r -> conjugate posterior mode
    law = td.fitting.growth_law("exponential")
    t = np.array([0.0, 10.0, 20.0, 30.0])
    y = np.log([100.0, 130.0, 190.0, 230.0])
    sig = 0.1
    df = pd.DataFrame({"subject": "p", "time": t, "observable": "tumor_volume", "value": np.exp(y), "sigma": sig})
    m, sd = 0.01, 0.005
    res = td.fit(law, df, ["r"], initial={"S": 100.0}, priors={"r": (m, sd)}, params={"r": 0.02})
    z = y - np.log(100.0)
    mode = (np.sum(t * z) / sig**2 + m / sd**2) / (np.sum(t**2) / sig**2 + 1 / sd**2)
    assert res.params["r"].value == pytest.approx(mode, rel=1e-7)
    assert res.ndata == 5  # four points and one prior row
    # posterior sd of the conjugate model (sigma known: covariance not rescaled)
    assert res.params["r"].stderr == pytest.approx((np.sum(t**2) / sig**2 + 1 / sd**2) ** -0.5, rel=1e-4)


def test_priors_allow_as_many_points_as_parameters():
    law = td.fitting.growth_law("bertalanffy")
    t = np.array([0.0, 40.0, 80.0, 120.0])
    v = law.predict(t, {"r": 0.03, "K": 9000.0, "lam": 0.3, "S": 500.0})
    df = pd.DataFrame({"subject": "p", "time": t, "observable": "tumor_volume", "value": v})
    kw = dict(initial_free=["S"], initial={"S": 400.0}, params={"r": 0.02, "K": 5000.0, "lam": 1 / 3})
    with pytest.raises(td.errors.SpecificationError, match="4 data points cannot determine 4 free parameters"):
        td.fit(law, df, ["r", "K", "lam"], **kw)
    res = td.fit(law, df, ["r", "K", "lam"], priors={"lam": ("lognormal", 0.3, 0.05)}, **kw)
    assert res.params["lam"].value == pytest.approx(0.3, rel=1e-3)
    assert res.params["r"].value == pytest.approx(0.03, rel=1e-3)
    with pytest.raises(td.errors.UnknownNameError, match="lambda"):
        td.fit(law, df, ["r", "K", "lam"], priors={"lambda": (0.3, 0.1)}, **kw)
    with pytest.raises(td.errors.SpecificationError, match="median of a log-normal prior must be > 0"):
        td.fit(law, df, ["r", "K", "lam"], priors={"lam": ("lognormal", -0.3, 0.1)}, **kw)
    with pytest.raises(td.errors.SpecificationError, match="sd"):
        td.fit(law, df, ["r", "K", "lam"], priors={"lam": (0.3, 0.0)}, **kw)


def test_max_seconds_ends_a_long_fit_with_a_named_error():
    model = td.fitting.growth_model("logistic", resistant=True)
    subjects = [f"P{i}" for i in range(20)]
    sched = {s: td.Schedule.infusion("drug", 1.0, 5.0 + i % 7, 60.0) for i, s in enumerate(subjects)}
    data = td.fitting.synthetic_data(model, sched, np.linspace(0.0, 56.0, 15), "tumor_volume", noise="lognormal",
                                     sigma=0.1, seed=3, params={"r": 0.12, "K": 3000.0, "kill": 0.35},
                                     initial={"S": 90.0, "R": 1.5})
    started = time.monotonic()
    with pytest.raises(td.errors.FitTimeoutError, match="time budget") as info:
        td.fit(model, data, free={"r": "subject", "K": "shared", "kill": "subject"}, schedules=sched,
               initial={"S": 90.0, "R": 1.5}, params={"r": 0.05, "K": 9000.0, "kill": 0.1}, solver="LSODA",
               max_seconds=1e-3)  # far below one fit on any machine
    assert time.monotonic() - started < 60
    err = info.value
    assert err.elapsed >= 0.0 and (err.nfev == 0 or (err.best_values and np.isfinite(err.best_chisqr)))
    with pytest.raises(td.errors.SpecificationError, match="max_seconds"):
        td.fit(model, data, ["r"], schedules=sched, max_seconds=0.0)


def test_multi_start_keeps_the_best_and_draws_within_bounds():
    from tumordyn.fitting._fit import _random_start

    law = td.fitting.growth_law("bertalanffy")
    t = np.linspace(0.0, 200.0, 8)
    v = law.predict(t, {"r": 0.02, "K": 20000.0, "lam": -0.5, "S": 800.0})
    df = pd.DataFrame({"subject": "p", "time": t, "observable": "tumor_volume", "value": v * (1 + 0.02 * np.cos(t))})
    kw = dict(initial_free=["S"], initial={"S": 800.0}, params={"r": 1.5, "K": 2.0, "lam": 4.0}, scale="log")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", td.errors.FitWarning)
        one = td.fit(law, df, ["r", "K", "lam"], **kw)
        many = td.fit(law, df, ["r", "K", "lam"], n_starts=6, seed=1, **kw)
    assert many.chisqr <= one.chisqr * (1 + 1e-9)
    rng = np.random.default_rng(0)
    for _ in range(50):
        p = _random_start(one.params, rng)
        assert all(q.min <= q.value <= q.max for q in p.values())
    with pytest.raises(td.errors.SpecificationError, match="n_starts"):
        td.fit(law, df, ["r"], n_starts=0, **kw)


def test_a_time_budget_does_not_outlive_its_fit():
    law = td.fitting.growth_law("gompertz")
    t = np.linspace(0.0, 100.0, 8)
    v = law.predict(t, {"r": 0.05, "K": 5000.0, "S": 200.0}) * (1 + 0.03 * np.sin(t))
    df = pd.DataFrame({"subject": "p", "time": t, "observable": "tumor_volume", "value": v})
    res = td.fit(law, df, ["r", "K"], initial={"S": 200.0}, max_seconds=2.0)
    assert res.success
    time.sleep(2.1)  # past the fit's deadline: the kept minimizer refits (conf_interval) without a budget
    ci = res.conf_interval(sigmas=[1], names=["r"])["r"]
    assert ci[0][1] < res.params["r"].value < ci[-1][1]
