r"""Forecasting one patient's tumor from early scans with a population model as prior.

The patient's eta is estimated by maximum a posteriori (MAP) with the fitted
population model as prior: minimise

.. math:: \sum_j \left[\frac{(g(y_j) - g(f(t_j, \phi(\eta))))^2}{V_j} + \ln V_j\right] + \eta^\top \Omega^{-1} \eta,

(-2 log posterior up to a constant; the same conditional objective as the EBEs of
:func:`fit_population`). The posterior of eta is approximated by a normal
distribution (Laplace) with covariance :math:`(G^\top V^{-1} G + \Omega^{-1})^{-1}`
at the mode; samples of eta and of the residual error give the prediction
intervals. The population estimates (typical values, Omega, residual error) are
taken as known: their own uncertainty is not propagated.

RECIST 1.1 readouts (:func:`tumordyn.readouts.recist`'s rules, through the same array
implementation) are read on the observed scans and on the forecast series (the
observed scans followed by the forecast at later scan times), and on every sampled
series for the probability of each category.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import SpecificationError, UnknownNameError
from ..readouts import RECIST_CATEGORIES, recist_arrays
from ._population import PopulationResult, _Engine, _ModelStructure

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

    from ..dosing import Schedule

__all__ = ["forecast_patient", "PatientForecast"]

_QUANTITIES = ("diameter", "volume")


def _diameter(values: np.ndarray, quantity: str) -> np.ndarray:
    """Longest diameter (mm) from the measured quantity: itself, or the equivalent sphere's of a volume (mm³)."""
    if quantity == "diameter":
        return values
    return np.cbrt(6.0 * np.maximum(values, 0.0) / math.pi)


def _readouts(t: np.ndarray, D: np.ndarray) -> dict[str, Any]:
    """RECIST 1.1 of the columns of ``D`` (s, b) at scan times ``t`` (s,) via the readouts' array implementation."""
    arr = recist_arrays(t, D, t_end=float(t[-1]))
    i_nadir = np.argmin(D, axis=0)
    return dict(
        last=np.asarray(arr.response[-1]), best=np.asarray(arr.best), ttp=np.asarray(arr.time_to_progression),
        nadir=D[i_nadir, np.arange(D.shape[1])], nadir_time=t[i_nadir], best_change=np.asarray(arr.best_percent_change),
    )


def forecast_patient(
    population: PopulationResult,
    scans: pd.DataFrame | Mapping[str, Any],
    times: Sequence[float] | np.ndarray,
    *,
    readout_times: Sequence[float] | np.ndarray | None = None,
    covariates: Mapping[str, float] | None = None,
    schedule: Schedule | None = None,
    initial: Mapping[str, float] | None = None,
    time: str = "time",
    value: str = "value",
    quantity: str = "diameter",
    level: float = 0.9,
    n_samples: int = 1000,
    seed: int | None = 0,
) -> PatientForecast:
    """Forecast a new patient from their first scans, with a population model as prior.

    Parameters
    ----------
    population : PopulationResult
        A fitted population model (:func:`fit_population`).
    scans : pandas.DataFrame or mapping of str to array
        The patient's early measurements: columns ``time`` (days) and ``value``
        (the fitted observable's unit), names set by ``time`` / ``value``; one
        patient only (a ``subject`` column, if any, must hold one label).
        Covariate columns are read if present.
    times : sequence of float
        Times to forecast (days).
    readout_times : sequence of float, optional
        Times of the future scans (days) at which the forecast series is read
        for RECIST (those after the last scan count); default: the ``times``
        after the last scan.
    covariates : mapping of str to float, optional
        The patient's covariates (else read from ``scans``); required when the
        population model has covariate effects.
    schedule : Schedule, optional
        Model structures only: the patient's treatment.
    initial : mapping of str to float, optional
        Model structures only: the patient's initial states.
    time, value : str
        Column names in ``scans``.
    quantity : {"diameter", "volume"}
        What the values are, for the RECIST readouts: the longest diameter (mm),
        or a volume (mm³) read as the diameter of the sphere of that volume.
    level : float
        Coverage of the prediction intervals, in (0, 1).
    n_samples : int
        Posterior samples (eta and residual error).
    seed : int, optional
        Random seed (the result is reproducible for a given seed).

    Returns
    -------
    PatientForecast

    Raises
    ------
    SpecificationError
        For bad scans or times, a missing covariate, non-positive values on a
        log-scale model, or options out of range.
    UnknownNameError
        For a missing column.

    Examples
    --------
    >>> import numpy as np, pandas as pd, tumordyn as td
    >>> rng = np.random.default_rng(0)
    >>> rows = []
    >>> for i in range(30):
    ...     d0, g = 30 * np.exp(0.1 * rng.normal()), 0.004 + 0.002 * rng.normal()
    ...     rows += [(i, t, d0 * np.exp(g * t + 0.05 * rng.normal())) for t in (0.0, 42.0, 84.0, 126.0)]
    >>> df = pd.DataFrame(rows, columns=["subject", "time", "value"])
    >>> pop = td.fit_population(lambda t, p: p["d0"] * np.exp(p["g"] * t), df, {"d0": 30.0, "g": 0.003},
    ...                         random={"d0": "lognormal", "g": "normal"}, error="additive", scale="log",
    ...                         progress=False)
    >>> fc = td.fitting.forecast_patient(pop, {"time": [0.0, 42.0], "value": [28.0, 31.0]}, [84.0, 126.0])
    >>> fc.readouts.loc["forecast", "last_response"] in td.readouts.RECIST_CATEGORIES
    True
    """
    import pandas as pd

    from ._fit import _as_dataframe

    if not isinstance(population, PopulationResult):
        raise TypeError(f"`population` must be a PopulationResult (from fit_population), got "
                        f"{type(population).__name__}")
    if quantity not in _QUANTITIES:
        raise SpecificationError(f"`quantity` must be one of {_QUANTITIES}, got {quantity!r}")
    if not (isinstance(level, (float, int)) and 0 < level < 1):
        raise SpecificationError(f"`level` must be in (0, 1), got {level!r}")
    if not (isinstance(n_samples, int) and n_samples >= 10):
        raise SpecificationError(f"`n_samples` must be an integer >= 10, got {n_samples!r}")
    df = _as_dataframe(scans)
    for col in (time, value):
        if col not in df.columns:
            raise UnknownNameError("column", col, [str(c) for c in df.columns], "`scans`")
    if "subject" in df.columns and df["subject"].nunique(dropna=False) > 1:
        raise SpecificationError(f"`scans` holds {df['subject'].nunique()} subjects; forecast one patient at a time")
    if len(df) == 0:
        raise SpecificationError("`scans` has no rows: the patient needs at least one scan")
    t_obs = pd.to_numeric(df[time], errors="coerce").to_numpy(dtype=float)
    y_obs = pd.to_numeric(df[value], errors="coerce").to_numpy(dtype=float)
    for name, arr in ((time, t_obs), (value, y_obs)):
        bad = ~np.isfinite(arr)
        if bad.any():
            raise SpecificationError(f"`scans` row {int(np.argmax(bad))}: {name} is {df[name].iloc[int(np.argmax(bad))]!r}"
                                     "; it must be a finite number")
    order = np.argsort(t_obs, kind="stable")
    t_obs, y_obs = t_obs[order], y_obs[order]
    if np.any(np.diff(t_obs) == 0):
        raise SpecificationError("`scans` has two scans at the same time; give one value per time")
    e = population._engine
    if e.scale == "log" and np.any(y_obs <= 0):
        raise SpecificationError("`scans` holds a value <= 0, which a log-scale population model cannot take")
    t_fc = np.asarray(times, dtype=float).ravel()
    if t_fc.size == 0 or not np.all(np.isfinite(t_fc)):
        raise SpecificationError("`times` must be a non-empty sequence of finite times (days)")
    t_fc = np.unique(t_fc)
    t_rd = t_fc if readout_times is None else np.unique(np.asarray(readout_times, dtype=float).ravel())
    if not np.all(np.isfinite(t_rd)):
        raise SpecificationError("`readout_times` must be finite times (days)")
    t_pred = np.union1d(t_fc, t_rd)  # predicted once, read at both
    i_fc, i_rd = np.searchsorted(t_pred, t_fc), np.searchsorted(t_pred, t_rd)

    spec = e.spec
    row = np.zeros((1, len(spec.cov_terms)))
    for m, (_, cname) in enumerate(spec.cov_terms):
        if covariates is not None and cname in covariates:
            v = float(covariates[cname])
        elif cname in df.columns:
            v = float(pd.to_numeric(df[cname], errors="coerce").iloc[0])
        else:
            raise SpecificationError(f"the population model has an effect of covariate {cname!r}; give the "
                                     "patient's value in `covariates` or as a column of `scans`")
        if not math.isfinite(v):
            raise SpecificationError(f"covariate {cname!r} of the patient must be a finite number, got {v}")
        row[0, m] = v - spec.centers[cname]
    spec1 = replace(spec, cov_values=row)
    kw = {} if not isinstance(e.struct, _ModelStructure) else {"schedule": schedule, "initial": initial}
    if not kw and (schedule is not None or initial is not None):
        raise SpecificationError("`schedule`/`initial` apply to a Model structure; this population model is a "
                                 "closed-form callable")
    s_obs = e.struct.at(t_obs, **kw)
    s_fc = e.struct.at(t_pred, **kw)
    eng = _Engine(spec1, s_obs, y_obs, np.zeros(t_obs.size, dtype=np.intp), e.scale)
    xt, xb, *_ = spec.split(population._x)
    psi = spec1.psi_pop(xt, xb)
    om = population.omega.to_numpy()
    oinv = np.linalg.inv(om)
    a, b = population.residual["additive"], population.residual["proportional"]
    with np.errstate(all="ignore"):
        eta, gf, G, obj, ok = eng.modes(psi, np.zeros((1, spec.q)), oinv, a, b)
    if not ok or not np.all(np.isfinite(obj)):
        raise SpecificationError("the patient's posterior cannot be evaluated (predictions failed or are not "
                                 "finite at these scans)")
    V, _ = eng.variance(gf, a, b)
    A = G.T @ (G / V[:, None]) + oinv
    post = np.linalg.inv(A)
    post = 0.5 * (post + post.T)

    rng = np.random.default_rng(seed)
    etas = rng.multivariate_normal(eta[0], post, size=n_samples)  # (n, q)
    fe = _Engine(spec1, s_fc, np.ones(t_pred.size), np.zeros(t_pred.size, dtype=np.intp), e.scale)
    with np.errstate(all="ignore"):
        gfs = fe.gpred(psi, etas[:, None, :])  # (n, T)
        Vs, _ = fe.variance(gfs, a, b)
        ys = fe.g_inv(gfs + np.sqrt(Vs) * rng.standard_normal(gfs.shape))
        y_map = fe.g_inv(fe.gpred(psi, eta[None])[0])
    if not np.all(np.isfinite(y_map)):
        raise SpecificationError("the forecast at the MAP estimate is not finite at the requested times")
    lo_q, hi_q = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    finite = np.isfinite(ys)
    ys_f = np.where(finite, ys, np.nan)
    median_all = np.nanmedian(ys_f, axis=0)
    lower, upper = np.nanpercentile(ys_f[:, i_fc], [lo_q, hi_q], axis=0)

    # RECIST on observed and forecast series (future scans: readout times after the last scan)
    fut = i_rd[t_rd > t_obs[-1]]
    cats = list(RECIST_CATEGORIES)
    rec_rows = {}
    d_obs = _diameter(y_obs, quantity)
    if t_obs.size >= 2:
        rec_rows["observed"] = _readouts(t_obs, d_obs[:, None])
    t_all = np.r_[t_obs, t_pred[fut]]
    probs: dict[str, float] = {c: math.nan for c in cats}
    p_prog = math.nan
    if fut.size:
        rec_rows["forecast"] = _readouts(t_all, np.r_[d_obs, _diameter(median_all[fut], quantity)][:, None])
        ok_s = finite[:, fut].all(axis=1)
        d_s = np.vstack([np.repeat(d_obs[:, None], int(ok_s.sum()), axis=1),
                         _diameter(ys[ok_s][:, fut], quantity).T])
        rs = _readouts(t_all, d_s)
        n_ok = max(int(ok_s.sum()), 1)
        probs = {c: float(np.sum(rs["last"] == k)) / n_ok for k, c in enumerate(cats)}
        p_prog = float(np.mean(np.isfinite(rs["ttp"])))
    median, y_map = median_all[i_fc], y_map[i_fc]
    table = pd.DataFrame(
        [(k, cats[int(v["last"][0])], cats[int(v["best"][0])], float(v["ttp"][0]), float(v["nadir"][0]),
          float(v["nadir_time"][0]), float(v["best_change"][0])) for k, v in rec_rows.items()],
        columns=["series", "last_response", "best_overall_response", "time_to_progression", "nadir_diameter",
                 "nadir_time", "best_percent_change"],
    ).set_index("series")
    rn = list(population.omega.index)
    phi = spec1.phi(psi, eta)[0]
    return PatientForecast(
        times=t_fc, median=median, lower=lower, upper=upper, map=y_map, level=float(level),
        scan_times=t_obs, scan_values=y_obs, eta=dict(zip(rn, eta[0].tolist())),
        eta_covariance=pd.DataFrame(post, index=rn, columns=rn),
        parameters=dict(zip(spec.names, phi.tolist())), readouts=table, response_probability=probs,
        progression_probability=p_prog, quantity=quantity, observable=population.observable, scale=e.scale,
        n_samples=n_samples,
    )


@dataclass(frozen=True)
class PatientForecast:
    """A patient's forecast from early scans (:func:`forecast_patient`).

    Attributes
    ----------
    times : numpy.ndarray
        Forecast times (days).
    median, lower, upper : numpy.ndarray
        Median and ``level`` prediction interval of a new measurement at each
        time (posterior of eta and residual error; observable's unit).
    map : numpy.ndarray
        Prediction at the MAP estimate of eta (no residual error).
    level : float
        Coverage of the interval.
    scan_times, scan_values : numpy.ndarray
        The scans used (days; observable's unit), sorted by time.
    eta : dict of str to float
        MAP estimate of eta.
    eta_covariance : pandas.DataFrame
        Its Laplace posterior covariance.
    parameters : dict of str to float
        Individual parameters at the MAP.
    readouts : pandas.DataFrame
        RECIST 1.1 per series (rows ``observed``: the scans, if at least 2;
        ``forecast``: the scans followed by the median forecast at the later readout times):
        ``last_response`` (category at the last scan), ``best_overall_response``,
        ``time_to_progression`` (days from the first scan; ``inf`` if none),
        ``nadir_diameter`` (mm), ``nadir_time`` (days), ``best_percent_change`` (%).
    response_probability : dict of str to float
        Probability of each RECIST category at the last readout time, over the
        sampled series (NaN if no readout time is after the last scan).
    progression_probability : float
        Probability of a progression (PD) at some scan up to the last readout time.
    quantity : str
        ``"diameter"`` or ``"volume"``: how values were turned into diameters.
    observable : str
    scale : str
    n_samples : int
    """

    times: np.ndarray
    median: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    map: np.ndarray
    level: float
    scan_times: np.ndarray
    scan_values: np.ndarray
    eta: dict[str, float]
    eta_covariance: pd.DataFrame
    parameters: dict[str, float]
    readouts: pd.DataFrame
    response_probability: dict[str, float]
    progression_probability: float
    quantity: str
    observable: str
    scale: str
    n_samples: int

    def to_dataframe(self) -> pd.DataFrame:
        """One row per scan and forecast time: ``time`` (days), ``kind`` (``"scan"``/``"forecast"``),
        ``observed`` (scans), ``map``, ``median``, ``lower``, ``upper`` (forecasts; observable's unit)."""
        import pandas as pd

        scans = pd.DataFrame({"time": self.scan_times, "kind": "scan", "observed": self.scan_values})
        fc = pd.DataFrame({"time": self.times, "kind": "forecast", "map": self.map, "median": self.median,
                           "lower": self.lower, "upper": self.upper})
        return pd.concat([scans, fc], ignore_index=True)

    def plot(self, ax: Axes | None = None, *, color: str = "C0") -> Axes:
        """A forecast fan: the scans, the MAP curve and the prediction interval.

        Parameters
        ----------
        ax : matplotlib Axes, optional
        color : str
            Colour of the forecast.

        Returns
        -------
        matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        ax.fill_between(self.times, self.lower, self.upper, color=color, alpha=0.25, lw=0,
                        label=f"{int(round(100 * self.level))}% prediction interval")
        ax.plot(self.times, self.median, color=color, lw=1.5, label="median forecast")
        ax.plot(self.scan_times, self.scan_values, "ko", ms=4, label="scans used")
        ax.axvline(self.scan_times[-1], color="0.6", lw=0.8, ls=":")
        if self.scale == "log":
            ax.set_yscale("log")
        ax.set_xlabel("time (days)")
        ax.set_ylabel(self.observable)
        ax.legend(fontsize=7)
        return ax
