"""Steady states of a model: symbolic elimination where possible, many-start root finding otherwise."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import mpmath
import numpy as np
import sympy as sp

from ..errors import SpecificationError
from ._system import ReducedSystem, classify, reduce_model

if TYPE_CHECKING:
    import pandas as pd

    from ..spec import Model

__all__ = ["Equilibria", "equilibria", "find_equilibria", "polish"]

#: Largest Bezout number (product of the numerator degrees) tried symbolically.
MAX_SYMBOLIC_BEZOUT = 64
#: Largest number of free states tried symbolically.
MAX_SYMBOLIC_STATES = 3


class Equilibria:
    """Steady states of a model with their Jacobian eigenvalues and stability.

    Attributes
    ----------
    model : Model
        The model analysed.
    state_names : tuple of str
        Names of all model states (columns of ``states``).
    free_names : tuple of str
        States solved for (drug compartments are held at their fixed levels).
    states : numpy.ndarray
        Equilibrium values, shape ``(k, n_states)`` in each state's unit (read-only).
    eigenvalues : tuple of numpy.ndarray
        Eigenvalues (1/day, complex) of the Jacobian of the free states at each equilibrium.
    stability : tuple of str
        Classification of each: "stable node", "stable focus", "saddle",
        "unstable node", "unstable focus" or "non-hyperbolic".
    method : str
        ``"symbolic"`` (Gröbner elimination, all isolated roots) or ``"numerical"``
        (root finding from many starts: equilibria may be missed).
    n_starts, n_failed : int
        Numerical starts tried and starts whose root finder did not converge
        (0 for the symbolic method).
    params : mapping
        Parameter values used, by name.
    drug_levels : mapping
        Fixed levels of drug compartments (concentration units).
    """

    def __init__(
        self,
        system: ReducedSystem,
        points: list[np.ndarray],
        method: str,
        n_starts: int,
        n_failed: int,
        failures: list[str],
    ) -> None:
        self.model = system.model
        self.state_names = system.model.states.names
        self.free_names = system.names
        rows = [[system.full_state(y)[n] for n in self.state_names] for y in points]
        st = np.array(rows, dtype=float).reshape(len(points), len(self.state_names))
        st.flags.writeable = False
        self.states = st
        eigs = []
        for y in points:
            ev = np.linalg.eigvals(system.jac(y, system.p)).astype(complex)
            ev = ev[np.lexsort((ev.imag, -ev.real))]
            ev.flags.writeable = False
            eigs.append(ev)
        self.eigenvalues = tuple(eigs)
        self.stability = tuple(classify(ev) for ev in eigs)
        self.method = method
        self.n_starts = int(n_starts)
        self.n_failed = int(n_failed)
        self.failures = tuple(failures)
        self.params: Mapping[str, float] = MappingProxyType(
            {n: float(v) for n, v in zip(system.model.parameters.names, system.p)}
        )
        self.drug_levels: Mapping[str, float] = MappingProxyType(dict(system.fixed))

    def __len__(self) -> int:
        return self.states.shape[0]

    def __iter__(self):  # noqa: ANN204
        for i in range(len(self)):
            yield self[i]

    def __getitem__(self, i: int) -> dict[str, Any]:
        """Equilibrium ``i`` as a dict: state values by name, ``eigenvalues``, ``stability``."""
        out: dict[str, Any] = {n: float(v) for n, v in zip(self.state_names, self.states[i])}
        out["eigenvalues"] = self.eigenvalues[i]
        out["stability"] = self.stability[i]
        return out

    @property
    def stable(self) -> np.ndarray:
        """Whether each equilibrium is asymptotically stable (all eigenvalues with negative real part)."""
        return np.array([s.startswith("stable") for s in self.stability], dtype=bool)

    @property
    def max_real(self) -> np.ndarray:
        """Largest real part of the eigenvalues of each equilibrium (1/day)."""
        return np.array([float(np.max(ev.real)) if ev.size else -np.inf for ev in self.eigenvalues])

    def to_dataframe(self) -> pd.DataFrame:
        """One row per equilibrium: state values, eigenvalues, max real part and stability."""
        import pandas as pd

        df = pd.DataFrame(np.asarray(self.states), columns=list(self.state_names))
        df["eigenvalues"] = [tuple(complex(v) for v in ev) for ev in self.eigenvalues]
        df["max_real"] = self.max_real
        df["stability"] = list(self.stability)
        return df

    def __repr__(self) -> str:
        head = (
            f"Equilibria of model {self.model.name!r}: {len(self)} found ({self.method}"
            + (f", {self.n_failed}/{self.n_starts} starts failed to converge" if self.method == "numerical" else "")
            + ")"
        )
        lines = [head]
        for i in range(len(self)):
            vals = ", ".join(f"{n}={v:.6g}" for n, v in zip(self.state_names, self.states[i]) if n in self.free_names)
            lines.append(f"  [{i}] {vals}  {self.stability[i]} (max Re λ = {self.max_real[i]:.4g} /day)")
        return "\n".join(lines)


# -- helpers ------------------------------------------------------------------------------
def polish(system: ReducedSystem, y0: np.ndarray, p: np.ndarray | None = None, tol: float = 1e-10) -> tuple[np.ndarray, bool, str]:
    """Refine a steady state by Newton-type root finding in scaled variables.

    Returns ``(y, converged, message)``.
    """
    p = system.p if p is None else p
    sc = system.scale
    fs = _f_scale(system, y0, p)

    def fun(z: np.ndarray) -> np.ndarray:
        return system.f(z * sc, p) / fs

    def jac(z: np.ndarray) -> np.ndarray:
        return system.jac(z * sc, p) * sc[None, :] / fs[:, None]

    from scipy.optimize import root  # scipy imported on first use: `import tumordyn` stays light

    with np.errstate(all="ignore"):
        try:
            sol = root(fun, np.asarray(y0, dtype=float) / sc, jac=jac, method="hybr", options={"xtol": 1e-12})
        except (ValueError, FloatingPointError, ZeroDivisionError, OverflowError) as exc:
            return np.asarray(y0, dtype=float), False, f"{type(exc).__name__}: {exc}"
        y = sol.x * sc
        res = fun(sol.x)
        jfin = bool(np.all(np.isfinite(system.jac(y, p))))
    ok = bool(np.all(np.isfinite(y)) and np.all(np.isfinite(res)) and np.max(np.abs(res), initial=0.0) < max(tol, 1e-8))
    if ok and not jfin:
        return y, False, "the Jacobian is not finite there (a rate divides by a state that is zero)"

    return y, ok, str(sol.message)


def _f_scale(system: ReducedSystem, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Residual scale per equation: state scale times the fastest local rate (per day)."""
    with np.errstate(all="ignore"):
        J = system.jac(np.asarray(y, dtype=float), p)
    rate = np.max(np.abs(J) * system.scale[None, :] / system.scale[:, None], axis=1) if np.all(np.isfinite(J)) else None
    if rate is None:
        rate = np.ones(system.n)
    return system.scale * np.maximum(rate, 1e-3)


def _nonneg_clean(system: ReducedSystem, y: np.ndarray, rel: float = 1e-7) -> np.ndarray | None:
    tol = np.maximum(system.scale * rel, system.atol * 1e-3)
    nn = system.nonnegative
    if np.any(y[nn] < -tol[nn]):
        return None
    y = y.copy()
    y[nn] = np.where(np.abs(y[nn]) <= tol[nn], 0.0, y[nn])
    y[nn] = np.maximum(y[nn], 0.0)
    return y


def _finite_jac(system: ReducedSystem, y: np.ndarray, p: np.ndarray) -> bool:
    with np.errstate(all="ignore"):
        return bool(np.all(np.isfinite(system.jac(y, p))) and np.all(np.isfinite(system.f(y, p))))


def _dedupe(points: list[np.ndarray], system: ReducedSystem, rtol: float = 1e-5) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    atol = np.maximum(system.atol * 1e-2, system.scale * 1e-9)
    for y in points:
        if not any(np.all(np.abs(y - q) <= rtol * np.maximum(np.abs(y), np.abs(q)) + atol) for q in out):
            out.append(y)
    return out


def _sort(points: list[np.ndarray]) -> list[np.ndarray]:
    return sorted(points, key=lambda y: tuple(y[::-1]))


def _univariate(g: sp.Poly, k: int, sol: dict[int, Any]) -> list[Any] | None:
    """Coefficients (highest first) of ``g`` in variable ``k`` after substituting ``sol``; ``None`` if ~0 or constant."""
    deg = g.degree(g.gens[k])
    coef = [mpmath.mpc(0)] * (deg + 1)
    ref = [mpmath.mpf(0)] * (deg + 1)
    for monom, c in g.terms():
        term = mpmath.mpc(mpmath.mpf(c.p) / c.q) if isinstance(c, sp.Rational) else mpmath.mpc(complex(c))
        mag = abs(term)
        for j, e in enumerate(monom):
            if j != k and e:
                term *= sol[j] ** e
                mag *= abs(sol[j]) ** e
        coef[deg - monom[k]] += term
        ref[deg - monom[k]] += mag
    if max(ref) == 0:
        return None
    # a coefficient that cancels to rounding level relative to its own terms is zero
    coef = [c if abs(c) > mpmath.mpf(10) ** -30 * m else mpmath.mpc(0) for c, m in zip(coef, ref)]
    while coef and coef[0] == 0:
        coef.pop(0)
    if len(coef) <= 1:
        return None
    return coef


def _roots(coef: list[Any]) -> list[Any]:
    try:
        return [mpmath.mpc(r) for r in mpmath.polyroots(coef, maxsteps=500, extraprec=300)]
    except mpmath.libmp.NoConvergence:
        return [mpmath.mpc(complex(r)) for r in np.roots(np.array([complex(c) for c in coef]))]


def _vanishes(coef: list[Any], r: Any) -> bool:
    val = abs(mpmath.polyval(coef, r))
    ref = mpmath.polyval([abs(c) for c in coef], abs(r))
    return bool(val <= 1e-6 * ref)


# -- symbolic ---------------------------------------------------------------------------------
def _symbolic_candidates(system: ReducedSystem, p: np.ndarray) -> list[np.ndarray] | None:
    """All isolated complex roots via a lex Gröbner basis, or ``None`` if not applicable."""
    syms = system.symbols
    if len(syms) > MAX_SYMBOLIC_STATES:
        return None
    nums, dens = [], []
    for e in system.numeric_exprs(p):
        num, den = sp.fraction(sp.together(e))
        if not (num.is_polynomial(*syms) and den.is_polynomial(*syms)):
            return None
        nums.append(sp.expand(num))
        dens.append(den)
    bezout = 1
    for num in nums:
        if num == 0:
            return None  # an identically zero equation: a continuum of steady states
        bezout *= max(1, sp.Poly(num, *syms).total_degree())
    if bezout > MAX_SYMBOLIC_BEZOUT:
        return None
    try:
        G = sp.groebner(nums, *syms, order="lex")
    except Exception:  # noqa: BLE001 - any failure of the symbolic route falls back to numerics
        return None
    polys = [sp.Poly(g, *syms) for g in G.exprs]
    if not polys or not all(q.domain.is_QQ or q.domain.is_ZZ for q in polys):
        return None
    if len(polys) == 1 and polys[0].is_ground:
        return []  # inconsistent: no steady state at all
    with mpmath.workdps(60):
        partial = _back_substitute(polys, syms)
    if partial is None:
        return None
    out = []
    for sol in partial:
        y = np.array([complex(sol[k]) for k in range(len(syms))], dtype=complex)
        out.append(y)
    return out


def _back_substitute(polys: list[sp.Poly], syms: tuple[sp.Symbol, ...]) -> list[dict[int, Any]] | None:
    partial: list[dict[int, Any]] = [{}]
    for k in range(len(syms) - 1, -1, -1):
        x = syms[k]
        rel = [g for g in polys if g.degree(x) > 0 and all(g.degree(syms[j]) == 0 for j in range(k))]
        if not rel:
            return None  # positive-dimensional solution set
        nxt: list[dict[int, Any]] = []
        for sol in partial:
            uni = [c for c in (_univariate(g, k, sol) for g in rel) if c is not None]
            if not uni:
                return None
            uni.sort(key=len)
            for r in _roots(uni[0]):
                if all(_vanishes(c, r) for c in uni[1:]):
                    d = dict(sol)
                    d[k] = r
                    nxt.append(d)
        partial = nxt
    return partial


def _symbolic(system: ReducedSystem, p: np.ndarray) -> tuple[list[np.ndarray], list[str]] | None:
    cands = _symbolic_candidates(system, p)
    if cands is None:
        return None
    pts, notes = [], []
    for y in cands:
        if np.any(np.abs(y.imag) > 1e-6 * np.maximum(np.abs(y.real), system.scale)):
            continue
        yr = _nonneg_clean(system, y.real, rel=1e-6)
        if yr is None:
            continue
        yp, ok, msg = polish(system, yr, p)
        if ok:
            yp = _nonneg_clean(system, yp)
        if not ok or yp is None:
            # e.g. a root of the numerator where a denominator vanishes: not a steady state
            if _finite_jac(system, yr, p):
                with np.errstate(all="ignore"):
                    resid = np.max(np.abs(system.f(yr, p)) / _f_scale(system, yr, p))
                if resid < 1e-6:
                    pts.append(yr)
                    continue
            notes.append(f"candidate {dict(zip(system.names, yr))} rejected: {' '.join(msg.split())}")
            continue
        if _finite_jac(system, yp, p):
            pts.append(yp)
        else:
            notes.append(f"candidate {dict(zip(system.names, yp))} rejected: the Jacobian is not finite there")
    return pts, notes


# -- numerical --------------------------------------------------------------------------------
def _starts(system: ReducedSystem, n_starts: int, seed: int, span: tuple[float, float]) -> np.ndarray:
    from scipy.stats import qmc

    n = system.n
    m = max(1, int(n_starts))
    sob = qmc.Sobol(d=n, scramble=True, seed=seed).random(m)
    lo, hi = span
    starts = system.scale[None, :] * 10.0 ** (lo + (hi - lo) * sob)
    # boundary starts: subsets of the non-negative states at zero (tumor-free, immune-free...)
    extra = []
    if n <= 8:
        for mask in range(1, 2**n):
            zero = np.array([(mask >> i) & 1 for i in range(n)], dtype=bool)
            if np.any(zero & ~system.nonnegative):
                continue
            for base in (system.scale, starts[mask % m]):
                y = base.copy()
                y[zero] = 0.0
                extra.append(y)
    return np.vstack([starts] + ([np.array(extra)] if extra else []))


def _numerical(
    system: ReducedSystem, p: np.ndarray, n_starts: int, seed: int, span: tuple[float, float]
) -> tuple[list[np.ndarray], int, int, list[str]]:
    starts = _starts(system, n_starts, seed, span)
    pts, failed, notes = [], 0, []
    for y0 in starts:
        y, ok, msg = polish(system, y0, p)
        if not ok:
            failed += 1
            if len(notes) < 5:
                notes.append(f"start {np.array2string(y0, precision=3)}: {' '.join(msg.split())}")
            continue
        yc = _nonneg_clean(system, y)
        if yc is not None and _finite_jac(system, yc, p):
            pts.append(yc)
    return pts, len(starts), failed, notes


def find_equilibria(
    system: ReducedSystem,
    p: np.ndarray | None = None,
    method: str = "auto",
    n_starts: int = 256,
    seed: int = 0,
    span: tuple[float, float] = (-4.0, 3.0),
) -> tuple[list[np.ndarray], str, int, int, list[str]]:
    """Non-negative steady states of a reduced system (engine of :func:`equilibria`)."""
    p = system.p if p is None else p
    if method not in ("auto", "symbolic", "numerical"):
        raise SpecificationError(f"`method` must be 'auto', 'symbolic' or 'numerical', got {method!r}")
    if method in ("auto", "symbolic"):
        res = _symbolic(system, p)
        if res is not None:
            pts, notes = res
            return _sort(_dedupe(pts, system)), "symbolic", 0, 0, notes
        if method == "symbolic":
            raise SpecificationError(
                f"model {system.model.name!r}: the steady-state equations of {', '.join(system.names)} are not a "
                f"small polynomial/rational system (at most {MAX_SYMBOLIC_STATES} states, Bezout number at most "
                f"{MAX_SYMBOLIC_BEZOUT}) with isolated roots; use method='numerical'"
            )
    pts, n, failed, notes = _numerical(system, p, n_starts, seed, span)
    return _sort(_dedupe(pts, system)), "numerical", n, failed, notes


def equilibria(
    model: Model,
    params: Mapping[str, float] | None = None,
    *,
    drug_levels: Mapping[str, float] | None = None,
    method: str = "auto",
    n_starts: int = 256,
    seed: int = 0,
) -> Equilibria:
    """All non-negative steady states of ``model``, with eigenvalues and stability.

    Infusion inputs are zero; drug compartments are held at constant levels
    (``drug_levels``, default 0: untreated) and removed from the unknowns.

    Parameters
    ----------
    model : Model
        The model.
    params : mapping, optional
        Parameter overrides by name (checked against the bounds).
    drug_levels : mapping, optional
        Constant drug concentrations by drug name or compartment state name
        (e.g. ``{"anti_pd1": 10.0}``, compartment units); the level of a
        direct-input drug (e.g. ``{"abiraterone": 1.0}``).
    method : {"auto", "symbolic", "numerical"}, optional
        ``"symbolic"``: the numerators of the right-hand sides (rational
        functions of at most 3 free states, Bezout number at most 64) are
        triangularised by a lex Gröbner basis and every isolated root is found
        by back-substitution and polished by Newton's method — no steady state
        is missed. ``"numerical"``: ``scipy.optimize.root`` from ``n_starts``
        scrambled-Sobol starts spread log-uniformly over 1e-4 to 1e3 times each
        state's scale (its default initial value), plus starts with subsets of
        the states at zero; solutions are de-duplicated (relative tolerance
        1e-5). ``"auto"`` (default) tries the symbolic route first.
    n_starts : int, optional
        Number of Sobol starts of the numerical method (default 256).
    seed : int, optional
        Seed of the Sobol sequence (results are reproducible).

    Returns
    -------
    Equilibria
        ``.to_dataframe()`` gives one row per equilibrium; ``n_failed`` counts
        the starts whose root finder did not converge.

    Raises
    ------
    UnknownNameError
        For an unknown parameter or drug.
    SpecificationError
        For out-of-bounds parameter values or a bad ``method``.

    Examples
    --------
    >>> import tumordyn as td
    >>> eq = td.analysis.equilibria(td.models.kuznetsov1994())
    >>> list(eq.stability)
    ['saddle', 'stable focus', 'saddle', 'stable node']
    """
    if isinstance(n_starts, bool) or not isinstance(n_starts, (int, np.integer)) or n_starts < 1:
        raise SpecificationError(f"`n_starts` must be a positive integer, got {n_starts!r}")
    system = reduce_model(model, params, drug_levels)
    pts, used, n, failed, notes = find_equilibria(system, method=method, n_starts=int(n_starts), seed=int(seed))
    return Equilibria(system, pts, used, n, failed, notes)
