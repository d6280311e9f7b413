"""The composed default tumor–immune–TME model."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import sympy as sp

from ..spec import Model, Module, Parameter, compose
from ._modules import (
    emax,
    immune_escape_clone,
    one_compartment_drug,
    t_cells,
    tme_suppression,
    tumor_clones,
    tumor_observables,
)

__all__ = ["tumor_immune_tme", "STANDARD_DOSES"]


STANDARD_DOSES: Mapping[str, tuple[float, float]] = MappingProxyType({
    "targeted": (100.0, 7.0),
    "anti_pd1": (200.0, 21.0),
    "priming": (20.0, 1.0),
})
"""Standard dosing of :func:`tumor_immune_tme`'s drugs: drug -> (amount in mg, interval in days).

* ``targeted``: 100 mg once a week (a weekly i.v. targeted/cytotoxic agent; with
  V = 50 L the peak is 2 mg/L, four times EC50_T, and the trough after 7 days 0.18 mg/L);
* ``anti_pd1``: 200 mg every 21 days (pembrolizumab's approved flat dose; with
  V = 6 L and a 22-day half-life, steady-state trough about 35 mg/L);
* ``priming``: 20 mg daily (a short-lived small molecule; peak 2 mg/L, twice EC50_P),
  given for a lead-in period (e.g. 14 days) before immunotherapy.

The mapping is read-only; the default parameterisation was tuned with these doses.
"""


def tumor_immune_tme(
    *,
    growth: str = "logistic",
    drug_induced_switching: bool = False,
    stress_inhibitor: bool = False,
    memory: bool = True,
    persisters: bool | None = None,
    immune_escape: bool = False,
) -> Model:
    r"""The default model: resistant clones, T-cell exhaustion and memory, TME suppression under three drugs.

    States (9 by default): S, R (sensitive and genetically resistant tumor cells), E, X
    (effector and exhausted T cells in the lesion), M (memory T cells), P (TME
    suppression level) and the drug concentrations ``C_targeted``, ``C_anti_pd1``,
    ``C_priming`` (mg/L). Options add ``DTP`` (drug-tolerant persisters), ``Z`` (the
    exhaustion stress pathway) and ``C_stress_inhibitor``.

    Drugs (doses in mg):

    * ``targeted`` — kills S with an Emax response, :math:`k_T\,C^h/(EC_{50}^h+C^h)`;
      R (and DTP) are insensitive. With ``drug_induced_switching`` it also drives S
      into the reversible persister state.
    * ``anti_pd1`` — blocks a fraction :math:`b = b_{max} C/(EC_{50}+C)` of exhaustion
      and reinvigorates exhausted cells at :math:`\rho_{max} C/(EC_{50}+C)`.
    * ``priming`` — a TME-priming agent (stroma/vessel normalising, myeloid
      reprogramming) clearing suppression at :math:`k_P C/(EC_{50}+C)` per day.
    * ``stress_inhibitor`` (optional) — blocks a fraction :math:`b_I C/(EC_{50,I}+C)` of
      the stress signalling Z; with Z low, exhausted cells regain function (X→E).
      40 mg once daily (V = 20 L, half-life 1 day) keeps C between 2 and 4 mg/L,
      blocking about 80 % of the signalling.

    The defaults describe a 25 mm lesion (8.08e9 cells, 1 % resistant) at half its
    carrying capacity in a suppressive, exhausted immune microenvironment: untreated it
    progresses by RECIST 1.1 (+20 % and +5 mm) in about two months. They were
    tuned with :data:`STANDARD_DOSES` to reproduce the six behaviours of the design
    notes (untreated growth; deep response then resistant relapse under the targeted
    drug; modest benefit of anti-PD-1 alone; combination and TME priming beating
    the monotherapies; adaptive on/off dosing delaying progression; pseudoprogression
    for immunogenic parameter sets). Numbers, equations, sources and assumptions:
    docs/models/tumor_immune_tme.md.

    Parameters
    ----------
    growth : {"logistic", "gompertz"}
        Tumor growth law.
    drug_induced_switching : bool
        Let the targeted drug drive cells into a tolerant state (default into the
        persister state DTP, see ``persisters``).
    stress_inhibitor : bool
        Add the exhaustion stress-pathway state ``Z`` and its inhibitor drug.
    memory : bool
        Include memory T cells ``M`` (default ``True``; ``False`` gives the model without
        memory, whose responses relapse once therapy stops).
    persisters : bool, optional
        Add the reversible drug-tolerant persister state ``DTP``, separate from the
        genetically resistant R. Default: on with ``drug_induced_switching``. With
        ``drug_induced_switching=True, persisters=False`` the older one-state form
        (reversible S⇄R switching) is built.
    immune_escape : bool
        Add the immune-escape subclone ``I`` (B2M or JAK1/2 loss: not recognised by the T
        cells; Zaretsky et al. 2016, Sharma et al. 2017), counted in the tumor burden and the
        lesion, sensitive to the targeted drug; see
        :func:`tumordyn.models.immune_escape_clone`. Default ``False``.

    Returns
    -------
    Model
        The composed model; ``repr(model)`` lists every parameter with its unit.

    Raises
    ------
    TypeError
        For a flag that is not a bool.

    Examples
    --------
    >>> import tumordyn as td
    >>> m = td.models.tumor_immune_tme()
    >>> m.states.names
    ('S', 'R', 'E', 'X', 'M', 'P', 'C_targeted', 'C_anti_pd1', 'C_priming')
    >>> td.models.tumor_immune_tme(drug_induced_switching=True).states.names[:3]
    ('S', 'DTP', 'R')
    """
    for flag, val in (("drug_induced_switching", drug_induced_switching), ("stress_inhibitor", stress_inhibitor),
                      ("memory", memory), ("immune_escape", immune_escape)):
        if not isinstance(val, bool):
            raise TypeError(f"tumor_immune_tme: {flag} must be True or False, got {val!r}")
    if persisters is None:
        persisters = drug_induced_switching
    elif not isinstance(persisters, bool):
        raise TypeError(f"tumor_immune_tme: persisters must be True, False or None, got {persisters!r}")
    C_T, C_A, C_P = sp.symbols("C_targeted C_anti_pd1 C_priming")
    k_T, EC50_T, h_T = sp.symbols("k_T EC50_T h_T")
    b_A, EC50_A = sp.symbols("b_A EC50_A")
    k_P, EC50_P = sp.symbols("k_P EC50_P")
    kill = k_T * emax(C_T, EC50_T, h_T)
    occupancy = emax(C_A, EC50_A)
    block = b_A * occupancy
    drug_params = [
        Parameter("k_T", 0.15, (0.0, 5.0), "1/day", "maximal kill rate of S by the targeted drug",
                  "assumption: deep responses within 1-3 months, as with EGFR/BRAF inhibitors"),
        Parameter("EC50_T", 0.5, (1e-3, 100.0), "mg/L", "targeted drug concentration at half-maximal kill",
                  "assumption"),
        Parameter("h_T", 2.0, (0.5, 5.0), "1", "Hill coefficient of the targeted drug", "assumption"),
        Parameter("b_A", 0.9, (0.0, 1.0), "1", "largest fraction of exhaustion blocked by anti-PD-1",
                  "assumption: blockade is partial (Pauken et al. 2016)"),
        Parameter("EC50_A", 5.0, (1e-3, 1000.0), "mg/L", "anti-PD-1 concentration at half-maximal effect",
                  "assumption: receptor occupancy saturates at the approved 200 mg q3w (Brahmer 2010)"),
        Parameter("k_P", 1.0, (0.0, 10.0), "1/day", "maximal clearance rate of suppression by priming",
                  "assumption: vessel normalisation / myeloid reprogramming over days (Jain 2005)"),
        Parameter("EC50_P", 1.0, (1e-3, 100.0), "mg/L", "priming agent concentration at half-maximal effect",
                  "assumption"),
    ]
    switching = None
    if drug_induced_switching:
        drug_params.append(Parameter("sigma_max", 0.01, (0.0, 1.0), "1/day",
                                     "maximal drug-induced switching rate into the tolerant state",
                                     "assumption: drug-tolerant persisters (Sharma et al. 2010)"))
        switching = sp.Symbol("sigma_max") * emax(C_T, EC50_T, h_T)
    tumor = ("S", "DTP", "R") if persisters else ("S", "R")
    stress_inhibition = sp.Integer(0)
    if stress_inhibitor:
        C_I, b_I, EC50_I = sp.symbols("C_stress_inhibitor b_I EC50_I")
        stress_inhibition = b_I * emax(C_I, EC50_I)
    every = (*tumor, "I") if immune_escape else tumor  # escape cells: tumor burden, not seen by the T cells
    modules: list[Module] = [
        tumor_clones(growth, drug_kill=kill, switching=switching, persisters=persisters,
                     back_switching=None if persisters else 0.02, extra_states=("I",) if immune_escape else ()),
        t_cells(suppression=sp.Symbol("P"), exhaustion_block=block, reinvigoration_boost=occupancy,
                tumor_states=tumor, memory=memory, stress=stress_inhibitor, stress_inhibition=stress_inhibition),
        tme_suppression(clearance=k_P * emax(C_P, EC50_P), tumor_states=every),
        one_compartment_drug("targeted", "C_targeted", half_life=2.0, volume=50.0,
                             description="targeted/cytotoxic drug killing sensitive cells",
                             source="assumption: small molecule, half-life ~2 days, large volume"),
        one_compartment_drug("anti_pd1", "C_anti_pd1", half_life=22.0, volume=6.0,
                             half_life_bounds=(1.0, 60.0),
                             description="anti-PD-1 antibody",
                             source="pembrolizumab: half-life 22 days, Vd ~6 L (Keytruda label)"),
        one_compartment_drug("priming", "C_priming", half_life=0.5, volume=10.0,
                             description="TME-priming agent lowering suppression",
                             source="assumption: short-lived small molecule given daily"),
        tumor_observables(tumor_states=every),
        Module("drug_effects", parameters=tuple(drug_params)),
    ]
    if immune_escape:
        modules.insert(1, immune_escape_clone(growth, drug_kill=kill, tumor_states=every))
    if stress_inhibitor:
        modules.append(one_compartment_drug("stress_inhibitor", "C_stress_inhibitor", half_life=1.0, volume=20.0,
                                            description="inhibitor of the stress pathway driving exhaustion",
                                            source="assumption: oral small molecule, half-life ~1 day"))
        modules.append(Module("stress_effects", parameters=(
            Parameter("b_I", 0.95, (0.0, 1.0), "1", "largest fraction of stress signalling blocked by the inhibitor",
                      "assumption: near-complete pathway inhibition at saturating exposure"),
            Parameter("EC50_I", 0.5, (1e-3, 100.0), "mg/L", "stress inhibitor concentration at half-maximal effect",
                      "assumption"),
        )))
    return compose(
        "tumor_immune_tme",
        *modules,
        description="Sensitive/resistant clones, " + ("effector/exhausted/memory" if memory else "effector/exhausted")
        + " T cells and TME suppression under a targeted drug, anti-PD-1 and a TME-priming agent (cells, days, mg/L).",
    )
