"""Model files (TOML/JSON) hold a model's events (issue 16): every Event field written and read back
to an equal model that simulates identically; malformed or hostile event rows are named errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

import tumordyn as td
from tumordyn.errors import SpecificationError, UnsafeExpressionError
from tumordyn.spec import Event, Model, Parameter, Process, State


def model() -> Model:
    return Model(
        "resection", states=[State("N", 1.0, "cells"), State("r", 0.5, "1/day", nonnegative=True)],
        parameters=[Parameter("K", 100.0, unit="cells")],
        processes=[Process("birth", "r*N*(1 - N/K)", produces="N")],
        events=[Event("resect", "N > 0.8*K and not (t < 1)", {"N": "0.05*N"}, priority="2 + N/K",
                      delay="0.25", persistent=False, initial_value=False, use_values_from_trigger_time=False,
                      description="surgery"),
                Event("slower", "t >= 12.5", {"r": "0.7*r", "N": "N"}, description="resistance")],
        check_units=False)


@pytest.mark.parametrize("ext", ["toml", "json"])
def test_events_round_trip_through_model_files(tmp_path, ext):
    m = model()
    path = tmp_path / f"m.{ext}"
    td.io.save_model(m, path)
    back = td.io.load_model(path)
    assert back == m and back.events == m.events
    solver = td.Solver(method="LSODA", rtol=1e-10, atol=1e-12)
    t = np.linspace(0.0, 40.0, 81)
    a = td.simulate(m, t_end=40.0, t_eval=t, solver=solver)
    b = td.simulate(back, t_end=40.0, t_eval=t, solver=solver)
    assert np.min(a["N"][t > 5]) < 20.0  # the resection happened
    np.testing.assert_array_equal(a["N"], b["N"])


def test_model_to_dict_writes_every_event_field_and_omits_unset_ones():
    rows = td.io.model_to_dict(model())["events"]
    assert set(rows[0]) == {"name", "trigger", "assignments", "delay", "priority", "persistent", "initial_value",
                            "use_values_from_trigger_time", "description"}
    assert "delay" not in rows[1] and "priority" not in rows[1]
    assert rows[1]["assignments"] == {"r": "0.7*r", "N": "N"}
    assert "events" not in td.io.model_to_dict(model().replace(events=()))  # files without events unchanged


@pytest.mark.parametrize("edit, error, match", [
    (lambda e: e.pop("trigger"), SpecificationError, r"events\[0\] \('resect'\): missing 'trigger'"),
    (lambda e: e.update(when="t > 1"), SpecificationError, r"events\[0\]: unknown field\(s\) \['when'\]"),
    (lambda e: e.update(persistent="false"), SpecificationError, r"persistent"),
    (lambda e: e.update(trigger="__import__('os').system('true') > 0"), UnsafeExpressionError, "resect"),
    (lambda e: e.update(trigger="N + 1"), SpecificationError, r"trigger: .N \+ 1. is used as a condition"),
    (lambda e: e.update(assignments={"K": "1"}), SpecificationError, "assignment to 'K', which is a parameter"),
    (lambda e: e.update(assignments=["N"]), SpecificationError, "assignments must be a table"),
    (lambda e: e.update(delay="-1"), SpecificationError, "delay must be >= 0"),
])
def test_malformed_event_rows_are_named_errors(tmp_path, edit, error, match):
    data = td.io.model_to_dict(model())
    edit(data["events"][0])
    path = tmp_path / "m.json"
    path.write_text(json.dumps(data))
    with pytest.raises(error, match=match):
        td.io.load_model(path)


def test_event_expressions_obey_the_file_limits(tmp_path):
    data = td.io.model_to_dict(model())
    data["events"][0]["trigger"] = "N > " + "+".join(["K"] * 400)
    path = tmp_path / "m.json"
    path.write_text(json.dumps(data))
    assert len(td.io.load_model(path).events) == 2  # within the default limits
    with pytest.raises(UnsafeExpressionError, match=r"events\[0\] \('resect'\) trigger: .*\(max_length\)"):
        td.io.load_model(path, limits={"max_length": 200})
