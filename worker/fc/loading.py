"""Loading a protocol: parsing it, evaluating its inputs, merging its imports; what it asks of a model.

Loading parses the file, evaluates the inputs (with overrides applied in
order, so later defaults see them), and loads imports:

* ``import p = "file"`` keeps the imported protocol whole; its library is
  visible here under ``p:`` (``std:Max``);
* ``import "file"`` merges it: its inputs become ours (overridable in
  ``{ ... }``), and its library, tasks, post-processing, outputs and plots are
  prepended to ours.

Imports are found relative to the importing file, then in the packaged
library folder; every file must lie in the protocol's folder (``folder.py``).

The interface (``interface``, ``missing_terms``) applies the one rule of
``terms.model_terms`` (the original engine's analysis of the combined model
interface) to this protocol, its merged imports and the protocols it nests;
a run checks the model with the same rule.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Self

import numpy as np

from . import ast
from .environment import Environment
from .errors import ProtocolError, error_at
from .evaluate import evaluate
from .folder import ProtocolFolder, load_function
from .interface_order import optionals_in_dependency_order
from .parser import parse_expression, parse_file
from .prepared import InterfacePart, parts_of
from .terms import missing_terms, model_terms
from .values import number


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


def to_value(raw: Any) -> Any:
    """A protocol value from a Python number, list, numpy array, or expression text."""
    if isinstance(raw, str):
        return evaluate(parse_expression(raw), Environment())
    if isinstance(raw, (int, float, list, tuple, np.ndarray, np.number)):
        return number(raw)
    return raw


class LoadedProtocol:
    """A protocol file with its imports, inputs and sections merged, and what it asks of a model.

    ``protocol.Protocol`` adds running; protocols this one imports or nests are made with
    ``type(self)``, so they can run too.
    """

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
        self.imports: dict[str, Self] = {}
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
        overrides = {k: to_value(v) for k, v in (inputs or {}).items()}
        self._load(_loading + (key,), overrides)
        unknown = set(overrides) - set(self.input_names)
        if unknown:
            raise ProtocolError(
                f"protocol {self.name} has no input(s) {', '.join(sorted(unknown))}; "
                f"its inputs are: {', '.join(self.input_names) or 'none'}"
            )

    def _another(
        self, path: Path, inputs: dict[str, Any] | None = None, loading: tuple[str, ...] = ()
    ) -> Self:
        """A protocol this one imports or nests: of this protocol's class, reading from the same folder."""
        return type(self)(path, inputs, loading, folder=self.folder)

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
            raise error_at(f"input {name!r} is defined twice", statement.pos)
        self.input_env.define(name, value)
        self.input_names.append(name)
        self.input_values[name] = value

    def _load(self: Self, loading: tuple[str, ...], overrides: dict[str, Any]) -> None:
        """Inputs first (with overrides), then imports (merged or prefixed), then this file's sections."""
        tree = self.ast
        self._merge_namespaces(tree.namespaces, tree.pos)
        for statement in tree.inputs:
            self._define_input(statement, overrides, {})
        for imp in tree.imports:
            path = self.folder.protocol(self.path.parent, imp.path, "import", imp.pos)
            if not path.exists():
                raise error_at(
                    f"imported protocol {imp.path!r} not found (looked next to {self.path.name} "
                    "and in the standard library)",
                    imp.pos,
                )
            import_overrides = {a.names[0]: a.value for a in imp.inputs}
            if imp.prefix:
                values = {name: evaluate(expr, self.input_env) for name, expr in import_overrides.items()}
                try:
                    imported = self._another(path, values, loading)
                except ProtocolError as exc:
                    raise _reraise(exc, imp.pos) from None
                if imp.prefix in self.imports:
                    raise error_at(f"the import prefix {imp.prefix!r} is used twice", imp.pos)
                self.imports[imp.prefix] = imported
            else:
                try:
                    imported = self._another(path, None, loading)
                except ProtocolError as exc:
                    raise _reraise(exc, imp.pos) from None
                for statement in imported.ast_inputs():
                    self._define_input(statement, overrides, import_overrides)
                for prefix, sub in imported.imports.items():
                    if prefix in self.imports:
                        raise error_at(f"the import prefix {prefix!r} is used twice", imp.pos)
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
                result.extend(self._another(path).ast_inputs())
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
            for node in ast.walk(statement):
                if isinstance(node, ast.Interpolate):
                    self.folder.file(self.path.parent, node.path, "interpolate()", node.pos)

    def _merge_namespaces(self, namespaces: dict[str, str], pos: ast.Pos) -> None:
        for prefix, uri in namespaces.items():
            existing = self.namespaces.get(prefix)
            if existing is not None and existing != uri:
                raise error_at(f"namespace prefix {prefix!r} is bound to two URIs", pos)
            self.namespaces[prefix] = uri

    # -- interface ------------------------------------------------------------------------------------
    def nested_protocols(self, _seen: set[str] | None = None) -> list[Self]:
        """Protocols run inside this one's tasks (recursively), for their model interfaces."""
        seen = _seen if _seen is not None else set()
        found: list[Self] = []
        for task in self.tasks:
            for node in ast.walk(task):
                if isinstance(node, ast.NestedProtocol):
                    key = str(self._nested_path(node).resolve())
                    if key not in seen:
                        seen.add(key)
                        inner = self._another(self._nested_path(node))
                        found.append(inner)
                        found.extend(inner.nested_protocols(seen))
        return found

    def interface_parts(self) -> list[InterfacePart]:
        """The model interfaces to apply to a model (``interface.prepare``), optional terms in dependency order."""
        protocols = []
        for tree in self.interface_protocols():
            if tree.model_interface is not None:
                ordered = optionals_in_dependency_order(tree.model_interface, tree.namespaces)
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
        """(required, optional) ontology terms, sorted, by the one rule of ``terms.model_terms``."""
        interfaces = self.interface_protocols()
        required, optional = model_terms(
            (t.model_interface, t.namespaces) for t in interfaces if t.model_interface is not None
        )
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
        from .model import load_model  # myokit is imported only when a model is used

        return self._missing_terms(load_model(model_path))

    def _missing_terms(self, model: Any) -> list[str]:
        required, _optional = self.model_terms()
        return missing_terms(required, model)


def _reraise(exc: ProtocolError, pos: ast.Pos) -> ProtocolError:
    if exc.file is None and pos.line:
        exc.with_location(pos.file, pos.line, pos.column)
    return exc


def _plain(value: Any) -> Any:
    """A JSON-friendly form of an input value."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
