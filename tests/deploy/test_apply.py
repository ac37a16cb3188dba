"""The one-host inventory applied to this machine for real, then a smoke check through nginx.

Behind the ``deploy`` marker (``pytest tests/deploy -m deploy``): it installs Debian packages (supervisor,
nginx-light), starts supervisord, and runs under it nginx on 8089, two ``weblab serve`` processes on
8090-8091, a ``weblab worker`` and Oxigraph server on 7878, in /srv/weblab-deploy. It reuses the PostgreSQL
on 127.0.0.1:5432 (database ``weblab_deploy``) and the Redis on 6379 (database 7, its own queue) and never
stops or reconfigures them. At the end it stops the programs it started (and supervisord, when the test
started it), unless WEBLAB_DEPLOY_KEEP=1.
"""

from __future__ import annotations

import collections
import io
import json
import os
import secrets
import shutil
import subprocess
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.deploy.ansible_tools import DEPLOY, INVENTORIES, ROOT, output, run, tool

pytestmark = [pytest.mark.deploy, pytest.mark.timeout(3600)]

SITE = "http://127.0.0.1:8089"
BASE_URI = "http://localhost:8089/"  # weblab_base_uri of the one-host inventory
SHARED_DATA = Path(os.environ.get("WEBLAB_SHARED_DATA", DEPLOY.parent.parent / "shared" / "data"))
WEB_PORTS = (8090, 8091)
PROGRAMS = [
    "weblab-nginx",
    *(f"weblab-web-{port}" for port in WEB_PORTS),
    "weblab-worker:*",
    "weblab-oxigraph",
]


def _supervisord_running() -> bool:
    try:
        result = subprocess.run(
            ["supervisorctl", "pid"], capture_output=True, text=True, timeout=10, check=False
        )
    except FileNotFoundError:
        return False
    return result.returncode == 0 and result.stdout.strip().isdigit()


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the working tree, installed by every apply of this module (weblab_pip_spec): the tree may
    change while the test runs (and a change is an upgrade, which restarts), and pip builds in the copy."""
    copy = tmp_path_factory.mktemp("source") / "weblab"
    skip = (
        ".git",
        ".venv",
        "build",
        "weblab-data",
        "test-artifacts",
        "*.egg-info",
        "__pycache__",
        ".*_cache",
    )
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(*skip, ".hypothesis"))
    return copy


def _settings(secrets_file: Path, source: Path) -> list[str]:
    return ["-e", f"weblab_vault_file={secrets_file}", "-e", f"weblab_pip_spec={source}"]


@pytest.fixture(scope="module")
def secrets_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one-host secrets, made for this run (a plain vars file: include_vars reads vault files alike)."""
    path = tmp_path_factory.mktemp("deploy") / "vault.yml"
    path.write_text(
        f"weblab_secret_key: {secrets.token_urlsafe(48)}\nweblab_db_password: {secrets.token_urlsafe(24)}\n"
    )
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def deployed(secrets_file: Path, source: Path) -> Iterator[list[subprocess.CompletedProcess[str]]]:
    had_supervisord = _supervisord_running()
    argv = [
        tool("ansible-playbook"),
        "-i",
        str(INVENTORIES["one-host"]),
        str(DEPLOY / "site.yml"),
        *_settings(secrets_file, source),
    ]
    runs = [run(argv, timeout=3000)]
    assert runs[0].returncode == 0, output(runs[0])
    # the same again: an upgrade with nothing new migrates nothing and restarts nothing
    runs.append(run(argv, timeout=1800))
    try:
        yield runs
    finally:
        if os.environ.get("WEBLAB_DEPLOY_KEEP") != "1" and _supervisord_running():
            subprocess.run(
                ["supervisorctl", "stop", *PROGRAMS], capture_output=True, timeout=180, check=False
            )
            if not had_supervisord:
                subprocess.run(["supervisorctl", "shutdown"], capture_output=True, timeout=60, check=False)


def _healthz(url: str, deadline: float) -> httpx.Response:
    last: Exception | httpx.Response | None = None
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=10)
            if response.status_code == 200:
                return response
            last = response
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(2)
    detail = last.text if isinstance(last, httpx.Response) else repr(last)
    raise AssertionError(f"{url} did not answer 200: {detail}")


def _changed_tasks(stdout: str) -> list[str]:
    """The names of the tasks (and handlers) that reported a change, from ansible-playbook's output."""
    changed, task = [], ""
    for line in stdout.splitlines():
        if line.startswith(("TASK [", "RUNNING HANDLER [")):
            task = line[line.index("[") + 1 : line.rindex("]")]
        elif line.startswith("changed:"):
            changed.append(task)
    return changed


def test_second_apply_restarts_and_migrates_nothing(deployed: list[subprocess.CompletedProcess[str]]) -> None:
    second = deployed[-1]
    assert second.returncode == 0, output(second)
    wrong = [task for task in _changed_tasks(second.stdout) if "Restart" in task or "migrations" in task]
    assert not wrong, f"a second apply restarted or migrated: {wrong}\n{output(second)}"


def test_healthz_through_nginx(deployed: list[subprocess.CompletedProcess[str]]) -> None:
    response = _healthz(f"{SITE}/healthz", time.monotonic() + 180)
    body = response.json()
    services = body.get("services", body)
    down = {
        name: status
        for name, status in services.items()
        if isinstance(status, dict) and status.get("status") != "up"
    }
    assert not down, body
    for name in ("postgresql", "redis", "triple_store", "workers"):
        assert services[name]["status"] == "up", body


@pytest.mark.parametrize("port", WEB_PORTS)
def test_each_web_process_is_up(deployed: list[subprocess.CompletedProcess[str]], port: int) -> None:
    _healthz(f"http://127.0.0.1:{port}/healthz", time.monotonic() + 120)


def test_static_files_come_from_nginx(deployed: list[subprocess.CompletedProcess[str]]) -> None:
    response = httpx.get(f"{SITE}/static/css/weblab.css", timeout=10)
    assert response.status_code == 200
    assert response.headers.get("server") == "nginx"
    assert "expires" in response.headers  # set by nginx's location /static/, not by the platform


def test_pages_through_nginx(deployed: list[subprocess.CompletedProcess[str]]) -> None:
    response = httpx.get(f"{SITE}/", timeout=30)
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]


def test_a_model_added_on_one_web_server_is_served_by_the_other_and_its_run_succeeds(
    deployed: list[subprocess.CompletedProcess[str]],
) -> None:
    """Through the two web processes directly: upload on 8090, read on 8091, run queued on 8091, run by the
    worker to SUCCESS, its archive downloadable from both."""
    first, second = (f"http://127.0.0.1:{port}" for port in WEB_PORTS)
    name, password = "deploy" + secrets.token_hex(4), secrets.token_urlsafe(16)
    with httpx.Client(base_url=first, timeout=60) as client:
        r = client.post(
            "/auth/register", json={"name": name, "email": f"{name}@example.org", "password": password}
        )
        assert r.status_code == 201, r.text
        assert client.post("/auth/login", json={"name": name, "password": password}).status_code == 200
        r = client.post(
            "/auth/tokens", json={"name": "deploy"}, headers={"X-CSRF-Token": client.cookies["weblab_csrf"]}
        )
        assert r.status_code == 201, r.text
        bearer = {"Authorization": f"Bearer {r.json()['token']}"}

    def publish(kind: str, path: Path) -> str:
        r = httpx.post(
            f"{first}/{kind}",
            data={"name": f"{path.stem} {name}", "visibility": "public"},
            files={"files": (path.name, path.read_bytes())},
            headers=bearer,
            timeout=120,
        )
        assert r.status_code == 201, r.text
        return r.json()["version"]["uri"]

    model = publish("models", SHARED_DATA / "cellml" / "beeler_reuter_model_1977.cellml")
    protocol = publish("protocols", SHARED_DATA / "fc" / "protocols" / "test_core_postproc.txt")
    r = httpx.get(second + "/" + model.removeprefix(BASE_URI), headers={"Accept": "text/turtle"}, timeout=30)
    assert r.status_code == 200 and model in r.text, r.text[:500]

    r = httpx.post(f"{second}/runs", json={"model": model, "protocol": protocol}, headers=bearer, timeout=60)
    assert r.status_code in (200, 201), r.text
    run_id = r.json()["id"]
    deadline, status = time.monotonic() + 300, {}
    while time.monotonic() < deadline:
        status = httpx.get(f"{first}/runs/{run_id}/status", headers=bearer, timeout=30).json()
        if status.get("finished_at"):
            break
        time.sleep(2)
    assert status.get("status") == "SUCCESS", status
    for server in (first, second):
        r = httpx.get(f"{server}/runs/{run_id}/archive", headers=bearer, timeout=60)
        assert r.status_code == 200
        assert "manifest.xml" in zipfile.ZipFile(io.BytesIO(r.content)).namelist()


def test_an_upgrade_restarts_the_web_servers_one_at_a_time(
    deployed: list[subprocess.CompletedProcess[str]], secrets_file: Path, source: Path
) -> None:
    """A settings change restarts both web processes, one after the other: nginx answers every request
    meanwhile (no 502, no refused connection)."""
    answers: collections.Counter[str] = collections.Counter()
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            try:
                answers[str(httpx.get(f"{SITE}/healthz", timeout=10).status_code)] += 1
            except httpx.HTTPError as exc:
                answers[type(exc).__name__] += 1
            time.sleep(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        result = run(
            [
                tool("ansible-playbook"),
                "-i",
                str(INVENTORIES["one-host"]),
                str(DEPLOY / "webservers.yml"),
                *_settings(secrets_file, source),
                "-e",
                # a setting the platform ignores, new at each run: the web settings change, so both restart
                json.dumps({"weblab_extra_env": {"WEBLAB_DEPLOY_TEST": secrets.token_hex(4)}}),
            ],
            timeout=1200,
        )
    finally:
        stop.set()
        poller.join(30)
    assert result.returncode == 0, output(result)
    restarted = [task for task in _changed_tasks(result.stdout) if task.startswith("weblab_web : Restart")]
    assert len(restarted) == len(WEB_PORTS), output(result)
    assert set(answers) <= {"200"}, answers
    assert answers["200"] > 20, answers


def test_fewer_web_processes_remove_the_others(
    deployed: list[subprocess.CompletedProcess[str]], secrets_file: Path, source: Path
) -> None:
    """weblab_web_ports down to one: the other process is stopped and dropped from supervisord, nginx goes on
    answering; back to two, it returns."""

    def apply(ports: list[int]) -> None:
        result = run(
            [
                tool("ansible-playbook"),
                "-i",
                str(INVENTORIES["one-host"]),
                str(DEPLOY / "webservers.yml"),
                *_settings(secrets_file, source),
                "-e",
                json.dumps({"weblab_web_ports": ports}),
            ],
            timeout=1200,
        )
        assert result.returncode == 0, output(result)

    def programs() -> str:
        return subprocess.run(["supervisorctl", "status"], capture_output=True, text=True, timeout=30).stdout

    apply([WEB_PORTS[0]])
    try:
        assert f"weblab-web-{WEB_PORTS[1]}" not in programs()
        assert not Path(f"/etc/supervisor/conf.d/weblab-web-{WEB_PORTS[1]}.conf").exists()
        _healthz(f"{SITE}/healthz", time.monotonic() + 60)
    finally:
        apply(list(WEB_PORTS))
    assert f"weblab-web-{WEB_PORTS[1]}" in programs()
    _healthz(f"http://127.0.0.1:{WEB_PORTS[1]}/healthz", time.monotonic() + 120)
