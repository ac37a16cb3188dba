"""Load a CellML model with myokit and find its variables by ontology term.

myokit's importer keeps only the first ``bqbiol:is`` oxmeta annotation from
model-level ``rdf:RDF`` blocks, so this module reads every ``rdf:RDF`` element
in the document itself (wherever it sits: under ``<model>`` or nested inside a
``<variable>``), merges them into one rdflib graph and maps each annotated
``cmeta:id`` to the myokit variable that holds its value.

A variable is annotated with a term when the RDF says ``bqbiol:is`` or
``bqbiol:isVersionOf`` that term (any namespace). Category terms such as
``oxmeta:ExtracellularConcentration`` are resolved through the ``rdf:type``
links of the oxmeta ontology (the original engine's "transitive
variables"); ``oxmeta:state_variable`` is implicit and means every state.

The model is identified by the SHA-256 of its bytes, which the compiled
simulation cache uses as part of its key.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import myokit
import myokit.formats.cellml as cellml
import myokit.formats.cellml.v1 as cellml_v1
import myokit.formats.cellml.v2 as cellml_v2
import rdflib
from lxml import etree

from .ontology import STATE_VARIABLE, category_members

BQBIOL = "http://biomodels.net/biology-qualifiers/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"

_BQBIOL_IS = rdflib.URIRef(BQBIOL + "is")
_BQBIOL_IS_VERSION_OF = rdflib.URIRef(BQBIOL + "isVersionOf")
_BASE = "urn:weblab:model"

# A parser that never fetches anything and never expands entities: model files
# come from users.
_SAFE_PARSER_OPTIONS = {
    "remove_comments": True,
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "huge_tree": False,
}


class ModelError(Exception):
    """The file is not a CellML model that myokit can load; the message says why and where."""

    def __init__(self, message: str, path: str | os.PathLike[str]) -> None:
        super().__init__(f"{path}: {message}")
        self.path = str(path)


@dataclass
class AnnotatedModel:
    """A myokit model plus its ontology annotations.

    ``model`` is the pristine import and must not be modified: the model
    interface works on ``model.clone()``. Annotations are kept as qualified
    myokit names (``component.variable``) so that they apply to any clone.
    """

    path: Path
    model: myokit.Model
    content_hash: str
    # term IRI -> qualified names, in document order (bqbiol:is and isVersionOf together)
    annotations: dict[str, list[str]] = field(default_factory=dict)
    # qualified name -> term IRIs (the inverse of ``annotations``)
    terms_of: dict[str, list[str]] = field(default_factory=dict)

    def used_terms(self) -> set[str]:
        """Every term the model annotates directly, plus the implicit ``state_variable``."""
        return set(self.annotations) | {STATE_VARIABLE}

    def has_term(self, term: str) -> bool:
        """Whether ``term`` (a full IRI) names at least one variable, directly or as a category."""
        return bool(self.qnames_for(term))

    def qnames_for(self, term: str, model: myokit.Model | None = None) -> list[str]:
        """Qualified names of the variables that ``term`` stands for.

        ``model`` (a clone, default the pristine one) supplies the states for
        ``oxmeta:state_variable``. Category terms expand to every variable
        annotated with a member of the category, sorted by qualified name so
        the order does not depend on the RDF's.
        """
        if term == STATE_VARIABLE:
            m = model if model is not None else self.model
            return [v.qname() for v in m.states()]
        direct = self.annotations.get(term)
        if direct:
            return list(direct)
        members = category_members(term)
        found: list[str] = []
        for member in members:
            for qname in self.annotations.get(member, []):
                if qname not in found:
                    found.append(qname)
        return sorted(found)

    def variable(self, term: str, model: myokit.Model | None = None) -> myokit.Variable | None:
        """The single variable annotated with ``term`` (the first, if several), or None."""
        qnames = self.qnames_for(term, model)
        if not qnames:
            return None
        m = model if model is not None else self.model
        return m.get(qnames[0])


def load_model(path: str | os.PathLike[str]) -> AnnotatedModel:
    """Load a CellML 1.0/1.1/2.0 file and read all its annotations.

    Raises ModelError with the file and reason when the file is not readable
    XML, not CellML, or not valid CellML by myokit's rules.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ModelError(f"cannot read model file: {e.strerror}", path) from e
    return _load_model_bytes(data, path)


@lru_cache(maxsize=16)
def _cached_load(path: str, content_hash: str, data: bytes) -> AnnotatedModel:
    return _parse(data, Path(path), content_hash)


def _load_model_bytes(data: bytes, path: Path) -> AnnotatedModel:
    content_hash = hashlib.sha256(data).hexdigest()
    return _cached_load(str(path), content_hash, data)


def _parse(data: bytes, path: Path, content_hash: str) -> AnnotatedModel:
    parser = etree.XMLParser(**_SAFE_PARSER_OPTIONS)
    try:
        root = etree.fromstring(data, parser=parser, base_url=str(path))
    except etree.XMLSyntaxError as e:
        raise ModelError(f"not well-formed XML (line {e.lineno}): {e.msg}", path) from e

    namespace = etree.QName(root).namespace
    parsers = {
        cellml.NS_CELLML_1_0: cellml_v1.CellMLParser,
        cellml.NS_CELLML_1_1: cellml_v1.CellMLParser,
        cellml.NS_CELLML_2_0: cellml_v2.CellMLParser,
    }
    if namespace not in parsers:
        raise ModelError(f"not a CellML document (root element namespace {namespace!r})", path)
    try:
        cellml_model = parsers[namespace]().parse(root)
        cellml_model.validate()
        model = cellml_model.myokit_model()
    except (cellml_v1.CellMLParsingError, cellml_v2.CellMLParsingError) as e:
        raise ModelError(f"invalid CellML: {e}", path) from e
    except (cellml_v1.CellMLError, cellml_v2.CellMLError, myokit.MyokitError) as e:
        raise ModelError(f"myokit cannot use this model: {e}", path) from e

    graph = _rdf_graph(root)
    cmeta_map = _cmeta_to_qname(cellml_model, model)
    annotations: dict[str, list[str]] = {}
    terms_of: dict[str, list[str]] = {}
    for predicate in (_BQBIOL_IS, _BQBIOL_IS_VERSION_OF):
        for subject, obj in graph.subject_objects(predicate):
            if not isinstance(obj, rdflib.URIRef):
                continue
            cmeta_id = _cmeta_id_of(subject)
            qname = cmeta_map.get(cmeta_id) if cmeta_id else None
            if qname is None:
                continue
            term = str(obj)
            annotations.setdefault(term, [])
            if qname not in annotations[term]:
                annotations[term].append(qname)
            terms_of.setdefault(qname, [])
            if term not in terms_of[qname]:
                terms_of[qname].append(term)

    # Document order, so that "the first variable" is well defined.
    order = {q: i for i, q in enumerate(cmeta_map.values())}
    for qnames in annotations.values():
        qnames.sort(key=lambda q: order.get(q, len(order)))
    return AnnotatedModel(path, model, content_hash, annotations, terms_of)


def _rdf_graph(root: etree._Element) -> rdflib.Graph:
    """Merge every rdf:RDF element of the document into one graph."""
    merged = etree.Element(f"{{{RDF_NS}}}RDF", nsmap={"rdf": RDF_NS})
    for block in root.iter(f"{{{RDF_NS}}}RDF"):
        for child in block:
            if isinstance(child.tag, str):
                merged.append(_copy(child))
    graph = rdflib.Graph()
    if len(merged):
        graph.parse(data=etree.tostring(merged), format="xml", publicID=_BASE)
    return graph


def _copy(element: etree._Element) -> etree._Element:
    # Serialising and re-parsing keeps the namespace declarations the element
    # inherits from its ancestors.
    return etree.fromstring(etree.tostring(element), parser=etree.XMLParser(**_SAFE_PARSER_OPTIONS))


def _cmeta_id_of(subject: rdflib.term.Node) -> str | None:
    text = str(subject)
    if "#" not in text:
        return None
    return text.rsplit("#", 1)[1] or None


def _cmeta_to_qname(cellml_model: object, model: myokit.Model) -> dict[str, str]:
    """Map each variable's cmeta:id to the myokit variable that holds its value.

    A CellML variable with ``public_interface="in"`` has no equation of its
    own; myokit either replaces it by its source or (when units differ) keeps
    a converted local copy. Either way the qualified name below exists in the
    myokit model.
    """
    mapping: dict[str, str] = {}
    for component in cellml_model:  # type: ignore[attr-defined]
        for variable in component:
            cmeta_id = variable.cmeta_id()
            if not cmeta_id:
                continue
            qname = f"{component.name()}.{variable.name()}"
            if not model.has_variable(qname):
                source = variable.value_source()
                qname = f"{source.component().name()}.{source.name()}"
            if model.has_variable(qname):
                mapping[cmeta_id] = qname
    return mapping
