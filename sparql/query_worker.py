"""A query worker: a child process that runs SPARQL queries on the store opened read-only.

pyoxigraph cannot cancel a running query, so queries run here, where the
parent can kill them at the deadline without harming anything: the process
only reads. It reopens the store when the parent says the store has changed
(the ``generation`` of a job differs from the one it opened), since a
read-only open sees the store as it was at that moment.

Protocol on stdin/stdout, one job at a time: the parent writes a frame
holding a JSON job (an 8-byte big-endian length and the payload); the worker
answers, in one write, with the 8-byte lengths of a JSON header and of the
body, then the header, then the body bytes. Run as ``python -m sparql.query_worker main=STORE_DIR [public=MIRROR_DIR]``;
a job names the store it runs on (``"store"``, default ``main``).
"""

from __future__ import annotations

import json
import struct
import sys
import time
from typing import BinaryIO

import pyoxigraph as ox

from sparql import formats

_LENGTH = struct.Struct(">Q")
_ANSWER = struct.Struct(">QQ")
_ATTEMPTS = 4
# Reopen at least this often (seconds) even when the parent reports no change (belt and braces).
_MAX_AGE = 30.0


def write_answer(stream: BinaryIO, header: dict, body: bytes) -> None:
    encoded = json.dumps(header).encode()
    stream.write(_ANSWER.pack(len(encoded), len(body)) + encoded + body)
    stream.flush()


def read_frame(stream: BinaryIO) -> bytes | None:
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(head)
    return stream.read(size)


def _graphs(names: list[str] | None) -> list | None:
    if names is None:
        return None
    return [ox.DefaultGraph() if n == "" else ox.NamedNode(n) for n in names]


def run_job(store: ox.Store, job: dict) -> tuple[dict, bytes]:
    """Evaluate one query job; returns a header (status, content type, truncated) and the body."""
    kwargs: dict = {"base_iri": job.get("base_iri")}
    if job.get("union"):
        kwargs["use_default_graph_as_union"] = True
    elif job.get("default_graph") is not None:
        kwargs["default_graph"] = _graphs(job["default_graph"])
    if job.get("named_graphs") is not None:  # None: every named graph (the caller sees them all)
        kwargs["named_graphs"] = [g for g in _graphs(job["named_graphs"]) or [] if isinstance(g, ox.NamedNode)]
    try:
        result = store.query(job["query"], **kwargs)
    except SyntaxError as exc:
        return {"status": 400, "error": "syntax", "message": str(exc)}, b""
    return serialize_result(result, formats.BY_NAME[job["format"]], int(job["max_rows"]), job.get("prefixes"))


def serialize_result(result: object, fmt: formats.Format, max_rows: int,
                     prefixes: dict[str, str] | None = None) -> tuple[dict, bytes]:
    """A query result (boolean, solutions, or an iterable of triples) in ``fmt``, stopped at ``max_rows``.

    Rows past the cap are never read from ``result``; the header says whether there were any.
    """
    truncated = False
    if isinstance(result, ox.QueryBoolean):
        if fmt not in formats.BOOLEAN_FORMATS:
            return {"status": 406, "message": str(formats.NotAcceptable(formats.BOOLEAN_FORMATS))}, b""
        body = formats.serialize_boolean(bool(result), fmt)
    elif isinstance(result, ox.QuerySolutions):
        if fmt not in formats.SOLUTION_FORMATS:
            return {"status": 406, "message": str(formats.NotAcceptable(formats.SOLUTION_FORMATS))}, b""
        variables = [v.value for v in result.variables]
        rows = []
        for solution in result:
            if len(rows) == max_rows:
                truncated = True
                break
            rows.append([solution[i] for i in range(len(variables))])
        body = formats.serialize_solutions(variables, rows, fmt)
    else:
        if fmt not in formats.GRAPH_FORMATS:
            return {"status": 406, "message": str(formats.NotAcceptable(formats.GRAPH_FORMATS))}, b""
        triples = []
        for triple in result:  # type: ignore[attr-defined]
            if len(triples) == max_rows:
                truncated = True
                break
            triples.append(triple)
        body = formats.serialize_triples(triples, fmt, prefixes)
    return {"status": 200, "content_type": formats.content_type(fmt), "truncated": truncated}, body


def main(paths: dict[str, str]) -> None:
    """Serve jobs over the stores in ``paths`` (name → directory), each opened read-only when first needed."""
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
            except Exception as exc:  # a failure here must reach the caller as an answer, not kill the worker
                header, body = {"status": 500, "error": type(exc).__name__, "message": str(exc)}, b""
                break
        write_answer(stdout, header, body)


if __name__ == "__main__":
    main(dict(arg.split("=", 1) for arg in sys.argv[1:]))
