"""Safe parsing of expressions written as text into sympy.

Text from users and model files is parsed with Python's :mod:`ast` module and
walked node by node against a whitelist: numbers, names, ``+ - * / **``, unary
signs and calls of a few mathematical functions. Nothing is ever evaluated with
``eval``/``exec``, and ``sympy.sympify``/``parse_expr`` (which do evaluate) are
never called on user text.
"""

from __future__ import annotations

import ast
import keyword
import math
from collections.abc import Iterable

import sympy as sp

from ..errors import SpecificationError, UnknownNameError, UnsafeExpressionError

__all__ = ["parse_expression", "ALLOWED_FUNCTIONS", "check_name", "RESERVED_NAMES"]

#: Functions a text expression may call, by the name used in the text.
ALLOWED_FUNCTIONS: dict[str, object] = {
    "exp": sp.exp,
    "log": sp.log,
    "ln": sp.log,
    "sqrt": sp.sqrt,
    "abs": sp.Abs,
    "Abs": sp.Abs,
    "min": sp.Min,
    "Min": sp.Min,
    "max": sp.Max,
    "Max": sp.Max,
    "tanh": sp.tanh,
}

#: Names a state, parameter, drug or observable may not take.
RESERVED_NAMES = frozenset(ALLOWED_FUNCTIONS) | {"t", "pi", "E_", "I_", "nan", "inf", "oo", "zoo"}

_MAX_LENGTH = 20_000
_MAX_DEPTH = 200
_MAX_BRACKETS = 100
_MAX_POWER_BITS = 4096

#: Named constants a text expression may use.
_CONSTANTS: dict[str, sp.Expr] = {"pi": sp.pi}


def check_name(name: object, kind: str) -> str:
    """Validate that ``name`` can name a model quantity.

    Parameters
    ----------
    name : object
        Candidate name.
    kind : str
        What is being named (``"state"``, ``"parameter"``...), used in the message.

    Returns
    -------
    str
        The name.

    Raises
    ------
    TypeError
        If ``name`` is not a string.
    SpecificationError
        If it is not a Python identifier, is a keyword, starts with an underscore
        or is reserved (a function name or ``t``).
    """
    if not isinstance(name, str):
        raise TypeError(f"{kind} name must be a str, got {type(name).__name__} {name!r}")
    if not name.isidentifier() or keyword.iskeyword(name):
        raise SpecificationError(
            f"{kind} name {name!r} is not allowed: use letters, digits and underscores, "
            "starting with a letter (a Python identifier that is not a keyword)"
        )
    if name.startswith("_"):
        raise SpecificationError(f"{kind} name {name!r} is not allowed: names may not start with '_'")
    if name in RESERVED_NAMES:
        raise SpecificationError(
            f"{kind} name {name!r} is reserved (time 't' and the functions "
            f"{', '.join(sorted(ALLOWED_FUNCTIONS))}); choose another name"
        )
    return name


_BINOPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}


def _describe(node: ast.AST) -> str:
    names = {
        ast.Attribute: "attribute access",
        ast.Lambda: "lambda",
        ast.Subscript: "subscripting",
        ast.Compare: "comparison",
        ast.BoolOp: "boolean operator",
        ast.IfExp: "conditional expression",
        ast.ListComp: "comprehension",
        ast.GeneratorExp: "generator expression",
        ast.Dict: "dict literal",
        ast.List: "list literal",
        ast.Tuple: "tuple literal",
        ast.Set: "set literal",
        ast.Starred: "starred argument",
        ast.JoinedStr: "f-string",
        ast.NamedExpr: "assignment expression",
    }
    return names.get(type(node), type(node).__name__)


def parse_expression(
    text: str,
    allowed_names: Iterable[str] | None = None,
    *,
    where: str = "expression",
) -> sp.Expr:
    """Parse a mathematical expression from text into sympy, without running code.

    Parameters
    ----------
    text : str
        The expression, in Python syntax, e.g. ``"r_S*S*(1 - (S + R)/K)"``.
        Allowed: real numbers, names, the constant ``pi``, ``+ - * / **``, unary
        ``+``/``-``, parentheses (at most 100 deep) and calls of
        :data:`ALLOWED_FUNCTIONS` with positional arguments.
    allowed_names : iterable of str, optional
        If given, every name must be one of these (or ``t``, the time in days).
    where : str, optional
        What the expression belongs to, used in error messages.

    Returns
    -------
    sympy.Expr
        The expression; each name becomes a plain ``sympy.Symbol``.

    Raises
    ------
    UnsafeExpressionError
        For any construct outside the whitelist (attribute access, lambdas,
        subscripts, dunder names, strings, keywords arguments...), naming it.
    UnknownNameError
        For a name outside ``allowed_names``.
    SpecificationError
        For text that is not a Python expression, a reserved name (``nan``,
        ``inf``...), or a constant that is not finite or not real (``1e400``,
        ``1/0``, ``sqrt(-1)``).
    TypeError
        If ``text`` is not a string.

    Examples
    --------
    >>> parse_expression("k*S/(h + S)")
    S*k/(S + h)
    >>> parse_expression("pi*d**2/4")
    pi*d**2/4
    >>> parse_expression("__import__('os').system('ls')")
    Traceback (most recent call last):
    ...
    tumordyn.errors.UnsafeExpressionError: ...
    """
    if not isinstance(text, str):
        raise TypeError(f"{where}: expected a string expression, got {type(text).__name__}")
    shown = _shorten(text)
    if len(text) > _MAX_LENGTH:
        raise UnsafeExpressionError(f"{where}: expression is longer than {_MAX_LENGTH} characters")
    if "__" in text:
        raise UnsafeExpressionError(f"{where}: double underscores (dunder names) are not allowed in {shown}")
    if _bracket_depth(text) > _MAX_BRACKETS:
        raise UnsafeExpressionError(f"{where}: brackets nested deeper than {_MAX_BRACKETS} levels in {shown}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise SpecificationError(f"{where}: cannot parse {shown} as an expression: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise UnsafeExpressionError(f"{where}: expression {shown} is too deeply nested to parse") from None
    except ValueError as exc:  # e.g. null bytes, integers with too many digits
        raise SpecificationError(f"{where}: cannot parse {shown} as an expression: {exc}") from None
    allowed = None if allowed_names is None else set(allowed_names) | {"t"}

    def chain(node: ast.BinOp, ops: tuple[type, ...]) -> list[tuple[ast.operator | None, ast.AST]]:
        # flatten a left-associative chain like a + b - c + ... iteratively, so long sums
        # and products do not count as deep nesting
        items: list[tuple[ast.operator | None, ast.AST]] = []
        cur: ast.AST = node
        while isinstance(cur, ast.BinOp) and isinstance(cur.op, ops):
            items.append((cur.op, cur.right))
            cur = cur.left
        items.append((None, cur))
        items.reverse()
        return items

    def power(base: sp.Expr, exponent: sp.Expr) -> sp.Expr:
        if isinstance(base, sp.Number) and isinstance(exponent, sp.Number) and base not in (0, 1, -1):
            # sympy evaluates number**number exactly: refuse results too large to hold
            if isinstance(base, sp.Rational):
                bits = max(int(base.p).bit_length(), int(base.q).bit_length())
            else:
                bits = abs(int(sp.Float(base)._mpf_[2])) + 53  # binary exponent of a Float
            if abs(float(exponent)) * bits > _MAX_POWER_BITS:
                raise UnsafeExpressionError(f"{where}: the number {base}**{exponent} is too large")
        return base**exponent

    def walk(node: ast.AST, depth: int) -> sp.Expr:
        if depth > _MAX_DEPTH:
            raise UnsafeExpressionError(f"{where}: expression nested deeper than {_MAX_DEPTH} levels")
        if isinstance(node, ast.Expression):
            return walk(node.body, depth + 1)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise UnsafeExpressionError(
                    f"{where}: constant {_shorten(repr(node.value))} is not allowed; only real numbers are"
                )
            if isinstance(node.value, int):
                return sp.Integer(node.value)
            if not math.isfinite(node.value):
                raise SpecificationError(f"{where}: number in {shown} is not finite (overflows a float)")
            return sp.Float(node.value)
        if isinstance(node, ast.Name):
            name = node.id
            if name.startswith("_"):
                raise UnsafeExpressionError(f"{where}: name {name!r} is not allowed (leading underscore)")
            if name in ALLOWED_FUNCTIONS:
                raise UnsafeExpressionError(f"{where}: function {name!r} must be called, e.g. {name}(x)")
            if name in _CONSTANTS:
                return _CONSTANTS[name]
            if name in RESERVED_NAMES and name != "t":
                raise SpecificationError(
                    f"{where}: name {name!r} is reserved and cannot be used in an expression "
                    "(write numbers explicitly; 'pi' is the constant pi, 't' the time in days)"
                )
            if allowed is not None and name not in allowed:
                raise UnknownNameError("symbol", name, sorted(allowed), where)
            return sp.Symbol(name)
        if isinstance(node, ast.BinOp):
            op = _BINOPS.get(type(node.op))
            if op is None:
                raise UnsafeExpressionError(
                    f"{where}: operator {type(node.op).__name__} is not allowed; use + - * / **"
                )
            if isinstance(node.op, ast.Pow):
                return power(walk(node.left, depth + 1), walk(node.right, depth + 1))
            group = (ast.Add, ast.Sub) if isinstance(node.op, (ast.Add, ast.Sub)) else (ast.Mult, ast.Div)
            items = chain(node, group)
            out = walk(items[0][1], depth + 1)
            for operator, operand in items[1:]:
                out = _BINOPS[type(operator)](out, walk(operand, depth + 1))
            return out
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return -walk(node.operand, depth + 1)
            if isinstance(node.op, ast.UAdd):
                return walk(node.operand, depth + 1)
            raise UnsafeExpressionError(f"{where}: unary operator {type(node.op).__name__} is not allowed")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                raise UnsafeExpressionError(
                    f"{where}: only direct calls of {', '.join(sorted(ALLOWED_FUNCTIONS))} are allowed, "
                    f"not {_describe(node.func)}"
                )
            fname = node.func.id
            if fname not in ALLOWED_FUNCTIONS:
                raise UnsafeExpressionError(
                    f"{where}: call of {fname!r} is not allowed; allowed functions: "
                    f"{', '.join(sorted(ALLOWED_FUNCTIONS))}"
                )
            if node.keywords:
                raise UnsafeExpressionError(f"{where}: keyword arguments are not allowed in {fname}()")
            if not node.args:
                raise UnsafeExpressionError(f"{where}: {fname}() needs at least one argument")
            if any(isinstance(a, ast.Starred) for a in node.args):
                raise UnsafeExpressionError(f"{where}: starred arguments are not allowed in {fname}()")
            args = [walk(a, depth + 1) for a in node.args]
            func = ALLOWED_FUNCTIONS[fname]
            if fname in {"min", "Min", "max", "Max"}:
                return func(*args)  # type: ignore[operator]
            if len(args) != 1:
                raise UnsafeExpressionError(f"{where}: {fname}() takes exactly one argument")
            return func(args[0])  # type: ignore[operator]
        raise UnsafeExpressionError(f"{where}: {_describe(node)} is not allowed in {shown}")

    try:
        out = walk(tree, 0)
    except RecursionError:
        raise UnsafeExpressionError(f"{where}: expression {shown} is too deeply nested") from None
    if out.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise SpecificationError(f"{where}: {shown} evaluates to an infinite or undefined constant ({out})")
    if out.has(sp.I):
        raise SpecificationError(f"{where}: {shown} contains an imaginary number ({out}); expressions must be real")
    return out


def _shorten(text: str, limit: int = 80) -> str:
    r = repr(text)
    return r if len(r) <= limit else r[: limit - 5] + "...'" + f" ({len(text)} characters)"


def _bracket_depth(text: str) -> int:
    depth = best = 0
    for ch in text:
        if ch in "([{":
            depth += 1
            best = max(best, depth)
        elif ch in ")]}":
            depth -= 1
    return best
