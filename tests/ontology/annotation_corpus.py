"""Helpers for the annotation, ontology and compatibility tests: the real corpus, and version graphs.

Version graphs are written here the way resolvers/metadata.py writes them (type,
entity, visibility, revision), plus what resolvers.describe adds, so that these
tests exercise the queries on the same shape of data the platform stores.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyoxigraph as ox

from ontology import vocab as v

DATA = Path(
    os.environ.get("WEBLAB_SHARED_DATA") or Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
)
BASE = "http://weblab.test/"
DATETIME = ox.NamedNode(v.XSD + "dateTime")


def corpus_models() -> list[Path]:
    return sorted((DATA / "cellml").glob("*.cellml")) + sorted(
        (DATA / "fc" / "models" / "real").glob("*.cellml")
    )


def version_metadata(
    kind: str,
    entity: str,
    version: str,
    *,
    parent: str | None = None,
    title: str | None = None,
    description: str = "imported",
) -> list[ox.Triple]:
    """The metadata triples of a version graph, as the entities layer writes them."""
    vn, en = ox.NamedNode(version), ox.NamedNode(entity)
    cls = v.weblab(kind.capitalize() + "Version")
    triples = [
        ox.Triple(vn, v.RDF_TYPE, cls),
        ox.Triple(vn, ox.NamedNode(v.DCTERMS + "isVersionOf"), en),
        ox.Triple(en, ox.NamedNode(v.DCTERMS + "hasVersion"), vn),
        ox.Triple(vn, ox.NamedNode(v.DCTERMS + "title"), ox.Literal(title or "first version")),
        ox.Triple(vn, ox.NamedNode(v.DCTERMS + "description"), ox.Literal(description)),
        ox.Triple(vn, ox.NamedNode(v.DCTERMS + "creator"), ox.NamedNode(BASE + "users/alice")),
        ox.Triple(
            vn,
            ox.NamedNode(v.DCTERMS + "created"),
            ox.Literal("2026-01-01T00:00:00+00:00", datatype=DATETIME),
        ),
        ox.Triple(vn, v.weblab("visibility"), v.weblab("public")),
        ox.Triple(vn, v.weblab("commit"), ox.Literal(version.rsplit("/", 1)[1])),
        ox.Triple(vn, v.weblab("mainFile"), ox.Literal("main")),
    ]
    if parent:
        triples.append(ox.Triple(vn, ox.NamedNode(v.PROV + "wasRevisionOf"), ox.NamedNode(parent)))
    return triples


def entity_graph(kind: str, entity: str, name: str) -> list[ox.Triple]:
    en = ox.NamedNode(entity)
    return [
        ox.Triple(en, v.RDF_TYPE, v.weblab(kind.capitalize())),
        ox.Triple(en, ox.NamedNode(v.DCTERMS + "title"), ox.Literal(name)),
    ]


def sha(n: int) -> str:
    return f"{n:040x}"
