"""Contracts of the helpers of benchmarks/bench_real_patients.py (fast: a handful of records)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_real_patients", ROOT / "benchmarks" / "bench_real_patients.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def records(bench):
    return bench.load_records(6)


def test_records_and_normalisation(bench, records):
    recs, norm = records
    assert len(recs) == 641  # TumorGrowth.jl's battle: records with >= 6 readings
    assert norm == pytest.approx(6.163e6, rel=1e-3)  # TumorGrowth.jl's Lesion_normvol divisor
    assert all(len(r["t"]) >= 6 and np.all(np.diff(r["t"]) >= 0) for r in recs)
    pred, obs = np.array([10.0, 30.0]), np.array([20.0, 0.0])
    assert bench.normalised_mae(pred, obs, 100.0) == pytest.approx(0.2)  # (10 + 30) / 2 / 100


def test_patient_split_disjoint_and_seeded(bench):
    ids = [f"p{i}" for i in range(41)]
    tr, te = bench.patient_split(ids, 0.5, seed=3)
    assert set(tr).isdisjoint(te) and set(tr) | set(te) == set(ids)
    assert len(tr) == 20 or len(tr) == 21
    assert (tr, te) == bench.patient_split(ids, 0.5, seed=3)
    assert tr != bench.patient_split(ids, 0.5, seed=4)[0]


def test_balanced_accuracy_by_hand(bench):
    true = ["PD", "PD", "PD", "SD", "PR", "PR"]
    pred = ["PD", "SD", "PD", "SD", "SD", "PR"]
    # recalls: PD 2/3, SD 1/1, PR 1/2 -> mean 13/18; plain accuracy would be 4/6
    assert bench.balanced_accuracy(true, pred) == pytest.approx((2 / 3 + 1 + 1 / 2) / 3)
    lo, hi = bench.bootstrap_ci(true, pred, n=200, seed=0)
    assert 0.0 <= lo <= hi <= 1.0
    assert (lo, hi) == bench.bootstrap_ci(true, pred, n=200, seed=0)


def test_recist_and_locf_categories(bench):
    t = np.array([0.0, 42.0, 84.0, 126.0, 168.0])
    # nadir 10 mm at scan 3, then 16 mm: +60 % and +6 mm -> PD; LOCF keeps 10 mm: PR (-50 % from 20)
    d = np.array([20.0, 15.0, 10.0, 12.0, 16.0])
    assert bench.recist_last(t, d) == "PD"
    assert bench.locf_category(t, d) == "PR"
    assert bench.recist_last(t, np.array([20.0, 15.0, 10.0, 5.0, 0.0])) == "CR"
    assert bench.recist_last(t, np.array([20.0, 21.0, 19.0, 20.0, 22.0])) == "SD"
    assert bench.vol_to_diam(np.array([0.52 * 8.0, 0.52 * 1.0]))[0] == pytest.approx(2.0)
    assert bench.vol_to_diam(np.array([0.52]))[0] == 0.0  # 1 mm predicted lesion: gone


def test_battle_fit_predicts_and_refuses(bench, records):
    recs, norm = records
    r = recs[0]
    t, v = r["t"], r["vol"]
    pred, status = bench.battle_fit("gompertz", t[:-2], v[:-2], t[-2:])
    assert status == "ok" and pred.shape == (2,) and np.all(np.isfinite(pred)) and np.all(pred > 0)
    # as many points as free parameters (r, K, lam, S on 4 points): refused, not a silent fit
    pred, status = bench.battle_fit("bertalanffy", t[:4], v[:4], t[4:6])
    assert status == "refused" and np.all(np.isnan(pred))
