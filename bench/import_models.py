"""Benchmark: bulk import of the 62 CellML models in ../shared/data/cellml on the embedded default.

Starts the platform's services on a fresh temporary data directory (embedded
PostgreSQL and Redis unless WEBLAB_DATABASE_URL / WEBLAB_REDIS_URL are set;
Oxigraph on disk), imports the models as a fresh user, then imports them again
(which must add nothing), and prints the time and models per second of each.
Target: the first import under 15 s on a 2-core machine.

    .venv/bin/python bench/import_models.py [PATH]
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from resolvers import accounts
from resolvers.entities import Entities
from resolvers.importer import import_paths
from resolvers.metadata import list_entities
from resolvers.permissions import visible_graphs
from resolvers.settings import Settings
from web.services import start_services

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = Path(os.environ.get("WEBLAB_SHARED_DATA", ROOT.parent / "shared" / "data")) / "cellml"


async def reads(services, entities: Entities, owner) -> None:  # noqa: ANN001
    """How long the readers' hot paths take on the imported corpus: visible_graphs and an entity page."""
    for label, caller in (("anonymous", None), ("owner", owner)):
        t0 = time.perf_counter()
        for _ in range(20):
            graphs = await visible_graphs(services, caller)
        print(
            f"visible_graphs ({label}): {len(graphs)} graphs in {(time.perf_counter() - t0) / 20 * 1000:.1f} ms"
        )
    uris = [e.uri for e in list_entities(entities.ox, entities.base_uri)]
    t0 = time.perf_counter()
    for uri in uris:
        await entities.entity_page(None, uri)
    print(
        f"entity page (metadata + versions + files): {(time.perf_counter() - t0) / len(uris) * 1000:.1f} ms each"
    )


async def main(folder: Path) -> int:
    with tempfile.TemporaryDirectory(prefix="weblab-bench-") as tmp:
        settings = Settings(data_dir=Path(tmp), import_demo=False)
        started = time.perf_counter()
        services = await start_services(settings)
        print(
            f"services started in {time.perf_counter() - started:.2f} s "
            f"({'embedded' if settings.embedded else 'external'} PostgreSQL/Redis, Oxigraph on disk)"
        )
        try:
            owner = await accounts.create_user(services.db, "bench", "bench@example.org", "bench password")
            entities = Entities.from_services(services)
            count = len([p for p in folder.iterdir() if p.suffix == ".cellml"])
            for label in ("first import", "second import"):
                t0, c0 = time.perf_counter(), time.process_time()
                summary = await import_paths(entities, owner, [folder], progress=False)
                elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
                print(
                    f"{label}: {summary} in {elapsed:.2f} s = {count / elapsed:.1f} models/s "
                    f"({cpu:.2f} s CPU in this process; wall time grows with the machine's load)"
                )
                for path, reason in summary.failed:
                    print(f"  failed: {path}: {reason}")
            await reads(services, entities, owner)
        finally:
            await services.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT)))
