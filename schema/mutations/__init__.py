"""The root ``Mutation``, merged from one module per domain; every result is a union with typed errors."""

from __future__ import annotations

from strawberry.tools import merge_types

from schema.mutations.accounts import AccountMutations
from schema.mutations.entities import EntityMutations
from schema.mutations.runs import RunMutations

Mutation = merge_types("Mutation", (AccountMutations, EntityMutations, RunMutations))
Mutation.__strawberry_definition__.description = (
    "Everything that changes state; each answers a union of the result and the typed errors (`... on Error`)."
)
