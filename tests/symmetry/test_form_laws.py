"""Readable forms of conservation laws (issue 13): the charges of each named family
assembled into the matrix or vector the papers write, and how many charges are
functionally independent. Every expected form and count is derived by hand below."""

import sympy as sp

import symnoether as sn
from symnoether import models

ETA, BETA = sp.Rational(1, 10), sp.Rational(1, 2)


def zero(matrix):
    return sp.Matrix(matrix).applyfunc(sp.expand) == sp.zeros(*matrix.shape)


def relu(d, h, m, *, bias):
    """V = ½|y − W2 relu(W1 x + b)|², W1 h×d, b h×1, W2 m×h."""
    W1 = sn.matrix_coordinates("W1", h, d)
    W2 = sn.matrix_coordinates("W2", m, h)
    x = sp.Matrix(sn.data(f"x1:{d + 1}"))
    y = sp.Matrix(sn.data(f"y1:{m + 1}"))
    pre, coords = W1 * x, [W1, W2]
    if bias:
        b = sn.matrix_coordinates("b", h, 1)
        pre, coords = pre + b, [W1, b, W2]
    out = W2 * pre.applyfunc(lambda z: sp.Max(0, z))
    loss = sum(e**2 for e in y - out) / 2
    system = sn.LearningSystem(tuple(coords), loss, rule=sn.rules.gradient_flow(), data=(*x, *y))
    return system, coords


def test_relu_network_with_scalar_biases_gives_the_rescale_vector():
    # ψ_j = (w_j, b_j, −a_j) (unit j: row j of W, its bias b_j, its output weight a_j) is
    # its own gradient field with potential ½(|w_j|² + b_j² − a_j²); the papers' vector is
    # (|w_j|² + b_j² − a_j²)_j, here written out from the coordinates.
    model = models.relu_network(2, 2)
    laws = sn.conservation_laws(model.system(sn.rules.gradient_flow()))
    W, b1, b2, a1, a2 = model.coords[0], *model.coords[1:]
    expected = sp.Matrix(
        [
            W[0, 0] ** 2 + W[0, 1] ** 2 + b1**2 - a1**2,
            W[1, 0] ** 2 + W[1, 1] ** 2 + b2**2 - a2**2,
        ]
    )
    (form,) = laws.forms
    assert form.name == "rescalings per unit" and form.is_vector
    assert form.formula == "|W[j,:]|^2 + b_j^2 - a_j^2 for j = 1..2"
    assert zero(form.matrix - expected)
    assert zero(laws.matrix_forms["rescalings per unit"] - expected)
    assert r"\lVert W_{j,:} \rVert^{2} + b_{j}^{2} - a_{j}^{2}" in form.latex
    text = str(laws)
    assert "vector form [rescalings per unit]  |W[j,:]|^2 + b_j^2 - a_j^2 for j = 1..2 = [" in text
    assert form.latex in laws.to_latex()
    markdown = laws.to_markdown()
    assert markdown == laws._repr_markdown_()
    assert "`|W[j,:]|^2 + b_j^2 - a_j^2 for j = 1..2`" in markdown
    assert laws.to_latex() in markdown
    deriv = sn.derive(model.system(sn.rules.gradient_flow()))
    ((plain, latex, matrix),) = deriv.matrix_forms
    assert (plain, latex) == (form.formula, form.latex) and zero(matrix - expected)
    assert "|W[j,:]|^2 + b_j^2 - a_j^2 for j = 1..2" in str(deriv)
    assert form.latex in deriv.to_latex() and form.latex in deriv.to_markdown()


def test_relu_network_with_a_bias_vector_and_an_output_matrix():
    # Unit j of W2 relu(W1 x + b) (W1 2×2, b 2×1, W2 2×2): (W1[j,:], b[j]) → α(…),
    # W2[:,j] → W2[:,j]/α. Charges ½(|W1[j,:]|² + b_j² − |W2[:,j]|²); without biases the
    # same without b_j.
    system, (W1, b, W2) = relu(2, 2, 2, bias=True)
    laws = sn.conservation_laws(system)
    expected = sp.Matrix(
        [
            W1[j, 0] ** 2 + W1[j, 1] ** 2 + b[j] ** 2 - W2[0, j] ** 2 - W2[1, j] ** 2
            for j in range(2)
        ]
    )
    (form,) = laws.forms
    assert form.formula == "|W1[j,:]|^2 + b[j]^2 - |W2[:,j]|^2 for j = 1..2"
    assert zero(form.matrix - expected)
    assert (laws.bound, laws.complete) == (2, True)

    system, (W1, W2) = relu(2, 2, 2, bias=False)
    (form,) = sn.conservation_laws(system).forms
    assert form.formula == "|W1[j,:]|^2 - |W2[:,j]|^2 for j = 1..2"
    assert r"\lVert (W_{1})_{j,:} \rVert^{2} - \lVert (W_{2})_{:,j} \rVert^{2}" in form.latex
    expected = sp.Matrix(
        [W1[j, 0] ** 2 + W1[j, 1] ** 2 - W2[0, j] ** 2 - W2[1, j] ** 2 for j in range(2)]
    )
    assert zero(form.matrix - expected)


def test_scalings_before_a_normalization_give_the_norm_vector():
    # V = (w1₁/|w1| − y1)² + (w2₂/|w2| − y2)² (w_j the rows of W) is invariant under
    # w_j → αw_j, one scale each, ψ_j = w_j: gradient of ½|w_j|², no regularizer, so
    # (|w_1|², |w_2|²) is conserved under gradient flow.
    W = sn.matrix_coordinates("W", 2, 2)
    y1, y2 = sn.data("y1 y2")
    norm = [sp.sqrt(W[j, 0] ** 2 + W[j, 1] ** 2) for j in range(2)]
    loss = (W[0, 0] / norm[0] - y1) ** 2 + (W[1, 1] / norm[1] - y2) ** 2
    system = sn.LearningSystem((W,), loss, rule=sn.rules.gradient_flow(), data=(y1, y2))
    (form,) = sn.conservation_laws(system).forms
    assert (form.name, form.formula) == ("scalings per unit", "|W[j,:]|^2 for j = 1..2")
    assert zero(form.matrix - sp.Matrix([norm[0] ** 2, norm[1] ** 2]))


def test_matrix_factorization_form_is_UtU_minus_VtV():
    # ½|Y − UVᵀ|², U, V 3×2: UVᵀ is kept by (U, V) → (UG, VG⁻ᵀ), ψ_A = (UA, −VAᵀ), found as
    # the gl(2) shared by U and V (the two blocks have the same shape, so this is not a
    # consecutive-layer interface W_a → W_b: before, no form came out). q̇·ψ_A =
    # ⟨U̇, UA⟩ − ⟨V̇, VAᵀ⟩ = ⟨A, UᵀU̇ − V̇ᵀV⟩, so under gradient flow the symmetric A have
    # potential ½⟨A, UᵀU − VᵀV⟩ and the form is UᵀU − VᵀV.
    U = sn.matrix_coordinates("U", 3, 2)
    V = sn.matrix_coordinates("V", 3, 2)
    Y = sp.Matrix(3, 3, sn.data("y1:10"))
    loss = sum(e**2 for e in Y - U * V.T) / 2
    system = sn.LearningSystem((U, V), loss, rule=sn.rules.gradient_flow(), data=tuple(Y))
    laws = sn.conservation_laws(system)
    (form,) = laws.forms
    assert form.name == "gl(2) shared by U, V (U*V^T)"
    assert form.formula == "U.T*U - V.T*V"
    assert form.latex == r"U^{\top} U - V^{\top} V"
    assert zero(form.matrix - (U.T * U - V.T * V))
    assert "matrix form [gl(2) shared by U, V (U*V^T)]  U.T*U - V.T*V = [[" in str(laws)
    assert str(form).startswith("gl(2) shared by U, V (U*V^T): U.T*U - V.T*V = [[")
    assert form._repr_latex_().startswith(
        r"$$\begin{aligned}" + "\n" + r"U^{\top} U - V^{\top} V &= "
    )
    deriv = sn.derive(system)
    ((plain, latex, matrix),) = deriv.matrix_forms
    assert (plain, latex) == (form.formula, form.latex)
    assert zero(matrix - (U.T * U - V.T * V))
    assert "U.T*U - V.T*V" in str(deriv)
    assert r"U^{\top} U - V^{\top} V" in deriv.to_latex()
    assert r"U^{\top} U - V^{\top} V" in deriv.to_markdown()


def attention(rule, n=2):
    Wq = sn.matrix_coordinates("Wq", n, n)
    Wk = sn.matrix_coordinates("Wk", n, n)
    x = sp.Matrix(sn.data(f"x1:{n + 1}"))
    (y,) = sn.data("y")
    loss = (y - (x.T * Wq.T * Wk * x)[0]) ** 2 / 2
    return sn.LearningSystem((Wq, Wk), loss, rule=rule, data=(*x, y)), Wq, Wk


def test_attention_forms_under_gradient_flow_in_the_default_mode():
    # Without mode=: the default search. gl(2) shared by Wq, Wk: ψ_A = (AWq, −AᵀWk),
    # q̇·ψ_A = ⟨A, ẆqWqᵀ − WkẆkᵀ⟩, symmetric A conserved with potential ½⟨A, WqWqᵀ − WkWkᵀ⟩.
    # Cross generators (JWk, εJWq): a gradient field iff ε = −1, potential
    # ⟨Wq, JWk⟩ = ⟨J, WqWkᵀ⟩ = ½⟨J, WqWkᵀ − WkWqᵀ⟩ for antisymmetric J, so the form is the
    # antisymmetric WqWkᵀ − WkWqᵀ (entry (1,2) = the charge of J = E12 − E21).
    system, Wq, Wk = attention(sn.rules.gradient_flow())
    laws = sn.conservation_laws(system)
    assert laws.algebra.dimension == 6 and len(laws.charges) == 4
    forms = {form.name: form for form in laws.forms}
    shared = forms["gl(2) shared by Wq, Wk (Wq^T*Wk)"]
    assert shared.formula == "Wq*Wq.T - Wk*Wk.T"
    assert zero(shared.matrix - (Wq * Wq.T - Wk * Wk.T))
    cross = forms["so(2) cross pair Wq, Wk (Wq += J*Wk, Wk -= J*Wq)"]
    assert cross.formula == "Wq*Wk.T - Wk*Wq.T"
    assert zero(cross.matrix - (Wq * Wk.T - Wk * Wq.T))
    J = sp.Matrix([[0, 1], [-1, 0]])
    potential = (Wq.T * J * Wk).trace()
    assert sp.expand(cross.matrix[0, 1] - potential) == 0
    assert any(sp.expand(charge - potential) == 0 for charge in laws.charges)
    # derive() in the default mode keeps the cross law and both forms
    deriv = sn.derive(system)
    assert len(deriv.laws) == 4
    assert [plain for plain, _, _ in deriv.matrix_forms] == [shared.formula, cross.formula]


def test_attention_forms_under_momentum():
    # Second order, M = m·I: ψ conserved iff Dψ is antisymmetric. gl(2) shared: A = J,
    # ψ = (JWq, JWk), q̇·ψ = ⟨J, ẆqWqᵀ + ẆkWkᵀ⟩: form P − Pᵀ with P = ẆqWqᵀ + ẆkWkᵀ.
    # Cross pair (JWk, JWq) (ε = +1): q̇·ψ = ⟨J, ẆqWkᵀ + ẆkWqᵀ⟩: P = ẆqWkᵀ + ẆkWqᵀ.
    system, Wq, Wk = attention(sn.rules.momentum(ETA, BETA))
    laws = sn.conservation_laws(system)
    dot = lambda W: W.applyfunc(sn.velocity)  # noqa: E731
    forms = {form.name: form.matrix for form in laws.forms}
    P = dot(Wq) * Wq.T + dot(Wk) * Wk.T
    assert zero(forms["gl(2) shared by Wq, Wk (Wq^T*Wk)"] - (P - P.T))
    P = dot(Wq) * Wk.T + dot(Wk) * Wq.T
    assert zero(forms["so(2) cross pair Wq, Wk (Wq += J*Wk, Wk += J*Wq)"] - (P - P.T))
    mass = ETA * (1 + BETA) / 2
    assert sp.simplify(laws.form_factor - sp.exp(sn.TIME * (1 - BETA) / mass) * mass) == 0


def test_softmax_translations_form_the_vector_of_column_and_bias_sums():
    # Softmax regression (3 classes, 2 inputs): z → z + c𝟙 is a symmetry, so are the shifts
    # t1 = 𝟙 on W[:,1], t2 = 𝟙 on W[:,2], t3 = 𝟙 on b; each constant ψ = t is the gradient
    # of t·q, conserved: the vector (𝟙ᵀW, 𝟙ᵀb) of the column sums of W and the bias sum.
    model = models.softmax_regression(3, 2)
    laws = sn.conservation_laws(model.system(sn.rules.gradient_flow()))
    W, b = sp.Matrix(model.coords[0]), model.coords[1:]
    (form,) = laws.forms
    assert (form.name, form.formula) == ("translations", "(1^T*W, 1^T*b)")
    assert form.latex == r"\left(\mathbb{1}^{\top} W,\ \mathbb{1}^{\top} b\right)"
    assert zero(form.matrix - sp.Matrix([sum(W[:, 0]), sum(W[:, 1]), sum(b)]))
    assert "vector form [translations]  (1^T*W, 1^T*b) = [W_11 + W_21 + W_31, " in str(laws)


def test_wide_hidden_layer_functional_rank_by_hand():
    # d = m = 2, r = 5 > d + m = 4. U = [W1, W2ᵀ] (r×n, n = d + m = 4), B = W1W1ᵀ − W2ᵀW2 =
    # U S Uᵀ with S = diag(I_d, −I_m). Its differential δU ↦ XUᵀ + UXᵀ (X = δU S, any r×n)
    # has, at U of rank n (generic), in a basis where U = [I_n; 0]: [[Y1 + Y1ᵀ, Y2ᵀ],
    # [Y2, 0]] with Y1 n×n and Y2 (r − n)×n free: n(n+1)/2 + n(r − n) = 10 + 4 = 14. So the
    # 15 entries of the symmetric B are functionally dependent, rank 14. The level sets of
    # B are the orbits U → UQ of O(d, m) (dimension n(n−1)/2 = 6 = D − 14, D = 20), along
    # which the gradient fields move (Marcotte et al.): the bound is 14, complete.
    net = models.linear_network(2, 5, 2).system(sn.rules.gradient_flow())
    laws = sn.conservation_laws(net)
    n, r = 4, 5
    assert len(laws.charges) == r * (r + 1) // 2 == 15
    assert laws.functional_rank == n * (n + 1) // 2 + n * (r - n) == 14
    assert (laws.bound, laws.complete) == (14, True)
    assert "the 15 charges' Jacobian has rank 14 at random points" in str(laws)
    assert "functional rank: the 15 charges' Jacobian has rank 14" in laws.to_markdown()


def test_functional_rank_equals_the_count_when_independent():
    # linear_network(2, 2, 2): d + m = 4 ≥ r = 2, the 3 entries of B are independent.
    laws = sn.conservation_laws(models.linear_network(2, 2, 2).system(sn.rules.gradient_flow()))
    assert laws.functional_rank == 3
    assert "functional rank" not in str(laws)
    # momentum: the one antisymmetric law, a function of (q, q̇), rank 1
    momentum = models.linear_network(2, 2, 2).system(sn.rules.momentum(ETA, BETA))
    assert sn.conservation_laws(momentum).functional_rank == 1


def test_a_metric_scales_the_form_or_leaves_it_out():
    # Gradient flow G q̇ = −∇V: the charge of ψ_A is the potential of Gψ_A. G = 3I: 3·½⟨A, B⟩,
    # B = W1W1ᵀ − W2ᵀW2: the same form, form factor 3. G = 2I on W1, I on W2: Gψ_A =
    # (2AW1, −W2A), potential ⟨A, W1W1ᵀ⟩ − ½⟨A, W2ᵀW2⟩ for symmetric A: still 3 charges,
    # but not the entries of B, so no form is claimed.
    model = models.linear_network(2, 2, 2)
    W1, W2 = (sp.Matrix(block) for block in model.coords)
    laws = sn.conservation_laws(model.system(sn.rules.gradient_flow(3)))
    assert laws.form_factor == 3
    assert zero(laws.matrix_forms["gl(2) at W1 -> W2"] - (W1 * W1.T - W2.T * W2))
    G = sp.diag(2, 2, 2, 2, 1, 1, 1, 1)
    laws = sn.conservation_laws(model.system(sn.rules.gradient_flow(G)))
    assert len(laws.charges) == 3
    assert laws.forms == ()
    expected = (W1 * W1.T - W2.T * W2 / 2)[0, 0]
    assert sp.expand(laws.charges[0] - expected) == 0


def matrix_attention(rule):
    Q, K = sp.MatrixSymbol("Q", 2, 2), sp.MatrixSymbol("K", 2, 2)
    x, y = sp.MatrixSymbol("x", 2, 1), sp.MatrixSymbol("y", 1, 1)
    residual = y - x.T * Q.T * K * x
    system = sn.LearningSystem((Q, K), residual.T * residual / 2, rule=rule, data=(x, y))
    return system, Q, K


def explicit(expr, Q, K, J_symbol):
    """``expr`` with Q, K written out entry by entry and J = [[0, 1], [−1, 0]]."""
    Qm = sp.Matrix(2, 2, sp.symbols("q11 q12 q21 q22"))
    Km = sp.Matrix(2, 2, sp.symbols("k11 k12 k21 k22"))
    J = sp.ImmutableMatrix([[0, 1], [-1, 0]])
    value = expr.subs({Q: sp.ImmutableMatrix(Qm), K: sp.ImmutableMatrix(Km), J_symbol: J})
    return sp.expand(value.doit()), Qm, Km, J


def test_matrix_level_attention_finds_the_cross_pair_in_the_default_path():
    # MatrixSymbol layers: the structured search gives gl(2) shared by Q, K and the cross
    # families Q += JK, K += JQ, each broken alone (no charge under gradient flow, broken
    # by the kinetic term under momentum). Their combinations (JK, εJQ): ε = −1 is a
    # gradient field with potential ⟨Q, JK⟩ = tr(QᵀJK) (gradient flow: 3 + 1 conserved);
    # ε = +1 has Dψ antisymmetric (momentum: 1 + 1 conserved).
    system, Q, K = matrix_attention(sn.rules.gradient_flow())
    laws = sn.conservation_laws(system)
    assert laws.conserved_dimension == 4
    name = "so(2) cross pair Q, K (Q += J*K, K -= J*Q)"
    (piece,) = [p for p in laws.conserved if p.family == name]
    (J_symbol,) = [m for m in piece.law.charge.free_symbols if m.name.startswith("J")]
    charge, Qm, Km, J = explicit(piece.law.charge, Q, K, J_symbol)
    assert sp.expand(charge - (Qm.T * J * Km).trace()) == 0
    assert name in laws.matrix_forms
    deriv = sn.derive(system)
    assert any(name in law_name for law_name in deriv.names)

    system, Q, K = matrix_attention(sn.rules.momentum(ETA, BETA))
    laws = sn.conservation_laws(system)
    assert laws.conserved_dimension == 2
    assert "so(2) cross pair Q, K (Q += J*K, K += J*Q)" in [p.family for p in laws.conserved]


def test_overlapping_rescalings_are_not_units():
    # V = ½(y − w1w2w3x)²: the rescalings (w1, −w2, 0), (w1, 0, −w3) both move w1, so they are
    # not per-unit rescalings: their charges ½(w1² − w2²), ½(w1² − w3²) (up to the basis)
    # are reported, with no vector form.
    w = sn.coordinates("w1 w2 w3")
    x, y = sn.data("x y")
    system = sn.LearningSystem(
        w, (y - w[0] * w[1] * w[2] * x) ** 2 / 2, rule=sn.rules.gradient_flow(), data=(x, y)
    )
    laws = sn.conservation_laws(system)
    assert len(laws.charges) == 2 and laws.forms == ()


def test_units_with_names_without_digits_get_their_listed_form():
    # V = ½(y − p·relu(qx + u) − r·relu(sx + v))²: two units, (q, u, p) and (s, v, r);
    # each charge is ±½(q² + u² − p²) (the rescaling (q, u, −p)); names carry no index,
    # so the vector is listed unit by unit (this used to raise AttributeError).
    p, q, r, s, u, v = sn.coordinates("p q r s u v")
    x, y = sn.data("x y")
    loss = (y - p * sp.Max(0, q * x + u) - r * sp.Max(0, s * x + v)) ** 2 / 2
    flow = sn.LearningSystem((p, q, r, s, u, v), loss, data=(x, y), rule=sn.rules.gradient_flow())
    laws = sn.conservation_laws(flow)
    hand = [q**2 + u**2 - p**2, s**2 + v**2 - r**2]
    assert {sp.expand(c**2) for c in laws.charges} == {sp.expand(h**2 / 4) for h in hand}
    (form,) = laws.forms
    assert form.formula in ("(p^2 - q^2 - u^2, r^2 - s^2 - v^2)",
                            "(q^2 + u^2 - p^2, s^2 + v^2 - r^2)")  # fmt: skip
