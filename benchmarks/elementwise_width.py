"""Benchmark of the element-wise path over the layer width: one JSON line per figure.

Usage: ``python benchmarks/elementwise_width.py [--quick] [--check]``
(quick: widths 2, 4, 8 and no validation at 8).

The system is a two-layer linear network n×n → n with explicit entries
(``sn.matrix_coordinates``), V = ½|y − W₂W₁x|², under momentum (η, β), and one gl(n)
generator ψ = (A W₁, −W₂ A) with A an n×n matrix of symbols. Figures, each timed inside
a fresh process (a cold start: SymPy's caches empty, nothing derived before):

* ``derive_width_{n}``: building the LearningSystem and ``sn.noether`` (the law verified
  along the equations of motion), target ≤ 20 s (issue 14: 306 s at n = 12 before).
  The answer is checked against the law derived by hand: with M = m·I, m = η(1+β)/2,
  the charge is e^{t/τ} m [tr(Ẇ₁ᵀAW₁) − tr(Ẇ₂ᵀW₂A)] and, ψ being a symmetry of the
  loss, the rate is the kinetic breaking e^{t/τ} m [tr(Ẇ₁ᵀAẆ₁) − tr(Ẇ₂ᵀẆ₂A)]; both are
  compared exactly at ``POINTS`` random rational points. Beside it, the baseline: the
  textbook derivation in plain SymPy (M the Hessian of T, accelerations by a dense
  ``LUsolve``, D_tQ by ``diff`` along them, D_tQ − rate cancelled to 0), in its own
  process with a time limit; its seconds (or the bound it ran past) and the ratio.
* ``validate_cold_width_{n}``: ``sn.validate`` (codegen, numba compilation, integration)
  in a fresh process with empty kernel and numba caches, target ≤ 120 s; met only when
  the law validates.

:func:`measure` is the element-wise side of ``benchmarks/matrix_width.py``: one system of
its sweep, on explicit entries (``system.explicit()``), in a fresh process with empty
caches and a time limit.
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

from run import emit, finished  # benchmarks/run.py: one JSON line a figure

POINTS = 3
ROOT = Path(__file__).resolve().parent.parent

SETUP = """
import random, sys, time
import sympy as sp
import symnoether as sn
n = {n}
W1, W2 = sn.matrix_coordinates("U", n, n), sn.matrix_coordinates("V", n, n)
x = sp.Matrix(sn.data(" ".join(f"x{{i}}" for i in range(1, n + 1))))
y = sp.Matrix(sn.data(" ".join(f"y{{i}}" for i in range(1, n + 1))))
eta, beta = sp.symbols("eta beta", positive=True)
A = sp.Matrix(n, n, lambda i, j: sp.Symbol(f"a{{i}}_{{j}}", real=True))
e = y - W2 * W1 * x
loss = (e.T * e)[0] / 2
dW1 = sp.Matrix(n, n, sn.velocities(tuple(W1)))
dW2 = sp.Matrix(n, n, sn.velocities(tuple(W2)))
m, tau = eta * (1 + beta) / 2, eta * (1 + beta) / (2 * (1 - beta))
t = sn.TIME
charge = sp.exp(t / tau) * m * ((dW1.T * A * W1).trace() - (dW2.T * W2 * A).trace())
rate = sp.exp(t / tau) * m * ((dW1.T * A * dW1).trace() - (dW2.T * dW2 * A).trace())

def agrees(got_charge, got_rate):
    rng = random.Random(0)
    free = sorted((charge + rate + got_charge + got_rate).free_symbols, key=str)
    for _ in range({points}):
        point = {{s: sp.Rational(rng.randint(-99, 99) or 1, rng.randint(1, 30)) for s in free}}
        point[t] = 0
        for a, b in ((got_charge, charge), (got_rate, rate)):
            if sp.nsimplify(a.xreplace(point) - b.xreplace(point)) != 0:
                return False
    return True
"""

DERIVE = """
start = time.perf_counter()
system = sn.LearningSystem((W1, W2), loss, rule=sn.rules.momentum(eta, beta), data=(*x, *y))
law = sn.noether(system, (A * W1, -W2 * A))
seconds = time.perf_counter() - start
print(seconds, agrees(law.charge, law.rate))
"""

TEXTBOOK = """
start = time.perf_counter()
coords, vels = [*W1, *W2], [*dW1, *dW2]
psi = [*(A * W1), *(-W2 * A)]
kinetic = m * sum(v**2 for v in vels) / 2
M = sp.hessian(kinetic, vels)
f = sp.Matrix([-(m / tau) * v - sp.diff(loss, q) for q, v in zip(coords, vels)])
acc = M.LUsolve(f)
Q = sum(sp.diff(kinetic, v) * p for v, p in zip(vels, psi))
dpsi = sp.Matrix(psi).jacobian(coords) * sp.Matrix(vels)
R = sum(d * sp.diff(kinetic, v) for d, v in zip(dpsi, vels)) - sum(
    p * sp.diff(loss, q) for p, q in zip(psi, coords))
DQ = sum(v * sp.diff(Q, q) for q, v in zip(coords, vels)) + sum(
    a * sp.diff(Q, v) for a, v in zip(acc, vels)) + Q / tau
assert sp.cancel(sp.together(DQ - R)) == 0
seconds = time.perf_counter() - start
print(seconds, agrees(sp.exp(t / tau) * Q, sp.exp(t / tau) * R))
"""

VALIDATE = """
import numpy as np
system = sn.LearningSystem((W1, W2), loss, rule=sn.rules.momentum(eta, beta), data=(*x, *y))
law = sn.noether(system, (A * W1, -W2 * A))
rng = np.random.default_rng(0)
params = {eta: 0.1, beta: 0.9}
params.update({s: float(rng.normal()) for s in (*x, *y, *A)})
q0 = rng.normal(size=2 * n * n) * 0.5
start = time.perf_counter()
report = sn.validate(system, law, q0, params=params, t_end=1.0)
seconds = time.perf_counter() - start
print(seconds, bool(report.passed))
"""


def run(script: str, n: int, limit: float, env: dict | None = None) -> tuple[float, bool] | None:
    """(seconds, answer right) printed by ``script`` in a fresh process, or None past
    ``limit`` seconds."""
    source = SETUP.format(n=n, points=POINTS) + script
    try:
        done = subprocess.run(
            [sys.executable, "-c", source], capture_output=True, text=True, timeout=limit,
            env=env, cwd=ROOT, check=True,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return None
    except subprocess.CalledProcessError as err:  # a failure is a figure not met
        print(err.stderr[-2000:], file=sys.stderr)
        return None
    seconds, right = done.stdout.split()[-2:]
    return float(seconds), right == "True"


def cold_environment(folder: str) -> dict:
    """The environment of a cold validation: empty numba and kernel caches in ``folder``."""
    numba, kernels = Path(folder, "numba"), Path(folder, "kernels")
    for path in (numba, kernels):
        path.mkdir(mode=0o700)
    return {**os.environ, "NUMBA_CACHE_DIR": str(numba), "SYMNOETHER_CACHE_DIR": str(kernels)}


ELEMENTWISE = """
import json, sys, time
import numpy as np, sympy as sp, symnoether as sn
from symnoether.core.matrix_system import substitute
from symnoether.core.vocabulary import matrix_coordinates
name, n, t_end, repeat, out = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), *sys.argv[4:]
n, repeat = int(n), int(repeat)
system, generator, symbols = build(name, n)
layers, x, y, A = symbols
q0, params = values(name, n, symbols)
start = time.perf_counter()
explicit = system.explicit()
matrices = {**system.explicit_matrices(), A: matrix_coordinates("A", n, n)}
psi = tuple(sp.zeros(n, n) if g == 0 else substitute(g, matrices) for g in generator)
law = sn.noether(explicit, psi)
print(json.dumps({"derive_s": time.perf_counter() - start}), flush=True)
entries = {}
for key, value in params.items():
    if isinstance(key, sp.MatrixSymbol):
        entries.update(zip(matrices[key], np.ravel(value)))
    else:
        entries[key] = value
q = np.concatenate([q0[W].ravel() for W in layers])
start, cpu = time.perf_counter(), time.process_time()
kernels = sn.compile(explicit, law)
report = sn.validate(explicit, law, q, params=entries, t_end=0.001, kernels=kernels)
print(json.dumps({"compile_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu,
                  "first_passed": bool(report.passed)}), flush=True)
p, y0 = kernels.pack(entries), np.concatenate([q, np.zeros_like(q)])
info, zlast = integrate(kernels.module, y0, p, t_end)
seconds = min(timed(lambda: integrate(kernels.module, y0, p, t_end)) for _ in range(repeat))
np.save(out, zlast)
report = sn.validate(explicit, law, q, params=entries, t_end=t_end, kernels=kernels)
print(json.dumps({"s_per_unit_time": seconds / t_end, "steps": int(info[2]),
                  "law_passed": bool(report.passed), "max_residual": report.max_residual}))
"""


def measure(systems: str, name: str, n: int, *, t_end: float, repeat: int, limit: float) -> dict:
    """The element-wise path of system ``name`` (``build``/``values``/``integrate``/``timed``
    defined by the source ``systems``) at width n, in a fresh process with empty caches,
    stopped after ``limit`` seconds: {"derive_s", "compile_s", "cpu_s", "s_per_unit_time",
    "state" (the state at t_end), …}, with what it reached; "stopped" when it ran past."""
    with tempfile.TemporaryDirectory(prefix="symnoether-ew-") as folder:
        env = cold_environment(folder)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        log, state = Path(folder, "out.txt"), Path(folder, "state.npy")
        with open(log, "w") as out:
            args = [sys.executable, "-c", systems + ELEMENTWISE, name, str(n), str(t_end),
                    str(repeat), str(state)]  # fmt: skip
            process = subprocess.Popen(args, stdout=out, stderr=subprocess.PIPE, env=env, text=True)
            start = time.perf_counter()
            try:
                _, err = process.communicate(timeout=limit)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
                err = None
        result: dict = {"seconds": time.perf_counter() - start, "stopped": err is None}
        for line in log.read_text().splitlines():
            result.update(json.loads(line))
        if err is not None and process.returncode != 0:
            result["error"] = err.strip().splitlines()[-1][:300] if err.strip() else "failed"
        if state.exists():
            import numpy as np

            result["state"] = np.load(state)
        return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="widths 2, 4, 8")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    widths = (2, 4, 8) if args.quick else (2, 4, 8, 12)
    baseline_limit = 60.0 if args.quick else 400.0
    for n in widths:
        ours = run(DERIVE, n, 600.0)
        base = run(TEXTBOOK, n, baseline_limit)
        seconds, right = ours if ours is not None else (None, False)
        extra = {"parameters": 2 * n * n, "baseline": "plain SymPy textbook derivation"}
        if base is None:
            extra.update(baseline_seconds=f"> {baseline_limit:g}", ratio=None)
        else:
            extra.update(baseline_seconds=round(base[0], 4), baseline_agrees=base[1])
            extra["ratio"] = None if seconds is None else round(seconds / base[0], 4)
        emit(f"derive_width_{n}", seconds, "<=", 20.0, ok=right, key="seconds", **extra)
    for n in widths if not args.quick else (2, 4):
        with tempfile.TemporaryDirectory() as folder:
            result = run(VALIDATE, n, 1800.0, env=cold_environment(folder))
        seconds, passed = result if result is not None else (None, False)
        emit(
            f"validate_cold_width_{n}", seconds, "<=", 120.0, ok=passed, key="seconds",
            parameters=2 * n * n, passed=passed,
        )  # fmt: skip
    return finished(args.check)


if __name__ == "__main__":
    sys.exit(main())
