"""How big a GraphQL request may be: depth, aliases, tokens, cost, page size and string length.

Defaults below; ``WEBLAB_GRAPHQL_LIMITS`` (JSON, e.g. ``{"depth": 12}``) overrides any
of them. Each limit answers with an error naming the limit and its value.

Cost is an estimate of the work a query asks for, computed from the document
before execution: every field costs 1, and the fields under a list field that
takes ``first``/``last`` count that many times (the default page size when
neither is given). Nested pages therefore multiply, which is what makes them
expensive.

String length bounds every string a caller sends, inline in the document or in a
variable (``string_length`` characters), and document length the document itself
(``document_length`` characters). Both are checked before the document is parsed, so
that a huge literal, name or comment costs a regular-expression scan, not a parse
(graphql-core's lexer is Python: about 0.4 s a megabyte, on the event loop). Inline
strings are measured as written (escapes count as written); variables as decoded.
"""

from __future__ import annotations

import re
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
    string_length: int = 10_000
    document_length: int = 100_000

    @classmethod
    def from_settings(cls, settings: Any) -> Limits:
        overrides = dict(getattr(settings, "graphql_limits", None) or {})
        known = {f.name for f in fields(cls)}
        if unknown := set(overrides) - known:
            raise ValueError(
                f"WEBLAB_GRAPHQL_LIMITS: unknown limit(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(known))}"
            )
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
        if (
            ec.pre_execution_errors is not None
            and not ec.pre_execution_errors
            and ec.graphql_document is not None
        ):
            error = cost_error(ec.graphql_document, ec.operation_name, ec.variables or {}, self.limits)
            if error is not None:
                ec.pre_execution_errors = [error]
        yield


def operation_cost(
    document: DocumentNode, operation: OperationDefinitionNode, variables: dict[str, Any], page_size: int
) -> int:
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    return _selection_cost(operation.selection_set, fragments, variables, page_size, set())


def cost_error(
    document: DocumentNode, operation_name: str | None, variables: dict[str, Any], limits: Limits
) -> GraphQLError | None:
    operations = [
        d
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
        and (operation_name is None or (d.name is not None and d.name.value == operation_name))
    ]
    for node in operations:
        cost = operation_cost(document, node, variables, limits.page_size)
        if cost > limits.cost:
            name = f" {node.name.value}" if node.name else ""
            return GraphQLError(
                f"operation{name} costs about {cost}, over the limit of {limits.cost}; "
                "ask for smaller pages (first/last) or fewer nested lists",
                node,
            )
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
        and any(
            isinstance(s, FieldNode) and s.name.value in ("edges", "nodes")
            for s in node.selection_set.selections
        )
    )


def _selection_cost(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
    maximum: int,
    seen: set[str],
) -> int:
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
            total += _selection_cost(
                fragments[name].selection_set, fragments, variables, maximum, seen | {name}
            )
    return total


class StringLimit(SchemaExtension):
    """Refuses a string argument (inline or a variable) longer than ``limits.string_length``, and a document
    longer than ``limits.document_length``, before parsing.

    First in the extension list: its ``on_operation`` runs before the document is parsed.
    """

    def __init__(self, limits: Limits) -> None:
        super().__init__()
        self.limits = limits

    def on_operation(self) -> Iterator[None]:
        ec = self.execution_context
        error = string_error(
            ec.query, ec.variables, self.limits.string_length, max_strings=self.limits.tokens
        )
        if error is None and ec.query is not None and len(ec.query) > self.limits.document_length:
            error = GraphQLError(
                f"the document is {len(ec.query)} characters long, over the limit of "
                f"{self.limits.document_length}; send a shorter query (or pass long values "
                "as variables)"
            )
        if error is not None:
            raise error
        yield


# Comments and strings (block strings first); possessive, so that an unterminated string cannot backtrack.
_STRINGS = re.compile(r'#[^\n\r]*+|"""(?:[^"\\]++|\\"""|\\|"(?!""))*+"""|"(?:[^"\\\n\r]++|\\.)*+"')
_ARGUMENT_BEFORE = re.compile(r"([_A-Za-z][_0-9A-Za-z]*)\s*:\s*[\[{\s]*$")


def string_error(
    query: str | None, variables: dict[str, Any] | None, limit: int, *, max_strings: int | None = None
) -> GraphQLError | None:
    """An error naming the first string over ``limit`` characters (in the document, or in a variable), or None.

    ``max_strings``: look at no more strings and comments than that (the token limit: a document with more
    tokens is refused by the parser, which stops counting there).
    """
    if query and len(query) > limit:
        for n, match in enumerate(_STRINGS.finditer(query)):
            if max_strings is not None and n >= max_strings:
                break
            text = match.group()
            if text.startswith("#"):
                continue
            length = len(text) - (6 if text.startswith('"""') else 2)
            if length > limit:
                before = _ARGUMENT_BEFORE.search(query, max(0, match.start() - 200), match.start())
                what = f"argument '{before.group(1)}'" if before else "a string in the document"
                return GraphQLError(
                    f"{what} is {length} characters long, over the limit of {limit}; send a shorter string"
                )
    for name, value in (variables or {}).items():
        found = _long_string(value, limit, f"${name}")
        if found is not None:
            path, length = found
            used = sorted(
                set(
                    re.findall(rf"([_A-Za-z][_0-9A-Za-z]*)\s*:\s*[\[{{\s]*\${re.escape(name)}\b", query or "")
                )
            )
            what = f"argument {', '.join(repr(u) for u in used)} ({path})" if used else f"variable {path}"
            return GraphQLError(
                f"{what} is {length} characters long, over the limit of {limit}; send a shorter string"
            )
    return None


def _long_string(value: Any, limit: int, path: str) -> tuple[str, int] | None:
    if isinstance(value, str):
        return (path, len(value)) if len(value) > limit else None
    if isinstance(value, dict):
        items: Any = ((f"{path}.{k}", v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for inner_path, inner in items:
        if (found := _long_string(inner, limit, inner_path)) is not None:
            return found
    return None
