"""Files named in protocol text stay inside the protocol's folder tree (protocols are uploaded by users).

``load("...")``, ``import "..."``, nested ``protocol "..."`` and ``interpolate("...")``
may name files inside the folder of the protocol first loaded (or the packaged
standard library); absolute paths, ``..`` that climbs out and symbolic links that
lead out are refused with an error saying where and why, and nothing outside is read.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.fc import ProtocolError, load_protocol

OUTPUT = "outputs {\n    x units dimensionless\n}\n"


def _line_of(path: Path, fragment: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if fragment in line)


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """(protocol folder, a secret file beside it that protocols must not read)."""
    folder = tmp_path / "protocol"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "values.csv").write_text("1,2,3\n")
    secret = tmp_path / "secret.csv"
    secret.write_text("42\n")
    return folder, secret


def _load_program(folder: Path, target: str) -> Path:
    path = folder / "main.txt"
    path.write_text(f'post-processing {{\n    x = load("{target}")\n}}\n' + OUTPUT)
    return path


def test_load_reads_a_file_in_the_protocols_folder(folders: tuple[Path, Path]) -> None:
    folder, _ = folders
    for target in ("data/values.csv", "data/../data/values.csv"):
        result = load_protocol(_load_program(folder, target)).run(None)
        assert result.status == "success", result.messages
        assert result.outputs["x"].ravel().tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    "target, reason",
    [
        ("../secret.csv", "'..' leads outside the protocol's folder"),
        ("data/../../secret.csv", "'..' leads outside the protocol's folder"),
        ("{secret}", "absolute paths are not allowed"),
        ("link.csv", "a symbolic link leads outside the protocol's folder"),
    ],
)
def test_load_outside_the_folder_is_refused_where_it_is_written(
    folders: tuple[Path, Path], target: str, reason: str
) -> None:
    folder, secret = folders
    (folder / "link.csv").symlink_to(secret)
    path = _load_program(folder, target.format(secret=secret))
    result = load_protocol(path).run(None)
    assert result.status == "failed"
    message = result.messages[0]  # then: output x could not be computed
    assert message.startswith(f"{path}:{_line_of(path, 'load(')}:")
    assert reason in message
    assert "x" not in result.outputs


def test_a_symbolic_link_inside_the_folder_is_followed(folders: tuple[Path, Path]) -> None:
    folder, _ = folders
    (folder / "alias.csv").symlink_to(folder / "data" / "values.csv")
    result = load_protocol(_load_program(folder, "alias.csv")).run(None)
    assert result.status == "success", result.messages


def test_import_outside_the_folder_is_refused_at_the_import(folders: tuple[Path, Path]) -> None:
    folder, _ = folders
    (folder.parent / "outside.txt").write_text("library {\n    y = 1\n}\n")
    path = folder / "main.txt"
    path.write_text('import o = "../outside.txt"\n' + "post-processing {\n    x = [1]\n}\n" + OUTPUT)
    with pytest.raises(ProtocolError) as info:
        load_protocol(path)
    assert (info.value.file, info.value.line, info.value.column) == (str(path), 1, 1)
    assert "'..' leads outside" in info.value.message


def test_imported_file_cannot_reach_further_than_the_protocol_first_loaded(
    folders: tuple[Path, Path],
) -> None:
    folder, _ = folders
    (folder.parent / "outside.txt").write_text("library {\n    y = 1\n}\n")
    (folder / "sub").mkdir()
    (folder / "sibling.txt").write_text("library {\n    z = 2\n}\n")
    lib = folder / "sub" / "lib.txt"
    path = folder / "main.txt"
    path.write_text('import l = "sub/lib.txt"\npost-processing {\n    x = [l:z]\n}\n' + OUTPUT)

    lib.write_text('import s = "../sibling.txt"\nlibrary {\n    z = s:z\n}\n')  # still inside: allowed
    assert load_protocol(path).run(None).outputs["x"].tolist() == [2.0]

    lib.write_text('import s = "../../outside.txt"\nlibrary {\n    z = s:y\n}\n')
    with pytest.raises(ProtocolError) as info:
        load_protocol(path)
    assert info.value.file == str(lib) and info.value.line == 1
    assert "'..' leads outside" in info.value.message


def test_standard_library_imports_still_work(folders: tuple[Path, Path]) -> None:
    folder, _ = folders
    path = folder / "main.txt"
    path.write_text(
        'import std = "BasicLibrary.txt"\npost-processing {\n    x = std:Max([1, 5, 2])\n}\n' + OUTPUT
    )
    result = load_protocol(path).run(None)
    assert result.status == "success", result.messages
    assert result.outputs["x"].tolist() == [5.0]


def test_nested_protocol_outside_the_folder_is_refused(folders: tuple[Path, Path]) -> None:
    folder, _ = folders
    (folder.parent / "inner.txt").write_text("post-processing {\n    y = [1]\n}\n")
    path = folder / "main.txt"
    path.write_text(
        "tasks {\n    simulation s = nested {\n        range i units dimensionless vector [0]\n"
        '        nests protocol "../inner.txt" {\n            select output y\n        }\n    }\n}\n'
    )
    with pytest.raises(ProtocolError) as info:
        load_protocol(path).interface()
    assert info.value.file == str(path) and info.value.line == _line_of(path, "nests protocol")
    assert "'..' leads outside" in info.value.message


def test_interpolate_data_file_outside_the_folder_is_refused_on_loading(
    folders: tuple[Path, Path],
) -> None:
    folder, secret = folders
    path = folder / "main.txt"
    path.write_text(
        'namespace oxmeta = "https://chaste.comlab.ox.ac.uk/cellml/ns/oxford-metadata#"\n'
        "units {\n    mV = milli volt\n}\n"
        "model interface {\n"
        f'    define oxmeta:membrane_voltage = interpolate("{secret}", oxmeta:time, second, mV)\n'
        "}\n"
    )
    with pytest.raises(ProtocolError) as info:
        load_protocol(path)
    assert info.value.file == str(path) and info.value.line == _line_of(path, "interpolate(")
    assert "absolute paths are not allowed" in info.value.message


def test_a_protocol_outside_the_given_root_is_refused(folders: tuple[Path, Path]) -> None:
    folder, _ = folders
    path = _load_program(folder, "data/values.csv")
    assert load_protocol(path, root=folder).run(None).status == "success"
    with pytest.raises(ProtocolError, match="outside the protocol folder"):
        load_protocol(path, root=folder / "data")
