"""GraphQL over HTTP (GET, POST, no mutations over GET), the GraphiQL page from our own files, the limits
(depth, aliases, tokens, cost, page size) each with a clear error, and the committed SDL being current."""

from __future__ import annotations

from pathlib import Path

import httpx

from schema.limits import Limits
from schema.schema import sdl
from tests.graphql.conftest import Gql

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema" / "schema.graphql"


def test_committed_schema_is_current() -> None:
    assert SCHEMA_FILE.read_text() == sdl(), (
        "schema/schema.graphql is stale: run `python -m schema.schema > schema/schema.graphql`"
    )


def test_every_type_and_field_is_described() -> None:
    from schema.schema import schema

    missing = []
    for name, t in schema._schema.type_map.items():
        if name.startswith("__") or name in ("String", "Int", "Float", "Boolean", "ID", "DateTime", "Upload"):
            continue
        if not t.description:
            missing.append(name)
        for field_name, f in (getattr(t, "fields", None) or {}).items():
            if not f.description:
                missing.append(f"{name}.{field_name}")
    assert not missing, f"add descriptions to: {', '.join(missing)}"


async def test_get_and_post(gclient: httpx.AsyncClient) -> None:
    query = '{ ontologyTerms(text: "membrane_voltage") { iri label } }'
    got = await gclient.get("/graphql", params={"query": query}, headers={"Accept": "application/json"})
    posted = await gclient.post("/graphql", json={"query": query})
    assert got.status_code == posted.status_code == 200
    assert got.json()["data"] == posted.json()["data"]
    assert any(t["iri"].endswith("#membrane_voltage") for t in got.json()["data"]["ontologyTerms"])


async def test_no_mutation_over_get(gclient: httpx.AsyncClient) -> None:
    response = await gclient.get(
        "/graphql", params={"query": "mutation { logout { ok } }"}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 405


async def test_graphiql_is_served_from_our_files(gclient: httpx.AsyncClient) -> None:
    page = await gclient.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "cdn" not in page.text.lower() and "unpkg" not in page.text.lower()
    for asset in (
        "graphiql.min.js",
        "graphiql.min.css",
        "react.production.min.js",
        "react-dom.production.min.js",
    ):
        assert f"/static/vendor/graphiql/{asset}" in page.text
        served = await gclient.get(f"/static/vendor/graphiql/{asset}")
        assert served.status_code == 200 and len(served.content) > 1000, asset


async def test_depth_limit(gql: Gql) -> None:
    limit = Limits().depth
    inner = "name"
    for _ in range(limit):
        inner = f"latestVersion {{ entity {{ {inner} }} }}"
    body = await gql(f"{{ models(first: 1) {{ nodes {{ {inner} }} }} }}")
    assert "exceeds maximum operation depth" in body["errors"][0]["message"]


async def test_alias_limit(gql: Gql) -> None:
    limit = Limits().aliases
    fields = " ".join(f"a{i}: me {{ name }}" for i in range(limit + 1))
    body = await gql(f"{{ {fields} }}")
    assert f"{limit}" in body["errors"][0]["message"] and "alias" in body["errors"][0]["message"].lower()


async def test_token_limit(gql: Gql) -> None:
    limit = Limits().tokens
    fields = " ".join(["__typename"] * (limit + 1))
    body = await gql(f"{{ {fields} }}")
    assert "token" in body["errors"][0]["message"].lower()


async def test_cost_limit(gql: Gql) -> None:
    body = await gql("""{ models(first: 100) { edges { node { versions(first: 100) { edges { node {
        files { path } terms { iri } } } } } } } }""")
    message = body["errors"][0]["message"]
    assert f"over the limit of {Limits().cost}" in message and "smaller pages" in message
    cheap = await gql(
        "{ models(first: 10) { edges { node { versions(first: 10) { edges { node { sha } } } } } } }"
    )
    assert "errors" not in cheap
    # page sizes given as variables count with their values
    nested = "query($n: Int!) { models(first: $n) { nodes { versions(first: $n) { nodes { sha files { path } } } } } }"
    assert "errors" not in await gql(nested, {"n": 10})
    assert "over the limit" in (await gql(nested, {"n": 100}))["errors"][0]["message"]


async def test_limits_come_from_settings() -> None:
    class S:
        graphql_limits = {"depth": 3, "page_size": 7}

    assert Limits.from_settings(S()) == Limits(depth=3, page_size=7)

    class Bad:
        graphql_limits = {"detph": 3}

    try:
        Limits.from_settings(Bad())
    except ValueError as exc:
        assert "detph" in str(exc)
    else:
        raise AssertionError("an unknown limit must be refused")


def test_internal_errors_are_masked_user_errors_are_not() -> None:
    from graphql import GraphQLError

    from resolvers.errors import ValidationError
    from schema.schema import is_internal

    assert is_internal(GraphQLError("boom", original_error=KeyError("secret path /srv/x")))
    assert not is_internal(GraphQLError("first: too big", original_error=ValidationError("first", "too big")))
    assert not is_internal(GraphQLError("Unknown argument 'x'"))


async def test_graphql_response_media_type(gclient: httpx.AsyncClient) -> None:
    accept = {"Accept": "application/graphql-response+json"}
    ok = await gclient.post("/graphql", json={"query": "{ me { name } }"}, headers=accept)
    assert ok.status_code == 200 and ok.headers["content-type"].startswith(
        "application/graphql-response+json"
    )
    invalid = await gclient.post("/graphql", json={"query": "{ nope }"}, headers=accept)
    assert invalid.status_code == 400 and invalid.json()["errors"]
    legacy = await gclient.post("/graphql", json={"query": "{ nope }"})  # application/json: 200 with errors
    assert legacy.status_code == 200 and legacy.headers["content-type"].startswith("application/json")
