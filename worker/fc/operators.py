"""The language's arithmetic on numpy arrays: binary operators, MathML constants and functions.

Shared by the interpreter (``evaluate.py``) and the batch evaluator
(``batch.py``), which must compute exactly the same values, so neither owns it.
Numbers are 0-d arrays and booleans 1.0 / 0.0, as in the original engine.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import ProtocolError
from .values import describe, number

TRUE = number(1.0)


FALSE = number(0.0)


MATHML_CONSTANTS = {
    "true": 1.0,
    "false": 0.0,
    "pi": math.pi,
    "exponentiale": math.e,
    "infinity": math.inf,
    "notanumber": math.nan,
}


def numeric(v: Any, op: str) -> np.ndarray:
    """``v`` if it is numeric; operators refuse strings, tuples, functions and null by name."""
    if isinstance(v, np.ndarray):
        return v
    raise ProtocolError(f"operator {op!r} needs numbers or arrays, not {describe(v)}")


BINARY_OPERATORS: dict[str, Callable[[np.ndarray, np.ndarray], Any]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
    "^": np.power,
    "==": np.equal,
    "!=": np.not_equal,
    "<": np.less,
    ">": np.greater,
    "<=": np.less_equal,
    ">=": np.greater_equal,
}


def apply_binary(op: str, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """A binary operator on two arrays, with numpy broadcasting; a shape mismatch is a protocol error."""
    if op in ("&&", "||"):
        fn = np.logical_and if op == "&&" else np.logical_or
        return number(fn(left, right))
    try:
        return number(BINARY_OPERATORS[op](left, right))
    except ValueError:
        raise ProtocolError(
            f"operator {op!r}: operands of shapes {left.shape} and {right.shape} do not match"
        ) from None


def _mathml_reduce(fn: Callable[[Any, Any], Any]) -> Callable[[list[np.ndarray]], np.ndarray]:
    def apply(args: list[np.ndarray]) -> np.ndarray:
        if not args:
            raise ProtocolError("needs at least one operand")
        result = args[0]
        for a in args[1:]:
            result = fn(result, a)
        return number(result)

    return apply


def _log(args: list[np.ndarray]) -> np.ndarray:
    if len(args) == 1:
        return number(np.log10(args[0]))
    base, x = args
    return number(np.log(x) / np.log(base))


def _root(args: list[np.ndarray]) -> np.ndarray:
    if len(args) == 1:
        return number(np.sqrt(args[0]))
    degree, x = args
    return number(np.power(x, 1.0 / degree))


def _minus(args: list[np.ndarray]) -> np.ndarray:
    if len(args) == 1:
        return number(np.negative(args[0]))
    return number(np.subtract(args[0], args[1]))


def _unary_fn(fn: Callable[[Any], Any]) -> Callable[[list[np.ndarray]], np.ndarray]:
    def apply(args: list[np.ndarray]) -> np.ndarray:
        if len(args) != 1:
            raise ProtocolError(f"takes one operand, not {len(args)}")
        return number(fn(args[0]))

    return apply


def _binary_fn(fn: Callable[[Any, Any], Any]) -> Callable[[list[np.ndarray]], np.ndarray]:
    def apply(args: list[np.ndarray]) -> np.ndarray:
        if len(args) != 2:
            raise ProtocolError(f"takes two operands, not {len(args)}")
        return number(fn(args[0], args[1]))

    return apply


def _xor(args: list[np.ndarray]) -> np.ndarray:
    result = np.zeros(np.broadcast(*args).shape, dtype=bool) if args else np.asarray(False)
    for a in args:
        result = np.logical_xor(result, a != 0)
    return number(result)


MATHML_FUNCTIONS: dict[str, Callable[[list[np.ndarray]], np.ndarray]] = {
    "plus": _mathml_reduce(np.add),
    "times": _mathml_reduce(np.multiply),
    "minus": _minus,
    "divide": _binary_fn(np.divide),
    "power": _binary_fn(np.power),
    "max": _mathml_reduce(np.maximum),
    "min": _mathml_reduce(np.minimum),
    "rem": _binary_fn(np.mod),
    "quotient": _binary_fn(np.floor_divide),
    "root": _root,
    "abs": _unary_fn(np.abs),
    "floor": _unary_fn(np.floor),
    "ceiling": _unary_fn(np.ceil),
    "exp": _unary_fn(np.exp),
    "ln": _unary_fn(np.log),
    "log": _log,
    "eq": _binary_fn(np.equal),
    "neq": _binary_fn(np.not_equal),
    "lt": _binary_fn(np.less),
    "gt": _binary_fn(np.greater),
    "leq": _binary_fn(np.less_equal),
    "geq": _binary_fn(np.greater_equal),
    "not": _unary_fn(np.logical_not),
    "and": _mathml_reduce(np.logical_and),
    "or": _mathml_reduce(np.logical_or),
    "xor": _xor,
    "sin": _unary_fn(np.sin),
    "cos": _unary_fn(np.cos),
    "tan": _unary_fn(np.tan),
    "sec": _unary_fn(lambda x: 1 / np.cos(x)),
    "csc": _unary_fn(lambda x: 1 / np.sin(x)),
    "cot": _unary_fn(lambda x: 1 / np.tan(x)),
    "sinh": _unary_fn(np.sinh),
    "cosh": _unary_fn(np.cosh),
    "tanh": _unary_fn(np.tanh),
    "sech": _unary_fn(lambda x: 1 / np.cosh(x)),
    "csch": _unary_fn(lambda x: 1 / np.sinh(x)),
    "coth": _unary_fn(lambda x: 1 / np.tanh(x)),
    "arcsin": _unary_fn(np.arcsin),
    "arccos": _unary_fn(np.arccos),
    "arctan": _unary_fn(np.arctan),
    "arcsinh": _unary_fn(np.arcsinh),
    "arccosh": _unary_fn(np.arccosh),
    "arctanh": _unary_fn(np.arctanh),
    "arcsec": _unary_fn(lambda x: np.arccos(1 / x)),
    "arccsc": _unary_fn(lambda x: np.arcsin(1 / x)),
    "arccot": _unary_fn(lambda x: np.arctan(1 / x)),
    "arcsech": _unary_fn(lambda x: np.arccosh(1 / x)),
    "arccsch": _unary_fn(lambda x: np.arcsinh(1 / x)),
    "arccoth": _unary_fn(lambda x: np.arctanh(1 / x)),
}


def mathml_call(name: str, args: list[Any]) -> np.ndarray:
    """``MathML:name(args)``; the error names the function, since the table's helpers cannot."""
    fn = MATHML_FUNCTIONS.get(name)
    if fn is None:
        raise ProtocolError(f"unknown MathML function MathML:{name}")
    operands = [numeric(a, f"MathML:{name}") for a in args]
    try:
        return fn(operands)
    except ProtocolError as exc:
        raise ProtocolError(f"MathML:{name} {exc.message}") from None


UFUNCS: dict[str, np.ufunc] = {
    "+": np.add,
    "*": np.multiply,
    "MathML:max": np.maximum,
    "MathML:min": np.minimum,
    "MathML:plus": np.add,
    "MathML:times": np.multiply,
}
