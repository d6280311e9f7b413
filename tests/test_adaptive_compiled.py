"""Adaptive rules on the compiled Dormand–Prince engine: same switches, doses and counters as the scipy path.

The compiled engine locates a switch by root finding on each accepted step's 4th-order dense output;
the scipy path by ``solve_ivp`` terminal events. At tight tolerances (rtol 1e-10) both follow the
exact trajectory to far better than 1e-6 relative, and a switch time moves by (error of the watched
value) / (its slope at the crossing), so the two agree to ``SWITCH_DAYS`` = 1e-6 days whenever the
watched quantity crosses its threshold with a slope of at least ~1e-3 of itself a day (true of every
crossing here: the observed differences are ~1e-7 days).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

import tumordyn as td
from tumordyn.numerics import compile_model
from tumordyn import readouts as ro
from tumordyn.dosing._plan import RulePlan
from tumordyn.solve._compiled import CompiledEngine, numba_available
from tumordyn.solve._problem import Problem, Solver
from tumordyn.errors import SolverError, SolverStatus, SpecificationError

pytestmark = pytest.mark.skipif(not numba_available(), reason="needs numba")

SWITCH_DAYS = 1e-6  # switch times: compiled vs scipy (days)
TIGHT = {"rtol": 1e-10, "atol": 1e-8}
R_GROW, K_KILL = 0.05, 0.15  # 1/day


def kill_model() -> td.Model:
    """dN/dt = r N - k u N with u the level of a direct-input drug."""
    return td.Model(
        "kill",
        states=[td.State("N", 1e6, "cells", "tumor cells", atol=1e-6)],
        parameters=[td.Parameter("r", R_GROW, (0, 1), "1/day", "growth", "test"),
                    td.Parameter("k", K_KILL, (0, 1), "1/day", "kill", "test")],
        processes=[td.Process("growth", "r * N", produces="N"), td.Process("kill", "k * cure * N", consumes="N")],
        drugs=[td.Drug("cure", None, dose_unit="1")],
        observables=[td.Observable("tumor_burden", "N", "cells")],
    )


def tme_regimen(t_end: float = 365.0) -> td.Regimen:
    """Anti-PD-1 every 21 days (fixed) + weekly targeted doses gated on tumor_burden (an observable)."""
    fixed = td.Schedule.every("anti_pd1", 200.0, 21.0, until=t_end - 5)
    rule = td.AdaptiveRule("targeted", td.Schedule.every("targeted", 100.0, 7.0, until=t_end - 5),
                           observable="tumor_burden", pause_below=0.5, resume_at=0.8)
    return fixed + rule


def zhang_rule() -> td.AdaptiveRule:
    """Zhang et al. 2017 abiraterone on/off on PSA (resume at 80% so that it switches 3 times in 900 days)."""
    return td.AdaptiveRule("abiraterone", on=1.0, observable="PSA", pause_below=0.5, resume_at=0.8)


def assert_same_switches(a: td.Trajectory, b: td.Trajectory) -> None:
    assert len(a.events) == len(b.events) > 0
    for x, y in zip(a.events, b.events):
        assert (x.drug, x.action, x.observable) == (y.drug, y.action, y.observable)
        assert x.time == pytest.approx(y.time, abs=SWITCH_DAYS)
        assert x.threshold == pytest.approx(y.threshold, rel=1e-12)
        assert x.value == pytest.approx(y.value, rel=1e-6)


# ----------------------------------------------------------------------------- compiled == scipy


@pytest.mark.parametrize("scipy_method", ["LSODA", "RK45"])
def test_zhang2017_psa_rule_switches_as_on_the_scipy_path(scipy_method):
    m = td.models.zhang2017()
    rule = zhang_rule()
    comp = td.simulate(m, rule, t_end=900.0, method="dopri5", **TIGHT)
    ref = td.simulate(m, rule, t_end=900.0, method=scipy_method, **TIGHT)
    assert comp.stats.method == "dopri5" and ref.stats.method == scipy_method
    assert [e.action for e in comp.events] == ["pause", "resume", "pause"]
    assert_same_switches(comp, ref)
    # the realised infusion is the on-periods: same pieces, ends equal to the switch tolerance
    ci, ri = comp.schedule.infusions, ref.schedule.infusions
    assert len(ci) == len(ri) == 2
    for x, y in zip(ci, ri):
        assert (x.drug, x.rate) == (y.drug, y.rate)
        assert x.start == pytest.approx(y.start, abs=SWITCH_DAYS) and x.end == pytest.approx(y.end, abs=SWITCH_DAYS)
    assert comp.stats.n_segments == ref.stats.n_segments
    np.testing.assert_allclose(comp.y, ref.y, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("scipy_method", ["LSODA", "RK45"])
def test_tme_tumor_burden_rule_gates_weekly_doses_as_on_the_scipy_path(scipy_method):
    m = td.models.tumor_immune_tme()
    reg = tme_regimen()
    comp = td.simulate(m, reg, t_end=365.0, method="dopri5", rtol=1e-10, atol=1e-9)
    ref = td.simulate(m, reg, t_end=365.0, method=scipy_method, rtol=1e-10, atol=1e-9)
    assert {e.action for e in comp.events} == {"pause", "resume"}
    assert_same_switches(comp, ref)
    # the doses actually given: the same list (fixed anti-PD-1 all given, targeted only while on)
    assert comp.schedule == ref.schedule
    assert comp.schedule.only("anti_pd1") == reg.schedule
    n_given = comp.schedule.n_doses("targeted")
    assert 0 < n_given < reg.rules[0].on.n_doses()
    assert ro.dose_counts(comp) == ro.dose_counts(ref)
    assert comp.stats.n_doses_applied == ref.stats.n_doses_applied == comp.schedule.n_doses()
    assert comp.stats.n_segments == ref.stats.n_segments
    # no gated dose inside an off-period
    pauses = [e.time for e in comp.events if e.action == "pause"]
    resumes = [e.time for e in comp.events if e.action == "resume"] + [math.inf]
    for a, b in zip(pauses, resumes):
        assert not any(a < d.time < b for d in comp.schedule.only("targeted").doses)
    np.testing.assert_allclose(comp["tumor_burden"], ref["tumor_burden"], rtol=1e-6)


def test_infusion_rates_follow_the_switches():
    """Trajectory.u is the rate in force: on before the first pause, 0 while paused (both engines)."""
    rule = td.AdaptiveRule("cure", on=1.0, pause_below=0.5, resume_at=1.0)
    t = np.linspace(0, 100, 401)
    comp = td.simulate(kill_model(), rule, t_end=100, t_eval=t, method="dopri5", **TIGHT)
    ref = td.simulate(kill_model(), rule, t_end=100, t_eval=t, method="LSODA", **TIGHT)
    near = np.zeros(t.size, dtype=bool)
    for e in comp.events:
        near |= np.abs(t - e.time) < 1e-5
    np.testing.assert_array_equal(comp.u[~near], ref.u[~near])
    t_pause = math.log(2) / (K_KILL - R_GROW)
    assert comp.events[0].time == pytest.approx(t_pause, rel=1e-8)
    t_resume = t_pause + math.log(2) / R_GROW
    assert np.all(comp["cure"][t < t_pause - 1e-6] == 1.0)
    assert np.all(comp["cure"][(t > t_pause) & (t < t_resume - 1e-6)] == 0.0)
    assert comp.events[1].time == pytest.approx(t_resume, rel=1e-8)


def test_explicit_baseline_pauses_at_t0_on_the_compiled_engine():
    rule = td.AdaptiveRule("cure", on=1.0, baseline=3e6)
    tr = td.simulate(kill_model(), rule, t_end=20, method="dopri5")
    assert tr.events[0].time == 0.0 and tr.events[0].action == "pause"
    assert tr.schedule.amount_total("cure") == 0.0


def test_start_off_resumes_only_when_the_threshold_is_reached():
    # starts off at the baseline: resume_at=1.0 is met at t0 (value >= threshold), so it resumes at once
    rule = td.AdaptiveRule("cure", on=1.0, start_on=False)
    comp = td.simulate(kill_model(), rule, t_end=60, method="dopri5", **TIGHT)
    ref = td.simulate(kill_model(), rule, t_end=60, method="LSODA", **TIGHT)
    assert comp.events[0].time == 0.0 and comp.events[0].action == "resume"
    assert_same_switches(comp, ref)


# ----------------------------------------------------------------------------- batched / parallel


def _problem(n: int) -> tuple[Problem, td.Model]:
    m = td.models.tumor_immune_tme()
    reg = tme_regimen(200.0)
    rules = RulePlan.build(compile_model(m), reg, 0.0, 200.0)
    rng = np.random.default_rng(7)
    p0 = compile_model(m).param_vector()
    P = np.tile(p0, (n, 1))
    names = compile_model(m).param_names
    for name in ("r_S", "k_T", "k_E"):
        i = names.index(name)
        P[:, i] *= rng.lognormal(0.0, 0.25, n)
    Y0 = np.tile(compile_model(m).initial_vector(), (n, 1))
    return Problem(compile_model(m), rules.dosing, P, Y0, np.linspace(0, 200, 201), rules), m


def test_batched_equals_single_and_parallel_equals_serial():
    problem, m = _problem(12)
    opts = Solver(method="dopri5", rtol=1e-8).options(compile_model(m))
    serial = CompiledEngine(False).solve(problem, opts)
    par = CompiledEngine(True).solve(problem, opts)
    assert np.all(serial.ok)
    log = serial.rules
    assert log is not None and np.all(log.n_events > 0)
    assert len({float(log.event_t[j, 0]) for j in range(12)}) > 1  # the patients switch at their own times
    for name in ("u", "n_events", "event_t", "event_code", "event_value", "event_threshold", "given", "n_segments",
                 "n_doses"):
        np.testing.assert_array_equal(getattr(par.rules, name), getattr(log, name), err_msg=name)
    np.testing.assert_array_equal(par.y, serial.y)
    for j in range(12):
        one = CompiledEngine(False).solve(problem.subset(np.array([j])), opts)
        np.testing.assert_array_equal(one.y[0], serial.y[j])
        m_ev = int(log.n_events[j])
        assert int(one.rules.n_events[0]) == m_ev
        np.testing.assert_array_equal(one.rules.event_t[0, :m_ev], log.event_t[j, :m_ev])
        np.testing.assert_array_equal(one.rules.given[0], log.given[j])


def test_batch_with_more_switches_than_the_kept_room_records_all(monkeypatch):
    """A large batch keeps a few switch records per patient; a patient with more is solved again."""
    from tumordyn.solve import _compiled as _fast

    problem, m = _problem(10)
    opts = Solver(method="dopri5", rtol=1e-8).options(compile_model(m))
    full = CompiledEngine(False).solve(problem, opts)  # B <= 8 keeps room for every switch; 10 does not
    monkeypatch.setattr(_fast, "_EVENT_ROOM", 1)
    small = CompiledEngine(False).solve(problem, opts)
    assert int(full.rules.n_events.max()) > 1
    np.testing.assert_array_equal(small.rules.n_events, full.rules.n_events)
    for j in range(10):
        k = int(full.rules.n_events[j])
        np.testing.assert_array_equal(small.rules.event_t[j, :k], full.rules.event_t[j, :k])
    np.testing.assert_array_equal(small.y, full.y)


# ----------------------------------------------------------------------------- chattering, fallbacks, refusals


def test_chattering_rule_hits_the_switch_bound_with_a_named_status():
    """Thresholds 1e-7 apart switch every ~1e-5 days: more than Solver.max_switches switches in 10 days."""
    rule = td.AdaptiveRule("cure", on=1.0, pause_below=0.5, resume_at=0.5 * (1 + 1e-7))
    with pytest.raises(SolverError, match="chattering") as info:
        td.simulate(kill_model(), rule, t_end=10.0, method="dopri5")
    assert info.value.status == SolverStatus.TOO_MANY_SWITCHES
    assert 0 < info.value.t < 10.0
    with pytest.raises(SolverError, match="chattering") as auto:
        td.simulate(kill_model(), rule, t_end=10.0)  # auto does not hand chattering to LSODA
    assert auto.value.status == SolverStatus.TOO_MANY_SWITCHES
    # the scipy path is slow per switch: a smaller bound, the same on both engines
    with pytest.raises(SolverError, match="chattering") as sci:
        td.simulate(kill_model(), rule, t_end=10.0, solver=td.Solver(method="LSODA", max_switches=40))
    assert sci.value.status == SolverStatus.TOO_MANY_SWITCHES
    with pytest.raises(SolverError, match="more than 40 times") as comp:
        td.simulate(kill_model(), rule, t_end=10.0, solver=td.Solver(method="dopri5", max_switches=40))
    assert comp.value.t == pytest.approx(sci.value.t, rel=1e-3)


def stiff_kill_model() -> td.Model:
    """kill_model plus a fast-relaxing state (rate 1e5/day): stiff for an explicit method."""
    N, Z, r, k, kz = sp.symbols("N Z r k kz")
    return td.Model(
        "stiff_kill",
        states=[td.State("N", 1e6, "cells", atol=1e-6), td.State("Z", 0.0, "1", atol=1e-9)],
        parameters=[td.Parameter("r", R_GROW, (0, 1), "1/day"), td.Parameter("k", K_KILL, (0, 1), "1/day"),
                    td.Parameter("kz", 1e5, (0, 1e7), "1/day")],
        processes=[td.Process("growth", r * N, produces="N"),
                   td.Process("kill", k * sp.Symbol("cure") * N, consumes="N"),
                   td.Process("relax", kz * (1 - Z), produces="Z")],
        drugs=[td.Drug("cure", None, dose_unit="1")],
        observables=[td.Observable("tumor_burden", "N", "cells")],
    )


def test_auto_falls_back_to_lsoda_with_rules_on_a_stiff_problem():
    m = stiff_kill_model()
    rule = td.AdaptiveRule("cure", on=1.0, observable="N")
    auto = td.simulate(m, rule, t_end=40.0, rtol=1e-8)
    lsoda = td.simulate(m, rule, t_end=40.0, rtol=1e-8, method="LSODA")
    assert auto.stats.method == "LSODA"
    assert [e.time for e in auto.events] == [e.time for e in lsoda.events]
    assert auto.schedule == lsoda.schedule
    t_pause = math.log(2) / (K_KILL - R_GROW)
    assert auto.events[0].time == pytest.approx(t_pause, rel=1e-6)


def test_auto_uses_the_compiled_engine_with_rules():
    tr = td.simulate(kill_model(), td.AdaptiveRule("cure", on=1.0), t_end=50.0)
    assert tr.stats.method == "dopri5"


def test_numpy_batch_engine_refuses_rules_with_a_named_error():
    with pytest.raises(SpecificationError, match="adaptive rules"):
        td.simulate(kill_model(), td.AdaptiveRule("cure", on=1.0), t_end=10.0, method="batch")


def test_rule_plan_is_built_once_immutable_and_leaves_the_regimen_alone():
    m = td.models.tumor_immune_tme()
    reg = tme_regimen()
    before = (reg.schedule, reg.rules)
    a = RulePlan.build(compile_model(m), reg, 0.0, 365.0)
    b = RulePlan.build(compile_model(m), tme_regimen(), 0.0, 365.0)
    assert a is b  # memoised on the (hashable, equal) regimen and window
    for arr in (a.drug, a.state, a.obs, a.pause, a.resume, a.baseline, a.start_on, a.bolus, a.n_bolus, a.rates,
                a.dosing.breaks, a.dosing.bolus):
        assert not arr.flags.writeable
    assert a.state[0] == -1 and compile_model(m).observable_names[a.obs[0]] == "tumor_burden"
    assert int(a.n_bolus.sum()) == reg.rules[0].on.n_doses()
    assert np.isnan(a.baseline[0])  # value at t0
    td.simulate(m, reg, t_end=365.0)
    assert (reg.schedule, reg.rules) == before


def test_non_positive_baseline_is_a_specification_error_on_both_engines():
    rule = td.AdaptiveRule("cure", on=1.0)
    for method in ("dopri5", "LSODA"):
        with pytest.raises(SpecificationError, match="baseline"):
            td.simulate(kill_model(), rule, t_end=10.0, initial={"N": 0.0}, method=method)


# ----------------------------------------------------------------------------- cohort


def test_adaptive_cohort_equals_patient_by_patient_simulate():
    m = td.models.tumor_immune_tme()
    reg = tme_regimen()
    d = m.defaults()
    cohort = td.Cohort(m, {p: td.cohorts.LogNormal(median=d[p], cv=0.3) for p in ("r_S", "k_T", "k_E")}, n=16, seed=3)
    plan = td.readouts.ScanPlan()
    res = cohort.simulate({"adaptive": reg}, t_end=365.0, rtol=1e-8, scans=plan, keep_trajectories=True,
                          progress=False)
    assert res.stats.method == "dopri5" and res.stats.n_failed == 0
    r = res.readouts("adaptive")
    for j in range(cohort.n):
        tr = td.simulate(m, reg, t_end=365.0, t_eval=res.t, params=cohort.patient_params(j),
                         initial=cohort.patient_initial(j), method="dopri5", rtol=1e-8)
        kept = res.trajectory(j, "adaptive")  # re-simulated from the kept start: switches, doses given, rates
        np.testing.assert_allclose(kept.y, tr.y, rtol=1e-12, atol=0)
        np.testing.assert_allclose(kept.u, tr.u, rtol=0, atol=0)
        assert [(e.time, e.action) for e in kept.events] == [(e.time, e.action) for e in tr.events]
        assert kept.schedule == tr.schedule
        rec = ro.recist(tr, plan, "lesion_diameter")
        assert r["best_overall_response"][j] == rec.best_overall_response
        assert r["best_percent_change"][j] == pytest.approx(
            ro.best_percent_change(tr, "lesion_diameter", scans=plan), rel=1e-9)
        assert r["final_tumor_burden"][j] == pytest.approx(tr["tumor_burden"][-1], rel=1e-12)
        ttp = ro.time_to_progression(tr, None, "lesion_diameter")
        assert (math.isinf(ttp) and math.isinf(r["time_to_progression"][j])) or \
            r["time_to_progression"][j] == pytest.approx(ttp, rel=1e-9)


def test_gated_template_infusions_are_clipped_to_the_on_periods_as_on_the_scipy_path():
    """A template of two infusions at different rates: the realised pieces agree between the engines."""
    tmpl = td.Schedule.infusion("cure", 1.0, 0.0, 50.0) + td.Schedule.infusion("cure", 2.0, 60.0, 120.0)
    rule = td.AdaptiveRule("cure", tmpl, pause_below=0.6, resume_at=0.9)
    comp = td.simulate(kill_model(), rule, t_end=120.0, method="dopri5", **TIGHT)
    ref = td.simulate(kill_model(), rule, t_end=120.0, method="LSODA", **TIGHT)
    assert_same_switches(comp, ref)
    ci, ri = comp.schedule.infusions, ref.schedule.infusions
    assert len(ci) == len(ri) >= 3
    for x, y in zip(ci, ri):
        assert (x.drug, x.rate) == (y.drug, y.rate)
        assert x.start == pytest.approx(y.start, abs=SWITCH_DAYS) and x.end == pytest.approx(y.end, abs=SWITCH_DAYS)
    # every realised piece lies inside the template and outside the off-periods
    for inf in ci:
        assert any(t.start <= inf.start and inf.end <= t.end and t.rate == inf.rate for t in tmpl.infusions)
    assert comp.stats.n_segments == ref.stats.n_segments


def test_an_observable_the_engine_cannot_compile_goes_to_lsoda_by_capability():
    """The capability check (not an error message) sends auto to LSODA; dopri5 refuses with a named error."""
    m = kill_model()
    compile_model(m).__dict__["_fast_observe"] = None  # as if numba could not compile the observables
    rule = td.AdaptiveRule("cure", on=1.0, observable="tumor_burden")
    tr = td.simulate(m, rule, t_end=30.0)
    assert tr.stats.method == "LSODA" and tr.events[0].action == "pause"
    with pytest.raises(SpecificationError, match="cannot compile"):
        td.simulate(m, rule, t_end=30.0, method="dopri5")
    on_state = td.simulate(m, td.AdaptiveRule("cure", on=1.0, observable="N"), t_end=30.0)
    assert on_state.stats.method == "dopri5"  # a rule on a state needs no compiled observable


def test_two_rules_on_two_drugs_switch_as_on_the_scipy_path():
    m = td.models.tumor_immune_tme()
    r1 = td.AdaptiveRule("targeted", td.Schedule.every("targeted", 100.0, 7.0, until=300.0),
                         pause_below=0.5, resume_at=0.8)
    r2 = td.AdaptiveRule("anti_pd1", td.Schedule.every("anti_pd1", 200.0, 21.0, until=300.0),
                         pause_below=0.3, resume_at=0.6)
    reg = r1 + r2
    # the anti-PD-1 pause (day ~237) is a shallow crossing after months of dynamics: the state's atol must be
    # tight too (the model's default is one cell), and RK45 is the scipy reference (LSODA's global error
    # there is ~1e-6 days at these tolerances)
    comp = td.simulate(m, reg, t_end=300.0, method="dopri5", rtol=1e-10, atol=1e-9)
    ref = td.simulate(m, reg, t_end=300.0, method="RK45", rtol=1e-10, atol=1e-9)
    assert {e.drug for e in comp.events} == {"targeted", "anti_pd1"}
    assert_same_switches(comp, ref)
    assert comp.schedule == ref.schedule
    assert comp.stats.n_doses_applied == ref.stats.n_doses_applied


def test_simulate_batch_with_a_regimen_equals_simulate_per_patient():
    """Each row of simulate_batch switches its rules on its own trajectory, as simulate does for it."""
    m = td.models.tumor_immune_tme()
    c = compile_model(m)
    P = np.tile(c.param_vector(), (3, 1))
    P[:, c.param_names.index("r_S")] *= [0.8, 1.0, 1.2]
    te = np.linspace(0.0, 200.0, 51)
    reg = tme_regimen(200.0)
    switches = set()
    for method in ("dopri5", "LSODA"):
        ys = td.simulate_batch(m, P, reg, t_end=200.0, t_eval=te, method=method, rtol=1e-8)
        for j in range(3):
            one = td.simulate(m, reg, t_end=200.0, t_eval=te, params=dict(zip(c.param_names, P[j])),
                              method=method, rtol=1e-8)
            np.testing.assert_allclose(ys[j], one.y, rtol=1e-9, atol=1e-9)
            switches.add(tuple(round(e.time, 3) for e in one.events))
    assert len(switches) > 1 and all(switches), "patients switch, and at different times"
    with pytest.raises(SpecificationError, match="rules"):
        td.simulate_batch(m, P, reg, t_end=200.0, method="batch")
