"""tumordyn: why does this therapy fail for this tumor, and which schedule would work better?

Symbolic tumor–immune–TME models (sympy), compiled and solved exactly at every
dose (scipy), with clinical readouts, fitting, cohorts and analysis.

The public surface is deliberately small; everything is built and passed explicitly.
"""

from . import errors, models
from ._model import Drug, Model, Module, Observable, Parameter, Process, State, compose
from ._schedule import Dose, Infusion, Schedule
from ._simulate import SolverStats, simulate
from ._trajectory import Trajectory
from .errors import NegativeStateError, SolverError, SpecificationError, UnknownNameError

__version__ = "0.1.0"

__all__ = [
    "State",
    "Parameter",
    "Process",
    "Drug",
    "Observable",
    "Module",
    "Model",
    "compose",
    "Dose",
    "Infusion",
    "Schedule",
    "simulate",
    "Trajectory",
    "SolverStats",
    "models",
    "errors",
    "SpecificationError",
    "UnknownNameError",
    "SolverError",
    "NegativeStateError",
]
