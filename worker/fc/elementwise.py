"""Which expressions compute each element of an array independently of the others.

Such an expression, evaluated once on whole arrays, gives what evaluating it
per element would: the interpreter uses that to vectorise ``map`` and ``fold``
over one-expression lambdas, and the batch evaluator (``batch.py``) to run a
comprehension body once for every index.  Both ask the questions here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import ast
from .operators import MATHML_CONSTANTS, MATHML_FUNCTIONS
from .values import Closure, is_simple

Call = Callable[[Closure, list[Any]], Any]

_ELEMENTWISE_MATHML = set(MATHML_FUNCTIONS)

# Free names per syntax node; the node itself is kept in the entry so that an id is never reused for another node.
_FREE: dict[int, tuple[ast.Node, frozenset[str]]] = {}


class NotElementwise(Exception):
    """A vectorised call met a captured name that is not a number: call per element instead."""


def is_elementwise(expr: ast.Expr) -> bool:
    """Whether ``expr`` is built only of numbers, names, operators, ``if`` and MathML functions."""
    if isinstance(expr, ast.Number | ast.Name):
        return True
    if isinstance(expr, ast.MathML):
        return expr.name in MATHML_CONSTANTS
    if isinstance(expr, ast.BinaryOp):
        return is_elementwise(expr.left) and is_elementwise(expr.right)
    if isinstance(expr, ast.UnaryOp):
        return is_elementwise(expr.operand)
    if isinstance(expr, ast.If):
        return all(is_elementwise(e) for e in (expr.test, expr.then, expr.orelse))
    if isinstance(expr, ast.Call) and isinstance(expr.function, ast.MathML):
        return expr.function.name in _ELEMENTWISE_MATHML and all(is_elementwise(a) for a in expr.args)
    return False


def free_names(expr: ast.Node) -> frozenset[str]:
    """The names ``expr`` reads, remembered per node: the batch evaluator asks for every sub-expression."""
    key = id(expr)
    cached = _FREE.get(key)
    if cached is not None and cached[0] is expr:
        return cached[1]
    result = frozenset(ast.name_refs(expr))
    _FREE[key] = (expr, result)
    return result


def elementwise_body(closure: Closure, call: Call) -> Callable[[list[Any]], Any] | None:
    """A vectorised version of a lambda whose body is one element-wise expression, else None.

    Names other than the parameters must be numbers (checked when called, raising
    ``NotElementwise``), so the same expression evaluated on whole arrays gives each
    element's value.  ``call`` is the interpreter's, which this module must not import.
    """
    body = closure.body or []
    if len(body) != 1 or not isinstance(body[0], ast.Return) or len(body[0].values) != 1:
        return None
    expr = body[0].values[0]
    if not is_elementwise(expr):
        return None
    free = free_names(expr) - set(closure.params)
    env = closure.env

    def run(args: list[Any]) -> Any:
        for name in free:
            if env is None or not is_simple(env.lookup(name)):
                raise NotElementwise
        return call(closure, args)

    return run
