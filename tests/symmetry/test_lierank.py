"""The Marcotte–Gribonval–Peyré bound D − dim Lie(W)(θ), on cases counted by hand."""


import pytest
import sympy as sp

import symnoether as sn
from symnoether import models
from symnoether.symmetry.ansatz import polynomial_laws
from symnoether.symmetry.lierank import MAX_BOUND_COORDINATES, lie_bound


def flow(coords, loss, data=()):
    return sn.LearningSystem(coords, loss, rule=sn.rules.gradient_flow(), data=data)


def test_scalar_pair_has_one_law():
    # ℓ = ½(y − w1w2x)²: its data coefficients are ½y², −w1w2 (of xy), ½w1²w2² (of x²); the
    # gradient fields ∇(w1w2) and w1w2∇(w1w2) are parallel, so Lie(W) is spanned by the one
    # field ∇(w1w2) ([X, gX] = (Xg)X): dim 1, and the bound is 2 − 1 = 1 (w1² − w2²).
    w1, w2 = sn.coordinates("w1 w2")
    x, y = sn.data("x y")
    result = lie_bound(flow((w1, w2), (y - w1 * w2 * x) ** 2 / 2, (x, y)))
    assert (result.bound, result.dimension, result.lie_rank) == (1, 2, 1)


@pytest.mark.parametrize(("d", "r", "m"), [(2, 2, 2), (3, 2, 2), (2, 3, 2), (4, 2, 1)])
def test_two_layer_linear_network_bound_is_the_balancedness_count(d, r, m):
    # Marcotte et al. (2023), two-layer linear networks: when d + m ≥ r the laws are the
    # r(r+1)/2 entries of the symmetric W1W1ᵀ − W2ᵀW2 (functionally independent: its
    # differential sym(δW1 W1ᵀ) − sym(W2ᵀδW2) is onto the symmetric matrices once the r×(d+m)
    # matrix [W1 | W2ᵀ] has rank r).
    net = models.linear_network(d, r, m).system(sn.rules.gradient_flow())
    assert lie_bound(net).bound == r * (r + 1) // 2


def test_hidden_layer_wider_than_input_plus_output():
    # d = m = 1, r = 3: f = w2·w1 x. W is spanned by ∇(w2·w1) and ∇((w2·w1)²), parallel, so
    # dim Lie(W) = 1 and the bound is 6 − 1 = 5 < 6 = r(r+1)/2 balancedness entries.
    net = models.linear_network(1, 3, 1).system(sn.rules.gradient_flow())
    assert lie_bound(net).bound == 5


def test_toy_without_affine_symmetry():
    # ℓ = ½(y − x(θ1³ − 3θ1θ2²))²: W = span{∇g, ∇g²}, g = θ1³ − 3θ1θ2², all parallel to ∇g:
    # dim Lie = 1, bound 2 − 1 = 1 (the harmonic conjugate 3θ1²θ2 − θ2³ is the law).
    t1, t2 = sn.coordinates("t1 t2")
    x, y = sn.data("x y")
    result = lie_bound(flow((t1, t2), (y - x * (t1**3 - 3 * t1 * t2**2)) ** 2 / 2, (x, y)))
    assert result.bound == 1


def test_loss_without_data_is_one_field():
    # No data: W = span{∇ℓ}, one field, dim Lie = 1: bound D − 1 = 2.
    q = sn.coordinates("q1:4")
    result = lie_bound(flow(q, (q[0] * q[1] * q[2] - 1) ** 2))
    assert result.bound == 2
    assert "no data symbols" in result.note


def test_hyperparameters_get_generic_values():
    # ℓ = ½(y − a·w1w2x)², a a hyper-parameter: as for the scalar pair, bound 1.
    w1, w2 = sn.coordinates("w1 w2")
    x, y = sn.data("x y")
    a = sp.Symbol("a", positive=True)
    assert lie_bound(flow((w1, w2), (y - a * w1 * w2 * x) ** 2 / 2, (x, y))).bound == 1


def test_non_polynomial_loss_has_no_bound():
    w1, w2 = sn.coordinates("w1 w2")
    x, y = sn.data("x y")
    result = lie_bound(flow((w1, w2), (y - sp.exp(w1 * w2) * x) ** 2, (x, y)))
    assert result.bound is None
    assert "not a polynomial in the coordinates" in result.note


def test_too_many_coordinates():
    q = sn.coordinates(f"q1:{MAX_BOUND_COORDINATES + 2}")
    with pytest.raises(sn.SearchTooLargeError, match="exceeds the limit"):
        lie_bound(flow(q, sum(q) ** 2))


def test_bound_of_a_4_4_4_linear_network():
    # 32 parameters, r = 4: bound 4·5/2 = 10 (d + m = 8 ≥ 4). Its time (issue: ≤ 10 s) is
    # measured in benchmarks/conservation_laws.py, not asserted here.
    net = models.linear_network(4, 4, 4).system(sn.rules.gradient_flow())
    assert lie_bound(net).bound == 10


@pytest.mark.parametrize(("d", "h"), [(2, 2), (3, 2), (3, 3)])
def test_relu_network_bound_is_one_per_hidden_unit(d, h):
    # Marcotte et al. (2023): a two-layer ReLU network has exactly the h rescale laws
    # |w_j|² + b_j² − a_j². With h ≤ d every activation pattern is realised by an input.
    net = models.relu_network(d, h).system(sn.rules.gradient_flow())
    result = lie_bound(net)
    assert result.bound == h
    assert "ReLU activation patterns" in result.note


def test_relu_network_without_biases():
    # a1 relu(w1·x) + a2 relu(w2·x), x ∈ R²: again one law per unit, |w_j|² − a_j²: bound 2.
    W = sn.matrix_coordinates("W", 2, 2)
    a = sn.coordinates("a1:3")
    x = sp.Matrix(sn.data("x1:3"))
    (y,) = sn.data("y")
    pre = W * x
    output = sum(a[j] * sp.Max(0, pre[j]) for j in range(2))
    assert lie_bound(flow((W, a), (y - output) ** 2 / 2, (*x, y))).bound == 2


@pytest.mark.parametrize(("d", "h", "regions"), [(1, 2, 3), (2, 3, 7), (3, 5, 26)])
def test_relu_units_outnumbering_the_inputs(d, h, regions):
    # h > d: only some patterns are realised. A generic arrangement of h affine hyperplanes
    # in R^d has Σ_{i ≤ d} C(h, i) regions (Zaslavsky): 1 + 2 = 3, 1 + 3 + 3 = 7,
    # 1 + 5 + 10 + 10 = 26. The laws are still the h rescalings (Marcotte et al.): bound h.
    net = models.relu_network(d, h).system(sn.rules.gradient_flow())
    result = lie_bound(net)
    assert f"the {regions} of {2**h} activation patterns" in result.note
    assert result.bound == h


def test_relu_pre_activation_not_affine_in_the_inputs_gets_no_bound():
    w = sn.coordinates("w1:4")
    a = sn.coordinates("a1:4")
    (x, y) = sn.data("x y")
    output = sum(a[j] * sp.Max(0, w[j] * x**2 - 1) for j in range(3))
    result = lie_bound(flow((*w, *a), (y - output) ** 2 / 2, (x, y)))
    assert result.bound is None
    assert "not affine in the inputs" in result.note


def test_polynomial_laws_of_a_linear_network_are_the_balancedness():
    # Degree ≤ 3 polynomials h with ∇h·∇c_β ≡ 0: for the [2, 2, 2] linear network the three
    # entries of W1W1ᵀ − W2ᵀW2 (bound 3, so nothing else independent; the ansatz returns a
    # basis of the polynomial laws of degree ≤ 3, which here is these three: products of
    # two of them have degree 4).
    model = models.linear_network(2, 2, 2)
    W1, W2 = (sp.Matrix(block) for block in model.coords)
    B = W1 * W1.T - W2.T * W2
    laws = polynomial_laws(model.system(sn.rules.gradient_flow()))
    assert {sp.expand(law) for law in laws} == {
        sp.expand(B[0, 0]),
        sp.expand(B[0, 1]),
        sp.expand(B[1, 1]),
    }


def test_bound_of_a_relu_network_4_6_is_fast():
    # d = 4, h = 6 (36 parameters): 1 + 6 + 15 + 20 + 15 = 57 of 64 patterns; bound h = 6,
    # its time (issue: ≤ 10 s) is measured in benchmarks/conservation_laws.py.
    net = models.relu_network(4, 6).system(sn.rules.gradient_flow())
    result = lie_bound(net)
    assert result.bound == 6
    assert "the 57 of 64 activation patterns" in result.note


def test_potential_terms_come_from_a_polynomial_ring():
    """(y − ab/2)² = y² − aby + a²b²/4 over (y, a, b); not a polynomial over ℚ: None
    (the Poly fallback then names why)."""
    from symnoether.symmetry.lierank import _rational_terms

    a, b, y = sp.symbols("a b y")
    terms = dict(_rational_terms((y - a * b / 2) ** 2, (y, a, b)))
    assert terms == {(2, 0, 0): 1, (1, 1, 1): -1, (0, 2, 2): sp.Rational(1, 4)}
    assert _rational_terms(sp.exp(a), (a,)) is None
    assert _rational_terms(1 / a, (a,)) is None
    assert _rational_terms(0.5 * a, (a,)) is None
    assert _rational_terms(a * b, (a,)) is None  # b is neither data nor a coordinate


@pytest.mark.parametrize("with_data", [True, False])
def test_a_relu_that_sees_no_data_input_gets_no_bound_not_a_sympy_error(with_data):
    # V = ½(y − a·relu(w)·x)²: the pre-activation w has no input to count patterns over
    # (this used to leak sympy's GeneratorsNeeded); the bound is refused with the reason.
    a, w = sn.coordinates("a w")
    x, y = sn.data("x y")
    loss = (y - a * sp.Max(0, w) * x) ** 2 / 2 if with_data else (1 - a * sp.Max(0, w)) ** 2 / 2
    data = {"data": (x, y)} if with_data else {}
    flow = sn.LearningSystem((a, w), loss, rule=sn.rules.gradient_flow(), **data)
    laws = sn.conservation_laws(flow)
    assert laws.bound is None and "see no data input" in laws.bound_note
