"""Dosing per body weight across a cohort: the same regimen in mg/kg and flat mg.

A cohort of 400 virtual patients of the default model whose body weight (log-normal, median 70 kg,
CV 20%) is drawn with the parameters, correlated (Gaussian copula, rho 0.9) with the volume of
distribution of the targeted drug (median 50 L), as a volume that grows with body size. The targeted
drug is given weekly for 12 weeks either flat (100 mg, its standard dose) or per body weight
(100 mg / 70 kg = 1.43 mg/kg, the same dose for a 70-kg patient): each patient's dose, its mean
concentration over the 12 weeks and the best change of the lesion are plotted against its weight.
Writes `out/units_covariates.png`.
"""

from __future__ import annotations

import os

import matplotlib

if not os.environ.get("MPLBACKEND"):
    matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import tumordyn as td

T_END = 84.0


def main() -> None:
    os.makedirs("out", exist_ok=True)
    model = td.models.tumor_immune_tme()
    LN = td.cohorts.LogNormal
    cohort = td.Cohort(model, {"V_targeted": LN(median=50.0, cv=0.2), "r_S": LN(median=0.03, cv=0.3)}, n=400,
                       seed=7, covariates={"weight_kg": LN(median=70.0, cv=0.2)},
                       correlation={("V_targeted", "weight_kg"): 0.9})
    amount, interval = td.models.STANDARD_DOSES["targeted"]
    regimens = {
        "flat 100 mg weekly": td.Schedule.every("targeted", amount, interval, until=T_END - 1),
        "1.43 mg/kg weekly": td.Schedule.every("targeted", amount / 70.0, interval, until=T_END - 1, unit="mg/kg"),
    }
    res = cohort.simulate(regimens, t_end=T_END, keep_trajectories=True, progress=False)
    weight = cohort.covariates["weight_kg"].to_numpy()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    colors = {"flat 100 mg weekly": "tab:gray", "1.43 mg/kg weekly": "tab:blue"}
    for name in regimens:
        dose = amount * np.ones_like(weight) if name.startswith("flat") else amount / 70.0 * weight
        # each patient's trajectory carries its own doses: the exposure (AUC) over the horizon, as a mean
        conc = np.array([td.readouts.auc(res.trajectory(j, name), "targeted") for j in range(cohort.n)]) / T_END
        change = res.readouts(name)["best_percent_change"]
        kw = dict(s=9, alpha=0.6, color=colors[name], label=name)
        axes[0].scatter(weight, dose, **kw)
        axes[1].scatter(weight, conc, **kw)
        axes[2].scatter(weight, change, **kw)
        cv = np.std(conc) / np.mean(conc)
        print(f"{name}: mean concentration {np.mean(conc):.3f} mg/L, CV across patients {100 * cv:.1f} %; "
              f"median best change {np.nanmedian(change):.1f} %")
    axes[0].set(xlabel="body weight (kg)", ylabel="dose per administration (mg)", title="Each patient's dose")
    axes[1].set(xlabel="body weight (kg)", ylabel="mean targeted-drug concentration (mg/L)",
                title="Exposure over 12 weeks")
    axes[2].set(xlabel="body weight (kg)", ylabel="best change of the lesion (%)", title="Best response (RECIST)")
    axes[0].legend(frameon=False, fontsize=8)
    fig.tight_layout()
    fig.savefig("out/units_covariates.png", dpi=120)


if __name__ == "__main__":
    main()
