"""SBML round trip with events (issue 16): a model exported with a schedule, and a model with its own
events, come back with their drugs, bounds, units, descriptions and events; the schedule is recovered
with ``from_sbml(..., with_schedule=True)``; an edited document is imported as it reads, with a warning;
libRoadRunner agrees with the export."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tumordyn as td
from tumordyn.errors import TumordynWarning
from tumordyn.spec import Event

pytest.importorskip("libsbml")

T_END = 40.0


def schedule() -> td.Schedule:
    """Boluses of two drugs (a double dose on day 8, a zero dose) and two infusions of the third."""
    return (td.Schedule.every("targeted", 200, interval=2, count=15)
            + td.Schedule([td.Dose(8.0, "targeted", 100.0), td.Dose(21.0, "anti_pd1", 0.0)])
            + td.Schedule.every("anti_pd1", 200, interval=14, count=3)
            + td.Schedule.infusion("priming", 5.0, 4, 12) + td.Schedule.infusion("priming", 2.5, 20, 30))


def with_events(model: td.Model) -> td.Model:
    return model.replace(events=[
        Event("resect", "S > 2.5e9 and t > 1", {"S": "0.2*S", "R": "0.2*R"}, priority=2, description="surgery"),
        Event("boost", "t >= 15", {"E": "2*E"}, delay=3.1, use_values_from_trigger_time=False),
    ])


def quiet_import(xml: str, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error", TumordynWarning)  # no "annotation ignored"
        return td.io.from_sbml(xml, **kw)


def run(model: td.Model, sched: td.Schedule | None, t: np.ndarray) -> td.Trajectory:
    """LSODA at rtol 1e-12, absolute tolerances 1e-6 of the default model's (the same for the plain import)."""
    ref = {s.name: s.atol for s in td.models.tumor_immune_tme().states}
    atol = {s.name: 1e-6 * ref.get(s.name, s.atol) for s in model.states}
    solver = td.Solver(method="LSODA", rtol=1e-12, atol=atol)
    return td.simulate(model, sched, t_end=T_END, t_eval=t, solver=solver)


def assert_same(a: td.Trajectory, b: td.Trajectory, names, rtol: float) -> None:
    for name in names:
        scale = np.maximum(np.abs(a[name]), 1e-6 * np.max(np.abs(a[name])))
        assert np.max(np.abs(a[name] - b[name]) / scale) <= rtol, name


@pytest.mark.parametrize("own_events", [False, True], ids=["schedule", "schedule+model_events"])
def test_export_with_a_schedule_comes_back_with_drugs_units_events_and_its_schedule(own_events):
    model = td.models.tumor_immune_tme()
    model = with_events(model) if own_events else model
    sched = schedule()
    xml = td.io.to_sbml(model, sched, params={"r_S": 0.05})
    back, sched_back = quiet_import(xml, with_schedule=True)
    expected = model.with_defaults(r_S=0.05)
    assert back == expected  # every field: drugs, bounds, units, descriptions, events (sympy trees)
    assert back.drugs.names == model.drugs.names and back.events == model.events
    assert back.parameters["K"].bounds == model.parameters["K"].bounds and back.parameters["K"].unit == "cells"
    assert back.states["S"].description == model.states["S"].description
    assert sched_back == sched
    t = np.linspace(0.0, T_END, 81)
    a = run(expected, sched, t)
    b = run(back, sched_back, t)
    assert_same(a, b, model.states.names, 1e-8)
    # the document read as it is (doses as events, no schedule) is the same trajectory too
    with pytest.warns(TumordynWarning, match="with_schedule=True"):
        plain = td.io.from_sbml(xml)
    assert plain.drugs.names == () and "u_priming" in plain.states.names
    assert len(plain.events) == len(back.events) + len({d.time for d in sched.doses} | {
        x for i in sched.infusions for x in (i.start, i.end)})
    assert_same(a, run(plain, None, t), model.states.names, 1e-8)
    if own_events:
        assert np.any(np.diff(a["S"]) < -0.5 * a["S"][:-1])  # the resection fired


def test_a_model_with_its_own_events_round_trips_through_from_sbml():
    model = with_events(td.models.tumor_immune_tme())
    back = quiet_import(td.io.to_sbml(model))
    assert back == model
    back2, sched = quiet_import(td.io.to_sbml(model), with_schedule=True)
    assert back2 == model and sched == td.Schedule()


def test_an_edited_event_ignores_the_annotation_with_a_warning():
    model = with_events(td.models.tumor_immune_tme())
    xml = td.io.to_sbml(model, schedule())
    edited = xml.replace("<cn> 2500000000 </cn>", "<cn> 3000000000 </cn>", 1)
    assert edited != xml
    with pytest.warns(TumordynWarning, match="annotation ignored.*differs from the export"):
        back, sched = td.io.from_sbml(edited, with_schedule=True)
    assert back.drugs.names == () and sched == td.Schedule()  # the plain import of what the document says
    trig = next(e for e in back.events if e.name == "resect").trigger
    assert "3000000000" in str(trig) or "3.0e+9" in str(trig) or "3000000000.0" in str(trig)
    with pytest.raises(TypeError, match="with_schedule"):
        td.io.from_sbml(xml, with_schedule="yes")


def test_libroadrunner_agrees_with_the_export_of_a_model_with_events_and_a_schedule():
    roadrunner = pytest.importorskip("roadrunner")
    model = with_events(td.models.tumor_immune_tme())
    sched = schedule()
    xml = td.io.to_sbml(model, sched)
    back, sched_back = quiet_import(xml, with_schedule=True)
    t = np.linspace(0.0, T_END, 21)
    ours = run(back, sched_back, t)
    rr = roadrunner.RoadRunner(xml)
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = 1e-13
    rr.timeCourseSelections = ["time", *model.states.names]
    res = rr.simulate(0.0, T_END, len(t))
    assert np.allclose(res[:, 0], t)
    for k, name in enumerate(model.states.names, start=1):
        rel = np.abs(res[:, k] - ours[name]) / np.maximum(np.abs(ours[name]), 1e-6)
        assert rel.max() < 1e-6, (name, rel.max())  # measured 9.1e-8 (C_priming, decayed), cells 2.5e-9
