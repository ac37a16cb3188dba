"""Values of the post-processing language.

Numbers and arrays are both ``numpy.ndarray`` of float64 — a number is a 0-d
array — so arithmetic, views and reductions go straight to numpy.  The other
values are small classes here:

* ``NULL`` (``null``) and ``DEFAULT`` (``default``: "use the parameter's default");
* ``TupleValue`` (``(a, b)``, and what multi-value ``return`` gives);
* ``StringValue``;
* ``Closure``: a function — a lambda with the environment it was created in,
  or a built-in (a wrapped operator like ``@2:+``, or ``load``), which may
  also carry a numpy ufunc so that ``fold`` and ``map`` can skip the
  interpreter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ProtocolError

if TYPE_CHECKING:
    from . import ast
    from .environment import Environment


class NullValue:
    """The single ``null`` value."""

    _instance: NullValue | None = None

    def __new__(cls) -> NullValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "null"


class DefaultValue:
    """The single ``default`` value: stands for a parameter's default."""

    _instance: DefaultValue | None = None

    def __new__(cls) -> DefaultValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "default"


NULL = NullValue()
DEFAULT = DefaultValue()


@dataclass(frozen=True)
class TupleValue:
    items: tuple[Any, ...]

    def __repr__(self) -> str:
        return "(" + ", ".join(describe(v) for v in self.items) + ")"


@dataclass(frozen=True)
class StringValue:
    value: str

    def __repr__(self) -> str:
        return repr(self.value)


@dataclass(eq=False)
class Closure:
    """A function value.

    For a lambda, ``body`` and ``env`` are set and ``defaults`` holds the
    default value of each parameter (``None`` where there is none).  For a
    built-in, ``builtin`` takes the evaluated arguments.  ``ufunc`` is set for
    wrapped binary operators that numpy can reduce (``@2:+`` → ``np.add``).
    """

    params: list[str]
    defaults: list[Any | None]
    body: list[ast.Statement] | None = None
    env: Environment | None = None
    builtin: Callable[[list[Any]], Any] | None = None
    ufunc: np.ufunc | None = None
    name: str = "lambda"
    elementwise: Callable[..., Any] | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return f"function {self.name}({', '.join(self.params)})"


Value = np.ndarray | NullValue | DefaultValue | TupleValue | StringValue | Closure


def number(x: Any) -> np.ndarray:
    """A protocol-language number or array from any numeric Python/numpy value."""
    return np.asarray(x, dtype=float)


def is_numeric(v: Any) -> bool:
    return isinstance(v, np.ndarray)


def is_simple(v: Any) -> bool:
    """A number (0-d array), as the original's ``Simple`` or 0-d ``Array``."""
    return isinstance(v, np.ndarray) and v.ndim == 0


def describe(v: Any) -> str:
    """Short human description of a value for error messages."""
    if isinstance(v, np.ndarray):
        if v.ndim == 0:
            return repr(float(v))
        return f"array of shape {tuple(v.shape)}"
    if isinstance(v, TupleValue):
        return f"tuple of {len(v.items)} values"
    if isinstance(v, StringValue):
        return f"string {v.value!r}"
    if isinstance(v, Closure):
        return "a function"
    return repr(v)


def as_simple(v: Any, what: str) -> float:
    """The float value of a number, or a ``ProtocolError`` naming ``what`` needed it."""
    if isinstance(v, np.ndarray) and v.ndim == 0:
        return float(v)
    raise ProtocolError(f"{what} must be a number, not {describe(v)}")


def as_array(v: Any, what: str) -> np.ndarray:
    if isinstance(v, np.ndarray):
        return v
    raise ProtocolError(f"{what} must be an array, not {describe(v)}")


def as_int(v: Any, what: str) -> int:
    return int(as_simple(v, what))
