"""How far the symmetry search reaches, and whether it says what it did not search.

One JSON line per figure: the problem, what the search answered (dimension,
mode, ``complete``), the seconds, the truth (derived by hand in
``tests/symmetry/test_completeness.py``), the target and whether it is met.

Figures (truth in brackets):

* ``so3_matrix_symbol_auto`` — |W x|², W a 3×3 MatrixSymbol, auto mode [so(3), 3];
* ``attention_structured`` — (y − xᵀW_qᵀW_k x)²/2, W_q, W_k 2×2, structured mode
  [6: gl(2) shared by W_q, W_k, two so(2) cross generators; flagged incomplete];
* ``so8_explicit_auto`` — |W x|² on 8×8 explicit coordinates (4160 unknowns), auto
  mode [so(8), 28] in ≤ 60 s;
* ``linear_net_100_auto`` — ½|y − W₂W₁x|², W₁ 10×5, W₂ 5×10, 100 parameters
  (10 100 unknowns) [gl(10), 100] in ≤ 60 s;
* ``softmax_100_auto``, ``normalized_100_auto``, ``relu_100_auto`` — losses that are
  not polynomial, 100 parameters each: softmax regression 10×9 + 10 biases [the
  translations times affine functions, 10·101 = 1010], a unit before a
  normalization [scale, 1], a ReLU network 4×23 + 4 + 4 [one rescale per hidden
  unit, 4]; in ≤ 60 s each.

``--before DIR`` runs the same problems with the package found in DIR (an older
checkout, e.g. ``git archive d4c9136 symnoether | tar -x -C DIR``) in a subprocess:
auto mode as a user would, then general mode with ``max_unknowns`` raised where auto
mode did not search generally, each with a time limit. Without it, the figures
measured that way on the commit before this work (d4c9136, this machine, 2 cores
shared, load ≈ 5) are printed as ``before``.

Usage: ``python benchmarks/search_reach.py [--quick] [--before DIR]`` (quick: the
first three figures).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings

BEFORE = {  # d4c9136, measured with the code of that commit (see the module docstring)
    "so3_matrix_symbol_auto": {"auto": {"dimension": 0, "mode": "structured", "seconds": 0.73}},
    "attention_structured": {"structured": {"dimension": 2, "mode": "structured", "seconds": 0.24}},
    "so8_explicit_auto": {
        "auto": {"dimension": 0, "mode": "structured", "seconds": 0.78},
        "general, max_unknowns=5000": {"dimension": 28, "seconds": 15.81, "peak_rss_mb": 788},
    },
    "linear_net_100_auto": {
        "auto": {"mode": "structured", "note": "n² + n = 10 100 > 4000: no general search"},
        "general, max_unknowns=20000": {"dimension": 100, "seconds": 170.94, "peak_rss_mb": 4129},
    },
    "softmax_100_auto": {
        "auto": {"dimension": 10, "mode": "structured", "seconds": 18.12},
        "general, max_unknowns=20000": {"dimension": 1010, "seconds": 152.65, "peak_rss_mb": 4120},
    },
    "normalized_100_auto": {
        "auto": {"dimension": 1, "mode": "structured", "seconds": 17.73},
        "general, max_unknowns=20000": {"dimension": 1, "seconds": 95.81, "peak_rss_mb": 4159},
    },
    "relu_100_auto": {
        "auto": {"dimension": 4, "mode": "structured", "seconds": 20.90},
        "general, max_unknowns=20000": {"dimension": 4, "seconds": 232.55, "peak_rss_mb": 7008},
    },
}


def _problem(name: str):
    """(loss, coords, data, mode, truth) of a figure, built in the running package."""
    import sympy as sp

    import symnoether as sn
    from symnoether import models

    if name == "so3_matrix_symbol_auto":
        W, x = sp.MatrixSymbol("W", 3, 3), sp.MatrixSymbol("x", 3, 1)
        return (W * x).T * (W * x), (W,), (x,), "auto", 3
    if name == "attention_structured":
        Wq, Wk = sn.matrix_coordinates("Q", 2, 2), sn.matrix_coordinates("K", 2, 2)
        x = sp.Matrix(sn.data("x1:3"))
        (y,) = sn.data("y")
        return (y - (x.T * Wq.T * Wk * x)[0]) ** 2 / 2, (Wq, Wk), (*x, y), "structured", 6
    if name == "so8_explicit_auto":
        W = sn.matrix_coordinates("W", 8, 8)
        x = sp.Matrix(sn.data("x1:9"))
        return ((W * x).T * (W * x))[0], (W,), tuple(x), "auto", 28
    model, truth = {
        "linear_net_100_auto": (lambda: models.linear_network(5, 10, 5), 100),
        "softmax_100_auto": (lambda: models.softmax_regression(10, 9), 1010),
        "normalized_100_auto": (lambda: models.normalized_unit(100), 1),
        "relu_100_auto": (lambda: models.relu_network(23, 4), 4),
    }[name]
    model = model()
    return model.loss, model.coords, model.data, "auto", truth


NAMES = [
    "so3_matrix_symbol_auto",
    "attention_structured",
    "so8_explicit_auto",
    "linear_net_100_auto",
    "softmax_100_auto",
    "normalized_100_auto",
    "relu_100_auto",
]


def _run_one(name: str, mode: str | None, max_unknowns: int | None) -> dict:
    """Search one problem in this process (the package on sys.path)."""
    from symnoether.symmetry import find_symmetries

    loss, coords, data, default, truth = _problem(name)
    options = {"mode": mode or default}
    if max_unknowns:
        options["max_unknowns"] = max_unknowns
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        algebra = find_symmetries(loss, coords, data=data, **options)
        seconds = time.perf_counter() - start
    return {
        "dimension": algebra.dimension,
        "mode": algebra.mode,
        "complete": getattr(algebra, "complete", None),  # None: the code had no such flag
        "seconds": round(seconds, 3),
        "truth": truth,
    }


def _before(name: str, directory: str, limit: float) -> dict:
    """The older package's answers, in subprocesses with a time limit."""
    out = {}
    runs = [("auto", None, None)]
    if name.endswith("_auto") and name != "so3_matrix_symbol_auto":
        runs.append(("general, max_unknowns=20000", "general", 20000))
    environment = {**os.environ, "PYTHONPATH": directory}
    for label, mode, cap in runs:
        command = [sys.executable, __file__, "--one", name]
        command += ["--mode", mode] if mode else []
        command += ["--max-unknowns", str(cap)] if cap else []
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=limit, env=environment
            )
            lines = done.stdout.strip().splitlines()
            out[label] = json.loads(lines[-1]) if lines else {"error": done.stderr[-300:]}
        except subprocess.TimeoutExpired:
            out[label] = {"error": f"not finished in {limit:.0f} s"}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--before", metavar="DIR")
    parser.add_argument("--limit", type=float, default=300.0, help="seconds per older run")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--max-unknowns", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        try:
            print(json.dumps(_run_one(args.one, args.mode, args.max_unknowns)))
        except Exception as error:  # report, for the comparison, what the old code said
            print(json.dumps({"error": f"{type(error).__name__}: {str(error)[:200]}"}))
        return
    missed = 0
    for name in NAMES[:3] if args.quick else NAMES:
        now = _run_one(name, None, None)
        structured = now["mode"] == "structured"
        if structured:
            target = f"dimension {now['truth']} found and flagged incomplete"
            met = now["dimension"] == now["truth"] and now["complete"] is False
        else:
            limit = 60.0 if name not in ("so3_matrix_symbol_auto",) else 10.0
            target = f"dimension {now['truth']}, complete, in <= {limit:.0f} s"
            met = now["dimension"] == now["truth"] and now["complete"] and now["seconds"] <= limit
        before = _before(name, args.before, args.limit) if args.before else BEFORE.get(name)
        line = {"name": name, **now, "target": target, "met": bool(met), "before": before}
        print(json.dumps(line), flush=True)
        missed += not met
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
