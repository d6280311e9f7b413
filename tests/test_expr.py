"""The safe expression parser: hostile text is refused, allowed math parses exactly."""

from __future__ import annotations

import math
import time

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from tumordyn.spec._expr import ALLOWED_FUNCTIONS, check_name, parse_expression
from tumordyn.errors import SpecificationError, UnknownNameError, UnsafeExpressionError

x, y, k = sp.symbols("x y k")

HOSTILE = [
    "__import__('os').system('ls')",
    "().__class__",
    "().__class__.__bases__[0].__subclasses__()",
    "x.real",
    "exp.__globals__",
    "lambda: 1",
    "[1][0]",
    "x[0]",
    "'a'",
    "b'a'",
    "f'{x}'",
    "exp(x=1)",
    "open('f')",
    "eval('1')",
    "exec('1')",
    "getattr(x, 'real')",
    "x < 1",
    "x == y",
    "1 if x else 2",
    "x and y",
    "not x",
    "~x",
    "x // 2",
    "x % 2",
    "x @ y",
    "x << 1",
    "[x]",
    "(x, y)",
    "{x}",
    "{x: 1}",
    "[a for a in x]",
    "(a for a in x)",
    "(z := 1)",
    "exp(*x)",
    "True",
    "None",
    "1j",
    "...",
    "exp",
    "_x",
    "a.b(c)",
    "max(x, key=y)",
    "exp(x, y)",
    "min()",
    "2**2**2**2**2**2",  # would hang computing an astronomically large integer
    "9**9**9",
    "(" * 300 + "x" + ")" * 300,  # huge nesting
    "exp(" * 150 + "x" + ")" * 150,
    "-" * 500 + "x",
    "x" + "+x" * 10_000,  # too long / too deep for the parser
]


@pytest.mark.parametrize("text", HOSTILE, ids=lambda s: s[:30])
def test_hostile_input_is_refused(text: str) -> None:
    with pytest.raises(UnsafeExpressionError):
        parse_expression(text)


def test_refusal_names_the_construct() -> None:
    with pytest.raises(UnsafeExpressionError, match="attribute access"):
        parse_expression("x.real")
    with pytest.raises(UnsafeExpressionError, match="lambda"):
        parse_expression("lambda: 1")
    with pytest.raises(UnsafeExpressionError, match="'open'.*allowed functions"):
        parse_expression("open('f')")
    with pytest.raises(UnsafeExpressionError, match="keyword arguments"):
        parse_expression("exp(x=1)")
    with pytest.raises(UnsafeExpressionError, match="comparison"):
        parse_expression("x < 1")
    with pytest.raises(UnsafeExpressionError, match="conditional"):
        parse_expression("1 if x else 2")
    with pytest.raises(UnsafeExpressionError, match="f-string"):
        parse_expression("f'{x}'")
    with pytest.raises(UnsafeExpressionError, match="^rate of p: "):
        parse_expression("x.real", where="rate of p")


def test_unsafe_is_a_specification_error() -> None:
    assert issubclass(UnsafeExpressionError, SpecificationError)
    assert issubclass(UnsafeExpressionError, ValueError)


def test_hostile_input_never_runs(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for text in ["open('pwned', 'w')", "__import__('pathlib').Path('pwned').touch()"]:
        with pytest.raises(UnsafeExpressionError):
            parse_expression(text)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    "text",
    ["x;y", "import os", "x = 1", "x +", "", "x\x00", "9" * 5000, "x²"],
    ids=["semicolon", "import", "assign", "dangling", "empty", "nul", "huge-int", "unicode"],
)
def test_syntax_errors_are_specification_errors(text: str) -> None:
    with pytest.raises(SpecificationError, match="cannot parse"):
        parse_expression(text)


@pytest.mark.parametrize("text", ["1e400", "1/0", "x/0", "0**-1", "sqrt(-1)", "inf", "nan", "oo", "zoo"])
def test_non_finite_or_complex_constants_are_refused(text: str) -> None:
    with pytest.raises(SpecificationError):
        parse_expression(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("k*x/(h + x)", k * x / (sp.Symbol("h") + x)),
        ("x**2 - 3*y + 1.5", x**2 - 3 * y + sp.Float(1.5)),
        ("-x + +y", -x + y),
        ("exp(-k*t)", sp.exp(-k * sp.Symbol("t"))),
        ("log(x) + ln(y)", sp.log(x) + sp.log(y)),
        ("sqrt(x)", sp.sqrt(x)),
        ("abs(x) + Abs(y)", sp.Abs(x) + sp.Abs(y)),
        ("min(x, y, k)", sp.Min(x, y, k)),
        ("Max(x, 0)", sp.Max(x, 0)),
        ("tanh(x)", sp.tanh(x)),
        ("pi*x", sp.pi * x),
        ("2**10", sp.Integer(1024)),
        ("1/2", sp.Rational(1, 2)),
        ("x" + "+x" * 999, 1000 * x),  # long sums are not "deep"
        ("x" + "*x" * 299, x**300),
        ("E*I", sp.Symbol("E") * sp.Symbol("I")),  # plain symbols, not sympy's constants
    ],
)
def test_allowed_math(text: str, expected: sp.Expr) -> None:
    assert parse_expression(text) == expected


def test_names_are_plain_symbols() -> None:
    e = parse_expression("S + N + Q + beta + gamma + lambda_")
    assert all(type(s) is sp.Symbol for s in e.free_symbols)
    assert {s.name for s in e.free_symbols} == {"S", "N", "Q", "beta", "gamma", "lambda_"}


def test_allowed_names() -> None:
    assert parse_expression("k*x*t", allowed_names=["k", "x"]) == k * x * sp.Symbol("t")
    with pytest.raises(UnknownNameError, match="did you mean 'k'"):
        parse_expression("kk*x", allowed_names=["k", "x"])


def test_not_a_string() -> None:
    with pytest.raises(TypeError):
        parse_expression(3)  # type: ignore[arg-type]


# -- round trip: random expression trees are printed by sympy and parsed back ---------------
_leaf = st.one_of(
    st.sampled_from([x, y, k, sp.Symbol("S"), sp.Symbol("r_S")]),
    st.integers(min_value=1, max_value=50).map(sp.Integer),
    st.tuples(st.integers(1, 9), st.integers(2, 9)).map(lambda pq: sp.Rational(*pq)),
)


def _extend(children: st.SearchStrategy[sp.Expr]) -> st.SearchStrategy[sp.Expr]:
    return st.one_of(
        st.tuples(children, children).map(lambda ab: ab[0] + ab[1]),
        st.tuples(children, children).map(lambda ab: ab[0] - ab[1]),
        st.tuples(children, children).map(lambda ab: ab[0] * ab[1]),
        st.tuples(children, children).map(lambda ab: ab[0] / ab[1]),
        st.tuples(children, st.integers(-3, 3)).map(lambda ab: ab[0] ** ab[1]),
        children.map(sp.exp),
        children.map(sp.log),
        children.map(sp.sqrt),
        children.map(sp.tanh),
        children.map(sp.Abs),
        st.tuples(children, children).map(lambda ab: sp.Min(*ab)),
        st.tuples(children, children).map(lambda ab: sp.Max(*ab)),
        children.map(lambda a: -a),
    )


_exprs = st.recursive(_leaf, _extend, max_leaves=12)


@settings(deadline=None)
@given(_exprs)
def test_round_trip_of_printed_expressions(expr: sp.Expr) -> None:
    # constants sympy prints as names (E, I, zoo, nan...) are not part of the text language
    if expr.has(sp.E, sp.I, sp.zoo, sp.nan, sp.oo, -sp.oo) or not isinstance(expr, sp.Expr):
        return
    # nor are functions sympy's automatic simplification brings in, e.g. log(Abs(exp(x))) -> re(x)
    if any(f.func.__name__ not in ALLOWED_FUNCTIONS for f in expr.atoms(sp.Function)):
        return
    # a complex constant (sympy 1.12 keeps sqrt(log(sqrt(1/2))) unevaluated, without I) is refused by name
    if any(a.is_number and a.is_extended_real is False for a in sp.preorder_traversal(expr)):
        with pytest.raises(SpecificationError, match="imaginary|complex"):
            parse_expression(str(expr))
        return
    # a constant whose exponential overflows a float is refused by name (next test)
    if any(f.args[0].is_number and not float(f.args[0]) <= 709.78 for f in expr.atoms(sp.exp)):
        with pytest.raises(SpecificationError, match="overflows a float"):
            parse_expression(str(expr))
        return
    assert parse_expression(str(expr)) == expr


@pytest.mark.parametrize("text", ["exp(729)", "exp(exp(exp(exp(10.0))))", "exp(exp(exp(exp(10))))", "exp(1e308)",
                                  "2*exp(3*exp(6.0))"])
def test_exponential_of_a_constant_beyond_the_float_range_is_refused_quickly(text: str) -> None:
    t0 = time.perf_counter()
    with pytest.raises(SpecificationError, match=r"exp\(.*\) overflows a float"):
        parse_expression(text)
    assert time.perf_counter() - t0 < 2.0  # sympy evaluates nested exponentials of numbers without bound
    assert float(parse_expression("exp(709)")) == pytest.approx(math.exp(709))


# -- names ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["class", "lambda", "None", "__x", "_x", "t", "exp", "pi", "min", "nan", "1x", "a-b", "", "a b"])
def test_bad_names(name: str) -> None:
    with pytest.raises(SpecificationError, match=repr(name).replace("(", r"\(")):
        check_name(name, "state")


def test_name_must_be_a_string() -> None:
    with pytest.raises(TypeError, match="state name must be a str"):
        check_name(3, "state")


def test_every_allowed_function_is_reserved() -> None:
    for f in ALLOWED_FUNCTIONS:
        with pytest.raises(SpecificationError, match="reserved"):
            check_name(f, "parameter")
