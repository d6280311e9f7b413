"""Schedule files (tumordyn.io.save_schedule / load_schedule): round trip, hand-written rows, refusals."""

from __future__ import annotations

import json

import pytest

import tumordyn as td
from tumordyn.errors import LimitExceededError, ModelFileError, SpecificationError


@pytest.mark.parametrize("ext", ["toml", "json"])
def test_round_trip_is_exact(tmp_path, ext):
    s = (td.regimens.standard_regimens(t_end=120)["priming>targeted+anti-pd1"]
         + td.Schedule.infusion("priming", 3.5, 1.25, 2.0) + td.Schedule.at("x", 0.7, [0.1, 1 / 3]))
    path = td.io.save_schedule(s, tmp_path / f"s.{ext}")
    back = td.io.load_schedule(path)
    assert back == s
    assert [(d.time, d.drug, d.amount) for d in back.doses] == [(d.time, d.drug, d.amount) for d in s.doses]
    assert td.io.schedule_from_dict(td.io.schedule_to_dict(s)) == s
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"s.{ext}"]  # no temporary file left


def test_hand_written_every_rows_expand_like_schedule_every(tmp_path):
    path = tmp_path / "h.toml"
    path.write_text('[[every]]\ndrug = "targeted"\namount = 100\ninterval = 7\nuntil = 28\n\n'
                    '[[every]]\ndrug = "anti_pd1"\namount = 200\ninterval = 21\nstart = 3\ncount = 2\n\n'
                    '[[doses]]\ntime = 1\ndrug = "x"\namount = 5\n')
    expected = (td.Schedule.every("targeted", 100, 7, until=28) + td.Schedule.every("anti_pd1", 200, 21, start=3, count=2)
                + td.Schedule.at("x", 5, [1]))
    assert td.io.load_schedule(path) == expected
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    assert td.io.load_schedule(empty) == td.Schedule()


@pytest.mark.parametrize("text, message", [
    ('[[doses]]\ntime = 1\ndrug = "x"\namount = -1\n', "doses[0]: Dose of 'x' at t=1: amount must be"),
    ('[[doses]]\ntime = 1\ndrug = "x"\n', "doses[0]: missing field(s) ['amount']"),
    ('[[doses]]\ntime = 1\ndrug = "x"\namount = 1\nunit = "mg"\n', "unknown field(s) ['unit']"),
    ('[[doses]]\ntime = "1"\ndrug = "x"\namount = 1\n', "doses[0] time must be a number"),
    ('[[infusions]]\ndrug = "x"\nstart = 2\nend = 1\nrate = 1\n', "infusions[0]"),
    ('[[every]]\ndrug = "x"\namount = 1\ninterval = 7\n', "every[0]"),
    ('[[every]]\ndrug = "x"\namount = 1\ninterval = 7\ncount = 2.5\n', "count must be a whole number"),
    ('format_version = 2\n', "format_version must be 1"),
    ('regimens = []\n', "unknown top-level field(s) ['regimens']"),
    ('[[doses]\n', "malformed TOML"),
])
def test_bad_files_are_refused_naming_file_and_row(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SpecificationError) as exc:
        td.io.load_schedule(path)
    assert str(path) in str(exc.value) and message in str(exc.value)


def test_json_duplicates_nan_and_limits(tmp_path):
    dup = tmp_path / "dup.json"
    dup.write_text('{"doses": [], "doses": []}')
    with pytest.raises(ModelFileError, match="duplicated key"):
        td.io.load_schedule(dup)
    nan = tmp_path / "nan.json"
    nan.write_text('{"doses": [{"time": NaN, "drug": "x", "amount": 1}]}')
    with pytest.raises(ModelFileError, match="NaN is not valid JSON"):
        td.io.load_schedule(nan)
    many = tmp_path / "many.json"
    many.write_text(json.dumps({"doses": [{"time": float(i), "drug": "x", "amount": 1.0} for i in range(50)]}))
    assert len(td.io.load_schedule(many)) == 50
    with pytest.raises(LimitExceededError, match="max_entries"):
        td.io.load_schedule(many, limits={"max_entries": 10})
    with pytest.raises(LimitExceededError, match="max_bytes"):
        td.io.load_schedule(many, limits={"max_bytes": 100})
    with pytest.raises(ModelFileError, match="is a directory"):
        td.io.load_schedule(tmp_path, format="json")


def test_rules_are_not_stored_and_nothing_is_written(tmp_path):
    reg = td.regimens.standard_regimens(t_end=56)["adaptive-targeted"]
    assert reg.rules
    with pytest.raises(TypeError, match="adaptive rule"):
        td.io.save_schedule(reg, tmp_path / "r.toml")
    with pytest.raises(SpecificationError, match="use .toml or .json"):
        td.io.save_schedule(reg.schedule, tmp_path / "r.yaml")
    assert not list(tmp_path.iterdir())
    old = tmp_path / "s.toml"
    old.write_text("old")
    with pytest.raises(TypeError):
        td.io.save_schedule("not a schedule", old)  # type: ignore[arg-type]
    assert old.read_text() == "old"
