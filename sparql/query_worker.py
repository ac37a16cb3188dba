"""A query worker: a child process that runs SPARQL queries on the store opened read-only.

pyoxigraph cannot cancel a running query, so queries run here, where the
parent can kill them at the deadline without harming anything: the process
only reads. It reopens the store when the parent says the store has changed
(the ``generation`` of a job differs from the one it opened), since a
read-only open sees the store as it was at that moment.

Protocol on stdin/stdout, one job at a time: the parent writes a frame
holding a JSON job (an 8-byte big-endian length and the payload); the worker
answers (in one write, or two for a large body) with the 8-byte lengths of a JSON header and of the
body, then the header, then the body bytes. Run as ``python -m sparql.query_worker [--memory-mb=N] main=STORE_DIR [public=MIRROR_DIR]``;
a job names the store it runs on (``"store"``, default ``main``).

What one query may take is bounded here, in the process that evaluates it:

- the answer stops at the job's ``max_rows`` rows and at its ``max_bytes`` bytes, while it is written, so
  the worker never holds much more than the cap (a row, or a triple, that would pass it is left out, and
  the document is closed: the answer stays well-formed and says it was truncated);
- ``--memory-mb`` sets the worker's ``RLIMIT_DATA`` (heap and private mappings, not the store's files). A
  value Oxigraph builds before the worker sees it (one ``CONCAT``-built literal of hundreds of MB is one
  row) is stopped by that limit: a failed allocation in Python is answered with status 422; one in
  Oxigraph aborts the process (``SIGABRT``), which the pool (:mod:`sparql.pool`) answers the same way;
- the stack may grow to 64 MiB (``RLIMIT_STACK``), so that deeply nested queries (thousands of groups or
  of ``||`` terms, which Oxigraph evaluates recursively) run rather than overflow it (``SIGSEGV``).
"""

from __future__ import annotations

import io
import json
import resource
import struct
import sys
import time
from typing import Any, BinaryIO

import pyoxigraph as ox

from sparql import formats
from worker.parent_death import die_with_parent

# A job, and the header of its answer, as they cross the pipe: JSON objects (the module docstring lists
# their keys).
Job = dict[str, Any]
Header = dict[str, Any]

_LENGTH = struct.Struct(">Q")
_ANSWER = struct.Struct(">QQ")
_ATTEMPTS = 4
# Reopen at least this often (seconds) even when the parent reports no change (belt and braces).
_MAX_AGE = 30.0
_STACK = 64 << 20


def memory_message(memory_mb: int) -> str:
    limit = (
        f"the {memory_mb} MB a query may use (WEBLAB_SPARQL_WORKER_MEMORY_MB)"
        if memory_mb
        else "the memory available"
    )
    return (
        f"the query needed more memory than {limit} and was stopped: it builds values or intermediate results "
        "too large (or nests too deeply); make it more selective, or compute smaller values"
    )


def write_answer(stream: BinaryIO, header: Header, body: bytes) -> None:
    encoded = json.dumps(header).encode()
    if len(body) < 1 << 16:  # one write for the usual small answer
        stream.write(_ANSWER.pack(len(encoded), len(body)) + encoded + body)
    else:  # no copy of a large body
        stream.write(_ANSWER.pack(len(encoded), len(body)) + encoded)
        stream.write(body)
    stream.flush()


def limit_resources(memory_mb: int) -> None:
    """Bound this process's heap to ``memory_mb`` MB (0: no bound), let its stack grow to 64 MiB, and
    write no core file when it dies of either (one per runaway query, the size of the limit)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
    if memory_mb > 0:
        limit = memory_mb << 20
        _, hard = resource.getrlimit(resource.RLIMIT_DATA)
        resource.setrlimit(
            resource.RLIMIT_DATA, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard)
        )
    soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    if soft != resource.RLIM_INFINITY and soft < _STACK:
        resource.setrlimit(
            resource.RLIMIT_STACK, (_STACK if hard == resource.RLIM_INFINITY else min(_STACK, hard), hard)
        )


def read_frame(stream: BinaryIO) -> bytes | None:
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(head)
    return stream.read(size)


def _graphs(names: list[str] | None) -> list[ox.NamedNode | ox.DefaultGraph] | None:
    if names is None:
        return None
    return [ox.DefaultGraph() if n == "" else ox.NamedNode(n) for n in names]


def run_job(store: ox.Store, job: Job) -> tuple[Header, bytes]:
    """Evaluate one query job; returns a header (status, content type, truncated) and the body."""
    kwargs: dict[str, Any] = {"base_iri": job.get("base_iri")}
    if job.get("union"):
        kwargs["use_default_graph_as_union"] = True
    elif job.get("default_graph") is not None:
        kwargs["default_graph"] = _graphs(job["default_graph"])
    if job.get("named_graphs") is not None:  # None: every named graph (the caller sees them all)
        kwargs["named_graphs"] = [
            g for g in _graphs(job["named_graphs"]) or [] if isinstance(g, ox.NamedNode)
        ]
    try:
        result = store.query(job["query"], **kwargs)
    except SyntaxError as exc:
        return {"status": 400, "error": "syntax", "message": str(exc)}, b""
    return serialize_result(
        result,
        formats.BY_NAME[job["format"]],
        int(job["max_rows"]),
        job.get("prefixes"),
        job.get("max_bytes"),
    )


def serialize_result(
    result: object,
    fmt: formats.Format,
    max_rows: int,
    prefixes: dict[str, str] | None = None,
    max_bytes: int | None = None,
) -> tuple[Header, bytes]:
    """A query result (boolean, solutions, or an iterable of triples) in ``fmt``, stopped at ``max_rows``
    rows and at ``max_bytes`` bytes of body (None or 0: no byte cap).

    Rows past a cap are never read from ``result``; the header says whether there were any. The byte cap
    leaves out the first row that would pass it, and those after; a document's fixed head and tail (a few
    hundred bytes at most) always fit.
    """
    truncated = False
    limit = max_bytes or sys.maxsize
    if isinstance(result, ox.QueryBoolean):
        if fmt not in formats.BOOLEAN_FORMATS:
            return {"status": 406, "message": str(formats.NotAcceptable(formats.BOOLEAN_FORMATS))}, b""
        body = formats.serialize_boolean(bool(result), fmt)
    elif isinstance(result, ox.QuerySolutions):
        if fmt not in formats.SOLUTION_FORMATS:
            return {"status": 406, "message": str(formats.NotAcceptable(formats.SOLUTION_FORMATS))}, b""
        variables = [v.value for v in result.variables]
        width = range(len(variables))
        writer = formats.SolutionWriter(variables, fmt)
        out = io.BytesIO()  # its getvalue() hands over the buffer without copying it
        out.write(writer.head)
        budget = limit - len(writer.tail)
        rows = 0
        for solution in result:
            if rows == max_rows:
                truncated = True
                break
            piece = writer.row([solution[i] for i in width])
            if out.tell() + len(piece) > budget:
                truncated = True
                break
            out.write(piece)
            rows += 1
        out.write(writer.tail)
        body = out.getvalue()
    else:
        if fmt not in formats.GRAPH_FORMATS:
            return {"status": 406, "message": str(formats.NotAcceptable(formats.GRAPH_FORMATS))}, b""
        triples: list[ox.Triple] = []
        size = 0
        for triple in result:  # type: ignore[attr-defined]
            if len(triples) == max_rows:
                truncated = True
                break
            size += len(str(triple)) + 3  # its N-Triples line: most formats take no more
            if size > limit:
                truncated = True
                break
            triples.append(triple)
        body = formats.serialize_triples(triples, fmt, prefixes)
        while (
            len(body) > limit and triples
        ):  # a format that takes more (RDF/XML, JSON-LD): keep fewer triples
            truncated = True
            del triples[min(len(triples) - 1, int(len(triples) * limit / len(body) * 0.95)) :]
            body = formats.serialize_triples(triples, fmt, prefixes)
    return {"status": 200, "content_type": formats.content_type(fmt), "truncated": truncated}, body


def main(paths: dict[str, str], memory_mb: int = 0) -> None:
    """Serve jobs over the stores in ``paths`` (name → directory), each opened read-only when first needed,
    with at most ``memory_mb`` MB of heap (0: no bound). It dies with the process that started it: the pool
    that would kill a runaway query at its deadline dies with that process too."""
    die_with_parent()
    limit_resources(memory_mb)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    stores: dict[str, tuple[ox.Store, int, float]] = {}  # name → (store, generation, opened at)
    while True:
        frame = read_frame(stdin)
        if frame is None:
            return
        job = json.loads(frame)
        name = job.get("store", "main")
        for attempt in range(_ATTEMPTS):
            try:
                held = stores.get(name)
                if held is None or held[1] != job["generation"] or time.monotonic() - held[2] > _MAX_AGE:
                    stores.pop(name, None)
                    held = (ox.Store.read_only(paths[name]), job["generation"], time.monotonic())
                    stores[name] = held
                header, body = run_job(held[0], job)
                break
            except (OSError, RuntimeError) as exc:
                # A read-only view can lose files to the writer's compaction (opened mid-compaction, or
                # kept across one): reopen and try again.
                stores.pop(name, None)
                header, body = {"status": 500, "error": type(exc).__name__, "message": str(exc)}, b""
                if attempt + 1 < _ATTEMPTS:
                    time.sleep(0.01 * (attempt + 1))
            except MemoryError:  # what the query built is let go on the way here
                header, body = {"status": 422, "error": "memory", "message": memory_message(memory_mb)}, b""
                break
            except Exception as exc:  # a failure here must reach the caller as an answer, not kill the worker
                header, body = {"status": 500, "error": type(exc).__name__, "message": str(exc)}, b""
                break
        write_answer(stdout, header, body)


if __name__ == "__main__":
    options = [arg for arg in sys.argv[1:] if arg.startswith("--")]
    memory = next((int(arg.split("=", 1)[1]) for arg in options if arg.startswith("--memory-mb=")), 0)
    main(dict(arg.split("=", 1) for arg in sys.argv[1:] if not arg.startswith("--")), memory)
