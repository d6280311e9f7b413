r"""Model selection: fit candidate models to the same data and rank them by AIC or BIC.

:func:`growth_models` builds the standard tumor-growth candidates
(exponential, logistic, Gompertz; each with and without a resistant clone) for
tumor-volume data under an on/off treatment. Akaike weights
:math:`w_i = e^{-\Delta_i/2} / \sum_j e^{-\Delta_j/2}` are reported alongside.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy as sp

from ..spec import Drug, Model, Observable, Parameter, Process, State
from .._progress import check_callback, notify, progress_bar
from ..errors import SpecificationError

if TYPE_CHECKING:
    import pandas as pd

    from ._fit import FitResult

__all__ = ["growth_model", "growth_models", "select_models", "GROWTH_LAWS"]

#: Growth laws of :func:`growth_model`.
GROWTH_LAWS = ("exponential", "logistic", "gompertz")


def growth_model(law: str = "logistic", resistant: bool = False, *, V0: float = 100.0, r: float = 0.1,
                 K: float = 5000.0, kill: float = 0.2, f_R: float = 0.01) -> Model:
    r"""Tumor-volume growth under an on/off drug, optionally with a resistant clone.

    States ``S`` (drug-sensitive volume, mm³) and, with ``resistant=True``,
    ``R`` (resistant volume, mm³); both grow with the same law and rate, the
    drug kills only ``S`` at rate ``kill`` while on. With :math:`V = S + R`:

    * exponential: :math:`\dot S = r S - k u S`;
    * logistic: :math:`\dot S = r S (1 - V/K) - k u S`;
    * Gompertz: :math:`\dot S = r S \ln(K/V) - k u S`;

    and :math:`\dot R` the same without the kill term. ``u`` is the level of the
    direct-input drug ``"drug"`` (give ``Infusion("drug", start, end, 1.0)`` for "on").
    The observable ``tumor_volume`` is :math:`V` (mm³).

    Parameters
    ----------
    law : {"exponential", "logistic", "gompertz"}
        Growth law.
    resistant : bool
        Add a resistant clone ``R``; its default initial volume is ``f_R * V0``.
    V0 : float
        Default initial volume (mm³), split into ``S`` and ``R``.
    r : float
        Default growth rate (1/day), bounds (1e-4, 2).
    K : float
        Default carrying capacity (mm³), bounds (1, 1e7); unused by the exponential law.
    kill : float
        Default kill rate of sensitive cells while on drug (1/day), bounds (0, 5).
    f_R : float
        Default resistant fraction at time zero.

    Returns
    -------
    Model
        Named ``"<law>"`` or ``"<law>_resistant"``.
    """
    if law not in GROWTH_LAWS:
        raise SpecificationError(f"`law` must be one of {', '.join(GROWTH_LAWS)}, got {law!r}")
    S, R, rr, KK, k, u = sp.symbols("S R r K kill drug")
    V = S + R if resistant else S
    params = [Parameter("r", r, (1e-4, 2.0), "1/day", "net growth rate at low volume", "fit parameter"),
              Parameter("kill", kill, (0.0, 5.0), "1/day", "kill rate of sensitive cells on drug", "fit parameter")]
    if law != "exponential":
        params.insert(1, Parameter("K", K, (1.0, 1e7), "mm^3", "carrying capacity (volume)", "fit parameter"))
    if law == "exponential":
        per_capita = rr
    elif law == "logistic":
        per_capita = rr * (1 - V / KK)
    else:
        per_capita = rr * sp.log(KK / sp.Max(V, sp.Float(1e-12)))
    states = [State("S", V0 * (1 - f_R) if resistant else V0, "mm^3", "drug-sensitive tumor volume", atol=1e-8)]
    procs = [Process("growth_S", per_capita * S, produces="S", description=f"{law} growth of S"),
             Process("kill_S", k * u * S, consumes="S", description="drug kills sensitive cells")]
    if resistant:
        states.append(State("R", V0 * f_R, "mm^3", "drug-resistant tumor volume", atol=1e-8))
        procs.append(Process("growth_R", per_capita * R, produces="R", description=f"{law} growth of R"))
    name = law + ("_resistant" if resistant else "")
    return Model(name, states=states, parameters=params, processes=procs,
                 drugs=[Drug("drug", None, description="drug on (level 1) / off (0)", dose_unit="1")],
                 observables=[Observable("tumor_volume", V, "mm^3")],
                 description=f"{law} tumor growth under an on/off drug" + (" with a resistant clone" if resistant else ""),
                 check_positivity=True)


def growth_models(resistant: bool | None = None) -> dict[str, tuple[Model, list[str], list[str]]]:
    """The six growth candidates for :func:`select_models`, with what to fit.

    Parameters
    ----------
    resistant : bool, optional
        Only the candidates with (``True``) or without (``False``) a resistant clone; default all.

    Returns
    -------
    dict of str to (Model, list of str, list of str)
        Name to ``(model, free parameters, initial_free states)``: all parameters
        free and shared; initial ``S`` (and ``R``) fitted per subject.
    """
    out = {}
    for res in (False, True):
        if resistant is not None and res != resistant:
            continue
        for law in GROWTH_LAWS:
            m = growth_model(law, res)
            out[m.name] = (m, list(m.parameters.names), ["S", "R"] if res else ["S"])
    return out


def select_models(
    candidates: Mapping[str, Any],
    data: Any,
    criterion: str = "aic",
    *,
    return_fits: bool = False,
    progress: bool | None = None,
    callback: Callable[[Mapping[str, Any]], Any] | None = None,
    **fit_kwargs: Any,
) -> pd.DataFrame | tuple[pd.DataFrame, dict[str, FitResult]]:
    r"""Fit each candidate model to the same data and rank them.

    Parameters
    ----------
    candidates : mapping of str to tuple
        Name to ``(model, free)`` or ``(model, free, initial_free)`` or
        ``(model, free, initial_free, extra_fit_kwargs)``, e.g. from :func:`growth_models`.
    data : pandas.DataFrame or mapping
        Observations, as for :func:`~tumordyn.fit`.
    criterion : {"aic", "bic"}
        Ranking criterion (smaller is better).
    return_fits : bool
        Also return the :class:`~tumordyn.fitting.FitResult` of each candidate.
    progress : bool, optional
        Show a progress bar (``tqdm.auto``) counting the candidates fitted (each fit's own bar is off);
        default: when stderr is a terminal or in a Jupyter kernel. ``False`` prints nothing.
    callback : callable, optional
        Called after each candidate with a mapping ``{"candidate": name, "index": k, "n_candidates": n,
        "aic": ..., "bic": ..., "error": message or ""}`` (``k`` counts from 1).
    **fit_kwargs
        Passed to every :func:`~tumordyn.fit` call (``schedules``, ``scale``, ...).

    Returns
    -------
    pandas.DataFrame
        One row per candidate, best first, indexed by name, with columns
        ``n_params, n_data, chisqr, aic, bic, delta, weight, success``
        (``delta`` and ``weight`` refer to ``criterion``); a candidate whose
        fit failed with an error gets NaN and the message in ``error``.
    dict of str to FitResult
        Only with ``return_fits=True``.

    Raises
    ------
    SpecificationError
        For an unknown criterion, no candidates or a malformed candidate.
    """
    import pandas as pd

    from ._fit import fit

    if criterion not in ("aic", "bic"):
        raise SpecificationError(f"`criterion` must be 'aic' or 'bic', got {criterion!r}")
    if not isinstance(candidates, Mapping) or not candidates:
        raise SpecificationError("`candidates` must be a non-empty mapping name -> (model, free[, initial_free])")
    check_callback(callback, "select_models")
    rows, fits = {}, {}
    with progress_bar(progress, total=len(candidates), desc="models", unit="model") as bar:
        for k, (name, cand) in enumerate(candidates.items(), 1):
            if not isinstance(cand, Sequence) or not 2 <= len(cand) <= 4:
                raise SpecificationError(f"candidate {name!r} must be (model, free[, initial_free[, fit_kwargs]])")
            model, free = cand[0], cand[1]
            kw = {"progress": False, **fit_kwargs}
            if len(cand) >= 3 and cand[2] is not None:
                kw["initial_free"] = cand[2]
            if len(cand) == 4:
                kw.update(cand[3])
            try:
                res = fit(model, data, free, **kw)
            except (SpecificationError, KeyError, TypeError):
                raise
            except Exception as err:  # noqa: BLE001 - a candidate that cannot be fitted is ranked last, with the reason
                rows[name] = {"n_params": math.nan, "n_data": math.nan, "chisqr": math.nan, "aic": math.nan,
                              "bic": math.nan, "success": False, "error": str(err)}
            else:
                fits[name] = res
                rows[name] = {"n_params": res.nvarys, "n_data": res.ndata, "chisqr": res.chisqr, "aic": res.aic,
                              "bic": res.bic, "success": res.success, "error": ""}
            bar.update(1)
            notify(callback, candidate=name, index=k, n_candidates=len(candidates), aic=rows[name]["aic"],
                   bic=rows[name]["bic"], error=rows[name]["error"])
    table = pd.DataFrame.from_dict(rows, orient="index")
    crit = table[criterion].to_numpy(dtype=float)
    best = np.nanmin(crit) if np.any(np.isfinite(crit)) else math.nan
    table["delta"] = crit - best
    w = np.exp(-0.5 * np.where(np.isfinite(crit), crit - best, np.inf))
    table["weight"] = w / w.sum() if w.sum() > 0 else math.nan
    table = table.sort_values(criterion, na_position="last")
    table.index.name = "model"
    table = table[["n_params", "n_data", "chisqr", "aic", "bic", "delta", "weight", "success", "error"]]
    return (table, fits) if return_fits else table
