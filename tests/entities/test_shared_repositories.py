"""Two web servers sharing the repositories (``WEBLAB_FILES_DIR``) add versions to one entity at once: every
version reported added is in the entity's history, and none is lost to the other server's write."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime
from pathlib import Path

from resolvers.errors import Conflict
from resolvers.repositories import Repositories

ROUNDS = 40


def _server(root: str, name: str, start: multiprocessing.synchronize.Event) -> list[str]:
    """What one server does: read main, commit on it, advance main; a Conflict means "try again"."""
    repo = Repositories(Path(root)).open("models", "shared")
    added: list[str] = []
    start.wait()
    for i in range(ROUNDS):
        while True:
            head = repo.head()
            tree = repo.write_tree({"model.cellml": f"{name} {i}".encode()})
            sha = repo.write_commit(tree, f"{name} {i}", name, f"{name}@example.org", datetime.now(UTC), head)
            try:
                repo.advance(sha, head)
            except Conflict:
                continue
            added.append(sha)
            break
    return added


def _run(root: str, name: str, start: multiprocessing.synchronize.Event, out: multiprocessing.Queue) -> None:
    out.put(_server(root, name, start))


def test_two_processes_adding_versions_to_one_entity_lose_none(tmp_path: Path) -> None:
    Repositories(tmp_path).create("models", "shared")
    context = multiprocessing.get_context("spawn")
    start, out = context.Event(), context.Queue()
    servers = [context.Process(target=_run, args=(str(tmp_path), n, start, out)) for n in ("one", "two")]
    for server in servers:
        server.start()
    start.set()
    added = [sha for _ in servers for sha in out.get(timeout=60)]
    for server in servers:
        server.join(30)
        assert server.exitcode == 0
    repo = Repositories(tmp_path).open("models", "shared")
    history = []
    commit = repo.repo.get(repo.head())
    while commit is not None:
        history.append(str(commit.id))
        commit = commit.parents[0] if commit.parents else None
    assert len(added) == 2 * ROUNDS
    assert sorted(history) == sorted(added)  # each one reported added is there, in one line of history
