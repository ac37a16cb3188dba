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

Protocol text is untrusted (users upload protocols), so every file it names
(``import``, nested ``protocol "..."``, ``load("...")``, ``interpolate("...")``)
must lie inside the protocol's own folder tree (``ProtocolFolder``: the folder
of the protocol first loaded, or the ``root`` given to ``load_protocol``) or
the packaged library: absolute paths, ``..`` that climbs out and symbolic
links that lead out are refused with a located ``ProtocolError``.

The interface (``Protocol.interface``, ``Protocol.missing_terms``) follows the
original engine's analysis of the combined model interface (``model_terms``):
outputs, plain clamps and inputs are required; a term given an equation
(``define``, ``clamp ... to``) or an input with units and a value can be
created, so is optional; terms used in equations are required; ``optional``
terms and the terms in their defaults are optional; terms used only in
``convert`` rules are optional.

Running (``Protocol.run``) follows the original engine: apply the model
interface (a model lacking required terms is *inapplicable*), execute the
libraries, run the tasks (``tasks.run_tasks``), run post-processing, collect
the outputs.  An error in one phase is recorded and the later phases still
run as far as they can, so that every output that can be computed is; the run
is ``partial`` when some outputs could not be, ``failed`` when none could.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from importlib.resources import files
from pathlib import Path, PurePosixPath, PureWindowsPath
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
OXMETA_NS = "https://chaste.comlab.ox.ac.uk/cellml/ns/oxford-metadata#"
LOCAL_NS = "urn:fc:local#"
STATE_VARIABLE = OXMETA_NS + "state_variable"


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


def _lexical(path: Path) -> Path:
    """An absolute path with ``.`` and ``..`` removed, without following symbolic links."""
    return Path(os.path.normpath(os.path.abspath(path)))


def _within(path: Path, roots: Iterable[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


@dataclass(frozen=True)
class ProtocolFolder:
    """The folder tree that a protocol's text may read files from (and the packaged library).

    Shared by a protocol and everything it imports or nests, so that an
    imported file cannot reach further than the protocol first loaded.
    """

    root: Path

    def _roots(self) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
        lexical = (_lexical(self.root), _lexical(LIBRARY_DIR))
        return lexical, (self.root.resolve(), LIBRARY_DIR.resolve())

    def file(self, base_dir: str | Path, written: str, what: str, pos: ast.Pos | None = None) -> Path:
        """The file that ``written`` (a path in protocol text) names, relative to ``base_dir``.

        Raises ``ProtocolError`` (located at ``pos``) when the path is absolute or leaves
        the allowed folders, by ``..`` or through a symbolic link.
        """
        loc = _loc(pos) if pos is not None else (None, None, None)
        if not written:
            raise ProtocolError(f"{what}: the file name is empty", *loc)
        if PurePosixPath(written).is_absolute() or PureWindowsPath(written).drive:
            raise ProtocolError(
                f"{what} {written!r}: absolute paths are not allowed; name a file in the "
                "protocol's own folder by a relative path",
                *loc,
            )
        candidate = _lexical(Path(base_dir) / written)
        lexical_roots, resolved_roots = self._roots()
        if not _within(candidate, lexical_roots):
            raise ProtocolError(
                f"{what} {written!r}: '..' leads outside the protocol's folder; "
                "only files inside it (or the standard library) can be read",
                *loc,
            )
        if not _within(candidate.resolve(), resolved_roots):
            raise ProtocolError(
                f"{what} {written!r}: a symbolic link leads outside the protocol's folder; "
                "only files inside it (or the standard library) can be read",
                *loc,
            )
        return candidate

    def check_protocol(self, path: Path) -> None:
        """Refuse a protocol file that is itself outside the folder (e.g. a symbolic link out of it)."""
        lexical_roots, resolved_roots = self._roots()
        if not (_within(_lexical(path), lexical_roots) and _within(path.resolve(), resolved_roots)):
            raise ProtocolError(f"protocol file {path} is outside the protocol folder {self.root}")

    def protocol(self, base_dir: Path, written: str, what: str, pos: ast.Pos | None = None) -> Path:
        """An imported or nested protocol: in ``base_dir`` (the importing file's), else in the packaged library."""
        candidate = self.file(base_dir, written, what, pos)
        if candidate.exists():
            return candidate
        if ".." not in PurePosixPath(written).parts:
            packaged = LIBRARY_DIR / written
            if packaged.is_file() and _within(packaged.resolve(), (LIBRARY_DIR.resolve(),)):
                return packaged
        return candidate


def resolve_import(base: str | Path, relative: str) -> Path:
    """An imported protocol's path: next to the importing file ``base``, else in the packaged library."""
    folder = Path(base).parent
    return ProtocolFolder(folder).protocol(folder, relative, "import")


# --------------------------------------------------------------------------------------------------
# Required and optional ontology terms (no model needed)
# --------------------------------------------------------------------------------------------------


def _term(name: str, namespaces: dict[str, str]) -> str | None:
    """The full IRI of a prefixed name in a model interface; None for a plain (``var``) name."""
    if ":" not in name:
        return None
    prefix, local = name.split(":", 1)
    if prefix in namespaces:
        return namespaces[prefix] + local
    if prefix == "oxmeta":
        return OXMETA_NS + local
    if prefix == "local":
        return LOCAL_NS + local
    return None


def _names(expr: Any) -> list[str]:
    """Variable names (and ``units_of(name)`` references) used in an expression."""
    found: list[str] = []
    for node in _walk(expr):
        if isinstance(node, ast.Name):
            found.append(node.name)
        elif isinstance(node, ast.Number) and node.units and node.units.startswith("units_of("):
            found.append(node.units[len("units_of(") : -1].strip())
    return found


def model_terms(protocols: Iterable[ast.Protocol]) -> tuple[set[str], set[str]]:
    """(required, optional) ontology terms of the combined model interface of ``protocols``.

    As the original engine's ``get_required_model_annotations``: outputs, plain clamps
    and inputs without both units and a value are *maybe required*; a term given an
    equation (``define x = e``, ``clamp x to e``) or an input with units and a value can be
    created, so is optional; the terms in equations, and both sides of ``diff(x; t)``, are
    maybe required; ``optional`` terms and the terms in their defaults are optional; terms in
    ``convert`` rules are optional unless used elsewhere.
    """
    maybe_required: set[str] = set()
    maybe_optional: set[str] = set()
    optional: set[str] = set()
    declared: set[str] = set()  # ``var`` names, which ``local:name`` may also reach
    for protocol in protocols:
        if protocol.model_interface is None:
            continue
        ns = protocol.namespaces
        declared.update(
            LOCAL_NS + s.name
            for s in protocol.model_interface.statements
            if isinstance(s, ast.DeclareVariable)
        )

        def add(names: Iterable[str], into: set[str], ns: dict[str, str] = ns) -> None:
            for name in names:
                iri = _term(name, ns)
                if iri is not None:
                    into.add(iri)

        for s in protocol.model_interface.statements:
            if isinstance(s, ast.UnitsConversion):
                add(_names(s.rule), maybe_optional)
            elif isinstance(s, ast.OutputVariable):
                add([s.name], maybe_required)
            elif isinstance(s, ast.ClampVariable):
                if s.value is None:
                    add([s.name], maybe_required)
                else:
                    add(_names(s.value), maybe_required)
                    add([s.name], optional)
            elif isinstance(s, ast.InputVariable):
                creatable = s.units is not None and s.initial_value is not None
                add([s.name], optional if creatable else maybe_required)
            elif isinstance(s, ast.DefineEquation):
                add(_names(s.value), maybe_required)
                if s.wrt:
                    add([s.name, s.wrt], maybe_required)
                else:
                    add([s.name], optional)
            elif isinstance(s, ast.OptionalVariable):
                add([s.name], optional)
                if s.default is not None:
                    add(_names(s.default), optional)
        # ``input T = v`` with ``define diff(T; t) = e`` creates T as a new state when the model
        # lacks it (test_create_annotated_no_units, which the original engine runs on a model
        # without T; its compatibility check alone would have called T required).
        valued: set[str] = set()
        odes: set[str] = set()
        for s in protocol.model_interface.statements:
            if isinstance(s, ast.InputVariable) and s.initial_value is not None:
                add([s.name], valued)
            elif isinstance(s, ast.DefineEquation) and s.wrt:
                add([s.name], odes)
        optional |= valued & odes
    optional |= maybe_optional - maybe_required
    return maybe_required - optional - declared, optional - declared


def _in_dependency_order(interface: ast.ModelInterface, namespaces: dict[str, str]) -> ast.ModelInterface:
    """The interface with its ``optional`` declarations ordered so that a default follows the
    optional terms it uses (``optional a default b + c`` after ``optional b default 0``).

    The original engine creates missing optional variables in dependency order; the model
    side applies them in the order given, so the order is fixed here.
    """
    statements = interface.statements
    optionals = [s for s in statements if isinstance(s, ast.OptionalVariable)]
    by_term = {_term(s.name, namespaces): s for s in optionals}
    ordered: list[ast.OptionalVariable] = []
    placed: set[int] = set()
    visiting: set[int] = set()

    def place(s: ast.OptionalVariable) -> None:
        if id(s) in placed or id(s) in visiting:
            return
        visiting.add(id(s))
        for name in _names(s.default) if s.default is not None else []:
            used = by_term.get(_term(name, namespaces))
            if used is not None and used is not s:
                place(used)
        visiting.discard(id(s))
        placed.add(id(s))
        ordered.append(s)

    for s in optionals:
        place(s)
    if ordered == optionals:
        return interface
    queue = iter(ordered)
    reordered = [next(queue) if isinstance(s, ast.OptionalVariable) else s for s in statements]
    return replace(interface, statements=reordered)


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
        self,
        path: str | Path,
        inputs: dict[str, Any] | None = None,
        _loading: tuple[str, ...] = (),
        *,
        folder: ProtocolFolder | None = None,
    ) -> None:
        self.path = Path(path)
        if folder is None:
            folder = ProtocolFolder(self.path.parent)
        else:
            folder.check_protocol(self.path)
        self.folder = folder
        key = str(self.path.resolve())
        if key in _loading:
            raise ProtocolError("protocol imports itself (import cycle)", str(self.path), 0, 0)
        self.ast = parse_protocol(self.path)
        self._check_interface_files(self.ast)
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
        self.input_env.bindings["load"] = load_function(self.path.parent, folder)
        # Nested protocols by (file, inputs), and this protocol's executed library
        # environment as an import: a SteadyStateRunner nests SinglePace once per
        # pace, so loading and running libraries once saves that work on every pace.
        self._nested: dict[tuple[str, tuple[Any, ...]], Protocol] = {}
        self._executed_env: Environment | None = None
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
            path = self.folder.protocol(self.path.parent, imp.path, "import", imp.pos)
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
                    imported = Protocol(path, values, loading, folder=self.folder)
                except ProtocolError as exc:
                    raise _reraise(exc, imp.pos) from None
                if imp.prefix in self.imports:
                    raise ProtocolError(f"the import prefix {imp.prefix!r} is used twice", *_loc(imp.pos))
                self.imports[imp.prefix] = imported
            else:
                try:
                    imported = Protocol(path, None, loading, folder=self.folder)
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
                path = self.folder.protocol(self.path.parent, imp.path, "import", imp.pos)
                result.extend(Protocol(path, folder=self.folder).ast_inputs())
        result.extend(self.ast.inputs)
        return result

    def _nested_path(self, nested: ast.NestedProtocol) -> Path:
        """A nested protocol's file, checked to lie inside the protocol's folder."""
        if not nested.written:  # a node built without the parser
            return Path(nested.path)
        base = Path(nested.pos.file).parent if nested.pos.line else self.path.parent
        return self.folder.protocol(base, nested.written, "nested protocol", nested.pos)

    def _check_interface_files(self, tree: ast.Protocol) -> None:
        """Refuse ``interpolate("file")`` data files outside the folder before any model code reads them."""
        if tree.model_interface is None:
            return
        for statement in tree.model_interface.statements:
            for node in _walk(statement):
                if isinstance(node, ast.Interpolate):
                    self.folder.file(self.path.parent, node.path, "interpolate()", node.pos)

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
                path = self._nested_path(node)
                key = str(path.resolve())
                if key not in seen:
                    seen.add(key)
                    inner = Protocol(path, folder=self.folder)
                    found.append(inner)
                    found.extend(inner.nested_protocols(seen))

        for task in self.tasks:
            walk(task, self.path)
        return found

    def interface_parts(self) -> list[Any]:
        from .interface import parts_of

        protocols = []
        for tree in self.interface_protocols():
            if tree.model_interface is not None:
                ordered = _in_dependency_order(tree.model_interface, tree.namespaces)
                if ordered is not tree.model_interface:
                    tree = replace(tree, model_interface=ordered)
            protocols.append(tree)
        return parts_of(protocols)

    def interface_protocols(self) -> list[ast.Protocol]:
        """The syntax trees whose model interfaces combine: this protocol, its merged imports, nested protocols."""
        protocols = list(self.interface_asts)
        for nested in self.nested_protocols():
            protocols.extend(nested.interface_asts)
        return protocols

    def model_terms(self) -> tuple[list[str], list[str]]:
        """(required, optional) ontology terms, sorted; see ``model_terms``."""
        required, optional = model_terms(self.interface_protocols())
        return sorted(required), sorted(optional)

    def interface(self) -> ProtocolInterface:
        required, optional = self.model_terms()
        inputs = [InputSpec(name, _plain(self.input_values[name])) for name in self.input_names]
        return ProtocolInterface(required, optional, inputs, self.interface_outputs())

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
        """Required ontology terms the model lacks (empty when the protocol applies).

        Compares the protocol's required terms with the model's annotations only, as the
        original engine's compatibility check does: whether the model interface can then
        be applied is the run's business (a run reports its own failure).
        """
        from .model import load_model

        return self._missing_terms(load_model(model_path))

    def _missing_terms(self, model: Any) -> list[str]:
        required, _optional = self.model_terms()
        return [t for t in required if t != STATE_VARIABLE and not model.has_term(t)]

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
        inner = self._nested_protocol(nested, inputs)
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


def load_function(base: Path, folder: ProtocolFolder | None = None) -> Closure:
    """The ``load("file.csv")`` built-in: a data file (legacy 2-d CSV layout) relative to the protocol.

    Only files inside ``folder`` (default: ``base``) can be read.
    """
    allowed = folder if folder is not None else ProtocolFolder(base)

    def load(args: list[Any]) -> np.ndarray:
        if len(args) != 1 or not isinstance(args[0], StringValue):
            raise ProtocolError("load() takes one argument: the path of a data file, as a string")
        path = allowed.file(base, args[0].value, "load()")
        try:
            data = np.loadtxt(path, dtype=float, delimiter=",", ndmin=2, unpack=True, comments="#")
        except OSError as exc:
            raise ProtocolError(f"load(): cannot read {path}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise ProtocolError(f"load(): {path} is not a CSV of numbers: {exc}") from None
        return number(data)

    return Closure(["path"], [None], builtin=load, name="load")


def load_protocol(
    path: str | Path, inputs: dict[str, Any] | None = None, *, root: str | Path | None = None
) -> Protocol:
    """Load a protocol file, with optional input overrides (numbers, lists, or expression text).

    Files the protocol names must lie inside ``root`` (default: the protocol's own folder)
    or the packaged library.
    """
    folder = ProtocolFolder(Path(root)) if root is not None else None
    return Protocol(path, inputs, folder=folder)


def _walk(node: Any) -> Iterable[ast.Node]:
    """Every syntax node under ``node`` (itself included)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, ast.Node):
            yield item
            stack.extend(vars(item).values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
