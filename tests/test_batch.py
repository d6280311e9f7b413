"""The batched Dormand–Prince solver: accuracy against tight references, per-patient step control, failures."""

import numpy as np
import pytest

import tumordyn as td
from tumordyn.solve._batch import solve_batch
from tumordyn.dosing._plan import DosingPlan
from tumordyn.numerics import compile_model


def _combo(t_end=364.0):
    return td.Schedule.every("targeted", 100.0, 7.0, until=t_end) + td.Schedule.every("anti_pd1", 200.0, 21.0, until=t_end)


def test_logistic_closed_form_per_patient():
    m = td.models.logistic_growth()
    c = compile_model(m)
    B = 50
    rng = np.random.default_rng(1)
    P = np.repeat(c.defaults[:, None], B, axis=1)
    ir = c.param_names.index("r")
    P[ir] = rng.uniform(0.05, 0.8, B)  # growth rates over a 16-fold range: very different step sizes
    Y0 = np.repeat(c.initial[:, None], B, axis=1)
    te = np.linspace(0, 60, 61)
    sol = solve_batch(c, DosingPlan.build(c.drug_names, td.Schedule(), 0.0, 60.0), P, Y0, te, rtol=1e-8, atol=np.array([1e-8]))
    params = dict(zip(c.param_names, c.defaults))
    for j in range(B):
        p = dict(params, r=P[ir, j])
        exact = td.models.logistic_solution(te, **{k: v for k, v in p.items()}, N0=c.initial[0])
        np.testing.assert_allclose(sol.y[0, :, j], exact, rtol=2e-6)
    assert not sol.failed.any()
    # per-patient step control: fast growers need more steps than slow ones
    assert sol.n_steps[np.argmax(P[ir])] > sol.n_steps[np.argmin(P[ir])]


def test_matches_dop853_reference_default_model():
    m = td.models.tumor_immune_tme()
    c = compile_model(m)
    B = 6
    rng = np.random.default_rng(0)
    P = np.repeat(c.defaults[:, None], B, axis=1)
    for name in ("r_S", "k_T", "d_E"):
        P[c.param_names.index(name)] *= rng.lognormal(0, 0.3, B)
    Y0 = np.repeat(c.initial[:, None], B, axis=1)
    te = np.arange(0, 366.0, 5.0)
    sched = _combo()
    sol = solve_batch(c, DosingPlan.build(c.drug_names, sched, 0.0, 365.0), P, Y0, te, rtol=1e-7)
    atol_ref = dict(zip(c.state_names, (c.atol * 1e-3).tolist()))
    for j in range(3):
        ref = td.simulate(m, sched, t_end=365.0, t_eval=te, params=dict(zip(c.param_names, P[:, j])),
                          method="DOP853", rtol=1e-10, atol=atol_ref)
        rel = np.abs(sol.y[:, :, j] - ref.y.T) / (np.abs(ref.y.T) + 10 * c.atol[:, None])
        assert rel.max() < 1e-4
        d = c.observe(te, sol.y[:, :, j], P[:, j], np.zeros(c.n_drugs))[c.observable_names.index("lesion_diameter")]
        np.testing.assert_allclose(d, ref["lesion_diameter"], rtol=1e-5)


def test_values_after_dose_and_exact_breakpoints():
    m = td.models.one_compartment_pk()
    c = compile_model(m)
    drug = c.drug_names[0]
    sched = td.Schedule.at(drug, 100.0, [0.0, 2.5, 5.0])
    B = 4
    P = np.repeat(c.defaults[:, None], B, axis=1)
    Y0 = np.repeat(c.initial[:, None], B, axis=1)
    te = np.array([0.0, 1.0, 2.5, 4.0, 5.0])
    sol = solve_batch(c, DosingPlan.build(c.drug_names, sched, 0.0, 5.0), P, Y0, te, rtol=1e-9, atol=np.full(c.n_states, 1e-12))
    ref = td.simulate(m, sched, t_end=5.0, t_eval=te, method="DOP853", rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(sol.y[:, :, 0].T, ref.y, rtol=1e-7)
    # value reported at a dose time is after the dose: it jumps up
    i = c.dose_compartment[0]
    assert sol.y[i, 2, 0] > sol.y[i, 1, 0]


def test_failed_patient_reported_others_kept():
    m = td.models.logistic_growth()
    c = compile_model(m)
    B = 5
    P = np.repeat(c.defaults[:, None], B, axis=1)
    Y0 = np.repeat(c.initial[:, None], B, axis=1)
    te = np.linspace(0, 50, 11)
    sol = solve_batch(c, DosingPlan.build(c.drug_names, td.Schedule(), 0.0, 50.0), P, Y0, te, max_steps=3)
    assert sol.failed.all()
    assert "max_steps" in sol.messages[0]
    P2 = P.copy()
    P2[c.param_names.index("r"), 2] = 50.0  # a patient far faster than the others hits the cap alone
    sol2 = solve_batch(c, DosingPlan.build(c.drug_names, td.Schedule(), 0.0, 50.0), P2, Y0, te, max_steps=400)
    assert sol2.failed.tolist() == [False, False, True, False, False]
    assert 0.0 < sol2.t_reached[2] < 50.0
    assert np.all(np.isnan(sol2.y[0, te > sol2.t_reached[2], 2]))
    assert np.all(np.isfinite(sol2.y[:, :, [0, 1, 3, 4]]))
    sol3 = solve_batch(c, DosingPlan.build(c.drug_names, td.Schedule(), 0.0, 50.0), P, Y0, te)
    np.testing.assert_array_equal(sol2.y[:, :, 0], sol3.y[:, :, 0])


def test_batch_result_independent_of_batch_composition():
    """A patient's numbers do not depend on which other patients share its batch."""
    m = td.models.tumor_immune_tme()
    c = compile_model(m)
    rng = np.random.default_rng(5)
    B = 12
    P = np.repeat(c.defaults[:, None], B, axis=1)
    P[c.param_names.index("r_S")] *= rng.lognormal(0, 0.5, B)
    Y0 = np.repeat(c.initial[:, None], B, axis=1)
    te = np.arange(0, 101.0, 10.0)
    sched = _combo(100.0)
    full = solve_batch(c, DosingPlan.build(c.drug_names, sched, 0.0, 100.0), P, Y0, te)
    part = solve_batch(c, DosingPlan.build(c.drug_names, sched, 0.0, 100.0), P[:, 3:7], Y0[:, 3:7], te)
    np.testing.assert_array_equal(full.y[:, :, 3:7], part.y)



def test_numba_batch_agrees():
    pytest.importorskip("numba")
    from tumordyn import simulate_batch

    m = td.models.tumor_immune_tme()
    c = compile_model(m)
    B = 4
    P = np.repeat(c.defaults[:, None], B, axis=1)
    P[c.param_names.index("k_T")] *= np.array([0.5, 1.0, 1.5, 2.0])
    Y0 = np.repeat(c.initial[:, None], B, axis=1)
    te = np.arange(0, 201.0, 10.0)
    sched = _combo(200.0)
    ours = solve_batch(c, DosingPlan.build(c.drug_names, sched, 0.0, 200.0), P, Y0, te, rtol=1e-8)
    theirs = simulate_batch(m, P.T, sched, t_end=200.0, t_eval=te, rtol=1e-8)
    rel = np.abs(np.transpose(theirs, (2, 1, 0)) - ours.y) / (np.abs(ours.y) + 10 * c.atol[:, None, None])
    assert rel.max() < 1e-5


def test_infusion_closed_form_per_patient():
    """Constant-rate infusion on [1, 4) days: exact one-compartment solution, per-patient volumes."""
    m = td.models.one_compartment_pk()
    c = compile_model(m)
    sched = td.Schedule.infusion("drug", 50.0, 1.0, 4.0)
    B = 5
    P = np.repeat(c.defaults[:, None], B, axis=1)
    iv = c.param_names.index("V")
    P[iv] = np.linspace(5.0, 25.0, B)
    Y0 = np.zeros((1, B))
    te = np.linspace(0.0, 8.0, 33)
    sol = solve_batch(c, DosingPlan.build(c.drug_names, sched, 0.0, 8.0), P, Y0, te, rtol=1e-9, atol=np.array([1e-12]))
    for j in range(B):
        exact = td.models.infusion_pk_solution(te, 50.0, 1.0, 4.0, half_life=1.0, volume=P[iv, j])
        np.testing.assert_allclose(sol.y[0, :, j], exact, rtol=1e-6, atol=1e-10)
    assert sol.u[0, te.searchsorted(2.0)] == 50.0 and sol.u[0, -1] == 0.0


def test_a_state_allowed_below_zero_is_not_held_to_the_negative_band():
    """A state declared nonnegative=False may be zero or negative (it used to fail at its first step: the
    band of an unbounded state was +inf instead of none)."""
    from tumordyn.spec import Model, Parameter, Process, State

    m = Model("signed", states=[State("x", 10.0), State("f", 0.0, nonnegative=False)], parameters=[Parameter("k", 0.5)],
              processes=[Process("loss", "k*x", consumes="x"), Process("sink", "k", consumes="f")],
              check_units=False, check_positivity=False)
    tr = td.simulate(m, t_end=5.0, t_eval=[5.0], solver=td.Solver(method="batch", rtol=1e-10, atol=1e-12))
    assert tr["x"][0] == pytest.approx(10 * np.exp(-2.5), rel=1e-8)
    assert tr["f"][0] == pytest.approx(-2.5, rel=1e-8)


def _dip(monkeypatch, module, name, state, by):
    """Patch ``module.name`` (a dense-output evaluation) to return ``state`` lowered by ``by`` (a value far below
    the negative-state band, as an interpolant dipping between two valid step ends would give)."""
    real = getattr(module, name)

    def lowered(*args, **kw):
        out = real(*args, **kw)
        if isinstance(out, tuple):  # (_locate: time, state)
            t, y = out
            y = np.array(y, dtype=float)
            y[state] -= by
            return t, y
        out = np.array(out, dtype=float)
        out[state] -= by
        return out

    monkeypatch.setattr(module, name, lowered)


def test_an_output_interpolated_below_the_negative_band_fails_the_patient(monkeypatch):
    """Contract (as the compiled engine): a non-negative state's value at an output time, from the dense output,
    below the negative-state band fails the patient with NEGATIVE_STATE naming the state; it is never clipped
    to zero silently."""
    from tumordyn.errors import NegativeStateError, SolverStatus
    from tumordyn.solve import _batch

    m = td.models.logistic_growth()
    ok = td.simulate(m, t_end=30.0, t_eval=[0.0, 10.0, 30.0], solver=td.Solver(method="batch"))
    assert np.all(np.asarray(ok["N"]) > 0)
    _dip(monkeypatch, _batch, "_interp", 0, 1e6)
    with pytest.raises(NegativeStateError) as err:
        td.simulate(m, t_end=30.0, t_eval=[0.0, 10.0, 30.0], solver=td.Solver(method="batch"))
    assert err.value.status == SolverStatus.NEGATIVE_STATE and "N" in str(err.value)
    assert 0.0 < err.value.t <= 30.0


def test_a_state_located_at_an_event_below_the_negative_band_fails_the_patient(monkeypatch):
    """The same contract at a located change of an event's trigger: the state there (from the dense output) is
    held to the band before the patient stops there."""
    from tumordyn.errors import NegativeStateError, SolverStatus
    from tumordyn.solve import _events
    from tumordyn.spec import Event, Model, Parameter, Process, State

    m = Model("decay", states=[State("x", 10.0)], parameters=[Parameter("k", 0.5)],
              processes=[Process("loss", "k*x", consumes="x")], events=[Event("reset", "x < 1", {"x": 10})],
              check_units=False)
    ok = td.simulate(m, t_end=10.0, t_eval=[10.0], solver=td.Solver(method="batch"))
    assert ok["x"][0] > 0
    _dip(monkeypatch, _events, "_locate", 0, 1e6)
    with pytest.raises(NegativeStateError) as err:
        td.simulate(m, t_end=10.0, t_eval=[10.0], solver=td.Solver(method="batch"))
    assert err.value.status == SolverStatus.NEGATIVE_STATE
    assert err.value.t == pytest.approx(np.log(10.0) / 0.5, rel=1e-6)  # where x reaches 1
