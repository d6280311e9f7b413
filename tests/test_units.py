"""Units: parsed by pint with tumordyn's registry, checked at model build, and doses per kg or per m²."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
import sympy as sp

import tumordyn as td
from tumordyn.errors import SpecificationError, UnitError
from tumordyn.fitting import growth_models
from tumordyn.spec._units import infer_unit, parse_unit, Unit

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, strategies as st  # noqa: E402


def kill_model(k_unit: str = "1/day", C_unit: str = "mg/L", **kw) -> td.Model:
    """Tumor cells S killed by a drug C at ``k * C * S / (EC50 + C)``."""
    return td.Model(
        "kill_model",
        states=[td.State("S", 1e6, "cells"), td.State("C", 0.0, C_unit)],
        parameters=[td.Parameter("k", 0.5, unit=k_unit), td.Parameter("EC50", 1.0, unit="mg/L"),
                    td.Parameter("ke", 0.3, unit="1/day"), td.Parameter("V", 5.0, unit="L")],
        processes=[td.Process("kill", "k * C * S / (EC50 + C)", consumes="S"),
                   td.Process("elim", "ke * C", consumes="C")],
        drugs=[td.Drug("d", "C", volume="V", dose_unit="mg")],
        **kw,
    )


# --------------------------------------------------------------------------- reading units

def test_misspelt_unit_is_refused_with_a_suggestion_naming_the_parameter():
    with pytest.raises(UnitError, match=r"parameter 'r': unknown unit 'dya' in '1/dya'; did you mean 'day'") as info:
        td.Model("m", states=[td.State("N", 1.0, "cells")],
                 parameters=[td.Parameter("r", 0.5, unit="1/dya")],
                 processes=[td.Process("birth", "r*N", produces="N")])
    assert isinstance(info.value, SpecificationError) and isinstance(info.value, ValueError)
    assert info.value.unit == "1/dya"


@pytest.mark.parametrize("text", ["ng/mL (model units)", "cells))", "1/dya"])
def test_unreadable_unit_text_raises_unit_error(text):
    with pytest.raises(UnitError, match=re.escape(repr(text))):
        parse_unit(text, "state 'x'")


@pytest.mark.parametrize("text, expected", [
    ("cells", "cell"), ("cells/day", "cell/day"), ("1/(cell day)", "1/(cell·day)"), ("mm^3/cell", "mm^3/cell"),
    ("mg/L", "mg/L"), ("1", "1"), ("1e6 cells", "1e+06 cell"), ("m²", "m^2"),
])
def test_plausible_unit_strings_parse(text, expected):
    assert str(parse_unit(text)) == expected


def test_unit_sizes_agree_with_hand_conversions():
    assert parse_unit("ug/mL").same(parse_unit("mg/L"))
    assert parse_unit("1/hour").ratio(parse_unit("1/day")) == pytest.approx(24.0, rel=1e-12)
    assert parse_unit("mg/kg").dimensionless and parse_unit("mg/kg").ratio(parse_unit("1")) == pytest.approx(1e-6)
    assert parse_unit("cells").ratio(parse_unit("mg")) is None
    assert parse_unit("") is None and parse_unit(None) is None


# --------------------------------------------------------------------------- the check at build

def test_consistent_model_builds_and_is_checked():
    m = kill_model()
    assert m.units_checked


def test_wrong_dimension_names_the_process_and_both_units():
    # k in 1/day makes k*C*S/(EC50+C) cells/day: fine. k in 1/day with an extra C is not:
    with pytest.raises(UnitError, match=r"process 'kill' has a rate in cell·mg/\(day·L\) but state 'S' changes "
                                        r"in cell/day"):
        td.Model("m", states=[td.State("S", 1.0, "cells"), td.State("C", 0.0, "mg/L")],
                 parameters=[td.Parameter("k", 1.0, unit="1/day")],
                 processes=[td.Process("kill", "k*C*S", consumes="S")])


def test_wrong_scale_is_an_error_with_the_factor():
    with pytest.raises(UnitError, match=r"process 'kill' has a rate in cell/h but state 'S' changes in cell/day "
                                        r"\(a factor 24 apart"):
        kill_model(k_unit="1/h")


def test_sum_of_different_units_names_the_process():
    with pytest.raises(UnitError, match=r"rate of process 'kill' is not dimensionally consistent: a sum in .* "
                                        r"mixes"):
        kill_model(C_unit="cells")


def test_observable_in_the_wrong_unit_is_refused():
    S = sp.Symbol("S")
    base = kill_model()
    good = base.replace(observables=[td.Observable("volume_mm3", sp.Symbol("v") * S, "mm^3")],
                        parameters=(*base.parameters, td.Parameter("v", 1e-6, unit="mm^3/cell")))
    assert good.units_checked
    with pytest.raises(UnitError, match=r"observable 'volume_mm3' is declared in cm\^3 but its expression"):
        good.replace(observables=[td.Observable("volume_mm3", sp.Symbol("v") * S, "cm^3")])


def test_drug_dose_over_volume_must_give_the_compartment_unit():
    with pytest.raises(UnitError, match=r"a dose of drug 'd' in mg/kg .* give doses per body weight"):
        kill_model().replace(drugs=[td.Drug("d", "C", volume="V", dose_unit="mg/kg")])
    # a volume parameter in mL with a compartment in mg/L is a factor 1000 apart
    base = kill_model()
    params = [td.Parameter("V", 5000.0, (0, math.inf), "mL") if p.name == "V" else p for p in base.parameters]
    with pytest.raises(UnitError, match="drug 'd'"):
        base.replace(parameters=params)


def test_time_in_a_transcendental_function_must_be_dimensionless():
    with pytest.raises(UnitError, match=r"tanh\(\) of t, which is in day"):
        td.Model("m", states=[td.State("N", 1.0, "cells")], parameters=[td.Parameter("r", 0.1, unit="1/day")],
                 processes=[td.Process("birth", "r*N*(1 + tanh(t))", produces="N")])


def test_opting_out_and_undeclared_units():
    # check_units=False keeps unit text as free text
    m = kill_model(k_unit="1/h", check_units=False)
    assert not m.units_checked
    assert td.compose("c", m.as_module(), check_units=False).units_checked is False
    # an undeclared unit ("" or None, the default of State and Parameter) leaves every rate it enters unchecked
    kill_model(k_unit="")
    kill_model(k_unit=None)
    assert td.Parameter("k", 1.0).unit == "" and td.State("x").unit == ""
    # bare decimals in a product have undeclared units, as in SBML: "0.1*N" is not refused
    td.Model("m", states=[td.State("N", 1.0, "cells")], parameters=[td.Parameter("K", 10.0, unit="cells")],
             processes=[td.Process("birth", "0.1*N*(1 - N/K)", produces="N")])


def test_model_file_keeps_units_and_check_units(tmp_path):
    m = kill_model(k_unit="1/h", check_units=False)
    for ext in ("toml", "json"):
        path = tmp_path / f"m.{ext}"
        td.io.save_model(m, path)
        back = td.io.load_model(path)
        assert back == m and not back.units_checked
        assert back.parameters["k"].unit == "1/h"
    td.io.save_model(kill_model(), tmp_path / "ok.toml")
    assert td.io.load_model(tmp_path / "ok.toml").units_checked


def test_sbml_import_is_marked_unchecked():
    pytest.importorskip("libsbml")
    from pathlib import Path

    foreign = Path(__file__).parent / "data" / "biomodels" / "kuznetsov1994-nonlinear-dynamics-of-immunogenic-tumors.xml"
    assert not td.io.from_sbml(foreign).units_checked  # SBML unit ids are not tumordyn units
    # a tumordyn export carries the model itself (annotation): it comes back with its units, checked
    m = td.models.one_compartment_pk()
    back = td.io.from_sbml(td.io.to_sbml(m))
    assert back.units_checked and [s.unit for s in back.states] == [s.unit for s in m.states]


# --------------------------------------------------------------------------- every built-in model

def builtin_models() -> list[td.Model]:
    out = [td.models.tumor_immune_tme(),
           td.models.tumor_immune_tme(growth="gompertz", drug_induced_switching=True, stress_inhibitor=True),
           td.models.kuznetsov1994(), td.models.zhang2017(), td.models.logistic_growth(),
           td.models.gompertz_growth(), td.models.one_compartment_pk()]
    out += [getattr(m, "model", m) for m, _, _ in growth_models().values()]  # a GrowthLaw carries its Model
    return out


def env_of(model: td.Model) -> dict:
    env = {"t": parse_unit("day")}
    env.update({s.name: parse_unit(s.unit) for s in model.states})
    env.update({p.name: parse_unit(p.unit) for p in model.parameters})
    env.update({d.name: parse_unit(d.dose_unit) for d in model.drugs if d.compartment is None})
    return env


@pytest.mark.parametrize("model", builtin_models(), ids=lambda m: m.name)
def test_every_builtin_model_declares_and_passes_its_units(model):
    assert model.units_checked
    env = env_of(model)
    day = parse_unit("day")
    # every unit is declared, and every rate with a rate constant is actually checked (not skipped)
    assert all(env[s.name] is not None for s in model.states), model.name
    assert all(env[p.name] is not None for p in model.parameters), model.name
    params = {p.symbol for p in model.parameters}
    for proc in model.processes:
        if not proc.rate.free_symbols & params:
            continue
        u = infer_unit(proc.rate, env)
        assert isinstance(u, Unit), (model.name, proc.name)
        for k in proc.stoichiometry:
            assert u.same(env[k] / day), (model.name, proc.name, str(u))


# --------------------------------------------------------------------------- property: consistent rescaling

SUBSTITUTES = {
    "cell": ("cell", "kcell", "1e6 cell"),
    "mg": ("mg", "g", "ug"),
    "L": ("L", "mL", "dL"),
    "mm": ("mm", "cm", "um"),
}
_TOKEN = re.compile(r"(?<![A-Za-z])(cells|cell|mg|L|mm)(?![A-Za-z])")


def rescale(model: td.Model, choice: dict[str, str]) -> td.Model:
    """Every unit string with cell, mg, L and mm replaced by the chosen unit of the same dimension."""

    def sub(text: str) -> str:
        def one(m: re.Match) -> str:
            base = "cell" if m.group(1).startswith("cell") else m.group(1)
            return f"({choice[base]})"

        return _TOKEN.sub(one, text)

    from dataclasses import replace

    return model.replace(
        states=[replace(s, unit=sub(s.unit)) for s in model.states],
        parameters=[replace(p, unit=sub(p.unit)) for p in model.parameters],
        drugs=[replace(d, dose_unit=sub(d.dose_unit)) for d in model.drugs],
        observables=[td.Observable(o.name, o.expr, sub(o.unit), o.description) for o in model.observables],
    )


def check_result(make) -> str:
    """``"ok"``, or the culprit the UnitError names (the units in the message differ with the rescaling)."""
    try:
        make()
    except UnitError as err:
        return "UnitError: " + " ".join(re.search(r"(process|observable|drug) '[^']+'", str(err)).group(0).split())
    return "ok"


@given(st.fixed_dictionaries({k: st.sampled_from(v) for k, v in SUBSTITUTES.items()}),
       st.sampled_from(["ok", "extra_C", "per_hour", "volume_mL"]))
def test_rescaling_units_consistently_does_not_change_the_check(choice, variant):
    base = td.models.tumor_immune_tme()
    if variant == "extra_C":  # a process with a unit error
        procs = [td.Process(p.name, p.rate * sp.Symbol("C_targeted"), p.consumes, p.produces)
                 if p.name == "drug_kill_S" else p for p in base.processes]
        make = lambda m: m.replace(processes=procs)  # noqa: E731
    elif variant == "per_hour":  # a scale error
        make = lambda m: m.replace(parameters=[  # noqa: E731
            td.Parameter(p.name, p.default, p.bounds, p.unit.replace("day", "h"), p.description, p.source)
            if p.name == "d_E" else p for p in m.parameters])
    elif variant == "volume_mL":
        make = lambda m: m.replace(parameters=[  # noqa: E731
            td.Parameter(p.name, p.default, p.bounds, p.unit + "*1000" if p.unit else p.unit, p.description,
                         p.source) if p.name == "V_targeted" else p for p in m.parameters])
    else:
        make = lambda m: m  # noqa: E731
    expected = check_result(lambda: make(base))
    assert expected == ("ok" if variant == "ok" else expected)
    if variant != "ok":
        assert expected.startswith("UnitError")
    assert check_result(lambda: make(rescale(base, choice))) == expected


# --------------------------------------------------------------------------- doses per kg and per m²

def pk_doses(schedule, **kw):
    m = td.models.one_compartment_pk(half_life=1.5, volume=10.0)
    return td.simulate(m, schedule, t_end=14.0, t_eval=np.linspace(0, 14, 57), method="LSODA", rtol=1e-10,
                       atol=1e-12, **kw)


def test_mg_per_kg_dose_equals_the_hand_computed_mg_dose():
    weight = 72.5
    per_kg = pk_doses(td.Schedule.every("drug", 2.0, 7, count=2, unit="mg/kg"), covariates={"weight_kg": weight})
    flat = pk_doses(td.Schedule.every("drug", 2.0 * weight, 7, count=2))
    np.testing.assert_allclose(per_kg["C"], flat["C"], rtol=1e-12, atol=0)
    exact = td.models.bolus_pk_solution(per_kg.t, [(0.0, 145.0), (7.0, 145.0)], 1.5, 10.0)
    np.testing.assert_allclose(per_kg["C"], exact, rtol=1e-7, atol=1e-9)
    assert [d.amount for d in per_kg.schedule.doses] == [145.0, 145.0]


def test_mg_per_m2_dose_equals_the_hand_computed_mg_dose():
    bsa = 1.83
    per_m2 = pk_doses(td.Schedule.at("drug", 75.0, [0.0, 3.0], unit="mg/m^2"), covariates={"bsa_m2": bsa})
    flat = pk_doses(td.Schedule.at("drug", 75.0 * bsa, [0.0, 3.0]))
    np.testing.assert_allclose(per_m2["C"], flat["C"], rtol=1e-12, atol=0)
    assert per_m2.schedule.amount_total("drug") == pytest.approx(2 * 75.0 * 1.83, rel=1e-12)


def test_amount_units_convert_without_covariates():
    grams = pk_doses(td.Dose(0.0, "drug", 0.1, unit="g") + td.Dose(2.0, "drug", 50_000, unit="ug"))
    flat = pk_doses(td.Dose(0.0, "drug", 100.0) + td.Dose(2.0, "drug", 50.0))
    np.testing.assert_allclose(grams["C"], flat["C"], rtol=1e-12)


def test_dose_per_kg_without_weight_or_in_a_wrong_unit_is_refused():
    s = td.Schedule.every("drug", 2.0, 7, count=2, unit="mg/kg")
    with pytest.raises(SpecificationError, match=r"needs the patient's body weight: pass covariates=\{'weight_kg'"):
        pk_doses(s)
    with pytest.raises(SpecificationError, match="'weight_kg'"):
        pk_doses(s, covariates={"weight_kg": -70})
    with pytest.raises(UnitError, match="cannot be turned into the drug's dose unit 'mg'"):
        pk_doses(td.Dose(0.0, "drug", 1.0, unit="mg/L"))
    with pytest.raises(UnitError, match="did you mean 'kg'"):
        td.Dose(0.0, "drug", 1.0, unit="mg/kgg")


def test_unresolved_doses_are_refused_by_the_batch_solver_and_resolved_explicitly():
    m = td.models.one_compartment_pk()
    s = td.Schedule.every("drug", 2.0, 7, count=2, unit="mg/kg")
    with pytest.raises(SpecificationError, match="needs the patient's body weight: pass covariates="):
        td.simulate_batch(m, np.array([[1.0, 10.0], [1.0, 20.0]]), s, t_end=14.0)
    r = s.resolved(m, {"weight_kg": 50})
    assert r == td.Schedule.every("drug", 100.0, 7, count=2)
    td.simulate_batch(m, np.array([[1.0, 10.0], [1.0, 20.0]]), r, t_end=14.0)
    assert s.resolved(m, {"weight_kg": 50}) == r and s.doses[0].unit == "mg/kg"  # the input is unchanged


def test_infusion_per_m2_per_day_equals_the_closed_form_of_the_mg_per_day_infusion():
    bsa = 1.5  # 400 mg/m^2/day for 4 days -> 600 mg/day
    s = td.Schedule.infusion("drug", 400.0, 0.0, 4.0, unit="mg/m^2/day")
    traj = pk_doses(s, covariates={"bsa_m2": bsa})
    exact = td.models.infusion_pk_solution(traj.t, 600.0, 0.0, 4.0, 1.5, 10.0)
    np.testing.assert_allclose(traj["C"], exact, rtol=1e-7, atol=1e-9)
    assert traj.schedule.infusions == (td.Infusion("drug", 0.0, 4.0, 600.0),)
    # the unit survives the schedule algebra until it is resolved
    assert s.between(1, 2).infusions[0].unit == "mg/m^2/day" and s.shift(1).infusions[0].unit == "mg/m^2/day"
    with pytest.raises(UnitError, match="cannot be turned into"):  # a rate needs a /day
        pk_doses(td.Schedule.infusion("drug", 400.0, 0.0, 4.0, unit="mg/m^2"), covariates={"bsa_m2": bsa})


def test_dose_unit_shows_and_counts_in_equality():
    d = td.Dose(0, "x", 2, unit="mg/kg")
    assert repr(d) == "Dose(time=0.0, drug='x', amount=2.0, unit='mg/kg')"
    assert d != td.Dose(0, "x", 2) and hash(td.Schedule(d)) == hash(td.Schedule(td.Dose(0, "x", 2, "mg/kg")))
    assert "2 mg/kg" in repr(td.Schedule(d))
    assert td.Schedule(d).to_dataframe()["unit"].tolist() == ["mg/kg"]
    assert td.Schedule(d).amount_total() == 2.0
    with pytest.raises(SpecificationError, match="different units"):
        (d + td.Dose(7, "x", 100)).amount_total("x")


def test_a_model_that_declares_no_unit_is_not_checked_but_one_declared_unit_turns_the_check_on():
    plain = dict(parameters=[td.Parameter("k", 0.5)],
                 processes=[td.Process("g", "k*x*sin(t)", produces="x")])
    m = td.Model("free", states=[td.State("x", 1.0, nonnegative=False)], **plain)  # nothing declared: accepted
    assert m.units_checked
    with pytest.raises(td.errors.UnitError, match="sin"):
        td.Model("declared", states=[td.State("x", 1.0, unit="cell", nonnegative=False)], **plain)


# --------------------------------------------------------------------------- covariates wherever a regimen is resolved

def _pk():
    return td.models.one_compartment_pk(half_life=1.5, volume=10.0)


@pytest.mark.parametrize("method", ["dopri5", "batch", "LSODA"])
def test_simulate_batch_one_covariate_row_per_patient_equals_the_closed_form(method):
    if method == "dopri5":
        pytest.importorskip("numba")
    m = _pk()
    c = td.numerics.compile_model(m)
    weights, bsas = [50.0, 72.5, 110.0], [1.5, 1.8, 2.2]
    s = (td.Schedule.every("drug", 2.0, 7, count=2, unit="mg/kg")
         + td.Schedule.infusion("drug", 40.0, 1.0, 3.0, unit="mg/m^2/day"))
    # one drug on two bases (per kg and per m^2): not a per-row factor, refused by name
    with pytest.raises(SpecificationError, match="mixed bases"):
        td.simulate_batch(m, np.tile(c.param_vector(), (3, 1)), s, t_end=14.0,
                          covariates=[{"weight_kg": w, "bsa_m2": a} for w, a in zip(weights, bsas)])
    s = td.Schedule.every("drug", 2.0, 7, count=2, unit="mg/kg")
    t = np.linspace(0, 14, 57)
    b = td.simulate_batch(m, np.tile(c.param_vector(), (3, 1)), s, t_end=14.0, t_eval=t, method=method,
                          rtol=1e-10, atol=1e-12, covariates=pd.DataFrame({"weight_kg": weights}))
    for j, w in enumerate(weights):
        exact = td.models.bolus_pk_solution(t, [(0.0, 2.0 * w), (7.0, 2.0 * w)], 1.5, 10.0)
        np.testing.assert_allclose(b["C"][j], exact, rtol=1e-7, atol=1e-9)
    infusion = td.Schedule.infusion("drug", 400.0, 0.0, 4.0, unit="mg/m^2/day")
    b = td.simulate_batch(m, np.tile(c.param_vector(), (2, 1)), infusion, t_end=14.0, t_eval=t, method=method,
                          rtol=1e-10, atol=1e-12, covariates=[{"bsa_m2": 1.5}, {"bsa_m2": 2.0}])
    for j, a in enumerate([1.5, 2.0]):
        exact = td.models.infusion_pk_solution(t, 400.0 * a, 0.0, 4.0, 1.5, 10.0)
        np.testing.assert_allclose(b["C"][j], exact, rtol=1e-7, atol=1e-9)
    one = td.simulate_batch(m, np.tile(c.param_vector(), (2, 1)), s, t_end=14.0, t_eval=t, method=method,
                            rtol=1e-10, atol=1e-12, covariates={"weight_kg": 72.5})
    np.testing.assert_allclose(one["C"][1], td.models.bolus_pk_solution(t, [(0.0, 145.0), (7.0, 145.0)], 1.5, 10.0),
                               rtol=1e-7, atol=1e-9)


def test_simulate_batch_covariate_rows_are_checked():
    m = _pk()
    P = np.tile(td.numerics.compile_model(m).param_vector(), (2, 1))
    s = td.Schedule.every("drug", 2.0, 7, count=2, unit="mg/kg")
    with pytest.raises(SpecificationError, match="1 rows but `params` has 2"):
        td.simulate_batch(m, P, s, t_end=14.0, covariates=[{"weight_kg": 70.0}])
    with pytest.raises(SpecificationError, match="row 1 has no 'weight_kg'"):
        td.simulate_batch(m, P, s, t_end=14.0, covariates=[{"weight_kg": 70.0}, {"bsa_m2": 1.8}])
    with pytest.raises(SpecificationError, match="'weight_kg'"):
        td.simulate_batch(m, P, s, t_end=14.0, covariates=[{"weight_kg": 70.0}, {"weight_kg": 0.0}])
    with pytest.raises(SpecificationError, match="covariate 'weight_kg'"):
        td.simulate_batch(m, P, s, t_end=14.0, covariates=[{}, {}])
    with pytest.raises(TypeError, match="covariates"):
        td.simulate_batch(m, P, s, t_end=14.0, covariates="70 kg")


def test_compare_with_covariates_equals_the_hand_computed_doses():
    m = td.models.tumor_immune_tme()
    per_kg = {"weekly": td.Schedule.every("targeted", 1.5, 7, count=8, unit="mg/kg")}
    flat = {"weekly": td.Schedule.every("targeted", 1.5 * 80.0, 7, count=8)}
    a = td.compare(m, per_kg, t_end=112.0, covariates={"weight_kg": 80.0}, progress=False)
    b = td.compare(m, flat, t_end=112.0, progress=False)
    pd.testing.assert_frame_equal(a.to_dataframe(), b.to_dataframe())
    with pytest.raises(SpecificationError, match="body weight"):
        td.compare(m, per_kg, t_end=112.0, progress=False)
    with pytest.raises(TypeError, match="covariates"):
        td.compare(m, per_kg, t_end=112.0, covariates=80.0, progress=False)


def test_fit_reads_each_subjects_covariates_by_id():
    m = _pk()
    t = np.arange(0.5, 14.0, 1.0)
    weights = {"A": 55.0, "B": 95.0}
    rows = []
    for subj, w in weights.items():
        c = td.models.bolus_pk_solution(t, [(0.0, 2.0 * w), (7.0, 2.0 * w)], 2.0, 12.0)
        rows += [{"subject": subj, "time": ti, "observable": "C", "value": ci, "sigma": 0.01 * ci}
                 for ti, ci in zip(t, c)]
    data = pd.DataFrame(rows)
    s = td.Schedule.every("drug", 2.0, 7, count=2, unit="mg/kg")
    res = td.fit(m, data, free=["t_half", "V"], schedules=s, covariates={k: {"weight_kg": w} for k, w in weights.items()},
                 progress=False)
    assert res.params["t_half"] == pytest.approx(2.0, rel=1e-5)
    assert res.params["V"] == pytest.approx(12.0, rel=1e-5)
    with pytest.raises(SpecificationError, match="subject 'A'.*not yet in the drug's dose unit.*covariates"):
        td.fit(m, data, free=["t_half", "V"], schedules=s, progress=False)


# --------------------------------------------------------------------------- the on-disk cache of parsed units

_CACHED_TEXTS = ("cells", "1/day", "mg/L", "1/(cell day)", "mm^3/cell", "1e6 cells", "1", "uM", "mg/m^2", "%",
                 "cells/(cell day)", "1/hour", "L/day")


@pytest.fixture()
def unit_cache(monkeypatch, tmp_path):
    """An empty unit cache in ``tmp_path`` and a fresh process's in-memory caches (restored afterwards)."""
    from tumordyn.spec import _units

    def forget() -> None:  # what a new process knows: nothing in memory
        for f in (_units._parse, _units._base, _units._loaded):
            f.cache_clear()

    monkeypatch.setenv("TUMORDYN_CACHE_DIR", str(tmp_path / "cache"))
    forget()
    yield _units, forget
    forget()


def _answers(units) -> dict[str, tuple]:
    out = {}
    for text in _CACHED_TEXTS:
        u = units._parse(text)
        out[text] = (u, u.base)
    return out


def test_a_warm_unit_cache_answers_as_pint_does_without_building_the_registry(unit_cache, monkeypatch):
    units, forget = unit_cache
    cold = _answers(units)  # pint parses; the answers are written to the cache file
    td.models.tumor_immune_tme()  # (and the default model's units)
    path = units._disk_path()
    assert path is not None and path.endswith(".json")
    forget()
    calls = []
    real = units.unit_registry
    monkeypatch.setattr(units, "unit_registry", lambda: calls.append(1) or real())
    warm = _answers(units)
    assert warm == cold  # the same Unit (factor, terms) and base size/dimensions, exactly
    td.models.tumor_immune_tme()  # the default model's units are checked from the cache alone
    assert calls == [], "pint's registry was used although every answer was cached"
    # a failing check still works from cached units, and its message (formatted with pint) names the process
    with pytest.raises(UnitError, match=r"process 'kill'.*factor 24"):
        kill_model(k_unit="1/hour")


@pytest.mark.parametrize("content", [
    "not json", "[]", '{"parse": {"1/day": [-1.0, []]}, "base": {}}',
    '{"parse": {"1/day": [1.0, [["day", "1/0"]]]}, "base": {}}',
    '{"parse": {"mg/L": [1.0, [["milligram", "1"], ["liter", "-1"]]]}, "base": {}}',  # terms not sorted
    '{"parse": {}, "base": {"day": ["86400", [["second", "1"]]]}}',
])
def test_a_malformed_unit_cache_is_ignored_and_rewritten(unit_cache, content):
    units, forget = unit_cache
    reference = _answers(units)
    path = units._disk_path()
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(content)
    forget()
    assert _answers(units) == reference
    forget()
    assert units._loaded(path)["parse"], "the malformed file was not replaced by a valid one"


def test_unit_cache_switched_off_writes_nothing(unit_cache, monkeypatch, tmp_path):
    units, forget = unit_cache
    monkeypatch.setenv("TUMORDYN_CACHE_DIR", "off")
    assert units._disk_path() is None
    reference = _answers(units)
    assert not (tmp_path / "cache").exists()
    assert reference["1/(cell day)"][0] == Unit(1.0, (("cell", -1), ("day", -1)))


def test_unknown_unit_is_not_cached_and_still_suggests(unit_cache):
    units, forget = unit_cache
    for _ in range(2):  # the second time from a fresh memory: the refusal is not cached
        with pytest.raises(UnitError, match="did you mean 'day'"):
            parse_unit("1/dya", "parameter 'r'")
        forget()
    assert "1/dya" not in units._loaded(units._disk_path())["parse"]


def test_unit_cache_written_from_threads_at_once_keeps_every_answer(unit_cache):
    from concurrent.futures import ThreadPoolExecutor

    units, forget = unit_cache
    texts = [f"{k} {u}" for k in (1, 2, 5, 10, 20, 50) for u in ("cells", "mg/L", "1/day", "mm^3")]
    with ThreadPoolExecutor(4) as pool:
        parsed = list(pool.map(units._parse, texts))
    forget()
    stored = units._loaded(units._disk_path())["parse"]
    assert set(texts) <= set(stored)
    assert [Unit(*stored[t]) for t in texts] == parsed
