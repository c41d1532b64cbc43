r"""Exact coefficient matching for polynomial losses, as a sparse linear system.

For a polynomial loss V, ψ·∇V = Σᵢ (Σⱼ A_ij q_j + b_i) ∂ᵢV vanishes identically iff
the coefficient of every monomial (in the coordinates, the data and the
hyper-parameters) does. That is a linear system over ℚ in the n² + n unknowns
(A, b), and it is very sparse: the unknown A_ij only meets the monomials of
q_j ∂ᵢV. :func:`coefficient_matrix` builds it with vectorized exponent hashing
(no Python loop over its millions of entries), and :func:`null_basis` solves it
by exploiting that structure:

1. **peeling** — a monomial that only one live unknown produces forces that
   unknown to 0; repeat until no such monomial is left (on a linear network this
   removes 90 % of the unknowns at once);
2. **decomposition** — the unknowns left fall apart into connected components
   (two unknowns are linked when they share a monomial); each is solved alone;
3. **each component** — a numeric SVD (on a random sketch when it has many more
   monomials than unknowns) gives the null space, brought to reduced row-echelon
   form with rational entries, then checked exactly (modular arithmetic on the
   integer system); a component that fails is solved in exact rational
   arithmetic instead.

Nothing here is sampled: a polynomial loss's symmetries are decided from its
coefficients, so the basis returned spans *all* the solutions of the system
(the SVD cannot miss a null vector of an exactly represented integer matrix: its
singular value is computed at round-off, below the rank threshold).

Examples
--------
>>> import sympy as sp
>>> w1, w2, x = sp.symbols("w1 w2 x")
>>> ring = sp.ring([w1, w2, x], sp.QQ)[0]
>>> loss = ring.from_expr((x - w1 * w2) ** 2)
>>> matrix, scales = coefficient_matrix(ring, loss, (w1, w2))
>>> matrix.shape[1], len(scales)          # n² + n = 6 unknowns (A | b, row by row)
(6, 2)
>>> [{k: str(v) for k, v in vector.items()} for vector in null_basis(matrix, scales, range(6))]
[{0: '1', 4: '-1'}]
"""

from __future__ import annotations

from fractions import Fraction
from math import lcm

import numpy as np
import scipy.sparse as sparse
import sympy as sp
from scipy.sparse.csgraph import connected_components
from sympy.polys.matrices import DomainMatrix

from ..budget import check
from ..errors import VerificationError
from .sampling import canonical_basis

__all__ = ["coefficient_matrix", "null_basis"]

_EXACT_LIMIT = 2**53  # integers a float64 holds exactly
_PRIMES = (67108859, 67108837)  # < 2**26: products of two residues and their sums fit int64


def coefficient_matrix(ring: object, loss: object, coords: tuple) -> tuple | None:
    """The coefficient system of ψ·∇V ≡ 0: a sparse matrix (monomials × unknowns) and
    the scale of each block of unknowns.

    Column i·(n + 1) + j is the unknown A_ij (j < n) or b_i (j = n). The entries of
    block i are the coefficients of ∂ᵢV times s_i (``scales[i]``, the common
    denominator), so that every entry is an integer, held exactly as a float. None
    when an entry would exceed 2⁵³ (the caller solves the system another way).
    """
    gens, symbols = ring.gens, ring.symbols
    index = {s: k for k, s in enumerate(symbols)}
    position = np.array([index[q] for q in coords])
    n = len(coords)
    # two independent 64-bit hashes of exponent vectors: h(e + e_k) = h(e) + w_k (mod 2⁶⁴)
    weights = np.random.default_rng(20240611).integers(
        0, 2**63, size=(2, len(symbols)), dtype=np.uint64
    )
    step = np.concatenate([weights.T[position], np.zeros((1, 2), np.uint64)])  # (n + 1) × 2
    keys, columns, values, scales = [], [], [], []
    for i in range(n):
        check()
        derivative = loss.diff(gens[position[i]])
        coefficients = derivative.coeffs()
        if not coefficients:
            scales.append(1)
            continue
        scale = lcm(*(int(c.denominator) for c in coefficients))
        integers = [int(c * scale) for c in coefficients]
        if max(abs(v) for v in integers) >= _EXACT_LIMIT:
            return None
        scales.append(scale)
        exponents = np.array(derivative.monoms(), dtype=np.uint64)
        hashed = np.stack([exponents @ weights[0], exponents @ weights[1]], axis=1)
        keys.append((hashed[:, None, :] + step[None, :, :]).reshape(-1, 2))
        columns.append(np.tile(np.arange(i * (n + 1), (i + 1) * (n + 1)), len(integers)))
        values.append(np.repeat(np.array(integers, dtype=float), n + 1))
    if not keys:
        return sparse.csr_matrix((0, n * (n + 1))), scales
    keys_all = np.concatenate(keys)
    order = np.lexsort((keys_all[:, 1], keys_all[:, 0]))
    ordered = keys_all[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
    rows = np.empty(len(order), dtype=np.int64)
    rows[order] = np.cumsum(new) - 1
    matrix = sparse.csr_matrix(
        (np.concatenate(values), (rows, np.concatenate(columns))),
        shape=(int(new.sum()), n * (n + 1)),
    )
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    return matrix, scales


def null_basis(matrix: sparse.spmatrix, scales: list, columns: object) -> list:
    """A basis of {x : matrix·x = 0, x zero outside ``columns``}, in reduced row-echelon
    form with exact rational entries: a list of {unknown index: Fraction}, pivot 1.

    ``scales`` are those of :func:`coefficient_matrix` (undone here, so the vectors
    solve the unscaled system).
    """
    columns = np.asarray(sorted(columns), dtype=np.int64)
    n1 = matrix.shape[1] // max(len(scales), 1)
    sub = sparse.csc_matrix(matrix[:, columns])
    alive = _peel(sub)
    live = np.nonzero(alive)[0]
    if len(live) == 0:
        return []
    block = sparse.csr_matrix(sub[:, live])
    block.eliminate_zeros()
    touched = np.diff(block.indptr) > 0
    block = block[touched]
    pattern = sparse.csr_matrix(
        (np.ones(block.nnz, dtype=np.int8), block.indices, block.indptr), shape=block.shape
    )
    graph = sparse.bmat([[None, pattern], [pattern.T, None]], format="csr")
    _, labels = connected_components(graph, directed=False)
    row_labels, column_labels = labels[: block.shape[0]], labels[block.shape[0] :]
    rows_of = _groups(row_labels)
    basis = []
    for label, members in _groups(column_labels).items():
        check()
        rows = rows_of.get(label, np.array([], dtype=np.int64))
        component = block[rows][:, members].toarray()
        for vector in _component_basis(component):
            unknowns = columns[live[members]]
            basis.append({int(unknowns[k]): v for k, v in vector.items()})
    out = []
    for vector in basis:
        unscaled = {k: v * scales[k // n1] for k, v in vector.items()}
        pivot = unscaled[min(unscaled)]
        out.append({k: v / pivot for k, v in sorted(unscaled.items())})
    return sorted(out, key=min)


def _peel(sub: sparse.csc_matrix) -> np.ndarray:
    """Live columns after removing, repeatedly, every column that is the only live one
    in some row (that row then forces it to 0)."""
    csr = sparse.csr_matrix(sub)
    pattern = sparse.csr_matrix((np.ones(csr.nnz), csr.indices, csr.indptr), shape=csr.shape)
    alive = np.ones(sub.shape[1], dtype=bool)
    while True:
        check()
        counts = pattern @ alive.astype(float)
        single = np.nonzero(counts == 1)[0]
        if len(single) == 0:
            return alive
        live_part = sparse.csr_matrix(pattern[single].multiply(alive[None, :].astype(float)))
        live_part.eliminate_zeros()
        dead = np.unique(live_part.indices[live_part.indptr[:-1]])
        alive[dead] = False


def _groups(labels: np.ndarray) -> dict:
    order = np.argsort(labels, kind="stable")
    values, starts = np.unique(labels[order], return_index=True)
    return {int(v): chunk for v, chunk in zip(values, np.split(order, starts[1:]), strict=True)}


def _component_basis(component: np.ndarray) -> list:
    """Null space of one integer component (rows × unknowns) as exact rational rref."""
    rows, unknowns = component.shape
    numeric = component
    if rows > 2 * unknowns + 40:  # a random sketch keeps the null space (almost surely)
        sketch = np.random.default_rng(rows * 7919 + unknowns).standard_normal(
            (unknowns + 20, rows)
        )
        numeric = sketch @ component
    norms = np.linalg.norm(numeric, axis=1)
    numeric = numeric[norms > 0] / norms[norms > 0, None]
    if numeric.shape[0] == 0:
        null = np.eye(unknowns)
    else:
        _, sigma, vt = np.linalg.svd(numeric, full_matrices=True)
        sigma = np.concatenate([sigma, np.zeros(unknowns - len(sigma))])
        null = vt[sigma <= 1e-9 * sigma[0]].T
    if null.shape[1] == 0:
        return []
    try:
        basis = canonical_basis(null)
    except VerificationError:
        return _exact_basis(component)
    if len(basis) == null.shape[1] and all(_annihilates(component, v) for v in basis):
        return basis
    return _exact_basis(component)


def _annihilates(component: np.ndarray, vector: dict) -> bool:
    """component·vector = 0, checked modulo two primes (a cheap filter: the vectors kept
    are proved exactly later, on the loss itself)."""
    common = lcm(*(v.denominator for v in vector.values()))
    keys = list(vector)
    integers = [int(vector[k] * common) for k in keys]
    columns = component[:, keys].astype(np.int64)
    for p in _PRIMES:
        residues = np.array([v % p for v in integers], dtype=np.int64)
        total = np.zeros(component.shape[0], dtype=np.int64)
        for k in range(len(keys)):
            total = (total + (columns[:, k] % p) * residues[k]) % p
        if total.any():
            return False
    return True


def _exact_basis(component: np.ndarray) -> list:
    """Null space in exact rational arithmetic (rows deduplicated first)."""
    unique = np.unique(component, axis=0)
    entries = {
        r: {c: sp.QQ(int(v)) for c, v in enumerate(row) if v != 0} for r, row in enumerate(unique)
    }
    system = DomainMatrix(entries, unique.shape, sp.QQ)
    null = system.to_dense().nullspace()
    if null.shape[0] == 0 or null.is_zero_matrix:
        return []
    reduced, pivots = null.rref()
    out = []
    for r in range(len(pivots)):
        row = reduced.to_Matrix().row(r)
        out.append({c: Fraction(int(v.p), int(v.q)) for c, v in enumerate(row) if v != 0})
    return out
