"""The IRIs the annotation and compatibility code writes and queries, in one place.

Every module in ``ontology/`` names terms through these constants so that the
Python code, the Turtle vocabulary (``annotations.ttl``), the SHACL shapes
(``shapes.ttl``) and the SPARQL queries cannot drift apart.
"""

from __future__ import annotations

import pyoxigraph as ox

from worker.fc.ontology import OXMETA  # the engine owns the ontology it expands terms with

WEBLAB = "https://w3id.org/weblab/ns#"
BQBIOL = "http://biomodels.net/biology-qualifiers/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
XSD = "http://www.w3.org/2001/XMLSchema#"
DCTERMS = "http://purl.org/dc/terms/"
PROV = "http://www.w3.org/ns/prov#"
SH = "http://www.w3.org/ns/shacl#"
CELLML_NS = {
    "http://www.cellml.org/cellml/1.0#": "1.0",
    "http://www.cellml.org/cellml/1.1#": "1.1",
    "http://www.cellml.org/cellml/2.0#": "2.0",
}
CMETA = "http://www.cellml.org/metadata/1.0#"
MATHML = "http://www.w3.org/1998/Math/MathML"

PREFIXES = (
    f"PREFIX oxmeta: <{OXMETA}>\nPREFIX weblab: <{WEBLAB}>\nPREFIX bqbiol: <{BQBIOL}>\n"
    f"PREFIX rdf: <{RDF}>\nPREFIX rdfs: <{RDFS}>\nPREFIX xsd: <{XSD}>\nPREFIX dcterms: <{DCTERMS}>\n"
    f"PREFIX prov: <{PROV}>\n"
)


def oxmeta(name: str) -> ox.NamedNode:
    return ox.NamedNode(OXMETA + name)


def weblab(name: str) -> ox.NamedNode:
    return ox.NamedNode(WEBLAB + name)


RDF_TYPE = ox.NamedNode(RDF + "type")
RDFS_LABEL = ox.NamedNode(RDFS + "label")
RDFS_SUBCLASS_OF = ox.NamedNode(RDFS + "subClassOf")
BQBIOL_IS = ox.NamedNode(BQBIOL + "is")
BQBIOL_IS_VERSION_OF = ox.NamedNode(BQBIOL + "isVersionOf")
DCTERMS_DESCRIPTION = ox.NamedNode(DCTERMS + "description")
STATE_VARIABLE = oxmeta("state_variable")

# Model versions
HAS_VARIABLE = weblab("hasVariable")
MODEL_VARIABLE = weblab("ModelVariable")
COMPONENT = weblab("component")
VARIABLE_NAME = weblab("variableName")
UNITS = weblab("units")
INITIAL_VALUE = weblab("initialValue")
IS_STATE = weblab("isStateVariable")
CMETA_ID = weblab("cmetaId")
ANNOTATED_WITH = weblab("annotatedWith")
CELLML_VERSION = weblab("cellmlVersion")
WARNING = weblab("warning")

# Protocol versions
REQUIRES_TERM = weblab("requiresTerm")
READABLE_INTERFACE = weblab("ReadableInterface")  # required by a protocol whose interface was not read
OPTIONAL_TERM = weblab("optionalTerm")
UNKNOWN_TERM = weblab("unknownTerm")
HAS_INPUT = weblab("hasInput")
HAS_OUTPUT = weblab("hasOutput")
PROTOCOL_INPUT = weblab("ProtocolInput")
PROTOCOL_OUTPUT = weblab("ProtocolOutput")
NAME = weblab("name")
DEFAULT_VALUE = weblab("defaultValue")
IS_OPTIONAL = weblab("isOptional")
HAS_INTERFACE = weblab("hasInterface")

# Ontology graphs
SOURCE_DIGEST = weblab("sourceDigest")
SOURCE_FILE = weblab("sourceFile")
ONTOLOGY_GRAPH = weblab("OntologyGraph")
