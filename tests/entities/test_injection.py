"""User-supplied values are data: names, messages and CellML identifiers full of SPARQL syntax round-trip intact."""

from __future__ import annotations

import pytest

from resolvers.entities import Entities
from resolvers.metadata import Kind
from resolvers.uploads import Upload

NASTY = [
    "quote \" and ' } ; DROP ALL ; #",
    '"} } DROP GRAPH <http://localhost:8000/models/x> ; INSERT DATA { <a> <b> <c> } #',
    "line one\nline two } ;\n# comment\n}}}",
    '<http://evil.example/> \\u0022 \\" ?x $y',
]


@pytest.mark.parametrize("nasty", NASTY)
async def test_nasty_names_and_messages_round_trip(entities: Entities, make_user, nasty: str):
    owner, _ = await make_user("nasty")
    graphs_before = set(entities.ox.named_graphs())
    identifier = (
        nasty.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;").replace("\n", "&#10;")
    )
    cellml = (
        f'<model name="m" xmlns="http://www.cellml.org/cellml/1.0#" '
        f'xmlns:cmeta="http://www.cellml.org/metadata/1.0#" cmeta:id="{identifier}">'
        f'<component name="c"><variable name="V" units="dimensionless" cmeta:id="{identifier}"/></component>'
        f"</model>"
    ).encode()
    entity, version = await entities.publish(
        owner, Kind.MODEL, nasty, [Upload("m.cellml", cellml)], message=nasty
    )

    assert entity.name == nasty.strip()
    found = entities.find_entity(Kind.MODEL, owner.name, nasty.strip())
    assert found is not None and found.uri == entity.uri
    _, _, versions = await entities.get_entity(owner, entity.uri)
    assert [v.message for v in versions] == [nasty]
    # Nothing was dropped or added besides this entity's two graphs.
    graphs_after = set(entities.ox.named_graphs())
    assert graphs_before <= graphs_after
    assert {g.value for g in graphs_after - graphs_before} == {entity.uri, version.uri}
