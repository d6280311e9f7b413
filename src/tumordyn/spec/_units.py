"""Units of a model: one unit registry owned by tumordyn, and the dimensional check run at model build.

Unit text (``"cells"``, ``"1/day"``, ``"mg/L"``, ``"mm^3/cell"``, ``"1e6 cells"``) is parsed by
`pint <https://pint.readthedocs.io>`_ with a registry of tumordyn's own (:func:`unit_registry`): SI
prefixes, time (s, min, h, day, week, year), length (m), volume (L), mass (g), amount (mol, M) and the
count ``cell``. pint is imported when the first unit text that is not in tumordyn's disk cache is parsed
(usually the first model built after installing; see ``_stored``), never by ``import tumordyn``, and pint's
application registry is not touched.

Every process rate must be in (unit of each state it changes) per day, every observable's expression in its
declared unit, and a bolus of a drug in ``dose_unit`` divided by its volume (L, or the volume parameter's
unit) in the unit of its compartment. Units must agree in *scale* too, not only in dimension: the solver
does not convert values, so a rate constant in 1/hour in a model whose time is in days is an error.

A unit left empty (``""`` or ``None``) is *unchecked*: every expression it enters is skipped. Constants in a
sum take the unit of the other terms (``T + 1`` is read as cells when ``T`` is); ``log`` accepts any unit
(the logarithm of the value in its unit), ``exp``, ``tanh`` and powers with a symbolic exponent need a
dimensionless argument (or a dimensionless exponent).
"""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Tuple, Union

import sympy as sp

from ..errors import UnitError, closest_names

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    import pint

__all__ = ["unit_registry", "parse_unit", "Unit", "check_model_units", "convert_amount", "dose_covariate", "format_unit",
           "TIME_UNIT", "COVARIATES"]

#: The time unit of every model (all times in tumordyn are days).
TIME_UNIT = "day"

#: Patient covariates that dose units may need, with their units: ``weight_kg`` (body weight, kg) for doses
#: per kg, ``bsa_m2`` (body-surface area, m²) for doses per m².
COVARIATES: dict[str, str] = {"weight_kg": "kg", "bsa_m2": "m^2"}

# The library's unit definitions (pint's definition syntax). ``cell`` is a base dimension of its own.
_DEFINITIONS = (
    "yocto- = 1e-24 = y-", "zepto- = 1e-21 = z-", "atto- = 1e-18 = a-", "femto- = 1e-15 = f-",
    "pico- = 1e-12 = p-", "nano- = 1e-9 = n-", "micro- = 1e-6 = µ- = μ- = u-", "milli- = 1e-3 = m-",
    "centi- = 1e-2 = c-", "deci- = 1e-1 = d-", "deca- = 1e1 = da- = deka-", "hecto- = 1e2 = h-",
    "kilo- = 1e3 = k-", "mega- = 1e6 = M-", "giga- = 1e9 = G-", "tera- = 1e12 = T-",
    "second = [time] = s = sec",
    "meter = [length] = m = metre",
    "gram = [mass] = g",
    "mole = [substance] = mol",
    "cell = [cell] = _ = cells",
    "minute = 60 * second = min",
    "hour = 60 * minute = h = hr",
    "day = 24 * hour = _ = d = days",
    "week = 7 * day = _ = wk = weeks",
    "year = 365.25 * day = _ = yr = a = years",
    "liter = decimeter ** 3 = L = l = litre",
    "molar = mole / liter = M",
    "percent = 0.01 = %",
)

#: Exponent given to a power whose exponent is an expression (e.g. a Hill coefficient): any value that is
#: not a small integer shows whether the terms of a sum carry the same power of a unit.
_GENERIC_EXPONENT = Fraction(1234567, 1000000)

_SPELLED = ("mg", "ug", "µg", "ng", "pg", "kg", "mL", "uL", "µL", "dL", "mm", "cm", "um", "µm", "nm",
            "mol", "mmol", "umol", "nmol", "mM", "uM", "µM", "nM", "pM", "mm^3", "cm^3", "m^2", "1")


@functools.lru_cache(maxsize=None)
def unit_registry() -> pint.UnitRegistry:
    """The unit registry of tumordyn (built once, on first use; pint's application registry is untouched).

    Returns
    -------
    pint.UnitRegistry
        A registry holding SI prefixes, s, min, h, day, week, year, m, L, g, mol, M (molar), ``%`` and
        ``cell`` (a count with a dimension of its own).
    """
    import pint

    reg = pint.UnitRegistry(None)
    for line in _DEFINITIONS:
        reg.define(line)
    return reg


@functools.lru_cache(maxsize=None)
def _known_names() -> tuple[str, ...]:
    reg = unit_registry()
    names = set(_SPELLED)
    # names, symbols and aliases of every unit (pint keeps them in a private table; without it, the
    # suggestions come from the names spelled above)
    for name, definition in getattr(reg, "_units", {}).items():
        names.add(name)
        names.update(a for a in (getattr(definition, "symbol", None), *getattr(definition, "aliases", ())) if a)
    return tuple(sorted(n for n in names if n and n != "_"))


@functools.lru_cache(maxsize=4096)
def _base(name: str) -> tuple[float, tuple[tuple[str, Fraction], ...]]:
    """One registry unit in base units: (its size, base unit -> exponent)."""
    stored = _stored("base", name)
    if stored is not None:
        return stored
    q = unit_registry().Quantity(1.0, name).to_base_units()
    mag, items = q.to_tuple()
    out = float(mag), tuple(sorted((str(k), _fraction(v)) for k, v in items))
    _store("base", name, out)
    return out


# ----------------------------------------------------------------------------- the on-disk cache of parsed units
# What pint says about a unit text (factor and terms) and a registry unit (size in base units) depends only on
# the text, tumordyn's definitions and pint's version, so it is kept on disk next to the compiled model code
# (TUMORDYN_CACHE_DIR, see tumordyn._fileio.cache_dir): a process whose units are all in that file checks a
# model's units without importing pint or building its registry (~0.2-0.3 s of a warm model-to-first-simulate).
# Only successful results are stored (unknown or unreadable text always goes to pint, for its message); the file
# is JSON (never executed), validated on load (anything malformed is ignored: pint answers) and bounded.

_DISK_FORMAT = "1"  # bump when the layout of the file changes
_DISK_MAX_ENTRIES = 4096  # per kind ("parse", "base"); beyond it, results are only kept in memory
_Entry = Tuple[float, Tuple[Tuple[str, Fraction], ...]]
_STORE_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _pint_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("pint")
    except metadata.PackageNotFoundError:  # pragma: no cover - pint is a dependency
        return "unknown"


def _disk_path() -> str | None:
    """The cache file for this pint version and these definitions, or ``None`` when the cache is disabled."""
    import hashlib
    import os

    from .._fileio import cache_dir

    root = cache_dir()
    if root is None:
        return None
    key = hashlib.sha256("\0".join((_DISK_FORMAT, _pint_version(), str(_GENERIC_EXPONENT), *_DEFINITIONS))
                         .encode()).hexdigest()[:32]
    return os.path.join(root, f"units_v{_DISK_FORMAT}", f"units_{key}.json")


def _entry(raw: Any) -> _Entry:
    """A stored entry, checked: ``[size > 0, [[name, "p/q"], ...]]``; ValueError/TypeError if malformed."""
    size, terms = raw
    if isinstance(size, bool) or not isinstance(size, (int, float)) or not (math.isfinite(size) and size > 0):
        raise ValueError("bad size")
    out = []
    for name, exponent in terms:
        if not (isinstance(name, str) and name and isinstance(exponent, str)):
            raise ValueError("bad term")
        out.append((name, Fraction(exponent)))
    if [n for n, _ in out] != sorted({n for n, _ in out}) or any(e == 0 for _, e in out):
        raise ValueError("terms not sorted, repeated or zero")
    return float(size), tuple(out)


@functools.lru_cache(maxsize=8)
def _loaded(path: str) -> dict[str, dict[str, _Entry]]:
    """The entries of the cache file ``path`` (read once per process; empty if absent or malformed). The dicts
    are this process's memory of the file: :func:`_store` adds to them before rewriting it."""
    import json

    table: dict[str, dict[str, _Entry]] = {"parse": {}, "base": {}}
    try:
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
        for kind in table:
            items = raw[kind]
            if not isinstance(items, dict) or len(items) > _DISK_MAX_ENTRIES:
                raise ValueError("bad table")
            table[kind] = {str(k): _entry(v) for k, v in items.items()}
    except (OSError, ValueError, TypeError, KeyError, ZeroDivisionError):  # absent, unreadable or malformed
        return {"parse": {}, "base": {}}
    return table


def _stored(kind: str, key: str) -> _Entry | None:
    path = _disk_path()
    return None if path is None else _loaded(path)[kind].get(key)


def _store(kind: str, key: str, value: _Entry) -> None:
    """Remember ``value`` in the cache file (rewritten atomically; a failed write only loses the cache)."""
    import json

    from .._fileio import atomic_write

    path = _disk_path()
    if path is None:
        return
    with _STORE_LOCK:  # threads building models at once: one writer, and no dict changing while it is dumped
        table = _loaded(path)
        if key in table[kind] or len(table[kind]) >= _DISK_MAX_ENTRIES:
            return
        table[kind][key] = value
        data = {k: {name: [size, [[n, str(e)] for n, e in terms]] for name, (size, terms) in v.items()}
                for k, v in table.items()}
        try:
            atomic_write(path, json.dumps(data, sort_keys=True), durable=False)
        except OSError:
            pass


def _fraction(x: Any) -> Fraction:
    if isinstance(x, Fraction):
        return x
    if isinstance(x, int):
        return Fraction(x)
    return Fraction(float(x)).limit_denominator(10**6)


@dataclass(frozen=True)
class Unit:
    """A parsed unit: a factor times a product of registry units with rational exponents.

    Attributes
    ----------
    factor : float
        Number in front (``1e6`` for ``"1e6 cells"``; 1 usually).
    terms : tuple of (str, Fraction)
        Registry unit names and their exponents, sorted (``(("cell", 1), ("day", -1))`` for cells/day).
    """

    factor: float
    terms: tuple[tuple[str, Fraction], ...]

    @staticmethod
    def _make(factor: float, terms: dict[str, Fraction]) -> Unit:
        return Unit(float(factor), tuple(sorted((k, v) for k, v in terms.items() if v != 0)))

    def __mul__(self, other: Unit) -> Unit:
        t = dict(self.terms)
        for k, v in other.terms:
            t[k] = t.get(k, Fraction(0)) + v
        return Unit._make(self.factor * other.factor, t)

    def __truediv__(self, other: Unit) -> Unit:
        return self * other ** Fraction(-1)

    def __pow__(self, e: Fraction) -> Unit:
        return Unit._make(self.factor ** float(e), {k: v * e for k, v in self.terms})

    @functools.cached_property
    def base(self) -> tuple[float, tuple[tuple[str, Fraction], ...]]:
        """Size in base units and the base dimensions (base unit -> exponent)."""
        scale = self.factor
        dims: dict[str, Fraction] = {}
        for k, v in self.terms:
            s, d = _base(k)
            scale *= s ** float(v)
            for bk, bv in d:
                dims[bk] = dims.get(bk, Fraction(0)) + bv * v
        return scale, tuple(sorted((k, v) for k, v in dims.items() if v != 0))

    @property
    def dimensionless(self) -> bool:
        """Whether the unit has no dimension (it may still have a factor, e.g. ``%``)."""
        return not self.base[1]

    def ratio(self, other: Unit) -> float | None:
        """``self / other`` as a number, or ``None`` if the dimensions differ."""
        (s1, d1), (s2, d2) = self.base, other.base
        return s1 / s2 if d1 == d2 else None

    def same(self, other: Unit) -> bool:
        """Same dimension and the same size (to a relative 1e-9)."""
        r = self.ratio(other)
        return r is not None and math.isclose(r, 1.0, rel_tol=1e-9)

    def __str__(self) -> str:
        return format_unit(self)


_ONE = Unit(1.0, ())


def format_unit(unit: Unit) -> str:
    """Readable text of a unit: ``cell·mg/(L·day)``.

    Parameters
    ----------
    unit : Unit
        A parsed unit.

    Returns
    -------
    str
        Symbols (``mg``, ``L``) or names (``cell``, ``day``), ``^`` for powers, ``1`` when dimensionless.
    """
    reg = unit_registry()

    def sym(name: str) -> str:
        try:
            s = reg.get_symbol(name)
        except Exception:  # noqa: BLE001 - a name the registry cannot shorten is shown as it is
            s = name
        return name if s == "_" else s

    def power(name: str, e: Fraction) -> str:
        e = abs(e)
        return sym(name) if e == 1 else f"{sym(name)}^{e}"

    num = [power(k, v) for k, v in unit.terms if v > 0]
    den = [power(k, v) for k, v in unit.terms if v < 0]
    text = "·".join(num) or "1"
    if den:
        text += "/" + (den[0] if len(den) == 1 else "(" + "·".join(den) + ")")
    if unit.factor != 1.0:
        text = f"{unit.factor:g} {text}"
    return text


def _is_unchecked(text: object) -> bool:
    return text is None or (isinstance(text, str) and not text.strip())


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> Unit:
    stored = _stored("parse", text)
    if stored is not None:
        return Unit(*stored)
    unit = _parse_with_pint(text)
    _store("parse", text, (unit.factor, unit.terms))
    return unit


def _parse_with_pint(text: str) -> Unit:
    import pint

    reg = unit_registry()
    try:
        q = reg.parse_expression(text)
    except pint.UndefinedUnitError as err:
        bad = err.args[0] if err.args else text
        if isinstance(bad, (tuple, list)):
            bad = bad[0] if bad else text
        raise _Unknown(str(bad)) from None
    except Exception as err:  # noqa: BLE001 - pint raises assorted errors for text it cannot read
        raise _Unreadable(str(err)) from None
    if not isinstance(q, reg.Quantity):  # a plain number: "1", "2.5"
        if isinstance(q, (int, float)) and math.isfinite(q) and q > 0:
            return Unit(float(q), ())
        raise _Unreadable(f"{q!r} is not a unit")
    mag, items = q.to_tuple()
    if not (isinstance(mag, (int, float)) and math.isfinite(mag) and mag > 0):
        raise _Unreadable(f"the factor {mag!r} must be a finite number > 0")
    return Unit._make(float(mag), {str(k): _fraction(v) for k, v in items})


class _Unknown(Exception):
    pass


class _Unreadable(Exception):
    pass


def parse_unit(text: str | None, where: str = "") -> Unit | None:
    """Parse unit text with tumordyn's registry.

    Parameters
    ----------
    text : str or None
        E.g. ``"cells"``, ``"1/day"``, ``"mg/L"``, ``"1/(cell day)"``, ``"mm^3/cell"``, ``"1e6 cells"``,
        ``"1"`` (dimensionless). ``""`` or ``None`` means unchecked.
    where : str, optional
        Whose unit it is, for the message (e.g. ``"parameter 'k'"``).

    Returns
    -------
    Unit or None
        The unit, or ``None`` for an unchecked one.

    Raises
    ------
    UnitError
        For an unknown unit (the closest known units are suggested) or text that is not a unit.

    Examples
    --------
    >>> str(parse_unit("1/(cell day)"))
    '1/(cell·day)'
    >>> try:
    ...     parse_unit("1/dya", "parameter 'r'")
    ... except UnitError as err:
    ...     print(err)
    parameter 'r': unknown unit 'dya' in '1/dya'; did you mean 'day'...
    """
    if _is_unchecked(text):
        return None
    if not isinstance(text, str):
        raise TypeError(f"{where or 'unit'}: a unit must be text (e.g. '1/day') or None, got {text!r}")
    loc = f"{where}: " if where else ""
    try:
        return _parse(text.strip())
    except _Unknown as err:
        bad = str(err)
        hits = closest_names(bad, _known_names())
        hint = f"did you mean {' or '.join(repr(h) for h in hits)}? " if hits else ""
        raise UnitError(
            f"{loc}unknown unit {bad!r} in {text!r}; {hint}Known units: cell, s, min, h, day, week, year, m, L, g, "
            "mol, M, % with SI prefixes (mg, mL, mm, uM...); use '1' for dimensionless, '' to leave it unchecked",
            unit=text,
        ) from None
    except _Unreadable as err:
        raise UnitError(f"{loc}cannot read the unit {text!r} ({err}); write e.g. '1/day', 'mg/L' or 'cells', "
                        "or '' to leave it unchecked", unit=text) from None


# ----------------------------------------------------------------------------- inference over expressions

class _Number:
    """The unit of a literal constant: it takes the unit of the terms it is added to."""


NUMBER = _Number()
FLOAT = _Number()  # a decimal literal: adopts the unit of a sum's terms, and its unit is undeclared in a product
_Inferred = Union[Unit, _Number, None]  # None: unchecked (some symbol has no unit)


class _Mismatch(Exception):
    pass


_TRANSCENDENTAL = (sp.exp, sp.tanh, sp.sinh, sp.cosh, sp.sin, sp.cos, sp.tan, sp.atan, sp.asin, sp.acos,
                   sp.erf)


def _unify(values: list[_Inferred], what: Callable[[], str]) -> _Inferred:
    """The one unit of ``values`` (``None`` if one is unchecked); ``what()`` names them in the message of a
    mismatch (called only then: printing the expression costs more than checking it)."""
    known = [v for v in values if isinstance(v, Unit)]
    if any(v is None for v in values):
        return None
    if not known:
        return FLOAT if any(v is FLOAT for v in values) else NUMBER
    first = known[0]
    for other in known[1:]:
        if not first.same(other):
            r = first.ratio(other)
            if r is None:
                raise _Mismatch(f"{what()} mixes {first} and {other}")
            raise _Mismatch(f"{what()} mixes {first} and {other}, which differ by a factor {r:g} "
                            "(values are not converted)")
    return first


def infer_unit(expr: sp.Expr, env: dict[str, Unit | None]) -> _Inferred:
    """Unit of ``expr`` given the units of its symbols; ``None`` if some symbol is unchecked.

    Raises
    ------
    _Mismatch
        If the expression adds or compares different units, or gives a dimensional argument to a
        function that needs a dimensionless one.
    """
    if not expr.free_symbols:
        # exact constants (2, 1/3, pi, log(2)) are dimensionless numbers; a decimal literal (0.1, 12.4) may
        # stand for a value in some unit, so it is undeclared, as SBML reads bare numbers
        return NUMBER if not expr.has(sp.Float) else FLOAT
    if isinstance(expr, sp.Symbol):
        return env.get(expr.name)
    if isinstance(expr, sp.Add) or isinstance(expr, (sp.Min, sp.Max)):
        kind = "a sum" if isinstance(expr, sp.Add) else f"{type(expr).__name__}(...)"
        return _unify([infer_unit(a, env) for a in expr.args], lambda: f"{kind} in {_short(expr)}")
    if isinstance(expr, sp.Mul):
        out: Unit | _Number = NUMBER
        unknown = False
        for a in expr.args:
            u = infer_unit(a, env)
            if u is None or u is FLOAT:
                unknown = True
            elif isinstance(u, Unit):
                out = u if isinstance(out, _Number) else out * u
        return None if unknown else out
    if isinstance(expr, sp.Pow):
        base, e = expr.args
        b = infer_unit(base, env)
        if e.is_Number:
            if not isinstance(b, Unit):
                return b
            return b ** _fraction(Fraction(str(e)) if e.is_Rational else float(e))
        eu = infer_unit(e, env)
        if isinstance(eu, Unit) and not eu.dimensionless:
            raise _Mismatch(f"the exponent {_short(e)} is in {eu}; an exponent must be dimensionless")
        if not isinstance(b, Unit):
            return b
        return b if b.dimensionless and b.factor == 1.0 else b ** _GENERIC_EXPONENT
    if isinstance(expr, sp.log):
        u = infer_unit(expr.args[0], env)
        return None if u is None else _ONE
    if isinstance(expr, _TRANSCENDENTAL):
        u = infer_unit(expr.args[0], env)
        if isinstance(u, Unit) and not u.dimensionless:
            raise _Mismatch(f"{type(expr).__name__}() of {_short(expr.args[0])}, which is in {u}; "
                            "its argument must be dimensionless")
        return None if u is None else _ONE
    if isinstance(expr, (sp.Abs, sp.floor, sp.ceiling)):
        return infer_unit(expr.args[0], env)
    if isinstance(expr, (sp.sign, sp.Heaviside)):
        u = infer_unit(expr.args[0], env)
        return None if u is None else _ONE
    if isinstance(expr, sp.Piecewise):
        values = []
        for value, cond in expr.args:
            values.append(infer_unit(value, env))
            _check_condition(cond, env)
        return _unify(values, lambda: f"the branches of {_short(expr)}")
    return None  # anything else is left unchecked


def _check_condition(cond: Any, env: dict[str, Unit | None]) -> None:
    if isinstance(cond, sp.core.relational.Relational):
        _unify([infer_unit(cond.lhs, env), infer_unit(cond.rhs, env)], lambda: f"the comparison {cond}")
    elif isinstance(cond, (sp.And, sp.Or, sp.Not)):
        for c in cond.args:
            _check_condition(c, env)


def _short(expr: Any, n: int = 60) -> str:
    s = str(expr)
    return s if len(s) <= n else s[: n - 3] + "..."


# ----------------------------------------------------------------------------- the model check

def _declared(model: Any) -> tuple[dict[str, Unit | None], Unit]:
    """Units of every name a rate may use; raises UnitError for unit text that cannot be read."""
    where = f"model {model.name!r}"
    env: dict[str, Unit | None] = {"t": _parse(TIME_UNIT)}
    for s in model.states:
        env[s.name] = parse_unit(s.unit, f"{where}: state {s.name!r}")
    for p in model.parameters:
        env[p.name] = parse_unit(p.unit, f"{where}: parameter {p.name!r}")
    for d in model.drugs:
        u = parse_unit(d.dose_unit, f"{where}: dose unit of drug {d.name!r}")
        if d.compartment is None:  # a direct-input drug's level is in its dose unit
            env[d.name] = u
    return env, _parse(TIME_UNIT)


def check_model_units(model: Any) -> None:
    """Check a model's units: readable, and every process, observable and drug dimensionally consistent.

    Parameters
    ----------
    model : Model
        The model (called by ``Model(...)`` unless ``check_units=False``).

    A model that declares no unit for any of its states and parameters (all ``""`` or None) is not
    checked at all: the time's unit (days) alone does not make ``sin(t)`` an error there.

    Raises
    ------
    UnitError
        Naming the process (or observable, or drug) and both units, e.g. ``process 'kill' has a rate in
        cell·mg/(L·day) but state 'S' changes in cell/day``.
    """
    where = f"model {model.name!r}"
    env, day = _declared(model)
    if all(env[n] is None for n in (*model.states.names, *model.parameters.names)):
        return  # a model that declares no unit of any state or parameter is not checked (not even sin(t))
    parameters = {sp.Symbol(n) for n in model.parameters.names}
    for p in model.processes:
        if not p.rate.free_symbols & parameters:  # no rate constant: it is implicit, its unit undeclared
            continue
        try:
            u = infer_unit(p.rate, env)
        except _Mismatch as err:
            raise UnitError(f"{where}: the rate of process {p.name!r} is not dimensionally consistent: {err}",
                            unit="") from None
        if not isinstance(u, Unit):  # unchecked, or a constant rate (its unit is not declared)
            continue
        for k in p.stoichiometry:
            su = env.get(k)
            if su is None:
                continue
            want = su / day
            got = u
            if got.same(want):
                continue
            r = got.ratio(want)
            extra = "" if r is None else f" (a factor {r:g} apart: values are not converted)"
            raise UnitError(
                f"{where}: process {p.name!r} has a rate in {got} but state {k!r} changes in {want}{extra}; "
                f"a rate is in the unit of each state it changes per {TIME_UNIT} (state {k!r} is in "
                f"{model.states[k].unit!r})",
                unit=str(got),
            )
    obs_env = dict(env)
    for o in model.observables:
        declared = parse_unit(o.unit, f"{where}: observable {o.name!r}")
        try:
            u = infer_unit(o.expr, obs_env)
        except _Mismatch as err:
            raise UnitError(f"{where}: observable {o.name!r} is not dimensionally consistent: {err}",
                            unit=o.unit) from None
        if declared is not None and isinstance(u, Unit) and not u.same(declared):
            r = u.ratio(declared)
            extra = "" if r is None else f" (a factor {r:g} apart: values are not converted)"
            raise UnitError(f"{where}: observable {o.name!r} is declared in {declared} but its expression "
                            f"{_short(o.expr)} is in {u}{extra}", unit=o.unit)
        obs_env[o.name] = declared if declared is not None else (u if isinstance(u, Unit) else None)
    for d in model.drugs:
        if d.compartment is None:
            continue
        dose = parse_unit(d.dose_unit, f"dose unit of drug {d.name!r}")
        if not isinstance(d.volume, str):  # a bare number: its unit is not declared
            continue
        vol = env.get(d.volume)
        vol_text = f"parameter {d.volume!r} ({model.parameters[d.volume].unit!r})"
        comp = env.get(d.compartment)
        if dose is None or vol is None or comp is None:
            continue
        if not (dose / vol).same(comp):
            hint = ""
            if (dose * _parse("kg")).ratio(_parse("mg")) is not None or \
                    (dose * _parse("m^2")).ratio(_parse("mg")) is not None:
                hint = ("; give doses per body weight or surface with Dose(..., unit='mg/kg') and the patient's "
                        "covariates, keeping the drug's dose_unit an amount such as 'mg'")
            raise UnitError(
                f"{where}: a dose of drug {d.name!r} in {dose} over its volume {vol_text} is in {dose / vol}, but "
                f"its compartment {d.compartment!r} is in {comp}{hint}", unit=d.dose_unit)



def convert_amount(amount: float, unit: str, target: str | None, covariates: dict[str, float] | None,
                   where: str) -> float:
    """Convert a dose amount (or rate) given in ``unit`` to ``target``, using a patient's covariates.

    A dose per body weight (``"mg/kg"``) is multiplied by ``weight_kg``, a dose per body-surface area
    (``"mg/m^2"``) by ``bsa_m2``; then the amount is converted to the target unit (``g`` to ``mg``...).

    Parameters
    ----------
    amount : float
        The amount, in ``unit``.
    unit : str
        Its unit, e.g. ``"mg"``, ``"mg/kg"``, ``"mg/m^2"``, ``"ug/kg"``.
    target : str or None
        The drug's dose unit (e.g. ``"mg"``).
    covariates : mapping or None
        ``{"weight_kg": 70.0, "bsa_m2": 1.8}`` (kg and m²); only the ones the unit needs are read.
    where : str
        The dose, for messages.

    Returns
    -------
    float
        The amount in ``target``.

    Raises
    ------
    UnitError
        If the units cannot be read, the drug has no dose unit, or no covariate makes the units agree.
    SpecificationError
        If the covariate the unit needs is missing or not a finite number > 0.
    """
    from .._validate import real_number
    from ..errors import SpecificationError

    src = parse_unit(unit, f"{where}: unit")
    if src is None:
        return float(amount)
    dst = parse_unit(target, f"{where}: the drug's dose unit")
    if dst is None:
        raise UnitError(f"{where}: a dose in {unit!r} cannot be converted because the drug declares no dose unit; "
                        "declare one (e.g. Drug(..., dose_unit='mg'))", unit=unit)
    key, r = _dose_covariate(src, dst, unit, target, where)
    if key is None:
        return float(amount) * r
    cov_unit = COVARIATES[key]
    cov = dict(covariates or {})
    if key not in cov:
        what = "body weight" if key == "weight_kg" else "body-surface area"
        raise SpecificationError(
            f"{where}: a dose in {unit!r} needs the patient's {what}: pass covariates={{{key!r}: ...}} "
            f"({cov_unit}) to simulate or Schedule.resolved")
    value = real_number(cov[key], f"{where}: covariate {key!r}", minimum=0.0, strict=True, unit=cov_unit)
    return float(amount) * value * r


def _dose_covariate(src: Unit, dst: Unit, unit: str, target: str | None, where: str) -> tuple[str | None, float]:
    """The covariate a dose in ``src`` needs to become ``dst`` (``None``: none) and the conversion factor."""
    r = src.ratio(dst)
    if r is not None:
        return None, r
    for key, cov_unit in COVARIATES.items():
        r = (src * _parse(cov_unit)).ratio(dst)
        if r is not None:
            return key, r
    raise UnitError(f"{where}: a dose in {unit!r} cannot be turned into the drug's dose unit {target!r}, "
                    "even per kg of body weight or per m² of body-surface area", unit=unit)


def dose_covariate(unit: str | None, target: str | None, where: str) -> str | None:
    """Which patient covariate (a key of :data:`COVARIATES`) a dose in ``unit`` needs to become ``target``.

    ``None`` for a dose without a unit, or one in an amount unit (``"g"`` to ``"mg"``); ``"weight_kg"``
    for a dose per body weight (``"mg/kg"``), ``"bsa_m2"`` for one per body-surface area (``"mg/m^2"``).
    The converted amount is then proportional to that covariate (:func:`convert_amount`).

    Raises
    ------
    UnitError
        As :func:`convert_amount`, for units that cannot be read or made to agree.
    """
    if unit is None:
        return None
    src = parse_unit(unit, f"{where}: unit")
    if src is None:
        return None
    dst = parse_unit(target, f"{where}: the drug's dose unit")
    if dst is None:
        raise UnitError(f"{where}: a dose in {unit!r} cannot be converted because the drug declares no dose unit; "
                        "declare one (e.g. Drug(..., dose_unit='mg'))", unit=unit)
    return _dose_covariate(src, dst, unit, target, where)[0]
