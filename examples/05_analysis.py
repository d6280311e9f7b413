"""Why does a tumor escape? Equilibria, threshold, bifurcation, phase portrait and sensitivities.

Analyses the Kuznetsov et al. (1994) effector–tumor model at its published
parameter values:

1. all steady states with their eigenvalues and stability (tumor-free saddle,
   dormant stable focus, saddle, escape stable node);
2. the immune-control threshold of the tumor-free state, a − n·s/d < 0;
3. the bifurcation diagram along the effector death rate d (two folds bound a
   bistable window; a transcritical point where the tumor-free state becomes
   stable), written to ``out/kuznetsov_bifurcation.png``;
4. the phase portrait of (T, E) with nullclines, trajectories and the three
   interior equilibria, and the basins of dormancy and escape from simulation,
   written to ``out/kuznetsov_phase_portrait.png``;
5. elasticities of the tumor size after 60 days, written to
   ``out/kuznetsov_sensitivity.png``.

Run it headless from any directory:

    MPLBACKEND=Agg python examples/05_analysis.py
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import matplotlib

if not os.environ.get("MPLBACKEND"):
    matplotlib.use("Agg")
import matplotlib.pyplot as plt

import tumordyn as td


def main() -> None:
    started = time.perf_counter()
    out = Path.cwd() / "out"
    out.mkdir(exist_ok=True)
    model = td.models.kuznetsov1994()

    eq = td.analysis.equilibria(model)
    print(eq)
    print(eq.to_dataframe()[["E", "T", "max_real", "stability"]].to_string())

    th = td.analysis.tumor_free_threshold(model)
    print(f"\nImmune-control threshold: {th.expression} < 0; at the published values {th.value():.4f} /day "
          f"({'controlled' if th.is_stable() else 'not controlled'}); "
          f"critical killing rate n* = {th.critical_value('n')[0]:.3g} /(cell day)")

    bif = td.analysis.bifurcation(model, "d", (0.005, 0.2), log=True)
    print(f"\n{bif}")
    print(bif.special_points.to_string())
    ax = bif.plot(state="T", log=True, logx=True)
    ax.axvline(model.parameters["d"].default, color="0.5", lw=0.8, ls=":")
    ax.figure.tight_layout()
    ax.figure.savefig(out / "kuznetsov_bifurcation.png", dpi=120)
    plt.close(ax.figure)

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 5))
    starts = [(1e6, 1e5), (5e6, 3.2e5), (3e7, 2e5), (3e8, 1e6), (1e8, 1e5), (2e5, 5e6), (6e8, 3e6)]
    td.analysis.phase_portrait(model, "T", "E", log=True, x_range=(1e5, 1e9), y_range=(1e4, 1e7), starts=starts,
                      t_end=1500.0, ax=ax1)
    om = td.analysis.outcome_map(model, "T", (1e5, 1e9), "E", (1e4, 1e7), n=24, log_x=True, log_y=True, t_end=2000.0,
                        threshold=1e8)
    om.plot(ax=ax2)
    ax2.set_title("basins: final tumor > 1e8 cells after 2000 days")
    print(f"\n{om}")
    fig.tight_layout()
    fig.savefig(out / "kuznetsov_phase_portrait.png", dpi=120)
    plt.close(fig)

    sens = td.analysis.sensitivity(model, readout="T", t_end=60.0)
    print(f"\n{sens}")
    ax = sens.tornado()
    ax.figure.tight_layout()
    ax.figure.savefig(out / "kuznetsov_sensitivity.png", dpi=120)
    plt.close(ax.figure)
    print(f"\nfigures written to {out} in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
