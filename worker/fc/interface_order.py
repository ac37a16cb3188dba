"""The orders in which a model interface's ``define`` and ``optional`` statements must be applied.

Statements may be written in any order (as in the original engine), but one
can use a variable another creates: a define reading a variable a later define
creates (test_units_of), an optional default reading another optional term.
Cycles keep the written order.
"""

from __future__ import annotations

from dataclasses import replace

from . import ast
from .terms import ORIGINAL_DEFINITION, expand, names_in, term_of


def defines_in_dependency_order(
    defines: list[tuple[ast.DefineEquation, dict[str, str]]],
) -> list[tuple[ast.DefineEquation, dict[str, str]]]:
    """Defines ordered so that one creating a variable comes before those using it.

    A define may use (or take ``units_of``) a variable that a later define creates
    (test_units_of); the original engine resolved them in dependency order too.
    """
    targets: dict[str, int] = {}
    for i, (s, ns) in enumerate(defines):
        if not s.wrt:
            targets.setdefault(expand(s.name, ns), i)
    ordered: list[int] = []
    seen: set[int] = set()

    def place(i: int) -> None:
        if i in seen:
            return  # placed, or on the current path (a cycle: keep the written order)
        seen.add(i)
        s, ns = defines[i]
        for name in names_in(s.value):
            if name == ORIGINAL_DEFINITION:
                continue
            j = targets.get(expand(name, ns))
            if j is not None and j != i:
                place(j)
        ordered.append(i)

    for i in range(len(defines)):
        place(i)
    return [defines[i] for i in ordered]


def optionals_in_dependency_order(
    interface: ast.ModelInterface, namespaces: dict[str, str]
) -> ast.ModelInterface:
    """The interface with its ``optional`` declarations ordered so that a default follows the
    optional terms it uses (``optional a default b + c`` after ``optional b default 0``).

    The original engine creates missing optional variables in dependency order; the model
    side applies them in the order given, so the order is fixed here.
    """
    statements = interface.statements
    optionals = [s for s in statements if isinstance(s, ast.OptionalVariable)]
    by_term = {term_of(s.name, namespaces): s for s in optionals}
    ordered: list[ast.OptionalVariable] = []
    placed: set[int] = set()
    visiting: set[int] = set()

    def place(s: ast.OptionalVariable) -> None:
        if id(s) in placed or id(s) in visiting:
            return
        visiting.add(id(s))
        for name in names_in(s.default):
            used = by_term.get(term_of(name, namespaces))
            if used is not None and used is not s:
                place(used)
        visiting.discard(id(s))
        placed.add(id(s))
        ordered.append(s)

    for s in optionals:
        place(s)
    if ordered == optionals:
        return interface
    queue = iter(ordered)
    reordered = [next(queue) if isinstance(s, ast.OptionalVariable) else s for s in statements]
    return replace(interface, statements=reordered)
