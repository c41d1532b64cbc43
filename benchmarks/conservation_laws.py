"""Conservation laws of the element-wise engine: the Marcotte–Gribonval–Peyré bound and the
whole conserved subspace; one JSON line per figure (the conventions of
``benchmarks/run.py``: every line carries its ``target`` and whether it is ``met``;
``--check`` exits 1 when one is missed).

Usage: python benchmarks/conservation_laws.py [--quick] [--check]

Figures (issue 13), each the wall time of one call in this process (``cpu_s`` its CPU
time: on a loaded machine the wall time counts other processes too), its answer checked
against the count derived by hand (a wrong count is not met):

- ``bound_linear_4_4_4``: ``lie_bound`` of ½|y − W2W1x|², W1 4×4, W2 4×4 (32
  parameters), gradient flow; the bound is r(r+1)/2 = 10 (d + m = 8 ≥ r = 4). Target ≤ 10 s.
- ``bound_relu_4_6_2``: ``lie_bound`` of ½|y − W2 relu(W1x + b)|², W1 6×4, b 6×1, W2 2×6
  (42 parameters); one law per hidden unit, bound 6. Target ≤ 10 s.
- ``conservation_laws_attention_n4``: ``sn.conservation_laws`` (default search included)
  of ½(y − xᵀW_qᵀW_k x)², W_q, W_k 4×4 (32 parameters), gradient flow: the symmetric
  gl(4) part (10) and the cross pair (JW_k, −JW_q) (6), 16 charges, bound 16, complete.
  Target ≤ 10 s.
- ``bound_growth`` (not with ``--quick``): the bound of the linear network [k, k, k] for
  k = 2, 3, 4, 5 and the exponent p of a fit seconds ∝ D^p over its D = 2k² parameters.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import sympy as sp
from run import emit, finished  # benchmarks/run.py: one JSON line a figure

import symnoether as sn
from symnoether import models
from symnoether.symmetry import lie_bound


def relu(d: int, h: int, m: int) -> sn.LearningSystem:
    W1 = sn.matrix_coordinates("W1", h, d)
    b = sn.matrix_coordinates("b", h, 1)
    W2 = sn.matrix_coordinates("W2", m, h)
    x = sp.Matrix(sn.data(f"x1:{d + 1}"))
    y = sp.Matrix(sn.data(f"y1:{m + 1}"))
    out = W2 * (W1 * x + b).applyfunc(lambda z: sp.Max(0, z))
    loss = sum(e**2 for e in y - out) / 2
    return sn.LearningSystem((W1, b, W2), loss, rule=sn.rules.gradient_flow(), data=(*x, *y))


def attention(n: int) -> sn.LearningSystem:
    Wq = sn.matrix_coordinates("Wq", n, n)
    Wk = sn.matrix_coordinates("Wk", n, n)
    x = sp.Matrix(sn.data(f"x1:{n + 1}"))
    (y,) = sn.data("y")
    loss = (y - (x.T * Wq.T * Wk * x)[0]) ** 2 / 2
    return sn.LearningSystem((Wq, Wk), loss, rule=sn.rules.gradient_flow(), data=(*x, y))


CPU: dict = {}
"""The CPU seconds of the last :func:`timed` call (wall time counts other load too)."""


def timed(function):
    start, cpu = time.perf_counter(), time.process_time()
    value = function()
    CPU["last"] = round(time.process_time() - cpu, 3)
    return value, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="skip the growth figure")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()

    linear = models.linear_network(4, 4, 4).system(sn.rules.gradient_flow())
    result, seconds = timed(lambda: lie_bound(linear))
    emit("bound_linear_4_4_4", seconds, "<=", 10.0, key="seconds", ok=result.bound == 10,
         count=result.bound, expected=10, parameters=32, cpu_s=CPU["last"])  # fmt: skip

    network = relu(4, 6, 2)
    result, seconds = timed(lambda: lie_bound(network))
    emit("bound_relu_4_6_2", seconds, "<=", 10.0, key="seconds", ok=result.bound == 6,
         count=result.bound, expected=6, parameters=42, cpu_s=CPU["last"])  # fmt: skip

    score = attention(4)
    laws, seconds = timed(lambda: sn.conservation_laws(score))
    ok = (len(laws.charges), laws.bound, laws.complete) == (16, 16, True)
    emit("conservation_laws_attention_n4", seconds, "<=", 10.0, key="seconds", ok=ok,
         charges=len(laws.charges), count=laws.bound, complete=laws.complete,
         algebra=laws.algebra.dimension, forms=[f.name for f in laws.forms],
         parameters=32, cpu_s=CPU["last"])  # fmt: skip

    if not args.quick:
        sizes, times = [], []
        for k in (2, 3, 4, 5):
            system = models.linear_network(k, k, k).system(sn.rules.gradient_flow())
            result, seconds = timed(lambda system=system: lie_bound(system))
            assert result.bound == k * (k + 1) // 2, (k, result.bound)
            sizes.append(2 * k * k)
            times.append(seconds)
        exponent = float(np.polyfit(np.log(sizes), np.log(times), 1)[0])
        line = {"name": "bound_growth", "parameters": sizes,
                "seconds": [round(t, 3) for t in times],
                "exponent_of_parameters": round(exponent, 2)}  # fmt: skip
        print(json.dumps(line), flush=True)
    return finished(args.check)


if __name__ == "__main__":
    sys.exit(main())
