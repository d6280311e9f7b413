"""Reference models with closed-form solutions, for tests and for checking numerics.

Each model has a companion function returning its exact solution, in the spirit
of PINTS' toy models.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import sympy as sp

from ..spec import Drug, Model, Observable, Parameter, Process, State
from ..errors import SpecificationError

__all__ = ["logistic_growth", "logistic_solution", "gompertz_growth", "gompertz_solution",
           "one_compartment_pk", "bolus_pk_solution", "infusion_pk_solution"]


def _times(t: Iterable[float] | float) -> np.ndarray:
    tt = np.asarray(t, dtype=float)
    if np.any(tt < 0) or not np.all(np.isfinite(tt)):
        raise SpecificationError("times must be finite and non-negative (days)")
    return tt


def logistic_growth(N0: float = 10.0, r: float = 0.5, K: float = 1000.0) -> Model:
    r"""Logistic growth :math:`\dot N = r N (1 - N/K)` written as birth and crowding processes.

    Parameters
    ----------
    N0 : float
        Default initial cells.
    r : float
        Default growth rate (1/day).
    K : float
        Default carrying capacity (cells).

    Returns
    -------
    Model
        States ``N``; parameters ``r`` (1/day), ``K`` (cells).
    """
    N, rr, KK = sp.symbols("N r K")
    return Model(
        "logistic_growth",
        states=[State("N", N0, "cells", "tumor cells", atol=1e-6)],
        parameters=[Parameter("r", r, (0.0, 10.0), "1/day", "growth rate", "closed-form reference model"),
                    Parameter("K", K, (1e-6, 1e15), "cells", "carrying capacity", "closed-form reference model")],
        processes=[Process("birth", rr * N, produces="N"), Process("crowding", rr * N**2 / KK, consumes="N")],
        observables=[Observable("tumor_burden", N, "cells")],
        description="Logistic growth (closed form: logistic_solution).",
    )


def logistic_solution(t: Iterable[float] | float, N0: float, r: float, K: float) -> np.ndarray:
    r"""Exact logistic solution :math:`K / (1 + (K/N_0 - 1) e^{-r t})` (cells; t in days)."""
    tt = _times(t)
    return K / (1.0 + (K / N0 - 1.0) * np.exp(-r * tt))


def gompertz_growth(N0: float = 10.0, r: float = 0.3, K: float = 1000.0) -> Model:
    r"""Gompertz growth :math:`\dot N = r N \ln(K/N)`.

    Returns
    -------
    Model
        States ``N``; parameters ``r`` (1/day), ``K`` (cells).
    """
    N, rr, KK = sp.symbols("N r K")
    return Model(
        "gompertz_growth",
        states=[State("N", N0, "cells", "tumor cells", atol=1e-6)],
        parameters=[Parameter("r", r, (0.0, 10.0), "1/day", "growth rate", "closed-form reference model"),
                    Parameter("K", K, (1e-6, 1e15), "cells", "carrying capacity", "closed-form reference model")],
        processes=[Process("growth", rr * N * sp.log(KK), produces="N"),
                   Process("deceleration", rr * N * sp.log(sp.Max(N, sp.Float(1e-300))), consumes="N")],
        observables=[Observable("tumor_burden", N, "cells")],
        description="Gompertz growth (closed form: gompertz_solution).",
        check_positivity=True,
    )


def gompertz_solution(t: Iterable[float] | float, N0: float, r: float, K: float) -> np.ndarray:
    r"""Exact Gompertz solution :math:`K \exp(\ln(N_0/K) e^{-r t})` (cells; t in days)."""
    tt = _times(t)
    return K * np.exp(math.log(N0 / K) * np.exp(-r * tt))


def one_compartment_pk(half_life: float = 1.0, volume: float = 10.0) -> Model:
    r"""One drug, one compartment, first-order elimination: :math:`\dot C = u/V - k C`, :math:`k = \ln 2/t_{1/2}`.

    Parameters
    ----------
    half_life : float
        Default half-life (days).
    volume : float
        Default volume (L).

    Returns
    -------
    Model
        State ``C`` (mg/L), drug ``drug`` (mg), parameters ``t_half`` and ``V``.
    """
    C, th = sp.symbols("C t_half")
    return Model(
        "one_compartment_pk",
        states=[State("C", 0.0, "mg/L", "plasma concentration", atol=1e-10)],
        parameters=[Parameter("t_half", half_life, (1e-3, 1e3), "day", "elimination half-life"),
                    Parameter("V", volume, (1e-3, 1e3), "L", "volume of distribution")],
        processes=[Process("elimination", sp.log(2) / th * C, consumes="C")],
        drugs=[Drug("drug", "C", volume="V")],
        description="One-compartment PK (closed forms: bolus_pk_solution, infusion_pk_solution).",
    )


def bolus_pk_solution(t: Iterable[float] | float, doses: Iterable[tuple[float, float]], half_life: float,
                      volume: float) -> np.ndarray:
    r"""Exact concentration after bolus doses: :math:`\sum_i (A_i/V) e^{-k (t - t_i)} [t \ge t_i]` (mg/L).

    Parameters
    ----------
    t : array_like
        Times (days).
    doses : iterable of (time, amount)
        Dose times (days) and amounts (mg).
    half_life, volume : float
        Half-life (days) and volume (L).
    """
    tt = _times(t)
    k = math.log(2) / half_life
    c = np.zeros_like(tt, dtype=float)
    for td, amount in doses:
        c += np.where(tt >= td, amount / volume * np.exp(-k * np.clip(tt - td, 0, None)), 0.0)
    return c


def infusion_pk_solution(t: Iterable[float] | float, rate: float, start: float, end: float, half_life: float,
                         volume: float) -> np.ndarray:
    r"""Exact concentration for one constant-rate infusion on [start, end): plateau :math:`R/(kV)` (mg/L)."""
    tt = _times(t)
    k = math.log(2) / half_life
    css = rate / (k * volume)
    during = css * (1 - np.exp(-k * np.clip(tt - start, 0, None)))
    at_end = css * (1 - math.exp(-k * (end - start)))
    after = at_end * np.exp(-k * np.clip(tt - end, 0, None))
    return np.where(tt < start, 0.0, np.where(tt < end, during, after))
