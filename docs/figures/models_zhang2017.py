"""Zhang et al. (2017): continuous against adaptive abiraterone in the prostate cancer model.

`td.models.zhang2017()` under abiraterone given continuously for 300 days and under the
paper's adaptive rule (`td.AdaptiveRule`: pause when PSA falls below 50 % of its
pre-treatment value, resume when it is back at 100 %). Continuous therapy selects the
androgen-independent T− cells; the adaptive schedule keeps the sensitive cells that compete
with them. Writes `out/models_zhang2017.png`.
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
    model = td.models.zhang2017()
    t_end = 300.0  # continuous abiraterone drives TP extinct and the model singular later (see the model page)
    continuous = td.simulate(model, td.Schedule.infusion("abiraterone", 1.0, 0.0, t_end), t_end=t_end)
    rule = td.AdaptiveRule("abiraterone", on=1.0, observable="PSA", pause_below=0.5, resume_at=1.0)
    adaptive = td.simulate(model, rule, t_end=1200.0)  # adaptive therapy keeps TP alive: no singularity
    before = adaptive["Tneg"][adaptive.t <= t_end][-1]
    print(f"adaptive: {len(adaptive.events)} switches in 1,200 days; T- at day {t_end:.0f}: continuous "
          f"{continuous['Tneg'][-1]:.0f} cells, adaptive {before:.0f} cells (day 1,200: {adaptive['Tneg'][-1]:.0f})")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, traj, title in ((axes[0], continuous, "continuous abiraterone"), (axes[1], adaptive, "adaptive (PSA 50 % / 100 %)")):
        for s, label in (("Tplus", "T+ (androgen dependent)"), ("TP", "TP (testosterone producing)"),
                         ("Tneg", "T− (androgen independent)")):
            ax.plot(traj.t, traj[s], label=label)
        for e in getattr(traj, "events", [])[:40]:
            ax.axvline(e.time, color="0.85", lw=0.6, zorder=0)
        ax.set_title(title)
        ax.set_xlabel("time (days)")
    axes[0].set_ylabel("cells")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join("out", "models_zhang2017.png"), dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
