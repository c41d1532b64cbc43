r"""Present what a search found: a general basis as families where it has them, and a
structured result on every coordinate block (those the loss ignores left out).

The general search returns a basis of the whole algebra of affine symmetries in
reduced row-echelon form: correct, but cluttered. Two structures are common in
learning systems, and this module finds them, by exact linear algebra on the
generators' coefficients (:class:`~symnoether.symmetry.actions.Span`):

* **translations times affine functions** — when t is a constant symmetry, so is
  f(q)·t for every function f (f t·∇V = 0). The translations T are the
  generators with no linear part; with them come the n + 1 generators t and q_j·t
  each, one :class:`~symnoether.symmetry.members.TranslationModule` of dimension
  dim T·(n + 1) (a softmax's shift along 𝟙 of the logits);
* **gl(r) at a hidden interface** — for coordinate matrices W_a (r×·), W_b (·×r)
  and optionally a bias b_a (r×1), the r² generators ψ_{E_ij} = (E_ij W_a, E_ij b_a,
  −W_b E_ij) all in the span found: one
  :class:`~symnoether.symmetry.members.SymmetryFamily` (a linear network).

What is left is kept as single generators: original basis elements, chosen
greedily to complete a basis. The basis found numerically only guides the
grouping: every element presented is proved by the ``verify`` callback (each
translation t, each element of a gl(r) family, each remaining generator), and an
element f(q)·t of the module follows from its t by the identity above — which is
also why the module's n·dim T elements need no proof of their own.

Examples
--------
>>> import sympy as sp
>>> import symnoether as sn
>>> from symnoether.symmetry import find_symmetries
>>> w = sn.coordinates("w1:5")
>>> algebra = find_symmetries(1 / (w[0] ** 2 + w[1] ** 2) + sp.exp(w[2] - w[3]), w)
>>> print(algebra)
symmetry algebra of dimension 6 (general search)
  complete: all affine generators searched
  translations times affine functions (dimension 5): psi = f(q)*t, f affine in the 4
  coordinates, t in the span of
    translation_1 = (0, 0, 1, 1)
  rotation_1 [rotation]: psi = (w2, -w1, 0, 0)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from fractions import Fraction

import sympy as sp

from ..budget import check
from .actions import BlockAction, Span, action_vector, classify
from .members import Symmetry, SymmetryFamily, TranslationModule, block_shape
from .products import ProductFamily, propose

__all__ = ["present", "on_every_block", "translation_members"]

MODULE_NAME = "translations times affine functions"


def present(
    members: list,
    coords: tuple,
    factors: tuple,
    blocks: tuple,
    verify: Callable,
    translations: tuple = (),
) -> tuple:
    """The members of a general-search algebra: gl(r) families, then the translation
    module, then the remaining generators, each proved by ``verify``.

    Parameters
    ----------
    members : list of Symmetry
        The basis found apart from the translation module, each an action on the one
        column of ``coords`` (not yet proved: ``verify`` proves what is presented).
        Every member is zero at the pivot row of each translation: the search solved
        for them modulo the module (which holds every f(q)·t anyway).
    coords : tuple
        All coordinates, in order.
    factors : tuple
        The coordinates the generators' coefficients may depend on (those the loss uses).
    blocks : tuple
        The (name, block) pairs of the coordinates, where gl(r) families are looked for.
    verify : callable
        ``verify(symmetry)`` proves ψ·∇V ≡ 0 or raises.
    translations : tuple of Symmetry
        A basis of the translations in reduced row-echelon form (pivot 1), or empty.
    """
    if not members and not translations:
        return ()
    found = Span()
    for member in members:
        check()
        found.add(action_vector(member.action))
    chosen = Span()
    grouped: list = []

    def modulo(vector: dict) -> dict:
        return _modulo_module(vector, translations)

    families = _gl_families(found, coords, blocks, modulo)
    families += _product_families(found, coords, blocks, modulo, len(families))
    for family in families:
        trial = chosen.copy()
        elements = range(len(family))
        if all([trial.add(modulo(action_vector(family.flat_action(k)))) for k in elements]):
            for element in family:
                verify(element)
            chosen = trial
            grouped.append(family)
    for translation in translations:
        verify(translation)
    if translations:
        column = translations[0].blocks
        grouped.append(TranslationModule(MODULE_NAME, tuple(translations), factors, coords, column))
    rest = []
    for member in members:
        check()
        if chosen.add(action_vector(member.action)):
            verify(member)
            rest.append(member)
    return (*grouped, *_renamed(rest))


def _modulo_module(vector: dict, translations: tuple) -> dict:
    """``vector`` (an action on the column) minus its part in the translation module: the
    coefficients at each translation's pivot row moved onto that translation, so that the
    result is zero at every pivot row (how the search's members are written)."""
    out = dict(vector)
    for translation in translations:
        (shift,) = translation.action
        pivot = min(i for i, _ in shift.shift)
        for key in [k for k in out if k[2] == pivot]:
            c = out[key]
            _, label, _, j = key
            for (i, _), v in shift.shift.items():
                target = (0, label, i, j)
                value = out.get(target, 0) - c * v
                if value:
                    out[target] = value
                else:
                    out.pop(target, None)
    return out


def translation_members(vectors: list, coords: tuple, column: tuple) -> tuple:
    """The translations t (each {row: Fraction}, rref) as Symmetry objects on ``column``."""
    out = []
    for vector in vectors:
        shift = {(i, 0): Fraction(v) for i, v in vector.items()}
        action = (BlockAction(len(coords), 1, shift=shift),)
        name = f"translation_{len(out) + 1}"
        out.append(Symmetry(name, classify(action), coords, column, action))
    return tuple(out)


def _gl_families(found: Span, coords: tuple, blocks: tuple, modulo: Callable) -> list:
    """gl(r) at each interface W_a (r×·) → W_b (·×r), with or without a bias b_a (r×1),
    whose r² elements all lie in ``found`` (modulo the translation module)."""
    shapes = [block_shape(block) for _, block in blocks]
    names = [name for name, _ in blocks]
    out = []
    for a, (r, cols_a) in enumerate(shapes):
        for b, (_, cols_b) in enumerate(shapes):
            if a == b or cols_b != r or r < 2 or cols_a == 1:
                continue
            biases = [c for c, s in enumerate(shapes) if s == (r, 1) and c not in (a, b)]
            for left in ([a], *([a, c] for c in biases)):
                check()
                label = "+".join(names[k] for k in left)
                family = SymmetryFamily(
                    f"gl({r}) at {label} -> {names[b]}",
                    r,
                    coords,
                    blocks,
                    tuple(left),
                    b,
                    sp.MatrixSymbol(f"A{len(out) + 1}", r, r),
                )
                elements = (modulo(action_vector(family.flat_action(k))) for k in range(r * r))
                if all(found.contains(v) for v in elements):
                    out.append(family)
                    break
    return out


def _product_families(found: Span, coords: tuple, blocks: tuple, modulo: Callable, k: int) -> list:
    """The product families (:func:`~symnoether.symmetry.products.propose`) whose
    elements all lie in ``found`` (modulo the translation module); parameters numbered
    after the ``k`` gl(r) families."""
    shapes = [block_shape(block) for _, block in blocks]
    names = [name for name, _ in blocks]
    out: list = []

    def family(candidate: object) -> ProductFamily:
        letter = "A" if candidate.algebra == "gl" else "J"
        r = candidate.rank
        parameter = sp.MatrixSymbol(f"{letter}{k + len(out) + 1}", r, r)
        return ProductFamily(
            candidate.name,
            r,
            coords,
            blocks,
            candidate.terms,
            candidate.algebra,
            parameter,
            kind=candidate.kind,
        )

    def contained(candidate: object) -> bool:
        check()
        trial = family(candidate)
        if not all(
            found.contains(modulo(action_vector(trial.flat_action(e)))) for e in range(len(trial))
        ):
            return False
        out.append(trial)
        return True

    propose(shapes, names, contained)
    return out


def _renamed(rest: list) -> list:
    """Names ``kind_k`` counted among the generators that remain."""
    counts: dict = {}
    out = []
    for symmetry in rest:
        counts[symmetry.kind] = counts.get(symmetry.kind, 0) + 1
        out.append(dataclasses.replace(symmetry, name=f"{symmetry.kind}_{counts[symmetry.kind]}"))
    return out


def on_every_block(
    members: tuple, blocks: tuple, kept: list, ignored: tuple, coords: tuple
) -> tuple:
    """A structured result found on the blocks ``kept`` (indices into ``blocks``), put back
    on all ``blocks``: actions padded with None, family indices mapped, and generators
    that move only ``ignored`` coordinates (a whole ignored row or column) dropped."""
    out = []
    skipped = set(ignored)
    for member in members:
        if isinstance(member, SymmetryFamily):
            left = tuple(kept[k] for k in member.left_blocks)
            member = dataclasses.replace(
                member, blocks=blocks, left_blocks=left, right_block=kept[member.right_block]
            )
        elif isinstance(member, ProductFamily):
            terms = tuple((kept[t], kept[s], *rest) for t, s, *rest in member.terms)
            member = dataclasses.replace(member, blocks=blocks, terms=terms)
        else:
            action: list = [None] * len(blocks)
            for k, part in zip(kept, member.action, strict=True):
                action[k] = part
            member = dataclasses.replace(member, blocks=blocks, action=tuple(action))
            if skipped and set(_support(member)) <= skipped:
                continue
        out.append(dataclasses.replace(member, coords=coords))
    return tuple(out)


def _support(symmetry: Symmetry) -> list:
    """The coordinates a generator moves (explicit blocks only; else all of a block's)."""
    out = []
    for (_, block), part in zip(symmetry.blocks, symmetry.action, strict=True):
        if part is None:
            continue
        if isinstance(block, sp.MatrixSymbol):
            out.append(block)
            continue
        matrix = block if isinstance(block, sp.MatrixBase) else sp.Matrix([[block]])
        moved = part.apply(matrix)
        out.extend(q for q, v in zip(matrix, moved, strict=True) if v != 0)
    return out
