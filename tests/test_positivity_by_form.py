"""The structural positivity check decided by a rate's form agrees with sympy's substitution and sign queries.

``Model.positivity_violations`` first looks at a rate's form (a consumed state as a factor, a production
rate built from non-negative pieces) and asks sympy only what the form leaves open. These tests state the
contract: whenever the form decides, sympy alone decides the same, and a model's list of violations is the
one sympy alone gives.
"""

from __future__ import annotations

import random

import pytest
import sympy as sp

import tumordyn as td
from tumordyn.spec import Model, Parameter, Process, State, _model

S, R, E, k, h, K, m = sp.symbols("S R E k h K m")
NONNEG = frozenset({S, R, E, k, h, K})  # m: a real parameter of either sign


def sympy_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Switch the form checks off: every question goes to sympy, as before they existed."""
    monkeypatch.setattr(_model, "_zero_by_form", lambda rate, state: False)
    monkeypatch.setattr(_model, "_nonnegative_by_form", lambda expr, nonnegative: False)


# rate -> whether its form shows it zero at S = 0 (False: left to sympy, whatever the answer)
ZERO_CASES = [
    (S * k, True),
    (k * E * S / (h + S), True),
    (S * k * (R + S) / K, True),
    (S**2 * k + S * R, True),
    (S**sp.Rational(1, 2) * k, True),
    (E * S * k / ((R + 1) * (R + S + h)), True),
    (k * S * sp.log(1 + S), False),  # a function of S: sympy
    (S * sp.log(S), False),  # 0 * log(0): sympy takes the limit
    (S / ((1 + S) ** 2 - 1), False),  # the denominator is 0 at S = 0
    (S / (S + S**2), False),  # no term of the denominator free of S
    (S**h * k, False),  # symbolic exponent
    (S * k + 1, False),  # a term without S
    (k, False),
    (S * sp.Symbol("x", positive=True), False),  # a symbol with assumptions: sympy
    (S * k * sp.exp(-S), False),
]


@pytest.mark.parametrize(("rate", "by_form"), ZERO_CASES, ids=[str(c[0]) for c in ZERO_CASES])
def test_zero_by_form_decides_only_what_sympy_confirms(rate: sp.Expr, by_form: bool) -> None:
    assert _model._zero_by_form(rate, S) is by_form
    if by_form:
        assert rate.subs(S, 0) == 0


@pytest.mark.parametrize(("rate", "by_form"), ZERO_CASES, ids=[str(c[0]) for c in ZERO_CASES])
def test_vanishes_at_zero_answers_as_sympy_alone(rate: sp.Expr, by_form: bool,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    answer = _model.vanishes_at_zero(rate, S)
    sympy_only(monkeypatch)
    assert _model.vanishes_at_zero(rate, S) == answer


NONNEG_CASES = [
    (k * S + h, True),
    (k / (h + S), True),
    (k**2 * S**sp.Rational(-1, 2), True),
    (S**h, True),
    (k * (1 - h), False),  # a difference: sympy (which cannot decide it either)
    (k * m, False),  # m may be negative
    (m**2, False),  # a real base: left to sympy
    (k - 1, False),
    (k * sp.exp(m), False),  # functions are left to sympy
    (sp.Float(-0.5) * k, False),
]


@pytest.mark.parametrize(("expr", "by_form"), NONNEG_CASES, ids=[str(c[0]) for c in NONNEG_CASES])
def test_nonnegative_by_form_is_never_contradicted_by_sympy(expr: sp.Expr, by_form: bool) -> None:
    assert _model._nonnegative_by_form(expr, NONNEG) is by_form
    if by_form:
        assumed = {x: sp.Symbol(x.name, nonnegative=True) for x in NONNEG}
        assumed[m] = sp.Symbol("m", real=True)
        assert expr.xreplace(assumed).is_negative is not True


def test_deeply_nested_rates_are_left_to_sympy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The form checks follow a bounded depth: a deeper rate is not decided by form (no RecursionError)."""
    inner: sp.Expr = h
    for _ in range(_model._FORM_DEPTH + 20):
        inner = h + S * inner  # h + S*(h + S*(h + ...)): its value at S = 0 is h
    rate = S / inner
    assert not _model._zero_by_form(rate, S)
    assert not _model._nonnegative_by_form(rate + inner, NONNEG)
    answer = _model.vanishes_at_zero(rate, S)
    sympy_only(monkeypatch)
    assert _model.vanishes_at_zero(rate, S) == answer


def _random_rate(rng: random.Random, depth: int) -> sp.Expr:
    """A random rate over S, R, k, h, m: sums, products, quotients, powers, log and exp (bounded depth)."""
    if depth == 0 or rng.random() < 0.25:
        return rng.choice([S, S, R, k, h, m, sp.Integer(rng.randint(-2, 3)), sp.Rational(1, 2), sp.Float(0.3)])
    a, b = _random_rate(rng, depth - 1), _random_rate(rng, depth - 1)
    op = rng.randrange(7)
    if op == 0:
        return a + b
    if op == 1:
        return a - b
    if op in (2, 3):
        return a * b
    if op == 4:
        return a / (b + rng.choice([h, k, sp.Integer(1), R]))
    if op == 5:
        return a ** rng.choice([2, -1, sp.Rational(1, 2), h])
    return rng.choice([sp.log, sp.exp])(a)


def test_random_rates_get_sympys_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seeded random rates (and the same rates times S, times S*R): the form checks never change an answer."""
    rng = random.Random(20261201)
    rates: list[sp.Expr] = []
    while len(rates) < 360:
        r = _random_rate(rng, 3)
        if not r.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
            rates += [r, S * r, S * R * r]
    nonneg_form = _model._nonnegative_by_form
    decided = [r for r in rates if _model._zero_by_form(r, S)]
    nonneg = [r for r in rates if nonneg_form(r, NONNEG)]
    # the form checks decide a good share of the cases, and sympy gets many with S inside a sum or a function
    assert len(decided) >= 150 and len(nonneg) >= 40
    assert sum(S in r.free_symbols and not _model._zero_by_form(r, S) for r in rates) >= 40
    with_form = [_model.vanishes_at_zero(r, S) for r in rates]
    sympy_only(monkeypatch)
    assert [_model.vanishes_at_zero(r, S) for r in rates] == with_form
    assert all(r.subs(S, 0) == 0 for r in decided)
    assumed = {x: sp.Symbol(x.name, nonnegative=True) for x in NONNEG}
    assumed[m] = sp.Symbol("m", real=True)
    assert not any(r.xreplace(assumed).is_negative for r in nonneg)


def _models() -> list[Model]:
    return [td.models.tumor_immune_tme(**kw) for kw in (
        {}, {"growth": "gompertz"}, {"drug_induced_switching": True}, {"stress_inhibitor": True},
        {"immune_escape": True}, {"memory": False})] + [
        td.models.kuznetsov1994(), td.models.zhang2017(), td.models.logistic_growth(), td.models.gompertz_growth(),
        td.models.one_compartment_pk()]


def test_builtin_models_get_sympys_list_of_violations(monkeypatch: pytest.MonkeyPatch) -> None:
    models = _models()
    with_form = [mod.positivity_violations() for mod in models]
    assert with_form == [[]] * len(models)
    sympy_only(monkeypatch)
    assert [mod.positivity_violations() for mod in models] == with_form


def test_violations_found_by_sympy_are_still_found(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rates the form cannot clear: an outflow not vanishing at 0, a production negative at 0."""
    states = [State("S", 1.0), State("R", 1.0)]
    params = [Parameter("k", 1.0), Parameter("h", 1.0), Parameter("m", 1.0, bounds=(-5.0, 5.0))]
    procs = [
        Process("log_loss", "k*S*log(S) + k", consumes="S"),  # a term without S
        Process("outflow", "S/((1 + S)**2 - 1)", consumes="S"),  # 1/S * S ... not zero at 0
        Process("sign_error", "k*(S - h)", produces="S"),  # -k*h < 0 at S = 0
        Process("fine", "k*S*R/(h + S)", consumes="S", produces="R"),
        Process("signed", "m*S", produces="R"),  # m may be negative: sympy cannot say it is
    ]
    model = Model("m", states=states, parameters=params, processes=procs, check_positivity=False, check_units=False)
    found = model.positivity_violations()
    assert [v.split("'")[1] for v in found] == ["log_loss", "outflow", "sign_error"]
    sympy_only(monkeypatch)
    assert model.positivity_violations() == found
