"""The SPARQL service: queries, updates and Graph Store operations, scoped to what the caller may see.

HTTP lives in ``web/routes/sparql.py``; everything that decides lives here, so
the rules are the same whatever route reaches them:

- a query runs over the caller's visible graphs (:mod:`sparql.scope`), as the
  default graph and as the named graphs; ``FROM``/``FROM NAMED`` and the
  protocol's ``default-graph-uri``/``named-graph-uri`` only narrow that;
- callers who see exactly what anonymous callers see query the public mirror
  (:mod:`sparql.mirror`), callers who see everything the store's union default
  graph; only callers who see some private graphs pay for an explicit graph list;
- a query runs in a killable worker process (:mod:`sparql.pool`) with the
  deadline and a bounded heap; its result stops at ``max_rows`` rows and ``max_bytes`` bytes; one
  client holds at most ``per_client`` workers at a time (:mod:`sparql.limits`); an answer is kept until the
  store changes and given again to the same job (:mod:`sparql.answer_cache`);
- ``SERVICE`` (and ``LOAD``) are refused unless their endpoint is allowed;
- writes need an admin, and never touch a platform-managed graph (``CLEAR ALL``,
  ``DROP NAMED`` and the like mean every graph SPARQL may write: the default
  graph and the unmanaged named graphs); an update's
  ``WHERE`` parts are first evaluated in a worker under the deadline, so an
  update too slow to finish is refused before it starts writing.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyoxigraph as ox

from sparql import errors, formats, registry
from sparql.answer_cache import AnswerCache
from sparql.lexer import query_shape
from sparql.limits import TooManyQueries
from sparql.mirror import PublicMirror
from sparql.pool import QueryPool, QueryTimeout, QueryTooLarge, WorkerAnswer, WorkerCrashed
from sparql.query_worker import run_job
from sparql.scope import GraphScope, Visible, visible
from sparql.update_analysis import (
    ALL_NAMED,
    ANY_GRAPH,
    DEFAULT,
    analyse_update,
    confine_bulk,
    with_protocol_dataset,
)

log = logging.getLogger(__name__)

_DISABLED = (
    "SERVICE (federated query) is disabled on this endpoint: it would let any caller make the "
    "server send requests. An administrator can allow specific endpoints (WEBLAB_SPARQL_SERVICE_ALLOW)."
)


@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes
    truncated: bool = False


@dataclass(frozen=True)
class Workers:
    """The query worker processes at one moment, as an operator sees them with ``ps``: which processes
    serve queries, and how many of them wait for one (the rest are running a query)."""

    pids: frozenset[int]
    idle: int


def _iri(value: str, what: str) -> str:
    try:
        return ox.NamedNode(value).value
    except ValueError as exc:
        raise errors.BadRequest(f"{what} is not a valid absolute IRI: {value!r} ({exc})") from None


def _parse_triples(body: bytes, rdf_format: ox.RdfFormat, base: str) -> list[ox.Triple]:
    quads = ox.parse(body, format=rdf_format, base_iri=base, without_named_graphs=True)
    return [ox.Triple(q.subject, q.predicate, q.object) for q in quads]


class SparqlService:
    """``graph_scope(caller)`` lists the named graphs a caller may read; for ``None`` (anonymous) it is
    run on a thread with its own event loop, so it must not need the caller's loop then."""

    def __init__(
        self,
        store: Any,
        *,
        base_uri: str,
        graph_scope: GraphScope,
        timeout: float = 30.0,
        max_rows: int = 100_000,
        service_allow: Iterable[str] = (),
        pool_size: int | None = None,
        endpoint: str | None = None,
        max_body_bytes: int = 50 * 1024 * 1024,
        cache_bytes: int = 64 * 1024 * 1024,
        max_bytes: int = 64 * 1024 * 1024,
        worker_memory_mb: int = 0,
        per_client: int = 0,
    ) -> None:
        self.store = store
        self.base_uri = base_uri.rstrip("/") + "/"
        self.endpoint = endpoint or self.base_uri + "sparql"
        self.graph_store = self.endpoint + "/graphs"
        self.graph_scope = graph_scope
        self.timeout = timeout
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.service_allow = frozenset(service_allow)
        self.max_body_bytes = max_body_bytes
        self.prefixes = registry.managed_prefixes(self.base_uri)
        self.remote = hasattr(store, "query_http")
        path = getattr(store, "path", None)
        # Four workers by default: measured on 2 cores, more workers than cores lets one query's
        # I/O and process switches overlap another's evaluation (0.53 → 0.65 of Oxigraph server).
        size = pool_size or 4
        self._mirror: PublicMirror | None = None
        self._pool: QueryPool | None = None
        if path is not None and not self.remote:
            self._mirror = PublicMirror(Path(str(path) + "-public"))
            self._pool = QueryPool(
                {"main": Path(path), "public": self._mirror.path},
                size,
                memory_mb=worker_memory_mb,
                per_client=per_client,
            )
        self._mirror_lock = asyncio.Lock()
        self._anonymous_lock = asyncio.Lock()
        self._mirror_synced = -1
        # Locally every write is seen (generation), and so is every platform write to a remote store with the
        # deployment's generation (sparql/generation.py): caches then expire only on change. A remote store
        # without one may be written by others unseen: what is cached about it expires after a second.
        coherent = not self.remote or getattr(store, "shared", None) is not None
        self._cache_seconds = float("inf") if coherent else 1.0
        self._write_lock = asyncio.Lock()
        self._graphs: tuple[int, float, list[str]] | None = None
        self._admin: tuple[int, float, frozenset[str]] | None = None
        self._anonymous: tuple[int, float, Visible] | None = None
        self._flushed = -1
        # Answers are kept only where every write is seen.
        self._answers = AnswerCache(cache_bytes) if cache_bytes and coherent else None
        self._answers_generation = -1

    async def start(self) -> None:
        """Start the query workers and fill the public mirror now rather than on the first query
        (a startup hook: on a big store the first full copy takes a while)."""
        if self._pool is not None:
            await self._pool.start()
        if self._mirror is not None:
            await self._sync_mirror()

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
        if self._mirror is not None:
            self._mirror.close()
            self._mirror = None

    def workers(self) -> Workers:
        """The live query workers (none when queries run elsewhere: a remote store, or before :meth:`start`).

        For watching the deadline do its work: a stopped query's worker is a process that is gone, and
        the one that replaces it a process that was not there before.
        """
        if self._pool is None:
            return Workers(frozenset(), 0)
        return Workers(self._pool.live_pids, self._pool.idle_count)

    async def _sync_mirror(self) -> None:
        """Bring the public mirror up to date with the store (see :mod:`sparql.mirror`)."""
        assert self._mirror is not None
        async with self._mirror_lock:
            if self._mirror_synced == self._generation() and self._mirror.graphs is not None:
                return
            changes, generation = self.store.take_changes()
            public = (await self.visible_to(None)).named
            await asyncio.to_thread(self._mirror.sync, self.store._store, public, changes)
            self._mirror_synced = generation

    # --- scope ---------------------------------------------------------------------------------

    def _generation(self) -> int:
        return getattr(self.store, "generation", 0)

    async def all_named(self) -> list[str]:
        now = time.monotonic()
        if (
            self._graphs
            and self._graphs[0] == self._generation()
            and now - self._graphs[1] < self._cache_seconds
        ):
            return self._graphs[2]
        names = await asyncio.to_thread(lambda: [g.value for g in self.store.named_graphs()])
        self._graphs = (self._generation(), now, names)
        return names

    async def admin_graphs(self) -> frozenset[str]:
        """The graphs the registry says admins made (:mod:`sparql.registry`): the only ones SPARQL writes."""
        now = time.monotonic()
        if (
            self._admin
            and self._admin[0] == self._generation()
            and now - self._admin[1] < self._cache_seconds
        ):
            return self._admin[2]
        admin = await asyncio.to_thread(registry.admin_graphs, self.store)
        self._admin = (self._generation(), now, admin)
        return admin

    def _cached_anonymous(self) -> Visible | None:
        if (
            self._anonymous
            and self._anonymous[0] == self._generation()
            and time.monotonic() - self._anonymous[1] < self._cache_seconds
        ):
            return self._anonymous[2]
        return None

    async def visible_to(self, caller: Any) -> Visible:
        if caller is None:
            cached = self._cached_anonymous()
            if cached is not None:
                return cached
            async with self._anonymous_lock:  # one computation for all the requests that arrive meanwhile
                cached = self._cached_anonymous()
                if cached is not None:
                    return cached
                return await self._visible_to(None)
        return await self._visible_to(caller)

    async def _visible_to(self, caller: Any) -> Visible:
        now = time.monotonic()
        generation = self._generation()
        if caller is None:
            # The anonymous scope is recomputed after every write and can take a while on a big
            # store; computed on a thread (with its own event loop: it needs no database for an
            # anonymous caller), it does not stall everyone else's requests meanwhile.
            scoped = await asyncio.to_thread(lambda: asyncio.run(self.graph_scope(None)))
        else:
            scoped = await self.graph_scope(caller)
        managed = [g.value for g in scoped]
        result = visible(await self.all_named(), managed, await self.admin_graphs(), self.prefixes)
        if caller is None:
            self._anonymous = (generation, now, result)
        return result

    # --- queries -------------------------------------------------------------------------------

    def _check_services(self, targets: list[str | None]) -> None:
        for target in targets:
            if not self.service_allow:
                raise errors.BadRequest(_DISABLED)
            if target is None or target not in self.service_allow:
                shown = "a variable endpoint" if target is None else f"<{target}>"
                raise errors.BadRequest(
                    f"SERVICE {shown} is not on this endpoint's allow-list of federated endpoints"
                )

    def _format(self, form: str | None, accept: str | None, fmt: str | None) -> formats.Format:
        offered = {"SELECT": formats.SOLUTION_FORMATS, "ASK": formats.BOOLEAN_FORMATS}.get(
            form or "SELECT", formats.GRAPH_FORMATS
        )
        try:
            if fmt:
                return formats.by_parameter(fmt, offered)
            return formats.negotiate(accept, offered)
        except formats.NotAcceptable as exc:
            raise errors.NotAcceptable(str(exc)) from None

    async def query(
        self,
        text: str,
        caller: Any,
        *,
        default_graph_uris: list[str] | None = None,
        named_graph_uris: list[str] | None = None,
        accept: str | None = None,
        format: str | None = None,
        client: str | None = None,
    ) -> Answer:
        """``client`` names who asks, for the per-client limit on workers (None: not limited)."""
        shape = query_shape(text, self.endpoint)
        self._check_services(shape.service_targets)
        fmt = self._format(shape.form, accept, format)
        default_graph_uris = [_iri(g, "default-graph-uri") for g in default_graph_uris or []]
        named_graph_uris = [_iri(g, "named-graph-uri") for g in named_graph_uris or []]
        scope = await self.visible_to(caller)
        job = {
            "query": text,
            "base_iri": self.endpoint,
            "format": fmt.name,
            "max_rows": self.max_rows,
            "max_bytes": self.max_bytes,
            "form": shape.form,
        }
        if default_graph_uris or named_graph_uris:
            job.update(scope.restrict(default_graph_uris, named_graph_uris).job())
        elif shape.has_dataset_clause:
            job.update(scope.restrict(shape.from_graphs, shape.from_named_graphs).job())
        elif scope.everything:
            job.update(scope.whole().job())
        elif self._mirror is not None and (
            caller is None or scope.named == (await self.visible_to(None)).named
        ):
            # The caller sees exactly what anonymous callers see: the public mirror, fast.
            if self._mirror_synced != self._generation() or self._mirror.graphs is None:
                await self._sync_mirror()
            job.update(store="public", union=True, default_graph=None, named_graphs=None)
        else:
            job.update(scope.whole().job())
        answer = await self._answer(job, shape.repeatable, client)
        header = answer.header
        if header["status"] == 400:
            raise errors.BadRequest(f"SPARQL syntax error: {header['message']}")
        if header["status"] == 406:
            raise errors.NotAcceptable(header["message"])
        if header["status"] == 422:
            raise errors.TooMuchMemory(header["message"])
        if header["status"] != 200:
            log.error("query failed: %s: %s", header.get("error"), header.get("message"))
            raise errors.SparqlError("the query could not be evaluated (internal error; it has been logged)")
        return Answer(200, header["content_type"], answer.body, header.get("truncated", False))

    async def _answer(self, job: dict[str, Any], repeatable: bool, client: str | None = None) -> WorkerAnswer:
        """The job's answer: the one given before at this generation of the store, or a worker's.

        The job is stamped with the generation of the store it runs on first: workers reopen a
        store that is newer, and the stamp is part of the cache key.
        """
        if job.get("store") == "public":
            assert self._mirror is not None
            job["generation"] = self._mirror.generation
        else:
            job["generation"] = self._generation()
        if self._answers is None or not repeatable:
            return await self._run(job, client)
        if self._answers_generation != self._generation():  # what is kept describes an older store
            self._answers.clear()
            self._answers_generation = self._generation()
        key = AnswerCache.key(job)
        answer = self._answers.get(key)
        if answer is None:
            answer = await self._run(job, client)
            if answer.header["status"] == 200:
                self._answers.put(key, answer)
        return answer

    async def _run(self, job: dict[str, Any], client: str | None = None) -> WorkerAnswer:
        """Run a stamped job (see :meth:`_answer`) where the store is: remote, in-process or a worker."""
        if self.remote:
            remote: WorkerAnswer = await self.store.query_http(job, self.timeout)
            return remote
        if self._pool is None:  # an in-memory store cannot be shared with workers: no hard deadline
            header, body = await asyncio.to_thread(run_job, self.store.oxigraph, job)
            return WorkerAnswer(header, body)
        generation = self._generation()
        if self._flushed != generation:
            await asyncio.to_thread(self.store.flush)
            self._flushed = generation
        try:
            return await self._pool.run(job, self.timeout, client)
        except QueryTimeout as exc:
            raise errors.Unavailable(str(exc)) from None
        except QueryTooLarge as exc:
            raise errors.TooMuchMemory(str(exc)) from None
        except TooManyQueries as exc:
            raise errors.TooManyRequests(str(exc), exc.retry_after) from None
        except WorkerCrashed:
            log.exception("a query crashed its worker processes")
            raise errors.SparqlError(
                "the query could not be evaluated: it stopped the process running it"
            ) from None

    # --- updates -------------------------------------------------------------------------------

    def require_admin(self, caller: Any) -> None:
        if caller is None:
            raise errors.Unauthorized("writing needs an admin's API token (Authorization: Bearer …)")
        if not getattr(caller, "is_admin", False):
            raise errors.Forbidden("only admins may write through SPARQL Update and the Graph Store protocol")

    async def _platform_graphs_exist(self) -> bool:
        admin = await self.admin_graphs()
        return any(g not in admin and g != registry.REGISTRY.value for g in await self.all_named())

    async def _unmanaged(self, graph: str) -> bool:
        """May SPARQL touch ``graph``: an admin's graph, or a name that is nobody's yet (outside the platform's areas)."""
        if graph in await self.admin_graphs():
            return True
        return graph not in await self.all_named() and not graph.startswith(self.prefixes)

    async def _check_writes(self, writes: set[str]) -> set[str]:
        """Refuse writes to the platform's graphs; returns the graphs the update would create (to register)."""
        created = set()
        for graph in sorted(writes):
            if graph in (DEFAULT, ALL_NAMED):  # ALL/NAMED are confined to unmanaged graphs (confine_bulk)
                continue
            if graph == ANY_GRAPH:
                if await self._platform_graphs_exist():
                    raise errors.Forbidden(
                        "this update writes to a graph chosen at run time (GRAPH ?var), which could be one "
                        "of the graphs the platform manages "
                        "(models, protocols, datasets, experiments, runs, ontologies, users); "
                        "name the unmanaged graphs you mean instead"
                    )
                continue
            if not await self._unmanaged(graph):
                raise errors.Forbidden(
                    f"<{graph}> is managed by the platform and read-only through SPARQL; "
                    "change it through the platform (GraphQL or the web pages)"
                )
            if graph not in await self.admin_graphs():
                created.add(graph)
        return created

    async def _check_reads(self, reads: set[str]) -> None:
        """Refuse updates that read the platform's graphs: their triples could be copied where everyone reads."""
        for graph in sorted(reads):
            if graph in (DEFAULT, ALL_NAMED):
                continue
            if graph == ANY_GRAPH:
                if await self._platform_graphs_exist():
                    raise errors.Forbidden(
                        "this update reads a graph chosen at run time (GRAPH ?var), which could be one of the "
                        "graphs the platform manages; an update may read only the default graph and admins' "
                        "graphs, so name them (GRAPH <…>, or USING NAMED <…>)"
                    )
                continue
            if not await self._unmanaged(graph):
                raise errors.Forbidden(
                    f"<{graph}> is managed by the platform: an update may not read it (what it copies would be "
                    "public); query it with SPARQL instead"
                )

    async def update(
        self, text: str, caller: Any, *, using: list[str] | None = None, using_named: list[str] | None = None
    ) -> None:
        self.require_admin(caller)
        shape = analyse_update(text, self.endpoint)
        using = [_iri(g, "using-graph-uri") for g in using or []]
        using_named = [_iri(g, "using-named-graph-uri") for g in using_named or []]
        if (using or using_named) and shape.has_dataset_clause:
            raise errors.BadRequest(
                "using-graph-uri/using-named-graph-uri cannot be combined with USING, "
                "USING NAMED or WITH in the update"
            )
        self._check_services(shape.services)
        for url in shape.loads:
            if url not in self.service_allow:
                raise errors.BadRequest(
                    f"LOAD <{url}> is refused: the server does not fetch URLs unless an administrator allows "
                    "them (WEBLAB_SPARQL_SERVICE_ALLOW); send the data with the Graph Store protocol instead"
                )
        created = await self._check_writes(shape.writes)
        reads = shape.reads | set(using) | set(using_named)
        if using or using_named:  # the protocol's dataset is the whole dataset of every WHERE
            reads.discard(ANY_GRAPH)
        await self._check_reads(reads)
        protocol_dataset = " ".join(
            [f"FROM <{g}>" for g in using] + [f"FROM NAMED <{g}>" for g in using_named]
        )
        async with self._write_lock:
            await self._rehearse(text, shape, protocol_dataset)
            final = with_protocol_dataset(text, shape, using, using_named)
            if shape.bulk:
                writable = sorted(await self.admin_graphs() & set(await self.all_named()))
                final = confine_bulk(final, analyse_update(final, self.endpoint), writable)
            if created:  # registered in the same transaction as the writes that create them
                final = f"{final}\n;\n{registry.register_update(created)}"
            try:
                await asyncio.to_thread(self.store.update, final, base_iri=self.endpoint)
            except SyntaxError as exc:
                raise errors.BadRequest(f"SPARQL syntax error: {exc}") from None
            except (RuntimeError, OSError, ValueError) as exc:
                raise errors.BadRequest(f"the update failed: {exc}") from None

    async def _rehearse(self, text: str, shape: Any, protocol_dataset: str) -> None:
        """Evaluate the update's WHERE parts in a killable worker first, under the deadline.

        Oxigraph applies an update in one uninterruptible call; its costly part is the
        WHERE evaluation. Running it as a query first means an update that would overrun
        is stopped (503) before it has written anything.
        """
        if not shape.where_blocks or self._pool is None:
            return
        prologue = shape.prologue_text(text)
        for start, end, dataset in shape.where_blocks:
            dataset = protocol_dataset or dataset
            query = f"{prologue}\nSELECT (COUNT(*) AS ?n) {dataset} WHERE {text[start:end]}"
            job = {
                "query": query,
                "base_iri": self.endpoint,
                "format": "json",
                "max_rows": 1,
                "union": False,
                "default_graph": None,
                "named_graphs": None,
            }
            if not dataset:
                job["default_graph"] = [""]
            await self._answer(job, repeatable=False)

    # --- graph store ---------------------------------------------------------------------------

    async def graph_exists(self, caller: Any, graph: str | None) -> bool:
        if graph is None:
            return True
        if not (await self.visible_to(caller)).allows(graph):
            return False
        return await asyncio.to_thread(self.store.has_graph, ox.NamedNode(graph))

    async def graph_read(
        self, caller: Any, graph: str | None, *, accept: str | None, format: str | None = None
    ) -> Answer:
        fmt = self._format("CONSTRUCT", accept, format)
        if not await self.graph_exists(caller, graph):
            raise errors.NotFound("no such graph")
        if graph is None:
            triples = await asyncio.to_thread(lambda: list(self.store.default_triples()))
        else:
            triples = await asyncio.to_thread(lambda: list(self.store.triples(ox.NamedNode(graph))))
        body = await asyncio.to_thread(formats.serialize_triples, triples, fmt)
        return Answer(200, formats.content_type(fmt), body)

    def parse_body(self, body: bytes, content_type: str | None, graph: str | None) -> list[ox.Triple]:
        if len(body) > self.max_body_bytes:
            raise errors.PayloadTooLarge(f"the body is larger than the {self.max_body_bytes} bytes allowed")
        media = (content_type or "").split(";")[0].strip().lower()
        rdf_format = ox.RdfFormat.from_media_type(media) if media else None
        if rdf_format is None or media == "text/plain":
            raise errors.UnsupportedMediaType(
                f"cannot read a body of type {media or '(none)'!r}; send text/turtle, application/n-triples, "
                "application/rdf+xml, application/ld+json, application/trig or application/n-quads"
            )
        base = graph or self.graph_store + "/"
        try:
            return _parse_triples(body, rdf_format, base)
        except SyntaxError as exc:
            # Leniency for one common slip, which the W3C Graph Store suite's own examples make:
            # a Turtle document whose last triple lacks its final '.'.
            if rdf_format == ox.RdfFormat.TURTLE:
                try:
                    return _parse_triples(body + b"\n.\n", rdf_format, base)
                except SyntaxError:
                    pass
            raise errors.BadRequest(f"the body is not valid {rdf_format.name}: {exc}") from None

    async def _writable(self, caller: Any, graph: str | None) -> None:
        self.require_admin(caller)
        if graph is not None and not await self._unmanaged(graph):
            raise errors.Forbidden(
                f"<{graph}> is managed by the platform and read-only through the Graph Store protocol"
            )

    def _create(self, graph: ox.NamedNode, triples: list[ox.Triple]) -> None:
        """Write a new admin's graph and register it (a crash between the two leaves it hidden, not public)."""
        self.store.replace_graph(graph, triples)
        registry.register(self.store, [graph.value])

    async def graph_put(self, caller: Any, graph: str | None, triples: list[ox.Triple]) -> bool:
        """Replace a graph; True when it did not exist before."""
        await self._writable(caller, graph)
        async with self._write_lock:
            if graph is None:

                def replace_default() -> bool:
                    was_empty = next(iter(self.store.default_triples()), None) is None
                    self.store.clear_default()
                    self.store.add_to_default(triples)
                    return was_empty

                # "Created" when the default graph had no triples: the closest the default graph,
                # which always exists, comes to being new.
                return await asyncio.to_thread(replace_default)
            node = ox.NamedNode(graph)
            existed = await asyncio.to_thread(self.store.has_graph, node)
            await asyncio.to_thread(self._create, node, triples)
            return not existed

    async def graph_post(self, caller: Any, graph: str | None, triples: list[ox.Triple]) -> bool:
        """Merge into a graph; True when it did not exist before."""
        await self._writable(caller, graph)
        async with self._write_lock:
            if graph is None:
                await asyncio.to_thread(self.store.add_to_default, triples)
                return False
            node = ox.NamedNode(graph)
            existed = await asyncio.to_thread(self.store.has_graph, node)
            if existed:
                await asyncio.to_thread(self.store.add, node, triples)
            else:
                await asyncio.to_thread(self._create, node, triples)
            return not existed

    async def graph_create(self, caller: Any, triples: list[ox.Triple]) -> str:
        """POST to the graph store itself: a new graph with a fresh IRI, which is returned."""
        await self._writable(caller, None)
        graph = f"{self.graph_store}/{uuid.uuid4()}"
        async with self._write_lock:
            await asyncio.to_thread(self._create, ox.NamedNode(graph), triples)
        return graph

    async def graph_delete(self, caller: Any, graph: str | None) -> None:
        await self._writable(caller, graph)
        async with self._write_lock:
            if graph is None:
                await asyncio.to_thread(self.store.clear_default)
                return
            node = ox.NamedNode(graph)
            if not await asyncio.to_thread(self.store.has_graph, node):
                raise errors.NotFound("no such graph")
            await asyncio.to_thread(self.store.drop_graph, node)
