"""Model events on the numpy batch engine ``"batch"`` (issue 16), what is its own: batches whose patients fire at
different times (each equal to its own one-patient solve), per-patient doses, refiring events. The reset model's
closed form, the bounded loops, triggers of time under long steps, the named errors, agreement with LSODA on
every event feature, a failed patient of a batch and the SBML Test Suite's event cases copied in tests/data are
checked in test_events.py on every engine. The semantics (queue, priorities, persistence) are
:class:`tumordyn.solve._events.EventQueue`'s, as on the scipy and compiled engines; what is checked here is the
batch engine's part: watching each patient's comparisons, locating their changes and restarting that patient
alone."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tumordyn as td
from tumordyn.errors import SolverError, SolverStatus, SpecificationError
from tumordyn.numerics import compile_model
from tumordyn.spec import Event, Model, Parameter, Process, State

from event_models import FEATURES, K, decay, runner

run = runner("batch")


# ------------------------------------------------------------------------------------ one patient


def test_an_event_refiring_forever_ends_with_too_many_switches():
    """Two events that keep firing each other at one instant (x := 2 when x < 1, x := 0 when x > 1.5) from
    the first crossing of 1: a SolverError with status TOO_MANY_SWITCHES at that time, not an endless loop."""
    m = decay(Event("up", "x < 1", {"x": 2}), Event("down", "x > 1.5", {"x": 0}))
    with pytest.raises(SolverError) as err:
        run(m, 10.0, [10.0], max_switches=100)
    assert err.value.status == SolverStatus.TOO_MANY_SWITCHES
    assert err.value.t == pytest.approx(math.log(10.0) / K, rel=1e-8)


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


def test_a_trigger_of_time_with_a_per_patient_parameter_is_watched_per_patient():
    """sin(w t) < 0 turns true at t = (2 k + 1) pi / w: in [0, 5], 6 times for w = 7, 8 for w = 10 and 10 for
    w = 13, each patient's firings counted in one batch (the quarters checked with each patient's w)."""
    m = Model("clock", states=[State("x", 1.0), State("n", 0.0)], parameters=[Parameter("w", 10.0)],
              processes=[Process("none", "0*x", consumes="x")],
              events=[Event("count", "sin(w*t) < 0", {"n": "n + 1"})], check_units=False, check_positivity=False)
    b = _batch(m, np.array([[7.0], [10.0], [13.0]]), np.array([0.0, 5.0]))
    assert list(b[:, -1, 1]) == [6.0, 8.0, 10.0]
