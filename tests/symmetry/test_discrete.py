"""Discrete symmetries (mirrors, sign flips, permutations) and their fixed subspaces.

Hand derivations, one per test: which signed permutations leave each loss unchanged
follows from what the loss depends on (u w for the scalar pair; Σ_k a_k σ(w_k x) for a
hidden layer, where an odd σ lets (w_k, a_k) → (−w_k, −a_k) and any σ lets units trade
places). A symmetry of the mean loss may fail sample by sample.
"""

from __future__ import annotations

import math

import pytest
import sympy as sp

import symnoether as sn
from symnoether.errors import InvalidCoordinatesError, InvalidDatasetError, NotSupportedError

x, y = sn.data("x y")
u, w = sn.coordinates("u w")
PAIR = (y - u * w * x) ** 2 / 2


def test_scalar_pair_has_exactly_the_three_maps_that_keep_uw():
    # V depends on θ through u·w only. Signed permutations of (u, w): (±u, ±w) keeps uw
    # iff both signs agree; (±w, ±u) likewise. So, besides the identity: (−u, −w),
    # (w, u), (−w, −u), and the search over all 8 elements is complete.
    found = sn.find_discrete_symmetries(PAIR, (u, w), data=(x, y))
    assert found.complete and "every signed permutation" in found.searched[0]
    by_kind = {s.kind: s for s in found}
    assert set(by_kind) == {"sign flip", "swap", "signed swap"} and len(found) == 3
    flip, swap, anti = by_kind["sign flip"], by_kind["swap"], by_kind["signed swap"]
    assert flip.matrix == -sp.eye(2) and flip.fixed.shape == (2, 0)  # fixed: u = w = 0
    assert flip.conditions == (u, w)
    assert swap.matrix == sp.Matrix([[0, 1], [1, 0]]) and swap.conditions == (u - w,)
    assert swap.projector == sp.Matrix([[1, 1], [1, 1]]) / 2
    assert anti.conditions == (u + w,)
    for s in found:  # mirrors: R = I − 2P with P = I − projector an orthogonal projector
        P = sp.eye(2) - s.projector
        assert s.reflection and s.matrix == sp.eye(2) - 2 * P and P * P == P and P == P.T
        assert s.per_sample is None
    assert "u, w → w, u" in str(found) and "complete" in str(found)
    assert r"\left[" in found._repr_latex_()


def test_single_flips_are_not_symmetries_of_a_loss_with_a_linear_term():
    # V = u² + w: only w is distinguished; no flip of w, and u ↔ w breaks it. Only u → −u.
    found = sn.find_discrete_symmetries(u**2 + w, (u, w))
    assert [s.name for s in found] == ["u → -u"]


def tanh_layer(units, inputs=1, bias=False, act=sp.tanh):
    W1 = sn.matrix_coordinates("W", units, inputs)
    a = sn.matrix_coordinates("a", 1, units)
    xs = sn.data(" ".join(f"x{i}" for i in range(inputs))) if inputs > 1 else (x,)
    pre = W1 * sp.Matrix(xs)
    blocks = [W1]
    if bias:
        b = sn.coordinates(f"b1:{units + 1}")
        pre += sp.Matrix(b)
        blocks.append(b)
    blocks.append(a)
    loss = (y - (a * pre.applyfunc(act))[0]) ** 2 / 2
    return loss, tuple(blocks), (*xs, y), W1, a


def test_odd_activation_unit_flips_and_permutations_beyond_the_full_group():
    # 3 tanh units with 2 inputs and biases: 15 coordinates, too many for the whole group.
    # Each unit k: (W_k·, b_k, a_k) → −(…) (tanh odd), and each transposition of units.
    loss, blocks, data, W1, a = tanh_layer(3, inputs=2, bias=True)
    found = sn.find_discrete_symmetries(loss, blocks, data)
    assert not found.complete
    assert any("hidden units" in c for c in found.searched)
    flips = [s for s in found if s.kind == "unit sign flip"]
    swaps = [s for s in found if s.kind == "unit transposition"]
    assert len(flips) == 3 and len(swaps) == 3
    first = {sym for sym, image in zip(flips[0].coords, flips[0].matrix * sp.Matrix(
        flips[0].coords), strict=True) if image == -sym}  # fmt: skip
    assert first == {W1[0, 0], W1[0, 1], sp.Symbol("b1", real=True), a[0, 0]}
    # the fixed subspace of swapping units 1 and 2: equal incoming, bias and outgoing weights
    (swap12,) = [s for s in swaps if s.matrix[0, 2] == 1]
    assert len(swap12.conditions) == 4 and W1[0, 0] - W1[1, 0] in swap12.conditions
    # products of the unit flips are found as subset flips (7 non-trivial, 3 of them units)
    assert len([s for s in found if s.kind == "sign flip"]) == 4


def test_relu_units_trade_places_but_do_not_flip():
    loss, blocks, data, _, _ = tanh_layer(2, act=lambda e: sp.Max(0, e))
    found = sn.find_discrete_symmetries(loss, blocks, data)
    assert found.complete
    assert [s.kind for s in found] == ["unit transposition"]


def test_block_swap():
    # V = (y − (a·b) x)²: a ↔ b as blocks (and the simultaneous entry swaps).
    a, b = sn.coordinates("a1:3"), sn.coordinates("b1:3")
    loss = (y - (a[0] * b[0] + a[1] * b[1]) * x) ** 2
    found = sn.find_discrete_symmetries(loss, (a, b), (x, y))
    names = {s.name for s in found if s.kind == "block swap"}
    assert names == {"a1, a2, b1, b2 → b1, b2, a1, a2"}


def test_per_sample_or_mean_only():
    # ℓ = (y − w x)² on (x, y) = (1, 1), (−1, 1): ℓ₁ = (1 − w)², ℓ₂ = (1 + w)², V = 1 + w²;
    # w → −w keeps V but swaps the two samples' losses: not sample by sample.
    (v,) = sn.coordinates("v")
    found = sn.find_discrete_symmetries((y - v * x) ** 2, (v,), (x, y),
                                        dataset={x: [1, -1], y: [1, 1]})  # fmt: skip
    (flip,) = found
    assert flip.name == "v → -v" and flip.per_sample is False
    assert "mean loss only" in str(flip)
    # the scalar pair's symmetries hold for every sample
    pair = sn.find_discrete_symmetries(PAIR, (u, w), (x, y), dataset={x: [1, 2], y: [3, 5]})
    assert len(pair) == 3 and all(s.per_sample for s in pair)


def test_system_regularizers_count():
    # weight decay on u alone breaks u ↔ w but not (−u, −w)
    lam = sp.Symbol("lam", positive=True)
    system = sn.LearningSystem((u, w), PAIR, rule=sn.rules.sgd(0.1), data=(x, y),
                               dataset={x: [1, 2], y: [0, 1]},
                               regularizers=[sn.rules.weight_decay(lam, on=[u])])  # fmt: skip
    found = sn.find_discrete_symmetries(system)
    assert [s.name for s in found] == ["u, w → -u, -w"] and found[0].per_sample


def test_a_near_symmetry_is_not_proved():
    # u² + (1 + 10⁻¹⁰) w² passes the float screen (relative 1e−8) for u ↔ w but is not
    # symmetric: the exact proof rejects it
    found = sn.find_discrete_symmetries(u**2 + (1 + sp.Rational(1, 10**10)) * w**2, (u, w))
    assert {s.kind for s in found} == {"sign flip"}  # (−u, w), (u, −w), (−u, −w)
    assert len(found) == 3


def test_fixed_subspace_feeds_stability():
    # the swap fixes u = w; its normal direction is (1, −1). At 0 the per-sample Hessians
    # [[λ, −x_i y_i], [−x_i y_i, λ]] act on it by h_i = λ + x_i y_i = (λ + 1, λ + 4), so with
    # η = 1/10, B = 1 the exponent at λ = 0 is (1/η)·½(log 0.9 + log 0.6) < 0: the swap's
    # fixed subspace attracts for every λ ≥ 0 (no threshold), unlike u = w = 0.
    lam = sp.Symbol("lam", positive=True)
    system = sn.LearningSystem((u, w), PAIR, rule=sn.rules.sgd(0.1), data=(x, y),
                               dataset={x: [1, 2], y: [1, 2]},
                               regularizers=[sn.rules.weight_decay(lam)])  # fmt: skip
    swap = next(s for s in sn.find_discrete_symmetries(system) if s.kind == "swap")
    result = sn.stability(system, {u: 0, w: 0}, parameter=lam, noise=True, normal=swap)
    assert result.normal.shape == (2, 1)
    assert result.exponent(0) == pytest.approx(5 * (math.log(0.9) + math.log(0.6)))
    assert result.threshold is None


def test_bad_input():
    W = sp.MatrixSymbol("W", 2, 2)
    with pytest.raises(NotSupportedError, match="entry by entry"):
        sn.find_discrete_symmetries((W * W)[0, 0], (W,))
    with pytest.raises(InvalidCoordinatesError):
        sn.find_discrete_symmetries(PAIR, "u w", (x, y))
    with pytest.raises(InvalidDatasetError, match="ragged"):
        sn.find_discrete_symmetries(PAIR, (u, w), (x, y), dataset={x: [1, 2], y: [1]})


def test_fixed_subspaces_are_invariant_under_gd_and_per_sample_ones_under_sgd():
    # The swap of the scalar pair holds sample by sample: every SGD step from u = w keeps
    # u = w (each per-sample gradient −r_i x_i (w, u) is symmetric there). The flip v → −v
    # of ℓ = (y − v x)² on (1, 1), (−1, 1) holds for the mean only: GD stays at v = 0
    # (∇V = 2v), but one SGD step on sample 1 moves to v = η·2·1·1 ≠ 0.
    import numpy as np

    rng = np.random.default_rng(0)
    xs, ys = np.array([1.0, 2.0]), np.array([3.0, 5.0])
    uu = ww = 0.3
    for _ in range(200):
        i = rng.integers(0, 2)
        r = (ys[i] - uu * ww * xs[i]) * xs[i]
        uu, ww = uu + 0.01 * r * ww, ww + 0.01 * r * uu
    assert uu == ww
    (v,) = sn.coordinates("v")
    flip = sn.find_discrete_symmetries((y - v * x) ** 2, (v,), (x, y),
                                       dataset={x: [1, -1], y: [1, 1]})[0]  # fmt: skip
    assert flip.per_sample is False and flip.conditions == (v,)
    gradient = sp.diff((y - v * x) ** 2, v)
    mean = sum(gradient.subs({x: a, y: b, v: 0}) for a, b in ((1, 1), (-1, 1))) / 2
    assert mean == 0 and gradient.subs({x: 1, y: 1, v: 0}) == -2


def test_find_symmetries_with_discrete_true_carries_the_mirrors():
    """The same mirrors as find_discrete_symmetries, on the continuous algebra's result;
    None when not asked (the continuous search alone)."""
    w1, w2 = sn.coordinates("w1 w2")
    loss = (1 - w1 * w2) ** 2
    both = sn.find_symmetries(loss, (w1, w2), discrete=True)
    alone = sn.find_discrete_symmetries(loss, (w1, w2))
    assert both.dimension == 1 and both.discrete is not None
    assert [e.matrix for e in both.discrete.elements] == [e.matrix for e in alone.elements]
    assert sn.find_symmetries(loss, (w1, w2)).discrete is None
