"""Real protocols on real models that once failed or differed from the reference results.

The interface cases: a stimulus ``define`` whose condition myokit reported
as "not conditional", unused states that could not be demoted while other
unused variables still referred to them, and an optional default that uses
a term the model lacks. Then the solver settings that SteadyStateRunner's
pace count depends on, and nested protocols loaded once rather than once per
pace. The runs are short (inputs shortened where the protocol allows it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SHARED_DATA
from worker.fc import load_protocol
from worker.fc import protocol as protocol_module
from worker.fc.ontology import OXMETA
from worker.fc.outputs import read_output

ROOT = Path(__file__).resolve().parents[2]
DATA = SHARED_DATA
REAL_PROTOCOLS = DATA / "fc" / "protocols" / "real"
REAL_MODELS = DATA / "fc" / "models" / "real"
REFERENCE = DATA / "fc" / "reference"


@pytest.fixture(scope="module", autouse=True)
def _own_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WEBLAB_FC_CACHE", str(tmp_path_factory.mktemp("fc-cache")))
        yield


def test_s1s2_runs_where_the_stimulus_condition_is_a_plain_comparison(tmp_path: Path) -> None:
    # Espinosa's stimulus define translated to a myokit condition that the
    # engine wrapped again (``(a >= b) != 0``), which myokit rejects.
    short = {"steady_state_beats": 2, "s2_intervals": [1000, 500], "timecourse_duration": 1500}
    protocol = load_protocol(REAL_PROTOCOLS / "S1S2.txt", short)
    result = protocol.run(REAL_MODELS / "espinosa_model_1998_normal.cellml", tmp_path)
    assert result.status == "success", result.messages
    voltage = np.asarray(result.outputs["membrane_voltage"])
    assert voltage.shape[0] == 2
    # Both S2 intervals elicit action potentials: each run depolarises well above rest.
    assert (voltage.max(axis=1) - voltage.min(axis=1) > 50).all()


@pytest.mark.parametrize("model", ["carro_2011_epi", "nygren_atrial_model_1998"])
def test_ina_late_runs_where_unused_states_feed_each_other(model: str, tmp_path: Path) -> None:
    # With V clamped, most of these models' states are unused; they refer to
    # one another, so they can only be demoted once none has an equation left.
    result = load_protocol(REAL_PROTOCOLS / "INa_late.txt").run(REAL_MODELS / f"{model}.cellml", tmp_path)
    assert result.status == "success", result.messages
    assert np.isfinite(np.asarray(result.outputs["late_sodium"])).all()


@pytest.mark.parametrize(
    "model", ["courtemanche_ramirez_nattel_model_1998", "hodgkin_huxley_squid_axon_model_1952_modified"]
)
def test_an_optional_default_using_a_missing_term_leaves_its_output_out(model: str, tmp_path: Path) -> None:
    # The default sodium reversal potential needs both sodium concentrations,
    # which these models do not annotate: the term is left missing (it is
    # only recorded, never used by the outputs) instead of failing the run.
    path = REAL_MODELS / f"{model}.cellml"
    text = path.read_text()
    assert f"{OXMETA}extracellular_sodium_concentration" not in text
    assert f"{OXMETA}sodium_reversal_potential" not in text
    result = load_protocol(REAL_PROTOCOLS / "INa_late.txt").run(path, tmp_path)
    assert result.status == "success", result.messages
    assert {"late_sodium", "fast_sodium_trace", "total_sodium_trace"} <= set(result.outputs)


def test_steady_state_is_reached_in_the_reference_number_of_paces(tmp_path: Path) -> None:
    # SteadyStateRunner stops when the state changes by less than 1e-6 over a
    # pace, so its pace count depends on the solver's error: with the original
    # engine's solver settings (steps of at most 0.5 ms even while pacing)
    # Beeler-Reuter settles in as many paces as the published result says.
    model = "beeler_reuter_model_1977"
    protocol = load_protocol(REAL_PROTOCOLS / "SteadyStateRunner.txt", {"max_paces": 1000})
    result = protocol.run(REAL_MODELS / f"{model}.cellml", tmp_path)
    assert result.status == "success", result.messages
    expected = read_output(REFERENCE / model / "SteadyStateRunner" / "outputs_num_paces.csv")
    np.testing.assert_array_equal(result.outputs["num_paces"], expected)


def test_a_nested_protocol_is_loaded_once_per_distinct_inputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SteadyStateRunner runs SinglePace once per pace, always with the same
    # inputs: the file is read and its libraries run once, not once per pace.
    loaded: list[str] = []
    original = protocol_module.Protocol.__init__

    def counting_init(
        self: protocol_module.Protocol, path: str | Path, *args: object, **kwargs: object
    ) -> None:
        loaded.append(Path(path).name)
        original(self, path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(protocol_module.Protocol, "__init__", counting_init)
    model = REAL_MODELS / "beeler_reuter_model_1977.cellml"
    loads = []
    for paces in (3, 9):
        loaded.clear()
        inputs = {"max_paces": paces, "norm_threshold": 0}
        result = load_protocol(REAL_PROTOCOLS / "SteadyStateRunner.txt", inputs).run(model, tmp_path)
        assert result.status == "success", result.messages
        assert result.outputs["num_paces"] == paces
        loads.append(loaded.count("SinglePace.txt"))
    # Loading it to read its model interface aside, the pacing loop loads it once.
    assert loads[0] == loads[1]


@pytest.mark.slow
def test_a_solver_failure_with_the_step_limit_is_retried_without_it(tmp_path: Path) -> None:
    # Winslow 1999 makes CVODES fail its error test too often just after a
    # stimulus edge when steps are limited to 0.5 ms (the original engine
    # allowed more failures than myokit does); the interval is run again
    # without the limit and steady pacing goes on to the end.
    protocol = load_protocol(REAL_PROTOCOLS / "SteadyStateRunner.txt", {"max_paces": 1000})
    result = protocol.run(REAL_MODELS / "winslow_model_1999.cellml", tmp_path)
    assert result.status == "success", result.messages
    assert np.isfinite(np.asarray(result.outputs["detailed_voltage"])).all()
