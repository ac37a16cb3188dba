"""The engine's oxmeta ontology ships inside ``worker.fc`` (issue #18): an installed worker on another host
expands category terms without the source tree or the shared data."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import ROOT, SHARED_DATA
from worker.fc import model

CURRENTS = "https://chaste.comlab.ox.ac.uk/cellml/ns/oxford-metadata#IonicCurrent"


def test_the_packaged_copy_is_the_platforms_ontology() -> None:
    assert (ROOT / "worker" / "fc" / "oxmeta.ttl").read_bytes() == (ROOT / "ontology" / "oxmeta.ttl").read_bytes(), \
        "worker/fc/oxmeta.ttl drifted from ontology/oxmeta.ttl: copy it again"


def test_a_category_term_expands_from_the_packaged_ontology() -> None:
    members = model.category_members(CURRENTS)
    assert "https://chaste.comlab.ox.ac.uk/cellml/ns/oxford-metadata#membrane_fast_sodium_current" in members
    assert len(members) >= 30


def test_the_wheel_carries_the_ontology(tmp_path: Path) -> None:
    """What an installed worker gets: the built wheel holds the file ``ontology()`` reads."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=300)
    [wheel] = tmp_path.glob("weblab-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        packaged = zf.read("worker/fc/oxmeta.ttl")
    assert packaged == (SHARED_DATA / "ontology" / "oxford-metadata.ttl").read_bytes()
