r"""Polynomial conservation laws of gradient flow that no affine symmetry gives.

Under θ̇ = −∇ℓ(θ; data), a function h is conserved for every value of the data exactly
when ∇h·∇c_β ≡ 0 for every coefficient c_β(θ) of the loss as a polynomial in the data
(:mod:`~symnoether.symmetry.lierank`). For h a polynomial of degree at most ``degree``
with unknown coefficients this is a linear system: it is sampled at random points
modulo a prime, its null space is lifted to small rationals, and every law returned is
then proved exactly (∇h·∇c_β expanded to zero over the rationals).

Examples
--------
>>> import symnoether as sn
>>> from symnoether.symmetry.ansatz import polynomial_laws
>>> t1, t2 = sn.coordinates("t1 t2")
>>> x, y = sn.data("x y")
>>> toy = sn.LearningSystem((t1, t2), (y - x * (t1**3 - 3 * t1 * t2**2)) ** 2 / 2,
...                         rule=sn.rules.gradient_flow(), data=(x, y))
>>> polynomial_laws(toy)
(3*t1**2*t2 - t2**3,)
"""

from __future__ import annotations

import itertools
import random

import numpy as np
import sympy as sp

from ..budget import check
from .lierank import PRIME, _diff, _evaluate, _to_residues, coefficient_dicts

__all__ = ["polynomial_laws", "MAX_ANSATZ_COORDINATES"]

MAX_ANSATZ_COORDINATES = 12


def polynomial_laws(system: object, *, degree: int = 3, seed: int = 0) -> tuple:
    """A basis of the polynomial conservation laws of degree ≤ ``degree`` (no constant).

    Parameters
    ----------
    system : LearningSystem
        Under Euclidean gradient flow.
    degree : int
        The largest total degree of the ansatz (default 3).
    seed : int
        Seeds the random points of the linear system.

    Returns
    -------
    tuple of sympy expressions
        Each proved: ∇h·∇c_β ≡ 0 for every data coefficient c_β of the potential.
        Empty when the ansatz does not apply: more than
        :data:`MAX_ANSATZ_COORDINATES` coordinates, a rule other than Euclidean gradient
        flow, hyper-parameters in the loss (a law must hold for all their values), or a
        loss that is not a polynomial in the coordinates and the data.

    Examples
    --------
    >>> import symnoether as sn
    >>> w1, w2 = sn.coordinates("w1 w2")
    >>> x, y = sn.data("x y")
    >>> pair = sn.LearningSystem((w1, w2), (y - w1 * w2 * x) ** 2 / 2,
    ...                          rule=sn.rules.gradient_flow(), data=(x, y))
    >>> polynomial_laws(pair)
    (w1**2 - w2**2,)
    """
    coords = tuple(system.coords)
    n = len(coords)
    if n > MAX_ANSATZ_COORDINATES or system.order != 1 or system.mass_matrix != sp.eye(n):
        return ()
    potential = sp.expand(system.potential)
    data = tuple(system.data)
    if potential.free_symbols - set(coords) - set(data):
        return ()
    dicts, _ = coefficient_dicts(potential, coords, data, random.Random(seed))
    if dicts is None:
        return ()
    ring, *gens = sp.ring(coords, sp.QQ)
    exact = [ring.from_dict({m: sp.QQ(c.p, c.q) for m, c in d.items()}) for d in dicts]
    exact = [c for c in exact if any(sum(m) for m in c.monoms())]
    monomials = [m for total in range(1, degree + 1) for m in _exponents(n, total)]
    gradients = [[_diff(_to_residues(dict(c.terms())), i) for i in range(n)] for c in exact]
    rows = _rows(monomials, gradients, n, random.Random(seed))
    laws = []
    for vector in _nullspace_mod_p(rows, len(monomials)):
        check()
        law = _lift(vector, monomials, ring)
        if law is not None and _proved(law, exact, gens):
            laws.append(_normalized(law, monomials))
    return tuple(laws)


def _normalized(law: object, monomials: list) -> sp.Expr:
    """Coprime integer coefficients, the first monomial's (in ansatz order) positive."""
    terms = dict(law.terms())
    values = [sp.Rational(terms[m]) for m in monomials if m in terms]
    scale = sp.Rational(sp.ilcm(*[v.q for v in values]), sp.igcd(*[v.p for v in values]))
    if values[0] < 0:
        scale = -scale
    return sp.expand(law.as_expr() * scale)


def _exponents(n: int, total: int) -> list:
    out = []
    for combo in itertools.combinations_with_replacement(range(n), total):
        exponent = [0] * n
        for i in combo:
            exponent[i] += 1
        out.append(tuple(exponent))
    return out


def _rows(monomials: list, gradients: list, n: int, rng: random.Random) -> np.ndarray:
    """Rows (∇m_k·∇c_β)(p) mod p over the monomials m_k, for enough points p."""
    unknowns = len(monomials)
    points = max(2, -(-(unknowns + 8) // max(1, len(gradients))))
    rows = []
    for _ in range(points):
        check()
        point = [rng.randrange(1, PRIME) for _ in range(n)]
        for gradient in gradients:
            values = [_evaluate(g, point) for g in gradient]
            row = []
            for monom in monomials:
                total = 0
                for i, e in enumerate(monom):
                    if e and values[i]:
                        lowered = monom[:i] + (e - 1,) + monom[i + 1 :]
                        total += e * values[i] * _monomial(lowered, point)
                row.append(total % PRIME)
            rows.append(row)
    return np.array(rows, dtype=np.int64).reshape(len(rows), unknowns)


def _monomial(exponent: tuple, point: list) -> int:
    value = 1
    for x, e in zip(point, exponent, strict=True):
        if e:
            value = value * pow(x, e, PRIME) % PRIME
    return value


def _nullspace_mod_p(rows: np.ndarray, n: int) -> list:
    """A basis of the null space modulo PRIME, from the reduced echelon form."""
    matrix = rows % PRIME
    pivots = []
    r = 0
    for column in range(n):
        check()
        candidates = np.nonzero(matrix[r:, column])[0] if r < len(matrix) else []
        if len(candidates) == 0:
            continue
        k = r + candidates[0]
        matrix[[r, k]] = matrix[[k, r]]
        matrix[r] = matrix[r] * pow(int(matrix[r, column]), -1, PRIME) % PRIME
        for other in range(len(matrix)):
            if other != r and matrix[other, column]:
                matrix[other] = (matrix[other] - matrix[other, column] * matrix[r]) % PRIME
        pivots.append(column)
        r += 1
        if r == len(matrix):
            break
    basis = []
    for free in (c for c in range(n) if c not in pivots):
        vector = [0] * n
        vector[free] = 1
        for row, column in enumerate(pivots):
            vector[column] = int(-matrix[row, free] % PRIME)
        basis.append(vector)
    return basis


def _lift(vector: list, monomials: list, ring: object) -> object:
    """The polynomial with the residues lifted to small rationals, or None."""
    terms = {}
    for value, monom in zip(vector, monomials, strict=True):
        if value:
            rational = _reconstruct(value)
            if rational is None:
                return None
            terms[monom] = rational
    return ring.from_dict(terms) if terms else None


def _reconstruct(value: int) -> sp.Rational | None:
    """a/b ≡ value (mod PRIME) with a and b at most ⌊√(PRIME/2)⌋ in size (extended
    Euclid), or None."""
    bound = int((PRIME // 2) ** 0.5)
    r0, r1, s0, s1 = PRIME, value % PRIME, 0, 1
    while r1 > bound:
        q = r0 // r1
        r0, r1, s0, s1 = r1, r0 - q * r1, s1, s0 - q * s1
    if s1 == 0 or abs(s1) > bound:
        return None
    return sp.Rational(r1, s1)


def _proved(law: object, coefficients: list, gens: list) -> bool:
    """∇h·∇c_β ≡ 0 for every coefficient, exactly over the rationals."""
    for c in coefficients:
        check()
        total = sum((law.diff(g) * c.diff(g) for g in gens), law.ring.zero)
        if total:
            return False
    return True
