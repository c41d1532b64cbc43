r"""Structured symmetry search for layered models: families of products, scalings, shifts.

A general affine search over a 64-wide three-layer network would have 1.5·10⁸
unknowns. Layered models have a few known kinds of continuous symmetry, and
this search proposes those, at the matrix level, and verifies them. It is *not*
complete: the result lists what it tried (``algebra.searched``) and says that
other affine symmetries may exist (``algebra.complete`` is False).

* **gl(r) at a hidden interface** — for blocks W_a (r×·) and W_b (·×r) composed
  as W_b W_a (optionally with a bias b_a of r rows): ψ_A = (A W_a, A b_a, −W_b A)
  for every A ∈ gl(r): a :class:`~symnoether.symmetry.members.SymmetryFamily`;
* **products WᵢᵀWⱼ and WᵢWⱼᵀ** (any two blocks with the same rows, or columns,
  not only consecutive layers) — A shared by both, ψ_A = (A Wᵢ, −Aᵀ Wⱼ) (the
  query/key GL of attention), else rotating both together (A antisymmetric);
  rotations of one block, ψ_J = J W, J ∈ so(r) (for WᵀW: |W x|²); and the cross
  generators of a product seen only through its symmetric part (xᵀWᵢᵀWⱼx):
  ψ_J moves Wᵢ by J Wⱼ, J ∈ so(r), since δ(WᵢᵀWⱼ) = −WⱼᵀJWⱼ is antisymmetric.
  Each is one :class:`~symnoether.symmetry.members.ProductFamily`;
* **scalings** — per row (per neuron) and per column of each block: covers the
  rescale symmetry of positively homogeneous activations and the scale
  symmetry of weights before a normalization;
* **translations along 𝟙** — per-row and per-column constant shifts of each
  block: covers shifts of softmax logits.

A family is kept when ∂(ψ_A·∇V)/∂A (a sum of terms G_t B_sᵀ or B_sᵀ G_t, G = ∂V/∂W)
vanishes (is symmetric, for so(r)) at random matrices, and is then proved: by trace-cyclic
canonicalization (:mod:`symnoether.symmetry.traces`) for ``MatrixSymbol``
layers, or entry-wise with a symbolic A for explicit ones. The scalings and
translations are found together as the null space of one sampled linear system
(a few hundred unknowns at width 64), minus what the families already contain.

References
----------
.. [1] D. Kunin et al., "Neural Mechanics", ICLR 2021, arXiv:2012.04728, Sec. 3.
.. [2] H. Tanaka and D. Kunin, "Noether's Learning Dynamics", NeurIPS 2021,
   arXiv:2105.02716, Sec. 5 (GL(r) of linear networks).

Examples
--------
>>> import sympy as sp
>>> from symnoether.symmetry import find_symmetries
>>> W1, W2 = sp.MatrixSymbol("W1", 8, 5), sp.MatrixSymbol("W2", 3, 8)
>>> x, y = sp.MatrixSymbol("x", 5, 1), sp.MatrixSymbol("y", 3, 1)
>>> residual = y - W2 * W1 * x
>>> loss = residual.T * residual / 2
>>> algebra = find_symmetries(loss, (W1, W2), data=(x, y), mode="structured")
>>> algebra.dimension, algebra.families[0].name, algebra.complete
(64, 'gl(8) at W1 -> W2', False)
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import numpy as np
import sympy as sp

from ..budget import check
from ..errors import BudgetExceededError, NotSupportedError, VerificationError
from .actions import BlockAction, classify
from .algebra import Symmetry, SymmetryAlgebra, SymmetryFamily
from .products import Candidate, ProductFamily, independent, propose
from .sampling import (
    annihilates,
    blas_threads,
    branch_plan,
    canonical_basis,
    coordinate_symbols,
    gradient,
    null_space,
    numeric_function,
    polynomial_ring,
    proves_zero,
    sample_values,
)
from .traces import family_terms, trace_zero

__all__ = ["structured_search", "SEARCHED"]

_SYMBOLIC_LIMIT = 400  # explicit coordinates up to which generators are proved entry-wise
_RELATIVE = 1e-9


def structured_search(
    loss: object, blocks: tuple, data: tuple, *, seed: int = 0
) -> SymmetryAlgebra:
    """The families of the module docstring, tried and proved; then scalings and
    translations. The result is flagged incomplete (``searched`` lists the families)."""
    rng = np.random.default_rng(seed)
    oracle = _Oracle(loss, blocks, data)
    if oracle.symbolic_matrices:
        _check_matrix_gradients(oracle, loss)
    with blas_threads():
        points, grads = oracle.sample(6, rng)
        candidates = _interface_families(oracle, points, grads)
        candidates += _product_families(oracle, points, grads)
        extras = _scalings_and_translations(oracle, candidates, rng)
    coords = oracle.coords
    families = _independent([_family(c, k, coords, blocks) for k, c in enumerate(candidates, 1)])
    members: list = [_prove_family(oracle, f, c) for f, c in families]
    counts: dict = {}
    for action in extras:
        check()
        kind = classify(action)
        counts[kind] = counts.get(kind, 0) + 1
        symmetry = Symmetry(f"{kind}_{counts[kind]}", kind, coords, blocks, action, "numeric")
        members.append(_prove_symmetry(oracle, symmetry))
    return SymmetryAlgebra(coords, blocks, tuple(members), "structured", (), SEARCHED)


SEARCHED = (
    "the structured families: gl(r) at each interface W_a -> W_b (with a bias); gl(r), "
    "else so(r), shared by two blocks (W_i^T*W_j, W_i*W_j^T); so(r) rotating one block "
    "(W^T*W, W*W^T); so(r) cross generators W_i -> J*W_j, W_j*J (symmetric products); "
    "row and column scalings and translations of each block"
)
"""What the structured search tries (``algebra.searched``)."""


class _Oracle:
    """Numeric gradients of the loss per block, at random points (vectorized)."""

    def __init__(self, loss: object, blocks: tuple, data: tuple) -> None:
        self.loss, self.blocks, self.data = loss, blocks, data
        self.shapes = [_shape(b) for _, b in blocks]
        self.symbolic_matrices = any(isinstance(b, sp.MatrixSymbol) for _, b in blocks)
        if self.symbolic_matrices:
            if not all(isinstance(b, sp.MatrixSymbol) for _, b in blocks):
                raise NotSupportedError(
                    "mixing MatrixSymbol layers with explicit coordinates is not supported "
                    "yet; declare every block as a MatrixSymbol (biases as r×1 ones)"
                )
            scalar = sp.Trace(loss) if isinstance(loss, sp.MatrixExpr) else loss
            self.grads = [_matrix_gradient(scalar, b) for _, b in blocks]
            others = sorted(_free(loss) - set(data) - {b for _, b in blocks}, key=str)
            self.symbols = [*(b for _, b in blocks), *data, *others]
            self.coords = tuple(e for _, b in blocks for e in b.as_explicit())
        else:
            self.coords = coordinate_symbols(blocks)
            self.grads = gradient(loss, self.coords)
            others = sorted(loss.free_symbols - set(self.coords) - set(data), key=str)
            self.symbols = [*self.coords, *data, *others]
        self._evaluate = numeric_function(self.symbols, self.grads)
        self._plan = None if self.symbolic_matrices else branch_plan(loss, self.symbols)

    def sample(self, count: int, rng: np.random.Generator) -> tuple[list, list]:
        """(values, gradients): per block, arrays of shape (K, rows, cols)."""
        values = sample_values(self.symbols, count, rng, far=self._plan or False)
        with np.errstate(all="ignore"):
            if self.symbolic_matrices:
                raw = [self._evaluate(*(v[k] for v in values)) for k in range(count)]
                grads = [
                    np.stack([np.asarray(r[b], float) for r in raw]) for b in range(len(raw[0]))
                ]
                points = values[: len(self.blocks)]
            else:
                flat = self._evaluate(*values)
                flat = np.stack([np.broadcast_to(np.asarray(g, float), (count,)) for g in flat], 1)
                coords = np.stack(values[: len(self.coords)], 1)
                grads, points, start = [], [], 0
                for rows, cols in self.shapes:
                    stop = start + rows * cols
                    grads.append(flat[:, start:stop].reshape(count, rows, cols))
                    points.append(coords[:, start:stop].reshape(count, rows, cols))
                    start = stop
        points = [np.asarray(p, float).reshape(count, *s) for p, s in zip(points, self.shapes)]
        grads = [np.asarray(g, float).reshape(count, *s) for g, s in zip(grads, self.shapes)]
        finite = np.all([np.isfinite(g).all(axis=(1, 2)) for g in grads], axis=0)
        return [p[finite] for p in points], [g[finite] for g in grads]


# -- families ---------------------------------------------------------------------------


def _interface_families(oracle: _Oracle, points: list, grads: list) -> list:
    """gl(r) at each interface W_a (r×·) -> W_b (·×r), with a bias of W_a when needed."""
    found = []
    names = [name for name, _ in oracle.blocks]
    for a, (ra, _) in enumerate(oracle.shapes):
        for b, (_, cb) in enumerate(oracle.shapes):
            if a == b or ra != cb or ra < 2 or oracle.shapes[a] == (ra, 1):
                continue
            biases = [c for c, s in enumerate(oracle.shapes) if s == (ra, 1) and c not in (a, b)]
            for left in ([a], *([a, c] for c in biases)):
                terms = (*((k, k, "left", 1, False) for k in left), (b, b, "right", -1, False))
                if _interface_residual(points, grads, terms, "gl") <= _RELATIVE:
                    label = "+".join(names[k] for k in left)
                    name = f"gl({ra}) at {label} -> {names[b]}"
                    found.append(Candidate(name, ra, terms, interface=(tuple(left), b)))
                    break
    return found


def _product_families(oracle: _Oracle, points: list, grads: list) -> list:
    """The families of products WᵢᵀWⱼ, WᵢWⱼᵀ (:mod:`~symnoether.symmetry.products`) that
    pass at random points."""
    names = [name for name, _ in oracle.blocks]

    def passes(candidate: Candidate) -> bool:
        return _interface_residual(points, grads, candidate.terms, candidate.algebra) <= _RELATIVE

    return propose(oracle.shapes, names, passes)


def _interface_residual(points: list, grads: list, terms: tuple, algebra: str) -> float:
    """The numeric gate of every family (named after the first kind, the interface): max
    over samples of |∂(ψ_A·∇V)/∂A| (its antisymmetric part for so(r)), relative to
    the size of its terms: 0 when the family is a symmetry at those points."""
    total, scale = 0.0, 0.0
    for target, source, side, sign, transposed in terms:
        g, b = grads[target], points[source]
        if side == "left":  # tr(Gᵀ A B): ∂/∂A = G Bᵀ
            term = np.einsum("kij,klj->kil", g, b)
        else:  # tr(Gᵀ B A): ∂/∂A = Bᵀ G
            term = np.einsum("kji,kjl->kil", b, g)
        if transposed:
            term = term.transpose(0, 2, 1)
        total = total + sign * term
        scale = scale + np.abs(term).sum(axis=(1, 2))
    if algebra == "so":
        total = total - total.transpose(0, 2, 1)
    worst = np.abs(total).max(axis=(1, 2)) / np.maximum(scale, 1e-300)
    return float(worst.max())


def _family(c: Candidate, k: int, coords: tuple, blocks: tuple) -> tuple:
    """(the family object, its candidate): a SymmetryFamily for an interface, else a
    ProductFamily; parameter A{k} (J{k} for so(r))."""
    if c.interface is not None:
        left, right = c.interface
        parameter = sp.MatrixSymbol(f"A{k}", c.rank, c.rank)
        return SymmetryFamily(c.name, c.rank, coords, blocks, left, right, parameter), c
    parameter = sp.MatrixSymbol(f"{'A' if c.algebra == 'gl' else 'J'}{k}", c.rank, c.rank)
    family = ProductFamily(
        c.name, c.rank, coords, blocks, c.terms, c.algebra, parameter, kind=c.kind
    )
    return family, c


def _independent(families: list) -> list:
    """The families, each dropped whose elements depend on those kept before it (exact:
    :func:`~symnoether.symmetry.products.independent`)."""
    kept: list = []
    for family, candidate in families:
        check()
        if independent([c for _, c in kept] + [candidate]):
            kept.append((family, candidate))
    return kept


def _prove_family(oracle: _Oracle, family: object, candidate: Candidate) -> object:
    """Fresh random matrices, then a symbolic proof where affordable."""
    check()
    points, grads = oracle.sample(8, np.random.default_rng(12345))
    if _interface_residual(points, grads, candidate.terms, candidate.algebra) > 1e-8:
        raise VerificationError(f"{family.name} fails at fresh random points; please report")
    if oracle.symbolic_matrices:
        proved = _trace_zero(oracle, family, candidate)
    elif len(oracle.coords) <= _SYMBOLIC_LIMIT:
        terms = ProductFamily(
            family.name,
            candidate.rank,
            (),
            oracle.blocks,
            candidate.terms,
            candidate.algebra,
            family.parameter,
        )
        proved = _proves_directional(oracle, terms.explicit(terms.generic()))
    else:
        proved = False
    if proved is None:
        raise VerificationError(f"{family.name} fails the symbolic check; please report")
    status = "symbolic" if proved else "numeric"
    return dataclasses.replace(family, verified=status)


def _trace_zero(oracle: _Oracle, family: object, candidate: Candidate) -> bool | None:
    """Σ tr(G_tᵀ ψ_A(B_t)) ≡ 0 by canonical trace words (:mod:`~symnoether.symmetry.traces`):
    True when proved, None when disproved, False when the words cannot be formed."""
    parameter = family.parameter
    expressions = family_terms(oracle.grads, oracle.blocks, candidate.terms, parameter)
    antisymmetric = {parameter.name} if candidate.algebra == "so" else set()
    try:
        return True if trace_zero(expressions, antisymmetric) else None
    except NotSupportedError:
        return False


def _proves_directional(oracle: _Oracle, psi: list) -> bool | None:
    """True when ψ·∇V ≡ 0 is proved, None when it is disproved."""
    pairs = [(p, g) for p, g in zip(psi, oracle.grads, strict=True) if p != 0]
    free = set().union(*(sp.sympify(p).free_symbols for p, _ in pairs))
    ring = polynomial_ring(oracle.loss, [*oracle.coords, *free])
    if ring is not None:
        algebra, loss = ring
        total = algebra.zero
        for p, q in zip(psi, oracle.coords, strict=True):
            if p != 0:
                total += algebra.from_expr(p) * loss.diff(algebra.from_expr(q))
        return True if total == 0 else None
    return True if proves_zero(sp.Add(*[p * g for p, g in pairs])) else None


def _prove_symmetry(oracle: _Oracle, symmetry: Symmetry) -> Symmetry:
    if oracle.symbolic_matrices or len(oracle.coords) > _SYMBOLIC_LIMIT:
        return symmetry
    if _proves_directional(oracle, list(symmetry.generator)) is None:
        raise VerificationError(f"{symmetry} fails the symbolic check; please report")
    return dataclasses.replace(symmetry, verified="symbolic")


# -- scalings and translations ----------------------------------------------------------


def _unknowns(shapes: list) -> list:
    """(block, part, index): row/col scalings and row/col shifts, redundancy removed."""
    out = []
    for b, (rows, cols) in enumerate(shapes):
        out += [(b, "row_scale", i) for i in range(rows)]
        out += [(b, "col_scale", j) for j in range(cols - 1)]
        out += [(b, "row_shift", j) for j in range(cols)]
        out += [(b, "col_shift", i) for i in range(rows - 1)]
    return out


def _features(points: list, grads: list, shapes: list) -> np.ndarray:
    columns = []
    for b, (rows, cols) in enumerate(shapes):
        weighted = grads[b] * points[b]
        columns += [weighted.sum(axis=2)[:, :rows], weighted.sum(axis=1)[:, : cols - 1]]
        columns += [grads[b].sum(axis=1)[:, :cols], grads[b].sum(axis=2)[:, : rows - 1]]
    return np.concatenate(columns, axis=1)


def _scalings_and_translations(oracle: _Oracle, families: list, rng) -> list:
    shapes = oracle.shapes
    unknowns = _unknowns(shapes)
    position = {u: k for k, u in enumerate(unknowns)}
    points, grads = oracle.sample(len(unknowns) + 16, rng)
    rows = _features(points, grads, shapes)
    null = null_space(rows)
    for _ in range(4):
        fresh = _features(*oracle.sample(32, rng), shapes)
        if annihilates(fresh, null):
            break
        rows = np.concatenate([rows, fresh, _features(*oracle.sample(len(unknowns), rng), shapes)])
        null = null_space(rows)
    if null.shape[1] == 0:
        return []
    basis = canonical_basis(null)
    spanned = [_family_diagonal(f, shapes, position) for f in families]
    spanned = [v for vectors in spanned for v in vectors]
    kept = []
    for vector in basis:
        dense = np.zeros(len(unknowns))
        for k, v in vector.items():
            dense[k] = float(v)
        trial = np.array(spanned + [dense]) if spanned else dense[None]
        if np.linalg.matrix_rank(trial, tol=1e-8) > len(spanned):
            spanned.append(dense)
            kept.append(vector)
    return [_action_of(vector, unknowns, shapes) for vector in kept]


def _family_diagonal(family: Candidate, shapes: list, position: dict) -> list:
    """The vectors ψ_{E_ii} of a gl(r) family in the scaling unknowns (none for so(r),
    whose elements have no diagonal, nor for a cross family)."""
    if family.algebra != "gl" or any(t != s for t, s, *_ in family.terms):
        return []
    vectors = []
    for i in range(family.rank):
        v = np.zeros(len(position))
        for target, _, side, sign, _ in family.terms:
            rows, cols = shapes[target]
            if side == "left":
                v[position[(target, "row_scale", i)]] += sign
            elif i < cols - 1:
                v[position[(target, "col_scale", i)]] += sign
            else:  # the last column scaling = whole-block scaling − the other columns
                for row in range(rows):
                    v[position[(target, "row_scale", row)]] += sign
                for j in range(cols - 1):
                    v[position[(target, "col_scale", j)]] -= sign
        vectors.append(v)
    return vectors


def _action_of(vector: dict, unknowns: list, shapes: list) -> tuple:
    parts: list = [dict(left={}, right={}, shift={}) for _ in shapes]
    for k, value in vector.items():
        b, part, i = unknowns[k]
        rows, cols = shapes[b]
        if part == "row_scale":
            parts[b]["left"][(i, i)] = value
        elif part == "col_scale":
            parts[b]["right"][(i, i)] = value
        else:
            cells = [(r, i) for r in range(rows)] if part == "row_shift" else None
            cells = cells or [(i, c) for c in range(cols)]
            for cell in cells:
                parts[b]["shift"][cell] = parts[b]["shift"].get(cell, Fraction(0)) + value
    actions = []
    for (rows, cols), part in zip(shapes, parts, strict=True):
        action = BlockAction(rows, cols, **part)
        actions.append(None if action.is_zero else action)
    return tuple(actions)


def _matrix_gradient(scalar: sp.Expr, block: sp.MatrixSymbol) -> sp.MatrixExpr:
    """∂V/∂W by SymPy's matrix calculus, as a matrix expression of W's shape.

    Term by term of the loss's top-level sum: SymPy 1.14 returns a silent zero
    for the derivative of a sum of traces (or of a trace plus a constant), see
    sympy/sympy#24725; :func:`_check_matrix_gradients` catches what remains."""
    parts = []
    for term in sp.Add.make_args(scalar):
        if not term.has(block):
            continue
        try:
            grad = term.diff(block)
        except BudgetExceededError:
            raise
        except Exception as error:  # SymPy raises many types here
            raise NotSupportedError(
                f"SymPy's matrix calculus cannot differentiate the loss with respect to "
                f"{block} ({type(error).__name__}); declare the layer with "
                "sn.matrix_coordinates instead"
            ) from None
        if not isinstance(grad, sp.MatrixExpr) or tuple(grad.shape) != tuple(block.shape):
            raise NotSupportedError(
                f"the gradient with respect to {block} is not a {block.shape[0]}×"
                f"{block.shape[1]} matrix expression; declare the layer with "
                "sn.matrix_coordinates instead"
            )
        parts.append(grad)
    if not parts:
        return sp.ZeroMatrix(*block.shape)
    return parts[0] if len(parts) == 1 else sp.MatAdd(*parts).doit()


def _check_matrix_gradients(oracle: _Oracle, loss: object) -> None:
    """Each block's gradient against a central difference of the loss at random matrices.

    SymPy's matrix calculus can return a wrong gradient with no error (zero for
    ``sqrt(Trace(W.T*W) + 1)``), and every later check, numeric or trace-canonical,
    would then prove a statement about the wrong gradient."""
    scalar = sp.Trace(loss) if isinstance(loss, sp.MatrixExpr) else loss
    trace = sp.Function("trace")  # NumPy's printer has no Trace
    scalar = scalar.replace(lambda e: isinstance(e, sp.Trace), lambda e: trace(e.arg))
    value = sp.lambdify(
        oracle.symbols, scalar, modules=[{"trace": np.trace}, "numpy"], docstring_limit=0
    )
    rng = np.random.default_rng(271828)
    values = sample_values(oracle.symbols, 2, rng)

    def number(x) -> float:
        return float(np.asarray(x, dtype=float).sum())

    for k in range(2):
        point = [v[k] for v in values]
        with np.errstate(all="ignore"):
            grads = oracle._evaluate(*point)
            size = max(1.0, abs(number(value(*point))))
            for b, (_, block) in enumerate(oracle.blocks):
                direction = rng.standard_normal(point[b].shape)
                h = 1e-6 * max(1.0, float(np.abs(point[b]).max()))
                up, down = list(point), list(point)
                up[b], down[b] = point[b] + h * direction, point[b] - h * direction
                difference = (number(value(*up)) - number(value(*down))) / (2 * h)
                exact = float(np.sum(np.asarray(grads[b], dtype=float) * direction))
                if not (math.isfinite(difference) and math.isfinite(exact)):
                    continue
                if abs(difference - exact) > 1e-5 * (abs(difference) + abs(exact)) + 1e-7 * size:
                    raise NotSupportedError(
                        f"SymPy's matrix calculus gave a wrong gradient with respect to {block} "
                        f"(directional derivative {exact:.6g}, central difference of the loss "
                        f"{difference:.6g}; a known SymPy bug with sums of traces, "
                        "sympy/sympy#24725); write the loss as one trace, or declare the "
                        "layer with sn.matrix_coordinates instead"
                    )


def _shape(block: object) -> tuple[int, int]:
    if isinstance(block, sp.MatrixBase | sp.MatrixSymbol):
        return int(block.shape[0]), int(block.shape[1])
    return 1, 1


def _free(expr: object) -> set:
    return {s for s in expr.free_symbols if isinstance(s, sp.Symbol | sp.MatrixSymbol)}
