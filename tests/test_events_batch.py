"""Model events on the numpy batch engine ``"batch"`` (issue 16): closed forms, agreement with LSODA at
rtol 1e-12 on every event feature, batches whose patients fire at different times (each equal to its own
one-patient solve), per-patient doses, the SBML Test Suite's event cases copied in tests/data, the named
errors and the bounded loops. The semantics (queue, priorities, persistence) are
:class:`tumordyn.solve._events.EventQueue`'s, as on the scipy and compiled engines; what is checked here is
the batch engine's part: watching each patient's comparisons, locating their changes and restarting that
patient alone."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tumordyn as td
from tumordyn.errors import NegativeStateError, SolverError, SolverStatus, SpecificationError
from tumordyn.numerics import compile_model
from tumordyn.spec import Event, Model, Parameter, Process, State

from event_models import FEATURES, K, T_RESET, decay, runner

run = runner("batch")


# ------------------------------------------------------------------------------------ closed forms
def test_reset_model_follows_the_closed_form_and_the_reset_times_on_batch():
    """x = 10 exp(-K (t mod T)), T = ln 10 / K, within 1e-7 relative (measured: about 1e-9); just after each
    reset x = 10 exp(-K delta) (a reset located late or early by dt shifts it by K dt relative)."""
    m = decay(Event("reset", "x < 1", {"x": 10}))
    t = np.linspace(0.0, 40.0, 403)
    t = t[np.abs((t / T_RESET) - np.round(t / T_RESET)) > 1e-6]
    after = T_RESET * np.arange(1, 8) + 1e-3
    tt = np.sort(np.concatenate([t, after]))
    tr = run(m, 40.0, tt)
    assert tr.stats.method == "batch"
    exact = 10.0 * np.exp(-K * np.mod(tt, T_RESET))
    assert np.max(np.abs(tr["x"] - exact) / exact) < 1e-7
    assert np.asarray(tr["x"])[np.isin(tt, after)] == pytest.approx(10.0 * np.exp(-K * 1e-3), rel=1e-7)


def test_saw_reset_times_are_located_to_the_ulp_and_the_loop_is_bounded():
    """y' = 1, reset to 0 when y >= 0.1: ten resets by t = 1.05, y = 0.05; more executions than
    Solver.max_switches stop with TOO_MANY_SWITCHES (a SolverError with the time), a step budget with
    TOO_MANY_STEPS."""
    m = Model("saw", states=[State("y", 0.0)], processes=[Process("grow", "1", produces="y")],
              events=[Event("reset", "y >= 0.1", {"y": 0})], check_units=False, check_positivity=False)
    assert run(m, 1.05, [1.05], max_switches=50)["y"][0] == pytest.approx(0.05, abs=1e-12)
    with pytest.raises(SolverError) as err:
        run(m, 10.0, [10.0], max_switches=5)
    assert err.value.status == SolverStatus.TOO_MANY_SWITCHES
    assert "Solver.max_switches" in str(err.value)
    assert err.value.t == pytest.approx(0.6, abs=1e-12)  # the sixth execution
    with pytest.raises(SolverError) as err:
        run(m, 10.0, [10.0], max_switches=10_000, max_steps=30)
    assert err.value.status == SolverStatus.TOO_MANY_STEPS


def test_an_event_refiring_forever_ends_with_too_many_switches():
    """Two events that keep firing each other at one instant (x := 2 when x < 1, x := 0 when x > 1.5) from
    the first crossing of 1: a SolverError with status TOO_MANY_SWITCHES at that time, not an endless loop."""
    m = decay(Event("up", "x < 1", {"x": 2}), Event("down", "x > 1.5", {"x": 0}))
    with pytest.raises(SolverError) as err:
        run(m, 10.0, [10.0], max_switches=100)
    assert err.value.status == SolverStatus.TOO_MANY_SWITCHES
    assert err.value.t == pytest.approx(math.log(10.0) / K, rel=1e-8)


def test_a_trigger_of_time_alone_is_seen_under_long_steps():
    """x' = 0 lets the step size grow without bound; the trigger sin(10 t) < 0 turns true at
    t = (2 k + 1) pi / 10: eight times in [0, 5] (SBML suite case 00936's difficulty), each firing counted
    (the quarters of every step are checked when a comparison depends on t explicitly)."""
    m = Model("clock", states=[State("x", 1.0), State("n", 0.0)], processes=[Process("none", "0*x", consumes="x")],
              events=[Event("count", "sin(10*t) < 0", {"n": "n + 1"})], check_units=False, check_positivity=False)
    t = np.array([0.5, 1.0, 2.0, 5.0])
    assert list(run(m, 5.0, t)["n"]) == [1.0, 2.0, 3.0, 8.0]


# ------------------------------------------------------------------------------------ against LSODA
@pytest.mark.parametrize("feature", sorted(FEATURES))
def test_batch_engine_agrees_with_lsoda_on_every_event_feature(feature):
    """Both engines at rtol 1e-12: outputs agree to 1e-8 relative (each is about 1e-10 from the exact
    trajectory; the event times are located to a few ulps by both)."""
    m, schedule = FEATURES[feature]
    t = np.linspace(0.0, 12.0, 97)
    ref = run(m, 12.0, t, "LSODA", rtol=1e-12, atol=1e-14, schedule=schedule)
    ours = run(m, 12.0, t, "batch", rtol=1e-12, atol=1e-14, schedule=schedule)
    assert ours.stats.method == "batch"
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


# ------------------------------------------------------------------------------------ batches
def _batch(m: Model, params: np.ndarray, t: np.ndarray, **kw) -> np.ndarray:
    return np.asarray(td.simulate_batch(m, params, t_end=float(t[-1]), t_eval=t, method="batch", rtol=1e-10,
                                        atol=1e-12, **kw).values)


def test_patients_firing_at_different_times_each_equal_their_own_solve_and_lsoda():
    """Three rates: resets at different times (and a time event at 3.3 for all); each row equals that
    patient's one-patient batch solve (1e-12: the same steps; only shared parameters are passed differently)
    and its LSODA solve at rtol 1e-12 (1e-8)."""
    m = decay(Event("reset", "x < 1", {"x": 10}), Event("kick", "t >= 3.3", {"x": "x*1.5"}),
              Event("late", "x > 12", {"x": "x - 1"}, delay=0.25))
    c = compile_model(m)
    params = np.array([[0.3], [0.5], [1.1], [0.05]])
    t = np.linspace(0.0, 15.0, 61)
    b = _batch(m, params, t)
    for j in range(params.shape[0]):
        alone = _batch(m, params[j:j + 1], t)
        assert np.all(np.abs(b[j] - alone[0]) <= 1e-12 * np.abs(alone[0])), j
        ref = td.simulate(m, t_end=15.0, t_eval=t, params=dict(zip(c.param_names, params[j])), method="LSODA",
                          rtol=1e-12, atol=1e-14)
        assert b[j, :, 0] == pytest.approx(np.asarray(ref["x"]), rel=1e-8)


def test_per_patient_dose_scale_with_events_matches_each_patient_on_lsoda():
    """Covariate doses (Problem.dose_scale): each patient's own bolus amounts with events fired by them."""
    from tumordyn.dosing import DosingPlan
    from tumordyn.solve import Problem, solve

    m, schedule = FEATURES["doses_at_event_times"]
    c = compile_model(m)
    t = np.linspace(0.0, 10.0, 41)
    scale = np.array([[0.5], [1.0], [1.7]])
    B = scale.shape[0]
    problem = Problem(c, DosingPlan.build(c.drug_names, schedule, 0.0, 10.0), np.tile(c.defaults, (B, 1)),
                      np.tile(c.initial, (B, 1)), t, dose_scale=scale)
    ours = solve(problem, td.Solver(method="batch", rtol=1e-12, atol=1e-14).options(c))
    ref = solve(problem, td.Solver(method="LSODA", rtol=1e-12, atol=1e-14).options(c))
    assert np.all(ours.ok) and np.all(ref.ok)
    assert np.asarray(ours.y) == pytest.approx(np.asarray(ref.y), rel=1e-8, abs=1e-10)
    assert not np.allclose(ours.y[0], ours.y[2])  # the scale matters


def test_failed_patient_is_reported_by_row_and_the_others_kept():
    """A negative assignment in one patient: NegativeStateError naming the event; with on_error='nan' only
    that row is NaN."""
    m = decay(Event("bad", "x < 2", {"x": "x - 3*k"}))
    params = np.array([[0.5], [1.0]])  # patient 1: 2 - 3 < 0
    with pytest.raises(NegativeStateError, match="event 'bad'"):
        td.simulate_batch(m, params, t_end=5.0, t_eval=[5.0], method="batch")
    b = td.simulate_batch(m, np.array([[0.1], [1.0]]), t_end=5.0, t_eval=[5.0], method="batch", on_error="nan")
    assert np.isfinite(b.values[0]).all() and np.isnan(b.values[1]).all()


def test_named_errors_on_the_batch_engine():
    with pytest.raises(NegativeStateError, match="event 'bad'"):
        run(decay(Event("bad", "t >= 1", {"x": -1})), 2.0, [2.0])
    with pytest.raises(SolverError, match="event 'bad'.*non-finite") as err:
        run(decay(Event("bad", "t >= 10", {"x": "log(x - 1)"})), 11.0, [11.0])
    assert err.value.status == SolverStatus.NON_FINITE
    with pytest.raises(SolverError, match="delay"):
        run(decay(Event("bad", "t >= 1", {"x": 1}, delay="1 - 2*k - x")), 2.0, [2.0])


def test_adaptive_rules_are_refused_by_name_on_the_batch_engine_with_or_without_events():
    m = Model("pk", states=[State("x", 5.0)], parameters=[Parameter("k", K)],
              processes=[Process("loss", "k*x", consumes="x")], drugs=[td.Drug("d", compartment="x", volume=1.0)],
              events=[Event("halve", "t >= 3", {"x": "x/2"})], check_units=False)
    rule = td.AdaptiveRule("d", on=1.0, observable="x", pause_below=0.5, resume_at=0.8)
    with pytest.raises(SpecificationError, match="adaptive rules"):
        td.simulate(m, rule, t_end=5.0, method="batch")


def test_model_without_events_never_enters_the_event_loop(monkeypatch):
    """The no-event path of the batch engine is untouched: no watcher, no event queue."""
    from tumordyn.solve import _batch

    def boom(*args, **kwargs):
        raise AssertionError("the event loop was used for a model without events")

    monkeypatch.setattr(_batch, "_solve_events", boom)
    m = Model("plain", states=[State("x", 10.0)], parameters=[Parameter("k", K)],
              processes=[Process("loss", "k*x", consumes="x")], check_units=False)
    assert run(m, 5.0, [5.0])["x"][0] == pytest.approx(10 * math.exp(-5 * K), rel=1e-9)


# ------------------------------------------------------------------------------------ SBML Test Suite
def _suite_event_cases() -> list[str]:
    from pathlib import Path

    root = Path(__file__).parent / "data" / "sbml"
    return sorted(p.name for p in root.iterdir() if p.is_dir()
                  and any("listOfEvents" in x.read_text() for x in p.glob(f"{p.name}-sbml-l*.xml")))


@pytest.mark.parametrize("case", _suite_event_cases())
def test_suite_event_case_passes_on_the_batch_engine(case):
    """The SBML Test Suite's event cases copied in tests/data, the suite's way, on ``"batch"``."""
    pytest.importorskip("libsbml")
    from test_sbml_suite import simulate_case

    sim, expected, st = simulate_case(case, method="batch")
    bound = st["absolute"] + st["relative"] * np.abs(expected)
    assert np.all(np.abs(sim - expected) <= bound), np.max(np.abs(sim - expected) / bound)


def test_a_trigger_of_time_with_a_per_patient_parameter_is_watched_per_patient():
    """sin(w t) < 0 turns true at t = (2 k + 1) pi / w: in [0, 5], 6 times for w = 7, 8 for w = 10 and 10 for
    w = 13, each patient's firings counted in one batch (the quarters checked with each patient's w)."""
    m = Model("clock", states=[State("x", 1.0), State("n", 0.0)], parameters=[Parameter("w", 10.0)],
              processes=[Process("none", "0*x", consumes="x")],
              events=[Event("count", "sin(w*t) < 0", {"n": "n + 1"})], check_units=False, check_positivity=False)
    b = _batch(m, np.array([[7.0], [10.0], [13.0]]), np.array([0.0, 5.0]))
    assert list(b[:, -1, 1]) == [6.0, 8.0, 10.0]
