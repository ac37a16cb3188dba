"""Every annotation of a CellML file, read without trusting the file.

The Web Lab's models annotate variables with ontology terms in RDF/XML blocks
(``rdf:RDF``) that sit either at model level or inside each ``<variable>``;
myokit reads only the first kind, and only the first ``bqbiol:is`` of each
variable. This reader finds every block wherever it is, so that a model's
annotations are known as data before anything runs.

It never raises on a bad file: the XML is parsed with defusedxml (no DTD at
all, no entity expansion), each RDF block is parsed on its own with rdflib,
and a block that cannot be read becomes a warning while the others are kept.

>>> doc = b'''<model xmlns="http://www.cellml.org/cellml/1.0#" name="m"
...   xmlns:cmeta="http://www.cellml.org/metadata/1.0#">
...  <component name="membrane">
...   <variable name="V" units="millivolt" initial_value="-80" cmeta:id="v">
...    <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
...             xmlns:bqbiol="http://biomodels.net/biology-qualifiers/">
...     <rdf:Description rdf:about="#v">
...      <bqbiol:is rdf:resource="https://chaste.comlab.ox.ac.uk/cellml/ns/oxford-metadata#membrane_voltage"/>
...     </rdf:Description>
...    </rdf:RDF>
...   </variable>
...  </component>
... </model>'''
>>> ann = read_annotations(doc)
>>> [(v.component, v.name, v.units, v.initial_value) for v in ann.variables]
[('membrane', 'V', 'millivolt', '-80')]
>>> sorted(t.rsplit('#', 1)[1] for t in ann.terms())
['membrane_voltage']
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import quote

import defusedxml.ElementTree as DET
import pyoxigraph as ox
import rdflib
from defusedxml import DefusedXmlException

from ontology import vocab as v

_RDF_BLOCK = f"{{{v.RDF}}}RDF"
_CMETA_ID = f"{{{v.CMETA}}}id"
_MATH = f"{{{v.MATHML}}}math"
_APPLY = f"{{{v.MATHML}}}apply"
_DIFF = f"{{{v.MATHML}}}diff"
_CI = f"{{{v.MATHML}}}ci"
# The base the RDF blocks are read against, so that ``rdf:about="#id"`` names cmeta:id ``id``.
_DOC_BASE = "https://weblab.invalid/model.cellml"
# Predicates that annotate a variable with a term (the forms weblab-fc accepts, plus rdf:type).
ANNOTATION_PREDICATES = frozenset({v.BQBIOL + "is", v.BQBIOL + "isVersionOf", v.RDF + "type"})


@dataclass(frozen=True)
class Annotation:
    predicate: str
    term: str


@dataclass
class Variable:
    """A CellML variable that carries at least one term (explicit, or implicit as a state)."""

    component: str
    name: str
    units: str | None = None
    initial_value: str | None = None
    cmeta_id: str | None = None
    is_state: bool = False
    annotations: list[Annotation] = field(default_factory=list)

    def terms(self) -> set[str]:
        terms = {a.term for a in self.annotations}
        if self.is_state:
            terms.add(v.OXMETA + "state_variable")
        return terms


@dataclass
class ModelAnnotations:
    cellml_version: str | None = None
    variables: list[Variable] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def terms(self) -> set[str]:
        """Every term the model annotates, including ``oxmeta:state_variable`` when it has states."""
        out: set[str] = set()
        for var in self.variables:
            out |= var.terms()
        return out

    def by_term(self, term: str) -> list[Variable]:
        return [var for var in self.variables if term in var.terms()]


@dataclass
class _VariableInfo:
    component: str
    name: str
    units: str | None
    initial_value: str | None
    cmeta_id: str | None


def read_annotations(data: bytes, *, source: str = "model.cellml") -> ModelAnnotations:
    """The annotated and state variables of a CellML 1.0/1.1/2.0 document; problems become warnings."""
    result = ModelAnnotations()
    try:
        root = DET.fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        result.warnings.append(
            f"{source}: refused to read the XML ({type(exc).__name__}: {exc}); no annotations read"
        )
        return result
    except ET.ParseError as exc:
        result.warnings.append(f"{source}: not well-formed XML ({exc}); no annotations read")
        return result
    ns, _, local = root.tag[1:].partition("}") if root.tag.startswith("{") else ("", "", root.tag)
    if local != "model" or ns not in v.CELLML_NS:
        result.warnings.append(
            f"{source}: the root element is <{local}> in namespace '{ns}', not a CellML 1.0, 1.1 or 2.0 <model>; no annotations read"
        )
        return result
    result.cellml_version = v.CELLML_NS[ns]
    id_attr = "id" if result.cellml_version == "2.0" else _CMETA_ID

    infos: dict[tuple[str, str], _VariableInfo] = {}
    by_cmeta: dict[str, _VariableInfo] = {}
    other_ids: set[str] = set()
    states: set[tuple[str, str]] = set()
    for el in root.iter():
        if el.get(id_attr) is not None and el.tag != f"{{{ns}}}variable":
            other_ids.add(el.get(id_attr) or "")
    for comp in root.iter(f"{{{ns}}}component"):
        cname = comp.get("name") or ""
        for var in comp.iter(f"{{{ns}}}variable"):
            info = _VariableInfo(
                cname, var.get("name") or "", var.get("units"), var.get("initial_value"), var.get(id_attr)
            )
            infos[(cname, info.name)] = info
            if info.cmeta_id:
                if info.cmeta_id in by_cmeta:
                    result.warnings.append(
                        f"{source}: cmeta:id '{info.cmeta_id}' is used by more than one variable; the first is annotated"
                    )
                else:
                    by_cmeta[info.cmeta_id] = info
        for block in comp.iter(_MATH):
            for name in _ode_variables(block):
                states.add((cname, name))

    annotations: dict[tuple[str, str], list[Annotation]] = {}
    unresolved: set[str] = set()
    for graph in _rdf_graphs(root, ns, source, result.warnings):
        for s, p, o in graph:
            if str(p) not in ANNOTATION_PREDICATES or not isinstance(o, rdflib.URIRef):
                continue
            subject = str(s)
            if not subject.startswith(_DOC_BASE + "#"):
                continue
            target = subject[len(_DOC_BASE) + 1 :]
            info = by_cmeta.get(target)
            if info is None:
                if target not in other_ids:
                    unresolved.add(target)
                continue
            found = annotations.setdefault((info.component, info.name), [])
            ann = Annotation(str(p), str(o))
            if ann not in found:
                found.append(ann)
    if unresolved:
        names = ", ".join(sorted(unresolved)[:10]) + (" …" if len(unresolved) > 10 else "")
        result.warnings.append(
            f"{source}: {len(unresolved)} annotation target(s) name no element's cmeta:id: {names}"
        )

    for key, info in infos.items():
        anns = annotations.get(key, [])
        is_state = key in states
        if anns or is_state:
            result.variables.append(
                Variable(
                    info.component, info.name, info.units, info.initial_value, info.cmeta_id, is_state, anns
                )
            )
    return result


def _rdf_graphs(root: ET.Element, ns: str, source: str, warnings: list[str]) -> list[rdflib.Graph]:
    """The RDF of every rdf:RDF block: all blocks parsed as one document (fast), or, when that fails,
    each block on its own so that only the broken ones are lost (each becomes a warning)."""
    blocks = list(root.iter(_RDF_BLOCK))
    if not blocks:
        return []
    merged = ET.Element(_RDF_BLOCK)
    for block in blocks:
        merged.extend(list(block))
    try:
        return [_parse_rdf(merged)]
    except Exception:  # noqa: BLE001 - find out which block is broken, below
        pass
    graphs = []
    for index, block in enumerate(blocks, start=1):
        try:
            graphs.append(_parse_rdf(block))
        except Exception as exc:  # noqa: BLE001 - any failure of one block must not lose the others
            warnings.append(
                f"{source}: RDF block {index}{_where(block, root, ns)} could not be read "
                f"({type(exc).__name__}: {exc}); it was skipped"
            )
    return graphs


def _parse_rdf(block: ET.Element) -> rdflib.Graph:
    # No default prefix bindings: building them costs more than parsing a small block.
    graph = rdflib.Graph(bind_namespaces="none")
    graph.parse(data=ET.tostring(block), format="xml", publicID=_DOC_BASE)
    return graph


def _ode_variables(math: ET.Element) -> list[str]:
    """Names of the variables differentiated in ``<apply><diff/><bvar>…</bvar><ci>x</ci></apply>``."""
    names = []
    for apply in math.iter(_APPLY):
        children = list(apply)
        if children and children[0].tag == _DIFF:
            for child in children[1:]:
                if child.tag == _CI and child.text:
                    names.append(child.text.strip())
    return names


def _where(block: ET.Element, root: ET.Element, ns: str) -> str:
    """' (inside variable c.x)' for a block nested in a variable, '' at model level: helps the owner find it."""
    for comp in root.iter(f"{{{ns}}}component"):
        for var in comp.iter(f"{{{ns}}}variable"):
            if any(child is block for child in var):
                return f" (inside variable {comp.get('name')}.{var.get('name')})"
    return ""


def variable_uri(version_uri: str, component: str, name: str) -> str:
    """The IRI of a variable of a model version: a fragment of the version's URI."""
    return f"{version_uri}#{quote(component, safe='_-')}.{quote(name, safe='_-')}"


def annotation_triples(ann: ModelAnnotations, version_uri: str) -> list[ox.Triple]:
    """The RDF of a model version's annotations, to add to the version's graph."""
    version = ox.NamedNode(version_uri)
    triples: list[ox.Triple] = []
    if ann.cellml_version:
        triples.append(ox.Triple(version, v.CELLML_VERSION, ox.Literal(ann.cellml_version)))
    for message in ann.warnings:
        triples.append(ox.Triple(version, v.WARNING, ox.Literal(message)))
    for term in sorted(ann.terms()):
        triples.append(ox.Triple(version, v.ANNOTATED_WITH, ox.NamedNode(term)))
    for var in ann.variables:
        node = ox.NamedNode(variable_uri(version_uri, var.component, var.name))
        triples += [
            ox.Triple(version, v.HAS_VARIABLE, node),
            ox.Triple(node, v.RDF_TYPE, v.MODEL_VARIABLE),
            ox.Triple(node, v.COMPONENT, ox.Literal(var.component)),
            ox.Triple(node, v.VARIABLE_NAME, ox.Literal(var.name)),
            ox.Triple(node, v.IS_STATE, ox.Literal(var.is_state)),
        ]
        if var.units:
            triples.append(ox.Triple(node, v.UNITS, ox.Literal(var.units)))
        if var.initial_value is not None:
            triples.append(ox.Triple(node, v.INITIAL_VALUE, _initial_value(var.initial_value)))
        if var.cmeta_id:
            triples.append(ox.Triple(node, v.CMETA_ID, ox.Literal(var.cmeta_id)))
        for a in var.annotations:
            triples.append(ox.Triple(node, ox.NamedNode(a.predicate), ox.NamedNode(a.term)))
        if var.is_state:
            triples.append(ox.Triple(node, v.BQBIOL_IS_VERSION_OF, v.STATE_VARIABLE))
    return triples


def _initial_value(text: str) -> ox.Literal:
    """A number as xsd:double; otherwise (CellML 1.1/2.0 may name a variable) the text as it is."""
    try:
        value = float(text)
    except ValueError:
        return ox.Literal(text.strip())
    if not math.isfinite(value):  # Python reads "nan" and "inf", which are not xsd:double lexical forms
        return ox.Literal(text.strip())
    return ox.Literal(text.strip(), datatype=ox.NamedNode(v.XSD + "double"))
