"""Subscriptions over a real WebSocket (graphql-transport-ws) end with the credential that opened them.

A socket opened with an API token or a session cookie follows a private model's new versions; once the
token is revoked (over HTTP or GraphQL) or the session logged out, nothing more is delivered and the server
closes the socket. A revoked or unknown token is refused at the handshake with a 4xx, never a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.conftest import MakeUser, bearer

NEW_VERSIONS = "subscription($e: ID!) { newVersions(entity: $e) { id message } }"


def cellml(tag: str) -> tuple[str, tuple[str, bytes]]:
    model = f'<model name="m_{tag}" xmlns="http://www.cellml.org/cellml/1.0#"/>'
    return "files", ("m.cellml", model.encode())


async def private_model(http: httpx.AsyncClient, token: str) -> str:
    """A new private model of the token's owner; its GraphQL id."""
    fields = {"name": f"secret {secrets.token_hex(3)}", "message": "v1", "visibility": "private"}
    r = await http.post("/models", headers=bearer(token), files=[cellml(secrets.token_hex(3))], data=fields)
    assert r.status_code == 201, r.text
    return f"models/{r.json()['entity']['id']}"


async def add_version(http: httpx.AsyncClient, token: str, entity: str, message: str) -> None:
    r = await http.post(
        f"/{entity}/versions",
        headers=bearer(token),
        files=[cellml(secrets.token_hex(3))],
        data={"message": message, "visibility": "private"},
    )
    assert r.status_code == 201, r.text


@contextlib.asynccontextmanager
async def socket(server: str, headers: dict[str, str]) -> AsyncIterator[ClientConnection]:
    url = "ws" + server.removeprefix("http").rstrip("/") + "/graphql"
    async with connect(
        url,
        subprotocols=["graphql-transport-ws"],
        additional_headers=headers,
        proxy=None,
        open_timeout=10,
        close_timeout=2,
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
        yield ws


async def subscribe(ws: ClientConnection, entity: str) -> None:
    await ws.send(
        json.dumps(
            {"id": "1", "type": "subscribe", "payload": {"query": NEW_VERSIONS, "variables": {"e": entity}}}
        )
    )
    await asyncio.sleep(1.0)  # the subscription reads the versions that exist now


async def next_event(ws: ClientConnection, timeout: float) -> dict[str, Any] | None:
    """The next ``next`` message within ``timeout`` s; None when there is none or the socket closed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (left := deadline - loop.time()) > 0:
        try:
            message = json.loads(await asyncio.wait_for(ws.recv(), left))
        except (TimeoutError, ConnectionClosed):
            return None
        if message["type"] == "ping":
            await ws.send(json.dumps({"type": "pong"}))
        elif message["type"] == "next":
            return message
        elif message["type"] in ("error", "complete"):
            return None
    return None


async def closed_with(ws: ClientConnection, timeout: float = 5) -> int | None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(ws.wait_closed(), timeout)
    return ws.close_code


@pytest.mark.parametrize("how", ["http", "graphql"])
async def test_a_revoked_token_stops_the_subscription(
    http: httpx.AsyncClient, server: str, server_user: MakeUser, how: str
) -> None:
    _, main = await server_user("watcher")
    entity = await private_model(http, main)
    created = (await http.post("/auth/tokens", json={"name": "socket"}, headers=bearer(main))).json()
    async with socket(server, bearer(created["token"])) as ws:
        await subscribe(ws, entity)
        await add_version(http, main, entity, "seen")
        event = await next_event(ws, 10)
        assert event is not None and event["payload"]["data"]["newVersions"]["message"] == "seen"

        if how == "http":
            revoked = await http.delete(f"/auth/tokens/{created['id']}", headers=bearer(main))
            assert revoked.status_code == 204
        else:
            revoked = await http.post(
                "/graphql",
                headers=bearer(main),
                json={
                    "query": "mutation($id: Int!) { revokeToken(id: $id) { __typename } }",
                    "variables": {"id": created["id"]},
                },
            )
            assert revoked.json()["data"]["revokeToken"] == {"__typename": "TokenRevoked"}
        await add_version(http, main, entity, "after revocation")
        late = await next_event(ws, 4)
        assert late is None, f"delivered after the token was revoked: {late}"
        assert await closed_with(ws) in (4401, 4403)


async def test_logging_out_stops_the_subscription(
    http: httpx.AsyncClient, server: str, server_user: MakeUser
) -> None:
    user, main = await server_user("sessioned")
    entity = await private_model(http, main)
    login = await http.post("/auth/login", json={"name": user.name, "password": "correct horse"})
    assert login.status_code == 200
    session = http.cookies["weblab_session"]
    async with socket(server, {"Cookie": f"weblab_session={session}"}) as ws:
        await subscribe(ws, entity)
        await add_version(http, main, entity, "seen")
        event = await next_event(ws, 10)
        assert event is not None and event["payload"]["data"]["newVersions"]["message"] == "seen"

        out = await http.post("/auth/logout", headers={"X-CSRF-Token": login.json()["csrf_token"]})
        assert out.status_code == 204
        await add_version(http, main, entity, "after logout")
        late = await next_event(ws, 4)
        assert late is None, f"delivered after logging out: {late}"
        assert await closed_with(ws) in (4401, 4403)


async def test_a_revoked_or_unknown_token_is_refused_at_the_handshake(
    http: httpx.AsyncClient, server: str, server_user: MakeUser
) -> None:
    _, main = await server_user("late")
    created = (await http.post("/auth/tokens", json={"name": "gone"}, headers=bearer(main))).json()
    assert (await http.delete(f"/auth/tokens/{created['id']}", headers=bearer(main))).status_code == 204
    for token in (created["token"], "wl_" + secrets.token_urlsafe(32)):
        with pytest.raises(InvalidStatus) as refused:
            async with socket(server, bearer(token)):
                pass
        assert 400 <= refused.value.response.status_code < 500, refused.value.response.status_code
    # a valid token still connects
    async with socket(server, bearer(main)):
        pass
