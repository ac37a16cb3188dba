"""Apply a protocol's ``model interface`` to a myokit model.

``prepare`` loads the model, works on a clone of it and returns a
``PreparedModel``: the modified myokit model plus, for every ontology term
the protocol names, a ``Binding`` saying which myokit variables it stands
for, what kind they are (state, constant, intermediate, time) and how to
convert between model and protocol units.

The statements, in the order they are applied (the order they appear in the
protocol does not matter, as in the original engine):

* ``var name units u [= v]`` adds a variable to the model;
* ``input T [units u] [= v]`` makes T settable: a state keeps its equation
  (``= v`` sets its initial value), anything else becomes a literal constant
  that ``Simulation.set_constant`` changes without recompiling; with units
  and a value, a missing T is created;
* ``clamp T [to e]`` and ``define T = e`` / ``define diff(T; t) = e``
  replace T's equation (a clamped state stops being a state);
* ``optional T [default e]``: T may be missing; with a default it is created;
* ``output T [units u]`` records T (all the members of a category term, or
  every state for ``oxmeta:state_variable``), converted to ``u``;
* ``convert A to B by lambda rhs: ...`` rules convert between units of
  different dimensions (currents per area ↔ per capacitance ↔ absolute);
* ``independent var units u`` gives the units of the time axis.

Units a term is given by ``input``/``output ... units u`` are *its protocol units*: an
input value written without units, and ``n :: units_of(T)``, are in them (else in the
model's units of T). In a define, ``original_definition`` is the equation it replaces;
defines run in dependency order (one may use a variable a later one creates).
``input T = v`` with ``define diff(T; t) = e`` creates T as a new state when the model
lacks it. ``interpolate("file.csv", x, x_units, y_units)`` becomes a piecewise-linear
expression of x over the file's table.

Expressions in ``define`` / ``clamp`` / ``optional ... default`` become myokit
expressions with units tracked through them: a variable is read in model
units, a number with units (``0 :: mV``) in its own, and conversion factors
are inserted wherever units of the same dimension meet, so the result is in
the units of the variable it defines.

A ``define`` of the form ``if (t >= offset && [t <= end &&]
(t - offset) - floor((t - offset) / period) * period <= duration) then
amplitude else 0`` (the standard stimulus) becomes ``amplitude * pace`` with
a myokit pacing protocol built from the current offset/period/duration/end
values, so the solver steps exactly to every pulse edge.

Required terms missing from the model raise ``InapplicableError`` listing
all of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import myokit
import numpy as np

from . import ast
from .errors import InapplicableError, ProtocolError
from .model import OXMETA, STATE_VARIABLE, AnnotatedModel, category_members, load_model
from .units import IDENTITY, Conversion, UnitStore, conversion

PROTOCOL_COMPONENT = "fc_protocol"
PACE_QNAME = f"{PROTOCOL_COMPONENT}.pace"
LOCAL_NS = "urn:fc:local#"  # ``local:x`` terms: variables the protocol adds to the model
VAR_NS = "urn:fc:var#"  # bare names: ``var`` declarations
ORIGINAL_DEFINITION = "original_definition"  # in a define: the equation it replaces
MAX_STEP_MS = 0.5


@dataclass
class Binding:
    """What one protocol name (an ontology term or a local ``var``) means in the model."""

    term: str
    local_name: str
    qnames: list[str]
    kinds: list[str]  # per variable: "state", "constant", "intermediate" or "time"
    conversions: list[Conversion]  # per variable: model units -> protocol units
    vector: bool = False

    @property
    def conversion(self) -> _VectorConversion:
        return _VectorConversion(self.conversions, self.vector)


@dataclass
class _VectorConversion:
    parts: list[Conversion]
    vector: bool

    def forward(self, values):  # type: ignore[no-untyped-def]
        if all(c.is_identity for c in self.parts):
            return values
        values = np.asarray(values, dtype=float)
        factor = np.array([c.factor for c in self.parts])
        shift = np.array([c.shift for c in self.parts])
        if not self.vector:
            factor, shift = factor[0], shift[0]
        return values * factor + shift

    def inverse(self, values):  # type: ignore[no-untyped-def]
        if all(c.is_identity for c in self.parts):
            return values
        values = np.asarray(values, dtype=float)
        factor = np.array([c.factor for c in self.parts])
        shift = np.array([c.shift for c in self.parts])
        if not self.vector:
            factor, shift = factor[0], shift[0]
        return (values - shift) / factor


@dataclass
class PulseTrain:
    """A square-wave stimulus driven by myokit pacing; each field is a constant's qname or a number."""

    offset: str | float
    period: str | float
    duration: str | float
    end: str | float | None = None


@dataclass
class PreparedModel:
    """A model with a protocol's interface applied, ready to compile."""

    model: myokit.Model
    source: AnnotatedModel
    namespaces: dict[str, str]
    bindings: dict[str, Binding]  # by term IRI (VAR_NS + name for ``var`` declarations)
    outputs: list[str]  # terms recorded by simulations, in declaration order
    time_qname: str
    time_conversion: Conversion  # model time units -> protocol time units
    pulse: PulseTrain | None = None
    max_step: float | None = None  # in model time units
    missing_optional: list[str] = field(default_factory=list)

    def lookup(self, name: str) -> Binding | None:
        """A binding by full IRI, ``prefix:local`` or bare local name."""
        if name in self.bindings:
            return self.bindings[name]
        iri = _expand(name, self.namespaces)
        if iri in self.bindings:
            return self.bindings[iri]
        for binding in self.bindings.values():
            if binding.local_name == name:
                return binding
        return None


@dataclass
class InterfacePart:
    """One protocol's model interface with the namespaces and units it was written against."""

    interface: ast.ModelInterface
    namespaces: dict[str, str]
    units: list[ast.UnitsDef]


def parts_of(protocols: Iterable[ast.Protocol]) -> list[InterfacePart]:
    """The interface parts of a protocol and the protocols it nests (give them all)."""
    parts = []
    for protocol in protocols:
        if protocol.model_interface is not None:
            parts.append(
                InterfacePart(protocol.model_interface, dict(protocol.namespaces), list(protocol.units))
            )
    return parts


# --------------------------------------------------------------------------------------------------
# Required terms (no model needed)
# --------------------------------------------------------------------------------------------------


def interface_terms(parts: Sequence[InterfacePart]) -> tuple[list[str], list[str]]:
    """(required, optional) ontology term IRIs that the interface parts use."""
    required: set[str] = set()
    optional: set[str] = set()
    creatable: set[str] = set()
    for part in parts:
        ns = part.namespaces
        declared = {s.name for s in part.interface.statements if isinstance(s, ast.DeclareVariable)}
        creatable |= _created_states(part.interface, ns)
        for s in part.interface.statements:
            if isinstance(s, ast.OptionalVariable):
                optional.add(_expand(s.name, ns))
            elif isinstance(s, ast.InputVariable) and s.units is not None and s.initial_value is not None:
                creatable.add(_expand(s.name, ns))
            elif isinstance(s, ast.DefineEquation) and not s.wrt:
                # A define replaces the variable's equation, or adds the variable when the model lacks it.
                creatable.add(_expand(s.name, ns))
        for s in part.interface.statements:
            for name in _names_in_statement(s):
                if name in declared or ":" not in name:
                    continue
                iri = _expand(name, ns)
                if iri.startswith((LOCAL_NS, VAR_NS)):
                    continue
                required.add(iri)
    required -= optional | creatable
    optional -= creatable
    return sorted(required), sorted(optional)


def _created_states(interface: ast.ModelInterface, ns: dict[str, str]) -> set[str]:
    """Terms the interface creates as new states: ``input T = v`` together with ``define diff(T; t)``."""
    valued = {
        _expand(s.name, ns)
        for s in interface.statements
        if isinstance(s, ast.InputVariable) and s.initial_value is not None
    }
    odes = {_expand(s.name, ns) for s in interface.statements if isinstance(s, ast.DefineEquation) and s.wrt}
    return valued & odes


def _names_in_statement(s: ast.InterfaceStatement) -> list[str]:
    if isinstance(s, (ast.InputVariable, ast.OutputVariable)):
        return [s.name]
    if isinstance(s, ast.ClampVariable):
        return [s.name] + (_names_in_expr(s.value) if s.value is not None else [])
    if isinstance(s, ast.DefineEquation):
        names = _names_in_expr(s.value)
        if s.wrt:
            names.append(s.wrt)
        return [s.name] + names
    if isinstance(s, ast.OptionalVariable):
        return [s.name]
    return []


def _names_in_expr(expr: ast.Expr | None) -> list[str]:
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, ast.Name):
            found.append(node.name)
        elif isinstance(node, ast.Number) and node.units and node.units.startswith("units_of("):
            found.append(node.units[len("units_of(") : -1].strip())
        if isinstance(node, ast.Node):
            for value in vars(node).values():
                if isinstance(value, list):
                    for item in value:
                        walk(item)
                elif isinstance(value, ast.Node):
                    walk(value)

    walk(expr)
    return found


def _expand(name: str, namespaces: dict[str, str]) -> str:
    if "://" in name or name.startswith("urn:"):
        return name
    if ":" in name:
        prefix, local = name.split(":", 1)
        if prefix == "local":
            return LOCAL_NS + local
        if prefix in namespaces:
            return namespaces[prefix] + local
        if prefix == "oxmeta":
            return OXMETA + local
        raise ProtocolError(f"unknown namespace prefix {prefix!r} in {name!r}; declare it with 'namespace'")
    return VAR_NS + name


def _local_name(iri: str) -> str:
    for sep in ("#", "/", ":"):
        if sep in iri:
            return iri.rsplit(sep, 1)[1]
    return iri


# --------------------------------------------------------------------------------------------------
# prepare
# --------------------------------------------------------------------------------------------------


def prepare(
    model_path: str | os.PathLike[str] | AnnotatedModel,
    parts: Sequence[InterfacePart] | InterfacePart,
    inputs_env: object | None = None,
) -> PreparedModel:
    """Apply the interface parts (main protocol first, then nested ones) to the model."""
    if isinstance(parts, InterfacePart):
        parts = [parts]
    annotated = model_path if isinstance(model_path, AnnotatedModel) else load_model(model_path)
    return _Preparer(annotated, list(parts)).run()


class _Preparer:
    def __init__(self, annotated: AnnotatedModel, parts: list[InterfacePart]) -> None:
        self.annotated = annotated
        self.model = annotated.model.clone()
        self.parts = parts
        self.namespaces: dict[str, str] = {}
        self.units = UnitStore()
        for part in parts:
            for prefix, uri in part.namespaces.items():
                self.namespaces.setdefault(prefix, uri)
            for definition in part.units:
                if definition.name not in self.units:
                    self.units.define(definition)
        self.declared: dict[str, myokit.Variable] = {}
        self.created: dict[str, myokit.Variable] = {}
        self.rules: list[tuple[myokit.Unit, myokit.Unit, ast.Lambda, dict[str, str]]] = []
        self.pulse: PulseTrain | None = None
        self.optional: set[str] = set()
        # Units the protocol gives a term (``input``/``output ... units u``): an input value
        # without units and ``units_of(term)`` are in these, as in the original engine,
        # which converted the model's variable to them.
        self.protocol_units: dict[str, myokit.Unit] = {}
        # ``input T = v`` for a T the model lacks: the initial value of the state that
        # ``define diff(T; t)`` creates, and its units if given.
        self.pending_initial: dict[str, tuple[float, myokit.Unit | None]] = {}

    # --- helpers -----------------------------------------------------------------

    def component(self) -> myokit.Component:
        if self.model.has_component(PROTOCOL_COMPONENT):
            return self.model.get(PROTOCOL_COMPONENT)
        return self.model.add_component(PROTOCOL_COMPONENT)

    def qnames(self, iri: str) -> list[str]:
        if iri in self.created:
            return [self.created[iri].qname()]
        if iri.startswith(VAR_NS):
            name = iri[len(VAR_NS) :]
            if name in self.declared:
                return [self.declared[name].qname()]
            return []
        if iri.startswith(LOCAL_NS):
            return []
        if iri != STATE_VARIABLE and not self.annotated.annotations.get(iri):
            members = category_members(iri)
            if members:
                # A category: its members in the order of their terms, including
                # variables the interface created for member terms.
                found: list[str] = []
                for member in sorted(members):
                    for qname in self.qnames(member):
                        if qname not in found:
                            found.append(qname)
                return found
        return self.annotated.qnames_for(iri, self.model)

    def variable(self, iri: str) -> myokit.Variable | None:
        qnames = self.qnames(iri)
        return self.model.get(qnames[0]) if qnames else None

    def new_variable(self, iri: str, unit: myokit.Unit | None, rhs: myokit.Expression) -> myokit.Variable:
        base = _safe_name(_local_name(iri))
        comp = self.component()
        name = base
        i = 1
        while comp.has_variable(name):
            i += 1
            name = f"{base}_{i}"
        var = comp.add_variable(name)
        var.set_unit(unit)
        var.set_rhs(rhs)
        self.created[iri] = var
        return var

    def units_of(self, name: str, ns: dict[str, str], pos: ast.Pos | None) -> myokit.Unit | None:
        """``units_of(name)``: the units the protocol gives the term, else its model variable's."""
        iri = _expand(name, ns)
        if iri in self.protocol_units:
            return self.protocol_units[iri]
        var = self.variable(iri)
        if var is None:
            raise _err(f"units_of({name}): the model has no such variable", pos)
        return var.unit()

    def unit(self, name: str | None, pos: ast.Pos | None = None) -> myokit.Unit | None:
        if name is None:
            return None
        return self.units.get(name, pos)

    # --- main ----------------------------------------------------------------------

    def run(self) -> PreparedModel:
        statements: list[tuple[ast.InterfaceStatement, dict[str, str]]] = []
        independent_units: str | None = None
        for part in self.parts:
            ns = part.namespaces
            if part.interface.independent_var_units and independent_units is None:
                independent_units = part.interface.independent_var_units
            for s in part.interface.statements:
                if isinstance(s, ast.SetIndependentVarUnits):
                    independent_units = independent_units or s.units
                statements.append((s, ns))

        for part in self.parts:
            self._check_consistency(part)
        self._check_required(statements)

        time_var = self.model.time()
        if time_var is None:
            raise ProtocolError("the model has no free variable (time)")
        if independent_units:
            time_unit = self.unit(independent_units)
        else:
            # Without 'independent var units' the protocol's time is in the
            # units it gives oxmeta:time, else in milliseconds (the original
            # engine converted every model to ms).
            time_unit = myokit.units.ms
            for st, ns in statements:
                if isinstance(st, (ast.OutputVariable, ast.InputVariable)) and st.units:
                    if _expand(st.name, ns) == OXMETA + "time":
                        time_unit = self.unit(st.units, st.pos)
                        independent_units = st.units
                        break
            if conversion(time_var.unit(), time_unit) is None:
                time_unit = None
        time_conv = conversion(time_var.unit(), time_unit) or IDENTITY
        if time_unit is not None and conversion(time_var.unit(), time_unit) is None:
            raise ProtocolError(
                f"the model's time units ({time_var.unit()}) cannot be converted to {independent_units}"
            )

        of = lambda kind: [(s, ns) for s, ns in statements if isinstance(s, kind)]  # noqa: E731

        optional: dict[str, ast.OptionalVariable] = {}
        for s, ns in of(ast.OptionalVariable):
            optional[_expand(s.name, ns)] = s
        self.optional = set(optional)
        for s, _ns in of(ast.DeclareVariable):
            self._declare(s)
        for s, ns in of(ast.UnitsConversion):
            self.rules.append((self.unit(s.actual, s.pos), self.unit(s.desired, s.pos), s.rule, ns))
        for s, ns in of(ast.InputVariable) + of(ast.OutputVariable):
            if s.units and _expand(s.name, ns) not in self.protocol_units:
                self.protocol_units[_expand(s.name, ns)] = self.unit(s.units, s.pos)
        input_units: dict[str, str | None] = {}
        for s, ns in of(ast.InputVariable):
            iri = _expand(s.name, ns)
            input_units[iri] = s.units or input_units.get(iri)
            self._input(s, iri)
        defined: set[str] = set()
        for s, ns in _defines_in_dependency_order(of(ast.DefineEquation)):
            iri = _expand(s.name, ns)
            defined.add(iri)
            self._define(s, iri, ns)
        for s, ns in of(ast.ClampVariable):
            self._clamp(s, _expand(s.name, ns), ns)
        missing_optional = self._create_defaults(optional, statements)

        # Bindings: every term used, plus outputs in order.
        bindings: dict[str, Binding] = {}
        outputs: list[str] = []
        output_units: dict[str, str | None] = {}
        for s, ns in of(ast.OutputVariable):
            iri = _expand(s.name, ns)
            if iri not in output_units or s.units:
                output_units[iri] = s.units
            if iri not in outputs:
                outputs.append(iri)
        terms: list[str] = list(outputs)
        for s, ns in statements:
            for name in _names_in_statement(s):
                if ":" in name or name in self.declared:
                    iri = _expand(name, ns)
                    if iri not in terms:
                        terms.append(iri)
        recorded: list[str] = []
        for iri in terms:
            units_name = output_units.get(iri) or input_units.get(iri)
            binding = self._binding(iri, units_name, time_var, time_conv)
            if binding is None:
                continue
            bindings[iri] = binding
            if iri in outputs:
                recorded.append(iri)
        _states_in_protocol_units(bindings, output_units, input_units)
        # The original engine limits CVODE's step to 0.5 ms always, pacing or not; steady-state
        # tests (SteadyStateRunner's norm below 1e-6) are sensitive to it, so do the same.
        max_step = MAX_STEP_MS / time_conv.factor if time_conv.factor else MAX_STEP_MS
        roots = {q for b in bindings.values() for q in b.qnames} | {time_var.qname()}
        if self.model.has_variable(PACE_QNAME):
            roots.add(PACE_QNAME)
        _prune(self.model, roots)
        try:
            self.model.validate()
        except myokit.IntegrityError as e:
            raise ProtocolError(f"the model interface leaves an invalid model: {e}") from e
        return PreparedModel(
            model=self.model,
            source=self.annotated,
            namespaces=self.namespaces,
            bindings=bindings,
            outputs=recorded,
            time_qname=time_var.qname(),
            time_conversion=time_conv,
            pulse=self.pulse,
            max_step=max_step,
            missing_optional=missing_optional,
        )

    def _create_defaults(
        self,
        optional: dict[str, ast.OptionalVariable],
        statements: list[tuple[ast.InterfaceStatement, dict[str, str]]],
    ) -> list[str]:
        """Create the optional terms the model lacks from their defaults; return those left missing.

        A default can use other optional terms, created in any order, so this
        repeats until nothing changes. A default that uses a term the model
        lacks and no default creates leaves its own term missing (as in the
        original engine) rather than failing: INa_late's default sodium
        reversal potential on a model without sodium concentrations.
        """
        pending = {iri: s for iri, s in optional.items() if not self.qnames(iri)}
        progress = True
        while progress:
            progress = False
            for iri, s in list(pending.items()):
                if s.default is None:
                    continue
                ns = self._ns_of(s, statements)
                if not all(self._resolvable(name, ns) for name in _names_in_expr(s.default)):
                    continue
                expr, unit = self._translate(s.default, ns)
                self.new_variable(iri, unit, expr)
                del pending[iri]
                progress = True
        return list(pending)

    def _resolvable(self, name: str, ns: dict[str, str]) -> bool:
        """Whether a name in an interface expression stands for a variable of the model (so far)."""
        if ":" not in name and name in self.declared:
            return True
        return self.variable(_expand(name, ns)) is not None

    def _ns_of(
        self, stmt: ast.InterfaceStatement, statements: list[tuple[ast.InterfaceStatement, dict[str, str]]]
    ) -> dict[str, str]:
        for s, ns in statements:
            if s is stmt:
                return ns
        return self.namespaces

    def _check_consistency(self, part: InterfacePart) -> None:
        """Contradictions within one protocol's interface are errors, as in the original engine."""
        ns = part.namespaces
        clamps: dict[str, ast.ClampVariable] = {}
        defines: dict[str, ast.DefineEquation] = {}
        inputs: dict[str, ast.InputVariable] = {}
        output_units: dict[str, tuple[str | None, ast.OutputVariable]] = {}
        declared: dict[str, ast.DeclareVariable] = {}
        statements = part.interface.statements
        for st in statements:
            if isinstance(st, ast.DeclareVariable):
                declared[st.name] = st
        for st in statements:
            if isinstance(st, ast.ClampVariable):
                iri = _expand(st.name, ns)
                if iri in clamps:
                    raise _err(f"{st.name} is clamped twice", st.pos)
                if iri in defines:
                    raise _err(f"{st.name} cannot be both defined and clamped", st.pos)
                clamps[iri] = st
            elif isinstance(st, ast.DefineEquation) and not st.wrt:
                iri = _expand(st.name, ns)
                if iri in defines:
                    raise _err(f"{st.name} is defined twice (define)", st.pos)
                if iri in clamps:
                    raise _err(f"{st.name} cannot be both clamped and defined", st.pos)
                if st.name in declared and declared[st.name].initial_value is not None:
                    raise _err(f"var {st.name} is given both a value and a define", st.pos)
                defines[iri] = st
            elif isinstance(st, ast.InputVariable):
                iri = _expand(st.name, ns)
                previous = inputs.get(iri)
                if previous is not None and (
                    (
                        previous.initial_value is not None
                        and st.initial_value is not None
                        and previous.initial_value != st.initial_value
                    )
                    or (previous.units and st.units and previous.units != st.units)
                ):
                    raise _err(f"input {st.name} is declared twice with different values or units", st.pos)
                inputs[iri] = st
            elif isinstance(st, ast.OutputVariable):
                iri = _expand(st.name, ns)
                if (
                    iri in output_units
                    and st.units
                    and output_units[iri][0]
                    and output_units[iri][0] != st.units
                ):
                    raise _err(f"output {st.name} is declared twice with different units", st.pos)
                output_units[iri] = (st.units or output_units.get(iri, (None, st))[0], st)
        for name, var in declared.items():
            if var.initial_value is None and VAR_NS + name not in defines:
                raise _err(f"var {name} has neither a value nor a define", var.pos)
        for iri, st in inputs.items():
            out = output_units.get(iri)
            if (
                st.units
                and out
                and out[0]
                and self._dimensionally_equal(st.units, out[0])
                and st.units != out[0]
            ):
                raise _err(f"{st.name} has units {st.units} as an input but {out[0]} as an output", st.pos)
        time_units = part.interface.independent_var_units
        if time_units:
            for iri, st in inputs.items():
                if iri == OXMETA + "time" and st.units and st.units != time_units:
                    raise _err(
                        f"the time units conflict: independent var units {time_units}, input {st.name} units "
                        f"{st.units}",
                        st.pos,
                    )
        for iri, (units, st) in output_units.items():
            if not units:
                continue
            for member in category_members(iri):
                other = output_units.get(member)
                if other and other[0] and other[0] != units:
                    raise _err(
                        f"output {_local_name(member)} has units {other[0]}, which clash with the units "
                        f"{units} of {st.name}, a category it belongs to",
                        other[1].pos,
                    )

    def _dimensionally_equal(self, a: str, b: str) -> bool:
        try:
            return conversion(self.units.get(a), self.units.get(b)) is not None
        except ProtocolError:
            return False

    def _check_required(self, statements: list[tuple[ast.InterfaceStatement, dict[str, str]]]) -> None:
        required, _optional = interface_terms(self.parts)
        missing = [iri for iri in required if iri != STATE_VARIABLE and not self.annotated.has_term(iri)]
        if missing:
            raise InapplicableError(missing)

    # --- statements ----------------------------------------------------------------

    def _declare(self, s: ast.DeclareVariable) -> None:
        unit = self.unit(s.units, s.pos)
        comp = self.component()
        name = _safe_name(s.name)
        if comp.has_variable(name):
            raise _err(f"variable {s.name!r} is declared twice", s.pos)
        var = comp.add_variable(name)
        var.set_unit(unit)
        var.set_rhs(myokit.Number(s.initial_value if s.initial_value is not None else 0.0, unit))
        self.declared[s.name] = var

    def _input(self, s: ast.InputVariable, iri: str) -> None:
        unit = self.unit(s.units, s.pos) if s.units else self.protocol_units.get(iri)
        qnames = self.qnames(iri)
        if not qnames:
            if s.units is not None and s.initial_value is not None:
                self.new_variable(iri, unit, myokit.Number(s.initial_value, unit))
            elif s.initial_value is not None:
                self.pending_initial[iri] = (float(s.initial_value), unit)
            return
        for qname in qnames:
            var = self.model.get(qname)
            if var.binding() == "time":
                continue
            value = None
            if s.initial_value is not None:
                conv = conversion(unit, var.unit()) if unit is not None else IDENTITY
                if conv is None:
                    raise _err(f"cannot convert {s.units} to the units of {s.name} ({var.unit()})", s.pos)
                value = float(conv.forward(s.initial_value))
            if var.is_state():
                if value is not None:
                    var.set_initial_value(value)
                continue
            if value is None:
                try:
                    value = float(var.eval())
                except Exception:
                    raise _err(
                        f"input {s.name} is not a constant in this model and has no value", s.pos
                    ) from None
            _make_literal(var, value)

    def _define(self, s: ast.DefineEquation, iri: str, ns: dict[str, str]) -> None:
        var = self.variable(iri)
        if var is None and iri in self.optional and not iri.startswith((LOCAL_NS, VAR_NS)):
            return
        if var is None:
            if s.wrt:
                self._create_state(s, iri, ns)
                return
            expr, unit = self._translate(s.value, ns)
            self.new_variable(iri, unit, expr)
            return
        if s.wrt:
            target = (
                var.unit() / self.model.time().unit() if var.unit() and self.model.time().unit() else None
            )
            original = _original_definition(var, target, derivative=True)
            expr, unit = self._translate(s.value, ns, original)
            expr = self._convert_expr(expr, unit, target, s.pos)
            if not var.is_state():
                initial = float(var.eval()) if var.rhs() is not None else 0.0
                var.set_rhs(expr)
                var.promote(initial)
            else:
                var.set_rhs(expr)
            return
        pulse = self._match_pulse(s.value, ns)
        if pulse is not None:
            pulse_train, amplitude = pulse
            expr, unit = self._translate(amplitude, ns)
            expr = self._convert_expr(expr, unit, var.unit(), s.pos)
            pace = self._pace_variable()
            _replace_equation(var, myokit.Multiply(expr, myokit.Name(pace)))
            self.pulse = pulse_train
            return
        expr, unit = self._translate(s.value, ns, _original_definition(var, var.unit(), derivative=False))
        expr = self._convert_expr(expr, unit, var.unit(), s.pos)
        _replace_equation(var, expr)

    def _create_state(self, s: ast.DefineEquation, iri: str, ns: dict[str, str]) -> None:
        """``input T = v`` with ``define diff(T; t) = e`` for a T the model lacks: a new state.

        Its units are the input's (or the protocol's for T) if given, else those of ``e``
        times the model's time units (test_create_annotated_no_units).
        """
        if iri not in self.pending_initial:
            raise _err(
                f"cannot define the derivative of {s.name}: the model has no such variable "
                f"(give it an initial value with 'input {s.name} = ...' to create it)",
                s.pos,
            )
        initial, unit = self.pending_initial[iri]
        expr, rate_unit = self._translate(s.value, ns)
        time_unit = self.model.time().unit()
        if unit is not None and time_unit is not None:
            expr = self._convert_expr(expr, rate_unit, unit / time_unit, s.pos)
        elif rate_unit is not None and time_unit is not None:
            unit = rate_unit * time_unit
        var = self.new_variable(iri, unit, expr)
        var.promote(initial)

    def _clamp(self, s: ast.ClampVariable, iri: str, ns: dict[str, str]) -> None:
        qnames = self.qnames(iri)
        if not qnames:
            if iri in self.optional:
                return
            raise _err(f"cannot clamp {s.name}: the model has no such variable", s.pos)
        for qname in qnames:
            var = self.model.get(qname)
            if s.value is None:
                value = var.initial_value(as_float=True) if var.is_state() else float(var.eval())
                _replace_equation(var, myokit.Number(value, var.unit()))
            else:
                expr, unit = self._translate(s.value, ns)
                _replace_equation(var, self._convert_expr(expr, unit, var.unit(), s.pos))

    def _pace_variable(self) -> myokit.Variable:
        if self.model.has_variable(PACE_QNAME):
            return self.model.get(PACE_QNAME)
        for var in self.model.variables(deep=True):
            if var.binding() == "pace":
                var.set_binding(None)
        var = self.component().add_variable("pace")
        var.set_rhs(myokit.Number(0))
        var.set_binding("pace")
        return var

    # --- bindings --------------------------------------------------------------------

    def _binding(
        self, iri: str, units_name: str | None, time_var: myokit.Variable, time_conv: Conversion
    ) -> Binding | None:
        qnames = self.qnames(iri)
        if not qnames:
            return None
        vector = (
            iri == STATE_VARIABLE
            or len(qnames) > 1
            or (
                not iri.startswith((LOCAL_NS, VAR_NS))
                and iri not in self.created
                and not self.annotated.annotations.get(iri)
            )
        )
        target = self.unit(units_name) if units_name else None
        kinds: list[str] = []
        conversions: list[Conversion] = []
        final_qnames: list[str] = []
        for qname in qnames:
            var = self.model.get(qname)
            kind = _kind(var)
            conv: Conversion | None = IDENTITY
            if var is time_var:
                conv = time_conv if target is None else (conversion(var.unit(), target) or time_conv)
            elif target is not None:
                conv = conversion(var.unit(), target)
                if conv is None:
                    converted = self._apply_rule(var, target)
                    if converted is None:
                        raise ProtocolError(
                            f"cannot convert {_local_name(iri)} from {var.unit()} to {units_name}: "
                            "the dimensions differ and no 'convert' rule applies"
                        )
                    var, conv = converted, IDENTITY
                    qname, kind = var.qname(), "intermediate"
            kinds.append(kind)
            conversions.append(conv)
            final_qnames.append(qname)
        return Binding(iri, _local_name(iri), final_qnames, kinds, conversions, vector)

    def _apply_rule(self, var: myokit.Variable, target: myokit.Unit) -> myokit.Variable | None:
        """Add a variable holding ``var`` converted to ``target`` by ``convert`` rules (None if none apply)."""
        expr = self._by_rules(myokit.Name(var), var.unit(), target, depth=2)
        if expr is None:
            return None
        comp = self.component()
        name = _safe_name(f"{var.name()}_converted")
        i = 1
        while comp.has_variable(name):
            i += 1
            name = _safe_name(f"{var.name()}_converted_{i}")
        new = comp.add_variable(name)
        new.set_unit(target)
        new.set_rhs(expr)
        return new

    # --- expressions ---------------------------------------------------------------

    def _convert_expr(
        self,
        expr: myokit.Expression,
        unit: myokit.Unit | None,
        target: myokit.Unit | None,
        pos: ast.Pos | None,
    ) -> myokit.Expression:
        if unit is None or target is None:
            return expr
        conv = conversion(unit, target)
        if conv is None:
            converted = self._by_rules(expr, unit, target, depth=2)
            if converted is None:
                raise _err(f"cannot convert {unit} to {target}", pos)
            return converted
        if conv.is_identity:
            return expr
        return myokit.Multiply(myokit.Number(conv.factor), expr)

    def _by_rules(
        self, expr: myokit.Expression, unit: myokit.Unit, target: myokit.Unit, depth: int
    ) -> myokit.Expression | None:
        """``expr`` (in ``unit``) converted to ``target`` through at most ``depth`` ``convert`` rules."""
        if depth <= 0:
            return None
        for actual, desired, rule, ns in self.rules:
            pre = conversion(unit, actual)
            if pre is None or len(rule.params) != 1 or len(rule.body) != 1:
                continue
            body = rule.body[0]
            if not isinstance(body, ast.Return):
                continue
            arg = expr if pre.is_identity else myokit.Multiply(myokit.Number(pre.factor), expr)
            out, out_unit = self._translate(body.values[0], ns, {rule.params[0].name: (arg, actual)})
            out_unit = out_unit or desired
            direct = conversion(out_unit, target)
            if direct is not None:
                return out if direct.is_identity else myokit.Multiply(myokit.Number(direct.factor), out)
            further = self._by_rules(out, out_unit, target, depth - 1)
            if further is not None:
                return further
        return None

    def _translate(
        self,
        expr: ast.Expr,
        ns: dict[str, str],
        locals_: dict[str, tuple[myokit.Expression, myokit.Unit | None]] | None = None,
    ) -> tuple[myokit.Expression, myokit.Unit | None]:
        """An FC expression as (myokit expression, its units or None for 'any')."""
        return _Translator(self, ns, locals_ or {}).translate(expr)

    # --- the standard stimulus -----------------------------------------------------

    def _match_pulse(self, expr: ast.Expr, ns: dict[str, str]) -> tuple[PulseTrain, ast.Expr] | None:
        if not isinstance(expr, ast.If) or not isinstance(expr.orelse, ast.Number) or expr.orelse.value != 0:
            return None
        conditions = _conjuncts(expr.test)
        time_var = self.model.time()
        found: dict[str, str | float] = {}

        def is_time(node: ast.Expr) -> bool:
            return isinstance(node, ast.Name) and self.variable(_expand(node.name, ns)) is time_var

        def operand(node: ast.Expr) -> str | float | None:
            if isinstance(node, ast.Number) and node.units is None:
                return float(node.value)
            if isinstance(node, ast.Name):
                try:
                    var = self.variable(_expand(node.name, ns))
                except ProtocolError:
                    return None
                if var is None or _kind(var) != "constant" or var.unit() != time_var.unit():
                    return None
                return var.qname()
            return None

        for cond in conditions:
            if not isinstance(cond, ast.BinaryOp):
                return None
            if cond.op == ">=" and is_time(cond.left):
                value = operand(cond.right)
                if value is None:
                    return None
                found["offset"] = value
            elif cond.op == "<=" and is_time(cond.left):
                value = operand(cond.right)
                if value is None:
                    return None
                found["end"] = value
            elif cond.op == "<=":
                period = _floor_period(cond.left, is_time)
                duration = operand(cond.right)
                if period is None or duration is None:
                    return None
                period_value = operand(period)
                if period_value is None:
                    return None
                found["period"] = period_value
                found["duration"] = duration
            else:
                return None
        if not {"offset", "period", "duration"} <= set(found):
            return None
        train = PulseTrain(found["offset"], found["period"], found["duration"], found.get("end"))
        return train, expr.then


class _Translator:
    def __init__(
        self,
        prep: _Preparer,
        ns: dict[str, str],
        locals_: dict[str, tuple[myokit.Expression, myokit.Unit | None]],
    ) -> None:
        self.prep = prep
        self.ns = ns
        self.locals = locals_

    def translate(self, e: ast.Expr) -> tuple[myokit.Expression, myokit.Unit | None]:
        if isinstance(e, ast.Number):
            unit = None
            if e.units:
                if e.units.startswith("units_of("):
                    unit = self.prep.units_of(e.units[len("units_of(") : -1].strip(), self.ns, e.pos)
                else:
                    unit = self.prep.unit(e.units, e.pos)
            return myokit.Number(float(e.value), unit), unit
        if isinstance(e, ast.Name):
            if e.name in self.locals:
                return self.locals[e.name]
            if ":" not in e.name and e.name in self.prep.declared:
                var = self.prep.declared[e.name]
                return myokit.Name(var), var.unit()
            iri = _expand(e.name, self.ns)
            var = self.prep.variable(iri)
            if var is None:
                raise _err(f"{e.name} is not a variable of the model", e.pos)
            return myokit.Name(var), var.unit()
        if isinstance(e, ast.MathML):
            constants = {
                "pi": np.pi,
                "exponentiale": np.e,
                "infinity": np.inf,
                "notanumber": np.nan,
                "true": 1.0,
                "false": 0.0,
            }
            if e.name == "notanumber":
                return _nan(), None
            if e.name == "infinity":  # myokit would print ``inf``, which C does not accept either
                return myokit.Divide(_num(1), _num(0)), None
            if e.name in constants:
                return myokit.Number(constants[e.name]), None
            raise _err(f"MathML:{e.name} is not a value", e.pos)
        if isinstance(e, ast.UnaryOp):
            operand, unit = self.translate(e.operand)
            if e.op == "-":
                return myokit.PrefixMinus(operand), unit
            return myokit.Not(_as_condition(operand)), None
        if isinstance(e, ast.BinaryOp):
            return self.binary(e)
        if isinstance(e, ast.If):
            test, _ = self.translate(e.test)
            then, then_unit = self.translate(e.then)
            orelse, else_unit = self.translate(e.orelse)
            unit = then_unit or else_unit
            if then_unit is not None and else_unit is not None:
                orelse = self.prep._convert_expr(orelse, else_unit, then_unit, e.pos)
            return myokit.If(_as_condition(test), then, orelse), unit
        if isinstance(e, ast.Call) and isinstance(e.function, ast.MathML):
            return self.call(e.function.name, e.args, e.pos)
        if isinstance(e, ast.Interpolate):
            return self.interpolate(e)
        raise _err(
            f"this kind of expression ({type(e).__name__}) cannot be used in the model interface", e.pos
        )

    def interpolate(self, e: ast.Interpolate) -> tuple[myokit.Expression, myokit.Unit | None]:
        """``interpolate("file.csv", x, x_units, y_units)``: linear interpolation in a data table.

        The file (read relative to the protocol that names it; protocol.py has checked that
        it lies inside the protocol's folder) has one ``x,y`` row per point, x increasing (a
        repeated x is a step). ``x`` is converted to ``x_units``; the result is in ``y_units``.
        Outside the table the value is nan, so a simulation that uses it fails.
        """
        base = Path(e.pos.file).parent if e.pos.file else Path.cwd()
        path = base / e.path
        if not path.is_file():
            raise _err(f"interpolate(): data file {e.path!r} not found (looked for {path})", e.pos)
        try:
            data = np.loadtxt(path, dtype=float, delimiter=",", ndmin=2, unpack=True, comments="#")
        except ValueError as exc:
            raise _err(f"interpolate(): {path} is not a CSV of numbers: {exc}", e.pos) from None
        if data.shape[0] != 2 or data.shape[1] < 2:
            raise _err(f"interpolate(): {path} must have two columns (x, y) and at least two rows", e.pos)
        xs, ys = data
        if np.any(np.diff(xs) < 0) or not np.all(np.isfinite(data)):
            raise _err(f"interpolate(): the x column of {path} must be finite and increasing", e.pos)
        x, x_unit = self.translate(e.variable)
        x = self.prep._convert_expr(x, x_unit, self.prep.unit(e.x_units, e.pos), e.pos)
        return _piecewise_linear(x, xs, ys), self.prep.unit(e.y_units, e.pos)

    def binary(self, e: ast.BinaryOp) -> tuple[myokit.Expression, myokit.Unit | None]:
        left, lu = self.translate(e.left)
        right, ru = self.translate(e.right)
        op = e.op
        if op in ("+", "-", "==", "!=", "<", ">", "<=", ">="):
            if lu is not None and ru is not None:
                right = self.prep._convert_expr(right, ru, lu, e.pos)
            unit = lu or ru
            cls = {
                "+": myokit.Plus,
                "-": myokit.Minus,
                "==": myokit.Equal,
                "!=": myokit.NotEqual,
                "<": myokit.Less,
                ">": myokit.More,
                "<=": myokit.LessEqual,
                ">=": myokit.MoreEqual,
            }[op]
            return cls(left, right), (unit if op in ("+", "-") else None)
        if op == "*":
            return myokit.Multiply(left, right), _mul(lu, ru)
        if op == "/":
            return myokit.Divide(left, right), _mul(lu, None if ru is None else ru**-1)
        if op == "^":
            unit = None
            if lu is not None and isinstance(right, myokit.Number):
                unit = lu ** right.eval()
            return myokit.Power(left, right), unit
        if op == "&&":
            return myokit.And(_as_condition(left), _as_condition(right)), None
        if op == "||":
            return myokit.Or(_as_condition(left), _as_condition(right)), None
        raise _err(f"unknown operator {op!r}", e.pos)

    def call(
        self, name: str, args: list[ast.Expr], pos: ast.Pos
    ) -> tuple[myokit.Expression, myokit.Unit | None]:
        translated = [self.translate(a) for a in args]
        exprs = [t[0] for t in translated]
        first_unit = translated[0][1] if translated else None
        unary = {
            "floor": myokit.Floor,
            "ceiling": myokit.Ceil,
            "abs": myokit.Abs,
            "exp": myokit.Exp,
            "ln": myokit.Log,
            "log": myokit.Log10,
            "sqrt": myokit.Sqrt,
            "sin": myokit.Sin,
            "cos": myokit.Cos,
            "tan": myokit.Tan,
            "arcsin": myokit.ASin,
            "arccos": myokit.ACos,
            "arctan": myokit.ATan,
        }
        if name in unary and len(exprs) == 1:
            keeps = name in ("floor", "ceiling", "abs")
            unit = first_unit if keeps else (first_unit**0.5 if name == "sqrt" and first_unit else None)
            return unary[name](exprs[0]), unit
        derived = _derived_function(name, exprs[0]) if len(exprs) == 1 else None
        if derived is not None:
            return derived, None
        if name == "root" and len(exprs) == 2:
            return myokit.Power(exprs[1], myokit.Divide(myokit.Number(1), exprs[0])), None
        if name == "power" and len(exprs) == 2:
            return myokit.Power(exprs[0], exprs[1]), None
        if name == "root" and len(exprs) == 1:
            return myokit.Sqrt(exprs[0]), None
        if name in ("max", "min") and exprs:
            result = exprs[0]
            for other in exprs[1:]:
                cond = myokit.More(result, other) if name == "max" else myokit.Less(result, other)
                result = myokit.If(cond, result, other)
            return result, first_unit
        if name in ("plus", "minus", "times", "divide") and len(exprs) == 2:
            op = {"plus": "+", "minus": "-", "times": "*", "divide": "/"}[name]
            return self.binary(ast.BinaryOp(op, args[0], args[1], pos=pos))
        raise _err(f"MathML:{name} cannot be used in the model interface", pos)


# --------------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------------


def _derived_function(name: str, x: myokit.Expression) -> myokit.Expression | None:
    """MathML functions myokit lacks, written with the ones it has.

    The hyperbolic functions use the forms of C libraries (via ``expm1`` and ``log1p``,
    themselves built from ``exp`` and ``log`` with Kahan's and Goldberg's corrections), so
    they keep full precision over the whole double range: the plain exponential forms give
    0 for tiny arguments, nan for large ones, and lose digits in between.
    """
    table = {
        "sec": lambda: _inv(myokit.Cos(x)),
        "csc": lambda: _inv(myokit.Sin(x)),
        "cot": lambda: _inv(myokit.Tan(x)),
        "sinh": lambda: _sinh(x),
        "cosh": lambda: _cosh(x),
        "tanh": lambda: _tanh(x),
        "sech": lambda: _inv(_cosh(x)),
        "csch": lambda: _inv(_sinh(x)),
        "coth": lambda: _inv(_tanh(x)),
        "arcsec": lambda: myokit.ACos(_inv(x)),
        "arccsc": lambda: myokit.ASin(_inv(x)),
        "arccot": lambda: myokit.ATan(_inv(x)),
        "arcsinh": lambda: _asinh(x),
        "arccosh": lambda: _acosh(x),
        "arctanh": lambda: _atanh(x),
        "arcsech": lambda: _acosh(_inv(x)),
        "arccsch": lambda: _asinh(_inv(x)),
        "arccoth": lambda: _atanh(_inv(x)),
    }
    build = table.get(name)
    return build() if build is not None else None


def _piecewise_linear(x: myokit.Expression, xs: np.ndarray, ys: np.ndarray) -> myokit.Expression:
    """The linear interpolant of (xs, ys) at ``x`` as nested ifs (a balanced tree over the
    segments, so evaluation costs log(n) comparisons); nan outside [xs[0], xs[-1]].

    At a repeated x (a step) the value is the left segment's end, as at any other knot.
    """
    segments = [i for i in range(len(xs) - 1) if xs[i + 1] > xs[i]]

    def segment(i: int) -> myokit.Expression:
        slope = (ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i])
        offset = myokit.Minus(x, _num(float(xs[i])))
        return myokit.Plus(_num(float(ys[i])), myokit.Multiply(_num(float(slope)), offset))

    def tree(lo: int, hi: int) -> myokit.Expression:  # segments[lo:hi], hi > lo
        if hi - lo == 1:
            return segment(segments[lo])
        mid = (lo + hi) // 2
        end = float(xs[segments[mid - 1] + 1])
        return myokit.If(myokit.LessEqual(x, _num(end)), tree(lo, mid), tree(mid, hi))

    inside = myokit.And(myokit.MoreEqual(x, _num(float(xs[0]))), myokit.LessEqual(x, _num(float(xs[-1]))))
    return myokit.If(inside, tree(0, len(segments)), _nan())


def _nan() -> myokit.Expression:
    """nan as an expression: myokit prints a nan literal as ``nan``, which C does not accept."""
    return myokit.Divide(_num(0), _num(0))


def _num(value: float) -> myokit.Number:
    return myokit.Number(value)


def _inv(e: myokit.Expression) -> myokit.Expression:
    return myokit.Divide(_num(1), e)


def _odd(x: myokit.Expression, magnitude: myokit.Expression) -> myokit.Expression:
    """An odd function's value at ``x`` from its value at ``|x|``."""
    return myokit.If(myokit.Less(x, _num(0)), myokit.PrefixMinus(magnitude), magnitude)


def _expm1(x: myokit.Expression) -> myokit.Expression:
    """exp(x) - 1 without cancellation near 0 (Kahan: (u - 1) * x / ln(u) with u = exp(x))."""
    u = myokit.Exp(x)
    kahan = myokit.Divide(myokit.Multiply(myokit.Minus(u, _num(1)), x), myokit.Log(u))
    far = myokit.More(myokit.Abs(x), _num(700))  # u is 0 or overflows: ln(u) is useless
    return myokit.If(myokit.Equal(u, _num(1)), x, myokit.If(far, myokit.Minus(u, _num(1)), kahan))


def _log1p(t: myokit.Expression) -> myokit.Expression:
    """ln(1 + t) without losing digits for small t (Goldberg: t * ln(u) / (u - 1) with u = 1 + t)."""
    u = myokit.Plus(_num(1), t)
    goldberg = myokit.Divide(myokit.Multiply(t, myokit.Log(u)), myokit.Minus(u, _num(1)))
    return myokit.If(myokit.Equal(u, _num(1)), t, goldberg)


def _half_exp(a: myokit.Expression) -> myokit.Expression:
    """exp(a) / 2 as (exp(a/2) / 2) * exp(a/2): finite wherever the result is (sinh and cosh of large a)."""
    half = myokit.Exp(myokit.Multiply(_num(0.5), a))
    return myokit.Multiply(myokit.Multiply(_num(0.5), half), half)


def _sinh(x: myokit.Expression) -> myokit.Expression:
    a = myokit.Abs(x)
    e = _expm1(a)
    near = myokit.Multiply(_num(0.5), myokit.Plus(e, myokit.Divide(e, myokit.Plus(e, _num(1)))))
    return _odd(x, myokit.If(myokit.More(a, _num(22)), _half_exp(a), near))


def _cosh(x: myokit.Expression) -> myokit.Expression:
    a = myokit.Abs(x)
    ea = myokit.Exp(a)
    near = myokit.Multiply(_num(0.5), myokit.Plus(ea, _inv(ea)))
    return myokit.If(myokit.More(a, _num(22)), _half_exp(a), near)


def _tanh(x: myokit.Expression) -> myokit.Expression:
    a = myokit.Abs(x)
    e = _expm1(myokit.Multiply(_num(-2), a))
    near = myokit.PrefixMinus(myokit.Divide(e, myokit.Plus(e, _num(2))))
    return _odd(x, myokit.If(myokit.More(a, _num(22)), _num(1), near))


def _asinh(x: myokit.Expression) -> myokit.Expression:
    a = myokit.Abs(x)
    a2 = myokit.Multiply(a, a)
    t = myokit.Plus(a, myokit.Divide(a2, myokit.Plus(_num(1), myokit.Sqrt(myokit.Plus(_num(1), a2)))))
    far = myokit.Plus(myokit.Log(a), _num(float(np.log(2.0))))  # ln(2a): a * a would overflow
    return _odd(x, myokit.If(myokit.More(a, _num(2.0**28)), far, _log1p(t)))


def _acosh(x: myokit.Expression) -> myokit.Expression:
    # sqrt(x - 1) * sqrt(x + 1) rather than sqrt(x * x - 1): nan below 1, as it should be
    root = myokit.Multiply(myokit.Sqrt(myokit.Minus(x, _num(1))), myokit.Sqrt(myokit.Plus(x, _num(1))))
    closed = myokit.Log(myokit.Plus(x, root))
    far = myokit.Plus(myokit.Log(x), _num(float(np.log(2.0))))
    return myokit.If(myokit.More(x, _num(2.0**28)), far, closed)


def _atanh(x: myokit.Expression) -> myokit.Expression:
    a = myokit.Abs(x)
    inner = myokit.Divide(myokit.Multiply(_num(2), a), myokit.Minus(_num(1), a))
    return _odd(x, myokit.Multiply(_num(0.5), _log1p(inner)))


def _defines_in_dependency_order(
    defines: list[tuple[ast.InterfaceStatement, dict[str, str]]],
) -> list[tuple[ast.InterfaceStatement, dict[str, str]]]:
    """Defines ordered so that one creating a variable comes before those using it.

    A define may use (or take ``units_of``) a variable that a later define creates
    (test_units_of); the original engine resolved them in dependency order too.
    """
    targets: dict[str, int] = {}
    for i, (s, ns) in enumerate(defines):
        assert isinstance(s, ast.DefineEquation)
        if not s.wrt:
            targets.setdefault(_expand(s.name, ns), i)
    ordered: list[int] = []
    seen: set[int] = set()

    def place(i: int) -> None:
        if i in seen:
            return  # placed, or on the current path (a cycle: keep the written order)
        seen.add(i)
        s, ns = defines[i]
        assert isinstance(s, ast.DefineEquation)
        for name in _names_in_expr(s.value):
            if name == ORIGINAL_DEFINITION:
                continue
            j = targets.get(_expand(name, ns))
            if j is not None and j != i:
                place(j)
        ordered.append(i)

    for i in range(len(defines)):
        place(i)
    return [defines[i] for i in ordered]


def _original_definition(
    var: myokit.Variable, unit: myokit.Unit | None, *, derivative: bool
) -> dict[str, tuple[myokit.Expression, myokit.Unit | None]]:
    """``original_definition`` in a define: the equation the define replaces, in the variable's units.

    For ``define diff(V; t)`` that is V's original derivative; a variable that was not a
    state has none, so the name is left unbound there (using it is then reported).
    """
    if derivative and not var.is_state():
        return {}
    rhs = var.rhs()
    if rhs is None:
        return {}
    return {ORIGINAL_DEFINITION: (rhs.clone(), unit)}


def _mul(a: myokit.Unit | None, b: myokit.Unit | None) -> myokit.Unit | None:
    if a is None:
        return b
    if b is None:
        return a
    return a * b


def _as_condition(expr: myokit.Expression) -> myokit.Expression:
    """A myokit condition for ``expr`` (a number is true when non-zero).

    myokit's ``is_conditional()`` means "contains an if", not "is a
    condition": test the type instead.
    """
    if isinstance(expr, myokit.Condition):
        return expr
    return myokit.NotEqual(expr, myokit.Number(0))


def _conjuncts(expr: ast.Expr) -> list[ast.Expr]:
    if isinstance(expr, ast.BinaryOp) and expr.op == "&&":
        return _conjuncts(expr.left) + _conjuncts(expr.right)
    return [expr]


def _floor_period(expr: ast.Expr, is_time) -> ast.Expr | None:  # type: ignore[no-untyped-def]
    """From ``(t - off) - floor((t - off) / period) * period`` return ``period``."""
    if not (isinstance(expr, ast.BinaryOp) and expr.op == "-"):
        return None
    right = expr.right
    if not (isinstance(right, ast.BinaryOp) and right.op == "*"):
        return None
    call = right.left
    if not (
        isinstance(call, ast.Call) and isinstance(call.function, ast.MathML) and call.function.name == "floor"
    ):
        return None
    inner = call.args[0] if call.args else None
    if not (isinstance(inner, ast.BinaryOp) and inner.op == "/"):
        return None
    diff = inner.left
    if not (isinstance(diff, ast.BinaryOp) and diff.op == "-" and is_time(diff.left)):
        return None
    return inner.right


def _prune(model: myokit.Model, roots: set[str]) -> None:
    """Remove every variable (states included) that no root depends on, as the original engine does.

    Outputs then depend only on what they need: with ``define diff(V; t) =
    1``, say, the gating variables of the original model are dropped instead
    of being integrated at voltages they were never meant for.
    """
    needed: set[myokit.Variable] = set()
    stack = [model.get(q) for q in roots]
    while stack:
        var = stack.pop()
        if var in needed:
            continue
        needed.add(var)
        rhs = var.rhs()
        if rhs is None:
            continue
        for ref in rhs.references():
            target = ref.var()
            if isinstance(target, myokit.Variable) and target not in needed:
                stack.append(target)
        if var.is_state():
            initial = var.initial_value()
            if initial is not None:
                for ref in initial.references():
                    if isinstance(ref.var(), myokit.Variable):
                        stack.append(ref.var())
    unused = [v for v in model.variables(deep=True) if v not in needed]
    if not unused:
        return
    for var in unused:
        var.set_rhs(myokit.Number(0))
    for var in unused:
        if var.is_state():
            _demote(var)
        if var.binding() is not None:
            var.set_binding(None)
        if var.label() is not None:
            var.set_label(None)
    # Children before their parents.
    for var in sorted(unused, key=lambda v: -v.qname().count(".")):
        var.parent().remove_variable(var)


def _kind(var: myokit.Variable) -> str:
    if var.binding() == "time":
        return "time"
    if var.is_state():
        return "state"
    if var.is_literal() or (var.is_constant() and not var.rhs().references()):
        return "constant"
    return "intermediate"


def _make_literal(var: myokit.Variable, value: float) -> None:
    var.set_rhs(myokit.Number(value, var.unit()))


def _demote(var: myokit.Variable) -> None:
    """Make a state an ordinary variable; references to its derivative become 0 (it no longer changes)."""
    derivative = myokit.Derivative(myokit.Name(var))
    for other in var.model().variables(deep=True):
        rhs = other.rhs()
        if rhs is not None and derivative in rhs.references():
            other.set_rhs(rhs.clone(subst={derivative: myokit.Number(0)}))
    var.demote()


def _replace_equation(var: myokit.Variable, expr: myokit.Expression) -> None:
    if var.is_state():
        _demote(var)
    if var.binding() is not None:
        var.set_binding(None)
    var.set_rhs(expr)


def _safe_name(name: str) -> str:
    cleaned = "".join(c if (c.isalnum() or c == "_") else "_" for c in name)
    if not cleaned or not (cleaned[0].isalpha()):
        cleaned = "v_" + cleaned
    return cleaned


def _err(message: str, pos: ast.Pos | None) -> ProtocolError:
    if pos is None or pos.line == 0:
        return ProtocolError(message)
    return ProtocolError(message, pos.file, pos.line, pos.column)


def _states_in_protocol_units(
    bindings: dict[str, Binding], output_units: dict[str, str | None], input_units: dict[str, str | None]
) -> None:
    """Give each ``state_variable`` element the units its own term is read or set in.

    The original engine converts a state variable that an ``input``/``output ... units u``
    names to ``u`` in the model itself (cellmlmanip's ``convert_variable`` makes the converted
    variable the state), so the state vector then holds it in ``u``: GraphState on a model with
    voltage in volts (Paci 2013) lists the membrane voltage in mV.
    """
    states = bindings.get(STATE_VARIABLE)
    if states is None:
        return
    position = {qname: i for i, qname in enumerate(states.qnames)}
    for iri, binding in bindings.items():
        if iri == STATE_VARIABLE or not (output_units.get(iri) or input_units.get(iri)):
            continue
        for qname, kind, conv in zip(binding.qnames, binding.kinds, binding.conversions, strict=True):
            i = position.get(qname)
            if i is not None and kind == "state" and not conv.is_identity:
                states.conversions[i] = conv
