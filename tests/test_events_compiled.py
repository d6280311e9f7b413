"""Model events on the compiled engine ``"dopri5"`` (issue 16), what is its own: batches, `auto`'s choice, the
kernel's capability checks. The reset model's closed form, the bounded loops, triggers of time under long steps,
the named errors, agreement with LSODA on every event feature, a failed patient of a batch and the SBML Test
Suite's event cases copied in tests/data are checked in test_events.py on every engine. The semantics (queue,
priorities, persistence) are the scipy engines' (:class:`tumordyn.solve._events.EventQueue`); what is checked
here is the kernel's part: locating the triggers' changes and resuming."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tumordyn as td
from tumordyn.errors import SolverError, SolverStatus
from tumordyn.numerics import compile_model
from tumordyn.spec import Event, Model, Parameter, Process, State

from event_models import K, T_RESET, decay, runner

pytest.importorskip("numba")

run = runner("dopri5")


# ------------------------------------------------------------------------------------ one patient


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
