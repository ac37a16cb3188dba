"""Bulk import: folders become entities, re-importing unchanged files adds nothing, failures say why."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from resolvers.entities import Entities
from resolvers.errors import NotFound
from resolvers.importer import import_paths
from resolvers.metadata import Kind, Visibility


def copy_models(source: Path, target: Path, names: list[str]) -> list[str]:
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(source / name, target / name)
    return names


async def test_import_then_reimport_is_unchanged(
    entities: Entities, make_user, cellml_dir: Path, tmp_path: Path
):
    owner, _ = await make_user("importer")
    names = sorted(p.name for p in cellml_dir.glob("*.cellml"))[:4]
    folder = tmp_path / "models"
    copy_models(cellml_dir, folder, names)
    first = await import_paths(entities, owner, [folder], progress=False)
    assert (first.imported, first.unchanged, first.failed) == (len(names), 0, [])
    for name in names:
        entity = entities.find_entity(Kind.MODEL, owner.name, Path(name).stem)
        assert entity is not None
        _, data = await entities.read_file(owner, entity.uri, "latest", name)
        assert data == (cellml_dir / name).read_bytes()

    second = await import_paths(entities, owner, [folder], progress=False)
    assert (second.imported, second.unchanged, second.failed) == (0, len(names), [])

    # A changed file becomes a new version of the same entity.
    changed = folder / names[0]
    changed.write_bytes(changed.read_bytes().replace(b"</model>", b"<!-- edited --></model>"))
    third = await import_paths(entities, owner, [folder], progress=False)
    assert (third.imported, third.unchanged) == (1, len(names) - 1)
    entity = entities.find_entity(Kind.MODEL, owner.name, Path(names[0]).stem)
    _, _, versions = await entities.get_entity(owner, entity.uri)
    assert len(versions) == 2 and versions[1].parent == versions[0].uri


async def test_bad_files_are_reported_with_their_reason(entities: Entities, make_user, tmp_path: Path):
    owner, _ = await make_user("importer")
    (tmp_path / "notxml.cellml").write_text("hello")
    (tmp_path / "sbml.cellml").write_text("<sbml/>")
    (tmp_path / "empty.txt").write_text("")
    summary = await import_paths(entities, owner, [tmp_path], progress=False)
    reasons = dict(summary.failed)
    assert summary.imported == 0 and len(reasons) == 3
    assert "not XML" in reasons[str(tmp_path / "notxml.cellml")]
    assert "not CellML" in reasons[str(tmp_path / "sbml.cellml")]
    assert "empty" in reasons[str(tmp_path / "empty.txt")]


async def test_protocols_bring_the_protocols_they_import(entities: Entities, make_user, shared_data: Path):
    owner, _ = await make_user("importer")
    real = shared_data / "fc" / "protocols" / "real"
    summary = await import_paths(
        entities, owner, [real / "Alternans.txt"], progress=False, visibility=Visibility.PRIVATE
    )
    assert summary.imported == 1, summary.failed
    entity = entities.find_entity(Kind.PROTOCOL, owner.name, "Alternans")
    files = {f.path for f in await entities.list_files(owner, entity.uri, "latest")}
    # Alternans imports SteadyStateRunner.txt (beside it), which imports the standard libraries (not beside it).
    assert {"Alternans.txt", "SteadyStateRunner.txt"} <= files
    assert "BasicLibrary.txt" not in files
    _, _, versions = await entities.get_entity(owner, entity.uri)
    assert versions[0].visibility is Visibility.PRIVATE
    with pytest.raises(NotFound):
        await entities.get_entity(None, entity.uri)


def run_weblab(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, **env},
    )


def cli_env(settings, data_dir: Path) -> dict[str, str]:
    """The command runs against the session's database, with its own data directory (its own store)."""
    return {
        "WEBLAB_DATA_DIR": str(data_dir),
        "WEBLAB_DATABASE_URL": settings.database_url,
        "WEBLAB_REDIS_URL": settings.redis_url,
        "WEBLAB_BASE_URI": settings.base_uri,
    }


async def test_weblab_import_reports_imported_then_unchanged(
    settings, make_user, cellml_dir: Path, tmp_path: Path
):
    owner, _ = await make_user("cli")
    folder = tmp_path / "models"
    names = copy_models(cellml_dir, folder, sorted(p.name for p in cellml_dir.glob("*.cellml"))[-3:])
    env = cli_env(settings, tmp_path / "data")
    first = run_weblab(["import", str(folder), "--owner", owner.name], env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().splitlines()[-1] == f"{len(names)} imported, 0 unchanged, 0 failed"
    second = run_weblab(["import", str(folder), "--owner", owner.name], env)
    assert second.stdout.strip().splitlines()[-1] == f"0 imported, {len(names)} unchanged, 0 failed"
    unknown = run_weblab(["import", str(folder), "--owner", "nobody-at-all"], env)
    assert unknown.returncode != 0 and "nobody-at-all" in unknown.stderr


@pytest.mark.slow
async def test_weblab_import_of_the_whole_corpus(settings, make_user, cellml_dir: Path, tmp_path: Path):
    owner, _ = await make_user("cli")
    count = len(list(cellml_dir.glob("*.cellml")))
    env = cli_env(settings, tmp_path / "data")
    first = run_weblab(["import", str(cellml_dir), "--owner", owner.name], env)
    assert first.stdout.strip().splitlines()[-1] == f"{count} imported, 0 unchanged, 0 failed", first.stderr
    second = run_weblab(["import", str(cellml_dir), "--owner", owner.name], env)
    assert second.stdout.strip().splitlines()[-1] == f"0 imported, {count} unchanged, 0 failed", second.stderr


def test_the_import_command_is_part_of_weblab():
    result = subprocess.run(
        [sys.executable, "-m", "web.cli", "import", "--help"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr
    for option in ("--owner", "--kind", "--visibility"):
        assert option in result.stdout


async def test_import_demo_reads_the_corpus_layout_as_the_weblab_user(
    services, entities: Entities, cellml_dir: Path, shared_data: Path, tmp_path: Path
):
    from resolvers.importer import DEMO_OWNER, import_demo

    corpus = tmp_path / "corpus"
    copy_models(cellml_dir, corpus / "cellml", ["noble_model_1962.cellml"])
    copy_models(
        shared_data / "fc" / "protocols" / "real", corpus / "fc" / "protocols" / "real", ["GraphState.txt"]
    )
    first = await import_demo(services, corpus)
    assert (first.imported, first.failed) == (2, [])
    again = await import_demo(services, corpus)
    assert (again.imported, again.unchanged) == (0, 2)
    model = entities.find_entity(Kind.MODEL, DEMO_OWNER, "noble_model_1962")
    protocol = entities.find_entity(Kind.PROTOCOL, DEMO_OWNER, "GraphState")
    assert model is not None and protocol is not None
    _, _, versions = await entities.get_entity(None, protocol.uri)
    assert [v.visibility for v in versions] == [Visibility.PUBLIC]
    assert (await import_demo(services, tmp_path / "nothing-here")).imported == 0
