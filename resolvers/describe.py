"""What a new entity version says about itself as RDF: model annotations, protocol interfaces.

Called by resolvers/entities.py when a version is added, before anything is
committed, so that a version whose metadata breaks a SHACL shape is refused
whole. (Placeholder until the annotations work lands: describes nothing.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyoxigraph as ox


@dataclass
class Description:
    triples: list[ox.Triple] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def describe_version(kind: str, files: dict[str, bytes], main: str, version_uri: str) -> Description:
    """Triples to add to the version's graph for its content (annotations or interface)."""
    return Description()


def validate_version_graph(triples: list[ox.Triple]) -> list[str]:
    """SHACL violations of a version graph, as messages; empty when it conforms."""
    return []
