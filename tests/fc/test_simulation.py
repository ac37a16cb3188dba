"""Applying a model interface and simulating with myokit (worker/fc/interface.py, simulation.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SHARED_DATA
from worker.fc import simulation as simulation_module
from worker.fc.errors import InapplicableError, ProtocolError
from worker.fc.interface import parts_of, prepare
from worker.fc.parser import parse_text
from worker.fc.simulation import ModelSimulation

ROOT = Path(__file__).resolve().parents[2]
DATA = SHARED_DATA
MODELS = DATA / "fc" / "models" / "real"
REFERENCE = DATA / "fc" / "reference"

HEADER = """
namespace oxmeta = "https://chaste.comlab.ox.ac.uk/cellml/ns/oxford-metadata#"
units {
    mV = milli volt
    ms = milli second
}
"""

GRAPH_STATE = (
    HEADER
    + """
model interface {
    independent var units ms
    output oxmeta:time
    output oxmeta:membrane_voltage units mV
    output oxmeta:state_variable
}
"""
)

PACING = (
    HEADER
    + """
model interface {
    independent var units ms
    input oxmeta:membrane_stimulus_current_offset units ms = 0
    input oxmeta:membrane_stimulus_current_period units ms = 1000
    output oxmeta:membrane_voltage units mV
    output oxmeta:time units ms
    output oxmeta:state_variable
    define oxmeta:membrane_stimulus_current = \\
        if (oxmeta:time >= oxmeta:membrane_stimulus_current_offset &&
            ((oxmeta:time - oxmeta:membrane_stimulus_current_offset)
             - (MathML:floor((oxmeta:time - oxmeta:membrane_stimulus_current_offset) /
                             oxmeta:membrane_stimulus_current_period) * oxmeta:membrane_stimulus_current_period)
             <= oxmeta:membrane_stimulus_current_duration))
        then oxmeta:membrane_stimulus_current_amplitude else 0 :: units_of(oxmeta:membrane_stimulus_current_amplitude)
}
"""
)


def prepared(text: str, model: str):  # type: ignore[no-untyped-def]
    return prepare(MODELS / f"{model}.cellml", parts_of([parse_text(text)]))


def reference(model: str, protocol: str, output: str) -> np.ndarray:
    return np.loadtxt(REFERENCE / model / protocol / f"outputs_{output}.csv", delimiter=",", comments="#")


@pytest.mark.parametrize(
    "model", ["beeler_reuter_model_1977", "luo_rudy_1991", "ten_tusscher_model_2006_epi"]
)
def test_a_timecourse_reproduces_the_graph_state_reference(model: str, tmp_path: Path) -> None:
    sim = ModelSimulation(prepared(GRAPH_STATE, model), tmp_path)
    results = sim.timecourse(np.arange(0.0, 1001.0))
    np.testing.assert_allclose(
        results["state_variable"], reference(model, "GraphState", "state"), rtol=0.005, atol=2.5e-4
    )
    np.testing.assert_array_equal(results["time"], np.arange(0.0, 1001.0))
    np.testing.assert_array_equal(results["membrane_voltage"], results["state_variable"][:, 0])


def test_a_second_run_compiles_nothing_and_gives_the_same_results(tmp_path: Path) -> None:
    model = MODELS / "beeler_reuter_model_1977.cellml"
    before = simulation_module.stats.compiled
    sim = ModelSimulation(prepared(PACING, "beeler_reuter_model_1977"), tmp_path)
    assert simulation_module.stats.compiled == before + 1
    assert len(list(tmp_path.glob("*.zip"))) == 1
    sim.set("oxmeta:membrane_stimulus_current_period", 500.0)
    expected = sim.timecourse(np.arange(0.0, 1000.0))["state_variable"]
    np.save(tmp_path / "expected.npy", expected)
    # Another process with the same model and interface loads the stored build,
    # and (with the same inputs changed) computes the same thing.
    script = (
        "import numpy as np\n"
        "from worker.fc.interface import parts_of, prepare\n"
        "from worker.fc.parser import parse_text\n"
        "from worker.fc import simulation\n"
        f"p = prepare({str(model)!r}, parts_of([parse_text({PACING!r})]))\n"
        f"s = simulation.ModelSimulation(p, {str(tmp_path)!r})\n"
        "s.set('oxmeta:membrane_stimulus_current_period', 500.0)\n"
        "got = s.timecourse(np.arange(0.0, 1000.0))['state_variable']\n"
        f"np.testing.assert_allclose(got, np.load({str(tmp_path / 'expected.npy')!r}), rtol=1e-9, atol=1e-12)\n"
        "print(simulation.stats.compiled, simulation.stats.loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "1"]
    # A different interface on the same model is a different build.
    ModelSimulation(prepared(GRAPH_STATE, "beeler_reuter_model_1977"), tmp_path)
    assert len([p for p in tmp_path.glob("*.zip")]) == 2


def test_the_standard_stimulus_paces_the_cell_and_inputs_change_without_recompiling(tmp_path: Path) -> None:
    prep = prepared(PACING, "luo_rudy_1991")
    assert prep.pulse is not None
    sim = ModelSimulation(prep, tmp_path)
    compiled = simulation_module.stats.compiled
    trace = sim.timecourse(np.arange(-10.0, 990.0))["membrane_voltage"]
    assert trace[:10].max() < -80  # at rest before the stimulus at 0 ms
    assert trace.max() > 20  # an action potential follows it
    # With the stimulus moved beyond the window there is no action potential.
    sim.reset_state()
    sim.set("oxmeta:membrane_stimulus_current_offset", 5000.0)
    assert sim.get("oxmeta:membrane_stimulus_current_offset") == 5000.0
    quiet = sim.timecourse(np.arange(-10.0, 990.0))["membrane_voltage"]
    assert quiet.max() < -80
    assert simulation_module.stats.compiled == compiled


def _paced_directly(model_file: Path, paces: int) -> np.ndarray:
    """V (mV) every ms over ``paces`` 1 s paces, from myokit alone: the file as myokit imports it, its
    stimulus replaced by amplitude × pace, pulses at 10 ms into every second (all in the file's seconds)."""
    import myokit
    import myokit.formats.cellml

    model = myokit.formats.cellml.CellMLImporter().model(str(model_file))
    named = {v.name(): v for v in model.variables(deep=True)}
    pace = model.add_component("pacing").add_variable("pace")
    pace.set_rhs(0)
    pace.set_binding("pace")
    named["i_Stim"].set_rhs(myokit.Multiply(myokit.Name(named["stim_amplitude"]), myokit.Name(pace)))
    protocol = myokit.Protocol()
    protocol.schedule(1, 0.01, named["stim_duration"].eval(), 1.0, 0)
    sim = myokit.Simulation(model, protocol)
    sim.set_tolerance(simulation_module.ATOL, simulation_module.RTOL)
    sim.set_max_step_size(0.0005)
    voltage = next(v for v in model.states() if v.name() == "V").qname()
    return np.array(sim.run(paces * 1.0, log_interval=0.001, log=[voltage])[voltage])[: paces * 1000]


def test_a_model_in_seconds_is_paced_as_myokit_paces_it_directly(tmp_path: Path) -> None:
    """noble_model_1991 counts time in seconds, the protocol in ms: offsets, periods, durations, the
    solver's step limit and the outputs all cross that conversion."""
    sim = ModelSimulation(prepared(PACING, "noble_model_1991"), tmp_path)
    # each pace runs from -10 to 990 ms; its last point is the next pace's first
    ours = np.concatenate(
        [sim.timecourse(np.arange(-10.0, 991.0))["membrane_voltage"][:-1] for _ in range(3)]
    )
    direct = _paced_directly(MODELS / "noble_model_1991.cellml", 3)
    assert ours.max() > 40 and ours[:10].max() < -80  # three action potentials from rest
    np.testing.assert_allclose(ours, direct, rtol=1e-4, atol=0.01)


def test_save_and_reset_state(tmp_path: Path) -> None:
    sim = ModelSimulation(prepared(PACING, "beeler_reuter_model_1977"), tmp_path)
    initial = sim.state()
    sim.timecourse(np.array([0.0, 200.0]))
    sim.save_state("after_200")
    saved = sim.state()
    assert saved != initial
    sim.timecourse(np.array([200.0, 500.0]))
    sim.reset_state("after_200")
    assert sim.state() == saved
    sim.reset_state()
    assert sim.state() == initial
    with pytest.raises(ProtocolError, match="no state was saved as 'nope'"):
        sim.reset_state("nope")


def test_setting_a_state_and_stepping(tmp_path: Path) -> None:
    sim = ModelSimulation(prepared(PACING, "beeler_reuter_model_1977"), tmp_path)
    sim.set("oxmeta:membrane_voltage", -50.0)
    assert sim.get("oxmeta:membrane_voltage") == -50.0
    sim.set_time(3.0)
    step = sim.one_step(2.0)
    assert float(step["time"]) == pytest.approx(5.0)
    assert sim.time == pytest.approx(5.0)


def test_outputs_are_converted_to_the_protocol_units(tmp_path: Path) -> None:
    volts = (
        HEADER.replace("mV = milli volt", "mV = milli volt\n    uV = micro volt")
        + """
model interface {
    independent var units ms
    output oxmeta:membrane_voltage units uV
    output oxmeta:time units ms
}
"""
    )
    in_mv = ModelSimulation(prepared(GRAPH_STATE, "beeler_reuter_model_1977"), tmp_path).timecourse(
        np.arange(0.0, 50.0)
    )
    in_uv = ModelSimulation(prepared(volts, "beeler_reuter_model_1977"), tmp_path).timecourse(
        np.arange(0.0, 50.0)
    )
    np.testing.assert_allclose(in_uv["membrane_voltage"], in_mv["membrane_voltage"] * 1000)


def test_a_model_without_a_required_term_is_inapplicable() -> None:
    # demir_model_1994 has no stimulus annotations at all.
    with pytest.raises(InapplicableError) as caught:
        prepared(PACING, "demir_model_1994")
    missing = caught.value.missing_terms
    assert (
        "https://chaste.comlab.ox.ac.uk/cellml/ns/oxford-metadata#membrane_stimulus_current_amplitude"
        in missing
    )
    assert "https://chaste.comlab.ox.ac.uk/cellml/ns/oxford-metadata#membrane_voltage" not in missing


def test_builds_allow_the_original_engines_error_test_failures() -> None:
    # Winslow 1999's restitution at its default paces needs more than CVODES's default 7
    # (bench/repro.py measures it); the original engine allowed 15.
    template = simulation_module._template_with_allowance().read_text()
    assert "CVodeSetMaxErrTestFails(cvode_mem, 15);" in template
    assert template.index("CVodeSetMaxErrTestFails") < template.index("CVodeSetMinStep")


def test_a_changed_myokit_template_is_reported_not_built_without_the_allowance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cvodessim.c").write_text("/* a future myokit's template */\n")
    monkeypatch.setattr(simulation_module.myokit, "DIR_CFUNC", str(tmp_path))
    simulation_module._template_with_allowance.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="cvodessim.c no longer has the line"):
            simulation_module._template_with_allowance()
    finally:
        simulation_module._template_with_allowance.cache_clear()
