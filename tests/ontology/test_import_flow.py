"""Through the platform's add-version flow: imported versions carry annotations, interfaces and compatibility.

Uses the shared services (real PostgreSQL, Redis and store) and the importer, so the
triples come from resolvers.describe exactly as in production. Queries are scoped to
this test's graphs, because the store is shared with other tests.
"""

from __future__ import annotations

import pyoxigraph as ox
from annotation_corpus import DATA

from ontology import compatibility as compat
from ontology import vocab as v
from ontology.cellml import variable_uri
from ontology.graphs import load_ontologies
from resolvers import metadata
from resolvers.entities import Entities
from resolvers.importer import import_paths
from resolvers.metadata import Kind
from resolvers.uploads import Upload
from worker import fc

MODELS = DATA / "fc" / "models" / "real"
PROTOCOLS = DATA / "fc" / "protocols" / "real"


def _latest(entities: Entities, base: str, kind: Kind, owner: str, name: str) -> tuple[str, str]:
    entity = entities.find_entity(kind, owner, name)
    assert entity is not None, name
    return entity.uri, metadata.list_versions(entities.ox, base, entity.uri)[-1].uri


async def test_imported_models_and_protocols_answer_compatibility_like_the_engine(
    services, make_user
) -> None:
    base = services.settings.base_uri
    load_ontologies(services.store, base)
    user, _ = await make_user("annotator")
    entities = Entities.from_services(services)
    models = ["ohara_rudy_2011_epi", "beeler_reuter_model_1977"]
    protocols = ["ICaL", "GraphState"]
    summary = await import_paths(
        entities,
        user,
        [MODELS / f"{m}.cellml" for m in models] + [PROTOCOLS / f"{p}.txt" for p in protocols],
        progress=False,
    )
    assert summary.failed == []

    scope, model_versions, protocol_versions = [], {}, {}
    for name in models:
        entity, version = _latest(entities, base, Kind.MODEL, user.name, name)
        scope += [ox.NamedNode(entity), ox.NamedNode(version)]
        model_versions[name] = version
    for name in protocols:
        entity, version = _latest(entities, base, Kind.PROTOCOL, user.name, name)
        scope += [ox.NamedNode(entity), ox.NamedNode(version)]
        protocol_versions[name] = version

    # annotations are in the version graph: ORd's membrane potential, a state
    ord_v = model_versions["ohara_rudy_2011_epi"]
    node = ox.NamedNode(variable_uri(ord_v, "membrane", "v"))
    graph = ox.NamedNode(ord_v)
    assert ox.Quad(node, v.BQBIOL_IS, v.oxmeta("membrane_voltage"), graph) in services.store.oxigraph
    assert ox.Quad(node, v.IS_STATE, ox.Literal(True), graph) in services.store.oxigraph

    cells = {(c.model, c.protocol): c for c in compat.matrix(services.store, base, graphs=scope)}
    assert len(cells) == len(models) * len(protocols)
    for m in models:
        for p in protocols:
            engine_missing = fc.load_protocol(PROTOCOLS / f"{p}.txt").missing_terms(MODELS / f"{m}.cellml")
            ours = cells[(model_versions[m], protocol_versions[p])]
            assert ours.fits == (not engine_missing), (m, p, ours.missing, engine_missing)
            assert set(ours.missing) == set(engine_missing)


async def test_malformed_rdf_is_stored_with_a_warning(services, make_user) -> None:
    user, _ = await make_user("annotator")
    entities = Entities.from_services(services)
    data = (
        (MODELS / "Shannon2004.cellml")
        .read_bytes()
        .replace(
            b'<bqbiol:is rdf:resource="https://chaste.comlab.ox.ac.uk/cellml/ns/oxford-metadata#time"/>',
            b"<bqbiol:is><rdf:Description/><rdf:Description/></bqbiol:is>",
            1,
        )
    )
    _, version = await entities.publish(
        user, Kind.MODEL, "broken shannon", [Upload("shannon.cellml", data)], main="shannon.cellml"
    )
    graph = ox.NamedNode(version.uri)
    warnings = [
        q.object.value for q in services.store.oxigraph.quads_for_pattern(graph, v.WARNING, None, graph)
    ]
    assert len(warnings) == 1 and "environment.time" in warnings[0]
    terms = {
        q.object.value
        for q in services.store.oxigraph.quads_for_pattern(graph, v.ANNOTATED_WITH, None, graph)
    }
    assert v.OXMETA + "membrane_voltage" in terms and v.OXMETA + "time" not in terms
