"""Vectorised evaluation of array-comprehension bodies.

The standard libraries build arrays with comprehensions over every time
point — ``Join`` is ``[ if i < 0 then a1[dim$i] else a2[dim$i] for dim$i in
-n1:n2 ]`` — so evaluating the body once per index would put the interpreter
in the innermost loop.  Instead the body is evaluated once with each loop
variable bound to a ``Batch``: all its values at once, along a leading axis.

Supported in a batched body: numbers and names, arithmetic, comparisons and
logic, MathML functions, ``if`` (each branch evaluated only on the indices
that take it, so an out-of-range index in the branch not taken does no harm),
views whose single index is batched (a gather with ``numpy.take``) or whose
array is batched, and calls of one-expression lambdas.  Anything else, or any
error, raises ``NotBatchable`` and the caller falls back to the
element-by-element loop, which has the exact semantics (and error messages)
of the original engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import ast
from .elementwise import free_names
from .environment import Environment
from .indexing import apply_view, view_items, view_slices
from .operators import apply_binary, mathml_call
from .values import DEFAULT, Closure, DefaultValue


class NotBatchable(Exception):
    """The body uses something the batch evaluator does not handle; loop instead."""


@dataclass(frozen=True)
class Interpreter:
    """The plain interpreter's entry points, for the parts of a body that are not batched.

    ``evaluate.py`` passes its own, so that this module, which it uses, need not import it.
    """

    evaluate: Callable[[ast.Expr, Environment], Any]
    call: Callable[[Any, list[Any]], Any]


class Batch:
    """Per-index values of a batched expression: ``data[k]`` is the value at the k-th index."""

    __slots__ = ("data",)

    def __init__(self, data: np.ndarray) -> None:
        self.data = data

    @property
    def n(self) -> int:
        return int(self.data.shape[0])

    def __repr__(self) -> str:
        return f"<batch of {self.data.shape[0]} values of shape {self.data.shape[1:]}>"


def evaluate_batched(expr: ast.Expr, env: Environment, plain: Interpreter) -> Any:
    """Evaluate with some names bound to ``Batch`` values; returns a Batch or a plain value."""
    handler = _HANDLERS.get(type(expr))
    if handler is None:
        return _plain(expr, env, plain)
    return handler(expr, env, plain)


# --------------------------------------------------------------------------------------------------


def _is_batch_name(name: str, env: Environment) -> bool:
    try:
        return isinstance(env.lookup(name), Batch)
    except Exception:  # noqa: BLE001 - an undefined name is not batched
        return False


def _plain(expr: ast.Expr, env: Environment, plain: Interpreter) -> Any:
    """Evaluate a sub-expression that must not involve batched names."""
    if any(_is_batch_name(n, env) for n in free_names(expr)):
        raise NotBatchable(type(expr).__name__)
    return plain.evaluate(expr, env)


def _align(values: list[Any]) -> list[np.ndarray]:
    """Arrays for an element-wise operation: batched ones keep their leading axis, others get a length-1 one."""
    shapes = [v.data.shape[1:] if isinstance(v, Batch) else np.shape(v) for v in values]
    rank = max(len(s) for s in shapes)
    out = []
    for v, s in zip(values, shapes, strict=True):
        if isinstance(v, Batch):
            out.append(v.data.reshape((v.n,) + (1,) * (rank - len(s)) + s))
        else:
            if not isinstance(v, np.ndarray):
                raise NotBatchable("non-numeric operand")
            out.append(v.reshape((1,) + (1,) * (rank - len(s)) + s))
    return out


def _numeric_or_batch(v: Any) -> Any:
    if isinstance(v, Batch | np.ndarray):
        return v
    raise NotBatchable("non-numeric operand")


def _binary(expr: ast.BinaryOp, env: Environment, plain: Interpreter) -> Any:
    left = _numeric_or_batch(evaluate_batched(expr.left, env, plain))
    if expr.op in ("&&", "||") and not isinstance(left, Batch) and left.ndim == 0:
        if (expr.op == "&&" and not left) or (expr.op == "||" and left):
            return np.asarray(float(expr.op == "||"))
    right = _numeric_or_batch(evaluate_batched(expr.right, env, plain))
    if not isinstance(left, Batch) and not isinstance(right, Batch):
        if expr.op in ("&&", "||"):
            return np.asarray(
                np.logical_and(left, right) if expr.op == "&&" else np.logical_or(left, right), dtype=float
            )
        return apply_binary(expr.op, left, right)
    a, b = _align([left, right])
    return Batch(np.asarray(apply_binary(expr.op, a, b), dtype=float))


def _unary(expr: ast.UnaryOp, env: Environment, plain: Interpreter) -> Any:
    operand = _numeric_or_batch(evaluate_batched(expr.operand, env, plain))
    data = operand.data if isinstance(operand, Batch) else operand
    result = np.negative(data) if expr.op == "-" else np.logical_not(data).astype(float)
    return Batch(result) if isinstance(operand, Batch) else np.asarray(result, dtype=float)


def _batched_bindings(env: Environment) -> dict[str, Batch]:
    found: dict[str, Batch] = {}
    e: Environment | None = env
    while e is not None:
        for name, value in e.bindings.items():
            if name not in found and isinstance(value, Batch):
                found[name] = value
        e = e.parent
    return found


def _subset_env(env: Environment, mask: np.ndarray) -> Environment:
    sub = Environment(env, label="batch subset")
    for name, value in _batched_bindings(env).items():
        sub.bindings[name] = Batch(value.data[mask])
    return sub


def _if(expr: ast.If, env: Environment, plain: Interpreter) -> Any:
    test = evaluate_batched(expr.test, env, plain)
    if not isinstance(test, Batch):
        if not isinstance(test, np.ndarray) or test.ndim != 0:
            raise NotBatchable("if test")
        return evaluate_batched(expr.then if test else expr.orelse, env, plain)
    if test.data.ndim != 1:
        raise NotBatchable("array-valued if test")
    mask = test.data != 0
    n = test.n
    parts = []
    for branch, selector in ((expr.then, mask), (expr.orelse, ~mask)):
        count = int(selector.sum())
        if count == 0:
            continue
        value = evaluate_batched(branch, _subset_env(env, selector), plain)
        if isinstance(value, Batch):
            data = value.data
        elif isinstance(value, np.ndarray):
            data = np.broadcast_to(value, (count,) + value.shape)
        else:
            raise NotBatchable("non-numeric if branch")
        parts.append((selector, data))
    shape = parts[0][1].shape[1:]
    if any(d.shape[1:] != shape for _, d in parts):
        raise NotBatchable("if branches of different shapes")
    out = np.empty((n,) + shape)
    for selector, data in parts:
        out[selector] = data
    return Batch(out)


def _call(expr: ast.Call, env: Environment, plain: Interpreter) -> Any:
    args = [evaluate_batched(a, env, plain) for a in expr.args]
    batched = any(isinstance(a, Batch) for a in args)
    if isinstance(expr.function, ast.MathML):
        if not batched:
            return mathml_call(expr.function.name, args)
        n = next(a.n for a in args if isinstance(a, Batch))
        aligned = _align(args)
        result = mathml_call(expr.function.name, aligned)
        return Batch(np.broadcast_to(result, (n,) + result.shape[1:]).copy())
    function = _plain(expr.function, env, plain)
    if not batched:
        return plain.call(function, args)
    if not isinstance(function, Closure) or function.body is None or len(function.body) != 1:
        raise NotBatchable("call of a function that is not one expression")
    statement = function.body[0]
    if (
        not isinstance(statement, ast.Return)
        or len(statement.values) != 1
        or len(args) > len(function.params)
    ):
        raise NotBatchable("call of a function that is not one expression")
    local = Environment(function.env, label=function.name)
    for i, param in enumerate(function.params):
        value = args[i] if i < len(args) else DEFAULT
        if isinstance(value, DefaultValue):
            if function.defaults[i] is None:
                raise NotBatchable("missing argument")
            value = function.defaults[i]
        local.bindings[param] = value
    return evaluate_batched(statement.values[0], local, plain)


def _view(expr: ast.View, env: Environment, plain: Interpreter) -> Any:
    array = evaluate_batched(expr.array, env, plain)
    items = view_items(expr, env, lambda e, scope: evaluate_batched(e, scope, plain))
    batched_items = [k for k, (_, _, item) in enumerate(items) if isinstance(item, Batch)]
    for _, _, item in items:
        if isinstance(item, slice) and any(isinstance(x, Batch) for x in (item.start, item.stop, item.step)):
            raise NotBatchable("batched slice bounds")
    if isinstance(array, Batch):
        if batched_items:
            raise NotBatchable("batched array and index")
        shape = array.data.shape[1:]
        if len(expr.specs) > len(shape):
            raise NotBatchable("too many indices")
        slices = view_slices(shape, items)
        return Batch(array.data[(slice(None),) + tuple(slices)])
    if not isinstance(array, np.ndarray) or len(expr.specs) > array.ndim:
        raise NotBatchable("view operand")
    if not batched_items:
        return apply_view(array, view_slices(array.shape, items))
    if len(batched_items) > 1:
        raise NotBatchable("several batched indices")
    k = batched_items[0]
    index_batch = items[k][2]
    if index_batch.data.ndim != 1:
        raise NotBatchable("array-valued index")
    marker = object()
    placed = list(items)
    placed[k] = (items[k][0], items[k][1], marker)
    slices = view_slices(array.shape, placed)
    position = next(d for d in range(array.ndim) if slices[d] is marker)
    slices[position] = slice(None)
    reduced = array[tuple(slices)]
    axis = position - sum(1 for d in range(position) if not isinstance(slices[d], slice))
    indices = index_batch.data.astype(int)
    length = reduced.shape[axis]
    if np.any(indices < -length) or np.any(indices >= length):
        raise NotBatchable("index out of range")  # the loop reports it exactly
    taken = np.take(reduced, indices, axis=axis)
    return Batch(np.moveaxis(taken, axis, 0))


def _name(expr: ast.Name, env: Environment, plain: Interpreter) -> Any:
    return env.lookup(expr.name)


def _constant(expr: ast.Expr, env: Environment, plain: Interpreter) -> Any:
    return plain.evaluate(expr, env)


_HANDLERS: dict[type, Callable[[Any, Environment, Interpreter], Any]] = {
    ast.Number: _constant,
    ast.String: _constant,
    ast.Null: _constant,
    ast.Default: _constant,
    ast.MathML: _constant,
    ast.Name: _name,
    ast.BinaryOp: _binary,
    ast.UnaryOp: _unary,
    ast.If: _if,
    ast.Call: _call,
    ast.View: _view,
}


def batched_comprehension(
    expr: ast.ArrayComprehension,
    env: Environment,
    slots: list[tuple[str, list[int]] | None],
    plain: Interpreter,
) -> np.ndarray:
    """The comprehension's array, computing the body once for all indices (raises NotBatchable)."""
    loops = [s for s in slots if s is not None]
    grids = np.meshgrid(*[np.asarray(values, dtype=float) for _, values in loops], indexing="ij")
    n = grids[0].size if grids else 1
    local = Environment(env, label="comprehension")
    for (name, _), grid in zip(loops, grids, strict=True):
        local.bindings[name] = Batch(grid.reshape(-1))
    value = evaluate_batched(expr.body, local, plain)
    if isinstance(value, Batch):
        data = value.data
    elif isinstance(value, np.ndarray):
        data = np.broadcast_to(value, (n,) + value.shape)
    else:
        raise NotBatchable("non-numeric body")
    element_shape = data.shape[1:]
    num_gaps = sum(1 for s in slots if s is None)
    if len(element_shape) < num_gaps:
        raise NotBatchable("not enough dimensions for the gaps")
    loop_lengths = [len(values) for _, values in loops]
    data = data.reshape(tuple(loop_lengths) + element_shape)
    # Axis order of the result: slots in order (a gap takes the next element dimension), then the rest.
    perm: list[int] = []
    loop_axis = 0
    element_axis = len(loops)
    for slot in slots:
        if slot is None:
            perm.append(element_axis)
            element_axis += 1
        else:
            perm.append(loop_axis)
            loop_axis += 1
    perm.extend(range(element_axis, len(loops) + len(element_shape)))
    return np.ascontiguousarray(np.transpose(data, perm), dtype=float)


__all__ = ["Batch", "Interpreter", "NotBatchable", "batched_comprehension", "evaluate_batched"]
