"""Benchmarks of sweeps (sn.sweep); one JSON line per figure.

Usage: python benchmarks/sweep.py [--quick] [--no-cluster]

Figures (issue 16), on the headline derivation (derivations/normalization_rmsprop.py,
scale symmetry under heavy ball with weight decay), its validation() inputs:
- in_process_vs_validate_loop: a validation sweep over an η × λ grid in this process
  (chunks of points as compiled batches, across numba's threads; also timed on one
  thread: serial_*), points per second, against a plain Python loop calling sn.validate
  on the same points (target >= 4). Both best of N; ``met`` also needs every residual
  and end charge of the sweep to equal the loop's bit for bit (same_answers).
  serial_ms_per_point is almost all integration (the batch does no per-point Python
  work), so loop_ms_per_point / serial_ms_per_point × threads bounds the speedup any
  path computing the same numbers can reach here.
- per_point_overhead (informational): the same two paths with t_end = 1e-6, i.e. the
  Python work per point that the batch removes.
- local_cluster_2_vs_1: the discrete check (the optimizer at three step sizes, a heavier
  point) on a LocalCluster of 2 worker processes vs 1 (target >= 1.7 on 2 free cores);
- dask_overhead: (1-worker cluster time − in-process time) / in-process time on that
  workload (target <= 0.10).
- same_sweep_in_plain_processes (informational): that workload split in two halves run
  by 2 forked processes at once, over one process running it all: the 2-process speedup
  of this very work with no Dask in the way.
- machine_parallel_ceiling (informational): the throughput of 2 processes running a
  compute-bound numba loop over 1 process, i.e. what this machine's 2 cores give to any
  2-worker sweep (1.84 and 1.96 in two runs on the idle 2-core CI machine).
Cluster start-up is outside the timings; each cluster's workers are warmed first.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from run import best  # benchmarks/run.py

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _emit(name: str, **figures) -> None:
    print(json.dumps({"benchmark": name, **figures}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small grids (about a minute)")
    parser.add_argument("--no-cluster", action="store_true", help="the in-process figure only")
    args = parser.parse_args()

    import runpy

    import distributed
    import numba
    import numpy as np

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
    repeat = 2 if args.quick else 3
    tables = []

    def swept() -> None:
        tables.append(sn.sweep(deriv, grid, **run))

    residuals, charges = [], []

    def loop() -> None:
        residuals.clear(), charges.clear()
        for point in range(grid.points):
            e, w = grid.point(point)
            params = {**fixed, eta: e, lam: w}
            report = sn.validate(deriv.system, deriv.laws, inputs["q0"], params=params,
                                 t_end=inputs["t_end"])  # fmt: skip
            residuals.append(report.residuals), charges.append(report.charge[-1])

    loop_s = best(loop, repeat)
    sweep_s = best(swept, repeat)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)  # the same batches on one core
    try:
        serial_s = best(swept, repeat)
    finally:
        numba.set_num_threads(threads)
    # the answers behind the figure agree bit for bit, every point, law and table
    expected_error = np.array(residuals).reshape(-1)
    expected_charge = np.array(charges).reshape(-1)
    same = all(
        np.array_equal(t["max_error"].to_numpy(), expected_error)
        and np.array_equal(t["charge_end"].to_numpy(), expected_charge)
        for t in tables
    )
    speedup = loop_s / sweep_s
    _emit("in_process_vs_validate_loop", points=grid.points, laws=len(deriv.laws),
          sweep_points_per_s=grid.points / sweep_s, loop_points_per_s=grid.points / loop_s,
          speedup=speedup, serial_points_per_s=grid.points / serial_s,
          serial_speedup=loop_s / serial_s, numba_threads=threads, same_answers=same,
          loop_ms_per_point=1e3 * loop_s / grid.points,
          serial_ms_per_point=1e3 * serial_s / grid.points,
          target=">= 4", met=bool(same and speedup >= 4.0))  # fmt: skip

    # What the batch removes: the per-point Python work, with almost nothing to integrate
    # (t_end = 1e-6: one step). Informational; the figure above is the goal.
    tiny = {**run, "t_end": 1e-6}
    overhead_sweep = best(lambda: sn.sweep(deriv, grid, **tiny), repeat)

    def tiny_loop() -> None:
        for point in range(grid.points):
            e, w = grid.point(point)
            sn.validate(deriv.system, deriv.laws, inputs["q0"], params={**fixed, eta: e, lam: w},
                        t_end=1e-6)  # fmt: skip

    overhead_loop = best(tiny_loop, repeat)
    _emit("per_point_overhead", points=grid.points,
          loop_ms_per_point=1e3 * overhead_loop / grid.points,
          sweep_ms_per_point=1e3 * overhead_sweep / grid.points,
          ratio=overhead_loop / overhead_sweep, target=None, met=None)  # fmt: skip

    if args.no_cluster:
        return
    _emit("machine_parallel_ceiling", **_machine_ceiling(), target=None, met=None)
    heavy = sn.grid({eta: sn.geomspace(1e-3, 1e-2, 8 if args.quick else 32), lam: [1e-3]},
                    seeds=range(4))  # fmt: skip
    discrete = dict(q0=inputs["q0"], params=fixed, check="discrete", steps=2000)
    sn.sweep(deriv, sn.grid({eta: [0.01], lam: [1e-3]}), **discrete)
    start = time.perf_counter()
    sn.sweep(deriv, heavy, **discrete)
    local = time.perf_counter() - start
    _emit("same_sweep_in_plain_processes", **_plain_processes(deriv, heavy, discrete),
          target=None, met=None)  # fmt: skip
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
          speedup=timings[1] / timings[2], target=">= 1.7",
          met=timings[1] / timings[2] >= 1.7)  # fmt: skip
    _emit("dask_overhead", in_process_per_s=n / local, one_worker_per_s=n / timings[1],
          overhead=(timings[1] - local) / local, target="<= 0.10",
          met=(timings[1] - local) / local <= 0.10)  # fmt: skip


def _spin(barrier, results, n: int) -> None:
    """A compute-bound numba loop (no memory traffic), timed after every process is ready."""
    import math

    import numba

    @numba.njit
    def work(n: int) -> float:
        total = 0.0
        for i in range(n):
            total += math.sin(i * 1e-3)
        return total

    work(10)  # compiled before the barrier
    barrier.wait()
    start = time.perf_counter()
    work(n)
    results.put(time.perf_counter() - start)


def _sweep_half(barrier, results, deriv, grid, options) -> None:
    import symnoether as sn

    barrier.wait()
    start = time.perf_counter()
    sn.sweep(deriv, grid, **options)
    results.put(time.perf_counter() - start)


def _plain_processes(deriv, grid, options) -> dict:
    """Informational: the same in-process sweep, split in two halves run by 2 forked
    processes at once, over one process running both halves: the 2-process speedup of
    this very workload with no Dask at all (compiled kernels inherited by fork)."""
    import symnoether as sn

    (eta, etas), (lam, lams) = grid.axes
    middle = len(etas) // 2
    halves = [sn.grid({eta: etas[:middle], lam: lams}, seeds=grid.seeds),
              sn.grid({eta: etas[middle:], lam: lams}, seeds=grid.seeds)]  # fmt: skip

    def run(parts: list) -> float:
        return _at_once(_sweep_half, [(deriv, part, options) for part in parts])

    one = min(run([grid]) for _ in range(2))
    two = min(run(halves) for _ in range(2))
    return {"one_process_s": one, "two_processes_s": two, "speedup": one / two}


def _machine_ceiling(n: int = 200_000_000) -> dict:
    """Informational: what 2 processes of pure compute give over 1 on this machine (the
    most any 2-worker sweep can reach here), with the same fork/barrier for both."""
    one = min(_at_once(_spin, [(n,)]) for _ in range(2))
    two = min(_at_once(_spin, [(n,), (n,)]) for _ in range(2))
    return {"one_process_s": one, "two_processes_s": two, "throughput_ratio": 2 * one / two}


def _at_once(target, arguments: list) -> float:
    """Run ``target(barrier, results, *args)`` in one forked process per entry of
    ``arguments``, released together by a barrier; the slowest one's time."""
    import multiprocessing

    fork = multiprocessing.get_context("fork")
    barrier, results = fork.Barrier(len(arguments)), fork.Queue()
    jobs = [fork.Process(target=target, args=(barrier, results, *args)) for args in arguments]
    for job in jobs:
        job.start()
    times = [results.get() for _ in jobs]
    for job in jobs:
        job.join()
    return max(times)


if __name__ == "__main__":
    main()
