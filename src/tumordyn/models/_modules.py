"""Building blocks of tumor–immune–TME models, one function per module.

Each function returns a :class:`~tumordyn.Module`; :func:`~tumordyn.compose`
combines them into a validated model. Couplings between modules are explicit
arguments (sympy expressions or names), so every module can be used alone.

Units: cells and days; drug concentrations in mg/L, doses in mg, volumes in L.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import sympy as sp

from ..spec import Drug, Module, Observable, Parameter, Process, State
from ..errors import SpecificationError

__all__ = [
    "tumor_clones",
    "immune_escape_clone",
    "t_cells",
    "tme_suppression",
    "one_compartment_drug",
    "emax",
    "tumor_observables",
    "T_CELL_VOLUME",
]

INF = math.inf


def emax(conc: sp.Expr, ec50: sp.Expr, hill: sp.Expr | float = 1) -> sp.Expr:
    r"""Fractional Emax (Hill) effect :math:`C^h / (EC_{50}^h + C^h)`, in [0, 1)."""
    if hill == 1:
        return conc / (ec50 + conc)
    return conc**hill / (ec50**hill + conc**hill)


def _tumor_total(tumor_states: Sequence[str], where: str) -> sp.Expr:
    """Sum of the tumor-cell states (the tumor burden T) named in ``tumor_states``."""
    if isinstance(tumor_states, str) or not tumor_states:
        raise SpecificationError(f"{where}: tumor_states must be a non-empty sequence of state names, "
                                 f"got {tumor_states!r}")
    return sp.Add(*[sp.Symbol(n) for n in tumor_states])


def tumor_clones(
    growth: str = "logistic",
    *,
    S0: float = 8e9,
    R0: float = 8e7,
    r_S: float = 0.03,
    r_R: float = 0.02,
    K: float = 1.6e10,
    mutation: float = 1e-7,
    drug_kill: sp.Expr | None = None,
    switching: sp.Expr | None = None,
    back_switching: float | None = None,
    persisters: bool = False,
    DTP0: float = 1.6e7,
    r_DTP: float = 0.003,
    baseline_switching: float = 1e-4,
    extra_states: Sequence[str] = (),
) -> Module:
    r"""Drug-sensitive (S) and drug-resistant (R) tumor clones sharing a carrying capacity.

    Processes (T = S + R, or S + DTP + R with ``persisters=True``):

    * ``birth_S`` :math:`r_S S`, ``birth_R`` :math:`r_R R` (fitness cost: r_R < r_S);
    * ``crowding_S`` :math:`r_S S T / K`, ``crowding_R`` :math:`r_R R T / K` (logistic) —
      or, with ``growth="gompertz"``, ``growth_S`` :math:`r_S S \ln(K/(T+1))`;
    * ``mutation`` S→R at :math:`\mu r_S S` (a fraction of divisions; genetic, never reverts);
    * ``drug_kill_S`` at ``drug_kill * S`` if given (per-capita kill rate, 1/day);
    * without ``persisters``: ``switch_S_to_R`` at ``switching * S`` (drug-induced) and
      ``switch_R_to_S`` at :math:`\sigma_{back} R` if ``switching`` is given — a one-state
      approximation in which the resistant clone is partly reversible (kept for
      backward compatibility; pre-existing mutants then "revert" too);
    * with ``persisters=True``: a third state ``DTP`` of drug-tolerant persister cells
      (Sharma et al. 2010), separate from the genetically resistant R:

      - ``persister_entry`` S→DTP at :math:`(\sigma_0 + \text{switching}) S` (stochastic
        entry at :math:`\sigma_0`, raised by drug exposure);
      - ``persister_exit`` DTP→S at :math:`\sigma_{back} DTP` (epigenetic reversion, on
        and off drug: with the drug gone, entry falls back to :math:`\sigma_0` and the
        persister pool relaxes to its small pre-treatment share);
      - ``birth_DTP`` :math:`r_{DTP} DTP` (slow cycling) and ``crowding_DTP``
        :math:`r_{DTP} DTP\,T/K` (or the Gompertz form); persisters are not killed by the
        drug (``drug_kill`` acts on S only).

      R has no outflow to S: the genetically resistant pool changes only by its own
      net growth, incoming mutation and (in a composed model) immune killing.

    Parameters
    ----------
    growth : {"logistic", "gompertz"}
        Growth law.
    S0, R0 : float
        Default initial sensitive and resistant cells.
    r_S, r_R : float
        Default growth rates (1/day).
    K : float
        Default carrying capacity (cells).
    mutation : float
        Default probability of S→R mutation per division.
    drug_kill : sympy.Expr, optional
        Per-capita kill rate of S by drug (1/day), an expression in drug levels.
    switching : sympy.Expr, optional
        Per-capita drug-induced switching rate (1/day): S→R, or S→DTP with ``persisters``.
    back_switching : float, optional
        Default reversion rate (1/day), parameter ``sigma_back``: R→S (with
        ``switching``, no persisters; default 0) or DTP→S (with ``persisters``;
        default 0.05, a half-life of two weeks in the persister state).
    persisters : bool
        Add the reversible drug-tolerant persister state ``DTP`` (cells).
    DTP0 : float
        Default initial persister cells (with ``persisters``).
    r_DTP : float
        Default growth rate of persisters (1/day), parameter ``r_DTP``.
    baseline_switching : float
        Default drug-independent entry rate S→DTP (1/day), parameter ``sigma_0``.
    extra_states : sequence of str
        Further tumor-cell states of other modules (e.g. ``I`` of :func:`immune_escape_clone`)
        that count in the crowding term T. Default none.

    Returns
    -------
    Module
    """
    if growth not in ("logistic", "gompertz"):
        raise SpecificationError(f"growth must be 'logistic' or 'gompertz', got {growth!r}")
    if not isinstance(persisters, bool):
        raise TypeError(f"tumor_clones: persisters must be True or False, got {persisters!r}")
    if back_switching is None:
        back_switching = 0.05 if persisters else 0.0
    S, R, D, rS, rR, rD, Kp, mu = sp.symbols("S R DTP r_S r_R r_DTP K mu")
    T = (S + D + R if persisters else S + R) + sp.Add(*[sp.Symbol(n) for n in extra_states])
    states = [
        State("S", S0, "cells", "drug-sensitive tumor cells", atol=1.0),
        State("R", R0, "cells", "drug-resistant tumor cells" + (" (genetic, irreversible)" if persisters else ""),
              atol=1.0),
    ]
    params = [
        Parameter("r_S", r_S, (0.001, 1.0), "1/day", "net growth rate of sensitive cells at low density",
                  "assumption: doubling ~23 days, within clinical tumor doubling times (Friberg & Mattsson 1997)"),
        Parameter("r_R", r_R, (0.001, 1.0), "1/day", "growth rate of resistant cells (fitness cost: r_R < r_S)",
                  "assumption: one third slower than S, the cost of resistance (Gatenby 2009; Zhang 2017)"),
        Parameter("K", K, (1e6, 1e13), "cells", "shared carrying capacity of the tumor cells",
                  "assumption: 1.6e10 cells (16 cm3, a 31 mm sphere); the 8e9-cell (25 mm) baseline lesion is at half "
                  "capacity, so S and R compete, and can still grow by the +20 % and +5 mm of RECIST progression"),
        Parameter("mu", mutation, (0.0, 1e-3), "1", "probability of S->R mutation per division",
                  "assumption: 1e-7 per division, typical point-mutation rates 1e-9..1e-6"),
    ]
    if growth == "logistic":
        procs = [
            Process("birth_S", rS * S * (1 - mu), produces="S", description="division of sensitive cells"),
            Process("birth_R", rR * R, produces="R", description="division of resistant cells"),
            Process("crowding_S", rS * S * T / Kp, consumes="S", description="density-dependent loss of S"),
            Process("crowding_R", rR * R * T / Kp, consumes="R", description="density-dependent loss of R"),
        ]
    else:
        procs = [
            Process("growth_S", rS * S * sp.log(Kp / (T + 1)) - mu * rS * S, produces="S",
                    description="Gompertz growth of S (T+1 keeps the log finite when T=0)"),
            Process("growth_R", rR * R * sp.log(Kp / (T + 1)), produces="R", description="Gompertz growth of R"),
        ]
    procs.append(Process("mutation", mu * rS * S, produces="R", description="S->R mutation at division"))
    if drug_kill is not None:
        procs.append(Process("drug_kill_S", drug_kill * S, consumes="S", description="drug kills sensitive cells"))
    if persisters:
        states.insert(1, State("DTP", DTP0, "cells", "drug-tolerant persister cells (reversible, non-genetic)",
                               atol=1.0))
        sb, s0 = sp.symbols("sigma_back sigma_0")
        params += [
            Parameter("r_DTP", r_DTP, (0.0, 1.0), "1/day", "growth rate of drug-tolerant persisters",
                      "Sharma et al. 2010: persisters are largely quiescent and slow-cycling under drug; "
                      "assumption: doubling ~230 days"),
            Parameter("sigma_0", baseline_switching, (0.0, 0.1), "1/day", "drug-independent entry rate S->DTP",
                      "Sharma et al. 2010: a small subpopulation (well under 1 %) enters and leaves the tolerant "
                      "state at low frequency without drug; assumption: sigma_0/sigma_back gives a 0.2 % share"),
            Parameter("sigma_back", back_switching, (0.0, 1.0), "1/day", "reversion rate DTP->S",
                      "Sharma et al. 2010: the tolerant state is relinquished, persisters regain drug sensitivity "
                      "off drug; assumption: half-life in the persister state ~2 weeks"),
        ]
        entry = s0 + (switching if switching is not None else 0)
        if growth == "logistic":
            procs += [
                Process("birth_DTP", rD * D, produces="DTP", description="slow division of persisters"),
                Process("crowding_DTP", rD * D * T / Kp, consumes="DTP", description="density-dependent loss of DTP"),
            ]
        else:
            procs.append(Process("growth_DTP", rD * D * sp.log(Kp / (T + 1)), produces="DTP",
                                 description="Gompertz growth of persisters"))
        procs.append(Process("persister_entry", entry * S, consumes="S", produces="DTP",
                             description="entry into the drug-tolerant persister state (raised by the drug)"))
        procs.append(Process("persister_exit", sb * D, consumes="DTP", produces="S",
                             description="reversion of persisters to drug-sensitive cells (epigenetic)"))
    elif switching is not None:
        params.append(Parameter("sigma_back", back_switching, (0.0, 1.0), "1/day", "reversion rate R->S",
                                "assumption: reversible (epigenetic) drug tolerance (Sharma et al. 2010)"))
        procs.append(Process("switch_S_to_R", switching * S, consumes="S", produces="R",
                             description="drug-induced switching to the resistant phenotype"))
        procs.append(Process("switch_R_to_S", sp.Symbol("sigma_back") * R, consumes="R", produces="S",
                             description="reversion of drug-tolerant cells"))
    return Module("tumor_clones", tuple(states), tuple(params), tuple(procs))


def immune_escape_clone(
    growth: str = "logistic",
    *,
    I0: float = 1e3,
    drug_kill: sp.Expr | None = None,
    tumor_states: Sequence[str] = ("S", "R", "I"),
) -> Module:
    r"""A pre-existing immune-escape subclone ``I``: tumor cells the T cells cannot recognise.

    Acquired resistance to PD-1 blockade in melanoma comes from subclones that lost antigen
    presentation (truncating *B2M* mutations) or interferon-γ signalling (loss-of-function *JAK1*
    or *JAK2* mutations with loss of the wild-type allele): found at relapse after a response
    of months to years, and selected by the therapy (Zaretsky et al. 2016, *N Engl J Med*
    375:819; Sharma et al. 2017, *Cell* 168:707). Here they are a separate state ``I`` (cells)
    present at treatment start in small numbers:

    * ``birth_I`` :math:`r_S I` and ``crowding_I`` :math:`r_S I T / K` (logistic; or
      ``growth_I`` :math:`r_S I \ln(K/(T+1))` with ``growth="gompertz"``), with T the sum of
      ``tumor_states`` (I included): escape cells grow as the sensitive ones (assumption: no
      fitness cost; Zaretsky et al. found the mutant clones expanding at relapse);
    * ``drug_kill_I`` at ``drug_kill * I`` if given: they keep the sensitive clone's response
      to the targeted drug (assumption: the mutations concern antigen presentation only);
    * no effector killing and no antigen-driven T-cell expansion (the composed model leaves
      ``I`` out of the T cells' tumor states).

    A response to anti-PD-1 then clears S (and R) while I grows unseen, and the lesion relapses
    months to years later, when I reaches a measurable size.

    Parameters
    ----------
    growth : {"logistic", "gompertz"}
        Growth law (as for :func:`tumor_clones`, whose ``r_S`` and ``K`` it uses).
    I0 : float
        Default initial escape cells.
    drug_kill : sympy.Expr, optional
        Per-capita kill rate by the targeted drug (1/day).
    tumor_states : sequence of str
        The tumor-cell states sharing the carrying capacity (must include ``I``).

    Returns
    -------
    Module
    """
    if growth not in ("logistic", "gompertz"):
        raise SpecificationError(f"growth must be 'logistic' or 'gompertz', got {growth!r}")
    if "I" not in tumor_states:
        raise SpecificationError(f"immune_escape_clone: tumor_states must include 'I', got {tuple(tumor_states)!r}")
    I, rS, Kp = sp.symbols("I r_S K")
    T = _tumor_total(tumor_states, "immune_escape_clone")
    states = (State("I", I0, "cells", "immune-escape tumor cells (B2M or JAK1/2 loss: not recognised by T cells)",
                    atol=1.0),)
    if growth == "logistic":
        procs = [Process("birth_I", rS * I, produces="I", description="division of immune-escape cells"),
                 Process("crowding_I", rS * I * T / Kp, consumes="I", description="density-dependent loss of I")]
    else:
        procs = [Process("growth_I", rS * I * sp.log(Kp / (T + 1)), produces="I",
                         description="Gompertz growth of immune-escape cells")]
    if drug_kill is not None:
        procs.append(Process("drug_kill_I", drug_kill * I, consumes="I", description="drug kills immune-escape cells"))
    return Module("immune_escape", states, (), tuple(procs))


def one_compartment_drug(
    name: str,
    compartment: str,
    half_life: float,
    volume: float = 5.0,
    *,
    half_life_bounds: tuple[float, float] = (0.01, 100.0),
    description: str = "",
    source: str = "",
) -> Module:
    r"""One-compartment pharmacokinetics with first-order elimination.

    :math:`dC/dt = u(t)/V - \ln 2 / t_{1/2} \cdot C`; a bolus of ``amount`` mg raises
    C by ``amount / V`` mg/L.

    Parameters
    ----------
    name : str
        Drug name used in schedules.
    compartment : str
        Name of the concentration state (mg/L).
    half_life : float
        Default elimination half-life (days); parameter ``t_half_<name>``.
    volume : float
        Default volume of distribution (L); parameter ``V_<name>``.
    half_life_bounds : tuple of float
        Plausible range of the half-life (days).
    description, source : str
        Text for the docs.

    Returns
    -------
    Module
    """
    C = sp.Symbol(compartment)
    th = sp.Symbol(f"t_half_{name}")
    return Module(
        f"pk_{name}",
        states=(State(compartment, 0.0, "mg/L", f"plasma concentration of {name}", atol=1e-8),),
        parameters=(
            Parameter(f"t_half_{name}", half_life, half_life_bounds, "day", f"elimination half-life of {name}", source),
            Parameter(f"V_{name}", volume, (0.1, 100.0), "L", f"volume of distribution of {name}",
                      "assumption: about plasma volume for antibodies (3-5 L), larger for small molecules"),
        ),
        processes=(Process(f"elimination_{name}", sp.log(2) / th * C, consumes=compartment,
                           description=f"first-order elimination of {name}"),),
        drugs=(Drug(name, compartment, volume=f"V_{name}", dose_unit="mg", description=description),),
    )


def t_cells(
    *,
    E0: float = 6.4e5,
    X0: float = 1.12e7,
    suppression: sp.Expr = sp.Integer(0),
    exhaustion_block: sp.Expr = sp.Integer(0),
    reinvigoration_boost: sp.Expr = sp.Integer(0),
    tumor_states: Sequence[str] = ("S", "R"),
    memory: bool = False,
    M0: float = 1.5e4,
    stress: bool = False,
    Z0: float = 0.97,
    stress_inhibition: sp.Expr = sp.Integer(0),
) -> Module:
    r"""Effector (E) and exhausted (X) tumor-specific T cells in the lesion, optionally memory and stress.

    With T the tumor burden (the sum of ``tumor_states``, S + R by default) and
    suppression factor :math:`\phi = 1/(1+P)` (``suppression`` is P):

    * ``E_influx`` :math:`s_E`: baseline infiltration of tumor-specific cells;
    * ``E_expansion`` :math:`p_E E \frac{T}{g_E + T} \frac{\phi}{1 + E/K_E}`: antigen-driven
      expansion/recruitment, limited by the effector niche (cytokines, antigen-presenting
      cells) so that an expanded response settles at a level set by :math:`K_E`;
    * ``E_death`` :math:`d_E E`;
    * ``exhaustion`` E→X at :math:`x_{max} A (1-b) E` where ``b`` is ``exhaustion_block``
      (fraction blocked by anti-PD-1) and the stress signal A is :math:`T/(g_X + T)` — or,
      with ``stress=True``, the stress-pathway state Z;
    * ``reinvigoration`` X→E at :math:`(\rho_0 + \rho_{max} \cdot boost) X`;
    * ``X_death`` :math:`d_X X`;
    * ``kill_<s>`` for each tumor state s: :math:`k_E E \frac{s}{h_E + T} \phi`:
      saturating killing, at most k_E cells per effector per day.

    With ``memory=True``, a long-lived memory compartment M (De Boer et al. 2001;
    Kaech & Cui 2012):

    * ``memory_formation`` E→M at :math:`m_E \frac{g_M}{g_M + T} E`: effectors become
      memory as antigen is cleared (a fraction :math:`m_E/(m_E+d_E)` of them survives
      contraction); under chronic antigen (:math:`T \gg g_M`) memory does not form;
    * ``memory_recall`` :math:`a_M \frac{T}{g_M + T} M` new effectors: on re-encounter with
      antigen memory cells divide into effectors while renewing themselves (the memory
      pool is not consumed), at a much lower antigen level than primes new effectors
      (:math:`g_M \ll g_E`);
    * ``M_death`` :math:`d_M M` (half-life of years).

    With ``stress=True``, the exhaustion stress pathway (the TOX-driven program under
    chronic stimulation) has a state Z (dimensionless, 0–1, fraction of maximal signalling):

    * ``stress_induction`` :math:`k_Z \frac{T}{g_X + T} (1 - i)` with ``i`` the
      ``stress_inhibition`` (fraction of signalling blocked by an inhibitor);
    * ``stress_decay`` :math:`k_Z Z` (so Z relaxes to :math:`(1-i)\,T/(g_X+T)`);
    * exhaustion uses Z as its signal, and ``stress_release`` X→E at
      :math:`\rho_Z \frac{K_Z^2}{K_Z^2 + Z^2} X`: exhausted cells whose program is held by
      sustained signalling regain function when it stops (rest reverses exhaustion,
      Weber et al. 2021), so blocking the pathway revives exhausted cells, not only
      prevents exhaustion.

    Parameters
    ----------
    E0, X0 : float
        Default initial effector and exhausted cells.
    suppression : sympy.Expr
        TME suppression level P (dimensionless), 0 without a TME module.
    exhaustion_block : sympy.Expr
        Fraction of exhaustion blocked, in [0, 1).
    reinvigoration_boost : sympy.Expr
        Drug effect in [0, 1) scaling the reinvigoration rate.
    tumor_states : sequence of str
        Names of the tumor-cell states whose sum is the antigen load and which are killed.
    memory : bool
        Add the memory T-cell state ``M`` (cells).
    M0 : float
        Default initial memory cells (with ``memory``).
    stress : bool
        Add the stress-pathway state ``Z`` (dimensionless).
    Z0 : float
        Default initial stress level (with ``stress``), about :math:`T_0/(g_X+T_0)`.
    stress_inhibition : sympy.Expr
        Fraction of stress signalling blocked by a drug, in [0, 1) (with ``stress``).

    Returns
    -------
    Module
    """
    for flag, val in (("memory", memory), ("stress", stress)):
        if not isinstance(val, bool):
            raise TypeError(f"t_cells: {flag} must be True or False, got {val!r}")
    E, X, M, Z = sp.symbols("E X M Z")
    s_E, p_E, g_E, K_E, d_E, x_max, g_X, rho0, rho_max, d_X, k_E, h_E = sp.symbols(
        "s_E p_E g_E K_E d_E x_max g_X rho_0 rho_max d_X k_E h_E"
    )
    T = _tumor_total(tumor_states, "t_cells")
    phi = 1 / (1 + suppression)
    states = [
        State("E", E0, "cells", "effector (functional) tumor-specific T cells in the lesion", atol=1.0),
        State("X", X0, "cells", "exhausted tumor-specific T cells in the lesion", atol=1.0),
    ]
    params = [
        Parameter("s_E", 1.6e5, (0.0, 1e9), "cells/day", "baseline influx of tumor-specific effector cells",
                  "assumption: a small tumor-specific precursor pool (Kuznetsov 1994: s = 1.3e4 cells/day for a "
                  "1e7-cell tumor; all cell-number scales here are for an 8e9-cell lesion)"),
        Parameter("p_E", 0.7, (0.0, 2.0), "1/day", "maximal antigen-driven expansion rate of effectors",
                  "assumption: CD8 T cells divide up to about once a day in expansion (Kuznetsov 1994: 0.1245/day)"),
        Parameter("g_E", 8e8, (1e4, 1e12), "cells", "tumor size at half-maximal expansion",
                  "assumption: a tenth of the baseline lesion; Kuznetsov 1994 g = 2.019e7 cells"),
        Parameter("K_E", 1.2e8, (1e3, 1e11), "cells", "effector level at which expansion is halved (niche limit)",
                  "assumption: expansion limited by cytokines and antigen-presenting niches (De Boer & Perelson 1995)"),
        Parameter("d_E", 0.05, (0.001, 1.0), "1/day", "death rate of effector cells",
                  "Kuznetsov 1994 d = 0.0412/day (lifetime ~20 days)"),
        Parameter("x_max", 0.5, (0.0, 5.0), "1/day", "maximal antigen-driven exhaustion rate",
                  "assumption: exhaustion within days under chronic antigen (Wherry & Kurachi 2015)"),
        Parameter("g_X", 2.4e8, (1e4, 1e12), "cells", "tumor size at half-maximal exhaustion rate",
                  "assumption: chronic antigen exhausts effectors in any clinically visible lesion"),
        Parameter("rho_0", 0.01, (0.0, 1.0), "1/day", "spontaneous reinvigoration rate X->E",
                  "assumption: exhaustion is mostly stable without blockade (Pauken et al. 2016)"),
        Parameter("rho_max", 0.2, (0.0, 2.0), "1/day", "maximal drug-induced reinvigoration rate X->E",
                  "assumption: PD-1 blockade expands progenitor-exhausted cells within days (Huang et al. 2017)"),
        Parameter("d_X", 0.02, (0.0, 1.0), "1/day", "death rate of exhausted cells",
                  "assumption: exhausted cells persist (slower turnover than effectors)"),
        Parameter("k_E", 2.0, (0.0, 20.0), "cells/(cell day)", "maximal tumor cells killed per effector per day",
                  "assumption: CTL serial killing of 2-10 targets/day (Halle et al. 2016)"),
        Parameter("h_E", 8e8, (1.0, 1e12), "cells", "tumor size at half-maximal killing per effector",
                  "assumption: saturation of effector access to targets"),
    ]
    signal = Z if stress else T / (g_X + T)
    procs = [
        Process("E_influx", s_E, produces="E", description="baseline infiltration"),
        Process("E_expansion", p_E * E * T / (g_E + T) * phi / (1 + E / K_E), produces="E",
                description="antigen-driven expansion and recruitment, lowered by the TME"),
        Process("E_death", d_E * E, consumes="E"),
        Process("exhaustion", x_max * signal * (1 - exhaustion_block) * E, consumes="E", produces="X",
                description="antigen-driven exhaustion (stress pathway)"),
        Process("reinvigoration", (rho0 + rho_max * reinvigoration_boost) * X, consumes="X", produces="E",
                description="return of exhausted cells to function"),
        Process("X_death", d_X * X, consumes="X"),
    ]
    for name in tumor_states:
        procs.append(Process(f"kill_{name}", k_E * E * sp.Symbol(name) / (h_E + T) * phi, consumes=name,
                             description=f"effector killing of {name}"))
    if memory:
        m_E, a_M, g_M, d_M = sp.symbols("m_E a_M g_M d_M")
        states.append(State("M", M0, "cells", "tumor-specific memory T cells (long-lived)", atol=1.0))
        params += [
            Parameter("m_E", 0.005, (0.0, 0.5), "1/day", "rate of effector differentiation into memory",
                      "Kaech & Cui 2012: 5-10 % of effectors survive contraction as memory, m_E/(m_E+d_E) = 9 %; "
                      "no memory forms under chronic antigen (Wherry et al. 2004)"),
            Parameter("a_M", 0.3, (0.0, 5.0), "1/day", "maximal recall rate of memory cells into effectors",
                      "assumption: memory cells divide and re-acquire effector function within days of antigen "
                      "re-encounter (Kaech, Wherry & Ahmed 2002)"),
            Parameter("g_M", 8e6, (1.0, 1e12), "cells", "tumor size at half-maximal memory recall",
                      "assumption: memory cells respond to less antigen than naive precursors (Kaech, Wherry & "
                      "Ahmed 2002); g_M = g_E/100"),
            Parameter("d_M", 2.4e-4, (1e-5, 0.05), "1/day", "death (net loss) rate of memory cells",
                      "Hammarlund et al. 2003: antiviral CD8 memory half-life 8-15 years (ln2/8 y = 2.4e-4/day)"),
        ]
        procs += [
            Process("memory_formation", m_E * g_M / (g_M + T) * E, consumes="E", produces="M",
                    description="effector -> memory differentiation as antigen is cleared"),
            Process("memory_recall", a_M * T / (g_M + T) * M, produces="E",
                    description="memory cells give rise to effectors on antigen re-encounter (self-renewing)"),
            Process("M_death", d_M * M, consumes="M", description="slow loss of memory cells"),
        ]
    if stress:
        k_Z, rho_Z, K_Z = sp.symbols("k_Z rho_Z K_Z")
        states.append(State("Z", Z0, "1", "exhaustion stress-pathway activity (fraction of maximal, 0-1)",
                            atol=1e-8))
        params += [
            Parameter("k_Z", 0.2, (0.01, 5.0), "1/day", "relaxation rate of the stress-pathway activity",
                      "assumption: the TOX program is induced by persistent stimulation (Khan et al. 2019); "
                      "induction and decay over days (1/k_Z = 5 days)"),
            Parameter("rho_Z", 0.1, (0.0, 1.0), "1/day", "maximal revival rate X->E when stress signalling stops",
                      "Weber et al. 2021: transient rest from signalling (e.g. by dasatinib) restores the function "
                      "of exhausted CAR-T cells; assumption: half of the revivable cells within a week"),
            Parameter("K_Z", 0.2, (1e-3, 10.0), "1", "stress level at which revival is halved (Hill coefficient 2)",
                      "assumption: revival only when signalling falls well below its chronic level"),
        ]
        signal_T = T / (g_X + T)
        procs += [
            Process("stress_induction", k_Z * signal_T * (1 - stress_inhibition), produces="Z",
                    description="chronic antigen induces the exhaustion stress pathway"),
            Process("stress_decay", k_Z * Z, consumes="Z", description="decay of stress signalling"),
            Process("stress_release", rho_Z * K_Z**2 / (K_Z**2 + Z**2) * X, consumes="X", produces="E",
                    description="exhausted cells regain function when stress signalling stops"),
        ]
    return Module("t_cells", tuple(states), tuple(params), tuple(procs))


def tme_suppression(
    *, P0: float = 3.5, clearance: sp.Expr = sp.Integer(0), tumor_states: Sequence[str] = ("S", "R")
) -> Module:
    r"""TME suppression level P (suppressive myeloid cells, Tregs, hypoxia, dense matrix).

    * ``P_production`` :math:`a_P \frac{T}{g_P + T}`: produced by the tumor;
    * ``P_decay`` :math:`d_P P`;
    * ``P_clearance`` ``clearance * P`` (e.g. a TME-priming agent), if given.

    Parameters
    ----------
    P0 : float
        Default initial suppression (dimensionless).
    clearance : sympy.Expr
        Per-capita removal rate of P by treatment (1/day).
    tumor_states : sequence of str
        Names of the tumor-cell states whose sum T produces suppression.

    Returns
    -------
    Module
    """
    P = sp.Symbol("P")
    a_P, g_P, d_P = sp.symbols("a_P g_P d_P")
    T = _tumor_total(tumor_states, "tme_suppression")
    procs = [
        Process("P_production", a_P * T / (g_P + T), produces="P", description="suppression produced by the tumor"),
        Process("P_decay", d_P * P, consumes="P"),
    ]
    if clearance != 0:
        procs.append(Process("P_clearance", clearance * P, consumes="P", description="removal by TME priming"))
    return Module(
        "tme",
        states=(State("P", P0, "1", "TME suppression level (dimensionless)", atol=1e-6),),
        parameters=(
            Parameter("a_P", 0.04, (0.0, 10.0), "1/day", "maximal production rate of suppression",
                      "assumption: a_P/d_P = 4, so P is about 3.5 for an 8e9-cell tumor (T-cell killing reduced 4.5x)"),
            Parameter("g_P", 2.4e9, (1e4, 1e12), "cells", "tumor size at half-maximal production",
                      "assumption: 30 % of the baseline lesion"),
            Parameter("d_P", 0.01, (0.001, 1.0), "1/day", "decay rate of suppression",
                      "assumption: stroma/vasculature remodel over months (half-life 70 days); Arciero 2004 uses TGF-b decay"),
        ),
        processes=tuple(procs),
    )


#: Volume of one infiltrating T cell (mm³): a lymphocyte of ~7 µm diameter,
#: 4/3 π (3.5e-3 mm)³ = 1.8e-7 mm³; measured 210 µm³ = 2.1e-7 mm³ (Segel et al. 1981).
T_CELL_VOLUME = 2e-7


def tumor_observables(
    *,
    immune: bool = True,
    tumor_states: Sequence[str] = ("S", "R"),
    infiltrate_states: Sequence[str] = ("E", "X"),
    infiltrate_volume: float = T_CELL_VOLUME,
) -> Module:
    r"""Clinical observables of the tumor.

    * ``tumor_burden`` T = sum of ``tumor_states`` (S + R by default; cells);
    * ``tumor_volume`` = v_cell T (mm³; 1 mm³ ≈ 10⁶ cells);
    * ``tumor_diameter`` = (6 V/π)^(1/3) (mm, equivalent sphere);
    * ``lesion_volume`` = tumor volume + v_inf (E + X) (mm³): what a scan measures,
      counting infiltrating T cells (``infiltrate_states``);
    * ``lesion_diameter`` (mm, equivalent sphere of the lesion volume);
    * ``resistant_fraction`` = R / T (0 when the tumor is gone);
    * ``persister_fraction`` = DTP / T, if ``DTP`` is a tumor state;
    * ``effector_exhausted_ratio`` = E / (X + 1) (1 cell added so it stays finite).

    Parameters
    ----------
    immune : bool
        Include the immune observables (needs states E and X).
    tumor_states : sequence of str
        Names of the tumor-cell states (must include ``R``).
    infiltrate_states : sequence of str
        T-cell states counted in the measured lesion (with ``immune``).
    infiltrate_volume : float
        Default lesion volume per infiltrating T cell (mm³/cell), parameter ``v_inf``:
        :data:`T_CELL_VOLUME` = 2e-7 mm³, the volume of a lymphocyte (the default
        was 2e-5 mm³ before issue 15, which made a treated lesion mostly T cells).

    Returns
    -------
    Module
    """
    R, E, X = sp.symbols("R E X")
    v_cell, v_inf = sp.symbols("v_cell v_inf")
    T = _tumor_total(tumor_states, "tumor_observables")
    if "R" not in tumor_states:
        raise SpecificationError(f"tumor_observables: tumor_states must include 'R', got {tuple(tumor_states)!r}")
    infiltrate_volume = float(infiltrate_volume)
    if not (math.isfinite(infiltrate_volume) and infiltrate_volume >= 0):
        raise SpecificationError(f"tumor_observables: infiltrate_volume must be a finite number of mm^3 >= 0, "
                                 f"got {infiltrate_volume!r}")
    params = [Parameter("v_cell", 1e-6, (1e-8, 1e-4), "mm^3/cell", "volume per tumor cell",
                        "1 mm3 of tumor is about 1e6 cells (Del Monte 2009)")]
    vol = v_cell * T
    obs = [
        Observable("tumor_burden", T, "cells", "total tumor cells " + " + ".join(tumor_states)),
        Observable("tumor_volume", vol, "mm^3", "tumor volume"),
        Observable("tumor_diameter", (6 * sp.Symbol("tumor_volume") / sp.pi) ** sp.Rational(1, 3), "mm",
                   "equivalent-sphere diameter of the tumor"),
    ]
    if immune:
        params.append(Parameter("v_inf", infiltrate_volume, (0.0, 1e-3), "mm^3/cell",
                                "lesion volume added per infiltrating T cell",
                                "a human lymphocyte is ~7 um across, 210 um3 = 2.1e-7 mm3 (Segel, Cokelet & Lichtman 1981); "
                                "larger values stand for inflammatory edema around the infiltrate"))
        infiltrate = sp.Add(*[sp.Symbol(n) for n in infiltrate_states])
        obs.append(Observable("lesion_volume", sp.Symbol("tumor_volume") + v_inf * infiltrate, "mm^3",
                              "measured lesion volume, tumor plus T-cell infiltrate "
                              + " + ".join(infiltrate_states)))
        obs.append(Observable("lesion_diameter", (6 * sp.Symbol("lesion_volume") / sp.pi) ** sp.Rational(1, 3),
                              "mm", "equivalent-sphere diameter of the measured lesion"))
    else:
        obs.append(Observable("lesion_volume", sp.Symbol("tumor_volume"), "mm^3", "measured lesion volume"))
        obs.append(Observable("lesion_diameter", sp.Symbol("tumor_diameter"), "mm", "measured lesion diameter"))
    obs.append(Observable("resistant_fraction", R / (T + sp.Float(1e-300)), "1", "R / T (genetic resistance)"))
    if "DTP" in tumor_states:
        obs.append(Observable("persister_fraction", sp.Symbol("DTP") / (T + sp.Float(1e-300)), "1",
                              "DTP / T (drug-tolerant persisters)"))
    if immune:
        obs.append(Observable("effector_exhausted_ratio", E / (X + 1), "1", "E / (X + 1)"))
    return Module("observables", parameters=tuple(params), observables=tuple(obs))
