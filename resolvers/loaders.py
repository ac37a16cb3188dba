"""Per-request batched reads: every list of N things costs a constant number of store and database trips.

Resolvers ask the :class:`Loaders` of their context; loads made in the same
event-loop tick are merged into one SPARQL query with a ``VALUES`` block (or one
SQL query). Results are cached for the request, and a list query primes the
caches of what it has already read (a page of entities primes their versions).

Authorization is decided here, for every read, by ``resolvers.permissions``:
the caller's collaborator grants are read once per request (one SQL query),
and the ``Access`` built from them answers the same as the full collaborator
list would for this caller.

The batched SPARQL lives here because ``resolvers.metadata`` reads one entity
at a time; the queries only read the graphs ``resolvers.metadata`` writes, with
its vocabulary. GraphQL's types (``schema/``) read only through this class.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pyoxigraph as ox
from strawberry.dataloader import DataLoader

from ontology import compatibility as compat
from ontology import vocab
from resolvers import batch, metadata
from resolvers.accounts import User
from resolvers.entities import Entities
from resolvers.metadata import EntityRecord, Kind, VersionRecord, Visibility
from resolvers.permissions import (
    Access,
    can_edit,
    can_view,
    can_view_entity,
    experiment_visible,
    granted_entities,
)
from resolvers.repositories import Repositories
from resolvers.round_trips import count_cached, shared_cache_key
from resolvers.runs import Run
from resolvers.services import Services
from resolvers.store_cache import store_cache
from sparql.store import select

T = TypeVar("T")

_VERSION_CLASSES = {k: k.version_class for k in Kind}


def values(var: str, uris: Iterable[str]) -> str:
    """A SPARQL ``VALUES`` block; each URI goes through ``ox.NamedNode`` (validated, serialised safely)."""
    return f"VALUES ?{var} {{ {' '.join(str(ox.NamedNode(u)) for u in uris)} }}"


def _versions_query(entities: Sequence[str] | None, kind: Kind | None) -> str:
    restrict = values("e", entities) if entities is not None else ""
    classes = ", ".join(str(_VERSION_CLASSES[k]) for k in ([kind] if kind else list(Kind)))
    return (
        metadata.PREFIXES
        + f"""
SELECT ?e ?v ?class ?message ?creator ?created ?visibility ?sha ?main ?parent ?tag WHERE {{
  {restrict}
  GRAPH ?v {{ ?v dcterms:isVersionOf ?e ; a ?class ; dcterms:description ?message ; dcterms:creator ?creator ;
               dcterms:created ?created ; weblab:visibility ?visibility ; weblab:commit ?sha ;
               weblab:mainFile ?main .
             FILTER(?class IN ({classes}))
             OPTIONAL {{ ?v weblab:tag ?tag }} }}
  OPTIONAL {{ GRAPH ?link {{ ?v prov:wasRevisionOf ?parent }} FILTER(STR(?link) = CONCAT(STR(?v), "/revision")) }}
}}"""
    )


def _entities_query(uris: Sequence[str]) -> str:
    return (
        metadata.PREFIXES
        + f"""
SELECT ?e ?class ?name ?owner ?created ?protocol WHERE {{
  {values("e", uris)}
  GRAPH ?e {{ ?e a ?class ; dcterms:title ?name ; weblab:owner ?owner ; dcterms:created ?created .
             OPTIONAL {{ ?e weblab:protocol ?protocol }} }}
  FILTER(?class IN (weblab:Model, weblab:Protocol, weblab:Dataset))
}}"""
    )


@dataclass(frozen=True)
class VariableRow:
    uri: str
    component: str
    name: str
    units: str | None
    initial_value: str | None
    is_state: bool
    terms: tuple[str, ...]


@dataclass(frozen=True)
class InterfacePart:
    name: str
    units: str | None
    description: str | None
    default: str | None
    optional: bool


@dataclass
class InterfaceRow:
    required_terms: list[str]
    optional_terms: list[str]
    inputs: list[InterfacePart]
    outputs: list[InterfacePart]


class Loaders:
    """Batched, cached, permission-checked reads for one request."""

    def __init__(self, services: Services, user: User | None) -> None:
        self.services = services
        self.user = user
        self.base = services.settings.base_uri
        self.store = services.store
        self.ox = services.store.oxigraph
        self.entities = Entities.from_services(services)
        self.repos = Repositories(services.settings.repos_dir)
        self._tasks: dict[str, asyncio.Future[Any]] = {}
        self._by_kind: dict[Kind, list[EntityRecord]] = {}
        self._latest_protocols: list[tuple[EntityRecord, VersionRecord]] | None = None
        self._visible: dict[tuple[str, str], list[VersionRecord]] = {}
        # GraphQL objects already built in this request, by (type name, URI): a protocol that fits 50 models
        # is one Version object, not 50
        self.objects: dict[tuple[str, str], Any] = {}
        self.entity = DataLoader(self._load_entities)
        self.versions = DataLoader(self._load_versions)
        self.terms = DataLoader(self._load_terms)
        self.variables = DataLoader(self._load_variables)
        self.interface = DataLoader(self._load_interface)
        self.compatible = DataLoader(self._load_compatibility)
        self.collaborators = DataLoader(self._load_collaborators)
        self.pair = DataLoader(self._load_pairs)
        self.run = DataLoader(self._load_runs)
        self.history = DataLoader(self._load_history)
        self.outputs = DataLoader(self._load_outputs)
        self.version_runs = DataLoader(self._load_version_runs)

    # --- authorization -----------------------------------------------------------------------

    def _once(self, key: str, make: Callable[[], Awaitable[T]]) -> Awaitable[T]:
        """One shared task per key and request: concurrent first callers wait for the same query."""
        if key not in self._tasks:
            self._tasks[key] = asyncio.ensure_future(make())
        task: asyncio.Future[T] = self._tasks[key]
        return task

    async def granted(self) -> set[str]:
        """Entity URIs the caller collaborates on: one SQL query per request (none when anonymous)."""
        if self.user is None or self.user.is_admin:
            return set()
        return await self._once("granted", lambda: granted_entities(self.services.db, self.user))

    async def access(self, entity: EntityRecord) -> Access:
        """The entity's access as far as this caller is concerned (its own grant, if any)."""
        granted = await self.granted()
        mine = frozenset({self.user.id}) if self.user is not None and entity.uri in granted else frozenset()
        return Access(owner=entity.owner, collaborators=mine)

    async def visible_versions(self, entity: EntityRecord) -> list[VersionRecord]:
        """The entity's versions the caller may see, oldest first (decided once per entity and request)."""
        key = (entity.uri, entity.owner)
        if (found := self._visible.get(key)) is None:
            access = await self.access(entity)
            found = [
                v for v in await self.versions.load(entity.uri) if can_view(self.user, access, v.visibility)
            ]
            self._visible[key] = found
        return list(found)

    async def can_see(self, entity: EntityRecord) -> bool:
        access = await self.access(entity)
        everything = await self.versions.load(entity.uri)
        return can_view_entity(self.user, access, (v.visibility for v in everything))

    async def can_edit(self, entity: EntityRecord) -> bool:
        return can_edit(self.user, await self.access(entity))

    async def visible_entity(self, uri: str) -> EntityRecord | None:
        """The entity at ``uri`` if it exists and the caller may see it (else None: no existence leak)."""
        record = await self.entity.load(uri)
        if record is None or not await self.can_see(record):
            return None
        return record

    async def visible_version(self, uri: str) -> tuple[EntityRecord, VersionRecord] | None:
        entity_uri, sep, _ = uri.rpartition("/versions/")
        if not sep:
            return None
        entity = await self.visible_entity(entity_uri)
        if entity is None:
            return None
        for v in await self.visible_versions(entity):
            if v.uri == uri:
                return entity, v
        return None

    async def visible_entities(self, kind: Kind) -> list[EntityRecord]:
        """Every entity of a kind the caller may see: two SPARQL queries whatever their number."""
        return await self._once(f"entities:{kind.value}", lambda: self._visible_entities(kind))

    async def _visible_entities(self, kind: Kind) -> list[EntityRecord]:
        if kind not in self._by_kind:
            records, versions = self._read_kind(kind)
            for r in records:
                self.entity.prime(r.uri, r)
                self.versions.prime(r.uri, versions.get(r.uri, []))
            self._by_kind[kind] = [r for r in records if await self.can_see(r)]
        return self._by_kind[kind]

    async def visible_version_uris(self, kind: Kind) -> frozenset[str]:
        """Every version of a kind the caller may see (of entities it may see): from the whole-kind read."""
        return await self._once(f"version uris:{kind.value}", lambda: self._visible_version_uris(kind))

    async def _visible_version_uris(self, kind: Kind) -> frozenset[str]:
        uris: set[str] = set()
        for entity in await self.visible_entities(kind):
            uris.update(v.uri for v in await self.visible_versions(entity))
        return frozenset(uris)

    async def visible_runs_of_version(self, version_uri: str) -> list[Run]:
        """The runs using a version the caller may see, whose other version it may see too, newest first."""
        models, protocols = await asyncio.gather(
            self.visible_version_uris(Kind.MODEL), self.visible_version_uris(Kind.PROTOCOL)
        )
        visible = models | protocols

        async def version_visible(uri: str) -> bool:
            return uri in visible

        return [
            r
            for r in await self.version_runs.load(version_uri)
            if await experiment_visible(r.model_version_uri, r.protocol_version_uri, version_visible)
        ]

    def _read_kind(self, kind: Kind) -> tuple[list[EntityRecord], dict[str, list[VersionRecord]]]:
        """Every entity of a kind and all their versions (two queries), shared between requests until the store
        changes: the same for every caller, who each filter it through the permissions."""
        computed = False

        def read() -> tuple[list[EntityRecord], dict[str, list[VersionRecord]]]:
            nonlocal computed
            computed = True
            return metadata.list_entities(self.ox, self.base, kind), self._read_versions(None, kind)

        found = store_cache(shared_cache_key(self.store)).get(self.store, ("kind", self.base, kind), read)
        if not computed:
            count_cached(self.store, 2)
        return found

    async def latest_visible(self, entity: EntityRecord) -> VersionRecord | None:
        versions = await self.visible_versions(entity)
        return versions[-1] if versions else None

    # --- batched store reads -----------------------------------------------------------------

    async def _load_entities(self, uris: list[str]) -> list[EntityRecord | None]:
        found: dict[str, EntityRecord] = {}
        valid = [u for u in uris if _is_iri(u)]
        if valid:
            for s in select(self.ox, _entities_query(valid)):
                uri = s["e"].value
                kind = Kind(s["class"].value.removeprefix(metadata.WEBLAB).lower())
                found[uri] = EntityRecord(
                    uri=uri,
                    id=uri.rsplit("/", 1)[1],
                    kind=kind,
                    name=s["name"].value,
                    owner=metadata.user_name(self.base, s["owner"].value),
                    created=metadata.parse_datetime(s["created"]),
                    protocol=s["protocol"].value if s["protocol"] is not None else None,
                )
        return [found.get(u) for u in uris]

    def _read_versions(
        self, entities: Sequence[str] | None, kind: Kind | None
    ) -> dict[str, list[VersionRecord]]:
        records: dict[str, VersionRecord] = {}
        tags: dict[str, set[str]] = {}
        for s in select(self.ox, _versions_query(entities, kind)):
            uri = s["v"].value
            if s["tag"] is not None:
                tags.setdefault(uri, set()).add(s["tag"].value)
            if uri in records:
                continue
            records[uri] = VersionRecord(
                uri=uri,
                entity_uri=s["e"].value,
                sha=s["sha"].value,
                kind=Kind(s["class"].value.removeprefix(metadata.WEBLAB).removesuffix("Version").lower()),
                message=s["message"].value,
                author=metadata.user_name(self.base, s["creator"].value),
                created=metadata.parse_datetime(s["created"]),
                visibility=Visibility.from_term(s["visibility"]),
                main=s["main"].value,
                parent=s["parent"].value if s["parent"] is not None else None,
            )
        out: dict[str, list[VersionRecord]] = {}
        for r in sorted(records.values(), key=lambda r: r.created):
            tagged = VersionRecord(**{**r.__dict__, "tags": tuple(sorted(tags.get(r.uri, ())))})
            out.setdefault(r.entity_uri, []).append(tagged)
        return out

    async def _load_versions(self, entity_uris: list[str]) -> list[list[VersionRecord]]:
        valid = [u for u in entity_uris if _is_iri(u)]
        found = self._read_versions(valid, None) if valid else {}
        return [found.get(u, []) for u in entity_uris]

    def _cached(
        self, name: str, keys: list[Any], compute: Callable[[list[Any]], dict[Any, Any]]
    ) -> list[Any]:
        """One store read for the keys no earlier request (in this store generation) has read; counted as one
        read whether or not it was needed (``schema/context.py``)."""
        tagged = [(name, self.base, k) for k in keys]
        found, computed = store_cache(shared_cache_key(self.store)).get_many(
            self.store,
            tagged,
            lambda missing: {(name, self.base, k): v for k, v in compute([m[2] for m in missing]).items()},
        )
        if not computed:
            count_cached(self.store, 1)
        return [found[t] for t in tagged]

    async def _load_terms(self, version_uris: list[str]) -> list[list[str]]:
        return self._cached("terms", version_uris, self._read_terms)

    def _read_terms(self, version_uris: list[str]) -> dict[str, list[str]]:
        query = (
            vocab.PREFIXES
            + f"""
SELECT ?v ?t WHERE {{ {values("v", version_uris)} GRAPH ?v {{ ?v weblab:annotatedWith ?t }} }}"""
        )
        found: dict[str, set[str]] = {}
        for s in select(self.ox, query):
            found.setdefault(s["v"].value, set()).add(s["t"].value)
        return {u: sorted(found.get(u, ())) for u in version_uris}

    async def _load_variables(self, version_uris: list[str]) -> list[list[VariableRow]]:
        # Each OPTIONAL in a GRAPH of its own, after ?v and ?x are bound: with the OPTIONALs inside the one GRAPH
        # block, Oxigraph took ~100 times longer for one version (0.2 s instead of 2 ms, 28 variables).
        query = (
            vocab.PREFIXES
            + f"""
SELECT ?v ?x ?component ?name ?units ?initial ?state ?term WHERE {{
  {values("v", version_uris)}
  GRAPH ?v {{ ?v weblab:hasVariable ?x . ?x weblab:component ?component ; weblab:variableName ?name . }}
  OPTIONAL {{ GRAPH ?v {{ ?x weblab:units ?units }} }} OPTIONAL {{ GRAPH ?v {{ ?x weblab:initialValue ?initial }} }}
  OPTIONAL {{ GRAPH ?v {{ ?x weblab:isStateVariable ?state }} }}
  OPTIONAL {{ GRAPH ?v {{ ?x bqbiol:is|bqbiol:isVersionOf|rdf:type ?term FILTER(?term != weblab:ModelVariable) }} }}
}}"""
        )
        rows: dict[str, dict[str, dict[str, Any]]] = {}
        for s in select(self.ox, query):
            var = rows.setdefault(s["v"].value, {}).setdefault(
                s["x"].value,
                {
                    "component": s["component"].value,
                    "name": s["name"].value,
                    "units": s["units"].value if s["units"] is not None else None,
                    "initial": s["initial"].value if s["initial"] is not None else None,
                    "state": s["state"] is not None and s["state"].value == "true",
                    "terms": set(),
                },
            )
            if s["term"] is not None:
                var["terms"].add(s["term"].value)
        return [
            sorted(
                (
                    VariableRow(
                        x,
                        d["component"],
                        d["name"],
                        d["units"],
                        d["initial"],
                        d["state"],
                        tuple(sorted(d["terms"])),
                    )
                    for x, d in rows.get(u, {}).items()
                ),
                key=lambda r: (r.component, r.name),
            )
            for u in version_uris
        ]

    async def _load_interface(self, version_uris: list[str]) -> list[InterfaceRow]:
        query = (
            vocab.PREFIXES
            + f"""
SELECT ?v ?how ?t ?part ?name ?units ?description ?default ?optional WHERE {{
  {values("v", version_uris)}
  GRAPH ?v {{
    {{ ?v ?how ?t FILTER(?how IN (weblab:requiresTerm, weblab:optionalTerm)) }}
    UNION
    {{ ?v ?how ?part FILTER(?how IN (weblab:hasInput, weblab:hasOutput)) ?part weblab:name ?name .
       OPTIONAL {{ ?part weblab:units ?units }} OPTIONAL {{ ?part dcterms:description ?description }}
       OPTIONAL {{ ?part weblab:defaultValue ?default }} OPTIONAL {{ ?part weblab:isOptional ?optional }} }}
  }}
}}"""
        )
        out = {u: InterfaceRow([], [], [], []) for u in version_uris}
        for s in select(self.ox, query):
            row = out[s["v"].value]
            how = s["how"].value
            if how == vocab.REQUIRES_TERM.value:
                row.required_terms.append(s["t"].value)
            elif how == vocab.OPTIONAL_TERM.value:
                row.optional_terms.append(s["t"].value)
            else:
                part = InterfacePart(
                    s["name"].value,
                    _value(s["units"]),
                    _value(s["description"]),
                    _value(s["default"]),
                    s["optional"] is not None and s["optional"].value == "true",
                )
                (row.inputs if how == vocab.HAS_INPUT.value else row.outputs).append(part)
        for row in out.values():
            row.required_terms.sort()
            row.optional_terms.sort()
            row.inputs.sort(key=lambda p: p.name)
            row.outputs.sort(key=lambda p: p.name)
        return [out[u] for u in version_uris]

    async def latest_protocol_versions(self) -> list[tuple[EntityRecord, VersionRecord]]:
        """The newest visible version of every visible protocol, with its entity (computed once per request)."""
        return await self._once("latest protocols", self._latest_protocol_versions)

    async def _latest_protocol_versions(self) -> list[tuple[EntityRecord, VersionRecord]]:
        if self._latest_protocols is None:
            protocols = await self.visible_entities(Kind.PROTOCOL)
            latest = [(p, await self.latest_visible(p)) for p in protocols]
            self._latest_protocols = [(p, v) for p, v in latest if v is not None]
        return self._latest_protocols

    async def _load_compatibility(self, model_versions: list[str]) -> list[list[compat.Compatibility]]:
        """Each model version against the latest visible version of every visible protocol: one query."""
        return self.grid(model_versions, [v.uri for _, v in await self.latest_protocol_versions()])

    def grid(
        self, model_versions: list[str], protocol_versions: list[str]
    ) -> list[list[compat.Compatibility]]:
        """Each model version against these protocol versions (rows in their order): one store read, shared by
        the requests of one store generation (the experiment matrix asks for ~2,000 pairs at once)."""
        protocols = tuple(protocol_versions)

        def read(keys: list[tuple[str, tuple[str, ...]]]) -> dict[tuple[str, tuple[str, ...]], Any]:
            grid = batch.compatibility_grid(self.store, self.base, [m for m, _ in keys], list(protocols))
            return {k: row for k, row in zip(keys, grid, strict=True)}

        return self._cached("compatibility", [(m, protocols) for m in model_versions], read)

    async def _load_pairs(self, pairs: list[tuple[str, str]]) -> list[compat.Compatibility]:
        """Compatibility of (model version, protocol version) pairs: one query for all of them."""
        return batch.compatibility_of_pairs(self.store, self.base, pairs)

    # --- batched database reads --------------------------------------------------------------

    async def _load_collaborators(self, entity_uris: list[str]) -> list[list[str]]:
        async with self.services.db.connection() as conn:
            cur = await conn.execute(
                "SELECT c.entity_uri, u.name FROM collaborators c JOIN users u ON u.id = c.user_id"
                " WHERE c.entity_uri = ANY(%s) ORDER BY u.name",
                (entity_uris,),
            )
            rows = await cur.fetchall()
        found: dict[str, list[str]] = {}
        for uri, name in rows:
            found.setdefault(uri, []).append(name)
        return [found.get(u, []) for u in entity_uris]

    async def _load_runs(self, ids: list[str]) -> list[Run | None]:
        found = await batch.runs_by_id(self.services.db, ids)
        return [found.get(i) for i in ids]

    async def histories(self, experiments: list[str]) -> list[list[Run]]:
        """``history.load_many`` in one call, without a future per experiment (the matrix asks for ~2,000)."""
        return await self._load_history(experiments)

    async def _load_history(self, experiments: list[str]) -> list[list[Run]]:
        """Every run of each experiment, newest first (the first is the experiment's current run)."""
        found = await batch.runs_of_experiments(self.services.db, experiments)
        for history in found.values():
            for run in history:
                self.run.prime(run.id, run)
        return [found.get(e, []) for e in experiments]

    async def _load_version_runs(self, version_uris: list[str]) -> list[list[Run]]:
        found = await batch.runs_of_versions(self.services.db, version_uris)
        return [found.get(v, []) for v in version_uris]

    async def _load_outputs(self, run_uris: list[str]) -> list[list[OutputRow]]:
        query = (
            vocab.PREFIXES
            + f"""
SELECT ?r ?o ?name ?file ?description ?units ?shape ?value ?values WHERE {{
  {values("r", run_uris)}
  GRAPH ?r {{ ?r prov:generated ?o . ?o a weblab:Output ; weblab:name ?name .
             OPTIONAL {{ ?o weblab:file ?file }} OPTIONAL {{ ?o dcterms:description ?description }}
             OPTIONAL {{ ?o weblab:units ?units }} OPTIONAL {{ ?o weblab:shape ?shape }}
             OPTIONAL {{ ?o rdf:value ?value }} OPTIONAL {{ ?o weblab:values ?values }} }}
}}"""
        )
        found: dict[str, dict[str, OutputRow]] = {}
        for s in select(self.ox, query):
            shape = tuple(int(n) for n in s["shape"].value.split(",")) if s["shape"] is not None else ()
            if s["value"] is not None:
                numbers: tuple[float, ...] | None = (float(s["value"].value),)
            elif s["values"] is not None:
                numbers = tuple(float(x) for x in s["values"].value.split())
            else:
                numbers = None
            found.setdefault(s["r"].value, {})[s["name"].value] = OutputRow(
                s["name"].value,
                _value(s["file"]) or "",
                _value(s["description"]) or "",
                _value(s["units"]) or "",
                shape,
                numbers,
            )
        return [sorted(found.get(u, {}).values(), key=lambda o: o.name) for u in run_uris]

    async def visible_run(self, run_id: str) -> Run | None:
        """The run if the caller may see it (``permissions.experiment_visible``)."""
        run = await self.run.load(run_id)
        if run is None:
            return None

        async def version_visible(uri: str) -> bool:
            return await self.visible_version(uri) is not None

        return (
            run
            if await experiment_visible(run.model_version_uri, run.protocol_version_uri, version_visible)
            else None
        )


@dataclass(frozen=True)
class OutputRow:
    name: str
    file: str
    description: str
    units: str
    shape: tuple[int, ...]
    values: tuple[float, ...] | None


def _value(term: Any) -> str | None:
    return term.value if term is not None else None


def _is_iri(uri: str) -> bool:
    try:
        ox.NamedNode(uri)
    except ValueError:
        return False
    return True
