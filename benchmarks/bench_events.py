"""Model events: tumordyn's compiled engine and scipy path against hand-written scipy and libRoadRunner.

The model: exponential decay ``x' = -k x`` (k = 0.5/day) from x = 10, reset to 10 whenever x falls below 1
(an :class:`~tumordyn.spec.Event` with trigger ``x < 1``), over ``--days`` days (default 1,000: 217
resets). The exact solution is ``10 exp(-k (t mod ln 10 / k))``. Five solvers, in this process, at
rtol 1e-10 / atol 1e-12, outputs every day:

* **tumordyn dopri5**: ``td.simulate(model, solver=Solver(method="dopri5", ...))``, what ``method="auto"``
  uses: the compiled kernel watches the trigger's comparison after every step, locates its change by
  bisection on the step's dense output and returns; the event is executed in Python
  (``solve._events.EventQueue``) and the kernel resumes;
* **tumordyn LSODA**: ``td.simulate(model, solver=Solver(method="LSODA", ...))`` (``solve._events``: the same
  watching and bisection around scipy's stepper);
* **tumordyn batch**: ``method="batch"``, the numpy-vectorised Dormand–Prince engine (the same watching, in
  numpy, and bisection in Python);
* **scipy by hand**: a loop of ``solve_ivp(method="LSODA", events=g)`` with a terminal event ``g = x - 1``
  (direction -1, scipy's own root finding), restarting from 10 at each reset;
* **libRoadRunner** on ``td.io.to_sbml(model)`` (CVODE, its own event handling).

Printed per solver: wall and CPU seconds (median of ``--repeat`` runs, after one warm-up), the number of
resets, and the largest relative error against the closed form at the output times; then the ratios of
tumordyn's times to the others, and the load average. The last line is machine-readable::

    compiled_over_lsoda_cpu=A compiled_over_roadrunner_cpu=B events_over_scipy_cpu=X events_over_roadrunner_cpu=Y

(``events_over_*``: tumordyn's LSODA path, as before the compiled engine ran events.)

``--cohort N`` adds a batch: N patients of ``td.models.tumor_immune_tme()`` (growth rate and baseline tumor
drawn log-normally, seed 1) with a resection event (``S > 2e9``: S := 0.1 S) and a delayed time event
(day 100, executed 7 days later: E := 2 E), weekly targeted drug for a year, rtol 1e-10, weekly outputs:
``simulate_batch`` on ``dopri5`` and on the numpy ``batch`` engine against LSODA (CPU and wall, the largest
difference scaled by ``|LSODA| + 1e4 atol``).

Run: ``python benchmarks/bench_events.py`` (``--days 100`` for a quick run). Not part of the test-suite.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import numpy as np

import tumordyn as td
from tumordyn.spec import Event, Model, Parameter, Process, State

K = 0.5
RTOL, ATOL = 1e-10, 1e-12


def model() -> Model:
    return Model("decay_reset", states=[State("x", 10.0)], parameters=[Parameter("k", K)],
                 processes=[Process("loss", "k*x", consumes="x")], events=[Event("reset", "x < 1", {"x": 10})],
                 check_units=False)


def exact(t: np.ndarray) -> np.ndarray:
    return 10.0 * np.exp(-K * np.mod(t, math.log(10.0) / K))


def run_tumordyn(m: Model, t: np.ndarray, method: str = "LSODA") -> np.ndarray:
    solver = td.Solver(method=method, rtol=RTOL, atol=ATOL, max_switches=1_000_000)
    tr = td.simulate(m, t_end=float(t[-1]), t_eval=t, solver=solver)
    return np.asarray(tr["x"], dtype=float)


def run_scipy(t: np.ndarray) -> np.ndarray:
    from scipy.integrate import solve_ivp

    def g(_t: float, y: np.ndarray) -> float:
        return y[0] - 1.0

    g.terminal = True  # type: ignore[attr-defined]
    g.direction = -1.0  # type: ignore[attr-defined]
    out = np.empty(t.size)
    t0, y0, k = 0.0, np.array([10.0]), 0
    for _ in range(100_000):  # bounded: one pass per reset
        te = t[k:]
        sol = solve_ivp(lambda _t, y: -K * y, (t0, float(t[-1])), y0, method="LSODA", t_eval=te, events=g,
                        rtol=RTOL, atol=ATOL)
        n = sol.t.size
        out[k:k + n] = sol.y[0]
        k += n
        if sol.status != 1:
            break
        t0, y0 = float(sol.t_events[0][0]), np.array([10.0])
    return out


def run_roadrunner(rr, t: np.ndarray) -> np.ndarray:  # noqa: ANN001
    rr.resetAll()
    res = rr.simulate(0.0, float(t[-1]), t.size)
    return np.asarray(res[:, 1], dtype=float)


def timed(fn, repeat: int) -> tuple[float, float, np.ndarray]:  # noqa: ANN001
    fn()  # warm-up (imports, code generation)
    walls, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus), out


def cohort_batch(n: int) -> None:
    """The ``--cohort`` timing (see the module docstring)."""
    from tumordyn.numerics import compile_model

    m = td.models.tumor_immune_tme().replace(events=[Event("resect", "S > 2e9", {"S": "0.1*S"}),
                                                     Event("boost", "t >= 100", {"E": "2*E"}, delay=7.0)])
    c = compile_model(m)
    d = m.defaults()
    cohort = td.Cohort(m, {"r_S": td.cohorts.LogNormal(median=d["r_S"], cv=0.3),
                           "S": td.cohorts.LogNormal(median=1e9, cv=0.5)}, n=n, seed=1)
    pars = cohort.parameters
    P = np.column_stack([pars[k].to_numpy() if k in pars else np.full(n, v)
                         for k, v in zip(c.param_names, c.param_vector())])
    Y0 = np.ascontiguousarray(np.asarray(cohort.initial_matrix).T)
    sched = td.Schedule.every("targeted", 100.0, 7.0, until=364)
    t = np.linspace(0.0, 365.0, 53)
    out = {}
    for method in ("dopri5", "batch", "LSODA"):
        td.simulate_batch(m, P[:2], sched, t_end=365.0, t_eval=t, initial=Y0[:2], method=method, rtol=1e-10)
        w, cp = time.perf_counter(), time.process_time()
        b = td.simulate_batch(m, P, sched, t_end=365.0, t_eval=t, initial=Y0, method=method, rtol=1e-10)
        out[method] = (time.perf_counter() - w, time.process_time() - cp, np.asarray(b.values))
    diff = np.max(np.abs(out["dopri5"][2] - out["LSODA"][2]) / (np.abs(out["LSODA"][2]) + 1e4 * c.atol))
    diff_b = np.max(np.abs(out["batch"][2] - out["LSODA"][2]) / (np.abs(out["LSODA"][2]) + 1e4 * c.atol))
    print(f"cohort of {n} (tumor_immune_tme, a resection and a delayed time event, one year, rtol 1e-10):")
    for method, (w, cp, _) in out.items():
        print(f"  simulate_batch {method:6s} wall {w:8.3f} s   cpu {cp:8.3f} s")
    print(f"  dopri5 / LSODA: cpu {out['dopri5'][1] / out['LSODA'][1]:.4f}, wall {out['dopri5'][0] / out['LSODA'][0]:.4f};"
          f" largest scaled difference {diff:.2e}")
    print(f"  batch / LSODA: cpu {out['batch'][1] / out['LSODA'][1]:.4f}, wall {out['batch'][0] / out['LSODA'][0]:.4f};"
          f" batch / dopri5: cpu {out['batch'][1] / out['dopri5'][1]:.2f}; largest scaled difference {diff_b:.2e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=float, default=1000.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cohort", type=int, default=0, help="also time a batch of this many patients (0: skip)")
    args = ap.parse_args()
    t = np.linspace(0.0, args.days, int(args.days) + 1)
    m = model()
    ref = exact(t)
    resets = int(args.days // (math.log(10.0) / K))
    print("load average before (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    rows = {"tumordyn dopri5": timed(lambda: run_tumordyn(m, t, "dopri5"), args.repeat),
            "tumordyn": timed(lambda: run_tumordyn(m, t), args.repeat),
            "tumordyn batch": timed(lambda: run_tumordyn(m, t, "batch"), args.repeat),
            "scipy by hand": timed(lambda: run_scipy(t), args.repeat)}
    try:
        import roadrunner

        rr = roadrunner.RoadRunner(td.io.to_sbml(m))
        rr.integrator.relative_tolerance = RTOL
        rr.integrator.absolute_tolerance = ATOL
        rr.timeCourseSelections = ["time", "x"]
        rows["libRoadRunner"] = timed(lambda: run_roadrunner(rr, t), args.repeat)
    except ImportError:
        print("libRoadRunner not installed: skipped")
    print(f"decay with a reset below 1, {args.days:g} days, {resets} resets, rtol {RTOL:g}, atol {ATOL:g}")
    for name, (wall, cpu, out) in rows.items():
        err = float(np.max(np.abs(out - ref) / ref))
        print(f"  {name:15s} wall {wall:8.4f} s   cpu {cpu:8.4f} s   max rel. error vs closed form {err:.2e}")
    wf, cf, _ = rows["tumordyn dopri5"]
    w0, c0, _ = rows["tumordyn"]
    ws, cs, _ = rows["scipy by hand"]
    print(f"tumordyn dopri5 / tumordyn LSODA: cpu {cf / c0:.3f}, wall {wf / w0:.3f}")
    print(f"tumordyn dopri5 / scipy by hand: cpu {cf / cs:.3f}, wall {wf / ws:.3f}")
    print(f"tumordyn LSODA / scipy by hand: cpu {c0 / cs:.2f}, wall {w0 / ws:.2f}")
    wb, cb, _ = rows["tumordyn batch"]
    print(f"tumordyn batch / tumordyn LSODA: cpu {cb / c0:.3f}, wall {wb / w0:.3f}; batch / dopri5: cpu {cb / cf:.2f}")
    line = f"compiled_over_lsoda_cpu={cf / c0:.3f}"
    tail = f" events_over_scipy_cpu={c0 / cs:.3f}"
    if "libRoadRunner" in rows:
        wr, cr, _ = rows["libRoadRunner"]
        print(f"tumordyn dopri5 / libRoadRunner: cpu {cf / cr:.2f}, wall {wf / wr:.2f}")
        print(f"tumordyn LSODA / libRoadRunner: cpu {c0 / cr:.2f}, wall {w0 / wr:.2f}")
        line += f" compiled_over_roadrunner_cpu={cf / cr:.3f}"
        tail += f" events_over_roadrunner_cpu={c0 / cr:.3f}"
    line += tail + f" batch_over_lsoda_cpu={cb / c0:.3f}"
    if args.cohort:
        cohort_batch(args.cohort)
    print("load average (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(line)


if __name__ == "__main__":
    main()
