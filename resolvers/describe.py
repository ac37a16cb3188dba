"""What a new entity version says about itself as RDF: model annotations, protocol interfaces.

Called by resolvers/entities.py when a version is added, before anything is
committed, so that a version whose metadata breaks a SHACL shape is refused
whole. This is where the functional-curation engine (for protocol interfaces)
and the ontology code meet; ``ontology/`` itself imports neither.

A problem with the content (malformed RDF in a CellML file, a protocol the
engine cannot read) never refuses the version: it is stored with what could be
read, and the problem becomes a ``weblab:warning`` on the version (in the
triples) and an entry in ``Description.warnings``.

Protocol text is untrusted, and reading a protocol's interface means parsing
it and evaluating its input defaults, which could loop or allocate without
bound.  So the engine reads it in a child process (``_InterfaceReaders``: a
few spawned processes, reused across calls), under a memory cap
(``INTERFACE_MEMORY_BYTES``, ``RLIMIT_AS``) and a time limit
(``INTERFACE_TIMEOUT_S``); the child answers plain data.  A child that runs
out of time is killed and replaced, and the version gets the warning
"protocol interface could not be read: ...", never a hung request.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import tempfile
import threading
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path, PurePosixPath
from typing import Any

import pyoxigraph as ox

from ontology import vocab
from ontology.cellml import annotation_triples, read_annotations
from ontology.graphs import known_terms
from ontology.protocols import InterfaceError, interface_triples, normalise_interface, unknown_terms
from ontology.shacl import violations

log = logging.getLogger(__name__)

INTERFACE_TIMEOUT_S = 20.0  # wall time allowed for reading one protocol's interface
INTERFACE_MEMORY_BYTES = 1 << 30  # address space of the reading process (the engine itself needs ~200 MiB)
INTERFACE_READERS = 2  # child processes kept for reading interfaces


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
        return _warned(
            version_uri, f"the main file {main!r} is not among the version's files; no annotations read"
        )
    ann = read_annotations(files[main], source=main)
    return Description(annotation_triples(ann, version_uri), list(ann.warnings))


def describe_protocol(
    files: dict[str, bytes], main: str, version_uri: str, interface: Any | None = None
) -> Description:
    """The interface's RDF; ``interface`` (engine object or dict) skips the engine, for callers that have it."""
    if interface is None:
        if main not in files:
            return _warned(
                version_uri, f"the main file {main!r} is not among the version's files; no interface read"
            )
        try:
            interface = _engine_interface(files, main)
        except _EngineUnavailable as exc:
            log.warning("protocol interface of %s not recorded: %s", version_uri, exc)
            return _warned(version_uri, f"the protocol interface was not recorded: {exc}")
        except _ProtocolUnreadable as exc:
            return _warned(
                version_uri, f"{main}: the protocol could not be read ({exc}); no interface recorded"
            )
        except _ReaderFailed as exc:
            log.warning("protocol interface of %s not read: %s", version_uri, exc)
            return _warned(version_uri, f"{main}: protocol interface could not be read: {exc}")
        except Exception as exc:  # noqa: BLE001 - any other failure is the protocol's problem, not a crash
            return _warned(
                version_uri,
                f"{main}: the protocol could not be read ({type(exc).__name__}: {exc}); no interface recorded",
            )
    try:
        iface = normalise_interface(interface)
    except InterfaceError as exc:
        return _warned(version_uri, f"{main}: {exc}")
    known = set(known_terms())
    warnings = [
        f"{main}: term <{t}> is not defined by any loaded ontology (kept)"
        for t in unknown_terms(iface, known)
    ]
    triples = interface_triples(iface, version_uri, known)
    triples += [ox.Triple(ox.NamedNode(version_uri), vocab.WARNING, ox.Literal(w)) for w in warnings]
    return Description(triples, warnings)


class _EngineUnavailable(RuntimeError):
    pass


class _ProtocolUnreadable(RuntimeError):
    """The engine could not load the protocol; the message names files relative to the version."""


class _ReaderFailed(RuntimeError):
    """The child reading the interface ran out of time or memory, or died."""


def _engine_interface(files: dict[str, bytes], main: str) -> dict[str, Any]:
    """The protocol's interface as plain data, read by the engine in a child process."""
    for name in files:
        path = PurePosixPath(name)
        if path.is_absolute() or ".." in path.parts:
            raise ValueError(f"file path {name!r} leaves the version's folder")
    answer = _READERS.read(files, main, INTERFACE_TIMEOUT_S)
    if "interface" in answer:
        return dict(answer["interface"])
    if "unavailable" in answer:
        raise _EngineUnavailable(answer["unavailable"])
    if "memory" in answer:
        raise _ReaderFailed(
            f"it needs more than {INTERFACE_MEMORY_BYTES >> 20} MiB of memory ({answer['memory']})"
        )
    raise _ProtocolUnreadable(answer["error"])


# -- the child side ---------------------------------------------------------------------------------


def _serve(conn: Connection, memory_bytes: int) -> None:
    """Child process: answer ``(files, main)`` requests with ``{"interface": ...}`` or an error, until EOF."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    while True:
        try:
            files, main = conn.recv()
        except (EOFError, OSError):
            return
        answer = _read_in_child(files, main)
        conn.send(answer)
        if "memory" in answer:
            return  # a process that ran out of memory is not trusted with the next protocol


def _read_in_child(files: dict[str, bytes], main: str) -> dict[str, Any]:
    """Parse the protocol from a private copy of the version's files (imports are relative to it)."""
    try:
        from worker import fc

        load_protocol = fc.load_protocol
    except (ImportError, AttributeError) as exc:
        return {"unavailable": f"the functional-curation engine cannot load protocols yet ({exc})"}
    with tempfile.TemporaryDirectory(prefix="weblab-describe-") as tmp:
        root = Path(tmp)
        try:
            for name, data in files.items():
                target = root.joinpath(*PurePosixPath(name).parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            interface = load_protocol(root.joinpath(*PurePosixPath(main).parts), root=root).interface()
            return {"interface": interface.to_json()}
        except MemoryError as exc:
            return {"memory": f"{type(exc).__name__}: {exc}"}
        except RecursionError:
            return {"error": "RecursionError: the protocol nests too deeply"}
        except Exception as exc:  # noqa: BLE001 - reported without the private temporary path
            message = str(exc).replace(str(root) + "/", "")
            return {"error": f"{type(exc).__name__}: {message}"}


# -- the parent side --------------------------------------------------------------------------------


class _Reader:
    """One spawned child process that reads interfaces, one request at a time."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child_conn = context.Pipe()
        self.process = context.Process(
            target=_serve,
            args=(child_conn, INTERFACE_MEMORY_BYTES),
            name="weblab-protocol-interface",
            daemon=True,
        )
        self.process.start()
        child_conn.close()

    def ask(self, request: tuple[dict[str, bytes], str], timeout: float) -> dict[str, Any]:
        try:
            self.conn.send(request)
            if not self.conn.poll(timeout):
                raise _ReaderFailed(f"reading it took longer than {timeout:g} s, so it was stopped")
            return dict(self.conn.recv())
        except (EOFError, OSError, BrokenPipeError):
            self.process.join(1)
            code = self.process.exitcode
            raise _ReaderFailed(
                f"the process reading it stopped (exit code {code}; memory limit {INTERFACE_MEMORY_BYTES >> 20} MiB)"
            ) from None

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def close(self) -> None:
        self.process.kill()
        self.process.join()
        self.conn.close()


class _InterfaceReaders:
    """A few ``_Reader`` children, reused across calls (the importer describes every protocol at first start)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.idle: queue.LifoQueue[_Reader] = queue.LifoQueue()
        self.started = 0
        self.lock = threading.Lock()

    def _take(self) -> _Reader:
        while True:
            reader: _Reader | None
            with self.lock:
                try:
                    reader = self.idle.get_nowait()
                except queue.Empty:
                    if self.started < self.size:
                        self.started += 1
                        try:
                            return _Reader()
                        except BaseException:
                            self.started -= 1
                            raise
                    reader = None
            if reader is None:
                try:  # all busy: wait for one (re-checking, as a busy one may be discarded instead)
                    reader = self.idle.get(timeout=0.5)
                except queue.Empty:
                    continue
            if reader.alive:
                return reader
            self._discard(reader)  # died while idle: start another

    def _discard(self, reader: _Reader) -> None:
        reader.close()
        with self.lock:
            self.started -= 1

    def read(self, files: dict[str, bytes], main: str, timeout: float) -> dict[str, Any]:
        """The child's answer for one protocol; ``_ReaderFailed`` on a timeout or a dead child."""
        reader = self._take()
        try:
            answer = reader.ask((files, main), timeout)
        except BaseException:
            self._discard(reader)  # it may still be looping, or half-way through a message
            raise
        if "memory" in answer or not reader.alive:
            self._discard(reader)
        else:
            self.idle.put(reader)
        return answer

    def close(self) -> None:
        """Stop every idle child (tests; children also stop when this process exits)."""
        while True:
            try:
                reader = self.idle.get_nowait()
            except queue.Empty:
                return
            self._discard(reader)


_READERS = _InterfaceReaders(INTERFACE_READERS)


def _warned(version_uri: str, message: str) -> Description:
    return Description([ox.Triple(ox.NamedNode(version_uri), vocab.WARNING, ox.Literal(message))], [message])


def validate_version_graph(triples: list[ox.Triple]) -> list[str]:
    """SHACL violations of a version graph, as messages; empty when it conforms."""
    return violations(triples)


# Predicates describe_version writes on the version itself; the nodes behind the last three are its own too.
_OWN_PREDICATES = (
    vocab.ANNOTATED_WITH,
    vocab.CELLML_VERSION,
    vocab.WARNING,
    vocab.REQUIRES_TERM,
    vocab.OPTIONAL_TERM,
    vocab.UNKNOWN_TERM,
    vocab.HAS_VARIABLE,
    vocab.HAS_INPUT,
    vocab.HAS_OUTPUT,
)
_OWN_NODES = (vocab.HAS_VARIABLE, vocab.HAS_INPUT, vocab.HAS_OUTPUT)


def redescribe_version(
    store: Any, kind: str, files: dict[str, bytes], main: str, version_uri: str
) -> Description:
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
    kept = [
        ox.Triple(q.subject, q.predicate, q.object)
        for q in raw.quads_for_pattern(None, None, None, graph)
        if q not in stale
    ]
    description = describe_version(kind, files, main, version_uri)
    problems = validate_version_graph(kept + description.triples)
    if problems:
        return Description([], [f"the new description was not stored: {p}" for p in problems])
    store.replace_graph(graph, kept + description.triples)
    return description
