r"""Discrete symmetries of a loss: mirrors, sign flips and permutations, with their fixed
subspaces (the symmetric solutions).

An orthogonal R with V(Rθ) = V(θ) for every θ and every value of the data is a
discrete symmetry; an involution R = I − 2P (P the orthogonal projector onto the
directions R flips) is a mirror. Its fixed subspace {θ : Rθ = θ} holds the symmetric
solutions: ∇V(Rθ) = R∇V(θ), so at a fixed point the gradient is fixed too and gradient
descent never leaves the subspace; minibatch SGD does not either when the symmetry holds
for every sample's loss (``per_sample``), not only for their mean. Whether the dynamics
collapse onto it is :func:`symnoether.stability` (Ziyin et al. 2025 [1]_; Chen, Kunin et
al. 2023 [2]_).

The search tries signed permutations of the coordinates (R θ has entries ±θ_π(i)),
screened at random points and then proved exactly, V(Rθ) − V(θ) ≡ 0 by
:func:`symnoether.symmetry.sampling.proves_zero`. Classes searched:

* up to :data:`FULL_GROUP_LIMIT` elements, the whole hyperoctahedral group (every
  signed permutation): the answer is then complete for that class;
* otherwise: sign flips of every subset of the coordinates (up to 2¹² subsets; single
  coordinates and whole blocks beyond), swaps of two coordinates with and without sign,
  sign flips of a hidden unit's incoming and outgoing weights (and bias) for odd
  activations, transpositions of hidden units, and swaps of equal-shape coordinate
  blocks. A hidden unit k sits between two coordinate matrices A (its incoming weights
  are row k) and B (its outgoing weights are column k) with as many rows in A as columns
  in B. Transpositions generate every permutation of the units.

References
----------
.. [1] L. Ziyin et al., "Parameter symmetry breaking and restoration determines the
   hierarchical learning in AI systems", 2025, arXiv:2502.05300.
.. [2] F. Chen, D. Kunin, A. Yamamura and S. Ganguli, "Stochastic collapse: how gradient
   noise attracts SGD dynamics towards simpler subnetworks", NeurIPS 2023,
   arXiv:2306.04251.

Examples
--------
>>> import symnoether as sn
>>> x, y = sn.data("x y")
>>> u, w = sn.coordinates("u w")
>>> found = find_discrete_symmetries((y - u * w * x) ** 2 / 2, (u, w), data=(x, y))
>>> [(s.kind, s.name) for s in found]
[('sign flip', 'u, w → -u, -w'), ('swap', 'u, w → w, u'), ('signed swap', 'u, w → -w, -u')]
>>> found.complete, found[0].conditions
(True, (u, w))
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import sympy as sp

from ..budget import check
from ..core.display import table_text
from ..errors import NotSupportedError
from .parsing import parse_blocks, parse_data, parse_loss
from .sampling import proves_zero

__all__ = ["DiscreteSymmetry", "DiscreteSymmetries", "find_discrete_symmetries"]

FULL_GROUP_LIMIT = 4000
"""The whole group of signed permutations is searched when it has at most this many
elements (n ≤ 5 coordinates)."""

SUBSET_LIMIT = 12
"""Sign flips of every subset of the coordinates are tried up to this many coordinates."""

_POINTS = 4


@dataclass(frozen=True)
class DiscreteSymmetry:
    """One verified discrete symmetry θ ↦ Rθ, R a signed permutation matrix.

    Attributes
    ----------
    kind : str
        ``'sign flip'``, ``'swap'``, ``'signed swap'``, ``'unit sign flip'``,
        ``'unit transposition'``, ``'block swap'`` or ``'signed permutation'``.
    name : str
        The action, e.g. ``'u, w → w, u'``.
    matrix : ImmutableMatrix
        R (orthogonal).
    fixed : ImmutableMatrix
        Columns spanning the fixed subspace {θ : Rθ = θ}, the symmetric solutions.
    normal : ImmutableMatrix
        Columns spanning its orthogonal complement (for a mirror R = I − 2P, the range
        of P): the directions ``sn.stability(..., normal=...)`` linearizes along.
    projector : ImmutableMatrix
        The orthogonal projector onto the fixed subspace.
    reflection : bool
        R is an involution, R = I − 2P with P = I − ``projector``.
    per_sample : bool or None
        The symmetry holds for each sample's loss of the dataset (so SGD keeps the fixed
        subspace too); None without a dataset (it then holds for every data value).
    coords : tuple
        The coordinates R acts on, in order.

    Examples
    --------
    >>> u, w = sp.symbols("u w", real=True)
    >>> s = DiscreteSymmetry.of("swap", sp.Matrix([[0, 1], [1, 0]]), (u, w), None)
    >>> s.conditions, s.fixed.T, s.reflection
    ((u - w,), Matrix([[1, 1]]), True)
    """

    kind: str
    name: str
    matrix: sp.ImmutableMatrix
    fixed: sp.ImmutableMatrix
    normal: sp.ImmutableMatrix
    projector: sp.ImmutableMatrix
    reflection: bool
    per_sample: bool | None
    coords: tuple

    @classmethod
    def of(cls, kind: str, R: sp.Matrix, coords: tuple, per_sample: bool | None):
        """The symmetry θ ↦ Rθ with its fixed subspace computed from R."""
        n = len(coords)
        R = sp.ImmutableMatrix(R)
        fixed = (R - sp.eye(n)).nullspace()
        F = sp.Matrix.hstack(*fixed) if fixed else sp.zeros(n, 0)
        projector = F * (F.T * F).inv() * F.T if fixed else sp.zeros(n, n)
        normal = (F.T.nullspace() if fixed else [sp.eye(n)[:, j] for j in range(n)]) or []
        normal = [v if next(e for e in v if e != 0) > 0 else -v for v in normal]
        N = sp.Matrix.hstack(*normal) if normal else sp.zeros(n, 0)
        image = R * sp.Matrix(coords)
        moved = [(q, e) for q, e in zip(coords, image, strict=True) if e != q]
        name = f"{', '.join(str(q) for q, _ in moved)} → {', '.join(str(e) for _, e in moved)}"
        return cls(
            kind, name, R, sp.ImmutableMatrix(F), sp.ImmutableMatrix(N),
            sp.ImmutableMatrix(projector), R * R == sp.eye(n), per_sample, tuple(coords),
        )  # fmt: skip

    @property
    def conditions(self) -> tuple:
        """Linear forms whose vanishing defines the fixed subspace (nᵀθ = 0 for each
        column n of ``normal``)."""
        theta = sp.Matrix(self.coords)
        return tuple((self.normal[:, j].T * theta)[0] for j in range(self.normal.cols))

    def __str__(self) -> str:
        at = ", ".join(f"{c} = 0" for c in self.conditions) or "everywhere"
        sample = {None: "", True: "; holds sample by sample", False: "; mean loss only"}
        return f"{self.kind}: {self.name} (fixed where {at}{sample[self.per_sample]})"

    def _repr_latex_(self) -> str:
        return rf"$R = {sp.latex(self.matrix)}$"


@dataclass(frozen=True)
class DiscreteSymmetries:
    """The verified discrete symmetries of a loss, and how complete the search was.

    Attributes
    ----------
    elements : tuple of DiscreteSymmetry
    searched : tuple of str
        The classes of candidates tried.
    complete : bool
        True when the whole group of signed permutations of the coordinates was searched.

    Examples
    --------
    >>> DiscreteSymmetries((), ("sign flips of single coordinates",), False).complete
    False
    """

    elements: tuple
    searched: tuple
    complete: bool

    def __iter__(self):
        return iter(self.elements)

    def __len__(self) -> int:
        return len(self.elements)

    def __getitem__(self, index: int) -> DiscreteSymmetry:
        return self.elements[index]

    def __str__(self) -> str:
        rows = [(s.kind, str(s).split(": ", 1)[1]) for s in self.elements] or [("none", "")]
        rows.append(("searched", "; ".join(self.searched)))
        rows.append(("complete", "yes (every signed permutation)" if self.complete else "no"))
        return table_text(f"{len(self.elements)} discrete symmetries", rows)

    def _repr_latex_(self) -> str:
        body = r",\ ".join(sp.latex(s.matrix) for s in self.elements) or r"\text{none}"
        return f"${body}$"


def find_discrete_symmetries(
    loss: object,
    coords: object = None,
    data: object = (),
    *,
    dataset: dict | None = None,
    seed: int = 0,
) -> DiscreteSymmetries:
    """The signed-permutation symmetries of ``loss``, each proved exactly.

    Parameters
    ----------
    loss : sympy expression or LearningSystem
        The per-sample loss ℓ(θ; data); or a system, whose coordinates, data, dataset and
        regularizers are used (V is then its potential).
    coords : sequence of Symbols or coordinate matrices
        As for :func:`symnoether.find_symmetries` (matrices flatten row by row); written
        out entry by entry (``sn.matrix_coordinates``), not MatrixSymbols.
    data : sequence of data Symbols
        Without a dataset the symmetry must hold for every value of them.
    dataset : dict, optional
        {data symbol: values}: V is the mean over the samples, and each symmetry says
        whether it holds sample by sample (``per_sample``).
    seed : int
        Seed of the random screening points.

    Returns
    -------
    DiscreteSymmetries
        In the order of the classes searched; ``complete`` says whether every signed
        permutation was tried.

    Examples
    --------
    A hidden layer of two tanh units: each unit's sign flip and their transposition.

    >>> import sympy as sp
    >>> import symnoether as sn
    >>> (x,), (y,) = sn.data("x"), sn.data("y")
    >>> W1, W2 = sn.matrix_coordinates("W1", 2, 1), sn.matrix_coordinates("W2", 1, 2)
    >>> loss = (y - (W2 * W1.applyfunc(lambda e: sp.tanh(e * x)))[0]) ** 2 / 2
    >>> found = find_discrete_symmetries(loss, (W1, W2), (x, y))
    >>> units = [(s.kind, s.name) for s in found if s.kind.startswith("unit")]
    >>> units  # doctest: +NORMALIZE_WHITESPACE
    [('unit sign flip', 'W1_21, W2_12 → -W1_21, -W2_12'),
     ('unit sign flip', 'W1_11, W2_11 → -W1_11, -W2_11'),
     ('unit sign flip', 'W1_11, W1_21, W2_11, W2_12 → -W1_11, -W1_21, -W2_11, -W2_12'),
     ('unit transposition', 'W1_11, W1_21, W2_11, W2_12 → W1_21, W1_11, W2_12, W2_11')]
    >>> found[3].conditions
    (W1_11 - W1_21, W2_11 - W2_12)
    >>> len(found), found.complete      # the 8 elements of the group they generate, minus 1
    (7, True)
    """
    loss, flat, blocks, data_symbols, samples, extra = _inputs(loss, coords, data, dataset)
    n = len(flat)
    rng = np.random.default_rng(seed)
    if samples:
        target = sp.Add(*[loss.subs(s) for s in samples]) / len(samples) + extra
    else:
        target = loss + extra
    free = sorted(target.free_symbols - set(flat), key=str)
    screen = _screen(target, flat, free, rng)
    candidates, searched, complete = _candidates(flat, blocks)
    found, seen = [], set()
    for kind, perm, signs in candidates:
        check()
        key = (tuple(perm), tuple(signs))
        if key in seen or _identity(perm, signs):
            continue
        seen.add(key)
        if not screen(perm, signs):
            continue
        image = {flat[i]: signs[i] * flat[perm[i]] for i in range(n)}
        if not proves_zero(target.xreplace(image) - target):
            continue
        per_sample = None
        if samples:
            per_sample = proves_zero(loss.xreplace(image) - loss) or all(
                proves_zero((loss.subs(s) + extra).xreplace(image) - loss.subs(s) - extra)
                for s in samples
            )
        R = sp.zeros(n, n)
        for i in range(n):
            R[i, perm[i]] = signs[i]
        found.append(DiscreteSymmetry.of(kind, R, tuple(flat), per_sample))
    found.sort(key=lambda s: _ORDER.index(s.kind))
    return DiscreteSymmetries(tuple(found), tuple(searched), complete)


def _inputs(loss, coords, data, dataset):
    """(per-sample loss, flat coordinates, blocks, data symbols, samples, regularizer)."""
    extra = sp.S.Zero
    if hasattr(loss, "potential") and hasattr(loss, "coords"):
        system = loss
        samples = tuple(system.samples)
        extra = sp.expand(system.potential - system.training_loss)
        return system.loss, list(system.coords), system.blocks, system.data, samples, extra
    blocks = parse_blocks(coords)
    if any(isinstance(b, sp.MatrixSymbol) for _, b in blocks):
        raise NotSupportedError(
            "the discrete search needs the coordinates entry by entry; declare the layers "
            "with sn.matrix_coordinates('W', rows, cols) instead of a MatrixSymbol"
        )
    data_symbols = parse_data(data, blocks)
    loss = parse_loss(loss, blocks)
    flat = [s for _, b in blocks for s in (list(b) if isinstance(b, sp.MatrixBase) else [b])]
    samples = ()
    if dataset is not None:
        from ..core.checks import check_dataset

        columns = check_dataset(dataset, tuple(data_symbols), None)
        samples = tuple(
            dict(zip([c for c, _ in columns], row, strict=True))
            for row in zip(*(v for _, v in columns), strict=True)
        )
    return loss, flat, blocks, data_symbols, samples, extra


def _identity(perm, signs) -> bool:
    return all(p == i for i, p in enumerate(perm)) and all(s == 1 for s in signs)


def _screen(target: sp.Expr, flat: list, free: list, rng: np.random.Generator):
    """A numeric test V(Rθ) ≈ V(θ) at random points (data and hyper-parameters random too)."""
    f = sp.lambdify([*flat, *free], target, "numpy")
    theta = rng.standard_normal((len(flat), _POINTS)) * 0.9 + 0.3
    others = np.abs(rng.standard_normal((len(free), _POINTS))) + 0.5
    with np.errstate(all="ignore"):
        base = np.broadcast_to(np.asarray(f(*theta, *others), dtype=complex), (_POINTS,))
    good = np.isfinite(base)

    def screen(perm, signs) -> bool:
        moved = np.array(signs)[:, None] * theta[list(perm)]
        with np.errstate(all="ignore"):
            value = np.broadcast_to(np.asarray(f(*moved, *others), dtype=complex), (_POINTS,))
        if not good.any():
            return True  # nothing to screen with: the exact proof decides
        diff = np.abs(value[good] - base[good])
        return bool(np.all(diff <= 1e-8 * (1 + np.abs(base[good]))))

    return screen


def _candidates(flat: list, blocks) -> tuple[list, list, bool]:
    """(kind, perm, signs) triples, the classes searched, and whether that was the whole
    group of signed permutations."""
    n = len(flat)
    out, searched = _structured(flat, blocks)
    if 2**n * math.factorial(n) > FULL_GROUP_LIMIT:
        return out, searched, False
    named = {}
    for kind, perm, signs in out:
        named.setdefault((tuple(perm), tuple(signs)), kind)
    group = []
    for perm in itertools.permutations(range(n)):
        for signs in itertools.product((1, -1), repeat=n):
            kind = named.get((perm, signs)) or _kind(perm, signs)
            group.append((kind, list(perm), list(signs)))
    group.sort(key=lambda c: (_ORDER.index(c[0]), c[1], [-s for s in c[2]]))
    return group, [f"every signed permutation of the {n} coordinates"], True


def _structured(flat: list, blocks) -> tuple[list, list]:
    """The candidates of the structured classes, and their names."""
    n = len(flat)
    out, searched = [], []
    ident = list(range(n))
    units = list(_units(flat, blocks))
    if units:
        searched.append("sign flips and transpositions of hidden units (with and without bias)")
    for rows, cols, biases in units:
        for with_bias in (False, True) if biases else (False,):
            extra = biases if with_bias else []
            for k in range(len(rows)):
                flip = set(rows[k]) | set(cols[k]) | {b[k] for b in extra}
                out.append(("unit sign flip", ident, [-1 if j in flip else 1 for j in range(n)]))
            for k, m in itertools.combinations(range(len(rows)), 2):
                perm = list(ident)
                pairs = list(zip(rows[k], rows[m])) + list(zip(cols[k], cols[m]))
                pairs += [(b[k], b[m]) for b in extra]
                for a, b in pairs:
                    perm[a], perm[b] = b, a
                out.append(("unit transposition", perm, [1] * n))
    indices = _block_indices(flat, blocks)
    swaps = [(a, b) for a, b in itertools.combinations(indices, 2) if a[0] == b[0] != (1, 1)]
    if swaps:
        searched.append("swaps of coordinate blocks of the same shape")
    for (_, ia), (_, ib) in swaps:
        perm = list(ident)
        for a, b in zip(ia, ib, strict=True):
            perm[a], perm[b] = b, a
        out.append(("block swap", perm, [1] * n))
    if n <= SUBSET_LIMIT:
        searched.append("sign flips of every subset of the coordinates")
        for mask in range(1, 2**n):
            out.append(("sign flip", ident, [-1 if mask >> i & 1 else 1 for i in range(n)]))
    else:
        searched.append("sign flips of single coordinates and of whole blocks")
        for i in range(n):
            out.append(("sign flip", ident, [-1 if j == i else 1 for j in range(n)]))
        for _, idx in _block_indices(flat, blocks):
            out.append(("sign flip", ident, [-1 if j in idx else 1 for j in range(n)]))
    searched.append("swaps of two coordinates, with and without sign")
    for i, j in itertools.combinations(range(n), 2):
        perm = list(ident)
        perm[i], perm[j] = j, i
        out.append(("swap", perm, [1] * n))
        out.append(("signed swap", perm, [-1 if k in (i, j) else 1 for k in range(n)]))
    return out, searched


_ORDER = [
    "sign flip", "unit sign flip", "swap", "signed swap", "unit transposition", "block swap",
    "signed permutation",
]  # fmt: skip


def _kind(perm, signs) -> str:
    moved = [i for i, p in enumerate(perm) if p != i]
    if not moved:
        return "sign flip"
    if len(moved) == 2 and all(perm[perm[i]] == i for i in moved):
        others = all(signs[i] == 1 for i in range(len(perm)) if i not in moved)
        if others and signs[moved[0]] == signs[moved[1]]:
            return "swap" if signs[moved[0]] == 1 else "signed swap"
    return "signed permutation"


def _block_indices(flat: list, blocks) -> list:
    """((shape), [flat indices]) per coordinate block."""
    position = {q: i for i, q in enumerate(flat)}
    out = []
    for _, block in blocks:
        if isinstance(block, sp.MatrixBase):
            out.append((tuple(block.shape), [position[q] for q in block]))
        else:
            out.append(((1, 1), [position[block]]))
    return out


def _units(flat: list, blocks):
    """(incoming index rows, outgoing index columns, bias index vectors) per interface:
    a matrix A whose rows are units and a later-listed or earlier B whose columns are."""
    position = {q: i for i, q in enumerate(flat)}
    mats = [b for _, b in blocks if isinstance(b, sp.MatrixBase)]
    for A in mats:
        for B in mats:
            h = A.rows
            if A is B or B.cols != h:
                continue
            rows = [[position[q] for q in A.row(k)] for k in range(h)]
            cols = [[position[q] for q in B.col(k)] for k in range(h)]
            biases = [
                [position[q] for q in b]
                for b in mats
                if b is not A and b is not B and b.shape == (h, 1)
            ]
            yield rows, cols, biases
