r"""Virtual populations selected to match published trial statistics (QSP virtual-population selection).

The method of Allen, Rieger & Musante (2016, *CPT Pharmacometrics Syst. Pharmacol.* 5:140):

1. **Plausible patients**: parameter sets drawn from plausible ranges (:class:`~tumordyn.Cohort`
   distributions) and simulated under the trial's regimen(s).
2. **Target**: the statistics a trial published (response rates, median progression-free survival).
3. **Selection**: each plausible patient *i* is accepted with probability
   :math:`p_i = w_i / \max_j w_j`, the ratio of the target to the plausible density (scaled so the
   most under-represented patients are always accepted, maximising the yield as Allen et al. do).

Allen et al. estimate the target density of a continuous observable with a kernel density. The
statistics a trial reports are rates and medians, i.e. expectations of per-patient indicators
:math:`f_k(i)` (responded, complete response, progressed before :math:`t`), so here the target density
is the one *closest* (Kullback–Leibler) to the plausible population that meets every target exactly:
:math:`w_i \propto \exp(\lambda \cdot g_i)`, with :math:`g_{ik} = e_{ik}\,(f_k(i) - \tau_k)` (:math:`e_{ik}`:
patient *i* evaluable for statistic *k*, :math:`\tau_k` its target) and :math:`\lambda` minimising the convex
dual :math:`\log \sum_i \exp(\lambda \cdot g_i)` (minimum cross-entropy / exponential tilting, the
"weighting" alternative of the same paper). The accepted patients, or the plausible ones weighted by
:math:`w`, then reproduce every target in expectation.

A median time-to-event target :math:`m` is the pair of statistics "progressed strictly before the first
scan at or after :math:`m`" :math:`= 0.5 - \delta` and "progressed by that scan" :math:`= 0.5 + \delta`
(:math:`\delta` = ``median_margin``), so the Kaplan–Meier median, a step function of the scan times,
lands on that scan.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from .._progress import progress_bar
from .._validate import real_number
from ..errors import CalibrationError, SpecificationError, UnknownNameError
from ._cohort import Cohort, CohortResult

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..spec import Model

__all__ = ["TargetStatistic", "VirtualPopulation", "calibrate_population", "population_statistics",
           "RATE_STATISTICS", "TIME_STATISTICS", "LANDMARK_STATISTICS", "MEAN_STATISTICS", "PSATrialResult", "trial_targets", "trial_target_statistics", "trial_population",
           "virtual_trial", "TRIAL_POPULATIONS", "zhang_trial_model"]

#: Rate statistics (fractions of the evaluable patients) and the best overall responses they count.
RATE_STATISTICS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "ORR": ("CR", "PR"),
    "CR": ("CR",),
    "PR": ("PR",),
    "DCR": ("CR", "PR", "SD"),
    "PD": ("PD",),
    "pseudoprogression": (),  # the iRECIST readout `pseudoprogression`
})
#: Median time-to-event statistics (days) and the readout they are read from (``median_ttp``: time to
#: progression of a :class:`PSATrialResult`, read at its PSA checks).
TIME_STATISTICS: Mapping[str, str] = MappingProxyType({
    "median_pfs": "time_to_progression_scan",
    "median_ttp": "time_to_progression_scan",
})
#: Mean statistics (the average over the evaluable patients of a per-patient readout) and that readout.
MEAN_STATISTICS: Mapping[str, str] = MappingProxyType({
    "dose_fraction": "dose_fraction",
})
#: Landmark statistics (fraction event-free at ``TargetStatistic.time``) and the readout they are read from.
LANDMARK_STATISTICS: Mapping[str, str] = MappingProxyType({
    "pfs_rate": "time_to_progression_scan",
})
_ALL = (*RATE_STATISTICS, *TIME_STATISTICS, *LANDMARK_STATISTICS, *MEAN_STATISTICS)


@dataclass(frozen=True)
class TargetStatistic:
    """One published statistic of one trial arm: value and accepted range.

    Parameters
    ----------
    regimen : str
        The arm (regimen name of the simulation).
    statistic : str
        One of :data:`RATE_STATISTICS` (fractions, 0–1, of the RECIST-evaluable patients:
        ``"ORR"``, ``"CR"``, ``"PR"``, ``"DCR"``, ``"PD"`` as best overall response,
        ``"pseudoprogression"``), :data:`TIME_STATISTICS` (``"median_pfs"``: the Kaplan–Meier median of
        progression-free survival at the scans, days; ``"median_ttp"``: the same of the time to
        progression of a :class:`PSATrialResult`), :data:`LANDMARK_STATISTICS` (``"pfs_rate"``:
        the fraction progression-free at ``time``) or :data:`MEAN_STATISTICS` (``"dose_fraction"``:
        the mean fraction of the time on trial spent on drug, 0–1).
    value : float
        The published value (fraction or days).
    low, high : float
        The accepted range (the published 95 % CI, or a stated tolerance); ``low <= value <= high``.
    source : str, optional
        Where the figure comes from (citation).
    time : float, optional
        Landmark time of ``"pfs_rate"`` (days after treatment start; required there, unused otherwise).
    """

    regimen: str
    statistic: str
    value: float
    low: float
    high: float
    source: str = ""
    time: float | None = None

    def __post_init__(self) -> None:
        if self.statistic not in _ALL:
            raise UnknownNameError("target statistic", self.statistic, list(_ALL), "TargetStatistic")
        rate = self.statistic not in TIME_STATISTICS
        if self.statistic in LANDMARK_STATISTICS:
            if self.time is None:
                raise SpecificationError(f"TargetStatistic {self.statistic!r} needs `time` (days), the landmark")
            object.__setattr__(self, "time", real_number(self.time, f"TargetStatistic {self.statistic!r} `time`",
                                                         minimum=0.0, strict=True, unit="days"))
        for nm in ("value", "low", "high"):
            v = real_number(getattr(self, nm), f"TargetStatistic {self.statistic!r} `{nm}`",
                            minimum=0.0, unit="" if rate else "days", allow_inf=not rate and nm == "high")
            if rate and v > 1:
                raise SpecificationError(f"TargetStatistic {self.statistic!r} `{nm}` = {v:g} is a fraction: "
                                         f"it must lie in [0, 1] (write 33% as 0.33)")
            object.__setattr__(self, nm, v)
        if not self.low <= self.value <= self.high:
            raise SpecificationError(f"TargetStatistic {self.regimen!r}/{self.statistic!r}: need low <= value <= "
                                     f"high, got {self.low:g}, {self.value:g}, {self.high:g}")

    def contains(self, x: float) -> bool:
        """True if ``x`` lies in ``[low, high]``."""
        return bool(self.low <= x <= self.high)


def population_statistics(result: CohortResult, regimen: str, statistics: Sequence[str | TargetStatistic],
                          weights: Any = None) -> dict[str, float]:
    """Weighted trial statistics of one arm of a cohort result.

    Parameters
    ----------
    result : CohortResult
        The simulated cohort.
    regimen : str
        The arm.
    statistics : sequence of str or TargetStatistic
        Names from :data:`RATE_STATISTICS` (fractions of the evaluable patients) and
        :data:`TIME_STATISTICS` (Kaplan–Meier medians at the scans, days; ``inf``: not reached), or
        :class:`TargetStatistic` objects (needed for :data:`LANDMARK_STATISTICS`, which carry a time;
        keyed ``"pfs_rate@<time>"``).
    weights : array_like, optional
        Patient weights (default: equal). Patients with weight 0 are left out.

    Returns
    -------
    dict of str to float
    """
    ro = result.readouts(regimen)
    n = result.cohort.n
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    out: dict[str, float] = {}
    for item in statistics:
        if isinstance(item, TargetStatistic):
            s = item.statistic
            if s in LANDMARK_STATISTICS:
                f, e = _landmark(ro, s, float(item.time))  # type: ignore[arg-type]
                den = float(np.sum(w * e))
                out[f"{s}@{item.time:g}"] = float(np.sum(w * e * f) / den) if den > 0 else math.nan
                continue
        else:
            s = item
        if s in RATE_STATISTICS or s in MEAN_STATISTICS:
            f, e = _indicator(ro, s) if s in RATE_STATISTICS else _mean_values(ro, s)
            den = float(np.sum(w * e))
            out[s] = float(np.sum(w * e * f) / den) if den > 0 else math.nan
        elif s in TIME_STATISTICS:
            out[s] = _weighted_km_median(ro[TIME_STATISTICS[s]], w, result.t_end)
        else:
            raise UnknownNameError("statistic (landmarks: pass a TargetStatistic)", s,
                                   [*RATE_STATISTICS, *TIME_STATISTICS, *MEAN_STATISTICS], "population_statistics")
    return out


def _indicator(ro: Mapping[str, np.ndarray], statistic: str) -> tuple[np.ndarray, np.ndarray]:
    bor = ro["best_overall_response"]
    evaluable = (bor != "NE").astype(float)
    if statistic == "pseudoprogression":
        f = np.asarray(ro["pseudoprogression"], dtype=float)
    else:
        f = np.isin(bor, RATE_STATISTICS[statistic]).astype(float)
    return f, evaluable


def _mean_values(ro: Mapping[str, np.ndarray], statistic: str) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(ro[MEAN_STATISTICS[statistic]], dtype=float)
    ok = ~np.isnan(v)
    return np.where(ok, v, 0.0), ok.astype(float)


def _landmark(ro: Mapping[str, np.ndarray], statistic: str, time: float) -> tuple[np.ndarray, np.ndarray]:
    ttp = ro[LANDMARK_STATISTICS[statistic]]
    ok = ~np.isnan(ttp)
    return (np.where(ok, ttp, 0.0) > time).astype(float), ok.astype(float)


def _weighted_km_median(ttp: np.ndarray, w: np.ndarray, t_end: float) -> float:
    """Kaplan–Meier median with case weights (censoring at ``t_end`` only, so it is the weighted quantile)."""
    keep = ~np.isnan(ttp) & (w > 0)
    t, ww = ttp[keep], w[keep]
    if ww.sum() <= 0:
        return math.nan
    times = np.unique(t[np.isfinite(t)])
    total = ww.sum()
    at_risk = total
    s = 1.0
    for ti in times:
        d = ww[t == ti].sum()
        s *= 1.0 - d / at_risk
        at_risk -= d
        if s <= 0.5 + 1e-12:
            return float(ti)
    return math.inf


@dataclass(frozen=True)
class VirtualPopulation:
    """A virtual population selected (and weighted) to match published statistics.

    Attributes
    ----------
    model : Model
        The model.
    values : mapping of str to numpy.ndarray
        The selected (accepted) patients' sampled quantities, one value per patient (parameter units).
    plausible : pandas.DataFrame
        Every plausible patient: the sampled quantities, ``weight`` (the normalised selection weight,
        summing to 1), ``p_accept`` (acceptance probability) and ``accepted`` (bool).
    targets : tuple of TargetStatistic
        The targets.
    achieved : pandas.DataFrame
        Per target: ``value``, ``low``, ``high``, ``plausible`` (the unweighted plausible population),
        ``weighted`` (the weighted plausible population), ``selected`` (the accepted patients),
        ``calibrated`` (False: a published figure reported but not selected on, e.g. a one-sided
        range checked as an outcome) and
        ``source``.
    seed : int
        Seed of the whole procedure (same seed, same population).
    n_rounds : int
        Sampling rounds used.
    effective_size : float
        Kish effective sample size of the weights, :math:`(\\sum w)^2 / \\sum w^2`.
    """

    model: Model
    values: Mapping[str, np.ndarray]
    plausible: pd.DataFrame = field(repr=False)
    targets: tuple[TargetStatistic, ...]
    achieved: pd.DataFrame = field(repr=False)
    seed: int
    n_rounds: int
    effective_size: float

    @property
    def n(self) -> int:
        """Number of selected patients."""
        return int(next(iter(self.values.values())).size)

    def cohort(self, n: int | None = None, *, seed: int | None = None, covariates: Any = None) -> Cohort:
        """A :class:`~tumordyn.Cohort` of the selected patients.

        Parameters
        ----------
        n : int, optional
            Number of patients. Default: every selected patient once. Otherwise ``n`` patients drawn
            from the selected ones with replacement (seeded), e.g. a 1,000-patient trial from a
            smaller selected population.
        seed : int, optional
            Seed of the draw (default: the population's seed).
        covariates : mapping of str to Distribution, or pandas.DataFrame, optional
            The trial patients' covariates (e.g. ``weight_kg`` in kg for a regimen in mg/kg), as
            :meth:`Cohort.from_values` takes them.

        Returns
        -------
        Cohort
        """
        seed = self.seed if seed is None else int(seed)
        if n is None:
            return Cohort.from_values(self.model, self.values, seed=seed, covariates=covariates)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise SpecificationError(f"`n` must be a positive integer, got {n!r}")
        idx = np.random.default_rng(seed).integers(0, self.n, size=int(n))
        return Cohort.from_values(self.model, {k: v[idx] for k, v in self.values.items()}, seed=seed,
                                  covariates=covariates)

    def to_dataframe(self) -> pd.DataFrame:
        """The selected patients: one row each, one column per sampled quantity."""
        import pandas as pd

        df = pd.DataFrame(dict(self.values))
        df.index.name = "patient"
        return df


def _tilt(G: np.ndarray, *, tol: float, max_iter: int) -> tuple[np.ndarray, float]:
    """Minimum-KL weights ``w ∝ exp(G @ lam)`` with ``sum w G = 0`` (damped Newton on the convex dual)."""
    n, k = G.shape
    lam = np.zeros(k)

    def dual(lam: np.ndarray) -> float:
        z = G @ lam
        zmax = z.max()
        return float(zmax + np.log(np.mean(np.exp(z - zmax))))

    f = dual(lam)
    for _ in range(max_iter):
        z = G @ lam
        w = np.exp(z - z.max())
        w /= w.sum()
        grad = w @ G
        if np.max(np.abs(grad)) < tol:
            return w, float(np.max(np.abs(grad)))
        H = (G * w[:, None]).T @ G - np.outer(grad, grad)
        step = np.linalg.lstsq(H + 1e-12 * np.eye(k), -grad, rcond=None)[0]
        a = 1.0
        for _ in range(60):  # backtracking (Armijo)
            f_new = dual(lam + a * step)
            if f_new <= f + 1e-4 * a * float(grad @ step):
                break
            a *= 0.5
        lam = lam + a * step
        f = f_new
    z = G @ lam
    w = np.exp(z - z.max())
    w /= w.sum()
    return w, float(np.max(np.abs(w @ G)))


def _constraints(results: Mapping[str, CohortResult], targets: Sequence[TargetStatistic],
                 margin: float) -> tuple[np.ndarray, list[str]]:
    cols: list[np.ndarray] = []
    names: list[str] = []
    for tg in targets:
        res = results[tg.regimen]
        ro = res.readouts(tg.regimen)
        if tg.statistic in RATE_STATISTICS or tg.statistic in MEAN_STATISTICS:
            f, e = _indicator(ro, tg.statistic) if tg.statistic in RATE_STATISTICS else _mean_values(ro, tg.statistic)
            cols.append(e * (f - tg.value))
            names.append(f"{tg.regimen}/{tg.statistic}")
            continue
        if tg.statistic in LANDMARK_STATISTICS:
            if tg.time > res.t_end:  # type: ignore[operator]
                raise SpecificationError(f"target {tg.regimen}/{tg.statistic}: landmark time {tg.time:g} days is "
                                         f"after the horizon t_end = {res.t_end:g} days")
            f, e = _landmark(ro, tg.statistic, float(tg.time))  # type: ignore[arg-type]
            cols.append(e * (f - tg.value))
            names.append(f"{tg.regimen}/{tg.statistic}@{tg.time:g}")
            continue
        ttp = ro[TIME_STATISTICS[tg.statistic]]
        scans = np.asarray(res.scan_times, dtype=float)
        inside = scans[(scans >= tg.low) & (scans <= tg.high) & (scans > 0)]
        if inside.size == 0:
            raise CalibrationError(
                f"target {tg.regimen}/{tg.statistic}: no scan falls in the accepted range [{tg.low:g}, {tg.high:g}] "
                f"days (scans at {', '.join(f'{x:g}' for x in scans[:12])} ...), so no Kaplan–Meier median can; "
                f"scan more often (ScanPlan interval)")
        s_star = inside[np.argmin(np.abs(inside - tg.value))]
        ok = (~np.isnan(ttp)).astype(float)
        tt = np.where(np.isnan(ttp), np.inf, ttp)
        cols.append(ok * ((tt < s_star).astype(float) - (0.5 - margin)))
        names.append(f"{tg.regimen}/{tg.statistic} (progressed before {s_star:g} d)")
        cols.append(ok * ((tt <= s_star).astype(float) - (0.5 + margin)))
        names.append(f"{tg.regimen}/{tg.statistic} (progressed by {s_star:g} d)")
    return np.column_stack(cols), names


def calibrate_population(
    model: Model,
    plausible: Mapping[str, Any],
    regimens: Mapping[str, Any],
    targets: Sequence[TargetStatistic],
    *,
    n_select: int = 200,
    n_plausible: int = 2000,
    max_rounds: int = 5,
    seed: int = 0,
    correlation: Any = None,
    t_end: float = 730.0,
    median_margin: float = 0.02,
    min_effective_size: float = 30.0,
    tol: float = 1e-4,
    progress: bool | None = None,
    **simulate_kwargs: Any,
) -> VirtualPopulation:
    """Select a virtual population whose simulated trial statistics match published ones.

    Plausible patients are sampled from ``plausible`` (a :class:`~tumordyn.Cohort` per round of
    ``n_plausible``), simulated under ``regimens``, weighted by minimum-cross-entropy tilting to meet
    every target, and accepted with probability ``w_i / max(w)`` (Allen, Rieger & Musante 2016;
    see the module notes). Rounds of fresh plausible patients are added until ``n_select`` are
    accepted or ``max_rounds`` is reached.

    Parameters
    ----------
    model : Model
        The model.
    plausible : mapping of str to Distribution
        Plausible ranges/distributions of the patient parameters (as for :class:`~tumordyn.Cohort`).
    regimens : mapping of str to Schedule or Regimen
        The trial's arms by name; every target names one.
    targets : sequence of TargetStatistic
        The published statistics to match.
    n_select : int, optional
        Patients to accept (default 200). The accepted patients are returned in the order drawn.
    n_plausible : int, optional
        Plausible patients per round (default 2000).
    max_rounds : int, optional
        Bound on the sampling rounds (default 5).
    seed : int, optional
        Seed of everything (sampling, acceptance draws): same seed, same population.
    correlation : optional
        Correlations of the plausible distributions (as for :class:`~tumordyn.Cohort`).
    t_end : float, optional
        Horizon of the simulated trial (days, default 730).
    median_margin : float, optional
        :math:`\\delta` of the median targets (default 0.02, see the module notes).
    min_effective_size : float, optional
        Fewest effective plausible patients (Kish) the weights may rest on (default 30): fewer means
        the targets are reached by a handful of patients, and a :class:`CalibrationError` is raised.
    tol : float, optional
        Tolerance on each weighted constraint (fraction, default 1e-4).
    progress : bool, optional
        Progress bar over the rounds (``False`` silences it).
    **simulate_kwargs
        Passed to :meth:`tumordyn.Cohort.simulate` (e.g. ``scans``, ``run_in``, ``method``).

    Returns
    -------
    VirtualPopulation

    Raises
    ------
    CalibrationError
        When a target is out of reach of the plausible patients (every evaluable patient above or
        below it), the weights do not meet the targets within ``tol``, rest on fewer than
        ``min_effective_size`` effective patients, or fewer than ``n_select`` patients are accepted
        in ``max_rounds`` rounds.
    SpecificationError, UnknownNameError
        For invalid arguments (a target naming an arm not in ``regimens``, ...).

    Examples
    --------
    >>> import tumordyn as td
    >>> m = td.models.tumor_immune_tme()
    >>> tg = [td.cohorts.TargetStatistic("untreated", "median_pfs", 84.0, 70.0, 100.0)]
    >>> vp = td.cohorts.calibrate_population(
    ...     m, {"r_S": td.cohorts.LogNormal(median=0.03, cv=0.5)}, {"untreated": td.Schedule()}, tg,
    ...     n_select=20, n_plausible=100, t_end=200, seed=1, progress=False,
    ...     scans=td.readouts.ScanPlan(interval=28.0))  # doctest: +SKIP
    """
    if not isinstance(regimens, Mapping) or not regimens:
        raise SpecificationError("`regimens` must be a non-empty mapping of arm name to schedule")
    targets = tuple(targets)
    if not targets:
        raise SpecificationError("`targets` must hold at least one TargetStatistic")
    for tg in targets:
        if not isinstance(tg, TargetStatistic):
            raise TypeError(f"`targets` must hold TargetStatistic objects, got {type(tg).__name__}")
        if tg.regimen not in regimens:
            raise UnknownNameError("regimen", tg.regimen, list(regimens), "calibrate_population targets")
    for nm, v in (("n_select", n_select), ("n_plausible", n_plausible), ("max_rounds", max_rounds)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise SpecificationError(f"`{nm}` must be a positive integer, got {v!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SpecificationError(f"`seed` must be a non-negative integer, got {seed!r}")
    median_margin = real_number(median_margin, "median_margin", minimum=0.0)
    if median_margin >= 0.5:
        raise SpecificationError(f"`median_margin` must be below 0.5, got {median_margin:g}")
    simulate_kwargs.setdefault("progress", False)

    def simulate(cohort: Cohort) -> CohortResult:
        return cohort.simulate(dict(regimens), t_end=t_end, **simulate_kwargs)

    return _select(model, plausible, simulate, tuple(regimens), targets, n_select=n_select, n_plausible=n_plausible,
                   max_rounds=max_rounds, seed=seed, correlation=correlation, median_margin=median_margin,
                   min_effective_size=min_effective_size, tol=tol, progress=progress)


def _select(model: Model, plausible: Mapping[str, Any], simulate: Any, regimens: tuple[str, ...],
            targets: tuple[TargetStatistic, ...], *, n_select: int, n_plausible: int, max_rounds: int, seed: int,
            correlation: Any, median_margin: float, min_effective_size: float, tol: float,
            progress: bool | None, checks: tuple[TargetStatistic, ...] = ()) -> VirtualPopulation:
    """The selection loop of :func:`calibrate_population` (arguments validated there).

    ``simulate(cohort)`` returns a result with ``readouts(arm)``, ``scan_times``, ``t_end`` and
    ``cohort`` (a :class:`CohortResult` or :class:`PSATrialResult`); ``checks`` are targets reported in
    ``achieved`` but not calibrated to (one-sided ranges, outcomes).
    """
    import pandas as pd

    round_seeds = np.random.SeedSequence(int(seed)).generate_state(max_rounds + 1, np.uint32)
    accept_rng = np.random.default_rng(int(round_seeds[-1]))
    value_parts: list[dict[str, np.ndarray]] = []
    G_parts: list[np.ndarray] = []
    names: list[str] = []
    results: list[Mapping[str, CohortResult]] = []
    w = p = accepted = None
    n_eff = 0.0
    n_rounds = 0
    u_parts: list[np.ndarray] = []
    with progress_bar(progress, total=max_rounds, desc="calibrating population", unit="round") as bar:
        for r in range(max_rounds):
            cohort = Cohort(model, plausible, n=int(n_plausible), seed=int(round_seeds[r]), correlation=correlation)
            res = simulate(cohort)
            results.append({k: res for k in regimens})
            G, names = _constraints(results[-1], targets, median_margin)
            G_parts.append(G)
            value_parts.append({k: np.asarray(v) for k, v in cohort.parameters.items()})
            u_parts.append(accept_rng.random(int(n_plausible)))
            n_rounds = r + 1
            bar.update(1)
            Gall = np.vstack(G_parts)
            for j, nm in enumerate(names):  # a target outside the convex hull of the patients cannot be met
                col = Gall[:, j]
                if not (np.any(col > 0) and np.any(col < 0)) and np.any(col != 0):
                    side = "above" if np.all(col >= 0) else "below"
                    raise CalibrationError(
                        f"target {nm} is out of reach: every plausible patient is {side} it "
                        f"({Gall.shape[0]} plausible patients); widen the plausible ranges or check the target")
            w, resid = _tilt(Gall, tol=tol, max_iter=200)
            if resid > tol:
                raise CalibrationError(
                    f"the weights cannot meet every target together (largest residual {resid:.3g} > tol {tol:g}; "
                    f"constraints: {', '.join(names)}); the targets may contradict each other in this model")
            n_eff = float(1.0 / np.sum(w**2))
            p = w / w.max()
            accepted = np.concatenate(u_parts) < p
            if int(accepted.sum()) >= n_select and n_eff >= min_effective_size:
                break
    assert w is not None and p is not None and accepted is not None
    if n_eff < min_effective_size:
        raise CalibrationError(
            f"the targets are met only by weights concentrated on {n_eff:.1f} effective plausible patients "
            f"(< min_effective_size = {min_effective_size:g}) after {n_rounds} rounds of {n_plausible}: "
            f"the targets lie at the edge of what the plausible ranges produce; widen them")
    if int(accepted.sum()) < n_select:
        raise CalibrationError(
            f"only {int(accepted.sum())} of the {n_select} requested patients were accepted after {n_rounds} "
            f"rounds of {n_plausible} plausible patients (acceptance rate {accepted.mean():.3f}); raise "
            f"`n_plausible` or `max_rounds`, or ask for fewer patients")
    all_values = {k: np.concatenate([vp[k] for vp in value_parts]) for k in value_parts[0]}
    idx = np.flatnonzero(accepted)[:n_select]
    values = {k: v[idx].copy() for k, v in all_values.items()}
    for v in values.values():
        v.flags.writeable = False
    plaus = pd.DataFrame(all_values)
    plaus["weight"], plaus["p_accept"] = w, p
    plaus["accepted"] = np.zeros(len(plaus), dtype=bool)
    plaus.loc[idx, "accepted"] = True
    # achieved statistics: plausible (unweighted), weighted, selected
    sel_w = np.zeros(len(plaus))
    sel_w[idx] = 1.0
    rows = []
    for tg in (*targets, *checks):
        vals = {}
        for label, ww in (("plausible", None), ("weighted", w), ("selected", sel_w)):
            parts = []
            offset = 0
            for res_map in results:
                res = res_map[tg.regimen]
                m = res.cohort.n
                parts.append((res, None if ww is None else ww[offset:offset + m]))
                offset += m
            vals[label] = _pooled_statistic(parts, tg)
        rows.append({"regimen": tg.regimen, "statistic": tg.statistic, "value": tg.value, "low": tg.low,
                     "high": tg.high, **vals, "calibrated": tg in targets, "source": tg.source})
    achieved = pd.DataFrame(rows)
    return VirtualPopulation(model=model, values=MappingProxyType(values), plausible=plaus, targets=targets,
                             achieved=achieved, seed=int(seed), n_rounds=n_rounds, effective_size=n_eff)


def _pooled_statistic(parts: list[tuple[CohortResult, np.ndarray | None]], tg: TargetStatistic) -> float:
    if tg.statistic not in TIME_STATISTICS:
        num = den = 0.0
        for res, ww in parts:
            ro = res.readouts(tg.regimen)
            f, e = (_indicator(ro, tg.statistic) if tg.statistic in RATE_STATISTICS
                    else _mean_values(ro, tg.statistic) if tg.statistic in MEAN_STATISTICS
                    else _landmark(ro, tg.statistic, float(tg.time)))  # type: ignore[arg-type]
            wv = np.ones(f.size) if ww is None else ww
            num += float(np.sum(wv * e * f))
            den += float(np.sum(wv * e))
        return num / den if den > 0 else math.nan
    ttp = np.concatenate([res.readouts(tg.regimen)[TIME_STATISTICS[tg.statistic]] for res, _ in parts])
    wv = np.concatenate([np.ones(res.cohort.n) if ww is None else ww for res, ww in parts])
    return _weighted_km_median(ttp, wv, parts[0][0].t_end)


# --- published trials and the built-in calibrated populations ------------------------------------------------

#: Scans of the built-in virtual trials: every 6 weeks (KEYNOTE-006 and FLAURA assessed every 6 weeks).
TRIAL_SCAN_INTERVAL = 42.0
#: Horizon of the built-in virtual trials (days).
TRIAL_HORIZON = 730.0


def trial_targets() -> pd.DataFrame:
    """The published figures the built-in virtual trials are calibrated to and tested against.

    One table (``tumordyn/cohorts/data/trial_targets.csv``): ``trial``, ``arm``, ``statistic``,
    ``time`` (landmark of ``pfs_rate``, days), ``value``, ``low``, ``high`` (the accepted range: the published 95 % CI, or ±5 percentage points /
    ±20 % of a median where no CI is given), ``unit`` (``fraction`` or ``days``), ``tolerance`` (how the
    range was set), ``reached`` (``yes``: the built-in population is calibrated to it and the tests
    check it; ``no``: the model cannot reach it, a documented limitation) and ``source`` (citation).

    Returns
    -------
    pandas.DataFrame
    """
    from importlib.resources import files

    import pandas as pd

    with files("tumordyn.cohorts").joinpath("data/trial_targets.csv").open("r", encoding="utf-8") as fh:
        df = pd.read_csv(fh)
    return df


def trial_target_statistics(trial: str, *, reached_only: bool = True) -> tuple[TargetStatistic, ...]:
    """The :class:`TargetStatistic` rows of one trial of :func:`trial_targets` (rates, median PFS, landmarks).

    Parameters
    ----------
    reached_only : bool, optional
        Only the rows the built-in population is calibrated to (column ``reached`` = ``yes``, default);
        ``False`` adds the published figures the model cannot reach (documented limitations).
    trial : str
        ``"untreated"``, ``"keynote006"``, ``"flaura"`` or ``"zhang2017"``.

    Returns
    -------
    tuple of TargetStatistic
    """
    import pandas as pd

    df = trial_targets()
    if trial not in set(df["trial"]):
        raise UnknownNameError("trial", trial, sorted(set(df["trial"])), "trial_targets()")
    rows = df[(df["trial"] == trial) & df["statistic"].isin(_ALL)]
    if reached_only:
        rows = rows[rows["reached"] == "yes"]
    return tuple(TargetStatistic(r.arm, r.statistic, float(r.value), float(r.low), float(r.high), str(r.source),
                                 None if pd.isna(r.time) else float(r.time))
                 for r in rows.itertuples())


def _loguniform(lo: float, hi: float) -> Any:
    from scipy.stats import loguniform

    return loguniform(lo, hi)


def _trial_recipe(trial: str, model: Model) -> tuple[dict[str, Any], dict[str, Any], float]:
    """Plausible ranges, arms and median margin of a built-in trial population."""
    from ..regimens import standard_regimens
    from ._distributions import Uniform

    regs = standard_regimens(model, TRIAL_HORIZON)
    if trial == "untreated":
        plausible = {"r_S": _loguniform(0.001, 0.08), "S": _loguniform(1e9, 6e9), "a_P": _loguniform(0.005, 0.5),
                     "k_E": _loguniform(0.3, 15.0)}
        return plausible, {"untreated": regs["untreated"]}, 0.04
    if trial == "keynote006":
        plausible = {"r_S": _loguniform(0.01, 0.08), "k_E": _loguniform(0.3, 15.0), "a_P": _loguniform(0.005, 0.5),
                     "x_max": _loguniform(0.05, 3.0), "b_A": Uniform(0.3, 1.0), "h_E": _loguniform(1e8, 1e10),
                     "S": _loguniform(1e9, 3e10)}
        if "I" in model.states.names:  # acquired resistance: a pre-existing immune-escape subclone (1 to 1e6 cells)
            plausible["I"] = _loguniform(1.0, 1e6)
        return plausible, {"anti-pd1": regs["anti-pd1"]}, 0.03
    if trial == "flaura":
        plausible = {"r_S": _loguniform(0.01, 0.08), "r_R": _loguniform(0.005, 0.06), "k_T": _loguniform(0.03, 1.0),
                     "R": _loguniform(1e5, 1e9), "S": _loguniform(1e9, 6e9)}
        return plausible, {"targeted": regs["targeted"]}, 0.03
    raise UnknownNameError("built-in trial population", trial, list(TRIAL_POPULATIONS), "trial_population")


# --- Zhang et al. 2017: continuous against adaptive abiraterone on the zhang2017 model ----------------------

#: Horizon of the Zhang 2017 virtual trial (days): about 5 years, the follow-up of the pilot trial's update
#: (Zhang et al., eLife 2022;11:e76284: adaptive patients followed up to 70 months).
ZHANG_HORIZON = 1827.0
#: PSA checks of the Zhang 2017 virtual trial (days): every 4 weeks, as the pilot trial measured PSA.
ZHANG_CHECK_INTERVAL = 28.0
#: Floor on T+'s carrying capacity (cells) of the virtual trial's model (``zhang2017(tplus_capacity_floor=...)``).
ZHANG_TPLUS_FLOOR = 10.0


def zhang_trial_model() -> Model:
    """The ``zhang2017`` model of the built-in adaptive-abiraterone virtual trial.

    :func:`tumordyn.models.zhang2017` with ``tplus_capacity_floor`` = :data:`ZHANG_TPLUS_FLOOR` cells, so
    uninterrupted abiraterone can be simulated for years (the published equations become singular
    after about a year on drug). The floor changes the times to progression by less than one PSA
    check (measured: the same medians with floors of 1, 10 and 100 cells; docs/cohorts.md).

    Returns
    -------
    Model
    """
    from ..models import zhang2017

    return zhang2017(tplus_capacity_floor=ZHANG_TPLUS_FLOOR)


def _zhang_arms(t_end: float) -> dict[str, Any]:
    from ..dosing import AdaptiveRule, Regimen, Schedule

    # the pilot trial's rule: stop when PSA is below 50% of its pre-treatment value, resume at that value
    return {"continuous": Schedule.infusion("abiraterone", 1.0, 0.0, t_end),
            "adaptive": Regimen(rules=(AdaptiveRule("abiraterone", on=1.0, observable="PSA",
                                                    pause_below=0.5, resume_at=1.0),))}


class PSATrialResult:
    """A virtual trial of PSA-guided therapy read at PSA checks (the Zhang et al. 2017 trial).

    Built by :func:`virtual_trial` (``trial="zhang2017"``); :func:`population_statistics` reads it
    like a :class:`~tumordyn.CohortResult`.

    Attributes
    ----------
    cohort : Cohort
        The patients.
    regimens : tuple of str
        The arms (``"continuous"``, ``"adaptive"``).
    t_end : float
        Horizon (days).
    scan_times : numpy.ndarray
        The PSA checks (days).
    n_failed : int
        Patient-arm solves that failed (their readouts are NaN).

    Notes
    -----
    Readouts per arm (:meth:`readouts`), NaN for a patient not evaluable (a failed solve, or no 50 %
    PSA decline within 90 days of continuous abiraterone: the pilot trial enrolled only patients with
    a > 50 % decline):

    * ``time_to_progression_scan`` (days): the first PSA check at which the androgen-independent T−
      cells outnumber T+ and TP together (the model's resistant takeover; ``inf``: not within the
      horizon). The trial's end point was radiographic progression; in the model it is this
      evolution of resistance (Zhang et al. 2017, Fig. 1).
    * ``time_to_progression`` (days): the same takeover time located between output points by
      linear interpolation (:func:`tumordyn.readouts.resistant_takeover_time`).
    * ``dose_fraction`` (0–1): the fraction of the time on trial (to progression or the horizon)
      spent on abiraterone, i.e. the cumulative dose relative to continuous dosing over the same time.
    * ``eligible`` (bool) and ``final_resistant_fraction`` (T− / all cells at the horizon).
    """

    def __init__(self, cohort: Cohort, regimens: tuple[str, ...], t_end: float, scan_times: np.ndarray,
                 readouts: Mapping[str, Mapping[str, np.ndarray]], n_failed: int) -> None:
        self.cohort = cohort
        self.regimens = regimens
        self.t_end = float(t_end)
        self.scan_times = scan_times
        self._readouts = readouts
        self.n_failed = int(n_failed)

    def __repr__(self) -> str:
        return f"PSATrialResult(n={self.cohort.n}, regimens={list(self.regimens)}, failed={self.n_failed})"

    def readouts(self, regimen: str | None = None) -> dict[str, np.ndarray]:
        """Per-patient readouts of one arm (read-only arrays; see the class notes)."""
        if regimen is None:
            if len(self.regimens) != 1:
                raise SpecificationError(f"several arms: name one of {list(self.regimens)}")
            regimen = self.regimens[0]
        if regimen not in self._readouts:
            raise UnknownNameError("regimen", regimen, list(self.regimens), "PSATrialResult.readouts")
        return dict(self._readouts[regimen])

    def kaplan_meier(self, regimen: str | None = None, *, confidence: float = 0.95) -> dict[str, Any]:
        """Kaplan–Meier estimates of the time to progression (at the PSA checks), per arm.

        As :meth:`tumordyn.CohortResult.kaplan_meier`: censored at the horizon, patients not
        evaluable left out.

        Parameters
        ----------
        regimen : str, optional
            One arm (default: both).
        confidence : float, optional
            Level of the bands and of the median's interval.

        Returns
        -------
        dict of str to KaplanMeier
        """
        from ._cohort import kaplan_meier

        out = {}
        for name in self.regimens if regimen is None else (regimen,):
            ttp = self.readouts(name)["time_to_progression_scan"]
            ok = ~np.isnan(ttp)
            out[name] = kaplan_meier(np.where(np.isfinite(ttp[ok]), ttp[ok], self.t_end), np.isfinite(ttp[ok]),
                                     confidence=confidence)
        return out


def _simulate_psa_trial(cohort: Cohort, t_end: float = ZHANG_HORIZON, *, progress: bool | None = False
                        ) -> PSATrialResult:
    """Both arms of the Zhang 2017 virtual trial for every patient of ``cohort`` (one batched solve per arm)."""
    import threading

    from ..dosing import DosingPlan, RulePlan, Schedule
    from ..errors import SolverStatus
    from ..numerics import compile_model
    from ..solve import Problem, Solver, solve

    model = cohort.model
    c = compile_model(model)
    checks = np.arange(0.0, t_end + 1e-9, ZHANG_CHECK_INTERVAL)
    grid = np.union1d(np.arange(0.0, t_end + 1e-9, 7.0), checks)
    P = np.ascontiguousarray(cohort.param_matrix.T)
    Y0 = np.ascontiguousarray(cohort.initial_matrix.T)
    opts = Solver(method="auto").options(c)
    parallel = threading.current_thread() is threading.main_thread()
    i_plus, i_p, i_neg, i_psa = (c.state_names.index(k) for k in ("Tplus", "TP", "Tneg", "PSA"))
    out: dict[str, dict[str, np.ndarray]] = {}
    n_failed = 0
    eligible = None
    on_checks = np.isin(grid, checks)
    with progress_bar(progress, total=2, desc="virtual trial zhang2017", unit="arm") as bar:
        for name, reg in _zhang_arms(t_end).items():
            if isinstance(reg, Schedule):
                problem = Problem(c, DosingPlan.build(c.drug_names, reg, 0.0, t_end), P, Y0, grid)
            else:
                rp = RulePlan.build(c, reg, 0.0, t_end)
                problem = Problem(c, rp.dosing, P, Y0, grid, rp)
            sol = solve(problem, opts, parallel=parallel)
            bar.update(1)
            failed = np.asarray(sol.status) != int(SolverStatus.OK)
            n_failed += int(failed.sum())
            y = np.asarray(sol.y)  # (B, k, n_states)
            sens = y[:, :, i_plus] + y[:, :, i_p]
            res = y[:, :, i_neg]
            if name == "continuous":  # enrolment: a > 50% PSA decline on abiraterone (within 90 days)
                early = grid <= 90.0
                eligible = ~failed & (np.nanmin(y[:, early, i_psa], axis=1) < 0.5 * Y0[:, i_psa])
            over = res >= sens
            at_checks = over[:, on_checks]
            ttp_scan = np.where(at_checks.any(axis=1), checks[np.argmax(at_checks, axis=1)], np.inf)
            d = res - sens
            k = np.argmax(over, axis=1)
            ttp = np.full(y.shape[0], np.inf)
            hit = over.any(axis=1)
            for j in np.flatnonzero(hit).tolist():  # linear interpolation of R - S between output points
                kk = int(k[j])
                ttp[j] = grid[0] if kk == 0 else grid[kk - 1] + (grid[kk] - grid[kk - 1]) * (
                    -d[j, kk - 1] / (d[j, kk] - d[j, kk - 1]))
            stop = np.minimum(ttp, t_end)
            if sol.rules is not None:  # exact time on drug from the rule's switch times (one rule: on at t = 0)
                log = sol.rules
                on_time = np.array([_time_on(log.event_t[j, :int(log.n_events[j])],
                                             log.event_code[j, :int(log.n_events[j])], float(stop[j]))
                                    for j in range(y.shape[0])])
            else:
                on_time = stop.copy()
            dose_fraction = np.where(stop > 0, on_time / np.maximum(stop, 1e-300), 1.0)
            tot = np.maximum(sens[:, -1] + res[:, -1], 1e-300)
            out[name] = {"time_to_progression_scan": ttp_scan, "time_to_progression": ttp,
                         "dose_fraction": np.clip(dose_fraction, 0.0, 1.0), "final_resistant_fraction": res[:, -1] / tot,
                         "failed": failed}
    assert eligible is not None
    for name, ro in out.items():
        bad = ro.pop("failed") | ~eligible
        for key in ("time_to_progression_scan", "time_to_progression", "dose_fraction", "final_resistant_fraction"):
            ro[key] = np.where(bad, np.nan, ro[key])
        ro["eligible"] = eligible.copy()
        for a in ro.values():
            a.flags.writeable = False
    return PSATrialResult(cohort, tuple(out), t_end, checks, out, n_failed)


def _time_on(event_t: np.ndarray, event_code: np.ndarray, stop: float) -> float:
    """Days on drug in ``[0, stop]`` of one rule that starts on and switches at ``event_t`` (code % 2: 1 resume)."""
    on, last, total = True, 0.0, 0.0
    for t, code in zip(event_t.tolist(), event_code.tolist()):
        if t >= stop:
            break
        if on:
            total += t - last
        on, last = bool(int(code) % 2), t
    if on:
        total += stop - last
    return total


def _zhang_recipe() -> dict[str, Any]:
    return {"Tneg": _loguniform(10.0, 3000.0), "r_Tneg": _loguniform(0.003, 0.01), "K_TP_on": _loguniform(300.0, 2000.0)}





#: Built-in calibrated virtual populations (seeded recipes: plausible ranges on the default
#: ``tumor_immune_tme`` model, or on :func:`zhang_trial_model` for ``"zhang2017"``, the trial's arms,
#: and the targets of :func:`trial_targets`).
TRIAL_POPULATIONS: tuple[str, ...] = ("untreated", "keynote006", "flaura", "zhang2017")


def trial_population(
    trial: str,
    *,
    n_select: int | None = None,
    n_plausible: int | None = None,
    max_rounds: int = 6,
    seed: int = 2016,
    model: Model | None = None,
    progress: bool | None = None,
) -> VirtualPopulation:
    """A built-in virtual population calibrated to a published trial (see :func:`trial_targets`).

    Runs :func:`calibrate_population` with the shipped recipe: plausible (log-uniform) ranges of the
    patient parameters of the default :func:`tumordyn.models.tumor_immune_tme`, the trial's arm
    (:func:`tumordyn.regimens.standard_regimens`), scans every :data:`TRIAL_SCAN_INTERVAL` days over
    :data:`TRIAL_HORIZON` days, and the trial's published targets. Same seed, same population.

    ``"zhang2017"`` (continuous against adaptive abiraterone) uses :func:`zhang_trial_model`: plausible
    ranges of the initial T− cells (10–3,000), T−'s growth rate (0.003–0.01 /day) and TP's on-drug
    carrying capacity ``K_TP_on`` (300–2,000 cells; published 100), both arms simulated over :data:`ZHANG_HORIZON`
    days with PSA checks every :data:`ZHANG_CHECK_INTERVAL` days (:class:`PSATrialResult`). The
    selection targets only the continuous arm's median time to progression (16.5 months); the adaptive
    arm's median (at least 27 months, a one-sided figure) and its drug use (< 50 %) are outcomes,
    reported in ``achieved`` (``calibrated`` False) and checked by the tests.

    Parameters
    ----------
    trial : str
        One of :data:`TRIAL_POPULATIONS`: ``"untreated"`` (control arms, median PFS 2–4 months),
        ``"keynote006"`` (anti-PD-1, pembrolizumab-like), ``"flaura"`` (first-generation EGFR-TKI-like
        targeted therapy), ``"zhang2017"`` (adaptive against continuous abiraterone).
    n_select, n_plausible : int, optional
        As for :func:`calibrate_population`; default 1,000 selected of rounds of 4,000 plausible
        patients (``"zhang2017"``, whose adaptive arm is slower to simulate: 500 of rounds of 1,500).
    max_rounds, seed, progress
        As for :func:`calibrate_population`.
    model : Model, optional
        Default: ``tumordyn.models.tumor_immune_tme()`` (:func:`zhang_trial_model` for ``"zhang2017"``).

    Returns
    -------
    VirtualPopulation
        Simulate a virtual trial with :func:`virtual_trial` (or ``population.cohort(n)``).
    """
    from ..models import tumor_immune_tme
    from ..readouts import ScanPlan

    if trial == "zhang2017":
        n_select = 500 if n_select is None else n_select
        n_plausible = 1500 if n_plausible is None else n_plausible
        model = zhang_trial_model() if model is None else model
        for nm, v in (("n_select", n_select), ("n_plausible", n_plausible), ("max_rounds", max_rounds)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise SpecificationError(f"`{nm}` must be a positive integer, got {v!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise SpecificationError(f"`seed` must be a non-negative integer, got {seed!r}")
        every = trial_target_statistics(trial)
        calibrated = tuple(tg for tg in every if not (tg.regimen == "adaptive"))
        checks = tuple(tg for tg in every if tg not in calibrated)
        return _select(model, _zhang_recipe(), lambda cohort: _simulate_psa_trial(cohort),
                       ("continuous", "adaptive"), calibrated, checks=checks, n_select=n_select,
                       n_plausible=n_plausible, max_rounds=max_rounds, seed=int(seed), correlation=None,
                       median_margin=0.03, min_effective_size=30.0, tol=1e-4, progress=progress)
    n_select = 1000 if n_select is None else n_select
    n_plausible = 4000 if n_plausible is None else n_plausible
    if model is None:  # KEYNOTE-006: late relapses need the immune-escape subclone (acquired resistance)
        model = tumor_immune_tme(immune_escape=trial == "keynote006")
    plausible, arms, margin = _trial_recipe(trial, model)
    return calibrate_population(model, plausible, arms, trial_target_statistics(trial), n_select=n_select,
                                n_plausible=n_plausible, max_rounds=max_rounds, seed=seed, t_end=TRIAL_HORIZON,
                                median_margin=margin, progress=progress, scans=ScanPlan(interval=TRIAL_SCAN_INTERVAL))


def virtual_trial(population: VirtualPopulation, trial: str, *, n: int = 1000, seed: int = 1,
                  progress: bool | None = None) -> CohortResult | PSATrialResult:
    """Run a virtual trial of ``n`` patients drawn from a built-in trial population.

    Parameters
    ----------
    population : VirtualPopulation
        From :func:`trial_population`.
    trial : str
        The trial it was calibrated to (chooses the arm(s)).
    n : int, optional
        Patients (default 1,000), drawn with replacement from the selected ones.
    seed : int, optional
        Seed of the draw.
    progress : bool, optional
        Progress bar of the simulation.

    Returns
    -------
    CohortResult or PSATrialResult
        Scans every :data:`TRIAL_SCAN_INTERVAL` days over :data:`TRIAL_HORIZON` days; for
        ``"zhang2017"`` a :class:`PSATrialResult` (both arms, PSA checks every
        :data:`ZHANG_CHECK_INTERVAL` days over :data:`ZHANG_HORIZON` days).
    """
    from ..readouts import ScanPlan

    if trial == "zhang2017":
        return _simulate_psa_trial(population.cohort(n, seed=seed), progress=progress)
    _, arms, _ = _trial_recipe(trial, population.model)
    return population.cohort(n, seed=seed).simulate(arms, t_end=TRIAL_HORIZON, progress=progress,
                                                     scans=ScanPlan(interval=TRIAL_SCAN_INTERVAL))
