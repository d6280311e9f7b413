"""The model specification layer: frozen values that describe a model.

States, parameters, processes (stoichiometry x rate), drugs and observables are
validated on construction; :func:`compose` joins modules into a :class:`Model`.
Text expressions are parsed (never evaluated) by :func:`parse_expression`.
"""

# --- the names other layers import from this package ---
from ._expr import ALLOWED_FUNCTIONS, EXPRESSION_LIMITS, RESERVED_NAMES, check_name, check_real_constants, checked_exp, parse_expression  # noqa: F401
from ._events import Event, parse_condition  # noqa: F401
from ._model import Drug, Model, Module, Observable, Parameter, Process, State, TIME, compose, input_symbol, vanishes_at_zero  # noqa: F401
from ._units import COVARIATES, TIME_UNIT, convert_amount, dose_covariate, parse_unit, unit_registry  # noqa: F401
# --- end of package API ---

__all__ = ['Model', 'Event', 'State', 'Parameter', 'Process', 'Drug', 'Observable', 'Module', 'compose', 'parse_expression', 'check_name']
