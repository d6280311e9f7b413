"""Model files (TOML/JSON): exact round trips and refusal of hostile or malformed input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import sympy as sp

import tumordyn as td
from tumordyn.errors import SpecificationError, UnsafeExpressionError
from tumordyn.io import load_model, model_from_dict, model_to_dict, save_model

BUILTIN = {
    "default": td.models.tumor_immune_tme,
    "default_gompertz_switch_stress": lambda: td.models.tumor_immune_tme(
        growth="gompertz", drug_induced_switching=True, stress_inhibitor=True
    ),
    "kuznetsov1994": td.models.kuznetsov1994,
    "zhang2017": td.models.zhang2017,
    "logistic": td.models.logistic_growth,
    "gompertz": td.models.gompertz_growth,
    "pk": td.models.one_compartment_pk,
}


@pytest.fixture(scope="module")
def default_model() -> td.Model:
    return td.models.tumor_immune_tme()


@pytest.mark.parametrize("fmt", ["toml", "json"])
@pytest.mark.parametrize("key", sorted(BUILTIN))
def test_builtin_models_round_trip_to_identical_models(tmp_path, key, fmt):
    model = BUILTIN[key]()
    path = save_model(model, tmp_path / f"model.{fmt}")
    back = load_model(path)
    assert back == model
    assert hash(back) == hash(model)
    # expressions are identical, not just equivalent
    for p, q in zip(model.processes, back.processes):
        assert p.rate == q.rate and sp.srepr(p.rate) == sp.srepr(q.rate)
    for o, q in zip(model.observables, back.observables):
        assert sp.srepr(o.expr) == sp.srepr(q.expr)
    # saving again gives the same text (canonical output)
    assert save_model(back, tmp_path / f"again.{fmt}").read_text() == path.read_text()


@pytest.mark.parametrize("fmt", ["toml", "json"])
def test_round_trip_gives_bitwise_identical_trajectories(tmp_path, default_model, fmt):
    sched = td.Schedule.every("targeted", 150, interval=1, count=20) + td.Schedule.every(
        "anti_pd1", 200, interval=21, count=2
    ) + td.Schedule.infusion("priming", 3.0, 5, 15)
    back = load_model(save_model(default_model, tmp_path / f"m.{fmt}"))
    a = td.simulate(default_model, sched, t_end=40.0)
    b = td.simulate(back, sched, t_end=40.0)
    assert np.array_equal(a.y, b.y)
    assert np.array_equal(a["tumor_diameter"], b["tumor_diameter"])


def test_float_precision_survives(tmp_path):
    # 0.1 + 0.2 needs 17 significant digits; sympy's default printer keeps only 15
    k = 0.1 + 0.2
    m = td.Model(
        "decay",
        states=[td.State("x", 1.0)],
        parameters=[td.Parameter("k", k, (0.0, math.inf))],
        processes=[td.Process("loss", sp.Float(k) * sp.Symbol("k") * sp.Symbol("x"), consumes="x")],
        observables=[td.Observable("area", sp.pi * sp.Symbol("x") ** sp.Rational(2, 3))],
    )
    for fmt in ("toml", "json"):
        back = load_model(save_model(m, tmp_path / f"m.{fmt}"))
        assert back == m
        assert back.parameters["k"].default == k
        assert back.parameters["k"].bounds == (0.0, math.inf)


def test_direct_input_drug_and_non_negative_flag_round_trip(tmp_path):
    m = td.models.zhang2017()
    assert m.drugs["abiraterone"].compartment is None
    back = load_model(save_model(m, tmp_path / "z.toml"))
    assert back.drugs["abiraterone"].compartment is None
    m2 = td.Model("free", states=[td.State("y", -1.0, nonnegative=False)], parameters=[td.Parameter("a", 1.0)],
                  processes=[td.Process("drift", "a", produces="y")], check_positivity=False)
    assert load_model(save_model(m2, tmp_path / "f.json")) == m2


HOSTILE = [
    ("__import__('os').system('echo pwned')", "dunder"),
    ("os.system('echo pwned')", "attribute access"),
    ("(lambda: 1)()", "lambda"),
    ("x.__class__", "dunder"),
    ("open('/etc/passwd')", "open"),
    ("eval('1')", "eval"),
    ("__builtins__", "dunder"),
    ("[x for x in ()]", "comprehension"),
    ("x if x else 1", "conditional"),
    ("'text'", "constant"),
    ("f(x=1)", "f"),
    ("exp(x=1)", "keyword"),
    ("x[0]", "subscript"),
    ("x < 1", "comparison"),
]


@pytest.mark.parametrize(("text", "word"), HOSTILE)
@pytest.mark.parametrize("fmt", ["toml", "json"])
def test_hostile_expressions_are_refused_without_running(tmp_path, text, word, fmt):
    marker = tmp_path / "pwned"
    text = text.replace("echo pwned", f"touch {marker}")
    data = model_to_dict(td.models.logistic_growth())
    data["processes"][0]["rate"] = text
    path = tmp_path / f"bad.{fmt}"
    if fmt == "json":
        path.write_text(json.dumps(data))
    else:
        save_model(td.models.logistic_growth(), path)
        body = path.read_text()
        original = model_to_dict(td.models.logistic_growth())["processes"][0]["rate"]
        path.write_text(body.replace(json.dumps(original), json.dumps(text), 1))
    with pytest.raises(UnsafeExpressionError) as info:
        load_model(path)
    msg = str(info.value).lower()
    assert word.split()[0] in msg or "not allowed" in msg
    assert "process" in msg  # names where the expression was
    assert not marker.exists()


def test_hostile_observable_is_refused(tmp_path):
    data = model_to_dict(td.models.kuznetsov1994())
    data["observables"][0]["expr"] = "T.__class__.__bases__"
    with pytest.raises(UnsafeExpressionError, match="observable"):
        model_from_dict(data)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d.pop("format_version"), "format_version"),
        (lambda d: d.__setitem__("format_version", 99), "format_version"),
        (lambda d: d.pop("states"), "states"),
        (lambda d: d.__setitem__("extra", 1), "unknown top-level"),
        (lambda d: d["states"][0].__setitem__("colour", "red"), r"states\[0\].*unknown field"),
        (lambda d: d["parameters"][0].__setitem__("default", "1e3"), "default must be a number"),
        (lambda d: d["parameters"][0].__setitem__("bounds", [0]), "bounds"),
        (lambda d: d["parameters"][0].__setitem__("default", -5.0), "outside its bounds"),
        (lambda d: d["processes"][0].pop("rate"), "missing 'rate'"),
        (lambda d: d["processes"][0].__setitem__("rate", "r*N*(1 - N/"), "cannot parse"),
        (lambda d: d["processes"][0].__setitem__("rate", "r*N*undefined_thing"), "undefined_thing"),
        (lambda d: d["processes"][0].__setitem__("consumes", ["N"]), "table"),
        (lambda d: d["states"].append({"name": "N", "initial": 1.0}), "duplicate"),
        (lambda d: d.__setitem__("states", {"name": "N"}), "list of tables"),
        (lambda d: d.__setitem__("check_positivity", "yes"), "check_positivity"),
    ],
)
def test_malformed_documents_give_clear_errors(mutate, match):
    data = model_to_dict(td.models.logistic_growth())
    mutate(data)
    with pytest.raises((SpecificationError, KeyError), match=match):
        model_from_dict(data)


def test_malformed_files(tmp_path):
    bad_toml = tmp_path / "m.toml"
    bad_toml.write_text("format_version = 1\nname = \n")
    with pytest.raises(SpecificationError, match="malformed TOML"):
        load_model(bad_toml)
    bad_json = tmp_path / "m.json"
    bad_json.write_text("{\"format_version\": 1, ")
    with pytest.raises(SpecificationError, match="malformed JSON"):
        load_model(bad_json)
    nan_json = tmp_path / "n.json"
    nan_json.write_text('{"format_version": 1, "name": "x", "states": [{"name": "x", "initial": NaN}]}')
    with pytest.raises(SpecificationError, match="NaN"):
        load_model(nan_json)
    with pytest.raises(SpecificationError, match="extension"):
        save_model(td.models.logistic_growth(), tmp_path / "m.yaml")
    with pytest.raises(SpecificationError, match="extension"):
        load_model(tmp_path / "m.txt")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.toml")


def test_positivity_is_rechecked_on_load():
    data = model_to_dict(td.models.logistic_growth())
    data["processes"][1]["rate"] = "r/K"  # consumes N at a rate that does not vanish at N = 0
    with pytest.raises(SpecificationError, match="structural positivity"):
        model_from_dict(data)


def test_unwritable_expression_is_refused(tmp_path):
    m = td.Model("erf", states=[td.State("x", 1.0, nonnegative=False)],
                 processes=[td.Process("osc", sp.erf(sp.Symbol("t")), produces="x")])
    with pytest.raises(SpecificationError, match="cannot be written"):
        save_model(m, tmp_path / "trig.toml")
