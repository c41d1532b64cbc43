"""Tests of symmetry discovery (symnoether.symmetry).

Every expected dimension is derived by hand in the test; structure constants
are checked against matrix commutators computed here, not by the engine.
Sources: Kunin et al. 2021 (Neural Mechanics, Sec. 3) for translation, scale
and rescale; Tanaka & Kunin 2021 (Sec. 5) for GL(r) of linear networks.
"""

import itertools
import warnings

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import symnoether as sn
from symnoether import models
from symnoether.core.jet import is_zero
from symnoether.errors import (
    InvalidCoordinatesError,
    InvalidInputError,
    InvalidLossError,
    NonDifferentiableLossError,
    NotSupportedError,
    SearchTooLargeError,
)
from symnoether.symmetry import find_symmetries


def _directional(loss, coords, psi):
    return sum(p * sp.diff(loss, q) for p, q in zip(psi, coords, strict=True))


def _rank(vectors):
    return sp.Matrix([list(v) for v in vectors]).rank() if vectors else 0


def _gl_matrix(psi, W1):
    """A with ψ = (A W1, −W2 A): read A off the W1 block, A = ψ(W1) W1⁺ for
    generic W1, here by matching ψ(W1)_ij = Σ_k A_ik W1_kj entry by entry."""
    r, d = W1.shape
    A = sp.Matrix(r, r, lambda i, j: sp.Symbol(f"a{i}{j}"))
    block = sp.Matrix(r, d, list(psi)[: r * d])
    solution = sp.solve(list(block - A * W1), list(A), dict=True)[0]
    return A.subs(solution)


# -- two-layer linear network: gl(r) ---------------------------------------------


@pytest.mark.parametrize("d, r, m", [(3, 2, 3), (2, 2, 2)])
def test_linear_network_is_exactly_gl_r(d, r, m):
    model = models.linear_network(d, r, m)
    W1, W2 = model.coords
    algebra = find_symmetries(model.loss, model.coords, data=model.data)
    assert algebra.dimension == r * r
    coords = [*W1, *W2]
    matrices = []
    for s in algebra:
        assert is_zero(_directional(model.loss, coords, s.generator))
        A = _gl_matrix(s.generator, W1)
        # the W2 block must be −W2 A: the generator is in gl(r)'s image
        assert sp.expand(sp.Matrix(list(s.generator)[r * d :]) - sp.Matrix(list(-W2 * A))) == (
            sp.zeros(m * r, 1)
        )
        matrices.append(A)
    assert _rank([list(A) for A in matrices]) == r * r
    # structure constants: [A_i, A_j] = Σ c_k A_k with the matrix commutator
    for i, j in itertools.product(range(len(matrices)), repeat=2):
        c = algebra.commutator(i, j)
        expected = matrices[i] * matrices[j] - matrices[j] * matrices[i]
        combined = sum((ck * Ak for ck, Ak in zip(c, matrices, strict=True)), sp.zeros(r, r))
        assert combined == expected


def test_structured_linear_network_is_one_gl_family_with_gl_structure_constants():
    model = models.linear_network(3, 2, 3)
    algebra = find_symmetries(model.loss, model.coords, data=model.data, mode="structured")
    (family,) = algebra.members
    assert family.dimension == 4 and family.rank == 2 and family.verified == "symbolic"
    r = 2
    for (p, q), (s, t) in itertools.product(itertools.product(range(r), repeat=2), repeat=2):
        c = algebra.commutator(p * r + q, s * r + t)
        E = [sp.zeros(r, r) for _ in range(r * r)]
        for k in range(r * r):
            E[k][divmod(k, r)] = 1
        lhs = E[p * r + q] * E[s * r + t] - E[s * r + t] * E[p * r + q]
        assert sum((ck * Ek for ck, Ek in zip(c, E, strict=True)), sp.zeros(r, r)) == lhs
    W1, W2 = model.coords
    psi = family.basis_element(1).generator  # A = E_12
    assert list(psi) == [*(W1.row(1)), *[0] * 3, *[0, -W2[0, 0], 0, -W2[1, 0], 0, -W2[2, 0]]]


def test_wide_layers_keep_their_names():
    """Entries of a 2×10 matrix are named W1_1_10 (two indices past 9); the family must
    still name the layers W1 and W2, as LearningSystem does."""
    model = models.linear_network(10, 2, 1)
    algebra = find_symmetries(model.loss, model.coords, data=model.data, mode="structured")
    (family,) = algebra.members
    assert family.name == "gl(2) at W1 -> W2"
    assert family.dimension == 4


def test_matrix_symbol_network_family_is_proved_by_trace_canonicalization():
    W1, W2 = sp.MatrixSymbol("W1", 6, 4), sp.MatrixSymbol("W2", 3, 6)
    x, y = sp.MatrixSymbol("x", 4, 1), sp.MatrixSymbol("y", 3, 1)
    residual = y - W2 * W1 * x
    loss = residual.T * residual / 2
    algebra = find_symmetries(loss, (W1, W2), data=(x, y), mode="structured")
    assert algebra.dimension == 36 and algebra.mode == "structured"
    (family,) = algebra.families
    assert family.verified == "symbolic"
    # a non-symmetry does not pass the canonical trace check
    from symnoether.symmetry.traces import trace_zero

    A = sp.MatrixSymbol("A", 6, 6)
    assert trace_zero([x.T * W1.T * A.T * W2.T * y - y.T * W2 * A * W1 * x], set())
    assert not trace_zero([x.T * W1.T * A * W2.T * y - y.T * W2 * A * W1 * x], set())
    # tr Mᵀ = tr M; with A antisymmetric, yᵀW₂AW₁x = (yᵀW₂AW₁x)ᵀ = −xᵀW₁ᵀAW₂ᵀy
    M = y.T * W2 * A * W1 * x
    assert trace_zero([M - M.T], set()) and not trace_zero([M + M.T], set())
    N = x.T * W1.T * A * W2.T * y
    assert trace_zero([M + N], {"A"}) and not trace_zero([M + N], set())
    assert not trace_zero([M - N], {"A"})
    # a word equal to minus itself: tr(x xᵀ W₁ᵀ B W₁) = 0 for B antisymmetric
    B = sp.MatrixSymbol("B", 6, 6)
    assert trace_zero([x.T * W1.T * B * W1 * x], {"B"})
    assert not trace_zero([x.T * W1.T * B * W1 * x], set())


# -- the other catalogue models ---------------------------------------------------


def test_relu_network_has_one_rescale_per_hidden_unit():
    h = 3
    model = models.relu_network(d=2, h=h)
    system = model.system(sn.rules.gradient_flow())
    for mode in ("general", "structured"):
        algebra = find_symmetries(model.loss, model.coords, data=model.data, mode=mode)
        assert algebra.dimension == h
        assert set(algebra.kinds) == {"rescale"}
        hand = [sn.noether(system, g).generator for g in model.generators.values()]
        assert _rank([*hand, *(s.generator for s in algebra)]) == h


def test_softmax_cross_entropy_affine_translations():
    # V = LSE(z) − z_label with z = W x + b: ψ·∇V = (p − e_label)·δz, δz = ψ_W x + ψ_b.
    # It vanishes for all data iff δz ∥ 𝟙 (p − e spans 𝟙^⊥), i.e. ψ_W = 𝟙 u(q)ᵀ and
    # ψ_b = c(q) 𝟙 with u (d entries) and c affine in the n = k(d+1) parameters:
    # dimension (d + 1)(n + 1); of these d + 1 are the constant shifts.
    k, d = 3, 2
    model = models.softmax_regression(k, d)
    n = k * (d + 1)
    algebra = find_symmetries(model.loss, model.coords, data=model.data)
    assert algebra.dimension == (d + 1) * (n + 1) == 30
    assert algebra.kinds.count("translation") == d + 1
    structured = find_symmetries(model.loss, model.coords, data=model.data, mode="structured")
    assert structured.dimension == d + 1 and set(structured.kinds) == {"translation"}


def test_normalization_gives_scale():
    model = models.normalized_unit(3)
    (s,) = find_symmetries(model.loss, model.coords, data=model.data)
    assert s.kind == "scale" and list(s.generator) == list(model.coords)


@pytest.mark.parametrize("dim", [2, 3])
def test_kepler_rotations_so_n(dim):
    model = models.kepler(dim)
    algebra = find_symmetries(model.loss, model.coords)
    assert algebra.dimension == dim * (dim - 1) // 2
    assert set(algebra.kinds) == {"rotation"}
    q = sp.Matrix(model.coords)
    mats = [s.generator.jacobian(list(q)) for s in algebra]
    for M in mats:
        assert M.T == -M  # antisymmetric: so(dim)
    for i, j in itertools.product(range(len(mats)), repeat=2):
        c = algebra.commutator(i, j)
        lhs = mats[i] * mats[j] - mats[j] * mats[i]
        assert sum((ck * M for ck, M in zip(c, mats, strict=True)), sp.zeros(dim, dim)) == lhs


def test_no_symmetry_is_an_empty_algebra():
    w1, w2 = sn.coordinates("w1 w2")
    # ψ·∇V = ψ1(4w1³ + w2 + 1) + ψ2(w1 + 2w2): the cubic forces ψ1 = 0, then ψ2 = 0
    algebra = find_symmetries(w1**4 + w2**2 + w1 * w2 + w1, (w1, w2))
    assert algebra.dimension == 0 and list(algebra) == []
    assert "dimension 0" in str(algebra)


@pytest.mark.parametrize("make", [lambda u: u**2, sp.tanh])
def test_float_and_transcendental_losses(make):
    w1, w2 = sn.coordinates("w1 w2")
    # V = f(0.5 w1 + 0.25 w2): ψ·∇V = f'·(ψ1/2 + ψ2/4) ≡ 0 iff ψ2 = −2ψ1 with ψ1 any
    # affine function of (w1, w2): dimension 3
    loss = make(0.5 * w1 + 0.25 * w2)
    algebra = find_symmetries(loss, (w1, w2))
    assert algebra.dimension == 3
    for s in algebra:
        assert sp.expand(2 * s.generator[0] + s.generator[1]) == 0


# -- planted symmetries (property-based) -------------------------------------------


@settings(max_examples=8, deadline=None)
@given(
    k=st.integers(2, 3),
    free=st.integers(0, 1),
    entries=st.lists(st.integers(-2, 2), min_size=25, max_size=25),
)
def test_planted_symmetry_dimension(k, free, entries):
    # F(u) = g(|u_{1:k}|²) + h(u_{k+1}) with u_{k+2..} absent: so(k) on the first block
    # (k(k−1)/2) and, for each absent direction, ψ along it with any affine
    # coefficient (n + 1 each). q = P u with P invertible preserves the dimension.
    # When P makes V independent of some q_i (P = 3I: q_n = 3u_n), those coordinates are
    # not searched (algebra.ignored): with m coordinates left, the absent directions
    # among them are m − (k + 1), each times an affine function of the m.
    n = k + 1 + free
    P = sp.Matrix(n, n, entries[: n * n]) + 3 * sp.eye(n)
    if P.det() == 0:
        P += sp.eye(n)
    q = sn.coordinates(f"q1:{n + 1}")
    u = P.inv() * sp.Matrix(q)
    s = sum(u[i] ** 2 for i in range(k))
    loss = s**2 + s + u[k] ** 3 + u[k]
    used = [c for c in q if c in loss.free_symbols]
    m = len(used)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sn.IgnoredCoordinateWarning)
        algebra = find_symmetries(loss, q)
    assert algebra.ignored == tuple(c for c in q if c not in used)
    assert algebra.dimension == k * (k - 1) // 2 + (m - k - 1) * (m + 1)
    for symmetry in algebra:
        assert is_zero(_directional(loss, q, symmetry.generator))


@pytest.mark.parametrize("k, free", [(2, 1), (3, 1)])
def test_planted_symmetry_with_an_ignored_coordinate(k, free):
    """The case the property test meets only by chance: P = 3I leaves q_n out of V."""
    test_planted_symmetry_dimension.hypothesis.inner_test(k, free, [0] * 25)


# -- learning systems ---------------------------------------------------------------


def test_broken_by_gradient_descent_and_weight_decay():
    w1, w2 = sn.coordinates("w1 w2")
    eta, lam = sp.symbols("eta lambda", positive=True)
    system = sn.LearningSystem(
        (w1, w2),
        (1 - w1 * w2) ** 2,
        rule=sn.rules.gradient_descent(eta),
        regularizers=[sn.rules.weight_decay(lam)],
    )
    algebra = find_symmetries(system.loss, system.coords)
    (report,) = algebra.broken_by(system)
    v1, v2 = system.velocities
    sign = 1 if report.symmetry.generator[0] == w1 else -1  # ψ = ±(w1, −w2)
    # the damped charge Q = e^{t/τ} q̇ᵀMψ, τ = η/2 (Tanaka & Kunin 2021): each term of
    # dQ/dt carries e^{2t/η}. T = (η/4)|q̇|², pr ψ(T) = (η/2)(q̇·Dψ q̇) = sign (η/2)(ẇ1² − ẇ2²)
    factor = sp.exp(2 * sn.TIME / eta)
    assert sp.simplify(report.kinetic - factor * sign * eta * (v1**2 - v2**2) / 2) == 0
    # weight decay: −ψ·∇(λ/2)|w|² = −sign λ (w1² − w2²)
    ((name, term),) = report.regularizers
    assert name == "weight decay"
    assert sp.simplify(term + factor * sign * lam * (w1**2 - w2**2)) == 0
    # damping is absorbed in e^{t/τ}: not a cause (it was, for the undamped p·ψ)
    assert report.broken_by == ("kinetic term", "weight decay")


def test_noether_accepts_found_symmetries():
    model = models.scalar_pair()
    system = model.system(sn.rules.gradient_flow())
    (s,) = find_symmetries(model.loss, model.coords, data=model.data)
    law = sn.noether(system, s)
    assert law.conserved and law.is_symmetry


# -- bad input ------------------------------------------------------------------------


def test_bad_input_names_the_culprit():
    w1, w2 = sn.coordinates("w1 w2")
    (x,) = sn.data("x")
    loss = (x - w1 * w2) ** 2
    with pytest.raises(InvalidCoordinatesError, match="'w1 w2'"):
        find_symmetries(loss, "w1 w2")
    # the same checks as LearningSystem: no order in a set, no repeats, Symbol entries
    with pytest.raises(InvalidCoordinatesError, match="set, which has no fixed order"):
        find_symmetries(loss, {w1, w2})
    with pytest.raises(InvalidCoordinatesError, match="coordinate w1 appears twice"):
        find_symmetries(loss, (w1, w1))
    with pytest.raises(InvalidCoordinatesError, match="matrix entry 3 is not a Symbol"):
        find_symmetries(loss, (sp.Matrix([[w1, 3]]),))
    with pytest.raises(InvalidCoordinatesError, match="data entry 3"):
        find_symmetries(loss, (w1, w2), data=(x, 3))
    with pytest.raises(InvalidCoordinatesError, match="data = 'x'"):
        find_symmetries(loss, (w1, w2), data="x")
    with pytest.raises(InvalidLossError, match="depends on none of the coordinates"):
        find_symmetries(x**2, (w1, w2), data=(x,))
    with pytest.raises(NonDifferentiableLossError, match="floor"):
        find_symmetries(sp.floor(w1) + w2**2, (w1, w2))
    with pytest.raises(NonDifferentiableLossError, match="f"):
        find_symmetries(sp.Function("f")(w1 * w2), (w1, w2))
    with pytest.raises(SearchTooLargeError, match="mode='structured'"):
        find_symmetries(loss, (w1, w2), data=(x,), mode="general", max_unknowns=4)
    with pytest.raises(InvalidInputError, match="mode"):
        find_symmetries(loss, (w1, w2), data=(x,), mode="fast")
    with pytest.raises(InvalidLossError, match="2×1 matrix"):
        find_symmetries(sp.Matrix([w1, w2]), (w1, w2))


@pytest.mark.parametrize(
    "make", [lambda u: sp.exp(u), lambda u: u**2], ids=["transcendental", "polynomial"]
)
def test_irrational_generator_is_not_supported_with_a_fix(make):
    """V = f(w1 + √2 w2) is invariant under ψ = (√2, −1)·(affine), whose coefficients
    are irrational: the search must say so (not crash in SymPy's polynomial ring,
    and not return a generator that fails ψ·∇V ≡ 0)."""
    w1, w2 = sn.coordinates("w1 w2")
    loss = make(w1 + sp.sqrt(2) * w2)
    with pytest.raises(NotSupportedError, match=r"not rational \(such as √2\).*sn\.noether"):
        find_symmetries(loss, (w1, w2))
    # the hand-derived generator is a symmetry: ψ·∇V = f'·(√2 − √2) = 0
    psi = (sp.sqrt(2), -1)
    assert sp.simplify(sum(p * sp.diff(loss, q) for p, q in zip(psi, (w1, w2)))) == 0
