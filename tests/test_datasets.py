"""The shipped clinical dataset (Ghaffari Laleh et al. 2022) and the reader of a user's lesion table."""

import ast
import os

import numpy as np
import pandas as pd
import pytest

import tumordyn as td
from tumordyn.errors import SpecificationError, UnknownNameError

SOURCE = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "laleh2022", "patient_data.csv")


def test_laleh2022_counts_units_and_columns():
    df = td.datasets.laleh2022()
    assert list(df.columns) == ["patient", "study", "arm", "time_days", "time_weeks", "diameter_mm", "volume_mm3",
                                "response"]
    assert len(df) == 8416 and df["patient"].nunique() == 1461  # the README's counts
    assert set(df["study"]) == {1, 2, 3, 4, 5}
    assert set(df["response"]) == {"up", "down", "flux"}
    assert (df["diameter_mm"] >= 0).all() and (df["volume_mm3"] >= 0).all()
    # volume (mm^3) = 0.52 d^3 with d in mm, rounded to 0.01 mm^3: checks both units
    np.testing.assert_allclose(df["volume_mm3"], 0.52 * df["diameter_mm"] ** 3, atol=0.006)
    # after the baseline scan the week is the scan's week, ceil(days / 7)
    later = df.groupby("patient").cumcount() > 0
    assert np.array_equal(df.loc[later, "time_weeks"], np.ceil(df.loc[later, "time_days"] / 7))
    assert df["study"].to_numpy().dtype == np.int64
    # each record is sorted by visit week (by day too, but for one record of the source) and its id carries its study
    def ordered(col):
        return df.groupby("patient", sort=False)[col].apply(lambda t: bool(np.all(np.diff(t) >= 0)))
    assert ordered("time_weeks").all()
    assert list(ordered("time_days").pipe(lambda s: s[~s]).index) == ["0ccda10015f07afbce04d305eb1a138c-S2"]
    assert (df["patient"].str[-1].astype(int) == df["study"]).all()
    assert "10.1371/journal.pcbi.1009822" in td.datasets.LALEH2022_CITATION
    assert "e1009822" in td.datasets.LALEH2022_BIBTEX


def test_laleh2022_matches_the_per_record_source_file():
    if not os.path.exists(SOURCE):
        pytest.skip("the project's shared data folder is not present")
    src = pd.read_csv(SOURCE)
    df = td.datasets.laleh2022()
    assert len(src) == 1461 and int(src["readings"].sum()) == 8416
    groups = {p: g for p, g in df.groupby("patient", sort=False)}
    for _, row in src.sample(200, random_state=0).iterrows():
        g = groups[row["Pt_hashID"]]
        assert list(g["time_days"]) == ast.literal_eval(row["T_days"])
        assert list(g["volume_mm3"]) == ast.literal_eval(row["Lesion_vol"])
        assert g["response"].iloc[0] == row["response"]


def test_licence_and_citation_ship_with_the_data():
    from importlib import resources

    folder = resources.files("tumordyn.datasets").joinpath("data")
    names = {p.name for p in folder.iterdir()}
    assert {"laleh2022.csv.gz", "LICENSE-data.md", "LICENSE-TumorGrowth.jl.md"} <= names
    assert "CC BY 4.0" in folder.joinpath("LICENSE-data.md").read_text(encoding="utf-8")


def test_read_lesions_round_trips_the_dataset(tmp_path):
    df = td.datasets.laleh2022()
    one = df[df["study"] == 1]
    path = tmp_path / "lesions.csv"
    one.to_csv(path, index=False)
    back = td.datasets.read_lesions(path, keep=("study", "arm", "response"))
    pd.testing.assert_frame_equal(back, one[list(back.columns)].reset_index(drop=True), check_dtype=False)
    fit_df = td.datasets.fit_table(back)
    assert list(fit_df.columns) == ["subject", "time", "observable", "value"]
    assert fit_df["value"].sum() == pytest.approx(one["volume_mm3"].sum())


def test_read_lesions_converts_units_and_sorts():
    raw = pd.DataFrame({"id": ["b", "a", "a"], "wk": [0.0, 6.0, 0.0], "d_cm": [3.0, 1.5, 2.0], "v_ml": [1.0, 2.0, 3.0]})
    before = raw.copy()
    les = td.datasets.read_lesions(raw, patient="id", time="wk", diameter="d_cm", volume="v_ml", time_unit="weeks",
                                   diameter_unit="cm", volume_unit="mL")
    pd.testing.assert_frame_equal(raw, before)  # the user's table is not modified
    assert les["patient"].tolist() == ["b", "a", "a"]
    assert les["time_days"].tolist() == [0.0, 0.0, 42.0]
    assert les["diameter_mm"].tolist() == [30.0, 20.0, 15.0]
    assert les["volume_mm3"].tolist() == [1000.0, 3000.0, 2000.0]


def test_read_lesions_times_as_durations_and_dates():
    dates = pd.to_datetime(["2021-03-01", "2021-03-15", "2021-04-12"])
    raw = pd.DataFrame({"patient": "p", "time": dates, "diameter_mm": [10.0, 9.0, 8.0]})
    with pytest.raises(SpecificationError, match="holds dates.*origin"):
        td.datasets.read_lesions(raw)
    les = td.datasets.read_lesions(raw, origin="2021-03-01")
    assert les["time_days"].tolist() == [0.0, 14.0, 42.0]
    text = raw.assign(time=["2021-03-01", "2021-03-15", "2021-04-12"])
    assert td.datasets.read_lesions(text, origin="2021-03-01")["time_days"].tolist() == [0.0, 14.0, 42.0]
    with pytest.raises(SpecificationError, match="time.*'2021-03-01'.*origin"):
        td.datasets.read_lesions(text)
    dur = raw.assign(time=dates - dates[0])
    assert td.datasets.read_lesions(dur, time_unit="weeks")["time_days"].tolist() == [0.0, 14.0, 42.0]
    with pytest.raises(SpecificationError, match="only for a column of dates"):
        td.datasets.read_lesions(dur, origin="2021-03-01")


@pytest.mark.parametrize("edit, match", [
    (lambda d: d.assign(diameter_mm=[10.0, -1.0, 8.0]), r"position 1\): diameter \(column 'diameter_mm'\) is -1;"),
    (lambda d: d.assign(diameter_mm=[10.0, np.nan, 8.0]), r"position 1\): diameter.*finite"),
    (lambda d: d.assign(time=[0.0, np.inf, 8.0]), r"position 1\): time.*finite"),
    (lambda d: d.assign(time=[0.0, 0.0, 8.0]), r"rows? 0 .*and row 1 .*two measurements at time 0"),
    (lambda d: d.assign(patient=["p", None, "p"]), r"position 1\): patient.*missing"),
    (lambda d: d.drop(columns="diameter_mm"), "no measurement"),
    (lambda d: d.drop(columns="time"), "no time column"),
])
def test_read_lesions_refuses_bad_tables_naming_row_and_column(edit, match):
    raw = pd.DataFrame({"patient": "p", "time": [0.0, 4.0, 8.0], "diameter_mm": [10.0, 9.0, 8.0]})
    with pytest.raises(SpecificationError, match=match):
        td.datasets.read_lesions(edit(raw))


def test_read_lesions_names_and_units_checked():
    raw = pd.DataFrame({"patient": "p", "time": [0.0, 4.0], "diameter_mm": [10.0, 9.0]})
    with pytest.raises(UnknownNameError, match="diam"):
        td.datasets.read_lesions(raw, diameter="diam")
    with pytest.raises(SpecificationError, match="`time_unit` must be one of"):
        td.datasets.read_lesions(raw, time_unit="months")
    with pytest.raises(TypeError, match="CSV path or a pandas DataFrame"):
        td.datasets.read_lesions([1, 2])


def test_read_lesions_averages_duplicates_on_request():
    raw = pd.DataFrame({"patient": "p", "time": [0.0, 0.0, 8.0], "diameter_mm": [10.0, 12.0, 8.0]})
    les = td.datasets.read_lesions(raw, duplicates="mean")
    assert les["diameter_mm"].tolist() == [11.0, 8.0]
    full = td.datasets.read_lesions(td.datasets.laleh2022(), duplicates="mean")
    assert len(full) == 8416 - 7  # the seven same-day pairs of the source


def test_fit_time_column_of_dates_is_refused_and_durations_become_days():
    m = td.fitting.growth_model("exponential")
    t = pd.to_datetime(["2021-03-01", "2021-03-15", "2021-04-12"])
    df = pd.DataFrame({"subject": "p", "time": t, "observable": "tumor_volume", "value": [100.0, 120.0, 170.0]})
    with pytest.raises(SpecificationError, match="holds dates"):
        td.fit(m, df, ["r"])
    res = td.fit(m, df.assign(time=t - t[0]), ["r"], initial={"S": 100.0})
    assert res.data["time"].tolist() == [0.0, 14.0, 42.0]
