"""Recognising the standard square-wave stimulus in a ``define``, so myokit can pace it exactly.

Protocols replace the model's stimulus with
``if (t >= offset && [t <= end &&] (t - offset) - floor((t - offset) / period) * period
<= duration) then amplitude else 0``.  Integrated as written, the solver would
step over pulse edges it cannot see; recognised, it becomes ``amplitude * pace``
with a myokit pacing protocol built from the offset / period / duration / end
values, so the solver stops exactly at every edge.
"""

from __future__ import annotations

from collections.abc import Callable

import myokit

from . import ast
from .errors import ProtocolError
from .model_edits import variable_kind
from .prepared import PulseTrain

Lookup = Callable[[str], myokit.Variable | None]  # a name as written in the protocol -> its model variable


def match_pulse(
    expr: ast.Expr, time_var: myokit.Variable, lookup: Lookup
) -> tuple[PulseTrain, ast.Expr] | None:
    """(the pulse train, the amplitude expression) when ``expr`` is the standard stimulus, else None.

    Offset, period, duration and end must be plain numbers or constants in the model's time units.
    """
    if not isinstance(expr, ast.If) or not isinstance(expr.orelse, ast.Number) or expr.orelse.value != 0:
        return None

    def is_time(node: ast.Expr) -> bool:
        return isinstance(node, ast.Name) and lookup(node.name) is time_var

    def operand(node: ast.Expr) -> str | float | None:
        if isinstance(node, ast.Number) and node.units is None:
            return float(node.value)
        if isinstance(node, ast.Name):
            try:
                var = lookup(node.name)
            except ProtocolError:
                return None
            if var is None or variable_kind(var) != "constant" or var.unit() != time_var.unit():
                return None
            return str(var.qname())
        return None

    found: dict[str, str | float] = {}
    for cond in _conjuncts(expr.test):
        if not _read_condition(cond, is_time, operand, found):
            return None
    if not {"offset", "period", "duration"} <= set(found):
        return None
    train = PulseTrain(found["offset"], found["period"], found["duration"], found.get("end"))
    return train, expr.then


def _read_condition(
    cond: ast.Expr,
    is_time: Callable[[ast.Expr], bool],
    operand: Callable[[ast.Expr], str | float | None],
    found: dict[str, str | float],
) -> bool:
    """Record what one conjunct of the test says (offset, end, or period and duration); False if it fits none."""
    if not isinstance(cond, ast.BinaryOp):
        return False
    if cond.op in (">=", "<=") and is_time(cond.left):
        value = operand(cond.right)
        if value is None:
            return False
        found["offset" if cond.op == ">=" else "end"] = value
        return True
    if cond.op == "<=":
        period = _floor_period(cond.left, is_time)
        duration = operand(cond.right)
        period_value = operand(period) if period is not None else None
        if period_value is None or duration is None:
            return False
        found["period"] = period_value
        found["duration"] = duration
        return True
    return False


def _conjuncts(expr: ast.Expr) -> list[ast.Expr]:
    if isinstance(expr, ast.BinaryOp) and expr.op == "&&":
        return _conjuncts(expr.left) + _conjuncts(expr.right)
    return [expr]


def _floor_period(expr: ast.Expr, is_time: Callable[[ast.Expr], bool]) -> ast.Expr | None:
    """From ``(t - off) - floor((t - off) / period) * period`` return ``period``."""
    if not (isinstance(expr, ast.BinaryOp) and expr.op == "-"):
        return None
    right = expr.right
    if not (isinstance(right, ast.BinaryOp) and right.op == "*"):
        return None
    call = right.left
    if not (
        isinstance(call, ast.Call) and isinstance(call.function, ast.MathML) and call.function.name == "floor"
    ):
        return None
    inner = call.args[0] if call.args else None
    if not (isinstance(inner, ast.BinaryOp) and inner.op == "/"):
        return None
    diff = inner.left
    if not (isinstance(diff, ast.BinaryOp) and diff.op == "-" and is_time(diff.left)):
        return None
    return inner.right
