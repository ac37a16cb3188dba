"""Uploads against a real server: a protocol that does not parse, and XML with a DOCTYPE, are refused whole.

A protocol the engine cannot parse used to be stored with an empty interface, which "fits" every model, so
auto-run queued an experiment with every model per upload. Now it is a 400 naming the file, line, column and
what was expected, and nothing is left behind: no entity (in GraphQL or as a repository), no version, no run.
The same goes for XML (CellML, a COMBINE manifest) with a DOCTYPE, whatever it points at.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import pytest_asyncio

from tests import servers
from tests.conftest import SHARED_DATA, MakeUser, bearer, fresh_database

BAD = (
    b"documentation {\n# a protocol\n}\n\ntasks {\n    simulation sim = timecourse {\n"
    b"        range time units ms unifrm 0:1:10\n    }\n}\n"
)
# line 7, column 29: 'unifrm' where 'uniform', 'vector' or 'while' was expected
BAD_FILE, BAD_LINE, BAD_COLUMN = "broken.txt", 7, 29
GOOD = (
    b'namespace oxmeta = "https://chaste.comlab.ox.ac.uk/cellml/ns/oxford-metadata#"\n\n'
    b"model interface {\n    output oxmeta:weblab_test_term_no_model_has\n}\n"
)
MODEL = SHARED_DATA / "cellml" / "beeler_reuter_model_1977.cellml"
CELLML = b'<model name="m" xmlns="http://www.cellml.org/cellml/1.0#"/>\n'
DOCTYPE = b'<?xml version="1.0"?>\n<!DOCTYPE model SYSTEM "http://127.0.0.1:9/cellml.dtd">\n' + CELLML
INTERNAL_DTD = b'<?xml version="1.0"?>\n<!DOCTYPE model [\n  <!ELEMENT model ANY>\n]>\n' + CELLML
OMEX_NS = "http://identifiers.org/combine.specifications/omex-manifest"


@pytest.fixture(scope="module")
def auto_db() -> Iterator[str]:
    with fresh_database("uploads_security") as url:
        yield url


@pytest.fixture(scope="module")
def auto_server(auto_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server of its own with auto-run on: a protocol that got in would queue experiments at once."""
    with servers.serve(auto_db, tmp_path_factory.mktemp("uploads-auto-run"), auto_run="true") as base:
        yield base


@pytest_asyncio.fixture(scope="module")
async def auto_user(auto_db: str, auto_server: str) -> AsyncIterator[MakeUser]:
    async with servers.users_of(auto_db) as make:
        yield make


@pytest_asyncio.fixture
async def auto_http(auto_server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=auto_server.rstrip("/"), timeout=60) as client:
        yield client


def node_id(uri: str) -> str:
    """The GraphQL global id of a resource URI (its path)."""
    return httpx.URL(uri).path.lstrip("/")


def run_count(database_url: str, *, queued: bool = False) -> int:
    """Runs recorded; with ``queued``, only those that will run (an inapplicable pair is recorded as ended)."""
    with psycopg.connect(database_url) as conn:
        where = " WHERE status <> 'INAPPLICABLE'" if queued else ""
        row = conn.execute("SELECT count(*) FROM runs" + where).fetchone()
        assert row is not None
        return int(row[0])


async def entity_names(http: httpx.AsyncClient, token: str, kind: str) -> list[str]:
    query = f"{{ {kind}(first: 100) {{ edges {{ node {{ name }} }} }} }}"
    r = await http.post("/graphql", json={"query": query}, headers=bearer(token))
    assert r.status_code == 200 and "errors" not in r.json(), r.text
    return [e["node"]["name"] for e in r.json()["data"][kind]["edges"]]


def repositories(data_dir: Path, segment: str) -> set[str]:
    folder = data_dir / "repos" / segment
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def assert_syntax_error(
    response: httpx.Response, file: str = BAD_FILE, line: int = BAD_LINE, column: int = BAD_COLUMN
) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid" and error["field"] == file
    message = error["message"]
    assert message.startswith(f"{file}: ") and f"line {line}, column {column}" in message, message
    assert "expected" in message and "weblab-describe" not in message, message
    assert (error["line"], error["column"]) == (line, column)
    assert error["expected"], error
    return error


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue()


async def test_a_protocol_that_does_not_parse_is_refused_and_nothing_is_queued(
    auto_http: httpx.AsyncClient, auto_user: MakeUser, auto_db: str, auto_server: str
) -> None:
    owner, token = await auto_user("protocols")
    model = await auto_http.post(
        "/models",
        headers=bearer(token),
        data={"name": "a model to fit"},
        files=[("files", (MODEL.name, MODEL.read_bytes()))],
    )
    assert model.status_code == 201, model.text
    before = run_count(auto_db)

    refused = await auto_http.post(
        "/protocols",
        headers=bearer(token),
        data={"name": "broken protocol"},
        files=[("files", (BAD_FILE, BAD))],
    )
    error = assert_syntax_error(refused)
    assert "unexpected 'unifrm'" in error["message"] and "'uniform'" in error["expected"], error
    assert "broken protocol" not in await entity_names(auto_http, token, "protocols")
    assert run_count(auto_db) == before, "a refused protocol queued experiments"

    # An archive with the broken protocol as its main file: the same answer, naming the file inside.
    archived = await auto_http.post(
        "/protocols",
        headers=bearer(token),
        data={"name": "broken archive"},
        files=[("files", ("bundle.zip", zipped({BAD_FILE: BAD})))],
    )
    assert_syntax_error(archived)

    # A protocol importing a broken protocol of its bundle is refused, naming the imported file.
    main = b'import "lib/broken.txt"\n'
    imported = await auto_http.post(
        "/protocols",
        headers=bearer(token),
        data={"name": "imports broken", "main": "main.txt"},
        files=[("files", ("main.txt", main)), ("files", ("lib/broken.txt", BAD))],
    )
    assert_syntax_error(imported, file="lib/broken.txt")

    # Adding a broken version to a good protocol: refused, the protocol keeps its one version, nothing queued.
    good = await auto_http.post(
        "/protocols",
        headers=bearer(token),
        data={"name": "good protocol"},
        files=[("files", ("good.txt", GOOD))],
    )
    assert good.status_code == 201, good.text
    entity = good.json()["entity"]["id"]
    before = run_count(auto_db)
    added = await auto_http.post(
        f"/protocols/{entity}/versions",
        headers=bearer(token),
        files=[("files", (BAD_FILE, BAD))],
        data={"main": BAD_FILE, "inherit": "true"},
    )
    assert_syntax_error(added)
    latest = await auto_http.get(f"/protocols/{entity}/versions/latest/files/{BAD_FILE}")
    assert latest.status_code == 404, "the refused version was stored"
    assert run_count(auto_db) == before
    query = "query($u: String!) { resource(uri: $u) { ... on Protocol { versions(first: 10) { edges { node { sha } } } } } }"
    r = await auto_http.post(
        "/graphql",
        json={"query": query, "variables": {"u": good.json()["entity"]["uri"]}},
        headers=bearer(token),
    )
    assert len(r.json()["data"]["resource"]["versions"]["edges"]) == 1, r.text

    names = await entity_names(auto_http, token, "protocols")
    assert "good protocol" in names
    assert not {"broken protocol", "broken archive", "imports broken"} & set(names)


async def test_graphql_upload_of_a_protocol_that_does_not_parse_is_refused(
    auto_http: httpx.AsyncClient, auto_user: MakeUser, auto_db: str
) -> None:
    _, token = await auto_user("graphql")
    before = run_count(auto_db)
    query = (
        'mutation($f: [Upload!]) { createEntity(kind: PROTOCOL, name: "gql broken", files: $f) {'
        " __typename ... on Error { message code } ... on ValidationError { field } } }"
    )
    r = await auto_http.post(
        "/graphql",
        headers=bearer(token),
        data={
            "operations": json.dumps({"query": query, "variables": {"f": [None]}}),
            "map": json.dumps({"0": ["variables.f.0"]}),
        },
        files=[("0", (BAD_FILE, BAD, "text/plain"))],
    )
    assert r.status_code == 200, r.text
    result = r.json()["data"]["createEntity"]
    assert result["__typename"] == "ValidationError", result
    assert result["field"] == BAD_FILE and f"line {BAD_LINE}, column {BAD_COLUMN}" in result["message"]
    assert "gql broken" not in await entity_names(auto_http, token, "protocols")
    assert run_count(auto_db) == before


async def test_xml_with_a_doctype_is_refused(
    http: httpx.AsyncClient, server_user: MakeUser, server: str
) -> None:
    _, token = await server_user("doctype")
    for name, data in (("external.cellml", DOCTYPE), ("internal.cellml", INTERNAL_DTD)):
        r = await http.post(
            "/models", headers=bearer(token), data={"name": f"model {name}"}, files=[("files", (name, data))]
        )
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert error["field"] == name and "DOCTYPE" in error["message"], error
    # in an archive, next to a clean model, and in the archive's manifest
    r = await http.post(
        "/models",
        headers=bearer(token),
        data={"name": "archived doctype"},
        files=[("files", ("m.omex", zipped({"m.cellml": CELLML, "extra/d.cellml": DOCTYPE})))],
    )
    assert r.status_code == 400 and r.json()["error"]["field"] == "m.omex:extra/d.cellml", r.text
    manifest = (
        f'<?xml version="1.0"?>\n<!DOCTYPE omexManifest SYSTEM "http://127.0.0.1:9/m.dtd">\n'
        f'<omexManifest xmlns="{OMEX_NS}"><content location="./m.cellml" master="true"/></omexManifest>'
    )
    r = await http.post(
        "/models",
        headers=bearer(token),
        data={"name": "manifest doctype"},
        files=[("files", ("m.omex", zipped({"m.cellml": CELLML, "manifest.xml": manifest.encode()})))],
    )
    assert r.status_code == 400 and r.json()["error"]["field"] == "m.omex:manifest.xml", r.text
    # any XML file of an upload, not only those Weblab reads
    r = await http.post(
        "/datasets",
        headers=bearer(token),
        data={"name": "dataset doctype"},
        files=[("files", ("d.csv", b"a,b\n1,2\n")), ("files", ("simulation.sedml", DOCTYPE))],
    )
    assert r.status_code == 400 and r.json()["error"]["field"] == "simulation.sedml", r.text
    names = await entity_names(http, token, "models")
    assert not [n for n in names if "doctype" in n or n.startswith("model ")]
    # and, as before, models that are not well-formed XML or not CellML
    for data, words in ((b"<model><unclosed></model>", "not XML"), (b"<sbml/>", "not CellML")):
        r = await http.post(
            "/models",
            headers=bearer(token),
            data={"name": "bad model"},
            files=[("files", ("bad.cellml", data))],
        )
        assert r.status_code == 400, r.text
        assert r.json()["error"]["field"] == "bad.cellml" and words in r.json()["error"]["message"]


async def test_the_importer_reports_and_skips_a_protocol_that_does_not_parse(
    services: Any, make_user: MakeUser, tmp_path: Path
) -> None:
    """``weblab import``: the broken file is reported with the same message, the good one is imported."""
    from resolvers.entities import Entities
    from resolvers.importer import import_paths
    from resolvers.metadata import Kind

    folder = tmp_path / "protocols"
    folder.mkdir()
    (folder / BAD_FILE).write_bytes(BAD)
    (folder / "good.txt").write_bytes(GOOD)
    owner, _ = await make_user("importer")
    entities = Entities.from_services(services, auto_run=False)
    repos_before = repositories(services.settings.data_dir, "protocols")
    summary = await import_paths(entities, owner, [folder], progress=False)
    assert summary.imported == 1, summary
    ((path, reason),) = summary.failed
    assert path == str(folder / BAD_FILE)
    assert reason.startswith(f"{BAD_FILE}: ") and f"line {BAD_LINE}, column {BAD_COLUMN}" in reason, reason
    assert "expected 'uniform'" in reason, reason
    assert entities.find_entity(Kind.PROTOCOL, owner.name, "broken") is None
    assert entities.find_entity(Kind.PROTOCOL, owner.name, "good") is not None
    assert len(repositories(services.settings.data_dir, "protocols") - repos_before) == 1


def test_the_doctype_check_reads_only_the_prolog() -> None:
    from resolvers.uploads import declares_doctype

    assert declares_doctype(DOCTYPE) and declares_doctype(INTERNAL_DTD)
    assert declares_doctype(b"\xef\xbb\xbf<!-- a comment -->\n<?pi x?>\n<!DOCTYPE model>" + CELLML)
    assert declares_doctype("<?xml version='1.0' encoding='UTF-16'?><!DOCTYPE m><m/>".encode("utf-16"))
    assert not declares_doctype(CELLML)
    assert not declares_doctype(b"<model><!-- <!DOCTYPE x> --></model>")
    assert not declares_doctype(b"<!-- never closed <!DOCTYPE x>")
    assert not declares_doctype(b"<?pi " * 100_000)  # linear, whatever the input


async def test_a_csv_field_past_the_csv_modules_limit_is_a_400_naming_the_line(
    http: httpx.AsyncClient, server_user: MakeUser
) -> None:
    """Python's csv module refuses fields over 128 KiB; that is the uploader's malformed file, not a 500."""
    _, token = await server_user("csvlong")
    data = b"time,value\n0,1\n1," + b"9" * 200_000 + b"\n"
    r = await http.post(
        "/datasets", headers=bearer(token), files=[("files", ("long.csv", data))], data={"name": "long field"}
    )
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert "long.csv" in error["message"] and "line 3" in error["message"], error
    assert "long field" not in await entity_names(http, token, "datasets")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/models/%20/versions"),
        ("GET", "/models/a%20b"),
        ("GET", "/protocols/%3C%3E/diff?from=a&to=b"),
        ("GET", "/datasets/%22x%22/versions/abc/files/x.csv"),
    ],
)
async def test_an_id_that_is_no_iri_is_not_found(
    http: httpx.AsyncClient, server_user: MakeUser, method: str, path: str
) -> None:
    """An id typed into a URL with a space or a bracket names nothing (it used to crash building its IRI)."""
    _, token = await server_user("badid")
    files = [("files", ("m.cellml", CELLML))] if method == "POST" else None
    for headers in [bearer(token)] if files else [{}, bearer(token)]:  # anonymous writes are 401 first
        r = await http.request(method, path, headers=headers, files=files)
        assert r.status_code == 404, (path, r.status_code, r.text)
        assert r.json()["error"]["code"] == "not_found"


async def test_a_protocol_whose_import_is_missing_fits_no_model_and_queues_nothing(
    auto_http: httpx.AsyncClient, auto_user: MakeUser, auto_db: str
) -> None:
    """It parses, so it is stored (with its warning); but an interface that could not be read is no empty
    interface: it used to fit every model, and auto-run queued an experiment with each."""
    _, token = await auto_user("imports")
    model = await auto_http.post(
        "/models",
        headers=bearer(token),
        data={"name": "a model for imports"},
        files=[("files", (MODEL.name, MODEL.read_bytes()))],
    )
    assert model.status_code == 201, model.text
    before = run_count(auto_db, queued=True)
    for name, files in (
        ("missing import", {"main.txt": b'import "lib/absent.txt"\n'}),
        ("circular import", {"main.txt": b'import "other.txt"\n', "other.txt": b'import "main.txt"\n'}),
    ):
        r = await auto_http.post(
            "/protocols",
            headers=bearer(token),
            data={"name": name, "main": "main.txt"},
            files=[("files", (path, data)) for path, data in files.items()],
        )
        assert r.status_code == 201, r.text
        query = """query($m: [ID!], $p: [ID!]) { experimentMatrix(models: $m, protocols: $p) {
            cells { fits missingTerms { iri } } } }"""
        version = r.json()["version"]["uri"]
        ids = {"m": [node_id(model.json()["version"]["uri"])], "p": [node_id(version)]}
        answer = await auto_http.post(
            "/graphql", json={"query": query, "variables": ids}, headers=bearer(token)
        )
        [cell] = answer.json()["data"]["experimentMatrix"]["cells"]
        assert cell == {
            "fits": False,
            "missingTerms": [{"iri": "https://w3id.org/weblab/ns#ReadableInterface"}],
        }, (name, cell)
        described = await auto_http.get(version, headers={**bearer(token), "Accept": "application/n-triples"})
        assert "could not be read" in described.text, (name, described.text)
    assert run_count(auto_db, queued=True) == before, (
        "a protocol whose interface could not be read queued runs"
    )
