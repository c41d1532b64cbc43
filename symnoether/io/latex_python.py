r"""The Python side of a derivation, typeset with latexify-py.

Two kinds of Python code belong in a derivation's appendix:

* a loss written as a plain Python function, ``def loss(w1, w2, x, y): ...``.
  :func:`loss_from_function` calls it with the system's symbols to obtain the
  SymPy loss (and remembers the function, so the exported document can show
  its source next to the mathematics);
* the generated numeric kernels (:mod:`symnoether.numerics.codegen`): each output of
  the ``loss``, ``rhs``, ``charge`` and ``rate`` kernels becomes a small
  function of the symbols it uses, with the kernel's common subexpressions
  ``c_k`` as assignment lines.

Both are rendered by ``latexify.get_latex``; the variable names are those of
the mathematics (:math:`\dot w_1`, :math:`\eta`, :math:`(W_1)_{12}`), never
``y[3]``, ``p[0]`` or ``_Dummy_23``.

Examples
--------
>>> import symnoether as sn
>>> w1, w2 = sn.coordinates("w1 w2")
>>> x, y = sn.data("x y")
>>> def loss(w1, w2, x, y):
...     return (y - w2 * w1 * x) ** 2 / 2
>>> loss_from_function(loss, (w1, w2), (x, y))
(-w1*w2*x + y)**2/2
>>> def rescaled(w1, w2):
...     return w1 * w2
>>> print(function_latex(rescaled))
\mathrm{rescaled}(w_{1}, w_{2}) = w_{1} \cdot w_{2}
"""

from __future__ import annotations

import ast
import copy
import inspect
import itertools
import linecache
from collections.abc import Callable, Iterable, Mapping, Sequence

import sympy as sp

from ..core.dynamics import accelerations
from ..core.system import TIME, LearningSystem, velocity
from ..core.vocabulary import matrix_name
from ..errors import BudgetExceededError, InvalidLossError, NotSupportedError, SymnoetherError
from ..numerics.codegen import compile_kernels
from .notation import Notation, latex_text

__all__ = ["loss_from_function", "python_function", "function_latex", "kernel_latex"]

_PYTHON_FUNCTIONS: dict[sp.Basic, Callable] = {}
_REMEMBERED = 256
_COUNTER = itertools.count()
KERNELS_TYPESET = ("loss", "rhs", "charge", "rate")
MAX_KERNEL_LINES = 400


def loss_from_function(
    func: Callable,
    coords: object,
    data: object = (),
    parameters: object = (),
) -> sp.Expr:
    """The SymPy loss of a plain Python function, called with the system's symbols.

    Each argument of ``func`` is matched by name with a coordinate (or a
    coordinate matrix from :func:`~symnoether.matrix_coordinates`, by its
    name), a data symbol or a hyper-parameter; the function must build its
    result with arithmetic operators and SymPy functions (``sp.exp``,
    ``sp.log``), not ``math.*``.

    Parameters
    ----------
    func : callable
        E.g. ``def loss(w1, w2, x, y): return (y - w2*w1*x)**2/2``.
    coords, data, parameters : sequences of Symbols (and coordinate matrices)

    Returns
    -------
    sympy expression
        Remembered with ``func``: an exported derivation whose loss is this
        expression shows the function in its appendix.

    Raises
    ------
    InvalidLossError
        An argument that names no symbol, a call that fails on symbols, or a
        result that is not a scalar expression.

    Examples
    --------
    >>> import sympy as sp, symnoether as sn
    >>> (q,) = sn.coordinates("q")
    >>> k = sp.Symbol("k", positive=True)
    >>> loss_from_function(lambda q, k: k * q**2 / 2, (q,), parameters=(k,))
    k*q**2/2
    """
    if not callable(func):
        raise InvalidLossError(f"{func!r} is not a function; pass e.g. def loss(w1, w2, x, y)")
    available = _by_name(coords, data, parameters)
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        raise InvalidLossError(f"cannot read the arguments of {func!r}; pass a def or lambda")
    arguments = {}
    for name, parameter in signature.parameters.items():
        if name in available:
            arguments[name] = available[name]
        elif parameter.default is inspect.Parameter.empty:
            known = ", ".join(available) or "none"
            raise InvalidLossError(
                f"argument {name!r} of {_name(func)} is neither a coordinate, data nor a "
                f"parameter (known: {known}); rename it or pass its symbol in parameters="
            )
    try:
        value = func(**arguments)
    except BudgetExceededError:
        raise
    except Exception as err:  # the user's code may raise anything on symbols
        raise InvalidLossError(
            f"calling {_name(func)} with symbols failed ({type(err).__name__}: {err}); "
            "write the loss with operators and SymPy functions (sp.exp, sp.log, sp.sqrt), "
            "not math.* or numpy"
        ) from None
    if isinstance(value, sp.MatrixBase) and value.shape == (1, 1):
        value = value[0, 0]
    if isinstance(value, bool) or not isinstance(value, int | float | sp.Expr):
        raise InvalidLossError(
            f"{_name(func)} returned a {type(value).__name__}, not a scalar expression; "
            "return a SymPy expression of its arguments"
        )
    value = sp.sympify(value)
    if len(_PYTHON_FUNCTIONS) >= _REMEMBERED:
        _PYTHON_FUNCTIONS.pop(next(iter(_PYTHON_FUNCTIONS)))
    _PYTHON_FUNCTIONS[value] = func
    return value


def python_function(expr: sp.Basic) -> Callable | None:
    """The Python function :func:`loss_from_function` built ``expr`` from, if any."""
    try:
        return _PYTHON_FUNCTIONS.get(expr)
    except TypeError:
        return None


def _by_name(*groups: object) -> dict[str, object]:
    found: dict[str, object] = {}
    for group in groups:
        items = [group] if isinstance(group, sp.Basic) else list(group or ())
        for item in items:
            if isinstance(item, sp.MatrixBase):
                found[matrix_name(item)] = item
                found.update({s.name: s for s in item if isinstance(s, sp.Symbol)})
            elif isinstance(item, sp.Symbol):
                found[item.name] = item
    return found


def _name(func: Callable) -> str:
    return getattr(func, "__name__", "the loss function")


# -- latexify ------------------------------------------------------------------------


def function_latex(func: Callable, names: Mapping[str, str] | None = None) -> str:
    r"""``latexify.get_latex(func)`` with readable names.

    Each argument and local variable prints as the SymPy LaTeX of the symbol
    of that name (``w1`` → ``w_{1}``, ``wdot1`` → ``\dot{w}_{1}``, ``eta`` →
    ``\eta``), or as ``names[identifier]`` when given.

    Raises
    ------
    NotSupportedError
        latexify cannot read or translate the function.
    """
    import latexify

    try:
        tree = ast.parse(inspect.cleandoc("\n" + inspect.getsource(func)))
    except (OSError, TypeError, SyntaxError) as err:
        raise NotSupportedError(f"cannot read the source of {_name(func)} ({err})") from None
    stored = {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }
    identifiers = sorted(stored | {a.arg for a in ast.walk(tree) if isinstance(a, ast.arg)})
    names = dict(names or {})
    placeholders, replacements = {}, {}
    for i, identifier in enumerate(identifiers):
        placeholder = f"zqv{i}"
        placeholders[identifier] = placeholder
        replacements[placeholder] = names.get(identifier) or sp.latex(sp.Symbol(identifier))
    try:
        text = latexify.get_latex(func, identifiers=placeholders)
    except Exception as err:  # latexify raises its own error types, and others
        raise NotSupportedError(
            f"latexify cannot typeset {_name(func)}: {type(err).__name__}: {err}"
        ) from None
    return _replace_placeholders(text, replacements)


def _replace_placeholders(text: str, replacements: Mapping[str, str]) -> str:
    for placeholder in sorted(replacements, key=len, reverse=True):
        text = text.replace(rf"\mathrm{{{placeholder}}}", replacements[placeholder])
    return text


# -- generated kernels -----------------------------------------------------------------


def kernel_latex(system: LearningSystem, laws: Sequence, law_names: Sequence[str] = ()) -> tuple:
    """The generated numeric kernels of ``system`` and ``laws``, typeset.

    Returns
    -------
    (entries, notes)
        ``entries``: (title, LaTeX) per kernel output; ``notes``: why a kernel
        or all of them are missing (a law the code printer cannot translate,
        too large, latexify cannot translate it).
    """
    try:
        kernels = compile_kernels(system, tuple(laws), backend="numpy")
    except BudgetExceededError:
        raise
    except SymnoetherError as err:  # a law the printer cannot translate: say why, keep going
        return (), (f"no kernels were generated: {type(err).__name__}: {err}",)
    source = kernels.source
    lines = source.count("\n")
    if lines > MAX_KERNEL_LINES:
        return (), (f"the generated kernels have {lines} lines; too long to typeset here",)
    notation = Notation(system)
    labels = _output_labels(system, kernels, notation, law_names)
    entries, notes = [], []
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in KERNELS_TYPESET:
            for index, function in _split_outputs(node, kernels, notation):
                title = f"kernel {node.name}, output {index}"
                label = labels[node.name][index]
                try:
                    entries.append((title, _typeset(function, label)))
                except NotSupportedError as err:
                    notes.append(f"{title}: {err}")
    return tuple(entries), tuple(notes)


def _output_labels(system, kernels, notation: Notation, law_names: Sequence[str]) -> dict:
    dotted = []
    for symbol in kernels.state:
        if symbol in system.coords:
            dotted.append(notation.latex(velocity(symbol)))
        else:
            coordinate = system.coords[system.velocities.index(symbol)]
            dotted.append(notation.latex(accelerations((coordinate,))[0]))
    names = list(law_names) + [f"{i + 1}" for i in range(len(law_names), len(kernels.laws))]
    Q = notation.role("Q")
    return {
        "loss": [notation.role("V")],
        "rhs": dotted,
        "charge": [rf"\tilde{{{Q}}}_{{\text{{{latex_text(n)}}}}}" for n in names],
        "rate": [rf"\tilde{{R}}_{{\text{{{latex_text(n)}}}}}" for n in names],
    }


def _split_outputs(node: ast.FunctionDef, kernels, notation: Notation) -> Iterable:
    """One pure function per output: (index, (ast.FunctionDef, names))."""
    aliases: dict[str, sp.Symbol] = {}
    subexpressions: dict[str, ast.expr] = {}
    outputs: list[tuple[int, ast.expr]] = []
    for statement in node.body:
        if isinstance(statement, ast.Return):
            outputs.append((0, statement.value))
        if not isinstance(statement, ast.Assign) or len(statement.targets) != 1:
            continue
        target, value = statement.targets[0], statement.value
        if isinstance(target, ast.Subscript):  # out[i] = expr
            outputs.append((ast.literal_eval(target.slice), value))
        elif isinstance(target, ast.Name) and isinstance(value, ast.Subscript):
            vector, index = value.value.id, ast.literal_eval(value.slice)
            symbols = kernels.state if vector == "y" else kernels.parameters
            aliases[target.id] = symbols[index]
        elif isinstance(target, ast.Name):
            subexpressions[target.id] = value
    aliases["t"] = TIME
    for index, value in outputs:
        if isinstance(value, ast.Name) and value.id in aliases:
            continue  # dq/dt = q̇: nothing to typeset
        yield index, _pure_function(value, aliases, subexpressions, notation)


def _pure_function(value: ast.expr, aliases: dict, subexpressions: dict, notation) -> tuple:
    needed: list[str] = []

    def visit(expr: ast.AST) -> None:
        for name in (n.id for n in ast.walk(expr) if isinstance(n, ast.Name)):
            if name in subexpressions and name not in needed:
                visit(subexpressions[name])
                needed.append(name)

    visit(value)
    used = {n.id for e in [value, *(subexpressions[c] for c in needed)] for n in ast.walk(e)
            if isinstance(n, ast.Name) and n.id in aliases}  # fmt: skip
    order = [name for name in aliases if name in used]
    names = {name: notation.latex(aliases[name]) for name in order}
    names.update({c: f"c_{{{c[1:]}}}" for c in needed})
    body = [
        ast.Assign([ast.Name(c, ast.Store())], copy.deepcopy(subexpressions[c])) for c in needed
    ]
    body.append(ast.Return(copy.deepcopy(value)))
    arguments = ast.arguments([], [ast.arg(n) for n in order], None, [], [], None, [])
    function = ast.FunctionDef(
        name="kernel", args=arguments, body=body, decorator_list=[], returns=None
    )
    return _Integers().visit(ast.fix_missing_locations(ast.Module([function], []))), names


class _Integers(ast.NodeTransformer):
    """2.0 → 2 (the kernels print every number as a float for numba)."""

    def visit_Constant(self, node: ast.Constant) -> ast.Constant:
        if isinstance(node.value, float) and node.value.is_integer():
            return ast.copy_location(ast.Constant(int(node.value)), node)
        return node


def _typeset(function: tuple, label: str) -> str:
    module, names = function
    placeholders = {name: f"zqv{i}" for i, name in enumerate(names)}
    module = _Rename({**placeholders, "kernel": "zqfn"}).visit(module)
    source = ast.unparse(ast.fix_missing_locations(module))
    filename = f"<symnoether kernel {next(_COUNTER)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict = {"math": __import__("math")}
    exec(compile(source, filename, "exec"), namespace)
    replacements = {placeholders[name]: names[name] for name in names}
    replacements["zqfn"] = label
    try:
        import latexify

        text = latexify.get_latex(namespace["zqfn"], reduce_assignments=False)
    except Exception as err:  # latexify's own errors: this kernel is skipped with a note
        raise NotSupportedError(f"latexify cannot typeset it ({type(err).__name__})") from None
    finally:
        linecache.cache.pop(filename, None)
    return _replace_placeholders(text, replacements)


class _Rename(ast.NodeTransformer):
    def __init__(self, mapping: Mapping[str, str]):
        self.mapping = mapping

    def visit_Name(self, node: ast.Name) -> ast.Name:
        return ast.copy_location(ast.Name(self.mapping.get(node.id, node.id), node.ctx), node)

    def visit_arg(self, node: ast.arg) -> ast.arg:
        return ast.copy_location(ast.arg(self.mapping.get(node.arg, node.arg)), node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        node.name = self.mapping.get(node.name, node.name)
        self.generic_visit(node)
        return node
