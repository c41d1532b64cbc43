"""Plain-text and LaTeX rendering shared by the result objects.

Small, dependency-free helpers: results call them from ``__str__`` and
``_repr_latex_``. The document-level export lives in a later stage.

Examples
--------
>>> import sympy as sp
>>> x = sp.Symbol("x")
>>> print(aligned_latex([("Q", x**2)]))
$$\\begin{aligned}
Q &= x^{2}
\\end{aligned}$$
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sympy as sp

__all__ = ["aligned_latex", "table_text", "vector_text", "vector_latex"]


def aligned_latex(rows: Iterable[tuple[str, object]]) -> str:
    r"""A display-math ``aligned`` block, one ``lhs &= rhs`` row per pair.

    ``rhs`` may be a SymPy object (printed with :func:`sympy.latex`) or a
    ready LaTeX string.
    """
    lines = [f"{lhs} &= {_latex(rhs)}" for lhs, rhs in rows]
    return "$$\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}$$"


def table_text(title: str, rows: Sequence[tuple[str, object]]) -> str:
    """A titled, left-aligned two-column block for ``__str__``."""
    width = max((len(label) for label, _ in rows), default=0)
    body = [f"  {label.ljust(width)}  {_text(value)}" for label, value in rows]
    return "\n".join([title, *body])


def vector_text(entries: Iterable[object]) -> str:
    """``(a, b, c)`` in SymPy's plain string form."""
    return "(" + ", ".join(sp.sstr(e) for e in entries) + ")"


def vector_latex(entries: Iterable[object]) -> str:
    r"""A LaTeX row vector ``\left(a, b\right)``."""
    return r"\left(" + ", ".join(sp.latex(e) for e in entries) + r"\right)"


def _latex(value: object) -> str:
    return value if isinstance(value, str) else sp.latex(value)


def _text(value: object) -> str:
    return value if isinstance(value, str) else sp.sstr(value)
