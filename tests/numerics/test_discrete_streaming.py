"""validate_discrete streams its optimizer runs: the iterates of a long run are made and
consumed chunk by chunk, so memory does not grow with the number of steps, and the
verdict is the same, bit for bit, as when every iterate is kept."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import sympy as sp

import symnoether as sn
from symnoether.errors import DivergenceError
from symnoether.numerics import discrete

ETA, BETA, LAM = sp.symbols("eta beta lambda", positive=True)


@pytest.fixture(scope="module")
def heavy_ball():
    """Heavy ball with weight decay on ½(1 − w1 w2)²: the rescaling (w1, −w2) is broken
    by both the kinetic term and the decay, so its charge moves."""
    w1, w2 = sn.coordinates("w1 w2")
    system = sn.LearningSystem(
        (w1, w2), (1 - w1 * w2) ** 2 / 2, rule=sn.rules.momentum(ETA, BETA),
        regularizers=[sn.rules.weight_decay(LAM)],
    )  # fmt: skip
    law = sn.noether(system, (w1, -w2))
    return system, law, sn.compile(system, law)


def _run(heavy_ball, **options):
    system, law, kernels = heavy_ball
    return sn.validate_discrete(
        system, law, [1.5, 0.2], params={ETA: 0.02, BETA: 0.5, LAM: 0.01}, steps=200,
        kernels=kernels, **options,
    )  # fmt: skip


@pytest.mark.parametrize("rows", [1, 2, 7, 64])
def test_streamed_runs_match_one_chunk_bit_for_bit(heavy_ball, monkeypatch, rows):
    kept = _run(heavy_ball, keep_iterates=True)
    monkeypatch.setattr(discrete, "_chunk_rows", lambda nq: rows)
    streamed = _run(heavy_ball, keep_iterates=False)
    assert streamed.iterates is None
    assert kept.iterates.shape == (200 + 2, 2)
    assert streamed.errors == kept.errors
    assert streamed.identity_residual == kept.identity_residual
    np.testing.assert_array_equal(streamed.charge_discrete, kept.charge_discrete)
    np.testing.assert_array_equal(streamed.charge_predicted, kept.charge_predicted)
    assert (streamed.passed, streamed.status) == (kept.passed, kept.status)


def test_kept_iterates_are_the_heavy_ball_iterates(heavy_ball):
    # q_{k+1} = q_k − η∇(V + (λ/2)|q|²)(q_k) + β(q_k − q_{k−1}), from rest, by hand
    report = _run(heavy_ball)
    q, prev = np.array([1.5, 0.2]), np.array([1.5, 0.2])
    for k in range(50):
        w1, w2 = q
        grad = np.array([-(1 - w1 * w2) * w2, -(1 - w1 * w2) * w1]) + 0.01 * q
        q, prev = q - 0.02 * grad + 0.5 * (q - prev), q
        np.testing.assert_allclose(report.iterates[k + 1], q, rtol=1e-13)


def test_divergence_names_the_same_step_streamed_or_not(heavy_ball, monkeypatch):
    system, law, kernels = heavy_ball

    def diverge():
        sn.validate_discrete(system, law, [40.0, 40.0], params={ETA: 0.5, BETA: 0.5, LAM: 0.01},
                             steps=200, kernels=kernels)  # fmt: skip

    with pytest.raises(DivergenceError, match=r"diverged at step (\d+)") as whole:
        diverge()
    monkeypatch.setattr(discrete, "_chunk_rows", lambda nq: 3)
    with pytest.raises(DivergenceError) as chunked:
        diverge()
    assert str(chunked.value) == str(whole.value)


def test_memory_does_not_grow_with_steps(heavy_ball, monkeypatch):
    """Streamed, the arrays a run holds are O(chunk + steps·laws), not O(steps·coordinates):
    with 16 rows a chunk, 8000 steps of 2 coordinates would be 128 kB of iterates, far
    above what the streamed run allocates beyond its per-step charge arrays."""
    monkeypatch.setattr(discrete, "_chunk_rows", lambda nq: 16)

    def peak(steps, keep):
        system, law, kernels = heavy_ball
        tracemalloc.start()
        try:
            sn.validate_discrete(system, law, [1.5, 0.2],
                                 params={ETA: 0.02 * 200 / steps, BETA: 0.5, LAM: 0.01},
                                 steps=steps, kernels=kernels, keep_iterates=keep)  # fmt: skip
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    kept, streamed = peak(4000, True), peak(4000, False)
    # kept holds (4002 × 2) floats of iterates at the largest η: 64 kB more
    assert kept - streamed > 0.8 * 4002 * 2 * 8


def test_a_large_run_streams_by_default():
    # 12,288 parameters over 2000 steps would be 197 MB of iterates: not kept by default
    assert (2000 + 2) * 12_288 * 8 > discrete._KEEP_BYTES
    assert (200 + 2) * 2 * 8 <= discrete._KEEP_BYTES
    assert discrete._chunk_rows(12_288) * 12_288 * 8 <= discrete._CHUNK_BYTES
