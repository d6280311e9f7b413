"""Benchmark: per-patient fits of closed-form growth laws, ``tumordyn.fit`` vs hand-written scipy fits.

Data: the first ``--records`` records with >= 6 readings of ``td.datasets.laleh2022()`` (Ghaffari
Laleh et al. 2022), time ``time_weeks * 7`` days, volume in mm³; each fit uses all but the last two
readings (the TumorGrowth.jl "model battle" protocol), linear scale, start values
``r = 0.01/day, K = 2 * max volume, S = first volume (lam = 1/3)``, bounds ``r in [1e-4, 2]``,
``K in [1, 1e7]``, ``S >= 0`` (``lam in [-5, 5]``), time zero at the first reading.

* ``tumordyn``: ``td.fit(td.fitting.growth_law(law), ...)`` — the closed form, scipy's
  ``least_squares`` (trust-region reflective) with the law's analytic Jacobian (generated with sympy) and
  Jacobian scaling of the variables (``x_scale="jac"``), everything a user gets (data checks, the
  result object with standard errors);
* ``hand``: the law typed out as a numpy function (TumorGrowth.jl's formula), ``scipy.optimize.least_squares``
  with its defaults (2-point Jacobian, ``x_scale=1``), same start values, bounds and tolerances (1e-8);
* ``hand x_scale=jac``: the same with ``x_scale="jac"`` (what tumordyn does by default): the hand fit with
  tumordyn's settings;
* ``tumordyn x_scale=1``: tumordyn with ``fit_kws={"x_scale": 1.0}``: tumordyn with the plain hand fit's settings.

The data reach tumordyn as a mapping of numpy arrays (the hand fit gets arrays too); ``--dataframe`` gives it
a pandas DataFrame per record instead (built inside the timing, as a user's loop would).

The arms are interleaved record by record (tumordyn, hand, hand x_scale=jac on one record, then the
next), so that a change of the machine's load hits all arms alike; each record's time is the best of
``--repeats`` passes, and the table gives CPU (process) and wall milliseconds per fit averaged over the
records, with the load average printed before and after (the machine is shared). The optimum is
compared too (chi-square of tumordyn against the plain hand fit's, per record, within 1e-6 relative or
1e-12 of the data's sum of squares).

Run: ``python benchmarks/bench_growth_fit.py [--records 200] [--laws gompertz,bertalanffy]``.
The last lines are machine-readable, one per law:
``law=... records=N td_over_hand_cpu=X td_over_hand_wall=Y td_over_hand_jac_cpu=J td_xscale1_over_hand_cpu=O
cpu_ratio=1/X wall_ratio=1/Y cpu_ratio_vs_jac=1/J better_or_equal_optimum=F`` (``td_over_hand``: tumordyn's
time / the plain hand-written fit's, the goal is <= 1; ``td_over_hand_jac``: against the hand fit with
tumordyn's ``x_scale="jac"``; ``td_xscale1_over_hand``: tumordyn with the hand fit's ``x_scale=1``; the same
settings on both sides in these two; ``cpu_ratio``, ``wall_ratio``, ``cpu_ratio_vs_jac``: hand / tumordyn,
kept for comparison with earlier runs).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

import tumordyn as td


def hand_model(law: str):
    """The closed form typed out (TumorGrowth.jl, src/models): volume at t days after the first reading."""
    lam = {"logistic": -1.0, "classical_bertalanffy": 1.0 / 3.0}

    def exponential(t, x):
        r, v0 = x
        return v0 * np.exp(r * t)

    def gompertz(t, x):
        r, K, v0 = x
        return K * (v0 / K) ** np.exp(-r * t)

    def bertalanffy(t, x):
        r, K, la, v0 = x
        if la == 0:
            return gompertz(t, (r, K, v0))
        return K * (1 + ((v0 / K) ** la - 1) * np.exp(-r * t)) ** (1 / la)

    if law == "exponential":
        return exponential
    if law == "gompertz":
        return gompertz
    if law == "bertalanffy":
        return bertalanffy
    return lambda t, x: bertalanffy(t, (x[0], x[1], lam[law], x[2]))


def records(n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    df = td.datasets.laleh2022()
    out = []
    for _, g in df.groupby("patient", sort=False):
        if len(g) < 6:
            continue
        t = g["time_weeks"].to_numpy() * 7.0
        v = g["volume_mm3"].to_numpy()
        out.append((t[:-2], v[:-2]))
        if len(out) == n:
            break
    return out


def setup(law: str, t: np.ndarray, v: np.ndarray):
    free = {"exponential": ["r"], "bertalanffy": ["r", "K", "lam"]}.get(law, ["r", "K"])
    start = {"r": 0.01, "K": float(np.clip(2 * v.max(), 2.0, 9e6)), "lam": 1.0 / 3.0}
    lo = {"r": 1e-4, "K": 1.0, "lam": -5.0}
    hi = {"r": 2.0, "K": 1e7, "lam": 5.0}
    if law == "exponential":
        lo["r"], hi["r"] = -2.0, 2.0
    v0 = float(max(v[0], 1.0))
    x0 = [start[p] for p in free] + [v0]
    return free, start, v0, x0, [lo[p] for p in free] + [0.0], [hi[p] for p in free] + [np.inf], lo, hi


DATAFRAME = False  # --dataframe: tumordyn gets each record as a pandas DataFrame


def fit_td(law: str, t, v, x_scale=None):
    free, start, v0, _, _, _, lo, hi = setup(law, t, v)
    # the data as numpy arrays, as the hand fit gets them (td.fit takes a mapping of arrays; a DataFrame
    # built per record costs the caller 0.2-0.3 ms more: --dataframe)
    n = len(t)
    d = {"subject": np.full(n, "p"), "time": t, "observable": np.full(n, "tumor_volume"), "value": v}
    if DATAFRAME:
        d = pd.DataFrame(d)
    # growth_law(law) is built on every call, as a user's loop would: the model is cached per argument set
    res = td.fit(td.fitting.growth_law(law), d, free, initial_free=["S"], initial={"S": v0},
                 params={p: start[p] for p in free}, bounds={p: (lo[p], hi[p]) for p in free}, t0=float(t[0]),
                 scale="linear", fit_kws=None if x_scale is None else {"x_scale": x_scale})
    return res.chisqr


def fit_hand(law: str, t, v, x_scale=1.0):
    _, _, _, x0, lo, hi, _, _ = setup(law, t, v)
    f = hand_model(law)
    tt = t - t[0]
    ret = least_squares(lambda x: f(tt, x) - v, x0, bounds=(lo, hi), xtol=1e-8, ftol=1e-8, gtol=1e-8,
                        x_scale=x_scale)
    return 2 * ret.cost


def timed_interleaved(fns, recs, repeats):
    """Per arm: mean over records of the best-of-``repeats`` CPU and wall seconds, and each record's result.

    The arms run one after the other on each record (then the next record), so load changes hit all alike.
    """
    k = len(fns)
    cpu = np.full((k, len(recs)), np.inf)
    wall = np.full((k, len(recs)), np.inf)
    out = np.full((k, len(recs)), np.nan)
    for _ in range(repeats):
        for i, (t, v) in enumerate(recs):
            for a, fn in enumerate(fns):
                c0, w0 = time.process_time(), time.perf_counter()
                try:
                    val = fn(t, v)
                except Exception:  # noqa: BLE001 - a failed fit counts its time, its optimum is NaN
                    val = np.nan
                cpu[a, i] = min(cpu[a, i], time.process_time() - c0)
                wall[a, i] = min(wall[a, i], time.perf_counter() - w0)
                out[a, i] = val
    return cpu, wall, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=200)
    ap.add_argument("--laws", default="exponential,logistic,gompertz,classical_bertalanffy,bertalanffy")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--dataframe", action="store_true", help="give tumordyn each record as a pandas DataFrame "
                    "(default: a mapping of numpy arrays, as the hand fit gets arrays)")
    args = ap.parse_args()
    global DATAFRAME
    DATAFRAME = args.dataframe
    warnings.simplefilter("ignore")
    recs = records(args.records)
    for law in args.laws.split(","):  # imports and first-call costs (model, generated gradient) outside the timing
        fit_td(law, *recs[0])
    lines, summary = [], []
    print(f"{len(recs)} records (>= 6 readings, all but the last 2 fitted); load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print("times: mean over the records tumordyn fits (refused records, as many points as parameters, left out)")
    print(f"{'law':24s} {'arm':22s} {'CPU ms/fit':>11s} {'wall ms/fit':>12s} {'CPU / hand':>11s} {'wall / hand':>12s}")
    for law in args.laws.split(","):
        cpu, wall, (chi_td, chi_h, _, _) = timed_interleaved(
            [lambda t, v: fit_td(law, t, v), lambda t, v: fit_hand(law, t, v),
             lambda t, v: fit_hand(law, t, v, "jac"), lambda t, v: fit_td(law, t, v, 1.0)], recs, args.repeats)
        # times over the records tumordyn fits (not those it refuses: as many points as parameters)
        done = np.isfinite(chi_td)
        (c_td, c_h, c_j, c_t1), (w_td, w_h, w_j, w_t1) = cpu[:, done].mean(axis=1), wall[:, done].mean(axis=1)
        for arm, c, w in (("tumordyn", c_td, w_td), ("hand", c_h, w_h), ("hand x_scale=jac", c_j, w_j),
                          ("tumordyn x_scale=1", c_t1, w_t1)):
            print(f"{law:24s} {arm:22s} {1e3 * c:11.2f} {1e3 * w:12.2f} {c / c_h:11.3f} {w / w_h:12.3f}")
        print(f"{'':24s} same settings on both sides: tumordyn / hand (x_scale=jac) CPU {c_td / c_j:.3f}, "
              f"tumordyn x_scale=1 / hand CPU {c_t1 / c_h:.3f}")
        ok = np.isfinite(chi_td) & np.isfinite(chi_h)
        # within 1e-6 relative, or 1e-12 of the data's sum of squares (records fitted exactly: chi-square ~ 0)
        scale = np.array([float(np.sum(v ** 2)) for _, v in recs])
        better = float(np.mean(chi_td[ok] <= chi_h[ok] * (1 + 1e-6) + 1e-12 * scale[ok]))
        worse = np.flatnonzero(ok & (chi_td > chi_h * (1 + 1e-6) + 1e-12 * scale))
        if worse.size:
            print(f"{'':24s} records where tumordyn's optimum is worse: chi-square ratios "
                  f"{', '.join(f'{chi_td[i] / chi_h[i]:.4g}' for i in worse[:8])}")
        print(f"{'':24s} optimum: tumordyn's chi-square <= hand's (within 1e-6) on {100 * better:.1f} % of "
              f"{ok.sum()} records; failures tumordyn {int((~np.isfinite(chi_td)).sum())}, "
              f"hand {int((~np.isfinite(chi_h)).sum())}")
        summary.append((law, c_td / c_h, w_td / w_h, better))
        lines.append(f"law={law} records={len(recs)} td_over_hand_cpu={c_td / c_h:.3f} td_over_hand_wall={w_td / w_h:.3f} "
                     f"td_over_hand_jac_cpu={c_td / c_j:.3f} td_xscale1_over_hand_cpu={c_t1 / c_h:.3f} "
                     f"cpu_ratio={c_h / c_td:.3f} wall_ratio={w_h / w_td:.3f} cpu_ratio_vs_jac={c_j / c_td:.3f} "
                     f"better_or_equal_optimum={better:.3f}")
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("summary (goal: tumordyn / hand <= 1 on every law, the same or a better optimum)")
    print(f"{'law':24s} {'CPU td/hand':>12s} {'wall td/hand':>13s} {'optimum <= hand':>16s}")
    for law, c, w, b in summary:
        print(f"{law:24s} {c:12.3f} {w:13.3f} {100 * b:15.1f}%")
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
