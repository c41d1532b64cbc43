"""Zero decisions at matrix level sample both sides of every branch boundary (DESIGN,
"Soundness"): a term is called ≡ 0 by exact evaluation only when each entry of each
branching elementwise argument was seen negative and positive; a boundary random
points never cross leaves the term undecided and conservation unclaimed."""

from __future__ import annotations

import importlib

import sympy as sp
from sympy.matrices.expressions.diagonal import DiagMatrix

import symnoether as sn

eta = sp.Symbol("eta", positive=True)
z = sp.Symbol("z", real=True)
matrix_noether = importlib.import_module("symnoether.core.matrix_noether")


relu = sp.Lambda(z, sp.Max(0, z))
SHIFT = sp.ImmutableMatrix([[10**9], [10**9]])  # (1×1 would apply relu directly)


def test_a_boundary_random_points_never_cross_leaves_the_term_undecided():
    # u = w − 10⁹ is negative at every integer |w| ≤ 20,000 (each entry), so Max(0, u)
    # is 0 at every sample, yet it is w − 10⁹ ≠ 0 for w > 10⁹: two points alone would
    # say "≡ 0".
    W = sp.MatrixSymbol("W", 2, 1)
    term = sp.Trace(sp.ones(1, 2) * (W - SHIFT).applyfunc(relu))
    zero, how = matrix_noether._exact_zero(term, None)
    assert zero is None
    assert "kept one sign" in how and "W" in how


def test_both_sides_are_sampled_before_zero_is_said():
    # Max(0, w) − Max(0, −w) − w ≡ 0 on both branches: decided, after seeing each entry
    # of each argument on both sides of 0.
    W = sp.MatrixSymbol("W", 3, 2)
    minus = sp.Lambda(z, sp.Max(0, -z))
    term = sp.Trace(sp.ones(2, 3) * (W.applyfunc(relu) - W.applyfunc(minus) - W))
    zero, how = matrix_noether._exact_zero(term, None)
    assert zero is True and "both sides of every branch boundary" in how
    # and a term zero on one branch only is found nonzero
    half = sp.Trace(sp.ones(2, 3) * (W.applyfunc(relu) - W))
    assert matrix_noether._exact_zero(half, None)[0] is False


def test_a_shifted_relu_network_is_not_claimed_balanced():
    # V = ½(y − w2 relu(w1 x − 10⁹))²: the rescaling (w1, −w2) is not a symmetry (the
    # shift breaks homogeneity), but the loss-breaking term vanishes wherever
    # w1 x < 10⁹, which is every random sample. Conservation must not be claimed.
    W1, W2 = sn.layers(W1=(2, 1), W2=(1, 2))
    x, y = sn.layers(x=(1, 1), y=(1, 1), data=True)
    e = y - W2 * (W1 * x - SHIFT).applyfunc(relu)
    system = sn.LearningSystem((W1, W2), e.T * e / 2, rule=sn.rules.gradient_flow(),
                               data=(x, y))  # fmt: skip
    d = sp.MatrixSymbol("d", 2, 1)
    try:
        law = sn.noether(system, (DiagMatrix(d) * W1, -W2 * DiagMatrix(d)))
    except sn.SymnoetherError as error:  # refusing is sound too
        assert "charge" in str(error) or "branch" in str(error)
        return
    assert not law.conserved
    assert law.loss_breaking != 0
    assert "kept one sign" in law.verification
