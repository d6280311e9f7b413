"""Virtual patient cohorts: sampled parameters, batched simulation, cohort readouts.

Data flow
---------
1. :class:`Cohort` samples every patient's parameters (and optionally initial
   states) once, in the parent process, from seeded distributions
   (:mod:`tumordyn.cohorts._distributions`): the same seed gives the same patients.
2. :meth:`Cohort.simulate` splits the patients into chunks; each chunk is one
   batched solve per regimen (many patients per right-hand-side call, with
   per-patient step-size control: :mod:`tumordyn.solve._batch`), run in the calling
   process, on any :class:`concurrent.futures.Executor` (a process pool) or on a
   Dask cluster (``client.map``, one batched submission). Chunk results are put back
   in patient order, so the numbers do not depend on the executor.
3. Each chunk reduces its trajectories to per-patient readouts (RECIST 1.1 on the
   measured lesion diameter at scan times, best overall response, time to
   progression on scans and on the continuous output grid, best percent change,
   duration of response); full trajectories are kept only when asked.
4. :class:`CohortResult` gathers the readouts: response rates, Kaplan–Meier
   estimates of time to progression, sensitivity of the outcome to the sampled
   parameters (partial rank correlation), and the clinical plots (waterfall,
   Kaplan–Meier, spider, swimmer).

The readouts are computed on the batch arrays by the array functions of
:mod:`tumordyn.readouts._recist`, the same ones :mod:`tumordyn.readouts` calls for one
:class:`~tumordyn.Trajectory` (and :func:`tumordyn.compare` through it): the
test-suite checks that a patient gets the same numbers from all three.
"""

from __future__ import annotations

import functools
import math
import os
import signal
import threading
import time as _time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable

import warnings

import numpy as np

from ..dosing import DosingPlan, RulePlan, check_schedule
from ..solve import solve
from ..solve import BATCH_METHOD, COMPILED_METHOD, Problem, Solver, SolverOptions
from ._distributions import (
    SAMPLING_METHODS,
    Distribution,
    DistributionLike,
    as_distribution,
    correlation_matrix,
    sample,
)
from ..readouts import (
    DETECTION_LIMIT,
    RECIST_CATEGORIES,
    TOO_SMALL,
    Lesion,
    best_percent_change_continuous,
    irecist_one,
    lesions_time_to_progression_continuous,
    recist_arrays,
    resolve_lesions,
    time_to_progression_continuous,
    values_at,
)
from ..dosing import Schedule
from .._validate import renamed_keyword
from .._progress import DoneCounter, polled, progress_bar, show_progress
from ..errors import NegativeStateError, SolverError, SpecificationError, UnknownNameError
from ..numerics import compile_model
from ..trajectory import UNIT_COVARIATES, dose_scaling

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..spec import Model
    from ..trajectory import Trajectory

__all__ = [
    "Cohort",
    "CohortInterrupted",
    "CohortResult",
    "KaplanMeier",
    "kaplan_meier",
    "partial_rank_correlation",
    "COHORT_METHODS",
]

#: Integration methods of :meth:`Cohort.simulate` (the :class:`~tumordyn.Solver` names): ``"batch"``
#: (numpy-vectorised Dormand–Prince over the chunk), ``"dopri5"`` (the compiled Dormand–Prince loop,
#: numba), ``"auto"`` (dopri5 when numba is installed, else batch). ``"numba"``, the former name of
#: ``"dopri5"``, is accepted until 0.3 with a DeprecationWarning.
COHORT_METHODS = ("auto", "batch", "dopri5")

#: RECIST categories, best first; ``"NE"``: not evaluable (baseline lesion not
#: measurable, or the patient's solve failed).
RESPONSE_CATEGORIES = RECIST_CATEGORIES + ("NE",)


# --------------------------------------------------------------------------- chunk worker


@dataclass(frozen=True)
class _ReadoutOptions:
    lesions: tuple[Lesion, ...]  # the measured lesion(s), resolved from `measure`
    scan_times: np.ndarray
    detection_limit: float
    too_small: float
    response: float
    increase: float
    min_increase: float
    min_measurable: float


@dataclass(frozen=True)
class _SolverConfig:
    options: SolverOptions  # what the solve layer reads (method: the engine)
    fallback: bool  # retry failed patients with LSODA
    parallel: bool = False  # spread each batched compiled solve over numba's threads (prange over patients)


@dataclass(frozen=True)
class _Task:
    model: Model
    regimens: tuple[tuple[str, Any], ...]
    patients: np.ndarray
    params: np.ndarray  # (n_params, b)
    y0: np.ndarray  # (n_states, b)
    t_end: float
    run_in: float
    grid: np.ndarray
    readout: _ReadoutOptions
    solver: _SolverConfig
    keep_trajectories: bool
    shared: np.ndarray  # (n_params,) parameters equal for the whole cohort (passed as scalars)
    origin_pid: int = 0  # the process that submitted the chunk (a worker orphaned by its death stops)
    covariates: tuple[tuple[str, np.ndarray], ...] = ()  # each covariate's values, shape (b,)


@dataclass
class _ChunkOut:
    patients: np.ndarray
    baseline_states: np.ndarray  # (n_states, b)
    baseline_observables: np.ndarray  # (n_obs, b)
    readouts: dict[str, dict[str, np.ndarray]]
    trajectories: dict[str, np.ndarray]
    failures: list[tuple[int, str, float, str]]
    nfev: int
    n_fallback: int
    wall_time: float


def _solve(task: _Task, schedule: Any, P: np.ndarray, Y0: np.ndarray, grid: np.ndarray, t_end: float,
           scale: np.ndarray | None = None, done: np.ndarray | None = None,
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], int, np.ndarray | None]:
    """Batched solve with the chosen engine: states (n, k, b), t_reached, failed, messages, nfev, rates.

    ``schedule`` is a Schedule or a Regimen with adaptive rules (then one batched solve on the compiled
    engine, each patient switching its rules in the kernel, and ``rates`` is each patient's infusion rates
    at the output times, shape ``(n_drugs, k, b)``; ``None`` for a schedule). ``scale``: each patient's
    factor of each drug's doses, shape ``(b, n_drugs)`` (covariate-based dosing). ``done``: per-patient
    done-flags the engine sets as patients finish (progress).
    """
    compiled = compile_model(task.model)
    opts = task.solver.options
    if isinstance(schedule, Schedule):
        plan = DosingPlan.build(compiled.drug_names, schedule, 0.0, t_end)
        problem = Problem(compiled, plan, P.T, Y0.T, grid, None, scale)
    else:
        rules = RulePlan.build(compiled, schedule, 0.0, t_end)
        problem = Problem(compiled, rules.dosing, P.T, Y0.T, grid, rules, scale)
    sol = solve(problem, opts, parallel=task.solver.parallel, done=done)
    failed = ~sol.ok
    messages = [str(sol.error(j, compiled)) if failed[j] else "" for j in range(P.shape[1])]
    y = np.transpose(sol.y, (2, 1, 0))  # a view (n, k, b): a contiguous copy costs ~10% of a cohort's CPU
    rates = None if sol.rules is None else np.ascontiguousarray(np.transpose(sol.rules.u, (2, 1, 0)))
    return y, np.array(sol.t_reached), failed, messages, int(sol.nfev.sum()), rates


#: The solve-layer engine of each cohort method.
_ENGINE = {COMPILED_METHOD: COMPILED_METHOD, BATCH_METHOD: BATCH_METHOD}
#: With a progress bar shown (and no chunk_size given): about this many chunks, each of at least _MIN_BAR_CHUNK
#: patients (smaller chunks cost the compiled engine its parallel efficiency; see the docs page Cohorts).
_BAR_STEPS = 16
_MIN_BAR_CHUNK = 128
#: In this process the bar counts patients as the kernels finish them, read every this many seconds.
_POLL_SECONDS = 0.1


#: The models this process has compiled, by structure (``Model`` equality and hash are structural): a
#: worker process receives a fresh unpickled copy of the model with every chunk, and ``compile_model``
#: caches on the instance, so without this each chunk would generate the model's code again.
_WORKER_MODELS: dict[Model, Model] = {}
_WORKER_MODELS_MAX = 8
_WORKER_LOCK = threading.Lock()


def worker_model(model: Model) -> Model:
    """This process's one instance of ``model``'s structure, compiled once and reused by every later chunk.

    Process-pool and Dask workers call it for each chunk; the first chunk of a worker compiles the model
    (code generation; numba's compiled kernel is cached on disk), later chunks reuse it.
    """
    with _WORKER_LOCK:
        own = _WORKER_MODELS.get(model)
        if own is None:
            if len(_WORKER_MODELS) >= _WORKER_MODELS_MAX:
                _WORKER_MODELS.pop(next(iter(_WORKER_MODELS)))
            own = _WORKER_MODELS[model] = model
    compile_model(own)
    return own


def _init_worker(model: Model) -> None:
    """Initializer of a process pool made by the library: compile ``model`` once in the new worker."""
    worker_model(model)


def _patient_covariates(covariates: Mapping[str, np.ndarray], j: int) -> dict[str, float]:
    return {k: float(v[j]) for k, v in covariates.items()}


def _run_chunk(task: _Task, counter: DoneCounter | None = None) -> _ChunkOut:
    """Simulate one chunk of patients under every regimen and reduce to readouts (runs in a worker).

    ``counter`` (in this process only): each patient's solve of each regimen marks a done-flag in it as it
    finishes (the compiled kernel marks them while it runs), for the per-patient progress bar.
    """
    from ..trajectory import simulate

    started = _time.perf_counter()
    if _origin_gone(task.origin_pid):  # the parent died: nobody reads this chunk (no orphan computing on)
        os._exit(1)
    model = worker_model(task.model)
    if model is not task.model:
        task = replace(task, model=model)
    compiled = compile_model(model)
    b = task.patients.size
    P, Y0 = task.params, task.y0
    failures: list[tuple[int, str, float, str]] = []
    nfev = 0
    n_fallback = 0
    dead = np.zeros(b, dtype=bool)
    if task.run_in > 0:
        y_run, t_r, f_r, msg_r, nf, _ = _solve(task, Schedule(), P, Y0, np.array([0.0, task.run_in]), task.run_in)
        nfev += nf
        Y0 = np.where(f_r[None, :], Y0, y_run[:, -1, :])
        for j in np.flatnonzero(f_r).tolist():
            dead[j] = True
            failures.append((int(task.patients[j]), "(run-in)", float(t_r[j]), msg_r[j]))
    p_rows = [float(r[0]) if sh else r for r, sh in zip(P, task.shared)]
    zeros_u = np.zeros(compiled.n_drugs)
    base_obs = np.asarray(compiled.observe(0.0, Y0, p_rows, zeros_u), dtype=float).reshape(-1, b)
    readouts: dict[str, dict[str, np.ndarray]] = {}
    trajectories: dict[str, np.ndarray] = {}
    grid = task.grid
    covs = dict(task.covariates)
    for name, regimen in task.regimens:
        if _origin_gone(task.origin_pid):
            os._exit(1)
        done = counter.flags(b) if counter is not None else np.zeros(b, dtype=np.int64)
        rates = None  # per-patient infusion rates (n_drugs, k, b) where rules make them differ
        base, scale = dose_scaling(model, regimen, covs, b)  # covariate-based doses: a factor per patient
        if base is not None and (isinstance(base, Schedule) or task.solver.options.method == COMPILED_METHOD):
            # a schedule, or a Regimen with adaptive rules on the compiled engine: one batched solve
            y, t_reached, failed, messages, nf, rates = _solve(task, base, P, Y0, grid, task.t_end, scale, done)
            nfev += nf
        else:
            # a Regimen with adaptive rules under method="batch", or a drug dosed on mixed bases (per kg and
            # per m²): patient by patient through td.simulate, each with its own covariates
            y = np.full((compiled.n_states, grid.size, b), np.nan)
            rates = np.full((compiled.n_drugs, grid.size, b), np.nan)
            t_reached = np.full(b, task.t_end)
            failed = np.zeros(b, dtype=bool)
            messages = [""] * b
            for j in range(b):
                if dead[j]:
                    done[j] = 1
                    continue
                try:
                    tr = simulate(model, regimen, t_end=task.t_end, t_eval=grid,
                                  params=dict(zip(compiled.param_names, P[:, j])),
                                  initial=dict(zip(compiled.state_names, Y0[:, j])), rtol=task.solver.options.rtol,
                                  covariates=_patient_covariates(covs, j) if covs else None)
                    y[:, :, j] = tr.y.T
                    rates[:, :, j] = tr.u.T
                    nfev += tr.stats.nfev
                except (SolverError, NegativeStateError) as err:
                    failed[j] = True
                    t_reached[j] = float(getattr(err, "t", math.nan) or math.nan)
                    messages[j] = str(err)
                done[j] = 1
        failed = failed | dead
        if task.solver.fallback and np.any(failed & ~dead):
            # the explicit batched method failed (typically a stiff patient): retry with LSODA through td.simulate
            for j in np.flatnonzero(failed & ~dead).tolist():
                try:
                    tr = simulate(model, regimen, t_end=task.t_end, t_eval=grid, method="LSODA",
                                  params=dict(zip(compiled.param_names, P[:, j])),
                                  initial=dict(zip(compiled.state_names, Y0[:, j])), rtol=task.solver.options.rtol,
                                  covariates=_patient_covariates(covs, j) if covs else None)
                except (SolverError, NegativeStateError) as err:
                    messages[j] = f"{messages[j]}; LSODA fallback also failed: {err}"
                    continue
                y = np.array(y, copy=True) if not y.flags.writeable else y
                y[:, :, j] = tr.y.T
                if rates is not None:
                    rates[:, :, j] = tr.u.T
                failed[j] = False
                n_fallback += 1
                nfev += tr.stats.nfev
        for j in np.flatnonzero(failed & ~dead).tolist():
            failures.append((int(task.patients[j]), name, float(t_reached[j]), messages[j]))
        done[:] = 1
        if counter is not None:
            counter.retire(done)
        fixed = base if base is not None else regimen.resolved(model, UNIT_COVARIATES)
        sched = fixed if isinstance(fixed, Schedule) else fixed.schedule
        u = DosingPlan.build(compiled.drug_names, sched, 0.0, task.t_end).rates_at(grid).T
        if scale is not None:  # each patient's own rates (n_drugs, k, b)
            u = u[:, :, None] * scale.T[:, None, :]
        if rates is not None:  # the rates each patient actually received (its u[:, -1] is (n_drugs, b))
            u = np.where(np.isnan(rates), u if u.ndim == 3 else u[:, :, None], rates)
        readouts[name] = _readouts(model, grid, y, p_rows, u, failed, task.readout, task.t_end)
        if task.keep_trajectories:
            trajectories[name] = np.array(y, dtype=float)
    return _ChunkOut(task.patients, Y0, base_obs, readouts, trajectories, failures, nfev, n_fallback,
                     _time.perf_counter() - started)


@functools.lru_cache(maxsize=16)
def _observables_fn(model: Model, names: tuple[str, ...]) -> tuple[tuple[int, ...], tuple[int, ...], Callable[..., Any]]:
    """numpy function of the states and parameters it needs, giving only the requested states/observables.

    Cheaper than ``compiled.observe`` (which computes every observable) on a whole
    output grid. Returns (state indices, parameter indices, function). Cached per
    (immutable, hashable) model and names.
    """
    import sympy as sp

    obs = model.observable_expressions()
    exprs = [obs[nm] if nm in obs else model.states[nm].symbol for nm in names]
    free = set().union(*(e.free_symbols for e in exprs))
    si = tuple(i for i, st in enumerate(model.states) if st.symbol in free)
    pi = tuple(i for i, p in enumerate(model.parameters) if p.symbol in free)
    args = [model.states[i].symbol for i in si] + [model.parameters[i].symbol for i in pi]
    return si, pi, sp.lambdify(args, exprs, "numpy", cse=True)


def _series_many(model: Model, y: np.ndarray, p_rows: list[Any], names: tuple[str, ...]) -> list[np.ndarray]:
    """States or observables on the grid, shape (k, b) each, as a :class:`~tumordyn.Trajectory` reads them.

    Observables read the non-negative states clipped at zero (as ``compiled.observe``
    does); a state asked for by name is its solved value (as ``traj[name]``).
    """
    nonneg = compile_model(model).nonnegative
    si, pi, fn = _observables_fn(model, names)
    ys = [np.maximum(y[i], 0.0) if nonneg[i] else y[i] for i in si]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        out = fn(*ys, *[p_rows[i] for i in pi])
    states = compile_model(model).state_names
    return [np.asarray(y[states.index(nm)], dtype=float) if nm in states
            else np.broadcast_to(np.asarray(v, dtype=float), y.shape[1:]) for nm, v in zip(names, out)]


def _readouts(model: Model, grid: np.ndarray, y: np.ndarray, p_rows: list[Any], u: np.ndarray,
              failed: np.ndarray, opt: _ReadoutOptions, t_end: float) -> dict[str, np.ndarray]:
    """Per-patient readouts of a chunk: the batched reduction through :mod:`tumordyn.readouts._recist`.

    The same array functions compute :func:`tumordyn.readouts.recist`,
    :func:`~tumordyn.readouts.best_percent_change`,
    :func:`~tumordyn.readouts.time_to_progression` and
    :func:`~tumordyn.readouts.duration_of_response` for one trajectory, so a patient
    gets the same numbers here, from a Trajectory and from :func:`tumordyn.compare`.
    """
    compiled = compile_model(model)
    b = y.shape[2]
    has_burden = "tumor_burden" in compiled.observable_names
    lesions = opt.lesions
    cell_names = tuple(x.cells for x in lesions if x.cells is not None)
    wanted = tuple(x.diameter for x in lesions) + cell_names + (("tumor_burden",) if has_burden else ())
    series = _series_many(model, y, p_rows, wanted)
    L = len(lesions)
    D = np.stack(series[:L], axis=1)  # (k, L, b)
    cells_by_name = dict(zip(cell_names, series[L:L + len(cell_names)]))
    C = None if not cell_names else np.stack(
        [cells_by_name[x.cells] if x.cells is not None else np.full(D.shape[::2], np.nan) for x in lesions], axis=1)
    ts = opt.scan_times
    organs = tuple(str(x.organ) for x in lesions)

    def at_scans(a: np.ndarray, times: np.ndarray) -> np.ndarray:  # (k, L, b) -> (s, L, b)
        return np.stack([values_at(grid, a[:, i, :], times) for i in range(a.shape[1])], axis=1)

    thresholds = dict(detection_limit=opt.detection_limit, too_small=opt.too_small, response=opt.response,
                      increase=opt.increase, min_increase=opt.min_increase, min_measurable=opt.min_measurable)
    rec = recist_arrays(ts, at_scans(D, ts), cells=None if C is None else at_scans(C, ts), organs=organs,
                        t_end=t_end, **thresholds)
    if L == 1:
        ttp = time_to_progression_continuous(grid, D[:, 0, :], increase=opt.increase, min_increase=opt.min_increase)
    else:
        ttp = lesions_time_to_progression_continuous(grid, D, C, rec.lesions.target, rec.lesions.present0,
                                                     detection_limit=opt.detection_limit, increase=opt.increase,
                                                     min_increase=opt.min_increase)
    measurable = rec.lesions.measurable
    # the waterfall/spider values of a patient without a measurable lesion: the sum over every lesion seen at
    # baseline (as tumordyn.readouts.best_percent_change with scans, which needs no measurable lesion)
    shown = rec
    if not measurable.all():
        any_size = recist_arrays(ts, at_scans(D, ts), cells=None if C is None else at_scans(C, ts), organs=organs,
                                 t_end=t_end, **{**thresholds, "min_measurable": 0.0})
        shown = replace(rec, **{f: np.where(measurable, getattr(rec, f), getattr(any_size, f))
                                for f in ("best_percent_change", "diameter", "change_from_baseline")})
    bad = failed | ~np.isfinite(shown.diameter[0])
    # iRECIST, patient by patient (a confirmation scan may be added between the planned ones)
    i_best = np.full(b, "NE", dtype=object)
    i_ttp = np.full(b, np.nan)
    pseudo = np.zeros(b, dtype=bool)
    ok = ~bad & measurable
    # without a PD scan there is no iUPD, and iRECIST reads as RECIST 1.1 (Seymour et al. 2017)
    no_pd = ok & np.isinf(rec.time_to_progression)
    i_best[no_pd] = np.array(["i" + c for c in RECIST_CATEGORIES], dtype=object)[rec.best[no_pd]]
    i_ttp[no_pd] = np.inf
    for j in np.flatnonzero(ok & ~no_pd):
        def values(times: np.ndarray, j: int = j) -> tuple[np.ndarray, np.ndarray | None]:
            Dj = np.stack([values_at(grid, D[:, i, j], times)[:, 0] for i in range(L)], axis=1)
            Cj = None if C is None else np.stack([values_at(grid, C[:, i, j], times)[:, 0] for i in range(L)], axis=1)
            return Dj, Cj

        irec = irecist_one(ts, values, t_end=t_end, organs=organs, planned=(rec.lesions, int(j)), **thresholds)
        i_best[j], i_ttp[j], pseudo[j] = irec.best, irec.time_to_progression, irec.pseudoprogression
    category = np.array(RESPONSE_CATEGORIES, dtype=object)[np.where(bad | ~measurable, 4, rec.best)]
    out: dict[str, np.ndarray] = {
        "best_overall_response": category,
        "irecist_best_overall_response": i_best,
        "time_to_progression_irecist": i_ttp,
        "pseudoprogression": pseudo,
        "best_percent_change": np.where(bad, np.nan, shown.best_percent_change),
        "time_to_progression_scan": np.where(bad | ~measurable, np.nan, rec.time_to_progression),
        "time_to_progression": np.where(bad, np.nan, ttp),
        "time_to_response_scan": np.where(bad | ~measurable, np.nan, rec.time_to_response),
        "duration_of_response_scan": np.where(bad | ~measurable, np.nan, rec.duration_of_response),
        "baseline_diameter": np.where(bad, np.nan, shown.diameter[0]),
        "scan_percent_change": np.where(bad[None, :], np.nan, shown.change_from_baseline),  # (s, b)
    }
    final = y[:, -1, :]
    obs_final = np.asarray(compiled.observe(float(grid[-1]), final, p_rows, u[:, -1]), dtype=float).reshape(-1, b)
    for nm in ("tumor_burden", "resistant_fraction"):
        if nm in compiled.observable_names:
            out[f"final_{nm}"] = np.where(bad, np.nan, obs_final[compiled.observable_names.index(nm)])
    if has_burden:
        out["best_percent_change_burden"] = np.where(bad, np.nan, best_percent_change_continuous(series[1]))
    return out


# --------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class KaplanMeier:
    """Kaplan–Meier (product-limit) estimate of an event-time distribution.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per distinct event time: ``time`` (days), ``at_risk``, ``events``,
        ``censored`` (censored at that time), ``survival`` (the estimate just after
        ``time``), ``std_err`` (Greenwood), ``lower`` and ``upper`` (pointwise
        log–log confidence band).
    median : float
        Smallest time with survival ≤ 0.5 (days); ``inf`` if never reached.
    median_ci : tuple of float
        Confidence interval of the median from the band (Brookmeyer & Crowley
        1982): the first times where the upper and the lower band reach 0.5
        (``inf`` when they do not).
    n : int
        Number of subjects.
    n_events : int
        Number of events.
    confidence : float
        Level of the band (default 0.95).
    """

    table: pd.DataFrame
    median: float
    median_ci: tuple[float, float]
    n: int
    n_events: int
    confidence: float

    def survival_at(self, t: float | np.ndarray) -> np.ndarray:
        """Estimated probability of no event by time ``t`` (days), right-continuous step function."""
        times = self.table["time"].to_numpy()
        surv = self.table["survival"].to_numpy()
        idx = np.searchsorted(times, np.asarray(t, dtype=float), side="right") - 1
        return np.where(idx >= 0, surv[np.clip(idx, 0, None)], 1.0) if times.size else np.ones(np.shape(t))


def kaplan_meier(time: Any, event: Any, *, confidence: float = 0.95) -> KaplanMeier:
    r"""Kaplan–Meier estimate with Greenwood standard errors and a log–log band.

    :math:`\hat S(t) = \prod_{t_i \le t} (1 - d_i / n_i)` over the distinct event
    times :math:`t_i` with :math:`d_i` events among :math:`n_i` subjects at risk
    (subjects censored at :math:`t_i` count as at risk at :math:`t_i`). Greenwood:
    :math:`\widehat{Var}\,\hat S = \hat S^2 \sum d_i / (n_i (n_i - d_i))`. The band is
    :math:`\hat S^{\exp(\pm z\, s)}` with :math:`s^2 = \sum d_i/(n_i(n_i-d_i)) / (\log \hat S)^2`.

    Parameters
    ----------
    time : array_like
        Event or censoring time of each subject (days, >= 0, finite).
    event : array_like of bool
        True if the event (progression) was observed, False if censored.
    confidence : float, optional
        Level of the band, in (0, 1). Default 0.95.

    Returns
    -------
    KaplanMeier

    Raises
    ------
    SpecificationError
        For mismatched lengths, non-finite or negative times, or a bad level.
    """
    import pandas as pd
    from scipy import stats

    t = np.asarray(time, dtype=float).ravel()
    e = np.asarray(event, dtype=bool).ravel()
    if t.shape != e.shape:
        raise SpecificationError(f"kaplan_meier: `time` has {t.size} entries but `event` has {e.size}")
    if t.size == 0:
        raise SpecificationError("kaplan_meier: no subjects")
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise SpecificationError("kaplan_meier: times must be finite and >= 0 (censor at the horizon instead of inf)")
    if not 0 < confidence < 1:
        raise SpecificationError(f"kaplan_meier: `confidence` must be in (0, 1), got {confidence}")
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    n = t.size
    uniq, inv = np.unique(t, return_inverse=True)
    d = np.bincount(inv, weights=e.astype(float)).astype(np.int64)
    c = np.bincount(inv, weights=(~e).astype(float)).astype(np.int64)
    at_risk = n - np.concatenate([[0], np.cumsum(d + c)[:-1]])
    s = np.cumprod(1.0 - d / at_risk)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(d > 0, d / (at_risk * (at_risk - d).astype(float)), 0.0)  # inf when all at risk fail
        gsum = np.cumsum(terms)
        se = np.where(np.isfinite(gsum), s * np.sqrt(gsum), np.nan)
        inner = (s > 0) & (s < 1) & np.isfinite(gsum)
        sl = np.where(inner, np.sqrt(gsum) / np.abs(np.log(np.where(inner, s, 0.5))), 0.0)
        lo = np.where(inner, s ** np.exp(z * sl), s)
        hi = np.where(inner, s ** np.exp(-z * sl), s)
    tab = pd.DataFrame({"time": uniq, "at_risk": at_risk, "events": d, "censored": c, "survival": s,
                        "std_err": se, "lower": lo, "upper": hi})

    def first_below(col: str) -> float:
        hit = tab.index[tab[col] <= 0.5]
        return float(tab.loc[hit[0], "time"]) if len(hit) else math.inf

    return KaplanMeier(tab, first_below("survival"), (first_below("lower"), first_below("upper")), n, int(e.sum()),
                       confidence)


def partial_rank_correlation(X: Any, y: Any, names: Sequence[str] | None = None) -> pd.DataFrame:
    """Partial rank correlation coefficients (PRCC) of an outcome with each input.

    Inputs and outcome are rank-transformed; for input ``j`` the ranks of ``x_j``
    and of ``y`` are each regressed (least squares, with intercept) on the ranks
    of all other inputs, and the PRCC is the Pearson correlation of the two
    residuals (Marino et al. 2008, J Theor Biol 254:178). The p-value tests PRCC = 0
    with ``t = r sqrt((N − 2 − p) / (1 − r²))`` on ``N − 2 − p`` degrees of freedom,
    ``p`` the number of other inputs.

    Parameters
    ----------
    X : array_like, shape (N, k)
        Inputs (e.g. sampled parameters), one row per patient.
    y : array_like, shape (N,)
        Outcome (e.g. best percent change); rows with a non-finite outcome are dropped.
    names : sequence of str, optional
        Input names (default ``x0, x1, ...``).

    Returns
    -------
    pandas.DataFrame
        Index: input name; columns ``prcc`` (in [-1, 1]) and ``p_value``; sorted by
        ``|prcc|``, largest first.
    """
    import pandas as pd
    from scipy import stats

    X = np.asarray(X, dtype=float)
    yv = np.asarray(y, dtype=float)
    if X.ndim != 2 or yv.ndim != 1 or X.shape[0] != yv.size:
        raise SpecificationError(f"partial_rank_correlation: X must be (N, k) and y (N,); got {X.shape} and {yv.shape}")
    names = [f"x{j}" for j in range(X.shape[1])] if names is None else list(names)
    if len(names) != X.shape[1]:
        raise SpecificationError(f"partial_rank_correlation: {len(names)} names for {X.shape[1]} inputs")
    ok = np.isfinite(yv) & np.all(np.isfinite(X), axis=1)
    # +/- inf outcomes (no progression) rank last: keep them as the largest values
    ok |= np.isinf(yv) & np.all(np.isfinite(X), axis=1)
    X, yv = X[ok], yv[ok]
    N, k = X.shape
    R = np.column_stack([stats.rankdata(X[:, j]) for j in range(k)])
    ry = stats.rankdata(yv)
    rows = []
    for j in range(k):
        others = np.column_stack([np.ones(N), np.delete(R, j, axis=1)])
        bx = np.linalg.lstsq(others, R[:, j], rcond=None)[0]
        by = np.linalg.lstsq(others, ry, rcond=None)[0]
        rx, rr = R[:, j] - others @ bx, ry - others @ by
        den = math.sqrt(float(rx @ rx) * float(rr @ rr))
        r = float(rx @ rr) / den if den > 0 else math.nan
        df = N - 2 - (k - 1)
        if df > 0 and math.isfinite(r) and abs(r) < 1:
            tstat = r * math.sqrt(df / (1 - r * r))
            p = float(2 * stats.t.sf(abs(tstat), df))
        else:
            p = 0.0 if math.isfinite(r) and abs(r) >= 1 else math.nan
        rows.append((names[j], r, p))
    df_ = pd.DataFrame(rows, columns=["input", "prcc", "p_value"]).set_index("input")
    return df_.reindex(df_["prcc"].abs().sort_values(ascending=False).index)


# --------------------------------------------------------------------------- the cohort


def _positive_float(value: Any, name: str, *, allow_zero: bool = False) -> float:
    from .._validate import real_number

    return real_number(value, f"`{name}`", minimum=0.0, strict=not allow_zero)


def _check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an integer, got {type(value).__name__} {value!r}")
    if value < 1:
        raise SpecificationError(f"`{name}` must be >= 1, got {value}")
    return int(value)


def _covariate_spec(covariates: Any, compiled: Any) -> tuple[dict[str, Distribution], tuple[list[str], np.ndarray] | None]:
    """The covariates argument of :class:`Cohort`: distributions by name, or a table (names, values (m, k))."""
    if covariates is None:
        return {}, None
    taken = set(compiled.param_names) | set(compiled.state_names)

    def check_name(name: Any) -> str:
        if not isinstance(name, str) or not name:
            raise TypeError(f"covariate names must be non-empty strings, got {name!r}")
        if name in taken:
            raise SpecificationError(f"covariate {name!r} is a parameter or state of model {compiled.model_name!r}; "
                                     "give a parameter's or state's per-patient values in `distributions`")
        return name

    if hasattr(covariates, "columns") and hasattr(covariates, "to_numpy"):  # a pandas DataFrame
        names = [check_name(c) for c in covariates.columns]
        if not names or len(covariates) == 0:
            raise SpecificationError("`covariates`: the table has no columns or no rows")
        try:
            values = np.asarray(covariates.to_numpy(), dtype=float)
        except (TypeError, ValueError):
            raise SpecificationError("`covariates`: every column must be numeric (e.g. weight_kg in kg, "
                                     "bsa_m2 in m²)") from None
        return {}, (names, values)
    if isinstance(covariates, Mapping):
        return {check_name(k): as_distribution(d, k) for k, d in covariates.items()}, None
    raise TypeError("`covariates` must be a mapping of covariate name to distribution or a pandas DataFrame, "
                    f"got {type(covariates).__name__}")


def _check_covariates(values: Mapping[str, np.ndarray], n: int) -> None:
    """Covariates must be finite; those dose units read (weight_kg, bsa_m2) must be > 0."""
    from ..spec import COVARIATES

    for name, v in values.items():
        bad = ~np.isfinite(v) | ((v <= 0) if name in COVARIATES else False)
        if np.any(bad):
            j = int(np.argmax(bad))
            need = f"finite and > 0 ({COVARIATES[name]})" if name in COVARIATES else "finite"
            raise SpecificationError(f"{int(bad.sum())} of {n} values of covariate {name!r} are not {need} "
                                     f"(e.g. patient {j}: {v[j]!r})")


class Cohort:
    """A virtual patient cohort: a model and per-patient parameters sampled from distributions.

    Parameters
    ----------
    model : Model
        The model every patient shares.
    distributions : mapping of str to Distribution, float or object with ``ppf``
        Between-patient distributions by parameter name (e.g.
        ``{"r_S": td.cohorts.LogNormal(median=0.03, cv=0.3)}``); a number means a fixed
        value; any object with a quantile function ``ppf``, such as a frozen ``scipy.stats``
        distribution (``scipy.stats.gamma(a=4, scale=0.01)``), is sampled by its ``ppf`` from the
        cohort's own seeded uniforms (:class:`~tumordyn.cohorts.FromPPF`). A *state* name sets that
        state's initial value per patient (e.g. a distribution of baseline tumor size). Parameters
        not named keep the model's defaults. Draws outside a parameter's bounds, negative initial
        values of a non-negative state, or non-finite draws raise :class:`SpecificationError` naming it.
    n : int
        Number of patients (>= 1).
    seed : int, numpy.random.Generator, numpy.random.SeedSequence or None, optional
        Seed of the sampling. ``None`` draws a fresh seed; a Generator or SeedSequence gives one
        integer seed (drawn from it). The integer is recorded in :attr:`seed` so that the cohort
        can be rebuilt.
    sampling : {"sobol", "lhs", "random"}, optional
        Scrambled Sobol (default), Latin hypercube or pseudo-random points
        (``scipy.stats.qmc``).
    correlation : array_like or mapping, optional
        Correlations between the sampled quantities (Gaussian copula): a matrix in
        the order of ``distributions`` (then of ``covariates``, when they are distributions), or
        ``{("a", "b"): rho}`` (e.g. ``{("weight_kg", "bsa_m2"): 0.9}``). Must be positive
        semi-definite.
    covariates : mapping of str to Distribution, or pandas.DataFrame, optional
        Per-patient covariates, the quantities a regimen dosed per body weight or surface reads:
        ``weight_kg`` (body weight, kg) for doses in ``"mg/kg"``, ``bsa_m2`` (body-surface area, m²) for
        doses in ``"mg/m^2"`` (:data:`tumordyn.spec.COVARIATES`); other names are carried along as patient
        columns. Either distributions, like ``distributions`` (sampled jointly with the parameters from
        the same seed, so ``correlation`` may correlate them with each other or with parameters), or a
        DataFrame of real patients' covariates, one column per covariate: with ``n`` rows, row ``i`` is
        patient ``i``; otherwise ``n`` rows are drawn with replacement (seeded by ``seed``), keeping each
        real patient's covariates together. Each patient's doses are then that patient's own
        (:meth:`simulate`).

    Raises
    ------
    UnknownNameError
        For a name that is neither a parameter nor a state of the model.
    SpecificationError
        For ``n < 1``, invalid distributions or correlations, or sampled values
        outside a parameter's bounds (or negative values of a non-negative state); a covariate named like a
        parameter or state, or whose values are not finite (``weight_kg`` and ``bsa_m2``: not > 0).

    Examples
    --------
    >>> import tumordyn as td
    >>> m = td.models.tumor_immune_tme()
    >>> cohort = td.Cohort(m, {"r_S": td.cohorts.LogNormal(median=0.03, cv=0.3)}, n=8, seed=1)
    >>> cohort.parameters.shape
    (8, 1)
    >>> heavy = td.Cohort(m, {"r_S": td.cohorts.LogNormal(median=0.03, cv=0.3)}, n=8, seed=1,
    ...                   covariates={"weight_kg": td.cohorts.LogNormal(median=70, cv=0.2)})
    >>> list(heavy.covariates.columns)
    ['weight_kg']
    """

    def __init__(
        self,
        model: Model,
        distributions: Mapping[str, DistributionLike],
        *,
        n: int,
        seed: int | None = None,
        sampling: str = "sobol",
        correlation: Any = None,
        covariates: Any = None,
        _given: Mapping[str, np.ndarray] | None = None,  # from_values: the exact values, not sampled
    ) -> None:
        from ..spec import Model

        if not isinstance(model, Model):
            raise TypeError(f"`model` must be a tumordyn Model, got {type(model).__name__}")
        if not isinstance(distributions, Mapping):
            raise TypeError("`distributions` must be a mapping of parameter (or state) name to distribution")
        n = _check_positive_int(n, "n")
        if sampling not in SAMPLING_METHODS:
            raise SpecificationError(f"unknown sampling {sampling!r}; choose one of {', '.join(SAMPLING_METHODS)}")
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2**63))
        elif isinstance(seed, np.random.Generator):  # one integer drawn from it, recorded in `seed`
            seed = int(seed.integers(0, 2**63 - 1))
        elif isinstance(seed, np.random.SeedSequence):
            seed = int(seed.generate_state(2, np.uint64)[0] % (2**63))
        elif isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise TypeError(f"`seed` must be a non-negative integer, a numpy Generator or SeedSequence, or None, "
                            f"got {seed!r}")
        compiled = compile_model(model)
        dists: dict[str, Distribution] = {}
        for name, d in distributions.items():
            if name not in compiled.param_names and name not in compiled.state_names:
                raise UnknownNameError("parameter or state", name, compiled.param_names + compiled.state_names,
                                       f"cohort distributions for model {model.name!r}")
            dists[name] = as_distribution(d, name)
        cov_dists, cov_table = _covariate_spec(covariates, compiled)
        names = list(dists) + [c for c in cov_dists if c not in dists]
        R = correlation_matrix(correlation, names)
        both = {**dists, **cov_dists}
        for i, nm in enumerate(names):
            if both[nm].fixed and np.any(np.delete(R[i], i) != 0):
                raise SpecificationError(f"correlation: {nm!r} is fixed (not sampled); it cannot be correlated")
        if _given is None:
            values = sample(both, n, seed=int(seed), method=sampling, correlation=R)
        else:
            values = dict(_given)
            if cov_dists:
                values.update(sample(cov_dists, n, seed=int(seed), method=sampling))
        cov_values = {c: values.pop(c) for c in cov_dists}
        if cov_table is not None:  # real patients' covariates: in order, or rows drawn with replacement
            rows = (np.arange(n) if len(cov_table[1]) == n
                    else np.random.default_rng([int(seed), 17]).integers(0, len(cov_table[1]), n))
            cov_values = {c: np.array(cov_table[1][rows, i]) for i, c in enumerate(cov_table[0])}
        _check_covariates(cov_values, n)
        for a in cov_values.values():
            a.flags.writeable = False
        P = np.repeat(compiled.defaults[:, None], n, axis=1)
        Y0 = np.repeat(compiled.initial[:, None], n, axis=1)
        specs = {p.name: p for p in model.parameters}
        for nm, v in values.items():
            if nm in compiled.param_names:
                lo, hi = specs[nm].bounds
                bad = (v < lo) | (v > hi) | ~np.isfinite(v)
                if np.any(bad):
                    j = int(np.argmax(bad))
                    raise SpecificationError(
                        f"{int(bad.sum())} of {n} sampled values of parameter {nm!r} lie outside its bounds "
                        f"[{lo:g}, {hi:g}] (e.g. patient {j}: {v[j]:.6g}); narrow the distribution "
                        f"{dists[nm]!r} or use a TruncatedNormal/Uniform within the bounds"
                    )
                P[compiled.param_names.index(nm)] = v
            else:
                i = compiled.state_names.index(nm)
                bad = ~np.isfinite(v) | ((v < 0) & compiled.nonnegative[i])
                if np.any(bad):
                    raise SpecificationError(
                        f"{int(bad.sum())} of {n} sampled initial values of state {nm!r} are negative or not "
                        f"finite; the state is non-negative: use a LogNormal or a TruncatedNormal with lower=0"
                    )
                Y0[i] = v
        for a in (P, Y0):
            a.flags.writeable = False
        self._model = model
        self._n = n
        self._seed = int(seed)
        self._sampling = sampling
        self._dists = MappingProxyType(dists)
        self._corr = R
        self._P = P
        self._Y0 = Y0
        self._values = values
        self._covariates = MappingProxyType(cov_values)
        self._cov_dists = MappingProxyType(cov_dists)

    @classmethod
    def from_values(cls, model: Model, values: Mapping[str, Any], *, seed: int = 0,
                    covariates: Any = None) -> Cohort:
        """A cohort of given patients: one value per patient of each named parameter or state.

        Used for a selected virtual population (:func:`tumordyn.cohorts.calibrate_population`).
        :attr:`distributions` are then the :class:`~tumordyn.cohorts.Empirical` distributions of the values.

        Parameters
        ----------
        model : Model
            The model every patient shares.
        values : mapping of str to array_like
            Per-patient values by parameter or state name (parameter units); equal lengths (>= 1).
        seed : int, optional
            Recorded as :attr:`seed` (it seeds the patient subsets of the plots) and seeds the covariates
            drawn from distributions.
        covariates : mapping of str to Distribution, or pandas.DataFrame, optional
            The patients' covariates (e.g. ``weight_kg`` in kg, ``bsa_m2`` in m², for regimens dosed per
            body weight or surface), as :class:`Cohort` takes them: distributions (sampled from ``seed``), or
            a table of real patients (with one row per patient, row ``i`` is patient ``i``; otherwise whole
            rows are drawn with replacement).

        Raises
        ------
        SpecificationError
            For unequal lengths, an empty table, or values outside a parameter's bounds.
        UnknownNameError
            For a name that is neither a parameter nor a state of the model.
        """
        from ._distributions import Empirical

        if not isinstance(values, Mapping) or not values:
            raise SpecificationError("`values` must be a non-empty mapping of parameter (or state) name to values")
        arrays = {str(k): np.array(v, dtype=float).ravel() for k, v in values.items()}
        sizes = {k: a.size for k, a in arrays.items()}
        if len(set(sizes.values())) != 1 or 0 in sizes.values():
            raise SpecificationError(f"`values` must have one value per patient, equal lengths >= 1; got sizes {sizes}")
        n = next(iter(sizes.values()))
        return cls(model, {k: Empirical(tuple(a.tolist())) for k, a in arrays.items()}, n=n, seed=seed,
                   covariates=covariates, _given=arrays)

    # -- properties -----------------------------------------------------------------------
    @property
    def model(self) -> Model:
        """The model."""
        return self._model

    @property
    def n(self) -> int:
        """Number of patients."""
        return self._n

    @property
    def seed(self) -> int:
        """Seed of the sampling (same seed, same patients)."""
        return self._seed

    @property
    def sampling(self) -> str:
        """Sampling method."""
        return self._sampling

    @property
    def distributions(self) -> Mapping[str, Distribution]:
        """The distributions by name (read-only)."""
        return self._dists

    @property
    def correlation(self) -> np.ndarray:
        """Correlation matrix in the order of :attr:`distributions` (read-only)."""
        return self._corr

    @property
    def param_matrix(self) -> np.ndarray:
        """All parameters of every patient, shape ``(n_params, n)`` (read-only)."""
        return self._P

    @property
    def initial_matrix(self) -> np.ndarray:
        """Initial states of every patient, shape ``(n_states, n)`` (read-only)."""
        return self._Y0

    @property
    def parameters(self) -> pd.DataFrame:
        """The sampled quantities: one row per patient (index ``patient``), one column per distribution."""
        import pandas as pd

        df = pd.DataFrame({k: v for k, v in self._values.items()})
        df.index.name = "patient"
        return df

    @property
    def covariates(self) -> pd.DataFrame:
        """Each patient's covariates (index ``patient``; e.g. ``weight_kg`` in kg, ``bsa_m2`` in m²); no
        columns for a cohort without covariates."""
        import pandas as pd

        df = pd.DataFrame({k: np.array(v) for k, v in self._covariates.items()}, index=pd.RangeIndex(self._n))
        df.index.name = "patient"
        return df

    def patient_covariates(self, patient: int) -> dict[str, float]:
        """One patient's covariates by name (what :func:`tumordyn.simulate` takes as ``covariates=``)."""
        j = self._index(patient)
        return {k: float(v[j]) for k, v in self._covariates.items()}

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        return (f"Cohort(model={self._model.name!r}, n={self._n}, seed={self._seed}, sampling={self._sampling!r}, "
                f"distributions={dict(self._dists)!r})")

    def patient_params(self, patient: int) -> dict[str, float]:
        """All parameter values of one patient by name (parameter units)."""
        return dict(zip(compile_model(self._model).param_names, self._P[:, self._index(patient)].tolist()))

    def patient_initial(self, patient: int) -> dict[str, float]:
        """Initial states of one patient by name (state units)."""
        return dict(zip(compile_model(self._model).state_names, self._Y0[:, self._index(patient)].tolist()))

    def _sampled(self) -> dict[str, np.ndarray]:
        """Every quantity drawn per patient: the sampled parameters and states, then the sampled covariates."""
        return {**self._values, **{k: np.asarray(v) for k, v in self._covariates.items()
                                   if not (k in self._cov_dists and self._cov_dists[k].fixed)}}

    def _index(self, patient: int) -> int:
        if isinstance(patient, bool) or not isinstance(patient, (int, np.integer)):
            raise TypeError(f"`patient` must be an integer index, got {patient!r}")
        if not 0 <= patient < self._n:
            raise SpecificationError(f"patient {patient} is not in the cohort of {self._n} (0 ... {self._n - 1})")
        return int(patient)

    # -- simulation -----------------------------------------------------------------------
    def simulate(
        self,
        regimens: Any,
        executor: Executor | Any | None = None,
        *,
        t_end: float = 365.0,
        scans: Any = None,
        measure: str = "lesion_diameter",
        run_in: float = 0.0,
        keep_trajectories: bool = False,
        t_eval: Any = None,
        chunk_size: int | None = None,
        method: str = "auto",
        rtol: float = 1e-6,
        atol: float | Mapping[str, float] | None = None,
        max_step: float = np.inf,
        max_steps: int = 100_000,
        fallback: bool = True,
        progress: bool | None = None,
        detection_limit: float | None = None,
        too_small: float | None = None,
        response: float = 0.3,
        increase: float = 0.2,
        min_increase: float = 5.0,
        min_measurable: float = 10.0,
        solver: Any = None,
        parallel: bool | None = None,
        cr_below: None = None,
    ) -> CohortResult:
        """Simulate every patient under one or more regimens and compute the readouts.

        Parameters
        ----------
        regimens : Schedule, Regimen, AdaptiveRule, mapping or sequence
            One schedule, a mapping ``{name: schedule}``, or a sequence of
            schedules (named ``"regimen 0"``, ...). Time 0 is the start of
            treatment. A bare AdaptiveRule, Dose or Infusion is taken as a Regimen (as
            :func:`tumordyn.compare` does). A :class:`~tumordyn.Regimen` with adaptive rules is
            simulated in one batched solve on the compiled engine (``method="dopri5"``), each patient
            switching its rules where its own trajectory crosses the thresholds; with
            ``method="batch"`` (the numpy engine runs no rules) patient by patient through
            :func:`tumordyn.simulate`. Doses per body weight (``unit="mg/kg"``) or body-surface area
            (``"mg/m^2"``) use each patient's covariates (``Cohort(..., covariates=...)``): patient ``j``
            gets the same doses as ``td.simulate(..., covariates=cohort.patient_covariates(j))`` (in the one
            batched solve, as a per-patient factor of each drug's doses; a drug dosed on mixed bases,
            per kg and per m², is simulated patient by patient). A cohort without the covariate a dose
            needs raises :class:`~tumordyn.errors.SpecificationError`.
        executor : concurrent.futures.Executor, dask.distributed.Client or "processes", optional
            Runs the chunks (e.g. ``ProcessPoolExecutor(2)``); a Dask ``Client`` gets all chunks in one
            batched ``client.map`` (its own keys, no hashing of the chunks). ``"processes"``: a process pool of
            ``os.cpu_count()`` workers made for this call (each compiles the model once, in its
            initializer) and shut down at its end. ``None`` (default): in this process, on numba's
            threads where numba is installed (see ``parallel``). The numbers do not depend on the
            executor. Every worker process compiles the model once and reuses it for all its chunks.
            Ctrl-C cancels the chunks not started and raises :class:`CohortInterrupted` (a
            ``KeyboardInterrupt``; no partial result is kept); a pool made with ``"processes"`` is shut
            down and its workers terminated at once, a user's executor finishes only the chunks already
            running (shut it down yourself, e.g. with a ``with`` block).
        t_end : float, optional
            Horizon (days after treatment start). Default 365.
        scans : ScanPlan, optional
            Scan times for RECIST (default: every 56 days from day 0,
            :class:`tumordyn.readouts.ScanPlan`).
        measure : str, Lesion or sequence of Lesion, optional
            The lesion(s) RECIST assesses (as the ``observable`` of
            :func:`tumordyn.readouts.recist`): a diameter-like state or observable
            (mm), default ``"lesion_diameter"`` (the measured lesion, infiltrates
            included; for a multi-lesion model every ``<prefix>_lesion_diameter``), or
            :class:`tumordyn.readouts.Lesion` objects.
        run_in : float, optional
            Days of untreated growth before treatment (default 0). The state at
            the end of the run-in is the baseline of every readout and biomarker.
        keep_trajectories : bool, optional
            Keep every patient's states on the output grid (memory:
            ``8 × n_states × len(grid) × n × n_regimens`` bytes).
        t_eval : array_like, optional
            Output grid (days) for the continuous readouts and kept trajectories;
            default one point a day; the scan times are always added.
        chunk_size : int, optional
            Patients per batched solve (default: ``n`` split evenly over the
            executor's workers in chunks of at most 2048).
        method : {"auto", "batch", "dopri5"}, optional
            Integration method, as in :class:`~tumordyn.Solver` (see :data:`COHORT_METHODS`);
            ``"auto"`` uses the compiled ``"dopri5"`` loop when numba is installed (fastest on this
            model: see the docs page *Cohorts*), else the numpy ``"batch"``. Both are Dormand–Prince
            5(4) with per-patient step control and agree to the tolerance. (``"numba"`` is the
            deprecated former name of ``"dopri5"``.)
        rtol : float, optional
            Relative tolerance (default 1e-6).
        atol : float or mapping, optional
            Absolute tolerance(s); default each state's ``atol``.
        max_step : float, optional
            Largest step (days).
        max_steps : int, optional
            Steps per patient and regimen before the explicit method gives up (a
            stiff patient); see ``fallback``.
        fallback : bool, optional
            Retry failed patients one by one with LSODA (default True); those
            that still fail are reported in :attr:`CohortResult.failures`.
        progress : bool, optional
            Show a progress bar (``tqdm.auto``: a widget in Jupyter) counting the patients (times the
            regimens) as they finish; default: when stderr is a terminal or in a Jupyter kernel. In this
            process (no executor) the compiled kernel marks each patient done as it finishes and a helper
            thread moves the bar every 0.1 s: per-patient granularity, at no cost to the kernel (see the
            docs page *Cohorts*). On an executor the bar moves as chunks finish; with the bar shown and
            ``chunk_size`` not given, the patients then run in about 16 chunks (of at least 128 patients)
            so that it moves. The numbers are the same bit for bit. ``False`` prints nothing.
        detection_limit, too_small, response, increase, min_increase, min_measurable : float, optional
            RECIST 1.1 as in :func:`tumordyn.readouts.recist` (cells, mm and
            fractions): CR when every lesion is below ``detection_limit`` tumor cells
            (default :data:`tumordyn.readouts.DETECTION_LIMIT`), a lesion too small to
            measure recorded as ``too_small`` (5 mm), PR at −30% of the sum from
            baseline, PD at +20% and +5 mm over the nadir of the sum or a new lesion,
            target lesions measurable from 10 mm. iRECIST (the ``pseudoprogression``
            readout) uses the same basis with its default confirmation rule.
        cr_below : None
            Removed (CR was "diameter < 5 mm"); giving it raises
            :class:`~tumordyn.errors.SpecificationError`.
        parallel : bool, optional
            Spread each chunk's compiled solve over numba's threads (``prange`` over patients;
            ``numba.set_num_threads`` sets how many). Default: True in this process with the compiled
            ``"dopri5"`` engine when called from the main thread, False on an executor (its workers are
            the parallelism) or from another thread (numba's ``workqueue`` threading layer takes no
            concurrent parallel launches; pass True with the ``omp`` or ``tbb`` layer). Each patient's
            numbers are the same bit for bit whatever the thread count, chunk size or executor.
        solver : Solver, optional
            The settings ``method`` (``"auto"``, ``"batch"`` or ``"dopri5"``),
            ``rtol``, ``atol``, ``max_step`` and ``max_steps`` as one :class:`~tumordyn.Solver`, in place
            of the keywords of the same names (a scipy method is refused: cohorts are batched).

        Returns
        -------
        CohortResult
        """
        from .._validate import time_value as _check_time
        from ..readouts import ScanPlan

        if solver is not None:  # one Solver object in place of the separate keywords
            from ..trajectory import make_solver

            solver = make_solver(solver)
            if solver.method not in ("auto", BATCH_METHOD, COMPILED_METHOD):
                raise SpecificationError(f"cohort solver method must be 'auto', 'batch' or 'dopri5', got {solver.method!r}")
            method = solver.method
            rtol, atol, max_step, max_steps = solver.rtol, solver.atol, solver.max_step, solver.max_steps
        model = self._model
        compiled = compile_model(model)
        regs = _normalise_regimens(regimens)
        t_end = _check_time(t_end, "t_end")
        if not t_end > 0:
            raise SpecificationError(f"`t_end` must be > 0 days (time from treatment start), got {t_end}")
        run_in = _check_time(run_in, "run_in")
        if run_in < 0:
            raise SpecificationError(f"`run_in` must be >= 0 days, got {run_in}")
        cov0 = self.patient_covariates(0)
        for name, given in regs:
            try:  # doses per kg or per m² need the patients' covariates (all checked > 0 when the cohort was made)
                reg = given.resolved(model, cov0)
            except SpecificationError as err:
                raise type(err)(f"regimen {name!r} of the cohort: {err}; give the cohort its patients' covariates, "
                                "e.g. Cohort(..., covariates={'weight_kg': td.cohorts.LogNormal(median=70, cv=0.2)})"
                                ) from err
            sched = reg if isinstance(reg, Schedule) else reg.schedule
            check_schedule(compiled, sched, t0=0.0, t_end=t_end, where=f"regimen {name!r} of model {model.name!r}")
            for rule in getattr(reg, "rules", ()):
                if rule.drug not in compiled.drug_names:
                    raise UnknownNameError("drug", rule.drug, compiled.drug_names, f"adaptive rule of regimen {name!r}")
            if not isinstance(reg, Schedule):
                reg.validate(model, t_end=t_end, t0=0.0, where=f"regimen {name!r}")
        if cr_below is not None:
            raise SpecificationError(
                "Cohort.simulate: cr_below= was removed: a complete response is now the disappearance of every "
                "lesion (tumor cells below detection_limit=, RECIST 1.1); a lesion too small to measure is recorded "
                "as too_small= mm"
            )
        known = compiled.state_names + compiled.observable_names
        if isinstance(measure, str) and measure not in known and not (
                measure == "lesion_diameter" and any(n.endswith("_lesion_diameter") for n in known)):
            raise UnknownNameError("state or observable", measure, compiled.state_names + compiled.observable_names,
                                   "`measure`")
        lesions = resolve_lesions(compiled.state_names + compiled.observable_names, measure, "Cohort.simulate(measure=...)",
                                  model=model.name)
        detection_limit = DETECTION_LIMIT if detection_limit is None else _positive_float(detection_limit, "detection_limit")
        too_small = TOO_SMALL if too_small is None else _positive_float(too_small, "too_small", allow_zero=True)
        plan = ScanPlan() if scans is None else scans
        if not isinstance(plan, ScanPlan):
            raise TypeError(f"`scans` must be a tumordyn.readouts.ScanPlan, got {type(plan).__name__}")
        scan_t = plan.times_for(0.0, t_end)
        if t_eval is None:
            grid = np.arange(0.0, math.floor(t_end) + 1.0)
        else:
            grid = np.asarray(t_eval, dtype=float)
            if grid.ndim != 1 or not np.all(np.isfinite(grid)) or np.any(grid < 0) or np.any(grid > t_end):
                raise SpecificationError(f"`t_eval` must be a 1-D array of finite times within [0, {t_end}] days")
        grid = np.unique(np.concatenate([grid, scan_t, [0.0, t_end]]))
        if method == "numba":
            warnings.warn("Cohort.simulate(method='numba') is now method='dopri5' (the Solver's name); "
                          "'numba' is removed in tumordyn 0.3", DeprecationWarning, stacklevel=2)
            method = COMPILED_METHOD
        if method not in COHORT_METHODS:
            raise SpecificationError(f"unknown method {method!r}; choose one of {', '.join(COHORT_METHODS)}")
        if method == "auto":
            from ..solve import numba_available

            method = COMPILED_METHOD if numba_available() else BATCH_METHOD
        if method == COMPILED_METHOD:
            from ..solve import numba_available

            if not numba_available():
                raise SpecificationError("method='dopri5' needs numba (pip install numba); use 'batch'")
        opts = Solver("RK45", rtol, atol, max_step).options(compiled)  # settings validated once; engine set below
        max_steps = _check_positive_int(max_steps, "max_steps")
        ex = executor
        owned = isinstance(ex, str)
        if owned and ex != "processes":
            raise SpecificationError(f"`executor` as text must be 'processes', got {ex!r}")
        if parallel is None:
            # not from another thread: numba's "workqueue" threading layer (no TBB / OpenMP) takes no
            # concurrent parallel launches
            parallel = ex is None and method == COMPILED_METHOD and threading.current_thread() is threading.main_thread()
        elif not isinstance(parallel, (bool, np.bool_)):
            raise TypeError(f"`parallel` must be True, False or None, got {parallel!r}")
        solver = _SolverConfig(replace(opts, method=_ENGINE[method], max_steps=max_steps), bool(fallback),
                               bool(parallel) and method == COMPILED_METHOD)
        readout = _ReadoutOptions(lesions, scan_t, detection_limit, too_small, float(response), float(increase),
                                  float(min_increase), float(min_measurable))
        dask_client = None  # a dask.distributed.Client: the chunks go through client.map, not an Executor
        if owned:
            ex = _make_pool(model, None)
        elif ex is not None and not isinstance(ex, Executor):
            if hasattr(ex, "get_executor") and hasattr(ex, "map") and hasattr(ex, "cancel"):
                dask_client = ex
            else:
                raise TypeError(
                    "`executor` must be a concurrent.futures.Executor or a dask.distributed.Client, "
                    f"got {type(executor).__name__}"
                )
        show = show_progress(progress)
        if chunk_size is None:
            workers = (_dask_threads(dask_client) if dask_client is not None
                       else int(getattr(ex, "_max_workers", 2) or 2) if ex is not None else 1)
            n_chunks = workers * math.ceil(math.ceil(self._n / 2048) / workers)  # a multiple of the workers
            if show and ex is not None:
                # on an executor the bar moves as chunks finish: about _BAR_STEPS chunks of at least
                # _MIN_BAR_CHUNK (in this process it counts each patient as the kernel finishes it)
                n_chunks = max(n_chunks, min(_BAR_STEPS, math.ceil(self._n / _MIN_BAR_CHUNK)))
            chunk_size = math.ceil(self._n / n_chunks)
        chunk_size = _check_positive_int(chunk_size, "chunk_size")
        shared = np.all(self._P == self._P[:, :1], axis=1)
        tasks = []
        for start in range(0, self._n, chunk_size):
            sl = slice(start, min(self._n, start + chunk_size))
            tasks.append(_Task(model, regs, np.arange(sl.start, sl.stop), np.array(self._P[:, sl]),
                               np.array(self._Y0[:, sl]), t_end, run_in, grid, readout, solver,
                               bool(keep_trajectories), shared, os.getpid(),
                               tuple((k, np.array(v[sl])) for k, v in self._covariates.items())))
        started = _time.perf_counter()
        try:
            outs = _execute(tasks, ex, show, owned, dask_client)
        except BaseException:
            if owned:
                _stop_pool_workers(ex)
            raise
        if owned:
            ex.shutdown(wait=True)
        wall = _time.perf_counter() - started
        return CohortResult._assemble(self, regs, outs, grid, scan_t, t_end, run_in, measure, method, wall,
                                      solver.options)


def _normalise_regimens(regimens: Any) -> tuple[tuple[str, Any], ...]:
    from ..dosing import AdaptiveRule, Dose, Infusion, Regimen, as_regimen

    def check(name: str, r: Any) -> Any:
        if isinstance(r, (AdaptiveRule, Dose, Infusion)):  # as compare() takes them
            r = as_regimen(r, f"regimen {name!r}")
        if isinstance(r, Regimen):
            return r.schedule if not r.rules else r
        if not isinstance(r, Schedule):
            raise TypeError(f"regimen {name!r} must be a Schedule, a Regimen, an AdaptiveRule, a Dose or an "
                            f"Infusion, got {type(r).__name__}")
        return r

    if isinstance(regimens, (Schedule, Regimen, AdaptiveRule, Dose, Infusion)):
        return (("regimen", check("regimen", regimens)),)
    if isinstance(regimens, Mapping):
        items = list(regimens.items())
    elif isinstance(regimens, Sequence) and not isinstance(regimens, str):
        items = [(f"regimen {i}", r) for i, r in enumerate(regimens)]
    else:
        raise TypeError(f"`regimens` must be a Schedule, a mapping name -> Schedule or a sequence, got "
                        f"{type(regimens).__name__}")
    if not items:
        raise SpecificationError("`regimens` is empty: give at least one schedule")
    out = []
    for name, r in items:
        if not isinstance(name, str):
            raise TypeError(f"regimen names must be strings, got {name!r}")
        out.append((name, check(name, r)))
    return tuple(out)


class CohortInterrupted(KeyboardInterrupt):
    """Ctrl-C (``KeyboardInterrupt``) during :meth:`Cohort.simulate`: the chunks not yet run were cancelled.

    A subclass of :class:`KeyboardInterrupt`, so code that catches that keeps working. No partial
    :class:`CohortResult` is built: the chunks finished before the interrupt are discarded
    (``n_finished`` of ``n_chunks`` had finished; ``n_cancelled`` never started).
    """

    def __init__(self, n_finished: int, n_cancelled: int, n_chunks: int) -> None:
        self.n_finished, self.n_cancelled, self.n_chunks = n_finished, n_cancelled, n_chunks
        super().__init__(f"cohort simulation interrupted: {n_finished} of {n_chunks} chunks had finished "
                         f"(discarded, no partial result is kept), {n_cancelled} pending chunks cancelled")


def _origin_gone(origin_pid: int) -> bool:
    """Whether this worker process was started by ``origin_pid`` (the process that submitted the chunk)
    and that process has died since (the worker is an orphan: nobody will read its results)."""
    global _FIRST_PPID
    if origin_pid == os.getpid():
        return False
    ppid = os.getppid()
    if _FIRST_PPID is None:
        _FIRST_PPID = ppid
    return _FIRST_PPID == origin_pid and ppid != origin_pid


_FIRST_PPID: int | None = None


def _stop_pool_workers(executor: Any) -> None:
    """Shut down a process pool the library made itself (never a user's pool) at once: cancel its queue,
    terminate its workers and unblock its queue feeder (a worker killed mid-read leaves it blocked on a full
    pipe, and ``concurrent.futures`` joins it at exit)."""
    procs = list((getattr(executor, "_processes", None) or {}).values())  # before shutdown() forgets them
    call_queue = getattr(executor, "_call_queue", None)
    for proc in procs:
        try:
            proc.terminate()
        except Exception:  # noqa: BLE001 - already gone
            pass
    for proc in procs:
        try:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
        except Exception:  # noqa: BLE001 - already gone
            pass
    try:  # no reader is left: the feeder's blocked write fails instead of waiting for ever
        call_queue._reader.close()  # type: ignore[union-attr]
    except Exception:  # noqa: BLE001 - another Python's internals; the workers are gone anyway
        pass
    executor.shutdown(wait=False)  # not cancel_futures: the broken pool fails its pending futures itself


def _make_pool(model: Model, workers: int | None) -> Executor:
    """A process pool for one cohort run; each worker compiles ``model`` once, in its initializer."""
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(model,))


def _dask_threads(client: Any) -> int:
    """Worker threads of a Dask cluster (2 if the client cannot say)."""
    try:
        return max(1, int(sum(client.nthreads().values())))
    except Exception:  # noqa: BLE001 - a client not connected yet, or another Dask's API: the default chunking
        return 2


@contextmanager
def _sigint_held() -> Iterator[None]:
    """Hold Ctrl-C while the chunks are handed over: it is raised once every chunk has its future.

    A ``KeyboardInterrupt`` inside an executor's or a Dask client's own bookkeeping can leave it half
    updated (a lock held, a future half registered), after which cancelling or closing it can block for
    ever; held here, the interrupt arrives where the cancel path knows every future. Only the main thread
    receives signals; elsewhere, or when the program installed its own SIGINT handler, nothing changes.
    """
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def _execute(tasks: list[_Task], executor: Executor | None, progress: bool,
             owned: bool = False, dask_client: Any = None) -> list[_ChunkOut]:
    """Run the chunks in order (in this process), on ``executor`` or on ``dask_client``; results in
    patient order.

    On ``KeyboardInterrupt`` (Ctrl-C) the pending chunks are cancelled, the chunks running on workers are
    not waited for (a pool made by the library, ``owned``, is shut down and its workers terminated; a
    user's executor keeps its running chunks, which end on their own; a Dask client's chunks are cancelled
    in one call and the client stays usable), and :class:`CohortInterrupted` is raised; no partial result
    is kept.
    """
    n_regs = len(tasks[0].regimens) if tasks else 1
    # one step per patient and regimen solved
    bar = progress_bar(progress, total=sum(t.patients.size for t in tasks) * n_regs, desc="cohort",
                       unit="patient" if n_regs == 1 else "patient-regimen")
    finished = 0
    try:
        if executor is None and dask_client is None:
            outs = []
            counter = DoneCounter()  # the kernels mark each patient done; a thread moves the bar every 0.1 s
            try:
                with polled(bar, counter, _POLL_SECONDS):
                    for t in tasks:
                        outs.append(_run_chunk(t, counter))
                        finished += 1
            except KeyboardInterrupt:
                raise CohortInterrupted(finished, len(tasks) - finished - 1, len(tasks)) from None
            return outs

        futures: dict[Any, int] = {}
        try:
            with _sigint_held():
                if dask_client is not None:
                    # one message to the scheduler; pure=False names each chunk by a random key, so Dask does
                    # not hash the chunks (Executor.submit tokenizes each one: ~25 ms per chunk)
                    futures = {f: i for i, f in enumerate(dask_client.map(_run_chunk, tasks, pure=False))}
                else:
                    for i, t in enumerate(tasks):
                        futures[executor.submit(_run_chunk, t)] = i  # type: ignore[union-attr]
            if dask_client is not None:
                from distributed import as_completed
            else:
                from concurrent.futures import as_completed
            results: list[_ChunkOut | None] = [None] * len(tasks)
            for fut in as_completed(list(futures)):
                i = futures[fut]
                results[i] = fut.result()
                finished += 1
                bar.update(tasks[i].patients.size * n_regs)
            return [r for r in results if r is not None]
        except BaseException as err:
            if owned:  # its workers are terminated: every chunk not done fails with the pool (none is waited for)
                n_cancelled = sum(1 for f in futures if not f.done())
                _stop_pool_workers(executor)
            elif dask_client is not None:  # one batched cancel (one scheduler round trip); the client stays usable
                pending = [f for f in futures if not f.done()]
                n_cancelled = len(pending)
                if pending:
                    dask_client.cancel(pending)
            else:
                n_cancelled = sum(1 for f in futures if f.cancel())
            if isinstance(err, KeyboardInterrupt) and not isinstance(err, CohortInterrupted):
                raise CohortInterrupted(finished, n_cancelled, len(tasks)) from None
            raise
    finally:
        bar.close()


# --------------------------------------------------------------------------- the result


@dataclass(frozen=True)
class CohortStats:
    """Counters of a cohort simulation.

    Attributes
    ----------
    method : str
        Integration method used (``"batch"`` or ``"dopri5"``).
    n_patients, n_regimens, n_chunks : int
        Sizes.
    nfev : int
        Right-hand-side evaluations per patient summed (numpy engine only; 0 for numba).
    n_fallback : int
        Patient solves rescued by the LSODA fallback.
    n_failed : int
        Patient–regimen solves that failed.
    wall_time : float
        Seconds for the whole simulation (readouts included).
    chunk_time : float
        Seconds summed over chunks (CPU-side work, all workers).
    """

    method: str
    n_patients: int
    n_regimens: int
    n_chunks: int
    nfev: int
    n_fallback: int
    n_failed: int
    wall_time: float
    chunk_time: float


class CohortResult:
    """Readouts of a simulated cohort (one row per patient and regimen).

    Obtain it from :meth:`Cohort.simulate`. Attributes: :attr:`cohort`,
    :attr:`regimens` (names), :attr:`scan_times` (days), :attr:`t` (output grid,
    days), :attr:`failures`, :attr:`stats`.
    """

    def __init__(self) -> None:  # built by _assemble
        self.cohort: Cohort
        self.regimens: tuple[str, ...]
        self.schedules: Mapping[str, Any]
        self.scan_times: np.ndarray
        self.t: np.ndarray
        self.t_end: float
        self.run_in: float
        self.measure: str
        self.stats: CohortStats
        self._readouts: dict[str, dict[str, np.ndarray]]
        self._traj: dict[str, np.ndarray]
        self._baseline_states: np.ndarray
        self._baseline_obs: np.ndarray
        self._failures: list[tuple[int, str, float, str]]
        self._options: SolverOptions

    @classmethod
    def _assemble(cls, cohort: Cohort, regs: tuple[tuple[str, Any], ...], outs: list[_ChunkOut], grid: np.ndarray,
                  scan_t: np.ndarray, t_end: float, run_in: float, measure: str, method: str,
                  wall: float, options: SolverOptions) -> CohortResult:
        self = cls()
        self.cohort = cohort
        self._options = options
        self.regimens = tuple(n for n, _ in regs)
        self.schedules = MappingProxyType(dict(regs))
        self.scan_times = scan_t
        self.t = grid
        self.t_end = t_end
        self.run_in = run_in
        self.measure = measure
        outs = sorted(outs, key=lambda o: int(o.patients[0]))
        cat = lambda arrs, axis: np.concatenate(arrs, axis=axis)  # noqa: E731
        self._readouts = {}
        for name in self.regimens:
            keys = outs[0].readouts[name].keys()
            self._readouts[name] = {
                k: cat([o.readouts[name][k] for o in outs], -1) for k in keys
            }
            for a in self._readouts[name].values():
                a.flags.writeable = False
        self._traj = {}
        if outs[0].trajectories:
            for name in self.regimens:
                self._traj[name] = cat([o.trajectories[name] for o in outs], -1)
                self._traj[name].flags.writeable = False
        self._baseline_states = cat([o.baseline_states for o in outs], -1)
        self._baseline_obs = cat([o.baseline_observables for o in outs], -1)
        self._failures = sorted((f for o in outs for f in o.failures), key=lambda f: (f[0], f[1]))
        self.stats = CohortStats(
            method, cohort.n, len(regs), len(outs), int(sum(o.nfev for o in outs)),
            int(sum(o.n_fallback for o in outs)), len(self._failures), wall, float(sum(o.wall_time for o in outs)),
        )
        return self

    def __repr__(self) -> str:
        return (f"CohortResult(n={self.cohort.n}, regimens={list(self.regimens)}, failed={self.stats.n_failed}, "
                f"wall_time={self.stats.wall_time:.2f} s)")

    def _check_regimen(self, regimen: str | None) -> str:
        if regimen is None:
            if len(self.regimens) == 1:
                return self.regimens[0]
            raise SpecificationError(f"several regimens were simulated; name one of {list(self.regimens)}")
        if regimen not in self.regimens:
            raise UnknownNameError("regimen", regimen, self.regimens, "this cohort result")
        return regimen

    # -- tables ---------------------------------------------------------------------------
    def baseline(self) -> pd.DataFrame:
        """Baseline biomarkers: one row per patient (index ``patient``).

        Columns: the sampled quantities, the covariates (``weight_kg``...), then every state and observable at the
        start of treatment (after the run-in, if any), e.g.
        ``effector_exhausted_ratio`` (1), ``P`` (TME suppression level, 1) and
        ``lesion_diameter`` (mm) for the default model.
        """
        import pandas as pd

        c = compile_model(self.cohort.model)
        df = pd.concat([self.cohort.parameters, self.cohort.covariates], axis=1)
        extra = {f"baseline_{nm}": self._baseline_states[i] for i, nm in enumerate(c.state_names)}
        extra.update({f"baseline_{nm}": self._baseline_obs[i] for i, nm in enumerate(c.observable_names)})
        return pd.concat([df, pd.DataFrame(extra, index=df.index)], axis=1)

    def readouts(self, regimen: str | None = None) -> dict[str, np.ndarray]:
        """Per-patient readout arrays of one regimen (read-only), by name.

        Keys: ``best_overall_response`` (CR/PR/SD/PD/NE),
        ``irecist_best_overall_response`` (iCR/iPR/iSD/iUPD/iCPD/NE),
        ``time_to_progression_irecist`` (days to the iUPD later confirmed, ``inf``:
        none), ``pseudoprogression`` (bool: an iUPD followed by iPR/iCR),
        ``best_percent_change``
        (%; the smallest change of ``measure`` from baseline over the follow-up
        scans, positive if it only grew: RECIST 1.1, as
        :func:`tumordyn.readouts.best_percent_change` with ``scans``),
        ``time_to_progression_scan`` and ``time_to_progression`` (days,
        ``inf``: no progression within the horizon), ``time_to_response_scan``
        (days, NaN: no response), ``duration_of_response_scan`` (days),
        ``baseline_diameter`` (mm: the sum of the target lesions' diameters at
        the baseline scan, or, without a measurable lesion, of the lesions seen
        then), ``scan_percent_change`` (% change of that sum, shape
        ``(n_scans, n)``) and, when the model has them, ``final_tumor_burden``
        (cells), ``final_resistant_fraction`` (1), ``best_percent_change_burden`` (%,
        the tumor burden's nadir on the output grid, ``<= 0``).
        """
        return dict(self._readouts[self._check_regimen(regimen)])

    def to_dataframe(self) -> pd.DataFrame:
        """One row per patient and regimen: readouts, sampled quantities and failure flag.

        Returns
        -------
        pandas.DataFrame
            Columns ``patient``, ``regimen``, the readouts of :meth:`readouts`
            (except the per-scan array), ``progressed`` and ``progressed_scan``
            (bool), ``failed`` (bool), then the sampled quantities and the covariates (one column each,
            e.g. ``weight_kg`` in kg).
        """
        import pandas as pd

        params = pd.concat([self.cohort.parameters, self.cohort.covariates], axis=1)
        failed = {(p, r) for p, r, *_ in self._failures}
        frames = []
        for name in self.regimens:
            ro = self._readouts[name]
            d = {"patient": np.arange(self.cohort.n), "regimen": name}
            for k, v in ro.items():
                if v.ndim == 1:
                    d[k] = v
            d["progressed"] = np.isfinite(ro["time_to_progression"])
            d["progressed_scan"] = np.isfinite(ro["time_to_progression_scan"])
            d["failed"] = np.array([(i, name) in failed or (i, "(run-in)") in failed for i in range(self.cohort.n)])
            df = pd.DataFrame(d)
            frames.append(pd.concat([df, params.reset_index(drop=True)], axis=1))
        return pd.concat(frames, ignore_index=True)

    @property
    def failures(self) -> pd.DataFrame:
        """Failed patient solves: ``patient``, ``regimen``, ``parameters`` (dict of the
        sampled values, covariates included), ``t_reached`` (days) and ``message`` (why)."""
        import pandas as pd

        rows = []
        sampled = self.cohort._sampled()
        for p, r, t, msg in self._failures:
            vals = {nm: float(v[p]) for nm, v in sampled.items()}
            rows.append((p, r, vals, t, msg))
        return pd.DataFrame(rows, columns=["patient", "regimen", "parameters", "t_reached", "message"])

    def response_rates(self, confidence: float = 0.95) -> pd.DataFrame:
        """Objective response and disease-control rates per regimen.

        ORR = (CR + PR) / N and DCR = (CR + PR + SD) / N over the N evaluable
        patients (not NE), with Clopper–Pearson (exact binomial) intervals.

        Parameters
        ----------
        confidence : float, optional
            Level of the intervals (default 0.95).

        Returns
        -------
        pandas.DataFrame
            Index: regimen; columns ``n``, ``n_evaluable``, ``CR``, ``PR``, ``SD``,
            ``PD``, ``NE`` (counts), ``ORR``, ``ORR_low``, ``ORR_high``, ``DCR``,
            ``DCR_low``, ``DCR_high``, ``pseudoprogression``,
            ``pseudoprogression_low``, ``pseudoprogression_high`` (fractions: the
            share of evaluable patients with an iRECIST pseudoprogression, an iUPD
            followed by iPR/iCR), ``median_best_percent_change`` (%).
        """
        import pandas as pd
        from scipy.stats import binomtest

        rows = []
        for name in self.regimens:
            bor = self._readouts[name]["best_overall_response"]
            counts = {c: int(np.sum(bor == c)) for c in RESPONSE_CATEGORIES}
            ne = self.cohort.n - counts["NE"]
            row: dict[str, Any] = {"regimen": name, "n": self.cohort.n, "n_evaluable": ne, **counts}
            evaluable = bor != "NE"
            n_pseudo = int(np.sum(self._readouts[name]["pseudoprogression"] & evaluable))
            for label, k in (("ORR", counts["CR"] + counts["PR"]), ("DCR", counts["CR"] + counts["PR"] + counts["SD"]),
                             ("pseudoprogression", n_pseudo)):
                if ne:
                    ci = binomtest(k, ne).proportion_ci(confidence_level=confidence, method="exact")
                    row[label], row[f"{label}_low"], row[f"{label}_high"] = k / ne, ci.low, ci.high
                else:
                    row[label] = row[f"{label}_low"] = row[f"{label}_high"] = math.nan
            row["median_best_percent_change"] = float(np.nanmedian(self._readouts[name]["best_percent_change"]))
            rows.append(row)
        return pd.DataFrame(rows).set_index("regimen")

    def kaplan_meier(self, regimen: str | None = None, *, endpoint: str = "scan",
                     confidence: float = 0.95) -> dict[str, KaplanMeier]:
        """Kaplan–Meier estimates of time to progression, per regimen.

        Patients without progression are censored at the horizon ``t_end``; failed
        and (for ``endpoint="scan"``) not-evaluable patients are left out.

        Parameters
        ----------
        regimen : str, optional
            One regimen (default: all).
        endpoint : {"scan", "continuous"}, optional
            Progression at scans (RECIST, default) or on the continuous output grid.
        confidence : float, optional
            Level of the bands and of the median's interval.

        Returns
        -------
        dict of str to KaplanMeier
            By regimen; each has ``table``, ``median`` (days) and ``median_ci``.
        """
        key = {"scan": "time_to_progression_scan", "continuous": "time_to_progression"}
        if endpoint not in key:
            raise SpecificationError(f"`endpoint` must be 'scan' or 'continuous', got {endpoint!r}")
        names = self.regimens if regimen is None else (self._check_regimen(regimen),)
        out = {}
        for name in names:
            ttp = self._readouts[name][key[endpoint]]
            keep = ~np.isnan(ttp)
            ev = np.isfinite(ttp[keep])
            times = np.where(ev, ttp[keep], self.t_end)
            out[name] = kaplan_meier(times, ev, confidence=confidence)
        return out

    def median_ttp(self, endpoint: str = "scan") -> pd.DataFrame:
        """Median time to progression per regimen with its confidence interval (days)."""
        import pandas as pd

        km = self.kaplan_meier(endpoint=endpoint)
        return pd.DataFrame(
            [(nm, k.median, k.median_ci[0], k.median_ci[1], k.n, k.n_events) for nm, k in km.items()],
            columns=["regimen", "median", "median_low", "median_high", "n", "n_events"],
        ).set_index("regimen")

    def sensitivity(self, regimen: str | None = None, outcome: str = "best_percent_change",
                    algorithm: str | None = None, inputs: Sequence[str] | None = None, *,
                    method: str | None = None) -> pd.DataFrame:
        """Global sensitivity of a per-patient outcome to the sampled quantities.

        Parameters
        ----------
        regimen : str, optional
            The regimen (required if several were simulated).
        outcome : str, optional
            A 1-D readout (see :meth:`readouts`), default ``"best_percent_change"``;
            ``"response"`` is 1 for CR/PR and 0 otherwise.
        algorithm : {"prcc", "rbd_fast"}, optional
            Default ``"prcc"``: partial rank correlation (:func:`partial_rank_correlation`, default), or
            first-order Sobol indices estimated from the cohort's sample by RBD-FAST
            (``SALib.analyze.rbd_fast``, optional dependency ``tumordyn[salib]``;
            meant for independent inputs).
        inputs : sequence of str, optional
            Sampled quantities to analyse (default all non-fixed, sampled covariates included: under a dose
            per kg the body weight is one).
        method : str, optional
            Deprecated name of ``algorithm`` (removed in 0.3).

        Returns
        -------
        pandas.DataFrame
            ``prcc`` and ``p_value`` (PRCC), or ``S1`` and ``S1_conf`` (RBD-FAST), by input.
        """
        algorithm = renamed_keyword(algorithm, method, new="algorithm", old="method",
                                    where="CohortResult.sensitivity") or "prcc"
        name = self._check_regimen(regimen)
        ro = self._readouts[name]
        if outcome == "response":
            bor = ro["best_overall_response"]
            y = np.where(bor == "NE", np.nan, np.isin(bor, ["CR", "PR"]).astype(float))
        elif outcome in ro and ro[outcome].ndim == 1 and ro[outcome].dtype != object:
            y = np.asarray(ro[outcome], dtype=float)
        else:
            valid = [k for k, v in ro.items() if v.ndim == 1 and v.dtype != object] + ["response"]
            raise UnknownNameError("outcome", outcome, valid, "sensitivity()")
        drawn = self.cohort._sampled()
        names = [nm for nm in drawn if nm not in self.cohort.distributions or not self.cohort.distributions[nm].fixed
                 ] if inputs is None else list(inputs)
        for nm in names:
            if nm not in drawn:
                raise UnknownNameError("sampled quantity", nm, list(drawn), "sensitivity()")
        if not names:
            raise SpecificationError("sensitivity(): the cohort has no sampled (non-fixed) quantity")
        X = np.column_stack([drawn[nm] for nm in names])
        if algorithm == "prcc":
            return partial_rank_correlation(X, y, names)
        if algorithm == "rbd_fast":
            import pandas as pd

            try:
                from SALib.analyze import rbd_fast
            except ImportError:  # pragma: no cover - optional dependency
                raise ImportError("algorithm='rbd_fast' needs SALib: pip install 'tumordyn[salib]'") from None
            ok = np.isfinite(y)
            problem = {"num_vars": len(names), "names": names,
                       "bounds": [[float(X[:, j].min()), float(X[:, j].max())] for j in range(len(names))]}
            res = rbd_fast.analyze(problem, X[ok], y[ok], print_to_console=False, seed=self.cohort.seed % (2**32))
            return pd.DataFrame({"S1": res["S1"], "S1_conf": res["S1_conf"]}, index=pd.Index(names, name="input"))
        raise SpecificationError(f"`algorithm` must be 'prcc' or 'rbd_fast', got {algorithm!r}")

    def responders(self, regimen: str | None = None) -> pd.DataFrame:
        """Responders (CR/PR) against non-responders (SD/PD) on baseline biomarkers.

        For every sampled quantity and every baseline state and observable: the
        median in each group, the Mann–Whitney U test's two-sided p-value and the
        area under the ROC curve of the biomarker for response (``AUC = U /
        (n_responders n_non)``; 0.5: no discrimination, 1 or 0: perfect).

        Returns
        -------
        pandas.DataFrame
            Index: biomarker; columns ``median_responders``, ``median_non_responders``,
            ``auc``, ``p_value``; sorted by ``|auc − 0.5|``, largest first.
        """
        import pandas as pd
        from scipy.stats import mannwhitneyu

        name = self._check_regimen(regimen)
        bor = self._readouts[name]["best_overall_response"]
        resp = np.isin(bor, ["CR", "PR"])
        non = np.isin(bor, ["SD", "PD"])
        base = self.baseline()
        rows = []
        for col in base.columns:
            v = base[col].to_numpy(dtype=float)
            a, b = v[resp & np.isfinite(v)], v[non & np.isfinite(v)]
            if a.size == 0 or b.size == 0 or np.ptp(v[np.isfinite(v)]) == 0:
                continue
            u = mannwhitneyu(a, b, alternative="two-sided")
            rows.append((col, float(np.median(a)), float(np.median(b)), float(u.statistic) / (a.size * b.size),
                         float(u.pvalue)))
        df = pd.DataFrame(rows, columns=["biomarker", "median_responders", "median_non_responders", "auc", "p_value"])
        df = df.set_index("biomarker")
        return df.reindex((df["auc"] - 0.5).abs().sort_values(ascending=False).index)

    # -- trajectories ---------------------------------------------------------------------
    def trajectory(self, patient: int, regimen: str | None = None) -> Trajectory:
        """One patient's trajectory on the output grid (needs ``keep_trajectories=True``).

        Under a regimen with adaptive rules the patient is simulated again from its state at
        treatment start (after any run-in, before the first dose) with the cohort's solver
        settings, so that the trajectory also carries the rule switches (``events``), the doses
        actually given (``schedule``) and the infusion rates the patient received (``u``); its
        states agree with the kept ones to the solver tolerance.

        Returns
        -------
        Trajectory
            Times :attr:`t` (days from treatment start), states and observables.
        """
        from ..solve import SolverStats
        from ..trajectory import Trajectory, simulate

        name = self._check_regimen(regimen)
        if not self._traj:
            raise SpecificationError("trajectories were not kept: simulate(..., keep_trajectories=True)")
        j = self.cohort._index(patient)
        reg = self.schedules[name].resolved(self.cohort.model, self.cohort.patient_covariates(j))  # its own doses
        c = compile_model(self.cohort.model)
        if not isinstance(reg, Schedule) and reg.rules:
            o = self._options
            solver = Solver(method="auto", rtol=o.rtol, atol=dict(zip(c.state_names, map(float, o.atol))),
                            max_step=o.max_step)
            return simulate(self.cohort.model, reg, t_end=float(self.t[-1]), t_eval=self.t,
                            params=dict(zip(c.param_names, self.cohort.param_matrix[:, j])),
                            initial=dict(zip(c.state_names, self._baseline_states[:, j])), solver=solver)
        sched = reg if isinstance(reg, Schedule) else reg.schedule
        u = DosingPlan.build(c.drug_names, sched, float(self.t[0]), float(self.t[-1])).rates_at(self.t)
        return Trajectory(t=self.t, y=self._traj[name][:, :, j].T, u=u, params=self.cohort.param_matrix[:, j],
                          model=self.cohort.model, schedule=sched,
                          stats=SolverStats(self.stats.method, 0, 0, 0, 0, 0, 0.0))

    # -- plots ----------------------------------------------------------------------------
    def waterfall(self, regimen: str | None = None, ax: Any = None, **kwargs: Any) -> Any:
        """Waterfall plot of best percent change (see :func:`tumordyn.cohorts.plots.waterfall`)."""
        from .plots import waterfall

        name = self._check_regimen(regimen)
        ro = self._readouts[name]
        return waterfall(ro["best_percent_change"], ro["best_overall_response"], ax=ax,
                         title=kwargs.pop("title", f"Best response: {name}"), **kwargs)

    def plot_kaplan_meier(self, regimen: str | None = None, ax: Any = None, *, endpoint: str = "scan",
                          **kwargs: Any) -> Any:
        """Kaplan–Meier curves of time to progression per regimen (see :func:`tumordyn.cohorts.plots.km_plot`)."""
        from .plots import km_plot

        return km_plot(self.kaplan_meier(regimen, endpoint=endpoint), ax=ax, **kwargs)

    def spider(self, regimen: str | None = None, ax: Any = None, *, n_patients: int = 30, **kwargs: Any) -> Any:
        """Spider plot of percent change at the scans (see :func:`tumordyn.cohorts.plots.spider`)."""
        from .plots import spider

        name = self._check_regimen(regimen)
        ro = self._readouts[name]
        return spider(self.scan_times, ro["scan_percent_change"], ro["best_overall_response"], ax=ax,
                      n_patients=n_patients, seed=self.cohort.seed,
                      title=kwargs.pop("title", f"Change from baseline: {name}"), **kwargs)

    def swimmer(self, regimen: str | None = None, ax: Any = None, *, n_patients: int = 30, **kwargs: Any) -> Any:
        """Swimmer plot of time on study (see :func:`tumordyn.cohorts.plots.swimmer`)."""
        from .plots import swimmer

        name = self._check_regimen(regimen)
        ro = self._readouts[name]
        return swimmer(ro["time_to_progression_scan"], ro["time_to_response_scan"], ro["best_overall_response"],
                       t_end=self.t_end, ax=ax, n_patients=n_patients, seed=self.cohort.seed,
                       title=kwargs.pop("title", f"Time on study: {name}"), **kwargs)

