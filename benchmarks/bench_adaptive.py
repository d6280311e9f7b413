"""A 10,000-patient cohort under an adaptive regimen against the same cohort under the fixed schedule.

The default model ``td.models.tumor_immune_tme()`` with log-normal between-patient variability (CV 30%)
on ``r_S``, ``r_R``, ``k_T``, ``k_E`` and ``d_E`` (as ``bench_cohort.py``), 365 days, rtol 1e-6 and the
model's per-state atol, daily outputs and RECIST readouts, in this process
(``td.Cohort(...).simulate(..., method="dopri5")``):

* **fixed**: anti-PD-1 every 21 days (200 mg) + the targeted drug weekly (100 mg);
* **adaptive**: the same anti-PD-1, and the weekly targeted doses gated by an
  :class:`~tumordyn.AdaptiveRule` on ``tumor_burden`` (pause below 50% of the baseline, resume at 80%).

Both regimens run in the same process, one after the other, after a warm-up on a few patients
(numba's compilation and the model's code generation are not timed). Printed per regimen: wall time and
CPU time of the process (``time.process_time``), patients per
second, RHS evaluations and, for the adaptive one, the mean number of switches per patient (from a
100-patient ``td.simulate`` sample). The last line is machine-readable::

    adaptive_over_fixed_cpu=X adaptive_over_fixed_wall=Y

The target is a ratio of at most 3 (before rules ran on the compiled engine, the adaptive cohort was
simulated patient by patient with LSODA, about 30 times slower than the fixed one).

Run: ``python benchmarks/bench_adaptive.py`` (``--n 1000`` for a quick run). Not part of the test-suite.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import tumordyn as td

T_END = 365.0
VARIED = ("r_S", "r_R", "k_T", "k_E", "d_E")
CV = 0.3


def fixed_regimen() -> td.Schedule:
    """Targeted drug weekly (100 mg) + anti-PD-1 every 21 days (200 mg), days 0-364."""
    return td.Schedule.every("targeted", 100.0, 7.0, until=T_END - 1) + td.Schedule.every(
        "anti_pd1", 200.0, 21.0, until=T_END - 1)


def adaptive_regimen() -> td.Regimen:
    """The same anti-PD-1; the weekly targeted doses given only while tumor_burden has not fallen below half."""
    rule = td.AdaptiveRule("targeted", td.Schedule.every("targeted", 100.0, 7.0, until=T_END - 1),
                           observable="tumor_burden", pause_below=0.5, resume_at=0.8)
    return td.Schedule.every("anti_pd1", 200.0, 21.0, until=T_END - 1) + rule


def make_cohort(model: td.Model, n: int, seed: int = 2024) -> td.Cohort:
    defaults = model.defaults()
    return td.Cohort(model, {p: td.cohorts.LogNormal(median=defaults[p], cv=CV) for p in VARIED}, n=n, seed=seed)


def timed(cohort: td.Cohort, regimen: object) -> tuple[float, float, td.cohorts.CohortResult]:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    res = cohort.simulate({"r": regimen}, t_end=T_END, method="dopri5", progress=False)
    return time.process_time() - cpu0, time.perf_counter() - wall0, res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000, help="patients (default 10000)")
    ap.add_argument("--repeats", type=int, default=1, help="timed runs per regimen, best kept (default 1)")
    args = ap.parse_args()
    model = td.models.tumor_immune_tme()
    fixed, adaptive = fixed_regimen(), adaptive_regimen()
    warm = time.perf_counter()
    small = make_cohort(model, 8)
    for reg in (fixed, adaptive):
        small.simulate({"r": reg}, t_end=T_END, method="dopri5", progress=False)
    print(f"warm-up (code generation, numba compile or cache load): {time.perf_counter() - warm:.2f} s")
    cohort = make_cohort(model, args.n)
    rows = {}
    for name, reg in (("fixed", fixed), ("adaptive", adaptive)):
        best = None
        for _ in range(args.repeats):
            cpu, wall, res = timed(cohort, reg)
            if best is None or cpu < best[0]:
                best = (cpu, wall, res)
        assert best is not None
        cpu, wall, res = best
        rows[name] = (cpu, wall)
        print(f"{name:9s} n={args.n}  wall {wall:7.2f} s  cpu {cpu:7.2f} s  {args.n / wall:8.0f} patients/s  "
              f"nfev {res.stats.nfev:.3e}  failed {res.stats.n_failed}  fallback {res.stats.n_fallback}  "
              f"ORR {res.response_rates().loc['r', 'ORR']:.3f}")
    sample = [td.simulate(model, adaptive, t_end=T_END, params=cohort.patient_params(j), t_eval=[0.0, T_END])
              for j in range(min(100, args.n))]
    n_sw = np.array([len(tr.events) for tr in sample])
    given = np.array([tr.schedule.n_doses("targeted") for tr in sample])
    print(f"adaptive: {n_sw.mean():.2f} switches per patient (max {n_sw.max()}), {given.mean():.1f} of "
          f"{adaptive.rules[0].on.n_doses()} targeted doses given on average (first {len(sample)} patients)")
    r_cpu = rows["adaptive"][0] / rows["fixed"][0]
    r_wall = rows["adaptive"][1] / rows["fixed"][1]
    print(f"adaptive_over_fixed_cpu={r_cpu:.2f} adaptive_over_fixed_wall={r_wall:.2f}")


if __name__ == "__main__":
    main()
