r"""Export: LaTeX fragments of any result, standalone LaTeX and Markdown documents.

:func:`to_latex` turns a result object — :class:`~symnoether.LearningSystem`,
:class:`~symnoether.EquationsOfMotion`, :class:`~symnoether.NoetherLaw`,
:class:`~symnoether.Derivation`, a validation report, a SymPy expression — into
a LaTeX fragment in the notation of the papers: the charge
:math:`Q = e^{t/\tau}(\dots)`, its law split into the kinetic symmetry
breaking and the potential (loss, regularizer) breaking, dotted velocities,
bold layer matrices, long sums broken across ``align*`` lines.

:func:`latex_document` and :func:`markdown_document` assemble a whole
derivation (system, equations of motion, laws, derived results, validation,
and an appendix with the Python side typeset by latexify-py: a loss written
as a Python function and the generated numeric kernels);
:func:`write_latex` and :func:`write_markdown` write them atomically (a
temporary file in the same folder, then :func:`os.replace`). The LaTeX
document needs only the ``amsmath``, ``amssymb`` and ``graphicx`` packages
(Debian's ``texlive-latex-base``) and compiles with ``pdflatex``.

References
----------
.. [1] H. Tanaka and D. Kunin, "Noether's Learning Dynamics: Role of Symmetry
   Breaking in Neural Networks", NeurIPS 2021, arXiv:2105.02716 (the notation
   of charges and kinetic symmetry breaking).

Examples
--------
>>> import sympy as sp, symnoether as sn
>>> w1, w2 = sn.coordinates("w1 w2")
>>> eta = sp.Symbol("eta", positive=True)
>>> gd = sn.LearningSystem((w1, w2), (1 - w1 * w2) ** 2 / 2, rule=sn.rules.gradient_descent(eta))
>>> print(to_latex(sn.noether(gd, (w1, -w2))))
\begin{align*}
\boldsymbol{\psi} &= \left(w_{1}, - w_{2}\right) \\
\tau &= \frac{\eta}{2} \tag*{damping time} \\
Q &= e^{t/\tau} \frac{\eta \left(w_{1} \dot{w}_{1} - w_{2} \dot{w}_{2}\right)}{2} \\
\frac{dQ}{dt} &= \dot{Q}^{\mathrm{kin}} + \dot{Q}^{\mathrm{pot}} \tag*{broken by kinetic term} \\
\dot{Q}^{\mathrm{kin}} &= e^{t/\tau} \frac{\eta \left(\dot{w}_{1}^{2} - \dot{w}_{2}^{2}\right)}{2} \tag*{kinetic symmetry breaking} \\
\dot{Q}^{\mathrm{pot}} &= 0 \tag*{symmetry of the loss}
\end{align*}
"""  # noqa: E501

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import quote

import sympy as sp

from ..core.dynamics import EquationsOfMotion, FirstOrderSystem
from ..core.matrix_display import (
    matrix_equation_rows,
    matrix_latex,
    matrix_law_rows,
    matrix_system_rows,
)
from ..core.noether import NoetherLaw
from ..core.system import LearningSystem
from ..core.typeset import Row, equation_rows, law_rows, rule_text, system_rows
from ..errors import InvalidInputError, NotSupportedError, OutputPathError
from .files import check_output_path, check_output_paths, save_figure, write_text
from .latex_python import function_latex, kernel_latex, python_function
from .mathwidth import split_top
from .notation import (
    DEFAULT_WIDTH,
    MAX_MATRIX_SIDE,
    Notation,
    latex_math,
    latex_text,
    render_rows,
    unique_labels,
    visible_text,
)

__all__ = [
    "DerivationLike",
    "to_latex",
    "latex_document",
    "markdown_document",
    "write_latex",
    "write_markdown",
    "write_text",
    "save_figure",
    "check_output_path",
    "check_output_paths",
    "markdown_text",
    "latex_graphics_path",
]


@runtime_checkable
class DerivationLike(Protocol):
    """What a document is made of: the fields of :class:`~symnoether.Derivation`.

    Export reads these fields and never imports the derivation bundle itself
    (which comes later in the data flow and uses export for its
    ``to_latex``/``to_markdown`` shortcuts).
    """

    title: str
    system: LearningSystem
    equations: EquationsOfMotion
    names: tuple[str, ...]
    laws: tuple[NoetherLaw, ...]
    results: tuple


def to_latex(obj: object, *, env: str = "align*", width: float = DEFAULT_WIDTH) -> str:
    r"""A LaTeX fragment for any result object.

    Parameters
    ----------
    obj : LearningSystem, EquationsOfMotion, NoetherLaw, Derivation, SymPy object,
        or any result with ``_repr_latex_`` (validation reports, symmetries)
    env : {'align*', 'aligned'}
        ``'align*'`` for a LaTeX document (amsmath), ``'aligned'`` to place
        inside ``$$ … $$`` (Markdown, notebooks).
    width : float
        Printed width of a line in TeX points (default: the documents' text width);
        longer expressions are broken (:mod:`symnoether.io.linebreak`).

    Raises
    ------
    InvalidInputError
        ``obj`` is not a result symnoether can export.

    Examples
    --------
    >>> import sympy as sp
    >>> print(to_latex(sp.Eq(sp.Symbol("Q"), sp.Symbol("w1") ** 2)))
    \begin{align*}
    Q &= w_{1}^{2}
    \end{align*}
    """
    if env not in ("align*", "aligned"):
        raise InvalidInputError(f"env = {env!r}: use 'align*' (LaTeX) or 'aligned' (inside $$)")
    if isinstance(obj, DerivationLike):
        return "\n\n".join(derivation_blocks(obj, env=env, width=width))
    rows = _rows(obj, width)
    if rows is not None:
        return render_rows(rows, env=env, width=width)
    latex = getattr(obj, "_repr_latex_", None)
    if callable(latex) and not isinstance(obj, type):
        return _strip_dollars(latex())
    raise InvalidInputError(
        f"cannot export a {type(obj).__name__} to LaTeX; pass a LearningSystem, "
        "EquationsOfMotion, NoetherLaw, Derivation, validation report or SymPy expression"
    )


def _rows(obj: object, width: float) -> list[Row] | None:
    matrix = matrix_rows(obj)
    if matrix is not None:
        return matrix
    if isinstance(obj, NoetherLaw):
        return law_rows(obj, Notation(obj.system, width=width))
    if isinstance(obj, LearningSystem):
        return system_rows(obj, Notation(obj, width=width))
    if isinstance(obj, EquationsOfMotion):
        return equation_rows(obj, Notation(obj.system, width=width))
    if isinstance(obj, FirstOrderSystem):
        notation = Notation(width=width)
        return [
            Row(rf"\frac{{d{notation.latex(s)}}}{{dt}}", (notation.latex(f),))
            for s, f in zip(obj.state, obj.rhs, strict=True)
        ]
    if isinstance(obj, sp.Basic):
        return [result_row(obj, Notation(width=width))]
    return None


def matrix_rows(obj: object, *, name: str | None = None) -> list[Row] | None:
    r"""The rows of a matrix-level result — a ``MatrixNoetherLaw``, ``MatrixSystem`` or
    ``MatrixEquationsOfMotion`` (:mod:`symnoether.core.matrix_display`: traces,
    :math:`\dot{W}_{1}^{\top}`, :math:`e^{t/\tau}` in front), Unicode made LaTeX; None for
    anything else. :func:`~symnoether.io.notation.render_rows` breaks them to the page
    like every other law."""
    if hasattr(obj, "matrix_charges") and hasattr(obj, "charge"):
        rows = matrix_law_rows(obj, name=name)
    elif hasattr(obj, "layers") and hasattr(obj, "shapes") and hasattr(obj, "potential"):
        rows = matrix_system_rows(obj)
    elif hasattr(obj, "forcing") and hasattr(getattr(obj, "system", None), "layers"):
        rows = matrix_equation_rows(obj)
    else:
        return None
    return [Row(latex_math(r.lhs), tuple(map(latex_math, r.rhs)), r.note, r.rel) for r in rows]


def _law_rows(law: object, notation: Notation, name: str) -> list[Row]:
    """A law's rows in a document: a matrix-level law in trace form, else :func:`law_rows`."""
    rows = matrix_rows(law, name=name)
    return rows if rows is not None else law_rows(law, notation, name=name, define_tau=False)


def _strip_dollars(text: str) -> str:
    text = text.strip()
    for fence in ("$$", "$"):
        if text.startswith(fence) and text.endswith(fence) and len(text) > 2 * len(fence):
            return text[len(fence) : -len(fence)].strip()
    return text


# -- rows ------------------------------------------------------------------------------


def derivation_blocks(deriv: DerivationLike, *, env: str = "align*", width: float = DEFAULT_WIDTH):
    """The system, equations of motion, each law and each result of ``deriv``, one
    rendered block each (a ``%`` comment names the law in LaTeX)."""
    notation = Notation(deriv.system, width=width)
    system = matrix_rows(deriv.system) or system_rows(deriv.system, notation)
    equations = matrix_rows(deriv.equations) or equation_rows(deriv.equations, notation)
    blocks = [render_rows(system, env=env, width=width)]
    blocks.append(render_rows(equations, env=env, width=width))
    for name, law in zip(unique_labels(deriv.names), deriv.laws, strict=True):
        rows = _law_rows(law, notation, name)
        comment = f"% {name}\n" if env == "align*" else ""
        blocks.append(comment + render_rows(rows, env=env, width=width))
    forms = matrix_form_rows(getattr(deriv, "matrix_forms", ()), notation)
    if forms:
        blocks.append(render_rows(forms, env=env, width=width))
    for _, value in deriv.results:
        blocks.append(render_rows([result_row(value, notation)], env=env, width=width))
    return blocks


def matrix_form_rows(forms: Sequence, notation: Notation) -> list[Row]:
    """``formula = matrix`` for each (plain, LaTeX, matrix) form of a derivation."""
    return [Row(latex, (_matrix_latex(matrix, notation),)) for _, latex, matrix in forms]


def _matrix_latex(matrix: object, notation: Notation) -> str:
    """An explicit matrix in the system's notation; a matrix expression in trace form."""
    if isinstance(matrix, sp.MatrixExpr) and not isinstance(matrix, sp.ImmutableMatrix):
        system = notation.system  # e^{t/τ} in the damped notation, layers in declared order
        return matrix_latex(matrix, order=system.layers, tau=system.tau)
    return notation.latex(matrix)


def result_row(value: object, notation: Notation) -> Row:
    """``lhs = rhs`` for an equation, the value alone otherwise."""
    if isinstance(value, sp.Equality):
        return Row(notation.latex(value.lhs), (notation.latex(value.rhs),))
    return Row("", (notation.latex(value),), rel="")


def latexify_rows(latex: str) -> list[Row]:
    r"""latexify-py's output (``\begin{array}{l} c_{1} = … \\ f(x) = … \end{array}``, or
    one ``f(x) = …``) as rows ``lhs = rhs`` that :func:`render_rows` can break."""
    body = latex.strip()
    head, tail = r"\begin{array}{l}", r"\end{array}"
    if body.startswith(head) and body.endswith(tail) and body.count(head) == 1:
        lines = split_top(body[len(head) : -len(tail)], "\\\\")
    else:
        lines = [body]
    rows = []
    for line in lines:
        lhs, *rhs = split_top(line, "=")
        rows.append(Row(lhs, (" = ".join(rhs),)) if rhs else Row("", (lhs,), rel=""))
    return rows


# -- documents -------------------------------------------------------------------------


def _blocks(
    deriv: DerivationLike,
    *,
    reports: Sequence = (),
    figure: str | os.PathLike | None = None,
    functions: Sequence[Callable] = (),
    kernels: bool = True,
    width: float = DEFAULT_WIDTH,
) -> list[tuple[str, object]]:
    """The document as (kind, content) blocks, shared by the LaTeX and Markdown writers."""
    if not isinstance(deriv, DerivationLike):
        raise InvalidInputError(
            f"a document is made of a Derivation, not a {type(deriv).__name__}; "
            "build one with sn.derive(system, generators), or use sn.to_latex(obj) for a fragment"
        )
    system, notation = deriv.system, Notation(deriv.system, width=width)
    rule = rule_text(system, notation)
    blocks: list[tuple[str, object]] = [("title", deriv.title)]
    blocks += [("section", "Learning system"), ("code_text", f"Learning rule: {rule}")]
    blocks.append(("rows", matrix_rows(system) or system_rows(system, notation)))
    blocks += [
        ("section", "Equations of motion"),
        ("rows", matrix_rows(deriv.equations) or equation_rows(deriv.equations, notation)),
    ]
    blocks.append(("section", "Noether's learning dynamics"))
    for name, law in zip(unique_labels(deriv.names), deriv.laws, strict=True):
        blocks.append(("subsection", f"Symmetry '{name}'"))
        blocks.append(("rows", _law_rows(law, notation, name)))
    forms = matrix_form_rows(getattr(deriv, "matrix_forms", ()), notation)
    if forms:
        blocks += [("subsection", "Matrix forms of the conserved charges"), ("rows", forms)]
    if deriv.results:
        blocks.append(("section", "Derived results"))
        for label, value in deriv.results:
            blocks += [("text", f"{label}:"), ("rows", [result_row(value, notation)])]
    if reports or figure is not None:
        blocks.append(("section", "Numerical validation"))
        blocks += [("lines", str(report)) for report in reports]
        if figure is not None:
            blocks.append(("figure", Path(figure)))
    blocks += _appendix(deriv, functions, kernels)
    return blocks


def _appendix(deriv: DerivationLike, functions: Sequence[Callable], kernels: bool) -> list:
    functions = list(functions)
    remembered = python_function(deriv.system.loss)
    if remembered is not None and remembered not in functions:
        functions.insert(0, remembered)
    blocks: list[tuple[str, object]] = []
    if functions:
        blocks.append(("section", "Appendix: the loss as Python"))
        for func in functions:
            try:
                blocks.append(("rows", latexify_rows(function_latex(func, _names(deriv)))))
            except NotSupportedError as err:
                blocks.append(("text", f"({err})"))
    if kernels and not hasattr(deriv.system, "coords"):  # a matrix-level system
        blocks.append(("section", "Appendix: the generated numeric kernels"))
        blocks.append(("text", _MATRIX_KERNELS))
    elif kernels:
        names = list(unique_labels(deriv.names))
        entries, notes = kernel_latex(deriv.system, deriv.laws, names)
        blocks.append(("section", "Appendix: the generated numeric kernels"))
        blocks.append(("text", _KERNEL_INTRO))
        for title, latex in entries:
            blocks += [("text", f"{title}:"), ("rows", latexify_rows(latex))]
        blocks += [("text", f"Not typeset: {note}.") for note in notes]
    return blocks


_MATRIX_KERNELS = (
    "The kernels of a matrix-level system work on whole layers with matrix products; "
    "they are not typeset entry by entry."
)

_KERNEL_INTRO = (
    "The compiled kernels evaluate the closed forms above (symnoether.numerics.codegen), "
    "with common subexpressions c_k; charges and rates carry the damping factor "
    "divided out (Q~ and R~ are Q and dQ/dt without it)."
)


def _names(deriv: DerivationLike) -> dict[str, str]:
    """Identifier → LaTeX of every symbol of the system, in its notation."""
    notation = Notation(deriv.system)
    system = deriv.system
    symbols = (*system.coords, *system.velocities, *system.data, *system.hyperparameters)
    return {symbol.name: notation.latex(symbol) for symbol in symbols}


_PREAMBLE = r"""\documentclass[11pt]{article}
\usepackage[margin=2cm]{geometry}
\usepackage{amsmath,amssymb}
\usepackage{graphicx}
\setcounter{MaxMatrixCols}{%d}
\allowdisplaybreaks
\begin{document}
"""


def latex_document(deriv: DerivationLike, *, base: Path | None = None, **options) -> str:
    r"""A standalone LaTeX document of ``deriv`` (compiles with pdflatex).

    Options: ``reports`` (validation reports), ``figure`` (an image path),
    ``functions`` (Python functions for the appendix, besides a loss made by
    :func:`~symnoether.io.latex_python.loss_from_function`), ``kernels`` (typeset
    the generated kernels, default True), ``width``.
    """
    out = [_PREAMBLE % (MAX_MATRIX_SIDE + 1)]
    width = options.get("width", DEFAULT_WIDTH)
    for kind, content in _blocks(deriv, **options):
        if kind == "title":
            out.append(rf"\begin{{center}}\Large\bfseries {latex_text(str(content))}\end{{center}}")
        elif kind in ("section", "subsection"):
            out.append(rf"\{kind}*{{{latex_text(str(content))}}}")
        elif kind == "text":
            out.append(r"\noindent " + latex_text(str(content)))
        elif kind == "code_text":
            out.append(r"\noindent\texttt{" + latex_text(str(content)) + "}")
        elif kind == "lines":
            lines = " \\\\\n".join(map(_latex_line, str(content).splitlines()))
            out.append(rf"{{\raggedright\noindent {lines}\par}}")  # long formulas: no overfull
        elif kind == "rows":
            out.append(render_rows(content, env="align*", width=width))
        elif kind == "figure":
            image = latex_graphics_path(content, base)
            out.append(
                rf"\begin{{center}}\includegraphics[width=0.9\linewidth]{{{image}}}\end{{center}}"
            )
    out.append(r"\end{document}")
    return "\n\n".join(out) + "\n"


def markdown_document(deriv: DerivationLike, *, base: Path | None = None, **options) -> str:
    """``deriv`` as Markdown with ``$$``-math (GitHub, Jupyter).

    Options as :func:`latex_document`.
    """
    out = []
    width = options.get("width", DEFAULT_WIDTH)
    for kind, content in _blocks(deriv, **options):
        if kind in _HEADINGS:
            out.append(f"{_HEADINGS[kind]} {markdown_text(str(content))}")
        elif kind == "text":
            out.append(markdown_text(str(content)))
        elif kind == "code_text":
            out.append(_code_span(str(content)))
        elif kind == "lines":
            text = visible_text(str(content))
            fence = "`" * max(3, _longest_run(text, "`") + 1)  # no line inside can close it
            out.append(f"{fence}\n{text}\n{fence}")
        elif kind == "rows":
            out.append("$$\n" + render_rows(content, env="aligned", width=width) + "\n$$")
        elif kind == "figure":
            url = quote(_relative(content, base).as_posix(), safe="/._-~+")
            out.append(f"![validation plot]({url})")
    return "\n\n".join(out) + "\n"


_HEADINGS = {"title": "#", "section": "##", "subsection": "###"}
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~$&])")  # ( ) ! act only after [ ]
_MARKDOWN_LEAD = re.compile(r"^(?:(?=[-+])|(\d+)(?=\.))")  # a list item at the start


def markdown_text(text: str) -> str:
    r"""``text`` as one line of Markdown that shows it literally: line breaks become
    spaces, control characters show as escapes (:func:`visible_text`), and every
    character Markdown or HTML would act on (``<``, ``&``, ``*``, ``[``, ``$``, …) is
    backslash-escaped, so a title from a spec file cannot inject HTML or links.

    Examples
    --------
    >>> print(markdown_text("<img src=x onerror=alert(1)> *bold*\n# title"))
    \<img src=x onerror=alert(1)\> \*bold\* \# title
    """
    line = " ".join(visible_text(text).split())
    line = _MARKDOWN_SPECIAL.sub(r"\\\1", line)
    return _MARKDOWN_LEAD.sub(lambda m: f"{m[1] or ''}\\", line, count=1)


def _code_span(text: str) -> str:
    """``text`` as inline code: fenced by more backticks than it holds in a row."""
    line = " ".join(visible_text(text).split())
    fence = "`" * (_longest_run(line, "`") + 1)
    pad = " " if line.startswith("`") or line.endswith("`") else ""
    return f"{fence}{pad}{line}{pad}{fence}"


def _longest_run(text: str, char: str) -> int:
    runs = re.findall(f"{re.escape(char)}+", text)
    return max(map(len, runs), default=0)


def _latex_line(line: str) -> str:
    """One line of a block after ``\\``, which would read a leading ``[`` as its option."""
    text = latex_text(line)
    return "{}" + text if text.lstrip().startswith("[") else text


def latex_graphics_path(figure: str | os.PathLike, base: Path | None = None) -> str:
    r"""The argument of ``\includegraphics`` for ``figure`` (relative to ``base``, the
    document's folder): ``\detokenize{…}``, so that spaces and ``_ $ & ^ ~`` stay
    part of the name.

    Raises
    ------
    OutputPathError
        The path holds a character that TeX cannot take in a file name (``\ { } % # "``
        or a control character): rename the figure.

    Examples
    --------
    >>> latex_graphics_path("plots/run 1_a.png")
    '\\detokenize{plots/run 1_a.png}'
    """
    image = _relative(Path(figure), base).as_posix()
    bad = [c for c in image if c in '\\{}%#"\t\n' or visible_text(c) != c]
    if bad:
        raise OutputPathError(
            f"the figure {image!r} cannot go into the LaTeX document: TeX cannot include "
            f"a file whose path holds {bad[0]!r}; give the plot "
            'a name without \\ { } % # " or control characters'
        )
    return rf"\detokenize{{{image}}}"


def _relative(path: Path, base: Path | None) -> Path:
    if base is None:
        return path
    try:
        return Path(os.path.relpath(Path(path).resolve(), base.resolve()))
    except ValueError:
        return Path(path).resolve()


def write_latex(deriv: DerivationLike, path: str | os.PathLike, **options) -> str:
    """Write :func:`latex_document` to ``path`` atomically; return the document."""
    target = check_output_path(path)
    text = latex_document(deriv, base=target.parent, **options)
    write_text(target, text)
    return text


def write_markdown(deriv: DerivationLike, path: str | os.PathLike, **options) -> str:
    """Write :func:`markdown_document` to ``path`` atomically; return the document."""
    target = check_output_path(path)
    text = markdown_document(deriv, base=target.parent, **options)
    write_text(target, text)
    return text
