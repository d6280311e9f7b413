"""The six behaviours the default model must reproduce (DESIGN.md §2), one test each.

Every behaviour is checked at two relative tolerances (1e-6 and 1e-8): the
qualitative outcome must not depend on the solver. Horizon: 365 days unless a
test says otherwise. Doses are the model's standard doses
(:data:`tumordyn.models.STANDARD_DOSES`). Thresholds in the assertions are
deliberately well inside the margins of the default parameterisation (see
docs/models/tumor_immune_tme.md), so they test the behaviour, not the digits.

Progression (for time-to-progression comparisons in this file): the tumor
burden S + R first exceeds 1.2 x its baseline value, in continuous time
(located on a 0.05-day output grid, or by solver events in the adaptive test).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp, trapezoid

import tumordyn as td
from tumordyn.models import STANDARD_DOSES
from tumordyn.numerics import compile_model

HORIZON = 365.0
RTOLS = (1e-6, 1e-8)
PRIMING_DAYS = 14
GRID = np.linspace(0.0, HORIZON, int(HORIZON / 0.05) + 1)

#: Pseudoprogression parameter set (all within bounds): a lesion of 1e10 cells
#: (about 27 mm) near its carrying capacity, a strongly immunogenic tumor with fast
#: effector expansion (p_E, K_E) and fast reinvigoration (rho_max), and an inflamed
#: lesion: each tumor-specific T cell brings 100 times its own volume (v_inf = 2e-5
#: mm3 instead of the 2e-7 mm3 of a lymphocyte: bystander immune cells and edema).
#: With the default v_inf a lesion is never mostly T cells, so no pseudoprogression.
PSEUDO_PARAMS = dict(K=1.2e10, g_E=1e9, h_E=1e9, g_X=3e8, g_P=3e9, p_E=2.0, K_E=3e8, rho_max=1.0, s_E=1e5,
                     v_inf=2e-5)
PSEUDO_INITIAL = dict(S=1e10, R=0.0, E=8e5, X=1.4e7)


def every(drug: str, start: float = 0.0, *, count: int | None = None) -> td.Schedule:
    amount, interval = STANDARD_DOSES[drug]
    if count is not None:
        return td.Schedule.every(drug, amount, interval, start=start, count=count)
    return td.Schedule.every(drug, amount, interval, start=start, until=HORIZON)


REGIMENS = {
    "untreated": None,
    "targeted": every("targeted"),
    "anti_pd1": every("anti_pd1"),
    "combination": every("targeted") + every("anti_pd1"),
    "priming>anti_pd1": every("priming", count=PRIMING_DAYS) + every("anti_pd1", start=float(PRIMING_DAYS)),
    "priming": every("priming"),
}


@pytest.fixture(scope="module")
def model() -> td.Model:
    return td.models.tumor_immune_tme()


@pytest.fixture(scope="module", params=RTOLS, ids=lambda r: f"rtol={r:g}")
def runs(request, model):
    """All regimens simulated at one tolerance: name -> Trajectory."""
    return {
        name: td.simulate(model, schedule, t_end=HORIZON, t_eval=GRID, rtol=request.param)
        for name, schedule in REGIMENS.items()
    }


def burden(traj: td.Trajectory) -> np.ndarray:
    return np.asarray(traj["tumor_burden"])


def time_to_progression(traj: td.Trajectory, factor: float = 1.2) -> float:
    """First time the burden exceeds ``factor`` x baseline (days), ``inf`` if never."""
    b = burden(traj)
    above = np.nonzero(b > factor * b[0])[0]
    return float(traj.t[above[0]]) if above.size else math.inf


# --------------------------------------------------------------------------- 1. untreated


def test_untreated_grows_to_carrying_capacity_and_is_not_cleared(model, runs):
    tr = runs["untreated"]
    b = burden(tr)
    K = model.defaults()["K"]
    assert b[-1] > 0.9 * K, "the untreated tumor approaches its carrying capacity within a year"
    assert b[-1] <= K * (1 + 1e-6)
    assert np.all(np.diff(b) > -1e-6 * b[:-1]), "the immune response alone never makes the tumor shrink"
    assert b.min() >= b[0] * (1 - 1e-9)
    # the effector response stays exhausted: more exhausted than functional cells
    assert tr["X"][-1] > 5 * tr["E"][-1]


# --------------------------------------------------------------------------- 2. targeted


def test_targeted_deep_response_then_resistant_relapse(runs):
    tr, untreated = runs["targeted"], runs["untreated"]
    b = burden(tr)
    i_nadir = int(b.argmin())
    # deep response: a RECIST partial response of the tumor diameter (>= 30 % shrinkage)
    d = np.asarray(tr["tumor_diameter"])
    assert d[i_nadir] < 0.7 * d[0]
    assert b[i_nadir] < 0.3 * b[0]
    assert 30 < tr.t[i_nadir] < 200, "the nadir comes after months, not at the start or the horizon"
    # relapse: regrowth after the nadir, driven by the resistant clone
    assert b[-1] > 5 * b[i_nadir]
    relapse = np.nonzero((tr.t > tr.t[i_nadir]) & (b > 2 * b[i_nadir]))[0][0]
    assert tr["resistant_fraction"][relapse] > 0.9
    assert tr["resistant_fraction"][-1] > 0.9
    assert tr["S"][-1] < 0.01 * tr["S"][0]
    # competitive release: R grows more under the drug than without it (S no longer competes)
    assert tr["R"][-1] > 10 * untreated["R"][-1]
    # and the relapse progresses within the year
    assert time_to_progression(tr) < HORIZON


# --------------------------------------------------------------------------- 3. anti-PD-1


def test_anti_pd1_monotherapy_modest_benefit(runs):
    tr, untreated = runs["anti_pd1"], runs["untreated"]
    b, bu = burden(tr), burden(untreated)
    assert b[-1] < 0.9 * bu[-1], "some benefit: less tumor than untreated at the horizon"
    assert b.min() > 0.5 * b[0], "no deep response"
    assert b[-1] > b[0], "no cure: the tumor still grows past its baseline"
    # the benefit comes from T cells: more functional effectors than untreated
    assert tr["E"][-1] > 10 * untreated["E"][-1]
    # the suppressive TME stays suppressive (P within 10 % of untreated)
    assert tr["P"][-1] > 0.9 * untreated["P"][-1]


# --------------------------------------------------------------------------- 4. combination and priming


def test_combination_beats_both_monotherapies(runs):
    combo, tgt, pd1 = runs["combination"], runs["targeted"], runs["anti_pd1"]
    final = {name: burden(runs[name])[-1] for name in ("combination", "targeted", "anti_pd1")}
    assert final["combination"] < 0.2 * min(final["targeted"], final["anti_pd1"])
    ttp_combo = time_to_progression(combo)
    assert ttp_combo > time_to_progression(tgt)
    assert ttp_combo > time_to_progression(pd1)
    # area under the burden curve (cell-days) too
    auc = {name: trapezoid(burden(runs[name]), runs[name].t) for name in final}  # np.trapezoid needs numpy 2
    assert auc["combination"] < min(auc["targeted"], auc["anti_pd1"])


def test_tme_priming_before_anti_pd1_beats_anti_pd1_alone(runs):
    primed, pd1 = runs["priming>anti_pd1"], runs["anti_pd1"]
    assert burden(primed)[-1] < 0.1 * burden(pd1)[-1]
    # priming lowers suppression while it is given
    assert primed.value_at("P", float(PRIMING_DAYS)) < 0.3 * pd1.value_at("P", float(PRIMING_DAYS))
    # and the benefit outlasts the priming: the tumor is controlled over the second half-year
    late = primed.t >= HORIZON / 2
    assert np.all(burden(primed)[late] < 0.5 * burden(pd1)[late])


# --------------------------------------------------------------------------- 5. adaptive therapy


def on_off_targeted(model: td.Model, *, adaptive: bool, t_end: float, rtol: float,
                     off_below: float = 0.5, on_above: float = 1.0, progression: float = 1.2):
    """Targeted drug at its standard dose, continuously or under Zhang et al.'s on/off rule.

    Doses every standard interval while "on". Adaptive: when the burden falls
    below ``off_below`` x baseline the drug is paused (doses skipped; drug already
    given keeps acting); when it climbs back to ``on_above`` x baseline the drug
    is resumed with a dose at once, then at the standard interval. Threshold
    crossings and progression (burden > ``progression`` x baseline) are located
    by ``solve_ivp`` events on the compiled right-hand side.

    Returns
    -------
    (time to progression or inf, fraction of time off drug, number of doses)
    """
    c = compile_model(model)
    p, y = c.param_vector(), c.initial_vector()
    u = np.zeros(c.n_drugs)
    iS, iR = c.state_names.index("S"), c.state_names.index("R")
    drug = c.drug_names.index("targeted")
    amount, interval = STANDARD_DOSES["targeted"]
    T0 = y[iS] + y[iR]

    def crossing(level: float, direction: int):
        def event(t, yy, *args):
            return yy[iS] + yy[iR] - level * T0

        event.terminal, event.direction = True, direction
        return event

    progressed, pause, resume = crossing(progression, 1), crossing(off_below, -1), crossing(on_above, 1)
    t, on, next_dose, t_off, n_doses = 0.0, True, 0.0, 0.0, 0
    while t < t_end:
        if on and next_dose <= t:
            comp, inc = c.dose_jump(drug, amount, p)
            y[comp] += inc
            n_doses += 1
            next_dose = t + interval
        t_stop = min(next_dose, t_end) if on else t_end
        events = [progressed] + ([(pause if on else resume)] if adaptive else [])
        sol = solve_ivp(c.rhs, (t, t_stop), y, method="LSODA", rtol=rtol, atol=c.atol, args=(p, u), events=events)
        assert sol.success, sol.message
        if not on:
            t_off += sol.t[-1] - t
        t, y = float(sol.t[-1]), sol.y[:, -1].copy()
        if sol.status == 1:  # an event ended the segment
            if sol.t_events[0].size:
                return t, t_off / t, n_doses
            on = not on
            if on:
                next_dose = t
    return math.inf, t_off / t_end, n_doses


@pytest.mark.parametrize("rtol", RTOLS)
def test_adaptive_on_off_delays_progression(model, rtol):
    """Zhang et al. 2017 logic: pause below 50 % of baseline, resume at baseline.

    Progression here: burden > 1.2 x baseline (continuous time). Horizon 1500 days.
    """
    ttp_cont, off_cont, _ = on_off_targeted(model, adaptive=False, t_end=1500.0, rtol=rtol)
    ttp_adapt, off_adapt, n_adapt = on_off_targeted(model, adaptive=True, t_end=1500.0, rtol=rtol)
    assert off_cont == 0.0
    assert math.isfinite(ttp_cont) and math.isfinite(ttp_adapt)
    assert ttp_adapt > 1.15 * ttp_cont, (ttp_adapt, ttp_cont)
    assert 0.2 < off_adapt < 0.9, "adaptive therapy spends a real fraction of the time off drug"
    assert n_adapt < ttp_adapt / STANDARD_DOSES["targeted"][1], "and gives fewer doses"


def test_adaptive_helper_continuous_arm_matches_simulate(model):
    """The event-driven helper's continuous arm agrees with td.simulate on a fine grid."""
    ttp, _, _ = on_off_targeted(model, adaptive=False, t_end=HORIZON, rtol=1e-8)
    tr = td.simulate(model, REGIMENS["targeted"], t_end=HORIZON, t_eval=GRID, rtol=1e-8)
    assert abs(time_to_progression(tr) - ttp) <= 0.05 + 1e-9


# --------------------------------------------------------------------------- 6. pseudoprogression


@pytest.mark.parametrize("rtol", RTOLS)
def test_pseudoprogression_in_lesion_diameter_for_an_immunogenic_tumor(model, rtol):
    tr = td.simulate(model, REGIMENS["anti_pd1"], t_end=HORIZON, t_eval=GRID, rtol=rtol,
                     params=PSEUDO_PARAMS, initial=PSEUDO_INITIAL)
    lesion, b = np.asarray(tr["lesion_diameter"]), burden(tr)
    i_max = int(lesion.argmax())
    # apparent progression on the scan: >= 20 % and >= 5 mm over baseline ...
    assert lesion[i_max] >= 1.2 * lesion[0] and lesion[i_max] - lesion[0] >= 5.0
    # ... while the true tumor burden does not grow by anything like that
    assert b[: i_max + 1].max() < 1.1 * b[0]
    assert tr["tumor_diameter"][: i_max + 1].max() < 1.05 * tr["tumor_diameter"][0]
    # ... and later the lesion shrinks below its baseline (a response)
    assert np.any(lesion[i_max:] < lesion[0])
    assert lesion[-1] < 0.7 * lesion[0]


def test_lesion_size_counts_a_realistic_infiltrate_with_defaults(model, runs):
    tr = runs["anti_pd1"]
    p = tr.params
    # the measured lesion is the tumor plus v_inf per infiltrating T cell (an identity)
    np.testing.assert_allclose(
        tr["lesion_volume"], tr["tumor_volume"] + p["v_inf"] * (tr["E"] + tr["X"]), rtol=1e-12
    )
    # a T cell is a lymphocyte (~7 um across, 2e-7 mm3), a fifth of a tumor cell
    assert p["v_inf"] == td.models.T_CELL_VOLUME == pytest.approx(math.pi / 6 * 7e-3 ** 3, rel=0.2)
    assert p["v_inf"] < 0.5 * p["v_cell"]
    # anti-PD-1 expands the infiltrate, so over the year the lesion grows more than the tumor it contains
    infiltrate_share = 1 - tr["tumor_volume"] / tr["lesion_volume"]
    assert infiltrate_share[-1] > 2 * infiltrate_share[0]
    lesion_rel = tr["lesion_diameter"] / tr["lesion_diameter"][0]
    tumor_rel = tr["tumor_diameter"] / tr["tumor_diameter"][0]
    assert lesion_rel[-1] > tumor_rel[-1]
    # ... but a measurable lesion (tumor >= 10 mm) is mostly tumor under every regimen: the infiltrate
    # stays below 5 % of it unless the tumor responds (a shrinking lesion, densely infiltrated, < 25 %)
    for name, run in runs.items():
        share = 1 - run["tumor_volume"] / run["lesion_volume"]
        measurable = np.asarray(run["tumor_diameter"]) >= 10.0
        responding = burden(run) < 0.5 * burden(run)[0]
        assert measurable.any() and share[measurable].max() < 0.25, name
        assert share[measurable & ~responding].max() < 0.05, name


def recist_progression_time(traj: td.Trajectory) -> float:
    """First time the lesion diameter is >= 20 % and >= 5 mm above its running nadir (days), inf if never."""
    d = np.asarray(traj["lesion_diameter"])
    nadir = np.minimum.accumulate(d)
    hit = np.nonzero((d >= 1.2 * nadir) & (d - nadir >= 5.0))[0]
    return float(traj.t[hit[0]]) if hit.size else math.inf


def test_untreated_lesion_progresses_by_recist_within_months(runs):
    """Placebo arms of metastatic solid tumors progress with a median PFS of about 2-4 months."""
    tr = runs["untreated"]
    assert tr["lesion_diameter"][0] >= 10.0, "the baseline lesion is measurable (RECIST 1.1: >= 10 mm)"
    assert 42.0 <= recist_progression_time(tr) <= 120.0
    # TME priming alone holds the tumor without shrinking it; its infiltrate is not called progression
    assert recist_progression_time(runs["priming"]) == math.inf
    assert burden(runs["priming"]).min() > 0.7 * burden(runs["priming"])[0]


@pytest.mark.parametrize("rtol", RTOLS)
def test_memory_t_cells_keep_the_tumor_controlled_after_therapy_stops(rtol):
    """Priming, then anti-PD-1 stopped at day 180: memory holds the response for 2 years; without it the tumor relapses."""
    sched = every("priming", count=PRIMING_DAYS) + td.Schedule.every(
        "anti_pd1", *STANDARD_DOSES["anti_pd1"], start=float(PRIMING_DAYS), until=179.0)
    t = np.linspace(0.0, 730.0, 731)
    with_memory = td.simulate(td.models.tumor_immune_tme(), sched, t_end=730.0, t_eval=t, rtol=rtol)
    without = td.simulate(td.models.tumor_immune_tme(memory=False), sched, t_end=730.0, t_eval=t, rtol=rtol)
    b, b0 = burden(with_memory), burden(with_memory)[0]
    assert b[t >= 120].max() < 1e-3 * b0, "durable control: far below detectability for the whole second year"
    assert burden(without)[-1] > 0.1 * b0, "without memory the tumor regrows once therapy stops"
    assert burden(without)[-1] > 1000 * b[-1]
    # under continued anti-PD-1 the effectors contract too; memory keeps the tumor controlled
    continued = every("priming", count=PRIMING_DAYS) + td.Schedule.every(
        "anti_pd1", *STANDARD_DOSES["anti_pd1"], start=float(PRIMING_DAYS), until=730.0)
    on_memory = td.simulate(td.models.tumor_immune_tme(), continued, t_end=730.0, t_eval=t, rtol=rtol)
    on_without = td.simulate(td.models.tumor_immune_tme(memory=False), continued, t_end=730.0, t_eval=t, rtol=rtol)
    assert burden(on_memory)[t >= 120].max() < 1e-3 * b0
    assert burden(on_without)[-1] > 30 * burden(on_memory)[-1]
    # memory forms as antigen is cleared (not under the chronic antigen of the untreated tumor)
    M = np.asarray(with_memory["M"])
    assert M[t == 180.0][0] > 100 * M[0]
    untreated = td.simulate(td.models.tumor_immune_tme(), None, t_end=365.0, rtol=rtol)
    assert untreated["M"].max() < 2 * untreated["M"][0]


# --------------------------------------------------------------------------- numerics of the default model


def test_default_model_is_structurally_positive_and_tumor_free_state_stays_tumor_free(model):
    assert model.positivity_violations() == []
    c = compile_model(model)
    p = c.param_vector()
    y0 = c.initial_vector({"S": 0.0, "R": 0.0})
    for u in (np.zeros(c.n_drugs), np.ones(c.n_drugs)):
        f = c.rhs(0.0, y0, p, u)
        assert np.all(np.isfinite(f))
        assert f[c.state_names.index("S")] == 0.0 and f[c.state_names.index("R")] == 0.0
    sched = REGIMENS["combination"] + every("priming", count=PRIMING_DAYS)
    tr = td.simulate(model, sched, t_end=HORIZON, initial={"S": 0.0, "R": 0.0})
    assert np.all(tr["S"] == 0.0) and np.all(tr["R"] == 0.0)
    assert np.all(np.isfinite(tr.y))
    assert np.all(np.isfinite(tr["resistant_fraction"])) and np.all(tr["resistant_fraction"] == 0.0)


def test_default_model_states_stay_nonnegative_over_a_treated_year(model):
    """A patient-year with ~75 doses solves with LSODA at rtol 1e-6 (its cost is measured in benchmarks/)."""
    sched = REGIMENS["combination"] + every("priming", count=PRIMING_DAYS)
    assert 70 <= sched.n_doses() <= 90
    tr = td.simulate(model, sched, t_end=HORIZON, rtol=1e-6, method="LSODA")
    assert tr.stats.method == "LSODA"
    assert tr.stats.n_doses_applied == sched.n_doses()
    atol = compile_model(model).atol
    assert np.all(tr.y >= -atol), "no state below minus its absolute tolerance"


def test_every_default_parameter_has_unit_bounds_and_source(model):
    for par in model.parameters:
        lo, hi = par.bounds
        assert par.unit, par.name
        assert math.isfinite(lo) and math.isfinite(hi) and lo <= par.default <= hi, par.name
        assert par.source, par.name
        assert par.description, par.name


def test_standard_doses_are_read_only_and_match_the_docs():
    assert dict(STANDARD_DOSES) == {"targeted": (100.0, 7.0), "anti_pd1": (200.0, 21.0), "priming": (20.0, 1.0)}
    with pytest.raises(TypeError):
        STANDARD_DOSES["targeted"] = (1.0, 1.0)  # type: ignore[index]
