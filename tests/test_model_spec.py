"""Model specification: validation errors name the culprit; models are immutable values."""

from __future__ import annotations

import math
import pickle

import pytest
import sympy as sp

import tumordyn as td
from tumordyn import Drug, Model, Module, Observable, Parameter, Process, State
from tumordyn.errors import SpecificationError, UnknownNameError, UnsafeExpressionError
from tumordyn.numerics import compile_model


def decay(**kw) -> Model:
    spec = dict(
        states=[State("x", 1.0, "mg")],
        parameters=[Parameter("k", 1.0, (0.0, 10.0), "1/day"), Parameter("V", 2.0, (0.1, 10.0), "L")],
        processes=[Process("loss", "k*x", consumes="x")],
    )
    spec.update(kw)
    return Model("decay", **spec)


# -- validation errors ----------------------------------------------------------------------
def test_duplicate_state() -> None:
    with pytest.raises(SpecificationError, match="duplicate state name 'x'"):
        Model("m", states=[State("x"), State("x")])


def test_duplicate_parameter() -> None:
    with pytest.raises(SpecificationError, match="duplicate parameter name 'k'"):
        Model("m", states=[State("x")], parameters=[Parameter("k", 1), Parameter("k", 2)])


def test_duplicate_process_and_drug() -> None:
    with pytest.raises(SpecificationError, match="duplicate process name 'loss'"):
        decay(processes=[Process("loss", "k*x", consumes="x")] * 2)
    with pytest.raises(SpecificationError, match="duplicate drug name 'd'"):
        decay(drugs=[Drug("d", "x"), Drug("d", "x")])


@pytest.mark.parametrize(
    ("kw", "msg"),
    [
        (dict(parameters=[Parameter("x", 1.0)]), "'x' is used by both a state and a parameter"),
        (dict(observables=[Observable("k", "x")]), "'k' is used by both a parameter and an observable"),
        (dict(drugs=[Drug("k", None)]), "'k' is used by both a parameter and a drug"),
    ],
)
def test_duplicate_names_across_kinds(kw: dict, msg: str) -> None:
    spec = dict(
        states=[State("x", 1.0)],
        parameters=[Parameter("k", 1.0)],
        processes=[Process("loss", "k*x", consumes="x")],
    )
    for key, value in kw.items():
        spec[key] = list(spec.get(key, [])) + value
    with pytest.raises(SpecificationError, match=msg):
        Model("m", **spec)


def test_input_symbol_name_is_reserved() -> None:
    with pytest.raises(SpecificationError, match="'u_d' is reserved for the infusion input of drug 'd'"):
        decay(states=[State("x", 1.0), State("u_d")], drugs=[Drug("d", "x")])


def test_undefined_symbol_in_rate_suggests_closest() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown symbol 'kk' in rate of process 'loss'.*did you mean 'k'"):
        decay(processes=[Process("loss", "kk*x", consumes="x")])


def test_undefined_symbol_in_observable_suggests_closest() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown symbol 'xx' in observable 'o'.*did you mean 'x'"):
        decay(observables=[Observable("o", "2*xx")])


def test_observable_may_use_earlier_but_not_later_observables() -> None:
    m = decay(observables=[Observable("a", "2*x"), Observable("b", "a + 1")])
    assert m.observable_expressions()["b"] == 2 * sp.Symbol("x") + 1
    with pytest.raises(UnknownNameError, match="unknown symbol 'b' in observable 'a'"):
        decay(observables=[Observable("a", "b + 1"), Observable("b", "2*x")])


def test_unknown_state_in_stoichiometry() -> None:
    with pytest.raises(UnknownNameError, match="unknown state 'y' in stoichiometry of process 'loss'"):
        decay(processes=[Process("loss", "k*x", consumes="x", produces="y")])


@pytest.mark.parametrize("default", [5.0, -1.0])
def test_default_outside_bounds(default: float) -> None:
    with pytest.raises(SpecificationError, match=r"default of parameter 'k' is .* outside its bounds \[0.0, 1.0\]"):
        Parameter("k", default, (0.0, 1.0))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_defaults(bad: float) -> None:
    with pytest.raises(SpecificationError, match="default of parameter 'k' must be finite"):
        Parameter("k", bad)
    with pytest.raises(SpecificationError, match="initial value of state 'x' must be finite"):
        State("x", bad)
    with pytest.raises(SpecificationError, match="volume of drug 'd' must be finite"):
        Drug("d", "x", volume=bad)


def test_bad_bounds_and_values() -> None:
    with pytest.raises(SpecificationError, match="bounds of parameter 'k' must satisfy low <= high"):
        Parameter("k", 1.0, (2.0, 1.0))
    with pytest.raises(TypeError, match="bounds of parameter 'k' must be a pair"):
        Parameter("k", 1.0, 3.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="default of parameter 'k' must be a real number"):
        Parameter("k", "1.0")  # type: ignore[arg-type]
    with pytest.raises(SpecificationError, match="non-negative state 'x' is -1.0"):
        State("x", -1.0)
    assert State("x", -1.0, nonnegative=False).initial == -1.0
    with pytest.raises(SpecificationError, match="atol of state 'x' must be > 0"):
        State("x", atol=0.0)
    with pytest.raises(TypeError, match="`nonnegative` of state 'x'"):
        State("x", nonnegative="no")  # type: ignore[arg-type]
    with pytest.raises(SpecificationError, match="volume of drug 'd' must be > 0"):
        Drug("d", "x", volume=0.0)


def test_check_value() -> None:
    p = Parameter("k", 1.0, (0.0, 2.0), "1/day")
    assert p.check_value(1.5) == 1.5
    with pytest.raises(SpecificationError, match=r"value 3.0 of parameter 'k' \(params\) is outside its bounds"):
        p.check_value(3.0, "params")
    with pytest.raises(SpecificationError, match="finite"):
        p.check_value(math.nan)
    with pytest.raises(TypeError):
        p.check_value("1")


def test_structural_positivity_outflow_must_vanish() -> None:
    with pytest.raises(SpecificationError, match=r"process 'death' consumes non-negative state 'S'.*does not vanish"):
        Model("m", states=[State("S", 1.0)], parameters=[Parameter("d", 1.0)],
              processes=[Process("death", "d", consumes="S")])
    with pytest.raises(SpecificationError, match="process 'death'"):
        Model("m", states=[State("S", 1.0)], parameters=[Parameter("d", 1.0)],
              processes=[Process("death", "d*exp(S)", consumes="S")])


def test_structural_positivity_negative_production() -> None:
    with pytest.raises(SpecificationError, match=r"process 'growth' produces non-negative state 'S'.*negative"):
        Model("m", states=[State("S", 1.0)], parameters=[Parameter("d", 1.0)],
              processes=[Process("growth", "d*(S - 1)", produces="S")])


def test_structural_positivity_passes_for_vanishing_rates() -> None:
    m = Model("m", states=[State("S", 1.0), State("E", 1.0)], parameters=[Parameter("k", 1.0), Parameter("h", 1.0)],
              processes=[Process("kill", "k*E*S/(h + S)", consumes="S"), Process("log_death", "k*S*log(1 + S)",
                                                                                consumes="S")])
    assert m.positivity_violations() == []


def test_positivity_check_can_be_skipped_and_ignores_signed_states() -> None:
    procs = [Process("death", "d", consumes="S")]
    m = Model("m", states=[State("S", 1.0)], parameters=[Parameter("d", 1.0)], processes=procs,
              check_positivity=False)
    assert len(m.positivity_violations()) == 1
    signed = Model("m", states=[State("S", 1.0, nonnegative=False)], parameters=[Parameter("d", 1.0)], processes=procs)
    assert signed.positivity_violations() == []


def test_unknown_compartment_or_volume_of_drug() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown state 'C' in compartment of drug 'd'"):
        decay(drugs=[Drug("d", "C")])
    with pytest.raises(UnknownNameError, match=r"unknown parameter 'Vd' in volume of drug 'd'.*did you mean 'V'"):
        decay(drugs=[Drug("d", "x", volume="Vd")])


@pytest.mark.parametrize("name", ["class", "lambda", "__init__", "_x", "t", "exp", "log", "pi", "1x", "a-b", ""])
def test_bad_names(name: str) -> None:
    for make in (lambda n: State(n), lambda n: Parameter(n, 1.0), lambda n: Drug(n, "x"),
                 lambda n: Process(n, "x", produces="x"), lambda n: Observable(n, "x")):
        with pytest.raises(SpecificationError, match="name"):
            make(name)


def test_bad_expressions_in_specs() -> None:
    with pytest.raises(UnsafeExpressionError, match="rate of process 'p'"):
        Process("p", "x.real", produces="x")
    with pytest.raises(UnsafeExpressionError, match="observable 'o'"):
        Observable("o", "__import__('os')")
    with pytest.raises(SpecificationError, match="undefined function"):
        Process("p", sp.Function("f")(sp.Symbol("x")), produces="x")
    with pytest.raises(SpecificationError, match="imaginary"):
        Process("p", sp.I * sp.Symbol("x"), produces="x")
    with pytest.raises(SpecificationError, match="infinite"):
        Process("p", sp.zoo * sp.Symbol("x"), produces="x")
    with pytest.raises(SpecificationError, match="neither consumes nor produces"):
        Process("p", "x")
    with pytest.raises(SpecificationError, match="coefficient of 'x' in consumes must be > 0"):
        Process("p", "x", consumes={"x": -1})
    with pytest.raises(TypeError):
        Process("p", True, produces="x")  # type: ignore[arg-type]


def test_stoichiometry() -> None:
    p = Process("switch", "k*S", consumes="S", produces={"R": 2.0, "S": 0.5})
    assert p.stoichiometry == {"S": -0.5, "R": 2.0}
    m = Model("m", states=[State("S", 1.0), State("R", 0.0)], parameters=[Parameter("k", 1.0)], processes=[p])
    S, k = sp.symbols("S k")
    rhs = m.rhs_expressions()
    assert sp.simplify(rhs["S"] + 0.5 * k * S) == 0
    assert sp.simplify(rhs["R"] - 2 * k * S) == 0


# -- composition ----------------------------------------------------------------------------
def test_composition_conflict_names_the_item() -> None:
    a = Module("a", states=(State("x", 1.0),), parameters=(Parameter("k", 1.0),))
    b = Module("b", states=(State("x", 2.0),))
    with pytest.raises(SpecificationError, match=r"state 'x' is defined twice with different specifications in a \+ b"):
        td.compose("c", a, b)
    c = Module("c", parameters=(Parameter("k", 1.0, unit="1/day"),))
    with pytest.raises(SpecificationError, match="parameter 'k'"):
        a + c


def test_composition_merges_identical_items() -> None:
    a = Module("a", states=(State("x", 1.0),), parameters=(Parameter("k", 1.0),),
               processes=(Process("loss", "k*x", consumes="x"),))
    b = Module("b", states=(State("x", 1.0), State("y", 0.0)), parameters=(Parameter("k", 1.0),),
               processes=(Process("make_y", "k*x", produces="y"),))
    m = td.compose("ab", a, b)
    assert m.states.names == ("x", "y")
    assert m.parameters.names == ("k",)
    assert m.processes.names == ("loss", "make_y")
    assert td.compose("ab", a + b) == m
    assert td.compose("ab", m.as_module()) == m


def test_compose_validates_the_result() -> None:
    a = Module("a", states=(State("x", 1.0),), processes=(Process("loss", "k*x", consumes="x"),))
    with pytest.raises(UnknownNameError, match="unknown symbol 'k'"):
        td.compose("a", a)
    with pytest.raises(SpecificationError, match="at least one module"):
        td.compose("empty")
    with pytest.raises(TypeError, match="Module or Model"):
        td.compose("a", "not a module")  # type: ignore[arg-type]


# -- symbolic views -------------------------------------------------------------------------
def test_equations_are_sympy_odes() -> None:
    m = td.models.logistic_growth()
    (eq,) = m.equations()
    t = sp.Symbol("t")
    N = sp.Function("N")(t)
    assert isinstance(eq, sp.Eq)
    assert eq.lhs == sp.Derivative(N, t)
    r, K = sp.symbols("r K")
    assert sp.simplify(eq.rhs - r * N * (1 - N / K)) == 0


def test_equations_of_the_default_model() -> None:
    m = td.models.tumor_immune_tme()
    eqs = m.equations()
    assert len(eqs) == len(m.states)
    for eq, s in zip(eqs, m.states):
        assert isinstance(eq.lhs, sp.Derivative)
        assert eq.lhs.expr == sp.Function(s.name)(sp.Symbol("t"))


def test_rhs_with_and_without_inputs() -> None:
    m = td.models.one_compartment_pk()
    C, th, V, u = sp.symbols("C t_half V u_drug")
    assert sp.simplify(m.rhs_expressions()["C"] - (u / V - sp.log(2) / th * C)) == 0
    assert sp.simplify(m.rhs_expressions(inputs=False)["C"] + sp.log(2) / th * C) == 0
    z = td.models.zhang2017()
    assert any(sp.Symbol("u_abiraterone") in e.free_symbols for e in z.rhs_expressions().values())
    assert not any(sp.Symbol("u_abiraterone") in e.free_symbols for e in z.rhs_expressions(inputs=False).values())


def test_to_latex() -> None:
    tex = td.models.tumor_immune_tme().to_latex()
    assert tex.startswith("\\begin{aligned}") and tex.endswith("\\end{aligned}")
    assert tex.count("&=") == 9  # one equation per state (S, R, E, X, M, P and three drugs)
    assert r"\frac{dS}{dt}" in tex


def test_repr_is_a_table_with_every_parameter() -> None:
    m = td.models.tumor_immune_tme()
    text = repr(m)
    assert text.startswith("Model 'tumor_immune_tme'")
    for section in ("States:", "Parameters:", "Drugs:", "Processes:", "Observables:"):
        assert section in text
    lines = text.splitlines()
    for p in m.parameters:
        assert any(line.split()[:1] == [p.name] for line in lines), p.name
    for s in m.states:
        assert any(line.split()[:1] == [s.name] for line in lines), s.name


# -- values ---------------------------------------------------------------------------------
def test_models_are_immutable() -> None:
    m = decay()
    with pytest.raises(AttributeError, match="immutable"):
        m.states = ()  # type: ignore[misc]
    with pytest.raises(AttributeError, match="immutable"):
        m.new_attribute = 1  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="immutable"):
        del m._name
    with pytest.raises(AttributeError, match="immutable"):
        m.states._items = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        m.states[0] = State("y")  # type: ignore[index]
    with pytest.raises(Exception):  # noqa: B017 - dataclasses.FrozenInstanceError
        m.states["x"].initial = 5.0  # type: ignore[misc]
    with pytest.raises(Exception):  # noqa: B017
        m.parameters["k"].default = 5.0  # type: ignore[misc]


def test_models_are_hashable_values() -> None:
    a, b = decay(), decay()
    assert a == b and hash(a) == hash(b)
    assert len({a, b}) == 1
    c = a.with_defaults(k=2.0)
    assert c != a
    assert {a: 1}[b] == 1


def test_model_pickles() -> None:
    m = td.models.tumor_immune_tme()
    _ = compile_model(m)
    m2 = pickle.loads(pickle.dumps(m))
    assert m2 == m
    assert m2.states.names == m.states.names
    with pytest.raises(AttributeError):
        m2.states._items = ()  # type: ignore[misc]


def test_with_defaults_returns_a_new_validated_model() -> None:
    m = decay()
    m2 = m.with_defaults(k=3.0)
    assert m2.parameters["k"].default == 3.0
    assert m.parameters["k"].default == 1.0
    assert m2.defaults() == {"k": 3.0, "V": 2.0}
    with pytest.raises(SpecificationError, match="parameter 'k'"):
        m.with_defaults(k=11.0)
    with pytest.raises(UnknownNameError, match="did you mean 'k'"):
        m.with_defaults(kk=1.0)


def test_with_initial_returns_a_new_validated_model() -> None:
    m = decay()
    m2 = m.with_initial(x=4.0)
    assert m2.initial_state() == {"x": 4.0}
    assert m.initial_state() == {"x": 1.0}
    with pytest.raises(SpecificationError, match="state 'x'"):
        m.with_initial(x=-1.0)
    with pytest.raises(SpecificationError, match="state 'x'"):
        m.with_initial(x=math.nan)
    with pytest.raises(UnknownNameError, match="did you mean 'x'"):
        m.with_initial(xx=1.0)


def test_replace() -> None:
    m = decay()
    assert m.replace(name="other").name == "other"
    with pytest.raises(TypeError, match="unknown field"):
        m.replace(colour="red")


def test_collections_lookup() -> None:
    m = td.models.tumor_immune_tme()
    assert m.parameters["K"].unit == "cells"
    assert "S" in m.states and "nope" not in m.states
    assert m.states.index("R") == 1
    assert [s.name for s in m.states] == list(m.states.names)
    with pytest.raises(UnknownNameError, match="did you mean 'r_S'"):
        m.parameters["r_s"]
    with pytest.raises(KeyError):
        m.states.index("Q")


def test_model_arguments_are_type_checked() -> None:
    with pytest.raises(TypeError, match="states must contain State objects"):
        Model("m", states=["x"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="model name"):
        Model("", states=[State("x")])
    with pytest.raises(SpecificationError, match="has no states"):
        Model("m")


def test_bounds_must_be_numbers() -> None:
    with pytest.raises(TypeError, match="bounds of parameter 'k' must be two numbers"):
        Parameter("k", 1.0, (0.0, "a"))  # type: ignore[arg-type]
