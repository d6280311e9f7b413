"""The autonomous system behind the analyses: a model without inputs, drug levels fixed.

Equilibria, thresholds, continuation and phase portraits all work on the same
reduced system: infusion inputs ``u_<drug>`` are set to zero, drug compartment
states are removed and replaced by constant concentrations (``drug_levels``,
default zero: no drug), a direct-input drug's level is set to its given value
(default 0, "off"), and optionally further states are frozen at given values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import sympy as sp

from ..spec import input_symbol
from ..errors import SpecificationError, UnknownNameError

if TYPE_CHECKING:
    from ..spec import Model

__all__ = ["ReducedSystem", "reduce_model", "check_model", "classify"]


def check_model(model: Any) -> None:
    """Raise ``TypeError`` unless ``model`` is a tumordyn :class:`~tumordyn.Model`."""
    from ..spec import Model

    if not isinstance(model, Model):
        raise TypeError(f"`model` must be a tumordyn Model, got {type(model).__name__}")


def _real(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{what} must be a real number, got {type(value).__name__} {value!r}")
    v = float(value)
    if not np.isfinite(v):
        raise SpecificationError(f"{what} must be finite, got {v}")
    return v


@dataclass(frozen=True, eq=False)
class ReducedSystem:
    """A model's right-hand side with inputs removed and some states held fixed.

    Attributes
    ----------
    model : Model
        The model reduced.
    names : tuple of str
        Free states (the unknowns), in model order.
    fixed : dict of str to float
        States held constant (drug compartments and frozen states), in their units.
    exprs : tuple of sympy.Expr
        Right-hand sides of the free states (parameters still symbolic; per day).
    param_symbols : tuple of sympy.Symbol
        Parameter symbols in model order.
    p : numpy.ndarray
        Parameter values (defaults with overrides), shape ``(n_params,)``.
    f, jac, dfdp : callable
        ``f(y, p)`` (shape ``(n,)``), ``jac(y, p)`` (``(n, n)``) and
        ``dfdp(y, p)`` (``(n, n_params)``), numeric.
    f_many : callable
        ``f_many(Y, p)`` for ``Y`` of shape ``(n, ...)`` (a grid of states).
    scale : numpy.ndarray
        A typical magnitude of each free state (from initial values and atol).
    nonnegative : numpy.ndarray of bool
        Which free states are non-negative.
    """

    model: Model
    names: tuple[str, ...]
    fixed: dict[str, float]
    exprs: tuple[sp.Expr, ...]
    param_symbols: tuple[sp.Symbol, ...]
    p: np.ndarray
    f: Callable[[np.ndarray, np.ndarray], np.ndarray]
    jac: Callable[[np.ndarray, np.ndarray], np.ndarray]
    dfdp: Callable[[np.ndarray, np.ndarray], np.ndarray]
    scale: np.ndarray
    nonnegative: np.ndarray
    atol: np.ndarray
    f_many: Callable[[np.ndarray, np.ndarray], np.ndarray]

    @property
    def symbols(self) -> tuple[sp.Symbol, ...]:
        """Symbols of the free states."""
        return tuple(sp.Symbol(n) for n in self.names)

    @property
    def n(self) -> int:
        """Number of free states."""
        return len(self.names)

    def param_index(self, name: str) -> int:
        """Index of parameter ``name`` in ``p`` (``UnknownNameError`` if absent)."""
        names = self.model.parameters.names
        if name not in names:
            raise UnknownNameError("parameter", name, names, f"model {self.model.name!r}")
        return names.index(name)

    def numeric_exprs(self, p: np.ndarray | None = None) -> list[sp.Expr]:
        """Right-hand sides with parameter values substituted (exact rationals of the floats)."""
        p = self.p if p is None else p
        subs = {s: sp.Float(float(v)) for s, v in zip(self.param_symbols, p)}
        out = []
        for e in self.exprs:
            e = e.xreplace(subs).evalf(20)
            out.append(e.xreplace({f: sp.Rational(repr(float(f))) for f in e.atoms(sp.Float)}))
        return out

    def full_state(self, y: np.ndarray) -> dict[str, float]:
        """All model states by name: the free ones from ``y``, the fixed ones from ``fixed``."""
        out = dict(self.fixed)
        out.update({n: float(v) for n, v in zip(self.names, y)})
        return {n: out[n] for n in self.model.states.names}


def _lambdify(args: list[Any], expr: Any) -> Callable[..., Any]:
    fn = sp.lambdify(args, expr, modules="numpy", cse=True)
    return fn


def reduce_model(
    model: Model,
    params: Mapping[str, float] | None = None,
    drug_levels: Mapping[str, float] | None = None,
    frozen: Mapping[str, float] | None = None,
) -> ReducedSystem:
    """Build the :class:`ReducedSystem` of ``model`` (see the module docstring).

    Parameters
    ----------
    model : Model
        The model.
    params : mapping, optional
        Parameter overrides by name (checked against bounds).
    drug_levels : mapping, optional
        Constant drug levels by drug name or compartment state name, in the
        compartment's concentration unit (or the level of a direct-input drug).
        Drugs not named are absent (level 0).
    frozen : mapping, optional
        Further states held at given values (e.g. for a phase portrait of two
        states of a larger model).

    Raises
    ------
    UnknownNameError
        For an unknown parameter, drug or state.
    SpecificationError
        For a negative drug level or a non-finite value.
    """
    check_model(model)
    c = model.compiled
    p = c.param_vector(params)
    rhs = model.rhs_expressions(inputs=True)
    subs: dict[sp.Symbol, Any] = {input_symbol(d): sp.Integer(0) for d in model.drugs.names}
    fixed: dict[str, float] = {}
    comp_of = {d.name: d.compartment for d in model.drugs}
    direct = {d.name for d in model.drugs if d.compartment is None}
    compartments = {d.compartment for d in model.drugs if d.compartment is not None}
    if drug_levels is not None and not isinstance(drug_levels, Mapping):
        raise TypeError(f"`drug_levels` must be a mapping of drug name to level, got {type(drug_levels).__name__}")
    levels: dict[str, float] = {}
    for key, value in (drug_levels or {}).items():
        v = _real(value, f"`drug_levels`: level of {key!r}")
        if v < 0:
            raise SpecificationError(f"`drug_levels`: level of {key!r} must be >= 0, got {v}")
        if key in direct:
            subs[input_symbol(key)] = sp.Rational(repr(v))
        elif key in comp_of:
            levels[comp_of[key]] = v  # type: ignore[index]
        elif key in compartments:
            levels[key] = v
        else:
            valid = list(comp_of) + sorted(compartments)  # type: ignore[arg-type]
            raise UnknownNameError("drug", key, valid, f"`drug_levels` for model {model.name!r}")
    for comp in sorted(compartments, key=model.states.names.index):  # type: ignore[arg-type]
        fixed[comp] = levels.get(comp, 0.0)
    for key, value in (frozen or {}).items():
        if key not in model.states.names:
            raise UnknownNameError("state", key, model.states.names, f"model {model.name!r}")
        fixed[key] = _real(value, f"value of frozen state {key!r}")
    state_subs = {sp.Symbol(k): sp.Rational(repr(v)) for k, v in fixed.items()}
    names = tuple(s for s in model.states.names if s not in fixed)
    if not names:
        raise SpecificationError(f"model {model.name!r}: no free state left after fixing {sorted(fixed)}")
    positive = {pp.symbol for pp in model.parameters if pp.bounds[0] > 0}

    def zero_powers(e: sp.Expr) -> sp.Expr:
        # 0**h with a parameter h bounded away from 0 (e.g. a Hill coefficient at zero drug) is 0
        return e.replace(lambda q: q.is_Pow and q.base == 0 and q.exp in positive, lambda q: sp.Integer(0))

    exprs = tuple(zero_powers(sp.sympify(rhs[n]).xreplace(subs).xreplace(state_subs)) for n in names)
    syms = [sp.Symbol(n) for n in names]
    psyms = tuple(pp.symbol for pp in model.parameters)
    mat = sp.Matrix(exprs)
    f_raw = _lambdify([syms, list(psyms)], list(exprs))
    j_raw = _lambdify([syms, list(psyms)], mat.jacobian(syms))
    dp_raw = _lambdify([syms, list(psyms)], mat.jacobian(list(psyms)) if psyms else sp.zeros(len(names), 0))
    n, m = len(names), len(psyms)

    def f_many(Y: np.ndarray, pv: np.ndarray) -> np.ndarray:
        out = f_raw(list(Y), pv)
        return np.stack(np.broadcast_arrays(*[np.asarray(o, dtype=float) for o in out], Y[0]))[:n]

    def f(y: np.ndarray, pv: np.ndarray) -> np.ndarray:
        return np.asarray(f_raw(y, pv), dtype=float).reshape(n)

    def jac(y: np.ndarray, pv: np.ndarray) -> np.ndarray:
        return np.asarray(j_raw(y, pv), dtype=float).reshape(n, n)

    def dfdp(y: np.ndarray, pv: np.ndarray) -> np.ndarray:
        return np.asarray(dp_raw(y, pv), dtype=float).reshape(n, m)

    idx = [model.states.names.index(nm) for nm in names]
    init = np.abs(c.initial[idx])
    atol = np.asarray(c.atol[idx], dtype=float)
    scale = np.maximum(init, np.maximum(atol * 1e3, 1e-3))
    scale = np.where(init > 0, np.maximum(init, atol), scale)
    for a in (p, scale, atol):
        a.flags.writeable = False
    nonneg = np.asarray(c.nonnegative[idx], dtype=bool)
    return ReducedSystem(model, names, fixed, exprs, psyms, p, f, jac, dfdp, scale, nonneg, atol, f_many)


#: Stability classes, see :func:`classify`.
CLASSES = ("stable node", "stable focus", "saddle", "unstable node", "unstable focus", "non-hyperbolic")


def classify(eigenvalues: Sequence[complex] | np.ndarray, tol: float = 1e-9) -> str:
    """Classify an equilibrium from its Jacobian eigenvalues.

    An eigenvalue whose real part is within ``tol * max(1, max|λ|)`` of zero
    makes it "non-hyperbolic"; otherwise all real parts negative give a stable
    node (all eigenvalues real) or focus, all positive an unstable node or
    focus, and mixed signs a saddle.
    """
    ev = np.asarray(eigenvalues, dtype=complex)
    if ev.size == 0:
        return "stable node"
    size = max(1.0, float(np.max(np.abs(ev))))
    eps = tol * size
    re, im = ev.real, ev.imag
    if np.any(np.abs(re) <= eps):
        return "non-hyperbolic"
    oscill = bool(np.any(np.abs(im) > eps))
    if np.all(re < 0):
        return "stable focus" if oscill else "stable node"
    if np.all(re > 0):
        return "unstable focus" if oscill else "unstable node"
    return "saddle"
