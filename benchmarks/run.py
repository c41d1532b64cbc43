"""Benchmarks of compiled validation; one JSON line per figure.

Usage: python benchmarks/run.py [--quick]

Figures (ratios measured in the same run, on the same system and tolerance):
- validate_vs_solve_ivp: scipy solve_ivp(DOP853) on a sympy.lambdify right-hand
  side of the same extended system, time / our validate time (target >= 100);
- validate_vs_handwritten_numba: our time / a hand-coded numba right-hand side
  driven by the same Dormand–Prince driver (target <= 1.3);
- warm_vs_cold_start: a second process with the kernels cached / a first one
  compiling them, compile + first validation timed inside each (target <= 0.1);
  also numba's own floor (a process calling one trivial cached function: what
  importing numba and its first call cost, whatever the kernels) and the ratio
  of the two times above that floor;
- batch_1024_speedup: serial loop / numba prange over 1024 initial conditions.

System: the rescale pair V = ½(y − w1w2x)² + (λ/2)|w|² under gradient descent,
law of ψ = (w1, −w2).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PROBE = """
import time
t0 = time.perf_counter()
import sympy as sp, symnoether as sn
from symnoether import models
from symnoether.numerics import compile, validate
eta, lam = sp.symbols("eta lam", positive=True)
pair = models.scalar_pair()
system = pair.system(sn.rules.gradient_descent(eta), [sn.rules.weight_decay(lam)])
law = sn.noether(system, pair.generators["rescale"])
t1 = time.perf_counter()
kernels = compile(system, [law])
validate(system, law, [1.5, 0.3], [0.2, -0.1], params={eta: 0.05, lam: 0.01, "x": 0.4,
         "y": 0.5}, t_end=1.0, kernels=kernels)
print(time.perf_counter() - t1)
"""

FLOOR = """
import time
t0 = time.perf_counter()
import numba, numpy as np

@numba.njit(cache=True)
def double(y, out):
    for i in range(y.shape[0]):
        out[i] = 2.0 * y[i]

double(np.ones(3), np.empty(3))
print(time.perf_counter() - t0)
"""

HAND = """
@jit
def rhs(t, y, p, out):
    eta, lam, x, yy = p[0], p[1], p[2], p[3]
    r = yy - y[0] * y[1] * x
    g0 = -r * y[1] * x + lam * y[0]
    g1 = -r * y[0] * x + lam * y[1]
    out[0] = y[2]
    out[1] = y[3]
    out[2] = -(2.0 / eta) * (y[2] + g0)
    out[3] = -(2.0 / eta) * (y[3] + g1)


@jit
def charge(y, p, out):
    out[0] = 0.5 * p[0] * (y[0] * y[2] - y[1] * y[3])


@jit
def rate(y, p, out):
    out[0] = 0.5 * p[0] * (y[2] ** 2 - y[3] ** 2) - p[1] * (y[0] ** 2 - y[1] ** 2)


@jit
def inv_tau(p):
    return 2.0 / p[0]


@jit
def mpsi(y, p, out):
    out[0] = 0.5 * p[0] * y[0]
    out[1] = -0.5 * p[0] * y[1]


NS = 4
NQ = 2
NL = 1
"""


def emit(name: str, ratio: float, target: str, **extra) -> None:
    print(json.dumps({"name": name, "ratio": round(ratio, 3), "target": target, **extra}))


def best(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def start_times(root: Path) -> tuple[float, float, float]:
    """Seconds of (cold, warm, numba's floor): the probe in a first process (nothing
    cached) and the best of two later ones (kernels cached); the floor is the best of three
    processes that import numba and call one trivial cached function, the least a
    process pays before any numba kernel runs (importing numba, and numba's typing
    and target registries on the first call)."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(root / "numba"))
    env["SYMNOETHER_CACHE_DIR"] = str(root / "kernels")

    def seconds(script: str, cwd: Path) -> float:
        out = subprocess.run(
            [sys.executable, "-c", script], env=env, cwd=cwd, capture_output=True, text=True,
            check=True,
        )  # fmt: skip
        return float(out.stdout.split()[-1])

    cold = seconds(PROBE, Path.cwd())
    warm = min(seconds(PROBE, Path.cwd()) for _ in range(2))
    floor_dir = root / "floor"
    floor_dir.mkdir()
    (floor_dir / "floor_probe.py").write_text(FLOOR)
    floor_script = "import sys; sys.path.insert(0, '.'); import floor_probe"
    seconds(floor_script, floor_dir)  # compiles and caches the trivial function
    floor = min(seconds(floor_script, floor_dir) for _ in range(3))
    return cold, warm, floor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="finish in under a minute")
    args = parser.parse_args()
    t_end = 20.0 if args.quick else 100.0
    batch_t_end = 2.0 if args.quick else 10.0
    root = Path(tempfile.mkdtemp(prefix="symnoether-bench-"))

    cold, warm, floor = start_times(root)
    emit(
        "warm_vs_cold_start", warm / cold, "<= 0.1", cold_s=round(cold, 2), warm_s=round(warm, 2),
        numba_floor_s=round(floor, 2),
        above_floor_ratio=round(max(warm - floor, 0.0) / max(cold - floor, 1e-9), 4),
    )  # fmt: skip

    os.environ["NUMBA_CACHE_DIR"] = str(root / "numba")
    os.environ["SYMNOETHER_CACHE_DIR"] = str(root / "kernels")
    import numba

    numba.config.CACHE_DIR = str(root / "numba")
    import sympy as sp
    from scipy.integrate import solve_ivp

    import symnoether as sn
    from symnoether import models
    from symnoether.numerics import TABLEAUS, codegen, compile, drivers, kernel_cache, validate

    eta, lam = sp.symbols("eta lam", positive=True)
    pair = models.scalar_pair()
    system = pair.system(sn.rules.gradient_descent(eta), [sn.rules.weight_decay(lam)])
    law = sn.noether(system, pair.generators["rescale"])
    params = {eta: 0.05, lam: 0.01, "x": 0.4, "y": 0.5}
    q0, v0 = [1.5, 0.3], [0.2, -0.1]
    rtol, atol = 1e-9, 1e-12
    kernels = compile(system, [law])
    assert [str(s) for s in kernels.parameters] == ["eta", "lam", "x", "y"]

    def ours():
        return validate(system, law, q0, v0, params=params, t_end=t_end, rtol=rtol, atol=atol,
                        kernels=kernels)  # fmt: skip

    report = ours()
    assert report.passed, report
    ours_s = best(ours, 20)

    # baseline 1: solve_ivp(DOP853) + lambdify, the same extended system
    from symnoether.core import equations_of_motion

    eom = equations_of_motion(system).first_order()
    undamped_rate = sp.powsimp(sp.expand(law.rate / system.damping_factor))
    symbols = [*eom.state, sp.Symbol("P"), *kernels.parameters]
    extended = [*eom.rhs, undamped_rate - sp.Symbol("P") / system.tau]
    numeric = sp.lambdify(symbols, extended, "numpy")
    pvals = [float(params[s] if s in params else params[str(s)]) for s in kernels.parameters]
    y0 = np.array([*q0, *v0, 0.5 * 0.05 * (1.5 * 0.2 - 0.3 * -0.1)])

    def scipy_run():
        return solve_ivp(lambda t, z: numeric(*z, *pvals), (0.0, t_end), y0, method="DOP853",
                         rtol=rtol, atol=atol)  # fmt: skip

    assert scipy_run().success
    scipy_s = best(scipy_run, 3)
    emit("validate_vs_solve_ivp", scipy_s / ours_s, ">= 100", ours_s=ours_s, scipy_s=scipy_s)

    # baseline 2: hand-written numba kernels, the same driver source
    body = HAND + "".join(codegen._driver_source(d) for d in drivers.DRIVERS)
    _, hand, _ = kernel_cache.load_module(body, kernel_cache.body_hash(body))
    p = kernels.pack(params)
    y = np.array([1.1, -0.4, 0.3, 0.7, 0.0])
    for name in ("rhs",):
        a, b = np.empty(5), np.empty(5)
        getattr(hand, name)(0.0, y, p, a)
        kernels.rhs(0.0, y, p, b)
        np.testing.assert_allclose(a[:4], b[:4], rtol=1e-12)
    a, b = np.empty(1), np.empty(1)
    hand.rate(y, p, a)
    kernels.rate(y, p, b)
    np.testing.assert_allclose(a, b, rtol=1e-12)

    cap, nl = 4096, 1
    buffers = (np.empty(cap), np.empty((cap, 5)), np.empty((cap, nl)), np.empty((5, nl)))
    y0_hand = np.array([*q0, *v0])

    def hand_run(module):
        info, zlast = np.empty(5), np.empty(5)
        module.drive_integrate(*TABLEAUS["dopri5"], 0.0, t_end, y0_hand, p, rtol, atol, 0.0,
                               1_000_000, *buffers, info, zlast)  # fmt: skip
        return info

    assert hand_run(hand)[0] == 0 and hand_run(kernels.module)[0] == 0
    hand_s = best(lambda: hand_run(hand), 30)
    generated_s = best(lambda: hand_run(kernels.module), 30)
    emit(
        "validate_vs_handwritten_numba", generated_s / hand_s, "<= 1.3",
        generated_s=generated_s, hand_s=hand_s, validate_s=ours_s,
    )  # fmt: skip

    # batch of 1024 initial conditions: prange vs a serial loop
    run = dict(params=params, t_end=batch_t_end, kernels=kernels, batch=1024, seed=0)
    validate(system, law, q0, v0, parallel=True, **run)
    validate(system, law, q0, v0, parallel=False, **run)
    parallel_s = best(lambda: validate(system, law, q0, v0, parallel=True, **run), 3)
    serial_s = best(lambda: validate(system, law, q0, v0, parallel=False, **run), 3)
    emit(
        "batch_1024_speedup", serial_s / parallel_s, f"report ({numba.config.NUMBA_NUM_THREADS} "
        "threads)", serial_s=serial_s, parallel_s=parallel_s,
    )  # fmt: skip


if __name__ == "__main__":
    main()
