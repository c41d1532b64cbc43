r"""Values of matrix expressions at sample matrices: exactly, at integer and rational
matrices (to decide that a breaking term vanishes where trace-cyclic canonical forms
cannot, e.g. through an elementwise ReLU), and in double precision (to see at once
that a term does not vanish). The same tree walk as :mod:`symnoether.core.matrices`:
products, sums, transposes, traces, Hadamard products, elementwise functions,
inverses, diagonal matrices; never expanded into entries.

Examples
--------
>>> import numpy as np
>>> import sympy as sp
>>> W = sp.MatrixSymbol("W", 3, 3)
>>> relu = W.applyfunc(sp.Lambda(sp.Symbol("z"), sp.Max(0, sp.Symbol("z"))))
>>> w = np.array([[1, -2, 3], [0, 5, -1], [2, 2, -7]], dtype=object)
>>> exact_value(sp.Trace(relu), {W: w})
Fraction(6, 1)
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

import numpy as np
import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.matexpr import MatrixElement

from ..errors import NotSupportedError

__all__ = ["exact_value", "float_value", "InexactValueError"]


class InexactValueError(NotSupportedError):
    """An expression whose value at rational points is not rational (tanh, √2, e^t):
    exact evaluation cannot decide it."""


def exact_value(expr: object, values: Mapping):
    """The exact value of a scalar or matrix expression at rational matrices.

    ``values`` maps each MatrixSymbol to a NumPy object array of ``int``/``Fraction``
    and each scalar Symbol to an ``int``/``Fraction``. Scalars come back as
    ``Fraction``, matrices as object arrays. Products run in the cheaper direction
    (matrix–vector chains stay matrix–vector).

    Raises
    ------
    InexactValueError
        A value is not rational (an elementwise ``tanh``, a ``sqrt`` of a non-square).

    Examples
    --------
    >>> import numpy as np
    >>> from fractions import Fraction
    >>> W, x = sp.MatrixSymbol("W", 2, 2), sp.MatrixSymbol("x", 2, 1)
    >>> w = np.array([[1, 2], [3, 4]], dtype=object)
    >>> v = np.array([[1], [-1]], dtype=object)
    >>> exact_value(sp.Trace(x.T * W * x) / 3, {W: w, x: v})
    Fraction(0, 1)
    """
    return _Exact(values).of(sp.sympify(expr))


class _Exact:
    def __init__(self, values: Mapping):
        self.values = dict(values)

    def coefficient(self, value: Fraction) -> Fraction | int:
        return value.numerator if value.denominator == 1 else value

    def of(self, expr):
        if isinstance(expr, sp.MatrixExpr | sp.MatrixBase):
            return self.matrix(expr)
        return self.scalar(expr)

    def scalar(self, expr: sp.Basic):
        if expr in self.values:
            return Fraction(self.values[expr])
        if isinstance(expr, sp.Rational):
            return Fraction(int(expr.p), int(expr.q))
        if isinstance(expr, sp.Trace):
            value = self.matrix(expr.arg)
            return sum((value[k, k] for k in range(value.shape[0])), Fraction(0))
        if isinstance(expr, MatrixElement):
            return Fraction(self.matrix(expr.parent)[int(expr.i), int(expr.j)])
        if isinstance(expr, sp.Add):
            return sum((self.scalar(a) for a in expr.args), Fraction(0))
        if isinstance(expr, sp.Mul):
            out = Fraction(1)
            for a in expr.args:
                out *= self.scalar(a)
            return out
        if isinstance(expr, sp.Pow) and expr.exp.is_Integer:
            return self.scalar(expr.base) ** int(expr.exp)
        if expr.args and not isinstance(expr, sp.MatrixExpr):
            args = [
                sp.Rational(self.scalar(a).numerator, self.scalar(a).denominator) for a in expr.args
            ]
            return _rational(expr.func(*args), expr)
        raise InexactValueError(f"no exact value for {expr} ({type(expr).__name__})")

    def matrix(self, expr):
        if expr in self.values:
            return np.asarray(self.values[expr], dtype=object)
        rows, cols = (int(d) for d in expr.shape)
        if isinstance(expr, sp.ZeroMatrix):
            return np.full((rows, cols), 0, dtype=object)
        if isinstance(expr, sp.Identity):
            out = np.full((rows, cols), 0, dtype=object)
            for k in range(rows):
                out[k, k] = 1
            return out
        if isinstance(expr, sp.MatrixBase):
            return np.array(
                [[self.scalar(sp.sympify(e)) for e in row] for row in expr.tolist()], dtype=object
            )
        if isinstance(expr, sp.Transpose):
            return self.matrix(expr.arg).T
        if isinstance(expr, sp.MatAdd):
            out = self.matrix(expr.args[0])
            for a in expr.args[1:]:
                out = out + self.matrix(a)
            return out
        if isinstance(expr, sp.MatMul):
            coefficient, factors = expr.as_coeff_matrices()
            arrays = [self.matrix(f) for f in factors]
            if coefficient != 1:  # into the smallest factor
                k = min(range(len(arrays)), key=lambda i: arrays[i].size)
                arrays[k] = arrays[k] * self.coefficient(self.scalar(coefficient))
            return _chain(arrays)
        if isinstance(expr, sp.HadamardProduct):
            out = self.matrix(expr.args[0])
            for a in expr.args[1:]:
                out = out * self.matrix(a)
            return out
        if isinstance(expr, sp.HadamardPower) and expr.exp.is_Integer and expr.exp >= 0:
            return self.matrix(expr.base) ** int(expr.exp)
        if isinstance(expr, sp.MatPow) and expr.exp.is_Integer and expr.exp > 0:
            return self.matrix(sp.MatMul(*[expr.base] * int(expr.exp)))
        if isinstance(expr, sp.Inverse):
            return self.inverse(self.matrix(expr.arg))
        if isinstance(expr, ElementwiseApplyFunction):
            return self.elementwise(expr, self.matrix(expr.expr))
        name = type(expr).__name__
        if name == "DiagMatrix":
            vector = self.matrix(expr.args[0]).reshape(-1)
            out = np.full((len(vector), len(vector)), 0, dtype=object)
            for k, v in enumerate(vector):
                out[k, k] = v
            return out
        if name == "DiagonalOf":
            inner = self.matrix(expr.args[0])
            return inner.diagonal().reshape(-1, 1).copy()
        if name == "DiagonalMatrix":
            inner = self.matrix(expr.args[0])
            out = np.full(inner.shape, 0, dtype=object)
            for k in range(min(inner.shape)):
                out[k, k] = inner[k, k]
            return out
        raise InexactValueError(f"no exact value for the matrix expression {expr} ({name})")

    def inverse(self, array: np.ndarray) -> np.ndarray:
        inverse = sp.Matrix(array.tolist()).inv()
        return self.matrix(sp.ImmutableMatrix(inverse))

    def elementwise(self, expr: ElementwiseApplyFunction, inner: np.ndarray) -> np.ndarray:
        f = expr.function
        out = np.empty(inner.shape, dtype=object)
        for index, entry in np.ndenumerate(inner):
            entry = Fraction(entry)
            out[index] = _rational(f(sp.Rational(entry.numerator, entry.denominator)), expr)
        return out


class _Float(_Exact):
    """The same walk in double precision (to find a nonzero value cheaply)."""

    def coefficient(self, value: float) -> float:
        return value

    def scalar(self, expr: sp.Basic) -> float:
        if expr in self.values:
            return float(self.values[expr])
        if isinstance(expr, sp.Number):
            return float(expr)
        if isinstance(expr, sp.Trace):
            return float(np.trace(self.matrix(expr.arg)))
        if isinstance(expr, sp.Add):
            return float(sum(self.scalar(a) for a in expr.args))
        if isinstance(expr, sp.Mul):
            return float(np.prod([self.scalar(a) for a in expr.args]))
        if isinstance(expr, sp.Pow):
            return float(self.scalar(expr.base) ** self.scalar(expr.exp))
        if expr.args and not isinstance(expr, sp.MatrixExpr):
            value = expr.func(*[sp.Float(self.scalar(a)) for a in expr.args]).evalf()
            if not value.is_real:
                raise InexactValueError(f"{expr} is not real at the sample point")
            return float(value)
        raise InexactValueError(f"no value for {expr} ({type(expr).__name__})")

    def matrix(self, expr):
        if expr in self.values:
            return np.asarray(self.values[expr], dtype=float)
        if isinstance(expr, sp.ZeroMatrix | sp.Identity | sp.MatrixBase):
            exact = super().matrix(expr)
            return np.array([[float(e) for e in row] for row in exact], dtype=float)
        return np.asarray(super().matrix(expr), dtype=float)

    def inverse(self, array: np.ndarray) -> np.ndarray:
        return np.linalg.inv(array)

    def elementwise(self, expr: ElementwiseApplyFunction, inner: np.ndarray) -> np.ndarray:
        f = sp.lambdify(expr.function.variables, expr.function.expr, modules=["math", "sympy"])
        return np.vectorize(lambda v: float(f(v)), otypes=[float])(inner)


def float_value(expr: object, values: Mapping):
    """The value of a scalar or matrix expression in double precision (same walk as
    :func:`exact_value`; ``values`` hold NumPy float arrays and floats).

    Examples
    --------
    >>> import numpy as np
    >>> W = sp.MatrixSymbol("W", 2, 2)
    >>> float_value(sp.Trace(W.T * W), {W: np.eye(2)})
    2.0
    """
    return _Float(values).of(sp.sympify(expr))


def _rational(value: sp.Basic, where: sp.Basic) -> Fraction | int:
    value = sp.nsimplify(value) if isinstance(value, sp.Float) else value
    if isinstance(value, sp.Rational):
        return int(value.p) if value.q == 1 else Fraction(int(value.p), int(value.q))
    raise InexactValueError(f"{where} has no rational value at a rational point ({value})")


def _chain(arrays: list) -> np.ndarray:
    """The product of a chain of matrices in the cheapest order (dynamic programming)."""
    n = len(arrays)
    if n == 1:
        return arrays[0]
    dims = [arrays[0].shape[0], *(a.shape[1] for a in arrays)]
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = -1
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if cost[i][j] < 0 or c < cost[i][j]:
                    cost[i][j], split[i][j] = c, k

    def product(i: int, j: int) -> np.ndarray:
        if i == j:
            return arrays[i]
        k = split[i][j]
        return product(i, k).dot(product(k + 1, j))

    return product(0, n - 1)
