r"""Matrix forms of conservation laws: the charges of a gl(r) family assembled into the
matrix the papers write (the balancedness W₁W₁ᵀ − W₂ᵀW₂ under gradient flow, the
antisymmetric P − Pᵀ, P = Ẇ₁W₁ᵀ − W₂ᵀẆ₂, under a second-order rule).

Examples
--------
>>> import symnoether as sn
>>> from symnoether import models
>>> from symnoether.symmetry.matrixforms import matrix_formula
>>> net = models.linear_network(3, 2, 2)
>>> (family,) = sn.find_symmetries(net.loss, net.coords, data=net.data).families
>>> matrix_formula(family, 1, latex=True)
'W_{1} W_{1}^{\\top} - W_{2}^{\\top} W_{2}'
"""

from __future__ import annotations

import sympy as sp

from ..budget import check
from ..core.display import scalar_identity
from ..core.system import LearningSystem
from .members import SymmetryFamily
from .rational import in_span, integral

__all__ = ["matrix_forms", "matrix_formula", "form_factor"]


def matrix_forms(system: LearningSystem, algebra: object, conserved: list, law_of) -> dict:
    """Per gl(r) family whose symmetric (gradient flow) or antisymmetric (second-order)
    part is conserved, the matrix of its charges."""
    n = algebra.dimension
    span_rows = [list(v) for v in conserved]
    forms = {}
    for member in algebra.families:
        if not isinstance(member, SymmetryFamily):
            continue
        start, r = algebra._start(member), member.rank
        sign = 1 if system.order == 1 else -1

        def vector(i: int, j: int, start: int = start, r: int = r, sign: int = sign) -> tuple:
            out = [0] * n
            out[start + i * r + j] += 1
            out[start + j * r + i] += sign
            return tuple(out)

        pairs = [(i, j) for i in range(r) for j in range(i, r) if sign == 1 or i < j]
        if not all(in_span(vector(i, j), span_rows) for i, j in pairs):
            continue
        matrix = sp.zeros(r, r)
        for i, j in pairs:
            check()
            charge = law_of(integral(list(vector(i, j)))).charge
            scale = integral(list(vector(i, j)))[start + i * r + j]
            value = sp.expand(charge / scale)
            if i == j:
                matrix[i, i] = 2 * value
            else:
                matrix[i, j], matrix[j, i] = value, sign * value
        forms[member.name] = sp.ImmutableMatrix(matrix.applyfunc(lambda e: _bare(system, e)))
    return forms


def matrix_formula(family: SymmetryFamily, order: int, latex: bool = False) -> str:
    """The matrix form of a gl(r) family as the papers write it, from its block names:
    Σ W_a W_aᵀ − W_bᵀW_b (gradient flow) or P − Pᵀ with P = Σ Ẇ_a W_aᵀ − W_bᵀẆ_b.

    Examples
    --------
    >>> import symnoether as sn
    >>> from symnoether import models
    >>> net = models.linear_network(3, 2, 2)
    >>> (family,) = sn.find_symmetries(net.loss, net.coords, data=net.data).families
    >>> matrix_formula(family, 1), matrix_formula(family, 2)
    ('W1*W1.T - W2.T*W2', 'P - P.T, P = W1dot*W1.T - W2.T*W2dot')
    """
    names = [family.blocks[k][0] for k in (*family.left_blocks, family.right_block)]
    if latex:
        names = [sp.latex(sp.Symbol(name)) for name in names]
        t, dot = r"^{\top}", (lambda name: rf"\dot{{{name}}}")
    else:
        t, dot = ".T", (lambda name: f"{name}dot")
    *left, right = names
    if order == 1:
        return " + ".join(f"{a}*{a}{t}" if not latex else f"{a} {a}{t}" for a in left) + (
            f" - {right}{t}*{right}" if not latex else f" - {right}{t} {right}"
        )
    star = " " if latex else "*"
    inner = " + ".join(f"{dot(a)}{star}{a}{t}" for a in left) + f" - {right}{t}{star}{dot(right)}"
    return f"P - P{t}, P = {inner}"


def _bare(system: LearningSystem, charge: sp.Expr) -> sp.Expr:
    """A charge without the common factor e^{t/τ}·m of a second-order rule (M = m·I)."""
    return sp.expand(sp.cancel(sp.powsimp(charge / form_factor(system), combine="exp")))


def form_factor(system: LearningSystem) -> sp.Expr:
    """The scalar c with charge = c · (matrix-form entry): 1 for gradient flow, e^{t/τ}·m
    for a second-order rule with M = m·I (else e^{t/τ})."""
    if system.order == 1:
        return sp.S.One
    mass = scalar_identity(system.mass_matrix)
    return sp.powsimp(system.damping_factor * (mass if mass is not None else 1))
