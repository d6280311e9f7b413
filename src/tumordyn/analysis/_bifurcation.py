"""One-parameter bifurcation scans by pseudo-arclength continuation of equilibria."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import SpecificationError
from ._equilibria import find_equilibria, polish
from ._system import ReducedSystem, _real, classify, reduce_model

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

    from ..spec import Model

__all__ = ["Bifurcation", "bifurcation", "check_range"]


def check_range(model: Model, parameter: str, value_range: Any, what: str = "range") -> tuple[float, float]:
    """Validate a scan range ``(low, high)`` of a parameter against its bounds."""
    from ..errors import UnknownNameError

    if not isinstance(parameter, str):
        raise TypeError(f"the scanned parameter must be a name (str), got {type(parameter).__name__}")
    if parameter not in model.parameters.names:
        raise UnknownNameError("parameter", parameter, model.parameters.names, f"model {model.name!r}")
    try:
        lo, hi = value_range
    except (TypeError, ValueError):
        raise TypeError(f"`{what}` must be a pair (low, high) of values of {parameter!r}, got {value_range!r}") from None
    lo, hi = _real(lo, f"`{what}` low end"), _real(hi, f"`{what}` high end")
    if not lo < hi:
        raise SpecificationError(f"`{what}` of {parameter!r} must satisfy low < high, got ({lo}, {hi})")
    blo, bhi = model.parameters[parameter].bounds
    if lo < blo or hi > bhi:
        raise SpecificationError(
            f"`{what}` ({lo:g}, {hi:g}) of parameter {parameter!r} lies outside its bounds [{blo:g}, {bhi:g}] "
            f"({model.parameters[parameter].unit})"
        )
    return lo, hi


@dataclass(frozen=True)
class _Point:
    lam: float
    y: np.ndarray
    eig: np.ndarray
    t_lam: float
    det: float


class Bifurcation:
    """Branches of equilibria along one parameter, with their stability and special points.

    Attributes
    ----------
    model : Model
        The model.
    parameter : str
        The scanned parameter.
    range : tuple of float
        Scanned interval (parameter unit).
    branches : pandas.DataFrame
        One row per continuation point: ``branch`` (int), the parameter value,
        every state, ``max_real`` (1/day), ``stability`` and ``stable``.
    special_points : pandas.DataFrame
        ``kind`` ("fold", "hopf", "branch point"), ``branch``, the parameter
        value and the states there (linear interpolation between the
        bracketing points; accurate to the local step).
    notes : tuple of str
        Continuation problems (step too small, non-convergence, leaving the
        non-negative orthant), reported rather than silently dropped.
    """

    def __init__(self, model: Model, parameter: str, rng: tuple[float, float], branches: pd.DataFrame,
                 special: pd.DataFrame, notes: list[str], free_names: tuple[str, ...]) -> None:
        self.model = model
        self.parameter = parameter
        self.range = rng
        self.branches = branches
        self.special_points = special
        self.notes = tuple(notes)
        self.free_names = free_names

    @property
    def n_branches(self) -> int:
        """Number of branches traced."""
        return int(self.branches["branch"].nunique()) if len(self.branches) else 0

    def plot(self, state: str | None = None, ax: Axes | None = None, log: bool = False, logx: bool = False) -> Axes:
        """Draw ``state`` against the parameter: solid stable, dashed unstable, markers at special points.

        Parameters
        ----------
        state : str, optional
            State on the vertical axis (default: the first tumor state, else the first free state).
        ax : matplotlib.axes.Axes, optional
            Axes to draw on (a new figure otherwise).
        log, logx : bool, optional
            Logarithmic vertical / horizontal axis.

        Returns
        -------
        matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        from ._threshold import default_tumor_states

        if state is None:
            tum = [t for t in default_tumor_states(self.model) if t in self.free_names]
            state = tum[0] if tum else self.free_names[0]
        if state not in self.model.states.names:
            from ..errors import UnknownNameError

            raise UnknownNameError("state", state, self.model.states.names, f"model {self.model.name!r}")
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        df = self.branches
        labelled = {True: False, False: False}
        for _, br in df.groupby("branch", sort=True):
            x = br[self.parameter].to_numpy()
            y = br[state].to_numpy()
            st = br["stable"].to_numpy()
            start = 0
            for i in range(1, len(x) + 1):
                if i == len(x) or st[i] != st[start]:
                    seg = slice(start, min(i + 1, len(x)))
                    stable = bool(st[start])
                    lab = None
                    if not labelled[stable]:
                        lab = "stable" if stable else "unstable"
                        labelled[stable] = True
                    ax.plot(x[seg], y[seg], "-" if stable else "--", color="C0" if stable else "C3", lw=2 if stable else 1.5,
                            label=lab)
                    start = i
        styles = {"fold": ("o", "k"), "hopf": ("s", "C2"), "branch point": ("^", "C1")}
        for kind, (mk, col) in styles.items():
            sp_ = self.special_points[self.special_points["kind"] == kind] if len(self.special_points) else []
            if len(sp_):
                ax.plot(sp_[self.parameter], sp_[state], mk, color=col, ms=7, mfc="white", mew=1.5, label=kind, ls="none")
        unit_p = self.model.parameters[self.parameter].unit
        unit_s = self.model.states[state].unit
        ax.set_xlabel(f"{self.parameter} ({unit_p})" if unit_p else self.parameter)
        ax.set_ylabel(f"{state} at equilibrium ({unit_s})" if unit_s else state)
        if log:
            top = float(np.nanmax(np.abs(df[state]))) if len(df) else 1.0
            ax.set_yscale("symlog", linthresh=max(top * 1e-4, 1e-300))
        if logx:
            ax.set_xscale("log")
        ax.set_title(f"{self.model.name}: equilibria along {self.parameter}")
        ax.legend(fontsize="small")
        return ax

    def __repr__(self) -> str:
        kinds = self.special_points["kind"].value_counts().to_dict() if len(self.special_points) else {}
        sp_txt = ", ".join(f"{v} {k}" for k, v in kinds.items()) or "no special points"
        return (f"Bifurcation of model {self.model.name!r} along {self.parameter} in [{self.range[0]:g}, {self.range[1]:g}]: "
                f"{self.n_branches} branches, {len(self.branches)} points, {sp_txt}"
                + (f"; {len(self.notes)} notes" if self.notes else ""))


class _Continuer:
    """Pseudo-arclength continuation in scaled coordinates (z = y / scale, s = normalised parameter)."""

    def __init__(self, system: ReducedSystem, k: int, lo: float, hi: float, log: bool, scale: np.ndarray,
                 h0: float, h_max: float, h_min: float, max_points: int) -> None:
        self.sys = system
        self.k = k
        self.lo, self.hi, self.log = lo, hi, log
        self.sc = scale
        self.h0, self.h_max, self.h_min, self.max_points = h0, h_max, h_min, max_points
        self.p0 = system.p.copy()
        self.special: list[tuple[str, _Point]] = []

    def lam(self, s: float) -> float:
        if self.log:
            return float(np.exp(np.log(self.lo) + s * (np.log(self.hi) - np.log(self.lo))))
        return self.lo + s * (self.hi - self.lo)

    def s_of(self, lam: float) -> float:
        if self.log:
            return float((np.log(lam) - np.log(self.lo)) / (np.log(self.hi) - np.log(self.lo)))
        return (lam - self.lo) / (self.hi - self.lo)

    def dlam(self, s: float) -> float:
        return self.lam(s) * (np.log(self.hi) - np.log(self.lo)) if self.log else self.hi - self.lo

    def p(self, s: float) -> np.ndarray:
        p = self.p0.copy()
        p[self.k] = self.lam(s)
        return p

    def G(self, x: np.ndarray, fs: np.ndarray) -> np.ndarray:
        return self.sys.f(x[:-1] * self.sc, self.p(x[-1])) / fs

    def K(self, x: np.ndarray, fs: np.ndarray) -> np.ndarray:
        y, p = x[:-1] * self.sc, self.p(x[-1])
        Gz = self.sys.jac(y, p) * self.sc[None, :] / fs[:, None]
        Gs = self.sys.dfdp(y, p)[:, self.k] * self.dlam(x[-1]) / fs
        return np.column_stack([Gz, Gs])

    def tangent(self, x: np.ndarray, fs: np.ndarray, prev: np.ndarray | None, direction: float) -> np.ndarray:
        _, _, vt = np.linalg.svd(self.K(x, fs))
        t = vt[-1]
        if prev is not None:
            if np.dot(t, prev) < 0:
                t = -t
        elif t[-1] * direction < 0:
            t = -t
        return t / np.linalg.norm(t)

    def point(self, x: np.ndarray, t: np.ndarray) -> _Point:
        y = x[:-1] * self.sc
        J = self.sys.jac(y, self.p(x[-1]))
        return _Point(self.lam(x[-1]), y, np.linalg.eigvals(J), float(t[-1]), float(np.linalg.det(J * self.sc[None, :] / self.sc[:, None])))

    def correct(self, xp: np.ndarray, t: np.ndarray, fs: np.ndarray) -> tuple[np.ndarray, int, bool]:
        x = xp.copy()
        for it in range(1, 9):
            with np.errstate(all="ignore"):
                H = np.append(self.G(x, fs), np.dot(t, x - xp))
                A = np.vstack([self.K(x, fs), t])
            if not (np.all(np.isfinite(H)) and np.all(np.isfinite(A))):
                return x, it, False
            try:
                dx = np.linalg.solve(A, -H)
            except np.linalg.LinAlgError:
                return x, it, False
            x = x + dx
            if np.max(np.abs(dx)) < 1e-10 and np.max(np.abs(self.G(x, fs))) < 1e-8:
                return x, it, True
        return x, 8, bool(np.max(np.abs(self.G(x, fs))) < 1e-8)

    def refine(self, x: np.ndarray, t: np.ndarray, h: float, fs: np.ndarray, which: str) -> _Point | None:
        """Locate a sign change of the tangent's parameter component (fold) or of det J (branch point)
        between ``x`` and the point an arclength ``h`` further, by bisection on the step."""

        def indicator(pt: _Point) -> float:
            return pt.t_lam if which == "fold" else pt.det

        start = self.point(x, t)
        a, b = 0.0, h
        best = None
        for _ in range(40):
            mid = 0.5 * (a + b)
            xm, _, ok = self.correct(x + mid * t, t, fs)
            if not ok:
                return best
            tm = self.tangent(xm, fs, t, 1.0)
            pm = self.point(xm, tm)
            best = pm
            if indicator(pm) * indicator(start) > 0:
                a = mid
            else:
                b = mid
            if b - a < 1e-10:
                break
        return best

    def run(self, y0: np.ndarray, s0: float, direction: float, notes: list[str], label: str) -> list[_Point]:
        x = np.append(y0 / self.sc, s0)
        fs = self.sc * np.maximum(np.max(np.abs(self.sys.jac(y0, self.p(s0))) * self.sc[None, :] / self.sc[:, None], axis=1), 1e-6)
        t = self.tangent(x, fs, None, direction)
        pts = [self.point(x, t)]
        h = self.h0
        nn = self.sys.nonnegative
        tol = 1e-9
        while True:
            if len(pts) >= self.max_points:
                notes.append(f"{label}: stopped after max_points = {self.max_points} points at "
                             f"{self.sys.model.parameters.names[self.k]} = {pts[-1].lam:g}")
                break
            xp = x + h * t
            xn, it, ok = self.correct(xp, t, fs)
            if ok:
                tn = self.tangent(xn, fs, t, direction)
                if np.dot(tn, t) < 0.9 or np.linalg.norm(xn - x) > 2 * h:
                    ok = False  # too sharp a turn: possibly a jump to another branch
            if not ok:
                h /= 2
                if h < self.h_min:
                    notes.append(f"{label}: continuation failed to converge at {self.sys.model.parameters.names[self.k]} "
                                 f"= {pts[-1].lam:g} (step below {self.h_min:g}); branch ends there")
                    break
                continue
            if xn[-1] > 1 or xn[-1] < 0:
                # end exactly on the boundary of the range
                sb = 1.0 if xn[-1] > 1 else 0.0
                w = (sb - x[-1]) / (xn[-1] - x[-1])
                yb = (x[:-1] + w * (xn[:-1] - x[:-1])) * self.sc
                yb, okb, _ = polish(self.sys, yb, self.p(sb))
                if okb and not np.any(yb[nn] < -tol * self.sc[nn]):
                    yb[nn] = np.maximum(yb[nn], 0.0)
                    pts.append(self.point(np.append(yb / self.sc, sb), tn))
                break
            if np.any(xn[:-1][nn] < -1e-7):
                zx, zn = x[:-1][nn], xn[:-1][nn]
                w = float(np.min(np.where(zn < 0, zx / np.where(zx - zn == 0, 1.0, zx - zn), 1.0)))
                xe = x + np.clip(w, 0.0, 1.0) * (xn - x)
                ye = xe[:-1] * self.sc
                ye[nn] = np.maximum(ye[nn], 0.0)
                pts.append(self.point(np.append(ye / self.sc, xe[-1]), tn))
                notes.append(f"{label}: branch leaves the non-negative states at {self.sys.model.parameters.names[self.k]} "
                             f"≈ {self.lam(xe[-1]):g}; traced up to there")
                break
            pn = self.point(xn, tn)
            for kind, ind in (("fold", lambda q: q.t_lam), ("branch point", lambda q: q.det)):
                if ind(pts[-1]) * ind(pn) < 0:
                    ref = self.refine(x, t, float(np.dot(xn - x, t)), fs, kind)
                    if ref is not None:
                        self.special.append((kind, ref))
                    break
            x, t = xn, tn
            pts.append(pn)
            if it <= 3:
                h = min(h * 1.4, self.h_max)
        return pts


def _n_unstable_complex(eig: np.ndarray) -> int:
    size = max(1.0, float(np.max(np.abs(eig)))) if eig.size else 1.0
    return int(np.sum((eig.real > 0) & (np.abs(eig.imag) > 1e-9 * size)))


def _special(branch: int, pts: list[_Point], names: tuple[str, ...]) -> list[dict[str, Any]]:
    out = []
    for a, b in zip(pts[:-1], pts[1:]):
        kind, w = None, 0.5
        if a.t_lam * b.t_lam < 0 or a.det * b.det < 0:
            continue  # folds and branch points are located by the continuer
        if _n_unstable_complex(a.eig) != _n_unstable_complex(b.eig):
            kind = "hopf"
            ra = float(np.max(a.eig.real[np.abs(a.eig.imag) > 0])) if np.any(np.abs(a.eig.imag) > 0) else 0.0
            rb = float(np.max(b.eig.real[np.abs(b.eig.imag) > 0])) if np.any(np.abs(b.eig.imag) > 0) else 0.0
            w = ra / (ra - rb) if ra != rb else 0.5
        if kind is not None:
            w = float(np.clip(w, 0.0, 1.0))
            row = {"kind": kind, "branch": branch, "value": a.lam + w * (b.lam - a.lam)}
            for i, n in enumerate(names):
                row[n] = float(a.y[i] + w * (b.y[i] - a.y[i]))
            out.append(row)
    return out


def bifurcation(
    model: Model,
    parameter: str,
    range: Sequence[float],  # noqa: A002 - the public name asked for
    *,
    params: Mapping[str, float] | None = None,
    drug_levels: Mapping[str, float] | None = None,
    log: bool = False,
    step: float = 0.01,
    max_step: float = 0.05,
    max_points: int = 2000,
) -> Bifurcation:
    """Follow the equilibria of ``model`` as ``parameter`` moves through ``range``.

    Every equilibrium found at either end of the range (see :func:`equilibria`)
    is continued into the range by pseudo-arclength continuation (tangent
    predictor, Newton corrector on the arclength-augmented system) in scaled
    coordinates: states divided by their largest magnitude at the ends, the
    parameter mapped to [0, 1] (logarithmically with ``log=True``). The step
    grows after easy corrections and halves after failures; a step below 1e-7
    ends the branch with a note. Folds are where the parameter component of
    the tangent changes sign (a real eigenvalue crosses zero and the branch
    turns back), branch points where det J changes sign without a turn
    (transcritical/pitchfork), Hopf points where a complex pair crosses the
    imaginary axis. Branches lying wholly inside the range (isolas) that touch
    neither end are not found.

    Parameters
    ----------
    model : Model
        The model.
    parameter : str
        Parameter to vary.
    range : pair of float
        ``(low, high)`` within the parameter's bounds (parameter unit).
    params : mapping, optional
        Values of the other parameters (overrides of the defaults).
    drug_levels : mapping, optional
        Constant drug levels (see :func:`equilibria`).
    log : bool, optional
        Continue in log(parameter) (needs ``low > 0``); better for ranges over decades.
    step, max_step : float, optional
        Initial and largest arclength steps in scaled coordinates.
    max_points : int, optional
        Largest number of points per branch.

    Returns
    -------
    Bifurcation
        ``branches`` and ``special_points`` tables and ``plot()``.

    Raises
    ------
    UnknownNameError
        For an unknown parameter or drug.
    SpecificationError
        For a range outside the parameter's bounds, ``low >= high`` or ``log`` with ``low <= 0``.
    """
    import pandas as pd

    system = reduce_model(model, params, drug_levels)
    lo, hi = check_range(model, parameter, range)
    if log and lo <= 0:
        raise SpecificationError(f"`log=True` needs a positive low end of the range of {parameter!r}, got {lo}")
    for nm, v in (("step", step), ("max_step", max_step)):
        if not _real(v, f"`{nm}`") > 0:
            raise SpecificationError(f"`{nm}` must be > 0, got {v}")
    if isinstance(max_points, bool) or not isinstance(max_points, (int, np.integer)) or max_points < 2:
        raise SpecificationError(f"`max_points` must be an integer >= 2, got {max_points!r}")
    k = system.param_index(parameter)
    notes: list[str] = []
    ends = []
    for s_end, lam in ((0.0, lo), (1.0, hi)):
        p = system.p.copy()
        p[k] = lam
        pts, method, n, failed, nts = find_equilibria(system, p)
        if failed:
            notes.append(f"equilibria at {parameter} = {lam:g}: {failed} of {n} root-finder starts did not converge")
        ends.append((s_end, pts))
    allpts = [y for _, pts in ends for y in pts]
    scale = np.maximum(system.scale, np.max(np.abs(np.array(allpts)), axis=0)) if allpts else system.scale.copy()
    cont = _Continuer(system, k, lo, hi, log, scale, float(step), float(max_step), 1e-7, int(max_points))
    branches: list[list[_Point]] = []
    found: list[list[tuple[str, _Point]]] = []
    for s_end, pts in ends:
        direction = 1.0 if s_end == 0.0 else -1.0
        for y in pts:
            covered = any(
                abs(cont.s_of(q.lam) - s_end) < 1e-9 and np.max(np.abs((q.y - y) / scale)) < 1e-5
                for br in branches for q in (br[0], br[-1])
            )
            if covered:
                continue
            label = f"branch {len(branches)} (from {parameter} = {cont.lam(s_end):g})"
            cont.special = []
            branches.append(cont.run(np.asarray(y, dtype=float), s_end, direction, notes, label))
            found.append(list(cont.special))
    rows, special = [], []
    names = system.names
    for b, pts in enumerate(branches):
        if direction_is_reverse := (len(pts) > 1 and pts[-1].lam < pts[0].lam):
            pts = pts[::-1]
        del direction_is_reverse
        for q in pts:
            row: dict[str, Any] = {"branch": b, parameter: q.lam}
            full = system.full_state(q.y)
            row.update(full)
            row["max_real"] = float(np.max(q.eig.real))
            row["stability"] = classify(q.eig)
            row["stable"] = bool(np.all(q.eig.real < 0))
            rows.append(row)
        located = [{"kind": kind, "branch": b, "value": q.lam, **{n: float(q.y[i]) for i, n in enumerate(names)}}
                   for kind, q in found[b]]
        for r in located + _special(b, pts, names):
            r[parameter] = r.pop("value")
            ys = np.array([r[n] for n in names])
            ys[system.nonnegative] = np.maximum(ys[system.nonnegative], 0.0)
            full = system.full_state(ys)
            r.update(full)
            special.append(r)
    cols = ["branch", parameter, *model.states.names, "max_real", "stability", "stable"]
    df = pd.DataFrame(rows, columns=cols)
    sdf = pd.DataFrame(special, columns=["kind", "branch", parameter, *model.states.names])
    return Bifurcation(model, parameter, (lo, hi), df, sdf, notes, names)
