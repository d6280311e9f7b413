"""Built-in models and the modules they are composed of.

* :func:`tumor_immune_tme` — the default model (clones, T-cell exhaustion, TME, three drugs),
  with its standard doses :data:`STANDARD_DOSES`;
* :func:`kuznetsov1994`, :func:`zhang2017` — published models with their published values;
* :func:`logistic_growth`, :func:`gompertz_growth`, :func:`one_compartment_pk` — reference
  models with closed-form solutions (:func:`logistic_solution`, :func:`gompertz_solution`,
  :func:`bolus_pk_solution`, :func:`infusion_pk_solution`);
* :func:`multilesion` — several lesions of the default model in one patient (shared drugs and a
  circulating T-cell pool), for RECIST sums, mixed responses and new lesions;
* modules to compose your own: :func:`tumor_clones`, :func:`immune_escape_clone`, :func:`t_cells`, :func:`tme_suppression`,
  :func:`one_compartment_drug`, :func:`tumor_observables`, and :func:`emax`;
  :data:`T_CELL_VOLUME`, the volume of one infiltrating T cell (mm³).
"""

from ._default import STANDARD_DOSES, tumor_immune_tme
from ._modules import (
    T_CELL_VOLUME,
    emax,
    immune_escape_clone,
    one_compartment_drug,
    t_cells,
    tme_suppression,
    tumor_clones,
    tumor_observables,
)
from ._multilesion import DEFAULT_LESIONS, PER_LESION_PARAMETERS, multilesion
from ._published import kuznetsov1994, zhang2017
from ._toy import (
    bolus_pk_solution,
    gompertz_growth,
    gompertz_solution,
    infusion_pk_solution,
    logistic_growth,
    logistic_solution,
    one_compartment_pk,
)

__all__ = [
    "tumor_immune_tme",
    "STANDARD_DOSES",
    "kuznetsov1994",
    "zhang2017",
    "multilesion",
    "DEFAULT_LESIONS",
    "PER_LESION_PARAMETERS",
    "logistic_growth",
    "logistic_solution",
    "gompertz_growth",
    "gompertz_solution",
    "one_compartment_pk",
    "bolus_pk_solution",
    "infusion_pk_solution",
    "tumor_clones",
    "immune_escape_clone",
    "t_cells",
    "tme_suppression",
    "one_compartment_drug",
    "tumor_observables",
    "emax",
    "T_CELL_VOLUME",
]

# --- the names other layers import from this package ---
from ._default import STANDARD_DOSES  # noqa: F401
# --- end of package API ---
