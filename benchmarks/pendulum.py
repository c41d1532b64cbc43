"""Benchmark of physics systems against SymPy's LagrangesMethod: one JSON line per figure.

Usage: ``python benchmarks/pendulum.py [--quick] [--check]`` (quick: 2 to 5 links).

The system is the planar n-link pendulum, unit masses and lengths, g = 1, angles θ_i
from the downward vertical, T and V written by hand in the angles (bob k at
(Σ_{i≤k} sin θ_i, −Σ_{i≤k} cos θ_i)). Each figure ``pendulum_{n}`` is

* ours: ``sn.LearningSystem(angles, V, kinetic=T)`` (its checks: T quadratic in the
  velocities, M positive definite) and ``sn.equations_of_motion`` (M q̈ = f);
* the baseline: ``LagrangesMethod(T − V, q).form_lagranges_equations()`` and its
  ``mass_matrix`` and ``forcing`` (M q̈ = f too), on dynamicsymbols;

ratio = ours / baseline, target ≤ 1.5. SymPy's cache is cleared before every timed run
(both sides; the best of ``REPEAT`` runs each), after both sides solved a 1-link pendulum.

A ratio is met only when the two answers agree: at n ≤ 3 exactly (M and f, their
difference expanded after ``expand_trig`` is 0), beyond at ``POINTS`` random points
(relative difference ≤ 1e-9).
"""

from __future__ import annotations

import argparse
import random
import sys
import time

import sympy as sp
from run import emit, finished  # benchmarks/run.py: one JSON line a figure
from sympy.physics.mechanics import LagrangesMethod, dynamicsymbols

import symnoether as sn

REPEAT = 2
POINTS = 3


def energies(angles, rates):
    """T and V of the n-link pendulum written by hand in the angles and their rates."""
    n = len(angles)
    vx = [sum(sp.cos(angles[i]) * rates[i] for i in range(k + 1)) for k in range(n)]
    vy = [sum(sp.sin(angles[i]) * rates[i] for i in range(k + 1)) for k in range(n)]
    kinetic = sum(a**2 + b**2 for a, b in zip(vx, vy, strict=True)) / 2
    potential = -sum(sp.cos(angles[i]) for k in range(n) for i in range(k + 1))
    return kinetic, potential


def ours(n: int):
    angles = sn.coordinates(" ".join(f"th{i}" for i in range(1, n + 1)))
    rates = sn.velocities(angles)
    kinetic, potential = energies(angles, rates)
    start = time.perf_counter()
    system = sn.LearningSystem(angles, potential, kinetic=kinetic)
    eom = sn.equations_of_motion(system)
    seconds = time.perf_counter() - start
    return seconds, (angles, rates, eom.mass_matrix, eom.forcing)


def theirs(n: int):
    q = dynamicsymbols(f"q1:{n + 1}")
    qd = [s.diff(dynamicsymbols._t) for s in q]
    kinetic, potential = energies(q, qd)
    start = time.perf_counter()
    method = LagrangesMethod(kinetic - potential, q)
    method.form_lagranges_equations()
    mass, forcing = method.mass_matrix, method.forcing
    seconds = time.perf_counter() - start
    return seconds, (q, qd, mass, forcing)


def agree(mine, other, n: int) -> bool:
    """Whether both give the same M and f (exactly at n ≤ 3, else at random points)."""
    angles, rates, mass, forcing = mine
    q, qd, their_mass, their_forcing = other
    back = {**dict(zip(qd, rates, strict=True)), **dict(zip(q, angles, strict=True))}
    differences = [
        *(sp.Matrix(mass) - their_mass.xreplace(back)),
        *(sp.Matrix(forcing) - their_forcing.xreplace(back)),
    ]
    if n <= 3:
        return all(sp.expand(sp.expand_trig(d)) == 0 for d in differences)
    rng = random.Random(n)
    scale = [*mass, *forcing]
    for _ in range(POINTS):
        point = {s: rng.uniform(-1.5, 1.5) for s in (*angles, *rates)}
        size = max(1.0, max(abs(float(e.xreplace(point))) for e in scale))
        if max(abs(float(d.xreplace(point))) for d in differences) > 1e-9 * size:
            return False
    return True


def timed(function, n: int):
    runs = []
    for _ in range(REPEAT):
        sp.core.cache.clear_cache()
        runs.append(function(n))
    return min(seconds for seconds, _ in runs), runs[-1][1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 to 5 links")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    ours(1), theirs(1)  # first-call costs of SymPy and both engines
    for n in range(2, 6 if args.quick else 9):
        mine_seconds, mine = timed(ours, n)
        their_seconds, other = timed(theirs, n)
        emit(
            f"pendulum_{n}", mine_seconds / their_seconds, "<=", 1.5, ok=agree(mine, other, n),
            key="ratio", seconds=round(mine_seconds, 4),
            baseline_seconds=round(their_seconds, 4), baseline="sympy LagrangesMethod",
            agreement="exact" if n <= 3 else f"{POINTS} random points",
        )  # fmt: skip
    return finished(args.check)


if __name__ == "__main__":
    sys.exit(main())
