"""Model events: discrete changes of states when a condition becomes true (SBML Level 3 semantics).

An :class:`Event` is a frozen value: a *trigger* (a condition in the expression language: comparisons
``< <= > >= == !=`` joined by ``and``/``or``/``not``), *assignments* ``{state: expression}`` applied when
it fires, an optional *delay* (days) between the trigger and the execution, an optional *priority*
(which of the events due at the same time is executed first), and SBML's flags ``persistent``,
``initial_value`` and ``use_values_from_trigger_time``. A model holds its events in
:attr:`Model.events <tumordyn.spec.Model>`; the solvers execute them (docs/io.md, *Events*).

Only states are assigned: parameters are constants of a solve. A quantity that an event changes is
a state (with no process when nothing else changes it); the SBML importer does exactly that for an
SBML parameter or compartment assigned by an event.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

import sympy as sp

from ._expr import check_name, check_real_constants, parse_expression
from ..errors import SpecificationError

__all__ = ["Event", "parse_condition"]

ExprLike = Union[str, float, int, sp.Expr]

#: sympy classes a trigger may be built from (a condition, not a number).
_CONDITION_TYPES = (sp.logic.boolalg.Boolean,)


def _to_condition(value: Any, where: str, limits: Mapping[str, int] | None = None) -> sp.Basic:
    """A trigger as a sympy condition; text goes through the safe parser (no code is run), with the
    expression ``limits`` given (default: the parser's)."""
    if isinstance(value, bool):
        return sp.true if value else sp.false
    if isinstance(value, str):
        # the parser refuses a bare condition where a number is expected: read it as the condition of a
        # piecewise, then take the condition back
        pw = parse_expression(f"piecewise(1, {value}, 0)", where=where, **dict(limits or {}))
        if not isinstance(pw, sp.Piecewise) or len(pw.args) != 2:
            if pw in (sp.Integer(1), sp.Integer(0), sp.Float(1), sp.Float(0)):
                return sp.true if pw == 1 else sp.false
            raise SpecificationError(f"{where}: {value!r} is not a condition (a comparison such as 'x > 5')")
        return pw.args[0][1]
    if isinstance(value, _CONDITION_TYPES):
        if value.has(sp.I, sp.zoo, sp.nan):
            raise SpecificationError(f"{where}: condition {value} contains a non-real constant")
        check_real_constants(value, where)
        return value
    if isinstance(value, sp.Basic):
        raise SpecificationError(f"{where}: {value} is a number, not a condition; write a comparison such as 'x > 5'")
    raise TypeError(f"{where}: expected a condition (a sympy relational or its text), got {type(value).__name__}")


def parse_condition(text: str, where: str = "condition", limits: Mapping[str, int] | None = None) -> sp.Basic:
    """Parse a condition (an event trigger) with the safe parser, never evaluating the text.

    Parameters
    ----------
    text : str
        Comparisons ``< <= > >= == !=`` joined by ``and``/``or``/``not`` (or sympy's ``& | ~``), e.g.
        ``"T > 1e9 and t >= 14"``.
    where : str, optional
        What the condition belongs to, for error messages.
    limits : mapping, optional
        Expression limits (:data:`~tumordyn.spec.EXPRESSION_LIMITS` names) passed to the parser.

    Returns
    -------
    sympy.logic.boolalg.Boolean
        The condition.

    Raises
    ------
    SpecificationError
        If the text is not a condition (e.g. a number); :class:`~tumordyn.errors.UnsafeExpressionError`
        for text outside the parser's whitelist or limits.
    """
    if not isinstance(text, str):
        raise TypeError(f"{where}: expected the text of a condition, got {type(text).__name__}")
    return _to_condition(text, where, limits)


def _to_number(value: Any, where: str) -> sp.Expr:
    if isinstance(value, bool):
        raise TypeError(f"{where}: expected an expression, got bool {value!r}")
    if isinstance(value, str):
        return parse_expression(value, where=where)
    if isinstance(value, (int, float)):
        if not math.isfinite(float(value)):
            raise SpecificationError(f"{where}: constant must be finite, got {value!r}")
        return sp.Float(value) if isinstance(value, float) else sp.Integer(value)
    if isinstance(value, sp.Expr):
        if value.has(sp.I, sp.zoo, sp.nan, sp.oo, -sp.oo):
            raise SpecificationError(f"{where}: expression {value} contains a non-finite or non-real constant")
        check_real_constants(value, where)
        return value
    if isinstance(value, sp.Basic):
        raise SpecificationError(f"{where}: {value} is a condition, not a number")
    raise TypeError(f"{where}: expected a sympy expression or a string, got {type(value).__name__}")


@dataclass(frozen=True, init=False)
class Event:
    """A discrete change of states when a trigger condition becomes true (SBML Level 3 semantics).

    Parameters
    ----------
    name : str
        Identifier of the event (unique in a model).
    trigger : str or sympy condition
        When it fires: at each time the condition changes from false to true, e.g. ``"T > 1e9"``,
        ``"t >= 14"``, ``"x < 1 and t > 3"``. Uses states, parameters and ``t`` (days).
    assignments : mapping of str to expression
        ``{state: new value}``: expressions of states, parameters and ``t``, all computed before any
        is applied (in the state's unit).
    delay : expression, optional
        Days between the trigger and the execution (evaluated when the trigger fires; must be
        >= 0). ``None`` (default): executed when triggered.
    priority : expression, optional
        Among events executed at the same time, the higher priority goes first (evaluated at the
        execution). Events without priority, or with equal priorities, go in model order.
    persistent : bool, optional
        ``True`` (default): once triggered, a delayed event is executed even if the trigger turns
        false meanwhile. ``False``: it is cancelled then.
    initial_value : bool, optional
        The trigger's value just before the start (default ``True``): with ``False``, a trigger true
        at the start fires at the start.
    use_values_from_trigger_time : bool, optional
        ``True`` (default): the assigned values are computed when the trigger fires; ``False``: when the
        (delayed) event is executed.
    description : str, optional
        What the event represents.

    Examples
    --------
    >>> from tumordyn.spec import Event
    >>> Event("harvest", "N > 900", {"N": "N/10"})
    Event(name='harvest', trigger=N > 900, assignments=(('N', N/10),), delay=None, priority=None, persistent=True, initial_value=True, use_values_from_trigger_time=True, description='')
    """

    name: str
    trigger: sp.Basic
    assignments: tuple[tuple[str, sp.Expr], ...]
    delay: sp.Expr | None
    priority: sp.Expr | None
    persistent: bool
    initial_value: bool
    use_values_from_trigger_time: bool
    description: str

    def __init__(self, name: str, trigger: Any, assignments: Mapping[str, ExprLike],
                 delay: ExprLike | None = None, priority: ExprLike | None = None, persistent: bool = True,
                 initial_value: bool = True, use_values_from_trigger_time: bool = True,
                 description: str = "") -> None:
        check_name(name, "event")
        where = f"event {name!r}"
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "trigger", _to_condition(trigger, f"trigger of {where}"))
        if not isinstance(assignments, Mapping):
            raise TypeError(f"{where}: assignments must be a mapping {{state: expression}}, "
                            f"got {type(assignments).__name__}")
        items = []
        for k, v in assignments.items():
            if not isinstance(k, str):
                raise TypeError(f"{where}: assignment targets must be state names, got {k!r}")
            items.append((k, _to_number(v, f"assignment to {k!r} of {where}")))
        object.__setattr__(self, "assignments", tuple(items))
        object.__setattr__(self, "delay", None if delay is None else _to_number(delay, f"delay of {where}"))
        object.__setattr__(self, "priority", None if priority is None
                           else _to_number(priority, f"priority of {where}"))
        for flag, value in (("persistent", persistent), ("initial_value", initial_value),
                            ("use_values_from_trigger_time", use_values_from_trigger_time)):
            if not isinstance(value, bool):
                raise TypeError(f"{where}: {flag} must be True or False, got {value!r}")
            object.__setattr__(self, flag, value)
        object.__setattr__(self, "description", str(description))

    def free_symbols(self) -> set[sp.Symbol]:
        """Every symbol the trigger, assignments, delay and priority use."""
        out: set[sp.Symbol] = set(self.trigger.free_symbols)
        for _, e in self.assignments:
            out |= e.free_symbols
        for e in (self.delay, self.priority):
            if e is not None:
                out |= e.free_symbols
        return out

    def check(self, states: tuple[str, ...], names: set[str], where: str) -> None:
        """Validate against a model: assignment targets are states, every symbol is known.

        Raises
        ------
        SpecificationError
            For a target that is not a state (naming what it is) or an unknown symbol.
        """
        from ..errors import UnknownNameError

        here = f"event {self.name!r} of {where}"
        for k, _ in self.assignments:
            if k not in states:
                what = "a parameter" if k in names else "not a state"
                raise SpecificationError(
                    f"{here}: assignment to {k!r}, which is {what}; events assign states only (a quantity an "
                    "event changes is a state, with no process if nothing else changes it)")
        allowed = set(states) | names | {"t"}
        for s in sorted(self.free_symbols(), key=str):
            if s.name not in allowed:
                raise UnknownNameError("symbol", s.name, allowed, here)
        if self.delay is not None and not self.delay.free_symbols and float(self.delay) < 0:
            raise SpecificationError(f"{here}: delay must be >= 0 days, got {float(self.delay)}")
