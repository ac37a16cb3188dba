"""A stand-in engine for the pipeline tests, loaded by the worker's child process (``app.state.run_engine``).

A protocol file that starts with :data:`MARKER` is a JSON instruction for this
engine: how long to run (in steps, reporting progress), whether to ignore the
cancel event (so that only a kill stops it), what to print, which status to
end with, and which outputs to write. The one number it computes from the
model is the count of CellML ``<variable>`` elements, written as the output
``n_variables`` (units ``dimensionless``, a number: a 0-d array), so that tests can check values per
model against a count they make themselves. Any other protocol is handed to the
real engine, ``worker.fc``.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

MARKER = "# weblab pipeline test protocol\n"


def protocol_text(**spec: Any) -> str:
    """The spec as a comment line, so that the file parses as a (comments-only) protocol and uploads are accepted."""
    return MARKER + "# " + json.dumps(spec) + "\n"


def load_protocol(path: Path, inputs: dict[str, Any] | None = None) -> Any:
    text = Path(path).read_text()
    if not text.startswith(MARKER):
        from worker import fc

        return fc.load_protocol(path, inputs)
    return StandIn(json.loads(text[len(MARKER) :].removeprefix("# ")), Path(path))


class StandIn:
    def __init__(self, spec: dict[str, Any], path: Path) -> None:
        self.spec = spec
        self.path = path

    def run(self, model_path: Path, output_dir: Path, progress: Any = None, cancel: Any = None) -> Any:
        spec = self.spec
        if spec.get("pid_dir"):
            Path(spec["pid_dir"], str(os.getpid())).write_text("running")
        seconds = float(spec.get("seconds", 0))
        once = spec.get("once_marker")
        if once and Path(once).exists():
            seconds = 0.0  # a retried attempt finishes at once
        elif once:
            Path(once).write_text("first attempt")
        steps = int(spec.get("steps", 3))
        for k in range(steps):
            end = time.monotonic() + seconds / steps
            while time.monotonic() < end:
                if cancel is not None and cancel.is_set() and not spec.get("ignore_cancel"):
                    return SimpleNamespace(status="FAILED", messages=["cancelled"], missing_terms=[])
                time.sleep(0.05)
            if progress is not None:
                progress(k + 1, steps)
        print(spec.get("print", "stand-in engine ran"))
        n = len(re.findall(r"<variable\b", Path(model_path).read_text()))
        _write_outputs(output_dir, n)
        status = spec.get("status", "SUCCESS")
        messages = [
            m.replace("{protocol}", str(self.path)) for m in spec.get("messages", [])
        ]  # as located errors
        return SimpleNamespace(status=status, messages=messages, missing_terms=spec.get("missing", []))


def _write_outputs(output_dir: Path, n_variables: int) -> None:
    """Write the outputs with the real engine's writer, so that the pipeline sees the layout a real run makes
    (issue #18: a hand-typed layout hid that 0-d outputs lost their value): ``n_variables`` is a number (a
    0-d array, as SteadyStateRunner's ``num_paces`` is) and ``series`` a vector."""
    from worker.fc.outputs import write_outputs
    from worker.fc.protocol import OutputSpec, RunResult

    specs = [
        OutputSpec("n_variables", "dimensionless", "Number of variables"),
        OutputSpec("series", "ms", "A short series"),
    ]
    outputs = {"n_variables": np.array(float(n_variables)), "series": np.arange(4) * 0.5}
    protocol = SimpleNamespace(interface_outputs=lambda: specs, plots=[])
    write_outputs(protocol, RunResult("success", outputs=outputs), output_dir)  # type: ignore[arg-type]
