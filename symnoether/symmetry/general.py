r"""The general search: every affine symmetry ψ = A q + b of a loss, over all n² + n
unknowns, verified.

The condition ψ·∇V ≡ 0 is linear in (A, b). The search solves it in two steps:

1. the **translations** t (b only, A = 0): each brings the module of every f(q)·t
   (f t·∇V = f·0), dimension n + 1 per translation among affine generators;
2. the rest **modulo that module**: the unknowns at each translation's pivot row
   are dropped (any solution minus its pivot-row part along the module is a
   solution with those rows zero), so the module is never solved for.

Each step is solved by exact coefficient matching when the loss is polynomial
(:mod:`symnoether.symmetry.coefficients`: a sparse system, peeled and split into
components), else by sampling the gradient at random points
(:mod:`symnoether.symmetry.sampled`: directly, or along coordinate lines first for
large systems). Every generator presented is then proved, in exact polynomial
arithmetic or by :func:`symnoether.core.jet.is_zero`
(:func:`symnoether.symmetry.grouping.present`).

Examples
--------
>>> import sympy as sp
>>> import symnoether as sn
>>> q = sn.coordinates("q1:4")
>>> algebra = general_search(sum(c**2 for c in q), (("q", sp.Matrix(q)),), ())
>>> algebra.dimension, algebra.complete, algebra.kinds
(3, True, ('rotation', 'rotation', 'rotation'))
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ..budget import check
from ..core.checks import ignored_coordinates
from ..errors import NotSupportedError
from .actions import BlockAction, classify, flatten_action
from .algebra import ALL_AFFINE, Symmetry, SymmetryAlgebra
from .coefficients import CoefficientSystem
from .grouping import present, translation_members
from .members import block_shape
from .sampled import DENSE_UNKNOWNS, Sampler, dense_basis, reduced_basis, translation_basis
from .sampling import (
    branch_plan,
    coordinate_symbols,
    gradient,
    numeric_function,
    polynomial_ring,
    proves_zero,
)

__all__ = ["general_search"]


def general_search(loss: sp.Expr, blocks: tuple, data: tuple, *, seed: int = 0) -> SymmetryAlgebra:
    """The general affine search over all n² + n unknowns (module docstring), n the
    coordinates the loss depends on; the result is grouped into families
    (:func:`symnoether.symmetry.grouping.present`), which proves every element it
    presents (a module element f·t follows from its translation t)."""
    every = coordinate_symbols(blocks)
    ignored = ignored_coordinates(loss, every)
    coords = tuple(q for q in every if q not in set(ignored))
    position = [every.index(q) for q in coords]
    n = len(coords)
    ring = polynomial_ring(loss, coords)
    others = sorted(loss.free_symbols - set(coords) - set(data), key=lambda s: s.name)
    system = None if ring is None else CoefficientSystem.build(ring[0], ring[1], coords)
    grad = None
    if system is None:
        grad = gradient(loss, coords)
        symbols = [*coords, *data, *others]
        evaluate = numeric_function(symbols, grad)  # DiracDelta: 0 off its set
        far = branch_plan(loss, symbols) or False  # sample where the loss branches
        solver = _Sampled(Sampler(evaluate, symbols, n, far=far), seed)
    else:
        solver = _Exact(system)
    shifts = solver.translations()
    pivots = {min(t) for t in shifts}
    keep = [i for i in range(n) if i not in pivots]
    basis = solver.rest(keep) if keep else []

    single = (("q", sp.ImmutableMatrix(every)),)
    translations = translation_members(
        [{position[i]: v for i, v in t.items()} for t in shifts], every, single
    )
    members = []
    for vector in basis:
        check()
        left, shift = {}, {}
        for index, value in vector.items():
            i, j = divmod(index, n + 1)
            if j == n:
                shift[(position[i], 0)] = value
            else:
                left[(position[i], position[j])] = value
        action = (BlockAction(len(every), 1, left=left, shift=shift),)
        kind = classify(action)
        members.append(Symmetry(kind, kind, every, single, action))

    index = {e: k for k, e in enumerate(position)}

    def verify(symmetry: Symmetry) -> None:
        check()
        if system is not None:
            proved = system.proves(_unknowns(symmetry, index, n))
        else:
            psi = [symmetry.generator[k] for k in position]
            proved = proves_zero(sp.Add(*[p * g for p, g in zip(psi, grad, strict=True) if p]))
        if not proved:
            raise NotSupportedError(_inexact_message(symmetry.generator, others))

    grouped = present(members, every, coords, blocks, verify, translations)
    return SymmetryAlgebra(every, single, grouped, "general", ignored, ALL_AFFINE)


class _Exact:
    """Exact coefficient matching (polynomial loss)."""

    def __init__(self, system: CoefficientSystem) -> None:
        self.system, self.n = system, system.n

    def translations(self) -> list:
        n = self.n
        found = self.system.null_basis([i * (n + 1) + n for i in range(n)])
        return [{k // (n + 1): v for k, v in vector.items()} for vector in found]

    def rest(self, keep: list) -> list:
        n = self.n
        return self.system.null_basis([i * (n + 1) + j for i in keep for j in range(n + 1)])


class _Sampled:
    """The gradient sampled at random points (any loss SymPy can differentiate)."""

    def __init__(self, sampler: Sampler, seed: int) -> None:
        self.sampler = sampler
        self.rng = np.random.default_rng(seed)

    def translations(self) -> list:
        return translation_basis(self.sampler, self.rng)

    def rest(self, keep: list) -> list:
        if len(keep) * (self.sampler.n + 1) <= DENSE_UNKNOWNS:
            return dense_basis(self.sampler, keep, self.rng)
        return reduced_basis(self.sampler, keep, self.rng)


def _unknowns(symmetry: Symmetry, index: dict, n: int) -> dict:
    """The generator's (A, b) as {i·(n + 1) + j: value} over the coordinates the loss uses
    (a coefficient on an ignored coordinate gets an index past the system: unproved)."""
    shapes = [block_shape(block) for _, block in symmetry.blocks]
    action = flatten_action(symmetry.action, shapes)
    out = {}
    outside = n * (n + 1)
    for (row, column), value in action.left.items():
        i, j = index.get(row), index.get(column)
        out[outside if i is None or j is None else i * (n + 1) + j] = value
    for (row, _), value in action.shift.items():
        i = index.get(row)
        out[outside if i is None else i * (n + 1) + n] = value
    return out


def _inexact_message(generator: sp.MatrixBase, others: list) -> str:
    """Why a numerically found generator can fail the exact check, and what to do."""
    depends = f" or depend on {', '.join(map(str, others))}" if others else ""
    approximate = [sp.N(entry, 6) for entry in generator]
    return (
        f"the general search found a symmetry numerically, close to ψ = {approximate}, "
        f"but that ψ fails the exact check ψ·∇V ≡ 0: the true coefficients are not "
        f"rational (such as √2){depends}, and the search reconstructs rational "
        "coefficients only. Derive the generator by hand and pass it to "
        "sn.noether(system, ψ), or sn.derive(system, {name: ψ})"
    )
