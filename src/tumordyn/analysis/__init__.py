"""Model analysis: why does a tumor escape?

* :func:`equilibria` — all non-negative steady states with eigenvalues and stability;
* :func:`tumor_free_threshold` — the symbolic immune-control threshold;
* :func:`bifurcation` — branches of equilibria along one parameter;
* :func:`outcome_map` — control vs escape over two parameters or initial values;
* :func:`phase_portrait` — nullclines, vector field and trajectories of two states;
* :func:`sensitivity` — local sensitivities and elasticities of a readout.
"""

from ._bifurcation import Bifurcation, bifurcation
from ._equilibria import Equilibria, equilibria
from ._outcome import OutcomeMap, outcome_map
from ._phase import phase_portrait
from ._sensitivity import Sensitivity, sensitivity
from ._system import classify
from ._threshold import Threshold, tumor_free_threshold

__all__ = [
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
    "classify",
]
