"""Reading and writing models: tumordyn model files (TOML/JSON) and SBML.

* :func:`save_model` / :func:`load_model` — a model as a TOML or JSON text file,
  read back by a safe parser (never ``eval``) to an identical model;
* :func:`to_sbml` / :func:`from_sbml` — SBML Level 3 Version 2 export (doses as
  events) and import of published models (needs the ``sbml`` extra:
  ``pip install "tumordyn[sbml]"``; libsbml is imported only when called);
* :func:`save_schedule` / :func:`load_schedule` — a dosing schedule as a TOML or JSON file.
"""

from ._files import FILE_LIMITS, FORMAT_VERSION, load_model, model_from_dict, model_to_dict, save_model
from ._schedules import SCHEDULE_LIMITS, load_schedule, save_schedule, schedule_from_dict, schedule_to_dict
from ._sbml import SBMLLimitError, SBMLUnitError, SBMLUnsupportedError, from_sbml, to_sbml

__all__ = [
    "save_model",
    "load_model",
    "model_to_dict",
    "model_from_dict",
    "FORMAT_VERSION",
    "FILE_LIMITS",
    "save_schedule",
    "load_schedule",
    "schedule_to_dict",
    "schedule_from_dict",
    "SCHEDULE_LIMITS",
    "to_sbml",
    "from_sbml",
    "SBMLUnsupportedError",
    "SBMLUnitError",
    "SBMLLimitError",
]
