"""The grid of a sweep: values for each swept parameter, and the seeds.

:func:`grid` builds a :class:`Grid` from a mapping symbol → values (:func:`geomspace`,
:func:`linspace`, or any list of numbers) and the seeds; its points are the Cartesian
product of the axes, the last axis fastest. :func:`symnoether.numerics.sweeps.sweep`
runs a check at every point and seed.

Examples
--------
>>> g = grid({"eta": geomspace(1e-3, 1e-1, 3), "lambda": linspace(0.0, 0.2, 3)}, seeds=range(2))
>>> len(g), g.points, g.point(5)
(18, 9, (0.01, 0.2))
>>> print(g)
grid of 9 points × 2 seeds (eta: 3 values 0.001…0.1; lambda: 3 values 0…0.2)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidInputError
from .arguments import count, finite_real, positive

__all__ = ["Grid", "grid", "geomspace", "linspace", "name_of"]


def geomspace(start: float, stop: float, num: int) -> tuple[float, ...]:
    """``num`` values from ``start`` to ``stop`` (both > 0), evenly spaced in log.

    Examples
    --------
    >>> geomspace(1e-3, 1e-1, 3)
    (0.001, 0.01, 0.1)
    """
    start = positive(start, "start", "1e-3")
    stop = positive(stop, "stop", "1e-1")
    num = count(num, "num", "16")
    return tuple(float(v) for v in np.geomspace(start, stop, num))


def linspace(start: float, stop: float, num: int) -> tuple[float, ...]:
    """``num`` evenly spaced values from ``start`` to ``stop``.

    Examples
    --------
    >>> linspace(0.0, 0.9, 4)
    (0.0, 0.3, 0.6, 0.9)
    """
    start = finite_real(start, "start", "0.0")
    stop = finite_real(stop, "stop", "1.0")
    num = count(num, "num", "16")
    return tuple(round(float(v), 15) for v in np.linspace(start, stop, num))


@dataclass(frozen=True)
class Grid:
    """The points of a sweep: the Cartesian product of the axes (last fastest), times seeds.

    Attributes
    ----------
    axes : tuple of (Symbol or str, tuple of float)
    seeds : tuple of int
    """

    axes: tuple
    seeds: tuple

    @property
    def names(self) -> tuple[str, ...]:
        """The swept parameters' names (the table's first columns)."""
        return tuple(name_of(key) for key, _ in self.axes)

    @property
    def points(self) -> int:
        """Number of grid points (without seeds)."""
        return math.prod(len(values) for _, values in self.axes)

    def point(self, index: int) -> tuple[float, ...]:
        """The values of point ``index`` (row-major, the last axis fastest)."""
        values = []
        for _, axis in reversed(self.axes):
            index, i = divmod(index, len(axis))
            values.append(axis[i])
        return tuple(reversed(values))

    def __len__(self) -> int:
        return self.points * len(self.seeds)

    def __str__(self) -> str:
        axes = "; ".join(f"{name}: {len(v)} values {v[0]:g}…{v[-1]:g}"
                         for name, (_, v) in zip(self.names, self.axes))  # fmt: skip
        return f"grid of {self.points} points × {len(self.seeds)} seeds ({axes})"

    def _repr_latex_(self) -> str:
        return rf"$\text{{{self}}}$"


def grid(axes: Mapping, seeds: Iterable[int] = (0,)) -> Grid:
    """The grid of a sweep: values for each swept symbol, and the seeds.

    Parameters
    ----------
    axes : mapping Symbol (or its name) → sequence of float
        Each hyper-parameter or data symbol to sweep, with its values.
    seeds : iterable of int ≥ 0
        One run per seed at every point (see the module docstring for what it draws).

    Raises
    ------
    InvalidInputError
        An empty grid (no axis, an axis without values, no seeds), a value that is not
        a finite number, a repeated name or seed.

    Examples
    --------
    >>> import sympy as sp
    >>> eta = sp.Symbol("eta", positive=True)
    >>> g = grid({eta: [0.1, 0.2], "lambda": [0.0, 1e-3, 1e-2]}, seeds=[0, 1])
    >>> len(g), g.points, g.point(4)
    (12, 6, (0.2, 0.001))
    """
    example = "sn.grid({eta: sn.geomspace(1e-3, 1e-1, 16)}, seeds=range(8))"
    if not isinstance(axes, Mapping) or not axes:
        raise InvalidInputError(
            f"the grid is empty (axes = {axes!r}); pass at least one swept parameter with "
            f"its values, e.g. {example}"
        )
    built, names = [], set()
    for key, values in axes.items():
        name = name_of(key)
        if name in names:
            raise InvalidInputError(f"the grid sweeps {name} twice; give each parameter once")
        names.add(name)
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise InvalidInputError(f"grid values of {name} = {values!r}: pass a list of numbers")
        values = tuple(finite_real(v, f"a grid value of {name}", "0.01") for v in values)
        if not values:
            raise InvalidInputError(f"the grid is empty: {name} has no values; {example}")
        built.append((key, values))
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Iterable):
        raise InvalidInputError(f"seeds = {seeds!r}: pass integers ≥ 0, e.g. seeds=range(8)")
    seeds = tuple(count(s, "seed", "0", low=0) for s in seeds)
    if not seeds:
        raise InvalidInputError("the grid is empty: no seeds; pass e.g. seeds=range(8)")
    if len(set(seeds)) != len(seeds):
        raise InvalidInputError(f"seeds = {list(seeds)} repeat a seed; give each seed once")
    return Grid(axes=tuple(built), seeds=seeds)


def name_of(key) -> str:
    """A swept parameter's name: ``Symbol.name``, or ``str`` of anything else."""
    return key.name if hasattr(key, "name") else str(key)
