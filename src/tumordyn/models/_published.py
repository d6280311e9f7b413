"""Published models written with the tumordyn API and their published parameter values."""

from __future__ import annotations

import sympy as sp

from ..spec import Drug, Model, Observable, Parameter, Process, State

__all__ = ["kuznetsov1994", "zhang2017"]


def kuznetsov1994() -> Model:
    r"""Kuznetsov, Makalkin, Taylor & Perelson (1994), Bull Math Biol 56:295.

    Effector cells E and tumor cells T (cells, days):

    .. math::

        \dot E = s + \frac{p E T}{g + T} - m E T - d E, \qquad
        \dot T = a T (1 - b T) - n E T

    Parameter values are the paper's (BCL1 lymphoma in chimeric mice):
    s = 1.3e4 cells/day, p = 0.1245 /day, g = 2.019e7 cells, m = 3.422e-10
    /(cell day), d = 0.0412 /day, a = 0.18 /day, b = 2.0e-9 /cell,
    n = 1.101e-7 /(cell day); initial values E0 = 3.2e5 and T0 = 5e6 cells
    (the same values as the curated BioModels entry BIOMD0000000762).

    With :math:`x = E/10^6`, :math:`y = T/10^6` and :math:`\tau = n \cdot 10^6 \cdot t`
    the model takes the paper's non-dimensional form

    .. math::

        x' = \sigma + \frac{\rho x y}{\eta + y} - \mu x y - \delta x, \qquad
        y' = \alpha y (1 - \beta y) - x y

    with :math:`\sigma = s/(n 10^{12}) = 0.1181`, :math:`\rho = p/(n 10^6) = 1.131`,
    :math:`\eta = g/10^6 = 20.19`, :math:`\mu = m/n = 0.00311`,
    :math:`\delta = d/(n 10^6) = 0.3743`, :math:`\alpha = a/(n 10^6) = 1.636`,
    :math:`\beta = b \cdot 10^6 = 0.002` (the paper's rounding: the dimensional
    values give δ = 0.3742 and α = 1.635). The model is bistable: from the
    default initial state the tumor is held in a small, oscillating "dormant"
    state (T about 8e6 cells), while from 1e8 tumor cells it escapes to about
    4.5e8 cells.

    Returns
    -------
    Model
    """
    E, T = sp.symbols("E T")
    s, p, g, m, d, a, b, n = sp.symbols("s p g m d a b n")
    src = "Kuznetsov et al. 1994, Bull Math Biol 56:295, Table/fit to BCL1 data"
    return Model(
        "kuznetsov1994",
        states=[
            State("E", 3.2e5, "cells", "effector (cytotoxic) cells", atol=1.0),
            State("T", 5e6, "cells", "tumor cells", atol=1.0),
        ],
        parameters=[
            Parameter("s", 1.3e4, (0.0, 1e7), "cells/day", "normal influx of effector cells", src),
            Parameter("p", 0.1245, (0.0, 5.0), "1/day", "maximal tumor-stimulated effector proliferation", src),
            Parameter("g", 2.019e7, (1.0, 1e11), "cells", "tumor size at half-maximal stimulation", src),
            Parameter("m", 3.422e-10, (0.0, 1e-6), "1/(cell day)", "effector inactivation by tumor cells", src),
            Parameter("d", 0.0412, (0.0, 1.0), "1/day", "effector death rate", src),
            Parameter("a", 0.18, (0.0, 5.0), "1/day", "maximal tumor growth rate", src),
            Parameter("b", 2.0e-9, (1e-13, 1e-3), "1/cell", "inverse carrying capacity of the tumor", src),
            Parameter("n", 1.101e-7, (0.0, 1e-3), "1/(cell day)", "tumor killing by effector cells", src),
        ],
        processes=[
            Process("influx", s, produces="E", description="normal influx of effector cells"),
            Process("stimulation", p * E * T / (g + T), produces="E", description="tumor-stimulated proliferation"),
            Process("inactivation", m * E * T, consumes="E", description="inactivation of effectors by tumor cells"),
            Process("death", d * E, consumes="E", description="effector death"),
            Process("growth", a * T, produces="T", description="tumor growth"),
            Process("crowding", a * b * T**2, consumes="T", description="logistic limitation"),
            Process("killing", n * E * T, consumes="T", description="killing of tumor cells by effectors"),
        ],
        observables=[
            Observable("tumor_burden", T, "cells", "tumor cells"),
        ],
        description="Kuznetsov et al. 1994: effector–tumor interaction with tumor-stimulated recruitment (bistable).",
    )


def zhang2017(*, tplus_capacity_floor: float | None = None) -> Model:
    r"""Zhang, Cunningham, Brown & Gatenby (2017), Nat Commun 8:1816: adaptive abiraterone therapy.

    Lotka–Volterra competition of three prostate cancer populations
    i ∈ {T+, TP, T−} (states ``Tplus``, ``TP``, ``Tneg``) and PSA:

    .. math::

        \dot x_i = r_i x_i \left(1 - \frac{\sum_j \alpha_{ij} x_j}{K_i}\right), \qquad
        \dot{PSA} = \sum_i x_i - \sigma \, PSA

    with :math:`\alpha = [[1, 0.7, 0.8], [0.4, 1, 0.5], [0.6, 0.9, 1]]`,
    :math:`K_{T-} = 10^4`, :math:`K_{TP} = 10^4` off drug and :math:`10^2` on drug,
    :math:`K_{T+} = \mu x_{TP}` with :math:`\mu = 1.5` off drug and 0.5 on drug.

    ``abiraterone`` is a direct-input drug: its level ``a`` is the infusion rate
    in force (give ``Infusion(drug="abiraterone", rate=1, ...)`` for "on"), and
    the carrying capacities interpolate linearly between off (a=0) and on (a=1).

    Growth rates r = (2.7726e-3, 3.4657e-3, 6.6542e-3) /day are ln 2 over
    doubling times of 250, 200 and 104 days; the paper lists them in units of
    1e-3/day, and re-implementations often write 0.27726... per 100 days.
    The on-drug value μ = 0.5 for T+ is that of re-implementations; the paper's
    text is ambiguous about K_T+ on drug, and the authors' later public code
    instead lets both μ and K_TP decay exponentially towards 0 after abiraterone
    starts (see docs/models/zhang2017.md). PSA decays at 0.5/day as in REFERENCES.

    Continuous abiraterone drives TP towards extinction (T- out-competes it), so
    T+'s carrying capacity μ·x_TP tends to 0 and the published equations become
    singular: after about a year of uninterrupted drug T+ is below 1e-9 cells and
    the solver may report a tiny negative T+ or a non-finite right-hand side.
    By default the model is kept exact (no floor on K_T+); stop such runs at about
    300 days (LSODA) or 900 days (RK45), by which time T- dominates, or pass
    ``tplus_capacity_floor``.

    ``tplus_capacity_floor`` (optional regularisation, cells): T+'s carrying
    capacity becomes :math:`K_{T+} = \mu x_{TP} + K_{T+,\min}` (parameter
    ``K_Tplus_min``), so it never reaches 0. The public simulation code of
    J. Cunningham, a co-author (github.com/cunninghamjj/Applying-evolutionary-principles-
    to-optimize-control-of-mcrpc, files ``ABI_ADT.m``/``ADT_ONLY.m``; the model of
    Cunningham et al. 2018, J Theor Biol 459:67), handles the same singularity by
    bounding every population below at 0.1 cells after each daily step; an additive
    floor is the smooth ODE counterpart. Where :math:`\mu x_{TP}`
    is large against the floor (off drug: thousands of cells) the equations are the
    published ones to a relative :math:`K_{T+,\min} / (\mu x_{TP})`. The default
    (``None``) adds nothing: the published equations and parameter list.

    The default initial state (T+ = 6000, TP = 4000, T- = 100 cells, PSA = 20100)
    is an assumption close to the off-drug state.

    Parameters
    ----------
    tplus_capacity_floor : float, optional
        :math:`K_{T+,\min}` in cells (> 0), the default value of the added parameter
        ``K_Tplus_min``. ``None`` (default): the published equations.

    Returns
    -------
    Model

    Raises
    ------
    SpecificationError
        If ``tplus_capacity_floor`` is not a finite number > 0.
    """
    if tplus_capacity_floor is not None:
        from .._validate import real_number

        tplus_capacity_floor = real_number(tplus_capacity_floor, "zhang2017 `tplus_capacity_floor`", minimum=0.0,
                                           strict=True, unit="cells")
    xp, xP, xn, psa, a = sp.symbols("Tplus TP Tneg PSA abiraterone")
    r1, r2, r3 = sp.symbols("r_Tplus r_TP r_Tneg")
    alpha = sp.Matrix(3, 3, lambda i, j: sp.Symbol(f"alpha_{i + 1}{j + 1}"))
    K_TP_off, K_TP_on, K_Tneg, mu_off, mu_on, sigma = sp.symbols("K_TP_off K_TP_on K_Tneg mu_off mu_on sigma_PSA")
    K_floor = sp.Symbol("K_Tplus_min") if tplus_capacity_floor is not None else sp.Integer(0)
    K = [
        (mu_off * (1 - a) + mu_on * a) * xP + K_floor,
        K_TP_off * (1 - a) + K_TP_on * a,
        K_Tneg,
    ]
    x = [xp, xP, xn]
    r = [r1, r2, r3]
    names = ["Tplus", "TP", "Tneg"]
    src = "Zhang et al. 2017, Nat Commun 8:1816 (Methods)"
    alpha_vals = [[1.0, 0.7, 0.8], [0.4, 1.0, 0.5], [0.6, 0.9, 1.0]]
    params = [
        Parameter("r_Tplus", 2.7726e-3, (0.0, 1.0), "1/day", "growth rate of T+ (androgen-dependent) cells", src),
        Parameter("r_TP", 3.4657e-3, (0.0, 1.0), "1/day", "growth rate of TP (testosterone-producing) cells", src),
        Parameter("r_Tneg", 6.6542e-3, (0.0, 1.0), "1/day", "growth rate of T- (androgen-independent) cells", src),
    ]
    for i in range(3):
        for j in range(3):
            params.append(Parameter(f"alpha_{i + 1}{j + 1}", alpha_vals[i][j], (0.0, 10.0), "1",
                                    f"competitive effect of {names[j]} on {names[i]}", src))
    params += [
        Parameter("K_TP_off", 1e4, (1.0, 1e8), "cells", "carrying capacity of TP off abiraterone", src),
        Parameter("K_TP_on", 1e2, (1.0, 1e8), "cells", "carrying capacity of TP on abiraterone", src),
        Parameter("K_Tneg", 1e4, (1.0, 1e8), "cells", "carrying capacity of T-", src),
        Parameter("mu_off", 1.5, (0.0, 10.0), "1", "T+ cells sustained per TP cell off abiraterone", src),
        Parameter("mu_on", 0.5, (0.0, 10.0), "1", "T+ cells sustained per TP cell on abiraterone",
                  "re-implementations of Zhang 2017 (unsure in the paper's text)"),
        Parameter("sigma_PSA", 0.5, (0.0, 10.0), "1/day", "PSA decay rate", src),
    ]
    if tplus_capacity_floor is not None:
        params.append(Parameter(
            "K_Tplus_min", tplus_capacity_floor, (0.0, 1e8), "cells",
            "floor added to T+'s carrying capacity mu*TP (regularisation, not in the published equations)",
            "smooth counterpart of the 0.1-cell population bound of J. Cunningham's public code of the model"))
    procs = []
    for i in range(3):
        comp = sum((alpha[i, j] * x[j] for j in range(3)), sp.Integer(0))
        procs.append(Process(f"birth_{names[i]}", r[i] * x[i], produces=names[i]))
        procs.append(Process(f"competition_{names[i]}", r[i] * x[i] * comp / K[i], consumes=names[i]))
    procs.append(Process("PSA_production", xp + xP + xn, produces="PSA", description="each cell secretes PSA"))
    procs.append(Process("PSA_decay", sigma * psa, consumes="PSA"))
    return Model(
        "zhang2017",
        states=[
            State("Tplus", 6.0e3, "cells", "androgen-dependent T+ cells (assumption: near pre-treatment equilibrium)",
                  atol=1e-3),
            State("TP", 4.0e3, "cells", "testosterone-producing TP cells", atol=1e-3),
            State("Tneg", 1.0e2, "cells", "androgen-independent (resistant) T- cells", atol=1e-3),
            State("PSA", 2.01e4, "cell day", "prostate-specific antigen (model units: what one cell secretes a day)", atol=1e-3),
        ],
        parameters=params,
        processes=procs,
        drugs=[Drug("abiraterone", None, description="abiraterone on (level 1) / off (level 0)", dose_unit="1")],
        observables=[
            Observable("tumor_burden", xp + xP + xn, "cells", "total cells"),
            Observable("resistant_fraction", xn / (xp + xP + xn + sp.Float(1e-300)), "1", "T- / total"),
        ],
        description="Zhang et al. 2017: Lotka–Volterra competition of T+, TP and T- prostate cancer cells under "
        "abiraterone, with PSA.",
    )
