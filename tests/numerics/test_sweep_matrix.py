"""Sweeps of a matrix-level system (MatrixSymbol layers): the validate and discrete checks.

The network is linear, two layers of width 3, x ∈ ℝ² → ℝ¹, under heavy-ball momentum
with weight decay; the law is the gl(3) law of ψ_A = (A W1, −W2 A) (A a 3×3 constant,
given or drawn). Expectations come from the independent path: ``sn.validate`` and
``sn.validate_discrete`` called by hand on the documented initial state (seed s: the
packed entries of q0, layer by layer, row-major, plus spread·N(0, 1) from
``numpy.random.default_rng(s)``, then v0 = spread·N(0, 1) from the same stream). The
numpy backend keeps the tests free of numba compilation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sympy as sp

import symnoether as sn
from symnoether.numerics import sweeps

ETA, BETA, LAM = sp.symbols("eta beta lam", positive=True)
W1, W2 = sn.layers(W1=(3, 2), W2=(1, 3))
X, Y = sn.layers(x=(2, 1), y=(1, 1), data=True)
A = sp.MatrixSymbol("A", 3, 3)
RNG = np.random.default_rng(0)
Q0 = {W1: RNG.standard_normal((3, 2)), W2: RNG.standard_normal((1, 3))}
DATA = {X: np.array([[1.0], [-0.5]]), Y: np.array([[0.7]]), BETA: 0.5}
RUN = {"q0": Q0, "params": DATA, "t_end": 0.5, "backend": "numpy"}


@pytest.fixture(scope="module")
def deriv():
    e = Y - W2 * W1 * X
    system = sn.LearningSystem((W1, W2), e.T * e / 2, rule=sn.rules.momentum(ETA, BETA),
                               data=(X, Y), regularizers=[sn.rules.weight_decay(LAM)])  # fmt: skip
    return sn.derive(system, {"gl": (A * W1, -W2 * A)})


def _grid(seeds=(0, 1)):
    return sn.grid({ETA: [0.01, 0.02], LAM: [1e-2]}, seeds=seeds)


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        a.drop(columns="wall_s"), b.drop(columns="wall_s"), check_exact=True
    )


def _drawn(seed: int, spread: float) -> tuple[np.ndarray, np.ndarray]:
    """The documented initial state of ``seed``, on the packed entries (12 of them)."""
    flat = np.concatenate([Q0[W1].ravel(), Q0[W2].ravel()])
    rng = np.random.default_rng(seed)
    q = flat + spread * rng.standard_normal(flat.size)
    return q, spread * rng.standard_normal(flat.size)


def test_matrix_validate_rows_are_validate_at_each_point_and_seed(deriv):
    table = sn.sweep(deriv, _grid(), **RUN)
    assert table.columns.tolist() == ["eta", "lam", *sweeps.COLUMNS]
    assert len(table) == 4 and (table["error"] == "").all() and table["passed"].all()
    for row in table.itertuples():
        q, v = _drawn(row.seed, 0.1)
        # the constant A is left out: validate draws it from the seed, as the sweep does
        report = sn.validate(deriv.system, deriv.laws, q, v, params={**DATA, ETA: row.eta,
                             LAM: row.lam}, t_end=0.5, seed=row.seed, backend="numpy")  # fmt: skip
        assert row.max_error == report.residuals[0]
        assert row.charge_end == report.charge[-1, 0]
    # one pair per chunk (the serial path) gives the same rows, bit for bit
    _same(table, sn.sweep(deriv, _grid(), chunk=1, **RUN))


def test_matrix_discrete_rows_are_validate_discrete_from_the_drawn_state(deriv):
    grid = sn.grid({ETA: [0.01], LAM: [1e-3]}, seeds=[2])
    table = sn.sweep(deriv, grid, q0=Q0, params=DATA, check="discrete", steps=60,
                     spread=0.05, backend="numpy")  # fmt: skip
    q, _ = _drawn(2, 0.05)  # the optimizer starts at rest from the drawn q
    report = sn.validate_discrete(deriv.system, deriv.laws, q, params={**DATA, ETA: 0.01,
                                  LAM: 1e-3}, steps=60, seed=2, backend="numpy")  # fmt: skip
    row = table.iloc[0]
    assert row["max_error"] == report.law_errors[-1][0] and row["order"] == report.law_orders[0]
    assert row["passed"] == report.law_verdicts[0] and row["error"] == ""


def test_matrix_sweep_resumes_and_refuses_another_constant(deriv, tmp_path):
    run = {**RUN, "params": {**DATA, A: np.eye(3)}}
    grid = sn.grid({ETA: [0.01], LAM: [1e-3]}, seeds=[0])
    first = sn.sweep(deriv, grid, out=tmp_path / "s", **run)
    _same(sn.sweep(deriv, grid, out=tmp_path / "s", **run), first)  # read back, not rerun
    other = {**run, "params": {**DATA, A: 2 * np.eye(3)}}
    with pytest.raises(sn.SweepMismatchError, match="another sweep .*params"):
        sn.sweep(deriv, grid, out=tmp_path / "s", **other)


@pytest.mark.parametrize(
    "change, error, match",
    [
        ({"grid": {"x": [1.0]}}, sn.InvalidInputError, "sweeps x, a 2×1 matrix.*params="),
        ({"q0": {W1: np.zeros((3, 2))}}, sn.InvalidInputError, "missing the layer.*W2"),
        ({"q0": {W1: np.zeros((2, 3)), W2: np.zeros((1, 3))}}, sn.InvalidInputError,
         r"q0\[W1\] has shape \(2, 3\), but W1 is 3×2"),
        ({"params": {**DATA, A: np.eye(2)}}, sn.InvalidInputError, r"params\[A\] has shape"),
        ({"check": "sgd"}, sn.NotSupportedError, "check='sgd'.*system.explicit()"),
        ({"check": "stability", "point": {}}, sn.NotSupportedError,
         "check='stability'.*W1, W2.*system.explicit()"),
    ],
)  # fmt: skip
def test_bad_matrix_sweeps_are_refused_naming_the_culprit(deriv, change, error, match):
    run = {**RUN, "grid": {ETA: [0.01]}, **change}
    grid = sn.grid(run.pop("grid"), seeds=[0])
    if "check" in change:
        run.pop("t_end")
    with pytest.raises(error, match=match):
        sn.sweep(deriv, grid, **run)
