"""Compile a model spec into numeric functions, once.

The right-hand side, its analytic Jacobian and the observables are generated as
Python source from the sympy expressions (common subexpressions shared through
``sympy.cse``) and compiled with ``compile``. The generated code only indexes
arrays and calls numpy ufuncs, so the same functions work on

* one state vector ``y`` of shape ``(n_states,)`` with ``p`` of shape ``(n_params,)``,
* a batch ``y`` of shape ``(n_states, B)`` with ``p`` of shape ``(n_params, B)``
  (or ``(n_params,)`` shared), and ``u`` of shape ``(n_drugs,)`` or ``(n_drugs, B)``.

Non-negative states are read clipped at zero (``maximum(y[i], 0)``): a tiny
numerical undershoot then cannot turn an outflow into an inflow, and since every
outflow vanishes at zero (checked at model construction) the solution is pushed
back to non-negative values. No sympy runs inside the integration loop.

The generated source is text produced by sympy's printer from validated
expressions (never from user text) and is kept on the object
(:attr:`CompiledModel.source`) for inspection and for optional numba compilation.
"""

from __future__ import annotations

import functools
import warnings
import math
from collections.abc import Mapping
from typing import Any, Callable

import numpy as np
import sympy as sp
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.pycode import PythonCodePrinter

from ..spec import TIME, Model, input_symbol
from ..errors import SpecificationError, UnknownNameError

__all__ = ["CompiledModel", "compile_model", "jacobian_expressions"]


#: Largest argument of the Gamma function the generated code evaluates (Gamma(171) = 170! ~ 7.3e306); beyond
#: it Gamma is +inf, at or below 0 it is NaN (SBML imports factorial(x) as Gamma(x + 1), defined on x >= 0).
_GAMMA_MAX = 171.0


def _namespace(source: str) -> dict[str, Any]:
    """Names the generated numpy/scalar ``source`` may use: scipy.special (~0.1-0.2 s to import) only when the
    source calls it (the Gamma function's derivatives), so a model without Gamma never imports it."""
    names: dict[str, Any] = {"numpy": np, "math": math}
    if "scipy_special" in source:
        import scipy.special

        names["scipy_special"] = scipy.special
    return names


# ----------------------------------------------------------------------------- the on-disk cache of generated code
# What this module generates for a model (the numpy right-hand side and observables, the numba right-hand side and
# its parameter-derived inputs) depends only on the model's expressions after the local renaming (states _s0,
# parameters _p0, inputs _u0), which states are non-negative, the counts, this module's code and sympy's printers.
# A process whose model has an entry in TUMORDYN_CACHE_DIR reads the sources instead of running sympy's cse and
# printers (~35 ms of a warm model-to-first-simulate for the default model). The key hashes all of the above: the
# expressions by their structure (node types, symbol names and assumptions, exact numbers), this file's bytes and
# sympy's version, so any change of model or generator reads another entry. An entry is JSON holding a digest of
# its sources: a file that is malformed, truncated or does not match its digest is ignored (the code is generated
# and the entry rewritten). Like the rest of the cache directory (numba's machine code), it is trusted as the
# user's own: whoever can write there can change what runs.

_CODEGEN_FORMAT = "1"  # bump when the layout of an entry changes
_CODEGEN_SOURCES = ("rhs", "rhs_fast", "derived", "observe")


def _file_digest(path: str) -> str | None:
    """SHA-256 of a file's bytes (``None`` if it cannot be read: then the code-generation cache is off)."""
    import hashlib

    try:
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest()
    except OSError:  # pragma: no cover - e.g. a zipped installation without the source file
        return None


#: Identity of the code generator: this file's bytes when it was imported (``None``: no cache of generated code).
_GENERATOR_DIGEST = _file_digest(__file__)


def _structure_tokens(exprs: list[sp.Basic]) -> list[str]:
    """The expressions' structure as text: each node's type and number of arguments in preorder; a symbol's
    name and assumptions; a number's exact value (a Float's binary mantissa, exponent and precision). Other
    atoms, and applied undefined functions, by ``srepr``. Iterative (no recursion limit); linear in the number
    of nodes."""
    from sympy.core.function import AppliedUndef

    out: list[str] = []
    stack: list[sp.Basic] = list(reversed(exprs))
    while stack:
        e = stack.pop()
        cls = type(e)
        if cls is sp.Symbol:
            a = e.assumptions0
            out.append(f"Symbol:{e.name}" if a == {"commutative": True} else f"Symbol:{e.name}:{sorted(a.items())}")
        elif isinstance(e, sp.Float):
            out.append(f"Float:{e._mpf_}:{e._prec}")
        elif isinstance(e, sp.Rational):
            out.append(f"Rational:{e.p}/{e.q}")
        elif e.is_Atom or not e.args or isinstance(e, AppliedUndef):
            out.append(sp.srepr(e))  # whole (an undefined function's class is made by name, at run time)
        else:
            out.append(f"{cls.__module__}.{cls.__qualname__}:{len(e.args)}")
            stack.extend(reversed(e.args))
    return out


def _codegen_path(rhs_exprs: list[sp.Expr], obs_exprs: list[sp.Expr], nonnegative: list[bool], n_states: int,
                  n_params: int, n_drugs: int) -> str | None:
    """The cache file of the code generated from these (renamed) expressions, or ``None`` when the cache is off."""
    import hashlib
    import os
    import sys

    from .._fileio import cache_dir

    root = cache_dir()
    if root is None or _GENERATOR_DIGEST is None:
        return None
    head = (_CODEGEN_FORMAT, _GENERATOR_DIGEST, sp.__version__, f"{sys.version_info[0]}.{sys.version_info[1]}",
            f"{n_states},{n_params},{n_drugs}", "".join("1" if x else "0" for x in nonnegative),
            f"{len(rhs_exprs)},{len(obs_exprs)}")
    text = "\0".join((*head, *_structure_tokens([*rhs_exprs, *obs_exprs])))
    key = hashlib.sha256(text.encode()).hexdigest()[:32]
    return os.path.join(root, f"codegen_v{_CODEGEN_FORMAT}", f"codegen_{key}.json")


def _sources_digest(sources: Mapping[str, str], n_derived: int) -> str:
    import hashlib

    text = "\0".join((*(sources[k] for k in _CODEGEN_SOURCES), str(n_derived)))
    return hashlib.sha256(text.encode()).hexdigest()


def _load_generated(path: str | None) -> tuple[dict[str, str], int] | None:
    """The sources and ``n_derived`` stored at ``path``, or ``None`` (absent, unreadable, malformed, or not
    matching its digest)."""
    import json

    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
        sources = {k: raw[k] for k in _CODEGEN_SOURCES}
        n_derived = raw["n_derived"]
        if not all(isinstance(v, str) for v in sources.values()) or type(n_derived) is not int or n_derived < 0:
            return None
        if raw["digest"] != _sources_digest(sources, n_derived):
            return None
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return sources, n_derived


def _store_generated(path: str | None, sources: Mapping[str, str], n_derived: int) -> None:
    """Write an entry (atomically; a failed write only loses the cache)."""
    import json

    from .._fileio import atomic_write

    if path is None:
        return
    data = {k: sources[k] for k in _CODEGEN_SOURCES}
    data.update(n_derived=n_derived, digest=_sources_digest(sources, n_derived))
    try:
        atomic_write(path, json.dumps(data, sort_keys=True), durable=False)
    except OSError:
        pass


class _Printer(NumPyPrinter):
    """numpy printer whose Min/Max are nested binary ufunc calls (numba- and batch-friendly)."""

    def __init__(self) -> None:
        super().__init__({"fully_qualified_modules": True, "allow_unknown_functions": False})

    def _nested(self, func: str, args: tuple[sp.Expr, ...]) -> str:
        out = self._print(args[0])
        for a in args[1:]:
            out = f"numpy.{func}({out}, {self._print(a)})"
        return out

    def _print_Max(self, expr: sp.Max) -> str:  # noqa: N802
        return self._nested("maximum", expr.args)

    def _print_Min(self, expr: sp.Min) -> str:  # noqa: N802
        return self._nested("minimum", expr.args)

    # conditionals as nested binary ufuncs, which broadcast a scalar condition (on t or a shared parameter)
    # against a batch one (numpy.select and logical_and.reduce do not)
    def _print_Piecewise(self, expr: sp.Piecewise) -> str:  # noqa: N802
        out = "numpy.nan"  # no condition holds and there is no otherwise value: undefined, as in SBML
        for value, cond in reversed(expr.args):
            if cond == sp.true:
                out = f"(1.0*({self._print(value)}))"
            else:
                out = f"numpy.where({self._print(cond)}, {self._print(value)}, {out})"
        return out

    def _print_And(self, expr: sp.And) -> str:  # noqa: N802
        return self._nested("logical_and", expr.args)

    def _print_polygamma(self, expr: sp.polygamma) -> str:  # noqa: N802
        # in Jacobians of Gamma (d/dx Gamma(x) = Gamma(x) digamma(x)); scipy's is NaN/inf at the poles, never raises
        return f"scipy_special.polygamma({self._print(expr.args[0])}, {self._print(expr.args[1])})"

    def _print_gamma(self, expr: sp.gamma) -> str:  # noqa: N802
        # math.gamma element by element on an argument clipped to where it neither raises nor overflows
        a = f"({self._print(expr.args[0])})"
        return (f"numpy.where(({a} > 0.0) & ({a} <= {_GAMMA_MAX}), numpy.vectorize(math.gamma, otypes=[float])("
                f"numpy.clip({a}, 1e-300, {_GAMMA_MAX})), numpy.where({a} > {_GAMMA_MAX}, numpy.inf, numpy.nan))")

    def _print_Or(self, expr: sp.Or) -> str:  # noqa: N802
        return self._nested("logical_or", expr.args)

    def _print_Xor(self, expr: sp.Xor) -> str:  # noqa: N802
        return self._nested("logical_xor", expr.args)


class _ScalarPrinter(PythonCodePrinter):
    """Python-float printer (``math`` functions, builtin min/max) for the one-patient scipy path."""

    def __init__(self) -> None:
        super().__init__({"fully_qualified_modules": True, "allow_unknown_functions": False})

    def _nested(self, func: str, args: tuple[sp.Expr, ...]) -> str:
        out = self._print(args[0])
        for a in args[1:]:
            out = f"{func}({out}, {self._print(a)})"
        return out

    def _print_Max(self, expr: sp.Max) -> str:  # noqa: N802
        return self._nested("max", expr.args)

    def _print_Min(self, expr: sp.Min) -> str:  # noqa: N802
        return self._nested("min", expr.args)

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:  # noqa: N802
        out = "math.nan"  # no condition holds and there is no otherwise value: undefined, as in SBML
        for value, cond in reversed(expr.args):
            if cond == sp.true:
                out = f"float({self._print(value)})"
            else:
                out = f"(float({self._print(value)}) if {self._print(cond)} else {out})"
        return out

    def _print_gamma(self, expr: sp.gamma) -> str:  # noqa: N802
        # never raises (math.gamma does at its poles and on overflow): NaN at or below 0, inf beyond the floats
        a = f"({self._print(expr.args[0])})"
        return (f"(math.gamma({a}) if 0.0 < {a} <= {_GAMMA_MAX} else (math.inf if {a} > {_GAMMA_MAX} "
                "else math.nan))")

    def _print_Xor(self, expr: sp.Xor) -> str:  # noqa: N802
        out = f"bool({self._print(expr.args[0])})"
        for a in expr.args[1:]:
            out = f"({out} != bool({self._print(a)}))"
        return out


def _generate_scalar(exprs: list[sp.Expr], n_states: int, n_params: int, n_drugs: int,
                     nonnegative: list[bool]) -> str:
    """Source of ``rhs_scalar(t, y, p, u)``: the right-hand side on Python floats for one state vector.

    numpy ufuncs on numpy scalars cost about a microsecond each; unpacking to Python
    floats with ``tolist()`` and using ``math`` makes one evaluation 2-3x cheaper,
    which is what the per-step cost of scipy's integrators is made of.
    """
    printer = _ScalarPrinter()
    replacements, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("_x"))

    def unpack(prefix: str, n: int, arr: str) -> str:
        if n == 0:
            return ""
        names = ", ".join(f"_{prefix}{i}" for i in range(n))
        return f"    {names}{',' if n == 1 else ''} = {arr}.tolist()"

    lines = ["def rhs_scalar(t, y, p, u):"]
    lines += [ln for ln in (unpack("s", n_states, "y"), unpack("p", n_params, "p"), unpack("u", n_drugs, "u")) if ln]
    for i, nonneg in enumerate(nonnegative):
        if nonneg:
            lines.append(f"    if _s{i} < 0.0: _s{i} = 0.0")
    for sym, e in replacements:
        lines.append(f"    {sym} = {printer.doprint(e)}")
    lines.append("    return numpy.array([" + ", ".join(printer.doprint(e) for e in reduced) + "])")
    return "\n".join(lines) + "\n"


def _generate(
    fname: str,
    exprs: list[sp.Expr],
    targets: list[str],
    header: list[str],
    out_shape: str,
    zero_fill: bool,
) -> str:
    printer = _Printer()
    replacements, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("_x"))
    lines = [f"def {fname}(t, y, p, u):"]
    lines += ["    " + h for h in header]
    for sym, e in replacements:
        lines.append(f"    {sym} = {printer.doprint(e)}")
    alloc = "zeros" if zero_fill else "empty"
    lines.append(f"    out = numpy.{alloc}({out_shape})")
    for tgt, e in zip(targets, reduced):
        lines.append(f"    out[{tgt}] = {printer.doprint(e)}")
    lines.append("    return out")
    return "\n".join(lines) + "\n"


class _FastPrinter(_ScalarPrinter):
    """``math``-function printer for the numba right-hand side: a power with a non-numeric exponent is
    printed as ``_ipow(base, exponent)``, which multiplies for the small integer exponents (e.g. a Hill
    coefficient of 2) and calls ``pow`` otherwise."""

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:  # noqa: N802
        if not expr.exp.is_Number:
            return f"_ipow({self._print(expr.base)}, {self._print(expr.exp)})"
        return super()._print_Pow(expr, rational=rational)


#: Defined at the top of the generated numba module (``source["rhs_fast"]``): an integer-valued exponent
#: 1-4 by multiplication (exact, and ~10x cheaper than ``pow``), any other by ``pow``. ``_CACHE`` (whether
#: numba caches it on disk) is set in the module's namespace by whoever executes the source.
_IPOW_SOURCE = """\
@numba.njit(cache=_CACHE, error_model="numpy")
def _ipow(x, e):
    if e == 2.0:
        return x * x
    if e == 1.0:
        return x
    if e == 3.0:
        return x * x * x
    if e == 4.0:
        x2 = x * x
        return x2 * x2
    return x ** e
"""


def _hoist(exprs: list[sp.Expr], varying: set[sp.Symbol]) -> tuple[list[sp.Expr], list[tuple[sp.Symbol, sp.Expr]]]:
    """Split parameter-only subexpressions (e.g. ``EC50**h``, ``log(2)/t_half``) out of ``exprs``.

    Returns the expressions with each maximal subexpression free of ``varying`` symbols (states, inputs,
    time) replaced by a symbol ``_q{k}``, and the list ``(symbol, expression)``. Single symbols and numbers
    stay in place; inside a sum or product the parameter-only terms are grouped into one.
    """
    found: dict[sp.Expr, sp.Symbol] = {}

    def q(e: sp.Expr) -> sp.Expr:
        if e.is_Atom:
            return e
        if e not in found:
            found[e] = sp.Symbol(f"_q{len(found)}")
        return found[e]

    def walk(e: sp.Expr) -> sp.Expr:
        if e.is_Atom:
            return e
        if not isinstance(e, sp.Expr):  # a condition or a (value, condition) pair of a Piecewise: not a number
            return e.func(*(walk(a) for a in e.args))
        if not (e.free_symbols & varying):
            return q(e)
        if isinstance(e, (sp.Add, sp.Mul)):
            const = [a for a in e.args if not (a.free_symbols & varying)]
            var = [walk(a) for a in e.args if a.free_symbols & varying]
            if len(const) >= 2 or (len(const) == 1 and not const[0].is_Atom):
                return e.func(q(e.func(*const, evaluate=False)), *var)
            return e.func(*const, *var)
        return e.func(*(walk(a) for a in e.args))

    out = [walk(e) for e in exprs]
    return out, [(sym, e) for e, sym in found.items()]


def _generate_fast(exprs: list[sp.Expr], n_states: int, n_params: int, n_drugs: int, nonnegative: list[bool],
                   varying: set[sp.Symbol]) -> tuple[str, str, int]:
    """Sources of the numba right-hand side and of its parameter-derived inputs.

    Returns ``(rhs_fast, derived, n_derived)``: ``rhs_fast`` is module source (executed in a namespace
    holding ``math``, ``numpy``, ``numba`` and ``_CACHE``) defining ``_ipow`` and
    ``rhs_into(t, y, p, u, out)``, which reads the parameters ``p[:n_params]`` and the parameter-only
    subexpressions ``p[n_params:]`` (computed once per parameter vector by ``derived(p)``, numpy code
    working on a vector or on a ``(n_params, B)`` batch). Scalar code: ``math`` functions, builtin min/max.
    """
    hoisted, derived = _hoist(exprs, varying)
    printer = _FastPrinter()
    replacements, reduced = sp.cse(hoisted, symbols=sp.numbered_symbols("_x"))
    lines = [_IPOW_SOURCE, "", "def rhs_into(t, y, p, u, out):"]
    for i, nonneg in enumerate(nonnegative):
        lines.append(f"    _s{i} = max(y[{i}], 0.0)" if nonneg else f"    _s{i} = y[{i}]")
    used = set().union(*(e.free_symbols for e in reduced)) | set().union(
        *(e.free_symbols for _, e in replacements)) if (reduced or replacements) else set()
    names = {str(s) for s in used}
    for i in range(n_params):
        if f"_p{i}" in names:
            lines.append(f"    _p{i} = p[{i}]")
    for k in range(len(derived)):
        if f"_q{k}" in names:
            lines.append(f"    _q{k} = p[{n_params + k}]")
    for i in range(n_drugs):
        if f"_u{i}" in names:
            lines.append(f"    _u{i} = u[{i}]")
    for sym, e in replacements:
        lines.append(f"    {sym} = {printer.doprint(e)}")
    for i, e in enumerate(reduced):
        lines.append(f"    out[{i}] = {printer.doprint(e)}")
    lines.append("    return")
    rhs_src = "\n".join(lines) + "\n"
    dprinter = _Printer()
    dl = ["def derived(p):"]
    for i in range(n_params):
        dl.append(f"    _p{i} = p[{i}]")
    dl.append(f"    out = numpy.empty(({len(derived)},) + p.shape[1:])")
    for k, (_, e) in enumerate(derived):
        dl.append(f"    out[{k}] = {dprinter.doprint(e)}")
    dl.append("    return out")
    sprinter = _ScalarPrinter()
    names = ", ".join(f"_p{i}" for i in range(n_params))
    sl = ["def derived_scalar(p):"]
    if n_params:
        sl.append(f"    {names}{',' if n_params == 1 else ''} = p")
    sl.append("    return [" + ", ".join(sprinter.doprint(e) for _, e in derived) + "]")
    return rhs_src, "\n".join(dl) + "\n" + "\n\n" + "\n".join(sl) + "\n", len(derived)


#: Lower bound put on the argument of ``log(x)`` in a term ``x**a * log(x)`` (see :func:`jacobian_expressions`).
_LOG_FLOOR = sp.Float("1e-300")


def _finite_at_zero(e: sp.Expr) -> sp.Expr:
    """``x**a * log(x)`` (the derivative of ``x**a`` with respect to ``a``) as ``x**a * log(max(x, 1e-300))``.

    At ``x = 0`` with ``a > 0`` the term is 0, but evaluated as written it is ``0 * -inf = nan``; with the
    floor it is ``0 * -690.8 = 0``. For ``x >= 1e-300`` nothing changes. Only logs whose argument is also
    a factor of the product, bare or raised to a symbolic or positive power, are bounded, so a genuine
    singularity (e.g. ``log(x) / x``) still evaluates to inf/nan.
    """

    def fix(m: sp.Expr) -> sp.Expr:
        bases = set()
        for f in m.args:
            if f.is_Pow and (not f.exp.is_Number or f.exp > 0):
                bases.add(f.base)
            elif f.is_Symbol:
                bases.add(f)
        new = [sp.log(sp.Max(f.args[0], _LOG_FLOOR)) if isinstance(f, sp.log) and f.args[0] in bases else f
               for f in m.args]
        return m.func(*new)

    return e.replace(lambda x: x.is_Mul and any(isinstance(f, sp.log) for f in x.args), fix)


def jacobian_expressions(exprs: Any, symbols: list[sp.Symbol]) -> sp.Matrix:
    """Derivatives of ``exprs`` with respect to ``symbols``, in a form that is finite where the function is.

    Differentiating a Hill term ``C**h / (EC50**h + C**h)`` gives ``h*C**h/C`` with respect to ``C`` (0/0 at
    ``C = 0``) and ``C**h*log(C)`` with respect to ``h`` (``0 * -inf`` at ``C = 0``). Powers of one base
    are combined (``h*C**(h - 1)``, finite at 0 for ``h >= 1``) and such logs bounded below
    (:func:`_finite_at_zero`), so the Jacobians with respect to states and parameters are finite at a zero
    drug concentration. Sums are not factored.

    Parameters
    ----------
    exprs : sequence of sympy.Expr or sympy.Matrix
        The functions (e.g. a model's right-hand sides).
    symbols : list of sympy.Symbol
        The variables.

    Returns
    -------
    sympy.Matrix
        Shape ``(len(exprs), len(symbols))``.
    """
    mat = exprs if isinstance(exprs, sp.MatrixBase) else sp.Matrix(list(exprs))
    return mat.jacobian(symbols).applyfunc(
        lambda e: _finite_at_zero(sp.powsimp(_step_derivatives(e), combine="exp", force=True))
    )


def _step_derivatives(e: sp.Expr) -> sp.Expr:
    """Derivatives of the piecewise-constant ``floor``/``ceiling`` as 0 (sympy leaves them unevaluated).

    Between their jumps the derivative is 0; at a jump it does not exist, as for the branches of a
    ``Piecewise`` (differentiated branch by branch). Crossing such a discontinuity is the solver's business.
    """
    if not e.has(sp.Derivative):
        return e
    e = e.replace(lambda x: isinstance(x, sp.Derivative) and isinstance(x.expr, (sp.floor, sp.ceiling)),
                  lambda x: sp.Integer(0))
    # the chain rule through floor(g(x)) leaves Subs(0, _xi, g(x))
    return e.replace(lambda x: isinstance(x, sp.Subs) and not x.expr.has(sp.Derivative), lambda x: x.doit())


class _Sources(Mapping):
    """The generated sources by name (a read-only mapping); some are generated on first access."""

    def __init__(self, makers: dict[str, Callable[[], str]]) -> None:
        self._done: dict[str, str] = {}
        self._makers = makers

    def _set(self, key: str, value: str) -> None:
        self._done[key] = value

    def __getitem__(self, key: str) -> str:
        if key not in self._done:
            maker = self._makers.get(key)
            if maker is None:
                raise KeyError(key)
            self._done[key] = maker()
        return self._done[key]

    def __iter__(self) -> Any:
        return iter(list(self._done) + [k for k in self._makers if k not in self._done])

    def __len__(self) -> int:
        return len(set(self._done) | set(self._makers))



def _as_mapping(value: Any, where: str, what: str) -> Mapping[str, Any]:
    """A mapping of names to values: a Mapping, or a mapping-like object such as a ``pandas.Series``
    (anything with ``keys()`` and item access); a TypeError naming ``where`` otherwise."""
    if isinstance(value, Mapping):
        return value
    keys = getattr(value, "keys", None)
    if callable(keys) and hasattr(value, "__getitem__") and not isinstance(value, (str, bytes)):
        try:
            return {k: value[k] for k in keys()}
        except (TypeError, KeyError, IndexError):
            pass
    raise TypeError(f"`{where}` must be a mapping of {what} name to value (a dict or a pandas Series), "
                    f"got {type(value).__name__}")

class CompiledModel:
    """Numeric functions generated from a :class:`~tumordyn.Model`.

    Obtain it as ``compile_model(model)`` (built on first use and reused).

    Attributes
    ----------
    state_names, param_names, drug_names, observable_names : tuple of str
        Orders of the vector entries.
    rhs : callable
        ``rhs(t, y, p, u) -> dy/dt`` (state units per day).
    jac : callable
        ``jac(t, y, p, u) -> d(dy/dt)/dy`` of shape ``(n, n) + y.shape[1:]``.
    observe : callable
        ``observe(t, y, p, u) -> observables`` of shape ``(k,) + y.shape[1:]``.
    source : dict of str to str
        The generated Python source of ``rhs``, ``observe``, ``rhs_fast`` (the numba right-hand side,
        which reads the parameters extended by :meth:`extended_params`) and ``derived``; ``jac`` and
        ``rhs_scalar`` are generated on first access (only the scipy path needs them).
    nonnegative : numpy.ndarray of bool
        Which states are non-negative.
    atol : numpy.ndarray
        Per-state absolute tolerances from the spec.
    """

    def __init__(self, model: Model) -> None:
        self.model_name = model.name
        self.state_names = model.states.names
        self.param_names = model.parameters.names
        self.drug_names = model.drugs.names
        self.observable_names = model.observables.names
        self.events = model.events  # compiled on first use by numerics._events.event_functions
        self.n_events = len(model.events)
        self.n_states = len(self.state_names)
        self.n_params = len(self.param_names)
        self.n_drugs = len(self.drug_names)
        self._param_specs = {p.name: p for p in model.parameters}
        self.defaults = np.array([p.default for p in model.parameters], dtype=float)
        self.initial = np.array([s.initial for s in model.states], dtype=float)
        self.nonnegative = np.array([s.nonnegative for s in model.states], dtype=bool)
        self.atol = np.array([s.atol for s in model.states], dtype=float)
        self.lower_bounds = np.array([p.bounds[0] for p in model.parameters], dtype=float)
        self.upper_bounds = np.array([p.bounds[1] for p in model.parameters], dtype=float)
        for a in (self.defaults, self.initial, self.nonnegative, self.atol, self.lower_bounds, self.upper_bounds):
            a.flags.writeable = False

        # where each drug's doses go: compartment index (-1: direct input) and volume
        self.dose_compartment = np.array(
            [self.state_names.index(d.compartment) if d.compartment is not None else -1 for d in model.drugs],
            dtype=np.int64,
        )
        self._dose_volume: list[tuple[int, float]] = []  # (param index or -1, constant volume)
        for d in model.drugs:
            if isinstance(d.volume, str):
                self._dose_volume.append((self.param_names.index(d.volume), 1.0))
            else:
                self._dose_volume.append((-1, float(d.volume)))

        # local names in the generated code
        local: dict[sp.Symbol, sp.Symbol] = {}
        header: list[str] = []
        for i, s in enumerate(model.states):
            name = f"_s{i}"
            local[s.symbol] = sp.Symbol(name)
            header.append(f"{name} = numpy.maximum(y[{i}], 0.0)" if s.nonnegative else f"{name} = y[{i}]")
        for i, p in enumerate(model.parameters):
            local[p.symbol] = sp.Symbol(f"_p{i}")
            header.append(f"_p{i} = p[{i}]")
        for i, d in enumerate(model.drugs):
            local[input_symbol(d.name)] = sp.Symbol(f"_u{i}")
            header.append(f"_u{i} = u[{i}]")
        local[TIME] = sp.Symbol("t")

        rhs_exprs = [e.xreplace(local) for e in model.rhs_expressions().values()]
        state_syms = [local[s.symbol] for s in model.states]
        nonneg = [s.nonnegative for s in model.states]
        # the scalar RHS and the Jacobian (the scipy path, implicit methods) are generated on first use
        self.source: _Sources = _Sources({
            "rhs_scalar": lambda: _generate_scalar(rhs_exprs, self.n_states, self.n_params, self.n_drugs, nonneg),
            "jac": lambda: self._jac_source(rhs_exprs, state_syms, header),
        })
        obs_exprs = [e.xreplace(local) for e in model.observable_expressions().values()]
        cache_path = _codegen_path(rhs_exprs, obs_exprs, nonneg, self.n_states, self.n_params, self.n_drugs)
        stored = _load_generated(cache_path)
        if stored is not None:
            sources, self.n_derived = stored
        else:
            varying = set(state_syms) | {local[input_symbol(d.name)] for d in model.drugs} | {local[TIME]}
            rhs_fast, derived, self.n_derived = _generate_fast(
                rhs_exprs, self.n_states, self.n_params, self.n_drugs, nonneg, varying
            )
            sources = {
                "rhs": _generate("rhs", rhs_exprs, [str(i) for i in range(self.n_states)], header, "y.shape",
                                 zero_fill=False),
                "rhs_fast": rhs_fast,
                "derived": derived,
                "observe": _generate("observe", obs_exprs, [str(i) for i in range(len(obs_exprs))], header,
                                     f"({len(obs_exprs)},) + y.shape[1:]", zero_fill=False),
            }
            _store_generated(cache_path, sources, self.n_derived)
        for name in _CODEGEN_SOURCES:
            self.source._set(name, sources[name])
        self.rhs: Callable[..., np.ndarray] = self._build("rhs")
        self.observe: Callable[..., np.ndarray] = self._build("observe")
        namespace: dict[str, Any] = _namespace(self.source["derived"])
        exec(compile(self.source["derived"], f"<tumordyn generated derived of {self.model_name}>", "exec"),  # noqa: S102
             namespace)  # source generated by sympy's printer from validated expressions
        self._derived: Callable[..., np.ndarray] = namespace["derived"]
        self._derived_scalar: Callable[..., list] = namespace["derived_scalar"]

    def _jac_source(self, rhs_exprs: list[sp.Expr], state_syms: list[sp.Symbol], header: list[str]) -> str:
        jac = jacobian_expressions(rhs_exprs, state_syms)
        entries = [(i, j) for i in range(self.n_states) for j in range(self.n_states) if jac[i, j] != 0]
        sparsity = np.zeros((self.n_states, self.n_states), dtype=bool)
        for i, j in entries:
            sparsity[i, j] = True
        sparsity.flags.writeable = False
        self.__dict__["jac_sparsity"] = sparsity
        return _generate(
            "jac",
            [jac[i, j] for i, j in entries],
            [f"{i}, {j}" for i, j in entries],
            header,
            f"({self.n_states}, {self.n_states}) + y.shape[1:]",
            zero_fill=True,
        )

    @functools.cached_property
    def jac(self) -> Callable[..., np.ndarray]:
        """``jac(t, y, p, u) -> d(dy/dt)/dy`` of shape ``(n, n) + y.shape[1:]`` (generated on first use)."""
        return self._build("jac")

    @functools.cached_property
    def jac_sparsity(self) -> np.ndarray:
        """Which entries of the Jacobian can be non-zero, ``(n_states, n_states)`` bool (read-only)."""
        self.source["jac"]  # noqa: B018 - generating the Jacobian sets it
        return self.__dict__["jac_sparsity"]

    @functools.cached_property
    def _rhs_scalar(self) -> Callable[..., np.ndarray]:
        return self._build("rhs_scalar")

    def extended_params(self, p: np.ndarray) -> np.ndarray:
        """Parameters followed by their parameter-only subexpressions, as ``source["rhs_fast"]`` reads them.

        Parameters
        ----------
        p : numpy.ndarray
            One parameter vector ``(n_params,)`` or a batch ``(B, n_params)``.

        Returns
        -------
        numpy.ndarray
            Shape ``(n_params + n_derived,)`` or ``(B, n_params + n_derived)``, float64, C-contiguous.
        """
        p = np.asarray(p, dtype=float)
        if self.n_derived == 0:
            return np.ascontiguousarray(p)
        if p.ndim == 1 or (p.ndim == 2 and p.shape[0] == 1):
            values = p.reshape(-1).tolist()
            try:  # Python floats: a few microseconds, where numpy on 0-d arrays takes tens
                values += self._derived_scalar(values)
                # np.fromiter with the count: 1.2 us for the default model's 61 values, np.array 1.9 us
                return np.fromiter(values, float, len(values)).reshape(p.shape[:-1] + (-1,))
            except (ArithmeticError, ValueError, TypeError):
                pass  # e.g. a division by zero: numpy's inf/nan instead, reported by the solve
        with np.errstate(all="ignore"):  # non-finite values surface in the solve, with the time reached
            q = self._derived(p.T)
        return np.ascontiguousarray(np.concatenate([p, q.T], axis=-1))

    def rhs_single(self, t: float, y: np.ndarray, p: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Right-hand side for one state vector ``y`` of shape ``(n_states,)`` (state units per day).

        Evaluated on Python floats (2-3x cheaper per call than :attr:`rhs` on a 1-D array);
        where float arithmetic raises (a division by zero, the log of zero, a negative base
        to a fractional power) the numpy version is used, which returns inf/nan instead and
        lets the simulator report the failure with the time reached.
        """
        try:
            return self._rhs_scalar(t, y, p, u)
        except (ArithmeticError, ValueError, TypeError):
            return self.rhs(t, y, p, u)

    def _build(self, name: str) -> Callable[..., np.ndarray]:
        namespace: dict[str, Any] = _namespace(self.source[name])
        code = compile(self.source[name], f"<tumordyn generated {name} of {self.model_name}>", "exec")
        exec(code, namespace)  # noqa: S102 - source generated by sympy's printer from validated expressions
        return namespace[name]

    # -- vectors from user input -----------------------------------------------------
    def param_vector(self, overrides: Mapping[str, float] | None = None, where: str = "params") -> np.ndarray:
        """Parameter vector: defaults with ``overrides`` applied (names and bounds checked).

        Parameters
        ----------
        overrides : mapping of str to float, optional
            Values by parameter name, in the parameter's unit (a dict or a ``pandas.Series``).
        where : str, optional
            Argument name used in error messages.

        Returns
        -------
        numpy.ndarray
            Shape ``(n_params,)``; a new array.
        """
        p = self.defaults.copy()
        if overrides is None:
            return p
        overrides = _as_mapping(overrides, where, "parameter")
        for name, value in overrides.items():
            if name not in self._param_specs:
                raise UnknownNameError("parameter", name, self.param_names, f"`{where}` for model {self.model_name!r}")
            p[self.param_names.index(name)] = self._param_specs[name].check_value(value, where)
        for d, (pidx, _) in enumerate(self._dose_volume):
            if pidx >= 0 and not p[pidx] > 0:
                raise SpecificationError(
                    f"`{where}`: parameter {self.param_names[pidx]!r} is the volume of drug {self.drug_names[d]!r} "
                    f"and must be > 0 (L), got {p[pidx]}"
                )
        return p

    def initial_vector(self, overrides: Mapping[str, float] | None = None, where: str = "initial") -> np.ndarray:
        """Initial state vector: spec defaults with ``overrides`` applied (names, finiteness, sign checked).

        Parameters
        ----------
        overrides : mapping of str to float, optional
            Values by state name, in each state's unit (a dict or a ``pandas.Series``).
        where : str, optional
            Argument name used in error messages.

        Returns
        -------
        numpy.ndarray
            Shape ``(n_states,)``; a new array.
        """
        y = self.initial.copy()
        if overrides is None:
            return y
        overrides = _as_mapping(overrides, where, "state")
        for name, value in overrides.items():
            if name not in self.state_names:
                raise UnknownNameError("state", name, self.state_names, f"`{where}` for model {self.model_name!r}")
            i = self.state_names.index(name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise TypeError(f"`{where}`: value of state {name!r} must be a real number, got {value!r}")
            v = float(value)
            if not math.isfinite(v):
                raise SpecificationError(f"`{where}`: value of state {name!r} must be finite, got {v}")
            if self.nonnegative[i] and v < 0:
                raise SpecificationError(f"`{where}`: state {name!r} is non-negative; got {v}")
            y[i] = v
        return y

    def dose_jump(self, drug_index: int, amount: float, p: np.ndarray) -> tuple[int, Any]:
        """Where a bolus dose goes and by how much it raises that state.

        Parameters
        ----------
        drug_index : int
            Index of the drug in ``drug_names``.
        amount : float
            Dose amount, in the drug's dose unit (e.g. mg).
        p : numpy.ndarray
            Parameter vector ``(n_params,)`` or batch ``(n_params, B)`` (for a volume
            held by a parameter).

        Returns
        -------
        tuple of (int, float or numpy.ndarray)
            ``(state index, amount / volume)`` (e.g. mg/L; shape ``(B,)`` for a batch),
            or ``(-1, 0.0)`` for a direct-input drug, which takes no bolus doses.
        """
        comp = int(self.dose_compartment[drug_index])
        if comp < 0:
            return -1, 0.0
        pidx, vol = self._dose_volume[drug_index]
        volume = p[pidx] if pidx >= 0 else vol
        if not (np.all(np.greater(volume, 0)) and np.all(np.isfinite(volume))):
            raise SpecificationError(
                f"drug {self.drug_names[drug_index]!r} of model {self.model_name!r}: its volume "
                f"(parameter {self.param_names[pidx]!r}) is {volume}; a dose needs a volume > 0 (L)"
            )
        return comp, amount / volume


def compile_model(model: Model) -> CompiledModel:
    """The compiled numeric system of a model, generated once per model and reused.

    The first call generates and compiles the model's right-hand side, Jacobian and
    observables (:class:`CompiledModel`); later calls return the same object. The
    result is kept on the model instance (like :func:`functools.cached_property`), so
    it lives exactly as long as the model and is rebuilt after unpickling.

    Parameters
    ----------
    model : Model
        The model specification.

    Returns
    -------
    CompiledModel
        Its compiled form (states, parameters, drugs and observables in model order).

    Examples
    --------
    >>> import tumordyn as td
    >>> from tumordyn.numerics import compile_model
    >>> m = td.models.logistic_growth()
    >>> compile_model(m) is compile_model(m)
    True
    """
    cache = model.__dict__
    compiled = cache.get("_compiled_model")
    if compiled is None:
        compiled = CompiledModel(model)
        cache["_compiled_model"] = compiled  # the frozen Model's own cache slot, as cached_property would use
    return compiled


def _deprecated_compiled(model: Model) -> CompiledModel:
    """Deprecated: use :func:`compile_model` (``compile_model(model)``).

    .. deprecated:: 0.2
        The model specification no longer reaches up into the numerics layer; this alias is
        removed in 0.3.
    """
    warnings.warn(
        "Model.compiled is deprecated and will be removed in tumordyn 0.3; use tumordyn.numerics.compile_model(model)",
        DeprecationWarning,
        stacklevel=2,
    )
    return compile_model(model)


# The deprecated alias ``Model.compiled`` is attached here, by the layer that compiles, so that the
# specification layer imports nothing above it (``import tumordyn`` always imports this module).
Model.compiled = property(_deprecated_compiled, doc=_deprecated_compiled.__doc__)  # type: ignore[attr-defined]
