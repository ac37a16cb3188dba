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
* comprehension bodies are evaluated once for all indices where possible
  (``batch.py``, which calls back into this interpreter through ``Interpreter``).

The arithmetic lives in ``operators.py``, views and index expressions in
``indexing.py`` and the test for element-wise expressions in
``elementwise.py``; this module walks the syntax tree.

Errors raised below a node without a location get the node's location.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import ast
from .batch import Interpreter, NotBatchable, batched_comprehension
from .elementwise import NotElementwise, elementwise_body
from .environment import Environment
from .errors import ProtocolError, error_at
from .indexing import apply_view, index_array, view_items, view_slices
from .operators import (
    BINARY_OPERATORS,
    FALSE,
    MATHML_CONSTANTS,
    MATHML_FUNCTIONS,
    TRUE,
    UFUNCS,
    apply_binary,
    mathml_call,
    numeric,
)
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
            raise error_at("return statement not allowed outside a function", statement.pos)
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


def _mathml(expr: ast.MathML, env: Environment) -> Any:
    if expr.name in MATHML_CONSTANTS:
        return number(MATHML_CONSTANTS[expr.name])
    if expr.name in MATHML_FUNCTIONS:
        return _wrap_function(expr.name)
    raise ProtocolError(f"unknown MathML name MathML:{expr.name}")


def _binary(expr: ast.BinaryOp, env: Environment) -> np.ndarray:
    op = expr.op
    left = numeric(evaluate(expr.left, env), op)
    if op in ("&&", "||"):
        if left.ndim == 0:  # short-circuit, as the original does for numbers
            if op == "&&" and not left:
                return FALSE
            if op == "||" and left:
                return TRUE
            right = numeric(evaluate(expr.right, env), op)
            return number(np.not_equal(right, 0))
        right = numeric(evaluate(expr.right, env), op)
        fn = np.logical_and if op == "&&" else np.logical_or
        return number(fn(left, right))
    right = numeric(evaluate(expr.right, env), op)
    return apply_binary(op, left, right)


def _unary(expr: ast.UnaryOp, env: Environment) -> np.ndarray:
    operand = numeric(evaluate(expr.operand, env), expr.op)
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
    closure.elementwise = elementwise_body(closure, call)
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
            v = numeric(args[0], op)
            return number(np.negative(v)) if op == "-" else number(np.logical_not(v))
    else:
        if op not in BINARY_OPERATORS and op not in ("&&", "||"):
            raise ProtocolError(f"operator {op!r} cannot be wrapped with {nargs} operands")

        def builtin(args: list[Any]) -> Any:
            _check_arity(op, nargs, args)
            result = numeric(args[0], op)
            for a in args[1:]:
                result = apply_binary(op, result, numeric(a, op))
            return result

    closure = Closure([f"_{i}" for i in range(nargs)], [None] * nargs, builtin=builtin, name=f"@{nargs}:{op}")
    if nargs == 2:
        closure.ufunc = UFUNCS.get(op)
    closure.elementwise = builtin
    return closure


def _check_arity(op: str, nargs: int, args: list[Any]) -> None:
    if len(args) != nargs:
        raise ProtocolError(f"wrapped operator @{nargs}:{op} called with {len(args)} arguments")


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
        except NotElementwise:
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
                    raise NotElementwise
            return number(np.expand_dims(total, dim))
        except NotElementwise:
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
        return batched_comprehension(expr, env, slots, _INTERPRETER)
    except (NotBatchable, ProtocolError, IndexError, ValueError, TypeError):
        pass  # the element-by-element loop below gives the exact result or error
    num_gaps = sum(1 for s in slots if s is None)
    axes: list[Sequence[int | slice]] = [range(len(s[1])) if s is not None else [slice(None)] for s in slots]
    result: np.ndarray | None = None
    dims: list[int | None] = [len(s[1]) if s is not None else None for s in slots]
    sub_shape: tuple[int, ...] = ()
    for positions in itertools.product(*axes):
        local = Environment(env, label="comprehension")
        for slot, pos in zip(slots, positions, strict=True):
            if slot is not None:
                assert isinstance(pos, int)  # a slot's axis is a range of positions
                local.bindings[slot[0]] = number(slot[1][pos])
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

# What the batch evaluator falls back on for the parts of a comprehension body it does not batch.
_INTERPRETER = Interpreter(evaluate=evaluate, call=call)
