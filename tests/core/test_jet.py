"""Tests of symnoether.core.jet: total derivative, prolongation, robust zero test.

Expected values come from independent methods: finite differences along
explicit curves (mpmath, 50 digits), SymPy's own chain rule on composed
functions of t, first-order flows q → q + εψ(q) differentiated in ε, and
identities derived by hand.
"""

from __future__ import annotations

import mpmath
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symnoether.core.jet import generator_derivative, is_zero, prolonged_action, total_derivative

t = sp.Symbol("t", real=True)
q1, q2 = sp.symbols("q1 q2", real=True)
v1, v2 = sp.symbols("v1 v2", real=True)
a1, a2 = sp.symbols("a1 a2", real=True)
Q, V, A = (q1, q2), (v1, v2), (a1, a2)
x, y = sp.symbols("x y", real=True)
p, r = sp.symbols("p r", positive=True)

# An explicit curve q(t), a polynomial in t.
CURVE = (1 + 2 * t - t**2 / 3 + t**3 / 5, sp.Rational(-1, 2) + t / 7 + t**2 / 2)

FUNCTIONS = [
    q1**2 * v2 + q2 * v1**3,
    t * q1 * q2 + sp.exp(t / 3) * v1 * v2,
    sp.sin(q1) * v2**2 + sp.cos(q2 * t) * v1,
    sp.log(1 + q1**2) * (v1**2 + v2**2) / 2 - q1 * q2 * v2,
    sp.exp(2 * t / 5) * (v1**2 / 4 - (1 - q1 * q2) ** 2 / 2),
]


def _on_curve(expr: sp.Expr) -> sp.Expr:
    """expr(t, q(t), q̇(t), q̈(t)) as a function of t alone."""
    subs = {}
    for qi, vi, ai, ci in zip(Q, V, A, CURVE, strict=True):
        subs[qi] = ci
        subs[vi] = sp.diff(ci, t)
        subs[ai] = sp.diff(ci, t, 2)
    return expr.subs(subs)


# -- total derivative --------------------------------------------------------------


@pytest.mark.parametrize("f", FUNCTIONS)
@pytest.mark.parametrize("t0", [sp.Rational(-3, 4), sp.Rational(1, 3), sp.Rational(11, 5)])
def test_total_derivative_matches_finite_difference_along_curve(f, t0):
    along = sp.lambdify(t, _on_curve(f), modules="mpmath")
    with mpmath.workdps(50):
        numeric = mpmath.diff(along, mpmath.mpf(t0.p) / t0.q)
    derived = _on_curve(total_derivative(f, Q, V, A, t)).subs(t, t0)
    assert abs(sp.N(derived, 40) - sp.Float(numeric, 40)) < sp.Float(10) ** -25


@pytest.mark.parametrize("f", FUNCTIONS)
def test_total_derivative_equals_chain_rule_of_composition(f):
    derived = _on_curve(total_derivative(f, Q, V, A, t))
    assert sp.simplify(derived - sp.diff(_on_curve(f), t)) == 0


def test_total_derivative_with_on_shell_accelerations():
    # Harmonic oscillator q̈ = −q: the energy ½(v² + q²) has D_t = 0 on shell.
    energy = (v1**2 + q1**2) / 2
    assert sp.expand(total_derivative(energy, [q1], [v1], [-q1], t)) == 0
    # A non-conserved quantity: D_t(q v) = v² + q q̈ = v² − q².
    assert sp.expand(total_derivative(q1 * v1, [q1], [v1], [-q1], t) - (v1**2 - q1**2)) == 0


def test_generator_derivative_is_time_derivative_of_psi_along_curve():
    psi = sp.Matrix([q1 * q2**2, sp.sin(q1) + q2])
    derived = _on_curve(generator_derivative(psi, Q, V))
    expected = sp.diff(_on_curve(psi), t)
    assert sp.simplify(derived - expected) == sp.zeros(2, 1)


# -- prolongation ----------------------------------------------------------------

eps = sp.Symbol("epsilon", real=True)


def _flow_derivative(f: sp.Expr, psi: sp.Matrix) -> sp.Expr:
    """d/dε f(q + εψ(q(t)), q̇ + ε d/dt ψ(q(t))) at ε = 0, along the explicit curve."""
    psi_t = _on_curve(psi)
    subs = {}
    for i, (qi, vi) in enumerate(zip(Q, V, strict=True)):
        subs[qi] = CURVE[i] + eps * psi_t[i]
        subs[vi] = sp.diff(CURVE[i], t) + eps * sp.diff(psi_t[i], t)
    return sp.diff(f.subs(subs, simultaneous=True), eps).subs(eps, 0)


ROTATION = sp.Matrix([-q2, q1])
SCALE = sp.Matrix([q1, q2])


@pytest.mark.parametrize(
    ("invariant", "psi"),
    [
        (v1**2 + v2**2, ROTATION),  # rotation of |q̇|²
        (q1 * v2 - q2 * v1, ROTATION),  # angular momentum
        (q1**2 + q2**2, ROTATION),
        ((q1 * v1 + q2 * v2) / (q1**2 + q2**2), SCALE),  # scale on q·q̇/|q|²
        ((v1**2 + v2**2) / (q1**2 + q2**2), SCALE),
        (q1 / q2 + v1 / q1, SCALE),
        (q1 - q2 + v1 * v2, sp.Matrix([1, 1])),  # translation along 𝟙
    ],
)
def test_prolonged_action_annihilates_invariants(invariant, psi):
    assert sp.simplify(prolonged_action(invariant, psi, Q, V)) == 0


@pytest.mark.parametrize(
    ("f", "psi", "expected"),
    [
        (v1**2 + v2**2, SCALE, 2 * (v1**2 + v2**2)),  # q̇ → λq̇ scales |q̇|² by λ²
        (q1 * v1, ROTATION, -q2 * v1 - q1 * v2),
        (v1, sp.Matrix([q1**2, 0]), 2 * q1 * v1),
    ],
)
def test_prolonged_action_by_hand(f, psi, expected):
    assert sp.expand(prolonged_action(f, psi, Q, V) - expected) == 0


@pytest.mark.parametrize(
    "psi",
    [ROTATION, SCALE, sp.Matrix([q1 * q2, sp.exp(q1)]), sp.Matrix([sp.sin(q2), q1**3 - 1])],
)
@pytest.mark.parametrize("f", FUNCTIONS[:4])
def test_prolonged_action_is_derivative_of_the_flow(f, psi):
    derived = _on_curve(prolonged_action(f, psi, Q, V))
    expected = _flow_derivative(f, psi)
    for t0 in (sp.Rational(-1, 3), sp.Rational(6, 5)):
        difference = sp.N((derived - expected).subs(t, t0), 40)
        assert abs(difference) < sp.Float(10) ** -30


# -- robust zero test ---------------------------------------------------------------

f = sp.Function("f")
w1, w2 = sp.symbols("w1 w2", real=True)
_norm = sp.sqrt(w1**2 + w2**2)
_on_sphere = f(w1 / _norm, w2 / _norm)
z1, z2, z3 = sp.symbols("z1:4", real=True)
_lse = sp.log(sp.exp(z1) + sp.exp(z2) + sp.exp(z3))

TRUE_ZEROS = {
    "float coefficients": 0.1 * x + 0.2 * x - 0.3 * x,
    "float sum": (0.1 + 0.2) * x**2 - 0.3 * x**2,
    "float thirds": sp.Float(1) / 3 * 3 * x - x,
    "sqrt of positive square": sp.sqrt(p**2) - p,
    "sqrt product positive": sp.sqrt(p) * sp.sqrt(r) - sp.sqrt(p * r),
    "sqrt of squares product": sp.sqrt(p**2 * r**2) - p * r,
    "sqrt squared": sp.sqrt(x**2 + 1) ** 2 - x**2 - 1,
    "log of product": sp.log(p * r) - sp.log(p) - sp.log(r),
    "exp of log sum": sp.exp(sp.log(p) + sp.log(r)) - p * r,
    "exp of double log": sp.exp(2 * sp.log(p)) - p**2,
    "log of exp": sp.log(sp.exp(x)) - x,
    "abs positive": sp.Abs(p) - p,
    "abs squared": sp.Abs(x) ** 2 - x**2,
    "abs of product": sp.Abs(x * y) - sp.Abs(x) * sp.Abs(y),
    "relu split": sp.Max(0, x) - sp.Max(0, -x) - x,
    "max plus min": sp.Max(x, 1) + sp.Min(x, 1) - x - 1,
    "max as abs": sp.Max(x, y) - (x + y + sp.Abs(x - y)) / 2,
    "heaviside partition": sp.Heaviside(x) + sp.Heaviside(-x) - 1,
    "relu derivative": sp.diff(sp.Max(0, x), x) * x - sp.Max(0, x),
    "softmax sums to one": sum(sp.exp(z - _lse) for z in (z1, z2, z3)) - 1,
    "lse shift invariance": sum(sp.diff(_lse, z) for z in (z1, z2, z3)) - 1,
    "lse translation": _lse.subs({z1: z1 + x, z2: z2 + x, z3: z3 + x}, simultaneous=True)
    - _lse
    - x,
    "trig": sp.sin(x) ** 2 + sp.cos(x) ** 2 - 1,
    "scale invariance f(w/|w|)": w1 * sp.diff(_on_sphere, w1) + w2 * sp.diff(_on_sphere, w2),
    "rotation of f(|w|)": -w2 * sp.diff(f(_norm), w1) + w1 * sp.diff(f(_norm), w2),
    "rational function": (x**2 - 1) / (x - 1) - x - 1,
}

TRUE_NONZEROS = {
    "many roots": sp.prod([x - k for k in range(1, 8)]),
    "many roots over factorial": sp.prod([x - k for k in range(1, 21)]) / sp.factorial(20),
    "tiny float coefficient": 1e-8 * x,
    "tiny rational coefficient": sp.Rational(1, 10**8) * x,
    "abs minus identity": sp.Abs(x) - x,
    "relu minus identity": sp.Max(0, x) - x,
    "sqrt of real square": sp.sqrt(x**2) - x,
    "heaviside minus one": sp.Heaviside(x) - 1,
    "exp vs linear": sp.exp(p) - 1 - p,
    "almost trig": sp.sin(x) ** 2 + sp.cos(x) ** 2 - 1 + sp.Rational(1, 10**6) * x**2,
    "float almost cancel": 0.1 * x + 0.2 * x - 0.3 * x + 1e-6,
    "log of sum": sp.log(p + r) - sp.log(p) - sp.log(r),
    "f not scale invariant": w1 * sp.diff(_on_sphere, w1) - w2 * sp.diff(_on_sphere, w2),
    "f(w) not rotation invariant": -w2 * sp.diff(f(w1, w2), w1) + w1 * sp.diff(f(w1, w2), w2),
    "softmax off by lse": sum(sp.exp(z - _lse) for z in (z1, z2)) - 1,
}


@pytest.mark.parametrize("expr", TRUE_ZEROS.values(), ids=TRUE_ZEROS.keys())
def test_is_zero_recognises_true_zeros(expr):
    assert is_zero(expr) is True


@pytest.mark.parametrize("expr", TRUE_NONZEROS.values(), ids=TRUE_NONZEROS.keys())
def test_is_zero_rejects_true_nonzeros(expr):
    assert is_zero(expr) is False


@pytest.mark.parametrize("seed", range(3))
def test_is_zero_rejects_nonzeros_whatever_the_seed(seed):
    assert is_zero(sp.Abs(x) - x + sp.Rational(1, 1000), seed=seed) is False
    assert is_zero(sp.prod([x - k for k in range(1, 6)]), seed=seed) is False


def test_is_zero_rejects_function_vanishing_on_the_sample_lattice():
    assert is_zero(sp.sin(1009 * sp.pi * x)) is False


def test_is_zero_rejects_exact_tiny_coefficient():
    assert is_zero(x * sp.Rational(1, 10**40)) is False


def test_is_zero_rejects_high_power_of_small_hyperparameter():
    eta = sp.Symbol("eta", positive=True)
    assert is_zero((eta / 1000) ** 12) is False


# -- properties -------------------------------------------------------------------------

_coefficients = st.fractions(min_value=-5, max_value=5, max_denominator=7).map(sp.Rational)
_monomials = st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 2))
_polynomials = st.lists(st.tuples(_coefficients, _monomials), min_size=1, max_size=5)


def _polynomial(terms) -> sp.Expr:
    return sp.Add(*[c * x**i * y**j * p**k for c, (i, j, k) in terms])


def _factored(first, second) -> sp.Expr:
    """An unexpanded polynomial: a product of two sums plus a square."""
    return _polynomial(first) * (_polynomial(second) + 1) + (_polynomial(second) - x) ** 2


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_polynomials, _polynomials, _coefficients.filter(lambda c: c != 0), _monomials)
def test_is_zero_on_random_polynomials(first, second, c, monomial):
    P = _factored(first, second)
    assert is_zero(P - sp.expand(P)) is True
    i, j, k = monomial
    assert is_zero(P - sp.expand(P) + c * x**i * y**j * p**k) is False
    # ground truth for a polynomial: it is zero iff its expansion is 0
    assert is_zero(P) is (sp.expand(P) == 0)


@settings(max_examples=25, deadline=None)
@given(_polynomials, st.integers(1, 3))
def test_is_zero_on_random_polynomials_with_float_coefficients(terms, scale):
    P = _polynomial(terms)
    floated = sp.Add(*[sp.Float(float(c) / 10) * x**i * y**j * p**k for c, (i, j, k) in terms])
    # the same polynomial twice, once with floats: a zero up to round-off
    assert is_zero(floated * scale - sp.expand(P) * scale / 10) is True


def test_is_zero_rejects_function_vanishing_at_small_integers():
    n = sp.Symbol("n", integer=True, positive=True)
    assert is_zero(sp.prod([n - j for j in range(1, 6)]) * sp.exp(n)) is False


def test_is_zero_rejects_hessian_determinant_of_undefined_function():
    F = f(x, y)
    assert is_zero(sp.diff(F, x, 2) * sp.diff(F, y, 2) - sp.diff(F, x, y) ** 2) is False


# -- branches far from the origin (review finding: ReLU6, thresholds) ----------------


@pytest.mark.parametrize(
    "expr",
    [
        sp.Max(0, x - 3),
        sp.Heaviside(x - 3),
        sp.Piecewise((x, x > 5), (0, True)),
        sp.Min(sp.Max(0, x), 6) - sp.Max(0, x),  # ReLU6 − ReLU: differs only for x > 6
    ],
    ids=["max-shifted", "heaviside-shifted", "piecewise-5", "relu6-vs-relu"],
)
def test_is_zero_sees_branches_far_from_the_origin(expr):
    assert is_zero(expr) is False


def test_relu6_rescale_is_not_a_symmetry():
    """ReLU6 saturates: z ↦ min(max(0, z), 6) is not positively homogeneous, so
    (w₁, −w₂) is no symmetry of ½(y − w₂·ReLU6(w₁x))² (ψ·∇V ≠ 0 where w₁x > 6)."""
    import symnoether as sn

    w1_, w2_ = sn.coordinates("w1 w2")
    x_, y_ = sn.data("x y")
    loss = (y_ - w2_ * sp.Min(sp.Max(0, w1_ * x_), 6)) ** 2 / 2
    flow = sn.LearningSystem((w1_, w2_), loss, rule=sn.rules.gradient_flow(), data=(x_, y_))
    law = sn.noether(flow, (w1_, -w2_))
    assert law.loss_breaking != 0 and not law.conserved
    assert sn.find_symmetries(loss, (w1_, w2_), data=(x_, y_)).dimension == 0


def test_is_zero_of_softmax_identity_at_large_logits():
    """Σ softmax − 1 ≡ 0 even where the logits are large and evalf finds no digits."""
    zs = sp.symbols("a b c", real=True)
    total = sp.log(sum(sp.exp(20 * z) for z in zs))
    assert is_zero(sum(sp.diff(total, z) for z in zs) / 20 - 1)


def test_branch_oversampling_is_what_sees_a_far_branch(monkeypatch):
    """Heaviside(x·y − 10⁴)·x is nonzero only where x·y > 10⁴: outside the box of the
    random points (|x|, |y| ≤ 10²), and x·y = 10⁴ is not linear, so no exact decision
    applies. Only the boundary points (x = 10⁴/y ± δ) and draws at the constant's
    scale see it: switch both off and the zero test is fooled (so this test can fail)."""
    from symnoether.core import boundaries
    from symnoether.core.boundaries import BoundaryPlan

    far = sp.Heaviside(x * y - 10**4) * x
    assert is_zero(far) is False
    monkeypatch.setattr(BoundaryPlan, "points", lambda *args: [])
    monkeypatch.setattr(boundaries, "constant_scales", lambda expr: ())
    assert is_zero(far) is True  # wrong: the over-sampling is what the answer rests on
