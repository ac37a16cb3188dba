"""A private object never shows to anonymous callers or other users: in lists, by id, by URI, through nested
fields of a visible object, or in counts. One small world, looked at by four callers, for each type."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio

from resolvers import runs
from resolvers.accounts import User
from resolvers.entities import Entities
from resolvers.metadata import Kind
from resolvers.services import Services
from tests.graphql.conftest import Gql


@dataclass
class World:
    owner: User
    tokens: dict[str, str | None]  # viewer → token (None: anonymous)
    public: dict[str, str] = field(default_factory=dict)  # label → URI of things everyone may see
    private: dict[str, str] = field(
        default_factory=dict
    )  # label → URI of things only owner/collaborator may see
    names: dict[str, str] = field(default_factory=dict)  # entity label → name
    tag: str = ""


@pytest_asyncio.fixture(scope="session")
async def world(services: Services, entities: Entities, make_user, cellml, protocol_file) -> World:
    owner, owner_token = await make_user("alice")
    _, stranger_token = await make_user("bob")
    friend, friend_token = await make_user("carol")
    tag = secrets.token_hex(3)
    w = World(
        owner=owner,
        tokens={
            "anonymous": None,
            "stranger": stranger_token,
            "owner": owner_token,
            "collaborator": friend_token,
        },
        tag=tag,
    )
    br, noble = cellml("beeler_reuter_model_1977.cellml"), cellml("noble_model_1962.cellml")

    async def publish(label: str, kind: Kind, upload: Any, visibility: str, **kw: Any) -> tuple[str, str]:
        name = f"{label} {tag}"
        entity, version = await entities.publish(
            owner, kind, name, [upload], visibility=visibility, message=f"{label} message {tag}", **kw
        )
        w.names[label] = name
        return entity.uri, version.uri

    e, v = await publish("open model", Kind.MODEL, br, "public")
    w.public |= {"open model": e, "open model v1": v}
    e, v = await publish("secret model", Kind.MODEL, noble, "private")
    w.private |= {"secret model": e, "secret model v1": v}
    # public first version, private second: the entity shows, its second version does not
    e, v = await publish("mixed model", Kind.MODEL, br, "public")
    v2 = await entities.add_version(owner, e, [noble], visibility="private", message=f"hidden change {tag}")
    w.public |= {"mixed model": e, "mixed model v1": v}
    w.private["mixed model v2"] = v2.uri
    e, v = await publish("open protocol", Kind.PROTOCOL, protocol_file("SinglePace.txt"), "public")
    w.public |= {"open protocol": e, "open protocol v1": v}
    e, v = await publish("secret protocol", Kind.PROTOCOL, protocol_file("SteadyPacing.txt"), "private")
    w.private |= {"secret protocol": e, "secret protocol v1": v}
    csv = type(br)("data.csv", b"t,V\n0,-84\n1,-83\n")
    e, v = await publish("open dataset", Kind.DATASET, csv, "public", protocol=w.private["secret protocol"])
    w.public |= {"open dataset": e, "open dataset v1": v}
    e, v = await publish("secret dataset", Kind.DATASET, csv, "private")
    w.private |= {"secret dataset": e, "secret dataset v1": v}
    await entities.grant(owner, w.private["secret model"], friend.name)
    await entities.grant(owner, w.private["secret protocol"], friend.name)
    await entities.grant(owner, w.public["mixed model"], friend.name)
    await entities.grant(owner, w.private["secret dataset"], friend.name)
    open_run = await runs.create_run(services, w.public["open model v1"], w.public["open protocol v1"])
    secret_run = await runs.create_run(services, w.public["open model v1"], w.private["secret protocol v1"])
    base = services.settings.base_uri.rstrip("/")
    w.public["open run"] = f"{base}/runs/{open_run.id}"
    w.public["open experiment"] = open_run.experiment_uri
    w.private["secret run"] = f"{base}/runs/{secret_run.id}"
    w.private["secret experiment"] = secret_run.experiment_uri
    return w


OUTSIDERS = ("anonymous", "stranger")
INSIDERS = ("owner", "collaborator")
VIEWERS = OUTSIDERS + INSIDERS


def sees(viewer: str) -> bool:
    return viewer in INSIDERS


@pytest.mark.parametrize("viewer", VIEWERS)
@pytest.mark.parametrize("field_name", ["entities", "models", "protocols", "datasets"])
async def test_lists_and_counts(world: World, data: Gql, viewer: str, field_name: str) -> None:
    result = (
        await data(
            f"""query($text: String!) {{ {field_name}(text: $text, first: 100) {{
        totalCount edges {{ node {{ uri name }} }} }} }}""",
            {"text": world.tag},
            token=world.tokens[viewer],
        )
    )[field_name]
    uris = {e["node"]["uri"] for e in result["edges"]}
    kind = {"entities": "", "models": "/models/", "protocols": "/protocols/", "datasets": "/datasets/"}[
        field_name
    ]
    expected_public = {u for k, u in world.public.items() if k in world.names and kind in u}
    expected_private = {u for k, u in world.private.items() if k in world.names and kind in u}
    assert expected_public <= uris
    assert bool(expected_private & uris) == sees(viewer)
    assert result["totalCount"] == len(expected_public) + (len(expected_private) if sees(viewer) else 0)


@pytest.mark.parametrize("viewer", VIEWERS)
async def test_by_id_and_by_uri(world: World, data: Gql, viewer: str) -> None:
    base = "http://localhost:8000/"
    for label, uri in {**world.public, **world.private}.items():
        found = await data(
            "query($id: ID!, $u: String!) { node(id: $id) { uri } resource(uri: $u) { uri } }",
            {"id": uri.removeprefix(base), "u": uri},
            token=world.tokens[viewer],
        )
        visible = label in world.public or sees(viewer)
        expected = {"uri": uri} if visible else None
        assert found == {"node": expected, "resource": expected}, (label, viewer)


@pytest.mark.parametrize("viewer", VIEWERS)
async def test_nested_fields_hide_private_versions_and_partners(world: World, data: Gql, viewer: str) -> None:
    mixed = (
        await data(
            """query($u: String!, $sha: String!) { resource(uri: $u) { ... on Model {
        versions { totalCount nodes { uri } } latestVersion { uri } version(ref: $sha) { uri } } } }""",
            {"u": world.public["mixed model"], "sha": world.private["mixed model v2"].rsplit("/", 1)[1]},
            token=world.tokens[viewer],
        )
    )["resource"]
    if sees(viewer):
        assert (
            mixed["versions"]["totalCount"] == 2
            and mixed["latestVersion"]["uri"] == world.private["mixed model v2"]
        )
        assert mixed["version"] == {"uri": world.private["mixed model v2"]}
    else:
        assert mixed["versions"] == {"totalCount": 1, "nodes": [{"uri": world.public["mixed model v1"]}]}
        assert mixed["latestVersion"]["uri"] == world.public["mixed model v1"] and mixed["version"] is None

    dataset = (
        await data(
            "query($u: String!) { resource(uri: $u) { ... on Dataset { protocol { uri } } } }",
            {"u": world.public["open dataset"]},
            token=world.tokens[viewer],
        )
    )["resource"]
    assert dataset["protocol"] == ({"uri": world.private["secret protocol"]} if sees(viewer) else None)

    compat = (
        await data(
            """query($u: String!) { resource(uri: $u) { ... on Version {
        compatibility { protocol { uri } } } } }""",
            {"u": world.public["open model v1"]},
            token=world.tokens[viewer],
        )
    )["resource"]["compatibility"]
    partners = {c["protocol"]["uri"] for c in compat}
    assert world.public["open protocol v1"] in partners
    assert (world.private["secret protocol v1"] in partners) == sees(viewer)

    owner = (
        await data(
            """query($n: String!, $t: String!) { user(name: $n) { entities(text: $t, first: 50) {
        totalCount nodes { uri } } } }""",
            {"n": world.owner.name, "t": world.tag},
            token=world.tokens[viewer],
        )
    )["user"]["entities"]
    uris = {n["uri"] for n in owner["nodes"]}
    assert bool(uris & set(world.private.values())) == sees(viewer)
    assert owner["totalCount"] == len(uris)


@pytest.mark.parametrize("viewer", OUTSIDERS)
async def test_filters_do_not_reveal_private_content(world: World, data: Gql, viewer: str) -> None:
    # the private second version's message is searchable only by those who may see it
    found = (
        await data(
            "query($t: String!) { models(text: $t) { totalCount } }",
            {"t": f"hidden change {world.tag}"},
            token=world.tokens[viewer],
        )
    )["models"]
    assert found["totalCount"] == 0
    private_only = (
        await data(
            "query($t: String!, $o: String!) { models(owner: $o, visibility: PRIVATE, text: $t) "
            "{ totalCount } }",
            {"t": world.tag, "o": world.owner.name},
            token=world.tokens[viewer],
        )
    )["models"]
    assert private_only["totalCount"] == 0


@pytest.mark.parametrize("viewer", VIEWERS)
async def test_runs_and_experiments(world: World, data: Gql, viewer: str) -> None:
    base = "http://localhost:8000/"
    for label in ("open run", "secret run", "open experiment", "secret experiment"):
        uri = world.public.get(label) or world.private[label]
        node = (
            await data(
                """query($id: ID!) { node(id: $id) { uri
            ... on Run { status experiment { model { uri } protocol { uri } } }
            ... on Experiment { latestRun { uri } runs { uri } } } }""",
                {"id": uri.removeprefix(base)},
                token=world.tokens[viewer],
            )
        )["node"]
        visible = label in world.public or sees(viewer)
        assert (node is not None) == visible, (label, viewer)


COUNTS = (
    """query { counts { models protocols datasets runs } runs(first: 100) { totalCount nodes { uri } } }"""
)


@pytest.mark.parametrize("viewer", VIEWERS)
async def test_counts_and_run_list(world: World, data: Gql, viewer: str) -> None:
    # the world's owner and collaborator are fresh users: they see what anonymous callers see plus the world's
    # private entity of each kind; the stranger sees exactly what anonymous callers see. Runs: publishing queues
    # runs in the background, so the anonymous count is taken before and after
    before = await data(COUNTS)
    seen = await data(COUNTS, token=world.tokens[viewer])
    after = await data(COUNTS)
    extra = 1 if sees(viewer) else 0
    for kind in ("models", "protocols", "datasets"):
        assert seen["counts"][kind] == before["counts"][kind] + extra == after["counts"][kind] + extra, kind
    if sees(viewer):
        assert (
            seen["counts"]["runs"] >= before["counts"]["runs"] + 1
        )  # the secret run, and any queued with it
    else:
        assert before["counts"]["runs"] <= seen["counts"]["runs"] <= after["counts"]["runs"]
    assert seen["runs"]["totalCount"] == seen["counts"]["runs"]
    listed = {n["uri"] for n in seen["runs"]["nodes"]}
    assert world.private["secret run"] not in listed or sees(viewer)
    if seen["runs"]["totalCount"] <= 100:  # everything is on the page
        assert world.public["open run"] in listed and (world.private["secret run"] in listed) == sees(viewer)


@pytest.mark.parametrize("viewer", VIEWERS)
async def test_version_runs_and_experiments(world: World, data: Gql, viewer: str) -> None:
    found = (
        await data(
            """query($u: String!) { resource(uri: $u) { ... on Version {
        runs { totalCount nodes { uri } } experiments { uri latestRun { uri } } } } }""",
            {"u": world.public["open model v1"]},
            token=world.tokens[viewer],
        )
    )["resource"]
    runs_seen = {n["uri"] for n in found["runs"]["nodes"]}
    experiments = {e["uri"] for e in found["experiments"]}
    assert world.public["open run"] in runs_seen and world.public["open experiment"] in experiments
    assert (world.private["secret run"] in runs_seen) == sees(viewer)
    assert (world.private["secret experiment"] in experiments) == sees(viewer)
    assert found["runs"]["totalCount"] == len(runs_seen)
    # the private protocol's version itself is not there for outsiders, so neither are its runs
    hidden = (
        await data(
            "query($u: String!) { resource(uri: $u) { ... on Version { runs { totalCount } } } }",
            {"u": world.private["secret protocol v1"]},
            token=world.tokens[viewer],
        )
    )["resource"]
    assert (hidden is not None) == sees(viewer)


@pytest.mark.parametrize("viewer", VIEWERS)
async def test_matrix_by_owner_hides_private_rows_and_columns(world: World, data: Gql, viewer: str) -> None:
    matrix = (
        await data(
            """query($o: String!) { experimentMatrix(owner: $o) { models { uri } protocols { uri }
        cells { modelId protocolId status experiment { uri } } } }""",
            {"o": world.owner.name},
            token=world.tokens[viewer],
        )
    )["experimentMatrix"]
    rows = {m["uri"] for m in matrix["models"]}
    columns = {p["uri"] for p in matrix["protocols"]}
    assert world.public["open model v1"] in rows and world.public["open protocol v1"] in columns
    assert (world.private["secret model v1"] in rows) == sees(viewer)
    assert (world.private["secret protocol v1"] in columns) == sees(viewer)
    assert len(matrix["cells"]) == len(rows) * len(columns)
    experiments = {c["experiment"]["uri"] for c in matrix["cells"]}
    assert world.public["open experiment"] in experiments
    assert (world.private["secret experiment"] in experiments) == sees(viewer)
