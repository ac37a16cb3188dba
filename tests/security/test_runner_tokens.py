"""Runner archive links: honoured only while their run is claimed and running, and never written to a log whole.

A claim answers two download URLs (``/runner/archives/<token>``) for the model and protocol versions of the run.
The token is signed, but it used to be valid for its whole 600 s whatever became of the run, and the request log
wrote it out whole. Now a download is refused (403, saying why) unless the run the token was issued for is
RUNNING under the claim it was issued to; request logs, and the worker's own, show ``REDACTED`` instead.
"""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from resolvers import runs
from resolvers.entities import Entities
from resolvers.metadata import Kind
from resolvers.services import Services
from resolvers.settings import Settings
from resolvers.tokens import make_token
from resolvers.uploads import Upload
from tests import servers
from tests.conftest import ROOT, SHARED_DATA, MakeUser, bearer, free_port, fresh_database
from worker.contract import SIGNATURE_HEADER, sign_request

MODEL = SHARED_DATA / "cellml" / "beeler_reuter_model_1977.cellml"
PROTOCOL = b"# a protocol of comments only: it parses, and fits every model\n"


def omex(**files: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(
            "manifest.xml",
            "<omexManifest xmlns='http://identifiers.org/combine.specifications/omex-manifest'/>",
        )
        for name, text in files.items():
            zf.writestr(name, text)
    return buffer.getvalue()


class Worker:
    """Plays a worker against the app: signed claim, release and result calls."""

    def __init__(self, client: httpx.AsyncClient, settings: Settings) -> None:
        self.client, self.key, self.claim = client, settings.signing_key, uuid.uuid4().hex

    async def call(self, path: str, body: bytes, content_type: str = "application/json") -> httpx.Response:
        headers = {"Content-Type": content_type, SIGNATURE_HEADER: sign_request(self.key, "POST", path, body)}
        return await self.client.post(path, content=body, headers=headers)

    async def claim_run(self, run_id: str) -> dict[str, Any]:
        r = await self.call(
            f"/runner/runs/{run_id}/claim", json.dumps({"claim": self.claim, "worker": "w"}).encode()
        )
        assert r.status_code == 200, r.text
        return r.json()

    async def release(self, run_id: str) -> None:
        body = json.dumps({"claim": self.claim, "reason": "test"}).encode()
        r = await self.call(f"/runner/runs/{run_id}/release", body)
        assert r.status_code == 200, r.text

    async def result(self, run_id: str, status: str) -> None:
        r = await self.call(
            f"/runner/runs/{run_id}/result?claim={self.claim}&status={status}&engine=test",
            omex(**{"outputs-contents.csv": "x\n"}),
            "application/zip",
        )
        assert r.status_code == 200, r.text


async def _run(services: Services, make_user: MakeUser) -> tuple[runs.Run, str]:
    """A queued run of a fresh model × protocol pair, and its owner's API token."""
    owner, token = await make_user("tokens")
    entities = Entities.from_services(services, auto_run=False)
    tag = uuid.uuid4().hex[:6]
    _, model = await entities.publish(
        owner, Kind.MODEL, f"model {tag}", [Upload(MODEL.name, MODEL.read_bytes())]
    )
    _, protocol = await entities.publish(owner, Kind.PROTOCOL, f"protocol {tag}", [Upload("p.txt", PROTOCOL)])
    return await runs.create_run(services, model.uri, protocol.uri, caller=owner), token


def refused(response: httpx.Response, *words: str) -> None:
    assert response.status_code == 403, (response.status_code, response.text)
    message = response.json()["error"]["message"]
    assert "only while" in message and all(w in message for w in words), message


async def test_a_link_works_while_its_run_runs_and_not_after_it_succeeded(
    client: httpx.AsyncClient, services: Services, settings: Settings, make_user: MakeUser
) -> None:
    run, _ = await _run(services, make_user)
    worker = Worker(client, settings)
    granted = await worker.claim_run(run.id)
    model = await client.get(granted["model_url"])
    assert model.status_code == 200 and model.content[:2] == b"PK"
    assert (await client.get(granted["protocol_url"])).status_code == 200

    await worker.result(run.id, "SUCCESS")
    refused(await client.get(granted["model_url"]), run.id, "success")
    refused(await client.get(granted["protocol_url"]), run.id)


async def test_a_link_of_a_cancelled_run_is_refused(
    client: httpx.AsyncClient, services: Services, settings: Settings, make_user: MakeUser
) -> None:
    run, token = await _run(services, make_user)
    granted = await Worker(client, settings).claim_run(run.id)
    cancelled = await client.post(f"/runs/{run.id}/cancel", headers=bearer(token))
    assert cancelled.status_code == 200, cancelled.text
    refused(await client.get(granted["model_url"]), "cancelled")


async def test_a_link_is_bound_to_the_claim_it_was_issued_to(
    client: httpx.AsyncClient, services: Services, settings: Settings, make_user: MakeUser
) -> None:
    run, _ = await _run(services, make_user)
    first = Worker(client, settings)
    old = await first.claim_run(run.id)
    await first.release(run.id)  # back to the queue
    refused(await client.get(old["model_url"]), "queued")
    second = Worker(client, settings)
    new = await second.claim_run(run.id)
    refused(await client.get(old["model_url"]), "claimed again")
    assert (await client.get(new["model_url"])).status_code == 200
    # a token for a version the run does not use is refused as well, even while it runs
    other = make_token(
        settings.signing_key,
        "run-archive",
        {
            "v": run.model_version_uri.rsplit("/", 1)[0] + "/versions/" + "0" * 40,
            "r": run.id,
            "c": json.loads(_payload(new["model_url"]))["d"]["c"],
        },
        60,
    )
    assert (await client.get(f"/runner/archives/{other}")).status_code == 403
    await runs.mark_cancelled(services, run.id, "test over")


def _payload(url: str) -> str:
    import base64

    body = url.rsplit("/", 1)[1].split(".", 1)[0]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


@pytest.fixture(scope="module")
def logging_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``weblab serve`` as in production (its JSON log lines on standard error), logging every request (INFO)."""
    data_dir = tmp_path_factory.mktemp("tokens-log-server")
    log = data_dir / "serve.log"
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    with fresh_database("runner_tokens") as url:
        env = servers.server_env(url, data_dir, base, log_level="INFO", port=str(port))
        with log.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "web.cli", "serve", "--no-demo"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            servers.wait_until_up(base, process, log, 60)
            yield base, log
        finally:
            servers.stop(process)


async def test_archive_tokens_are_redacted_in_the_request_log(logging_server: tuple[str, Path]) -> None:
    base, log = logging_server
    token = make_token(
        "server-test-secret",
        "run-archive",
        {"v": base + "models/m/versions/" + "0" * 40, "r": str(uuid.uuid4()), "c": "x"},
        600,
    )
    async with httpx.AsyncClient(base_url=base.rstrip("/"), timeout=30) as http:
        r = await http.get(f"/runner/archives/{token}", headers={"X-Request-ID": "token-log-test"})
    assert r.status_code in (403, 404), r.text
    signature = token.split(".", 1)[1]
    lines = [json.loads(line) for line in log.read_text().splitlines() if "token-log-test" in line]
    assert lines, log.read_text()[-2000:]
    assert lines[-1]["path"] == "/runner/archives/REDACTED", lines[-1]
    text = log.read_text()
    assert token not in text and signature not in text


async def test_the_worker_does_not_log_archive_tokens(caplog: pytest.LogCaptureFixture) -> None:
    from worker.callback import RunnerClient, ServerUnreachable

    token = make_token("k", "run-archive", {"v": "v", "r": "r", "c": "c"}, 600)
    transport = httpx.MockTransport(lambda request: httpx.Response(503, text="down"))
    caplog.set_level(logging.WARNING, logger="worker.callback")
    async with RunnerClient(
        "http://server.invalid", "k", retries=1, backoff=0.0, transport=transport
    ) as client:
        with pytest.raises(ServerUnreachable) as failed:
            await client.download(f"/runner/archives/{token}")
    assert caplog.records, "the retry was not logged"
    signature = token.split(".", 1)[1]
    assert signature not in caplog.text and signature not in str(failed.value)
    assert "/runner/archives/REDACTED" in str(failed.value)
