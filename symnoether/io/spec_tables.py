"""Declarations of a spec file: names, shapes, numbers, and the checks on TOML tables.

Private helper of :mod:`symnoether.io.specfile` (which documents the format):
:class:`Declarations` turns the ``[system]`` declarations, ``[parameters]`` and
``[constants]`` into SymPy symbols and matrices, and checks every name for
clashes; the functions below check single TOML values and name the key.
"""

from __future__ import annotations

import difflib
import keyword
import math
import re
from collections.abc import Mapping

import sympy as sp

from ..core import rules
from ..core.system import matrix_coordinates
from ..errors import SpecFileError, SymnoetherError
from .expressions import CONSTANTS, FUNCTIONS

MAX_DIMENSION = 64
"""Most rows or columns of a declared matrix, and entries of a data vector."""
MAX_COORDINATES = 128
"""Most coordinates (entries of matrices included). The symbolic derivation works with
dense n×n matrices (mass matrix, Jacobians, an LU solve): its time grows as n³, about
10 s for 64 coordinates under gradient descent and 70 s for 144 (measured, 2 cores)."""
MAX_SYMBOLS = 4_096
"""Most declared symbols in all: coordinates, data, parameters and constants (entries
of matrices and vectors each count), counted from the declared shapes before any is built."""
MAX_SAMPLES = 256
"""Most samples in a [dataset]: the training loss holds one copy of the loss per sample."""
__all__ = [
    "Declarations",
    "assign",
    "check_keys",
    "closest",
    "exact",
    "name_list",
    "as_number",
    "sub_table",
]
RULE_PARAMETERS = {"lr": "eta", "beta": "beta", "weight_decay": "lambda"}
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}\Z")
_RESERVED = {"t", *FUNCTIONS, *CONSTANTS}


class Declarations:
    """The symbols a spec file declares, by name, with the key that declared each."""

    def __init__(self, document: dict, source: str) -> None:
        self.doc = document
        self.source = source
        self.symbol_owner: dict[str, str] = {}  # symbol/name → the key that declared it
        self.coords: dict[str, sp.Basic] = {}  # block name → Symbol or matrix
        self.entries: dict[str, sp.Symbol] = {}  # matrix entry names → Symbols
        self.data: dict[str, sp.Basic] = {}
        self.params: dict[str, sp.Symbol] = {}  # expression names (key and symbol name)
        self.keys: dict[str, sp.Symbol] = {}  # [parameters] key → symbol
        self.values: dict[sp.Symbol, float] = {}
        self.constants: dict[str, sp.Basic] = {}
        self._constant_shapes: dict[str, tuple[int, int]] = {}

    # -- declarations ------------------------------------------------------------
    def _claim(self, name: str, key: str) -> None:
        if name in self.symbol_owner:
            raise SpecFileError(
                f"{key}: the name {name!r} is already declared by {self.symbol_owner[name]}; "
                "every coordinate, data symbol, parameter and constant needs its own name"
            )
        self.symbol_owner[name] = key

    def _declare(self, system: dict) -> None:
        scalars = name_list(system.get("coordinates", []), "[system] coordinates")
        matrices = {}
        for name, shape in sub_table(system, "matrices", "[system]").items():
            key = f"[system.matrices] {name}"
            matrices[name] = _shape(shape, key, _name(name, key))
        if not scalars and not matrices:
            raise SpecFileError(
                '[system] declares no coordinates; add coordinates = ["w1", "w2"] or a '
                "[system.matrices] table such as W = [2, 3]"
            )
        data = name_list(system.get("data", []), "[system] data")
        vectors = {}
        for name, length in sub_table(system, "data_vectors", "[system]").items():
            vectors[name] = _length(name, length, f"[system.data_vectors] {name}")
        self._constant_shapes = self._shapes_of_constants()
        _count(scalars, matrices, [*data, *vectors.values()], self._constant_shapes, self.doc)
        blocks: dict[str, sp.Basic] = {}
        for name, (rows, cols) in matrices.items():
            blocks[name] = self._matrix(name, rows, cols, f"[system.matrices] {name}")
        ordered = {name: blocks[name] for name in blocks if name not in scalars}
        for name in scalars:
            if name in blocks:
                ordered[name] = blocks[name]
                continue
            self._claim(name, "[system] coordinates")
            ordered[name] = sp.Symbol(name, real=True)
        self.coords = ordered
        for name in data:
            self._claim(name, "[system] data")
            self.data[name] = sp.Symbol(name, real=True)
        for name, length in vectors.items():
            key = f"[system.data_vectors] {name}"
            self._claim(name, key)
            entries = [sp.Symbol(f"{name}{i + 1}", real=True) for i in range(length)]
            for entry in entries:
                self._claim(entry.name, key)
                self.data[entry.name] = entry
            self.data[name] = sp.ImmutableMatrix(entries)

    def _dataset(self, rule: object) -> dict | None:
        """{data symbol: exact values} from [dataset] (None without one)."""
        if "dataset" not in self.doc:
            return None
        table = sub_table(self.doc, "dataset", "the top level")
        scalars = {n: d for n, d in self.data.items() if isinstance(d, sp.Symbol)}
        if not scalars:
            raise SpecFileError(
                '[dataset] is given but [system] declares no data; add data = ["x", "y"]'
            )
        columns: dict[sp.Symbol, list] = {}
        for name, values in table.items():
            key = f"[dataset] {name}"
            if name not in self.data:
                raise SpecFileError(
                    f"unknown key {name!r} in [dataset]{closest(name, self.data)}; the data "
                    "symbols are " + ", ".join(self.data)
                )
            if not isinstance(values, list) or not values:
                raise SpecFileError(f"{key} = {values!r}: give a non-empty list of values")
            target = self.data[name]
            if isinstance(target, sp.MatrixBase):
                rows = [_matrix_values(row, target.shape, key) for row in values]
                pairs = [(entry, [row[i] for row in rows]) for i, entry in enumerate(target)]
            else:
                pairs = [(target, [as_number(v, key) for v in values])]
            for symbol, numbers in pairs:
                if symbol in columns:
                    raise SpecFileError(f"{key}: {symbol} already has values in [dataset]")
                columns[symbol] = [exact(v) for v in numbers]
        missing = [s for s in scalars.values() if s not in columns]
        if missing:
            raise SpecFileError(
                f"[dataset] has no values for the data symbol {missing[0]}; every data "
                "symbol needs one value per sample"
            )
        sizes = {str(s): len(v) for s, v in columns.items()}
        if len(set(sizes.values())) > 1:
            shown = ", ".join(f"{s}: {n}" for s, n in sizes.items())
            raise SpecFileError(
                f"[dataset] is ragged ({shown} values); give one value per sample for each"
            )
        return columns

    def _matrix(self, name: str, rows: int, cols: int, key: str) -> sp.ImmutableMatrix:
        self._claim(name, key)
        matrix = matrix_coordinates(name, rows, cols)
        for entry in matrix:
            self._claim(entry.name, key)
            self.entries[entry.name] = entry
        return matrix

    def _parameters(self, system: dict) -> None:
        table = sub_table(self.doc, "parameters", "the top level")
        rule = system.get("rule")
        needed = {"gradient_descent": ("lr",), "momentum": ("lr", "beta")}
        needed["preconditioned"] = needed["sgd"] = ("lr",)
        required = list(needed.get(rule, ()) if isinstance(rule, str) else ())
        decays = _regularizer_names(system.get("regularizers", []))
        if "weight_decay" in decays:
            required.append("weight_decay")
        for key in required:
            if key not in table:
                raise SpecFileError(
                    f"[parameters] has no {key}, which {_user_of(key, rule)} needs; "
                    f"add e.g. {key} = {_EXAMPLES[key]}"
                )
        for key, value in table.items():
            where = f"[parameters] {key}"
            number = as_number(value, where)
            if key in RULE_PARAMETERS:
                if key not in required:
                    raise SpecFileError(
                        f"{where} is given but {_unused_reason(key, rule)}; remove it"
                    )
                symbol = _rule_symbol(key, number, where)
                self._claim(key, where)
                if symbol.name != key:
                    self._claim(symbol.name, where)
                self.params[key] = symbol
            else:
                _name(key, where)
                symbol = _constant_symbol(key, number)
                self._claim(key, where)
            self.params[symbol.name] = symbol
            self.keys[key] = symbol
            self.values[symbol] = number

    def _shapes_of_constants(self) -> dict[str, tuple[int, int]]:
        """The shape of every [constants] entry, checked; nothing is built."""
        shapes = {}
        for name, value in sub_table(self.doc, "constants", "the top level").items():
            key = f"[constants] {name}"
            _name(name, key)
            if _is_shape(value):
                shapes[name] = _shape(value, key, name)
            else:
                rows = _rows(value, key)
                shapes[name] = (len(rows), len(rows[0]))
        return shapes

    def _constants(self) -> None:
        for name, value in sub_table(self.doc, "constants", "the top level").items():
            key = f"[constants] {name}"
            if _is_shape(value):
                rows, cols = self._constant_shapes[name]
                self.constants[name] = self._matrix(name, rows, cols, key)
                for entry in self.constants[name]:
                    self.constants[entry.name] = entry
                continue
            rows = _rows(value, key)
            self._claim(name, key)
            self.constants[name] = sp.ImmutableMatrix(
                [[exact(as_number(v, key)) for v in row] for row in rows]
            )


# -- small checks -------------------------------------------------------------------


def _count(scalars: list, matrices: dict, data: list, constants: dict, document: dict) -> None:
    """Refuse too many coordinates or symbols, counted from the declared shapes (data:
    1 per name, the length per vector) before anything is built."""
    coordinates = len(scalars) + sum(r * c for r, c in matrices.values())
    coordinates -= sum(1 for name in scalars if name in matrices)  # a name placing a matrix
    if coordinates > MAX_COORDINATES:
        raise SpecFileError(
            f"[system] declares {coordinates} coordinates (entries of [system.matrices] "
            f"included), over the limit of {MAX_COORDINATES}: the symbolic derivation works "
            "with dense n×n matrices and its time grows as n³; use smaller layers"
        )
    parameters = document.get("parameters")
    total = coordinates + sum(1 if isinstance(d, str) else d for d in data)
    total += sum(r * c for r, c in constants.values())
    total += len(parameters) if isinstance(parameters, dict) else 0
    total += _dataset_size(document.get("dataset"))
    if total > MAX_SYMBOLS:
        raise SpecFileError(
            f"the file declares {total} symbols (coordinates, data, parameters, the "
            f"entries of [constants] and the values of [dataset], counted from their "
            f"shapes), over the limit of {MAX_SYMBOLS}; declare fewer or smaller matrices, "
            "or a smaller dataset"
        )


def _dataset_size(table: object) -> int:
    """The number of values in [dataset] (rows of a data vector count each entry), and
    at most MAX_SAMPLES samples per key; counted before anything is built."""
    if not isinstance(table, dict):
        return 0
    total = 0
    for name, values in table.items():
        if not isinstance(values, list):
            continue  # reported with its name when the table is read
        if len(values) > MAX_SAMPLES:
            raise SpecFileError(
                f"[dataset] {name} has {len(values)} samples, over the limit of "
                f"{MAX_SAMPLES}: the training loss holds one copy of the loss per sample; "
                "use fewer samples"
            )
        total += sum(len(v) if isinstance(v, list) else 1 for v in values)
    return total


_EXAMPLES = {"lr": "0.01", "beta": "0.9", "weight_decay": "1e-4"}


def _user_of(key: str, rule: object) -> str:
    return "weight decay" if key == "weight_decay" else f"rule {rule}"


def _unused_reason(key: str, rule: object) -> str:
    if key == "weight_decay":
        return 'no regularizer uses it (add regularizers = ["weight_decay"])'
    if rule is None:
        return f"a system with a hand-written kinetic term has no learning rule to take {key}"
    return f"rule {rule!r} takes no {key}"


def _regularizer_names(value: object) -> list:
    if not isinstance(value, list):
        return []
    return [item.get("name") if isinstance(item, dict) else item for item in value]


def check_keys(table: dict, allowed: tuple, where: str) -> None:
    for key in table:
        if key not in allowed:
            raise SpecFileError(
                f"unknown key {key!r} in {where}{closest(key, allowed)}; the keys are "
                + ", ".join(allowed)
            )


def closest(word: object, candidates) -> str:
    if not isinstance(word, str):
        return ""
    match = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def sub_table(parent: dict, key: str, where: str, required: bool = False) -> dict:
    if key not in parent:
        if required:
            raise SpecFileError(
                f"no [{key}] table in {where}; a spec file needs [system] with coordinates, "
                "loss and rule"
            )
        return {}
    value = parent[key]
    if not isinstance(value, dict):
        raise SpecFileError(f"{key} in {where} must be a table ([{key}]), not {value!r}")
    return value


def _name(name: str, where: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise SpecFileError(
            f"{where}: {name!r} is not a valid name; use a letter followed by letters, "
            "digits or _ (at most 40 characters)"
        )
    if name in _RESERVED or keyword.iskeyword(name):
        raise SpecFileError(
            f"{where}: the name {name!r} is reserved (a function, constant, keyword or the "
            "time t); choose another"
        )
    return name


def name_list(value: object, where: str) -> list[str]:
    if not isinstance(value, list):
        raise SpecFileError(f'{where} = {value!r}: give a list of names, e.g. ["w1", "w2"]')
    names = [_name(item, where) for item in value]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise SpecFileError(f"{where}: {name!r} appears twice")
    return names


def _is_shape(value: object) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    )


def _shape(value: object, where: str, name: str) -> tuple[int, int]:
    if not _is_shape(value):
        raise SpecFileError(f"{where} = {value!r}: give the shape [rows, cols], e.g. [2, 3]")
    rows, cols = value
    if not (1 <= rows <= MAX_DIMENSION and 1 <= cols <= MAX_DIMENSION):
        raise SpecFileError(f"{where} = {value}: rows and cols must be 1 to {MAX_DIMENSION}")
    return rows, cols


def _length(name: str, value: object, where: str) -> int:
    _name(name, where)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecFileError(f"{where} = {value!r}: give the vector's length, e.g. 3")
    if not 1 <= value <= MAX_DIMENSION:
        raise SpecFileError(f"{where} = {value}: the length must be 1 to {MAX_DIMENSION}")
    return value


def as_number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecFileError(f"{where} = {value!r} is not a number")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise SpecFileError(f"{where} = {value!r} is not finite; give a finite number")
    return number


def exact(number: float) -> sp.Rational:
    return sp.Integer(int(number)) if number.is_integer() else sp.Rational(repr(number))


def _rows(value: object, where: str) -> list[list]:
    if not isinstance(value, list) or not value or not all(isinstance(r, list) for r in value):
        raise SpecFileError(
            f"{where}: give a shape [rows, cols] or the entries as a list of rows, "
            "e.g. [[0, 1], [-1, 0]]"
        )
    if len({len(row) for row in value}) != 1 or not value[0]:
        raise SpecFileError(f"{where}: the rows have different lengths")
    if len(value) > MAX_DIMENSION or len(value[0]) > MAX_DIMENSION:
        raise SpecFileError(
            f"{where}: {len(value)}×{len(value[0])} entries; rows and cols must be 1 to "
            f"{MAX_DIMENSION}"
        )
    return value


def _rule_symbol(key: str, value: float, where: str) -> sp.Symbol:
    try:
        if key == "lr":
            rules.gradient_descent(value)
        elif key == "beta":
            rules.momentum(1, value)
        else:
            rules.weight_decay(value)
    except SymnoetherError as error:
        raise SpecFileError(f"{where}: {error}") from None
    if key == "beta" and value == 0:
        return sp.Symbol("beta", nonnegative=True)
    return sp.Symbol(RULE_PARAMETERS[key], positive=True)


def _constant_symbol(name: str, value: float) -> sp.Symbol:
    if value > 0:
        return sp.Symbol(name, positive=True)
    if value < 0:
        return sp.Symbol(name, negative=True)
    return sp.Symbol(name, real=True)


def assign(table: dict, targets: Mapping[str, sp.Basic], where: str) -> dict[sp.Symbol, float]:
    values: dict[sp.Symbol, float] = {}
    for name, value in table.items():
        key = f"{where} {name}"
        if name not in targets:
            raise SpecFileError(
                f"unknown key {name!r} in {where}{closest(name, targets)}; give values for "
                + ", ".join(list(targets)[:12])
            )
        target = targets[name]
        if isinstance(target, sp.MatrixBase):
            numbers = _matrix_values(value, target.shape, key)
            pairs = zip(target, numbers, strict=True)
        else:
            pairs = [(target, as_number(value, key))]
        for symbol, number in pairs:
            if symbol in values:
                raise SpecFileError(f"{key}: {symbol} already has a value in {where}")
            values[symbol] = number
    return values


def _matrix_values(value: object, shape: tuple[int, int], where: str) -> list[float]:
    rows, cols = shape
    expected = f"{rows}×{cols} (a list of {rows} rows of {cols} numbers)"
    if isinstance(value, list) and value and not any(isinstance(v, list) for v in value):
        if rows == 1 or cols == 1:
            value = [value] if rows == 1 else [[v] for v in value]
    if (
        not isinstance(value, list)
        or len(value) != rows
        or not all(isinstance(row, list) and len(row) == cols for row in value)
    ):
        raise SpecFileError(f"{where} = {value!r} has the wrong shape; expected {expected}")
    return [as_number(v, where) for row in value for v in row]
