"""Draw out/population_example.png (the docs build runs it for the gallery; by hand:
``MPLBACKEND=Agg python docs/figures/population_figure.py``).

A simulated trial of 80 patients whose target-lesion diameter follows the
growth-regression model of Stein et al. (2011, Clin Cancer Res 17:907–917),
D(t) = D0 (exp(-d t) + exp(g t) - 1), with log-normal between-patient variability
on D0, d and g and a 10% proportional measurement error, scans every 6 weeks.
A population model is fitted (FOCE-I), then a new patient is forecast from the
first three scans.
"""

import math
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import tumordyn as td

TRUE = {"D0": 45.0, "d": 0.02, "g": 0.004}
SD = {"D0": 0.3, "d": 0.4, "g": 0.4}
TIMES = np.arange(0.0, 337.0, 42.0)  # every 6 weeks, 48 weeks


def stein(t, p):
    """Tumor growth-regression model (Stein et al. 2011): diameter (mm) at t days."""
    return p["D0"] * (np.exp(-p["d"] * t) + np.exp(p["g"] * t) - 1.0)


def trial(seed, n):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        ind = {k: np.array(TRUE[k] * math.exp(SD[k] * rng.normal())) for k in TRUE}
        for t in TIMES:
            rows.append((f"P{i:02d}", t, float(stein(np.array(t), ind)) * (1 + 0.1 * rng.normal())))
    return pd.DataFrame(rows, columns=["subject", "time", "value"])


def main():
    df = trial(seed=7, n=80)
    t0 = time.perf_counter()
    pop = td.fit_population(stein, df, {"D0": 40.0, "d": 0.03, "g": 0.003}, error="proportional", progress=False)
    print(f"fit: {time.perf_counter() - t0:.1f} s")
    print(pop.to_dataframe().to_string(index=False))
    print("shrinkage:", {k: round(v, 3) for k, v in pop.shrinkage.items()})
    new = trial(seed=123, n=1)
    early = new.iloc[:3]
    fc = td.fitting.forecast_patient(pop, early, np.linspace(0, 336, 57), readout_times=TIMES[3:])
    print(fc.readouts.to_string())
    print("held-out diameters:", new["value"].iloc[3:].round(1).tolist())
    print("P(category at 48 weeks):", {k: round(v, 3) for k, v in fc.response_probability.items()})
    fig, ax = plt.subplots(1, 3, figsize=(11, 3.2))
    pop.plot_vpc(n=200, bins=8, ax=ax[0])
    ax[0].set_yscale("log")
    pop.plot_observed_vs_predicted("individual", ax=ax[1])
    fc.plot(ax=ax[2])
    ax[2].plot(new["time"].iloc[3:], new["value"].iloc[3:], "x", color="C3", label="later scans (held out)")
    ax[2].legend(fontsize=7)
    ax[2].set_title("forecast from the first 3 scans", fontsize=8)
    ax[1].set_title("observed vs individual prediction", fontsize=8)
    fig.tight_layout()
    Path("out").mkdir(exist_ok=True)
    out = Path("out") / "population_example.png"
    fig.savefig(out, dpi=72)
    print("wrote", out)


if __name__ == "__main__":
    main()
