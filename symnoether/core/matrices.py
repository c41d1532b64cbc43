r"""Matrix-level vocabulary and calculus: layers as ``MatrixSymbol``\ s, their velocities,
gradients of scalar losses, and total time derivatives by the product rule.

The cost of everything here is independent of the layer widths: nothing is expanded
into entries. Gradients are computed from the directional derivative (the product
rule below, with a fresh direction Z), rearranged under the trace:
d/dε V(W + εZ) = tr(Gᵀ Z) gives G = ∂V/∂W. SymPy's own matrix calculus is not used
for them: it returns a silent zero matrix for sums of traces (sympy/sympy#24725) and
for functions of traces such as the norm of a weight vector.

Examples
--------
>>> import sympy as sp
>>> W1, W2 = layers(W1=(3, 2), W2=(1, 3))
>>> x, y = layers(x=(2, 1), y=(1, 1), data=True)
>>> e = y - W2 * W1 * x
>>> matrix_gradient(e.T * e / 2, W1)
-W2.T*(-W2*W1*x + y)*x.T
>>> matrix_velocity(W1)
Wdot1
"""

from __future__ import annotations

from collections.abc import Mapping

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.diagonal import DiagMatrix, DiagonalOf
from sympy.matrices.expressions.matexpr import MatrixElement

from ..errors import InvalidCoordinatesError, NotSupportedError
from .vocabulary import TIME, velocity

__all__ = [
    "layers",
    "matrix_velocity",
    "matrix_gradient",
    "time_derivative",
    "as_scalar_loss",
]


def layers(*, data: bool = False, **shapes: tuple[int, int]) -> tuple[sp.MatrixSymbol, ...]:
    """``MatrixSymbol`` layers (or data matrices), in the keyword order.

    Parameters
    ----------
    data : bool
        Only documents intent (``x, y = sn.layers(x=(32, 1), y=(10, 1), data=True)``):
        the system's ``data=`` argument is what declares data.
    **shapes : (rows, cols)
        One positive-integer shape per name.

    Examples
    --------
    >>> W1, W2 = layers(W1=(64, 32), W2=(10, 64))
    >>> W1.shape, W2.name
    ((64, 32), 'W2')
    """
    if not shapes:
        raise InvalidCoordinatesError(
            "layers() got no layers; pass one shape per name, e.g. sn.layers(W1=(64, 32))"
        )
    out = []
    for name, shape in shapes.items():
        ok = isinstance(shape, tuple | list) and len(shape) == 2
        ok = ok and all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape)
        if not ok:
            raise InvalidCoordinatesError(
                f"layers({name}={shape!r}): a shape is a pair of positive integers "
                f"(rows, cols), e.g. {name}=(64, 32)"
            )
        out.append(sp.MatrixSymbol(name, *shape))
    return tuple(out)


def matrix_velocity(W: sp.MatrixSymbol) -> sp.MatrixSymbol:
    r"""The velocity Ẇ of a layer, a ``MatrixSymbol`` of the same shape named like
    :func:`~symnoether.core.vocabulary.velocity` names scalars (``W1`` → ``Wdot1``,
    printed \dot{W}_{1}).

    Examples
    --------
    >>> matrix_velocity(sp.MatrixSymbol("W", 2, 2)).name
    'Wdot'
    """
    if not isinstance(W, sp.MatrixSymbol):
        raise InvalidCoordinatesError(
            f"{W!r} is not a MatrixSymbol layer; create layers with sn.layers(W1=(rows, cols))"
        )
    return sp.MatrixSymbol(velocity(sp.Symbol(W.name)).name, *W.shape)


def as_scalar_loss(loss: object) -> sp.Expr:
    """A scalar loss: ``Trace(loss)`` for a 1×1 matrix expression, else the expression.

    Examples
    --------
    >>> w = sp.MatrixSymbol("w", 3, 1)
    >>> as_scalar_loss(w.T * w)
    Trace(w.T*w)
    """
    if isinstance(loss, sp.MatrixExpr | sp.MatrixBase):
        return sp.Trace(sp.ImmutableMatrix(loss) if isinstance(loss, sp.MatrixBase) else loss)
    return sp.sympify(loss)


def matrix_gradient(scalar: object, W: sp.MatrixSymbol) -> sp.MatrixExpr:
    """∂V/∂W of a scalar expression V (traces of matrix expressions, scalar functions of
    them, elementwise functions), a matrix expression of W's shape.

    Examples
    --------
    >>> W, A = sp.MatrixSymbol("W", 3, 3), sp.MatrixSymbol("A", 3, 3)
    >>> matrix_gradient(sp.Trace(W.T * A * W), W)
    A*W + A.T*W
    >>> w = sp.MatrixSymbol("w", 4, 1)
    >>> matrix_gradient(sp.sqrt(sp.Trace(w.T * w)), w)
    1/sqrt(Trace(w.T*w))*w
    """
    if not isinstance(W, sp.MatrixSymbol):
        raise InvalidCoordinatesError(f"{W!r} is not a MatrixSymbol to differentiate by")
    scalar = as_scalar_loss(scalar)
    direction = sp.MatrixSymbol(f"_Z_{W.name}", *W.shape)
    derivative = time_derivative(scalar, {W: direction}, time=None)
    gradient = _scalar_gradient(derivative, direction)
    if gradient is None:
        return sp.ZeroMatrix(*W.shape)
    return gradient.doit() if isinstance(gradient, sp.MatAdd) else gradient


def _scalar_gradient(expr: sp.Expr, Z: sp.MatrixSymbol) -> sp.MatrixExpr | None:
    """∂/∂Z of a scalar linear in Z (None when it does not depend on Z)."""
    if not expr.has(Z):
        return None
    if isinstance(expr, sp.Add):
        parts = [g for a in expr.args if (g := _scalar_gradient(a, Z)) is not None]
        return sp.MatAdd(*parts) if len(parts) > 1 else parts[0]
    if isinstance(expr, sp.Mul):
        inside = [a for a in expr.args if a.has(Z)]
        if len(inside) != 1:
            raise NotSupportedError(f"{expr} is not linear in the direction {Z}")
        rest = sp.Mul(*[a for a in expr.args if not a.has(Z)])
        return rest * _scalar_gradient(inside[0], Z)
    if isinstance(expr, sp.Trace):
        return _trace_gradient(expr.arg, sp.Identity(expr.arg.shape[0]), Z)
    raise NotSupportedError(f"cannot differentiate {expr} with respect to a matrix")


def _trace_gradient(F: sp.MatrixExpr, C: sp.MatrixExpr, Z: sp.MatrixSymbol):
    """∂/∂Z tr(F C), F linear in Z and C free of it (None when F does not hold Z)."""
    if not F.has(Z):
        return None
    if F == Z:
        return sp.Transpose(C).doit() if not isinstance(C, sp.Identity) else sp.Identity(Z.shape[0])
    if isinstance(F, sp.Transpose):  # tr(Xᵀ C) = tr(X Cᵀ)
        return _trace_gradient(F.arg, sp.Transpose(C).doit(), Z)
    if isinstance(F, sp.MatAdd):
        parts = [g for a in F.args if (g := _trace_gradient(a, C, Z)) is not None]
        return sp.MatAdd(*parts) if len(parts) > 1 else parts[0]
    if isinstance(F, sp.MatMul):
        coefficient, factors = F.as_coeff_matrices()
        if coefficient.has(Z):  # tr(c(Z) M C) with M free of Z
            rest = sp.MatMul(*factors, C).doit()
            return _scalar_gradient(sp.expand(coefficient * sp.Trace(rest)), Z)
        holding = [k for k, f in enumerate(factors) if f.has(Z)]
        if len(holding) != 1:
            raise NotSupportedError(f"{F} is not linear in the direction {Z}")
        k = holding[0]
        after = [*factors[k + 1 :], C, *factors[:k]]
        after = [a for a in after if not isinstance(a, sp.Identity)]
        rotated = sp.MatMul(*after).doit() if after else sp.Identity(factors[k].shape[1])
        inner = _trace_gradient(factors[k], rotated, Z)
        return None if inner is None else coefficient * inner
    if isinstance(F, DiagMatrix):  # tr(diag(v) C) = tr(vᵀ δ(C)), δ(C) the diagonal of C
        return _trace_gradient(F.args[0], sp.Transpose(DiagonalOf(C)), Z)
    if isinstance(F, sp.HadamardProduct):  # tr((X∘Y) C) = tr(Y (X∘Cᵀ)ᵀ)
        holding = [a for a in F.args if a.has(Z)]
        if len(holding) != 1:
            raise NotSupportedError(f"{F} is not linear in the direction {Z}")
        others = [a for a in F.args if not a.has(Z)]
        weight = sp.HadamardProduct(*others, _explicit(sp.Transpose(C).doit(), F.shape))
        return _trace_gradient(holding[0], sp.Transpose(weight), Z)
    raise NotSupportedError(
        f"cannot differentiate the matrix expression {F} ({type(F).__name__}); write the "
        "loss with products, transposes, traces and elementwise functions"
    )


def _explicit(C: sp.MatrixExpr, shape: tuple) -> sp.MatrixExpr:
    """An identity inside a Hadamard product is the identity of that shape."""
    if isinstance(C, sp.Identity) and tuple(C.shape) != tuple(shape):
        raise NotSupportedError("a Hadamard product with a trace of mismatched shape")
    return C


def time_derivative(
    expr: object, rates: Mapping, *, time: sp.Symbol | None = TIME
) -> sp.Expr | sp.MatrixExpr:
    """d/dt of a scalar or matrix expression by the product rule, where each
    ``MatrixSymbol`` (or scalar Symbol) in ``rates`` moves at its given rate, ``time``
    (default :data:`~symnoether.core.vocabulary.TIME`; None for a directional
    derivative) at rate 1, and everything else is constant.

    Parameters
    ----------
    expr : scalar SymPy expression (traces, e^{t/τ}, ...) or matrix expression
    rates : mapping {MatrixSymbol or Symbol: rate}
        E.g. {W: Ẇ, Ẇ: Ẅ}, the rates matrix expressions of the symbol's shape.

    Examples
    --------
    >>> W, V, A = (sp.MatrixSymbol(n, 2, 2) for n in ("W", "V", "A"))
    >>> tau = sp.Symbol("tau", positive=True)
    >>> time_derivative(sp.exp(TIME / tau) * sp.Trace(W.T * A * W), {W: V})
    exp(t/tau)*Trace(V.T*A*W + W.T*A*V) + exp(t/tau)*Trace(W.T*A*W)/tau
    """
    return _Derivative(dict(rates), time).of(expr)


class _Derivative:
    def __init__(self, rates: dict, time: sp.Symbol | None):
        self.rates, self.time = rates, time
        self.moving = set(rates) | ({time} if time is not None else set())

    def still(self, expr: sp.Basic) -> bool:
        return not expr.has(*self.moving) if self.moving else True

    def of(self, expr: object):
        if isinstance(expr, sp.MatrixBase):
            expr = sp.ImmutableMatrix(expr)
        expr = sp.sympify(expr)
        if isinstance(expr, sp.MatrixExpr | sp.MatrixBase):
            return self.matrix(expr)
        return self.scalar(expr)

    # -- scalars ------------------------------------------------------------------------
    def scalar(self, expr: sp.Expr) -> sp.Expr:
        if self.still(expr):
            return sp.S.Zero
        if expr == self.time:
            return sp.S.One
        if isinstance(expr, sp.Symbol):
            return sp.sympify(self.rates.get(expr, 0))
        if isinstance(expr, sp.Trace):
            inner = self.matrix(expr.arg)
            return sp.S.Zero if _is_zero_matrix(inner) else sp.Trace(inner)
        if isinstance(expr, MatrixElement):
            inner = self.matrix(expr.parent)
            return sp.S.Zero if _is_zero_matrix(inner) else inner[expr.i, expr.j]
        if isinstance(expr, sp.Add):
            return sp.Add(*[self.scalar(a) for a in expr.args])
        if isinstance(expr, sp.Mul):
            terms = []
            for k, factor in enumerate(expr.args):
                d = self.scalar(factor)
                if d != 0:
                    terms.append(sp.Mul(*expr.args[:k], d, *expr.args[k + 1 :]))
            return sp.Add(*terms)
        if isinstance(expr, sp.Pow):
            base, exponent = expr.args
            d_base = self.scalar(base)
            out = exponent * base ** (exponent - 1) * d_base if d_base != 0 else sp.S.Zero
            if not self.still(exponent):
                out += expr * sp.log(base) * self.scalar(exponent)
            return out
        if isinstance(expr, sp.Function) and expr.args:
            terms = []
            for k, arg in enumerate(expr.args):
                d = self.scalar(arg)
                if d != 0:
                    terms.append(expr.fdiff(k + 1) * d)
            return sp.Add(*terms)
        raise NotSupportedError(
            f"cannot take the time derivative of {expr} ({type(expr).__name__}); write it "
            "with traces, sums, products, powers and functions of them"
        )

    # -- matrices -----------------------------------------------------------------------
    def matrix(self, expr: sp.MatrixExpr):
        zero = sp.ZeroMatrix(*expr.shape)
        if isinstance(expr, sp.MatrixBase) or self.still(expr):
            return zero
        if isinstance(expr, sp.MatrixSymbol):
            return self.rates.get(expr, zero)
        if isinstance(expr, sp.Transpose):
            inner = self.matrix(expr.arg)
            return zero if _is_zero_matrix(inner) else sp.Transpose(inner)
        if isinstance(expr, sp.MatAdd):
            parts = [d for a in expr.args if not _is_zero_matrix(d := self.matrix(a))]
            return sp.MatAdd(*parts) if parts else zero
        if isinstance(expr, sp.MatMul):
            coefficient, factors = expr.as_coeff_matrices()
            parts = []
            d_coefficient = self.scalar(coefficient)
            if d_coefficient != 0:
                parts.append(d_coefficient * sp.MatMul(*factors))
            for k, factor in enumerate(factors):
                d = self.matrix(factor)
                if not _is_zero_matrix(d):
                    parts.append(coefficient * sp.MatMul(*factors[:k], d, *factors[k + 1 :]))
            return sp.MatAdd(*parts) if parts else zero
        if isinstance(expr, sp.MatPow) and expr.exp.is_Integer and expr.exp > 0:
            return self.matrix(sp.MatMul(*[expr.base] * int(expr.exp)))
        if isinstance(expr, sp.Inverse):
            inner = self.matrix(expr.arg)
            return -expr * inner * expr
        if isinstance(expr, DiagMatrix | DiagonalOf):
            inner = self.matrix(expr.args[0])
            return zero if _is_zero_matrix(inner) else type(expr)(inner)
        if isinstance(expr, sp.HadamardProduct):
            parts = []
            for k, factor in enumerate(expr.args):
                d = self.matrix(factor)
                if not _is_zero_matrix(d):
                    parts.append(sp.HadamardProduct(*expr.args[:k], d, *expr.args[k + 1 :]))
            return sp.MatAdd(*parts) if parts else zero
        if isinstance(expr, sp.HadamardPower) and self.still(expr.exp):
            inner = self.matrix(expr.base)
            if _is_zero_matrix(inner):
                return zero
            power = expr.exp * sp.HadamardPower(expr.base, expr.exp - 1)
            return sp.HadamardProduct(power, inner)
        if isinstance(expr, ElementwiseApplyFunction):
            function = expr.function
            variable = function.variables[0]
            slope = sp.Lambda(variable, sp.diff(function.expr, variable))
            return sp.HadamardProduct(
                ElementwiseApplyFunction(slope, expr.expr), self.matrix(expr.expr)
            )
        raise NotSupportedError(
            f"cannot take the time derivative of the matrix expression {expr} "
            f"({type(expr).__name__}); write it with products, sums, transposes, inverses, "
            "Hadamard products and elementwise functions"
        )


def _is_zero_matrix(expr: object) -> bool:
    return isinstance(expr, sp.ZeroMatrix) or (isinstance(expr, sp.Expr) and expr == 0)
