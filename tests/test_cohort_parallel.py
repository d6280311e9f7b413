"""Cohorts on threads and processes: bit-identical patients whatever the batch, thread count or executor;
one compiled model per worker process; Ctrl-C stops a cohort promptly and leaves no worker behind."""

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

import tumordyn as td
from tumordyn.cohorts import CohortInterrupted
from tumordyn.errors import SpecificationError

T_END = 112.0


def _cohort(n=48, seed=5):
    model = td.models.tumor_immune_tme().with_defaults(k_E=0.3, mu=1e-5)
    dists = {"r_S": td.cohorts.LogNormal(median=0.05, cv=0.3), "k_T": td.cohorts.LogNormal(median=0.08, cv=0.6),
             "k_E": td.cohorts.LogNormal(median=0.3, cv=0.8)}
    return td.Cohort(model, dists, n=n, seed=seed)


def _regimen():
    return td.Schedule.every("targeted", 100.0, 7.0, until=T_END) + td.Schedule.every("anti_pd1", 200.0, 21.0,
                                                                                      until=T_END)


def _same(a, b):
    """Bit-identical readouts and trajectories (NaN where NaN)."""
    assert a.to_dataframe().equals(b.to_dataframe())
    for name in a.regimens:
        ta, tb = a._traj[name], b._traj[name]
        assert ta.shape == tb.shape
        assert np.array_equal(ta, tb, equal_nan=True)


@pytest.mark.slow  # numba compiles the prange kernel once (cached on disk afterwards)
def test_threads_bit_identical_whatever_batch_and_thread_count():
    numba = pytest.importorskip("numba")
    cohort = _cohort()
    kw = dict(t_end=T_END, keep_trajectories=True, method="dopri5", progress=False)
    serial = cohort.simulate(_regimen(), parallel=False, **kw)
    before = numba.get_num_threads()
    try:
        runs = []
        for threads in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS), numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(threads)
            for chunk in (None, 7, 48):
                runs.append(cohort.simulate(_regimen(), chunk_size=chunk, **kw))  # threads by default
    finally:
        numba.set_num_threads(before)
    for r in runs:
        _same(serial, r)
    # a patient alone gives the numbers it gets inside the cohort
    one = td.Cohort(cohort.model, {k: td.cohorts.Fixed(v) for k, v in cohort.patient_params(17).items()
                                   if k in cohort.distributions}, n=1, seed=0)
    alone = one.simulate(_regimen(), **kw)
    assert np.array_equal(alone._traj["regimen"][..., 0], serial._traj["regimen"][..., 17], equal_nan=True)


def test_parallel_argument_checked():
    with pytest.raises(TypeError, match="parallel"):
        _cohort(4).simulate(_regimen(), t_end=T_END, parallel="yes", progress=False)
    with pytest.raises(SpecificationError, match="processes"):
        _cohort(4).simulate(_regimen(), "threads", t_end=T_END, progress=False)


def test_worker_model_one_compiled_model_per_structure():
    from tumordyn.cohorts._cohort import worker_model
    from tumordyn.numerics import compile_model

    model = td.models.logistic_growth()
    first = worker_model(pickle.loads(pickle.dumps(model)))
    again = worker_model(pickle.loads(pickle.dumps(model)))  # a new copy, as each chunk brings to a worker
    assert again is first
    assert compile_model(again) is compile_model(first)
    other = worker_model(model.with_defaults(r=0.2))  # another structure: its own model
    assert other is not first


def test_owned_process_pool_same_numbers():
    cohort = _cohort(16)
    kw = dict(t_end=T_END, method="batch", progress=False)
    here = cohort.simulate(_regimen(), **kw)
    pooled = cohort.simulate(_regimen(), "processes", chunk_size=4, **kw)
    assert pooled.to_dataframe().equals(here.to_dataframe())


_SCRIPT = textwrap.dedent("""
    import os, sys, time
    from concurrent.futures import ProcessPoolExecutor
    import tumordyn as td
    from tumordyn.cohorts import CohortInterrupted

    model = td.models.tumor_immune_tme()
    cohort = td.Cohort(model, {"r_S": td.cohorts.LogNormal(median=0.05, cv=0.3)}, n=4000, seed=1)
    sched = td.Schedule.every("targeted", 100.0, 1.0, until=300.0)
    def run(ex):
        try:
            cohort.simulate(sched, ex, t_end=300.0, method="batch", chunk_size=4, progress=False)
        except CohortInterrupted as err:
            print("INTERRUPTED", err, flush=True)
            raise SystemExit(130)
    if sys.argv[1] == "own":
        print("PIDS", flush=True)
        run("processes")
    elif sys.argv[1] == "dask":
        from dask.distributed import Client, LocalCluster
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
                Client(cl) as client:
            client.submit(int, 1).result()  # the workers are up
            print("PIDS", flush=True)
            try:
                run(client)
            finally:  # leaving the with-blocks closes the cluster and its worker processes
                print("CLOSING", flush=True)
    else:
        with ProcessPoolExecutor(2) as ex:
            list(ex.map(int, range(2)))  # start the workers
            print("PIDS", *[p.pid for p in ex._processes.values()], flush=True)
            run(ex)
""")


def _children(pid):
    try:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        pytest.skip("ps is not available")
    return [int(x) for x in out.stdout.split()]


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie waiting for its parent counts as gone
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("which", ["own", "user", "dask"])
def test_ctrl_c_stops_a_process_pool_cohort_promptly_and_leaves_no_worker(which):
    if which == "dask":
        pytest.importorskip("dask.distributed")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, "-c", _SCRIPT, which], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith("PIDS"), line + proc.stderr.read()
        deadline = time.monotonic() + 120
        workers = []
        while time.monotonic() < deadline and not workers:  # the pool's workers are running chunks
            workers = _children(proc.pid)
            time.sleep(0.2)
        assert workers, "no worker process started"
        time.sleep(3.0)  # chunks queued and running
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "INTERRUPTED" in out, out + err
    assert proc.returncode == 130
    assert took < 30.0  # the whole queue would take minutes: pending chunks were cancelled
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.2)
    assert not any(_alive(p) for p in workers), "a worker process outlived the interrupted cohort"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_in_process_ctrl_c_raises_cohort_interrupted(monkeypatch):
    from tumordyn.cohorts import _cohort as mod

    calls = []
    real = mod._run_chunk

    def interrupted(task, *counter):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(task, *counter)

    monkeypatch.setattr(mod, "_run_chunk", interrupted)
    with pytest.raises(CohortInterrupted, match="1 of 3 chunks") as info:
        _cohort(12).simulate(_regimen(), t_end=T_END, method="batch", chunk_size=4, progress=False)
    assert isinstance(info.value, KeyboardInterrupt)
    assert info.value.n_cancelled == 1


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_while_chunks_are_handed_over_is_held_until_every_chunk_has_its_future():
    from tumordyn.cohorts._cohort import _sigint_held

    handed = []
    with pytest.raises(KeyboardInterrupt):
        with _sigint_held():
            for i in range(5):
                if i == 1:
                    os.kill(os.getpid(), signal.SIGINT)
                    time.sleep(0.05)  # the handler runs here: it must not interrupt the hand-over
                handed.append(i)
    assert handed == [0, 1, 2, 3, 4]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    with _sigint_held():  # no Ctrl-C: nothing raised
        handed.append(5)
    assert handed[-1] == 5
