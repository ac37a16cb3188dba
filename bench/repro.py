"""Reproduce the functional-curation reference results: the standard 14-protocol matrix.

For every model in ``fc/models/real`` that has a reference folder for one of
the 14 standard protocols (see ``../shared/data/README.md``), run the
protocol through the engine (``max_paces`` / ``max_steady_state_beats`` set
to 1000 where the protocol has them) and compare each checked output with
``numpy.allclose(actual, expected, rtol=0.005, atol=2.5e-4)`` and the same
shape. Prints one row per model × protocol × output (match; reordered: a
``state`` output whose rows match the reference's in another order; mismatch
with the largest error; or failed with the reason), then the totals and the
wall time. Each experiment runs in its own process, ``--jobs`` at a time (default
2: both cores).

    .venv/bin/python bench/repro.py [--jobs 2] [--models a,b] [--protocols P,Q] [--timeout 3600] [--max-paces 1000|auto]
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
import multiprocessing
import os
import threading
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

import numpy as np

ROOT = _BENCH.parent

DATA = Path(os.environ.get("WEBLAB_SHARED_DATA", ROOT.parent / "shared" / "data")).resolve()
MODELS = DATA / "fc" / "models" / "real"
PROTOCOLS = DATA / "fc" / "protocols" / "real"
REFERENCE = DATA / "fc" / "reference"
RTOL, ATOL = 0.005, 2.5e-4
LONG_INPUTS = {"max_paces": 1000, "max_steady_state_beats": 1000}
# Models whose references were made with the protocols' default paces (max_paces 10000, but
# 1000 in IK1_block, Ito_block and NCX_block), although their SteadyStateRunner reference
# reads num_paces 1000: the three whose time unit is the second. Measured: with 10000 paces
# SteadyStateRunner matches for all three, and for earm and noble_1991 so do
# ExtracellularPotassiumVariation, SteadyStateRestitution and RyR_block (earm's RyR trace
# within 0.0011 mV), none of which match with 1000; earm's NCX_block matches with 1000 paces
# and noble_1991's at 10 of 11 block levels (none with 10000; at 60 % block the beats
# alternate and the reference holds the other one: 999 or 1001 paces match it).
# noble_model_1991 rests at -72.32 mV in its SteadyStateRunner reference: 10000 paces give
# that, 1000 give -92.1 mV. winslow_model_1999's SteadyStateRestitution matches with 10000
# paces (at 1000 it fails: the number of APs in its window changes between pacing rates).
MADE_WITH_DEFAULT_PACES = {"earm_noble_model_1990", "noble_model_1991", "winslow_model_1999"}

# The outputs checked for each standard protocol (../shared/data/README.md), slowest protocol
# first (mean seconds per experiment on 2 busy cores: 290 to 110 for the first six, under 35
# for the rest), so that the matrix does not end on one long experiment.
CHECKED: dict[str, list[str]] = {
    "SteadyStateRestitution": ["APD", "restitution_slope"],
    "IKr_block": ["scaled_APD90", "detailed_voltage"],
    "NCX_block": ["scaled_resting_potential", "scaled_APD90", "detailed_voltage"],
    "ExtracellularPotassiumVariation": ["scaled_APD90", "scaled_resting_potential", "detailed_voltage"],
    "INa_block": ["scaled_APD90", "detailed_voltage"],
    "RyR_block": ["scaled_APD90", "detailed_voltage"],
    "S1S2": ["S1S2_slope"],
    "SteadyStateRunner": ["detailed_voltage"],
    "ICaL": ["min_LCC", "final_membrane_voltage"],
    "SteadyStateRunner4Hz": ["detailed_voltage"],
    "INa_IV_curves": ["normalised_peak_currents", "current_activation"],
    "IKr_IV_curve": ["normalised_peak_Kr_tail"],
    "GraphState": ["state"],
    "IK1_IV_curve": ["normalised_low_K1", "normalised_high_K1"],
}


@dataclass
class Row:
    model: str
    protocol: str
    output: str
    status: str  # "match", "reordered" (state rows in another order), "mismatch" or "failed"
    detail: str = ""


def experiments(models: set[str] | None, protocols: set[str] | None) -> list[tuple[str, str]]:
    """(model, protocol) pairs with a model file and a reference folder, slowest protocols first."""
    folders = [
        f
        for f in sorted(REFERENCE.iterdir())
        if f.is_dir() and (MODELS / f"{f.name}.cellml").exists() and (not models or f.name in models)
    ]
    return [
        (folder.name, protocol)
        for protocol in CHECKED
        if not protocols or protocol in protocols
        for folder in folders
        if (folder / protocol).is_dir()
    ]


def compare(actual: np.ndarray | None, expected: np.ndarray, output: str = "") -> tuple[str, str]:
    if actual is None:
        return "failed", "output not produced"
    actual = np.asarray(actual, dtype=float)
    if actual.shape != expected.shape:
        return "mismatch", f"shape {actual.shape} != reference {expected.shape}"
    if np.allclose(actual, expected, rtol=RTOL, atol=ATOL, equal_nan=True):
        return "match", ""
    detail = f"max |error| {_max_error(actual, expected):.4g}"
    order = _pair_rows(actual, expected) if output == "state" else []
    if order != sorted(order):
        if np.allclose(actual[order], expected, rtol=RTOL, atol=ATOL, equal_nan=True):
            return "reordered", "the same state variables in another order (the older engine's)"
        actual = actual[order]
        detail = f"max |error| {_max_error(actual, expected):.4g} with rows paired by value"
    if actual.ndim == 2:
        detail += _rows_off(actual, expected)
    return "mismatch", detail


def _max_error(actual: np.ndarray, expected: np.ndarray) -> float:
    with np.errstate(invalid="ignore"):
        return float(np.nanmax(np.abs(actual - expected)))


def _pair_rows(actual: np.ndarray, expected: np.ndarray) -> list[int]:
    """Which of our rows each reference row of a ``state`` output is, paired by value.

    The reference files name no state variables, and the PyCml-era engine that
    made some of them listed the states in another order than document order
    (the current original engine's and ours). Two GraphState references differ
    from their model files, not only in order; measured, each matches in full
    after one edit to the model: luo_rudy_1994 with a 0.5 ms stimulus (the file
    says 2 ms: the reference's upstroke stops at -61.8 mV), and
    paci_..._atrialVersion with the initial voltage left unconverted
    (-0.0687 mV, the file's value in volts: the reference's first voltage sample).
    """
    free = list(range(len(actual)))
    order = []
    for row in expected:
        errors = [_max_error(actual[i], row) for i in free]
        order.append(free.pop(int(np.argmin(np.nan_to_num(errors, nan=np.inf)))))
    return order


def _rows_off(actual: np.ndarray, expected: np.ndarray) -> str:
    """Which rows (block levels, concentrations, ...) of a 2-D output differ: often only one does."""
    close = np.isclose(actual, expected, rtol=RTOL, atol=ATOL, equal_nan=True).all(axis=1)
    rows = np.flatnonzero(~close)
    shown = ", ".join(str(i) for i in rows[:5]) + (", ..." if len(rows) > 5 else "")
    return f" in {len(rows)} of {len(close)} rows ({shown})"


def _made_with(model: str) -> int:
    """The paces the model's references were made with, as far as they tell (at least 1000)."""
    from worker.fc.outputs import read_output

    if model in MADE_WITH_DEFAULT_PACES:
        return 10000
    path = REFERENCE / model / "SteadyStateRunner" / "outputs_num_paces.csv"
    if not path.exists():
        return LONG_INPUTS["max_paces"]
    return max(LONG_INPUTS["max_paces"], int(float(np.asarray(read_output(path)).reshape(-1)[0])))


def _paces_for(model: str, setting: int | str) -> int | None:
    """``--max-paces``: a number, or ``auto``: the protocols' own defaults (None) for the models
    whose references were made with them, 1000 for the rest."""
    if setting == "auto":
        return None if _made_with(model) > LONG_INPUTS["max_paces"] else LONG_INPUTS["max_paces"]
    return int(setting)


def _max_paces_arg(text: str) -> int | str:
    if text == "auto":
        return text
    if not (text.isdigit() and int(text) > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of paces or 'auto', not {text!r}")
    return int(text)


def _reference_paces(model: str, paces: int | None, protocol_default: float) -> str:
    """Say so when the model's references were made with more paces than this run allowed and
    the protocol's own default would allow them (NCX_block's default is 1000: no hint there)."""
    if paces is None or min(_made_with(model), protocol_default) <= paces:
        return ""
    return "; this model's references were made with the protocols' default max_paces (try --max-paces auto)"


def run_one(
    model: str, protocol: str, paces: int | None = 1000, timeout: float | None = None
) -> tuple[list[Row], float]:
    """Run one experiment (in a worker process) and compare its checked outputs.

    Past ``timeout`` seconds the engine's cancel flag is set, so that one stuck
    experiment cannot hold a worker process for the rest of the matrix.
    """
    from worker.fc import load_protocol
    from worker.fc.outputs import read_output

    start = time.perf_counter()
    cancel = threading.Event()
    timer = threading.Timer(timeout, cancel.set) if timeout else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        proto = load_protocol(PROTOCOLS / f"{protocol}.txt")
        defaults = {spec.name: spec.default for spec in proto.interface().inputs}
        inputs = {k: paces for k in LONG_INPUTS if k in defaults} if paces is not None else {}
        if inputs:
            proto = load_protocol(PROTOCOLS / f"{protocol}.txt", inputs)
        result = proto.run(MODELS / f"{model}.cellml", cancel=cancel)
    except Exception as exc:  # noqa: BLE001 - a crash is a result here
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        tb = traceback.format_exc(limit=-1).strip().splitlines()[-2:]
        rows = [
            Row(model, protocol, o, "failed", f"{reason} [{' '.join(tb)[:160]}]") for o in CHECKED[protocol]
        ]
        return rows, time.perf_counter() - start
    finally:
        if timer is not None:
            timer.cancel()
    rows = []
    reason = "; ".join(result.messages)[:300] if result.messages else result.status
    if cancel.is_set():
        reason = f"timed out after {timeout:g} s"
    for output in CHECKED[protocol]:
        path = REFERENCE / model / protocol / f"outputs_{output}.csv"
        if not path.exists():
            continue
        expected = read_output(path)
        actual = result.outputs.get(output)
        if actual is None:
            rows.append(Row(model, protocol, output, "failed", f"{result.status}: {reason}"))
            continue
        status, detail = compare(actual, expected, output)
        if status == "mismatch" and inputs:
            detail += _reference_paces(model, paces, max(defaults[k] for k in inputs))
        rows.append(Row(model, protocol, output, status, detail))
    return rows, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--models", help="comma-separated model names (default: all with references)")
    parser.add_argument("--protocols", help="comma-separated protocol names (default: the 14 standard ones)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per experiment")
    parser.add_argument(
        "--max-paces",
        type=_max_paces_arg,
        default=LONG_INPUTS["max_paces"],
        help="max_paces / max_steady_state_beats: a number (default 1000, the reference setting), or "
        "'auto' for the protocols' own defaults (10000, or 1000 in IK1/Ito/NCX_block) on the models "
        "whose references were made with those",
    )
    args = parser.parse_args()
    models = set(args.models.split(",")) if args.models else None
    protocols = set(args.protocols.split(",")) if args.protocols else None
    pairs = experiments(models, protocols)
    print(f"{len(pairs)} experiments, {args.jobs} at a time", flush=True)

    started = time.perf_counter()
    rows: list[Row] = []
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=context, max_tasks_per_child=1) as pool:
        futures = {
            pool.submit(run_one, m, p, _paces_for(m, args.max_paces), args.timeout): (m, p) for m, p in pairs
        }
        for future in as_completed(futures):
            model, protocol = futures[future]
            try:
                result_rows, seconds = future.result()
            except Exception as exc:  # noqa: BLE001 - the worker process died
                result_rows = [
                    Row(model, protocol, o, "failed", f"worker died: {exc}") for o in CHECKED[protocol]
                ]
                seconds = 0.0
            for row in result_rows:
                print(
                    f"{row.model:48s} {row.protocol:32s} {row.output:28s} {row.status:8s} {row.detail}"
                    f"  [{seconds:.0f} s]",
                    flush=True,
                )
            rows.extend(result_rows)

    wall = time.perf_counter() - started
    totals = {
        status: sum(1 for r in rows if r.status == status)
        for status in ("match", "reordered", "mismatch", "failed")
    }
    print()
    print(
        f"outputs: {len(rows)}  match {totals['match']}  reordered {totals['reordered']}  "
        f"mismatch {totals['mismatch']}  failed {totals['failed']}"
    )
    print(f"wall time: {wall:.0f} s on {args.jobs} processes")


if __name__ == "__main__":
    main()
