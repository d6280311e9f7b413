"""The reference models against their closed forms.

Logistic and Gompertz growth simulated by tumordyn (`td.models.logistic_growth`,
`td.models.gompertz_growth`) next to the closed-form solutions (`td.models.logistic_solution`,
`td.models.gompertz_solution`), at the solver's default tolerances. The right-hand panel
shows the relative error. Writes `out/models_reference.png`.
"""

from __future__ import annotations

import inspect
import os

import matplotlib

if not os.environ.get("MPLBACKEND"):
    matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import tumordyn as td


def _defaults(func) -> dict:
    return {k: v.default for k, v in inspect.signature(func).parameters.items()}


def main() -> None:
    os.makedirs("out", exist_ok=True)
    m = td.models
    t = np.linspace(0.0, 30.0, 301)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name, solution in (("logistic_growth", m.logistic_solution), ("gompertz_growth", m.gompertz_solution)):
        kw = _defaults(getattr(m, name))
        model = getattr(m, name)()
        traj = td.simulate(model, None, t_end=30.0, t_eval=t)
        state = model.states[0].name
        exact = solution(t, kw["N0"], kw["r"], kw["K"])
        err = np.abs(traj[state] - exact) / exact
        print(f"{name}: largest relative error {err.max():.2e}")
        axes[0].plot(t, traj[state], lw=3, alpha=0.5, label=f"{name} (simulated)")
        axes[0].plot(t, exact, "k--", lw=1)
        axes[1].semilogy(t[1:], err[1:] + 1e-17, label=name)
    axes[0].set_xlabel("time (days)")
    axes[0].set_ylabel("cells")
    axes[0].set_title("simulated (colour) and closed form (dashed)")
    axes[0].legend(fontsize=8)
    axes[1].set_xlabel("time (days)")
    axes[1].set_ylabel("relative error")
    axes[1].set_title("relative error of the simulation")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join("out", "models_reference.png"), dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
