"""compose() keeps the events of the models it combines (issue 16): renamed with a namespace as the
copy's names are, an identical event kept once, two different events with one name a named error."""

from __future__ import annotations

import numpy as np
import pytest

import tumordyn as td
from tumordyn.errors import SpecificationError
from tumordyn.spec import Event, Model, Module, Parameter, Process, State


def growth(*events: Event) -> Model:
    return Model("growth", states=[State("N", 1.0)], parameters=[Parameter("r", 0.5), Parameter("K", 100.0)],
                 processes=[Process("birth", "r*N*(1 - N/K)", produces="N")], events=events, check_units=False)


RESECT = Event("resect", "N > 0.8*K", {"N": "0.05*N"}, priority=2, delay="0.5", persistent=False,
               initial_value=False, use_values_from_trigger_time=False, description="resection")


def test_compose_keeps_the_events_of_a_model_and_simulates_like_it():
    m = growth(RESECT)
    drug = Module("clearance", states=(State("C", 2.0),), parameters=(Parameter("ke", 0.3),),
                  processes=(Process("elim", "ke*C", consumes="C"),))
    c = td.compose("with_drug", m, drug, check_units=False)
    assert c.events == (RESECT,)
    solver = td.Solver(method="LSODA", rtol=1e-10, atol=1e-12)
    t = np.linspace(0.0, 30.0, 31)
    a = td.simulate(m, t_end=30.0, t_eval=t, solver=solver)["N"]
    b = td.simulate(c, t_end=30.0, t_eval=t, solver=solver)["N"]
    assert np.min(a) < 10.0  # the resection happened
    np.testing.assert_allclose(b, a, rtol=1e-9)


def test_namespaced_copies_rename_their_events_as_their_names():
    m = growth(RESECT)
    c = td.compose("two", namespaces={"liver": m, "lung": m}, shared=["r"], check_units=False)
    names = [e.name for e in c.events]
    assert names == ["liver_resect", "lung_resect"]
    liver = c.events[0]
    assert str(liver.trigger) == "liver_N > 0.8*liver_K"
    assert [(k, str(v)) for k, v in liver.assignments] == [("liver_N", "0.05*liver_N")]
    assert (liver.priority, liver.delay, liver.persistent, liver.initial_value,
            liver.use_values_from_trigger_time) == (RESECT.priority, RESECT.delay, False, False, False)
    assert liver.description == "resection [liver]"
    # each copy follows the single model (the shared growth rate is the same)
    solver = td.Solver(method="LSODA", rtol=1e-10, atol=1e-12)
    t = np.linspace(0.0, 30.0, 31)
    one = td.simulate(m, t_end=30.0, t_eval=t, solver=solver)["N"]
    both = td.simulate(c, t_end=30.0, t_eval=t, solver=solver)
    np.testing.assert_allclose(both["liver_N"], one, rtol=1e-8)
    np.testing.assert_allclose(both["lung_N"], one, rtol=1e-8)


def test_an_identical_event_is_kept_once_and_a_conflict_is_a_named_error():
    m = growth(RESECT)
    assert td.compose("same", m, m, check_units=False).events == (RESECT,)
    other = growth(Event("resect", "N > 0.5*K", {"N": "0.1*N"}))
    other = other.replace(name="other")
    with pytest.raises(SpecificationError, match=r"event 'resect' of model 'other' differs from event 'resect' "
                                                 r"of model 'growth'"):
        td.compose("clash", m, other, check_units=False)
    # namespaces remove the clash
    c = td.compose("ok", namespaces={"a": m, "b": other}, check_units=False)
    assert [e.name for e in c.events] == ["a_resect", "b_resect"]
