"""Benchmarks of sweeps (sn.sweep); one JSON line per figure.

Usage: python benchmarks/sweep.py [--quick]

Figures (issue 16), on the headline derivation (derivations/normalization_rmsprop.py,
scale symmetry under heavy ball with weight decay), its validation() inputs:
- in_process_vs_validate_loop: a validation sweep over an η × λ grid in this process,
  points per second, against a plain Python loop calling sn.validate on the same
  points (target >= 4; the in-process path is such a loop today, so expect about 1);
- local_cluster_2_vs_1: the discrete check (the optimizer at three step sizes, a heavier
  point) on a LocalCluster of 2 worker processes vs 1 (target >= 1.7 on 2 free cores);
- dask_overhead: (1-worker cluster time − in-process time) / in-process time on that
  workload (target <= 0.10).
Cluster start-up is outside the timings; each cluster's workers are warmed first.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _emit(name: str, **figures) -> None:
    print(json.dumps({"benchmark": name, **figures}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small grids (about a minute)")
    args = parser.parse_args()

    import runpy

    import distributed

    import symnoether as sn
    from symnoether.cli import load_derivation, validation_inputs

    script = ROOT / "derivations" / "normalization_rmsprop.py"
    deriv = load_derivation(script)
    hook = runpy.run_path(str(script), run_name="benchmark").get("validation")
    inputs = validation_inputs(deriv, hook() if hook else {})
    by_name = {s.name: s for s in deriv.system.hyperparameters}
    eta, lam = by_name["eta"], by_name["lambda"]
    fixed = {k: v for k, v in inputs["params"].items() if k not in ("eta", "lambda")}
    side = 16 if args.quick else 64  # 256 or 4096 points
    grid = sn.grid({eta: sn.geomspace(1e-3, 1e-1, side), lam: sn.geomspace(1e-5, 1e-2, side)})
    run = dict(q0=inputs["q0"], params=fixed, t_end=inputs["t_end"], spread=0.0)
    sn.sweep(deriv, sn.grid({eta: [0.01], lam: [1e-3]}), **run)  # compile, warm

    start = time.perf_counter()
    sn.sweep(deriv, grid, **run)
    swept = time.perf_counter() - start
    start = time.perf_counter()
    for point in range(grid.points):
        e, w = grid.point(point)
        sn.validate(deriv.system, deriv.laws, inputs["q0"], params={**fixed, eta: e, lam: w},
                    t_end=inputs["t_end"])  # fmt: skip
    loop = time.perf_counter() - start
    _emit("in_process_vs_validate_loop", points=grid.points,
          sweep_points_per_s=grid.points / swept, loop_points_per_s=grid.points / loop,
          speedup=loop / swept, target=4.0)  # fmt: skip

    heavy = sn.grid({eta: sn.geomspace(1e-3, 1e-2, 8 if args.quick else 32), lam: [1e-3]},
                    seeds=range(4))  # fmt: skip
    discrete = dict(q0=inputs["q0"], params=fixed, check="discrete", steps=2000)
    sn.sweep(deriv, sn.grid({eta: [0.01], lam: [1e-3]}), **discrete)
    start = time.perf_counter()
    sn.sweep(deriv, heavy, **discrete)
    local = time.perf_counter() - start
    timings = {}
    for workers in (1, 2):
        with (
            distributed.LocalCluster(n_workers=workers, processes=True, threads_per_worker=1,
                                     host="127.0.0.1", dashboard_address=None) as cluster,
            distributed.Client(cluster) as client,
        ):  # fmt: skip
            warm = sn.grid({eta: [0.01] * 1, lam: [1e-3]}, seeds=range(workers * 2))
            sn.sweep(deriv, warm, client=client, chunk=1, **discrete)
            start = time.perf_counter()
            sn.sweep(deriv, heavy, client=client, **discrete)
            timings[workers] = time.perf_counter() - start
    n = len(heavy)
    _emit("local_cluster_2_vs_1", pairs=n, ms_per_pair=1e3 * local / n,
          one_worker_per_s=n / timings[1], two_workers_per_s=n / timings[2],
          speedup=timings[1] / timings[2], target=1.7)  # fmt: skip
    _emit("dask_overhead", in_process_per_s=n / local, one_worker_per_s=n / timings[1],
          overhead=(timings[1] - local) / local, target=0.10)  # fmt: skip


if __name__ == "__main__":
    main()
