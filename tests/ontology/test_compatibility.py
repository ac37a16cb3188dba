"""Compatibility as SPARQL: one pair, one model against all protocols, the whole matrix, with missing terms."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyoxigraph as ox
import pytest
import rdflib
from annotation_corpus import BASE, DATA, entity_graph, sha, version_metadata

from ontology import compatibility as compat
from ontology import vocab as v
from ontology.cellml import annotation_triples, read_annotations
from ontology.graphs import graph_uri, load_ontologies
from ontology.protocols import interface_triples, normalise_interface
from sparql.store import TripleStore

OX = v.OXMETA
SSR = [
    OX + t
    for t in (
        "time",
        "membrane_voltage",
        "membrane_stimulus_current_amplitude",
        "membrane_stimulus_current_duration",
        "state_variable",
    )
]
# Required terms as WEBLAB-REFERENCE.md lists them for some of the real protocols, plus a category term.
INTERFACES = {
    "GraphState": [OX + "time", OX + "membrane_voltage", OX + "state_variable"],
    "ICaL": [OX + "membrane_L_type_calcium_current", OX + "extracellular_calcium_concentration", OX + "time"],
    "IKr_block": SSR + [OX + "membrane_rapid_delayed_rectifier_potassium_current_conductance"],
    "IKs_IV_curve": [OX + "membrane_slow_delayed_rectifier_potassium_current", OX + "time"],
    "SteadyPacing": SSR[:4],
    "INa_late": [OX + "time"],
    "ExtracellularPotassiumVariation": SSR + [OX + "extracellular_potassium_concentration"],
    "AnyExtracellular": [OX + "ExtracellularConcentration", OX + "time"],  # satisfied through rdf:type
}
MODELS = sorted((DATA / "fc" / "models" / "real").glob("*.cellml"))


def model_uri(path: Path) -> str:
    return f"{BASE}models/{path.stem}/versions/{sha(1)}"


def protocol_uri(name: str, n: int = 1) -> str:
    return f"{BASE}protocols/{name}/versions/{sha(n)}"


def add_model(
    store: TripleStore, name: str, version: str, triples: list[ox.Triple], parent: str | None = None
) -> None:
    entity = version.split("/versions/")[0]
    store.replace_graph(ox.NamedNode(entity), entity_graph("model", entity, name))
    store.replace_graph(
        ox.NamedNode(version), version_metadata("model", entity, version, parent=parent) + triples
    )


def add_protocol(store: TripleStore, version: str, required: list[str], parent: str | None = None) -> None:
    entity = version.split("/versions/")[0]
    store.replace_graph(ox.NamedNode(entity), entity_graph("protocol", entity, entity.rsplit("/", 1)[1]))
    iface = normalise_interface({"required_terms": required})
    store.replace_graph(
        ox.NamedNode(version),
        version_metadata("protocol", entity, version, parent=parent) + interface_triples(iface, version),
    )


@pytest.fixture(scope="module")
def corpus() -> Iterator[tuple[TripleStore, dict[str, set[str]]]]:
    """The real fc models and the interfaces above in a store; also each model's terms, read separately."""
    store = TripleStore(None)
    load_ontologies(store, BASE)
    terms = {}
    for path in MODELS:
        ann = read_annotations(path.read_bytes())
        terms[model_uri(path)] = ann.terms()
        add_model(store, path.stem, model_uri(path), annotation_triples(ann, model_uri(path)))
    for name, required in INTERFACES.items():
        add_protocol(store, protocol_uri(name), required)
    yield store, terms


def _satisfiers(term: str, ontology: rdflib.Graph) -> set[str]:
    """Terms that satisfy ``term``: itself, and whatever reaches it by rdf:type / rdfs:subClassOf (breadth first)."""
    found, todo = {term}, [rdflib.URIRef(term)]
    while todo:
        node = todo.pop()
        for p in (rdflib.RDF.type, rdflib.RDFS.subClassOf):
            for s in ontology.subjects(p, node):
                if str(s) not in found:
                    found.add(str(s))
                    todo.append(s)
    return found


def test_matrix_agrees_with_the_rule_computed_outside_sparql(corpus) -> None:
    store, terms = corpus
    ontology = rdflib.Graph().parse(DATA / "ontology" / "oxford-metadata.ttl", format="turtle")
    expected = {}
    for model, annotated in terms.items():
        for name, required in INTERFACES.items():
            missing = {t for t in required if not (_satisfiers(t, ontology) & annotated)}
            expected[(model, protocol_uri(name))] = tuple(sorted(missing))
    got = {(c.model, c.protocol): c.missing for c in compat.matrix(store, BASE)}
    assert got == expected
    # the corpus exercises both outcomes of every protocol (some models do not even annotate time)
    for name in INTERFACES:
        assert {expected[(m, protocol_uri(name))] == () for m in terms} == {True, False}, name


def test_pair_model_and_protocol_queries_agree_with_the_matrix(corpus) -> None:
    store, terms = corpus
    matrix = {(c.model, c.protocol): c for c in compat.matrix(store, BASE)}
    for model in list(terms)[:5]:
        by_model = compat.check_model(store, BASE, model)
        assert len(by_model) == len(INTERFACES)
        for c in by_model:
            assert matrix[(model, c.protocol)] == c
            assert compat.check_pair(store, BASE, model, c.protocol) == c
    for name in INTERFACES:
        by_protocol = compat.check_protocol(store, BASE, protocol_uri(name))
        assert {(c.model, c.protocol): c for c in by_protocol} == {
            k: c for k, c in matrix.items() if k[1] == protocol_uri(name)
        }


def test_hand_checked_pairs(corpus) -> None:
    """ORd 2011 annotates IKs and extracellular concentrations; Beeler-Reuter 1977 has neither (read in the files)."""
    store, _ = corpus
    real = DATA / "fc" / "models" / "real"
    ord_epi, br = (
        model_uri(real / "ohara_rudy_2011_epi.cellml"),
        model_uri(real / "beeler_reuter_model_1977.cellml"),
    )
    for name in ("SteadyPacing", "IKs_IV_curve", "AnyExtracellular"):
        assert compat.check_pair(store, BASE, ord_epi, protocol_uri(name)).fits, name
    assert compat.check_pair(store, BASE, br, protocol_uri("IKs_IV_curve")).missing == (
        OX + "membrane_slow_delayed_rectifier_potassium_current",
    )
    assert compat.check_pair(store, BASE, br, protocol_uri("AnyExtracellular")).missing == (
        OX + "ExtracellularConcentration",
    )


def test_a_category_term_is_satisfied_through_rdf_type(store: TripleStore) -> None:
    m1, m2 = f"{BASE}models/a/versions/{sha(1)}", f"{BASE}models/b/versions/{sha(1)}"
    add_model(
        store,
        "a",
        m1,
        [
            ox.Triple(
                ox.NamedNode(m1), v.ANNOTATED_WITH, ox.NamedNode(OX + "extracellular_sodium_concentration")
            )
        ],
    )
    add_model(
        store,
        "b",
        m2,
        [ox.Triple(ox.NamedNode(m2), v.ANNOTATED_WITH, ox.NamedNode(OX + "cytosolic_sodium_concentration"))],
    )
    p = protocol_uri("cat")
    add_protocol(store, p, [OX + "ExtracellularConcentration"])
    assert compat.check_pair(store, BASE, m1, p).fits
    assert compat.check_pair(store, BASE, m2, p).missing == (OX + "ExtracellularConcentration",)


def test_subclasses_in_the_loaded_ontologies_count_but_a_models_own_claims_do_not(store: TripleStore) -> None:
    voltage, potential = "urn:test:Voltage", "urn:test:Potential"
    store.add(
        graph_uri(BASE, "oxmeta"),
        [
            ox.Triple(ox.NamedNode(OX + "membrane_voltage"), v.RDFS_SUBCLASS_OF, ox.NamedNode(voltage)),
            ox.Triple(ox.NamedNode(voltage), v.RDFS_SUBCLASS_OF, ox.NamedNode(potential)),
        ],
    )
    m = f"{BASE}models/a/versions/{sha(1)}"
    add_model(
        store,
        "a",
        m,
        [
            ox.Triple(ox.NamedNode(m), v.ANNOTATED_WITH, ox.NamedNode(OX + "membrane_voltage")),
            # a model graph cannot widen what a term means
            ox.Triple(
                ox.NamedNode(OX + "membrane_voltage"), v.RDFS_SUBCLASS_OF, ox.NamedNode("urn:test:Anything")
            ),
        ],
    )
    p1, p2 = protocol_uri("p1"), protocol_uri("p2")
    add_protocol(store, p1, [potential])
    add_protocol(store, p2, ["urn:test:Anything"])
    assert compat.check_pair(store, BASE, m, p1).fits
    assert compat.check_pair(store, BASE, m, p2).missing == ("urn:test:Anything",)


def test_only_latest_versions_by_default_and_scoped_by_visible_graphs(store: TripleStore) -> None:
    m1, m2 = f"{BASE}models/a/versions/{sha(1)}", f"{BASE}models/a/versions/{sha(2)}"
    add_model(store, "a", m1, [])
    add_model(
        store, "a", m2, [ox.Triple(ox.NamedNode(m2), v.ANNOTATED_WITH, ox.NamedNode(OX + "time"))], parent=m1
    )
    p = protocol_uri("p")
    add_protocol(store, p, [OX + "time"])
    assert [(c.model, c.fits) for c in compat.matrix(store, BASE)] == [(m2, True)]
    assert [(c.model, c.fits) for c in compat.check_protocol(store, BASE, p)] == [(m2, True)]
    every = {(c.model, c.fits) for c in compat.matrix(store, BASE, latest_only=False)}
    assert every == {(m1, False), (m2, True)}
    # a caller who sees only the first version gets it as the latest it can see
    visible = [ox.NamedNode(m1), ox.NamedNode(p)]
    assert [(c.model, c.missing) for c in compat.matrix(store, BASE, graphs=visible)] == [
        (m1, (OX + "time",))
    ]
    with pytest.raises(compat.UnknownVersion):
        compat.check_pair(store, BASE, m2, p, graphs=visible)


def test_unknown_versions_are_reported(store: TripleStore) -> None:
    with pytest.raises(compat.UnknownVersion, match="no model version"):
        compat.check_pair(store, BASE, f"{BASE}models/none/versions/{sha(9)}", protocol_uri("none"))
