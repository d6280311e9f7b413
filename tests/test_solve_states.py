"""``solve_states``: a fit's evaluations read the states of several problems without Solution objects; the
numbers are those of ``solve`` (bit for bit), and a failed patient hands back the solutions to read it from."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import tumordyn as td
from tumordyn.dosing._plan import DosingPlan
from tumordyn.errors import SolverStatus, SpecificationError
from tumordyn.numerics import compile_model
from tumordyn.solve import solve, solve_states
from tumordyn.solve._problem import Problem

HAVE_NUMBA = importlib.util.find_spec("numba") is not None


def _problems(r_values, n_times):
    """One growth-model problem per plan (different schedules, copies and output times)."""
    c = compile_model(td.fitting.growth_model("logistic", resistant=True))
    schedules = [td.Schedule.infusion("drug", 1.0, 10.0, 30.0), td.Schedule(),
                 td.Schedule.infusion("drug", 2.0, 5.0, 8.0)]
    out = []
    for sch, rs, k in zip(schedules, r_values, n_times):
        te = np.linspace(0.0, 40.0, k)
        plan = DosingPlan.build(c.drug_names, sch, 0.0, float(te[-1]))
        P = np.tile(c.defaults, (len(rs), 1))
        P[:, c.param_names.index("r")] = rs
        out.append(Problem(c, plan, P, np.tile(c.initial, (len(rs), 1)), te))
    return c, out


@pytest.mark.skipif(not HAVE_NUMBA, reason="the compiled engine")
def test_states_equal_the_solutions_bit_for_bit():
    c, probs = _problems([[0.1, 0.2], [0.3], [0.05, 0.15, 0.25]], [15, 9, 4])
    opts = td.Solver(method="dopri5", rtol=1e-8).options(c)
    ys, sols = solve_states(probs, opts)
    assert sols is None
    ref = solve(probs, opts)
    assert len(ys) == len(ref) == 3
    for y, sol, prob in zip(ys, ref, probs):
        assert y.shape == (prob.n_patients, prob.t_eval.size, c.n_states)
        np.testing.assert_array_equal(y, sol.y)


@pytest.mark.skipif(not HAVE_NUMBA, reason="the compiled engine")
def test_a_failed_patient_returns_the_solutions():
    c, probs = _problems([[0.1, 0.2], [0.3], [0.05, 0.15, 0.25]], [15, 9, 4])
    opts = td.Solver(method="dopri5", rtol=1e-8, max_steps=3).options(c)  # too few steps for anyone
    ys, sols = solve_states(probs, opts)
    assert ys is None and len(sols) == 3
    assert all((sol.status == SolverStatus.TOO_MANY_STEPS).all() for sol in sols)
    assert all(np.isnan(sol.y).all() for sol in sols)


def test_other_engines_and_one_problem_give_solutions():
    c, probs = _problems([[0.1], [0.3], [0.2]], [5, 5, 5])
    opts = td.Solver(method="LSODA", rtol=1e-8).options(c)
    ys, sols = solve_states(probs, opts)
    assert ys is None
    for sol, ref in zip(sols, solve(probs, opts)):
        np.testing.assert_array_equal(sol.y, ref.y)
    if HAVE_NUMBA:  # one problem on the compiled engine: solved alone, as solve_many does
        ys, sols = solve_states(probs[:1], td.Solver(method="dopri5").options(c))
        assert ys is None and sols[0].ok.all()
    assert solve_states([], opts) == (None, [])


def test_problems_of_different_models_are_refused():
    _, probs = _problems([[0.1], [0.3], [0.2]], [5, 5, 5])
    other = compile_model(td.fitting.growth_model("gompertz"))
    plan = DosingPlan.build(other.drug_names, td.Schedule(), 0.0, 1.0)
    alien = Problem(other, plan, other.defaults[None, :], other.initial[None, :], np.array([0.0, 1.0]))
    with pytest.raises(SpecificationError, match="one compiled model"):
        solve_states([probs[0], alien], td.Solver(method="dopri5").options(probs[0].compiled))
