"""Tests of symnoether.core.noether: charges and Noether's learning dynamics.

Expected charges are written by hand (Q = e^{t/τ} q̇ᵀMψ, Tanaka & Kunin 2021,
Theorem 1; first-order charges φ with ∇φ = Mψ, Kunin et al. 2021, Sec. 4), and
each rate is checked against the time derivative of the charge computed in this
file, along accelerations derived here by hand — not those of the engine.
"""

from __future__ import annotations

import random

import pytest
import sympy as sp

import symnoether as sn

t = sn.TIME
eta, beta, lam, k = sp.symbols("eta beta lambda k", positive=True)
w1, w2 = sn.coordinates("w1 w2")
v1, v2 = sn.velocities((w1, w2))
q = sp.Matrix([w1, w2])
v = sp.Matrix([v1, v2])

LOSS = (w1 * w2 - 1) ** 2 / 2 + w1**3 / 3
GRAD = sp.Matrix([(w1 * w2 - 1) * w2 + w1**2, (w1 * w2 - 1) * w1])  # by hand
GD_ACCELERATIONS = (2 / eta) * (-v - GRAD)  # (η/2) q̈ + q̇ + ∇V = 0, by hand


def _zero(expr) -> bool:
    entries = list(expr) if isinstance(expr, sp.MatrixBase) else [expr]
    return all(sp.simplify(sp.expand(sp.powsimp(sp.expand(e)))) == 0 for e in entries)


def _d_dt(expr, accs, coords=(w1, w2), vels=(v1, v2)):
    """The test's own total derivative ∂_t + q̇·∂_q + q̈·∂_q̇."""
    out = sp.diff(expr, t)
    out += sum(vi * sp.diff(expr, qi) for qi, vi in zip(coords, vels, strict=True))
    out += sum(ai * sp.diff(expr, vi) for vi, ai in zip(vels, accs, strict=True))
    return out


def _gd(loss=LOSS, regularizers=()):
    return sn.LearningSystem(
        (w1, w2), loss, rule=sn.rules.gradient_descent(eta), regularizers=regularizers
    )


def _random_affine(seed: int) -> tuple[sp.Matrix, sp.Matrix]:
    rng = random.Random(seed)
    A = sp.Matrix(2, 2, lambda i, j: rng.randint(-3, 3))
    b = sp.Matrix([rng.randint(-3, 3) for _ in range(2)])
    if A.is_zero_matrix and b.is_zero_matrix:
        b[0] = 1
    return A, b


# -- generator input forms --------------------------------------------------------------

W = sn.matrix_coordinates("W", 1, 2)
(c,) = sn.coordinates("c")
x1, x2, y = sn.data("x1 x2 y")
BLOCK_LOSS = (y - c * (W * sp.Matrix([x1, x2]))[0]) ** 2 / 2


class _Found:
    """A stand-in for a symmetry object of a later stage: anything with .generator."""

    def __init__(self, generator):
        self.generator = generator


@pytest.fixture(scope="module")
def block_system():
    return sn.LearningSystem(
        (W, c), BLOCK_LOSS, rule=sn.rules.gradient_descent(eta), data=(x1, x2, y)
    )


@pytest.mark.parametrize(
    "generator",
    [
        sp.Matrix([W[0], W[1], -c]),
        sp.ImmutableMatrix([W[0], W[1], -c]),
        sp.Matrix([[W[0], W[1], -c]]),
        [W[0], W[1], -c],
        (W[0], W[1], -c),
        (W, -c),  # per block
        _Found(sp.Matrix([W[0], W[1], -c])),
        _Found((W, -c)),
    ],
    ids=["column", "immutable", "row", "list", "tuple", "blocks", "object", "object-blocks"],
)
def test_generator_forms_give_the_same_law(block_system, generator):
    law = sn.noether(block_system, generator)
    vW1, vW2, vc = block_system.velocities
    factor = sp.exp(2 * t / eta)
    assert law.generator == sp.ImmutableMatrix([W[0], W[1], -c])
    assert _zero(law.charge - factor * eta / 2 * (vW1 * W[0] + vW2 * W[1] - vc * c))
    assert _zero(law.rate - factor * eta / 2 * (vW1**2 + vW2**2 - vc**2))
    assert law.loss_breaking == 0
    assert law.is_symmetry


# -- charges and rates by hand --------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_gradient_descent_charge_and_rate_for_random_affine_generator(seed):
    A, b = _random_affine(seed)
    psi = A * q + b
    law = sn.noether(_gd(), psi)
    factor = sp.exp(2 * t / eta)
    charge = factor * eta / 2 * (v.T * psi)[0]
    assert law.order == 2
    assert _zero(law.charge - charge)
    # Noether's learning dynamics by hand: e^{t/τ}(q̇ᵀM Dψ q̇ − ψ·∇V), Dψ = A
    assert _zero(law.kinetic_breaking - factor * eta / 2 * (v.T * A * v)[0])
    assert _zero(law.loss_breaking + factor * (psi.T * GRAD)[0])
    assert law.regularizer_breaking == 0
    # the rate is the time derivative of the charge along the hand-derived motion
    assert _zero(law.rate - _d_dt(charge, list(GD_ACCELERATIONS)))


@pytest.mark.parametrize("seed", range(2))
def test_momentum_charge_and_rate(seed):
    A, b = _random_affine(10 + seed)
    psi = A * q + b
    system = sn.LearningSystem((w1, w2), LOSS, rule=sn.rules.momentum(eta, beta))
    law = sn.noether(system, psi)
    mass = eta * (1 + beta) / 2
    tau = mass / (1 - beta)
    factor = sp.exp(t / tau)
    charge = factor * mass * (v.T * psi)[0]
    accelerations = (-(1 - beta) * v - GRAD) / mass  # by hand
    assert _zero(law.charge - charge)
    assert _zero(law.rate - _d_dt(charge, list(accelerations)))


def test_preconditioned_charge_and_rate():
    G = sp.Matrix([[2, 1], [1, 3]])
    psi = sp.Matrix([w2, -w1])
    system = sn.LearningSystem((w1, w2), LOSS, rule=sn.rules.preconditioned(eta, G))
    law = sn.noether(system, psi)
    factor = sp.exp(2 * t / eta)
    charge = factor * eta / 2 * (v.T * G * psi)[0]
    accelerations = 2 / eta * G.inv() * (-G * v - GRAD)  # (η/2)G q̈ + G q̇ + ∇V = 0
    assert _zero(law.charge - charge)
    assert _zero(law.rate - _d_dt(charge, list(accelerations)))


def test_kepler_angular_momentum_is_conserved():
    r = sp.sqrt(w1**2 + w2**2)
    system = sn.LearningSystem((w1, w2), -k / r, kinetic=(v1**2 + v2**2) / 2)
    law = sn.noether(system, [-w2, w1])
    assert _zero(law.charge - (w1 * v2 - w2 * v1))
    assert law.rate == 0 and law.conserved
    assert law.broken_by == ()
    accelerations = -k * q / r**3  # Newton
    assert _zero(sp.together(_d_dt(law.charge, list(accelerations))))


# -- conserved iff the rate vanishes ----------------------------------------------------------


def test_translation_under_gradient_descent_is_conserved():
    # V(w1 − w2): ψ = (1, 1); e^{2t/η}(η/2)(ẇ1 + ẇ2) conserved, i.e. Σẇ ∝ e^{−t/τ}
    law = sn.noether(_gd(sp.exp(w1 - w2) + (w1 - w2) ** 2), [1, 1])
    assert law.conserved and law.rate == 0
    assert _zero(law.charge - sp.exp(2 * t / eta) * eta / 2 * (v1 + v2))


def test_rotation_at_finite_step_is_conserved():
    # antisymmetric A on a rotation-invariant loss: q̇ᵀ M A q̇ = 0, exact at finite step
    law = sn.noether(_gd((w1**2 + w2**2 - 1) ** 2), [-w2, w1])
    assert law.conserved and law.rate == 0 and law.kinetic_breaking == 0


def test_rescale_under_gradient_descent_is_broken_by_the_kinetic_term():
    law = sn.noether(_gd((w1 * w2 - 1) ** 2 / 2), [w1, -w2])
    assert not law.conserved
    assert law.is_symmetry
    assert law.broken_by == ("kinetic term",)
    assert _zero(law.rate - sp.exp(2 * t / eta) * eta / 2 * (v1**2 - v2**2))


def test_non_symmetry_is_broken_by_the_loss():
    law = sn.noether(_gd(), [1, 0])  # translation of w1 only
    assert not law.conserved and not law.is_symmetry
    assert law.broken_by == ("loss",)
    assert law.kinetic_breaking == 0
    assert _zero(law.loss_breaking + sp.exp(2 * t / eta) * GRAD[0])


def test_scale_with_weight_decay():
    n = sp.sqrt(w1**2 + w2**2)
    system = _gd((1 - w1 / n) ** 2, regularizers=[sn.rules.weight_decay(lam)])
    law = sn.noether(system, [w1, w2])
    factor = sp.exp(2 * t / eta)
    assert law.loss_breaking == 0
    assert law.broken_by == ("kinetic term", "weight decay")
    assert _zero(law.kinetic_breaking - factor * eta / 2 * (v1**2 + v2**2))
    assert _zero(law.regularizer_breaking + factor * lam * (w1**2 + w2**2))
    assert _zero(law.potential_breaking - law.regularizer_breaking)
    assert not law.conserved


def test_broken_by_names_only_the_breaking_regularizer_once():
    a, b = sp.symbols("a b", positive=True)
    system = _gd(
        (w2 - 1) ** 2,
        regularizers=[sn.rules.weight_decay(a, on=[w1]), sn.rules.weight_decay(b, on=[w2])],
    )
    law = sn.noether(system, [1, 0])
    assert law.broken_by == ("weight decay",)


def test_float_round_off_in_kinetic_term_is_consistent():
    kinetic = sp.Rational(1, 2) * (1 + 0.3 * w1**2 + (0.1 + 0.2) * w2**2) * (v1**2 + v2**2)
    system = sn.LearningSystem((w1, w2), (w1**2 + w2**2) ** 2, kinetic=kinetic)
    law = sn.noether(system, [-w2, w1])
    assert law.conserved
    assert law.kinetic_breaking == 0
    assert law.broken_by == ()


# -- display ------------------------------------------------------------------------------------


def test_str_and_latex():
    law = sn.noether(_gd((w1 * w2 - 1) ** 2 / 2), [w1, -w2])
    text = str(law)
    for piece in ("charge", "Q = ", "dQ/dt", "kinetic breaking", "gradient_descent"):
        assert piece in text
    assert "no, broken by kinetic term" in text
    latex = law._repr_latex_()
    assert latex.startswith("$$") and latex.endswith("$$")
    assert r"\dot{w}_{1}" in latex and "e^{" in latex and r"\psi" in latex
    assert "Q &=" in latex
    kepler = sn.LearningSystem((w1, w2), -k / sp.sqrt(w1**2 + w2**2), kinetic=(v1**2 + v2**2) / 2)
    assert "yes" in str(sn.noether(kepler, [-w2, w1]))


# -- gradient flow: first-order charges ----------------------------------------------------------


def _flow(loss=LOSS, metric=None, regularizers=()):
    return sn.LearningSystem(
        (w1, w2), loss, rule=sn.rules.gradient_flow(metric), regularizers=regularizers
    )


def _check_first_order(law, expected_gradient, metric=sp.eye(2)):
    charge = law.charge
    assert law.order == 1 and law.kinetic_breaking == 0
    assert not charge.free_symbols & {t, v1, v2}
    assert _zero(sp.Matrix([sp.diff(charge, w1), sp.diff(charge, w2)]) - expected_gradient)
    # dφ/dt along M q̇ = −∇V, computed here, is the returned rate
    flow = -metric.inv() * sp.Matrix([sp.diff(law.system.potential, s) for s in (w1, w2)])
    assert _zero((sp.Matrix([[sp.diff(charge, w1), sp.diff(charge, w2)]]) * flow)[0] - law.rate)


def test_gradient_flow_translation_charge():
    law = sn.noether(_flow(sp.exp(w1 - w2)), [1, 1])
    _check_first_order(law, sp.Matrix([1, 1]))
    assert law.conserved


def test_gradient_flow_translation_with_b():
    b = sp.Matrix([2, -3])
    law = sn.noether(_flow(sp.exp(3 * w1 + 2 * w2)), b)
    _check_first_order(law, b)
    assert law.conserved


def test_gradient_flow_scale_charge():
    n = sp.sqrt(w1**2 + w2**2)
    law = sn.noether(_flow((1 - w1 / n) ** 2), [w1, w2])
    _check_first_order(law, q)
    assert law.conserved


def test_gradient_flow_scale_with_weight_decay():
    n = sp.sqrt(w1**2 + w2**2)
    law = sn.noether(_flow((1 - w1 / n) ** 2, regularizers=[sn.rules.weight_decay(lam)]), q)
    _check_first_order(law, q)
    assert _zero(law.rate + lam * (w1**2 + w2**2))
    assert law.broken_by == ("weight decay",)


def test_gradient_flow_symmetric_generator():
    A = sp.Matrix([[1, 2], [2, -1]])
    law = sn.noether(_flow(), A * q)
    _check_first_order(law, A * q)
    assert _zero(law.rate + (q.T * A.T * GRAD)[0])  # −ψ·∇V, a non-symmetry here


def test_gradient_flow_with_metric():
    G = sp.diag(2, 5)
    law = sn.noether(_flow(metric=G), [1, 0])
    _check_first_order(law, G * sp.Matrix([1, 0]), metric=G)
    assert _zero(law.rate + GRAD[0])


def test_gradient_flow_rescale_is_conserved():
    law = sn.noether(_flow((w1 * w2 - 1) ** 2), [w1, -w2])
    assert law.conserved and law.rate == 0
    _check_first_order(law, sp.Matrix([w1, -w2]))


@pytest.mark.parametrize(("scale", "curl"), [(1, 2), (3, 6)])
def test_gradient_flow_antisymmetric_generator_has_no_charge(scale, curl):
    A = scale * sp.Matrix([[0, 1], [-1, 0]])
    with pytest.raises(sn.NoFirstOrderChargeError, match="not a gradient field") as info:
        sn.noether(_flow((w1**2 + w2**2 - 1) ** 2), A * q)
    assert f"= {curl} ≠ 0" in str(info.value)
    assert "gradient_descent" in str(info.value)  # names the fix


def test_first_order_check_uses_the_flow_of_the_metric():
    """The first-order check's flow q̇ = −G⁻¹∇V: with G = I straight from V; with
    G = diag(2, 1) halved along q1. V = q1²q2: ∇V = (2q1q2, q1²)."""
    from symnoether.core.noether import _gradient_flow

    q1, q2 = sn.coordinates("q1 q2")
    V = q1**2 * q2
    flat = sn.LearningSystem((q1, q2), V, rule=sn.rules.gradient_flow())
    assert [sp.expand(f) for f in _gradient_flow(flat)] == [-2 * q1 * q2, -(q1**2)]
    G = sp.Matrix([[2, 0], [0, 1]])
    curved = sn.LearningSystem((q1, q2), V, rule=sn.rules.gradient_flow(G))
    assert [sp.expand(f) for f in _gradient_flow(curved)] == [-q1 * q2, -(q1**2)]
    # the law of the flat flow is still checked: ψ = (q1, −2q2) leaves V invariant,
    # Q = q1²/2 − q2², conserved
    law = sn.noether(flat, (q1, -2 * q2))
    assert sp.expand(law.charge - (q1**2 / 2 - q2**2)) == 0 and law.conserved
