"""A model file and SBML give back the same model: the default model written and read again.

`td.io.save_model` writes the default tumor–immune–TME model to a TOML file and
`td.io.load_model` reads it back; when python-libsbml is installed the model also goes
through SBML (`td.io.to_sbml`, `td.io.from_sbml`). Each copy is simulated under the same
regimen; the figure overlays the tumor burden and prints the largest relative difference.
Writes `out/io_roundtrip.png`.
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


def main() -> None:
    os.makedirs("out", exist_ok=True)
    model = td.models.tumor_immune_tme()
    (a_t, i_t), (a_p, i_p) = td.models.STANDARD_DOSES["targeted"], td.models.STANDARD_DOSES["anti_pd1"]
    regimen = (td.Schedule.every("targeted", a_t, i_t, until=364)
               + td.Schedule.every("anti_pd1", a_p, i_p, start=14, until=364))
    copies = {"built in": model}
    with tempfile.TemporaryDirectory() as tmp:
        path = td.io.save_model(model, os.path.join(tmp, "tumor_immune_tme.toml"))
        copies["TOML file"] = td.io.load_model(path)
        try:
            copies["SBML"] = td.io.from_sbml(td.io.to_sbml(model))
        except ImportError as exc:  # python-libsbml is optional (extra "sbml")
            print(f"SBML round trip skipped: {exc}")
    t = np.linspace(0, 365, 366)
    # SBML has no notion of a dosing schedule (doses are tumordyn's, not the model's): the
    # treated panel compares the Python and TOML copies, the untreated one all three
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, schedule, title in ((axes[0], regimen, "standard combination"), (axes[1], None, "untreated")):
        ref = td.simulate(model, schedule, t_end=365, t_eval=t)["tumor_burden"]
        for i, (label, m) in enumerate(copies.items()):
            if schedule is not None and label == "SBML":
                continue
            burden = td.simulate(m, schedule, t_end=365, t_eval=t)["tumor_burden"]
            diff = float(np.max(np.abs(burden - ref) / ref))
            print(f"{title:22s} {label:10s} largest relative difference to the built-in model: {diff:.2e}")
            ax.plot(t, burden, lw=2.5 - 0.8 * i, ls=["-", "--", ":"][i], label=f"{label} (max rel. diff. {diff:.1e})")
        ax.set_title(title)
        ax.set_xlabel("time (days)")
        ax.legend(fontsize=8)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("tumor burden (cells)")
    fig.suptitle("The same model from Python, a TOML file and SBML")
    fig.tight_layout()
    fig.savefig(os.path.join("out", "io_roundtrip.png"), dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
