"""Matrix-level derivation, kernels and validation across layer widths, and the
element-wise path beside it; one JSON line per figure (the conventions of
``benchmarks/run.py``: every line carries its ``target`` and whether it is ``met``;
``--check`` exits 1 when one is missed).

Usage: python benchmarks/matrix_width.py [--quick] [--check] [--widths 4 8 16 ...]
[--systems two_layer three_layer normalized] [--elementwise-max 8] [--elementwise-limit 600]

Systems (n×n layers, data x, y ∈ ℝⁿ, heavy-ball momentum (η, β), weight decay λ):

- ``two_layer``: V = ½|y − W2W1x|² + (λ/2)Σ|W_B|², the gl(n) law of ψ_A = (A W1, −W2 A),
  A a random n×n array (2n² parameters);
- ``three_layer``: V = ½|y − W3W2W1x|² + …, ψ_A = (A W1, −W2 A, 0) (3n²: 12,288 at n = 64);
- ``normalized``: a normalization layer, one n×n layer divided by its Frobenius norm,
  V = ½|y − Wx/‖W‖|² + (λ/2)|W|², scale invariant: the law of ψ = W (n² parameters).

Figures, per system and width n (``system`` and ``width`` fields):

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
  written with ``np.dot`` on the layer arrays, as one would by hand, one set a system),
  both driven by the same Dormand–Prince driver at the same tolerances, best of
  ``--repeat`` on both sides (target ≤ 2). The two final states must agree to 1e-8
  relative, or the figure is not met. ``validate_s_per_unit_time``: one whole
  ``sn.validate`` call (warm kernels) over t_end, beside it.
- ``elementwise_*``: today's element-wise path of the same system (``system.explicit()``,
  the generator on explicit entries, ``sn.noether``, ``sn.compile``, ``sn.validate``), from
  ``benchmarks/elementwise_width.py``, in a fresh process with empty caches, only at widths
  n ≤ ``--elementwise-max`` and within ``--elementwise-limit`` seconds a process; past the
  limit the process is stopped, what it did not reach is printed as None (not met) and
  larger widths of that system are not run (an ``elementwise_not_run`` line says so).
  Targets: derive ≤ 20 s (issue 14's element-wise goal), compile cold ≤ 15 s, and ≤ 2× the
  same hand-written kernels, the final states agreeing to 1e-8.

The ``growth`` line reports, per system and per cost, the exponent k of a fit cost ∝ n^k
over the widths measured (the element-wise path over the widths it finished).
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
from elementwise_width import measure  # benchmarks/elementwise_width.py
from run import best, emit, finished  # benchmarks/run.py: one JSON line a figure

ROOT = Path(__file__).resolve().parent.parent

SYSTEMS = """
import time
import numpy as np, sympy as sp, symnoether as sn
ETA, BETA, LAM = sp.symbols("eta beta lam", positive=True)


def build(name, n):
    x, y = sn.layers(x=(n, 1), y=(n, 1), data=True)
    A = sp.MatrixSymbol("A", n, n)
    if name == "normalized":
        layers = sn.layers(W=(n, n))
        out, generator = layers[0] * x / sp.sqrt(sp.Trace(layers[0].T * layers[0])), layers
    else:
        depth = {"two_layer": 2, "three_layer": 3}[name]
        layers = sn.layers(**{f"W{k}": (n, n) for k in range(1, depth + 1)})
        out = x
        for W in layers:
            out = W * out
        generator = (A * layers[0], -layers[1] * A, *[0] * (depth - 2))
    e = y - out
    system = sn.LearningSystem(layers, e.T * e / 2, rule=sn.rules.momentum(ETA, BETA),
                               data=(x, y), regularizers=[sn.rules.weight_decay(LAM)])
    return system, generator, (layers, x, y, A)


def values(name, n, symbols):
    layers, x, y, A = symbols
    rng = np.random.default_rng(0)
    q0 = {W: rng.standard_normal((n, n)) / np.sqrt(n) for W in layers}
    params = {x: rng.standard_normal((n, 1)) / np.sqrt(n), y: rng.standard_normal((n, 1)),
              ETA: 0.01, BETA: 0.5, LAM: 0.1}
    if name != "normalized":
        params[A] = rng.standard_normal((n, n)) / np.sqrt(n)
    return q0, params


def integrate(module, y0, p, t_end, rtol=1e-9, atol=1e-12):
    from symnoether.numerics import TABLEAUS
    ns, nl, cap = len(y0), 1, 16
    buffers = (np.empty(cap), np.empty((cap, ns + nl)), np.empty((cap, nl)), np.empty((5, nl)))
    info, zlast = np.empty(5), np.empty(ns + nl)
    module.drive_integrate(*TABLEAUS["dopri5"], 0.0, t_end, y0, p, rtol, atol, 0.0, 10**7,
                           *buffers, info, zlast)
    assert info[0] == 0, info
    return info, zlast


def timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start
"""

COLD = (
    SYSTEMS
    + """
import sys
name, n = sys.argv[1], int(sys.argv[2])
system, generator, symbols = build(name, n)
law = sn.noether(system, generator)
q0, params = values(name, n, symbols)
start, cpu = time.perf_counter(), time.process_time()
kernels = sn.compile(system, law)
report = sn.validate(system, law, q0, params=params, t_end=0.001, kernels=kernels)
assert report.passed, report
print(time.perf_counter() - start, time.process_time() - cpu)
"""
)

# Hand-written kernels of the same ODEs; parameters p in the order sn.compile gives them
# (main() checks it), state z = (layers, velocities), each layer row-major.
COMMON = """
N = {n}
N2 = N * N
NQ = {layers} * N2
NS = 2 * NQ
NL = 1


@jit
def inv_tau(p):
    return 2.0 * (1.0 - p[0]) / (p[1] * (1.0 + p[0]))


@jit
def mass(p):
    return p[1] * (1.0 + p[0]) / 2.0


@jit
def layer(z, k):
    return z[k * N2:(k + 1) * N2].reshape((N, N))
"""

HAND = {
    "two_layer": """
@jit
def rhs(t, z, p, out):
    lam, A, x, y = unpack(p)
    W1, W2 = layer(z, 0), layer(z, 1)
    m, itau = mass(p), inv_tau(p)
    h1 = np.dot(W1, x)
    e = y - np.dot(W2, h1)
    g2 = np.dot(W2.T, e)
    G1 = lam * W1 - np.dot(g2, x.T)
    G2 = lam * W2 - np.dot(e, h1.T)
    out[:NQ] = z[NQ:NS]
    out[NQ:NQ + N2] = -itau * z[NQ:NQ + N2] - G1.ravel() / m
    out[NQ + N2:NS] = -itau * z[NQ + N2:NS] - G2.ravel() / m
""",
    "three_layer": """
@jit
def rhs(t, z, p, out):
    lam, A, x, y = unpack(p)
    W1, W2, W3 = layer(z, 0), layer(z, 1), layer(z, 2)
    m, itau = mass(p), inv_tau(p)
    h1 = np.dot(W1, x)
    h2 = np.dot(W2, h1)
    e = y - np.dot(W3, h2)
    g3 = np.dot(W3.T, e)
    g2 = np.dot(W2.T, g3)
    G1 = lam * W1 - np.dot(g2, x.T)
    G2 = lam * W2 - np.dot(g3, h1.T)
    G3 = lam * W3 - np.dot(e, h2.T)
    out[:NQ] = z[NQ:NS]
    out[NQ:NQ + N2] = -itau * z[NQ:NQ + N2] - G1.ravel() / m
    out[NQ + N2:NQ + 2 * N2] = -itau * z[NQ + N2:NQ + 2 * N2] - G2.ravel() / m
    out[NQ + 2 * N2:NS] = -itau * z[NQ + 2 * N2:NS] - G3.ravel() / m
""",
    # V = ½|e|², e = y − Wx/s, s = ‖W‖: ∇V = −e xᵀ/s + (eᵀWx/s³) W; ψ = W
    "normalized": """
@jit
def data(p):
    return p[2], p[3:3 + N].reshape((N, 1)), p[3 + N:3 + 2 * N].reshape((N, 1))


@jit
def rhs(t, z, p, out):
    lam, x, y = data(p)
    W = layer(z, 0)
    m, itau = mass(p), inv_tau(p)
    s2 = np.sum(W * W)
    s = np.sqrt(s2)
    u = np.dot(W, x)
    e = y - u / s
    G = lam * W - np.dot(e, x.T) / s + (np.sum(e * u) / (s2 * s)) * W
    out[:NQ] = z[NQ:NS]
    out[NQ:NS] = -itau * z[NQ:NS] - G.ravel() / m


@jit
def charge(z, p, out):
    out[0] = mass(p) * np.sum(z[NQ:NS] * z[:NQ])


@jit
def rate(z, p, out):
    lam, x, y = data(p)
    out[0] = mass(p) * np.sum(z[NQ:NS] ** 2) - lam * np.sum(z[:NQ] ** 2)


@jit
def mpsi(z, p, out):
    out[:] = mass(p) * z[:NQ]
""",
}
GL = """
# the gl(n) law of ψ_A = (A W1, −W2 A, 0…) of the linear networks
@jit
def unpack(p):
    A = p[3:3 + N2].reshape((N, N))
    x = p[3 + N2:3 + N2 + N].reshape((N, 1))
    y = p[3 + N2 + N:3 + N2 + 2 * N].reshape((N, 1))
    return p[2], A, x, y


@jit
def charge(z, p, out):
    lam, A, x, y = unpack(p)
    out[0] = mass(p) * (np.sum(layer(z, NQ // N2) * np.dot(A, layer(z, 0)))
                        - np.sum(layer(z, NQ // N2 + 1) * np.dot(layer(z, 1), A)))


@jit
def rate(z, p, out):
    lam, A, x, y = unpack(p)
    W1, W2, V1, V2 = layer(z, 0), layer(z, 1), layer(z, NQ // N2), layer(z, NQ // N2 + 1)
    kinetic = np.sum(V1 * np.dot(A, V1)) - np.sum(V2 * np.dot(V2, A))
    decay = np.sum(W1 * np.dot(A, W1)) - np.sum(W2 * np.dot(W2, A))
    out[0] = mass(p) * kinetic - lam * decay


@jit
def mpsi(z, p, out):
    lam, A, x, y = unpack(p)
    m = mass(p)
    out[:] = 0.0
    out[0:N2] = m * np.dot(A, layer(z, 0)).ravel()
    out[N2:2 * N2] = -m * np.dot(layer(z, 1), A).ravel()
"""
LAYERS = {"two_layer": 2, "three_layer": 3, "normalized": 1}
PARAMETERS = {"normalized": "beta eta lam x y"}


def start_times(name: str, n: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """(wall, CPU) seconds of compile + first validate in a fresh process with empty
    caches (cold), then in another one with the caches it left (warm)."""
    with tempfile.TemporaryDirectory(prefix="symnoether-width-") as root:
        env = dict(os.environ, NUMBA_CACHE_DIR=f"{root}/numba",
                   SYMNOETHER_CACHE_DIR=f"{root}/kernels")  # fmt: skip
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        times = []
        for _ in ("cold", "warm"):
            run = subprocess.run([sys.executable, "-c", COLD, name, str(n)], env=env,
                                 check=True, capture_output=True, text=True)  # fmt: skip
            times.append(tuple(float(v) for v in run.stdout.split()[-2:]))
        return times[0], times[1]


def hand_module(name: str, n: int):
    """The hand-written kernels of system ``name`` at width n, with the generated drivers."""
    from symnoether.numerics import drivers, kernel_cache, kernel_source

    body = COMMON.format(n=n, layers=LAYERS[name]) + HAND[name]
    body += GL if name != "normalized" else ""
    body += "".join(kernel_source.driver_source(d) for d in drivers.DRIVERS)
    return kernel_cache.load_module(body, kernel_cache.body_hash(body))[1]


def relative(a, b) -> float:
    return float(np.max(np.abs(a - b)) / max(1.0, np.max(np.abs(b))))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="widths 4, 16; element-wise at 4 (120 s a process)")  # fmt: skip
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--widths", type=int, nargs="*", help="widths to measure")
    parser.add_argument("--systems", nargs="*", choices=list(LAYERS), default=list(LAYERS))
    parser.add_argument("--repeat", type=int, default=3, help="best of N on both sides")
    parser.add_argument("--t-end", type=float, default=0.2, help="simulated time per run")
    parser.add_argument("--elementwise-max", type=int, help="largest element-wise width")
    parser.add_argument("--elementwise-limit", type=float,
                        help="seconds an element-wise process may run")  # fmt: skip
    args = parser.parse_args()
    widths = args.widths or ([4, 16] if args.quick else [4, 8, 16, 32, 64, 128, 256])
    cap = args.elementwise_max or (4 if args.quick else 8)
    limit = args.elementwise_limit or (120.0 if args.quick else 600.0)
    t_end = args.t_end

    import symnoether as sn

    namespace: dict = {}
    exec(SYSTEMS, namespace)
    build, values, integrate = namespace["build"], namespace["values"], namespace["integrate"]
    growth: dict = {}
    for name in args.systems:
        costs = growth.setdefault(name, {})
        stopped_at = None
        for n in widths:
            size = LAYERS[name] * n * n
            tags = {"system": name, "width": n, "parameters": size}
            start = time.perf_counter()
            system, generator, symbols = build(name, n)
            law = sn.noether(system, generator)
            derive_s = time.perf_counter() - start
            emit("derive_seconds", derive_s, "<=", 5.0, key="value", **tags,
                 verification=law.verification)  # fmt: skip

            (wall, cpu), (warm, warm_cpu) = start_times(name, n)
            emit("compile_cold_seconds", wall, "<=", 15.0, key="value", **tags,
                 cpu_s=round(cpu, 2),
                 timed="sn.compile + first sn.validate in a fresh process, empty caches; "
                 "cpu_s is the process's CPU time (wall time counts other load on the machine)",
                 )  # fmt: skip
            emit("warm_vs_cold_start", warm / wall, "<=", 0.1, key="value", **tags,
                 warm_s=round(warm, 3), warm_cpu_s=round(warm_cpu, 3),
                 cold_s=round(wall, 3))  # fmt: skip

            kernels = sn.compile(system, law)
            order = PARAMETERS.get(name, "beta eta lam A x y")
            assert [str(s.name) for s in kernels.parameters] == order.split(), kernels.parameters
            q0, params = values(name, n, symbols)
            p = kernels.pack(params)
            y0 = np.concatenate([kernels.pack_state(q0), np.zeros(size)])
            hand = hand_module(name, n)
            info_ours, z_ours = integrate(kernels.module, y0, p, t_end)
            _, z_hand = integrate(hand, y0, p, t_end)
            diff = relative(z_ours, z_hand)
            ours_s = best(lambda: integrate(kernels.module, y0, p, t_end), args.repeat) / t_end
            hand_s = best(lambda: integrate(hand, y0, p, t_end), args.repeat) / t_end
            start = time.perf_counter()
            report = sn.validate(system, law, q0, params=params, t_end=t_end, kernels=kernels)
            validate_s = (time.perf_counter() - start) / t_end
            emit("validate_vs_handwritten_numba", ours_s / hand_s, "<=", 2.0, key="value",
                 ok=diff <= 1e-8, **tags, ours_s_per_unit_time=round(ours_s, 5),
                 hand_s_per_unit_time=round(hand_s, 5),
                 validate_s_per_unit_time=round(validate_s, 5), steps=int(info_ours[2]),
                 state_diff=float(f"{diff:.3g}"), law_passed=report.passed,
                 max_residual=float(f"{report.max_residual:.3g}"), best_of=args.repeat,
                 t_end=t_end)  # fmt: skip
            for key, value in (("derive", derive_s), ("compile", wall), ("validate", ours_s)):
                costs.setdefault(key, []).append((n, value))

            if n > cap or stopped_at is not None:
                continue
            e = measure(SYSTEMS, name, n, t_end=t_end, repeat=args.repeat, limit=limit)
            note = {**tags, "path": "element-wise (system.explicit())", "limit_s": limit}
            if e.get("error"):
                note["error"] = e["error"]
            emit("elementwise_derive_seconds", e.get("derive_s"), "<=", 20.0, key="value",
                 **note)  # fmt: skip
            emit("elementwise_compile_cold_seconds", e.get("compile_s"), "<=", 15.0,
                 key="value", ok=e.get("first_passed", False), **note,
                 cpu_s=round(e["cpu_s"], 2) if "cpu_s" in e else None)  # fmt: skip
            ratio, ediff = None, None
            if "state" in e:
                ratio, ediff = e["s_per_unit_time"] / hand_s, relative(e["state"], z_hand)
            emit("elementwise_validate_vs_handwritten_numba", ratio, "<=", 2.0, key="value",
                 ok=ediff is not None and ediff <= 1e-8, **note,
                 ours_s_per_unit_time=round(e["s_per_unit_time"], 5) if ratio else None,
                 hand_s_per_unit_time=round(hand_s, 5),
                 state_diff=None if ediff is None else float(f"{ediff:.3g}"),
                 law_passed=e.get("law_passed"), best_of=args.repeat)  # fmt: skip
            for key, value in (("derive_s", "elementwise_derive"),
                               ("compile_s", "elementwise_compile"),
                               ("s_per_unit_time", "elementwise_validate")):  # fmt: skip
                if key in e:
                    costs.setdefault(value, []).append((n, e[key]))
            if e["stopped"] or e.get("error"):
                stopped_at = n
        skipped = [n for n in widths if n <= cap and stopped_at is not None and n > stopped_at]
        if skipped or any(n > cap for n in widths):
            print(json.dumps({"name": "elementwise_not_run", "system": name,
                              "widths": skipped + [n for n in widths if n > cap],
                              "why": f"element-wise path run only at widths <= {cap} and "
                              f"stopped after {limit:g} s a process; "
                              + (f"stopped or failed at width {stopped_at}, larger widths "
                                 "skipped" if stopped_at else "it finished every width <= "
                                 f"{cap}")}), flush=True)  # fmt: skip
    fits: dict = {}
    for name, costs in growth.items():
        for key, points in costs.items():
            if len(points) > 1:
                logs = np.log([n for n, _ in points])
                slope = np.polyfit(logs, np.log([v for _, v in points]), 1)[0]
                fits.setdefault(name, {})[key] = round(float(slope), 2)
    print(json.dumps({"name": "growth", "exponent_of_n": fits, "widths": widths,
                      "elementwise_widths": [n for n in widths if n <= cap]}),
          flush=True)  # fmt: skip
    return finished(args.check)


if __name__ == "__main__":
    sys.exit(main())
