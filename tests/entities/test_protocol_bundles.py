"""Importing a protocol brings the protocols it imports or nests, so its interface can be read."""

from __future__ import annotations

from pathlib import Path

from resolvers.describe import describe_version
from resolvers.importer import gather
from resolvers.metadata import Kind


def test_a_nested_protocol_is_bundled_transitively(shared_data: Path) -> None:
    uploads = gather(Kind.PROTOCOL, shared_data / "fc" / "protocols" / "real" / "IKr_block.txt")
    names = [u.name for u in uploads]
    # IKr_block nests SteadyStateRunner, which nests SinglePace; the standard libraries stay out.
    assert names == ["IKr_block.txt", "SteadyStateRunner.txt", "SinglePace.txt"]


def test_the_bundled_protocol_has_an_interface(shared_data: Path) -> None:
    uploads = gather(Kind.PROTOCOL, shared_data / "fc" / "protocols" / "real" / "SteadyStateRunner.txt")
    description = describe_version(
        "protocol",
        {u.name: u.data for u in uploads},
        "SteadyStateRunner.txt",
        "http://localhost:8000/protocols/p/versions/v",
    )
    assert description.warnings == []
    required = {
        str(t.object.value) for t in description.triples if t.predicate.value.endswith("#requiresTerm")
    }
    assert "https://chaste.comlab.ox.ac.uk/cellml/ns/oxford-metadata#membrane_voltage" in required
