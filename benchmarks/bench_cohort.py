"""A virtual cohort at scale: 10,000 patients × 365 days × one combination regimen.

Compares, for the default model ``td.models.tumor_immune_tme()`` with
log-normal between-patient variability (CV 30%) on ``r_S``, ``r_R``, ``k_T``,
``k_E`` and ``d_E``, under a targeted drug weekly (100 mg) plus anti-PD-1 every
21 days (200 mg), rtol 1e-6 and per-state atol (one cell for cells):

* **tumordyn**: ``td.Cohort(...).simulate(regimen, t_end=365)``, the whole
  pipeline (batched solves with per-patient step control, daily outputs,
  RECIST readouts at scans every 8 weeks, continuous time to progression), in
  this process on one thread (``parallel=False``), in this process on numba's
  threads (the default), and on a ``ProcessPoolExecutor`` with ``--workers`` processes
  (warmed up first: the pool, the model's code generation and numba's
  compilation are not timed; the warm-up time is printed). Each parallel
  configuration prints its parallel efficiency (one-thread wall time /
  (workers × its wall time)) with the load average, and whether its readouts are
  identical to one thread's. The per-chunk setup of a pool worker is printed as
  it was (each chunk's unpickled model compiled again) and as it is (one compiled
  model per worker). The fastest configuration is reported.
* **hand-written loop**: one ``scipy.integrate.solve_ivp`` LSODA call per
  patient, segment by segment between doses, with the model's equations typed
  out by hand (``benchmarks/bench_patient_year.py``'s ``handwritten_rhs_factory``
  when it matches the model; otherwise the same scalar Python function produced by
  ``sympy.lambdify(..., "math")``, which costs what a hand-typed one costs).
  Timed on ``--n-handwritten`` patients (default 50) and **extrapolated** linearly
  to the cohort.
* **libRoadRunner loop** (optional, ``pip install 'tumordyn[bench]'``): the same
  equations as SBML rate rules with the doses as events (Antimony text generated
  from ``model.rhs_expressions()``), CVODE at the same tolerances; one
  ``reset()`` + parameter update + ``simulate()`` per patient. Timed on
  ``--n-roadrunner`` patients (default 200) and **extrapolated**. Skipped if
  libRoadRunner is not installed.

Peak memory is the largest resident set size of this process plus that of its
largest finished child process (``resource.getrusage``), in MB.

Speedups: ``patients_per_s`` is wall-clock (the faster tumordyn configuration).
The two speedups of the last line are ratios of **CPU time per patient, one
process each** (``time.process_time``): on a machine shared with other jobs the
load changes between the phases of the script and skews wall-clock ratios,
while CPU time measures the work each approach needs. The wall-clock ratios are
printed on the line before.

The last line is machine-readable::

    patients_per_s=N speedup_vs_handwritten=X speedup_vs_roadrunner=Y peak_mb=M

Run: ``python benchmarks/bench_cohort.py`` (``--help`` for options; ``--n 1000``
for a quick run). Not part of the test-suite.
"""

from __future__ import annotations

import argparse
import math
import os
import pickle
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable

import numpy as np
import sympy as sp
from scipy.integrate import solve_ivp

import tumordyn as td
from tumordyn.cohorts._cohort import COHORT_METHODS
from tumordyn.numerics import compile_model

T_END = 365.0
VARIED = ("r_S", "r_R", "k_T", "k_E", "d_E")
CV = 0.3


def regimen() -> td.Schedule:
    """Targeted drug weekly (100 mg) + anti-PD-1 every 21 days (200 mg), days 0-364."""
    return td.Schedule.every("targeted", 100.0, 7.0, until=T_END - 1) + td.Schedule.every(
        "anti_pd1", 200.0, 21.0, until=T_END - 1
    )


def make_cohort(model: td.Model, n: int, seed: int = 2024) -> td.Cohort:
    defaults = model.defaults()
    return td.Cohort(model, {p: td.cohorts.LogNormal(median=defaults[p], cv=CV) for p in VARIED}, n=n, seed=seed)


# ----------------------------------------------------------------------------- hand-written loop


def _scalar_factory(model: td.Model) -> Callable[[dict[str, float]], Callable[..., np.ndarray]]:
    """A plain-Python scalar RHS (``math`` functions on floats), what one would type by hand.

    Built with ``sympy.lambdify(..., "math")`` from ``model.rhs_expressions()`` so it
    always matches the model; it costs what a hand-typed function costs (scalar
    arithmetic, one ``numpy.array`` per call).
    """
    from tumordyn.spec._model import TIME

    states = [s.symbol for s in model.states]
    params = [p.symbol for p in model.parameters]
    exprs = [e.xreplace({sp.Symbol(f"u_{d}"): 0 for d in model.drugs.names}) for e in model.rhs_expressions().values()]
    f = sp.lambdify([TIME, *states, *params], exprs, "math", cse=True)
    names = compile_model(model).param_names

    def factory(values: dict[str, float]) -> Callable[..., np.ndarray]:
        pv = [float(values[n]) for n in names]
        return lambda t, y: np.array(f(t, *y, *pv))

    return factory


def _handwritten_factory(model: td.Model) -> tuple[Callable[[dict[str, float]], Callable[..., np.ndarray]], str]:
    """The hand-typed equations of bench_patient_year.py if they match the model, else an equivalent scalar RHS."""
    compiled = compile_model(model)
    fallback = _scalar_factory(model), "scalar Python RHS via sympy.lambdify(math)"
    try:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from bench_patient_year import handwritten_rhs_factory  # type: ignore[import-not-found]
    except Exception:  # noqa: BLE001 - optional sibling script
        return fallback
    params = model.defaults()
    y = compiled.initial * 1.1 + 1.0
    try:
        a = handwritten_rhs_factory(params)(0.0, y)
    except Exception:  # noqa: BLE001 - the hand-typed equations lag behind the model
        return fallback
    b = compiled.rhs(0.0, y, compiled.param_vector(params), np.zeros(compiled.n_drugs))
    if not np.allclose(a, b, rtol=1e-9, atol=1e-12):
        return fallback
    return handwritten_rhs_factory, "hand-typed Python RHS of bench_patient_year.py"


def run_handwritten(rhs: Callable[..., np.ndarray], model: td.Model, params: dict[str, float],
                    schedule: td.Schedule, t_out: np.ndarray) -> np.ndarray:
    """LSODA segment by segment between doses, the segment ends among the evaluation times."""
    compiled = compile_model(model)
    y = compiled.initial_vector().copy()
    out = np.empty((t_out.size, y.size))
    edges = sorted({0.0, T_END} | {float(d.time) for d in schedule.doses})
    k = 0
    for i, t_start in enumerate(edges):
        for drug, amount in schedule.bolus_at(t_start).items():
            comp, inc = compiled.dose_jump(compiled.drug_names.index(drug), amount, compiled.param_vector(params))
            y[comp] += inc
        while k < t_out.size and t_out[k] == t_start:
            out[k] = y
            k += 1
        if i == len(edges) - 1:
            break
        t_stop = edges[i + 1]
        inner = t_out[(t_out > t_start) & (t_out < t_stop)]
        sol = solve_ivp(rhs, (t_start, t_stop), y, method="LSODA", t_eval=np.append(inner, t_stop), rtol=1e-6,
                        atol=compiled.atol)
        if sol.status != 0:
            raise RuntimeError(f"hand-written LSODA failed in [{t_start}, {t_stop}]: {sol.message}")
        out[k:k + inner.size] = sol.y[:, :-1].T
        k += inner.size
        y = sol.y[:, -1].copy()
    return out


# ----------------------------------------------------------------------------- libRoadRunner loop


def antimony_text(model: td.Model, schedule: td.Schedule) -> str:
    """Antimony: rate rules from ``model.rhs_expressions()``, bolus doses as events (a dose at 0 in the initial value)."""
    from tumordyn.spec._model import TIME

    compiled = compile_model(model)
    params = model.defaults()
    subs: dict[Any, Any] = {sp.Symbol(f"u_{d}"): 0 for d in model.drugs.names}
    subs[TIME] = sp.Symbol("time")
    lines = [f"model {model.name}"]
    for name, expr in model.rhs_expressions().items():
        lines.append(f"  {name}' = {sp.sstr(expr.xreplace(subs), full_prec=True).replace('**', '^')};")
    initial = dict(zip(compiled.state_names, compiled.initial.tolist()))
    by_time: dict[float, list[tuple[str, float]]] = {}
    for d in schedule.doses:
        by_time.setdefault(float(d.time), []).append((d.drug, float(d.amount)))
    events = []
    for k, (t, items) in enumerate(sorted(by_time.items())):
        assigns = []
        for drug, amount in items:
            spec = model.drugs[drug]
            vol = spec.volume if isinstance(spec.volume, str) else repr(float(spec.volume))
            if t == 0.0:
                v = params[spec.volume] if isinstance(spec.volume, str) else float(spec.volume)
                initial[spec.compartment] += amount / v
            else:
                assigns.append(f"{spec.compartment} = {spec.compartment} + {amount!r} / {vol}")
        if assigns:
            events.append(f"  dose{k}: at (time >= {t!r}): {', '.join(assigns)};")
    lines += [f"  {n} = {v!r};" for n, v in initial.items()]
    lines += [f"  {n} = {v!r};" for n, v in params.items()]
    lines += events
    lines.append("end")
    return "\n".join(lines) + "\n"


def make_roadrunner(model: td.Model, schedule: td.Schedule) -> Any:
    import antimony
    import roadrunner

    antimony.clearPreviousLoads()
    if antimony.loadAntimonyString(antimony_text(model, schedule)) < 0:
        raise RuntimeError(antimony.getLastError())
    rr = roadrunner.RoadRunner(antimony.getSBMLString(model.name))
    rr.integrator.relative_tolerance = 1e-6
    for name, a in zip(compile_model(model).state_names, compile_model(model).atol.tolist()):
        rr.integrator.setIndividualTolerance(name, float(a))
    rr.timeCourseSelections = ["time", *compile_model(model).state_names]
    return rr


def run_roadrunner(rr: Any, params: dict[str, float], n_points: int) -> np.ndarray:
    rr.reset()
    for name, value in params.items():
        rr[name] = value
    return np.asarray(rr.simulate(0.0, T_END, n_points))[:, 1:]


# ----------------------------------------------------------------------------- main


def chunk_setup_probe(blob: bytes) -> tuple[float, float]:
    """In a pool worker: seconds to get a chunk's model ready, before (each chunk's unpickled copy compiled
    again) and now (the worker's one compiled model, found by structure)."""
    from tumordyn.cohorts._cohort import worker_model

    t0 = time.perf_counter()
    compile_model(pickle.loads(blob))
    t1 = time.perf_counter()
    worker_model(pickle.loads(blob))  # the first call of a worker compiles, like the line above
    t2 = time.perf_counter()
    worker_model(pickle.loads(blob))
    return t1 - t0, time.perf_counter() - t2


def peak_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) / 1024.0  # kB on Linux


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000, help="patients (default 10000)")
    ap.add_argument("--workers", type=int, default=2, help="processes of the pool (default 2; 0: no pool)")
    ap.add_argument("--method", default="auto", choices=COHORT_METHODS, help="cohort engine")
    ap.add_argument("--n-handwritten", type=int, default=50, help="patients timed for the hand-written loop")
    ap.add_argument("--n-roadrunner", type=int, default=200, help="patients timed for the libRoadRunner loop")
    args = ap.parse_args(argv)

    model = td.models.tumor_immune_tme()
    sched = regimen()
    cohort = make_cohort(model, args.n)
    t_out = np.arange(0.0, T_END + 1.0)
    print(f"cohort: {args.n} patients, {T_END:g} days, {sched.n_doses()} doses, log-normal CV {CV:g} on "
          f"{', '.join(VARIED)}; machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")

    # -- tumordyn --------------------------------------------------------------------------
    started = time.perf_counter()
    make_cohort(model, 8).simulate(sched, t_end=T_END, method=args.method, progress=False)
    print(f"warm-up in this process (code generation, numba compilation): {time.perf_counter() - started:.2f} s")
    kw = dict(t_end=T_END, method=args.method)
    started, cpu0 = time.perf_counter(), time.process_time()
    res = cohort.simulate(sched, parallel=False, **kw)
    t_seq, cpu_lib = time.perf_counter() - started, (time.process_time() - cpu0) / args.n
    print(f"tumordyn, 1 process, 1 thread ({res.stats.method}): {t_seq:.2f} s = {t_seq / args.n * 1e3:.3f} "
          f"ms/patient (CPU {cpu_lib * 1e3:.3f} ms/patient)")
    timings = {"1 process, 1 thread": t_seq}
    cores = os.cpu_count() or 1
    if args.method != "batch":
        import numba

        threads = numba.get_num_threads()
        make_cohort(model, 8).simulate(sched, progress=False, **kw)  # warm-up of the prange kernel
        started, cpu0 = time.perf_counter(), time.process_time()
        res_thr = cohort.simulate(sched, **kw)  # the default: numba threads over patients
        t_thr, cpu_thr = time.perf_counter() - started, time.process_time() - cpu0
        same = res_thr.to_dataframe().equals(res.to_dataframe())
        print(f"tumordyn, 1 process, {threads} threads (default): {t_thr:.2f} s = {t_thr / args.n * 1e3:.3f} "
              f"ms/patient (CPU {cpu_thr / args.n * 1e3:.3f} ms/patient; identical readouts to 1 thread: {same}); "
              f"parallel efficiency {t_seq / (t_thr * threads):.0%} on {threads} threads "
              f"(speed-up {t_seq / t_thr:.2f}x, load {os.getloadavg()[0]:.1f})")
        timings[f"1 process, {threads} threads"] = t_thr
    if args.workers > 1:
        with ProcessPoolExecutor(args.workers) as ex:
            setup = list(ex.map(chunk_setup_probe, [pickle.dumps(model)] * (2 * args.workers)))
            print(f"per-chunk setup in a pool worker (unpickle the model, get its compiled form): before "
                  f"(compile_model of each chunk's copy) {np.median([s[0] for s in setup]) * 1e3:.0f} ms; "
                  f"now (worker_model, one compiled model per worker) {np.median([s[1] for s in setup]) * 1e3:.2f} ms")
            started = time.perf_counter()
            make_cohort(model, 4 * args.workers).simulate(sched, ex, chunk_size=4, progress=False, **kw)
            print(f"warm-up of {args.workers} workers: {time.perf_counter() - started:.2f} s")
            started = time.perf_counter()
            res_pool = cohort.simulate(sched, ex, **kw)
            t_pool = time.perf_counter() - started
        same = res_pool.to_dataframe().equals(res.to_dataframe())
        print(f"tumordyn, {args.workers} processes: {t_pool:.2f} s = {t_pool / args.n * 1e3:.3f} ms/patient "
              f"(identical readouts to 1 process: {same}); parallel efficiency "
              f"{t_seq / (t_pool * args.workers):.0%}")
        timings[f"{args.workers} processes"] = t_pool
    print(f"machine: {cores} cores, load {os.getloadavg()[0]:.1f}")
    best = min(timings, key=timings.get)  # type: ignore[arg-type]
    t_lib = timings[best]
    per_lib = t_lib / args.n
    rates = res.response_rates().iloc[0]
    print(f"  readouts: ORR {rates['ORR']:.3f}, DCR {rates['DCR']:.3f}, failed {res.stats.n_failed}, "
          f"median TTP (scans) {res.median_ttp().iloc[0]['median']:.0f} days")

    # -- accuracy of a few patients against a tight reference ------------------------------
    c = compile_model(model)
    atol_ref = dict(zip(c.state_names, (c.atol * 1e-3).tolist()))
    worst = 0.0
    sub = make_cohort(model, 5, seed=7)
    sub_res = sub.simulate(sched, t_end=T_END, method=args.method, keep_trajectories=True, progress=False)
    for j in range(5):
        ref = td.simulate(model, sched, t_end=T_END, t_eval=sub_res.t, params=sub.patient_params(j),
                          method="DOP853", rtol=1e-10, atol=atol_ref)
        d = sub_res.trajectory(j)["lesion_diameter"]
        worst = max(worst, float(np.max(np.abs(d / ref["lesion_diameter"] - 1))))
    print(f"  accuracy: largest relative difference of the lesion diameter vs DOP853 (rtol 1e-10), 5 patients: "
          f"{worst:.1e}")

    # -- hand-written solve_ivp loop -------------------------------------------------------
    factory, kind = _handwritten_factory(model)
    hw_cohort = make_cohort(model, args.n_handwritten, seed=99)
    started, cpu0 = time.perf_counter(), time.process_time()
    for j in range(args.n_handwritten):
        p = hw_cohort.patient_params(j)
        run_handwritten(factory(p), model, p, sched, t_out)
    per_hw = (time.perf_counter() - started) / args.n_handwritten
    cpu_hw = (time.process_time() - cpu0) / args.n_handwritten
    print(f"hand-written solve_ivp LSODA loop ({kind}): {1 / per_hw:.1f} patients/s = {per_hw * 1e3:.1f} "
          "ms/patient, timed on "
          f"{args.n_handwritten} patients, extrapolated to {args.n}: {per_hw * args.n:.0f} s "
          f"(CPU {cpu_hw * 1e3:.1f} ms/patient)")

    # -- libRoadRunner loop ----------------------------------------------------------------
    per_rr = cpu_rr = math.nan
    try:
        import roadrunner  # noqa: F401
    except ImportError:
        print("libRoadRunner not installed: skipped (pip install 'tumordyn[bench]')")
    else:
        started = time.perf_counter()
        rr = make_roadrunner(model, sched)
        print(f"libRoadRunner model build (Antimony -> SBML -> LLVM): {time.perf_counter() - started:.2f} s")
        rr_cohort = make_cohort(model, args.n_roadrunner, seed=98)
        varied = list(VARIED)
        y_rr = run_roadrunner(rr, {k: rr_cohort.patient_params(0)[k] for k in varied}, t_out.size)
        ref0 = td.simulate(model, sched, t_end=T_END, t_eval=t_out, params=rr_cohort.patient_params(0),
                           method="DOP853", rtol=1e-10, atol=atol_ref)
        i_s = c.state_names.index("S")
        print(f"  libRoadRunner check: final S relative difference vs DOP853 "
              f"{abs(y_rr[-1, i_s] / ref0['S'][-1] - 1):.1e}")
        started, cpu0 = time.perf_counter(), time.process_time()
        for j in range(args.n_roadrunner):
            pp = rr_cohort.patient_params(j)
            run_roadrunner(rr, {k: pp[k] for k in varied}, t_out.size)
        per_rr = (time.perf_counter() - started) / args.n_roadrunner
        cpu_rr = (time.process_time() - cpu0) / args.n_roadrunner
        print(f"libRoadRunner loop: {1 / per_rr:.1f} patients/s = {per_rr * 1e3:.2f} ms/patient, timed on "
              f"{args.n_roadrunner} patients, "
              f"extrapolated to {args.n}: {per_rr * args.n:.0f} s (CPU {cpu_rr * 1e3:.2f} ms/patient)")

    mb = peak_mb()
    print(f"tumordyn best ({best}): {args.n / t_lib:.0f} patients/s ({t_lib:.2f} s for {args.n} patients); "
          f"peak memory {mb:.0f} MB "
          "(this process + largest child)")
    print(f"wall-clock speedups (best tumordyn configuration vs the loops): {per_hw / per_lib:.1f}x hand-written, "
          f"{per_rr / per_lib:.1f}x libRoadRunner")
    print(f"CPU-time speedups (one process each, robust to other jobs on the machine): {cpu_hw / cpu_lib:.1f}x "
          f"hand-written, {cpu_rr / cpu_lib:.1f}x libRoadRunner")
    # the headline ratios: CPU time of one process each, unless this machine is quiet enough for wall times to be
    # stable; wall-clock ratios drift with other jobs' load between the phases of this script
    print(f"patients_per_s={args.n / t_lib:.0f} speedup_vs_handwritten={cpu_hw / cpu_lib:.1f} "
          f"speedup_vs_roadrunner={cpu_rr / cpu_lib:.1f} peak_mb={mb:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
