"""piecewise, relational/logical conditions and the trigonometric / step functions of the expression language:
parsing (and its limits), code generation (numpy batch, Python scalar, numba), Jacobian, model files, SBML."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

import tumordyn as td
from tumordyn.errors import UnsafeExpressionError
from tumordyn.io import load_model, save_model
from tumordyn.numerics import compile_model, jacobian_expressions
from tumordyn.spec import parse_expression

x, y, k, t = sp.symbols("x y k t")


@pytest.mark.parametrize(("text", "expected"), [
    ("piecewise(x, x > 1, 0)", sp.Piecewise((x, x > 1), (0, True))),
    ("piecewise(1, x < 0, 2, x <= 1, 3)", sp.Piecewise((1, x < 0), (2, x <= 1), (3, True))),
    ("piecewise(x, 0 < x < 1)", sp.Piecewise((x, sp.And(x > 0, x < 1)))),
    ("piecewise(x, x >= 1 and not y == 2 or y != 3, k)",
     sp.Piecewise((x, sp.Or(sp.And(x >= 1, sp.Ne(y, 2)), sp.Ne(y, 3))), (k, True))),
    ("Piecewise((x, (x > 1) & (y < 2)), (0, True))", sp.Piecewise((x, sp.And(x > 1, y < 2)), (0, True))),
    ("Piecewise((x, (x > 1) ^ (y < 2)), (0, True))", sp.Piecewise((x, sp.Xor(x > 1, y < 2)), (0, True))),
    ("piecewise(1, True, 2)", sp.Integer(1)),
    ("sin(x) + acot(x) + floor(x) - ceiling(y)", sp.sin(x) + sp.acot(x) + sp.floor(x) - sp.ceiling(y)),
])
def test_conditionals_parse_and_print_back(text, expected):
    e = parse_expression(text)
    assert e == expected
    assert parse_expression(str(e)) == e  # sympy's own printing reads back (model files rely on it)


@pytest.mark.parametrize(("text", "word"), [
    ("x < 1", "used as a number"),
    ("(x > 1)*k", "used as a number"),
    ("sin(x > 1)", "used as a number"),
    ("piecewise(x, y, 0)", "used as a condition"),
    ("x and y", "used as a condition"),
    ("not x", "used as a condition"),
    ("Piecewise(x, x > 1)", "pairs"),
    ("Eq(x)", "two arguments"),
    ("piecewise(" + ", ".join(["x, x > 1"] * 40) + ")", "at most"),
    ("x is y", "comparison"),
])
def test_misused_conditions_are_refused_by_name(text, word):
    with pytest.raises(UnsafeExpressionError, match=word):
        parse_expression(text)


def test_limits_hold_for_the_new_syntax():
    deep = "piecewise(" * 120 + "x" + ", x > 1, 0)" * 120
    with pytest.raises(UnsafeExpressionError, match="max_depth|brackets"):
        parse_expression(deep)
    wide = " and ".join(f"x > {i}" for i in range(3000))
    with pytest.raises(UnsafeExpressionError):
        parse_expression(f"piecewise(1, {wide}, 0)", max_nodes=5000)
    # a long comparison is not split at its + signs as a plain sum would be
    long_sum = " + ".join(f"x*{i}" for i in range(300))
    assert parse_expression(f"piecewise(1, {long_sum} > 0, 0)") == sp.Piecewise(
        (1, parse_expression(long_sum) > 0), (0, True))


def switching_model() -> td.Model:
    """dx/dt = k x while t < 2 and x > 0, then -floor(x) sin(t) + acot(k) + piecewise(1, k > 0.1 or x < 0, 2)."""
    return td.Model(
        "pw", states=[td.State("x", 1.0, nonnegative=False)], parameters=[td.Parameter("k", 0.5)],
        processes=[td.Process("g", "piecewise(k*x, t < 2 and x > 0, "
                                   "-floor(x)*sin(t) + acot(k) + piecewise(1, k > 0.1 or x < 0, 2))", produces="x")])


def reference(kv: float, t_eval: list[float]) -> np.ndarray:
    from scipy.integrate import solve_ivp

    def f(tt, xx):
        if tt < 2 and xx[0] > 0:
            return [kv * xx[0]]
        return [-math.floor(xx[0]) * math.sin(tt) + math.atan(1 / kv) + (1 if kv > 0.1 or xx[0] < 0 else 2)]

    a = solve_ivp(f, (0, 2), [1.0], rtol=1e-12, atol=1e-14, t_eval=[s for s in t_eval if s <= 2])
    b = solve_ivp(f, (2, t_eval[-1]), [a.y[0, -1]], rtol=1e-12, atol=1e-14, t_eval=[s for s in t_eval if s > 2])
    return np.r_[a.y[0], b.y[0]]


@pytest.mark.parametrize("method", ["LSODA", "BDF", "RK45"])
def test_switching_model_matches_a_hand_written_reference(method):
    t_eval = [0.0, 1.0, 2.0, 3.0, 5.0]
    traj = td.simulate(switching_model(), t_end=5.0, t_eval=t_eval, method=method, rtol=1e-10, atol=1e-12)
    assert traj["x"][2] == pytest.approx(math.e, rel=1e-7)  # x(2) = exp(k*2) before the switch
    np.testing.assert_allclose(traj["x"], reference(0.5, t_eval), rtol=1e-6)


def test_generated_code_agrees_across_numpy_batch_scalar_and_numba():
    c = compile_model(switching_model())
    p = c.param_vector()
    u = np.zeros(0)
    for tt, xv in [(1.0, 1.5), (3.0, 1.5), (3.0, -0.5), (2.5, 2.7)]:
        want = (0.5 * xv if tt < 2 and xv > 0 else
                -math.floor(xv) * math.sin(tt) + math.atan(2.0) + 1.0)
        assert c.rhs_single(tt, np.array([xv]), p, u)[0] == pytest.approx(want, rel=1e-12)
        assert c.rhs(tt, np.array([xv]), p, u)[0] == pytest.approx(want, rel=1e-12)
    # a batch: the condition on t (a scalar) broadcasts against per-patient states and parameters
    batch = c.rhs(3.0, np.array([[1.5, 2.5]]), np.array([[0.5, 0.05]]), u)
    np.testing.assert_allclose(batch[0], [-math.sin(3) + math.atan(2) + 1, -2 * math.sin(3) + math.atan(20) + 2])
    pytest.importorskip("numba")
    from tumordyn.solve._compiled import fast_functions

    ff = fast_functions(c)
    pe = c.extended_params(p)
    for tt, xv in [(1.0, 1.5), (3.0, 1.5), (3.0, -0.5)]:
        assert ff.evaluate(tt, np.array([xv]), pe, u)[0] == pytest.approx(
            c.rhs_single(tt, np.array([xv]), p, u)[0], rel=1e-12)


def test_jacobian_differentiates_each_branch_and_steps_are_flat():
    jac = jacobian_expressions([sp.floor(2 * x) * y + sp.ceiling(x), sp.Piecewise((x**2, x > 1), (sp.sin(x), True))],
                               [x, y])
    assert jac[0, 0] == 0 and jac[0, 1] == sp.floor(2 * x)
    assert jac[1, 0] == sp.Piecewise((2 * x, x > 1), (sp.cos(x), True))
    c = compile_model(switching_model())
    p = c.param_vector()
    for tt, xv in [(1.0, 1.5), (3.0, 1.7)]:
        h = 1e-6
        fd = (c.rhs_single(tt, np.array([xv + h]), p, np.zeros(0))[0]
              - c.rhs_single(tt, np.array([xv - h]), p, np.zeros(0))[0]) / (2 * h)
        assert c.jac(tt, np.array([xv]), p, np.zeros(0))[0, 0] == pytest.approx(fd, abs=1e-6)


@pytest.mark.parametrize("suffix", ["toml", "json"])
def test_model_file_round_trip_keeps_conditionals(tmp_path, suffix):
    m = switching_model()
    save_model(m, tmp_path / f"pw.{suffix}")
    back = load_model(tmp_path / f"pw.{suffix}")
    assert back.processes["g"].rate == m.processes["g"].rate


def test_sbml_round_trip_and_roadrunner_agree_on_conditionals():
    pytest.importorskip("libsbml")
    from tumordyn.io import from_sbml, to_sbml

    m = switching_model()
    text = to_sbml(m)
    back = from_sbml(text, time_unit=1)
    t_eval = [0.0, 1.0, 2.0, 3.0, 5.0]
    a = td.simulate(m, t_end=5.0, t_eval=t_eval, method="LSODA", rtol=1e-10, atol=1e-12)
    b = td.simulate(back, t_end=5.0, t_eval=t_eval, method="LSODA", rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b["x"], a["x"], rtol=1e-7)
    roadrunner = pytest.importorskip("roadrunner")
    rr = roadrunner.RoadRunner(text)
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = 1e-12
    res = rr.simulate(0.0, 5.0, 6)
    np.testing.assert_allclose(res[:, 1][[0, 1, 2, 3, 5]], a["x"], rtol=1e-6)


def _sbml_rule(math: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">
  <model id="m">
    <listOfParameters><parameter id="k" value="-3" constant="true"/><parameter id="p" constant="false"/>
    </listOfParameters>
    <listOfRules><assignmentRule variable="p"><math xmlns="http://www.w3.org/1998/Math/MathML">{math}</math>
    </assignmentRule></listOfRules>
  </model>
</sbml>"""


@pytest.mark.parametrize(("math_", "value"), [
    # SBML L3v2: a condition used as a number is 1 or 0, a number used as a condition is true unless 0
    ("<apply><plus/><true/><apply><gt/><ci> k </ci><cn> 0 </cn></apply></apply>", 1.0),
    ("<piecewise><piece><cn> 7 </cn><ci> k </ci></piece><otherwise><cn> 8 </cn></otherwise></piecewise>", 7.0),
    ("<apply><implies/><false/><apply><gt/><ci> k </ci><cn> 0 </cn></apply></apply>", 1.0),
    ("<apply><quotient/><ci> k </ci><cn> 2 </cn></apply>", -1.0),  # toward zero
    ("<apply><rem/><ci> k </ci><cn> 2 </cn></apply>", -1.0),  # the sign of the dividend
    ("<apply><factorial/><cn> 5 </cn></apply>", 120.0),
    ("<apply><arccoth/><ci> k </ci></apply>", math.atanh(-1 / 3)),  # real for a negative argument
    ("<apply><arcsec/><ci> k </ci></apply>", math.acos(-1 / 3)),
    ("<apply><lt/><cn> 1 </cn><ci> k </ci><cn> 2 </cn></apply>", 0.0),  # a chain 1 < k < 2
])
def test_sbml_math_values(math_, value):
    pytest.importorskip("libsbml")
    from tumordyn.io import from_sbml

    model = from_sbml(_sbml_rule(math_), time_unit=1)
    traj = td.simulate(model, t_end=1.0, t_eval=[0.0, 1.0])
    assert traj["p"][0] == pytest.approx(value, rel=1e-12, abs=1e-15)
