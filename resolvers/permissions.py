"""Who may see and do what: the one place that decides, used by every reader and writer.

Rules (ARCHITECTURE.md, "Visibility"):

- a version is ``private``, ``public`` or ``moderated``; anyone, anonymous included,
  sees public and moderated versions; the entity's owner, its collaborators and
  admins also see private ones;
- the owner and collaborators add versions and tag them; the owner or an admin
  deletes versions and entities, sets visibility and grants collaborators;
  only moderators and admins may set ``moderated`` (or change a moderated version);
- an entity is visible when the caller may see one of its versions, or may edit it;
- any other graph of the platform's is visible when it says so (``weblab:visibility``), when
  every version it depends on is visible (``weblab:visibilityFrom``: experiments, runs),
  or when it is an ontology (``{BASE}ontologies/…``);
- what admins' graphs (:mod:`sparql.registry`) say about visibility or owners is ignored.

GraphQL, the SPARQL endpoint, linked-data pages and downloads all call
:func:`visible_graphs` or the ``can_*`` predicates; none decides on its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import pyoxigraph as ox

from resolvers.metadata import PREFIXES, WEBLAB, Visibility, user_name
from resolvers.services import Services
from sparql.registry import ADMIN_GRAPH, REGISTRY
from sparql.store import TripleStore, select


class Caller(Protocol):
    """What permissions need of a user (``resolvers.accounts.User`` satisfies it); None is anonymous."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def is_admin(self) -> bool: ...
    @property
    def is_moderator(self) -> bool: ...


@dataclass(frozen=True)
class Access:
    """Who holds rights over one entity: its owner's name and its collaborators' user ids."""

    owner: str
    collaborators: frozenset[int] = frozenset()


def is_owner(user: Caller | None, access: Access) -> bool:
    return user is not None and user.name == access.owner


def can_edit(user: Caller | None, access: Access) -> bool:
    """Add versions, tag versions: the owner, a collaborator or an admin."""
    if user is None:
        return False
    return user.is_admin or is_owner(user, access) or user.id in access.collaborators


def can_view(user: Caller | None, access: Access, visibility: Visibility) -> bool:
    """See one version with this visibility (its metadata, files and archive)."""
    if visibility in (Visibility.PUBLIC, Visibility.MODERATED):
        return True
    return can_edit(user, access)


def can_view_entity(user: Caller | None, access: Access, visibilities: Iterable[Visibility]) -> bool:
    """See an entity at all: one of its versions is visible to the caller, or the caller may edit it."""
    return can_edit(user, access) or any(can_view(user, access, v) for v in visibilities)


def can_delete(user: Caller | None, access: Access) -> bool:
    """Delete a version or the whole entity: the owner or an admin."""
    return user is not None and (user.is_admin or is_owner(user, access))


def can_manage_collaborators(user: Caller | None, access: Access) -> bool:
    return can_delete(user, access)


def can_set_visibility(user: Caller | None, access: Access, current: Visibility, new: Visibility) -> bool:
    """Change a version's visibility from ``current`` to ``new``.

    The owner (or an admin) chooses between private and public; moving into or out of
    ``moderated`` is an endorsement, so it takes a moderator or an admin.
    """
    if user is None:
        return False
    if Visibility.MODERATED in (current, new) and current != new:
        return user.is_admin or user.is_moderator
    return user.is_admin or is_owner(user, access)


# What admins' graphs say about visibility is ignored: only the platform's own graphs decide it.
_THE_PLATFORMS = f"FILTER NOT EXISTS {{ GRAPH {REGISTRY} {{ ?g a {ADMIN_GRAPH} }} }}"
_GRAPHS_QUERY = (
    PREFIXES
    + f"""
SELECT ?g ?vis ?entity ?owner ?dep WHERE {{
  {{
    GRAPH ?g {{ ?g weblab:visibility ?vis . OPTIONAL {{ ?g dcterms:isVersionOf ?entity }} }}
    {_THE_PLATFORMS}
    OPTIONAL {{ GRAPH ?entity {{ ?entity weblab:owner ?owner }} }}
  }} UNION {{
    GRAPH ?g {{ ?g weblab:owner ?owner }}
    {_THE_PLATFORMS}
    BIND(?g AS ?entity)
  }} UNION {{
    GRAPH ?g {{ ?g weblab:visibilityFrom ?dep }}
    {_THE_PLATFORMS}
  }}
}}"""
)


def visible_graphs_for(
    store: ox.Store, user: Caller | None, granted: Iterable[str], base_uri: str
) -> list[ox.NamedNode]:
    """The named graphs ``user`` may read, given the entity URIs the user collaborates on.

    One SPARQL query over the whole store; everything else is set arithmetic here.
    Admins see every named graph.
    """
    if user is not None and user.is_admin:
        return [g for g in store.named_graphs() if isinstance(g, ox.NamedNode)]
    granted = set(granted)
    versions: dict[str, tuple[str, str | None]] = {}  # version graph → (visibility, entity)
    plain: dict[str, str] = {}  # graph with a visibility but no entity → visibility
    owners: dict[str, str] = {}  # entity → owner name
    depends: dict[str, set[str]] = {}
    for s in select(store, _GRAPHS_QUERY):
        g = s["g"].value
        if s["dep"] is not None:
            depends.setdefault(g, set()).add(s["dep"].value)
            continue
        if s["owner"] is not None and s["entity"] is not None:
            owners[s["entity"].value] = user_name(base_uri, s["owner"].value)
        if s["vis"] is not None:
            vis = s["vis"].value.removeprefix(WEBLAB)
            if s["entity"] is not None:
                versions[g] = (vis, s["entity"].value)
            else:
                plain[g] = vis

    def may_edit(entity: str | None) -> bool:
        if user is None or entity is None:
            return False
        return entity in granted or owners.get(entity) == user.name

    visible: set[str] = set()
    for g, (vis, entity) in versions.items():
        if vis != Visibility.PRIVATE.value or may_edit(entity):
            visible.add(g)
            if entity is not None and entity in owners:
                visible.add(entity)
    visible.update(e for e in owners if may_edit(e))
    visible.update(g for g, vis in plain.items() if vis != Visibility.PRIVATE.value)
    visible.update(g for g, deps in depends.items() if deps <= visible)
    ontologies = base_uri.rstrip("/") + "/ontologies/"
    visible.update(
        g.value
        for g in store.named_graphs()
        if isinstance(g, ox.NamedNode) and g.value.startswith(ontologies)
    )
    return [ox.NamedNode(g) for g in sorted(visible)]


async def granted_entities(db: Any, user: Caller | None) -> set[str]:
    """The entity URIs ``user`` is a collaborator on (one SQL query)."""
    if user is None:
        return set()
    async with db.connection() as conn:
        cur = await conn.execute("SELECT entity_uri FROM collaborators WHERE user_id = %s", (user.id,))
        return {row[0] for row in await cur.fetchall()}


async def experiment_visible(
    model_version: str, protocol_version: str, version_visible: Callable[[str], Awaitable[bool]]
) -> bool:
    """The rule for an experiment and each of its runs: visible to whoever may see both its model version and
    its protocol version, so that no run (nor its results) reveals a version its reader may not see."""
    model, protocol = await asyncio.gather(version_visible(model_version), version_visible(protocol_version))
    return model and protocol


async def visible_graphs(
    source: Services | TripleStore | ox.Store, user: Caller | None, *, base_uri: str | None = None
) -> list[ox.NamedNode]:
    """The named graphs ``user`` (None: anonymous) may read: the dataset every reader must query over.

    With :class:`Services`: one SQL query for the caller's collaborator grants, one SPARQL query for the
    visibility of every graph. A bare store works too, with ``base_uri``, but then knows no grants.
    """
    if isinstance(source, Services):
        granted = set() if user is None or user.is_admin else await granted_entities(source.db, user)
        return visible_graphs_for(source.store.oxigraph, user, granted, base_uri or source.settings.base_uri)
    if base_uri is None:
        raise TypeError("visible_graphs of a bare store needs base_uri")
    oxigraph = source if isinstance(source, ox.Store) else source.oxigraph
    return visible_graphs_for(oxigraph, user, set(), base_uri)
