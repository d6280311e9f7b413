"""A compiled integration loop: adaptive Dormand–Prince 5(4) compiled whole with numba.

Why
---
For a model of a few states the cost of ``scipy.integrate.solve_ivp`` is the
Python overhead of each step, not the right-hand side: a compiled RHS call
costs tens of nanoseconds, a Python-level step tens of microseconds. Compiling
the *whole* loop (steps, error control, dense output, doses between segments)
removes that overhead; one patient-year of the default model then takes well
under a millisecond.

What
----
* The right-hand side is the model's generated numpy code
  (``model.compiled.source["rhs"]``) rewritten to write into a preallocated
  output and compiled with :func:`numba.njit`; non-negative states are read
  clipped at zero exactly as in the numpy code.
* The integrator is the explicit Runge–Kutta pair of Dormand & Prince 5(4)
  (local extrapolation, FSAL) with the PI step-size controller, the initial
  step selection and the 4th-order dense output of Hairer, Nørsett & Wanner,
  *Solving ODEs I* (2nd ed., 1993, II.4–II.6; their code DOPRI5). The error
  norm is the RMS over states of ``err_i / (atol_i + rtol max(|y_i|, |y_new_i|))``
  with per-state ``atol``.
* The horizon is cut at the schedule's breakpoints. At each breakpoint the
  bolus doses are applied as exact jumps (``amount / volume``) and the
  infusion rates in force until the next breakpoint are a constant input
  vector; the integrator steps exactly to every breakpoint and reports outputs
  through the dense output. Values at a dose time are after the dose, as in
  :func:`tumordyn.simulate`.
* Failures return a status and the time reached; the Python wrappers raise
  :class:`~tumordyn.errors.SolverError` (step size underflow, too many steps,
  non-finite values) or :class:`~tumordyn.errors.NegativeStateError`.

The integrator itself is compiled once per installation (numba's on-disk cache)
against a function-pointer type; only the model's RHS is compiled per model
structure (about a second). The compiled functions are kept on the model's
:class:`~tumordyn._compile.CompiledModel` and in a small private cache keyed by
the generated source text, so models that differ only in default values
(``model.with_defaults(...)``) share them.
"""

from __future__ import annotations

import functools
import math
import time as _time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ._negative import NEGATIVE_SLACK
from ._schedule import Schedule
from .errors import NegativeStateError, SolverError, SpecificationError, UnknownNameError

if TYPE_CHECKING:
    from ._compile import CompiledModel
    from ._model import Model
    from ._simulate import SolverOptions

__all__ = [
    "numba_available",
    "FAST_METHOD",
    "FastFunctions",
    "fast_functions",
    "simulate_batch",
    "rhs_call_cost",
    "DEFAULT_MAX_STEPS",
]

#: Name of the compiled method in :func:`tumordyn.simulate` (``method="dopri5"``).
FAST_METHOD = "dopri5"

#: Default cap on the number of steps (accepted + rejected) of one solve.
DEFAULT_MAX_STEPS = 1_000_000

# status codes returned by the compiled core
_OK, _UNDERFLOW, _MAX_STEPS, _NONFINITE, _STIFF, _NEGATIVE = 0, 1, 2, 3, 4, 5
_STIFF_MESSAGE = "stiffness detected"
_MAX_STEPS_MESSAGE = "too many steps"
# slots of the integer stats array
_NFEV, _NACC, _NREJ, _NSEG, _BADSTATE = 0, 1, 2, 3, 4
_N_STATS = 5


@functools.lru_cache(maxsize=1)
def numba_available() -> bool:
    """Whether numba can be imported (the optional extra ``tumordyn[fast]``).

    Returns
    -------
    bool
        ``True`` if the compiled path (``method="dopri5"``) is usable.
    """
    try:
        import numba  # noqa: F401
    except Exception:  # pragma: no cover - depends on the environment
        return False
    return True


# ----------------------------------------------------------------------------------
# The integrator, as plain Python; compiled lazily by numba (see _compiled).
# ----------------------------------------------------------------------------------

# Dormand–Prince 5(4) coefficients (Hairer, Nørsett & Wanner, Table II.5.2)
_C2, _C3, _C4, _C5 = 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0
_A21 = 1.0 / 5.0
_A31, _A32 = 3.0 / 40.0, 9.0 / 40.0
_A41, _A42, _A43 = 44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0
_A51, _A52, _A53, _A54 = 19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0
_A61, _A62, _A63, _A64, _A65 = 9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0, -5103.0 / 18656.0
_A71, _A73, _A74, _A75, _A76 = 35.0 / 384.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0
_E1, _E3, _E4, _E5, _E6, _E7 = (
    71.0 / 57600.0,
    -71.0 / 16695.0,
    71.0 / 1920.0,
    -17253.0 / 339200.0,
    22.0 / 525.0,
    -1.0 / 40.0,
)
# dense output (Hairer's CONTD5)
_D1, _D3, _D4, _D5, _D6, _D7 = (
    -12715105075.0 / 11282082432.0,
    87487479700.0 / 32700410799.0,
    -10690763975.0 / 1880347072.0,
    701980252875.0 / 199316789632.0,
    -1453857185.0 / 822651844.0,
    69997945.0 / 29380423.0,
)


def _core_py(
    rhs: Any,
    t_eval: np.ndarray,
    breaks: np.ndarray,
    bolus: np.ndarray,
    rates: np.ndarray,
    dose_comp: np.ndarray,
    vol_idx: np.ndarray,
    vol_const: np.ndarray,
    p: np.ndarray,
    y0: np.ndarray,
    rtol: float,
    atol: np.ndarray,
    nonneg: np.ndarray,
    max_step: float,
    max_steps: int,
    detect_stiff: bool,
    ys: np.ndarray,
    stats: np.ndarray,
    t_reached: np.ndarray,
) -> int:
    """Integrate one patient across all segments; fill ``ys`` (n_t, n) and ``stats``. Returns a status."""
    n = y0.shape[0]
    n_drugs = rates.shape[1]
    n_t = t_eval.shape[0]
    n_b = breaks.shape[0]
    y = y0.copy()
    y1 = np.empty(n)
    yst = np.empty(n)
    k1 = np.empty(n)
    k2 = np.empty(n)
    k3 = np.empty(n)
    k4 = np.empty(n)
    k5 = np.empty(n)
    k6 = np.empty(n)
    k7 = np.empty(n)
    u = np.empty(n_drugs)
    # per segment: the largest |y_i| seen and the amount removed by projecting onto y_i >= 0 while the rate
    # at zero pointed below zero (what the unprojected solution would have undershot); see _negative.py
    segmax = np.empty(n)
    deficit = np.empty(n)
    eps = 2.220446049250313e-16
    for i in range(_N_STATS):
        stats[i] = 0
    t_reached[0] = breaks[0]
    k = 0  # next output index
    nsteps = 0
    for b in range(n_b):
        tb = breaks[b]
        # doses due now (exact jumps)
        for d in range(n_drugs):
            amt = bolus[b, d]
            c = dose_comp[d]
            if amt != 0.0 and c >= 0:
                vol = p[vol_idx[d]] if vol_idx[d] >= 0 else vol_const[d]
                y[c] += amt / vol
        for d in range(n_drugs):
            u[d] = rates[b, d]
        # outputs at the breakpoint itself (after the doses)
        while k < n_t and t_eval[k] == tb:
            for i in range(n):
                ys[k, i] = y[i]
            k += 1
        if b == n_b - 1:
            break
        t_next = breaks[b + 1]
        t = tb
        t_reached[0] = t
        stats[_NSEG] += 1
        for i in range(n):
            segmax[i] = abs(y[i])
            deficit[i] = 0.0
        # --- initial step (Hairer's HINIT) ---
        rhs(t, y, p, u, k1)
        stats[_NFEV] += 1
        finite = True
        for i in range(n):
            if not math.isfinite(k1[i]):
                finite = False
        if not finite:
            return _NONFINITE
        hmax = min(max_step, t_next - t)
        dnf = 0.0
        dny = 0.0
        for i in range(n):
            sk = atol[i] + rtol * abs(y[i])
            dnf += (k1[i] / sk) ** 2
            dny += (y[i] / sk) ** 2
        if dnf <= 1e-10 or dny <= 1e-10:
            h = 1e-6
        else:
            h = 0.01 * math.sqrt(dny / dnf)
        h = min(h, hmax)
        for i in range(n):
            y1[i] = y[i] + h * k1[i]
        rhs(t + h, y1, p, u, k2)
        stats[_NFEV] += 1
        der2 = 0.0
        for i in range(n):
            sk = atol[i] + rtol * abs(y[i])
            der2 += ((k2[i] - k1[i]) / sk) ** 2
        der2 = math.sqrt(der2) / h
        der12 = max(abs(der2), math.sqrt(dnf))
        if not math.isfinite(der12):
            h1 = max(1e-6, h * 1e-3)
        elif der12 <= 1e-15:
            h1 = max(1e-6, h * 1e-3)
        else:
            h1 = (0.01 / der12) ** 0.2
        h = min(100.0 * h, h1, hmax)
        # --- steps ---
        facold = 1e-4
        reject = False
        last_nonfinite = False
        iasti = 0
        nonsti = 0
        while True:
            if t_next - t <= 16.0 * eps * max(abs(t_next), 1e-300):
                # what is left of the segment is below the smallest resolvable step (e.g. a dose at 5e-324
                # days): one Euler step, exact to rounding here
                dt = t_next - t
                for i in range(n):
                    y[i] += dt * k1[i]
                while k < n_t and t_eval[k] < t_next:
                    for i in range(n):
                        ys[k, i] = max(y[i], 0.0) if nonneg[i] else y[i]
                    k += 1
                t = t_next
                t_reached[0] = t
                break
            if nsteps >= max_steps:
                t_reached[0] = t
                return _MAX_STEPS
            hmin = 16.0 * eps * max(abs(t), 1e-300)
            if h < hmin:
                t_reached[0] = t
                return _NONFINITE if last_nonfinite else _UNDERFLOW
            last = False
            if t + 1.01 * h >= t_next:
                h = t_next - t
                last = True
            nsteps += 1
            for i in range(n):
                y1[i] = y[i] + h * _A21 * k1[i]
            rhs(t + _C2 * h, y1, p, u, k2)
            for i in range(n):
                y1[i] = y[i] + h * (_A31 * k1[i] + _A32 * k2[i])
            rhs(t + _C3 * h, y1, p, u, k3)
            for i in range(n):
                y1[i] = y[i] + h * (_A41 * k1[i] + _A42 * k2[i] + _A43 * k3[i])
            rhs(t + _C4 * h, y1, p, u, k4)
            for i in range(n):
                y1[i] = y[i] + h * (_A51 * k1[i] + _A52 * k2[i] + _A53 * k3[i] + _A54 * k4[i])
            rhs(t + _C5 * h, y1, p, u, k5)
            for i in range(n):
                yst[i] = y[i] + h * (_A61 * k1[i] + _A62 * k2[i] + _A63 * k3[i] + _A64 * k4[i] + _A65 * k5[i])
            tph = t_next if last else t + h
            rhs(tph, yst, p, u, k6)
            for i in range(n):
                y1[i] = y[i] + h * (_A71 * k1[i] + _A73 * k3[i] + _A74 * k4[i] + _A75 * k5[i] + _A76 * k6[i])
            rhs(tph, y1, p, u, k7)
            stats[_NFEV] += 6
            err = 0.0
            for i in range(n):
                e = h * (_E1 * k1[i] + _E3 * k3[i] + _E4 * k4[i] + _E5 * k5[i] + _E6 * k6[i] + _E7 * k7[i])
                sk = atol[i] + rtol * max(abs(y[i]), abs(y1[i]))
                err += (e / sk) ** 2
            err = math.sqrt(err / n)
            if not math.isfinite(err):
                # a step into non-finite values: shrink hard and retry
                stats[_NREJ] += 1
                last_nonfinite = True
                reject = True
                h *= 0.1
                continue
            last_nonfinite = False
            # non-negative states (Shampine et al. 2005, as MATLAB's NonNegative option): a step whose
            # undershoot below zero exceeds the tolerance is rejected; an accepted step is projected to >= 0
            # below. The RHS reads these states clipped at zero, so the FSAL derivative stays valid.
            if err <= 1.0:
                errnn = 0.0
                for i in range(n):
                    if nonneg[i] and y1[i] < 0.0:
                        errnn = max(errnn, -y1[i] / (atol[i] + rtol * abs(y[i])))
                if errnn > 1.0:
                    err = errnn
            fac11 = err**0.17
            fac = fac11 / facold**0.04
            fac = max(0.1, min(5.0, fac / 0.9))
            hnew = h / fac
            if err <= 1.0:
                # accepted
                facold = max(err, 1e-4)
                stats[_NACC] += 1
                if detect_stiff:
                    stnum = 0.0
                    stden = 0.0
                    for i in range(n):
                        stnum += (k7[i] - k6[i]) ** 2
                        stden += (y1[i] - yst[i]) ** 2
                    if stden > 0.0 and h * math.sqrt(stnum / stden) > 3.25:
                        nonsti = 0
                        iasti += 1
                        if iasti == 15:
                            t_reached[0] = t
                            return _STIFF
                    else:
                        nonsti += 1
                        if nonsti == 6:
                            iasti = 0
                # dense output for the outputs inside (t, t + h), strictly before t_next
                if k < n_t and t_eval[k] < t_next and t_eval[k] <= tph:
                    # Hairer's CONTD5 coefficients, built only when needed
                    while k < n_t and t_eval[k] < t_next and t_eval[k] <= tph:
                        theta = (t_eval[k] - t) / h
                        theta1 = 1.0 - theta
                        for i in range(n):
                            ydiff = y1[i] - y[i]
                            bspl = h * k1[i] - ydiff
                            r4 = ydiff - h * k7[i] - bspl
                            r5 = h * (
                                _D1 * k1[i] + _D3 * k3[i] + _D4 * k4[i] + _D5 * k5[i] + _D6 * k6[i] + _D7 * k7[i]
                            )
                            v = y[i] + theta * (ydiff + theta1 * (bspl + theta * (r4 + theta1 * r5)))
                            if nonneg[i]:
                                if v < -NEGATIVE_SLACK * (atol[i] + rtol * max(segmax[i], abs(y1[i]))):
                                    t_reached[0] = t_eval[k]
                                    stats[_BADSTATE] = i
                                    return _NEGATIVE
                                if v < 0.0:
                                    v = 0.0
                            ys[k, i] = v
                        k += 1
                t = tph
                t_reached[0] = t
                for i in range(n):
                    segmax[i] = max(segmax[i], abs(y1[i]))
                    if nonneg[i] and y1[i] < 0.0:
                        if k7[i] < 0.0:
                            # the rate at zero points below zero: the model itself leaves y_i >= 0
                            deficit[i] -= y1[i]
                            if deficit[i] > NEGATIVE_SLACK * (atol[i] + rtol * segmax[i]):
                                stats[_BADSTATE] = i
                                return _NEGATIVE
                        y[i] = 0.0
                    else:
                        y[i] = y1[i]
                    k1[i] = k7[i]  # FSAL
                if last:
                    break
                if reject:
                    hnew = min(hnew, h)
                reject = False
                h = min(hnew, max_step)
            else:
                stats[_NREJ] += 1
                hnew = h / min(5.0, fac11 / 0.9)
                reject = True
                h = hnew
        # end of segment: check and clip the non-negative states
        for i in range(n):
            if nonneg[i]:
                if y[i] < -NEGATIVE_SLACK * (atol[i] + rtol * segmax[i]):
                    t_reached[0] = t_next
                    stats[_BADSTATE] = i
                    return _NEGATIVE
                if y[i] < 0.0:
                    y[i] = 0.0
    t_reached[0] = breaks[n_b - 1]
    return _OK


def _batch_seq_py(
    rhs: Any,
    t_eval: np.ndarray,
    breaks: np.ndarray,
    bolus: np.ndarray,
    rates: np.ndarray,
    dose_comp: np.ndarray,
    vol_idx: np.ndarray,
    vol_const: np.ndarray,
    P: np.ndarray,  # noqa: N803
    Y0: np.ndarray,  # noqa: N803
    rtol: float,
    atol: np.ndarray,
    nonneg: np.ndarray,
    max_step: float,
    max_steps: int,
    ys: np.ndarray,
    stats: np.ndarray,
    t_reached: np.ndarray,
    status: np.ndarray,
) -> None:
    """Loop the compiled core over patients (rows of ``P`` and ``Y0``), one thread."""
    for j in range(P.shape[0]):
        status[j] = _core_nb(
            rhs, t_eval, breaks, bolus, rates, dose_comp, vol_idx, vol_const, P[j], Y0[j],
            rtol, atol, nonneg, max_step, max_steps, False, ys[j], stats[j], t_reached[j : j + 1],
        )  # fmt: skip


def _batch_par_py(
    rhs: Any,
    t_eval: np.ndarray,
    breaks: np.ndarray,
    bolus: np.ndarray,
    rates: np.ndarray,
    dose_comp: np.ndarray,
    vol_idx: np.ndarray,
    vol_const: np.ndarray,
    P: np.ndarray,  # noqa: N803
    Y0: np.ndarray,  # noqa: N803
    rtol: float,
    atol: np.ndarray,
    nonneg: np.ndarray,
    max_step: float,
    max_steps: int,
    ys: np.ndarray,
    stats: np.ndarray,
    t_reached: np.ndarray,
    status: np.ndarray,
) -> None:
    """Loop the compiled core over patients (rows of ``P`` and ``Y0``), in numba's threads."""
    for j in _prange(P.shape[0]):
        status[j] = _core_nb(
            rhs, t_eval, breaks, bolus, rates, dose_comp, vol_idx, vol_const, P[j], Y0[j],
            rtol, atol, nonneg, max_step, max_steps, False, ys[j], stats[j], t_reached[j : j + 1],
        )  # fmt: skip


# Set once by _compiled() / _compiled_batch(): the compiled core and numba.prange, read by the batch loops
# when numba compiles them (numba freezes global values at compile time).
_core_nb: Any = None
_prange: Any = range


@functools.lru_cache(maxsize=None)
def _compiled() -> dict[str, Any]:
    """Compile (or load from numba's on-disk cache) the integrator for the RHS function-pointer type."""
    import numba
    from numba import types

    arr1 = types.float64[::1]
    arr2 = types.float64[:, ::1]
    iarr = types.int64[::1]
    barr = types.boolean[::1]
    rhs_sig = types.void(types.float64, arr1, arr1, arr1, arr1)
    fty = types.FunctionType(rhs_sig)
    core_sig = types.int64(
        fty, arr1, arr1, arr2, arr2, iarr, iarr, arr1, arr1, arr1,
        types.float64, arr1, barr, types.float64, types.int64, types.boolean, arr2, iarr, arr1,
    )  # fmt: skip
    core = numba.njit(core_sig, cache=True, error_model="numpy")(_core_py)
    call = numba.njit(types.void(fty, types.float64, arr1, arr1, arr1, arr1), cache=True)(_call_py)
    loop = numba.njit(types.float64(fty, arr1, arr1, arr1, arr1, types.int64), cache=True)(_loop_py)
    batch_sig = types.void(
        fty, arr1, arr1, arr2, arr2, iarr, iarr, arr1, arr2, arr2,
        types.float64, arr1, barr, types.float64, types.int64,
        types.float64[:, :, ::1], types.int64[:, ::1], arr1, iarr,
    )  # fmt: skip
    return {"rhs_sig": rhs_sig, "core": core, "batch_sig": batch_sig, "call": call, "loop": loop}


def _call_py(f: Any, t: float, y: np.ndarray, p: np.ndarray, u: np.ndarray, out: np.ndarray) -> None:
    f(t, y, p, u, out)


def _loop_py(f: Any, y: np.ndarray, p: np.ndarray, u: np.ndarray, out: np.ndarray, n: int) -> float:
    """Call ``f`` ``n`` times (the cost of the RHS alone); a state varies so nothing is hoisted."""
    s = 0.0
    y0 = y[0]
    for i in range(n):
        y[0] = y0 * (1.0 + 1e-12 * (i & 7))
        f(0.5, y, p, u, out)
        s += out[0]
    y[0] = y0
    return s


@functools.lru_cache(maxsize=None)
def _compiled_batch(parallel: bool) -> Any:
    """Compile (or load from numba's on-disk cache) the loop over patients, sequential or with ``prange``."""
    import numba

    global _core_nb, _prange
    base = _compiled()
    _core_nb = base["core"]
    _prange = numba.prange
    fn = _batch_par_py if parallel else _batch_seq_py
    return numba.njit(base["batch_sig"], parallel=parallel, cache=True, error_model="numpy")(fn)


# ----------------------------------------------------------------------------------
# Per-model compiled RHS
# ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FastFunctions:
    """Numba-compiled right-hand side of one model structure.

    Attributes
    ----------
    rhs : numba.core.ccallback.CFunc
        The compiled ``rhs_into(t, y, p, u, out)``: writes ``dy/dt`` (state
        units per day) into ``out``; float64 contiguous arrays of shapes
        ``(n_states,)``, ``(n_params,)``, ``(n_drugs,)``, ``(n_states,)``. A C
        callback, passed to the compiled integrator as a function pointer.
    compile_time : float
        Seconds spent compiling it.
    source : str
        The Python source that numba compiled.
    """

    rhs: Any
    compile_time: float
    source: str

    def evaluate(self, t: float, y: np.ndarray, p: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Call the compiled right-hand side once.

        Parameters
        ----------
        t : float
            Time (days).
        y, p, u : numpy.ndarray
            States, parameters and infusion rates (1-D).

        Returns
        -------
        numpy.ndarray
            ``dy/dt`` (state units per day), a new array.
        """
        y = np.array(y, dtype=float)
        out = np.empty_like(y)
        _compiled()["call"](
            self.rhs, float(t), y, np.array(p, dtype=float), np.array(u, dtype=float), out
        )
        return out


def _rewrite_in_place(source: str) -> str:
    """Turn the generated ``rhs(t, y, p, u)`` returning a new array into ``rhs_into(t, y, p, u, out)``."""
    lines = source.rstrip("\n").split("\n")
    if not lines[0].startswith("def rhs(t, y, p, u):"):
        raise SpecificationError("unexpected generated RHS source: cannot build the compiled RHS")
    out_lines = ["def rhs_into(t, y, p, u, out):"]
    for line in lines[1:]:
        s = line.strip()
        if s.startswith("out = numpy."):
            continue
        if s == "return out":
            out_lines.append("    return")
            continue
        out_lines.append(line)
    return "\n".join(out_lines) + "\n"


@functools.lru_cache(maxsize=64)
def _rhs_from_source(source: str) -> FastFunctions:
    import numba

    started = _time.perf_counter()
    src = _rewrite_in_place(source)
    namespace: dict[str, Any] = {"numpy": np, "math": math}
    code = compile(src, "<tumordyn generated rhs_into>", "exec")
    exec(code, namespace)  # noqa: S102 - source generated by sympy's printer from validated expressions
    # a C callback: passing it to the integrator costs far less per call than passing a dispatcher
    fn = numba.cfunc(_compiled()["rhs_sig"], error_model="numpy")(namespace["rhs_into"])
    return FastFunctions(rhs=fn, compile_time=_time.perf_counter() - started, source=src)


def fast_functions(compiled: CompiledModel) -> FastFunctions:
    """The numba-compiled RHS of a compiled model (built on first use, then reused).

    Parameters
    ----------
    compiled : CompiledModel
        ``model.compiled``.

    Returns
    -------
    FastFunctions
        Cached on ``compiled`` and shared by models with the same generated code.

    Raises
    ------
    ImportError
        If numba is not installed (install ``tumordyn[fast]``).
    """
    cached = compiled.__dict__.get("_fast_functions")
    if cached is not None:
        return cached
    if not numba_available():
        raise ImportError("the compiled integrator needs numba: pip install 'tumordyn[fast]'")
    ff = _rhs_from_source(compiled.source["rhs"])
    compiled.__dict__["_fast_functions"] = ff
    return ff


# ----------------------------------------------------------------------------------
# Schedule → arrays
# ----------------------------------------------------------------------------------


def _schedule_arrays(
    compiled: CompiledModel, schedule: Schedule, t0: float, t_end: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Breakpoints, summed bolus amounts and infusion rates per breakpoint, and the number of doses applied.

    Same conventions as :func:`tumordyn._simulate.integrate`: zero-amount doses and
    zero-rate infusions are ignored, infusions are right-open ``[start, end)``.
    Memoised on the (immutable, hashable) schedule; fresh copies are returned.
    """
    breaks, bolus, rates, n_doses = _schedule_arrays_cached(compiled.drug_names, schedule, float(t0), float(t_end))
    return breaks.copy(), bolus.copy(), rates.copy(), n_doses


@functools.lru_cache(maxsize=128)
def _schedule_arrays_cached(
    drug_names: tuple[str, ...], schedule: Schedule, t0: float, t_end: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    n_drugs = len(drug_names)
    drug_index = {d: i for i, d in enumerate(drug_names)}
    breaks = np.ascontiguousarray(schedule.breakpoints(t0, t_end), dtype=float)
    n_br = breaks.size
    bolus = np.zeros((n_br, n_drugs))
    rates = np.zeros((n_br, n_drugs))
    doses = [d for d in schedule.doses if d.amount > 0 and t0 <= d.time <= t_end]
    n_doses = 0
    if doses:
        times = np.array([d.time for d in doses], dtype=float)
        rows = np.searchsorted(breaks, times)
        cols = np.array([drug_index[d.drug] for d in doses], dtype=np.int64)
        np.add.at(bolus, (rows, cols), np.array([d.amount for d in doses], dtype=float))
        n_doses = len(doses)
    for inf in schedule.infusions:
        if inf.rate > 0:
            on = (breaks >= inf.start) & (breaks < inf.end)
            rates[on, drug_index[inf.drug]] += inf.rate
    for arr in (breaks, bolus, rates):
        arr.flags.writeable = False
    return breaks, bolus, rates, n_doses


def _dose_arrays(compiled: CompiledModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    vol_idx = np.array([v[0] for v in compiled._dose_volume], dtype=np.int64)
    vol_const = np.array([v[1] for v in compiled._dose_volume], dtype=float)
    return np.ascontiguousarray(compiled.dose_compartment, dtype=np.int64), vol_idx, vol_const


def _raise_for(status: int, t: float, bad_state: int, compiled: CompiledModel, where: str = "") -> None:
    name = compiled.model_name
    if status == _UNDERFLOW:
        raise SolverError(
            f"integration of model {name!r}{where} failed: step size underflow "
            "(the solution may blow up or the problem is very stiff; try method='LSODA')",
            t=t,
            solver_message="step size underflow",
        )
    if status == _MAX_STEPS:
        raise SolverError(
            f"integration of model {name!r}{where} failed: maximum number of steps exceeded "
            "(the problem may be stiff; try method='LSODA' or loosen rtol)",
            t=t,
            solver_message=_MAX_STEPS_MESSAGE,
        )
    if status == _NONFINITE:
        raise SolverError(f"integration of model {name!r}{where} produced non-finite values", t=t)
    if status == _STIFF:
        raise SolverError(
            f"integration of model {name!r}{where} stopped: the problem became stiff", t=t,
            solver_message=_STIFF_MESSAGE,
        )
    if status == _NEGATIVE:
        state = compiled.state_names[bad_state]
        raise NegativeStateError(
            f"state {state!r} of model {name!r}{where} fell below zero by more than {NEGATIVE_SLACK:g} x "
            f"its error tolerance (atol {compiled.atol[bad_state]:g} + rtol x its largest value in the "
            "segment); tighten rtol/atol or check the rates",
            t=t,
        )


def integrate_fast(
    compiled: CompiledModel,
    schedule: Schedule,
    p: np.ndarray,
    y0: np.ndarray,
    t_eval: np.ndarray,
    t0: float,
    t_end: float,
    opts: SolverOptions,
    *,
    max_steps: int = DEFAULT_MAX_STEPS,
    detect_stiff: bool = False,
) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int, int]]:
    """Compiled counterpart of :func:`tumordyn._simulate.integrate` (same arguments and return value).

    Raises
    ------
    SolverError
        On step size underflow, too many steps, non-finite values, or (with
        ``detect_stiff``) stiffness; ``.t`` is the time reached (days).
    NegativeStateError
        If a non-negative state falls below minus its absolute tolerance.
    """
    ff = fast_functions(compiled)
    core = _compiled()["core"]
    breaks, bolus, rates, n_doses = _schedule_arrays(compiled, schedule, t0, t_end)
    dose_comp, vol_idx, vol_const = _dose_arrays(compiled)
    te = np.ascontiguousarray(t_eval, dtype=float)
    ys = np.empty((te.size, compiled.n_states))
    stats = np.zeros(_N_STATS, dtype=np.int64)
    t_reached = np.zeros(1)
    status = core(
        ff.rhs, te, breaks, bolus, rates, dose_comp, vol_idx, vol_const,
        np.ascontiguousarray(p, dtype=float), np.ascontiguousarray(y0, dtype=float),
        float(opts.rtol), np.ascontiguousarray(opts.atol, dtype=float),
        np.array(compiled.nonnegative, dtype=np.bool_), float(opts.max_step), int(max_steps),
        bool(detect_stiff), ys, stats, t_reached,
    )  # fmt: skip
    if status != _OK:
        _raise_for(int(status), float(t_reached[0]), int(stats[_BADSTATE]), compiled)
    idx = np.searchsorted(breaks, te, side="right") - 1
    us = rates[np.clip(idx, 0, breaks.size - 1)]
    return ys, us, (int(stats[_NFEV]), 0, 0, int(stats[_NSEG]), n_doses)


def integrate_compiled(
    compiled: CompiledModel,
    schedule: Schedule,
    p: np.ndarray,
    y0: np.ndarray,
    t_eval: np.ndarray,
    t0: float,
    t_end: float,
    opts: SolverOptions,
    *,
    fallback: bool,
) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int, int], str]:
    """Run the compiled integrator; with ``fallback``, redo the solve with ``opts.method`` if it fails.

    ``fallback=True`` is ``method="auto"``: stiffness detection is on, and if the
    compiled path stops because the problem is stiff (or needs too many steps)
    the scipy path with ``opts.method`` (LSODA) is used instead. Other failures
    (non-finite values, step size underflow, negative states) are raised as they
    are: an implicit method does not cure a solution that blows up.

    Returns
    -------
    tuple
        ``(ys, us, counters, method_used)``; see :func:`integrate_fast`.
    """
    if not fallback:
        return (*integrate_fast(compiled, schedule, p, y0, t_eval, t0, t_end, opts), FAST_METHOD)
    try:
        return (
            *integrate_fast(compiled, schedule, p, y0, t_eval, t0, t_end, opts, detect_stiff=True),
            FAST_METHOD,
        )
    except SolverError as exc:
        if exc.solver_message not in (_STIFF_MESSAGE, _MAX_STEPS_MESSAGE):
            raise
        from ._simulate import integrate

        return (*integrate(compiled, schedule, p, y0, t_eval, t0, t_end, opts), opts.method)


# ----------------------------------------------------------------------------------
# Batch: many parameter sets, one schedule
# ----------------------------------------------------------------------------------


def _batch_initial(compiled: CompiledModel, initial: Any, n_batch: int) -> np.ndarray:
    if initial is None or isinstance(initial, Mapping):
        y0 = compiled.initial_vector(initial)
        return np.tile(np.asarray(y0, dtype=float), (n_batch, 1))
    try:
        arr = np.array(initial, dtype=float)
    except (TypeError, ValueError):
        raise TypeError("`initial` must be None, a mapping of state name to value, or an array") from None
    if arr.ndim == 1:
        arr = np.broadcast_to(arr, (n_batch, arr.shape[0]))
    if arr.shape != (n_batch, compiled.n_states):
        raise SpecificationError(
            f"`initial` must have shape ({compiled.n_states},) or ({n_batch}, {compiled.n_states}) "
            f"(states {', '.join(compiled.state_names)}), got {np.shape(initial)}"
        )
    bad = ~np.isfinite(arr)
    if np.any(bad):
        r, c = np.argwhere(bad)[0]
        raise SpecificationError(f"`initial` row {r}: state {compiled.state_names[c]!r} is not finite ({arr[r, c]})")
    neg = (arr < 0) & compiled.nonnegative[None, :]
    if np.any(neg):
        r, c = np.argwhere(neg)[0]
        raise SpecificationError(
            f"`initial` row {r}: state {compiled.state_names[c]!r} is non-negative; got {arr[r, c]}"
        )
    return np.array(arr, dtype=float, order="C")


def _batch_params(compiled: CompiledModel, params: Any) -> np.ndarray:
    try:
        arr = np.array(params, dtype=float)
    except (TypeError, ValueError):
        raise TypeError("`params` must be an array of shape (B, n_params) of floats") from None
    if arr.ndim == 1 and arr.shape[0] == compiled.n_params:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != compiled.n_params or arr.shape[0] == 0:
        raise SpecificationError(
            f"`params` must have shape (B, {compiled.n_params}) with columns in the order "
            f"model.compiled.param_names = {compiled.param_names}; got shape {np.shape(params)}"
        )
    bad = ~np.isfinite(arr)
    if np.any(bad):
        r, c = np.argwhere(bad)[0]
        raise SpecificationError(f"`params` row {r}: parameter {compiled.param_names[c]!r} is not finite ({arr[r, c]})")
    out = (arr < compiled.lower_bounds[None, :]) | (arr > compiled.upper_bounds[None, :])
    if np.any(out):
        r, c = np.argwhere(out)[0]
        raise SpecificationError(
            f"`params` row {r}: parameter {compiled.param_names[c]!r} = {arr[r, c]:g} is outside its bounds "
            f"[{compiled.lower_bounds[c]:g}, {compiled.upper_bounds[c]:g}]"
        )
    return np.array(arr, dtype=float, order="C")


def simulate_batch(
    model: Model,
    params: np.ndarray,
    schedule: Schedule | None = None,
    *,
    t_end: float,
    t_eval: Any = None,
    initial: Any = None,
    t0: float = 0.0,
    rtol: float = 1e-6,
    atol: float | Mapping[str, float] | None = None,
    max_step: float = np.inf,
    max_steps: int = DEFAULT_MAX_STEPS,
    parallel: bool = False,
    on_error: str = "raise",
) -> np.ndarray:
    """Simulate many parameter sets under one schedule with the compiled integrator.

    The loop over patients runs inside numba (optionally in parallel threads with
    ``prange``); each patient is integrated exactly as ``tumordyn.simulate(...,
    method="dopri5")`` would.

    Parameters
    ----------
    model : Model
        The model.
    params : array_like, shape (B, n_params)
        One full parameter vector per row, columns in the order
        ``model.compiled.param_names`` (build one from defaults with
        ``model.compiled.param_vector()``). Checked for finiteness and bounds.
    schedule : Schedule, optional
        Doses and infusions shared by all patients (``None``: no treatment).
    t_end : float
        Horizon (days).
    t_eval : array_like, optional
        Sorted output times within ``[t0, t_end]`` (days); default as in
        :func:`tumordyn.simulate`.
    initial : None, mapping, array_like (n_states,) or (B, n_states), optional
        Initial states: the model's (with overrides by name) or per patient.
    t0 : float, optional
        Initial time (days).
    rtol : float, optional
        Relative tolerance (default 1e-6).
    atol : float or mapping, optional
        Absolute tolerances (state units); default: each state's ``atol``.
    max_step : float, optional
        Largest step (days).
    max_steps : int, optional
        Cap on steps per patient (accepted + rejected).
    parallel : bool, optional
        Spread patients over numba's threads (``numba.prange``).
    on_error : {"raise", "nan"}, optional
        ``"raise"``: a failed patient raises :class:`~tumordyn.errors.SolverError`
        (or :class:`~tumordyn.errors.NegativeStateError`) naming its row;
        ``"nan"``: its rows of the result are NaN and the others are returned.

    Returns
    -------
    numpy.ndarray
        States at ``t_eval``, shape ``(B, len(t_eval), n_states)`` (read-only),
        states in the order ``model.compiled.state_names``; values at a dose time
        are after the dose.

    Raises
    ------
    ImportError
        If numba is not installed.
    SpecificationError, TypeError, UnknownNameError
        For malformed or out-of-bounds inputs (the row and name are given).
    SolverError, NegativeStateError
        With ``on_error="raise"``, for the first failed patient.

    Examples
    --------
    >>> import numpy as np, tumordyn as td
    >>> m = td.models.logistic_growth()
    >>> P = np.tile(m.compiled.param_vector(), (3, 1))
    >>> td.simulate_batch(m, P, t_end=10.0, t_eval=[0, 10]).shape
    (3, 2, 1)
    """
    from ._model import Model
    from ._simulate import _check_t_eval, _check_time, resolve_options

    if not isinstance(model, Model):
        raise TypeError(f"`model` must be a tumordyn Model, got {type(model).__name__}")
    if schedule is None:
        schedule = Schedule()
    if not isinstance(schedule, Schedule):
        raise TypeError(f"`schedule` must be a tumordyn Schedule (or None), got {type(schedule).__name__}")
    if on_error not in ("raise", "nan"):
        raise SpecificationError(f"`on_error` must be 'raise' or 'nan', got {on_error!r}")
    if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
        raise SpecificationError(f"`max_steps` must be a positive integer, got {max_steps!r}")
    t0 = _check_time(t0, "t0")
    t_end = _check_time(t_end, "t_end")
    if t0 < 0:
        raise SpecificationError(f"`t0` must be >= 0 days, got {t0}")
    if not t_end > t0:
        raise SpecificationError(f"`t_end` must be greater than t0 = {t0} days, got {t_end}")
    compiled = model.compiled
    schedule.validate(model.drugs.names, t_end=t_end, t0=t0, where=f"model {model.name!r}")
    for dose in schedule.doses:
        if compiled.dose_compartment[compiled.drug_names.index(dose.drug)] < 0:
            raise SpecificationError(
                f"drug {dose.drug!r} of model {model.name!r} is a direct-input drug (no compartment): "
                f"it takes Infusion items, not the bolus Dose at t = {dose.time} days"
            )
    te = np.ascontiguousarray(_check_t_eval(t_eval, t0, t_end))
    P = _batch_params(compiled, params)  # noqa: N806
    Y0 = _batch_initial(compiled, initial, P.shape[0])  # noqa: N806
    opts = resolve_options(compiled, "LSODA", rtol, atol, max_step)
    ff = fast_functions(compiled)
    breaks, bolus, rates, _ = _schedule_arrays(compiled, schedule, t0, t_end)
    dose_comp, vol_idx, vol_const = _dose_arrays(compiled)
    n_b = P.shape[0]
    ys = np.empty((n_b, te.size, compiled.n_states))
    stats = np.zeros((n_b, _N_STATS), dtype=np.int64)
    t_reached = np.zeros(n_b)
    status = np.zeros(n_b, dtype=np.int64)
    fn = _compiled_batch(bool(parallel))
    fn(
        ff.rhs, te, breaks, bolus, rates, dose_comp, vol_idx, vol_const, P, Y0,
        float(opts.rtol), np.ascontiguousarray(opts.atol), np.array(compiled.nonnegative, dtype=np.bool_),
        float(opts.max_step), int(max_steps), ys, stats, t_reached, status,
    )  # fmt: skip
    failed = np.flatnonzero(status != _OK)
    if failed.size:
        if on_error == "raise":
            j = int(failed[0])
            _raise_for(int(status[j]), float(t_reached[j]), int(stats[j, _BADSTATE]), compiled, f" (params row {j})")
        ys[failed] = np.nan
    ys.flags.writeable = False
    return ys


def rhs_call_cost(compiled: CompiledModel, n_calls: int = 1_000_000, *, cpu_time: bool = True) -> float:
    """Seconds per call of the compiled RHS, measured in a tight numba loop (the floor of any integrator).

    Parameters
    ----------
    compiled : CompiledModel
        ``model.compiled``.
    n_calls : int, optional
        Calls to time.
    cpu_time : bool, optional
        Measure the thread's CPU time (robust on a shared machine) rather than wall time.

    Returns
    -------
    float
        Seconds per RHS evaluation (called through the same function pointer the integrator uses).
    """
    ff = fast_functions(compiled)
    loop = _compiled()["loop"]
    y = np.ascontiguousarray(compiled.initial, dtype=float).copy()
    p = np.ascontiguousarray(compiled.defaults, dtype=float).copy()
    u = np.zeros(compiled.n_drugs)
    out = np.empty(compiled.n_states)
    loop(ff.rhs, y, p, u, out, 1000)
    clock = _time.thread_time if cpu_time else _time.perf_counter
    started = clock()
    loop(ff.rhs, y, p, u, out, n_calls)
    return (clock() - started) / n_calls
