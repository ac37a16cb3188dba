"""What a new entity version says about itself as RDF: model annotations, protocol interfaces.

Called by resolvers/entities.py when a version is added, before anything is
committed, so that a version whose metadata breaks a SHACL shape is refused
whole. This is where the functional-curation engine (for protocol interfaces)
and the ontology code meet; ``ontology/`` itself imports neither.

A problem with the content (malformed RDF in a CellML file, a protocol the
engine cannot read) never refuses the version: it is stored with what could be
read, and the problem becomes a ``weblab:warning`` on the version (in the
triples) and an entry in ``Description.warnings``.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pyoxigraph as ox

from ontology import vocab
from ontology.cellml import annotation_triples, read_annotations
from ontology.graphs import known_terms
from ontology.protocols import InterfaceError, interface_triples, normalise_interface, unknown_terms
from ontology.shacl import violations

log = logging.getLogger(__name__)


@dataclass
class Description:
    triples: list[ox.Triple] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def describe_version(kind: str, files: dict[str, bytes], main: str, version_uri: str) -> Description:
    """Triples to add to the version's graph for its content (annotations or interface).

    ``kind`` is ``"model"``, ``"protocol"`` or ``"dataset"``; ``files`` maps paths (as in
    the version's repository) to content; ``main`` is the main file's path.
    """
    kind = str(kind)
    if kind == "model":
        return describe_model(files, main, version_uri)
    if kind == "protocol":
        return describe_protocol(files, main, version_uri)
    return Description()


def describe_model(files: dict[str, bytes], main: str, version_uri: str) -> Description:
    if main not in files:
        return _warned(version_uri, f"the main file {main!r} is not among the version's files; no annotations read")
    ann = read_annotations(files[main], source=main)
    return Description(annotation_triples(ann, version_uri), list(ann.warnings))


def describe_protocol(files: dict[str, bytes], main: str, version_uri: str,
                      interface: Any | None = None) -> Description:
    """The interface's RDF; ``interface`` (engine object or dict) skips the engine, for callers that have it."""
    if interface is None:
        if main not in files:
            return _warned(version_uri, f"the main file {main!r} is not among the version's files; no interface read")
        try:
            interface = _engine_interface(files, main)
        except _EngineUnavailable as exc:
            log.warning("protocol interface of %s not recorded: %s", version_uri, exc)
            return _warned(version_uri, f"the protocol interface was not recorded: {exc}")
        except _ProtocolUnreadable as exc:
            return _warned(version_uri, f"{main}: the protocol could not be read ({exc}); no interface recorded")
        except Exception as exc:  # noqa: BLE001 - any other failure is the protocol's problem, not a crash
            return _warned(version_uri, f"{main}: the protocol could not be read ({type(exc).__name__}: {exc}); no interface recorded")
    try:
        iface = normalise_interface(interface)
    except InterfaceError as exc:
        return _warned(version_uri, f"{main}: {exc}")
    known = set(known_terms())
    warnings = [f"{main}: term <{t}> is not defined by any loaded ontology (kept)" for t in unknown_terms(iface, known)]
    triples = interface_triples(iface, version_uri, known)
    triples += [ox.Triple(ox.NamedNode(version_uri), vocab.WARNING, ox.Literal(w)) for w in warnings]
    return Description(triples, warnings)


class _EngineUnavailable(RuntimeError):
    pass


class _ProtocolUnreadable(RuntimeError):
    """The engine could not load the protocol; the message names files relative to the version."""


def _engine_interface(files: dict[str, bytes], main: str) -> Any:
    """Parse the protocol with the engine, from a private copy of the version's files (imports are relative)."""
    try:
        from worker import fc
        load_protocol = fc.load_protocol
    except (ImportError, AttributeError) as exc:
        raise _EngineUnavailable(f"the functional-curation engine cannot load protocols yet ({exc})") from None
    with tempfile.TemporaryDirectory(prefix="weblab-describe-") as tmp:
        root = Path(tmp)
        for name, data in files.items():
            path = PurePosixPath(name)
            if path.is_absolute() or ".." in path.parts:
                raise ValueError(f"file path {name!r} leaves the version's folder")
            target = root.joinpath(*path.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        try:
            return load_protocol(root.joinpath(*PurePosixPath(main).parts)).interface()
        except Exception as exc:  # noqa: BLE001 - reported below without the private temporary path
            message = str(exc).replace(str(root) + "/", "")
            raise _ProtocolUnreadable(f"{type(exc).__name__}: {message}") from None


def _warned(version_uri: str, message: str) -> Description:
    return Description([ox.Triple(ox.NamedNode(version_uri), vocab.WARNING, ox.Literal(message))], [message])


def validate_version_graph(triples: list[ox.Triple]) -> list[str]:
    """SHACL violations of a version graph, as messages; empty when it conforms."""
    return violations(triples)


# Predicates describe_version writes on the version itself; the nodes behind the last three are its own too.
_OWN_PREDICATES = (vocab.ANNOTATED_WITH, vocab.CELLML_VERSION, vocab.WARNING, vocab.REQUIRES_TERM,
                   vocab.OPTIONAL_TERM, vocab.UNKNOWN_TERM, vocab.HAS_VARIABLE, vocab.HAS_INPUT, vocab.HAS_OUTPUT)
_OWN_NODES = (vocab.HAS_VARIABLE, vocab.HAS_INPUT, vocab.HAS_OUTPUT)


def redescribe_version(store: Any, kind: str, files: dict[str, bytes], main: str, version_uri: str) -> Description:
    """Replace what an earlier ``describe_version`` wrote in a stored version graph with a fresh description.

    For versions described before the engine could read protocols, or before a reader improved. The
    version's own metadata is kept; the new graph is validated before anything changes, and a graph that
    would break a shape is left as it was (the violations are returned as warnings).
    ``store`` is a ``sparql.store.TripleStore``.
    """
    graph = version = ox.NamedNode(version_uri)
    raw = store.oxigraph
    old: list[ox.Quad] = []
    for predicate in _OWN_PREDICATES:
        for quad in raw.quads_for_pattern(version, predicate, None, graph):
            old.append(quad)
            if predicate in _OWN_NODES:
                old.extend(raw.quads_for_pattern(quad.object, None, None, graph))
    stale = set(old)
    kept = [ox.Triple(q.subject, q.predicate, q.object) for q in raw.quads_for_pattern(None, None, None, graph)
            if q not in stale]
    description = describe_version(kind, files, main, version_uri)
    problems = validate_version_graph(kept + description.triples)
    if problems:
        return Description([], [f"the new description was not stored: {p}" for p in problems])
    store.replace_graph(graph, kept + description.triples)
    return description
