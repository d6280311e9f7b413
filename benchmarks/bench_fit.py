"""Benchmark: a 5-parameter fit to 3 subjects x 15 points, tumordyn vs a hand-written fit.

Both fits use the same data, the same optimizer (lmfit ``least_squares``, same
start values, bounds and stopping tolerances), the same ODE tolerances
(rtol = atol = 1e-8), and integrate piecewise between treatment on/off switches.
The hand-written fit has a plain Python right-hand side, one ``solve_ivp``
(LSODA) call per subject and treatment segment, and lmfit's finite differences.
``tumordyn.fit`` reuses the compiled model; with ``solver="auto"`` (timed for the
last line) it integrates with the numba-compiled Dormand–Prince loop of
``tumordyn.solve._compiled``, every subject under its own dosing plan in one compiled
call per evaluation (``tumordyn.solve.solve`` of a sequence of problems), and at a
point the optimizer accepts the residual's copies and the finite-difference copies of
all subjects in that one call; with ``solver="LSODA"`` (also printed) it integrates all
subjects and perturbed copies as one LSODA system. The kernel's own CPU time per fit
(the compiled calls, measured around them in a separate run) is printed as the floor
of the compiled path.
The numba compilation (once per model structure, cached) is done in a warm-up
run outside the timing; times are the best of 5 runs.

Run: ``python benchmarks/bench_fit.py``. The last line is
``speedup_vs_handwritten=X same_optimum=True|False max_param_rel_diff=Z cpu_speedup=C`` (X: wall-time
ratio, C: CPU-time ratio hand-written / tumordyn, both best of 5; the load average is printed above).
"""

from __future__ import annotations

import os
import time

import lmfit
import numpy as np
from scipy.integrate import solve_ivp

import tumordyn as td
from tumordyn.numerics import compile_model

RTOL = ATOL = 1e-8
FREE = ["r", "K", "kill"]
INIT_FREE = {"S": "shared", "R": "shared"}
START = {"r": 0.1, "K": 5000.0, "kill": 0.2, "init_S": 100.0, "init_R": 1.0}
BOUNDS = {"r": (1e-4, 2.0), "K": (1.0, 1e7), "kill": (0.0, 5.0), "init_S": (0.0, np.inf), "init_R": (0.0, np.inf)}
SWITCHES = {"A": [(10.0, 60.0)], "B": [(14.0, 60.0)], "C": [(10.0, 24.0), (38.0, 52.0)]}  # drug on (days)
TIMES = np.linspace(0.0, 56.0, 15)


def make_data(seed: int = 7):
    model = td.fitting.growth_model("logistic", resistant=True)
    schedules = {s: sum((td.Schedule.infusion("drug", 1.0, a, b) for a, b in on), td.Schedule())
                 for s, on in SWITCHES.items()}
    data = td.fitting.synthetic_data(model, schedules, TIMES, "tumor_volume", noise="lognormal", sigma=0.1, seed=seed,
                             params={"r": 0.12, "K": 3000.0, "kill": 0.35}, initial={"S": 90.0, "R": 1.5})
    return model, schedules, data


# ------------------------------------------------------------------ hand-written reference
def rhs(t, y, r, K, kill, u):
    S, R = y
    g = r * (1.0 - (S + R) / K)
    return [g * S - kill * u * S, g * R]


def simulate_by_hand(p, subject, times):
    on = SWITCHES[subject]
    edges = sorted({0.0, float(times[-1])} | {x for ab in on for x in ab if x < times[-1]})
    y = np.array([p["init_S"], p["init_R"]])
    out = np.empty(times.size)
    for a, b in zip(edges[:-1], edges[1:]):
        u = 1.0 if any(s <= a < e for s, e in on) else 0.0
        sel = (times >= a) & (times < b)
        te = np.append(times[sel], b)
        sol = solve_ivp(rhs, (a, b), y, method="LSODA", t_eval=te, rtol=RTOL, atol=ATOL,
                        args=(p["r"], p["K"], p["kill"], u))
        out[sel] = sol.y.sum(axis=0)[:-1]
        y = sol.y[:, -1]
    out[times == edges[-1]] = y.sum()
    return out


def fit_by_hand(data):
    pars = lmfit.Parameters()
    for n, v in START.items():
        pars.add(n, value=v, min=BOUNDS[n][0], max=BOUNDS[n][1])
    groups = [(s, d["time"].to_numpy(), np.log(d["value"].to_numpy()), d["sigma"].to_numpy())
              for s, d in data.groupby("subject", sort=False)]

    def residual(params):
        p = params.valuesdict()
        return np.concatenate([(np.log(simulate_by_hand(p, s, t)) - ly) / sg for s, t, ly, sg in groups])

    return lmfit.minimize(residual, pars, method="least_squares")


def fit_tumordyn(model, schedules, data, solver="auto"):
    return td.fit(model, data, free=FREE, initial_free=INIT_FREE, schedules=schedules,
                  initial={"S": START["init_S"], "R": START["init_R"]},
                  params={k: START[k] for k in FREE}, rtol=RTOL, atol=ATOL, optimizer="least_squares", solver=solver)


CPU = {}  # best CPU time of each best_of call, by function (printed beside the wall times)


def best_of(f, repeat):
    times, cpu, out = [], [], None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        out = f()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    CPU[f] = min(cpu)
    return min(times), out


def kernel_share(model, schedules, data, repeat: int) -> tuple[float, float, float]:
    """CPU ms per fit in the compiled kernel, compiled calls per fit and CPU ms per fit (best of ``repeat``),
    timed around the kernel's entry point (a separate run: the timing wrapper costs a little)."""
    from tumordyn.solve import _compiled

    real = _compiled._compiled_batch
    spent = [0.0, 0]

    def timed(parallel):
        fn = real(parallel)

        def call(*args):
            c = time.process_time()
            fn(*args)
            spent[0] += time.process_time() - c
            spent[1] += 1
        return call

    best = (np.inf, 0, np.inf)
    _compiled._compiled_batch = timed
    try:
        for _ in range(repeat):
            spent[:] = [0.0, 0]
            c = time.process_time()
            fit_tumordyn(model, schedules, data)
            total = time.process_time() - c
            if total < best[2]:
                best = (spent[0], spent[1], total)
    finally:
        _compiled._compiled_batch = real
    return best[0] * 1e3, best[1], best[2] * 1e3


def main(repeat: int = 5) -> None:
    model, schedules, data = make_data()
    fit_tumordyn(model, schedules, data)  # warm-up: builds compile_model(model) and its numba RHS once (cached)
    f_td, f_hand = (lambda: fit_tumordyn(model, schedules, data)), (lambda: fit_by_hand(data))
    t_td, res = best_of(f_td, repeat)
    t_lsoda, res_lsoda = best_of(lambda: fit_tumordyn(model, schedules, data, solver="LSODA"), repeat)
    t_hand, ref = best_of(f_hand, repeat)
    names = list(START)
    ours = {n: res.params[n].value for n in names}
    theirs = {n: ref.params[n].value for n in names}
    rel = max(abs(ours[n] - theirs[n]) / abs(theirs[n]) for n in names)
    chi_rel = abs(res.chisqr - ref.chisqr) / ref.chisqr
    print(f"data: {data['subject'].nunique()} subjects x {len(TIMES)} points, 5 free parameters")
    print(f"tumordyn.fit (compiled dopri5): {t_td * 1e3:8.1f} ms  nfev={res.lmfit_result.nfev:4d} chisqr={res.chisqr:.8g}")
    print(f"tumordyn.fit, solver='LSODA' (joint scipy path): {t_lsoda * 1e3:8.1f} ms  "
          f"nfev={res_lsoda.lmfit_result.nfev:4d} chisqr={res_lsoda.chisqr:.8g}  speedup={t_hand / t_lsoda:.1f}")
    print(f"hand-written : {t_hand * 1e3:8.1f} ms  nfev={ref.nfev:4d} chisqr={ref.chisqr:.8g}")
    for n in names:
        print(f"  {n:7s} tumordyn={ours[n]:.8g}  hand-written={theirs[n]:.8g}")
    print(f"CPU time (best of {repeat}): tumordyn {CPU[f_td] * 1e3:.1f} ms, hand-written {CPU[f_hand] * 1e3:.1f} ms, "
          f"ratio {CPU[f_hand] / CPU[f_td]:.1f}x; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    k_ms, k_calls, k_total = kernel_share(model, schedules, data, repeat)
    print(f"compiled kernel: {k_ms:.2f} ms CPU in {k_calls} calls of a {k_total:.1f} ms fit (its floor: "
          f"{CPU[f_hand] * 1e3 / k_ms:.0f}x the hand-written fit if everything else took no time)")
    same = rel < 1e-3 and chi_rel < 1e-6
    # speedup_vs_handwritten is the wall-time ratio (kept for comparison with earlier runs); cpu_speedup the CPU
    # ratio, which a loaded machine distorts less
    print(f"speedup_vs_handwritten={t_hand / t_td:.1f} same_optimum={same} max_param_rel_diff={rel:.2e} "
          f"cpu_speedup={CPU[f_hand] / CPU[f_td]:.1f}")


if __name__ == "__main__":
    main()
