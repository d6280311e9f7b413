"""Equilibria and the immune-control threshold, checked against independent derivations."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import tumordyn as td
from tumordyn.analysis import classify
from tumordyn.numerics import compile_model

KUZ = dict(s=1.3e4, p=0.1245, g=2.019e7, m=3.422e-10, d=0.0412, a=0.18, b=2.0e-9, n=1.101e-7)

# de Pillis & Radunskaya 2003 (Math Comput Model 37:1221; BIOMD0000000909), written from the paper's equations
DEPILLIS2003 = dict(a1=0.2, a2=0.3, a3=0.1, b1=1.0, b2=1.0, alpha=0.3, c1=1.0, c2=0.5, c3=1.0, c4=1.0,
                    d1=0.2, d2=1.0, r1=1.5, r2=1.0, s=0.33, rho=0.01)


def depillis2003() -> td.Model:
    N, T, I, u = sp.symbols("N T I u")
    P = {k: sp.Symbol(k) for k in DEPILLIS2003}
    kill = 1 - sp.exp(-u)
    src = "de Pillis & Radunskaya 2003, Math Comput Model 37:1221"
    return td.Model(
        "depillis2003",
        states=[td.State("N", 1.0, "1", "normal cells (normalised)"),
                td.State("T", 0.25, "1", "tumor cells (normalised)"),
                td.State("I", 0.15, "1", "immune cells (normalised)"),
                td.State("u", 0.0, "1", "drug concentration")],
        parameters=[td.Parameter(k, v, (0.0, 100.0), "", source=src) for k, v in DEPILLIS2003.items()],
        processes=[
            td.Process("N_growth", P["r2"] * N * (1 - P["b2"] * N), produces="N"),
            td.Process("N_competition", P["c4"] * T * N, consumes="N"),
            td.Process("N_drug", P["a3"] * kill * N, consumes="N"),
            td.Process("T_growth", P["r1"] * T * (1 - P["b1"] * T), produces="T"),
            td.Process("T_killing", P["c2"] * I * T, consumes="T"),
            td.Process("T_competition", P["c3"] * T * N, consumes="T"),
            td.Process("T_drug", P["a2"] * kill * T, consumes="T"),
            td.Process("I_source", P["s"], produces="I"),
            td.Process("I_recruitment", P["rho"] * I * T / (P["alpha"] + T), produces="I"),
            td.Process("I_inactivation", P["c1"] * I * T, consumes="I"),
            td.Process("I_death", P["d1"] * I, consumes="I"),
            td.Process("I_drug", P["a1"] * kill * I, consumes="I"),
            td.Process("u_decay", P["d2"] * u, consumes="u"),
        ],
        drugs=[td.Drug("chemo", "u", volume=1.0, dose_unit="1")],
    )


def kuznetsov_reference(s, p, g, m, d, a, b, n):
    """Equilibria and their Jacobian eigenvalues derived by hand (independent of tumordyn)."""
    out = [(s / d, 0.0)]
    # T > 0: E = a(1 - bT)/n on the T-nullcline; (g+T)·dE/dt = 0 becomes a cubic in T
    E_T = np.polynomial.Polynomial([a / n, -a * b / n])
    gT = np.polynomial.Polynomial([g, 1.0])
    T_ = np.polynomial.Polynomial([0.0, 1.0])
    poly = s * gT + p * E_T * T_ - m * E_T * T_ * gT - d * E_T * gT
    for r in poly.roots():
        if abs(r.imag) < 1e-6 * abs(r) and r.real > 0 and E_T(r.real) >= 0:
            out.append((E_T(r.real), r.real))
    out.sort(key=lambda q: q[1])
    eigs = []
    for E, T in out:
        J = np.array([[p * T / (g + T) - m * T - d, p * E * g / (g + T) ** 2 - m * E],
                      [-n * T, a - 2 * a * b * T - n * E]])
        tr, det = np.trace(J), np.linalg.det(J)
        disc = tr**2 - 4 * det
        root = np.sqrt(complex(disc))
        eigs.append(np.array([(tr + root) / 2, (tr - root) / 2]))
    return np.array(out), eigs


def test_kuznetsov_equilibria_match_hand_derivation():
    eq = td.analysis.equilibria(td.models.kuznetsov1994())
    ref, ref_eigs = kuznetsov_reference(**KUZ)
    assert eq.method == "symbolic"
    assert len(eq) == len(ref) == 4
    np.testing.assert_allclose(eq.states, ref, rtol=1e-9, atol=1e-6)
    for ev, rev in zip(eq.eigenvalues, ref_eigs):
        np.testing.assert_allclose(sorted(ev, key=lambda z: (z.real, z.imag)),
                                   sorted(rev, key=lambda z: (z.real, z.imag)), rtol=1e-7, atol=1e-12)
    # tumor-free E* = s/d is a saddle since a - n s/d = 0.145 > 0; dormant focus, saddle, escape node
    assert eq.states[0, 0] == pytest.approx(KUZ["s"] / KUZ["d"], rel=1e-12)
    assert eq.stability == ("saddle", "stable focus", "saddle", "stable node")
    assert eq.max_real[0] == pytest.approx(KUZ["a"] - KUZ["n"] * KUZ["s"] / KUZ["d"], rel=1e-9)
    assert list(eq.stable) == [False, True, False, True]
    df = eq.to_dataframe()
    assert list(df.columns) == ["E", "T", "eigenvalues", "max_real", "stability"]
    assert df["T"].iloc[1] == pytest.approx(8.186382e6, rel=1e-6)
    assert "stable focus" in repr(eq)


def test_numerical_method_agrees_and_reports_failures():
    m = td.models.kuznetsov1994()
    sym = td.analysis.equilibria(m)
    num = td.analysis.equilibria(m, method="numerical", n_starts=64)
    assert num.method == "numerical"
    np.testing.assert_allclose(num.states, sym.states, rtol=1e-7, atol=1e-3)
    assert num.stability == sym.stability
    assert num.n_starts > 64  # Sobol starts plus boundary starts
    assert 0 <= num.n_failed < num.n_starts
    assert f"{num.n_failed}/{num.n_starts} starts failed to converge" in repr(num)
    assert len(num.failures) == min(num.n_failed, 5)


@settings(max_examples=8, deadline=None)
@given(s=st.floats(2e3, 4e4), n=st.floats(2e-8, 5e-7), d=st.floats(0.01, 0.1))
def test_kuznetsov_equilibria_property(s, n, d):
    params = dict(KUZ, s=s, n=n, d=d)
    eq = td.analysis.equilibria(td.models.kuznetsov1994(), params={"s": s, "n": n, "d": d})
    ref, _ = kuznetsov_reference(**params)
    assert len(eq) == len(ref)
    np.testing.assert_allclose(eq.states, ref, rtol=1e-6, atol=1e-3)
    # tumor-free state stable iff a < n s / d
    assert eq.stable[0] == (KUZ["a"] - n * s / d < 0)


def test_parameter_overrides_change_the_tumor_free_stability():
    m = td.models.kuznetsov1994()
    eq = td.analysis.equilibria(m, params={"n": 1e-5})  # a - n s/d = 0.18 - 3.16 < 0
    assert eq.stability[0] == "stable node"
    assert eq.states[0, 1] == 0.0
    # the model's defaults are untouched
    assert td.analysis.equilibria(m).stability[0] == "saddle"


def test_depillis2003_tumor_free_equilibrium():
    m = depillis2003()
    eq = td.analysis.equilibria(m)
    P = DEPILLIS2003
    tf = [i for i in range(len(eq)) if eq.states[i, 1] == 0 and eq.states[i, 0] > 0]
    assert len(tf) == 1
    i = tf[0]
    np.testing.assert_allclose(eq.states[i], [1 / P["b2"], 0.0, P["s"] / P["d1"], 0.0], rtol=1e-12)
    # eigenvalues at (1/b2, 0, s/d1): -r2, r1 - c2 s/d1 - c3/b2, -d1 (block triangular Jacobian)
    ref = sorted([-P["r2"], P["r1"] - P["c2"] * P["s"] / P["d1"] - P["c3"] / P["b2"], -P["d1"]])
    np.testing.assert_allclose(sorted(eq.eigenvalues[i].real), ref, rtol=1e-9)
    assert eq.stability[i] == "stable node"


def test_depillis2003_with_constant_drug_level():
    m = depillis2003()
    P = DEPILLIS2003
    eq = td.analysis.equilibria(m, drug_levels={"chemo": 1.0})
    eq2 = td.analysis.equilibria(m, drug_levels={"u": 1.0})  # by compartment state name
    np.testing.assert_allclose(eq.states, eq2.states)
    kill = 1 - np.exp(-1.0)
    N = (P["r2"] - P["a3"] * kill) / (P["r2"] * P["b2"])
    I = P["s"] / (P["d1"] + P["a1"] * kill)
    rows = [r for r in eq.states if r[1] == 0 and r[0] > 0]
    assert len(rows) == 1
    np.testing.assert_allclose(rows[0], [N, 0.0, I, 1.0], rtol=1e-10)


def test_tumor_free_threshold_kuznetsov():
    th = td.analysis.tumor_free_threshold(td.models.kuznetsov1994())
    s, n, d, a = sp.symbols("s n d a")
    assert sp.simplify(th.expression - (a - n * s / d)) == 0
    assert sp.simplify(th.equilibrium["E"] - s / d) == 0
    assert th.tumor_states == ("T",)
    assert th.value() == pytest.approx(KUZ["a"] - KUZ["n"] * KUZ["s"] / KUZ["d"], rel=1e-12)
    assert not th.is_stable()
    assert th.is_stable({"n": 1e-5})
    assert th.critical_value("n") == pytest.approx([KUZ["a"] * KUZ["d"] / KUZ["s"]], rel=1e-9)
    assert "a - n*s/d" in repr(th)


def test_tumor_free_threshold_depillis():
    m = depillis2003()
    th = td.analysis.tumor_free_threshold(m)
    S = {k: sp.Symbol(k) for k in DEPILLIS2003}
    assert sp.simplify(th.expression - (S["r1"] - S["c2"] * S["s"] / S["d1"] - S["c3"] / S["b2"])) == 0
    assert th.value() == pytest.approx(-0.325, rel=1e-12)
    assert th.is_stable()
    # the numeric equilibria agree: the tumor-free state is stable
    assert th.equilibrium_value()["I"] == pytest.approx(1.65)
    assert th.is_stable({"c2": 0.1}) is False  # 1.5 - 0.1*1.65 - 1 > 0


def test_classify():
    assert classify([-1, -2]) == "stable node"
    assert classify([-1 + 1j, -1 - 1j]) == "stable focus"
    assert classify([1, -2]) == "saddle"
    assert classify([1, 2]) == "unstable node"
    assert classify([1 + 2j, 1 - 2j]) == "unstable focus"
    assert classify([0.0, -1]) == "non-hyperbolic"


def test_larger_model_equilibria_are_steady_and_nonnegative():
    m = td.models.zhang2017()
    eq = td.analysis.equilibria(m, n_starts=32)
    assert eq.method == "numerical" and len(eq) >= 1
    f = compile_model(m).rhs
    p = compile_model(m).param_vector()
    for row in eq.states:
        assert np.all(row >= 0)
        resid = f(0.0, row, p, np.zeros(1))
        assert np.max(np.abs(resid) / np.maximum(np.abs(row), 1.0)) < 1e-8


def test_bad_input():
    m = td.models.kuznetsov1994()
    with pytest.raises(td.errors.UnknownNameError, match="'nn'"):
        td.analysis.equilibria(m, params={"nn": 1.0})
    with pytest.raises(td.errors.SpecificationError, match="outside its bounds"):
        td.analysis.equilibria(m, params={"a": 50.0})
    with pytest.raises(td.errors.UnknownNameError, match="drug"):
        td.analysis.equilibria(m, drug_levels={"aspirin": 1.0})
    with pytest.raises(td.errors.SpecificationError, match=">= 0"):
        td.analysis.equilibria(depillis2003(), drug_levels={"chemo": -1.0})
    with pytest.raises(td.errors.SpecificationError, match="method"):
        td.analysis.equilibria(m, method="magic")
    with pytest.raises(td.errors.SpecificationError, match="n_starts"):
        td.analysis.equilibria(m, n_starts=0)
    with pytest.raises(TypeError, match="Model"):
        td.analysis.equilibria("kuznetsov")
    with pytest.raises(td.errors.SpecificationError, match="numerical"):
        td.analysis.equilibria(td.models.zhang2017(), method="symbolic")
    with pytest.raises(td.errors.UnknownNameError, match="state"):
        td.analysis.tumor_free_threshold(m, tumor_states=["X"])
    with pytest.raises(td.errors.SpecificationError, match="does not vanish"):
        td.analysis.tumor_free_threshold(m, tumor_states=["E"])


def test_threshold_with_two_tumor_clones():
    """Sensitive S mutates into resistant R: the invasion block is triangular, eigenvalues on its diagonal."""
    S, R, E = sp.symbols("S R E")
    rS, rR, mu, k, s, d = sp.symbols("r_S r_R mu k s d")
    m = td.Model(
        "two_clones",
        states=[td.State("S", 1e3), td.State("R", 1.0), td.State("E", 1e3, description="effector T cells")],
        parameters=[td.Parameter("r_S", 0.3, (0, 2)), td.Parameter("r_R", 0.2, (0, 2)), td.Parameter("mu", 1e-3, (0, 1)),
                    td.Parameter("k", 1e-4, (0, 1)), td.Parameter("s", 100.0, (0, 1e6)), td.Parameter("d", 0.1, (0.01, 1))],
        processes=[td.Process("growth_S", rS * (1 - mu) * S, produces="S"),
                   td.Process("mutation", mu * rS * S, produces="R"),
                   td.Process("growth_R", rR * R, produces="R"),
                   td.Process("kill_S", k * E * S, consumes="S"), td.Process("kill_R", k * E * R, consumes="R"),
                   td.Process("influx", s, produces="E"), td.Process("death", d * E, consumes="E")],
    )
    th = td.analysis.tumor_free_threshold(m)
    assert th.tumor_states == ("S", "R")
    assert {sp.simplify(e) for e in th.invasion_eigenvalues} == {
        sp.simplify(rS * (1 - mu) - k * s / d), sp.simplify(rR - k * s / d)}
    assert th.value() == pytest.approx(max(0.3 * (1 - 1e-3), 0.2) - 1e-4 * 100 / 0.1)
    assert th.is_stable() == (th.value() < 0)
    assert th.is_stable({"s": 1e3})  # k s / d = 1 > r_S
