"""simulate_batch returns a labelled BatchTrajectory that still behaves as the array it used to be."""

from __future__ import annotations

import numpy as np
import pytest

import tumordyn as td
from tumordyn.errors import UnknownNameError
from tumordyn.models import logistic_solution
from tumordyn.numerics import compile_model
from tumordyn.trajectory import BatchTrajectory

R = np.array([0.2, 0.4, 0.6])


@pytest.fixture(scope="module")
def batch():
    m = td.models.logistic_growth()
    c = compile_model(m)
    P = np.tile(c.param_vector(), (3, 1))
    P[:, c.param_names.index("r")] = R
    return m, P, td.simulate_batch(m, P, t_end=10.0, t_eval=np.linspace(0, 10, 11), rtol=1e-10, atol=1e-10)


def test_labels_and_values_match_the_closed_form(batch):
    m, P, b = batch
    assert isinstance(b, BatchTrajectory) and b.states == ("N",) and b.n_patients == 3 and len(b) == 3
    d = m.defaults()
    for j, r in enumerate(R):
        np.testing.assert_allclose(b["N"][j], logistic_solution(b.t, m.states["N"].initial, r, d["K"]), rtol=1e-7)
    assert b.ok.all() and not b.values.flags.writeable and not b.params.flags.writeable
    np.testing.assert_array_equal(b.params, P)


def test_array_behaviour_is_kept(batch):
    _, _, b = batch
    a = np.asarray(b)
    assert a is b.values and b.shape == (3, 11, 1) and b.ndim == 3 and b.dtype == np.float64
    assert b[:, -1, 0].shape == (3,) and np.array_equal(b[1], a[1])
    assert np.array_equal(b * 2, a * 2) and np.array_equal(2 * b, a * 2) and np.array_equal(b - a, np.zeros_like(a))
    assert np.allclose(b, a) and np.max(b) == a.max() and np.log(b).shape == a.shape
    assert type(np.mean(b, axis=0)) is np.ndarray and np.stack([b, b]).shape == (2, 3, 11, 1)
    with pytest.raises(ValueError):
        b.values[0, 0, 0] = 1.0  # read-only


def test_dataframe_long_format(batch):
    _, _, b = batch
    df = b.to_dataframe()
    assert df.index.names == ["patient", "time"] and list(df.columns) == ["N"] and len(df) == 3 * 11
    assert df.loc[(2, 10.0), "N"] == b["N"][2, -1]
    with pytest.raises(UnknownNameError, match="'n'"):
        b["n"]


def test_xarray_export_or_a_clear_import_error(batch):
    _, _, b = batch
    try:
        import xarray  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install xarray"):
            b.to_xarray()
        return
    da = b.to_xarray()
    assert da.dims == ("patient", "time", "state") and float(da.sel(patient=1, state="N")[-1]) == b["N"][1, -1]


def test_plot_takes_ax(batch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _, _, b = batch
    fig, ax = plt.subplots()
    assert b.plot(ax=ax) is ax
    assert "cells" in ax.get_ylabel() or "N" in ax.get_ylabel()
    plt.close(fig)


def test_failed_patients_are_flagged():
    m = td.models.logistic_growth()
    P = np.tile(compile_model(m).param_vector(), (2, 1))
    b = td.simulate_batch(m, P, t_end=100.0, max_steps=5, on_error="nan")
    assert not b.ok.any() and np.isnan(b.values).all() and "2 failed" in repr(b)
