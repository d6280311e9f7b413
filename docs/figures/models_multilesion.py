"""Several lesions per patient: per-lesion diameters, the RECIST sum, a mixed response and a new lesion.

A patient of `td.models.multilesion` (two liver lesions, a lung lesion with 57 % resistant cells and
a bone micrometastasis of 1.1e6 cells, mostly resistant and without T-cell infiltration of its own)
under the standard targeted regimen,
scanned every 6 weeks. Left: each lesion's diameter (mm) — the liver lesions shrink while the lung
lesion grows (a mixed response) and the bone micrometastasis grows; the
vertical line marks the first scan at which it is a new lesion (its tumor cells above the
detectability limit). Right: the RECIST 1.1 sum of the target-lesion diameters at the scans with the
response at each scan. Writes `out/models_multilesion.png`.
"""

from __future__ import annotations

import math
import os

import matplotlib

if not os.environ.get("MPLBACKEND"):
    matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import tumordyn as td


def main() -> None:
    os.makedirs("out", exist_ok=True)
    # the default patient's lesions, except that the lung lesion is mostly resistant (it grows under the
    # drug while the liver lesions shrink: a mixed response) and the bone micrometastasis is mostly
    # resistant and not infiltrated (s_E = 0): it crosses the detectability limit under the drug, a new lesion
    model = td.models.multilesion({
        "liver_1": {},
        "liver_2": {"S": 6e8, "R": 6e6},
        "lung_1": {"S": 3e8, "R": 4e8},
        "bone_1": {"S": 1e5, "R": 1e6, "E": 1000.0, "X": 0.0, "P": 0.0, "s_E": 0.0, "r_R": 0.03},
    })
    t_end = 540.0
    regimen = td.regimens.standard_regimens(model, t_end)["targeted"]
    traj = td.simulate(model, regimen, t_end=t_end, t_eval=np.linspace(0.0, t_end, 541))
    scans = td.readouts.ScanPlan(interval=42.0)
    rec = td.readouts.recist(traj, scans=scans)
    tab = rec.table
    lesions = td.readouts.lesions_of(traj)
    new = tab.loc[tab["new_lesions"] > 0, "time"]
    t_new = float(new.iloc[0]) if len(new) else math.nan
    print(f"target lesions: {', '.join(rec.target_lesions)}; best overall response {rec.best_overall_response}; "
          f"progression at day {rec.time_to_progression:g}; first new lesion at the scan of day {t_new:g}")
    print(tab[["time", "diameter", "change_from_baseline", "new_lesions", "response"]].to_string(index=False))
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for les in lesions:
        name = les.diameter.removesuffix("_lesion_diameter")
        role = "target" if name in rec.target_lesions else "non-target"
        ax.plot(traj.t, traj[les.diameter], label=f"{name} ({role})")
    if math.isfinite(t_new):
        ax.axvline(t_new, color="k", ls=":", lw=1)
        ax.annotate("new lesion", (t_new, ax.get_ylim()[1] * 0.92), xytext=(4, 0), textcoords="offset points",
                    fontsize=8)
    ax.set_xlabel("time (days)")
    ax.set_ylabel("lesion diameter (mm)")
    ax.set_title("per-lesion diameters (targeted therapy)")
    ax.legend(fontsize=8)
    colors = {"baseline": "0.4", "CR": "tab:green", "PR": "tab:blue", "SD": "tab:orange", "PD": "tab:red"}
    ax2.plot(tab["time"], tab["diameter"], color="0.6", lw=1, zorder=1)
    for resp, grp in tab.groupby("response"):
        ax2.scatter(grp["time"], grp["diameter"], color=colors.get(resp, "k"), label=resp, zorder=2)
    ax2.set_xlabel("scan time (days)")
    ax2.set_ylabel("sum of target-lesion diameters (mm)")
    ax2.set_title(f"RECIST 1.1: best response {rec.best_overall_response}, PD at day {rec.time_to_progression:g}")
    ax2.legend(fontsize=8, title="response at scan")
    fig.tight_layout()
    fig.savefig(os.path.join("out", "models_multilesion.png"), dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
