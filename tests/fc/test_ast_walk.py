"""The syntax tree's one generic traversal (``ast.walk``), which every analysis of a protocol uses."""

from __future__ import annotations

from worker.fc import ast
from worker.fc.parser import parse_expression


def test_walk_visits_every_node_in_source_order_parents_first() -> None:
    expr = parse_expression("if a > 1 then f(b, [c for i in 0:d]) else lambda x: x + e")
    names = [n.name for n in ast.walk(expr) if isinstance(n, ast.Name)]
    assert names == ["a", "f", "b", "c", "d", "x", "e"]
    assert next(iter(ast.walk(expr))) is expr
    assert ast.name_refs(expr) == names


def test_walk_can_be_kept_out_of_a_node() -> None:
    expr = parse_expression("g(lambda y: y * z, w)")
    outside = ast.name_refs(ast.Return([expr]))
    assert outside == ["g", "y", "z", "w"]
    kept_out = [
        n.name
        for n in ast.walk(expr, into=lambda node: not isinstance(node, ast.Lambda))
        if isinstance(n, ast.Name)
    ]
    assert kept_out == ["g", "w"]


def test_walk_of_nothing_is_empty() -> None:
    assert list(ast.walk(None)) == []


def test_children_skip_positions_and_plain_values() -> None:
    node = ast.Number(1.0, "mV", pos=ast.Pos("f", 1, 1))
    assert list(ast.children(node)) == []
