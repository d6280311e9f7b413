"""Several lesions in one patient: copies of the default model's lesion sharing drugs and a T-cell pool.

The lesion is the default model (:func:`~tumordyn.models.tumor_immune_tme`) without its
drugs: every state that is not a drug compartment (tumor clones, T cells in the lesion,
TME suppression, and whatever optional states the default model is built with), the
processes acting on them and the observables. :func:`~tumordyn.compose` puts one copy of
it per lesion under a namespace (``liver_1_S``, ``lung_1_lesion_diameter``, ...); the
drugs' pharmacokinetics stay systemic (one plasma concentration per drug reaches every
lesion), and a systemic pool of circulating tumor-specific effector T cells links the
lesions: effectors leave each lesion into the blood and home from the blood into every
lesion.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import sympy as sp

from ..errors import SpecificationError, UnknownNameError
from ..spec import Model, Module, Observable, Parameter, Process, State, compose
from ._default import tumor_immune_tme

__all__ = ["multilesion", "DEFAULT_LESIONS", "PER_LESION_PARAMETERS"]

#: Parameters of the lesion that each lesion has its own copy of (``<lesion>_<name>``): growth, capacity,
#: T-cell infiltration and TME production differ between sites. Every other parameter is the patient's
#: (drug potency, T-cell kinetics, cell volumes) and is shared.
PER_LESION_PARAMETERS = ("r_S", "r_R", "K", "s_E", "a_P")

#: The default patient: three measurable lesions in two organs and a bone micrometastasis below the
#: detectability limit (:data:`tumordyn.readouts.DETECTION_LIMIT`). ``lung_1`` carries 10 % resistant
#: cells (a mixed response to the targeted drug); ``bone_1`` (1e5 cells, no infiltrate yet) grows into a
#: new lesion within months unless treatment controls it. Values are initial states (cells, 1) or
#: per-lesion parameters.
DEFAULT_LESIONS: Mapping[str, Mapping[str, float]] = MappingProxyType({
    "liver_1": MappingProxyType({}),
    "liver_2": MappingProxyType({"S": 6e8, "R": 6e6}),
    "lung_1": MappingProxyType({"S": 8e8, "R": 8e7}),
    "bone_1": MappingProxyType({"S": 1e5, "R": 10.0, "E": 1e3, "X": 0.0, "P": 0.0}),
})


def _split(base: Model) -> tuple[Module, Module]:
    """The systemic part (drug compartments, their processes, drugs and the parameters only they use) and the lesion."""
    drug_states = {d.compartment for d in base.drugs if d.compartment is not None}
    systemic_procs = [p for p in base.processes if set(p.stoichiometry) <= drug_states]
    lesion_procs = [p for p in base.processes if p not in systemic_procs]
    used_by_lesion: set[str] = set()
    for p in lesion_procs:
        used_by_lesion |= {str(s) for s in p.rate.free_symbols}
    for o in base.observables:
        used_by_lesion |= {str(s) for s in o.expr.free_symbols}
    volumes = {d.volume for d in base.drugs if isinstance(d.volume, str)}
    used_by_systemic: set[str] = set(volumes)
    for p in systemic_procs:
        used_by_systemic |= {str(s) for s in p.rate.free_symbols}
    sys_params = [p for p in base.parameters if p.name in used_by_systemic and p.name not in used_by_lesion]
    systemic = Module("systemic", tuple(s for s in base.states if s.name in drug_states), tuple(sys_params),
                      tuple(systemic_procs), tuple(base.drugs))
    lesion = Module("lesion", tuple(s for s in base.states if s.name not in drug_states),
                    tuple(p for p in base.parameters if p not in sys_params), tuple(lesion_procs), (),
                    tuple(base.observables))
    return systemic, lesion


def multilesion(
    lesions: Mapping[str, Mapping[str, float]] | None = None,
    *,
    t_cell_pool: bool = True,
    **default_model_options: object,
) -> Model:
    r"""A patient with several lesions: the default model's lesion per site, shared drugs and T-cell pool.

    Each lesion ``<name>`` is a copy of the lesion of
    :func:`~tumordyn.models.tumor_immune_tme` (its states, processes and
    observables) composed under the namespace ``<name>``
    (:func:`~tumordyn.compose`, ``namespaces=``): states ``<name>_S``,
    ``<name>_R``, ``<name>_E``, ``<name>_X``, ``<name>_P``; observables
    ``<name>_tumor_burden`` (cells) and ``<name>_lesion_diameter`` (mm), which the
    RECIST readouts find and sum (:func:`tumordyn.readouts.lesions_of`; the organ is
    the name without its trailing ``_<digits>``). The parameters in
    :data:`PER_LESION_PARAMETERS` are per lesion (``<name>_r_S``, ...); the others
    are the patient's and shared. The drugs' compartments are systemic: one plasma
    concentration acts on every lesion.

    With ``t_cell_pool`` (default), a systemic pool :math:`E_B` of circulating
    tumor-specific effector cells links the lesions: for each lesion :math:`i`,

    .. math::

        \frac{dE_B}{dt} = \sum_i q_{out} E_i - \sum_i q_{in} E_B - d_B E_B,

    with ``<i>_egress`` (:math:`q_{out} E_i`, lesion to blood) and ``<i>_homing``
    (:math:`q_{in} E_B`, blood to lesion) added to each lesion's effectors, so an
    immune response primed in one lesion reaches the others.

    Lesions may differ in initial states and per-lesion parameters, so responses
    can be mixed; a lesion starting below the detectability limit
    (:data:`tumordyn.readouts.DETECTION_LIMIT`) is a micrometastasis, and a new lesion
    (progression) once it crosses the limit.

    Parameters
    ----------
    lesions : mapping, optional
        ``{name: {key: value}}``, one entry per lesion, in the order RECIST lists
        them; keys are the lesion's states (initial values: ``S``, ``R`` in cells, ...)
        or per-lesion parameters (:data:`PER_LESION_PARAMETERS`); missing keys take
        the default model's values. Default :data:`DEFAULT_LESIONS`.
    t_cell_pool : bool
        Add the systemic effector T-cell pool (default True).
    **default_model_options
        Passed to :func:`~tumordyn.models.tumor_immune_tme` (e.g. ``growth=``,
        ``drug_induced_switching=``): the lesion and drugs are that model's.

    Returns
    -------
    Model
        Named ``"multilesion"``.

    Raises
    ------
    SpecificationError
        For no lesion, or a lesion name that is not a valid name.
    UnknownNameError
        For a key that is neither a lesion state nor a per-lesion parameter.

    Examples
    --------
    >>> import tumordyn as td
    >>> m = td.models.multilesion({"liver": {}, "lung": {"S": 5e8}})
    >>> [n for n in m.observables.names if n.endswith("lesion_diameter")]
    ['liver_lesion_diameter', 'lung_lesion_diameter']
    >>> m.initial_state()["lung_S"]
    500000000.0
    """
    spec = DEFAULT_LESIONS if lesions is None else lesions
    if not isinstance(spec, Mapping):
        raise TypeError(f"multilesion: lesions must be a mapping {{name: {{state or parameter: value}}}}, "
                        f"got {type(spec).__name__}")
    if not spec:
        raise SpecificationError("multilesion: give at least one lesion")
    base = tumor_immune_tme(**default_model_options)  # type: ignore[arg-type]
    systemic, lesion = _split(base)
    lesion_states = tuple(s.name for s in lesion.states)
    shared = tuple(p.name for p in lesion.parameters if p.name not in PER_LESION_PARAMETERS)
    for name, values in spec.items():
        if not isinstance(values, Mapping):
            raise TypeError(f"multilesion: the values of lesion {name!r} must be a mapping, got {values!r}")
        for key in values:
            if key not in lesion_states and key not in PER_LESION_PARAMETERS:
                raise UnknownNameError("lesion state or per-lesion parameter", key,
                                       lesion_states + PER_LESION_PARAMETERS, f"multilesion lesion {name!r}")
    modules: list[Module] = [systemic]
    if t_cell_pool:
        if "E" not in lesion_states:
            raise SpecificationError("multilesion: the T-cell pool needs the lesion's effector state 'E'")
        EB, q_out, q_in, d_B = sp.symbols("E_blood q_out q_in d_B")
        procs = [Process("E_blood_death", d_B * EB, consumes="E_blood", description="death of circulating effectors")]
        for name in spec:
            E_i = sp.Symbol(f"{name}_E")
            procs.append(Process(f"{name}_egress", q_out * E_i, consumes=f"{name}_E", produces="E_blood",
                                 description=f"effectors leave lesion {name} into the blood"))
            procs.append(Process(f"{name}_homing", q_in * EB, consumes="E_blood", produces=f"{name}_E",
                                 description=f"circulating effectors home into lesion {name}"))
        modules.append(Module("t_cell_pool", (
            State("E_blood", 0.0, "cells", "circulating tumor-specific effector T cells", atol=1.0),
        ), (
            Parameter("q_out", 0.02, (0.0, 1.0), "1/day", "rate at which effectors leave a lesion into the blood",
                      "assumption: effector T cells leave tissues and recirculate over days to weeks "
                      "(Masopust & Schenkel 2013, Nat Rev Immunol 13:309)"),
            Parameter("q_in", 0.02, (0.0, 1.0), "1/day", "rate at which circulating effectors home into each lesion",
                      "assumption: of the order of q_out, so a lesion gets back about what it sends"),
            Parameter("d_B", 0.1, (0.0, 1.0), "1/day", "death rate of circulating effectors",
                      "assumption: activated effectors survive days in blood (half-life about 7 days)"),
        ), tuple(procs)))
    burden_terms = [sp.Symbol(f"{name}_tumor_burden") for name in spec]
    patient = Module("patient_observables", observables=(  # after the lesions' observables, which it sums
        Observable("tumor_burden", sp.Add(*burden_terms), "cells", "total tumor cells over all lesions"),
    ))
    lesions_model = compose("multilesion", *modules, namespaces={name: lesion for name in spec}, shared=shared)
    model = compose("multilesion", lesions_model, patient,
                    description=f"{len(spec)} lesions ({', '.join(spec)}) of the default tumor-immune-TME model "
                    "sharing drug pharmacokinetics" + (" and a circulating effector T-cell pool" if t_cell_pool else "")
                    + " (cells, days, mg/L)")
    initial = {f"{name}_{k}": v for name, values in spec.items() for k, v in values.items() if k in lesion_states}
    params = {f"{name}_{k}": v for name, values in spec.items() for k, v in values.items() if k not in lesion_states}
    if t_cell_pool:  # the pool starts at its steady state for the lesions' initial effectors
        init = {**model.initial_state(), **initial}
        d = {**model.defaults()}
        total_E = sum(init[f"{name}_E"] for name in spec)
        initial["E_blood"] = d["q_out"] * total_E / (d["d_B"] + len(spec) * d["q_in"])
    if params:
        model = model.with_defaults(**params)
    return model.with_initial(**initial) if initial else model
