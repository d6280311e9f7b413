"""Positivity across the parameter bounds: 40 random patients of the default model.

Each patient's parameters are drawn log-uniformly within the bounds the model declares
(`Parameter.bounds`; uniformly when a bound is zero) and simulated for a year under the
standard combination. The figure shows the smallest state of each trajectory over time: it
never goes below zero, the invariant that `tests/test_properties.py` checks on thousands of
hypothesis-drawn cases. Writes `out/invariants_positivity.png`.
"""

from __future__ import annotations

import os

import matplotlib

if not os.environ.get("MPLBACKEND"):
    matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import tumordyn as td
from tumordyn.numerics import compile_model


def main() -> None:
    os.makedirs("out", exist_ok=True)
    model = td.models.tumor_immune_tme()
    (a_t, i_t), (a_p, i_p) = td.models.STANDARD_DOSES["targeted"], td.models.STANDARD_DOSES["anti_pd1"]
    regimen = (td.Schedule.every("targeted", a_t, i_t, until=364)
               + td.Schedule.every("anti_pd1", a_p, i_p, start=14, until=364))
    compiled = compile_model(model)
    names = list(compiled.param_names)
    rng = np.random.default_rng(1)
    n = 40
    params = np.tile(compiled.param_vector(), (n, 1))
    for p in model.parameters:
        lo, hi = p.bounds
        j = names.index(p.name)
        if lo > 0 and np.isfinite(hi):
            params[:, j] = np.exp(rng.uniform(np.log(lo), np.log(hi), n))
        elif np.isfinite(lo) and np.isfinite(hi):
            params[:, j] = rng.uniform(lo, hi, n)
    t = np.linspace(0, 365, 731)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    lowest = []
    ok = 0
    for row in params:
        try:
            traj = td.simulate(model, regimen, t_end=365, t_eval=t, params=dict(zip(names, row)))
        except td.errors.SolverError as exc:  # a draw the solver's budget cannot finish is reported, not hidden
            print(f"one draw not solved: {type(exc).__name__}: {exc}")
            continue
        ok += 1
        states = np.column_stack([traj[s.name] for s in model.states])
        low = states.min(axis=1)
        lowest.append(low.min())
        axes[0].plot(t, traj["tumor_burden"], lw=0.8, alpha=0.7)
        axes[1].plot(t, low, lw=0.8, alpha=0.7)
    print(f"{ok} of {n} draws solved; smallest state value over all of them: {min(lowest):.3g}")
    axes[0].set_yscale("log")
    axes[0].set_ylabel("tumor burden (cells)")
    axes[0].set_title(f"{ok} random patients within the parameter bounds")
    axes[1].set_yscale("symlog", linthresh=1e-6)
    axes[1].axhline(0, color="k", lw=0.8)
    axes[1].set_ylabel("smallest state value (symlog)")
    axes[1].set_title(f"never below zero (minimum {min(lowest):.2g})")
    for ax in axes:
        ax.set_xlabel("time (days)")
    fig.tight_layout()
    fig.savefig(os.path.join("out", "invariants_positivity.png"), dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
