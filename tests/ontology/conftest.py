"""Fixtures for the annotation, ontology and compatibility tests: a real store with the ontologies loaded."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from annotation_corpus import BASE

from ontology.graphs import load_ontologies
from sparql.store import TripleStore


@pytest.fixture
def store() -> Iterator[TripleStore]:
    """A fresh in-memory store with the packaged ontologies loaded."""
    s = TripleStore(None)
    load_ontologies(s, BASE)
    yield s
