"""Property: random losses with a planted symmetry, through the whole pipeline.

A loss V(q) = f(Aq; x) — f invariant under a known linear vector field
φ(z) = Bz + c, A a random invertible integer matrix, x a data symbol — has the
planted symmetry ψ(q) = A⁻¹(BAq + c), known by construction and independently
of the search (if z = Aq then ż = φ(z) reads q̇ = A⁻¹φ(Aq)). So:

1. ``system.symmetries()`` must return an algebra whose span contains ψ;
2. every symmetry it returns leaves the loss invariant (its law has no loss
   breaking), gets its Noether law under gradient descent, and
3. every law validates numerically along a trajectory (continuous check, NumPy
   backend so no compile time): Q(t) − Q(0) = ∫ dQ/dt.

Invariants planted (Tanaka & Kunin 2021, Sec. 3): translation (u = z1 − z2),
rotation (u = z1² + z2²) and rescale (u = z1·z2); f is a polynomial of u, the
other z_k and x, bounded below so that the trajectories stay bounded.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import symnoether as sn
from symnoether.numerics.validate import validate

ETA = sp.Symbol("eta", positive=True)
KINDS = ("translation", "rotation", "rescale")


def planted_field(kind: str, n: int) -> tuple[sp.Matrix, sp.Matrix]:
    """(B, c): the planted vector field φ(z) = Bz + c in the z coordinates."""
    B, c = sp.zeros(n, n), sp.zeros(n, 1)
    if kind == "translation":
        c[0], c[1] = 1, 1
    elif kind == "rotation":
        B[0, 1], B[1, 0] = -1, 1
    else:
        B[0, 0], B[1, 1] = 1, -1
    return B, c


def invariant(kind: str, z: sp.Matrix) -> sp.Expr:
    return {"translation": z[0] - z[1], "rotation": z[0] ** 2 + z[1] ** 2}.get(kind, z[0] * z[1])


@st.composite
def planted_losses(draw):
    n = draw(st.integers(2, 4))
    kind = draw(st.sampled_from(KINDS))
    small = st.integers(-2, 2)
    # A = P·L·U·D: permutation, unit lower/upper triangular, diagonal in {±1, 2}: invertible
    L, U = sp.eye(n), sp.eye(n)
    for i in range(n):
        for j in range(i):
            L[i, j], U[j, i] = draw(small), draw(small)
    D = sp.diag(*[draw(st.sampled_from([1, -1, 2])) for _ in range(n)])
    P = sp.Matrix.hstack(*[sp.eye(n)[:, k] for k in draw(st.permutations(range(n)))])
    A = P * L * U * D
    weight = draw(st.integers(1, 2))
    r = [draw(small) for _ in range(n + 1)]
    r[1] = r[1] or 1  # the second square depends on u too
    # q0 away from the origin, an equilibrium of every f below: a trajectory that sits
    # at a fixed point has a charge at round-off scale, which validation cannot judge
    q0 = [draw(st.sampled_from([-1, 1])) * draw(st.floats(0.3, 1.0)) for _ in range(n)]
    x0 = draw(st.floats(-1, 1))
    return n, kind, A, weight, r, q0, x0


def coefficient_vector(generator: sp.Matrix, coords: tuple) -> list:
    """Entries of (A | b) of an affine generator ψ = Aq + b, row by row."""
    jacobian = generator.jacobian(list(coords))
    constant = generator.subs({q: 0 for q in coords})
    return [*jacobian, *constant]


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example((2, "translation", sp.Matrix([[1, 1], [0, 1]]), 1, [0, 1, 0], [-1.0, -1.0], 0.0))
@given(planted_losses())
def test_planted_symmetry_is_found_and_every_law_validates(case):
    n, kind, A, weight, r, q0, x0 = case
    q = sn.coordinates(f"q1:{n + 1}")
    (x,) = sn.data("x")
    z = A * sp.Matrix(q)
    u = invariant(kind, z)
    others = list(z[2:])
    mixed = r[0] + r[1] * u + sum(k * w for k, w in zip(r[2:], others))
    loss = weight * (u - x) ** 2 + mixed**2 + sum(w**2 for w in others)
    system = sn.LearningSystem(q, loss, rule=sn.rules.gradient_descent(ETA), data=(x,))

    algebra = system.symmetries()
    B, c = planted_field(kind, n)
    planted = A.inv() * (B * A * sp.Matrix(q) + c)
    rows = [coefficient_vector(sp.Matrix(s.generator), q) for s in algebra]
    # Coordinates the loss ignores (a planted field can make one, e.g. z = (q1 + q2, q2)
    # with u = z1 − z2 = q1) are set apart: every affine field on them is a symmetry.
    for i in (q.index(s) for s in algebra.ignored):
        for j in range(n + 1):
            field = sp.zeros(n, 1)
            field[i] = q[j] if j < n else 1
            rows.append(coefficient_vector(field, q))
    assert rows, "no symmetry found, none set apart"
    found = sp.Matrix(rows)
    with_planted = found.col_join(sp.Matrix([coefficient_vector(planted, q)]))
    assert with_planted.rank() == found.rank(), f"planted {list(planted)} not found"

    laws = [sn.noether(system, symmetry) for symmetry in algebra]
    if not laws:
        return  # the planted field lives on ignored coordinates only
    assert all(law.loss_breaking == 0 for law in laws)
    report = validate(
        system,
        laws,
        np.asarray(q0),
        params={ETA: 0.5, x: x0},
        t_end=1.0,
        backend="numpy",
    )
    assert report.passed, report.message


def test_planted_field_leaves_each_invariant_unchanged():
    """The construction itself: φ·∇u = 0 for the three invariants (hand check)."""
    z = sp.Matrix(sp.symbols("z1:4"))
    for kind in KINDS:
        B, c = planted_field(kind, 3)
        u = invariant(kind, z)
        field = B * z + c
        assert sp.expand(sum(field[i] * sp.diff(u, z[i]) for i in range(3))) == 0


@pytest.mark.parametrize("kind", KINDS)
def test_a_field_that_is_not_planted_is_not_in_the_span(kind):
    """The span check can fail: a generic field is not a symmetry of V = (u − x)² + z3²."""
    q = sn.coordinates("q1:4")
    (x,) = sn.data("x")
    z = sp.Matrix(q)
    system = sn.LearningSystem(
        q, (invariant(kind, z) - x) ** 2 + z[2] ** 2, rule=sn.rules.gradient_flow(), data=(x,)
    )
    found = sp.Matrix([coefficient_vector(sp.Matrix(s.generator), q) for s in system.symmetries()])
    generic = sp.Matrix([q[0] + 2 * q[1], q[2], 1])
    with_generic = found.col_join(sp.Matrix([coefficient_vector(generic, q)]))
    assert with_generic.rank() == found.rank() + 1
