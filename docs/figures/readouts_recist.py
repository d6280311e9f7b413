"""RECIST 1.1 at the scans: one simulated lesion under the standard combination.

The default model under the targeted drug and anti-PD-1 at their standard doses
(`td.models.STANDARD_DOSES`): the continuous lesion diameter, the scans every 8 weeks and
the RECIST 1.1 category read at each scan (`td.readouts.recist`). Writes
`out/readouts_recist.png`.
"""

from __future__ import annotations

import os

import matplotlib

if not os.environ.get("MPLBACKEND"):
    matplotlib.use("Agg")
import matplotlib.pyplot as plt

import tumordyn as td


def main() -> None:
    os.makedirs("out", exist_ok=True)
    model = td.models.tumor_immune_tme()
    (a_t, i_t), (a_p, i_p) = td.models.STANDARD_DOSES["targeted"], td.models.STANDARD_DOSES["anti_pd1"]
    regimen = (td.Schedule.every("targeted", a_t, i_t, until=364)
               + td.Schedule.every("anti_pd1", a_p, i_p, start=14, until=364))
    traj = td.simulate(model, regimen, t_end=365)
    scans = td.readouts.ScanPlan(interval=56)
    result = td.readouts.recist(traj, scans)
    print(result.table.to_string())
    print("best overall response:", result.best_overall_response)

    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(traj.t, traj["lesion_diameter"], color="0.3", label="lesion diameter (continuous)")
    table = result.table
    ax.axhline(table["diameter"].iloc[0] * 0.7, color="tab:blue", lw=0.8, ls=":", label="−30 % (partial response)")
    colors = {"CR": "tab:green", "PR": "tab:blue", "SD": "tab:orange", "PD": "tab:red"}
    for _, row in table.iterrows():
        cat = str(row["response"])
        ax.scatter(row["time"], row["diameter"], color=colors.get(cat, "k"), zorder=3, s=36)
        ax.annotate(cat, (row["time"], row["diameter"]), textcoords="offset points", xytext=(0, 8),
                    ha="center", fontsize=9)
    ax.set_xlabel("time (days)")
    ax.set_ylabel("lesion diameter (mm)")
    ax.set_title(f"RECIST 1.1 at scans every 8 weeks: best overall response {result.best_overall_response}")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(os.path.join("out", "readouts_recist.png"), dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
