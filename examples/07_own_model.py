"""Your own model: write a tumor–immune–chemotherapy model and take it through every tool.

The model is written here from its parts (states, parameters with units and bounds, processes,
a drug, observables), not taken from ``td.models``. The script then

1. simulates it untreated and under weekly chemotherapy (``out/07_simulate.png``);
2. compares four regimens on clinical readouts, RECIST 1.1 on its own diameter observable
   (``out/07_compare.png``);
3. fits two parameters to synthetic tumor-volume data of five patients and checks the estimates
   against the values that made the data (``out/07_fit.png``);
4. simulates a virtual cohort of 300 patients (``out/07_cohort.png``);
5. analyses it: equilibria without drug, a phase portrait and the sensitivity of the tumor burden
   after one year of weekly chemotherapy to each parameter (``out/07_analysis.png``);
6. writes it to a TOML model file and reads it back.

The tutorial "Your own model" in the documentation walks through it step by step. Run it from
any directory: ``python examples/07_own_model.py``; figures go to ``./out/``.
"""

from __future__ import annotations

import os
import tempfile

import matplotlib

if not os.environ.get("MPLBACKEND"):
    matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import tumordyn as td

OUT = os.path.join(os.getcwd(), "out")


# --8<-- [start:model]
def build_model() -> td.Model:
    """Tumor cells T, effector T cells E and a chemotherapy concentration C (cells, days, mg/L)."""
    return td.Model(
        "tumor_effector_chemo",
        description="Logistic tumor, effector T cells recruited by the tumor, a cytotoxic drug",
        states=[
            td.State("T", 1e10, "cells", "tumor cells", atol=1.0),
            td.State("E", 3.2e7, "cells", "tumor-specific effector T cells", atol=1.0),
            td.State("C", 0.0, "mg/L", "plasma concentration of the cytotoxic drug", atol=1e-9),
        ],
        # Kuznetsov et al. (1994)'s values with cells scaled by 100 (a lesion of centimetres, not a
        # mouse lymphoma), plus a cytotoxic drug with one-compartment pharmacokinetics
        parameters=[
            td.Parameter("r", 0.18, (0.001, 1.0), "1/day", "tumor growth rate at low density",
                         "Kuznetsov et al. 1994 (a = 0.18/day)"),
            td.Parameter("K", 5e10, (1e8, 1e13), "cells", "carrying capacity of the tumor",
                         "Kuznetsov et al. 1994 (1/b = 5e8 cells, x100)"),
            td.Parameter("k_E", 1.101e-9, (0.0, 1e-6), "1/(cell*day)", "killing of tumor cells per effector",
                         "Kuznetsov et al. 1994 (n = 1.101e-7, /100)"),
            td.Parameter("s", 1.3e6, (0.0, 1e9), "cells/day", "baseline influx of effectors",
                         "Kuznetsov et al. 1994 (s = 1.3e4 cells/day, x100)"),
            td.Parameter("p", 0.1245, (0.0, 2.0), "1/day", "maximal tumor-driven effector expansion",
                         "Kuznetsov et al. 1994"),
            td.Parameter("g", 2.019e9, (1e4, 1e13), "cells", "tumor size at half-maximal expansion",
                         "Kuznetsov et al. 1994 (g = 2.019e7 cells, x100)"),
            td.Parameter("m", 3.422e-12, (0.0, 1e-6), "1/(cell*day)", "effector inactivation by tumor cells",
                         "Kuznetsov et al. 1994 (m = 3.422e-10, /100)"),
            td.Parameter("d", 0.0412, (0.001, 1.0), "1/day", "effector death rate", "Kuznetsov et al. 1994"),
            td.Parameter("k_C", 0.12, (0.0, 10.0), "L/(mg*day)", "tumor kill per unit drug concentration",
                         "assumption"),
            td.Parameter("k_CE", 0.05, (0.0, 10.0), "L/(mg*day)", "effector kill per unit drug concentration",
                         "assumption: lymphodepletion"),
            td.Parameter("ke", 0.7, (0.01, 10.0), "1/day", "drug elimination rate (half-life 1 day)",
                         "assumption"),
        ],
        processes=[
            td.Process("growth", "r * T * (1 - T / K)", produces="T"),
            td.Process("immune_kill", "k_E * E * T", consumes="T"),
            td.Process("influx", "s", produces="E"),
            td.Process("expansion", "p * E * T / (g + T)", produces="E"),
            td.Process("inactivation", "m * E * T", consumes="E"),
            td.Process("effector_death", "d * E", consumes="E"),
            td.Process("chemo_kill", "k_C * C * T", consumes="T"),
            td.Process("lymphodepletion", "k_CE * C * E", consumes="E"),
            td.Process("elimination", "ke * C", consumes="C"),
        ],
        drugs=[td.Drug("chemo", "C", volume=20.0)],  # 20 L distribution volume: 100 mg -> 5 mg/L
        observables=[
            td.Observable("tumor_burden", "T", "cells", "tumor cells"),
            # a sphere of 1e9 cells (1 cm^3) is 12.4 mm across
            td.Observable("diameter_mm", "12.4 * (T / 1e9) ** (1 / 3)", "mm", "lesion diameter"),
            td.Observable("tumor_volume", "T / 1e6", "mm^3", "tumor volume (1e6 cells per mm^3)"),
        ],
    )


# --8<-- [end:model]
# --8<-- [start:regimens]
def regimens() -> dict:
    weekly = td.Schedule.every("chemo", 100.0, 7.0, until=364)
    return {
        "untreated": td.Schedule(),
        "weekly 100 mg": weekly,
        "every 3 weeks 300 mg": td.Schedule.every("chemo", 300.0, 21.0, until=364),
        # adaptive: pause when the diameter is below 70 % of baseline, resume at 100 %
        "adaptive weekly": td.Regimen(rules=(td.AdaptiveRule("chemo", weekly, observable="diameter_mm",
                                                             pause_below=0.7, resume_at=1.0),)),
    }


# --8<-- [end:regimens]
def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    model = build_model()
    print(model)
    print("positivity violations:", model.positivity_violations() or "none")

    # 1. simulate ------------------------------------------------------------------------------
    # --8<-- [start:simulate]
    weekly = regimens()["weekly 100 mg"]
    untreated = td.simulate(model, None, t_end=365)
    treated = td.simulate(model, weekly, t_end=365)
    print(f"\nday 365 tumor: untreated {untreated['T'][-1]:.3g} cells, weekly chemo {treated['T'][-1]:.3g} cells")
    # --8<-- [end:simulate]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    treated.plot(["T", "E"], ax=axes[0])
    axes[0].plot(untreated.t, untreated["T"], "k--", lw=1, label="T untreated")
    axes[0].legend()
    axes[0].set_ylabel("cells")
    treated.plot(["C"], ax=axes[1], logy=False, show_doses=False)
    axes[1].set_ylabel("mg/L")
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "07_simulate.png"), dpi=100)
    plt.close(fig)

    # 2. compare regimens on clinical readouts --------------------------------------------------
    # --8<-- [start:compare]
    comparison = td.compare(model, regimens(), t_end=365, scans=td.readouts.ScanPlan(interval=56),
                            diameter="diameter_mm", progress=False)
    print()
    print(comparison)
    # --8<-- [end:compare]
    fig = comparison.plot()
    fig.savefig(os.path.join(OUT, "07_compare.png"), dpi=100)
    plt.close(fig)

    # 3. fit to data -----------------------------------------------------------------------------
    # --8<-- [start:fit]
    # five patients' lesion volumes, measured every 4 weeks; chemotherapy starts at different times
    truth = {"r": 0.2, "k_C": 0.15}
    patients = {f"P{i}": td.Schedule.every("chemo", 100.0, 7.0, start=28.0 * i, until=196) for i in range(1, 5)}
    patients["P0"] = td.Schedule()  # untreated
    data = td.fitting.synthetic_data(model, patients, np.arange(0.0, 197.0, 28.0), "tumor_volume", sigma=0.1,
                                     seed=7, params=truth)
    fit = td.fit(model, data, ["r", "k_C"], schedules=patients)
    print(f"\nfit of r and k_C to {len(data)} volumes of 5 patients (truth: r = 0.2/day, k_C = 0.15 L/(mg*day)):")
    print(fit.confidence_table())
    for name, true in truth.items():
        est = fit.values()[name]
        print(f"  {name}: estimate {est:.4g}, truth {true:.4g} ({100 * (est / true - 1):+.1f} %)")
    # --8<-- [end:fit]
    fig = fit.plot(ncols=3)
    fig.savefig(os.path.join(OUT, "07_fit.png"), dpi=100)
    plt.close(fig)

    # 4. a virtual cohort -------------------------------------------------------------------------
    # --8<-- [start:cohort]
    cohort = td.Cohort(model, {"r": td.cohorts.LogNormal(0.18, 0.2), "k_C": td.cohorts.LogNormal(0.12, 0.5),
                               "p": td.cohorts.LogNormal(0.1245, 0.3)}, n=300, seed=1)
    arms = {name: regimens()[name] for name in ("weekly 100 mg", "adaptive weekly")}
    result = cohort.simulate(arms, t_end=365, measure="diameter_mm",
                             scans=td.readouts.ScanPlan(interval=56), progress=False)
    # --8<-- [end:cohort]
    print("\ncohort of 300 patients:")
    print(result.response_rates().T.to_string(float_format="{:.3g}".format))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, arm in zip(axes, arms):
        result.waterfall(arm, ax=ax)
        ax.set_title(arm)
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "07_cohort.png"), dpi=100)
    plt.close(fig)

    # 5. analysis --------------------------------------------------------------------------------
    # --8<-- [start:analysis]
    eq = td.analysis.equilibria(model)
    print("\nequilibria without drug:")
    print(eq.to_dataframe()[["T", "E", "stability"]].to_string())
    sens = td.analysis.sensitivity(model, weekly, "tumor_burden", t_end=365)
    print("\nsensitivity of the tumor burden at day 365 under weekly chemo (elasticities):")
    print(sens.to_dataframe().to_string())
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    td.analysis.phase_portrait(model, "T", "E", log=True, x_range=(1e6, 1e11), y_range=(1e6, 1e9),
                               t_end=365, ax=axes[0])
    sens.tornado(ax=axes[1])
    # --8<-- [end:analysis]
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "07_analysis.png"), dpi=100)
    plt.close(fig)

    # 6. a model file ----------------------------------------------------------------------------
    # --8<-- [start:files]
    with tempfile.TemporaryDirectory() as tmp:
        path = td.io.save_model(model, os.path.join(tmp, "tumor_effector_chemo.toml"))
        again = td.io.load_model(path)
    same = np.allclose(td.simulate(again, weekly, t_end=365)["T"], treated["T"], rtol=1e-12)
    print(f"\nmodel file round trip: identical model {again == model}, same trajectory {same}")
    # --8<-- [end:files]
    print(f"figures written to {OUT}")


if __name__ == "__main__":
    main()
