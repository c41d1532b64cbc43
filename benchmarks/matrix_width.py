"""Matrix-level derivation, kernels and validation across layer widths; one JSON line
per figure (the conventions of ``benchmarks/run.py``: every line carries its
``target`` and whether it is ``met``; ``--check`` exits 1 when one is missed).

Usage: python benchmarks/matrix_width.py [--quick] [--check] [--widths 4 8 16 ...]

System: the three-layer linear network W3 W2 W1 x with n×n layers (3n² parameters:
12,288 at n = 64), V = ½|y − W3W2W1x|² + (λ/2)Σ|W_B|², heavy-ball momentum, and the
gl(n) law of ψ_A = (A W1, −W2 A, 0) with A a random n×n array.

Figures, per width n:

- ``derive_seconds``: ``sn.LearningSystem`` + ``sn.noether`` (target ≤ 5 s).
- ``compile_cold_seconds``: a fresh process with empty kernel and numba caches timing
  ``sn.compile(system, law)`` + the first ``sn.validate`` (t_end = 0.001), after the
  derivation (target ≤ 15 s): codegen plus every numba compilation validate needs;
  ``cpu_s`` the process's CPU time beside the wall time.
- ``warm_vs_cold_start``: the same in a second process with the caches the first left
  (the authenticated index skips SymPy, numba loads its cache), over the cold time
  (target ≤ 0.1, as in ``benchmarks/run.py``).
- ``validate_vs_handwritten_numba``: seconds per unit of simulated time of the generated
  kernels / of hand-written numba kernels of the same matrix ODE (rhs, charge, rate, mψ
  written with ``np.dot`` on the layer arrays, as one would by hand), both driven by the
  same Dormand–Prince driver at the same tolerances (target ≤ 2). The two final
  states must agree to 1e-8 relative, or the figure is not met.

The ``growth`` line reports, for each timed cost, the exponent k of a fit cost ∝ n^k
over the widths measured.
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
from run import FIGURES, best, emit  # benchmarks/run.py: one JSON line a figure

ROOT = Path(__file__).resolve().parent.parent

NETWORK = """
import sympy as sp, symnoether as sn
def network(n):
    W1, W2, W3 = sn.layers(W1=(n, n), W2=(n, n), W3=(n, n))
    x, y = sn.layers(x=(n, 1), y=(n, 1), data=True)
    eta, beta, lam = sp.symbols("eta beta lam", positive=True)
    e = y - W3 * W2 * W1 * x
    system = sn.LearningSystem((W1, W2, W3), e.T * e / 2, rule=sn.rules.momentum(eta, beta),
                               data=(x, y), regularizers=[sn.rules.weight_decay(lam)])
    A = sp.MatrixSymbol("A", n, n)
    law = sn.noether(system, (A * W1, -W2 * A, 0))
    return system, law, (W1, W2, W3, x, y, A, eta, beta, lam)
"""

COLD = (
    NETWORK
    + """
import sys, time
import numpy as np
n = int(sys.argv[1])
system, law, (W1, W2, W3, x, y, A, eta, beta, lam) = network(n)
rng = np.random.default_rng(0)
q0 = {W: rng.standard_normal((n, n)) / np.sqrt(n) for W in (W1, W2, W3)}
params = {x: rng.standard_normal((n, 1)) / np.sqrt(n), y: rng.standard_normal((n, 1)),
          eta: 0.01, beta: 0.5, lam: 0.1, A: rng.standard_normal((n, n)) / np.sqrt(n)}
start, cpu = time.perf_counter(), time.process_time()
kernels = sn.compile(system, law)
report = sn.validate(system, law, q0, params=params, t_end=0.001, kernels=kernels)
assert report.passed, report
print(time.perf_counter() - start, time.process_time() - cpu)
"""
)

# Hand-written kernels of the same ODE (parameters p = (beta, eta, lam, A, x, y), the
# order sn.compile gives them, which main() checks).
HAND = """
N = {n}
N2 = N * N
NS = 6 * N2
NQ = 3 * N2
NL = 1


@jit
def unpack(p):
    A = p[3:3 + N2].reshape((N, N))
    x = p[3 + N2:3 + N2 + N].reshape((N, 1))
    y = p[3 + N2 + N:3 + N2 + 2 * N].reshape((N, 1))
    return p[0], p[1], p[2], A, x, y


@jit
def inv_tau(p):
    return 2.0 * (1.0 - p[0]) / (p[1] * (1.0 + p[0]))


@jit
def rhs(t, z, p, out):
    beta, eta, lam, A, x, y = unpack(p)
    W1 = z[0:N2].reshape((N, N))
    W2 = z[N2:2 * N2].reshape((N, N))
    W3 = z[2 * N2:3 * N2].reshape((N, N))
    m = eta * (1.0 + beta) / 2.0
    itau = inv_tau(p)
    h1 = np.dot(W1, x)
    h2 = np.dot(W2, h1)
    e = y - np.dot(W3, h2)
    g3 = np.dot(W3.T, e)
    g2 = np.dot(W2.T, g3)
    out[:NQ] = z[NQ:NS]
    G1 = lam * W1 - np.dot(g2, x.T)
    G2 = lam * W2 - np.dot(g3, h1.T)
    G3 = lam * W3 - np.dot(e, h2.T)
    out[NQ:NQ + N2] = -itau * z[NQ:NQ + N2] - G1.ravel() / m
    out[NQ + N2:NQ + 2 * N2] = -itau * z[NQ + N2:NQ + 2 * N2] - G2.ravel() / m
    out[NQ + 2 * N2:NS] = -itau * z[NQ + 2 * N2:NS] - G3.ravel() / m


@jit
def charge(z, p, out):
    beta, eta, lam, A, x, y = unpack(p)
    W1 = z[0:N2].reshape((N, N))
    W2 = z[N2:2 * N2].reshape((N, N))
    V1 = z[NQ:NQ + N2].reshape((N, N))
    V2 = z[NQ + N2:NQ + 2 * N2].reshape((N, N))
    m = eta * (1.0 + beta) / 2.0
    out[0] = m * (np.sum(V1 * np.dot(A, W1)) - np.sum(V2 * np.dot(W2, A)))


@jit
def rate(z, p, out):
    beta, eta, lam, A, x, y = unpack(p)
    W1 = z[0:N2].reshape((N, N))
    W2 = z[N2:2 * N2].reshape((N, N))
    V1 = z[NQ:NQ + N2].reshape((N, N))
    V2 = z[NQ + N2:NQ + 2 * N2].reshape((N, N))
    m = eta * (1.0 + beta) / 2.0
    kinetic = np.sum(V1 * np.dot(A, V1)) - np.sum(V2 * np.dot(V2, A))
    decay = np.sum(W1 * np.dot(A, W1)) - np.sum(W2 * np.dot(W2, A))
    out[0] = m * kinetic - lam * decay


@jit
def mpsi(z, p, out):
    beta, eta, lam, A, x, y = unpack(p)
    W1 = z[0:N2].reshape((N, N))
    W2 = z[N2:2 * N2].reshape((N, N))
    m = eta * (1.0 + beta) / 2.0
    out[0:N2] = m * np.dot(A, W1).ravel()
    out[N2:2 * N2] = -m * np.dot(W2, A).ravel()
    out[2 * N2:] = 0.0
"""


def start_times(n: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """(wall, CPU) seconds of compile + first validate in a fresh process with empty
    caches (cold), then in another one with the caches it left (warm)."""
    with tempfile.TemporaryDirectory(prefix="symnoether-width-") as root:
        env = dict(os.environ, NUMBA_CACHE_DIR=f"{root}/numba",
                   SYMNOETHER_CACHE_DIR=f"{root}/kernels")  # fmt: skip
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        times = []
        for _ in ("cold", "warm"):
            run = subprocess.run([sys.executable, "-c", COLD, str(n)], env=env, check=True,
                                 capture_output=True, text=True)  # fmt: skip
            times.append(tuple(float(v) for v in run.stdout.split()[-2:]))
        return times[0], times[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="widths 4, 16, 64 only")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--widths", type=int, nargs="*", help="widths to measure")
    parser.add_argument("--repeat", type=int, default=3, help="best of N on both sides")
    parser.add_argument("--t-end", type=float, default=0.2, help="simulated time per run")
    args = parser.parse_args()
    widths = args.widths or ([4, 16, 64] if args.quick else [4, 8, 16, 32, 64, 128, 256])

    import symnoether as sn
    from symnoether.numerics import TABLEAUS, drivers, kernel_cache, kernel_source

    namespace: dict = {}
    exec(NETWORK, namespace)
    network = namespace["network"]
    growth: dict = {"derive": [], "compile": [], "validate": []}
    for n in widths:
        start = time.perf_counter()
        system, law, (W1, W2, W3, x, y, A, eta, beta, lam) = network(n)
        derive_s = time.perf_counter() - start
        emit("derive_seconds", derive_s, "<=", 5.0, key="value", width=n, parameters=3 * n * n)

        (wall, cpu), (warm, warm_cpu) = start_times(n)
        emit(
            "compile_cold_seconds",
            wall,
            "<=",
            15.0,
            key="value",
            width=n,
            cpu_s=round(cpu, 2),
            timed="sn.compile + first sn.validate in a fresh process, empty caches; "
            "cpu_s is the process's CPU time (wall time counts other load on the machine)",
        )
        emit("warm_vs_cold_start", warm / wall, "<=", 0.1, key="value", width=n,
             warm_s=round(warm, 3), warm_cpu_s=round(warm_cpu, 3),
             cold_s=round(wall, 3))  # fmt: skip

        kernels = sn.compile(system, law)
        assert [str(s.name) for s in kernels.parameters] == "beta eta lam A x y".split()
        rng = np.random.default_rng(0)
        q0 = {W: rng.standard_normal((n, n)) / np.sqrt(n) for W in (W1, W2, W3)}
        a = rng.standard_normal((n, n)) / np.sqrt(n)
        params = {x: rng.standard_normal((n, 1)) / np.sqrt(n), y: rng.standard_normal((n, 1)),
                  eta: 0.01, beta: 0.5, lam: 0.1, A: a}  # fmt: skip
        p = kernels.pack(params)
        y0 = np.concatenate([kernels.pack_state(q0), np.zeros(3 * n * n)])
        ns, nl = len(y0), 1
        rtol, atol, t_end = 1e-9, 1e-12, args.t_end

        def integrate(module, start=y0):
            cap = 16
            buffers = (np.empty(cap), np.empty((cap, ns + nl)), np.empty((cap, nl)),
                       np.empty((5, nl)))  # fmt: skip
            info, zlast = np.empty(5), np.empty(ns + nl)
            module.drive_integrate(*TABLEAUS["dopri5"], 0.0, t_end, start, p, rtol, atol, 0.0,
                                   10**7, *buffers, info, zlast)  # fmt: skip
            assert info[0] == 0, info
            return info, zlast

        body = HAND.format(n=n) + "".join(kernel_source.driver_source(d) for d in drivers.DRIVERS)
        _, hand, _ = kernel_cache.load_module(body, kernel_cache.body_hash(body))
        info_ours, z_ours = integrate(kernels.module)
        info_hand, z_hand = integrate(hand)
        diff = float(np.max(np.abs(z_ours - z_hand)) / max(1.0, np.max(np.abs(z_hand))))
        ours_s = best(lambda: integrate(kernels.module), args.repeat) / t_end
        hand_s = best(lambda: integrate(hand), args.repeat) / t_end
        report = sn.validate(system, law, q0, params=params, t_end=t_end, kernels=kernels)
        emit("validate_vs_handwritten_numba", ours_s / hand_s, "<=", 2.0, key="value",
             ok=diff <= 1e-8,
             width=n, ours_s_per_unit_time=round(ours_s, 5), hand_s_per_unit_time=round(hand_s, 5),
             steps=int(info_ours[2]), state_diff=float(f"{diff:.3g}"), law_passed=report.passed,
             max_residual=float(f"{report.max_residual:.3g}"), best_of=args.repeat)  # fmt: skip
        growth["derive"].append(derive_s)
        growth["compile"].append(wall)
        growth["validate"].append(ours_s)
    if len(widths) > 1:
        logs = np.log(np.array(widths, dtype=float))
        fits = {k: round(float(np.polyfit(logs, np.log(v), 1)[0]), 2) for k, v in growth.items()}
        print(json.dumps({"name": "growth", "exponent_of_n": fits, "widths": widths}), flush=True)
    missed = [f["name"] for f in FIGURES if not f["met"]]
    if args.check and missed:
        print(f"missed targets: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
