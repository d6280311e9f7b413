"""Built-in models against their sources: published values, hand-written reference solves, closed forms."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from scipy.integrate import solve_ivp

import tumordyn as td
from tumordyn.models import (
    bolus_pk_solution,
    gompertz_solution,
    infusion_pk_solution,
    logistic_solution,
)

DATA = Path(__file__).parent / "data" / "biomodels"

# --------------------------------------------------------------------------- Kuznetsov et al. 1994

KUZNETSOV = dict(s=1.3e4, p=0.1245, g=2.019e7, m=3.422e-10, n=1.101e-7, d=0.0412, a=0.18, b=2.0e-9)
#: The paper's non-dimensional parameters (x = E/1e6, y = T/1e6, tau = n * 1e6 * t), as printed.
KUZNETSOV_DIMENSIONLESS = dict(sigma=0.1181, rho=1.131, eta=20.19, mu=0.00311, delta=0.3743, alpha=1.636, beta=2.0e-3)


def kuznetsov_dimensionless(v: dict[str, float], scale: float = 1e6) -> dict[str, float]:
    n = v["n"]
    return dict(
        sigma=v["s"] / (n * scale * scale),
        rho=v["p"] / (n * scale),
        eta=v["g"] / scale,
        mu=v["m"] / n,
        delta=v["d"] / (n * scale),
        alpha=v["a"] / (n * scale),
        beta=v["b"] * scale,
    )


def kuznetsov_rhs(t, y, v):
    """The published equations, written out by hand (cells, days)."""
    E, T = y
    return [
        v["s"] + v["p"] * E * T / (v["g"] + T) - v["m"] * E * T - v["d"] * E,
        v["a"] * T * (1 - v["b"] * T) - v["n"] * E * T,
    ]


def test_kuznetsov_published_values_and_initial_state():
    m = td.models.kuznetsov1994()
    assert m.defaults() == pytest.approx(KUZNETSOV, rel=0, abs=0)
    assert m.initial_state() == {"E": 3.2e5, "T": 5e6}
    assert "..." not in (td.models.kuznetsov1994.__doc__ or "")


def test_kuznetsov_matches_the_curated_biomodels_file():
    """An independent encoding: BIOMD0000000762 (COPASI export) has the same values and initial state."""
    root = ET.parse(DATA / "kuznetsov1994-nonlinear-dynamics-of-immunogenic-tumors.xml").getroot()
    params = {el.get("id"): float(el.get("value")) for el in root.iter() if el.tag.endswith("}parameter")}
    species = {el.get("id"): float(el.get("initialConcentration")) for el in root.iter() if el.tag.endswith("}species")}
    m = td.models.kuznetsov1994()
    for name, value in m.defaults().items():
        assert params[name] == pytest.approx(value, rel=1e-12), name
    assert species == pytest.approx(m.initial_state(), rel=1e-12)


def test_kuznetsov_dimensionless_parameters_recomputed_from_the_defaults():
    got = kuznetsov_dimensionless(td.models.kuznetsov1994().defaults())
    for name, published in KUZNETSOV_DIMENSIONLESS.items():
        # the paper prints 3-4 significant digits; delta and alpha differ in the 4th digit
        # (0.3742 and 1.635 from the dimensional values): the paper's own rounding
        assert got[name] == pytest.approx(published, rel=1e-3), name
    assert got["eta"] == pytest.approx(20.19, rel=1e-12)
    assert got["beta"] == pytest.approx(2.0e-3, rel=1e-12)


def test_kuznetsov_dimensionless_form_reproduces_the_dimensional_trajectory():
    """Solve x' = σ + ρxy/(η+y) − μxy − δx, y' = αy(1−βy) − xy and rescale: same curve as the model."""
    nd = kuznetsov_dimensionless(KUZNETSOV)
    scale, n = 1e6, KUZNETSOV["n"]

    def rhs(tau, z):
        x, y = z
        return [nd["sigma"] + nd["rho"] * x * y / (nd["eta"] + y) - nd["mu"] * x * y - nd["delta"] * x,
                nd["alpha"] * y * (1 - nd["beta"] * y) - x * y]

    t = np.linspace(0, 300, 61)
    ref = solve_ivp(rhs, (0, n * scale * t[-1]), [0.32, 5.0], t_eval=n * scale * t, method="DOP853",
                    rtol=1e-11, atol=1e-14)
    tr = td.simulate(td.models.kuznetsov1994(), t_end=300, t_eval=t, method="DOP853", rtol=1e-11, atol=1e-6)
    np.testing.assert_allclose(tr["E"], ref.y[0] * scale, rtol=1e-7)
    np.testing.assert_allclose(tr["T"], ref.y[1] * scale, rtol=1e-7)


@pytest.mark.parametrize("method", ["LSODA", "RK45"])
def test_kuznetsov_trajectory_matches_a_hand_written_reference_solve(method):
    t = np.linspace(0, 200, 201)
    ref = solve_ivp(kuznetsov_rhs, (0, 200), [3.2e5, 5e6], t_eval=t, args=(KUZNETSOV,), method="DOP853",
                    rtol=1e-10, atol=1e-6)
    tr = td.simulate(td.models.kuznetsov1994(), t_end=200, t_eval=t, method=method, rtol=1e-10, atol=1e-6)
    np.testing.assert_allclose(tr["E"], ref.y[0], rtol=1e-6)
    np.testing.assert_allclose(tr["T"], ref.y[1], rtol=1e-6)
    # the oscillation is real (the test would miss nothing if the curve were flat)
    assert ref.y[1].max() > 10 * ref.y[1].min()


def kuznetsov_equilibria() -> list[tuple[float, float]]:
    """Positive equilibria from the polynomial in T (independent of the simulator)."""
    v = KUZNETSOV
    # T' = 0 with T > 0: E = a(1 - bT)/n; insert into E' = 0 and multiply by (g + T)
    E_of_T = np.polynomial.Polynomial([v["a"] / v["n"], -v["a"] * v["b"] / v["n"]])
    gT = np.polynomial.Polynomial([v["g"], 1.0])
    Tp = np.polynomial.Polynomial([0.0, 1.0])
    poly = v["s"] * gT + v["p"] * E_of_T * Tp - (v["m"] * Tp + v["d"]) * E_of_T * gT
    roots = [r.real for r in poly.roots() if abs(r.imag) < 1e-6 * abs(r) and 0 < r.real < 1 / v["b"]]
    return sorted((float(E_of_T(T)), float(T)) for T in roots)


def test_kuznetsov_is_bistable_dormant_and_escape_attractors():
    eq = kuznetsov_equilibria()
    assert len(eq) == 3, eq  # dormant (stable), saddle, escape (stable)
    dormant, saddle, escape = sorted(eq, key=lambda e: e[1])
    m = td.models.kuznetsov1994()
    small = td.simulate(m, t_end=3000, rtol=1e-9, method="LSODA")
    large = td.simulate(m, t_end=3000, rtol=1e-9, method="LSODA", initial={"T": 1e8})
    assert small.final["T"] == pytest.approx(dormant[1], rel=1e-3)
    assert small.final["E"] == pytest.approx(dormant[0], rel=1e-3)
    assert large.final["T"] == pytest.approx(escape[1], rel=1e-3)
    assert large.final["E"] == pytest.approx(escape[0], rel=1e-3)
    assert dormant[1] < 1e7 < saddle[1] < escape[1]  # (from E0 = 3.2e5, T0 = 1e8 lies in the escape basin)


# --------------------------------------------------------------------------- Zhang et al. 2017

ALPHA = np.array([[1.0, 0.7, 0.8], [0.4, 1.0, 0.5], [0.6, 0.9, 1.0]])
R_ZHANG = np.log(2) / np.array([250.0, 200.0, 104.17])


def zhang_rhs(t, y, on):
    """The Lotka–Volterra system written by hand; ``on`` is abiraterone (0 or 1)."""
    x, psa = np.asarray(y[:3]), y[3]
    K = np.array([(1.5 * (1 - on) + 0.5 * on) * x[1], 1e4 * (1 - on) + 1e2 * on, 1e4])
    dx = R_ZHANG * x * (1 - ALPHA @ x / K)
    return [*dx, x.sum() - 0.5 * psa]


def test_zhang_published_values():
    v = td.models.zhang2017().defaults()
    np.testing.assert_allclose([v["r_Tplus"], v["r_TP"], v["r_Tneg"]], R_ZHANG, rtol=1e-4)
    assert [[v[f"alpha_{i}{j}"] for j in (1, 2, 3)] for i in (1, 2, 3)] == ALPHA.tolist()
    assert (v["K_TP_off"], v["K_TP_on"], v["K_Tneg"], v["mu_off"], v["mu_on"], v["sigma_PSA"]) == (
        1e4, 1e2, 1e4, 1.5, 0.5, 0.5)


@pytest.mark.parametrize("on", [0, 1])
def test_zhang_trajectory_matches_a_hand_written_reference_solve(on):
    m = td.models.zhang2017()
    v = m.defaults()
    r = np.array([v["r_Tplus"], v["r_TP"], v["r_Tneg"]])
    t_end = 300.0
    t = np.linspace(0, t_end, 61)
    y0 = list(m.initial_state().values())

    def rhs(tt, y):
        x, psa = np.asarray(y[:3]), y[3]
        K = np.array([(1.5 * (1 - on) + 0.5 * on) * x[1], 1e4 * (1 - on) + 1e2 * on, 1e4])
        return [*(r * x * (1 - ALPHA @ x / K)), x.sum() - 0.5 * psa]

    ref = solve_ivp(rhs, (0, t_end), y0, t_eval=t, method="DOP853", rtol=1e-11, atol=1e-9)
    sched = td.Schedule.infusion("abiraterone", 1.0, 0.0, t_end) if on else None
    tr = td.simulate(m, sched, t_end=t_end, t_eval=t, method="LSODA", rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(tr.y, ref.y.T, rtol=1e-6, atol=1e-6)


def test_zhang_continuous_abiraterone_selects_resistant_cells_and_off_drug_sensitive_cells_persist():
    m = td.models.zhang2017()
    on = td.simulate(m, td.Schedule.infusion("abiraterone", 1.0, 0.0, 300.0), t_end=300.0, method="LSODA")
    off = td.simulate(m, None, t_end=3000.0, method="LSODA")
    # on drug: T- takes over (competitive release), T+ and TP collapse, PSA falls first
    assert on["resistant_fraction"][0] < 0.02 and on["resistant_fraction"][-1] > 0.9
    assert on.final["Tneg"] > 5 * on["Tneg"][0]
    assert on.final["Tplus"] < 1e-3 * on["Tplus"][0]
    assert on.final["PSA"] < 0.2 * on["PSA"][0]
    # off drug: T+ and TP persist near their equilibrium, T- stays a small minority
    assert off["Tplus"].min() > 1000 and off["TP"].min() > 1000
    assert off["resistant_fraction"].max() < 0.05
    assert off.final["Tneg"] < off["Tneg"].max()


# --------------------------------------------------------------------------- closed-form reference models


def test_logistic_matches_closed_form():
    m = td.models.logistic_growth(N0=10.0, r=0.5, K=1000.0)
    t = np.linspace(0, 40, 161)
    tr = td.simulate(m, t_end=40, t_eval=t, rtol=1e-10, atol=1e-10, method="LSODA")
    exact = logistic_solution(t, 10.0, 0.5, 1000.0)
    np.testing.assert_allclose(tr["N"], exact, rtol=1e-6)
    assert exact[0] == 10.0 and exact[-1] == pytest.approx(1000.0, rel=1e-5)


def test_gompertz_matches_closed_form():
    m = td.models.gompertz_growth(N0=10.0, r=0.3, K=1000.0)
    t = np.linspace(0, 40, 161)
    tr = td.simulate(m, t_end=40, t_eval=t, rtol=1e-10, atol=1e-10, method="LSODA")
    np.testing.assert_allclose(tr["N"], gompertz_solution(t, 10.0, 0.3, 1000.0), rtol=1e-6)
    # decline from above K too
    tr2 = td.simulate(m, t_end=20, t_eval=t[t <= 20], initial={"N": 5000.0}, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(tr2["N"], gompertz_solution(t[t <= 20], 5000.0, 0.3, 1000.0), rtol=1e-6)


def test_bolus_pk_matches_closed_form_at_and_between_doses():
    m = td.models.one_compartment_pk(half_life=1.5, volume=8.0)
    doses = [(0.0, 100.0), (2.0, 50.0), (3.5, 80.0), (3.5, 20.0)]
    sched = td.Schedule([td.Dose(t, "drug", a) for t, a in doses])
    t = np.unique(np.concatenate([np.linspace(0, 10, 101), [2.0, 3.5]]))
    tr = td.simulate(m, sched, t_end=10, t_eval=t, rtol=1e-10, atol=1e-12, method="LSODA")
    exact = bolus_pk_solution(t, doses, 1.5, 8.0)
    np.testing.assert_allclose(tr["C"], exact, rtol=1e-6)
    # right-continuous at a dose time: the value after the two 3.5-day doses
    assert tr.value_at("C", 3.5) == pytest.approx(exact[t == 3.5][0], rel=1e-6)


def test_infusion_pk_reaches_the_plateau_of_the_closed_form():
    half_life, volume, rate = 0.5, 10.0, 40.0
    m = td.models.one_compartment_pk(half_life=half_life, volume=volume)
    sched = td.Schedule.infusion("drug", rate, 1.0, 6.0)
    t = np.linspace(0, 9, 181)
    tr = td.simulate(m, sched, t_end=9, t_eval=t, rtol=1e-10, atol=1e-12, method="LSODA")
    exact = infusion_pk_solution(t, rate, 1.0, 6.0, half_life, volume)
    np.testing.assert_allclose(tr["C"], exact, rtol=1e-6, atol=1e-12)
    plateau = rate / (math.log(2) / half_life * volume)
    assert tr.value_at("C", 6.0) == pytest.approx(plateau * (1 - 2.0 ** -10), rel=1e-6)


# --------------------------------------------------------------------------- default model structure


def test_default_model_modules_and_names_are_stable():
    m = td.models.tumor_immune_tme()
    assert m.states.names == ("S", "R", "E", "X", "M", "P", "C_targeted", "C_anti_pd1", "C_priming")
    assert td.models.tumor_immune_tme(memory=False).states.names == (
        "S", "R", "E", "X", "P", "C_targeted", "C_anti_pd1", "C_priming")
    assert m.drugs.names == ("targeted", "anti_pd1", "priming")
    assert set(m.observables.names) >= {"tumor_burden", "tumor_volume", "tumor_diameter", "lesion_volume",
                                        "lesion_diameter", "resistant_fraction", "effector_exhausted_ratio"}
    for kw in (dict(growth="gompertz"), dict(drug_induced_switching=True), dict(stress_inhibitor=True),
               dict(memory=False), dict(drug_induced_switching=True, persisters=False),
               dict(growth="gompertz", drug_induced_switching=True, stress_inhibitor=True)):
        variant = td.models.tumor_immune_tme(**kw)
        assert variant.positivity_violations() == []
        tr = td.simulate(variant, td.Schedule.every("targeted", 100.0, 7.0, count=4), t_end=28)
        assert np.all(np.isfinite(tr.y))


def test_default_model_pk_peaks_match_standard_doses():
    """Peak after one standard dose = amount / V (mg/L), decaying with the stated half-life."""
    m = td.models.tumor_immune_tme()
    v = m.defaults()
    for drug, comp in (("targeted", "C_targeted"), ("anti_pd1", "C_anti_pd1"), ("priming", "C_priming")):
        amount, _ = td.models.STANDARD_DOSES[drug]
        th = v[f"t_half_{drug}"]
        tr = td.simulate(m, td.Schedule.at(drug, amount, [0.0]), t_end=2 * th, t_eval=[0.0, th, 2 * th],
                         rtol=1e-10, method="LSODA")
        c0 = amount / v[f"V_{drug}"]
        np.testing.assert_allclose(tr[comp], [c0, c0 / 2, c0 / 4], rtol=1e-6)


# --------------------------------------------------------------------------- optional biology (issue 15)


def test_default_baseline_is_a_measurable_lesion_at_half_its_carrying_capacity():
    m = td.models.tumor_immune_tme()
    v, y0 = m.defaults(), m.initial_state()
    T0 = y0["S"] + y0["R"]
    assert T0 == pytest.approx(v["K"] / 2, rel=0.02)
    d0 = (6 * v["v_cell"] * T0 / math.pi) ** (1 / 3)
    assert 20.0 < d0 < 30.0, d0
    # the largest possible lesion (at K) is beyond RECIST progression (+20 % and +5 mm)
    d_max = (6 * v["v_cell"] * v["K"] / math.pi) ** (1 / 3)
    assert d_max > max(1.2 * d0, d0 + 5.0)


def test_persisters_are_a_reversible_state_separate_from_genetic_resistance():
    m = td.models.tumor_immune_tme(drug_induced_switching=True)
    assert m.states.names[:3] == ("S", "DTP", "R")
    rhs = m.rhs_expressions()
    # nothing moves R back to S: R changes only by its own growth, incoming mutation and immune killing
    R_processes = {p.name for p in m.processes if "R" in dict(p.consumes) or "R" in dict(p.produces)}
    assert R_processes == {"birth_R", "crowding_R", "mutation", "kill_R"}
    assert not {sp.Symbol("sigma_back"), sp.Symbol("sigma_max"), sp.Symbol("sigma_0")} & rhs["R"].free_symbols
    # on drug the persister pool grows; off drug it relaxes back to its small pre-treatment share of S
    sched = td.Schedule.every("targeted", 100.0, 7.0, until=179.0)
    t = np.linspace(0.0, 545.0, 546)
    tr = td.simulate(m, sched, t_end=545.0, t_eval=t)
    ratio = np.asarray(tr["DTP"]) / np.asarray(tr["S"])
    assert ratio[t == 60.0][0] > 50 * ratio[0]
    assert ratio[-1] == pytest.approx(ratio[0], rel=0.5)
    # the genetic mutants selected by the drug stay: R never falls once the drug is gone
    R_off = np.asarray(tr["R"])[t >= 190.0]
    assert np.all(np.diff(R_off) >= -1e-6 * R_off[:-1])
    assert R_off[-1] > 100 * tr["R"][0]
    assert np.allclose(tr["persister_fraction"], tr["DTP"] / tr["tumor_burden"], rtol=1e-12)


def test_legacy_one_state_switching_is_still_available_from_the_module():
    C = sp.Symbol("C")
    mod = td.models.tumor_clones(switching=C, back_switching=0.02)
    names = {p.name for p in mod.processes}
    assert {"switch_S_to_R", "switch_R_to_S"} <= names and "persister_entry" not in names
    persist = td.models.tumor_clones(persisters=True)
    assert next(p for p in persist.parameters if p.name == "sigma_back").default == 0.05
    m = td.models.tumor_immune_tme(drug_induced_switching=True, persisters=False)
    assert "DTP" not in m.states.names and "switch_R_to_S" in m.processes.names


STRESS_DOSE = td.Schedule.every("stress_inhibitor", 40.0, 1.0, count=14)


def test_stress_inhibitor_revives_exhausted_cells_not_only_prevents_exhaustion():
    m = td.models.tumor_immune_tme(stress_inhibitor=True)
    assert "Z" in m.states.names
    kw = dict(t_end=90.0, t_eval=[0.0, 14.0, 90.0])
    control = td.simulate(m, None, **kw)
    treated = td.simulate(m, STRESS_DOSE, **kw)
    prevent_only = td.simulate(m, STRESS_DOSE, params={"rho_Z": 0.0}, **kw)
    assert treated.value_at("Z", 14.0) < 0.3 < control.value_at("Z", 14.0)
    # exhausted cells return to function: fewer X and more E than without the drug ...
    assert treated.value_at("X", 14.0) < 0.95 * control.value_at("X", 14.0)
    assert treated.value_at("E", 14.0) > 5 * control.value_at("E", 14.0)
    # ... and fewer X than if the drug only prevented new exhaustion (rho_Z = 0)
    assert treated.value_at("X", 14.0) < 0.95 * prevent_only.value_at("X", 14.0)
    assert treated.value_at("E", 14.0) > prevent_only.value_at("E", 14.0)
    # the pathway re-activates once the drug is gone (chronic antigen persists)
    assert treated.value_at("Z", 90.0) > 0.9


def test_module_options_validate_their_inputs():
    with pytest.raises(td.errors.SpecificationError, match="tumor_states"):
        td.models.t_cells(tumor_states="S")
    with pytest.raises(td.errors.SpecificationError, match="tumor_states"):
        td.models.tme_suppression(tumor_states=())
    with pytest.raises(td.errors.SpecificationError, match="'R'"):
        td.models.tumor_observables(tumor_states=("S",))
    with pytest.raises(td.errors.SpecificationError, match="infiltrate_volume"):
        td.models.tumor_observables(infiltrate_volume=-1e-7)
    with pytest.raises(TypeError, match="memory"):
        td.models.t_cells(memory="yes")
    with pytest.raises(TypeError, match="persisters"):
        td.models.tumor_immune_tme(persisters=1)
    obs = td.models.tumor_observables(infiltrate_volume=2e-5)
    assert next(p for p in obs.parameters if p.name == "v_inf").default == 2e-5
    assert next(p for p in td.models.tumor_observables().parameters if p.name == "v_inf").default == 2e-7
