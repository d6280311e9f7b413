"""SBML import conformance: cases of the SBML Test Suite (tests/data/sbml, LGPL, see its README) run the
suite's way, the issue-16 regressions, and hostile documents (issue 18) refused by name in bounded time."""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import tumordyn as td
from tumordyn.errors import SpecificationError
from tumordyn.io import SBMLLimitError, SBMLUnsupportedError, from_sbml

pytest.importorskip("libsbml")

from tumordyn.io._sbml import _import_sbml

SUITE = Path(__file__).parent / "data" / "sbml"
CASES = sorted(p.name for p in SUITE.iterdir() if p.is_dir())


def _np_max(*args):
    return np.maximum.reduce(np.broadcast_arrays(*args))


def _np_min(*args):
    return np.minimum.reduce(np.broadcast_arrays(*args))


# Max/Min of arrays and scalars alike (sympy 1.12 prints them as ``amax((-5, t), axis=0)``)
NP_MINMAX = {"Max": _np_max, "Min": _np_min,
             "amax": lambda seq, axis=0: _np_max(*seq), "amin": lambda seq, axis=0: _np_min(*seq)}


def settings(case: str) -> dict:
    out: dict = {}
    for line in (SUITE / case / f"{case}-settings.txt").read_text().splitlines():
        k, _, v = line.partition(":")
        k, v = k.strip(), v.strip()
        if k in ("variables", "amount", "concentration"):
            out[k] = [x.strip() for x in v.split(",") if x.strip()]
        elif k:
            out[k] = float(v)
    return out


def simulate_case(case: str, method: str = "LSODA") -> tuple[np.ndarray, np.ndarray, dict]:
    """Simulated and expected values at the settings' times, the suite's way (with ``method``)."""
    st = settings(case)
    xml = min((SUITE / case).glob(f"{case}-sbml-l*.xml"), key=lambda p: "l3v2" not in p.name)  # l3v2, else the one there
    model, outputs = _import_sbml(xml, time_unit=1.0, allow_nonfinite=True)  # as benchmarks/sbml_test_suite.py
    times = np.linspace(st["start"], st["start"] + st["duration"], int(st["steps"]) + 1)
    traj = td.simulate(model, t_end=times[-1], t0=times[0], t_eval=times, method=method, rtol=1e-10, atol=1e-14)
    env = {sp.Symbol(n): traj.y[:, k] for k, n in enumerate(traj.state_names)}
    env.update({sp.Symbol(n): np.full(len(times), float(v)) for n, v in traj.params.items()})
    env[td.spec.TIME] = np.asarray(traj.t, dtype=float)
    cols = []
    for v in st["variables"]:
        val, size, hosu = outputs[v]
        if size is not None and v in st.get("amount", []) and not hosu:
            val = val * size
        elif size is not None and v in st.get("concentration", []) and hosu:
            val = val / size
        f = sp.lambdify(list(env), val, modules=[NP_MINMAX, "numpy"])
        with np.errstate(divide="ignore", invalid="ignore"):  # numpy evaluates every branch of a piecewise
            cols.append(np.broadcast_to(np.asarray(f(*env.values()), dtype=float), times.shape))
    with open(SUITE / case / f"{case}-results.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    header = [h.strip() for h in rows[0]]
    expected = np.array([[float(x) for x in r] for r in rows[1:] if r])[:, [1 + header[1:].index(v) for v in st["variables"]]]
    return np.column_stack(cols), expected, st


def test_the_copied_cases_keep_the_suite_licence():
    assert "Licensing and Distribution Terms for the SBML Test Suite" in (SUITE / "LICENSE.txt").read_text()
    assert "sbmlteam/sbml-test-suite" in (SUITE / "README.md").read_text()
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", CASES)
def test_suite_case_passes_the_suite_way(case):
    """|sim - expected| <= absolute + relative |expected| at every output time, for every listed variable."""
    sim, expected, st = simulate_case(case)
    assert sim.shape == expected.shape
    special = ~np.isfinite(expected)  # INF/NaN expected: the same INF (sign included) or NaN
    assert np.array_equal(sim[special], expected[special], equal_nan=True)
    sim, expected = np.where(special, 0.0, sim), np.where(special, 0.0, expected)
    bound = st["absolute"] + st["relative"] * np.abs(expected)
    assert np.all(np.abs(sim - expected) <= bound), np.max(np.abs(sim - expected) / bound)


# ------------------------------------------------------------------- the issue-16 defects, by number
def test_compartment_size_from_an_initial_assignment_sets_initial_values_and_rates():
    """00471: C := k2/50 = 1 (written 5.4); S2(10) = 2.493 as an amount, not 0.462."""
    sim, expected, _ = simulate_case("00471")
    assert sim[-1, 1] == pytest.approx(expected[-1, 1], rel=1e-6)
    assert expected[-1, 1] == pytest.approx(2.493, abs=1e-3)
    model = from_sbml(SUITE / "00471" / "00471-sbml-l3v2.xml")
    assert model.parameters["C"].default == 1.0


def test_compartment_from_an_initial_assignment_divides_initial_amounts_by_the_assigned_size():
    """00487: S2(0) = 2.0 (amount), not 0.571."""
    sim, _expected, _ = simulate_case("00487")
    assert sim[0, 1] == pytest.approx(2.0, rel=1e-9)


@pytest.mark.parametrize("case", ["00481", "00484", "00492", "00494", "00496", "00497"])
def test_constant_false_compartment_that_nothing_changes_is_a_constant(case):
    model = from_sbml(SUITE / case / f"{case}-sbml-l3v2.xml")
    sim, expected, st = simulate_case(case)
    assert np.allclose(sim, expected, rtol=st["relative"], atol=st["absolute"])
    assert model.states  # imported, not refused


def test_assignment_rule_to_a_reaction_rate_is_that_rate():
    """01225: p1 := J0 follows the reaction's rate (it used to be dropped)."""
    model = from_sbml(SUITE / "01225" / "01225-sbml-l3v2.xml")
    assert "p1" in model.observables.names
    sim, expected, st = simulate_case("01225")
    assert np.allclose(sim, expected, rtol=st["relative"], atol=st["absolute"])


@pytest.mark.parametrize("case", ["01540", "01556"])
def test_boundary_species_with_a_rate_rule_gets_no_reaction_flux(case):
    model = from_sbml(SUITE / case / f"{case}-sbml-l3v2.xml")
    for p in model.processes:
        if p.name.startswith("rate_rule_"):
            continue
        assert "S1" not in dict(p.consumes) and "S1" not in dict(p.produces), p


def test_species_in_a_compartment_changed_by_a_rule_is_held_as_an_amount():
    model = from_sbml(SUITE / "01117" / "01117-sbml-l3v2.xml")
    assert "S1_amount" in model.parameters.names  # a constant species keeps its amount, not its concentration


# ------------------------------------------------------------------------------ refusals by name
def doc(kinetic: str = "<ci> k </ci>", extra: str = "", rules: str = "", species: str = "") -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">
  <model id="m">
    <listOfCompartments><compartment id="c" size="1" constant="true"/></listOfCompartments>
    <listOfSpecies>
      <species id="S" compartment="c" initialAmount="1" hasOnlySubstanceUnits="true" boundaryCondition="false"
               constant="false"/>{species}
    </listOfSpecies>
    <listOfParameters><parameter id="k" value="0.5" constant="true"/>{extra}</listOfParameters>
    {rules}
    <listOfReactions>
      <reaction id="r" reversible="false">
        <listOfReactants><speciesReference species="S" stoichiometry="1" constant="true"/></listOfReactants>
        <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML">{kinetic}</math></kineticLaw>
      </reaction>
    </listOfReactions>
  </model>
</sbml>"""


def test_model_without_ode_states_gets_one_constant_placeholder_state():
    """Only boundary species and an assignment rule of t: the values are observables over time."""
    rules = """<listOfRules><assignmentRule variable="p"><math xmlns="http://www.w3.org/1998/Math/MathML">
        <apply><times/><ci> k </ci><csymbol encoding="text" definitionURL="http://www.sbml.org/sbml/symbols/time">
        t </csymbol></apply></math></assignmentRule></listOfRules>"""
    text = doc(extra='<parameter id="p" constant="false"/>', rules=rules).replace(
        'boundaryCondition="false"', 'boundaryCondition="true"')
    model = from_sbml(text)
    assert model.states.names == ("sbml_no_state",) and not model.processes
    traj = td.simulate(model, t_end=4.0, t_eval=[0.0, 2.0, 4.0])
    assert np.allclose(traj.to_dataframe()["p"].to_numpy(), [0.0, 1.0, 2.0])
    assert np.all(traj.y == 0.0)


@pytest.mark.parametrize("math_", [
    "<apply><factorial/><ci> k </ci></apply>",
    "<apply><factorial/><apply><plus/><ci> k </ci><cn> 1 </cn></apply></apply>",
])
def test_factorial_of_a_parameter_is_gamma_of_it_plus_1(math_):
    """factorial(x) of a non-constant is Gamma(x + 1) (it used to be refused; 00028, 00173 in the suite)."""
    model = from_sbml(doc(math_))
    assert any(p.rate.has(sp.gamma) for p in model.processes)


def test_hyperbolic_functions_are_imported_exactly():
    rules = """<listOfRules>""" + "".join(
        f"""<assignmentRule variable="{f}_k"><math xmlns="http://www.w3.org/1998/Math/MathML">
        <apply><{f}/><ci> k </ci></apply></math></assignmentRule>"""
        for f in ("sinh", "cosh", "sech", "csch", "coth", "arcsinh", "arctanh", "arcsech", "arccsch")
    ) + "</listOfRules>"
    extra = "".join(f'<parameter id="{f}_k" constant="false"/>'
                    for f in ("sinh", "cosh", "sech", "csch", "coth", "arcsinh", "arctanh", "arcsech", "arccsch"))
    model = from_sbml(doc(extra=extra, rules=rules))
    want = {"sinh": math.sinh(0.5), "cosh": math.cosh(0.5), "sech": 1 / math.cosh(0.5), "csch": 1 / math.sinh(0.5),
            "coth": 1 / math.tanh(0.5), "arcsinh": math.asinh(0.5), "arctanh": math.atanh(0.5),
            "arcsech": math.acosh(1 / 0.5), "arccsch": math.asinh(1 / 0.5)}
    for f, v in want.items():
        e = model.observables[f"{f}_k"].expr.subs(sp.Symbol("k"), 0.5)
        assert float(e) == pytest.approx(v, rel=1e-14), f


def test_conversion_factor_scales_the_species_change():
    text = doc(extra='<parameter id="cf" value="3" constant="true"/>').replace(
        'constant="false"/>', 'constant="false" conversionFactor="cf"/>', 1)
    model = from_sbml(text)
    proc = model.processes["r"]
    assert dict(proc.consumes) == {"S": 1.0}
    assert sp.simplify(proc.rate - sp.Symbol("cf") * sp.Symbol("k")) == 0  # the factor stays a parameter
    a = td.simulate(model, t_end=1.0, t_eval=[1.0], method="LSODA", rtol=1e-10, atol=1e-12).final["S"]
    b = td.simulate(model, t_end=1.0, t_eval=[1.0], method="LSODA", rtol=1e-10, atol=1e-12, params={"cf": 1.0}).final["S"]
    assert a == pytest.approx(1 - 1.5, rel=1e-8) and b == pytest.approx(1 - 0.5, rel=1e-8)


def test_reaction_between_compartments_divides_by_each_compartment_symbolically():
    """S1 (in c1, size 2) -> S2 (in c2, size 5), concentrations: d[S1]/dt = -v/c1, d[S2]/dt = v/c2, with
    the sizes as parameters (changing one at simulation time acts as SBML says)."""
    text = doc("<apply><times/><ci> k </ci><ci> S </ci><ci> c </ci></apply>",
               species='<species id="P" compartment="c2" initialConcentration="0" hasOnlySubstanceUnits="false" '
                       'boundaryCondition="false" constant="false"/>')
    text = text.replace('<compartment id="c" size="1" constant="true"/>',
                        '<compartment id="c" size="2" constant="true"/><compartment id="c2" size="5" constant="true"/>')
    text = text.replace('hasOnlySubstanceUnits="true"', 'hasOnlySubstanceUnits="false"', 1)
    text = text.replace("</listOfReactants>", '</listOfReactants><listOfProducts><speciesReference species="P" '
                        'stoichiometry="1" constant="true"/></listOfProducts>')
    model = from_sbml(text)
    k, S, c, c2 = sp.symbols("k S c c2")
    rates = {p.name: (p.rate, dict(p.consumes), dict(p.produces)) for p in model.processes}
    assert sp.simplify(rates["r"][0] - k * S) == 0 and rates["r"][1] == {"S": 1.0}
    assert sp.simplify(rates["r_2"][0] - k * S * c / c2) == 0 and rates["r_2"][2] == {"P": 1.0}


# ------------------------------------------------------------------ hostile documents (issue 18)
def nested(depth: int) -> str:
    inner = "<ci> k </ci>"
    for _ in range(depth):
        inner = f"<apply><plus/>{inner}<cn> 1 </cn></apply>"
    return doc(inner)


@pytest.mark.parametrize("depth", [500, 5000])
def test_deeply_nested_mathml_is_refused_before_libsbml_reads_it(depth):
    t0 = time.perf_counter()
    with pytest.raises(SBMLLimitError, match="nested deeper than 250"):
        from_sbml(nested(depth))
    assert time.perf_counter() - t0 < 5


def test_mathml_nested_10000_deep_does_not_kill_the_process(tmp_path):
    """libsbml's reader crashes (SIGSEGV) on it: the depth check must refuse it first (run in a child)."""
    path = tmp_path / "deep.xml"
    path.write_text(nested(10_000))
    code = ("import sys, tumordyn.io as io\n"
            "try:\n    io.from_sbml(sys.argv[1])\n"
            "except io.SBMLLimitError as e:\n    print('refused:', e)\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(td.__file__).parents[1]) + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120, env=env,
                         check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "refused: deep.xml: XML elements nested deeper than 250 levels" in out.stdout


def test_moderate_nesting_is_accepted_and_the_limit_is_configurable():
    model = from_sbml(nested(100))
    assert float(model.processes["r"].rate.subs(sp.Symbol("k"), 0)) == 100.0
    with pytest.raises(SBMLLimitError):
        from_sbml(nested(100), max_depth=50)


def test_huge_power_of_numbers_is_refused_not_computed():
    t0 = time.perf_counter()
    power = "<apply><power/><cn type='integer'> 10 </cn><apply><power/><cn type='integer'> 10 </cn>" \
            "<cn type='integer'> 10 </cn></apply></apply>"
    with pytest.raises(SBMLLimitError, match="too large"):
        from_sbml(doc(f"<apply><times/><ci> k </ci>{power}</apply>"))
    assert time.perf_counter() - t0 < 5


def test_chained_assignment_rules_that_grow_exponentially_are_refused_in_bounded_time():
    """x_k := x_{k-1} * (x_{k-1} + 1), 40 times: 2^40 nodes once substituted."""
    n = 40
    rules = "<listOfRules>" + "".join(
        f"""<assignmentRule variable="x{k}"><math xmlns="http://www.w3.org/1998/Math/MathML">
        <apply><times/><ci> {'k' if k == 1 else f'x{k - 1}'} </ci>
        <apply><plus/><ci> {'k' if k == 1 else f'x{k - 1}'} </ci><cn> 1 </cn></apply></apply></math></assignmentRule>"""
        for k in range(1, n + 1)) + "</listOfRules>"
    extra = "".join(f'<parameter id="x{k}" constant="false"/>' for k in range(1, n + 1))
    t0 = time.perf_counter()
    with pytest.raises(SBMLLimitError, match="grows beyond"):
        from_sbml(doc(f"<apply><times/><ci> k </ci><ci> x{n} </ci></apply>", extra=extra, rules=rules))
    assert time.perf_counter() - t0 < 20


def test_oversized_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "big.xml"
    with open(path, "wb") as f:  # a sparse 1 GiB file: a comment that never ends
        f.write(b"<?xml version='1.0'?><!--")
        f.truncate(1 << 30)
    t0 = time.perf_counter()
    with pytest.raises(SBMLLimitError, match="over the limit"):
        from_sbml(path)
    assert time.perf_counter() - t0 < 2
    small = tmp_path / "small.xml"
    small.write_text(doc())
    with pytest.raises(SBMLLimitError):
        from_sbml(small, max_bytes=100)
    with pytest.raises(SBMLLimitError):
        from_sbml(doc(), max_bytes=100)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_is_refused_not_read(tmp_path):
    path = tmp_path / "pipe.xml"
    os.mkfifo(path)
    with pytest.raises(SpecificationError, match="not a regular file"):
        from_sbml(path)


def test_entity_declarations_are_refused():
    laughs = ('<?xml version="1.0"?><!DOCTYPE sbml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
              + doc().split("?>", 1)[1])
    with pytest.raises(SBMLLimitError, match="DTD"):
        from_sbml(laughs)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_limits_must_be_positive_integers(bad):
    with pytest.raises(SpecificationError, match="positive integer"):
        from_sbml(doc(), max_depth=bad)


def test_function_definitions_that_expand_exponentially_are_refused_in_bounded_time():
    """f_k(x) := f_{k-1}(x) + exp(f_{k-1}(x)): 2^40 nodes once inlined 40 times."""
    n = 40
    fds = [('<functionDefinition id="f0"><math xmlns="http://www.w3.org/1998/Math/MathML"><lambda><bvar><ci> x </ci>'
            '</bvar><apply><plus/><ci> x </ci><cn> 1 </cn></apply></lambda></math></functionDefinition>')]
    for k in range(1, n + 1):
        fds.append(f'<functionDefinition id="f{k}"><math xmlns="http://www.w3.org/1998/Math/MathML"><lambda><bvar>'
                   f'<ci> x </ci></bvar><apply><plus/><apply><ci> f{k - 1} </ci><ci> x </ci></apply><apply><exp/><apply>'
                   f'<ci> f{k - 1} </ci><ci> x </ci></apply></apply></apply></lambda></math>'
                   '</functionDefinition>')
    text = doc(f"<apply><ci> f{n} </ci><ci> k </ci></apply>").replace(
        "<listOfCompartments>", "<listOfFunctionDefinitions>" + "".join(fds) + "</listOfFunctionDefinitions>"
        "<listOfCompartments>")
    t0 = time.perf_counter()
    with pytest.raises(SBMLLimitError, match="expands beyond"):
        from_sbml(text)
    assert time.perf_counter() - t0 < 30


def test_mathml_just_inside_the_depth_limit_imports():
    model = from_sbml(nested(240))
    assert float(model.processes["r"].rate.subs(sp.Symbol("k"), 0)) == 240.0


def test_rate_of_an_assignment_rule_variable_follows_the_chain_rule():
    """y := S^2 with dS/dt = -k S, p' = rateOf(y): p(t) - p(0) = S(t)^2 - S(0)^2."""
    rules = """<listOfRules>
      <assignmentRule variable="y"><math xmlns="http://www.w3.org/1998/Math/MathML">
        <apply><power/><ci> S </ci><cn type="integer"> 2 </cn></apply></math></assignmentRule>
      <rateRule variable="p"><math xmlns="http://www.w3.org/1998/Math/MathML">
        <apply><csymbol encoding="text" definitionURL="http://www.sbml.org/sbml/symbols/rateOf"> rateOf </csymbol>
        <ci> y </ci></apply></math></rateRule></listOfRules>"""
    text = doc("<apply><times/><ci> k </ci><ci> S </ci></apply>",
               extra='<parameter id="y" constant="false"/><parameter id="p" value="0" constant="false"/>', rules=rules)
    model = from_sbml(text)
    traj = td.simulate(model, t_end=2.0, t_eval=[0.0, 1.0, 2.0], rtol=1e-10, atol=1e-12, method="LSODA")
    df = traj.to_dataframe()
    s = np.exp(-0.5 * df.index.to_numpy())
    assert np.allclose(df["p"].to_numpy(), s**2 - 1.0, rtol=1e-7, atol=1e-9)


def test_rate_of_a_function_that_is_not_differentiable_everywhere_is_refused():
    rules = """<listOfRules>
      <assignmentRule variable="y"><math xmlns="http://www.w3.org/1998/Math/MathML">
        <apply><abs/><apply><minus/><ci> S </ci><cn> 0.5 </cn></apply></apply></math></assignmentRule>
      <rateRule variable="p"><math xmlns="http://www.w3.org/1998/Math/MathML">
        <apply><csymbol encoding="text" definitionURL="http://www.sbml.org/sbml/symbols/rateOf"> rateOf </csymbol>
        <ci> y </ci></apply></math></rateRule></listOfRules>"""
    text = doc(extra='<parameter id="y" constant="false"/><parameter id="p" value="0" constant="false"/>', rules=rules)
    with pytest.raises(SBMLUnsupportedError) as err:
        from_sbml(text)
    assert err.value.construct == "rateOf"


def test_yardstick_script_classifies_pass_wrong_and_refused(tmp_path):
    """benchmarks/sbml_test_suite.py on three cases: one as copied (pass), one with a wrong expected
    value (wrong), one with a constraint added (refused, construct 'constraints'); CSV and summary written."""
    import shutil

    for case in ("00001", "00471", "01225"):
        shutil.copytree(SUITE / case, tmp_path / case)
    res = tmp_path / "00471" / "00471-results.csv"
    lines = res.read_text().splitlines()
    cells = lines[-1].split(",")
    cells[-1] = str(float(cells[-1]) * 1.01)
    lines[-1] = ",".join(cells)
    res.write_text("\n".join(lines) + "\n")
    xml = tmp_path / "01225" / "01225-sbml-l3v2.xml"
    xml.write_text(xml.read_text().replace("<listOfReactions>", """<listOfConstraints><constraint>
      <math xmlns="http://www.w3.org/1998/Math/MathML"><apply><gt/><ci> S1 </ci><cn> 0 </cn></apply></math>
      </constraint></listOfConstraints><listOfReactions>"""))
    out_csv = tmp_path / "out.csv"
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(td.__file__).parents[1]) + os.pathsep + env.get("PYTHONPATH", "")
    script = Path(__file__).parents[1] / "benchmarks" / "sbml_test_suite.py"
    out = subprocess.run([sys.executable, str(script), str(tmp_path), "--csv", str(out_csv), "--jobs", "1",
                          "--timeout", "120"], capture_output=True, text=True, timeout=600, env=env, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    with open(out_csv, newline="") as fh:
        rows = {r["case"]: r for r in csv.DictReader(fh)}
    assert rows["00001"]["class"] == "pass"
    assert rows["00471"]["class"] == "wrong" and float(rows["00471"]["scaled_error"]) > 1
    assert rows["01225"]["class"] == "refused" and rows["01225"]["construct"] == "constraints"
    assert rows["00001"]["component_tags"] == "Compartment Species Reaction Parameter"
    assert "pass 1 of 3 (33.3 %)" in out.stdout
    assert "pass 1, wrong 1, refused 1, crash 0, timeout 0" in out.stdout


def test_species_reference_marked_non_constant_that_nothing_changes_keeps_its_stoichiometry():
    """constant="false" alone (no rule, no event on the reference): dS/dt = -2 k S as with constant="true"."""
    text = doc("<apply><times/><ci> k </ci><ci> S </ci></apply>").replace(
        'stoichiometry="1" constant="true"', 'id="sr" stoichiometry="2" constant="false"')
    traj = td.simulate(from_sbml(text, time_unit=1), t_end=1.0, t_eval=[0.0, 1.0], rtol=1e-10, atol=1e-12)
    assert traj["S"][-1] == pytest.approx(np.exp(-1.0), rel=1e-8)
    rule = ('<listOfRules><assignmentRule variable="sr"><math xmlns="http://www.w3.org/1998/Math/MathML">'
            '<cn> 3 </cn></math></assignmentRule></listOfRules>')
    # an assignment rule on the reference's id makes the stoichiometry that expression: dS/dt = -3 k S
    ruled = from_sbml(text.replace("<listOfReactions>", rule + "<listOfReactions>"), time_unit=1)
    traj = td.simulate(ruled, t_end=1.0, t_eval=[0.0, 1.0], rtol=1e-10, atol=1e-12)
    assert traj["S"][-1] == pytest.approx(np.exp(-1.5), rel=1e-8)


def test_constraint_with_math_is_refused_and_without_math_ignored():
    text = doc().replace("</listOfParameters>", "</listOfParameters><listOfConstraints><constraint>"
                         '<math xmlns="http://www.w3.org/1998/Math/MathML"><apply><gt/><ci> S </ci><cn> 0 </cn>'
                         "</apply></math></constraint></listOfConstraints>")
    with pytest.raises(SBMLUnsupportedError) as err:
        from_sbml(text)
    assert err.value.construct == "constraints"
    bare = doc().replace("</listOfParameters>", "</listOfParameters><listOfConstraints><constraint/>"
                         "</listOfConstraints>")
    assert from_sbml(bare).states.names == ("S",)
