"""Quick start: simulate the default tumor–immune–TME model under a combination schedule.

A targeted drug (100 mg weekly) is combined with anti-PD-1 (200 mg every 21 days from
day 14) for one year. The script prints the solver counters and a few readouts, exports
the trajectory to pandas and writes ``out/quickstart.png``: tumor clones and T cells on a
log axis (with the dose times marked), the measured lesion diameter, and the drug
concentrations.

Run it headless from any directory:

    MPLBACKEND=Agg python examples/01_quickstart.py
"""

from __future__ import annotations

import os

import matplotlib

if not os.environ.get("MPLBACKEND"):
    matplotlib.use("Agg")
import matplotlib.pyplot as plt

import tumordyn as td


def main() -> None:
    out = os.path.join(os.getcwd(), "out")
    os.makedirs(out, exist_ok=True)

    model = td.models.tumor_immune_tme()
    print(model)

    amount_t, every_t = td.models.STANDARD_DOSES["targeted"]
    amount_a, every_a = td.models.STANDARD_DOSES["anti_pd1"]
    regimen = (td.Schedule.every("targeted", amount_t, every_t, until=364)
               + td.Schedule.every("anti_pd1", amount_a, every_a, start=14, until=364))
    traj = td.simulate(model, regimen, t_end=365)
    print(traj)
    first_call = traj.stats.wall_time
    traj = td.simulate(model, regimen, t_end=365)  # compiled code is reused from now on
    print(f"first call (includes code generation/compilation): {first_call * 1e3:.0f} ms")
    print(f"solver: {traj.stats.method}, {traj.stats.nfev} right-hand-side evaluations, "
          f"{traj.stats.n_segments} segments, {traj.stats.n_doses_applied} doses, "
          f"{traj.stats.wall_time * 1e3:.1f} ms")

    burden = traj["tumor_burden"]
    print(f"tumor burden: {burden[0]:.3g} cells at day 0, nadir {burden.min():.3g} cells, "
          f"{burden[-1]:.3g} cells at day 365")
    print(f"resistant fraction at day 365: {traj['resistant_fraction'][-1]:.3f}")
    table = traj.to_dataframe(["S", "R", "E", "X", "P", "lesion_diameter"])
    print(table[table.index % 60 == 0].to_string(float_format="{:.3g}".format))

    fig, axes = plt.subplots(3, 1, figsize=(8, 9), sharex=True)
    traj.plot(["S", "R", "E", "X"], ax=axes[0])
    axes[0].set_ylabel("cells")
    traj.plot(["lesion_diameter", "tumor_diameter"], ax=axes[1], logy=False, show_doses=False)
    axes[1].set_ylabel("mm")
    traj.plot(["C_targeted", "C_anti_pd1"], ax=axes[2], logy=False, show_doses=False)
    axes[2].set_ylabel("mg/L")
    for ax in axes[1:]:
        ax.set_title("")
    fig.tight_layout()
    path = os.path.join(out, "quickstart.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
