"""Per-patient progress of a cohort run in this process: the compiled kernel marks each patient done, a thread
polls the marks and moves the bar; it reaches n and moves in steps far below a chunk (no timing asserted)."""

import threading

import numpy as np
import pytest

import tumordyn as td
import tumordyn._progress as tdp
from tumordyn.cohorts import _cohort as cohort_mod


class StepRecorder:
    """Stands in for tqdm.auto.tqdm: records every update step."""

    bars: list = []

    def __init__(self, total=None, desc="", unit="it", disable=False, **kwargs):
        self.total, self.unit, self.disable, self.n, self.steps = total, unit, disable, 0, []
        StepRecorder.bars.append(self)

    def update(self, k=1):
        self.n += k
        self.steps.append(k)

    def close(self):
        pass


@pytest.fixture
def bars(monkeypatch):
    StepRecorder.bars = []
    monkeypatch.setattr(tdp, "_bar_class", lambda: StepRecorder)
    monkeypatch.setattr(cohort_mod, "_POLL_SECONDS", 0.002)  # poll often: small steps however fast the machine
    return StepRecorder.bars


def _cohort(n):
    m = td.models.tumor_immune_tme()
    return td.Cohort(m, {"r_S": td.cohorts.LogNormal(median=m.defaults()["r_S"], cv=0.3),
                         "k_T": td.cohorts.LogNormal(median=m.defaults()["k_T"], cv=0.5)}, n=n, seed=3)


@pytest.mark.parametrize("parallel", [False, True])
def test_bar_reaches_n_in_steps_below_a_chunk(bars, parallel):
    pytest.importorskip("numba")
    regimen = td.Schedule.every("targeted", 100.0, 7.0, until=180.0)
    res = _cohort(1000).simulate(regimen, t_end=180.0, method="dopri5", progress=True, parallel=parallel,
                                 rtol=1e-8)
    (bar,) = bars
    assert bar.total == 1000 and bar.n == 1000
    assert res.stats.n_chunks == 1
    assert len(bar.steps) > 1  # it moved before the end
    assert max(bar.steps) < 128  # finer than the chunks of >= 128 patients the bar used to count


def test_bar_counts_patients_times_regimens_and_patient_by_patient_paths(bars):
    rule = td.AdaptiveRule("targeted", observable="lesion_diameter", pause_below=0.8, resume_at=0.95,
                           on=td.Schedule.every("targeted", 100.0, 7.0, until=56.0))
    res = _cohort(12).simulate({"a": td.Schedule(), "b": td.Regimen(rules=(rule,))}, t_end=56.0, method="batch",
                               progress=True)
    (bar,) = bars
    assert bar.total == bar.n == 24 and bar.unit == "patient-regimen"
    assert res.stats.n_chunks == 1


def test_done_counter_and_poller():
    counter = tdp.DoneCounter()
    a, b = counter.flags(5), counter.flags(3)
    a[:2] = 1
    b[:] = 1
    assert counter.count() == 5
    counter.retire(b)
    assert counter.count() == 5 and len(counter._arrays) == 1
    bar = StepRecorder(total=8)
    release = threading.Event()
    with tdp.polled(bar, counter, 0.001):
        a[2:] = 1
        release.wait(0.05)
    assert bar.n == 8
    off = StepRecorder(total=8, disable=True)
    with tdp.polled(off, counter, 0.001):
        pass
    assert off.n == 0  # a disabled bar starts no thread and is never updated
