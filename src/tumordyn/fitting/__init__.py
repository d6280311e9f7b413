"""tumordyn.fitting."""

# --- package API (kept in step with tools/relayout.py) ---
from ._fit import FitResult, fit  # noqa: F401
from ._profile import ParameterProfile, ProfileResult, profile_likelihood  # noqa: F401
from ._selection import growth_model, growth_models, select_models  # noqa: F401
from ._synthetic import synthetic_data  # noqa: F401
# --- end of package API ---
