"""The packaged ontologies as named graphs: complete, versioned, loaded once."""

from __future__ import annotations

import gc

import pyoxigraph as ox
import rdflib
from annotation_corpus import BASE, DATA

from ontology import vocab as v
from ontology.graphs import SOURCES, graph_uri, load_ontologies
from sparql.store import TripleStore


def test_oxmeta_graph_holds_the_shared_ontology_and_its_version(store: TripleStore) -> None:
    graph = graph_uri(BASE, "oxmeta")
    expected = rdflib.Graph().parse(DATA / "ontology" / "oxford-metadata.ttl", format="turtle")
    stored = [t for t in store.triples(graph) if t.subject != graph]
    assert len(stored) == len(expected)
    annotations = list(
        store.query(
            "SELECT (COUNT(?t) AS ?n) WHERE { GRAPH ?g { ?t a <" + v.OXMETA + "Annotation> } }",
            substitutions=None,
            default_graph=None,
        )
    )
    assert int(annotations[0]["n"].value) == len(
        set(expected.subjects(rdflib.RDF.type, rdflib.URIRef(v.OXMETA + "Annotation")))
    )
    digests = [
        t.object.value for t in store.triples(graph) if t.subject == graph and t.predicate == v.SOURCE_DIGEST
    ]
    assert digests == [next(s for s in SOURCES if s.name == "oxmeta").digest()]


def test_every_graph_is_loaded_and_a_second_start_rewrites_nothing(store: TripleStore) -> None:
    for source in SOURCES:
        assert store.has_graph(graph_uri(BASE, source.name))
    before = {s.name: sorted(map(str, store.triples(graph_uri(BASE, s.name)))) for s in SOURCES}
    assert load_ontologies(store, BASE) == {s.name: False for s in SOURCES}
    after = {s.name: sorted(map(str, store.triples(graph_uri(BASE, s.name)))) for s in SOURCES}
    assert before == after


def test_a_changed_graph_is_reloaded(store: TripleStore) -> None:
    graph = graph_uri(BASE, "shapes")
    for t in list(store.triples(graph)):
        if t.predicate == v.SOURCE_DIGEST:
            store.oxigraph.remove(ox.Quad(t.subject, t.predicate, t.object, graph))
    store.add(graph, [ox.Triple(graph, v.SOURCE_DIGEST, ox.Literal("sha256:old"))])
    assert load_ontologies(store, BASE)["shapes"] is True
    assert load_ontologies(store, BASE)["shapes"] is False


def test_on_disk_store_keeps_the_graphs_across_restarts(tmp_path) -> None:
    first = TripleStore(tmp_path / "store")
    assert all(load_ontologies(first, BASE).values())
    first.close()
    del first
    gc.collect()  # the on-disk store's lock goes with the last reference to it
    second = TripleStore(tmp_path / "store")
    assert not any(load_ontologies(second, BASE).values())
    assert second.has_graph(graph_uri(BASE, "weblab"))
