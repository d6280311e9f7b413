"""Safe parsing of expressions written as text into sympy.

Text from users and model files is parsed with Python's :mod:`ast` module and
walked node by node against a whitelist: numbers, names, ``+ - * / **``, unary
signs and calls of a few mathematical functions. Nothing is ever evaluated with
``eval``/``exec``, and ``sympy.sympify``/``parse_expr`` (which do evaluate) are
never called on user text.
"""

from __future__ import annotations

import ast
import io
import keyword
import math
import re
import sys
import tokenize
import unicodedata
import warnings
from collections.abc import Iterable

import sympy as sp
from sympy.logic.boolalg import Boolean

from ..errors import SpecificationError, SymbolicBudgetWarning, UnknownNameError, UnsafeExpressionError

__all__ = ["parse_expression", "ALLOWED_FUNCTIONS", "check_name", "RESERVED_NAMES", "EXPRESSION_LIMITS",
           "check_real_constants"]

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
    # trigonometric functions and their inverses (radians)
    "sin": sp.sin,
    "cos": sp.cos,
    "tan": sp.tan,
    "sec": sp.sec,
    "csc": sp.csc,
    "cot": sp.cot,
    "asin": sp.asin,
    "acos": sp.acos,
    "atan": sp.atan,
    "asec": sp.asec,
    "acsc": sp.acsc,
    "acot": sp.acot,
    "sinh": sp.sinh,
    "cosh": sp.cosh,
    # piecewise-constant functions (discontinuous: the solver steps over their jumps)
    "floor": sp.floor,
    "ceiling": sp.ceiling,
    # conditionals: piecewise(value1, condition1, ..., otherwise) as in SBML, and sympy's own spellings
    "piecewise": sp.Piecewise,
    "Piecewise": sp.Piecewise,
    "And": sp.And,
    "Or": sp.Or,
    "Not": sp.Not,
    "Xor": sp.Xor,
    "Eq": sp.Eq,
    "Ne": sp.Ne,
}

#: Functions of :data:`ALLOWED_FUNCTIONS` whose value is a truth value (a condition), not a number.
_LOGICAL_FUNCTIONS = frozenset({"And", "Or", "Not", "Xor", "Eq", "Ne"})

#: Names a state, parameter, drug or observable may not take.
RESERVED_NAMES = frozenset(ALLOWED_FUNCTIONS) | {"t", "pi", "E_", "I_", "nan", "inf", "oo", "zoo", "True", "False"}

_MAX_LENGTH = 20_000
_MAX_DEPTH = 200
_MAX_BRACKETS = 100
_MAX_POWER_BITS = 4096
_MAX_NODES = 50_000
_MAX_FUNCTION_ARGS = 16
_MAX_MINMAX_PAIRS = 200
_SHORT_CHAIN = 64

#: Default limits of :func:`parse_expression` (documented in docs/io.md; each can be passed as a keyword):
#: ``max_length`` characters, ``max_depth`` levels of nesting of the parsed tree, ``max_brackets`` levels of
#: brackets, ``max_nodes`` syntax-tree nodes, ``max_function_args`` arguments of one ``min``/``max`` (after
#: flattening nested ones; sympy compares them pairwise, quadratic in their number), ``max_minmax_pairs``
#: argument pairs compared by all ``min``/``max`` calls of one expression together (1-6 ms each; beyond it the
#: remaining calls are kept as written, with a SymbolicBudgetWarning),
#: ``max_power_bits`` bits of an exactly evaluated ``number**number``.
EXPRESSION_LIMITS: dict[str, int] = {
    "max_length": _MAX_LENGTH,
    "max_depth": _MAX_DEPTH,
    "max_brackets": _MAX_BRACKETS,
    "max_nodes": _MAX_NODES,
    "max_function_args": _MAX_FUNCTION_ARGS,
    "max_minmax_pairs": _MAX_MINMAX_PAIRS,
    "max_power_bits": _MAX_POWER_BITS,
}

_WORD = re.compile(r"\w+")


def _non_nfkc_word(text: str) -> tuple[str, str] | None:
    """The first word of ``text`` that NFKC normalisation changes (Python's parser would silently rename it)."""
    if text.isascii():
        return None
    for word in _WORD.findall(text):
        norm = unicodedata.normalize("NFKC", word)
        if norm != word and word.isidentifier():  # other words are syntax errors for the parser anyway
            return word, norm
    return None


def check_real_constants(expr: sp.Expr, where: str) -> None:
    """Refuse constants that are not real or not representable as a finite float.

    A negative number to a non-integer power (``(-8)**(1/3)``) is complex; a number beyond
    the float range (``1e308*10``) overflows when compiled. Both would otherwise be computed
    silently wrong (the imaginary part dropped, or ``inf``).

    Raises
    ------
    SpecificationError
        Naming the constant and ``where``.
    """
    if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise SpecificationError(f"{where}: {_shorten(str(expr))} evaluates to an infinite or undefined constant")
    if expr.has(sp.I):
        raise SpecificationError(f"{where}: {_shorten(str(expr))} contains an imaginary number; expressions must be real")
    for p in expr.atoms(sp.Pow):
        b, e = p.args
        if b.is_number and e.is_number and b.is_extended_negative and e.is_integer is not True:
            raise SpecificationError(
                f"{where}: the constant {p} (a negative number to a non-integer power) is complex; "
                "expressions must be real"
            )
    for n in expr.atoms(sp.Number):
        try:
            finite = math.isfinite(float(n))
        except (OverflowError, ValueError):
            finite = False
        if not finite:
            raise SpecificationError(
                f"{where}: the constant {_shorten(str(n))} overflows a float (largest about 1.8e308)"
            )

#: Largest argument of ``exp`` whose value is a finite float (``exp(709.78...)`` is about 1.8e308).
_EXP_MAX_ARG = math.log(sys.float_info.max)


def checked_exp(x: sp.Expr, where: str) -> sp.Expr:
    """``exp(x)``, refusing a constant ``x`` whose exponential overflows a float before sympy computes it.

    sympy evaluates the exponential of a number exactly; nested (``exp(exp(exp(10.0)))``) its cost grows
    without bound. Every constant argument is checked as the expression is built, so each check evaluates a
    number already known to be finite.

    Raises
    ------
    SpecificationError
        Naming the constant and ``where``.
    """
    if x.is_number:
        try:
            value = float(x)
        except (OverflowError, TypeError, ValueError):  # beyond the float range (either sign) or complex
            value = math.inf
        if not value <= _EXP_MAX_ARG:
            arg = str(x) if len(str(x)) <= 60 else str(x)[:57] + "..."
            raise SpecificationError(
                f"{where}: the constant exp({arg}) overflows a float (largest about 1.8e308; a constant "
                f"argument of exp must be a real number below {_EXP_MAX_ARG:.2f})"
            )
    return sp.exp(x)


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
    norm = unicodedata.normalize("NFKC", name)
    if norm != name:
        raise SpecificationError(
            f"{kind} name {name!r} is not allowed: it is not in Unicode NFKC normal form, and Python (and "
            f"expressions) would read it as {norm!r}; use {norm!r}"
        )
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
    max_length: int = _MAX_LENGTH,
    max_depth: int = _MAX_DEPTH,
    max_brackets: int = _MAX_BRACKETS,
    max_nodes: int = _MAX_NODES,
    max_function_args: int = _MAX_FUNCTION_ARGS,
    max_minmax_pairs: int = _MAX_MINMAX_PAIRS,
    max_power_bits: int = _MAX_POWER_BITS,
) -> sp.Expr:
    """Parse a mathematical expression from text into sympy, without running code.

    Parameters
    ----------
    text : str
        The expression, in Python syntax, e.g. ``"r_S*S*(1 - (S + R)/K)"``.
        Allowed: real numbers, names, the constant ``pi``, ``+ - * / **``, unary
        ``+``/``-``, parentheses (at most 100 deep), calls of
        :data:`ALLOWED_FUNCTIONS` with positional arguments, and conditionals:
        ``piecewise(v1, c1, v2, c2, ..., otherwise)`` (SBML's order: the first
        value whose condition holds; without ``otherwise``, NaN where none
        holds) or sympy's ``Piecewise((v1, c1), ..., (otherwise, True))``, whose
        conditions are comparisons ``< <= > >= == !=`` (chains ``a < b < c``
        allowed), ``True``/``False`` and ``and``/``or``/``not`` of conditions
        (also written ``& | ~ ^``, ``And/Or/Not/Xor/Eq/Ne(...)``). A condition
        is not a number: ``(x > 1)*k`` is refused.
    allowed_names : iterable of str, optional
        If given, every name must be one of these (or ``t``, the time in days).
    where : str, optional
        What the expression belongs to, used in error messages.
    max_length, max_depth, max_brackets, max_nodes, max_function_args, max_minmax_pairs, max_power_bits : int
        Limits checked before the symbolic work they bound (defaults in :data:`EXPRESSION_LIMITS`):
        characters, nesting of the syntax tree (a long sum or product is wide, not deep), bracket
        nesting, syntax-tree nodes, arguments of one ``min``/``max`` after flattening, argument pairs
        compared by all ``min``/``max`` calls together, bits of an exact ``number**number``.

    Returns
    -------
    sympy.Expr
        The expression; each name becomes a plain ``sympy.Symbol``.

    Raises
    ------
    UnsafeExpressionError
        For any construct outside the whitelist (attribute access, lambdas,
        subscripts, dunder names, strings, keywords arguments...), naming it,
        and for a condition used as a number (``x < 1`` as a rate) or a number
        used as a condition (``piecewise(1, x, 0)``).
    UnknownNameError
        For a name outside ``allowed_names``.
    SpecificationError
        For text that is not a Python expression, a reserved name (``nan``,
        ``inf``...), a constant that is not finite or not real (``1e400``,
        ``1/0``, ``sqrt(-1)``, ``(-8)**(1/3)``, ``1e308*10``), or a name that
        Unicode NFKC normalisation would change (fullwidth ``Ｋ`` would silently
        become ``K``).
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
    if len(text) > max_length:
        raise UnsafeExpressionError(f"{where}: expression is longer than {max_length} characters (max_length)")
    if "__" in text:
        raise UnsafeExpressionError(f"{where}: double underscores (dunder names) are not allowed in {shown}")
    if _bracket_depth(text) > max_brackets:
        raise UnsafeExpressionError(f"{where}: brackets nested deeper than {max_brackets} levels in {shown}")
    odd = _non_nfkc_word(text)
    if odd is not None:
        raise SpecificationError(
            f"{where}: {odd[0]!r} in {shown} is not in Unicode NFKC normal form: Python would read it as "
            f"{odd[1]!r} (a lookalike of another name); write {odd[1]!r} if that is meant"
        )
    nodes = 0
    pairs = 0
    budget_warned = False

    def parse_tree(piece: str) -> ast.AST:
        nonlocal nodes
        try:
            tree = ast.parse(piece.strip(), mode="eval")
        except SyntaxError as exc:
            raise SpecificationError(f"{where}: cannot parse {shown} as an expression: {exc.msg}") from None
        except (RecursionError, MemoryError):
            raise UnsafeExpressionError(f"{where}: expression {shown} is too deeply nested to parse") from None
        except ValueError as exc:  # e.g. null bytes, integers with too many digits
            raise SpecificationError(f"{where}: cannot parse {shown} as an expression: {exc}") from None
        for _ in ast.walk(tree):  # iterative, bounded by the text length
            nodes += 1
            if nodes > max_nodes:
                raise UnsafeExpressionError(
                    f"{where}: expression {shown} has more than {max_nodes} syntax nodes (max_nodes)"
                )
        return tree

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
            if abs(float(exponent)) * bits > max_power_bits:
                raise UnsafeExpressionError(f"{where}: the number {base}**{exponent} is too large")
        if (isinstance(base, sp.Number) and isinstance(exponent, sp.Number) and base < 0
                and not exponent.is_integer):
            raise SpecificationError(
                f"{where}: the constant ({base})**({exponent}) in {shown} is complex (a negative number to a "
                "non-integer power); expressions must be real"
            )
        return base**exponent

    def walk(node: ast.AST, depth: int) -> sp.Expr:
        if depth > max_depth:
            raise UnsafeExpressionError(f"{where}: expression nested deeper than {max_depth} levels (max_depth)")
        if isinstance(node, ast.Expression):
            return walk(node.body, depth + 1)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool):
                return sp.true if node.value else sp.false
            if not isinstance(node.value, (int, float)):
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
        if isinstance(node, ast.Compare):  # a < b, a <= b < c (chained: a conjunction)
            operands = [num(walk(x, depth + 1), "a comparison") for x in [node.left, *node.comparators]]
            parts = []
            for cmp, a, b in zip(node.ops, operands, operands[1:]):
                rel = _COMPARISONS.get(type(cmp))
                if rel is None:
                    raise UnsafeExpressionError(
                        f"{where}: comparison {type(cmp).__name__} is not allowed; use < <= > >= == !="
                    )
                parts.append(rel(a, b))
            return sp.And(*parts) if len(parts) > 1 else parts[0]
        if isinstance(node, ast.BoolOp):  # a and b, a or b
            conds = [cond(walk(x, depth + 1), type(node.op).__name__.lower()) for x in node.values]
            return sp.And(*conds) if isinstance(node.op, ast.And) else sp.Or(*conds)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.BitAnd, ast.BitOr, ast.BitXor)):
            # sympy prints And/Or/Xor of conditions as & | ^ (operands: conditions only)
            what = {ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^"}[type(node.op)]
            a, b = (cond(walk(x, depth + 1), what) for x in (node.left, node.right))
            return {ast.BitAnd: sp.And, ast.BitOr: sp.Or, ast.BitXor: sp.Xor}[type(node.op)](a, b)
        if isinstance(node, ast.BinOp):
            op = _BINOPS.get(type(node.op))
            if op is None:
                raise UnsafeExpressionError(
                    f"{where}: operator {type(node.op).__name__} is not allowed; use + - * / **"
                )
            if isinstance(node.op, ast.Pow):
                return power(num(walk(node.left, depth + 1), "**"), num(walk(node.right, depth + 1), "**"))
            group = (ast.Add, ast.Sub) if isinstance(node.op, (ast.Add, ast.Sub)) else (ast.Mult, ast.Div)
            items = chain(node, group)
            sign = "+ -" if group[0] is ast.Add else "* /"
            out = num(walk(items[0][1], depth + 1), sign)
            if len(items) <= _SHORT_CHAIN:
                for operator, operand in items[1:]:
                    out = _BINOPS[type(operator)](out, num(walk(operand, depth + 1), sign))
                return out
            # a long chain is built in one go: adding term by term is quadratic in the number of terms
            terms = [out]
            for operator, operand in items[1:]:
                x = num(walk(operand, depth + 1), sign)
                if isinstance(operator, ast.Sub):
                    x = -x
                elif isinstance(operator, ast.Div):
                    x = sp.Pow(x, -1)
                terms.append(x)
            return sp.Add(*terms) if group[0] is ast.Add else sp.Mul(*terms)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return -num(walk(node.operand, depth + 1), "unary -")
            if isinstance(node.op, ast.UAdd):
                return num(walk(node.operand, depth + 1), "unary +")
            if isinstance(node.op, (ast.Not, ast.Invert)):  # not c; ~c (sympy's spelling)
                return sp.Not(cond(walk(node.operand, depth + 1), "not"))
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
            if fname in ("piecewise", "Piecewise"):
                return piecewise(fname, node.args, depth)
            args = [walk(a, depth + 1) for a in node.args]
            func = ALLOWED_FUNCTIONS[fname]
            if fname in _LOGICAL_FUNCTIONS:
                if fname in ("Eq", "Ne"):
                    if len(args) != 2:
                        raise UnsafeExpressionError(f"{where}: {fname}() takes exactly two arguments")
                    return func(*(num(a, fname) for a in args))  # type: ignore[operator]
                if fname == "Not" and len(args) != 1:
                    raise UnsafeExpressionError(f"{where}: Not() takes exactly one argument")
                if len(args) > max_function_args:
                    raise UnsafeExpressionError(
                        f"{where}: {fname}() has {len(args)} arguments; at most {max_function_args} are allowed "
                        "(max_function_args)"
                    )
                return func(*(cond(a, fname) for a in args))  # type: ignore[operator]
            args = [num(a, f"{fname}()") for a in args]
            if fname in {"min", "Min", "max", "Max"}:
                # sympy compares the arguments pairwise (quadratic, with assumption queries): bound their number,
                # counting those of nested calls of the same function, which sympy flattens
                n_args = sum(len(a.args) if isinstance(a, func) else 1 for a in args)  # type: ignore[arg-type]
                if n_args > max_function_args:
                    raise UnsafeExpressionError(
                        f"{where}: {fname}() has {n_args} arguments (nested calls flattened); at most "
                        f"{max_function_args} are allowed (max_function_args)"
                    )
                nonlocal pairs, budget_warned
                if pairs + n_args * (n_args - 1) // 2 <= max_minmax_pairs:
                    pairs += n_args * (n_args - 1) // 2
                    return func(*args)  # type: ignore[operator]
                # Beyond the budget, the pairwise canonicalisation is skipped: the call is kept as written, a
                # chain of two-argument calls (the same value; its derivative stays linear in the arguments).
                if not budget_warned:
                    budget_warned = True
                    warnings.warn(
                        f"{where}: the min()/max() calls of {shown} would compare more than {max_minmax_pairs} "
                        "pairs of arguments (max_minmax_pairs); the calls beyond it are kept as written, not "
                        "simplified",
                        SymbolicBudgetWarning,
                        stacklevel=3,
                    )
                out = args[-1]
                for a in reversed(args[:-1]):
                    out = func(a, out, evaluate=False)  # type: ignore[operator]
                return out
            if len(args) != 1:
                raise UnsafeExpressionError(f"{where}: {fname}() takes exactly one argument")
            if func is sp.exp:
                return checked_exp(args[0], f"{where} ({shown})")
            return func(args[0])  # type: ignore[operator]
        raise UnsafeExpressionError(f"{where}: {_describe(node)} is not allowed in {shown}")

    def num(x: sp.Basic, what: str) -> sp.Expr:
        if not isinstance(x, sp.Expr):
            raise UnsafeExpressionError(
                f"{where}: a condition (comparison or logical operator, {_shorten(str(x))}) is used as a number "
                f"in {what} in {shown}; conditions go only into piecewise() and and/or/not"
            )
        return x

    def cond(x: sp.Basic, what: str) -> sp.Basic:
        if isinstance(x, sp.Expr) or not isinstance(x, Boolean):
            raise UnsafeExpressionError(
                f"{where}: {_shorten(str(x))} is used as a condition in {what} in {shown}; a condition is a "
                "comparison (< <= > >= == !=), True/False, or and/or/not of conditions"
            )
        return x

    def piecewise(fname: str, arg_nodes: list[ast.AST], depth: int) -> sp.Expr:
        # piecewise(v1, c1, v2, c2, ..., [otherwise]) as in SBML; Piecewise((v1, c1), (v2, c2), ...) as sympy
        # prints it. Without an otherwise value the result is undefined (NaN) where no condition holds.
        pairs: list[tuple[sp.Expr, sp.Basic]] = []
        if len(arg_nodes) > 2 * max_function_args:
            raise UnsafeExpressionError(
                f"{where}: {fname}() has {len(arg_nodes)} arguments; at most {2 * max_function_args} are allowed "
                "(twice max_function_args)"
            )
        if fname == "Piecewise":
            for a in arg_nodes:
                if not (isinstance(a, ast.Tuple) and len(a.elts) == 2):
                    raise UnsafeExpressionError(
                        f"{where}: Piecewise() takes pairs (value, condition); write piecewise(value, condition, "
                        "otherwise) instead"
                    )
                pairs.append((num(walk(a.elts[0], depth + 2), "a Piecewise value"),
                              cond(walk(a.elts[1], depth + 2), "a Piecewise condition")))
        else:
            vals = [walk(a, depth + 1) for a in arg_nodes]
            for k in range(0, len(vals) - 1, 2):
                pairs.append((num(vals[k], "a piecewise value"), cond(vals[k + 1], "a piecewise condition")))
            if len(vals) % 2:
                pairs.append((num(vals[-1], "the piecewise otherwise value"), sp.true))
        if not pairs:
            raise UnsafeExpressionError(f"{where}: {fname}() needs a value and a condition")
        return sp.Piecewise(*pairs)

    def parse_wide(piece: str, level: int) -> sp.Expr:
        # A long sum or product is wide, not deep, but Python's parser builds it as a left-nested tree and
        # may refuse it as too deep: split it at its top-level operators first (bounded: two levels).
        if level < 2 and len(piece) > _WIDE_TEXT:
            parts = _split_top_level(piece, ("+", "-") if level == 0 else ("*", "/"))
            if parts is not None and len(parts) > 1:
                terms = [parse_wide(part, level + 1) for _, part in parts]
                if len(terms) <= _SHORT_CHAIN:  # as the parser would combine them, operation by operation
                    out = terms[0]
                    for (op, _), x in zip(parts[1:], terms[1:]):
                        out = _BINOPS[_OPS[op]](out, x)
                    return out
                for i, (op, _) in enumerate(parts):
                    if op == "-":
                        terms[i] = -terms[i]
                    elif op == "/":
                        terms[i] = sp.Pow(terms[i], -1)
                return sp.Add(*terms) if level == 0 else sp.Mul(*terms)
            if level == 0:
                return parse_wide(piece, 1)
        return walk(parse_tree(piece), 0)

    try:
        out = num(parse_wide(text, 0), "the expression's value")
    except RecursionError:
        raise UnsafeExpressionError(f"{where}: expression {shown} is too deeply nested") from None
    check_real_constants(out, f"{where} ({shown})")
    return out


_COMPARISONS = {
    ast.Lt: sp.StrictLessThan,
    ast.LtE: sp.LessThan,
    ast.Gt: sp.StrictGreaterThan,
    ast.GtE: sp.GreaterThan,
    ast.Eq: sp.Eq,
    ast.NotEq: sp.Ne,
}

_WIDE_TEXT = 1_000
_OPS = {"+": ast.Add, "-": ast.Sub, "*": ast.Mult, "/": ast.Div}
_OPERAND_END = {tokenize.NAME, tokenize.NUMBER}
_LOWER_PRECEDENCE = frozenset({"<", "<=", ">", ">=", "==", "!=", "&", "|", "^", "~", "and", "or", "not", "if"})


def _split_top_level(text: str, ops: tuple[str, ...]) -> list[tuple[str, str]] | None:
    """Split ``text`` at its binary operators ``ops`` outside brackets: ``[(op, piece), ...]`` (first op '').

    ``None`` if the text does not tokenize (the parser then reports the error). Unary signs (after an
    operator or an opening bracket, or at the start) are not split at.
    """
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, ValueError):
        return None
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))

    def offset(pos: tuple[int, int]) -> int:
        return starts[pos[0] - 1] + pos[1]

    skip = {tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
    depth = 0
    prev: tokenize.TokenInfo | None = None
    parts: list[tuple[str, str]] = []
    op, begin = "", 0
    for tok in tokens:
        if tok.type in skip:
            continue
        if tok.type == tokenize.OP:
            if tok.string in "([{":
                depth += 1
            elif tok.string in ")]}":
                depth -= 1
            elif depth == 0 and tok.string in _LOWER_PRECEDENCE:
                return None  # a comparison or logical operator binds looser than + - * /: not a plain sum
            elif (depth == 0 and tok.string in ops and prev is not None
                  and (prev.type in _OPERAND_END or prev.string in ")]}")):
                parts.append((op, text[begin:offset(tok.start)]))
                op, begin = tok.string, offset(tok.end)
        elif tok.type == tokenize.NAME and depth == 0 and tok.string in _LOWER_PRECEDENCE:
            return None
        prev = tok
    parts.append((op, text[begin:]))
    return parts


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
