"""tumordyn: why does this therapy fail for this tumor, and which schedule would work better?

Symbolic tumor–immune–TME models (sympy), compiled and solved exactly at every
dose (scipy), with clinical readouts, fitting, cohorts and analysis.

The public surface is deliberately small; everything is built and passed explicitly.
"""

from . import errors, models
from . import io  # model files and SBML; libsbml is imported only when SBML is used
from .spec import Drug, Model, Module, Observable, Parameter, Process, State, compose
from .dosing import Dose, Infusion, Schedule
from .dosing import AdaptiveRule, Regimen, RuleEvent
from . import readouts, regimens
from .comparison import Comparison, compare
from .readouts import ScanPlan
from .comparison import SearchResult, search_schedule
from .trajectory import SolverStats, simulate, simulate_batch
from .solve import Solver
from .errors import SolverStatus
from .trajectory import Trajectory
from .cohorts import plots as cohort_plots
from .cohorts import Cohort, CohortResult, CohortStats, KaplanMeier, kaplan_meier, partial_rank_correlation
from .cohorts import Distribution, Fixed, LogNormal, Normal, TruncatedNormal, Uniform
from .fitting import FitResult, fit
from .fitting import ParameterProfile, ProfileResult, profile_likelihood
from .fitting import growth_model, growth_models, select_models
from .fitting import synthetic_data
from . import analysis
from .analysis import (
    Bifurcation,
    Equilibria,
    OutcomeMap,
    Sensitivity,
    Threshold,
    bifurcation,
    equilibria,
    outcome_map,
    phase_portrait,
    sensitivity,
    tumor_free_threshold,
)
from .errors import NegativeStateError, SolverError, SpecificationError, UnknownNameError

__version__ = "0.1.0"

__all__ = [
    "fit",
    "FitResult",
    "profile_likelihood",
    "ProfileResult",
    "ParameterProfile",
    "select_models",
    "growth_model",
    "growth_models",
    "synthetic_data",
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
    "AdaptiveRule",
    "Regimen",
    "RuleEvent",
    "compare",
    "Comparison",
    "ScanPlan",
    "search_schedule",
    "SearchResult",
    "readouts",
    "regimens",
    "simulate",
    "simulate_batch",
    "Solver",
    "SolverStatus",
    "Trajectory",
    "SolverStats",
    "Cohort",
    "CohortResult",
    "CohortStats",
    "KaplanMeier",
    "kaplan_meier",
    "partial_rank_correlation",
    "cohort_plots",
    "Distribution",
    "LogNormal",
    "Normal",
    "TruncatedNormal",
    "Uniform",
    "Fixed",
    "analysis",
    "equilibria",
    "Equilibria",
    "tumor_free_threshold",
    "Threshold",
    "bifurcation",
    "Bifurcation",
    "outcome_map",
    "OutcomeMap",
    "phase_portrait",
    "sensitivity",
    "Sensitivity",
    "models",
    "io",
    "errors",
    "SpecificationError",
    "UnknownNameError",
    "SolverError",
    "NegativeStateError",
]
