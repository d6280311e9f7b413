"""The one solve layer: Solver settings, the dosing plan, engines behind one interface, the fallback policy."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import tumordyn as td
from tumordyn.dosing._plan import DosingPlan
from tumordyn.solve._dispatch import FALLBACK_STATUSES, engine_for, solve
from tumordyn.solve._problem import Problem
from tumordyn.errors import SolverError, SolverStatus, SpecificationError, UnknownNameError
from tumordyn.models import one_compartment_pk
from tumordyn.numerics import compile_model

HAVE_NUMBA = importlib.util.find_spec("numba") is not None
ENGINES = ["LSODA", "RK45", "batch"] + (["dopri5"] if HAVE_NUMBA else [])


def test_solver_validates_at_construction() -> None:
    assert td.Solver().method == "auto"
    with pytest.raises(SpecificationError, match="unknown method 'dopri8'"):
        td.Solver(method="dopri8")
    with pytest.raises(SpecificationError, match="rtol"):
        td.Solver(rtol=0.0)
    with pytest.raises(SpecificationError, match="atol"):
        td.Solver(atol={"S": -1.0})
    with pytest.raises(SpecificationError, match="max_steps"):
        td.Solver(max_steps=0)
    with pytest.raises(TypeError, match="rtol"):
        td.Solver(rtol="tight")
    with pytest.raises(UnknownNameError):
        td.Solver(atol={"nope": 1.0}).options(compile_model(td.models.logistic_growth()))
    a = td.Solver(atol={"N": 1e-3})
    assert a == td.Solver(atol={"N": 1e-3}) and hash(a) == hash(td.Solver(atol={"N": 1e-3}))


def test_solver_object_and_keywords_are_the_same_settings() -> None:
    m = td.models.logistic_growth()
    a = td.simulate(m, t_end=10.0, t_eval=[0, 5, 10], solver=td.Solver(method="LSODA", rtol=1e-9))
    b = td.simulate(m, t_end=10.0, t_eval=[0, 5, 10], method="LSODA", rtol=1e-9)
    np.testing.assert_array_equal(a.y, b.y)
    with pytest.raises(SpecificationError, match="not both"):
        td.simulate(m, t_end=10.0, solver=td.Solver(), rtol=1e-3)
    with pytest.raises(TypeError, match="Solver"):
        td.simulate(m, t_end=10.0, solver="LSODA")


def test_plan_counts_doses_by_one_rule() -> None:
    sched = (td.Schedule([td.Dose(1.0, "drug", 10.0), td.Dose(1.0, "drug", 5.0), td.Dose(2.0, "drug", 0.0)])
             + td.Schedule.infusion("drug", 3.0, 0.5, 1.5))
    plan = DosingPlan.build(("drug",), sched, 0.0, 4.0)
    assert plan.n_doses == 2  # two doses at t = 1 count twice; a zero-amount dose is no dose
    np.testing.assert_array_equal(plan.breaks, [0.0, 0.5, 1.0, 1.5, 4.0])
    np.testing.assert_array_equal(plan.bolus[:, 0], [0.0, 0.0, 15.0, 0.0, 0.0])
    np.testing.assert_array_equal(plan.rates[:, 0], [0.0, 3.0, 3.0, 0.0, 0.0])
    assert not plan.bolus.flags.writeable and DosingPlan.build(("drug",), sched, 0.0, 4.0) is plan
    m = one_compartment_pk(half_life=1.0, volume=10.0)
    for method in ENGINES:
        traj = td.simulate(m, sched, t_end=4.0, method=method)
        assert traj.stats.n_doses_applied == 2, method


@pytest.mark.parametrize("method", ENGINES)
def test_every_engine_one_layout_and_closed_form(method: str) -> None:
    m = one_compartment_pk(half_life=2.0, volume=4.0)
    c = compile_model(m)
    sched = td.Schedule.at("drug", 40.0, [0.0, 3.0])
    plan = DosingPlan.build(c.drug_names, sched, 0.0, 6.0)
    P = np.tile(c.param_vector(), (3, 1))
    P[:, c.param_names.index("V")] = [2.0, 4.0, 8.0]
    te = np.array([0.0, 1.0, 3.0, 6.0])
    sol = engine_for(method).solve(Problem(c, plan, P, np.zeros((3, 1)), te),
                                   td.Solver(method=method, rtol=1e-10, atol=1e-12).options(c))
    assert sol.y.shape == (3, 4, 1) and sol.u.shape == (4, 1)
    assert np.all(sol.status == SolverStatus.OK) and sol.ok.all()
    k = np.log(2) / 2.0
    for j, V in enumerate([2.0, 4.0, 8.0]):
        exact = 40 / V * np.exp(-k * te) + np.where(te >= 3.0, 40 / V * np.exp(-k * (te - 3.0)), 0.0)
        np.testing.assert_allclose(sol.y[j, :, 0], exact, rtol=1e-7)


def _blowup_model() -> td.Model:
    return td.Model("blowup", states=[td.State("x", 1.0)], processes=[td.Process("g", "x**2", produces="x")])


@pytest.mark.parametrize("method", ENGINES)
def test_failures_are_statuses_with_the_time_reached(method: str) -> None:
    # x' = x^2 from 1 blows up at t = 1: every engine reports it as a status, never raises, fills NaN
    c = compile_model(_blowup_model())
    plan = DosingPlan.build(c.drug_names, td.Schedule(), 0.0, 2.0)
    sol = engine_for(method).solve(Problem(c, plan, np.zeros((1, 0)), np.ones((1, 1)), np.array([0.0, 2.0])),
                                   td.Solver(method=method).options(c))
    assert sol.status[0] != SolverStatus.OK
    assert abs(sol.t_reached[0] - 1.0) < 0.1  # near the singularity (where exactly is the method's business)
    assert np.all(np.isnan(sol.y[0]))
    err = sol.error(0, c)
    assert isinstance(err, SolverError) and err.status == SolverStatus(int(sol.status[0]))
    assert err.t == sol.t_reached[0]


@pytest.mark.skipif(not HAVE_NUMBA, reason="the auto fallback starts on the compiled engine")
def test_auto_hands_only_stiff_patients_to_lsoda() -> None:
    # a drug with a 1e-3-day half-life under an infusion is stiff for the explicit engine; a slow one is not
    m = one_compartment_pk(half_life=1.0, volume=1.0)
    c = compile_model(m)
    plan = DosingPlan.build(c.drug_names, td.Schedule.infusion("drug", 1.0, 0.0, 50.0), 0.0, 50.0)
    P = np.tile(c.param_vector(), (2, 1))
    ih = c.param_names.index("t_half")
    P[:, ih] = [1.0, 1e-3]
    sol = solve(Problem(c, plan, P, np.zeros((2, 1)), np.array([10.0, 50.0])), td.Solver().options(c))
    assert sol.methods == ("dopri5", "LSODA")
    assert sol.ok.all()
    k = np.log(2) / P[:, ih]
    np.testing.assert_allclose(sol.y[:, 0, 0], (1.0 - np.exp(-k * 10.0)) / k, rtol=1e-4)  # rate 1 mg/day, V 1 L
    assert SolverStatus.STIFF in FALLBACK_STATUSES


@pytest.mark.parametrize("method", ["batch", "LSODA", "auto"])
def test_simulate_batch_on_any_engine_matches_single_solves(method: str) -> None:
    m = td.models.tumor_immune_tme()
    c = compile_model(m)
    rng = np.random.default_rng(3)
    P = np.tile(c.param_vector(), (3, 1))
    P[:, c.param_names.index("r_S")] *= rng.uniform(0.8, 1.2, 3)
    sched = td.Schedule.every("targeted", 100.0, 7.0, until=60.0)
    te = np.linspace(0.0, 60.0, 13)
    ys = td.simulate_batch(m, P, sched, t_end=60.0, t_eval=te, method=method, rtol=1e-8)
    ref = td.simulate_batch(m, P, sched, t_end=60.0, t_eval=te, method="DOP853", rtol=1e-11)
    scale = np.maximum(np.abs(ref), c.atol[None, None, :])
    assert np.max(np.abs(ys - ref) / scale) < 1e-4


@pytest.mark.parametrize("method", ["LSODA", "BDF", "RK45"])
def test_scipy_engine_joint_matches_one_at_a_time_and_fails_as_one(method: str) -> None:
    from tumordyn.solve._scipy import ScipyEngine

    m = one_compartment_pk(half_life=2.0, volume=4.0)
    c = compile_model(m)
    plan = DosingPlan.build(c.drug_names, td.Schedule.at("drug", 40.0, [0.0, 3.0]) +
                            td.Schedule.infusion("drug", 5.0, 1.0, 2.5), 0.0, 6.0)
    P = np.tile(c.param_vector(), (3, 1))
    P[:, c.param_names.index("V")] = [2.0, 4.0, 8.0]
    te = np.array([0.0, 1.0, 2.0, 3.0, 6.0])
    opts = td.Solver(method=method, rtol=1e-10, atol=1e-12).options(c)
    prob = Problem(c, plan, P, np.zeros((3, 1)), te)
    joint = ScipyEngine(method, joint=True).solve(prob, opts)
    single = ScipyEngine(method).solve(prob, opts)
    assert joint.y.shape == single.y.shape == (3, 5, 1) and joint.ok.all()
    np.testing.assert_allclose(joint.y, single.y, rtol=1e-8)
    np.testing.assert_array_equal(joint.u, single.u)
    # a failure of the joint system is every patient's, with the library's status and the state named
    cb = compile_model(_blowup_model())
    bplan = DosingPlan.build(cb.drug_names, td.Schedule(), 0.0, 2.0)
    sol = ScipyEngine(method, joint=True).solve(
        Problem(cb, bplan, np.zeros((2, 0)), np.ones((2, 1)), np.array([0.0, 2.0])), td.Solver(method=method).options(cb))
    assert np.all(sol.status == sol.status[0]) and sol.status[0] != SolverStatus.OK
    assert np.all(np.isnan(sol.y)) and np.all(sol.t_reached < 1.5)
    assert isinstance(sol.error(1, cb), SolverError)


def test_scipy_engine_solve_many_stacks_different_plans() -> None:
    from tumordyn.solve._scipy import ScipyEngine
    from tumordyn.solve._scipy_engine import stack_plans

    m = one_compartment_pk(half_life=2.0, volume=4.0)
    c = compile_model(m)
    plans = [DosingPlan.build(c.drug_names, td.Schedule.at("drug", 40.0, [0.0, 3.0]), 0.0, 6.0),
             DosingPlan.build(c.drug_names, td.Schedule.infusion("drug", 5.0, 1.0, 2.5), 0.0, 4.0),
             DosingPlan.build(c.drug_names, td.Schedule.at("drug", 10.0, [2.0]), 0.0, 5.0)]
    stacked = stack_plans(plans)
    assert stacked.t_end == 6.0 and stacked.n_doses == 3 and stacked.bolus.shape == (stacked.breaks.size, 3)
    P = np.tile(c.param_vector(), (2, 1))
    P[1, c.param_names.index("V")] = 8.0
    tes = [np.array([0.0, 1.0, 3.0, 6.0]), np.array([0.5, 2.0, 4.0]), np.array([0.0, 2.0, 2.5, 5.0])]
    probs = [Problem(c, pl, P, np.zeros((2, 1)), te) for pl, te in zip(plans, tes)]
    opts = td.Solver(method="LSODA", rtol=1e-10, atol=1e-12).options(c)
    joint = ScipyEngine("LSODA", joint=True).solve_many(probs, opts)
    for prob, sol in zip(probs, joint):
        alone = ScipyEngine("LSODA").solve(prob, opts)
        assert sol.ok.all() and sol.y.shape == alone.y.shape
        np.testing.assert_allclose(sol.y, alone.y, rtol=1e-7, atol=1e-10)
        np.testing.assert_array_equal(sol.u, alone.u)
    with pytest.raises(SpecificationError, match="share t0"):
        stack_plans([plans[0], DosingPlan.build(c.drug_names, td.Schedule(), 1.0, 6.0)])


def test_a_rate_undefined_at_finite_states_is_not_called_a_blow_up() -> None:
    # issue 16 (de Pillis 2008 stopped with "the solution blows up?" where (L/T)^l failed near T = 0): x falls
    # through 0 (x' = -1, not non-negative) and y' = sqrt(x) has no real value once x < 0; every state is finite
    m = td.Model("undefined", states=[td.State("x", 1.0, nonnegative=False), td.State("y", 0.0)],
                 processes=[td.Process("fall", "1", consumes="x"), td.Process("root", "x**0.5", produces="y")])
    with pytest.raises(SolverError) as info:
        td.simulate(m, td.Schedule(), t_end=2.0, method="LSODA")
    err = info.value
    assert err.status == SolverStatus.NON_FINITE and 0.9 < err.t <= 1.1
    assert "blows up?" not in str(err)
    assert "every state is finite" in str(err) and "'x' = -" in str(err)  # the state below 0 is named with its value


def test_a_blow_up_is_still_called_one() -> None:
    with pytest.raises(SolverError, match="blows up") as info:
        td.simulate(_blowup_model(), td.Schedule(), t_end=2.0, method="LSODA")
    assert info.value.status == SolverStatus.NON_FINITE or info.value.t < 1.1
