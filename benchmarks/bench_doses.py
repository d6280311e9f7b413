"""Seconds per engine against the number of bolus doses: every engine must be linear in doses (issue 18, item 7).

The default model ``td.models.tumor_immune_tme()`` over 366 days with ``n`` equally spaced doses
of the targeted drug (1 mg each) for ``n`` in ``--doses`` (default 1,000, 10,000 and 100,000), per
engine in ``--engines`` (default: LSODA, RK45, and dopri5 when numba is installed), rtol 1e-6,
outputs at the breakpoints' default grid. Prints the seconds to build the schedule's plan
(``DosingPlan.build``), then per engine the wall seconds of ``td.simulate`` and the seconds per
1,000 doses (constant when linear). A solve longer than ``--timeout`` seconds (default 300) is
stopped through ``Solver(max_seconds=...)`` on the scipy engines and reported as such.
The last line is machine-readable::

    doses=N engine=seconds ...   (for the largest N)

Run: ``python benchmarks/bench_doses.py`` (``--help`` for options).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time

import tumordyn as td
from tumordyn.dosing import DosingPlan
from tumordyn.errors import SolverError, SolverStatus
from tumordyn.numerics import compile_model


def main(argv: list[str] | None = None) -> int:
    have_numba = importlib.util.find_spec("numba") is not None
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--doses", default="1000,10000,100000", help="comma-separated dose counts")
    parser.add_argument("--engines", default="LSODA,RK45" + (",dopri5" if have_numba else ""),
                        help="comma-separated methods")
    parser.add_argument("--timeout", type=float, default=300.0, help="wall-time budget per scipy solve (s)")
    args = parser.parse_args(argv)
    counts = [int(x) for x in args.doses.split(",")]
    engines = args.engines.split(",")
    model = td.models.tumor_immune_tme()
    c = compile_model(model)
    for e in engines:  # warm-up (numba compilation, first calls)
        td.simulate(model, td.Schedule.every("targeted", 1.0, interval=1.0, count=10), t_end=12.0, method=e)
    last: dict[str, str] = {}
    print(f"{'doses':>8} {'plan build':>11} " + " ".join(f"{e + ' s':>12} {'s/1000':>8}" for e in engines))
    for n in counts:
        schedule = td.Schedule.every("targeted", 1.0, interval=365.0 / n, count=n)
        started = time.perf_counter()
        DosingPlan.build(c.drug_names, schedule, 0.0, 366.0)
        build = time.perf_counter() - started
        cells = []
        for e in engines:
            solver = td.Solver(method=e, max_steps=10**9,
                               max_seconds=args.timeout if e not in ("dopri5", "batch", "auto") else None)
            started = time.perf_counter()
            try:
                traj = td.simulate(model, schedule, t_end=366.0, solver=solver)
                seconds = time.perf_counter() - started
                assert traj.stats.n_doses_applied == n
                cells.append(f"{seconds:12.3f} {seconds / n * 1000:8.3f}")
                last[e] = f"{seconds:.3f}"
            except SolverError as err:
                seconds = time.perf_counter() - started
                tag = "timeout" if err.status == SolverStatus.TIME_BUDGET else err.status.name
                cells.append(f"{'>' + format(seconds, '.1f') + ' ' + tag:>21}")
                last[e] = f">{seconds:.1f}"
        print(f"{n:>8} {build:11.3f} " + " ".join(cells), flush=True)
    print(f"doses={counts[-1]} " + " ".join(f"{e}={v}" for e, v in last.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
