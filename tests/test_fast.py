"""The compiled integrator (method="dopri5", tumordyn.solve._compiled): accuracy, dose exactness, errors, batches."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

pytest.importorskip("numba")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import tumordyn as td  # noqa: E402
from tumordyn.solve import _compiled as _fast  # noqa: E402
from tumordyn.errors import NegativeStateError, SolverError, SpecificationError  # noqa: E402
from tumordyn.numerics import compile_model  # noqa: E402
from tumordyn.models import (  # noqa: E402
    bolus_pk_solution,
    infusion_pk_solution,
    logistic_solution,
    one_compartment_pk,
)

S = td.Schedule
CELLS = ["S", "R", "E", "X", "P"]


def combination(t_end: float = 365.0) -> td.Schedule:
    """Targeted weekly, anti-PD-1 every 21 days from day 14, priming daily on days 0-4."""
    return (
        S.every("targeted", 100.0, 7.0, until=t_end - 1)
        + S.every("anti_pd1", 200.0, 21.0, start=14.0, until=t_end - 1)
        + S.every("priming", 20.0, 1.0, count=5)
    )


def tight_atol(model: td.Model, factor: float = 1e-4) -> dict[str, float]:
    return {s.name: s.atol * factor for s in model.states}


def rel_err(a: np.ndarray, ref: np.ndarray, floor: np.ndarray | float) -> np.ndarray:
    return np.abs(a - ref) / np.maximum(np.abs(ref), floor)


# ----------------------------------------------------------------------------- accuracy


def test_default_model_matches_dop853_reference() -> None:
    m = td.models.tumor_immune_tme()
    sched = combination(150.0)
    te = np.linspace(0.0, 150.0, 301)
    ref = td.simulate(m, sched, t_end=150.0, t_eval=te, method="DOP853", rtol=1e-10, atol=tight_atol(m))
    fast = td.simulate(m, sched, t_end=150.0, t_eval=te, method="dopri5", rtol=1e-8)
    assert fast.stats.method == "dopri5"
    assert fast.stats.n_doses_applied == ref.stats.n_doses_applied == sched.n_doses()
    assert fast.stats.n_segments == ref.stats.n_segments
    floor = compile_model(m).atol
    final = rel_err(fast.y[-1], ref.y[-1], floor)
    assert final.max() < 1e-5, dict(zip(m.states.names, final))
    # the whole trajectory of the cell states, not only the end
    cells = [m.states.names.index(c) for c in CELLS]
    assert rel_err(fast.y[:, cells], ref.y[:, cells], 1.0).max() < 1e-5
    np.testing.assert_array_equal(fast.u, ref.u)


def test_default_model_rtol_1e6_close_to_reference() -> None:
    m = td.models.tumor_immune_tme()
    sched = combination(365.0)
    ref = td.simulate(m, sched, t_end=365.0, t_eval=[0.0, 365.0], method="DOP853", rtol=1e-10, atol=tight_atol(m))
    fast = td.simulate(m, sched, t_end=365.0, t_eval=[0.0, 365.0], method="dopri5", rtol=1e-6)
    cells = [m.states.names.index(c) for c in CELLS]
    assert rel_err(fast.y[-1, cells], ref.y[-1, cells], 1.0).max() < 1e-3


def test_auto_uses_compiled_path_and_same_numbers_as_scipy() -> None:
    m = td.models.logistic_growth()
    auto = td.simulate(m, t_end=20.0, t_eval=[0.0, 5.0, 20.0])
    assert auto.stats.method == "dopri5"
    lsoda = td.simulate(m, t_end=20.0, t_eval=[0.0, 5.0, 20.0], method="LSODA", rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(auto["N"], lsoda["N"], rtol=1e-5)


def test_logistic_closed_form() -> None:
    m = td.models.logistic_growth(N0=10.0, r=0.5, K=1000.0)
    te = np.linspace(0.0, 40.0, 161)
    traj = td.simulate(m, t_end=40.0, t_eval=te, method="dopri5", rtol=1e-9, atol=1e-9)
    exact = logistic_solution(te, 10.0, 0.5, 1000.0)
    np.testing.assert_allclose(traj["N"], exact, rtol=1e-7)


def test_zero_error_estimate_grows_the_step_and_keeps_the_equilibrium() -> None:
    """At an exact equilibrium every step's error estimate is 0 (the controller takes log(0) = -inf): the step
    grows by the controller's largest factor, 10 per step, so the solve takes a handful of steps, and the
    state stays exactly where it is."""
    m = td.models.logistic_growth(N0=1000.0, r=0.5, K=1000.0)
    te = np.linspace(0.0, 1000.0, 11)
    traj = td.simulate(m, t_end=1000.0, t_eval=te, method="dopri5")
    np.testing.assert_array_equal(traj["N"], np.full(te.size, 1000.0))
    assert traj.stats.nfev < 150  # 1e-6 days (the initial step with a zero derivative) to 1000 days: ~10 steps


def test_bolus_pk_many_doses_closed_form() -> None:
    m = one_compartment_pk(half_life=1.5, volume=10.0)
    times = np.arange(0.0, 60.0, 2.5)
    amounts = 50.0 + 10.0 * np.sin(times)
    sched = S([td.Dose(float(t), "drug", float(a)) for t, a in zip(times, amounts)])
    te = np.union1d(np.linspace(0.0, 60.0, 241), times)
    traj = td.simulate(m, sched, t_end=60.0, t_eval=te, method="dopri5", rtol=1e-9)
    exact = bolus_pk_solution(te, list(zip(times, amounts)), 1.5, 10.0)
    np.testing.assert_allclose(traj["C"], exact, rtol=1e-7, atol=1e-9)
    assert traj.stats.n_doses_applied == times.size


def test_infusion_plateau_closed_form() -> None:
    m = one_compartment_pk(half_life=2.0, volume=5.0)
    sched = S.infusion("drug", 30.0, 1.0, 25.0)
    te = np.linspace(0.0, 40.0, 401)
    traj = td.simulate(m, sched, t_end=40.0, t_eval=te, method="dopri5", rtol=1e-9)
    exact = infusion_pk_solution(te, 30.0, 1.0, 25.0, 2.0, 5.0)
    np.testing.assert_allclose(traj["C"], exact, rtol=1e-7, atol=1e-9)
    # plateau R / (k V)
    plateau = 30.0 / (np.log(2) / 2.0 * 5.0)
    assert traj.value_at("C", 25.0) == pytest.approx(plateau * (1 - 2.0**-12), rel=1e-7)
    # the infusion rate in force is reported, right-continuous
    assert traj.u[te.searchsorted(1.0), 0] == 30.0
    assert traj.u[te.searchsorted(25.0), 0] == 0.0


@settings(deadline=None, max_examples=15)
@given(
    st.lists(
        st.tuples(st.floats(0.0, 20.0).map(lambda x: round(x, 2)), st.floats(0.1, 500.0)),
        min_size=1,
        max_size=12,
    ),
    st.floats(0.05, 50.0),
)
def test_random_bolus_schedules_match_closed_form(doses: list[tuple[float, float]], half_life: float) -> None:
    m = one_compartment_pk(half_life=half_life, volume=7.0)
    sched = S([td.Dose(t, "drug", a) for t, a in doses])
    te = np.linspace(0.0, 20.0, 81)
    traj = td.simulate(m, sched, t_end=20.0, t_eval=te, method="dopri5", rtol=1e-9)
    exact = bolus_pk_solution(te, doses, half_life, 7.0)
    np.testing.assert_allclose(traj["C"], exact, rtol=1e-6, atol=1e-8)
    assert np.all(traj["C"] >= 0.0)


# ----------------------------------------------------------------------------- dose exactness


def test_dose_at_start_and_at_horizon_applied_once() -> None:
    m = one_compartment_pk(half_life=1.0, volume=10.0)
    sched = S.at("drug", 100.0, [0.0, 10.0])
    traj = td.simulate(m, sched, t_end=10.0, t_eval=[0.0, 5.0, 10.0], method="dopri5", rtol=1e-10)
    assert traj["C"][0] == pytest.approx(10.0, rel=1e-12)  # after the dose at t = 0, once
    expected_end = 10.0 * 2.0**-10 + 10.0  # decayed first dose + the dose at the horizon, once
    assert traj["C"][-1] == pytest.approx(expected_end, rel=1e-8)
    assert traj.stats.n_doses_applied == 2
    # same numbers from the scipy path
    ref = td.simulate(m, sched, t_end=10.0, t_eval=[0.0, 5.0, 10.0], method="DOP853", rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(traj["C"], ref["C"], rtol=1e-8)


def test_outputs_at_dose_times_are_after_the_dose() -> None:
    m = one_compartment_pk(half_life=1.0, volume=10.0)
    sched = S.at("drug", 100.0, [0.0, 3.0])
    traj = td.simulate(m, sched, t_end=6.0, t_eval=[2.999999, 3.0, 3.000001], method="dopri5", rtol=1e-10)
    before, at, after = traj["C"]
    assert at - before == pytest.approx(10.0, rel=1e-4)
    assert at == pytest.approx(after, rel=1e-5)


def test_no_negative_states_under_hard_kill() -> None:
    m = td.models.tumor_immune_tme()
    sched = S.every("targeted", 5000.0, 1.0, until=60.0) + S.every("priming", 500.0, 1.0, until=60.0)
    traj = td.simulate(m, sched, t_end=60.0, method="dopri5", params={"k_T": 5.0})
    nonneg = compile_model(m).nonnegative
    assert np.all(traj.y[:, nonneg] >= 0.0)
    assert np.all(np.isfinite(traj.y))


# ----------------------------------------------------------------------------- failures


def _blowup_model() -> td.Model:
    N = sp.Symbol("N")
    return td.Model(
        "blowup",
        states=[td.State("N", 1.0, "cells", "explodes at t = 1 day")],
        parameters=[],
        processes=[td.Process("explosion", N**2, produces="N")],
    )


def _nan_model() -> td.Model:
    N, c = sp.symbols("N c")
    return td.Model(
        "nan_rate",
        states=[td.State("N", 1.0, "cells", "tumor cells")],
        parameters=[td.Parameter("c", 1.0, (0.0, 2.0), "1", "a pole at c = 1")],
        processes=[td.Process("pole", N / (c - 1), produces="N")],
        check_units=False,  # the pole, not the units, is under test (N / (c - 1) lacks a 1/day)
    )


def test_step_size_underflow_raises_with_time_reached() -> None:
    with pytest.raises(SolverError) as info:
        td.simulate(_blowup_model(), t_end=2.0, method="dopri5")
    assert 0.9 < info.value.t < 1.001
    assert "blowup" in str(info.value)


def test_non_finite_values_raise() -> None:
    with pytest.raises(SolverError, match="non-finite") as info:
        td.simulate(_nan_model(), t_end=2.0, method="dopri5")
    assert info.value.t == 0.0


def test_a_non_finite_derivative_names_its_state() -> None:
    # contract: the compiled engine names the state whose derivative is not finite (as the scipy engines do),
    # in the error's state_index and its message; here the second state, whose rate 1/x is infinite at x = 0
    from tumordyn.errors import SolverStatus

    m = td.Model(
        "pole_at_zero",
        states=[td.State("x", 0.0), td.State("y", 1.0)],
        parameters=[td.Parameter("k", 1.0)],
        processes=[td.Process("feed", "k/x", produces="y")],
        check_units=False, check_positivity=False,
    )
    with pytest.raises(SolverError) as info:
        td.simulate(m, t_end=1.0, method="dopri5")
    assert info.value.status == SolverStatus.NON_FINITE and info.value.t == 0.0
    assert info.value.state_index == 1 and "'y'" in str(info.value)


def test_max_steps_exceeded_raises() -> None:
    m = td.models.logistic_growth()
    P = compile_model(m).param_vector()[None, :]
    with pytest.raises(SolverError, match="maximum number of steps") as info:
        td.simulate_batch(m, P, t_end=100.0, max_steps=5)
    assert 0.0 < info.value.t < 100.0


def test_auto_falls_back_to_lsoda_when_stiff() -> None:
    m = one_compartment_pk(half_life=1e-3, volume=1.0)
    sched = S.infusion("drug", 1.0, 0.0, 50.0)
    auto = td.simulate(m, sched, t_end=50.0, t_eval=[10.0, 50.0])
    assert auto.stats.method == "LSODA"
    plateau = 1.0 / (np.log(2) / 1e-3)
    assert auto["C"][0] == pytest.approx(plateau, rel=1e-4)
    # explicitly asked for, the compiled path still solves it (many small steps)
    fast = td.simulate(m, sched, t_end=50.0, t_eval=[10.0, 50.0], method="dopri5")
    assert fast["C"][0] == pytest.approx(plateau, rel=1e-4)


def test_negative_state_error_type_is_solver_error() -> None:
    assert issubclass(NegativeStateError, SolverError)


# ----------------------------------------------------------------------------- batches


def test_batch_matches_single_solves_and_parallel() -> None:
    m = td.models.tumor_immune_tme()
    c = compile_model(m)
    rng = np.random.default_rng(1)
    P = np.tile(c.param_vector(), (6, 1))
    i_rs, i_kt = c.param_names.index("r_S"), c.param_names.index("k_T")
    P[:, i_rs] *= rng.uniform(0.7, 1.3, 6)
    P[:, i_kt] *= rng.uniform(0.5, 1.5, 6)
    sched = combination(120.0)
    te = np.linspace(0.0, 120.0, 61)
    ys = td.simulate_batch(m, P, sched, t_end=120.0, t_eval=te)
    assert ys.shape == (6, te.size, c.n_states)
    assert not ys.flags.writeable
    for j in (0, 3, 5):
        params = dict(zip(c.param_names, P[j]))
        single = td.simulate(m, sched, t_end=120.0, t_eval=te, params=params, method="dopri5")
        np.testing.assert_array_equal(ys[j], single.y)
    par = td.simulate_batch(m, P, sched, t_end=120.0, t_eval=te, parallel=True)
    np.testing.assert_array_equal(par, ys)


def test_batch_initial_states_and_nan_on_error() -> None:
    m = _nan_model()
    P = np.array([[0.5], [1.0], [1.5]])
    with pytest.raises(SolverError, match="row 1"):
        td.simulate_batch(m, P, t_end=1.0, t_eval=[0.0, 1.0])
    ys = td.simulate_batch(m, P, t_end=1.0, t_eval=[0.0, 1.0], on_error="nan", initial=[[1.0], [1.0], [2.0]])
    assert np.all(np.isnan(ys[1]))
    # dN/dt = N / (c - 1): N(1) = N0 exp(1 / (c - 1))
    assert ys[0, -1, 0] == pytest.approx(np.exp(1.0 / -0.5), rel=1e-6)
    assert ys[2, -1, 0] == pytest.approx(2.0 * np.exp(1.0 / 0.5), rel=1e-6)


def test_batch_rejects_bad_input() -> None:
    m = td.models.logistic_growth()
    with pytest.raises(SpecificationError, match=r"\(B, 2\)"):
        td.simulate_batch(m, np.ones((3, 5)), t_end=1.0)
    P = np.tile(compile_model(m).param_vector(), (3, 1))
    P[2, 0] = 50.0  # r above its bound 10
    with pytest.raises(SpecificationError, match="row 2: parameter 'r'"):
        td.simulate_batch(m, P, t_end=1.0)
    with pytest.raises(SpecificationError, match="on_error"):
        td.simulate_batch(m, P[:2], t_end=1.0, on_error="ignore")


def test_rhs_matches_numpy_rhs() -> None:
    m = td.models.tumor_immune_tme()
    c = compile_model(m)
    ff = _fast.fast_functions(c)
    rng = np.random.default_rng(0)
    p = c.param_vector()
    for _ in range(5):
        y = c.initial * rng.uniform(0.1, 3.0, c.n_states) + rng.uniform(0, 2, c.n_states)
        y[1] = -1e-3  # a clipped undershoot is read as zero by both
        u = rng.uniform(0, 5, c.n_drugs)
        np.testing.assert_allclose(ff.evaluate(0.0, y, p, u), c.rhs(0.0, y, p, u), rtol=1e-12, atol=1e-12)
    assert _fast.fast_functions(c) is ff
    # a model differing only in defaults shares the compiled function
    assert _fast.fast_functions(compile_model(m.with_defaults(r_S=0.04))).rhs is ff.rhs


def test_auto_without_numba_is_lsoda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_fast, "numba_available", lambda: False)
    m = td.models.logistic_growth()
    traj = td.simulate(m, t_end=5.0, t_eval=[0.0, 5.0])
    assert traj.stats.method == "LSODA"


def test_blowup_under_auto_raises_without_fallback() -> None:
    # a solution that blows up is not cured by an implicit method: auto raises the compiled path's error
    with pytest.raises(SolverError) as info:
        td.simulate(_blowup_model(), t_end=2.0)
    assert 0.9 < info.value.t < 1.001


def test_unknown_method_lists_dopri5() -> None:
    with pytest.raises(SpecificationError, match="dopri5"):
        td.simulate(td.models.logistic_growth(), t_end=1.0, method="dopri8")


def test_direct_input_drug_infusions_match_scipy() -> None:
    m = td.models.zhang2017()
    drug = m.drugs.names[0]
    sched = S.infusion(drug, 1.0, 10.0, 60.0) + S.infusion(drug, 1.0, 120.0, 200.0)
    te = np.linspace(0.0, 300.0, 151)
    ref = td.simulate(m, sched, t_end=300.0, t_eval=te, method="DOP853", rtol=1e-11, atol=1e-9)
    fast = td.simulate(m, sched, t_end=300.0, t_eval=te, method="dopri5", rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(fast.y, ref.y, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(fast.u, ref.u)


def test_nonzero_t0_and_repeated_output_times() -> None:
    m = one_compartment_pk(half_life=2.0, volume=4.0)
    sched = S.at("drug", 40.0, [5.0, 9.0])
    te = [5.0, 5.0, 7.0, 7.0, 9.0, 12.0]
    traj = td.simulate(m, sched, t0=5.0, t_end=12.0, t_eval=te, method="dopri5", rtol=1e-10)
    exact = bolus_pk_solution(np.array(te), [(5.0, 40.0), (9.0, 40.0)], 2.0, 4.0)
    np.testing.assert_allclose(traj["C"], exact, rtol=1e-8)


def test_projection_keeps_states_non_negative_through_a_sharp_corner() -> None:
    # near-zero-order kill dN/dt = -V N / (Km + N), V = 1e9 cells/day, Km = 1 cell, from 1e9 cells:
    # N falls linearly and turns a sharp corner at ~1 day. The compiled path rejects steps that undershoot
    # beyond the tolerance and projects accepted steps onto N >= 0; the rate at N = 0 is 0, so the
    # projection removes only solver noise and the solve goes on. (Whether a scipy method's undershoot
    # there lands inside or outside the error band is that release's business, not a contract: the band
    # itself is tested with a constructed undershoot in test_simulate.py.)
    N, V, Km = sp.symbols("N V Km")
    m = td.Model(
        "zero_order_kill",
        states=[td.State("N", 1e9, "cells", "tumor cells", atol=1.0)],
        parameters=[
            td.Parameter("V", 1e9, (0.0, 1e12), "cells/day", "maximal kill"),
            td.Parameter("Km", 1.0, (1e-3, 1e12), "cells", "half-saturation"),
        ],
        processes=[td.Process("kill", V * N / (Km + N), consumes="N")],
    )
    te = np.linspace(0.0, 3.0, 301)
    for rtol in (1e-6, 1e-10, 1e-12):
        traj = td.simulate(m, t_end=3.0, t_eval=te, method="dopri5", rtol=rtol)
        assert traj.stats.method == "dopri5"
        assert np.all(traj["N"] >= 0.0)
        # closed form before the corner: N + Km ln N = N0 + Km ln N0 - V t  =>  N(0.5) = 5e8 + ln 2
        assert traj.value_at("N", 0.5) == pytest.approx(5e8 + np.log(2.0), rel=max(1e-9, 100 * rtol))
        assert np.all(traj["N"][te >= 1.1] < 1.0)  # gone after the corner (below one cell)


def test_segments_shorter_than_the_smallest_step() -> None:
    # breakpoints closer than any resolvable step (a dose at 5e-324 days, another just before t_end)
    m = one_compartment_pk(half_life=1.0, volume=10.0)
    t_end = 4.0
    late = float(np.nextafter(t_end, 0.0))
    sched = S([td.Dose(5e-324, "drug", 10.0), td.Dose(late, "drug", 20.0)])
    traj = td.simulate(m, sched, t_end=t_end, t_eval=[0.0, 2.0, t_end], method="dopri5", rtol=1e-10)
    np.testing.assert_allclose(traj["C"], [0.0, 0.25, 1.0 * 2.0**-4 + 2.0], rtol=1e-8)



def test_arrays_shared_between_solves_are_never_written() -> None:
    # the engine hands the kernel cached constant arrays (unit dose scale, one-plan layout, zero-size outputs,
    # atol): a solve must leave them as they were, and a repeated solve must give the same numbers bit for bit
    from tumordyn.dosing import DosingPlan

    m = td.models.tumor_immune_tme()
    sched = td.Schedule.every("targeted", 100.0, 7.0, until=60.0) + td.Schedule.every("anti_pd1", 200.0, 21.0,
                                                                                      until=60.0)
    te = np.linspace(0.0, 60.0, 61)
    first = td.simulate(m, sched, t_end=60.0, t_eval=te, method="dopri5")
    c = compile_model(m)
    n_b = DosingPlan.build(c.drug_names, sched, 0.0, 60.0).breaks.size
    np.testing.assert_array_equal(_fast._unit_dose_scale(1, c.n_drugs), np.ones((1, c.n_drugs)))
    plan_of, b_off, t_off = _fast._one_plan(1, n_b, te.size)
    assert plan_of.tolist() == [0] and b_off.tolist() == [0, n_b] and t_off.tolist() == [0, te.size]
    second = td.simulate(m, sched, t_end=60.0, t_eval=te, method="dopri5")
    np.testing.assert_array_equal(first.y, second.y)
    ys = td.simulate_batch(m, np.tile(c.param_vector(), (3, 1)), sched, t_end=60.0, t_eval=te, method="dopri5")
    for j in range(3):
        np.testing.assert_array_equal(ys[j], first.y)
    np.testing.assert_array_equal(_fast._unit_dose_scale(3, c.n_drugs), np.ones((3, c.n_drugs)))
