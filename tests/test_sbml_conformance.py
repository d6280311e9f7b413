"""SBML constructs beyond the core subset (issue 16): hierarchical models (``comp``), variable
stoichiometry, algebraic rules, factorial of a variable, and the named refusals of what stays
unsupported. The suite cases these rely on are in tests/data/sbml (run by test_sbml_suite.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("libsbml")

from tumordyn.errors import SpecificationError  # noqa: E402
from tumordyn.io import SBMLLimitError, SBMLUnsupportedError, from_sbml  # noqa: E402

SUITE = Path(__file__).parent / "data" / "sbml"

COMP_NS = 'xmlns:comp="http://www.sbml.org/sbml/level3/version1/comp/version1" comp:required="true"'


def _comp_doc(body: str, defs: str = "", external: str = "") -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version1/core" {COMP_NS} level="3" version="1">
  {external}
  {f"<comp:listOfModelDefinitions>{defs}</comp:listOfModelDefinitions>" if defs else ""}
  <model id="top">{body}</model>
</sbml>"""


def _inner(mid: str, subs: str = "") -> str:
    return f"""<comp:modelDefinition id="{mid}">
      <listOfParameters><parameter id="x" value="1" constant="false"/><parameter id="k" value="0.5" constant="true"/></listOfParameters>
      <listOfRules><rateRule variable="x"><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><times/><ci>k</ci><ci>x</ci></apply></math></rateRule></listOfRules>
      {subs}
    </comp:modelDefinition>"""


def test_comp_model_is_flattened_with_submodel_ids_prefixed():
    doc = _comp_doc('<comp:listOfSubmodels><comp:submodel comp:id="A" comp:modelRef="inner"/>'
                    '<comp:submodel comp:id="B" comp:modelRef="inner"/></comp:listOfSubmodels>', _inner("inner"))
    model = from_sbml(doc, time_unit=1.0)
    assert sorted(model.states.names) == ["A__x", "B__x"]
    assert model.parameters["A__k"].default == 0.5


def test_comp_model_marked_not_required_is_refused_not_imported_without_its_submodels():
    """comp must be required (libsbml reports it): submodels are never dropped silently."""
    doc = _comp_doc('<comp:listOfSubmodels><comp:submodel comp:id="A" comp:modelRef="inner"/></comp:listOfSubmodels>',
                    _inner("inner")).replace('comp:required="true"', 'comp:required="false"')
    with pytest.raises(SpecificationError, match="comp:required"):
        from_sbml(doc, time_unit=1.0)


def test_comp_external_model_definition_is_refused_by_name():
    """tumordyn never follows a file reference in a document."""
    doc = _comp_doc('<comp:listOfSubmodels><comp:submodel comp:id="A" comp:modelRef="ext"/></comp:listOfSubmodels>',
                    external='<comp:listOfExternalModelDefinitions><comp:externalModelDefinition comp:id="ext" '
                             'comp:source="other.xml" comp:modelRef="m"/></comp:listOfExternalModelDefinitions>')
    with pytest.raises(SBMLUnsupportedError, match="'ext' from 'other.xml'") as err:
        from_sbml(doc)
    assert err.value.construct == "comp external model definitions"


def test_comp_hierarchy_that_multiplies_instances_is_refused_before_flattening():
    """Ten levels of two submodels each would flatten to 2**10 copies: refused in bounded time."""
    defs = _inner("m0")
    for k in range(1, 11):
        defs += _inner(f"m{k}", f'<comp:listOfSubmodels><comp:submodel comp:id="a" comp:modelRef="m{k - 1}"/>'
                               f'<comp:submodel comp:id="b" comp:modelRef="m{k - 1}"/></comp:listOfSubmodels>')
    doc = _comp_doc('<comp:listOfSubmodels><comp:submodel comp:id="top1" comp:modelRef="m10"/></comp:listOfSubmodels>',
                    defs)
    with pytest.raises(SBMLLimitError, match="MAX_COMP_INSTANCES"):
        from_sbml(doc)


def test_comp_submodel_referring_to_an_undefined_model_is_a_named_error():
    doc = _comp_doc('<comp:listOfSubmodels><comp:submodel comp:id="A" comp:modelRef="nowhere"/></comp:listOfSubmodels>')
    with pytest.raises(SpecificationError, match="'nowhere'"):
        from_sbml(doc)


# ------------------------------------------------------------------------- variable stoichiometry
def _simulate(xml: Path | str, times):
    import tumordyn as td

    model = from_sbml(xml, time_unit=1.0)
    return model, td.simulate(model, t_end=float(times[-1]), t_eval=times, method="LSODA", rtol=1e-10, atol=1e-14)


def test_stoichiometry_set_by_an_assignment_rule_multiplies_the_rate_and_agrees_with_roadrunner():
    """01109: the stoichiometry Xref := time makes X's production rate grow with t."""
    roadrunner = pytest.importorskip("roadrunner")
    xml = SUITE / "01109" / "01109-sbml-l3v2.xml"
    times = np.linspace(0.0, 10.0, 21)
    model, traj = _simulate(xml, times)
    assert "Xref" not in model.parameters.names  # an expression now, not a constant
    rr = roadrunner.RoadRunner(str(xml))
    rr.integrator.absolute_tolerance, rr.integrator.relative_tolerance = 1e-12, 1e-10
    species = [s for s in rr.model.getFloatingSpeciesIds() if s in traj.state_names]
    assert species
    rr.timeCourseSelections = ["time"] + species  # amounts (hasOnlySubstanceUnits / unit compartment)
    res = rr.simulate(0.0, 10.0, 21)
    for k, s in enumerate(species):
        np.testing.assert_allclose(traj[s], res[:, 1 + k], rtol=1e-6, atol=1e-9)


def test_stoichiometry_with_a_rate_rule_is_a_state():
    model = from_sbml(SUITE / "01103" / "01103-sbml-l3v2.xml", time_unit=1.0)
    assert "Xref" in model.states.names


def test_level2_stoichiometry_math_is_imported():
    """00068 (L2V4): stoichiometryMath gives the product's stoichiometry."""
    model = from_sbml(SUITE / "00068" / "00068-sbml-l2v4.xml", time_unit=1.0)
    assert model.states


def test_stoichiometry_math_without_math_is_a_named_error():
    doc = """<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level2/version4" level="2" version="4"><model id="m">
 <listOfCompartments><compartment id="c" size="1"/></listOfCompartments>
 <listOfSpecies><species id="A" compartment="c" initialAmount="1"/><species id="B" compartment="c" initialAmount="0"/></listOfSpecies>
 <listOfReactions><reaction id="R" reversible="false">
  <listOfReactants><speciesReference species="A"/></listOfReactants>
  <listOfProducts><speciesReference species="B"><stoichiometryMath/></speciesReference></listOfProducts>
  <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML"><ci>A</ci></math></kineticLaw>
 </reaction></listOfReactions></model></sbml>"""
    with pytest.raises(SpecificationError, match="stoichiometryMath of 'B' has no math"):
        from_sbml(doc)


# ------------------------------------------------------------------------------- algebraic rules
def _algebraic_doc(rule: str, extra_params: str = "") -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2"><model id="m">
 <listOfParameters>
  <parameter id="x" value="1" constant="false"/><parameter id="y" constant="false"/>
  <parameter id="k" value="2" constant="true"/>{extra_params}
 </listOfParameters>
 <listOfRules>
  <rateRule variable="x"><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><minus/><ci>x</ci></apply></math></rateRule>
  <algebraicRule><math xmlns="http://www.w3.org/1998/Math/MathML">{rule}</math></algebraicRule>
 </listOfRules></model></sbml>"""


def test_linear_algebraic_rule_becomes_the_assignment_rule_of_the_variable_it_determines():
    """0 = k*y - x determines y (x has a rate rule): y = x/k = exp(-t)/2 exactly."""
    doc = _algebraic_doc("<apply><minus/><apply><times/><ci>k</ci><ci>y</ci></apply><ci>x</ci></apply>")
    times = np.linspace(0.0, 2.0, 5)
    model, traj = _simulate(doc, times)
    assert "y" in model.observables.names and "y" not in model.parameters.names
    np.testing.assert_allclose(traj["y"], np.exp(-times) / 2, rtol=1e-8)


def test_nonlinear_algebraic_rule_is_refused_by_name():
    doc = _algebraic_doc("<apply><minus/><apply><times/><ci>y</ci><ci>y</ci></apply><ci>x</ci></apply>")
    with pytest.raises(SBMLUnsupportedError, match="algebraic rule 2 .* not linear in y") as err:
        from_sbml(doc)
    assert err.value.construct == "algebraic rules"


def test_algebraic_rule_with_two_undetermined_variables_is_refused_as_ambiguous():
    doc = _algebraic_doc("<apply><minus/><ci>y</ci><ci>z</ci></apply>", '<parameter id="z" value="0" constant="false"/>')
    with pytest.raises(SBMLUnsupportedError, match=r"2 variable\(s\) nothing else determines \(y, z\)"):
        from_sbml(doc)


def test_algebraic_rule_that_determines_nothing_is_refused():
    doc = _algebraic_doc("<apply><minus/><ci>k</ci><ci>x</ci></apply>")
    with pytest.raises(SBMLUnsupportedError, match=r"0 variable\(s\) nothing else determines \(none\)"):
        from_sbml(doc)


# ------------------------------------------------------------------------ factorial, non-finite numbers
def _rate_rule_doc(math: str, x0: str = "3", extra: str = "") -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2"><model id="m">
 <listOfParameters><parameter id="x" value="{x0}" constant="false"/><parameter id="k" value="0.1" constant="true"/>{extra}
 </listOfParameters>
 <listOfRules><rateRule variable="x"><math xmlns="http://www.w3.org/1998/Math/MathML">{math}</math></rateRule>
 </listOfRules></model></sbml>"""


@pytest.mark.parametrize("method", ["auto", "LSODA", "BDF", "DOP853"])
def test_factorial_of_a_variable_is_gamma_of_x_plus_1(method):
    """dx/dt = -k x! from x = 3, against scipy's DOP853 on the same ODE with scipy.special.gamma."""
    import scipy.integrate
    import scipy.special

    import tumordyn as td

    doc = _rate_rule_doc("<apply><times/><cn>-1</cn><ci>k</ci><apply><factorial/><ci>x</ci></apply></apply>")
    times = np.linspace(0.0, 1.0, 11)
    model = from_sbml(doc, time_unit=1.0)
    traj = td.simulate(model, t_end=1.0, t_eval=times, method=method, rtol=1e-10, atol=1e-12)
    ref = scipy.integrate.solve_ivp(lambda t, y: -0.1 * scipy.special.gamma(y + 1), (0.0, 1.0), [3.0],
                                    method="DOP853", t_eval=times, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(traj["x"], ref.y[0], rtol=1e-7)
    assert traj["x"][-1] < 2.6  # it moved: 3! = 6 at the start


def test_factorial_in_generated_batch_code_is_nan_at_poles_and_inf_beyond_floats():
    """The numpy (batch) and scalar code for Gamma never raise: NaN at or below 0, inf past 171."""
    import sympy as sp

    from tumordyn.numerics._compile import _Printer, _ScalarPrinter

    x = sp.Symbol("x")
    args = np.array([-1.0, 0.0, 3.0, 4.5, 170.0, 200.0])
    want = np.array([np.nan, 1.0, 6.0, 52.34277778455352, 7.257415615307998e306, np.inf])
    env = {"numpy": np, "math": __import__("math")}
    vec = eval("lambda x: " + _Printer().doprint(sp.gamma(x + 1)), env)  # noqa: S307 - our own printer's text
    scalar = eval("lambda x: " + _ScalarPrinter().doprint(sp.gamma(x + 1)), env)  # noqa: S307
    np.testing.assert_allclose(vec(args), want, rtol=1e-12)
    np.testing.assert_allclose([scalar(float(a)) for a in args], want, rtol=1e-12)


def _params_and_rules(params: dict[str, str | None], rules: list[str]) -> str:
    ps = "".join(f'<parameter id="{p}" constant="false"{"" if v is None else f" value={chr(34)}{v}{chr(34)}"}/>'
                 for p, v in params.items())
    rs = "".join(f'<algebraicRule><math xmlns="http://www.w3.org/1998/Math/MathML">{r}</math></algebraicRule>'
                 for r in rules)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2"><model id="m">
 <listOfParameters>{ps}</listOfParameters><listOfRules>{rs}</listOfRules></model></sbml>"""


def _mml(op: str, *args: str) -> str:
    return f"<apply><{op}/>" + "".join(a if a.startswith("<") else (f"<cn>{a}</cn>" if a[0].isdigit() else
                                                                    f"<ci>{a}</ci>") for a in args) + "</apply>"


def test_algebraic_rules_solved_in_order_and_as_a_coupled_block():
    """x - 2 = 0 and x*y - 1 = 0 (y after x: 1/2); u + v - 3 = 0 and u - v - 1 = 0 together (2, 1)."""
    import tumordyn as td

    doc = _params_and_rules({"x": None, "y": None, "u": None, "v": None}, [
        _mml("minus", "x", "2"), _mml("minus", _mml("times", "x", "y"), "1"),
        _mml("minus", _mml("plus", "u", "v"), "3"), _mml("minus", _mml("minus", "u", "v"), "1")])
    traj = td.simulate(from_sbml(doc, time_unit=1.0), t_end=1.0, t_eval=[0.0, 1.0])
    for name, want in {"x": 2.0, "y": 0.5, "u": 2.0, "v": 1.0}.items():
        np.testing.assert_allclose(traj[name], want, rtol=1e-12)


def test_a_coupled_block_of_algebraic_rules_beyond_the_limit_is_refused_quickly():
    """Six rules each coupling two neighbours (a ring): no rule can be solved alone."""
    import time

    n = 6
    names = [f"x{k}" for k in range(n)]
    doc = _params_and_rules(dict.fromkeys(names), [
        _mml("minus", _mml("plus", names[k], names[(k + 1) % n]), str(k + 1)) for k in range(n)])
    t0 = time.perf_counter()
    with pytest.raises(SBMLUnsupportedError, match="couple 6 variables .* at most 4"):
        from_sbml(doc)
    assert time.perf_counter() - t0 < 5.0


def test_singular_block_of_algebraic_rules_is_refused():
    """u + v = 3 and 2u + 2v = 1 determine neither."""
    doc = _params_and_rules({"u": None, "v": None}, [
        _mml("minus", _mml("plus", "u", "v"), "3"),
        _mml("minus", _mml("plus", _mml("times", "2", "u"), _mml("times", "2", "v")), "1")])
    with pytest.raises(SBMLUnsupportedError, match=r"do not determine u, v \(the coefficient is 0\)"):
        from_sbml(doc)
