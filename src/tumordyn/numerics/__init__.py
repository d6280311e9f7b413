"""The numerics layer: a model compiled once to generated numeric code.

:func:`compile_model` returns the model's :class:`CompiledModel` (right-hand side,
Jacobian, observables, parameter and state vectors), built on first use and reused.
"""

# --- the names other layers import from this package ---
from ._compile import CompiledModel, compile_model, jacobian_expressions  # noqa: F401
from ._events import EventFunctions, event_functions  # noqa: F401
from ._negative import NEGATIVE_SLACK  # noqa: F401
# --- end of package API ---

__all__ = ['CompiledModel', 'compile_model', 'jacobian_expressions', 'EventFunctions', 'event_functions']
