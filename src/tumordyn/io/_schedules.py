"""Schedule files: a dosing schedule as a TOML or JSON document, read back without running code.

Layout (``format_version = 1``)::

    format_version = 1

    [[doses]]          # bolus doses (Dose): time (days), drug, amount (the drug's dose unit)
    time = 0.0
    drug = "anti_pd1"
    amount = 200.0

    [[infusions]]      # constant-rate infusions (Infusion) on [start, end): days; rate in amount/day
    drug = "priming"
    start = 0.0
    end = 14.0
    rate = 20.0

    [[every]]          # regular doses (Schedule.every): give until (days, inclusive) or count
    drug = "targeted"
    amount = 100.0
    interval = 7.0
    start = 0.0        # optional, default 0
    until = 84.0

Every section is optional; an empty document is no treatment. :func:`save_schedule` writes
``doses`` and ``infusions`` only (the expanded schedule); ``every`` is for files written by hand.
The values are checked by :class:`~tumordyn.Dose`, :class:`~tumordyn.Infusion` and
:meth:`Schedule.every <tumordyn.Schedule.every>` themselves, with the file and row named.
Adaptive rules (:class:`~tumordyn.Regimen`) are not stored in schedule files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..dosing import Dose, Infusion, Regimen, Schedule
from ..errors import LimitExceededError, ModelFileError, SpecificationError
from ._files import _limits as _file_limits
from ._files import _decode, _float, _format_of, _parse_text, _read_regular_file, _short, _str, _toml_key, _toml_value

__all__ = ["load_schedule", "save_schedule", "schedule_to_dict", "schedule_from_dict", "SCHEDULE_LIMITS"]

#: Version of the schedule file layout written by :func:`save_schedule`.
SCHEDULE_FORMAT_VERSION = 1

#: Default limits of :func:`load_schedule`, each checked before the work it bounds: ``max_bytes`` (file
#: size, checked before reading), ``max_nesting`` (tables/arrays, checked on the text before parsing) and
#: ``max_entries`` (rows of ``doses``, ``infusions`` and ``every`` together). A row of ``every`` may expand
#: to at most 1,000,000 doses (the limit of :meth:`Schedule.every <tumordyn.Schedule.every>`).
SCHEDULE_LIMITS: dict[str, int] = {
    "max_bytes": 16 * 1024 * 1024,
    "max_nesting": 4,
    "max_entries": 200_000,
}

_FIELDS: dict[str, tuple[set[str], set[str]]] = {  # section -> (required, allowed) fields
    "doses": ({"time", "drug", "amount"}, {"time", "drug", "amount"}),
    "infusions": ({"drug", "start", "end", "rate"}, {"drug", "start", "end", "rate"}),
    "every": ({"drug", "amount", "interval"}, {"drug", "amount", "interval", "start", "until", "count"}),
}
_TOP = {"format_version", *_FIELDS}


def _limits(limits: Mapping[str, int] | None) -> dict[str, int]:
    return _file_limits(limits, SCHEDULE_LIMITS)


def schedule_to_dict(schedule: Schedule) -> dict[str, Any]:
    """Describe a schedule as plain data (str, float, list, dict), as written to schedule files.

    Parameters
    ----------
    schedule : Schedule
        The schedule (a :class:`~tumordyn.Regimen` with adaptive rules is refused: rules are not stored).

    Returns
    -------
    dict
        ``format_version`` and the lists ``doses`` (``time`` in days, ``drug``, ``amount`` in the drug's
        dose unit) and ``infusions`` (``drug``, ``start`` and ``end`` in days, ``rate`` in amount/day),
        in the schedule's canonical order.

    Raises
    ------
    TypeError
        For anything but a :class:`~tumordyn.Schedule` (or a :class:`~tumordyn.Regimen` without rules).

    Examples
    --------
    >>> import tumordyn as td
    >>> td.io.schedule_to_dict(td.Schedule.every("x", 5, 7, count=2))["doses"]
    [{'time': 0.0, 'drug': 'x', 'amount': 5.0}, {'time': 7.0, 'drug': 'x', 'amount': 5.0}]
    """
    if isinstance(schedule, Regimen):
        if schedule.rules:
            raise TypeError(f"a schedule file holds doses and infusions only; this regimen has {len(schedule.rules)} "
                            "adaptive rule(s), which are not stored (save its .schedule, or keep the rules in code)")
        schedule = schedule.schedule
    if not isinstance(schedule, Schedule):
        raise TypeError(f"expected a tumordyn Schedule, got {type(schedule).__name__}")
    return {
        "format_version": SCHEDULE_FORMAT_VERSION,
        "doses": [{"time": d.time, "drug": d.drug, "amount": d.amount} for d in schedule.doses],
        "infusions": [{"drug": i.drug, "start": i.start, "end": i.end, "rate": i.rate} for i in schedule.infusions],
    }


def schedule_from_dict(data: Mapping[str, Any], *, source: str = "schedule file",
                       limits: Mapping[str, int] | None = None) -> Schedule:
    """Build a schedule from plain data as produced by :func:`schedule_to_dict` (or with ``every`` rows).

    Parameters
    ----------
    data : mapping
        The document (see the module's layout).
    source : str, optional
        Where the data came from, for error messages.
    limits : mapping, optional
        Changes to :data:`SCHEDULE_LIMITS` (``max_entries`` applies here).

    Returns
    -------
    Schedule

    Raises
    ------
    SpecificationError
        For an unknown or missing field, a wrong type, an unsupported ``format_version`` or an invalid dose,
        infusion or ``every`` row (a negative amount, a dose time that is not finite...); the message names
        ``source``, the section and the row.
    LimitExceededError
        For more rows than ``max_entries``.
    """
    lim = _limits(limits)
    if not isinstance(data, Mapping):
        raise SpecificationError(f"{source}: the document must be a table/object, got {type(data).__name__}")
    unknown = set(data) - _TOP
    if unknown:
        raise SpecificationError(f"{source}: unknown top-level field(s) {sorted(unknown)}; allowed: {sorted(_TOP)}")
    version = data.get("format_version", SCHEDULE_FORMAT_VERSION)
    if version != SCHEDULE_FORMAT_VERSION or isinstance(version, bool):
        raise SpecificationError(
            f"{source}: format_version must be {SCHEDULE_FORMAT_VERSION} (the layout this tumordyn reads), "
            f"got {version!r}"
        )
    entries = 0
    items: list[Schedule] = []
    for section, (required, allowed) in _FIELDS.items():
        rows = data.get(section, [])
        if not isinstance(rows, list):
            raise SpecificationError(f"{source}: {section!r} must be a list of tables, got {type(rows).__name__}")
        entries += len(rows)
        if entries > lim["max_entries"]:
            raise LimitExceededError(f"{source}: more than {lim['max_entries']} rows in doses, infusions and every "
                                     "together (limit max_entries)", source, "max_entries")
        for i, row in enumerate(rows):
            where = f"{source}: {section}[{i}]"
            if not isinstance(row, Mapping):
                raise SpecificationError(f"{where} must be a table/object, got {_short(row)}")
            extra = set(row) - allowed
            if extra:
                raise SpecificationError(f"{where}: unknown field(s) {sorted(extra)}; allowed: {sorted(allowed)}")
            missing = required - set(row)
            if missing:
                raise SpecificationError(f"{where}: missing field(s) {sorted(missing)}")
            try:
                drug = _str(row["drug"], f"{where} drug")
                if section == "doses":
                    items.append(Schedule([Dose(_float(row["time"], f"{where} time"), drug,
                                                _float(row["amount"], f"{where} amount"))]))
                elif section == "infusions":
                    items.append(Schedule(infusions=[Infusion(drug, _float(row["start"], f"{where} start"),
                                                              _float(row["end"], f"{where} end"),
                                                              _float(row["rate"], f"{where} rate"))]))
                else:
                    count = row.get("count")
                    if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
                        raise SpecificationError(f"{where} count must be a whole number, got {_short(count)}")
                    until = row.get("until")
                    items.append(Schedule.every(
                        drug, _float(row["amount"], f"{where} amount"), _float(row["interval"], f"{where} interval"),
                        start=_float(row.get("start", 0.0), f"{where} start"), count=count,
                        until=None if until is None else _float(until, f"{where} until"),
                    ))
            except (TypeError, SpecificationError) as exc:
                if source in str(exc):
                    raise
                raise SpecificationError(f"{where}: {exc}") from None
    return Schedule() if not items else sum(items[1:], items[0])


def _to_toml(data: Mapping[str, Any]) -> str:
    lines = ["# tumordyn schedule file (read with tumordyn.io.load_schedule)",
             f"format_version = {data['format_version']}"]
    for section in ("doses", "infusions"):
        for row in data[section]:
            lines += ["", f"[[{section}]]"]
            lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in row.items()]
    return "\n".join(lines) + "\n"


def save_schedule(schedule: Schedule, path: str | os.PathLike[str], *, format: str | None = None) -> Path:  # noqa: A002
    """Write a schedule to a TOML or JSON file, atomically, after checking that it reads back.

    The text is parsed back and compared with ``schedule`` first; it then goes to a temporary file
    next to ``path`` that is renamed over it (:func:`tumordyn._fileio.atomic_write`): an existing file
    is replaced whole or left untouched.

    Parameters
    ----------
    schedule : Schedule
        The schedule (doses and infusions; a :class:`~tumordyn.Regimen` with adaptive rules is refused).
    path : str or path-like
        Destination; the format follows the extension (``.toml`` or ``.json``).
    format : {"toml", "json"}, optional
        Force a format regardless of the extension.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    TypeError
        For anything but a schedule.
    SpecificationError
        For an unknown extension.
    ModelFileError
        If the destination exists and is not a regular file, or the text would not read back equal
        (nothing is written then).
    OSError
        If the file cannot be written (an old file is unchanged).

    Examples
    --------
    >>> import tumordyn as td, tempfile, os
    >>> s = td.regimens.standard_schedule("anti_pd1", 63)
    >>> p = td.io.save_schedule(s, os.path.join(tempfile.mkdtemp(), "s.toml"))
    >>> td.io.load_schedule(p) == s
    True
    """
    from .._fileio import atomic_write

    path = Path(path)
    fmt = _format_of(path, format)
    data = schedule_to_dict(schedule)
    text = json.dumps(data, indent=2) + "\n" if fmt == "json" else _to_toml(data)
    src = schedule.schedule if isinstance(schedule, Regimen) else schedule
    lim = {"max_entries": max(SCHEDULE_LIMITS["max_entries"], len(src))}
    back = schedule_from_dict(_parse_text(text, fmt, str(path), _limits(lim)), source=str(path), limits=lim)
    if back != src:
        raise ModelFileError(f"{path}: the file would load back as a different schedule; nothing was written", path)
    if path.exists() and not path.is_file():
        raise ModelFileError(f"{path}: exists and is not a regular file; refusing to replace it", path)
    atomic_write(path, text.encode("utf-8"))
    return path


def load_schedule(path: str | os.PathLike[str], *, format: str | None = None,  # noqa: A002
                  limits: Mapping[str, int] | None = None) -> Schedule:
    """Read a schedule written by :func:`save_schedule` (or by hand) from a TOML or JSON file.

    Reading is bounded like :func:`load_model`'s: only a regular file is read, at most ``max_bytes``;
    the nesting is checked on the text before parsing; JSON with a duplicated key or ``NaN`` is refused.

    Parameters
    ----------
    path : str or path-like
        The file (``.toml`` or ``.json``).
    format : {"toml", "json"}, optional
        Force a format regardless of the extension.
    limits : mapping, optional
        Changes to :data:`SCHEDULE_LIMITS`, e.g. ``{"max_entries": 1_000_000}``.

    Returns
    -------
    Schedule
        Equal (``==``) to the schedule saved.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ModelFileError
        If the file is not a regular file, not UTF-8, malformed TOML/JSON, has a duplicated key, or
        exceeds a limit (:class:`~tumordyn.errors.LimitExceededError`); a :class:`SpecificationError`.
    SpecificationError
        For unknown or missing fields and invalid values; the message names the file, section and row.
    """
    path = Path(path)
    fmt = _format_of(path, format)
    lim = _limits(limits)
    text = _decode(_read_regular_file(path, lim["max_bytes"]), str(path))
    return schedule_from_dict(_parse_text(text, fmt, str(path), lim), source=str(path), limits=lim)
