"""Event models shared by the event tests (``test_events.py``, most of them for every engine through
:data:`ENGINES`; ``test_events_compiled.py`` and ``test_events_batch.py`` for what is the compiled and batch
engines' own): the reset model with its closed form, the models that exercise each event feature (against LSODA
at rtol 1e-12), a runner, the engines and the SBML Test Suite's event cases in tests/data.
Not a test module (no ``test_`` prefix); the test modules import it as pytest puts ``tests/`` on the path."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

import tumordyn as td
from tumordyn.spec import Event, Model, Parameter, Process, State

#: The engines that handle doses and run model events: a scipy one, the compiled one (needs numba), the batch one.
ENGINES = ["LSODA", pytest.param("dopri5", marks=pytest.mark.skipif(importlib.util.find_spec("numba") is None,
                                                                      reason="the compiled engine needs numba")),
           "batch"]

K = 0.5
T_RESET = math.log(10.0) / K  # x = 10 exp(-K t) reaches 1


def decay(*events: Event, x0: float = 10.0, extra_states: tuple[State, ...] = ()) -> Model:
    """x' = -k x (and extra constant states), with events."""
    return Model("decay", states=[State("x", x0), *extra_states], parameters=[Parameter("k", K)],
                 processes=[Process("loss", "k*x", consumes="x")], events=events, check_units=False)


def runner(default_method: str) -> Callable[..., td.Trajectory]:
    """``run(model, t_end, t_eval, method=default_method, rtol=1e-10, atol=1e-12, schedule=None, **solver)``:
    ``td.simulate`` with those solver settings."""

    def run(model: Model, t_end: float, t_eval: Any, method: str = default_method, rtol: float = 1e-10,
            atol: float = 1e-12, schedule: td.Schedule | None = None, **kw: Any) -> td.Trajectory:
        solver = td.Solver(method=method, rtol=rtol, atol=atol, **kw)
        return td.simulate(model, schedule, t_end=t_end, t_eval=np.asarray(t_eval, dtype=float), solver=solver)

    return run


# every event feature (model, schedule), for the engines' agreement with LSODA at rtol 1e-12
FLAG = State("flag", 0.0, nonnegative=False)
FEATURES = {
    "delay": (decay(Event("reset", "x < 1", {"x": "x + 9"}, delay="k")), None),
    "delay_from_trigger_time": (decay(Event("double", "x < 3", {"x": "2*x"}, delay=1.0,
                                            use_values_from_trigger_time=True)), None),
    "delay_from_execution_time": (decay(Event("double", "x < 3", {"x": "2*x"}, delay=1.0,
                                              use_values_from_trigger_time=False)), None),
    "non_persistent": (decay(Event("bump", "t > 1 and t < 1.5", {"x": "x + 5"}, delay=1.0, persistent=False),
                             Event("bump2", "x < 2 and t > 3", {"x": "x + 1"}, delay=0.7, persistent=False)),
                       None),
    "persistent": (decay(Event("bump", "t > 1 and t < 1.5", {"x": "x + 5"}, delay=1.0, persistent=True)), None),
    "initial_value_false": (decay(Event("start", "t >= 0", {"x": "2*x"}, initial_value=False)), None),
    "priorities_and_cascade": (decay(Event("double", "x < 4", {"x": "2*x", "flag": "flag + 1"}, priority=2.0,
                                           use_values_from_trigger_time=False),
                                     Event("add", "x < 4", {"x": "x + 1"}, priority=1.0,
                                           use_values_from_trigger_time=False),
                                     Event("cascade", "flag > 0.5", {"flag": 0, "x": "x*1.1"}),
                                     extra_states=(FLAG,)), None),
    "doses_at_event_times": (
        Model("pk", states=[State("x", 0.0)], parameters=[Parameter("k", K)],
              processes=[Process("loss", "k*x", consumes="x")],
              drugs=[td.Drug("d", compartment="x", volume=2.0)],
              events=[Event("halve", "t >= 3", {"x": "x/2"}), Event("top_up", "x < 0.5", {"x": "x + 3"}),
                      Event("on_dose", "x > 3.5", {"x": "x - 1"})],
              check_units=False),
        td.Schedule([td.Dose(0.0, "d", 4.0), td.Dose(2.0, "d", 4.0), td.Dose(3.0, "d", 4.0),
                     td.Dose(6.5, "d", 8.0)])),
}


def suite_event_cases() -> list[str]:
    """The SBML Test Suite cases copied in ``tests/data/sbml`` whose models have events."""
    root = Path(__file__).parent / "data" / "sbml"
    return sorted(p.name for p in root.iterdir() if p.is_dir()
                  and any("listOfEvents" in x.read_text() for x in p.glob(f"{p.name}-sbml-l*.xml")))
