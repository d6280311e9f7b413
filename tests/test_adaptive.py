"""Adaptive on/off therapy: rules located by solver events, composition, Zhang et al. 2017."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

import tumordyn as td
from tumordyn import readouts as ro
from tumordyn.errors import SolverError, SpecificationError, UnknownNameError

R_GROW, K_KILL = 0.05, 0.15  # 1/day


def kill_model() -> td.Model:
    """dN/dt = r N - k u N with u the level of a direct-input drug (closed-form switch times)."""
    return td.Model(
        "kill",
        states=[td.State("N", 1e6, "cells", "tumor cells", atol=1e-6)],
        parameters=[td.Parameter("r", R_GROW, (0, 1), "1/day", "growth", "test"),
                    td.Parameter("k", K_KILL, (0, 1), "1/day", "kill", "test")],
        processes=[td.Process("growth", "r * N", produces="N"), td.Process("kill", "k * cure * N", consumes="N")],
        drugs=[td.Drug("cure", None, dose_unit="1")],
        observables=[td.Observable("tumor_burden", "N", "cells")],
    )


def bolus_model() -> td.Model:
    """The same tumor killed by a drug with a compartment (bolus doses)."""
    return td.Model(
        "bolus",
        states=[td.State("N", 1e6, "cells", "tumor cells", atol=1e-6),
                td.State("C", 0.0, "mg/L", "drug", atol=1e-9)],
        parameters=[td.Parameter("r", R_GROW, (0, 1), "1/day", "growth", "test"),
                    td.Parameter("k", 0.3, (0, 1), "L/(mg day)", "kill", "test"),
                    td.Parameter("ke", 1.0, (0, 10), "1/day", "elimination", "test")],
        processes=[td.Process("growth", "r * N", produces="N"), td.Process("kill", "k * C * N", consumes="N"),
                   td.Process("elim", "ke * C", consumes="C")],
        drugs=[td.Drug("pill", "C", volume=1.0)],
        observables=[td.Observable("tumor_burden", "N", "cells")],
    )


def test_rule_switches_at_the_closed_form_times():
    rule = td.AdaptiveRule("cure", on=1.0, pause_below=0.5, resume_at=1.0)
    tr = td.simulate(kill_model(), rule, t_end=100, rtol=1e-10, atol=1e-8)
    t_pause = math.log(2) / (K_KILL - R_GROW)  # decays at k - r to half
    t_resume = t_pause + math.log(2) / R_GROW  # regrows at r to baseline
    times = [e.time for e in tr.events]
    assert [e.action for e in tr.events][:3] == ["pause", "resume", "pause"]
    assert times[0] == pytest.approx(t_pause, rel=1e-7)
    assert times[1] == pytest.approx(t_resume, rel=1e-7)
    assert times[2] == pytest.approx(t_resume + t_pause, rel=1e-7)
    assert tr.events[0].value == pytest.approx(0.5e6, rel=1e-7) and tr.events[0].threshold == 0.5e6
    # the realised schedule is the on-periods, so the AUC is the time on drug
    inf = tr.schedule.infusions
    assert inf[0].start == 0 and inf[0].end == pytest.approx(t_pause, rel=1e-7)
    assert inf[1].start == pytest.approx(t_resume, rel=1e-7)
    on_time = sum(min(i.end, 100) - i.start for i in inf)
    assert ro.auc(tr, "cure") == pytest.approx(on_time)
    # the tumor stays between the thresholds
    n = tr["N"]
    assert n.min() >= 0.5e6 * (1 - 1e-6) and n.max() <= 1e6 * (1 + 1e-6)
    assert np.all(tr["cure"][(tr.t > times[0] + 1e-6) & (tr.t < times[1] - 1e-6)] == 0)


def test_gated_bolus_doses_are_given_only_while_on():
    daily = td.Schedule.every("pill", 1.0, 1.0, until=120)
    tr = td.simulate(bolus_model(), td.AdaptiveRule("pill", daily), t_end=120)
    assert len(tr.events) >= 2
    given = [d.time for d in tr.schedule.doses]
    assert set(given) < {d.time for d in daily.doses}
    pauses = [e.time for e in tr.events if e.action == "pause"]
    resumes = [e.time for e in tr.events if e.action == "resume"] + [math.inf]
    for a, b in zip(pauses, resumes):
        assert not any(a < t < b for t in given), (a, b)
    assert ro.dose_counts(tr)["pill"] == len(given) < daily.n_doses()
    # at each pause the burden is at half the baseline
    for e in tr.events:
        frac = 0.5 if e.action == "pause" else 1.0
        assert e.value == pytest.approx(frac * 1e6, rel=1e-6)


def test_rule_composes_with_a_fixed_schedule():
    m = td.models.tumor_immune_tme()
    fixed = td.regimens.monotherapy("anti_pd1", t_end=200)
    rule = td.AdaptiveRule("targeted", td.regimens.monotherapy("targeted", t_end=200))
    reg = fixed + rule
    assert isinstance(reg, td.Regimen) and reg.schedule == fixed and reg.rules == (rule,)
    assert (rule + fixed) == reg
    assert (reg + td.Schedule()) == reg
    tr = td.simulate(m, reg, t_end=200)
    assert tr.schedule.only("anti_pd1") == fixed  # fixed doses all given
    assert tr.schedule.n_doses("targeted") < rule.on.n_doses()
    assert tr.regimen == reg


def test_rule_validation():
    with pytest.raises(SpecificationError, match="pause_below < resume_at"):
        td.AdaptiveRule("x", on=1.0, pause_below=1.0, resume_at=1.0)
    with pytest.raises(SpecificationError, match="0 < pause_below"):
        td.AdaptiveRule("x", on=1.0, pause_below=-0.1)
    with pytest.raises(SpecificationError, match="baseline"):
        td.AdaptiveRule("x", on=1.0, baseline=0)
    with pytest.raises(SpecificationError, match="may only give 'x'"):
        td.AdaptiveRule("x", on=td.Schedule.at("y", 1, [0]))
    with pytest.raises(SpecificationError, match="rate"):
        td.AdaptiveRule("x", on=0.0)
    with pytest.raises(SpecificationError, match="two rules"):
        td.AdaptiveRule("x", on=1.0) + td.AdaptiveRule("x", on=2.0)
    with pytest.raises(UnknownNameError, match="did you mean 'cure'"):
        td.simulate(kill_model(), td.AdaptiveRule("cur", on=1.0), t_end=10)
    with pytest.raises(UnknownNameError, match="tumor_burden"):
        td.simulate(kill_model(), td.AdaptiveRule("cure", on=1.0, observable="tumor_burdn"), t_end=10)
    with pytest.raises(SpecificationError, match="direct-input"):
        td.simulate(kill_model(), td.AdaptiveRule("cure", on=td.Schedule.at("cure", 1, [0])), t_end=10)
    with pytest.raises(TypeError, match="AdaptiveRule"):
        td.simulate(kill_model(), "adaptive", t_end=10)


def test_explicit_baseline_and_start_state():
    # with a baseline below the starting burden the rule pauses at once (burden < 0.5 x 3e6)
    rule = td.AdaptiveRule("cure", on=1.0, baseline=3e6)
    tr = td.simulate(kill_model(), rule, t_end=20)
    assert tr.events[0].time == 0.0 and tr.events[0].action == "pause"
    assert tr.schedule.amount_total("cure") == 0.0


def test_zhang2017_adaptive_delays_progression():
    """Zhang et al. 2017: PSA-guided on/off abiraterone delays resistance against continuous dosing."""
    m = td.models.zhang2017()
    # continuous abiraterone drives TP (and with it T+'s carrying capacity mu * TP) towards 0; past ~1100 days
    # that underflows and the right-hand side of the published model divides by zero, so stop at 900 days
    t_end = 900.0
    cont = td.simulate(m, td.Schedule.infusion("abiraterone", 1.0, 0, t_end), t_end=t_end, method="RK45")
    adapt = td.simulate(m, td.AdaptiveRule("abiraterone", on=1.0, observable="PSA"), t_end=t_end, method="RK45")
    sens, res = ("Tplus", "TP"), "Tneg"
    takeover_cont = ro.resistant_takeover_time(cont, sens, res)
    takeover_adapt = ro.resistant_takeover_time(adapt, sens, res)
    assert takeover_cont < 200 and takeover_adapt > 3 * takeover_cont  # inf: not within the horizon
    # PSA progression: 20% above its nadir
    assert ro.time_to_progression(adapt, observable="PSA", min_increase=0) > ro.time_to_progression(
        cont, observable="PSA", min_increase=0)
    # less drug: adaptive is off drug much of the time
    assert adapt.schedule.amount_total("abiraterone") < 0.6 * t_end
    assert adapt.events[0].action == "pause" and adapt.events[0].time < 30  # PSA halves within weeks
    assert adapt.events[0].threshold == pytest.approx(0.5 * m.initial_state()["PSA"])


@given(pause=st.floats(0.2, 0.8), gap=st.floats(0.1, 0.6))
def test_switch_times_match_the_closed_form_for_any_thresholds(pause, gap):
    resume = min(pause + gap, 1.0)
    rule = td.AdaptiveRule("cure", on=1.0, pause_below=pause, resume_at=resume)
    tr = td.simulate(kill_model(), rule, t_end=150, rtol=1e-9, atol=1e-6)
    t_pause = math.log(1 / pause) / (K_KILL - R_GROW)
    t_resume = t_pause + math.log(resume / pause) / R_GROW
    assert tr.events[0].time == pytest.approx(t_pause, rel=1e-6)
    if t_resume < 150:
        assert tr.events[1].time == pytest.approx(t_resume, rel=1e-6)
        assert tr.events[1].action == "resume"


def test_rules_path_handles_a_dose_indistinguishable_from_t0_with_lsoda() -> None:
    """A segment shorter than any solver step (a dose at 5e-324 days) takes one Euler step, as in simulate()."""
    m = td.models.tumor_immune_tme()
    rule = td.AdaptiveRule("targeted", td.Schedule.every("targeted", 100.0, 7.0, until=200.0))
    tiny = td.simulate(m, td.Schedule([td.Dose(5e-324, "anti_pd1", 200.0)]) + rule, t_end=200.0, method="LSODA")
    at0 = td.simulate(m, td.Schedule([td.Dose(0.0, "anti_pd1", 200.0)]) + rule, t_end=200.0, method="LSODA")
    assert [e.action for e in tiny.events] == [e.action for e in at0.events]
    np.testing.assert_allclose(tiny.y[-1], at0.y[-1], rtol=1e-6, atol=1e-6)


def test_rules_path_reports_a_blow_up_with_lsoda() -> None:
    """LSODA on a solution that blows up in finite time raises SolverError with the time (no endless loop)."""
    x, C, k = sp.symbols("x C k")
    m = td.Model(
        "blow_up",
        states=[td.State("x", 1.0, "cells", atol=1e-6), td.State("C", 0.0, "mg/L", atol=1e-8)],
        parameters=[td.Parameter("k", 1.0, (0.0, 10.0), "1/day")],
        processes=[td.Process("growth", x**2, produces="x"), td.Process("elim", k * C, consumes="C")],
        drugs=[td.Drug("drug", "C")],
        check_units=False,  # x**2 carries an implicit rate constant of 1/(cell day)
    )
    rule = td.AdaptiveRule("drug", td.Schedule.every("drug", 1.0, 0.1, until=3.0), observable="x",
                           pause_below=0.5, resume_at=1.0)
    with pytest.raises(SolverError) as info:
        td.simulate(m, rule, t_end=3.0, method="LSODA")
    assert 0.9 < info.value.t <= 1.0 + 1e-6
