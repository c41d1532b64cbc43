r"""The sampled null space of the general search, for losses that are not polynomial.

The condition ψ·∇V = 0 for ψ = A q + b reads, at a sample point (coordinates q,
data, hyper-parameters), u·(A z) = 0 with u = ∇V and z = [q; 1]: one row u ⊗ z of
a linear system in the n² + n unknowns. Small systems are solved directly
(:func:`dense_basis`: rows at random points, resampled until fresh points agree).
Large ones would need n² rows of n² entries each; :func:`reduced_basis` exploits
the block structure of the rows instead:

1. **lines** — shift the origin to a random base point c (ψ = A (q − c) + b′ with
   b′ = A c + b) and sample on the coordinate lines q = c + t·e_k. There z − c has
   one non-zero entry, so a row only meets column k of A and b′: n small systems of
   2n unknowns each, whose null spaces K_k are necessary conditions;
2. **candidates** — the (A, b′) with (A e_k, b′) ∈ K_k for every k: b′ in the
   intersection of the projections of the K_k, each column of A its own free part
   plus a part fixed by b′. On a data-rich loss this leaves few candidates (for
   softmax regression with 100 parameters, exactly the 1010 of the answer);
3. **generic points** — rows at random points, restricted to the candidates,
   decide which of them are symmetries (a null space of candidates × candidates).

Sampling can only over-constrain, never invent a symmetry; the search proves
every generator it returns (:mod:`symnoether.symmetry.search`).

Examples
--------
>>> import numpy as np, sympy as sp
>>> w1, w2 = sp.symbols("w1 w2", real=True)
>>> grad = [sp.diff(sp.exp(w1 * w2), w) for w in (w1, w2)]
>>> sampler = Sampler(sp.lambdify([w1, w2], grad), [w1, w2], 2)
>>> rng = np.random.default_rng(0)
>>> [{k: str(v) for k, v in b.items()} for b in dense_basis(sampler, [0, 1], rng)]
[{0: '1', 4: '-1'}]
"""

from __future__ import annotations

import numpy as np

from ..budget import check
from ..errors import InvalidLossError
from .sampling import annihilates, blas_threads, canonical_basis, null_space, sample_values

__all__ = ["Sampler", "dense_basis", "reduced_basis", "translation_basis", "DENSE_UNKNOWNS"]

DENSE_UNKNOWNS = 1500
"""Systems up to this many unknowns are solved directly; larger ones along lines."""

_EXTRA = 16


class Sampler:
    """Gradients of the loss at random points (vectorized, non-finite rows dropped).

    ``evaluate(*values)`` returns ∇V for ``symbols`` = coordinates (the first ``n``),
    data, hyper-parameters.
    """

    def __init__(self, evaluate: object, symbols: list, n: int, *, far: bool = False) -> None:
        self.evaluate, self.symbols, self.n, self.far = evaluate, symbols, n, far

    def sample(self, count: int, rng: np.random.Generator, coords: object = None) -> tuple:
        """(points, gradients), each count′ × n, count′ ≤ count finite rows. ``coords``
        (count × n), when given, fixes the coordinates; data and parameters are drawn."""
        values = sample_values(self.symbols, count, rng, far=self.far)
        if coords is not None:
            values[: self.n] = list(coords.T)
        with np.errstate(all="ignore"):
            raw = self.evaluate(*values)
        grads = np.stack([np.broadcast_to(np.asarray(g, dtype=float), (count,)) for g in raw], 1)
        points = np.stack(
            [np.broadcast_to(np.asarray(v, float), (count,)) for v in values[: self.n]], 1
        )
        finite = np.isfinite(grads).all(axis=1) & np.isfinite(points).all(axis=1)
        return points[finite], grads[finite]

    def extra(self, unknowns: int) -> int:
        """Rows added for a loss that branches (a branch holds on part of the space only)."""
        return min(3 * unknowns, 256) if self.far else 0

    def enough(self, count: int, rng: np.random.Generator, coords: object = None) -> tuple:
        """As :meth:`sample`, redrawing until ``count`` finite rows (else an error); with
        ``coords``, one draw at those points (the finite rows among them)."""
        if coords is not None:
            return self.sample(len(coords), rng, coords)
        points, grads, have = [], [], 0
        for _ in range(4):
            check()
            p, g = self.sample(count - have + 8, rng)
            points.append(p)
            grads.append(g)
            have += len(p)
            if have >= count:
                return np.concatenate(points)[:count], np.concatenate(grads)[:count]
        raise InvalidLossError(
            "the loss is not finite at most random points (its gradient evaluates to nan "
            "or inf); give coordinates, data and parameters sign assumptions that make it real"
        )

    def steps(self, k: int, base: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
        """Random moves of coordinate k from ``base``, keeping its sign assumption."""
        symbol = self.symbols[k]
        signed = symbol.is_positive or symbol.is_negative or symbol.is_nonnegative
        signed = signed or symbol.is_nonpositive
        if signed:
            return base[k] * (rng.uniform(0.25, 4.0, count) - 1.0)
        return rng.standard_normal(count)


def translation_basis(sampler: Sampler, rng: np.random.Generator) -> list:
    """The constant generators t (t·∇V ≡ 0): rref over the n unknowns b, rational."""
    n = sampler.n
    _, grads = sampler.enough(n + _EXTRA + sampler.extra(n), rng)

    def rows(count: int) -> np.ndarray:
        return sampler.enough(count, rng)[1]

    null = _stable(grads, rows, n)
    return canonical_basis(null) if null.shape[1] else []


def dense_basis(sampler: Sampler, keep: list, rng: np.random.Generator) -> list:
    """Null space of the rows u[keep] ⊗ [q; 1] (unknowns A_ij, b_i for i in ``keep``), as
    {i·(n + 1) + j: Fraction} vectors in rref."""
    n = sampler.n

    def rows(count: int) -> np.ndarray:
        points, grads = sampler.enough(count, rng)
        augmented = np.concatenate([points, np.ones((len(points), 1))], 1)
        return (grads[:, keep, None] * augmented[:, None, :]).reshape(len(points), -1)

    unknowns = len(keep) * (n + 1)
    with blas_threads():
        null = _stable(rows(unknowns + _EXTRA + sampler.extra(unknowns)), rows, unknowns)
    return _global(canonical_basis(null) if null.shape[1] else [], keep, n)


def reduced_basis(sampler: Sampler, keep: list, rng: np.random.Generator) -> list:
    """As :func:`dense_basis`, through the lines, candidates and generic points of the
    module docstring."""
    n, m = sampler.n, len(keep)
    base = sampler.enough(1, rng)[0][0]
    with blas_threads():
        blocks = [_line_null_space(sampler, base, k, keep, rng) for k in range(n)]
        free, fixed = _candidates(blocks, m, n)
        if not free and not fixed:
            return []

        def rows(count: int) -> np.ndarray:
            """The rows u ⊗ [q − c; 1] on the candidates, each divided by its norm
            |u|·|[q − c; 1]| (a true symmetry's column stays at round-off)."""
            points, grads = sampler.enough(count, rng)
            u, dz = grads[:, keep], points - base
            columns = [(u @ vectors) * dz[:, [k]] for k, vectors in free]
            columns += [
                ((u @ a) * dz).sum(axis=1, keepdims=True) + u @ b[:, None] for a, b in fixed
            ]
            norms = np.linalg.norm(u, axis=1) * np.sqrt(1 + (dz**2).sum(axis=1))
            norms[norms == 0] = 1
            return np.concatenate(columns, axis=1) / norms[:, None]

        count = sum(v.shape[1] for _, v in free) + len(fixed)
        first = rows(count + _EXTRA + sampler.extra(count))
        null = _stable(first, rows, count, scaled=True)
        if null.shape[1] == 0:
            return []
        vectors = np.zeros((m * (n + 1), null.shape[1]))
        offset = 0
        for k, block in free:
            part = block @ null[offset : offset + block.shape[1]]  # m × d: column k of A
            offset += block.shape[1]
            vectors[np.arange(m) * (n + 1) + k] += part
            vectors[np.arange(m) * (n + 1) + n] -= part * base[k]  # b = b′ − A c
        for (a, b), weights in zip(fixed, null[offset:], strict=True):
            matrix = np.concatenate([a, (b - a @ base)[:, None]], axis=1)
            vectors += np.outer(matrix.reshape(-1), weights)
        return _global(canonical_basis(vectors), keep, n)


def _line_null_space(sampler: Sampler, base: np.ndarray, k: int, keep: list, rng) -> np.ndarray:
    """Null space (2m × d) of the rows on the line c + t·e_k, unknowns (A e_k, b′)."""
    m = len(keep)

    def rows(count: int) -> np.ndarray:
        coords = np.tile(base, (count, 1))
        coords[:, k] += sampler.steps(k, base, count, rng)
        points, grads = sampler.enough(count, rng, coords)
        t = points[:, [k]] - base[k]
        u = grads[:, keep]
        return np.concatenate([u * t, u], axis=1)

    check()
    return _stable(rows(2 * m + _EXTRA), rows, 2 * m)


def _candidates(blocks: list, m: int, n: int) -> tuple:
    """The candidates of step 2: ``free`` — (k, m × h) bases of column k of A with b′ = 0;
    ``fixed`` — (A, b′) pairs spanning the b′ every line allows, A fixed by b′."""
    free, constraints, inverses = [], [], []
    for k, block in enumerate(blocks):
        a_part, b_part = block[:m], block[m:]
        if block.shape[1] == 0:
            constraints.append(np.eye(m))
            inverses.append(None)
            continue
        u, sigma, vt = np.linalg.svd(b_part, full_matrices=True)
        rank = int((sigma > 1e-9 * max(sigma.max(initial=0.0), 1e-300)).sum())
        constraints.append(u[:, rank:].T)
        kernel = vt[rank:].T
        if kernel.shape[1]:
            q, _ = np.linalg.qr(a_part @ kernel)
            free.append((k, q))
        pseudo = vt[:rank].T @ np.diag(1 / sigma[:rank]) @ u[:, :rank].T  # b′ ↦ α
        inverses.append(a_part @ pseudo)
    stacked = np.concatenate(constraints) if constraints else np.zeros((0, m))
    b_space = _null(stacked)
    fixed = []
    for b in b_space.T:
        a = np.zeros((m, n))
        for k, inverse in enumerate(inverses):
            if inverse is not None:
                a[:, k] = inverse @ b
        for k, q in free:  # orthogonal to the free candidates (conditioning)
            a[:, k] -= q @ (q.T @ a[:, k])
        size = np.sqrt((a**2).sum() + (b**2).sum())
        fixed.append((a / size, b / size))
    return free, fixed


def _stable(rows: np.ndarray, more: object, unknowns: int, *, scaled: bool = False) -> np.ndarray:
    """Null space of ``rows``, resampling (``more(count)``) until fresh rows agree.

    ``scaled``: the rows are already divided by the norms of the full rows they are
    restricted from (over an orthonormal set of candidates), so that they are compared
    with 1, not normalized again (a candidate that is a symmetry gives a column at
    round-off, which normalizing each row would blow up)."""
    solve = _scaled_null_space if scaled else _null
    null = solve(rows)
    for attempt in range(6):
        check()
        fresh = more(max(2 * _EXTRA, unknowns // 4))
        agree = np.abs(fresh @ null).max(initial=0.0) <= 1e-7 if scaled else None
        if agree or (not scaled and annihilates(fresh, null)):
            return null
        rows = np.concatenate([rows, fresh, more(unknowns)])
        null = (
            solve(rows)
            if scaled
            else _null(rows)
            if unknowns <= DENSE_UNKNOWNS
            else null_space(rows, fast=attempt == 0)
        )
    return null


def _null(rows: np.ndarray) -> np.ndarray:
    """Null space of ``rows`` (each normalized; singular values below 10⁻⁸ of the largest
    count as zero), by an economy SVD; large systems by :func:`null_space`."""
    unknowns = rows.shape[1]
    if unknowns > DENSE_UNKNOWNS:
        return null_space(rows)
    norms = np.linalg.norm(rows, axis=1)
    rows = rows[norms > 0] / norms[norms > 0, None]
    if rows.shape[0] == 0:
        return np.eye(unknowns)
    _, sigma, vt = np.linalg.svd(rows, full_matrices=rows.shape[0] < unknowns)
    sigma = np.concatenate([sigma, np.zeros(unknowns - len(sigma))])
    return vt[sigma <= 1e-8 * sigma[0]].T


def _scaled_null_space(rows: np.ndarray) -> np.ndarray:
    """Null space of rows already scaled (see :func:`_stable`): singular values below
    10⁻⁸·√(rows) count as zero."""
    unknowns = rows.shape[1]
    if rows.shape[0] == 0:
        return np.eye(unknowns)
    _, sigma, vt = np.linalg.svd(rows, full_matrices=rows.shape[0] < unknowns)
    sigma = np.concatenate([sigma, np.zeros(unknowns - len(sigma))])
    return vt[sigma <= 1e-8 * np.sqrt(rows.shape[0])].T


def _global(basis: list, keep: list, n: int) -> list:
    """Vectors over the unknowns of the rows ``keep`` renumbered i·(n + 1) + j."""
    out = []
    for vector in basis:
        out.append({keep[k // (n + 1)] * (n + 1) + k % (n + 1): v for k, v in vector.items()})
    return out
