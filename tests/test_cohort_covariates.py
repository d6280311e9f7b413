"""Per-patient covariates in cohorts: each patient's mg/kg and mg/m² doses are its own, on every engine, and
equal what td.simulate gives that patient with its covariates; covariates are patient columns; a cohort
without the covariate a dose needs is refused by name."""

import numpy as np
import pandas as pd
import pytest

import tumordyn as td
from tumordyn.errors import SpecificationError, UnitError

LN = td.cohorts.LogNormal
T_END = 84.0
RTOL = 1e-9


@pytest.fixture(scope="module")
def model():
    return td.models.tumor_immune_tme()


@pytest.fixture(scope="module")
def cohort(model):
    return td.Cohort(model, {"r_S": LN(median=0.03, cv=0.3)}, n=6, seed=3,
                     covariates={"weight_kg": LN(median=70, cv=0.25), "bsa_m2": LN(median=1.8, cv=0.1)},
                     correlation={("weight_kg", "bsa_m2"): 0.8})


def _regimen():
    return (td.Schedule.every("targeted", 1.0, 7, count=8, unit="mg/kg")
            + td.Schedule.every("anti_pd1", 100.0, 21, count=3, unit="mg/m^2"))


def _per_patient(model, cohort, res, regimen, method, name="r"):
    """Largest |cohort - td.simulate| / (|y| + atol) over the patients, td.simulate with each one's covariates."""
    atol = np.array(td.numerics.compile_model(model).atol)
    worst = 0.0
    for j in range(cohort.n):
        tr = td.simulate(model, regimen, t_end=T_END, t_eval=res.t, params=cohort.patient_params(j),
                         covariates=cohort.patient_covariates(j), solver=td.Solver(method, rtol=RTOL))
        y = res._traj[name][:, :, j].T
        worst = max(worst, float(np.max(np.abs(y - tr.y) / (np.abs(tr.y) + atol))))
    return worst


def test_covariates_sampled_correlated_and_in_patient_tables(cohort):
    cov = cohort.covariates
    assert list(cov.columns) == ["weight_kg", "bsa_m2"] and len(cov) == cohort.n
    assert (cov > 0).all().all()
    assert cohort.patient_covariates(1) == {"weight_kg": cov["weight_kg"][1], "bsa_m2": cov["bsa_m2"][1]}
    big = td.Cohort(cohort.model, {}, n=512, seed=1,
                    covariates={"weight_kg": LN(median=70, cv=0.25), "bsa_m2": LN(median=1.8, cv=0.1)},
                    correlation={("weight_kg", "bsa_m2"): 0.8})
    rho = np.corrcoef(np.log(big.covariates["weight_kg"]), np.log(big.covariates["bsa_m2"]))[0, 1]
    assert 0.7 < rho < 0.9  # the Gaussian copula's 0.8 on 512 patients
    assert np.median(big.covariates["weight_kg"]) == pytest.approx(70, rel=0.05)
    # the same seed, the same patients
    again = td.Cohort(cohort.model, {"r_S": LN(median=0.03, cv=0.3)}, n=6, seed=3,
                      covariates={"weight_kg": LN(median=70, cv=0.25), "bsa_m2": LN(median=1.8, cv=0.1)},
                      correlation={("weight_kg", "bsa_m2"): 0.8})
    assert again.covariates.equals(cov)


@pytest.mark.parametrize("method", ["dopri5", "batch"])
def test_each_patient_gets_its_own_dose_as_td_simulate(model, cohort, method):
    if method == "dopri5":
        pytest.importorskip("numba")
    reg = _regimen()
    res = cohort.simulate({"r": reg}, t_end=T_END, keep_trajectories=True, method=method, rtol=RTOL,
                          progress=False, parallel=False)
    # the same engine through td.simulate: the same numbers up to the rounding of amount x covariate
    assert _per_patient(model, cohort, res, reg, method) < 1e-9
    # the heaviest patient got more drug than the lightest (the doses do differ)
    w = cohort.covariates["weight_kg"].to_numpy()
    i_c = td.numerics.compile_model(model).state_names.index("C_targeted")
    exposure = res._traj["r"][i_c].sum(axis=0)
    assert exposure[np.argmax(w)] > exposure[np.argmin(w)]
    df = res.to_dataframe()
    assert {"weight_kg", "bsa_m2"} <= set(df.columns)
    assert np.allclose(df["weight_kg"].to_numpy(), w)
    assert {"weight_kg", "bsa_m2"} <= set(res.baseline().columns)
    # the trajectory of one patient carries that patient's doses
    doses = res.trajectory(2).schedule.doses
    first = [d for d in doses if d.drug == "targeted"][0]
    assert first.amount == pytest.approx(1.0 * w[2], rel=1e-14)


@pytest.mark.slow  # numba compiles the prange kernel (cached on disk afterwards)
def test_prange_equals_serial_with_covariates(model, cohort):
    pytest.importorskip("numba")
    kw = dict(t_end=T_END, keep_trajectories=True, method="dopri5", rtol=RTOL, progress=False)
    a = cohort.simulate(_regimen(), parallel=False, **kw)
    b = cohort.simulate(_regimen(), parallel=True, chunk_size=4, **kw)
    assert np.array_equal(a._traj["regimen"], b._traj["regimen"], equal_nan=True)


def test_adaptive_rules_and_mixed_bases_per_patient(model, cohort):
    pytest.importorskip("numba")
    rule = td.AdaptiveRule("targeted", observable="lesion_diameter", pause_below=0.8, resume_at=0.95,
                           on=td.Schedule.every("targeted", 2.0, 7, until=T_END, unit="mg/kg"))
    adaptive = td.Regimen(rules=(rule,))
    # a loading dose in mg and maintenance in mg/kg: no per-drug factor, solved patient by patient
    mixed = td.Schedule.at("targeted", 150.0, [0]) + td.Schedule.every("targeted", 1.0, 7, count=6, start=7,
                                                                     unit="mg/kg")
    res = cohort.simulate({"adaptive": adaptive, "mixed": mixed}, t_end=T_END, keep_trajectories=True,
                          method="dopri5", rtol=RTOL, progress=False)
    assert _per_patient(model, cohort, res, adaptive, "dopri5", "adaptive") < 1e-9
    assert _per_patient(model, cohort, res, mixed, "auto", "mixed") < 1e-9


def test_covariates_from_a_table_of_real_patients(model):
    table = pd.DataFrame({"weight_kg": [55.0, 80.0, 102.0], "bsa_m2": [1.6, 1.95, 2.3]})
    same = td.Cohort(model, {}, n=3, seed=0, covariates=table)
    assert np.array_equal(same.covariates.to_numpy(), table.to_numpy())  # n rows: in order
    drawn = td.Cohort(model, {}, n=40, seed=0, covariates=table)
    rows = {tuple(r) for r in drawn.covariates.to_numpy().tolist()}
    assert rows <= {tuple(r) for r in table.to_numpy().tolist()}  # rows resampled whole
    assert len(rows) == 3
    assert table.equals(pd.DataFrame({"weight_kg": [55.0, 80.0, 102.0], "bsa_m2": [1.6, 1.95, 2.3]}))  # unchanged


def test_refusals(model):
    reg = td.Schedule.every("targeted", 1.0, 7, count=2, unit="mg/kg")
    plain = td.Cohort(model, {"r_S": LN(median=0.03, cv=0.3)}, n=2, seed=1)
    with pytest.raises(SpecificationError, match="body weight.*covariates"):
        plain.simulate(reg, t_end=28.0, progress=False)
    only_bsa = td.Cohort(model, {}, n=2, seed=1, covariates={"bsa_m2": 1.8})
    with pytest.raises(SpecificationError, match="weight_kg"):
        only_bsa.simulate(reg, t_end=28.0, progress=False)
    with pytest.raises(SpecificationError, match="'r_S' is a parameter"):
        td.Cohort(model, {}, n=2, seed=1, covariates={"r_S": 1.0})
    with pytest.raises(SpecificationError, match="weight_kg.*> 0"):
        td.Cohort(model, {}, n=2, seed=1, covariates=pd.DataFrame({"weight_kg": [70.0, -1.0]}))
    with pytest.raises(SpecificationError, match="numeric"):
        td.Cohort(model, {}, n=2, seed=1, covariates=pd.DataFrame({"weight_kg": ["a", "b"]}))
    with pytest.raises(TypeError, match="covariates"):
        td.Cohort(model, {}, n=2, seed=1, covariates=[70.0, 80.0])
    with pytest.raises(UnitError, match="per kg"):
        td.Cohort(model, {}, n=2, seed=1, covariates={"weight_kg": 70.0}).simulate(
            td.Schedule.at("targeted", 1.0, [0], unit="mg/L"), t_end=7.0, progress=False)


@pytest.mark.parametrize("method", ["dopri5", "LSODA"])
def test_solve_layer_dose_scale_with_rules_equals_simulate_with_covariates(model, method):
    if method == "dopri5":
        pytest.importorskip("numba")
    from tumordyn.dosing import RulePlan
    from tumordyn.numerics import compile_model
    from tumordyn.solve import Problem, solve

    c = compile_model(model)
    rule = td.AdaptiveRule("targeted", observable="lesion_diameter", pause_below=0.8, resume_at=0.95,
                           on=td.Schedule.every("targeted", 2.0, 7, until=56.0, unit="mg/kg"))
    regimen = td.Regimen(td.Schedule.every("anti_pd1", 3.0, 21, count=3, unit="mg/kg"), (rule,))
    weights = np.array([45.0, 70.0, 120.0])
    base, scale = td.trajectory.dose_scaling(model, regimen, {"weight_kg": weights}, 3)
    rules = RulePlan.build(c, base, 0.0, 56.0)
    te = np.linspace(0.0, 56.0, 57)
    P = np.tile(c.param_vector(), (3, 1))
    Y0 = np.tile(c.initial_vector(), (3, 1))
    sol = solve(Problem(c, rules.dosing, P, Y0, te, rules, scale), td.Solver(method, rtol=1e-9).options(c))
    assert sol.ok.all()
    for j, w in enumerate(weights):
        tr = td.simulate(model, regimen, t_end=56.0, t_eval=te, covariates={"weight_kg": w},
                         solver=td.Solver(method, rtol=1e-9))
        # the same engine and doses (amount x weight rounded in another order): equal to rounding
        assert np.all(np.abs(sol.y[j] - tr.y) <= 1e-9 * np.abs(tr.y) + 1e-6 * np.asarray(c.atol))
        np.testing.assert_allclose(sol.rules.u[j], tr.u, rtol=1e-12)


def test_a_cohort_of_given_patients_takes_their_covariates(model):
    """Cohort.from_values (the calibrated populations' cohorts) with real patients' weights: each patient's
    mg/kg doses are its own, as td.simulate gives them with that patient's covariates."""
    table = pd.DataFrame({"weight_kg": [48.0, 75.0, 120.0]})
    given = td.Cohort.from_values(model, {"r_S": [0.02, 0.03, 0.04]}, covariates=table)
    assert np.array_equal(given.covariates["weight_kg"].to_numpy(), table["weight_kg"].to_numpy())
    assert np.array_equal(given.parameters["r_S"], [0.02, 0.03, 0.04])  # the values stay exact
    reg = td.Schedule.every("targeted", 1.0, 7, count=8, unit="mg/kg")
    res = given.simulate({"r": reg}, t_end=T_END, keep_trajectories=True, method="batch", rtol=RTOL,
                         progress=False)
    assert _per_patient(model, given, res, reg, "batch") < 1e-9
    sampled = td.Cohort.from_values(model, {"r_S": [0.02, 0.03]}, seed=5,
                                    covariates={"weight_kg": LN(median=70, cv=0.2)})
    again = td.Cohort.from_values(model, {"r_S": [0.02, 0.03]}, seed=5,
                                  covariates={"weight_kg": LN(median=70, cv=0.2)})
    assert sampled.covariates.equals(again.covariates)  # seeded
    with pytest.raises(SpecificationError, match="weight_kg"):
        td.Cohort.from_values(model, {"r_S": [0.02, 0.03]}).simulate(reg, t_end=T_END, progress=False)
