"""Several problems in one compiled call (per-patient dosing plans), and the multi-subject ODE fit built on it."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest

import tumordyn as td
from tumordyn.dosing._plan import DosingPlan
from tumordyn.errors import SolverStatus, SpecificationError
from tumordyn.models import one_compartment_pk
from tumordyn.numerics import compile_model
from tumordyn.solve._dispatch import solve
from tumordyn.solve._problem import Problem

HAVE_NUMBA = importlib.util.find_spec("numba") is not None
needs_numba = pytest.mark.skipif(not HAVE_NUMBA, reason="the compiled engine needs numba")

SOLUTION_FIELDS = ("y", "u", "status", "t_reached", "bad_state", "nfev")


def _problems(model, schedules, times, rng):
    """One problem per schedule: its own plan, its own output times, 1-4 patients of varied parameters."""
    c = compile_model(model)
    out = []
    for k, (sched, te) in enumerate(zip(schedules, times)):
        B = 1 + k % 4
        P = np.tile(c.defaults, (B, 1)) * rng.uniform(0.7, 1.3, size=(B, c.n_params))
        Y0 = np.tile(c.initial, (B, 1)) * rng.uniform(0.5, 1.5, size=(B, c.n_states))
        plan = DosingPlan.build(c.drug_names, sched, 0.0, float(te[-1]))
        out.append(Problem(c, plan, P, Y0, np.asarray(te, dtype=float)))
    return out


def _assert_same(a, b):
    for name in SOLUTION_FIELDS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.messages == b.messages and a.methods == b.methods
    assert (a.n_segments, a.n_doses_applied) == (b.n_segments, b.n_doses_applied)


@needs_numba
@pytest.mark.parametrize("method", ["dopri5", "auto"])
def test_problems_with_their_own_plans_in_one_call_equal_their_own_solves(method):
    # contract: every patient of every problem gets, bit for bit, the answer of its problem solved alone
    rng = np.random.default_rng(3)
    m = td.fitting.growth_model("logistic", resistant=True)
    schedules = [td.Schedule.infusion("drug", 1.0, 10.0, 60.0), td.Schedule(),
                 td.Schedule.infusion("drug", 1.0, 10.0, 24.0) + td.Schedule.infusion("drug", 0.5, 38.0, 52.0),
                 td.Schedule.infusion("drug", 2.0, 3.0, 4.0)]
    times = [np.linspace(0.0, 56.0, 15), [0.0, 7.0, 30.0], np.linspace(2.0, 80.0, 40), [5.0]]
    probs = _problems(m, schedules, times, rng)
    opts = td.Solver(method=method, rtol=1e-8, atol=1e-8).options(probs[0].compiled)
    together = solve(probs, opts)
    assert len(together) == len(probs)
    for prob, sol in zip(probs, together):
        assert sol.y.shape == (prob.n_patients, prob.t_eval.size, 2)
        _assert_same(sol, solve(prob, opts))
    # and in another order, and on numba's threads
    again = solve(probs[::-1], opts)
    for a, b in zip(again[::-1], together):
        _assert_same(a, b)
    if method == "dopri5":
        for a, b in zip(solve(probs, opts, parallel=True), together):
            _assert_same(a, b)


@needs_numba
def test_bolus_plans_dose_scales_and_failures_per_problem():
    rng = np.random.default_rng(5)
    m = one_compartment_pk(half_life=1.0, volume=10.0)
    schedules = [td.Schedule.every("drug", 100.0, 1.0, count=5), td.Schedule.at("drug", 3.0, 2.5),
                 td.Schedule()]
    times = [np.linspace(0.0, 6.0, 13), np.linspace(0.0, 4.0, 9), [0.0, 1.0]]
    probs = _problems(m, schedules, times, rng)
    c = probs[0].compiled
    probs[1] = Problem(c, probs[1].plan, probs[1].params, probs[1].y0, probs[1].t_eval,
                       dose_scale=np.array([[2.0]] * probs[1].n_patients))
    opts = td.Solver(method="dopri5", rtol=1e-9).options(c)
    for prob, sol in zip(probs, solve(probs, opts)):
        _assert_same(sol, solve(prob, opts))
    # a step budget too small for the dosed problems: failures reported per patient, as alone
    tight = td.Solver(method="dopri5", rtol=1e-9, max_steps=40).options(c)
    sols = solve(probs, tight)
    assert (sols[0].status == int(SolverStatus.TOO_MANY_STEPS)).all() and np.isnan(sols[0].y).all()
    for prob, sol in zip(probs, sols):
        _assert_same(sol, solve(prob, tight))


def test_several_problems_must_share_one_model():
    a = compile_model(td.models.logistic_growth())
    b = compile_model(td.fitting.growth_model("logistic", resistant=True))
    pa = Problem(a, DosingPlan.build(a.drug_names, td.Schedule(), 0.0, 1.0), a.defaults[None], a.initial[None],
                 np.array([1.0]))
    pb = Problem(b, DosingPlan.build(b.drug_names, td.Schedule(), 0.0, 1.0), b.defaults[None], b.initial[None],
                 np.array([1.0]))
    for method in ("auto", "LSODA") + (("dopri5",) if HAVE_NUMBA else ()):
        with pytest.raises(SpecificationError, match="one compiled model"):
            solve([pa, pb], td.Solver(method=method).options(a))
    with pytest.raises(SpecificationError, match="done"):
        solve([pa], td.Solver().options(a), done=np.zeros(1, dtype=np.int64))
    assert solve([], td.Solver().options(a)) == []


# --------------------------------------------------------------------------- the multi-subject ODE fit

SWITCHES = {"A": [(10.0, 60.0)], "B": [(14.0, 60.0)], "C": [(10.0, 24.0), (38.0, 52.0)]}  # drug on (days)
START = {"r": 0.1, "K": 5000.0, "kill": 0.2, "init_S": 100.0, "init_R": 1.0}
BOUNDS = {"r": (1e-4, 2.0), "K": (1.0, 1e7), "kill": (0.0, 5.0), "init_S": (0.0, np.inf), "init_R": (0.0, np.inf)}


def _three_subjects():
    model = td.fitting.growth_model("logistic", resistant=True)
    schedules = {s: sum((td.Schedule.infusion("drug", 1.0, a, b) for a, b in on), td.Schedule())
                 for s, on in SWITCHES.items()}
    data = td.fitting.synthetic_data(model, schedules, np.linspace(0.0, 56.0, 15), "tumor_volume",
                                     noise="lognormal", sigma=0.1, seed=7,
                                     params={"r": 0.12, "K": 3000.0, "kill": 0.35}, initial={"S": 90.0, "R": 1.5})
    return model, schedules, data


def _fit_by_hand(data):
    """The textbook fit: a plain Python RHS, solve_ivp (LSODA, rtol = atol = 1e-8) per subject and treatment
    segment, lmfit's least_squares with scipy's own finite differences."""
    import lmfit
    from scipy.integrate import solve_ivp

    def rhs(t, y, r, K, kill, u):
        g = r * (1.0 - (y[0] + y[1]) / K)
        return [g * y[0] - kill * u * y[0], g * y[1]]

    def simulate(p, on, times):
        edges = sorted({0.0, float(times[-1])} | {x for ab in on for x in ab if x < times[-1]})
        y, out = np.array([p["init_S"], p["init_R"]]), np.empty(times.size)
        for a, b in zip(edges[:-1], edges[1:]):
            u = 1.0 if any(s <= a < e for s, e in on) else 0.0
            sel = (times >= a) & (times < b)
            sol = solve_ivp(rhs, (a, b), y, method="LSODA", t_eval=np.append(times[sel], b), rtol=1e-8, atol=1e-8,
                            args=(p["r"], p["K"], p["kill"], u))
            out[sel] = sol.y.sum(axis=0)[:-1]
            y = sol.y[:, -1]
        out[times == edges[-1]] = y.sum()
        return out

    groups = [(SWITCHES[s], d["time"].to_numpy(), np.log(d["value"].to_numpy()), d["sigma"].to_numpy())
              for s, d in data.groupby("subject", sort=False)]
    pars = lmfit.Parameters()
    for n, v in START.items():
        pars.add(n, value=v, min=BOUNDS[n][0], max=BOUNDS[n][1])
    return lmfit.minimize(lambda ps: np.concatenate([(np.log(simulate(ps.valuesdict(), on, t)) - ly) / sg
                                                     for on, t, ly, sg in groups]), pars, method="least_squares")


@pytest.mark.parametrize("solver", ["auto", "LSODA"])
def test_three_subject_fit_reaches_the_hand_written_optimum(solver):
    # contract: the fit (all subjects in one solve per evaluation) ends where the hand-written lmfit fit ends:
    # every parameter within 1e-4 relative, chi-square within 1e-6 relative
    model, schedules, data = _three_subjects()
    res = td.fit(model, data, free=["r", "K", "kill"], initial_free={"S": "shared", "R": "shared"},
                 schedules=schedules, initial={"S": START["init_S"], "R": START["init_R"]},
                 params={k: START[k] for k in ("r", "K", "kill")}, rtol=1e-8, atol=1e-8, solver=solver)
    ref = _fit_by_hand(data)
    for name in START:
        assert res.params[name].value == pytest.approx(ref.params[name].value, rel=1e-4), name
    assert res.chisqr == pytest.approx(ref.chisqr, rel=1e-6)
    assert res.success and res.n_failed_solves == 0
    # the result is complete: standard errors, correlations, predictions of every subject
    assert all(np.isfinite(res.params[n].stderr) and res.params[n].stderr > 0 for n in START)
    assert res.residuals.shape[0] == len(data)


def _three_subject_fit():
    """The three-subject fit of the look-ahead tests (compiled engine, rtol = atol = 1e-8)."""
    model, schedules, data = _three_subjects()
    return td.fit(model, data, free=["r", "K", "kill"], initial_free={"S": "shared", "R": "shared"},
                  schedules=schedules, initial={"S": START["init_S"], "R": START["init_R"]},
                  params={k: START[k] for k in ("r", "K", "kill")}, rtol=1e-8, atol=1e-8)


@needs_numba
def test_jacobian_solved_ahead_with_the_residual_is_the_one_computed_after_it():
    # contract: the look-ahead changes when copies are solved, never the numbers; a point whose Jacobian is not
    # taken (a rejected step) stops the look-ahead until the optimizer takes a Jacobian again
    res = _three_subject_fit()
    prob = res._problem
    assert prob.engine == "dopri5" and prob.n_ahead_used > 0
    names = list(prob._var_names)
    maxes = [BOUNDS[n][1] for n in names]
    v1 = prob._values(res.params)
    v2 = v1 * (1.0 + 1e-3)
    prob._memo = prob._jac_ahead = None
    r_plain = prob.residual_at(v1)
    J_plain = prob.jacobian_at(v1, names, maxes)
    prob._memo = None
    used = prob.n_ahead_used
    r_ahead = prob.residual_ahead(v1, names, maxes)
    np.testing.assert_array_equal(r_ahead, r_plain)
    np.testing.assert_array_equal(prob.jacobian_at(v1, names, maxes), J_plain)
    assert prob.n_ahead_used == used + 1
    prob.residual_ahead(v2, names, maxes)  # solved ahead, then "rejected": its Jacobian is never asked for
    assert prob._jac_ahead is not None
    prob.residual_ahead(v1 * (1.0 - 1e-3), names, maxes)  # not ahead: the last look-ahead was wasted
    assert prob._jac_ahead is None
    prob._memo = None
    np.testing.assert_array_equal(prob.jacobian_at(v1, names, maxes), J_plain)  # computed, not served
    assert prob.n_ahead_used == used + 1


@needs_numba
def test_start_solved_with_the_first_jacobians_copies_gives_the_same_numbers():
    # contract: td.fit solves the start values together with the first Jacobian's perturbed copies (one compiled
    # call for the optimizer's first residual and Jacobian); the optimizer's first residual then reuses it, and
    # the residual, the Jacobian and the start's predictions equal those computed one by one, bit for bit
    prob = _three_subject_fit()._problem
    names = list(prob._var_names)
    start, _, hi = prob.start_values()
    prob._memo = prob._jac_ahead = None
    pred_plain = prob.predictions_at(start)
    r_plain = prob.residual_at(start)
    J_plain = prob.jacobian_at(start, names, hi.tolist())
    prob._memo = prob._jac_ahead = None
    prob._ahead_paid = True
    used, solves = prob.n_ahead_used, prob.n_solves
    np.testing.assert_array_equal(prob.start_predictions(start, (tuple(names), hi.tolist())), pred_plain)
    assert prob.n_solves == solves + 1  # one call: the start and the copies
    np.testing.assert_array_equal(prob.residual_ahead(start, names, hi.tolist()), r_plain)
    np.testing.assert_array_equal(prob.jacobian_at(start, names, hi.tolist()), J_plain)
    assert prob.n_solves == solves + 1 and prob.n_ahead_used == used + 1
    # asked at other bounds, the Jacobian is computed, not served
    prob._memo = prob._jac_ahead = None
    prob._ahead_paid = True
    prob.start_predictions(start, (tuple(names), hi.tolist()))
    other = [m * 2.0 for m in hi.tolist()]
    prob.residual_ahead(start, names, other)
    assert prob._jac_ahead is None


@needs_numba
def test_per_subject_parameters_states_and_observables_read_as_in_single_simulations():
    # subjects with their own fitted rate (so each subject's solve has its own copy count in the Jacobian),
    # rows observing a state and rows observing an observable: the fit's prediction of every row equals
    # td.simulate of that subject alone (same engine and tolerances: the same numbers)
    model, schedules, data = _three_subjects()
    rows_s = data.iloc[::3].assign(observable="S", value=lambda d: d["value"] * 0.9)
    data = pd.concat([data, rows_s], ignore_index=True)
    res = td.fit(model, data, free={"r": "subject", "K": "shared"}, initial_free={"S": "subject"},
                 schedules=schedules, initial={"S": 90.0, "R": 1.5}, params={"r": 0.1, "K": 4000.0, "kill": 0.35},
                 rtol=1e-8, atol=1e-8, solver="dopri5")
    prob = res._problem
    pred = prob.predictions(res.params)
    for subject in SWITCHES:
        mask = (data["subject"] == subject).to_numpy()
        times = np.unique(data.loc[mask, "time"].to_numpy())
        t_end = float(times[-1])
        traj = td.simulate(model, schedules[subject].between(0.0, t_end), t_end=t_end, t_eval=times,
                           params=res.subject_parameters(subject), initial=res.subject_initial(subject),
                           method="dopri5", rtol=1e-8, atol=1e-8)
        for i in np.flatnonzero(mask):
            k = int(np.searchsorted(times, data["time"].iloc[i]))
            name = data["observable"].iloc[i]
            want = traj[name][k]
            assert pred[i] == pytest.approx(want, rel=1e-12), (subject, i)
    # the Jacobian solved ahead equals the one computed after the residual, with unequal copies per subject
    names, v = list(prob._var_names), prob._values(res.params)
    maxes = [np.inf] * len(names)
    prob._memo = prob._jac_ahead = None
    prob._ahead_paid = True
    r_ahead = prob.residual_ahead(v, names, maxes)
    J_ahead = prob.jacobian_at(v, names, maxes)
    prob._memo = prob._jac_ahead = None
    np.testing.assert_array_equal(prob.residual_at(v), r_ahead)
    np.testing.assert_array_equal(prob.jacobian_at(v, names, maxes), J_ahead)
