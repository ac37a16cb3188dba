"""The engine's oxmeta ontology ships inside ``worker.fc`` (issue #18): an installed worker on another host
expands category terms without the source tree or the shared data (``test_installed_ontology.py`` runs
the engine from an installed wheel)."""

from __future__ import annotations

from tests.conftest import ROOT
from worker.fc import ontology

CURRENTS = "https://chaste.comlab.ox.ac.uk/cellml/ns/oxford-metadata#IonicCurrent"


def test_the_packaged_copy_is_the_platforms_ontology() -> None:
    assert (ROOT / "worker" / "fc" / "oxmeta.ttl").read_bytes() == (
        ROOT / "ontology" / "oxmeta.ttl"
    ).read_bytes(), "worker/fc/oxmeta.ttl drifted from ontology/oxmeta.ttl: copy it again"


def test_a_category_term_expands_from_the_packaged_ontology() -> None:
    members = ontology.category_members(CURRENTS)
    assert "https://chaste.comlab.ox.ac.uk/cellml/ns/oxford-metadata#membrane_fast_sodium_current" in members
    assert len(members) >= 30
