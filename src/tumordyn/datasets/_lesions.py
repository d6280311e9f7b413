"""A user's own lesion measurements: read, check and tidy (one row per patient and time)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validate import fmt_number, time_in_days
from ..errors import SpecificationError, UnknownNameError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["read_lesions", "fit_table", "LESION_COLUMNS", "TIME_UNITS", "DIAMETER_UNITS", "VOLUME_UNITS"]

#: Columns of a tidy lesion table, in order (the measurement columns present may be one or both).
LESION_COLUMNS = ("patient", "time_days", "diameter_mm", "volume_mm3")
#: Accepted time units and their length in days.
TIME_UNITS = {"days": 1.0, "weeks": 7.0}
#: Accepted diameter units and their length in mm.
DIAMETER_UNITS = {"mm": 1.0, "cm": 10.0}
#: Accepted volume units and their size in mm³ (``"mL"`` = ``"cm3"``).
VOLUME_UNITS = {"mm3": 1.0, "cm3": 1000.0, "mL": 1000.0}

_DEFAULT_NAMES = {"patient": ("patient", "subject"), "time": ("time_days", "time"),
                  "diameter": ("diameter_mm", "diameter"), "volume": ("volume_mm3", "volume")}


def _row(df: pd.DataFrame, i: int) -> str:
    return f"row {df.index[i]!r} (position {i})"


def _column(df: pd.DataFrame, given: str | None, role: str, required: bool) -> str | None:
    cols = [str(c) for c in df.columns]
    if given is not None:
        if given not in df.columns:
            raise UnknownNameError("column", given, cols, f"the lesion table (the {role} column)")
        return given
    for name in _DEFAULT_NAMES[role]:
        if name in df.columns:
            return name
    if required:
        raise SpecificationError(
            f"the lesion table has no {role} column (looked for {' or '.join(_DEFAULT_NAMES[role])}); name it "
            f"with `{role}=`; columns present: {', '.join(cols)}"
        )
    return None


def _unit(value: str, allowed: Mapping[str, float], arg: str) -> float:
    if value not in allowed:
        raise SpecificationError(f"`{arg}` must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return allowed[value]


def _finite(df: pd.DataFrame, col: Any, what: str, values: Any = None, nonnegative: bool = False) -> np.ndarray:
    import pandas as pd

    raw = df[col] if values is None else values
    vals = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(vals)
    if bad.any():
        i = int(np.argmax(bad))
        raw_i = df[col].iloc[i]
        shown = repr(raw_i) if isinstance(raw_i, str) else str(raw_i)
        hint = " (for dates give the start of treatment as `origin`)" if what == "time" and isinstance(shown, str) else ""
        raise SpecificationError(f"lesion table {_row(df, i)}: {what} (column {col!r}) is {shown}; it must be a "
                                 f"finite number{hint}")
    if nonnegative and np.any(vals < 0):
        i = int(np.argmax(vals < 0))
        raise SpecificationError(f"lesion table {_row(df, i)}: {what} (column {col!r}) is {fmt_number(float(vals[i]))}; it must be "
                                 ">= 0 (a lesion that has disappeared measures 0)")
    return vals


def read_lesions(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    patient: str | None = None,
    time: str | None = None,
    diameter: str | None = None,
    volume: str | None = None,
    time_unit: str = "days",
    diameter_unit: str = "mm",
    volume_unit: str = "mm3",
    origin: Any = None,
    duplicates: str = "raise",
    keep: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Read a tidy table of lesion measurements (a CSV file or a DataFrame) and check it.

    One row per patient and measurement time, with a diameter, a volume or both.

    Parameters
    ----------
    source : str, path-like or pandas.DataFrame
        A CSV file (gzip etc. recognised by the extension) or a DataFrame (not modified).
    patient, time, diameter, volume : str, optional
        Names of the columns in ``source``. Defaults: ``patient`` (or ``subject``), ``time_days`` (or
        ``time``), ``diameter_mm`` (or ``diameter``), ``volume_mm3`` (or ``volume``). At least one of
        diameter and volume is needed.
    time_unit : {"days", "weeks"}
        Unit of a numeric time column. Durations (``timedelta64``) are converted to days whatever the unit.
    diameter_unit : {"mm", "cm"}
        Unit of the diameter column.
    volume_unit : {"mm3", "cm3", "mL"}
        Unit of the volume column.
    origin : date-like, optional
        Time zero (e.g. the start of treatment) when the time column holds dates (``datetime64``
        values, or text such as ``"2021-03-01"``); the times become days since it. Refused for a
        numeric time column. A column of dates without ``origin`` is an error: days since 1970
        are no treatment time.
    duplicates : {"raise", "mean"}
        What to do with two rows of the same patient and time: refuse them (default, naming
        both rows) or average their measurements.
    keep : tuple of str
        Further columns of ``source`` to carry over unchanged (e.g. ``("arm",)``).

    Returns
    -------
    pandas.DataFrame
        Columns ``patient``, ``time_days`` (float, days), ``diameter_mm`` (mm) and/or ``volume_mm3``
        (mm³) — those measured — then the ``keep`` columns; sorted by patient (first appearance) and time;
        index 0..n-1.

    Raises
    ------
    UnknownNameError
        For a column named in the arguments that ``source`` lacks.
    SpecificationError
        For a missing patient/time column or no measurement column, an unknown unit, a missing
        patient label, a time or measurement that is not a finite number, a negative
        measurement, dates without ``origin``, or duplicated (patient, time) rows; the message
        names the column and the row.
    TypeError
        If ``source`` is neither a path nor a DataFrame.

    Examples
    --------
    >>> import pandas as pd, tumordyn as td
    >>> raw = pd.DataFrame({"id": ["a", "a", "b"], "week": [0, 6, 0], "ld_cm": [2.0, 1.5, 3.1]})
    >>> les = td.datasets.read_lesions(raw, patient="id", time="week", diameter="ld_cm",
    ...                                time_unit="weeks", diameter_unit="cm")
    >>> les.to_dict("list")
    {'patient': ['a', 'a', 'b'], 'time_days': [0.0, 42.0, 0.0], 'diameter_mm': [20.0, 15.0, 31.0]}
    """
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        df = source.copy()
    elif isinstance(source, (str, os.PathLike)):
        df = pd.read_csv(source)
    else:
        raise TypeError(f"`source` must be a CSV path or a pandas DataFrame, got {type(source).__name__}")
    df = df.reset_index(drop=True) if not df.index.is_unique else df
    t_scale = _unit(time_unit, TIME_UNITS, "time_unit")
    d_scale = _unit(diameter_unit, DIAMETER_UNITS, "diameter_unit")
    v_scale = _unit(volume_unit, VOLUME_UNITS, "volume_unit")
    if duplicates not in ("raise", "mean"):
        raise SpecificationError(f"`duplicates` must be 'raise' or 'mean', got {duplicates!r}")
    if len(df) == 0:
        raise SpecificationError("the lesion table has no rows")
    pcol = _column(df, patient, "patient", True)
    tcol = _column(df, time, "time", True)
    dcol = _column(df, diameter, "diameter", False)
    vcol = _column(df, volume, "volume", False)
    if dcol is None and vcol is None:
        raise SpecificationError(
            "the lesion table has no measurement: give a diameter column (diameter_mm / `diameter=`) or a volume "
            f"column (volume_mm3 / `volume=`); columns present: {', '.join(map(str, df.columns))}"
        )
    for k in keep:
        if k not in df.columns:
            raise UnknownNameError("column", k, [str(c) for c in df.columns], "the lesion table (`keep`)")
    pat = df[pcol]
    if pat.isna().any():
        i = int(np.argmax(pat.isna().to_numpy()))
        raise SpecificationError(f"lesion table {_row(df, i)}: patient (column {pcol!r}) is missing")
    tc = df[tcol]
    if (origin is not None and not pd.api.types.is_datetime64_any_dtype(tc) and not pd.api.types.is_numeric_dtype(tc)
            and not pd.api.types.is_timedelta64_dtype(tc)):
        try:
            tc = pd.to_datetime(tc)
        except (TypeError, ValueError) as err:
            raise SpecificationError(f"lesion table column {tcol!r}: `origin` was given but the times are not dates "
                                     f"({err})") from None
    is_duration = pd.api.types.is_timedelta64_dtype(tc) or pd.api.types.is_datetime64_any_dtype(tc)
    tc = time_in_days(tc, f"lesion table column {tcol!r}", origin)
    t = _finite(df, tcol, "time", values=tc) * (1.0 if is_duration else t_scale)
    out = {"patient": pat.to_numpy(), "time_days": t}
    if dcol is not None:
        out["diameter_mm"] = _finite(df, dcol, "diameter", nonnegative=True) * d_scale
    if vcol is not None:
        out["volume_mm3"] = _finite(df, vcol, "volume", nonnegative=True) * v_scale
    for k in keep:
        out[k] = df[k].to_numpy()
    res = pd.DataFrame(out)
    dup = res.duplicated(["patient", "time_days"], keep=False).to_numpy()
    if dup.any():
        if duplicates == "raise":
            i = int(np.argmax(dup))
            same = np.flatnonzero(dup & (res["patient"].to_numpy() == res["patient"].iloc[i])
                                  & (res["time_days"].to_numpy() == res["time_days"].iloc[i]))
            rows = " and ".join(_row(df, int(j)) for j in same[:2])
            raise SpecificationError(
                f"lesion table {rows}: patient {res['patient'].iloc[i]!r} has two measurements at time "
                f"{res['time_days'].iloc[i]:g} days; remove one, or pass duplicates='mean' to average them"
            )
        meas = [c for c in ("diameter_mm", "volume_mm3") if c in res.columns]
        agg = {c: "mean" for c in meas} | {k: "first" for k in keep}
        res = res.groupby(["patient", "time_days"], sort=False, as_index=False).agg(agg)
    order = {p: i for i, p in enumerate(pd.unique(res["patient"]))}
    res = res.assign(_o=res["patient"].map(order)).sort_values(["_o", "time_days"], kind="stable")
    return res.drop(columns="_o").reset_index(drop=True)


def fit_table(lesions: pd.DataFrame, measurement: str = "volume_mm3", observable: str = "tumor_volume") -> pd.DataFrame:
    """A lesion table as the observation table of :func:`~tumordyn.fit`.

    Parameters
    ----------
    lesions : pandas.DataFrame
        From :func:`read_lesions` or :func:`~tumordyn.datasets.laleh2022` (columns ``patient``,
        ``time_days`` and ``measurement``).
    measurement : {"volume_mm3", "diameter_mm"}
        The column to fit.
    observable : str
        Model observable the values are observations of (``"tumor_volume"`` of
        :func:`~tumordyn.fitting.growth_model`, mm³).

    Returns
    -------
    pandas.DataFrame
        Columns ``subject, time`` (days) ``, observable, value`` (the measurement's unit).

    Raises
    ------
    UnknownNameError
        If ``lesions`` lacks a needed column.
    """
    import pandas as pd

    for col in ("patient", "time_days", measurement):
        if col not in lesions.columns:
            raise UnknownNameError("column", col, [str(c) for c in lesions.columns], "`lesions`")
    if measurement not in ("volume_mm3", "diameter_mm"):
        raise SpecificationError(f"`measurement` must be 'volume_mm3' or 'diameter_mm', got {measurement!r}")
    return pd.DataFrame({"subject": lesions["patient"].to_numpy(), "time": lesions["time_days"].to_numpy(dtype=float),
                         "observable": observable, "value": lesions[measurement].to_numpy(dtype=float)})

