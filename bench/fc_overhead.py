"""Engine overhead: SteadyPacing on O'Hara-Rudy 2011 (epi) through the engine vs directly through myokit.

Both sides do the same work: the model's stimulus replaced by a 1 Hz square
pulse with the model's amplitude and duration driven by a myokit pacing
protocol, CVODES with rtol 1e-6 / atol 1e-8 and steps of at most 0.5 ms,
``beats - 1`` paces in one run, then one pace recorded every 0.1 ms. The engine also parses the protocol and
its libraries, applies the model interface and runs the post-processing
(APD, peak); the compiled simulation comes from the on-disk cache (warmed
before timing), as it does for every run after the first.

    .venv/bin/python bench/fc_overhead.py [--beats N] [--repeats R]

Prints both wall times and their ratio (target: at most 1.2).
"""

# ruff: noqa: E402 - the imports follow the import-path guard below
from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds scripts named like standard modules (queue.py): keep it off the
# import path, and put the project root on it.
_BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH]
sys.path.insert(0, str(_BENCH.parent))

import argparse
import os
import statistics
import tempfile
import time

import myokit
import numpy as np

ROOT = _BENCH.parent

from worker.fc import load_protocol
from worker.fc.model import load_model
from worker.fc.ontology import OXMETA

DATA = Path(os.environ.get("WEBLAB_SHARED_DATA", ROOT.parent / "shared" / "data")).resolve()
MODEL = DATA / "fc" / "models" / "real" / "ohara_rudy_2011_epi.cellml"
PROTOCOL = DATA / "fc" / "protocols" / "real" / "SteadyPacing.txt"


def direct_myokit(beats: int, period: float = 1000.0) -> tuple[float, float, np.ndarray]:
    """The same simulation written by hand against myokit; returns (seconds, compile seconds, final-pace V)."""
    start = time.perf_counter()
    annotated = load_model(MODEL)
    model = annotated.model.clone()
    amplitude = model.get(annotated.qnames_for(OXMETA + "membrane_stimulus_current_amplitude")[0])
    duration = float(model.get(annotated.qnames_for(OXMETA + "membrane_stimulus_current_duration")[0]).eval())
    stimulus = model.get(annotated.qnames_for(OXMETA + "membrane_stimulus_current")[0])
    voltage = annotated.qnames_for(OXMETA + "membrane_voltage")[0]
    pace = model.get("environment").add_variable("pace")
    pace.set_rhs(0)
    pace.set_binding("pace")
    stimulus.set_rhs(myokit.Multiply(myokit.Name(amplitude), myokit.Name(pace)))
    protocol = myokit.pacing.blocktrain(period=period, duration=duration, offset=0)
    compile_start = time.perf_counter()
    sim = myokit.Simulation(model, protocol)
    compile_time = time.perf_counter() - compile_start
    sim.set_tolerance(abs_tol=1e-8, rel_tol=1e-6)
    sim.set_max_step_size(0.5)  # the engine's (and the original engine's) limit, in ms
    sim.set_time(-10)
    sim.run(period * (beats - 1), log=myokit.LOG_NONE)
    log = sim.run(
        period + 1e-7, log=[voltage], log_times=np.arange(0, 10001) * 0.1 - 10 + period * (beats - 1)
    )
    return time.perf_counter() - start, compile_time, np.asarray(log[voltage])


def engine(beats: int, cache: str) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    protocol = load_protocol(PROTOCOL, {"steady_state_beats": beats})
    result = protocol.run(MODEL)
    elapsed = time.perf_counter() - start
    if result.status != "success":
        raise SystemExit(f"engine run failed: {result.messages}")
    return elapsed, np.asarray(result.outputs["membrane_voltage"])


def engine_tasks_only(beats: int) -> float:
    """The engine without post-processing: parse, apply the interface, load the cached build, run the tasks."""
    from worker.fc.interface import prepare
    from worker.fc.simulation import ModelSimulation
    from worker.fc.tasks import TaskContext, run_tasks

    start = time.perf_counter()
    protocol = load_protocol(PROTOCOL, {"steady_state_beats": beats})
    prepared = prepare(MODEL, protocol.interface_parts())
    sim = ModelSimulation(prepared)
    env = protocol._library_env()
    protocol._execute_library(env)
    run_tasks(protocol.tasks, TaskContext(sim, env, namespaces=protocol.namespaces))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beats", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    cache = os.environ.setdefault("WEBLAB_FC_CACHE", tempfile.mkdtemp(prefix="fc-overhead-"))
    # Warm the engine's disk cache: every run after the first of a model x
    # interface pair loads its build from there. The direct run compiles each
    # time (plain myokit has no such cache), so its compile time is left out.
    engine(2, cache)
    engine_times, direct_times, compile_times, task_times = [], [], [], []
    for _ in range(args.repeats):
        task_times.append(engine_tasks_only(args.beats))
        t_engine, v_engine = engine(args.beats, cache)
        t_direct, direct_compile, v_direct = direct_myokit(args.beats)
        engine_times.append(t_engine)
        direct_times.append(t_direct - direct_compile)
        compile_times.append(direct_compile)
    e, d = statistics.median(engine_times), statistics.median(direct_times)
    diff = float(np.max(np.abs(v_engine - v_direct))) if v_engine.shape == v_direct.shape else float("nan")
    print(f"SteadyPacing, ohara_rudy_2011_epi, {args.beats} beats")
    print(f"  engine        {e:8.2f} s")
    print(f"  direct myokit {d:8.2f} s  (compile time {statistics.median(compile_times):.2f} s excluded)")
    t = statistics.median(task_times)
    print(f"  engine without post-processing {t:8.2f} s")
    print(f"  ratio         {e / d:8.3f}   (target <= 1.2)")
    print(f"  ratio without post-processing (APD etc. in the interpreter) {t / d:8.3f}")
    print(f"  max |dV| between them over the final pace: {diff:.3g} mV")


if __name__ == "__main__":
    main()
