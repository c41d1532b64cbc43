r"""One notation for every output: plain text, ``_repr_latex_`` and the exported documents.

The result objects print through this module, and so does the export
(:mod:`symnoether.io.export`), which adds line breaking and document structure
on top of the same rows. The conventions:

* an entry of a coordinate matrix ``U`` is :math:`U_{11}` (velocity
  :math:`\dot U_{11}`); of a matrix whose name carries an index, ``W1``, it is
  :math:`(W_{1})_{12}`; plain text uses the symbol names (``U_11``, ``Udot_11``);
* a scalar multiple of the identity prints as :math:`\frac{\eta}{2} I_{12}`
  (text ``(eta/2)·I_12``), a larger diagonal matrix as :math:`\operatorname{diag}(\dots)`;
* the damping factor of a damped system, and its powers, print as
  :math:`e^{t/\tau}`, :math:`e^{2t/\tau}` (τ is shown with it); every other
  exponential in the same inline form :math:`e^{2 t/\eta}`;
* the potential, kinetic term, Lagrangian, charge, mass matrix and metric are
  :math:`V, T, L, Q, \mathbf{M}, \mathbf{G}`, written :math:`\mathcal{V}`
  (text ``𝒱``) and so on when a coordinate, data symbol or hyper-parameter
  already has that letter for a name (matrix factorization with factors U, V).

The results call :func:`table_text`, :func:`text` and :class:`Notation` from
``__str__`` and ``_repr_latex_`` (the rows each result shows are built in
:mod:`symnoether.core.typeset`); objects are used by their attributes only, so
this module imports nothing else of the package.

Examples
--------
>>> import sympy as sp
>>> x = sp.Symbol("x")
>>> print(aligned_latex([("Q", x**2)]))
$$\begin{aligned}
Q &= x^{2}
\end{aligned}$$
>>> eta = sp.Symbol("eta", positive=True)
>>> print(Notation().latex(eta / 2 * sp.eye(12)), "|", text(eta / 2 * sp.eye(12)))
\frac{\eta}{2} I_{12} | (eta/2)·I_12
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sympy as sp
from sympy.printing.conventions import split_super_sub
from sympy.printing.latex import LatexPrinter, translate
from sympy.printing.str import StrPrinter

__all__ = [
    "aligned_latex",
    "table_text",
    "vector_text",
    "vector_latex",
    "text",
    "Notation",
    "symbol_names",
    "role_names",
    "scalar_identity",
    "entry_name",
    "bold",
]

MAX_MATRIX_SIDE = 12
"""Larger matrices are shown by their shape (or as c·I, diag(…)), not entry by entry."""

MIN_DIAGONAL_SIDE = 4
"""Square diagonal matrices from this size on print as diag(…)."""

TAU = r"e^{t/\tau}"
ROLES = {"V": "𝒱", "T": "𝒯", "L": "ℒ", "Q": "𝒬", "M": "ℳ", "G": "𝒢"}
"""Letters of the mechanics, with the script letter used when a symbol of the system
already has that name."""


# -- simple tables and vectors --------------------------------------------------------


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
    return "(" + ", ".join(text(e) for e in entries) + ")"


def vector_latex(entries: Iterable[object], notation: Notation | None = None) -> str:
    r"""A LaTeX row vector ``\left(a, b\right)`` (in ``notation`` when given)."""
    notation = notation or Notation()
    return r"\left(" + ", ".join(notation.latex(e) for e in entries) + r"\right)"


def text(expr: object) -> str:
    """Plain text of ``expr``: SymPy's string form, with c·I_n and diag(…) for matrices.

    Examples
    --------
    >>> import sympy as sp
    >>> print(text(sp.eye(3)), text(sp.diag(1, 2, 3, 4)), text(sp.Matrix([[1, 2]])))
    I_3 diag(1, 2, 3, 4) Matrix([[1, 2]])
    """
    return expr if isinstance(expr, str) else _TextPrinter().doprint(expr)


def _latex(value: object) -> str:
    return value if isinstance(value, str) else sp.latex(value)


def _text(value: object) -> str:
    return value if isinstance(value, str) else text(value)


# -- matrices -------------------------------------------------------------------------


def scalar_identity(matrix: object) -> sp.Expr | None:
    """c when ``matrix`` is c·I (square, at least 2×2), else None.

    Examples
    --------
    >>> import sympy as sp
    >>> scalar_identity(sp.Symbol("eta") / 2 * sp.eye(3)), scalar_identity(sp.diag(1, 2))
    (eta/2, None)
    """
    if not isinstance(matrix, sp.MatrixBase) or matrix.rows != matrix.cols or matrix.rows < 2:
        return None
    first = matrix[0, 0]
    for i in range(matrix.rows):
        for j in range(matrix.cols):
            entry = matrix[i, j]
            expected = first if i == j else 0
            if entry != expected and sp.expand(entry - expected) != 0:
                return None
    return first


def _diagonal(matrix: sp.MatrixBase) -> list | None:
    if matrix.rows != matrix.cols or matrix.rows < MIN_DIAGONAL_SIDE:
        return None
    off = (matrix[i, j] for i in range(matrix.rows) for j in range(matrix.cols) if i != j)
    return None if any(e != 0 for e in off) else [matrix[i, i] for i in range(matrix.rows)]


class _TextPrinter(StrPrinter):
    def _print_MatrixBase(self, expr: sp.MatrixBase) -> str:
        c = scalar_identity(expr)
        if c is not None:
            size = f"I_{expr.rows}"
            if c == 1:
                return size
            shown = self._print(c)
            return f"{shown}·{size}" if c.is_Atom else f"({shown})·{size}"
        diagonal = _diagonal(expr)
        if diagonal is not None:
            return "diag(" + ", ".join(self._print(d) for d in diagonal) + ")"
        return super()._print_MatrixBase(expr)


class _LatexPrinter(LatexPrinter):
    """SymPy's LaTeX with the notation's names, c·I, diag(…) and inline exponents."""

    def __init__(self, names: dict, tau: sp.Expr | None, time: sp.Symbol | None):
        super().__init__({"symbol_names": names})
        self._tau, self._time = tau, time

    def _print_ExpBase(self, expr: sp.Expr, exp: object = None) -> str:
        return self._do_exponent(f"e^{{{self._exponent(expr.args[0])}}}", exp)

    def _exponent(self, argument: sp.Expr) -> str:
        if self._tau is not None and self._time in argument.free_symbols:
            ratio = sp.cancel(argument * self._tau / self._time)
            if ratio.is_Rational and ratio != 0:
                return _tau_multiple(ratio)
        saved = self._settings["fold_short_frac"]
        self._settings["fold_short_frac"] = True
        try:
            return self._print(argument).replace(" / ", "/")
        finally:
            self._settings["fold_short_frac"] = saved

    def _print_MatrixBase(self, expr: sp.MatrixBase) -> str:
        c = scalar_identity(expr)
        if c is not None:
            size = f"I_{{{expr.rows}}}"
            if c == 1:
                return size
            if c == 0:
                return rf"0_{{{expr.rows}\times{expr.cols}}}"
            shown = self._print(c)
            return (
                f"{shown} {size}" if not isinstance(c, sp.Add) else rf"\left({shown}\right) {size}"
            )
        diagonal = _diagonal(expr)
        if diagonal is not None:
            entries = ", ".join(self._print(d) for d in diagonal)
            return rf"\operatorname{{diag}}\left({entries}\right)"
        if max(expr.shape) > MAX_MATRIX_SIDE:
            return rf"\text{{({expr.rows}$\times${expr.cols} matrix)}}"
        return super()._print_MatrixBase(expr)


def _tau_multiple(ratio: sp.Rational) -> str:
    """t/τ times a rational: ``t/\\tau``, ``-2t/\\tau``, ``t/(2\\tau)``."""
    sign = "-" if ratio < 0 else ""
    p, q = abs(ratio.p), ratio.q
    top = "t" if p == 1 else f"{p}t"
    return f"{sign}{top}/\\tau" if q == 1 else f"{sign}{top}/({q}\\tau)"


# -- names ----------------------------------------------------------------------------


def symbol_names(system: object) -> dict[sp.Symbol, str]:
    r"""LaTeX names of the matrix-coordinate entries of ``system``, with their velocities
    and accelerations: ``U_12`` → ``U_{12}``, ``Udot_12`` → ``\dot{U}_{12}``; ``W1_12`` →
    ``(W_{1})_{12}``, ``(\dot{W}_{1})_{12}``, ``(\ddot{W}_{1})_{12}``.

    Examples
    --------
    >>> import symnoether as sn
    >>> U, W1 = sn.matrix_coordinates("U", 1, 2), sn.matrix_coordinates("W1", 1, 1)
    >>> system = sn.LearningSystem((U, W1), (U[0] * W1[0] - 1) ** 2, rule=sn.rules.gradient_flow())
    >>> sorted(symbol_names(system).values())[:4]
    ['(W_{1})_{11}', '(\\ddot{W}_{1})_{11}', '(\\dot{W}_{1})_{11}', 'U_{11}']
    """
    names: dict[sp.Symbol, str] = {}
    speeds = dict(zip(system.coords, system.velocities, strict=True))
    for name, block in system.blocks:
        if not isinstance(block, sp.MatrixBase):
            continue
        rows, cols = block.shape
        comma = "," if max(rows, cols) >= 10 else ""
        for i in range(rows):
            for j in range(cols):
                index = f"{i + 1}{comma}{j + 1}"
                speed = speeds[block[i, j]]
                # the engine's acceleration symbols (dynamics.accelerations): wdot1 → wddot1
                accel = sp.Symbol(speed.name.replace("dot", "ddot", 1), real=True)
                for symbol, accent in ((block[i, j], ""), (speed, r"\dot"), (accel, r"\ddot")):
                    names[symbol] = entry_name(name, index, accent)
    return names


def entry_name(name: str, index: str, accent: str = "") -> str:
    r"""Entry ``index`` of the matrix ``name``: ``U_{12}``, ``(W_{1})_{12}``, ``\dot{U}_{12}``.

    Examples
    --------
    >>> print(entry_name("U", "12"), entry_name("W1", "12", r"\dot"), entry_name("theta", "1"))
    U_{12} (\dot{W}_{1})_{12} \theta_{1}
    """
    base, supers, subs = split_super_sub(name)
    if supers or subs:
        return f"({decorated(name, accent)})_{{{index}}}"
    return f"{decorated(name, accent)}_{{{index}}}"


def decorated(name: str, accent: str = "", style: str = "") -> str:
    r"""``name`` in LaTeX with an accent (``\dot``) and a style (``\mathbf``) on its base."""
    base, supers, subs = split_super_sub(name)
    core = translate(base)
    if style:
        core = rf"{style}{{{core}}}"
    if accent:
        core = rf"{accent}{{{core}}}"
    if subs:
        core += "_{" + " ".join(translate(s) for s in subs) + "}"
    if supers:
        core += "^{" + " ".join(translate(s) for s in supers) + "}"
    return core


def bold(name: str) -> str:
    r"""A declared vector or matrix name in bold: ``W1`` → ``\mathbf{W}_{1}``.

    Examples
    --------
    >>> print(bold("W1"), bold("theta"))
    \mathbf{W}_{1} \boldsymbol{\theta}
    """
    base = split_super_sub(name)[0]
    style = r"\mathbf" if base.isascii() and translate(base) == base else r"\boldsymbol"
    return decorated(name, "", style)


def role_names(system: object | None) -> dict[str, tuple[str, str]]:
    r"""The letter → (LaTeX, text) of V, T, L, Q, M, G in ``system``'s outputs: the
    letter itself, or its script form when a symbol of the system is named by it.

    Examples
    --------
    >>> import symnoether as sn
    >>> U, V = sn.matrix_coordinates("U", 1, 2), sn.matrix_coordinates("V", 1, 2)
    >>> system = sn.LearningSystem((U, V), ((U * V.T)[0] - 1) ** 2, rule=sn.rules.gradient_flow())
    >>> role_names(system)["V"], role_names(system)["T"]
    (('\\mathcal{V}', '𝒱'), ('T', 'T'))
    """
    taken: set[str] = set()
    if system is not None:
        for name, block in system.blocks:
            taken.add(split_super_sub(name if isinstance(block, sp.MatrixBase) else block.name)[0])
        for symbol in (*system.data, *system.hyperparameters):
            taken.add(split_super_sub(symbol.name)[0])
    return {
        letter: (rf"\mathcal{{{letter}}}", script) if letter in taken else (letter, letter)
        for letter, script in ROLES.items()
    }


# -- the notation of one system ----------------------------------------------------------


class Notation:
    r"""How the expressions of one learning system print (LaTeX and plain text).

    Parameters
    ----------
    system : LearningSystem, optional
        Its matrix-coordinate blocks, damping factor and symbol names set the notation.

    Examples
    --------
    >>> import sympy as sp, symnoether as sn
    >>> W = sn.matrix_coordinates("W1", 1, 2)
    >>> eta = sp.Symbol("eta", positive=True)
    >>> s = sn.LearningSystem((W,), (W[0] * W[1] - 1) ** 2, rule=sn.rules.gradient_descent(eta))
    >>> note = Notation(s)
    >>> print(note.latex(W[0] * s.velocities[1]))
    (W_{1})_{11} (\dot{W}_{1})_{12}
    >>> print(note.damped_latex(s.damping_factor * (W[0] - W[1])))
    e^{t/\tau} \left((W_{1})_{11} - (W_{1})_{12}\right)
    >>> print(note.latex(sp.exp(-4 * sn.TIME / eta)), note.latex(sp.exp(sn.TIME / eta)))
    e^{-2t/\tau} e^{t/(2\tau)}
    """

    def __init__(self, system: object | None = None):
        self.system = system
        entries = system is not None and hasattr(system, "coords")  # not a matrix-level system
        self.names = symbol_names(system) if entries else {}
        self.roles = role_names(system if entries else None)
        damped = system is not None and system.order == 2 and system.tau != sp.oo
        self.factor = system.damping_factor if damped else None
        self.tau = system.tau if damped else None
        self.time = system.time if system is not None else None
        self._printer = _LatexPrinter(self.names, self.tau, self.time)

    def latex(self, expr: object) -> str:
        """LaTeX of ``expr`` in this notation (a string is returned as it is)."""
        if isinstance(expr, str):
            return expr
        return self._printer.doprint(sp.sympify(expr))

    def text(self, expr: object) -> str:
        """Plain text of ``expr`` (:func:`text`)."""
        return text(expr)

    def role(self, letter: str) -> str:
        r"""The LaTeX of V, T, L, Q, M or G here (``\mathcal{V}`` when V is taken)."""
        return self.roles[letter][0]

    def role_text(self, letter: str) -> str:
        """The plain-text form of :meth:`role` (``𝒱`` when V is taken)."""
        return self.roles[letter][1]

    def bold_role(self, letter: str) -> str:
        r"""``\mathbf{M}``, or ``\mathcal{M}`` when M is taken."""
        shown = self.role(letter)
        return shown if shown != letter else rf"\mathbf{{{letter}}}"

    def label(self, words: str) -> str:
        r"""``words`` as ``\text{…}`` (LaTeX's special characters escaped)."""
        escaped = "".join(_ESCAPES.get(ch, ch) for ch in str(words))
        return rf"\text{{{escaped}}}"

    def undamped(self, expr: sp.Expr) -> sp.Expr | None:
        """``expr`` / e^{t/τ} when that is free of t (None when it is not, or no damping)."""
        if self.factor is None:
            return None
        expr = sp.sympify(expr)
        parts = [sp.powsimp(term / self.factor) for term in sp.Add.make_args(expr)]
        if any(self.time in part.free_symbols for part in parts):
            return None
        return sp.Add(*parts)

    def damped_latex(self, expr: sp.Expr) -> str:
        r"""``expr`` as :math:`e^{t/\tau}(\dots)` when it is the damping factor times a
        function free of t; otherwise as :meth:`latex`."""
        core = self.undamped(expr)
        if core is None:
            return self.latex(expr)
        if core == 0:
            return "0"
        if core == 1:
            return TAU
        if isinstance(core, sp.Add):
            return rf"{TAU} \left({self.latex(core)}\right)"
        if _is_negative(core):
            return f"- {TAU} {self.latex(-core)}"
        return f"{TAU} {self.latex(core)}"


_ESCAPES = {"_": r"\_", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "{": r"\{", "}": r"\}"}


def _is_negative(term: sp.Expr) -> bool:
    coefficient, _ = term.as_coeff_Mul()
    return bool(coefficient.is_extended_negative)
