r"""Population (nonlinear mixed-effects) fitting by FOCE-I.

The model (one observable, subjects :math:`i = 1..N`, observations :math:`j = 1..n_i`)::

    psi_ik = u_k + sum_c beta_kc (x_ic - center_c) + eta_ik        (eta_ik = 0 without BSV)
    phi_ik = exp(psi_ik)  (log-normal parameter)   or   psi_ik  (normal parameter)
    g(y_ij) = g(f(t_ij, phi_i)) + e_ij,   e_ij ~ N(0, V_ij),   eta_i ~ N(0, Omega)
    V_ij = a^2 (additive) | b^2 g(f)^2 (proportional) | a^2 + b^2 g(f)^2 (combined)

with ``g`` the identity (``scale="linear"``) or ``ln`` (``scale="log"``). The marginal
likelihood is approximated per subject by FOCE with interaction (Beal & Sheiner;
Wang 2007, J Pharmacokinet Pharmacodyn 34:575–593): the integral over ``eta_i`` is
done by the Laplace method around the conditional mode ``eta_i*`` with the
Gauss–Newton (first-order) Hessian, the residual variance evaluated at
``eta_i*`` (the *interaction*)::

    -2 LL_i = sum_j [ (g(y_ij) - g(f_ij))^2 / V_ij + ln(2 pi V_ij) ]
              + eta_i*' Omega^-1 eta_i* + ln det Omega + ln det(G_i' V_i^-1 G_i + Omega^-1)

``G_i = d g(f_i) / d eta`` (central differences). For a model linear in ``eta``
with additive error this is the exact marginal likelihood (a linear mixed model).

Inner problem (all subjects at once, vectorised): a damped Gauss–Newton
(Levenberg–Marquardt) minimisation of the conditional objective. Outer problem:
BFGS on the unconstrained parameters (log typical values, Cholesky factor of
Omega with log diagonal, log residual parameters) with central finite-difference
gradients, then Newton polishing with a finite-difference Hessian, which also
gives the standard errors (covariance = 2 H^-1 of the -2LL, mapped to the
reported scale by the delta method).
"""

from __future__ import annotations

import math
import time as _time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import SolverError, SpecificationError, TumordynWarning, UnknownNameError
from ._fit import LOG_FLOOR, _Problem, fit_solver, per_subject, subject_schedules, tidy_data
from ._growth import GrowthLaw

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

    from ..dosing import Schedule
    from ..solve import Solver
    from ..spec import Model

__all__ = ["fit_population", "PopulationResult", "PopulationWarning"]

_ERRORS = ("additive", "proportional", "combined")
_DISTRIBUTIONS = ("lognormal", "normal")
_LOG2PI = math.log(2.0 * math.pi)
#: Central-difference step for the Jacobian of the predictions with respect to eta.
ETA_STEP = 1e-4
#: Inner (conditional-mode) iterations per objective evaluation, at most.
MAX_INNER = 100
#: Newton polishing steps after BFGS, at most.
MAX_POLISH = 10
#: Convergence: the Newton decrement g' H^-1 g (the -2LL a Newton step would still gain) below this.
NEWTON_TOL = 1e-6
_PENALTY = 1e30  # objective of a point whose predictions fail (finite so the optimizer steps back)


class PopulationWarning(TumordynWarning):
    """A population fit that finished with a caveat (no convergence, singular Hessian, ...)."""


# ----------------------------------------------------------------------------- structural models
class _Structure:
    """Predictions of every row for many copies of the individual parameters."""

    names: tuple[str, ...]  # parameters it takes, in the order of the last axis of phi

    def predict(self, phi: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        """``phi`` (B, N, p) -> predictions (B, n_rows) on the observation scale (NaN if a copy fails)."""
        raise NotImplementedError

    def at(self, times: np.ndarray, schedule: Any = None, initial: Any = None) -> _Structure:  # pragma: no cover
        """The same structure for one new subject observed at ``times`` (days)."""
        raise NotImplementedError


class _ClosedForm(_Structure):
    def __init__(self, func: Callable[..., Any], names: Sequence[str], constants: Mapping[str, float],
                 t: np.ndarray, si: np.ndarray) -> None:
        self.func, self.names, self.constants = func, tuple(names), dict(constants)
        self.t, self.si = np.asarray(t, dtype=float), np.asarray(si, dtype=np.intp)

    def predict(self, phi: np.ndarray) -> np.ndarray:
        B = phi.shape[0]
        rows = phi[:, self.si, :]  # (B, n_rows, p)
        t = np.broadcast_to(self.t, (B, self.t.size))
        args: dict[str, Any] = {k: np.full((B, self.t.size), v) for k, v in self.constants.items()}
        args.update({k: rows[:, :, i] for i, k in enumerate(self.names)})
        with np.errstate(all="ignore"):
            out = np.asarray(self.func(t, args), dtype=float)
        if out.shape != (B, self.t.size):
            try:
                out = np.broadcast_to(out, (B, self.t.size)).astype(float)
            except ValueError:
                raise SpecificationError(
                    f"the predict callable returned shape {out.shape} for times of shape {t.shape}; it must "
                    "return one prediction per time (the broadcast shape of t and the parameter arrays)"
                ) from None
        return out

    def at(self, times: np.ndarray, schedule: Any = None, initial: Any = None) -> _Structure:
        if schedule is not None or initial is not None:
            raise SpecificationError("a closed-form predict callable takes no schedule or initial state")
        return _ClosedForm(self.func, self.names, self.constants, times, np.zeros(len(times), dtype=np.intp))


class _ModelStructure(_Structure):
    """A tumordyn Model solved through the fit problem of :func:`tumordyn.fit` (own times and schedule per subject)."""

    def __init__(self, model: Model, df: pd.DataFrame, names: Sequence[str], fixed: Mapping[str, float],
                 schedules: dict[Any, Schedule], initial: dict[Any, Mapping[str, float]], t0: float,
                 solver: Solver) -> None:
        self.model, self.names, self.fixed, self.t0, self.solver = model, tuple(names), dict(fixed), t0, solver
        self.schedules, self.initial = schedules, initial
        self.problem = _Problem(model, df, {}, {}, schedules, fixed, initial, {}, "linear", {}, t0, solver, 1e-6, {})
        c = self.problem.compiled
        self._where = [(True, c.param_names.index(n)) if n in c.param_names else (False, c.state_names.index(n))
                       for n in self.names]

    def predict(self, phi: np.ndarray) -> np.ndarray:
        pr = self.problem
        B = phi.shape[0]
        out = np.full((B, pr.target.size), np.nan)

        def compute() -> list[np.ndarray]:
            probs = []
            for j in range(len(pr.subjects)):
                P = np.tile(pr.P0[:, j], (B, 1))
                Y = np.tile(pr.Y00[:, j], (B, 1))
                for k, (is_param, idx) in enumerate(self._where):
                    (P if is_param else Y)[:, idx] = phi[:, j, k]
                probs.append(pr._subject_problem(j, P, Y))
            return pr._solve_subjects(probs)

        try:
            with np.errstate(all="ignore"):
                parts = pr._with_switch(compute)
        except SolverError:
            return out
        for sub, pj in zip(pr._sub, parts):
            out[:, sub.rows] = pj
        return out

    def at(self, times: np.ndarray, schedule: Any = None, initial: Any = None) -> _Structure:
        import pandas as pd

        from ..dosing import Schedule

        obs = self.problem.df["observable"].iloc[0]
        df = pd.DataFrame({"subject": "new", "time": np.asarray(times, dtype=float), "observable": obs,
                           "value": 1.0, "censored": False})
        sch = schedule if schedule is not None else Schedule()
        scheds = subject_schedules(sch, ["new"], self.model, self.t0)
        init = per_subject(initial, ["new"], "initial", "state to value (mapping)")
        return _ModelStructure(self.model, df, self.names, self.fixed, scheds, init, self.t0, self.solver)


# ----------------------------------------------------------------------------- the statistical model
@dataclass
class _Spec:
    names: tuple[str, ...]  # estimated parameters (typical values), order of phi's last axis
    log: np.ndarray  # (p,) bool: estimated on the log scale (phi = exp(psi))
    rnd: tuple[int, ...]  # indices (into names) of parameters with BSV
    full: bool  # full Omega (else diagonal)
    cov_terms: tuple[tuple[int, str], ...]  # (parameter index, covariate name)
    cov_values: np.ndarray  # (N, n_terms) centred covariate value per subject and term
    centers: dict[str, float]
    error: str

    @property
    def p(self) -> int:
        return len(self.names)

    @property
    def q(self) -> int:
        return len(self.rnd)

    @property
    def n_omega(self) -> int:
        return self.q * (self.q + 1) // 2 if self.full else self.q

    @property
    def sizes(self) -> tuple[int, int, int, int]:
        return self.p, len(self.cov_terms), self.n_omega, 2 if self.error == "combined" else 1

    def split(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        a, b, c, _ = self.sizes
        return x[:a], x[a:a + b], x[a + b:a + b + c], x[a + b + c:]

    def omega_chol(self, xo: np.ndarray) -> np.ndarray:
        q = self.q
        L = np.zeros((q, q))
        if self.full:
            k = 0
            for i in range(q):
                for j in range(i + 1):
                    L[i, j] = math.exp(xo[k]) if i == j else xo[k]
                    k += 1
        else:
            L[np.diag_indices(q)] = np.exp(xo)
        return L

    def omega_x(self, omega: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`omega_chol` (start values)."""
        L = np.linalg.cholesky(omega)
        if not self.full:
            return np.log(np.diag(L))
        return np.array([math.log(L[i, j]) if i == j else L[i, j] for i in range(self.q) for j in range(i + 1)])

    def residual(self, xr: np.ndarray) -> tuple[float, float]:
        if self.error == "additive":
            return math.exp(xr[0]), 0.0
        if self.error == "proportional":
            return 0.0, math.exp(xr[0])
        return math.exp(xr[0]), math.exp(xr[1])

    def psi_pop(self, xt: np.ndarray, xb: np.ndarray) -> np.ndarray:
        """(N, p): typical transformed parameters of each subject (covariates included)."""
        psi = np.tile(xt, (self.cov_values.shape[0], 1))
        for (k, _), col, beta in zip(self.cov_terms, self.cov_values.T, xb):
            psi[:, k] += beta * col
        return psi

    def phi(self, psi_pop: np.ndarray, eta: np.ndarray) -> np.ndarray:
        """eta (..., N, q) -> individual parameters (..., N, p)."""
        psi = np.broadcast_to(psi_pop, eta.shape[:-1] + (self.p,)).copy()
        psi[..., list(self.rnd)] += eta
        with np.errstate(over="ignore"):
            return np.where(self.log, np.exp(np.minimum(psi, 700.0)), psi)


class _Engine:
    """The FOCE-I objective of one data set."""

    def __init__(self, spec: _Spec, struct: _Structure, y: np.ndarray, si: np.ndarray, scale: str) -> None:
        self.spec, self.struct, self.scale = spec, struct, scale
        self.y = np.asarray(y, dtype=float)
        self.gy = self.g(self.y)
        self.si = np.asarray(si, dtype=np.intp)
        self.N = int(self.si.max()) + 1 if self.si.size else 0
        self.starts = np.flatnonzero(np.r_[True, np.diff(self.si) != 0])
        self.n_i = np.diff(np.r_[self.starts, self.si.size])
        self.eta_ref = np.zeros((self.N, spec.q))
        self.best = math.inf
        self.n_eval = 0

    def g(self, f: np.ndarray) -> np.ndarray:
        if self.scale == "log":
            with np.errstate(invalid="ignore"):
                return np.where(f > 0, np.log(np.maximum(f, LOG_FLOOR)), np.nan)
        return f

    def g_inv(self, z: np.ndarray) -> np.ndarray:
        if self.scale == "log":
            with np.errstate(over="ignore"):
                return np.exp(z)
        return z

    def segsum(self, a: np.ndarray) -> np.ndarray:
        return np.add.reduceat(a, self.starts, axis=0)

    def variance(self, gf: np.ndarray, a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
        """Residual variance on the g scale and its derivative with respect to g(f) (overflow -> inf, rejected)."""
        V = a * a + (b * gf) ** 2
        dV = 2.0 * b * b * gf
        return np.maximum(V, 1e-300), dV

    def gpred(self, psi_pop: np.ndarray, etas: np.ndarray) -> np.ndarray:
        """etas (B, N, q) -> g(predictions) (B, n_rows)."""
        return self.g(self.struct.predict(self.spec.phi(psi_pop, etas)))

    def pred_jac(self, psi_pop: np.ndarray, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q = self.spec.q
        h = ETA_STEP
        etas = np.repeat(eta[None], 1 + 2 * q, axis=0)
        for k in range(q):
            etas[1 + 2 * k, :, k] += h
            etas[2 + 2 * k, :, k] -= h
        z = self.gpred(psi_pop, etas)
        G = np.stack([(z[1 + 2 * k] - z[2 + 2 * k]) / (2 * h) for k in range(q)], axis=-1)
        return z[0], G

    def conditional(self, gf: np.ndarray, eta: np.ndarray, oinv: np.ndarray, a: float, b: float) -> np.ndarray:
        V, _ = self.variance(gf, a, b)
        r = self.gy - gf
        with np.errstate(invalid="ignore", over="ignore"):
            obj = self.segsum(r * r / V + np.log(V)) + np.einsum("ik,kl,il->i", eta, oinv, eta)
        return np.where(np.isfinite(obj), obj, np.inf)

    def modes(self, psi_pop: np.ndarray, eta0: np.ndarray, oinv: np.ndarray, a: float, b: float,
              tol: float = 1e-9) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
        """Conditional modes of eta (damped Gauss–Newton, all subjects at once).

        Returns eta (N, q), g(f) (n_rows,), G (n_rows, q), conditional objective (N,), ok.
        """
        eta = eta0.copy()
        gf, G = self.pred_jac(psi_pop, eta)
        obj = self.conditional(gf, eta, oinv, a, b)
        if not np.all(np.isfinite(obj)):
            eta = np.zeros_like(eta)
            gf, G = self.pred_jac(psi_pop, eta)
            obj = self.conditional(gf, eta, oinv, a, b)
            if not np.all(np.isfinite(obj)):
                return eta, gf, G, obj, False
        lam = np.full(self.N, 1e-4)
        done = np.zeros(self.N, dtype=bool)
        q = self.spec.q
        for _ in range(MAX_INNER):
            V, dV = self.variance(gf, a, b)
            r = self.gy - gf
            w = -2.0 * r / V + (1.0 / V - r * r / (V * V)) * dV
            grad = self.segsum(G * w[:, None]) + 2.0 * eta @ oinv
            H = self.segsum(G[:, :, None] * G[:, None, :] * (2.0 / V + (dV / V) ** 2)[:, None, None]) + 2.0 * oinv
            Hd = H + lam[:, None, None] * np.einsum("ikk->ik", H)[:, :, None] * np.eye(q)
            step = np.linalg.solve(Hd, -grad[:, :, None])[:, :, 0]
            step[done] = 0.0
            trial = eta + step
            gft = self.gpred(psi_pop, trial[None])[0]
            objt = self.conditional(gft, trial, oinv, a, b)
            better = (objt <= obj) & ~done
            small = np.max(np.abs(step), axis=1) <= tol * (1.0 + np.max(np.abs(eta), axis=1))
            done |= (better & small) | (~better & (lam > 1e12))
            if better.any():
                eta[better] = trial[better]
                obj[better] = objt[better]
                gf, G = self.pred_jac(psi_pop, eta)
            lam = np.where(better, np.maximum(lam * 0.1, 1e-12), lam * 10.0)
            if done.all():
                break
        return eta, gf, G, obj, True

    def ofv(self, x: np.ndarray, *, eta0: np.ndarray | None = None, full: bool = False) -> Any:
        """-2 log-likelihood (FOCE-I) at the outer parameters ``x`` (a trial point whose predictions overflow
        or fail gets a large finite value, so the optimizer steps back)."""
        with np.errstate(all="ignore"):
            return self._ofv(x, eta0=eta0, full=full)

    def _ofv(self, x: np.ndarray, *, eta0: np.ndarray | None, full: bool) -> Any:
        self.n_eval += 1
        sp = self.spec
        xt, xb, xo, xr = sp.split(x)
        a, b = sp.residual(xr)
        L = sp.omega_chol(xo)
        omega = L @ L.T
        logdet_o = 2.0 * float(np.sum(np.log(np.diag(L))))
        oinv = np.linalg.inv(omega)
        psi_pop = sp.psi_pop(xt, xb)
        eta0 = self.eta_ref if eta0 is None else eta0
        eta, gf, G, obj, ok = self.modes(psi_pop, eta0, oinv, a, b)
        if not ok or not np.all(np.isfinite(obj)):
            return (_PENALTY, None) if full else _PENALTY
        V, _ = self.variance(gf, a, b)
        A = self.segsum(G[:, :, None] * G[:, None, :] / V[:, None, None]) + oinv
        sign, logdet_a = np.linalg.slogdet(A)
        if np.any(sign <= 0):
            return (_PENALTY, None) if full else _PENALTY
        per = obj + self.n_i * _LOG2PI + logdet_o + logdet_a
        total = float(np.sum(per))
        if not math.isfinite(total):
            total = _PENALTY
        if total < self.best:
            self.best = total
            self.eta_ref = eta
        if full:
            return total, dict(eta=eta, gf=gf, G=G, V=V, A=A, omega=omega, a=a, b=b, psi_pop=psi_pop)
        return total


# ----------------------------------------------------------------------------- numerical derivatives
def _grad(f: Callable[[np.ndarray], float], x: np.ndarray, h: np.ndarray) -> np.ndarray:
    g = np.empty_like(x)
    for k in range(x.size):
        e = np.zeros_like(x)
        e[k] = h[k]
        g[k] = (f(x + e) - f(x - e)) / (2 * h[k])
    return g


def _hessian(f: Callable[[np.ndarray], float], x: np.ndarray, h: np.ndarray) -> np.ndarray:
    n = x.size
    H = np.empty((n, n))
    f0 = f(x)
    for i in range(n):
        ei = np.zeros(n)
        ei[i] = h[i]
        H[i, i] = (f(x + 2 * ei) - 2 * f0 + f(x - 2 * ei)) / (4 * h[i] ** 2)
        for j in range(i):
            ej = np.zeros(n)
            ej[j] = h[j]
            H[i, j] = H[j, i] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (4 * h[i] * h[j])
    return H


def _jacobian(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    cols = []
    for k in range(x.size):
        e = np.zeros_like(x)
        e[k] = h * max(1.0, abs(x[k]))
        cols.append((f(x + e) - f(x - e)) / (2 * e[k]))
    return np.stack(cols, axis=1)


# ----------------------------------------------------------------------------- input handling
def _prepare_data(data: Any, *, subject: str, time: str, value: str, observable: str, quantities: Sequence[str],
                  scale: str, model_name: str, covariate_names: Sequence[str], what: str = "`data`"
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tidy, checked observations (sorted by subject then time) and one row of covariates per subject."""
    import pandas as pd

    from ._fit import _as_dataframe

    df = _as_dataframe(data)
    for arg, col in (("subject", subject), ("time", time), ("value", value)):
        if col not in df.columns:
            raise SpecificationError(f"{what} has no column {col!r} (the `{arg}` column); columns: "
                                     f"{', '.join(map(str, df.columns))}")
    for col in covariate_names:
        if col not in df.columns:
            raise UnknownNameError("covariate column", col, [str(c) for c in df.columns], what)
    cols = {subject: "subject", time: "time", value: "value"}
    tidy = df[[subject, time, value]].rename(columns=cols)
    tidy["observable"] = df["observable"].to_numpy() if "observable" in df.columns else observable
    for extra in ("sigma", "censored"):
        if extra in df.columns:
            raise SpecificationError(f"{what} has a {extra!r} column, which population fits do not take (the "
                                     "residual error is estimated; censored rows are not supported): drop it")
    tidy = tidy_data(tidy, list(quantities), scale, model_name)
    if "observable" in df.columns:
        other = tidy["observable"] != observable
        if other.any():
            i = int(np.argmax(other.to_numpy()))
            raise SpecificationError(f"{what} row {i}: observable {tidy['observable'].iloc[i]!r}; a population fit "
                                     f"takes one observable ({observable!r}): select its rows first")
    tidy = tidy.reset_index(drop=True)
    order = {s: i for i, s in enumerate(tidy["subject"].drop_duplicates())}
    tidy["_order"] = tidy["subject"].map(order)
    pos = np.lexsort((tidy["time"].to_numpy(), tidy["_order"].to_numpy()))
    tidy = tidy.iloc[pos].drop(columns="_order").reset_index(drop=True)
    covs = df.loc[:, list(covariate_names)].copy()
    covs.insert(0, "subject", df[subject].to_numpy())
    rows = []
    for s, grp in covs.groupby("subject", sort=False):
        rec = {"subject": s}
        for col in covariate_names:
            v = pd.to_numeric(grp[col], errors="coerce").to_numpy(dtype=float)
            if not np.all(np.isfinite(v)):
                raise SpecificationError(f"{what}: covariate {col!r} of subject {s!r} is not a finite number")
            if np.ptp(v) > 1e-12 * max(1.0, float(np.max(np.abs(v)))):
                raise SpecificationError(f"{what}: covariate {col!r} of subject {s!r} changes over time; covariates "
                                         "must be constant per subject")
            rec[col] = float(v[0])
        rows.append(rec)
    cov_df = pd.DataFrame(rows, columns=["subject", *covariate_names]).set_index("subject").loc[list(order)]
    return tidy, cov_df


def _random_spec(random: Any, names: Sequence[str]) -> dict[str, str]:
    if random is None:
        return {n: "lognormal" for n in names}
    if isinstance(random, str):
        random = [random]
    if isinstance(random, Mapping):
        out = dict(random)
    else:
        out = {n: "lognormal" for n in random}
    for n, dist in out.items():
        if n not in names:
            raise UnknownNameError("parameter", n, names, "`random` (it must be one of the estimated `params`)")
        if dist not in _DISTRIBUTIONS:
            raise SpecificationError(f"`random[{n!r}]` must be one of {_DISTRIBUTIONS}, got {dist!r}")
    if not out:
        raise SpecificationError("`random` names no parameter; a population fit needs between-subject variability "
                                 "on at least one parameter (use tumordyn.fit for a pooled fit)")
    return out


def fit_population(
    structure: Model | GrowthLaw | Callable[[np.ndarray, Mapping[str, np.ndarray]], np.ndarray],
    data: pd.DataFrame | Mapping[str, Any],
    params: Mapping[str, float],
    *,
    random: Sequence[str] | Mapping[str, str] | None = None,
    covariance: str = "diagonal",
    omega: Mapping[str, float] | None = None,
    covariates: Mapping[str, Sequence[str] | str] | None = None,
    error: str = "proportional",
    residual: Mapping[str, float] | None = None,
    scale: str = "linear",
    observable: str | None = None,
    subject: str = "subject",
    time: str = "time",
    value: str = "value",
    fixed: Mapping[str, float] | None = None,
    schedules: Schedule | Mapping[Any, Schedule] | None = None,
    initial: Mapping[Any, Any] | None = None,
    t0: float = 0.0,
    solver: Solver | str | None = None,
    max_iter: int = 500,
    estimate: bool = True,
    progress: bool = True,
) -> PopulationResult:
    r"""Fit a nonlinear mixed-effects (population) model by FOCE-I.

    Each subject ``i`` has individual parameters ``phi_i``: for a log-normal
    parameter ``phi = theta * exp(beta' (x_i - center) + eta)``, for a normal one
    ``phi = theta + beta' (x_i - center) + eta``, with ``eta_i ~ N(0, Omega)``
    (between-subject variability, BSV) and optional subject covariates ``x_i``.
    Observations follow ``g(y) = g(f(t, phi_i)) + e`` with ``e ~ N(0, V)``,
    ``V = a²`` (additive), ``b² g(f)²`` (proportional) or ``a² + b² g(f)²``
    (combined), ``g`` the identity or ``ln`` (``scale``). The likelihood is
    maximised by FOCE with interaction (first-order conditional estimation with
    the residual variance at the conditional modes; Wang 2007, J Pharmacokinet
    Pharmacodyn 34:575–593): deterministic, exact for models linear in ``eta``,
    and its objective is a proper -2 log-likelihood for model comparison. See the
    docs page *Population fitting* for the equations.

    Parameters
    ----------
    structure : Model, GrowthLaw or callable
        A tumordyn :class:`~tumordyn.Model` (solved per subject at its own
        observation times, with its own schedule and initial state), a
        :class:`~tumordyn.fitting.GrowthLaw` (its closed form
        :meth:`~tumordyn.fitting.GrowthLaw.predict`, untreated), or a
        closed-form ``predict(t, params) -> ndarray``: ``t`` (days) and each
        ``params[name]`` are arrays of one shape (one entry per observation,
        many subjects and copies at once); it returns the prediction at each
        entry (observable's unit).
    data : pandas.DataFrame or mapping of str to array
        Tidy observations: columns ``subject``, ``time`` (days), ``value`` (names
        set by the keywords below), an optional ``observable`` column, and the
        covariate columns (constant per subject).
    params : mapping of str to float
        The estimated parameters and their start typical values (> 0 for
        log-normal ones). With a Model: model parameters or state names (the
        state's initial value).
    random : list of str or mapping of str to {"lognormal", "normal"}, optional
        Parameters with BSV (a list: log-normal). Default: all of ``params``,
        log-normal. A parameter without BSV is estimated on the log scale if its
        start value is > 0, else on the natural scale.
    covariance : {"diagonal", "full"}
        Structure of Omega.
    omega : mapping of str to float, optional
        Start standard deviation of each eta (on the log scale for log-normal
        parameters, default 0.3; for normal parameters default 0.3 × |start|, or
        0.3 if the start is 0).
    covariates : mapping of str to str or list of str, optional
        Parameter -> covariate columns of ``data`` with an effect on it (centred at
        the covariate's median over subjects).
    error : {"additive", "proportional", "combined"}
        Residual error model on the ``g`` scale.
    residual : mapping, optional
        Start values ``{"additive": a, "proportional": b}`` (defaults: a = 0.1 ×
        SD of g(y), b = 0.1).
    scale : {"linear", "log"}
        ``g``: fit the values or their logarithms (additive error on the log
        scale is the usual exponential error model for tumor sizes).
    observable : str, optional
        With a Model: the state or observable measured (required). With a
        callable: a label (default ``"value"``).
    subject, time, value : str
        Column names in ``data``.
    fixed : mapping of str to float, optional
        Values of the other model parameters (Model), or constants passed to the
        callable in ``params`` (as arrays).
    schedules : Schedule or mapping subject -> Schedule, optional
        Model only: treatment per subject (default none).
    initial : mapping, optional
        Model only: initial states for all subjects or ``{subject: {state: value}}``.
    t0 : float
        Model only: start of the simulations (days).
    solver : Solver or str, optional
        Model only: integrator (default as :func:`tumordyn.fit`).
    max_iter : int
        Most BFGS iterations of the outer optimisation (each evaluates the
        objective about ``2 n + 1`` times for ``n`` estimated quantities).
    estimate : bool
        ``False``: estimate nothing; evaluate -2LL, the EBEs and the diagnostics at
        the start values (``params``, ``omega``, ``residual``), e.g. to compare
        models or to get EBEs under known population values. ``stderr`` is then
        empty and ``covariance`` is ``None``.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    PopulationResult
        Estimates, standard errors, -2LL, empirical-Bayes estimates, shrinkage,
        tables and diagnostic plots.

    Raises
    ------
    UnknownNameError
        For an unknown parameter, state, observable or covariate column.
    SpecificationError
        For bad data (missing/non-finite values, non-positive values on the log
        scale, a subject with no data, time-varying covariates), bad options, or
        an objective that cannot be evaluated at the start values.
    TypeError
        If ``structure`` is neither a Model nor callable.

    Examples
    --------
    >>> import numpy as np, pandas as pd, tumordyn as td
    >>> rng = np.random.default_rng(1)
    >>> rows = []
    >>> for i in range(20):
    ...     v0, r = 100 * np.exp(0.2 * rng.normal()), 0.02 * np.exp(0.2 * rng.normal())
    ...     for t in (0.0, 20.0, 40.0, 60.0):
    ...         rows.append((i, t, v0 * np.exp(r * t) * np.exp(0.05 * rng.normal())))
    >>> df = pd.DataFrame(rows, columns=["subject", "time", "value"])
    >>> expo = lambda t, p: p["v0"] * np.exp(p["r"] * t)
    >>> res = td.fit_population(expo, df, {"v0": 80.0, "r": 0.01}, error="additive", scale="log",
    ...                         progress=False)
    >>> round(res.typical["r"], 2)
    0.02
    """
    t_start = _time.perf_counter()
    from ..spec import Model

    if error not in _ERRORS:
        raise SpecificationError(f"`error` must be one of {_ERRORS}, got {error!r}")
    if scale not in ("linear", "log"):
        raise SpecificationError(f"`scale` must be 'linear' or 'log', got {scale!r}")
    if covariance not in ("diagonal", "full"):
        raise SpecificationError(f"`covariance` must be 'diagonal' or 'full', got {covariance!r}")
    if not isinstance(params, Mapping) or not params:
        raise SpecificationError("`params` must be a non-empty mapping of estimated parameter -> start value")
    if not (isinstance(max_iter, int) and max_iter >= 1):
        raise SpecificationError(f"`max_iter` must be an integer >= 1, got {max_iter!r}")
    names = tuple(params)
    start = {}
    for n in names:
        v = params[n]
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise SpecificationError(f"start value of {n!r} in `params` must be a number, got {v!r}") from None
        if not math.isfinite(v):
            raise SpecificationError(f"start value of {n!r} in `params` must be finite, got {v}")
        start[n] = v
    rnd = _random_spec(random, names)
    fixed = dict(fixed or {})
    covariates = {k: ([v] if isinstance(v, str) else list(v)) for k, v in (covariates or {}).items()}
    for n in covariates:
        if n not in names:
            raise UnknownNameError("parameter", n, names, "`covariates` (it must be one of the estimated `params`)")
    cov_names = list(dict.fromkeys(c for cs in covariates.values() for c in cs))

    if isinstance(structure, GrowthLaw):
        structure = structure.predict  # the closed form, at drug level 0
    if isinstance(structure, Model):
        model = structure
        from ..numerics import compile_model

        cm = compile_model(model)
        if observable is None:
            raise SpecificationError("`observable` is required with a Model: the state or observable measured "
                                     f"(one of {', '.join(cm.state_names + cm.observable_names)})")
        quantities = cm.state_names + cm.observable_names
        if observable not in quantities:
            raise UnknownNameError("observable", observable, quantities, f"model {model.name!r}")
        for n in names:
            if n not in cm.param_names and n not in cm.state_names:
                raise UnknownNameError("parameter or state", n, cm.param_names + cm.state_names,
                                       f"`params` (model {model.name!r})")
        for n in fixed:
            if n not in cm.param_names:
                raise UnknownNameError("parameter", n, cm.param_names, f"`fixed` (model {model.name!r})")
            if n in names:
                raise SpecificationError(f"{n!r} is both estimated (`params`) and `fixed`")
        df, cov_df = _prepare_data(data, subject=subject, time=time, value=value, observable=observable,
                                   quantities=quantities, scale=scale, model_name=model.name,
                                   covariate_names=cov_names)
        subjects = list(cov_df.index)
        scheds = subject_schedules(schedules, subjects, model, float(t0))
        init = per_subject(initial, subjects, "initial", "state to value (mapping)")
        struct: _Structure = _ModelStructure(model, df, names, fixed, scheds, init, float(t0),
                                             fit_solver(solver))
    elif callable(structure):
        for arg, v in (("schedules", schedules), ("initial", initial)):
            if v is not None:
                raise SpecificationError(f"`{arg}` applies to a Model; a closed-form predict callable takes none")
        observable = "value" if observable is None else str(observable)
        df, cov_df = _prepare_data(data, subject=subject, time=time, value=value, observable=observable,
                                   quantities=[observable], scale=scale, model_name="predict callable",
                                   covariate_names=cov_names)
        subjects = list(cov_df.index)
        for n, v in fixed.items():
            if n in names:
                raise SpecificationError(f"{n!r} is both estimated (`params`) and `fixed`")
            fixed[n] = float(v)
        si0 = df["subject"].map({s: i for i, s in enumerate(subjects)}).to_numpy()
        struct = _ClosedForm(structure, names, fixed, df["time"].to_numpy(), si0)
    else:
        raise TypeError(f"`structure` must be a tumordyn Model or a predict(t, params) callable, got "
                        f"{type(structure).__name__}")

    si = df["subject"].map({s: i for i, s in enumerate(subjects)}).to_numpy()
    log = np.array([(rnd.get(n) == "lognormal") or (n not in rnd and start[n] > 0) for n in names])
    for n in names:
        if rnd.get(n) == "lognormal" and not start[n] > 0:
            raise SpecificationError(f"start value of log-normal parameter {n!r} must be > 0, got {start[n]}")
    terms = tuple((names.index(p), cname) for p, cs in covariates.items() for cname in cs)
    centers = {cname: float(np.median(cov_df[cname].to_numpy())) for cname in cov_names}
    cov_values = np.column_stack([cov_df[cname].to_numpy() - centers[cname] for _, cname in terms]) if terms \
        else np.zeros((len(subjects), 0))
    spec = _Spec(names, log, tuple(names.index(n) for n in rnd), covariance == "full", terms, cov_values, centers,
                 error)
    engine = _Engine(spec, struct, df["value"].to_numpy(dtype=float), si, scale)

    # start values of the outer vector
    xt = np.array([math.log(start[n]) if lg else start[n] for n, lg in zip(names, log)])
    sd0 = []
    for n in rnd:
        d = 0.3 if rnd[n] == "lognormal" else (0.3 * abs(start[n]) if start[n] != 0 else 0.3)
        if omega is not None and n in omega:
            d = float(omega[n])
            if not (math.isfinite(d) and d > 0):
                raise SpecificationError(f"`omega[{n!r}]` (start SD of eta) must be > 0, got {omega[n]!r}")
        sd0.append(d)
    for n in omega or {}:
        if n not in rnd:
            raise UnknownNameError("parameter with BSV", n, list(rnd), "`omega`")
    xo = spec.omega_x(np.diag(np.square(sd0)))
    gy = engine.gy
    res0 = dict(residual or {})
    for k in res0:
        if k not in ("additive", "proportional"):
            raise UnknownNameError("residual parameter", k, ["additive", "proportional"], "`residual`")
    a0 = float(res0.get("additive", 0.1 * float(np.std(gy)) or 0.1))
    b0 = float(res0.get("proportional", 0.1))
    if not (a0 > 0 and b0 > 0 and math.isfinite(a0) and math.isfinite(b0)):
        raise SpecificationError(f"`residual` start values must be finite and > 0, got {res0}")
    xr = {"additive": [math.log(a0)], "proportional": [math.log(b0)], "combined": [math.log(a0), math.log(b0)]}[error]
    x0 = np.concatenate([xt, np.zeros(len(terms)), xo, xr])

    f0 = engine.ofv(x0)
    if not f0 < _PENALTY:
        raise SpecificationError(
            "the population objective cannot be evaluated at the start values (predictions failed, are not "
            "finite, or are not positive on the log scale); check `params` and the structural model"
        )
    if estimate:
        x_hat, info = _optimize(engine, x0, max_iter, progress)
    else:
        x_hat, info = x0, dict(hessian=None, converged=True, message="not estimated (estimate=False)", n_iter=0)
    return _make_result(engine, x_hat, info, df, cov_df, subjects, observable, scale, rnd, dict(start),
                        _time.perf_counter() - t_start)


def _steps(x: np.ndarray, rel: float) -> np.ndarray:
    return rel * np.maximum(1.0, np.abs(x))


def _optimize(engine: _Engine, x0: np.ndarray, max_iter: int, progress: bool) -> tuple[np.ndarray, dict[str, Any]]:
    from scipy.optimize import minimize
    from tqdm.auto import tqdm

    f = engine.ofv
    bar = tqdm(total=max_iter, desc="fit_population (FOCE-I)", unit="iter", disable=not progress, leave=False)
    n_iter = [0]

    def jac(x: np.ndarray) -> np.ndarray:
        return _grad(f, x, _steps(x, 1e-5))

    # precondition BFGS by the curvature of each coordinate at the start (the coordinates differ by orders of
    # magnitude in curvature: a rate in 1/day against a log-variance), x = x0 + z / scale
    f0 = f(x0)
    h = _steps(x0, 1e-3)
    curv = np.empty_like(x0)
    for k in range(x0.size):
        e = np.zeros_like(x0)
        e[k] = h[k]
        curv[k] = (f(x0 + e) - 2 * f0 + f(x0 - e)) / h[k] ** 2
    scale = np.sqrt(np.clip(np.where(np.isfinite(curv), np.abs(curv), 1.0), 1e-2, 1e12))

    def fun(z: np.ndarray) -> float:
        return f(x0 + z / scale)

    def jac_z(z: np.ndarray) -> np.ndarray:
        return jac(x0 + z / scale) / scale

    def cb(_z: np.ndarray) -> None:
        n_iter[0] += 1
        bar.update(1)

    try:
        opt = minimize(fun, np.zeros_like(x0), jac=jac_z, method="BFGS", callback=cb,
                       options={"maxiter": max_iter, "gtol": 1e-3})
    finally:
        bar.close()
    opt.x = x0 + np.asarray(opt.x, dtype=float) / scale
    x = np.asarray(opt.x, dtype=float)
    fx = f(x)
    # Newton polishing with a finite-difference Hessian (also the one the standard errors use); converged when
    # the Newton decrement (the -2LL a Newton step would still gain) is below NEWTON_TOL
    H = _hessian(f, x, _steps(x, 1e-4))
    converged = False
    g = jac(x)
    for _ in range(MAX_POLISH):
        Hs = 0.5 * (H + H.T)
        if not np.all(np.linalg.eigvalsh(Hs) > 0):
            break
        d = -np.linalg.solve(Hs, g)
        if -float(g @ d) < NEWTON_TOL:
            converged = True
            break
        t = 1.0
        for _ in range(30):  # backtracking, bounded
            fn = f(x + t * d)
            if fn <= fx:
                break
            t *= 0.5
        else:
            break
        x, fx = x + t * d, fn
        H = _hessian(f, x, _steps(x, 1e-4))
        g = jac(x)
    return x, dict(hessian=H, gradient=g, converged=converged, message=str(opt.message), n_iter=n_iter[0],
                   n_eval=engine.n_eval)


# ----------------------------------------------------------------------------- results
def _natural(spec: _Spec, x: np.ndarray) -> dict[str, float]:
    """The reported quantities at outer vector ``x``: typical values, covariate effects, Omega, residual."""
    xt, xb, xo, xr = spec.split(x)
    out = {n: (math.exp(v) if lg else float(v)) for n, v, lg in zip(spec.names, xt, spec.log)}
    for (k, cname), b in zip(spec.cov_terms, xb):
        out[f"beta({spec.names[k]},{cname})"] = float(b)
    L = spec.omega_chol(xo)
    om = L @ L.T
    rn = [spec.names[k] for k in spec.rnd]
    for i in range(spec.q):
        out[f"omega({rn[i]})"] = float(om[i, i])
    if spec.full:
        for i in range(spec.q):
            for j in range(i):
                out[f"omega({rn[i]},{rn[j]})"] = float(om[i, j])
    a, b = spec.residual(xr)
    if spec.error in ("additive", "combined"):
        out["sigma_additive"] = a
    if spec.error in ("proportional", "combined"):
        out["sigma_proportional"] = b
    return out


def _make_result(engine: _Engine, x: np.ndarray, info: dict[str, Any], df: pd.DataFrame, cov_df: pd.DataFrame,
                 subjects: list[Any], observable: str, scale: str, rnd: dict[str, str], start: dict[str, float],
                 wall: float) -> PopulationResult:
    import pandas as pd

    spec = engine.spec
    ofv, st = engine.ofv(x, full=True)
    if st is None:
        raise SpecificationError("the population objective failed at the optimum; the fit cannot be reported")
    nat = _natural(spec, x)
    keys = list(nat)
    cov_x = None
    if info["hessian"] is not None:
        H = 0.5 * (info["hessian"] + info["hessian"].T)
        if np.all(np.isfinite(H)) and np.all(np.linalg.eigvalsh(H) > 0):
            cov_x = 2.0 * np.linalg.inv(H)
    if info["hessian"] is None:
        cov_nat = None
    elif cov_x is None:
        warnings.warn("the Hessian of -2LL at the estimate is not positive definite: standard errors are NaN "
                      "(the model may be over-parametrised or not converged)", PopulationWarning, stacklevel=3)
        cov_nat = np.full((len(keys), len(keys)), np.nan)
    else:
        J = _jacobian(lambda z: np.array(list(_natural(spec, z).values())), x)
        cov_nat = J @ cov_x @ J.T
    se = {} if cov_nat is None else {k: float(math.sqrt(v)) if v >= 0 else math.nan
                                     for k, v in zip(keys, np.diag(cov_nat))}
    if not info["converged"]:
        warnings.warn(f"fit_population did not converge ({info['message']}); raise max_iter or check the start "
                      "values", PopulationWarning, stacklevel=3)
    rn = [spec.names[k] for k in spec.rnd]
    omega = pd.DataFrame(st["omega"], index=rn, columns=rn)
    eta = st["eta"]
    sd_hat = np.std(eta, axis=0, ddof=0) if eta.shape[0] > 1 else np.zeros(spec.q)
    shrink = {n: float(1.0 - sd_hat[i] / math.sqrt(st["omega"][i, i])) for i, n in enumerate(rn)}
    phi = spec.phi(st["psi_pop"], eta)
    n_par = len(x)
    n_obs = int(engine.y.size)
    return PopulationResult(
        method="FOCE-I",
        parameters=spec.names,
        random=dict(rnd),
        typical={n: nat[n] for n in spec.names},
        covariate_effects={k: v for k, v in nat.items() if k.startswith("beta(")},
        omega=omega,
        residual={"additive": st["a"], "proportional": st["b"]},
        error=spec.error,
        scale=scale,
        estimates=nat,
        stderr=se,
        covariance=None if cov_nat is None else pd.DataFrame(cov_nat, index=keys, columns=keys),
        ofv=float(ofv),
        aic=float(ofv + 2 * n_par),
        bic=float(ofv + n_par * math.log(n_obs)),
        n_subjects=len(subjects),
        n_observations=n_obs,
        eta=pd.DataFrame(eta, index=pd.Index(subjects, name="subject"), columns=rn),
        individual=pd.DataFrame(phi, index=pd.Index(subjects, name="subject"), columns=list(spec.names)),
        shrinkage=shrink,
        converged=bool(info["converged"]),
        message=info["message"],
        n_iterations=int(info["n_iter"]),
        n_evaluations=int(engine.n_eval),
        wall_time=float(wall),
        observable=observable,
        covariates=cov_df,
        _engine=engine,
        _x=x,
        _data=df,
    )


@dataclass(frozen=True)
class PopulationResult:
    """The result of :func:`fit_population`.

    Attributes
    ----------
    method : str
        ``"FOCE-I"``.
    parameters : tuple of str
        The estimated parameters (order of the structural model's arguments).
    random : dict of str to str
        Parameters with BSV and their distribution (``"lognormal"``/``"normal"``).
    typical : dict of str to float
        Typical values (fixed effects, the parameter's unit): the median
        individual value of a log-normal parameter, the mean of a normal one, at
        the covariates' medians.
    covariate_effects : dict of str to float
        ``beta(parameter,covariate)`` (on the log scale for log-normal parameters:
        per unit of the covariate).
    omega : pandas.DataFrame
        Omega, the covariance of eta (variances on the diagonal; log-scale for
        log-normal parameters, so ``sqrt(omega)`` ≈ CV).
    residual : dict of str to float
        ``additive`` (a, the g-scale unit) and ``proportional`` (b, fraction);
        0 where not part of the error model.
    error, scale : str
        The residual error model and the scale ``g`` it applies on.
    estimates, stderr : dict of str to float
        Every estimated quantity (typical values, ``beta(...)``, ``omega(p)``
        variances, ``omega(p,q)`` covariances, ``sigma_additive``,
        ``sigma_proportional``) and its standard error from the observed
        information (finite-difference Hessian of -2LL, delta method).
    covariance : pandas.DataFrame or None
        Covariance of those estimates (``None`` with ``estimate=False``).
    ofv : float
        Objective: -2 log-likelihood (FOCE-I, constants included).
    aic, bic : float
        ``ofv + 2 k`` and ``ofv + k ln(n_observations)``.
    n_subjects, n_observations : int
    eta : pandas.DataFrame
        Empirical-Bayes estimates of eta (conditional modes), one row per subject.
    individual : pandas.DataFrame
        Individual parameters at the EBEs, one row per subject.
    shrinkage : dict of str to float
        eta-shrinkage ``1 - SD(eta_hat) / sqrt(omega)`` (Savic & Karlsson 2009,
        AAPS J 11:558–569).
    converged : bool
    message : str
    n_iterations, n_evaluations : int
        Outer iterations and objective evaluations.
    wall_time : float
        Seconds.
    observable : str
    covariates : pandas.DataFrame
        Covariate values per subject.
    """

    method: str
    parameters: tuple[str, ...]
    random: dict[str, str]
    typical: dict[str, float]
    covariate_effects: dict[str, float]
    omega: pd.DataFrame
    residual: dict[str, float]
    error: str
    scale: str
    estimates: dict[str, float]
    stderr: dict[str, float]
    covariance: pd.DataFrame | None
    ofv: float
    aic: float
    bic: float
    n_subjects: int
    n_observations: int
    eta: pd.DataFrame
    individual: pd.DataFrame
    shrinkage: dict[str, float]
    converged: bool
    message: str
    n_iterations: int
    n_evaluations: int
    wall_time: float
    observable: str
    covariates: pd.DataFrame
    _engine: _Engine = field(repr=False, compare=False)
    _x: np.ndarray = field(repr=False, compare=False)
    _data: pd.DataFrame = field(repr=False, compare=False)

    def __repr__(self) -> str:
        est = ", ".join(f"{k}={v:.4g}" for k, v in self.typical.items())
        return (f"PopulationResult({self.method}, {self.n_subjects} subjects, {self.n_observations} observations, "
                f"ofv={self.ofv:.4f}, {est})")

    @property
    def omega_sd(self) -> dict[str, float]:
        """SD of each eta (``sqrt`` of Omega's diagonal; ≈ CV of a log-normal parameter)."""
        return {n: float(math.sqrt(self.omega.loc[n, n])) for n in self.omega.index}

    def to_dataframe(self) -> pd.DataFrame:
        """Parameter table: ``parameter``, ``kind`` (typical / covariate / omega / residual), ``estimate``,
        ``stderr`` and ``rse_percent`` (relative standard error, %; both NaN with ``estimate=False``)."""
        import pandas as pd

        rows = []
        for k, v in self.estimates.items():
            kind = ("typical" if k in self.parameters else "covariate" if k.startswith("beta(")
                    else "omega" if k.startswith("omega(") else "residual")
            se = self.stderr.get(k, math.nan)
            rows.append((k, kind, v, se, 100 * se / abs(v) if v != 0 else math.nan))
        return pd.DataFrame(rows, columns=["parameter", "kind", "estimate", "stderr", "rse_percent"])

    def predictions(self) -> pd.DataFrame:
        """One row per observation: ``subject``, ``time`` (days), ``observed``, ``pred`` (population: eta = 0),
        ``ipred`` (individual: eta = EBE), ``iwres`` (individual weighted residual on the g scale)."""
        import pandas as pd

        e = self._engine
        psi = e.spec.psi_pop(*e.spec.split(self._x)[:2])
        pred = e.struct.predict(e.spec.phi(psi, np.zeros((1, e.N, e.spec.q))))[0]
        ipred = e.struct.predict(e.spec.phi(psi, self.eta.to_numpy()[None]))[0]
        V, _ = e.variance(e.g(ipred), self.residual["additive"], self.residual["proportional"])
        return pd.DataFrame({"subject": self._data["subject"].to_numpy(), "time": self._data["time"].to_numpy(),
                             "observed": e.y, "pred": pred, "ipred": ipred,
                             "iwres": (e.gy - e.g(ipred)) / np.sqrt(V)})

    def simulate(self, n: int = 200, seed: int | None = 0) -> np.ndarray:
        """Simulated replicates of the data set (new eta and residual error, observation times of ``data``).

        Parameters
        ----------
        n : int
            Number of replicates.
        seed : int, optional
            Random seed.

        Returns
        -------
        numpy.ndarray, shape (n, n_observations)
            Simulated values (observable's unit), rows in the order of :meth:`predictions`.
        """
        e = self._engine
        rng = np.random.default_rng(seed)
        om = self.omega.to_numpy()
        etas = rng.multivariate_normal(np.zeros(e.spec.q), om, size=(n, e.N)) if e.spec.q else np.zeros((n, e.N, 0))
        psi = e.spec.psi_pop(*e.spec.split(self._x)[:2])
        gf = e.gpred(psi, etas)
        V, _ = e.variance(gf, self.residual["additive"], self.residual["proportional"])
        return e.g_inv(gf + np.sqrt(V) * rng.standard_normal(gf.shape))

    # -- plots -----------------------------------------------------------------------
    def plot_observed_vs_predicted(self, which: str = "individual", ax: Axes | None = None) -> Axes:
        """Observed against predicted values, with the identity line.

        Parameters
        ----------
        which : {"individual", "population"}
            Predictions at the EBEs (``ipred``) or at eta = 0 (``pred``).
        ax : matplotlib Axes, optional

        Returns
        -------
        matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        if which not in ("individual", "population"):
            raise SpecificationError(f"`which` must be 'individual' or 'population', got {which!r}")
        if ax is None:
            _, ax = plt.subplots(figsize=(4, 4))
        tab = self.predictions()
        col = "ipred" if which == "individual" else "pred"
        ax.scatter(tab[col], tab["observed"], s=8, alpha=0.6)
        lo = float(np.nanmin(tab[[col, "observed"]].to_numpy()))
        hi = float(np.nanmax(tab[[col, "observed"]].to_numpy()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        if self.scale == "log":
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_xlabel(f"{which} prediction ({self.observable})")
        ax.set_ylabel(f"observed ({self.observable})")
        return ax

    def plot_individual_fits(self, subjects: Sequence[Any] | None = None, ax: Any = None,
                             n_points: int = 50) -> Any:
        """Observed values, individual (EBE) and population curves per subject, one panel each.

        Parameters
        ----------
        subjects : list, optional
            Subjects to show (default: the first 12).
        ax : array of matplotlib Axes, optional
            At least one Axes per subject (a new grid if ``None``).
        n_points : int
            Points per curve.

        Returns
        -------
        numpy.ndarray of Axes
        """
        import matplotlib.pyplot as plt

        all_s = list(self.eta.index)
        subjects = all_s[:12] if subjects is None else list(subjects)
        for s in subjects:
            if s not in all_s:
                raise UnknownNameError("subject", s, [str(x) for x in all_s], "plot_individual_fits")
        if ax is None:
            nc = min(4, len(subjects))
            nr = -(-len(subjects) // nc)
            _, ax = plt.subplots(nr, nc, figsize=(2.6 * nc, 2.2 * nr), squeeze=False, sharex=True)
        axes = np.asarray(ax).ravel()
        if axes.size < len(subjects):
            raise SpecificationError(f"`ax` has {axes.size} Axes for {len(subjects)} subjects")
        data = self._data
        for a, s in zip(axes, subjects):
            rows = data["subject"] == s
            t = data.loc[rows, "time"].to_numpy()
            grid = np.linspace(float(t.min()), float(t.max()), n_points) if t.size > 1 else t
            ip, pp = self._curves(s, grid)
            a.plot(t, data.loc[rows, "value"], "o", ms=3, color="k")
            a.plot(grid, ip, "-", color="C0", label="individual")
            a.plot(grid, pp, "--", color="C1", label="population")
            a.set_title(str(s), fontsize=8)
            if self.scale == "log":
                a.set_yscale("log")
        axes[0].legend(fontsize=7)
        for a in axes[len(subjects):]:
            a.set_visible(False)
        return np.asarray(ax)

    def _curves(self, s: Any, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        e = self._engine
        j = list(self.eta.index).index(s)
        psi = e.spec.psi_pop(*e.spec.split(self._x)[:2])[j:j + 1]
        struct = e.struct
        if isinstance(struct, _ModelStructure):
            sub = struct.at(grid, struct.schedules[s], struct.initial[s])
        else:
            sub = struct.at(grid)
        etas = np.stack([self.eta.to_numpy()[j:j + 1], np.zeros((1, e.spec.q))])
        out = sub.predict(e.spec.phi(psi, etas))
        return out[0], out[1]

    def plot_vpc(self, n: int = 200, bins: int = 6, level: float = 0.9, seed: int | None = 0,
                 ax: Axes | None = None) -> Axes:
        """Visual predictive check: percentiles of the observations and of simulated replicates, per time bin.

        The observed 5th/50th/95th percentiles (for ``level=0.9``) are drawn as
        lines over shaded bands: the ``level`` interval of the same percentiles over
        ``n`` replicates simulated from the fitted model at the observation times.

        Parameters
        ----------
        n : int
            Simulated replicates.
        bins : int
            Time bins (quantiles of the observation times).
        level : float
            Interval of the percentiles shown and of their simulated spread.
        seed : int, optional
        ax : matplotlib Axes, optional

        Returns
        -------
        matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        if not 0 < level < 1:
            raise SpecificationError(f"`level` must be in (0, 1), got {level}")
        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        t = self._data["time"].to_numpy()
        y = self._data["value"].to_numpy()
        sims = self.simulate(n, seed)
        edges = np.unique(np.quantile(t, np.linspace(0, 1, bins + 1)))
        idx = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, len(edges) - 2)
        qs = (100 * (1 - level) / 2, 50.0, 100 * (1 + level) / 2)
        mids, obs_p, sim_p = [], [], []
        for b in range(len(edges) - 1):
            m = idx == b
            if not m.any():
                continue
            mids.append(float(np.mean(t[m])))
            obs_p.append(np.percentile(y[m], qs))
            sim_p.append(np.percentile(sims[:, m], qs, axis=1))  # (3, n)
        mids_a = np.array(mids)
        obs_a = np.array(obs_p)
        sim_a = np.array(sim_p)  # (bins, 3, n)
        lo_q, hi_q = 100 * (1 - level) / 2, 100 * (1 + level) / 2
        for k, color in zip(range(3), ("C0", "C3", "C0")):
            band = np.percentile(sim_a[:, k, :], [lo_q, hi_q], axis=1)
            ax.fill_between(mids_a, band[0], band[1], color=color, alpha=0.2, lw=0)
            ax.plot(mids_a, obs_a[:, k], color=color, lw=1.5 if k == 1 else 1.0)
        ax.plot(t, y, ".", color="0.5", ms=2)
        if self.scale == "log":
            ax.set_yscale("log")
        ax.set_xlabel("time (days)")
        ax.set_ylabel(self.observable)
        ax.set_title(f"VPC: observed percentiles (lines), simulated {int(level * 100)}% bands", fontsize=8)
        return ax
