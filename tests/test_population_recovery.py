"""Slow: simulated populations with known parameters are recovered by td.fit_population (FOCE-I)."""

import math

import numpy as np
import pandas as pd
import pytest

import tumordyn as td

TRUE = {"v0": 50.0, "beta": 0.05, "K": 1000.0}
SD = {"v0": 0.3, "beta": 0.3, "K": 0.3}
TIMES = (0.0, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 90.0)
PROP = 0.1


def gompertz(t, p):
    """Closed-form Gompertz growth V(t) = K exp(ln(V0/K) exp(-beta t))."""
    return p["K"] * np.exp(np.log(p["v0"] / p["K"]) * np.exp(-p["beta"] * t))


def simulate_population(seed, n=120):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        ind = {k: TRUE[k] * math.exp(SD[k] * rng.normal()) for k in TRUE}
        for t in TIMES:
            y = float(gompertz(np.array(t), {k: np.array(v) for k, v in ind.items()}))
            rows.append((i, t, y * (1 + PROP * rng.normal())))
    return pd.DataFrame(rows, columns=["subject", "time", "value"])


def recovery(seed, n=120):
    df = simulate_population(seed, n)
    res = td.fit_population(gompertz, df, {"v0": 30.0, "beta": 0.03, "K": 700.0}, error="proportional",
                            progress=False)
    return res


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_simulated_population_is_recovered(seed):
    res = recovery(seed)
    assert res.converged
    for k, v in TRUE.items():
        assert res.typical[k] == pytest.approx(v, rel=0.10), k
        assert res.omega_sd[k] == pytest.approx(SD[k], rel=0.25), k
    assert res.residual["proportional"] == pytest.approx(PROP, rel=0.10)
    # the reported standard errors are of the size of the estimation error
    for k, v in TRUE.items():
        assert abs(math.log(res.typical[k] / v)) < 4 * res.stderr[k] / res.typical[k]


if __name__ == "__main__":  # print the figures reported in docs/population.md
    import time

    for seed in (1, 2, 3, 4, 5):
        t0 = time.perf_counter()
        r = recovery(seed)
        typ = " ".join(f"{k}={r.typical[k]:.4g}({100 * (r.typical[k] / v - 1):+.1f}%)" for k, v in TRUE.items())
        sd = " ".join(f"sd_{k}={r.omega_sd[k]:.3f}({100 * (r.omega_sd[k] / SD[k] - 1):+.1f}%)" for k in TRUE)
        print(f"seed={seed} {typ} {sd} prop={r.residual['proportional']:.4f} ofv={r.ofv:.2f} "
              f"converged={r.converged} {time.perf_counter() - t0:.1f}s", flush=True)
