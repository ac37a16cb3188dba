"""One rule for the ontology terms a protocol requires: the compatibility listing and the run agree.

The compatibility analysis (``Protocol.model_terms``, behind ``interface()`` and
``missing_terms``) decides which models the platform lists for a protocol; the
run decides whether a run is inapplicable (``interface.prepare``). They used to
be two rules that disagreed (``clamp T to e``: optional for the listing,
required for the run). These tests observe the run from outside, on every
protocol of the corpus:

* a model with *no* annotations is reported inapplicable by the run with exactly
  the required terms of the compatibility analysis, and by ``missing_terms`` too;
* a model annotated with *exactly* the required terms (so lacking every optional
  one) is never reported inapplicable by the run.
"""

from __future__ import annotations

from pathlib import Path

import myokit
import numpy as np
import pytest

from tests.conftest import SHARED_DATA
from worker.fc import InapplicableError, Protocol, load_protocol
from worker.fc.interface import prepare
from worker.fc.model import AnnotatedModel, load_model
from worker.fc.ontology import OXMETA, STATE_VARIABLE

ROOT = Path(__file__).resolve().parents[2]
DATA = SHARED_DATA
FC = DATA / "fc"
PROTOCOLS = FC / "protocols"
SIMPLE_ODE = FC / "models" / "simple_ode.cellml"

# Everything in the corpus except the protocol that exists to name a missing import.
CORPUS = sorted(
    p.relative_to(PROTOCOLS).as_posix()
    for p in [*PROTOCOLS.glob("real/*.txt"), *PROTOCOLS.glob("test_*.txt"), *PROTOCOLS.glob("library/*.txt")]
    if p.name != "test_non_existent_library.txt"
)

# A model with a time variable, one state and no annotations at all.
BARE_CELLML = """<?xml version="1.0"?>
<model xmlns="http://www.cellml.org/cellml/1.0#" xmlns:cellml="http://www.cellml.org/cellml/1.0#" name="bare">
  <units name="ms"><unit prefix="milli" units="second"/></units>
  <units name="per_ms"><unit units="ms" exponent="-1"/></units>
  <component name="c">
    <variable name="time" units="ms"/>
    <variable name="x" units="dimensionless" initial_value="1"/>
    <math xmlns="http://www.w3.org/1998/Math/MathML">
      <apply><eq/>
        <apply><diff/><bvar><ci>time</ci></bvar><ci>x</ci></apply>
        <apply><times/><cn cellml:units="per_ms">-1</cn><ci>x</ci></apply>
      </apply>
    </math>
  </component>
</model>
"""


def _load(relative: str) -> Protocol:
    """A corpus protocol; the two that read data files from a folder the corpus lacks are given stand-ins."""
    path = PROTOCOLS / relative
    if relative == "real/timecourse_voltage_clamp.txt":  # load("../../input/...") as an input default
        return load_protocol(path, {"clamp_data": [[0.0, 1.0], [-80.0, -80.0]]})
    if relative == "test_model_interpolation.txt":  # interpolate("../input/...") in the model interface
        return load_protocol(path, root=FC)
    return load_protocol(path)


@pytest.fixture(scope="module")
def bare_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bare") / "bare.cellml"
    path.write_text(BARE_CELLML)
    return path


def _annotated_with(bare: Path, terms: list[str]) -> AnnotatedModel:
    """The bare model with one constant per term (time for ``oxmeta:time``), annotated with it."""
    source = load_model(bare)
    model = source.model.clone()
    component = model.get("c")
    annotations: dict[str, list[str]] = {}
    for i, term in enumerate(terms):
        if term == OXMETA + "time":
            annotations[term] = ["c.time"]
            continue
        var = component.add_variable(f"term_{i}")
        var.set_rhs(myokit.Number(1))
        annotations[term] = [var.qname()]
    terms_of = {q: [t] for t, qs in annotations.items() for q in qs}
    return AnnotatedModel(bare, model, f"terms-{len(terms)}", annotations, terms_of)


def _run_time_missing(model: AnnotatedModel | Path, protocol: Protocol) -> list[str] | None:
    """The terms the run reports missing (None when the run does not call the model inapplicable)."""
    try:
        prepare(model, protocol.interface_parts())
    except InapplicableError as exc:
        return list(exc.missing_terms)
    except Exception:  # noqa: BLE001 - any other failure of the bare model is not inapplicability
        return None
    return None


@pytest.mark.parametrize("relative", CORPUS)
def test_run_and_compatibility_require_the_same_terms(relative: str, bare_model: Path) -> None:
    protocol = _load(relative)
    required, optional = protocol.model_terms()
    assert not set(required) & set(optional)
    needed = [t for t in required if t != STATE_VARIABLE]

    # Nothing annotated: the run names exactly the required terms, and so does the listing.
    assert _run_time_missing(bare_model, protocol) == (needed or None)
    assert protocol.missing_terms(bare_model) == needed

    # Exactly the required terms annotated, every optional one missing: never inapplicable.
    assert _run_time_missing(_annotated_with(bare_model, needed), protocol) is None


def test_corpus_has_the_web_labs_standard_protocols() -> None:
    real = [p for p in CORPUS if p.startswith("real/") and p != "real/S1S2_postproc.txt"]
    assert len(real) == 30


CLAMP_TO = """
namespace oxmeta = "https://chaste.comlab.ox.ac.uk/cellml/ns/oxford-metadata#"

units {
    ms = milli second
    mM = milli mole . litre^-1
}

model interface {
    output oxmeta:time units ms
    output oxmeta:extracellular_potassium_concentration units mM
    clamp oxmeta:extracellular_potassium_concentration to 5.4 :: mM
}

tasks {
    simulation sim = timecourse {
        range t units ms uniform 0:2
    }
}

outputs {
    Ko = sim:extracellular_potassium_concentration
}
"""


def test_clamp_to_a_value_makes_the_term_optional_and_the_run_creates_it(tmp_path: Path) -> None:
    # ``clamp T to e`` is ``define T = e`` (as weblab-fc parses it): a model without T is
    # listed as compatible, and running on it gives T the clamped value.
    ko = OXMETA + "extracellular_potassium_concentration"
    assert ko not in SIMPLE_ODE.read_text()
    path = tmp_path / "clamp_to.txt"
    path.write_text(CLAMP_TO)
    protocol = load_protocol(path)

    interface = protocol.interface()
    assert ko in interface.optional_terms and ko not in interface.required_terms
    assert protocol.missing_terms(SIMPLE_ODE) == []

    result = protocol.run(SIMPLE_ODE, tmp_path / "out")
    assert result.status == "success", result.messages
    np.testing.assert_allclose(result.outputs["Ko"], [5.4, 5.4, 5.4])


def test_clamp_to_the_initial_value_requires_the_term(tmp_path: Path) -> None:
    # Plain ``clamp T`` has no equation to create T from: T is required, and the run agrees.
    ko = OXMETA + "extracellular_potassium_concentration"
    path = tmp_path / "clamp.txt"
    path.write_text(CLAMP_TO.replace(" to 5.4 :: mM", ""))
    protocol = load_protocol(path)
    assert ko in protocol.interface().required_terms
    assert protocol.missing_terms(SIMPLE_ODE) == [ko]
    result = protocol.run(SIMPLE_ODE)
    assert result.status == "inapplicable"
    assert result.missing_terms == [ko]
