r"""Matrix laws in the papers' notation: traces, transposes and dotted layer velocities.

A law derived on :class:`~sympy.MatrixSymbol` layers (``sn.layers``) is a scalar
expression built from traces of matrix products. :func:`matrix_text` and
:func:`matrix_latex` print it the way the papers write it — Tanaka & Kunin's
:math:`m e^{t/\tau}[\operatorname{tr}(\dot W_1^\top A W_1) - \operatorname{tr}(\dot W_2^\top W_2 A)]`
— rather than as SymPy's ``Trace(Wdot1.T*A*W1)*exp(2*t/eta)``:

* a velocity is named by the scalar rule (:func:`~symnoether.core.vocabulary.velocity`:
  ``W1`` → ``Wdot1``, ``W`` → ``Wdot``, ``theta_2`` → ``thetadot_2``) and prints dotted:
  ``Ẇ1``, :math:`\dot{W}_{1}`; trailing digits are subscripts in LaTeX
  (``W1`` → :math:`W_{1}`); a transpose is ``ᵀ``, :math:`^{\top}`;
* a trace is split over sums and its scalar factors are pulled out; of the cyclic
  rotations of the product and of its transpose, the one with fewest transposes,
  starting with a transposed factor, is shown (:math:`\operatorname{tr}(\dot W_1^\top A W_1)`,
  not :math:`\operatorname{tr}(W_1^\top A^\top \dot W_1)`);
* a trace of a 1×1 product (column vectors) drops the ``tr``: ``tr(ẇᵀw)`` → ``ẇᵀ w``;
  a squared norm prints as one: ``tr(wᵀw)`` → ``‖w‖²``, ``tr(xᵀWᵀWx)`` → ``‖W x‖²``
  (:math:`\left\|W x\right\|^{2}`; a matrix keeps ``tr(Wᵀ W)``);
* a factor ``exp(…)`` common to every term (the damping factor) goes in front of
  the sum, printed :math:`e^{t/\tau}` when ``tau`` is given (``exp(2*t/eta)`` with
  ``tau=eta/2``); terms with the same coefficient are collected,
  ``a·tr X + a·tr Y`` → ``a (tr X + tr Y)``, when the text gets shorter; a
  coefficient common to all terms goes in front, ``m e^{t/τ} [tr X − tr Y]``; signs
  fold into the sum (``− tr(…)``, never ``+ (−1) tr(…)``);
* the terms are ordered by the layers they hold — in the order of ``order`` (the
  declared layers), else by name — then by their text, so the output does not
  depend on the order SymPy keeps them in; a matrix sum shows its positive terms
  first (``y − W x``).

Elementwise functions print as the function of the matrix (``tanh(W x)``), a
Hadamard product with ``⊙`` (:math:`\odot`). The LaTeX is one line; the documents
break it to the page with :func:`symnoether.io.linebreak.break_latex` like every
other law (:mod:`symnoether.io.export`). :func:`matrix_law_rows` and
:func:`matrix_law_text` are what a matrix-level Noether law shows.

Examples
--------
>>> import sympy as sp
>>> from symnoether.core.vocabulary import TIME
>>> W1, W2, A = (sp.MatrixSymbol(n, 3, 3) for n in ("W1", "W2", "A"))
>>> Wd1, Wd2 = sp.MatrixSymbol("Wdot1", 3, 3), sp.MatrixSymbol("Wdot2", 3, 3)
>>> eta = sp.Symbol("eta", positive=True)
>>> Q = sp.exp(2 * TIME / eta) * (sp.Trace(Wd1.T * A * W1) - sp.Trace(Wd2.T * W2 * A))
>>> print(matrix_text(Q, tau=eta / 2))
e^{t/τ} [tr(Ẇ1ᵀ A W1) − tr(Ẇ2ᵀ W2 A)]
>>> print(matrix_latex(Q))
e^{2 t/\eta} \left[\operatorname{tr}\left(\dot{W}_{1}^{\top} A W_{1}\right) - \operatorname{tr}\left(\dot{W}_{2}^{\top} W_{2} A\right)\right]
"""  # noqa: E501

from __future__ import annotations

import textwrap
import unicodedata
from collections.abc import Iterable

import sympy as sp
from sympy.matrices.expressions import Identity, MatAdd, MatMul, MatrixExpr, Trace, ZeroMatrix
from sympy.printing.conventions import split_super_sub

from .display import ROLES, table_text
from .matrix_printers import LatexPrinter, TextPrinter, has_matrix, matrix_name_text
from .typeset import Row
from .vocabulary import velocity

__all__ = [
    "matrix_text",
    "matrix_latex",
    "matrix_name_text",
    "matrix_law_rows",
    "matrix_law_text",
    "matrix_system_rows",
    "matrix_equation_rows",
    "prepare",
]


def matrix_text(
    expr: object, *, order: Iterable[sp.MatrixSymbol] = (), tau: sp.Expr | None = None
) -> str:
    """Plain text (Unicode) of a scalar built from traces, or of a matrix expression.

    Parameters
    ----------
    expr : SymPy expression or MatrixExpr
    order : MatrixSymbols, optional
        The declared layers: terms are ordered by the layers they hold, in this order
        (by name without it); a layer's velocity counts as the layer.
    tau : SymPy expression, optional
        The damping time: ``exp(k*t/tau)`` prints as ``e^{kt/τ}`` (``sp.oo``: none).

    Examples
    --------
    >>> import sympy as sp
    >>> w = sp.MatrixSymbol("w", 4, 1)
    >>> print(matrix_text(sp.Trace(w.T * w) / 2 - 3 * sp.Trace(w * w.T) ** 2))
    (1/2) ‖w‖² − 3 ‖w‖⁴
    """
    printer = TextPrinter(expr, tuple(order), tau)
    return unicodedata.normalize("NFC", printer.doprint(prepare(expr)))


def matrix_latex(
    expr: object, *, order: Iterable[sp.MatrixSymbol] = (), tau: sp.Expr | None = None
) -> str:
    r"""LaTeX of a scalar built from traces, or of a matrix expression (one line;
    options as :func:`matrix_text`).

    Examples
    --------
    >>> import sympy as sp
    >>> W, x = sp.MatrixSymbol("W", 3, 2), sp.MatrixSymbol("x", 2, 1)
    >>> print(matrix_latex(sp.Trace(x.T * W.T * W * x)))
    \left\|W x\right\|^{2}
    >>> print(matrix_latex(sp.HadamardProduct(W, W.applyfunc(sp.tanh)).T * W))
    \left(\tanh\left(W^{\top}\right) \odot W^{\top}\right) W
    """
    return LatexPrinter(expr, tuple(order), tau).doprint(prepare(expr))


# -- preparing: traces split over sums, scalars pulled out ---------------------------------


def prepare(expr: object) -> sp.Basic:
    """``expr`` with every trace split over its sums, scalars pulled out of it, and the
    products of sums of traces multiplied out (a matrix expression is left as it is).

    Examples
    --------
    >>> import sympy as sp
    >>> W, A = sp.MatrixSymbol("W", 2, 2), sp.MatrixSymbol("A", 2, 2)
    >>> prepare(sp.Symbol("m") * sp.Trace(3 * W.T * A + sp.Identity(2)))
    3*m*Trace(W.T*A) + 2*m
    """
    expr = sp.sympify(expr)
    if isinstance(expr, MatrixExpr):
        return expr
    return _distribute(expr.replace(lambda e: isinstance(e, Trace), _linear_trace))


def _linear_trace(trace: Trace) -> sp.Expr:
    """tr(c X + Y) → c tr(X) + tr(Y); tr(I_n) → n; tr(0) → 0."""
    arg = trace.arg
    if isinstance(arg, MatAdd):
        return sp.Add(*(_linear_trace(Trace(term)) for term in arg.args))
    if isinstance(arg, ZeroMatrix):
        return sp.S.Zero
    if isinstance(arg, Identity):
        return arg.rows
    if isinstance(arg, MatMul):
        coefficient, matrices = arg.as_coeff_matrices()
        if coefficient != 1:
            inner = matrices[0] if len(matrices) == 1 else MatMul(*matrices)
            return coefficient * _linear_trace(Trace(inner))
    return trace


def _distribute(expr: sp.Expr) -> sp.Expr:
    """Products multiplied out over the sums that hold traces (a scalar sum such as
    1 − β stays a coefficient)."""
    if isinstance(expr, sp.Add):
        return sp.Add(*(_distribute(term) for term in expr.args))
    if type(expr) is not sp.Mul:
        return expr
    terms = [sp.S.One]
    for factor in map(_distribute, expr.args):
        parts = sp.Add.make_args(factor) if has_matrix(factor) else (factor,)
        terms = [term * part for term in terms for part in parts]
    return sp.Add(*terms)


# -- what a matrix-level Noether law shows ---------------------------------------------------

NOTE_WIDTH = 64
"""Characters of a note line (a LaTeX ``\\tag*``, which does not wrap: about 330 pt)."""


def _law_notation(law: object) -> tuple[tuple, sp.Expr | None, dict[str, tuple[str, str]]]:
    """(layer order, damping time or None, role letters) of ``law``'s system (or of a
    system, or of equations of motion)."""
    system = getattr(law, "system", law)
    damped = system.order == 2 and system.tau != sp.oo
    names = [*system.layers, *system.data, *getattr(law, "constants", ()), *system.hyperparameters]
    taken = {split_super_sub(str(getattr(s, "name", s)))[0] for s in names}
    roles = {
        letter: (rf"\mathcal{{{letter}}}", script) if letter in taken else (letter, letter)
        for letter, script in ROLES.items()
    }
    return tuple(system.layers), (system.tau if damped else None), roles


def broken_by(law: object) -> tuple[str, ...]:
    """What moves the charge: the kinetic term, the loss, breaking regularizers."""
    causes = ["kinetic term"] if law.kinetic_breaking != 0 else []
    causes += ["loss"] if law.loss_breaking != 0 else []
    return tuple(causes + [r for r in law.breaking_regularizers if r not in causes])


def matrix_law_rows(law: object, *, name: str | None = None) -> list[Row]:
    r"""Generator per layer, τ, charge (and its matrix forms), and its law split into
    kinetic and potential breaking, as :class:`~symnoether.core.typeset.Row` lines (for
    ``_repr_latex_`` and the exported documents, which break them to the page).

    ``law`` is read by the fields of ``MatrixNoetherLaw``: ``system`` (``layers``,
    ``tau``, ``data``, ``hyperparameters``), ``generator``, ``charge``, ``rate``,
    ``kinetic_breaking``, ``loss_breaking``, ``potential_breaking``,
    ``breaking_regularizers``, ``matrix_charges``, ``conserved``, ``order``,
    ``almost_everywhere``, ``verification``.

    Examples
    --------
    >>> import sympy as sp, symnoether as sn
    >>> W1, W2 = sn.layers(W1=(3, 2), W2=(2, 3))
    >>> x, y = sn.layers(x=(2, 1), y=(2, 1), data=True)
    >>> e = y - W2 * W1 * x
    >>> flow = sn.LearningSystem((W1, W2), e.T * e / 2, rule=sn.rules.gradient_flow(), data=(x, y))
    >>> A = sp.MatrixSymbol("A", 3, 3)
    >>> rows = matrix_law_rows(sn.noether(flow, ((A + A.T) * W1, -W2 * (A + A.T))))
    >>> print(rows[2].lhs, "=", *rows[2].rhs)  # doctest: +NORMALIZE_WHITESPACE
    Q = \operatorname{tr}\left(W_{1}^{\top} A W_{1}\right)
        - \operatorname{tr}\left(W_{2}^{\top} W_{2} A\right)
    """
    order, tau, roles = _law_notation(law)

    def latex(expr: object) -> str:
        return matrix_latex(expr, order=order, tau=tau)

    sub = rf"_{{\text{{{name}}}}}" if name else ""
    Q = roles["Q"][0]
    rows = [
        Row(rf"\psi{sub}_{{{latex(layer)}}}" if not sub else rf"(\psi{sub})_{{{latex(layer)}}}",
            (latex(psi),))
        for layer, psi in zip(law.system.layers, law.generator, strict=True)
    ]  # fmt: skip
    if tau is not None:
        rows.append(Row(r"\tau", (latex(tau),), "damping time"))
    charge = f"{Q}{sub}"
    rows.append(Row(charge, (latex(law.charge),)))
    for constant, matrix in getattr(law, "matrix_charges", {}).items():
        shown = latex(constant)
        note = f"{roles['Q'][1]} = tr({constant}ᵀ C_{constant})"
        rows.append(Row(f"C_{{{shown}}}", (latex(matrix),), note))
    rate = rf"\frac{{d{charge}}}{{dt}}"
    broken = "broken by " + " and ".join(broken_by(law))
    if law.conserved:
        rows.append(Row(rate, ("0",), "conserved"))
    elif law.order == 1:
        rows.append(Row(rate, (latex(law.rate),), broken + " (gradient flow)"))
    else:
        kinetic, potential = (rf"\dot{{{Q}}}^{{\mathrm{{{k}}}}}{sub}" for k in ("kin", "pot"))
        causes = [c for c in broken_by(law) if c != "kinetic term"]
        note = "breaking by the " + " and ".join(causes) if causes else "symmetry of the loss"
        rows += [
            Row(rate, (f"{kinetic} + {potential}",), broken),
            Row(kinetic, (latex(law.kinetic_breaking),), "kinetic symmetry breaking"),
            Row(potential, (latex(law.potential_breaking),), note),
        ]
    if getattr(law, "almost_everywhere", False):
        rows.append(Row("", (r"\text{the law holds almost everywhere}",), rel=""))
    if getattr(law, "verification", ""):  # a tag does not wrap: a few short ones
        for chunk in textwrap.wrap(f"verified by {law.verification}", NOTE_WIDTH):
            rows.append(Row("", ("",), chunk, rel=""))
    return rows


def matrix_law_text(law: object) -> str:
    """The plain text of a matrix-level Noether law (its ``__str__``), fields as
    :func:`matrix_law_rows`.

    Examples
    --------
    >>> import sympy as sp, symnoether as sn
    >>> W1, W2 = sn.layers(W1=(3, 2), W2=(2, 3))
    >>> gd = sn.rules.gradient_descent(sp.Symbol("eta", positive=True))
    >>> gd = sn.LearningSystem((W1, W2), sp.Trace(W2 * W1 * W1.T * W2.T), rule=gd)
    >>> A = sp.MatrixSymbol("A", 3, 3)
    >>> print(matrix_law_text(sn.noether(gd, (A * W1, -W2 * A))).splitlines()[3])
      charge                Q = (eta/2) e^{t/τ} [tr(Ẇ1ᵀ A W1) − tr(Ẇ2ᵀ W2 A)]
    """
    order, tau, roles = _law_notation(law)

    def text(expr: object) -> str:
        return matrix_text(expr, order=order, tau=tau)

    Q = roles["Q"][1]
    psi = ", ".join(
        f"ψ_{layer.name} = {text(g)}" for layer, g in zip(law.system.layers, law.generator)
    )
    rows: list[tuple[str, object]] = [("generator", psi)]
    if tau is not None:
        rows.append(("damping", f"τ = {sp.sstr(tau)}"))
    rows.append(("charge", f"{Q} = {text(law.charge)}"))
    for constant, matrix in getattr(law, "matrix_charges", {}).items():
        rows.append(("  as a matrix", f"{Q} = tr({constant.name}ᵀ C), C = {text(matrix)}"))
    rows += [("rate", f"d{Q}/dt = {text(law.rate)}")]
    if law.order == 2:
        rows += [
            ("  kinetic breaking", text(law.kinetic_breaking)),
            ("  potential breaking", text(law.potential_breaking)),
        ]
    status = "yes" if law.conserved else "no, broken by " + " and ".join(broken_by(law))
    rows.append(("conserved", status))
    if getattr(law, "almost_everywhere", False):
        rows.append(("holds", "almost everywhere (DiracDelta terms vanish off a null set)"))
    if getattr(law, "verification", ""):
        rows.append(("verified by", law.verification))
    rule = law.system.rule.name if law.system.rule is not None else "hand-written kinetic"
    return table_text(
        f"Noether's learning dynamics, matrix level ({rule}, order {law.order})", rows
    )


def matrix_system_rows(system: object) -> list[Row]:
    r"""Layers and their shapes, data, V, the mass m·I, T, τ and L of a ``MatrixSystem``
    (read by ``layers``, ``shapes``, ``data``, ``potential``, ``regularizers``, ``mass``,
    ``kinetic``, ``tau``, ``order``).

    Examples
    --------
    >>> import sympy as sp, symnoether as sn
    >>> (W,) = sn.layers(W=(2, 3))
    >>> flow = sn.LearningSystem((W,), sp.Trace(W.T * W) / 2, rule=sn.rules.gradient_flow())
    >>> for row in matrix_system_rows(flow):
    ...     print(row.lhs, row.rel, *row.rhs)
    \text{layers} : W \in \mathbb{R}^{2\times 3}
    V = \frac{1}{2} \operatorname{tr}\left(W^{\top} W\right)
    \mathbf{G} = I
    """
    order, tau, roles = _law_notation(system)

    def latex(expr: object) -> str:
        return matrix_latex(expr, order=order, tau=tau)

    shapes = ", ".join(
        rf"{latex(W)} \in \mathbb{{R}}^{{{r}\times {c}}}"
        for W, (r, c) in zip(system.layers, system.shapes, strict=True)
    )
    rows = [Row(r"\text{layers}", (shapes,), rel=":")]
    if system.data:
        rows.append(Row(r"\text{data}", (", ".join(map(latex, system.data)),), rel=":"))
    names = ", ".join(str(r.name).replace("_", " ") for r in system.regularizers)
    V, T = roles["V"][0], roles["T"][0]
    rows.append(Row(V, (latex(system.potential),), f"loss + {names}" if names else "loss"))
    identity = "I" if system.mass == 1 else rf"{latex(system.mass)}\, I"
    if system.order == 1:
        rows.append(Row(r"\mathbf{G}", (identity,), "metric, on every layer"))
        return rows
    rows.append(Row(r"\mathbf{M}", (identity,), "mass matrix, on every layer"))
    rows.append(Row(T, (latex(system.kinetic),), "kinetic term"))
    if tau is not None:
        rows.append(Row(r"\tau", (latex(tau),), "damping time"))
        rows.append(Row(roles["L"][0], (rf"e^{{t/\tau}} \left({T} - {V}\right)",)))
    else:
        rows.append(Row(roles["L"][0], (f"{T} - {V}",), "no damping"))
    return rows


def matrix_equation_rows(equations: object) -> list[Row]:
    r"""One row per layer, :math:`m \ddot{W}_B = F_B` (:math:`m \dot{W}_B = F_B` for
    gradient flow), of a ``MatrixEquationsOfMotion`` (``system``, ``order``, ``mass``,
    ``forcing``).

    Examples
    --------
    >>> import sympy as sp, symnoether as sn
    >>> (W,) = sn.layers(W=(2, 3))
    >>> flow = sn.LearningSystem((W,), sp.Trace(W.T * W) / 2, rule=sn.rules.gradient_flow())
    >>> print(*matrix_equation_rows(sn.equations_of_motion(flow))[0].rhs)
    -W
    """
    order, tau, _ = _law_notation(equations)
    m = "" if equations.mass == 1 else matrix_latex(equations.mass) + " "
    rows = []
    for W, force in zip(equations.system.layers, equations.forcing, strict=True):
        name = velocity(sp.Symbol(W.name)).name
        name = name.replace("dot", "ddot", 1) if equations.order == 2 else name
        lhs = m + matrix_latex(sp.MatrixSymbol(name, *W.shape))
        rows.append(Row(lhs, (matrix_latex(force, order=order, tau=tau),)))
    return rows
