"""Stage 3, the user's side: the derivation bundle, exports and spec files.

Owns the LaTeX notation (:mod:`~symnoether.io.notation`), the latexify-py bridge
for Python-declared losses and the generated kernels
(:mod:`~symnoether.io.latex_python`), safe output files
(:mod:`~symnoether.io.files`), LaTeX/Markdown export
(:mod:`~symnoether.io.export`), the :class:`Derivation` bundle and the
one-recipe :func:`derive` (:mod:`~symnoether.io.derivation`), and declarative
spec files: the whitelisted expression parser (:mod:`~symnoether.io.expressions`)
with its estimate of an expansion's size (:mod:`~symnoether.io.expansion`),
its tables (:mod:`~symnoether.io.spec_tables`) and the format
(:mod:`~symnoether.io.specfile`), and the phase diagrams of sweeps
(:mod:`~symnoether.io.phase`).

May import: every earlier stage (:mod:`symnoether.core`,
:mod:`symnoether.symmetry`, :mod:`symnoether.numerics`), never
:mod:`symnoether.cli`. Within it, export comes before the derivation bundle:
:mod:`~symnoether.io.export` typesets any object with a derivation's fields
(:class:`~symnoether.io.export.DerivationLike`) and never imports
:mod:`~symnoether.io.derivation`.

Examples
--------
>>> from symnoether.core import models, rules
>>> from symnoether.io import derive
>>> pair = models.scalar_pair()
>>> deriv = derive(pair.system(rules.gradient_flow()), pair.generators)
>>> deriv.names
('rescale',)
"""

from .derivation import Derivation, derive
from .export import to_latex, write_latex, write_markdown
from .latex_python import loss_from_function
from .phase import plot_phase
from .specfile import SpecFile, load, loads

__all__ = [
    "Derivation",
    "derive",
    "to_latex",
    "write_latex",
    "write_markdown",
    "loss_from_function",
    "plot_phase",
    "SpecFile",
    "load",
    "loads",
]
