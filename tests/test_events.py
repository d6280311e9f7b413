"""Model events (issue 16): the Event specification; SBML Level 3 semantics on the scipy engines checked against
closed forms; on every engine (LSODA, dopri5, batch) the named errors; on the compiled and batch engines the
reset model's closed form, the bounded loops, triggers of time under long steps, agreement with LSODA on every
event feature, a failed patient of a batch and the SBML Test Suite's event cases; SBML round trip and
libRoadRunner."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tumordyn as td
from tumordyn.errors import (NegativeStateError, SolverError, SolverStatus, SpecificationError, TumordynWarning,
                             UnknownNameError)
from tumordyn.spec import Event, Model, Parameter, Process, State

from event_models import ENGINES, FEATURES, K, T_RESET, decay, runner, suite_event_cases

run = runner("LSODA")


# ------------------------------------------------------------------------------------ closed forms
@pytest.mark.parametrize("method", ["LSODA", "DOP853", "RK45", "Radau"])
def test_reset_at_a_threshold_follows_the_closed_form(method):
    """x = 10 exp(-K (t mod T)), T = ln 10 / K: each crossing of 1 is located and x reset to 10."""
    m = decay(Event("reset", "x < 1", {"x": 10}))
    t = np.linspace(0.0, 20.0, 203)
    t = t[np.abs((t / T_RESET) - np.round(t / T_RESET)) > 1e-6]  # not exactly at a reset
    x = run(m, 20.0, t, method)["x"]
    exact = 10.0 * np.exp(-K * np.mod(t, T_RESET))
    assert np.max(np.abs(x - exact) / exact) < 1e-7


def test_auto_runs_events_on_the_compiled_engine_and_the_batch_engine_executes_them():
    """Every engine that handles doses executes events: "auto" (the compiled engine) and "batch" follow the
    closed form (the batch engine's own checks: tests/test_events_batch.py)."""
    m = decay(Event("reset", "x < 1", {"x": 10}))
    t = [0.0, 5.0, 10.0]
    auto = td.simulate(m, t_end=10.0, t_eval=t, solver=td.Solver(rtol=1e-10, atol=1e-12))
    assert auto["x"] == pytest.approx(10.0 * np.exp(-K * np.mod(t, T_RESET)), rel=1e-7)
    assert auto.stats.method == "dopri5"
    from tumordyn.solve._dispatch import FALLBACK_STATUSES

    assert SolverStatus.UNSUPPORTED in FALLBACK_STATUSES  # "auto" hands a refused patient to LSODA
    batch = td.simulate(m, t_end=10.0, t_eval=t, solver=td.Solver(method="batch", rtol=1e-10, atol=1e-12))
    assert batch.stats.method == "batch"
    assert batch["x"] == pytest.approx(10.0 * np.exp(-K * np.mod(t, T_RESET)), rel=1e-7)


def test_delay_executes_after_the_trigger_time():
    """Triggered at T (x = 1), executed at T + 2: x = exp(-2K) until then, then 10 exp(-K (t - T - 2))."""
    m = decay(Event("reset", "x < 1", {"x": 10}, delay=2.0))
    t = np.array([T_RESET + 1.0, T_RESET + 1.999, T_RESET + 2.0, T_RESET + 3.0])
    x = run(m, 10.0, t)["x"]
    expect = [math.exp(-K * (T_RESET + 1.0)) * 10, 10 * math.exp(-K * (T_RESET + 1.999)), 10.0, 10 * math.exp(-K)]
    assert x == pytest.approx(expect, rel=1e-8)


def test_values_from_trigger_time_or_from_execution_time():
    """x := 2 x, triggered at t = 1, executed at t = 2: 2 x(1) from the trigger time, 2 x(2) at execution."""
    t = [2.0, 3.0]
    for from_trigger, x_at_2 in ((True, 2 * 10 * math.exp(-K)), (False, 2 * 10 * math.exp(-2 * K))):
        m = decay(Event("double", "t >= 1", {"x": "2*x"}, delay=1.0, use_values_from_trigger_time=from_trigger))
        x = run(m, 3.0, t)["x"]
        assert x == pytest.approx([x_at_2, x_at_2 * math.exp(-K)], rel=1e-8)


def test_non_persistent_event_is_cancelled_when_its_trigger_turns_false():
    """Trigger true on (1, 1.5), delay 1: cancelled unless persistent."""
    for persistent, changed in ((True, True), (False, False)):
        m = decay(Event("bump", "t > 1 and t < 1.5", {"x": "x + 5"}, delay=1.0, persistent=persistent))
        x = run(m, 3.0, [3.0])["x"][0]
        plain = 10 * math.exp(-3 * K)
        # x := x(1) + 5 (values from the trigger time) at t = 2
        assert x == pytest.approx((10 * math.exp(-K) + 5) * math.exp(-K) if changed else plain, rel=1e-8)


def test_initial_value_false_fires_at_the_start():
    for initial_value, x0 in ((False, 20.0), (True, 10.0)):
        m = decay(Event("start", "t >= 0", {"x": "2*x"}, initial_value=initial_value))
        assert run(m, 1.0, [0.0, 1.0])["x"] == pytest.approx([x0, x0 * math.exp(-K)], rel=1e-9)


def test_priorities_order_simultaneous_events_and_an_execution_fires_others():
    """Both due at t = 1: x := 2 x then x := x + 1 (priority 2 > 1) or the other way round; a third event,
    triggered by the flag the first sets, is executed at the same time."""
    x1 = 10 * math.exp(-K)
    flag = State("flag", 0.0, nonnegative=False)
    for p_double, expect in ((2.0, 2 * x1 + 1), (0.0, 2 * (x1 + 1))):
        m = decay(Event("double", "t >= 1", {"x": "2*x", "flag": 1}, priority=p_double,
                        use_values_from_trigger_time=False),
                  Event("add", "t >= 1", {"x": "x + 1"}, priority=1.0, use_values_from_trigger_time=False),
                  Event("cascade", "flag > 0.5", {"flag": 2}),
                  extra_states=(flag,))
        tr = run(m, 1.0, [1.0])
        assert tr["x"][0] == pytest.approx(expect, rel=1e-9)
        assert tr["flag"][0] == 2.0


def test_events_agree_across_scipy_methods():
    m = decay(Event("reset", "x < 1", {"x": "x + 9"}, delay="k"), Event("kick", "t >= 3.3", {"x": "x*1.5"}))
    t = np.linspace(0, 15, 31)
    ref = run(m, 15.0, t, "DOP853", max_step=0.5)["x"]
    for method in ("LSODA", "Radau", "BDF"):
        assert np.allclose(run(m, 15.0, t, method, max_step=0.5)["x"], ref, rtol=1e-6, atol=1e-9), method


def test_doses_and_events_together():
    """A bolus at t = 2 into x and an event halving x at t = 3: both applied, in time order."""
    m = Model("pk", states=[State("x", 0.0)], parameters=[Parameter("k", K)],
              processes=[Process("loss", "k*x", consumes="x")],
              drugs=[td.Drug("d", compartment="x", volume=1.0)], events=[Event("halve", "t >= 3", {"x": "x/2"})],
              check_units=False)
    tr = td.simulate(m, td.Schedule([td.Dose(2.0, "d", 4.0)]), t_end=4.0, t_eval=[2.5, 3.0, 4.0],
                     solver=td.Solver(rtol=1e-10, atol=1e-12))
    assert tr["x"] == pytest.approx([4 * math.exp(-0.5 * K), 2 * math.exp(-K), 2 * math.exp(-2 * K)], rel=1e-8)


@pytest.mark.parametrize(("method", "rel"), [pytest.param("dopri5", 1e-8, marks=ENGINES[1].marks), ("batch", 1e-7)])
def test_reset_model_follows_the_closed_form_and_the_reset_times_on_the_compiled_and_batch_engines(method, rel):
    """x = 10 exp(-K (t mod T)), T = ln 10 / K, within ``rel`` (the batch engine measured about 1e-9); just after
    each reset x = 10 exp(-K delta) (a reset located late or early by dt shifts it by K dt relative)."""
    m = decay(Event("reset", "x < 1", {"x": 10}))
    t = np.linspace(0.0, 40.0, 403)
    t = t[np.abs((t / T_RESET) - np.round(t / T_RESET)) > 1e-6]
    after = T_RESET * np.arange(1, 8) + 1e-3
    tt = np.sort(np.concatenate([t, after]))
    tr = run(m, 40.0, tt, method)
    assert tr.stats.method == method
    exact = 10.0 * np.exp(-K * np.mod(tt, T_RESET))
    assert np.max(np.abs(tr["x"] - exact) / exact) < rel
    assert np.asarray(tr["x"])[np.isin(tt, after)] == pytest.approx(10.0 * np.exp(-K * 1e-3), rel=rel)


@pytest.mark.parametrize("method", [*ENGINES[1:], "LSODA", "RK45", "DOP853", "BDF"])
def test_a_trigger_of_time_alone_is_seen_under_long_steps(method):
    """x' = 0 lets the step size grow without bound; the trigger sin(10 t) < 0 turns true at
    t = (2 k + 1) pi / 10: eight times in [0, 5] (SBML suite case 00936's difficulty), each firing counted
    (RK45 and DOP853 counted 7 when only the ends of their steps were checked; the compiled and batch engines
    check the quarters of every step when a comparison depends on t explicitly)."""
    m = Model("clock", states=[State("x", 1.0), State("n", 0.0)], processes=[Process("none", "0*x", consumes="x")],
              events=[Event("count", "sin(10*t) < 0", {"n": "n + 1"})], check_units=False, check_positivity=False)
    t = np.array([0.5, 1.0, 2.0, 5.0])
    assert list(run(m, 5.0, t, method)["n"]) == [1.0, 2.0, 3.0, 8.0]


# ------------------------------------------------------------------------------------ bounds and errors
@pytest.mark.parametrize("method", ENGINES[1:])
def test_saw_reset_times_are_located_to_the_ulp_and_the_loop_is_bounded(method):
    """y' = 1, reset to 0 when y >= 0.1 (on the compiled and batch engines): ten resets by t = 1.05, y = 0.05;
    more executions than Solver.max_switches stop with TOO_MANY_SWITCHES (a SolverError with the time), a step
    budget with TOO_MANY_STEPS."""
    m = Model("saw", states=[State("y", 0.0)], processes=[Process("grow", "1", produces="y")],
              events=[Event("reset", "y >= 0.1", {"y": 0})], check_units=False, check_positivity=False)
    assert run(m, 1.05, [1.05], method, max_switches=50)["y"][0] == pytest.approx(0.05, abs=1e-12)
    with pytest.raises(SolverError) as err:
        run(m, 10.0, [10.0], method, max_switches=5)
    assert err.value.status == SolverStatus.TOO_MANY_SWITCHES
    assert "Solver.max_switches" in str(err.value)
    assert err.value.t == pytest.approx(0.6, abs=1e-12)  # the sixth execution
    with pytest.raises(SolverError) as err:
        run(m, 10.0, [10.0], method, max_switches=10_000, max_steps=30)
    assert err.value.status == SolverStatus.TOO_MANY_STEPS


def test_an_event_that_keeps_firing_stops_with_too_many_switches():
    m = Model("saw", states=[State("y", 0.0)], processes=[Process("grow", "1", produces="y")],
              events=[Event("reset", "y >= 0.1", {"y": 0})], check_units=False, check_positivity=False)
    with pytest.raises(SolverError) as err:
        run(m, 10.0, [10.0], max_switches=5)
    assert err.value.status == SolverStatus.TOO_MANY_SWITCHES
    y = run(m, 1.05, [1.05], max_switches=50)["y"][0]
    assert y == pytest.approx(0.05, abs=1e-7)  # ten resets, located to the ulp


@pytest.mark.parametrize("method", ENGINES)
def test_negative_non_finite_assignments_and_delays_are_named_errors(method):
    with pytest.raises(NegativeStateError, match="event 'bad'"):
        run(decay(Event("bad", "t >= 1", {"x": -1})), 2.0, [2.0], method=method)
    with pytest.raises(SolverError, match="event 'bad'.*non-finite") as err:
        # x(10) < 1: log of a negative
        run(decay(Event("bad", "t >= 10", {"x": "log(x - 1)"})), 11.0, [11.0], method=method)
    assert err.value.status == SolverStatus.NON_FINITE
    with pytest.raises(SolverError, match="delay"):
        run(decay(Event("bad", "t >= 1", {"x": 1}, delay="1 - 2*k - x")), 2.0, [2.0], method=method)


@pytest.mark.parametrize("method", ENGINES[1:])
@pytest.mark.parametrize("feature", sorted(FEATURES))
def test_compiled_and_batch_engines_agree_with_lsoda_on_every_event_feature(feature, method):
    """Both engines at rtol 1e-12: outputs agree to 1e-8 relative (each is about 1e-10 from the exact
    trajectory; the event times are located to a few ulps by both)."""
    m, schedule = FEATURES[feature]
    t = np.linspace(0.0, 12.0, 97)
    ref = run(m, 12.0, t, "LSODA", rtol=1e-12, atol=1e-14, schedule=schedule)
    ours = run(m, 12.0, t, method, rtol=1e-12, atol=1e-14, schedule=schedule)
    assert ours.stats.method == method
    for name in ref.state_names:
        a, b = np.asarray(ours[name]), np.asarray(ref[name])
        assert np.all(np.abs(a - b) <= 1e-8 * np.maximum(np.abs(b), 1.0)), (name, np.max(np.abs(a - b)))


@pytest.mark.parametrize("method", ENGINES[1:])
def test_event_outputs_hold_the_values_after_the_events_and_doses_as_on_lsoda(method):
    """Outputs at an event time and at a dose time that fires an event hold the values after both."""
    m, schedule = FEATURES["doses_at_event_times"]
    t = [0.0, 2.0, 3.0, 6.5]
    ours = run(m, 7.0, t, method, schedule=schedule)["x"]
    ref = run(m, 7.0, t, "LSODA", schedule=schedule)["x"]
    assert ours == pytest.approx(ref, rel=1e-9)
    assert ours[0] == pytest.approx(2.0, rel=1e-12)  # 4 mg / 2 L at t = 0, no event (x < 0.5 was true)


@pytest.mark.parametrize("method", ENGINES[1:])
def test_failed_patient_is_reported_by_row_and_the_others_kept(method):
    """A negative assignment in one patient: NegativeStateError naming the event; with on_error='nan' only
    that row is NaN (the engines that run a batch of patients in one call)."""
    m = decay(Event("bad", "x < 2", {"x": "x - 3*k"}))
    params = np.array([[0.5], [1.0]])  # patient 1: 2 - 3 < 0
    with pytest.raises(NegativeStateError, match="event 'bad'"):
        td.simulate_batch(m, params, t_end=5.0, t_eval=[5.0], method=method)
    b = td.simulate_batch(m, np.array([[0.1], [1.0]]), t_end=5.0, t_eval=[5.0], method=method, on_error="nan")
    assert np.isfinite(b.values[0]).all() and np.isnan(b.values[1]).all()


@pytest.mark.parametrize("method", ENGINES[1:])
@pytest.mark.parametrize("case", suite_event_cases())
def test_suite_event_case_passes_on_the_compiled_and_batch_engines(case, method):
    """The SBML Test Suite's event cases copied in tests/data, the suite's way, on ``"dopri5"`` and ``"batch"``."""
    pytest.importorskip("libsbml")
    from test_sbml_suite import simulate_case

    sim, expected, st = simulate_case(case, method=method)
    bound = st["absolute"] + st["relative"] * np.abs(expected)
    assert np.all(np.abs(sim - expected) <= bound), np.max(np.abs(sim - expected) / bound)


def test_specification_errors_name_the_event():
    with pytest.raises(SpecificationError, match="event 'e'.*'k', which is a parameter"):
        decay(Event("e", "x < 1", {"k": 1}))
    with pytest.raises(UnknownNameError):
        decay(Event("e", "z < 1", {"x": 1}))
    with pytest.raises(SpecificationError, match="condition"):
        Event("e", "x + 1", {"x": 1})
    with pytest.raises(SpecificationError, match="delay must be >= 0"):
        decay(Event("e", "x < 1", {"x": 1}, delay=-1))
    with pytest.raises(TypeError, match="persistent"):
        Event("e", "x < 1", {"x": 1}, persistent="yes")
    with pytest.raises(SpecificationError, match="duplicate event"):
        decay(Event("e", "x < 1", {"x": 1}), Event("e", "x < 2", {"x": 1}))
    with pytest.raises(Exception, match="only direct calls|not allowed|Unsafe"):
        Event("e", "__import__('os').system('true')", {"x": 1})


def test_models_with_events_keep_them_through_replace_and_refuse_what_would_drop_them(tmp_path):
    m = decay(Event("reset", "x < 1", {"x": 10}))
    assert m.with_defaults(k=1.0).events == m.events
    assert m != decay()
    assert td.compose("c", m).events == m.events  # compose and model files keep events (test_compose_events.py)
    with pytest.raises(SpecificationError, match="events"):
        td.analysis.sensitivity(m, readout="x", t_end=1.0)


# ------------------------------------------------------------------------------------ SBML
def combination():
    return (td.Schedule.every("targeted", 200, interval=1, count=60)
            + td.Schedule.every("anti_pd1", 200, interval=21, count=5)
            + td.Schedule.infusion("priming", 5.0, 10, 40))


@pytest.mark.slow
def test_export_with_a_schedule_imports_back_to_the_same_trajectory():
    """The schedule's events read back: the re-imported model without schedule matches the original with it
    (measured 1.4e-10 relative at rtol 1e-12)."""
    pytest.importorskip("libsbml")
    model = td.models.tumor_immune_tme()
    with pytest.warns(TumordynWarning, match="with_schedule=True") as caught:  # as it reads, by default
        back = td.io.from_sbml(td.io.to_sbml(model, combination()))
    assert not [w for w in caught if "ignored" in str(w.message)]  # no "annotation ignored"
    assert len(back.events) == 62 and "u_priming" in back.states.names
    t = np.linspace(0.0, 120.0, 121)
    solver = td.Solver(method="LSODA", rtol=1e-12, atol=1e-16)
    a = td.simulate(model, combination(), t_end=120.0, t_eval=t, solver=solver)
    b = td.simulate(back, t_end=120.0, t_eval=t, solver=solver)
    for name in model.states.names:
        scale = np.maximum(np.abs(a[name]), 1e-6 * np.max(np.abs(a[name])))
        assert np.max(np.abs(a[name] - b[name]) / scale) <= 1e-8, name


def test_short_schedule_round_trip_and_model_events_export():
    pytest.importorskip("libsbml")
    m = Model("pk", states=[State("C", 0.0, unit="mg/L")], parameters=[Parameter("k", K, unit="1/day"),
              Parameter("V", 2.0, unit="L")], processes=[Process("elim", "k*C", consumes="C")],
              drugs=[td.Drug("d", compartment="C", volume="V")],
              events=[Event("cap", "C > 1.5", {"C": "C/2"}, priority=1)])
    sched = td.Schedule([td.Dose(1.0, "d", 4.0), td.Dose(3.0, "d", 4.0)])
    with pytest.warns(TumordynWarning, match="with_schedule=True"):  # imported as it reads (test_sbml_roundtrip.py)
        back = td.io.from_sbml(td.io.to_sbml(m, sched))
    assert {e.name for e in back.events} == {"schedule_0", "schedule_1", "cap"}
    t = np.linspace(0.0, 6.0, 61)
    solver = td.Solver(method="LSODA", rtol=1e-12, atol=1e-14)
    a = td.simulate(m, sched, t_end=6.0, t_eval=t, solver=solver)["C"]
    b = td.simulate(back, t_end=6.0, t_eval=t, solver=solver)["C"]
    assert np.allclose(a, b, rtol=1e-8, atol=1e-12)
    assert a.max() <= 1.5 + 1e-9 and a[-1] > 0  # the cap halved every dose above 1.5 mg/L


def test_sbml_event_constructs_are_imported():
    """A parameter or a species reference's stoichiometry assigned by an event becomes a state."""
    pytest.importorskip("libsbml")

    m = Model("pk", states=[State("C", 1.0)], parameters=[Parameter("k", K)],
              processes=[Process("elim", "k*C", consumes="C")], check_units=False)
    xml = td.io.to_sbml(m)
    ev = """<listOfEvents><event id="switch" useValuesFromTriggerTime="true">
      <trigger initialValue="true" persistent="true"><math xmlns="http://www.w3.org/1998/Math/MathML">
      <apply><geq/><csymbol encoding="text" definitionURL="http://www.sbml.org/sbml/symbols/time"> t </csymbol>
      <cn> 1 </cn></apply></math></trigger><listOfEventAssignments><eventAssignment variable="k">
      <math xmlns="http://www.w3.org/1998/Math/MathML"><cn> 2 </cn></math></eventAssignment>
      </listOfEventAssignments></event></listOfEvents></model>"""
    back = td.io.from_sbml(xml.replace("</model>", ev))
    assert "k" in back.states.names and back.events[0].name == "switch"
    x = td.simulate(back, t_end=2.0, t_eval=[2.0], solver=td.Solver(rtol=1e-10, atol=1e-12))["C"][0]
    assert x == pytest.approx(math.exp(-K - 2.0), rel=1e-8)
    bad = xml.replace('<speciesReference species="C"', '<speciesReference id="sr" species="C"').replace(
        "</model>", ev.replace('variable="k"', 'variable="sr"'))
    assert 'id="sr"' in bad
    # the stoichiometry an event assigns is a state with no process: dC/dt = -sr*k*C, sr 1 -> 2 at t = 1
    vs = td.io.from_sbml(bad)
    assert "sr" in vs.states.names
    y = td.simulate(vs, t_end=2.0, t_eval=[2.0], solver=td.Solver(rtol=1e-10, atol=1e-12))["C"][0]
    assert y == pytest.approx(math.exp(-K - 2.0 * K), rel=1e-8)
    with pytest.raises(td.errors.SpecificationError, match="nowhere"):  # an undeclared target is named
        td.io.from_sbml(bad.replace('variable="sr"', 'variable="nowhere"'))


def test_libroadrunner_agrees_on_a_model_with_state_and_time_events():
    """Logistic tumour with a resection when it passes 80 % of K (state trigger, priority) and a delayed
    therapy switch (time trigger, delay), exported to SBML: tumordyn and libRoadRunner agree within 1e-4."""
    roadrunner = pytest.importorskip("roadrunner")
    m = Model("resection", states=[State("N", 1e8, unit="cells"), State("r", 0.1, unit="1/day", nonnegative=False)],
              parameters=[Parameter("K", 1e10, unit="cells")],
              processes=[Process("growth", "r*N*(1 - N/K)", produces="N"),
                         Process("therapy", "0.05*N*piecewise(1, t > 40, 0)", consumes="N")],
              events=[Event("resect", "N > 0.8*K", {"N": "0.05*N"}, priority=2),
                      Event("slower", "t >= 30", {"r": "r*0.7"}, delay=5.0)],
              check_units=False)
    t = np.linspace(0.0, 200.0, 41)
    ours = td.simulate(m, t_end=200.0, t_eval=t, solver=td.Solver(method="LSODA", rtol=1e-10, atol=1e-6))
    rr = roadrunner.RoadRunner(td.io.to_sbml(m))
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = 1e-6
    rr.timeCourseSelections = ["time", "N", "r"]
    res = rr.simulate(0.0, 200.0, len(t))
    assert np.allclose(res[:, 0], t)
    # libRoadRunner itself is 1.8e-5 off the closed form of the logistic phase at these settings
    assert np.max(np.abs(res[:, 1] - ours["N"]) / ours["N"]) < 1e-4
    assert np.allclose(res[:, 2], ours["r"], rtol=1e-12)
    assert ours["N"].max() < 0.8e10 + 1 and ours["N"][-1] > 0  # resected at least once
