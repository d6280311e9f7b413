"""Compare treatment schedules on the default tumor–immune–TME model.

Runs the default model for a year under eight regimens (no treatment, targeted
drug alone, anti-PD-1 alone, TME priming alone, targeted + anti-PD-1, priming then
anti-PD-1, priming then targeted + anti-PD-1, and adaptive on/off targeted therapy),
prints a table of clinical readouts (RECIST 1.1 on scans every 8 weeks, time to
progression, durable response, resistant fraction, T-cell state, doses) and writes
the comparison figure to ``out/compare_schedules.png``. It then asks how long to
prime the microenvironment before anti-PD-1 (a grid of lead times under a budget
of priming agent) and writes ``out/priming_lead_time.png``.

Run it headless from any directory:

    MPLBACKEND=Agg python examples/02_compare_schedules.py
"""

from __future__ import annotations

import os
import time

import matplotlib

if not os.environ.get("MPLBACKEND"):
    matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import tumordyn as td


def main() -> None:
    out = os.path.join(os.getcwd(), "out")
    os.makedirs(out, exist_ok=True)
    t_end = 365.0
    model = td.models.tumor_immune_tme()

    started = time.perf_counter()
    regimens = td.regimens.standard_regimens(model, t_end, lead_time=14)
    comparison = td.compare(model, regimens, t_end=t_end, scans=td.readouts.ScanPlan(interval=56))
    print(comparison)
    print(f"({len(regimens)} regimens simulated in {time.perf_counter() - started:.1f} s)\n")

    adaptive = comparison["adaptive-targeted"]
    switches = ", ".join(f"{e.action} at day {e.time:.0f}" for e in adaptive.events[:6])
    print(f"adaptive targeted therapy: {len(adaptive.events)} switches ({switches}, ...); "
          f"{adaptive.schedule.n_doses('targeted')} targeted doses given vs "
          f"{comparison['targeted'].schedule.n_doses('targeted')} continuous\n")

    fig = comparison.plot()
    path = os.path.join(out, "compare_schedules.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")

    # How long should the TME be primed before anti-PD-1? Lead times 0..42 days, at most 30 priming doses,
    # scored by the tumor burden left at the horizon (log10 cells; smaller is better).
    def log10_final_burden(traj: td.Trajectory) -> float:
        return float(np.log10(traj["tumor_burden"][-1] + 1.0))

    search = td.comparison.search_schedule(
        model,
        lambda lead: td.regimens.priming_then("anti_pd1", lead, t_end=t_end),
        grid=[0, 3, 7, 10, 14, 21, 28, 35, 42],
        t_end=t_end,
        readout=log10_final_burden,
        maximize=False,
        budget={"priming": 30 * 20.0},
        parameter="priming lead time (days)",
    )
    print(f"\npriming lead time: {search!r}")
    print(search.surface[["x", "value", "feasible", "total_priming"]].to_string(index=False))
    ax = search.plot()
    path = os.path.join(out, "priming_lead_time.png")
    ax.figure.savefig(path, dpi=110)
    plt.close(ax.figure)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
