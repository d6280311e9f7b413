"""The library's validators of user input, written once and used everywhere.

Each returns the cleaned value or raises the library's own error naming the
culprit and what is allowed: :class:`TypeError` for the wrong kind of value,
:class:`~tumordyn.errors.SpecificationError` for a value out of range.
"""

from __future__ import annotations

import math
import numbers

import warnings

import numpy as np

from .errors import SpecificationError

__all__ = ["fmt_number", "real_number", "time_value", "check_window", "renamed_keyword", "time_in_days"]


def fmt_number(x: float) -> str:
    """Format a float compactly for messages and reprs (integers without ``.0``)."""
    if math.isfinite(x) and x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.10g}"


def real_number(
    value: object,
    what: str,
    *,
    minimum: float | None = None,
    strict: bool = False,
    unit: str = "",
    allow_inf: bool = False,
) -> float:
    """Validate one real number and return it as a Python float.

    Parameters
    ----------
    value : object
        The user's value: a Python or numpy real number (a 0-d array too); ``bool``
        is refused.
    what : str
        How to name it in the error (e.g. ``"default of parameter 'k'"``).
    minimum : float, optional
        Smallest allowed value (inclusive unless ``strict``); ``None`` for no bound.
    strict : bool
        Whether ``minimum`` itself is refused.
    unit : str
        Unit shown in the message (e.g. ``"days"``).
    allow_inf : bool
        Whether ``±inf`` is allowed (NaN never is).

    Returns
    -------
    float
        The value (``-0.0`` returned as ``0.0``).

    Raises
    ------
    TypeError
        If ``value`` is not a real number (strings, ``bool``, complex, ``None``...).
    SpecificationError
        If it is NaN, infinite (unless ``allow_inf``) or below ``minimum``.
    """
    def rule() -> str:
        text = "a number" if allow_inf else "a finite number"
        if minimum is not None:
            text += f" {'>' if strict else '>='} {fmt_number(minimum)}"
        return text + (f" ({unit})" if unit else "")

    kind = type(value)
    if kind is not float and kind is not int:  # the common cases skip the slower abstract checks
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value.item()
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise TypeError(f"{what} must be a real number ({rule()}), got {value!r} of type {type(value).__name__}")
    try:
        x = float(value)
    except OverflowError:
        x = math.inf if value > 0 else -math.inf
    if x != x or (not allow_inf and (x == math.inf or x == -math.inf)):
        raise SpecificationError(f"{what} must be finite ({rule()}), got {x!r}")
    if minimum is not None and (x < minimum or (strict and x == minimum)):
        raise SpecificationError(f"{what} must be {rule()}, got {x!r}")
    return x + 0.0  # turns -0.0 into 0.0


def time_value(value: object, name: str) -> float:
    """Validate a time in days given as argument ``name`` (any finite real number)."""
    return real_number(value, f"`{name}`", unit="days")


def check_window(t0: object, t_end: object) -> tuple[float, float]:
    """Validate a simulation window: ``0 <= t0 < t_end``, both finite (days)."""
    start = real_number(t0, "`t0`", minimum=0.0, unit="days")
    end = time_value(t_end, "t_end")
    if not end > start:
        raise SpecificationError(f"`t_end` must be greater than t0 = {fmt_number(start)} days, got {fmt_number(end)}")
    return start, end


def renamed_keyword(value: object, old_value: object, *, new: str, old: str, where: str,
                    stacklevel: int = 3) -> object:
    """The value of a keyword argument renamed from ``old`` to ``new`` (kept one release).

    Parameters
    ----------
    value, old_value : object
        What the caller passed as ``new`` and as ``old`` (``None`` when not given).
    new, old : str
        The keyword's new and deprecated names.
    where : str
        The function, for messages (e.g. ``"tumordyn.fit"``).
    stacklevel : int
        Passed to :func:`warnings.warn` (3: the caller of the function that calls this).

    Returns
    -------
    object
        ``value``, or ``old_value`` when only the deprecated name was given (with a
        :class:`DeprecationWarning`).

    Raises
    ------
    SpecificationError
        If both names were given.
    """
    if old_value is None:
        return value
    warnings.warn(f"`{old}` of {where} is deprecated and will be removed in tumordyn 0.3; use `{new}`",
                  DeprecationWarning, stacklevel=stacklevel)
    if value is not None:
        raise SpecificationError(f"{where}: give `{new}` ({value!r}) or the deprecated `{old}` ({old_value!r}), "
                                 "not both")
    return old_value


def time_in_days(column: object, what: str, origin: object = None) -> object:
    """A time column in days: numbers pass, durations become days, dates need an explicit ``origin``.

    Parameters
    ----------
    column : pandas.Series
        The user's time column (numbers, ``timedelta64`` or ``datetime64`` values).
    what : str
        How to name it in the error (e.g. ``"`data` column time"``).
    origin : date-like, optional
        Time zero for a column of dates (e.g. the start of treatment); dates become days since it
        (fractional days kept). Refused for a column that does not hold dates.

    Returns
    -------
    pandas.Series
        The column, converted to days for durations or dates; any other column unchanged (the
        caller checks it is numeric and finite).

    Raises
    ------
    SpecificationError
        For dates without ``origin`` (days since the epoch are no treatment time) or an
        ``origin`` given for a column of numbers or durations.
    """
    import pandas as pd

    col = column
    if pd.api.types.is_datetime64_any_dtype(col):
        if origin is None:
            raise SpecificationError(
                f"{what} holds dates; it must be days from the start of treatment (a number), e.g. "
                "(df.time - start) / pd.Timedelta(days=1), or give the start as `origin`"
            )
        try:
            start = pd.Timestamp(origin)
        except (TypeError, ValueError):
            raise SpecificationError(f"`origin` must be a date (e.g. '2021-03-01'), got {origin!r}") from None
        if (start.tzinfo is None) != (getattr(col.dt, "tz", None) is None):
            raise SpecificationError(f"`origin` {origin!r} and {what} must both carry a time zone or both not")
        return (col - start) / pd.Timedelta(days=1)
    if origin is not None:
        raise SpecificationError(f"`origin` is only for a column of dates; {what} holds {col.dtype} values")
    if pd.api.types.is_timedelta64_dtype(col):  # an unambiguous duration: in days
        return col / pd.Timedelta(days=1)
    return col
