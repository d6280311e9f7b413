"""tumordyn: why does this therapy fail for this tumor, and which schedule would work better?

Symbolic tumor–immune–TME models (sympy), compiled and solved exactly at every
dose (scipy or numba), with clinical readouts, comparison, fitting, cohorts and analysis.

The top level holds what most scripts touch: the model and dosing types, the solver
settings, :func:`simulate` / :func:`simulate_batch` and their :class:`Trajectory`,
:func:`compare`, :func:`fit` and :class:`Cohort`. Everything else lives in the
subpackage of its layer, which follow the data flow::

    spec -> numerics -> dosing -> solve -> trajectory -> readouts
         -> comparison / fitting / cohorts / analysis / io

* :mod:`tumordyn.models` — ready-made models and modules;
* :mod:`tumordyn.regimens` — the standard regimens;
* :mod:`tumordyn.readouts` — RECIST and other clinical readouts;
* :mod:`tumordyn.comparison` — comparison tables and schedule search;
* :mod:`tumordyn.fitting` — fit results, profile likelihood, model selection, synthetic data;
* :mod:`tumordyn.cohorts` — virtual cohorts, parameter distributions, survival;
* :mod:`tumordyn.analysis` — equilibria, thresholds, bifurcations, sensitivity;
* :mod:`tumordyn.datasets` — a clinical lesion dataset and a reader for your own measurements;
* :mod:`tumordyn.io` — model files and SBML;
* :mod:`tumordyn.errors` — the library's exceptions and :class:`~tumordyn.errors.SolverStatus`.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

# A new top-level name goes here, into _NAMES (or _SUBPACKAGES) below and into __all__: a module-level
# import would load numpy and sympy for `tumordyn --help` (tests/test_cli.py and test_public_api.py check).
if TYPE_CHECKING:  # what static tools (type checkers, the API docs) see; at run time see _load below
    from . import errors, models, numerics, spec
    from . import io
    from .spec import Drug, Model, Module, Observable, Parameter, Process, State, compose
    from . import dosing
    from .dosing import AdaptiveRule, Dose, Infusion, Regimen, Schedule
    from . import solve
    from .solve import Solver
    from . import trajectory
    from .trajectory import Trajectory, simulate, simulate_batch
    from . import readouts, regimens
    from . import comparison
    from .comparison import compare
    from . import fitting
    from .fitting import fit, fit_population
    from . import cohorts
    from .cohorts import Cohort
    from . import analysis
    from . import datasets

__version__ = "0.2.0"

__all__ = [
    # model specification
    "Model",
    "State",
    "Parameter",
    "Process",
    "Drug",
    "Observable",
    "Module",
    "compose",
    # dosing
    "Dose",
    "Infusion",
    "Schedule",
    "AdaptiveRule",
    "Regimen",
    # solving
    "Solver",
    "simulate",
    "simulate_batch",
    "Trajectory",
    # what users do with trajectories
    "compare",
    "fit",
    "fit_population",
    "Cohort",
    # submodules
    "models",
    "regimens",
    "readouts",
    "comparison",
    "fitting",
    "cohorts",
    "analysis",
    "datasets",
    "io",
    "errors",
]

#: The subpackages, in layer order. ``import tumordyn`` itself (and so ``python -m tumordyn --help``) imports
#: none of them: numpy, sympy and the rest load on first use (see :data:`_CORE`).
_SUBPACKAGES: tuple[str, ...] = ("errors", "models", "numerics", "spec", "io", "dosing", "solve", "trajectory",
                                 "readouts", "regimens", "comparison", "fitting", "cohorts", "analysis", "datasets")
#: The layers every simulation needs, loaded together on the first use of any public name (in layer order; e.g.
#: numerics adds the deprecated ``Model.compiled`` alias). The others (readouts, comparison, fitting, cohorts,
#: analysis, datasets, io) are loaded when first named: a script that only simulates never imports them.
_CORE: tuple[str, ...] = ("errors", "models", "numerics", "spec", "dosing", "solve", "trajectory", "regimens")
#: Top-level names (other than the subpackages) -> the subpackage that holds them.
_NAMES: dict[str, str] = {
    **{n: "spec" for n in ("Drug", "Model", "Module", "Observable", "Parameter", "Process", "State", "compose")},
    **{n: "dosing" for n in ("AdaptiveRule", "Dose", "Infusion", "Regimen", "Schedule")},
    "Solver": "solve",
    **{n: "trajectory" for n in ("Trajectory", "simulate", "simulate_batch")},
    "compare": "comparison",
    **{n: "fitting" for n in ("fit", "fit_population")},
    "Cohort": "cohorts",
}


def _load(name: str) -> Any:
    """Import the core layers (:data:`_CORE`, in layer order) and the subpackage that holds ``name``, bind
    their top-level names and return ``name``'s value; idempotent and thread-safe (the import system's locks
    serialise the imports, the bindings are the same objects every time)."""
    home = _NAMES.get(name, name)
    wanted = _CORE if home in _CORE else (*_CORE, home)
    mods = {m: importlib.import_module(f"{__name__}.{m}") for m in wanted}
    values: dict[str, Any] = dict(mods)
    values.update({n: getattr(mods[h], n) for n, h in _NAMES.items() if h in mods})
    globals().update(values)
    return values[name]


#: Names that moved from the top level into their subpackage in 0.2; the old
#: ``tumordyn.<name>`` keeps working until 0.3 with a DeprecationWarning.
_MOVED: dict[str, str] = {
    **{n: "tumordyn.fitting" for n in ("FitResult", "profile_likelihood", "ProfileResult", "ParameterProfile",
                                       "select_models", "growth_model", "growth_models", "synthetic_data")},
    **{n: "tumordyn.comparison" for n in ("Comparison", "search_schedule", "SearchResult")},
    **{n: "tumordyn.cohorts" for n in ("CohortResult", "CohortStats", "KaplanMeier", "kaplan_meier",
                                       "partial_rank_correlation", "Distribution", "LogNormal", "Normal",
                                       "TruncatedNormal", "Uniform", "Fixed")},
    **{n: "tumordyn.analysis" for n in ("equilibria", "Equilibria", "tumor_free_threshold", "Threshold",
                                        "bifurcation", "Bifurcation", "outcome_map", "OutcomeMap",
                                        "phase_portrait", "sensitivity", "Sensitivity")},
    **{n: "tumordyn.errors" for n in ("SpecificationError", "UnknownNameError", "SolverError",
                                      "NegativeStateError", "SolverStatus")},
    "RuleEvent": "tumordyn.dosing",
    "ScanPlan": "tumordyn.readouts",
    "SolverStats": "tumordyn.solve",
}
#: Modules that moved: old attribute name -> new module.
_MOVED_MODULES: dict[str, str] = {
    "cohort_plots": "tumordyn.cohorts.plots",
    "plotting": "tumordyn.comparison.plots",
}


def __getattr__(name: str) -> Any:
    """The public names, loaded on first use (:func:`_load`); deprecated top-level names warn once per
    access and return the object from their new home."""
    if name in _NAMES or name in _SUBPACKAGES:
        return _load(name)
    if name in _MOVED:
        new = _MOVED[name]
        warnings.warn(
            f"tumordyn.{name} moved to {new}.{name} in tumordyn 0.2; the top-level alias is removed in 0.3",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(new), name)
    if name in _MOVED_MODULES:
        new = _MOVED_MODULES[name]
        warnings.warn(
            f"tumordyn.{name} moved to {new} in tumordyn 0.2; the old name is removed in 0.3",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.import_module(new)
    raise AttributeError(f"module 'tumordyn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
