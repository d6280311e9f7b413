"""Time per patient: one `td.simulate` call per patient against one `td.simulate_batch` call.

The default model for one year under the standard combination, with parameter vectors that
differ between patients (growth rates ±20 %). The first call of each kind is made before timing
(it generates and compiles code, or loads it from the disk cache). The figure shows the wall time
per patient measured on the machine that built these docs (so it varies with that machine's load;
the benchmarks in `benchmarks/` are the reference numbers). Writes `out/performance_batch.png`.
"""

from __future__ import annotations

import os
import time

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
    base = compiled.param_vector()
    names = list(compiled.param_names)
    rng = np.random.default_rng(0)

    def patients(n: int) -> np.ndarray:
        p = np.tile(base, (n, 1))
        for name in ("r_S", "r_R"):
            p[:, names.index(name)] *= rng.uniform(0.8, 1.2, n)
        return p

    td.simulate(model, regimen, t_end=365)
    td.simulate_batch(model, patients(2), regimen, t_end=365)
    sizes = [1, 10, 100, 1000]
    single, batch = [], []
    for n in sizes:
        p = patients(n)
        if n <= 100:
            t0 = time.perf_counter()
            for row in p:
                td.simulate(model, regimen, t_end=365, params=dict(zip(names, row)))
            single.append((time.perf_counter() - t0) / n)
        t0 = time.perf_counter()
        td.simulate_batch(model, p, regimen, t_end=365)
        batch.append((time.perf_counter() - t0) / n)
    for n, b in zip(sizes, batch):
        print(f"simulate_batch, {n:5d} patients: {b * 1e3:7.2f} ms per patient")
    for n, s in zip(sizes, single):
        print(f"simulate loop,   {n:5d} patients: {s * 1e3:7.2f} ms per patient")

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(sizes[: len(single)], np.array(single) * 1e3, "o-", label="one td.simulate per patient")
    ax.plot(sizes, np.array(batch) * 1e3, "s-", label="one td.simulate_batch call")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("patients")
    ax.set_ylabel("wall time per patient (ms)")
    ax.set_title("One patient-year of the default model (measured when the docs were built)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join("out", "performance_batch.png"), dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
