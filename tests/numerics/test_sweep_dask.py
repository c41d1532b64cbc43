"""Sweeps on Dask: a real LocalCluster of two processes on loopback.

The rows must be bit-for-bit those of the in-process path (serial, one pair per chunk,
or the default chunks): the same kernel source, compiled by each worker from the text
the task carries, runs the same arithmetic on the same inputs.
"""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest
import sympy as sp

import symnoether as sn
from symnoether.numerics import sweeps

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


def test_local_cluster_of_processes_matches_in_process_bit_for_bit(tmp_path):
    system = sn.LearningSystem((W1, W2), (Y - W1 * W2 * X) ** 2 / 2,
                               rule=sn.rules.gradient_descent(ETA), data=(X, Y),
                               regularizers=[sn.rules.weight_decay(LAM)])  # fmt: skip
    deriv = sn.derive(system, {"rescale": (W1, -W2)})
    grid = sn.grid({ETA: sn.geomspace(0.01, 0.1, 3), LAM: [1e-3, 1e-2]}, seeds=range(3))
    run = dict(q0=[1.5, 0.2], params=DATA, t_end=2.0)
    embedded = sn.sweep(deriv, grid, **run)
    serial = sn.sweep(deriv, grid, chunk=1, **run)
    _same(embedded, serial)
    with (
        distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                 host="127.0.0.1", dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):  # fmt: skip
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
