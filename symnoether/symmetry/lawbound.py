r"""The count of conservation laws, and how many of the charges found are independent.

:func:`law_bound` compares the charges of the conserved subspace with the bound of
Marcotte, Gribonval and Peyré (2023), D − dim Lie(W)(θ)
(:func:`~symnoether.symmetry.lierank.lie_bound`), by the rank of their Jacobian at a
random rational point; when they fall short it tries polynomial laws of low degree
(:func:`~symnoether.symmetry.ansatz.polynomial_laws`). :func:`functional_rank` is that
rank for any rule: below the number of charges when some are functions of the others
(the r(r+1)/2 balancedness entries of a hidden layer wider than d + m). The exact
evaluation at random rational points is shared with :mod:`~symnoether.symmetry.laws`.

Examples
--------
>>> import random
>>> import symnoether as sn
>>> w1, w2 = sn.coordinates("w1 w2")
>>> flow = sn.LearningSystem((w1, w2), (1 - w1 * w2) ** 2, rule=sn.rules.gradient_flow())
>>> functional_rank([w1**2 - w2**2, (w1**2 - w2**2) ** 2], flow, random.Random(0))
1
"""

from __future__ import annotations

import random
from fractions import Fraction

import sympy as sp

from ..budget import check
from ..core.system import TIME, LearningSystem
from ..errors import NotSupportedError, VerificationError
from .ansatz import polynomial_laws
from .lierank import lie_bound

__all__ = ["law_bound", "functional_rank", "random_point", "exact_value", "rationalized"]


def rationalized(expr: sp.Expr) -> sp.Expr:
    """Floats (a hyper-parameter given as 0.1) as the rationals they print as."""
    floats = expr.atoms(sp.Float)
    return expr.xreplace({f: sp.Rational(str(f)) for f in floats}) if floats else expr


def random_point(system: LearningSystem, rng: random.Random) -> dict:
    """Random positive rationals for the coordinates, velocities, data, time and every
    other symbol of the system."""
    symbols = set(system.coords) | set(system.velocities) | set(system.data) | {TIME}
    symbols |= system.potential.free_symbols | system.kinetic.free_symbols
    return {s: sp.Rational(rng.randint(1, 97), rng.randint(2, 53)) for s in symbols}


def exact_value(expr: sp.Expr, point: dict) -> Fraction:
    value = expr if expr.is_Number else expr.xreplace(point)
    if not value.is_Rational:
        raise NotSupportedError(
            f"the rate or curl term {expr} is not rational at rational points; the "
            "conserved subspace is solved exactly only for rational regularizers, kinetic "
            "terms and metrics (use numeric hyper-parameters such as 1/10, not 0.1)"
        )
    return Fraction(int(value.p), int(value.q))


def law_bound(system: LearningSystem, laws: tuple, rng: random.Random, seed: int) -> tuple:
    """(bound, note, complete, polynomial laws beyond the Noether charges, the rank of all
    the charges' Jacobian or None when no bound was computed)."""
    if system.order != 1:
        return None, "no bound: Marcotte et al.'s count is for gradient flow", None, (), None
    if system.mass_matrix != sp.eye(len(system.coords)):
        note = "no bound: computed for Euclidean gradient flow (metric I) only"
        return None, note, None, (), None
    result = lie_bound(system, seed=seed)
    if result.bound is None:
        return None, f"no bound: {result.note}", None, (), None
    points = [random_point(system, rng) for _ in range(2)]
    charges = [law.charge for law in laws]
    try:
        rank = _rank(charges, system.coords, points)
    except NotSupportedError:
        note = f"{result.bound} independent laws ({result.note}); the charges are not "
        note += "rational at rational points, so how many of them are independent is not known"
        return result.bound, note, None, (), None
    if rank > result.bound:
        raise VerificationError(
            f"{rank} independent charges exceed the bound {result.bound} on the number of "
            "conservation laws; please report this system"
        )
    note = f"{result.bound} independent laws ({result.note})"
    extra: list = []
    if rank < result.bound:
        for law in polynomial_laws(system, seed=seed):
            if _rank([*charges, *extra, law], system.coords, points) > rank:
                extra.append(law)
                rank += 1
        note += f"; {len(extra)} found by a polynomial ansatz of degree ≤ 3" if extra else ""
    return result.bound, note, rank == result.bound, tuple(extra), rank


def functional_rank(charges: list, system: LearningSystem, rng: random.Random) -> int | None:
    """The rank of the charges' Jacobian over the coordinates (and velocities, for a
    second-order rule), the largest at two random rational points with t = 0 (so
    e^{t/τ} = 1); None when a derivative is not rational there.

    The rank at a point is at most the generic rank, and equals it off a proper algebraic
    subset, which random points miss with probability close to 1."""
    points = [random_point(system, rng) for _ in range(2)]
    for point in points:
        point[TIME] = sp.S.Zero
    variables = tuple(system.coords) + (tuple(system.velocities) if system.order == 2 else ())
    try:
        return _rank(charges, variables, points)
    except NotSupportedError:
        return None


def _rank(functions: list, coords: tuple, points: list) -> int:
    """The largest rank of the Jacobian of ``functions`` at ``points``."""
    if not functions:
        return 0
    derivatives = [[sp.diff(f, q) for q in coords] for f in functions]
    ranks = []
    for point in points:
        check()
        rows = [[exact_value(d, point) for d in row] for row in derivatives]
        ranks.append(sp.Matrix(rows).rank())
    return max(ranks)
