"""A fuzz pass over the GraphQL and REST endpoints of a real server: none answers 5xx (security issue #16).

GraphQL: schemathesis generates queries and mutations for every field of ``Query`` and ``Mutation`` in the
committed SDL (``schema/schema.graphql``), with valid and invalid arguments, and sends them to the running
server (``server`` of ``conftest.py``), anonymously and with a signed-in user's Bearer token. Every answer
must be below 500, JSON in GraphQL's shape (``data`` and/or ``errors``; or the platform's error shape for a
request refused before GraphQL runs), and no error may be a masked internal one ("internal error (it is
logged)"), which is GraphQL's way of saying 500.

REST: Hypothesis strategies over the routes of README's "HTTP endpoints" table: the auth routes (JSON, form,
multipart and raw bodies), uploads to ``/models`` ``/protocols`` ``/datasets`` (hand-built multipart with
random fields, file names, contents and zip archives), file/archive/diff downloads with random ids, refs and
paths (traversal attempts sent as literal ``..`` too, through ``http.client``), ``/sparql`` GET/POST with
random queries, parameters and content types, the Graph Store with random graph IRIs and bodies, the
linked-data URIs with random ``Accept`` and ``?format=``, ``/runs`` with random ids and bodies, the runner
contract with random (and validly signed but nonsensical) tokens and callbacks, the web pages, and a
catch-all of random methods and headers on every route. Every answer must be below 500 (a 503 only when its
body says a service is unavailable), and an API error must be the platform's JSON error shape
``{"error": {"code": ..., "message": ...}}`` (the web pages may answer HTML). Each test also fails when the
server logged an error or a traceback while it ran, since a crash need not surface as a 5xx.

The fuzzer's requests come from their own loopback addresses (127.0.0.2 and up; Linux routes all of
127.0.0.0/8 to ``lo``), so its failed logins never lock out 127.0.0.1, which the other security tests use,
and auth requests rotate addresses so that the login throttle does not turn the whole pass into 429s. Admin
writes (SPARQL Update, Graph Store) only name graphs of the fuzzer's own (``urn:weblab-fuzz:…``), never the
default graph; uploads are mostly private. A failure message carries the request (a minimal reproducer once
Hypothesis has shrunk it) and the lines the server logged meanwhile.

Budget: ``WEBLAB_FUZZ_EXAMPLES`` examples per REST test and per GraphQL operation and caller (default 10: a
representative pass of about a minute on two cores; ``WEBLAB_FUZZ_EXAMPLES=500`` for a long run).
The default pass is derandomized, so that CI sees the same inputs on every run and a red run is a change in the
server, not a new draw; ``WEBLAB_FUZZ_SEED=random`` explores new inputs each run, ``WEBLAB_FUZZ_SEED=N`` replays
seed N. A failure prints its reproducer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import io
import json
import os
import time
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
import pytest_asyncio
import requests
import requests.adapters
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from schemathesis.graphql import nodes

from tests.conftest import ROOT, SHARED_DATA, MakeUser

EXAMPLES = int(os.environ.get("WEBLAB_FUZZ_EXAMPLES", "10"))
SEED = os.environ.get("WEBLAB_FUZZ_SEED", "")  # "": derandomized; "random"; or a seed
SECRET = "server-test-secret"  # tests.servers.server_env's WEBLAB_SECRET_KEY: signed runner callbacks
SDL = ROOT / "schema" / "schema.graphql"
PASSWORD = "correct horse"  # tests.conftest.user_maker's
MODEL_FILE = SHARED_DATA / "cellml" / "beeler_reuter_model_1977.cellml"
PROTOCOL = (b'namespace oxmeta = "https://chaste.comlab.ox.ac.uk/cellml/ns/oxford-metadata#"\n\n'
            b"model interface {\n    output oxmeta:weblab_fuzz_term_no_model_has\n}\n")
CELLML = b'<model name="m" xmlns="http://www.cellml.org/cellml/1.0#"/>\n'
MASKED = "internal error (it is logged)"
KINDS = ("models", "protocols", "datasets")

FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, print_blob=True, derandomize=not SEED,
                suppress_health_check=list(HealthCheck))


def _seeded(test: Any) -> Any:
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


@pytest.fixture(scope="session")
def server_log(server: str, tmp_path_factory: pytest.TempPathFactory) -> ServerLog:
    logs = sorted(tmp_path_factory.getbasetemp().glob("security-server*/server.log"),
                  key=lambda p: p.stat().st_mtime)
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
    time.sleep(0.2)
    errors = server_log.errors_since(mark)
    assert not errors, "the server logged errors during this test:\n" + server_log.since(mark)[-12000:]


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
        return httpx.Client(base_url=self.base, timeout=60, transport=httpx.HTTPTransport(local_address=address))

    def auth_client(self) -> httpx.Client:
        """A client for login/register: a fresh address every 12 calls, under the per-address limit (20)."""
        if self.auth_calls % 12 == 0:
            self.auth_clients.append(self._client(fresh_address()))
        self.auth_calls += 1
        return self.auth_clients[-1]

    def send(self, method: str, path: str, *, client: httpx.Client | None = None, api: bool = True,
             **kwargs: Any) -> httpx.Response:
        client = client or self.http
        client.cookies.clear()
        mark = self.log.mark()
        if "headers" in kwargs:
            kwargs["headers"] = clean_headers(kwargs["headers"])
        request = client.build_request(method, path, **kwargs)
        try:
            response = client.send(request)
        except httpx.RemoteProtocolError as exc:  # the server dropped the connection: a crash of sorts
            time.sleep(0.3)
            raise AssertionError(f"the server dropped the connection ({exc})\n{describe_request(request)}\n"
                                 f"server log:\n{self.log.since(mark)[-6000:]}") from exc
        judge(response.status_code, response.headers, response.content, method=method, api=api,
              request=describe_request(request), log=self.log, mark=mark)
        return response


def clean_headers(headers: dict[str, str] | None) -> dict[str, bytes]:
    """Header values as HTTP carries them: Latin-1 bytes without surrounding white space."""
    return {k: v.strip(" \t").encode("latin-1") for k, v in (headers or {}).items()}


def describe_request(request: httpx.Request) -> str:
    headers = {k: ("Bearer …" if k.lower() == "authorization" else v) for k, v in request.headers.items()
               if k.lower() not in ("host", "accept-encoding", "connection", "user-agent", "content-length")}
    body = request.content if request.content is not None else b""
    return (f"request: {request.method} {request.url.raw_path.decode('latin-1')}\nheaders: {headers}\n"
            f"body ({len(body)} bytes): {body[:1500]!r}")


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


def judge(status: int, headers: Any, content: bytes, *, method: str, api: bool, request: str, log: ServerLog,
          mark: int) -> None:
    problem = None
    if status >= 500 and not (status == 503 and says_unavailable(content)):
        problem = f"answered {status}"
    elif api and status >= 400 and method != "HEAD":
        shape = error_shape_problem(content)
        if shape:
            problem = f"answered {status}, but {shape} (content-type {headers.get('content-type')!r})"
    if problem:
        time.sleep(0.3)  # the traceback is logged after the response is sent
        raise AssertionError(f"{problem}\n{request}\nresponse: {content[:1500]!r}\n"
                             f"server log:\n{log.since(mark)[-6000:]}")


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
        made = client.post("/auth/tokens", json={"name": "fuzz"},
                           headers={"X-CSRF-Token": login.json()["csrf_token"]})
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
        response = api.http.post(path, headers=user.headers(),
                                 files=form + [("files", (name, data)) for name, data in files])
        assert response.status_code == 201, response.text
        return response.json()

    model = upload("/models", [(MODEL_FILE.name, MODEL_FILE.read_bytes())], name="fuzz model", tag="v1")
    upload(f"/models/{model['entity']['id']}/versions", [("extra.txt", b"more\n")], inherit="true",
           visibility="private", message="private second version")
    protocol = upload("/protocols", [("fuzz.txt", PROTOCOL)], name="fuzz protocol", tag="v1")
    run = api.http.post("/runs", headers=user.headers(),
                        json={"model": model["version"]["uri"], "protocol": protocol["version"]["uri"]})
    return Corpus(
        model_id=model["entity"]["id"], model_sha=model["version"]["sha"], model_version=model["version"]["uri"],
        model_main=model["version"]["main"] or MODEL_FILE.name,
        protocol_id=protocol["entity"]["id"], protocol_sha=protocol["version"]["sha"],
        protocol_version=protocol["version"]["uri"],
        run_id=run.json().get("id") if run.status_code == 201 else None, user_name=user.name,
    )


# --- strategies shared by the REST tests ------------------------------------------------------------

NASTY_TEXT = [
    "", " ", "0", "-1", "1e309", "NaN", "null", "true", "[]", "{}", "..", "../../../../etc/passwd",
    "..%2f..%2fetc%2fpasswd", "%00", "\x00", "a\x00b", "'", '"', "\\", "<script>alert(1)</script>",
    "' OR '1'='1", "${jndi:ldap://127.0.0.1:1/a}", "{{7*7}}", "\u202e", "\ufeff", "😀", "Ω" * 300, "x" * 5000,
    "latest", "HEAD", "HEAD~1", "@{0}", "refs/heads/master", "-", "--help", ":", "^", "~", ".git/config",
    "/etc/passwd", "C:\\Windows\\win.ini", "file:///etc/passwd", "http://127.0.0.1:1/", "urn:x",
]
texts = st.one_of(st.sampled_from(NASTY_TEXT), st.text(max_size=40),
                  st.text(max_size=10).map(lambda t: f"a\x00{t}"))  # NUL: PostgreSQL text refuses it
header_text = st.one_of(
    st.sampled_from(["", "*/*", "x", "a/b;c", ";;;", "=", '"', "\t", "é"]),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
            max_size=60),
).map(str.strip)
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), texts)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)), max_leaves=8)
MEDIA_TYPES = [
    "application/json", "application/x-www-form-urlencoded", "multipart/form-data", "text/plain",
    "application/sparql-query", "application/sparql-update", "text/turtle", "application/n-triples",
    "application/ld+json", "application/rdf+xml", "application/n-quads", "application/trig", "text/html",
    "application/xml", "application/zip", "application/octet-stream", "application/graphql-response+json",
    "application/sparql-results+json", "application/sparql-results+xml", "text/csv",
    "text/tab-separated-values", "image/png", "*/*", "text/*", "application/*",
]
media_types = st.one_of(st.sampled_from(MEDIA_TYPES), header_text)
content_types = st.one_of(
    media_types,
    st.tuples(st.sampled_from(MEDIA_TYPES), st.sampled_from(
        ["; charset=utf-8", "; charset=latin-1", "; charset=utf-16", "; charset=", "; boundary=", "; boundary=x",
         ";", '; charset="utf-8"', "; q=0.5"])).map("".join),
)
accepts = st.one_of(
    st.none(), media_types,
    st.lists(st.tuples(media_types, st.sampled_from(["", ";q=0", ";q=1", ";q=0.5", ";q=abc", ";q=-1", ";q=1e9",
                                                     ";level=1", ";q="])).map("".join),
             min_size=1, max_size=4).map(", ".join),
)
FORMAT_NAMES = ["turtle", "jsonld", "json-ld", "ntriples", "nt", "rdfxml", "rdf", "xml", "json", "csv", "tsv",
                "html", "nquads", "trig", "ttl", "TURTLE", ""]
formats_ = st.one_of(st.none(), st.sampled_from(FORMAT_NAMES), texts)
byte_bodies = st.one_of(st.binary(max_size=300), texts.map(lambda t: t.encode("utf-8", "surrogatepass")))


def segment(text: str) -> str:
    """One path segment: ``text`` percent-encoded (slashes too), never empty."""
    return quote(text, safe="") or "%20"


segments = st.one_of(texts, st.uuids().map(str), st.integers().map(str)).map(segment)


@st.composite
def caller_headers(draw: Any, callers: dict[str, Caller], *, admin: bool = True) -> dict[str, str]:
    roles = ["anonymous", "user", "bogus", "malformed", "cookie"] + (["admin"] if admin else [])
    who = draw(st.sampled_from(roles))
    if who in callers:
        return callers[who].headers()
    if who == "bogus":
        return {"Authorization": "Bearer " + draw(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-.",
                                                          max_size=60))}
    if who == "malformed":
        return {"Authorization": draw(header_text)}
    if who == "cookie":
        return {"Cookie": f"weblab_session={draw(st.text(alphabet='abcdef0123456789', max_size=40))}; "
                          f"weblab_csrf=x", "X-CSRF-Token": draw(st.sampled_from(["x", "", "y"]))}
    return {}


def form_encode(pairs: list[tuple[str, str]]) -> bytes:
    return "&".join(f"{quote(k)}={quote(v)}" for k, v in pairs).encode()


@st.composite
def multipart_bodies(draw: Any, *, fields: list[str], file_field: str = "files",
                     contents: st.SearchStrategy[bytes] | None = None) -> tuple[bytes, str]:
    """A hand-built multipart body (so that names and file names may be anything) and its content type."""
    boundary = draw(st.sampled_from(["fuzzboundary", "x", "----WebKitFormBoundary7MA4YWxkTrZu0gW", "a" * 70]))
    parts = []
    for name in draw(st.lists(st.sampled_from(fields), max_size=6)):
        parts.append((name, None, None, draw(texts).encode("utf-8", "surrogatepass")))
    if draw(st.booleans()):
        parts.append((draw(texts), None, None, draw(byte_bodies)))
    file_names = st.one_of(
        st.sampled_from(["model.cellml", "protocol.txt", "a.omex", "a.zip", "manifest.xml", "../../evil.cellml",
                         "/etc/passwd", "a/b/../../../c.txt", ".git/config", "", ".", "..", "CON", "a\\b.txt",
                         "x" * 300, "名前.cellml", "a;b=c.txt", 'q"uote.txt']),
        texts)
    for _ in range(draw(st.integers(0, 4))):
        parts.append((draw(st.sampled_from([file_field, file_field, "archive", "file"])), draw(file_names),
                      draw(st.one_of(st.none(), media_types)), draw(contents if contents is not None else upload_contents())))
    chunks = []
    for name, filename, ctype, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        head = f"Content-Disposition: {disposition}\r\n"
        if ctype:
            head += f"Content-Type: {ctype}\r\n"
        chunks.append(f"--{boundary}\r\n{head}\r\n".encode("utf-8", "surrogatepass") + data + b"\r\n")
    ending = draw(st.sampled_from([f"--{boundary}--\r\n", "", f"--{boundary}", "--other--\r\n"]))
    body = b"".join(chunks) + ending.encode()
    content_type = draw(st.sampled_from([f"multipart/form-data; boundary={boundary}",
                                         f'multipart/form-data; boundary="{boundary}"', "multipart/form-data",
                                         f"multipart/mixed; boundary={boundary}"]))
    return body, content_type


@st.composite
def zip_archives(draw: Any) -> bytes:
    buffer = io.BytesIO()
    names = st.one_of(st.sampled_from(["manifest.xml", "model.cellml", "protocol.txt", "../../escape.txt",
                                       "/abs.txt", "a/../../b.cellml", "dir/", "metadata.rdf", "x.sedml"]),
                      # zipfile truncates a name at NUL, and fails with IndexError on the empty rest
                      st.text(alphabet=st.characters(exclude_characters="\x00"), min_size=1, max_size=20))
    with zipfile.ZipFile(buffer, "w", draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))) as z:
        for _ in range(draw(st.integers(0, 4))):
            name = draw(names)
            data = draw(st.one_of(st.binary(max_size=200), st.sampled_from(XML_SNIPPETS), st.just(CELLML)))
            with warnings.catch_warnings():  # duplicate names are allowed, and meant
                warnings.simplefilter("ignore")
                try:
                    z.writestr(name, data)
                except (ValueError, UnicodeEncodeError):
                    pass
    data = buffer.getvalue()
    if draw(st.booleans()):
        return data
    cut = draw(st.integers(0, max(0, len(data) - 1)))  # a truncated or corrupted archive
    return data[:cut] + draw(st.binary(max_size=20))


XML_SNIPPETS = [
    CELLML,
    b'<?xml version="1.0"?>\n<!DOCTYPE model SYSTEM "http://127.0.0.1:1/x.dtd">\n' + CELLML,
    b'<?xml version="1.0"?>\n<!DOCTYPE m [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n<m>&e;</m>',
    b'<?xml version="1.0"?>\n<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><l>&b;</l>',
    b"<model", b"<model xmlns='http://www.cellml.org/cellml/2.0#' name='x'><component name='c'/></model>",
    b'<?xml version="1.0" encoding="utf-16"?><model/>', b"\xef\xbb\xbf<model/>",
    b'<omexManifest xmlns="http://identifiers.org/combine.specifications/omex-manifest">'
    b'<content location="../../x" format="http://identifiers.org/combine.specifications/cellml"/></omexManifest>',
]


def upload_contents() -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=300), st.sampled_from(XML_SNIPPETS), st.just(PROTOCOL),
                     st.just(PROTOCOL + b"\ntasks {"), zip_archives(),
                     texts.map(lambda t: t.encode("utf-8", "surrogatepass")))


# --- GraphQL (schemathesis) -------------------------------------------------------------------------

schemathesis.graphql.scalar("Upload", st.one_of(st.just(nodes.Null), texts.map(nodes.String),
                                                 st.integers().map(nodes.Int)))
schemathesis.graphql.scalar("DateTime", st.one_of(st.datetimes().map(lambda d: nodes.String(d.isoformat())),
                                                   texts.map(nodes.String)))


class SourceAddress(requests.adapters.HTTPAdapter):
    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


# Loaded from the committed SDL at import, so that each operation is a test item of its own
# (``schemathesis.pytest.from_fixture`` needs ``Node._nodeid``, which pytest 9.2 no longer has); the
# server's URL is given to each call.
graphql = schemathesis.graphql.from_path(SDL)


@pytest.fixture(scope="session")
def graphql_session() -> Iterator[requests.Session]:
    session = requests.Session()
    session.mount("http://", SourceAddress(fresh_address()))
    yield session
    session.close()


def graphql_call(case: Any, server: str, session: requests.Session, log: ServerLog,
                 headers: dict[str, str]) -> Any:
    session.cookies.clear()
    mark = log.mark()
    response = case.call(base_url=server + "graphql", session=session, headers=headers, timeout=60)
    request = (f"request: POST /graphql\nbody: {json.dumps(case.as_transport_kwargs().get('json'))[:3000]}"
               + ("\n(with the Bearer token of a signed-in user)" if headers else "\n(anonymous)"))
    content = response.content
    problem = None
    if response.status_code >= 500:
        problem = f"answered {response.status_code}"
    else:
        try:
            body = json.loads(content)
        except ValueError:
            body = None
            problem = f"answered {response.status_code} with a body that is not JSON"
        if body is not None:
            problem = graphql_shape_problem(response.status_code, body)
    if problem:
        time.sleep(0.3)
        raise AssertionError(f"{problem}\n{request}\nresponse: {content[:2000]!r}\n"
                             f"server log:\n{log.since(mark)[-6000:]}")
    return response


def graphql_shape_problem(status: int, body: Any) -> str | None:
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    if status >= 400 and "error" in body:  # refused before GraphQL ran (body limit, content type)
        return error_shape_problem(json.dumps(body).encode())
    if not set(body) <= {"data", "errors", "extensions"} or not ({"data", "errors"} & set(body)):
        return f"the body is not in GraphQL's shape (keys {sorted(body)})"
    errors = body.get("errors", [])
    if not isinstance(errors, list) or not all(isinstance(e, dict) and isinstance(e.get("message"), str)
                                               for e in errors):
        return "'errors' is not a list of objects with a 'message'"
    masked = [e for e in errors if MASKED in e["message"]]
    if masked:
        return f"an internal error (GraphQL's 500): {masked}"
    return None


@graphql.parametrize()
@FUZZ
def test_graphql_anonymous(case: Any, server: str, graphql_session: requests.Session,
                           server_log: ServerLog) -> None:
    graphql_call(case, server, graphql_session, server_log, {})


@graphql.parametrize()
@FUZZ
def test_graphql_signed_in(case: Any, server: str, graphql_session: requests.Session, server_log: ServerLog,
                           callers: dict[str, Caller]) -> None:
    caller = callers["gql"]
    graphql_call(case, server, graphql_session, server_log, caller.headers())
    if case.operation.label.endswith("revokeToken") or case.operation.label.endswith("logout"):
        caller.refresh()


# --- REST -----------------------------------------------------------------------------------------------

REST = settings(FUZZ, max_examples=EXAMPLES * 5)
LEAKS = (b"root:x:0:0", b"[core]\n", b"repositoryformatversion", b"BEGIN PRIVATE KEY", SECRET.encode())


def raw_send(api: Api, method: str, target: str, headers: dict[str, str] | None = None, body: bytes | None = None,
             *, page: bool = False) -> tuple[int, bytes]:
    """One request whose target is sent exactly as given (httpx would resolve ``..`` segments first)."""
    split = urlsplit(api.base)
    conn = http.client.HTTPConnection(split.hostname or "127.0.0.1", split.port, timeout=60,
                                      source_address=(api.address, 0))
    mark = api.log.mark()
    described = (f"request: {method} {target}\nheaders: "
                 f"{ {k: ('Bearer …' if k.lower() == 'authorization' else v) for k, v in (headers or {}).items()} }")
    try:
        conn.request(method, target, body=body, headers=clean_headers(headers))
        response = conn.getresponse()
        content = response.read()
    except (http.client.HTTPException, ConnectionError) as exc:
        time.sleep(0.3)
        raise AssertionError(f"the server dropped the connection ({exc!r})\n{described}\n"
                             f"server log:\n{api.log.since(mark)[-6000:]}") from exc
    finally:
        conn.close()
    judge(response.status, response.headers, content, method=method, api=not page, request=described, log=api.log,
          mark=mark)
    if response.status == 200:
        leaked = [leak for leak in LEAKS if leak in content]
        assert not leaked, f"the answer holds {leaked} (a file outside the repository?)\n{described}"
    return response.status, content


@st.composite
def request_bodies(draw: Any, fields: list[str]) -> tuple[bytes | None, str | None]:
    """(body, content type): JSON (an object of the fields, or any JSON), a form, multipart, or raw bytes."""
    kind = draw(st.sampled_from(["json", "json", "form", "form", "multipart", "raw", "none"]))
    if kind == "json":
        value = draw(st.one_of(st.dictionaries(st.sampled_from(fields), st.one_of(texts, json_values), max_size=5),
                               json_values))
        text = json.dumps(value)
        if draw(st.booleans()) and text:
            text = text[:draw(st.integers(0, len(text) - 1))]  # truncated: not valid JSON
        return text.encode(), draw(st.sampled_from(["application/json", "application/json; charset=utf-8",
                                                    "application/json; charset=latin-1", "application/jsonx"]))
    if kind == "form":
        pairs = draw(st.lists(st.tuples(st.one_of(st.sampled_from(fields), texts), texts), max_size=6))
        return form_encode(pairs), "application/x-www-form-urlencoded"
    if kind == "multipart":
        return draw(multipart_bodies(fields=fields, contents=byte_bodies))
    if kind == "raw":
        return draw(byte_bodies), draw(st.one_of(st.none(), content_types))
    return None, None


def with_type(headers: dict[str, str], content_type: str | None) -> dict[str, str]:
    return {**headers, "Content-Type": content_type} if content_type is not None else headers


AUTH_FIELDS = ["name", "email", "password", "csrf_token"]


@st.composite
def registrations(draw: Any) -> dict[str, Any]:
    """Mostly well-formed registrations (so that the account code runs, not only the field checks)."""
    name = draw(st.one_of(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-.", min_size=1, max_size=30),
                          texts))
    return {"name": name, "email": draw(st.one_of(st.emails(), texts)),
            "password": draw(st.one_of(st.text(min_size=10, max_size=80), texts))}


@_seeded
@REST
@given(data=st.data())
def test_auth_routes(api: Api, callers: dict[str, Caller], quiet_log: ServerLog, data: st.DataObject) -> None:
    method, path = data.draw(st.sampled_from([
        ("POST", "/auth/register"), ("POST", "/auth/register"), ("POST", "/auth/login"), ("POST", "/auth/login"),
        ("POST", "/auth/logout"), ("GET", "/auth/me"), ("GET", "/auth/tokens"), ("POST", "/auth/tokens"),
        ("DELETE", "/auth/tokens/{id}")]), label="route")
    if "{id}" in path:
        path = path.format(id=data.draw(st.one_of(
            st.integers(-(2**70), 2**70).map(str), segments), label="token id"))
    headers = data.draw(caller_headers(callers), label="caller")
    if path == "/auth/register" and data.draw(st.booleans(), label="well-formed"):
        body, content_type = json.dumps(data.draw(registrations(), label="registration")).encode(), "application/json"
    elif path in ("/auth/login", "/auth/tokens") and data.draw(st.booleans(), label="well-formed"):
        fields = {"name": data.draw(texts, label="name"), "password": data.draw(st.text(min_size=1), label="password")}
        body, content_type = json.dumps(fields).encode(), "application/json"
    else:
        body, content_type = data.draw(request_bodies(AUTH_FIELDS), label="body")
    client = api.auth_client() if path in ("/auth/register", "/auth/login") else None
    api.send(method, path, client=client, content=body, headers=with_type(headers, content_type))
    if method == "DELETE" or path == "/auth/logout":
        for caller in callers.values():
            caller.refresh()


UPLOAD_FIELDS = ["name", "message", "visibility", "tag", "main", "protocol", "inherit"]


@_seeded
@REST
@given(data=st.data())
def test_entity_uploads(api: Api, callers: dict[str, Caller], corpus: Corpus, quiet_log: ServerLog,
                        data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(KINDS), label="kind")
    path = data.draw(st.sampled_from([f"/{kind}", f"/{kind}", f"/models/{corpus.model_id}/versions",
                                      f"/protocols/{corpus.protocol_id}/versions", f"/{kind}/{{id}}/versions",
                                      f"/{kind}/"]), label="path")
    if "{id}" in path:
        path = path.format(id=data.draw(segments, label="id"))
    headers = data.draw(st.one_of(st.just(callers["user"].headers()), caller_headers(callers)), label="caller")
    if data.draw(st.integers(0, 4), label="shape") > 0:
        body, content_type = data.draw(multipart_bodies(fields=UPLOAD_FIELDS), label="multipart")
    else:
        body, content_type = data.draw(request_bodies(UPLOAD_FIELDS), label="body")
    api.send("POST", path, content=body, headers=with_type(headers, content_type))


TRAVERSALS = ["../../../../../../etc/passwd", "..%2f..%2f..%2f..%2fetc%2fpasswd", "%2e%2e/%2e%2e/%2e%2e/etc/passwd",
              "....//....//etc/passwd", "/etc/passwd", "%2fetc%2fpasswd", "..\\..\\..\\etc\\passwd",
              ".git/config", "../.git/config", "../../config", "%00", "x%00.cellml", "a/./b", "a//b", "", ".", "..",
              "%2e", "~", "%c0%ae%c0%ae/etc/passwd", "%25%32%65%25%32%65/etc/passwd"]


def raw_piece(text: str) -> str:
    """``text`` for a raw request target: percent-encoded, but keeping ``/``, ``.``, ``%`` and friends."""
    return quote(text, safe="/.%~:@!$&'()*+,;=-_") or "x"


@_seeded
@REST
@given(data=st.data())
def test_entity_downloads(api: Api, callers: dict[str, Caller], corpus: Corpus, quiet_log: ServerLog,
                          data: st.DataObject) -> None:
    kind, entity = data.draw(st.one_of(
        st.just(("models", corpus.model_id)), st.just(("protocols", corpus.protocol_id)),
        st.tuples(st.sampled_from(KINDS), st.one_of(st.sampled_from(TRAVERSALS), texts).map(raw_piece))),
        label="entity")
    ref = data.draw(st.one_of(
        st.sampled_from(["latest", corpus.model_sha, corpus.model_sha[:7], corpus.protocol_sha, "v1", "HEAD",
                         "HEAD~1", "HEAD^", "@{0}", "master", "refs/heads/master", "-", "..", "%00",
                         "0" * 40, "f" * 64, corpus.model_sha[:1]]),
        texts.map(raw_piece)), label="ref")
    tail = data.draw(st.one_of(
        st.just(f"files/{corpus.model_main}"),
        st.sampled_from(TRAVERSALS).map(lambda p: "files/" + p),
        st.lists(texts.map(raw_piece), min_size=1, max_size=4).map(lambda parts: "files/" + "/".join(parts)),
        st.just("archive")), label="tail")
    target = f"/{kind}/{entity}/versions/{ref}/{tail}"
    if data.draw(st.integers(0, 5), label="diff?") == 0:
        query = data.draw(st.lists(st.tuples(st.sampled_from(["from", "to", "x"]), st.one_of(
            st.sampled_from(["latest", corpus.model_sha, "v1"]), texts)), max_size=3), label="diff")
        target = f"/{kind}/{entity}/diff?" + form_encode(query).decode()
    headers = data.draw(caller_headers(callers), label="caller")
    method = data.draw(st.sampled_from(["GET", "GET", "HEAD"]), label="method")
    raw_send(api, method, target, headers)


# SPARQL: queries built from pieces of the grammar (with random holes), random text and truncations. Each
# query has at most one unconstrained triple pattern (the store holds the ontologies), so that none runs into
# its deadline.

def sparql_iris(corpus_uri: str) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from([
        corpus_uri, "http://example.org/a", "urn:weblab-fuzz:g", "", "http://127.0.0.1:1/", "file:///etc/passwd",
        "javascript:alert(1)", "http://[::1]/", "a b", "x>", "http://a/%zz", "https://w3id.org/weblab/ns#Model",
        "http://www.w3.org/1999/02/22-rdf-syntax-ns#type", "http://purl.org/dc/terms/title"]), texts)


@st.composite
def sparql_queries(draw: Any, corpus_uri: str) -> str:
    iri = draw(sparql_iris(corpus_uri)).replace(">", "%3E")
    lit = json.dumps(draw(texts))
    term = st.sampled_from([f"<{iri}>", lit, f"{lit}@en", f"{lit}@{draw(texts)}", "1", "-0", "1.5e308", "1e999",
                            "true", "[]", "_:b", "()", f'{lit}^^<http://www.w3.org/2001/XMLSchema#integer>',
                            f'{lit}^^<http://www.w3.org/2001/XMLSchema#dateTime>', "?o", "?x", "x:y", "<>"])
    number = str(draw(st.one_of(st.integers(-10, 100), st.integers(-(10**30), 10**30))))
    expr = draw(st.sampled_from([
        f"REGEX(STR(?o), {lit})", f'REGEX(STR(?o), {lit}, {json.dumps(draw(texts))})', f"REPLACE(STR(?o), {lit}, {lit})",
        f"SUBSTR(STR(?o), {number}, {number})", "STRLEN(STR(?o)) > 3", f"xsd:integer({lit})", "1/0", "?o + 1",
        f"LANGMATCHES(LANG(?o), {lit})", f"CONCAT(STR(?o), {lit})", f"ENCODE_FOR_URI({lit})", f"IRI({lit})",
        "BNODE()", "UUID()", "NOW()", "RAND()", f"COALESCE(?x, {lit})", "IF(?o, 1, 0)", "isIRI(?s)",
        f"STRDT({lit}, <{iri}>)", f"STRLANG({lit}, {lit})", "ABS(?o)", "ROUND(?o)", "YEAR(?o)", "TZ(NOW())",
        f"SHA512({lit})", "MD5(STR(?s))", f"EXISTS {{ <{iri}> ?p ?o }}", f"?o IN ({lit}, 1)", f"{lit} NOT IN (?o)",
        f"STRSTARTS(STR(?s), {lit})", f"<{iri}>(?o)", "COUNT(*)", "?undefined", f"DATATYPE({lit})",
        f"SUBSTR({lit}, 1, 99999999999)", f"STRBEFORE({lit}, {lit})", "LCASE(?o)", f"CONTAINS(STR(?o), {lit})",
    ]))
    t = draw(term)
    fixed = f"<{iri}>"
    pattern = draw(st.sampled_from([
        f"{fixed} ?p ?o .", f"?s <{iri}> {t} .", f"{fixed} ?p {t} .", f"?s ?p ?o . FILTER({expr})",
        f"{fixed} ?p ?o . FILTER({expr})", f"{fixed} ?p ?o . BIND({expr} AS ?v)", f"VALUES ?o {{ {t} {t} }}",
        f"GRAPH ?g {{ {fixed} ?p ?o }}", f"OPTIONAL {{ {fixed} ?p ?o }}", f"{{ {fixed} ?p ?o }} UNION {{ ?s ?p {t} }}",
        f"SERVICE <{iri}> {{ ?s ?p ?o }}", f"SERVICE SILENT <{iri}> {{ ?s ?p ?o }}", f"{fixed} ?p ?o MINUS {{ ?s ?p {t} }}",
        f"{fixed} <{iri}>* ?o", f"{fixed} (<{iri}>|^<{iri}>)+ ?o", f"{fixed} !(<{iri}>) ?o",
        f"{fixed} ?p ?o . {{ SELECT ?o WHERE {{ ?s <{iri}> ?o }} LIMIT 3 }}", f"?s ?p {t} . FILTER NOT EXISTS {{ ?s ?p ?o }}",
        f"?s a <{iri}> .", "?s ?p ?o .", f"{fixed} ?p ?o . {fixed} ?q ?r .",
    ]))
    prologue = draw(st.sampled_from(["", f"PREFIX x: <{iri}>\n", f"BASE <{iri}>\n",
                                     "PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>\n", "PREFIX : <>\n"]))
    modifiers = "".join(draw(st.lists(st.sampled_from([
        " ORDER BY ?o", " ORDER BY DESC(?o)", f" LIMIT {number}", f" OFFSET {number}", " GROUP BY ?s",
        f" HAVING({expr})", " LIMIT 5"]), max_size=3, unique=True)))
    dataset = draw(st.sampled_from(["", f" FROM <{iri}>", f" FROM NAMED <{iri}>"]))
    query = draw(st.sampled_from([
        f"SELECT * {dataset} WHERE {{ {pattern} }}{modifiers}",
        f"SELECT DISTINCT ?s ?o WHERE {{ {pattern} }}{modifiers}",
        f"SELECT (COUNT(*) AS ?n) (SAMPLE(?o) AS ?x) WHERE {{ {pattern} }}",
        f"SELECT ({expr} AS ?e) WHERE {{ {pattern} }} LIMIT 3",
        f"ASK {dataset} {{ {pattern} }}", f"CONSTRUCT {{ ?s ?p {t} }} WHERE {{ {pattern} }} LIMIT 10",
        f"CONSTRUCT WHERE {{ {fixed} ?p ?o }}", f"DESCRIBE <{iri}>", f"DESCRIBE ?s WHERE {{ {pattern} }} LIMIT 2",
        f"SELECT * WHERE {{ {pattern} }}{modifiers}",
    ]))
    query = prologue + query
    mangle = draw(st.sampled_from(["none", "none", "none", "truncate", "garbage", "text"]))
    if mangle == "truncate" and query:
        query = query[:draw(st.integers(0, len(query) - 1))]
    elif mangle == "garbage":
        at = draw(st.integers(0, len(query)))
        query = query[:at] + draw(texts) + query[at:]
    elif mangle == "text":
        query = draw(texts)
    return query


FUZZ_GRAPH = "urn:weblab-fuzz:"


@st.composite
def sparql_updates(draw: Any, *, safe: bool) -> str:
    """Updates; ``safe`` ones (for an admin) write only to graphs of the fuzzer's own, never the default one."""
    g = f"<{FUZZ_GRAPH}{draw(st.text(alphabet='abcdefghij', max_size=8))}>"
    g2 = f"<{FUZZ_GRAPH}{draw(st.text(alphabet='abcdefghij', max_size=8))}>"
    lit = json.dumps(draw(texts))
    triple = draw(st.sampled_from([f"<urn:a> <urn:b> {lit} .", f"<urn:a> <urn:b> {lit}@en .", "_:b <urn:b> _:c .",
                                   "<urn:a> <urn:b> \"1\"^^<http://www.w3.org/2001/XMLSchema#integer> .",
                                   f"<urn:a> <urn:b> {lit}^^<http://www.w3.org/2001/XMLSchema#boolean> ."]))
    updates = [
        f"INSERT DATA {{ GRAPH {g} {{ {triple} }} }}", f"DELETE DATA {{ GRAPH {g} {{ {triple} }} }}",
        f"DELETE WHERE {{ GRAPH {g} {{ ?s ?p ?o }} }}", f"CLEAR GRAPH {g}", f"CLEAR SILENT GRAPH {g}",
        f"DROP SILENT GRAPH {g}", f"DROP GRAPH {g}", f"CREATE GRAPH {g}", f"CREATE SILENT GRAPH {g}",
        f"LOAD <http://127.0.0.1:1/x.ttl> INTO GRAPH {g}", f"LOAD SILENT <file:///etc/passwd> INTO GRAPH {g}",
        f"LOAD <{draw(texts)}> INTO GRAPH {g}", f"WITH {g} DELETE {{ ?s ?p ?o }} INSERT {{ ?s ?p {lit} }} WHERE {{ ?s ?p ?o }}",
        f"COPY {g} TO {g2}", f"MOVE SILENT {g} TO {g2}", f"ADD {g} TO {g2}",
        f"INSERT {{ GRAPH {g} {{ ?s <urn:b> ?o }} }} WHERE {{ <urn:a> ?p ?o BIND(<urn:a> AS ?s) }}",
        f"INSERT DATA {{ GRAPH {g} {{ {triple} }} }} ; CLEAR SILENT GRAPH {g}",
    ]
    if not safe:  # for callers who may not update at all: these must be refused, never run
        updates += ["CLEAR ALL", "DROP ALL", "CLEAR DEFAULT", "DROP NAMED", f"INSERT DATA {{ {triple} }}",
                    "DELETE WHERE { ?s ?p ?o }", f"COPY DEFAULT TO {g}", f"MOVE {g} TO DEFAULT"]
    update = draw(st.sampled_from(updates))
    mangle = draw(st.sampled_from(["none", "none", "truncate", "text"]))
    if mangle == "truncate" and update:
        cut = draw(st.integers(0, len(update) - 1))
        update = update[:cut]
        if safe and "GRAPH" not in update and "INSERT" in update.upper():
            update = "INSERT"  # a cut that leaves an INSERT DATA on the default graph is not sent by an admin
    elif mangle == "text":
        update = draw(st.sampled_from(["", " ", "INSERT", "DELETE", "LOAD", "SELECT * WHERE { ?s ?p ?o }"]))
    return update


@_seeded
@REST
@given(data=st.data())
def test_sparql_protocol(api: Api, callers: dict[str, Caller], corpus: Corpus, quiet_log: ServerLog,
                         data: st.DataObject) -> None:
    who = data.draw(st.sampled_from(["anonymous", "user", "admin", "other"]), label="caller")
    headers = {} if who == "anonymous" else (callers[who].headers() if who in callers
                                             else data.draw(caller_headers(callers, admin=False)))
    safe = who == "admin"
    query = data.draw(sparql_queries(corpus.model_version), label="query")
    update = data.draw(sparql_updates(safe=safe), label="update")
    op = data.draw(st.sampled_from(["query", "query", "query", "update", "both", "neither"]), label="operation")
    params: list[tuple[str, str]] = []
    if op in ("query", "both"):
        params.append(("query", query))
    if op in ("update", "both"):
        params.append(("update", update))
    for name in data.draw(st.lists(st.sampled_from(["format", "default-graph-uri", "named-graph-uri",
                                                    "using-graph-uri", "using-named-graph-uri", "query", "x"]),
                                   max_size=3), label="parameters"):
        if name == "query" and op in ("update", "both"):
            continue  # a second operation parameter is refused anyway; keeps an admin's update alone
        value = data.draw(formats_ if name == "format" else sparql_iris(corpus.model_version), label=name) or ""
        params.append((name, value))
    accept = data.draw(accepts, label="accept")
    if accept is not None:
        headers = {**headers, "Accept": accept}
    shape = data.draw(st.sampled_from(["get", "get", "head", "form", "form", "direct", "raw"]), label="shape")
    if shape in ("get", "head"):
        api.send(shape.upper(), "/sparql?" + form_encode(params).decode(), headers=headers)
        return
    if shape == "form":
        charset = data.draw(st.sampled_from(["", "; charset=utf-8", "; charset=UTF-8", "; charset=iso-8859-1"]))
        api.send("POST", "/sparql", content=form_encode(params),
                 headers={**headers, "Content-Type": "application/x-www-form-urlencoded" + charset})
        return
    if shape == "direct":
        media = "application/sparql-update" if op == "update" else "application/sparql-query"
        text = update if op == "update" else query
        url_params = [p for p in params if p[0] not in ("query", "update")]
        api.send("POST", "/sparql?" + form_encode(url_params).decode(), content=text.encode("utf-8", "surrogatepass"),
                 headers={**headers, "Content-Type": media + data.draw(st.sampled_from(["", "; charset=utf-8",
                                                                                       "; charset=utf-16"]))})
        return
    body = data.draw(byte_bodies, label="raw body")
    content_type = data.draw(content_types, label="content type")
    if safe and "update" in content_type:
        content_type = "text/plain"  # random bytes as an admin's update: kept away from the store
    api.send("POST", "/sparql", content=body, headers=with_type(headers, content_type))


RDF_BODIES = [
    b'<urn:a> <urn:b> "x" .\n', b"<urn:a> <urn:b> <urn:c> <urn:g> .\n", b"@prefix : <urn:> . :a :b :c, :d ; :e [] .",
    b"<urn:a> <urn:b> ", b"@base <http://127.0.0.1:1/> . <a> <b> <c> .", b'<urn:a> <urn:b> "x"@' + b"e" * 300 + b" .",
    b"GRAPH <urn:g> { <urn:a> <urn:b> <urn:c> }", b'{"@id": "urn:a", "urn:b": "x"}',
    b'{"@context": "http://127.0.0.1:1/ctx.jsonld", "@id": "urn:a", "b": "x"}',
    b'{"@context": "file:///etc/passwd", "@id": "urn:a"}', b'{"@graph": [' * 50 + b"]" * 50 + b"}",
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="urn:a">'
    b'<rdf:value xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">&e;</rdf:value></rdf:Description></rdf:RDF>',
    b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="urn:a"/>'
    b"</rdf:RDF>", b"", b"\xff\xfe", b"<< <urn:a> <urn:b> <urn:c> >> <urn:d> <urn:e> .",
]
RDF_TYPES = ["text/turtle", "application/n-triples", "application/n-quads", "application/trig", "application/ld+json",
             "application/rdf+xml", "text/n3", "application/json", "text/plain", "application/x-turtle"]


@_seeded
@REST
@given(data=st.data())
def test_graph_store(api: Api, callers: dict[str, Caller], quiet_log: ServerLog, data: st.DataObject) -> None:
    who = data.draw(st.sampled_from(["anonymous", "user", "admin", "admin", "other"]), label="caller")
    headers = {} if who == "anonymous" else (callers[who].headers() if who in callers
                                             else data.draw(caller_headers(callers, admin=False)))
    method = data.draw(st.sampled_from(["GET", "HEAD", "PUT", "POST", "DELETE"]), label="method")
    own = FUZZ_GRAPH + data.draw(st.text(alphabet="abcdefghij", max_size=8))
    random_iri = data.draw(st.one_of(st.sampled_from(["http://example.org/g", "urn:x", "a b", "<urn:x>", "relative",
                                                      "http://[::1", "urn:weblab:platform", ""]), texts))
    targets = [f"/sparql/graphs?graph={quote(own, safe='')}", f"/sparql/graphs/fuzz-{quote(own[-8:] or 'x')}",
               "/sparql/graphs", f"/sparql/graphs?graph={quote(random_iri, safe='')}&graph=urn:y"]
    if who != "admin" or method in ("GET", "HEAD"):
        targets += ["/sparql/graphs?default", f"/sparql/graphs?graph={quote(random_iri, safe='')}",
                    f"/sparql/graphs?graph={quote(random_iri, safe='')}&default",
                    "/sparql/graphs/" + "/".join(quote(t, safe="") or "x" for t in data.draw(
                        st.lists(texts, min_size=1, max_size=3)))]
    target = data.draw(st.sampled_from(targets), label="target")
    fmt = data.draw(formats_, label="format")
    if fmt is not None and method in ("GET", "HEAD"):
        target += ("&" if "?" in target else "?") + "format=" + quote(fmt, safe="")
    accept = data.draw(accepts, label="accept")
    if accept is not None:
        headers = {**headers, "Accept": accept}
    body: bytes | None = None
    content_type: str | None = None
    if method in ("PUT", "POST"):
        if data.draw(st.integers(0, 3), label="multipart?") == 0:
            body, content_type = data.draw(multipart_bodies(fields=["graph", "x"], file_field="file",
                                                            contents=st.sampled_from(RDF_BODIES)))
        else:
            body = data.draw(st.one_of(st.sampled_from(RDF_BODIES), byte_bodies), label="body")
            content_type = data.draw(st.one_of(st.sampled_from(RDF_TYPES), content_types, st.none()),
                                     label="content type")
    api.send(method, target, content=body, headers=with_type(headers, content_type))


@_seeded
@REST
@given(data=st.data())
def test_linked_data(api: Api, callers: dict[str, Caller], corpus: Corpus, quiet_log: ServerLog,
                     data: st.DataObject) -> None:
    seg = segments
    path = data.draw(st.one_of(
        st.sampled_from([f"/models/{corpus.model_id}", f"/models/{corpus.model_id}/versions/{corpus.model_sha}",
                         f"/protocols/{corpus.protocol_id}", f"/users/{corpus.user_name}", "/.well-known/void",
                         "/ns/context.jsonld", "/dump/public.nq.gz", "/sparql", "/healthz"]
                        + ([f"/runs/{corpus.run_id}"] if corpus.run_id else [])),
        st.tuples(st.sampled_from(KINDS), seg).map(lambda t: f"/{t[0]}/{t[1]}"),
        st.tuples(st.sampled_from(KINDS), seg, seg).map(lambda t: f"/{t[0]}/{t[1]}/versions/{t[2]}"),
        st.tuples(st.sampled_from(["experiments", "runs", "users"]), seg).map(lambda t: f"/{t[0]}/{t[1]}"),
    ), label="path")
    fmt = data.draw(formats_, label="format")
    if fmt is not None:
        path += "?format=" + quote(fmt, safe="")
    headers = data.draw(caller_headers(callers), label="caller")
    accept = data.draw(accepts, label="accept")
    if accept is not None:
        headers = {**headers, "Accept": accept}
    method = data.draw(st.sampled_from(["GET", "GET", "HEAD"]), label="method")
    if path.startswith("/dump") or path.startswith("/healthz"):
        method = "GET"
    api.send(method, path, headers=headers)


@_seeded
@REST
@given(data=st.data())
def test_runs(api: Api, callers: dict[str, Caller], corpus: Corpus, quiet_log: ServerLog,
              data: st.DataObject) -> None:
    run_id = data.draw(st.one_of(st.just(corpus.run_id or "x"), st.uuids().map(str), segments), label="run id")
    route = data.draw(st.sampled_from(["create", "create", "status", "cancel", "archive"]), label="route")
    headers = data.draw(st.one_of(st.just(callers["user"].headers()), caller_headers(callers)), label="caller")
    if route != "create":
        method = "POST" if route == "cancel" else "GET"
        api.send(method, f"/runs/{run_id}/{route}", headers=headers)
        return
    versions = st.one_of(st.sampled_from([
        corpus.model_version, corpus.protocol_version, corpus.model_version.rsplit("/versions/", 1)[0],
        corpus.model_version + "x", corpus.model_version.replace(corpus.model_sha, corpus.model_sha[:7]),
        corpus.protocol_version.replace("/protocols/", "/datasets/"), "urn:x", ""]), texts, json_values)
    if data.draw(st.integers(0, 3), label="shape") > 0:
        fields = data.draw(st.dictionaries(st.sampled_from(["model", "protocol", "model_version",
                                                            "protocol_version", "queue"]), versions, max_size=4))
        body, content_type = json.dumps(fields).encode(), "application/json"
    else:
        body, content_type = data.draw(request_bodies(["model", "protocol"]), label="body")
    api.send("POST", "/runs", content=body, headers=with_type(headers, content_type))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_token(purpose: str, payload: dict[str, Any], expiry: int) -> str:
    """A token as ``resolvers.tokens.make_token`` makes it with the test server's key (any payload)."""
    body = json.dumps({"p": purpose, "d": payload, "e": expiry}, separators=(",", ":"), sort_keys=True).encode()
    mac = hmac.new(SECRET.encode(), purpose.encode() + b"\0" + body, hashlib.sha256).digest()
    return _b64(body) + "." + _b64(mac)


def signature(method: str, path: str, body: bytes, when: int) -> str:
    digest = hashlib.sha256(body).hexdigest()
    mac = hmac.new(SECRET.encode(), "\n".join([method, path, str(when), digest]).encode(), hashlib.sha256).hexdigest()
    return f"t={when},v1={mac}"


@_seeded
@REST
@given(data=st.data())
def test_runner_contract(api: Api, corpus: Corpus, quiet_log: ServerLog, data: st.DataObject) -> None:
    now = int(time.time())
    if data.draw(st.integers(0, 2), label="archive?") == 0:
        token = data.draw(st.one_of(
            texts.map(segment),
            st.tuples(st.binary(max_size=60), st.binary(max_size=40)).map(lambda t: _b64(t[0]) + "." + _b64(t[1])),
            st.builds(signed_token, st.sampled_from(["run-archive", "other", ""]),
                      st.dictionaries(st.sampled_from(["r", "v", "c", "x"]), st.one_of(
                          st.sampled_from([corpus.run_id or "", corpus.model_version, "0" * 32]), json_values),
                          max_size=4),
                      st.sampled_from([now + 600, now - 10, 0, 2**62]))), label="token")
        api.send("GET", f"/runner/archives/{token}")
        return
    run_id = data.draw(st.one_of(st.just(corpus.run_id or "x"), st.uuids().map(str), segments), label="run id")
    action = data.draw(st.sampled_from(["claim", "progress", "release", "result"]), label="action")
    path = f"/runner/runs/{run_id}/{action}"
    if action == "result":
        query = data.draw(st.lists(st.tuples(st.sampled_from(["claim", "status", "engine", "missing"]), st.one_of(
            st.sampled_from(["SUCCESS", "FAILED", "PARTIAL", "INAPPLICABLE", "RUNNING", "x"]), texts)), max_size=4),
            label="query")
        if query:
            path += "?" + form_encode(query).decode()
        body = data.draw(st.one_of(zip_archives(), byte_bodies), label="archive")
    else:
        fields = data.draw(st.dictionaries(st.sampled_from(["claim", "worker", "done", "total", "reason"]),
                                           st.one_of(texts, json_values), max_size=5), label="fields")
        body = data.draw(st.one_of(st.just(json.dumps(fields).encode()), byte_bodies), label="body")
    how = data.draw(st.sampled_from(["signed", "signed", "stale", "none", "random", "malformed"]), label="signature")
    headers: dict[str, str] = {}
    if how == "signed":
        headers["X-Weblab-Signature"] = signature("POST", path, body, now)
    elif how == "stale":
        headers["X-Weblab-Signature"] = signature("POST", path, body, now - 10_000)
    elif how == "random":
        headers["X-Weblab-Signature"] = f"t={data.draw(st.integers())},v1={data.draw(st.text('0123456789abcdef'))}"
    elif how == "malformed":
        headers["X-Weblab-Signature"] = data.draw(header_text)
    api.send("POST", path, content=body, headers=headers)


PAGES = ["/", "/models", "/protocols", "/datasets", "/experiments", "/compare", "/upload", "/login", "/register",
         "/account", "/moderation", "/graphql"]


@_seeded
@REST
@given(data=st.data())
def test_pages(api: Api, callers: dict[str, Caller], corpus: Corpus, quiet_log: ServerLog,
               data: st.DataObject) -> None:
    piece = st.one_of(st.sampled_from(TRAVERSALS), texts).map(raw_piece)
    path = data.draw(st.one_of(
        st.sampled_from(PAGES),
        st.sampled_from([f"/view/models/{corpus.model_id}", f"/view/models/{corpus.model_id}/versions/v1",
                         f"/view/protocols/{corpus.protocol_id}/versions/{corpus.protocol_sha}"]
                        + ([f"/view/runs/{corpus.run_id}"] if corpus.run_id else [])),
        st.tuples(st.sampled_from(["runs", "experiments"]), piece).map(lambda t: f"/view/{t[0]}/{t[1]}"),
        st.tuples(piece, piece).map(lambda t: f"/view/{t[0]}/{t[1]}"),
        st.tuples(piece, piece, piece).map(lambda t: f"/view/{t[0]}/{t[1]}/versions/{t[2]}"),
        st.tuples(st.sampled_from(["/static/", "/static/vendor/yasgui/", "/static/vendor/graphiql/"]), piece)
        .map("".join),
    ), label="path")
    query = data.draw(st.lists(st.tuples(st.sampled_from(["models", "protocols", "runs", "next", "q", "owner",
                                                          "kind", "page", "x"]), texts), max_size=3), label="query")
    if query:
        path += "?" + form_encode(query).decode()
    headers = data.draw(caller_headers(callers), label="caller")
    accept = data.draw(st.one_of(st.just("text/html"), accepts), label="accept")
    if accept is not None:
        headers = {**headers, "Accept": accept}
    raw_send(api, "GET", path, headers, page=True)


ROUTES = [
    "/healthz", "/auth/register", "/auth/login", "/auth/logout", "/auth/me", "/auth/tokens", "/auth/tokens/{x}",
    "/graphql", "/{kind}", "/{kind}/{x}", "/{kind}/{x}/versions", "/{kind}/{x}/versions/{x}",
    "/{kind}/{x}/versions/{x}/files/{x}", "/{kind}/{x}/versions/{x}/archive", "/{kind}/{x}/diff", "/sparql",
    "/sparql/graphs", "/sparql/graphs/{x}", "/.well-known/void", "/ns/context.jsonld", "/dump/public.nq.gz",
    "/runs", "/runs/{x}", "/runs/{x}/status", "/runs/{x}/cancel", "/runs/{x}/archive", "/experiments/{x}",
    "/users/{x}", "/runner/runs/{x}/claim", "/runner/runs/{x}/progress", "/runner/runs/{x}/release",
    "/runner/runs/{x}/result", "/runner/archives/{x}", "/nothing/here", "/{x}",
]


@_seeded
@REST
@given(data=st.data())
def test_any_route_any_method(api: Api, callers: dict[str, Caller], quiet_log: ServerLog,
                              data: st.DataObject) -> None:
    route = data.draw(st.sampled_from(ROUTES), label="route")
    kind = data.draw(st.sampled_from(KINDS), label="kind")
    path = route.replace("{kind}", kind)
    while "{x}" in path:
        path = path.replace("{x}", data.draw(segments), 1)
    method = data.draw(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "HEAD",
                                        "PROPFIND", "QUERY"]), label="method")
    if method not in ("GET", "HEAD", "OPTIONS", "TRACE", "DELETE") and path.startswith("/sparql"):
        method = "PATCH"  # writes with random bodies go through test_graph_store/test_sparql_protocol's rules
    headers = data.draw(caller_headers(callers, admin=False), label="caller")
    for name in data.draw(st.lists(st.sampled_from(["Accept", "Content-Type", "Content-Encoding", "Range",
                                                    "If-None-Match", "If-Modified-Since", "X-Request-ID", "Origin",
                                                    "Accept-Language", "X-CSRF-Token", "Cookie", "Expect"]),
                                   unique=True, max_size=4), label="headers"):
        headers[name] = data.draw(st.one_of(header_text, media_types), label=name)
    if headers.get("Expect"):
        headers["Expect"] = "x"  # 100-continue would wait for the server's go-ahead
    body = data.draw(st.one_of(st.none(), byte_bodies), label="body")
    page = path.split("?")[0].rstrip("/") in {"", "/graphql"}
    api.send(method, path, content=body, headers=headers, api=not page)
