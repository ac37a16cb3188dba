"""How much one request may send the server, and what it may cost the event loop (security issue #16, part 2).

- Request bodies are bounded (``WEBLAB_MAX_BODY_BYTES``, 1 MiB by default) for GraphQL, SPARQL, forms and JSON:
  413 in the one JSON error shape, whether ``Content-Length`` says too much up front or a chunked body grows
  past the limit as it streams. Uploads (multipart to the entity routes and to ``/graphql``) and runner result
  archives keep their own, larger bounds.
- GraphQL string arguments are bounded (``WEBLAB_GRAPHQL_LIMITS`` ``string_length``, 10,000 characters):
  an over-long one is an error naming the argument and the limit, inline or through a variable.
- A text search runs off the event loop: ``/healthz`` answers while searches are running.
- A malformed multipart body (such as a 5,000-character file name) is 400 in the JSON error shape.

Replayed over HTTP against a real server (``tests.servers``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from resolvers import db
from tests import servers
from tests.conftest import SHARED_DATA, bearer, fresh_database, user_maker

LIMIT = 1 << 20  # the default WEBLAB_MAX_BODY_BYTES
OVER = LIMIT + 64 * 1024
MODEL = SHARED_DATA / "cellml" / "beeler_reuter_model_1977.cellml"
SEARCH = "query Search($text: String) { models(text: $text) { totalCount } }"


def _chunked(body: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    """The body as an async generator: httpx sends it chunked, without Content-Length."""

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), size):
            yield body[start : start + size]

    return chunks()


def _too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text[:500]
    error = response.json()["error"]
    assert error["code"] == "too_large"
    assert str(LIMIT) in error["message"]


def _bodies() -> list[tuple[str, str, bytes]]:
    """(path, content type, body over the limit) for each kind of small request the platform takes."""
    query = "SELECT * WHERE { ?s ?p ?o } # " + "x" * OVER
    return [
        (
            "/graphql",
            "application/json",
            json.dumps({"query": "{ __typename }", "variables": {"x": "y" * OVER}}).encode(),
        ),
        ("/sparql", "application/x-www-form-urlencoded", ("query=" + "x" * OVER).encode()),
        ("/sparql", "application/sparql-query", query.encode()),
        ("/auth/login", "application/json", json.dumps({"name": "n" * OVER, "password": "p"}).encode()),
        ("/auth/login", "application/x-www-form-urlencoded", ("name=" + "n" * OVER + "&password=p").encode()),
    ]


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    _bodies(),
    ids=["graphql", "sparql-form", "sparql-query", "login-json", "login-form"],
)
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_body_over_the_limit_is_413_json(
    http: httpx.AsyncClient, path: str, content_type: str, body: bytes, chunked: bool
) -> None:
    content = _chunked(body) if chunked else body
    response = await http.post(path, content=content, headers={"Content-Type": content_type})
    _too_large(response)


async def test_a_body_within_the_limit_is_answered(http: httpx.AsyncClient) -> None:
    """Just under the limit is not refused: the limit is the setting, not something smaller."""
    padding = LIMIT - 200
    body = json.dumps({"query": "{ __typename }", "extensions": {"pad": "p" * padding}}).encode()
    assert len(body) <= LIMIT
    response = await http.post(
        "/graphql", content=_chunked(body), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text[:500]
    assert response.json()["data"] == {"__typename": "Query"}


async def test_uploads_and_result_archives_keep_their_larger_bounds(
    http: httpx.AsyncClient, server_user
) -> None:  # noqa: ANN001
    """Multipart uploads (REST and GraphQL) and runner result archives are bounded by the upload limits,
    not by the 1 MiB of ordinary requests."""
    _, token = await server_user("uploader")
    big = b"t,v\n" + b"0.5,1.25\n" * (LIMIT // 4)  # a 2 MiB data set
    rest = await http.post(
        "/datasets", headers=bearer(token), data={"name": "big-dataset"}, files=[("files", ("big.csv", big))]
    )
    assert rest.status_code != 413, rest.text[:500]
    operations = {
        "query": 'mutation($f: [Upload!]!) { createEntity(kind: DATASET, name: "big-gql", files: $f) '
        "{ __typename } }",
        "variables": {"f": [None]},
    }
    gql = await http.post(
        "/graphql",
        headers=bearer(token),
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.f.0"]})},
        files=[("0", ("big.csv", big))],
    )
    assert gql.status_code != 413, gql.text[:500]
    # unsigned, so refused — but for the signature (401), not the size of the archive
    result = await http.post(
        "/runner/runs/1/result?claim=x&status=succeeded",
        content=big,
        headers={"Content-Type": "application/zip"},
    )
    assert result.status_code == 401, result.text[:500]


async def test_an_over_long_string_argument_is_refused_naming_it(http: httpx.AsyncClient) -> None:
    long = "x" * 20_000
    inline = await http.post("/graphql", json={"query": f'{{ models(text: "{long}") {{ totalCount }} }}'})
    via_variable = await http.post("/graphql", json={"query": SEARCH, "variables": {"text": long}})
    for response in (inline, via_variable):
        assert response.status_code in (200, 400), response.text[:500]
        answer = response.json()
        assert answer.get("data") is None
        message = answer["errors"][0]["message"]
        assert "text" in message and "10000" in message, message
    assert "$text" in via_variable.json()["errors"][0]["message"]
    within = await http.post("/graphql", json={"query": SEARCH, "variables": {"text": "x" * 10_000}})
    assert within.status_code == 200 and "errors" not in within.json(), within.text[:500]


async def test_an_over_long_subscription_argument_is_an_error_message(server: str) -> None:
    """Over WebSocket too: the operation gets an ``error`` message naming the argument; the socket stays open."""
    url = server.replace("http://", "ws://").rstrip("/") + "/graphql"
    async with connect(url, subprotocols=["graphql-transport-ws"], proxy=None, max_size=None) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        long = "x" * 20_000
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": f'subscription {{ newVersions(entity: "{long}") {{ id }} }}'},
                }
            )
        )
        answer = json.loads(await asyncio.wait_for(ws.recv(), 30))
        assert answer["type"] == "error" and answer["id"] == "1", answer
        assert "entity" in answer["payload"][0]["message"] and "10000" in answer["payload"][0]["message"]
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] == "pong"


async def test_a_5_mb_text_search_is_refused(http: httpx.AsyncClient) -> None:
    text = "x" * (5 << 20)
    inline = await http.post("/graphql", json={"query": f'{{ models(text: "{text}") {{ totalCount }} }}'})
    _too_large(inline)
    via_variable = await http.post("/graphql", json={"query": SEARCH, "variables": {"text": text}})
    _too_large(via_variable)


def _multipart(filename: str, boundary: str = "weblabboundary") -> bytes:
    return (
        f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nlong-name\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{filename}"\r\n'
        f"Content-Type: text/plain\r\n\r\nx\r\n--{boundary}--\r\n"
    ).encode()


@pytest.mark.parametrize("path", ["/models", "/protocols", "/datasets", "/graphql"])
async def test_a_5000_character_file_name_is_400_json(
    http: httpx.AsyncClient, server_user, path: str
) -> None:  # noqa: ANN001
    _, token = await server_user("longname")
    response = await http.post(
        path,
        content=_multipart("a" * 5000 + ".txt"),
        headers={**bearer(token), "Content-Type": "multipart/form-data; boundary=weblabboundary"},
    )
    assert response.status_code == 400, response.text[:500]
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert "header" in error["message"] and "file name" in error["message"], error


async def test_malformed_multipart_is_400_json(http: httpx.AsyncClient, server_user) -> None:  # noqa: ANN001
    _, token = await server_user("malformed")
    for path in ("/models", "/graphql"):
        response = await http.post(
            path,
            content=b"--weblabboundary\r\nnot a header line\r\n\r\n",
            headers={**bearer(token), "Content-Type": "multipart/form-data; boundary=weblabboundary"},
        )
        assert response.status_code == 400, response.text[:500]
        assert response.json()["error"]["code"] == "invalid"
        missing = await http.post(
            path, content=b"x", headers={**bearer(token), "Content-Type": "multipart/form-data"}
        )
        assert missing.status_code == 400, missing.text[:500]
        assert "boundary" in missing.json()["error"]["message"]


async def test_graphql_transport_errors_keep_the_json_shape(http: httpx.AsyncClient) -> None:
    response = await http.post("/graphql", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["message"]


async def test_text_searches_leave_healthz_answering(tmp_path: Path) -> None:
    """Searches heavy enough to take over a second each (the demo corpus, and a server allowing 4 MB search
    strings) run off the event loop: ``/healthz`` answers while they are still running, not after them.

    Before, each ran on the event loop in turn, and ``/healthz`` answered after the last of them."""
    with fresh_database("limits") as url:
        pool = await db.open_pool(url)
        await db.migrate(pool)
        try:
            _, token = await user_maker(pool)("searcher")
        finally:
            await pool.close()
        with servers.serve(
            url,
            tmp_path / "data",
            timeout=180,
            import_demo="true",
            max_body_bytes=str(16 << 20),
            graphql_limits=json.dumps({"string_length": 8 << 20}),
        ) as base:
            async with httpx.AsyncClient(base_url=base.rstrip("/"), timeout=120) as http:
                created = await http.post(
                    "/models",
                    headers=bearer(token),
                    data={"name": "searched"},
                    files=[("files", (MODEL.name, MODEL.read_bytes()))],
                )
                assert created.status_code == 201, created.text

                async def search(k: int) -> float:
                    response = await http.post(
                        "/graphql", json={"query": SEARCH, "variables": {"text": f"{k}" + "q" * (4 << 20)}}
                    )
                    assert response.status_code == 200 and "errors" not in response.json(), response.text[
                        :500
                    ]
                    return asyncio.get_running_loop().time()

                searches = [asyncio.create_task(search(k)) for k in range(4)]
                await asyncio.sleep(0.5)  # the searches are sent and running
                assert not any(s.done() for s in searches), "searches finished too fast to show anything"
                health = await http.get("/healthz")
                answered = asyncio.get_running_loop().time()
                assert health.status_code == 200, health.text
                finished = await asyncio.gather(*searches)
                assert answered < min(finished), "/healthz waited for the searches"
