'''SymPy expressions → the Python source of one numba kernel function.

Every number is printed as a float (numba unifies the types of branches and
arguments, so ``Piecewise(0, …)`` next to ``x*y`` must not mix int and float),
``Heaviside``, ``sign``, ``Max``/``Min`` become expressions numba compiles
(``Heaviside(0)`` is 0 unless the loss says otherwise, ``DiracDelta`` is 0: the laws
hold almost everywhere), and common subexpressions are eliminated with
:func:`sympy.cse`.

Examples
--------
>>> import sympy as sp
>>> x = sp.Symbol("y0")
>>> printer = FloatPrinter({"standard": "python3", "strict": True})
>>> printer.doprint(sp.Heaviside(x) + x / 2 + 1)
'(0.5)*y0 + (1.0 if y0 > 0.0 else 0.0) + 1.0'
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

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from ..errors import BudgetExceededError, NotSupportedError

__all__ = ["FloatPrinter", "kernel_function"]


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


def kernel_function(printer, name, args, exprs, doc, ns, np_, scalar, uses) -> str:
    """The source of kernel ``name(args)``: ``y{i}``/``p{i}`` read from ``y`` and ``p``
    (only those used), common subexpressions ``c{k}``, then ``out[i] = …`` for each of
    ``exprs`` (or ``return`` when ``scalar``)."""
    try:
        replacements, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("c"), optimizations=None)
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
