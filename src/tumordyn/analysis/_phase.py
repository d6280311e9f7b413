"""Phase portraits of two states: nullclines, vector field, trajectories and equilibria."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import SpecificationError, UnknownNameError
from ._equilibria import find_equilibria
from ._system import _real, check_model, classify, reduce_model
from ..numerics import compile_model

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ..spec import Model

__all__ = ["phase_portrait"]


def _range(value: Any, name: str, log: bool) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        lo, hi = value
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a pair (low, high), got {value!r}") from None
    lo, hi = _real(lo, f"`{name}` low end"), _real(hi, f"`{name}` high end")
    if not lo < hi:
        raise SpecificationError(f"`{name}` must satisfy low < high, got ({lo}, {hi})")
    if log and lo <= 0:
        raise SpecificationError(f"`{name}` must be positive for log axes, got ({lo}, {hi})")
    return lo, hi


def phase_portrait(
    model: Model,
    x: str,
    y: str,
    *,
    params: Mapping[str, float] | None = None,
    drug_levels: Mapping[str, float] | None = None,
    fixed: Mapping[str, float] | None = None,
    x_range: Sequence[float] | None = None,
    y_range: Sequence[float] | None = None,
    log: bool = False,
    starts: int | Sequence[Sequence[float]] = 8,
    t_end: float = 365.0,
    n_grid: int = 25,
    field: str = "stream",
    ax: Axes | None = None,
) -> Axes:
    """Phase portrait of states ``x`` and ``y``: nullclines, vector field, trajectories, equilibria.

    The portrait is of the planar system in which every other state is held
    constant (drug compartments at ``drug_levels``, default 0; the rest at
    ``fixed`` or else at their initial values), inputs are zero. Nullclines
    are the zero contours of dx/dt (blue) and dy/dt (orange) on a 300 × 300
    grid; equilibria of the planar system are marked (filled: stable, open:
    unstable); trajectories are integrated with LSODA for ``t_end`` days.

    Parameters
    ----------
    model : Model
        The model.
    x, y : str
        States on the horizontal and vertical axes.
    params : mapping, optional
        Parameter overrides.
    drug_levels : mapping, optional
        Constant drug levels (see :func:`equilibria`).
    fixed : mapping, optional
        Values of the other states (their units); default their initial values.
    x_range, y_range : pair of float, optional
        Axis ranges (state units); default from the equilibria and initial values.
    log : bool, optional
        Plot ``log10`` of both states (coordinates are then decades; states
        must stay positive in the window).
    starts : int or sequence of (x, y), optional
        Number of trajectories started on the window's border and inside, or
        explicit starting points (state units). 0 draws none.
    t_end : float, optional
        Length of each trajectory (days).
    n_grid : int, optional
        Vector field resolution (arrows or streamlines per axis).
    field : {"stream", "quiver", "none"}, optional
        How to draw the vector field.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    UnknownNameError
        For an unknown state, parameter or drug.
    SpecificationError
        For ``x == y``, a drug compartment as an axis, bad ranges or options.
    """
    import matplotlib.pyplot as plt

    check_model(model)
    names = model.states.names
    for nm in (x, y):
        if nm not in names:
            raise UnknownNameError("state", nm, names, f"model {model.name!r}")
    if x == y:
        raise SpecificationError(f"`x` and `y` must be different states, both are {x!r}")
    if field not in ("stream", "quiver", "none"):
        raise SpecificationError(f"`field` must be 'stream', 'quiver' or 'none', got {field!r}")
    t_end = _real(t_end, "`t_end`")
    if t_end <= 0:
        raise SpecificationError(f"`t_end` must be > 0 days, got {t_end}")
    comps = {d.compartment for d in model.drugs if d.compartment is not None}
    for nm in (x, y):
        if nm in comps:
            raise SpecificationError(f"state {nm!r} is a drug compartment held at its level; choose another axis state")
    fixed = dict(fixed or {})
    for k in fixed:
        if k in (x, y):
            raise SpecificationError(f"`fixed` must not contain the axis state {k!r}")
    others = {s.name: s.initial for s in model.states if s.name not in (x, y) and s.name not in comps}
    others.update({k: v for k, v in fixed.items()})
    base = reduce_model(model, params, drug_levels)
    frozen = {k: v for k, v in others.items() if k in base.names}
    for k in fixed:
        if k not in names:
            raise UnknownNameError("state", k, names, f"`fixed` for model {model.name!r}")
    system = reduce_model(model, params, drug_levels, frozen=frozen)
    ix, iy = system.names.index(x), system.names.index(y)
    pts, *_ = find_equilibria(system)
    init = compile_model(model).initial_vector()
    x0 = init[names.index(x)]
    y0 = init[names.index(y)]
    xr = _range(x_range, "x_range", log)
    yr = _range(y_range, "y_range", log)

    def auto(values: list[float]) -> tuple[float, float]:
        v = np.array([abs(u) for u in values if np.isfinite(u)] or [1.0])
        if log:
            pos = v[v > 0]
            if pos.size == 0:
                pos = np.array([1.0])
            return float(pos.min() / 10), float(pos.max() * 10)
        return 0.0, float(max(v.max(), 1e-12) * 1.25)

    xr = xr or auto([q[ix] for q in pts] + [x0])
    yr = yr or auto([q[iy] for q in pts] + [y0])
    tr = (lambda v: np.log10(np.maximum(v, 1e-300))) if log else (lambda v: v)
    gx = np.logspace(np.log10(xr[0]), np.log10(xr[1]), 300) if log else np.linspace(*xr, 300)
    gy = np.logspace(np.log10(yr[0]), np.log10(yr[1]), 300) if log else np.linspace(*yr, 300)
    X, Y = np.meshgrid(gx, gy)
    grid = np.empty((system.n,) + X.shape)
    for i, nm in enumerate(system.names):
        grid[i] = X if i == ix else (Y if i == iy else 0.0)
    with np.errstate(all="ignore"):
        F = system.f_many(grid, system.p)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5))
    TX, TY = tr(X), tr(Y)
    if field != "none":
        step = max(1, 300 // int(n_grid))
        sl = (slice(None, None, step), slice(None, None, step))
        with np.errstate(all="ignore"):
            U = F[ix] / (X * np.log(10)) if log else F[ix]
            V = F[iy] / (Y * np.log(10)) if log else F[iy]
        # directions in axis units (the two states may differ by orders of magnitude)
        sx = (tr(xr[1]) - tr(xr[0]))
        sy = (tr(yr[1]) - tr(yr[0]))
        Un, Vn = U / sx, V / sy
        norm = np.hypot(Un, Vn)
        norm[norm == 0] = 1.0
        if field == "stream":
            ax.streamplot(TX[0], TY[:, 0], np.nan_to_num(Un / norm) * sx, np.nan_to_num(Vn / norm) * sy,
                          density=n_grid / 25, color="0.7", linewidth=0.7, arrowsize=0.8)
        else:
            ax.quiver(TX[sl], TY[sl], (Un / norm)[sl], (Vn / norm)[sl], color="0.6", angles="uv", pivot="mid")
    with np.errstate(all="ignore"):
        ax.contour(TX, TY, F[ix], levels=[0.0], colors="C0", linewidths=1.8)
        ax.contour(TX, TY, F[iy], levels=[0.0], colors="C1", linewidths=1.8)
    ax.plot([], [], color="C0", label=f"d{x}/dt = 0")
    ax.plot([], [], color="C1", label=f"d{y}/dt = 0")
    # trajectories
    if isinstance(starts, (int, np.integer)) and not isinstance(starts, bool):
        k = int(starts)
        if k < 0:
            raise SpecificationError(f"`starts` must be >= 0, got {k}")
        u = np.linspace(0.1, 0.9, max(k, 1))
        if log:
            sx0 = 10 ** (np.log10(xr[0]) + u * (np.log10(xr[1]) - np.log10(xr[0])))
            sy0 = 10 ** (np.log10(yr[0]) + u[::-1] * (np.log10(yr[1]) - np.log10(yr[0])))
        else:
            sx0 = xr[0] + u * (xr[1] - xr[0])
            sy0 = yr[0] + u[::-1] * (yr[1] - yr[0])
        start_pts = [(a, b) for a, b in zip(sx0, sy0)][:k]
    else:
        try:
            start_pts = [(_real(a, "`starts` x"), _real(b, "`starts` y")) for a, b in starts]  # type: ignore[union-attr]
        except (TypeError, ValueError):
            raise TypeError("`starts` must be an int or a sequence of (x, y) pairs") from None
    from scipy.integrate import solve_ivp  # scipy imported on first use: `import tumordyn` stays light

    y_full = np.array([others.get(nm, 0.0) for nm in system.names], dtype=float)
    te = np.linspace(0.0, t_end, 600)
    for j, (a, b) in enumerate(start_pts):
        yy = y_full.copy()
        yy[ix], yy[iy] = a, b
        with np.errstate(all="ignore"):
            sol = solve_ivp(lambda t, v: system.f(np.maximum(v, 0.0) if True else v, system.p), (0.0, t_end), yy,
                            method="LSODA", t_eval=te, rtol=1e-7, atol=system.atol,
                            jac=lambda t, v: system.jac(np.maximum(v, 0.0), system.p))
        if sol.y.size:
            ax.plot(tr(sol.y[ix]), tr(sol.y[iy]), color="k", lw=0.9, alpha=0.8, label="trajectories" if j == 0 else None)
            ax.plot(tr(sol.y[ix][:1]), tr(sol.y[iy][:1]), "k.", ms=5)
    labelled = set()
    for q in pts:
        ev = np.linalg.eigvals(system.jac(q, system.p))
        cls = classify(ev)
        stable = cls.startswith("stable")
        if log and (q[ix] <= 0 or q[iy] <= 0):
            continue
        lab = cls if cls not in labelled else None
        labelled.add(cls)
        ax.plot(tr(q[ix]), tr(q[iy]), "o", ms=9, color="C3" if not stable else "C2",
                mfc=("C2" if stable else "white"), mew=2, label=lab, zorder=5)
    ax.set_xlim(tr(xr[0]), tr(xr[1]))
    ax.set_ylim(tr(yr[0]), tr(yr[1]))
    ux, uy = model.states[x].unit, model.states[y].unit
    ax.set_xlabel(f"log10({x} / {ux})" if log else f"{x} ({ux})")
    ax.set_ylabel(f"log10({y} / {uy})" if log else f"{y} ({uy})")
    ax.set_title(f"{model.name}: phase portrait")
    ax.legend(fontsize="small", loc="best")
    return ax
