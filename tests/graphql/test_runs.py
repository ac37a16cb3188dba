"""Experiments through GraphQL: run one, run all compatible, cancel, re-run, the matrix, run comparison,
and the subscriptions (run progress, new versions) over graphql-transport-ws."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pyoxigraph as ox
import pytest
import pytest_asyncio

from ontology import compatibility
from resolvers import provenance, runs
from resolvers.entities import Entities
from resolvers.loaders import Loaders
from resolvers.metadata import Kind
from resolvers.services import Services
from tests.graphql.conftest import Gql

BASE = "http://localhost:8000/"
RUN = """mutation($m: ID!, $p: ID!) { runExperiment(model: $m, protocol: $p) {
  __typename ... on Run { id status missingTerms { iri } experiment { id model { id } protocol { id } } }
  ... on Error { code message } } }"""


def gid(uri: str) -> str:
    return uri.removeprefix(BASE)


@pytest_asyncio.fixture(scope="session")
async def lab(services: Services, entities: Entities, make_user, cellml, protocol_file) -> dict[str, Any]:
    owner, token = await make_user("runner")
    _, stranger = await make_user("nosy")
    tag = secrets.token_hex(2)
    _, model = await entities.publish(
        owner, Kind.MODEL, f"br {tag}", [cellml("beeler_reuter_model_1977.cellml")]
    )
    _, noble = await entities.publish(owner, Kind.MODEL, f"noble {tag}", [cellml("noble_model_1962.cellml")])
    protocols = {}
    for name in ("SinglePace.txt", "ICaL.txt", "GraphState.txt"):
        _, v = await entities.publish(owner, Kind.PROTOCOL, f"{name} {tag}", [protocol_file(name)])
        protocols[name] = v.uri
    _, secret = await entities.publish(
        owner, Kind.PROTOCOL, f"secret {tag}", [protocol_file("SteadyPacing.txt")], visibility="private"
    )
    fits = {
        (m, p): compatibility.check_pair(services.store, services.settings.base_uri, m, p)
        for m in (model.uri, noble.uri)
        for p in protocols.values()
    }
    return {
        "token": token,
        "stranger": stranger,
        "tag": tag,
        "model": model.uri,
        "noble": noble.uri,
        "protocols": protocols,
        "secret": secret.uri,
        "fits": fits,
    }


async def test_run_experiment_queues_or_records_inapplicable(data: Gql, lab) -> None:
    for (m, p), expected in lab["fits"].items():
        run = (await data(RUN, {"m": gid(m), "p": gid(p)}, token=lab["token"]))["runExperiment"]
        assert run["__typename"] == "Run"
        assert run["status"] == ("QUEUED" if expected.fits else "INAPPLICABLE")
        assert [t["iri"] for t in run["missingTerms"]] == list(expected.missing)
        assert run["experiment"]["model"]["id"] == gid(m) and run["experiment"]["protocol"]["id"] == gid(p)
        again = (await data(RUN, {"m": gid(m), "p": gid(p)}, token=lab["token"]))["runExperiment"]
        if expected.fits:
            assert again["id"] == run["id"]  # an active run is answered, not duplicated


async def test_run_errors_are_typed(data: Gql, lab) -> None:
    some = next(iter(lab["protocols"].values()))
    hidden = await data(RUN, {"m": gid(lab["model"]), "p": gid(lab["secret"])}, token=lab["stranger"])
    assert hidden["runExperiment"]["__typename"] == "NotFound"
    anonymous = await data(RUN, {"m": gid(lab["model"]), "p": gid(some)})
    assert anonymous["runExperiment"]["__typename"] == "Unauthenticated"
    swapped = await data(RUN, {"m": gid(some), "p": gid(lab["model"])}, token=lab["token"])
    assert swapped["runExperiment"]["__typename"] == "ValidationError"


async def test_cancel_and_rerun(data: Gql, lab) -> None:
    fitting = [pair for pair, c in lab["fits"].items() if c.fits]
    m, p = fitting[0]
    run = (await data(RUN, {"m": gid(m), "p": gid(p)}, token=lab["token"]))["runExperiment"]
    cancel = "mutation($r: ID!) { cancelRun(run: $r) { __typename ... on Run { id status } } }"
    # the run is visible to anyone (both versions are public), but only its starter and editors may cancel it
    assert (await data(cancel, {"r": run["id"]}, token=lab["stranger"]))["cancelRun"] == {
        "__typename": "Forbidden"
    }
    cancelled = (await data(cancel, {"r": run["id"]}, token=lab["token"]))["cancelRun"]
    assert cancelled == {"__typename": "Run", "id": run["id"], "status": "CANCELLED"}
    rerun = (
        await data(
            "mutation($r: ID!) { rerun(run: $r) { __typename ... on Run { id status } } }",
            {"r": run["id"]},
            token=lab["token"],
        )
    )["rerun"]
    assert rerun["__typename"] == "Run" and rerun["id"] != run["id"] and rerun["status"] == "QUEUED"
    history = (
        await data(
            "query($id: ID!) { node(id: $id) { ... on Experiment { latestRun { id } runs { id } } } }",
            {"id": run["experiment"]["id"]},
        )
    )["node"]
    assert history["latestRun"] == {"id": rerun["id"]}
    assert [r["id"] for r in history["runs"]][:2] == [rerun["id"], run["id"]]


async def test_matrix(data: Gql, lab) -> None:
    models = [gid(lab["model"]), gid(lab["noble"])]
    protocols = [gid(p) for p in lab["protocols"].values()] + [gid(lab["secret"])]
    result = (
        await data(
            """query($m: [ID!], $p: [ID!]) { experimentMatrix(models: $m, protocols: $p) {
        models { id } protocols { id } cells { modelId protocolId fits missingTerms { iri } status } } }""",
            {"m": models, "p": protocols},
            token=lab["stranger"],
        )
    )["experimentMatrix"]
    assert [x["id"] for x in result["models"]] == models
    assert [x["id"] for x in result["protocols"]] == protocols[:-1]  # the private protocol is left out
    assert len(result["cells"]) == len(models) * (len(protocols) - 1)
    for cell in result["cells"]:
        expected = lab["fits"][(BASE + cell["modelId"], BASE + cell["protocolId"])]
        assert cell["fits"] == expected.fits
        assert [t["iri"] for t in cell["missingTerms"]] == list(expected.missing)
        assert cell["status"] in (None, "QUEUED", "INAPPLICABLE", "CANCELLED")


async def test_compare_runs_aligns_outputs(data: Gql, services: Services, lab) -> None:
    fitting = [pair for pair, c in lab["fits"].items() if c.fits]
    made = []
    for n, (m, p) in enumerate(fitting[:2]):
        run = await runs.create_run(services, m, p, queue="bulk")
        outputs = [
            provenance.Output(
                "APD90", "outputs_APD90.csv", "action potential duration", "ms", (1,), (280.0 + n,)
            )
        ]
        if n == 0:
            outputs.append(
                provenance.Output(
                    "trace", "outputs_trace.csv", "membrane voltage", "mV", (3,), (-84.0, 20.0, -80.0)
                )
            )
        provenance.write_run_graph(services.store, services.settings.base_uri, run, outputs)
        made.append(run)
    ids = [f"runs/{r.id}" for r in made]
    result = (
        await data(
            """query($r: [ID!]!) { compareRuns(runs: $r) { runs { id }
        outputs { name units values { scalar values shape } } } }""",
            {"r": ids},
            token=lab["token"],
        )
    )["compareRuns"]
    assert [r["id"] for r in result["runs"]] == ids
    by_name = {o["name"]: o for o in result["outputs"]}
    assert [v["scalar"] for v in by_name["APD90"]["values"]] == [280.0, 281.0]
    assert by_name["trace"]["values"][0] == {"scalar": None, "values": [-84.0, 20.0, -80.0], "shape": [3]}
    assert by_name["trace"]["values"][1] is None
    hidden = (
        await data(
            "query($r: [ID!]!) { compareRuns(runs: $r) { runs { id } } }", {"r": ids}, token=lab["stranger"]
        )
    )["compareRuns"]
    assert [r["id"] for r in hidden["runs"]] == ids  # both versions public: visible to anyone


# --- subscriptions over graphql-transport-ws, driven through the ASGI app directly ------------------------------


class Socket:
    """A minimal ASGI WebSocket client for the app (httpx has no WebSocket support)."""

    def __init__(self, app: Any, headers: list[tuple[bytes, bytes]]) -> None:
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        scope = {
            "type": "websocket",
            "path": "/graphql",
            "raw_path": b"/graphql",
            "query_string": b"",
            "headers": [(b"host", b"localhost:8000"), *headers],
            "subprotocols": ["graphql-transport-ws"],
            "scheme": "ws",
            "server": ("localhost", 8000),
            "client": ("127.0.0.1", 5000),
            "root_path": "",
            "asgi": {"version": "3.0"},
        }
        self.task = asyncio.create_task(app(scope, self.inbox.get, self.outbox.put))

    async def open(self) -> None:
        await self.inbox.put({"type": "websocket.connect"})
        accepted = await asyncio.wait_for(self.outbox.get(), 10)
        assert (
            accepted["type"] == "websocket.accept" and accepted.get("subprotocol") == "graphql-transport-ws"
        )
        await self.send({"type": "connection_init"})
        assert (await self.receive())["type"] == "connection_ack"

    async def send(self, message: dict[str, Any]) -> None:
        await self.inbox.put({"type": "websocket.receive", "text": json.dumps(message)})

    async def receive(self) -> dict[str, Any]:
        event = await asyncio.wait_for(self.outbox.get(), 20)
        assert event["type"] == "websocket.send", event
        return json.loads(event["text"])

    async def close(self) -> None:
        await self.inbox.put({"type": "websocket.disconnect", "code": 1000})
        try:
            await asyncio.wait_for(self.task, 10)
        except (asyncio.CancelledError, Exception):  # noqa: BLE001 - closing a test socket
            self.task.cancel()


@pytest_asyncio.fixture
async def socket(gapp, lab) -> AsyncIterator[Socket]:
    s = Socket(gapp, [(b"authorization", f"Bearer {lab['token']}".encode())])
    await s.open()
    try:
        yield s
    finally:
        await s.close()


async def test_run_updates_subscription(socket: Socket, services: Services, lab) -> None:
    fitting = [pair for pair, c in lab["fits"].items() if c.fits]
    m, p = fitting[-1]
    run = await runs.create_run(services, m, p)
    await socket.send(
        {
            "id": "1",
            "type": "subscribe",
            "payload": {
                "query": "subscription($r: ID!) { runUpdates(run: $r) { id status } }",
                "variables": {"r": f"runs/{run.id}"},
            },
        }
    )
    first = await socket.receive()
    assert first["type"] == "next" and first["payload"]["data"]["runUpdates"]["status"] == run.status
    await runs.cancel_run(services, run.id, await _owner(services, lab))
    second = await socket.receive()
    assert second["payload"]["data"]["runUpdates"] == {"id": f"runs/{run.id}", "status": "CANCELLED"}
    assert (await socket.receive())["type"] == "complete"


async def _owner(services: Services, lab) -> Any:
    from resolvers import accounts

    return await accounts.user_for_token(services.db, lab["token"])


def versions_read(monkeypatch: pytest.MonkeyPatch, entity: str) -> asyncio.Event:
    """Set once a request has read ``entity``'s versions: a ``newVersions`` subscription reports only
    versions added after its first read, so a test must add its version after that, not before."""
    read = asyncio.Event()
    original = Loaders.visible_versions

    async def visible_versions(self: Loaders, record: Any) -> Any:
        found = await original(self, record)
        if record.uri == entity:
            read.set()
        return found

    monkeypatch.setattr(Loaders, "visible_versions", visible_versions)
    return read


async def test_new_versions_subscription(
    socket: Socket, services: Services, entities: Entities, lab, cellml, monkeypatch: pytest.MonkeyPatch
) -> None:
    entity = lab["noble"].rsplit("/versions/", 1)[0]
    read = versions_read(monkeypatch, entity)
    await socket.send(
        {
            "id": "2",
            "type": "subscribe",
            "payload": {
                "query": "subscription($e: ID!) { newVersions(entity: $e) { id message } }",
                "variables": {"e": gid(entity)},
            },
        }
    )
    await asyncio.wait_for(read.wait(), 20)  # the subscription has read the versions that exist now
    owner = await _owner(services, lab)
    added = await entities.add_version(
        owner, entity, [cellml("beeler_reuter_model_1977.cellml")], message="live"
    )
    event = await socket.receive()
    assert event["payload"]["data"]["newVersions"] == {"id": gid(added.uri), "message": "live"}
    await socket.send({"id": "2", "type": "complete"})


async def test_experiment_lookup_and_its_compatibility(data: Gql, lab) -> None:
    for (m, p), expected in lab["fits"].items():
        found = (
            await data(
                """query($m: ID!, $p: ID!) { experiment(model: $m, protocol: $p) {
            id compatibility { fits missingTerms { iri } model { id } protocol { id } } } }""",
                {"m": gid(m), "p": gid(p)},
            )
        )["experiment"]
        assert found["compatibility"]["fits"] == expected.fits
        assert [t["iri"] for t in found["compatibility"]["missingTerms"]] == list(expected.missing)
        assert found["compatibility"]["model"]["id"] == gid(m) and found["compatibility"]["protocol"][
            "id"
        ] == gid(p)
    hidden = await data(
        "query($m: ID!, $p: ID!) { experiment(model: $m, protocol: $p) { id } }",
        {"m": gid(lab["model"]), "p": gid(lab["secret"])},
        token=lab["stranger"],
    )
    assert hidden["experiment"] is None


async def test_protocol_interface_and_term_filter(data: Gql, services: Services, lab) -> None:
    from ontology import vocab

    uri = lab["protocols"]["SinglePace.txt"]
    rows = services.store.query(
        vocab.PREFIXES + "SELECT ?t ?v WHERE { GRAPH ?v { ?v weblab:requiresTerm ?t } }",
        substitutions={ox.Variable("v"): ox.NamedNode(uri)},
    )
    required = sorted(r["t"].value for r in rows)
    assert required, "SinglePace requires terms (the engine read its interface)"
    iface = (
        await data(
            """query($id: ID!) { node(id: $id) { ... on Version { terms { iri } interface {
        requiredTerms { iri shortName } optionalTerms { iri } outputs { name units } } } } }""",
            {"id": gid(uri)},
        )
    )["node"]
    assert iface["terms"] is None  # a protocol has an interface, not annotations
    assert [t["iri"] for t in iface["interface"]["requiredTerms"]] == required
    term = required[0]
    protocols = (
        await data(
            "query($t: String!, $o: String!) { protocols(term: $t, text: $o) { nodes { uri } } }",
            {"t": term, "o": lab["tag"]},
        )
    )["protocols"]["nodes"]
    assert uri.rsplit("/versions/", 1)[0] in {n["uri"] for n in protocols}
    fitting = [m for (m, p), c in lab["fits"].items() if p == uri and c.fits]
    models = (
        await data(
            "query($t: String!, $o: String!) { models(term: $t, text: $o) { nodes { uri } } }",
            {"t": term, "o": lab["tag"]},
        )
    )["models"]["nodes"]
    assert {m.rsplit("/versions/", 1)[0] for m in fitting} <= {n["uri"] for n in models}


async def test_run_updates_for_a_hidden_run_is_an_error(gapp, services: Services, lab) -> None:
    run = await runs.create_run(services, lab["model"], lab["secret"])
    s = Socket(gapp, [(b"authorization", f"Bearer {lab['stranger']}".encode())])
    await s.open()
    try:
        await s.send(
            {
                "id": "9",
                "type": "subscribe",
                "payload": {
                    "query": "subscription($r: ID!) { runUpdates(run: $r) { id } }",
                    "variables": {"r": f"runs/{run.id}"},
                },
            }
        )
        answer = await s.receive()
        assert answer["type"] in ("error", "next")
        errors = answer["payload"] if answer["type"] == "error" else answer["payload"]["errors"]
        assert "no run" in errors[0]["message"]
    finally:
        await s.close()


async def test_run_all_compatible(data: Gql, services: Services, lab) -> None:
    mutation = """mutation($v: ID!) { runAllCompatible(version: $v) { __typename
        ... on RunsQueued { skipped queued { status experiment { model { id } protocol { uri } } }
                            inapplicable { status missingTerms { iri } experiment { protocol { uri } } } }
        ... on Error { code } } }"""
    refused = (await data(mutation, {"v": gid(lab["model"])}, token=lab["stranger"]))["runAllCompatible"]
    assert refused == {"__typename": "Forbidden", "code": "forbidden"}
    await runs.create_run(services, lab["model"], lab["protocols"]["ICaL.txt"])  # a pair that has a run
    result = (await data(mutation, {"v": gid(lab["model"])}, token=lab["token"]))["runAllCompatible"]
    assert result["__typename"] == "RunsQueued"
    for run in result["queued"] + result["inapplicable"]:
        protocol = run["experiment"]["protocol"]["uri"]
        expected = compatibility.check_pair(
            services.store, services.settings.base_uri, lab["model"], protocol
        )
        assert run["status"] == ("QUEUED" if expected.fits else "INAPPLICABLE")
    assert result["skipped"] >= 1
    assert lab["protocols"]["ICaL.txt"] not in {
        r["experiment"]["protocol"]["uri"] for r in result["queued"] + result["inapplicable"]
    }


RUNS_PAGE = """query($s: RunStatus, $n: Int, $after: String) { runs(status: $s, first: $n, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } nodes { id status queuedAt } } }"""


async def test_recent_runs_page_newest_first_and_filter_by_status(data: Gql, lab) -> None:
    # one run per pair exists after the tests above; make sure of it
    for m, p in lab["fits"]:
        await data(RUN, {"m": gid(m), "p": gid(p)}, token=lab["token"])
    everything = (await data(RUNS_PAGE, {"n": 100}))["runs"]
    assert everything["totalCount"] >= len(lab["fits"])
    whole = everything["nodes"]
    assert [r["queuedAt"] for r in whole] == sorted((r["queuedAt"] for r in whole), reverse=True)
    # two at a time: the same runs in the same order, each once
    walked, after = [], None
    while True:
        page = (await data(RUNS_PAGE, {"n": 2, "after": after}))["runs"]
        walked += [r["id"] for r in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"] or len(walked) >= len(whole):
            break
        after = page["pageInfo"]["endCursor"]
    assert walked[: len(whole)] == [r["id"] for r in whole][: len(walked)]
    inapplicable = (await data(RUNS_PAGE, {"s": "INAPPLICABLE", "n": 100}))["runs"]
    assert {r["status"] for r in inapplicable["nodes"]} <= {"INAPPLICABLE"}
    if everything["totalCount"] <= 100:
        assert {r["id"] for r in inapplicable["nodes"]} == {
            r["id"] for r in whole if r["status"] == "INAPPLICABLE"
        }


async def test_bad_runs_cursor_says_what_is_wrong(gql: Gql) -> None:
    body = await gql(RUNS_PAGE, {"after": "not a cursor!"})
    assert "after: is not a cursor returned by this API" in body["errors"][0]["message"]


async def test_version_experiments_cover_every_pair_run(data: Gql, lab) -> None:
    for m, p in lab["fits"]:
        await data(RUN, {"m": gid(m), "p": gid(p)}, token=lab["token"])
    found = (
        await data(
            """query($id: ID!) { node(id: $id) { ... on Version {
        experiments { model { id } protocol { id } latestRun { id } }
        runs(first: 100) { totalCount nodes { experiment { id } } } } } }""",
            {"id": gid(lab["model"])},
        )
    )["node"]
    partners = {e["protocol"]["id"] for e in found["experiments"]}
    assert {
        gid(p) for m, p in lab["fits"] if m == lab["model"]
    } <= partners  # other tests may run it with more
    assert all(e["model"]["id"] == gid(lab["model"]) and e["latestRun"] for e in found["experiments"])
    assert found["runs"]["totalCount"] >= len(found["experiments"])
