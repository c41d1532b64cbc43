r"""How a charge equation prints its terms: c·D'' in plain text and in LaTeX.

Shared by :mod:`symnoether.core.matrix_charge_equation` and
:mod:`symnoether.core.charge_equation`: a coefficient with a sum on top prints as a
fraction of that sum, ``(1 - beta)*D'/2`` and ``\frac{1 - \beta}{2} \dot{D}``, not as
SymPy's −(β − 1)/2.

Examples
--------
>>> import sympy as sp
>>> eta, beta = sp.symbols("eta beta", positive=True)
>>> term_text((1 - beta) / 2, 1, "D"), term_text(eta / 4, 2, "D"), term_text(-eta, 0, "D")
("(1 - beta)*D'/2", "eta*D''/4", '-eta*D')
>>> term_latex((1 - beta) / 2, 1, "D"), term_latex(eta / 4, 2, "D")
('\\frac{1 - \\beta}{2} \\dot{D}', '\\frac{\\eta}{4} \\ddot{D}')
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

__all__ = ["term_text", "term_latex"]


def term_text(coefficient: sp.Expr, k: int, name: str) -> str:
    """c·D^{(k)} in plain text, k primes: ``eta*D''/4``, ``(1 - beta)*D'/2``, ``lambda*D``."""
    label = name + "'" * k
    coefficient = sp.factor(coefficient)
    numerator, denominator = sp.fraction(coefficient)
    if not isinstance(numerator, sp.Add) and numerator.could_extract_minus_sign():
        return "-" + term_text(-coefficient, k, name)
    top = f"({numerator})" if isinstance(numerator, sp.Add) else sp.sstr(numerator)
    text = label if numerator == 1 else f"{top}*{label}"
    return text if denominator == 1 else f"{text}/{sp.sstr(denominator)}"


def term_latex(
    coefficient: sp.Expr,
    k: int,
    name: str,
    latex: Callable[[sp.Expr], str] = sp.latex,
    whole: Callable[[sp.Expr], str] | None = None,
) -> str:
    r"""c·D^{(k)} in LaTeX with dots: ``\frac{\eta}{4} \ddot{D}``. ``latex`` prints the parts
    of a fraction of a sum, ``whole`` (default ``latex``) any other coefficient, e.g. with
    the damping factor as e^{t/τ}."""
    symbol = (name, rf"\dot{{{name}}}", rf"\ddot{{{name}}}")[k]
    coefficient = sp.factor(coefficient)
    numerator, denominator = sp.fraction(coefficient)
    if isinstance(numerator, sp.Add):  # (1 − β)/2 as \frac{1 - β}{2}, not −(β − 1)/2
        top = latex(numerator)
        if denominator == 1:
            return rf"\left({top}\right) {symbol}"
        return rf"\frac{{{top}}}{{{latex(denominator)}}} {symbol}"
    if numerator.could_extract_minus_sign():
        return "-" + term_latex(-coefficient, k, name, latex, whole)
    if coefficient == 1:
        return symbol
    return f"{(whole or latex)(coefficient)} {symbol}"
