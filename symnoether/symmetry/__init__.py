"""Stage 2a, discovery: the continuous symmetries of a loss and what breaks them.

Owns the affine actions on coordinate blocks (:mod:`~symnoether.symmetry.actions`),
the results — symmetries, families, the Lie algebra and its breaking
(:mod:`~symnoether.symmetry.algebra`) — the sampling and exact checks both
searches share (:mod:`~symnoether.symmetry.sampling`), the structured search
for layered models (:mod:`~symnoether.symmetry.structured`) and the general
search over all affine generators (:mod:`~symnoether.symmetry.search`).

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

from .algebra import Symmetry, SymmetryAlgebra, SymmetryBreaking, SymmetryFamily
from .search import MAX_GENERAL_UNKNOWNS, find_symmetries

__all__ = [
    "find_symmetries",
    "Symmetry",
    "SymmetryFamily",
    "SymmetryAlgebra",
    "SymmetryBreaking",
    "MAX_GENERAL_UNKNOWNS",
]
