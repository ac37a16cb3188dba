"""Self-descriptions: the SPARQL Service Description, the VoID/DCAT dataset description, the JSON-LD context.

These are what a federated consumer reads first to learn what the endpoint
speaks and what the dataset holds. They are built as triples (never as
string templates) so every serialization the endpoint offers can carry them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pyoxigraph as ox

from worker.fc.ontology import OXMETA

SD = "http://www.w3.org/ns/sparql-service-description#"
VOID = "http://rdfs.org/ns/void#"
DCAT = "http://www.w3.org/ns/dcat#"
DCTERMS = "http://purl.org/dc/terms/"
FORMATS = "http://www.w3.org/ns/formats/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XSD = "http://www.w3.org/2001/XMLSchema#"
FOAF = "http://xmlns.com/foaf/0.1/"
WEBLAB = "https://w3id.org/weblab/ns#"
LICENSE = "https://creativecommons.org/licenses/by/4.0/"

PREFIXES = {
    "sd": SD,
    "void": VOID,
    "dcat": DCAT,
    "dcterms": DCTERMS,
    "formats": FORMATS,
    "xsd": XSD,
    "weblab": WEBLAB,
    "foaf": FOAF,
}

_RESULT_FORMATS = (
    "SPARQL_Results_JSON",
    "SPARQL_Results_XML",
    "SPARQL_Results_CSV",
    "SPARQL_Results_TSV",
    "Turtle",
    "N-Triples",
    "N-Quads",
    "TriG",
    "RDF_XML",
    "JSON-LD",
)
_INPUT_FORMATS = ("Turtle", "N-Triples", "N-Quads", "TriG", "RDF_XML", "JSON-LD")


def _n(iri: str) -> ox.NamedNode:
    return ox.NamedNode(iri)


def _t(s: ox.NamedNode | ox.BlankNode, p: str, o: ox.NamedNode | ox.BlankNode | ox.Literal) -> ox.Triple:
    return ox.Triple(s, _n(p), o)


def service_description(endpoint: str, *, update: bool = True, federation: bool = False) -> list[ox.Triple]:
    """The W3C Service Description of ``endpoint`` (the resource is the endpoint URL itself)."""
    service = _n(endpoint)
    triples = [
        _t(service, RDF + "type", _n(SD + "Service")),
        _t(service, SD + "endpoint", service),
        _t(service, SD + "supportedLanguage", _n(SD + "SPARQL11Query")),
        _t(service, SD + "feature", _n(SD + "UnionDefaultGraph")),
        _t(service, SD + "feature", _n(SD + "BasicFederatedQuery")) if federation else None,
        _t(service, SD + "defaultEntailmentRegime", _n("http://www.w3.org/ns/entailment/Simple")),
        _t(
            service,
            DCTERMS + "description",
            ox.Literal(
                "Weblab's SPARQL 1.1 endpoint. Queries run over the graphs the caller may see (the union of "
                "them is the default graph); SERVICE is disabled unless allowed; writes need an admin."
            ),
        ),
    ]
    if update:
        triples.append(_t(service, SD + "supportedLanguage", _n(SD + "SPARQL11Update")))
    for name in _RESULT_FORMATS:
        triples.append(_t(service, SD + "resultFormat", _n(FORMATS + name)))
    for name in _INPUT_FORMATS:
        triples.append(_t(service, SD + "inputFormat", _n(FORMATS + name)))
    dataset = ox.BlankNode()
    default = ox.BlankNode()
    triples += [
        _t(service, SD + "defaultDataset", dataset),
        _t(dataset, RDF + "type", _n(SD + "Dataset")),
        _t(dataset, SD + "defaultGraph", default),
        _t(default, RDF + "type", _n(SD + "Graph")),
        _t(
            dataset,
            DCTERMS + "description",
            ox.Literal("The default graph is the union of the named graphs visible to the caller."),
        ),
    ]
    return [t for t in triples if t is not None]


def void_description(
    base_uri: str,
    *,
    endpoint: str,
    dump: str,
    context: str,
    triples: int,
    graphs: int,
    examples: Iterable[str],
    classes: Iterable[tuple[str, int]] = (),
    modified: str | None = None,
) -> list[ox.Triple]:
    """VoID and DCAT for the public dataset (counts are over public graphs only)."""
    dataset = _n(base_uri.rstrip("/") + "/.well-known/void#dataset")
    distribution = _n(base_uri.rstrip("/") + "/.well-known/void#dump")
    service = _n(endpoint)
    out = [
        _t(dataset, RDF + "type", _n(VOID + "Dataset")),
        _t(dataset, RDF + "type", _n(DCAT + "Dataset")),
        _t(
            dataset,
            DCTERMS + "title",
            ox.Literal("Weblab: cardiac electrophysiology models, protocols and experiments", language="en"),
        ),
        _t(
            dataset,
            DCTERMS + "description",
            ox.Literal(
                "Cardiac cell models (CellML), functional-curation protocols, datasets and the results of running "
                "every compatible model with every protocol, as linked data.",
                language="en",
            ),
        ),
        _t(dataset, DCTERMS + "license", _n(LICENSE)),
        _t(dataset, VOID + "sparqlEndpoint", service),
        _t(dataset, VOID + "dataDump", _n(dump)),
        _t(dataset, VOID + "uriSpace", ox.Literal(base_uri)),
        _t(dataset, VOID + "triples", ox.Literal(str(triples), datatype=_n(XSD + "integer"))),
        _t(dataset, VOID + "feature", _n(FORMATS + "N-Quads")),
        _t(dataset, WEBLAB + "graphs", ox.Literal(str(graphs), datatype=_n(XSD + "integer"))),
        _t(dataset, DCTERMS + "conformsTo", _n(context)),
        _t(dataset, DCAT + "distribution", distribution),
        _t(distribution, RDF + "type", _n(DCAT + "Distribution")),
        _t(distribution, DCAT + "downloadURL", _n(dump)),
        _t(
            distribution,
            DCAT + "mediaType",
            _n("https://www.iana.org/assignments/media-types/application/n-quads"),
        ),
        _t(
            distribution,
            DCAT + "compressFormat",
            _n("https://www.iana.org/assignments/media-types/application/gzip"),
        ),
        _t(distribution, DCTERMS + "license", _n(LICENSE)),
        _t(dataset, DCAT + "accessService", service),
        _t(service, RDF + "type", _n(DCAT + "DataService")),
        _t(service, RDF + "type", _n(SD + "Service")),
        _t(service, DCAT + "endpointURL", service),
        _t(service, DCTERMS + "conformsTo", _n("https://www.w3.org/TR/sparql11-protocol/")),
        _t(service, DCAT + "servesDataset", dataset),
    ]
    if modified:
        out.append(_t(dataset, DCTERMS + "modified", ox.Literal(modified, datatype=_n(XSD + "dateTime"))))
    for example in examples:
        out.append(_t(dataset, VOID + "exampleResource", _n(example)))
    for cls, count in classes:
        partition = ox.BlankNode()
        out += [
            _t(dataset, VOID + "classPartition", partition),
            _t(partition, VOID + "class", _n(cls)),
            _t(partition, VOID + "entities", ox.Literal(str(count), datatype=_n(XSD + "integer"))),
        ]
    return out


def jsonld_context() -> dict[str, Any]:
    """The JSON-LD context for Weblab's vocabulary, served at a stable URL (``/ns/context.jsonld``)."""
    return {
        "@context": {
            "@version": 1.1,
            "weblab": WEBLAB,
            "dcterms": DCTERMS,
            "prov": "http://www.w3.org/ns/prov#",
            "xsd": XSD,
            "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
            "oxmeta": OXMETA,
            "id": "@id",
            "type": "@type",
            "title": {"@id": "dcterms:title"},
            "description": {"@id": "dcterms:description"},
            "created": {"@id": "dcterms:created", "@type": "xsd:dateTime"},
            "creator": {"@id": "dcterms:creator", "@type": "@id"},
            "hasVersion": {"@id": "dcterms:hasVersion", "@type": "@id"},
            "isVersionOf": {"@id": "dcterms:isVersionOf", "@type": "@id"},
            "wasRevisionOf": {"@id": "prov:wasRevisionOf", "@type": "@id"},
            "owner": {"@id": "weblab:owner", "@type": "@id"},
            "visibility": {"@id": "weblab:visibility", "@type": "@id"},
            "commit": {"@id": "weblab:commit"},
            "mainFile": {"@id": "weblab:mainFile"},
            "tag": {"@id": "weblab:tag"},
            "protocol": {"@id": "weblab:protocol", "@type": "@id"},
            "Model": "weblab:Model",
            "ModelVersion": "weblab:ModelVersion",
            "Protocol": "weblab:Protocol",
            "ProtocolVersion": "weblab:ProtocolVersion",
            "Dataset": "weblab:Dataset",
            "DatasetVersion": "weblab:DatasetVersion",
            "Experiment": "weblab:Experiment",
            "Run": "weblab:Run",
        }
    }
