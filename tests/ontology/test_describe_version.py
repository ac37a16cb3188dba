"""resolvers.describe: what the add-version flow stores about a version's content."""

from __future__ import annotations

import pytest
from annotation_corpus import BASE, DATA, sha

from ontology import vocab as v
from resolvers.describe import describe_protocol, describe_version

VERSION = f"{BASE}models/m/versions/{sha(1)}"


def _warnings_in(triples) -> list[str]:
    return [t.object.value for t in triples if t.predicate == v.WARNING]


def test_model_with_malformed_rdf_is_described_with_a_warning() -> None:
    data = (DATA / "fc" / "models" / "real" / "Shannon2004.cellml").read_bytes()
    # break the block nested in the variable 'time' (two node elements in one property element)
    broken = data.replace(
        b'<bqbiol:is rdf:resource="https://chaste.comlab.ox.ac.uk/cellml/ns/oxford-metadata#time"/>',
        b"<bqbiol:is><rdf:Description/><rdf:Description/></bqbiol:is>",
        1,
    )
    assert broken != data
    desc = describe_version("model", {"s.cellml": broken}, "s.cellml", VERSION)
    assert len(desc.warnings) == 1 and "environment.time" in desc.warnings[0]
    assert _warnings_in(desc.triples) == desc.warnings
    terms = {t.object.value for t in desc.triples if t.predicate == v.ANNOTATED_WITH}
    assert v.OXMETA + "membrane_voltage" in terms and v.OXMETA + "time" not in terms


def test_missing_main_file_is_a_warning_not_a_crash() -> None:
    desc = describe_version("model", {"a.cellml": b"<model/>"}, "b.cellml", VERSION)
    assert desc.warnings and "b.cellml" in desc.warnings[0]


def test_datasets_describe_nothing() -> None:
    assert describe_version("dataset", {"d.csv": b"a,b\n"}, "d.csv", VERSION).triples == []


def test_protocol_unknown_terms_are_kept_and_warned() -> None:
    uri = f"{BASE}protocols/p/versions/{sha(2)}"
    iface = {"required_terms": [v.OXMETA + "time", "urn:temp-names#membrane_total_sodium_current"]}
    desc = describe_protocol({"p.txt": b""}, "p.txt", uri, interface=iface)
    assert len(desc.warnings) == 1 and "urn:temp-names#membrane_total_sodium_current" in desc.warnings[0]
    required = {t.object.value for t in desc.triples if t.predicate == v.REQUIRES_TERM}
    assert required == set(iface["required_terms"])


def test_real_protocol_interface_comes_from_the_engine() -> None:
    folder = DATA / "fc" / "protocols" / "real"
    files = {p.name: p.read_bytes() for p in folder.glob("*.txt")}
    uri = f"{BASE}protocols/ical/versions/{sha(3)}"
    desc = describe_version("protocol", files, "ICaL.txt", uri)
    assert desc.warnings == []
    required = {t.object.value for t in desc.triples if t.predicate == v.REQUIRES_TERM}
    # ICaL.txt's model interface: outputs membrane_L_type_calcium_current and time, clamps extracellular Ca
    assert {
        v.OXMETA + "membrane_L_type_calcium_current",
        v.OXMETA + "time",
        v.OXMETA + "extracellular_calcium_concentration",
    } <= required


def test_a_protocol_that_does_not_parse_is_refused_naming_its_own_file() -> None:
    from resolvers.describe import ProtocolSyntaxError

    uri = f"{BASE}protocols/bad/versions/{sha(4)}"
    with pytest.raises(ProtocolSyntaxError) as refused:
        describe_version("protocol", {"bad.txt": b"tasks { this is not a protocol"}, "bad.txt", uri)
    assert refused.value.field == "bad.txt" and "weblab-describe" not in refused.value.message
    assert (refused.value.line, refused.value.column) == (1, 9) and refused.value.expected


def test_unloadable_protocol_is_stored_with_a_warning_naming_its_own_file() -> None:
    uri = f"{BASE}protocols/bad/versions/{sha(4)}"
    desc = describe_version("protocol", {"bad.txt": b'import "missing.txt"\n'}, "bad.txt", uri)
    assert len(desc.warnings) == 1
    assert "bad.txt" in desc.warnings[0] and "weblab-describe" not in desc.warnings[0]
    assert [t.object for t in desc.triples if t.predicate == v.REQUIRES_TERM] == [v.READABLE_INTERFACE]


def test_redescribe_replaces_only_the_description(store) -> None:
    import pyoxigraph as ox
    from annotation_corpus import version_metadata

    from resolvers.describe import redescribe_version

    good = (DATA / "fc" / "models" / "real" / "Shannon2004.cellml").read_bytes()
    broken = good.replace(
        b'<bqbiol:is rdf:resource="https://chaste.comlab.ox.ac.uk/cellml/ns/oxford-metadata#time"/>',
        b"<bqbiol:is><rdf:Description/><rdf:Description/></bqbiol:is>",
        1,
    )
    meta = version_metadata("model", f"{BASE}models/m", VERSION)
    first = describe_version("model", {"s.cellml": broken}, "s.cellml", VERSION)
    store.replace_graph(ox.NamedNode(VERSION), meta + first.triples)

    again = redescribe_version(store, "model", {"s.cellml": good}, "s.cellml", VERSION)
    assert again.warnings == []
    stored = set(store.triples(ox.NamedNode(VERSION)))
    expected = ox.NamedNode("urn:test:expected")  # written through the store too: it normalises literals
    store.replace_graph(expected, meta + again.triples)
    assert stored == set(store.triples(expected))
    assert not [t for t in stored if t.predicate == v.WARNING]
    assert ox.Triple(ox.NamedNode(VERSION), v.ANNOTATED_WITH, v.oxmeta("time")) in stored
