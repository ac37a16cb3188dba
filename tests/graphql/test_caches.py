"""Answers shared between requests (schema/caches.py) are never stale: a write to the store, or a new run in
the database, shows in the very next answer; repeated anonymous reads are served from the cache."""

from __future__ import annotations

import secrets

from resolvers import runs
from resolvers.entities import Entities
from resolvers.metadata import Kind
from resolvers.services import Services
from tests.graphql.conftest import Gql

FIND = "query($t: String!) { models(text: $t) { totalCount nodes { name } } }"


async def test_anonymous_answers_follow_every_write(gql: Gql, entities: Entities, make_user, cellml) -> None:
    owner, _ = await make_user("cached")
    tag = secrets.token_hex(4)
    before = await gql(FIND, {"t": tag})
    again = await gql(FIND, {"t": tag})
    assert again["data"] == before["data"] == {"models": {"totalCount": 0, "nodes": []}}
    assert (
        again["extensions"].get("responseCache") == "hit"
    )  # nothing changed: the same answer, not recomputed
    assert await gql(FIND, {"t": tag}) == again  # later hits send the first hit's encoded answer
    await entities.publish(owner, Kind.MODEL, f"cached {tag}", [cellml("noble_model_1962.cellml")])
    after = await gql(FIND, {"t": tag})
    assert after["data"] == {"models": {"totalCount": 1, "nodes": [{"name": f"cached {tag}"}]}}
    assert "responseCache" not in after["extensions"]


async def test_answers_that_read_the_database_are_not_shared(
    gql: Gql, services: Services, entities: Entities, make_user, cellml, protocol_file
) -> None:
    owner, token = await make_user("cachedruns")
    tag = secrets.token_hex(4)
    _, model = await entities.publish(
        owner, Kind.MODEL, f"m {tag}", [cellml("beeler_reuter_model_1977.cellml")]
    )
    _, protocol = await entities.publish(owner, Kind.PROTOCOL, f"p {tag}", [protocol_file("SinglePace.txt")])
    queued = await runs.create_run(services, model.uri, protocol.uri)  # publishing may have queued it already
    await runs.mark_cancelled(services, queued.id, "make room for another run")
    query = "{ counts { runs } }"
    first = await gql(query)
    await gql(query)
    again = await runs.create_run(
        services, model.uri, protocol.uri
    )  # a database row: the store does not change
    assert again.id != queued.id
    after = await gql(query)
    assert after["data"]["counts"]["runs"] == first["data"]["counts"]["runs"] + 1, (first, after)
    assert "responseCache" not in after["extensions"]


async def test_signed_in_callers_are_answered_afresh(gql: Gql, make_user) -> None:
    _, token = await make_user("cachedme")
    query = "{ me { name } models(first: 1) { totalCount } }"
    await gql(query, token=token)
    second = await gql(query, token=token)
    assert second["data"]["me"] is not None and "responseCache" not in second["extensions"]


async def test_mutations_are_never_answered_from_the_cache(gql: Gql) -> None:
    query = "mutation { logout { __typename } }"
    first = await gql(query)
    second = await gql(query)
    assert "errors" not in first and "responseCache" not in second.get("extensions", {})


def test_a_store_written_elsewhere_is_never_cached(services: Services) -> None:
    # a remote SPARQL server may be written by other processes: its reads are made afresh every time
    from resolvers.store_cache import GenerationCache, generation_of

    class Remote:
        generation = 0  # counts only this process's writes

    reads: list[int] = []
    cache = GenerationCache()
    for _ in range(2):
        cache.get(Remote(), "k", lambda: reads.append(1))
    assert len(reads) == 2 and generation_of(Remote()) is None
    assert generation_of(services.store) == services.store.generation  # the embedded store is cached
