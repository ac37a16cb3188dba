"""Which ontology terms a protocol's model interface requires of a model, and which it can do without.

One rule serves both questions the platform asks: *can this protocol run on
this model?* (``Protocol.model_terms``, ``Protocol.missing_terms``: the
compatibility listing) and *is this run inapplicable?* (``interface.prepare``,
before it touches the model).  Two rules had drifted apart (``clamp T to e``
was optional for the listing and required for the run, so a model was listed
as compatible and its run reported inapplicable); keeping a single function
makes that impossible.

The rule is the original engine's (weblab-fc ``Protocol.get_required_model_annotations``,
whose results the Web Lab showed), statement by statement:

=============================================  ==========================================
statement                                      terms
=============================================  ==========================================
``output T``, ``clamp T``                      T maybe required
``input T units u = v``                        T optional (it can be created)
``input T`` (no units or no value)             T maybe required
``define T = e``                               T optional; the names in e maybe required
``clamp T to e``                               as ``define T = e`` (weblab-fc parses it
                                               as exactly that equation)
``define diff(T; t) = e``                      T, t and the names in e maybe required
``optional T [default e]``                     T and the names in e optional
``convert A to B by lambda ...``               the names in the rule maybe optional
``var x ...``                                  not a term (nor is ``local:x``)
=============================================  ==========================================

*Optional* wins over *maybe required*; a *maybe optional* term is optional
unless something else makes it maybe required.  One addition to the original:
``input T = v`` together with ``define diff(T; t)`` makes T optional, because
the engine then creates T as a new state (test_create_annotated_no_units,
which the original engine runs on a model without T).

Names with a prefix the protocol never declares are no terms (as in the
original); ``oxmeta:`` and ``local:`` need no declaration.  Category terms are
not expanded here: a model has a category term when it annotates any member
(``AnnotatedModel.has_term``), and ``oxmeta:state_variable`` every model has.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from . import ast
from .errors import ProtocolError
from .ontology import OXMETA, STATE_VARIABLE

LOCAL_NS = "urn:fc:local#"  # ``local:x`` terms: variables the protocol adds to the model
VAR_NS = "urn:fc:var#"  # bare names: ``var`` declarations
UNITS_OF = "units_of("  # ``n :: units_of(name)``: a number in the units of a variable
ORIGINAL_DEFINITION = "original_definition"  # in a define: the equation it replaces

Interface = tuple[
    ast.ModelInterface, Mapping[str, str]
]  # a model interface and the namespaces it was written with


class HasTerms(Protocol):
    """A model that can say whether it annotates a term (``AnnotatedModel``)."""

    def has_term(self, term: str) -> bool: ...


def expand(name: str, namespaces: Mapping[str, str]) -> str:
    """The full IRI a name in a model interface stands for; ``VAR_NS + name`` for a bare (``var``) name.

    Raises ``ProtocolError`` for an undeclared prefix: the model interface cannot be applied.
    """
    if "://" in name or name.startswith("urn:"):
        return name
    if ":" not in name:
        return VAR_NS + name
    prefix, local = name.split(":", 1)
    if prefix == "local":
        return LOCAL_NS + local
    if prefix in namespaces:
        return namespaces[prefix] + local
    if prefix == "oxmeta":
        return OXMETA + local
    raise ProtocolError(f"unknown namespace prefix {prefix!r} in {name!r}; declare it with 'namespace'")


def term_of(name: str, namespaces: Mapping[str, str]) -> str | None:
    """The ontology term a name stands for, or None for a bare name or an undeclared prefix."""
    if ":" not in name:
        return None
    try:
        return expand(name, namespaces)
    except ProtocolError:
        return None


def local_name(iri: str) -> str:
    """The last part of a term's IRI (after ``#``, ``/`` or ``:``), for messages and variable names."""
    for sep in ("#", "/", ":"):
        if sep in iri:
            return iri.rsplit(sep, 1)[1]
    return iri


def names_in(expr: ast.Node | None) -> list[str]:
    """The variable names an interface expression reads, ``units_of(name)`` references included."""
    found: list[str] = []
    for node in ast.walk(expr):
        if isinstance(node, ast.Name):
            found.append(node.name)
        elif isinstance(node, ast.Number) and node.units and node.units.startswith(UNITS_OF):
            found.append(node.units[len(UNITS_OF) : -1].strip())
    return found


MAYBE_REQUIRED, OPTIONAL, MAYBE_OPTIONAL = "maybe required", "optional", "maybe optional"


def model_terms(interfaces: Iterable[Interface]) -> tuple[set[str], set[str]]:
    """(required, optional) ontology terms of the combined model interfaces (see the module docstring)."""
    found: dict[str, set[str]] = {MAYBE_REQUIRED: set(), OPTIONAL: set(), MAYBE_OPTIONAL: set()}
    declared: set[str] = set()
    for interface, namespaces in interfaces:
        statements = interface.statements
        declared.update(LOCAL_NS + s.name for s in statements if isinstance(s, ast.DeclareVariable))
        for statement in statements:
            for names, kind in statement_terms(statement):
                found[kind].update(t for t in (term_of(n, namespaces) for n in names) if t is not None)
        found[OPTIONAL] |= _created_states(statements, namespaces)
    optional = found[OPTIONAL] | (found[MAYBE_OPTIONAL] - found[MAYBE_REQUIRED])
    return found[MAYBE_REQUIRED] - optional - declared, optional - declared


def statement_terms(s: ast.InterfaceStatement) -> list[tuple[list[str], str]]:
    """The names one statement uses, each group with its kind, as in the table of the module docstring."""
    if isinstance(s, ast.UnitsConversion):
        return [(names_in(s.rule), MAYBE_OPTIONAL)]
    if isinstance(s, ast.OutputVariable):
        return [([s.name], MAYBE_REQUIRED)]
    if isinstance(s, ast.ClampVariable):
        if s.value is None:
            return [([s.name], MAYBE_REQUIRED)]
        return [(names_in(s.value), MAYBE_REQUIRED), ([s.name], OPTIONAL)]  # ``define T = e``
    if isinstance(s, ast.InputVariable):
        creatable = s.units is not None and s.initial_value is not None
        return [([s.name], OPTIONAL if creatable else MAYBE_REQUIRED)]
    if isinstance(s, ast.DefineEquation):
        if s.wrt:
            return [(names_in(s.value) + [s.name, s.wrt], MAYBE_REQUIRED)]
        return [(names_in(s.value), MAYBE_REQUIRED), ([s.name], OPTIONAL)]
    if isinstance(s, ast.OptionalVariable):
        return [([s.name] + names_in(s.default), OPTIONAL)]
    return []


def _created_states(statements: list[ast.InterfaceStatement], namespaces: Mapping[str, str]) -> set[str]:
    """Terms created as new states when the model lacks them: ``input T = v`` with ``define diff(T; t)``."""
    valued = {
        term_of(s.name, namespaces)
        for s in statements
        if isinstance(s, ast.InputVariable) and s.initial_value is not None
    }
    odes = {term_of(s.name, namespaces) for s in statements if isinstance(s, ast.DefineEquation) and s.wrt}
    return {t for t in valued & odes if t is not None}


def missing_terms(required: Iterable[str], model: HasTerms) -> list[str]:
    """The required terms ``model`` lacks, in the order given (every model has ``state_variable``)."""
    return [t for t in required if t != STATE_VARIABLE and not model.has_term(t)]


def bound_names(s: ast.InterfaceStatement) -> list[str]:
    """The names a statement needs bound after the model is built (for simulations to read or set).

    Narrower than what ``terms.model_terms`` looks at: names in ``convert`` rules and in
    ``optional`` defaults are only read while the model is built, so get no binding.
    """
    if isinstance(s, (ast.InputVariable, ast.OutputVariable)):
        return [s.name]
    if isinstance(s, ast.ClampVariable):
        return [s.name] + (names_in(s.value) if s.value is not None else [])
    if isinstance(s, ast.DefineEquation):
        names = names_in(s.value)
        if s.wrt:
            names.append(s.wrt)
        return [s.name] + names
    if isinstance(s, ast.OptionalVariable):
        return [s.name]
    return []
