"""Stage 2a, discovery: the continuous symmetries of a loss and what breaks them.

Owns the affine actions on coordinate blocks (:mod:`~symnoether.symmetry.actions`),
the results — what breaks each symmetry (:mod:`~symnoether.symmetry.breaking`),
symmetries and families (:mod:`~symnoether.symmetry.members`), the Lie algebra
(:mod:`~symnoether.symmetry.algebra`) — the families of products of blocks
(:mod:`~symnoether.symmetry.products`), the grouping of a general basis into
families (:mod:`~symnoether.symmetry.grouping`), the sampling and exact checks both
searches share (:mod:`~symnoether.symmetry.sampling`), the general search over all
affine generators (:mod:`~symnoether.symmetry.general`: exact sparse coefficient
matching in :mod:`~symnoether.symmetry.coefficients`, sampling in
:mod:`~symnoether.symmetry.sampled`), the structured search for layered models
(:mod:`~symnoether.symmetry.structured`, proofs by trace canonicalization in
:mod:`~symnoether.symmetry.traces`), and :func:`find_symmetries`
(:mod:`~symnoether.symmetry.search`), which says how complete its answer is; the discrete
symmetries (mirrors, sign flips, permutations) and their fixed subspaces
(:mod:`~symnoether.symmetry.discrete`); the count
of conservation laws gradient flow can have (:mod:`~symnoether.symmetry.lierank`),
polynomial laws beyond Noether's (:mod:`~symnoether.symmetry.ansatz`), matrix forms of
the charges (:mod:`~symnoether.symmetry.matrixforms`) and the conserved subspace of an
algebra (:mod:`~symnoether.symmetry.laws`, on :mod:`~symnoether.symmetry.rational`;
at matrix level, the conserved pieces of each family: :mod:`~symnoether.symmetry.matrix_laws`).

May import: :mod:`symnoether.errors`, :mod:`symnoether.budget`,
:mod:`symnoether.core`. It never imports :mod:`symnoether.numerics` (the two
stages sit side by side).

Examples
--------
>>> import sympy as sp
>>> from symnoether.core import coordinates
>>> from symnoether.symmetry import find_symmetries
>>> w1, w2 = coordinates("w1 w2")
>>> [s.kind for s in find_symmetries((1 - w1 * w2) ** 2 / 2, (w1, w2))]
['rescale']
"""

from .algebra import (
    ProductFamily,
    Symmetry,
    SymmetryAlgebra,
    SymmetryBreaking,
    SymmetryBreakingTable,
    SymmetryFamily,
    TranslationModule,
)
from .discrete import DiscreteSymmetries, DiscreteSymmetry, find_discrete_symmetries
from .laws import BrokenDirection, ConservationLaws, conservation_laws
from .lierank import LieBound, lie_bound
from .matrix_laws import FamilyPiece, MatrixConservationLaws, matrix_conservation_laws
from .matrixforms import ChargeForm
from .search import MAX_GENERAL_UNKNOWNS, find_symmetries

__all__ = [
    "find_symmetries",
    "find_discrete_symmetries",
    "DiscreteSymmetry",
    "DiscreteSymmetries",
    "Symmetry",
    "SymmetryFamily",
    "ProductFamily",
    "TranslationModule",
    "SymmetryAlgebra",
    "SymmetryBreaking",
    "SymmetryBreakingTable",
    "MAX_GENERAL_UNKNOWNS",
    "conservation_laws",
    "ConservationLaws",
    "BrokenDirection",
    "ChargeForm",
    "lie_bound",
    "LieBound",
    "MatrixConservationLaws",
    "FamilyPiece",
    "matrix_conservation_laws",
]
