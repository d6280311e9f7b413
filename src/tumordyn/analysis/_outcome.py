"""Two-parameter outcome maps (control vs escape) and basins of initial conditions, by simulation."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..solve import Solver
from .._progress import check_callback, notify, progress_bar, show_progress
from ..errors import SolverError, SpecificationError, UnknownNameError
from ._bifurcation import check_range
from ._system import _real, check_model
from ._threshold import default_tumor_states
from ..numerics import compile_model

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

    from ..spec import Model
    from ..dosing import Schedule
    from ..trajectory import Trajectory

__all__ = ["OutcomeMap", "outcome_map"]


class OutcomeMap:
    """Control/escape outcome over a grid of two parameters or initial values.

    Attributes
    ----------
    x_name, y_name : str
        What varies along each axis (parameter or state name).
    x, y : numpy.ndarray
        Grid values (units of the parameter or state).
    escape : numpy.ndarray
        Shape ``(len(y), len(x))``: 1.0 escape, 0.0 control, NaN where the simulation failed.
    final : numpy.ndarray
        The readout at ``t_end`` at every grid point (NaN where failed, or for a custom criterion).
    readout : str
        What decided the outcome.
    n_failed : int
        Grid points whose simulation failed (reported in ``notes``).
    notes : tuple of str
        Messages of failed simulations (at most 10).
    """

    def __init__(self, model: Model, x_name: str, x: np.ndarray, y_name: str, y: np.ndarray, escape: np.ndarray,
                 final: np.ndarray, readout: str, notes: list[str], n_failed: int, kinds: tuple[str, str]) -> None:
        self.model = model
        self.x_name, self.y_name = x_name, y_name
        self.x, self.y = x, y
        self.escape, self.final = escape, final
        for a in (self.x, self.y, self.escape, self.final):
            a.flags.writeable = False
        self.readout = readout
        self.notes = tuple(notes)
        self.n_failed = int(n_failed)
        self.kinds = kinds

    @property
    def escape_fraction(self) -> float:
        """Fraction of the (successfully simulated) grid points that escape."""
        ok = np.isfinite(self.escape)
        return float(np.mean(self.escape[ok])) if np.any(ok) else float("nan")

    def to_dataframe(self) -> pd.DataFrame:
        """One row per grid point: both axis values, ``escape`` (bool or NaN) and ``final``."""
        import pandas as pd

        X, Y = np.meshgrid(self.x, self.y)
        return pd.DataFrame({self.x_name: X.ravel(), self.y_name: Y.ravel(), "escape": self.escape.ravel(),
                             "final": self.final.ravel()})

    def plot(self, ax: Axes | None = None, log_x: bool | None = None, log_y: bool | None = None) -> Axes:
        """Draw the map (blue: control, red: escape, grey: failed); returns the Axes."""
        import matplotlib.pyplot as plt
        from matplotlib.colors import ListedColormap

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 5))
        cmap = ListedColormap(["#4477aa", "#cc3311"]).with_extremes(bad="0.8")
        ax.pcolormesh(self.x, self.y, np.ma.masked_invalid(self.escape), cmap=cmap, vmin=0, vmax=1, shading="nearest")
        log_x = self._log(self.x) if log_x is None else log_x
        log_y = self._log(self.y) if log_y is None else log_y
        if log_x:
            ax.set_xscale("log")
        if log_y:
            ax.set_yscale("log")

        def label(name: str, kind: str) -> str:
            unit = (self.model.parameters[name].unit if kind == "parameter" else self.model.states[name].unit)
            what = name if kind == "parameter" else f"initial {name}"
            return f"{what} ({unit})" if unit else what

        ax.set_xlabel(label(self.x_name, self.kinds[0]))
        ax.set_ylabel(label(self.y_name, self.kinds[1]))
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(color="#4477aa", label="control"), Patch(color="#cc3311", label="escape")],
                  fontsize="small", loc="best")
        ax.set_title(f"{self.model.name}: outcome ({self.readout})")
        return ax

    @staticmethod
    def _log(v: np.ndarray) -> bool:
        return bool(v.size > 2 and np.all(v > 0) and np.allclose(np.diff(np.log(v)), np.log(v[1] / v[0])) and v[-1] / v[0] > 20)

    def __repr__(self) -> str:
        return (f"OutcomeMap of model {self.model.name!r}: {self.y.size} × {self.x.size} grid of {self.y_name} × "
                f"{self.x_name}; escape fraction {self.escape_fraction:.3g}"
                + (f"; {self.n_failed} simulations failed" if self.n_failed else ""))


def _axis(model: Model, name: str, rng: Any, n: int, log: bool, what: str) -> tuple[np.ndarray, str]:
    if not isinstance(name, str):
        raise TypeError(f"`{what}` must be a parameter or state name (str), got {type(name).__name__}")
    if name in model.parameters.names:
        lo, hi = check_range(model, name, rng, f"range_{what}")
        kind = "parameter"
    elif name in model.states.names:
        try:
            lo, hi = rng
        except (TypeError, ValueError):
            raise TypeError(f"`range_{what}` must be a pair (low, high), got {rng!r}") from None
        lo, hi = _real(lo, f"`range_{what}` low end"), _real(hi, f"`range_{what}` high end")
        if not lo < hi:
            raise SpecificationError(f"`range_{what}` of {name!r} must satisfy low < high, got ({lo}, {hi})")
        if model.states[name].nonnegative and lo < 0:
            raise SpecificationError(f"`range_{what}`: state {name!r} is non-negative; got low end {lo}")
        kind = "state"
    else:
        raise UnknownNameError("parameter or state", name, model.parameters.names + model.states.names,
                               f"model {model.name!r}")
    if log:
        if lo <= 0:
            raise SpecificationError(f"log spacing along {name!r} needs a positive low end, got {lo}")
        return np.geomspace(lo, hi, n), kind
    return np.linspace(lo, hi, n), kind


def outcome_map(
    model: Model,
    param_x: str,
    range_x: Sequence[float],
    param_y: str,
    range_y: Sequence[float],
    *,
    n: int | tuple[int, int] = 15,
    t_end: float = 365.0,
    schedule: Schedule | None = None,
    params: Mapping[str, float] | None = None,
    initial: Mapping[str, float] | None = None,
    readout: str | None = None,
    threshold: float | None = None,
    criterion: Callable[[Trajectory], bool] | None = None,
    log_x: bool = False,
    log_y: bool = False,
    solver: Solver | None = None,
    rtol: float | None = None,
    progress: bool | None = None,
    callback: Callable[[Mapping[str, Any]], Any] | None = None,
) -> OutcomeMap:
    """Simulate over a grid of two parameters (or initial values) and classify control vs escape.

    A name that is a state varies its initial value: a map of two states is a
    picture of the basins of attraction.

    Parameters
    ----------
    model : Model
        The model.
    param_x, param_y : str
        Parameter or state names for the horizontal and vertical axes.
    range_x, range_y : pair of float
        Ranges (within the parameters' bounds; non-negative for states).
    n : int or (int, int), optional
        Grid points per axis (default 15).
    t_end : float, optional
        Horizon of each simulation (days).
    schedule : Schedule, optional
        Treatment given in every simulation.
    params, initial : mapping, optional
        Further parameter and initial-value overrides.
    readout : str, optional
        State or observable deciding the outcome; default the observable
        ``tumor_burden`` if the model has it, else the first tumor state.
    threshold : float, optional
        Escape iff the readout at ``t_end`` exceeds it (readout units). Default:
        the readout's initial value (the tumor grew over the horizon).
    criterion : callable, optional
        ``criterion(trajectory) -> bool`` (True = escape) replacing the
        readout rule.
    log_x, log_y : bool, optional
        Geometric spacing along an axis.
    solver : Solver, optional
        How to integrate every simulation (as for :func:`tumordyn.simulate`); default ``td.Solver()``.
    rtol : float, optional
        Relative tolerance of the simulations, shorthand for ``solver=td.Solver(rtol=rtol)``
        (default 1e-6; give this or ``solver``).
    progress : bool, optional
        Show a progress bar over the grid cells (``tqdm.auto``); default: when stderr is a terminal or
        in a Jupyter kernel. ``False`` prints nothing.
    callback : callable, optional
        Called after each cell with a mapping ``{"cell": k, "n_cells": nx*ny, "x": ..., "y": ...,
        "escape": 0.0, 1.0 or NaN}`` (``k`` counts from 1).

    Returns
    -------
    OutcomeMap
        ``escape`` grid, ``plot()``, ``to_dataframe()``; failed simulations are counted, not dropped.

    Raises
    ------
    UnknownNameError
        For an unknown parameter, state or readout name.
    SpecificationError
        For ranges outside bounds, equal axes, a bad grid size, or both ``solver`` and ``rtol``.
    """
    from ..trajectory import make_solver, simulate

    check_model(model)
    check_callback(callback, "outcome_map")
    show = show_progress(progress)
    slv = make_solver(solver, rtol=rtol)
    if param_x == param_y:
        raise SpecificationError(f"the two axes must differ, both are {param_x!r}")
    if isinstance(n, (int, np.integer)) and not isinstance(n, bool):
        nx = ny = int(n)
    else:
        try:
            nx, ny = (int(v) for v in n)  # type: ignore[union-attr]
        except (TypeError, ValueError):
            raise TypeError(f"`n` must be an int or a pair of ints, got {n!r}") from None
    if nx < 1 or ny < 1:
        raise SpecificationError(f"`n` must be >= 1 per axis, got ({nx}, {ny})")
    xs, kx = _axis(model, param_x, range_x, nx, log_x, "x")
    ys, ky = _axis(model, param_y, range_y, ny, log_y, "y")
    if criterion is not None and not callable(criterion):
        raise TypeError("`criterion` must be a callable taking a Trajectory and returning a bool")
    if criterion is None:
        if readout is None:
            if "tumor_burden" in model.observables.names:
                readout = "tumor_burden"
            else:
                tum = default_tumor_states(model)
                if not tum:
                    raise SpecificationError(f"model {model.name!r} has no tumor_burden observable; pass `readout=`")
                readout = tum[0]
        valid = model.states.names + model.observables.names
        if readout not in valid:
            raise UnknownNameError("readout", readout, valid, f"model {model.name!r}")
        if threshold is not None:
            threshold = _real(threshold, "`threshold`")
    label = readout if criterion is None else getattr(criterion, "__name__", "criterion")
    base_p = dict(params or {})
    base_i = dict(initial or {})
    compile_model(model).param_vector(base_p)
    compile_model(model).initial_vector(base_i)
    esc = np.full((ny, nx), np.nan)
    fin = np.full((ny, nx), np.nan)
    notes: list[str] = []
    failed = 0
    cells = [(j, i) for j in range(ny) for i in range(nx)]
    with progress_bar(show, total=len(cells), desc="outcome map", unit="cell") as bar:
        for k, (j, i) in enumerate(cells, 1):
            p, y0 = dict(base_p), dict(base_i)
            for name, kind, v in ((param_x, kx, xs[i]), (param_y, ky, ys[j])):
                (p if kind == "parameter" else y0)[name] = float(v)
            try:
                traj = simulate(model, schedule, t_end=t_end, t_eval=[0.0, t_end], params=p, initial=y0, solver=slv)
            except SolverError as exc:
                failed += 1
                if len(notes) < 10:
                    notes.append(f"{param_x} = {xs[i]:g}, {param_y} = {ys[j]:g}: {exc}")
            else:
                if criterion is not None:
                    esc[j, i] = float(bool(criterion(traj)))
                else:
                    vals = traj[readout]
                    fin[j, i] = vals[-1]
                    thr = vals[0] if threshold is None else threshold
                    esc[j, i] = float(vals[-1] > thr)
            bar.update(1)
            notify(callback, cell=k, n_cells=len(cells), x=float(xs[i]), y=float(ys[j]), escape=float(esc[j, i]))
    return OutcomeMap(model, param_x, xs, param_y, ys, esc, fin, str(label), notes, failed, (kx, ky))
