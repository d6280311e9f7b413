"""Fits that meet a blowing-up trial solution end in bounded time with a penalised residual; the memoised
base point changes no number; Ctrl-C stops a fit promptly."""

import os
import signal
import subprocess
import sys
import textwrap
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
    assert np.all(r == FAILED_SOLVE_RESIDUAL)
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
