"""Fit model parameters to data from many subjects with lmfit.

Data flow: a tidy table of observations (``subject, time, observable, value``,
optional ``sigma`` and ``censored``) is checked once and turned into index
arrays; each subject's dosing plan (:class:`~tumordyn.dosing._plan.DosingPlan`),
output times and solve problems are built once per fit; every residual call
integrates each subject through the one solve layer (:func:`tumordyn.solve._dispatch.solve`
or :class:`~tumordyn.solve._scipy.ScipyEngine`), exactly at every dose, and only at
the subject's observation times. Engine switches are decided on
:class:`~tumordyn.errors.SolverStatus` codes.

Leastsq-type optimizers get a Jacobian by *internal numerical differentiation*:
per subject, the unperturbed copy and one perturbed copy per free parameter that
concerns it are integrated in the same call (on a scipy method all subjects and copies
as one system, so they share one step-size sequence and the finite differences are
free of integrator noise).

Parameter naming in the lmfit :class:`~lmfit.Parameters`:

* a shared model parameter keeps its name (``r_S``);
* a per-subject model parameter is ``<name>__<subject>`` (``r_S__P01``);
* a fitted initial state is ``init_<state>`` (shared) or ``init_<state>__<subject>``.

``<subject>`` is the subject label as text with every character that is not a
letter, digit or underscore replaced by ``_`` (``"P-01"`` → ``P_01``).
"""

from __future__ import annotations

import copy
import functools
import math
import warnings
import re
import threading
import time as _time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .._progress import check_callback, lmfit_iter_cb, progress_bar
from .._validate import real_number as finite_value, renamed_keyword, time_in_days
from ..dosing import DosingPlan, Schedule
from ..numerics import compile_model
from ..spec import Model
from ..solve import BATCH_METHOD, COMPILED_METHOD, Problem, ScipyEngine, Solver, SolverStats, solve, solve_states
from ..errors import FitTimeoutError, FitWarning, SolverError, SolverStatus, SpecificationError, UnknownNameError
from ._growth import GrowthLaw, _all_below, _all_finite, _any

if TYPE_CHECKING:
    import lmfit
    import pandas as pd

    from ..trajectory import Trajectory

__all__ = [
    "fit",
    "FitResult",
    "FAILED_SOLVE_RESIDUAL",
    "LOG_FLOOR",
    "COMPILED_MAX_STEPS",
    "fit_solver",
    "finite_value",
    "per_subject",
    "subject_schedules",
    "run_minimizer",
]

#: Residual given to *every* data point when the ODE solve fails during a fit
#: (:class:`~tumordyn.errors.SolverError` or :class:`~tumordyn.errors.NegativeStateError`):
#: large and finite, so the optimizer rejects the step instead of receiving NaN.
FAILED_SOLVE_RESIDUAL = 1.0e4

#: Step cap (accepted + rejected) per subject and solve of the compiled integrator during a fit
#: whose solver settings are given as keywords (a :class:`~tumordyn.Solver` brings its own
#: ``max_steps``); beyond it the problem is taken as stiff and the fit switches to LSODA.
COMPILED_MAX_STEPS = 100_000
#: Statuses of an explicit engine (compiled or batch) after which a fit goes on with LSODA (stiff problems).
#: Not a step size underflow or non-finite values: those mark a trial solution that blows up (a singularity
#: within the data's time window), which an implicit method does not cure; that trial gets the penalised
#: residual (:data:`FAILED_SOLVE_RESIDUAL`) and the fit stays on its engine, as :func:`tumordyn.solve.solve`
#: does for ``method="auto"`` (handing such a trial to LSODA could grind on it without end).
_SWITCH_STATUSES = (SolverStatus.STIFF, SolverStatus.TOO_MANY_STEPS)

#: Smallest model prediction used on the log scale (a prediction of 0 becomes this).
LOG_FLOOR = 1.0e-300

#: Engine name of a fit that evaluates a :class:`~tumordyn.fitting.GrowthLaw`'s closed form instead of integrating.
CLOSED_FORM = "closed_form"
#: Default relative finite-difference step of a closed-form fit (the square root of the machine epsilon, as
#: scipy's 2-point Jacobian); an ODE fit's default is 1e-6 (above the integrator's error).
CLOSED_FORM_FD_STEP = float(np.sqrt(np.finfo(float).eps))

_MODES = ("shared", "subject")
_OK = int(SolverStatus.OK)  # (comparing an array with the enum member itself goes through enum machinery)
_REQUIRED = ("subject", "time", "observable", "value")
_COLUMNS = _REQUIRED + ("sigma", "censored")
#: the numpy dtype kinds :func:`_tidy_arrays` takes per column (text or integer subjects, text observables...)
_KINDS = {"subject": "Uiu", "observable": "U", "time": "fiu", "value": "fiu", "sigma": "fiu", "censored": "b"}
_LEASTSQ = ("leastsq", "least_squares")


# ----------------------------------------------------------------------------- helpers
def _unique(x: np.ndarray) -> np.ndarray:
    """The sorted distinct values of a 1-d array of finite numbers: :func:`numpy.unique`'s result, without its
    general machinery (a fit's set-up, once per fit)."""
    if x.size <= 64:  # (a few numbers: in Python; already strictly increasing is common, one record's times)
        v = x.tolist()
        if all([a < b for a, b in zip(v, v[1:])]):
            return x.astype(float)  # (a copy)
    s = np.sort(x)
    if s.size > 1:
        keep = np.empty(s.size, dtype=bool)
        keep[0] = True
        np.not_equal(s[1:], s[:-1], out=keep[1:])
        s = s[keep]
    return s


def _row_name(label: Any, pos: int) -> str:
    return f"row {label!r} (position {pos})"


#: what :func:`subject_key` replaces: every character that is not an ASCII letter, digit or underscore
_NOT_WORD = re.compile(r"\W", flags=re.ASCII)


def subject_key(subject: Any) -> str:
    """Text form of a subject label used in lmfit parameter names (``"P-01"`` → ``"P_01"``)."""
    return _NOT_WORD.sub("_", str(subject))


def _as_dataframe(data: Any) -> pd.DataFrame:
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data  # read only: tidy_data builds a new table
    if isinstance(data, Mapping):
        try:
            return pd.DataFrame({k: np.asarray(v) if not np.isscalar(v) else [v] for k, v in data.items()})
        except ValueError as err:
            raise SpecificationError(f"`data`: columns given as arrays must have equal lengths ({err})") from None
    raise TypeError(
        "`data` must be a pandas DataFrame or a mapping of column name to array with columns "
        f"{', '.join(_REQUIRED)} (optional sigma, censored); got {type(data).__name__}"
    )


def _is_number_dtype(dtype: Any) -> bool:
    """Whether a column's dtype is a numpy float, signed or unsigned integer (read without parsing)."""
    return isinstance(dtype, np.dtype) and dtype.kind in "fiu"


@functools.cache
def _str_dtype() -> Any:
    """The dtype pandas gives ``Series.astype(str)`` (``object`` before pandas 3, the string dtype after)."""
    import pandas as pd

    return pd.Series(["a"], dtype=object).astype(str).dtype


def _tidy_arrays(data: Any, quantities: Sequence[str], scale: str) -> _Table | None:
    """:func:`tidy_table` of a mapping of numpy arrays (text or integer subjects, text observables, numeric
    times, values and sigmas, boolean ``censored``) that passes every check, without pandas; ``None`` for
    anything else (other inputs, or a check that fails: :func:`tidy_table` then names the row)."""
    if isinstance(data, Mapping) and all([c in data for c in _REQUIRED]):
        cols = {c: data[c] for c in _COLUMNS if c in data}
        if all([isinstance(a, np.ndarray) and a.ndim == 1 for a in cols.values()]):
            n = len(cols["time"])
            if n and all([a.size == n and a.dtype.kind in _KINDS[c] for c, a in cols.items()]):
                out: dict[str, Any] = {"subject": cols["subject"].copy()}
                for c in ("time", "value", "sigma"):
                    if c in cols:
                        out[c] = cols[c].astype(float)  # (a copy)
                        if not _all_finite(out[c]):
                            return None
                if ("sigma" in out and (out["sigma"] <= 0).any()) or (scale == "log" and (out["value"] <= 0).any()):
                    return None
                obs = cols["observable"]
                if not set(obs.tolist()) <= set(quantities):
                    return None
                out["observable"] = obs.copy()
                out["censored"] = cols["censored"].copy() if "censored" in cols else np.zeros(n, dtype=bool)
                return _Table(out, range(n))
    return None


def tidy_table(data: Any, quantities: Sequence[str], scale: str, model_name: str) -> _Table:
    """Check an observation table and return a clean copy as columns (see :func:`fit` for the rules)."""
    fast = _tidy_arrays(data, quantities, scale)
    if fast is not None:
        return fast
    import pandas as pd

    df = _as_dataframe(data)
    columns = set(df.columns.tolist())  # (membership in a pandas Index is slow)
    missing = [c for c in _REQUIRED if c not in columns]
    if missing:
        raise SpecificationError(
            f"`data` lacks the column(s) {', '.join(missing)}; required: {', '.join(_REQUIRED)} "
            f"(optional: sigma, censored); got columns {', '.join(map(str, df.columns))}"
        )
    if len(df) == 0:
        raise SpecificationError("`data` has no rows")
    out: dict[str, Any] = {}  # the clean columns, made into one DataFrame at the end
    subj = df["subject"]
    # (the column's array asked directly: what Series.isna computes, without a new Series)
    bad = np.asarray(subj.array.isna(), dtype=bool)
    if bad.any():
        i = int(np.argmax(bad))
        raise SpecificationError(f"`data` {_row_name(df.index[i], i)}: subject is missing (NaN)")
    out["subject"] = subj.array.copy()  # (arrays, not Series: a DataFrame made of them aligns nothing)
    tcol = df["time"]
    if not _is_number_dtype(tcol.dtype):  # numbers are no dates or durations
        days = time_in_days(tcol, "`data` column time")
        if days is not tcol:
            df = df.assign(time=days)
            tcol = df["time"]
    for col in ("time", "value") + (("sigma",) if "sigma" in columns else ()):
        raw_col = tcol if col == "time" else df[col]  # (each column read once: a DataFrame item costs)
        if _is_number_dtype(raw_col.dtype):  # numbers (the common case): no parsing
            vals = raw_col.to_numpy(dtype=float, copy=True)
        else:
            vals = pd.to_numeric(raw_col, errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(vals)
        if bad.any():
            i = int(np.argmax(bad))
            raw = df[col].iloc[i]
            shown = repr(raw) if isinstance(raw, str) else str(raw)
            raise SpecificationError(
                f"`data` {_row_name(df.index[i], i)}: {col} is {shown}; "
                "it must be a finite number"
            )
        out[col] = vals
    if "sigma" in out and np.any(out["sigma"] <= 0):
        i = int(np.argmax(out["sigma"] <= 0))
        raise SpecificationError(f"`data` {_row_name(df.index[i], i)}: sigma must be > 0, got {out['sigma'][i]}")
    obs = df["observable"]
    known = set(quantities)
    for i, name in enumerate(obs.to_numpy(dtype=object).tolist()):  # (not the Series: its items are slow)
        if name not in known:
            raise UnknownNameError(
                "observable", name, quantities, f"`data` {_row_name(df.index[i], i)} (model {model_name!r})"
            )
    # already text of the dtype astype(str) gives (pandas >= 3 infers it): kept as is, else converted
    same = obs.dtype == _str_dtype() and obs.dtype != object
    out["observable"] = obs.array.copy() if same else obs.astype(str).array
    if "censored" in columns:
        cens = df["censored"]
        if cens.dtype == np.dtype(bool):  # numpy booleans (the common case): no missing values, nothing to convert
            out["censored"] = cens.to_numpy(dtype=bool, copy=True)
        else:
            if cens.isna().any():
                i = int(np.argmax(cens.isna().to_numpy()))
                raise SpecificationError(f"`data` {_row_name(df.index[i], i)}: censored must be True or False, "
                                         "got NaN")
            out["censored"] = cens.astype(bool).to_numpy(dtype=bool, copy=True)
    else:
        out["censored"] = np.zeros(len(df), dtype=bool)
    if scale == "log":
        bad = out["value"] <= 0
        if bad.any():
            i = int(np.argmax(bad))
            raise SpecificationError(
                f"`data` {_row_name(df.index[i], i)}: value {out['value'][i]} of {out['observable'][i]!r} "
                "is not positive, which the log scale cannot take; use scale='linear', or mark it censored "
                "at the detection limit"
            )
    return _Table(out, df.index)


def tidy_data(data: Any, quantities: Sequence[str], scale: str, model_name: str) -> pd.DataFrame:
    """Check an observation table and return a clean copy (see :func:`fit` for the rules)."""
    return tidy_table(data, quantities, scale, model_name).frame


class _Table:
    """A checked observation table (:func:`tidy_table`): its columns as arrays (copies, never the user's),
    made into a DataFrame only when :attr:`frame` is first read (a fit reads only the arrays)."""

    __slots__ = ("columns", "index", "_frame")

    def __init__(self, columns: dict[str, Any], index: Any, frame: pd.DataFrame | None = None) -> None:
        self.columns = columns  # name -> numpy array or pandas extension array
        self.index = index  # the user's row labels (named in errors)
        self._frame = frame

    @classmethod
    def of(cls, frame: pd.DataFrame) -> _Table:
        """Wrap a table :func:`tidy_data` returned."""
        return cls({c: frame[c].array for c in frame.columns}, frame.index, frame)

    def __len__(self) -> int:
        return len(self.index)

    @property
    def frame(self) -> pd.DataFrame:
        """The table as a DataFrame (built once, on first access)."""
        if self._frame is None:
            import pandas as pd

            self._frame = pd.DataFrame(self.columns, index=self.index)
        return self._frame


def _check_scale(scale: str) -> str:
    if scale not in ("log", "linear"):
        raise SpecificationError(f"`scale` must be 'log' or 'linear', got {scale!r}")
    return scale


def _modes(spec: Any, valid: Sequence[str], kind: str, arg: str, default: str, where: str) -> dict[str, str]:
    if spec is None:
        return {}
    if isinstance(spec, str):
        spec = [spec]
    if isinstance(spec, Mapping):
        items = list(spec.items())
    elif isinstance(spec, Iterable):
        items = [(n, default) for n in spec]
    else:
        raise TypeError(f"`{arg}` must be a list of {kind} names or a mapping name -> 'shared'/'subject'")
    out: dict[str, str] = {}
    for name, mode in items:
        if name not in valid:
            raise UnknownNameError(kind, name, valid, f"`{arg}` ({where})")
        if mode not in _MODES:
            raise SpecificationError(f"`{arg}`: mode of {kind} {name!r} must be 'shared' or 'subject', got {mode!r}")
        if name in out:
            raise SpecificationError(f"`{arg}`: {kind} {name!r} is listed twice")
        out[name] = mode
    return out


def per_subject(value: Any, subjects: Sequence[Any], arg: str, inner: str) -> dict[Any, Mapping[str, float]]:
    """One mapping per subject from ``value``: one mapping for all subjects, or a mapping subject -> mapping.

    Raises
    ------
    UnknownNameError
        For a subject key that is not in ``subjects``.
    SpecificationError
        If per-subject mappings and plain values are mixed.
    """
    if value is None:
        return {s: {} for s in subjects}
    if not isinstance(value, Mapping):
        raise TypeError(f"`{arg}` must be a mapping of {inner}, or of subject to such a mapping")
    nested = [isinstance(v, Mapping) for v in value.values()]
    if value and all(nested):
        for s in value:
            if s not in subjects:
                raise UnknownNameError("subject", s, [str(x) for x in subjects], f"`{arg}` (not in `data`)")
        return {s: dict(value.get(s, {})) for s in subjects}
    if any(nested):
        raise SpecificationError(f"`{arg}` mixes per-subject mappings and plain values; use one or the other")
    return {s: dict(value) for s in subjects}


@functools.cache
def _no_treatment() -> Schedule:
    """The empty schedule of subjects given none (immutable, made once: its dosing plans are memoised on it)."""
    return Schedule()


def subject_schedules(schedules: Any, subjects: Sequence[Any], model: Model,
                      t0: float | Mapping[Any, float], covariates: Any = None) -> dict[Any, Schedule]:
    """The schedule of every subject (one for all, or one per subject), checked against ``model`` from ``t0`` days.

    ``covariates`` (one mapping for all subjects, or one per subject id) turn doses per kg or per m² into
    each subject's amounts (:meth:`Schedule.resolved`).

    Raises
    ------
    UnknownNameError
        For a subject key that is not in ``subjects`` or an unknown drug.
    SpecificationError
        For a subject without schedule, a dose before ``t0`` or a bolus of a direct-input drug.
    """
    if schedules is None:
        out = dict.fromkeys(subjects, _no_treatment())  # (one immutable empty schedule)
    elif isinstance(schedules, Schedule):
        out = {s: schedules for s in subjects}
    elif isinstance(schedules, Mapping):
        for s in schedules:
            if s not in subjects:
                raise UnknownNameError("subject", s, [str(x) for x in subjects], "`schedules` (not in `data`)")
        out = {}
        for s in subjects:
            if s not in schedules:
                raise SpecificationError(
                    f"subject {s!r} of `data` has no schedule in `schedules`; give it one "
                    "(an empty Schedule() for no treatment)"
                )
            if not isinstance(schedules[s], Schedule):
                raise TypeError(f"`schedules[{s!r}]` must be a Schedule, got {type(schedules[s]).__name__}")
            out[s] = schedules[s]
    else:
        raise TypeError(f"`schedules` must be a Schedule or a mapping subject -> Schedule, got {type(schedules).__name__}")
    if covariates is not None:
        cov = per_subject(covariates, subjects, "covariates", "covariate name to value (weight_kg, bsa_m2)")
        out = {s: sch.resolved(model, cov[s]) for s, sch in out.items()}
    compiled = compile_model(model)
    for s, sch in out.items():
        if not sch.doses and not sch.infusions:  # an empty schedule has nothing to check
            continue
        sch.validate(model.drugs.names, t0=t0[s] if isinstance(t0, Mapping) else t0, where=f"schedule of subject {s!r} (model {model.name!r})")
        for dose in sch.doses:
            if compiled.dose_compartment[compiled.drug_names.index(dose.drug)] < 0:
                raise SpecificationError(
                    f"schedule of subject {s!r}: drug {dose.drug!r} is a direct-input drug; it takes "
                    f"Infusion items, not the bolus Dose at t = {dose.time} days"
                )
    return out


# ----------------------------------------------------------------------------- the problem
@dataclass(frozen=True)
class _Var:
    """One lmfit parameter: which entry it sets, for which subjects."""

    name: str
    kind: str  # "param" or "init"
    index: int  # into the parameter vector or the state vector
    target: str  # model parameter or state name
    subjects: tuple[int, ...]


@dataclass
class _Subject:
    """One subject's part of a fit, built once: rows, output times, dosing plan, where each row is read."""

    rows: np.ndarray  # its rows of the data
    t_eval: np.ndarray  # its observation times (days)
    plan: DosingPlan
    st: np.ndarray  # positions (within rows) of rows observing a state ...
    st_ti: np.ndarray  # ... their time index into t_eval
    st_qi: np.ndarray  # ... and state index
    ob: np.ndarray  # positions of rows observing an observable ...
    ob_ti: np.ndarray
    ob_qi: np.ndarray  # ... and observable index
    problems: dict[int, Problem]  # solve problems by number of copies, refilled per evaluation
    #: closed-form fits with one drug level throughout: days since the start, shape (1, k), and the level
    closed_t: np.ndarray | None = None
    closed_u: float | None = None


@dataclass(frozen=True)
class _ClosedSolution:
    """What :meth:`_Problem._solve_subjects` reads of a solution, from a closed form (never fails:
    non-finite values are caught by the residual)."""

    y: np.ndarray  # (B, k, n_states)
    u: np.ndarray  # (k, n_drugs)
    status: np.ndarray  # (B,) all OK


#: Largest analytic Jacobian entry used: beyond it (an initial volume near its bound of 0, where the true slope
#: d V / d V0 runs to 1e150 and more) scipy's trust region squares the entries to inf, so finite differences
#: (whose step bounds the slope) are used for that evaluation instead
_ANALYTIC_JACOBIAN_LIMIT = 1e100


class _Problem:
    """Everything a residual evaluation needs, computed once."""

    #: a closed-form law's Jacobian from its generated gradient where one exists (else finite differences)
    analytic_jacobian = True
    #: whether numpy's floating-point warnings are silenced already (the direct least-squares loop, inside
    #: run_minimizer's ``np.errstate``): then :meth:`_quietly` does not silence them again at every evaluation
    _quiet = False
    #: ``least_squares`` fits that need nothing of lmfit during the fit call scipy on arrays and make the lmfit
    #: objects when first read (:func:`run_minimizer`); False sends them through lmfit's own ``least_squares``
    lean_result = True

    def __init__(
        self,
        model: Model,
        df: pd.DataFrame | _Table,
        free: dict[str, str],
        initial_free: dict[str, str],
        schedules: dict[Any, Schedule],
        params: Mapping[str, float],
        initial: dict[Any, Mapping[str, float]],
        bounds: Mapping[str, tuple[float, float]],
        scale: str,
        weights: Mapping[str, float],
        t0: float | Mapping[Any, float],
        solver: Solver,
        fd_step: float,
        init_bounds: Mapping[str, tuple[float, float]],
        law: GrowthLaw | None = None,
    ) -> None:
        c = compile_model(model)
        self.law = law if law is not None and law.closed_form else None
        if self.law is not None and (c.observable_names != ("tumor_volume",) or c.drug_names != ("drug",)):
            raise SpecificationError(f"growth law {law.name!r}: its model must be that of growth_model()")
        table = df if isinstance(df, _Table) else _Table.of(df)
        cols = table.columns
        self.model, self.compiled, self.table, self.scale = model, c, table, scale
        self.free, self.initial_free, self.fd_step = dict(free), dict(initial_free), fd_step
        self._init_bounds = dict(init_bounds)
        row_subject = cols["subject"].tolist()  # (once: iterating the column item by item is slow)
        row_observable = cols["observable"].tolist()
        self.subjects = tuple(dict.fromkeys(row_subject))  # order of first appearance
        self.keys = tuple(subject_key(s) for s in self.subjects)
        if len(set(self.keys)) != len(self.keys):
            raise SpecificationError(f"subject labels {self.subjects} collide once made into parameter-name suffixes")
        self.schedules = schedules
        S = len(self.subjects)
        sidx = {s: i for i, s in enumerate(self.subjects)}
        quantities = c.state_names + c.observable_names
        qidx = {q: i for i, q in enumerate(quantities)}
        times = np.asarray(cols["time"], dtype=float)
        #: start of each subject's simulation and schedule (days)
        self.t0s = {s: float(t0[s]) for s in self.subjects} if isinstance(t0, Mapping) else dict.fromkeys(
            self.subjects, float(t0))
        #: the common start when all subjects share one, else the earliest (days)
        self.t0 = min(self.t0s.values())
        row_t0 = np.array([self.t0s[s] for s in row_subject], dtype=float) if isinstance(t0, Mapping) else self.t0
        early = times < row_t0
        if _any(early):
            i = int(np.argmax(early))
            raise SpecificationError(
                f"`data` {_row_name(table.index[i], i)}: time {times[i]} days is before the start of the "
                f"simulation and schedule of subject {row_subject[i]!r}, t0 = {self.t0s[row_subject[i]]} days"
            )
        self.t_eval = _unique(times)
        self.t_end = float(self.t_eval[-1])
        self.ti = np.searchsorted(self.t_eval, times)
        self.qi = np.array([qidx[o] for o in row_observable], dtype=np.int64)
        self.si = np.array([sidx[s] for s in row_subject], dtype=np.int64)
        # per subject: its rows, its own observation times, and each row's index into them
        if S == 1:  # (one subject: all rows, all times)
            self.sub_rows, self.sub_t, self.sub_ti = [np.arange(len(table))], [self.t_eval], self.ti
        else:
            self.sub_rows = [np.flatnonzero(self.si == j) for j in range(S)]
            self.sub_t = [np.unique(times[r]) for r in self.sub_rows]
            self.sub_ti = np.empty(len(table), dtype=np.int64)
            for j, r in enumerate(self.sub_rows):
                self.sub_ti[r] = np.searchsorted(self.sub_t[j], times[r])
        self.with_obs = _any(self.qi >= c.n_states)
        self.censored = np.asarray(cols["censored"], dtype=bool)
        self.known_sigma = "sigma" in cols
        sigma = np.asarray(cols["sigma"], dtype=float) if self.known_sigma else None
        w = np.ones(len(table))
        for name, wv in (weights or {}).items():
            if name not in quantities:
                raise UnknownNameError("observable", name, quantities, "`weights`")
            wv = float(wv)
            if not (math.isfinite(wv) and wv > 0):
                raise SpecificationError(f"`weights[{name!r}]` must be a finite number > 0, got {wv}")
            w[np.array(row_observable, dtype=object) == name] = wv
        self.scale_factor = w / sigma if self.known_sigma else w  # (no sigma: 1)
        #: every row's factor is 1 (no sigma, unit weights): the residual and Jacobian skip multiplying by it (exact)
        self._unit_sf = not self.known_sigma and not _any(self.scale_factor != 1.0)
        self.target = self._transform(np.asarray(cols["value"], dtype=float))
        #: residual of every data row after a failed solve: FAILED_SOLVE_RESIDUAL times the largest weighted
        #: target (at least 1), so that it loses to any prediction of the data's order of magnitude
        weighted = self.target * self.scale_factor  # (finite: checked values, positive weights and sigmas)
        largest = max(map(abs, weighted.tolist())) if weighted.size <= 64 else float(np.abs(weighted).max())
        self.failed_residual = FAILED_SOLVE_RESIDUAL * max(1.0, largest)
        self.priors: tuple[tuple[int, bool, float, float], ...] = ()  # (variable index, log-normal, centre, sd)

        # base parameters and initial states, per subject column
        for name in params or {}:
            if name not in c.param_names:
                raise UnknownNameError("parameter", name, c.param_names, "`params`")
        P = c.defaults[:, None].repeat(S, axis=1)
        self.bounds: dict[str, tuple[float, float]] = {}
        for name in bounds or {}:
            if name not in c.param_names and name not in initial_free:
                raise UnknownNameError("free parameter or fitted initial state", name,
                                       list(free) + list(initial_free), "`bounds`")
            if name in c.param_names and name not in free:
                raise SpecificationError(f"`bounds` given for parameter {name!r}, which is not in `free`")
        for i, name in enumerate(c.param_names):
            spec = model.parameters[name]
            lo, hi = spec.bounds
            if name in (bounds or {}):
                lo, hi = _check_bounds(bounds[name], name)
            self.bounds[name] = (lo, hi)
            if name in (params or {}):
                v = params[name]
                if name in free:
                    v = finite_value(v, f"`params[{name!r}]`")
                    if not lo <= v <= hi:
                        raise SpecificationError(f"start value {v} of free parameter {name!r} is outside its "
                                                 f"bounds [{lo}, {hi}] ({spec.unit})")
                else:
                    v = spec.check_value(v, "`params`")
                P[i, :] = v
            elif name in free and not lo <= P[i, 0] <= hi:
                raise SpecificationError(f"default {P[i, 0]} of free parameter {name!r} is outside the bounds "
                                         f"[{lo}, {hi}] given in `bounds`; pass a start value in `params`")
        Y0 = np.empty((c.n_states, S))
        for j, s in enumerate(self.subjects):
            Y0[:, j] = c.initial_vector(initial.get(s), where=f"initial[{s!r}]")
        self.P0, self.Y00 = P, Y0

        # lmfit variables
        self.vars: dict[str, _Var] = {}
        allj = tuple(range(S))
        for name, mode in free.items():
            i = c.param_names.index(name)
            if mode == "shared":
                self.vars[name] = _Var(name, "param", i, name, allj)
            else:
                for j, key in enumerate(self.keys):
                    self.vars[f"{name}__{key}"] = _Var(f"{name}__{key}", "param", i, name, (j,))
        for name, mode in initial_free.items():
            i = c.state_names.index(name)
            if mode == "shared":
                self.vars[f"init_{name}"] = _Var(f"init_{name}", "init", i, name, allj)
            else:
                for j, key in enumerate(self.keys):
                    self.vars[f"init_{name}__{key}"] = _Var(f"init_{name}__{key}", "init", i, name, (j,))
        clash = [v for v in self.vars if v in c.param_names and self.vars[v].kind == "init"]
        if clash:
            raise SpecificationError(f"fitted initial state name(s) {clash} clash with model parameter names")
        self.var_subjects = {name: frozenset(v.subjects) for name, v in self.vars.items()}
        # per variable, once: into which matrix, which row, which subject columns (matrices() runs per evaluation)
        self._var_where = [(v.kind == "param", v.index, np.array(v.subjects, dtype=np.intp)) for v in self.vars.values()]
        self._var_names = tuple(self.vars)
        self._var_pos = {n: k for k, n in enumerate(self._var_names)}
        self.n_failed = 0
        self.n_solves = 0
        self.typical: dict[str, float] = {}  # typical size of each variable (finite-difference steps)
        self._start: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # start_values()
        self._subject_arrays()
        self.set_solver(solver)

    @property
    def df(self) -> pd.DataFrame:
        """The checked observations as a DataFrame (built on first access)."""
        return self.table.frame

    # -- integration -----------------------------------------------------------------
    def _subject_arrays(self) -> None:
        """Per subject, once per fit: its dosing plan, output times and where each of its rows is read."""
        c = self.compiled
        n = c.n_states
        self._sub: list[_Subject] = []
        for j, s in enumerate(self.subjects):
            rows = self.sub_rows[j]
            te = np.ascontiguousarray(self.sub_t[j])
            t0 = self.t0s[s]
            t_end = float(te[-1]) if te[-1] > t0 else t0 + 1.0
            plan = DosingPlan.build(c.drug_names, self.schedules[s], t0, t_end)
            ti, qi = (self.sub_ti, self.qi) if len(self.subjects) == 1 else (self.sub_ti[rows], self.qi[rows])
            on_obs = qi >= n
            k = np.count_nonzero(on_obs)
            if k == 0 or k == qi.size:  # (every row observes a state, or every row an observable)
                every, none = np.arange(qi.size, dtype=np.intp), np.empty(0, dtype=np.intp)
                st, ob = (every, none) if k == 0 else (none, every)
            else:
                st, ob = np.flatnonzero(~on_obs), np.flatnonzero(on_obs)
            sub = _Subject(rows, te, plan, st, ti[st], qi[st], ob, ti[ob], qi[ob] - n, {})
            levels = plan.rates[:, 0] if self.law is not None else None  # a growth law has the one drug
            if levels is not None and (plan.breaks.size <= 2 or not levels[:-1].any()):
                # one drug level throughout (GrowthLaw.states_on_plan's unchained case), evaluated directly
                sub.closed_t = te[None, :] - float(plan.breaks[0])
                sub.closed_u = float(levels[0]) if levels.size else 0.0
            self._sub.append(sub)
        #: rows that are censored (a residual of every other row is used as is)
        self._any_censored = _any(self.censored)
        #: one subject, one population, one drug level, rows in order: (each row's days since the start, the
        #: level, each variable's position in (parameters..., S), those values at the start), else None
        self._lean: tuple[np.ndarray, float, list[int], list[float]] | None = None
        sub = self._sub[0]
        # (one subject's rows are all rows, in order: __init__)
        if self.law is not None and not self.law.resistant and len(self._sub) == 1 and sub.closed_t is not None:
            order = {n: i for i, n in enumerate(c.param_names + ("S",))}
            pos = [order.get(v.target, -1) for v in self.vars.values()]
            if min(pos, default=0) >= 0:
                self._lean = (sub.closed_t[0][self.sub_ti], float(sub.closed_u), pos,
                              self.P0[:, 0].tolist() + [float(self.Y00[0, 0])])
        self._ks_of: dict[tuple[str, ...], list[np.ndarray]] = {}  # jacobian_at: variables of each subject
        self._layouts: dict[tuple[int, ...], tuple[np.ndarray, ...]] = {}  # _gather: by the copies per subject
        self._jac_layouts: dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray]] = {}  # jacobian_at: by names, copies
        self._jac_ahead: tuple[Any, ...] | None = None  # residual_ahead: (engine, key, values, J, steps)
        self._ahead_paid = True  # whether the last residual_ahead's Jacobian was taken (then look ahead again)
        self.n_ahead_used = 0

    def set_solver(self, solver: Solver) -> None:
        """Choose the engines of the fit from ``solver`` (resolved against the model once).

        ``"auto"``/``"dopri5"``: the compiled engine, then (for the rest of the fit, on a
        :data:`_SWITCH_STATUSES` status) LSODA; ``"batch"``: the numpy Dormand–Prince engine, then
        LSODA; a scipy method: that method. Scipy methods integrate all subjects and their copies
        (base and finite-difference perturbations) as one system, so they share one step-size sequence.
        A closed-form law has the one engine :data:`CLOSED_FORM`, which integrates nothing (no options).
        """
        c = self.compiled
        #: (engine, the variables' values as bytes, predictions) of the last solve
        self._memo: tuple[Any, ...] | None = None
        self._jac_ahead = None
        self._engine = 0
        self.solver = solver
        if self.law is not None:
            if isinstance(solver.atol, Mapping):
                solver.options(c)  # (atol names still checked against the model)
            self.opts = None
            self._engines = [(CLOSED_FORM, None, None)]
            return
        from ..solve import numba_available

        opts = self.opts = solver.options(c)
        lsoda = ("LSODA", ScipyEngine("LSODA", joint=True).solve_many, replace(opts, method="LSODA"))
        if solver.method in ("auto", COMPILED_METHOD):
            if numba_available():
                self._engines = [(COMPILED_METHOD, None, replace(opts, method=COMPILED_METHOD)), lsoda]
            elif solver.method == COMPILED_METHOD:
                raise SpecificationError("solver method 'dopri5' needs numba (pip install 'tumordyn[fast]'); use "
                                         "'auto' or 'LSODA'")
            else:
                self._engines = [lsoda]
        elif solver.method == BATCH_METHOD:
            self._engines = [(BATCH_METHOD, None, opts), lsoda]
        else:
            self._engines = [(solver.method, ScipyEngine(solver.method, joint=True).solve_many, opts)]
        self._engine = 0

    def with_solver(self, solver: Solver) -> _Problem:
        """A copy of this problem integrated with other solver settings (for refits, e.g. profiles)."""
        other = copy.copy(self)
        other._sub = [replace(sub, problems={}) for sub in self._sub]
        other.set_solver(solver)
        return other

    @property
    def engine(self) -> str:
        """The method integrating the fit now (``"dopri5"``, ``"batch"`` or a scipy method)."""
        return self._engines[self._engine][0]

    def _subject_problem(self, j: int, params: np.ndarray, y0: np.ndarray) -> Problem:
        """Subject ``j``'s problem for the rows of ``params``/``y0``; built once per number of rows, then refilled."""
        cache = self._sub[j].problems
        B = params.shape[0]
        prob = cache.get(B)
        if prob is None:
            sub = self._sub[j]
            prob = cache[B] = Problem(self.compiled, sub.plan, np.array(params), np.array(y0), sub.t_eval)  # own buffers
        else:
            prob.params[...] = params
            prob.y0[...] = y0
        return prob

    def _solve_subjects(self, probs: list[Problem]) -> list[np.ndarray]:
        """Predictions of subject ``j``'s rows by every row of ``probs[j]``, each of shape ``(B_j, n_rows_j)``.

        All subjects go to the engine in one call: the compiled kernel runs every subject's copies under its
        own plan (:func:`~tumordyn.solve._dispatch.solve` of a sequence of problems); a scipy method
        integrates them as one system (``ScipyEngine.solve_many``). The rows are then read out of all the
        solutions at once (:meth:`_gather`), the observables by one call.
        Raises the :class:`SolverError` of the first failed copy (its status decides an engine switch).
        """
        if self.law is not None:
            self.n_solves += 1
            return [self._closed_rows(j, prob.params, prob.y0) for j, prob in enumerate(probs)]
        flat, splits, sizes = self._solve_flat(probs)
        return [flat[a:b].reshape(B, -1) for a, b, B in zip(splits[:-1], splits[1:], sizes)]

    def _solve_flat(self, probs: list[Problem]) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
        """:meth:`_solve_subjects` as one flat array (subject after subject, ``(B_j, n_rows_j)`` each,
        row-major), the offsets of the subjects' blocks in it and the copies per subject."""
        self.n_solves += 1
        _, run_many, opts = self._engines[self._engine]
        if run_many is not None:
            ys, sols = None, run_many(probs, opts)
        else:  # (the compiled engine: the states alone when every copy solved, no Solution objects)
            ys, sols = solve_states(probs, opts)
        if ys is None:
            for j, sol in enumerate(sols):
                if sol.status.any():  # SolverStatus.OK is 0
                    sol.raise_first_failure(self.compiled, lambda k: f" (subject {self.subjects[j]!r})")
            ys = [sol.y for sol in sols]
        sizes = tuple(prob.n_patients for prob in probs)
        return self._gather(probs, ys, sizes), self._layout(sizes)[-1], sizes

    def _gather(self, probs: list[Problem], ys: Sequence[np.ndarray], sizes: tuple[int, ...]) -> np.ndarray:
        """Every subject's rows read out of its solution's states ``ys[j]`` (``(B_j, k_j, n_states)``), flat (see
        :meth:`_solve_flat`), by one index into all the states and one call of the observables."""
        c = self.compiled
        st_out, st_y, st_q, ob_out, ob_y, ob_q, ob_copy, ob_t, ob_u, splits = self._layout(sizes)
        Y = np.concatenate([y.reshape(-1, c.n_states) for y in ys]) if len(ys) > 1 else ys[0].reshape(-1, c.n_states)
        flat = np.empty(splits[-1])
        flat[st_out] = Y[st_y, st_q]
        if ob_out.size:
            P = np.concatenate([prob.params for prob in probs]) if len(probs) > 1 else probs[0].params
            obs = np.asarray(self._quietly(c.observe, ob_t, Y[ob_y].T, P[ob_copy].T, ob_u), dtype=float)
            if len(c.observable_names) == 1:  # (the one observable's values as they are)
                flat[ob_out] = obs if obs.shape == ob_out.shape else np.broadcast_to(obs, (1, ob_t.size))[0]
            else:
                flat[ob_out] = np.broadcast_to(obs, (len(c.observable_names), ob_t.size))[ob_q, np.arange(ob_t.size)]
        return flat

    def _layout(self, sizes: tuple[int, ...]) -> tuple[np.ndarray, ...]:
        """:meth:`_make_layout`, built once per copy counts."""
        lay = self._layouts.get(sizes)
        if lay is None:
            lay = self._layouts[sizes] = self._make_layout(sizes)
        return lay

    @functools.cached_property
    def _entries(self) -> tuple[np.ndarray, ...]:
        """Every subject's rows once, subject after subject (for :meth:`_make_layout`, built on first use): the
        subject, position within its rows, time index and quantity of rows observing a state; the same of rows
        observing an observable, with their time and the drug rates in force; rows and output times per subject."""
        cat = functools.partial(np.concatenate, dtype=np.intp)
        subs = self._sub
        ob_u = [sub.plan.rates_at(sub.t_eval)[sub.ob_ti] for sub in subs]
        return (
            cat([np.full(sub.st.size, j) for j, sub in enumerate(subs)]), cat([sub.st for sub in subs]),
            cat([sub.st_ti for sub in subs]), cat([sub.st_qi for sub in subs]),
            cat([np.full(sub.ob.size, j) for j, sub in enumerate(subs)]), cat([sub.ob for sub in subs]),
            cat([sub.ob_ti for sub in subs]), cat([sub.ob_qi for sub in subs]),
            np.concatenate([sub.t_eval[sub.ob_ti] for sub in subs]).astype(float),
            np.concatenate(ob_u).astype(float),
            np.array([sub.rows.size for sub in subs], dtype=np.intp),
            np.array([sub.t_eval.size for sub in subs], dtype=np.intp))

    def _make_layout(self, sizes: tuple[int, ...]) -> tuple[np.ndarray, ...]:
        """Where :meth:`_gather` reads each prediction, for ``sizes[j]`` copies of subject ``j``.

        The states of all solutions are stacked as rows ``(copy, time)`` (subject after subject); the
        predictions flat (subject after subject, ``(B_j, n_rows_j)`` each, row-major). Returns, for rows
        observing a state: their flat position, stacked row and state; for rows observing an observable:
        their flat position, stacked row, observable index, copy (row of the stacked parameters), time and
        drug rates in force (the plan's, right-continuous, as ``(n_drugs, m)``); and the offsets of each
        subject's predictions. Built from :attr:`_entries` (each subject's rows once) by repeating every
        entry for each copy of its subject (in any order: each entry carries its own positions).
        """
        st_s, st_pos, st_t, st_q, ob_s, ob_pos, ob_t, ob_q, ob_time, ob_u, m, nt = self._entries
        B = np.array(sizes, dtype=np.intp)
        splits, yoff, coff = (np.concatenate([[0], np.cumsum(x)]).astype(np.intp) for x in (B * m, B * nt, B))

        def expand(subject: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            rep = B[subject]  # each entry once per copy of its subject
            idx = np.repeat(np.arange(subject.size), rep)
            copy = np.arange(idx.size) - np.repeat(np.cumsum(rep) - rep, rep)
            return idx, copy, subject[idx]

        i, c, sj = expand(st_s)
        st = (splits[sj] + c * m[sj] + st_pos[i], yoff[sj] + c * nt[sj] + st_t[i], st_q[i])
        i, c, sj = expand(ob_s)
        ob = (splits[sj] + c * m[sj] + ob_pos[i], yoff[sj] + c * nt[sj] + ob_t[i], ob_q[i], coff[sj] + c)
        return (*st, *ob, ob_time[i], np.ascontiguousarray(ob_u[i].T), splits)


    def _closed_rows(self, j: int, params: np.ndarray, y0: np.ndarray) -> np.ndarray:
        """Predictions of subject ``j``'s rows by every row of ``params`` / ``y0`` (shapes ``(B, n_params)``,
        ``(B, n_states)``) from the law's closed form, shape ``(B, n_rows_j)``: the only observable,
        ``tumor_volume``, is the sum of the states. Never raises: non-finite values are judged by the residual."""
        c, sub = self.compiled, self._sub[j]
        P = {n: params[:, i:i + 1] for i, n in enumerate(c.param_names)}
        Y0 = {n: y0[:, i:i + 1] for i, n in enumerate(c.state_names)}
        if sub.closed_t is not None:
            st = self.law._states(sub.closed_t, {**P, **Y0}, sub.closed_u)
        else:
            st = self.law.states_on_plan(sub.t_eval, P, Y0, sub.plan.breaks, sub.plan.rates[:, 0])
        shape = (params.shape[0], sub.t_eval.size)
        pj = np.empty((shape[0], sub.rows.size))
        if sub.st.size:
            y = np.stack([np.broadcast_to(st[n], shape) for n in c.state_names], axis=-1)
            pj[:, sub.st] = y[:, sub.st_ti, sub.st_qi]
        if sub.ob.size:
            total = st[c.state_names[0]]
            for n in c.state_names[1:]:
                total = total + st[n]
            pj[:, sub.ob] = (total if total.shape == shape else np.broadcast_to(total, shape))[:, sub.ob_ti]
        return pj

    def _closed_states(self, prob: Problem) -> np.ndarray:
        """The states of ``prob``'s copies from the law's closed form, chained over the plan's drug levels,
        shape ``(B, k, n_states)``."""
        c, plan = self.compiled, prob.plan
        P = {n: prob.params[:, i:i + 1] for i, n in enumerate(c.param_names)}
        Y0 = {n: prob.y0[:, i:i + 1] for i, n in enumerate(c.state_names)}
        st = self.law.states_on_plan(prob.t_eval, P, Y0, plan.breaks, plan.rates[:, 0])
        return np.stack([st[n] for n in c.state_names], axis=-1)

    def _closed_solution(self, prob: Problem) -> _ClosedSolution:
        """:meth:`_closed_states` with the drug levels at the output times, as a solution."""
        y = self._closed_states(prob)
        return _ClosedSolution(y, prob.plan.rates_at(prob.t_eval), np.zeros(y.shape[0], dtype=np.int64))

    def _with_switch(self, compute: Any) -> Any:
        """``compute()``; an explicit engine that reports a :data:`_SWITCH_STATUSES` status hands the rest of
        the fit to LSODA and ``compute`` is done again (one integrator per evaluation keeps it consistent)."""
        for _ in range(len(self._engines)):  # bounded: at most one switch per engine
            engine = self._engine
            try:
                return compute()
            except SolverError as err:
                if err.status in _SWITCH_STATUSES and engine + 1 < len(self._engines):
                    self._engine = engine + 1
                    continue
                raise
        raise AssertionError("unreachable: the last engine either returns or raises")

    # -- lmfit parameters ------------------------------------------------------------
    def start_values(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Start values and lower and upper bounds of all variables (in the order of :attr:`vars`), checked;
        sets :attr:`typical` (each start value's size, 1 for a start at 0). What :meth:`make_params` makes into
        lmfit ``Parameters`` (a direct least-squares fit reads the arrays and makes none).

        Raises
        ------
        SpecificationError
            For a fitted initial state whose start value is outside its bounds.
        """
        if self._start is not None:  # (computed once: the problem's start values and bounds do not change)
            return self._start
        c = self.compiled
        values, lo, hi = [], [], []
        for name, v in self.vars.items():
            if v.kind == "param":
                a, b = self.bounds[v.target]
                val = float(self.P0[v.index, v.subjects[0]])
            else:
                a, b = (0.0 if c.nonnegative[v.index] else -np.inf), np.inf
                if v.target in self._init_bounds:
                    a, b = self._init_bounds[v.target]
                cols = v.subjects  # the mean over its subjects' start values (one subject's own)
                val = float(self.Y00[v.index, cols[0]] if len(cols) == 1 else np.mean(self.Y00[v.index, list(cols)]))
                if not a <= val <= b:
                    raise SpecificationError(f"start value {val} of {name!r} is outside its bounds [{a}, {b}]; "
                                             "pass a start value in `initial`")
            values.append(val)
            lo.append(a)
            hi.append(b)
        self.typical = {name: (abs(x) if x != 0 else 1.0) for name, x in zip(self._var_names, values)}
        values, lo, hi = (np.array(x, dtype=float) for x in (values, lo, hi))
        for x in (values, lo, hi):
            x.flags.writeable = False
        self._start = (values, lo, hi)
        return self._start

    def make_params(self) -> lmfit.Parameters:
        """The variables as lmfit ``Parameters`` at their start values (:meth:`start_values`)."""
        import lmfit

        values, lo, hi = self.start_values()
        pars = lmfit.Parameters()
        for name, v, a, b in zip(self._var_names, values.tolist(), lo.tolist(), hi.tolist()):
            pars.add(name, value=v, min=a, max=b)
        return pars

    def matrices(self, params: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        return self._matrices(self._values(params))

    def _values(self, params: Mapping[str, Any]) -> np.ndarray:
        return np.array([params[name].value for name in self._var_names], dtype=float)

    def _matrices(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        P, Y0 = self.P0.copy(), self.Y00.copy()
        for (is_param, i, cols), val in zip(self._var_where, values.tolist()):
            (P if is_param else Y0)[i, cols] = val
        return P, Y0

    def _memo_for(self, values: np.ndarray) -> np.ndarray | None:
        """The predictions of the last successful solve if it was at these exact values on this engine (the
        optimizer asks for the Jacobian where it just evaluated the residual; lmfit evaluates the start twice)."""
        m = self._memo
        # (bit for bit: the bytes of two float arrays compare faster than the arrays)
        if m is not None and m[0] == self._engine and m[1] == values.tobytes():
            return m[2]
        return None

    # -- residuals -------------------------------------------------------------------
    def _transform(self, x: np.ndarray) -> np.ndarray:
        if self.scale == "log":
            return np.log(np.maximum(x, LOG_FLOOR))
        return x

    def residual_from_pred(self, pred: np.ndarray) -> np.ndarray:
        r = self._transform(pred) - self.target
        if not self._unit_sf:  # (times 1 changes no number)
            r = r * self.scale_factor
        if not self._any_censored:
            return r
        # censored rows (value = detection limit): only a prediction above the limit is penalised
        return np.where(self.censored & (r < 0), 0.0, r)

    def start_predictions(self, values: np.ndarray,
                          ahead: tuple[Sequence[str], Sequence[float]] | None = None) -> np.ndarray:
        """:meth:`predictions_at` the start values; an engine that fails other than by a failed solve (the
        compiled path unavailable or incompatible) hands the fit to LSODA with a :class:`RuntimeWarning`.

        ``ahead``: the names and upper bounds the optimizer will ask the Jacobian for; the start is then solved
        by :meth:`residual_ahead`, so the Jacobian's perturbed copies go to the kernel with it (one call for the
        optimizer's first residual and Jacobian; the same numbers)."""
        try:
            if ahead is not None:
                self.residual_ahead(values, *ahead)
                memo = self._memo_for(values)
                if memo is not None:
                    return memo.copy()
            return self.predictions_at(values)
        except SolverError:
            raise
        except Exception as err:  # noqa: BLE001 - compiled path unavailable or incompatible
            if self._engine + 1 >= len(self._engines):
                raise
            warnings.warn(
                f"the {self.engine} fit engine is unavailable ({type(err).__name__}: {err}); fitting with "
                "scipy's LSODA instead (slower, same optimum)",
                RuntimeWarning,
                stacklevel=3,
            )
            self._engine = len(self._engines) - 1
            return self.predictions_at(values)

    def predictions(self, params: Mapping[str, Any]) -> np.ndarray:
        """Model prediction of every data row (raises :class:`SolverError` on a failed solve)."""
        return self.predictions_at(self._values(params))

    def predictions_at(self, values: np.ndarray) -> np.ndarray:
        """:meth:`predictions` at the values of all variables, in the order of :attr:`vars`."""
        memo = self._memo_for(values)
        if memo is not None:
            return memo.copy()
        if self._lean is not None:  # one subject's closed form at its rows' times, straight from the values
            t_rows, u, _, _ = self._lean
            self.n_solves += 1
            pred = self._quietly(self.law._volume, t_rows, self._lean_values(values), u)
            self._memo = (self._engine, values.tobytes(), pred.copy())
            return pred
        P, Y0 = self._matrices(values)
        if self.law is not None:  # closed form: no solve, no engine switch
            self.n_solves += 1
            pred = np.empty(self.target.size)
            for j, sub in enumerate(self._sub):
                pred[sub.rows] = self._closed_rows(j, P[:, j][None, :], Y0[:, j][None, :])[0]
            self._memo = (self._engine, values.tobytes(), pred.copy())
            return pred

        def compute() -> np.ndarray:
            pred = np.empty(self.target.size)
            probs = [self._subject_problem(j, P[:, j:j + 1].T, Y0[:, j:j + 1].T) for j in range(len(self._sub))]
            for sub, pj in zip(self._sub, self._solve_subjects(probs)):
                pred[sub.rows] = pj[0]
            return pred

        pred = self._with_switch(compute)
        self._memo = (self._engine, values.tobytes(), pred.copy())
        return pred

    def residual(self, params: Mapping[str, Any]) -> np.ndarray:
        """Residuals of the data rows (then of the priors) at ``params``; a failed solve is penalised."""
        return self.residual_at(self._values(params))

    def residual_at(self, values: np.ndarray) -> np.ndarray:
        """:meth:`residual` at the values of all variables, in the order of :attr:`vars`."""
        try:
            pred = self.predictions_at(values)
        except SolverError:  # NegativeStateError included
            self.n_failed += 1
            return self._with_priors(np.full(self.target.size, self.failed_residual), values)
        if not _all_finite(pred):
            self.n_failed += 1
            return self._with_priors(np.full(self.target.size, self.failed_residual), values)
        return self._with_priors(self.residual_from_pred(pred), values)

    # -- priors ----------------------------------------------------------------------
    def set_priors(self, priors: Mapping[str, Any] | None) -> None:
        """Gaussian / log-normal priors on fitted variables (see :func:`fit`), as extra residual rows."""
        out = []
        names = list(self._var_names)
        for key, spec in (priors or {}).items():
            targets = [k for k, n in enumerate(names) if n == key or self.vars[n].target == key]
            if not targets:
                valid = sorted(set(names) | {v.target for v in self.vars.values()})
                raise UnknownNameError("fitted parameter or state", key, valid, "`priors`")
            if isinstance(spec, (tuple, list)) and len(spec) == 3 and isinstance(spec[0], str):
                kind, centre, sd = spec
            elif isinstance(spec, (tuple, list)) and len(spec) == 2:
                kind, (centre, sd) = "normal", spec
            else:
                raise SpecificationError(f"`priors[{key!r}]` must be (mean, sd), ('normal', mean, sd) or "
                                         f"('lognormal', median, sd_of_log), got {spec!r}")
            if kind not in ("normal", "lognormal"):
                raise SpecificationError(f"`priors[{key!r}]`: kind must be 'normal' or 'lognormal', got {kind!r}")
            centre = finite_value(centre, f"`priors[{key!r}]` centre")
            sd = finite_value(sd, f"`priors[{key!r}]` sd", minimum=0.0, strict=True)
            log = kind == "lognormal"
            if log and centre <= 0:
                raise SpecificationError(f"`priors[{key!r}]`: the median of a log-normal prior must be > 0, got {centre}")
            out.extend((k, log, math.log(centre) if log else centre, sd) for k in targets)
        self.priors = tuple(out)

    def _with_priors(self, r: np.ndarray, values: np.ndarray) -> np.ndarray:
        if not self.priors:
            return r
        return np.concatenate([r, self._prior_rows(values)])

    def _prior_rows(self, vals: np.ndarray) -> np.ndarray:
        x = np.array([vals[k] for k, *_ in self.priors])
        log = np.array([p[1] for p in self.priors], dtype=bool)
        centre = np.array([p[2] for p in self.priors])
        sd = np.array([p[3] for p in self.priors])
        xt = np.where(log, np.log(np.maximum(x, LOG_FLOOR)), x)
        return (xt - centre) / sd

    def _prior_jacobian(self, vals: np.ndarray, names: list[str]) -> np.ndarray:
        col = {n: i for i, n in enumerate(names)}
        J = np.zeros((len(self.priors), len(names)))
        for row, (k, log, _, sd) in enumerate(self.priors):
            name = self._var_names[k]
            if name in col:
                J[row, col[name]] = 1.0 / (sd * max(vals[k], LOG_FLOOR)) if log else 1.0 / sd
        return J

    def _rows_residual(self, pred: np.ndarray, rows: np.ndarray) -> np.ndarray:
        r = (self._transform(pred) - self.target[rows]) * self.scale_factor[rows]
        if not self._any_censored:
            return r
        return np.where(self.censored[rows] & (r < 0), 0.0, r)

    def jacobian(self, params: Mapping[str, Any]) -> np.ndarray:
        """d residual / d (varying parameters) by forward differences.

        Per subject, the base and every perturbed copy that concerns it are integrated in one
        call (as one system on a scipy engine, so they share a step-size sequence).
        """
        names = [n for n, p in params.items() if p.vary]
        return self.jacobian_at(self._values(params), names, [float(params[n].max) for n in names])

    def jacobian_at(self, allv: np.ndarray, names: Sequence[str], maxes: Sequence[float]) -> np.ndarray:
        """:meth:`jacobian` at the values ``allv`` of all variables, with respect to ``names`` (upper bounds
        ``maxes``). A closed-form law's is analytic where :meth:`_closed_jacobian` gives it."""
        if self._lean is not None and self.analytic_jacobian:
            J = self._lean_jacobian(allv, names)
            if J is not None:
                return np.vstack([J, self._prior_jacobian(allv, names)]) if self.priors else J
        if self.law is not None and self.analytic_jacobian and self._lean is None:
            J = self._closed_jacobian(*self._matrices(allv), names)
            if J is not None:
                return np.vstack([J, self._prior_jacobian(allv, names)]) if self.priors else J
        ahead = self._ahead_for(allv, names, maxes)
        self._jac_ahead = None
        self._ahead_paid = True  # the optimizer accepted the last point: look ahead again at the next one
        if ahead is not None:
            self.n_ahead_used += 1
            return self._finish_jacobian(ahead[3], allv, names, ahead[4])
        P, Y0, values, steps, var, ks_of = self._fd_setup(allv, names, maxes)
        closed = self.law is not None
        single = len(self._sub) == 1  # its rows are all rows, in order

        def compute() -> np.ndarray:
            J = np.zeros((self.target.size, len(names)))
            # the compiled engine solves each copy on its own (the same numbers bit for bit in any batch):
            # the base copy is the last residual's solve when the optimizer asks at the same point; a
            # joint scipy engine integrates base and copies as one system, so they are solved together
            base = (self._memo_for(allv) if self._engines[self._engine][0] in (COMPILED_METHOD, CLOSED_FORM)
                    and all(ks.size for ks in ks_of) else None)
            first = 0 if base is None else 1
            if base is not None and not closed:
                # only perturbed copies, all subjects in one solve: the residuals of all of them by one
                # vector operation against the base residual, scattered into J by one index
                probs = []
                for j in range(len(self._sub)):
                    ks = ks_of[j]
                    Pj = np.repeat(P[:, j][None, :], ks.size, axis=0)
                    Yj = np.repeat(Y0[:, j][None, :], ks.size, axis=0)
                    for r, k in enumerate(ks.tolist()):
                        v = var[k]
                        (Pj if v.kind == "param" else Yj)[r, v.index] = values[k] + steps[k]
                    probs.append(self._subject_problem(j, Pj, Yj))
                flat, _, sizes = self._solve_flat(probs)
                rows, cols = self._jac_layout(tuple(names), ks_of, sizes)
                J[rows, cols] = (self._rows_residual(flat, rows) - self.residual_from_pred(base)[rows]) / steps[cols]
                return J
            probs, preds = [], []
            for j in range(len(self._sub)):
                ks = ks_of[j]
                Pj = np.repeat(P[:, j][None, :], 1 - first + ks.size, axis=0)
                Yj = np.repeat(Y0[:, j][None, :], 1 - first + ks.size, axis=0)
                for r, k in enumerate(ks.tolist(), start=1 - first):
                    v = var[k]
                    (Pj if v.kind == "param" else Yj)[r, v.index] = values[k] + steps[k]
                if closed:  # evaluated here (no solve problem, no engine switch)
                    preds.append(self._closed_rows(j, Pj, Yj))
                else:
                    probs.append(self._subject_problem(j, Pj, Yj))
            if closed:
                self.n_solves += 1
            else:
                preds = self._solve_subjects(probs)
            for j, (sub, pred) in enumerate(zip(self._sub, preds)):
                ks = ks_of[j]
                if base is not None:
                    pred = np.concatenate([base[sub.rows][None, :], pred])
                R = self._rows_residual(pred, sub.rows)
                if ks.size == len(names):  # every variable concerns this subject: whole rows
                    J[sub.rows if not single else slice(None)] = ((R[1:] - R[0]) / steps[:, None]).T
                else:
                    J[np.ix_(sub.rows, ks)] = ((R[1:] - R[0]) / steps[ks][:, None]).T
            return J

        try:
            J = compute() if closed else self._with_switch(compute)
        except SolverError:
            return self._jacobian_fallback(allv, names, steps)
        return self._finish_jacobian(J, allv, names, steps)

    def _finish_jacobian(self, J: np.ndarray, allv: np.ndarray, names: Sequence[str], steps: np.ndarray) -> np.ndarray:
        """The data rows ``J`` of :meth:`jacobian_at` checked (non-finite: the one-variable-at-a-time fallback)
        and with the priors' rows below."""
        if not np.all(np.isfinite(J)):
            return self._jacobian_fallback(allv, names, steps)
        if self.priors:
            J = np.vstack([J, self._prior_jacobian(allv, names)])
        return J

    def _fd_setup(self, allv: np.ndarray, names: Sequence[str], maxes: Sequence[float]) -> tuple[Any, ...]:
        """What a finite-difference Jacobian at ``allv`` needs: the parameter and initial-state matrices, the
        values and steps of ``names``, their variables, and per subject the indices of the variables that
        concern it."""
        P, Y0 = self._matrices(allv)
        pos = self._var_pos
        values = np.array([allv[pos[n]] for n in names], dtype=float)
        steps = np.array([self._step(n, x, m) for n, x, m in zip(names, values.tolist(), maxes)], dtype=float)
        var = [self.vars[n] for n in names]
        ks_of = self._ks_of.get(tuple(names))
        if ks_of is None:  # the optimizer asks with the same names at every call
            ks_of = self._ks_of[tuple(names)] = [
                np.array([k for k, n in enumerate(names) if j in self.var_subjects[n]], dtype=np.int64)
                for j in range(len(self.subjects))]
        return P, Y0, values, steps, var, ks_of

    def residual_ahead(self, allv: np.ndarray, names: Sequence[str], maxes: Sequence[float]) -> np.ndarray:
        """:meth:`residual_at`, with the Jacobian's perturbed copies solved in the same compiled call.

        A trust-region optimizer asks for the Jacobian at every point it accepts, right after the residual
        there: the base and every perturbed copy of every subject then go to the kernel together (one call
        instead of two), and the data rows of the Jacobian are kept for :meth:`jacobian_at` at the same
        values, names and bounds (bit for bit what it would compute: each copy is solved on its own). Only on
        the compiled engine, and only while the last point evaluated this way was accepted (its Jacobian
        was asked for): a rejected point's copies are wasted work.
        """
        if (self.law is not None or self._engines[self._engine][0] != COMPILED_METHOD or not self._ahead_paid
                or self._memo_for(allv) is not None):
            # the look-ahead is kept when it is this point's (solved with the start's predictions)
            self._jac_ahead = self._ahead_for(allv, names, maxes)
            return self.residual_at(allv)
        P, Y0, values, steps, var, ks_of = self._fd_setup(allv, names, maxes)
        if not all(ks.size for ks in ks_of):
            return self.residual_at(allv)
        engine = self._engine
        probs = []
        for j in range(len(self._sub)):
            ks = ks_of[j]
            Pj = np.repeat(P[:, j][None, :], 1 + ks.size, axis=0)
            Yj = np.repeat(Y0[:, j][None, :], 1 + ks.size, axis=0)
            for r, k in enumerate(ks.tolist(), start=1):
                v = var[k]
                (Pj if v.kind == "param" else Yj)[r, v.index] = values[k] + steps[k]
            probs.append(self._subject_problem(j, Pj, Yj))
        try:
            flat, splits, sizes = self._solve_flat(probs)
        except SolverError:  # a copy failed (or the engine should switch): the residual on its own decides
            return self.residual_at(allv)
        base_out, base_rows, pert_out = self._ahead_layout(splits, sizes)
        pred = np.empty(self.target.size)
        pred[base_rows] = flat[base_out]
        if not np.all(np.isfinite(pred)):
            self.n_failed += 1
            return self._with_priors(np.full(self.target.size, self.failed_residual), allv)
        self._memo = (engine, allv.tobytes(), pred.copy())
        r = self.residual_from_pred(pred)
        rows, cols = self._jac_layout(tuple(names), ks_of, tuple(B - 1 for B in sizes))
        J = np.zeros((self.target.size, len(names)))
        J[rows, cols] = (self._rows_residual(flat[pert_out], rows) - r[rows]) / steps[cols]
        self._jac_ahead = (engine, (tuple(names), tuple(maxes)), allv.copy(), J, steps)
        self._ahead_paid = False  # until jacobian_at takes it
        return self._with_priors(r, allv)

    def _ahead_for(self, allv: np.ndarray, names: Sequence[str], maxes: Sequence[float]) -> tuple[Any, ...] | None:
        """The Jacobian :meth:`residual_ahead` kept, if it is the one of these values, names and bounds on this
        engine; else ``None``."""
        ahead = self._jac_ahead
        if (ahead is not None and ahead[0] == self._engine and ahead[1] == (tuple(names), tuple(maxes))
                and np.array_equal(ahead[2], allv)):
            return ahead
        return None

    def _ahead_layout(self, splits: np.ndarray, sizes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For :meth:`residual_ahead`'s flat predictions (copy 0 of each subject the base): the base rows'
        positions and data rows, and the positions of the perturbed copies' rows in :meth:`_jac_layout`'s order."""
        key = ("ahead", sizes)
        lay = self._jac_layouts.get(key)
        if lay is None:
            m = [sub.rows.size for sub in self._sub]
            base_out = np.concatenate([a + np.arange(mj) for a, mj in zip(splits[:-1], m)]).astype(np.intp)
            base_rows = np.concatenate([sub.rows for sub in self._sub]).astype(np.intp)
            pert_out = np.concatenate([np.arange(a + mj, b) for a, b, mj in zip(splits[:-1], splits[1:], m)])
            lay = self._jac_layouts[key] = (base_out, base_rows, pert_out.astype(np.intp))
        return lay

    def _jac_layout(self, names: tuple[str, ...], ks_of: list[np.ndarray],
                    sizes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """For the flat predictions of the perturbed copies (copy ``r`` of subject ``j`` perturbs variable
        ``ks_of[j][r]``; see :meth:`_solve_flat`): each entry's data row and Jacobian column (built once per
        ``names``)."""
        key = (names, sizes)
        lay = self._jac_layouts.get(key)
        if lay is None:
            rows = [np.tile(sub.rows, ks.size) for sub, ks in zip(self._sub, ks_of)]
            cols = [np.repeat(ks, sub.rows.size) for sub, ks in zip(self._sub, ks_of)]
            lay = self._jac_layouts[key] = (np.concatenate(rows).astype(np.intp), np.concatenate(cols).astype(np.intp))
        return lay

    def _quietly(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` with numpy's divide, invalid and overflow warnings silenced (a closed form's log of 0 or
        overflow to inf is judged by the residual), unless they are already (:attr:`_quiet`)."""
        if self._quiet:
            return fn(*args)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return fn(*args)

    def _lean_values(self, values: np.ndarray) -> list[float]:
        """The law's parameters then ``S`` (:attr:`_lean`) at the values of all variables (as a list: a handful
        of numbers, faster than an array)."""
        _, _, pos, x = self._lean
        x = list(x)
        for i, v in zip(pos, values.tolist()):
            x[i] = v
        return x

    def _lean_jacobian(self, allv: np.ndarray, names: Sequence[str]) -> np.ndarray | None:
        """:meth:`_closed_jacobian` of a problem with :attr:`_lean` (one subject, rows in order), straight from the
        variable values."""
        t_rows, u, pos, _ = self._lean
        got = self._quietly(self.law._gradient, t_rows, self._lean_values(allv), u)
        if got is None:
            return None
        G, rows = got
        key = ("lean", u != 0.0) + tuple(names)
        cols = self._ks_of.get(key)
        if cols is None:  # once per fit: which gradient row feeds each variable (a zero column if none)
            r = rows[[pos[self._var_pos[n]] for n in names]]
            cols = self._ks_of[key] = (np.where(r >= 0, r, 0), None if (r >= 0).all() else (r >= 0).astype(float))
        idx, mask = cols
        sf = self.scale_factor
        if self.scale == "log":  # d ln(max(V, floor)) = dV / V above the floor, 0 below
            sf = np.where(G[0] > LOG_FLOOR, 1.0 / G[0], 0.0) * sf
        if self._any_censored:  # a censored row below its limit contributes nothing (residual_from_pred)
            sf = np.where(self.censored & ((self._transform(G[0]) - self.target) * self.scale_factor < 0), 0.0, sf)
        J = G[idx] if sf is self.scale_factor and self._unit_sf else G[idx] * sf  # (times 1 changes no number)
        if not _all_below(J, _ANALYTIC_JACOBIAN_LIMIT):
            return None
        return J.T if mask is None else J.T * mask

    def _closed_jacobian(self, P: np.ndarray, Y0: np.ndarray, names: Sequence[str]) -> np.ndarray | None:
        """d residual / d ``names`` from the law's generated gradient (:meth:`GrowthLaw._gradient`): one
        evaluation per subject instead of finite differences; ``None`` (finite differences instead) when a
        subject's law, drug plan or point has no such gradient."""
        key = ("analytic",) + tuple(names)
        plan = self._ks_of.get(key)
        if plan is None:  # once per fit: per subject, where its rows read the gradient (filled below)
            order = {n: i for i, n in enumerate(self.compiled.param_names + ("S",))}
            pos = np.array([order.get(self.vars[n].target, -1) for n in names], dtype=np.intp)
            plan = self._ks_of[key] = [pos, [None] * len(self._sub)]
        pos, subs = plan
        if pos.size and pos.min() < 0:  # a fitted state other than S
            return None
        J = np.empty((self.target.size, len(names)))
        for j, sub in enumerate(self._sub):
            if sub.closed_t is None:  # drug levels change over the window: chained closed forms
                return None
            got = self._quietly(self.law._gradient, sub.closed_t[0], P[:, j].tolist() + Y0[:1, j].tolist(),
                                sub.closed_u)
            if got is None:
                return None
            G, rows = got
            where = subs[j]
            if where is None:  # its rows' times; which gradient row feeds each variable (0 times a mask if none)
                r = rows[pos]
                mask = np.array([j in self.var_subjects[n] for n in names]) & (r >= 0)
                ti = self.sub_ti[sub.rows]  # one population: its state S is the observable tumor_volume
                where = subs[j] = (ti, np.ix_(np.where(r >= 0, r, 0), ti), mask.astype(float),
                                   self.scale_factor[sub.rows], bool(mask.all()))
            ti, idx, mask, sf, full = where
            if self.scale == "log":  # d ln(max(V, floor)) = dV / V above the floor, 0 below
                V = G[0, ti]
                sf = np.where(V > LOG_FLOOR, 1.0 / V, 0.0) * sf
            if self._any_censored:  # a censored row below its limit contributes nothing (residual_from_pred)
                sf = np.where(self.censored[sub.rows] & (self._rows_residual(G[0, ti], sub.rows) < 0), 0.0, sf)
            Jj = (G[idx] * sf).T
            J[sub.rows] = Jj if full else Jj * mask
        if not _all_below(J, _ANALYTIC_JACOBIAN_LIMIT):
            return None
        return J

    def _fd_step(self, name: str, par: Any) -> float:
        """Forward-difference step of variable ``name`` (an lmfit parameter) at its value (see :meth:`_step`)."""
        return self._step(name, float(par.value), float(par.max))

    def _step(self, name: str, x: float, upper: float) -> float:
        """Forward-difference step of variable ``name`` at ``x``: ``fd_step`` times the larger of ``|x|``
        and the variable's typical size (its start value's, 1 for a start at 0), so that it cannot
        underflow at a (subnormal) value next to a bound of 0; backwards at the upper bound."""
        h = self.fd_step * max(abs(x), self.typical.get(name, 1.0))
        if x + h > upper:
            h = -h
        if x + h == x:  # x so large that h is below its spacing
            h = math.ulp(x) * 4 * (1 if h > 0 else -1)
        return h

    def _jacobian_fallback(self, allv: np.ndarray, names: Sequence[str], steps: np.ndarray) -> np.ndarray:
        """Forward differences of :meth:`residual_at`, one variable at a time (failed solves penalised)."""
        base = self.residual_at(allv)
        J = np.zeros((base.size, len(names)))
        for k, name in enumerate(names):
            v2 = allv.copy()
            v2[self._var_pos[name]] += steps[k]
            J[:, k] = (self.residual_at(v2) - base) / steps[k]
        return J

    # -- per subject -----------------------------------------------------------------
    def subject_values(self, params: Mapping[str, Any], subject: Any) -> tuple[dict[str, float], dict[str, float]]:
        if subject not in self.subjects:
            raise UnknownNameError("subject", subject, [str(s) for s in self.subjects], "the fitted data")
        j = self.subjects.index(subject)
        P, Y0 = self.matrices(params)
        c = self.compiled
        return ({n: float(P[i, j]) for i, n in enumerate(c.param_names)},
                {n: float(Y0[i, j]) for i, n in enumerate(c.state_names)})




def _check_bounds(b: Any, name: str) -> tuple[float, float]:
    try:
        lo, hi = b
        lo, hi = float(lo), float(hi)
    except (TypeError, ValueError):
        raise TypeError(f"`bounds[{name!r}]` must be a pair (low, high), got {b!r}") from None
    if math.isnan(lo) or math.isnan(hi) or not lo < hi:
        raise SpecificationError(f"`bounds[{name!r}]` must satisfy low < high, got ({lo}, {hi})")
    return lo, hi


# ----------------------------------------------------------------------------- public API
def fit(
    model: Model | GrowthLaw,
    data: pd.DataFrame | Mapping[str, Any],
    free: Sequence[str] | Mapping[str, str],
    *,
    schedules: Schedule | Mapping[Any, Schedule] | None = None,
    initial: Mapping[Any, Any] | None = None,
    initial_free: Sequence[str] | Mapping[str, str] | None = None,
    params: Mapping[str, float] | None = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    scale: str = "log",
    weights: Mapping[str, float] | None = None,
    t0: float | str | Mapping[Any, float] = 0.0,
    optimizer: str | None = None,
    solver: Solver | str | None = None,
    rtol: float | None = None,
    atol: float | Mapping[str, float] | None = None,
    fd_step: float | None = None,
    fit_kws: Mapping[str, Any] | None = None,
    method: str | None = None,
    priors: Mapping[str, Any] | None = None,
    max_seconds: float | None = None,
    n_starts: int = 1,
    seed: int | None = 0,
    progress: bool | None = None,
    callback: Callable[[Mapping[str, Any]], Any] | None = None,
    covariates: Mapping[Any, Any] | None = None,
) -> FitResult:
    r"""Fit model parameters (and optionally initial states) to observations of many subjects.

    Each subject has its own schedule and initial state; a parameter is shared
    by all subjects, fitted per subject, or fixed. The objective is the sum of
    squared residuals

    .. math:: r_i = w_{o(i)} \, \frac{g(\hat y_i) - g(y_i)}{\sigma_i}

    with :math:`g = \ln` (``scale="log"``) or the identity (``"linear"``),
    :math:`\hat y_i` the model's prediction of row *i*, :math:`\sigma_i` the
    row's ``sigma`` (on the fit scale: the standard deviation of
    :math:`\ln y` on the log scale; 1 when the column is absent) and
    :math:`w_o` the weight of the row's observable. A *censored* row (value =
    detection limit, truth at or below it) contributes only when the
    prediction lies above the limit (one-sided residual).

    Parameters
    ----------
    model : Model or GrowthLaw
        The model; its compiled code is built once and reused. A
        :class:`~tumordyn.fitting.GrowthLaw` (:func:`~tumordyn.fitting.growth_law`) with a
        closed form is evaluated in closed form (engine ``"closed_form"``: no ODE integration,
        ``solver`` unused, predictions too), with the law's analytic Jacobian (generated once per law
        with sympy) for one population at one drug level over each subject's window, finite
        differences otherwise; otherwise its model is integrated.
    data : pandas.DataFrame or mapping of str to array
        Tidy observations, one row each, with columns ``subject`` (any label),
        ``time`` (days), ``observable`` (a state or observable name of the
        model), ``value`` (in the quantity's unit), and optionally ``sigma``
        (> 0, on the fit scale) and ``censored`` (bool).
    free : list of str or mapping of str to {"shared", "subject"}
        Parameters to fit. A list fits each as shared by all subjects; a
        mapping chooses per parameter. Every other parameter is fixed.
    schedules : Schedule or mapping subject -> Schedule, optional
        One schedule for all subjects, or one per subject (every subject of
        ``data`` needs one). Default: no treatment.
    covariates : mapping, optional
        Body weight ``weight_kg`` (kg) and/or body-surface area ``bsa_m2`` (m²) for doses given per kg or
        per m² (``unit="mg/kg"``): ``{subject: {"weight_kg": 72.0}}`` (one per subject id) or one mapping
        for all subjects; each subject's schedule is converted with its own (as :func:`tumordyn.simulate`).
    initial : mapping, optional
        Initial states ``{state: value}`` for all subjects, or
        ``{subject: {state: value}}``; also the start values of fitted initial states.
    initial_free : list of str or mapping of str to {"shared", "subject"}, optional
        States whose initial value is fitted; a list fits each per subject
        (``init_<state>__<subject>``).
    params : mapping of str to float, optional
        Values of fixed parameters and start values of free ones (default: the model's defaults).
    bounds : mapping of str to (float, float), optional
        Fit bounds overriding the model spec's, by parameter or fitted state name.
    scale : {"log", "linear"}
        Scale of the residuals. The log scale needs positive values.
    weights : mapping of str to float, optional
        Weight (> 0) per observable name; default 1.
    t0 : float, "first" or mapping subject -> float
        Start of the simulation and schedule (days, where the initial states hold): one for all
        subjects (default 0), ``"first"`` for each subject's first observation time, or one per
        subject.
    optimizer : str, optional
        Any :func:`lmfit.minimize` method; default ``"least_squares"`` (scipy's trust-region
        reflective least squares, with the Jacobian described in the notes).
    solver : Solver or str, optional
        How to integrate: a :class:`~tumordyn.Solver` (method, ``rtol``, ``atol``, ``max_step``,
        ``max_steps``), or a method name with ``rtol``/``atol`` below. Default ``"auto"``: the
        compiled Dormand–Prince engine when numba is installed, switching to LSODA for the rest of
        the fit if it reports the problem stiff or runs out of steps (a step budget of
        :data:`COMPILED_MAX_STEPS` per subject and solve when the settings come as keywords);
        LSODA without numba. A scipy method (``"LSODA"``, ``"BDF"``, ...) integrates all
        subjects and their perturbed copies as one system.
    rtol : float, optional
        Relative ODE tolerance when ``solver`` is not a :class:`~tumordyn.Solver` (default 1e-8,
        tighter than for plain simulation).
    atol : float or mapping, optional
        Absolute ODE tolerance (state units) when ``solver`` is not a :class:`~tumordyn.Solver`
        (default: the states' spec values).
    fd_step : float, optional
        Relative finite-difference step of the Jacobian (leastsq-type methods); default 1e-6 for an
        ODE (above the integrator's error), :data:`CLOSED_FORM_FD_STEP` (about 1.5e-8) for a closed form
        where its analytic Jacobian does not apply.
    fit_kws : mapping, optional
        Extra keyword arguments for lmfit (e.g. ``{"max_nfev": 500}``); ``iter_cb``, ``reduce_fcn`` and
        ``calc_covar`` go to :class:`lmfit.Minimizer`, the rest to its ``minimize``.
    method : str, optional
        Deprecated alias of ``optimizer`` (emits :class:`DeprecationWarning`; removed in the next release).
    priors : mapping, optional
        Priors on fitted variables, making the fit a maximum a posteriori estimate: by model
        parameter or fitted state name (every lmfit variable of it, e.g. each subject's ``r``), or by
        lmfit name (``"r__P1"``, ``"init_S__P1"``), to ``(mean, sd)`` or ``("normal", mean, sd)``
        (Gaussian, in the parameter's unit) or ``("lognormal", median, sd)`` (Gaussian in the natural
        log, ``sd`` on the log scale). Each adds the residual row ``(x - mean)/sd`` or
        ``(ln x - ln median)/sd`` to the objective (and to ``ndata``), so a fit with as many data points
        as free parameters is allowed when priors bring the count above it. The rows are a negative
        log-density only when the data residuals are in units of the noise (a ``sigma`` column).
    max_seconds : float, optional
        Wall-time budget of the whole fit (all starts), checked at every residual and Jacobian
        evaluation (one evaluation can run over it by its own solve time). When it runs out,
        :class:`~tumordyn.errors.FitTimeoutError` is raised, carrying the best values seen; with
        ``n_starts > 1`` and at least one start finished, the best finished fit is returned with a
        :class:`~tumordyn.errors.FitWarning` instead.
    n_starts : int
        Number of optimizer starts: the given start values, then ``n_starts - 1`` random ones
        (log-uniform within positive finite bounds, uniform within other finite bounds, the start
        value times :math:`10^{U(-1, 1)}` otherwise); the fit with the smallest chi-square is
        returned. For fits that wander (thousands of evaluations) from one start.
    seed : int, optional
        Seed of the random starts.
    progress : bool, optional
        Show a progress bar (``tqdm.auto``) counting the objective evaluations;
        default: when stderr is a terminal or in a Jupyter kernel. ``False`` prints nothing.
    callback : callable, optional
        Called after each objective evaluation with a mapping ``{"iteration": k, "chisqr": χ²,
        "params": {name: value}}`` (internal, possibly log-scaled, lmfit names); a ``fit_kws`` ``iter_cb``
        is still called after it.

    Returns
    -------
    FitResult
        Best parameters with standard errors and correlations, report, AIC/BIC,
        residuals, predictions and plots.

    Raises
    ------
    SpecificationError
        For NaN or infinite values, non-positive values on the log scale,
        observations before ``t0``, a subject without schedule, invalid
        bounds or fewer data points than free parameters (the message names
        the row, observable or parameter).
    UnknownNameError
        For an unknown observable, subject, parameter or state.
    SolverError
        If the model cannot be solved at the start values.
    TypeError
        If ``solver`` is neither a :class:`~tumordyn.Solver` nor a method name.

    Warns
    -----
    FitWarning
        When fitted parameters end at a bound (listed in :attr:`FitResult.at_bounds`): the optimum may
        lie beyond it, and its standard error means nothing.

    Notes
    -----
    A failed ODE solve during the fit gives every residual the value
    :data:`FAILED_SOLVE_RESIDUAL` times the largest weighted data value (at least 1), so that it
    loses to any prediction of the data's size (the step is rejected; the count is in
    :attr:`FitResult.n_failed_solves`). Finite-difference steps are ``fd_step`` times the larger
    of the value and the variable's start value (1 for a start at 0). Standard errors come from lmfit's
    covariance estimate :math:`(J^T J)^{-1}`; when the data give ``sigma`` it
    is used as is (the noise level is known), otherwise it is rescaled by the
    reduced chi-square (lmfit's ``scale_covar``).

    Examples
    --------
    >>> import numpy as np, pandas as pd, tumordyn as td
    >>> m = td.models.logistic_growth()
    >>> t = np.arange(0.0, 15.0, 1.0)
    >>> y = td.models.logistic_solution(t, 10.0, 0.6, 800.0)
    >>> df = pd.DataFrame({"subject": "A", "time": t, "observable": "N", "value": y})
    >>> res = td.fit(m, df, free=["r", "K"])
    >>> round(res.params["r"].value, 4), round(res.params["K"].value, 1)
    (0.6, 800.0)
    """
    law = model if isinstance(model, GrowthLaw) else None
    if law is not None:
        model = law.model
    if not isinstance(model, Model):
        raise TypeError(f"`model` must be a tumordyn Model or a tumordyn.fitting.GrowthLaw, got {type(model).__name__}")
    scale = _check_scale(scale)
    c = compile_model(model)
    table = tidy_table(data, c.state_names + c.observable_names, scale, model.name)
    t0 = _check_t0(t0, table)
    free_m = _modes(free, c.param_names, "parameter", "free", "shared", f"model {model.name!r}")
    init_m = _modes(initial_free, c.state_names, "state", "initial_free", "subject", f"model {model.name!r}")
    if not free_m and not init_m:
        raise SpecificationError("nothing to fit: `free` and `initial_free` are empty")
    subjects = list(dict.fromkeys(table.columns["subject"].tolist()))  # order of first appearance
    sched = subject_schedules(schedules, subjects, model, t0, covariates)
    init = per_subject(initial, subjects, "initial", "state name to value")
    optimizer = _optimizer(optimizer, method)
    check_callback(callback, "fit")
    slv = fit_solver(solver, rtol, atol)
    if isinstance(slv.atol, Mapping):
        slv.options(c)  # atol names checked against the model
    if fd_step is None:  # the integrator's error (rtol 1e-8) needs a larger step than a closed form's rounding
        fd_step = CLOSED_FORM_FD_STEP if law is not None and law.closed_form else 1e-6
    fd_step = finite_value(fd_step, "`fd_step`")
    if not 0 < fd_step < 0.1:
        raise SpecificationError(f"`fd_step` must be in (0, 0.1), got {fd_step}")
    init_bounds = {}
    param_bounds = {}
    for name, b in (bounds or {}).items():
        if name in init_m and name not in c.param_names:
            init_bounds[name] = _check_bounds(b, name)
        else:
            param_bounds[name] = b
    problem = _Problem(model, table, free_m, init_m, sched, params or {}, init, param_bounds, scale,
                       weights or {}, t0, slv, fd_step, init_bounds, law)
    start, _, start_hi = problem.start_values()  # (checked; lmfit Parameters are made only where a path needs them)
    problem.set_priors(priors)
    nvar = start.size
    n_prior = len(problem.priors)
    if len(table) + n_prior <= nvar:
        raise SpecificationError(
            f"{len(table)} data points{f' and {n_prior} prior(s)' if n_prior else ''} cannot determine {nvar} free "
            f"parameters ({', '.join(problem._var_names)}); at least one more point than free parameters is "
            "needed, or priors (`priors=`) on enough of them"
        )
    if isinstance(n_starts, bool) or not isinstance(n_starts, (int, np.integer)) or n_starts < 1:
        raise SpecificationError(f"`n_starts` must be an integer >= 1, got {n_starts!r}")
    deadline = None
    if max_seconds is not None:
        deadline = _time.perf_counter() + finite_value(max_seconds, "`max_seconds`", minimum=0.0, strict=True,
                                                       unit="s")
    try:
        # (with the Jacobian's copies for the optimizer's first call: the names and bounds _least_squares asks with)
        problem.start_predictions(start, (problem._var_names, start_hi.tolist()))
    except SolverError as err:
        raise type(err)(f"fit: model {model.name!r} cannot be solved at the start values "
                        f"{dict(zip(problem._var_names, start.tolist()))}; choose other start values (`params`, "
                        f"`initial`). {err}", t=err.t) from err
    # the first start from the problem's start values (run_minimizer makes the Parameters it needs)
    best = run_minimizer(problem, None, optimizer, dict(fit_kws or {}), deadline, progress=progress, callback=callback)
    if n_starts > 1:
        pars = problem.make_params()
        rng = np.random.default_rng(seed)
        for _ in range(int(n_starts) - 1):  # bounded
            other = _random_start(pars, rng)
            try:
                res = run_minimizer(problem, other, optimizer, dict(fit_kws or {}), deadline, progress=progress,
                                    callback=callback, owned=True)
            except FitTimeoutError as err:
                warnings.warn(f"fit of {model.name!r}: the time budget of {max_seconds} s ran out during a random "
                              f"start ({err.elapsed:.3g} s); returning the best finished start", FitWarning,
                              stacklevel=2)
                break
            if (res.success, -res.chisqr) > (best.success, -best.chisqr):
                best = res
    _warn_at_bounds(best)
    return best


def _check_t0(t0: Any, table: _Table) -> float | dict[Any, float]:
    """``t0`` as a number or a mapping subject -> number (days); ``"first"`` -> each subject's first time."""
    if isinstance(t0, (str, Mapping)):
        df = table.frame
    if isinstance(t0, str):
        if t0 != "first":
            raise SpecificationError(f"`t0` must be a number, 'first' or a mapping subject -> number, got {t0!r}")
        return {s: float(v) for s, v in df.groupby("subject", sort=False)["time"].min().items()}
    if isinstance(t0, Mapping):
        subjects = list(df["subject"].drop_duplicates())
        for s in t0:
            if s not in subjects:
                raise UnknownNameError("subject", s, [str(x) for x in subjects], "`t0` (not in `data`)")
        missing = [s for s in subjects if s not in t0]
        if missing:
            raise SpecificationError(f"`t0` gives no start for subject(s) {missing}; give one per subject")
        return {s: finite_value(t0[s], f"`t0[{s!r}]`", unit="days") for s in subjects}
    return finite_value(t0, "`t0`", unit="days")


def _random_start(pars: lmfit.Parameters, rng: np.random.Generator) -> lmfit.Parameters:
    """A copy of ``pars`` with every varying value drawn at random within its bounds (see ``n_starts``)."""
    out = pars.copy()
    for p in out.values():
        if not p.vary:
            continue
        lo, hi, x = float(p.min), float(p.max), float(p.value)
        if math.isfinite(lo) and math.isfinite(hi):
            v = math.exp(rng.uniform(math.log(lo), math.log(hi))) if lo > 0 else rng.uniform(lo, hi)
        else:
            v = (x if x != 0 else 1.0) * 10.0 ** rng.uniform(-1.0, 1.0)
        p.value = min(max(v, lo), hi)
    return out


def _warn_at_bounds(res: FitResult) -> None:
    at = res.at_bounds
    if not at:
        return
    fitted = {n: (lo, hi) for n, _, lo, hi in res._fitted()}
    nvary = len(fitted)
    which = ", ".join(f"{n} ({side} bound {fitted[n][0] if side == 'lower' else fitted[n][1]:g})"
                      for n, side in at.items())
    head = "every fitted parameter ended" if len(at) == nvary else "fitted parameter(s) ended"
    warnings.warn(f"fit of {res.model.name!r}: {head} at a bound: {which}; the optimum may lie beyond it (widen "
                  "`bounds`, or fix the parameter) and its standard error is not meaningful", FitWarning,
                  stacklevel=3)


def fit_solver(solver: Solver | str | None, rtol: float | None = None,
               atol: float | Mapping[str, float] | None = None) -> Solver:
    """The :class:`~tumordyn.Solver` of a fit: ``solver`` itself, or a method name (default ``"auto"``) with
    ``rtol`` (default 1e-8), ``atol`` and a step budget of :data:`COMPILED_MAX_STEPS`.

    Raises
    ------
    TypeError
        If ``solver`` is neither a :class:`~tumordyn.Solver`, a method name nor ``None``.
    SpecificationError
        For an unknown method, bad tolerances, or ``rtol``/``atol`` given together with a
        :class:`~tumordyn.Solver`.
    """
    if isinstance(solver, Solver):
        given = sorted(k for k, v in (("rtol", rtol), ("atol", atol)) if v is not None)
        if given:
            raise SpecificationError(f"give the solver settings in `solver` or as keywords, not both (got {given} "
                                     f"and solver={solver!r})")
        return solver
    if solver is not None and not isinstance(solver, str):
        raise TypeError(f"`solver` must be a tumordyn.Solver or a method name, got {type(solver).__name__}")
    if solver is None and rtol is None and atol is None:
        return _default_fit_solver()
    return Solver(method="auto" if solver is None else solver, rtol=1e-8 if rtol is None else rtol, atol=atol,
                  max_steps=COMPILED_MAX_STEPS)


@functools.cache
def _default_fit_solver() -> Solver:
    """:func:`fit_solver`'s default (a frozen value, made once)."""
    return Solver(method="auto", rtol=1e-8, max_steps=COMPILED_MAX_STEPS)


def _optimizer(optimizer: str | None, method: str | None) -> str:
    """The lmfit method of a fit, from ``optimizer`` or its deprecated alias ``method``."""
    optimizer = renamed_keyword(optimizer, method, new="optimizer", old="method", where="tumordyn.fit", stacklevel=4)
    if optimizer is None:
        return "least_squares"
    if not isinstance(optimizer, str) or optimizer.lower() not in _lmfit_methods():
        raise SpecificationError(f"unknown lmfit `optimizer` {optimizer!r}; choose one of {', '.join(_lmfit_methods())}")
    return optimizer


def _lmfit_methods() -> tuple[str, ...]:
    from lmfit.minimizer import SCALAR_METHODS

    return ("leastsq", "least_squares", "brute", "basinhopping", "ampgo", "shgo", "dual_annealing", "emcee",
            *SCALAR_METHODS)


def run_minimizer(problem: _Problem, pars: lmfit.Parameters | None, optimizer: str, fit_kws: dict[str, Any],
                  deadline: float | None = None, *, progress: bool | None = False,
                  callback: Callable[[Mapping[str, Any]], Any] | None = None, owned: bool = False) -> FitResult:
    """Minimise ``problem``'s residuals over ``pars`` with lmfit's ``optimizer`` (leastsq-type methods get the
    batched finite-difference Jacobian); the fit and the refits of :func:`~tumordyn.profile_likelihood`.

    ``pars``: lmfit ``Parameters`` (its varying ones fitted), or ``None`` for all variables from the problem's
    start values (:meth:`_Problem.start_values`). ``owned``: nobody reads ``pars`` afterwards, so the result may
    make it its parameters instead of a deep copy.

    The path is decided by what the fit needs: ``least_squares`` without lmfit ``Minimizer`` options
    (``iter_cb``, ``reduce_fcn``, ``calc_covar``) or a Jacobian of the caller's calls scipy directly on arrays
    (:func:`_least_squares`; its result makes the lmfit objects on first access); anything else goes through
    lmfit's ``minimize``.

    Raises
    ------
    FitTimeoutError
        When ``time.perf_counter()`` passes ``deadline`` (checked at each residual and Jacobian evaluation).
    """
    method = optimizer
    kws = dict(fit_kws)
    # lmfit takes these when the Minimizer is built, not in minimize()
    ctor = {k: kws.pop(k) for k in ("iter_cb", "reduce_fcn", "calc_covar") if k in kws}
    check_callback(callback, "fit")
    bar = progress_bar(progress, total=None, desc="fit", unit="eval")
    started = _time.perf_counter()
    seen = {"chisqr": math.inf, "values": {}, "nfev": 0, "live": True}

    def check_time() -> None:
        # only while this fit runs: the Minimizer kept by the result refits later (conf_interval) unbudgeted
        if deadline is not None and seen["live"] and _time.perf_counter() > deadline:
            elapsed = _time.perf_counter() - started
            raise FitTimeoutError(
                f"fit of {problem.model.name!r} ran out of its time budget after {elapsed:.3g} s and {seen['nfev']} "
                f"evaluations (best chi-square so far {seen['chisqr']:.6g}, at {seen['values']}); raise "
                "`max_seconds`, improve the start values or use n_starts", elapsed, seen["values"], seen["chisqr"],
                seen["nfev"])

    if method == "least_squares":
        kws.setdefault("x_scale", "jac")  # parameters of very different sizes (1/day and mm^3): scale by the Jacobian
    failed_before = problem.n_failed
    direct = (problem.lean_result and method == "least_squares" and not ctor and "Dfun" not in kws
              and "jac" not in kws)
    if direct:
        def on_eval(r: np.ndarray, names: Sequence[str], x: np.ndarray) -> None:  # the direct loop's bar, callback
            bar.update(1)
            if callback is not None:  # the mapping is built only for a callback (the loop is hot)
                callback({"iteration": seen["nfev"], "chisqr": float(r @ r), "params": dict(zip(names, x.tolist()))})

        with bar, np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            # (a bar nobody sees and no callback: nothing to do per evaluation)
            each = None if callback is None and getattr(bar, "silent", False) else on_eval
            res: Any = _least_squares(problem, pars, kws, check_time, seen, deadline is not None, each, owned)
        seen["live"] = False
        return FitResult(problem, None, res, method, _time.perf_counter() - started, problem.n_failed - failed_before)

    import lmfit

    if pars is None:
        pars = problem.make_params()

    def residual(p: lmfit.Parameters) -> np.ndarray:
        check_time()
        r = problem.residual(p)
        seen["nfev"] += 1
        if deadline is not None:
            chi = float(r @ r)
            if chi < seen["chisqr"]:
                seen["chisqr"], seen["values"] = chi, p.valuesdict()
        return r

    def jacobian(p: lmfit.Parameters, *a: Any, **k: Any) -> np.ndarray:
        check_time()
        return problem.jacobian(p)

    # lmfit's own loop: the bar and the callback ride on its iter_cb
    ctor["iter_cb"] = lmfit_iter_cb(bar, callback, ctor.get("iter_cb"))
    if method in _LEASTSQ and "Dfun" not in kws and "jac" not in kws:
        kws["Dfun"] = jacobian
    # with sigma given the residuals are in units of the noise: no rescaling of the covariance by chi2_red
    mini = lmfit.Minimizer(residual, pars, nan_policy="raise", scale_covar=not problem.known_sigma, **ctor)
    with bar, np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # lmfit's sqrt of a singular covariance
        res = mini.minimize(method=method, **kws)
    seen["live"] = False
    wall = _time.perf_counter() - started
    return FitResult(problem, mini, res, method, wall, problem.n_failed - failed_before)


def fit_statistics(residual: np.ndarray, nvarys: int) -> dict[str, Any]:
    r"""Goodness-of-fit statistics of residuals at an optimum with ``nvarys`` fitted variables, as lmfit defines
    them (``MinimizerResult._calculate_statistics``): ``chisqr`` (the sum of squares, at least 1e-250 per
    point), ``ndata``, ``nfree`` (``ndata - nvarys``), ``redchi`` (``chisqr / max(1, nfree)``, from the sum
    before the floor), ``aic`` :math:`n\ln(\chi^2/n) + 2k` and ``bic`` :math:`n\ln(\chi^2/n) + k\ln n`."""
    ndata = int(residual.size)
    nfree = ndata - nvarys
    chisqr = float((residual ** 2).sum())
    redchi = chisqr / max(1, nfree)
    chisqr = max(chisqr, 1.0e-250 * ndata)
    neg2_log_likelihood = ndata * math.log(chisqr / ndata)
    return {"chisqr": chisqr, "ndata": ndata, "nfree": nfree, "redchi": redchi, "nvarys": nvarys,
            "aic": neg2_log_likelihood + 2 * nvarys, "bic": neg2_log_likelihood + math.log(ndata) * nvarys}


def fit_uncertainties(jac: np.ndarray, redchi: float, scale_covar: bool) -> tuple[Any, np.ndarray, np.ndarray, bool]:
    """Covariance, standard errors and correlations of the fitted variables from the Jacobian at the optimum,
    as lmfit computes them (``least_squares`` and ``Minimizer._calculate_uncertainties_correlations``):
    covariance :math:`(J^T J)^{-1}`, times ``redchi`` when ``scale_covar``; standard errors the square roots of
    its diagonal; correlations ``cov[i, j] / (se[i] sqrt(cov[j, j]))``; error bars when every standard error
    is > 0 (the diagonal of the correlations is 1). ``(None, NaN..., NaN off the diagonal, False)`` when
    :math:`J^T J` is singular."""
    k = jac.shape[1]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # (the sqrt of a singular covariance)
        try:
            covar = np.linalg.inv(jac.T @ jac)
        except np.linalg.LinAlgError:
            correl = np.full((k, k), np.nan)
            np.fill_diagonal(correl, 1.0)
            return None, np.full(k, np.nan), correl, False
        if scale_covar:
            covar = covar * redchi
        se = np.sqrt(np.diag(covar))
        correl = covar / (se[:, None] * se[None, :])
    np.fill_diagonal(correl, 1.0)
    return covar, se, correl, bool(np.all(se > 0.0))


class _LeastSquares:
    """The outcome of a direct least-squares fit (:func:`_least_squares`): arrays, no lmfit objects.

    :meth:`lmfit_objects` makes the lmfit ``Minimizer`` and ``MinimizerResult`` of the fit (what
    :meth:`lmfit.Minimizer.least_squares` returns: parameters with standard errors and correlations,
    covariance, statistics, scipy's fields), once, when a :class:`FitResult` attribute that needs them is read
    (under a lock: threads reading a shared result get the same objects, made by one of them).
    """

    def __init__(self, problem: _Problem, start: lmfit.Parameters | None, names: list[str], values: np.ndarray,
                 lower: np.ndarray, upper: np.ndarray, ret: Any, residual: np.ndarray) -> None:
        self.problem = problem
        self.start = start  # the start Parameters, or None: the problem's start values (made on first access)
        self.names = names  # the fitted variables (the others keep their start values)
        self.values = values  # all variables at the optimum, in the order of problem.vars
        self.lower, self.upper = lower, upper  # bounds of the fitted variables
        self.ret = ret  # scipy's OptimizeResult
        self.residual = residual  # at the optimum
        self.stats = fit_statistics(residual, len(names))
        self.chisqr, self.redchi, self.aic, self.bic = (self.stats[k] for k in ("chisqr", "redchi", "aic", "bic"))
        self.ndata, self.nvarys = self.stats["ndata"], self.stats["nvarys"]
        self.success = bool(ret.success)
        self._objects: tuple[Any, Any] | None = None
        self._making = threading.Lock()  # (making the lmfit objects mutates the start Parameters: once, by one thread)
        self._uncertainties: tuple[Any, np.ndarray, np.ndarray, bool] | None = None

    def uncertainties(self) -> tuple[Any, np.ndarray, np.ndarray, bool]:
        """:func:`fit_uncertainties` of this fit (computed once)."""
        if self._uncertainties is None:
            self._uncertainties = fit_uncertainties(self.ret.jac, self.stats["redchi"], not self.problem.known_sigma)
        return self._uncertainties

    def lmfit_objects(self) -> tuple[lmfit.Minimizer, Any]:
        """The lmfit ``Minimizer`` and ``MinimizerResult`` of the fit (made once, by one thread)."""
        if self._objects is not None:
            return self._objects
        with self._making:
            if self._objects is None:
                self._objects = self._make_lmfit_objects()
        return self._objects

    def _make_lmfit_objects(self) -> tuple[lmfit.Minimizer, Any]:
        """:meth:`lmfit_objects`, made."""
        import lmfit

        p = self.problem
        pars = self.start if self.start is not None else p.make_params()
        # with sigma given the residuals are in units of the noise: no rescaling of the covariance by chi2_red
        mini = lmfit.Minimizer(p.residual, pars, nan_policy="raise", scale_covar=not p.known_sigma)
        result = _prepare_owned(mini, pars)  # (pars still holds the start values: its init values)
        result.method = "least_squares"
        x = self.values[[p._var_pos[n] for n in self.names]]
        for n, v in zip(self.names, x.tolist()):
            result.params[n].value = v
        result.residual = self.residual
        for k, v in self.stats.items():
            setattr(result, k, v)
        ret = self.ret
        for attr in ret:
            setattr(result, "least_squares_nfev" if attr == "nfev" else attr, ret[attr])
        result.nfev = int(ret.nfev)
        result.x = np.atleast_1d(result.x)
        covar, se, correl, errorbars = self.uncertainties()
        if covar is not None:  # (what lmfit's _calculate_uncertainties_correlations sets, from the one computation)
            result.covar, result.errorbars = covar, errorbars
            for par in result.params.values():
                par.stderr, par.correl = 0, None
            for i, n in enumerate(self.names):
                par = result.params[n]
                par.stderr = float(se[i])
                par.correl = {m: float(correl[i, j]) for j, m in enumerate(self.names) if j != i}
            if errorbars:
                result.uvars = result.params.create_uvars(covar=covar)
        return mini, result


def _least_squares(problem: _Problem, pars: lmfit.Parameters | None, kws: dict[str, Any], check_time: Any,
                   seen: dict[str, Any], track: bool, on_eval: Any, owned: bool = False) -> _LeastSquares:
    """lmfit's ``least_squares`` method with the residual and Jacobian called on arrays, and no lmfit objects.

    The same scipy call as :meth:`lmfit.Minimizer.least_squares` (trust-region reflective, bounds passed
    to scipy, tolerances 1e-8, the Jacobian of :meth:`_Problem.jacobian_at`; variables scaled by the
    Jacobian's column norms, ``x_scale="jac"``, unless ``fit_kws`` says otherwise), the same statistics
    (:func:`fit_statistics`) and, made on first access (:meth:`_LeastSquares.lmfit_objects`), the same
    :class:`lmfit.minimizer.MinimizerResult` (covariance :math:`(J^T J)^{-1}`, scaled by the reduced chi-square
    unless ``sigma`` was given, standard errors and correlations by lmfit), without building lmfit
    ``Parameters`` at every evaluation nor at all during the fit (which costs more than a closed-form law's
    optimisation). ``pars``: see :func:`run_minimizer`.
    """
    from scipy.optimize import least_squares

    if pars is None:  # every variable fitted, from the problem's start values
        base, lo, hi = problem.start_values()
        names = list(problem._var_names)
        start = None
    else:
        start = pars if owned else copy.deepcopy(pars)  # (what lmfit's prepare_fit makes of it)
        base = problem._values(start)
        names = [n for n, q in start.items() if q.vary and q.expr is None]
        lo = np.array([-np.inf if start[n].min is None else start[n].min for n in names], dtype=float)
        hi = np.array([np.inf if start[n].max is None else start[n].max for n in names], dtype=float)
    pos = [problem._var_pos[n] for n in names]
    every = pos == list(range(base.size))  # x is all variables, in order
    idx = np.array(pos, dtype=np.intp)
    maxes = hi.tolist()
    x0 = base[idx]
    max_nfev = kws.pop("max_nfev", None) or 2000 * (len(names) + 1)
    opts = dict(method="trf", ftol=1e-08, xtol=1e-08, gtol=1e-08, x_scale="jac", loss="linear", f_scale=1.0,
                diff_step=None, tr_solver=None, tr_options={}, jac_sparsity=None, verbose=0)
    opts.update(kws)

    def full(x: np.ndarray) -> np.ndarray:
        if every:
            return np.array(x, dtype=float)  # (a copy: the problem keeps it in its memo)
        v = base.copy()
        v[idx] = x
        return v

    def fun(x: np.ndarray) -> np.ndarray:
        check_time()
        v = full(x)
        r = problem.residual_ahead(v, names, maxes)  # the Jacobian's copies in the same solve, while that pays
        seen["nfev"] += 1
        if track:
            chi = float(r @ r)
            if chi < seen["chisqr"]:
                seen["chisqr"], seen["values"] = chi, dict(zip(problem._var_names, v.tolist()))
        if not _all_finite(r):
            raise ValueError("NaN values detected in the residual of the fit (tumordyn)")
        if on_eval is not None:
            on_eval(r, names, x)
        return r

    def jac(x: np.ndarray) -> np.ndarray:
        check_time()
        return problem.jacobian_at(full(x), names, maxes)

    err = np.geterr()  # (run_minimizer silences numpy's floating-point warnings around this loop)
    problem._quiet = err["divide"] == err["invalid"] == err["over"] == "ignore"
    try:
        ret = least_squares(fun, x0, jac=jac, bounds=(lo, hi), max_nfev=max_nfev, **opts)
    finally:
        del problem._quiet  # (back to the class's False)
    values = full(ret.x)
    residual = problem.residual_at(values)  # at the solution (memoised), not the last trial
    return _LeastSquares(problem, start, names, values, lo, hi, ret, residual)


def _prepare_owned(mini: lmfit.Minimizer, pars: lmfit.Parameters) -> Any:
    """:meth:`lmfit.Minimizer.prepare_fit` for ``pars`` that nobody reads afterwards: the same result, whose
    parameters are ``pars`` itself rather than a deep copy (a new ``asteval`` interpreter and a copy of every
    parameter, about a tenth of a closed-form fit's time)."""
    from lmfit.minimizer import MinimizerResult, reduce_chisquare

    mini._abort = False
    mini.params = pars
    result = mini.result = MinimizerResult()
    result.params = pars
    result.var_names, result.init_vals, result._init_vals_internal = [], [], []
    pars.update_constraints()
    result.nfev = 0
    result.call_kws = {}
    result.errorbars = False
    result.aborted = False
    result.success = True
    result.covar = None
    for name, par in pars.items():
        par.stderr = None
        par.correl = None
        if par.expr is not None:
            par.vary = False
        if par.vary:
            result.var_names.append(name)
            result._init_vals_internal.append(par.setup_bounds())
            result.init_vals.append(par.value)
        par.init_value = par.value
        if par.name is None:
            par.name = name
    result.nvarys = len(result.var_names)
    result.init_values = dict(zip(result.var_names, result.init_vals))
    if mini.reduce_fcn is None:  # (what prepare_fit sets; read only by scalar minimizers)
        mini.reduce_fcn = reduce_chisquare
    return result


class FitResult:
    """The outcome of :func:`fit`.

    Attributes
    ----------
    params : lmfit.Parameters
        Best values with ``stderr`` and ``correl`` (see the module notes for the names).
    lmfit_result : lmfit.minimizer.MinimizerResult
        lmfit's own result.
    model : Model
        The model fitted.
    data : pandas.DataFrame
        The checked observations.
    subjects : tuple
        Subject labels, in order of first appearance in ``data``.
    scale : str
        ``"log"`` or ``"linear"``.
    optimizer : str
        lmfit method used (``method`` is a deprecated alias).
    solver : Solver
        The solver settings of the fit.
    engine : str
        The method integrating the fit at its end (``"dopri5"``, or ``"LSODA"`` after a switch on a
        stiff problem, or the scipy/batch method asked for).
    chisqr, redchi, aic, bic : float
        Sum of squared residuals, reduced chi-square and lmfit's information
        criteria :math:`n\\ln(\\chi^2/n) + 2k` and :math:`n\\ln(\\chi^2/n) + k\\ln n`.
    ndata, nvarys : int
        Number of data points and of fitted parameters.
    success : bool
        Whether lmfit reports success.
    n_failed_solves : int
        Residual evaluations whose ODE solve failed (penalised, see :data:`FAILED_SOLVE_RESIDUAL`).
    wall_time : float
        Seconds spent fitting.
    """

    def __init__(self, problem: _Problem, minimizer: lmfit.Minimizer | None, result: Any, method: str,
                 wall_time: float, n_failed_solves: int) -> None:
        self._problem = problem
        # lmfit's Minimizer and MinimizerResult; a direct least-squares fit (minimizer None, result its
        # _LeastSquares) makes them when first read (params, lmfit_result and what reads them)
        self._lean: _LeastSquares | None = result if minimizer is None else None
        self._lmfit: tuple[Any, Any] | None = None if minimizer is None else (minimizer, result)
        self.model = problem.model
        self.subjects = problem.subjects
        self.scale = problem.scale
        self.optimizer = method
        self.solver = problem.solver
        self.engine = problem.engine
        self.chisqr = float(result.chisqr)
        self.redchi = float(result.redchi)
        self.aic = float(result.aic)
        self.bic = float(result.bic)
        self.ndata = int(result.ndata)
        self.nvarys = int(result.nvarys)
        self.success = bool(result.success)
        self.n_failed_solves = n_failed_solves
        self.wall_time = wall_time

    def _lmfit_objects(self) -> tuple[Any, Any]:
        if self._lmfit is None:
            self._lmfit = self._lean.lmfit_objects()
        return self._lmfit

    @property
    def params(self) -> lmfit.Parameters:
        """Best values with ``stderr`` and ``correl`` (lmfit ``Parameters``; see the module notes for the names)."""
        return self._lmfit_objects()[1].params

    @property
    def lmfit_result(self) -> Any:
        """lmfit's own result (:class:`lmfit.minimizer.MinimizerResult`)."""
        return self._lmfit_objects()[1]

    @property
    def _minimizer(self) -> lmfit.Minimizer:
        return self._lmfit_objects()[0]

    def _fitted(self) -> list[tuple[str, float, float, float]]:
        """Name, value and lower and upper bound of each fitted variable (without making lmfit objects)."""
        if self._lmfit is None:
            lean = self._lean
            x = lean.values[[self._problem._var_pos[n] for n in lean.names]]
            return list(zip(lean.names, x.tolist(), lean.lower.tolist(), lean.upper.tolist()))
        return [(n, float(p.value), float(p.min), float(p.max)) for n, p in self.params.items() if p.vary]

    @property
    def data(self) -> pd.DataFrame:
        """The checked observations (a copy of the data; built on first access)."""
        return self._problem.df

    @property
    def method(self) -> str:
        """Deprecated alias of :attr:`optimizer` (emits :class:`DeprecationWarning`)."""
        warnings.warn("FitResult.method is deprecated; use FitResult.optimizer", DeprecationWarning, stacklevel=2)
        return self.optimizer

    @property
    def at_bounds(self) -> dict[str, str]:
        """Fitted variables that ended at a bound (within 1e-6 of their typical size): name to
        ``"lower"`` or ``"upper"``."""
        out = {}
        typ = self._problem.typical
        for n, value, lo, hi in self._fitted():
            tol = 1e-6 * max(abs(value), typ.get(n, 1.0))
            if math.isfinite(lo) and value - lo <= tol:
                out[n] = "lower"
            elif math.isfinite(hi) and hi - value <= tol:
                out[n] = "upper"
        return out

    @property
    def t0(self) -> dict[Any, float]:
        """Start of each subject's simulation and schedule (days)."""
        return dict(self._problem.t0s)

    @property
    def free(self) -> dict[str, str]:
        """Fitted model parameters and their mode (``"shared"`` or ``"subject"``)."""
        return dict(self._problem.free)

    @property
    def initial_free(self) -> dict[str, str]:
        """States whose initial value was fitted, and their mode."""
        return dict(self._problem.initial_free)

    @property
    def known_sigma(self) -> bool:
        """Whether the data gave ``sigma`` (then chi-square differences are likelihood ratios)."""
        return self._problem.known_sigma

    def values(self) -> dict[str, float]:
        """Best values of the fitted lmfit parameters, by name."""
        if self._lmfit is None:
            return dict(zip(self._problem._var_names, self._lean.values.tolist()))
        return {n: float(p.value) for n, p in self.params.items()}

    def stderr(self) -> dict[str, float]:
        """Standard errors by parameter name (NaN where lmfit could not estimate them)."""
        if self._lmfit is None:  # a direct least-squares fit: from its arrays (0 for a variable held fixed)
            lean = self._lean
            covar, se, _, _ = lean.uncertainties()
            out = dict.fromkeys(self._problem._var_names, math.nan if covar is None else 0.0)
            out.update(zip(lean.names, se.tolist()))
            return out
        return {n: (float(p.stderr) if p.stderr is not None else math.nan) for n, p in self.params.items()}

    def correlations(self) -> pd.DataFrame:
        """Correlation matrix of the fitted parameters (NaN where unavailable)."""
        import pandas as pd

        if self._lmfit is None:  # a direct least-squares fit: from its arrays
            names = list(self._lean.names)
            return pd.DataFrame(self._lean.uncertainties()[2].copy(), index=names, columns=names)
        names = [n for n, p in self.params.items() if p.vary]
        corr = np.full((len(names), len(names)), np.nan)
        for i, a in enumerate(names):
            corr[i, i] = 1.0
            for j, b in enumerate(names):
                cij = (self.params[a].correl or {}).get(b)
                if cij is not None:
                    corr[i, j] = cij
        return pd.DataFrame(corr, index=names, columns=names)

    def confidence_table(self, level: float = 0.95) -> pd.DataFrame:
        """Wald intervals ``value ± z·stderr`` at ``level`` (e.g. 0.95 → z = 1.96).

        Returns
        -------
        pandas.DataFrame
            Index: parameter names; columns ``value``, ``stderr``, ``lower``, ``upper``.
        """
        import pandas as pd
        from scipy.stats import norm

        if not 0 < level < 1:
            raise SpecificationError(f"`level` must be in (0, 1), got {level}")
        z = float(norm.ppf(0.5 + level / 2))
        rows = {}
        for n, p in self.params.items():
            se = float(p.stderr) if p.stderr is not None else math.nan
            rows[n] = {"value": float(p.value), "stderr": se, "lower": p.value - z * se, "upper": p.value + z * se}
        return pd.DataFrame.from_dict(rows, orient="index")

    def conf_interval(self, sigmas: Sequence[float] = (1, 2), names: Sequence[str] | None = None,
                      maxiter: int = 200) -> dict[str, list[tuple[float, float]]]:
        """Confidence intervals by lmfit's F-test search (:func:`lmfit.conf_interval`).

        Parameters
        ----------
        sigmas : sequence of float
            Levels as numbers of standard deviations (1 → 68.3 %, 2 → 95.4 %) or probabilities < 1.
        names : sequence of str, optional
            Parameters to compute; default all fitted ones.
        maxiter : int
            Iterations per bound search.

        Returns
        -------
        dict of str to list of (float, float)
            lmfit's output: for each parameter, ``(probability, value)`` pairs
            from the lower limits to the best value to the upper limits.

        Raises
        ------
        SpecificationError
            If standard errors are unavailable (lmfit needs them to start its search).
        """
        import lmfit

        missing = [n for n, p in self.params.items() if p.vary and p.stderr is None]
        if missing:
            raise SpecificationError(f"conf_interval needs standard errors, unavailable for {missing}; "
                                     "the fit may be at a bound or non-identifiable (see profile_likelihood)")
        p_names = list(names) if names is not None else None
        for n in p_names or []:
            if n not in self.params:
                raise UnknownNameError("fitted parameter", n, list(self.params), "conf_interval")
        return lmfit.conf_interval(self._minimizer, self.lmfit_result, p_names=p_names, sigmas=list(sigmas),
                                   maxiter=maxiter)

    def report(self) -> str:
        """A report to paste in a notebook: the setting, then lmfit's ``fit_report``."""
        import lmfit

        p = self._problem
        head = [
            f"[[tumordyn fit]] model {self.model.name!r}, {len(self.subjects)} subject(s), "
            f"{self.ndata} points, scale={self.scale}, optimizer={self.optimizer}, engine={self.engine}",
            f"    free: {', '.join(f'{k} ({v})' for k, v in p.free.items()) or '-'}",
            f"    initial_free: {', '.join(f'{k} ({v})' for k, v in p.initial_free.items()) or '-'}",
            f"    sigma given: {p.known_sigma}; censored points: {int(p.censored.sum())}; "
            f"failed solves: {self.n_failed_solves}; wall time: {self.wall_time:.3g} s",
        ]
        return "\n".join(head) + "\n" + lmfit.fit_report(self.lmfit_result)

    def __repr__(self) -> str:
        return (f"<FitResult {self.model.name!r}: {self.nvarys} parameters, {self.ndata} points, "
                f"chisqr={self.chisqr:.4g}, aic={self.aic:.4g}, success={self.success}>")

    # -- per-subject values and predictions --------------------------------------------
    def subject_parameters(self, subject: Any) -> dict[str, float]:
        """All model parameter values used for ``subject`` (fitted and fixed)."""
        return self._problem.subject_values(self.params, subject)[0]

    def subject_initial(self, subject: Any) -> dict[str, float]:
        """Initial states used for ``subject``."""
        return self._problem.subject_values(self.params, subject)[1]

    @property
    def residuals(self) -> pd.DataFrame:
        """The data with the prediction and residual of each row (on the fit scale, weighted).

        Columns: those of :attr:`data` plus ``prediction`` and ``residual``.
        """
        p = self._problem
        pred = p.predictions(self.params)
        out = self.data.copy()
        out["prediction"] = pred
        out["residual"] = p.residual_from_pred(pred)
        return out

    def trajectory(self, subject: Any, t_end: float | None = None, t_eval: Sequence[float] | None = None) -> Trajectory:
        """Fitted trajectory of one subject (with its schedule) as a :class:`~tumordyn.Trajectory`.

        Parameters
        ----------
        subject : label
            A subject of the data.
        t_end : float, optional
            Horizon (days); default the subject's last observation time.
        t_eval : sequence of float, optional
            Output times (days) within ``[t0, t_end]``; default a fine grid.
        """
        from ..trajectory import check_t_eval
        from ..trajectory import Trajectory

        p = self._problem
        pv, iv = p.subject_values(self.params, subject)
        if t_end is None:
            t_end = float(self.data.loc[self.data["subject"] == subject, "time"].max())
            if t_eval is not None:
                t_end = max(t_end, float(np.max(t_eval)))
        t_end = finite_value(t_end, "`t_end`")
        t0 = p.t0s[subject]
        if t_end <= t0:
            t_end = t0 + 1.0
        te = check_t_eval(t_eval, t0, t_end)
        sched = p.schedules[subject]
        c = p.compiled
        plan = DosingPlan.build(c.drug_names, sched, t0, t_end)
        P = np.array([pv[n] for n in c.param_names])
        Y0 = np.array([iv[n] for n in c.state_names])
        started = _time.perf_counter()
        prob = Problem(c, plan, P[None, :], Y0[None, :], te)
        if p.law is not None:
            sol: Any = p._closed_solution(prob)
            bad = ~np.isfinite(sol.y[0])
            if bad.any():
                i, k = np.argwhere(bad)[0]
                raise SolverError(f"the closed form of {self.model.name!r} is not finite at t = {te[i]:g} days "
                                  f"(state {c.state_names[k]!r}, subject {subject!r})", t=float(te[i]),
                                  status=SolverStatus.NON_FINITE)
            stats = SolverStats(CLOSED_FORM, 0, 0, 0, plan.n_segments, plan.n_doses, _time.perf_counter() - started)
        else:
            # the engine that produced the fit (not "auto", which may pick another integrator whose
            # undershoot of a state killed to ~0 trips the negativity check the fit's engine did not)
            sol = solve(prob, p._engines[p._engine][2])
            sol.raise_first_failure(c, lambda k: f" (subject {subject!r})")
            stats = SolverStats(sol.methods[0], int(sol.nfev[0]), int(sol.njev[0]), int(sol.nlu[0]),
                                plan.n_segments, plan.n_doses, _time.perf_counter() - started)
        return Trajectory(te, sol.y[0], sol.u, P, self.model, sched.between(t0, math.nextafter(t_end, math.inf)),
                          stats)

    def predict(self, times: Sequence[float] | None = None, subjects: Sequence[Any] | None = None,
                observables: Sequence[str] | None = None) -> pd.DataFrame:
        """Predicted trajectories as a tidy table.

        Parameters
        ----------
        times : sequence of float, optional
            Times (days, sorted, >= t0); default 200 points up to each subject's last observation.
        subjects : sequence, optional
            Default all subjects.
        observables : sequence of str, optional
            Default the observables present in the data.

        Returns
        -------
        pandas.DataFrame
            Columns ``subject, time, observable, value``.
        """
        import pandas as pd

        subjects = list(self.subjects) if subjects is None else list(subjects)
        obs = list(self.data["observable"].drop_duplicates()) if observables is None else list(observables)
        frames = []
        for s in subjects:
            if times is None:
                t_last = float(self.data.loc[self.data["subject"] == s, "time"].max()) if s in self.subjects else 0
                t0 = self._problem.t0s.get(s, self._problem.t0)
                te = np.linspace(t0, max(t_last, t0 + 1.0), 200)
            else:
                te = np.asarray(times, dtype=float)
            traj = self.trajectory(s, t_eval=te)
            for o in obs:
                frames.append(pd.DataFrame({"subject": [s] * te.size, "time": te, "observable": o, "value": traj[o]}))
        return pd.concat(frames, ignore_index=True)

    def plot(self, subjects: Sequence[Any] | None = None, observables: Sequence[str] | None = None,
             ncols: int = 3, logy: bool | None = None, ax: Any = None) -> Any:
        """Data against fit, one panel per subject.

        Censored points are drawn as open downward triangles at the detection limit.

        Parameters
        ----------
        subjects : sequence, optional
            Subjects to draw (default all).
        observables : sequence of str, optional
            Observables to draw (default those in the data).
        ncols : int
            Panels per row.
        logy : bool, optional
            Log y axis; default ``True`` on the log scale.
        ax : matplotlib.axes.Axes or sequence of Axes, optional
            One Axes per subject (a single Axes for one subject); default a new figure.

        Returns
        -------
        matplotlib.figure.Figure or matplotlib.axes.Axes or list of Axes
            The new figure without ``ax``; else the axes given.
        """
        from .._plotting import panels, y_label

        subjects = list(self.subjects) if subjects is None else list(subjects)
        obs = list(self.data["observable"].drop_duplicates()) if observables is None else list(observables)
        logy = self.scale == "log" if logy is None else logy
        given = ax
        fig, axes = panels(ax, len(subjects), ncols, panel_size=(4.2, 3.2), where="FitResult.plot")
        pred = self.predict(subjects=subjects, observables=obs)
        for k, s in enumerate(subjects):
            ax = axes[k]
            ax.set_ylabel(y_label(self.model, obs))
            for i, o in enumerate(obs):
                color = f"C{i % 10}"
                d = self.data[(self.data["subject"] == s) & (self.data["observable"] == o)]
                cen = d["censored"].to_numpy(dtype=bool)
                ax.plot(d["time"][~cen], d["value"][~cen], "o", color=color, ms=4, label=f"{o} data")
                if cen.any():
                    ax.plot(d["time"][cen], d["value"][cen], "v", mfc="none", color=color, ms=5, label=f"{o} < LOD")
                q = pred[(pred["subject"] == s) & (pred["observable"] == o)]
                ax.plot(q["time"], q["value"], "-", color=color, label=f"{o} fit")
            sch = self._problem.schedules[s]
            for dose in sch.doses:
                ax.axvline(dose.time, ymax=0.04, color="k", lw=1)
            for inf in sch.infusions:
                ax.axvspan(inf.start, inf.end, color="0.9", zorder=0)
            if logy:
                ax.set_yscale("log")
            ax.set_title(f"subject {s}")
            ax.set_xlabel("time (days)")
            if k == 0:
                ax.legend(fontsize="x-small")
        if given is not None:
            return given
        fig.suptitle(f"{self.model.name}: data and fit ({self.scale} scale)")
        fig.tight_layout()
        return fig
