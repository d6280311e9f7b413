"""Immutable dosing schedules: bolus doses and constant-rate infusions.

Units
-----
* time: days (all times are finite and ``>= 0``);
* dose amount: the drug's dose unit (e.g. mg, or whatever unit the model's
  dosing inputs expect);
* infusion rate: amount per day.

A :class:`Schedule` is a value: it is immutable, its items are stored in a
canonical sorted order, and two schedules holding the same items compare (and
hash) equal whatever order they were built in, so ``a + b == b + a``.

Conventions shared with the simulator
-------------------------------------
* A bolus dose at time ``t`` is applied at ``t`` (a dose exactly at the end of
  a simulation counts). Several doses of one drug at the same time act as one
  dose of their summed amount.
* An infusion runs on the right-open interval ``[start, end)``; overlapping
  infusions of one drug add their rates.
* A zero-amount dose or zero-rate infusion is kept as an item (it counts in
  ``len`` and equality) but changes nothing: it is not a breakpoint and does
  not appear in :meth:`Schedule.bolus_at` or :meth:`Schedule.infusion_rates`.
"""

from __future__ import annotations

import bisect
import math
import numbers
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

import numpy as np

from .._validate import fmt_number as _fmt, real_number
from ..errors import SpecificationError, UnknownNameError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["Dose", "Infusion", "Schedule"]

#: Largest number of items a builder (every, at, repeat) may create at once.
_MAX_GENERATED = 1_000_000
#: Relative tolerance on ``until`` in :meth:`Schedule.every`.
_UNTIL_RTOL = 1e-9
#: Rows shown by ``repr(Schedule)`` before the table is elided.
_REPR_MAX_ROWS = 20
_REPR_HEAD = 10
_REPR_TAIL = 5

_AMOUNT_UNIT = "in the drug's dose unit"
_RATE_UNIT = "amount/day"


# --------------------------------------------------------------------------- helpers






def _real(value: object, what: str, *, minimum: float | None = 0.0, strict: bool = False, unit: str = "",
          allow_inf: bool = False) -> float:
    """:func:`tumordyn._validate.real_number` with dosing's default ``minimum = 0``."""
    return real_number(value, what, minimum=minimum, strict=strict, unit=unit, allow_inf=allow_inf)



def _count(value: object, what: str) -> int:
    """Validate a whole number ``>= 1`` (``bool`` and floats are rejected)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what} must be a whole number (int) >= 1, got {value!r} of type {type(value).__name__}")
    n = int(value)
    if n < 1:
        raise SpecificationError(f"{what} must be a whole number (int) >= 1, got {n}")
    return n


def _drug_name(value: object, what: str) -> str:
    """Validate a drug name: a non-empty identifier-like ``str``."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a drug name (str), got {value!r} of type {type(value).__name__}")
    if not value.isidentifier():
        raise SpecificationError(
            f"{what} must be a non-empty identifier-like drug name (letters, digits and underscores, "
            f"not starting with a digit), got {value!r}"
        )
    return str(value)


def _drug_args(drugs: tuple[object, ...], what: str) -> frozenset[str]:
    """Validate drug names given as separate positional arguments."""
    out = set()
    for i, d in enumerate(drugs):
        if not isinstance(d, str) and isinstance(d, Iterable):
            raise TypeError(f"{what}: give drug names as separate arguments, e.g. {what}('a', 'b'); got {d!r}")
        out.add(_drug_name(d, f"{what}: argument {i}"))
    return frozenset(out)


def _dose_unit(unit: object, what: str) -> str | None:
    """A dose's unit: ``None`` (the drug's dose unit) or text tumordyn's unit registry reads."""
    if unit is None or (isinstance(unit, str) and not unit.strip()):
        return None
    if not isinstance(unit, str):
        raise TypeError(f"{what}: unit must be text such as 'mg/kg' or None, got {unit!r}")
    from ..spec import parse_unit

    parse_unit(unit, f"{what}: unit")  # an unknown unit is refused here, with a suggestion
    return unit.strip()


def _check_generated(n: int, what: str) -> None:
    """Refuse to build absurdly many items at once."""
    if n > _MAX_GENERATED:
        raise SpecificationError(
            f"{what} would create {n} items, more than the limit of {_MAX_GENERATED}; "
            "check the interval and the time units (days)"
        )


# --------------------------------------------------------------------------- Dose


@dataclass(frozen=True)
class Dose:
    """A bolus dose: ``amount`` of ``drug`` given instantaneously at ``time``.

    Parameters
    ----------
    time : float
        When the dose is given (days); finite and ``>= 0``.
    drug : str
        The drug's name: a non-empty identifier-like string (letters, digits,
        underscores, not starting with a digit).
    amount : float
        Dose amount in the drug's dose unit (e.g. mg), or in ``unit``; finite and ``>= 0``.
        A zero dose is allowed and changes nothing.
    unit : str, optional
        Unit of ``amount`` when it is not the drug's dose unit: ``"mg"``, ``"g"``, per body weight
        ``"mg/kg"`` or per body-surface area ``"mg/m^2"`` (see docs/units.md). Such a dose is turned
        into the drug's dose unit by ``simulate(..., covariates={"weight_kg": 70, "bsa_m2": 1.8})`` or
        :meth:`Schedule.resolved`; other solvers refuse it until then. ``None`` (default): the drug's
        dose unit.

    Raises
    ------
    TypeError
        If a field has the wrong type (``bool`` and strings are not numbers).
    SpecificationError
        If a value is NaN, infinite, negative, or the drug name is not
        identifier-like.
    UnitError
        If ``unit`` is not a unit tumordyn knows (the closest are suggested).

    Examples
    --------
    >>> Dose(7, "chemo", 50)
    Dose(time=7.0, drug='chemo', amount=50.0)
    >>> Dose(0, "chemo", 2, unit="mg/kg")
    Dose(time=0.0, drug='chemo', amount=2.0, unit='mg/kg')
    >>> Dose(7, "chemo", 50).shifted(14).time
    21.0
    >>> try:
    ...     Dose(0, "chemo", -1)
    ... except SpecificationError as err:
    ...     print(err)
    Dose of 'chemo' at t=0: amount must be a finite number >= 0 (in the drug's dose unit), got -1.0
    """

    time: float
    drug: str
    amount: float
    unit: str | None = None

    def __post_init__(self) -> None:
        """Validate the fields and coerce the numbers to ``float``."""
        drug = _drug_name(self.drug, "Dose: drug")
        time = _real(self.time, f"Dose of {drug!r}: time", unit="days")
        amount = _real(self.amount, f"Dose of {drug!r} at t={_fmt(time)}: amount",
                       unit=_AMOUNT_UNIT if self.unit is None else str(self.unit))
        object.__setattr__(self, "drug", drug)
        object.__setattr__(self, "time", time)
        object.__setattr__(self, "amount", amount)
        object.__setattr__(self, "unit", _dose_unit(self.unit, f"Dose of {drug!r} at t={_fmt(time)}"))

    def __repr__(self) -> str:
        unit = "" if self.unit is None else f", unit={self.unit!r}"
        return f"Dose(time={self.time!r}, drug={self.drug!r}, amount={self.amount!r}{unit})"

    def _describe(self) -> str:
        unit = "" if self.unit is None else f" {self.unit}"
        return f"dose of {self.drug!r} (amount {_fmt(self.amount)}{unit}) at t={_fmt(self.time)} days"

    def shifted(self, dt: float) -> Dose:
        """Return the same dose moved by ``dt`` days.

        Parameters
        ----------
        dt : float
            Time shift (days); may be negative as long as the new time stays
            ``>= 0``.

        Returns
        -------
        Dose
            A new dose at ``time + dt`` (days).

        Raises
        ------
        SpecificationError
            If the shifted time would be negative.

        Examples
        --------
        >>> Dose(3, "x", 1).shifted(4)
        Dose(time=7.0, drug='x', amount=1.0)
        >>> Dose(3, "x", 1).shifted(-3).time
        0.0
        """
        d = _real(dt, "shifted: dt", minimum=None, unit="days")
        t = self.time + d
        if t < 0:
            raise SpecificationError(
                f"shifting the {self._describe()} by {_fmt(d)} days would move it to t={_fmt(t)} days; "
                "dose times must be >= 0"
            )
        return Dose(t, self.drug, self.amount, self.unit)

    def __add__(self, other: object) -> Schedule:
        """Combine with a :class:`Dose`, :class:`Infusion` or :class:`Schedule` into a schedule.

        Examples
        --------
        >>> len(Dose(0, "x", 1) + Dose(7, "x", 1))
        2
        """
        if isinstance(other, (Dose, Infusion, Schedule)):
            return Schedule((self, other))
        return NotImplemented


# --------------------------------------------------------------------------- Infusion


@dataclass(frozen=True)
class Infusion:
    """A constant-rate infusion of ``drug`` on the right-open interval ``[start, end)``.

    Parameters
    ----------
    drug : str
        The drug's name: a non-empty identifier-like string.
    start : float
        When the infusion starts (days); finite and ``>= 0``.
    end : float
        When it stops (days); finite and ``> start``.
    rate : float
        Infusion rate (amount/day, amount in the drug's dose unit), or in ``unit``;
        finite and ``>= 0``.
    unit : str, optional
        Unit of ``rate`` when it is not the drug's dose unit per day, e.g. ``"mg/m^2/day"`` or
        ``"ug/kg/day"``; converted with the patient's covariates like a dose's (see :class:`Dose`).
        For a direct-input drug the rate is its level, converted to the drug's dose unit.

    Raises
    ------
    TypeError
        If a field has the wrong type.
    SpecificationError
        If a value is NaN, infinite, negative, or ``end <= start``.

    Examples
    --------
    >>> inf = Infusion("il2", start=0, end=5, rate=2)
    >>> inf.duration, inf.total
    (5.0, 10.0)
    >>> inf.rate_at(0), inf.rate_at(5)
    (2.0, 0.0)
    >>> Infusion.for_duration("il2", start=1, duration=2, total=10)
    Infusion(drug='il2', start=1.0, end=3.0, rate=5.0)
    """

    drug: str
    start: float
    end: float
    rate: float
    unit: str | None = None

    def __post_init__(self) -> None:
        """Validate the fields and coerce the numbers to ``float``."""
        drug = _drug_name(self.drug, "Infusion: drug")
        ctx = f"Infusion of {drug!r}"
        object.__setattr__(self, "unit", _dose_unit(self.unit, ctx))
        start = _real(self.start, f"{ctx}: start", unit="days")
        end = _real(self.end, f"{ctx}: end", unit="days")
        if not end > start:
            raise SpecificationError(
                f"{ctx}: end must be after start (end > start, days), got start={_fmt(start)}, end={_fmt(end)}"
            )
        rate = _real(self.rate, f"{ctx} on [{_fmt(start)}, {_fmt(end)}) days: rate",
                     unit=_RATE_UNIT if self.unit is None else self.unit)
        object.__setattr__(self, "drug", drug)
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        object.__setattr__(self, "rate", rate)

    def __repr__(self) -> str:
        unit = "" if self.unit is None else f", unit={self.unit!r}"
        return (f"Infusion(drug={self.drug!r}, start={self.start!r}, end={self.end!r}, rate={self.rate!r}"
                f"{unit})")

    def _describe(self) -> str:
        rate = f"{_fmt(self.rate)}/day" if self.unit is None else f"{_fmt(self.rate)} {self.unit}"
        return (
            f"infusion of {self.drug!r} (rate {rate}) on "
            f"[{_fmt(self.start)}, {_fmt(self.end)}) days"
        )

    @classmethod
    def for_duration(
        cls,
        drug: str,
        start: float,
        duration: float,
        rate: float | None = None,
        total: float | None = None,
    ) -> Infusion:
        """Build an infusion from its start, duration and either its rate or its total amount.

        Parameters
        ----------
        drug : str
            The drug's name.
        start : float
            Start time (days), ``>= 0``.
        duration : float
            Duration (days), ``> 0``.
        rate : float, optional
            Rate (amount/day). Give exactly one of ``rate`` and ``total``.
        total : float, optional
            Total amount infused over ``duration`` (drug's dose unit); the
            rate is ``total / duration``.

        Returns
        -------
        Infusion
            The infusion on ``[start, start + duration)``.

        Raises
        ------
        SpecificationError
            If both or neither of ``rate`` and ``total`` are given, or a value
            is out of range.

        Examples
        --------
        >>> Infusion.for_duration("x", 0, 4, rate=3).total
        12.0
        >>> Infusion.for_duration("x", 0, 4, total=2).rate
        0.5
        """
        ctx = "Infusion.for_duration"
        if (rate is None) == (total is None):
            got = "both" if rate is not None else "neither"
            raise SpecificationError(
                f"{ctx}: give exactly one of rate= (amount/day) or total= (amount over the duration); got {got}"
            )
        s = _real(start, f"{ctx}: start", unit="days")
        dur = _real(duration, f"{ctx}: duration", strict=True, unit="days")
        if rate is None:
            r = _real(total, f"{ctx}: total", unit=_AMOUNT_UNIT) / dur
        else:
            r = _real(rate, f"{ctx}: rate", unit=_RATE_UNIT)
        return cls(drug, s, s + dur, r)

    @property
    def duration(self) -> float:
        """Length of the infusion, ``end - start`` (days).

        Examples
        --------
        >>> Infusion("x", 2, 5, 1).duration
        3.0
        """
        return self.end - self.start

    @property
    def total(self) -> float:
        """Total amount infused, ``rate * duration`` (drug's dose unit).

        Examples
        --------
        >>> Infusion("x", 2, 5, 1.5).total
        4.5
        """
        return self.rate * self.duration

    def rate_at(self, t: float) -> float:
        """Rate at time ``t`` (days): ``rate`` on ``[start, end)``, else ``0`` (amount/day).

        Parameters
        ----------
        t : float
            Time (days).

        Returns
        -------
        float
            The infusion rate at ``t`` (amount/day).

        Examples
        --------
        >>> inf = Infusion("x", 1, 2, 4)
        >>> [inf.rate_at(t) for t in (0.5, 1, 1.5, 2)]
        [0.0, 4.0, 4.0, 0.0]
        """
        t = float(t)
        return self.rate if self.start <= t < self.end else 0.0

    def shifted(self, dt: float) -> Infusion:
        """Return the same infusion moved by ``dt`` days.

        Parameters
        ----------
        dt : float
            Time shift (days); may be negative as long as the start stays
            ``>= 0``.

        Returns
        -------
        Infusion
            The infusion on ``[start + dt, end + dt)``.

        Raises
        ------
        SpecificationError
            If the shifted start would be negative.

        Examples
        --------
        >>> Infusion("x", 0, 1, 2).shifted(7)
        Infusion(drug='x', start=7.0, end=8.0, rate=2.0)
        """
        d = _real(dt, "shifted: dt", minimum=None, unit="days")
        s, e = self.start + d, self.end + d
        if s < 0:
            raise SpecificationError(
                f"shifting the {self._describe()} by {_fmt(d)} days would start it at t={_fmt(s)} days; "
                "times must be >= 0"
            )
        return Infusion(self.drug, s, e, self.rate, self.unit)

    def __add__(self, other: object) -> Schedule:
        """Combine with a :class:`Dose`, :class:`Infusion` or :class:`Schedule` into a schedule.

        Examples
        --------
        >>> len(Infusion("x", 0, 1, 1) + Dose(7, "x", 1))
        2
        """
        if isinstance(other, (Dose, Infusion, Schedule)):
            return Schedule((self, other))
        return NotImplemented


# --------------------------------------------------------------------------- Schedule

_Item = Union[Dose, Infusion]


def _dose_key(d: Dose) -> tuple[float, str, float, str]:
    return (d.time, d.drug, d.amount, d.unit or "")


def _infusion_key(i: Infusion) -> tuple[float, float, str, float, str]:
    return (i.start, i.end, i.drug, i.rate, i.unit or "")


@dataclass(frozen=True, init=False, repr=False)
class Schedule:
    """An immutable dosing schedule: bolus doses plus constant-rate infusions.

    Time is in days, dose amounts in each drug's dose unit, infusion rates in
    amount/day. Items are stored sorted (doses by ``(time, drug, amount)``,
    infusions by ``(start, end, drug, rate)``), so equality and hashing are
    structural: ``a + b == b + a``. Doses of one drug at the same time are
    kept as separate items; the simulator applies them as one dose of their
    summed amount.

    Parameters
    ----------
    items : iterable of Dose, Infusion or Schedule, optional
        The items (schedules are flattened). A single item is accepted too.
        The iterable is read, never modified.
    doses : iterable of Dose, optional
        More doses (keyword only; with ``infusions`` this lets
        :func:`dataclasses.replace` work).
    infusions : iterable of Infusion, optional
        More infusions (keyword only).

    Attributes
    ----------
    doses : tuple of Dose
        The bolus doses, sorted.
    infusions : tuple of Infusion
        The infusions, sorted.

    Raises
    ------
    TypeError
        If an item is not a :class:`Dose`, :class:`Infusion` or :class:`Schedule`.

    Examples
    --------
    >>> s = Schedule.every("chemo", 50, interval=7, count=2) + Schedule.infusion("il2", 0.5, 0, 14)
    >>> s
    Schedule(2 doses, 1 infusion)
      time (days)  drug   amount
                0  chemo  50
                7  chemo  50
             0-14  il2    0.5/day
    >>> sorted(s.drugs)
    ['chemo', 'il2']
    >>> s.amount_total("chemo"), s.amount_total("il2")
    (100.0, 7.0)
    >>> Schedule([Dose(7, "x", 1), Dose(0, "x", 1)]) == Dose(0, "x", 1) + Dose(7, "x", 1)
    True
    """

    doses: tuple[Dose, ...]
    infusions: tuple[Infusion, ...]

    def __init__(
        self,
        items: Iterable[Dose | Infusion | Schedule] | Dose | Infusion | Schedule = (),
        *,
        doses: Iterable[Dose] = (),
        infusions: Iterable[Infusion] = (),
    ) -> None:
        """Build a schedule from doses, infusions and other schedules (see the class docstring)."""
        ds: list[Dose] = []
        infs: list[Infusion] = []
        if isinstance(items, (Dose, Infusion, Schedule)):
            items = (items,)
        elif isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
            raise TypeError(
                f"Schedule: items must be an iterable of Dose, Infusion or Schedule, got {items!r} "
                f"of type {type(items).__name__}"
            )
        for i, item in enumerate(items):
            if isinstance(item, Dose):
                ds.append(item)
            elif isinstance(item, Infusion):
                infs.append(item)
            elif isinstance(item, Schedule):
                ds.extend(item.doses)
                infs.extend(item.infusions)
            else:
                raise TypeError(
                    f"Schedule: item {i} must be a Dose, Infusion or Schedule, got {item!r} "
                    f"of type {type(item).__name__}"
                )
        for i, d in enumerate(doses):
            if not isinstance(d, Dose):
                raise TypeError(f"Schedule: doses[{i}] must be a Dose, got {d!r} of type {type(d).__name__}")
            ds.append(d)
        for i, inf in enumerate(infusions):
            if not isinstance(inf, Infusion):
                raise TypeError(
                    f"Schedule: infusions[{i}] must be an Infusion, got {inf!r} of type {type(inf).__name__}"
                )
            infs.append(inf)
        ds.sort(key=_dose_key)
        infs.sort(key=_infusion_key)
        object.__setattr__(self, "doses", tuple(ds))
        object.__setattr__(self, "infusions", tuple(infs))
        # sorted dose times, for bisection in bolus_at (not a field: not part of equality)
        object.__setattr__(self, "_dose_times", tuple(d.time for d in ds))

    # Derived values cached on the (immutable) instance; not fields, so not part of equality, and left
    # out of pickles (a string hash differs between processes).
    _CACHED = ("_hash", "_drug_set", "_units")

    def __hash__(self) -> int:
        """Structural hash (that of ``(doses, infusions)``), computed once per schedule."""
        h = self.__dict__.get("_hash")
        if h is None:
            h = hash((self.doses, self.infusions))
            object.__setattr__(self, "_hash", h)
        return h

    def __getstate__(self) -> dict[str, object]:
        """Pickled state: the fields and the sorted dose times, without the cached hash."""
        return {k: v for k, v in self.__dict__.items() if k not in Schedule._CACHED}

    def __setstate__(self, state: dict[str, object]) -> None:
        """Restore the pickled state (schedules are immutable: set through ``object.__setattr__``)."""
        for k, v in state.items():
            object.__setattr__(self, k, v)
        if "_dose_times" not in state:  # a pickle made before the dose times were cached
            object.__setattr__(self, "_dose_times", tuple(d.time for d in self.doses))

    # ------------------------------------------------------------------ container protocol

    def __len__(self) -> int:
        """Number of items (doses plus infusions).

        Examples
        --------
        >>> len(Schedule.at("x", 1, [0, 1, 2]))
        3
        """
        return len(self.doses) + len(self.infusions)

    def __iter__(self) -> Iterator[_Item]:
        """Iterate over the doses, then the infusions, in canonical order.

        Examples
        --------
        >>> [type(item).__name__ for item in Schedule.infusion("y", 1, 0, 1) + Dose(5, "x", 1)]
        ['Dose', 'Infusion']
        """
        yield from self.doses
        yield from self.infusions

    def __bool__(self) -> bool:
        """``True`` if the schedule has at least one item.

        Examples
        --------
        >>> bool(Schedule()), bool(Schedule(Dose(0, "x", 1)))
        (False, True)
        """
        return bool(self.doses or self.infusions)

    def __repr__(self) -> str:
        """Short table of the items: time (days), drug, amount (or rate/day for infusions).

        Examples
        --------
        >>> Schedule()
        Schedule()
        >>> Schedule.at("x", [1, 2.5], [0, 3.5])
        Schedule(2 doses)
          time (days)  drug  amount
                    0  x     1
                  3.5  x     2.5
        """
        if not self:
            return "Schedule()"
        nd, ni = len(self.doses), len(self.infusions)
        parts = []
        if nd:
            parts.append(f"{nd} dose{'' if nd == 1 else 's'}")
        if ni:
            parts.append(f"{ni} infusion{'' if ni == 1 else 's'}")
        rows: list[tuple[str, str, str]] = [(_fmt(d.time), d.drug, _fmt(d.amount) + (f" {d.unit}" if d.unit else ""))
                                             for d in self.doses]
        rows += [(f"{_fmt(i.start)}-{_fmt(i.end)}", i.drug, f"{_fmt(i.rate)}/day" if i.unit is None
                  else f"{_fmt(i.rate)} {i.unit}") for i in self.infusions]
        elided = 0
        if len(rows) > _REPR_MAX_ROWS:
            elided = len(rows) - _REPR_HEAD - _REPR_TAIL
            rows = rows[:_REPR_HEAD] + [("...", "", "")] + rows[-_REPR_TAIL:]
        header = ("time (days)", "drug", "amount")
        w0 = max(len(r[0]) for r in [header, *rows])
        w1 = max(len(r[1]) for r in [header, *rows])
        lines = [f"Schedule({', '.join(parts)})"]
        for r in [header, *rows]:
            lines.append(f"  {r[0].rjust(w0)}  {r[1].ljust(w1)}  {r[2]}".rstrip())
        if elided:
            lines.append(f"  ({elided} more rows not shown)")
        return "\n".join(lines)

    # ------------------------------------------------------------------ algebra

    def __add__(self, other: object) -> Schedule:
        """Merge with a :class:`Schedule`, :class:`Dose` or :class:`Infusion`.

        Examples
        --------
        >>> a, b = Schedule.at("x", 1, [0]), Schedule.at("y", 2, [1])
        >>> a + b == b + a
        True
        """
        if isinstance(other, (Schedule, Dose, Infusion)):
            return Schedule((self, other))
        return NotImplemented

    def __radd__(self, other: object) -> Schedule:
        """Support ``dose + schedule`` and ``sum(schedules)`` (``0 + s`` is ``s``).

        Examples
        --------
        >>> parts = [Schedule.at("x", 1, [t]) for t in (0, 7, 14)]
        >>> sum(parts, Schedule()) == sum(parts) == Schedule.every("x", 1, 7, count=3)
        True
        """
        if isinstance(other, (Dose, Infusion)):
            return Schedule((other, self))
        if isinstance(other, numbers.Integral) and not isinstance(other, (bool, np.bool_)) and other == 0:
            return self
        return NotImplemented

    def shift(self, dt: float) -> Schedule:
        """Return the schedule with every time moved by ``dt`` days.

        Parameters
        ----------
        dt : float
            Time shift (days); may be negative as long as no time becomes
            negative.

        Returns
        -------
        Schedule
            The shifted schedule.

        Raises
        ------
        SpecificationError
            Naming the first dose or infusion that would move before ``t = 0``.

        Examples
        --------
        >>> Schedule.at("x", 1, [0, 7]).shift(14).doses[0].time
        14.0
        >>> try:
        ...     Schedule.at("x", 1, [3]).shift(-5)
        ... except SpecificationError as err:
        ...     print(err)
        shifting the dose of 'x' (amount 1) at t=3 days by -5 days would move it to t=-2 days; dose times must be >= 0
        """
        d = _real(dt, "Schedule.shift: dt", minimum=None, unit="days")
        return Schedule(item.shifted(d) for item in self)

    def repeat(self, interval: float, count: int) -> Schedule:
        """Repeat this schedule ``count`` times, copy ``k`` shifted by ``k * interval`` days.

        Copies may overlap (overlapping doses add up).

        Parameters
        ----------
        interval : float
            Time between the starts of consecutive copies (days), ``> 0``.
        count : int
            Number of copies, ``>= 1`` (``count=1`` returns an equal schedule).

        Returns
        -------
        Schedule
            The repeated schedule.

        Examples
        --------
        >>> cycle = Schedule.at("chemo", 10, [0, 1, 2])  # three daily doses...
        >>> six = cycle.repeat(21, 6)                     # ...every 21 days, 6 cycles
        >>> six.n_doses(), six.last_time
        (18, 107.0)
        """
        step = _real(interval, "Schedule.repeat: interval", strict=True, unit="days")
        n = _count(count, "Schedule.repeat: count")
        _check_generated(len(self) * n, "Schedule.repeat")
        return Schedule(self.shift(k * step) for k in range(n))

    # ------------------------------------------------------------------ selection

    @property
    def drugs(self) -> frozenset[str]:
        """Names of the drugs the schedule gives.

        Examples
        --------
        >>> sorted((Dose(0, "b", 1) + Infusion("a", 0, 1, 1)).drugs)
        ['a', 'b']
        """
        drugs = self.__dict__.get("_drug_set")
        if drugs is None:
            drugs = frozenset(d.drug for d in self.doses) | frozenset(i.drug for i in self.infusions)
            object.__setattr__(self, "_drug_set", drugs)
        return drugs

    def only(self, *drugs: str) -> Schedule:
        """Keep only the items of the given drugs.

        Names absent from the schedule are allowed (they select nothing).

        Parameters
        ----------
        *drugs : str
            Drug names, as separate arguments.

        Returns
        -------
        Schedule
            The selected items.

        Examples
        --------
        >>> s = Schedule.at("x", 1, [0]) + Schedule.at("y", 1, [0])
        >>> s.only("x").drugs
        frozenset({'x'})
        """
        keep = _drug_args(drugs, "Schedule.only")
        return Schedule(item for item in self if item.drug in keep)

    def without(self, *drugs: str) -> Schedule:
        """Drop the items of the given drugs.

        Names absent from the schedule are allowed (they drop nothing).

        Parameters
        ----------
        *drugs : str
            Drug names, as separate arguments.

        Returns
        -------
        Schedule
            The remaining items.

        Examples
        --------
        >>> s = Schedule.at("x", 1, [0]) + Schedule.at("y", 1, [0])
        >>> s.without("x").drugs
        frozenset({'y'})
        """
        drop = _drug_args(drugs, "Schedule.without")
        return Schedule(item for item in self if item.drug not in drop)

    def between(self, t0: float, t1: float) -> Schedule:
        """The part of the schedule in the right-open window ``[t0, t1)`` (days).

        Doses with ``t0 <= time < t1`` are kept; infusions are clipped to the
        window (dropped if they do not overlap it).

        Parameters
        ----------
        t0 : float
            Window start (days), finite.
        t1 : float
            Window end (days), ``>= t0``; may be ``math.inf``.

        Returns
        -------
        Schedule
            The items in the window.

        Examples
        --------
        >>> s = Schedule.every("x", 1, 7, count=4) + Schedule.infusion("y", 2, 0, 10)
        >>> w = s.between(7, 14)
        >>> [d.time for d in w.doses], w.infusions
        ([7.0], (Infusion(drug='y', start=7.0, end=10.0, rate=2.0),))
        """
        a = _real(t0, "Schedule.between: t0", minimum=None, unit="days")
        b = _real(t1, "Schedule.between: t1", minimum=None, unit="days", allow_inf=True)
        if b < a:
            raise SpecificationError(
                f"Schedule.between: t1 must be >= t0 (days), got t0={_fmt(a)}, t1={_fmt(b)}"
            )
        lo = bisect.bisect_left(self._dose_times, a)  # type: ignore[attr-defined]
        hi = bisect.bisect_left(self._dose_times, b)  # type: ignore[attr-defined]
        infs = []
        for inf in self.infusions:
            s, e = max(inf.start, a), min(inf.end, b)
            if s < e:
                infs.append(inf if (s, e) == (inf.start, inf.end) else Infusion(inf.drug, s, e, inf.rate, inf.unit))
        return Schedule(doses=self.doses[lo:hi], infusions=infs)

    # ------------------------------------------------------------------ queries for the simulator

    def breakpoints(self, t0: float, t1: float) -> np.ndarray:
        """Sorted unique times in ``[t0, t1]`` (days) where the dosing changes, plus ``t0`` and ``t1``.

        Breakpoints are the times of nonzero doses and the starts and ends of
        nonzero-rate infusions; between two consecutive breakpoints no dose is
        given and every infusion rate is constant.

        Parameters
        ----------
        t0 : float
            Start of the time span (days), finite.
        t1 : float
            End of the time span (days), finite and ``>= t0``.

        Returns
        -------
        numpy.ndarray
            1-D float array, strictly increasing, first ``t0``, last ``t1``
            (a single element if ``t0 == t1``).

        Examples
        --------
        >>> s = Schedule.at("x", 1, [3, 3, 50]) + Schedule.infusion("y", 1, 5, 8)
        >>> s.breakpoints(0, 10)
        array([ 0.,  3.,  5.,  8., 10.])
        """
        a = _real(t0, "Schedule.breakpoints: t0", minimum=None, unit="days")
        b = _real(t1, "Schedule.breakpoints: t1", minimum=None, unit="days")
        if b < a:
            raise SpecificationError(
                f"Schedule.breakpoints: t1 must be >= t0 (days), got t0={_fmt(a)}, t1={_fmt(b)}"
            )
        pts = [a, b]
        pts += [d.time for d in self.doses if d.amount > 0 and a <= d.time <= b]
        for inf in self.infusions:
            if inf.rate > 0:
                pts += [x for x in (inf.start, inf.end) if a <= x <= b]
        if len(pts) == 2:  # nothing changes in the window: its ends (np.unique's result, without its machinery)
            return np.array(pts if b > a else pts[:1], dtype=float)
        return np.unique(np.asarray(pts, dtype=float))

    def bolus_at(self, t: float) -> dict[str, float]:
        """Summed bolus amount per drug of the doses given at exactly time ``t`` (days).

        Exact float equality is used: pass dose times (e.g. from
        :meth:`breakpoints`), not recomputed ones. Zero-amount doses are ignored.

        Parameters
        ----------
        t : float
            Time (days).

        Returns
        -------
        dict of str to float
            Drug name to total amount (drug's dose unit), sorted by drug; empty
            if nothing is given at ``t``.

        Examples
        --------
        >>> s = Schedule.at("x", 1, [0, 7]) + Dose(7, "x", 2) + Dose(7, "y", 5)
        >>> s.bolus_at(7)
        {'x': 3.0, 'y': 5.0}
        >>> s.bolus_at(7.5)
        {}
        """
        x = _real(t, "Schedule.bolus_at: t", minimum=None, unit="days")
        lo = bisect.bisect_left(self._dose_times, x)  # type: ignore[attr-defined]
        hi = bisect.bisect_right(self._dose_times, x)  # type: ignore[attr-defined]
        acc: dict[str, list[float]] = {}
        for d in self.doses[lo:hi]:
            if d.amount > 0:
                acc.setdefault(d.drug, []).append(d.amount)
        return {drug: math.fsum(v) for drug, v in acc.items()}

    def infusion_rates(self, t: float) -> dict[str, float]:
        """Total infusion rate per drug in force from time ``t`` (days) up to the next breakpoint.

        Infusions are right-open (``[start, end)``): an infusion counts at its
        start, not at its end. Overlapping infusions of one drug add.
        Zero-rate infusions are ignored.

        Parameters
        ----------
        t : float
            Time (days).

        Returns
        -------
        dict of str to float
            Drug name to total rate (amount/day), sorted by drug; empty if no
            infusion runs at ``t``.

        Examples
        --------
        >>> s = Schedule.infusion("x", 1, 0, 10) + Schedule.infusion("x", 2, 5, 6)
        >>> s.infusion_rates(5), s.infusion_rates(6), s.infusion_rates(10)
        ({'x': 3.0}, {'x': 1.0}, {})
        """
        x = _real(t, "Schedule.infusion_rates: t", minimum=None, unit="days")
        acc: dict[str, list[float]] = {}
        for inf in self.infusions:
            if inf.start > x:
                break  # infusions are sorted by start
            if inf.rate > 0 and x < inf.end:
                acc.setdefault(inf.drug, []).append(inf.rate)
        return {drug: math.fsum(acc[drug]) for drug in sorted(acc)}

    def amount_total(self, drug: str | None = None) -> float:
        """Total amount administered (bolus doses plus infusion totals), for one drug or all.

        Parameters
        ----------
        drug : str, optional
            Drug name; ``None`` (default) sums over every drug, which only
            makes sense if they share a dose unit. A drug absent from the
            schedule gives ``0.0``.

        Returns
        -------
        float
            Total amount (drug's dose unit, or the doses' own ``unit`` if they all share one).

        Raises
        ------
        SpecificationError
            If the doses summed are in different units (resolve the schedule first).

        Examples
        --------
        >>> s = Schedule.every("x", 2, 7, count=3) + Schedule.infusion("x", 0.5, 0, 4)
        >>> s.amount_total("x"), s.amount_total("y")
        (8.0, 0.0)
        """
        if drug is not None:
            drug = _drug_name(drug, "Schedule.amount_total: drug")
        units = {d.unit for d in self.doses if drug is None or d.drug == drug}
        units |= {None if i.unit is None else f"{i.unit} x day" for i in self.infusions if drug is None or i.drug == drug}
        if len(units) > 1:
            raise SpecificationError(
                f"Schedule.amount_total: the doses{'' if drug is None else f' of {drug!r}'} are in different units "
                f"({', '.join(sorted(u or 'the dose unit' for u in units))}); convert them with "
                "schedule.resolved(model, covariates) first")
        parts = [d.amount for d in self.doses if drug is None or d.drug == drug]
        parts += [i.total for i in self.infusions if drug is None or i.drug == drug]
        return math.fsum(parts)

    def n_doses(self, drug: str | None = None) -> int:
        """Number of bolus doses (infusions not counted), for one drug or all.

        Parameters
        ----------
        drug : str, optional
            Drug name; ``None`` (default) counts every drug.

        Returns
        -------
        int
            Number of doses (duplicates at the same time count separately).

        Examples
        --------
        >>> Schedule.every("x", 1, 7, until=364).n_doses("x")
        53
        """
        if drug is None:
            return len(self.doses)
        name = _drug_name(drug, "Schedule.n_doses: drug")
        return sum(1 for d in self.doses if d.drug == name)

    @property
    def last_time(self) -> float:
        """Latest dose time or infusion end (days); ``0.0`` for an empty schedule.

        Examples
        --------
        >>> (Schedule.at("x", 1, [3]) + Schedule.infusion("y", 1, 0, 5)).last_time
        5.0
        >>> Schedule().last_time
        0.0
        """
        times = [d.time for d in self.doses[-1:]] + [i.end for i in self.infusions]
        return max(times, default=0.0)

    def validate(
        self,
        drugs: Iterable[str],
        t_end: float | None = None,
        t0: float = 0.0,
        where: str = "model",
    ) -> None:
        """Check the schedule against a model's drugs and a simulation window.

        Parameters
        ----------
        drugs : iterable of str
            Drug names the model accepts (a single ``str`` is one name).
        t_end : float, optional
            End of the simulation (days). Doses must satisfy
            ``t0 <= time <= t_end`` (a dose exactly at ``t_end`` is allowed and
            applied); infusions must lie within ``[t0, t_end]`` (ending exactly
            at ``t_end`` is allowed). ``None`` skips the upper check.
        t0 : float, optional
            Start of the simulation (days), default ``0``.
        where : str, optional
            What is being checked against, used in messages (e.g. the model's
            name).

        Raises
        ------
        UnknownNameError
            If the schedule gives a drug not in ``drugs`` (closest names are
            suggested).
        SpecificationError
            If a dose or infusion lies outside the simulation window.

        Examples
        --------
        >>> s = Schedule.every("anti_pd_1", 10, 7, count=3)
        >>> s.validate({"anti_pd_1"}, t_end=14)   # last dose exactly at t_end: fine
        >>> try:
        ...     s.validate({"anti_pd_1"}, t_end=13)
        ... except SpecificationError as err:
        ...     print(err)
        model: dose of 'anti_pd_1' (amount 10) at t=14 days is after the end of the simulation (t_end=13 days); doses must satisfy t0 <= time <= t_end (0 <= time <= 13)
        >>> try:
        ...     s.validate({"anti_pd1", "chemo"})
        ... except UnknownNameError as err:
        ...     print(err)
        unknown drug 'anti_pd_1' in model; did you mean 'anti_pd1'? Valid drug names: anti_pd1, chemo.
        """
        if isinstance(drugs, str):
            known = {drugs}
        elif isinstance(drugs, Iterable):
            known = set(drugs)
        else:
            raise TypeError(f"Schedule.validate: drugs must be an iterable of drug names, got {drugs!r}")
        lo = _real(t0, "Schedule.validate: t0", minimum=None, unit="days")
        hi = None if t_end is None else _real(t_end, "Schedule.validate: t_end", minimum=None, unit="days")
        if hi is not None and hi < lo:
            raise SpecificationError(
                f"Schedule.validate: t_end must be >= t0 (days), got t0={_fmt(lo)}, t_end={_fmt(hi)}"
            )
        if not self.drugs <= known:  # name the first unknown drug in item order
            for item in self:
                if item.drug not in known:
                    raise UnknownNameError("drug", item.drug, known, where)
        for d in (*self.doses, *self.infusions):
            if d.unit is not None:
                raise SpecificationError(
                    f"{where}: the {d._describe()} is in {d.unit!r}, not yet in the drug's dose unit; pass the "
                    "patient's covariates to simulate(..., covariates={'weight_kg': ..., 'bsa_m2': ...}) or "
                    "convert the schedule first with schedule.resolved(model, covariates)")
        window = f"t0 <= time <= t_end ({_fmt(lo)} <= time <= {'inf' if hi is None else _fmt(hi)})"
        hi_txt = "" if hi is None else f"t_end={_fmt(hi)} days"
        times = self._dose_times  # type: ignore[attr-defined]  # sorted, as the doses
        if times and times[0] < lo:  # the first dose in order is the earliest
            d = self.doses[0]
            raise SpecificationError(
                f"{where}: {d._describe()} is before the start of the simulation (t0={_fmt(lo)} days); "
                f"doses must satisfy {window}"
            )
        if hi is not None and times and times[-1] > hi:  # the first dose in order after the end
            d = self.doses[bisect.bisect_right(times, hi)]
            raise SpecificationError(
                f"{where}: {d._describe()} is after the end of the simulation ({hi_txt}); "
                f"doses must satisfy {window}"
            )
        for inf in self.infusions:
            if inf.start < lo:
                raise SpecificationError(
                    f"{where}: {inf._describe()} starts before the start of the simulation (t0={_fmt(lo)} days); "
                    f"infusions must lie within [t0, t_end]"
                )
            if hi is not None and inf.end > hi:
                raise SpecificationError(
                    f"{where}: {inf._describe()} ends after the end of the simulation ({hi_txt}); "
                    f"infusions must lie within [t0, t_end] (ending exactly at t_end is allowed)"
                )

    def resolved(self, model: object, covariates: Mapping[str, float] | None = None) -> Schedule:
        """The schedule with every dose and infusion given in a ``unit`` converted to its drug's dose unit.

        A dose per body weight (``unit="mg/kg"``) is multiplied by the covariate ``weight_kg`` (kg), a
        dose per body-surface area (``"mg/m^2"``) by ``bsa_m2`` (m²); a dose in another amount unit
        (``"g"``) is converted. An infusion rate (``"mg/m^2/day"``) becomes the drug's dose unit per
        day. Items without a unit are kept as they are.

        Parameters
        ----------
        model : Model
            The model whose drugs' ``dose_unit`` the doses are converted to.
        covariates : mapping, optional
            The patient's ``weight_kg`` (kg) and/or ``bsa_m2`` (m²); only those the units need.

        Returns
        -------
        Schedule
            A new schedule whose items carry no unit (this one is unchanged).

        Raises
        ------
        UnknownNameError
            For a drug the model does not have.
        SpecificationError
            If a covariate the units need is missing or not a number > 0.
        UnitError
            If a dose's unit cannot be turned into its drug's dose unit.

        Examples
        --------
        >>> import tumordyn as td
        >>> m = td.models.one_compartment_pk()
        >>> s = Schedule.every("drug", 2.0, 7, count=2, unit="mg/kg")
        >>> s.resolved(m, {"weight_kg": 70}).doses
        (Dose(time=0.0, drug='drug', amount=140.0), Dose(time=7.0, drug='drug', amount=140.0))
        >>> Schedule.at("drug", 100, [0], unit="mg/m^2").resolved(m, {"bsa_m2": 1.8}).amount_total()
        180.0
        """
        if not self._has_units():
            return self
        from ..spec import Model, convert_amount

        if not isinstance(model, Model):
            raise TypeError(f"Schedule.resolved: model must be a tumordyn Model, got {type(model).__name__}")
        if covariates is not None and not isinstance(covariates, Mapping):
            raise TypeError(f"Schedule.resolved: covariates must be a mapping such as {{'weight_kg': 70}}, "
                            f"got {covariates!r}")
        doses = []
        for d in self.doses:
            if d.unit is None:
                doses.append(d)
                continue
            drug = model.drugs[d.drug]
            amount = convert_amount(d.amount, d.unit, drug.dose_unit, dict(covariates or {}),
                                    f"the {d._describe()}")
            doses.append(Dose(d.time, d.drug, amount))
        infusions = []
        for i in self.infusions:
            if i.unit is None:
                infusions.append(i)
                continue
            drug = model.drugs[i.drug]
            target = drug.dose_unit if drug.compartment is None or not drug.dose_unit else f"({drug.dose_unit})/day"
            rate = convert_amount(i.rate, i.unit, target, dict(covariates or {}), f"the {i._describe()}")
            infusions.append(Infusion(i.drug, i.start, i.end, rate))
        return Schedule(doses=doses, infusions=infusions)

    def _has_units(self) -> bool:
        """Whether some dose or infusion is given in a unit of its own (not yet resolved); computed once per
        schedule (``simulate`` asks on every call)."""
        units = self.__dict__.get("_units")
        if units is None:
            units = any(d.unit is not None for d in (*self.doses, *self.infusions))
            object.__setattr__(self, "_units", units)
        return units

    def to_dataframe(self) -> pd.DataFrame:
        """The items as a pandas DataFrame, one row per dose or infusion.

        Columns: ``kind`` (``'dose'`` or ``'infusion'``), ``drug``, ``start``
        and ``end`` (days; equal for a dose), ``amount`` (drug's dose unit; the
        infusion total for an infusion) and ``rate`` (amount/day; NaN for a dose);
        and ``unit`` if some dose is given in a unit of its own (``Dose(..., unit=...)``).

        Returns
        -------
        pandas.DataFrame
            Doses first, then infusions, in canonical order.

        Examples
        --------
        >>> df = (Schedule.at("x", 2, [0, 7]) + Schedule.infusion("y", 1, 0, 3)).to_dataframe()
        >>> df.shape, list(df.columns)
        ((3, 6), ['kind', 'drug', 'start', 'end', 'amount', 'rate'])
        >>> df["amount"].tolist()
        [2.0, 2.0, 3.0]
        """
        import pandas as pd

        columns = ["kind", "drug", "start", "end", "amount", "rate"]
        rows: list[tuple[str, str, float, float, float, float]] = [
            ("dose", d.drug, d.time, d.time, d.amount, math.nan) for d in self.doses
        ]
        rows += [("infusion", i.drug, i.start, i.end, i.total, i.rate) for i in self.infusions]
        df = pd.DataFrame(rows, columns=columns)
        df = df.astype({"kind": object, "drug": object, "start": float, "end": float, "amount": float, "rate": float})
        if self._has_units():  # amounts not (yet) in the drug's dose unit say so
            df["unit"] = [d.unit for d in self.doses] + [i.unit for i in self.infusions]
        return df

    # ------------------------------------------------------------------ builders

    @classmethod
    def every(
        cls,
        drug: str,
        amount: float,
        interval: float,
        start: float = 0.0,
        count: int | None = None,
        until: float | None = None,
        unit: str | None = None,
    ) -> Schedule:
        """Regular doses: ``amount`` of ``drug`` at ``start, start + interval, ...`` (days).

        Give exactly one of ``count`` and ``until``.

        Parameters
        ----------
        drug : str
            Drug name.
        amount : float
            Amount per dose (drug's dose unit), ``>= 0``.
        interval : float
            Time between doses (days), ``> 0``.
        start : float, optional
            Time of the first dose (days), ``>= 0``; default ``0``.
        count : int, optional
            Number of doses, ``>= 1``.
        until : float, optional
            Last allowed dose time (days), inclusive, ``>= start``. A dose
            within a relative tolerance of ``1e-9`` past ``until`` (rounding)
            is included and placed exactly at ``until``.
        unit : str, optional
            Unit of ``amount`` if not the drug's dose unit, e.g. ``"mg/kg"`` or ``"mg/m^2"``
            (see :class:`Dose`).

        Returns
        -------
        Schedule
            The doses.

        Raises
        ------
        SpecificationError
            If both or neither of ``count``/``until`` are given, or a value is
            out of range.

        Examples
        --------
        >>> weekly = Schedule.every("x", 1, interval=7, until=364)   # weekly for a year
        >>> weekly.n_doses(), weekly.last_time
        (53, 364.0)
        >>> [d.time for d in Schedule.every("x", 1, interval=0.5, start=1, count=3).doses]
        [1.0, 1.5, 2.0]
        >>> Schedule.every("x", 2, interval=21, count=2, unit="mg/kg").doses[1]
        Dose(time=21.0, drug='x', amount=2.0, unit='mg/kg')
        """
        ctx = "Schedule.every"
        name = _drug_name(drug, f"{ctx}: drug")
        amt = _real(amount, f"{ctx}: amount", unit=_AMOUNT_UNIT)
        step = _real(interval, f"{ctx}: interval", strict=True, unit="days")
        first = _real(start, f"{ctx}: start", unit="days")
        if (count is None) == (until is None):
            got = "both" if count is not None else "neither"
            raise SpecificationError(
                f"{ctx}: give exactly one of count= (number of doses) or until= "
                f"(last allowed dose time in days, inclusive); got {got}"
            )
        if count is not None:
            n = _count(count, f"{ctx}: count")
            _check_generated(n, ctx)
            times = [first + k * step for k in range(n)]
        else:
            last = _real(until, f"{ctx}: until", unit="days")
            if last < first:
                raise SpecificationError(
                    f"{ctx}: until must be >= start (days), got start={_fmt(first)}, until={_fmt(last)}"
                )
            tol = _UNTIL_RTOL * max(abs(last), step)
            kmax = math.floor((last - first + tol) / step)
            _check_generated(kmax + 1, ctx)
            times = [min(first + k * step, last) for k in range(kmax + 1)]
        u = _dose_unit(unit, ctx)
        return cls(Dose(t, name, amt, u) for t in times)

    @classmethod
    def at(
        cls,
        drug: str,
        amount: float | Iterable[float],
        times: float | Iterable[float],
        unit: str | None = None,
    ) -> Schedule:
        """Doses of ``drug`` at the given times (days).

        Parameters
        ----------
        drug : str
            Drug name.
        amount : float or iterable of float
            Amount per dose (drug's dose unit), ``>= 0``: one number for every
            dose, or one per time.
        times : float or iterable of float
            Dose times (days), finite and ``>= 0``; repeated times give
            separate doses (which add up). Not modified.
        unit : str, optional
            Unit of the amounts if not the drug's dose unit, e.g. ``"mg/kg"`` (see :class:`Dose`).

        Returns
        -------
        Schedule
            The doses.

        Examples
        --------
        >>> s = Schedule.at("x", 5, [14, 0, 7])
        >>> [d.time for d in s.doses]
        [0.0, 7.0, 14.0]
        >>> Schedule.at("x", [1, 2], [0, 1]).amount_total()
        3.0
        """
        ctx = "Schedule.at"
        name = _drug_name(drug, f"{ctx}: drug")
        ts = _as_list(times, f"{ctx}: times")
        if isinstance(amount, (str, bytes)) or not isinstance(amount, Iterable) or (
            isinstance(amount, np.ndarray) and amount.ndim == 0
        ):
            amts = [_real(amount, f"{ctx}: amount", unit=_AMOUNT_UNIT)] * len(ts)
        else:
            raw = list(amount)
            if len(raw) != len(ts):
                raise SpecificationError(
                    f"{ctx}: amount must be one number or one per time; got {len(raw)} amounts for {len(ts)} times"
                )
            amts = [_real(a, f"{ctx}: amount[{i}]", unit=_AMOUNT_UNIT) for i, a in enumerate(raw)]
        _check_generated(len(ts), ctx)
        checked = [_real(t, f"{ctx}: times[{i}]", unit="days") for i, t in enumerate(ts)]
        u = _dose_unit(unit, ctx)
        return cls(Dose(t, name, a, u) for t, a in zip(checked, amts))

    @classmethod
    def infusion(cls, drug: str, rate: float, start: float, end: float, unit: str | None = None) -> Schedule:
        """A schedule holding one constant-rate infusion on ``[start, end)`` (days).

        Parameters
        ----------
        drug : str
            Drug name.
        rate : float
            Infusion rate (amount/day), ``>= 0``.
        start : float
            Start time (days), ``>= 0``.
        end : float
            End time (days), ``> start``.
        unit : str, optional
            Unit of ``rate`` if not the drug's dose unit per day, e.g. ``"mg/m^2/day"`` (see :class:`Infusion`).

        Returns
        -------
        Schedule
            The one-infusion schedule.

        Examples
        --------
        >>> Schedule.infusion("il2", 2, 0, 3).infusions
        (Infusion(drug='il2', start=0.0, end=3.0, rate=2.0),)
        """
        return cls((Infusion(drug, start, end, rate, unit),))


def _as_list(values: object, what: str) -> list[object]:
    """Copy a scalar or an iterable of values into a new list (the input is not modified)."""
    if isinstance(values, np.ndarray):
        return [values.item()] if values.ndim == 0 else list(values.tolist() if values.ndim == 1 else values)
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{what} must be a number or an iterable of numbers (days), got {values!r}")
    if isinstance(values, Iterable):
        return list(values)
    return [values]
