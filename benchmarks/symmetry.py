"""Benchmark of symmetry discovery: one JSON line per figure.

Usage: ``python benchmarks/symmetry.py [--quick] [--check]`` (quick: about a minute).

Every line carries its ``target`` and whether it is ``met``; ``--check`` exits with
status 1 when one is missed. A figure is met only when its answer is right too:

* the expected dimension, derived by hand: a two-layer linear network ½|y − W2W1x|²
  (W1 r×d, W2 m×r, r ≤ d, m) depends on the weights only through W2W1, whose image is
  all m×d matrices of rank ≤ r; the fibres have dimension rd + mr − (rd + mr − r²) = r²,
  filled by the gl(r) action ψ_A = (A W1, −W2 A) (Tanaka & Kunin 2021, Sec. 5): the
  algebra has dimension r². A three-layer one of width w has gl(w) at each of its two
  hidden interfaces: 2w²;
* where the baseline finishes, its solution space (not only its size) equals ours.

The baseline is SymPy ``linsolve`` on the coefficient-matching equations of the same
search (expand ψ·∇V with a symbolic A and b; every coefficient of every monomial in the
coordinates and data = 0), in a subprocess with a time limit. SymPy's first-call costs
(imports, printers, caches) are excluded on both sides: both first solve a smaller
network in this process (the baseline's subprocess is forked from it afterwards), then
SymPy's cache is cleared before each timed run, which is timed inside its process.

Figures:

* ``general_linear_net_10`` (3-2-2, 10 parameters): ours / the baseline, target ≤ 1;
* ``general_linear_net_50`` (5-5-5, 50 parameters): target ≤ 10 s; the baseline runs
  with a time limit, and the ratio is reported when it finishes (else a bound);
* ``structured_linear_net_3xW`` (three MatrixSymbol layers of width W = 64, 16 with
  ``--quick``): target ≤ 60 s. No ratio: no baseline runs on this problem (a general
  affine search has (3W²)² ≈ 1.5·10⁸ unknowns at W = 64, and so has linsolve).
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time

import numpy as np
import sympy as sp
from run import emit, finished  # benchmarks/run.py: one JSON line a figure

from symnoether import models
from symnoether.symmetry import find_symmetries

# -- the baseline ----------------------------------------------------------------------


def _coefficient_matching(d: int, r: int, m: int) -> list[list[float]]:
    """A basis of the solution space of the coefficient-matching equations, as vectors
    over the unknowns [A (row-major), b]."""
    model = models.linear_network(d, r, m)
    coords = [q for block in model.coords for q in block]
    n = len(coords)
    A = sp.Matrix(n, n, lambda i, j: sp.Symbol(f"a_{i}_{j}"))
    b = sp.Matrix(sp.symbols(f"b_0:{n}"))
    unknowns = [*A, *b]
    psi = A * sp.Matrix(coords) + b
    expr = sp.expand(sum(p * sp.diff(model.loss, q) for p, q in zip(psi, coords, strict=True)))
    equations = sp.Poly(expr, *coords, *model.data).coeffs()
    (point,) = sp.linsolve(equations, unknowns)
    free = sorted(set().union(*(sp.sympify(e).free_symbols for e in point)), key=str)
    return [[float(sp.diff(e, t)) for e in point] for t in free]


def _baseline_job(d: int, r: int, m: int) -> tuple[float, list]:
    sp.core.cache.clear_cache()
    start = time.perf_counter()
    basis = _coefficient_matching(d, r, m)
    return time.perf_counter() - start, basis


def _baseline(d: int, r: int, m: int, limit: float) -> tuple[float, list] | None:
    """(seconds, basis) of the baseline in a forked subprocess (which inherits the warm-up
    of :func:`_warm_up`), timed inside it, or None past ``limit`` seconds."""
    with multiprocessing.get_context("fork").Pool(1) as pool:
        job = pool.apply_async(_baseline_job, (d, r, m))
        try:
            return job.get(timeout=limit)
        except multiprocessing.TimeoutError:
            return None


# -- ours --------------------------------------------------------------------------------


def _warm_up() -> None:
    """SymPy's, the baseline's and our first-call costs, on networks the figures do not
    time (the baseline's subprocesses are forked from this one afterwards)."""
    _coefficient_matching(2, 2, 1)
    small = models.linear_network(2, 2, 1)
    find_symmetries(small.loss, small.coords, data=small.data)
    layers = [sp.MatrixSymbol(f"V{i}", 2, 2) for i in (1, 2)]
    x, y = sp.MatrixSymbol("u", 2, 1), sp.MatrixSymbol("z", 2, 1)
    residual = y - layers[1] * layers[0] * x
    find_symmetries(residual.T * residual / 2, layers, data=(x, y), mode="structured")


def _timed(function, *args, **kwargs):
    sp.core.cache.clear_cache()
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def _vectors(algebra, coords: list) -> np.ndarray:
    """Our generators ψ = A q + b as rows [A (row-major), b] over ``coords``."""
    zero = dict.fromkeys(coords, 0)
    rows = []
    for symmetry in algebra:
        psi = sp.Matrix(symmetry.generator)
        position = {q: k for k, q in enumerate(algebra.coords)}
        psi = sp.Matrix([psi[position[q]] for q in coords])  # the baseline's order
        jacobian = psi.jacobian(coords)
        rows.append([float(v) for v in (*jacobian, *psi.subs(zero))])
    return np.array(rows).reshape(len(rows), len(coords) ** 2 + len(coords))


def _same_space(ours: np.ndarray, theirs: list) -> bool:
    theirs = np.array(theirs).reshape(len(theirs), ours.shape[1])
    rank = np.linalg.matrix_rank
    both = np.concatenate([ours, theirs])
    return bool(rank(ours) == len(ours) == len(theirs) == rank(theirs) == rank(both))


def _general_figure(name, d, r, m, limit, op, bound, key) -> None:
    """General search on a two-layer linear network d-r-m against the baseline; the
    figure is the ratio ours / baseline (``key='ratio'``) or our seconds."""
    model = models.linear_network(d, r, m)
    coords = [q for block in model.coords for q in block]
    seconds, algebra = _timed(find_symmetries, model.loss, model.coords, data=model.data)
    ok = algebra.dimension == r * r
    extra: dict = {"dimension": algebra.dimension, "expected_dimension": r * r,
                   "parameters": len(coords), "baseline": "sympy linsolve on coefficient "
                   "matching"}  # fmt: skip
    baseline = _baseline(d, r, m, limit)
    ratio = None
    if baseline is None:
        extra.update(baseline_seconds=None, baseline_note=f"linsolve did not finish in "
                     f"{limit:.0f} s", ratio_at_most=round(seconds / limit, 4))  # fmt: skip
    else:
        baseline_seconds, basis = baseline
        agree = _same_space(_vectors(algebra, coords), basis)
        ok = ok and agree
        ratio = seconds / baseline_seconds
        extra.update(baseline_seconds=round(baseline_seconds, 3), baseline_dimension=len(basis),
                     same_solution_space=agree)  # fmt: skip
    if key == "ratio":  # no finished baseline, no ratio: not met
        emit(name, ratio, op, bound, ok=ok, key=key, seconds=round(seconds, 3), **extra)
    else:
        extra["ratio"] = None if ratio is None else round(ratio, 4)
        emit(name, seconds, op, bound, ok=ok, key=key, **extra)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about a minute")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    limit = 20.0 if args.quick else 120.0
    _warm_up()
    _general_figure("general_linear_net_10", 3, 2, 2, limit, "<=", 1.0, "ratio")
    _general_figure("general_linear_net_50", 5, 5, 5, limit, "<=", 10.0, "seconds")

    width = 16 if args.quick else 64
    layers = [sp.MatrixSymbol(f"W{i}", width, width) for i in (1, 2, 3)]
    x, y = sp.MatrixSymbol("x", width, 1), sp.MatrixSymbol("y", width, 1)
    residual = y - layers[2] * layers[1] * layers[0] * x
    seconds, algebra = _timed(
        find_symmetries, residual.T * residual / 2, layers, data=(x, y), mode="structured"
    )
    names = sorted(f.name for f in algebra.families)
    expected = sorted([f"gl({width}) at W1 -> W2", f"gl({width}) at W2 -> W3"])
    right = algebra.dimension == 2 * width * width and names == expected
    emit(
        f"structured_linear_net_3x{width}", seconds, "<=", 60.0, ok=right, key="seconds",
        dimension=algebra.dimension, expected_dimension=2 * width * width, families=names,
        parameters=3 * width * width, ratio=None,
        baseline_note="none: no baseline runs on this problem (a general affine search has "
        f"{(3 * width * width) ** 2:.2e} unknowns)",
    )  # fmt: skip
    return finished(args.check)


if __name__ == "__main__":
    sys.exit(main())
