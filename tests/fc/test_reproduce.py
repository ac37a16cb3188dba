"""A fast, representative subset of the functional-curation reference results.

Runs real protocols from ``fc/protocols/real`` through the public API on real
models and compares with the published reference outputs at the project's
tolerance (rtol 0.005, atol 2.5e-4). The chosen models reach steady state in
a few paces, so ``max_paces`` = 1000 (the reference setting) costs little.
The whole matrix is ``bench/repro.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SHARED_DATA
from worker.fc import load_protocol
from worker.fc.outputs import read_output

ROOT = Path(__file__).resolve().parents[2]
DATA = SHARED_DATA
MODELS = DATA / "fc" / "models" / "real"
PROTOCOLS = DATA / "fc" / "protocols" / "real"
REFERENCE = DATA / "fc" / "reference"

CASES = [
    ("GraphState", "beeler_reuter_model_1977", {}, ["state"]),
    ("GraphState", "ohara_rudy_2011_epi", {}, ["state"]),
    ("IK1_IV_curve", "luo_rudy_1991", {}, ["normalised_low_K1", "normalised_high_K1"]),
    ("INa_IV_curves", "ten_tusscher_model_2006_epi", {}, ["normalised_peak_currents", "current_activation"]),
    ("ICaL", "ten_tusscher_model_2006_epi", {}, ["min_LCC", "final_membrane_voltage"]),
    ("SteadyStateRunner", "luo_rudy_1991", {"max_paces": 1000}, ["detailed_voltage", "num_paces"]),
    # At 4 Hz Beeler-Reuter settles into a 2:1 rhythm (beats after 999 and 1001 paces miss the
    # reference by 93 mV): matching it pins how many paces the engine runs before the last one.
    (
        "SteadyStateRunner4Hz",
        "beeler_reuter_model_1977",
        {"max_paces": 1000},
        ["detailed_voltage", "num_paces"],
    ),
    ("INa_block", "luo_rudy_1991", {"max_paces": 1000}, ["scaled_APD90", "detailed_voltage"]),
    ("INa_block", "beeler_reuter_model_1977", {"max_paces": 1000}, ["scaled_APD90"]),
]


@pytest.fixture(scope="module", autouse=True)
def _own_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WEBLAB_FC_CACHE", str(tmp_path_factory.mktemp("fc-cache")))
        yield


@pytest.mark.parametrize(
    ("protocol", "model", "inputs", "outputs"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES]
)
def test_reference_outputs_are_reproduced(
    protocol: str, model: str, inputs: dict, outputs: list[str]
) -> None:
    result = load_protocol(PROTOCOLS / f"{protocol}.txt", inputs).run(MODELS / f"{model}.cellml")
    assert result.status == "success", result.messages
    for output in outputs:
        expected = read_output(REFERENCE / model / protocol / f"outputs_{output}.csv")
        actual = np.asarray(result.outputs[output])
        assert actual.shape == expected.shape, output
        np.testing.assert_allclose(actual, expected, rtol=0.005, atol=2.5e-4, err_msg=output)


def test_a_model_lacking_required_terms_is_inapplicable() -> None:
    # demir_model_1994 has no stimulus annotations, which every pacing protocol needs.
    result = load_protocol(PROTOCOLS / "SteadyStateRunner.txt").run(MODELS / "demir_model_1994.cellml")
    assert result.status == "inapplicable"
    assert "https://chaste.comlab.ox.ac.uk/cellml/ns/oxford-metadata#membrane_stimulus_current_amplitude" in (
        result.missing_terms
    )


def test_a_state_read_in_protocol_units_is_in_those_units_in_the_state_vector() -> None:
    # Paci 2013 has its voltage in volts; GraphState reads it in mV, and the original engine
    # then lists it in mV among the states too (the reference's first state row).
    model = "paci_hyttinen_aaltosetala_severi_ventricularVersion"
    result = load_protocol(PROTOCOLS / "GraphState.txt").run(MODELS / f"{model}.cellml")
    assert result.status == "success", result.messages
    expected = read_output(REFERENCE / model / "GraphState" / "outputs_state.csv")
    state = np.asarray(result.outputs["state"])
    assert state.shape == expected.shape
    np.testing.assert_allclose(state[0], np.asarray(result.outputs["voltage"]), rtol=1e-12)
    # Every state but the voltage matches the reference throughout; the voltage differs only
    # where it jumps by millivolts per sample (a spontaneous upstroke at 594 ms).
    np.testing.assert_allclose(state[1:], expected[1:], rtol=0.005, atol=2.5e-4)
    close = np.isclose(state[0], expected[0], rtol=0.005, atol=2.5e-4)
    assert close.sum() >= expected.shape[1] - 1


@pytest.mark.filterwarnings("ignore:CVODES:RuntimeWarning")  # the step-size notices of the failing simulation
def test_a_simulation_failing_part_way_keeps_the_iterations_it_completed() -> None:
    # nygren_atrial_model_1998 diverges at ICaL's 23rd test potential (+65 mV) at the first
    # calcium level. Post-processing still runs on the 22 potentials that completed, and
    # gives the reference's outputs (one calcium level of 22 potentials).
    model = "nygren_atrial_model_1998"
    result = load_protocol(PROTOCOLS / "ICaL.txt").run(MODELS / f"{model}.cellml")
    assert result.status == "partial"
    assert len(result.messages) == 1, result.messages
    assert "ICaL.txt:81:19: the simulation failed" in result.messages[0]
    assert "post-processing used the iterations of sim completed before the failure" in result.messages[0]
    for output in ("min_LCC", "final_membrane_voltage"):
        expected = read_output(REFERENCE / model / "ICaL" / f"outputs_{output}.csv")
        actual = np.asarray(result.outputs[output])
        assert actual.shape == expected.shape, output
        np.testing.assert_allclose(actual, expected, rtol=0.005, atol=2.5e-4, err_msg=output)


@pytest.mark.slow
def test_a_model_in_seconds_reproduces_its_reference_with_the_paces_it_was_made_with() -> None:
    # noble_model_1991's references were made with 10000 paces although its num_paces output
    # reads 1000: its reference rests at -72.32 mV, where 10000 paces lead and 1000 do not (-92.1).
    model = "noble_model_1991"
    result = load_protocol(PROTOCOLS / "SteadyStateRunner.txt", {"max_paces": 10000}).run(
        MODELS / f"{model}.cellml"
    )
    assert result.status == "success", result.messages
    expected = read_output(REFERENCE / model / "SteadyStateRunner" / "outputs_detailed_voltage.csv")
    np.testing.assert_allclose(result.outputs["detailed_voltage"], expected, rtol=0.005, atol=2.5e-4)
