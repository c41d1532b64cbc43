"""Branchy near-symmetries: the zero test, the Noether law and the search must not be fooled.

Every case of the catalogue is a loss V with branches (Max, Min, Abs, Heaviside,
sign, Piecewise) and a generator ψ; whether ψ·∇V ≡ 0 (almost everywhere, DiracDelta
terms as distributions) is derived by hand in the comment of each case. Most
"no" cases are near-symmetries: ψ·∇V vanishes on the box |q| ≤ 100 and only a
branch far away (w₁ > 150, w₁x > 1000), in a thin slab (0 < w₁ < 10⁻⁶), in one
orthant or for one sign of a data symbol breaks the symmetry. Each case is
answered by :func:`is_zero`, by ``noether(...).is_symmetry`` and by
``find_symmetries`` (ψ in the span of the algebra found, or not).

The last tests show the catalogue can fail: with the boundary-aware sampling and
the exact piecewise decision switched off, the zero test answers cases wrongly.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytest
import sympy as sp

import symnoether as sn
from symnoether.core import jet
from symnoether.core.boundaries import BoundaryPlan
from symnoether.core.branches import decide_exactly, without_deltas
from symnoether.core.jet import is_zero
from symnoether.errors import NotSupportedError
from symnoether.numerics.codegen import compile_kernels
from symnoether.numerics.kernel_source import FloatPrinter
from symnoether.symmetry import sampling

w1, w2 = sn.coordinates("w1 w2")
x, y = sn.data("x y")
COORDS = (w1, w2)
TINY = sp.Rational(1, 10**6)


class Case(NamedTuple):
    loss: sp.Expr
    psi: tuple
    symmetry: bool


# z = w₁x is the pre-activation, r = y − (model output) the residual throughout.
CATALOGUE = {
    # ∂₁V = H(w₁ − 150): ψ·∇V = 1 for w₁ > 150 (the issue's example).
    "relu threshold at 150, translation": Case(sp.Max(0, w1 - 150) + (w2 - 1) ** 2, (1, 0), False),
    # V = −Max(0, w₁ − 200) + w₂²: ψ·∇V = −H(w₁ − 200) ≠ 0 beyond 200.
    "cap at 200, translation": Case(sp.Min(w1, 200) - w1 + w2**2, (1, 0), False),
    # ∂₁V = H(w₁ − 10⁻⁶) − H(w₁) = −1 on the slab 0 < w₁ < 10⁻⁶ only.
    "tiny threshold slab, translation": Case(
        sp.Max(0, w1 - TINY) - sp.Max(0, w1) + w2**2, (1, 0), False
    ),
    # Both pieces are (w₁ + w₂)², written differently: ψ = (1, −1) leaves each invariant.
    "piecewise with equal pieces, translation": Case(
        sp.Piecewise(((w1 + w2) ** 2, w1 > 150), (w1**2 + 2 * w1 * w2 + w2**2, True)),
        (1, -1),
        True,
    ),
    # Continuous at 150; beyond, the extra (w₁ − 150)² gives ψ·∇V = 2(w₁ − 150) ≠ 0.
    "piecewise differing beyond 150, translation": Case(
        sp.Piecewise(((w1 + w2) ** 2, w1 < 150), ((w1 + w2) ** 2 + (w1 - 150) ** 2, True)),
        (1, -1),
        False,
    ),
    # Max(0, λz) = λMax(0, z) for λ > 0: w₂ Max(0, w₁x) is invariant under (λw₁, w₂/λ).
    "relu rescale": Case((y - w2 * sp.Max(0, w1 * x)) ** 2 / 2, (w1, -w2), True),
    # Where z > 6 the output is 6w₂: ψ·∇V = r·6w₂ ≠ 0 (ReLU6 is not homogeneous).
    "relu6 rescale": Case((y - w2 * sp.Min(sp.Max(0, w1 * x), 6)) ** 2 / 2, (w1, -w2), False),
    # The same with the clip at 1000, far outside the box: ψ·∇V = 1000 r w₂ for z > 1000.
    "relu clipped at 1000, rescale": Case(
        (y - w2 * sp.Min(sp.Max(0, w1 * x), 1000)) ** 2 / 2, (w1, -w2), False
    ),
    # Leaky ReLU Max(z, z/10) is positively homogeneous: invariant.
    "leaky relu rescale": Case((y - w2 * sp.Max(w1 * x, w1 * x / 10)) ** 2 / 2, (w1, -w2), True),
    # |λz| = λ|z| for λ > 0: invariant.
    "abs activation rescale": Case((y - w2 * sp.Abs(w1 * x)) ** 2 / 2, (w1, -w2), True),
    # ReLU written z·H(z): ψ·∇V = −r w₂ w₁² x² δ(z), whose weight vanishes where z = 0
    # (on w₁ = 0 and on x = 0): zero as a distribution (the issue's NameError case).
    "heaviside relu rescale": Case(
        (y - w2 * w1 * x * sp.Heaviside(w1 * x)) ** 2 / 2, (w1, -w2), True
    ),
    # Max(0, z − 150): ψ·∇V = −r w₂ (z H(z − 150) − Max(0, z − 150)) = −150 r w₂ H(z − 150),
    # nonzero only where w₁x > 150.
    "thresholded relu rescale": Case((y - w2 * sp.Max(0, w1 * x - 150)) ** 2 / 2, (w1, -w2), False),
    # sign(λz) = sign(z): ψ = (w₁, 0) gives −2 r w₂ w₁ x δ(z), weight 0 where z = 0.
    "sign activation, scale of w1": Case((y - w2 * sp.sign(w1 * x)) ** 2 / 2, (w1, 0), True),
    # The perceptron: H(λz) = H(z); ψ = (w₁, 0) gives −r w₂ w₁ x δ(z), weight 0 on z = 0.
    "step activation, scale of w1": Case((y - w2 * sp.Heaviside(w1 * x)) ** 2 / 2, (w1, 0), True),
    # Translating w₁ moves the step across w₁ = 0: weight −r w₂ x ≠ 0 there (a jump).
    "step activation, translation of w1": Case(
        (y - w2 * sp.Heaviside(w1 * x)) ** 2 / 2, (1, 0), False
    ),
    # V jumps by 1 across w₁ = 150: ψ·∇V = δ(w₁ − 150), weight 1.
    "step at 150, translation": Case(sp.Heaviside(w1 - 150) + (w2 - 1) ** 2, (1, 0), False),
    # Scaling about w₁ = 150 keeps the sign of w₁ − 150: weight (w₁ − 150) = 0 on the step.
    "step at 150, scaling about it": Case(
        sp.Heaviside(w1 - 150) + (w2 - 1) ** 2, (w1 - 150, 0), True
    ),
    # The extra term lives in the orthant w₁, w₂ > 50 only, where ψ·∇V =
    # −(w₁ − w₂)² + 2(w₁ − 50)(w₂ − 50) ≠ 0.
    "one orthant far away, translation": Case(
        (w1 + w2) ** 2 + sp.Max(0, w1 - 50) * sp.Max(0, w2 - 50) * (w1 - w2),
        (1, -1),
        False,
    ),
    # A condition on the data: for x ≥ 150 the piece adds (w₁ − w₂)², and ψ = (w₁, −w₂)
    # gives 2(w₁ − w₂)(w₁ + w₂) ≠ 0 there.
    "condition on data, pieces differ": Case(
        sp.Piecewise(
            ((w1 * w2 * x - y) ** 2, x < 150),
            ((w1 * w2 * x - y) ** 2 + (w1 - w2) ** 2, True),
        ),
        (w1, -w2),
        False,
    ),
    # Both pieces are functions of w₁w₂: invariant under the rescale for every x.
    "condition on data, pieces invariant": Case(
        sp.Piecewise(((w1 * w2 * x - y) ** 2, x < 150), (2 * (w1 * w2 * x - y) ** 2, True)),
        (w1, -w2),
        True,
    ),
    # Max(0, Min(z, 2z)) = Max(0, z) (z > 0: Min = z; z < 0: Min = 2z < 0): homogeneous.
    "nested max min equal to relu, rescale": Case(
        (y - w2 * sp.Max(0, sp.Min(w1 * x, 2 * w1 * x))) ** 2 / 2, (w1, -w2), True
    ),
    # A tent: z on (0, 250), 500 − z on (250, 500): not homogeneous beyond z = 250.
    "nested max min tent, rescale": Case(
        (y - w2 * sp.Max(0, sp.Min(w1 * x, 500 - w1 * x))) ** 2 / 2, (w1, -w2), False
    ),
    # A clip of the invariant w₁ − w₂ is invariant under ψ = (1, 1).
    "clip of an invariant, translation": Case(sp.Min(sp.Max(w1 - w2, -6), 6) ** 2, (1, 1), True),
    # The clipped window of w₁ + w₂ moves: ψ·∇V = 2 on 300 < w₁ + w₂ < 900.
    "clip window far away, translation": Case(
        (w1 - w2) ** 2 + sp.Min(sp.Max(0, w1 + w2 - 300), 600), (1, 1), False
    ),
    # ∂₁V = sign(w₁ − 1000) + 1: 0 below 1000, 2 beyond.
    "abs hinge at 1000, translation": Case(sp.Abs(w1 - 1000) + w1 + w2**2, (1, 0), False),
    # |w₁ − w₂| twice, as Abs and as Max: a function of w₁ − w₂.
    "abs and max of a difference, translation": Case(
        sp.Abs(w1 - w2) + sp.Max(w1 - w2, w2 - w1), (1, 1), True
    ),
    # The hinge loss of the product w₁w₂x: invariant under the rescale.
    "hinge rescale": Case(sp.Max(0, 1 - y * w2 * w1 * x), (w1, -w2), True),
    # ψ = (w₁, w₂) scales w₁w₂ by λ²: ψ·∇V = −2y w₁w₂x where the hinge is active.
    "hinge scale": Case(sp.Max(0, 1 - y * w2 * w1 * x), (w1, w2), False),
    # A function of w₁ − w₂ (the DiracDelta weights cancel between ∂₁ and ∂₂).
    "sign of a difference, translation": Case(sp.sign(w1 - w2) * (w1 - w2) ** 2, (1, 1), True),
    # V jumps by 2 across w₁ = 200: weight 2 of δ(w₁ − 200).
    "sign step at 200, translation": Case(sp.sign(w1 - 200) + w2**2, (1, 0), False),
    # ψ·∇V = −r w₂ 10⁻⁶ H(z − 10⁻⁶): tiny but genuine wherever z > 10⁻⁶.
    "relu with tiny bias, rescale": Case(
        (y - w2 * sp.Max(0, w1 * x - TINY)) ** 2 / 2, (w1, -w2), False
    ),
    # A large output scale does not break positive homogeneity.
    "relu with large output scale, rescale": Case(
        (y - 1000 * w2 * sp.Max(0, w1 * x)) ** 2 / 2, (w1, -w2), True
    ),
}


def _data(loss: sp.Expr) -> tuple:
    return tuple(d for d in (x, y) if loss.has(d))


def _directional(loss: sp.Expr, psi: tuple) -> sp.Expr:
    return sum((p * sp.diff(loss, q) for p, q in zip(psi, COORDS, strict=True)), sp.S.Zero)


def _coefficients(generator, coords=COORDS) -> list:
    """An affine generator as the vector of its coefficients (per entry: ∂/∂q, constant)."""
    row = []
    for entry in generator:
        poly = sp.Poly(sp.sympify(entry), *coords)
        assert poly.total_degree() <= 1
        row += [poly.coeff_monomial(q) for q in coords] + [poly.coeff_monomial(1)]
    return row


def _in_span(psi: tuple, algebra) -> bool:
    target = sp.Matrix([_coefficients(psi)])
    if algebra.dimension == 0:
        return target.is_zero_matrix
    basis = sp.Matrix([_coefficients(s.generator) for s in algebra])
    return basis.col_join(target).rank() == basis.rank()


@pytest.mark.parametrize("name", CATALOGUE)
def test_is_zero_answers_the_catalogue(name):
    case = CATALOGUE[name]
    assert is_zero(_directional(case.loss, case.psi)) is case.symmetry


@pytest.mark.parametrize("name", CATALOGUE)
def test_noether_answers_the_catalogue(name):
    case = CATALOGUE[name]
    flow = sn.LearningSystem(
        COORDS, case.loss, rule=sn.rules.gradient_flow(), data=_data(case.loss)
    )
    law = sn.noether(flow, case.psi)
    assert law.is_symmetry is case.symmetry
    assert law.conserved is case.symmetry  # gradient flow: the loss alone moves the charge


@pytest.mark.parametrize("name", CATALOGUE)
def test_find_symmetries_answers_the_catalogue(name):
    case = CATALOGUE[name]
    algebra = sn.find_symmetries(case.loss, COORDS, data=_data(case.loss))
    assert _in_span(case.psi, algebra) is case.symmetry
    for symmetry in algebra:  # and nothing false comes with it
        assert is_zero(_directional(case.loss, tuple(symmetry.generator)))


def test_the_issue_examples():
    """Max(0, x − 150) and Min(x, 200) − x are nonzero beyond the old 10^±2 box."""
    t = sp.Symbol("t", real=True)
    assert is_zero(sp.Max(0, t - 150)) is False
    assert is_zero(sp.Min(t, 200) - t) is False
    loss = sp.Max(0, w1 - 150) + (w2 - 1) ** 2
    law = sn.noether(sn.LearningSystem(COORDS, loss, rule=sn.rules.gradient_flow()), (1, 0))
    assert law.is_symmetry is False and law.conserved is False
    assert sn.find_symmetries(loss, COORDS).dimension == 0  # ψ₁ = 0 beyond 150, ψ₂ = 0 below


def test_heaviside_relu_search_finds_the_rescale_only():
    """(y − w₂w₁x H(w₁x))²/2 is w₂ReLU(w₁x): its affine symmetries are the rescale alone
    (ψ·∇V = r(−w₂x H ψ₁ − w₁x H ψ₂) ≡ 0 forces w₂ψ₁ + w₁ψ₂ = 0 for affine ψ)."""
    loss = (y - w2 * w1 * x * sp.Heaviside(w1 * x)) ** 2 / 2
    algebra = sn.find_symmetries(loss, COORDS, data=(x, y))
    assert algebra.dimension == 1
    assert _in_span((w1, -w2), algebra)


def test_a_law_that_met_a_dirac_delta_says_it_holds_almost_everywhere():
    gd = sn.LearningSystem(
        COORDS,
        (y - w2 * w1 * x * sp.Heaviside(w1 * x)) ** 2 / 2,
        rule=sn.rules.gradient_descent(sp.Symbol("eta", positive=True)),
        data=(x, y),
    )
    law = sn.noether(gd, (w1, -w2))
    assert law.almost_everywhere and law.is_symmetry
    assert "almost everywhere" in str(law) and "almost everywhere" in law._repr_latex_()
    smooth = sn.LearningSystem(COORDS, (1 - w1 * w2) ** 2, rule=sn.rules.gradient_flow())
    assert sn.noether(smooth, (w1, -w2)).almost_everywhere is False


# -- exact decisions and sample points, one by one ------------------------------------

s, t = sp.symbols("s t", real=True)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (sp.Max(0, s - 150), False),  # region s > 150 is non-empty, piece s − 150 ≠ 0
        (sp.Min(s, 200) - s, False),  # region s > 200: piece 200 − s ≠ 0
        (sp.Max(0, s) - sp.Max(0, -s) - s, True),  # every piece cancels
        (sp.Max(0, s * t) - s * t * sp.Heaviside(s * t), True),  # orthant pairs
        (sp.Max(0, s - 1) * sp.Max(0, 1 - s), True),  # the regions s > 1, s < 1 are disjoint
        (sp.Piecewise((s, (s > 3) & (s < 2)), (0, True)), True),  # empty region (FM)
        (sp.Piecewise((s, (s > 3) & (t < s - 3) & (t > 0)), (0, True)), False),
        (sp.Piecewise((s, (s**2 < 2) & (s > sp.Rational(141, 100))), (0, True)), False),
        (sp.Piecewise((s, (s**2 < 2) & (s > sp.Rational(142, 100))), (0, True)), True),
    ],
)
def test_decide_exactly_by_hand(expr, expected):
    # the last two: s² < 2 is 1.4142… > s, so (1.41, √2) is a non-empty interval and
    # (1.42, √2) is empty; the middle one: s > 3 and 0 < t < s − 3 is a non-empty wedge
    assert decide_exactly(expr) is expected


def test_decide_exactly_gives_up_where_it_cannot_be_exact():
    assert decide_exactly(sp.Max(0, sp.sin(s))) is None  # condition sin(s) ≥ 0
    assert decide_exactly(sp.Min(sp.Max(0, s * t), 6) - sp.Max(0, s * t)) is None  # s·t = 6


def test_boundaries_are_solved_for_a_variable_and_scales_come_from_constants():
    plan = BoundaryPlan.of(sp.Max(0, s * t - 150) + sp.Heaviside(t - TINY))
    found = {(str(b.expr), str(b.variable)): b for b in plan.boundaries}
    assert set(found) == {("s*t - 150", "s"), ("1000000*t - 1", "t")}  # numerators
    assert found[("s*t - 150", "s")].roots == (150 / t,)
    assert found[("1000000*t - 1", "t")].roots == (TINY,)
    assert found[("1000000*t - 1", "t")].step and not found[("s*t - 150", "s")].step
    assert {TINY, 150} <= set(plan.scales)  # (and Heaviside's own ½)


def test_boundary_points_lie_on_both_sides_close_to_the_boundary():
    import random

    plan = BoundaryPlan.of(sp.Max(0, s - 150))
    points = plan.points([s], random.Random(1), lambda symbol, rng: sp.Integer(1), 3)
    sides = {p[s] > 150 for p in points}
    assert sides == {True, False}
    assert all(abs(p[s] - 150) <= 150 for p in points)
    assert min(abs(p[s] - 150) for p in points) <= sp.Rational(150, 10)


def test_a_boundary_that_cannot_be_solved_is_refused_by_name():
    """2Max(0, g) − Max(0, 2g) ≡ 0 for g = s + eˢ; g = 0 has no closed form and the
    pieces are not rational, so neither an exact decision nor boundary points exist."""
    g = s + sp.exp(s)
    with pytest.raises(NotSupportedError, match=r"s \+ exp\(s\) = 0"):
        is_zero(2 * sp.Max(0, g) - sp.Max(0, 2 * g))


def test_a_nonzero_value_is_enough_even_without_a_solved_boundary():
    g = s + sp.exp(s)
    assert is_zero(sp.Max(0, g) - g) is False  # −g > 0 for s < −0.57: a witness


def test_dirac_delta_terms_count_as_distributions():
    assert without_deltas(s * sp.DiracDelta(s), is_zero) == 0
    assert without_deltas(sp.DiracDelta(s - 150), is_zero) is None
    assert is_zero(s * t * sp.DiracDelta(s * t)) is True  # weight 0 on s = 0 and on t = 0
    assert is_zero(s * sp.DiracDelta(s * t)) is False  # weight s ≠ 0 on the piece t = 0
    with pytest.raises(NotSupportedError, match="derivative of a DiracDelta"):
        is_zero(sp.DiracDelta(s, 1))
    with pytest.raises(NotSupportedError, match="another DiracDelta"):
        is_zero(sp.DiracDelta(s) * sp.DiracDelta(s - 1))


# -- the checks can fail: weaken them and the catalogue is answered wrongly --------------


def _weakened(monkeypatch):
    """The zero test as before this work: no exact piecewise decision, no boundary points,
    no constant scales — random points in 10^±2 only."""
    monkeypatch.setattr(jet, "decide_exactly", lambda *args: None)
    monkeypatch.setattr(BoundaryPlan, "points", lambda *args: [])
    original = BoundaryPlan.of
    monkeypatch.setattr(
        BoundaryPlan, "of", classmethod(lambda cls, e: cls(original(e).boundaries, (), ()))
    )


@pytest.mark.parametrize(
    "name",
    [
        "relu threshold at 150, translation",
        "tiny threshold slab, translation",
        "relu clipped at 1000, rescale",
        "abs hinge at 1000, translation",
    ],
)
def test_weakened_zero_test_is_fooled(monkeypatch, name):
    case = CATALOGUE[name]
    assert is_zero(_directional(case.loss, case.psi)) is False
    _weakened(monkeypatch)
    assert is_zero(_directional(case.loss, case.psi)) is True  # wrong: the catalogue fails


def test_weakened_search_sampling_is_fooled(monkeypatch):
    """Without boundary points in the search and in the zero test, ∂_{w1} comes back as a
    'symmetry' of Max(0, w₁ − 150) + (w₂ − 1)²."""
    case = CATALOGUE["relu threshold at 150, translation"]
    _weakened(monkeypatch)
    monkeypatch.setattr(sampling, "_near_boundaries", lambda *args: None)
    algebra = sn.find_symmetries(case.loss, COORDS)
    assert _in_span(case.psi, algebra)  # wrong: the catalogue's find_symmetries test fails


# -- through the pipeline: search → noether → codegen → validate -------------------------

ETA = sp.Symbol("eta", positive=True)

PIPELINE = {
    "max": (y - w2 * sp.Max(0, w1 * x)) ** 2 / 2,
    "heaviside": (y - w2 * w1 * x * sp.Heaviside(w1 * x)) ** 2 / 2,
    "abs": (y - w2 * sp.Abs(w1 * x)) ** 2 / 2,
    "min": (y - w2 * sp.Min(0, w1 * x)) ** 2 / 2,
    "sign": (y - w2 * w1 * x * sp.sign(w1 * x)) ** 2 / 2,  # = w₂|w₁x|
    "piecewise": sp.Piecewise(
        ((w1 * w2 * x - y) ** 2, w1 * w2 * x < y), (2 * (w1 * w2 * x - y) ** 2, True)
    ),
}


@pytest.mark.parametrize("name", PIPELINE)
def test_branchy_losses_run_through_the_pipeline(name):
    """Each loss is w₂f(w₁x) with f positively homogeneous (or a function of w₁w₂): the
    search finds the rescale, its law is conserved by gradient flow and broken by the
    kinetic term under GD, and both validate numerically (numpy backend)."""
    loss = PIPELINE[name]
    algebra = sn.find_symmetries(loss, COORDS, data=(x, y))
    assert _in_span((w1, -w2), algebra)
    values = {x: -0.8, y: 1.1, ETA: 0.1}  # w₁x < 0 at the start: Min is active
    for rule in (sn.rules.gradient_flow(), sn.rules.gradient_descent(ETA)):
        system = sn.LearningSystem(COORDS, loss, rule=rule, data=(x, y))
        law = sn.noether(system, (w1, -w2))
        assert law.is_symmetry and law.conserved is (rule.name == "gradient_flow")
        params = {k: v for k, v in values.items() if k in system.hyperparameters + (x, y)}
        report = sn.validate(system, law, [-1.5, 0.7], params=params, t_end=2.0,
                             backend="numpy")  # fmt: skip
        assert report.passed, report.message


def test_relu_pair_validates_with_numba():
    loss = PIPELINE["max"]
    system = sn.LearningSystem(COORDS, loss, rule=sn.rules.gradient_descent(ETA), data=(x, y))
    (symmetry,) = sn.find_symmetries(loss, COORDS, data=(x, y))
    law = sn.noether(system, symmetry)
    params = {x: 0.8, y: 1.1, ETA: 0.1}
    fast = sn.validate(system, law, [1.5, 0.7], params=params, t_end=2.0, backend="numba")
    slow = sn.validate(system, law, [1.5, 0.7], params=params, t_end=2.0, backend="numpy")
    assert fast.passed and slow.passed
    np.testing.assert_allclose(fast.charge, slow.charge, rtol=1e-12)


def test_kernels_take_heaviside_zero_at_zero_unless_the_loss_says_otherwise():
    (q,) = sn.coordinates("q")
    out = np.empty(1)
    for loss, expected in [
        (sp.Max(0, q), 0.0),  # ∂ = Heaviside(q): 0 at 0, the ReLU gradient of the frameworks
        (q * sp.Heaviside(q, 1), 1.0),  # ∂ = H(q, 1) + q δ(q): 1 at 0, as written
        (q * sp.Heaviside(q, 0.5), 0.5),  # a float ½
    ]:
        kernels = compile_kernels(
            sn.LearningSystem((q,), loss, rule=sn.rules.gradient_flow()), backend="numpy"
        )
        kernels.grad(np.array([0.0]), kernels.pack(), out)
        assert out[0] == expected
        kernels.grad(np.array([2.0]), kernels.pack(), out)
        assert out[0] == 1.0
    printer = FloatPrinter({"standard": "python3", "strict": True})
    assert printer.doprint(sp.DiracDelta(q)) == "0.0"
