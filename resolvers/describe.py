"""What a new entity version says about itself as RDF: model annotations, protocol interfaces.

Called by resolvers/entities.py when a version is added, before anything is
committed, so that a version whose metadata breaks a SHACL shape is refused
whole. This is where the functional-curation engine (for protocol interfaces)
and the ontology code meet; ``ontology/`` itself imports neither.

A problem with the content (malformed RDF in a CellML file, a protocol the
engine cannot load) never refuses the version: it is stored with what could be
read, and the problem becomes a ``weblab:warning`` on the version (in the
triples) and an entry in ``Description.warnings``. The exception is a protocol
that does not parse (its main file, or a protocol of the version it imports or
nests): its interface would be empty, so it would "fit" every model and auto-run
would queue an experiment with each. That is a :class:`ProtocolSyntaxError`
(a 400 naming the file, line, column and what was expected), raised by
:func:`read_interface` before anything is written.

Protocol text is untrusted, and reading a protocol's interface means parsing
it and evaluating its input defaults, which could loop or allocate without
bound.  So the engine reads it in a child process (``_InterfaceReaders``: a
few :class:`worker.child.Child` processes, reused across calls, since the
engine's parser and library take far longer to build than a protocol takes to
read), under a memory cap (``INTERFACE_MEMORY_BYTES``, ``RLIMIT_AS``) and a
time limit (``INTERFACE_TIMEOUT_S``); the child answers plain data
(:mod:`worker.protocol_interface`).  A child that runs out of time is killed
(with anything it started) and replaced, and the version gets the warning
"protocol interface could not be read: ...", never a hung request.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import multiprocessing
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import pyoxigraph as ox

from ontology import vocab
from ontology.cellml import annotation_triples, read_annotations
from ontology.graphs import known_terms
from ontology.protocols import InterfaceError, interface_triples, normalise_interface, unknown_terms
from ontology.shacl import violations
from resolvers.errors import ValidationError
from worker import protocol_interface
from worker.child import Child

log = logging.getLogger(__name__)

INTERFACE_TIMEOUT_S = 20.0  # wall time allowed for reading one protocol's interface
INTERFACE_MEMORY_BYTES = 1 << 30  # address space of the reading process (the engine itself needs ~200 MiB)
INTERFACE_READERS = 2  # child processes kept for reading interfaces


@dataclass
class Description:
    triples: list[ox.Triple] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class ProtocolSyntaxError(ValidationError):
    """A protocol of the upload does not parse; ``field`` is its path in the version, with line, column and
    the tokens the parser expected (lark's), also as fields of the HTTP error."""

    def __init__(self, file: str, line: int, column: int, message: str, expected: str) -> None:
        super().__init__(file, f"the protocol does not parse: line {line}, column {column}: {message}")
        self.line, self.column, self.expected = line, column, expected

    def to_json(self) -> dict[str, Any]:
        body = super().to_json()
        body["error"].update(line=self.line, column=self.column, expected=self.expected)
        return body


@dataclass(frozen=True)
class Unread:
    """Why a protocol's interface could not be read; the version is stored with this as a warning."""

    warning: str


def describe_version(
    kind: str, files: dict[str, bytes], main: str, version_uri: str, *, interface: Any | None = None
) -> Description:
    """Triples to add to the version's graph for its content (annotations or interface).

    ``kind`` is ``"model"``, ``"protocol"`` or ``"dataset"``; ``files`` maps paths (as in
    the version's repository) to content; ``main`` is the main file's path; ``interface``
    (protocols) is what :func:`read_interface` answered, when the caller has it already.
    Raises :class:`ProtocolSyntaxError` for a protocol that does not parse.
    """
    kind = str(kind)
    if kind == "model":
        return describe_model(files, main, version_uri)
    if kind == "protocol":
        return describe_protocol(files, main, version_uri, interface)
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
    """The interface's RDF; ``interface`` (engine object, dict or :class:`Unread`) skips the engine, for callers
    that have it. Raises :class:`ProtocolSyntaxError` when the protocol does not parse."""
    if interface is None:
        interface = read_interface(files, main)
    if isinstance(interface, Unread):
        return _unreadable(version_uri, interface.warning)
    try:
        iface = normalise_interface(interface)
    except InterfaceError as exc:
        return _unreadable(version_uri, f"{main}: {exc}")
    known = set(known_terms())
    warnings = [
        f"{main}: term <{t}> is not defined by any loaded ontology (kept)"
        for t in unknown_terms(iface, known)
    ]
    triples = interface_triples(iface, version_uri, known)
    triples += [ox.Triple(ox.NamedNode(version_uri), vocab.WARNING, ox.Literal(w)) for w in warnings]
    return Description(triples, warnings)


class _ProtocolUnreadable(RuntimeError):
    """The engine could not load the protocol; the message names files relative to the version."""


class _ReaderFailed(RuntimeError):
    """The child reading the interface ran out of time or memory, or died."""


RECENT_INTERFACES = (
    16  # interfaces remembered, so that a check before writing and the description share one read
)
RECENT_INTERFACE_S = 120.0  # for this long
_recent: dict[str, tuple[float, dict[str, Any] | Unread]] = {}
_recent_lock = threading.Lock()


def _digest(files: dict[str, bytes], main: str) -> str:
    h = hashlib.sha256(main.encode() + b"\0")
    for name in sorted(files):
        h.update(hashlib.sha256(name.encode()).digest() + hashlib.sha256(files[name]).digest())
    return h.hexdigest()


def read_interface(files: dict[str, bytes], main: str) -> dict[str, Any] | Unread:
    """The protocol's interface as plain data (read by the engine in a child process), or :class:`Unread`.

    Raises :class:`ProtocolSyntaxError` when the main file, or a protocol of the version it imports or nests,
    does not parse. Thread-safe; the same files are read once within ``RECENT_INTERFACE_S``."""
    if main not in files:
        return Unread(f"the main file {main!r} is not among the version's files; no interface read")
    key = _digest(files, main)
    now = time.monotonic()
    with _recent_lock:
        hit = _recent.get(key)
        if hit is not None and now - hit[0] < RECENT_INTERFACE_S:
            return copy.deepcopy(hit[1])
    try:
        result: dict[str, Any] | Unread = _engine_interface(files, main)
    except _ProtocolUnreadable as exc:
        result = Unread(f"{main}: the protocol could not be read ({exc}); no interface recorded")
    except _ReaderFailed as exc:
        log.warning("protocol interface of %s not read: %s", main, exc)
        result = Unread(f"{main}: protocol interface could not be read: {exc}")
    except ProtocolSyntaxError:
        raise
    except Exception as exc:  # noqa: BLE001 - any other failure is the protocol's problem, not a crash
        result = Unread(
            f"{main}: the protocol could not be read ({type(exc).__name__}: {exc}); no interface recorded"
        )
    with _recent_lock:
        for stale in [k for k, (at, _) in _recent.items() if now - at >= RECENT_INTERFACE_S]:
            del _recent[stale]
        while len(_recent) >= RECENT_INTERFACES:
            del _recent[next(iter(_recent))]
        _recent[key] = (now, copy.deepcopy(result))
    return result


def _engine_interface(files: dict[str, bytes], main: str) -> dict[str, Any]:
    """The protocol's interface as plain data, read by the engine in a child process."""
    for name in files:
        path = PurePosixPath(name)
        if path.is_absolute() or ".." in path.parts:
            raise ValueError(f"file path {name!r} leaves the version's folder")
    answer = _READERS.read(files, main, INTERFACE_TIMEOUT_S)
    if "interface" in answer:
        return dict(answer["interface"])
    if "memory" in answer:
        raise _ReaderFailed(
            f"it needs more than {INTERFACE_MEMORY_BYTES >> 20} MiB of memory ({answer['memory']})"
        )
    if "syntax" in answer:
        where = answer["syntax"]
        raise ProtocolSyntaxError(
            where["file"], where["line"], where["column"], where["message"], where["expected"]
        )
    raise _ProtocolUnreadable(answer["error"])


# -- the parent side (the child side is worker.protocol_interface) -----------------------------------


class _Reader:
    """One child process that reads interfaces, one request at a time."""

    def __init__(self) -> None:
        self.conn, child_conn = multiprocessing.Pipe()
        self.child = Child(
            protocol_interface.serve,
            child_conn,
            name="weblab-protocol-interface",
            memory_bytes=INTERFACE_MEMORY_BYTES,
            daemon=True,
        )
        try:
            self.child.start()
        finally:
            child_conn.close()

    def ask(self, request: tuple[dict[str, bytes], str], timeout: float) -> dict[str, Any]:
        try:
            self.conn.send(request)
            if not self.conn.poll(timeout):
                raise _ReaderFailed(f"reading it took longer than {timeout:g} s, so it was stopped")
            return dict(self.conn.recv())
        except (EOFError, OSError, BrokenPipeError):
            self.child.join(1)
            code = self.child.exitcode
            raise _ReaderFailed(
                f"the process reading it stopped (exit code {code}; memory limit {INTERFACE_MEMORY_BYTES >> 20} MiB)"
            ) from None

    @property
    def alive(self) -> bool:
        return self.child.exitcode is None

    def close(self) -> None:
        self.child.close()
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


def _unreadable(version_uri: str, message: str) -> Description:
    """A protocol whose interface could not be read (a missing or circular import, an input that does not
    evaluate) requires ``weblab:ReadableInterface``, which no model has: an empty interface would fit every
    model and auto-run would queue an experiment with each; this way the matrix shows why it fits none."""
    described = _warned(version_uri, message)
    described.triples.append(
        ox.Triple(ox.NamedNode(version_uri), vocab.REQUIRES_TERM, vocab.READABLE_INTERFACE)
    )
    return described


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
