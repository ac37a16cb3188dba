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
from web.services import start_services
from web.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = Path(os.environ.get("WEBLAB_SHARED_DATA", ROOT.parent / "shared" / "data")) / "cellml"


async def main(folder: Path) -> int:
    with tempfile.TemporaryDirectory(prefix="weblab-bench-") as tmp:
        settings = Settings(data_dir=Path(tmp), import_demo=False)
        started = time.perf_counter()
        services = await start_services(settings)
        print(f"services started in {time.perf_counter() - started:.2f} s "
              f"({'embedded' if settings.embedded else 'external'} PostgreSQL/Redis, Oxigraph on disk)")
        try:
            owner = await accounts.create_user(services.db, "bench", "bench@example.org", "bench password")
            entities = Entities.from_services(services)
            count = len([p for p in folder.iterdir() if p.suffix == ".cellml"])
            for label in ("first import", "second import"):
                t0 = time.perf_counter()
                summary = await import_paths(entities, owner, [folder], progress=False)
                elapsed = time.perf_counter() - t0
                print(f"{label}: {summary} in {elapsed:.2f} s = {count / elapsed:.1f} models/s")
                for path, reason in summary.failed:
                    print(f"  failed: {path}: {reason}")
        finally:
            await services.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT)))
