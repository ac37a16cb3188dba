"""A protocol that runs: the engine's main entry point (``load_protocol``, ``Protocol.run``).

Running follows the original engine: apply the model interface (a model
lacking required terms is *inapplicable*), execute the libraries, run the tasks
(``tasks.run_tasks``), run post-processing, collect the outputs.  An error in
one phase is recorded and the later phases still run as far as they can, so
that every output that can be computed is; the run is ``partial`` when some
outputs could not be, ``failed`` when none could.

Loading and the interface analysis are ``loading.LoadedProtocol``'s; the files
a protocol may read are ``folder.ProtocolFolder``'s.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import ast
from .environment import Environment, ModelEnvironment
from .errors import FcError, InapplicableError, ProtocolError, error_at
from .evaluate import execute
from .folder import ProtocolFolder
from .loading import InputSpec, LoadedProtocol, OutputSpec, ProtocolInterface
from .values import describe

__all__ = [
    "InputSpec",
    "OutputSpec",
    "Progress",
    "Protocol",
    "ProtocolInterface",
    "RunResult",
    "load_protocol",
]

Progress = Callable[[int, int, str], None]


@dataclass
class RunResult:
    status: str  # "success" | "partial" | "failed" | "inapplicable"
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    missing_terms: list[str] = field(default_factory=list)


class Protocol(LoadedProtocol):
    """A loaded protocol that can run on a model."""

    def __init__(
        self,
        path: str | Path,
        inputs: dict[str, Any] | None = None,
        _loading: tuple[str, ...] = (),
        *,
        folder: ProtocolFolder | None = None,
    ) -> None:
        # Nested protocols by (file, inputs), and this protocol's executed library
        # environment as an import: a SteadyStateRunner nests SinglePace once per
        # pace, so loading and running libraries once saves that work on every pace.
        self._nested: dict[tuple[str, tuple[Any, ...]], Protocol] = {}
        self._executed_env: Environment | None = None
        super().__init__(path, inputs, _loading, folder=folder)

    # -- running --------------------------------------------------------------------------------------
    def run(
        self,
        model_path: str | Path | None,
        output_dir: str | Path | None = None,
        *,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
    ) -> RunResult:
        """Run on a model; write the outputs to ``output_dir`` if given.

        ``model_path`` may be None for a protocol without tasks (post-processing only).
        """
        # myokit is imported only when a model is used
        from .interface import prepare
        from .model import load_model
        from .simulation import ModelSimulation

        simulation: Any = None
        if model_path is not None:
            try:
                model = load_model(model_path)
            except FcError as exc:
                return RunResult("failed", messages=[str(exc)])
            except Exception as exc:  # noqa: BLE001 - an unreadable or invalid model file
                return RunResult(
                    "failed", messages=[f"cannot load model {model_path}: {type(exc).__name__}: {exc}"]
                )
            missing = self._missing_terms(model)
            if missing:
                message = str(InapplicableError(missing))
                return RunResult("inapplicable", messages=[message], missing_terms=missing)
            try:
                prepared = prepare(model, self.interface_parts(), self.input_env)
            except InapplicableError as exc:
                return RunResult("inapplicable", messages=[str(exc)], missing_terms=list(exc.missing_terms))
            except FcError as exc:
                return RunResult("failed", messages=[str(exc)])
            except Exception as exc:  # noqa: BLE001 - an engine bug must not crash the run
                return RunResult(
                    "failed",
                    messages=[
                        f"cannot apply the model interface to {Path(model_path).name}: "
                        f"{type(exc).__name__}: {exc}"
                    ],
                )
            try:
                simulation = ModelSimulation(prepared)
            except FcError as exc:
                return RunResult("failed", messages=[str(exc)])
            except Exception as exc:  # noqa: BLE001 - e.g. the C compiler failing
                return RunResult(
                    "failed", messages=[f"cannot build the simulation: {type(exc).__name__}: {exc}"]
                )
        elif self.tasks:
            return RunResult(
                "failed", messages=[f"protocol {self.name} has simulation tasks, so needs a model"]
            )
        with np.errstate(all="ignore"):
            outputs, messages = self.execute(simulation, progress=progress, cancel=cancel)
        result = self._result(outputs, messages)
        if output_dir is not None:
            from .outputs import write_outputs

            write_outputs(self, result, Path(output_dir))
        return result

    def execute(
        self, simulation: Any, *, progress: Progress | None = None, cancel: threading.Event | None = None
    ) -> tuple[dict[str, np.ndarray], list[str]]:
        """Library, tasks, post-processing and outputs on a ready simulation; (outputs, error messages)."""
        from .tasks import Cancelled, TaskContext, run_tasks

        messages: list[str] = []
        library_env = self._library_env()
        model_envs = {p: ModelEnvironment(simulation, p) for p in self.namespaces}
        for task in self.tasks:
            if task.prefix:
                placeholder = Environment(label=f"results of {task.prefix}")
                placeholder.prefixes.update(model_envs)
                library_env.prefixes[task.prefix] = placeholder
        post_env = Environment(library_env, label=f"post-processing of {self.name}")
        ok = _phase(messages, lambda: self._execute_library(library_env))
        if ok:

            def run_nested(nested: ast.NestedProtocol, inputs: dict[str, Any]) -> dict[str, np.ndarray]:
                return self._run_nested(nested, inputs, simulation, cancel)

            context = TaskContext(
                simulation=simulation,
                env=library_env,
                namespaces=dict(self.namespaces),
                run_nested=run_nested,
                cancel=cancel,
            )
            total = len(self.tasks)

            def run() -> None:
                # One task at a time, so that each finished simulation's results are published
                # (under its prefix, in the library environment) before the next starts or fails.
                for i, task in enumerate(self.tasks):
                    label = task.prefix or f"simulation {i + 1}"
                    if progress is not None:
                        progress(i, total, label)
                    try:
                        results = run_tasks([task], context)
                    except ProtocolError as exc:
                        # What a failed simulation completed still reaches post-processing.
                        if exc.partial and task.prefix:
                            library_env.prefixes[task.prefix].bindings.update(exc.partial)
                            exc.message = exc.message.rstrip(".") + (
                                f"; post-processing used the iterations of {task.prefix} completed before the failure"
                            )
                            exc.args = (str(exc),)
                        raise
                    if task.prefix:
                        target = library_env.prefixes[task.prefix]
                        target.bindings.update(results.get(task.prefix, {}))
                    if progress is not None:
                        progress(i + 1, total, label)

            ok = _phase(messages, run, cancelled=Cancelled)
            if not (messages and messages[-1].startswith("cancelled")):
                _phase(messages, lambda: execute(self.post_processing, post_env))
        outputs = self._collect_outputs(post_env, messages)
        return outputs, messages

    def _library_env(self) -> Environment:
        env = Environment(self.input_env, label=f"library of {self.name}")
        for prefix, imported in self.imports.items():
            env.add_prefix(prefix, imported._library_env_executed())
        return env

    def _library_env_executed(self) -> Environment:
        """This protocol's library run once, for protocols that import it with a prefix.

        Library statements only define names, and importers only read them,
        so one executed environment serves every run.
        """
        if self._executed_env is None:
            env = self._library_env()
            self._execute_library(env)
            self._executed_env = env
        return self._executed_env

    def _execute_library(self, env: Environment) -> None:
        execute(self.library, env)

    def _run_nested(
        self,
        nested: ast.NestedProtocol,
        inputs: dict[str, Any],
        simulation: Any,
        cancel: threading.Event | None,
    ) -> dict[str, np.ndarray]:
        """A nested protocol's selected outputs, run on this run's simulation."""
        inner = self._nested_protocol(nested, inputs)
        outputs, messages = inner.execute(simulation, cancel=cancel)
        if messages:
            # As in the original engine, any error inside a nested protocol fails the nesting simulation.
            raise error_at(f"nested protocol {inner.name} failed: " + "; ".join(messages), nested.pos)
        selected: dict[str, np.ndarray] = {}
        for select in nested.select_outputs:
            if select.name in outputs:
                selected[select.name] = outputs[select.name]
            elif not select.optional:
                detail = "; ".join(messages) if messages else "it was not produced"
                raise error_at(
                    f"nested protocol {inner.name} did not give output {select.name!r}: {detail}", select.pos
                )
        return selected

    def _nested_protocol(self, nested: ast.NestedProtocol, inputs: dict[str, Any]) -> Protocol:
        """The nested protocol loaded with ``inputs``, loaded once per distinct file and inputs."""
        key = _inputs_key(inputs)
        if key is None:  # inputs we cannot compare: load afresh
            return Protocol(self._nested_path(nested), inputs, folder=self.folder)
        cache_key = (f"{nested.pos.file}:{nested.written or nested.path}", key)
        inner = self._nested.get(cache_key)
        if inner is None:
            inner = Protocol(self._nested_path(nested), inputs, folder=self.folder)
            self._nested[cache_key] = inner
        return inner

    def _collect_outputs(self, env: Environment, messages: list[str]) -> dict[str, np.ndarray]:
        """The declared outputs that were computed; a missing required one is recorded as an error."""
        outputs: dict[str, np.ndarray] = {}
        for spec in self.outputs:
            ref = spec.ref or spec.name
            try:
                value = env.lookup(ref)
            except ProtocolError:
                if not spec.optional:
                    messages.append(
                        _where(spec.pos) + f"output {spec.name!r} could not be computed "
                        f"({ref} is not defined)"
                    )
                continue
            if not isinstance(value, np.ndarray):
                messages.append(_where(spec.pos) + f"output {spec.name!r} is {describe(value)}, not an array")
                continue
            outputs[spec.name] = value
        return outputs

    def _result(self, outputs: dict[str, np.ndarray], messages: list[str]) -> RunResult:
        if not messages:
            status = "success"
        elif outputs:
            status = "partial"
        else:
            status = "failed"
        return RunResult(status, outputs, messages)


def _inputs_key(inputs: dict[str, Any]) -> tuple[Any, ...] | None:
    """A hashable summary of input values that are equal exactly when the values are; None if unsure."""
    parts: list[Any] = []
    for name in sorted(inputs):
        value = inputs[name]
        if isinstance(value, np.ndarray):
            parts.append((name, value.dtype.str, value.shape, value.tobytes()))
        elif isinstance(value, (int, float, str, bool)):
            parts.append((name, type(value).__name__, value))
        else:
            return None
    return tuple(parts)


def _phase(
    messages: list[str], action: Callable[[], None], cancelled: type[BaseException] | None = None
) -> bool:
    """Run one phase, recording its error instead of raising, so the later phases still run."""
    try:
        action()
    except FcError as exc:
        messages.append(str(exc))
        return False
    except Exception as exc:  # noqa: BLE001 - an engine bug must not lose the outputs computed so far
        if cancelled is not None and isinstance(exc, cancelled):
            messages.append("cancelled: the run was cancelled")
            return False
        messages.append(f"internal error: {type(exc).__name__}: {exc}")
        return False
    return True


def _where(pos: ast.Pos) -> str:
    return f"{pos}: " if pos.line else ""


def load_protocol(
    path: str | Path, inputs: dict[str, Any] | None = None, *, root: str | Path | None = None
) -> Protocol:
    """Load a protocol file, with optional input overrides (numbers, lists, or expression text).

    Files the protocol names must lie inside ``root`` (default: the protocol's own folder)
    or the packaged library.
    """
    folder = ProtocolFolder(Path(root)) if root is not None else None
    return Protocol(path, inputs, folder=folder)
