"""Sweeps on Dask: a real LocalCluster of two processes on loopback.

The rows must be bit-for-bit those of the in-process path (serial, one pair per chunk,
or the default chunks): the same kernel source, compiled by each worker from the text
the task carries, runs the same arithmetic on the same inputs.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import threading
import time

import pandas as pd
import pytest
import sympy as sp

import symnoether as sn
from symnoether.numerics import sweeps
from symnoether.numerics.sweep_progress import ProgressBar

distributed = pytest.importorskip("distributed")

ETA = sp.Symbol("eta", positive=True)
LAM = sp.Symbol("lambda", positive=True)
W1, W2 = sn.coordinates("w1 w2")
X, Y = sn.data("x y")
DATA = {"x": 1.0, "y": 0.5}


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        a.drop(columns="wall_s"), b.drop(columns="wall_s"), check_exact=True
    )


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                 host="127.0.0.1", dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):  # fmt: skip
        yield client


@pytest.fixture(scope="module")
def deriv():
    system = sn.LearningSystem((W1, W2), (Y - W1 * W2 * X) ** 2 / 2,
                               rule=sn.rules.gradient_descent(ETA), data=(X, Y),
                               regularizers=[sn.rules.weight_decay(LAM)])  # fmt: skip
    return sn.derive(system, {"rescale": (W1, -W2)})


def test_local_cluster_of_processes_matches_in_process_bit_for_bit(tmp_path, client, deriv):
    grid = sn.grid({ETA: sn.geomspace(0.01, 0.1, 3), LAM: [1e-3, 1e-2]}, seeds=range(3))
    run = dict(q0=[1.5, 0.2], params=DATA, t_end=2.0)
    embedded = sn.sweep(deriv, grid, **run)
    serial = sn.sweep(deriv, grid, chunk=1, **run)
    _same(embedded, serial)
    clustered = sn.sweep(deriv, grid, client=client, chunk=2, out=tmp_path / "s", **run)
    # each worker compiled the source text it was sent, checked against its hash
    source = sn.compile(deriv.system, deriv.laws).source
    digest = hashlib.sha256(source.encode()).hexdigest()
    loaded = client.run(sweeps.loaded_sources)
    assert len(loaded) == 2
    assert any(digest in hashes for hashes in loaded.values())
    assert len(clustered) == 3 * 2 * 3
    _same(clustered, embedded)
    # the part files hold the same rows
    stored = pd.read_parquet(sorted((tmp_path / "s").glob("part-*.parquet"))[0])
    assert len(stored) == 2


def test_a_killed_worker_loses_nothing(tmp_path, client, deriv):
    grid = sn.grid({ETA: sn.geomspace(0.005, 0.02, 4), LAM: [1e-3, 1e-2]}, seeds=range(4))
    run = dict(q0=[1.5, 0.2], params=DATA, check="discrete", steps=1000)
    expected = sn.sweep(deriv, grid, **run)
    out = tmp_path / "killed"
    pids = client.run(os.getpid)
    killed = []

    def kill_one_worker_mid_sweep():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            parts = list(out.glob("part-*.parquet")) if out.exists() else []
            if parts:  # the sweep is under way: kill a worker that holds tasks
                killed.append(len(parts))
                os.kill(next(iter(pids.values())), signal.SIGKILL)
            time.sleep(0.005)

    killer = threading.Thread(target=kill_one_worker_mid_sweep)
    killer.start()
    try:
        table = sn.sweep(deriv, grid, client=client, chunk=1, out=out, **run)
    finally:
        killer.join()
    assert killed and killed[0] < len(grid), "the worker was killed after the sweep ended"
    _same(table, expected)
    assert sorted(client.run(os.getpid).values()) != sorted(pids.values())  # restarted


def test_the_progress_bar_prints_the_dashboard_link(client, deriv, monkeypatch):
    # the loopback cluster runs no dashboard (bokeh is optional): stand one in for its link
    link = "http://127.0.0.1:8787/status"
    monkeypatch.setattr(distributed.Client, "dashboard_link", property(lambda self: link))
    out = io.StringIO()
    bar = ProgressBar(stream=out, force=True)
    grid = sn.grid({ETA: [0.01, 0.02], LAM: [1e-3]}, seeds=range(2))
    sn.sweep(deriv, grid, q0=[1.5, 0.2], params=DATA, t_end=1.0, client=client, chunk=1,
             progress=bar)  # fmt: skip
    text = out.getvalue()
    assert f"Dask dashboard: {link}" in text
    assert "4/4" in text and text.index("Dask dashboard") < text.rindex("4/4")


def test_a_matrix_system_on_the_cluster_matches_in_process(client):
    # two layers of width 3 (MatrixSymbols); a given 3×3 constant A travels as an array;
    # each worker builds the matrix kernels from the source text
    eta, beta = sp.symbols("eta beta", positive=True)
    M1, M2 = sn.layers(W1=(3, 2), W2=(1, 3))
    x, y = sn.layers(x=(2, 1), y=(1, 1), data=True)
    A = sp.MatrixSymbol("A", 3, 3)
    e = y - M2 * M1 * x
    system = sn.LearningSystem((M1, M2), e.T * e / 2, rule=sn.rules.momentum(eta, beta),
                               data=(x, y), regularizers=[sn.rules.weight_decay(LAM)])  # fmt: skip
    deriv = sn.derive(system, {"gl": (A * M1, -M2 * A)})
    q0 = {M1: [[1.0, 0.5], [-0.3, 0.8], [0.2, -1.1]], M2: [[0.4, -0.7, 0.9]]}
    params = {x: [1.0, -0.5], y: [[0.7]], beta: 0.5, A: sp.eye(3) + sp.ones(3, 3) / 10}
    grid = sn.grid({eta: [0.01, 0.02], LAM: [1e-2]}, seeds=range(2))
    run = dict(q0=q0, params=params, t_end=0.5, backend="numpy")
    embedded = sn.sweep(deriv, grid, **run)
    _same(sn.sweep(deriv, grid, client=client, chunk=1, **run), embedded)
    source = sn.compile(system, deriv.laws, backend="numpy").source
    digest = hashlib.sha256(source.encode()).hexdigest()
    assert any(digest in hashes for hashes in client.run(sweeps.loaded_sources).values())
    assert embedded["passed"].all() and len(embedded) == 4
