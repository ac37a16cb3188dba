"""Reading every annotation of a CellML file: the real corpus, hand-checked spot checks, and bad files."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import myokit.formats
import pytest
from annotation_corpus import DATA, corpus_models

from ontology import vocab as v
from ontology.cellml import annotation_triples, read_annotations, variable_uri

OX = v.OXMETA
# An independent reading of the same files, by text pattern rather than XML + RDF parsing: every
# rdf:Description about "#id" and the biology qualifiers (is / isVersionOf, whatever their prefix) in it.
_DESCRIPTION = re.compile(r'<rdf:Description\b[^>]*?rdf:about="#([^"]+)"[^>]*>(.*?)</rdf:Description>', re.S)
_QUALIFIER = re.compile(r'<[\w.-]+:(?:is|isVersionOf)\b[^>]*?rdf:resource="([^"]+)"')


def _by_pattern(text: str) -> set[tuple[str, str]]:
    return {
        (m.group(1), term) for m in _DESCRIPTION.finditer(text) for term in _QUALIFIER.findall(m.group(2))
    }


@pytest.mark.parametrize("path", corpus_models(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_corpus_model_yields_its_annotated_variables(path: Path) -> None:
    text = path.read_text()
    ann = read_annotations(path.read_bytes(), source=path.name)
    annotated = [var for var in ann.variables if var.annotations]
    assert annotated, "no annotated variables found"
    assert ann.warnings == []
    found = {
        (var.cmeta_id, a.term)
        for var in annotated
        for a in var.annotations
        if not a.predicate.endswith("#type")
    }
    assert found == _by_pattern(text)
    # The states are those myokit finds (an independent CellML reader), by component and name.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = myokit.formats.importer("cellml").model(str(path))
    assert {(var.component, var.name) for var in ann.variables if var.is_state} == {
        (s.parent().name(), s.name()) for s in model.states()
    }
    assert all(OX + "state_variable" in var.terms() for var in ann.variables if var.is_state)


def _var(ann, component: str, name: str):
    matches = [x for x in ann.variables if (x.component, x.name) == (component, name)]
    assert len(matches) == 1, f"{component}.{name} not found once"
    return matches[0]


def test_ohara_rudy_2011_epi_spot_checks() -> None:
    """Values read by hand from ../shared/data/cellml/ohara_rudy_2011_epi.cellml (model-level rdf:RDF block)."""
    data = (DATA / "cellml" / "ohara_rudy_2011_epi.cellml").read_bytes()
    ann = read_annotations(data)
    assert ann.cellml_version == "1.0"
    v_m = _var(ann, "membrane", "v")  # line 200, annotated at line 7616
    assert (v_m.units, v_m.initial_value, v_m.is_state) == ("millivolt", "-87", True)
    assert v_m.terms() == {OX + "membrane_voltage", OX + "state_variable"}
    time = _var(ann, "environment", "time")
    assert (time.units, time.initial_value, time.is_state) == ("millisecond", None, False)
    assert time.terms() == {OX + "time"}
    ko = _var(ann, "extracellular", "ko")
    assert (ko.units, ko.initial_value, ko.is_state) == ("millimolar", "5.4", False)
    assert ko.terms() == {OX + "extracellular_potassium_concentration"}
    gna = _var(ann, "INa", "GNa")
    assert (gna.units, gna.initial_value) == ("milliS_per_microF", "75")
    assert gna.terms() == {OX + "membrane_fast_sodium_current_conductance"}
    cai = _var(ann, "intracellular_ions", "cai")
    assert (cai.initial_value, cai.is_state) == ("1e-4", True)
    assert OX + "cytosolic_calcium_concentration" in cai.terms()
    # the cmeta:id is not the term's name here: the annotation, not the id, decides
    end = _var(ann, "membrane", "i_Stim_End")
    assert end.cmeta_id == "membrane_i_Stim_End"
    assert end.terms() == {OX + "membrane_stimulus_current_end"}
    assert _var(ann, "intracellular_ions", "Bcai").terms() == {
        OX + "cytosolic_calcium_flux_scaling_from_intrinsic_buffers"
    }
    assert len([x for x in ann.variables if x.annotations]) == 64  # 64 <bqbiol:is> in the file
    assert sum(x.is_state for x in ann.variables) == 41  # 41 <diff/> in the file


def test_annotations_nested_in_variables_are_read() -> None:
    """Shannon2004 (fc/models/real) puts an rdf:RDF block inside each annotated <variable>."""
    ann = read_annotations((DATA / "fc" / "models" / "real" / "Shannon2004.cellml").read_bytes())
    time = _var(ann, "environment", "time")
    assert time.terms() == {OX + "time"}
    assert OX + "membrane_voltage" in _var(ann, "cell", "V").terms()


CELLML = "http://www.cellml.org/cellml/1.0#"
HEAD = (
    f'<model xmlns="{CELLML}" name="m" xmlns:cmeta="http://www.cellml.org/metadata/1.0#" '
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:bqbiol="http://biomodels.net/biology-qualifiers/">'
)
MATH = (
    '<math xmlns="http://www.w3.org/1998/Math/MathML"><apply><eq/><apply><diff/><bvar><ci>t</ci></bvar>'
    '<ci>x</ci></apply><cn cellml:units="per_ms" xmlns:cellml="' + CELLML + '">1</cn></apply></math>'
)


def _doc(rdf: str, variables: str = "") -> bytes:
    return (
        HEAD + '<component name="c"><variable name="t" units="ms" cmeta:id="t"/>'
        '<variable name="x" units="mV" initial_value="1.5" cmeta:id="x"/>'
        '<variable name="y" units="mV" cmeta:id="y"/>' + variables + MATH + "</component>" + rdf + "</model>"
    ).encode()


def test_all_annotation_forms_and_unknown_namespaces_are_kept() -> None:
    rdf = (
        '<rdf:RDF><rdf:Description rdf:about="#t"><bqbiol:is rdf:resource="'
        + OX
        + 'time"/></rdf:Description>'
        '<rdf:Description rdf:about="#x"><bqbiol:isVersionOf rdf:resource="' + OX + 'membrane_voltage"/>'
        '<bqbiol:is rdf:resource="http://example.org/my-terms#voltage"/></rdf:Description>'
        '<rdf:Description rdf:about="#y"><rdf:type rdf:resource="urn:lab:reversal_potential"/></rdf:Description>'
        "</rdf:RDF>"
    )
    ann = read_annotations(_doc(rdf))
    assert ann.warnings == []
    assert _var(ann, "c", "t").terms() == {OX + "time"}
    x = _var(ann, "c", "x")
    assert x.is_state
    assert x.terms() == {
        OX + "membrane_voltage",
        "http://example.org/my-terms#voltage",
        OX + "state_variable",
    }
    assert _var(ann, "c", "y").terms() == {"urn:lab:reversal_potential"}


def test_malformed_rdf_keeps_readable_blocks_and_warns() -> None:
    good = (
        '<rdf:RDF><rdf:Description rdf:about="#t"><bqbiol:is rdf:resource="'
        + OX
        + 'time"/></rdf:Description></rdf:RDF>'
    )
    # a property element holding two node elements is not RDF/XML
    broken = (
        '<rdf:RDF><rdf:Description rdf:about="#y"><bqbiol:is><rdf:Description/><rdf:Description/>'
        "</bqbiol:is></rdf:Description></rdf:RDF>"
    )
    ann = read_annotations(_doc(good + broken), source="broken.cellml")
    assert _var(ann, "c", "t").terms() == {OX + "time"}
    assert len(ann.warnings) == 1
    assert "broken.cellml" in ann.warnings[0] and "RDF block 2" in ann.warnings[0]


def test_broken_block_inside_a_variable_is_located() -> None:
    nested = (
        '<variable name="z" units="mV" cmeta:id="z"><rdf:RDF><rdf:Description rdf:about="#z">'
        "<bqbiol:is><rdf:Description/><rdf:Description/></bqbiol:is></rdf:Description></rdf:RDF></variable>"
    )
    ann = read_annotations(_doc("", nested))
    assert len(ann.warnings) == 1 and "inside variable c.z" in ann.warnings[0]


def test_annotation_of_a_missing_cmeta_id_is_reported() -> None:
    rdf = (
        '<rdf:RDF><rdf:Description rdf:about="#nobody"><bqbiol:is rdf:resource="'
        + OX
        + 'time"/></rdf:Description></rdf:RDF>'
    )
    ann = read_annotations(_doc(rdf))
    assert any("nobody" in w for w in ann.warnings)
    assert OX + "time" not in ann.terms()


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"<model><component", "not well-formed"),
        (
            b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><model>&b;</model>',
            "refused",
        ),
        (b'<sbml xmlns="http://www.sbml.org/sbml/level2"/>', "not a CellML"),
    ],
)
def test_unreadable_files_warn_instead_of_crashing(data: bytes, expected: str) -> None:
    ann = read_annotations(data, source="bad.cellml")
    assert ann.variables == []
    assert len(ann.warnings) == 1 and expected in ann.warnings[0] and "bad.cellml" in ann.warnings[0]


def test_cellml_2_uses_plain_id_attributes() -> None:
    doc = (
        '<model xmlns="http://www.cellml.org/cellml/2.0#" name="m" '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:bqbiol="http://biomodels.net/biology-qualifiers/">'
        '<component name="env"><variable name="time" units="ms" interface="public" id="time"/></component>'
        '<rdf:RDF><rdf:Description rdf:about="#time"><bqbiol:is rdf:resource="'
        + OX
        + 'time"/></rdf:Description></rdf:RDF>'
        "</model>"
    ).encode()
    ann = read_annotations(doc)
    assert ann.cellml_version == "2.0"
    assert _var(ann, "env", "time").terms() == {OX + "time"}


def test_triples_describe_variables_terms_and_states() -> None:
    uri = "http://weblab.test/models/m/versions/" + "a" * 40
    ann = read_annotations((DATA / "cellml" / "ohara_rudy_2011_epi.cellml").read_bytes())
    triples = annotation_triples(ann, uri)
    node = variable_uri(uri, "membrane", "v")
    about_v = {(t.predicate.value, t.object.value) for t in triples if t.subject.value == node}
    assert (v.BQBIOL + "is", OX + "membrane_voltage") in about_v
    assert (v.BQBIOL + "isVersionOf", OX + "state_variable") in about_v
    assert (v.WEBLAB + "isStateVariable", "true") in about_v
    assert (v.WEBLAB + "initialValue", "-87") in about_v
    summary = {t.object.value for t in triples if t.subject.value == uri and t.predicate == v.ANNOTATED_WITH}
    assert summary == ann.terms()


def test_initial_value_naming_a_variable_is_kept_as_text_and_conforms() -> None:
    from annotation_corpus import version_metadata

    from ontology.shacl import violations

    doc = (
        '<model xmlns="http://www.cellml.org/cellml/1.1#" name="m" xmlns:cmeta="http://www.cellml.org/metadata/1.0#" '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:bqbiol="http://biomodels.net/biology-qualifiers/">'
        '<component name="c"><variable name="x" units="mV" initial_value="x0" cmeta:id="x"/>'
        '<variable name="y" units="mV" initial_value="nan" cmeta:id="y"/></component>'
        '<rdf:RDF><rdf:Description rdf:about="#x"><bqbiol:is rdf:resource="'
        + OX
        + 'membrane_voltage"/></rdf:Description>'
        '<rdf:Description rdf:about="#y"><bqbiol:is rdf:resource="'
        + OX
        + 'time"/></rdf:Description></rdf:RDF></model>'
    ).encode()
    ann = read_annotations(doc)
    assert ann.cellml_version == "1.1"
    assert _var(ann, "c", "x").initial_value == "x0"
    uri = "http://weblab.test/models/m/versions/" + "c" * 40
    assert (
        violations(
            version_metadata("model", "http://weblab.test/models/m", uri) + annotation_triples(ann, uri)
        )
        == []
    )
