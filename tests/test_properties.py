"""Model invariants as property-based tests (hypothesis), using the public strategies of tumordyn.testing.

Profiles live in tests/conftest.py: CI runs the derandomised "ci" profile (30 examples per
property; the costlier properties run a fraction of that, never fewer than 10).
Run the large profile on demand with

    HYPOTHESIS_PROFILE=thorough python -m pytest tests/test_properties.py

The properties in the section "properties that can fail" draw parameters over their full bounds
(log-uniformly, zero lower bounds from 1e-12) and each comes with a deliberately broken variant
that it catches; the older structural properties draw within a factor 2 of the defaults (see
docs/invariants.md).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import sympy as sp

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import tumordyn as td  # noqa: E402
from tumordyn.testing import BUILTIN_MODELS, initial_states, models, parameters, schedules, value_in  # noqa: E402
from tumordyn.numerics import compile_model

T_END = 60.0
T_EVAL = np.linspace(0.0, T_END, 31)


def sim(model: td.Model, schedule: td.Schedule | None, **kw) -> td.Trajectory:
    """td.simulate with LSODA: the invariants are properties of the models, checked with the reference
    solver (the compiled dopri5 path is compared with LSODA in tests/test_fast.py and would add a
    numba compilation per model here)."""
    return td.simulate(model, schedule, method="LSODA", **kw)


def examples(fraction: float) -> int:
    """A fraction of the active profile's max_examples (at least 10), so 'thorough' scales too."""
    return max(10, int(settings.default.max_examples * fraction))


def cheap(fraction: float = 1.0) -> settings:
    return settings(max_examples=examples(fraction), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


DEFAULT = td.models.tumor_immune_tme()
MAX_AMOUNT = {"targeted": 400.0, "anti_pd1": 400.0, "priming": 50.0}
MAX_RATE = {"targeted": 100.0, "anti_pd1": 20.0, "priming": 20.0}


def default_schedules(**kw):
    kw.setdefault("max_amount", MAX_AMOUNT)
    kw.setdefault("max_rate", MAX_RATE)
    return schedules(DEFAULT, T_END, **kw)


def schedule_for(model: td.Model, t_end: float = T_END, **kw):
    """Schedules suited to each built-in model (on/off drugs at level <= 1)."""
    drugs = model.drugs.names
    amount = {d: MAX_AMOUNT.get(d, 100.0) for d in drugs}
    rate = {d: (1.0 if model.drugs[d].compartment is None else MAX_RATE.get(d, 10.0)) for d in drugs}
    return schedules(model, t_end, max_amount=amount, max_rate=rate, **kw)


def close(a: np.ndarray, b: np.ndarray, atol: np.ndarray | float, rtol: float) -> bool:
    return bool(np.all(np.abs(a - b) <= rtol * np.maximum(np.abs(a), np.abs(b)) + atol))


# ------------------------------------------------------------------------------ the strategies themselves
@cheap()
@given(data=st.data(), name=st.sampled_from(BUILTIN_MODELS))
def test_strategies_stay_within_bounds(data, name):
    model = data.draw(models([name]))
    p = data.draw(parameters(model))
    for k, v in p.items():
        par = model.parameters[k]
        assert par.bounds[0] <= v <= par.bounds[1]
        if par.default > 0:
            assert par.default / 2 * (1 - 1e-12) <= v <= par.default * 2 * (1 + 1e-12)
        else:
            assert v == par.default == 0 or par.default < 0
    wide = data.draw(parameters(model, around_defaults=None))
    assert all(model.parameters[k].bounds[0] <= v <= model.parameters[k].bounds[1] for k, v in wide.items())
    y0 = data.draw(initial_states(model))
    for s in model.states:
        if s.nonnegative:
            assert y0[s.name] >= 0
        if s.initial == 0:
            assert y0[s.name] == 0
    sched = data.draw(schedule_for(model, time_step=1.0))
    sched.validate(model.drugs.names, t_end=T_END, t0=0.0)
    assert all(float(d.time).is_integer() for d in sched.doses)


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
def test_value_in_is_log_uniform_for_wide_ranges():
    # the median of a log-uniform draw on [1e-3, 1e3] is 1, far below the uniform median 500
    s = value_in(1e-3, 1e3)
    draws = [s.example() for _ in range(60)]
    assert all(1e-3 <= x <= 1e3 for x in draws)
    assert np.median(draws) < 100
    with pytest.raises(td.errors.SpecificationError):
        value_in(1.0, 0.0)
    with pytest.raises(td.errors.UnknownNameError):
        parameters(DEFAULT, names=["r_SS"])
    with pytest.raises(td.errors.UnknownNameError):
        schedules(DEFAULT, 10.0, drugs=["chemo"])


# ------------------------------------------------------------------------------ properties that can fail
# Each property below checks something the library does not enforce by construction, draws over the
# full parameter bounds (log-uniformly, zero lower bounds down to 1e-12), and comes with a deliberately
# broken variant that the property catches (test_..._catches_...). The former positivity property could
# not fail while a trajectory was returned: simulate clips non-negative states at 0 and raises beyond.
from hypothesis import reject  # noqa: E402

PK_ONLY = DEFAULT.replace(
    name="pk_only", processes=[pr for pr in DEFAULT.processes if pr.name.startswith("elimination_")]
)
PK_PARAMS = [n for d in DEFAULT.drugs for n in (d.volume, f"t_half_{d.name}")]
T_PK = np.arange(31) * 2.0 + 1.0 / 3.0  # never on the 1e-6-day grid of the drawn dose times
DELTA = 1.0 / 3000.0  # and just after every dose, infusion start and end, where a short-lived drug is seen


def pk_times(sched: td.Schedule) -> np.ndarray:
    marks = [d.time for d in sched.doses] + [x for i in sched.infusions for x in (i.start, i.end)]
    return np.unique(np.concatenate([T_PK, np.asarray(marks, dtype=float) + DELTA]))


def pk_closed_form(sched: td.Schedule, p: dict, t: np.ndarray, drug: str) -> np.ndarray:
    """One-compartment PK by superposition: each bolus a/V e^{-k(t-t_i)}, each infusion
    r/(V k) (1 - e^{-k(on time)}) e^{-k(time since it ended)}, k = ln 2 / half-life."""
    d = DEFAULT.drugs[drug]
    V = p.get(d.volume, DEFAULT.parameters[d.volume].default)
    k = np.log(2.0) / p.get(f"t_half_{drug}", DEFAULT.parameters[f"t_half_{drug}"].default)
    c = np.zeros_like(t)
    for dose in sched.doses:
        if dose.drug == drug:
            c += np.where(t >= dose.time, dose.amount / V * np.exp(-k * np.maximum(t - dose.time, 0.0)), 0.0)
    for inf in sched.infusions:
        if inf.drug == drug:
            on = np.clip(t, inf.start, inf.end) - inf.start
            since = np.maximum(t - inf.end, 0.0)  # 0 before and during the infusion (no overflow before it)
            c += inf.rate / (V * k) * -np.expm1(-k * on) * np.exp(-k * since)
    return c


def pk_mismatch(traj: td.Trajectory | td.Schedule, sched: td.Schedule, p: dict) -> float:
    """Largest error of the simulated concentrations against the closed form, in units of the tolerance
    (1e-6 of the drug's peak plus 100 atol): > 1 means the property fails. Given a schedule instead of
    a trajectory, its closed form is compared (how far apart two schedules are in these units)."""
    worst = 0.0
    t = pk_times(sched) if isinstance(traj, td.Schedule) else traj.t
    for d in DEFAULT.drugs:
        exact = pk_closed_form(sched, p, t, d.name)
        got = pk_closed_form(traj, p, t, d.name) if isinstance(traj, td.Schedule) else traj[d.compartment]
        tol = 1e-6 * float(np.max(np.abs(exact), initial=0.0)) + 100 * DEFAULT.states[d.compartment].atol
        err = float(np.max(np.abs(got - exact))) / tol
        worst = max(worst, err) if np.isfinite(err) else np.inf  # a NaN never passes
    return worst


PK_SOLVERS = {m: td.solve.Solver(method=m, rtol=1e-10, max_steps=200_000) for m in ("LSODA", "dopri5")}


def simulate_pk(sched: td.Schedule, p: dict, method: str) -> td.Trajectory:
    return td.simulate(PK_ONLY, sched, t_end=T_PK[-1] + 1.0, t_eval=pk_times(sched), params=p,
                       solver=PK_SOLVERS[method])


def full_bounds(model: td.Model, **kw):
    return parameters(model, around_defaults=None, log_floor=1e-12, **kw)


@cheap(0.5)
@given(p=full_bounds(PK_ONLY, names=PK_PARAMS), sched=schedules(PK_ONLY, T_END, max_doses=4, max_infusions=2,
                                                                max_amount=MAX_AMOUNT, max_rate=MAX_RATE),
       method=st.sampled_from(sorted(PK_SOLVERS)))
def test_drug_concentrations_equal_the_closed_form_superposition(p, sched, method):
    assert pk_mismatch(simulate_pk(sched, p, method), sched, p) <= 1.0


def overcount(sched: td.Schedule) -> td.Schedule:
    """The broken variant: the largest bolus counted twice (or, without one, the largest infusion lost)."""
    if any(d.amount > 0 for d in sched.doses):
        big = max(sched.doses, key=lambda d: d.amount)
        return sched + big
    big = max(sched.infusions, key=lambda i: i.rate)
    return td.Schedule([*sched.doses, *[i for i in sched.infusions if i is not big]])


@cheap(0.34)
@given(p=full_bounds(PK_ONLY, names=PK_PARAMS), sched=schedules(PK_ONLY, T_END, max_doses=4, max_infusions=2,
                                                                max_amount=MAX_AMOUNT, max_rate=MAX_RATE))
def test_closed_form_property_catches_an_overcounted_dose(p, sched):
    assume(sched.doses or sched.infusions)
    assume(pk_mismatch(overcount(sched), sched, p) > 10.0)  # the slip is visible at the sampled times
    broken = simulate_pk(overcount(sched), p, "LSODA")
    assert pk_mismatch(broken, sched, p) > 1.0


def test_closed_form_property_catches_an_engine_that_drops_an_infusion_tail():
    sched = td.Schedule([td.Dose(0.0, "targeted", 100.0), td.Infusion("priming", 2.0, 5.0, 10.0)])
    p = {}
    good = simulate_pk(sched, p, "dopri5")
    assert pk_mismatch(good, sched, p) <= 1.0
    cut = td.Schedule([td.Dose(0.0, "targeted", 100.0), td.Infusion("priming", 2.0, 4.9, 10.0)])
    assert pk_mismatch(simulate_pk(cut, p, "dopri5"), sched, p) > 1.0


ENGINE_MODELS = ["kuznetsov1994", "logistic_growth", "gompertz_growth", "one_compartment_pk"]
T_ENG = np.linspace(0.0, 30.0, 16)


def engines_disagree(a: td.Trajectory, b: td.Trajectory, model: td.Model) -> float:
    """Largest difference between two trajectories, in units of 1e-4 of each state's range plus 100 atol."""
    cm = compile_model(model)
    scale = 1e-4 * np.max(np.abs(b.y), axis=0) + 100 * cm.atol
    return float(np.max(np.abs(a.y - b.y) / scale))


def regrows_from_below_atol(trajectories, model) -> bool:
    """Whether a state falls below its absolute tolerance and later grows past the comparison scale.

    Below its ``atol`` a state is numerical noise by contract; if it then grows (e.g. a clone killed to 1e-3
    cells regrowing at 1/day for weeks) the noise is amplified past the scale of :func:`engines_disagree`,
    and any engine within its tolerances is "right". Such ill-conditioned cases are not evidence either way.
    """
    atol = compile_model(model).atol
    dosed = {d.compartment for d in model.drugs}  # a dose refills these: input, not amplified noise
    for tr in trajectories:
        scale = 1e-4 * np.max(np.abs(tr.y), axis=0) + 100 * atol
        for j in range(tr.y.shape[1]):
            if model.states.names[j] in dosed:
                continue
            below = np.flatnonzero(np.abs(tr.y[:, j]) < atol[j])
            if below.size and np.any(np.abs(tr.y[below[0]:, j]) > scale[j]):
                return True
    return False


def test_regrowth_from_below_atol_is_detected_and_ordinary_decay_is_not():
    model = td.models.logistic_growth()
    sched = td.Schedule([])
    grows = td.simulate(model, sched, t_end=30, t_eval=T_ENG, initial={"N": 1e-9}, params={"r": 1.0, "K": 1e9})
    assert regrows_from_below_atol([grows], model)
    decays = td.simulate(model, sched, t_end=30, t_eval=T_ENG, initial={"N": 1e6}, params={"r": 0.1, "K": 1e9})
    assert not regrows_from_below_atol([decays], model)


def solve_with(model, sched, p, y0, method, rtol):
    solver = td.solve.Solver(method=method, rtol=rtol, max_steps=100_000)
    return td.simulate(model, sched, t_end=T_ENG[-1], t_eval=T_ENG, params=p, initial=y0, solver=solver)


@cheap(0.5)
@given(data=st.data(), name=st.sampled_from(ENGINE_MODELS))
def test_compiled_and_scipy_engines_agree_with_a_tight_reference(data, name):
    model = data.draw(models([name]))
    p = data.draw(full_bounds(model), label="params")
    y0 = data.draw(initial_states(model), label="initial")
    sched = data.draw(schedule_for(model, t_end=T_ENG[-1]), label="schedule")
    try:
        ref = solve_with(model, sched, p, y0, "LSODA", 1e-11)
        fast = solve_with(model, sched, p, y0, "dopri5", 1e-8)
        scipy = solve_with(model, sched, p, y0, "LSODA", 1e-8)
    except td.errors.SolverError:  # a named refusal (a step budget, a blow-up): nothing to compare
        reject()
    assume(not regrows_from_below_atol([ref, fast, scipy], model))
    assert engines_disagree(fast, ref, model) <= 1.0
    assert engines_disagree(scipy, ref, model) <= 1.0


BUDGET_STATUSES = (td.errors.SolverStatus.TOO_MANY_STEPS, td.errors.SolverStatus.TIME_BUDGET)


def solve_budgeted(model, sched, p, method, rtol):
    """A solve of the default model under a step and a wall-time budget (nothing can hang): the trajectory,
    or None when the engine ran out of a budget (the case is then skipped, not counted as agreement)."""
    solver = td.solve.Solver(method=method, rtol=rtol, max_steps=200_000, max_seconds=5.0)
    try:
        return td.simulate(model, sched, t_end=T_ENG[-1], t_eval=T_ENG, params=p, solver=solver)
    except td.errors.SolverError as err:
        assert err.status != td.errors.SolverStatus.OK  # a named error with its status
        return None


@cheap(0.34)
@given(p=full_bounds(DEFAULT), sched=schedule_for(DEFAULT, t_end=T_ENG[-1]))
def test_engines_agree_with_a_tight_reference_on_the_default_model(p, sched):
    # the default model over its full bounds: LSODA could hang here before the budgets; with them every
    # solve ends, and a case where an engine runs out of a budget (or ends in another named error) is
    # skipped with assume, never counted as agreement
    ref = solve_budgeted(DEFAULT, sched, p, "LSODA", 1e-11)
    assume(ref is not None)
    for method in ("dopri5", "LSODA"):
        got = solve_budgeted(DEFAULT, sched, p, method, 1e-8)
        assume(got is not None)
        assume(not regrows_from_below_atol([ref, got], DEFAULT))
        assert engines_disagree(got, ref, DEFAULT) <= 1.0, method


def test_engine_agreement_catches_an_engine_with_a_wrong_parameter():
    model = td.models.kuznetsov1994()
    p = {k: model.parameters[k].default for k in model.parameters.names}
    y0 = model.initial_state()
    ref = solve_with(model, None, p, y0, "LSODA", 1e-11)
    assert engines_disagree(solve_with(model, None, p, y0, "dopri5", 1e-8), ref, model) <= 1.0
    wrong = dict(p, **{n: p[n] * 1.01 for n in list(p)[:1]})  # one parameter off by 1%, as a codegen slip would be
    assert engines_disagree(solve_with(model, None, wrong, y0, "dopri5", 1e-8), ref, model) > 1.0
    loose = solve_with(model, None, p, y0, "dopri5", 1e-3)  # and an engine ignoring rtol
    assert engines_disagree(loose, ref, model) > 1.0


def test_full_bounds_draws_reach_the_corners():
    # deterministic: the strategy's ranges are the bounds, log-uniform, zero lower bounds from 1e-12
    model = DEFAULT
    seen_small = seen_large = False

    @settings(max_examples=60, derandomize=True, deadline=None)
    @given(p=full_bounds(model))
    def check(p):
        nonlocal seen_small, seen_large
        for k, v in p.items():
            lo, hi = model.parameters[k].bounds
            assert lo <= v <= hi
            d = model.parameters[k].default
            seen_small |= 0 < v < d / 100
            seen_large |= v > d * 100

    check()
    assert seen_small and seen_large


# ------------------------------------------------------------------------------ tumor-free invariance
TUMOR_FREE = {
    "tumor_immune_tme": ("S", "R"),
    "tumor_immune_tme_gompertz": ("S", "R"),
    "tumor_immune_tme_switching": ("S", "DTP", "R"),
    "tumor_immune_tme_stress_inhibitor": ("S", "R"),
    "kuznetsov1994": ("T",),
    "logistic_growth": ("N",),
    "gompertz_growth": ("N",),
}


@cheap(0.5)
@given(data=st.data(), name=st.sampled_from(sorted(TUMOR_FREE)))
def test_tumor_free_state_stays_tumor_free(data, name):
    model = data.draw(models([name]))
    zero = {s: 0.0 for s in TUMOR_FREE[name]}
    p = data.draw(parameters(model))
    y0 = data.draw(initial_states(model, fixed=zero))
    sched = data.draw(schedule_for(model))
    traj = sim(model, sched, t_end=T_END, t_eval=T_EVAL, params=p, initial=y0)
    for s in zero:
        assert np.all(traj[s] == 0.0), s


# ------------------------------------------------------------------------------ drugs
@cheap(0.5)
@given(p=parameters(DEFAULT), y0=initial_states(DEFAULT), sched=default_schedules(),
       keep=st.sets(st.sampled_from(DEFAULT.drugs.names)))
def test_undosed_drugs_stay_zero(p, y0, sched, keep):
    sched = sched.only(*keep) if keep else td.Schedule()
    traj = sim(DEFAULT, sched, t_end=T_END, t_eval=T_EVAL, params=p, initial=y0)
    for d in DEFAULT.drugs:
        if d.name not in sched.drugs:
            assert np.all(traj[d.compartment] == 0.0), d.name


@cheap(0.5)
@given(p=parameters(DEFAULT), y0=initial_states(DEFAULT), sched=default_schedules(),
       drug=st.sampled_from(DEFAULT.drugs.names), tz=st.floats(0.0, T_END))
def test_zero_dose_changes_nothing(p, y0, sched, drug, tz):
    a = sim(DEFAULT, sched, t_end=T_END, t_eval=T_EVAL, params=p, initial=y0, rtol=1e-9)
    b = sim(DEFAULT, sched + td.Dose(tz, drug, 0.0), t_end=T_END, t_eval=T_EVAL, params=p, initial=y0,
                    rtol=1e-9)
    # the zero dose only adds a restart of the solver at tz: equal within the solver tolerance
    assert close(a.y, b.y, atol=10 * compile_model(DEFAULT).atol, rtol=1e-6)


@cheap(0.5)
@given(p=parameters(DEFAULT), sched=default_schedules(max_doses=4, max_infusions=1))
def test_pk_linearity_concentration_is_sum_over_single_doses(p, sched):
    # the specs' absolute tolerances (1e-8 mg/L for the concentrations): LSODA's excursions below
    # zero once a short-lived drug has decayed reach about 10 atol, which the simulator reports
    # as NegativeStateError when atol is set far below the spec's
    kw = dict(t_end=T_END, t_eval=T_EVAL, params=p, rtol=1e-10)
    full = sim(DEFAULT, sched, **kw)
    total = {d.compartment: np.zeros_like(T_EVAL) for d in DEFAULT.drugs}
    for item in sched:
        single = sim(DEFAULT, td.Schedule(item), **kw)
        for c in total:
            total[c] = total[c] + single[c]
    for c, expected in total.items():
        scale = float(np.max(np.abs(expected)))
        atol = DEFAULT.states[c].atol
        assert np.max(np.abs(full[c] - expected)) <= 1e-7 * scale + 10 * atol * (len(sched) + 1), c


@cheap(0.5)
@given(p=parameters(DEFAULT), sched=default_schedules(max_doses=3),
       drug=st.sampled_from(DEFAULT.drugs.names), t=st.floats(0.0, T_END),
       a=st.floats(0.0, 300.0), b=st.floats(0.0, 300.0))
def test_two_doses_at_one_time_equal_one_dose_of_their_sum(p, sched, drug, t, a, b):
    two = sim(DEFAULT, sched + td.Dose(t, drug, a) + td.Dose(t, drug, b), t_end=T_END, t_eval=T_EVAL,
                      params=p)
    one = sim(DEFAULT, sched + td.Dose(t, drug, a + b), t_end=T_END, t_eval=T_EVAL, params=p)
    c = DEFAULT.drugs[drug].compartment
    assert close(two[c], one[c], atol=1e-12, rtol=1e-12)
    assert close(two.y, one.y, atol=1e-9 * compile_model(DEFAULT).atol, rtol=1e-12)


@settings(deadline=None)
@given(a=default_schedules(), b=default_schedules(), c=default_schedules())
def test_schedule_addition_is_commutative_and_associative(a, b, c):
    assert a + b == b + a and hash(a + b) == hash(b + a)
    assert (a + b) + c == a + (b + c)
    assert (a + b).amount_total() == pytest.approx(a.amount_total() + b.amount_total())
    assert len(a + b) == len(a) + len(b)


@cheap(0.34)
@given(p=parameters(DEFAULT), a=default_schedules(max_doses=3), b=default_schedules(max_doses=3))
def test_commuted_schedules_give_identical_trajectories(p, a, b):
    x = sim(DEFAULT, a + b, t_end=T_END, t_eval=T_EVAL, params=p)
    y = sim(DEFAULT, b + a, t_end=T_END, t_eval=T_EVAL, params=p)
    assert np.array_equal(x.y, y.y)


# ------------------------------------------------------------------------------ time shift
@cheap(0.5)
@given(p=parameters(DEFAULT), y0=initial_states(DEFAULT), sched=default_schedules(),
       dt=st.floats(0.25, 400.0))
def test_time_shift_shifts_the_trajectory(p, y0, sched, dt):
    a = sim(DEFAULT, sched, t_end=T_END, t_eval=T_EVAL, params=p, initial=y0, rtol=1e-9)
    b = sim(DEFAULT, sched.shift(dt), t0=dt, t_end=T_END + dt, t_eval=T_EVAL + dt, params=p, initial=y0,
                    rtol=1e-9)
    assert close(a.y, b.y, atol=10 * compile_model(DEFAULT).atol, rtol=1e-5)


# ------------------------------------------------------------------------------ conservation
EXHAUSTION_ONLY = DEFAULT.replace(
    name="exhaustion_reinvigoration",
    processes=[pr for pr in DEFAULT.processes
               if pr.name in ("exhaustion", "reinvigoration") or pr.name.startswith("elimination_")],
)


@cheap(0.5)
@given(p=parameters(EXHAUSTION_ONLY), y0=initial_states(EXHAUSTION_ONLY),
       sched=schedules(EXHAUSTION_ONLY, T_END, max_amount=MAX_AMOUNT, max_rate=MAX_RATE))
def test_exhaustion_and_reinvigoration_conserve_E_plus_X(p, y0, sched):
    # default rtol: LSODA's multistep methods keep linear invariants up to rounding at any tolerance
    traj = sim(EXHAUSTION_ONLY, sched, t_end=T_END, t_eval=T_EVAL, params=p, initial=y0)
    total = traj["E"] + traj["X"]
    assert np.max(np.abs(total - (y0["E"] + y0["X"]))) <= 1e-8 * (y0["E"] + y0["X"]) + 1.0
    # and the exchange really happens (a conservation test of a frozen system would prove nothing)
    assume(y0["S"] + y0["R"] > 1e8)
    assert np.max(np.abs(traj["E"] - y0["E"])) > 10 * EXHAUSTION_ONLY.states["E"].atol


# ------------------------------------------------------------------------------ competitive release
def immune_free_model(growth: str) -> td.Model:
    C = sp.Symbol("C_targeted")
    k_T, EC50_T, h_T = sp.symbols("k_T EC50_T h_T")
    effect = td.Module("targeted_effect", parameters=(
        td.Parameter("k_T", 0.15, (0.0, 5.0), "1/day", "maximal kill rate of S"),
        td.Parameter("EC50_T", 0.5, (1e-3, 100.0), "mg/L", "concentration at half-maximal kill"),
        td.Parameter("h_T", 2.0, (0.5, 5.0), "1", "Hill coefficient"),
    ))
    return td.compose(
        f"immune_free_{growth}",
        # mutation off: S->R mutation couples the clones cooperatively (less S, fewer mutants),
        # and only the purely competitive system is monotone (see docs/invariants.md)
        td.models.tumor_clones(growth, mutation=0.0, drug_kill=k_T * td.models.emax(C, EC50_T, h_T)),
        td.models.one_compartment_drug("targeted", "C_targeted", half_life=2.0, volume=50.0),
        effect,
    )


IMMUNE_FREE = {g: immune_free_model(g) for g in ("logistic", "gompertz")}


@cheap(0.5)
@given(data=st.data(), growth=st.sampled_from(sorted(IMMUNE_FREE)))
def test_competitive_release_more_drug_never_raises_S_or_lowers_R(data, growth):
    model = IMMUNE_FREE[growth]
    p = data.draw(parameters(model))
    y0 = data.draw(initial_states(model))
    base = data.draw(schedules(model, T_END, max_amount=400.0, max_rate=100.0))
    extra = data.draw(schedules(model, T_END, max_amount=400.0, max_rate=100.0, max_doses=3))
    kw = dict(t_end=T_END, t_eval=T_EVAL, params=p, initial=y0, rtol=1e-9)
    less = sim(model, base, **kw)
    more = sim(model, base + extra, **kw)
    tol_S = 1e-6 * np.abs(less["S"]) + 10 * model.states["S"].atol
    tol_R = 1e-6 * np.abs(less["R"]) + 10 * model.states["R"].atol
    assert np.all(more["S"] <= less["S"] + tol_S)
    assert np.all(more["R"] >= less["R"] - tol_R)


@cheap(0.34)
@given(p=parameters(DEFAULT, fixed={"s_E": 0.0, "mu": 0.0}),
       y0=initial_states(DEFAULT, fixed={"E": 0.0, "X": 0.0, "M": 0.0}),
       base=default_schedules(drugs=["targeted"]), extra=default_schedules(drugs=["targeted"], max_doses=3))
def test_competitive_release_in_default_model_without_T_cells(p, y0, base, extra):
    kw = dict(t_end=T_END, t_eval=T_EVAL, params=p, initial=y0, rtol=1e-9)
    less = sim(DEFAULT, base, **kw)
    more = sim(DEFAULT, base + extra, **kw)
    assert np.all(more["E"] == 0) and np.all(more["X"] == 0)
    assert np.all(more["S"] <= less["S"] * (1 + 1e-6) + 10.0)
    assert np.all(more["R"] >= less["R"] * (1 - 1e-6) - 10.0)


def test_mutation_breaks_competitive_release_for_a_mutant_free_start():
    """Why the property needs mutation off: with R(0) = 0 every R cell is a mutant of S."""
    model = td.models.tumor_immune_tme()
    kw = dict(t_end=T_END, t_eval=T_EVAL, params={"s_E": 0.0, "mu": 1e-4},
              initial={"E": 0.0, "X": 0.0, "R": 0.0})
    less = sim(model, None, **kw)
    more = sim(model, td.Schedule.every("targeted", 400, interval=1, count=60), **kw)
    assert more["R"][-1] < less["R"][-1]


# ------------------------------------------------------------------------------ structural positivity
FACTORIES = {
    "tumor_immune_tme": td.models.tumor_immune_tme,
    "tumor_immune_tme_gompertz": lambda: td.models.tumor_immune_tme(growth="gompertz"),
    "tumor_immune_tme_switching": lambda: td.models.tumor_immune_tme(drug_induced_switching=True),
    "tumor_immune_tme_stress_inhibitor": lambda: td.models.tumor_immune_tme(stress_inhibitor=True),
    "kuznetsov1994": td.models.kuznetsov1994,
    "zhang2017": td.models.zhang2017,
    "logistic_growth": td.models.logistic_growth,
    "gompertz_growth": td.models.gompertz_growth,
    "one_compartment_pk": td.models.one_compartment_pk,
}
VARIANTS = [
    dict(growth=g, drug_induced_switching=s, stress_inhibitor=i)
    for g, s, i in itertools.product(("logistic", "gompertz"), (False, True), (False, True))
]


@pytest.mark.parametrize("kw", VARIANTS, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_default_model_variants_pass_structural_positivity(kw):
    assert td.models.tumor_immune_tme(**kw).positivity_violations() == []


@pytest.mark.parametrize("name", BUILTIN_MODELS)
def test_builtin_and_published_models_pass_structural_positivity(name):
    model = FACTORIES[name]()
    assert model.positivity_violations() == []
    # and every consumed non-negative state really vanishes from its outflow at zero
    for pr in model.processes:
        for k, _ in pr.consumes:
            if model.states[k].nonnegative:
                assert sp.simplify(pr.rate.subs(sp.Symbol(k), 0)) == 0 or sp.limit(pr.rate, sp.Symbol(k), 0, "+") == 0


def test_structural_positivity_check_catches_a_bad_outflow():
    good = td.models.logistic_growth()
    bad = [td.Process("constant_loss", "r", consumes="N") if pr.name == "crowding" else pr for pr in good.processes]
    with pytest.raises(td.errors.SpecificationError, match="constant_loss"):
        good.replace(processes=bad)
    # "r" (1/day) alone as a loss of N (cells) is a unit error too: unchecked here, positivity is under test
    assert len(good.replace(processes=bad, check_positivity=False, check_units=False).positivity_violations()) == 1
