"""How big a GraphQL request may be: depth, aliases, tokens, cost and page size.

Defaults below; ``WEBLAB_GRAPHQL_LIMITS`` (JSON, e.g. ``{"depth": 12}``) overrides any
of them. Each limit answers with an error naming the limit and its value.

Cost is an estimate of the work a query asks for, computed from the document
before execution: every field costs 1, and the fields under a list field that
takes ``first``/``last`` count that many times (the default page size when
neither is given). Nested pages therefore multiply, which is what makes them
expensive.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)
from strawberry.extensions import SchemaExtension

from schema.types.pagination import DEFAULT_PAGE_SIZE


@dataclass(frozen=True)
class Limits:
    depth: int = 10
    aliases: int = 15
    tokens: int = 2000
    cost: int = 5000
    page_size: int = 100

    @classmethod
    def from_settings(cls, settings: Any) -> Limits:
        overrides = dict(getattr(settings, "graphql_limits", None) or {})
        known = {f.name for f in fields(cls)}
        if unknown := set(overrides) - known:
            raise ValueError(f"WEBLAB_GRAPHQL_LIMITS: unknown limit(s) {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(sorted(known))}")
        for name, value in overrides.items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"WEBLAB_GRAPHQL_LIMITS: {name} must be a positive integer, not {value!r}")
        return cls(**overrides)


class CostLimit(SchemaExtension):
    """Refuses an operation whose estimated cost is over ``limits.cost``, before it runs.

    Runs after validation (so after ``ValidationCache`` in the extension list) because the
    cost depends on the variables (``first: $n``), which validation does not see.
    """

    def __init__(self, limits: Limits) -> None:
        super().__init__()
        self.limits = limits

    def on_validate(self) -> Iterator[None]:
        ec = self.execution_context
        if ec.pre_execution_errors is not None and not ec.pre_execution_errors and ec.graphql_document is not None:
            error = cost_error(ec.graphql_document, ec.operation_name, ec.variables or {}, self.limits)
            if error is not None:
                ec.pre_execution_errors = [error]
        yield


def operation_cost(document: DocumentNode, operation: OperationDefinitionNode, variables: dict[str, Any],
                   page_size: int) -> int:
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    return _selection_cost(operation.selection_set, fragments, variables, page_size, set())


def cost_error(document: DocumentNode, operation_name: str | None, variables: dict[str, Any],
               limits: Limits) -> GraphQLError | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)
                  and (operation_name is None or (d.name is not None and d.name.value == operation_name))]
    for node in operations:
        cost = operation_cost(document, node, variables, limits.page_size)
        if cost > limits.cost:
            name = f" {node.name.value}" if node.name else ""
            return GraphQLError(f"operation{name} costs about {cost}, over the limit of {limits.cost}; "
                                "ask for smaller pages (first/last) or fewer nested lists", node)
    return None


def _page(node: FieldNode, variables: dict[str, Any], maximum: int) -> int:
    for arg in node.arguments or ():
        if arg.name.value in ("first", "last"):
            if isinstance(arg.value, IntValueNode):
                return max(1, int(arg.value.value))
            if isinstance(arg.value, VariableNode):
                value = variables.get(arg.value.name.value)
                return max(1, int(value)) if isinstance(value, int) else maximum
    return DEFAULT_PAGE_SIZE


def _is_page(node: FieldNode) -> bool:
    return any(a.name.value in ("first", "last") for a in node.arguments or ()) or (
        node.selection_set is not None
        and any(isinstance(s, FieldNode) and s.name.value in ("edges", "nodes") for s in node.selection_set.selections))


def _selection_cost(selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode],
                    variables: dict[str, Any], maximum: int, seen: set[str]) -> int:
    if selection_set is None:
        return 0
    total = 0
    for sel in selection_set.selections:
        if isinstance(sel, FieldNode):
            if sel.name.value.startswith("__"):
                continue  # introspection: bounded by the schema, and the depth limit ignores it too
            inner = _selection_cost(sel.selection_set, fragments, variables, maximum, seen)
            multiplier = _page(sel, variables, maximum) if _is_page(sel) else 1
            total += 1 + multiplier * inner
        elif isinstance(sel, InlineFragmentNode):
            total += _selection_cost(sel.selection_set, fragments, variables, maximum, seen)
        elif isinstance(sel, FragmentSpreadNode):
            name = sel.name.value
            if name in seen or name not in fragments:
                continue  # cycles and unknown fragments are reported by the standard rules
            total += _selection_cost(fragments[name].selection_set, fragments, variables, maximum, seen | {name})
    return total
