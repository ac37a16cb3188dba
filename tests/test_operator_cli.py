"""``weblab user add``, ``import`` and ``run-all`` beside a running ``weblab serve`` (issue #17).

The server holds its data directory's triple store, so these commands hand it their work through
``DATA_DIR/operator.json`` and ``/operator/…``; without a server, or with a stale file, they run in
their own process. Everything here runs as in production: ``python -m web.cli serve`` and the commands
as processes of their own.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests import servers
from tests.conftest import ROOT, SHARED_DATA, free_port, fresh_database

PASSWORD = "a long operator password 42"
MODEL = "hodgkin_huxley_squid_axon_model_1952_modified.cellml"


@dataclass
class Deployment:
    """One data directory and its database, with the environment its processes share."""

    data_dir: Path
    env: dict[str, str]
    url: str

    def weblab(self, *args: str, stdin: str = "", cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
        """Run ``weblab ARGS`` as a process of its own, as an operator would in a second terminal."""
        env = {**self.env, "PYTHONPATH": str(ROOT)}
        return subprocess.run(
            [sys.executable, "-m", "web.cli", *args],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=cwd,
            env=env,
            timeout=180,
        )


def _deployment(data_dir: Path, database_url: str) -> Deployment:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    return Deployment(data_dir, servers.server_env(database_url, data_dir, url, port=str(port)), url)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deployment, subprocess.Popen[bytes]]]:
    """A ``weblab serve`` on a data directory of its own (embedded Oxigraph), and its deployment."""
    with fresh_database("operator") as database_url:
        deployment = _deployment(tmp_path_factory.mktemp("operator-served"), database_url)
        log = deployment.data_dir / "serve.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "web.cli", "serve", "--no-demo"],
                cwd=ROOT,
                env=deployment.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            servers.wait_until_up(deployment.url, process, log, 60)
            _wait_for(lambda: (deployment.data_dir / "operator.json").exists(), "operator.json", 10)
            yield deployment, process
        finally:
            servers.stop(process)


@pytest.fixture
def server(served: tuple[Deployment, subprocess.Popen[bytes]]) -> Deployment:
    deployment, process = served
    assert process.poll() is None, "the server died"
    return deployment


def _wait_for(condition: object, what: str, timeout: float) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        time.sleep(0.1)


def _logs_in(url: str, name: str) -> bool:
    response = httpx.post(url + "auth/login", json={"name": name, "password": PASSWORD}, timeout=30)
    return response.status_code == 200


def _model_names(url: str, owner: str) -> list[str]:
    query = "query ($owner: String) { models(owner: $owner) { nodes { name } } }"
    response = httpx.post(url + "graphql", json={"query": query, "variables": {"owner": owner}}, timeout=30)
    response.raise_for_status()
    return sorted(n["name"] for n in response.json()["data"]["models"]["nodes"])


def _folder_to_import(tmp_path: Path) -> Path:
    """``models/``: one real model and one that is not XML."""
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(SHARED_DATA / "cellml" / MODEL, folder / MODEL)
    (folder / "broken.cellml").write_text("this is not XML")
    return folder


# --- beside a running server -------------------------------------------------------------------


def test_the_server_publishes_its_operator_file_for_its_owner_only(server: Deployment) -> None:
    path = server.data_dir / "operator.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    record = json.loads(path.read_text())
    assert record["url"] == server.url
    ping = httpx.get(
        server.url + "operator", headers={"Authorization": f"Operator {record['key']}"}, timeout=10
    )
    assert ping.status_code == 200


def test_user_add_beside_a_running_server(server: Deployment) -> None:
    done = server.weblab(
        "user", "add", "admin", "--email", "admin@example.org", "--role", "admin", stdin=PASSWORD
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "created user admin <admin@example.org> (admin)\n"
    assert _logs_in(server.url, "admin")  # the running server knows the new user at once

    again = server.weblab("user", "add", "admin", "--email", "other@example.org", stdin=PASSWORD)
    assert again.returncode == 1
    assert again.stderr.strip() == "weblab: error: a user with this name already exists"

    weak = server.weblab("user", "add", "weak", "--email", "weak@example.org", stdin="short")
    assert weak.returncode == 1 and weak.stderr.startswith("weblab: error: password: "), weak.stderr


def test_import_beside_a_running_server(server: Deployment, tmp_path: Path) -> None:
    owner = server.weblab("user", "add", "importer", "--email", "importer@example.org", stdin=PASSWORD)
    assert owner.returncode == 0, owner.stderr
    _folder_to_import(tmp_path)

    done = server.weblab("import", "models", "--owner", "importer", cwd=tmp_path)
    assert done.returncode == 1, done.stderr  # one file failed
    assert done.stdout == "1 imported, 0 unchanged, 1 failed\n"
    assert "  failed: models/broken.cellml: " in done.stderr  # named as the operator typed it
    assert _model_names(server.url, "importer") == [Path(MODEL).stem]  # served by the running server

    again = server.weblab("import", str(tmp_path / "models" / MODEL), "--owner", "importer", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout == "0 imported, 1 unchanged, 0 failed\n"

    nobody = server.weblab("import", "models", "--owner", "nobody", cwd=tmp_path)
    assert nobody.returncode == 1
    assert nobody.stderr.strip() == "weblab: error: no user named 'nobody'; create one with `weblab user add`"


def test_run_all_beside_a_running_server(server: Deployment) -> None:
    done = server.weblab("run-all", "--recover")
    assert done.returncode == 0, done.stderr
    recovery, queued = done.stdout.splitlines()
    assert recovery == "recovery: Recovery(requeued=[], orphans_removed=[], retried=[], failed=[])"
    assert queued.startswith("queued 0 runs, recorded 0 inapplicable experiments, skipped 0 ")


def test_the_operator_api_wants_the_servers_key(server: Deployment) -> None:
    body = {"name": "intruder", "email": "intruder@example.org", "password": PASSWORD, "roles": ["admin"]}
    anonymous = httpx.post(server.url + "operator/users", json=body, timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthenticated"
    wrong = httpx.post(
        server.url + "operator/users",
        json=body,
        headers={"Authorization": "Operator not-the-key"},
        timeout=10,
    )
    assert wrong.status_code == 403
    assert wrong.json()["error"]["code"] == "forbidden"
    assert (
        httpx.get(server.url + "operator", headers={"Authorization": "Operator x"}, timeout=10).status_code
        == 403
    )
    assert not _logs_in(server.url, "intruder")

    key = json.loads((server.data_dir / "operator.json").read_text())["key"]
    relative = httpx.post(
        server.url + "operator/import",
        json={"paths": ["models"], "owner": "admin"},
        headers={"Authorization": f"Operator {key}"},
        timeout=10,
    )
    assert relative.status_code == 400
    assert relative.json()["error"]["field"] == "paths"


# --- without a server --------------------------------------------------------------------------


def test_a_stale_operator_file_is_ignored(server: Deployment, tmp_path: Path) -> None:
    """A file whose server is gone, or whose URL another server answers without knowing its key."""
    with fresh_database("operator_alone") as database_url:
        alone = _deployment(tmp_path / "data", database_url)
        alone.data_dir.mkdir()
        stale = alone.data_dir / "operator.json"
        for n, url in enumerate((f"http://127.0.0.1:{free_port()}/", server.url)):
            stale.write_text(json.dumps({"url": url, "key": "left-by-a-dead-server", "pid": 1}))
            name = f"alone{n}"
            done = alone.weblab("user", "add", name, "--email", f"{name}@example.org", stdin=PASSWORD)
            assert done.returncode == 0, done.stderr
            assert done.stdout == f"created user {name} <{name}@example.org> (no roles)\n"
            assert not _logs_in(server.url, name)  # made in its own deployment, not the running server's


def test_the_output_is_the_same_with_and_without_a_server(server: Deployment, tmp_path: Path) -> None:
    served_dir, alone_dir = tmp_path / "served", tmp_path / "alone"
    served_dir.mkdir()
    alone_dir.mkdir()
    _folder_to_import(served_dir)
    _folder_to_import(alone_dir)
    assert server.weblab("user", "add", "same", "--email", "same@example.org", stdin=PASSWORD).returncode == 0
    beside = server.weblab("import", "models", "--owner", "same", cwd=served_dir)
    with fresh_database("operator_same") as database_url:
        alone = _deployment(tmp_path / "data", database_url)
        created = alone.weblab("user", "add", "same", "--email", "same@example.org", stdin=PASSWORD)
        assert created.returncode == 0, created.stderr
        assert not (alone.data_dir / "operator.json").exists()
        by_itself = alone.weblab("import", "models", "--owner", "same", cwd=alone_dir)
    assert (beside.returncode, beside.stdout) == (by_itself.returncode, by_itself.stdout)

    def failures(stderr: str) -> list[str]:
        return [line for line in stderr.splitlines() if line.startswith("  failed: ")]

    assert failures(beside.stderr) == failures(by_itself.stderr) != []


def test_the_server_removes_its_operator_file_when_it_stops(tmp_path: Path) -> None:
    with fresh_database("operator_stop") as database_url:
        deployment = _deployment(tmp_path / "data", database_url)
        deployment.data_dir.mkdir()
        log = deployment.data_dir / "serve.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "web.cli", "serve", "--no-demo"],
                cwd=ROOT,
                env=deployment.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            servers.wait_until_up(deployment.url, process, log, 60)
            _wait_for(lambda: (deployment.data_dir / "operator.json").exists(), "operator.json", 10)
        finally:
            servers.stop(process)
        assert not (deployment.data_dir / "operator.json").exists()
        assert not [p for p in os.listdir(deployment.data_dir) if p.startswith(".operator.json")]


@pytest.mark.embedded
def test_user_add_beside_make_run(tmp_path: Path) -> None:
    """The issue's case: `make run` (the embedded default: PostgreSQL and Redis under the data directory),
    then `weblab user add` in a second terminal."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBLAB_")}
    env.update(WEBLAB_DATA_DIR=str(tmp_path / "data"), WEBLAB_PORT=str(port), WEBLAB_BASE_URI=url)
    deployment = Deployment(tmp_path / "data", env, url)
    log = tmp_path / "serve.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "web.cli", "serve", "--no-demo"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        servers.wait_until_up(url, process, log, 120)
        _wait_for(lambda: (deployment.data_dir / "operator.json").exists(), "operator.json", 10)
        done = deployment.weblab(
            "user", "add", "admin", "--email", "a@example.org", "--role", "admin", stdin=PASSWORD
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout == "created user admin <a@example.org> (admin)\n"
        assert _logs_in(url, "admin")
    finally:
        servers.stop(process)
