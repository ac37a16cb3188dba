"""Fixtures of the fuzz pass: the server's log, the fuzzer's accounts and clients, and content of its own."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import pytest_asyncio

from tests.conftest import MakeUser
from tests.security.fuzz.harness import MODEL_FILE, PROTOCOL, Api, Caller, Corpus, ServerLog


@pytest.fixture(scope="session")
def server_log(server: str, tmp_path_factory: pytest.TempPathFactory) -> ServerLog:
    logs = sorted(
        tmp_path_factory.getbasetemp().glob("security-server*/server.log"), key=lambda p: p.stat().st_mtime
    )
    return ServerLog(logs[-1] if logs else None)


@pytest.fixture
def quiet_log(server_log: ServerLog, request: pytest.FixtureRequest) -> Iterator[ServerLog]:
    """Fails the test when the server logged an error while it ran (a crash need not answer 5xx); not again
    when the test failed already (its message holds the log)."""
    mark = server_log.mark()
    failed = request.session.testsfailed
    yield server_log
    if request.session.testsfailed > failed:
        return
    # What is checked is an absence, so no condition can end the wait: errors a request logs after its
    # answer (a background task's, say) get a short grace period to reach the log.
    time.sleep(0.2)
    errors = server_log.errors_since(mark)
    assert not errors, "the server logged errors during this test:\n" + server_log.since(mark)[-12000:]


@pytest_asyncio.fixture(scope="session")
async def fuzz_accounts(server_user: MakeUser) -> dict[str, tuple[str, str]]:
    accounts = {}
    for role, roles in (("user", set()), ("admin", {"admin"}), ("gql", set())):
        user, token = await server_user(f"fuzz{role}", roles=roles)
        accounts[role] = (user.name, token)
    return accounts


@pytest.fixture(scope="session")
def api(server: str, server_log: ServerLog) -> Iterator[Api]:
    client = Api(server, server_log)
    yield client
    client.http.close()
    for c in client.auth_clients:
        c.close()


@pytest.fixture(scope="session")
def callers(api: Api, fuzz_accounts: dict[str, tuple[str, str]]) -> dict[str, Caller]:
    return {role: Caller(name, token, api) for role, (name, token) in fuzz_accounts.items()}


@pytest.fixture(scope="session")
def corpus(api: Api, callers: dict[str, Caller]) -> Corpus:
    user = callers["user"]

    def upload(path: str, files: list[tuple[str, bytes]], **fields: str) -> dict[str, Any]:
        form = [(k, (None, v)) for k, v in fields.items()]
        response = api.http.post(
            path, headers=user.headers(), files=form + [("files", (name, data)) for name, data in files]
        )
        assert response.status_code == 201, response.text
        return response.json()

    model = upload("/models", [(MODEL_FILE.name, MODEL_FILE.read_bytes())], name="fuzz model", tag="v1")
    upload(
        f"/models/{model['entity']['id']}/versions",
        [("extra.txt", b"more\n")],
        inherit="true",
        visibility="private",
        message="private second version",
    )
    protocol = upload("/protocols", [("fuzz.txt", PROTOCOL)], name="fuzz protocol", tag="v1")
    run = api.http.post(
        "/runs",
        headers=user.headers(),
        json={"model": model["version"]["uri"], "protocol": protocol["version"]["uri"]},
    )
    return Corpus(
        model_id=model["entity"]["id"],
        model_sha=model["version"]["sha"],
        model_version=model["version"]["uri"],
        model_main=model["version"]["main"] or MODEL_FILE.name,
        protocol_id=protocol["entity"]["id"],
        protocol_sha=protocol["version"]["sha"],
        protocol_version=protocol["version"]["uri"],
        run_id=run.json().get("id") if run.status_code == 201 else None,
        user_name=user.name,
    )
