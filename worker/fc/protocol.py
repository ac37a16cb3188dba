"""A loaded protocol: its imports, inputs and sections, its interface, and running it on a model.

Loading (``Protocol.load``) parses the file, evaluates the inputs (with
overrides applied in order, so later defaults see them), and loads imports:

* ``import p = "file"`` keeps the imported protocol whole; its library is
  visible here under ``p:`` (``std:Max``);
* ``import "file"`` merges it: its inputs become ours (overridable in
  ``{ ... }``), and its library, tasks, post-processing, outputs and plots are
  prepended to ours.

Imports are found relative to the importing file, then in the packaged
library folder (BasicLibrary.txt, CardiacLibrary.txt).

Running (``Protocol.run``) follows the original engine: apply the model
interface (a model lacking required terms is *inapplicable*), execute the
libraries, run the tasks (``tasks.run_tasks``), run post-processing, collect
the outputs.  An error in one phase is recorded and the later phases still
run as far as they can, so that every output that can be computed is; the run
is ``partial`` when some outputs could not be, ``failed`` when none could.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from . import ast
from .environment import Environment, ModelEnvironment
from .errors import FcError, InapplicableError, ProtocolError
from .evaluate import evaluate, execute
from .parser import parse_expression, parse_file
from .values import Closure, StringValue, describe, number

Progress = Callable[[int, int, str], None]
LIBRARY_DIR = Path(str(files(__package__).joinpath("library")))


@dataclass
class InputSpec:
    name: str
    default: Any
    units: str | None = None


@dataclass
class OutputSpec:
    name: str
    units: str | None
    description: str | None
    optional: bool = False


@dataclass
class ProtocolInterface:
    """What a protocol needs from a model and what it produces."""

    required_terms: list[str]
    optional_terms: list[str]
    inputs: list[InputSpec]
    outputs: list[OutputSpec]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunResult:
    status: str  # "success" | "partial" | "failed" | "inapplicable"
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    missing_terms: list[str] = field(default_factory=list)


@lru_cache(maxsize=128)
def _parse_cached(path: str, mtime: float) -> ast.Protocol:
    return parse_file(path)


def parse_protocol(path: str | Path) -> ast.Protocol:
    """Parse a protocol file, reusing an earlier parse of the same unchanged file."""
    p = Path(path)
    try:
        mtime = p.stat().st_mtime
    except OSError as exc:
        raise ProtocolError(f"cannot read protocol file: {exc.strerror or exc}", str(p), 0, 0) from None
    return _parse_cached(str(p), mtime)


def resolve_import(base: str | Path, relative: str) -> Path:
    """An imported or nested protocol's path: next to the importing file, else in the packaged library."""
    candidate = Path(base).parent / relative
    if candidate.exists() or Path(relative).is_absolute():
        return candidate
    packaged = LIBRARY_DIR / relative
    if packaged.exists():
        return packaged
    return candidate


def to_value(raw: Any) -> Any:
    """A protocol value from a Python number, list, numpy array, or expression text."""
    if isinstance(raw, str):
        return evaluate(parse_expression(raw), Environment())
    if isinstance(raw, (int, float, list, tuple, np.ndarray, np.number)):
        return number(raw)
    return raw


class Protocol:
    """A protocol file with its imports, inputs and sections merged, ready to run."""

    def __init__(
        self, path: str | Path, inputs: dict[str, Any] | None = None, _loading: tuple[str, ...] = ()
    ) -> None:
        self.path = Path(path)
        key = str(self.path.resolve())
        if key in _loading:
            raise ProtocolError("protocol imports itself (import cycle)", str(self.path), 0, 0)
        self.ast = parse_protocol(self.path)
        self.name = self.path.stem
        self.namespaces: dict[str, str] = {}
        self.imports: dict[str, Protocol] = {}
        self.library: list[ast.Statement] = []
        self.tasks: list[ast.Simulation] = []
        self.post_processing: list[ast.Statement] = []
        self.outputs: list[ast.OutputSpec] = []
        self.plots: list[ast.PlotSpec] = []
        self.interface_asts: list[ast.Protocol] = []  # this protocol and its merged imports
        self.input_env = Environment(allow_overwrite=True, label=f"inputs of {self.name}")
        self.input_names: list[str] = []
        self.input_values: dict[str, Any] = {}
        self.input_env.bindings["load"] = load_function(self.path.parent)
        overrides = {k: to_value(v) for k, v in (inputs or {}).items()}
        self._load(_loading + (key,), overrides)
        unknown = set(overrides) - set(self.input_names)
        if unknown:
            raise ProtocolError(
                f"protocol {self.name} has no input(s) {', '.join(sorted(unknown))}; "
                f"its inputs are: {', '.join(self.input_names) or 'none'}"
            )

    # -- loading --------------------------------------------------------------------------------------
    def _define_input(
        self, statement: ast.Assign, overrides: dict[str, Any], override_exprs: dict[str, ast.Expr]
    ) -> None:
        name = statement.names[0]
        if name in overrides:
            value = overrides[name]
        elif name in override_exprs:
            value = evaluate(override_exprs[name], self.input_env)
        else:
            value = evaluate(statement.value, self.input_env)
        if name in self.input_env.bindings:
            raise ProtocolError(f"input {name!r} is defined twice", *_loc(statement.pos))
        self.input_env.define(name, value)
        self.input_names.append(name)
        self.input_values[name] = value

    def _load(self, loading: tuple[str, ...], overrides: dict[str, Any]) -> None:
        tree = self.ast
        self._merge_namespaces(tree.namespaces, tree.pos)
        for statement in tree.inputs:
            self._define_input(statement, overrides, {})
        for imp in tree.imports:
            path = resolve_import(self.path, imp.path)
            if not path.exists():
                raise ProtocolError(
                    f"imported protocol {imp.path!r} not found (looked next to {self.path.name} "
                    "and in the standard library)",
                    *_loc(imp.pos),
                )
            import_overrides = {a.names[0]: a.value for a in imp.inputs}
            if imp.prefix:
                values = {name: evaluate(expr, self.input_env) for name, expr in import_overrides.items()}
                try:
                    imported = Protocol(path, values, loading)
                except ProtocolError as exc:
                    raise _reraise(exc, imp.pos) from None
                if imp.prefix in self.imports:
                    raise ProtocolError(f"the import prefix {imp.prefix!r} is used twice", *_loc(imp.pos))
                self.imports[imp.prefix] = imported
            else:
                try:
                    imported = Protocol(path, None, loading)
                except ProtocolError as exc:
                    raise _reraise(exc, imp.pos) from None
                for statement in imported.ast_inputs():
                    self._define_input(statement, overrides, import_overrides)
                for prefix, sub in imported.imports.items():
                    if prefix in self.imports:
                        raise ProtocolError(f"the import prefix {prefix!r} is used twice", *_loc(imp.pos))
                    self.imports[prefix] = sub
                self.library.extend(imported.library)
                self.tasks.extend(imported.tasks)
                self.post_processing.extend(imported.post_processing)
                self.outputs.extend(imported.outputs)
                self.plots.extend(imported.plots)
                self.interface_asts.extend(imported.interface_asts)
                self._merge_namespaces(imported.namespaces, imp.pos)
        self.library.extend(tree.library)
        self.tasks.extend(tree.tasks)
        self.post_processing.extend(tree.post_processing)
        self.outputs.extend(tree.outputs)
        self.plots.extend(tree.plots)
        self.interface_asts.insert(0, tree)

    def ast_inputs(self) -> list[ast.Assign]:
        """This protocol's input statements including those of merged imports, in definition order."""
        result: list[ast.Assign] = []
        for imp in self.ast.imports:
            if not imp.prefix:
                result.extend(Protocol(resolve_import(self.path, imp.path)).ast_inputs())
        result.extend(self.ast.inputs)
        return result

    def _merge_namespaces(self, namespaces: dict[str, str], pos: ast.Pos) -> None:
        for prefix, uri in namespaces.items():
            existing = self.namespaces.get(prefix)
            if existing is not None and existing != uri:
                raise ProtocolError(f"namespace prefix {prefix!r} is bound to two URIs", *_loc(pos))
            self.namespaces[prefix] = uri

    # -- interface ------------------------------------------------------------------------------------
    def nested_protocols(self, _seen: set[str] | None = None) -> list[Protocol]:
        """Protocols run inside this one's tasks (recursively), for their model interfaces."""
        seen = _seen if _seen is not None else set()
        found: list[Protocol] = []

        def walk(node: Any, base: Path) -> None:
            if isinstance(node, ast.Simulation):
                walk(node.body, base)
            elif isinstance(node, ast.Nested):
                walk(node.nested, base)
            elif isinstance(node, ast.NestedProtocol):
                key = str(Path(node.path).resolve())
                if key not in seen:
                    seen.add(key)
                    inner = Protocol(node.path)
                    found.append(inner)
                    found.extend(inner.nested_protocols(seen))

        for task in self.tasks:
            walk(task, self.path)
        return found

    def interface_parts(self) -> list[Any]:
        from .interface import parts_of

        protocols = list(self.interface_asts)
        for nested in self.nested_protocols():
            protocols.extend(nested.interface_asts)
        return parts_of(protocols)

    def interface(self) -> ProtocolInterface:
        from .interface import interface_terms

        required, optional = interface_terms(self.interface_parts())
        inputs = [InputSpec(name, _plain(self.input_values[name])) for name in self.input_names]
        return ProtocolInterface(sorted(required), sorted(optional), inputs, self.interface_outputs())

    def interface_outputs(self) -> list[OutputSpec]:
        """The declared outputs; a reference to a simulation result takes the model output's units."""
        output_units = self._model_output_units()
        outputs = []
        for spec in self.outputs:
            units = spec.units
            if units is None and spec.ref is not None:
                units = output_units.get(spec.ref.rsplit(":", 1)[-1])
            outputs.append(OutputSpec(spec.name, units, spec.description, spec.optional))
        return outputs

    def _model_output_units(self) -> dict[str, str]:
        """Units of model outputs by local name (time without units is in the independent variable's units)."""
        units: dict[str, str] = {}
        for tree in self.interface_asts:
            if tree.model_interface is None:
                continue
            time_units = tree.model_interface.independent_var_units
            for s in tree.model_interface.statements:
                if isinstance(s, ast.OutputVariable):
                    local = s.name.rsplit(":", 1)[-1]
                    if s.units:
                        units.setdefault(local, s.units)
                    elif local == "time" and time_units:
                        units.setdefault(local, time_units)
        return units

    def missing_terms(self, model_path: str | Path) -> list[str]:
        """Required ontology terms the model lacks (empty when the protocol applies)."""
        from .interface import prepare

        try:
            prepare(model_path, self.interface_parts(), self.input_env)
        except InapplicableError as exc:
            return list(exc.missing_terms)
        return []

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
        from .interface import prepare
        from .simulation import ModelSimulation

        simulation: Any = None
        if model_path is not None:
            try:
                prepared = prepare(model_path, self.interface_parts(), self.input_env)
            except InapplicableError as exc:
                return RunResult("inapplicable", messages=[str(exc)], missing_terms=list(exc.missing_terms))
            except FcError as exc:
                return RunResult("failed", messages=[str(exc)])
            except Exception as exc:  # noqa: BLE001 - an unreadable or invalid model file
                return RunResult(
                    "failed", messages=[f"cannot load model {model_path}: {type(exc).__name__}: {exc}"]
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
                    results = run_tasks([task], context)
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
        env = self._library_env()
        self._execute_library(env)
        return env

    def _execute_library(self, env: Environment) -> None:
        execute(self.library, env)

    def _run_nested(
        self,
        nested: ast.NestedProtocol,
        inputs: dict[str, Any],
        simulation: Any,
        cancel: threading.Event | None,
    ) -> dict[str, np.ndarray]:
        inner = Protocol(nested.path, inputs)
        outputs, messages = inner.execute(simulation, cancel=cancel)
        if messages:
            # As in the original engine, any error inside a nested protocol fails the nesting simulation.
            raise ProtocolError(
                f"nested protocol {inner.name} failed: " + "; ".join(messages), *_loc(nested.pos)
            )
        selected: dict[str, np.ndarray] = {}
        for select in nested.select_outputs:
            if select.name in outputs:
                selected[select.name] = outputs[select.name]
            elif not select.optional:
                detail = "; ".join(messages) if messages else "it was not produced"
                raise ProtocolError(
                    f"nested protocol {inner.name} did not give output {select.name!r}: {detail}",
                    *_loc(select.pos),
                )
        return selected

    def _collect_outputs(self, env: Environment, messages: list[str]) -> dict[str, np.ndarray]:
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


def _phase(
    messages: list[str], action: Callable[[], None], cancelled: type[BaseException] | None = None
) -> bool:
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


def _loc(pos: ast.Pos) -> tuple[str | None, int | None, int | None]:
    if pos.line:
        return pos.file, pos.line, pos.column
    return None, None, None


def _reraise(exc: ProtocolError, pos: ast.Pos) -> ProtocolError:
    if exc.file is None and pos.line:
        exc.with_location(pos.file, pos.line, pos.column)
    return exc


def _plain(value: Any) -> Any:
    """A JSON-friendly form of an input value."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def load_function(base: Path) -> Closure:
    """The ``load("file.csv")`` built-in: a data file (legacy 2-d CSV layout) relative to the protocol."""

    def load(args: list[Any]) -> np.ndarray:
        if len(args) != 1 or not isinstance(args[0], StringValue):
            raise ProtocolError("load() takes one argument: the path of a data file, as a string")
        path = base / args[0].value
        try:
            data = np.loadtxt(path, dtype=float, delimiter=",", ndmin=2, unpack=True, comments="#")
        except OSError as exc:
            raise ProtocolError(f"load(): cannot read {path}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise ProtocolError(f"load(): {path} is not a CSV of numbers: {exc}") from None
        return number(data)

    return Closure(["path"], [None], builtin=load, name="load")


def load_protocol(path: str | Path, inputs: dict[str, Any] | None = None) -> Protocol:
    """Load a protocol file, with optional input overrides (numbers, lists, or expression text)."""
    return Protocol(path, inputs)
