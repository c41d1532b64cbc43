r"""Exact coefficient matching for polynomial losses, as a sparse linear system.

For a polynomial loss V, ψ·∇V = Σᵢ (Σⱼ A_ij q_j + b_i) ∂ᵢV vanishes identically iff
the coefficient of every monomial (in the coordinates, the data and the
hyper-parameters) does. That is a linear system over ℚ in the n² + n unknowns
(A, b), and it is very sparse: the unknown A_ij only meets the monomials of
q_j ∂ᵢV. :class:`CoefficientSystem` builds it from V's exponent vectors with
numpy (each monomial keyed exactly by its exponents packed into 64-bit words; no
Python loop over its millions of entries), with integer entries (V's
coefficients times their common denominator), and solves it by exploiting that
structure:

1. **peeling** — a monomial that only one live unknown produces forces that
   unknown to 0; repeat until no such monomial is left (on a linear network this
   removes 90 % of the unknowns at once);
2. **decomposition** — the unknowns left fall apart into connected components
   (two unknowns are linked when they share a monomial); each is solved alone;
3. **each component** — a numeric SVD (on a random sketch when it has many more
   monomials than unknowns) gives the null space, brought to reduced row-echelon
   form with rational entries and checked modulo two primes; a component that
   fails is solved in exact rational arithmetic instead.

Nothing here is sampled: a polynomial loss's symmetries are decided from its
coefficients, so the basis spans *all* the solutions (the SVD cannot miss a null
vector of an exactly represented integer matrix: its singular value is computed
at round-off, below the rank threshold), and :meth:`CoefficientSystem.proves`
checks a generator against every coefficient in exact integer arithmetic: a
proof that ψ·∇V ≡ 0.

Examples
--------
>>> import sympy as sp
>>> w1, w2, x = sp.symbols("w1 w2 x")
>>> ring = sp.ring([w1, w2, x], sp.QQ)[0]
>>> system = CoefficientSystem.build(ring, ring.from_expr((x - w1 * w2) ** 2), (w1, w2))
>>> system.matrix.shape[1]                # n² + n = 6 unknowns (A | b, row by row)
6
>>> basis = system.null_basis(range(6))
>>> [{k: str(v) for k, v in vector.items()} for vector in basis]      # ψ = (w1, −w2)
[{0: '1', 4: '-1'}]
>>> system.proves(basis[0]), system.proves({0: 1})
(True, False)
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

__all__ = ["CoefficientSystem", "ENTRY_LIMIT"]

_EXACT_LIMIT = 2**53  # integers a float64 holds exactly
ENTRY_LIMIT = 4 * 10**7
"""Most non-zero entries of a coefficient system built (about 2 GB while it is built)."""
_PRIMES = (67108859, 67108837)  # < 2**26: products of two residues and their sums fit int64


class CoefficientSystem:
    """The coefficient system of ψ·∇V ≡ 0 for a polynomial V: ``matrix`` (monomials ×
    unknowns, sparse, integer entries held exactly as floats). Column i·(n + 1) + j is
    the unknown A_ij (j < n) or b_i (j = n)."""

    def __init__(self, matrix: sparse.csr_matrix, n: int) -> None:
        self.matrix = matrix
        self.columns = sparse.csc_matrix(matrix)
        self.n = n

    @classmethod
    def build(cls, ring: object, loss: object, coords: tuple) -> CoefficientSystem | None:
        """The system of ``loss`` (an element of ``ring``) for ``coords``; None when an
        entry would exceed 2⁵³ or the system would have more than :data:`ENTRY_LIMIT`
        entries (the caller then samples instead)."""
        symbols = ring.symbols
        index = {s: k for k, s in enumerate(symbols)}
        position = np.array([index[q] for q in coords], dtype=np.int64)
        n, nv = len(coords), len(symbols)
        terms = list(loss.terms())
        if not terms:
            return cls(sparse.csr_matrix((0, n * (n + 1))), n)
        exponents = np.array([m for m, _ in terms], dtype=np.int64).reshape(len(terms), nv)
        common = lcm(*(int(c.denominator) for _, c in terms))
        integers = [int(c * common) for _, c in terms]
        top = int(exponents.max(initial=0)) + 1
        if max(abs(v) for v in integers) * top >= _EXACT_LIMIT:
            return None
        coefficients = np.array(integers, dtype=np.int64)
        if int((exponents[:, position] > 0).sum()) * (n + 1) > ENTRY_LIMIT:
            return None  # the caller samples instead (memory)
        # exact keys: exponents (each < 2^bits) packed, `per` variables to a 63-bit word
        bits = max(top.bit_length(), 1)
        per = 63 // bits
        words = -(-nv // per)
        word_of = np.arange(nv) // per
        shift = ((np.arange(nv) % per) * bits).astype(np.uint64)
        step = np.zeros((n + 1, words), dtype=np.uint64)  # + e_j for column j < n
        step[np.arange(n), word_of[position]] = np.uint64(1) << shift[position]
        keys, columns, values = [], [], []
        for i in range(n):
            check()
            p = position[i]
            rows = exponents[:, p] > 0
            if not rows.any():
                continue
            derivative = exponents[rows].copy()
            derivative[:, p] -= 1  # ∂ᵢ of the monomial; coefficient times its exponent
            values_i = coefficients[rows] * exponents[rows, p]
            packed = np.zeros((len(derivative), words), dtype=np.uint64)
            for w in range(words):
                chunk = slice(w * per, min((w + 1) * per, nv))
                packed[:, w] = (derivative[:, chunk].astype(np.uint64) << shift[chunk]).sum(axis=1)
            keys.append((packed[:, None, :] + step[None, :, :]).reshape(-1, words))
            columns.append(np.tile(np.arange(i * (n + 1), (i + 1) * (n + 1)), len(derivative)))
            values.append(np.repeat(values_i.astype(float), n + 1))
        if not keys:
            return cls(sparse.csr_matrix((0, n * (n + 1))), n)
        stacked = np.concatenate(keys)
        order = np.lexsort(stacked.T[::-1])
        ordered = stacked[order]
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
        return cls(matrix, n)

    def proves(self, vector: dict) -> bool:
        """Whether ``vector`` ({unknown: rational}) solves every equation, in exact
        integer arithmetic: a proof that its ψ·∇V ≡ 0."""
        if not vector:
            return True
        common = lcm(*(Fraction(v).denominator for v in vector.values()))
        total: dict = {}
        indptr, rows, data = self.columns.indptr, self.columns.indices, self.columns.data
        for column, value in vector.items():
            if not 0 <= column < self.matrix.shape[1]:
                return False
            weight = int(Fraction(value) * common)
            for k in range(indptr[column], indptr[column + 1]):
                total[rows[k]] = total.get(rows[k], 0) + int(data[k]) * weight
        return not any(total.values())

    def null_basis(self, columns: object) -> list:
        """A basis of {x : matrix·x = 0, x zero outside ``columns``}, in reduced
        row-echelon form with exact rational entries: {unknown index: Fraction}, pivot 1."""
        columns = np.asarray(sorted(columns), dtype=np.int64)
        sub = sparse.csc_matrix(self.columns[:, columns])
        alive = _peel(sub)
        live = np.nonzero(alive)[0]
        if len(live) == 0:
            return []
        block = sparse.csr_matrix(sub[:, live])
        block.eliminate_zeros()
        block = block[np.diff(block.indptr) > 0]
        ones = np.ones(block.nnz, dtype=np.int8)
        pattern = sparse.csr_matrix((ones, block.indices, block.indptr), shape=block.shape)
        graph = sparse.bmat([[None, pattern], [pattern.T, None]], format="csr")
        _, labels = connected_components(graph, directed=False)
        rows_of = _groups(labels[: block.shape[0]])
        basis = []
        for label, members in _groups(labels[block.shape[0] :]).items():
            check()
            rows = rows_of.get(label, np.array([], dtype=np.int64))
            unknowns = columns[live[members]]
            for vector in _component_basis(block[rows][:, members].toarray()):
                basis.append({int(unknowns[k]): v for k, v in sorted(vector.items())})
        return sorted(basis, key=min)


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
        alive[np.unique(live_part.indices)] = False


def _groups(labels: np.ndarray) -> dict:
    order = np.argsort(labels, kind="stable")
    values, starts = np.unique(labels[order], return_index=True)
    return {int(v): chunk for v, chunk in zip(values, np.split(order, starts[1:]), strict=True)}


def _component_basis(component: np.ndarray) -> list:
    """Null space of one integer component (rows × unknowns) as exact rational rref."""
    rows, unknowns = component.shape
    numeric = component
    if rows > 2 * unknowns + 40:  # a random sketch keeps the null space (almost surely)
        rng = np.random.default_rng(rows * 7919 + unknowns)
        numeric = rng.standard_normal((unknowns + 20, rows)) @ component
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
    """component·vector ≡ 0 modulo two primes: a cheap filter (what is kept is proved
    exactly later, by :meth:`CoefficientSystem.proves`)."""
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
    null = DomainMatrix(entries, unique.shape, sp.QQ).to_dense().nullspace()
    if null.shape[0] == 0 or null.is_zero_matrix:
        return []
    reduced, pivots = null.rref()
    matrix = reduced.to_Matrix()
    return [
        {c: Fraction(int(v.p), int(v.q)) for c, v in enumerate(matrix.row(r)) if v != 0}
        for r in range(len(pivots))
    ]
