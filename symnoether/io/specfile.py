r'''Spec files: a learning system described in TOML, loaded without executing anything.

``load("model.toml")`` reads the file with :mod:`tomllib`, parses every
expression string with the whitelisting ``ast`` walker of
:mod:`symnoether.io.expressions` (never ``eval``, ``sympify`` or ``parse_expr``),
and returns a frozen :class:`SpecFile`; ``load(path).derive()`` is the
:class:`~symnoether.Derivation` that ``symnoether run FILE.toml`` prints.

The format, complete::

    title = "Two-layer linear network, heavy ball"   # optional
    description = "..."                              # optional, free text

    [system]
    coordinates = ["b"]        # scalar coordinates; a name listed here that is a key of
                               # [system.matrices] places that matrix; unlisted matrices
                               # come first, in table order
    data = ["y"]               # scalar data symbols (inputs, targets)
    loss = "norm(y - W2 @ W1 @ x)**2/2 + b**2"
    rule = "momentum"          # gradient_flow | gradient_descent | momentum | preconditioned
                               # | sgd (minibatch SGD: needs a [dataset], see below)
    regularizers = ["weight_decay"]   # or [{ name = "weight_decay", on = ["W1"] }]
    # preconditioner = "2"     # preconditioned (or gradient_flow's metric): a scalar,
                               # a list (diagonal) or a list of rows, as expressions
    # kinetic = "(wdot1**2 + wdot2**2)/2"   # instead of a rule (physics); velocity
                               # names as sn.velocity gives them: w1 -> wdot1, W1 -> Wdot1
    # tau = "2"                # damping time with a hand-written kinetic term (default ∞)

    [system.matrices]          # matrix coordinates, name = [rows, cols]; entries W1_11, ...
    W1 = [2, 3]
    W2 = [1, 2]

    [system.data_vectors]      # data column vectors, name = length; entries x1, x2, x3
    x = 3

    [parameters]               # hyper-parameter values
    lr = 0.01                  # step size, symbol eta   (GD, momentum, preconditioned)
    beta = 0.9                 # momentum, symbol beta
    weight_decay = 1e-4        # strength, symbol lambda (regularizers = ["weight_decay"])
    k = 2.0                    # any other name: a named constant usable in expressions

    [constants]                # matrices for generators (and expressions)
    A = [2, 2]                 # a generic 2×2 matrix of symbols A_11, ...: laws hold for all A
    J = [[0, 1], [-1, 0]]      # or explicit entries

    [generators]               # the symmetries to derive Noether laws for (optional:
                               # without it the symmetries are found, as sn.derive does)
    gl = ["A @ W1", "-W2 @ A", "0"]       # one expression per coordinate block, or
    shift = ["0", "0", "0", "0", "0", "0", "0", "0", "1"]   # one per coordinate
    scale_W1 = { W1 = "W1" }              # or by block name (missing blocks are 0)

    [initial]                  # initial conditions for validation
    W1 = [[0.1, 0.2, 0.3], [0.0, -0.1, 0.2]]
    W2 = [[1.0, 0.5]]          # a single row or column may also be a flat list
    b = 0.0
    Wdot1 = [[0, 0, 0], [0, 0, 0]]   # velocities are optional (default 0)

    [data_values]              # data values for validation
    x = [1.0, 0.5, -0.5]
    y = 1.0

    [validation]               # optional settings of numerical validation
    t_end = 5.0

Hyper-parameters stay **symbols** in the symbolic system — ``lr`` is η
(``eta``, positive), ``beta`` is β (``beta``), ``weight_decay`` is λ
(``lambda``), a named constant ``k`` is the symbol ``k`` (positive or negative
as its value is) — so every law holds for every admissible value. The numeric
values are kept alongside (:attr:`SpecFile.values`, :attr:`SpecFile.params`)
for numerical validation. In expressions a hyper-parameter is written by its
key (``lr``, ``weight_decay``) or its symbol name (``eta``, ``beta``).

Minibatch SGD (:func:`symnoether.rules.sgd`) is ``rule = "sgd"`` with ``lr`` in
[parameters], ``batch_size = B`` (default 1) and optionally ``replacement = false`` in
[system], and the training set in a ``[dataset]`` table, one list of N numbers per scalar
data symbol (a data vector: N rows of its length, or its entries ``x1``, ``x2``, ... one
list each)::

    [system]
    coordinates = ["u", "w"]
    data = ["x", "y"]
    loss = "(y - u*w*x)**2/2"      # the per-sample loss; V is its mean over the dataset
    rule = "sgd"
    batch_size = 2

    [parameters]
    lr = 0.1

    [dataset]
    x = [0.5, -1, 3]
    y = [2, 1, -1]

A [dataset] may also be given with the other rules: the loss is then its mean.

Every rejected file raises :class:`~symnoether.errors.SpecFileError` naming the
file, the key and (inside expressions) line and column: missing or unreadable
files, invalid TOML, missing keys, unknown keys (with the closest valid one),
unknown rules, NaN or infinite values, initial conditions of the wrong shape.

Limits, so that a short file cannot take hours or gigabytes: a matrix or data
vector has at most 64 rows and columns; a file declares at most 128
coordinates (:data:`~symnoether.io.spec_tables.MAX_COORDINATES`: the symbolic
derivation works with dense n×n matrices, its time grows as n³) and 4,096
symbols in all (:data:`~symnoether.io.spec_tables.MAX_SYMBOLS`: coordinates,
data, parameters, the entries of [constants] and the values of [dataset]), both counted
from the declared shapes before any symbol is built; a [dataset] holds at most
:data:`~symnoether.io.spec_tables.MAX_SAMPLES` samples (the training loss is a sum of one
copy of the loss per sample); expressions are limited as
:mod:`symnoether.io.expressions` describes, down to the estimated size of their
expansion. A :class:`~symnoether.errors.BudgetExceededError` raised while the
file loads (``symnoether run`` bounds it in time and memory) passes unchanged.

Examples
--------
>>> text = """
... [system]
... coordinates = ["w1", "w2"]
... data = ["x", "y"]
... loss = "(y - w2*w1*x)**2/2"
... rule = "gradient_descent"
... [parameters]
... lr = 0.01
... [generators]
... rescale = ["w1", "-w2"]
... """
>>> spec = loads(text)
>>> dict(spec.values)
{eta: 0.01}
>>> spec.derive().law("rescale").kinetic_breaking
eta*(wdot1**2 - wdot2**2)*exp(2*t/eta)/2
'''

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import sympy as sp

from ..core import rules
from ..core.system import LearningSystem, velocity
from ..errors import BudgetExceededError, SpecFileError, SymnoetherError
from .derivation import Derivation, derive
from .expressions import parse_expression
from .spec_tables import (
    Declarations,
    as_number,
    assign,
    check_keys,
    closest,
    exact,
    name_list,
    sub_table,
)

__all__ = ["SpecFile", "load", "loads", "RULES"]

RULES = ("gradient_flow", "gradient_descent", "momentum", "preconditioned", "sgd")
"""The learning rules a spec file may name."""
MAX_FILE_BYTES = 1_000_000

_TOP_KEYS = ("title", "description", "system", "parameters", "constants", "generators")
_TOP_KEYS += ("initial", "data_values", "validation", "dataset")
_SYSTEM_KEYS = ("coordinates", "matrices", "data", "data_vectors", "loss", "kinetic", "tau")
_SYSTEM_KEYS += ("rule", "preconditioner", "regularizers", "batch_size", "replacement")


@dataclass(frozen=True)
class SpecFile:
    """A loaded spec file: the learning system, its generators and its numbers.

    Attributes
    ----------
    source : str
        The file path (or ``"<string>"``).
    title : str
    system : LearningSystem
        Hyper-parameters inside it are symbols (η, β, λ, named constants).
    generators : mapping str → ImmutableMatrix
        Named generators, each a column over ``system.coords``.
    parameters : mapping str → Symbol
        TOML key of each hyper-parameter → its symbol (``'lr'`` → ``eta``).
    values : mapping Symbol → float
        The numeric value of each hyper-parameter symbol.
    initial : mapping Symbol → float
        Initial values of coordinates (all of them, when given) and velocities.
    data_values : mapping Symbol → float
        Values of the data symbols.
    t_end : float or None
        Length of the validation run ([validation] t_end), if given.
    """

    source: str
    title: str
    system: LearningSystem
    generators: Mapping[str, sp.ImmutableMatrix]
    parameters: Mapping[str, sp.Symbol]
    values: Mapping[sp.Symbol, float]
    initial: Mapping[sp.Symbol, float]
    data_values: Mapping[sp.Symbol, float]
    t_end: float | None = None

    def derive(self, *, timeout: float | None = None) -> Derivation:
        """Equations of motion and the Noether law of every generator of the file
        (``timeout``: a time budget in seconds, as for :func:`symnoether.derive`).
        Without ``[generators]`` the symmetries of the loss are found and the
        conservation laws of the whole algebra derived (:func:`symnoether.derive`
        with no generators).

        Examples
        --------
        >>> spec = loads('''
        ... [system]
        ... coordinates = ["q1", "q2"]
        ... loss = "(q1 + q2)**2"
        ... rule = "gradient_flow"
        ... [generators]
        ... antidiagonal = ["1", "-1"]
        ... ''')
        >>> spec.derive().law("antidiagonal").charge
        q1 - q2
        """
        generators = dict(self.generators) if self.generators else None
        return derive(self.system, generators, title=self.title, timeout=timeout)

    @property
    def q0(self) -> tuple[float, ...] | None:
        """Initial coordinates in ``system.coords`` order (None without [initial])."""
        if not self.initial:
            return None
        return tuple(self.initial[q] for q in self.system.coords)

    @property
    def v0(self) -> tuple[float, ...] | None:
        """Initial velocities in ``system.velocities`` order (None when none given)."""
        if not any(v in self.initial for v in self.system.velocities):
            return None
        return tuple(self.initial.get(v, 0.0) for v in self.system.velocities)

    @property
    def params(self) -> dict[sp.Symbol, float]:
        """Hyper-parameter and data values together, as ``sn.validate(params=...)`` takes."""
        return {**self.values, **self.data_values}

    @property
    def validation(self) -> dict:
        """What the file fixes for numerical validation: q0, v0, params, t_end.

        Only the keys the file determines are present, so a caller (the CLI's
        ``--validate``) can fill in the rest.
        """
        given = {"q0": self.q0, "v0": self.v0, "params": self.params, "t_end": self.t_end}
        return {key: value for key, value in given.items() if value}

    def __str__(self) -> str:
        lines = [self.title, "=" * len(self.title), str(self.system)]
        for key, symbol in self.parameters.items():
            lines.append(f"parameter    {key} = {symbol} = {self.values[symbol]:g}")
        for name, psi in self.generators.items():
            lines.append(f"generator    {name}: psi = ({', '.join(map(sp.sstr, psi))})")
        return "\n".join(lines)

    def _repr_latex_(self) -> str:
        return self.system._repr_latex_()


def load(path: str | Path) -> SpecFile:
    """Load the spec file at ``path`` (TOML; the format is in the module docstring).

    Raises
    ------
    SpecFileError
        Missing or unreadable file, invalid TOML, or any rejected content; the
        message names the file, the key and the fix.
    """
    if not isinstance(path, str | Path):
        raise SpecFileError(
            f"load() takes the path of a .toml spec file, not a {type(path).__name__}"
        )
    file = Path(path)
    if not file.is_file():
        raise SpecFileError(f"no spec file {file}; check the path (a .toml file)")
    try:
        if file.stat().st_size > MAX_FILE_BYTES:
            raise SpecFileError(f"{file}: over {MAX_FILE_BYTES} bytes; a spec file is small")
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SpecFileError(f"cannot read spec file {file}: {error}") from None
    return loads(text, source=str(file))


def loads(text: str, *, source: str = "<string>") -> SpecFile:
    """Load a spec file from the TOML text ``text`` (``source`` names it in messages)."""
    if not isinstance(text, str):
        raise SpecFileError(f"{source}: expected TOML text, got a {type(text).__name__}")
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecFileError(f"{source} is not valid TOML: {error}") from None
    try:
        return _Loader(document, source).spec()
    except SpecFileError as error:
        raise SpecFileError(f"{source}: {error}") from None
    except BudgetExceededError:  # out of time or memory: not the file's fault, nor its fix
        raise
    except SymnoetherError as error:  # the core refused the system: say which file
        raise SpecFileError(f"{source}: {error}") from None


class _Loader(Declarations):
    """Turns a TOML document into a SpecFile, section by section."""

    def spec(self) -> SpecFile:
        check_keys(self.doc, _TOP_KEYS, "the top level")
        system = sub_table(self.doc, "system", "the top level", required=True)
        check_keys(system, _SYSTEM_KEYS, "[system]")
        self._rule_name(system)  # before [parameters], which the rule decides
        self._declare(system)
        self._parameters(system)
        self._constants()
        learning_system = self._system(system)
        generators = self._generators(learning_system)
        initial = self._initial(learning_system)
        data_values = self._data_values()
        title = self.doc.get("title", Path(self.source).stem)
        if not isinstance(title, str):
            raise SpecFileError(f"title = {title!r} is not a string")
        return SpecFile(
            source=self.source,
            title=title,
            system=learning_system,
            generators=MappingProxyType(generators),
            parameters=MappingProxyType(dict(self.keys)),
            values=MappingProxyType(dict(self.values)),
            initial=MappingProxyType(initial),
            data_values=MappingProxyType(data_values),
            t_end=self._t_end(),
        )

    # -- the learning system -------------------------------------------------------
    def _names_for(self, context: str) -> tuple[dict, dict]:
        """(allowed names, forbidden name → reason) for ``context``."""
        allowed = {**self.coords, **self.entries, **self.params, **self.constants}
        forbidden: dict[str, str] = {}
        if context == "generator":
            reason = "a generator acts on the parameters the same way for every input"
            forbidden = {name: f"it is a data symbol, and {reason}" for name in self.data}
        else:
            allowed.update(self.data)
        return allowed, forbidden

    def _expression(self, value: object, where: str, context: str = "loss") -> sp.Basic:
        if isinstance(value, bool):
            raise SpecFileError(f"{where} = {value!r} is not an expression")
        if isinstance(value, int | float):
            return exact(as_number(value, where))
        allowed, forbidden = self._names_for(context)
        if context == "kinetic":
            allowed.update(self._velocitynames())
        return parse_expression(value, allowed, where=where, forbidden=forbidden)

    def _scalar(self, value: object, where: str, context: str = "loss") -> sp.Expr:
        expr = self._expression(value, where, context)
        if isinstance(expr, sp.MatrixBase):
            if expr.shape != (1, 1):
                raise SpecFileError(
                    f"{where} is a {expr.shape[0]}×{expr.shape[1]} matrix; it must be a "
                    "scalar (for a squared norm write norm(r)**2)"
                )
            expr = expr[0, 0]
        return expr

    def _velocitynames(self) -> dict[str, sp.Basic]:
        names: dict[str, sp.Basic] = {}
        for name, block in self.coords.items():
            vname = velocity(sp.Symbol(name)).name
            if isinstance(block, sp.MatrixBase):
                vmatrix = sp.ImmutableMatrix(block.applyfunc(velocity))
                names[vname] = vmatrix
                names.update({v.name: v for v in vmatrix})
            else:
                names[vname] = velocity(block)
        return names

    def _system(self, system: dict) -> LearningSystem:
        if "loss" not in system:
            raise SpecFileError('[system] has no loss; add e.g. loss = "(y - w2*w1*x)**2/2"')
        loss = self._scalar(system["loss"], "[system] loss")
        rule, kinetic, tau = None, None, None
        if "kinetic" in system:
            kinetic = self._scalar(system["kinetic"], "[system] kinetic", "kinetic")
            if "tau" in system:
                tau = self._scalar(system["tau"], "[system] tau")
        else:
            if "tau" in system:
                raise SpecFileError(
                    "[system] tau is only for a hand-written kinetic term; the rule fixes τ"
                )
            rule = self._rule(system)
        regularizers = self._regularizers(system.get("regularizers", []))
        declared = tuple(dict.fromkeys(self.params.values())) + tuple(
            s for s in self.constants.values() if isinstance(s, sp.Symbol)
        )
        return LearningSystem(
            coords=tuple(self.coords.values()),
            loss=loss,
            rule=rule,
            data=tuple(v for v in self.data.values() if isinstance(v, sp.Symbol)),
            parameters=declared,
            regularizers=regularizers,
            kinetic=kinetic,
            tau=tau,
            dataset=self._dataset(rule),
        )

    def _rule_name(self, system: dict) -> str | None:
        """The rule's name (None with a kinetic term), checked before [parameters]: an
        unknown rule is reported as such, not as parameters it would not take."""
        if "kinetic" in system:
            if "rule" in system:
                raise SpecFileError(
                    "[system] gives both rule and kinetic; a rule fixes the kinetic term, "
                    "so keep one of them"
                )
            return None
        if "rule" not in system:
            raise SpecFileError(
                '[system] has no rule; add rule = "gradient_descent" (or one of '
                + ", ".join(RULES)
                + "), or a kinetic term for a physical system"
            )
        name = system["rule"]
        if not isinstance(name, str) or name not in RULES:
            raise SpecFileError(
                f"[system] rule = {name!r} is not a learning rule{closest(name, RULES)}; "
                "the rules are " + ", ".join(RULES)
            )
        return name

    def _rule(self, system: dict) -> rules.LearningRule:
        name = self._rule_name(system)
        metric = None
        sampling = [key for key in ("batch_size", "replacement") if key in system]
        if sampling and name != "sgd":
            raise SpecFileError(
                f"[system] {sampling[0]} is given but rule {name} draws no minibatches; use "
                'rule = "sgd" or remove it'
            )
        if name == "sgd":
            return self._sgd(system)
        if "preconditioner" in system:
            if name not in ("preconditioned", "gradient_flow"):
                raise SpecFileError(
                    f"[system] preconditioner is given but rule {name} takes none; use "
                    'rule = "preconditioned" or remove it'
                )
            metric = self._metric(system["preconditioner"])
        elif name == "preconditioned":
            raise SpecFileError(
                '[system] rule "preconditioned" needs a preconditioner, e.g. '
                'preconditioner = ["1", "4"] (the diagonal of G)'
            )
        try:
            if name == "gradient_flow":
                return rules.gradient_flow(metric)
            if name == "gradient_descent":
                return rules.gradient_descent(self.params["lr"])
            if name == "momentum":
                return rules.momentum(self.params["lr"], self.params["beta"])
            return rules.preconditioned(self.params["lr"], metric)
        except SymnoetherError as error:
            raise SpecFileError(f"[system] rule {name}: {error}") from None

    def _sgd(self, system: dict) -> rules.LearningRule:
        if "preconditioner" in system:
            raise SpecFileError(
                "[system] preconditioner is given but rule sgd takes none; remove it"
            )
        if "dataset" not in self.doc:
            raise SpecFileError(
                '[system] rule "sgd" draws minibatches from a training set; add a [dataset] '
                "table with one list of values per data symbol, e.g. x = [0.5, -1, 3]"
            )
        batch = system.get("batch_size", 1)
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise SpecFileError(
                f"[system] batch_size = {batch!r} is not a positive integer; e.g. batch_size = 1"
            )
        replacement = system.get("replacement", True)
        if not isinstance(replacement, bool):
            raise SpecFileError(f"[system] replacement = {replacement!r} is not true or false")
        try:
            return rules.sgd(self.params["lr"], batch, replacement=replacement)
        except SymnoetherError as error:
            raise SpecFileError(f"[system] rule sgd: {error}") from None

    def _metric(self, value: object) -> sp.Basic:
        where = "[system] preconditioner"
        if not isinstance(value, list):
            return self._scalar(value, where)
        n = sum(len(b) if isinstance(b, sp.MatrixBase) else 1 for b in self.coords.values())
        if all(isinstance(row, list) for row in value):
            if len(value) != n or any(len(row) != n for row in value):
                raise SpecFileError(f"{where}: give {n} rows of {n} entries (one per coordinate)")
            return sp.Matrix(
                [
                    [self._scalar(v, f"{where}[{i}][{j}]") for j, v in enumerate(row)]
                    for i, row in enumerate(value)
                ]
            )
        if len(value) != n:
            raise SpecFileError(
                f"{where} has {len(value)} diagonal entries but the system has {n} coordinates"
            )
        return sp.diag(*[self._scalar(v, f"{where}[{i}]") for i, v in enumerate(value)])

    def _regularizers(self, value: object) -> tuple:
        where = "[system] regularizers"
        if not isinstance(value, list):
            raise SpecFileError(f'{where} = {value!r}: give a list, e.g. ["weight_decay"]')
        made = []
        for item in value:
            on = None
            if isinstance(item, dict):
                check_keys(item, ("name", "on"), where)
                on_names = name_list(item.get("on", []), f"{where} on")
                unknown = [n for n in on_names if n not in self.coords and n not in self.entries]
                if unknown:
                    raise SpecFileError(
                        f"{where}: on = [{unknown[0]!r}] is not a coordinate"
                        f"{closest(unknown[0], [*self.coords, *self.entries])}"
                    )
                on = [self.coords.get(n, self.entries.get(n)) for n in on_names] or None
                item = item.get("name")
            if item != "weight_decay":
                raise SpecFileError(
                    f"{where}: {item!r} is not a regularizer{closest(item, ['weight_decay'])}; "
                    'the only one is "weight_decay" (add other penalties to the loss)'
                )
            made.append(rules.weight_decay(self.params["weight_decay"], on=on))
        return tuple(made)

    # -- generators, initial conditions --------------------------------------------
    def _generators(self, system: LearningSystem) -> dict[str, sp.ImmutableMatrix]:
        made = {}
        for name, value in sub_table(self.doc, "generators", "the top level").items():
            where = f"[generators] {name}"
            if not re.fullmatch(r"[A-Za-z0-9_\-]{1,64}", name):
                raise SpecFileError(f"{where}: use letters, digits, _ and - in generator names")
            if isinstance(value, dict):
                check_keys(value, tuple(self.coords), where)
                parts = [value.get(block, 0) for block in self.coords]
            elif isinstance(value, list):
                parts = value
            else:
                raise SpecFileError(
                    f"{where}: give a list of expressions (one per coordinate block or per "
                    "coordinate) or a table block = expression"
                )
            made[name] = self._generator(parts, where, len(system.coords))
        return made

    def _generator(self, parts: list, where: str, n: int) -> sp.ImmutableMatrix:
        blocks = list(self.coords.items())
        if len(parts) == len(blocks):
            entries = []
            for (block_name, block), part in zip(blocks, parts, strict=True):
                value = self._expression(part, f"{where} ({block_name})", "generator")
                entries.extend(self._fit_block(value, block, block_name, where))
        elif len(parts) == n:
            entries = [
                self._scalar(part, f"{where}[{i}]", "generator") for i, part in enumerate(parts)
            ]
        else:
            raise SpecFileError(
                f"{where} has {len(parts)} entries; give one per coordinate block "
                f"({len(blocks)}: {', '.join(self.coords)}) or one per coordinate ({n})"
            )
        return sp.ImmutableMatrix(entries)

    def _fit_block(self, value: sp.Basic, block: sp.Basic, name: str, where: str) -> list:
        if isinstance(block, sp.MatrixBase):
            if isinstance(value, sp.MatrixBase) and value.shape == block.shape:
                return list(value)
            if value == 0:
                return [sp.S.Zero] * len(block)
            shape = value.shape if isinstance(value, sp.MatrixBase) else "a scalar"
            raise SpecFileError(
                f"{where}: the part for {name} has shape {shape}, but {name} is "
                f"{block.shape[0]}×{block.shape[1]}"
            )
        if isinstance(value, sp.MatrixBase):
            if value.shape != (1, 1):
                raise SpecFileError(f"{where}: the part for the scalar {name} is a matrix")
            value = value[0, 0]
        return [value]

    def _initial(self, system: LearningSystem) -> dict[sp.Symbol, float]:
        table = sub_table(self.doc, "initial", "the top level")
        if not table:
            return {}
        targets: dict[str, sp.Basic] = {**self.coords, **self.entries}
        velocities = self._velocitynames()
        if system.order == 2:
            targets.update(velocities)
        elif set(table) & set(velocities):
            name = sorted(set(table) & set(velocities))[0]
            raise SpecFileError(
                f"[initial] {name}: gradient flow is first order and has no velocities; remove it"
            )
        values = assign(table, targets, "[initial]")
        missing = [q for q in system.coords if q not in values]
        if missing:
            raise SpecFileError(
                f"[initial] gives no value for the coordinate {missing[0]}; give every "
                "coordinate (a matrix as a list of rows)"
            )
        return values

    def _t_end(self) -> float | None:
        settings = sub_table(self.doc, "validation", "the top level")
        check_keys(settings, ("t_end",), "[validation]")
        if "t_end" not in settings:
            return None
        t_end = as_number(settings["t_end"], "[validation] t_end")
        if t_end <= 0:
            raise SpecFileError(f"[validation] t_end = {t_end:g} is not positive; e.g. 5.0")
        return t_end

    def _data_values(self) -> dict[sp.Symbol, float]:
        table = sub_table(self.doc, "data_values", "the top level")
        if not table:
            return {}
        values = assign(table, self.data, "[data_values]")
        missing = [d for d in self.data.values() if isinstance(d, sp.Symbol) and d not in values]
        if missing:
            raise SpecFileError(f"[data_values] gives no value for the data symbol {missing[0]}")
        return values
