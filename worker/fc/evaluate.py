"""The interpreter of the post-processing language.

``evaluate(expr, env)`` gives an expression's value; ``execute(statements,
env)`` runs statements for their bindings; ``call(function, args)`` applies a
closure.  Semantics follow the original engine (weblab-fc): views, ``find``,
``index``, ``fold`` and comprehensions behave as there, numbers are 0-d
arrays, booleans are 1.0 / 0.0.

The interpreter stays out of inner loops where it can:

* ``map`` with a lambda whose body is element-wise arithmetic (operators,
  ``if``, MathML functions, numbers and captured numbers) evaluates the body
  once on whole arrays; otherwise it calls the lambda per element.
* ``fold`` with a wrapped operator (``@2:+``, ``@2:MathML:max`` ...) is a numpy
  reduction; with another element-wise lambda it runs one vectorised step per
  position along the folded dimension.
* ``index`` (``a{idx, dim, shrink, pad}``) is vectorised.

Errors raised below a node without a location get the node's location.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from . import ast
from .batch import NotBatchable, batched_comprehension
from .environment import Environment
from .errors import ProtocolError
from .values import (
    DEFAULT,
    NULL,
    Closure,
    DefaultValue,
    NullValue,
    StringValue,
    TupleValue,
    as_array,
    as_int,
    as_simple,
    describe,
    is_simple,
    number,
)

TRUE = number(1.0)
FALSE = number(0.0)


class _Return(Exception):
    """Unwinds a function body on ``return``."""

    def __init__(self, value: Any) -> None:
        self.value = value


# --------------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------------


def evaluate(expr: ast.Expr, env: Environment) -> Any:
    """Evaluate an expression in an environment."""
    try:
        return _EVALUATORS[type(expr)](expr, env)
    except ProtocolError as exc:
        if exc.file is None and expr.pos.line:
            exc.with_location(expr.pos.file, expr.pos.line, expr.pos.column)
        raise
    except (ValueError, IndexError, TypeError, ZeroDivisionError, OverflowError) as exc:
        raise ProtocolError(
            f"{type(exc).__name__}: {exc}",
            expr.pos.file if expr.pos.line else None,
            expr.pos.line,
            expr.pos.column,
        ) from exc


def execute(statements: list[ast.Statement], env: Environment) -> None:
    """Run statements (library, post-processing, inputs); ``return`` is not allowed here."""
    for statement in statements:
        if isinstance(statement, ast.Return):
            raise ProtocolError("return statement not allowed outside a function", *_loc(statement.pos))
        _execute_one(statement, env)


def call(function: Any, args: list[Any]) -> Any:
    """Call a function value with evaluated arguments."""
    if not isinstance(function, Closure):
        raise ProtocolError(f"{describe(function)} is not a function")
    if function.builtin is not None:
        return function.builtin(args)
    if len(args) > len(function.params):
        raise ProtocolError(f"{function.name} takes {len(function.params)} arguments, not {len(args)}")
    local = Environment(function.env, label=function.name)
    for i, param in enumerate(function.params):
        value = args[i] if i < len(args) else DEFAULT
        if isinstance(value, DefaultValue):
            default = function.defaults[i]
            if default is None:
                raise ProtocolError(
                    f"parameter {param!r} of {function.name} was not given and has no default"
                )
            value = default
        local.bindings[param] = value
    assert function.body is not None
    try:
        for statement in function.body:
            _execute_one(statement, local)
    except _Return as ret:
        return ret.value
    return NULL


def _loc(pos: ast.Pos) -> tuple[str | None, int | None, int | None]:
    if pos.line:
        return pos.file, pos.line, pos.column
    return None, None, None


# --------------------------------------------------------------------------------------------------
# Statements
# --------------------------------------------------------------------------------------------------


def _execute_one(statement: ast.Statement, env: Environment) -> None:
    try:
        if isinstance(statement, ast.Assign):
            _assign(statement, env)
        elif isinstance(statement, ast.Assert):
            value = evaluate(statement.test, env)
            if not is_simple(value):
                raise ProtocolError(f"assertion did not yield a number but {describe(value)}")
            if not value:
                raise ProtocolError("assertion failed")
        elif isinstance(statement, ast.Return):
            values = [evaluate(e, env) for e in statement.values]
            result = values[0] if len(values) == 1 else TupleValue(tuple(values)) if values else NULL
            raise _Return(result)
        else:  # pragma: no cover - the parser makes no other statements
            raise ProtocolError(f"unknown statement {type(statement).__name__}")
    except ProtocolError as exc:
        if exc.file is None and statement.pos.line:
            exc.with_location(statement.pos.file, statement.pos.line, statement.pos.column)
        raise


def _assign(statement: ast.Assign, env: Environment) -> None:
    try:
        value = evaluate(statement.value, env)
    except ProtocolError:
        if statement.optional:
            return
        raise
    if isinstance(statement.value, ast.Lambda) and isinstance(value, Closure) and len(statement.names) == 1:
        value.name = statement.names[0]
    if len(statement.names) == 1:
        env.define(statement.names[0], value)
        return
    if not isinstance(value, TupleValue):
        raise ProtocolError("when assigning several names the value must be a tuple, not " + describe(value))
    if len(value.items) != len(statement.names):
        raise ProtocolError(
            f"cannot assign a tuple of {len(value.items)} values to {len(statement.names)} names"
        )
    for name, item in zip(statement.names, value.items, strict=True):
        env.define(name, item)


# --------------------------------------------------------------------------------------------------
# Simple expressions
# --------------------------------------------------------------------------------------------------


def _number(expr: ast.Number, env: Environment) -> np.ndarray:
    return number(expr.value)


def _string(expr: ast.String, env: Environment) -> StringValue:
    return StringValue(expr.value)


def _null(expr: ast.Null, env: Environment) -> NullValue:
    return NULL


def _default(expr: ast.Default, env: Environment) -> DefaultValue:
    return DEFAULT


def _name(expr: ast.Name, env: Environment) -> Any:
    return env.lookup(expr.name)


MATHML_CONSTANTS = {
    "true": 1.0,
    "false": 0.0,
    "pi": math.pi,
    "exponentiale": math.e,
    "infinity": math.inf,
    "notanumber": math.nan,
}


def _mathml(expr: ast.MathML, env: Environment) -> Any:
    if expr.name in MATHML_CONSTANTS:
        return number(MATHML_CONSTANTS[expr.name])
    if expr.name in MATHML_FUNCTIONS:
        return _wrap_function(expr.name)
    raise ProtocolError(f"unknown MathML name MathML:{expr.name}")


def _numeric(v: Any, op: str) -> np.ndarray:
    if isinstance(v, np.ndarray):
        return v
    raise ProtocolError(f"operator {op!r} needs numbers or arrays, not {describe(v)}")


_BINARY: dict[str, Callable[[np.ndarray, np.ndarray], Any]] = {
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


def _binary(expr: ast.BinaryOp, env: Environment) -> np.ndarray:
    op = expr.op
    left = _numeric(evaluate(expr.left, env), op)
    if op in ("&&", "||"):
        if left.ndim == 0:  # short-circuit, as the original does for numbers
            if op == "&&" and not left:
                return FALSE
            if op == "||" and left:
                return TRUE
            right = _numeric(evaluate(expr.right, env), op)
            return number(np.not_equal(right, 0))
        right = _numeric(evaluate(expr.right, env), op)
        fn = np.logical_and if op == "&&" else np.logical_or
        return number(fn(left, right))
    right = _numeric(evaluate(expr.right, env), op)
    return apply_binary(op, left, right)


def apply_binary(op: str, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    if op in ("&&", "||"):
        fn = np.logical_and if op == "&&" else np.logical_or
        return number(fn(left, right))
    try:
        return number(_BINARY[op](left, right))
    except ValueError:
        raise ProtocolError(
            f"operator {op!r}: operands of shapes {left.shape} and {right.shape} do not match"
        ) from None


def _unary(expr: ast.UnaryOp, env: Environment) -> np.ndarray:
    operand = _numeric(evaluate(expr.operand, env), expr.op)
    if expr.op == "-":
        return number(np.negative(operand))
    return number(np.logical_not(operand))


def _if(expr: ast.If, env: Environment) -> Any:
    test = evaluate(expr.test, env)
    if is_simple(test):
        return evaluate(expr.then if test else expr.orelse, env)
    if isinstance(test, np.ndarray):  # element-wise (vectorised map)
        return number(np.where(test != 0, evaluate(expr.then, env), evaluate(expr.orelse, env)))
    raise ProtocolError(f"the test of an if must be a number, not {describe(test)}")


def _tuple(expr: ast.TupleExpr, env: Environment) -> TupleValue:
    return TupleValue(tuple(evaluate(e, env) for e in expr.items))


def _accessor(expr: ast.Accessor, env: Environment) -> np.ndarray:
    v = evaluate(expr.operand, env)
    name = expr.name
    if name == "IS_SIMPLE_VALUE":
        return TRUE if is_simple(v) else FALSE
    if name == "IS_ARRAY":
        return TRUE if isinstance(v, np.ndarray) else FALSE
    if name == "IS_STRING":
        return TRUE if isinstance(v, StringValue) else FALSE
    if name == "IS_TUPLE":
        return TRUE if isinstance(v, TupleValue) else FALSE
    if name == "IS_FUNCTION":
        return TRUE if isinstance(v, Closure) else FALSE
    if name == "IS_NULL":
        return TRUE if isinstance(v, NullValue) else FALSE
    if name == "IS_DEFAULT":
        return TRUE if isinstance(v, DefaultValue) else FALSE
    array = as_array(v, f"the operand of .{name}")
    if name == "NUM_DIMS":
        return number(array.ndim)
    if name == "NUM_ELEMENTS":
        return number(array.size)
    if name == "SHAPE":
        return number(array.shape)
    raise ProtocolError(f"unknown accessor .{name}")  # pragma: no cover


# --------------------------------------------------------------------------------------------------
# Functions
# --------------------------------------------------------------------------------------------------


def _lambda(expr: ast.Lambda, env: Environment) -> Closure:
    defaults = [evaluate(p.default, env) if p.default is not None else None for p in expr.params]
    closure = Closure([p.name for p in expr.params], defaults, expr.body, env)
    closure.elementwise = _elementwise_body(closure)
    return closure


def _call(expr: ast.Call, env: Environment) -> Any:
    if isinstance(expr.function, ast.MathML):
        args = [evaluate(a, env) for a in expr.args]
        return mathml_call(expr.function.name, args)
    function = evaluate(expr.function, env)
    args = [evaluate(a, env) for a in expr.args]
    if not isinstance(function, Closure):
        raise ProtocolError(
            f"{getattr(expr.function, 'name', 'this')} is not a function but {describe(function)}"
        )
    try:
        return call(function, args)
    except ProtocolError as exc:
        if exc.file is not None and expr.pos.line:
            exc.add_trace(f"{expr.pos} ({function.name})")
        raise


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
    fn = MATHML_FUNCTIONS.get(name)
    if fn is None:
        raise ProtocolError(f"unknown MathML function MathML:{name}")
    numeric = [_numeric(a, f"MathML:{name}") for a in args]
    try:
        return fn(numeric)
    except ProtocolError as exc:
        raise ProtocolError(f"MathML:{name} {exc.message}") from None


_UFUNCS: dict[str, np.ufunc] = {
    "+": np.add,
    "*": np.multiply,
    "MathML:max": np.maximum,
    "MathML:min": np.minimum,
    "MathML:plus": np.add,
    "MathML:times": np.multiply,
}


def _wrap_function(name: str) -> Closure:
    return Closure([], [], builtin=lambda args: mathml_call(name, args), name=f"MathML:{name}")


def _wrap(expr: ast.Wrap, env: Environment) -> Closure:
    op, nargs = expr.operator, expr.nargs
    if op.startswith("MathML:"):
        fname = op[len("MathML:") :]
        if fname not in MATHML_FUNCTIONS:
            raise ProtocolError(f"unknown MathML function {op}")

        def builtin(args: list[Any]) -> Any:
            _check_arity(op, nargs, args)
            return mathml_call(fname, args)
    elif nargs == 1:
        if op not in ("-", "not"):
            raise ProtocolError(f"operator {op!r} cannot be wrapped with one operand")

        def builtin(args: list[Any]) -> Any:
            _check_arity(op, nargs, args)
            v = _numeric(args[0], op)
            return number(np.negative(v)) if op == "-" else number(np.logical_not(v))
    else:
        if op not in _BINARY and op not in ("&&", "||"):
            raise ProtocolError(f"operator {op!r} cannot be wrapped with {nargs} operands")

        def builtin(args: list[Any]) -> Any:
            _check_arity(op, nargs, args)
            result = _numeric(args[0], op)
            for a in args[1:]:
                result = apply_binary(op, result, _numeric(a, op))
            return result

    closure = Closure([f"_{i}" for i in range(nargs)], [None] * nargs, builtin=builtin, name=f"@{nargs}:{op}")
    if nargs == 2:
        closure.ufunc = _UFUNCS.get(op)
    closure.elementwise = builtin
    return closure


def _check_arity(op: str, nargs: int, args: list[Any]) -> None:
    if len(args) != nargs:
        raise ProtocolError(f"wrapped operator @{nargs}:{op} called with {len(args)} arguments")


# -- element-wise analysis -----------------------------------------------------------------------------

_ELEMENTWISE_MATHML = set(MATHML_FUNCTIONS)


def _is_elementwise(expr: ast.Expr, params: set[str]) -> bool:
    if isinstance(expr, ast.Number | ast.Name):
        return True
    if isinstance(expr, ast.MathML):
        return expr.name in MATHML_CONSTANTS
    if isinstance(expr, ast.BinaryOp):
        return _is_elementwise(expr.left, params) and _is_elementwise(expr.right, params)
    if isinstance(expr, ast.UnaryOp):
        return _is_elementwise(expr.operand, params)
    if isinstance(expr, ast.If):
        return all(_is_elementwise(e, params) for e in (expr.test, expr.then, expr.orelse))
    if isinstance(expr, ast.Call) and isinstance(expr.function, ast.MathML):
        return expr.function.name in _ELEMENTWISE_MATHML and all(
            _is_elementwise(a, params) for a in expr.args
        )
    return False


def _elementwise_body(closure: Closure) -> Callable[..., Any] | None:
    """A vectorised version of a lambda whose body is one element-wise expression, else None.

    Names other than the parameters must be numbers (checked when called), so
    the same expression evaluated on whole arrays gives each element's value.
    """
    body = closure.body or []
    if len(body) != 1 or not isinstance(body[0], ast.Return) or len(body[0].values) != 1:
        return None
    expr = body[0].values[0]
    params = set(closure.params)
    if not _is_elementwise(expr, params):
        return None
    free = _free_names(expr) - params

    def run(args: list[Any]) -> Any:
        for name in free:
            if not is_simple(closure.env.lookup(name)):  # type: ignore[union-attr]
                raise _NotElementwise
        return call(closure, args)

    return run


class _NotElementwise(Exception):
    pass


def _free_names(expr: ast.Expr) -> set[str]:
    names: set[str] = set()

    def walk(e: ast.Expr) -> None:
        if isinstance(e, ast.Name):
            names.add(e.name)
        elif isinstance(e, ast.BinaryOp):
            walk(e.left)
            walk(e.right)
        elif isinstance(e, ast.UnaryOp):
            walk(e.operand)
        elif isinstance(e, ast.If):
            walk(e.test)
            walk(e.then)
            walk(e.orelse)
        elif isinstance(e, ast.Call):
            for a in e.args:
                walk(a)

    walk(expr)
    return names


# --------------------------------------------------------------------------------------------------
# map / fold / find / index
# --------------------------------------------------------------------------------------------------


def _map(expr: ast.Map, env: Environment) -> np.ndarray:
    function = evaluate(expr.function, env)
    if not isinstance(function, Closure):
        raise ProtocolError(f"the first argument of map must be a function, not {describe(function)}")
    arrays = [as_array(evaluate(a, env), "an argument of map") for a in expr.arrays]
    return map_arrays(function, arrays)


def map_arrays(function: Closure, arrays: list[np.ndarray]) -> np.ndarray:
    shape = arrays[0].shape
    for a in arrays[1:]:
        if a.shape != shape:
            raise ProtocolError(f"map: arrays have different shapes {shape} and {a.shape}")
    if function.elementwise is not None:
        try:
            result = function.elementwise(list(arrays))
        except _NotElementwise:
            result = None
        if isinstance(result, np.ndarray):
            if result.shape == shape:
                return result
            if result.ndim == 0:
                return np.full(shape, float(result))
    result = np.empty(shape, dtype=float)
    for index in np.ndindex(*shape):
        value = call(function, [number(a[index]) for a in arrays])
        if not is_simple(value):
            raise ProtocolError(f"a mapped function must return numbers, not {describe(value)}")
        result[index] = value
    return result


def _fold(expr: ast.Fold, env: Environment) -> np.ndarray:
    function = evaluate(expr.function, env)
    array = as_array(evaluate(expr.array, env), "the array given to fold")
    initial_v = evaluate(expr.initial, env) if expr.initial is not None else NULL
    dim_v = evaluate(expr.dim, env) if expr.dim is not None else DEFAULT
    if not isinstance(function, Closure):
        raise ProtocolError(f"the first argument of fold must be a function, not {describe(function)}")
    if array.ndim == 0:
        raise ProtocolError("cannot fold a 0-dimensional array")
    # As in the original engine, the initial value and the dimension are taken as integers.
    initial = (
        None if isinstance(initial_v, NullValue | DefaultValue) else as_int(initial_v, "fold's initial value")
    )
    dim = array.ndim - 1 if isinstance(dim_v, DefaultValue | NullValue) else as_int(dim_v, "fold's dimension")
    if not 0 <= dim < array.ndim:
        raise ProtocolError(f"cannot fold along dimension {dim} of an array with {array.ndim} dimensions")
    return fold_array(function, array, initial, dim)


def fold_array(function: Closure, array: np.ndarray, initial: float | None, dim: int) -> np.ndarray:
    size = array.shape[dim]
    if function.ufunc is not None:
        if size == 0 and initial is None:
            raise ProtocolError("cannot fold an empty dimension without an initial value")
        result = function.ufunc.reduce(array, axis=dim, keepdims=True)
        if initial is not None:
            result = function.ufunc(initial, result) if size else np.full(result.shape, float(initial))
        return number(result)
    moved = np.moveaxis(array, dim, 0)
    if function.elementwise is not None:
        try:
            total: Any = (
                number(moved[0]) if initial is None else number(np.full(moved.shape[1:], float(initial)))
            )
            start = 1 if initial is None else 0
            for i in range(start, size):
                total = function.elementwise([total, number(moved[i])])
                if not isinstance(total, np.ndarray) or total.shape != moved.shape[1:]:
                    raise _NotElementwise
            return number(np.expand_dims(total, dim))
        except _NotElementwise:
            pass
    result_shape = list(array.shape)
    result_shape[dim] = 1
    result = np.empty(result_shape)
    for index in np.ndindex(*moved.shape[1:]):
        line = moved[(slice(None),) + index]
        total_value: Any = None if initial is None else number(initial)
        for x in line:
            total_value = number(x) if total_value is None else call(function, [total_value, number(x)])
        out_index = list(index)
        out_index.insert(dim, 0)
        result[tuple(out_index)] = as_simple(total_value, "the result of a folded function")
    return result


def _find(expr: ast.Find, env: Environment) -> np.ndarray:
    operand = evaluate(expr.array, env)
    if not isinstance(operand, np.ndarray) or operand.ndim == 0:
        raise ProtocolError(f"the operand of find must be a non-empty array, not {describe(operand)}")
    return number(np.transpose(np.nonzero(operand)))


def _index(expr: ast.Index, env: Environment) -> np.ndarray:
    operand = as_array(evaluate(expr.array, env), "the operand of an index expression")
    indices = as_array(evaluate(expr.indices, env), "the indices of an index expression")

    def opt(e: ast.Expr | None, default: float) -> float:
        if e is None:
            return default
        v = evaluate(e, env)
        if isinstance(v, DefaultValue):
            return default
        return as_simple(v, "an index parameter")

    dim = int(opt(expr.dim, operand.ndim - 1))
    shrink = opt(expr.shrink, 0)
    pad = opt(expr.pad_direction, 0)
    pad_value = opt(expr.pad_value, sys.float_info.max)
    return index_array(operand, indices, dim, shrink, pad, pad_value)


def index_array(
    operand: np.ndarray, indices: np.ndarray, dim: int, shrink: float, pad: float, pad_value: float
) -> np.ndarray:
    if indices.ndim != 2:
        raise ProtocolError(f"the indices array must have 2 dimensions, not {indices.ndim}")
    if not 0 <= dim < operand.ndim:
        raise ProtocolError(
            f"the operand has {operand.ndim} dimensions, so cannot be indexed along dimension {dim}"
        )
    if shrink != 0 and pad != 0:
        raise ProtocolError("cannot both pad and shrink")
    idx = indices.astype(int)
    if idx.shape[0] and idx.shape[1] != operand.ndim:
        raise ProtocolError(
            f"indices have {idx.shape[1]} columns but the operand has {operand.ndim} dimensions"
        )
    shape = list(operand.shape)
    shape[dim] = 1
    group_shape = tuple(shape)
    n_groups = int(np.prod(group_shape))
    group_idx = idx.copy()
    if idx.shape[0]:
        group_idx[:, dim] = 0
        groups = np.ravel_multi_index(tuple(group_idx.T), group_shape)
    else:
        groups = np.zeros(0, dtype=int)
    extents = np.bincount(groups, minlength=n_groups)
    max_extent, min_extent = int(extents.max()), int(extents.min())
    if (min_extent == 0 and pad == 0) or (min_extent != max_extent and shrink == 0 and pad == 0):
        raise ProtocolError(
            f"cannot index if the result is irregular (extent ranges from {min_extent} to {max_extent})"
        )
    extent = max_extent if pad != 0 else min_extent
    out_shape = list(operand.shape)
    out_shape[dim] = extent
    result = np.empty(out_shape)
    if pad != 0:
        result.fill(pad_value)
    backwards = shrink + pad < 0
    order = np.arange(idx.shape[0])
    if backwards:
        order = order[::-1]
    ordered_groups = groups[order]
    ranks = _ranks_within_groups(ordered_groups)
    keep = ranks < extent
    entries = idx[order][keep]
    ranks = ranks[keep]
    values = operand[tuple(entries.T)] if len(entries) else np.zeros(0)
    targets = entries.copy()
    targets[:, dim] = (extent - ranks - 1) if backwards else ranks
    if len(targets):
        result[tuple(targets.T)] = values
    return result


def _ranks_within_groups(groups: np.ndarray) -> np.ndarray:
    """For each entry, how many earlier entries share its group (its rank within the group, in order)."""
    n = len(groups)
    if n == 0:
        return np.zeros(0, dtype=int)
    if np.all(groups[1:] >= groups[:-1]) or np.all(groups[1:] <= groups[:-1]):
        # Groups come in runs (indices from find, along the last dimension): no sort needed.
        boundaries = np.flatnonzero(groups[1:] != groups[:-1]) + 1
        starts = np.concatenate(([0], boundaries))
        lengths = np.diff(np.concatenate((starts, [n])))
        return np.arange(n) - np.repeat(starts, lengths)
    sort = np.argsort(groups, kind="stable")
    sorted_groups = groups[sort]
    starts = np.searchsorted(sorted_groups, sorted_groups, side="left")
    ranks = np.empty(n, dtype=int)
    ranks[sort] = np.arange(n) - starts
    return ranks


# --------------------------------------------------------------------------------------------------
# Arrays and views
# --------------------------------------------------------------------------------------------------


def _array(expr: ast.ArrayExpr, env: Environment) -> np.ndarray:
    items = [as_array(evaluate(e, env), "an array element") for e in expr.items]
    shape = items[0].shape
    for item in items[1:]:
        if item.shape != shape:
            raise ProtocolError(f"array elements have different shapes {shape} and {item.shape}")
    return number(np.array(items))


def _range_values(gen: ast.Generator, env: Environment) -> list[int]:
    start = as_int(evaluate(gen.start, env), "a comprehension range start")
    step = as_int(evaluate(gen.step, env), "a comprehension range step")
    end = as_int(evaluate(gen.end, env), "a comprehension range end")
    if step == 0:
        raise ProtocolError("a comprehension range step cannot be zero")
    values = list(range(start, end, step))
    if not values:
        raise ProtocolError(f"the comprehension range {start}:{step}:{end} is empty")
    return values


def _comprehension(expr: ast.ArrayComprehension, env: Environment) -> np.ndarray:
    explicit: dict[int, tuple[str, list[int]]] = {}
    implicit: list[tuple[str, list[int]]] = []
    for gen in expr.generators:
        values = _range_values(gen, env)
        if gen.dim is not None:
            dim = as_int(evaluate(gen.dim, env), "a comprehension dimension")
            if dim in explicit:
                raise ProtocolError(f"dimension {dim} is already assigned in this comprehension")
            explicit[dim] = (gen.var, values)
        else:
            implicit.append((gen.var, values))
    slots: list[tuple[str, list[int]] | None] = [None] * (max(explicit) + 1 if explicit else 0)
    for dim, spec in explicit.items():
        slots[dim] = spec
    for i, slot in enumerate(slots):
        if slot is None and implicit:
            slots[i] = implicit.pop(0)
    slots.extend(implicit)
    try:
        return batched_comprehension(expr, env, slots)
    except (NotBatchable, ProtocolError, IndexError, ValueError, TypeError):
        pass  # the element-by-element loop below gives the exact result or error
    num_gaps = sum(1 for s in slots if s is None)
    axes = [range(len(s[1])) if s is not None else [slice(None)] for s in slots]
    result: np.ndarray | None = None
    dims: list[int | None] = [len(s[1]) if s is not None else None for s in slots]
    sub_shape: tuple[int, ...] = ()
    for positions in itertools.product(*axes):
        local = Environment(env, label="comprehension")
        for slot, pos in zip(slots, positions, strict=True):
            if slot is not None:
                local.bindings[slot[0]] = number(slot[1][pos])  # type: ignore[index]
        sub = as_array(evaluate(expr.body, local), "a comprehension element")
        if result is None:
            if sub.ndim < num_gaps:
                raise ProtocolError(
                    f"the comprehension element has {sub.ndim} dimensions, not enough to fill {num_gaps} gaps"
                )
            sub_shape = sub.shape
            it = iter(sub_shape)
            full = [d if d is not None else next(it) for d in dims] + list(it)
            result = np.empty(full)
        elif sub.shape != sub_shape:
            raise ProtocolError(f"comprehension elements have different shapes {sub_shape} and {sub.shape}")
        result[tuple(positions)] = sub
    assert result is not None
    return result


def _view(expr: ast.View, env: Environment) -> np.ndarray:
    array = evaluate(expr.array, env)
    if not isinstance(array, np.ndarray):
        raise ProtocolError(f"only arrays can be viewed, not {describe(array)}")
    if len(expr.specs) > array.ndim:
        raise ProtocolError(f"{len(expr.specs)} indices given, but the array has {array.ndim} dimensions")
    slices = view_slices(array.shape, view_items(expr, env, evaluate))
    return apply_view(array, slices)


def apply_view(array: np.ndarray, slices: list[Any]) -> np.ndarray:
    try:
        result = array[tuple(slices)]
    except IndexError:
        raise ProtocolError(
            f"view indices {_show_slices(slices)} out of range for an array of shape {array.shape}"
        ) from None
    return result if isinstance(result, np.ndarray) else number(result)


def view_items(
    expr: ast.View, env: Environment, ev: Callable[[ast.Expr, Environment], Any]
) -> list[tuple[int | None, bool, Any]]:
    """Each view spec evaluated: (dimension or None, applies to all other dims, int index or slice).

    A value that is not a plain number (the batch evaluator's per-element values) is passed through.
    """
    items: list[tuple[int | None, bool, Any]] = []
    for spec in expr.specs:

        def val(e: ast.Expr | None) -> Any:
            if e is None:
                return None
            v = ev(e, env)
            if isinstance(v, NullValue | DefaultValue):
                return None
            if not isinstance(v, np.ndarray) and hasattr(v, "data"):
                return v
            return as_int(v, "a view index")

        start = val(spec.start)
        if spec.is_range:
            item: Any = slice(start, val(spec.end), val(spec.step))
        else:
            if start is None:
                raise ProtocolError("a view index is missing")
            item = start
        dim = (
            as_int(ev(spec.dim, env), "a view dimension")
            if spec.dim is not None and not spec.all_dims
            else None
        )
        items.append((dim, spec.all_dims, item))
    return items


def view_slices(shape: tuple[int, ...], items: list[tuple[int | None, bool, Any]]) -> list[Any]:
    """Where each view item applies, as the original engine places them; unspecified dimensions are whole."""
    ndim = len(shape)
    slices: list[Any] = [None] * ndim
    implicit: list[Any] = []
    rest: Any = None
    for dim, all_dims, item in items:
        if all_dims:
            rest = item
        elif dim is not None:
            if not -ndim <= dim < ndim:
                raise ProtocolError(f"the array has {ndim} dimensions, so has no dimension {dim}")
            slices[dim] = item
        else:
            implicit.append(item)
    for i in range(ndim):
        if slices[i] is None:
            if implicit:
                item = implicit.pop(0)
                if isinstance(item, slice):
                    _check_slice(item, shape[i])
                slices[i] = item
            else:
                slices[i] = rest if rest is not None else slice(None)
    return slices


def _check_slice(s: slice, length: int) -> None:
    if s.start is not None and not -length <= s.start < length:
        raise ProtocolError("the start of the slice is not within the range of the dimension")
    if s.stop is not None and not -(length + 1) <= s.stop < length + 1:
        raise ProtocolError("the end of the slice is not within the range of the dimension")
    if s.step is not None and s.start is not None and s.stop is not None and (s.stop - s.start) * s.step <= 0:
        raise ProtocolError("the sign of the step does not make sense")


def _show_slices(slices: list[Any]) -> str:
    def one(s: Any) -> str:
        if isinstance(s, slice):
            return ":".join("" if x is None else str(x) for x in (s.start, s.stop, s.step))
        return str(s)

    return "[" + ", ".join(one(s) for s in slices) + "]"


def _interpolate(expr: ast.Interpolate, env: Environment) -> Any:
    raise ProtocolError("interpolate(...) can only be used in a model interface define")


_EVALUATORS: dict[type, Callable[[Any, Environment], Any]] = {
    ast.Number: _number,
    ast.String: _string,
    ast.Null: _null,
    ast.Default: _default,
    ast.Name: _name,
    ast.MathML: _mathml,
    ast.BinaryOp: _binary,
    ast.UnaryOp: _unary,
    ast.If: _if,
    ast.Lambda: _lambda,
    ast.Call: _call,
    ast.Map: _map,
    ast.Fold: _fold,
    ast.Find: _find,
    ast.TupleExpr: _tuple,
    ast.ArrayExpr: _array,
    ast.ArrayComprehension: _comprehension,
    ast.View: _view,
    ast.Index: _index,
    ast.Accessor: _accessor,
    ast.Wrap: _wrap,
    ast.Interpolate: _interpolate,
}
