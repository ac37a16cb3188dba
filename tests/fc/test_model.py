"""Loading CellML models and finding their variables by ontology term (worker/fc/model.py)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import myokit
import myokit.formats
import pytest

from tests.conftest import SHARED_DATA
from worker.fc.model import ModelError, load_model
from worker.fc.ontology import OXMETA, STATE_VARIABLE

ROOT = Path(__file__).resolve().parents[2]
DATA = SHARED_DATA
REAL_MODELS = sorted((DATA / "fc" / "models" / "real").glob("*.cellml"))

RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
BQBIOL = "{http://biomodels.net/biology-qualifiers/}"


def annotated_terms(path: Path) -> set[str]:
    """Every term a file annotates with bqbiol:is / isVersionOf on a '#id' subject, read with plain ElementTree."""
    terms = set()
    ids = {el.get("{http://www.cellml.org/metadata/1.0#}id") for el in ET.parse(path).iter()}
    for description in ET.parse(path).iter(f"{RDF}Description"):
        about = description.get(f"{RDF}about", "")
        if not about.startswith("#") or about[1:] not in ids:
            continue
        for child in description:
            if child.tag in (f"{BQBIOL}is", f"{BQBIOL}isVersionOf") and child.get(f"{RDF}resource"):
                terms.add(child.get(f"{RDF}resource"))
    return terms


@pytest.mark.parametrize("path", REAL_MODELS, ids=lambda p: p.stem)
# myokit warns of a model whose units are misspelt ("arbitary": iribe_model_2006_without_otherwise_section)
@pytest.mark.filterwarnings("ignore:Unable to parse definition for units:UserWarning")
def test_every_annotation_in_the_file_is_found(path: Path) -> None:
    model = load_model(path)
    assert model.used_terms() - {STATE_VARIABLE} == annotated_terms(path)
    for term in model.annotations:
        for qname in model.qnames_for(term):
            assert model.model.has_variable(qname)


def test_ohara_rudy_terms_point_at_the_right_variables() -> None:
    # Checked by hand against ohara_rudy_2011_epi.cellml: the cmeta:ids sit on these variables.
    model = load_model(DATA / "fc" / "models" / "real" / "ohara_rudy_2011_epi.cellml")
    expected = {
        "time": "environment.time",
        "membrane_voltage": "membrane.v",
        "membrane_stimulus_current": "membrane.Istim",
        "membrane_stimulus_current_amplitude": "membrane.i_Stim_Amplitude",
        "membrane_stimulus_current_period": "membrane.i_Stim_Period",
        "cytosolic_calcium_concentration": "intracellular_ions.cai",
        "membrane_rapid_delayed_rectifier_potassium_current_conductance": "IKr.GKr_b",
    }
    for term, qname in expected.items():
        assert model.qnames_for(OXMETA + term) == [qname]
    voltage = model.variable(OXMETA + "membrane_voltage")
    assert voltage is not None and voltage.is_state()
    assert voltage.unit() == myokit.units.mV


def test_annotations_nested_inside_variables_are_found_where_myokits_importer_finds_none() -> None:
    path = DATA / "fc" / "models" / "real" / "Shannon2004.cellml"
    plain = myokit.formats.importer("cellml").model(str(path))
    assert not any("oxmeta" in v.meta for v in plain.variables(deep=True))
    model = load_model(path)
    assert model.qnames_for(OXMETA + "membrane_stimulus_current") == ["cell.i_Stim"]
    assert model.qnames_for(OXMETA + "membrane_voltage") == ["cell.V"]


def test_category_terms_expand_to_their_members() -> None:
    model = load_model(DATA / "fc" / "models" / "real" / "ohara_rudy_2011_epi.cellml")
    members = model.qnames_for(OXMETA + "ExtracellularConcentration")
    assert set(members) == {"extracellular.cao", "extracellular.ko", "extracellular.nao"}
    assert model.has_term(OXMETA + "ExtracellularConcentration")
    assert not model.has_term(OXMETA + "no_such_term")


def test_state_variable_is_every_state() -> None:
    model = load_model(DATA / "fc" / "models" / "real" / "luo_rudy_1991.cellml")
    states = [v.qname() for v in model.model.states()]
    assert model.qnames_for(STATE_VARIABLE) == states
    assert len(states) == 8


def test_unreadable_files_say_what_and_where(tmp_path: Path) -> None:
    broken = tmp_path / "broken.cellml"
    broken.write_text("<model><component")
    with pytest.raises(ModelError, match="broken.cellml: not well-formed XML"):
        load_model(broken)
    other = tmp_path / "other.cellml"
    other.write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    with pytest.raises(ModelError, match="not a CellML document"):
        load_model(other)
    with pytest.raises(ModelError, match="cannot read"):
        load_model(tmp_path / "missing.cellml")


def test_entities_are_never_expanded(tmp_path: Path) -> None:
    evil = tmp_path / "evil.cellml"
    evil.write_text(
        '<?xml version="1.0"?><!DOCTYPE model [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<model xmlns="http://www.cellml.org/cellml/1.0#" name="m&x;"/>'
    )
    with pytest.raises(ModelError):
        load_model(evil)
