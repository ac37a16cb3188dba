"""What every fuzz test shares: its budget and seed, the test server's log, and how a request is sent and judged.

``Api.send`` and ``raw_send`` fail the test at once on an answer that breaks the rules (a 5xx that is not
a service being unavailable, an API error not in the platform's JSON shape, a leaked file), with the
request and the lines the server logged meanwhile; ``ServerLog`` finds errors the server logged without
answering 5xx.
"""

from __future__ import annotations

import http.client
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from hypothesis import HealthCheck, seed, settings

from tests.conftest import ROOT, SHARED_DATA

EXAMPLES = int(os.environ.get("WEBLAB_FUZZ_EXAMPLES", "10"))
SEED = os.environ.get("WEBLAB_FUZZ_SEED", "")  # "": derandomized; "random"; or a seed
SECRET = "server-test-secret"  # tests.servers.server_env's WEBLAB_SECRET_KEY: signed runner callbacks
SDL = ROOT / "schema" / "schema.graphql"
PASSWORD = "correct horse"  # tests.conftest.user_maker's
MODEL_FILE = SHARED_DATA / "cellml" / "beeler_reuter_model_1977.cellml"
PROTOCOL = (
    b'namespace oxmeta = "https://chaste.comlab.ox.ac.uk/cellml/ns/oxford-metadata#"\n\n'
    b"model interface {\n    output oxmeta:weblab_fuzz_term_no_model_has\n}\n"
)
CELLML = b'<model name="m" xmlns="http://www.cellml.org/cellml/1.0#"/>\n'
MASKED = "internal error (it is logged)"
KINDS = ("models", "protocols", "datasets")

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    print_blob=True,
    derandomize=not SEED,
    suppress_health_check=list(HealthCheck),
)


def seeded(test: Any) -> Any:
    return seed(int(SEED))(test) if SEED.isdigit() else test


# --- the server, its log, and how the fuzzer talks to it ----------------------------------------------


class ServerLog:
    """The running server's log file (``tests.servers`` writes it into the server's data directory)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def mark(self) -> int:
        return self.path.stat().st_size if self.path and self.path.exists() else 0

    def since(self, mark: int) -> str:
        if not self.path or not self.path.exists():
            return "(the server log was not found)"
        with self.path.open("rb") as f:
            f.seek(mark)
            return f.read().decode("utf-8", "replace")

    def errors_since(self, mark: int) -> list[str]:
        """Logged errors and tracebacks (as JSON lines, or uvicorn's plain text) since ``mark``."""
        found = []
        for line in self.since(mark).splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
            if isinstance(entry, dict):
                if entry.get("level") in ("error", "critical") or "exception" in entry:
                    found.append(line)
            elif "Traceback" in line or line.startswith(("ERROR", "CRITICAL")):
                found.append(line)
        return found

    def wait_for_errors(self, mark: int, timeout: float = 2.0) -> None:
        """Return once the server has logged an error since ``mark``, or after ``timeout`` s.

        For failure messages only: a crash's traceback is logged after its 500 is sent (and a dropped
        connection's as the server notices), so the message would otherwise miss the very lines that explain it.
        """
        deadline = time.monotonic() + timeout
        while not self.errors_since(mark) and time.monotonic() < deadline:
            time.sleep(0.05)


_addresses = iter(range(10, 250))


def fresh_address() -> str:
    """A loopback address no other client of the test server uses (its own login-throttle counters)."""
    return f"127.0.0.{next(_addresses)}"


class Api:
    """Sends the fuzzer's requests and judges the answers."""

    def __init__(self, base: str, log: ServerLog) -> None:
        self.base = base.rstrip("/")
        self.log = log
        self.address = fresh_address()
        self.http = self._client(self.address)
        self.auth_clients: list[httpx.Client] = []
        self.auth_calls = 0

    def _client(self, address: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.base, timeout=60, transport=httpx.HTTPTransport(local_address=address)
        )

    def auth_client(self) -> httpx.Client:
        """A client for login/register: a fresh address every 12 calls, under the per-address limit (20)."""
        if self.auth_calls % 12 == 0:
            self.auth_clients.append(self._client(fresh_address()))
        self.auth_calls += 1
        return self.auth_clients[-1]

    def send(
        self, method: str, path: str, *, client: httpx.Client | None = None, api: bool = True, **kwargs: Any
    ) -> httpx.Response:
        client = client or self.http
        client.cookies.clear()
        mark = self.log.mark()
        if "headers" in kwargs:
            kwargs["headers"] = clean_headers(kwargs["headers"])
        request = client.build_request(method, path, **kwargs)
        try:
            response = client.send(request)
        except httpx.RemoteProtocolError as exc:  # the server dropped the connection: a crash of sorts
            self.log.wait_for_errors(mark)
            raise AssertionError(
                f"the server dropped the connection ({exc})\n{describe_request(request)}\n"
                f"server log:\n{self.log.since(mark)[-6000:]}"
            ) from exc
        judge(
            response.status_code,
            response.headers,
            response.content,
            method=method,
            api=api,
            request=describe_request(request),
            log=self.log,
            mark=mark,
        )
        return response


def clean_headers(headers: dict[str, str] | None) -> dict[str, bytes]:
    """Header values as HTTP carries them: Latin-1 bytes without surrounding white space."""
    return {k: v.strip(" \t").encode("latin-1") for k, v in (headers or {}).items()}


def describe_request(request: httpx.Request) -> str:
    headers = {
        k: ("Bearer …" if k.lower() == "authorization" else v)
        for k, v in request.headers.items()
        if k.lower() not in ("host", "accept-encoding", "connection", "user-agent", "content-length")
    }
    body = request.content if request.content is not None else b""
    return (
        f"request: {request.method} {request.url.raw_path.decode('latin-1')}\nheaders: {headers}\n"
        f"body ({len(body)} bytes): {body[:1500]!r}"
    )


def error_shape_problem(content: bytes) -> str | None:
    """What is wrong with an error body, or None when it is ``{"error": {"code": str, "message": str}}``."""
    try:
        body = json.loads(content)
    except ValueError:
        return "the error body is not JSON"
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "the error body has no 'error' object"
    if not isinstance(error.get("code"), str) or not isinstance(error.get("message"), str):
        return "the error object lacks a string 'code' or 'message'"
    return None


def says_unavailable(content: bytes) -> bool:
    try:
        body = json.loads(content)
    except ValueError:
        return False
    text = json.dumps(body).lower()
    return "unavailable" in text or '"down"' in text


def judge(
    status: int,
    headers: Any,
    content: bytes,
    *,
    method: str,
    api: bool,
    request: str,
    log: ServerLog,
    mark: int,
) -> None:
    problem = None
    if status >= 500 and not (status == 503 and says_unavailable(content)):
        problem = f"answered {status}"
    elif api and status >= 400 and method != "HEAD":
        shape = error_shape_problem(content)
        if shape:
            problem = f"answered {status}, but {shape} (content-type {headers.get('content-type')!r})"
    if problem:
        log.wait_for_errors(mark)
        raise AssertionError(
            f"{problem}\n{request}\nresponse: {content[:1500]!r}\nserver log:\n{log.since(mark)[-6000:]}"
        )


@dataclass
class Caller:
    """A signed-in user of the test server, whose token the fuzz may revoke (then it is minted again)."""

    name: str
    token: str
    api: Api
    remints: int = 0

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def refresh(self) -> None:
        """A new token when the current one no longer works (the fuzz revoked it: DELETE /auth/tokens/{id})."""
        if self.api.http.get("/auth/me", headers=self.headers()).status_code != 401:
            return
        client = self.api._client(fresh_address())
        login = client.post("/auth/login", json={"name": self.name, "password": PASSWORD})
        assert login.status_code == 200, login.text
        made = client.post(
            "/auth/tokens", json={"name": "fuzz"}, headers={"X-CSRF-Token": login.json()["csrf_token"]}
        )
        assert made.status_code == 201, made.text
        self.token = made.json()["token"]
        self.remints += 1
        client.close()


@dataclass
class Corpus:
    """Content of the fuzzer's own on the server, so that generated requests also reach existing things."""

    model_id: str
    model_sha: str
    model_version: str
    model_main: str
    protocol_id: str
    protocol_sha: str
    protocol_version: str
    run_id: str | None
    user_name: str
    extra: dict[str, str] = field(default_factory=dict)


# --- REST -----------------------------------------------------------------------------------------------

REST = settings(FUZZ, max_examples=EXAMPLES * 5)
LEAKS = (b"root:x:0:0", b"[core]\n", b"repositoryformatversion", b"BEGIN PRIVATE KEY", SECRET.encode())


def raw_send(
    api: Api,
    method: str,
    target: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    *,
    page: bool = False,
) -> tuple[int, bytes]:
    """One request whose target is sent exactly as given (httpx would resolve ``..`` segments first)."""
    split = urlsplit(api.base)
    conn = http.client.HTTPConnection(
        split.hostname or "127.0.0.1", split.port, timeout=60, source_address=(api.address, 0)
    )
    mark = api.log.mark()
    described = (
        f"request: {method} {target}\nheaders: "
        f"{ {k: ('Bearer …' if k.lower() == 'authorization' else v) for k, v in (headers or {}).items()} }"
    )
    try:
        conn.request(method, target, body=body, headers=clean_headers(headers))
        response = conn.getresponse()
        content = response.read()
    except (http.client.HTTPException, ConnectionError) as exc:
        api.log.wait_for_errors(mark)
        raise AssertionError(
            f"the server dropped the connection ({exc!r})\n{described}\n"
            f"server log:\n{api.log.since(mark)[-6000:]}"
        ) from exc
    finally:
        conn.close()
    judge(
        response.status,
        response.headers,
        content,
        method=method,
        api=not page,
        request=described,
        log=api.log,
        mark=mark,
    )
    if response.status == 200:
        leaked = [leak for leak in LEAKS if leak in content]
        assert not leaked, f"the answer holds {leaked} (a file outside the repository?)\n{described}"
    return response.status, content
