"""conservation_laws: the conserved subspace of the symmetry algebra, checked against hand
derivations (every expected count and form is derived in the test)."""

import random

import pytest
import sympy as sp

import symnoether as sn
from symnoether import models

ETA, BETA = sp.Rational(1, 10), sp.Rational(1, 2)


def balancedness(W1, W2):
    return W1 * W1.T - W2.T * W2


def in_span(expr, basis, coords):
    """True when ``expr`` is a constant linear combination of ``basis`` (solved exactly)."""
    c = sp.symbols(f"c0:{len(basis)}")
    residual = sp.expand(expr - sum(ci * b for ci, b in zip(c, basis)))
    equations = sp.Poly(residual, *coords).coeffs()
    return bool(sp.solve(equations, c, dict=True)) or residual == 0


def jacobian_rank(exprs, coords):
    point = {q: sp.Rational(k + 2, k + 5) for k, q in enumerate(coords)}
    return sp.Matrix([[sp.diff(e, q).subs(point) for q in coords] for e in exprs]).rank()


@pytest.mark.parametrize(("d", "r", "m"), [(2, 2, 2), (3, 2, 2)])
def test_linear_network_gradient_flow_is_the_symmetric_balancedness(d, r, m):
    # ψ_A = (A W1, −W2 A) is linear with matrix blockdiag(A ⊗ I, −I ⊗ Aᵀ): a gradient field
    # exactly when A = Aᵀ, with potential φ_A = ½⟨A, W1W1ᵀ − W2ᵀW2⟩, conserved (no
    # regularizer). So the conserved subspace is the symmetric A: r(r+1)/2 = 3 laws, the
    # charges span the entries of B = W1W1ᵀ − W2ᵀW2, and the antisymmetric A (E12 − E21)
    # has no first-order charge. d + m ≥ r: the bound is 3 (Marcotte et al.), complete.
    model = models.linear_network(d, r, m)
    laws = sn.conservation_laws(model.system(sn.rules.gradient_flow()))
    W1, W2 = (sp.Matrix(block) for block in model.coords)
    B = balancedness(W1, W2)
    assert len(laws.charges) == 3
    assert laws.coefficients == ((1, 0, 0, 0), (0, 1, 1, 0), (0, 0, 0, 1))
    assert sp.expand(laws.charges[0] - B[0, 0] / 2) == 0
    assert sp.expand(laws.charges[1] - B[0, 1]) == 0
    assert sp.expand(laws.charges[2] - B[1, 1] / 2) == 0
    assert (laws.matrix_forms["gl(2) at W1 -> W2"] - B).expand() == sp.zeros(2, 2)
    assert laws.form_factor == 1
    (direction,) = laws.broken
    assert direction.coefficients == (0, 1, -1, 0)
    assert direction.law is None
    assert "no first-order charge" in direction.broken_by[0]
    assert (laws.bound, laws.complete) == (3, True)


def test_hidden_layer_wider_than_input_plus_output_makes_charges_dependent():
    # d = m = 1, r = 3: the loss sees s = w2·w1 only (w1 = W1, w2 = W2ᵀ in R³). Affine
    # symmetries (δw1, δw2) = (A w1 + B w2, C w1 − Aᵀ w2) with ws ↦ w1ᵀCw1 + w2ᵀBw2 = 0, i.e. B
    # and C antisymmetric: 9 + 3 + 3 = 15. A gradient field needs the linear map
    # [[A, B], [C, −Aᵀ]] symmetric: A = Aᵀ (6) and C = Bᵀ = −B (3), with potentials
    # ½⟨A, w1w1ᵀ − w2w2ᵀ⟩ and w1ᵀBw2: 9 charges. Their differentials span at most
    # D − dim Lie(W) = 6 − 1 = 5 directions (one output coefficient w2·w1): dependent, and
    # complete.
    model = models.linear_network(1, 3, 1)
    system = model.system(sn.rules.gradient_flow())
    laws = sn.conservation_laws(system)
    w1, w2 = sp.Matrix(model.coords[0]), sp.Matrix(model.coords[1]).T
    assert laws.algebra.dimension == 15
    assert len(laws.charges) == 9
    B = w1 * w1.T - w2 * w2.T
    cross = [w1[i] * w2[j] - w1[j] * w2[i] for i in range(3) for j in range(i + 1, 3)]
    expected = [B[i, j] for i in range(3) for j in range(i, 3)] + cross
    assert all(in_span(charge, expected, system.coords) for charge in laws.charges)
    assert jacobian_rank(laws.charges, system.coords) == 5
    assert (laws.bound, laws.complete) == (5, True)


def test_linear_network_under_momentum_keeps_the_antisymmetric_part():
    # Second order, M = m·I: dQ_A/dt = e^{t/τ} m q̇ᵀ(Dψ_A)q̇ vanishes for every q̇ exactly when
    # Dψ_A is antisymmetric, i.e. A = −Aᵀ: one law, A = E12 − E21, with charge
    # e^{t/τ} m ⟨A, P⟩, P = Ẇ1W1ᵀ − W2ᵀẆ2 (q̇·ψ_A = tr(Ẇ1ᵀAW1) − tr(Ẇ2ᵀW2A)), i.e. the
    # matrix form P − Pᵀ. The three symmetric directions are broken by the kinetic term.
    model = models.linear_network(2, 2, 2)
    system = model.system(sn.rules.momentum(ETA, BETA))
    laws = sn.conservation_laws(system)
    W1, W2 = (sp.Matrix(block) for block in model.coords)
    Wdot1 = W1.applyfunc(sn.velocity)
    Wdot2 = W2.applyfunc(sn.velocity)
    P = Wdot1 * W1.T - W2.T * Wdot2
    mass = ETA * (1 + BETA) / 2
    tau = mass / (1 - BETA)
    assert laws.coefficients == ((0, 1, -1, 0),)
    expected = sp.exp(sn.TIME / tau) * mass * (P[0, 1] - P[1, 0])
    assert sp.simplify(laws.charges[0] - expected) == 0
    form = laws.matrix_forms["gl(2) at W1 -> W2"]
    assert (form - (P - P.T)).expand() == sp.zeros(2, 2)
    assert sp.simplify(laws.form_factor - sp.exp(sn.TIME / tau) * mass) == 0
    assert len(laws.broken) == 3
    assert all(d.broken_by == ("kinetic term",) for d in laws.broken)
    assert (laws.bound, laws.complete) == (None, None)


def test_weight_decay_breaks_the_balancedness_under_gradient_flow():
    # ψ_A·∇(λ/2|θ|²) = λ(tr(W1ᵀAW1) − tr(W2AW2ᵀ)) ≢ 0 for symmetric A ≠ 0: no law survives;
    # the 3 symmetric directions keep their charge, broken by weight decay, and the
    # antisymmetric one has none.
    model = models.linear_network(2, 2, 2)
    lam = sp.Rational(1, 100)
    system = model.system(sn.rules.gradient_flow(), [sn.rules.weight_decay(lam)])
    laws = sn.conservation_laws(system)
    assert laws.charges == ()
    with_charge = [d for d in laws.broken if d.law is not None]
    assert len(with_charge) == 3
    assert all(d.broken_by == ("weight decay",) for d in with_charge)
    assert laws.matrix_forms == {}


def test_three_layer_linear_network_has_two_balancedness_families():
    # V = ½|y − W3W2W1x|², all 2×2: gl(2) at W1 → W2 and at W2 → W3 (dimension 8); under
    # gradient flow each keeps its symmetric part: B12 = W1W1ᵀ − W2ᵀW2 and
    # B23 = W2W2ᵀ − W3ᵀW3, 3 + 3 = 6 charges, the two matrix forms.
    W = [sn.matrix_coordinates(f"W{k}", 2, 2) for k in (1, 2, 3)]
    x = sp.Matrix(sn.data("x1:3"))
    y = sp.Matrix(sn.data("y1:3"))
    loss = sum(e**2 for e in y - W[2] * W[1] * W[0] * x) / 2
    system = sn.LearningSystem(tuple(W), loss, rule=sn.rules.gradient_flow(), data=(*x, *y))
    laws = sn.conservation_laws(system)
    forms = laws.matrix_forms
    assert (forms["gl(2) at W1 -> W2"] - balancedness(W[0], W[1])).expand() == sp.zeros(2, 2)
    assert (forms["gl(2) at W2 -> W3"] - balancedness(W[1], W[2])).expand() == sp.zeros(2, 2)
    assert len(laws.charges) == 6
    assert jacobian_rank(laws.charges, system.coords) == 6


def test_relu_network_one_rescale_charge_per_unit():
    # ψ_j = (w_j, b_j, −a_j) is its own gradient field, potential ½(|w_j|² + b_j² − a_j²);
    # the bound is h (Marcotte et al.), so complete.
    model = models.relu_network(2, 2)
    laws = sn.conservation_laws(model.system(sn.rules.gradient_flow()))
    W, b1, b2, a1, a2 = model.coords[0], *model.coords[1:]
    expected = [
        (W[0, 0] ** 2 + W[0, 1] ** 2 + b1**2 - a1**2) / 2,
        (W[1, 0] ** 2 + W[1, 1] ** 2 + b2**2 - a2**2) / 2,
    ]
    assert {sp.expand(c) for c in laws.charges} == {sp.expand(e) for e in expected}
    assert (laws.bound, laws.complete) == (2, True)


def test_matrix_factorization_has_three_laws():
    # ½|Y − UVᵀ|², U, V 3×2: (U, V) → (UG, VG⁻ᵀ), ψ_A = (UA, −VAᵀ); gradient iff A symmetric,
    # potential ½⟨A, UᵀU − VᵀV⟩: the 3 entries of the symmetric UᵀU − VᵀV (not 2), and
    # independent (d + m = 6 ≥ 2): bound 3, complete.
    U = sn.matrix_coordinates("U", 3, 2)
    V = sn.matrix_coordinates("V", 3, 2)
    Y = sp.Matrix(3, 3, sn.data("y1:10"))
    loss = sum(e**2 for e in Y - U * V.T) / 2
    system = sn.LearningSystem((U, V), loss, rule=sn.rules.gradient_flow(), data=tuple(Y))
    laws = sn.conservation_laws(system)
    B = U.T * U - V.T * V
    entries = [B[0, 0], B[0, 1], B[1, 1]]
    assert len(laws.charges) == 3
    assert all(in_span(charge, entries, system.coords) for charge in laws.charges)
    assert jacobian_rank(laws.charges, system.coords) == 3
    assert (laws.bound, laws.complete) == (3, True)


def toy(g):
    t1, t2 = sn.coordinates("t1 t2")
    x, y = sn.data("x y")
    loss = (y - x * g(t1, t2)) ** 2 / 2
    return sn.LearningSystem((t1, t2), loss, rule=sn.rules.gradient_flow(), data=(x, y)), t1, t2


def test_toy_law_without_affine_symmetry_is_found_by_the_ansatz():
    # ℓ = ½(y − x g), g = θ1³ − 3θ1θ2² = Re (θ1 + iθ2)³: no affine symmetry, bound 1 (lierank
    # tests). Its harmonic conjugate h = Im (θ1 + iθ2)³ = 3θ1²θ2 − θ2³ has ∇h ⊥ ∇g
    # (Cauchy–Riemann), so ḣ = −(f − y)x ∇h·∇g = 0: found at degree 3, complete.
    system, t1, t2 = toy(lambda a, b: a**3 - 3 * a * b**2)
    laws = sn.conservation_laws(system)
    assert laws.laws == ()
    assert laws.polynomial_laws == (3 * t1**2 * t2 - t2**3,)
    assert laws.charges == laws.polynomial_laws
    assert (laws.bound, laws.complete) == (1, True)
    assert "polynomial ansatz" in laws.bound_note


def test_law_beyond_the_ansatz_degree_leaves_the_laws_incomplete():
    # g = Re z⁵ = θ1⁵ − 10θ1³θ2² + 5θ1θ2⁴: bound 1 again, the law Im z⁵ has degree 5. A law h
    # of degree ≤ 3 is a function of Im z⁵ (bound 1), so constant on the 5 lines {Im z⁵ = 0}
    # through 0: h − h(0) vanishes on 5 lines, hence is divisible by a product of 5 linear
    # forms: h is constant. Nothing is found, and the laws are incomplete.
    system, t1, t2 = toy(lambda a, b: a**5 - 10 * a**3 * b**2 + 5 * a * b**4)
    laws = sn.conservation_laws(system)
    assert laws.charges == ()
    assert (laws.bound, laws.complete) == (1, False)
    assert "INCOMPLETE" in str(laws)


def attention(rule, n=2):
    Wq = sn.matrix_coordinates("Wq", n, n)
    Wk = sn.matrix_coordinates("Wk", n, n)
    x = sp.Matrix(sn.data(f"x1:{n + 1}"))
    (y,) = sn.data("y")
    loss = (y - (x.T * Wq.T * Wk * x)[0]) ** 2 / 2
    system = sn.LearningSystem((Wq, Wk), loss, rule=rule, data=(*x, y))
    return system, system.symmetries(mode="general"), Wq, Wk


def test_attention_score_under_gradient_flow():
    # The score sees only sym(WqᵀWk). Symmetries: gl(2), ψ_A = (AWq, −AᵀWk) (4), and with
    # J = [[0, 1], [−1, 0]] both (JWk, 0) and (0, JWq), since WkᵀJWk and WqᵀJWq are
    # antisymmetric (2): dimension 6. Gradient fields: blockdiag(A⊗I, −Aᵀ⊗I) needs A = Aᵀ
    # (3); the cross part (JWk, εJWq) has off-diagonal blocks J⊗I and εJ⊗I, symmetric iff
    # ε = −1 (1), with potential tr(WqᵀJWk). No regularizer: all 4 conserved.
    system, algebra, Wq, Wk = attention(sn.rules.gradient_flow())
    assert algebra.dimension == 6
    laws = sn.conservation_laws(system, algebra)
    assert len(laws.charges) == 4
    J = sp.Matrix([[0, 1], [-1, 0]])
    B = Wq * Wq.T - Wk * Wk.T
    expected = [B[0, 0], B[0, 1], B[1, 1], (Wq.T * J * Wk).trace()]
    assert all(in_span(charge, expected, system.coords) for charge in laws.charges)
    assert not in_span(Wq[0, 0] ** 2, expected, system.coords)  # the check can fail
    assert jacobian_rank(laws.charges, system.coords) == 4
    assert sum(d.law is None for d in laws.broken) == 2


def test_attention_score_n3_under_gradient_flow():
    # As for n = 2 with J any antisymmetric 3×3 (3 dimensions): the algebra is gl(3) (9) plus
    # (JWk, 0) and (0, JWq) (3 + 3) = 15; gradient fields: symmetric A (6) and
    # (JWk, −JWq) (3): 9 charges.
    system, algebra, Wq, Wk = attention(sn.rules.gradient_flow(), n=3)
    assert algebra.dimension == 15
    laws = sn.conservation_laws(system, algebra)
    assert len(laws.charges) == 9
    B = Wq * Wq.T - Wk * Wk.T
    cross = []
    for i in range(3):
        for j in range(i + 1, 3):
            J = sp.zeros(3, 3)
            J[i, j], J[j, i] = 1, -1
            cross.append((Wq.T * J * Wk).trace())
    expected = [B[i, j] for i in range(3) for j in range(i, 3)] + cross
    assert all(in_span(charge, expected, system.coords) for charge in laws.charges)


def test_attention_score_under_momentum():
    # Conserved iff Dψ is antisymmetric: A = J on gl(2) (1) and, on the cross part, J⊗I and
    # εJ⊗I antisymmetric together iff ε = +1: (JWk, JWq) (1). Two laws; four broken by the
    # kinetic term.
    system, algebra, Wq, Wk = attention(sn.rules.momentum(ETA, BETA))
    laws = sn.conservation_laws(system, algebra)
    assert len(laws.charges) == 2
    J = sp.Matrix([[0, 1], [-1, 0]])
    generators = [law.generator for law in laws.laws]
    expected = [
        sp.Matrix([*(J * Wq), *(J * Wk)]),  # A = J: (JWq, −JᵀWk) = (JWq, JWk)
        sp.Matrix([*(J * Wk), *(J * Wq)]),
    ]
    span = sp.Matrix.hstack(*generators)
    for vector in expected:
        assert sp.Matrix.hstack(span, vector).rank() == 2
    assert len(laws.broken) == 4
    assert all(d.broken_by == ("kinetic term",) for d in laws.broken)


def test_display():
    laws = sn.conservation_laws(models.linear_network(2, 2, 2).system(sn.rules.gradient_flow()))
    text = str(laws)
    assert text.startswith("conservation laws under gradient_flow: 3 conserved")
    assert "matrix form [gl(2) at W1 -> W2]  W1*W1.T - W2.T*W2 = [[" in text
    assert "3 independent laws exist (complete)" in text
    latex = laws.to_latex()
    assert latex == laws._repr_latex_()
    assert latex.startswith("$$\\begin{aligned}") and "Q_{3}" in latex
    assert "W_{1} W_{1}^{\\top} - W_{2}^{\\top} W_{2} &= " in latex
    (direction,) = laws.broken
    assert str(direction).endswith("no first-order charge (Mψ is not a gradient field)")
    assert "no first-order charge" in direction._repr_latex_()


def test_bad_input():
    with pytest.raises(sn.InvalidInputError, match="needs a LearningSystem"):
        sn.conservation_laws("not a system")
    net = models.linear_network(2, 2, 2).system(sn.rules.gradient_flow())
    other = models.scalar_pair().system(sn.rules.gradient_flow())
    with pytest.raises(sn.InvalidInputError, match="other coordinates"):
        sn.conservation_laws(net, other.symmetries())


def test_softmax_translations_and_their_products():
    # Softmax regression (3 classes, 2 inputs, biases) is invariant under adding the same
    # vector to every class's logits: T spanned by t1 = 𝟙 on W_·1, t2 = 𝟙 on W_·2, t3 = 𝟙 on
    # b (disjoint supports), and every f(q)·t with f affine is a symmetry (dimension
    # 3·(9 + 1) = 30). Under gradient flow, ψ = Σ c_a t_a + Σ c_ab (t_b·q) t_a is a gradient
    # field iff (c_ab) is symmetric: 3 + 6 = 9 charges, t_a·q and (t_a·q)(t_b·q) (up to
    # factors), which depend on the 3 linear ones only. The softmax is not polynomial in
    # the data: no bound.
    model = models.softmax_regression(3, 2)
    system = model.system(sn.rules.gradient_flow())
    laws = sn.conservation_laws(system)
    W, b = sp.Matrix(model.coords[0]), sp.Matrix(model.coords[1:])
    linear = [sum(W[:, 0]), sum(W[:, 1]), sum(b)]
    quadratic = [u * v for k, u in enumerate(linear) for v in linear[k:]]
    assert laws.algebra.dimension == 30
    assert len(laws.charges) == 9
    assert all(in_span(c, linear + quadratic, system.coords) for c in laws.charges)
    assert jacobian_rank(laws.charges, system.coords) == 3
    assert laws.bound is None and "not a polynomial in the data" in laws.bound_note


def test_float_hyperparameters_are_read_as_the_rationals_they_print_as():
    # momentum(0.1, 0.9): the same single antisymmetric law as with exact 1/10, 9/10.
    system = models.linear_network(2, 2, 2).system(sn.rules.momentum(0.1, 0.9))
    assert sn.conservation_laws(system).coefficients == ((0, 1, -1, 0),)


def test_loss_without_data():
    # V = (1 − w1w2)², gradient flow: the rescale (w1, −w2) has charge ½(w1² − w2²); with no
    # data W = span{∇V}, one field, so the bound is 2 − 1 = 1: complete, and the note says
    # the bound is over the single loss.
    w1, w2 = sn.coordinates("w1 w2")
    system = sn.LearningSystem((w1, w2), (1 - w1 * w2) ** 2, rule=sn.rules.gradient_flow())
    laws = sn.conservation_laws(system)
    assert [sp.expand(c) for c in laws.charges] == [w1**2 / 2 - w2**2 / 2]
    assert (laws.bound, laws.complete) == (1, True)
    assert "single loss" in laws.bound_note


def test_attention_score_n3_under_momentum():
    # Conserved iff Dψ is antisymmetric: on gl(3), A antisymmetric (3); on the cross part,
    # (JWk, εJWq) with off-diagonal blocks J⊗I and εJ⊗I antisymmetric together iff ε = +1,
    # for each of the 3 antisymmetric J (3): 6 laws, the other 15 − 6 = 9 broken by the
    # kinetic term.
    system, algebra, Wq, Wk = attention(sn.rules.momentum(ETA, BETA), n=3)
    assert algebra.dimension == 15
    laws = sn.conservation_laws(system, algebra)
    assert len(laws.charges) == 6
    expected = []
    for i in range(3):
        for j in range(i + 1, 3):
            J = sp.zeros(3, 3)
            J[i, j], J[j, i] = 1, -1
            expected += [sp.Matrix([*(J * Wq), *(J * Wk)]), sp.Matrix([*(J * Wk), *(J * Wq)])]
    # the generators are linear in the entries: compare spans at a random integer point
    rng = random.Random(3)
    point = {q: rng.randint(-9, 9) for q in system.coords}
    span = sp.Matrix.hstack(*(law.generator for law in laws.laws)).xreplace(point)
    assert span.rank() == 6
    assert sp.Matrix.hstack(span, *(v.xreplace(point) for v in expected)).rank() == 6
    assert len(laws.broken) == 9
    assert all(d.broken_by == ("kinetic term",) for d in laws.broken)


def test_relu_network_without_biases_one_rescale_charge_per_unit():
    # V = ½(y − Σ_j a_j max(0, w_j·x))²: ψ_j = (w_j, −a_j) has potential ½(|w_j|² − a_j²);
    # one law per hidden unit, and the Marcotte et al. count for this model is h = 3.
    W = sn.matrix_coordinates("W", 3, 2)
    a = sp.Matrix(sn.coordinates("a1:4"))
    x = sp.Matrix(sn.data("x1:3"))
    (y,) = sn.data("y")
    pre = W * x
    out = sum((a[j] * sp.Max(0, pre[j]) for j in range(3)), sp.S.Zero)
    system = sn.LearningSystem((W, a), (y - out) ** 2 / 2, rule=sn.rules.gradient_flow(),
                               data=(*x, y))  # fmt: skip
    laws = sn.conservation_laws(system)
    expected = [(W[j, 0] ** 2 + W[j, 1] ** 2 - a[j] ** 2) / 2 for j in range(3)]
    assert {sp.expand(c) for c in laws.charges} == {sp.expand(e) for e in expected}
    assert (laws.bound, laws.complete) == (3, True)
