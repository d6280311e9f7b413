r"""The tumor-growth laws: ODE models (:func:`growth_model`) and their closed forms (:class:`GrowthLaw`).

Exponential, logistic, Gompertz, classical and general Bertalanffy, each with and without a resistant
clone and a treatment kill term; :func:`growth_models` gives the candidates of
:func:`~tumordyn.fitting.select_models`. Below the fit (:mod:`._fit` evaluates a law's closed form).
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from ..spec import Drug, Model, Observable, Parameter, Process, State
from ..errors import SpecificationError, UnknownNameError

__all__ = ["growth_model", "growth_models", "growth_law", "GrowthLaw", "GROWTH_LAWS", "BOX_COX_EXPONENT"]

#: Growth laws of :func:`growth_model` (the family of TumorGrowth.jl, Blaom 2024, plus the exponential).
GROWTH_LAWS = ("exponential", "logistic", "gompertz", "classical_bertalanffy", "bertalanffy")

#: Box–Cox exponent :math:`\lambda` of each law of the generalised Bertalanffy family (``None``: fitted,
#: parameter ``lam``); the exponential law is not a member.
BOX_COX_EXPONENT: dict[str, float | None] = {"logistic": -1.0, "gompertz": 0.0, "classical_bertalanffy": 1.0 / 3.0,
                                             "bertalanffy": None}


def growth_model(law: str = "logistic", resistant: bool = False, *, V0: float = 100.0, r: float = 0.1,
                 K: float = 5000.0, kill: float = 0.2, f_R: float = 0.01, lam: float = 1.0 / 3.0) -> Model:
    r"""Tumor-volume growth under an on/off drug, optionally with a resistant clone.

    States ``S`` (drug-sensitive volume, mm³) and, with ``resistant=True``,
    ``R`` (resistant volume, mm³); both grow with the same law and rate, the
    drug kills only ``S`` at rate ``kill`` while on. With :math:`V = S + R`:

    * exponential: :math:`\dot S = r S - k u S`;
    * the generalised Bertalanffy family (TumorGrowth.jl's parameterisation, :math:`\omega = r`,
      :math:`v_\infty = K`): :math:`\dot S = r\, B_\lambda(K/V)\, S - k u S` with the Box–Cox
      transform :math:`B_\lambda(x) = (x^\lambda - 1)/\lambda` (:math:`\ln x` at :math:`\lambda = 0`):

      - logistic (:math:`\lambda = -1`): :math:`\dot S = r S (1 - V/K) - k u S`;
      - Gompertz (:math:`\lambda = 0`): :math:`\dot S = r S \ln(K/V) - k u S`;
      - classical Bertalanffy (:math:`\lambda = 1/3`): :math:`\dot S = 3 r S ((K/V)^{1/3} - 1) - k u S`;
      - general Bertalanffy: :math:`\lambda` is the parameter ``lam`` (dimensionless, bounds (-5, 5));

    and :math:`\dot R` the same without the kill term. ``u`` is the level of the
    direct-input drug ``"drug"`` (give ``Infusion("drug", start, end, 1.0)`` for "on").
    The observable ``tumor_volume`` is :math:`V` (mm³). :func:`growth_law` wraps the model with
    its closed-form solution where one exists.

    Parameters
    ----------
    law : {"exponential", "logistic", "gompertz", "classical_bertalanffy", "bertalanffy"}
        Growth law.
    resistant : bool
        Add a resistant clone ``R``; its default initial volume is ``f_R * V0``.
    V0 : float
        Default initial volume (mm³), split into ``S`` and ``R``.
    r : float
        Default growth rate (1/day), bounds (1e-4, 2); TumorGrowth.jl's :math:`\omega`.
    K : float
        Default carrying capacity (mm³), bounds (1, 1e7); unused by the exponential law;
        TumorGrowth.jl's :math:`v_\infty`.
    kill : float
        Default kill rate of sensitive cells while on drug (1/day), bounds (0, 5).
    f_R : float
        Default resistant fraction at time zero.
    lam : float
        Default Box–Cox exponent of the general Bertalanffy law (dimensionless); the ODE's
        right-hand side is undefined at exactly 0 (use ``"gompertz"``, or the closed form of
        :func:`growth_law`, which is continuous there).

    Returns
    -------
    Model
        Named ``"<law>"`` or ``"<law>_resistant"``. Models are frozen values: a call with the same
        arguments (plain numbers) returns the same model object, so its compiled code is built once.

    References
    ----------
    A. D. Blaom, TumorGrowth.jl (2024), https://github.com/ablaom/TumorGrowth.jl (``src/models``);
    N. Ghaffari Laleh et al., PLOS Comput Biol 18(2): e1009822 (2022).
    """
    if law not in GROWTH_LAWS:
        raise SpecificationError(f"`law` must be one of {', '.join(GROWTH_LAWS)}, got {law!r}")
    args = (V0, r, K, kill, f_R, lam)
    if isinstance(resistant, bool) and all(isinstance(a, numbers.Real) and not isinstance(a, bool) for a in args):
        # one frozen model per argument set (a model battle calls growth_law thousands of times)
        return _growth_model_cached(law, resistant, *(float(a) for a in args))
    return _build_growth_model(law, resistant, *args)


@functools.lru_cache(maxsize=64)
def _growth_model_cached(law: str, resistant: bool, V0: float, r: float, K: float, kill: float, f_R: float,
                         lam: float) -> Model:
    return _build_growth_model(law, resistant, V0, r, K, kill, f_R, lam)


def _build_growth_model(law: str, resistant: bool, V0: Any, r: Any, K: Any, kill: Any, f_R: Any, lam: Any) -> Model:
    """:func:`growth_model` without the cache."""
    S, R, rr, KK, k, u, L = sp.symbols("S R r K kill drug lam")
    V = S + R if resistant else S
    params = [Parameter("r", r, (1e-4, 2.0), "1/day", "net growth rate at low volume", "fit parameter"),
              Parameter("kill", kill, (0.0, 5.0), "1/day", "kill rate of sensitive cells on drug", "fit parameter")]
    if law != "exponential":
        params.insert(1, Parameter("K", K, (1.0, 1e7), "mm^3", "carrying capacity (volume)", "fit parameter"))
    if law == "bertalanffy":
        params.insert(2, Parameter("lam", lam, (-5.0, 5.0), "1", "Box-Cox exponent of the general Bertalanffy law",
                                   "fit parameter"))
    Vpos = sp.Max(V, sp.Float(1e-12))
    if law == "exponential":
        per_capita = rr
    elif law == "logistic":
        per_capita = rr * (1 - V / KK)
    elif law == "gompertz":
        per_capita = rr * sp.log(KK / Vpos)
    else:
        expo = sp.Rational(1, 3) if law == "classical_bertalanffy" else L
        per_capita = rr * ((KK / Vpos) ** expo - 1) / expo
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


# ----------------------------------------------------------------------------- closed forms
def _log_w(lamL: Any, em: Any, at: Any) -> Any:
    r""":math:`\ln w`, :math:`w = 1 + (1 - e^{-\lambda L})(e^{-a t} - 1)`, the Box–Cox closed form's growth
    factor (``lamL`` = :math:`\lambda L`, ``em`` = ``expm1(-at)``, ``at`` = :math:`a t`).

    ``log1p`` of the product while it is above -1/2 (exact near :math:`t = 0` and :math:`\lambda \to 0`);
    below, :math:`w = e^{-at} + e^{-\lambda L}(1 - e^{-at})` as a sum of two terms :math:`\ge 0` (the product
    form cancels to rounding when :math:`V_0 \gg K` and the volume has settled at :math:`K`).
    """
    x = -np.expm1(-lamL) * em
    if np.all(x > -0.5):  # (the common case: one branch, no np.where)
        return np.log1p(x)
    return np.where(x > -0.5, np.log1p(np.maximum(x, -0.5)), np.log(np.exp(-at) - np.exp(-lamL) * em))


def _log_volume(t: np.ndarray, lnV0: np.ndarray, r: np.ndarray, lnK: np.ndarray, lam: np.ndarray,
                c: np.ndarray) -> np.ndarray:
    r""":math:`\ln V(t)` of :math:`\dot V = r B_\lambda(K/V) V - c V` (``c`` = kill × drug level, constant).

    With :math:`w = V^\lambda`, :math:`\dot w = r K^\lambda - a w`, :math:`a = r + \lambda c`: linear.
    For :math:`a > 0` it is the same law with :math:`K_e^\lambda = r K^\lambda / a`, written in
    ``expm1``/``log1p`` form so that :math:`\lambda \to 0` (Gompertz, :math:`\ln K_e = \ln K - c/r`)
    keeps full precision; for :math:`a \le 0` (:math:`\lambda < 0` and a strong kill) the linear
    solution for :math:`w` is used directly. Called under the ``np.errstate`` of :meth:`GrowthLaw._states`
    (extreme trial values divide by zero or overflow; the caller judges the inf/NaN).
    """
    if isinstance(c, float) and c == 0.0 and np.ndim(lam) == 0:  # fast path: a fixed exponent, no kill
        lam = float(lam)
        em = np.expm1(-r * t)
        if abs(lam) < 1e-12:
            return lnV0 + (lnV0 - lnK) * em
        return lnV0 + _log_w(lam * (lnV0 - lnK), em, r * t) / lam
    small = np.abs(lam) < 1e-12
    lam_s = np.where(small, 1.0, lam)
    a = r + lam * c
    x = lam * c / r
    shift = np.where(small, c / r, np.log1p(np.where(x > -1, x, 0.0)) / lam_s)  # ln K - ln K_e
    lnKe = lnK - shift
    L0 = lnV0 - lnKe
    em = np.expm1(-a * t)  # e^{-a t} - 1
    # ln V = ln K_e + B^{-1}((V0/K_e)^lam - 1) e^{-a t}) written relative to ln V0 (exact at t = 0)
    regular = lnV0 + np.where(small, L0 * em, _log_w(lam * L0, em, a * t) / lam_s)
    decay = em + 1.0
    # a <= 0: w(t) = w0 e^{-a t} + r K^lam (1 - e^{-a t}) / a, and ln V = ln(w) / lam
    a_s = np.where(a == 0, 1.0, a)
    g = np.where(a == 0, t, -np.expm1(-a * t) / a_s)
    w = np.exp(lam * lnV0) * decay + r * np.exp(lam * lnK) * g
    linear = np.log(w) / lam_s
    return np.where(a > 0, regular, linear)


#: Arrays up to this many entries are checked entry by entry in Python by :func:`_all_finite` and
#: :func:`_all_below` (a numpy reduction costs several times more on a few dozen numbers: the fit's inner loop)
_SMALL = 64


def _all_finite(a: np.ndarray) -> bool:
    """Whether every entry of the float array ``a`` is finite (``np.isfinite(a).all()``)."""
    if a.size <= _SMALL:
        return all(map(math.isfinite, a.ravel().tolist()))
    return bool(np.isfinite(a).all())


def _any(mask: np.ndarray) -> bool:
    """Whether any entry of the boolean array ``mask`` is true (``mask.any()``)."""
    if mask.size <= _SMALL:
        return True in mask.ravel().tolist()
    return bool(mask.any())


def _all_below(a: np.ndarray, limit: float) -> bool:
    """Whether every entry of the float array ``a`` has ``|x| < limit`` (``np.abs(a).max(initial=0.0) < limit``:
    False for a NaN)."""
    if a.size <= _SMALL:
        return all([abs(x) < limit for x in a.ravel().tolist()])
    return bool(np.abs(a).max(initial=0.0) < limit)


#: Below this :math:`|\lambda|` the analytic gradient of a fitted Box–Cox exponent is not used (its
#: :math:`\partial/\partial\lambda` subtracts two terms of size :math:`1/\lambda`): the fit falls back to
#: finite differences there.
_GRADIENT_MIN_LAM = 1e-4


@functools.lru_cache(maxsize=None)
def _volume_gradient(law: str, drug_on: bool, names: tuple[str, ...]) -> tuple[np.ndarray, Any] | None:
    r"""The closed-form volume of one population and its gradient, generated once per law with sympy.

    ``names`` are the model's parameters then the initial volume ``S``. Returns ``(rows, f)``:
    ``f(t, *values, drug)`` gives a list of arrays of ``t``'s shape, the volume :math:`V` (mm³) and then
    :math:`\partial V/\partial x` for each ``x`` of ``names`` whose derivative is not identically 0;
    ``rows[i]`` is the position of ``names[i]``'s derivative in that list, -1 for an identically zero
    one (``kill`` without the drug). ``t`` is in days since the initial volume, ``values`` those of
    ``names``, ``drug`` the constant drug level. The expression is :func:`_log_volume`'s drug-free
    branch written without cancellation (below), differentiated symbolically and printed as numpy code
    with common subexpressions shared. ``None`` where no single expression serves: a saturating law with
    the drug on (the closed form has two branches, :math:`a > 0` and :math:`a \le 0`).
    """
    from sympy.codegen.cfunctions import expm1

    if law != "exponential" and drug_on:
        return None
    t, u = sp.symbols("t drug", positive=True)
    ones = sp.Function("ones_like")
    sym = {n: sp.Symbol(n, positive=True) for n in names}
    S, r = sym["S"], sym["r"]
    lnS = sp.log(S)
    if law == "exponential":
        lnV = lnS + (r - sym["kill"] * u) * t
    else:
        fixed = BOX_COX_EXPONENT[law]
        L = lnS - sp.log(sym["K"])
        if fixed == 0.0:  # Gompertz: ln V = ln S + (ln S - ln K)(e^{-rt} - 1)
            lnV = lnS + L * expm1(-r * t)
        else:
            # ln V = ln S + ln(w) / lam, w = 1 + (1 - P)(e^{-rt} - 1) = e^{-rt} - P (e^{-rt} - 1) with
            # P = (K/S)^lam: a sum of two terms >= 0 for r > 0 (the form 1 - (1 - P)(1 - e^{-rt}) cancels
            # when V0 >> K and the volume has settled at K)
            ex = sym["lam"] if fixed is None else sp.nsimplify(fixed)
            w = sp.exp(-r * t) - sp.exp(-ex * L) * expm1(-r * t)
            lnV = lnS + sp.log(w) / ex
    V = sp.exp(lnV)
    exprs, rows = [V], []
    for n in names:
        d = sp.diff(V, sym[n])
        rows.append(-1 if d == 0 else len(exprs))
        if d != 0:
            exprs.append(d if d.has(t) else d * ones(t))  # every entry an array of t's shape
    f = sp.lambdify([t] + [sym[n] for n in names] + [u], exprs, modules=[{"ones_like": np.ones_like}, "numpy"],
                    cse=True)
    return np.array(rows, dtype=np.intp), f


@dataclass(frozen=True)
class GrowthLaw:
    r"""A growth law of :func:`growth_model` with its closed-form solution, for :func:`~tumordyn.fit`.

    Build it with :func:`growth_law`. ``fit(law, ...)``, :func:`select_models` and the predictions of
    the fit result evaluate :meth:`states` instead of integrating the ODE when :attr:`closed_form` is
    true (one population of any law, or two exponential clones), for any piecewise-constant drug
    level (on/off infusions of ``"drug"``); otherwise they integrate :attr:`model`.

    Attributes
    ----------
    law : str
        One of :data:`GROWTH_LAWS`.
    resistant : bool
        Whether the tumor has a resistant clone ``R``.
    model : Model
        The ODE model (:func:`growth_model`), the reference the closed form is tested against.
    """

    law: str
    resistant: bool
    model: Model

    @property
    def name(self) -> str:
        """The model's name (``"gompertz"``, ``"exponential_resistant"``...)."""
        return self.model.name

    @property
    def closed_form(self) -> bool:
        """Whether :meth:`predict` / :meth:`states` exist (one population, or two exponential clones)."""
        return not self.resistant or self.law == "exponential"

    @functools.cached_property
    def parameters(self) -> tuple[str, ...]:
        """Names of the model parameters (``r``, ``K``, ``lam``, ``kill`` as present)."""
        return tuple(self.model.parameters.names)

    @functools.cached_property
    def _param_pos(self) -> dict[str, int]:
        """Position of each of :attr:`parameters` (:meth:`_volume` reads its values by it)."""
        return {n: i for i, n in enumerate(self.parameters)}

    @property
    def states_names(self) -> tuple[str, ...]:
        """Names of the initial volumes :meth:`predict` takes (``("S",)`` or ``("S", "R")``)."""
        return ("S", "R") if self.resistant else ("S",)

    def states(self, t: Any, params: Mapping[str, Any], drug: Any = 0.0) -> dict[str, np.ndarray]:
        r"""Closed-form volumes of each clone at ``t`` days after the initial state, at a constant drug level.

        Parameters
        ----------
        t : array_like
            Days since the initial volumes (>= 0 for a forecast; any real number is evaluated).
        params : mapping of str to array_like
            Model parameters by name (``r`` 1/day, ``K`` mm³, ``lam``, ``kill`` 1/day; ``kill`` may
            be omitted when ``drug`` is 0) and the initial volumes ``S`` (and ``R``) in mm³.
        drug : array_like
            Drug level :math:`u` (0 off, 1 on), constant over ``t``.

        Returns
        -------
        dict of str to numpy.ndarray
            ``S`` (and ``R``), mm³; all inputs broadcast together with numpy's rules.

        Raises
        ------
        SpecificationError
            If the law has no closed form (a resistant clone with a saturating law).
        UnknownNameError
            For a missing parameter or initial volume.
        """
        if not self.closed_form:
            raise SpecificationError(f"growth law {self.name!r} has no closed-form solution (two clones coupled "
                                     "through the total volume); integrate its model instead")
        need = [n for n in self.parameters if n != "kill"] + list(self.states_names)
        for n in need:
            if n not in params:
                raise UnknownNameError("parameter or initial volume", n, need + ["kill"], f"growth law {self.name!r}")
        u = np.asarray(drug, dtype=float)
        if np.any(u != 0) and "kill" not in params:
            raise UnknownNameError("parameter", "kill", need + ["kill"], f"growth law {self.name!r} with drug on")
        return self._states(np.asarray(t, dtype=float), params, u)

    def _states(self, t: np.ndarray, params: Mapping[str, Any], u: Any) -> dict[str, np.ndarray]:
        """:meth:`states` without the checks (the fit's inner loop)."""
        r = np.asarray(params["r"], dtype=float)
        # no drug: c is the float 0.0 (the fast path of _log_volume)
        off = u is None or (u == 0.0 if isinstance(u, float) else not np.any(u))
        c: Any = 0.0 if off else np.asarray(params["kill"], dtype=float) * u
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            lnS0 = np.log(np.asarray(params["S"], dtype=float))
            if self.law == "exponential":
                out = {"S": np.exp(lnS0 + (r - c) * t)}
                if not self.resistant:
                    return out
                out["R"] = np.asarray(params["R"], dtype=float) * np.exp(r * t)
                return dict(zip(out, np.broadcast_arrays(*out.values())))
            lam = BOX_COX_EXPONENT[self.law]
            if lam is None:
                lam = np.asarray(params["lam"], dtype=float)
            lnK = np.log(np.asarray(params["K"], dtype=float))
            return {"S": np.exp(_log_volume(t, lnS0, r, lnK, lam, c))}

    def _gradient(self, t: np.ndarray, values: Sequence[float], u: float) -> tuple[np.ndarray, np.ndarray] | None:
        r"""The volume and its gradient at ``t`` days (1-d) after the initial state, for scalar ``values`` of
        :attr:`parameters` then ``S`` and a constant drug level ``u``.

        Returns ``(G, rows)``: ``G[0]`` is the volume (mm³), ``G[rows[i]]`` its derivative with respect to
        the ``i``-th value (mm³ per unit of it; ``rows[i] == -1``: identically 0). ``None`` where the
        generated gradient does not apply (the fit then uses finite differences): a resistant clone, a
        saturating law with the drug on, a fitted exponent :math:`|\lambda|` below ``_GRADIENT_MIN_LAM``,
        or a value that is not finite. numpy's floating-point warnings (an overflow to inf, a log of 0) are the
        caller's to silence (``np.errstate``): the fit evaluates it in a loop that silences them once.
        """
        if self.resistant:
            return None
        gen = _volume_gradient(self.law, u != 0.0, self.parameters + ("S",))
        if gen is None:
            return None
        rows, f = gen
        if self.law == "bertalanffy" and abs(values[self.parameters.index("lam")]) < _GRADIENT_MIN_LAM:
            return None
        G = np.array(f(t, *values, u), dtype=float)
        if G.ndim != 2 or not _all_finite(G):
            return None
        return G, rows

    def _volume(self, t: np.ndarray, values: Sequence[float], u: float) -> np.ndarray:
        """:meth:`_states`'s volume of one population at scalar ``values`` of :attr:`parameters` then ``S``
        (the same arithmetic, without building arrays of the parameters; the fit's residual). numpy's
        floating-point warnings are the caller's to silence, as in :meth:`_gradient`."""
        pos = self._param_pos
        r = values[pos["r"]]
        c = 0.0 if u == 0.0 else values[pos["kill"]] * u
        lnS0 = np.log(values[-1])
        if self.law == "exponential":
            return np.exp(lnS0 + (r - c) * t)
        lam = BOX_COX_EXPONENT[self.law]
        return np.exp(_log_volume(t, lnS0, r, np.log(values[pos["K"]]), values[pos["lam"]] if lam is None else lam, c))

    def predict(self, t: Any, params: Mapping[str, Any], drug: Any = 0.0) -> np.ndarray:
        r"""Closed-form tumor volume (mm³) at ``t`` days after the initial state, at a constant drug level.

        The callable for population fitting: ``law.predict(t, params)`` with ``t`` of shape ``(n,)``
        and each parameter of shape ``(m, 1)`` gives the ``(m, n)`` volumes of ``m`` subjects; any
        shapes that broadcast together work. Parameters as in :meth:`states` (``S``, and ``R``,
        are the initial volumes, mm³).

        Examples
        --------
        >>> import numpy as np, tumordyn as td
        >>> law = td.fitting.growth_law("gompertz")
        >>> v = law.predict(np.array([0.0, 10.0]), {"r": np.array([[0.1], [0.2]]), "K": 1000.0, "S": 100.0})
        >>> v.shape, round(float(v[0, 0]), 9)
        ((2, 2), 100.0)
        """
        st = self.states(t, params, drug)
        return st["S"] + st["R"] if self.resistant else st["S"]

    def states_on_plan(self, t_eval: np.ndarray, P: Mapping[str, np.ndarray], Y0: Mapping[str, np.ndarray],
                       breaks: np.ndarray, levels: np.ndarray) -> dict[str, np.ndarray]:
        """Volumes at sorted ``t_eval`` (days) for a piecewise-constant drug level.

        ``levels[i]`` is the level from ``breaks[i]`` to ``breaks[i + 1]`` (``breaks[0]`` is the time of
        ``Y0``); the closed form is chained from segment to segment. ``P`` and ``Y0`` hold arrays of
        shape ``(B, 1)``; the result has shape ``(B, len(t_eval))`` per clone.
        """
        names = self.states_names
        if breaks.size <= 2 or not np.any(levels[:-1]):  # one drug level throughout: no chaining
            u = float(levels[0]) if levels.size else 0.0
            vals = self._states(t_eval[None, :] - float(breaks[0]), {**P, **Y0}, u)
            return {n: np.broadcast_to(vals[n], (Y0[n].shape[0], t_eval.size)) for n in names}
        B = next(iter(Y0.values())).shape[0]
        out = {n: np.empty((B, t_eval.size)) for n in names}
        cur = {n: np.asarray(Y0[n], dtype=float) for n in names}
        nseg = max(1, breaks.size - 1)
        lo = 0
        for i in range(nseg):  # bounded by the plan's segments
            start = float(breaks[i])
            last = i == nseg - 1
            hi = t_eval.size if last else int(np.searchsorted(t_eval, breaks[i + 1], side="left"))
            u = float(levels[i]) if levels.size else 0.0
            if hi > lo:
                vals = self._states(t_eval[lo:hi][None, :] - start, {**P, **cur}, u)
                for n in names:
                    out[n][:, lo:hi] = vals[n]
            if not last:
                nxt = self._states(np.array([[float(breaks[i + 1]) - start]]), {**P, **cur}, u)
                cur = {n: nxt[n] for n in names}
            lo = hi
        return out


def growth_law(law: str = "logistic", resistant: bool = False, **defaults: float) -> GrowthLaw:
    """A growth law of :func:`growth_model` with its closed-form solution (see :class:`GrowthLaw`).

    Parameters
    ----------
    law : {"exponential", "logistic", "gompertz", "classical_bertalanffy", "bertalanffy"}
        Growth law.
    resistant : bool
        Add a resistant clone.
    **defaults : float
        Default values passed to :func:`growth_model` (``V0``, ``r``, ``K``, ``kill``, ``f_R``, ``lam``).

    Returns
    -------
    GrowthLaw
    """
    return GrowthLaw(law, bool(resistant), growth_model(law, resistant, **defaults))


def growth_models(resistant: bool | None = None,
                  laws: Sequence[str] = GROWTH_LAWS) -> dict[str, tuple[GrowthLaw, list[str], list[str]]]:
    """The growth candidates for :func:`select_models`, with what to fit.

    Parameters
    ----------
    resistant : bool, optional
        Only the candidates with (``True``) or without (``False``) a resistant clone; default all.
    laws : sequence of str
        Growth laws to include (default all of :data:`GROWTH_LAWS`).

    Returns
    -------
    dict of str to (GrowthLaw, list of str, list of str)
        Name to ``(law, free parameters, initial_free states)``: all parameters
        free and shared; initial ``S`` (and ``R``) fitted per subject. ``law.model`` is the ODE model;
        :func:`~tumordyn.fit` uses the closed form where one exists.
    """
    out = {}
    for law in laws:
        if law not in GROWTH_LAWS:
            raise SpecificationError(f"`laws`: unknown law {law!r}; choose from {', '.join(GROWTH_LAWS)}")
    for res in (False, True):
        if resistant is not None and res != resistant:
            continue
        for law in laws:
            g = growth_law(law, res)
            out[g.name] = (g, list(g.parameters), ["S", "R"] if res else ["S"])
    return out
