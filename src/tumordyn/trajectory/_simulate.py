"""Simulate a model under a dosing schedule, exactly at every dose: :func:`simulate`, :func:`simulate_batch`.

The horizon is cut at every *breakpoint* of the schedule (dose times, infusion
starts and ends). At each breakpoint the bolus doses due then are applied once
(doses of the same drug at the same time add up), the infusion rates in force
until the next breakpoint are set, and the ODE is integrated up to the next
breakpoint. The solver never steps over a dose. Values reported at a dose time
are the values *after* the dose (right-continuous), including a dose at the
horizon.

Both entry points validate their input, turn the schedule into a
:class:`~tumordyn.dosing._plan.DosingPlan` once and hand a :class:`~tumordyn.solve._problem.Problem`
to the one dispatcher :func:`tumordyn.solve._dispatch.solve`.
"""

from __future__ import annotations

import functools
import math
import time as _time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validate import check_window as _check_window
from ..dosing import DosingPlan, RulePlan, as_regimen, check_schedule
from ..solve import SolverStats, SolverStatus, solve
from ..dosing import Schedule
from ..solve import COMPILED_METHOD, SCIPY_METHODS, Problem, Solver, SolverOptions
from ..errors import SpecificationError
from ..numerics import compile_model
from ._batch import BatchTrajectory

from ..spec import Model
from ._trajectory import Trajectory

if TYPE_CHECKING:
    from ..numerics import CompiledModel

__all__ = ["simulate", "simulate_batch", "METHODS", "default_times", "make_solver", "check_t_eval"]

#: The status of a solve that reached the end (a plain int: cheap to compare with a status array's entry).
_OK = int(SolverStatus.OK)

#: Integration methods: scipy's ``solve_ivp`` methods.
METHODS = SCIPY_METHODS


def default_times(t0: float, t_end: float) -> np.ndarray:
    """Default output grid: about 4 points per day, at most 2001 points, ends included (days); a new array."""
    return _default_times(float(t0), float(t_end)).copy()


@functools.lru_cache(maxsize=32)
def _default_times(t0: float, t_end: float) -> np.ndarray:
    n = int(min(2000, max(100, math.ceil((t_end - t0) * 4)))) + 1
    out = np.linspace(t0, t_end, n)
    out.flags.writeable = False
    return out








def check_t_eval(t_eval: Any, t0: float, t_end: float) -> np.ndarray:
    """Output times (days) as a sorted float array within ``[t0, t_end]``; ``None`` gives :func:`default_times`.

    Raises
    ------
    TypeError
        If ``t_eval`` is not a sequence of numbers.
    SpecificationError
        For an empty, non-finite, unsorted or out-of-window ``t_eval`` (the entry is named).
    """
    if t_eval is None:
        return default_times(t0, t_end)
    try:
        te = np.array(t_eval, dtype=float)
    except (TypeError, ValueError):
        raise TypeError("`t_eval` must be a 1-D sequence of times in days") from None
    # fast path: sorted (no NaN compares true) with both ends in the window implies finite and in the window
    if te.ndim == 1 and te.size and t0 <= te[0] and te[-1] <= t_end and np.logical_and.reduce(te[1:] >= te[:-1]):
        return te
    if te.ndim != 1 or te.size == 0:
        raise SpecificationError(f"`t_eval` must be a non-empty 1-D array of times, got shape {te.shape}")
    if not np.all(np.isfinite(te)):
        raise SpecificationError(f"`t_eval` has a non-finite time at index {int(np.argmin(np.isfinite(te)))}")
    bad = np.nonzero(np.diff(te) < 0)[0]
    if bad.size:
        i = int(bad[0])
        raise SpecificationError(f"`t_eval` must be sorted: t_eval[{i}] = {te[i]} > t_eval[{i + 1}] = {te[i + 1]}")
    if te[0] < t0 or te[-1] > t_end:
        raise SpecificationError(
            f"`t_eval` must lie within [t0, t_end] = [{t0}, {t_end}] days; got [{te[0]}, {te[-1]}]"
        )
    return te




def make_solver(solver: Solver | None, *, method: str | None = None, rtol: float | None = None,
                atol: float | Mapping[str, float] | None = None, max_step: float | None = None,
                max_steps: int | None = None, default_method: str = "auto") -> Solver:
    """The :class:`~tumordyn.Solver` of a call that takes ``solver=`` or the separate keywords.

    Raises
    ------
    TypeError
        If ``solver`` is not a :class:`~tumordyn.Solver`.
    SpecificationError
        If both ``solver`` and one of the separate keywords are given.
    """
    given = {k: v for k, v in dict(method=method, rtol=rtol, atol=atol, max_step=max_step,
                                    max_steps=max_steps).items() if v is not None}
    if solver is None:
        given.setdefault("method", default_method)
        return Solver(**given)
    if not isinstance(solver, Solver):
        raise TypeError(f"`solver` must be a tumordyn.Solver, got {type(solver).__name__}")
    if given:
        raise SpecificationError(f"give the solver settings in `solver` or as keywords, not both (got {sorted(given)})")
    return solver


#: Resolved solver settings kept per compiled model (keyword calls of :func:`simulate` only).
_OPTIONS_CACHE_SIZE = 16


def _solver_options(compiled: CompiledModel, solver: Solver | None, method: Any, rtol: Any, atol: Any,
                    max_step: Any) -> SolverOptions:
    """``make_solver(...).options(compiled)``, memoised on the compiled model for scalar keyword settings.

    Only settings that validated are cached, keyed with their types (so ``True`` never stands for ``1``);
    :class:`SolverOptions` is immutable (its ``atol`` read-only), so the cached value is shared safely.
    """
    if solver is not None or isinstance(atol, Mapping):
        return make_solver(solver, method=method, rtol=rtol, atol=atol, max_step=max_step).options(compiled)
    key = (type(method), method, type(rtol), rtol, type(atol), atol, type(max_step), max_step)
    cache = compiled.__dict__.setdefault("_simulate_options", {})
    try:
        opts = cache.get(key)
    except TypeError:  # an unhashable setting: not cached (the Solver reports it)
        return make_solver(solver, method=method, rtol=rtol, atol=atol, max_step=max_step).options(compiled)
    if opts is None:
        opts = make_solver(solver, method=method, rtol=rtol, atol=atol, max_step=max_step).options(compiled)
        if len(cache) >= _OPTIONS_CACHE_SIZE:
            cache.clear()
        cache[key] = opts
    return opts


def simulate(
    model: Model,
    schedule: Schedule | None = None,
    *,
    t_end: float,
    t_eval: Sequence[float] | np.ndarray | None = None,
    params: Mapping[str, float] | None = None,
    initial: Mapping[str, float] | None = None,
    t0: float = 0.0,
    solver: Solver | None = None,
    method: str | None = None,
    rtol: float | None = None,
    atol: float | Mapping[str, float] | None = None,
    max_step: float | None = None,
    covariates: Mapping[str, float] | None = None,
) -> Trajectory:
    """Simulate ``model`` under ``schedule`` from ``t0`` to ``t_end`` (days).

    Parameters
    ----------
    model : Model
        The model (e.g. ``tumordyn.models.tumor_immune_tme()``).
    schedule : Schedule, Regimen or AdaptiveRule, optional
        Doses and infusions; ``None`` means no treatment. Every dose in
        ``[t0, t_end]`` is applied exactly once (a dose at ``t_end`` included).
        A :class:`~tumordyn.Regimen` (e.g. ``schedule + td.AdaptiveRule(...)``)
        adds state-dependent rules: their switch times are located by the
        integrator (root finding on the compiled engine's dense output, or
        scipy's event location on the scipy methods), ``traj.schedule`` is then
        the *realised* schedule (the doses actually given) and ``traj.events``
        the switches.
    t_end : float
        Horizon (days), greater than ``t0``.
    t_eval : array_like, optional
        Sorted output times within ``[t0, t_end]`` (days). Default: a grid of
        about four points a day (at most 2001 points).
    params : mapping, optional
        Parameter values overriding the model's defaults (checked against bounds).
    initial : mapping, optional
        Initial values overriding the model's defaults, by state name.
    t0 : float, optional
        Initial time (days, >= 0). Default 0.
    solver : Solver, optional
        How to integrate (method, tolerances, step budget); default ``td.Solver()``. The keywords
        ``method``, ``rtol``, ``atol`` and ``max_step`` are a shorthand for the same settings (give
        one or the other).
    method : str, optional
        ``"auto"``: the compiled integrator ``"dopri5"`` when numba is installed
        (falling back to LSODA if the problem turns out stiff or exhausts the
        step budget), else LSODA; adaptive rules included. ``"dopri5"``: the compiled
        Dormand–Prince 5(4) integrator (see the performance docs). Or a
        ``scipy.integrate.solve_ivp`` method: ``"LSODA"``, ``"RK45"``,
        ``"DOP853"``, ``"RK23"``, ``"BDF"``, ``"Radau"``; implicit methods use
        the analytic Jacobian. ``"batch"``: Dormand–Prince vectorised in numpy.
    rtol : float, optional
        Relative tolerance (default 1e-6).
    atol : float or mapping, optional
        Absolute tolerance for all states, or by state name; default: each
        state's ``atol`` from the spec (about one cell for cell counts).
    max_step : float, optional
        Largest step (days).
    covariates : mapping, optional
        The patient's body weight ``weight_kg`` (kg) and/or body-surface area ``bsa_m2`` (m²), which
        turn doses given per kg (``Dose(..., unit="mg/kg")``) or per m² (``unit="mg/m^2"``) into the
        drug's dose unit (see docs/units.md); ``traj.schedule`` holds the converted amounts.

    Returns
    -------
    Trajectory
        Times, states and observables by name, the schedule and solver counters.

    Raises
    ------
    UnknownNameError
        For an unknown parameter, state or drug name (the closest names are suggested).
    SpecificationError
        For non-finite or out-of-bounds values, unsorted or out-of-range times,
        doses outside ``[t0, t_end]`` or a bolus dose of a direct-input drug.
    SolverError
        If the solver fails or produces non-finite values; carries the time reached.
    NegativeStateError
        If a non-negative state falls below zero by more than 100 times its error tolerance
        (``atol + rtol * max |y|`` over the segment; smaller undershoots are reported as 0).

    Examples
    --------
    >>> import tumordyn as td
    >>> m = td.models.logistic_growth()
    >>> traj = td.simulate(m, t_end=10.0, t_eval=[0, 5, 10])
    >>> traj["N"].round(1)
    array([ 10. ,  ...])
    """
    if not isinstance(model, Model):
        raise TypeError(f"`model` must be a tumordyn Model, got {type(model).__name__}")

    regimen = as_regimen(schedule)  # Schedule, Regimen (schedule + adaptive rules), AdaptiveRule or None
    regimen = regimen.resolved(model, covariates)  # doses in mg/kg, mg/m^2... -> the drugs' dose units
    schedule = regimen.schedule
    t0, t_end = _check_window(t0, t_end)
    compiled = compile_model(model)
    check_schedule(compiled, schedule, t0=t0, t_end=t_end, where=f"model {model.name!r}")
    if regimen.rules:
        regimen.validate(model, t_end=t_end, t0=t0)
    te = check_t_eval(t_eval, t0, t_end)
    p = compiled.param_vector(params)
    y0 = compiled.initial_vector(initial)
    opts = _solver_options(compiled, solver, method, rtol, atol, max_step)

    started = _time.perf_counter()
    events: tuple = ()
    if regimen.rules:
        # state-dependent rules: one plan with the rules in array form; the engine locates the switches
        rules = RulePlan.build(compiled, regimen, t0, t_end)
        sol = solve(Problem(compiled, rules.dosing, p[None, :], y0[None, :], te, rules), opts)
        sol.raise_first_failure(compiled)
        log = sol.rules
        assert log is not None
        ys, us = sol.y[0], log.u[0]
        events = log.events(0, rules)
        schedule = rules.realised(log.given[0], *log.switch_times(0))
        stats = SolverStats(sol.methods[0], int(sol.nfev[0]), int(sol.njev[0]), int(sol.nlu[0]),
                            int(log.n_segments[0]), int(log.n_doses[0]), wall_time=_time.perf_counter() - started)
    else:
        plan = DosingPlan.build(compiled.drug_names, schedule, t0, t_end)
        sol = solve(Problem(compiled, plan, p[None, :], y0[None, :], te), opts)
        if sol.status[0] != _OK:
            sol.raise_first_failure(compiled)
        ys, us = sol.y[0], sol.u
        stats = SolverStats(sol.methods[0], int(sol.nfev[0]), int(sol.njev[0]), int(sol.nlu[0]), plan.n_segments,
                            plan.n_doses, wall_time=_time.perf_counter() - started)
    # te, p and the solver's output arrays are new and private to this call: the trajectory takes them
    return Trajectory._owning(
        t=te,
        y=ys,
        u=us,
        params=p,
        model=model,
        schedule=schedule,
        stats=stats,
        events=tuple(events),  # adaptive-rule switches (RuleEvent), empty without rules
        regimen=regimen,
    )


#: The covariate values a regimen is resolved with to give the amounts per unit of covariate (each patient's
#: dose is then that amount times the patient's covariate: the conversion is linear in it).
UNIT_COVARIATES = {"weight_kg": 1.0, "bsa_m2": 1.0}


def dose_scaling(model: Model, regimen: Any, covariates: Mapping[str, np.ndarray], b: int,
                  ) -> tuple[Any, np.ndarray | None]:
    """A regimen in its drugs' dose units and each patient's factor per drug, for one batched solve.

    ``covariates``: each covariate's values, shape ``(b,)`` (kg, m²), validated (finite, > 0).

    A dose per kg (``"mg/kg"``) becomes ``amount × weight_kg`` (:func:`tumordyn.spec.convert_amount`), linear in
    the covariate: the regimen is resolved with covariates 1 and patient ``j``'s doses of drug ``d`` are
    multiplied by ``scale[j, d]``, its covariate (shape ``(b, n_drugs)``). Returns ``(regimen, None)`` when no
    dose needs a covariate, and ``(None, None)`` when one drug mixes doses on different bases (per kg and
    per m², or per kg and absolute), which no per-drug factor represents (its patients are then simulated
    one by one, each with its own resolved regimen).
    """
    from ..dosing import Dose
    from ..spec import COVARIATES, dose_covariate

    items = list(regimen) if isinstance(regimen, Schedule) else list(regimen.schedule)
    if not isinstance(regimen, Schedule):
        items += [it for r in regimen.rules if isinstance(r.on, Schedule) for it in r.on]
    if not any(it.unit is not None for it in items):
        return regimen, None
    compiled = compile_model(model)
    kinds: dict[str, set[str | None]] = {}
    for it in items:
        drug = model.drugs[it.drug]
        target = drug.dose_unit
        if not isinstance(it, Dose) and drug.compartment is not None and drug.dose_unit:
            target = f"({drug.dose_unit})/day"
        kinds.setdefault(it.drug, set()).add(dose_covariate(it.unit, target, f"the {it._describe()}"))
    if any(len(k) > 1 for k in kinds.values()):
        return None, None
    scale = np.ones((b, compiled.n_drugs))
    for drug, (key,) in kinds.items():
        if key is None:
            continue
        if key not in covariates:
            what = "body weight" if key == "weight_kg" else "body-surface area"
            raise SpecificationError(f"drug {drug!r} is dosed per {COVARIATES[key]} of {what}: every patient needs "
                                     f"covariate {key!r} ({COVARIATES[key]})")
        scale[:, compiled.drug_names.index(drug)] = covariates[key]
    return regimen.resolved(model, UNIT_COVARIATES), scale


# ----------------------------------------------------------------------------------
# Batch: many parameter sets, one schedule
# ----------------------------------------------------------------------------------


def _batch_initial(compiled: CompiledModel, initial: Any, n_batch: int) -> np.ndarray:
    if initial is None or isinstance(initial, Mapping):
        y0 = compiled.initial_vector(initial)
        return np.tile(np.asarray(y0, dtype=float), (n_batch, 1))
    try:
        arr = np.array(initial, dtype=float)
    except (TypeError, ValueError):
        raise TypeError("`initial` must be None, a mapping of state name to value, or an array") from None
    if arr.ndim == 1:
        arr = np.broadcast_to(arr, (n_batch, arr.shape[0]))
    if arr.shape != (n_batch, compiled.n_states):
        raise SpecificationError(
            f"`initial` must have shape ({compiled.n_states},) or ({n_batch}, {compiled.n_states}) "
            f"(states {', '.join(compiled.state_names)}), got {np.shape(initial)}"
        )
    bad = ~np.isfinite(arr)
    if np.any(bad):
        r, c = np.argwhere(bad)[0]
        raise SpecificationError(f"`initial` row {r}: state {compiled.state_names[c]!r} is not finite ({arr[r, c]})")
    neg = (arr < 0) & compiled.nonnegative[None, :]
    if np.any(neg):
        r, c = np.argwhere(neg)[0]
        raise SpecificationError(
            f"`initial` row {r}: state {compiled.state_names[c]!r} is non-negative; got {arr[r, c]}"
        )
    return np.array(arr, dtype=float, order="C")


def _batch_params(compiled: CompiledModel, params: Any) -> np.ndarray:
    try:
        arr = np.array(params, dtype=float)
    except (TypeError, ValueError):
        raise TypeError("`params` must be an array of shape (B, n_params) of floats") from None
    if arr.ndim == 1 and arr.shape[0] == compiled.n_params:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != compiled.n_params or arr.shape[0] == 0:
        raise SpecificationError(
            f"`params` must have shape (B, {compiled.n_params}) with columns in the order "
            f"compile_model(model).param_names = {compiled.param_names}; got shape {np.shape(params)}"
        )
    bad = ~np.isfinite(arr)
    if np.any(bad):
        r, c = np.argwhere(bad)[0]
        raise SpecificationError(f"`params` row {r}: parameter {compiled.param_names[c]!r} is not finite ({arr[r, c]})")
    out = (arr < compiled.lower_bounds[None, :]) | (arr > compiled.upper_bounds[None, :])
    if np.any(out):
        r, c = np.argwhere(out)[0]
        raise SpecificationError(
            f"`params` row {r}: parameter {compiled.param_names[c]!r} = {arr[r, c]:g} is outside its bounds "
            f"[{compiled.lower_bounds[c]:g}, {compiled.upper_bounds[c]:g}]"
        )
    return np.array(arr, dtype=float, order="C")


def _covariate_rows(covariates: Any, n_rows: int) -> dict[str, np.ndarray] | None:
    """Per-row covariates as arrays by name (``None``: one mapping, or none, for every row)."""
    from .._validate import real_number
    from ..spec import COVARIATES

    if covariates is None or isinstance(covariates, Mapping):
        return None
    if hasattr(covariates, "columns") and hasattr(covariates, "to_dict"):  # a DataFrame: one row per patient
        covariates = covariates.to_dict("records")
    if isinstance(covariates, (str, bytes)) or not isinstance(covariates, Sequence):
        raise TypeError("`covariates` must be a mapping (every row), a sequence of mappings or a DataFrame (one per "
                        f"row), got {type(covariates).__name__}")
    if len(covariates) != n_rows:
        raise SpecificationError(f"`covariates` has {len(covariates)} rows but `params` has {n_rows}")
    out: dict[str, np.ndarray] = {}
    for j, row in enumerate(covariates):
        if not isinstance(row, Mapping):
            raise TypeError(f"`covariates` row {j} must be a mapping such as {{'weight_kg': 70}}, got {row!r}")
        for key in COVARIATES:
            if key in row:
                out.setdefault(key, np.full(n_rows, np.nan))[j] = real_number(
                    row[key], f"`covariates` row {j}: {key!r}", minimum=0.0, strict=True, unit=COVARIATES[key])
    for key, v in out.items():
        if np.any(np.isnan(v)):
            raise SpecificationError(f"`covariates` row {int(np.argmax(np.isnan(v)))} has no {key!r} "
                                     f"({COVARIATES[key]}) though other rows do; give it for every row")
    return out


def simulate_batch(
    model: Model,
    params: np.ndarray,
    schedule: Any = None,
    *,
    t_end: float,
    t_eval: Any = None,
    initial: Any = None,
    t0: float = 0.0,
    solver: Solver | None = None,
    method: str | None = None,
    rtol: float | None = None,
    atol: float | Mapping[str, float] | None = None,
    max_step: float | None = None,
    max_steps: int | None = None,
    parallel: bool = False,
    on_error: str = "raise",
    covariates: Any = None,
) -> BatchTrajectory:
    """Simulate many parameter sets under one schedule.

    By default with the compiled integrator (``method="dopri5"``): the loop over patients runs
    inside numba (optionally in parallel threads with ``prange``) and each patient is integrated
    exactly as ``tumordyn.simulate(..., method="dopri5")`` would. Any other method of
    :class:`~tumordyn.Solver` works too (``"auto"`` hands stiff patients to LSODA; ``"batch"``
    needs no numba).

    Parameters
    ----------
    model : Model
        The model.
    params : array_like, shape (B, n_params)
        One full parameter vector per row, columns in the order
        ``compile_model(model).param_names`` (build one from defaults with
        ``compile_model(model).param_vector()``). Checked for finiteness and bounds.
    schedule : Schedule, Regimen or AdaptiveRule, optional
        Doses and infusions shared by all patients (``None``: no treatment). A
        :class:`~tumordyn.Regimen` with adaptive rules is applied to each patient separately:
        each switches its rules on its own trajectory (baselines per patient), in the kernel of the
        compiled engine or with solver events on a scipy method (the ``"batch"`` method refuses rules).
    t_end : float
        Horizon (days).
    t_eval : array_like, optional
        Sorted output times within ``[t0, t_end]`` (days); default as in
        :func:`tumordyn.simulate`.
    initial : None, mapping, array_like (n_states,) or (B, n_states), optional
        Initial states: the model's (with overrides by name) or per patient.
    t0 : float, optional
        Initial time (days).
    solver : Solver, optional
        How to integrate; default ``td.Solver(method="dopri5")``.
    method, rtol, atol, max_step, max_steps : optional
        Shorthand for the same settings of :class:`~tumordyn.Solver` (give these or ``solver``).
    parallel : bool, optional
        Spread patients over numba's threads (``numba.prange``).
    on_error : {"raise", "nan"}, optional
        ``"raise"``: a failed patient raises :class:`~tumordyn.errors.SolverError`
        (or :class:`~tumordyn.errors.NegativeStateError`) naming its row;
        ``"nan"``: its rows of the result are NaN and the others are returned.
    covariates : mapping, sequence of mappings or pandas.DataFrame, optional
        Body weight ``weight_kg`` (kg) and/or body-surface area ``bsa_m2`` (m²) for doses given per kg or
        per m² (as :func:`tumordyn.simulate`): one mapping for every row, or one per row of ``params`` (a
        sequence of ``B`` mappings, or a DataFrame of ``B`` rows, one column per covariate); each row then
        gets its own doses, exactly as ``simulate(..., covariates=row's)``.

    Returns
    -------
    BatchTrajectory
        States at ``t_eval`` labelled by patient (parameter row), time (days) and state name:
        ``.values`` has shape ``(B, len(t_eval), n_states)`` (read-only), states in the order
        ``compile_model(model).state_names``; values at a dose time are after the dose. It behaves
        as that array wherever one is expected (``np.asarray``, indexing, ``.shape``, arithmetic),
        and adds ``b["S"]`` (one state, shape ``(B, len(t_eval))``), ``.t``, ``.states``, ``.ok``,
        ``.to_dataframe()`` (long format), ``.to_xarray()`` and ``.plot(ax=)``.

    Raises
    ------
    ImportError
        If the compiled method is asked for and numba is not installed.
    SpecificationError, TypeError, UnknownNameError
        For malformed or out-of-bounds inputs (the row and name are given).
    SolverError, NegativeStateError
        With ``on_error="raise"``, for the first failed patient.

    Examples
    --------
    >>> import numpy as np, tumordyn as td
    >>> m = td.models.logistic_growth()
    >>> P = np.tile(compile_model(m).param_vector(), (3, 1))
    >>> b = td.simulate_batch(m, P, t_end=10.0, t_eval=[0, 10])
    >>> b.shape, b.states
    ((3, 2, 1), ('N',))
    >>> b.to_dataframe().shape
    (6, 1)
    """
    if not isinstance(model, Model):
        raise TypeError(f"`model` must be a tumordyn Model, got {type(model).__name__}")

    regimen = as_regimen(schedule)  # Schedule, Regimen (schedule + adaptive rules), AdaptiveRule or None
    P = _batch_params(compile_model(model), params)  # noqa: N806
    scale = None
    per_row = _covariate_rows(covariates, P.shape[0])
    if per_row is None:
        regimen = regimen.resolved(model, covariates)  # one mapping (or none) for every row
    else:  # one mapping per row: the doses of each row in its drugs' dose units, as a factor per row and drug
        base, scale = dose_scaling(model, regimen, per_row, P.shape[0])
        if base is None:
            raise SpecificationError(
                "simulate_batch: a drug is dosed on mixed bases (per kg or per m² together with another basis), "
                "which a per-row factor cannot represent with per-row covariates; simulate the rows one by one "
                "with td.simulate(..., covariates=...)")
        regimen = base
    schedule = regimen.schedule
    if on_error not in ("raise", "nan"):
        raise SpecificationError(f"`on_error` must be 'raise' or 'nan', got {on_error!r}")
    t0, t_end = _check_window(t0, t_end)
    compiled = compile_model(model)
    check_schedule(compiled, schedule, t0=t0, t_end=t_end, where=f"model {model.name!r}")
    if regimen.rules:
        regimen.validate(model, t_end=t_end, t0=t0)
    te = check_t_eval(t_eval, t0, t_end)
    Y0 = _batch_initial(compiled, initial, P.shape[0])  # noqa: N806
    opts = make_solver(solver, method=method, rtol=rtol, atol=atol, max_step=max_step, max_steps=max_steps,
                       default_method=COMPILED_METHOD).options(compiled)
    if regimen.rules:  # the rules in array form; each patient switches them on its own trajectory
        rules = RulePlan.build(compiled, regimen, t0, t_end)
        problem = Problem(compiled, rules.dosing, P, Y0, te, rules, scale)
    else:
        problem = Problem(compiled, DosingPlan.build(compiled.drug_names, schedule, t0, t_end), P, Y0, te, None,
                          scale)
    sol = solve(problem, opts, parallel=bool(parallel))
    if on_error == "raise":
        sol.raise_first_failure(compiled, lambda j: f" (params row {j})")
    ys = sol.y
    ys.flags.writeable = False
    return BatchTrajectory(te, ys, model, P, sol.ok, regimen if regimen.rules else schedule)
