"""Building blocks of tumor–immune–TME models, one function per module.

Each function returns a :class:`~tumordyn.Module`; :func:`~tumordyn.compose`
combines them into a validated model. Couplings between modules are explicit
arguments (sympy expressions or names), so every module can be used alone.

Units: cells and days; drug concentrations in mg/L, doses in mg, volumes in L.
"""

from __future__ import annotations

import math

import sympy as sp

from ..spec import Drug, Module, Observable, Parameter, Process, State
from ..errors import SpecificationError

__all__ = [
    "tumor_clones",
    "t_cells",
    "tme_suppression",
    "one_compartment_drug",
    "emax",
    "tumor_observables",
]

INF = math.inf


def emax(conc: sp.Expr, ec50: sp.Expr, hill: sp.Expr | float = 1) -> sp.Expr:
    r"""Fractional Emax (Hill) effect :math:`C^h / (EC_{50}^h + C^h)`, in [0, 1)."""
    if hill == 1:
        return conc / (ec50 + conc)
    return conc**hill / (ec50**hill + conc**hill)


def tumor_clones(
    growth: str = "logistic",
    *,
    S0: float = 1e9,
    R0: float = 1e7,
    r_S: float = 0.03,
    r_R: float = 0.02,
    K: float = 2e9,
    mutation: float = 1e-7,
    drug_kill: sp.Expr | None = None,
    switching: sp.Expr | None = None,
    back_switching: float = 0.0,
) -> Module:
    r"""Drug-sensitive (S) and drug-resistant (R) tumor clones sharing a carrying capacity.

    Processes (T = S + R):

    * ``birth_S`` :math:`r_S S`, ``birth_R`` :math:`r_R R` (fitness cost: r_R < r_S);
    * ``crowding_S`` :math:`r_S S T / K`, ``crowding_R`` :math:`r_R R T / K` (logistic) —
      or, with ``growth="gompertz"``, ``growth_S`` :math:`r_S S \ln(K/(T+1))`;
    * ``mutation`` S→R at :math:`\mu r_S S` (a fraction of divisions);
    * ``drug_kill_S`` at ``drug_kill * S`` if given (per-capita kill rate, 1/day);
    * ``switch_S_to_R`` at ``switching * S`` (drug-induced, reversible) and
      ``switch_R_to_S`` at :math:`\sigma_{back} R` if ``switching`` is given.

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
        Per-capita drug-induced S→R switching rate (1/day).
    back_switching : float
        Default R→S reversion rate (1/day), used with ``switching``.

    Returns
    -------
    Module
    """
    if growth not in ("logistic", "gompertz"):
        raise SpecificationError(f"growth must be 'logistic' or 'gompertz', got {growth!r}")
    S, R, rS, rR, Kp, mu = sp.symbols("S R r_S r_R K mu")
    T = S + R
    states = (
        State("S", S0, "cells", "drug-sensitive tumor cells", atol=1.0),
        State("R", R0, "cells", "drug-resistant tumor cells", atol=1.0),
    )
    params = [
        Parameter("r_S", r_S, (0.001, 1.0), "1/day", "net growth rate of sensitive cells at low density",
                  "assumption: doubling ~23 days, within clinical tumor doubling times (Friberg & Mattsson 1997)"),
        Parameter("r_R", r_R, (0.001, 1.0), "1/day", "growth rate of resistant cells (fitness cost: r_R < r_S)",
                  "assumption: one third slower than S, the cost of resistance (Gatenby 2009; Zhang 2017)"),
        Parameter("K", K, (1e6, 1e13), "cells", "shared carrying capacity of S and R",
                  "assumption: 2e9 cells (about 2 cm3); the 1e9-cell baseline lesion is at half capacity, so S and R compete"),
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
    if switching is not None:
        params.append(Parameter("sigma_back", back_switching, (0.0, 1.0), "1/day", "reversion rate R->S",
                                "assumption: reversible (epigenetic) drug tolerance (Sharma et al. 2010)"))
        procs.append(Process("switch_S_to_R", switching * S, consumes="S", produces="R",
                             description="drug-induced switching to the resistant phenotype"))
        procs.append(Process("switch_R_to_S", sp.Symbol("sigma_back") * R, consumes="R", produces="S",
                             description="reversion of drug-tolerant cells"))
    return Module("tumor_clones", states, tuple(params), tuple(procs))


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
    E0: float = 8e4,
    X0: float = 1.4e6,
    suppression: sp.Expr = sp.Integer(0),
    exhaustion_block: sp.Expr = sp.Integer(0),
    reinvigoration_boost: sp.Expr = sp.Integer(0),
) -> Module:
    r"""Effector (E) and exhausted (X) tumor-specific T cells in the lesion.

    With T = S + R and suppression factor :math:`\phi = 1/(1+P)` (``suppression``
    is P):

    * ``E_influx`` :math:`s_E`: baseline infiltration of tumor-specific cells;
    * ``E_expansion`` :math:`p_E E \frac{T}{g_E + T} \frac{\phi}{1 + E/K_E}`: antigen-driven
      expansion/recruitment, limited by the effector niche (cytokines, antigen-presenting
      cells) so that an expanded response settles at a level set by :math:`K_E`;
    * ``E_death`` :math:`d_E E`;
    * ``exhaustion`` E→X at :math:`x_{max} \frac{T}{g_X + T} (1-b) E` where ``b`` is
      ``exhaustion_block`` (fraction blocked by anti-PD-1 / stress-pathway inhibitors);
    * ``reinvigoration`` X→E at :math:`(\rho_0 + \rho_{max} \cdot boost) X`;
    * ``X_death`` :math:`d_X X`;
    * ``kill_S``, ``kill_R``: :math:`k_E E \frac{S}{h_E + T} \phi` (and the same for R):
      saturating killing, at most k_E cells per effector per day.

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

    Returns
    -------
    Module
    """
    S, R, E, X = sp.symbols("S R E X")
    s_E, p_E, g_E, K_E, d_E, x_max, g_X, rho0, rho_max, d_X, k_E, h_E = sp.symbols(
        "s_E p_E g_E K_E d_E x_max g_X rho_0 rho_max d_X k_E h_E"
    )
    T = S + R
    phi = 1 / (1 + suppression)
    states = (
        State("E", E0, "cells", "effector (functional) tumor-specific T cells in the lesion", atol=1.0),
        State("X", X0, "cells", "exhausted tumor-specific T cells in the lesion", atol=1.0),
    )
    params = (
        Parameter("s_E", 2e4, (0.0, 1e8), "cells/day", "baseline influx of tumor-specific effector cells",
                  "assumption: a small tumor-specific precursor pool (Kuznetsov 1994 uses s = 1.3e4 cells/day)"),
        Parameter("p_E", 0.7, (0.0, 2.0), "1/day", "maximal antigen-driven expansion rate of effectors",
                  "assumption: CD8 T cells divide up to about once a day in expansion (Kuznetsov 1994: 0.1245/day)"),
        Parameter("g_E", 1e8, (1e4, 1e12), "cells", "tumor size at half-maximal expansion",
                  "assumption; Kuznetsov 1994 g = 2.019e7 cells"),
        Parameter("K_E", 1.5e7, (1e3, 1e11), "cells", "effector level at which expansion is halved (niche limit)",
                  "assumption: expansion limited by cytokines and antigen-presenting niches (De Boer & Perelson 1995)"),
        Parameter("d_E", 0.05, (0.001, 1.0), "1/day", "death rate of effector cells",
                  "Kuznetsov 1994 d = 0.0412/day (lifetime ~20 days)"),
        Parameter("x_max", 0.5, (0.0, 5.0), "1/day", "maximal antigen-driven exhaustion rate",
                  "assumption: exhaustion within days under chronic antigen (Wherry & Kurachi 2015)"),
        Parameter("g_X", 3e7, (1e4, 1e12), "cells", "tumor size at half-maximal exhaustion rate",
                  "assumption: chronic antigen exhausts effectors in any clinically visible lesion"),
        Parameter("rho_0", 0.01, (0.0, 1.0), "1/day", "spontaneous reinvigoration rate X->E",
                  "assumption: exhaustion is mostly stable without blockade (Pauken et al. 2016)"),
        Parameter("rho_max", 0.2, (0.0, 2.0), "1/day", "maximal drug-induced reinvigoration rate X->E",
                  "assumption: PD-1 blockade expands progenitor-exhausted cells within days (Huang et al. 2017)"),
        Parameter("d_X", 0.02, (0.0, 1.0), "1/day", "death rate of exhausted cells",
                  "assumption: exhausted cells persist (slower turnover than effectors)"),
        Parameter("k_E", 2.0, (0.0, 20.0), "cells/(cell day)", "maximal tumor cells killed per effector per day",
                  "assumption: CTL serial killing of 2-10 targets/day (Halle et al. 2016)"),
        Parameter("h_E", 1e8, (1.0, 1e12), "cells", "tumor size at half-maximal killing per effector",
                  "assumption: saturation of effector access to targets"),
    )
    procs = (
        Process("E_influx", s_E, produces="E", description="baseline infiltration"),
        Process("E_expansion", p_E * E * T / (g_E + T) * phi / (1 + E / K_E), produces="E",
                description="antigen-driven expansion and recruitment, lowered by the TME"),
        Process("E_death", d_E * E, consumes="E"),
        Process("exhaustion", x_max * T / (g_X + T) * (1 - exhaustion_block) * E, consumes="E", produces="X",
                description="antigen-driven exhaustion (stress pathway)"),
        Process("reinvigoration", (rho0 + rho_max * reinvigoration_boost) * X, consumes="X", produces="E",
                description="return of exhausted cells to function"),
        Process("X_death", d_X * X, consumes="X"),
        Process("kill_S", k_E * E * S / (h_E + T) * phi, consumes="S", description="effector killing of S"),
        Process("kill_R", k_E * E * R / (h_E + T) * phi, consumes="R", description="effector killing of R"),
    )
    return Module("t_cells", states, params, procs)


def tme_suppression(*, P0: float = 3.5, clearance: sp.Expr = sp.Integer(0)) -> Module:
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

    Returns
    -------
    Module
    """
    S, R, P = sp.symbols("S R P")
    a_P, g_P, d_P = sp.symbols("a_P g_P d_P")
    T = S + R
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
                      "assumption: a_P/d_P = 4, so P is about 3.5 for a 1e9-cell tumor (T-cell killing reduced 4.5x)"),
            Parameter("g_P", 3e8, (1e4, 1e12), "cells", "tumor size at half-maximal production",
                      "assumption"),
            Parameter("d_P", 0.01, (0.001, 1.0), "1/day", "decay rate of suppression",
                      "assumption: stroma/vasculature remodel over months (half-life 70 days); Arciero 2004 uses TGF-b decay"),
        ),
        processes=tuple(procs),
    )


def tumor_observables(*, immune: bool = True) -> Module:
    r"""Clinical observables of the tumor.

    * ``tumor_burden`` = S + R (cells);
    * ``tumor_volume`` = v_cell (S + R) (mm³; 1 mm³ ≈ 10⁶ cells);
    * ``tumor_diameter`` = (6 V/π)^(1/3) (mm, equivalent sphere);
    * ``lesion_volume`` = tumor volume + v_inf (E + X) (mm³): what a scan measures,
      counting infiltrating immune cells and the inflammation they bring;
    * ``lesion_diameter`` (mm, equivalent sphere of the lesion volume);
    * ``resistant_fraction`` = R / (S + R) (0 when the tumor is gone);
    * ``effector_exhausted_ratio`` = E / (X + 1) (1 cell added so it stays finite).

    Parameters
    ----------
    immune : bool
        Include the immune observables (needs states E and X).

    Returns
    -------
    Module
    """
    S, R, E, X = sp.symbols("S R E X")
    v_cell, v_inf = sp.symbols("v_cell v_inf")
    T = S + R
    params = [Parameter("v_cell", 1e-6, (1e-8, 1e-4), "mm^3/cell", "volume per tumor cell",
                        "1 mm3 of tumor is about 1e6 cells (Del Monte 2009)")]
    vol = v_cell * T
    obs = [
        Observable("tumor_burden", T, "cells", "total tumor cells S + R"),
        Observable("tumor_volume", vol, "mm^3", "tumor volume"),
        Observable("tumor_diameter", (6 * sp.Symbol("tumor_volume") / sp.pi) ** sp.Rational(1, 3), "mm",
                   "equivalent-sphere diameter of the tumor"),
    ]
    if immune:
        params.append(Parameter("v_inf", 2e-5, (0.0, 1e-3), "mm^3/cell",
                                "lesion volume added per infiltrating T cell (cell plus inflammatory edema)",
                                "assumption: chosen so a large T-cell influx can swell a lesion by tens of % "
                                "(pseudoprogression, Seymour 2017)"))
        obs.append(Observable("lesion_volume", sp.Symbol("tumor_volume") + v_inf * (E + X), "mm^3",
                              "measured lesion volume, tumor plus infiltrate"))
        obs.append(Observable("lesion_diameter", (6 * sp.Symbol("lesion_volume") / sp.pi) ** sp.Rational(1, 3),
                              "mm", "equivalent-sphere diameter of the measured lesion"))
    else:
        obs.append(Observable("lesion_volume", sp.Symbol("tumor_volume"), "mm^3", "measured lesion volume"))
        obs.append(Observable("lesion_diameter", sp.Symbol("tumor_diameter"), "mm", "measured lesion diameter"))
    obs.append(Observable("resistant_fraction", R / (T + sp.Float(1e-300)), "1", "R / (S + R)"))
    if immune:
        obs.append(Observable("effector_exhausted_ratio", E / (X + 1), "1", "E / (X + 1)"))
    return Module("observables", parameters=tuple(params), observables=tuple(obs))
