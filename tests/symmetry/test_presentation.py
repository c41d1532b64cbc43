"""Tests of how a symmetry algebra is presented: coordinates the loss ignores, tuples of
symbols as coordinate blocks, families (gl(r), translations times affine functions), the
breaking table and its convention (the damped charge).

Every expected count, generator and term is derived by hand in the test. Sources:
Tanaka & Kunin 2021 (Noether's Learning Dynamics: the damped charge Q = e^{t/τ}q̇ᵀMψ,
Theorem 1; GL(r) of linear networks, Sec. 5); Kunin et al. 2021 (Neural Mechanics,
Sec. 3: translation of softmax logits, scale before a normalization).
"""

import itertools
import warnings

import pytest
import sympy as sp

import symnoether as sn
from symnoether import models
from symnoether.core.jet import is_zero
from symnoether.errors import IgnoredCoordinateWarning
from symnoether.symmetry import (
    SymmetryBreakingTable,
    SymmetryFamily,
    TranslationModule,
    find_symmetries,
)


def _directional(loss, coords, psi):
    return sum(p * sp.diff(loss, q) for p, q in zip(psi, coords, strict=True))


def _rank(generators, coords):
    """The number of linearly independent affine generators, over the constants: the rank
    of their coefficient vectors (entry i is Σ_j A_ij q_j + b_i)."""
    rows = []
    for psi in generators:
        row = []
        for entry in psi:
            poly = sp.Poly(sp.sympify(entry), *coords)
            row += [poly.coeff_monomial(q) for q in coords] + [poly.coeff_monomial(1)]
        rows.append(row)
    return sp.Matrix(rows).rank() if rows else 0


def _bracket(x, y, q):
    """[ψ_x, ψ_y] = Dψ_x ψ_y − Dψ_y ψ_x (the engine's convention), by hand."""
    X, Y = sp.Matrix(x), sp.Matrix(y)
    return sp.expand(X.jacobian(list(q)) * Y - Y.jacobian(list(q)) * X)


def _centred_network():
    """Two hidden units whose pre-activations z_js = w_j x_s + c_j are centred over a batch of
    two samples (a batch normalization without the variance): ẑ_js = w_j (x_s − x̄), so the
    biases c_j cancel and V = Σ_s ½(y_s − Σ_j a_j ẑ_js)² does not depend on them."""
    w, c, a = sn.coordinates("w1:3"), sn.coordinates("c1:3"), sn.coordinates("a1:3")
    x, y = sn.data("x1:3"), sn.data("y1:3")
    z = [[w[j] * x[s] + c[j] for s in range(2)] for j in range(2)]
    centred = [[z[j][s] - (z[j][0] + z[j][1]) / 2 for s in range(2)] for j in range(2)]
    loss = sum((y[s] - sum(a[j] * centred[j][s] for j in range(2))) ** 2 / 2 for s in range(2))
    return w, c, a, (*x, *y), sp.expand(loss)


# -- 1. coordinates the loss ignores ---------------------------------------------------


def test_biases_cancelled_by_a_normalization_are_reported_apart():
    w, c, a, data, loss = _centred_network()
    assert not loss.free_symbols & set(c)  # the hand construction cancels them
    with pytest.warns(IgnoredCoordinateWarning, match=r"c1, c2"):
        algebra = find_symmetries(loss, (w, c, a), data=data)
    # V = F(u), u = a1w1 + a2w2 = ½ qᵀJq on q = (w1, w2, a1, a2), J = [[0, I], [I, 0]].
    # ψ·∇V = F'(u) ψ·∇u; for affine ψ = Aq + b, ψ·∇u = qᵀJAq + bᵀJq ≡ 0 iff b = 0 and JA
    # is antisymmetric: so(2, 2), dimension 4·3/2 = 6. The biases would add, before this
    # was fixed, 2·(6 + 1) "general" generators (any affine function along c1 or c2).
    assert algebra.dimension == 6
    assert algebra.ignored == tuple(c)
    coords = (*w, *c, *a)
    assert algebra.coords == coords
    for symmetry in algebra:
        psi = symmetry.generator
        assert psi[2] == 0 and psi[3] == 0  # nothing moves the ignored biases
        assert not set().union(*(e.free_symbols for e in psi)) & set(c)
        assert is_zero(_directional(loss, coords, psi))
    assert _rank([s.generator for s in algebra], coords) == 6
    text = str(algebra)
    assert "ignored" in text and "c1, c2" in text
    assert r"\psi_{c_{1}, c_{2}} &= \text{any: the loss does not depend on them}" in (
        algebra._repr_latex_()
    )


def test_structured_search_leaves_an_ignored_block_out():
    w, c, a, data, loss = _centred_network()
    with pytest.warns(IgnoredCoordinateWarning, match=r"c1, c2"):
        algebra = find_symmetries(loss, (w, c, a), data=data, mode="structured")
    # structured: V = F(aᵀw) with w, a 2×1 blocks. A shared by both, (A w, −Aᵀ a), keeps
    # aᵀw (4, with the rescalings (w_j, −a_j) as its diagonal); the cross generators
    # (J a, 0) and (0, J w), J = [[0, 1], [−1, 0]], change aᵀw by aᵀJa = 0 and wᵀJᵀw = 0
    # (1 each): so(2, 2) of the general search, 6. The block c would add its two shifts.
    assert algebra.dimension == 6 and not algebra.complete
    hand = [(w[0], 0, 0, 0, -a[0], 0), (0, w[1], 0, 0, 0, -a[1])]
    hand += [(a[1], -a[0], 0, 0, 0, 0), (0, 0, 0, 0, w[1], -w[0])]
    hand += [(w[1], 0, 0, 0, 0, -a[0]), (0, w[0], 0, 0, -a[1], 0)]
    generators = [list(s.generator) for s in algebra]
    assert _rank(hand, (*w, *c, *a)) == _rank([*hand, *generators], (*w, *c, *a)) == 6
    assert algebra.ignored == tuple(c)


def test_learning_system_warns_once_naming_the_ignored_coordinates():
    w, c, a, data, loss = _centred_network()
    with pytest.warns(IgnoredCoordinateWarning, match=r"does not depend on the coordinates c1, c2"):
        system = sn.LearningSystem((w, c, a), loss, rule=sn.rules.gradient_flow(), data=data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        algebra = system.symmetries()
    assert not [x for x in caught if issubclass(x.category, IgnoredCoordinateWarning)]
    assert algebra.ignored == tuple(c) and algebra.dimension == 6
    # no law of the form Q = c1²/2 comes out of the discovered algebra any more
    laws = [sn.noether(system, s) for s in algebra if s.kind == "scale"]
    assert all(not (law.charge.free_symbols & set(c)) for law in laws)


def test_find_symmetries_accepts_tuple_blocks():
    W = sn.matrix_coordinates("W", 2, 2)
    c, a = sn.coordinates("c1:3"), list(sn.coordinates("a1:3"))
    (x,) = sn.data("x")
    # V = (a1(W11 x + c1) + a2(W22 x + c2) − W12 − W21)²: the same search either way
    loss = (a[0] * (W[0, 0] * x + c[0]) + a[1] * (W[1, 1] * x + c[1]) - W[0, 1] - W[1, 0]) ** 2
    blocks = find_symmetries(loss, (W, c, a), data=[(x,)])  # data may nest tuples too
    flat = find_symmetries(loss, (W, *c, *a), data=(x,))
    assert blocks.coords == flat.coords == (*W, *c, *a)
    assert blocks.dimension == flat.dimension > 0
    coords = blocks.coords
    generators = [s.generator for s in (*blocks.symmetries, *flat.symmetries)]
    assert _rank(generators, coords) == flat.dimension


def test_a_loss_of_every_coordinate_warns_nothing():
    w1, w2 = sn.coordinates("w1 w2")
    with warnings.catch_warnings():
        warnings.simplefilter("error", IgnoredCoordinateWarning)
        sn.LearningSystem((w1, w2), (1 - w1 * w2) ** 2, rule=sn.rules.gradient_flow())
        assert find_symmetries((1 - w1 * w2) ** 2, (w1, w2)).ignored == ()


def test_ignored_matrix_symbol_layer():
    W1, W2 = sp.MatrixSymbol("W1", 3, 2), sp.MatrixSymbol("W2", 2, 3)
    U = sp.MatrixSymbol("U", 2, 2)  # declared, unused
    x, y = sp.MatrixSymbol("x", 2, 1), sp.MatrixSymbol("y", 2, 1)
    residual = y - W2 * W1 * x
    with pytest.warns(IgnoredCoordinateWarning, match="U"):
        algebra = find_symmetries(residual.T * residual / 2, (W1, U, W2), data=(x, y))
    # gl(3) at W1 -> W2, the block U left out: 9 = 3², not 9 + U's scalings and shifts
    assert algebra.ignored == (U,) and algebra.dimension == 9
    (family,) = algebra.families
    assert family.name == "gl(3) at W1 -> W2"
    assert family.blocks[family.right_block][1] == W2


# -- 2. tuples and lists of symbols as blocks ------------------------------------------


def test_linear_network_with_a_tuple_bias_is_gl_r_with_the_bias():
    # V = ½|y − W2(W1x + b)|²: ψ_A = (AW1, Ab, −W2A) gives δ(W2(W1x + b)) = −W2A(W1x + b)
    # + W2(AW1x + Ab) = 0 for every A ∈ gl(2). The loss depends on W2[W1 | b] only, whose
    # generic fibres are the GL(2) orbits, so nothing else: dimension 4.
    W1, W2 = sn.matrix_coordinates("W1", 2, 3), sn.matrix_coordinates("W2", 2, 2)
    b = sn.coordinates("b1:3")
    x, y = sp.Matrix(sn.data("x1:4")), sp.Matrix(sn.data("y1:3"))
    r = y - W2 * (W1 * x + sp.Matrix(b))
    loss = (r.T * r)[0] / 2
    for mode in ("general", "structured"):
        algebra = find_symmetries(loss, (W1, b, W2), data=(*x, *y), mode=mode)
        assert algebra.dimension == 4, mode
        (family,) = algebra.families
        assert family.name == "gl(2) at W1+b -> W2", mode
        A = sp.Matrix([[0, 1], [0, 0]])  # E_12, the basis element k = 1
        hand = [*(A * W1), *(A * sp.Matrix(b)), *(-W2 * A)]
        assert list(algebra[1].generator) == hand


# -- 3 and 4. the breaking table, with the damped charge --------------------------------


def test_breaking_table_text_and_latex():
    w1, w2 = sn.coordinates("w1 w2")
    eta, lam = sp.symbols("eta lambda", positive=True)
    system = sn.LearningSystem(
        (w1, w2),
        (1 - w1 * w2) ** 2,
        rule=sn.rules.gradient_descent(eta),
        regularizers=[sn.rules.weight_decay(lam)],
    )
    table = find_symmetries(system.loss, system.coords).broken_by(system)
    assert isinstance(table, SymmetryBreakingTable) and len(table) == 1
    (row,) = table
    sign = 1 if row.symmetry.generator[0] == w1 else -1
    v1, v2 = system.velocities
    text = str(table)
    lines = text.splitlines()
    # a title, a header, one row per generator; no dataclass reprs
    assert lines[0].startswith("symmetry breaking under gradient_descent")
    assert " ".join(lines[1].split()) == "generator psi pr psi(T) weight decay broken by"
    assert len(lines) == 3 and "SymmetryBreaking(" not in text
    assert "kinetic term, weight decay" in lines[2]
    # the cells are the terms ÷ e^{t/τ}: (η/2)(ẇ1² − ẇ2²) and −λ(w1² − w2²), times sign
    kinetic_cell = sign * eta * (v1**2 - v2**2) / 2
    assert sp.sstr(row.undamped(row.kinetic)) in lines[2]
    assert sp.expand(row.undamped(row.kinetic) - kinetic_cell) == 0
    assert sp.expand(row.undamped(row.regularizers[0][1]) + sign * lam * (w1**2 - w2**2)) == 0
    latex = table._repr_latex_()
    assert latex.startswith("$$") and r"\begin{array}" in latex and r"\hline" in latex
    assert r"\text{weight decay}" in latex and r"\mathrm{rescale\_1}" in latex
    assert latex.count(r"\\") == 3  # law, header, one row
    assert "e^{t/\\tau}" in latex


def test_damping_is_not_a_cause_in_either_convention():
    """Translation ψ = (1, −1) of V = ½(y − (w1 + w2)x)² under heavy ball: T = (m/2)|q̇|² is
    translation invariant, so pr ψ(T) = 0 and the damped charge e^{t/τ}m(ẇ1 − ẇ2) is conserved.
    The undamped p·ψ = m(ẇ1 − ẇ2) decays as e^{−t/τ} — that is not a broken symmetry."""
    w1, w2 = sn.coordinates("w1 w2")
    x, y = sn.data("x y")
    eta, beta = sp.symbols("eta beta", positive=True)
    system = sn.LearningSystem(
        (w1, w2), (y - (w1 + w2) * x) ** 2 / 2, rule=sn.rules.momentum(eta, beta), data=(x, y)
    )
    algebra = system.symmetries()
    # the translations times affine functions: the translation itself comes first
    (translation,) = algebra.families[0].translations
    assert list(translation.generator) in ([1, -1], [-1, 1])
    table = algebra.broken_by(system)
    row = table[0]
    assert row.symmetry == translation
    law = sn.noether(system, row.symmetry)
    assert row.broken_by == law.broken_by == () and law.conserved
    assert row.kinetic == 0 and law.kinetic_breaking == 0
    assert "nothing (conserved)" in str(table).splitlines()[2]


def test_breaking_terms_equal_the_noether_law_terms():
    """Same convention, same values: SymmetryBreaking.kinetic is NoetherLaw.kinetic_breaking
    and the regularizer terms sum to its regularizer_breaking (rescale under heavy ball)."""
    model = models.scalar_pair()
    eta, beta, lam = sp.symbols("eta beta lambda", positive=True)
    system = model.system(sn.rules.momentum(eta, beta), [sn.rules.weight_decay(lam)])
    for row in system.symmetries().broken_by(system):
        law = sn.noether(system, row.symmetry)
        assert is_zero(row.kinetic - law.kinetic_breaking)
        assert is_zero(sum(term for _, term in row.regularizers) - law.regularizer_breaking)
        assert row.broken_by == law.broken_by == ("kinetic term", "weight decay")
        assert is_zero(row.rate - law.rate)


def test_gradient_flow_table_has_no_kinetic_column():
    w1, w2 = sn.coordinates("w1 w2")
    lam = sp.Symbol("lambda", positive=True)
    system = sn.LearningSystem(
        (w1, w2),
        (1 - w1 * w2) ** 2,
        rule=sn.rules.gradient_flow(),
        regularizers=[sn.rules.weight_decay(lam)],
    )
    table = system.symmetries().broken_by(system)
    (row,) = table
    # dφ/dt = −ψ·∇(λ/2)|w|² = ∓λ(w1² − w2²), no factor
    sign = 1 if row.symmetry.generator[0] == w1 else -1
    assert sp.expand(row.regularizers[0][1] + sign * lam * (w1**2 - w2**2)) == 0
    title, header, line = str(table).splitlines()
    assert title == "symmetry breaking under gradient_flow (the terms of dQ/dt)"
    assert header.split() == ["generator", "psi", "weight", "decay", "broken", "by"]
    assert line.split()[-2:] == ["weight", "decay"] and row.broken_by == ("weight decay",)
    assert r"\mathrm{pr}" not in table._repr_latex_()


# -- 5. families -------------------------------------------------------------------------


def test_general_search_presents_gl_r_as_one_family():
    model = models.linear_network(3, 2, 2)
    W1, W2 = model.coords
    algebra = find_symmetries(model.loss, model.coords, data=model.data)
    assert algebra.mode == "general" and algebra.dimension == 4
    (family,) = algebra.families
    assert isinstance(family, SymmetryFamily) and family.rank == 2 and len(family) == 4
    assert algebra.members == (family,) and algebra.generators == ()
    lines = str(algebra).splitlines()
    assert lines[1].strip() == "complete: all affine generators searched"
    assert lines[2].strip().startswith("gl(2) at W1 -> W2 (dimension 4)")
    assert len(lines) == 3
    # the element basis is E_11, E_12, E_21, E_22 (row-major): ψ = (E W1, −W2 E)
    for k, symmetry in enumerate(algebra.symmetries):
        E = sp.zeros(2, 2)
        E[divmod(k, 2)] = 1
        assert list(symmetry.generator) == [*(E * W1), *(-W2 * E)]
    # gl(2)'s structure constants, [E_pq, E_rs] = δ_qr E_ps − δ_sp E_rq
    for i, j in itertools.product(range(4), repeat=2):
        (p, q), (r, s) = divmod(i, 2), divmod(j, 2)
        expected = [0] * 4
        if q == r:
            expected[2 * p + s] += 1
        if s == p:
            expected[2 * r + q] -= 1
        assert list(algebra.commutator(i, j)) == expected


def test_softmax_translation_is_one_module():
    # z = Wx + b (W 3×1, b 3 scalars), V = LSE(z) − z_1. ψ·∇V = (p − e_1)·δz and p − e_1 spans
    # 𝟙^⊥, so ψ is a symmetry iff δz = ψ_W x + ψ_b ∥ 𝟙 for all x: ψ_W = u(q)𝟙, ψ_b = v(q)𝟙 with
    # u, v affine in the n = 6 parameters. Translations t1 = (𝟙, 0), t2 = (0, 𝟙); the module
    # f(q)·t has dimension 2·(6 + 1) = 14, and that is all.
    model = models.softmax_regression(3, 1)
    algebra = find_symmetries(model.loss, model.coords, data=model.data)
    assert algebra.dimension == 14
    (module,) = algebra.members
    assert isinstance(module, TranslationModule) and module.dimension == 14
    assert algebra.families == (module,)
    hand = [(1, 1, 1, 0, 0, 0), (0, 0, 0, 1, 1, 1)]
    found = [list(t.generator) for t in module.translations]
    coords = [*model.coords[0], *model.coords[1:]]
    assert _rank(hand, coords) == _rank([*hand, *found], coords) == len(found) == 2
    assert len(algebra.symmetries) == 14
    assert algebra.kinds.count("translation") == 2
    for symmetry in algebra:
        assert is_zero(_directional(model.loss, coords, symmetry.generator))
    assert _rank([s.generator for s in algebra], coords) == 14
    text = str(algebra)
    assert "translations times affine functions (dimension 14)" in text
    assert "general" not in text.replace("(general search)", "")
    assert len(text.splitlines()) == 6  # title, completeness, module (2), 2 translations


def test_module_with_a_rotation_keeps_the_bracket():
    # V = 1/(w1² + w2²) + exp(w3 − w4): affine ψ with ψ·∇V ≡ 0 needs ψ3 = ψ4 (the exp term is
    # independent of the rational one) and w1ψ1 + w2ψ2 ≡ 0 (ψ1 = a w2, ψ2 = −a w1): the
    # translation t = e3 + e4 times any affine function (5) and one rotation: dimension 6.
    w = sn.coordinates("w1:5")
    algebra = find_symmetries(1 / (w[0] ** 2 + w[1] ** 2) + sp.exp(w[2] - w[3]), w)
    assert algebra.dimension == 6
    module, rotation = algebra.members
    assert isinstance(module, TranslationModule) and module.dimension == 5
    assert list(module.translations[0].generator) == [0, 0, 1, 1]
    assert rotation.kind == "rotation"
    assert str(algebra).splitlines()[2].lstrip().startswith("translations times affine")
    basis = [s.generator for s in algebra]
    for i, j in itertools.product(range(6), repeat=2):
        c = algebra.commutator(i, j)
        combined = sum((ck * psi for ck, psi in zip(c, basis, strict=True)), sp.zeros(4, 1))
        assert sp.expand(combined - _bracket(basis[i], basis[j], w)) == sp.zeros(4, 1)


def test_structured_families_are_unchanged():
    model = models.softmax_regression(3, 2)
    algebra = find_symmetries(model.loss, model.coords, data=model.data, mode="structured")
    # structured mode searches the constant shifts only (d + 1 = 3), not f(q)·t
    assert algebra.dimension == 3 and algebra.families == ()
    assert set(algebra.kinds) == {"translation"}
