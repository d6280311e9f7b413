"""Forward sensitivities against closed forms and central finite differences."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

import tumordyn as td

DOSES = [(0.0, 100.0), (1.0, 50.0), (2.5, 80.0)]


def test_forward_matches_finite_differences_kuznetsov():
    m = td.models.kuznetsov1994()
    for statistic in ("final", "auc"):
        fwd = td.analysis.sensitivity(m, readout="T", t_end=60.0, statistic=statistic)
        fd = td.analysis.sensitivity(m, readout="T", t_end=60.0, statistic=statistic, algorithm="finite-difference")
        assert fwd.algorithm == "forward" and fd.algorithm == "finite-difference"
        assert fwd.value == pytest.approx(fd.value, rel=1e-7)
        np.testing.assert_allclose(fwd.derivatives, fd.derivatives, rtol=2e-4)
        np.testing.assert_allclose(fwd.elasticities, fd.elasticities, rtol=2e-4, atol=1e-7)
    # the readout value agrees with td.simulate
    sim = td.simulate(m, t_end=60.0, t_eval=[0, 60.0], rtol=1e-9)
    assert fwd.parameters == m.parameters.names
    assert td.analysis.sensitivity(m, readout="T", t_end=60.0).value == pytest.approx(sim["T"][-1], rel=1e-6)


def test_bolus_sensitivities_against_the_closed_form():
    """C(T) = Σ A_i/V e^{-k (T - t_i)}, k = ln2 / t_half: dC/dV = -C/V and dC/dt_half by hand."""
    m = td.models.one_compartment_pk()
    sched = td.Schedule([td.Dose(t, "drug", a) for t, a in DOSES])
    th, V, T = 1.0, 10.0, 4.0
    k = math.log(2) / th
    C = sum(a / V * math.exp(-k * (T - t)) for t, a in DOSES)
    dC_dth = sum(a / V * math.exp(-k * (T - t)) * (T - t) * math.log(2) / th**2 for t, a in DOSES)
    s = td.analysis.sensitivity(m, sched, readout="C", t_end=T)
    assert s.value == pytest.approx(C, rel=1e-7)
    assert s["V"] == pytest.approx(-C / V, rel=1e-7)  # the dose jump amount/V depends on V
    assert s["t_half"] == pytest.approx(dC_dth, rel=1e-6)
    assert s.elasticity["V"] == pytest.approx(-1.0, rel=1e-7)
    # AUC = Σ A_i/(V k) (1 - e^{-k τ_i}),  τ_i = T - t_i
    auc = sum(a / (V * k) * (1 - math.exp(-k * (T - t))) for t, a in DOSES)
    dauc_dk = sum(a / V * (-(1 - math.exp(-k * (T - t))) / k**2 + (T - t) * math.exp(-k * (T - t)) / k)
                  for t, a in DOSES)
    sa = td.analysis.sensitivity(m, sched, readout="C", t_end=T, statistic="auc")
    assert sa.value == pytest.approx(auc, rel=1e-6)
    assert sa["t_half"] == pytest.approx(dauc_dk * (-math.log(2) / th**2), rel=1e-6)
    assert sa["V"] == pytest.approx(-auc / V, rel=1e-6)


def test_infusion_and_callable_readout():
    m = td.models.one_compartment_pk()
    sched = td.Schedule.infusion("drug", 20.0, 0.5, 2.5) + td.Schedule.at("drug", 30.0, [1.0])
    fwd = td.analysis.sensitivity(m, sched, readout="C", t_end=3.0)
    fd = td.analysis.sensitivity(m, sched, readout="C", t_end=3.0, algorithm="finite-difference")
    np.testing.assert_allclose(fwd.derivatives, fd.derivatives, rtol=1e-5)
    assert fwd.elasticity["V"] == pytest.approx(-1.0, rel=1e-7)  # C is proportional to 1/V

    def peak(traj):
        return float(traj["C"].max())

    sc = td.analysis.sensitivity(m, sched, readout=peak, t_end=3.0, parameters=["V"])
    assert sc.algorithm == "finite-difference" and sc.statistic == "callable" and sc.readout == "peak"
    assert sc.parameters == ("V",)
    assert sc.elasticity["V"] == pytest.approx(-1.0, rel=1e-4)


def test_result_table_and_tornado():
    m = td.models.kuznetsov1994()
    s = td.analysis.sensitivity(m, readout="tumor_burden", t_end=30.0, parameters=["a", "n", "s"])
    df = s.to_dataframe()
    assert list(df.columns) == ["parameter", "value", "derivative", "elasticity"]
    assert list(df["parameter"]) == sorted(["a", "n", "s"], key=lambda p: -abs(s.elasticity[p]))
    assert s.elasticities.flags.writeable is False
    ax = s.tornado()
    assert len(ax.patches) == 3
    assert "elasticity" in ax.get_xlabel()
    plt.close(ax.figure)
    assert "tumor_burden" in repr(s)


def test_sensitivity_bad_input():
    m = td.models.kuznetsov1994()
    with pytest.raises(td.errors.UnknownNameError, match="readout"):
        td.analysis.sensitivity(m, readout="volume", t_end=10.0)
    with pytest.raises(td.errors.UnknownNameError, match="parameter"):
        td.analysis.sensitivity(m, readout="T", t_end=10.0, parameters=["zz"])
    with pytest.raises(td.errors.SpecificationError, match="statistic"):
        td.analysis.sensitivity(m, readout="T", t_end=10.0, statistic="max")
    with pytest.raises(td.errors.SpecificationError, match="finite differences"):
        td.analysis.sensitivity(m, readout=lambda tr: 1.0, t_end=10.0, algorithm="forward")
    with pytest.raises(TypeError, match="readout"):
        td.analysis.sensitivity(m, readout=3, t_end=10.0)
    with pytest.raises(td.errors.SpecificationError, match="outside its bounds"):
        td.analysis.sensitivity(m, readout="T", t_end=10.0, params={"a": 50.0})
    with pytest.raises(td.errors.UnknownNameError):
        td.analysis.sensitivity(td.models.one_compartment_pk(), td.Schedule.at("aspirin", 1.0, [0.0]), readout="C", t_end=1.0)


def test_solver_object_is_honoured_and_method_is_a_deprecated_alias():
    m = td.models.one_compartment_pk()
    sched = td.Schedule.at("drug", 100.0, [0.0, 1.0])
    base = td.analysis.sensitivity(m, sched, readout="C", t_end=3.0)
    tight = td.analysis.sensitivity(m, sched, readout="C", t_end=3.0, solver=td.Solver(method="BDF", rtol=1e-11))
    loose = td.analysis.sensitivity(m, sched, readout="C", t_end=3.0, solver=td.Solver(method="RK23", rtol=1e-3))
    np.testing.assert_allclose(tight.derivatives, base.derivatives, rtol=1e-6)
    assert not np.array_equal(loose.derivatives, tight.derivatives)  # the settings reach the integrator
    np.testing.assert_allclose(loose.derivatives, tight.derivatives, rtol=1e-2)
    with pytest.warns(DeprecationWarning, match="algorithm"):
        old = td.analysis.sensitivity(m, sched, readout="C", t_end=3.0, method="finite-difference")
    new = td.analysis.sensitivity(m, sched, readout="C", t_end=3.0, algorithm="finite-difference")
    np.testing.assert_array_equal(old.derivatives, new.derivatives)
    with pytest.warns(DeprecationWarning, match="algorithm"):
        assert new.method == "finite-difference"
    with pytest.raises(td.errors.SpecificationError, match="not both"):
        td.analysis.sensitivity(m, sched, readout="C", t_end=3.0, solver=td.Solver(), rtol=1e-8)
    with pytest.raises(td.errors.UnknownNameError, match="nope"):
        td.analysis.sensitivity(m, sched, readout="C", t_end=3.0, solver=td.Solver(atol={"nope": 1.0}))
    with pytest.raises(td.errors.SpecificationError, match="algorithm"):
        td.analysis.sensitivity(m, sched, readout="C", t_end=3.0, algorithm="adjoint")
