"""The set-up of ``fit`` made cheaper without changing a result: the observation table's checks on a DataFrame
(missing subjects, boolean ``censored`` flags), unit row factors (no sigma, weights of 1) skipped exactly, the
state / observable rows of a subject, the penalty of a failed solve, one shared empty schedule, the small-array
boolean test, and no per-evaluation bar work when nothing is shown."""

import numpy as np
import pandas as pd
import pytest

import tumordyn as td
from tumordyn.dosing import Schedule
from tumordyn.errors import SpecificationError
from tumordyn.fitting import growth_law
from tumordyn.fitting._fit import FAILED_SOLVE_RESIDUAL, _no_treatment, subject_schedules, tidy_table
from tumordyn.fitting._growth import _SMALL, _any

T = np.array([0.0, 7.0, 14.0, 21.0, 28.0, 42.0])
V = np.array([100.0, 160.0, 230.0, 410.0, 600.0, 1500.0])
LAW = growth_law("exponential")
KW = dict(initial_free=["S"], initial={"S": 100.0}, params={"r": 0.01}, scale="linear")


def _frame(**extra):
    return pd.DataFrame({"subject": "p", "time": T, "observable": "tumor_volume", "value": V, **extra})


def test_boolean_censored_flags_are_copied_and_read():
    df = _frame(censored=np.zeros(T.size, dtype=bool))
    table = tidy_table(df, ("S", "tumor_volume"), "linear", "m")
    df.loc[0, "censored"] = True  # the user's frame changed afterwards: the checked table keeps its own copy
    assert table.columns["censored"].dtype == bool and not table.columns["censored"].any()
    # a censored row is one-sided: a prediction below its limit costs nothing, above it the difference
    flags = np.zeros(T.size, dtype=bool)
    flags[-1] = True
    res = td.fit(LAW, _frame(censored=flags), ["r"], **KW)
    r = res._problem.residual_from_pred(np.full(T.size, 2000.0))
    assert r[-1] == 500.0 and r[0] == 1900.0
    assert res._problem.residual_from_pred(np.full(T.size, 1000.0))[-1] == 0.0


@pytest.mark.parametrize("column", [
    pd.array([False, None, False, False, False, False], dtype="boolean"),
    np.array([False, np.nan, False, False, False, False], dtype=object),
])
def test_missing_censored_flags_raise_naming_the_row(column):
    with pytest.raises(SpecificationError, match=r"row 1 \(position 1\): censored must be True or False, got NaN"):
        td.fit(LAW, _frame(censored=column), ["r"], **KW)


@pytest.mark.parametrize("dtype", [object, "str"])
def test_a_missing_subject_raises_naming_the_row(dtype):
    df = _frame()
    df["subject"] = pd.Series(["p", "p", None, "p", "p", "p"], dtype=dtype)
    with pytest.raises(SpecificationError, match=r"row 2 \(position 2\): subject is missing"):
        td.fit(LAW, df, ["r"], **KW)


def test_a_dataframe_and_arrays_give_the_same_fit():
    n = T.size
    arrays = {"subject": np.full(n, "p"), "time": T, "observable": np.full(n, "tumor_volume"), "value": V,
              "censored": np.zeros(n, dtype=bool)}
    a = td.fit(LAW, arrays, ["r"], **KW)
    b = td.fit(LAW, pd.DataFrame(arrays), ["r"], **KW)
    assert a.values() == b.values() and a.stderr() == b.stderr() and a.chisqr == b.chisqr
    pd.testing.assert_frame_equal(a.data.reset_index(drop=True), b.data.reset_index(drop=True), check_dtype=False)


def test_unit_row_factors_change_no_number():
    plain = td.fit(LAW, _frame(), ["r"], **KW)
    unit_weight = td.fit(LAW, _frame(), ["r"], weights={"tumor_volume": 1.0}, **KW)
    unit_sigma = td.fit(LAW, _frame(sigma=1.0), ["r"], **KW)
    assert plain.values() == unit_weight.values() == unit_sigma.values()  # bit for bit
    assert plain.chisqr == unit_weight.chisqr == unit_sigma.chisqr
    assert plain.stderr() == unit_weight.stderr()  # (a sigma column is a known noise level: other errors)
    # a weight of 2 doubles every residual and Jacobian entry
    p1, p2 = plain._problem, td.fit(LAW, _frame(), ["r"], weights={"tumor_volume": 2.0}, **KW)._problem
    assert p1._unit_sf and not p2._unit_sf
    x = np.array([0.03, 120.0])
    np.testing.assert_array_equal(p2.residual_at(x), 2.0 * p1.residual_at(x))
    names, maxes = list(p1._var_names), [2.0, np.inf]
    np.testing.assert_array_equal(p2.jacobian_at(x, names, maxes), 2.0 * p1.jacobian_at(x, names, maxes))


@pytest.mark.parametrize("n", [6, _SMALL + 6])
def test_the_failed_solve_penalty_is_the_largest_weighted_value(n):
    t = np.arange(n, dtype=float)
    v = 100.0 * np.exp(0.05 * t)
    df = pd.DataFrame({"subject": "p", "time": t, "observable": "tumor_volume", "value": v, "sigma": 0.5})
    p = td.fit(LAW, df, ["r"], **KW)._problem
    assert p.failed_residual == FAILED_SOLVE_RESIDUAL * v.max() / 0.5


def test_state_and_observable_rows_of_a_subject():
    model = td.fitting.growth_model("logistic", resistant=True)
    t = np.array([0.0, 5.0, 10.0, 15.0, 20.0])
    obs = np.array(["S", "tumor_volume", "R", "tumor_volume", "S"])
    for observed in (obs, np.full(5, "S"), np.full(5, "tumor_volume")):
        df = pd.DataFrame({"subject": "p", "time": t, "observable": observed,
                           "value": [90.0, 150.0, 2.0, 300.0, 350.0]})
        p = td.fit(model, df, ["r"], scale="log")._problem
        sub = p._sub[0]
        on_obs = np.isin(observed, ["tumor_volume"])
        np.testing.assert_array_equal(sub.st, np.flatnonzero(~on_obs))
        np.testing.assert_array_equal(sub.ob, np.flatnonzero(on_obs))
        np.testing.assert_array_equal(sub.st_qi, p.qi[~on_obs])
        np.testing.assert_array_equal(sub.ob_ti, p.sub_ti[on_obs])
        assert p.with_obs == bool(on_obs.any())


def test_subjects_without_schedules_share_one_empty_schedule():
    model = LAW.model
    a = subject_schedules(None, ["p", "q"], model, 0.0)
    b = subject_schedules(None, ["x"], model, 0.0)
    assert a["p"] is a["q"] is b["x"] is _no_treatment()
    assert a["p"] == Schedule() and not a["p"].doses and not a["p"].infusions


@pytest.mark.parametrize("size", [0, 1, _SMALL - 1, _SMALL, _SMALL + 1, 500])
def test_any_is_numpys(size):
    rng = np.random.default_rng(size)
    for mask in (np.zeros(size, dtype=bool), rng.random(size) < 0.02, rng.random((size, 2)) < 0.5):
        assert _any(mask) is bool(mask.any())


def test_a_callback_is_called_at_every_evaluation_without_a_bar():
    seen = []
    res = td.fit(LAW, _frame(), ["r"], progress=False, callback=lambda info: seen.append(info["chisqr"]), **KW)
    assert len(seen) >= 3 and min(seen) == pytest.approx(res.chisqr, rel=1e-12)


def test_only_the_bar_nobody_sees_lets_the_loop_skip_its_updates():
    from tumordyn._progress import progress_bar

    assert progress_bar(False, total=None, desc="fit").silent is True
    with progress_bar(True, total=None, desc="fit") as shown:  # a real tqdm bar: updated at every evaluation
        assert not getattr(shown, "silent", False)
