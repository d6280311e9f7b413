"""SBML import (issue 16): INF/NaN constants with ``allow_nonfinite=True`` (left out of the model, never
used by what is simulated) and under-determined algebraic rules whose extra variables are set elsewhere."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tumordyn as td
from tumordyn.errors import TumordynWarning
from tumordyn.io import SBMLUnsupportedError, from_sbml

pytest.importorskip("libsbml")

MATH = 'xmlns="http://www.w3.org/1998/Math/MathML"'
TIME = '<csymbol encoding="text" definitionURL="http://www.sbml.org/sbml/symbols/time"> t </csymbol>'


def doc(params: str = "", kinetic: str = "<apply><times/><ci> k </ci><ci> S </ci></apply>", rules: str = "",
        events: str = "") -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">
  <model id="m">
    <listOfCompartments><compartment id="c" size="1" constant="true"/></listOfCompartments>
    <listOfSpecies><species id="S" compartment="c" initialAmount="1" hasOnlySubstanceUnits="true"
      boundaryCondition="false" constant="false"/></listOfSpecies>
    <listOfParameters><parameter id="k" value="0.5" constant="true"/>{params}</listOfParameters>
    {rules}
    <listOfReactions><reaction id="r" reversible="false">
      <listOfReactants><speciesReference species="S" stoichiometry="1" constant="true"/></listOfReactants>
      <kineticLaw><math {MATH}>{kinetic}</math></kineticLaw></reaction></listOfReactions>
    {events}
  </model>
</sbml>"""


UNUSED = '<parameter id="P" value="INF" constant="true"/><parameter id="R" value="NaN" constant="true"/>'


def test_nonfinite_constants_are_refused_by_default_and_name_the_option():
    with pytest.raises(SBMLUnsupportedError, match=r"value inf of 'P'.*allow_nonfinite=True") as err:
        from_sbml(doc(UNUSED))
    assert err.value.construct == "non-finite number"
    with pytest.raises(TypeError, match="allow_nonfinite"):
        from_sbml(doc(UNUSED), allow_nonfinite=1)


def test_unused_nonfinite_constants_are_left_out_with_a_warning_listing_their_values():
    with pytest.warns(TumordynWarning, match=r"left out of the model.*P = inf, R = nan"):
        model = from_sbml(doc(UNUSED), allow_nonfinite=True)
    assert "P" not in model.parameters.names and "R" not in model.parameters.names
    traj = td.simulate(model, t_end=2.0, t_eval=[2.0], solver=td.Solver(rtol=1e-10, atol=1e-12))
    assert traj["S"][0] == pytest.approx(math.exp(-1.0), rel=1e-8)  # the rest imports and simulates as before
    # from an initial assignment too (the suite's 00950)
    ia = f'<listOfInitialAssignments><initialAssignment symbol="Q"><math {MATH}><infinity/></math>' \
         '</initialAssignment></listOfInitialAssignments>'
    with pytest.warns(TumordynWarning, match=r"Q = inf"):
        from_sbml(doc('<parameter id="Q" value="1" constant="true"/>', rules=ia), allow_nonfinite=True)


@pytest.mark.parametrize("params, kinetic, rules, events, where", [
    (UNUSED, "<apply><times/><ci> P </ci><ci> S </ci></apply>", "", "", r"P \(INF/NaN\) used in the rate of process"),
    ("", "<apply><times/><infinity/><ci> S </ci></apply>", "", "", "an INF/NaN number used in the rate of process"),
    (UNUSED + '<parameter id="x" constant="false"/>', "<apply><times/><ci> k </ci><ci> S </ci></apply>",
     f'<listOfRules><assignmentRule variable="x"><math {MATH}><apply><plus/><ci> R </ci><cn> 1 </cn></apply></math>'
     '</assignmentRule></listOfRules>', "", r"R \(INF/NaN\) used in the assignment rule of 'x'"),
    (UNUSED, "<apply><times/><ci> k </ci><ci> S </ci></apply>", "",
     f'<listOfEvents><event id="e" useValuesFromTriggerTime="true"><trigger initialValue="true" persistent="true">'
     f'<math {MATH}><apply><gt/>{TIME}<cn> 1 </cn></apply></math></trigger><listOfEventAssignments>'
     f'<eventAssignment variable="S"><math {MATH}><ci> P </ci></math></eventAssignment></listOfEventAssignments>'
     '</event></listOfEvents>', r"P \(INF/NaN\) used in event 'e'"),
])
def test_a_nonfinite_constant_that_something_simulated_uses_is_still_refused(params, kinetic, rules, events, where):
    with pytest.raises(SBMLUnsupportedError, match=where) as err:
        from_sbml(doc(params, kinetic, rules, events), allow_nonfinite=True)
    assert err.value.construct == "non-finite number"


def rule(expr: str) -> str:
    return f'<listOfRules><algebraicRule><math {MATH}>{expr}</math></algebraicRule></listOfRules>'


def test_an_algebraic_rule_takes_an_event_target_as_given():
    """0 = Q - 2 S_total... : Q is set by an event, so the rule determines Y (the suite's 01589 in small)."""
    params = ('<parameter id="Q" value="1" constant="false"/><parameter id="Y" constant="false"/>')
    events = (f'<listOfEvents><event id="bump" useValuesFromTriggerTime="true"><trigger initialValue="true" '
              f'persistent="true"><math {MATH}><apply><geq/>{TIME}<cn> 1 </cn></apply></math></trigger>'
              f'<listOfEventAssignments><eventAssignment variable="Q"><math {MATH}><cn> 5 </cn></math>'
              '</eventAssignment></listOfEventAssignments></event></listOfEvents>')
    model = from_sbml(doc(params, rules=rule("<apply><minus/><ci> Y </ci><apply><times/><cn> 2 </cn><ci> Q </ci>"
                                              "</apply></apply>"), events=events))
    assert "Q" in model.states.names and "Y" in model.observables.names
    traj = td.simulate(model, t_end=2.0, t_eval=[0.5, 2.0], solver=td.Solver(rtol=1e-10, atol=1e-12))
    assert np.allclose(traj.to_dataframe()["Y"].to_numpy(), [2.0, 10.0])


def test_an_algebraic_rule_with_two_free_variables_is_still_refused():
    params = '<parameter id="A" constant="false"/><parameter id="B" value="1" constant="false"/>'
    with pytest.raises(SBMLUnsupportedError, match=r"2 variable\(s\) nothing else determines \(A, B\)") as err:
        from_sbml(doc(params, rules=rule("<apply><minus/><ci> A </ci><ci> B </ci></apply>")))
    assert err.value.construct == "algebraic rules"
    # nonlinear in what two rules determine: refused by name
    params = '<parameter id="A" constant="false"/><parameter id="B" constant="false"/>'
    rules = (f'<listOfRules><algebraicRule><math {MATH}><apply><minus/><apply><times/><ci> A </ci><ci> B </ci>'
             f'</apply><cn> 2 </cn></apply></math></algebraicRule><algebraicRule><math {MATH}><apply><minus/>'
             '<ci> A </ci><ci> B </ci></apply></math></algebraicRule></listOfRules>')
    with pytest.raises(SBMLUnsupportedError, match="not linear") as err:
        from_sbml(doc(params, rules=rules))
    assert err.value.construct == "algebraic rules"
