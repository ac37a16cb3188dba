"""Bad input is refused with the file and the reason, before anything is written."""

from __future__ import annotations

import io
import stat
import zipfile

import pytest

from resolvers.content import check_files, choose_main
from resolvers.entities import Entities
from resolvers.errors import UploadTooLarge, ValidationError
from resolvers.metadata import Kind
from resolvers.uploads import Limits, Upload, unpack
from worker.contract import write_manifest

LIMITS = Limits(max_upload_bytes=10_000, max_unpacked_bytes=50_000)
CELLML = b'<model name="m" xmlns="http://www.cellml.org/cellml/1.0#"/>'
XML_BOMB = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;">]>\n'
    b'<model name="m" xmlns="http://www.cellml.org/cellml/1.0#">&lol3;</model>'
)
EXTERNAL = (
    b'<?xml version="1.0"?>\n<!DOCTYPE m [<!ENTITY ext SYSTEM "file:///etc/passwd">]>\n'
    b'<model name="m" xmlns="http://www.cellml.org/cellml/1.0#">&ext;</model>'
)


def make_zip(entries: dict[str, bytes], *, links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return buffer.getvalue()


def refused(uploads: list[Upload], limits: Limits = LIMITS) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        unpack(uploads, limits)
    return info.value


def test_several_files_with_folders_are_accepted():
    result = unpack([Upload("model.cellml", CELLML), Upload("docs/notes.md", b"hi")], LIMITS)
    assert result.files == {"model.cellml": CELLML, "docs/notes.md": b"hi"}


def test_an_archive_and_its_manifest_give_files_and_main():
    manifest = write_manifest(["a.cellml", "b.cellml"], "b.cellml")
    archive = make_zip({"manifest.xml": manifest, "a.cellml": CELLML, "./b.cellml": CELLML})
    result = unpack([Upload("model.omex", archive)], LIMITS)
    assert result.main == "b.cellml"
    assert set(result.files) == {"a.cellml", "b.cellml"}


@pytest.mark.parametrize(
    "name",
    [
        "../evil.cellml",
        "a/../../evil.cellml",
        "/etc/passwd",
        "C:/x.cellml",
        "a\\..\\evil.cellml",
        ".git/config",
    ],
)
def test_paths_escaping_the_folder_are_refused(name):
    error = refused([Upload("up.zip", make_zip({name: CELLML}))])
    assert name in error.message and "up.zip" in error.field
    error = refused([Upload(name, CELLML)])
    assert error.field == name


def test_links_in_archives_are_refused():
    error = refused([Upload("links.zip", make_zip({"a.cellml": CELLML}, links={"b.cellml": "/etc/passwd"}))])
    assert "link" in error.message and "b.cellml" in error.field


def test_zip_bomb_by_declared_size_is_refused():
    bomb = make_zip(
        {"zeros.txt": b"\0" * 60_000}
    )  # compresses to a few hundred bytes, under the upload limit
    assert len(bomb) < LIMITS.max_upload_bytes
    with pytest.raises(UploadTooLarge) as info:
        unpack([Upload("bomb.zip", bomb)], LIMITS)
    assert info.value.field == "bomb.zip" and info.value.status == 413


def test_zip_bomb_with_a_lying_header_is_refused():
    """The local and central headers claim a tiny size; inflating is stopped at the limit anyway."""
    payload = b"\0" * 60_000
    data = bytearray(make_zip({"zeros.txt": payload}))
    real = len(payload).to_bytes(4, "little")
    fake = (10).to_bytes(4, "little")
    count = data.count(real)
    assert count == 2
    data = bytearray(bytes(data).replace(real, fake))
    with pytest.raises(ValidationError) as info:
        unpack([Upload("liar.zip", bytes(data))], LIMITS)
    assert "liar.zip" in info.value.field


def test_too_large_and_empty_uploads_are_refused():
    with pytest.raises(UploadTooLarge) as info:
        unpack([Upload("big.cellml", b"x" * (LIMITS.max_upload_bytes + 1))], LIMITS)
    assert info.value.field == "big.cellml"
    assert refused([]).field == "files"
    assert refused([Upload("empty.cellml", b"")]).field == "empty.cellml"
    assert refused([Upload("empty.zip", make_zip({}))]).field == "empty.zip"
    assert "not a valid zip" in refused([Upload("fake.zip", b"PK not really")]).message


def test_name_clashes_are_refused():
    error = refused([Upload("a.cellml", CELLML), Upload("sub.zip", make_zip({"a.cellml": CELLML}))])
    assert "clash" in error.message and "a.cellml" in error.field
    assert "clash" in refused([Upload("A.cellml", CELLML), Upload("a.cellml", CELLML)]).message
    assert "both a file and a folder" in refused([Upload("a", b"x"), Upload("a/b", b"y")]).message


def test_xml_bombs_and_external_entities_are_refused_not_expanded():
    for data in (XML_BOMB, EXTERNAL):
        with pytest.raises(ValidationError) as info:
            check_files(Kind.MODEL, {"bomb.cellml": data}, "bomb.cellml")
        assert info.value.field == "bomb.cellml" and "entity" in info.value.message.lower()
    manifest_bomb = make_zip(
        {"manifest.xml": XML_BOMB.replace(b"model", b"omexManifest"), "a.cellml": CELLML}
    )
    assert "manifest" in refused([Upload("m.omex", manifest_bomb)]).message


def test_not_xml_and_not_cellml_are_told_apart():
    with pytest.raises(ValidationError, match="not XML"):
        check_files(Kind.MODEL, {"m.cellml": b"hello"}, "m.cellml")
    with pytest.raises(ValidationError, match="not CellML"):
        check_files(Kind.MODEL, {"m.cellml": b"<sbml/>"}, "m.cellml")
    check_files(Kind.MODEL, {"m.cellml": CELLML.replace(b"1.0#", b"2.0#")}, "m.cellml")


def test_cellml_imports_must_be_uploaded_and_decide_the_main_file():
    importer = (
        b'<model name="top" xmlns="http://www.cellml.org/cellml/1.1#" xmlns:xlink="http://www.w3.org/1999/xlink">'
        b'<import xlink:href="parts/lib.cellml"/></model>'
    )
    lib = CELLML.replace(b"1.0#", b"1.1#")
    with pytest.raises(ValidationError, match="parts/lib.cellml"):
        check_files(Kind.MODEL, {"top.cellml": importer}, "top.cellml")
    files = {"top.cellml": importer, "parts/lib.cellml": lib}
    assert choose_main(Kind.MODEL, files, None) == "top.cellml"
    check_files(Kind.MODEL, files, "top.cellml")
    with pytest.raises(ValidationError, match="several"):
        choose_main(Kind.MODEL, {"a.cellml": CELLML, "b.cellml": CELLML}, None)


def test_datasets_need_a_consistent_csv():
    check_files(Kind.DATASET, {"d.csv": b"time,V\n0,1\n1,2\n"}, "d.csv")
    with pytest.raises(ValidationError, match="line 3"):
        check_files(Kind.DATASET, {"d.csv": b"time,V\n0,1\n1,2,3\n"}, "d.csv")
    with pytest.raises(ValidationError, match="UTF-8"):
        check_files(Kind.DATASET, {"d.csv": b"\xff\xfe\x00"}, "d.csv")


async def test_refused_uploads_create_no_entity(entities: Entities, make_user):
    owner, _ = await make_user("owner")
    graphs_before = set(entities.ox.named_graphs())
    for uploads in (
        [Upload("bomb.cellml", XML_BOMB)],
        [Upload("x.zip", make_zip({"../x.cellml": CELLML}))],
        [],
    ):
        with pytest.raises(ValidationError):
            await entities.publish(owner, Kind.MODEL, "never", uploads)
    assert entities.find_entity(Kind.MODEL, owner.name, "never") is None
    assert set(entities.ox.named_graphs()) == graphs_before
