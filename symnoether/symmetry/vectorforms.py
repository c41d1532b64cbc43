r"""Vector forms of conservation laws, and every form of a conserved subspace.

* **Per-unit rescalings** — single generators ψ = D q, D diagonal with entries ±1, one per
  hidden unit j (a ReLU network): under gradient flow the charge of each is
  ½(|w_in,j|² + b_j² − |w_out,j|²), and the form is the vector
  (|w_in,j|² + b_j² − |w_out,j|²)_j, written with one j when every unit has the same
  parts (row j of W1, b_j, column j of W2); likewise all-positive D (scalings before a
  normalization): (|w_j|²)_j. Shown for two or more units on disjoint coordinates.
* **Translations** — constant generators t (a softmax's shift along 𝟙): the vector of
  their charges t·q (gradient flow) or t·q̇ (second order, up to e^{t/τ}·m), e.g.
  (𝟙ᵀW, 𝟙ᵀb) for softmax regression.

:func:`charge_forms` gathers these and the matrix families'
(:mod:`~symnoether.symmetry.matrixforms`). Each entry is checked against the proved
charge of its direction, which must lie in the conserved subspace.

Examples
--------
>>> import symnoether as sn
>>> from symnoether import models
>>> relu = models.relu_network(2, 2).system(sn.rules.gradient_flow())
>>> (form,) = sn.conservation_laws(relu).forms
>>> form.formula
'|W[j,:]|^2 + b_j^2 - a_j^2 for j = 1..2'
>>> form.matrix[0]
W_11**2 + W_12**2 - a1**2 + b1**2
"""

from __future__ import annotations

import re

import sympy as sp

from ..budget import check
from ..core.system import LearningSystem
from .matrixforms import ChargeForm, FormContext, matrix_family_forms, named
from .members import Symmetry, TranslationModule, as_matrix, block_shape

__all__ = ["charge_forms"]


def charge_forms(system: LearningSystem, algebra: object, conserved: list, law_of) -> tuple:
    """The :class:`ChargeForm` of every family whose conserved directions span what its
    form needs: matrix families, cross pairs, per-unit rescalings, translations."""
    context = FormContext(system, algebra, [list(v) for v in conserved], law_of)
    forms = matrix_family_forms(context)
    forms += _unit_forms(context)
    translations = _translation_form(context)
    if translations is not None:
        forms.append(translations)
    return tuple(forms)


# -- per-unit rescalings ----------------------------------------------------------------


def _unit_forms(context: FormContext) -> list:
    """Under gradient flow, the conserved diagonal generators ψ = D q (D = ±d on its
    support) that are single members of the algebra: one vector per kind ('rescale':
    |w_in,j|² − |w_out,j|², 'scale': |w_j|²), when there are two or more units. Each
    entry is 2/d times its charge, d the coefficient of the unit's first coordinate (so
    the first block's part counts positive). The units must move disjoint coordinates."""
    system, algebra = context.system, context.algebra
    if system.order != 1:
        return []
    units: dict = {"rescale": [], "scale": []}
    for member in algebra.generators:
        if member.kind not in units:
            continue
        check()
        vector = tuple(int(k == algebra._start(member)) for k in range(algebra.dimension))
        signs = _diagonal_signs(member, system.coords)
        charge = context.charge(vector) if signs else None
        if charge is None:
            continue
        scale = next(iter(signs.values()))  # the first coordinate's part counts positive
        entry = sp.expand(sum(sp.sign(d / scale) * q**2 for q, d in signs.items()))
        if sp.expand(2 * charge / scale - entry) != 0:
            continue
        units[member.kind].append(({q: d / scale for q, d in signs.items()}, entry))
    forms = []
    for kind, found in units.items():
        supports = [set(signs) for signs, _ in found]
        if len(found) < 2 or sum(map(len, supports)) != len(set().union(*supports)):
            continue  # not units: two generators share a coordinate
        described = [_unit_parts(signs, system.blocks) for signs, _ in found]
        name = "rescalings per unit" if kind == "rescale" else "scalings per unit"
        plain, latex, order = _unit_formula(described)
        values = [found[k][1] for k in order]
        forms.append(ChargeForm(name, plain, latex, sp.ImmutableMatrix(values)))
    return forms


def _diagonal_signs(member: Symmetry, coords: tuple) -> dict | None:
    """{q: d} for ψ = D q with D diagonal and all |d| equal, else None."""
    out = {}
    for q, value in zip(coords, member.generator, strict=True):
        if value == 0:
            continue
        d = sp.cancel(value / q)
        if not d.is_Rational:
            return None
        out[q] = d
    if not out or len({abs(d) for d in out.values()}) != 1:
        return None
    return out


def _unit_parts(signs: dict, blocks: tuple) -> list:
    """The support of a unit as (sign, part) per block: part = (kind, block name, index)
    with kind 'scalar', 'row', 'column', 'index' (of a vector block), 'whole' or 'entry'."""
    out = []
    for name, block in blocks:
        matrix = as_matrix(block)
        rows, cols = block_shape(block)
        for sign in (1, -1):
            cells = {(i, j) for i in range(rows) for j in range(cols)
                     if matrix[i, j] in signs and sp.sign(signs[matrix[i, j]]) == sign}  # fmt: skip
            for part in _cover(name, block, cells, rows, cols):
                out.append((sign, part))
    return out


def _cover(name: str, block: object, cells: set, rows: int, cols: int) -> list:
    """``cells`` of a block as whole / rows / columns / single entries."""
    if not cells:
        return []
    if not isinstance(block, sp.MatrixBase | sp.MatrixExpr):
        return [("scalar", name, None)]
    if rows == 1 or cols == 1:
        if len(cells) == rows * cols and rows * cols > 1:
            return [("vector", name, None)]
        return [("index", name, max(i, j)) for i, j in sorted(cells)]
    if len(cells) == rows * cols:
        return [("whole", name, None)]
    out, left = [], set(cells)
    for i in range(rows):
        row = {(i, j) for j in range(cols)}
        if row <= left:
            out.append(("row", name, i))
            left -= row
    for j in range(cols):
        column = {(i, j) for i in range(rows)}
        if column <= left:
            out.append(("column", name, j))
            left -= column
    out += [("entry", name, cell) for cell in sorted(left)]
    return out


def _unit_formula(described: list) -> tuple:
    """(plain, LaTeX, order of the units) for the vector of unit charges: one formula in
    j when every unit has the same parts indexed by its own j, else the list."""
    indices = [_unit_index(parts) for parts in described]
    shapes = [_generic(parts) for parts in described]
    uniform = None not in indices and len(set(indices)) == len(indices) and len(set(shapes)) == 1
    if uniform:
        order = sorted(range(len(indices)), key=lambda k: indices[k])
        js = [indices[k] for k in order]
        plain = _unit_text(described[0], latex=False, j="j")
        latex = _unit_text(described[0], latex=True, j="j")
        if js == list(range(1, len(js) + 1)):
            return (
                f"{plain} for j = 1..{len(js)}",
                rf"\left({latex}\right)_{{j=1}}^{{{len(js)}}}",
                order,
            )
        listed = ", ".join(map(str, js))
        return (
            f"{plain} for j in ({listed})",
            rf"\left({latex}\right)_{{j \in \{{{listed}\}}}}",
            order,
        )
    order = list(range(len(described)))
    plain = ", ".join(_unit_text(parts, latex=False) for parts in described)
    latex = r",\ ".join(_unit_text(parts, latex=True) for parts in described)
    return f"({plain})", rf"\left({latex}\right)", order


_SUFFIX = re.compile(r"^(.*?)_?(\d+)$")


def _part_index(part: tuple) -> int | None:
    kind, name, index = part
    if kind in ("row", "column", "index"):
        return index + 1
    if kind == "scalar":
        match = _SUFFIX.match(name)
        return int(match.group(2)) if match and match.group(1) else None
    return None


def _unit_index(parts: list) -> int | None:
    """The hidden unit j every part of a unit points at, or None."""
    found = {_part_index(part) for _, part in parts}
    return found.pop() if len(found) == 1 and None not in found else None


def _generic(parts: list) -> tuple:
    """A unit's parts without its index (units of one family compare equal)."""
    out = []
    for sign, (kind, name, _) in parts:
        match = _SUFFIX.match(name) if kind == "scalar" else None
        out.append((sign, kind, match.group(1) if match else name))
    return tuple(out)


def _unit_text(parts: list, latex: bool, j: str | None = None) -> str:
    text = ""
    for sign, part in parts:
        squared = _squared(part, latex, j)
        text += (
            (" - " if sign < 0 else " + ") + squared
            if text
            else ("-" if sign < 0 else "") + squared
        )
    return text


def _squared(part: tuple, latex: bool, j: str | None) -> str:
    kind, name, _ = part
    shown = _part_text(part, latex, j)
    if kind in ("scalar", "index", "entry"):
        return f"{shown}^{{2}}" if latex else f"{shown}^2"
    return rf"\lVert {shown} \rVert^{{2}}" if latex else f"|{shown}|^2"


def _part_text(part: tuple, latex: bool, j: str | None = None, dot: bool = False) -> str:
    """One part of a block (a row W[j,:], a scalar b_j, …) in plain text or LaTeX."""
    kind, name, index = part
    if kind == "scalar":
        match = _SUFFIX.match(name)
        if j is not None and match and match.group(1):
            prefix = match.group(1).rstrip("_")
            base = sp.latex(sp.Symbol(prefix)) if latex else prefix
            base = (rf"\dot{{{base}}}" if latex else f"{base}dot") if dot else base
            return f"{base}_{{{j}}}" if latex else f"{base}_{j}"
        return named(name, latex, dot)
    base = named(name, latex, dot)
    if kind in ("whole", "vector"):
        return base
    if kind == "entry":
        i, k = index
        return f"{base}_{{{i + 1}{k + 1}}}" if latex else f"{base}[{i + 1},{k + 1}]"
    shown = j if j is not None else str(index + 1)
    if latex:
        base = f"({base})" if "_" in base or "^" in base else base
        sub = {"row": f"{shown},:", "column": f":,{shown}", "index": shown}[kind]
        return f"{base}_{{{sub}}}"
    sub = {"row": f"[{shown},:]", "column": f"[:,{shown}]", "index": f"[{shown}]"}[kind]
    return base + sub


# -- translations -----------------------------------------------------------------------


def _translation_form(context: FormContext) -> ChargeForm | None:
    """The vector of the conserved translations' charges t·q (gradient flow) or t·q̇
    (second order), each t a translation of the algebra's module or a single member."""
    system, algebra = context.system, context.algebra
    n = algebra.dimension
    candidates = []
    for member in algebra.members:
        start = algebra._start(member)
        if isinstance(member, TranslationModule):
            candidates += [(t, start + k) for k, t in enumerate(member.translations)]
        elif isinstance(member, Symmetry) and member.kind == "translation":
            candidates.append((member, start))
    moving = dict(zip(system.coords, system.velocities, strict=True))
    entries = []
    for translation, index in candidates:
        check()
        charge = context.charge(tuple(int(k == index) for k in range(n)))
        if charge is None:
            continue
        shift = dict(zip(system.coords, translation.generator, strict=True))
        over = {q: moving[q] for q in shift} if system.order == 2 else {q: q for q in shift}
        value = sp.expand(sum(c * over[q] for q, c in shift.items() if c))
        if sp.expand(charge - value) != 0:
            continue
        entries.append((shift, value))
    if not entries:
        return None
    parts = [(_sum_parts(shift, system.blocks), value) for shift, value in entries]
    dot = system.order == 2
    merged = _merged(parts, {name: block_shape(block) for name, block in system.blocks})
    plain = ", ".join(_sum_text(p, False, dot) if p else sp.sstr(v) for p, v in merged)
    latex = r",\ ".join(_sum_text(p, True, dot) if p else sp.latex(v) for p, v in merged)
    values = sp.ImmutableMatrix([value for _, value in entries])
    return ChargeForm("translations", f"({plain})", rf"\left({latex}\right)", values)


def _sum_parts(shift: dict, blocks: tuple) -> list | None:
    """The support of a translation with all coefficients 1, as block parts (scalars of one
    prefix grouped as a vector), or None."""
    if any(c not in (0, 1) for c in shift.values()):
        return None
    parts = []
    for name, block in blocks:
        matrix = as_matrix(block)
        rows, cols = block_shape(block)
        cells = {(i, j) for i in range(rows) for j in range(cols) if shift.get(matrix[i, j]) == 1}
        parts += _cover(name, block, cells, rows, cols)
    scalars = [name for kind, name, _ in parts if kind == "scalar"]
    prefixes = {_prefix(name) for name in scalars}
    if len(scalars) > 1 and len(prefixes) == 1 and None not in prefixes:
        (prefix,) = prefixes
        family = [n for n, b in blocks if not isinstance(b, sp.MatrixBase | sp.MatrixExpr)
                  and _prefix(n) == prefix]  # fmt: skip
        if sorted(family) == sorted(scalars):
            parts = [p for p in parts if p[0] != "scalar"] + [("scalars", prefix, None)]
    return parts


def _prefix(name: str) -> str | None:
    match = _SUFFIX.match(name)
    return match.group(1).rstrip("_") if match and match.group(1) else None


def _merged(entries: list, shapes: dict) -> list:
    """``entries`` [(parts or None, value), …] with consecutive single-column (single-row)
    sums covering every column (row) of a block, in order, merged into 𝟙ᵀW (W𝟙)."""
    out: list = []
    k = 0
    while k < len(entries):
        part = entries[k][0]
        if part and len(part) == 1 and part[0][0] in ("row", "column") and part[0][2] == 0:
            kind, name, _ = part[0]
            run = k
            while run + 1 < len(entries) and entries[run + 1][0] == [(kind, name, run + 1 - k)]:
                run += 1
            count = run - k + 1
            extent = shapes[name][0] if kind == "row" else shapes[name][1]
            if count > 1 and count == extent:
                out.append(([(f"all {kind}s", name, None)], None))
                k = run + 1
                continue
        out.append(entries[k])
        k += 1
    return out


def _sum_text(parts: list, latex: bool, dot: bool) -> str:
    """A translation's charge as sums over block parts: 𝟙ᵀb, 𝟙ᵀW[:,k], W[i,:]𝟙, 𝟙ᵀW𝟙."""
    one = r"\mathbb{1}" if latex else "1"
    t, star = (r"^{\top}", " ") if latex else ("^T", "*")
    terms = []
    for part in parts:
        kind, name, _ = part
        if kind == "scalars":
            terms.append(f"{one}{t}{star}{named(name, latex, dot)}")
        elif kind in ("scalar", "entry", "index"):
            terms.append(_part_text(part, latex, dot=dot))
        elif kind in ("column", "vector", "all columns"):
            base = (
                named(name, latex, dot)
                if kind == "all columns"
                else _part_text(part, latex, dot=dot)
            )
            terms.append(f"{one}{t}{star}{base}")
        elif kind in ("row", "all rows"):
            base = (
                named(name, latex, dot) if kind == "all rows" else _part_text(part, latex, dot=dot)
            )
            terms.append(f"{base}{star}{one}")
        else:  # a whole matrix block
            terms.append(f"{one}{t}{star}{named(name, latex, dot)}{star}{one}")
    return " + ".join(terms)
