"""Benchmark of symmetry discovery: one JSON line per figure.

* general mode, two-layer linear network with 50 parameters (5-5-5): target ≤ 10 s;
  baseline: SymPy ``linsolve`` on the coefficient-matching equations of the
  same search (expand ψ·∇V with symbolic A, b; every coefficient = 0), run in a
  subprocess with a time limit, at the same size and at a small one;
* structured mode, three-layer linear network of width 64 (12 288 parameters,
  MatrixSymbol layers): target ≤ 60 s; baseline: the general search at 50
  parameters, measured in the same run.

Usage: ``python benchmarks/symmetry.py [--quick]`` (quick: under a minute).
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import time

import sympy as sp

from symnoether import models
from symnoether.symmetry import find_symmetries


def _coefficient_matching(d: int, r: int, m: int) -> int:
    model = models.linear_network(d, r, m)
    coords = [q for block in model.coords for q in block]
    n = len(coords)
    A = sp.Matrix(n, n, lambda i, j: sp.Symbol(f"a_{i}_{j}"))
    b = sp.Matrix(sp.symbols(f"b_0:{n}"))
    psi = A * sp.Matrix(coords) + b
    expr = sp.expand(sum(p * sp.diff(model.loss, q) for p, q in zip(psi, coords, strict=True)))
    equations = sp.Poly(expr, *coords, *model.data).coeffs()
    solution = sp.linsolve(equations, [*A, *b])
    (point,) = solution
    return len(set().union(*(sp.sympify(e).free_symbols for e in point)))


def _baseline(d: int, r: int, m: int, limit: float) -> float | None:
    """Seconds of the coefficient-matching linsolve, or None past ``limit``."""
    with multiprocessing.get_context("fork").Pool(1) as pool:
        start = time.perf_counter()
        job = pool.apply_async(_coefficient_matching, (d, r, m))
        try:
            job.get(timeout=limit)
        except multiprocessing.TimeoutError:
            return None
        return time.perf_counter() - start


def _timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def _emit(name, seconds, baseline, target, **extra):
    ratio = None if baseline is None else round(seconds / baseline, 4)
    line = {
        "name": name,
        "seconds": round(seconds, 3),
        "baseline_seconds": None if baseline is None else round(baseline, 3),
        "ratio": ratio,
        "target": target,
        **extra,
    }
    print(json.dumps(line), flush=True)


def main(quick: bool) -> None:
    limit = 20.0 if quick else 120.0
    # small size: both methods finish
    small = models.linear_network(3, 2, 2)
    seconds, algebra = _timed(find_symmetries, small.loss, small.coords, data=small.data)
    _emit(
        "general_linear_net_10",
        seconds,
        _baseline(3, 2, 2, limit),
        "baseline: sympy linsolve on coefficient matching",
        dimension=algebra.dimension,
    )
    # the 50-parameter network (5-5-5): gl(5), dimension 25
    net = models.linear_network(5, 5, 5)
    general_seconds, algebra = _timed(find_symmetries, net.loss, net.coords, data=net.data)
    baseline = None if quick else _baseline(5, 5, 5, limit)
    _emit(
        "general_linear_net_50",
        general_seconds,
        baseline,
        "<= 10 s",
        dimension=algebra.dimension,
        baseline_note=(
            "not run (--quick)"
            if quick
            else f"linsolve did not finish in {limit:.0f} s"
            if baseline is None
            else ""
        ),
    )
    # three-layer linear network, width 64, MatrixSymbol layers
    width = 16 if quick else 64
    layers = [sp.MatrixSymbol(f"W{i}", width, width) for i in (1, 2, 3)]
    x, y = sp.MatrixSymbol("x", width, 1), sp.MatrixSymbol("y", width, 1)
    residual = y - layers[2] * layers[1] * layers[0] * x
    seconds, algebra = _timed(
        find_symmetries, residual.T * residual / 2, layers, data=(x, y), mode="structured"
    )
    _emit(
        f"structured_linear_net_3x{width}",
        seconds,
        general_seconds,
        "<= 60 s; baseline: general search at 50 parameters",
        dimension=algebra.dimension,
        parameters=3 * width * width,
    )


if __name__ == "__main__":
    main("--quick" in sys.argv[1:])
