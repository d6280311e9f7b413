"""Schedule search: choose one schedule parameter to optimise a readout under an exposure budget."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import readouts as ro
from ._compare import output_times, readout_row
from ..dosing import as_regimen
from .._progress import check_callback, notify, progress_bar
from ..errors import SpecificationError, UnknownNameError
from ..solve import Solver

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.axes import Axes

    from ..spec import Model
    from ..dosing import Regimen
    from ..dosing import Schedule
    from ..trajectory import Trajectory

__all__ = ["search_schedule", "SearchResult"]


class SearchResult:
    """The result of :func:`search_schedule`.

    Attributes
    ----------
    parameter : str
        Name of the searched schedule parameter (for labels).
    best_x : float
        The best feasible parameter value.
    best_value : float
        The readout there.
    best_schedule : Schedule or Regimen
        ``build(best_x)``.
    best_trajectory : Trajectory
        Its simulation.
    surface : pandas.DataFrame
        Every evaluation, sorted by ``x``: columns ``x``, ``value`` (the readout),
        ``feasible`` (within the budget), ``total_<drug>`` (amount given, dose unit)
        and ``auc_<drug>`` (concentration × day) for every drug of the model.
    readout : str
        Name of the readout optimised.
    maximize : bool
        Whether larger readout values were better.
    budget : mapping of str to float
        The exposure budget (total amount given per drug, dose unit).
    """

    def __init__(self, parameter: str, best_x: float, best_value: float, best_schedule: Schedule | Regimen,
                 best_trajectory: Trajectory, surface: pd.DataFrame, readout: str, maximize: bool,
                 budget: Mapping[str, float]) -> None:
        self.parameter = parameter
        self.best_x = best_x
        self.best_value = best_value
        self.best_schedule = best_schedule
        self.best_trajectory = best_trajectory
        self.surface = surface
        self.readout = readout
        self.maximize = maximize
        self.budget = dict(budget)

    def __repr__(self) -> str:
        return (f"<SearchResult: best {self.parameter} = {self.best_x:.4g} gives {self.readout} = "
                f"{self.best_value:.4g} ({len(self.surface)} evaluations, "
                f"{int(self.surface['feasible'].sum())} within budget)>")

    def plot(self, ax: Axes | None = None) -> Axes:
        """Plot the response surface: the readout against the parameter.

        Feasible evaluations are filled circles, those over the budget hollow; the best
        one is starred. Infinite readouts (e.g. no progression within the horizon) are
        drawn at the top of the axes with an upward triangle.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Axes to draw on; a new figure is made if omitted.

        Returns
        -------
        matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        s = self.surface
        x = s["x"].to_numpy(dtype=float)
        v = s["value"].to_numpy(dtype=float)
        feas = s["feasible"].to_numpy(dtype=bool)
        finite = np.isfinite(v)
        top = np.nanmax(v[finite]) if finite.any() else 1.0
        bottom = np.nanmin(v[finite]) if finite.any() else 0.0
        cap = top + 0.1 * max(top - bottom, abs(top), 1.0)
        shown = np.where(np.isposinf(v), cap, np.where(np.isneginf(v), bottom - 0.1 * max(top - bottom, 1.0), v))
        ax.plot(x, shown, color="0.6", lw=0.8, zorder=1)
        ax.scatter(x[feas & finite], shown[feas & finite], color="C0", zorder=2, label="within budget")
        ax.scatter(x[~feas], shown[~feas], facecolors="none", edgecolors="C3", zorder=2, label="over budget")
        inf = feas & ~finite
        if inf.any():
            ax.scatter(x[inf], shown[inf], marker="^", color="C0", zorder=2, label="not reached (inf)")
        best_shown = cap if math.isinf(self.best_value) else self.best_value
        ax.scatter([self.best_x], [best_shown], marker="*", s=180, color="C1", zorder=3,
                   label=f"best: {self.best_x:.3g}")
        ax.set_xlabel(self.parameter)
        ax.set_ylabel(self.readout)
        ax.set_title(f"{'maximise' if self.maximize else 'minimise'} {self.readout}", fontsize="small")
        ax.legend(fontsize="x-small")
        return ax


def search_schedule(
    model: Model,
    build: Callable[[float], Schedule | Regimen],
    *,
    t_end: float,
    grid: Sequence[float] | np.ndarray | None = None,
    bounds: tuple[float, float] | None = None,
    readout: str | Callable[[Trajectory], float] = "ttp_continuous_days",
    maximize: bool = True,
    budget: Mapping[str, float] | None = None,
    scans: ro.ScanPlan | None = None,
    params: Mapping[str, float] | None = None,
    parameter: str = "x",
    n_grid: int = 9,
    xtol: float = 0.5,
    max_evals: int = 40,
    progress: bool | None = None,
    callback: Callable[[Mapping[str, Any]], Any] | None = None,
    solver: Solver | None = None,
) -> SearchResult:
    """Choose one schedule parameter (priming lead time, dosing interval, dose split...) to optimise a readout.

    ``build(x)`` turns the parameter into a schedule (or regimen); each candidate is
    simulated and scored with ``readout``. Candidates whose total amount of a drug
    exceeds ``budget[drug]`` are infeasible. With ``grid`` every grid value is
    evaluated; with ``bounds`` a coarse grid of ``n_grid`` points is evaluated first,
    then ``scipy.optimize.minimize_scalar`` (bounded) refines the best bracket.

    Parameters
    ----------
    model : Model
        The model.
    build : callable
        ``x -> Schedule or Regimen``.
    t_end : float
        Horizon (days).
    grid : array_like, optional
        Parameter values to evaluate.
    bounds : (float, float), optional
        Search interval for the refinement (give ``grid`` or ``bounds``).
    readout : str or callable
        A column of :meth:`Comparison.to_dataframe` (e.g. ``"ttp_continuous_days"``,
        ``"best_change_burden_pct"``, ``"resistant_fraction_end"``) or a function
        ``Trajectory -> float``.
    maximize : bool
        Maximise (default) or minimise the readout.
    budget : mapping of str to float, optional
        Largest total amount per drug (dose unit) a candidate may give.
    scans : ScanPlan, optional
        Scan plan for scan-based readouts (default every 56 days).
    params : mapping, optional
        Model parameter overrides.
    parameter : str
        Name of the parameter, for labels (e.g. ``"lead time (days)"``).
    n_grid : int
        Coarse grid size with ``bounds`` (>= 3).
    xtol : float
        Absolute tolerance of the bounded refinement (the parameter's unit).
    max_evals : int
        Largest number of evaluations in the refinement.
    progress : bool, optional
        Show a progress bar counting the candidates evaluated (``tqdm.auto``; the total grows by the
        refinement's evaluations with ``bounds``); default: when stderr is a terminal or in a Jupyter
        kernel. ``False`` prints nothing.
    callback : callable, optional
        Called after each new candidate with a mapping ``{"evaluation": k, "x": ..., "value": ...,
        "feasible": bool}`` (``k`` counts from 1).
    solver : Solver, optional
        How to integrate every candidate (as for :func:`tumordyn.simulate`); default ``td.Solver()``.

    Returns
    -------
    SearchResult
        ``best_x``, ``best_value``, ``best_schedule``, ``surface`` and ``plot()``.

    Raises
    ------
    SpecificationError
        If neither or both of ``grid``/``bounds`` are given, the grid is empty, the
        budget names a drug the model lacks or is negative, or no candidate is
        within the budget.

    Examples
    --------
    >>> import tumordyn as td
    >>> m = td.models.tumor_immune_tme()
    >>> res = td.comparison.search_schedule(m, lambda lead: td.regimens.priming_then("anti_pd1", lead, t_end=112),
    ...                          grid=[0, 7, 14], t_end=112, readout="best_change_burden_pct", maximize=False)
    >>> len(res.surface)
    3
    """
    from ..trajectory import make_solver, simulate

    slv = make_solver(solver)
    check_callback(callback, "search_schedule")
    if (grid is None) == (bounds is None):
        raise SpecificationError("search_schedule: give exactly one of grid= (values to try) or bounds= (lo, hi)")
    if not callable(build):
        raise TypeError("search_schedule: build must be a function x -> Schedule")
    budget = dict(budget or {})
    for drug, cap in budget.items():
        if drug not in model.drugs.names:
            raise UnknownNameError("drug", drug, model.drugs.names, "search_schedule budget")
        if isinstance(cap, bool) or not isinstance(cap, (int, float)) or not cap >= 0:
            raise SpecificationError(f"search_schedule: budget[{drug!r}] must be an amount >= 0, got {cap!r}")
    plan = ro.ScanPlan() if scans is None else scans
    scan_t = plan.times_for(0.0, float(t_end))
    name = readout if isinstance(readout, str) else getattr(readout, "__name__", "readout")
    records: dict[float, dict[str, Any]] = {}
    trajs: dict[float, Trajectory] = {}
    bar: Any = None  # the progress bar, made once the candidates are known

    def evaluate(x: float) -> dict[str, Any]:
        x = float(x)
        if x in records:
            return records[x]
        sched = build(x)
        reg = as_regimen(sched, f"build({x:g})")
        tr = simulate(model, reg, t_end=t_end, t_eval=output_times(reg, float(t_end), scan_t), params=params,
                      solver=slv)
        if isinstance(readout, str):
            row = readout_row(tr, plan)
            if readout not in row:
                raise UnknownNameError("readout", readout, tuple(row), "search_schedule")
            value = float(row[readout])
        else:
            value = float(readout(tr))
        rec: dict[str, Any] = {"x": x, "value": value}
        feasible = True
        for drug in model.drugs.names:
            tot = ro.total_amount(tr, drug)
            rec[f"total_{drug}"] = tot
            rec[f"auc_{drug}"] = ro.auc(tr, drug)
            if drug in budget and tot > budget[drug] * (1 + 1e-9):
                feasible = False
        rec["feasible"] = feasible
        records[x] = rec
        trajs[x] = tr
        if bar is not None:  # a new candidate: the bar counts it (the refinement adds to the grid's total)
            if bar.total is not None and len(records) > bar.total:
                bar.total = len(records)
            bar.update(1)
        notify(callback, evaluation=len(records), x=x, value=value, feasible=feasible)
        return rec

    sign = -1.0 if maximize else 1.0

    def objective(x: float) -> float:
        rec = evaluate(x)
        if not rec["feasible"] or math.isnan(rec["value"]):
            return math.inf
        v = sign * rec["value"]
        return max(v, -1e300) if math.isfinite(v) or v < 0 else math.inf

    if grid is not None:
        xs = np.asarray(grid, dtype=float).ravel()
        if xs.size == 0 or not np.all(np.isfinite(xs)):
            raise SpecificationError("search_schedule: grid must be a non-empty sequence of finite numbers")
    else:
        lo, hi = (float(b) for b in bounds)  # type: ignore[union-attr]
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise SpecificationError(f"search_schedule: bounds must be finite with lo < hi, got {bounds!r}")
        if n_grid < 3:
            raise SpecificationError(f"search_schedule: n_grid must be >= 3, got {n_grid}")
        xs = np.linspace(lo, hi, int(n_grid))
    bar = progress_bar(progress, total=xs.size, desc="schedules", unit="schedule")
    with bar:
        for x in xs:
            objective(float(x))
        if bounds is not None:
            from scipy.optimize import minimize_scalar

            vals = np.array([objective(float(x)) for x in xs])
            if np.isfinite(vals).any():
                i = int(np.argmin(vals))
                a, b = xs[max(i - 1, 0)], xs[min(i + 1, xs.size - 1)]
                if b > a:
                    minimize_scalar(objective, bounds=(a, b), method="bounded",
                                    options={"xatol": float(xtol), "maxiter": int(max_evals)})
    import pandas as pd

    surface = pd.DataFrame(sorted(records.values(), key=lambda r: r["x"]))
    surface = surface[["x", "value", "feasible"] + [c for c in surface.columns if c not in ("x", "value", "feasible")]]
    feas = surface[surface["feasible"]]
    if feas.empty:
        raise SpecificationError(
            "search_schedule: no candidate is within the budget "
            f"{budget}; smallest totals tried: "
            + ", ".join(f"{d}={surface[f'total_{d}'].min():g}" for d in budget)
        )
    key = feas["value"] * (-sign)
    # ties (e.g. several candidates never progress): the first (smallest x) wins
    best_i = int(np.argmax(np.nan_to_num(key.to_numpy(dtype=float), nan=-np.inf)))
    best = feas.iloc[best_i]
    bx = float(best["x"])
    return SearchResult(parameter, bx, float(best["value"]), build(bx), trajs[bx], surface.reset_index(drop=True),
                        name, bool(maximize), budget)
