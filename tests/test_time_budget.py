"""``Solver.max_seconds`` on every engine: a solve that cannot finish within its wall-time budget ends with
``SolverStatus.TIME_BUDGET`` and the time it reached, and ``"auto"`` never spends more than the budget (no
LSODA fallback after it ran out).

The solves below cannot finish: a largest step of 1e-7 day over 60 days is 6e8 steps, and the step
budget is lifted, so only the wall clock can end them. Bounds on elapsed time are generous (a shared CI
machine): they only tell a budget that ends the solve from one that does not.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import tumordyn as td
from tumordyn.errors import SolverError, SolverStatus
from tumordyn.numerics import compile_model
from tumordyn.solve._compiled import numba_available

MODEL = td.models.tumor_immune_tme()
BUDGET = 0.3
#: far below what the solves need without the budget (hours), far above the budget plus overheads
GENEROUS = 30.0

needs_numba = pytest.mark.skipif(not numba_available(), reason="the compiled engine needs numba")
ENGINES = [pytest.param("dopri5", marks=needs_numba), "batch", "LSODA", "RK45",
           pytest.param("auto", marks=needs_numba)]


def endless(method: str, **kw) -> td.Solver:
    return td.Solver(method=method, max_step=1e-7, max_steps=10**15, max_seconds=BUDGET, **kw)


@pytest.fixture(scope="module", autouse=True)
def _warm():
    # compile once outside the timed solves
    for m in ("dopri5", "batch") if numba_available() else ("batch",):
        td.simulate(MODEL, None, t_end=1.0, method=m)
    if numba_available():  # and the parallel kernel (its first compilation can take tens of seconds)
        cm = compile_model(MODEL)
        td.simulate_batch(MODEL, np.stack([cm.param_vector()] * 2), None, t_end=1.0, method="dopri5", parallel=True)


@pytest.mark.parametrize("method", ENGINES)
def test_a_solve_that_cannot_finish_ends_with_time_budget_and_the_time_reached(method):
    started = time.perf_counter()
    with pytest.raises(SolverError) as info:
        td.simulate(MODEL, None, t_end=60.0, solver=endless(method))
    elapsed = time.perf_counter() - started
    assert info.value.status == SolverStatus.TIME_BUDGET
    assert 0.0 <= info.value.t < 60.0
    assert "max_seconds" in str(info.value)
    assert elapsed < GENEROUS


@needs_numba
@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("method", ["dopri5", "batch", "auto"])
def test_every_patient_of_a_batch_gets_the_budget(method, parallel):
    cm = compile_model(MODEL)
    P = np.stack([cm.param_vector()] * 3)
    started = time.perf_counter()
    ys = td.simulate_batch(MODEL, P, None, t_end=60.0, solver=endless(method), parallel=parallel, on_error="nan")
    assert np.isnan(ys).all()
    assert time.perf_counter() - started < GENEROUS
    with pytest.raises(SolverError) as info:
        td.simulate_batch(MODEL, P, None, t_end=60.0, solver=endless(method), parallel=parallel)
    assert info.value.status == SolverStatus.TIME_BUDGET


@needs_numba
@pytest.mark.parametrize("method", ["dopri5", "batch", "auto"])
def test_a_budget_that_is_not_reached_changes_nothing(method):
    sched = td.Schedule([td.Dose(float(t), "targeted", 100.0) for t in range(0, 60, 7)])
    plain = td.simulate(MODEL, sched, t_end=60.0, method=method)
    timed = td.simulate(MODEL, sched, t_end=60.0, solver=td.Solver(method=method, max_seconds=60.0))
    np.testing.assert_array_equal(plain.y, timed.y)


@needs_numba
def test_auto_does_not_hand_a_patient_that_ran_out_of_time_to_lsoda():
    from tumordyn.solve import _dispatch
    from tumordyn.solve._problem import Problem
    from tumordyn.dosing import DosingPlan

    cm = compile_model(MODEL)
    plan = DosingPlan.build(tuple(cm.drug_names), td.Schedule(), 0.0, 60.0)
    prob = Problem(cm, plan, np.atleast_2d(cm.param_vector()), np.atleast_2d(np.array(cm.initial, dtype=float)),
                   np.linspace(0.0, 60.0, 5))
    sol = _dispatch.solve(prob, endless("auto").options(cm))
    assert int(sol.status[0]) == SolverStatus.TIME_BUDGET
    assert sol.methods[0] == "dopri5"  # the compiled engine's answer, not a fallback's


@needs_numba
def test_auto_gives_the_lsoda_fallback_only_what_is_left_of_the_budget():
    # a small step budget that the compiled engine exhausts at once hands the patient to LSODA, which cannot
    # finish either: it runs into what is left of the wall-time budget
    from tumordyn.solve import _dispatch
    from tumordyn.solve._problem import Problem
    from tumordyn.dosing import DosingPlan

    cm = compile_model(MODEL)
    plan = DosingPlan.build(tuple(cm.drug_names), td.Schedule(), 0.0, 60.0)
    prob = Problem(cm, plan, np.atleast_2d(cm.param_vector()), np.atleast_2d(np.array(cm.initial, dtype=float)),
                   np.linspace(0.0, 60.0, 5))
    solver = td.Solver(method="auto", max_step=1e-7, max_steps=1000, max_seconds=BUDGET)
    started = time.perf_counter()
    sol = _dispatch.solve(prob, solver.options(cm))
    assert time.perf_counter() - started < GENEROUS
    assert sol.methods[0] == "LSODA"
    assert int(sol.status[0]) == SolverStatus.TIME_BUDGET
