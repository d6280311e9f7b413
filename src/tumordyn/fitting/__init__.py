"""Fitting models to data: :func:`fit` (lmfit underneath), profile likelihoods,
growth-law selection and synthetic data for checking identifiability.
"""

# --- the names other layers import from this package ---
from ._fit import FitResult, fit  # noqa: F401
from ._forecast import PatientForecast, forecast_patient  # noqa: F401
from ._population import PopulationResult, PopulationWarning, fit_population  # noqa: F401
from ._profile import ParameterProfile, ProfileResult, profile_likelihood  # noqa: F401
from ._growth import GROWTH_LAWS, GrowthLaw, growth_law, growth_model, growth_models  # noqa: F401
from ._selection import select_models  # noqa: F401
from ._synthetic import synthetic_data  # noqa: F401
# --- end of package API ---

__all__ = ['fit', 'FitResult', 'profile_likelihood', 'ProfileResult', 'ParameterProfile', 'select_models', 'growth_model', 'growth_models', 'growth_law', 'GrowthLaw',
           'GROWTH_LAWS', 'synthetic_data', 'fit_population', 'PopulationResult', 'PopulationWarning', 'forecast_patient', 'PatientForecast']
