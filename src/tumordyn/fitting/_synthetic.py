"""Synthetic observations: simulate, add noise, censor below a detection limit.

For recovery studies and tests: the truth is known, so a fit can be checked
against it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..dosing import DosingPlan
from ._fit import finite_value, per_subject, subject_schedules
from ..solve import solve
from ..dosing import Schedule
from ..trajectory import make_solver
from ..solve import Problem, Solver
from ..errors import SpecificationError, UnknownNameError
from ..numerics import compile_model

if TYPE_CHECKING:
    import pandas as pd

    from ..spec import Model

__all__ = ["synthetic_data", "NOISE_MODELS"]

#: Noise models of :func:`synthetic_data` (``f`` the model value, ``e`` standard normal).
NOISE_MODELS = ("additive", "proportional", "lognormal")


def synthetic_data(
    model: Model,
    schedules: Schedule | Mapping[Any, Schedule] | None,
    times: Sequence[float] | Mapping[Any, Sequence[float]],
    observables: str | Sequence[str],
    *,
    noise: str = "lognormal",
    sigma: float = 0.1,
    lod: float | Mapping[str, float] | None = None,
    seed: int | None = None,
    subjects: Sequence[Any] | int | None = None,
    params: Mapping[Any, Any] | None = None,
    initial: Mapping[Any, Any] | None = None,
    t0: float = 0.0,
    solver: Solver | None = None,
    rtol: float | None = None,
) -> pd.DataFrame:
    r"""Simulate noisy observations of ``model`` for one or more subjects.

    Noise models, with :math:`f` the model value and :math:`\varepsilon \sim N(0, 1)`
    drawn independently for every row:

    * ``"additive"``: :math:`y = f + \sigma\varepsilon` (``sigma`` in the observable's unit);
    * ``"proportional"``: :math:`y = f\,(1 + \sigma\varepsilon)` (``sigma`` a fraction);
    * ``"lognormal"``: :math:`y = f\,e^{\sigma\varepsilon}` (``sigma`` the SD of :math:`\ln y`).

    With a detection limit ``lod``, a value below it is replaced by ``lod``
    and flagged ``censored`` (the fit then treats it as "at most ``lod``").

    Parameters
    ----------
    model : Model
        Model to simulate.
    schedules : Schedule or mapping subject -> Schedule or None
        One schedule for all subjects, or one per subject (the keys are then the subjects).
    times : sequence of float or mapping subject -> sequence of float
        Observation times (days, >= ``t0``), for all subjects or per subject.
    observables : str or sequence of str
        State or observable names to observe (each at every time).
    noise : {"additive", "proportional", "lognormal"}
        Noise model.
    sigma : float
        Noise level (>= 0), see above.
    lod : float or mapping of str to float, optional
        Detection limit, for all observables or per observable name.
    seed : int, optional
        Seed of :func:`numpy.random.default_rng`; the same seed gives the same table.
    subjects : sequence or int, optional
        Subject labels (or their number, labelled ``"S1"``, ``"S2"``, ...), when
        ``schedules`` is not a mapping. Default one subject ``"S1"``.
    params : mapping, optional
        Parameter values for all subjects (``{name: value}``) or per subject
        (``{subject: {name: value}}``).
    initial : mapping, optional
        Initial states, for all subjects or per subject, like ``params``.
    t0 : float
        Start of simulation (days).
    solver : Solver, optional
        How to integrate (as for :func:`~tumordyn.simulate`); default
        ``td.Solver(method="LSODA", rtol=1e-8)``.
    rtol : float, optional
        Relative ODE tolerance, shorthand for ``solver=td.Solver(method="LSODA", rtol=rtol)`` (default 1e-8).

    Returns
    -------
    pandas.DataFrame
        Columns ``subject, time, observable, value, sigma, censored, true_value``;
        ``sigma`` is the noise SD on the scale where it is additive (the log
        scale for ``"lognormal"`` and, approximately, ``"proportional"``; the
        linear scale for ``"additive"``), ready for :func:`~tumordyn.fit` with
        ``scale="log"`` or ``"linear"`` respectively.

    Raises
    ------
    UnknownNameError
        For an unknown observable, parameter or state, or a subject of
        ``times``/``params``/``initial`` that is not simulated.
    SpecificationError
        For an unknown noise model, a negative ``sigma``, a non-positive
        detection limit, times before ``t0``, or both ``solver`` and ``rtol``.
    SolverError
        If a subject's simulation fails (the message names the subject).

    Examples
    --------
    >>> import tumordyn as td
    >>> df = td.fitting.synthetic_data(td.models.logistic_growth(), None, [0, 5, 10], "N", sigma=0.1, seed=1)
    >>> list(df.columns)
    ['subject', 'time', 'observable', 'value', 'sigma', 'censored', 'true_value']
    """
    import pandas as pd

    from ..spec import Model

    if not isinstance(model, Model):
        raise TypeError(f"`model` must be a tumordyn Model, got {type(model).__name__}")
    if noise not in NOISE_MODELS:
        raise SpecificationError(f"`noise` must be one of {', '.join(NOISE_MODELS)}, got {noise!r}")
    sigma = finite_value(sigma, "`sigma`")
    if sigma < 0:
        raise SpecificationError(f"`sigma` must be >= 0, got {sigma}")
    t0 = finite_value(t0, "`t0`")
    c = compile_model(model)
    if solver is None:  # the default: LSODA at rtol 1e-8 (as before the solve layer)
        solver = make_solver(None, method="LSODA", rtol=1e-8 if rtol is None else rtol)
    else:  # a Solver, and not also rtol (TypeError / SpecificationError otherwise)
        solver = make_solver(solver, rtol=rtol)
    opts = solver.options(c)
    quantities = c.state_names + c.observable_names
    obs = [observables] if isinstance(observables, str) else list(observables)
    if not obs:
        raise SpecificationError("`observables` is empty")
    for o in obs:
        if o not in quantities:
            raise UnknownNameError("observable", o, quantities, f"`observables` (model {model.name!r})")
    if isinstance(schedules, Mapping):
        subj = list(schedules)
    elif subjects is None:
        subj = ["S1"]
    elif isinstance(subjects, int) and not isinstance(subjects, bool):
        if subjects < 1:
            raise SpecificationError(f"`subjects` must be >= 1, got {subjects}")
        subj = [f"S{i + 1}" for i in range(subjects)]
    else:
        subj = list(subjects)
    if not subj:
        raise SpecificationError("no subjects to simulate")
    sched = subject_schedules(schedules, subj, model, t0)
    lods: dict[str, float] = {}
    if lod is not None:
        items = lod.items() if isinstance(lod, Mapping) else [(o, lod) for o in obs]
        for o, v in items:
            if o not in obs:
                raise UnknownNameError("observable", o, obs, "`lod`")
            v = finite_value(v, f"`lod` of {o!r}")
            if v <= 0:
                raise SpecificationError(f"`lod` of {o!r} must be > 0, got {v}")
            lods[o] = v
    if isinstance(times, Mapping):
        for s in times:
            if s not in subj:
                raise UnknownNameError("subject", s, [str(x) for x in subj], "`times`")
        tmap = {s: times[s] for s in subj if s in times}
        missing = [s for s in subj if s not in times]
        if missing:
            raise SpecificationError(f"`times` has no observation times for subject(s) {missing}")
    else:
        tmap = {s: times for s in subj}
    tarr: dict[Any, np.ndarray] = {}
    for s, ts in tmap.items():
        te = np.unique(np.asarray(ts, dtype=float))
        if te.size == 0 or not np.all(np.isfinite(te)):
            raise SpecificationError(f"`times` of subject {s!r} must be a non-empty set of finite times (days)")
        if te[0] < t0:
            raise SpecificationError(f"`times` of subject {s!r} include {te[0]} days, before t0 = {t0} days")
        tarr[s] = te
    pmap = per_subject(params, subj, "params", "parameter name to value")
    imap = per_subject(initial, subj, "initial", "state name to value")
    P = np.column_stack([c.param_vector(pmap[s], where=f"params of subject {s!r}") for s in subj])
    Y0 = np.column_stack([c.initial_vector(imap[s], where=f"initial of subject {s!r}") for s in subj])
    rng = np.random.default_rng(seed)
    rows = []
    for j, s in enumerate(subj):
        te = tarr[s]
        t_end = float(te[-1]) if te[-1] > t0 else t0
        plan = DosingPlan.build(c.drug_names, sched[s], t0, t_end)
        sol = solve(Problem(c, plan, P[:, j][None, :], Y0[:, j][None, :], te), opts)
        sol.raise_first_failure(c, lambda k: f" (subject {s!r})")
        y = sol.y[0]  # (times, states)
        if any(o in c.observable_names for o in obs):
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                ob = np.asarray(c.observe(te, y.T, P[:, j], sol.u.T), dtype=float)
            ob = np.broadcast_to(ob, (len(c.observable_names), te.size))
        for o in obs:
            f = y[:, c.state_names.index(o)] if o in c.state_names else ob[c.observable_names.index(o)]
            rows.append(pd.DataFrame({"subject": [s] * te.size, "time": te, "observable": o,
                                      "true_value": np.array(f)}))
    df = pd.concat(rows, ignore_index=True)
    f = df["true_value"].to_numpy(dtype=float)
    eps = rng.standard_normal(f.size)
    if noise == "additive":
        y = f + sigma * eps
    elif noise == "proportional":
        y = f * (1.0 + sigma * eps)
    else:
        y = f * np.exp(sigma * eps)
    cens = np.zeros(f.size, dtype=bool)
    for o, v in lods.items():
        hit = (df["observable"].to_numpy() == o) & (y < v)
        y[hit] = v
        cens |= hit
    df["value"] = y
    df["sigma"] = sigma if sigma > 0 else 1.0
    df["censored"] = cens
    return df[["subject", "time", "observable", "value", "sigma", "censored", "true_value"]]
