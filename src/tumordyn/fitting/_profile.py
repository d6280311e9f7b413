r"""Profile likelihood and a practical/structural identifiability verdict.

For a fitted parameter :math:`\theta_k`, the profile is

.. math:: \mathrm{PL}(\theta_k) = \min_{\theta_{j \ne k}} \chi^2(\theta),

computed by fixing :math:`\theta_k` on a grid and re-optimising every other
fitted parameter (starting from the neighbouring grid point, walking outward
from the best fit). The profile is reported as

* :math:`\Delta = \chi^2 - \chi^2_{\min}` when the data give ``sigma`` (then
  :math:`\Delta = -2\Delta\log L` for Gaussian errors on the fit scale), or
* :math:`\Delta = n \ln(\chi^2/\chi^2_{\min})` when they do not (the noise
  level is then profiled out too).

Verdicts (threshold :math:`\chi^2_{1,0.95} = 3.84` by default):

* **identifiable**: :math:`\Delta` exceeds the threshold on both sides of the best value;
* **structurally non-identifiable**: :math:`\Delta` stays below a tiny tolerance
  across the whole grid (the data cannot tell the values apart at all: a
  parameter that does not reach the observed output, or one that enters only
  through a product with another fitted parameter);
* **practically non-identifiable**: anything in between (the profile rises but
  does not cross the threshold on at least one side within the bounds).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .._progress import check_callback, notify, progress_bar, show_progress
from ..errors import SpecificationError, UnknownNameError

if TYPE_CHECKING:
    from ..solve import Solver
    import pandas as pd

    from ._fit import FitResult

__all__ = ["profile_likelihood", "ProfileResult", "ParameterProfile", "VERDICTS"]

#: Possible verdicts of :class:`ParameterProfile`.
VERDICTS = ("identifiable", "practically non-identifiable", "structurally non-identifiable")


@dataclass(frozen=True)
class ParameterProfile:
    """Profile of one fitted parameter.

    Attributes
    ----------
    name : str
        lmfit parameter name.
    best : float
        Best-fit value.
    values : numpy.ndarray
        Grid of fixed values (sorted), in the parameter's unit.
    delta : numpy.ndarray
        Profile :math:`\\Delta` at each grid value (NaN where the refit failed).
    threshold : float
        Threshold used (3.84 for 95 % by default).
    verdict : str
        One of :data:`VERDICTS`.
    lower, upper : float
        Profile-likelihood confidence limits (linear interpolation of the
        threshold crossing); ``-inf``/``inf`` when the profile does not cross on that side.
    """

    name: str
    best: float
    values: np.ndarray
    delta: np.ndarray
    threshold: float
    verdict: str
    lower: float
    upper: float


class ProfileResult:
    """Profiles of several parameters of one fit (from :func:`profile_likelihood`).

    Attributes
    ----------
    profiles : dict of str to ParameterProfile
        By parameter name.
    threshold : float
        :math:`\\Delta` threshold of the confidence level.
    level : float
        Confidence level (e.g. 0.95).
    """

    def __init__(self, profiles: dict[str, ParameterProfile], threshold: float, level: float) -> None:
        self.profiles = dict(profiles)
        self.threshold = threshold
        self.level = level

    def __getitem__(self, name: str) -> ParameterProfile:
        if name not in self.profiles:
            raise UnknownNameError("profiled parameter", name, list(self.profiles), "ProfileResult")
        return self.profiles[name]

    def __iter__(self):  # noqa: ANN204
        return iter(self.profiles)

    def __len__(self) -> int:
        return len(self.profiles)

    @property
    def verdicts(self) -> dict[str, str]:
        """Verdict by parameter name."""
        return {n: p.verdict for n, p in self.profiles.items()}

    def to_dataframe(self) -> pd.DataFrame:
        """One row per parameter: ``best, lower, upper, verdict``."""
        import pandas as pd

        return pd.DataFrame.from_dict(
            {n: {"best": p.best, "lower": p.lower, "upper": p.upper, "verdict": p.verdict}
             for n, p in self.profiles.items()}, orient="index")

    def __repr__(self) -> str:
        return "<ProfileResult " + ", ".join(f"{n}: {v}" for n, v in self.verdicts.items()) + ">"

    def plot(self, ax: Any = None, ncols: int = 3) -> Any:
        """Plot every profile with the threshold line and the best value.

        Parameters
        ----------
        ax : matplotlib.axes.Axes or sequence of Axes, optional
            Where to draw: one Axes per profiled parameter (a single Axes for one parameter).
            Default: a new figure with ``ncols`` panels per row.
        ncols : int
            Panels per row of a new figure.

        Returns
        -------
        matplotlib.figure.Figure or matplotlib.axes.Axes or list of Axes
            The new figure without ``ax``; else the axes given.
        """
        from .._plotting import panels

        if isinstance(ax, (int, np.integer)) and not isinstance(ax, bool):  # the former plot(ncols) call
            import warnings

            warnings.warn("ProfileResult.plot(ncols) is now plot(ax=None, ncols=...): pass ncols by keyword",
                          DeprecationWarning, stacklevel=2)
            ax, ncols = None, int(ax)
        names = list(self.profiles)
        fig, axes = panels(ax, len(names), ncols, panel_size=(4, 3), where="ProfileResult.plot")
        for k, (n, a) in enumerate(zip(names, axes)):
            p = self.profiles[n]
            a.plot(p.values, p.delta, "o-", ms=3)
            a.axhline(p.threshold, color="r", ls="--", lw=1, label=f"{self.level:.0%} threshold")
            a.axvline(p.best, color="k", ls=":", lw=1, label="best fit")
            if np.all(p.values > 0) and p.values.max() / p.values.min() > 20:
                a.set_xscale("log")
            a.set_xlabel(n)
            a.set_ylabel("−2 Δ log-likelihood")
            a.set_title(p.verdict, fontsize="small")
            if k == 0:
                a.legend(fontsize="x-small")
        if ax is not None:
            return ax
        fig.tight_layout()
        return fig


def _grid(best: float, lo: float, hi: float, n: int, span: float) -> np.ndarray:
    """Grid around ``best``: log-spaced for a positive parameter, within bounds, including ``best``."""
    half = n // 2
    if best > 0 and lo >= 0:
        a = max(best / span, lo if lo > 0 else best / span)
        b = min(best * span, hi)
        left = np.geomspace(a, best, half + 1)[:-1]
        right = np.geomspace(best, b, half + 1)[1:]
    else:
        width = (abs(best) if best != 0 else 1.0) * (span - 1)
        a, b = max(best - width, lo), min(best + width, hi)
        left = np.linspace(a, best, half + 1)[:-1]
        right = np.linspace(best, b, half + 1)[1:]
    return np.unique(np.concatenate([left, [best], right]))


def profile_likelihood(
    result: FitResult,
    names: Sequence[str] | None = None,
    *,
    n_points: int = 11,
    span: float | None = None,
    grids: Mapping[str, Sequence[float]] | None = None,
    level: float = 0.95,
    flat_tol: float = 1e-3,
    refine: bool = True,
    progress: bool | None = None,
    solver: Solver | str | None = None,
    callback: Callable[[Mapping[str, Any]], Any] | None = None,
) -> ProfileResult:
    r"""Profile likelihood of fitted parameters, with an identifiability verdict for each.

    Parameters
    ----------
    result : FitResult
        A fit from :func:`~tumordyn.fit`.
    names : sequence of str, optional
        lmfit parameter names to profile; default every fitted parameter.
    n_points : int
        Grid points per parameter (>= 3; the best value is always included).
    span : float, optional
        Factor (> 1) the grid extends on each side of the best value: from
        ``best/span`` to ``best*span`` (log-spaced) for a positive parameter,
        ``best ± (span-1)|best|`` otherwise; always clipped to the bounds.
        Default per parameter: ``1 + 4 stderr/|best|`` (about four standard
        errors), at least 1.05 and at most 10; 10 without a standard error.
    grids : mapping of str to sequence of float, optional
        Explicit grids by parameter name (override ``n_points``/``span``).
    level : float
        Confidence level in (0, 1); the threshold is the chi-square quantile
        with one degree of freedom (3.84 at 0.95).
    flat_tol : float
        Largest :math:`\Delta` over the whole grid for the verdict
        "structurally non-identifiable".
    refine : bool
        Locate each threshold crossing by root finding (Brent's method, each
        evaluation a refit) instead of linear interpolation between grid points.
    progress : bool, optional
        Show a progress bar (``tqdm.auto``) counting the grid refits; default: when stderr is a terminal
        or in a Jupyter kernel. ``False`` prints nothing.
    solver : Solver or str, optional
        How to integrate the refits (a :class:`~tumordyn.Solver` or a method name, as for
        :func:`~tumordyn.fit`); default the fit's own solver settings. With other settings,
        :math:`\chi^2_{\min}` is re-evaluated at the best fit with them, so :math:`\Delta` is 0 there.
    callback : callable, optional
        Called after each grid refit with a mapping ``{"parameter": name, "value": v, "delta": Δ,
        "refit": k, "n_refits": total}`` (``k`` counts from 1).

    Returns
    -------
    ProfileResult
        Profiles, confidence limits and verdicts; ``.plot()`` draws them.

    Raises
    ------
    UnknownNameError
        For a name that is not a fitted parameter.
    SpecificationError
        For fewer than 3 grid points, ``span <= 1``, a level outside (0, 1) or a
        grid value outside the parameter's bounds.
    """
    from scipy.stats import chi2

    from ._fit import FitResult, fit_solver, run_minimizer

    if not isinstance(result, FitResult):
        raise TypeError(f"`result` must be a FitResult from tumordyn.fit, got {type(result).__name__}")
    fitted = [n for n, p in result.params.items() if p.vary]
    names = fitted if names is None else list(names)
    for n in names:
        if n not in fitted:
            raise UnknownNameError("fitted parameter", n, fitted, "profile_likelihood")
    if int(n_points) < 3:
        raise SpecificationError(f"`n_points` must be >= 3, got {n_points}")
    if span is not None and not span > 1:
        raise SpecificationError(f"`span` must be > 1, got {span}")
    if not 0 < level < 1:
        raise SpecificationError(f"`level` must be in (0, 1), got {level}")
    threshold = float(chi2.ppf(level, 1))
    problem = result._problem
    chi_best = result.chisqr
    if solver is not None:
        problem = problem.with_solver(fit_solver(solver))
        chi_best = float(np.sum(problem.residual(result.params) ** 2))
    n = result.ndata

    def delta(chisqr: float) -> float:
        if problem.known_sigma:
            return chisqr - chi_best
        return n * math.log(max(chisqr, 1e-300) / max(chi_best, 1e-300))

    check_callback(callback, "profile_likelihood")
    show = show_progress(progress)
    jobs = []
    for name in names:
        par = result.params[name]
        best = float(par.value)
        if grids is not None and name in grids:
            g = np.unique(np.asarray(grids[name], dtype=float))
            bad = (g < par.min) | (g > par.max) | ~np.isfinite(g)
            if bad.any():
                raise SpecificationError(f"grid value {g[bad][0]} of {name!r} is outside its bounds [{par.min}, {par.max}]")
            g = np.unique(np.append(g, best))
        else:
            sp_ = span
            if sp_ is None:
                se = par.stderr
                ok = se is not None and math.isfinite(se) and se > 0 and best != 0
                sp_ = min(max(1.0 + 4.0 * se / abs(best), 1.05), 10.0) if ok else 10.0
            g = _grid(best, par.min, par.max, int(n_points), float(sp_))
        jobs.append((name, best, g))
    total = sum(g.size - 1 for _, _, g in jobs)
    bar = progress_bar(show, total=total, desc="profile likelihood", unit="refit")
    fit_kws = {"max_nfev": 200 * (len(fitted) + 1)}

    def refit(name: str, value: float, start: Any) -> tuple[float, Any]:
        """Delta at ``name = value`` (others re-optimised from ``start``) and the refitted parameters."""
        pars = start.copy()
        pars[name].set(value=float(value), vary=False)
        if len(fitted) == 1:
            return delta(float(np.sum(problem.residual(pars) ** 2))), start
        before = problem.n_failed
        sub = run_minimizer(problem, pars, result.optimizer, dict(fit_kws))
        return delta(sub.chisqr), (sub.params if problem.n_failed == before else start)

    profiles = {}
    done = 0
    try:
        for name, best, g in jobs:
            d = np.full(g.size, np.nan)
            starts: list[Any] = [None] * g.size
            ib = int(np.flatnonzero(g == best)[0])
            d[ib], starts[ib] = 0.0, result.params
            for direction in (range(ib + 1, g.size), range(ib - 1, -1, -1)):
                start = result.params
                for i in direction:
                    d[i], start = refit(name, g[i], start)
                    starts[i] = start
                    bar.update(1)
                    done += 1
                    notify(callback, parameter=name, value=float(g[i]), delta=float(d[i]), refit=done,
                           n_refits=total)
            limits = []
            for side in (slice(ib, None), slice(ib, None, -1) if ib > 0 else slice(0, 1)):
                idx = np.arange(g.size)[side]
                limits.append(_limit(name, g, d, idx, starts, threshold, refit, refine))
            profiles[name] = _summarise(name, best, g, d, threshold, flat_tol, limits[1], limits[0])
    finally:
        bar.close()
    return ProfileResult(profiles, threshold, level)


def _limit(name: str, g: np.ndarray, d: np.ndarray, idx: np.ndarray, starts: list[Any], threshold: float,
           refit: Any, refine: bool) -> float | None:
    """Where the profile first crosses ``threshold`` walking along ``idx`` from the best value."""
    from scipy.optimize import brentq

    for a, b in zip(idx[:-1], idx[1:]):
        if np.isfinite(d[b]) and d[b] >= threshold:
            if not np.isfinite(d[a]):
                return float(g[b])
            if not refine:
                return float(g[a] + (threshold - d[a]) * (g[b] - g[a]) / (d[b] - d[a]))
            try:
                return float(brentq(lambda x: refit(name, x, starts[a])[0] - threshold, g[a], g[b],
                                    xtol=1e-6 * abs(g[b] - g[a]) + 1e-12 * abs(g[a]), rtol=1e-4, maxiter=30))
            except (ValueError, RuntimeError):  # not a clean bracket after refitting: interpolate
                return float(g[a] + (threshold - d[a]) * (g[b] - g[a]) / (d[b] - d[a]))
    return None


def _summarise(name: str, best: float, g: np.ndarray, d: np.ndarray, threshold: float,
               flat_tol: float, lo: float | None, up: float | None) -> ParameterProfile:
    finite = d[np.isfinite(d)]
    if finite.size and np.max(np.abs(finite)) < flat_tol:
        verdict = VERDICTS[2]
    elif up is not None and lo is not None:
        verdict = VERDICTS[0]
    else:
        verdict = VERDICTS[1]
    g = g.copy()
    d = d.copy()
    g.flags.writeable = False
    d.flags.writeable = False
    return ParameterProfile(name, best, g, d, threshold, verdict,
                            -math.inf if lo is None else lo, math.inf if up is None else up)
