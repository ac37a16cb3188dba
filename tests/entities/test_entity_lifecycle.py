"""Entities through the resolver API: versions in git and RDF together, tags, diffs, deletes, collaborators."""

from __future__ import annotations

import io
import zipfile

import pyoxigraph as ox
import pytest

from resolvers import metadata
from resolvers.entities import Entities
from resolvers.errors import Conflict, Forbidden, NotFound, NothingChanged, Unauthenticated, ValidationError
from resolvers.metadata import Kind, Visibility
from resolvers.uploads import Upload
from worker.contract import MANIFEST, read_manifest_master


async def test_a_model_version_is_a_commit_with_a_manifest_and_a_graph(
    entities: Entities, make_user, beeler_reuter
):
    owner, _ = await make_user("owner")
    entity, version = await entities.publish(
        owner, Kind.MODEL, "Beeler-Reuter", [beeler_reuter], message="first"
    )

    files = await entities.list_files(owner, entity.uri, "latest")
    assert {f.path for f in files} == {beeler_reuter.name, MANIFEST}
    assert [f.path for f in files if f.is_main] == [beeler_reuter.name]
    _, content = await entities.read_file(owner, entity.uri, version.sha, beeler_reuter.name)
    assert content == beeler_reuter.data
    _, manifest = await entities.read_file(owner, entity.uri, version.sha, MANIFEST)
    assert read_manifest_master(manifest) == beeler_reuter.name

    graph = ox.NamedNode(version.uri)
    assert version.uri == f"{entity.uri}/versions/{version.sha}"
    assert entities.ox.contains_named_graph(graph)
    objects = {
        (t.predicate.value, t.object.value) for t in entities.ox.quads_for_pattern(None, None, None, graph)
    }
    assert (metadata.IS_VERSION_OF.value, entity.uri) in objects
    assert (metadata.VISIBILITY.value, Visibility.PUBLIC.term.value) in objects
    assert (metadata.CREATOR.value, metadata.user_uri(entities.base_uri, owner.name)) in objects


async def test_versions_chain_and_are_addressed_by_sha_prefix_tag_and_latest(
    entities: Entities, make_user, beeler_reuter, noble
):
    owner, _ = await make_user("owner")
    entity, v1 = await entities.publish(owner, Kind.MODEL, "chain", [beeler_reuter], tag="v1")
    v2 = await entities.add_version(owner, entity.uri, [noble], message="swap the model")

    assert v2.parent == v1.uri
    _, _, versions = await entities.get_entity(owner, entity.uri)
    assert [v.sha for v in versions] == [v1.sha, v2.sha]
    pick = entities.pick_version
    assert pick(versions, "latest", entity.uri).sha == v2.sha
    assert pick(versions, "v1", entity.uri).sha == v1.sha
    assert pick(versions, v1.sha[:10], entity.uri).sha == v1.sha
    with pytest.raises(NotFound):
        pick(versions, "no-such-tag", entity.uri)
    # Not inherited: v2 holds only what was uploaded with it.
    assert {f.path for f in await entities.list_files(owner, entity.uri, v2.sha)} == {noble.name, MANIFEST}


async def test_inherit_keeps_the_previous_files(entities: Entities, make_user, beeler_reuter):
    owner, _ = await make_user("owner")
    entity, _ = await entities.publish(owner, Kind.MODEL, "inherit", [beeler_reuter])
    v2 = await entities.add_version(owner, entity.uri, [Upload("docs/README.md", b"# notes\n")], inherit=True)
    assert v2.main == beeler_reuter.name
    assert {f.path for f in await entities.list_files(owner, entity.uri, "latest")} == {
        beeler_reuter.name,
        "docs/README.md",
        MANIFEST,
    }


async def test_identical_files_add_no_version(entities: Entities, make_user, beeler_reuter):
    owner, _ = await make_user("owner")
    entity, v1 = await entities.publish(owner, Kind.MODEL, "same", [beeler_reuter])
    with pytest.raises(NothingChanged):
        await entities.add_version(owner, entity.uri, [beeler_reuter], message="again")
    _, _, versions = await entities.get_entity(owner, entity.uri)
    assert [v.sha for v in versions] == [v1.sha]


async def test_names_are_unique_per_owner_and_kind(entities: Entities, make_user, beeler_reuter):
    alice, _ = await make_user("alice")
    bob, _ = await make_user("bob")
    await entities.create_entity(alice, Kind.MODEL, "shared name")
    with pytest.raises(Conflict):
        await entities.create_entity(alice, Kind.MODEL, "shared name")
    await entities.create_entity(alice, Kind.PROTOCOL, "shared name")
    await entities.create_entity(bob, Kind.MODEL, "shared name")


async def test_anonymous_callers_cannot_write(entities: Entities, beeler_reuter):
    with pytest.raises(Unauthenticated):
        await entities.publish(None, Kind.MODEL, "anon", [beeler_reuter])


async def test_diff_between_versions_is_unified(entities: Entities, make_user):
    owner, _ = await make_user("owner")
    entity, v1 = await entities.publish(owner, Kind.PROTOCOL, "diffed", [Upload("p.txt", b"# a\n# b\n# c\n")])
    v2 = await entities.add_version(owner, entity.uri, [Upload("p.txt", b"# a\n# B\n# c\n")])
    diff = await entities.diff(owner, entity.uri, v1.sha, v2.sha)
    assert "-# b\n" in diff and "+# B\n" in diff and "p.txt" in diff


async def test_a_refused_version_leaves_git_and_store_untouched(entities: Entities, make_user, beeler_reuter):
    owner, _ = await make_user("owner")
    entity, v1 = await entities.publish(owner, Kind.MODEL, "refused", [beeler_reuter])
    repo = entities.repos.open(Kind.MODEL.segment, entity.id)
    graphs_before = set(entities.ox.named_graphs())
    with pytest.raises(ValidationError) as info:
        await entities.add_version(owner, entity.uri, [Upload("broken.cellml", b"<model>not closed")])
    assert "broken.cellml" in info.value.message
    assert repo.head() == v1.sha
    assert set(entities.ox.named_graphs()) == graphs_before


async def test_a_failing_ref_update_drops_the_new_graph(entities: Entities, make_user, beeler_reuter, noble):
    """A real git failure (the ref is locked by another writer) after the graph was written: both roll back."""
    owner, _ = await make_user("owner")
    entity, v1 = await entities.publish(owner, Kind.MODEL, "locked", [beeler_reuter])
    lock = entities.repos.path(Kind.MODEL.segment, entity.id) / "refs" / "heads" / "main.lock"
    lock.write_text("held\n")
    graphs_before = set(entities.ox.named_graphs())
    try:
        with pytest.raises(Exception):  # noqa: B017 - libgit2's error type for a held lock
            await entities.add_version(owner, entity.uri, [noble])
    finally:
        lock.unlink()
    assert set(entities.ox.named_graphs()) == graphs_before
    assert entities.repos.open(Kind.MODEL.segment, entity.id).head() == v1.sha


async def test_a_failing_store_write_leaves_no_entity(services, make_user, beeler_reuter, tmp_path):
    """The store refuses the write (a real pyoxigraph error: a read-only store): no repository is left behind."""
    owner, _ = await make_user("owner")
    writable = ox.Store(str(tmp_path / "store"))
    writable.flush()
    del writable
    read_only = ox.Store.read_only(str(tmp_path / "store"))
    broken = Entities(
        read_only, services.db, Entities.from_services(services).repos, services.settings.base_uri
    )
    segment_dir = broken.repos.root / Kind.MODEL.segment
    before = set(segment_dir.iterdir()) if segment_dir.exists() else set()
    with pytest.raises(RuntimeError, match="read-write"):
        await broken.create_entity(owner, Kind.MODEL, "read-only")
    after = set(segment_dir.iterdir()) if segment_dir.exists() else set()
    assert after == before


async def test_tags_are_unique_per_entity_and_checked(entities: Entities, make_user, beeler_reuter, noble):
    owner, _ = await make_user("owner")
    entity, v1 = await entities.publish(owner, Kind.MODEL, "tagged", [beeler_reuter])
    v2 = await entities.add_version(owner, entity.uri, [noble])
    tagged = await entities.tag_version(owner, entity.uri, v1.sha, "paper-2011")
    assert tagged.tags == ("paper-2011",)
    with pytest.raises(Conflict):
        await entities.tag_version(owner, entity.uri, v2.sha, "paper-2011")
    for bad in ("latest", "deadbeef", "a b", "../x", ""):
        with pytest.raises(ValidationError):
            await entities.tag_version(owner, entity.uri, v2.sha, bad)
    _, _, versions = await entities.get_entity(owner, entity.uri)
    assert entities.pick_version(versions, "paper-2011", entity.uri).sha == v1.sha


async def test_deleting_the_latest_version_moves_latest_back(
    entities: Entities, make_user, beeler_reuter, noble
):
    owner, _ = await make_user("owner")
    entity, v1 = await entities.publish(owner, Kind.MODEL, "deleting", [beeler_reuter])
    v2 = await entities.add_version(owner, entity.uri, [noble], tag="second")
    await entities.delete_version(owner, entity.uri, v2.sha)
    assert not entities.ox.contains_named_graph(ox.NamedNode(v2.uri))
    _, _, versions = await entities.get_entity(owner, entity.uri)
    assert [v.sha for v in versions] == [v1.sha]
    assert entities.repos.open(Kind.MODEL.segment, entity.id).head() == v1.sha
    with pytest.raises(NotFound):
        await entities.read_file(owner, entity.uri, v2.sha, noble.name)


async def test_deleting_a_middle_version_relinks_its_successor(entities: Entities, make_user):
    owner, _ = await make_user("owner")
    entity, v1 = await entities.publish(owner, Kind.PROTOCOL, "middle", [Upload("p.txt", b"# one\n")])
    v2 = await entities.add_version(owner, entity.uri, [Upload("p.txt", b"# two\n")])
    v3 = await entities.add_version(owner, entity.uri, [Upload("p.txt", b"# three\n")])
    await entities.delete_version(owner, entity.uri, v2.sha)
    _, _, versions = await entities.get_entity(owner, entity.uri)
    assert [v.sha for v in versions] == [v1.sha, v3.sha]
    assert versions[1].parent == v1.uri


async def test_only_owner_or_admin_deletes_and_entity_delete_removes_everything(
    entities: Entities, make_user, beeler_reuter
):
    owner, _ = await make_user("owner")
    collaborator, _ = await make_user("collab")
    admin, _ = await make_user("admin", roles={"admin"})
    entity, v1 = await entities.publish(owner, Kind.MODEL, "doomed", [beeler_reuter])
    await entities.grant(owner, entity.uri, collaborator.name)
    with pytest.raises(Forbidden):
        await entities.delete_entity(collaborator, entity.uri)
    with pytest.raises(Forbidden):
        await entities.delete_version(collaborator, entity.uri, v1.sha)
    await entities.delete_entity(admin, entity.uri)
    assert not entities.ox.contains_named_graph(ox.NamedNode(entity.uri))
    assert not entities.ox.contains_named_graph(ox.NamedNode(v1.uri))
    assert not entities.repos.path(Kind.MODEL.segment, entity.id).exists()
    with pytest.raises(NotFound):
        await entities.get_entity(owner, entity.uri)
    assert entities.find_entity(Kind.MODEL, owner.name, "doomed") is None


async def test_collaborators_add_versions_but_do_not_manage(
    entities: Entities, make_user, beeler_reuter, noble
):
    owner, _ = await make_user("owner")
    collaborator, _ = await make_user("collab")
    stranger, _ = await make_user("stranger")
    entity, _ = await entities.publish(owner, Kind.MODEL, "team", [beeler_reuter])
    with pytest.raises(Forbidden):
        await entities.add_version(stranger, entity.uri, [noble])
    await entities.grant(owner, entity.uri, collaborator.name)
    assert await entities.collaborators(owner, entity.uri) == [collaborator.name]
    version = await entities.add_version(collaborator, entity.uri, [noble], message="from a collaborator")
    assert version.author == collaborator.name
    with pytest.raises(Forbidden):
        await entities.grant(collaborator, entity.uri, stranger.name)
    with pytest.raises(Forbidden):
        await entities.set_visibility(collaborator, entity.uri, "latest", Visibility.PRIVATE)
    await entities.revoke(owner, entity.uri, collaborator.name)
    with pytest.raises(Forbidden):
        await entities.add_version(collaborator, entity.uri, [beeler_reuter])


async def test_only_moderators_set_moderated(entities: Entities, make_user, beeler_reuter):
    owner, _ = await make_user("owner")
    moderator, _ = await make_user("moderator", roles={"moderator"})
    entity, v1 = await entities.publish(owner, Kind.MODEL, "endorsed", [beeler_reuter])
    with pytest.raises(Forbidden):
        await entities.set_visibility(owner, entity.uri, v1.sha, Visibility.MODERATED)
    with pytest.raises(Forbidden):
        await entities.add_version(
            owner, entity.uri, [Upload("x.cellml", beeler_reuter.data)], visibility=Visibility.MODERATED
        )
    moderated = await entities.set_visibility(moderator, entity.uri, v1.sha, Visibility.MODERATED)
    assert moderated.visibility is Visibility.MODERATED
    _, _, versions = await entities.get_entity(None, entity.uri)
    assert versions[0].visibility is Visibility.MODERATED
    with pytest.raises(Forbidden):
        await entities.set_visibility(owner, entity.uri, v1.sha, Visibility.PRIVATE)


async def test_omex_archive_holds_every_file_with_the_manifest_first(entities: Entities, make_user):
    owner, _ = await make_user("owner")
    uploads = [Upload("main.txt", b"# protocol\n"), Upload("lib/helper.txt", b"# helper\n")]
    entity, version = await entities.publish(owner, Kind.PROTOCOL, "archived", uploads, main="main.txt")
    _, _, data = await entities.archive(owner, entity.uri, "latest")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        assert names[0] == MANIFEST
        assert set(names) == {MANIFEST, "main.txt", "lib/helper.txt"}
        assert zf.read("lib/helper.txt") == b"# helper\n"
        assert read_manifest_master(zf.read(MANIFEST)) == "main.txt"


async def test_entity_page_opens_one_repository(
    entities: Entities, make_user, beeler_reuter, noble, monkeypatch
):
    owner, _ = await make_user("owner")
    entity, _ = await entities.publish(owner, Kind.MODEL, "page", [beeler_reuter])
    await entities.add_version(owner, entity.uri, [noble])
    opened: list[str] = []
    original = entities.repos.open

    def counting_open(segment: str, entity_id: str):  # noqa: ANN202
        opened.append(entity_id)
        return original(segment, entity_id)

    monkeypatch.setattr(entities.repos, "open", counting_open)
    page = await entities.entity_page(owner, entity.uri)
    assert opened == [entity.id]
    assert len(page.versions) == 2 and page.latest is not None
    assert {f.path for f in page.files} == {noble.name, MANIFEST}
    assert page.entity.name == "page" and page.can_edit and page.can_delete


async def test_a_dataset_links_its_protocol_and_describes_its_columns(entities: Entities, make_user):
    owner, _ = await make_user("owner")
    protocol, _ = await entities.publish(owner, Kind.PROTOCOL, "for data", [Upload("p.txt", b"# protocol\n")])
    dataset, version = await entities.publish(
        owner, Kind.DATASET, "measured", [Upload("data.csv", b"time, V \n0,1\n1,2\n")], protocol=protocol.uri
    )
    assert dataset.protocol == protocol.uri
    assert metadata.read_entity(entities.ox, entities.base_uri, dataset.uri).protocol == protocol.uri
    query = (
        metadata.PREFIXES
        + """PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
        SELECT ?v ?name ?index WHERE { GRAPH ?v { ?v weblab:column ?c . ?c rdfs:label ?name ; weblab:columnIndex ?index } }
        ORDER BY ?index"""
    )
    columns = entities.ox.query(query, substitutions={ox.Variable("v"): ox.NamedNode(version.uri)})
    assert [(s["name"].value, int(s["index"].value)) for s in columns] == [("time", 1), ("V", 2)]
    with pytest.raises(ValidationError):
        await entities.create_entity(owner, Kind.DATASET, "wrong link", protocol=dataset.uri)
