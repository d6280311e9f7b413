"""Model specification: states, parameters, processes, drugs and observables.

A model is a frozen value built from small frozen pieces. Dynamics are written as
*processes*: a rate (a sympy expression) and a stoichiometry (how many units of
each state the process consumes and produces per unit of rate). Writing the
equations this way makes positivity a structural, checkable property: every
process that consumes a non-negative state must have a rate that vanishes when
that state is zero.

Models compose from :class:`Module` values with ``+`` (or :func:`compose`), so a
tumor-clone module, a T-cell module, a TME module and PK modules can be combined
into one model.
"""

from __future__ import annotations

import warnings

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Generic, TypeVar, Union

import sympy as sp

from .._validate import real_number as _finite_float
from ._expr import check_name, check_real_constants, parse_expression
from ._events import Event
from ..errors import SpecificationError, SymbolicBudgetWarning, UnknownNameError

__all__ = [
    "State",
    "Parameter",
    "Process",
    "Drug",
    "Observable",
    "Module",
    "Model",
    "compose",
    "NamedTuple_",
    "TIME",
    "input_symbol",
]

#: The time symbol (days) that rates may use.
TIME = sp.Symbol("t")

ExprLike = Union[sp.Expr, str, float, int]


def input_symbol(drug: str) -> sp.Symbol:
    """Return the symbol of a drug's infusion input rate, ``u_<drug>``.

    Parameters
    ----------
    drug : str
        Name of the drug.

    Returns
    -------
    sympy.Symbol
        The symbol ``u_<drug>``; its value is the infusion rate in force (amount/day).
    """
    return sp.Symbol(f"u_{drug}")





# --- units (docs/units.md): text on the specs, parsed and checked by ._units when a Model is built ---
def _unit_text(unit: object, where: str) -> str:
    """A unit as stored on a spec: its text, ``""`` for unchecked (``None`` too)."""
    if unit is None:
        return ""
    if not isinstance(unit, str):
        raise TypeError(f"{where} must be text (e.g. '1/day', 'mg/L') or None, got {unit!r}")
    return unit
# --- end of units ---


def _to_expr(value: ExprLike, where: str) -> sp.Expr:
    if isinstance(value, str):
        return parse_expression(value, where=where)
    if isinstance(value, bool):
        raise TypeError(f"{where}: expected an expression, got bool {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(float(value)):
            raise SpecificationError(f"{where}: constant must be finite, got {value!r}")
        return sp.Float(value) if isinstance(value, float) else sp.Integer(value)
    if isinstance(value, sp.Basic):
        if not isinstance(value, sp.Expr):
            raise TypeError(f"{where}: expected a sympy expression, got {type(value).__name__}")
        _check_sympy_expr(value, where)
        return value
    raise TypeError(f"{where}: expected a sympy expression or a string, got {type(value).__name__}")


def _check_sympy_expr(expr: sp.Expr, where: str) -> None:
    """Refuse sympy expressions that cannot be compiled to real-valued numpy code."""
    if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise SpecificationError(f"{where}: expression {expr} contains an infinite or undefined constant")
    if expr.has(sp.I):
        raise SpecificationError(f"{where}: expression {expr} contains the imaginary unit; expressions must be real")
    check_real_constants(expr, where)
    undefined = expr.atoms(sp.core.function.AppliedUndef)
    if undefined:
        raise SpecificationError(
            f"{where}: expression {expr} calls undefined function(s) {sorted(map(str, undefined))}; "
            "use states, parameters and known functions (exp, log, sqrt, Abs, Min, Max, tanh...)"
        )
    for kind in (sp.Derivative, sp.Integral, sp.Subs):
        if expr.has(kind):
            raise SpecificationError(f"{where}: expression {expr} contains an unevaluated {kind.__name__}")


@dataclass(frozen=True)
class State:
    """A state variable of the ODE system.

    Parameters
    ----------
    name : str
        Identifier used in rate expressions (e.g. ``"S"``).
    initial : float, optional
        Default initial value, in ``unit``.
    unit : str, optional
        Unit of the state (e.g. ``"cells"``, ``"mg/L"``), parsed and checked when a model is built
        (see docs/units.md). Default ``""``: not declared, so unchecked (as ``None``).
    description : str, optional
        What the state is.
    nonnegative : bool, optional
        Whether the state is a population or amount that cannot be negative
        (default ``True``). Processes consuming it must vanish when it is zero.
    atol : float, optional
        Absolute solver tolerance for this state, in ``unit`` (default 1e-6).
        For cell counts about one cell is right.
    """

    name: str
    initial: float = 0.0
    unit: str = ""
    description: str = ""
    nonnegative: bool = True
    atol: float = 1e-6

    def __post_init__(self) -> None:
        check_name(self.name, "state")
        object.__setattr__(self, "unit", _unit_text(self.unit, f"unit of state {self.name!r}"))
        if not isinstance(self.nonnegative, bool):
            raise TypeError(f"`nonnegative` of state {self.name!r} must be True or False, got {self.nonnegative!r}")
        object.__setattr__(self, "initial", _finite_float(self.initial, f"initial value of state {self.name!r}"))
        object.__setattr__(self, "atol", _finite_float(self.atol, f"atol of state {self.name!r}"))
        if self.nonnegative and self.initial < 0:
            raise SpecificationError(
                f"initial value of non-negative state {self.name!r} is {self.initial}; it must be >= 0"
            )
        if self.atol <= 0:
            raise SpecificationError(f"atol of state {self.name!r} must be > 0, got {self.atol}")

    @property
    def symbol(self) -> sp.Symbol:
        """The sympy symbol of the state."""
        return sp.Symbol(self.name)


@dataclass(frozen=True)
class Parameter:
    """A model parameter with its default, bounds, unit and source.

    Parameters
    ----------
    name : str
        Identifier used in rate expressions.
    default : float
        Default value, in ``unit``.
    bounds : tuple of float, optional
        Plausible range ``(low, high)``; ``default`` must lie inside. Used as fit
        bounds and to validate overrides. Default ``(0, inf)``.
    unit : str, optional
        Unit (e.g. ``"1/day"``, ``"cells"``, ``"1/(cell day)"``), parsed and checked when a model is
        built (see docs/units.md); ``"1"`` is dimensionless. Default ``""``: not declared, so
        unchecked (as ``None``), like every rate or observable it enters.
    description : str, optional
        What the parameter means.
    source : str, optional
        Publication or stated assumption behind the default and range.
    """

    name: str
    default: float
    bounds: tuple[float, float] = (0.0, math.inf)
    unit: str = ""
    description: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, "parameter")
        object.__setattr__(self, "unit", _unit_text(self.unit, f"unit of parameter {self.name!r}"))
        default = _finite_float(self.default, f"default of parameter {self.name!r}")
        try:
            lo, hi = self.bounds
        except (TypeError, ValueError):
            raise TypeError(f"bounds of parameter {self.name!r} must be a pair (low, high), got {self.bounds!r}") from None
        try:
            lo, hi = float(lo), float(hi)
        except (TypeError, ValueError):
            raise TypeError(f"bounds of parameter {self.name!r} must be two numbers, got {self.bounds!r}") from None
        if math.isnan(lo) or math.isnan(hi) or lo > hi:
            raise SpecificationError(f"bounds of parameter {self.name!r} must satisfy low <= high, got ({lo}, {hi})")
        if not lo <= default <= hi:
            raise SpecificationError(
                f"default of parameter {self.name!r} is {default}, outside its bounds [{lo}, {hi}]"
            )
        object.__setattr__(self, "default", default)
        object.__setattr__(self, "bounds", (lo, hi))

    @property
    def symbol(self) -> sp.Symbol:
        """The sympy symbol of the parameter."""
        return sp.Symbol(self.name)

    def check_value(self, value: object, where: str = "") -> float:
        """Validate a value for this parameter and return it as a float.

        Parameters
        ----------
        value : float
            Candidate value, in the parameter's ``unit``.
        where : str, optional
            Where the value comes from, used in error messages.

        Returns
        -------
        float
            The value.

        Raises
        ------
        TypeError
            If the value is not a real number.
        SpecificationError
            If the value is not finite or lies outside ``bounds``.
        """
        loc = f" ({where})" if where else ""
        v = _finite_float(value, f"value of parameter {self.name!r}{loc}")
        lo, hi = self.bounds
        if not lo <= v <= hi:
            raise SpecificationError(
                f"value {v} of parameter {self.name!r}{loc} is outside its bounds [{lo}, {hi}]"
                + (f" ({self.unit})" if self.unit else "")
            )
        return v


def _stoich(value: Mapping[str, float] | Iterable[str] | str | None, role: str, process: str) -> tuple[tuple[str, float], ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        items: list[tuple[str, float]] = [(value, 1.0)]
    elif isinstance(value, Mapping):
        items = [(k, v) for k, v in value.items()]
    else:
        items = []
        for v in value:
            if isinstance(v, str):
                items.append((v, 1.0))
            else:
                try:
                    k, c = v
                except (TypeError, ValueError):
                    raise TypeError(f"process {process!r}: {role} must name states or map them to coefficients") from None
                items.append((k, c))
    out: dict[str, float] = {}
    for k, c in items:
        if not isinstance(k, str):
            raise TypeError(f"process {process!r}: {role} keys must be state names, got {k!r}")
        c = _finite_float(c, f"process {process!r}: coefficient of {k!r} in {role}")
        if c <= 0:
            raise SpecificationError(f"process {process!r}: coefficient of {k!r} in {role} must be > 0, got {c}")
        out[k] = out.get(k, 0.0) + c
    return tuple(sorted(out.items()))


@dataclass(frozen=True, init=False)
class Process:
    """A process: a rate and what it consumes and produces.

    The contribution of a process to ``d(state)/dt`` is
    ``(produced - consumed) * rate``.

    Parameters
    ----------
    name : str
        Identifier of the process (e.g. ``"kill_S"``).
    rate : sympy.Expr or str
        Rate expression in state, parameter and drug symbols (and ``t``, days),
        in units of the states' unit per day. A string is parsed safely.
    consumes : str, iterable of str or mapping, optional
        States consumed, with coefficients (default 1 each).
    produces : str, iterable of str or mapping, optional
        States produced, with coefficients (default 1 each).
    description : str, optional
        What the process is.

    Examples
    --------
    >>> p = Process("kill", "k*E*S/(h + S)", consumes="S")
    >>> p.stoichiometry
    {'S': -1.0}
    """

    name: str
    rate: sp.Expr
    consumes: tuple[tuple[str, float], ...]
    produces: tuple[tuple[str, float], ...]
    description: str

    def __init__(
        self,
        name: str,
        rate: ExprLike,
        consumes: Mapping[str, float] | Iterable[str] | str | None = None,
        produces: Mapping[str, float] | Iterable[str] | str | None = None,
        description: str = "",
    ) -> None:
        check_name(name, "process")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "rate", _to_expr(rate, f"rate of process {name!r}"))
        object.__setattr__(self, "consumes", _stoich(consumes, "consumes", name))
        object.__setattr__(self, "produces", _stoich(produces, "produces", name))
        object.__setattr__(self, "description", str(description))
        if not self.consumes and not self.produces:
            raise SpecificationError(f"process {name!r} neither consumes nor produces any state")

    @property
    def stoichiometry(self) -> dict[str, float]:
        """Net coefficient per state (produced minus consumed), zeros dropped."""
        net: dict[str, float] = {}
        for k, c in self.consumes:
            net[k] = net.get(k, 0.0) - c
        for k, c in self.produces:
            net[k] = net.get(k, 0.0) + c
        return {k: v for k, v in net.items() if v != 0.0}


@dataclass(frozen=True)
class Drug:
    """A drug and where its doses go.

    Parameters
    ----------
    name : str
        Identifier used by schedules (``Dose(time, drug, amount)``).
    compartment : str or None
        Name of the state holding the drug's concentration. A bolus dose of
        ``amount`` raises it by ``amount / volume``; an infusion of ``rate``
        (amount/day) adds ``rate / volume`` per day. Elimination is an ordinary
        process of the model. ``None`` makes a *direct-input* drug without
        pharmacokinetics: its level in rate expressions is the symbol ``name``
        and equals the infusion rate in force (on/off drugs, e.g. Zhang 2017);
        such a drug takes infusions only.
    volume : float or str, optional
        Volume of distribution (L), or the name of a parameter holding it.
    dose_unit : str, optional
        Unit of dose amounts (e.g. ``"mg"``; default). A bolus in ``dose_unit`` over the volume (L, or
        the volume parameter's unit) must be in the compartment's unit. A direct-input drug's level (and
        the rate of an infusion of it) is in ``dose_unit``. Doses per body weight or surface are given on
        the dose (``Dose(..., unit="mg/kg")``), not here. ``""`` or ``None`` leaves it unchecked.
    description : str, optional
        What the drug is.
    """

    name: str
    compartment: str | None
    volume: float | str = 1.0
    dose_unit: str = "mg"
    description: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, "drug")
        object.__setattr__(self, "dose_unit", _unit_text(self.dose_unit, f"dose unit of drug {self.name!r}"))
        if self.compartment is not None and not isinstance(self.compartment, str):
            raise TypeError(f"compartment of drug {self.name!r} must be a state name or None")
        if isinstance(self.volume, str):
            check_name(self.volume, f"volume parameter of drug {self.name!r}")
        else:
            v = _finite_float(self.volume, f"volume of drug {self.name!r}")
            if v <= 0:
                raise SpecificationError(f"volume of drug {self.name!r} must be > 0, got {v}")
            object.__setattr__(self, "volume", v)

    @property
    def level_symbol(self) -> sp.Symbol:
        """Symbol of the drug's level in rate expressions (its compartment state, or its name)."""
        return sp.Symbol(self.compartment if self.compartment is not None else self.name)


@dataclass(frozen=True, init=False)
class Observable:
    """A named quantity computed from states, parameters and drug levels.

    Parameters
    ----------
    name : str
        Identifier (e.g. ``"tumor_burden"``).
    expr : sympy.Expr or str
        Expression in states, parameters, drug levels and earlier observables.
    unit : str, optional
        Unit of the value, checked against the expression's when a model is built; ``""`` (default)
        or ``None`` leaves it unchecked.
    description : str, optional
        What it measures.
    """

    name: str
    expr: sp.Expr
    unit: str
    description: str

    def __init__(self, name: str, expr: ExprLike, unit: str = "", description: str = "") -> None:
        check_name(name, "observable")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "expr", _to_expr(expr, f"observable {name!r}"))
        object.__setattr__(self, "unit", _unit_text(unit, f"unit of observable {name!r}"))
        object.__setattr__(self, "description", str(description))


T = TypeVar("T", State, Parameter, Process, Drug, Observable)


class NamedTuple_(Generic[T]):
    """An immutable, ordered collection of named items with lookup by name.

    Iterating yields the items; ``coll["name"]`` returns one (an unknown name
    raises :class:`~tumordyn.errors.UnknownNameError` suggesting the closest);
    ``coll.names`` lists the names in order.
    """

    __slots__ = ("_items", "_index", "_kind", "_where")

    def __init__(self, items: Iterable[T], kind: str, where: str = "") -> None:
        items = tuple(items)
        object.__setattr__(self, "_items", items)
        object.__setattr__(self, "_index", {it.name: i for i, it in enumerate(items)})
        object.__setattr__(self, "_kind", kind)
        object.__setattr__(self, "_where", where)

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(f"the {self._kind} collection is immutable (cannot set {key!r})")

    def __delattr__(self, key: str) -> None:
        raise AttributeError(f"the {self._kind} collection is immutable (cannot delete {key!r})")

    def __reduce__(self) -> tuple[Any, ...]:
        return (NamedTuple_, (self._items, self._kind, self._where))

    def __getitem__(self, key: str | int) -> T:
        if isinstance(key, int):
            return self._items[key]
        try:
            return self._items[self._index[key]]
        except KeyError:
            raise UnknownNameError(self._kind, key, self._index, self._where) from None

    def __iter__(self) -> Iterator[T]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __eq__(self, other: object) -> bool:
        if isinstance(other, NamedTuple_):
            return self._items == other._items
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._items)

    def index(self, name: str) -> int:
        """Position of ``name`` in the collection.

        Parameters
        ----------
        name : str
            Name of an item.

        Returns
        -------
        int
            Its index (the state's row in state vectors, the parameter's in parameter vectors).

        Raises
        ------
        UnknownNameError
            If there is no such item (the closest names are suggested).
        """
        if name not in self._index:
            raise UnknownNameError(self._kind, name, self._index, self._where)
        return self._index[name]

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the items, in order."""
        return tuple(it.name for it in self._items)

    def __repr__(self) -> str:
        return f"<{len(self)} {self._kind}s: {', '.join(self.names)}>"


def _merge(kind: str, a: Iterable[Any], b: Iterable[Any], where: str) -> tuple[Any, ...]:
    out: dict[str, Any] = {}
    for item in (*a, *b):
        prev = out.get(item.name)
        if prev is None:
            out[item.name] = item
        elif prev != item:
            raise SpecificationError(
                f"{kind} {item.name!r} is defined twice with different specifications in {where}: "
                f"{prev!r} vs {item!r}; rename one or make them identical"
            )
    return tuple(out.values())


@dataclass(frozen=True)
class Module:
    """A piece of a model (e.g. tumor clones, T cells, TME, one drug's PK).

    Modules are not validated on their own (a module may use symbols that
    another module defines); combine them with ``+`` and turn the result into a
    :class:`Model` with :func:`compose`. Items with the same name must be
    identical in both operands.

    Parameters
    ----------
    name : str
        Name of the module.
    states, parameters, processes, drugs, observables : iterables
        The pieces the module contributes.
    """

    name: str
    states: tuple[State, ...] = ()
    parameters: tuple[Parameter, ...] = ()
    processes: tuple[Process, ...] = ()
    drugs: tuple[Drug, ...] = ()
    observables: tuple[Observable, ...] = ()

    def __post_init__(self) -> None:
        for fname, cls in (
            ("states", State),
            ("parameters", Parameter),
            ("processes", Process),
            ("drugs", Drug),
            ("observables", Observable),
        ):
            items = tuple(getattr(self, fname))
            for it in items:
                if not isinstance(it, cls):
                    raise TypeError(f"module {self.name!r}: {fname} must contain {cls.__name__} objects, got {it!r}")
            object.__setattr__(self, fname, _merge(cls.__name__.lower(), (), items, f"module {self.name!r}"))

    def __add__(self, other: Module) -> Module:
        if not isinstance(other, Module):
            return NotImplemented
        where = f"{self.name} + {other.name}"
        return Module(
            name=where,
            states=_merge("state", self.states, other.states, where),
            parameters=_merge("parameter", self.parameters, other.parameters, where),
            processes=_merge("process", self.processes, other.processes, where),
            drugs=_merge("drug", self.drugs, other.drugs, where),
            observables=_merge("observable", self.observables, other.observables, where),
        )

    # --- namespaces (several copies of a module in one model) ------------------------------
    def namespaced(self, prefix: str, keep: Iterable[str] = ()) -> Module:
        """A copy of the module whose own names carry a prefix, so several copies compose.

        Every state, parameter and observable the module *defines* is renamed
        ``<prefix>_<name>`` (and so is its symbol in every rate and observable
        expression), except the names in ``keep``, which stay shared between the
        copies (unchanged, so identical copies merge); every process is renamed
        ``<prefix>_<name>``. Symbols the module uses but does not define (a drug's concentration,
        a parameter or state of another module, ``t``) are left alone: they are the
        systemic quantities the copies share. Units, bounds, defaults and sources are
        unchanged; descriptions get ``[<prefix>]`` appended.

        Put every module of one copy (e.g. a lesion's clones, T cells and
        observables) in one namespace (sum them first): a name one module defines and
        another uses is renamed only where it is defined.

        Parameters
        ----------
        prefix : str
            The namespace (an identifier, e.g. ``"liver_1"``).
        keep : iterable of str
            Names defined by the module that stay unprefixed (shared by all copies:
            e.g. a parameter of the patient's immune system).

        Returns
        -------
        Module
            Named ``"<prefix>.<module name>"``.

        Raises
        ------
        SpecificationError
            If ``prefix`` is not a valid name, the module declares a drug (drugs and
            their pharmacokinetics are systemic: put them in a module outside the
            namespace), or a prefixed name is not a valid name.

        Examples
        --------
        >>> import sympy as sp
        >>> m = Module("growth", states=(State("N", 1.0),), parameters=(Parameter("r", 0.1),),
        ...            processes=(Process("birth", "r * N", produces="N"),))
        >>> liver = m.namespaced("liver", keep=["r"])
        >>> [s.name for s in liver.states], [p.name for p in liver.parameters], str(liver.processes[0].rate)
        (['liver_N'], ['r'], 'liver_N*r')
        """
        check_name(prefix, "namespace")
        if isinstance(keep, str):
            keep = (keep,)
        kept = set()
        for k in keep:
            if not isinstance(k, str):
                raise TypeError(f"namespace {prefix!r}: keep must hold names (str), got {k!r}")
            kept.add(k)
        if self.drugs:
            raise SpecificationError(
                f"namespace {prefix!r}: module {self.name!r} declares drug(s) "
                f"{', '.join(d.name for d in self.drugs)}; drugs and their pharmacokinetics are systemic, so "
                "compose them outside the namespaces (the namespaced modules use the drug levels as they are)"
            )
        defined = {*(x.name for x in self.states), *(x.name for x in self.parameters),
                   *(x.name for x in self.observables)}
        ren = {n: f"{prefix}_{n}" for n in defined - kept}
        for new in ren.values():
            check_name(new, f"namespaced name (namespace {prefix!r})")
        subs = {sp.Symbol(o): sp.Symbol(n) for o, n in ren.items()}

        def rn(name: str) -> str:
            return ren.get(name, name)

        def desc(text: str) -> str:
            return f"{text} [{prefix}]" if text else f"[{prefix}]"

        states = tuple(x if x.name in kept else replace(x, name=rn(x.name), description=desc(x.description))
                       for x in self.states)
        params = tuple(x if x.name in kept else replace(x, name=rn(x.name), description=desc(x.description))
                       for x in self.parameters)
        procs = tuple(
            Process(f"{prefix}_{x.name}", x.rate.xreplace(subs),
                    consumes={rn(k): c for k, c in x.consumes}, produces={rn(k): c for k, c in x.produces},
                    description=desc(x.description))
            for x in self.processes
        )
        obs = tuple(x if x.name in kept else Observable(rn(x.name), x.expr.xreplace(subs), x.unit, desc(x.description))
                    for x in self.observables)
        return Module(f"{prefix}.{self.name}", states, params, procs, (), obs)


def _a(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


#: Largest expression (in tree nodes) given to an unbounded symbolic routine (``simplify``, ``limit``,
#: sign queries); larger ones are checked numerically at sampled points, with a SymbolicBudgetWarning.
SYMBOLIC_BUDGET = 60

#: Largest rate (in tree nodes) whose sign is queried symbolically (sympy's assumptions: roughly linear,
#: about 0.1 ms per node); larger ones are checked numerically, with a SymbolicBudgetWarning.
SIGN_BUDGET = 2_000

_SAMPLE_SEED = 20_261_130


def _tree_size(expr: sp.Expr, limit: int) -> int:
    """Nodes of ``expr``, counted up to ``limit + 1`` (bounded work)."""
    n = 0
    for _ in sp.preorder_traversal(expr):
        n += 1
        if n > limit:
            break
    return n


def _sample_values(expr: sp.Expr, positive: bool = True, n: int = 5) -> list[float] | None:
    """Values of ``expr`` with each symbol replaced by a seeded log-uniform draw in [0.01, 100] (no code run).

    Returns ``None`` if a value is not a finite real number at some point.
    """
    import numpy as np

    rng = np.random.default_rng(_SAMPLE_SEED)
    symbols = sorted(expr.free_symbols, key=lambda s: s.name)
    out = []
    for _ in range(n):
        point = {s: sp.Float(float(10 ** rng.uniform(-2, 2))) for s in symbols}
        try:
            v = complex(sp.N(expr.xreplace(point)))
        except (TypeError, ValueError, OverflowError, ZeroDivisionError):
            return None
        if v.imag != 0 or not math.isfinite(v.real):
            return None
        out.append(v.real)
    return out


def _numerically_zero(expr: sp.Expr) -> bool:
    """Whether ``expr`` is zero at every sampled point, to 1e-9 of the size of its terms."""
    values = _sample_values(expr)
    scales = _sample_values(sp.Add(*[abs(a) for a in sp.Add.make_args(expr)]))
    if values is None or scales is None:
        return False
    return all(abs(v) <= 1e-9 * max(s, 1e-300) for v, s in zip(values, scales))


def _budget_warning(what: str, expr: sp.Expr, budget: int | None = None) -> None:
    warnings.warn(
        f"{what}: the expression has more than {budget or SYMBOLIC_BUDGET} nodes, too large for a symbolic proof "
        "within budget; checked numerically at 5 sampled points instead",
        SymbolicBudgetWarning,
        stacklevel=3,
    )


_INFINITIES = (sp.nan, sp.zoo, sp.oo, -sp.oo)


_PLAIN = {"commutative": True}  # the assumptions of sp.Symbol(name): nothing known (finite or not, zero or not)


def _finite_by_form(expr: sp.Expr) -> bool:
    """No infinite atom (``nan``, ``zoo``, ``oo``) in ``expr`` and only symbols without assumptions (a symbol
    assumed infinite, or zero, makes sympy evaluate differently: those expressions are left to sympy)."""
    return not expr.has(*_INFINITIES) and all(x.assumptions0 == _PLAIN for x in expr.free_symbols)


#: Deepest nesting the form checks below follow; anything deeper is left to sympy ("not decided by form").
_FORM_DEPTH = 60


def _finite_at_zero_by_form(f: sp.Expr, state: sp.Symbol, depth: int = 0) -> bool:
    """Whether ``f`` stays finite, by its form, when ``state`` is replaced by 0: free of ``state``, or sums,
    products and non-negative numeric powers of such pieces, or a negative numeric power of a sum with at
    least one term free of ``state`` and every other term zero at ``state = 0`` by form (the terms of a sum
    are distinct, so the remaining ones do not cancel to a literal 0). ``False``: not decided by form."""
    if state not in f.free_symbols:
        return _finite_by_form(f)
    if f == state:
        return True
    if f.is_Add or f.is_Mul:
        return depth < _FORM_DEPTH and all(_finite_at_zero_by_form(a, state, depth + 1) for a in f.args)
    if f.is_Pow and f.exp.is_Number and _finite_by_form(f.exp):
        if depth >= _FORM_DEPTH or not _finite_at_zero_by_form(f.base, state, depth + 1):
            return False
        if not f.exp.is_negative:
            return True
        if not f.base.is_Add:
            return False
        kept = [a for a in f.base.args if state not in a.free_symbols]
        return bool(kept) and all(_zero_by_form(a, state, depth + 1) for a in f.base.args if state in a.free_symbols)
    return False


def _zero_by_form(rate: sp.Expr, state: sp.Symbol, depth: int = 0) -> bool:
    """Whether ``rate`` is zero at ``state = 0`` by its form alone (no substitution, no assumption query).

    True for ``state`` (or a positive numeric power of it) times factors that stay finite at ``state = 0``
    by form (:func:`_finite_at_zero_by_form`), and for a sum of such terms: rates whose
    ``rate.subs(state, 0)`` sympy evaluates to ``0`` (``0 * g`` is ``0`` for every ``g`` not known to be
    infinite). ``False`` means "not decided by form", not "does not vanish": :func:`vanishes_at_zero` then
    asks sympy.
    """
    if depth >= _FORM_DEPTH:
        return False
    for term in sp.Add.make_args(rate):
        has_state = False
        for f in sp.Mul.make_args(term):
            if not has_state and (f == state or (f.is_Pow and f.base == state and f.exp.is_Number
                                                 and f.exp.is_positive and _finite_by_form(f.exp))):
                has_state = True
            elif not _finite_at_zero_by_form(f, state, depth + 1):
                return False
        if not has_state:
            return False
    return True


def _nonnegative_by_form(expr: sp.Expr, nonnegative: frozenset[sp.Symbol], depth: int = 0) -> bool:
    """Whether ``expr`` is ``>= 0`` (or undefined) wherever the symbols in ``nonnegative`` are ``>= 0`` and
    all others real, by its form alone: sums, products and powers of those symbols and of non-negative numbers
    (a power's base non-negative, its exponent a number or of that form). ``False`` means "not decided by
    form": the caller asks sympy. Follows at most :data:`_FORM_DEPTH` levels of nesting.
    """
    if expr.is_Symbol:
        return expr in nonnegative
    if expr.is_Number:
        return bool(expr.is_Rational or expr.is_Float) and not expr.is_negative
    if expr.is_Add or expr.is_Mul:
        return depth < _FORM_DEPTH and all(_nonnegative_by_form(a, nonnegative, depth + 1) for a in expr.args)
    if expr.is_Pow:
        e = expr.exp
        return depth < _FORM_DEPTH and _nonnegative_by_form(expr.base, nonnegative, depth + 1) and (
            bool(e.is_Rational or e.is_Float) or _nonnegative_by_form(e, nonnegative, depth + 1))
    return False


def vanishes_at_zero(rate: sp.Expr, state: sp.Symbol) -> bool:
    """Whether ``rate`` is zero when ``state`` is zero (symbolically, or numerically beyond the budget).

    Symbolic routines that can run unbounded (``simplify``, ``limit``) only see expressions of at most
    :data:`SYMBOLIC_BUDGET` nodes; a larger one is checked numerically at sampled points, with a
    :class:`~tumordyn.errors.SymbolicBudgetWarning`. A rate of the form ``state * g`` (``g`` free of
    ``state``; or a sum of such terms) is recognised by form, without sympy's substitution.
    """
    if state not in rate.free_symbols:
        return False
    if _zero_by_form(rate, state):
        return True
    at_zero = rate.subs(state, 0)
    if at_zero == 0:
        return True
    within = _tree_size(rate, SYMBOLIC_BUDGET) <= SYMBOLIC_BUDGET
    if at_zero.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
        if within:
            limit = sp.limit(rate, state, 0, "+")
            return limit == 0
        _budget_warning(f"structural positivity of {state} (limit at 0)", rate)
        near = _sample_values(rate.subs(state, sp.Float(1e-12)))
        far = _sample_values(rate.subs(state, sp.Float(1.0)))
        if near is None or far is None:
            return False
        return all(abs(a) <= 1e-6 * max(abs(b), 1e-300) for a, b in zip(near, far))
    if _tree_size(at_zero, SYMBOLIC_BUDGET) <= SYMBOLIC_BUDGET:
        return sp.simplify(at_zero) == 0
    _budget_warning(f"structural positivity of {state}", at_zero)
    return _numerically_zero(at_zero)


class Model:
    """A validated ODE model: states, parameters, processes, drugs, observables.

    Construction checks every rule and raises an error naming the culprit:
    duplicate names, undefined symbols in a rate or observable, a process that
    consumes a non-negative state with a rate that does not vanish when the
    state is zero (structural positivity), a drug whose compartment or volume
    parameter does not exist.

    Parameters
    ----------
    name : str
        Name of the model.
    states, parameters, processes, drugs, observables : iterables
        The pieces (see :class:`State`, :class:`Parameter`, :class:`Process`,
        :class:`Drug`, :class:`Observable`).
    description : str, optional
        A sentence on what the model is.
    check_positivity : bool, optional
        Run the structural positivity check (default ``True``).
    events : iterable of Event, optional
        Discrete changes of states when a condition becomes true (:class:`~tumordyn.spec.Event`,
        SBML Level 3 semantics); they assign states only. Default: none.
    check_units : bool, optional
        Check units (default ``True``): every unit must be readable, every process rate in the unit
        of each state it changes per day, every observable in its declared unit and a bolus over
        the drug's volume in its compartment's unit (a :class:`~tumordyn.errors.UnitError` names the
        culprit and both units). ``False`` keeps the unit text as free text. See docs/units.md.

    Attributes
    ----------
    states, parameters, processes, drugs, observables
        Ordered collections with lookup by name (``model.parameters["K"]``).

    Examples
    --------
    >>> m = Model("logistic",
    ...     states=[State("N", initial=10.0)],
    ...     parameters=[Parameter("r", 0.5, unit="1/day"), Parameter("K", 1e3, unit="cells")],
    ...     processes=[Process("birth", "r*N", produces="N"),
    ...                Process("crowding", "r*N**2/K", consumes="N")])
    >>> m.rhs_expressions()["N"]
    N*r - N**2*r/K
    """

    def __init__(
        self,
        name: str,
        states: Iterable[State] = (),
        parameters: Iterable[Parameter] = (),
        processes: Iterable[Process] = (),
        drugs: Iterable[Drug] = (),
        observables: Iterable[Observable] = (),
        description: str = "",
        check_positivity: bool = True,
        check_units: bool = True,
        events: Iterable[Event] = (),
    ) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError("model name must be a non-empty string")
        self._name = name
        self._description = str(description)
        where = f"model {name!r}"
        st = self._checked("states", states, State)
        pa = self._checked("parameters", parameters, Parameter)
        pr = self._checked("processes", processes, Process)
        dr = self._checked("drugs", drugs, Drug)
        ob = self._checked("observables", observables, Observable)
        ev = self._checked("events", events, Event)
        self.states: NamedTuple_[State] = NamedTuple_(st, "state", where)
        self.parameters: NamedTuple_[Parameter] = NamedTuple_(pa, "parameter", where)
        self.processes: NamedTuple_[Process] = NamedTuple_(pr, "process", where)
        self.drugs: NamedTuple_[Drug] = NamedTuple_(dr, "drug", where)
        self.observables: NamedTuple_[Observable] = NamedTuple_(ob, "observable", where)
        self.events: tuple[Event, ...] = ev
        self._check_positivity = bool(check_positivity)
        self._check_units = bool(check_units)
        self._validate()

    # -- construction helpers ----------------------------------------------------------
    def _checked(self, fname: str, items: Iterable[Any], cls: type) -> tuple[Any, ...]:
        items = tuple(items)
        seen: set[str] = set()
        for it in items:
            if not isinstance(it, cls):
                raise TypeError(f"model {self._name!r}: {fname} must contain {cls.__name__} objects, got {it!r}")
            if it.name in seen:
                raise SpecificationError(f"model {self._name!r}: duplicate {cls.__name__.lower()} name {it.name!r}")
            seen.add(it.name)
        return items

    def _validate(self) -> None:
        where = f"model {self._name!r}"
        if not len(self.states):
            raise SpecificationError(f"{where} has no states")
        # one namespace for states, parameters, direct-input drug levels and observables
        owners: dict[str, str] = {}
        direct = [d.name for d in self.drugs if d.compartment is None]
        for kind, names in (
            ("state", self.states.names),
            ("parameter", self.parameters.names),
            ("drug", direct),
            ("observable", self.observables.names),
        ):
            for n in names:
                if n in owners:
                    raise SpecificationError(
                        f"{where}: name {n!r} is used by both {_a(owners[n])} and {_a(kind)}; names of states, "
                        "parameters, direct-input drugs and observables share one namespace"
                    )
                owners[n] = kind
        for n in owners:
            if n.startswith("u_") and n[2:] in self.drugs:
                raise SpecificationError(f"{where}: name {n!r} is reserved for the infusion input of drug {n[2:]!r}")
        for d in self.drugs:
            if d.compartment is not None:
                if d.compartment not in self.states:
                    raise UnknownNameError("state", d.compartment, self.states.names, f"compartment of drug {d.name!r}")
            if isinstance(d.volume, str) and d.volume not in self.parameters:
                raise UnknownNameError("parameter", d.volume, self.parameters.names, f"volume of drug {d.name!r}")
        rate_names = set(self.states.names) | set(self.parameters.names) | set(direct) | {"t"}
        for p in self.processes:
            for sym in p.rate.free_symbols:
                if sym.name not in rate_names:
                    raise UnknownNameError("symbol", sym.name, rate_names, f"rate of process {p.name!r} of {where}")
            for k, _ in (*p.consumes, *p.produces):
                if k not in self.states:
                    raise UnknownNameError("state", k, self.states.names, f"stoichiometry of process {p.name!r}")
        obs_names = set(rate_names)
        for o in self.observables:
            for sym in o.expr.free_symbols:
                if sym.name not in obs_names:
                    raise UnknownNameError(
                        "symbol", sym.name, obs_names, f"observable {o.name!r} of {where} (observables may use earlier ones)"
                    )
            obs_names.add(o.name)
        for e in self.events:  # assignment targets are states; triggers, values, delays of known symbols
            e.check(self.states.names, set(self.parameters.names), where)
        if self._check_positivity:
            for problem in self.positivity_violations():
                raise SpecificationError(f"{where}: {problem}")
        if self._check_units:  # units (docs/units.md); pint is imported here, on the first build
            from ._units import check_model_units

            check_model_units(self)

    # -- basic properties --------------------------------------------------------------
    @property
    def name(self) -> str:
        """Name of the model."""
        return self._name

    @property
    def description(self) -> str:
        """One-sentence description."""
        return self._description

    @property
    def units_checked(self) -> bool:
        """Whether the model's units were checked when it was built (``check_units``)."""
        return self._check_units

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Model):
            return NotImplemented
        return self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    @cached_property
    def _key(self) -> tuple[Any, ...]:
        return (
            self._name,
            tuple(self.states),
            tuple(self.parameters),
            tuple(self.processes),
            tuple(self.drugs),
            tuple(self.observables),
            self.events,
        )

    def __setattr__(self, key: str, value: Any) -> None:
        if getattr(self, "_frozen", False):
            raise AttributeError(f"Model is immutable; use model.replace(...) or with_defaults(...) instead of setting {key!r}")
        object.__setattr__(self, key, value)

    def __delattr__(self, key: str) -> None:
        raise AttributeError(f"Model is immutable; cannot delete {key!r}")

    def __getstate__(self) -> dict[str, Any]:
        # the compiled functions are generated code (not picklable); a worker process rebuilds them on first use
        return {k: v for k, v in self.__dict__.items() if k not in ("_compiled_model", "_key")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def as_module(self) -> Module:
        """Return the model's pieces as a :class:`Module` (to compose with others).

        Returns
        -------
        Module
            A module named like the model, holding all its items.
        """
        return Module(
            self._name,
            tuple(self.states),
            tuple(self.parameters),
            tuple(self.processes),
            tuple(self.drugs),
            tuple(self.observables),
        )

    def replace(self, **changes: Any) -> Model:
        """Return a new, validated model with some fields replaced.

        Parameters
        ----------
        **changes
            New values for ``name``, ``states``, ``parameters``, ``processes``,
            ``drugs``, ``observables``, ``events``, ``description``, ``check_positivity`` or ``check_units``.

        Returns
        -------
        Model
            The new model (this one is unchanged).

        Raises
        ------
        TypeError
            For an unknown field.
        """
        kw: dict[str, Any] = dict(
            name=self._name,
            states=tuple(self.states),
            parameters=tuple(self.parameters),
            processes=tuple(self.processes),
            drugs=tuple(self.drugs),
            observables=tuple(self.observables),
            events=self.events,
            description=self._description,
            check_positivity=self._check_positivity,
            check_units=self._check_units,
        )
        unknown = set(changes) - set(kw)
        if unknown:
            raise TypeError(f"replace() got unknown field(s) {sorted(unknown)}; allowed: {sorted(kw)}")
        kw.update(changes)
        return Model(**kw)

    def with_defaults(self, **values: float) -> Model:
        """Return a copy whose parameter defaults are changed (values checked against bounds).

        Parameters
        ----------
        **values : float
            New defaults by parameter name, in each parameter's unit.

        Returns
        -------
        Model
            The new model (this one is unchanged).

        Raises
        ------
        UnknownNameError
            For an unknown parameter name.
        SpecificationError
            For a value that is not finite or lies outside the parameter's bounds.

        Examples
        --------
        >>> m = Model("decay", states=[State("x", 1.0)], parameters=[Parameter("k", 1.0)],
        ...           processes=[Process("loss", "k*x", consumes="x")])
        >>> m.with_defaults(k=2.0).parameters["k"].default
        2.0
        """
        params = []
        for name in values:
            self.parameters.index(name)
        for p in self.parameters:
            if p.name in values:
                params.append(replace(p, default=p.check_value(values[p.name])))
            else:
                params.append(p)
        return self.replace(parameters=tuple(params))

    def with_initial(self, **values: float) -> Model:
        """Return a copy whose default initial values are changed.

        Parameters
        ----------
        **values : float
            New initial values by state name, in each state's unit.

        Returns
        -------
        Model
            The new model (this one is unchanged).

        Raises
        ------
        UnknownNameError
            For an unknown state name.
        SpecificationError
            For a non-finite value, or a negative value of a non-negative state.
        """
        for name in values:
            self.states.index(name)
        states = [replace(s, initial=values[s.name]) if s.name in values else s for s in self.states]
        return self.replace(states=tuple(states))

    # -- symbolic views ----------------------------------------------------------------
    def positivity_violations(self) -> list[str]:
        """List processes that could drive a non-negative state below zero.

        A process that consumes a non-negative state must have a rate that is
        zero when that state is zero. Returns one message per violation (an
        empty list when the model is structurally positive).
        """
        problems = []
        for p in self.processes:
            for k, _ in p.consumes:
                s = self.states[k]
                if not s.nonnegative:
                    continue
                if not vanishes_at_zero(p.rate, s.symbol):
                    problems.append(
                        f"process {p.name!r} consumes non-negative state {k!r} but its rate {p.rate} "
                        f"does not vanish when {k} = 0 (structural positivity); multiply the rate by {k} "
                        "or a factor that is zero when it is"
                    )
        # a process producing a non-negative state must not have a rate that is negative
        # when that state is zero (a sign error turning production into an outflow)
        assumed: dict[sp.Symbol, sp.Symbol] = {TIME: sp.Symbol("t", nonnegative=True)}
        for s in self.states:
            assumed[s.symbol] = sp.Symbol(s.name, nonnegative=True) if s.nonnegative else sp.Symbol(s.name, real=True)
        for par in self.parameters:
            lo = par.bounds[0]
            # a parameter at 0 switches its term off: the sign that matters is for positive values
            assumed[par.symbol] = sp.Symbol(par.name, positive=True) if lo >= 0 else sp.Symbol(par.name, real=True)
        for d in self.drugs:
            if d.compartment is None:
                assumed[sp.Symbol(d.name)] = sp.Symbol(d.name, nonnegative=True)
        # the symbols (as the rates spell them) that the query assumes non-negative
        nonnegative = frozenset(k for k, v in assumed.items() if v.is_nonnegative)
        for p in self.processes:
            for k, c in p.stoichiometry.items():
                s = self.states[k]
                if c <= 0 or not s.nonnegative:
                    continue
                if _tree_size(p.rate, SIGN_BUDGET) > SIGN_BUDGET:
                    _budget_warning(f"sign of the rate of process {p.name!r} at {k} = 0", p.rate, SIGN_BUDGET)
                    values = _sample_values(p.rate.subs(s.symbol, 0))
                    negative = values is not None and all(v < 0 for v in values)
                    at_zero = p.rate.subs(s.symbol, 0)
                elif _zero_by_form(p.rate, s.symbol) or _nonnegative_by_form(p.rate, nonnegative):
                    negative = False  # zero, or >= 0, at k = 0 by its form: sympy's query is not needed
                else:
                    at_zero = p.rate.xreplace(assumed).subs(assumed[s.symbol], 0)
                    negative = at_zero.is_negative is True
                if negative:
                    problems.append(
                        f"process {p.name!r} produces non-negative state {k!r} but its rate {p.rate} is negative "
                        f"({at_zero}) when {k} = 0, which would drive {k} below zero; check the sign"
                    )
        return problems

    def rhs_expressions(self, inputs: bool = True) -> dict[str, sp.Expr]:
        """Right-hand sides ``d(state)/dt`` as sympy expressions, by state name.

        Parameters
        ----------
        inputs : bool, optional
            Include infusion inputs: a drug's input ``u_<drug>`` (amount/day)
            divided by its volume enters its compartment; a direct-input drug's
            level is replaced by ``u_<drug>``. With ``False`` the inputs are
            left out and direct-input drug levels stay as their symbols.

        Returns
        -------
        dict of str to sympy.Expr
            One expression per state, in the order of ``model.states``.
        """
        rhs: dict[str, sp.Expr] = {s.name: sp.Integer(0) for s in self.states}
        for p in self.processes:
            for k, c in p.stoichiometry.items():
                term = p.rate if c == 1.0 else (sp.Integer(-1) * p.rate if c == -1.0 else sp.Float(c) * p.rate)
                rhs[k] = rhs[k] + term
        if inputs:
            subs = {sp.Symbol(d.name): input_symbol(d.name) for d in self.drugs if d.compartment is None}
            for d in self.drugs:
                if d.compartment is not None:
                    vol = sp.Symbol(d.volume) if isinstance(d.volume, str) else sp.Float(d.volume)
                    rhs[d.compartment] = rhs[d.compartment] + input_symbol(d.name) / vol
            if subs:
                rhs = {k: v.xreplace(subs) for k, v in rhs.items()}
        return rhs

    def observable_expressions(self, inputs: bool = True) -> dict[str, sp.Expr]:
        """Observables as expressions of states, parameters and inputs only.

        Parameters
        ----------
        inputs : bool, optional
            Replace direct-input drug levels by their input symbols ``u_<drug>``
            (amount/day), as in :meth:`rhs_expressions`.

        Returns
        -------
        dict of str to sympy.Expr
            One expression per observable (in its unit), earlier observables substituted.
        """
        out: dict[str, sp.Expr] = {}
        subs_inputs = {sp.Symbol(d.name): input_symbol(d.name) for d in self.drugs if d.compartment is None}
        for o in self.observables:
            e = o.expr.xreplace({sp.Symbol(k): v for k, v in out.items()})
            out[o.name] = e
        if inputs and subs_inputs:
            out = {k: v.xreplace(subs_inputs) for k, v in out.items()}
        return out

    def equations(self) -> list[sp.Eq]:
        """The ODEs as ``sympy.Eq(Derivative(x(t), t), rhs)``, one per state.

        States appear as functions of ``t``; parameters and inputs ``u_<drug>``
        (infusion rate, amount/day) as plain symbols.

        Returns
        -------
        list of sympy.Eq
            One equation per state, in the order of ``model.states`` (time in days).
        """
        funcs = {s.symbol: sp.Function(s.name)(TIME) for s in self.states}
        return [
            sp.Eq(sp.Derivative(funcs[sp.Symbol(k)], TIME), v.xreplace(funcs))
            for k, v in self.rhs_expressions().items()
        ]

    def to_latex(self) -> str:
        r"""Render the ODEs as a LaTeX ``aligned`` block.

        Returns
        -------
        str
            ``\begin{aligned} \frac{dS}{dt} &= ... \\ ... \end{aligned}``
        """
        lines = []
        for k, v in self.rhs_expressions().items():
            lhs = r"\frac{d" + sp.latex(sp.Symbol(k)) + r"}{dt}"
            lines.append(f"{lhs} &= {sp.latex(v)}")
        return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"

    def defaults(self) -> dict[str, float]:
        """Default parameter values by name.

        Returns
        -------
        dict of str to float
            Each parameter's default, in its unit.
        """
        return {p.name: p.default for p in self.parameters}

    def initial_state(self) -> dict[str, float]:
        """Default initial values by state name.

        Returns
        -------
        dict of str to float
            Each state's initial value, in its unit.
        """
        return {s.name: s.initial for s in self.states}

    def __repr__(self) -> str:
        return self.table()

    def table(self) -> str:
        """A readable text table of states, parameters, drugs, processes and observables.

        Returns
        -------
        str
            The table (also what ``repr(model)`` shows), with units and bounds.
        """

        def fmt_rows(header: list[str], rows: list[list[str]]) -> list[str]:
            widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
            line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
            out = [line, "  ".join("-" * w for w in widths)]
            out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
            return ["  " + x for x in out]

        lines = [f"Model {self._name!r}: {len(self.states)} states, {len(self.parameters)} parameters, "
                 f"{len(self.processes)} processes, {len(self.drugs)} drugs, {len(self.observables)} observables"]
        if self._description:
            lines.append(f"  {self._description}")
        lines.append("States:")
        lines += fmt_rows(["name", "initial", "unit", "description"],
                          [[s.name, f"{s.initial:.4g}", s.unit, s.description[:60]] for s in self.states])
        lines.append("Parameters:")
        lines += fmt_rows(["name", "default", "bounds", "unit", "description"],
                          [[p.name, f"{p.default:.4g}", f"[{p.bounds[0]:.3g}, {p.bounds[1]:.3g}]", p.unit,
                            p.description[:50]] for p in self.parameters])
        if len(self.drugs):
            lines.append("Drugs:")
            lines += fmt_rows(["name", "compartment", "volume", "dose unit"],
                              [[d.name, d.compartment or "(direct input)", str(d.volume), d.dose_unit] for d in self.drugs])
        lines.append("Processes:")
        lines += fmt_rows(["name", "stoichiometry", "rate"],
                          [[p.name, " ".join(f"{c:+g}{k}" for k, c in p.stoichiometry.items()), str(p.rate)[:70]]
                           for p in self.processes])
        if len(self.observables):
            lines.append("Observables:")
            lines += fmt_rows(["name", "unit", "expression"],
                              [[o.name, o.unit, str(o.expr)[:70]] for o in self.observables])
        if self.events:
            lines.append("Events:")
            lines += fmt_rows(["name", "trigger", "delay", "assignments"],
                              [[e.name, str(e.trigger)[:40], "" if e.delay is None else str(e.delay)[:12],
                                ", ".join(f"{k} = {v}" for k, v in e.assignments)[:60]] for e in self.events])
        return "\n".join(lines)


def _freeze_model_init(cls: type) -> None:
    orig = cls.__init__

    def __init__(self: Model, *args: Any, **kwargs: Any) -> None:
        orig(self, *args, **kwargs)
        object.__setattr__(self, "_frozen", True)

    __init__.__doc__ = orig.__doc__
    cls.__init__ = __init__  # type: ignore[method-assign]


_freeze_model_init(Model)


def _as_module(m: object, where: str) -> Module:
    mod = m.as_module() if isinstance(m, Model) else m
    if not isinstance(mod, Module):
        raise TypeError(f"{where} takes Module or Model objects, got {type(m).__name__}")
    return mod


def _renamed_event(e: Event, prefix: str, ren: Mapping[str, str]) -> Event:
    """An event of a namespaced copy: named ``<prefix>_<name>``, its symbols renamed as the copy's (``ren``)."""
    subs = {sp.Symbol(o): sp.Symbol(n) for o, n in ren.items()}
    return Event(f"{prefix}_{e.name}", e.trigger.xreplace(subs),
                 {ren.get(k, k): v.xreplace(subs) for k, v in e.assignments},
                 delay=None if e.delay is None else e.delay.xreplace(subs),
                 priority=None if e.priority is None else e.priority.xreplace(subs), persistent=e.persistent,
                 initial_value=e.initial_value, use_values_from_trigger_time=e.use_values_from_trigger_time,
                 description=f"{e.description} [{prefix}]" if e.description else f"[{prefix}]")


def _merge_events(groups: list[tuple[str, Iterable[Event]]]) -> tuple[Event, ...]:
    """The events of every part, in order; an identical event in two parts is kept once, two different
    events with one name are an error naming both parts."""
    out: dict[str, tuple[str, Event]] = {}
    for where, events in groups:
        for e in events:
            if e.name in out:
                first, other = out[e.name]
                if other != e:
                    raise SpecificationError(
                        f"compose(): event {e.name!r} of {where} differs from event {e.name!r} of {first}; rename "
                        "one (Model.replace(events=...)) or put the models in namespaces")
                continue
            out[e.name] = (where, e)
    return tuple(e for _, e in out.values())


def compose(name: str, *modules: Module | Model, description: str = "", check_positivity: bool = True,
            namespaces: Mapping[str, Module | Model | Iterable[Module | Model]] | None = None,
            shared: Iterable[str] = (), check_units: bool = True) -> Model:
    """Combine modules (or models) into one validated :class:`Model`.

    Parameters
    ----------
    name : str
        Name of the composed model.
    *modules : Module or Model
        The pieces; items sharing a name must be identical. These are composed as
        they are (the systemic part when ``namespaces`` is given: drug PK, a
        systemic T-cell pool, shared parameters).
    description : str, optional
        A sentence describing the model.
    check_positivity : bool, optional
        Run the structural positivity check (default ``True``).
    namespaces : mapping of str to Module, Model or sequence of them, optional
        Copies to compose under a prefix each, e.g. ``{"liver": lesion, "lung":
        lesion}``: each value (several modules are summed first) is renamed by
        :meth:`Module.namespaced` (``liver_S``, ``lung_S``, ...), so several copies of
        one module compose without name clashes. Names the copies use but do not
        define (drug levels, the systemic modules' states and parameters) stay shared.
    shared : iterable of str, optional
        Names the namespaced modules define but that stay unprefixed and shared by
        all copies (the ``keep`` of :meth:`Module.namespaced`), e.g. parameters of
        the patient's immune system. Identical copies of a shared item merge; copies
        that differ raise :class:`~tumordyn.errors.SpecificationError`.
    check_units : bool, optional
        Check the units (default ``True``; see :class:`Model`).

    Returns
    -------
    Model
        With the events of every :class:`Model` given, in order: a namespaced copy's events are renamed
        ``<prefix>_<name>`` and their symbols as the copy's (``shared`` names stay); an event found
        identical in two parts is kept once.

    Raises
    ------
    SpecificationError
        For differing items sharing a name, or two different events with one name (naming both parts).

    Examples
    --------
    >>> lesion = Module("growth", states=(State("N", 1e9, "cells"),), parameters=(Parameter("r", 0.03, unit="1/day"),),
    ...                 processes=(Process("birth", "r * N * (1 - N / 2e9)", produces="N"),))
    >>> m = compose("two_lesions", namespaces={"liver": lesion, "lung": lesion}, shared=["r"])
    >>> m.states.names, m.parameters.names
    (('liver_N', 'lung_N'), ('r',))
    """
    if namespaces is not None and not isinstance(namespaces, Mapping):
        raise TypeError(f"compose(): namespaces must be a mapping {{prefix: module}}, got {type(namespaces).__name__}")
    if isinstance(shared, str):
        shared = (shared,)
    shared = tuple(shared)
    if shared and not namespaces:
        raise SpecificationError("compose(): shared= names what the namespaced modules share; give namespaces= too")
    if not modules and not namespaces:
        raise SpecificationError("compose() needs at least one module")
    parts = [_as_module(m, "compose()") for m in modules]
    event_groups: list[tuple[str, Iterable[Event]]] = [(f"model {m.name!r}", m.events) for m in modules
                                                       if isinstance(m, Model)]
    defined: set[str] = set()
    for prefix, group in (namespaces or {}).items():
        items = [group] if isinstance(group, (Module, Model)) else list(group)
        if not items:
            raise SpecificationError(f"compose(): namespace {prefix!r} has no module")
        mods = [_as_module(g, f"compose() namespace {prefix!r}") for g in items]
        body = mods[0]
        for extra in mods[1:]:
            body = body + extra
        own = {x.name for kind in (body.states, body.parameters, body.observables) for x in kind}
        defined |= own
        parts.append(body.namespaced(prefix, keep=shared))
        ren = {n: f"{prefix}_{n}" for n in own - set(shared)}
        event_groups += [(f"model {g.name!r} in namespace {prefix!r}", [_renamed_event(e, prefix, ren) for e in g.events])
                         for g in items if isinstance(g, Model)]
    unknown = [n for n in shared if n not in defined]
    if unknown:
        raise SpecificationError(
            f"compose(): shared= names {', '.join(map(repr, unknown))}, which no namespaced module defines "
            "(shared= lists states, parameters or observables of the namespaced modules that stay unprefixed)"
        )
    total: Module | None = None
    for mod in parts:
        total = mod if total is None else total + mod
    assert total is not None
    return Model(
        name,
        states=total.states,
        parameters=total.parameters,
        processes=total.processes,
        drugs=total.drugs,
        observables=total.observables,
        description=description,
        check_positivity=check_positivity,
        check_units=check_units,
        events=_merge_events(event_groups),
    )
