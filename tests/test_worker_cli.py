"""``weblab worker`` on a host of its own: without the server's secret key it refuses to start, rather than
make up a key of its own whose signatures the server refuses on every callback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REDIS_URL, ROOT


def test_a_worker_without_the_servers_secret_key_does_not_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBLAB_")}
    env.update({"WEBLAB_REDIS_URL": REDIS_URL, "WEBLAB_DATA_DIR": str(tmp_path / "worker-host")})
    done = subprocess.run(
        [sys.executable, "-m", "web.cli", "worker"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("weblab: error: weblab worker needs the web server's secret key")
    assert "WEBLAB_SECRET_KEY" in done.stderr
    assert not (tmp_path / "worker-host" / "secret_key").exists()  # no key of its own was made
