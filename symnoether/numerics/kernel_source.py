'''SymPy expressions → the Python source of one numba kernel function.

Every number is printed as a float (numba unifies the types of branches and
arguments, so ``Piecewise(0, …)`` next to ``x*y`` must not mix int and float),
``Heaviside``, ``sign``, ``Max``/``Min`` become expressions numba compiles
(``Heaviside(0)`` is 0 unless the loss says otherwise, ``DiracDelta`` is 0: the laws
hold almost everywhere), and common subexpressions are eliminated with
:func:`sympy.cse`.

Names chosen by the user never reach the code as identifiers: the kernels read
``y{i}``/``p{i}`` from their arrays, and a symbol's own name appears only in
comments and docstrings, through :func:`source_label`, which keeps no line
break, quote or backslash. :func:`check_kernel_source` then parses the kernels
and refuses any statement, name, attribute or call other than the generator's
own (assignments and returns of arithmetic on those variables, ``math``
functions, ``max``/``min``/``abs``).

Examples
--------
>>> import sympy as sp
>>> x = sp.Symbol("y0")
>>> printer = FloatPrinter({"standard": "python3", "strict": True})
>>> printer.doprint(sp.Heaviside(x) + x / 2 + 1)
'(0.5)*y0 + (1.0 if y0 > 0.0 else 0.0) + 1.0'
>>> source_label("k\\nimport os")  # a line break cannot end a comment
'k<U+000A>import os'
>>> print(kernel_function(printer, "f", "y, p", [sp.Max(0, x) ** 2], "ReLU squared", 1, 0,
...                       True, ("y", "p")))
@jit
def f(y, p):
    """ReLU squared."""
    y0 = y[0]
    return (max(0.0, y0))**2
<BLANKLINE>
'''

from __future__ import annotations

import ast
import hashlib
import inspect
import math
import re
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from ..errors import BudgetExceededError, InvalidInputError, NotSupportedError

__all__ = [
    "FloatPrinter", "kernel_function", "source_label", "check_kernel_source", "KERNEL_NAMES",
    "ARRAY_CALLS", "driver_source", "drivers_fingerprint", "numba_version", "RightHandSide",
    "checked_laws",
]  # fmt: skip

KERNEL_NAMES = frozenset(
    "rhs loss potential grad loss_grad charge rate inv_tau metric phi psi mpsi".split()
    + "NS NQ NP NL".split()
)
"""The kernels (and constants) of every generated module, scalar or matrix."""

ADD_GROUP = 100
"""The most terms :class:`FloatPrinter` prints in one flat sum (Python's parser nests a
flat sum one level per term)."""


class FloatPrinter(PythonCodePrinter):
    """Python printer whose numbers are floats (numba unifies branches and args)."""

    def _print_Integer(self, expr):
        return f"{int(expr)}.0"

    def _print_Rational(self, expr):
        return f"({int(expr.p)}.0/{int(expr.q)}.0)"

    def _print_Half(self, expr):
        return "0.5"

    def _print_Zero(self, expr):
        return "0.0"

    def _print_One(self, expr):
        return "1.0"

    def _print_NegativeOne(self, expr):
        return "(-1.0)"

    def _print_Float(self, expr):
        return repr(float(expr))

    def _print_Add(self, expr, order=None):
        # Python parses a + b + c + … as a left-nested tree, and compile()/ast.parse
        # refuse one a few thousand terms deep (RecursionError): a long sum is printed
        # in parenthesised groups of at most ADD_GROUP terms, groups of groups beyond
        terms = self._as_ordered_terms(expr, order=order)
        if len(terms) <= ADD_GROUP:
            return super()._print_Add(expr, order=order)
        parts = [super(FloatPrinter, self)._print_Add(sp.Add(*terms[i : i + ADD_GROUP],
                 evaluate=False)) for i in range(0, len(terms), ADD_GROUP)]  # fmt: skip
        while len(parts) > ADD_GROUP:
            parts = [" + ".join(f"({s})" for s in parts[i : i + ADD_GROUP])
                     for i in range(0, len(parts), ADD_GROUP)]  # fmt: skip
        return " + ".join(f"({s})" for s in parts)

    def _print_Pow(self, expr, rational=False):
        base, exponent = expr.as_base_exp()
        b = self.parenthesize(base, 1000)
        if exponent.is_Integer:
            n = int(exponent)
            if n == -1:
                return f"(1.0/{b})"
            if n >= 0:
                return f"{b}**{n}"
            return f"(1.0/{b}**{-n})"
        if exponent == sp.S.Half:
            return f"math.sqrt({self._print(base)})"
        if exponent == -sp.S.Half:
            return f"(1.0/math.sqrt({self._print(base)}))"
        return f"{b}**{self.parenthesize(exponent, 1000)}"

    def _print_Heaviside(self, expr):
        # H(0) = 0, the ReLU gradient of the common frameworks, for SymPy's default
        # Heaviside(x) (stored as Heaviside(x, 1/2)); another H0 written in the loss,
        # Heaviside(x, 1) or Heaviside(x, 0.5) (a Float), is kept.
        x = self._print(expr.args[0])
        if len(expr.args) < 2 or expr.args[1] is sp.S.Half:
            return f"(1.0 if {x} > 0.0 else 0.0)"
        at_zero = self._print(expr.args[1])
        return f"(1.0 if {x} > 0.0 else ({at_zero} if {x} == 0.0 else 0.0))"

    def _print_DiracDelta(self, expr):
        return "0.0"

    def _print_Max(self, expr):
        return "max(" + ", ".join(self._print(a) for a in expr.args) + ")"

    def _print_Min(self, expr):
        return "min(" + ", ".join(self._print(a) for a in expr.args) + ")"

    def _print_sign(self, expr):
        x = self._print(expr.args[0])
        return f"(0.0 if {x} == 0.0 else math.copysign(1.0, {x}))"

    def _print_BooleanTrue(self, expr):
        return "True"

    def _print_BooleanFalse(self, expr):
        return "False"


class RightHandSide:
    """``fun`` and ``bind`` of a compiled kernel module (``self.module.rhs``), shared by
    :class:`~symnoether.numerics.codegen.Kernels` and
    :class:`~symnoether.numerics.matrix_kernels.MatrixKernels`, which supply ``module``,
    ``state`` and ``pack``."""

    def fun(self, t: float, y: np.ndarray, params: Mapping | np.ndarray | None = None):
        """ẏ = F(t, y) as a new array (``solve_ivp``'s signature once params are bound).

        Use ``functools.partial(kernels.fun, params=...)`` or :meth:`bind`.
        """
        p = params if isinstance(params, np.ndarray) else self.pack(params)
        out = np.empty(len(self.state))
        self.module.rhs(float(t), np.ascontiguousarray(y, dtype=np.float64), p, out)
        return out

    def bind(self, params: Mapping | np.ndarray) -> Callable:
        """``fun(t, y)`` with the parameters bound, for ``scipy.integrate.solve_ivp``.

        Examples
        --------
        >>> import sympy as sp, symnoether as sn
        >>> from symnoether.numerics.codegen import compile_kernels
        >>> (q,) = sn.coordinates("q")
        >>> flow = sn.LearningSystem((q,), q**2 / 2, rule=sn.rules.gradient_flow())
        >>> compile_kernels(flow, backend="numpy").bind({})(0.0, [3.0]).tolist()
        [-3.0]
        """
        p = params if isinstance(params, np.ndarray) else self.pack(params)
        rhs, n = self.module.rhs, len(self.state)

        def fun(t, y):
            out = np.empty(n)
            rhs(float(t), np.ascontiguousarray(y, dtype=np.float64), p, out)
            return out

        return fun


def checked_laws(system: object, laws: object, kind: type, hint: str) -> tuple:
    """``laws`` (one law or a sequence) as a tuple, each a ``kind`` derived for ``system``;
    :class:`InvalidInputError` otherwise (``hint`` names how to make one)."""
    laws = (laws,) if isinstance(laws, kind) else tuple(laws)
    for law in laws:
        if not isinstance(law, kind):
            raise InvalidInputError(f"{law!r} is not a {kind.__name__}; pass laws made by {hint}")
        if law.system != system:
            raise InvalidInputError(
                "a law was derived for another system; compile each system with its own "
                "laws (sn.noether(system, generator))"
            )
    return laws


def kernel_function(printer, name, args, exprs, doc, ns, np_, scalar, uses, cse=None) -> str:
    """The source of kernel ``name(args)``: ``y{i}``/``p{i}`` read from ``y`` and ``p``
    (only those used), common subexpressions ``c{k}``, then ``out[i] = …`` for each of
    ``exprs`` (or ``return`` when ``scalar``). ``cse(exprs)`` → (replacements, reduced)
    with symbols ``c{k}``, SymPy's ``cse`` by default."""
    try:
        if cse is not None:
            replacements, reduced = cse(exprs)
        else:
            replacements, reduced = sp.cse(
                exprs, symbols=sp.numbered_symbols("c"), optimizations=None
            )
    except (TypeError, ValueError) as err:  # pragma: no cover - defensive
        raise NotSupportedError(f"common-subexpression elimination failed in {name}: {err}")
    lines = ["@jit", f"def {name}({args}):", f'    """{doc}."""']
    needed = set()
    for expr in [*(e for _, e in replacements), *reduced]:
        needed |= {s.name for s in sp.sympify(expr).free_symbols}
    if "y" in uses:
        lines += [f"    y{i} = y[{i}]" for i in range(ns) if f"y{i}" in needed]
    lines += [f"    p{i} = p[{i}]" for i in range(np_) if f"p{i}" in needed]
    try:
        for symbol, expr in replacements:
            lines.append(f"    {symbol} = {printer.doprint(expr)}")
        if scalar:
            lines.append(f"    return {printer.doprint(reduced[0])}")
        else:
            lines += [f"    out[{i}] = {printer.doprint(e)}" for i, e in enumerate(reduced)]
    except BudgetExceededError:
        raise
    except Exception as err:  # the printer's own error types vary between SymPy versions
        raise NotSupportedError(
            f"cannot translate an expression of kernel {name!r} to numeric code ({err}); "
            "rewrite the loss with elementary functions, Abs, Max/Min, Heaviside or Piecewise"
        ) from None
    return "\n".join(lines) + "\n"


_LABEL_PUNCTUATION = frozenset(" _,.;:'()[]{}^+-*/<>=|!?&~@$%#")


def source_label(name: str) -> str:
    """``name`` as generated source may show it in a comment or a docstring: letters,
    digits and plain punctuation kept, every other character (line breaks, quotes,
    backslashes, control and formatting characters) written as ``<U+XXXX>``.

    Examples
    --------
    >>> source_label("W_1,2"), source_label("θ'")
    ('W_1,2', "θ'")
    >>> source_label('a"b\\\\c')
    'a<U+0022>b<U+005C>c'
    """
    return "".join(
        ch if ch.isalnum() or ch in _LABEL_PUNCTUATION else f"<U+{ord(ch):04X}>" for ch in name
    )


_VARIABLE = re.compile(r"[ypc][0-9]+\Z")
_ARRAY_VARIABLE = re.compile(r"[ypcab][0-9]+\Z")
_CONSTANTS = frozenset({"NS", "NQ", "NP", "NL"})
_NAMES = _CONSTANTS | {"t", "y", "p", "out", "math", "jit", "max", "min", "abs", "float"}
_CALLS = frozenset({"max", "min", "abs", "float"})
_NODES = (
    ast.Module, ast.FunctionDef, ast.arguments, ast.arg, ast.Expr, ast.Assign, ast.Return,
    ast.Name, ast.Load, ast.Store, ast.Constant, ast.Subscript, ast.Attribute, ast.Call,
    ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.operator, ast.unaryop,
    ast.boolop, ast.cmpop,
)  # fmt: skip
ARRAY_CALLS = frozenset({"dot", "ascontiguousarray", "empty"})
"""The ``np`` functions matrix kernels call (:mod:`~symnoether.numerics.matrix_printer`)."""
_ARRAY_ATTRIBUTES = frozenset({"T", "reshape"})
_ARRAY_NODES = (ast.Slice, ast.Tuple, ast.For, ast.AugAssign)
_ARRAY_NAMES = frozenset({"np", "i", "j", "range"})


def check_kernel_source(source: str, kernels: frozenset | set, *, arrays: bool = False) -> None:
    """Refuse generated kernel source that does anything but the generator's own work.

    Allowed: ``NS``/``NQ``/``NP``/``NL`` = an integer, and functions named in
    ``kernels``, decorated ``@jit``, whose bodies are a docstring, assignments and
    a return, built from constants, arithmetic, comparisons, conditional
    expressions, the variables ``t, y, p, out, y{i}, p{i}, c{k}``, ``math.<name>``
    and calls of ``max``, ``min``, ``abs``, ``float`` and ``math`` functions.
    With ``arrays`` (matrix kernels) also: the array variables ``a{k}``, ``b{k}``,
    slices and tuples, loops ``for i in range(<int>)`` (``i`` or ``j``),
    ``c{k} += …``, the functions ``np.<name>`` in :data:`ARRAY_CALLS`, and the
    array attributes ``.T`` and ``.reshape(<integers>)``; nothing else of ``np``,
    and no attribute of anything but ``np`` and ``math`` other than those two.
    Raises :class:`NotSupportedError` naming what else was found.

    Examples
    --------
    >>> check_kernel_source("@jit\\ndef f(y, p):\\n    return math.exp(y[0])\\n", {"f"})
    >>> check_kernel_source("@jit\\ndef f(y, p):\\n    return open('x')\\n", {"f"})
    Traceback (most recent call last):
    ...
    symnoether.errors.NotSupportedError: the generated kernel source calls 'open' at line 3, ...
    >>> matrix = "@jit\\ndef f(y):\\n    a0 = y[0:4].reshape((2, 2))\\n    return np.dot(a0, a0)\\n"
    >>> check_kernel_source(matrix, {"f"}, arrays=True)
    >>> check_kernel_source(matrix.replace("np.dot", "np.load"), {"f"}, arrays=True)
    Traceback (most recent call last):
    ...
    symnoether.errors.NotSupportedError: the generated kernel source calls 'np.load' at line 4, ...
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        _refuse(f"does not parse ({err.msg}, line {err.lineno})")
    for statement in tree.body:
        if isinstance(statement, ast.Assign):
            (target,) = statement.targets
            if not (
                isinstance(target, ast.Name)
                and target.id in _CONSTANTS
                and isinstance(statement.value, ast.Constant)
                and type(statement.value.value) is int
            ):
                _refuse(f"has the module-level assignment at line {statement.lineno}")
        elif isinstance(statement, ast.FunctionDef):
            decorators = [d.id for d in statement.decorator_list if isinstance(d, ast.Name)]
            if statement.name not in kernels or decorators != ["jit"]:
                _refuse(f"defines {statement.name!r} at line {statement.lineno}")
        else:
            _refuse(f"has a {type(statement).__name__} statement at line {statement.lineno}")
    names = _NAMES | _ARRAY_NAMES if arrays else _NAMES
    variable = _ARRAY_VARIABLE if arrays else _VARIABLE
    nodes = _NODES + _ARRAY_NODES if arrays else _NODES
    for node in ast.walk(tree):
        if not isinstance(node, nodes):
            _refuse(f"has a {type(node).__name__} at line {getattr(node, 'lineno', '?')}")
        if isinstance(node, ast.Name) and not (node.id in names or variable.match(node.id)):
            _refuse(f"uses the name {node.id!r} at line {node.lineno}")
        elif isinstance(node, ast.Attribute) and not _allowed_attribute(node, arrays):
            _refuse(f"uses the attribute {node.attr!r} at line {node.lineno}")
        elif isinstance(node, ast.Call) and (node.keywords or not _allowed_call(node, arrays)):
            _refuse(f"calls {ast.unparse(node.func)[:60]!r} at line {node.lineno}")
        elif isinstance(node, ast.Expr) and not (
            isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        ):
            _refuse(f"has an expression statement at line {node.lineno}")
        elif isinstance(node, ast.For) and not _allowed_loop(node):
            _refuse(f"has a loop other than 'for i/j in range(n)' at line {node.lineno}")
        elif isinstance(node, ast.AugAssign) and not (
            isinstance(node.op, ast.Add)
            and isinstance(node.target, ast.Name)
            and _VARIABLE.match(node.target.id)
        ):
            _refuse(f"has an augmented assignment other than 'c{{k}} += ...' at line {node.lineno}")


def _allowed_loop(node: ast.For) -> bool:
    """``for i in range(<int>):`` (or ``j``), without ``else``."""
    bound = node.iter
    return (
        isinstance(node.target, ast.Name)
        and node.target.id in ("i", "j")
        and not node.orelse
        and isinstance(bound, ast.Call)
        and getattr(bound.func, "id", None) == "range"
        and len(bound.args) == 1
        and isinstance(bound.args[0], ast.Constant)
        and type(bound.args[0].value) is int
    )


def _allowed_attribute(node: ast.Attribute, arrays: bool) -> bool:
    owner = node.value.id if isinstance(node.value, ast.Name) else None
    if owner == "math":
        return not node.attr.startswith("_") and hasattr(math, node.attr)
    if not arrays:
        return False
    if owner == "np":
        return node.attr in ARRAY_CALLS or node.attr == "nan"
    return owner not in ("math", "np") and node.attr in _ARRAY_ATTRIBUTES


def _allowed_call(node: ast.Call, arrays: bool) -> bool:
    function = node.func
    if isinstance(function, ast.Name):
        return function.id in _CALLS or (arrays and function.id == "range")
    if not isinstance(function, ast.Attribute):
        return False
    if not arrays or function.attr != "reshape":
        owner = getattr(function.value, "id", None)
        return owner == "math" or (arrays and owner == "np" and function.attr in ARRAY_CALLS)
    # x.reshape((r, c)): one tuple of integer constants
    (shape,) = node.args if len(node.args) == 1 else (None,)
    return isinstance(shape, ast.Tuple) and all(
        isinstance(item, ast.Constant) and type(item.value) is int for item in shape.elts
    )


def _refuse(what: str):
    raise NotSupportedError(
        f"the generated kernel source {what}, which the code generator never writes; "
        "nothing was executed. Please report this with the system that produced it"
    )


# -- drivers copied into every kernel module ------------------------------------------


def driver_source(function: Callable) -> str:
    """The source of a driver, decorated ``@jit`` (``@pjit`` when named ``*_parallel``)."""
    source = textwrap.dedent(inspect.getsource(function))
    decorator = "@pjit" if function.__name__.endswith("_parallel") else "@jit"
    return f"\n{decorator}\n{source}"


def drivers_fingerprint(drivers: Sequence[Callable]) -> str:
    """Names of the drivers and the hashes of the files that define them (reading a
    file is cheaper than ``inspect.getsource``); the source itself for a driver
    without a file."""
    parts = []
    for function in drivers:
        path = getattr(sys.modules.get(function.__module__), "__file__", None)
        identity = f"{function.__module__}.{function.__qualname__}"
        parts.append(f"{identity} {file_hash(path)}" if path else driver_source(function))
    return "\n".join(parts)


@lru_cache(maxsize=32)
def file_hash(path: str) -> str:
    """SHA-256 of a file's bytes (memoized per process)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def numba_version() -> str:
    """numba's version, or ``'none'`` without numba."""
    try:
        import numba

        return numba.__version__
    except ImportError:  # pragma: no cover
        return "none"
