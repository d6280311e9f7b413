"""Immune-control threshold: the symbolic stability condition of the tumor-free equilibrium."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np
import sympy as sp

from ..errors import SpecificationError, UnknownNameError
from ._system import check_model, reduce_model

if TYPE_CHECKING:
    from ..spec import Model

__all__ = ["Threshold", "tumor_free_threshold", "default_tumor_states"]

_TUMOR_NAMES = ("S", "R", "T")
_TUMOR_WORDS = re.compile(r"\b(tumou?r|cancer)\b", re.IGNORECASE)
_NOT_TUMOR = re.compile(r"\b(effector|immune|t cells?|nk|lymphocyte|antigen|drug)\b", re.IGNORECASE)


def default_tumor_states(model: Model) -> tuple[str, ...]:
    """Tumor states of a model: states named S, R or T, else states described as tumor/cancer cells."""
    names = tuple(n for n in model.states.names if n in _TUMOR_NAMES)
    if names:
        return names
    return tuple(
        s.name for s in model.states if _TUMOR_WORDS.search(s.description) and not _NOT_TUMOR.search(s.description)
    )


class Threshold:
    """Stability condition of the tumor-free equilibrium, symbolic in the parameters.

    With the tumor states at zero the Jacobian is block triangular (every
    tumor rate vanishes with the tumor), so the tumor-free equilibrium is
    stable exactly when both diagonal blocks are: the *invasion* block (tumor
    rows and columns) gives the immune-control threshold, the host block
    (the other states) is checked numerically.

    Attributes
    ----------
    model : Model
        The model.
    tumor_states : tuple of str
        States set to zero.
    equilibrium : dict of str to sympy.Expr
        The tumor-free steady state of the other states, symbolic in the parameters.
    invasion_eigenvalues : tuple of sympy.Expr
        Eigenvalues of the invasion block (1/day): growth rates of a small tumor.
    expression : sympy.Expr
        The invasion rate: the largest eigenvalue of the invasion block
        (a ``Max`` for several tumor states), 1/day. Tumor control ⇔ ``expression < 0``.
    condition : sympy.Rel
        ``expression < 0``.
    """

    def __init__(self, model: Model, tumor_states: tuple[str, ...], equilibrium: dict[str, sp.Expr],
                 eigs: tuple[sp.Expr, ...], host_block: sp.Matrix, params: np.ndarray,
                 drug_levels: Mapping[str, float], host_names: tuple[str, ...]) -> None:
        self.model = model
        self.tumor_states = tumor_states
        self.equilibrium = MappingProxyType(dict(equilibrium))
        self.invasion_eigenvalues = eigs
        self.expression = eigs[0] if len(eigs) == 1 else sp.Max(*eigs)
        self.condition = sp.StrictLessThan(self.expression, 0)
        self._host_block = host_block
        self._host_names = host_names
        self._p = params
        self.drug_levels = MappingProxyType(dict(drug_levels))
        self._syms = tuple(p.symbol for p in model.parameters)

    def _subs(self, params: Mapping[str, float] | None) -> dict[sp.Symbol, sp.Float]:
        p = self.model.compiled.param_vector(params) if params is not None else self._p
        return {s: sp.Float(float(v)) for s, v in zip(self._syms, p)}

    def value(self, params: Mapping[str, float] | None = None) -> float:
        """The invasion rate (1/day) at the defaults with ``params`` overrides; negative means control."""
        return float(sp.re(self.expression.xreplace(self._subs(params)).evalf()))

    def equilibrium_value(self, params: Mapping[str, float] | None = None) -> dict[str, float]:
        """The tumor-free steady state (all states, by name) at the given parameters."""
        subs = self._subs(params)
        out = {n: 0.0 for n in self.model.states.names}
        out.update({k: float(self.drug_levels.get(k, 0.0)) for k in self.drug_levels})
        out.update({k: float(sp.re(v.xreplace(subs).evalf())) for k, v in self.equilibrium.items()})
        return out

    def host_stable(self, params: Mapping[str, float] | None = None) -> bool:
        """Whether the non-tumor block of the Jacobian is stable (the host state itself is stable)."""
        if self._host_block.shape[0] == 0:
            return True
        subs = self._subs(params)
        eq = {sp.Symbol(k): sp.Float(v) for k, v in self.equilibrium_value(params).items()}
        M = np.array(self._host_block.xreplace(eq).xreplace(subs).evalf(), dtype=complex)
        return bool(np.all(np.linalg.eigvals(M).real < 0))

    def is_stable(self, params: Mapping[str, float] | None = None) -> bool:
        """Whether the tumor-free equilibrium is asymptotically stable (immune control)."""
        return self.value(params) < 0 and self.host_stable(params)

    def critical_value(self, parameter: str, params: Mapping[str, float] | None = None) -> list[float]:
        """Values of ``parameter`` where the invasion rate crosses zero, the others fixed (real, within bounds)."""
        if parameter not in self.model.parameters.names:
            raise UnknownNameError("parameter", parameter, self.model.parameters.names, f"model {self.model.name!r}")
        sym = sp.Symbol(parameter)
        subs = {k: v for k, v in self._subs(params).items() if k != sym}
        lo, hi = self.model.parameters[parameter].bounds
        out = []
        for e in self.invasion_eigenvalues:
            for r in sp.solve(sp.Eq(e.xreplace(subs), 0), sym):
                rv = complex(sp.N(r))
                if abs(rv.imag) <= 1e-12 * max(1.0, abs(rv.real)) and lo <= rv.real <= hi:
                    out.append(rv.real)
        return sorted(out)

    def __repr__(self) -> str:
        return (f"Threshold of model {self.model.name!r} (tumor states {', '.join(self.tumor_states)}): "
                f"control iff {sp.sstr(self.expression)} < 0; at the defaults {self.value():.4g} /day")


def tumor_free_threshold(
    model: Model,
    tumor_states: Sequence[str] | None = None,
    params: Mapping[str, float] | None = None,
    *,
    drug_levels: Mapping[str, float] | None = None,
) -> Threshold:
    """Immune-control threshold of ``model``: when is the tumor-free equilibrium stable?

    The tumor states are set to zero and the remaining steady-state equations
    are solved symbolically (parameters kept as symbols). When several
    tumor-free steady states exist, the non-negative one whose host block is
    stable at ``params`` is taken. The tumor rows of the Jacobian at that
    state give the invasion eigenvalues; the tumor is controlled (the
    tumor-free state attracts small tumors) iff they are all negative.

    Parameters
    ----------
    model : Model
        The model; each tumor state's rate must vanish with the tumor states.
    tumor_states : sequence of str, optional
        States set to zero. Default: states named S, R or T, else those
        whose description mentions tumor/cancer cells.
    params : mapping, optional
        Parameter overrides used to choose among tumor-free states and for
        :meth:`Threshold.value` by default.
    drug_levels : mapping, optional
        Constant drug levels (see :func:`equilibria`).

    Returns
    -------
    Threshold
        ``expression`` (sympy, 1/day), ``value()``, ``is_stable()``, ``critical_value(name)``.

    Raises
    ------
    UnknownNameError
        For an unknown state, parameter or drug.
    SpecificationError
        If no tumor state is found, a tumor rate does not vanish at zero tumor,
        or the tumor-free steady state cannot be solved symbolically.

    Examples
    --------
    >>> import tumordyn as td
    >>> th = td.tumor_free_threshold(td.models.kuznetsov1994())
    >>> th.expression
    a - n*s/d
    """
    check_model(model)
    system = reduce_model(model, params, drug_levels)
    if tumor_states is None:
        tumor = default_tumor_states(model)
        if not tumor:
            raise SpecificationError(
                f"model {model.name!r}: no tumor state found (none named S, R or T or described as tumor cells); "
                "pass `tumor_states=`"
            )
    else:
        if isinstance(tumor_states, str):
            tumor_states = [tumor_states]
        tumor = tuple(tumor_states)
        for t in tumor:
            if t not in system.names:
                raise UnknownNameError("state", t, system.names, f"`tumor_states` of model {model.name!r}")
        if not tumor:
            raise SpecificationError("`tumor_states` must name at least one state")
    tumor = tuple(t for t in system.names if t in tumor)
    host = tuple(n for n in system.names if n not in tumor)
    exprs = dict(zip(system.names, system.exprs))
    zero = {sp.Symbol(t): sp.Integer(0) for t in tumor}
    for t in tumor:
        if sp.simplify(exprs[t].xreplace(zero)) != 0:
            raise SpecificationError(
                f"model {model.name!r}: d{t}/dt does not vanish when the tumor states {', '.join(tumor)} are zero; "
                "there is no tumor-free equilibrium"
            )
    host_syms = [sp.Symbol(h) for h in host]
    host_eqs = [sp.simplify(exprs[h].xreplace(zero)) for h in host]
    if len(host) > 3:
        raise SpecificationError(
            f"model {model.name!r}: {len(host)} non-tumor states; the symbolic tumor-free equilibrium is only "
            "attempted for at most 3 (fix drug levels or use equilibria(...) numerically)"
        )
    if host:
        try:
            sols = sp.solve(host_eqs, host_syms, dict=True)
        except NotImplementedError:
            sols = []
        sols = [s for s in sols if all(h in s for h in host_syms)]
        if not sols:
            raise SpecificationError(
                f"model {model.name!r}: could not solve the tumor-free steady state of {', '.join(host)} symbolically"
            )
    else:
        sols = [{}]
    J = sp.Matrix([exprs[n] for n in system.names]).jacobian([sp.Symbol(n) for n in system.names])
    ti = [system.names.index(t) for t in tumor]
    hi = [system.names.index(h) for h in host]
    num = {s: sp.Float(float(v)) for s, v in zip(system.param_symbols, system.p)}
    chosen = None
    candidates = []
    for sol in sols:
        vals = [complex(sp.N(v.xreplace(num))) for v in sol.values()]
        if any(abs(v.imag) > 1e-9 * max(1.0, abs(v.real)) or v.real < -1e-12 for v in vals):
            continue
        candidates.append(sol)
        full = dict(zero)
        full.update({k: v.xreplace(num) for k, v in sol.items()})
        Mh = np.array(J.extract(hi, hi).xreplace(full).xreplace(num).evalf(), dtype=complex) if hi else np.zeros((0, 0))
        if Mh.size == 0 or np.all(np.linalg.eigvals(Mh).real < 0):
            chosen = sol
            break
    if chosen is None:
        if not candidates:
            raise SpecificationError(f"model {model.name!r}: no non-negative tumor-free steady state at these parameters")
        chosen = candidates[0]
    at = dict(zero)
    at.update(chosen)
    Jt = sp.simplify(J.extract(ti, ti).xreplace(at))
    if Jt.is_lower or Jt.is_upper:
        eigs = tuple(sp.simplify(Jt[i, i]) for i in range(Jt.shape[0]))
    elif Jt.shape[0] <= 2:
        eigs = tuple(sp.simplify(e) for e in Jt.eigenvals(multiple=True))
    else:
        raise SpecificationError(
            f"model {model.name!r}: the invasion block of {len(tumor)} coupled tumor states is not triangular; "
            "pass fewer `tumor_states`"
        )
    eq = {h.name: sp.simplify(chosen[h]) for h in host_syms}
    Jh = J.extract(hi, hi).xreplace(zero) if hi else sp.zeros(0, 0)
    return Threshold(model, tumor, eq, eigs, Jh, system.p, system.fixed, host)
