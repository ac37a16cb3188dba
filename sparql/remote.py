"""A triple store kept on a remote SPARQL 1.1 server (``WEBLAB_SPARQL_URL``), with TripleStore's methods.

For deployments that outgrow one machine: the platform's triples live on any
server speaking SPARQL 1.1 Query, Update and the Graph Store HTTP Protocol
(Oxigraph server, Fuseki, …). By default the three services are found as
Oxigraph server lays them out — ``{url}/query``, ``{url}/update`` and
``{url}/store`` — and each can be given explicitly (Fuseki: ``/ds/query``,
``/ds/update``, ``/ds/data``).

Differences from the embedded store, all deliberate:

- substitutions are sent as a ``VALUES`` block at the start of the query's
  top-level WHERE group (values are written as RDF terms, never as raw text);
  blank nodes cannot be substituted;
- the union default graph is asked for with Oxigraph's ``union-default-graph``
  parameter; other servers need their own equivalent;
- the store's unnamed default graph cannot be named in a protocol dataset, so a
  caller-scoped query on a remote store does not include it;
- a query past the deadline is abandoned (the HTTP request is closed); the
  remote server decides whether it stops computing (``oxigraph serve
  --timeout-s`` makes it);
- the endpoint's row cap is applied to the remote server's answer: the
  endpoint asks for SPARQL JSON results or N-Triples, reads at most the cap's
  rows from it and writes them in the caller's format (the remote server
  still computes and sends its whole answer);
- ``.oxigraph`` is a :class:`RemoteOxigraph`: the part of pyoxigraph's ``Store``
  API the platform writes and reads quads with, each call one SPARQL request
  (one transaction on the server), so entities, runs and GraphQL work on a
  remote store as on the embedded one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import httpx
import pyoxigraph as ox

from sparql import formats
from sparql.generation import SharedGeneration
from sparql.lexer import inject_values, query_shape
from sparql.pool import QueryTimeout, WorkerAnswer
from sparql.query_worker import Header, Job, serialize_result
from sparql.store import Substitutions, quads_as_data, swap_update


class RemoteStoreError(Exception):
    """The remote SPARQL server refused a request or could not be reached; the message says which and why."""


def _term(value: Any) -> str:
    if isinstance(value, ox.NamedNode | ox.Literal):
        return str(value)
    raise RemoteStoreError(
        f"cannot send {value!r} to a remote store as a substitution (only IRIs and literals)"
    )


def _ntriples(triples: Iterable[ox.Triple]) -> bytes:
    return ox.serialize(list(triples), format=ox.RdfFormat.N_TRIPLES) or b""


class RemoteTripleStore:
    def __init__(
        self,
        url: str,
        *,
        query_url: str | None = None,
        update_url: str | None = None,
        store_url: str | None = None,
        timeout: float = 60.0,
    ) -> None:
        base = url.rstrip("/")
        self.url = base
        self.query_url = query_url or base + "/query"
        self.update_url = update_url or base + "/update"
        self.store_url = store_url or base + "/store"
        self.path = None
        self._writes = 0
        self.shared: SharedGeneration | None = None  # set by the platform when Redis is known
        self._graphs: tuple[int, list[ox.NamedNode]] | None = None
        self._client = httpx.Client(timeout=timeout)
        self._async: httpx.AsyncClient | None = None

    @property
    def generation(self) -> int:
        """The deployment's generation of the store (``sparql/generation.py``); without one, this process's
        count of its own writes, which misses other writers (then nothing is cached about the store)."""
        return self.shared.current() if self.shared is not None else self._writes

    def _changed(self) -> None:
        self._writes += 1
        if self.shared is not None:
            self.shared.advance()

    def _check(self, response: httpx.Response, what: str, ok: tuple[int, ...] = ()) -> httpx.Response:
        if response.status_code >= 400 and response.status_code not in ok:
            raise RemoteStoreError(
                f"{what} at {response.request.url} failed with {response.status_code}: {response.text[:500]}"
            )
        return response

    # --- queries ---------------------------------------------------------------------------

    def query(
        self,
        query: str,
        *,
        substitutions: Substitutions | None = None,
        default_graph: Sequence[ox.NamedNode] | None = None,
        named_graphs: Sequence[ox.NamedNode] | None = None,
        use_default_graph_as_union: bool = False,
    ) -> Any:  # noqa: ANN401
        """Results as pyoxigraph objects: QuerySolutions / QueryBoolean, or a list of Triples."""
        if substitutions:
            query = inject_values(query, {v.value: _term(t) for v, t in substitutions.items()})
        form = query_shape(query).form
        graph_result = form in ("CONSTRUCT", "DESCRIBE")
        accept = "application/n-triples" if graph_result else "application/sparql-results+json"
        if default_graph is not None and named_graphs is None and not use_default_graph_as_union:
            # pyoxigraph keeps every named graph when only the default graph is given; the SPARQL protocol keeps
            # none ("the dataset is exactly the graphs named"): name them all, or GRAPH ?g would match nothing.
            named_graphs = self._every_named_graph()
        data: list[tuple[str, str]] = [("query", query)]
        data += _dataset_params(default_graph, named_graphs, use_default_graph_as_union)
        try:
            response = self._client.post(self.query_url, data=_form(data), headers={"Accept": accept})
        except httpx.HTTPError as exc:
            raise RemoteStoreError(f"cannot reach the SPARQL server at {self.query_url}: {exc}") from exc
        if response.status_code == 400:
            raise SyntaxError(response.text)
        self._check(response, "query")
        if graph_result:
            return [
                ox.Triple(q.subject, q.predicate, q.object)
                for q in ox.parse(response.content, format=ox.RdfFormat.N_TRIPLES)
            ]
        return ox.parse_query_results(response.content, format=ox.QueryResultsFormat.JSON)

    async def query_http(self, job: Job, timeout: float) -> WorkerAnswer:
        """Run an endpoint job (see :mod:`sparql.query_worker`) on the remote server, with a deadline.

        The answer is capped at ``job["max_rows"]`` as the embedded store's is.
        """
        if self._async is None:
            self._async = httpx.AsyncClient()
        fmt = formats.BY_NAME[job["format"]]
        data: list[tuple[str, str]] = [("query", job["query"])]
        if job.get("union"):
            data.append(("union-default-graph", ""))
            named = job.get("named_graphs")
        else:
            named = job.get("named_graphs")
            for g in job.get("default_graph") or []:
                if g:
                    data.append(("default-graph-uri", g))
            if job.get("default_graph") is not None and not any(job["default_graph"]):
                data.append(("default-graph-uri", "urn:weblab:empty"))  # an empty default graph
        for g in named or []:
            data.append(("named-graph-uri", g))
        if named is not None and not named:
            data.append(("named-graph-uri", "urn:weblab:empty"))
        # Asked in a format read here, so that the row cap can be applied (and the answer written in ``fmt``).
        graph_result = (job.get("form") or query_shape(job["query"]).form) in ("CONSTRUCT", "DESCRIBE")
        accept = "application/n-triples" if graph_result else "application/sparql-results+json"
        try:
            response = await self._async.post(
                self.query_url, data=_form(data), headers={"Accept": accept}, timeout=timeout
            )
        except httpx.TimeoutException:
            raise QueryTimeout(timeout) from None
        except httpx.HTTPError as exc:
            return WorkerAnswer({"status": 500, "error": "remote", "message": str(exc)}, b"")
        if response.status_code == 400:
            return WorkerAnswer({"status": 400, "message": response.text[:2000]}, b"")
        if response.status_code == 406:
            return WorkerAnswer({"status": 406, "message": response.text[:500]}, b"")
        if response.status_code >= 300:
            return WorkerAnswer(
                {"status": 500, "error": f"remote {response.status_code}", "message": response.text[:500]},
                b"",
            )
        try:
            header, body = await asyncio.to_thread(
                _capped, response.content, graph_result, fmt, int(job["max_rows"]), job.get("prefixes")
            )
        except SyntaxError as exc:
            return WorkerAnswer(
                {"status": 500, "error": "remote", "message": f"unreadable answer: {exc}"}, b""
            )
        return WorkerAnswer(header, body)

    def update(self, update: str, *, base_iri: str | None = None) -> None:
        if base_iri:
            update = f"BASE <{ox.NamedNode(base_iri).value}>\n{update}"
        try:
            response = self._client.post(
                self.update_url,
                content=update.encode(),
                headers={"Content-Type": "application/sparql-update"},
            )
        finally:
            self._changed()
        if response.status_code == 400:
            raise SyntaxError(response.text)
        self._check(response, "update")

    # --- graphs (Graph Store HTTP Protocol) ------------------------------------------------

    def _graph_params(self, graph: ox.NamedNode | None) -> dict[str, str]:
        return {"default": ""} if graph is None else {"graph": graph.value}

    def replace_graph(self, graph: ox.NamedNode, triples: Iterable[ox.Triple]) -> None:
        body = _ntriples(triples)
        try:
            self._check(
                self._client.put(
                    self.store_url,
                    params=self._graph_params(graph),
                    content=body,
                    headers={"Content-Type": "application/n-triples"},
                ),
                "PUT graph",
            )
        finally:
            self._changed()

    def add(self, graph: ox.NamedNode, triples: Iterable[ox.Triple]) -> None:
        body = _ntriples(triples)
        try:
            self._check(
                self._client.post(
                    self.store_url,
                    params=self._graph_params(graph),
                    content=body,
                    headers={"Content-Type": "application/n-triples"},
                ),
                "POST graph",
            )
        finally:
            self._changed()

    def add_to_default(self, triples: Iterable[ox.Triple]) -> None:
        body = _ntriples(triples)
        try:
            self._check(
                self._client.post(
                    self.store_url,
                    params={"default": ""},
                    content=body,
                    headers={"Content-Type": "application/n-triples"},
                ),
                "POST default graph",
            )
        finally:
            self._changed()

    def clear_default(self) -> None:
        try:
            self._check(
                self._client.delete(self.store_url, params={"default": ""}), "DELETE default graph", (404,)
            )
        finally:
            self._changed()

    def drop_graph(self, graph: ox.NamedNode) -> None:
        try:
            self._check(
                self._client.delete(self.store_url, params=self._graph_params(graph)), "DELETE graph", (404,)
            )
        finally:
            self._changed()

    def has_graph(self, graph: ox.NamedNode) -> bool:
        # A query, not HEAD: Oxigraph server 0.5 sends a body with a HEAD 404, which breaks the connection.
        return bool(self.query("ASK { GRAPH ?g { } }", substitutions={ox.Variable("g"): graph}))

    def _get(self, params: dict[str, str], media: str, what: str) -> bytes:
        response = self._client.get(self.store_url, params=params, headers={"Accept": media})
        if response.status_code == 404:
            return b""
        return self._check(response, what).content

    def triples(self, graph: ox.NamedNode) -> Iterator[ox.Triple]:
        body = self._get(self._graph_params(graph), "application/n-triples", "GET graph")
        for q in ox.parse(body, format=ox.RdfFormat.N_TRIPLES):
            yield ox.Triple(q.subject, q.predicate, q.object)

    def default_triples(self) -> Iterator[ox.Triple]:
        body = self._get({"default": ""}, "application/n-triples", "GET default graph")
        for q in ox.parse(body, format=ox.RdfFormat.N_TRIPLES):
            yield ox.Triple(q.subject, q.predicate, q.object)

    def named_graphs(self) -> Iterator[ox.NamedNode]:
        for solution in self.query("SELECT DISTINCT ?g WHERE { GRAPH ?g { } }"):
            if isinstance(solution["g"], ox.NamedNode):
                yield solution["g"]

    def _every_named_graph(self) -> list[ox.NamedNode]:
        """Every named graph; kept for the store's generation when that is the deployment's (else read anew)."""
        if self.shared is None:
            return list(self.named_graphs())
        generation = self.generation
        if self._graphs is None or self._graphs[0] != generation:
            self._graphs = (generation, list(self.named_graphs()))
        return self._graphs[1]

    def quads(self) -> Iterator[ox.Quad]:
        response = self._client.get(self.store_url, headers={"Accept": "application/n-quads"})
        return iter(ox.parse(self._check(response, "GET store").content, format=ox.RdfFormat.N_QUADS))

    def __len__(self) -> int:
        solutions = self.query(
            "SELECT (COUNT(*) AS ?n) WHERE { { ?s ?p ?o } UNION { GRAPH ?g { ?s ?p ?o } } }"
        )
        return int(next(iter(solutions))["n"].value)

    def flush(self) -> None:
        """Nothing to do: the remote server owns durability."""

    @property
    def oxigraph(self) -> RemoteOxigraph:
        return RemoteOxigraph(self)

    def close(self) -> None:
        """Close the blocking client; :meth:`aclose` closes the one the event loop's queries use too."""
        self._client.close()

    async def aclose(self) -> None:
        if self.shared is not None:
            self.shared.close()
        if self._async is not None:
            await self._async.aclose()
            self._async = None
        self.close()


class RemoteOxigraph:
    """pyoxigraph's ``Store`` API as far as the platform uses it (``TripleStore.oxigraph``), on a remote server.

    Writes are SPARQL Update requests, one per call: ``swap`` deletes and inserts in one request, so the
    server applies both or neither, as the embedded store's transaction does.
    """

    def __init__(self, remote: RemoteTripleStore) -> None:
        self._remote = remote

    def query(self, query: str, **options: Any) -> Any:  # noqa: ANN401 - pyoxigraph's result types
        return self._remote.query(query, **options)

    def named_graphs(self) -> Iterator[ox.NamedNode]:
        return self._remote.named_graphs()

    def contains_named_graph(self, graph: ox.NamedNode) -> bool:
        return self._remote.has_graph(graph)

    def add(self, quad: ox.Quad) -> None:
        self.extend([quad])

    def extend(self, quads: Iterable[ox.Quad]) -> None:
        if data := quads_as_data(quads):
            self._remote.update(f"INSERT DATA {{ {data} }}")

    def remove(self, quad: ox.Quad) -> None:
        self._remote.update(f"DELETE DATA {{ {quads_as_data([quad])} }}")

    def swap(self, old: ox.Quad, new: ox.Quad) -> None:
        self._remote.update(swap_update(old, new))

    def add_graph(self, graph: ox.NamedNode) -> None:
        self._remote.update(f"CREATE SILENT GRAPH {graph}")

    def remove_graph(self, graph: ox.NamedNode) -> None:
        self._remote.update(f"DROP SILENT GRAPH {graph}")

    def clear_graph(self, graph: ox.NamedNode) -> None:
        self._remote.update(f"CLEAR SILENT GRAPH {graph}")

    def quads_for_pattern(
        self,
        subject: Any,
        predicate: Any,
        object: Any,  # noqa: A002 - pyoxigraph's names
        graph_name: Any = None,
    ) -> Iterator[ox.Quad]:
        bound = {
            ox.Variable(name): term
            for name, term in (("s", subject), ("p", predicate), ("o", object))
            if term is not None
        }
        if isinstance(graph_name, ox.DefaultGraph):
            where = "{ ?s ?p ?o }"
        elif graph_name is not None:
            where, bound[ox.Variable("g")] = "{ GRAPH ?g { ?s ?p ?o } }", graph_name
        else:
            where = "{ { ?s ?p ?o } UNION { GRAPH ?g { ?s ?p ?o } } }"
        for s in self._remote.query(f"SELECT ?s ?p ?o ?g WHERE {where}", substitutions=bound or None):
            graph = graph_name if graph_name is not None else (s["g"] or ox.DefaultGraph())
            yield ox.Quad(s["s"] or subject, s["p"] or predicate, s["o"] or object, graph)

    def flush(self) -> None:
        """Nothing to do: the remote server owns durability."""


def _capped(
    content: bytes, graph_result: bool, fmt: formats.Format, max_rows: int, prefixes: dict[str, str] | None
) -> tuple[Header, bytes]:
    """The remote answer (N-Triples or SPARQL JSON results) in ``fmt``, at most ``max_rows`` rows of it."""
    result: object
    if graph_result:
        result = (
            ox.Triple(q.subject, q.predicate, q.object)
            for q in ox.parse(content, format=ox.RdfFormat.N_TRIPLES)
        )
    else:
        result = ox.parse_query_results(content, format=ox.QueryResultsFormat.JSON)
    return serialize_result(result, fmt, max_rows, prefixes)


def _dataset_params(
    default_graph: Sequence[ox.NamedNode] | None, named_graphs: Sequence[ox.NamedNode] | None, union: bool
) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if union:
        out.append(("union-default-graph", ""))
    for g in default_graph or []:
        if isinstance(g, ox.NamedNode):
            out.append(("default-graph-uri", g.value))
    for g in named_graphs or []:
        if isinstance(g, ox.NamedNode):
            out.append(("named-graph-uri", g.value))
    return out


def _form(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    form: dict[str, list[str]] = {}
    for key, value in pairs:
        form.setdefault(key, []).append(value)
    return form
