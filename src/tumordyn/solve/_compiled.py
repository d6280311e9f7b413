"""A compiled integration loop: adaptive Dormand–Prince 5(4) compiled whole with numba.

Why
---
For a model of a few states the cost of ``scipy.integrate.solve_ivp`` is the
Python overhead of each step, not the right-hand side: a compiled RHS call
costs tens of nanoseconds, a Python-level step tens of microseconds. Compiling
the *whole* loop (steps, error control, dense output, doses between segments)
removes that overhead; one patient-year of the default model then takes well
under a millisecond.

What
----
* The right-hand side is generated for numba (``compile_model(model).source["rhs_fast"]``):
  it writes into a preallocated output, reads the parameter vector extended by its
  parameter-only subexpressions (``compile_model(model).extended_params``, computed once
  per patient), multiplies for integer-valued symbolic exponents (``_ipow``), and reads
  non-negative states clipped at zero exactly as the numpy code does. It is compiled as a
  numba C callback and cached on disk by model structure (:func:`cache_dir`), so a second
  process compiles nothing.
* The integrator is the explicit Runge–Kutta pair of Dormand & Prince 5(4)
  (local extrapolation, FSAL) with the PI step-size controller, the initial
  step selection and the 4th-order dense output of Hairer, Nørsett & Wanner,
  *Solving ODEs I* (2nd ed., 1993, II.4–II.6; their code DOPRI5). The error
  norm is the RMS over states of ``err_i / (atol_i + rtol max(|y_i|, |y_new_i|))``
  with per-state ``atol``.
* The horizon is cut at the schedule's breakpoints. At each breakpoint the
  bolus doses are applied as exact jumps (``amount / volume``) and the
  infusion rates in force until the next breakpoint are a constant input
  vector; the integrator steps exactly to every breakpoint and reports outputs
  through the dense output. After a breakpoint it restarts (new FSAL derivative) with
  a first step of :data:`_CARRY` times the step the controller proposed last (Hairer's
  initial-step search on the first segment only). Values at a dose time are after the dose, as in
  :func:`tumordyn.simulate`.
* Adaptive rules (a :class:`~tumordyn.dosing._plan.RulePlan` in the problem) run in the
  same loop: at each breakpoint the rules are checked against the state before
  the doses, gated doses are given only while their rule is on, gated infusion
  rates add only while on; after each accepted step each rule's switching
  function g(t) = watched(y(t)) - threshold is evaluated and a crossing in the
  rule's direction is located by Illinois-modified regula falsi (bounded
  iterations) on the step's 4th-order dense output; the step ends at the root,
  the rule toggles, the switch is recorded and a new sub-segment starts. A
  watched observable is compiled with numba alongside the RHS
  (:func:`fast_observe`).
* Model events (:class:`~tumordyn.spec.Event`): the comparisons the triggers are made of are compiled with
  numba (:func:`fast_atoms`) and watched in a specialisation of the same loop (a frozen global,
  ``_WITH_EVENTS``: the loop models without events run has this code compiled away): at the quarters of
  each accepted step on its dense output, at its end and after the doses of each breakpoint. The first
  change is located by bisection on the dense output; the loop stops there and returns, the events are
  executed by :class:`tumordyn.solve._events.EventQueue` (the scipy engines' implementation of the SBML
  semantics) and the loop resumes (:meth:`CompiledEngine._solve_events`).
* Budgets: ``max_steps`` step attempts per patient, and with ``Solver.max_seconds`` a wall-time
  budget per patient, read every :data:`_CLOCK_EVERY` step attempts from a C callback to
  ``time.perf_counter`` (numba has no clock in nopython mode); see :func:`_clock`.
* Failures return a status and the time reached; the Python wrappers raise
  :class:`~tumordyn.errors.SolverError` (step size underflow, too many steps,
  non-finite values) or :class:`~tumordyn.errors.NegativeStateError`.

The integrator itself is compiled once per installation (numba's on-disk cache)
against a function-pointer type; only the model's RHS is compiled per model
structure (well under a second, once: then loaded from the disk cache). The compiled functions are kept on the model's
:class:`~tumordyn.numerics._compile.CompiledModel` and in a small private cache keyed by
the generated source text, so models that differ only in default values
(``model.with_defaults(...)``) share them.
"""

from __future__ import annotations

import functools
import math
import time as _time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..numerics import NEGATIVE_SLACK
from ._problem import COMPILED_METHOD, DEFAULT_MAX_STEPS, Problem, Solution, SolverOptions
from ..errors import SolverStatus, SpecificationError

if TYPE_CHECKING:
    from ..numerics import CompiledModel
    from ..dosing import DosingPlan, RulePlan

__all__ = [
    "numba_available",
    "FAST_METHOD",
    "FastFunctions",
    "fast_functions",
    "CompiledEngine",
    "fast_observe",
    "supports_rules",
    "supports_events",
    "fast_atoms",
    "rhs_call_cost",
    "DEFAULT_MAX_STEPS",
]

#: Name of the compiled method in :func:`tumordyn.simulate` (``method="dopri5"``).
FAST_METHOD = COMPILED_METHOD

# status codes returned by the compiled core: SolverStatus values, as plain ints for numba
_OK, _UNDERFLOW, _MAX_STEPS, _NONFINITE, _STIFF, _NEGATIVE = (
    int(SolverStatus.OK), int(SolverStatus.STEP_SIZE_UNDERFLOW), int(SolverStatus.TOO_MANY_STEPS),
    int(SolverStatus.NON_FINITE), int(SolverStatus.STIFF), int(SolverStatus.NEGATIVE_STATE),
)
_SWITCHES = int(SolverStatus.TOO_MANY_SWITCHES)
#: Internal status (never leaves this module): the kernel stopped where a comparison of the model's event
#: triggers changed; the caller executes the events (solve._events.EventQueue) and resumes.
_EVENT_DUE = -1
_TIME = int(SolverStatus.TIME_BUDGET)
#: Step attempts between two readings of the wall clock when ``Solver.max_seconds`` is set (a reading is a
#: call back into Python, about a microsecond; 64 Dormand–Prince steps cost about as much for a small model).
_CLOCK_EVERY = 64
#: The first step after a breakpoint (a dose, or a rule switch) is this fraction of the step the controller
#: proposed last, instead of a new initial-step search (Hairer's HINIT, one extra RHS evaluation and a
#: conservative guess): on the benchmark's 75-dose patient-year, 4,188 -> 3,826 RHS evaluations at
#: rtol 1e-6 with the same error against a DOP853 rtol 1e-10 reference (the whole step size carried over:
#: 3,460 evaluations but up to twice the error).
_CARRY = 0.2
_LOG_1E_4 = math.log(1e-4)
# slots of the integer stats array: evaluations, accepted and rejected steps, (sub-)segments, the state (or
# rule) to blame, rule switches, gated doses given
_NFEV, _NACC, _NREJ, _NSEG, _BADSTATE, _NEV, _NDOSE = 0, 1, 2, 3, 4, 5, 6
_N_STATS = 7


@functools.lru_cache(maxsize=1)
def numba_available() -> bool:
    """Whether numba can be imported (the optional extra ``tumordyn[fast]``).

    Returns
    -------
    bool
        ``True`` if the compiled path (``method="dopri5"``) is usable.
    """
    try:
        import numba  # noqa: F401
    except Exception:  # pragma: no cover - depends on the environment
        return False
    return True


# ----------------------------------------------------------------------------------
# The integrator, as plain Python; compiled lazily by numba (see _compiled).
# ----------------------------------------------------------------------------------

# Dormand–Prince 5(4) coefficients (Hairer, Nørsett & Wanner, Table II.5.2)
_C2, _C3, _C4, _C5 = 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0
_A21 = 1.0 / 5.0
_A31, _A32 = 3.0 / 40.0, 9.0 / 40.0
_A41, _A42, _A43 = 44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0
_A51, _A52, _A53, _A54 = 19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0
_A61, _A62, _A63, _A64, _A65 = 9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0, -5103.0 / 18656.0
_A71, _A73, _A74, _A75, _A76 = 35.0 / 384.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0
_E1, _E3, _E4, _E5, _E6, _E7 = (
    71.0 / 57600.0,
    -71.0 / 16695.0,
    71.0 / 1920.0,
    -17253.0 / 339200.0,
    22.0 / 525.0,
    -1.0 / 40.0,
)
# dense output (Hairer's CONTD5)
_D1, _D3, _D4, _D5, _D6, _D7 = (
    -12715105075.0 / 11282082432.0,
    87487479700.0 / 32700410799.0,
    -10690763975.0 / 1880347072.0,
    701980252875.0 / 199316789632.0,
    -1453857185.0 / 822651844.0,
    69997945.0 / 29380423.0,
)


def _check_rules_py(
    obs: Any, t: float, y: np.ndarray, p: np.ndarray, u_zero: np.ndarray, ob: np.ndarray, on: np.ndarray,
    r_state: np.ndarray, r_obs: np.ndarray, r_pause: np.ndarray, r_resume: np.ndarray, r_base: np.ndarray,
    stats: np.ndarray, ev_t: np.ndarray, ev_code: np.ndarray, ev_val: np.ndarray, ev_thr: np.ndarray,
) -> None:
    """Check every rule against the state at ``t`` (a breakpoint, or a switch of another rule).

    A rule that is on while its watched value is below ``r_pause * r_base`` pauses; one that is off
    while the value is at or above ``r_resume * r_base`` resumes. Each switch is counted in
    ``stats[_NEV]`` and recorded in ``ev_*`` while they have room.
    """
    ev_cap = ev_t.shape[0]
    for j in range(r_state.shape[0]):
        if r_state[j] >= 0:
            v = y[r_state[j]]
        else:
            obs(t, y, p, u_zero, ob)
            v = ob[r_obs[j]]
        lo = r_pause[j] * r_base[j]
        hi = r_resume[j] * r_base[j]
        if on[j] and v < lo:
            on[j] = False
            thr_j = lo
            code = 2 * j
        elif (not on[j]) and v >= hi:
            on[j] = True
            thr_j = hi
            code = 2 * j + 1
        else:
            continue
        if stats[_NEV] < ev_cap:
            e = stats[_NEV]
            ev_t[e] = t
            ev_code[e] = code
            ev_val[e] = v
            ev_thr[e] = thr_j
        stats[_NEV] += 1


#: Whether the kernel watches model events: ``False`` in the variant the batch entry points call (the code
#: for events is then dead and compiled away: no cost for models without events), ``True`` in the variant the
#: event loop calls (see :func:`_variant`; numba freezes a global's value when it compiles).
_WITH_EVENTS = True


def _variant(fn: Any, name: str, **frozen: Any) -> Any:
    """A copy of ``fn`` named ``name`` whose globals are this module's with ``frozen`` overriding some (numba
    freezes globals when it compiles: this gives one source two compiled specialisations, each cached on disk
    under its own name)."""
    import types as _pytypes

    g = dict(globals())
    g.update(frozen)
    f = _pytypes.FunctionType(fn.__code__, g, name, fn.__defaults__, fn.__closure__)
    f.__qualname__ = name
    f.__doc__ = fn.__doc__
    return f


#: The rule check the kernel calls: the Python function, replaced by its numba compilation in
#: :func:`_compiled` before the kernel is compiled (numba resolves the global then).
_check_rules: Any = _check_rules_py


def _core_py(
    rhs: Any,
    obs: Any,
    t_eval: np.ndarray,
    breaks: np.ndarray,
    bolus: np.ndarray,
    rates: np.ndarray,
    dose_comp: np.ndarray,
    vol_idx: np.ndarray,
    vol_const: np.ndarray,
    dscale: np.ndarray,
    p: np.ndarray,
    y0: np.ndarray,
    rtol: float,
    atol: np.ndarray,
    nonneg: np.ndarray,
    max_step: float,
    max_steps: int,
    detect_stiff: bool,
    r_drug: np.ndarray,
    r_state: np.ndarray,
    r_obs: np.ndarray,
    n_obs: int,
    r_pause: np.ndarray,
    r_resume: np.ndarray,
    r_base: np.ndarray,
    r_start: np.ndarray,
    r_bolus: np.ndarray,
    r_nbolus: np.ndarray,
    r_rates: np.ndarray,
    max_switches: int,
    ys: np.ndarray,
    us: np.ndarray,
    stats: np.ndarray,
    t_reached: np.ndarray,
    ev_t: np.ndarray,
    ev_code: np.ndarray,
    ev_val: np.ndarray,
    ev_thr: np.ndarray,
    r_given: np.ndarray,
    clock: Any,
    deadline: float,
    atoms: Any,
    n_atoms: int,
    ev_y: np.ndarray,
) -> int:
    """Integrate one patient across all segments; fill ``ys`` (n_t, n) and ``stats``. Returns a status.

    Adaptive rules (``n_rules = r_drug.shape[0]``, none for a fixed schedule): rule ``j`` gates drug
    ``r_drug[j]`` and watches state ``r_state[j]`` or (if -1) observable ``r_obs[j]`` (``obs`` writes the
    ``n_obs`` observables). At each breakpoint and after each switch the rules are checked against the
    state (pause if on and below ``r_pause[j] * r_base[j]``, resume if off and at or above
    ``r_resume[j] * r_base[j]``); then the breakpoint's fixed doses and the gated doses of the rules that
    are on are given (``r_given[b, j]``), and the rates are the fixed ones plus those of the rules that are
    on. After each accepted step the switching function g_j = watched - threshold is evaluated; a
    crossing in the rule's direction is located by Illinois-modified regula falsi on the step's
    4th-order dense output, the step ends there, the rule toggles and a new sub-segment starts. Switches
    are written to ``ev_*`` (up to their length; ``stats[_NEV]`` counts all of them); more than
    ``max_switches`` switches end the solve with ``TOO_MANY_SWITCHES``. ``us`` (rates at the outputs) is
    written when it has ``n_t`` rows.

    Wall-time budget: with a finite ``deadline`` (seconds on ``clock()``'s scale) the clock is read every
    :data:`_CLOCK_EVERY` step attempts; past the deadline the solve ends with ``TIME_BUDGET`` and the
    time reached.

    Model events (``ev_y`` of length ``n + 1``, the event mode; zero-size otherwise): ``atoms`` writes the
    ``n_atoms`` comparisons the triggers are made of (1.0 true, 0.0 false). They are evaluated after the
    doses of the first breakpoint (the watch), after each accepted step and after the doses of each later
    breakpoint; when one differs from the watch the solve stops with the internal status ``_EVENT_DUE``: a
    change inside a step is located by bisection on the step's dense output (to a few ulps of the time;
    the comparison has its new value at the located time) and the step ends there (``stats[_BADSTATE] = -1``),
    a change at breakpoint ``b`` is reported after its doses (``stats[_BADSTATE] = b``). ``t_reached`` holds
    the time; outputs strictly before it are written. In event mode ``ev_y[:n]`` receives the state where
    the solve stops (also at the last breakpoint, status OK) and ``ev_y[n]`` the step size to carry on with,
    and gives on entry the step size to start with (0: Hairer's initial-step search).
    """
    n = y0.shape[0]
    timed = deadline < math.inf
    n_drugs = rates.shape[1]
    n_t = t_eval.shape[0]
    n_b = breaks.shape[0]
    n_r = r_drug.shape[0]
    write_u = us.shape[0] == n_t
    ev_cap = ev_t.shape[0]
    y = y0.copy()
    y1 = np.empty(n)
    yst = np.empty(n)
    k1 = np.empty(n)
    k2 = np.empty(n)
    k3 = np.empty(n)
    k4 = np.empty(n)
    k5 = np.empty(n)
    k6 = np.empty(n)
    k7 = np.empty(n)
    # dense output coefficients of the last accepted step (Hairer's CONTD5)
    dq1 = np.empty(n)
    dq2 = np.empty(n)
    dq3 = np.empty(n)
    dq4 = np.empty(n)
    yd = np.empty(n)
    u = np.empty(n_drugs)
    u_zero = np.zeros(n_drugs)
    amt = np.empty(n_drugs)
    ob = np.empty(max(n_obs, 1))
    on = np.empty(n_r, dtype=np.bool_)
    thr = np.empty(n_r)
    gold = np.empty(n_r)
    gnew = np.empty(n_r)
    for j in range(n_r):
        on[j] = r_start[j]
    ev_mode = _WITH_EVENTS and ev_y.shape[0] == n + 1
    aw = np.empty(max(n_atoms, 1))  # the triggers' comparisons as they were (the watch)
    an = np.empty(max(n_atoms, 1))
    # per segment: the largest |y_i| seen and the amount removed by projecting onto y_i >= 0 while the rate
    # at zero pointed below zero (what the unprojected solution would have undershot); see _negative.py
    segmax = np.empty(n)
    deficit = np.empty(n)
    eps = 2.220446049250313e-16
    for i in range(stats.shape[0]):
        stats[i] = 0
    t_reached[0] = breaks[0]
    k = 0  # next output index
    nsteps = 0
    h_carry = ev_y[n] if ev_mode else 0.0  # the step size the controller proposed last (0: none yet)
    for b in range(n_b):
        tb = breaks[b]
        # rules consistent with the state now (before any dose now)
        _check_rules(obs, tb, y, p, u_zero, ob, on, r_state, r_obs, r_pause, r_resume, r_base, stats, ev_t, ev_code, ev_val, ev_thr)
        # doses due now (exact jumps): the fixed ones and the gated ones of the rules that are on
        for d in range(n_drugs):
            amt[d] = bolus[b, d] * dscale[d]
        for j in range(n_r):
            r_given[b, j] = on[j]
            if on[j] and r_nbolus[b, j] > 0:
                amt[r_drug[j]] += r_bolus[b, j] * dscale[r_drug[j]]
                stats[_NDOSE] += r_nbolus[b, j]
        for d in range(n_drugs):
            c = dose_comp[d]
            if amt[d] != 0.0 and c >= 0:
                vol = p[vol_idx[d]] if vol_idx[d] >= 0 else vol_const[d]
                y[c] += amt[d] / vol
        for d in range(n_drugs):
            u[d] = rates[b, d] * dscale[d]
        for j in range(n_r):
            if on[j]:
                u[r_drug[j]] += r_rates[b, j] * dscale[r_drug[j]]
        if _WITH_EVENTS and n_atoms > 0:  # model events: the watch, or a change at this breakpoint (e.g. made by its doses)
            atoms(tb, y, p, u, an)
            if b == 0:
                for a in range(n_atoms):
                    aw[a] = an[a]
            else:
                for a in range(n_atoms):
                    if an[a] != aw[a]:
                        t_reached[0] = tb
                        stats[_BADSTATE] = b
                        for i in range(n):
                            ev_y[i] = y[i]
                        ev_y[n] = h_carry
                        return _EVENT_DUE
        # outputs at the breakpoint itself (after the doses)
        while k < n_t and t_eval[k] == tb:
            for i in range(n):
                ys[k, i] = y[i]
            if write_u:
                for d in range(n_drugs):
                    us[k, d] = u[d]
            k += 1
        if b == n_b - 1:
            break
        t_next = breaks[b + 1]
        t = tb
        t_reached[0] = t
        # sub-segments of [tb, t_next]: each ends at t_next or at a rule switch (bounded by max_switches)
        while True:
            stats[_NSEG] += 1
            for i in range(n):
                segmax[i] = abs(y[i])
                deficit[i] = 0.0
            # --- initial step ---
            rhs(t, y, p, u, k1)
            stats[_NFEV] += 1
            finite = True
            for i in range(n):
                if finite and not math.isfinite(k1[i]):
                    finite = False
                    stats[_BADSTATE] = i  # the first state whose derivative is not finite
            if not finite:
                return _NONFINITE
            hmax = min(max_step, t_next - t)
            if h_carry > 0.0:  # a step size known from the previous (sub-)segment
                h = min(_CARRY * h_carry, hmax)
            else:  # the first segment: Hairer's HINIT
                dnf = 0.0
                dny = 0.0
                for i in range(n):
                    sk = atol[i] + rtol * abs(y[i])
                    dnf += (k1[i] / sk) ** 2
                    dny += (y[i] / sk) ** 2
                if dnf <= 1e-10 or dny <= 1e-10:
                    h = 1e-6
                else:
                    h = 0.01 * math.sqrt(dny / dnf)
                h = min(h, hmax)
                for i in range(n):
                    y1[i] = y[i] + h * k1[i]
                rhs(t + h, y1, p, u, k2)
                stats[_NFEV] += 1
                der2 = 0.0
                for i in range(n):
                    sk = atol[i] + rtol * abs(y[i])
                    der2 += ((k2[i] - k1[i]) / sk) ** 2
                der2 = math.sqrt(der2) / h
                der12 = max(abs(der2), math.sqrt(dnf))
                if not math.isfinite(der12):
                    h1 = max(1e-6, h * 1e-3)
                elif der12 <= 1e-15:
                    h1 = max(1e-6, h * 1e-3)
                else:
                    h1 = (0.01 / der12) ** 0.2
                h = min(100.0 * h, h1, hmax)
            # --- switching functions at the start of the sub-segment ---
            for j in range(n_r):
                thr[j] = (r_pause[j] if on[j] else r_resume[j]) * r_base[j]
                if r_state[j] >= 0:
                    gold[j] = y[r_state[j]] - thr[j]
                else:
                    obs(t, y, p, u, ob)
                    gold[j] = ob[r_obs[j]] - thr[j]
            fired = -1
            t_root = t
            y_ev = False  # the step loop ended at a change of the triggers' comparisons
            # --- steps ---
            lfacold = _LOG_1E_4  # log of Hairer's FACOLD (the previous accepted error, at least 1e-4)
            reject = False
            last_nonfinite = False
            bad_nf = -1  # the state named if the step size underflows on non-finite values
            iasti = 0
            nonsti = 0
            while True:
                if t_next - t <= 16.0 * eps * max(abs(t_next), 1e-300):
                    # what is left of the segment is below the smallest resolvable step (e.g. a dose at 5e-324
                    # days): one Euler step, exact to rounding here
                    dt = t_next - t
                    for i in range(n):
                        y[i] += dt * k1[i]
                    while k < n_t and t_eval[k] < t_next:
                        for i in range(n):
                            ys[k, i] = max(y[i], 0.0) if nonneg[i] else y[i]
                        if write_u:
                            for d in range(n_drugs):
                                us[k, d] = u[d]
                        k += 1
                    t = t_next
                    t_reached[0] = t
                    break
                if nsteps >= max_steps:
                    t_reached[0] = t
                    return _MAX_STEPS
                if timed and nsteps % _CLOCK_EVERY == 0 and clock() > deadline:
                    t_reached[0] = t
                    return _TIME
                hmin = 16.0 * eps * max(abs(t), 1e-300)
                if h < hmin:
                    t_reached[0] = t
                    if last_nonfinite:
                        stats[_BADSTATE] = bad_nf
                        return _NONFINITE
                    return _UNDERFLOW
                last = False
                if t + 1.01 * h >= t_next:
                    h = t_next - t
                    last = True
                nsteps += 1
                for i in range(n):
                    y1[i] = y[i] + h * _A21 * k1[i]
                rhs(t + _C2 * h, y1, p, u, k2)
                for i in range(n):
                    y1[i] = y[i] + h * (_A31 * k1[i] + _A32 * k2[i])
                rhs(t + _C3 * h, y1, p, u, k3)
                for i in range(n):
                    y1[i] = y[i] + h * (_A41 * k1[i] + _A42 * k2[i] + _A43 * k3[i])
                rhs(t + _C4 * h, y1, p, u, k4)
                for i in range(n):
                    y1[i] = y[i] + h * (_A51 * k1[i] + _A52 * k2[i] + _A53 * k3[i] + _A54 * k4[i])
                rhs(t + _C5 * h, y1, p, u, k5)
                for i in range(n):
                    yst[i] = y[i] + h * (_A61 * k1[i] + _A62 * k2[i] + _A63 * k3[i] + _A64 * k4[i] + _A65 * k5[i])
                tph = t_next if last else t + h
                rhs(tph, yst, p, u, k6)
                for i in range(n):
                    y1[i] = y[i] + h * (_A71 * k1[i] + _A73 * k3[i] + _A74 * k4[i] + _A75 * k5[i] + _A76 * k6[i])
                rhs(tph, y1, p, u, k7)
                stats[_NFEV] += 6
                err = 0.0
                errnn = 0.0  # the largest undershoot below zero of a non-negative state, in tolerances
                for i in range(n):
                    e = h * (_E1 * k1[i] + _E3 * k3[i] + _E4 * k4[i] + _E5 * k5[i] + _E6 * k6[i] + _E7 * k7[i])
                    ay = abs(y[i])
                    sk = atol[i] + rtol * max(ay, abs(y1[i]))
                    err += (e / sk) ** 2
                    if nonneg[i] and y1[i] < 0.0:
                        errnn = max(errnn, -y1[i] / (atol[i] + rtol * ay))
                err = math.sqrt(err / n)
                if not math.isfinite(err):
                    # a step into non-finite values: shrink hard and retry (the first state whose new value or
                    # error term is not finite is the one named if the step size underflows)
                    bad_nf = -1
                    for i in range(n):
                        if bad_nf < 0 and not (math.isfinite(y1[i]) and math.isfinite(
                                _E1 * k1[i] + _E3 * k3[i] + _E4 * k4[i] + _E5 * k5[i] + _E6 * k6[i] + _E7 * k7[i])):
                            bad_nf = i
                    stats[_NREJ] += 1
                    last_nonfinite = True
                    reject = True
                    h *= 0.1
                    continue
                last_nonfinite = False
                # non-negative states (Shampine et al. 2005, as MATLAB's NonNegative option): a step whose
                # undershoot below zero exceeds the tolerance is rejected; an accepted step is projected to
                # >= 0 below. The RHS reads these states clipped at zero, so the FSAL derivative stays valid.
                if err <= 1.0 and errnn > 1.0:
                    err = errnn
                # Hairer's PI controller, fac = err**0.17 / facold**0.04, as one log and one exp (two pow calls
                # were about a tenth of the step's cost outside the RHS)
                lerr = math.log(err)
                fac = math.exp(0.17 * lerr - 0.04 * lfacold)
                fac = max(0.1, min(5.0, fac / 0.9))
                hnew = h / fac
                if err <= 1.0:
                    # accepted
                    lfacold = max(lerr, _LOG_1E_4)
                    stats[_NACC] += 1
                    if detect_stiff:
                        stnum = 0.0
                        stden = 0.0
                        for i in range(n):
                            stnum += (k7[i] - k6[i]) ** 2
                            stden += (y1[i] - yst[i]) ** 2
                        if stden > 0.0 and h * math.sqrt(stnum / stden) > 3.25:
                            nonsti = 0
                            iasti += 1
                            if iasti == 15:
                                t_reached[0] = t
                                return _STIFF
                        else:
                            nonsti += 1
                            if nonsti == 6:
                                iasti = 0
                    need_dense = k < n_t and t_eval[k] < t_next and t_eval[k] <= tph
                    ev_hit = False
                    # switching functions at the end of the step: a crossing in a rule's direction?
                    crossed = False
                    for j in range(n_r):
                        if r_state[j] >= 0:
                            gnew[j] = y1[r_state[j]] - thr[j]
                        else:
                            obs(tph, y1, p, u, ob)
                            gnew[j] = ob[r_obs[j]] - thr[j]
                        if on[j]:
                            if gold[j] >= 0.0 and gnew[j] <= 0.0:
                                crossed = True
                        elif gold[j] <= 0.0 and gnew[j] >= 0.0:
                            crossed = True
                    if need_dense or crossed or (_WITH_EVENTS and n_atoms > 0):
                        for i in range(n):
                            ydiff = y1[i] - y[i]
                            bspl = h * k1[i] - ydiff
                            dq1[i] = ydiff
                            dq2[i] = bspl
                            dq3[i] = ydiff - h * k7[i] - bspl
                            dq4[i] = h * (_D1 * k1[i] + _D3 * k3[i] + _D4 * k4[i] + _D5 * k5[i] + _D6 * k6[i]
                                          + _D7 * k7[i])
                    if crossed:
                        # locate each crossing on the dense output; the earliest ends the step
                        t_root = tph
                        for j in range(n_r):
                            if on[j]:
                                hit = gold[j] >= 0.0 and gnew[j] <= 0.0
                            else:
                                hit = gold[j] <= 0.0 and gnew[j] >= 0.0
                            if not hit:
                                continue
                            if gold[j] == 0.0:
                                tr = t
                            elif gnew[j] == 0.0:
                                tr = tph
                            else:
                                # Illinois (modified regula falsi) on theta in [0, 1], bracket kept
                                a = 0.0
                                fa = gold[j]
                                bb = 1.0
                                fb = gnew[j]
                                side = 0
                                c = 1.0
                                for _it in range(200):
                                    c = (a * fb - bb * fa) / (fb - fa)
                                    if not (c > a and c < bb):
                                        c = 0.5 * (a + bb)
                                    th1 = 1.0 - c
                                    if r_state[j] >= 0:
                                        ii = r_state[j]
                                        fc = (y[ii] + c * (dq1[ii] + th1 * (dq2[ii] + c * (dq3[ii] + th1 * dq4[ii])))
                                              - thr[j])
                                    else:
                                        for i in range(n):
                                            yd[i] = y[i] + c * (dq1[i] + th1 * (dq2[i] + c * (dq3[i] + th1 * dq4[i])))
                                        obs(t + c * h, yd, p, u, ob)
                                        fc = ob[r_obs[j]] - thr[j]
                                    if fc == 0.0 or not math.isfinite(fc):
                                        break
                                    if (fc > 0.0) == (fa > 0.0):
                                        a = c
                                        fa = fc
                                        if side == -1:
                                            fb *= 0.5
                                        side = -1
                                    else:
                                        bb = c
                                        fb = fc
                                        if side == 1:
                                            fa *= 0.5
                                        side = 1
                                    if (bb - a) * h <= 4.0 * eps * max(abs(t), abs(h)):
                                        c = bb
                                        break
                                tr = t + c * h if c < 1.0 else tph
                            if fired < 0 or tr < t_root:
                                fired = j
                                t_root = tr
                        if fired < 0:
                            t_root = tph
                    tl = t
                    th = tph
                    if _WITH_EVENTS and n_atoms > 0:
                        # model events: has a comparison of the triggers changed during the step? Checked at the
                        # quarters of the step on the dense output and at its end: the first quarter where one
                        # differs from the watch brackets the change (a comparison of an explicit function of
                        # time, e.g. sin(10 t) < 0, can change and change back within one long step)
                        for q in range(1, 5):
                            if q < 4:
                                theta = 0.25 * q
                                theta1 = 1.0 - theta
                                tq = t + theta * h
                                for i in range(n):
                                    yd[i] = y[i] + theta * (dq1[i] + theta1 * (dq2[i] + theta * (dq3[i] + theta1 * dq4[i])))
                            else:
                                tq = tph
                                for i in range(n):
                                    yd[i] = y1[i]
                            atoms(tq, yd, p, u, an)
                            for a in range(n_atoms):
                                if an[a] != aw[a]:
                                    ev_hit = True
                            if ev_hit:
                                th = tq
                                break
                            tl = tq
                    if ev_hit:
                        # the first change, by bisection in time on the dense output (as solve._events does)
                        for _it in range(200):
                            tm = 0.5 * (tl + th)
                            if not (tl < tm and tm < th):
                                break
                            theta = (tm - t) / h
                            theta1 = 1.0 - theta
                            for i in range(n):
                                yd[i] = y[i] + theta * (dq1[i] + theta1 * (dq2[i] + theta * (dq3[i] + theta1 * dq4[i])))
                            atoms(tm, yd, p, u, an)
                            changed = False
                            for a in range(n_atoms):
                                if an[a] != aw[a]:
                                    changed = True
                            if changed:
                                th = tm
                            else:
                                tl = tm
                        if fired < 0 or th < t_root:
                            fired = -1
                            t_root = th
                        else:
                            ev_hit = False  # a rule's switch comes first
                    # dense output for the outputs inside (t, t + h), strictly before t_next (and before a switch)
                    if need_dense:
                        while k < n_t and t_eval[k] < t_next and t_eval[k] <= tph and (
                                (fired < 0 and not ev_hit) or t_eval[k] < t_root):
                            theta = (t_eval[k] - t) / h
                            theta1 = 1.0 - theta
                            for i in range(n):
                                v = y[i] + theta * (dq1[i] + theta1 * (dq2[i] + theta * (dq3[i] + theta1 * dq4[i])))
                                if nonneg[i]:
                                    if v < -NEGATIVE_SLACK * (atol[i] + rtol * max(segmax[i], abs(y1[i]))):
                                        t_reached[0] = t_eval[k]
                                        stats[_BADSTATE] = i
                                        return _NEGATIVE
                                    if v < 0.0:
                                        v = 0.0
                                ys[k, i] = v
                            if write_u:
                                for d in range(n_drugs):
                                    us[k, d] = u[d]
                            k += 1
                    if fired >= 0 or ev_hit:
                        # end the step at the switch (or the events' time): the state there from the dense output
                        theta = (t_root - t) / h
                        theta1 = 1.0 - theta
                        for i in range(n):
                            yd[i] = y[i] + theta * (dq1[i] + theta1 * (dq2[i] + theta * (dq3[i] + theta1 * dq4[i])))
                        for i in range(n):
                            segmax[i] = max(segmax[i], abs(yd[i]))
                            y[i] = yd[i]
                        t = t_root
                        t_reached[0] = t
                        if ev_hit:
                            y_ev = True
                        break
                    t = tph
                    t_reached[0] = t
                    for i in range(n):
                        segmax[i] = max(segmax[i], abs(y1[i]))
                        if nonneg[i] and y1[i] < 0.0:
                            if k7[i] < 0.0:
                                # the rate at zero points below zero: the model itself leaves y_i >= 0
                                deficit[i] -= y1[i]
                                if deficit[i] > NEGATIVE_SLACK * (atol[i] + rtol * segmax[i]):
                                    stats[_BADSTATE] = i
                                    return _NEGATIVE
                            y[i] = 0.0
                        else:
                            y[i] = y1[i]
                        k1[i] = k7[i]  # FSAL
                    for j in range(n_r):
                        gold[j] = gnew[j]
                    if last:
                        break
                    if reject:
                        hnew = min(hnew, h)
                    reject = False
                    h = min(hnew, max_step)
                    h_carry = h
                else:
                    stats[_NREJ] += 1
                    hnew = h / min(5.0, math.exp(0.17 * lerr) / 0.9)
                    reject = True
                    h = hnew
            # end of sub-segment: check and clip the non-negative states
            for i in range(n):
                if nonneg[i]:
                    if y[i] < -NEGATIVE_SLACK * (atol[i] + rtol * segmax[i]):
                        t_reached[0] = t
                        stats[_BADSTATE] = i
                        return _NEGATIVE
                    if y[i] < 0.0:
                        y[i] = 0.0
            if y_ev:  # model events due at t: back to the caller, which executes them and resumes
                stats[_BADSTATE] = -1
                for i in range(n):
                    ev_y[i] = y[i]
                ev_y[n] = h_carry
                return _EVENT_DUE
            if fired < 0:
                break
            # a rule switched at t: record it, toggle the rule
            j = fired
            if r_state[j] >= 0:
                v = y[r_state[j]]
            else:
                obs(t, y, p, u, ob)
                v = ob[r_obs[j]]
            if stats[_NEV] < ev_cap:
                e = stats[_NEV]
                ev_t[e] = t
                ev_code[e] = 2 * j if on[j] else 2 * j + 1
                ev_val[e] = v
                ev_thr[e] = thr[j]
            stats[_NEV] += 1
            on[j] = not on[j]
            if stats[_NEV] > max_switches:
                stats[_BADSTATE] = j
                return _SWITCHES
            if t >= t_next:
                break  # the switch fell on the breakpoint: continue there
            # the other rules checked at the switch (no dose here), the rates from now on, outputs at t
            _check_rules(obs, t, y, p, u_zero, ob, on, r_state, r_obs, r_pause, r_resume, r_base, stats, ev_t, ev_code, ev_val, ev_thr)
            for d in range(n_drugs):
                u[d] = rates[b, d] * dscale[d]
            for j in range(n_r):
                if on[j]:
                    u[r_drug[j]] += r_rates[b, j] * dscale[r_drug[j]]
            while k < n_t and t_eval[k] == t:
                for i in range(n):
                    ys[k, i] = y[i]
                if write_u:
                    for d in range(n_drugs):
                        us[k, d] = u[d]
                k += 1
    t_reached[0] = breaks[n_b - 1]
    if ev_mode:
        for i in range(n):
            ev_y[i] = y[i]
        ev_y[n] = h_carry
    return _OK


def _batch_seq_py(
    rhs: Any, obs: Any, t_eval: np.ndarray, breaks: np.ndarray, bolus: np.ndarray, rates: np.ndarray,
    dose_comp: np.ndarray, vol_idx: np.ndarray, vol_const: np.ndarray, DS: np.ndarray,  # noqa: N803
    P: np.ndarray, Y0: np.ndarray,  # noqa: N803
    rtol: float, atol: np.ndarray, nonneg: np.ndarray, max_step: float, max_steps: int, detect_stiff: bool,
    r_drug: np.ndarray, r_state: np.ndarray, r_obs: np.ndarray, n_obs: int, r_pause: np.ndarray,
    r_resume: np.ndarray, R_base: np.ndarray, r_start: np.ndarray, r_bolus: np.ndarray,  # noqa: N803
    r_nbolus: np.ndarray, r_rates: np.ndarray, max_switches: int,
    ys: np.ndarray, us: np.ndarray, stats: np.ndarray, t_reached: np.ndarray, ev_t: np.ndarray,
    ev_code: np.ndarray, ev_val: np.ndarray, ev_thr: np.ndarray, r_given: np.ndarray, status: np.ndarray,
    clock: Any, max_seconds: float, elapsed: np.ndarray, done: np.ndarray,
    plan_of: np.ndarray, b_off: np.ndarray, t_off: np.ndarray, atoms: Any, n_atoms: int,
    EV_Y: np.ndarray,  # noqa: N803
) -> None:
    """Loop the compiled core over patients (rows of ``P``, ``Y0``, ``R_base``, ``DS``), one thread.

    ``DS[j]`` scales patient ``j``'s doses and infusion rates per drug (its covariate-based dosing); ``done[j]``
    is set to 1 when patient ``j`` is finished (the per-patient progress a polling thread reads).

    Per-patient dosing plans and output times (several problems in one call, e.g. a fit's subjects):
    ``breaks``, ``bolus``, ``rates`` hold the plans one after another, ``t_eval`` their output times; patient
    ``j`` uses plan ``q = plan_of[j]``, i.e. rows ``b_off[q]:b_off[q + 1]`` of the plan arrays and
    ``t_off[q]:t_off[q + 1]`` of ``t_eval``; it writes the first ``t_off[q + 1] - t_off[q]`` rows of ``ys[j]``
    (and ``us[j]``) and of ``r_given[j]`` the first ``b_off[q + 1] - b_off[q]``. One plan for all:
    ``plan_of`` zeros, ``b_off = [0, n_b]``, ``t_off = [0, n_t]``. Each patient's numbers are those of
    its own single solve, bit for bit (the core sees the same arrays).
    """
    rhs_f = _as_rhs(rhs)
    obs_f = _as_rhs(obs)
    clock_f = _as_clock(clock)
    atoms_f = _as_rhs(atoms)
    timed = max_seconds < math.inf
    for j in range(P.shape[0]):
        started = clock_f() if timed else 0.0
        deadline = started + max_seconds
        q = plan_of[j]  # patient j's dosing plan and output times: rows b_off[q]:b_off[q+1], t_off[q]:t_off[q+1]
        b0, b1, t0, t1 = b_off[q], b_off[q + 1], t_off[q], t_off[q + 1]
        status[j] = _core_nb(
            rhs_f, obs_f, t_eval[t0:t1], breaks[b0:b1], bolus[b0:b1], rates[b0:b1], dose_comp, vol_idx, vol_const,
            DS[j], P[j], Y0[j], rtol, atol, nonneg, max_step, max_steps, detect_stiff,
            r_drug, r_state, r_obs, n_obs, r_pause, r_resume, R_base[j], r_start, r_bolus, r_nbolus, r_rates,
            max_switches, ys[j, : t1 - t0], us[j, : min(t1 - t0, us.shape[1])], stats[j], t_reached[j : j + 1],
            ev_t[j], ev_code[j], ev_val[j], ev_thr[j], r_given[j, : b1 - b0], clock_f, deadline,
            atoms_f, n_atoms, EV_Y[j],
        )  # fmt: skip
        if timed:
            elapsed[j] = clock_f() - started
        done[j] = 1  # read by a progress thread while the kernel runs (it holds no GIL)


def _batch_par_py(
    rhs: Any, obs: Any, t_eval: np.ndarray, breaks: np.ndarray, bolus: np.ndarray, rates: np.ndarray,
    dose_comp: np.ndarray, vol_idx: np.ndarray, vol_const: np.ndarray, DS: np.ndarray,  # noqa: N803
    P: np.ndarray, Y0: np.ndarray,  # noqa: N803
    rtol: float, atol: np.ndarray, nonneg: np.ndarray, max_step: float, max_steps: int, detect_stiff: bool,
    r_drug: np.ndarray, r_state: np.ndarray, r_obs: np.ndarray, n_obs: int, r_pause: np.ndarray,
    r_resume: np.ndarray, R_base: np.ndarray, r_start: np.ndarray, r_bolus: np.ndarray,  # noqa: N803
    r_nbolus: np.ndarray, r_rates: np.ndarray, max_switches: int,
    ys: np.ndarray, us: np.ndarray, stats: np.ndarray, t_reached: np.ndarray, ev_t: np.ndarray,
    ev_code: np.ndarray, ev_val: np.ndarray, ev_thr: np.ndarray, r_given: np.ndarray, status: np.ndarray,
    clock: Any, max_seconds: float, elapsed: np.ndarray, done: np.ndarray,
    plan_of: np.ndarray, b_off: np.ndarray, t_off: np.ndarray, atoms: Any, n_atoms: int,
    EV_Y: np.ndarray,  # noqa: N803
) -> None:
    """Loop the compiled core over patients (rows of ``P``, ``Y0``, ``R_base``, ``DS``), in numba's threads;
    ``DS`` and ``done`` as in :func:`_batch_seq_py`."""
    rhs_f = _as_rhs(rhs)
    obs_f = _as_rhs(obs)
    clock_f = _as_clock(clock)
    atoms_f = _as_rhs(atoms)
    timed = max_seconds < math.inf
    for j in _prange(P.shape[0]):
        started = clock_f() if timed else 0.0
        deadline = started + max_seconds
        q = plan_of[j]  # patient j's dosing plan and output times: rows b_off[q]:b_off[q+1], t_off[q]:t_off[q+1]
        b0, b1, t0, t1 = b_off[q], b_off[q + 1], t_off[q], t_off[q + 1]
        status[j] = _core_nb(
            rhs_f, obs_f, t_eval[t0:t1], breaks[b0:b1], bolus[b0:b1], rates[b0:b1], dose_comp, vol_idx, vol_const,
            DS[j], P[j], Y0[j], rtol, atol, nonneg, max_step, max_steps, detect_stiff,
            r_drug, r_state, r_obs, n_obs, r_pause, r_resume, R_base[j], r_start, r_bolus, r_nbolus, r_rates,
            max_switches, ys[j, : t1 - t0], us[j, : min(t1 - t0, us.shape[1])], stats[j], t_reached[j : j + 1],
            ev_t[j], ev_code[j], ev_val[j], ev_thr[j], r_given[j, : b1 - b0], clock_f, deadline,
            atoms_f, n_atoms, EV_Y[j],
        )  # fmt: skip
        if timed:
            elapsed[j] = clock_f() - started
        done[j] = 1  # read by a progress thread while the kernel runs (it holds no GIL)


# Set once by _compiled() / _compiled_batch(): the compiled core, numba.prange and the address-to-function
# intrinsics, read by the batch loops when numba compiles them (numba freezes global values at compile time).
_core_nb: Any = None
_prange: Any = range
_as_rhs: Any = None
_as_clock: Any = None


def _address_intrinsic(numba: Any, fty: Any) -> Any:
    """A numba intrinsic turning a C function's address (an integer) into a first-class function of type
    ``fty``, called through that address.

    The batch kernel takes the RHS, the observables and the clock as plain integers: numba unboxes a
    function-typed argument by calling back into Python twice per argument (to read the wrapper address and
    a jit address, after unpickling the signature), about 5 µs each on every call of the kernel, whereas an
    integer unboxes in nanoseconds. The address must be that of a C function of ``fty``'s signature (the
    kernel's signature fixes the types; :class:`_Address` is checked where it is built).
    """
    from numba.core import cgutils
    from numba.extending import intrinsic

    @intrinsic
    def as_function(typingctx: Any, addr: Any) -> Any:
        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            sfunc = cgutils.create_struct_proxy(fty)(context, builder)  # zero-filled: no Python or jit address
            # the C address is the struct's first field ("c_addr"; "addr" before numba 0.59), the one numba
            # calls through
            field = context.data_model_manager[fty]._fields[0]
            setattr(sfunc, field, builder.inttoptr(args[0], context.get_value_type(numba.types.voidptr)))
            return sfunc._getvalue()

        return fty(numba.types.intp), codegen

    return as_function


@functools.lru_cache(maxsize=None)
def _compiled() -> dict[str, Any]:
    """Compile (or load from numba's on-disk cache) the integrator for the RHS function-pointer type."""
    import numba
    from numba import types

    arr1 = types.float64[::1]
    arr2 = types.float64[:, ::1]
    iarr = types.int64[::1]
    barr = types.boolean[::1]
    rhs_sig = types.void(types.float64, arr1, arr1, arr1, arr1)
    fty = types.FunctionType(rhs_sig)
    clock_ty = types.FunctionType(types.float64())
    iarr2 = types.int64[:, ::1]
    core_sig = types.int64(
        fty, fty, arr1, arr1, arr2, arr2, iarr, iarr, arr1, arr1, arr1, arr1,
        types.float64, arr1, barr, types.float64, types.int64, types.boolean,
        iarr, iarr, iarr, types.int64, arr1, arr1, arr1, barr, arr2, iarr2, arr2, types.int64,
        arr2, arr2, iarr, arr1, arr1, iarr, arr1, arr1, types.boolean[:, ::1], clock_ty, types.float64,
        fty, types.int64, arr1,
    )  # fmt: skip
    global _check_rules
    _check_rules = numba.njit(cache=True, error_model="numpy")(_check_rules_py)
    # floating-point contraction only (a multiply and an add may fuse into one FMA, rounded once): the stage sums
    # 2% faster; no other fast-math licence, so the NaN/inf checks stand. The generated RHS is not contracted
    # (slower: 27.6 vs 23.7 ns per call, longer dependency chains on its divisions)
    core = numba.njit(core_sig, cache=True, error_model="numpy", fastmath={"contract"})(
        _variant(_core_py, "_core_py", _WITH_EVENTS=False))
    core_events = _Lazy(lambda: numba.njit(core_sig, cache=True, error_model="numpy", fastmath={"contract"})(
        _variant(_core_py, "_core_events_py", _WITH_EVENTS=True)))
    # helpers for single calls and timing, loaded on first use (a simulation needs neither)
    call = _Lazy(lambda: numba.njit(types.void(fty, types.float64, arr1, arr1, arr1, arr1), cache=True)(_call_py))
    loop = _Lazy(lambda: numba.njit(types.float64(fty, arr1, arr1, arr1, arr1, types.int64), cache=True)(_loop_py))
    arr3 = types.float64[:, :, ::1]
    global _as_rhs, _as_clock
    _as_rhs = _address_intrinsic(numba, fty)
    _as_clock = _address_intrinsic(numba, clock_ty)
    addr = types.intp  # the RHS, the observables and the clock are passed by address (see _address_intrinsic)
    batch_sig = types.void(
        addr, addr, arr1, arr1, arr2, arr2, iarr, iarr, arr1, arr2, arr2, arr2,
        types.float64, arr1, barr, types.float64, types.int64, types.boolean,
        iarr, iarr, iarr, types.int64, arr1, arr1, arr2, barr, arr2, iarr2, arr2, types.int64,
        arr3, arr3, iarr2, arr1, arr2, iarr2, arr2, arr2, types.boolean[:, :, ::1], iarr, addr, types.float64,
        arr1, iarr, iarr, iarr, iarr, addr, types.int64, arr2,
    )  # fmt: skip
    return {"rhs_sig": rhs_sig, "core": core, "core_events": core_events, "batch_sig": batch_sig, "call": call, "loop": loop,
            "loop_states": functools.partial(_loop_states, numba, fty)}


@functools.lru_cache(maxsize=None)
def _loop_states(numba: Any, fty: Any) -> Any:
    t = numba.types
    return numba.njit(t.float64(fty, t.float64[:, ::1], t.float64[::1], t.float64[::1], t.float64[::1], t.int64),
                      cache=True)(_loop_states_py)


class _Lazy:
    """A compiled helper built on its first call (then reused)."""

    def __init__(self, build: Any) -> None:
        self._build = build
        self._fn: Any = None

    def __call__(self, *args: Any) -> Any:
        if self._fn is None:
            self._fn = self._build()
        return self._fn(*args)


def _call_py(f: Any, t: float, y: np.ndarray, p: np.ndarray, u: np.ndarray, out: np.ndarray) -> None:
    f(t, y, p, u, out)


def _loop_py(f: Any, y: np.ndarray, p: np.ndarray, u: np.ndarray, out: np.ndarray, n: int) -> float:
    """Call ``f`` ``n`` times (the cost of the RHS alone); a state varies so nothing is hoisted."""
    s = 0.0
    y0 = y[0]
    for i in range(n):
        y[0] = y0 * (1.0 + 1e-12 * (i & 7))
        f(0.5, y, p, u, out)
        s += out[0]
    y[0] = y0
    return s


def _loop_states_py(f: Any, states: np.ndarray, p: np.ndarray, u: np.ndarray, out: np.ndarray, n: int) -> float:
    """Call ``f`` ``n`` times, cycling through the rows of ``states`` (the cost of the RHS on those states)."""
    s = 0.0
    m = states.shape[0]
    j = 0
    for _ in range(n):
        f(0.5, states[j], p, u, out)
        s += out[0]
        j += 1
        if j == m:
            j = 0
    return s


@functools.lru_cache(maxsize=None)
def _compiled_events() -> Any:
    """The sequential batch entry point over the kernel variant that watches model events (compiled on the
    first model with events, then loaded from numba's on-disk cache); same signature as
    :func:`_compiled_batch`'s."""
    import numba

    _compiled_batch(False)  # the globals the entry point reads (_as_rhs, _as_clock, _prange) set
    base = _compiled()
    lazy = base["core_events"]
    if lazy._fn is None:
        lazy._fn = lazy._build()
    fn = _variant(_batch_seq_py, "_batch_seq_events_py", _core_nb=lazy._fn)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", numba.errors.NumbaExperimentalFeatureWarning)
        kernel = numba.njit(base["batch_sig"], cache=True, nogil=True, error_model="numpy")(fn)
    return kernel.overloads[kernel.signatures[0]].entry_point


@functools.lru_cache(maxsize=None)
def _compiled_batch(parallel: bool) -> Any:
    """Compile (or load from numba's on-disk cache) the loop over patients, sequential or with ``prange``."""
    import numba

    global _core_nb, _prange
    base = _compiled()
    _core_nb = base["core"]
    _prange = numba.prange
    fn = _batch_par_py if parallel else _batch_seq_py
    with warnings.catch_warnings():
        # numba notes that passing two function pointers of one type (the RHS and the observables) unifies
        # first-class function types, an "experimental" feature; the signature is explicit, nothing is inferred
        warnings.simplefilter("ignore", numba.errors.NumbaExperimentalFeatureWarning)
        # nogil: the wall clock is a Python callback (see _clock); numba's worker threads take the GIL to read it
        kernel = numba.njit(base["batch_sig"], parallel=parallel, cache=True, nogil=True, error_model="numpy")(fn)
    # The kernel has one explicit signature: call its compiled entry point directly. Going through the
    # dispatcher would re-derive the numba type of every argument on every call (for the two
    # function-pointer arguments that means building a FunctionType each time, tens of microseconds).
    return kernel.overloads[kernel.signatures[0]].entry_point


# ----------------------------------------------------------------------------------
# Per-model compiled RHS
# ----------------------------------------------------------------------------------


class _Address:
    """A compiled function's address in numba's wrapper-address protocol.

    Passing a ``CFunc`` to compiled code makes numba compare signatures on every call; this object
    hands over the address directly (the type is fixed by the kernel's explicit signature)."""

    __slots__ = ("address",)

    def __init__(self, address: int) -> None:
        self.address = address

    def __wrapper_address__(self) -> int:  # noqa: PLW3201 - numba's protocol name
        return self.address


@dataclass(frozen=True)
class FastFunctions:
    """Numba-compiled right-hand side of one model structure.

    Attributes
    ----------
    rhs : numba.core.ccallback.CFunc
        The compiled ``rhs_into(t, y, p, u, out)``: writes ``dy/dt`` (state
        units per day) into ``out``; float64 contiguous arrays of shapes
        ``(n_states,)``, ``(n_params,)``, ``(n_drugs,)``, ``(n_states,)``. A C
        callback, passed to the compiled integrator as a function pointer.
    compile_time : float
        Seconds spent compiling it.
    source : str
        The Python source that numba compiled (``compile_model(model).source["rhs_fast"]``).
    pointer : object
        ``rhs``'s address in numba's wrapper-address protocol; the batch kernel is passed its integer
        ``.address`` (cheaper per call than the ``CFunc``, see :func:`_address_intrinsic`).
    extend : callable
        ``compile_model(model).extended_params``: the parameter vector the compiled RHS reads (the
        parameters followed by their parameter-only subexpressions, computed once per parameter vector).
    """

    rhs: Any
    compile_time: float
    source: str
    extend: Any = None
    pointer: Any = None

    def evaluate(self, t: float, y: np.ndarray, p: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Call the compiled right-hand side once.

        Parameters
        ----------
        t : float
            Time (days).
        y, p, u : numpy.ndarray
            States, parameters and infusion rates (1-D).

        Returns
        -------
        numpy.ndarray
            ``dy/dt`` (state units per day), a new array.
        """
        y = np.array(y, dtype=float)
        out = np.empty_like(y)
        p = np.array(p, dtype=float)
        if self.extend is not None:
            p = self.extend(p)
        _compiled()["call"](self.rhs, float(t), y, p, np.array(u, dtype=float), out)
        return out


def _rewrite_in_place(source: str, name: str = "rhs") -> str:
    """Turn the generated ``rhs(t, y, p, u)`` (or ``observe``) returning a new array into
    ``rhs_into(t, y, p, u, out)`` (``observe_into``)."""
    lines = source.rstrip("\n").split("\n")
    if not lines[0].startswith(f"def {name}(t, y, p, u):"):
        raise SpecificationError(f"unexpected generated {name} source: cannot build the compiled {name}")
    out_lines = [f"def {name}_into(t, y, p, u, out):"]
    for line in lines[1:]:
        s = line.strip()
        if s.startswith("out = numpy."):
            continue
        if s == "return out":
            out_lines.append("    return")
            continue
        out_lines.append(line)
    return "\n".join(out_lines) + "\n"


# the cache directory (TUMORDYN_CACHE_DIR) is shared with the unit check's cache: one definition, in _fileio
from .._fileio import CACHE_ENV, cache_dir  # noqa: E402,F401

_CACHE_FORMAT = "1"  # bump when the layout of the generated modules changes


def _cache_key(source: str) -> str:
    """Hash of a generated module's source with the versions that its machine code depends on."""
    import hashlib
    import platform
    import sys

    import llvmlite
    import numba

    text = "\0".join((_CACHE_FORMAT, numba.__version__, llvmlite.__version__, sys.version, platform.machine(),
                      np.__version__, source))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _module_file(source: str, kind: str) -> str | None:
    """Path of the file holding exactly ``source`` in the cache (written atomically if absent or different),
    or ``None`` when the cache is disabled or not writable.

    The file only gives numba's cache a location and a source stamp: the code executed is always ``source``
    itself (compiled from the string, never read back from the file), and numba's index keys each cached
    machine-code entry by a hash of the function's bytecode, so an entry compiled from anything else never
    matches.
    """
    import os

    from .._fileio import atomic_write

    root = cache_dir()
    if root is None:
        return None
    folder = os.path.join(root, f"{kind}_v{_CACHE_FORMAT}")
    path = os.path.join(folder, f"{kind}_{_cache_key(source)}.py")
    try:
        try:
            with open(path, encoding="utf-8") as fh:
                if fh.read() == source:
                    return path
        except FileNotFoundError:
            pass
        # temporary file + rename: a concurrent reader sees either no file or the whole file
        atomic_write(path, source, durable=False)
    except OSError:
        return None
    return path


def _compile_generated(source: str, name: str, kind: str) -> Any:
    """Compile the generated module ``source`` and return its function ``name`` as a numba C callback of the
    RHS type, from the on-disk cache when an entry for this exact source exists (see :func:`cache_dir`)."""
    import numba

    import sys
    import types

    path = _module_file(source, kind)
    # a named module in sys.modules: numba's cache records the module of each function and imports it by
    # name when it loads an entry (the name includes the source's hash, so it is unique to this source)
    modname = f"tumordyn._generated_{kind}_{_cache_key(source)}{'' if path is not None else '_nocache'}"
    mod = sys.modules.get(modname)
    if mod is None:
        mod = types.ModuleType(modname)
        # what the generated source uses: math, numpy, numba, and _CACHE (read by its decorators: numba's
        # on-disk cache needs a file behind the code)
        mod.__dict__.update(math=math, numpy=np, numba=numba, _CACHE=path is not None)
        if path is not None:
            mod.__file__ = path
        code = compile(source, path or f"<tumordyn generated {kind}>", "exec")
        exec(code, mod.__dict__)  # noqa: S102 - source generated by sympy's printer from validated expressions
        sys.modules[modname] = mod
    namespace = mod.__dict__
    if path is None:  # no file behind the code: numba cannot cache it; compiled in memory
        return numba.cfunc(_compiled()["rhs_sig"], error_model="numpy")(namespace[name])
    try:
        return numba.cfunc(_compiled()["rhs_sig"], error_model="numpy", cache=True)(namespace[name])
    except OSError:  # pragma: no cover - e.g. a cache directory that became read-only
        return numba.cfunc(_compiled()["rhs_sig"], error_model="numpy")(namespace[name])


@functools.lru_cache(maxsize=64)
def _rhs_from_source(source: str) -> FastFunctions:
    started = _time.perf_counter()
    fn = _compile_generated(source, "rhs_into", "rhs")
    return FastFunctions(rhs=fn, compile_time=_time.perf_counter() - started, source=source)


@functools.lru_cache(maxsize=64)
def _observe_from_source(source: str) -> Any:
    src = _rewrite_in_place(source, "observe")
    return _compile_generated(src, "observe_into", "observe")


def fast_observe(compiled: CompiledModel) -> Any | None:
    """The numba-compiled observables ``observe_into(t, y, p, u, out)`` of a model, or ``None``.

    Compiled alongside the RHS (same function-pointer type) the first time an adaptive rule watches an
    observable; ``out`` has one entry per observable (their units). ``None`` when numba cannot compile the
    generated code (a capability check: adaptive rules on such an observable then run on the scipy path).
    """
    cached = compiled.__dict__.get("_fast_observe", False)
    if cached is not False:
        return cached
    if not numba_available():
        return None
    try:
        fn = _observe_from_source(compiled.source["observe"])
    except Exception:  # noqa: BLE001 - numba's typing errors: the capability is absent, whatever the message
        fn = None
    compiled.__dict__["_fast_observe"] = fn
    return fn


@functools.lru_cache(maxsize=64)
def _atoms_from_source(source: str) -> Any:
    return _compile_generated(source, "atoms_into", "atoms")


def fast_atoms(compiled: CompiledModel) -> Any | None:
    """The numba-compiled comparisons of a model's event triggers (``atoms_into(t, y, p, u, out)``, see
    :attr:`tumordyn.numerics._events.EventFunctions.fast_source`), or ``None`` when numba cannot compile them
    (a capability check: such a model's events run on the scipy engines). Cached on ``compiled``."""
    cached = compiled.__dict__.get("_fast_atoms", False)
    if cached is not False:
        return cached
    fn = None
    if numba_available():
        from ..numerics import event_functions

        try:
            fn = _Address(_atoms_from_source(event_functions(compiled).fast_source).address)
        except Exception:  # noqa: BLE001 - numba's typing errors: the capability is absent, whatever the message
            fn = None
    compiled.__dict__["_fast_atoms"] = fn
    return fn


def supports_events(compiled: CompiledModel) -> bool:
    """Whether the compiled engine can run a model's events (its triggers compile with numba)."""
    return not compiled.n_events or fast_atoms(compiled) is not None


def supports_rules(compiled: CompiledModel, rules: RulePlan | None) -> bool:
    """Whether the compiled engine can run these adaptive rules (observables it watches compile)."""
    if rules is None or not rules.watches_observable:
        return True
    return fast_observe(compiled) is not None


def fast_functions(compiled: CompiledModel) -> FastFunctions:
    """The numba-compiled RHS of a compiled model (built on first use, then reused).

    Parameters
    ----------
    compiled : CompiledModel
        ``compile_model(model)``.

    Returns
    -------
    FastFunctions
        Cached on ``compiled`` and shared by models with the same generated code.

    Raises
    ------
    ImportError
        If numba is not installed (install ``tumordyn[fast]``).
    """
    cached = compiled.__dict__.get("_fast_functions")
    if cached is not None:
        return cached
    if not numba_available():
        raise ImportError("the compiled integrator needs numba: pip install 'tumordyn[fast]'")
    shared = _rhs_from_source(compiled.source["rhs_fast"])
    ff = FastFunctions(rhs=shared.rhs, compile_time=shared.compile_time, source=shared.source,
                       extend=compiled.extended_params, pointer=_Address(shared.rhs.address))
    compiled.__dict__["_fast_functions"] = ff
    return ff


# ----------------------------------------------------------------------------------
# Schedule → arrays
# ----------------------------------------------------------------------------------


def _kernel_constants(compiled: CompiledModel) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Dose compartments, volume indices and constants, and the non-negative mask, as the kernel takes them.

    Built once per compiled model (cached on it, like :func:`fast_functions`).
    """
    cached = compiled.__dict__.get("_kernel_constants")
    if cached is None:
        vol_idx = np.array([v[0] for v in compiled._dose_volume], dtype=np.int64)
        vol_const = np.array([v[1] for v in compiled._dose_volume], dtype=float)
        cached = (np.array(compiled.dose_compartment, dtype=np.int64), vol_idx, vol_const,
                  np.array(compiled.nonnegative, dtype=np.bool_))
        compiled.__dict__["_kernel_constants"] = cached
    return cached


@functools.lru_cache(maxsize=256)
def _kernel_plan(plan: DosingPlan) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Writable copies of a plan's arrays (numba's typed signature takes no read-only arrays); the
    kernel never writes them. Keyed on the plan's identity (plans are memoised)."""
    return plan.breaks.copy(), plan.bolus.copy(), plan.rates.copy()


def _many_layout(problems: tuple[Problem, ...]) -> tuple[np.ndarray, ...]:
    """How :meth:`CompiledEngine.solve_many` lays out several problems for the kernel (see
    :func:`_batch_seq_py`): the output times and the plans' breakpoints, bolus amounts and rates one after
    another, each patient's plan index, the offsets of each plan's rows and output times, and a ``(B, n_drugs)``
    array of ones (the dose scale when no problem has one), and the most output times of one problem.

    Kept on the first problem for the same problems in the same order (a fit refills the same problems'
    parameters and initial states, which are read per call; a problem's plan and output times never change),
    so it lives as long as they do.
    """
    first = problems[0]
    cached = first.__dict__.get("_many_layout")
    if cached is not None and len(cached[0]) == len(problems) and all(a is b for a, b in zip(cached[0], problems)):
        return cached[1]
    c = problems[0].compiled
    b_off = np.zeros(len(problems) + 1, dtype=np.int64)
    np.cumsum([p.plan.breaks.size for p in problems], out=b_off[1:])
    t_off = np.zeros(len(problems) + 1, dtype=np.int64)
    np.cumsum([p.t_eval.size for p in problems], out=t_off[1:])
    plan_of = np.repeat(np.arange(len(problems), dtype=np.int64), [p.n_patients for p in problems])
    layout = (np.concatenate([p.t_eval for p in problems]), np.concatenate([p.plan.breaks for p in problems]),
              np.concatenate([p.plan.bolus for p in problems]), np.concatenate([p.plan.rates for p in problems]),
              plan_of, b_off, t_off, np.ones((plan_of.size, c.n_drugs)), int(np.max(np.diff(t_off))))
    first.__dict__["_many_layout"] = (problems, layout)  # (a frozen dataclass: its __dict__ as a cache slot)
    return layout


@functools.lru_cache(maxsize=64)
def _kernel_rules(rules: RulePlan) -> tuple[np.ndarray, ...]:
    """Writable copies of a rule plan's arrays, as the kernel takes them (keyed on the plan's identity)."""
    return (rules.drug.copy(), rules.state.copy(), rules.obs.copy(), rules.pause.copy(), rules.resume.copy(),
            rules.start_on.copy(), rules.bolus.copy(), rules.n_bolus.copy(), rules.rates.copy())


@functools.lru_cache(maxsize=256)
def _no_rules(n_b: int) -> tuple[np.ndarray, ...]:
    """Empty rule arrays for a plan of ``n_b`` breakpoints (zero-size: nothing in them is ever read or
    written; cached like :func:`_kernel_plan`)."""
    i0 = np.zeros(0, dtype=np.int64)
    f0 = np.zeros(0)
    return (i0, i0, i0, f0, f0, np.zeros(0, dtype=np.bool_), np.zeros((n_b, 0)), np.zeros((n_b, 0), dtype=np.int64),
            np.zeros((n_b, 0)))


@functools.lru_cache(maxsize=256)
def _one_plan(n_patients: int, n_b: int, n_t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The per-patient plan layout of a problem with one plan for all (see :func:`_batch_seq_py`): every
    patient on plan 0, its ``n_b`` breakpoints and ``n_t`` output times. The kernel only reads these arrays
    (cached like :func:`_kernel_plan`)."""
    return (np.zeros(n_patients, dtype=np.int64), np.array([0, n_b], dtype=np.int64),
            np.array([0, n_t], dtype=np.int64))


@functools.lru_cache(maxsize=256)
def _no_outputs(n_patients: int, n_b: int, n_drugs: int) -> tuple[np.ndarray, ...]:
    """Zero-size output arrays for a solve without rules or events (rates at the outputs, switch records,
    gated doses given, the event state): nothing is read or written in them (cached like :func:`_no_rules`)."""
    f0 = np.empty((n_patients, 0))
    return (np.empty((n_patients, 0, n_drugs)), f0, np.empty((n_patients, 0), dtype=np.int64),
            np.empty((n_patients, n_b, 0), dtype=np.bool_))


@functools.lru_cache(maxsize=256)
def _unit_dose_scale(n_patients: int, n_drugs: int) -> np.ndarray:
    """Dose scale 1 for every patient and drug (no covariate-based dosing; the kernel only reads it)."""
    return np.ones((n_patients, n_drugs))


def _kernel_atol(options: SolverOptions) -> np.ndarray:
    """A writable float copy of ``options.atol`` (read-only there; numba's typed signature takes no read-only
    arrays), kept on the immutable options (the kernel only reads it)."""
    a = options.__dict__.get("_kernel_atol")
    if a is None:
        a = np.array(options.atol, dtype=float)
        options.__dict__["_kernel_atol"] = a
    return a


#: Switch records kept per patient in a large batch; a patient with more is solved again with room for all.
_EVENT_ROOM = 64

#: The compiled core's messages by status (its statuses are SolverStatus codes).
_MESSAGES = {
    int(SolverStatus.STEP_SIZE_UNDERFLOW): "step size underflow",
    int(SolverStatus.TOO_MANY_STEPS): "too many steps",
    int(SolverStatus.NON_FINITE): "non-finite values",
    int(SolverStatus.STIFF): "stiffness detected",
    int(SolverStatus.NEGATIVE_STATE): "a non-negative state fell below zero",
    int(SolverStatus.TOO_MANY_SWITCHES): "adaptive rules switched too often",
    int(SolverStatus.TIME_BUDGET): "the wall-time budget (max_seconds) ran out",
}


@functools.lru_cache(maxsize=None)
def _clock() -> _Address:
    """The wall clock the kernel reads for ``Solver.max_seconds``: ``time.perf_counter`` as a C callback.

    numba has no clock in nopython mode (0.58 and later), so the kernel is passed the address of a ctypes
    callback into Python (it takes the GIL for each reading: the batch kernel is compiled ``nogil``, and
    the clock is read only every :data:`_CLOCK_EVERY` step attempts, and only when a budget is set). The
    callback object is kept alive by this cache for the life of the process. The callback is the builtin
    itself, not a Python function: no bytecode runs in it, so a Ctrl-C stays pending until the kernel
    returns (as without a budget) instead of being raised, and lost, inside the callback.
    """
    import ctypes

    fn = ctypes.CFUNCTYPE(ctypes.c_double)(_time.perf_counter)
    _CLOCK_KEEP.append(fn)
    return _Address(ctypes.cast(fn, ctypes.c_void_p).value)


_CLOCK_KEEP: list = []


def _patient_outcomes(status: np.ndarray, stats: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """After a kernel call: the failed patients' outputs set to NaN (in place); returns the mask of failed
    patients (``None`` when every patient solved, the common case) and each patient's state to blame
    (-1 unless it went negative or non-finite with a state to name)."""
    if not status.any():  # _OK is 0
        return None, np.full(status.size, -1, dtype=np.int64)
    failed = status != _OK
    ys[failed] = np.nan
    return failed, np.where((status == _NEGATIVE) | (status == _NONFINITE), stats[:, _BADSTATE], -1)


def _reached_and_messages(status: np.ndarray, t_reached: np.ndarray, failed: np.ndarray | None,
                          t_end: float) -> tuple[str, ...]:
    """Set ``t_reached`` (in place) to ``t_end`` for the patients that solved (the kernel's value stays for a
    failed one) and return each patient's message (empty when it solved)."""
    if failed is None:
        t_reached.fill(t_end)
        return ("",) * status.size
    t_reached[~failed] = t_end
    return tuple(_MESSAGES.get(int(x), "") for x in status)


class CompiledEngine:
    """The compiled Dormand–Prince 5(4) engine (``method="dopri5"``) behind the one solve interface.

    Parameters
    ----------
    parallel : bool, optional
        Spread the patients over numba's threads (``numba.prange``); each patient's answer is the same
        bit for bit whatever the thread count.
    """

    name = FAST_METHOD

    def __init__(self, parallel: bool = False) -> None:
        self.parallel = bool(parallel)

    def solve(self, problem: Problem, options: SolverOptions, *, detect_stiff: bool = False,
              done: np.ndarray | None = None) -> Solution:
        """Integrate every patient of ``problem`` (see :class:`tumordyn.solve._problem.Engine`).

        With adaptive rules (``problem.rules``) the switches are located in the kernel; the solution's
        :attr:`~tumordyn.solve._problem.Solution.rules` holds each patient's switches, gated doses given and rates.
        ``problem.dose_scale`` scales each patient's doses and rates in the kernel. ``done`` (int64, shape
        ``(B,)``, optional): the kernel sets ``done[j] = 1`` as patient ``j`` finishes, so that another
        thread can count the patients while the kernel runs (per-patient progress).

        Raises
        ------
        SpecificationError
            If a rule watches an observable numba cannot compile (:func:`supports_rules`), or a rule's
            baseline is not > 0.
        """
        max_switches = options.max_switches

        c = problem.compiled
        if c.n_events:
            return self._solve_events(problem, options, detect_stiff, done)
        ff = fast_functions(c)
        plan = problem.plan
        rp = problem.rules
        dose_comp, vol_idx, vol_const, nonneg = _kernel_constants(c)
        breaks, bolus, rates = _kernel_plan(plan)
        te = problem.t_eval
        B = problem.n_patients
        n_b = breaks.size
        obs = ff.pointer.address  # never called without a rule on an observable
        if rp is None:
            rarr = _no_rules(n_b)
            base = _no_outputs(B, n_b, c.n_drugs)[1]  # zero-size (B, 0): no rule baselines
            room = 0
        else:
            if not supports_rules(c, rp):
                raise SpecificationError(
                    f"model {c.model_name!r}: an adaptive rule watches an observable the compiled engine cannot "
                    "compile; use a scipy method (e.g. method='LSODA')"
                )
            if rp.watches_observable:
                obs = fast_observe(c).address
            rarr = _kernel_rules(rp)
            base = np.ascontiguousarray(rp.baselines(c, problem.params, problem.y0))
            room = max_switches + 1 if B <= 8 else _EVENT_ROOM
        params = c.extended_params(problem.params)  # parameter-only subexpressions computed once per patient
        ds = _unit_dose_scale(B, c.n_drugs) if problem.dose_scale is None else problem.dose_scale
        if done is None or done.shape != (B,) or done.dtype != np.int64 or not done.flags.c_contiguous:
            done = np.zeros(B, dtype=np.int64)
        out = self._run(ff.pointer.address, obs, te, breaks, bolus, rates, dose_comp, vol_idx, vol_const, params,
                        problem.y0, options, nonneg, detect_stiff, rarr, base, rp is not None, room,
                        int(max_switches), len(c.observable_names), c.n_drugs, ds, done)
        ys, us, stats, t_reached, status, ev_t, ev_code, ev_val, ev_thr, given, elapsed = out
        if rp is not None and room < max_switches + 1:
            # patients with more switches than the room kept: solved again with room for every switch
            over = np.flatnonzero(stats[:, _NEV] > room)
            if over.size:
                more = self._run(ff.pointer.address, obs, te, breaks, bolus, rates, dose_comp, vol_idx, vol_const,
                                 params[over], problem.y0[over], options, nonneg, detect_stiff, rarr,
                                 np.ascontiguousarray(base[over]), True, max_switches + 1, int(max_switches),
                                 len(c.observable_names), c.n_drugs, np.ascontiguousarray(ds[over]),
                                 np.zeros(over.size, dtype=np.int64))
                ys[over], us[over], stats[over], t_reached[over], status[over] = more[:5]
                pad = max_switches + 1
                ev_t, ev_code, ev_val, ev_thr = (np.pad(a, ((0, 0), (0, pad - room))) for a in
                                                 (ev_t, ev_code, ev_val, ev_thr))
                ev_t[over], ev_code[over], ev_val[over], ev_thr[over] = more[5:9]
                given[over] = more[9]
                elapsed[over] += more[10]
        failed, bad_state = _patient_outcomes(status, stats, ys)
        messages = _reached_and_messages(status, t_reached, failed, plan.t_end)
        errors: tuple = ()
        rule_log = None
        if rp is not None:
            from ._problem import RuleLog
            from ..errors import SolverError

            chatter = np.flatnonzero(status == _SWITCHES)
            if chatter.size:
                errs: list = [None] * B
                for j in chatter.tolist():
                    drug = rp.regimen.rules[int(stats[j, _BADSTATE])].drug
                    errs[j] = SolverError(
                        f"adaptive rule for {drug!r} switched more than {max_switches} times by t = "
                        f"{t_reached[j]:g} days (chattering); widen the gap between pause_below and resume_at",
                        t=float(t_reached[j]), status=SolverStatus.TOO_MANY_SWITCHES,
                    )
                errors = tuple(errs)
            if failed is not None:
                us[failed] = np.nan
            n_ev = np.minimum(stats[:, _NEV], ev_t.shape[1])
            rule_log = RuleLog(us, n_ev, ev_t, ev_code, ev_val, ev_thr, given, np.array(stats[:, _NSEG]),
                               plan.n_doses + np.array(stats[:, _NDOSE]))
        zeros = np.zeros((2, B), dtype=np.int64)
        return Solution(te, ys, plan.rates_at(te), status, t_reached, bad_state, messages,
                        stats[:, _NFEV].copy(), zeros[0], zeros[1], (FAST_METHOD,) * B, plan.n_segments,
                        plan.n_doses, errors, rule_log, wall=elapsed if options.max_seconds is not None else None)

    def solve_many(self, problems: Sequence[Problem], options: SolverOptions, *,
                   detect_stiff: bool = False) -> list[Solution]:
        """Integrate several problems of one model, each with its own dosing plan and output times, in one
        call of the kernel (a fit's subjects: one compiled call per objective evaluation).

        Every patient's answer is that of its problem solved alone with :meth:`solve`, bit for bit (the
        compiled core is handed the same arrays; only the loop over patients is shared). Problems with
        adaptive rules, or a model with events, are passed to :meth:`solve` one at a time.

        Parameters
        ----------
        problems : sequence of Problem
            Problems of one compiled model (``problem.compiled`` the same object).
        options : SolverOptions
            As for :meth:`solve`.
        detect_stiff : bool, optional
            Stop a patient with :attr:`~tumordyn.errors.SolverStatus.STIFF` when the problem turns stiff.

        Returns
        -------
        list of Solution
            One per problem, in order.

        Raises
        ------
        SpecificationError
            If the problems are not of one compiled model.
        """
        problems = list(problems)
        out = self._call_many(problems, options, detect_stiff)
        if out is None:
            return [self.solve(p, options, detect_stiff=detect_stiff) for p in problems]
        return self._many_solutions(problems, options, out)

    def states_many(self, problems: Sequence[Problem],
                    options: SolverOptions) -> tuple[list[np.ndarray] | None, list[Solution] | None]:
        """:meth:`solve_many` for a caller that reads only the states (a fit's evaluations): ``(ys, None)`` with
        each problem's states, shape ``(n_patients, len(t_eval), n_states)`` (its :class:`Solution`'s ``y``,
        the same numbers), when every patient solved; else ``(None, solutions)``, the :meth:`solve_many`
        answer (from the same kernel call) for the caller to read the failures from."""
        problems = list(problems)
        out = self._call_many(problems, options, False)
        if out is None:
            return None, [self.solve(p, options) for p in problems]
        ys, status = out[0], out[4]
        if status.any():  # SolverStatus.OK is 0
            return None, self._many_solutions(problems, options, out)
        ys_of, r0 = [], 0
        for prob in problems:
            r1 = r0 + prob.n_patients
            ys_of.append(ys[r0:r1, : prob.t_eval.size])
            r0 = r1
        return ys_of, None

    def _call_many(self, problems: list[Problem], options: SolverOptions, detect_stiff: bool) -> tuple[Any, ...] | None:
        """The one kernel call of :meth:`solve_many` for all ``problems`` (its raw outputs), or ``None`` where the
        problems are solved one at a time instead (one problem, events or adaptive rules)."""
        if not problems:
            return None
        c = problems[0].compiled
        if any(p.compiled is not c for p in problems):
            raise SpecificationError("solve_many: every problem must be of the same compiled model "
                                     f"({c.model_name!r})")
        if len(problems) == 1 or c.n_events or any(p.rules is not None for p in problems):
            return None
        ff = fast_functions(c)
        dose_comp, vol_idx, vol_const, nonneg = _kernel_constants(c)
        te, breaks, bolus, rates, plan_of, b_off, t_off, ones, n_t = _many_layout(tuple(problems))
        Y0 = np.concatenate([p.y0 for p in problems])
        params = c.extended_params(np.concatenate([p.params for p in problems]))  # once for all patients
        B = Y0.shape[0]
        ds = ones if all(p.dose_scale is None for p in problems) else np.concatenate(
            [ones[: p.n_patients] if p.dose_scale is None else p.dose_scale for p in problems])
        addr = ff.pointer.address
        out = self._run(addr, addr, te, breaks, bolus, rates, dose_comp, vol_idx, vol_const, params, Y0, options,
                        nonneg, detect_stiff, _no_rules(1), np.zeros((B, 0)), False, 0, int(options.max_switches),
                        len(c.observable_names), c.n_drugs, ds, np.zeros(B, dtype=np.int64), (plan_of, b_off, t_off),
                        n_t)
        return out

    def _many_solutions(self, problems: list[Problem], options: SolverOptions, out: tuple[Any, ...]) -> list[Solution]:
        """The :class:`Solution` of every problem from :meth:`_call_many`'s outputs."""
        ys, stats, t_reached, status = out[0], out[2], out[3], out[4]
        B = ys.shape[0]
        wall = out[10] if options.max_seconds is not None else None
        # what every patient's Solution holds, for all at once (each problem's is a slice)
        nfev = stats[:, _NFEV].copy()
        zeros = np.zeros((2, B), dtype=np.int64)
        failed, bad_state = _patient_outcomes(status, stats, ys)
        sols = []
        r0 = 0
        for prob in problems:
            r1 = r0 + prob.n_patients
            plan, te_k = prob.plan, prob.t_eval
            rows = slice(r0, r1)
            messages = _reached_and_messages(status[rows], t_reached[rows], None if failed is None else failed[rows],
                                             plan.t_end)  # t_reached[rows] is a view: filled in place
            sols.append(Solution(te_k, ys[rows, : te_k.size], plan.rates_at(te_k), status[rows], t_reached[rows],
                                 bad_state[rows], messages, nfev[rows], zeros[0, rows], zeros[1, rows],
                                 (FAST_METHOD,) * (r1 - r0), plan.n_segments, plan.n_doses, (), None,
                                 wall=None if wall is None else wall[rows]))
            r0 = r1
        return sols

    def _solve_events(self, problem: Problem, options: SolverOptions, detect_stiff: bool,
                      done: np.ndarray | None) -> Solution:
        """Integrate a model with events, patient by patient: the kernel runs until a comparison of the
        triggers changes (located in the kernel, see :func:`_core_py`), a queued execution time or the end;
        the events due are executed by :class:`~tumordyn.solve._events.EventQueue` (the semantics the scipy
        engines use) and the kernel resumes from there. A model whose triggers numba cannot compile
        (:func:`supports_events`), or adaptive rules with events, are refused by status ``UNSUPPORTED``."""
        from ._problem import unsupported

        c = problem.compiled
        if problem.rules is not None:
            return unsupported(problem, COMPILED_METHOD, f"model {c.model_name!r} has events: adaptive dosing rules "
                               "cannot be combined with model events yet; give a fixed schedule")
        fa = fast_atoms(c)
        if fa is None:
            return unsupported(problem, COMPILED_METHOD, f"the triggers of the events of model {c.model_name!r} "
                               "could not be compiled with numba; use a scipy method such as 'LSODA'")
        from ..errors import SolverError

        ff = fast_functions(c)
        fn = _compiled_events()  # compiled or loaded before any patient's wall-time budget starts
        dose_comp, vol_idx, vol_const, nonneg = _kernel_constants(c)
        plan = problem.plan
        breaks, bolus, rates = _kernel_plan(plan)
        te = problem.t_eval
        B = problem.n_patients
        n = c.n_states
        params = c.extended_params(problem.params)
        ds_all = np.ones((B, c.n_drugs)) if problem.dose_scale is None else problem.dose_scale
        ys = np.full((B, te.size, n), np.nan)
        status = np.zeros(B, dtype=np.int64)
        t_reached = np.full(B, float(plan.t_end))
        bad_state = np.full(B, -1, dtype=np.int64)
        nfev = np.zeros(B, dtype=np.int64)
        elapsed = np.zeros(B)
        messages = [""] * B
        errors: list[Any] = [None] * B
        for j in range(B):
            started = _time.perf_counter()
            try:
                code, tr, bs, nfev[j] = self._events_patient(
                    c, ff, fa, fn, problem.params[j], params[j], problem.y0[j], ds_all[j], breaks, bolus, rates, te,
                    dose_comp, vol_idx, vol_const, nonneg, options, detect_stiff, started, ys[j])
            except SolverError as err:
                code, tr, bs = int(err.status), err.t, err.state_index
                errors[j] = err
                messages[j] = err.solver_message
            if code != _OK:
                status[j] = code
                t_reached[j] = plan.t0 if tr is None else tr
                bad_state[j] = -1 if bs is None else bs
                ys[j] = np.nan
                if errors[j] is None:
                    messages[j] = _MESSAGES.get(code, "")
            elapsed[j] = _time.perf_counter() - started
            if done is not None and done.shape == (B,):
                done[j] = 1
        z = np.zeros(B, dtype=np.int64)
        return Solution(te, ys, plan.rates_at(te), status, t_reached, bad_state, tuple(messages), nfev, z, z.copy(),
                        (FAST_METHOD,) * B, plan.n_segments, plan.n_doses, tuple(errors), None,
                        wall=elapsed if options.max_seconds is not None else None)

    def _events_patient(self, c: Any, ff: Any, fa: Any, fn: Any, p: np.ndarray, pext: np.ndarray, y0: np.ndarray,
                        ds: np.ndarray, breaks: np.ndarray, bolus: np.ndarray, rates: np.ndarray, te: np.ndarray,
                        dose_comp: np.ndarray, vol_idx: np.ndarray, vol_const: np.ndarray, nonneg: np.ndarray,
                        options: SolverOptions, detect_stiff: bool, started: float,
                        out: np.ndarray) -> tuple[int, float, int, int]:
        """One patient of :meth:`_solve_events`: fills ``out`` (the outputs) and returns ``(status, time
        reached, state to blame, evaluations)``; an event's own error (a non-finite or negative assignment,
        too many executions) is raised by :class:`~tumordyn.solve._events.EventQueue`."""
        from ._events import EventQueue

        n = c.n_states
        n_b = breaks.size
        n_t = te.size
        t_end = float(breaks[-1])
        events = EventQueue(c, p, f"model {c.model_name!r}", options.max_switches)
        y = np.array(y0, dtype=float)
        ev_y = np.zeros((1, n + 1))
        timed = options.max_seconds is not None
        steps = 0
        nfev = 0
        b = -1  # the last breakpoint of the plan whose doses are given
        k = 0  # the next output
        tc = float(breaks[0])
        # the kernel's arguments that do not change between its calls
        ds1, p1 = ds[None, :].copy(), pext[None, :].copy()
        atol = np.array(options.atol, dtype=float)
        f0, i0 = np.empty((1, 0)), np.empty((1, 0), dtype=np.int64)
        u0 = np.empty((1, 0, c.n_drugs))
        stats = np.empty((1, _N_STATS), dtype=np.int64)
        t_r = np.empty(1)
        st = np.empty(1, dtype=np.int64)
        wall, done = np.zeros(1), np.zeros(1, dtype=np.int64)
        plan_of = np.zeros(1, dtype=np.int64)  # one plan (the segment's) for the one patient
        rhs, atoms, n_atoms = ff.pointer.address, fa.address, events.ev.n_atoms
        # bounded: each pass ends at a later time (a breakpoint, a located change, an execution time or the
        # end) after at least one step attempt or breakpoint, or stops
        for _ in range(int(options.max_steps) + n_b + 2 * int(options.max_switches) + 8):
            # 1. the instant tc: doses due now, then the triggers, then the events due now
            while b + 1 < n_b and breaks[b + 1] <= tc:
                b += 1
                for d in range(c.n_drugs):
                    amt = bolus[b, d] * ds[d]
                    if amt != 0.0:
                        comp, inc = c.dose_jump(d, amt, p)  # the one bolus rule (as the batch engine)
                        if comp >= 0:
                            y[comp] += inc
            events.update_triggers(tc, y)
            events.execute_due(tc, y)
            while k < n_t and te[k] <= tc:
                out[k] = y
                k += 1
            if tc >= t_end:
                return _OK, t_end, -1, nfev
            # 2. the kernel from tc to the next execution time or the end, across the plan's breakpoints
            t_stop = min(t_end, events.next_time())
            hi = int(np.searchsorted(breaks, t_stop, side="left"))  # breakpoints in (tc, t_stop)
            lo = b + 1
            m = hi - lo
            bk = np.empty(m + 2)
            bk[0], bk[1:m + 1], bk[m + 1] = tc, breaks[lo:hi], t_stop
            bol = np.zeros((m + 2, c.n_drugs))
            bol[1:m + 1] = bolus[lo:hi]
            rat = np.zeros((m + 2, c.n_drugs))
            rat[0], rat[1:m + 1] = rates[b], rates[lo:hi]
            k_hi = int(np.searchsorted(te, t_stop, side="left"))
            te_s = np.ascontiguousarray(te[k:k_hi])
            ys_s = np.empty((1, te_s.size, n))
            left = float(options.max_seconds) - (_time.perf_counter() - started) if timed else math.inf
            if left <= 0.0:
                return _TIME, tc, -1, nfev
            ev_y[0, :n] = y
            ev_y[0, n] = 0.0  # each restart begins with Hairer's initial-step search, as the scipy engines restart
            r_drug, r_state, r_obs, r_pause, r_resume, r_start, r_bolus, r_nbolus, r_rates = _no_rules(m + 2)
            fn(
                rhs, rhs, te_s, bk, bol, rat, dose_comp, vol_idx, vol_const, ds1, p1, y[None, :].copy(),
                float(options.rtol), atol, nonneg, float(options.max_step), int(options.max_steps) - steps,
                bool(detect_stiff), r_drug, r_state, r_obs, 0, r_pause, r_resume, f0, r_start,
                r_bolus, r_nbolus, r_rates, int(options.max_switches), ys_s, u0, stats, t_r, f0, i0, f0, f0,
                np.empty((1, m + 2, 0), dtype=np.bool_), st, _clock().address, left, wall, done, plan_of,
                np.array([0, m + 2], dtype=np.int64), np.array([0, te_s.size], dtype=np.int64), atoms, n_atoms, ev_y,
            )  # fmt: skip
            steps += int(stats[0, _NACC] + stats[0, _NREJ])
            nfev += int(stats[0, _NFEV])
            code = int(st[0])
            if code not in (_OK, _EVENT_DUE):
                return code, float(t_r[0]), int(stats[0, _BADSTATE]) if code in (_NEGATIVE, _NONFINITE) else -1, nfev
            t_new = t_stop if code == _OK else float(t_r[0])
            n_w = int(np.searchsorted(te_s, t_new, side="left"))  # the outputs written: before t_new
            out[k:k + n_w] = ys_s[0, :n_w]
            k += n_w
            y = ev_y[0, :n].copy()
            # the breakpoints the kernel passed (their doses given): those before t_new, and the one it stopped
            # at after giving its doses
            passed = int(np.searchsorted(bk[1:m + 1], t_new, side="left"))
            if code == _EVENT_DUE and 0 < stats[0, _BADSTATE] <= m:
                passed = int(stats[0, _BADSTATE])
            b = lo + passed - 1
            tc = t_new
        return _MAX_STEPS, tc, -1, nfev

    def _run(self, rhs: Any, obs: Any, te: np.ndarray, breaks: np.ndarray, bolus: np.ndarray, rates: np.ndarray,
             dose_comp: np.ndarray, vol_idx: np.ndarray, vol_const: np.ndarray, P: np.ndarray, Y0: np.ndarray,
             options: SolverOptions, nonneg: np.ndarray, detect_stiff: bool, rarr: tuple[np.ndarray, ...],
             base: np.ndarray, with_u: bool, room: int, max_switches: int, n_obs: int, n_drugs: int,
             ds: np.ndarray, done: np.ndarray, plans: tuple[np.ndarray, ...] | None = None,
             n_t: int | None = None) -> tuple[np.ndarray, ...]:
        """One call of the batched kernel; returns its output arrays.

        ``plans``: ``(plan_of, b_off, t_off)`` for per-patient plans and output times (see :func:`_batch_seq_py`;
        ``te`` and the plan arrays then hold them one after another, ``ys`` has as many rows as the longest);
        ``None``: one plan and one ``te`` for every patient. ``n_t``: with ``plans``, the most output times of one
        of its plans (see :func:`_many_layout`)."""
        B = P.shape[0]
        n = Y0.shape[1]
        n_r = rarr[0].size
        if plans is None:
            plans, n_t = _one_plan(B, breaks.shape[0], te.size), te.size
        # the kernel writes every entry of ys (a failed patient's rows are set to NaN afterwards), stats,
        # t_reached and status; the others are zero-filled when they have entries (a fixed schedule: none)
        ys = np.empty((B, n_t, n))
        stats = np.empty((B, _N_STATS), dtype=np.int64)
        t_reached = np.empty(B)
        status = np.empty(B, dtype=np.int64)
        none = _no_outputs(B, breaks.size, n_drugs)  # zero-size: nothing is read or written in them
        us = np.zeros((B, n_t, n_drugs)) if with_u else none[0]
        if room or n_r:
            ev_t = np.zeros((B, room))
            ev_code = np.zeros((B, room), dtype=np.int64)
            ev_val = np.zeros((B, room))
            ev_thr = np.zeros((B, room))
            given = np.zeros((B, breaks.size, n_r), dtype=np.bool_)
        else:
            ev_t = ev_val = ev_thr = none[1]
            ev_code = none[2]
            given = none[3]
        elapsed = np.zeros(B)
        max_seconds = math.inf if options.max_seconds is None else float(options.max_seconds)
        r_drug, r_state, r_obs, r_pause, r_resume, r_start, r_bolus, r_nbolus, r_rates = rarr
        fn = _compiled_batch(self.parallel)  # the compiled entry point: argument types must match exactly
        fn(
            rhs, obs, np.ascontiguousarray(te, dtype=float), breaks, bolus, rates, dose_comp, vol_idx, vol_const,
            np.ascontiguousarray(ds, dtype=float), np.ascontiguousarray(P, dtype=float), np.ascontiguousarray(Y0, dtype=float), float(options.rtol),
            _kernel_atol(options), nonneg, float(options.max_step), int(options.max_steps),
            bool(detect_stiff), r_drug, r_state, r_obs, int(n_obs), r_pause, r_resume,
            np.ascontiguousarray(base, dtype=float), r_start, r_bolus,
            r_nbolus, r_rates, int(max_switches), ys, us, stats, t_reached, ev_t, ev_code, ev_val, ev_thr, given,
            status, _clock().address, max_seconds, elapsed, done, *plans, rhs, 0, none[1],
        )  # fmt: skip
        return ys, us, stats, t_reached, status, ev_t, ev_code, ev_val, ev_thr, given, elapsed


def rhs_call_cost(compiled: CompiledModel, n_calls: int = 1_000_000, *, cpu_time: bool = True,
                  states: np.ndarray | None = None, params: np.ndarray | None = None) -> float:
    """Seconds per call of the compiled RHS, measured in a tight numba loop (the floor of any integrator).

    Measure it on the states a solve visits (``states``, e.g. a trajectory's ``y``): the cost of some
    terms depends on the values (e.g. ``pow`` of a drug concentration that is zero before the first dose).

    Parameters
    ----------
    compiled : CompiledModel
        ``compile_model(model)``.
    n_calls : int, optional
        Calls to time.
    cpu_time : bool, optional
        Measure the thread's CPU time (robust on a shared machine) rather than wall time.
    states : numpy.ndarray, optional
        States ``(m, n_states)`` to cycle through (default: the model's initial state, varied in the last
        bits).
    params : numpy.ndarray, optional
        Parameter vector ``(n_params,)`` (default: the model's defaults).

    Returns
    -------
    float
        Seconds per RHS evaluation (called through the same function pointer the integrator uses).
    """
    ff = fast_functions(compiled)
    loop = _compiled()["loop"]
    y = np.ascontiguousarray(compiled.initial, dtype=float).copy()
    p = compiled.extended_params(compiled.defaults if params is None else params)
    u = np.zeros(compiled.n_drugs)
    out = np.empty(compiled.n_states)
    clock = _time.thread_time if cpu_time else _time.perf_counter
    if states is not None:
        ys = np.array(states, dtype=float, order="C").reshape(-1, compiled.n_states)  # a writable copy
        loop_s = _compiled()["loop_states"]()
        loop_s(ff.rhs, ys, p, u, out, 1000)
        started = clock()
        loop_s(ff.rhs, ys, p, u, out, n_calls)
        return (clock() - started) / n_calls
    loop(ff.rhs, y, p, u, out, 1000)
    started = clock()
    loop(ff.rhs, y, p, u, out, n_calls)
    return (clock() - started) / n_calls
