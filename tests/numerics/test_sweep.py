"""Sweeps (symnoether.numerics.sweeps): rows, seeds, divergence, the Dask paths, resume.

The system is the scalar pair V = ½(y − w₁w₂x)² under gradient descent with weight
decay: the rescale generator ψ = (w₁, −w₂) is a symmetry of the loss, so its law is
derived exactly and holds along every trajectory (continuous check), and the optimizer
follows it at order 2 in η (discrete check; modified-equation analysis of GD).
"""

from __future__ import annotations

import io
import socket
import time

import numpy as np
import pandas as pd
import pytest
import sympy as sp

import symnoether as sn
from symnoether.numerics import sweeps
from symnoether.numerics.sweep_progress import ProgressBar

ETA = sp.Symbol("eta", positive=True)
LAM = sp.Symbol("lambda", positive=True)
BETA = sp.Symbol("beta", positive=True)
W1, W2 = sn.coordinates("w1 w2")
X, Y = sn.data("x y")
LOSS = (Y - W1 * W2 * X) ** 2 / 2
DATA = {"x": 1.0, "y": 0.5}
Q0 = [1.5, 0.2]


@pytest.fixture(scope="module")
def deriv():
    system = sn.LearningSystem((W1, W2), LOSS, rule=sn.rules.gradient_descent(ETA),
                               data=(X, Y), regularizers=[sn.rules.weight_decay(LAM)])  # fmt: skip
    return sn.derive(system, {"rescale": (W1, -W2)})


def _grid(seeds=(0, 1)):
    return sn.grid({ETA: [0.02, 0.05], LAM: [1e-3, 1e-2]}, seeds=seeds)


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Every column but the wall time equal, bit for bit."""
    pd.testing.assert_frame_equal(
        a.drop(columns="wall_s"), b.drop(columns="wall_s"), check_exact=True
    )


# -- the grid ------------------------------------------------------------------------


def test_grid_points_are_the_product_last_axis_fastest():
    g = sn.grid({ETA: [1.0, 2.0], "lambda": [10.0, 20.0, 30.0]}, seeds=[4, 7])
    assert (len(g), g.points, g.names, g.seeds) == (12, 6, ("eta", "lambda"), (4, 7))
    assert [g.point(i) for i in range(6)] == [
        (1.0, 10.0), (1.0, 20.0), (1.0, 30.0), (2.0, 10.0), (2.0, 20.0), (2.0, 30.0),
    ]  # fmt: skip
    assert sn.geomspace(1e-3, 1e-1, 3) == pytest.approx((1e-3, 1e-2, 1e-1), rel=1e-14)
    assert sn.linspace(0.0, 1.0, 5) == (0.0, 0.25, 0.5, 0.75, 1.0)
    assert str(g) == "grid of 6 points × 2 seeds (eta: 2 values 1…2; lambda: 3 values 10…30)"
    assert g._repr_latex_().startswith("$\\text{grid of 6 points")


@pytest.mark.parametrize(
    "axes, seeds, match",
    [
        ({}, (0,), "grid is empty"),
        ({ETA: []}, (0,), "grid is empty: eta has no values"),
        ({ETA: [0.1]}, (), "grid is empty: no seeds"),
        ({ETA: [0.1, float("nan")]}, (0,), "grid value of eta"),
        ({ETA: [0.1], "eta": [0.2]}, (0,), "sweeps eta twice"),
        ({ETA: [0.1]}, (1, 1), "repeat a seed"),
    ],
)
def test_bad_grids_are_refused(axes, seeds, match):
    with pytest.raises(sn.InvalidInputError, match=match):
        sn.grid(axes, seeds=seeds)


# -- rows ----------------------------------------------------------------------------


def test_rows_are_the_checks_at_each_point_and_seed(deriv):
    spread = 0.05
    table = sn.sweep(deriv, _grid(), q0=Q0, params=DATA, spread=spread, t_end=2.0)
    assert table.columns.tolist() == ["eta", "lambda", *sweeps.COLUMNS]
    assert len(table) == 4 * 2 * 1
    assert table["passed"].all() and not table["diverged"].any()
    assert (table["error"] == "").all() and table["order"].isna().all()
    # The documented draw: seed s starts from q0 + spread·N(0,1), v0 = 0 + spread·N(0,1),
    # from numpy's default_rng(s); the same run by hand must give the same numbers.
    for row in table.itertuples():
        rng = np.random.default_rng(row.seed)
        q = np.array(Q0) + spread * rng.standard_normal(2)
        v = spread * rng.standard_normal(2)
        params = {ETA: row.eta, LAM: row._2, **DATA}
        report = sn.validate(deriv.system, deriv.laws, q, v, params=params, t_end=2.0,
                             seed=row.seed)  # fmt: skip
        assert row.max_error == report.residuals[0]
        assert row.charge_end == report.charge[-1, 0]
    # the points in row-major order, seeds inside, as the grid lists them
    assert table[["eta", "lambda", "seed"]].values.tolist() == [
        [e, lam, s] for e in (0.02, 0.05) for lam in (1e-3, 1e-2) for s in (0, 1)
    ]


def test_discrete_rows_observe_order_two(deriv):
    table = sn.sweep(deriv, sn.grid({ETA: [0.01, 0.02], LAM: [1e-3]}), q0=Q0, params=DATA,
                     check="discrete", steps=200)  # fmt: skip
    assert table["passed"].all()
    # GD's modified equation is exact to O(η²): the charge's error falls at least 4× per
    # halving of η (faster when the charge superconverges), the verdict's own bound
    assert (table["order"] > 2 - 0.35).all()
    assert (table["max_error"] < 0.05).all()
    # seed 0 with the default spread 0.1: the optimizer starts (at rest) from the drawn q
    q = np.array(Q0) + 0.1 * np.random.default_rng(0).standard_normal(2)
    direct = sn.validate_discrete(deriv.system, deriv.laws, q, steps=200,
                                  params={ETA: 0.02, LAM: 1e-3, **DATA})  # fmt: skip
    assert table["order"].iloc[1] == direct.law_orders[0]
    assert table["max_error"].iloc[1] == direct.law_errors[-1][0]
    assert table["charge_end"].iloc[1] == direct.charge_discrete[-1, 0]


def test_a_diverging_point_is_a_row_not_the_end(deriv):
    # η = 5 on a loss with curvature ~ w² x² ≈ 2.3 at q0: |1 − ηλ_max| > 1, GD blows up
    table = sn.sweep(deriv, sn.grid({ETA: [0.01, 5.0], LAM: [1e-3]}), q0=Q0, params=DATA,
                     check="discrete", steps=100, spread=0.0)  # fmt: skip
    ok, bad = table.iloc[0], table.iloc[1]
    assert ok["passed"] and not ok["diverged"]
    assert bad["diverged"] and not bad["passed"] and np.isnan(bad["max_error"])
    assert "diverged" in bad["error"]
    assert bad["diverged_t"] > 0 and (bad["diverged_t"] / 5.0).is_integer()  # t = kη


def test_a_point_that_raises_records_its_message():
    # heavy ball needs 0 ≤ β < 1: β = 1.5 is positive (the symbol's assumption) but the
    # optimizer refuses it at that point only
    system = sn.LearningSystem((W1, W2), LOSS, rule=sn.rules.momentum(ETA, BETA), data=(X, Y))
    law = sn.noether(system, (W1, -W2))
    table = sn.sweep((system, [law]), sn.grid({BETA: [0.5, 1.5]}), q0=Q0,
                     params={**DATA, "eta": 0.01}, check="discrete", steps=100)  # fmt: skip
    assert table["error"].tolist()[0] == ""
    assert "outside [0, 1)" in table["error"].tolist()[1]
    assert table["passed"].tolist() == [True, False]


@pytest.mark.parametrize(
    "options",
    [{}, {"method": "rk4", "dt": 0.01}, {"rtol": 1e-8, "atol": 1e-10, "tolerance": 1e-12},
     {"backend": "numpy"}],
)  # fmt: skip
def test_validation_batches_equal_validate_at_every_point(deriv, options):
    # the sweep runs a chunk of points as one compiled batch; each row must still be the
    # number validate computes at its point, with validate's option defaults
    spread = 0.05
    grid = sn.grid({ETA: [0.02, 0.05, 0.1], LAM: [1e-3, 1e-2]}, seeds=(3, 0))
    table = sn.sweep(deriv, grid, q0=Q0, params=DATA, spread=spread, t_end=2.0, chunk=5,
                     **options)  # fmt: skip
    assert len(table) == 12 and (table["error"] == "").all()
    for row in table.itertuples():
        rng = np.random.default_rng(row.seed)
        q = np.array(Q0) + spread * rng.standard_normal(2)
        v = spread * rng.standard_normal(2)
        report = sn.validate(deriv.system, deriv.laws, q, v, params={ETA: row.eta,
                             LAM: row._2, **DATA}, t_end=2.0, seed=row.seed, **options)  # fmt: skip
        assert row.max_error == report.residuals[0]
        assert row.charge_end == report.charge[-1, 0]
        assert row.passed == report.passed


def test_a_continuous_run_out_of_steps_is_a_diverged_row(deriv):
    # 20 accepted steps cannot reach t = 2 at rtol 1e-9: validate raises, the sweep records
    # the same message and the time it stopped at
    table = sn.sweep(deriv, sn.grid({ETA: [0.02, 0.05], LAM: [1e-3]}), q0=Q0, params=DATA,
                     t_end=2.0, max_steps=20, spread=0.0)  # fmt: skip
    for row in table.itertuples():
        with pytest.raises(sn.errors.DivergenceError) as raised:
            sn.validate(deriv.system, deriv.laws, Q0, params={ETA: row.eta, LAM: 1e-3, **DATA},
                        t_end=2.0, max_steps=20)  # fmt: skip
        assert row.diverged and not row.passed and np.isnan(row.max_error)
        assert row.error == str(raised.value)
        assert 0 < row.diverged_t < 2.0 and f"t = {row.diverged_t:.6g}" in row.error


def test_a_batch_member_that_raises_leaves_the_others():
    # V = k√w₁ + w₂²/2 under gradient flow: w₁^{3/2} falls at rate 3k/4 and reaches 0 at
    # t = 4/(3k) from w₁ = 1, inside t_end = 2 for k = 10 only; the NumPy backend's
    # math.sqrt then raises (validate raises the same), the other points are unaffected
    k = sp.Symbol("k", positive=True)
    flow = sn.LearningSystem((W1, W2), k * sp.sqrt(W1) + W2**2 / 2, rule=sn.rules.gradient_flow())
    law = sn.noether(flow, (W1, -W2))
    table = sn.sweep((flow, [law]), sn.grid({k: [0.1, 10.0, 0.2]}), q0=[1.0, 0.5], t_end=2.0,
                     backend="numpy", spread=0.0)  # fmt: skip
    assert table["error"].tolist() == ["", "ValueError: math domain error", ""]
    assert table["passed"].tolist() == [True, False, True]
    for row in table.iloc[[0, 2]].itertuples():
        report = sn.validate(flow, law, [1.0, 0.5], params={k: row.k}, t_end=2.0,
                             backend="numpy")  # fmt: skip
        assert row.max_error == report.residuals[0] and row.charge_end == report.charge[-1, 0]


def test_progress_reports_the_pairs_done_as_chunks_finish(deriv, tmp_path):
    calls = []
    grid = sn.grid({ETA: [0.02, 0.05, 0.1], LAM: [1e-3]}, seeds=(0, 1))  # 6 pairs
    run = dict(q0=Q0, params=DATA, t_end=1.0, chunk=4)
    sn.sweep(deriv, grid, progress=lambda done, total: calls.append((done, total)), **run)
    assert calls == [(0, 6), (4, 6), (6, 6)]  # before the first chunk, then per chunk
    # a resumed sweep starts from the pairs already written
    out = tmp_path / "s"
    sn.sweep(deriv, grid, out=out, **{**run, "chunk": 2})
    (out / "part-000000002-000002.parquet").unlink()  # pairs 2 and 3 are lost
    calls.clear()
    sn.sweep(deriv, grid, out=out, progress=lambda d, t: calls.append((d, t)), **run)
    assert calls == [(4, 6), (6, 6)]
    calls.clear()
    sn.sweep(deriv, grid, out=out, progress=lambda d, t: calls.append((d, t)), **run)
    assert calls == []  # nothing left to run: no report


def test_the_bar_shows_pairs_rate_and_eta_only_when_asked(deriv, monkeypatch):
    out = io.StringIO()
    grid = sn.grid({ETA: [0.02, 0.05], LAM: [1e-3]}, seeds=(0, 1))
    run = dict(q0=Q0, params=DATA, t_end=1.0, chunk=1)
    sn.sweep(deriv, grid, progress=ProgressBar(stream=out, force=True), **run)
    text = out.getvalue()
    assert "4/4" in text and "pairs" in text and "ETA" in text and "/s" in text
    monkeypatch.delenv("SYMNOETHER_PROGRESS", raising=False)
    quiet = io.StringIO()  # no terminal, not forced: nothing
    sn.sweep(deriv, grid, progress=ProgressBar(stream=quiet), **run)
    assert quiet.getvalue() == ""
    monkeypatch.setenv("SYMNOETHER_PROGRESS", "1")
    assert ProgressBar(stream=io.StringIO()).enabled


# -- bad input -------------------------------------------------------------------------


def test_a_parameter_not_in_the_derivation_names_the_ones_it_has(deriv):
    with pytest.raises(sn.InvalidInputError, match="alpha.*parameters are eta, lambda, x, y"):
        sn.sweep(deriv, sn.grid({"alpha": [0.1]}), q0=Q0, params=DATA)


def test_a_non_positive_value_for_a_positive_symbol(deriv):
    with pytest.raises(sn.InvalidParameterError, match="eta = -0.01 is not positive"):
        sn.sweep(deriv, sn.grid({ETA: [0.1, -0.01]}), q0=Q0, params={**DATA, LAM: 0.01})


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"check": "bogus"}, "check = 'bogus' is unknown"),
        ({"check": "sgd"}, "validate_sgd runs minibatch SGD"),  # a GD derivation
        ({"steps": 10}, "steps is not an option of the 'validate' check"),
        ({"params": {"x": 1.0}}, "params is missing y"),
        ({"params": {**DATA, "eta": 0.1}}, "params gives eta, which the grid sweeps"),
        ({"t_end": -1.0}, "t_end"),
        ({"workers": 2, "client": "tcp://127.0.0.1:8786"}, "not both"),
        ({"workers": 0}, "workers = 0 must be an integer"),
        ({"spread": -0.1}, "spread"),
        ({"q0": [1.0]}, "q0 has shape"),
    ],
)
def test_bad_sweep_arguments(deriv, kwargs, match):
    kwargs = {"params": DATA, "q0": Q0, **kwargs}
    with pytest.raises(sn.InvalidInputError, match=match):
        sn.sweep(deriv, _grid(), **kwargs)


def test_an_unreachable_scheduler_fails_within_seconds(deriv):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(sn.SchedulerError, match=f"127.0.0.1:{port} within 1 s"):
        sn.sweep(deriv, _grid(), q0=Q0, params=DATA, client=f"tcp://127.0.0.1:{port}",
                 timeout=1.0)  # fmt: skip
    assert time.monotonic() - start < 10


# -- output directory: resume, refusal -----------------------------------------------------


def test_resume_skips_the_points_written(deriv, tmp_path, monkeypatch):
    full = sn.sweep(deriv, _grid(), q0=Q0, params=DATA, t_end=2.0)
    out = tmp_path / "sweep"
    real = sweeps.run_chunk
    calls = []

    def interrupted(job, items, **kw):
        if calls:
            raise KeyboardInterrupt  # Ctrl-C after the first chunk
        calls.append(list(items))
        return real(job, items, **kw)

    monkeypatch.setattr(sweeps, "run_chunk", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sn.sweep(deriv, _grid(), q0=Q0, params=DATA, t_end=2.0, out=out, chunk=3)
    parts = sorted(p.name for p in out.iterdir())
    assert parts == ["manifest.json", "part-000000000-000003.parquet"]  # 3 pairs, 1 law
    resumed = []

    def counting(job, items, **kw):
        resumed.extend(items)
        return real(job, items, **kw)

    monkeypatch.setattr(sweeps, "run_chunk", counting)
    table = sn.sweep(deriv, _grid(), q0=Q0, params=DATA, t_end=2.0, out=out, chunk=3)
    # (point, seed) pairs 0..7 in order; the first chunk held (0,0), (0,1), (1,0)
    assert (0, 0) not in resumed and (1, 0) not in resumed and len(resumed) == 5
    _same(table, full)
    resumed.clear()
    again = sn.sweep(deriv, _grid(), q0=Q0, params=DATA, t_end=2.0, out=out, chunk=3)
    assert resumed == [] and len(again) == 8
    _same(again, full)


def test_a_directory_holding_another_sweep_is_refused(deriv, tmp_path):
    out = tmp_path / "sweep"
    sn.sweep(deriv, _grid(seeds=(0,)), q0=Q0, params=DATA, t_end=1.0, out=out)
    with pytest.raises(sn.SweepMismatchError, match="another sweep .*grid"):
        sn.sweep(deriv, _grid(seeds=(0, 1)), q0=Q0, params=DATA, t_end=1.0, out=out)
    with pytest.raises(sn.SweepMismatchError, match="another sweep .*options"):
        sn.sweep(deriv, _grid(seeds=(0,)), q0=Q0, params=DATA, t_end=2.0, out=out)
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "todo.txt").write_text("x")
    with pytest.raises(sn.SweepMismatchError, match="no sweep manifest"):
        sn.sweep(deriv, _grid(seeds=(0,)), q0=Q0, params=DATA, t_end=1.0, out=foreign)
