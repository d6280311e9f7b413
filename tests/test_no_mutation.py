"""Nothing a user passes is changed by the library: dicts, Series, DataFrames, arrays, schedules, models."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import tumordyn as td
from tumordyn.numerics import compile_model


def same(a, b) -> bool:
    if isinstance(a, (pd.DataFrame, pd.Series)):
        return a.equals(b) and list(a.index) == list(b.index)
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True) and a.flags.writeable == b.flags.writeable
    if isinstance(a, dict):
        return type(a) is type(b) and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if hasattr(a, "dist") and hasattr(a, "kwds"):  # a frozen scipy.stats distribution (no __eq__)
        return a.dist.name == b.dist.name and a.args == b.args and a.kwds == b.kwds
    return a == b


def check_unchanged(call, **inputs):
    before = {k: copy.deepcopy(v) for k, v in inputs.items()}
    call(**inputs)
    for k, v in inputs.items():
        assert same(v, before[k]), f"{k} was changed by the call"


@pytest.fixture(scope="module")
def tme():
    return td.models.tumor_immune_tme()


def test_simulate_and_batch_leave_inputs_alone(tme):
    sched = td.Schedule.every("anti_pd1", 200.0, 21.0, until=60)
    check_unchanged(lambda **k: td.simulate(tme, k["schedule"], t_end=60.0, t_eval=k["t_eval"], params=k["params"],
                                            initial=k["initial"]),
                    schedule=sched, t_eval=np.arange(0.0, 61.0, 5.0), params=pd.Series({"r_S": 0.04}),
                    initial={"S": 2e9})
    m = td.models.logistic_growth()
    P = np.tile(compile_model(m).param_vector(), (4, 1))
    check_unchanged(lambda **k: td.simulate_batch(m, k["P"], t_end=5.0, t_eval=k["t_eval"], initial=k["Y0"]),
                    P=P, t_eval=[0.0, 2.5, 5.0], Y0=np.full((4, 1), 20.0))


def test_compare_and_search_leave_inputs_alone(tme):
    regs = {"none": None, "pd1": td.regimens.monotherapy("anti_pd1", t_end=60)}
    check_unchanged(lambda **k: td.compare(tme, k["regimens"], t_end=60.0, params=k["params"], progress=False),
                    regimens=regs, params={"r_S": 0.04})


def test_fit_leaves_data_and_options_alone():
    m = td.models.logistic_growth()
    t = np.linspace(0.0, 12.0, 9)
    tr = td.simulate(m, t_end=12.0, t_eval=t)
    df = pd.DataFrame({"subject": "A", "time": t, "observable": "N", "value": tr["N"] * 1.01, "sigma": 0.05})
    check_unchanged(lambda **k: td.fit(m, k["data"], k["free"], schedules=k["schedules"], params=k["params"],
                                       bounds=k["bounds"], fit_kws=k["fit_kws"], progress=False),
                    data=df, free=["r", "K"], schedules={"A": td.Schedule()}, params={"K": 900.0},
                    bounds={"r": (0.01, 2.0)}, fit_kws={"max_nfev": 200})


def test_cohort_leaves_distributions_correlation_and_regimens_alone(tme):
    d = tme.defaults()
    dists = {"r_S": td.cohorts.LogNormal(d["r_S"], 0.3), "k_T": stats.lognorm(s=0.3, scale=d["k_T"]), "S": 1e9}
    corr = np.array([[1.0, -0.3, 0.0], [-0.3, 1.0, 0.0], [0.0, 0.0, 1.0]])
    check_unchanged(lambda **k: td.Cohort(tme, k["dists"], n=8, seed=1, correlation=k["corr"]), dists=dists, corr=corr)
    cohort = td.Cohort(tme, dists, n=8, seed=1)
    regs = {"pd1": td.Schedule.every("anti_pd1", 200.0, 21.0, until=60)}
    check_unchanged(lambda **k: cohort.simulate(k["regs"], t_end=60.0, t_eval=k["t_eval"], progress=False),
                    regs=regs, t_eval=np.arange(0.0, 61.0, 3.0))
