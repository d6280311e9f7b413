"""Exceptions raised by tumordyn.

Every error subclasses the built-in exception a user already catches:

* :class:`UnknownNameError` is a :class:`KeyError` (an unknown state, parameter,
  drug, observable or readout name) and suggests the closest valid names;
* :class:`SpecificationError` is a :class:`ValueError` (a model, schedule or
  argument that breaks a rule); :class:`UnitError` is one for units;
* :class:`SolverError` is a :class:`RuntimeError` carrying the time reached and
  the solver's own message.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Iterable

__all__ = [
    "TumordynError",
    "SpecificationError",
    "UnknownNameError",
    "UnsafeExpressionError",
    "UnitError",
    "SolverError",
    "SolverStatus",
    "NegativeStateError",
    "FitTimeoutError",
    "FitWarning",
    "CalibrationError",
    "ModelFileError",
    "LimitExceededError",
    "TumordynWarning",
    "SymbolicBudgetWarning",
    "ReadoutWarning",
    "closest_names",
]


class TumordynError(Exception):
    """Base class of every error raised by tumordyn."""


class SpecificationError(TumordynError, ValueError):
    """A model, schedule or argument breaks a rule; the message names the culprit."""


class UnsafeExpressionError(SpecificationError):
    """An expression given as text uses a construct that is not allowed (no code is ever run)."""


class UnitError(SpecificationError):
    """A unit that cannot be read (the closest known units are suggested), or a model whose units do not
    agree: a process rate, an observable or a drug's dose whose unit differs from what it feeds.

    Attributes
    ----------
    unit : str
        The offending unit (as written, or as inferred from an expression).
    """

    def __init__(self, message: str, unit: object = "") -> None:
        self.unit = str(unit)
        super().__init__(message)


class ModelFileError(SpecificationError):
    """A model file cannot be read or written: not a regular file, too large, not UTF-8, malformed
    TOML/JSON, a duplicated key, or a write that would not read back.

    Attributes
    ----------
    path : str
        The file.
    """

    def __init__(self, message: str, path: object = "") -> None:
        self.path = str(path)
        super().__init__(message)


class LimitExceededError(ModelFileError):
    """A model file exceeds a documented limit (size, nesting depth, number of entries); see
    :data:`tumordyn.io.FILE_LIMITS`.

    Attributes
    ----------
    limit : str
        Name of the limit (``"max_bytes"``, ``"max_depth"``...).
    """

    def __init__(self, message: str, path: object = "", limit: str = "") -> None:
        self.limit = limit
        super().__init__(message, path)


class TumordynWarning(UserWarning):
    """Base class of the warnings tumordyn issues."""


class ReadoutWarning(TumordynWarning):
    """A readout cannot be computed for this model (e.g. no measured lesion diameter for RECIST) and is
    left out."""


class FitWarning(TumordynWarning):
    """A fit converged but its result needs a look (e.g. parameters ended at a bound)."""


class SymbolicBudgetWarning(TumordynWarning):
    """A symbolic step exceeded its budget: a simplification or a positivity proof was replaced by a numeric
    check at sampled points, or ``min``/``max`` calls were kept as written instead of being simplified."""


def closest_names(name: str, valid: Iterable[str], n: int = 3) -> list[str]:
    """Return up to ``n`` names from ``valid`` that are closest to ``name``.

    Parameters
    ----------
    name : str
        The name that was not found.
    valid : iterable of str
        The names that would have been accepted.
    n : int, optional
        Largest number of suggestions.

    Returns
    -------
    list of str
        Suggestions, best first (possibly empty).
    """
    valid = [str(v) for v in valid]
    hits = difflib.get_close_matches(str(name), valid, n=n, cutoff=0.5)
    if not hits:
        lowered = {v.lower(): v for v in valid}
        hits = [lowered[h] for h in difflib.get_close_matches(str(name).lower(), list(lowered), n=n, cutoff=0.5)]
    return hits


class UnknownNameError(TumordynError, KeyError):
    """A name (state, parameter, drug, observable, readout, subject...) that does not exist.

    Parameters
    ----------
    kind : str
        What was looked up, e.g. ``"parameter"``.
    name : str
        The name that was not found.
    valid : iterable of str
        The names that exist; the closest ones are suggested.
    where : str, optional
        Where the lookup happened (e.g. the model's name).
    """

    def __init__(self, kind: str, name: object, valid: Iterable[str], where: str = "") -> None:
        valid = sorted(str(v) for v in valid)
        self.kind = kind
        self.name = name
        self.valid = tuple(valid)
        suggestions = closest_names(str(name), valid)
        loc = f" in {where}" if where else ""
        msg = f"unknown {kind} {name!r}{loc}"
        if suggestions:
            msg += f"; did you mean {' or '.join(repr(s) for s in suggestions)}?"
        elif len(valid) <= 40:
            msg += "."
        if len(valid) <= 40:
            msg += f" Valid {kind} names: {', '.join(valid) if valid else '(none)'}."
        self.message = msg
        super().__init__(msg)

    def __str__(self) -> str:  # KeyError would otherwise print the repr of the message
        return self.message


class SolverStatus(enum.IntEnum):
    """How a solve ended, as every engine reports it (one code per patient of a batch).

    Fallbacks and error types are decided on these codes, never on message text.
    """

    #: Reached the end.
    OK = 0
    #: The step size fell below what the time can resolve (a blow-up, or a very stiff problem).
    STEP_SIZE_UNDERFLOW = 1
    #: The step budget (``Solver.max_steps``) ran out.
    TOO_MANY_STEPS = 2
    #: A state or a derivative became NaN or infinite.
    NON_FINITE = 3
    #: An explicit method detected stiffness and stopped (``method="auto"`` then hands over to LSODA).
    STIFF = 4
    #: A non-negative state fell below zero beyond the documented band (:class:`NegativeStateError`).
    NEGATIVE_STATE = 5
    #: The scipy integrator reported another failure (its message is kept).
    FAILED = 6
    #: Adaptive rules switched more than ``Solver.max_switches`` times (chattering).
    TOO_MANY_SWITCHES = 7
    #: The wall-time budget (``Solver.max_seconds``) of one patient's solve ran out.
    TIME_BUDGET = 8
    #: The engine cannot integrate this problem (e.g. model events whose triggers numba cannot compile, on
    #: the compiled engine);
    #: ``method="auto"`` hands it to LSODA.
    UNSUPPORTED = 9


class SolverError(TumordynError, RuntimeError):
    """The ODE solver failed.

    Attributes
    ----------
    t : float
        Time reached when the solver stopped (days).
    solver_message : str
        The underlying solver's message.
    status : SolverStatus
        Why it stopped.
    state_index : int
        Index of the state that went negative or non-finite (in ``compile_model(model).state_names``),
        -1 when no single state is to blame.
    """

    def __init__(self, message: str, t: float, solver_message: str = "",
                 status: SolverStatus = SolverStatus.FAILED, state_index: int = -1) -> None:
        self.t = float(t)
        self.solver_message = solver_message
        self.status = SolverStatus(status)
        self.state_index = int(state_index)
        full = f"{message} (time reached: t = {self.t:g} days)"
        if solver_message:
            full += f"; solver said: {solver_message}"
        super().__init__(full)


class NegativeStateError(SolverError):
    """A non-negative state fell below zero by more than the solver's error tolerance during a solve."""

    def __init__(self, message: str, t: float, solver_message: str = "",
                 status: SolverStatus = SolverStatus.NEGATIVE_STATE, state_index: int = -1) -> None:
        super().__init__(message, t, solver_message, SolverStatus.NEGATIVE_STATE, state_index)


class FitTimeoutError(TumordynError, RuntimeError):
    """A fit ran out of its wall-time budget (``max_seconds`` of :func:`tumordyn.fit`).

    Attributes
    ----------
    elapsed : float
        Seconds spent when the fit stopped.
    best_values : dict of str to float
        The fitted parameters (lmfit names) with the smallest sum of squares evaluated so far.
    best_chisqr : float
        Their sum of squared residuals.
    nfev : int
        Residual evaluations made.
    """

    def __init__(self, message: str, elapsed: float, best_values: dict, best_chisqr: float, nfev: int) -> None:
        self.elapsed = float(elapsed)
        self.best_values = dict(best_values)
        self.best_chisqr = float(best_chisqr)
        self.nfev = int(nfev)
        super().__init__(message)


class CalibrationError(TumordynError, RuntimeError):
    """A virtual population cannot be selected to match its target statistics.

    Raised by :func:`tumordyn.cohorts.calibrate_population` when a target lies outside what the
    plausible patients can reach (e.g. a CR rate asked of a population without a complete
    response), when the weights do not converge, or when too few patients are accepted within
    the bounded number of sampling rounds. The message names the target(s) and the values reached.
    """
