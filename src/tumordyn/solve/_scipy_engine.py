"""The scipy engine: ``solve_ivp`` between the breakpoints of a dosing plan, one patient at a time.

The horizon is cut at every breakpoint of the plan (dose times, infusion starts and ends). At each
breakpoint the bolus doses due then are applied once, the infusion rates in force until the next
breakpoint are set, and ``solve_ivp`` integrates up to the next breakpoint: the solver never steps
over a dose. Values reported at a dose time are the values after the dose (right-continuous).
The pieces (:func:`solve_segment`, :func:`check_segment`, :func:`euler_step`) also serve the
adaptive-rule path (:mod:`tumordyn.dosing._rules`).
"""

from __future__ import annotations

import ast
import functools
import math
import re
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..dosing import DosingPlan
from ..errors import NegativeStateError, SolverError, SolverStatus, SpecificationError
from ..numerics import NEGATIVE_SLACK
from ._problem import IMPLICIT_METHODS, SolverOptions

if TYPE_CHECKING:
    from ..dosing import RulePlan
    from ..numerics import CompiledModel

__all__ = [
    "PlanSystem",
    "integrate",
    "integrate_plan",
    "model_system",
    "joint_system",
    "stack_plans",
    "solve_segment",
    "check_segment",
    "euler_step",
    "is_tiny_segment",
]


@functools.lru_cache(maxsize=1)
@functools.lru_cache(maxsize=1)
def _odeint() -> Callable[..., Any]:
    """``scipy.integrate.odeint``, imported on first use (``import tumordyn`` does not load scipy.integrate)."""
    from scipy.integrate import odeint

    return odeint


@functools.lru_cache(maxsize=1)
def _odeint_warning() -> type[Warning]:
    """scipy's ``ODEintWarning`` (imported on first use: ``import tumordyn`` does not load scipy.integrate)."""
    try:  # public from scipy 1.11; scipy 1.10 has it in the private module only
        from scipy.integrate import ODEintWarning
    except ImportError:  # pragma: no cover - scipy 1.10
        from scipy.integrate._odepack_py import ODEintWarning
    return ODEintWarning


#: Segments shorter than this (relative to the time, days) take one Euler step instead of a solve.
_TINY_SEGMENT = 1e-12


class _NonFiniteDerivative(Exception):
    """The derivative (row ``index``) is non-finite at time ``t``; ``y``: the states it was evaluated at (if
    known), which tell a blow-up (non-finite or huge states) from a rate undefined at finite states."""

    def __init__(self, t: float, index: int, y: Any = None) -> None:
        super().__init__(t, index)
        self.t = float(t)
        self.index = index
        self.y = None if y is None else np.array(y, dtype=float)


class _NonFiniteJacobian(_NonFiniteDerivative):
    """The Jacobian has a non-finite entry (in row ``index``): an implicit method cannot go on."""


def _finite_jacobian(jac: np.ndarray, t: float) -> np.ndarray:
    jac = np.asarray(jac, dtype=float)
    if not np.isfinite(jac).all():
        raise _NonFiniteJacobian(t, int(np.argmin(np.all(np.isfinite(jac.reshape(jac.shape[0], -1)), axis=1))))
    return jac


#: States beyond this magnitude count as blowing up in the message of a non-finite derivative.
_HUGE_STATE = 1e150


def _non_finite_error(exc: _NonFiniteDerivative, what: str, label: Callable[[int], str]) -> SolverError:
    """The :class:`SolverError` (status ``NON_FINITE``) for a non-finite derivative or Jacobian: it says a
    blow-up when the states were non-finite or huge (or unknown), and a rate undefined at the states
    reached when they were all finite and moderate (e.g. ``(L/T)^l`` or ``x/T`` at ``T = 0``, ``0·inf``),
    naming the states that were zero."""
    part = "Jacobian" if isinstance(exc, _NonFiniteJacobian) else "right-hand side"
    y = exc.y
    if y is None or not np.all(np.isfinite(y)) or np.max(np.abs(y), initial=0.0) > _HUGE_STATE:
        why = "the solution blows up?"
    else:
        small = np.argsort(np.abs(y), kind="stable")[:3].tolist()  # the states nearest 0: the usual culprits
        at = ", ".join(f"{label(i).removeprefix('state ')} = {y[i]:.3g}" for i in small)
        why = (f"every state is finite, nearest 0: {at}: a rate is undefined at these states, e.g. x/0, 0*inf, "
               "inf/inf as in (L/T)^l / (s + (L/T)^l) with T near 0, or a fractional power or log of a state a "
               "little below 0 within the tolerance; not a blow-up: tighten atol of the states near 0, give the "
               "rate a form defined there, or stop before")
    return SolverError(
        f"the {part} of {what} became non-finite ({label(exc.index)}; {why})",
        t=exc.t, status=SolverStatus.NON_FINITE, state_index=exc.index,
    )


class _BudgetExhausted(Exception):
    """Raised from inside a right-hand side when a solve's step or wall-time budget runs out.

    Raising from the right-hand side is what interrupts LSODA's own loop (scipy propagates the
    exception out of the Fortran code at the next return of the callback).
    """

    def __init__(self, t: float, status: SolverStatus) -> None:
        super().__init__(t, status)
        self.t = float(t)
        self.status = status


#: ``odeint`` keeps its callback in module state in older scipy (1.10 fails with a SystemError when two
#: threads integrate at once): one solve at a time. The right-hand side is Python and holds the GIL
#: anyway, so threads lose nothing; re-entrant so a right-hand side may itself solve.
_ODEINT_LOCK = threading.RLock()
#: The wall clock is read once every this many right-hand-side evaluations.
_CLOCK_EVERY = 64
#: Smallest positive normal double; parameters and states below it in magnitude are read as 0.
_TINY = sys.float_info.min


class Budget:
    """The step (right-hand-side evaluation) and wall-time budget of one patient's scipy solve.

    :meth:`wrap` returns a right-hand side that spends one unit per evaluation, checks the wall
    clock every :data:`_CLOCK_EVERY` evaluations and raises :class:`_BudgetExhausted` (converted
    to a :class:`~tumordyn.errors.SolverError` by the segment solvers) when either runs out.
    """

    __slots__ = ("deadline", "left", "max_seconds", "max_steps")

    def __init__(self, opts: SolverOptions) -> None:
        steps = getattr(opts, "scipy_max_steps", None)
        self.max_steps = int(opts.max_steps if steps is None else steps)
        self.left = self.max_steps
        self.max_seconds = getattr(opts, "max_seconds", None)
        self.deadline = None if self.max_seconds is None else time.perf_counter() + float(self.max_seconds)

    def spend(self, t: float) -> None:
        """One right-hand-side evaluation at time ``t`` (days)."""
        self.left -= 1
        if not self.left & (_CLOCK_EVERY - 1) or self.left < 0:
            self.exhausted(t)

    def exhausted(self, t: float) -> None:
        """Raise :class:`_BudgetExhausted` if the evaluations or the wall time have run out."""
        if self.left < 0:
            raise _BudgetExhausted(t, SolverStatus.TOO_MANY_STEPS)
        if self.deadline is not None and time.perf_counter() > self.deadline:
            raise _BudgetExhausted(t, SolverStatus.TIME_BUDGET)

    def check_clock(self, t: float) -> None:
        """Raise if the wall-time budget has run out (between segments)."""
        if self.deadline is not None and time.perf_counter() > self.deadline:
            raise _BudgetExhausted(t, SolverStatus.TIME_BUDGET)

    def error(self, exc: _BudgetExhausted, what: str) -> SolverError:
        """The named error for an exhausted budget, with the time reached."""
        if exc.status == SolverStatus.TIME_BUDGET:
            text = (f"integration of {what} stopped: the wall-time budget of {self.max_seconds:g} s "
                    "(Solver.max_seconds) ran out")
        else:
            text = (f"integration of {what} stopped: the step budget of {self.max_steps} right-hand-side "
                    "evaluations (Solver.max_steps) ran out (the problem may be stiff or the solution "
                    "ill-scaled; try method='LSODA', loosen rtol or raise max_steps)")
        return SolverError(text, t=exc.t, status=exc.status)


def clamped_jacobian(jac: np.ndarray, y: np.ndarray, nonneg: np.ndarray) -> np.ndarray:
    """The Jacobian of the right-hand side as evaluated: zero columns for non-negative states below zero.

    The generated right-hand side reads a non-negative state below zero as 0, so it does not
    depend on that state there; the generated Jacobian differentiates the unclamped expressions.
    Handing an implicit method the unclamped columns (e.g. -3e4/day for a clone that has died
    out and undershot zero) makes its Newton iteration fail at every step size, and LSODA then
    shrinks its step without end (issue 18: the hanging draws). A stiff solution that sits at zero
    and dips below it by rounding (an exchange at 1e12/day) needs the true derivative instead:
    LSODA retries a failed segment with the unclamped Jacobian (``PlanSystem.jac_raw``).
    ``jac`` is modified in place (engines pass a fresh array) and returned.
    """
    neg = nonneg & (y < 0.0)
    if neg.any():
        jac[:, neg] = 0.0
    return jac


def repair_jacobian(jac: np.ndarray, fun: Callable[[np.ndarray], np.ndarray], y: np.ndarray,
                    atol: np.ndarray) -> np.ndarray:
    """``jac`` with its columns that hold a non-finite entry replaced by forward differences of ``fun``.

    A Hill term ``C^h / (EC50^h + C^h)`` with ``h < 1`` has an infinite derivative at ``C = 0``
    (every solve starts there before the first dose); an infinite entry in the iteration matrix
    wrecks an implicit method's Newton iteration (LSODA and BDF/Radau then report non-finite values
    where an explicit method succeeds). The Jacobian only steers the Newton iteration, not the
    error control, so a finite-difference column (step ``sqrt(eps) * max(|y_j|, atol_j)``, upwards:
    non-negative states are at or above 0) is as good there. ``jac`` is modified in place.
    """
    bad = ~np.all(np.isfinite(jac), axis=0)
    if bad.any():
        f0 = np.asarray(fun(y), dtype=float)
        for j in np.flatnonzero(bad).tolist():
            h = 1.4901161193847656e-08 * max(abs(float(y[j])), float(atol[j]))
            yy = np.array(y, dtype=float)
            yy[j] += h
            jac[:, j] = (np.asarray(fun(yy), dtype=float) - f0) / ((y[j] + h) - y[j])
    return jac


def flush_subnormal(x: np.ndarray) -> np.ndarray:
    """A copy of ``x`` with subnormal entries (``0 < |x| < 2.2e-308``) set to 0.

    Subnormal numbers carry no meaningful rate or amount in a model but slow floating-point
    arithmetic down by orders of magnitude and let step-size control wander; the scipy engines
    read them as 0, as the compiled engine does. The input is never modified.
    """
    x = np.array(x, dtype=float)
    x[np.abs(x) < _TINY] = 0.0
    return x




def check_segment(compiled: CompiledModel, seg: np.ndarray, times: np.ndarray, nonneg: np.ndarray,
                  atol: np.ndarray, rtol: float = 0.0) -> None:
    """Raise on non-finite values, or on a non-negative state below its error tolerance.

    A scipy integrator controls the error of each step to about ``atol + rtol * |y|``; when a
    state falls steeply to zero (a clone collapsing, a drug washing out) a step or its dense
    output may undershoot zero by a few times that much. Such an undershoot is solver noise, and the
    caller reports it as 0. A value below ``-NEGATIVE_SLACK * (atol_i + rtol * max |y_i|)`` (with
    ``NEGATIVE_SLACK = 100``) over the segment is not: it raises
    :class:`~tumordyn.errors.NegativeStateError` with the time.

    Parameters
    ----------
    compiled : CompiledModel
        The model (for names in messages).
    seg : numpy.ndarray
        States of one segment, shape ``(n_states, n_times)``.
    times : numpy.ndarray
        The segment's output times (days).
    nonneg, atol : numpy.ndarray
        Which states are non-negative, and their absolute tolerances.
    rtol : float
        The relative tolerance of the solve.

    Raises
    ------
    SolverError
        At the first time with a non-finite value.
    NegativeStateError
        At the first time a non-negative state is below minus its error tolerance.
    """
    if seg.size:
        low, total = float(seg.min()), float(seg.sum())
        if low >= 0.0 and total - total == 0.0:  # all finite and none negative: nothing to report
            return
    if not np.all(np.isfinite(seg)):
        j = int(np.argmin(np.all(np.isfinite(seg), axis=0)))
        raise SolverError(
            f"integration of model {compiled.model_name!r} produced non-finite values", t=float(times[j]),
            status=SolverStatus.NON_FINITE,
        )
    band = NEGATIVE_SLACK * (atol[nonneg] + rtol * np.max(np.abs(seg[nonneg]), axis=1))
    low = seg[nonneg] < -band[:, None]
    if np.any(low):
        rows, cols = np.nonzero(low)
        j = int(cols.min())
        i = int(np.flatnonzero(nonneg)[rows[cols == j][0]])
        raise NegativeStateError(
            f"state {compiled.state_names[i]!r} of model {compiled.model_name!r} fell to {seg[i, j]:.6g}, "
            f"below {NEGATIVE_SLACK:g} x its error tolerance (atol {atol[i]:g} + rtol x its "
            "largest value in the segment); tighten rtol/atol or check the rates",
            t=float(times[j]), state_index=i,
        )


def _finite_rhs(t: float, y: np.ndarray, fun: Any, u: np.ndarray, budget: Budget | None = None) -> np.ndarray:
    if budget is not None:
        budget.spend(t)
    out = fun(t, y, u)
    if not np.isfinite(out).all():
        raise _NonFiniteDerivative(t, int(np.argmin(np.isfinite(out))), y)
    return out


def _budgeted_rhs(t: float, y: np.ndarray, fun: Any, u: np.ndarray, budget: Budget) -> np.ndarray:
    budget.spend(t)
    return fun(t, y, u)


# --------------------------------------------------------------------------- a float right-hand side with
# the parameters bound once (the LSODA fast path)

_STATIC_NAME = re.compile(r"_[pu]\d+\Z")
_STATIC_CALLS = frozenset({"max", "min", "abs", "float"})


class _Hoister(ast.NodeTransformer):
    """Replace maximal subexpressions that depend on parameters and inputs only by precomputed names."""

    def __init__(self, static: set[str]) -> None:
        self.static = static
        self.hoisted: list[tuple[str, ast.expr]] = []

    def is_static(self, node: ast.AST) -> bool:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name):
                if not (sub.id in self.static or sub.id in _STATIC_CALLS or sub.id == "math"):
                    return False
            elif not isinstance(sub, (ast.expr_context, ast.Constant, ast.BinOp, ast.UnaryOp, ast.operator,
                                      ast.unaryop, ast.Call, ast.Attribute, ast.keyword)):
                return False
        return True

    def visit(self, node: ast.AST) -> Any:
        if isinstance(node, ast.expr) and not isinstance(node, (ast.Name, ast.Constant)) and self.is_static(node):
            name = f"_h{len(self.hoisted)}"
            self.hoisted.append((name, node))
            return ast.copy_location(ast.Name(id=name, ctx=ast.Load()), node)
        return self.generic_visit(node)


def _factory_source(src: str) -> str:
    """From the generated ``rhs_scalar(t, y, p, u)`` source, the source of ``bind(p, u, fallback, budget, nonfinite)``.

    ``bind`` unpacks the parameters and inputs once, evaluates every subexpression that depends on
    them only (``EC50^h``, ``ln 2 / t_half``, ``1/V``...) once, and returns ``f(t, y)`` giving the
    derivatives as a list of floats, computed exactly as ``rhs_scalar`` computes them (the same
    expression trees, so the same floating-point results). ``f`` also spends one unit of ``budget``
    per call (:meth:`Budget.exhausted` checks the budget and the clock every :data:`_CLOCK_EVERY`
    calls) and hands a result with a non-finite sum to ``nonfinite(t, r, y)``. Where float arithmetic
    raises, ``f`` uses ``fallback(t, y)`` (the numpy version, with inf/nan).
    """
    fn = ast.parse(src).body[0]
    assert isinstance(fn, ast.FunctionDef)
    fn = _RealPow().visit(fn)
    outer: list[ast.stmt] = []
    inner: list[ast.stmt] = []
    static: set[str] = set()
    for stmt in fn.body:
        if (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call)
                and isinstance(stmt.value.func, ast.Attribute) and isinstance(stmt.value.func.value, ast.Name)
                and stmt.value.func.value.id in ("p", "u")):
            outer.append(stmt)  # _p0, ... = p.tolist()
            for tgt in ast.walk(stmt.targets[0]):
                if isinstance(tgt, ast.Name):
                    static.add(tgt.id)
        else:
            inner.append(stmt)
    hoister = _Hoister(static)
    body: list[ast.stmt] = []
    result: ast.expr | None = None
    for stmt in inner:
        if isinstance(stmt, ast.Return):
            value = stmt.value
            assert isinstance(value, ast.Call) and value.args and isinstance(value.args[0], ast.List)
            result = hoister.visit(value.args[0])
            continue
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name) \
                and hoister.is_static(stmt.value):
            outer.append(stmt)  # a whole common subexpression of parameters only
            static.add(stmt.targets[0].id)
            continue
        if isinstance(stmt, ast.Assign):
            stmt = ast.Assign(targets=stmt.targets, value=hoister.visit(stmt.value))
        body.append(stmt)
    assert result is not None
    outer += [ast.Assign(targets=[ast.Name(id=n, ctx=ast.Store())], value=e) for n, e in hoister.hoisted]

    def block(stmts: list[ast.stmt], indent: str) -> list[str]:
        return [indent + line for st in stmts for line in ast.unparse(ast.fix_missing_locations(st)).splitlines()]

    lines = ["def bind(p, u, fallback, budget, nonfinite):"]
    lines += block(outer, "    ")
    lines += [
        "    def f(t, y):",
        "        _left = budget.left - 1",
        "        budget.left = _left",
        f"        if not _left & {_CLOCK_EVERY - 1} or _left < 0:",
        "            budget.exhausted(t)",
        "        try:",
    ]
    lines += block(body, "            ")
    return "\n".join(lines + _factory_tail(ast.unparse(ast.fix_missing_locations(result)))) + "\n"


def _factory_tail(result: str) -> list[str]:
    """The end of a generated LSODA right-hand side: its value ``result`` (Python source), the fallback to the
    checked evaluation on an arithmetic error, and the non-finite guard."""
    return [
        "            _r = " + result,
        "        except (ArithmeticError, ValueError, TypeError):",
        "            _r = fallback(t, y)",
        "        _z = sum(_r)",
        "        if _z - _z != 0.0:",
        "            nonfinite(t, _r, y)",
        "        return _r",
        "    return f",
    ]


class _RealPow(ast.NodeTransformer):
    """``x ** e`` with an exponent that is not an integer literal as ``_fpow(x, e)`` (``math.pow``, bound in the
    namespace): the same C ``pow`` and so the same floats, but a negative base with a fractional exponent
    raises ``ValueError`` (the right-hand side then takes its numpy fallback, which gives NaN, and the
    non-finite guard reports it) where Python's ``**`` returned a complex number that no check saw."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:  # noqa: N802 - ast's visitor protocol
        self.generic_visit(node)
        if isinstance(node.op, ast.Pow) and not (isinstance(node.right, ast.Constant)
                                                 and type(node.right.value) is int):
            call = ast.Call(func=ast.Name(id="_fpow", ctx=ast.Load()), args=[node.left, node.right], keywords=[])
            return ast.copy_location(call, node)
        return node


class _PowForIpow(ast.NodeTransformer):
    """``_ipow(x, e)`` of the numba source as ``x ** e`` (what the scalar source computes)."""

    def visit_Call(self, node: ast.Call) -> ast.AST:  # noqa: N802 - ast's visitor protocol
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id == "_ipow" and len(node.args) == 2 and not node.keywords:
            return ast.copy_location(ast.BinOp(left=node.args[0], op=ast.Pow(), right=node.args[1]), node)
        return node


def _index_of(node: ast.AST, array: str) -> int | None:
    """``K`` if ``node`` is ``array[K]`` with an integer literal ``K``, else ``None``."""
    if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == array
            and isinstance(node.slice, ast.Constant) and type(node.slice.value) is int):
        return node.slice.value
    return None


def _fast_factory_source(src: str, n_states: int) -> str:
    """The source of ``bind(p, u, fallback, budget, nonfinite)`` (as :func:`_factory_source` makes it) from
    the numba right-hand side ``source["rhs_fast"]`` instead of ``source["rhs_scalar"]``.

    The numba source reads the parameters *extended* by their parameter-only subexpressions
    (``compile_model(model).extended_params(p)``: ``EC50^h``, ``ln 2 / t_half``, ``1/V``, products of rate
    constants, found on the whole system by sympy), so ``p`` here is that extended vector: per call ``f``
    does the state-dependent arithmetic only (on the default model 45 operations instead of 62). Terms in
    the parameters and the infusion rates only (e.g. ``rate / V``) are evaluated once per ``bind``.
    """
    mod = ast.parse(src)
    fn = next((n for n in mod.body if isinstance(n, ast.FunctionDef) and n.name == "rhs_into"), None)
    assert fn is not None
    fn = _RealPow().visit(_PowForIpow().visit(fn))
    states: dict[int, tuple[str, bool]] = {}  # index -> (name, read clipped at zero)
    outer: list[ast.stmt] = []
    static: set[str] = set()
    inner: list[ast.stmt] = []
    outs: dict[int, ast.expr] = {}
    hoister = _Hoister(static)
    for stmt in fn.body:
        if isinstance(stmt, ast.Return):
            continue
        assert isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
        target, value = stmt.targets[0], stmt.value
        k = _index_of(target, "out")
        if k is not None:
            outs[k] = hoister.visit(value)
            continue
        assert isinstance(target, ast.Name)
        name = target.id
        for arr, vec in (("p", "_pv"), ("u", "_uv")):
            i = _index_of(value, arr)
            if i is not None:
                outer.append(ast.parse(f"{name} = {vec}[{i}]").body[0])
                static.add(name)
                break
        else:
            i = _index_of(value, "y")
            if i is not None:
                states[i] = (name, False)
            elif (isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "max"
                  and len(value.args) == 2 and _index_of(value.args[0], "y") is not None
                  and isinstance(value.args[1], ast.Constant) and value.args[1].value == 0.0):
                states[_index_of(value.args[0], "y")] = (name, True)
            elif hoister.is_static(value):
                outer.append(stmt)
                static.add(name)
            else:
                inner.append(ast.Assign(targets=[target], value=hoister.visit(value)))
    assert sorted(states) == list(range(n_states)) and sorted(outs) == list(range(n_states))
    outer += [ast.Assign(targets=[ast.Name(id=n, ctx=ast.Store())], value=e) for n, e in hoister.hoisted]

    def block(stmts: list[ast.stmt], indent: str) -> list[str]:
        return [indent + line for st in stmts for line in ast.unparse(ast.fix_missing_locations(st)).splitlines()]

    names = [states[i][0] for i in range(n_states)]
    lines = ["def bind(p, u, fallback, budget, nonfinite):", "    _pv = p.tolist()", "    _uv = u.tolist()"]
    lines += block(outer, "    ")
    lines += [
        "    def f(t, y):",
        "        _left = budget.left - 1",
        "        budget.left = _left",
        f"        if not _left & {_CLOCK_EVERY - 1} or _left < 0:",
        "            budget.exhausted(t)",
        "        try:",
        f"            {', '.join(names)}{',' if n_states == 1 else ''} = y.tolist()",
    ]
    for i in range(n_states):
        nm, clip = states[i]
        if clip:
            lines += [f"            if {nm} < 0.0:", f"                {nm} = 0.0"]
    lines += block(inner, "            ")
    result = "[" + ", ".join(ast.unparse(ast.fix_missing_locations(outs[i])) for i in range(n_states)) + "]"
    return "\n".join(lines + _factory_tail(result)) + "\n"


@functools.lru_cache(maxsize=64)
def _bind_factory_fast(src: str, name: str, n_states: int) -> Callable[..., Any] | None:
    """``bind(p_extended, u, fallback, budget, nonfinite)`` compiled from the numba source (see
    :func:`_fast_factory_source`); ``None`` if the source does not have the form it knows."""
    try:
        code = compile(_fast_factory_source(src, n_states), f"<tumordyn bound rhs of {name}>", "exec")
    except (AssertionError, SyntaxError, ValueError, AttributeError, IndexError, TypeError, StopIteration):
        return None
    namespace: dict[str, Any] = {"math": math, "numpy": np, "_fpow": math.pow}
    exec(code, namespace)  # noqa: S102 - rewritten from the source sympy's printer generated
    return namespace["bind"]


@functools.lru_cache(maxsize=64)
def _bind_factory(src: str, name: str) -> Callable[..., Any] | None:
    """``bind(p, u, fallback, budget, nonfinite)`` compiled from a generated scalar right-hand side.

    ``None`` if the source does not have the form :func:`_factory_source` knows.
    """
    try:
        code = compile(_factory_source(src), f"<tumordyn bound rhs of {name}>", "exec")
    except (AssertionError, SyntaxError, ValueError, AttributeError, IndexError):
        return None
    namespace: dict[str, Any] = {"math": math, "numpy": np, "_fpow": math.pow}
    exec(code, namespace)  # noqa: S102 - rewritten from the source sympy's printer generated
    return namespace["bind"]


def _nonfinite(t: float, r: Any, y: Any = None) -> None:
    """Raise :class:`_NonFiniteDerivative` for the first non-finite entry of ``r`` (none: an overflowing sum);
    ``y``: the states ``r`` was evaluated at."""
    for i, v in enumerate(r):
        if not math.isfinite(v):
            raise _NonFiniteDerivative(t, i, y)


#: ``bind(u, budget) -> f(t, z)`` (see :attr:`PlanSystem.bind`).
Binder = Callable[[np.ndarray, "Budget"], Callable[[float, np.ndarray], Any]]


def bound_rhs(compiled: CompiledModel, p: np.ndarray) -> Binder:
    """``bind(u, budget) -> f(t, y)``: the model's right-hand side on floats with ``p`` and ``u`` bound once.

    ``f`` returns the derivatives as a list of floats (what ``scipy.integrate.odeint`` takes without
    an array per call), spends one unit of ``budget`` per call and raises :class:`_NonFiniteDerivative`
    on a non-finite derivative. Falls back to ``compiled.rhs_single`` behind a Python wrapper where
    the parameters cannot be bound in float arithmetic (e.g. a parameter-only term divides by zero).
    """
    factory = _bind_factory_fast(compiled.source["rhs_fast"], compiled.model_name, compiled.n_states)
    pf = p
    if factory is not None:
        pf = compiled.extended_params(p)  # the parameter-only subexpressions, once per solve
        if not np.isfinite(pf).all() and np.isfinite(p).all():
            factory = None  # e.g. a half-life of 0: the scalar source's own checks (below) handle it
    if factory is None:
        factory, pf = _bind_factory(compiled.source["rhs_scalar"], compiled.model_name), p
    rhs, rhs_single = compiled.rhs, compiled.rhs_single

    def bind(u: np.ndarray, budget: Budget) -> Callable[[float, np.ndarray], Any]:
        def fallback(t: float, y: np.ndarray) -> Any:
            with np.errstate(all="ignore"):
                return rhs(t, y, p, u).tolist()

        if factory is not None:
            try:
                return factory(pf, u, fallback, budget, _nonfinite)
            except (ArithmeticError, ValueError, TypeError):
                pass
        return _guarded(lambda t, y: rhs_single(t, y, p, u), budget)

    return bind


def _guarded(fun: Callable[[float, np.ndarray], Any], budget: Budget) -> Callable[[float, np.ndarray], Any]:
    """``fun`` spending ``budget`` and raising :class:`_NonFiniteDerivative` on a non-finite derivative."""
    spend = budget.spend

    def f(t: float, y: np.ndarray) -> Any:
        spend(t)
        out = fun(t, y)
        if not np.isfinite(out).all():
            raise _NonFiniteDerivative(t, int(np.argmin(np.isfinite(out))))
        return out

    return f


def is_tiny_segment(t0: float, t1: float) -> bool:
    """Whether ``[t0, t1]`` is far shorter than any solver step (e.g. doses 1e-300 days apart)."""
    return t1 - t0 <= _TINY_SEGMENT * max(1.0, abs(t1))


def euler_step(compiled: CompiledModel, y: np.ndarray, t0: float, t1: float, p: np.ndarray,
               u: np.ndarray) -> np.ndarray:
    """Cross a tiny segment with one Euler step (exact to rounding), clipped at zero.

    scipy's LSODA loops forever on such a segment and Radau fails on it.

    Raises
    ------
    SolverError
        If the step produces non-finite values.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        y = y + (t1 - t0) * compiled.rhs_single(t0, y, p, u)
    if not np.all(np.isfinite(y)):
        raise SolverError(f"integration of model {compiled.model_name!r} produced non-finite values", t=t0,
                          status=SolverStatus.NON_FINITE)
    y[compiled.nonnegative] = np.maximum(y[compiled.nonnegative], 0.0)
    return y


def _solve_ivp_segment(
    fun: Any,
    jac: Any,
    z: np.ndarray,
    t0: float,
    t1: float,
    u: np.ndarray,
    seg_eval: np.ndarray | None,
    opts: SolverOptions,
    atol: np.ndarray,
    what: str,
    label: Callable[[int], str],
    events: list[Any] | None = None,
    budget: Budget | None = None,
) -> Any:
    """One ``solve_ivp`` call of ``fun(t, z, u)`` over ``[t0, t1]`` days with constant inputs ``u``.

    Implicit methods get ``jac(t, z, u)`` (when given); LSODA stops at the first non-finite
    derivative (scipy's LSODA otherwise loops forever on a solution that blows up). Every
    right-hand-side evaluation spends one unit of ``budget`` (one is made from ``opts`` if not given).

    Raises
    ------
    SolverError
        If the right-hand side becomes non-finite under LSODA (status ``NON_FINITE``, with the time), or
        the budget runs out (``TOO_MANY_STEPS`` or ``TIME_BUDGET``, with the time reached).
    """
    if budget is None:
        budget = Budget(opts)
    kwargs: dict[str, Any] = {}
    f: Any = _budgeted_rhs
    args: tuple[Any, ...] = (fun, u, budget)
    if jac is not None and opts.method in IMPLICIT_METHODS:
        # same extra args as the right-hand side; a non-finite entry stops the solve with its status
        kwargs["jac"] = lambda t, yy, ff, uu, bb: _finite_jacobian(jac(t, yy, uu), t)
    if opts.method == "LSODA":
        f = _finite_rhs
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        try:
            from scipy.integrate import solve_ivp  # imported on first use: `import tumordyn` stays light

            return solve_ivp(f, (t0, t1), z, method=opts.method, t_eval=seg_eval, rtol=opts.rtol,
                             atol=atol, max_step=opts.max_step, args=args, events=events or None, **kwargs)
        except _NonFiniteDerivative as exc:
            raise _non_finite_error(exc, what, label) from None
        except _BudgetExhausted as exc:
            raise budget.error(exc, what) from None
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
            # scipy's own failures inside a step (e.g. a singular or non-finite iteration matrix)
            raise SolverError(f"integration of {what} failed in the segment [{t0:g}, {t1:g}] days", t=t0,
                              solver_message=f"{type(exc).__name__}: {exc}", status=SolverStatus.FAILED) from None


def _odeint_segment(
    system: PlanSystem,
    z: np.ndarray,
    t0: float,
    t1: float,
    u: np.ndarray,
    inner: np.ndarray,
    opts: SolverOptions,
    budget: Budget,
    caught: list[warnings.WarningMessage],
    h0: float = 0.0,
) -> tuple[np.ndarray, int, int, float]:
    """LSODA over ``[t0, t1]`` days with ``scipy.integrate.odeint`` (the fast path of :func:`integrate_plan`).

    Same method and tolerance semantics as ``solve_ivp(method="LSODA")`` (the same ODEPACK LSODA;
    error weights ``rtol * |z_i| + atol_i``; ``t1`` a critical time the solver never steps past;
    ``max_step``), but one call per segment with the outputs in its time grid and the inputs bound
    once, instead of a Python loop around single steps. Every right-hand-side evaluation spends
    one unit of ``budget`` and is checked for non-finite values (raised from inside the callback,
    which interrupts LSODA). The caller records warnings into ``caught`` (``odeint`` reports a
    failure as an ``ODEintWarning``) and ignores floating-point warnings.

    Returns
    -------
    seg : numpy.ndarray
        Values at ``inner`` and ``t1``, shape ``(size, len(inner) + 1)``.
    nfev, njev : int
        Right-hand-side and Jacobian evaluations.

    Raises
    ------
    SolverError
        ``NON_FINITE`` (with the component), ``TOO_MANY_STEPS`` or ``TIME_BUDGET`` (with the time
        reached), or ``FAILED`` with LSODA's message and the time of its last successful step.
    """
    if system.bind is not None:
        f = system.bind(u, budget)
    else:
        fun = system.fun
        f = _guarded(lambda t, y: fun(t, y, u), budget)
    jac = system.jac
    dfun = None if jac is None else (lambda t, y: _finite_jacobian(jac(t, y, u), t))
    times = np.empty(inner.size + 2)
    times[0] = t0
    times[1:-1] = inner
    times[-1] = t1
    hmax = 0.0 if math.isinf(opts.max_step) else float(opts.max_step)
    # LSODA's own step limit per output interval: never reached before the evaluation budget (a step
    # takes at least one evaluation); it bounds the loop even so
    mxstep = int(min(max(budget.left, 1) + 1, 2**31 - 1))
    n_caught = len(caught)
    try:
        odeint = _odeint()
        with _ODEINT_LOCK:
            ys, info = odeint(f, z, times, Dfun=dfun, tfirst=True, full_output=True, rtol=opts.rtol,
                              atol=system.atol, tcrit=times[-1:], h0=h0, hmax=hmax, mxstep=mxstep,
                              printmessg=False)
    except _NonFiniteDerivative as exc:
        raise _non_finite_error(exc, system.what, system.label) from None
    except _BudgetExhausted as exc:
        raise budget.error(exc, system.what) from None
    except (TypeError, ValueError, ArithmeticError) as exc:  # e.g. a complex derivative (negative base ** fraction)
        raise SolverError(f"integration of {system.what} failed in the segment [{t0:g}, {t1:g}] days", t=t0,
                          solver_message=f"{type(exc).__name__}: {exc}", status=SolverStatus.FAILED) from None
    if any(issubclass(w.category, _odeint_warning()) for w in caught[n_caught:]):
        # the first output interval LSODA did not finish: its last successful step is the time reached
        tcur = np.asarray(info["tcur"], dtype=float)
        short = np.flatnonzero(tcur < times[1:] - 1e-12 * np.maximum(1.0, np.abs(times[1:])))
        t_reached = float(tcur[short[0]]) if short.size else t0
        raise SolverError(f"integration of {system.what} failed in the segment [{t0:g}, {t1:g}] days",
                          t=max(t_reached, t0), solver_message=str(info.get("message", "")),
                          status=SolverStatus.FAILED)
    nfe = np.asarray(info["nfe"])
    nje = np.asarray(info["nje"])
    hu = np.asarray(info["hu"])
    return (ys[1:].T, int(nfe[-1]) if nfe.size else 0, int(nje[-1]) if nje.size else 0,
            float(hu[-1]) if hu.size else 0.0)


def solve_segment(
    compiled: CompiledModel,
    y: np.ndarray,
    t0: float,
    t1: float,
    p: np.ndarray,
    u: np.ndarray,
    seg_eval: np.ndarray,
    opts: SolverOptions,
    events: list[Any] | None = None,
    budget: Budget | None = None,
) -> Any:
    """One ``solve_ivp`` call over ``[t0, t1]`` days with constant inputs ``u``.

    Implicit methods get the analytic Jacobian; LSODA stops at the first non-finite
    derivative (scipy's LSODA otherwise loops forever on a solution that blows up; the
    other methods report a failure). Non-finite values in the result are left for
    :func:`check_segment`.

    Returns
    -------
    scipy.integrate OdeResult

    Raises
    ------
    SolverError
        If the right-hand side becomes non-finite under LSODA (with the time).
    """
    system = model_system(compiled, p, opts)
    return _solve_ivp_segment(system.fun, system.jac, y, t0, t1, u, seg_eval, opts, opts.atol, system.what,
                              system.label, events, budget)


@dataclass(frozen=True)
class PlanSystem:
    """An ODE system driven by a dosing plan: what :func:`integrate_plan` integrates.

    The model itself (:func:`model_system`), the model with its forward sensitivities
    (:mod:`tumordyn.analysis._sensitivity`), or several patients integrated as one system
    (:class:`~tumordyn.solve._scipy.ScipyEngine` with ``joint=True``) all go through the one dose loop of
    :func:`integrate_plan`.

    Attributes
    ----------
    fun : callable
        ``fun(t, z, u) -> dz/dt`` with ``u`` the infusion rates in force, shape ``(n_drugs,)``.
    jac : callable or None
        ``jac(t, z, u) -> d fun / d z`` (used by the implicit methods), or ``None``.
    jump : callable
        ``jump(z, amounts)``: applies the bolus amounts due at a breakpoint (shape ``(n_drugs,)``,
        dose units, not all zero) to ``z`` in place.
    check : callable
        ``check(seg, times)``: raises :class:`~tumordyn.errors.SolverError` (or
        :class:`~tumordyn.errors.NegativeStateError`) for values of a segment, shape ``(size, k)``,
        that must not be accepted.
    clip : numpy.ndarray
        Boolean mask of the components read as ``max(z, 0)`` after each segment (non-negative states).
    atol : numpy.ndarray
        Absolute tolerance per component.
    what : str
        What is integrated, for messages (e.g. ``"model 'x'"``).
    label : callable
        ``label(i)``: the name of component ``i`` in messages (e.g. ``"state 'S'"``).
    bind : callable or None
        ``bind(u, budget) -> f(t, z)``: the right-hand side with the inputs ``u`` bound (returning a
        list or array of floats), spending one unit of the :class:`Budget` per call and raising on a
        non-finite derivative; what the LSODA fast path (``scipy.integrate.odeint``) calls.
        ``None``: ``fun`` is wrapped instead.
    jac_raw : callable or None
        The Jacobian without :func:`clamped_jacobian`'s zeroed columns. LSODA retries a segment
        with it when the clamped one fails (status ``FAILED``): a stiff solution that sits at zero
        and dips below it by rounding needs the true derivative there.
    """

    fun: Callable[[float, np.ndarray, np.ndarray], np.ndarray]
    jac: Callable[[float, np.ndarray, np.ndarray], np.ndarray] | None
    jump: Callable[[np.ndarray, np.ndarray], None]
    check: Callable[[np.ndarray, np.ndarray], None]
    clip: np.ndarray
    atol: np.ndarray
    what: str
    label: Callable[[int], str]
    bind: Binder | None = None
    jac_raw: Callable[[float, np.ndarray, np.ndarray], np.ndarray] | None = None


def model_system(compiled: CompiledModel, p: np.ndarray, opts: SolverOptions) -> PlanSystem:
    """The model with parameter vector ``p`` as a :class:`PlanSystem` (one patient).

    Subnormal parameters (``0 < |p| < 2.2e-308``) are read as 0 (:func:`flush_subnormal`; ``p`` is not modified).
    """
    p = flush_subnormal(p)
    rhs_single, jac = compiled.rhs_single, compiled.jac
    nonneg = compiled.nonnegative
    names = compiled.state_names

    jumps: dict[tuple[int, float], tuple[int, Any]] = {}  # (drug, amount) -> (state, increment)

    def jump(y: np.ndarray, amounts: np.ndarray) -> None:
        for d in np.flatnonzero(amounts).tolist():
            key = (d, float(amounts[d]))
            hit = jumps.get(key)
            if hit is None:  # a schedule repeats few distinct amounts: each is converted once
                hit = jumps[key] = compiled.dose_jump(d, key[1], p)
            comp, inc = hit
            if comp >= 0:
                y[comp] += inc

    atol = opts.atol

    def jfun(t: float, y: np.ndarray, u: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            J = clamped_jacobian(np.array(jac(t, y, p, u), dtype=float), y, nonneg)
            return repair_jacobian(J, lambda yy: rhs_single(t, yy, p, u), y, atol)

    def jfun_raw(t: float, y: np.ndarray, u: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return repair_jacobian(np.array(jac(t, y, p, u), dtype=float), lambda yy: rhs_single(t, yy, p, u), y,
                                   atol)

    return PlanSystem(
        fun=lambda t, y, u: rhs_single(t, y, p, u),
        jac=jfun,
        jump=jump,
        check=lambda seg, times: check_segment(compiled, seg, times, nonneg, opts.atol, opts.rtol),
        clip=nonneg,
        atol=opts.atol,
        what=f"model {compiled.model_name!r}",
        label=lambda i: f"state {names[i]!r}",
        bind=bound_rhs(compiled, p),
        jac_raw=jfun_raw,
    )


def _integrate_plan_odeint(
    system: PlanSystem,
    plan: DosingPlan,
    z: np.ndarray,
    t_eval: np.ndarray,
    opts: SolverOptions,
    budget: Budget,
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """:func:`integrate_plan` for LSODA: one ``odeint`` call per segment (:func:`_odeint_segment`).

    The same dose loop (bolus at a breakpoint applied once, then the outputs at that time; values
    clipped at zero for ``system.clip``; tiny segments crossed by one Euler step), with the per-segment
    bookkeeping done once for the whole plan (output ranges, bolus flags) and the step size LSODA last
    used offered as its first step in the next segment (no initial-step search at every dose).
    """
    breaks = plan.breaks
    n_b = breaks.size
    zs = np.empty((t_eval.size, z.size))
    clip = system.clip
    clip_col = clip[:, None]
    nfev = njev = 0
    tb_list = breaks.tolist()
    # output ranges: [start[b], end[b]) come from segment b (the last one takes everything left)
    start = np.searchsorted(t_eval, breaks, side="left").tolist()
    end = start[1:] + [t_eval.size]
    dosed = plan.bolus.any(axis=1).tolist()
    h_last = 0.0
    with warnings.catch_warnings(record=True) as caught, \
            np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        warnings.simplefilter("always", _odeint_warning())
        for b in range(n_b):
            tb = tb_list[b]
            if dosed[b]:  # bolus doses due now, applied exactly once (same drug, same time: amounts add up)
                system.jump(z, plan.bolus[b])
            u = plan.rates[b]
            last = b == n_b - 1
            k, k_end = start[b], end[b]
            # outputs at tb, and a rounding error after it, take the value after the doses at tb
            while k < k_end and (t_eval[k] == tb or is_tiny_segment(tb, float(t_eval[k]))):
                zs[k] = z
                k += 1
            if last:
                zs[k:k_end] = z
                break
            t_next = tb_list[b + 1]
            if is_tiny_segment(tb, t_next):
                # one Euler step (exact to rounding): LSODA refuses (or loops on) such a segment
                zs[k:k_end] = z
                z = z + (t_next - tb) * np.asarray(system.fun(tb, z, u), dtype=float)
                if not np.all(np.isfinite(z)):
                    raise SolverError(f"integration of {system.what} produced non-finite values", t=tb,
                                      status=SolverStatus.NON_FINITE)
                z[clip] = np.maximum(z[clip], 0.0)
                nfev += 1
                continue
            try:
                budget.check_clock(tb)
            except _BudgetExhausted as exc:
                raise budget.error(exc, system.what) from None
            inner = t_eval[k:k_end]
            # the step size LSODA last used is its first attempt here; should LSODA fail from it (a dose
            # can make the dynamics far faster), the segment is solved again from LSODA's own guess
            h_first = min(h_last, 0.5 * (t_next - tb))
            # on a failure (status FAILED, never other statuses): again from LSODA's own first step, then
            # with the unclamped Jacobian (system.jac_raw), then the last failure is raised
            # (the system with the unclamped Jacobian is built only when needed)
            attempts = [h_first, 0.0] if h_first != 0.0 else [0.0]
            if system.jac_raw is not None:
                attempts.append(-1.0)
            for i, h0_i in enumerate(attempts):
                try:
                    sys_i = system if h0_i >= 0.0 else replace(system, jac=system.jac_raw)
                    seg, n_f, n_j, h_last = _odeint_segment(sys_i, z, tb, t_next, u, inner, opts, budget, caught,
                                                            max(h0_i, 0.0))
                    break
                except SolverError as err:
                    if err.status != SolverStatus.FAILED or i == len(attempts) - 1:
                        raise
            nfev += n_f
            njev += n_j
            times = np.empty(inner.size + 1)
            times[:-1] = inner
            times[-1] = t_next
            system.check(seg, times)
            np.maximum(seg, 0.0, out=seg, where=clip_col)
            zs[k:k_end] = seg[:, :-1].T
            z = seg[:, -1].copy()
    for w in caught:  # warnings other than LSODA's failure reports (already turned into errors) go on
        if not issubclass(w.category, _odeint_warning()):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    # LSODA factorises its iteration matrix once per Jacobian evaluation
    return zs, (nfev, njev, njev)


def integrate_plan(
    system: PlanSystem,
    plan: DosingPlan,
    z0: np.ndarray,
    t_eval: np.ndarray,
    opts: SolverOptions,
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Integrate ``system`` segment by segment between the plan's breakpoints with ``solve_ivp``.

    The one dose loop of the scipy engine: at each breakpoint the bolus amounts due then are
    applied once (``system.jump``), the infusion rates in force until the next breakpoint are
    set, and ``solve_ivp`` integrates up to the next breakpoint (never over a dose). Values at a
    dose time are after the dose; components in ``system.clip`` are read as ``max(z, 0)``.
    Segments far shorter than any step (:func:`is_tiny_segment`) take one Euler step.
    The loop is bounded by the number of breakpoints.

    Parameters
    ----------
    system : PlanSystem
        The right-hand side, Jacobian, bolus map and checks.
    plan : DosingPlan
        Breakpoints, bolus amounts and infusion rates.
    z0 : numpy.ndarray
        State at ``plan.t0`` before any dose, shape ``(size,)``.
    t_eval : numpy.ndarray
        Sorted output times within ``[plan.t0, plan.t_end]`` (days).
    opts : SolverOptions
        Method (a scipy method), ``rtol`` and ``max_step`` (``system.atol`` is the absolute tolerance).

    Returns
    -------
    zs : numpy.ndarray
        Values at ``t_eval``, shape ``(len(t_eval), size)``.
    counters : tuple of int
        ``(nfev, njev, nlu)``.

    Raises
    ------
    SolverError
        With its :class:`~tumordyn.errors.SolverStatus` and the time reached.
    """
    breaks = plan.breaks
    z = flush_subnormal(z0)
    zs = np.empty((t_eval.size, z.size))
    budget = Budget(opts)
    if opts.method == "LSODA":
        return _integrate_plan_odeint(system, plan, z, t_eval, opts, budget)
    clip = system.clip
    nfev = njev = nlu = 0
    k = 0  # next output index
    n_b = breaks.size
    for b in range(n_b):
        tb = float(breaks[b])
        amounts = plan.bolus[b]
        if amounts.any():  # bolus doses due now, applied exactly once (same drug, same time: amounts add up)
            system.jump(z, amounts)
        u = np.array(plan.rates[b])
        last = b == n_b - 1
        t_next = plan.t_end if last else float(breaks[b + 1])
        # outputs in [tb, t_next) come from this segment; t_end gets the post-dose final state
        k_end = t_eval.size if last else int(np.searchsorted(t_eval, t_next, side="left"))
        at_tb = k
        while at_tb < k_end and t_eval[at_tb] == tb:
            zs[at_tb] = z
            at_tb += 1
        if last:
            break
        if is_tiny_segment(tb, t_next):
            # one Euler step (exact to rounding): scipy's LSODA loops forever on such a segment
            zs[at_tb:k_end] = z
            with np.errstate(over="ignore", invalid="ignore"):
                z = z + (t_next - tb) * np.asarray(system.fun(tb, z, u), dtype=float)
            if not np.all(np.isfinite(z)):
                raise SolverError(f"integration of {system.what} produced non-finite values", t=tb,
                                  status=SolverStatus.NON_FINITE)
            z[clip] = np.maximum(z[clip], 0.0)
            nfev += 1
            k = k_end
            continue
        inner = t_eval[at_tb:k_end]
        seg_eval = np.append(inner, t_next)
        try:
            budget.check_clock(tb)
        except _BudgetExhausted as exc:
            raise budget.error(exc, system.what) from None
        sol = _solve_ivp_segment(system.fun, system.jac, z, tb, t_next, u, seg_eval, opts, system.atol,
                                 system.what, system.label, budget=budget)
        nfev += int(sol.nfev)
        njev += int(sol.njev)
        nlu += int(sol.nlu)
        if sol.status != 0 or sol.y.shape[1] != seg_eval.size:
            # with output times, solve_ivp keeps only those reached: solve the segment again without
            # them (the failure path only) to learn the time the integrator reached
            probe = _solve_ivp_segment(system.fun, system.jac, z, tb, t_next, u, None, opts, system.atol,
                                       system.what, system.label, budget=Budget(opts))
            t_reached = float(np.asarray(probe.t)[-1]) if np.size(probe.t) else tb
            raise SolverError(
                f"integration of {system.what} failed in the segment [{tb:g}, {t_next:g}] days",
                t=t_reached,
                solver_message=str(sol.message),
                status=SolverStatus.FAILED,
            )
        seg = sol.y
        system.check(seg, seg_eval)
        seg[clip] = np.maximum(seg[clip], 0.0)
        zs[at_tb:k_end] = seg[:, : inner.size].T
        z = seg[:, -1].copy()
        k = k_end
    return zs, (nfev, njev, nlu)


def integrate(
    compiled: CompiledModel,
    plan: DosingPlan,
    p: np.ndarray,
    y0: np.ndarray,
    t_eval: np.ndarray,
    opts: SolverOptions,
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Integrate one patient between the plan's breakpoints with ``solve_ivp`` (:func:`integrate_plan`).

    Returns
    -------
    ys : numpy.ndarray
        States at ``t_eval``, shape ``(len(t_eval), n_states)``.
    counters : tuple of int
        ``(nfev, njev, nlu)``.

    Raises
    ------
    SolverError
        With its :class:`~tumordyn.errors.SolverStatus` and the time reached.
    """
    return integrate_plan(model_system(compiled, p, opts), plan, y0, t_eval, opts)


def joint_system(compiled: CompiledModel, P: np.ndarray, opts: SolverOptions,
                 group: np.ndarray | None = None) -> PlanSystem:
    """``B`` patients (columns of ``P``, shape ``(n_params, B)``) as one system of ``n_states * B`` components.

    Component ``i * B + b`` is state ``i`` of patient ``b``. One integration of the joint system
    gives every patient the same step-size sequence: differences between patients (e.g. finite
    differences of a fit's Jacobian) are then free of integrator noise.

    With ``group`` (shape ``(B,)``, values ``0..K-1``) patient ``b`` follows plan ``group[b]`` of a
    plan made by :func:`stack_plans` from ``K`` plans: its inputs and bolus amounts are the drug
    columns ``group[b] * n_drugs + d``.
    """
    rhs, jac = compiled.rhs, compiled.jac
    n = compiled.n_states
    nd = compiled.n_drugs
    B = P.shape[1]
    cols = np.arange(B)
    group = np.zeros(B, dtype=np.int64) if group is None else np.asarray(group, dtype=np.int64)
    K = int(group.max()) + 1 if B else 1
    members = [np.flatnonzero(group == k) for k in range(K)]
    P_of = [np.ascontiguousarray(P[:, m]) for m in members]
    nonneg = compiled.nonnegative
    names = compiled.state_names
    atol = np.repeat(opts.atol, B)
    clip = np.repeat(nonneg, B)
    last: list[Any] = [None, None]  # the inputs of the current segment and their (n_drugs, B) matrix

    def inputs(u: np.ndarray) -> np.ndarray:
        if last[0] is not u:  # u is one array per segment: the matrix is built once per segment
            last[0], last[1] = u, np.ascontiguousarray(u.reshape(K, nd)[group].T)
        return last[1]

    def fun(t: float, z: np.ndarray, u: np.ndarray) -> np.ndarray:
        return np.asarray(rhs(t, z.reshape(n, B), P, inputs(u)), dtype=float).reshape(-1)

    def jfun(t: float, z: np.ndarray, u: np.ndarray) -> np.ndarray:
        jb = np.asarray(jac(t, z.reshape(n, B), P, inputs(u)), dtype=float)  # (n, n, B)
        out = np.zeros((n, B, n, B))
        out[:, cols, :, cols] = np.moveaxis(jb, 2, 0)
        with np.errstate(all="ignore"):
            J = clamped_jacobian(out.reshape(n * B, n * B), z, clip)
            return repair_jacobian(J, lambda zz: fun(t, zz, u), z, atol)

    def jump(z: np.ndarray, amounts: np.ndarray) -> None:
        Z = z.reshape(n, B)  # a view: written in place
        A = amounts.reshape(K, nd)
        for k, d in zip(*np.nonzero(A)):
            comp, inc = compiled.dose_jump(int(d), float(A[k, d]), P_of[k])
            if comp >= 0:
                Z[comp, members[k]] += inc

    def check(seg: np.ndarray, times: np.ndarray) -> None:
        try:
            check_segment(compiled, seg, times, clip, atol, opts.rtol)
        except SolverError as err:  # name the state, not the joint component
            if err.status == SolverStatus.NON_FINITE:
                i = int(np.argmax(~np.all(np.isfinite(seg), axis=1))) // B
                what = "became non-finite"
            else:
                i = err.state_index // B
                what = "fell below zero beyond its error tolerance"
            raise type(err)(f"integration of model {compiled.model_name!r} ({B} patients as one system): "
                            f"state {names[i]!r} {what}", t=err.t, status=err.status, state_index=i) from None

    return PlanSystem(fun, jfun, jump, check, clip, atol, f"model {compiled.model_name!r}",
                      lambda i: f"state {names[i // B]!r}")


def stack_plans(plans: Sequence[DosingPlan]) -> DosingPlan:
    """Several dosing plans with one start as one plan on the union of their breakpoints.

    Drug column ``k * n_drugs + d`` of the result is drug ``d`` of ``plans[k]``: its bolus amounts
    at plan ``k``'s breakpoints and the rates plan ``k`` has in force (after its ``t_end``, those in
    force at its ``t_end``). The window ends at the latest ``t_end``. For :func:`joint_system` with
    ``group``.

    Raises
    ------
    SpecificationError
        If the plans start at different times or have different drugs.
    """
    first = plans[0]
    for p in plans[1:]:
        if p.t0 != first.t0 or p.drug_names != first.drug_names:
            raise SpecificationError("stack_plans: the plans must share t0 and drugs; got "
                                     f"t0 {p.t0} vs {first.t0}, drugs {p.drug_names} vs {first.drug_names}")
    nd = len(first.drug_names)
    breaks = np.unique(np.concatenate([p.breaks for p in plans]))
    bolus = np.zeros((breaks.size, nd * len(plans)))
    rates = np.zeros((breaks.size, nd * len(plans)))
    for k, p in enumerate(plans):
        idx = np.clip(np.searchsorted(p.breaks, breaks, side="right") - 1, 0, p.breaks.size - 1)
        rates[:, k * nd:(k + 1) * nd] = p.rates[idx]
        at = np.isin(breaks, p.breaks)
        bolus[at, k * nd:(k + 1) * nd] = p.bolus[np.searchsorted(p.breaks, breaks[at])]
    names = tuple(f"{d}[{k}]" for k in range(len(plans)) for d in first.drug_names)
    return DosingPlan(first.t0, max(p.t_end for p in plans), names, breaks, bolus, rates,
                      sum(p.n_doses for p in plans))


def _value(compiled: CompiledModel, rules: RulePlan, j: int, t: float, y: np.ndarray, p: np.ndarray,
           u: np.ndarray) -> float:
    """The quantity rule ``j`` watches, at ``(t, y)`` with inputs ``u``."""
    if rules.state[j] >= 0:
        return float(y[rules.state[j]])
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.asarray(compiled.observe(t, y, p, u), dtype=float).reshape(-1)[rules.obs[j]])


def integrate_with_rules(
    compiled: CompiledModel,
    rules: RulePlan,
    p: np.ndarray,
    y0: np.ndarray,
    baselines: np.ndarray,
    t_eval: np.ndarray,
    opts: SolverOptions,
) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int, int], list[tuple[float, int, float, float]],
           np.ndarray]:
    """Integrate one patient under a rule plan with ``solve_ivp``, switching rules at located events.

    The scipy counterpart of the compiled engine's rule handling (same plan arrays, same semantics): at
    each breakpoint and after each switch the rules are checked against the state; at a breakpoint the
    fixed doses and the gated doses of the rules that are on are given; between stops ``solve_ivp``
    integrates with one terminal event per rule (watched − threshold, in the rule's direction).

    Parameters
    ----------
    compiled : CompiledModel
        ``compile_model(model)``.
    rules : RulePlan
        The regimen's plan (``rules.dosing`` is the fixed dosing).
    p, y0 : numpy.ndarray
        Parameters and initial state.
    baselines : numpy.ndarray
        The patient's rule baselines, shape ``(n_rules,)`` (:meth:`RulePlan.baselines`).
    t_eval : numpy.ndarray
        Output times (days).
    opts : SolverOptions
        Settings; ``opts.method`` a scipy method.

    Returns
    -------
    ys, us : numpy.ndarray
        States and infusion rates at ``t_eval``.
    counters : tuple of int
        ``(nfev, njev, nlu, n_segments, n_doses_applied)``.
    events : list of tuple
        ``(time, 2 × rule + action, value, threshold)`` per switch (action 0 pause, 1 resume).
    given : numpy.ndarray
        Whether each rule was on at each breakpoint, shape ``(n_b, n_rules)``.

    Raises
    ------
    SolverError
        On a failed segment, or (status ``TOO_MANY_SWITCHES``) after more than ``opts.max_switches`` switches (:class:`~tumordyn.Solver`).
    """

    plan = rules.dosing
    t0, t_end = plan.t0, plan.t_end
    cand = plan.breaks
    n_r = rules.n_rules
    u_zero = np.zeros(compiled.n_drugs)
    on = [bool(x) for x in rules.start_on]
    given = np.zeros((cand.size, n_r), dtype=bool)
    lo = [float(rules.pause[j] * baselines[j]) for j in range(n_r)]
    hi = [float(rules.resume[j] * baselines[j]) for j in range(n_r)]

    ys = np.empty((t_eval.size, compiled.n_states))
    us = np.zeros((t_eval.size, compiled.n_drugs))
    p = flush_subnormal(p)
    y = flush_subnormal(y0)
    budget = Budget(opts)
    nonneg = compiled.nonnegative
    atol = opts.atol
    nfev = njev = nlu = nseg = 0
    ndoses = plan.n_doses
    events: list[tuple[float, int, float, float]] = []
    k = 0
    tc = float(t0)
    at_breakpoint = True
    while True:
        # 1. rules consistent with the current state (checked before any dose now)
        for j in range(n_r):
            v = _value(compiled, rules, j, tc, y, p, u_zero)
            if on[j] and v < lo[j]:
                on[j] = False
                events.append((tc, 2 * j, v, lo[j]))
            elif not on[j] and v >= hi[j]:
                on[j] = True
                events.append((tc, 2 * j + 1, v, hi[j]))
        row = int(np.searchsorted(cand, tc, side="right")) - 1
        # 2. bolus doses due now (fixed ones at breakpoints; gated ones while on)
        if at_breakpoint:
            due = np.array(plan.bolus[row])
            for j in range(n_r):
                given[row, j] = on[j]
                if on[j] and rules.n_bolus[row, j] > 0:
                    due[rules.drug[j]] += rules.bolus[row, j]
                    ndoses += int(rules.n_bolus[row, j])
            for d in np.flatnonzero(due).tolist():
                comp, inc = compiled.dose_jump(d, float(due[d]), p)
                if comp >= 0:
                    y[comp] += inc
        # 3. infusion rates until the next breakpoint
        u = np.array(plan.rates[row])
        for j in range(n_r):
            if on[j]:
                u[rules.drug[j]] += rules.rates[row, j]
        nxt = row + 1
        last = nxt >= cand.size or tc >= t_end
        t_next = t_end if last else float(cand[nxt])
        k_end = t_eval.size if last else int(np.searchsorted(t_eval, t_next, side="left"))
        at_tc = k
        while at_tc < k_end and t_eval[at_tc] == tc:
            ys[at_tc] = y
            us[at_tc] = u
            at_tc += 1
        if last:
            k = k_end
            break
        if is_tiny_segment(tc, t_next):
            ys[at_tc:k_end] = y
            us[at_tc:k_end] = u
            y = euler_step(compiled, y, tc, t_next, p, u)
            nseg += 1
            nfev += 1
            k = k_end
            at_breakpoint = True
            tc = t_next
            continue
        # 4. integrate to the next breakpoint, stopping at the first rule switch
        ev_funcs = []
        for j in range(n_r):
            thr = lo[j] if on[j] else hi[j]

            def g(t: float, yy: np.ndarray, *args: Any, _j: int = j, _thr: float = thr,
                  _u: np.ndarray = u) -> float:
                return _value(compiled, rules, _j, t, yy, p, _u) - _thr

            g.terminal = True  # type: ignore[attr-defined]
            g.direction = -1.0 if on[j] else 1.0  # type: ignore[attr-defined]
            ev_funcs.append(g)
        inner = t_eval[at_tc:k_end]
        seg_eval = np.append(inner, t_next)
        try:
            budget.check_clock(tc)
        except _BudgetExhausted as exc:
            raise budget.error(exc, f"model {compiled.model_name!r}") from None
        sol = solve_segment(compiled, y, tc, t_next, p, u, seg_eval, opts, ev_funcs, budget)
        nseg += 1
        nfev += int(sol.nfev)
        njev += int(sol.njev)
        nlu += int(sol.nlu)
        if sol.status == -1:
            raise SolverError(
                f"integration of model {compiled.model_name!r} failed in the segment [{tc:g}, {t_next:g}] days",
                t=float(sol.t[-1]) if sol.t.size else tc,
                solver_message=str(sol.message),
            )
        fired = None
        if sol.status == 1:
            te = min((float(tev[0]), j) for j, tev in enumerate(sol.t_events) if len(tev))
            fired = te[1]
            t_stop = te[0]
            y_stop = np.asarray(sol.y_events[fired][0], dtype=float)
            n_out = int(np.searchsorted(inner, t_stop, side="left"))
            sy = np.asarray(sol.y, dtype=float).reshape(compiled.n_states, -1)
            seg = sy[:, : min(n_out, sy.shape[1])]
            n_out = seg.shape[1]
        else:
            if sol.y.shape[1] != seg_eval.size:
                raise SolverError(
                    f"integration of model {compiled.model_name!r} failed in the segment [{tc:g}, {t_next:g}] days",
                    t=float(sol.t[-1]) if sol.t.size else tc,
                    solver_message=str(sol.message),
                )
            t_stop = t_next
            n_out = inner.size
            seg = sol.y[:, :n_out]
            y_stop = sol.y[:, -1]
        check_segment(compiled, np.column_stack([seg, y_stop]), np.append(inner[:n_out], t_stop), nonneg, atol,
                      opts.rtol)
        seg = seg.copy()
        seg[nonneg] = np.maximum(seg[nonneg], 0.0)
        ys[at_tc:at_tc + n_out] = seg.T
        us[at_tc:at_tc + n_out] = u
        k = at_tc + n_out
        y = np.array(y_stop, dtype=float)
        y[nonneg] = np.maximum(y[nonneg], 0.0)
        if fired is not None:
            thr = lo[fired] if on[fired] else hi[fired]
            events.append((t_stop, 2 * fired + (0 if on[fired] else 1),
                           _value(compiled, rules, fired, t_stop, y, p, u), thr))
            on[fired] = not on[fired]
            if len(events) > opts.max_switches:
                raise SolverError(
                    f"adaptive rule for {rules.regimen.rules[fired].drug!r} switched more than {opts.max_switches} "
                    f"times by t = {t_stop:g} days (chattering); widen the gap between pause_below and resume_at",
                    t=t_stop, status=SolverStatus.TOO_MANY_SWITCHES,
                )
            at_breakpoint = bool(np.any(cand == t_stop))
            if t_stop >= t_end:
                # the switch happened exactly at the horizon: record the final state and stop
                ys[k:] = y
                us[k:] = u
                break
        else:
            at_breakpoint = True
        tc = t_stop
    return ys, us, (nfev, njev, nlu, nseg, ndoses), events, given


def _scaled(plan: DosingPlan, rules: RulePlan | None, scale: np.ndarray) -> tuple[DosingPlan, RulePlan | None]:
    """``plan`` (and ``rules``) with every bolus amount and rate of drug ``d`` multiplied by ``scale[d]``."""
    plan = replace(plan, bolus=plan.bolus * scale[None, :], rates=plan.rates * scale[None, :])
    if rules is None:
        return plan, None
    per_rule = scale[rules.drug][None, :]
    return plan, replace(rules, dosing=plan, bolus=rules.bolus * per_rule, rates=rules.rates * per_rule)
