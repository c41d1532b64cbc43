"""``symnoether sweep`` end to end: a local cluster of two workers, Parquet output, the
phase plot; the rows equal those of ``sn.sweep`` run in-process."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import pytest

import symnoether as sn
from symnoether.cli import load_derivation, main

pytest.importorskip("distributed")

SCRIPT = textwrap.dedent(
    """
    import sympy as sp
    import symnoether as sn

    ETA = sp.Symbol("eta", positive=True)
    LAM = sp.Symbol("lambda", positive=True)


    def derivation():
        w1, w2 = sn.coordinates("w1 w2")
        x, y = sn.data("x y")
        system = sn.LearningSystem((w1, w2), (y - w1 * w2 * x) ** 2 / 2,
                                   rule=sn.rules.gradient_descent(ETA), data=(x, y),
                                   regularizers=[sn.rules.weight_decay(LAM)])
        return sn.derive(system, {"rescale": (w1, -w2)})


    def validation():
        return {"q0": [1.5, 0.2], "params": {"x": 1.0, "y": 0.5}, "t_end": 2.0}
    """
)


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "pair.py"
    path.write_text(SCRIPT)
    return path


def test_sweep_with_two_workers_writes_the_table_and_the_plot(script, tmp_path, capsys):
    out, plot = tmp_path / "sweep", tmp_path / "phase.png"
    code = main(["sweep", str(script), "--grid", "eta=0.01:0.1:geom3", "--grid",
                 "lambda=1e-3,1e-2", "--seeds", "2", "--out", str(out), "--plot", str(plot),
                 "--workers", "2", "--quiet"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "12 rows (6 points × 2 seeds × 1 laws): 12 passed" in printed
    assert plot.stat().st_size > 0
    stored = pd.concat([pd.read_parquet(p) for p in sorted(out.glob("part-*.parquet"))])
    stored = stored.sort_values(["point", "seed"]).reset_index(drop=True)
    deriv = load_derivation(script)
    grid = sn.grid({"eta": sn.geomspace(0.01, 0.1, 3), "lambda": [1e-3, 1e-2]}, seeds=range(2))
    expected = sn.sweep(deriv, grid, q0=[1.5, 0.2], params={"x": 1.0, "y": 0.5}, t_end=2.0)
    pd.testing.assert_frame_equal(stored.drop(columns="wall_s"),
                                  expected.drop(columns="wall_s"), check_exact=True)  # fmt: skip


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--grid", "eta"], "--grid 'eta' is not NAME=VALUES"),
        (["--grid", "eta=a,b"], "'a,b' is not numbers"),
        (["--grid", "mu=0.1"], "mu, which is not a parameter of the derivation"),
        (["--grid", "eta=0.1", "--plot", "x.png"], "two swept parameters"),
    ],
)
def test_bad_sweep_command_lines_exit_2(script, capsys, extra, message):
    assert main(["sweep", str(script), *extra, "--quiet"]) == 2
    assert message in capsys.readouterr().err


def test_the_sweep_shows_a_progress_bar_when_asked(script, capsys, monkeypatch):
    args = ["sweep", str(script), "--grid", "eta=0.01,0.02,0.05", "--seeds", "2"]
    monkeypatch.setenv("SYMNOETHER_PROGRESS", "1")  # on, though stderr is no terminal
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "6/6" in err and "pairs" in err and "ETA" in err
    monkeypatch.setenv("SYMNOETHER_PROGRESS", "0")
    assert main(args) == 0
    assert "6/6" not in capsys.readouterr().err
    monkeypatch.delenv("SYMNOETHER_PROGRESS")  # stderr is no terminal: no bar
    assert main(args) == 0
    assert "pairs" not in capsys.readouterr().err
    monkeypatch.setenv("SYMNOETHER_PROGRESS", "1")
    assert main([*args, "--quiet"]) == 0
    assert "pairs" not in capsys.readouterr().err


# -- --check stability and --check sgd ---------------------------------------------------

SGD_SCRIPT = textwrap.dedent(
    """
    import sympy as sp
    import symnoether as sn

    ETA = sp.Symbol("eta", positive=True)
    LAM = sp.Symbol("lambda", positive=True)


    def derivation():
        w1, w2 = sn.coordinates("w1 w2")
        x, y = sn.data("x y")
        system = sn.LearningSystem((w1, w2), (y - w1 * w2 * x) ** 2 / 2,
                                   rule=sn.rules.sgd(ETA), data=(x, y),
                                   dataset={x: [sp.Rational(1, 2), -1, 3], y: [2, 1, -1]},
                                   regularizers=[sn.rules.weight_decay(LAM)])
        return sn.derive(system, {"rescale": (w1, -w2)})


    def validation():
        return {"q0": [1.0, 0.2], "params": {"eta": 0.1}}
    """
)
# Hand derivation for the dataset x = (1/2, −1, 3), y = (2, 1, −1): c = xy = (1, −1, −3),
# m = mean(c) = −1. At w = 0 the mean Hessian is [[λ, −m], [−m, λ]], eigenvalues λ ± m:
# the growth rate per unit time is abs(m) − λ (unstable below λ_c = 1, stable above).
# Under SGD (batch 1, step η) the per-sample Hessians [[λ, −c_i], [−c_i, λ]] commute
# (eigenvectors (1, ±1)/√2, eigenvalues λ ∓ c_i): the top Lyapunov exponent per unit time
# is max over ± of mean_i log abs(1 − η(λ ∓ c_i)) / η.
C = np.array([1.0, -1.0, -3.0])


def _table(out):
    parts = sorted(out.glob("part-*.parquet"))
    table = pd.concat([pd.read_parquet(p) for p in parts])
    return table.sort_values(["point", "seed", "law"]).reset_index(drop=True)


@pytest.fixture
def sgd_script(tmp_path):
    path = tmp_path / "balance.py"
    path.write_text(SGD_SCRIPT)
    return path


def test_sweep_check_stability_from_the_command_line(sgd_script, tmp_path, capsys):
    values = [0.5, 0.9, 1.1, 1.5]
    grid = ["--grid", "lambda=" + ",".join(map(str, values))]
    args = ["sweep", str(sgd_script), *grid, "--check", "stability", "--point", "w1=0, w2=0"]
    assert main([*args, "--out", str(tmp_path / "mean"), "--quiet"]) == 0
    expected = "4 rows (4 points × 1 seeds): 2 stable (exponent < 0), 2 unstable"
    assert expected in capsys.readouterr().out
    table = _table(tmp_path / "mean")
    assert np.allclose(table["max_error"], [1 - v for v in values], rtol=0, atol=1e-12)
    assert table["passed"].tolist() == [False, False, True, True]
    assert np.allclose(table["charge_end"], 1.0)  # the threshold λ_c = abs(m)
    # --noise: the top Lyapunov exponent of SGD at η = 0.1 (the hook's value)
    assert main([*args, "--noise", "--out", str(tmp_path / "sgd"), "--quiet"]) == 0
    table = _table(tmp_path / "sgd")
    hand = [max(np.mean(np.log(abs(1 - 0.1 * (v - s * C)))) / 0.1 for s in (1, -1))
            for v in values]  # fmt: skip
    assert np.allclose(table["max_error"], hand, rtol=1e-9, atol=1e-12)
    assert table["passed"].tolist() == [h < 0 for h in hand]


def test_sweep_check_sgd_from_the_command_line(sgd_script, tmp_path, capsys):
    args = ["sweep", str(sgd_script), "--grid", "eta=0.02,0.05", "--check", "sgd", "--runs",
            "16", "--steps", "20", "--seeds", "2", "--backend", "numpy"]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "mc"), "--quiet"]) == 0
    assert "4 rows (2 points × 2 seeds × 1 laws)" in capsys.readouterr().out
    table = _table(tmp_path / "mc")
    # each row is validate_sgd of the law with the row's seed, from the hook's q0, with the
    # hook's λ = 0.1 (every hyper-parameter's default) and the row's η
    deriv = load_derivation(sgd_script)
    lam = next(s for s in deriv.system.hyperparameters if s.name == "lambda")
    eta = deriv.system.rule.lr
    for row in table.itertuples():
        report = sn.validate_sgd(deriv.system, deriv.laws[0], [1.0, 0.2], runs=16, steps=20,
                                 params={eta: row.eta, lam: 0.1}, seed=row.seed,
                                 backend="numpy")  # fmt: skip
        assert row.max_error == abs(report.z) and row.passed == report.passed


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--check", "stability"], "--check stability needs the symmetric solution"),
        (["--check", "stability", "--point", "w1"], "'w1' is not NAME=VALUE"),
        (["--check", "stability", "--point", "w1=0,w3=0"], "point gives w3, which is not a"),
        (["--point", "w1=0,w2=0"], "--point is an option of --check stability"),
        (["--check", "validate", "--runs", "8"], "--runs is an option of --check sgd"),
        (["--check", "sgd", "--runs", "0"], "runs = 0 must be an integer"),
    ],
)
def test_bad_check_options_exit_2(sgd_script, capsys, extra, message):
    assert main(["sweep", str(sgd_script), "--grid", "lambda=0.5", *extra, "--quiet"]) == 2
    assert message in capsys.readouterr().err


def test_the_stability_summary_counts_a_point_that_raised_apart():
    import math

    import pandas as pd

    from symnoether.cli.sweep_command import summary

    table = pd.DataFrame({
        "law": ["stability"] * 3, "point": [0, 1, 2], "seed": [0, 0, 0],
        "passed": [True, False, False], "max_error": [-0.5, 0.25, math.nan],
        "error": ["", "", "the point is not fixed"],
    })  # fmt: skip
    text = summary(table)
    assert "1 stable (exponent < 0), 1 unstable, 1 raised" in text
    assert "exponent from -0.5 to 0.25" in text
