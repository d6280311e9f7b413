"""Model events on the compiled engine ``"dopri5"`` (issue 16): closed forms, agreement with LSODA at
rtol 1e-12 on every event feature, the SBML Test Suite's event cases copied in tests/data, batches, the
named errors and the bounded loops. The semantics (queue, priorities, persistence) are the scipy engines'
(:class:`tumordyn.solve._events.EventQueue`); what is checked here is the kernel's part: locating the
triggers' changes and resuming."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tumordyn as td
from tumordyn.errors import NegativeStateError, SolverError, SolverStatus
from tumordyn.numerics import compile_model
from tumordyn.spec import Event, Model, Parameter, Process, State

from event_models import FEATURES, K, T_RESET, decay, runner

pytest.importorskip("numba")

run = runner("dopri5")


# ------------------------------------------------------------------------------------ closed forms
def test_reset_model_follows_the_closed_form_and_the_reset_times_on_dopri5():
    """x = 10 exp(-K (t mod T)), T = ln 10 / K, at 1e-8; just after each reset x = 10 exp(-K delta) (a reset
    located late or early by dt shifts it by K dt relative)."""
    m = decay(Event("reset", "x < 1", {"x": 10}))
    t = np.linspace(0.0, 40.0, 403)
    t = t[np.abs((t / T_RESET) - np.round(t / T_RESET)) > 1e-6]
    after = T_RESET * np.arange(1, 8) + 1e-3
    tt = np.sort(np.concatenate([t, after]))
    tr = run(m, 40.0, tt)
    assert tr.stats.method == "dopri5"
    exact = 10.0 * np.exp(-K * np.mod(tt, T_RESET))
    assert np.max(np.abs(tr["x"] - exact) / exact) < 1e-8
    assert np.asarray(tr["x"])[np.isin(tt, after)] == pytest.approx(10.0 * np.exp(-K * 1e-3), rel=1e-8)


def test_saw_reset_times_are_located_to_the_ulp_and_the_loop_is_bounded():
    """y' = 1, reset to 0 when y >= 0.1: ten resets by t = 1.05, y = 0.05; more executions than
    Solver.max_switches stop with TOO_MANY_SWITCHES, a step budget with TOO_MANY_STEPS."""
    m = Model("saw", states=[State("y", 0.0)], processes=[Process("grow", "1", produces="y")],
              events=[Event("reset", "y >= 0.1", {"y": 0})], check_units=False, check_positivity=False)
    assert run(m, 1.05, [1.05], max_switches=50)["y"][0] == pytest.approx(0.05, abs=1e-12)
    with pytest.raises(SolverError) as err:
        run(m, 10.0, [10.0], max_switches=5)
    assert err.value.status == SolverStatus.TOO_MANY_SWITCHES
    assert "Solver.max_switches" in str(err.value)
    with pytest.raises(SolverError) as err:
        run(m, 10.0, [10.0], max_switches=10_000, max_steps=30)
    assert err.value.status == SolverStatus.TOO_MANY_STEPS


@pytest.mark.parametrize("method", ["dopri5", "LSODA", "RK45", "DOP853", "BDF"])
def test_a_trigger_of_time_alone_is_seen_under_long_steps(method):
    """x' = 0 lets the step size grow without bound; the trigger sin(10 t) < 0 turns true at
    t = (2 k + 1) pi / 10: eight times in [0, 5] (SBML suite case 00936's difficulty), each firing counted
    (RK45 and DOP853 counted 7 when only the ends of their steps were checked)."""
    m = Model("clock", states=[State("x", 1.0), State("n", 0.0)], processes=[Process("none", "0*x", consumes="x")],
              events=[Event("count", "sin(10*t) < 0", {"n": "n + 1"})], check_units=False, check_positivity=False)
    t = np.array([0.5, 1.0, 2.0, 5.0])
    n = run(m, 5.0, t, method)["n"]
    assert list(n) == [1.0, 2.0, 3.0, 8.0]


# ------------------------------------------------------------------------------------ against LSODA
@pytest.mark.parametrize("feature", sorted(FEATURES))
def test_compiled_engine_agrees_with_lsoda_on_every_event_feature(feature):
    """Both engines at rtol 1e-12: outputs agree to 1e-8 relative (each is about 1e-10 from the exact
    trajectory; the event times are located to a few ulps by both)."""
    m, schedule = FEATURES[feature]
    t = np.linspace(0.0, 12.0, 97)
    ref = run(m, 12.0, t, "LSODA", rtol=1e-12, atol=1e-14, schedule=schedule)
    ours = run(m, 12.0, t, "dopri5", rtol=1e-12, atol=1e-14, schedule=schedule)
    assert ours.stats.method == "dopri5"
    for name in ref.state_names:
        a, b = np.asarray(ours[name]), np.asarray(ref[name])
        assert np.all(np.abs(a - b) <= 1e-8 * np.maximum(np.abs(b), 1.0)), (name, np.max(np.abs(a - b)))


def test_event_outputs_hold_the_values_after_the_events_and_doses_as_on_lsoda():
    """Outputs at an event time and at a dose time that fires an event hold the values after both."""
    m, schedule = FEATURES["doses_at_event_times"]
    t = [0.0, 2.0, 3.0, 6.5]
    ours = run(m, 7.0, t, schedule=schedule)["x"]
    ref = run(m, 7.0, t, "LSODA", schedule=schedule)["x"]
    assert ours == pytest.approx(ref, rel=1e-9)
    assert ours[0] == pytest.approx(2.0, rel=1e-12)  # 4 mg / 2 L at t = 0, no event (x < 0.5 was true)


def test_auto_takes_the_compiled_engine_for_events_and_refuses_rules_with_events_by_status():
    m = decay(Event("reset", "x < 1", {"x": 10}))
    tr = td.simulate(m, t_end=10.0, t_eval=[10.0], solver=td.Solver(rtol=1e-10, atol=1e-12))
    assert tr.stats.method == "dopri5"
    assert tr["x"][0] == pytest.approx(10.0 * math.exp(-K * (10.0 - 2 * T_RESET)), rel=1e-8)


# ------------------------------------------------------------------------------------ batches and errors
def test_simulate_batch_with_events_matches_each_patient_on_lsoda():
    m = decay(Event("reset", "x < 1", {"x": 10}), Event("kick", "t >= 3.3", {"x": "x*1.5"}))
    c = compile_model(m)
    params = np.array([[0.3], [0.5], [1.1]])
    t = np.linspace(0.0, 15.0, 31)
    for parallel in (False, True):
        b = td.simulate_batch(m, params, t_end=15.0, t_eval=t, method="dopri5", rtol=1e-10, atol=1e-12,
                              parallel=parallel)
        for j in range(params.shape[0]):
            ref = td.simulate(m, t_end=15.0, t_eval=t, params=dict(zip(c.param_names, params[j])), method="LSODA",
                              rtol=1e-12, atol=1e-14)
            assert np.asarray(b.values[j, :, 0]) == pytest.approx(np.asarray(ref["x"]), rel=1e-8)


def test_failed_patient_is_reported_by_row_and_the_others_kept():
    """A negative assignment in one patient: NegativeStateError naming the event; with on_error='nan' only
    that row is NaN."""
    m = decay(Event("bad", "x < 2", {"x": "x - 3*k"}))
    params = np.array([[0.5], [1.0]])  # patient 1: 2 - 3 < 0
    with pytest.raises(NegativeStateError, match="event 'bad'"):
        td.simulate_batch(m, params, t_end=5.0, t_eval=[5.0], method="dopri5")
    b = td.simulate_batch(m, np.array([[0.1], [1.0]]), t_end=5.0, t_eval=[5.0], method="dopri5", on_error="nan")
    assert np.isfinite(b.values[0]).all() and np.isnan(b.values[1]).all()


def test_named_errors_on_the_compiled_engine():
    with pytest.raises(NegativeStateError, match="event 'bad'"):
        run(decay(Event("bad", "t >= 1", {"x": -1})), 2.0, [2.0])
    with pytest.raises(SolverError, match="event 'bad'.*non-finite") as err:
        run(decay(Event("bad", "t >= 10", {"x": "log(x - 1)"})), 11.0, [11.0])
    assert err.value.status == SolverStatus.NON_FINITE
    with pytest.raises(SolverError, match="delay"):
        run(decay(Event("bad", "t >= 1", {"x": 1}, delay="1 - 2*k - x")), 2.0, [2.0])


def test_adaptive_rules_with_model_events_are_refused_by_status_on_the_compiled_engine():
    from tumordyn.solve._compiled import CompiledEngine
    m = Model("pk", states=[State("x", 5.0)], parameters=[Parameter("k", K)],
              processes=[Process("loss", "k*x", consumes="x")], drugs=[td.Drug("d", compartment="x", volume=1.0)],
              events=[Event("halve", "t >= 3", {"x": "x/2"})], check_units=False)
    rule = td.AdaptiveRule("d", on=1.0, observable="x", pause_below=0.5, resume_at=0.8)
    with pytest.raises((SolverError, td.errors.SpecificationError), match="adaptive"):
        td.simulate(m, rule, t_end=5.0, method="dopri5")
    assert CompiledEngine.name == "dopri5"


def test_model_without_events_never_calls_the_event_variant(monkeypatch):
    """Models without events run the kernel specialisation with the event code compiled away (the batch
    entry point), never the event loop; the event variant is a copy of the same source with the global
    frozen to True."""
    from tumordyn.solve import _compiled

    def boom():
        raise AssertionError("the event kernel was used for a model without events")

    monkeypatch.setattr(_compiled, "_compiled_events", boom)
    m = Model("plain", states=[State("x", 10.0)], parameters=[Parameter("k", K)],
              processes=[Process("loss", "k*x", consumes="x")], check_units=False)
    assert run(m, 5.0, [5.0])["x"][0] == pytest.approx(10 * math.exp(-5 * K), rel=1e-9)
    b = td.simulate_batch(m, np.array([[0.5], [1.0]]), t_end=5.0, t_eval=[5.0], method="dopri5", rtol=1e-10,
                          atol=1e-12, parallel=True)
    assert np.asarray(b.values)[:, 0, 0] == pytest.approx(10 * np.exp(-5 * np.array([0.5, 1.0])), rel=1e-9)
    variant = _compiled._variant(_compiled._core_py, "probe", _WITH_EVENTS=False)
    assert variant.__globals__["_WITH_EVENTS"] is False and _compiled._WITH_EVENTS is True
    assert variant.__code__ is _compiled._core_py.__code__


# ------------------------------------------------------------------------------------ SBML Test Suite
def _suite_event_cases() -> list[str]:
    from pathlib import Path

    root = Path(__file__).parent / "data" / "sbml"
    return sorted(p.name for p in root.iterdir() if p.is_dir()
                  and any("listOfEvents" in x.read_text() for x in p.glob(f"{p.name}-sbml-l*.xml")))


@pytest.mark.parametrize("case", _suite_event_cases())
def test_suite_event_case_passes_on_the_compiled_engine(case):
    """The SBML Test Suite's event cases copied in tests/data, the suite's way, on ``"dopri5"``."""
    pytest.importorskip("libsbml")
    from test_sbml_suite import simulate_case

    sim, expected, st = simulate_case(case, method="dopri5")
    bound = st["absolute"] + st["relative"] * np.abs(expected)
    assert np.all(np.abs(sim - expected) <= bound), np.max(np.abs(sim - expected) / bound)


def test_triggers_numba_cannot_compile_are_refused_by_status_and_auto_falls_back_to_lsoda(monkeypatch):
    """A capability check, not an error message: without compiled triggers the compiled engine refuses
    with UNSUPPORTED and method='auto' runs LSODA."""
    from tumordyn.solve import _compiled

    monkeypatch.setattr(_compiled, "fast_atoms", lambda compiled: None)
    m = decay(Event("reset", "x < 1", {"x": 10}))
    with pytest.raises(SolverError) as err:
        run(m, 10.0, [10.0])
    assert err.value.status == SolverStatus.UNSUPPORTED
    assert "triggers" in err.value.solver_message
    tr = td.simulate(m, t_end=10.0, t_eval=[10.0], solver=td.Solver(rtol=1e-10, atol=1e-12))
    assert tr.stats.method == "LSODA"
    assert tr["x"][0] == pytest.approx(10.0 * math.exp(-K * (10.0 - 2 * T_RESET)), rel=1e-7)
