"""Common input types a user brings (issue 17): pandas Series, numpy Generators, lmfit callbacks, time columns."""

import numpy as np
import pandas as pd
import pytest

import tumordyn as td
from tumordyn.errors import SpecificationError


def test_params_and_initial_as_pandas_series_equal_dicts():
    m = td.models.logistic_growth()
    a = td.simulate(m, t_end=5.0, params=pd.Series({"r": 0.2}), initial=pd.Series({"N": 10.0}))
    b = td.simulate(m, t_end=5.0, params={"r": 0.2}, initial={"N": 10.0})
    np.testing.assert_array_equal(a.y, b.y)
    with pytest.raises(TypeError, match="mapping of parameter name"):
        td.simulate(m, t_end=5.0, params=[0.2])
    with pytest.raises(td.errors.UnknownNameError):
        td.simulate(m, t_end=5.0, params=pd.Series({"rr": 0.2}))


def test_cohort_seed_from_a_numpy_generator_is_recorded_and_reproducible():
    m = td.models.logistic_growth()
    dists = {"r": td.cohorts.LogNormal(0.3, 0.2)}
    c1 = td.Cohort(m, dists, n=6, seed=np.random.default_rng(42))
    c2 = td.Cohort(m, dists, n=6, seed=np.random.default_rng(42))
    assert isinstance(c1.seed, int) and c1.seed == c2.seed
    np.testing.assert_array_equal(c1.param_matrix, c2.param_matrix)
    np.testing.assert_array_equal(td.Cohort(m, dists, n=6, seed=c1.seed).param_matrix, c1.param_matrix)
    c3 = td.Cohort(m, dists, n=6, seed=np.random.SeedSequence(7))
    assert isinstance(c3.seed, int)
    with pytest.raises(TypeError, match="seed"):
        td.Cohort(m, dists, n=6, seed="42")


def _data(t):
    m = td.models.logistic_growth()
    tr = td.simulate(m, t_end=float(t[-1]), t_eval=t)
    return m, pd.DataFrame({"subject": "A", "time": t, "observable": "N", "value": tr["N"]})


def test_fit_iter_cb_is_called_and_time_columns_are_read_as_days():
    m, df = _data(np.linspace(0.0, 20.0, 8))
    seen = []
    res = td.fit(m, df, free=["r"], fit_kws={"iter_cb": lambda params, it, resid, *a, **k: seen.append(it)})
    assert seen and res.params["r"].value == pytest.approx(0.5, rel=1e-6)
    as_duration = df.assign(time=pd.to_timedelta(df.time, unit="D"))
    assert td.fit(m, as_duration, free=["r"]).params["r"].value == pytest.approx(res.params["r"].value, rel=1e-9)
    as_dates = df.assign(time=pd.Timestamp("2024-01-01") + pd.to_timedelta(df.time, unit="D"))
    with pytest.raises(SpecificationError, match="holds dates"):
        td.fit(m, as_dates, free=["r"])


def test_compare_on_a_model_without_a_diameter_warns_and_a_wrong_name_is_an_error():
    m = td.models.logistic_growth()
    with pytest.warns(td.errors.ReadoutWarning, match="lesion_diameter"):
        cmp = td.compare(m, {"none": None}, t_end=56.0)
    assert "recist_bor" not in cmp.to_dataframe().columns
    with pytest.raises(td.errors.UnknownNameError, match="diametr"):
        td.compare(m, {"none": None}, t_end=56.0, diameter="diametr")


def test_compare_min_measurable_reaches_recist():
    m = td.models.tumor_immune_tme()
    base = td.compare(m, {"none": None}, t_end=112.0).to_dataframe()
    d0 = td.simulate(m, t_end=1.0)["lesion_diameter"][0]
    with pytest.raises(SpecificationError, match="measurable"):
        td.compare(m, {"none": None}, t_end=112.0, min_measurable=d0 * 2)
    small = td.compare(m, {"none": None}, t_end=112.0, min_measurable=d0 / 2).to_dataframe()
    assert small.loc["none", "recist_bor"] == base.loc["none", "recist_bor"]
