"""Several problems in one compiled call (per-patient dosing plans), and the multi-subject ODE fit built on it."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import tumordyn as td
from tumordyn.dosing._plan import DosingPlan
from tumordyn.errors import SolverStatus, SpecificationError
from tumordyn.models import one_compartment_pk
from tumordyn.numerics import compile_model
from tumordyn.solve._dispatch import solve
from tumordyn.solve._problem import Problem

HAVE_NUMBA = importlib.util.find_spec("numba") is not None
needs_numba = pytest.mark.skipif(not HAVE_NUMBA, reason="the compiled engine needs numba")

SOLUTION_FIELDS = ("y", "u", "status", "t_reached", "bad_state", "nfev")


def _problems(model, schedules, times, rng):
    """One problem per schedule: its own plan, its own output times, 1-4 patients of varied parameters."""
    c = compile_model(model)
    out = []
    for k, (sched, te) in enumerate(zip(schedules, times)):
        B = 1 + k % 4
        P = np.tile(c.defaults, (B, 1)) * rng.uniform(0.7, 1.3, size=(B, c.n_params))
        Y0 = np.tile(c.initial, (B, 1)) * rng.uniform(0.5, 1.5, size=(B, c.n_states))
        plan = DosingPlan.build(c.drug_names, sched, 0.0, float(te[-1]))
        out.append(Problem(c, plan, P, Y0, np.asarray(te, dtype=float)))
    return out


def _assert_same(a, b):
    for name in SOLUTION_FIELDS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.messages == b.messages and a.methods == b.methods
    assert (a.n_segments, a.n_doses_applied) == (b.n_segments, b.n_doses_applied)


@needs_numba
@pytest.mark.parametrize("method", ["dopri5", "auto"])
def test_problems_with_their_own_plans_in_one_call_equal_their_own_solves(method):
    # contract: every patient of every problem gets, bit for bit, the answer of its problem solved alone
    rng = np.random.default_rng(3)
    m = td.fitting.growth_model("logistic", resistant=True)
    schedules = [td.Schedule.infusion("drug", 1.0, 10.0, 60.0), td.Schedule(),
                 td.Schedule.infusion("drug", 1.0, 10.0, 24.0) + td.Schedule.infusion("drug", 0.5, 38.0, 52.0),
                 td.Schedule.infusion("drug", 2.0, 3.0, 4.0)]
    times = [np.linspace(0.0, 56.0, 15), [0.0, 7.0, 30.0], np.linspace(2.0, 80.0, 40), [5.0]]
    probs = _problems(m, schedules, times, rng)
    opts = td.Solver(method=method, rtol=1e-8, atol=1e-8).options(probs[0].compiled)
    together = solve(probs, opts)
    assert len(together) == len(probs)
    for prob, sol in zip(probs, together):
        assert sol.y.shape == (prob.n_patients, prob.t_eval.size, 2)
        _assert_same(sol, solve(prob, opts))
    # and in another order and grouping
    again = solve(probs[::-1], opts)
    for a, b in zip(again[::-1], together):
        _assert_same(a, b)


@needs_numba
def test_bolus_plans_dose_scales_and_failures_per_problem():
    rng = np.random.default_rng(5)
    m = one_compartment_pk(half_life=1.0, volume=10.0)
    schedules = [td.Schedule.every("drug", 100.0, 1.0, count=5), td.Schedule.at("drug", 3.0, 2.5),
                 td.Schedule()]
    times = [np.linspace(0.0, 6.0, 13), np.linspace(0.0, 4.0, 9), [0.0, 1.0]]
    probs = _problems(m, schedules, times, rng)
    c = probs[0].compiled
    probs[1] = Problem(c, probs[1].plan, probs[1].params, probs[1].y0, probs[1].t_eval,
                       dose_scale=np.array([[2.0]] * probs[1].n_patients))
    opts = td.Solver(method="dopri5", rtol=1e-9).options(c)
    for prob, sol in zip(probs, solve(probs, opts)):
        _assert_same(sol, solve(prob, opts))
    # a step budget too small for the dosed problems: failures reported per patient, as alone
    tight = td.Solver(method="dopri5", rtol=1e-9, max_steps=40).options(c)
    sols = solve(probs, tight)
    assert (sols[0].status == int(SolverStatus.TOO_MANY_STEPS)).all() and np.isnan(sols[0].y).all()
    for prob, sol in zip(probs, sols):
        _assert_same(sol, solve(prob, tight))


def test_several_problems_must_share_one_model():
    a = compile_model(td.models.logistic_growth())
    b = compile_model(td.fitting.growth_model("logistic", resistant=True))
    pa = Problem(a, DosingPlan.build(a.drug_names, td.Schedule(), 0.0, 1.0), a.defaults[None], a.initial[None],
                 np.array([1.0]))
    pb = Problem(b, DosingPlan.build(b.drug_names, td.Schedule(), 0.0, 1.0), b.defaults[None], b.initial[None],
                 np.array([1.0]))
    for method in ("auto", "LSODA") + (("dopri5",) if HAVE_NUMBA else ()):
        with pytest.raises(SpecificationError, match="one compiled model"):
            solve([pa, pb], td.Solver(method=method).options(a))
    with pytest.raises(SpecificationError, match="done"):
        solve([pa], td.Solver().options(a), done=np.zeros(1, dtype=np.int64))
    assert solve([], td.Solver().options(a)) == []
