"""Per-patient progress and per-patient (mg/kg) doses in a cohort: what do they cost the batched kernel?

Times ``td.Cohort(...).simulate(regimen, t_end=365)`` of the default model (the cohort of
``bench_cohort.py``: log-normal CV 30% on five parameters, targeted drug weekly + anti-PD-1 every
21 days, rtol 1e-6) in this process on one thread (``parallel=False``) and on numba's threads, in these
configurations, interleaved and repeated (the best of ``--repeat`` kept):

* ``quiet``: ``progress=False`` (no bar, no polling thread; the kernel still marks each patient done);
* ``bar``: ``progress=True`` with the bar written to ``os.devnull``: the kernel marks each patient done and a
  helper thread polls the marks every 0.1 s and moves the bar;
* ``per-kg``: ``progress=False``, the same patients each given a body weight of 70 kg (a covariate table) and
  the targeted drug dosed ``100/70 mg/kg``: the doses of ``quiet`` reached through the per-patient dose factor
  the kernel applies, so the difference is the cost of that machinery alone;
* ``before``: with ``--before /path/to/old/src`` the ``quiet`` configuration is also timed, in a child
  process of the same run, on the library found there (e.g. the main branch, whose kernel has no done
  marks and no dose factor) - the before/after comparison of the kernel.

It prints, per configuration, the wall and CPU time (``time.process_time``: all threads of this process)
and the ratio to ``quiet``, with the load average before and after. Hand-written scipy and libRoadRunner
references for the same cohort are in ``bench_cohort.py``; this script measures the overhead only.

Run: ``python benchmarks/bench_cohort_progress.py --n 2000`` (``--help`` for options). Not part of the
test-suite.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time

T_END = 365.0
VARIED = ("r_S", "r_R", "k_T", "k_E", "d_E")


def _setup(n: int):
    import tumordyn as td

    m = td.models.tumor_immune_tme()
    d = m.defaults()
    dists = {p: td.cohorts.LogNormal(median=d[p], cv=0.3) for p in VARIED}
    flat = td.Cohort(m, dists, n=n, seed=2024)
    reg = td.Schedule.every("targeted", 100.0, 7.0, until=T_END - 1) + td.Schedule.every(
        "anti_pd1", 200.0, 21.0, until=T_END - 1)
    return td, m, dists, flat, reg


@contextlib.contextmanager
def _quiet_stderr():
    saved = sys.stderr
    with open(os.devnull, "w") as sink:
        sys.stderr = sink
        try:
            yield
        finally:
            sys.stderr = saved


def _time(fn) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def _configs(n: int, parallel: bool, with_new: bool):
    td, m, dists, flat, reg = _setup(n)
    kw = dict(t_end=T_END, parallel=parallel, method="dopri5")
    out = {"quiet": lambda: flat.simulate(reg, progress=False, **kw)}
    if with_new:
        import pandas as pd

        # the same patients (a covariate table does not change the draws), each 70 kg: the same doses as
        # `quiet` reached through the per-patient dose factor, so the difference is the factor's cost alone
        heavy = td.Cohort(m, dists, n=n, seed=2024, covariates=pd.DataFrame({"weight_kg": [70.0] * n}))
        per_kg = td.Schedule.every("targeted", 100.0 / 70.0, 7.0, until=T_END - 1, unit="mg/kg") + \
            td.Schedule.every("anti_pd1", 200.0, 21.0, until=T_END - 1)

        def bar():
            with _quiet_stderr():
                flat.simulate(reg, progress=True, **kw)

        out["bar"] = bar
        out["per-kg"] = lambda: heavy.simulate(per_kg, progress=False, **kw)
    return out


def _run(n: int, repeat: int, parallel: bool, with_new: bool) -> dict[str, list[float]]:
    cfg = _configs(n, parallel, with_new)
    _configs(min(n, 64), parallel, with_new)["quiet"]()  # warm-up: code generation, numba's compilation
    for f in cfg.values():
        f()
    best: dict[str, list[float]] = {k: [float("inf"), float("inf")] for k in cfg}
    for _ in range(repeat):
        for k, f in cfg.items():  # interleaved: a load change hits every configuration alike
            w, c = _time(f)
            best[k] = [min(best[k][0], w), min(best[k][1], c)]
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="patients (default 2000)")
    ap.add_argument("--repeat", type=int, default=3, help="repetitions, the best kept (default 3)")
    ap.add_argument("--before", default=None, help="source directory of the library to compare with (quiet only)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:  # timing the library on sys.path (the --before one): quiet only
        res = {str(p): _run(a.n, a.repeat, p, False)["quiet"] for p in (False, True)}
        print(json.dumps(res))
        return 0
    print(f"cohort of {a.n} patients x {T_END:g} days, default model; best of {a.repeat}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    before = None
    if a.before:
        env = dict(os.environ, PYTHONPATH=a.before)
        out = subprocess.run([sys.executable, __file__, "--child", "--n", str(a.n), "--repeat", str(a.repeat)],
                             env=env, capture_output=True, text=True, check=True)
        before = json.loads(out.stdout.strip().splitlines()[-1])
    for parallel in (False, True):
        best = _run(a.n, a.repeat, parallel, True)
        if before is not None:
            best["before (quiet)"] = before[str(parallel)]
        q = best["quiet"]
        print(f"\nparallel={parallel}")
        print(f"{'configuration':<16}{'wall s':>10}{'cpu s':>10}{'wall/quiet':>12}{'cpu/quiet':>11}")
        for k, (w, c) in best.items():
            print(f"{k:<16}{w:>10.3f}{c:>10.3f}{w / q[0]:>12.3f}{c / q[1]:>11.3f}")
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
