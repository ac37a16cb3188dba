"""Several hosts: two web servers behind nginx, two workers, one PostgreSQL, one Redis, one SPARQL server.

Each "host" is processes of its own, on a loopback address of its own (Linux routes all of 127.0.0.0/8 to
``lo``), with a data directory of its own; they share only what a deployment shares: the database, Redis,
the SPARQL server (an Oxigraph server) and the files directory (``WEBLAB_FILES_DIR``, NFS in production).
Through the load balancer and on each server: an upload on one is served by the other, a private model is
invisible on both, a run started through one is pushed to a subscriber of the other and its archive is served
by both, a visibility change on one is seen by the other's next request, and killing one web server and one
worker mid-run loses no run. About 80 s; in the default run, and alone with ``.venv/bin/pytest -m hosts``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.conftest import REDIS_URL, ROOT, SHARED_DATA, free_port, fresh_database
from tests.sparql.oxigraph_server import oxigraph_server

pytestmark = pytest.mark.hosts

SECRET = "several-hosts-secret"
LB, WEB, WORKER = "127.0.0.5", ("127.0.0.3", "127.0.0.4"), ("127.0.0.6", "127.0.0.7")
RUN = """mutation($m: ID!, $p: ID!) { runExperiment(model: $m, protocol: $p) {
  __typename ... on Run { id status } ... on Error { code message } } }"""
UPDATES = "subscription($r: ID!) { runUpdates(run: $r) { status } }"
NGINX = """worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/nginx-error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {root}/body; proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi; uwsgi_temp_path {root}/uwsgi; scgi_temp_path {root}/scgi;
    client_max_body_size 64m;
    # bodies pass through as they come: nginx's workers (nobody) may not write its temporary folders here
    proxy_request_buffering off; proxy_buffering off; client_body_buffer_size 1m;
    upstream weblab {{ {servers} }}
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    server {{
        listen {address}:{port};
        location / {{
            proxy_pass http://weblab;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_next_upstream error timeout;
            proxy_read_timeout 300s;
        }}
    }}
}}
"""


@dataclass
class Deployment:
    lb: str
    servers: list[str]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: Path = Path()

    def log_tail(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(self.logs.glob("*.log"))
        )


def _env(
    tmp: Path, name: str, base: str, database: str, sparql: str, queue: str, **more: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBLAB_")}
    env.update(
        {
            "WEBLAB_DATA_DIR": str(tmp / name),
            "WEBLAB_FILES_DIR": str(tmp / "shared-files"),
            "WEBLAB_BASE_URI": base,
            "WEBLAB_DATABASE_URL": database,
            "WEBLAB_REDIS_URL": REDIS_URL,
            "WEBLAB_SPARQL_URL": sparql,
            "WEBLAB_QUEUE_NAME": queue,
            "WEBLAB_SECRET_KEY": SECRET,
            "WEBLAB_IMPORT_DEMO": "false",
            "WEBLAB_AUTO_RUN": "false",
            **more,
        }
    )
    return env


def _start(deployment: Deployment, name: str, command: list[str], env: dict[str, str]) -> None:
    log = open(deployment.logs / f"{name}.log", "wb")  # noqa: SIM115 - kept open while the process runs
    deployment.procs[name] = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    log.close()


def _wait_healthy(url: str, deployment: Deployment, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code in (200, 503):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never answered\n{deployment.log_tail()}")


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    queue = f"hosts-{tmp_path.name}"
    logs = tmp_path / "logs"
    logs.mkdir()
    with oxigraph_server(tmp_path / "sparql-host") as sparql, fresh_database("hosts") as database:
        ports = [free_port() for _ in WEB]
        lb_port = free_port()
        lb = f"http://{LB}:{lb_port}"
        d = Deployment(lb, [f"http://{a}:{p}" for a, p in zip(WEB, ports, strict=True)], logs=logs)
        try:
            for i, (address, port) in enumerate(zip(WEB, ports, strict=True)):
                env = _env(
                    tmp_path,
                    f"web{i + 1}",
                    lb + "/",
                    database,
                    sparql,
                    queue,
                    WEBLAB_HOST=address,
                    WEBLAB_PORT=str(port),
                )
                _start(d, f"web{i + 1}", [sys.executable, "-m", "web.cli", "serve", "--no-demo"], env)
            for url in d.servers:
                _wait_healthy(url, d)
            root = tmp_path / "lb-host"
            root.mkdir()
            servers = " ".join(
                f"server {u.removeprefix('http://')} max_fails=1 fail_timeout=5s;" for u in d.servers
            )
            (root / "nginx.conf").write_text(
                NGINX.format(root=root, servers=servers, address=LB, port=lb_port)
            )
            _start(
                d,
                "nginx",
                ["nginx", "-c", str(root / "nginx.conf"), "-p", str(root), "-g", "daemon off;"],
                dict(os.environ),
            )
            for i, _address in enumerate(WORKER):
                env = _env(
                    tmp_path, f"worker{i + 1}", lb + "/", database, sparql, queue, WEBLAB_SERVER_URL=lb
                )
                _start(d, f"worker{i + 1}", [sys.executable, "-m", "web.cli", "worker"], env)
            _wait_healthy(lb, d)
            yield d
        finally:
            for proc in d.procs.values():
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
            for proc in d.procs.values():
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)


def _gid(uri: str, base: str) -> str:
    return uri.removeprefix(base + "/")


def _register(base: str) -> str:
    with httpx.Client(base_url=base, timeout=30) as c:
        assert (
            c.post(
                "/auth/register",
                json={"name": "hostowner", "email": "h@example.org", "password": "correct horse battery"},
            ).status_code
            == 201
        )
        session = c.post("/auth/login", json={"name": "hostowner", "password": "correct horse battery"})
        assert session.status_code == 200, session.text
        token = c.post(
            "/auth/tokens", json={"name": "test"}, headers={"X-CSRF-Token": session.json()["csrf_token"]}
        )
        assert token.status_code == 201, token.text
        return str(token.json()["token"])


def _upload(
    base: str, token: str, kind: str, name: str, files: dict[str, bytes], **fields: str
) -> dict[str, Any]:
    multipart = [("files", (path, data)) for path, data in files.items()]
    answer = httpx.post(
        f"{base}/{kind}",
        data={"name": name, **fields},
        files=multipart,
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def _graphql(base: str, token: str | None, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = httpx.post(
        f"{base}/graphql", json={"query": query, "variables": variables}, headers=headers, timeout=60
    )
    assert answer.status_code == 200 and "errors" not in answer.json(), answer.text
    return answer.json()["data"]


def _run(base: str, token: str, model: str, protocol: str) -> str:
    data = _graphql(base, token, RUN, {"m": _gid(model, base), "p": _gid(protocol, base)})["runExperiment"]
    assert data["__typename"] == "Run", data
    return str(data["id"])


def _status(base: str, token: str, run_id: str) -> str:
    answer = httpx.get(
        f"{base}/runs/{run_id}/status", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["status"])


def _wait_status(base: str, token: str, run_id: str, wanted: set[str], d: Deployment, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = _status(base, token, run_id)
        if status in wanted:
            return status
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} never reached {wanted}; it is {status}\n{d.log_tail()}")


async def _subscribe(server: str, token: str, run_id: str) -> list[str]:
    """The statuses a subscriber of ``server`` is pushed until the run ends."""
    url = server.replace("http://", "ws://") + "/graphql"
    seen: list[str] = []
    async with websockets.connect(
        url,
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        additional_headers={"Authorization": f"Bearer {token}"},
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {"id": "1", "type": "subscribe", "payload": {"query": UPDATES, "variables": {"r": run_id}}}
            )
        )
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "complete":
                return seen
            assert message["type"] == "next", message
            seen.append(message["payload"]["data"]["runUpdates"]["status"])


async def test_two_web_servers_and_two_workers_behave_as_one_platform(deployment: Deployment) -> None:
    d = deployment
    one, two = d.servers
    token = _register(d.lb)
    cellml = SHARED_DATA / "cellml" / "beeler_reuter_model_1977.cellml"
    protocols = SHARED_DATA / "fc" / "protocols"

    # an upload on one server is served by the other, and through the load balancer
    model = _upload(one, token, "models", "hosts model", {cellml.name: cellml.read_bytes()})
    version = model["version"]["uri"]
    for server in (two, d.lb, d.lb):
        files = httpx.get(version.replace(d.lb, server) + "/files/" + cellml.name, timeout=30)
        assert files.status_code == 200 and files.content == cellml.read_bytes()

    # a private model is invisible on both, to anyone but its owner
    secret = _upload(
        two, token, "models", "hosts secret", {cellml.name: cellml.read_bytes()}, visibility="private"
    )
    for server in (one, two):
        assert httpx.get(secret["version"]["uri"].replace(d.lb, server), timeout=30).status_code == 404
        owned = httpx.get(
            secret["version"]["uri"].replace(d.lb, server),
            timeout=30,
            headers={"Authorization": f"Bearer {token}", "Accept": "text/turtle"},
        )
        assert owned.status_code == 200

    # a run started through one server is pushed to a subscriber of the other; its archive is served by both
    postproc = protocols / "test_core_postproc.txt"
    quick = _upload(
        one, token, "protocols", "hosts postproc", {postproc.name: postproc.read_bytes()}, main=postproc.name
    )["version"]["uri"]
    run_id = _run(one, token, version, quick)
    statuses = await _subscribe(two, token, run_id)
    run_id = run_id.rsplit("/", 1)[-1]  # the REST routes take the run's own id
    assert statuses[-1] == "SUCCESS", (statuses, d.log_tail())
    for server in (one, two):
        archive = httpx.get(
            f"{server}/runs/{run_id}/archive", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        assert archive.status_code == 200 and archive.content[:2] == b"PK"

    # a visibility change on one server is seen by the other on its next request
    names = "query { models(first: 50) { nodes { name } } }"
    assert "hosts model" in {m["name"] for m in _graphql(two, None, names, {})["models"]["nodes"]}
    hide = """mutation($v: ID!) { setVisibility(version: $v, visibility: PRIVATE) { __typename } }"""
    assert _graphql(one, token, hide, {"v": _gid(version, d.lb)})["setVisibility"]["__typename"] == "Version"
    assert "hosts model" not in {m["name"] for m in _graphql(two, None, names, {})["models"]["nodes"]}

    # killing one web server and one worker mid-run loses no run
    s1s2 = protocols / "test_S1S2.txt"
    slow = _upload(
        two,
        token,
        "protocols",
        "hosts s1s2",
        {s1s2.name: s1s2.read_bytes(), "real/S1S2.txt": (protocols / "real" / "S1S2.txt").read_bytes()},
        main=s1s2.name,
    )["version"]["uri"]
    run_id = _run(d.lb, token, secret["version"]["uri"], slow).rsplit("/", 1)[-1]
    _wait_status(d.lb, token, run_id, {"RUNNING"}, d, 120)
    os.killpg(d.procs["web1"].pid, signal.SIGKILL)
    os.killpg(d.procs["worker1"].pid, signal.SIGKILL)
    final = _wait_status(d.lb, token, run_id, {"SUCCESS", "PARTIAL", "FAILED"}, d, 240)
    detail = httpx.get(
        f"{d.lb}/runs/{run_id}/status", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert final == "SUCCESS", (detail.json(), d.log_tail())
