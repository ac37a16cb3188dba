"""What versions say about science: ontology terms, model variables, protocol interfaces, compatibility."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry

from ontology.graphs import term_labels
from resolvers.loaders import InterfacePart, VariableRow

if TYPE_CHECKING:
    from schema.types.entities import Version


@strawberry.type(description="A term of an ontology (e.g. oxmeta), by IRI.")
class OntologyTerm:
    iri: str = strawberry.field(description="The term's IRI.")
    label: str | None = strawberry.field(
        description="The term's rdfs:label in the loaded ontologies, if it has one."
    )
    short_name: str = strawberry.field(description="A short name: the part after '#' or the last '/'.")

    @classmethod
    def of(cls, iri: str) -> OntologyTerm:
        return cls(
            iri=iri, label=term_labels().get(iri), short_name=iri.rsplit("#", 1)[-1].rsplit("/", 1)[-1]
        )


def terms(iris: list[str] | tuple[str, ...]) -> list[OntologyTerm]:
    return [OntologyTerm.of(i) for i in iris]


@strawberry.type(description="A model variable that carries ontology annotations (or is a state variable).")
class Variable:
    row: strawberry.Private[VariableRow]

    @strawberry.field(description="The variable's IRI (a fragment of the model version's URI).")
    def uri(self) -> str:
        return self.row.uri

    @strawberry.field(description="The CellML component it belongs to.")
    def component(self) -> str:
        return self.row.component

    @strawberry.field(description="The variable's name in its component.")
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description="Its CellML units.")
    def units(self) -> str | None:
        return self.row.units

    @strawberry.field(description="Its initial value as written in the model (number or variable name).")
    def initial_value(self) -> str | None:
        return self.row.initial_value

    @strawberry.field(description="True for a state variable (it has an ODE).")
    def is_state(self) -> bool:
        return self.row.is_state

    @strawberry.field(description="The ontology terms the variable is annotated with.")
    def terms(self) -> list[OntologyTerm]:
        return terms(self.row.terms)


@strawberry.type(description="One input or output of a protocol.")
class InterfaceItem:
    part: strawberry.Private[InterfacePart]

    @strawberry.field(description="Its name in the protocol.")
    def name(self) -> str:
        return self.part.name

    @strawberry.field(description="Its units, when declared.")
    def units(self) -> str | None:
        return self.part.units

    @strawberry.field(description="Its description (outputs).")
    def description(self) -> str | None:
        return self.part.description

    @strawberry.field(description="Its default value as text (inputs).")
    def default_value(self) -> str | None:
        return self.part.default

    @strawberry.field(description="True for an optional output.")
    def optional(self) -> bool:
        return self.part.optional


@strawberry.type(description="What a protocol needs from a model and what it produces.")
class ProtocolInterface:
    required_terms: list[OntologyTerm] = strawberry.field(
        description="Terms a model must annotate to run it."
    )
    optional_terms: list[OntologyTerm] = strawberry.field(
        description="Terms it uses when the model has them."
    )
    inputs: list[InterfaceItem] = strawberry.field(description="Inputs that can be set, with defaults.")
    outputs: list[InterfaceItem] = strawberry.field(description="Outputs it produces.")


@strawberry.type(
    description="Whether a model version fits a protocol version (annotates every term it requires)."
)
class Compatibility:
    fits: bool = strawberry.field(
        description="True when the model annotates every term the protocol requires."
    )
    missing_terms: list[OntologyTerm] = strawberry.field(
        description="The required terms the model lacks (empty when it fits)."
    )
    model: Annotated[Version, strawberry.lazy("schema.types.entities")] = strawberry.field(
        description="The model version."
    )
    protocol: Annotated[Version, strawberry.lazy("schema.types.entities")] = strawberry.field(
        description="The protocol version."
    )

    @classmethod
    def of(cls, model: Version, protocol: Version, missing: tuple[str, ...]) -> Compatibility:
        return cls(fits=not missing, missing_terms=terms(missing), model=model, protocol=protocol)
