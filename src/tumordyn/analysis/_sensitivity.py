"""Local sensitivities of a readout to every parameter: forward sensitivity equations, or finite differences."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import warnings

import numpy as np
import sympy as sp

from ..dosing import DosingPlan
from ..spec import input_symbol
from ..solve import PlanSystem, integrate_plan
from ..trajectory import make_solver
from ..solve import SCIPY_METHODS, Solver, SolverOptions
from .._validate import renamed_keyword
from ..errors import SolverError, SolverStatus, SpecificationError, UnknownNameError
from ._system import _real, check_model
from ..numerics import compile_model, jacobian_expressions

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

    from ..spec import Model
    from ..dosing import Schedule
    from ..trajectory import Trajectory

__all__ = ["Sensitivity", "sensitivity"]

_STATISTICS = ("final", "auc")


class Sensitivity:
    """Local sensitivities of a scalar readout to parameters.

    Attributes
    ----------
    readout : str
        The readout (state/observable name, or the callable's name).
    statistic : str
        ``"final"`` (value at ``t_end``) or ``"auc"`` (integral over ``[0, t_end]``,
        readout unit × day); ``"callable"`` for a callable readout.
    value : float
        The readout at the nominal parameters.
    parameters : tuple of str
        Parameters, in model order.
    param_values : numpy.ndarray
        Their nominal values.
    derivatives : numpy.ndarray
        d(readout)/d(parameter) (readout unit per parameter unit).
    elasticities : numpy.ndarray
        Normalised sensitivities ``p / y · dy/dp`` (dimensionless: % change of
        the readout per % change of the parameter); NaN when the readout is 0.
    algorithm : str
        ``"forward"`` (sensitivity equations) or ``"finite-difference"`` (``method`` is a
        deprecated alias).
    """

    def __init__(self, model: Model, readout: str, statistic: str, value: float, names: tuple[str, ...],
                 pvals: np.ndarray, derivs: np.ndarray, algorithm: str, t_end: float) -> None:
        self.model = model
        self.readout = readout
        self.statistic = statistic
        self.value = float(value)
        self.parameters = names
        self.param_values = np.array(pvals, dtype=float)
        self.derivatives = np.array(derivs, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            el = self.param_values * self.derivatives / self.value if self.value != 0 else np.full(len(names), np.nan)
        self.elasticities = np.asarray(el, dtype=float)
        for a in (self.param_values, self.derivatives, self.elasticities):
            a.flags.writeable = False
        self.algorithm = algorithm
        self.t_end = float(t_end)

    @property
    def method(self) -> str:
        """Deprecated alias of :attr:`algorithm` (emits :class:`DeprecationWarning`)."""
        warnings.warn("Sensitivity.method is deprecated; use Sensitivity.algorithm", DeprecationWarning, stacklevel=2)
        return self.algorithm

    def __getitem__(self, name: str) -> float:
        """Derivative with respect to parameter ``name``."""
        if name not in self.parameters:
            raise UnknownNameError("parameter", name, self.parameters, "this Sensitivity")
        return float(self.derivatives[self.parameters.index(name)])

    @property
    def elasticity(self) -> Mapping[str, float]:
        """Elasticities by parameter name."""
        return MappingProxyType({n: float(e) for n, e in zip(self.parameters, self.elasticities)})

    def to_dataframe(self) -> pd.DataFrame:
        """One row per parameter (largest |elasticity| first): value, derivative, elasticity."""
        import pandas as pd

        df = pd.DataFrame({"parameter": list(self.parameters), "value": self.param_values,
                           "derivative": self.derivatives, "elasticity": self.elasticities})
        order = np.argsort(-np.nan_to_num(np.abs(self.elasticities), nan=-1.0), kind="stable")
        return df.iloc[order].reset_index(drop=True)

    def tornado(self, ax: Axes | None = None, top: int = 15) -> Axes:
        """Horizontal bars of the ``top`` largest elasticities (a tornado plot); returns the Axes."""
        import matplotlib.pyplot as plt

        df = self.to_dataframe().head(int(top)).iloc[::-1]
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.35 * len(df) + 1.5))
        colors = ["#cc3311" if e > 0 else "#4477aa" for e in df["elasticity"]]
        ax.barh(df["parameter"], df["elasticity"], color=colors)
        ax.axvline(0.0, color="k", lw=0.8)
        what = f"AUC of {self.readout}" if self.statistic == "auc" else (
            f"{self.readout} at t = {self.t_end:g} d" if self.statistic == "final" else self.readout)
        ax.set_xlabel(f"elasticity of {what}  (p/y · dy/dp)")
        ax.set_title(f"{self.model.name}: local sensitivities ({self.algorithm})")
        return ax

    def __repr__(self) -> str:
        df = self.to_dataframe().head(5)
        top = ", ".join(f"{r.parameter}: {r.elasticity:+.3g}" for r in df.itertuples())
        return (f"Sensitivity of {self.readout} ({self.statistic}) = {self.value:.6g} in model {self.model.name!r} "
                f"to {len(self.parameters)} parameters ({self.algorithm}); largest elasticities {top}")


def _fd(model: Model, run: Callable[[dict[str, float]], float], base: dict[str, float], names: Sequence[str],
        rel_step: float) -> tuple[float, np.ndarray]:
    """Central differences (one-sided at a bound) with step ``rel_step * |p|``."""
    y0 = run(base)
    out = np.empty(len(names))
    for j, nm in enumerate(names):
        spec = model.parameters[nm]
        lo, hi = spec.bounds
        v = base[nm]
        h = rel_step * abs(v) if v != 0 else rel_step * (min(hi - lo, 1.0) if np.isfinite(hi - lo) else 1.0)
        up, dn = v + h, v - h
        if up <= hi and dn >= lo:
            out[j] = (run({**base, nm: up}) - run({**base, nm: dn})) / (2 * h)
        elif up <= hi:
            out[j] = (run({**base, nm: up}) - y0) / h
        elif dn >= lo:
            out[j] = (y0 - run({**base, nm: dn})) / h
        else:
            raise SpecificationError(f"parameter {nm!r}: no room within its bounds [{lo}, {hi}] for a finite difference")
    return y0, out


def sensitivity(
    model: Model,
    schedule: Schedule | None = None,
    readout: str | Callable[[Trajectory], float] = "tumor_burden",
    *,
    t_end: float,
    params: Mapping[str, float] | None = None,
    initial: Mapping[str, float] | None = None,
    parameters: Sequence[str] | None = None,
    statistic: str = "final",
    algorithm: str | None = None,
    solver: Solver | None = None,
    rtol: float | None = None,
    rel_step: float = 1e-4,
    method: str | None = None,
) -> Sensitivity:
    """Local sensitivities of a readout to every parameter, with elasticities.

    For a state or observable readout the forward sensitivity equations are
    generated with sympy and solved alongside the model: for
    :math:`\\dot y = f(y, p, u)` the sensitivities :math:`S = \\partial y / \\partial p`
    obey :math:`\\dot S = J S + \\partial f / \\partial p` with :math:`S(0) = 0`
    (initial values do not depend on parameters), integrated piecewise between
    the breakpoints of the schedule's dosing plan by the scipy engine's one dose loop
    (:func:`tumordyn.solve._scipy_engine.integrate_plan`), exactly like :func:`~tumordyn.simulate`. A bolus
    raises its compartment by amount/V; when the volume V is a parameter the
    sensitivity jumps by :math:`-\\text{amount}/V^2`. The readout's derivative
    is :math:`g_y S + g_p` at ``t_end`` (``"final"``) or its integral
    (``"auc"``). A callable readout ``readout(trajectory) -> float`` is
    differentiated by central finite differences (one-sided at a bound) with
    step ``rel_step · |p|`` (each costs two simulations per parameter).

    Parameters
    ----------
    model : Model
        The model.
    schedule : Schedule, optional
        Treatment (``None``: untreated).
    readout : str or callable, optional
        State or observable name (default ``"tumor_burden"``), or a function of
        the :class:`~tumordyn.Trajectory`.
    t_end : float
        Horizon (days).
    params, initial : mapping, optional
        Nominal parameter values and initial values (overrides of the defaults).
    parameters : sequence of str, optional
        Parameters to differentiate by (default: all).
    statistic : {"final", "auc"}, optional
        Readout value at ``t_end`` or its area under the curve over ``[0, t_end]``.
    algorithm : {"auto", "forward", "finite-difference"}, optional
        ``"auto"`` (default): forward equations for a named readout, finite differences for a callable.
    solver : Solver, optional
        How to integrate (default ``td.Solver(rtol=1e-8)``). The simulations use it as
        :func:`~tumordyn.simulate` does; the forward sensitivity system is integrated with its
        method when that is a scipy method (else LSODA), its ``rtol`` and ``max_step``, and an
        absolute tolerance of 1/100 of its ``atol`` per state.
    rtol : float, optional
        Relative tolerance, shorthand for ``solver=td.Solver(rtol=rtol)`` (default 1e-8).
    rel_step : float, optional
        Relative finite-difference step (default 1e-4).
    method : str, optional
        Deprecated alias of ``algorithm`` (emits :class:`DeprecationWarning`).

    Returns
    -------
    Sensitivity
        ``derivatives``, ``elasticities``, ``to_dataframe()``, ``tornado()``.

    Raises
    ------
    UnknownNameError
        For an unknown readout, parameter or state name.
    SpecificationError
        For a bad ``statistic``/``algorithm``, out-of-bounds values, or both ``solver`` and ``rtol``.
    TypeError
        If ``solver`` is not a :class:`~tumordyn.Solver`.
    SolverError
        If a simulation fails.
    """
    from ..trajectory import simulate

    check_model(model)
    if statistic not in _STATISTICS:
        raise SpecificationError(f"`statistic` must be one of {', '.join(_STATISTICS)}, got {statistic!r}")
    algorithm = renamed_keyword(algorithm, method, new="algorithm", old="method",
                                where="tumordyn.analysis.sensitivity")
    if algorithm is None:
        algorithm = "auto"
    if algorithm not in ("auto", "forward", "finite-difference"):
        raise SpecificationError(f"`algorithm` must be 'auto', 'forward' or 'finite-difference', got {algorithm!r}")
    slv = make_solver(solver, rtol=1e-8 if solver is None and rtol is None else rtol)
    rel_step = _real(rel_step, "`rel_step`")
    if not 0 < rel_step < 0.1:
        raise SpecificationError(f"`rel_step` must be in (0, 0.1), got {rel_step}")
    c = compile_model(model)
    if parameters is None:
        names = c.param_names
    else:
        if isinstance(parameters, str):
            parameters = [parameters]
        for nm in parameters:
            if nm not in c.param_names:
                raise UnknownNameError("parameter", nm, c.param_names, f"`parameters` for model {model.name!r}")
        names = tuple(n for n in c.param_names if n in set(parameters))
        if not names:
            raise SpecificationError("`parameters` must name at least one parameter")
    valid = model.states.names + model.observables.names
    if callable(readout):
        label = getattr(readout, "__name__", "readout")
        if algorithm == "forward":
            raise SpecificationError("a callable readout is differentiated by finite differences; use algorithm='auto'")
        algorithm = "finite-difference"
    elif isinstance(readout, str):
        if readout not in valid:
            raise UnknownNameError("readout", readout, valid, f"model {model.name!r}")
        label = readout
        if algorithm == "auto":
            algorithm = "forward"
    else:
        raise TypeError(f"`readout` must be a state/observable name or a callable, got {type(readout).__name__}")
    if c.n_events and not callable(readout):
        raise SpecificationError(
            f"model {model.name!r} has events: the forward sensitivities and the readout integrator do not execute "
            "them; pass a callable readout (finite differences of simulate, which does)")
    # validates everything (schedule, names, bounds) and gives the nominal trajectory
    nominal = simulate(model, schedule, t_end=t_end, params=params, initial=initial, t_eval=[0.0, float(t_end)],
                       solver=slv)
    opts = slv.options(c)
    plan = DosingPlan.build(c.drug_names, nominal.schedule, 0.0, float(t_end))
    p = c.param_vector(params)
    base = {n: float(v) for n, v in zip(c.param_names, p)}
    pvals = np.array([base[n] for n in names])

    if algorithm == "finite-difference":
        y_init = c.initial_vector(initial)
        funcs = None if callable(readout) else _build(model, readout, names[:1])

        def run(pp: dict[str, float]) -> float:
            if callable(readout):
                traj = simulate(model, schedule, t_end=t_end, params=pp, initial=initial, solver=slv)
                return float(readout(traj))
            # the same integrator as the forward method (exact AUC), without sensitivities
            return _forward(model, plan, readout, statistic, c.param_vector(pp), y_init, names[:1], opts, funcs)[0]

        if callable(readout):
            if statistic != "final":
                raise SpecificationError("`statistic` applies to named readouts; a callable computes its own scalar")
            statistic_used = "callable"
        else:
            statistic_used = statistic
        value, d = _fd(model, run, base, names, rel_step)
        return Sensitivity(model, label, statistic_used, value, names, pvals, d, "finite-difference", t_end)

    value, d = _forward(model, plan, readout, statistic, p, c.initial_vector(initial), names, opts)
    return Sensitivity(model, label, statistic, value, names, pvals, d, "forward", t_end)


def _build(model: Model, readout: str, names: tuple[str, ...]) -> dict[str, Any]:
    """Generate the numeric right-hand side pieces of the forward sensitivity system with sympy."""
    c = compile_model(model)
    xs = [s.symbol for s in model.states]
    ps = [pp.symbol for pp in model.parameters]
    us = [input_symbol(d) for d in c.drug_names]
    sel = [c.param_names.index(nm) for nm in names]
    rhs = sp.Matrix(list(model.rhs_expressions().values()))
    g = xs[c.state_names.index(readout)] if readout in c.state_names else model.observable_expressions()[readout]
    args = [xs, ps, us]
    J = sp.lambdify(args, jacobian_expressions(rhs, xs), modules="numpy", cse=True)
    Fp = sp.lambdify(args, jacobian_expressions(rhs, [ps[k] for k in sel]), modules="numpy", cse=True)
    f = sp.lambdify(args, list(rhs), modules="numpy", cse=True)
    gm = sp.Matrix([g])
    G = sp.lambdify(args, g, modules="numpy")
    Gx = sp.lambdify(args, jacobian_expressions(gm, xs), modules="numpy", cse=True)
    Gp = sp.lambdify(args, jacobian_expressions(gm, [ps[k] for k in sel]), modules="numpy", cse=True)
    return {"J": J, "Fp": Fp, "f": f, "G": G, "Gx": Gx, "Gp": Gp, "sel": sel}


def _forward(model: Model, plan: DosingPlan, readout: str, statistic: str, p: np.ndarray, y0: np.ndarray,
             names: tuple[str, ...], opts: SolverOptions,
             funcs: dict[str, Any] | None = None) -> tuple[float, np.ndarray]:
    """The readout and its forward sensitivities at ``plan.t_end``, through the scipy engine's dose loop."""
    c = compile_model(model)
    if funcs is None:
        funcs = _build(model, readout, names)
    J, Fp, f, G, Gx, Gp, sel = (funcs[k] for k in ("J", "Fp", "f", "G", "Gx", "Gp", "sel"))
    n = c.n_states
    m = len(sel)
    nonneg = c.nonnegative
    size = n + n * m + 1 + m

    def clip(y: np.ndarray) -> np.ndarray:
        return np.where(nonneg, np.maximum(y, 0.0), y)

    def aug(t: float, z: np.ndarray, u: np.ndarray) -> np.ndarray:
        y = clip(z[:n])
        S = z[n:n + n * m].reshape(n, m)
        Jv = np.asarray(J(y, p, u), dtype=float).reshape(n, n)
        out = np.empty(size)
        out[:n] = np.asarray(f(y, p, u), dtype=float).reshape(n)
        out[n:n + n * m] = (Jv @ S + np.asarray(Fp(y, p, u), dtype=float).reshape(n, m)).ravel()
        out[n + n * m] = float(G(y, p, u))
        out[n + n * m + 1:] = np.asarray(Gx(y, p, u), dtype=float).reshape(n) @ S + np.asarray(
            Gp(y, p, u), dtype=float).reshape(m)
        return out

    def aug_jac(t: float, z: np.ndarray, u: np.ndarray) -> np.ndarray:
        # block approximation (exact in y; the S-dependence of J is neglected): enough for the Newton iteration
        y = clip(z[:n])
        Jv = np.asarray(J(y, p, u), dtype=float).reshape(n, n)
        A = np.zeros((size, size))
        A[:n, :n] = Jv
        A[n:n + n * m, n:n + n * m] = np.kron(Jv, np.eye(m))
        A[n + n * m, :n] = np.asarray(Gx(y, p, u), dtype=float).reshape(n)
        return A

    # a bolus of a drug whose volume V is a differentiated parameter: d(amount/V)/dV = -amount/V^2
    vol_param = {}
    for d in model.drugs:
        if isinstance(d.volume, str) and d.volume in names:
            vol_param[c.drug_names.index(d.name)] = names.index(d.volume)

    def jump(z: np.ndarray, amounts: np.ndarray) -> None:
        for d in np.flatnonzero(amounts).tolist():
            amount = float(amounts[d])
            comp, inc = c.dose_jump(d, amount, p)
            if comp >= 0:
                z[comp] += inc
                if d in vol_param:
                    j = vol_param[d]
                    z[n + comp * m + j] += -amount / p[sel[j]] ** 2

    def check(seg: np.ndarray, times: np.ndarray) -> None:
        finite = np.all(np.isfinite(seg), axis=0)
        if not finite.all():
            k = int(np.argmin(finite))
            raise SolverError(f"sensitivity integration of model {model.name!r} produced non-finite values",
                              t=float(times[k]), status=SolverStatus.NON_FINITE)

    atol = np.concatenate([opts.atol * 1e-2,
                           np.repeat(opts.atol * 1e-2, m) / np.tile(np.maximum(np.abs(p[sel]), 1e-12), n),
                           [1e-12], np.full(m, 1e-12)])
    names_aug = [f"state {s!r}" for s in c.state_names]

    def label(i: int) -> str:
        return names_aug[i] if i < n else "a sensitivity or the readout's integral"

    system = PlanSystem(aug, aug_jac, jump, check, np.zeros(size, dtype=bool), atol,
                        f"the sensitivity system of model {model.name!r}", label)
    method = opts.method if opts.method in SCIPY_METHODS else "LSODA"
    z0 = np.zeros(size)
    z0[:n] = y0
    zs, _ = integrate_plan(system, plan, z0, np.array([plan.t_end]), replace(opts, method=method))
    z = zs[-1]
    y = clip(z[:n])
    S = z[n:n + n * m].reshape(n, m)
    if statistic == "auc":
        return float(z[n + n * m]), z[n + n * m + 1:].copy()
    u = np.array(plan.rates[-1])
    value = float(G(y, p, u))
    d = np.asarray(Gx(y, p, u), dtype=float).reshape(n) @ S + np.asarray(Gp(y, p, u), dtype=float).reshape(m)
    return value, d
