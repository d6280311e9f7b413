"""Model events (issue 16): the Event specification, its named errors, SBML Level 3 semantics on the scipy
engines checked against closed forms, the batch engine executing them too, SBML round trip and
libRoadRunner."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tumordyn as td
from tumordyn.errors import (NegativeStateError, SolverError, SolverStatus, SpecificationError, TumordynWarning,
                             UnknownNameError)
from tumordyn.spec import Event, Model, Parameter, Process, State

from event_models import K, T_RESET, decay, runner

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


# ------------------------------------------------------------------------------------ bounds and errors
def test_an_event_that_keeps_firing_stops_with_too_many_switches():
    m = Model("saw", states=[State("y", 0.0)], processes=[Process("grow", "1", produces="y")],
              events=[Event("reset", "y >= 0.1", {"y": 0})], check_units=False, check_positivity=False)
    with pytest.raises(SolverError) as err:
        run(m, 10.0, [10.0], max_switches=5)
    assert err.value.status == SolverStatus.TOO_MANY_SWITCHES
    y = run(m, 1.05, [1.05], max_switches=50)["y"][0]
    assert y == pytest.approx(0.05, abs=1e-7)  # ten resets, located to the ulp


def test_negative_assignment_to_a_non_negative_state_is_a_named_error():
    m = decay(Event("bad", "t >= 1", {"x": -1}))
    with pytest.raises(NegativeStateError, match="event 'bad'"):
        run(m, 2.0, [2.0])


def test_non_finite_assignment_and_delay_are_named_errors():
    with pytest.raises(SolverError, match="event 'bad'.*non-finite") as err:
        run(decay(Event("bad", "t >= 10", {"x": "log(x - 1)"})), 11.0, [11.0])  # x(10) < 1: log of a negative
    assert err.value.status == SolverStatus.NON_FINITE
    with pytest.raises(SolverError, match="delay"):
        run(decay(Event("bad", "t >= 1", {"x": 1}, delay="1 - 2*k - x")), 2.0, [2.0])


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
