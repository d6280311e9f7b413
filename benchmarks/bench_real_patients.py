"""Benchmark on real patients: the TumorGrowth.jl model battle and early RECIST prediction.

Data: ``td.datasets.laleh2022()`` (Ghaffari Laleh et al. 2022, PLOS Comput Biol 18(2):e1009822),
the records with >= 6 readings (641), time ``time_weeks * 7`` days (the peer's time), volume in mm³.

(a) **Model battle** (TumorGrowth.jl, docs/src/examples/04_model_battle): each of the five growth laws
    is fitted per record by ``td.fit(td.fitting.growth_law(law), ...)`` (closed form, linear scale) to
    all but the last two readings, and predicts the last two; the error is the mean absolute error of
    the *normalised* volume on the two held-out readings (volume / the largest volume in the dataset,
    6.163e6 mm³: TumorGrowth.jl's ``Lesion_normvol``). A fit that raises, is refused (as many training
    points as free parameters: the general Bertalanffy law on 4 points) or predicts a non-finite
    volume counts as a failure. ``best_law`` is the lowest mean error over the records on which all
    five laws succeeded. The same fits are also done by hand (the law typed out as numpy,
    ``scipy.optimize.least_squares`` with the same start values, bounds and tolerances:
    ``bench_growth_fit.fit_hand``), interleaved record by record with tumordyn's, and the battle's total
    CPU and wall time is printed for both with their ratio (tumordyn / hand) and the load average;
    the battle runs under a ``tqdm`` progress bar.
(b) **Early prediction**: from the first 3 scans, the RECIST 1.1 category of the *last* reading
    (``td.readouts.recist_arrays`` on the single target lesion, no minimum measurable size; a predicted
    diameter below 2 mm counts as disappeared). Patient-level split (seeded, half the records for
    training, half for testing; each record is one patient). Predictors, all scored on the test half:
    LOCF (the 3rd reading carried forward to every later scan); a per-patient exponential fit
    (``td.fit``, S and r free) on the 3 scans; the population-informed forecast: exponential growth
    ``S exp(r t)`` with log-normal BSV on S and normal BSV on r, additive error on the log scale (readings of
    a disappeared lesion, 0 mm³, left out of the training data; in a test patient's first scans set to
    0.52 mm³, a 1 mm lesion), fitted by
    ``td.fit_population`` (FOCE-I) to the full records of (up to ``--pop-train``) training patients,
    then ``td.fitting.forecast_patient`` (MAP with the population prior) on each test patient's first 3
    scans; its median forecast at the later scan times is read. Balanced accuracy (mean recall over the
    true categories present) with a seeded bootstrap 95 % interval over test patients.

Run: ``python benchmarks/bench_real_patients.py`` (whole dataset) or ``--quick`` (60 records);
``--battle-only`` skips (b); ``--no-hand`` skips the hand-written battle.
Last line (machine-readable)::

    records=N best_law=NAME best_mae=X locf_bal_acc=A forecast_bal_acc=B forecast_bal_acc_ci=LO,HI s_per_fit=S
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd

import tumordyn as td
from tumordyn.readouts import RECIST_CATEGORIES, recist_arrays



def _load_fit_hand():
    """``fit_hand`` of ``bench_growth_fit.py`` (this directory): the hand-written scipy fit of a law."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("bench_growth_fit", Path(__file__).with_name("bench_growth_fit.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.fit_hand


fit_hand = _load_fit_hand()

LAWS = ("exponential", "logistic", "gompertz", "classical_bertalanffy", "bertalanffy")
VOL_PER_D3 = 0.52  # the source's volume = 0.52 d³ (docs/datasets.md)
FLOOR_MM3 = VOL_PER_D3  # log-scale forecasts: an early scan of 0 (gone) is set to the volume of a 1 mm lesion
CR_DIAM_MM = 2.0  # a predicted diameter below this counts as disappeared (the data record 0 mm)


# ----------------------------------------------------------------------------- data and helpers
def load_records(min_readings: int = 6) -> tuple[list[dict], float]:
    """Records with ``>= min_readings`` readings and the normalising volume (largest volume in the data, mm³)."""
    df = td.datasets.laleh2022()
    norm = float(df["volume_mm3"].max())
    recs = []
    for pid, g in df.groupby("patient", sort=False):
        if len(g) < min_readings:
            continue
        recs.append(dict(id=pid, study=int(g["study"].iloc[0]), t=g["time_weeks"].to_numpy(float) * 7.0,
                         vol=g["volume_mm3"].to_numpy(float), diam=g["diameter_mm"].to_numpy(float)))
    return recs, norm


def normalised_mae(pred: np.ndarray, obs: np.ndarray, norm: float) -> float:
    """Mean absolute error of the normalised volume (volume / ``norm``) over the held-out readings."""
    return float(np.mean(np.abs(np.asarray(pred, float) - np.asarray(obs, float)))) / norm


def vol_to_diam(v: np.ndarray) -> np.ndarray:
    """Longest diameter (mm) of a volume (mm³) by the source's formula; below ``CR_DIAM_MM`` -> 0 (gone)."""
    d = np.cbrt(np.maximum(np.asarray(v, float), 0.0) / VOL_PER_D3)
    return np.where(d < CR_DIAM_MM, 0.0, d)


def recist_last(t: np.ndarray, diam: np.ndarray) -> str:
    """RECIST 1.1 category of the last scan of one target lesion (diameters in mm, baseline first)."""
    t = np.asarray(t, float)
    t = t + 1e-9 * np.arange(t.size)  # recist_arrays wants strictly increasing scan times (same-week scans)
    arr = recist_arrays(t, np.asarray(diam, float)[:, None], t_end=float(t[-1]), min_measurable=0.0)
    return RECIST_CATEGORIES[int(arr.response[-1, 0])]


def locf_category(t: np.ndarray, diam: np.ndarray, k: int = 3) -> str:
    """Category at the last scan when the ``k``-th reading is carried forward to every later scan."""
    d = np.asarray(diam, float)
    return recist_last(t, np.r_[d[:k], np.full(d.size - k, d[k - 1])])


def balanced_accuracy(true: list[str], pred: list[str]) -> float:
    """Mean over the categories present in ``true`` of the fraction of them predicted correctly."""
    true, pred = np.asarray(true), np.asarray(pred)
    return float(np.mean([np.mean(pred[true == c] == c) for c in np.unique(true)]))


def bootstrap_ci(true: list[str], pred: list[str], n: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile 95 % interval of the balanced accuracy over ``n`` resamples of the patients (seeded)."""
    rng = np.random.default_rng(seed)
    true, pred = np.asarray(true), np.asarray(pred)
    bs = [balanced_accuracy(true[s], pred[s]) for s in (rng.integers(0, true.size, true.size) for _ in range(n))]
    lo, hi = np.quantile(bs, [0.025, 0.975])
    return float(lo), float(hi)


def patient_split(ids: list[str], train_fraction: float = 0.5, seed: int = 0) -> tuple[list[str], list[str]]:
    """Seeded split of the patient ids into disjoint (train, test) lists, in their original order."""
    rng = np.random.default_rng(seed)
    n_train = int(round(train_fraction * len(ids)))
    train = set(np.asarray(ids, dtype=object)[rng.permutation(len(ids))[:n_train]].tolist())
    return [i for i in ids if i in train], [i for i in ids if i not in train]


# ----------------------------------------------------------------------------- (a) the battle
def battle_setup(law: str, v: np.ndarray):
    """Free parameters, start values and bounds (those of bench_growth_fit.py)."""
    free = {"exponential": ["r"], "bertalanffy": ["r", "K", "lam"]}.get(law, ["r", "K"])
    start = {"r": 0.01, "K": float(np.clip(2 * v.max(), 2.0, 9e6)), "lam": 1.0 / 3.0}
    lo = {"r": 1e-4, "K": 1.0, "lam": -5.0}
    hi = {"r": 2.0, "K": 1e7, "lam": 5.0}
    if law == "exponential":
        lo["r"], hi["r"] = -2.0, 2.0
    return free, {p: start[p] for p in free}, {p: (lo[p], hi[p]) for p in free}


def battle_fit(law: str, t_tr: np.ndarray, v_tr: np.ndarray, t_pred: np.ndarray) -> tuple[np.ndarray, str]:
    """Fit ``law`` to the training readings and predict at ``t_pred``: (prediction mm³, status)."""
    free, start, bounds = battle_setup(law, v_tr)
    if len(t_tr) <= len(free) + 1:
        return np.full(len(t_pred), np.nan), "refused"
    n = len(t_tr)  # the record as numpy arrays (td.fit takes a mapping of them; bench_growth_fit.py does the same)
    data = {"subject": np.full(n, "p"), "time": np.asarray(t_tr, float), "observable": np.full(n, "tumor_volume"),
            "value": np.asarray(v_tr, float)}
    gl = td.fitting.growth_law(law)
    try:
        res = td.fit(gl, data, free, initial_free=["S"], initial={"S": float(max(v_tr[0], 1.0))}, params=start,
                     bounds=bounds, t0=float(t_tr[0]), scale="linear", max_seconds=20.0)
    except Exception as err:  # noqa: BLE001 - a failed fit is a failure of the law on this record
        return np.full(len(t_pred), np.nan), type(err).__name__
    # the best values as the result holds them (res.params, lmfit's Parameters, would be made on first access:
    # 0.4 ms more per fit, a tenth of an exponential fit)
    best = res.values()
    p = {k: best[k] for k in free}
    p["S"] = best["init_S__p"]
    pred = gl.predict(np.asarray(t_pred, float) - float(t_tr[0]), p)
    return pred, ("ok" if np.all(np.isfinite(pred)) else "nonfinite")


def run_battle(recs: list[dict], norm: float, progress: bool = True, hand: bool = True) -> pd.DataFrame:
    """Every law on every record: tumordyn's fit, then (``hand``) the hand-written one, timed side by side."""
    from tqdm.auto import tqdm

    rows = []
    for rec in tqdm(recs, desc="battle", unit="record", disable=not progress):
        t, v = rec["t"], rec["vol"]
        for law in LAWS:
            c0, w0 = time.process_time(), time.perf_counter()
            pred, status = battle_fit(law, t[:-2], v[:-2], t[-2:])
            row = dict(id=rec["id"], law=law, status=status, seconds=time.perf_counter() - w0,
                       cpu=time.process_time() - c0,
                       mae=normalised_mae(pred, v[-2:], norm) if status == "ok" else np.nan)
            if hand and status != "refused":  # the same work on both sides (a refused fit is not done by hand)
                c0, w0 = time.process_time(), time.perf_counter()
                try:
                    fit_hand(law, t[:-2], v[:-2])
                except Exception:  # noqa: BLE001 - its time counts; the hand fit's result is not scored
                    pass
                row.update(hand_seconds=time.perf_counter() - w0, hand_cpu=time.process_time() - c0)
            rows.append(row)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- (b) early prediction
def exponential(t, p):
    """Closed-form exponential growth ``S exp(r t)`` (mm³; t days since the first scan)."""
    return p["S"] * np.exp(p["r"] * t)


def per_patient_exponential(t3: np.ndarray, v3: np.ndarray, t_future: np.ndarray) -> np.ndarray:
    data = pd.DataFrame({"subject": "p", "time": t3, "observable": "tumor_volume", "value": v3})
    gl = td.fitting.growth_law("exponential")
    res = td.fit(gl, data, ["r"], initial_free=["S"], initial={"S": float(max(v3[0], 1.0))}, params={"r": 0.0},
                 bounds={"r": (-2.0, 2.0)}, t0=float(t3[0]), scale="linear", max_seconds=20.0)
    p = {"r": float(res.params["r"].value), "S": float(res.params["init_S__p"].value)}
    return gl.predict(np.asarray(t_future, float) - float(t3[0]), p)


def run_early(recs: list[dict], pop_train: int, seed: int, progress: bool = True) -> dict:
    from tqdm.auto import tqdm

    by_id = {r["id"]: r for r in recs}
    train, test = patient_split(list(by_id), 0.5, seed)
    rng = np.random.default_rng(seed + 1)
    pop_ids = [train[i] for i in np.sort(rng.permutation(len(train))[:pop_train])]
    data = pd.concat([pd.DataFrame({"subject": i, "time": by_id[i]["t"] - by_id[i]["t"][0], "value": by_id[i]["vol"]})
                      for i in pop_ids], ignore_index=True)
    c0, w0 = time.process_time(), time.perf_counter()
    data = data[data["value"] > 0]  # no below-detection handling in fit_population: a gone lesion's 0 is left out
    pop = td.fit_population(exponential, data, {"S": float(np.median(data["value"])), "r": 0.0},
                            random={"S": "lognormal", "r": "normal"}, error="additive", scale="log", progress=False)
    pop_s = (time.process_time() - c0, time.perf_counter() - w0)
    truth, pred = [], {"LOCF (3rd reading carried forward)": [], "per-patient exponential fit": [],
                       "population forecast (MAP, exponential)": []}
    fails = dict.fromkeys(pred, 0)
    for i in tqdm(test, desc="early", disable=not progress):
        r = by_id[i]
        t, d, v = r["t"] - r["t"][0], r["diam"], r["vol"]
        truth.append(recist_last(t, d))
        pred["LOCF (3rd reading carried forward)"].append(locf_category(t, d))
        try:
            fut = per_patient_exponential(t[:3], v[:3], t[3:])
            pred["per-patient exponential fit"].append(recist_last(t, np.r_[d[:3], vol_to_diam(fut)]))
        except Exception:  # noqa: BLE001 - counted, then predicted as LOCF would
            fails["per-patient exponential fit"] += 1
            pred["per-patient exponential fit"].append(locf_category(t, d))
        try:
            scans = {"time": t[:3], "value": np.maximum(v[:3], FLOOR_MM3)}
            fc = td.fitting.forecast_patient(pop, scans, t[3:], quantity="volume", n_samples=200, seed=0)
            pred["population forecast (MAP, exponential)"].append(recist_last(t, np.r_[d[:3], vol_to_diam(fc.median)]))
        except Exception:  # noqa: BLE001
            fails["population forecast (MAP, exponential)"] += 1
            pred["population forecast (MAP, exponential)"].append(locf_category(t, d))
    return dict(truth=truth, pred=pred, fails=fails, pop=pop, pop_s=pop_s, n_train=len(train), n_pop=len(pop_ids),
                n_test=len(test))


# ----------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="60 records (smoke run)")
    ap.add_argument("--records", type=int, default=None, help="first N records with >= 6 readings")
    ap.add_argument("--pop-train", type=int, default=100000, help="at most this many training patients in the population fit")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--no-hand", action="store_true", help="skip the hand-written fits of the battle")
    ap.add_argument("--battle-only", action="store_true", help="skip (b), the early prediction")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    recs, norm = load_records(6)
    n = 60 if args.quick and args.records is None else args.records
    if n is not None:
        recs = recs[:n]
    progress = not args.no_progress
    print(f"{len(recs)} records (>= 6 readings), normalising volume {norm:.6g} mm³; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    c0 = time.perf_counter()
    for law in LAWS:  # first calls (the laws' models compiled, imports) outside the timing
        battle_fit(law, recs[0]["t"][:-2], recs[0]["vol"][:-2], recs[0]["t"][-2:])
        fit_hand(law, recs[0]["t"][:-2], recs[0]["vol"][:-2])
    print(f"warm-up (the five laws' models built and compiled, first fits): {time.perf_counter() - c0:.1f} s wall")
    c0, w0 = time.process_time(), time.perf_counter()
    bat = run_battle(recs, norm, progress, hand=not args.no_hand)
    cpu_a, wall_a = time.process_time() - c0, time.perf_counter() - w0
    ok_all = bat.pivot(index="id", columns="law", values="mae").dropna().index
    print(f"\n(a) model battle: {len(recs)} records x {len(LAWS)} laws, CPU {cpu_a:.1f} s, wall {wall_a:.1f} s "
          f"(both arms); mean on common = the {len(ok_all)} records where all laws succeeded")
    td_cpu, td_wall = float(bat.cpu.sum()), float(bat.seconds.sum())
    print(f"    tumordyn fits: CPU {td_cpu:.1f} s, wall {td_wall:.1f} s for {len(bat)} fits "
          f"({1e3 * td_cpu / len(bat):.2f} ms CPU per fit, refusals included); load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if not args.no_hand:
        done = bat[bat.status != "refused"]  # the fits both sides did
        h_cpu, h_wall = float(done.hand_cpu.sum()), float(done.hand_seconds.sum())
        d_cpu, d_wall = float(done.cpu.sum()), float(done.seconds.sum())
        print(f"    on the {len(done)} fits not refused: tumordyn CPU {d_cpu:.1f} s, wall {d_wall:.1f} s; hand-written "
              f"scipy fits CPU {h_cpu:.1f} s, wall {h_wall:.1f} s; tumordyn / hand: CPU {d_cpu / h_cpu:.3f}, "
              f"wall {d_wall / h_wall:.3f}")
        print(f"    {'law':24s} {'tumordyn ms CPU':>16s} {'hand ms CPU':>12s} {'CPU ratio':>10s} {'wall ratio':>11s}")
        for law in LAWS:
            b = done[done.law == law]
            print(f"    {law:24s} {1e3 * b.cpu.mean():16.2f} {1e3 * b.hand_cpu.mean():12.2f} "
                  f"{b.cpu.sum() / b.hand_cpu.sum():10.3f} {b.seconds.sum() / b.hand_seconds.sum():11.3f}")
    print(f"{'law':24s} {'mean MAE':>9s} {'median MAE':>11s} {'mean common':>12s} {'failures':>9s} {'s/fit':>7s}")
    common = {}
    for law in LAWS:
        b = bat[bat.law == law]
        common[law] = float(b[b.id.isin(ok_all)].mae.mean())
        fails = (b.status != "ok").sum()
        kinds = ", ".join(f"{k} {c}" for k, c in b[b.status != "ok"].status.value_counts().items())
        print(f"{law:24s} {b.mae.mean():9.5f} {b.mae.median():11.5f} {common[law]:12.5f} {fails:9d} "
              f"{b.seconds.mean():7.4f}" + (f"  ({kinds})" if kinds else ""))
    best = min(common, key=common.get)
    s_per_fit = float(bat.seconds.mean())
    if args.battle_only:
        print(f"battle_records={len(recs)} battle_fits={len(bat)} battle_td_cpu_s={td_cpu:.1f} "
              f"battle_td_wall_s={td_wall:.1f} best_law={best} best_mae={common[best]:.5f} s_per_fit={s_per_fit:.4f}")
        return

    c0, w0 = time.process_time(), time.perf_counter()
    e = run_early(recs, args.pop_train, args.seed, progress)
    cpu_b, wall_b = time.process_time() - c0, time.perf_counter() - w0
    pop = e["pop"]
    est = pop.to_dataframe().set_index("parameter")["estimate"]
    print(f"\n(b) early prediction (first 3 scans -> RECIST at the last reading): patient-level split seed "
          f"{args.seed}, {e['n_train']} training / {e['n_test']} test patients; population fit on {e['n_pop']} "
          f"training patients (all their non-zero readings): {pop.converged=}, CPU {e['pop_s'][0]:.1f} s, "
          f"S={est['S']:.4g} mm³, r={est['r']:.4g}/day, SD of eta: S {np.sqrt(est['omega(S)']):.3g} (log), "
          f"r {np.sqrt(est['omega(r)']):.3g}/day; "
          f"stage CPU {cpu_b:.1f} s, wall {wall_b:.1f} s")
    counts = pd.Series(e["truth"]).value_counts()
    print("true categories: " + ", ".join(f"{c} {counts.get(c, 0)}" for c in RECIST_CATEGORIES))
    print(f"{'predictor':42s} {'bal. acc.':>9s} {'95 % CI':>16s} {'failures':>9s}")
    res = {}
    for m, p in e["pred"].items():
        ba = balanced_accuracy(e["truth"], p)
        lo, hi = bootstrap_ci(e["truth"], p, seed=args.seed)
        res[m] = (ba, lo, hi)
        print(f"{m:42s} {ba:9.3f} {f'[{lo:.3f}, {hi:.3f}]':>16s} {e['fails'][m]:9d}")
    for m in ("LOCF (3rd reading carried forward)", "population forecast (MAP, exponential)"):
        ct = pd.crosstab(pd.Series(e["truth"], name="true"), pd.Series(e["pred"][m], name="predicted"))
        print(f"\nconfusion, {m}:\n{ct.reindex(index=RECIST_CATEGORIES, columns=RECIST_CATEGORIES, fill_value=0)}")
    print(f"\nload average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    locf = res["LOCF (3rd reading carried forward)"][0]
    fba, flo, fhi = res["population forecast (MAP, exponential)"]
    print(f"records={len(recs)} best_law={best} best_mae={common[best]:.5f} locf_bal_acc={locf:.3f} "
          f"forecast_bal_acc={fba:.3f} forecast_bal_acc_ci={flo:.3f},{fhi:.3f} s_per_fit={s_per_fit:.4f}")


if __name__ == "__main__":
    main()
