"""Fuzzing the SBML reader: malformed and hostile documents end in a model or a named error, in bounded time.

The contract (issue 18): whatever bytes reach :func:`tumordyn.io.from_sbml`, it either returns a
:class:`~tumordyn.Model` or raises one of the library's errors (a :class:`~tumordyn.errors.TumordynError`,
each a subclass of the matching built-in), within seconds; it never crashes the process, never raises an
unnamed exception (RecursionError, OverflowError, libsbml's or sympy's own errors) and never hangs. A model
that is returned simulates briefly, or fails with a named error.
"""

from __future__ import annotations

import re
import time
import warnings
from pathlib import Path

import pytest

pytest.importorskip("libsbml")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import tumordyn as td  # noqa: E402
from tumordyn.errors import TumordynError, TumordynWarning  # noqa: E402
from tumordyn.io import from_sbml, to_sbml  # noqa: E402

DATA = Path(__file__).parent / "data"
FUZZ = settings(max_examples=max(30, settings.default.max_examples), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
BUDGET_S = 15.0  # per document: reading, conversion and a short simulation (loaded CI machines)


def _seeds() -> dict[str, str]:
    seeds = {
        "exported": to_sbml(td.models.kuznetsov1994()),
        "suite_00471": (DATA / "sbml" / "00471" / "00471-sbml-l3v2.xml").read_text(),
        "biomodel": (DATA / "biomodels" / "kuznetsov1994-nonlinear-dynamics-of-immunogenic-tumors.xml").read_text(),
    }
    return seeds


SEEDS = _seeds()


def read(tmp_path: Path, text: str | bytes) -> object:
    """from_sbml on ``text`` written to a file: the model, or the named error; checks the contract."""
    p = tmp_path / "fuzz.xml"
    if isinstance(text, str):
        p.write_text(text, encoding="utf-8", errors="surrogatepass")
    else:
        p.write_bytes(text)
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TumordynWarning)
            out: object = from_sbml(p)
    except TumordynError as exc:  # named: each is also a ValueError / KeyError / TypeError / RuntimeError
        assert isinstance(exc, (ValueError, KeyError, TypeError, RuntimeError)), repr(exc)
        out = exc
    if isinstance(out, td.Model):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                td.simulate(out, t_end=0.01, solver=td.Solver(max_seconds=5.0, max_steps=20_000))
        except TumordynError:
            pass
    took = time.perf_counter() - t0
    assert took < BUDGET_S, (took, str(text)[:300])
    return out


@FUZZ
@given(raw=st.binary(max_size=3000))
def test_random_bytes(tmp_path, raw):
    assert isinstance(read(tmp_path, raw), TumordynError)  # random bytes are never an SBML model


@FUZZ
@given(data=st.data(), seed=st.sampled_from(sorted(SEEDS)))
def test_mutated_valid_documents(tmp_path, data, seed):
    raw = bytearray(SEEDS[seed].encode())
    for _ in range(data.draw(st.integers(1, 6))):
        i = data.draw(st.integers(0, len(raw) - 1))
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "dup"]))
        if op == "flip":
            raw[i] = data.draw(st.integers(0, 255))
        elif op == "insert":
            raw[i:i] = data.draw(st.sampled_from([
                b"<", b">", b"/>", b"\"", b"&", b"&amp;", b"&#0;", b"\xff\xfe", b"\x00", b"<apply>", b"</apply>",
                b"<cn>1e400</cn>", b"<ci>nowhere</ci>", b"<!-- x -->", b"<![CDATA[x]]>", b"1" * 500,
                "\uff2b".encode(), b"<math xmlns=\"http://www.w3.org/1998/Math/MathML\">",
            ]))
        elif op == "delete":
            del raw[i:i + data.draw(st.integers(1, 40))]
        else:
            j = data.draw(st.integers(i, min(len(raw), i + 300)))
            raw[j:j] = raw[i:j]
    read(tmp_path, bytes(raw))


# --------------------------------------------------------------------------- hostile MathML in a valid model
_NUMBERS = ["0", "-0", "1e308", "1e400", "-1e400", "1e-400", "4.9e-324", "NaN", "INF", "-INF", "1e-320",
            "123456789012345678901234567890", "0.5"]
_NAMES = ["T", "E", "nowhere", "time", "sbml_no_state", "exp", "_x", "t"]
_UNARY = ["exp", "ln", "abs", "floor", "ceiling", "factorial", "sin", "arccosh", "not", "minus"]
_BINARY = ["plus", "times", "divide", "power", "minus", "gt", "and", "eq", "root", "log", "rem", "quotient"]
_MATHML = "http://www.w3.org/1998/Math/MathML"

leaf = st.one_of(
    st.sampled_from(_NUMBERS).map(lambda x: f"<cn>{x}</cn>"),
    st.sampled_from(_NUMBERS[:4]).map(lambda x: f"<cn type=\"e-notation\"> {x.split('e')[0] or 1} <sep/> 400 </cn>"),
    st.sampled_from(_NAMES).map(lambda x: f"<ci>{x}</ci>"),
    st.just("<csymbol encoding=\"text\" definitionURL=\"http://www.sbml.org/sbml/symbols/time\">t</csymbol>"),
    st.just("<pi/>"), st.just("<infinity/>"), st.just("<notanumber/>"), st.just("<true/>"),
)
mathml = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.tuples(st.sampled_from(_UNARY), inner).map(lambda a: f"<apply><{a[0]}/>{a[1]}</apply>"),
        st.tuples(st.sampled_from(_BINARY), inner, inner).map(lambda a: f"<apply><{a[0]}/>{a[1]}{a[2]}</apply>"),
        st.lists(inner, min_size=0, max_size=12).map(lambda a: "<apply><max/>" + "".join(a) + "</apply>"),
        st.tuples(inner, inner, inner).map(lambda a: f"<piecewise><piece>{a[0]}{a[1]}</piece>"
                                                     f"<otherwise>{a[2]}</otherwise></piecewise>"),
        st.tuples(inner, inner).map(lambda a: "<apply><csymbol encoding=\"text\" definitionURL=\"http://www."
                                              f"sbml.org/sbml/symbols/delay\">delay</csymbol>{a[0]}{a[1]}</apply>"),
    ),
    max_leaves=40,
)


def _with_first_math(doc: str, content: str) -> str:
    """``doc`` with the body of its first kinetic law's (or rule's) MathML replaced by ``content``."""
    m = re.search(r"(<math[^>]*>)(.*?)(</math>)", doc, flags=re.S)
    assert m is not None
    return doc[:m.start(2)] + content + doc[m.end(2):]


@FUZZ
@given(expr=mathml, seed=st.sampled_from(sorted(SEEDS)))
def test_hostile_mathml_in_a_valid_model(tmp_path, expr, seed):
    read(tmp_path, _with_first_math(SEEDS[seed], expr))


@FUZZ
@given(depth=st.integers(1, 20_000), kind=st.sampled_from(["apply", "exp", "power", "piecewise"]))
def test_deep_mathml_is_a_named_error_or_a_model_never_a_crash(tmp_path, depth, kind):
    open_, close = {
        "apply": ("<apply><plus/><cn>1</cn>", "</apply>"),
        "exp": ("<apply><exp/>", "</apply>"),
        "power": ("<apply><power/><cn>2</cn>", "</apply>"),
        "piecewise": ("<piecewise><piece><cn>1</cn>", "</piece></piecewise>"),
    }[kind]
    read(tmp_path, _with_first_math(SEEDS["exported"], open_ * depth + "<cn>1</cn>" + close * depth))


@pytest.mark.parametrize("payload", [
    # billion laughs (entity expansion) and an external entity: a DTD is refused before libsbml reads the text
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><sbml>&lol3;</sbml>',
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><sbml>&e;</sbml>',
    "<sbml>" + "<!-- " + "x" * 200_000 + " -->" + "</sbml>",
    "<sbml xmlns=\"http://www.sbml.org/sbml/level3/version2/core\" level=\"3\" version=\"2\"/>",
    "<notsbml/>",
    "",
    "<",
])
def test_hostile_documents(tmp_path, payload):
    out = read(tmp_path, payload)
    assert isinstance(out, TumordynError)
    assert "root:" not in str(out)  # the external entity was not expanded into the message


@pytest.mark.parametrize("attr, new", [("compartment", "nowhere"), ("species", "ghost"), ("variable", "ghost")])
def test_references_to_undeclared_ids_are_named_errors(tmp_path, attr, new):
    # found by the fuzzer: a species in an undeclared compartment raised a bare KeyError
    doc = SEEDS["exported"] if attr != "variable" else SEEDS["suite_00471"]
    if f'{attr}="' not in doc:
        pytest.skip(f"no {attr} attribute in the seed document")
    bad = re.sub(f'{attr}="[^"]*"', f'{attr}="{new}"', doc, count=1)
    out = read(tmp_path, bad)
    assert isinstance(out, TumordynError) and new in str(out), out


def test_an_unknown_encoding_in_the_xml_declaration_is_a_named_error(tmp_path):
    # found by the fuzzer (thorough profile): encoding='U-F-8' raised a bare LookupError from expat
    doc = SEEDS["biomodel"].replace("encoding='UTF-8'", "encoding='U-F-8'", 1)
    assert "U-F-8" in doc
    out = read(tmp_path, doc)
    assert isinstance(out, TumordynError) and "encoding" in str(out)


@pytest.mark.parametrize("expr", [
    # found by the fuzzer (thorough profile): sympy's own TypeError / ZeroDivisionError escaped
    "<apply><rem/><apply><plus/><pi/><true/></apply><cn>0</cn></apply>",
    "<apply><rem/><cn>0</cn><apply><ln/><true/></apply></apply>",
    "<apply><gt/><apply><divide/><cn>0</cn><cn>0</cn></apply><cn>1</cn></apply>",
    "<apply><divide/><cn>0</cn><cn>0</cn></apply>",
])
def test_constant_math_that_cannot_be_evaluated_is_a_named_error(tmp_path, expr):
    out = read(tmp_path, _with_first_math(SEEDS["exported"], expr))
    assert isinstance(out, (TumordynError, td.Model)), out
