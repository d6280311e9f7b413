"""Real patients: growth-law fits, a population model with its VPC, and forecasts from the first scans.

Data: ``td.datasets.laleh2022()``, target-lesion volumes of 1,461 patients from five atezolizumab /
docetaxel trials (Ghaffari Laleh et al. 2022, PLOS Comput Biol 18(2):e1009822; CC BY 4.0).

Steps: fit the five growth laws to four patients (all but the last two scans, as in TumorGrowth.jl's
model battle) and print their held-out errors; fit a population model (exponential growth, log-normal
variability of the initial volume, normal variability of the rate, additive error on the log scale;
FOCE-I) to 120 patients and draw its visual predictive check; forecast three other patients from their
first three scans with the population model as prior, against their later (held-out) scans.

Writes ``out/06_individual_fits.png``, ``out/06_vpc.png`` and ``out/06_forecasts.png`` (relative to
the current directory). Run: ``python examples/06_real_patients.py`` (about 30 s).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import tumordyn as td  # noqa: E402

LAWS = ("exponential", "logistic", "gompertz", "classical_bertalanffy", "bertalanffy")
FLOOR_MM3 = 0.52  # an early scan of a gone lesion (0 mm) is set to the volume of a 1 mm lesion (log scale)


def exponential(t, p):
    """``S exp(r t)``: volume (mm³) t days after the first scan."""
    return p["S"] * np.exp(p["r"] * t)


def main() -> None:
    warnings.simplefilter("ignore")
    out = Path("out")
    out.mkdir(exist_ok=True)
    df = td.datasets.laleh2022()
    norm = float(df["volume_mm3"].max())
    df["t"] = df["time_weeks"] * 7.0
    recs = [g for _, g in df.groupby("patient", sort=False) if len(g) >= 7]

    # 1. individual fits of the five laws, all but the last two scans
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6))
    rows = []
    for ax, g in zip(axes, recs[:4]):
        t, v = g["t"].to_numpy(), g["volume_mm3"].to_numpy()
        data = td.datasets.fit_table(g.assign(time_days=g["t"]))
        train = data.iloc[:-2]
        ax.plot(t[:-2], v[:-2], "ko", label="fitted scans")
        ax.plot(t[-2:], v[-2:], "kx", ms=9, label="held out")
        grid = np.linspace(t[0], t[-1], 200)
        for law in LAWS:
            gl = td.fitting.growth_law(law)
            free = {"exponential": ["r"], "bertalanffy": ["r", "K", "lam"]}.get(law, ["r", "K"])
            bounds = {"r": (-2.0, 2.0)} if law == "exponential" else None
            params = {"r": 0.01, "K": 2 * float(v[:-2].max()), "lam": 1 / 3}
            try:
                res = td.fit(gl, train, free, initial_free=["S"], initial={"S": float(max(v[0], 1.0))},
                             params={k: params[k] for k in free}, bounds=bounds, t0="first", scale="linear")
            except td.errors.TumordynError as err:
                rows.append((g["patient"].iloc[0][:8], law, np.nan, type(err).__name__))
                continue
            p = {k: res.params[k].value for k in free}
            p["S"] = res.params[[n for n in res.params if n.startswith("init_S")][0]].value
            pred = gl.predict(t[-2:] - t[0], p)
            rows.append((g["patient"].iloc[0][:8], law, float(np.mean(np.abs(pred - v[-2:]))) / norm, "ok"))
            ax.plot(grid, gl.predict(grid - t[0], p), lw=1.2, label=law)
        ax.set(title=f"patient {g['patient'].iloc[0][:8]} (study {g['study'].iloc[0]})", xlabel="day",
               ylabel="volume (mm³)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "06_individual_fits.png", dpi=110)
    tab = pd.DataFrame(rows, columns=["patient", "law", "holdout MAE (normalised volume)", "status"])
    print(tab.pivot(index="law", columns="patient", values="holdout MAE (normalised volume)").to_string(
        float_format=lambda x: f"{x:.2e}"))

    # 2. population model on 120 patients (not the ones forecast below)
    pool = recs[10:130]
    data = pd.concat([pd.DataFrame({"subject": g["patient"], "time": g["t"] - g["t"].iloc[0],
                                    "value": g["volume_mm3"]}) for g in pool])
    data = data[data["value"] > 0]  # a gone lesion (0 mm³) has no log: left out (no censoring model)
    pop = td.fit_population(exponential, data, {"S": float(data["value"].median()), "r": 0.0},
                            random={"S": "lognormal", "r": "normal"}, error="additive", scale="log",
                            progress=False)
    print(f"\npopulation fit on {len(pool)} patients, converged: {pop.converged}")
    print(pop.to_dataframe().to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    fig, ax = plt.subplots(figsize=(6, 4))
    pop.plot_vpc(ax=ax)
    ax.set(yscale="log", title="visual predictive check (120 patients)", xlabel="day since first scan",
           ylabel="volume (mm³)")
    fig.tight_layout()
    fig.savefig(out / "06_vpc.png", dpi=110)

    # 3. forecasts from the first three scans
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    print("\nforecasts from the first 3 scans (RECIST at the last scan):")
    for ax, g in zip(axes, recs[4:7]):
        t = (g["t"] - g["t"].iloc[0]).to_numpy()
        v = g["volume_mm3"].to_numpy()
        times = np.linspace(0.0, t[-1], 80)
        fc = td.fitting.forecast_patient(pop, {"time": t[:3], "value": np.maximum(v[:3], FLOOR_MM3)}, times,
                                         readout_times=t[3:], quantity="volume", seed=1)
        fc.plot(ax=ax)
        ax.plot(t[3:], np.maximum(v[3:], FLOOR_MM3), "kx", ms=9, label="held-out scans")
        ax.set(yscale="log", title=f"patient {g['patient'].iloc[0][:8]}", xlabel="day since first scan",
               ylabel="volume (mm³)")
        ax.legend(fontsize=7)
        obs = td.readouts.recist_arrays(t + 1e-9 * np.arange(t.size), g["diameter_mm"].to_numpy()[:, None],
                                        t_end=float(t[-1]), min_measurable=0.0)
        print(f"  {g['patient'].iloc[0][:8]}: forecast {fc.readouts.loc['forecast', 'last_response']}, "
              f"P(PD by last scan) {fc.progression_probability:.2f}; observed "
              f"{td.readouts.RECIST_CATEGORIES[int(obs.response[-1, 0])]}")
    fig.tight_layout()
    fig.savefig(out / "06_forecasts.png", dpi=110)


if __name__ == "__main__":
    main()
