r"""SymPy matrix expressions → the NumPy/numba statements of one kernel body.

A kernel works on the layers as 2-D arrays. Products (``MatMul``) become
``np.dot`` in the cheapest order of the chain (the classical matrix-chain
recursion on the declared shapes, so ``W3 W2 W1 x`` is three matrix–vector
products); everything elementwise — sums, scalar·matrix, transposes,
``HadamardProduct``/``HadamardPower``, ``ElementwiseApplyFunction``,
``Identity``/``ZeroMatrix``/``OneMatrix`` — is printed entry by entry inside one
double loop, ``X[i, j]`` or ``X[j, i]`` for a transpose, the function of an entry
printed by :class:`~symnoether.numerics.kernel_source.FloatPrinter` (``math.tanh``,
ReLU as ``max``). A trace of a product is a loop too: ``tr(L R) = Σ_ij L[i, j] R[j, i]``,
so ``tr(XᵀY)`` never forms the product. (Loops, not NumPy array expressions: numba
compiles each array expression into a kernel of its own, several times slower to
compile than the loop, and a loop writes into ``out`` without temporaries.)

Common subexpressions are eliminated at the matrix level: a product is computed
once per kernel into a temporary ``c{k}`` (a product whose transpose was computed
before is read as that temporary's ``.T``), and an elementwise sub-tree used more
than once is computed once into an array. SymPy's element-wise :func:`sympy.cse`
is never run on matrix entries: nothing is expanded.

Names: arrays of the state are ``a{k}``, arrays of the parameter vector ``b{k}``,
scalar parameters ``p{i}`` (their offset in ``p``), time ``t``, loop indices
``i``/``j``; a symbol that is none of these is refused with
:class:`~symnoether.errors.InvalidInputError`.

Examples
--------
>>> import sympy as sp
>>> W, x = sp.MatrixSymbol("W", 3, 2), sp.MatrixSymbol("x", 2, 1)
>>> body = MatrixBody({W: "a0", x: "b0"}, {})
>>> body.scalar(sp.Trace(W.T * W) / 2)
'(0.5)*c0'
>>> body.write(W.T * W * x - x, 0)
>>> print("\n".join(body.lines))
c0 = 0.0
for i in range(3):
    for j in range(2):
        c0 += (a0[i, j])**2
c1 = np.dot(a0, b0)
c2 = np.dot(a0.T, c1)
for i in range(2):
    for j in range(1):
        out[0 + 1 * i + j] = -b0[i, j] + c2[i, j]
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.matexpr import MatrixElement

from ..errors import InvalidInputError, NotSupportedError
from .kernel_source import FloatPrinter

__all__ = ["MatrixBody", "chain_order", "split_product"]

_SETTINGS = {"standard": "python3", "strict": True}
_PLACEHOLDER = re.compile(r"\bE([0-9]+)\b")


def chain_order(shapes: list[tuple[int, int]], free=frozenset()) -> dict:
    """Split points of the cheapest evaluation of a chain of products with ``shapes``:
    ``{(i, j): k}`` meaning (F_i…F_k)(F_{k+1}…F_j), cost r·m·c per product; an
    interval in ``free`` (already computed) costs nothing.

    Examples
    --------
    >>> chain_order([(10, 64), (64, 64), (64, 32), (32, 1)])[(0, 3)]   # W3 (W2 (W1 x))
    0
    """
    n = len(shapes)
    cost = {(i, i): 0 for i in range(n)}
    split: dict = {}
    for length in range(2, n + 1):
        for i in range(n - length + 1):
            j = i + length - 1
            if (i, j) in free:
                cost[(i, j)], split[(i, j)] = 0, i
                continue
            best = None
            for k in range(i, j):
                c = cost[(i, k)] + cost[(k + 1, j)] + shapes[i][0] * shapes[k][1] * shapes[j][1]
                if best is None or c < best[0]:
                    best = (c, k)
            cost[(i, j)], split[(i, j)] = best
    return split


def _chain_cost(shapes) -> int:
    if len(shapes) < 2:
        return 0
    split = chain_order(shapes)

    def cost(i, j):
        if i == j:
            return 0
        k = split[(i, j)]
        return cost(i, k) + cost(k + 1, j) + shapes[i][0] * shapes[k][1] * shapes[j][1]

    return cost(0, len(shapes) - 1)


def split_product(expr) -> tuple[sp.Expr, list]:
    """(scalar coefficient, matrix factors) of a product, a power or one matrix.

    Examples
    --------
    >>> import sympy as sp
    >>> W = sp.MatrixSymbol("W", 2, 2)
    >>> split_product(-3 * W * W.T)
    (-3, [W, W.T])
    """
    if isinstance(expr, sp.MatPow):
        base, exponent = expr.args
        if not (exponent.is_Integer and exponent > 0):
            raise NotSupportedError(
                f"the matrix power {expr} has exponent {exponent}; kernels take positive "
                "integer powers (an inverse has no kernel translation)"
            )
        coefficient, factors = split_product(base)
        return coefficient ** int(exponent), factors * int(exponent)
    if isinstance(expr, sp.MatMul):
        coefficient, factors = expr.as_coeff_matrices()
        flat = []
        for factor in factors:
            extra, inner = split_product(factor) if isinstance(factor, sp.MatPow) else (1, [factor])
            coefficient *= extra
            flat.extend(inner)
        return coefficient, flat
    return sp.S.One, [expr]


def _transpose(factor: sp.MatrixExpr) -> sp.MatrixExpr:
    return factor.arg if isinstance(factor, sp.Transpose) else sp.Transpose(factor)


def _is_zero(expr) -> bool:
    return isinstance(expr, sp.ZeroMatrix) or (not isinstance(expr, sp.MatrixExpr) and expr == 0)


class MatrixBody:
    """The statements of one kernel body, built expression by expression.

    ``arrays`` maps each MatrixSymbol the kernel may read to its array variable
    (``a0``, ``b1``…), ``scalars`` each scalar Symbol to the Symbol it is printed as
    (``p3``, ``t``). :meth:`scalar` returns the code of a scalar expression and
    :meth:`write` writes a matrix expression row-major into ``out``, both appending
    to :attr:`lines` the temporaries and loops they need.
    """

    def __init__(self, arrays: Mapping, scalars: Mapping):
        self.arrays = dict(arrays)
        self.scalars = dict(scalars)
        self.lines: list[str] = []
        self._memo: dict = {}
        self._uses: dict = {}
        self._names = (f"c{k}" for k in itertools.count())
        self._places: dict[str, str] = {}
        self._codes: dict[str, str] = {}
        self._floats = FloatPrinter(_SETTINGS)

    # -- bookkeeping ----------------------------------------------------------------
    def count(self, exprs) -> None:
        """Count the uses of every sub-tree of ``exprs`` (all the kernel's outputs), so
        that an elementwise sub-tree used more than once is computed once."""
        stack = [sp.sympify(e) for e in exprs]
        while stack:
            node = stack.pop()
            if isinstance(node, sp.MatrixExpr) and not isinstance(node, sp.MatrixSymbol):
                self._uses[node] = self._uses.get(node, 0) + 1
            stack.extend(a for a in node.args if isinstance(a, sp.Basic))

    def _temp(self) -> str:
        return next(self._names)

    def _place(self, code: str) -> sp.Symbol:
        """A placeholder Symbol printed as ``code`` (an entry, an index test)."""
        name = self._codes.get(code)
        if name is None:
            name = self._codes[code] = f"E{len(self._places)}"
            self._places[name] = code
        return sp.Symbol(name)

    def _print(self, expr) -> str:
        """A scalar SymPy expression over placeholders and parameters, as code."""
        expr = sp.sympify(expr)
        known = {*self.scalars, *(sp.Symbol(n) for n in self._places)}
        stray = expr.free_symbols - known
        if stray:
            symbol = min(stray, key=sp.default_sort_key)
            raise InvalidInputError(
                f"a kernel would read the symbol {str(symbol)!r}, which is neither a layer, a "
                "velocity, a hyper-parameter, a constant of a law nor a data symbol of the "
                "system; declare it (e.g. as data) or substitute a value for it"
            )
        code = self._floats.doprint(expr.xreplace(self.scalars))
        return _PLACEHOLDER.sub(lambda m: self._places[m.group(0)], code)

    def _loop(self, rows: int, cols: int, statement: str) -> None:
        self.lines += [
            f"for i in range({rows}):",
            f"    for j in range({cols}):",
            f"        {statement}",
        ]

    # -- scalars --------------------------------------------------------------------
    def scalar(self, expr) -> str:
        """Code of a scalar expression: traces and 1×1 entries become temporaries."""
        return self._print(self._scalar(expr))

    def _scalar(self, expr) -> sp.Expr:
        expr = sp.sympify(expr)
        replaced = {}
        for node in sp.preorder_traversal(expr):
            if isinstance(node, (sp.Trace, MatrixElement)) and node not in replaced:
                replaced[node] = self._place(self._trace_or_entry(node))
        return expr.xreplace(replaced) if replaced else expr

    def _trace_or_entry(self, node) -> str:
        if node in self._memo:
            return self._memo[node]
        name = self._temp()
        if isinstance(node, MatrixElement):
            parent, i, j = node.args
            if not (i.is_Integer and j.is_Integer):
                raise NotSupportedError(
                    f"the entry {node} has a symbolic index; kernels take entries at fixed "
                    "positions only"
                )
            self.lines.append(f"{name} = {self._print(self._element(parent, str(i), str(j)))}")
        else:
            self.lines.append(f"{name} = 0.0")
            self._trace(node.arg, name, sp.S.One)
        self._memo[node] = name
        return name

    def _trace(self, arg: sp.MatrixExpr, into: str, scale: sp.Expr) -> None:
        """Append loops adding scale·tr(arg) to the scalar ``into``."""
        if isinstance(arg, sp.MatAdd):
            for term in arg.args:
                self._trace(term, into, scale)
            return
        if isinstance(arg, sp.Transpose):
            self._trace(arg.arg, into, scale)
            return
        coefficient, factors = split_product(arg)
        factors = [f for f in factors if not isinstance(f, sp.Identity)]
        scale = scale * self._scalar(coefficient)
        if any(_is_zero(f) for f in factors):
            return
        if not factors:
            self.lines.append(f"{into} += {self._print(scale * arg.shape[0])}")
            return
        if len(factors) == 1:
            (factor,) = factors
            if isinstance(factor, (sp.MatAdd, sp.Transpose)):
                self._trace(factor, into, scale)
                return
            element = self._element(factor, "i", "i")
            self.lines += [f"for i in range({factor.shape[0]}):",
                           f"    {into} += {self._print(scale * element)}"]  # fmt: skip
            return
        # tr(L R) = Σ_ij L[i, j] R[j, i], split where the two products are cheapest
        shapes = [tuple(int(n) for n in f.shape) for f in factors]
        k = min(range(1, len(factors)),
                key=lambda k: _chain_cost(shapes[:k]) + _chain_cost(shapes[k:]))  # fmt: skip
        left, right = _product(factors[:k]), _product(factors[k:])
        rows, cols = shapes[0][0], shapes[k - 1][1]
        if isinstance(left, sp.Transpose):  # tr(Xᵀ R) = Σ X ∘ R, in X's row-major order
            term = self._element(left.arg, "i", "j") * self._element(right, "i", "j")
            rows, cols = cols, rows
        elif isinstance(right, sp.Transpose):  # tr(L Yᵀ) = Σ L ∘ Y
            term = self._element(left, "i", "j") * self._element(right.arg, "i", "j")
        else:
            term = self._element(left, "i", "j") * self._element(right, "j", "i")
        self._loop(rows, cols, f"{into} += {self._print(scale * term)}")

    # -- matrices -------------------------------------------------------------------
    def write(self, expr, offset: int) -> None:
        """Write ``expr`` row-major into ``out`` from ``offset``."""
        rows, cols = (int(n) for n in expr.shape)
        if _is_zero(expr):
            self.lines.append(f"out[{offset}:{offset + rows * cols}] = 0.0")
            return
        element = self._print(self._element(expr, "i", "j"))
        self._loop(rows, cols, f"out[{offset} + {cols} * i + j] = {element}")

    def _element(self, expr, i: str, j: str) -> sp.Expr:
        """Entry (i, j) of ``expr`` as a scalar expression over placeholders."""
        if expr in self.arrays:
            return self._place(f"{self.arrays[expr]}[{i}, {j}]")
        if isinstance(expr, sp.MatrixSymbol):
            self._print(sp.Symbol(str(expr.name)))  # refused: not a symbol of the system
        if isinstance(expr, sp.Transpose):
            return self._element(expr.arg, j, i)
        if expr in self._memo:
            return self._place(_entry(self._memo[expr], i, j))
        if self._uses.get(expr, 0) > 1 and not _cheap(expr):
            return self._place(_entry(self._array(expr), i, j))
        if isinstance(expr, sp.ZeroMatrix):
            return sp.S.Zero
        if isinstance(expr, sp.OneMatrix):
            return sp.S.One
        if isinstance(expr, sp.Identity):
            return self._place(f"(1.0 if {i} == {j} else 0.0)")
        if isinstance(expr, sp.MatAdd):
            return sp.Add(*(self._element(term, i, j) for term in expr.args))
        if isinstance(expr, (sp.MatMul, sp.MatPow)):
            coefficient, factors = split_product(expr)
            factors = [f for f in factors if not isinstance(f, sp.Identity)]
            if any(_is_zero(f) for f in factors):
                return sp.S.Zero
            scale = self._scalar(coefficient)
            if not factors:
                return scale * self._place(f"(1.0 if {i} == {j} else 0.0)")
            if len(factors) == 1:
                return scale * self._element(factors[0], i, j)
            return scale * self._place(_entry(self._chain(factors), i, j))
        if isinstance(expr, sp.HadamardProduct):
            return sp.Mul(*(self._element(a, i, j) for a in expr.args))
        if isinstance(expr, sp.HadamardPower):
            base, exponent = expr.args
            return self._element(base, i, j) ** self._scalar(exponent)
        if isinstance(expr, ElementwiseApplyFunction):
            function = expr.function
            if not isinstance(function, sp.Lambda):
                dummy = sp.Dummy("d")
                function = sp.Lambda(dummy, function(dummy))
            (variable,), body = function.variables, function.expr
            return self._scalar(body).xreplace({variable: self._element(expr.expr, i, j)})
        raise NotSupportedError(
            f"the matrix expression {expr} ({type(expr).__name__}) has no kernel "
            "translation; kernels take products, sums, transposes, traces, Hadamard "
            "products and elementwise functions of layers"
        )

    def _array(self, expr) -> str:
        """A 2-D array variable holding ``expr`` (``name.T`` for a transposed one)."""
        if expr in self.arrays:
            return self.arrays[expr]
        if isinstance(expr, sp.Transpose):
            return _flip(self._array(expr.arg))
        if expr in self._memo:
            return self._memo[expr]
        if isinstance(expr, sp.MatMul):
            coefficient, factors = split_product(expr)
            if coefficient == 1 and len(factors) > 1 and not any(map(_is_zero, factors)):
                return self._chain(factors)
        rows, cols = (int(n) for n in expr.shape)
        element = self._print(self._element_fresh(expr))
        name = self._temp()
        self.lines.append(f"{name} = np.empty(({rows}, {cols}))")
        self._loop(rows, cols, f"{name}[i, j] = {element}")
        self._memo[expr] = name
        return name

    def _element_fresh(self, expr) -> sp.Expr:
        """Entry (i, j) of ``expr`` computed from its parts (not from its own temporary)."""
        uses = self._uses.pop(expr, 0)
        try:
            return self._element(expr, "i", "j")
        finally:
            self._uses[expr] = uses

    def _chain(self, factors: list) -> str:
        """The product F_0…F_n in the cheapest order, reusing any sub-product (or its
        transpose) computed before; returns its variable (``c3`` or ``c3.T``)."""
        n = len(factors)
        free = {
            (i, j)
            for i in range(n)
            for j in range(i + 1, n)
            if self._known(factors[i : j + 1]) is not None
        }
        split = chain_order([tuple(int(d) for d in f.shape) for f in factors], free)

        def build(i, j):
            if i == j:
                return self._array(factors[i])
            known = self._known(factors[i : j + 1])
            if known is not None:
                return known
            k = split[(i, j)]
            left, right = build(i, k), build(k + 1, j)
            name = self._temp()
            self.lines.append(f"{name} = np.dot({left}, {right})")
            self._memo[("chain", tuple(factors[i : j + 1]))] = name
            return name

        return build(0, n - 1)

    def _known(self, factors: list) -> str | None:
        key = ("chain", tuple(factors))
        if key in self._memo:
            return self._memo[key]
        flipped = ("chain", tuple(_transpose(f) for f in reversed(factors)))
        if flipped in self._memo:
            return f"{self._memo[flipped]}.T"
        return None


def _product(factors: list) -> sp.MatrixExpr:
    return factors[0] if len(factors) == 1 else sp.MatMul(*factors)


def _flip(name: str) -> str:
    return name[:-2] if name.endswith(".T") else f"{name}.T"


def _entry(name: str, i: str, j: str) -> str:
    return f"{name[:-2]}[{j}, {i}]" if name.endswith(".T") else f"{name}[{i}, {j}]"


def _cheap(expr) -> bool:
    """Leaves, transposes of leaves and scalar multiples of products (the product is a
    temporary already): read in place, never copied."""
    while isinstance(expr, sp.Transpose):
        expr = expr.arg
    if isinstance(expr, (sp.MatMul, sp.MatPow)):
        return len(split_product(expr)[1]) > 1
    return isinstance(expr, (sp.MatrixSymbol, sp.Identity, sp.ZeroMatrix, sp.OneMatrix))
