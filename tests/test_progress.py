"""Progress bars and iteration callbacks: one helper (tumordyn._progress), counts that match the work done."""

from __future__ import annotations

import io
import sys
import types

import numpy as np
import pandas as pd
import pytest

import tumordyn as td
import tumordyn._progress as tdp
from tumordyn.models import logistic_solution


class Recorder:
    """Stands in for tqdm.auto.tqdm: records each bar's total, final count and whether it was shown."""

    bars: list[Recorder] = []

    def __init__(self, total=None, desc="", unit="it", disable=False, **kwargs):
        self.total, self.desc, self.unit, self.disable, self.n, self.closed = total, desc, unit, disable, 0, False
        Recorder.bars.append(self)

    def update(self, k=1):
        self.n += k

    def close(self):
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@pytest.fixture
def bars(monkeypatch):
    Recorder.bars = []
    monkeypatch.setattr(tdp, "_bar_class", lambda: Recorder)
    return Recorder.bars


def _data(times=np.arange(0.0, 12.0), seed=0):
    rng = np.random.default_rng(seed)
    y = logistic_solution(times, 10.0, 0.6, 800.0) * np.exp(0.05 * rng.standard_normal(times.size))
    return pd.DataFrame({"subject": "A", "time": times, "observable": "N", "value": y, "sigma": 0.05})


def _cohort(n):
    m = td.models.tumor_immune_tme()
    return td.Cohort(m, {"r_S": td.cohorts.LogNormal(median=m.defaults()["r_S"], cv=0.3)}, n=n, seed=3)


# --------------------------------------------------------------------------- the helper


def test_default_is_on_in_a_terminal_and_in_a_jupyter_kernel_only(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal, no kernel
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    assert tdp.show_progress(None) is False

    class Shell:
        kernel = object()

    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    fake_ipython = types.ModuleType("IPython")
    fake_ipython.get_ipython = lambda: Shell()  # what a notebook kernel's IPython returns
    monkeypatch.setitem(sys.modules, "IPython", fake_ipython)
    assert tdp.show_progress(None) is True
    fake_ipython.get_ipython = lambda: None  # ipykernel imported but not running a kernel
    assert tdp.show_progress(None) is False
    assert tdp.show_progress(True) is True and tdp.show_progress(np.bool_(False)) is False
    with pytest.raises(TypeError, match="progress"):
        tdp.show_progress("yes")


def test_bars_come_from_tqdm_auto():
    from tqdm.auto import tqdm

    assert tdp._bar_class() is tqdm


# --------------------------------------------------------------------------- cohorts


def test_cohort_bar_counts_every_patient_in_several_steps(bars):
    res = _cohort(300).simulate(td.Schedule(), t_end=60.0, progress=True)
    (bar,) = bars
    assert bar.total == 300 and bar.n == 300 and bar.unit == "patient" and not bar.disable and bar.closed
    assert res.stats.n_chunks == 1  # in this process the bar counts patients as the kernel finishes them


def test_cohort_chunks_unchanged_without_a_bar_and_numbers_identical(bars):
    c = _cohort(300)
    quiet = c.simulate(td.Schedule(), t_end=60.0, progress=False)
    shown = c.simulate(td.Schedule(), t_end=60.0, progress=True)
    assert quiet.stats.n_chunks == shown.stats.n_chunks == 1 and bars[0].disable
    a, b = quiet.to_dataframe(), shown.to_dataframe()
    pd.testing.assert_frame_equal(a, b)


def test_progress_false_prints_nothing(capsys):
    _cohort(20).simulate(td.Schedule(), t_end=60.0, progress=False)
    m = td.models.tumor_immune_tme()
    td.compare(m, {"none": None}, t_end=60.0, progress=False)
    td.fit(td.models.logistic_growth(), _data(), free=["r", "K"], progress=False)
    out = capsys.readouterr()
    assert out.err == "" and out.out == ""


def test_progress_true_draws_a_text_bar(capsys):
    _cohort(20).simulate(td.Schedule(), t_end=60.0, progress=True)
    err = capsys.readouterr().err
    assert "cohort" in err and "20/20" in err


# --------------------------------------------------------------------------- fitting


def test_fit_bar_and_callback_count_the_objective_evaluations(bars):
    seen = []
    user_calls = []
    res = td.fit(td.models.logistic_growth(), _data(), free=["r", "K"], progress=True, callback=seen.append,
                 fit_kws={"iter_cb": lambda p, i, r, *a, **k: user_calls.append(i)})
    (bar,) = bars
    # every objective evaluation: lmfit's nfev, and at most one more (its re-evaluation at the optimum)
    assert bar.n == len(seen) == len(user_calls)
    assert res.lmfit_result.nfev <= bar.n <= res.lmfit_result.nfev + 1
    assert [s["iteration"] for s in seen] == user_calls
    last = seen[-1]
    assert set(last) == {"iteration", "chisqr", "params"} and set(last["params"]) == {"r", "K"}
    assert min(s["chisqr"] for s in seen) == pytest.approx(res.chisqr, rel=1e-6)


def test_bad_callback_is_refused_before_any_work():
    with pytest.raises(TypeError, match="fit: `callback`"):
        td.fit(td.models.logistic_growth(), _data(), free=["r", "K"], callback="print")


def test_profile_bar_and_callback(bars):
    res = td.fit(td.models.logistic_growth(), _data(), free=["r", "K"], progress=False)
    seen = []
    prof = td.fitting.profile_likelihood(res, n_points=5, refine=False, progress=True, callback=seen.append)
    (bar,) = [b for b in bars if b.desc == "profile likelihood"]
    assert all(b.disable for b in bars if b is not bar)  # the refits draw no bars of their own
    refits = sum(p.values.size - 1 for p in (prof["r"], prof["K"]))
    assert bar.total == bar.n == len(seen) == refits
    assert [s["refit"] for s in seen] == list(range(1, refits + 1))
    for s in seen:
        p = prof[s["parameter"]]
        assert s["delta"] == pytest.approx(p.delta[np.flatnonzero(p.values == s["value"])[0]])


def test_select_models_bar_counts_candidates_and_fits_are_quiet(bars):
    seen = []
    cands = {k: v for k, v in td.fitting.growth_models(resistant=False).items()}
    data = _data().assign(observable="tumor_volume")
    table = td.fitting.select_models(cands, data, progress=True, callback=seen.append)
    outer = [b for b in bars if b.desc == "models"]
    assert len(outer) == 1 and outer[0].total == outer[0].n == len(table) == len(seen)
    assert all(b.disable for b in bars if b.desc == "fit")  # one bar, not one per candidate
    assert {s["candidate"] for s in seen} == set(table.index)


def test_search_schedule_bar_counts_candidates(bars):
    m = td.models.tumor_immune_tme()
    seen = []
    res = td.comparison.search_schedule(m, lambda lead: td.regimens.priming_then("anti_pd1", lead, t_end=60),
                                        grid=[0, 7, 14], t_end=60, readout="best_change_burden_pct",
                                        maximize=False, progress=True, callback=seen.append)
    (bar,) = bars
    assert bar.total == bar.n == len(res.surface) == len(seen) == 3
    assert [s["x"] for s in seen] == [0.0, 7.0, 14.0]


def test_compare_and_outcome_map_bars(bars):
    m = td.models.tumor_immune_tme()
    td.compare(m, {"none": None, "pd1": td.regimens.monotherapy("anti_pd1", t_end=60)}, t_end=60, progress=True)
    assert (bars[-1].total, bars[-1].n) == (2, 2)
    seen = []
    om = td.analysis.outcome_map(td.models.logistic_growth(), "r", (0.1, 0.5), "K", (100.0, 1000.0), n=2,
                                 t_end=5.0, progress=True, callback=seen.append)
    assert (bars[-1].total, bars[-1].n) == (4, 4) and len(seen) == 4
    assert seen[-1]["n_cells"] == 4 and np.array_equal(om.escape.ravel(), [s["escape"] for s in seen])
