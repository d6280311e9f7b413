"""Model files and text expressions under hostile or careless input (issue 18).

Contracts: every input ends in a model or a named tumordyn error (a SpecificationError, i.e. a
ValueError, naming the file, entry or construct) within a bounded time and memory; nothing read is
silently read wrong; save_model never loses or corrupts a file and writes only what loads back.
"""

from __future__ import annotations

import json
import os
import stat
import time
import warnings

import pytest
from scipy.integrate import solve_ivp
import sympy as sp

import tumordyn as td
from tumordyn.errors import (
    LimitExceededError,
    ModelFileError,
    SpecificationError,
    SymbolicBudgetWarning,
    TumordynError,
    UnsafeExpressionError,
)
from tumordyn.io import FILE_LIMITS, load_model, model_to_dict, save_model
from tumordyn.spec import Model, Parameter, Process, State, parse_expression
from tumordyn import Solver, simulate

MODEL = td.models.kuznetsov1994()


def doc() -> dict:
    return json.loads(json.dumps(model_to_dict(MODEL)))


def write_json(path, data) -> str:
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def refused(path, error=SpecificationError, match=None, seconds=5.0, **kw):
    t0 = time.perf_counter()
    with pytest.raises(error, match=match) as info:
        load_model(path, **kw)
    assert time.perf_counter() - t0 < seconds
    return info.value


# ------------------------------------------------------------------------------------------ only regular files
@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_devices_behind_a_symlink_are_refused_before_reading(tmp_path):
    for dev in ("/dev/zero", "/dev/urandom"):
        link = tmp_path / f"{os.path.basename(dev)}.toml"
        link.symlink_to(dev)
        err = refused(link, ModelFileError, "is a device; model files are read only from regular files", 1.0)
        assert err.path == str(link)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "m.json"
    os.mkfifo(fifo)
    refused(fifo, ModelFileError, "is a FIFO", 1.0)


def test_a_directory_is_refused(tmp_path):
    d = tmp_path / "m.toml"
    d.mkdir()
    refused(d, ModelFileError, "is a directory")


def test_size_limit_is_checked_before_reading_and_is_configurable(tmp_path):
    p = tmp_path / "m.toml"
    save_model(MODEL, p)
    size = p.stat().st_size
    err = refused(p, LimitExceededError, f"{size} bytes, more than the limit of 100 \\(limit max_bytes\\)",
                  limits={"max_bytes": 100})
    assert err.limit == "max_bytes"
    assert load_model(p, limits={"max_bytes": size}) == MODEL
    big = tmp_path / "big.json"
    with open(big, "wb") as f:  # a sparse file: 1 GiB by stat, refused without reading
        f.truncate(2**30)
    refused(big, LimitExceededError, "limit max_bytes", 1.0)


def test_limits_are_validated():
    with pytest.raises(KeyError, match="max_bytse"):
        load_model("x.toml", limits={"max_bytse": 1})
    with pytest.raises(TypeError, match="positive int"):
        load_model("x.toml", limits={"max_bytes": -1})
    assert set(FILE_LIMITS) >= {"max_bytes", "max_nesting", "max_entries", "max_length", "max_depth", "max_nodes",
                                "max_function_args"}


# ------------------------------------------------------------------------------------------ named errors
def test_binary_and_invalid_utf8_files_name_the_offset(tmp_path):
    p = tmp_path / "m.toml"
    p.write_bytes(b'name = "ok"\n\xff\xfe\x00garbage')
    refused(p, ModelFileError, r"not UTF-8 text \(byte b'\\xff' at offset 12, line 2")


@pytest.mark.parametrize("fmt", ["json", "toml"])
def test_deep_nesting_is_refused_before_parsing(tmp_path, fmt):
    p = tmp_path / f"m.{fmt}"
    p.write_text(("[" * 100_000 + "]" * 100_000) if fmt == "json" else "a = " + "[" * 100_000 + "]" * 100_000)
    refused(p, LimitExceededError, "nested deeper than 8 levels", 1.0)


def test_dotted_keys_count_as_nesting_in_toml(tmp_path):
    p = tmp_path / "m.toml"
    p.write_text("a" + ".a" * 1_000_000 + " = 1\n")  # tomllib is quadratic on this
    refused(p, LimitExceededError, "dotted keys", 1.0)


def test_too_many_entries_are_refused_before_parsing(tmp_path):
    p = tmp_path / "m.toml"
    p.write_text('format_version = 1\nname = "x"\n' + '[[states]]\nname = "N"\n' * 20_000)
    refused(p, LimitExceededError, "limit max_entries", 2.0)


def test_huge_integer_names_the_field(tmp_path):
    p = tmp_path / "m.toml"
    save_model(MODEL, p)
    p.write_text(p.read_text().replace("initial = 320000.0", "initial = 1" + "0" * 400, 1))
    refused(p, SpecificationError, r"states\[0\] \('E'\) initial: the integer 1000.* is too large for a float")


def test_empty_model_name_is_a_named_error(tmp_path):
    d = doc()
    d["name"] = ""
    refused(write_json(tmp_path / "m.json", d), SpecificationError, "name must be a non-empty string")


def test_a_wide_sum_is_accepted_it_is_not_deep(tmp_path):
    terms = 4000
    e = parse_expression("+".join(["x"] * terms))
    assert e == terms * sp.Symbol("x")
    t0 = time.perf_counter()
    e = parse_expression("-".join(f"a{i % 50}*b/c" for i in range(2000)))  # products inside a long sum
    assert time.perf_counter() - t0 < 3.0
    assert len(e.args) == 50
    assert parse_expression("1+" + "x*" * 3000 + "y") == 1 + sp.Symbol("x") ** 3000 * sp.Symbol("y")


def test_a_long_chain_reads_as_the_parser_would_read_a_short_one():
    short = "a - b/c*d - -e + f**-g/h"
    padded = short + " + 0*(" + "+".join(["x"] * 600) + ")"  # long enough to take the wide path
    assert parse_expression(padded) == parse_expression(short)


def test_max_of_many_arguments_is_refused_quickly():
    t0 = time.perf_counter()
    with pytest.raises(UnsafeExpressionError, match="Max\\(\\) has 99 arguments.*max_function_args"):
        parse_expression("Max(" + ",".join(f"x**{i}" for i in range(2, 101)) + ")")
    with pytest.warns(SymbolicBudgetWarning, match="max_minmax_pairs"):  # nested: flattened until the budget
        nested = parse_expression("max(" * 40 + "x" + "".join(f", x**{i})" for i in range(2, 42)))
    assert float(nested.subs(sp.Symbol("x"), 1.5)) == pytest.approx(1.5**41)
    assert time.perf_counter() - t0 < 8.0  # bounded (sympy 1.12 compares a pair in up to ~6 ms)
    assert parse_expression("max(x, y, 2)", max_function_args=3) == sp.Max(sp.Symbol("x"), sp.Symbol("y"), 2)


def test_min_max_beyond_the_pair_budget_is_kept_as_written_with_a_warning_and_simulates_correctly():
    # many small calls together: beyond max_minmax_pairs sympy's pairwise canonicalisation is skipped (a warning),
    # the value is unchanged and the model builds and simulates in bounded time
    text = "+".join(f"max(a*N**{i % 5 + 1}, b*N, {i % 7}*a)" for i in range(400))
    t0 = time.perf_counter()
    with pytest.warns(SymbolicBudgetWarning, match="max_minmax_pairs"):
        e = parse_expression(text)
    x = {sp.Symbol("a"): 0.013, sp.Symbol("b"): 0.021, sp.Symbol("N"): 0.77}
    expected = sum(max(0.013 * 0.77 ** (i % 5 + 1), 0.021 * 0.77, (i % 7) * 0.013) for i in range(400))
    assert float(e.xreplace(x)) == pytest.approx(expected, rel=1e-12)
    with pytest.warns(SymbolicBudgetWarning):
        m = Model("x", [State("N", 1.0)], [Parameter("a", 0.01), Parameter("b", 0.02)],
                  [Process("d", f"N*({text})/1000", consumes="N")])
    got = simulate(m, t_end=1.0, solver=Solver(rtol=1e-10, atol=1e-12)).to_dataframe()["N"].iloc[-1]

    def rhs(_t, y):
        n = y[0]
        return [-n * sum(max(0.01 * n ** (i % 5 + 1), 0.02 * n, (i % 7) * 0.01) for i in range(400)) / 1000]

    ref = solve_ivp(rhs, (0.0, 1.0), [1.0], method="DOP853", rtol=1e-12, atol=1e-14).y[0, -1]
    assert got == pytest.approx(ref, rel=1e-8)
    assert time.perf_counter() - t0 < 60.0  # bounded; about 3 s here


def test_positivity_proof_beyond_budget_falls_back_to_a_numeric_check_with_a_warning():
    terms = "+".join(f"exp(a{i}*N)*log(1 + c{i})" for i in range(200))
    params = [Parameter(f"a{i}", 1.0) for i in range(200)] + [Parameter(f"c{i}", 1.0) for i in range(200)]
    t0 = time.perf_counter()
    with pytest.warns(SymbolicBudgetWarning, match="checked numerically"):
        with pytest.raises(SpecificationError, match="does not vanish when N = 0"):
            Model("x", [State("N", 1.0)], params, [Process("d", f"N + {terms}", consumes="N")])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SymbolicBudgetWarning)
        ok = Model("x", [State("N", 1.0)], params, [Process("d", f"N*({terms})", consumes="N")])
        # vanishes at N = 0 only after cancellation, beyond the budget: accepted numerically
        Model("x", [State("N", 1.0)], params,
              [Process("d", f"N + ({terms})*sin_free - ({terms})*sin_free".replace("sin_free", "c0"),
                       consumes="N")])
    assert time.perf_counter() - t0 < 30.0
    assert len(ok.processes) == 1


# ------------------------------------------------------------------------------------------ no silent wrong answers
@pytest.mark.parametrize("text, match", [
    ("(-8)**(1/3)*N", "complex"),
    ("(-8.0)**0.5*N", "complex|imaginary"),
    ("1e308*10*N", "overflows a float"),
    ("2**1000*2**100*N", "overflows a float"),
    ("sqrt(-4)*N", "imaginary"),
])
def test_complex_and_overflowing_constants_are_refused(text, match):
    with pytest.raises(SpecificationError, match=match):
        parse_expression(text)
    built = sp.parse_expr(text, local_dict={"N": sp.Symbol("N")})  # test-only: trusted text
    with pytest.raises(SpecificationError, match=match):
        Process("p", built, consumes="N")


def test_fullwidth_lookalikes_are_refused_not_bound_to_the_ascii_name(tmp_path):
    with pytest.raises(SpecificationError, match="NFKC.*'K'"):
        parse_expression("r*N*(1 - N/\uff2b)")
    with pytest.raises(SpecificationError, match="NFKC"):
        State("\uff2e")
    d = doc()
    d["processes"][0]["rate"] = d["processes"][0]["rate"].replace("s", "\uff53")
    refused(write_json(tmp_path / "a.json", d), SpecificationError, r"processes\[0\].*NFKC")
    d = doc()
    d["states"][0]["name"] = "\uff25"
    refused(write_json(tmp_path / "b.json", d), SpecificationError, r"states\[0\].*NFKC.*use 'E'")
    assert parse_expression("\u03b1*x") == sp.Symbol("\u03b1") * sp.Symbol("x")  # NFKC-normal non-ASCII is fine


@pytest.mark.parametrize("value", ["false", 0, 1, "true", None])
def test_booleans_must_be_booleans(tmp_path, value):
    d = doc()
    d["states"][0]["nonnegative"] = value
    refused(write_json(tmp_path / "m.json", d), SpecificationError, r"states\[0\].*nonnegative must be true or false")


def test_json_duplicated_keys_are_refused(tmp_path):
    p = tmp_path / "m.json"
    text = json.dumps(doc())
    p.write_text(text.replace('"name": "kuznetsov1994"', '"name": "other", "name": "kuznetsov1994"', 1))
    refused(p, ModelFileError, "duplicated key 'name'")
    q = tmp_path / "m.toml"
    save_model(MODEL, q)
    q.write_text(q.read_text().replace('name = "kuznetsov1994"', 'name = "a"\nname = "kuznetsov1994"', 1))
    refused(q, ModelFileError, "malformed TOML")


# ------------------------------------------------------------------------------------------ no lost data
@pytest.mark.parametrize("ext", ["toml", "json"])
def test_a_failed_save_leaves_the_old_file_intact(tmp_path, ext):
    p = tmp_path / f"m.{ext}"
    save_model(MODEL, p)
    before = p.read_bytes()
    with pytest.raises(ModelFileError, match="description has a character that is not valid Unicode.*nothing"):
        save_model(MODEL.replace(description="lone \ud800 surrogate"), p)
    assert p.read_bytes() == before
    assert [f.name for f in tmp_path.iterdir()] == [p.name]  # no temporary file left


@pytest.mark.parametrize("ext", ["toml", "json"])
@pytest.mark.parametrize("text", ["del \x7f", "ctrl \x01\x1f\x00", "tab\tquote\"back\\slash", "\u00e9\u4e2d\U0001f600",
                                  "\u2028line sep", "'''", '"""'])
def test_what_save_writes_loads_back(tmp_path, ext, text):
    m = MODEL.replace(description=text)
    p = save_model(m, tmp_path / f"m.{ext}")
    assert load_model(p) == m and load_model(p).description == text


def test_non_ascii_keys_are_quoted_in_toml(tmp_path):
    m = Model("nonascii", [State("\u03b1", 1.0)], [Parameter("k", 1.0)],
              [Process("decay", "k*\u03b1", consumes={"\u03b1": 1.0})])
    p = save_model(m, tmp_path / "m.toml")
    assert '{"\u03b1" = 1.0}' in p.read_text(encoding="utf-8")
    assert load_model(p) == m


def test_save_is_atomic_keeps_the_mode_and_refuses_non_regular_targets(tmp_path):
    p = tmp_path / "m.toml"
    p.write_text("old")
    os.chmod(p, 0o640)
    save_model(MODEL, p)
    assert load_model(p) == MODEL
    assert stat.S_IMODE(p.stat().st_mode) == 0o640
    d = tmp_path / "d.toml"
    d.mkdir()
    with pytest.raises(ModelFileError, match="not a regular file"):
        save_model(MODEL, d)


def test_a_save_that_would_not_load_back_under_the_limits_is_refused(tmp_path):
    p = tmp_path / "m.toml"
    with pytest.raises(LimitExceededError, match="max_bytes"):
        save_model(MODEL, p, limits={"max_bytes": 200})
    assert not p.exists()


def test_every_error_is_a_tumordyn_error_subclassing_the_builtin():
    assert issubclass(ModelFileError, SpecificationError) and issubclass(ModelFileError, ValueError)
    assert issubclass(LimitExceededError, ModelFileError) and issubclass(LimitExceededError, TumordynError)
    assert issubclass(SymbolicBudgetWarning, UserWarning)


# ------------------------------------------------------------------------------------------ fuzzing
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FUZZ = settings(max_examples=max(40, settings.default.max_examples * 2), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

NAMED = (SpecificationError, KeyError)  # UnknownNameError is a KeyError; every other refusal a SpecificationError


def load_bytes(tmp_path, raw: bytes, ext: str):
    p = tmp_path / f"fuzz.{ext}"
    p.write_bytes(raw)
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SymbolicBudgetWarning)
            out = load_model(p)
    except NAMED as exc:
        out = exc
        if isinstance(exc, KeyError):
            assert isinstance(exc, TumordynError), repr(exc)
    assert time.perf_counter() - t0 < 10.0, raw[:200]
    return out


def _good_files() -> dict[str, bytes]:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        return {ext: save_model(MODEL, os.path.join(d, f"seed.{ext}")).read_bytes() for ext in ("toml", "json")}


GOOD = _good_files()

hostile_values = st.one_of(
    st.integers(min_value=-(10**500), max_value=10**500),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["", "inf", "-inf", "nan", "false", "true", "\uff2b", "K\u0301", "__import__('os')", "(-8)**(1/3)",
                     "1e308*10", "x" * 30_000, "(" * 300 + "x" + ")" * 300, "+".join(["N"] * 5000),
                     "Max(" + ",".join(f"E**{i}" for i in range(60)) + ")", "\ud800", "\x00", "\x7f"]),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


@FUZZ
@given(raw=st.binary(max_size=2000), ext=st.sampled_from(["toml", "json"]))
def test_fuzz_random_bytes(tmp_path, raw, ext):
    load_bytes(tmp_path, raw, ext)


@FUZZ
@given(data=st.data(), ext=st.sampled_from(["toml", "json"]))
def test_fuzz_mutated_good_files(tmp_path, data, ext):
    raw = bytearray(GOOD[ext])
    for _ in range(data.draw(st.integers(1, 5))):
        i = data.draw(st.integers(0, len(raw) - 1))
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "dup"]))
        if op == "flip":
            raw[i] = data.draw(st.integers(0, 255))
        elif op == "insert":
            raw[i:i] = data.draw(st.sampled_from([b"[", b"{", b"\"", b"'", b"=", b".", b"\n", b"\xff", b"\x00",
                                                  b"1" * 400, "\uff2b".encode(), b"[[states]]\n"]))
        elif op == "delete":
            del raw[i:i + data.draw(st.integers(1, 20))]
        else:
            j = data.draw(st.integers(i, min(len(raw), i + 200)))
            raw[j:j] = raw[i:j]
    load_bytes(tmp_path, bytes(raw), ext)


@FUZZ
@given(data=st.data())
def test_fuzz_hostile_values_in_a_valid_document(tmp_path, data):
    d = doc()
    for _ in range(data.draw(st.integers(1, 3))):
        section = data.draw(st.sampled_from(["states", "parameters", "processes", "observables", "top"]))
        value = data.draw(hostile_values)
        if section == "top":
            key = data.draw(st.sampled_from(["name", "description", "check_positivity", "format_version"]))
            d[key] = value
        elif d.get(section):
            row = data.draw(st.sampled_from(d[section]))
            key = data.draw(st.sampled_from(sorted(row) + ["name"]))
            row[key] = value
    try:
        raw = json.dumps(d, ensure_ascii=data.draw(st.booleans())).encode("utf-8", "surrogatepass")
    except (ValueError, OverflowError):
        return
    load_bytes(tmp_path, raw, "json")


@FUZZ
@given(depth=st.integers(1, 3000), opener=st.sampled_from(["[", "{\"a\":", "[{\"b\": "]))
def test_fuzz_deep_json(tmp_path, depth, opener):
    closer = {"[": "]", "{\"a\":": "}", "[{\"b\": ": "}]"}[opener]
    out = load_bytes(tmp_path, (opener * depth + "1" + closer * depth).encode(), "json")
    assert isinstance(out, SpecificationError)


@FUZZ
@given(tokens=st.lists(st.sampled_from(list("xyE+-*/()., 0123456789e") + ["**", "max(", "exp(", "\uff2b", "1e308"]),
                      max_size=150))
def test_fuzz_expressions_end_in_an_expression_or_a_named_error(tokens):
    text = "".join(tokens)
    t0 = time.perf_counter()
    try:
        parse_expression(text)
    except SpecificationError:
        pass
    assert time.perf_counter() - t0 < 5.0, text


@pytest.mark.parametrize("text", ["-" * 10_000 + "x", "x**" * 5_000 + "x", "exp(" * 150 + "x" + ")" * 150,
                                  "(" * 150 + "x" + ")" * 150])
def test_deep_expressions_are_named_errors_not_recursion_errors(text):
    with pytest.raises(UnsafeExpressionError, match="nested|max_depth|brackets"):
        parse_expression(text)


def test_log_floor_validation_and_draws():
    from tumordyn.testing import parameters

    with pytest.raises(SpecificationError, match="log_floor"):
        parameters(MODEL, around_defaults=None, log_floor=0.0)
    with pytest.raises(SpecificationError, match="log_floor"):
        parameters(MODEL, around_defaults=None, log_floor=True)
