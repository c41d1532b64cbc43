r"""Expression strings to SymPy, safely: a whitelisting walk over Python's ``ast``.

Spec files (:mod:`symnoether.io.specfile`) write losses, kinetic terms and
generators as strings such as ``"(y - w2*w1*x)**2/2"``. They are parsed with
``ast.parse(text, mode="eval")`` and the tree is turned into SymPy *directly*,
node by node. Nothing is ever executed: no ``eval``, and no ``sympify`` or
``parse_expr`` of the text (both run Python code).

Accepted
    numbers (decimals become exact rationals: ``0.1`` is 1/10); the names the
    caller declares, and ``pi``; ``+ - * / **``, unary ``-`` and ``+``; ``@``
    (matrix product; ``*`` of two matrices is the matrix product too, as in
    SymPy); ``.T`` (transpose of a matrix); calls of :data:`FUNCTIONS`.
Functions
    ``exp log sqrt tanh sigmoid relu abs sin cos`` (element-wise on matrices;
    ``relu(z)`` is ``Max(0, z)``, ``sigmoid(z)`` is ``1/(1 + exp(-z))``),
    ``max min`` (two or more scalars, or one matrix), ``sum norm trace`` (of a
    matrix: sum of entries, Frobenius norm, trace) and ``logsumexp`` (of a
    matrix, or of two or more scalars).
Rejected, with the line and column of the offending token
    every other construct: attribute access other than ``.T``, subscripts,
    lambdas, comprehensions, strings and f-strings, keyword or starred
    arguments, boolean operators, comparisons, conditionals, undeclared names
    and functions, comments, non-ASCII text.
Limits, checked before any SymPy object is built
    :data:`MAX_LENGTH` characters, :data:`MAX_NODES` syntax nodes, nesting depth
    :data:`MAX_DEPTH` (a long sum ``a + b + c + …`` counts as one level);
    numeric exponents whose product along nested powers exceeds
    :data:`MAX_EXPONENT` (so ``10**10**10`` and ``((w**9)**9)**9`` are refused);
    arithmetic on numbers reaching :data:`MAX_NUMBER`, division of numbers by
    zero, and non-real numeric powers such as ``(-8)**0.5`` (function values
    such as ``exp(9)`` stay symbolic and are not estimated). The same exponent
    and size limits are checked again, before each power is formed, on what
    SymPy folded (``2**(w - w + 10**6)``). A result that
    is not finite or not real (``log(0)``, ``sqrt(-1)``) is refused as well.
Limits, checked on what SymPy built, before it is expanded
    after each power, matrix product and at the end: the exponents SymPy
    combined (``(w1+w2)**64 * (w1+w2)**64`` is ``(w1+w2)**128``; nested ``max(64, 1)``
    exponents) against :data:`MAX_EXPONENT`; the size of the full expansion,
    estimated from degrees and term counts without expanding
    (:mod:`~symnoether.io.expansion`), against :data:`MAX_TERMS` and
    :data:`MAX_DEGREE` (``(w1+w2+x+y)**64`` has 47,905 terms); and before each
    matrix product, the terms of its expanded entries (``W@W@W@W@W``).

Every refusal is a :class:`~symnoether.errors.SpecFileError`.

Examples
--------
>>> import sympy as sp
>>> w, x = sp.symbols("w x", real=True)
>>> parse_expression("(1 - w*x)**2/2 + relu(w)", {"w": w, "x": x})
(-w*x + 1)**2/2 + Max(0, w)
>>> parse_expression("w.__class__", {"w": w}, where="[system] loss")
Traceback (most recent call last):
...
symnoether.errors.SpecFileError: [system] loss, line 1, column 2: attribute access '.__class__' ...
"""

from __future__ import annotations

import ast
import math
import warnings
from collections.abc import Callable, Mapping

import sympy as sp

from ..errors import BudgetExceededError, SpecFileError
from .expansion import Estimator, amount

__all__ = [
    "parse_expression",
    "FUNCTIONS",
    "MAX_LENGTH",
    "MAX_NODES",
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "MAX_NUMBER",
    "MAX_TERMS",
    "MAX_DEGREE",
]

MAX_LENGTH = 10_000
"""Longest expression string accepted (characters)."""
MAX_NODES = 5_000
"""Most syntax-tree nodes accepted."""
MAX_DEPTH = 100
"""Deepest nesting accepted (a chain ``a + b - c + …`` or ``a * b / c`` counts once)."""
MAX_EXPONENT = 64
"""Largest product of numeric exponents along nested powers."""
MAX_NUMBER = 1e300
"""Largest magnitude of a purely numeric sub-expression."""
MAX_TERMS = 20_000
"""Most terms of the full expansion, estimated (a derivation expands the loss, and its
time grows faster than the number of terms: 2,925 take ~7 s)."""
MAX_DEGREE = 256
"""Highest total degree of the full expansion."""

CONSTANTS = {"pi": sp.pi}
_ELEMENTWISE: dict[str, Callable] = {
    "exp": sp.exp,
    "log": sp.log,
    "sqrt": sp.sqrt,
    "tanh": sp.tanh,
    "sigmoid": lambda z: 1 / (1 + sp.exp(-z)),
    "relu": lambda z: sp.Max(0, z),
    "abs": sp.Abs,
    "sin": sp.sin,
    "cos": sp.cos,
}
_REDUCTIONS = ("sum", "norm", "trace", "logsumexp", "max", "min")
FUNCTIONS = tuple(_ELEMENTWISE) + _REDUCTIONS
"""The function names an expression may call."""

_ADDITIVE = (ast.Add, ast.Sub)
_MULTIPLICATIVE = (ast.Mult, ast.Div, ast.MatMult)
_OP_TEXT = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.MatMult: "@"}
_OP_TEXT |= {ast.Pow: "**"}
_NOT_NODES = (ast.expr_context, ast.operator, ast.unaryop, ast.boolop, ast.cmpop)
_SYMBOLIC = object()  # the value of a sub-expression that contains names
_UNKNOWN = object()  # a numeric sub-expression that the float estimate cannot evaluate

_DESCRIPTIONS = {
    ast.Lambda: "a lambda",
    ast.ListComp: "a list comprehension",
    ast.SetComp: "a set comprehension",
    ast.DictComp: "a dict comprehension",
    ast.GeneratorExp: "a generator expression",
    ast.JoinedStr: "an f-string",
    ast.FormattedValue: "an f-string",
    ast.Subscript: "a subscript",
    ast.BoolOp: "a boolean operator (and/or)",
    ast.Compare: "a comparison",
    ast.IfExp: "a conditional expression",
    ast.Starred: "a starred argument",
    ast.NamedExpr: "an assignment expression (:=)",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.List: "a list",
    ast.Tuple: "a tuple",
    ast.Set: "a set",
    ast.Dict: "a dict",
    ast.Slice: "a slice",
}


def parse_expression(
    text: str,
    names: Mapping[str, sp.Basic],
    *,
    where: str = "expression",
    forbidden: Mapping[str, str] | None = None,
) -> sp.Expr | sp.ImmutableMatrix:
    """Parse ``text`` into a SymPy scalar or ImmutableMatrix, through the whitelist.

    Parameters
    ----------
    text : str
        The expression, e.g. ``"(y - W2 @ W1 @ x).T @ (y - W2 @ W1 @ x) / 2"``.
        Newlines count as spaces, so multi-line TOML strings work.
    names : mapping str → SymPy scalar or ImmutableMatrix
        The names the expression may use (``pi`` is always available).
    where : str
        How to name the expression in messages (e.g. ``"[system] loss"``).
    forbidden : mapping str → str, optional
        Names known elsewhere but not allowed here, with the reason to print.

    Returns
    -------
    sympy expression or ImmutableMatrix

    Raises
    ------
    SpecFileError
        Any rejected construct, name or size, with line and column.

    Examples
    --------
    >>> import symnoether as sn
    >>> W = sn.matrix_coordinates("W", 1, 2)
    >>> x = sp.Matrix(sn.data("x1 x2"))
    >>> parse_expression("norm(W @ x)**2", {"W": W, "x": x})
    (W_11*x1 + W_12*x2)**2
    """
    parser = _Parser(text, names, where, forbidden or {})
    return parser.run()


class _Parser:
    def __init__(self, text: object, names: Mapping, where: str, forbidden: Mapping) -> None:
        self.where = where
        if not isinstance(text, str):
            raise SpecFileError(
                f"{where}: {text!r} is a {type(text).__name__}, not an expression string; "
                'write it in quotes, e.g. "(y - w*x)**2/2"'
            )
        self.text = text
        self.names = dict(names)
        self.forbidden = forbidden
        self.sizes = Estimator()

    # -- entry point ---------------------------------------------------------
    def run(self) -> sp.Expr | sp.ImmutableMatrix:
        tree = self._parse()
        self._check_size(tree)
        self._check(tree.body, 1)
        try:
            value = self._build(tree.body)
        except (SpecFileError, BudgetExceededError):
            raise
        except Exception as error:  # a SymPy failure on input we accepted: still bad input
            raise SpecFileError(
                f"{self.where}: SymPy could not build this expression "
                f"({type(error).__name__}: {str(error)[:200]}); simplify the expression"
            ) from None
        self._check_expansion(tree.body, value)
        self._check_result(value)
        return value

    def _parse(self) -> ast.Expression:
        text = self.text
        if len(text) > MAX_LENGTH:
            raise SpecFileError(
                f"{self.where}: the expression is {len(text)} characters long, over the "
                f"limit of {MAX_LENGTH}; split it, or declare a shorter form"
            )
        for offset, char in enumerate(text):
            if not char.isascii() or char in "#\\" or (ord(char) < 32 and char not in "\t\n\r"):
                raise self._error_at(offset, repr(char), "this character is not allowed")
        if not text.strip():
            raise SpecFileError(f'{self.where}: the expression is empty; write e.g. "w**2"')
        flat = text.replace("\n", " ").replace("\r", " ").replace("\t", " ")
        self.lead = len(flat) - len(flat.lstrip())
        try:
            with warnings.catch_warnings():  # e.g. "invalid decimal literal" in "1for"
                warnings.simplefilter("ignore")
                return ast.parse(flat.lstrip(), mode="eval")
        except SyntaxError as error:
            body = flat.lstrip()
            column = (error.offset or 0) - 1 if error.lineno == 1 else -1
            column = column if 0 <= column < len(body) else len(body.rstrip())
            reason = (error.msg or "invalid syntax").split("(")[0].strip()
            offset = self.lead + column
            raise self._error_at(offset, repr(_snippet(flat, offset)), reason) from None
        except (RecursionError, MemoryError, ValueError, OverflowError):
            raise SpecFileError(
                f"{self.where}: the expression is too deeply nested, or chains too many "
                f"operators, to parse; keep nesting under {MAX_DEPTH} levels and split "
                "long sums"
            ) from None

    # -- pass 1: size, iteratively ---------------------------------------------
    def _check_size(self, tree: ast.Expression) -> None:
        stack = [(tree.body, 1)]
        count = 0
        while stack:
            node, depth = stack.pop()
            count += 1
            if count > MAX_NODES:
                raise SpecFileError(
                    f"{self.where}: the expression has more than {MAX_NODES} syntax nodes; "
                    "split it into smaller pieces"
                )
            if depth > MAX_DEPTH:
                raise self._error(node, f"nesting deeper than {MAX_DEPTH} levels")
            if isinstance(node, ast.BinOp):
                same = _family(node.left) is not None and _family(node.left) == _family(node)
                stack.append((node.left, depth if same else depth + 1))
                stack.append((node.right, depth + 1))
            else:  # the expressions below: Load contexts and operators are no nesting
                stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node)
                             if not isinstance(child, _NOT_NODES))  # fmt: skip

    # -- pass 2: whitelist and numeric limits, no SymPy -------------------------
    def _check(self, node: ast.AST, power: float) -> object:
        """Validate ``node``; return its float estimate, _SYMBOLIC or _UNKNOWN."""
        if isinstance(node, ast.BinOp) and _family(node) is not None:
            first, rest = _chain(node)
            value = self._check(first, power)
            for op_node, right in rest:
                value = self._arith(op_node, value, self._check(right, power))
            return value
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            return self._check_power(node, power)
        if isinstance(node, ast.BinOp):
            raise self._error(node, f"the operator {_op_name(node.op)} is not allowed")
        if isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, ast.USub | ast.UAdd):
                raise self._error(node, f"the operator {_op_name(node.op)} is not allowed")
            value = self._check(node.operand, power)
            return -value if isinstance(value, float) and isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.Constant):
            return self._check_constant(node)
        if isinstance(node, ast.Name):
            return self._check_name(node)
        if isinstance(node, ast.Attribute):
            if node.attr != "T":
                raise self._error(
                    node,
                    f"attribute access {_quoted('.' + node.attr)} is not allowed; the only "
                    "attribute is .T (transpose of a matrix)",
                    at=_attr_offset(node),
                )
            self._check(node.value, power)
            return _SYMBOLIC
        if isinstance(node, ast.Call):
            return self._check_call(node, power)
        what = _DESCRIPTIONS.get(type(node), f"'{type(node).__name__}'")
        raise self._error(node, f"{what} is not allowed in an expression")

    def _check_constant(self, node: ast.Constant) -> float:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            kind = "a string" if isinstance(value, str | bytes) else f"{value!r}"
            raise self._error(node, f"{kind} is not allowed; only real numbers are")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number) or abs(number) > MAX_NUMBER:
            raise self._error(node, f"the number is too large (over {MAX_NUMBER:g}) or not finite")
        return number

    def _check_name(self, node: ast.Name) -> object:
        name = node.id
        if name in self.names or name in CONSTANTS:
            return _UNKNOWN if name == "pi" and name not in self.names else _SYMBOLIC
        if name in FUNCTIONS:
            raise self._error(node, f"{name} is a function; call it, e.g. {name}(w)")
        if name in self.forbidden:
            raise self._error(node, f"{name} cannot be used here: {self.forbidden[name]}")
        declared = ", ".join(sorted(self.names)[:12]) or "none"
        raise self._error(
            node, f"unknown name {_quoted(name)}; declare it in the spec file (known: {declared})"
        )

    def _check_call(self, node: ast.Call, power: float) -> object:
        func = node.func
        if not isinstance(func, ast.Name):
            raise self._error(
                node, "only calls of the math functions " + ", ".join(FUNCTIONS) + " are allowed"
            )
        if func.id not in FUNCTIONS:
            raise self._error(
                func,
                f"unknown function {_quoted(func.id)}; the functions are " + ", ".join(FUNCTIONS),
            )
        for argument in node.args:
            if isinstance(argument, ast.Starred):
                raise self._error(argument, "a starred argument is not allowed")
        if node.keywords:
            keyword = node.keywords[0]
            label = f"keyword argument {keyword.arg}=" if keyword.arg else "a ** argument"
            raise self._error(keyword, f"{label} is not allowed; pass arguments by position")
        count = len(node.args)
        if func.id in _ELEMENTWISE or func.id in ("sum", "norm", "trace"):
            if count != 1:
                raise self._error(func, f"{func.id} takes one argument, got {count}")
        elif count < 1:
            raise self._error(func, f"{func.id} takes a matrix or two or more scalars")
        values = [self._check(argument, power) for argument in node.args]
        return _estimate_call(values)

    def _check_power(self, node: ast.BinOp, power: float) -> object:
        exponent = self._check(node.right, 1)
        if isinstance(exponent, float):
            if abs(exponent) * power > MAX_EXPONENT:
                raise self._error(
                    node.right,
                    f"the exponent is too large: nested powers reach {abs(exponent) * power:g}, "
                    f"over the limit of {MAX_EXPONENT}",
                )
            power = power * max(abs(exponent), 1.0)
        base = self._check(node.left, power)
        return self._arith(node, base, exponent)

    def _arith(self, node: ast.BinOp, left: object, right: object) -> object:
        if not (isinstance(left, float) and isinstance(right, float)):
            return _SYMBOLIC if _SYMBOLIC in (left, right) else _UNKNOWN
        op = node.op
        try:
            if isinstance(op, ast.Add):
                value = left + right
            elif isinstance(op, ast.Sub):
                value = left - right
            elif isinstance(op, ast.Mult | ast.MatMult):
                value = left * right
            elif isinstance(op, ast.Div):
                value = left / right
            else:
                if left < 0 and not float(right).is_integer():
                    raise self._error(node, "a negative number to a fractional power is not real")
                value = left**right
        except ZeroDivisionError:
            raise self._error(node, "division by zero") from None
        except OverflowError:
            value = math.inf
        if isinstance(value, complex):
            raise self._error(node, "this numeric power is not real")
        if not math.isfinite(value) or abs(value) > MAX_NUMBER:
            raise self._error(node, f"this numeric value is too large (over {MAX_NUMBER:g})")
        return float(value)

    # -- pass 3: build SymPy ------------------------------------------------------
    def _build(self, node: ast.AST) -> sp.Basic:
        if isinstance(node, ast.BinOp) and _family(node) is not None:
            first, rest = _chain(node)
            value = self._build(first)
            for op_node, right in rest:
                value = self._binary(op_node, value, self._build(right))
            return value
        if isinstance(node, ast.BinOp):
            return self._binary(node, self._build(node.left), self._build(node.right))
        if isinstance(node, ast.UnaryOp):
            operand = self._build(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.Constant):
            if isinstance(node.value, int):
                return sp.Integer(node.value)
            return sp.Rational(repr(node.value))
        if isinstance(node, ast.Name):
            return self.names[node.id] if node.id in self.names else CONSTANTS[node.id]
        if isinstance(node, ast.Attribute):
            value = self._build(node.value)
            if not isinstance(value, sp.MatrixBase):
                raise self._error(node, ".T transposes a matrix, but this is a scalar")
            return value.T
        return self._call(node)

    def _binary(self, node: ast.BinOp, left: sp.Basic, right: sp.Basic) -> sp.Basic:
        op = node.op
        lmat, rmat = isinstance(left, sp.MatrixBase), isinstance(right, sp.MatrixBase)
        symbol = _OP_TEXT[type(op)]
        if isinstance(op, ast.MatMult):
            if not (lmat and rmat):
                raise self._error(node, "@ multiplies two matrices; use * with a scalar")
            return self._product(node, left, right)
        if lmat and rmat and isinstance(op, ast.Mult):
            return self._product(node, left, right)
        if lmat != rmat and isinstance(op, ast.Add | ast.Sub):
            left, right = _matrix_if_1x1(left, right), _matrix_if_1x1(right, left)
        elif lmat != rmat:
            left, right = _scalar_if_1x1(left), _scalar_if_1x1(right)
        lmat, rmat = isinstance(left, sp.MatrixBase), isinstance(right, sp.MatrixBase)
        if isinstance(op, ast.Add | ast.Sub):
            if lmat != rmat or (lmat and left.shape != right.shape):
                raise self._error(
                    node,
                    f"cannot {'add' if symbol == '+' else 'subtract'} {_shape(left)} and "
                    f"{_shape(right)}",
                )
            return left + right if isinstance(op, ast.Add) else left - right
        if isinstance(op, ast.Mult):
            return left * right
        if isinstance(op, ast.Div):
            if rmat:
                raise self._error(node, f"cannot divide by {_shape(right)}; divide by a scalar")
            return left / right
        if lmat or rmat:
            raise self._error(node, "** needs a scalar base and exponent, not a matrix")
        self._check_folded_power(node, left, right)
        value = left**right
        self._check_expansion(node, value)
        return value

    def _check_folded_power(self, node: ast.BinOp, base: sp.Basic, exponent: sp.Basic) -> None:
        """Limits again, on what SymPy folded: ``2**(w - w + 10**6)`` is 2**1000000."""
        if not isinstance(exponent, sp.Number):
            return
        if abs(exponent) > MAX_EXPONENT:
            raise self._error(
                node,
                f"the exponent is too large: it evaluates to {_short(exponent)}, over the "
                f"limit of {MAX_EXPONENT}",
            )
        if isinstance(base, sp.Number) and base != 0:
            digits = math.log10(abs(float(base))) if abs(base) < 1e300 else 301.0
            if digits * float(exponent) > math.log10(MAX_NUMBER):
                raise self._error(node, f"this numeric value is too large (over {MAX_NUMBER:g})")

    def _check_expansion(self, node: ast.AST, value: sp.Basic) -> None:
        """Limits again, on what SymPy combined, and on the estimated expansion."""
        size = self.sizes.size(value)
        if size.exponent > MAX_EXPONENT:
            raise self._error(
                node,
                f"the exponent is too large: SymPy combines the powers into "
                f"{_short(size.power)}, with exponent {size.exponent}, over the limit of "
                f"{MAX_EXPONENT}",
            )
        if size.degree > MAX_DEGREE or size.terms > MAX_TERMS:
            raise self._error(
                node,
                f"the expression is too large: expanded it has {size} (estimated without "
                f"expanding), over the limits of {MAX_TERMS} terms and degree {MAX_DEGREE}; "
                "factor it, or use fewer terms",
            )

    def _product(self, node: ast.BinOp, left: sp.MatrixBase, right: sp.MatrixBase) -> sp.Basic:
        if left.shape[1] != right.shape[0]:
            raise self._error(node, f"cannot multiply {_shape(left)} by {_shape(right)}")
        terms = self.sizes.product_terms(left, right)
        if terms > MAX_TERMS:
            raise self._error(
                node,
                f"this matrix product is too large: its expanded entries have about "
                f"{amount(terms)} terms in all ({_shape(left)} times {_shape(right)}), over the "
                f"limit of {MAX_TERMS}; multiply fewer or smaller matrices",
            )
        return sp.ImmutableMatrix(left * right)

    def _call(self, node: ast.Call) -> sp.Basic:
        name = node.func.id
        args = [self._build(argument) for argument in node.args]
        if name in _ELEMENTWISE:
            function = _ELEMENTWISE[name]
            (arg,) = args
            if isinstance(arg, sp.MatrixBase):
                return sp.ImmutableMatrix(arg.applyfunc(function))
            return function(arg)
        if len(args) == 1 and not isinstance(args[0], sp.MatrixBase):
            if name == "trace":
                raise self._error(node, "trace needs a square matrix, got a scalar")
            entries = list(args)
        elif len(args) == 1:
            entries = list(args[0])
            if name == "trace":
                if args[0].shape[0] != args[0].shape[1]:
                    raise self._error(node, f"trace needs a square matrix, got {_shape(args[0])}")
                return args[0].trace()
        else:
            if name in ("sum", "norm", "trace"):
                raise self._error(node, f"{name} takes one argument")
            if any(isinstance(arg, sp.MatrixBase) for arg in args):
                raise self._error(node, f"{name} takes one matrix or two or more scalars")
            entries = args
        if name == "sum":
            return sp.Add(*entries)
        if name == "norm":
            return sp.sqrt(sp.Add(*[entry**2 for entry in entries]))
        if name == "logsumexp":
            return sp.log(sp.Add(*[sp.exp(entry) for entry in entries]))
        return (sp.Max if name == "max" else sp.Min)(*entries)

    def _check_result(self, value: sp.Basic) -> None:
        entries = list(value) if isinstance(value, sp.MatrixBase) else [value]
        for entry in entries:
            if entry.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
                raise SpecFileError(
                    f"{self.where}: the expression is not finite ({_short(entry)}); "
                    "check for log(0) or division by zero"
                )
            if entry.has(sp.I):
                raise SpecFileError(
                    f"{self.where}: the expression is not real ({_short(entry)}); check "
                    "sqrt or log of negative numbers"
                )

    # -- errors -----------------------------------------------------------------
    def _error(self, node: ast.AST, reason: str, at: int | None = None) -> SpecFileError:
        located = getattr(node, "col_offset", None)  # a comprehension has no position
        offset = self.lead + (at if at is not None else located or 0)
        segment = ast.get_source_segment(self.text.replace("\n", " ")[self.lead :], node)
        token = _trim(segment or _snippet(self.text, offset))
        if at is not None:
            token = _trim(self.text[offset:].split()[0] if self.text[offset:].split() else "")
        return self._error_at(offset, repr(token), reason)

    def _error_at(self, offset: int, token: str, reason: str) -> SpecFileError:
        line = self.text.count("\n", 0, offset) + 1
        column = offset - (self.text.rfind("\n", 0, offset) + 1) + 1
        return SpecFileError(f"{self.where}, line {line}, column {column}: {reason} (at {token})")


# -- helpers --------------------------------------------------------------------


def _family(node: ast.AST) -> type | None:
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, _ADDITIVE):
            return ast.Add
        if isinstance(node.op, _MULTIPLICATIVE):
            return ast.Mult
    return None


def _chain(node: ast.BinOp) -> tuple[ast.AST, list]:
    """A left-nested chain a ∘ b ∘ c of one family as (a, [(node_b, b), (node_c, c)])."""
    family = _family(node)
    rest = []
    while _family(node) == family:
        rest.append((node, node.right))
        node = node.left
    rest.reverse()
    return node, rest


def _estimate_call(values: list) -> object:
    """Function values are not estimated: SymPy keeps exp(9) etc. unevaluated."""
    return _SYMBOLIC if any(v is _SYMBOLIC for v in values) else _UNKNOWN


def _scalar_if_1x1(value: sp.Basic) -> sp.Basic:
    if isinstance(value, sp.MatrixBase) and value.shape == (1, 1):
        return value[0, 0]
    return value


def _matrix_if_1x1(value: sp.Basic, other: sp.Basic) -> sp.Basic:
    """A scalar added to a 1×1 matrix becomes a 1×1 matrix (y − W₂W₁x stays a matrix)."""
    if isinstance(other, sp.MatrixBase) and other.shape == (1, 1):
        if not isinstance(value, sp.MatrixBase):
            return sp.ImmutableMatrix([[value]])
    return value


def _shape(value: sp.Basic) -> str:
    if isinstance(value, sp.MatrixBase):
        return f"a {value.shape[0]}×{value.shape[1]} matrix"
    return "a scalar"


def _op_name(op: ast.AST) -> str:
    names = {
        ast.Mod: "%",
        ast.FloorDiv: "//",
        ast.LShift: "<<",
        ast.RShift: ">>",
        ast.BitOr: "|",
        ast.BitXor: "^",
        ast.BitAnd: "&",
        ast.Invert: "~",
        ast.Not: "not",
    }
    return repr(names.get(type(op), type(op).__name__))


def _attr_offset(node: ast.Attribute) -> int:
    return node.end_col_offset - len(node.attr) - 1 if node.end_col_offset else node.col_offset


def _snippet(text: str, offset: int) -> str:
    return _trim(text[offset : offset + 20].split("\n")[0] or "end of expression")


def _trim(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _quoted(name: str) -> str:
    """A name from the expression, quoted and cut to 40 characters (a 9,000-character
    name is not echoed whole)."""
    return repr(_trim(name))


def _short(expr: sp.Basic) -> str:
    return _trim(sp.sstr(expr), 60)
