r"""Model selection: fit candidate models to the same data and rank them by AIC or BIC.

:func:`~tumordyn.fitting.growth_models` builds the standard tumor-growth candidates
(exponential, logistic, Gompertz, classical and general Bertalanffy; each with and
without a resistant clone) for tumor-volume data under an on/off treatment, as
:class:`~tumordyn.fitting.GrowthLaw` objects that carry their closed-form solution where one exists. Akaike
weights :math:`w_i = e^{-\Delta_i/2} / \sum_j e^{-\Delta_j/2}` are reported alongside.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._progress import check_callback, notify, progress_bar
from ..errors import SpecificationError
from ._fit import fit

if TYPE_CHECKING:
    import pandas as pd

    from ._fit import FitResult

__all__ = ["select_models"]


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
        ``(model, free, initial_free, extra_fit_kwargs)``, e.g. from :func:`growth_models`; ``model``
        is a Model or a :class:`GrowthLaw` (fitted in closed form where it has one).
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
