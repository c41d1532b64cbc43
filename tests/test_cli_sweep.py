"""``symnoether sweep`` end to end: a local cluster of two workers, Parquet output, the
phase plot; the rows equal those of ``sn.sweep`` run in-process."""

from __future__ import annotations

import textwrap

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
