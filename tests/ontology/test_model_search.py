"""Search: models by name, description or annotation term (label or IRI); protocols by the terms they need."""

from __future__ import annotations

import pyoxigraph as ox
from annotation_corpus import BASE, DATA, entity_graph, sha, version_metadata

from ontology import vocab as v
from ontology.cellml import annotation_triples, read_annotations
from ontology.graphs import term_labels
from ontology.protocols import interface_triples, normalise_interface
from ontology.search import find_models, find_protocols, find_terms
from sparql.store import TripleStore

OX = v.OXMETA


def _model(
    store: TripleStore, stem: str, n: int = 1, description: str = "imported", parent: str | None = None
) -> str:
    entity = f"{BASE}models/{stem}"
    version = f"{entity}/versions/{sha(n)}"
    ann = read_annotations((DATA / "cellml" / f"{stem}.cellml").read_bytes())
    store.replace_graph(ox.NamedNode(entity), entity_graph("model", entity, stem.replace("_", " ")))
    store.replace_graph(
        ox.NamedNode(version),
        version_metadata("model", entity, version, description=description, parent=parent)
        + annotation_triples(ann, version),
    )
    return version


def _protocol(store: TripleStore, name: str, required: list[str], optional: list[str] = ()) -> str:
    entity = f"{BASE}protocols/{name}"
    version = f"{entity}/versions/{sha(1)}"
    iface = normalise_interface({"required_terms": required, "optional_terms": list(optional)})
    store.replace_graph(ox.NamedNode(entity), entity_graph("protocol", entity, name))
    store.replace_graph(
        ox.NamedNode(version),
        version_metadata("protocol", entity, version) + interface_triples(iface, version),
    )
    return version


def test_models_by_name_description_and_term(store: TripleStore) -> None:
    ord_epi = _model(
        store, "ohara_rudy_2011_epi", description="O'Hara-Rudy human ventricular epicardial cell"
    )
    br = _model(store, "beeler_reuter_model_1977", description="Mammalian ventricular myocardium")
    assert [h.version for h in find_models(store, BASE, "OHARA rudy")] == [ord_epi]
    assert {h.version for h in find_models(store, BASE, "ventricular")} == {ord_epi, br}
    assert find_models(store, BASE, "epicardial")[0].matched == {"description"}
    # a label from the ontology, which no model file contains: ORd annotates INaL, Beeler-Reuter does not
    label = term_labels()[OX + "membrane_persistent_sodium_current"]
    hits = find_models(store, BASE, label)
    assert [h.version for h in hits] == [ord_epi]
    assert OX + "membrane_persistent_sodium_current" in hits[0].terms and hits[0].matched == {"term"}
    # a term by prefixed name or IRI
    assert {h.version for h in find_models(store, BASE, "oxmeta:membrane_voltage")} == {ord_epi, br}
    assert find_models(store, BASE, "no such thing anywhere") == []
    assert find_models(store, BASE, "   ") == []


def test_user_text_is_data_not_query(store: TripleStore) -> None:
    _model(store, "beeler_reuter_model_1977")
    assert find_models(store, BASE, '") } } SELECT * WHERE { ?s ?p ?o } #') == []


def test_only_the_latest_version_is_found_by_default(store: TripleStore) -> None:
    old = _model(store, "beeler_reuter_model_1977", 1, description="draft")
    new = _model(store, "beeler_reuter_model_1977", 2, description="final", parent=old)
    assert [h.version for h in find_models(store, BASE, "beeler")] == [new]
    assert {h.version for h in find_models(store, BASE, "beeler", latest_only=False)} == {old, new}


def test_terms_by_label_or_iri(store: TripleStore) -> None:
    terms = find_terms(store, BASE, "L-type calcium current")
    assert OX + "membrane_L_type_calcium_current" in {t.iri for t in terms}
    assert all(t.label for t in terms)
    _protocol(store, "p", ["urn:lab:local_term"])
    _model(store, "beeler_reuter_model_1977")
    assert [t.iri for t in find_terms(store, BASE, "membrane_voltage") if t.iri == OX + "membrane_voltage"]


def test_protocols_by_the_terms_they_need(store: TripleStore) -> None:
    ical = _protocol(store, "ICaL", [OX + "membrane_L_type_calcium_current", OX + "time"])
    ikr = _protocol(
        store,
        "IKr",
        [OX + "membrane_rapid_delayed_rectifier_potassium_current", OX + "time"],
        optional=[OX + "membrane_L_type_calcium_current"],
    )
    assert find_protocols(store, BASE, ["oxmeta:time"]) == sorted([ical, ikr])
    assert find_protocols(store, BASE, ["oxmeta:membrane_L_type_calcium_current"]) == [ical]
    assert find_protocols(
        store, BASE, ["oxmeta:membrane_L_type_calcium_current"], include_optional=True
    ) == sorted([ical, ikr])
    assert find_protocols(
        store, BASE, [OX + "time", OX + "membrane_rapid_delayed_rectifier_potassium_current"]
    ) == [ikr]
    assert find_protocols(store, BASE, []) == []
