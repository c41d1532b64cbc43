"""Checks made when a :class:`~symnoether.core.matrix_system.MatrixSystem` is built:
layers distinct MatrixSymbols of integer shapes, data neither a layer nor an engine
symbol, a scalar (or 1×1) loss of layers and data with aligned shapes, a supported
rule and weight decay on layers. Each failure raises the
:class:`~symnoether.errors.SymnoetherError` subclass that names the culprit and the fix.

Examples
--------
>>> import sympy as sp
>>> W = sp.MatrixSymbol("W", 2, 2)
>>> check_data((W,), (W,))
Traceback (most recent call last):
  ...
symnoether.errors.InvalidCoordinatesError: W is both a layer (coordinate) and data; ...
"""

from __future__ import annotations

import warnings

import sympy as sp

from ..errors import (
    IgnoredCoordinateWarning,
    InvalidCoordinatesError,
    InvalidLossError,
    InvalidRuleError,
    NotSupportedError,
)
from .checks import check_regularizers as check_coordinate_regularizers
from .matrices import as_scalar_loss, matrix_velocity
from .rules import LearningRule
from .vocabulary import TIME

__all__ = ["check_layers", "check_data", "check_loss", "check_rule", "check_regularizers"]


def check_layers(layers: object) -> tuple:
    if isinstance(layers, sp.MatrixSymbol):
        layers = (layers,)
    layers = tuple(layers)
    for W in layers:
        if not isinstance(W, sp.MatrixSymbol):
            raise NotSupportedError(
                f"coordinate {W!r} is not a MatrixSymbol, but other coordinates are; mixing "
                "MatrixSymbol layers with scalar coordinates is not supported: declare a "
                "scalar as a 1×1 layer, sn.layers(b=(1, 1))"
            )
        if not all(isinstance(d, sp.Integer | int) and int(d) >= 1 for d in W.shape):
            raise InvalidCoordinatesError(
                f"layer {W} has shape {W.shape}; a layer needs integer sizes, e.g. "
                f"sn.layers({W.name}=(64, 32))"
            )
    names = [W.name for W in layers]
    for name in names:
        if names.count(name) > 1:
            raise InvalidCoordinatesError(
                f"layer {name} appears twice; each layer must be a distinct MatrixSymbol"
            )
    return layers


def check_data(data: object, layers: tuple) -> tuple:
    if isinstance(data, sp.MatrixSymbol | sp.Symbol):
        data = (data,)
    data = tuple(data or ())
    velocities = {matrix_velocity(W).name for W in layers}
    layer_names = {W.name: W for W in layers}
    for d in data:
        if not isinstance(d, sp.MatrixSymbol | sp.Symbol):
            raise InvalidCoordinatesError(
                f"data entry {d!r} is not a MatrixSymbol or Symbol; declare data with "
                "sn.layers(x=(32, 1), data=True) or sn.data('y')"
            )
        if d.name in layer_names:
            raise InvalidCoordinatesError(
                f"{d.name} is both a layer (coordinate) and data; a parameter cannot be "
                "data: remove it from data=, or rename one of them"
            )
        if d.name in velocities or d == TIME:
            raise InvalidCoordinatesError(
                f"data symbol {d.name} is reserved by the engine (a layer velocity or the "
                "time t); rename it"
            )
    names = [d.name for d in data]
    for name in names:
        if names.count(name) > 1:
            raise InvalidCoordinatesError(f"data symbol {name} appears twice in data=")
    return data


def check_loss(loss: object, layers: tuple, data: tuple, velocities: tuple) -> sp.Expr:
    if isinstance(loss, sp.MatrixExpr | sp.MatrixBase) and tuple(loss.shape) != (1, 1):
        raise InvalidLossError(
            f"the loss is a {loss.shape[0]}×{loss.shape[1]} matrix; it must be a scalar or "
            "1×1: for a squared error write e.T*e/2 (not e*e.T), or take sp.Trace(...)"
        )
    if isinstance(loss, str) or not isinstance(loss, sp.Basic | int | float):
        raise InvalidLossError(
            f"the loss is a {type(loss).__name__}, not a SymPy expression; build it from "
            "the layers of sn.layers"
        )
    _check_shapes(loss)
    scalar = as_scalar_loss(loss)
    matrices = scalar.atoms(sp.MatrixSymbol)
    known = set(layers) | {d for d in data if isinstance(d, sp.MatrixSymbol)}
    by_name = {M.name: M for M in known}
    for M in sorted(matrices, key=lambda m: m.name):
        if M in known:
            continue
        if M.name in by_name:
            other = by_name[M.name]
            raise InvalidLossError(
                f"the loss uses {M.name} with shape {M.shape[0]}×{M.shape[1]}, but the "
                f"declared {M.name} is {other.shape[0]}×{other.shape[1]}; build the loss "
                "from the declared MatrixSymbols"
            )
        if M in velocities:
            raise InvalidLossError(
                f"the loss depends on the velocity {M.name}; a loss is a function of the "
                "layers and data only"
            )
        raise InvalidLossError(
            f"the loss uses the MatrixSymbol {M.name}, which is neither a layer nor data; "
            "declare it in data=(...) (inputs, targets, fixed matrices) or as a layer"
        )
    if TIME in scalar.free_symbols:
        raise InvalidLossError("the loss depends on the time t; a loss is time-independent")
    ignored = [W.name for W in layers if W not in matrices]
    if len(ignored) == len(layers):
        raise InvalidLossError(
            f"the loss {scalar} depends on none of the layers; build it from the layers"
        )
    if ignored:
        warnings.warn(
            f"the loss does not depend on the layer(s) {', '.join(ignored)}",
            IgnoredCoordinateWarning,
            stacklevel=5,
        )
    return scalar


def _check_shapes(expr: object) -> None:
    """Products and sums aligned (a loss built with check=False is caught here)."""
    if not isinstance(expr, sp.Basic):
        return
    for node in sp.preorder_traversal(expr):
        if isinstance(node, sp.MatMul):
            mats = [a for a in node.args if isinstance(a, sp.MatrixExpr)]
            for left, right in zip(mats, mats[1:], strict=False):
                if left.shape[1] != right.shape[0]:
                    raise InvalidLossError(
                        f"shape mismatch in the loss: {left} is {left.shape[0]}×"
                        f"{left.shape[1]} and {right} is {right.shape[0]}×{right.shape[1]}, "
                        "so they cannot be multiplied; check the layer shapes"
                    )
        elif isinstance(node, sp.MatAdd):
            shapes = {tuple(a.shape) for a in node.args}
            if len(shapes) > 1:
                first, second = sorted(shapes)[:2]
                raise InvalidLossError(
                    f"shape mismatch in the loss: a sum of a {first[0]}×{first[1]} and a "
                    f"{second[0]}×{second[1]} matrix in {node}; check the layer shapes"
                )


def check_rule(rule: object) -> LearningRule:
    if rule is None:
        raise InvalidRuleError(
            "no dynamics: pass rule=sn.rules.gradient_descent(eta) (or another rule)"
        )
    if not isinstance(rule, LearningRule):
        raise InvalidRuleError(
            f"rule = {rule!r} is not a LearningRule; build one with "
            "sn.rules.gradient_descent(eta), sn.rules.momentum(eta, beta), ..."
        )
    if rule.stochastic:
        raise NotSupportedError(
            "rules.sgd on MatrixSymbol layers is not supported yet; declare the layers with "
            "sn.matrix_coordinates for the element-wise path"
        )
    if isinstance(rule.preconditioner, sp.MatrixBase):
        raise NotSupportedError(
            "a matrix preconditioner on MatrixSymbol layers is not supported; pass a scalar "
            "G, or declare the layers with sn.matrix_coordinates for the element-wise path"
        )
    return rule


def check_regularizers(regularizers: object, layers: tuple) -> tuple:
    """The weight decays of a matrix-level system, ``on=`` naming only its layers."""
    return check_coordinate_regularizers(
        regularizers, layers, what="layer", fix="; pass the MatrixSymbol layers to decay"
    )
