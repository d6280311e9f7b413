"""Model files: a model as a TOML or JSON document, read back without running code.

Layout (``format_version = 1``): top-level ``format_version``, ``name``,
``description``, ``check_positivity`` and arrays of tables ``states``,
``parameters``, ``processes``, ``drugs``, ``observables``. Every expression is
stored as text printed by sympy (floats with all 17 significant digits) and read
back with the safe parser :func:`tumordyn.spec._expr.parse_expression` (an AST
whitelist: numbers, names, arithmetic and a few mathematical functions; never
``eval``).
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sympy as sp
from sympy.printing.str import StrPrinter

from ..spec import parse_expression
from ..spec import Drug, Model, Observable, Parameter, Process, State
from ..errors import SpecificationError

__all__ = ["save_model", "load_model", "model_to_dict", "model_from_dict", "FORMAT_VERSION", "expr_to_text"]

#: Version of the model file layout written by :func:`save_model`.
FORMAT_VERSION = 1

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
        ``format_version``, ``name``, ``description``, ``check_positivity`` and lists
        ``states``, ``parameters``, ``processes``, ``drugs``, ``observables``.
        Infinite bounds are the strings ``"inf"``/``"-inf"``.
    """
    if not isinstance(model, Model):
        raise TypeError(f"expected a tumordyn Model, got {type(model).__name__}")
    out: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "name": model.name,
        "description": model.description,
        "check_positivity": bool(model._check_positivity),
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
    return out


_FIELDS = {
    "states": {"name", "initial", "unit", "description", "nonnegative", "atol"},
    "parameters": {"name", "default", "bounds", "unit", "description", "source"},
    "processes": {"name", "rate", "consumes", "produces", "description"},
    "drugs": {"name", "compartment", "volume", "dose_unit", "description"},
    "observables": {"name", "expr", "unit", "description"},
}
_TOP = {"format_version", "name", "description", "check_positivity", *_FIELDS}


def _float(value: object, where: str) -> float:
    if isinstance(value, str) and value.strip().lower() in ("inf", "+inf", "-inf", "infinity", "-infinity"):
        return -math.inf if value.strip().startswith("-") else math.inf
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecificationError(f"{where} must be a number, got {value!r}")
    return float(value)


def _str(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise SpecificationError(f"{where} must be a string, got {value!r}")
    return value


def _stoich_table(value: object, where: str) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise SpecificationError(f"{where} must be a table of state name -> coefficient, got {value!r}")
    return {_str(k, f"{where} key"): _float(v, f"{where}[{k!r}]") for k, v in value.items()}


def model_from_dict(data: Mapping[str, Any], *, source: str = "model file") -> Model:
    """Build a model from plain data as produced by :func:`model_to_dict`.

    Expressions are parsed with the safe parser; nothing is evaluated.

    Parameters
    ----------
    data : mapping
        The document.
    source : str, optional
        Where the data came from, for error messages.

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
    if not isinstance(data, Mapping):
        raise SpecificationError(f"{source}: the document must be a table/object, got {type(data).__name__}")
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
    for section, allowed in _FIELDS.items():
        items = data.get(section, [])
        if not isinstance(items, list):
            raise SpecificationError(f"{source}: {section!r} must be a list of tables, got {type(items).__name__}")
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
        where = f"{source}: {section}[{i}] ({row.get('name')!r})"
        try:
            if section == "states":
                return State(_str(row["name"], f"{where} name"), _float(row.get("initial", 0.0), f"{where} initial"),
                             _str(row.get("unit", "cells"), f"{where} unit"),
                             _str(row.get("description", ""), f"{where} description"),
                             bool(row.get("nonnegative", True)), _float(row.get("atol", 1e-6), f"{where} atol"))
            if section == "parameters":
                b = row.get("bounds", [0.0, "inf"])
                if not isinstance(b, list) or len(b) != 2:
                    raise SpecificationError(f"{where}: bounds must be a list [low, high], got {b!r}")
                if "default" not in row:
                    raise SpecificationError(f"{where}: missing 'default'")
                return Parameter(_str(row["name"], f"{where} name"), _float(row["default"], f"{where} default"),
                                 (_float(b[0], f"{where} bounds[0]"), _float(b[1], f"{where} bounds[1]")),
                                 _str(row.get("unit", "1"), f"{where} unit"),
                                 _str(row.get("description", ""), f"{where} description"),
                                 _str(row.get("source", ""), f"{where} source"))
            if section == "processes":
                name = _str(row["name"], f"{where} name")
                if "rate" not in row:
                    raise SpecificationError(f"{where}: missing 'rate'")
                rate = parse_expression(_str(row["rate"], f"{where} rate"), where=f"{where} rate")
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
            name = _str(row["name"], f"{where} name")
            if "expr" not in row:
                raise SpecificationError(f"{where}: missing 'expr'")
            return Observable(name, parse_expression(_str(row["expr"], f"{where} expr"), where=f"{where} expr"),
                              _str(row.get("unit", ""), f"{where} unit"),
                              _str(row.get("description", ""), f"{where} description"))
        except TypeError as exc:
            raise SpecificationError(f"{where}: {exc}") from None

    built = {section: [build(section, i, r) for i, r in enumerate(items)] for section, items in rows.items()}
    cp = data.get("check_positivity", True)
    if not isinstance(cp, bool):
        raise SpecificationError(f"{source}: check_positivity must be true or false, got {cp!r}")
    return Model(
        _str(data["name"], f"{source}: name"),
        description=_str(data.get("description", ""), f"{source}: description"),
        check_positivity=cp,
        **built,
    )


# -- TOML writing (a small writer for the subset model files use) ---------------------------------
def _toml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def _toml_key(k: str) -> str:
    return k if k and all(c.isalnum() or c in "_-" for c in k) else _toml_str(k)


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


def save_model(model: Model, path: str | os.PathLike[str], *, format: str | None = None) -> Path:  # noqa: A002
    """Write a model to a TOML or JSON file.

    Parameters
    ----------
    model : Model
        The model.
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
    SpecificationError
        For an unknown extension, or an expression that would not read back identically.

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
    data = model_to_dict(model)
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n" if fmt == "json" else _to_toml(data)
    path.write_text(text, encoding="utf-8")
    return path


def load_model(path: str | os.PathLike[str], *, format: str | None = None) -> Model:  # noqa: A002
    """Read a model written by :func:`save_model` (or by hand) from a TOML or JSON file.

    Reading never executes code: expressions are parsed with an AST whitelist,
    and hostile text (``__import__('os')...``, attribute access, lambdas,
    dunder names, strings, comparisons) raises
    :class:`~tumordyn.errors.UnsafeExpressionError` naming the construct.

    Parameters
    ----------
    path : str or path-like
        The file (``.toml`` or ``.json``).
    format : {"toml", "json"}, optional
        Force a format regardless of the extension.

    Returns
    -------
    Model
        Structurally equal to the model saved (``==``), so it simulates bit for bit the same.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    SpecificationError
        For malformed TOML/JSON, missing or unknown fields, wrong types, an
        unsupported ``format_version`` or an invalid model (the message names
        the file and entry).
    UnsafeExpressionError
        For an expression outside the whitelist.
    """
    path = Path(path)
    fmt = _format_of(path, format)
    text = path.read_text(encoding="utf-8")
    try:
        if fmt == "json":
            def _no_constants(name: str) -> float:
                raise SpecificationError(f"{path}: {name} is not valid JSON; write infinities as \"inf\"/\"-inf\"")

            data = json.loads(text, parse_constant=_no_constants)
        else:
            data = _toml_loads(text)
    except SpecificationError:
        raise
    except ValueError as exc:  # json.JSONDecodeError and tomllib.TOMLDecodeError are ValueErrors
        raise SpecificationError(f"{path}: malformed {fmt.upper()}: {exc}") from None
    return model_from_dict(data, source=str(path))
