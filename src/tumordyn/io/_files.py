"""Model files: a model as a TOML or JSON document, read back without running code.

Layout (``format_version = 1``): top-level ``format_version``, ``name``,
``description``, ``check_positivity``, ``check_units`` and arrays of tables ``states``,
``parameters``, ``processes``, ``drugs``, ``observables`` and, for a model with events, ``events``
(every field of :class:`~tumordyn.spec.Event`). Every expression is
stored as text printed by sympy (floats with all 17 significant digits) and read
back with the safe parser :func:`tumordyn.spec._expr.parse_expression` (an AST
whitelist: numbers, names, arithmetic and a few mathematical functions; never
``eval``).
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sympy as sp
from sympy.printing.str import StrPrinter

from .._fileio import atomic_write
from ..spec import EXPRESSION_LIMITS, parse_expression
from ..spec import Drug, Event, Model, Observable, Parameter, Process, State, parse_condition
from ..errors import LimitExceededError, ModelFileError, SpecificationError, UnsafeExpressionError

__all__ = ["save_model", "load_model", "model_to_dict", "model_from_dict", "FORMAT_VERSION", "expr_to_text",
           "FILE_LIMITS"]

#: Version of the model file layout written by :func:`save_model`.
FORMAT_VERSION = 1

#: Default limits of :func:`load_model` (and of what :func:`save_model` agrees to write), each checked
#: before the work it bounds; pass ``limits={"max_bytes": ...}`` to change some. ``max_bytes``: file size
#: (checked with ``stat`` and again while reading, never reading more than ``max_bytes + 1``);
#: ``max_nesting``: nesting of tables and arrays (checked on the text before parsing); ``max_entries``:
#: rows of all sections together; the rest bound each expression (see
#: :data:`tumordyn.spec.EXPRESSION_LIMITS`).
FILE_LIMITS: dict[str, int] = {
    "max_bytes": 4 * 1024 * 1024,
    "max_nesting": 8,
    "max_entries": 2_000,
    **EXPRESSION_LIMITS,
}

_FORMATS = {".toml": "toml", ".json": "json"}


class _ExactPrinter(StrPrinter):
    """sympy's string printer, but floats keep every digit (``repr``), so text round-trips exactly."""

    def _print_Float(self, expr: sp.Float) -> str:  # noqa: N802 - sympy printer protocol
        return repr(float(expr))


def expr_to_text(expr: sp.Expr, where: str = "expression") -> str:
    """Print a sympy expression as text that :func:`~tumordyn.spec._expr.parse_expression` reads back identically.

    Parameters
    ----------
    expr : sympy.Expr
        The expression.
    where : str, optional
        What the expression belongs to, for the error message.

    Returns
    -------
    str
        The text.

    Raises
    ------
    SpecificationError
        If the text would not parse back to the identical expression (e.g. a
        function outside the safe parser's whitelist, or a float with more
        precision than a Python float).
    """
    text = _ExactPrinter({"full_prec": True}).doprint(expr)
    try:
        back = parse_expression(text, where=where)
    except (SpecificationError, KeyError) as exc:
        raise SpecificationError(f"{where}: {expr} cannot be written to a model file: {exc}") from None
    if back != expr:
        raise SpecificationError(
            f"{where}: {expr} does not survive printing as text (reads back as {back}); "
            "use only numbers, names, + - * / ** and the functions of the safe parser"
        )
    return text


def _num(x: float) -> float | str:
    """Floats for the document; infinities as strings in JSON."""
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def model_to_dict(model: Model) -> dict[str, Any]:
    """Describe a model as plain data (str, float, bool, list, dict), as written to model files.

    Parameters
    ----------
    model : Model
        The model.

    Returns
    -------
    dict
        ``format_version``, ``name``, ``description``, ``check_positivity``, ``check_units`` and lists
        ``states``, ``parameters``, ``processes``, ``drugs``, ``observables``, and ``events`` when the
        model has events (``delay``/``priority`` omitted when unset: TOML has no null).
        Infinite bounds are the strings ``"inf"``/``"-inf"``.

    Raises
    ------
    SpecificationError
        If an expression or trigger would not read back identically from its text.
    """
    if not isinstance(model, Model):
        raise TypeError(f"expected a tumordyn Model, got {type(model).__name__}")
    out: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "name": model.name,
        "description": model.description,
        "check_positivity": bool(model._check_positivity),
        "check_units": bool(model.units_checked),
    }
    out["states"] = [
        {"name": s.name, "initial": s.initial, "unit": s.unit, "description": s.description,
         "nonnegative": s.nonnegative, "atol": s.atol}
        for s in model.states
    ]
    out["parameters"] = [
        {"name": p.name, "default": p.default, "bounds": [_num(p.bounds[0]), _num(p.bounds[1])], "unit": p.unit,
         "description": p.description, "source": p.source}
        for p in model.parameters
    ]
    out["processes"] = [
        {"name": p.name, "rate": expr_to_text(p.rate, f"rate of process {p.name!r}"),
         "consumes": dict(p.consumes), "produces": dict(p.produces), "description": p.description}
        for p in model.processes
    ]
    drugs = []
    for d in model.drugs:
        row: dict[str, Any] = {"name": d.name}
        if d.compartment is not None:  # TOML has no null: a missing compartment means a direct-input drug
            row["compartment"] = d.compartment
        row.update({"volume": d.volume, "dose_unit": d.dose_unit, "description": d.description})
        drugs.append(row)
    out["drugs"] = drugs
    out["observables"] = [
        {"name": o.name, "expr": expr_to_text(o.expr, f"observable {o.name!r}"), "unit": o.unit,
         "description": o.description}
        for o in model.observables
    ]
    if model.events:
        out["events"] = [_event_to_dict(e) for e in model.events]
    return out


def _event_to_dict(e: Event) -> dict[str, Any]:
    """One event as a model-file row; the trigger is checked to read back as the same condition."""
    where = f"event {e.name!r}"
    trigger = _ExactPrinter({"full_prec": True}).doprint(e.trigger)
    try:
        back = parse_condition(trigger, f"trigger of {where}")
    except (SpecificationError, KeyError) as exc:
        raise SpecificationError(f"trigger of {where}: {e.trigger} cannot be written to a model file: {exc}") from None
    if back != e.trigger:
        raise SpecificationError(f"trigger of {where}: {e.trigger} does not survive printing as text (reads back "
                                 f"as {back})")
    row: dict[str, Any] = {"name": e.name, "trigger": trigger,
                           "assignments": {k: expr_to_text(v, f"assignment to {k!r} of {where}")
                                           for k, v in e.assignments}}
    if e.delay is not None:
        row["delay"] = expr_to_text(e.delay, f"delay of {where}")
    if e.priority is not None:
        row["priority"] = expr_to_text(e.priority, f"priority of {where}")
    row.update({"persistent": e.persistent, "initial_value": e.initial_value,
                "use_values_from_trigger_time": e.use_values_from_trigger_time, "description": e.description})
    return row


_FIELDS = {
    "states": {"name", "initial", "unit", "description", "nonnegative", "atol"},
    "parameters": {"name", "default", "bounds", "unit", "description", "source"},
    "processes": {"name", "rate", "consumes", "produces", "description"},
    "drugs": {"name", "compartment", "volume", "dose_unit", "description"},
    "observables": {"name", "expr", "unit", "description"},
    "events": {"name", "trigger", "assignments", "delay", "priority", "persistent", "initial_value",
               "use_values_from_trigger_time", "description"},
}
_TOP = {"format_version", "name", "description", "check_positivity", "check_units", *_FIELDS}


def _short(value: object) -> str:
    r = repr(value)
    return r if len(r) <= 80 else r[:70] + f"... ({len(r)} characters)"


def _float(value: object, where: str) -> float:
    if isinstance(value, str) and value.strip().lower() in ("inf", "+inf", "-inf", "infinity", "-infinity"):
        return -math.inf if value.strip().startswith("-") else math.inf
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecificationError(f"{where} must be a number, got {_short(value)}")
    try:
        return float(value)
    except OverflowError:
        raise SpecificationError(f"{where}: the integer {_short(value)} is too large for a float (about 1.8e308)") from None


def _str(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise SpecificationError(f"{where} must be a string, got {_short(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SpecificationError(
            f"{where}: the string has a character that is not valid Unicode text ({exc.reason} at position "
            f"{exc.start})"
        ) from None
    return value


def _bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise SpecificationError(f"{where} must be true or false (a boolean, not a string or number), got {_short(value)}")
    return value


def _limits(limits: Mapping[str, int] | None, defaults: Mapping[str, int] = FILE_LIMITS) -> dict[str, int]:
    """``defaults`` updated by the user's ``limits`` (names checked, positive ints); model and schedule files."""
    out = dict(defaults)
    if limits is not None:
        if not isinstance(limits, Mapping):
            raise TypeError(f"limits must be a mapping of limit name -> int, got {type(limits).__name__}")
        for k, v in limits.items():
            if k not in defaults:
                from ..errors import UnknownNameError

                raise UnknownNameError("limit", k, defaults, "limits=")
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise TypeError(f"limit {k!r} must be a positive int, got {v!r}")
            out[k] = v
    return out


def _data_depth(data: object, max_depth: int, source: str) -> None:
    """Refuse documents nested deeper than ``max_depth`` (iterative: no recursion on hostile input)."""
    stack = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise LimitExceededError(
                f"{source}: tables/arrays nested deeper than {max_depth} levels (limit max_nesting)", source, "max_nesting"
            )
        if isinstance(node, Mapping):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


def _stoich_table(value: object, where: str) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise SpecificationError(f"{where} must be a table of state name -> coefficient, got {value!r}")
    return {_str(k, f"{where} key"): _float(v, f"{where}[{k!r}]") for k, v in value.items()}


def model_from_dict(data: Mapping[str, Any], *, source: str = "model file",
                    limits: Mapping[str, int] | None = None) -> Model:
    """Build a model from plain data as produced by :func:`model_to_dict`.

    Expressions are parsed with the safe parser; nothing is evaluated.

    Parameters
    ----------
    data : mapping
        The document.
    source : str, optional
        Where the data came from, for error messages.
    limits : mapping, optional
        Changes to :data:`FILE_LIMITS` (``max_nesting``, ``max_entries`` and the expression limits apply).

    Returns
    -------
    Model

    Raises
    ------
    SpecificationError
        For a missing or unknown field, a wrong type, an unsupported
        ``format_version`` or an invalid model; the message names the entry.
    UnsafeExpressionError
        For an expression outside the safe parser's whitelist.
    """
    lim = _limits(limits)
    expr_limits = {k: lim[k] for k in EXPRESSION_LIMITS}
    if not isinstance(data, Mapping):
        raise SpecificationError(f"{source}: the document must be a table/object, got {type(data).__name__}")
    _data_depth(data, lim["max_nesting"], source)
    unknown = set(data) - _TOP
    if unknown:
        raise SpecificationError(f"{source}: unknown top-level field(s) {sorted(unknown)}; allowed: {sorted(_TOP)}")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise SpecificationError(
            f"{source}: format_version must be {FORMAT_VERSION} (the layout this tumordyn reads), got {version!r}"
        )
    for key in ("name", "states"):
        if key not in data:
            raise SpecificationError(f"{source}: missing required field {key!r}")
    rows: dict[str, list[Mapping[str, Any]]] = {}
    entries = 0
    for section, allowed in _FIELDS.items():
        items = data.get(section, [])
        if not isinstance(items, list):
            raise SpecificationError(f"{source}: {section!r} must be a list of tables, got {type(items).__name__}")
        entries += len(items)
        if entries > lim["max_entries"]:
            raise LimitExceededError(
                f"{source}: more than {lim['max_entries']} entries in states, parameters, processes, drugs, "
                "observables and events together (limit max_entries)", source, "max_entries"
            )
        for i, row in enumerate(items):
            where = f"{source}: {section}[{i}]"
            if not isinstance(row, Mapping):
                raise SpecificationError(f"{where} must be a table/object, got {row!r}")
            extra = set(row) - allowed
            if extra:
                raise SpecificationError(f"{where}: unknown field(s) {sorted(extra)}; allowed: {sorted(allowed)}")
            if "name" not in row:
                raise SpecificationError(f"{where}: missing 'name'")
        rows[section] = items

    def build(section: str, i: int, row: Mapping[str, Any]) -> Any:
        where = f"{source}: {section}[{i}] ({_short(row.get('name'))})"
        try:
            if section == "states":
                return State(_str(row["name"], f"{where} name"), _float(row.get("initial", 0.0), f"{where} initial"),
                             _str(row.get("unit", "cells"), f"{where} unit"),
                             _str(row.get("description", ""), f"{where} description"),
                             _bool(row.get("nonnegative", True), f"{where} nonnegative"),
                             _float(row.get("atol", 1e-6), f"{where} atol"))
            if section == "parameters":
                b = row.get("bounds", [0.0, "inf"])
                if not isinstance(b, list) or len(b) != 2:
                    raise SpecificationError(f"{where}: bounds must be a list [low, high], got {b!r}")
                if "default" not in row:
                    raise SpecificationError(f"{where}: missing 'default'")
                return Parameter(_str(row["name"], f"{where} name"), _float(row["default"], f"{where} default"),
                                 (_float(b[0], f"{where} bounds[0]"), _float(b[1], f"{where} bounds[1]")),
                                 _str(row.get("unit", ""), f"{where} unit"),
                                 _str(row.get("description", ""), f"{where} description"),
                                 _str(row.get("source", ""), f"{where} source"))
            if section == "processes":
                name = _str(row["name"], f"{where} name")
                if "rate" not in row:
                    raise SpecificationError(f"{where}: missing 'rate'")
                rate = parse_expression(_str(row["rate"], f"{where} rate"), where=f"{where} rate", **expr_limits)
                return Process(name, rate, consumes=_stoich_table(row.get("consumes", {}), f"{where} consumes"),
                               produces=_stoich_table(row.get("produces", {}), f"{where} produces"),
                               description=_str(row.get("description", ""), f"{where} description"))
            if section == "drugs":
                comp = row.get("compartment")
                vol = row.get("volume", 1.0)
                vol = vol if isinstance(vol, str) else _float(vol, f"{where} volume")
                return Drug(_str(row["name"], f"{where} name"),
                            None if comp is None else _str(comp, f"{where} compartment"), vol,
                            _str(row.get("dose_unit", "mg"), f"{where} dose_unit"),
                            _str(row.get("description", ""), f"{where} description"))
            if section == "events":
                return _event_from_row(row, where, expr_limits)
            name = _str(row["name"], f"{where} name")
            if "expr" not in row:
                raise SpecificationError(f"{where}: missing 'expr'")
            return Observable(name, parse_expression(_str(row["expr"], f"{where} expr"), where=f"{where} expr",
                                                     **expr_limits),
                              _str(row.get("unit", ""), f"{where} unit"),
                              _str(row.get("description", ""), f"{where} description"))
        except TypeError as exc:
            raise SpecificationError(f"{where}: {exc}") from None
        except SpecificationError as exc:
            if type(exc) in (SpecificationError, UnsafeExpressionError) and source not in str(exc):
                raise type(exc)(f"{where}: {exc}") from None  # name the entry too
            raise

    built = {section: [build(section, i, r) for i, r in enumerate(items)] for section, items in rows.items()}
    cp = _bool(data.get("check_positivity", True), f"{source}: check_positivity")
    cu = _bool(data.get("check_units", True), f"{source}: check_units")
    name = _str(data["name"], f"{source}: name")
    if not name:
        raise SpecificationError(f"{source}: name must be a non-empty string, got ''")
    try:
        return Model(name, description=_str(data.get("description", ""), f"{source}: description"),
                     check_positivity=cp, check_units=cu, **built)
    except TypeError as exc:
        raise SpecificationError(f"{source}: {exc}") from None


def _event_from_row(row: Mapping[str, Any], where: str, expr_limits: Mapping[str, int]) -> Event:
    """An event from a model-file row (every expression through the safe parser, with the file's limits)."""
    name = _str(row["name"], f"{where} name")
    if "trigger" not in row:
        raise SpecificationError(f"{where}: missing 'trigger'")
    trigger = parse_condition(_str(row["trigger"], f"{where} trigger"), f"{where} trigger", expr_limits)
    table = row.get("assignments", {})
    if not isinstance(table, Mapping):
        raise SpecificationError(f"{where}: assignments must be a table {{state = expression}}, got {_short(table)}")
    assignments = {}
    for k, v in table.items():
        assignments[k] = parse_expression(_str(v, f"{where} assignment to {k!r}"), where=f"{where} assignment to "
                                          f"{k!r}", **expr_limits)
    opt = {}
    for key in ("delay", "priority"):
        if key in row:
            opt[key] = parse_expression(_str(row[key], f"{where} {key}"), where=f"{where} {key}", **expr_limits)
    return Event(name, trigger, assignments, **opt,
                 persistent=_bool(row.get("persistent", True), f"{where} persistent"),
                 initial_value=_bool(row.get("initial_value", True), f"{where} initial_value"),
                 use_values_from_trigger_time=_bool(row.get("use_values_from_trigger_time", True),
                                                    f"{where} use_values_from_trigger_time"),
                 description=_str(row.get("description", ""), f"{where} description"))


# -- TOML writing (a small writer for the subset model files use) ---------------------------------
_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _toml_str(s: str) -> str:
    """A TOML basic string: quotes, backslashes and every control character (U+0000-U+001F, U+007F) escaped."""
    out = []
    for c in s:
        if c in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[c])
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _toml_key(k: str) -> str:
    return k if _BARE_KEY.fullmatch(k) else _toml_str(k)  # bare keys are ASCII letters, digits, _ and - only


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        if v in ("inf", "-inf"):
            return v
        return _toml_str(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _to_toml(data: Mapping[str, Any]) -> str:
    lines = ["# tumordyn model file (read with tumordyn.io.load_model)"]
    for k, v in data.items():
        if not isinstance(v, list) or (v and not isinstance(v[0], Mapping)):
            lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
    for k, v in data.items():
        if isinstance(v, list) and v and isinstance(v[0], Mapping):
            for row in v:
                lines.append("")
                lines.append(f"[[{_toml_key(k)}]]")
                lines.extend(f"{_toml_key(f)} = {_toml_value(x)}" for f, x in row.items())
    return "\n".join(lines) + "\n"


def _toml_loads(text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    return tomllib.loads(text)


def _format_of(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in ("toml", "json"):
            raise SpecificationError(f"format must be 'toml' or 'json', got {fmt!r}")
        return fmt
    try:
        return _FORMATS[path.suffix.lower()]
    except KeyError:
        raise SpecificationError(
            f"cannot tell the format of {str(path)!r} from its extension {path.suffix!r}: use .toml or .json "
            "(or pass format=)"
        ) from None


def _text_shape(text: str, fmt: str, max_depth: int, max_tables: int) -> tuple[int, int]:
    """Deepest nesting of ``[``/``{`` outside strings and comments and the number of tables (``{``, ``[[``),
    in one linear pass before any parser, stopping as soon as either exceeds its maximum.

    In TOML a dotted key (``a.b.c = 1``, ``[a.b.c]``) nests tables too: each dot of a key counts a level.
    """
    depth = best = dots = tables = 0
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"' or (c == "'" and fmt == "toml"):
            quote = text[i:i + 3] if fmt == "toml" and text.startswith(c * 3, i) else c
            i += len(quote)
            while i < n and not text.startswith(quote, i):
                i += 2 if (text[i] == "\\" and quote[0] == '"') else 1
            i += len(quote)
            continue
        if fmt == "toml":
            if c == "#":
                j = text.find("\n", i)
                i = n if j < 0 else j + 1
                dots = 0
                continue
            if c == "." and not (0 < i < n - 1 and text[i - 1].isdigit() and text[i + 1].isdigit()):
                dots += 1  # a dot of a dotted key (not the decimal point of a number)
                best = max(best, depth + dots)
            elif c in "\n=,{":
                dots = 0
            if c == "[" and depth == 0 and text.startswith("[[", i):
                tables += 1
        if c in "[{":
            depth += 1
            best = max(best, depth)
            tables += c == "{"
        elif c in "]}":
            depth -= 1
        if best > max_depth or tables > max_tables:
            break
        i += 1
    return best, tables


def _read_regular_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``, never reading more than ``max_bytes + 1``.

    Devices (``/dev/zero``, also behind a symlink), FIFOs, sockets and directories are refused before
    reading; the file is opened without blocking (a FIFO swapped in after the check cannot hang) and its
    type checked again on the open descriptor.
    """
    st = os.stat(path)  # follows symlinks; FileNotFoundError / PermissionError pass through
    if not stat.S_ISREG(st.st_mode):
        kind = ("a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode)
                else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        raise ModelFileError(f"{path}: is {kind}; model files are read only from regular files", path)
    if st.st_size > max_bytes:
        raise LimitExceededError(
            f"{path}: the file has {st.st_size} bytes, more than the limit of {max_bytes} (limit max_bytes)",
            path, "max_bytes",
        )
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ModelFileError(f"{path}: is not a regular file; model files are read only from regular files", path)
        chunks, total = [], 0
        while total <= max_bytes:  # bounded: at most max_bytes + 1 bytes
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    finally:
        os.close(fd)
    if total > max_bytes:
        raise LimitExceededError(f"{path}: the file grew beyond {max_bytes} bytes while read (limit max_bytes)",
                                 path, "max_bytes")
    return b"".join(chunks)


def _no_duplicates(source: str):  # noqa: ANN202
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in pairs:
            if k in out:
                raise ModelFileError(f"{source}: duplicated key {_short(k)} in one object (JSON keeps only the last "
                                     "silently; tumordyn refuses)", source)
            out[k] = v
        return out

    return hook


def _parse_text(text: str, fmt: str, source: str, lim: Mapping[str, int]) -> Any:
    """Parse a document after checking its nesting depth; every failure is a ModelFileError naming ``source``."""
    if text.startswith("\ufeff"):
        text = text[1:]
    max_tables = 4 * lim["max_entries"] + 16  # a row holds at most 3 tables (itself, consumes, produces)
    depth, tables = _text_shape(text, fmt, lim["max_nesting"], max_tables)
    if depth > lim["max_nesting"]:
        raise LimitExceededError(
            f"{source}: tables/arrays (brackets or dotted keys) nested deeper than {lim['max_nesting']} levels "
            "(limit max_nesting)", source, "max_nesting",
        )
    if tables > max_tables:
        raise LimitExceededError(
            f"{source}: more than {max_tables} tables/objects, too many for {lim['max_entries']} entries "
            "(limit max_entries)", source, "max_entries",
        )
    try:
        if fmt == "json":
            def _no_constants(name: str) -> float:
                raise ModelFileError(f"{source}: {name} is not valid JSON; write infinities as \"inf\"/\"-inf\"",
                                     source)

            return json.loads(text, parse_constant=_no_constants, object_pairs_hook=_no_duplicates(source))
        return _toml_loads(text)
    except SpecificationError:
        raise
    except ValueError as exc:  # json.JSONDecodeError, tomllib.TOMLDecodeError, too many digits in an integer
        raise ModelFileError(f"{source}: malformed {fmt.upper()}: {exc}", source) from None
    except RecursionError:
        raise LimitExceededError(f"{source}: the document is nested too deeply to parse (limit max_nesting)",
                                 source, "max_nesting") from None


def _decode(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ModelFileError(
            f"{source}: not UTF-8 text (byte {raw[exc.start:exc.start + 1]!r} at offset {exc.start}, line {line}: "
            f"{exc.reason}); model files are UTF-8 TOML or JSON", source,
        ) from None


def _first_bad_string(data: object, where: str = "") -> tuple[str, UnicodeEncodeError] | None:
    stack = [(data, where)]
    while stack:
        node, at = stack.pop()
        if isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError as exc:
                return at, exc
        elif isinstance(node, Mapping):
            stack.extend((v, f"{at}.{k}" if at else str(k)) for k, v in node.items())
            stack.extend((k, f"{at} key {k!r}") for k in node if isinstance(k, str))
        elif isinstance(node, list):
            stack.extend((v, f"{at}[{i}]") for i, v in enumerate(node))
    return None


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (:func:`tumordyn._fileio.atomic_write`); a path that exists and
    is not a regular file is refused. On any failure an existing ``path`` is left as it was."""
    if path.exists() and not path.is_file():
        raise ModelFileError(f"{path}: exists and is not a regular file; refusing to replace it", path)
    atomic_write(path, data)


def save_model(model: Model, path: str | os.PathLike[str], *, format: str | None = None,  # noqa: A002
               limits: Mapping[str, int] | None = None) -> Path:
    """Write a model to a TOML or JSON file, atomically, after checking that it reads back.

    The text is first read back (parsed and built into a model, under the same limits as
    :func:`load_model`) and compared with ``model``; only a text that loads back to an equal
    model is written. It goes to a temporary file in the destination's directory, is flushed
    to disk (``fsync``) and renamed over ``path`` (``os.replace``): an existing file is either
    replaced whole or left untouched, never truncated.

    Parameters
    ----------
    model : Model
        The model.
    path : str or path-like
        Destination; the format follows the extension (``.toml`` or ``.json``).
    format : {"toml", "json"}, optional
        Force a format regardless of the extension.
    limits : mapping, optional
        Changes to :data:`FILE_LIMITS` for the read-back check.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    SpecificationError
        For an unknown extension, or an expression that would not read back identically.
    ModelFileError
        If the text would not read back to an equal model (e.g. a string that is not valid
        Unicode, such as a lone surrogate), or the destination is not a regular file; nothing
        is written then.
    OSError
        If the file cannot be written (the old file, if any, is unchanged).

    Examples
    --------
    >>> import tumordyn as td, tempfile, os
    >>> m = td.models.kuznetsov1994()
    >>> p = td.io.save_model(m, os.path.join(tempfile.mkdtemp(), "k.toml"))
    >>> td.io.load_model(p) == m
    True
    """
    path = Path(path)
    fmt = _format_of(path, format)
    lim = _limits(limits)
    data = model_to_dict(model)
    bad = _first_bad_string(data)
    if bad is not None:
        raise ModelFileError(
            f"{path}: cannot write model {model.name!r}: {bad[0]} has a character that is not valid Unicode text "
            f"({bad[1].reason} at position {bad[1].start}); nothing was written", path,
        )
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n" if fmt == "json" else _to_toml(data)
    raw = text.encode("utf-8")
    if len(raw) > lim["max_bytes"]:
        raise LimitExceededError(
            f"{path}: the model file would have {len(raw)} bytes, more than max_bytes = {lim['max_bytes']}, and "
            "would not load with the same limits; pass limits={'max_bytes': ...} to both functions",
            path, "max_bytes",
        )
    try:
        back = model_from_dict(_parse_text(text, fmt, str(path), lim), source=str(path), limits=lim)
    except SpecificationError as exc:
        raise ModelFileError(f"{path}: the file would not load back ({exc}); nothing was written", path) from None
    if back != model:
        raise ModelFileError(f"{path}: the file would load back as a different model; nothing was written", path)
    _atomic_write(path, raw)
    return path


def load_model(path: str | os.PathLike[str], *, format: str | None = None,  # noqa: A002
               limits: Mapping[str, int] | None = None) -> Model:
    """Read a model written by :func:`save_model` (or by hand) from a TOML or JSON file.

    Reading never executes code: expressions are parsed with an AST whitelist,
    and hostile text (``__import__('os')...``, attribute access, lambdas,
    dunder names, strings, comparisons) raises
    :class:`~tumordyn.errors.UnsafeExpressionError` naming the construct.

    Reading is bounded in time and memory by :data:`FILE_LIMITS`, each checked before
    the work it bounds: only a regular file is read (a device, FIFO or directory is
    refused before reading, also behind a symlink), at most ``max_bytes``; the nesting depth
    is checked on the text before parsing; expressions are bounded in length, depth, size
    and ``min``/``max`` arguments before any symbolic work.

    Parameters
    ----------
    path : str or path-like
        The file (``.toml`` or ``.json``).
    format : {"toml", "json"}, optional
        Force a format regardless of the extension.
    limits : mapping, optional
        Changes to :data:`FILE_LIMITS`, e.g. ``{"max_bytes": 50_000_000}``.

    Returns
    -------
    Model
        Structurally equal to the model saved (``==``), so it simulates bit for bit the same.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    LimitExceededError
        If the file exceeds a limit (size, depth, entries); a :class:`ModelFileError`.
    ModelFileError
        If the file is not a regular file, not UTF-8, malformed TOML/JSON or has a duplicated
        key; a :class:`SpecificationError`.
    SpecificationError
        For missing or unknown fields, wrong types (a boolean written as a string...), an
        unsupported ``format_version`` or an invalid model (the message names the file and entry).
    UnsafeExpressionError
        For an expression outside the whitelist or its limits.
    """
    path = Path(path)
    fmt = _format_of(path, format)
    lim = _limits(limits)
    text = _decode(_read_regular_file(path, lim["max_bytes"]), str(path))
    return model_from_dict(_parse_text(text, fmt, str(path), lim), source=str(path), limits=lim)
