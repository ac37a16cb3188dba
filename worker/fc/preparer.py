"""The preparer: applies a protocol's model interface to a clone of a myokit model.

``interface.prepare`` is the entry point and its docstring says what each
statement does; this module does it, in the order the statements must be
applied (``run``).  Expressions are translated by ``translate.py``, the
standard stimulus is recognised by ``stimulus.py``, contradictions are found by
``consistency.py`` and the edits to the myokit model are ``model_edits.py``'s.
"""

from __future__ import annotations

from typing import TypeVar

import myokit

from . import ast
from .consistency import check_consistency
from .errors import InapplicableError, ProtocolError, error_at
from .interface_order import defines_in_dependency_order
from .model import AnnotatedModel
from .model_edits import (
    make_literal,
    original_definition,
    prune,
    replace_equation,
    safe_name,
    variable_kind,
)
from .ontology import OXMETA, STATE_VARIABLE, category_members
from .prepared import Binding, InterfacePart, PreparedModel, PulseTrain, states_in_protocol_units
from .stimulus import match_pulse
from .terms import LOCAL_NS, VAR_NS, bound_names, expand, local_name, missing_terms, model_terms, names_in
from .translate import Translator
from .units import IDENTITY, Conversion, UnitStore, conversion

PROTOCOL_COMPONENT = "fc_protocol"
PACE_QNAME = f"{PROTOCOL_COMPONENT}.pace"
MAX_STEP_MS = 0.5
S = TypeVar("S", bound=ast.InterfaceStatement)
Statements = list[
    tuple[ast.InterfaceStatement, dict[str, str]]
]  # each with the namespaces it was written with


def _of(kind: type[S], statements: Statements) -> list[tuple[S, dict[str, str]]]:
    """The statements of one kind, in order."""
    return [(s, ns) for s, ns in statements if isinstance(s, kind)]


# --------------------------------------------------------------------------------------------------
# prepare
# --------------------------------------------------------------------------------------------------


class Preparer:
    """Applies interface parts to a clone of one model; ``run`` does it once and gives the result."""

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
        """The variables a term stands for now: created ones first, then categories and annotations."""
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
        """Add a variable for a term the model lacks, in the protocol's component, under a free name."""
        base = safe_name(local_name(iri))
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
        iri = expand(name, ns)
        if iri in self.protocol_units:
            return self.protocol_units[iri]
        var = self.variable(iri)
        if var is None:
            raise error_at(f"units_of({name}): the model has no such variable", pos)
        return var.unit()

    def unit(self, name: str | None, pos: ast.Pos | None = None) -> myokit.Unit | None:
        if name is None:
            return None
        return self.units.get(name, pos)

    # --- main ----------------------------------------------------------------------

    def run(self) -> PreparedModel:
        """Apply every part to the clone: check, set time units, apply statements, bind, prune."""
        statements, independent_units = self._statements()
        self._check_required()  # first, as the compatibility listing is consulted before any run
        for part in self.parts:
            check_consistency(part, self.units)
        time_var, time_conv = self._time(statements, independent_units)
        input_units, missing_optional = self._apply(statements)
        bindings, recorded = self._bind(statements, input_units, time_var, time_conv)
        # The original engine limits CVODE's step to 0.5 ms always, pacing or not; steady-state
        # tests (SteadyStateRunner's norm below 1e-6) are sensitive to it, so do the same.
        max_step = MAX_STEP_MS / time_conv.factor if time_conv.factor else MAX_STEP_MS
        roots = {q for b in bindings.values() for q in b.qnames} | {time_var.qname()}
        if self.model.has_variable(PACE_QNAME):
            roots.add(PACE_QNAME)
        prune(self.model, roots)
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

    def _statements(self) -> tuple[Statements, str | None]:
        """Every part's statements with the namespaces they were written with; the time units declared."""
        statements: Statements = []
        independent_units: str | None = None
        for part in self.parts:
            ns = part.namespaces
            if part.interface.independent_var_units and independent_units is None:
                independent_units = part.interface.independent_var_units
            for s in part.interface.statements:
                if isinstance(s, ast.SetIndependentVarUnits):
                    independent_units = independent_units or s.units
                statements.append((s, ns))
        return statements, independent_units

    def _time(
        self, statements: Statements, independent_units: str | None
    ) -> tuple[myokit.Variable, Conversion]:
        """The model's time variable and the conversion of its units to the protocol's time units."""
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
                    if expand(st.name, ns) == OXMETA + "time":
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
        return time_var, time_conv

    def _apply(self, statements: Statements) -> tuple[dict[str, str | None], list[str]]:
        """Apply the statements to the model in their fixed order; (input units by term, optional terms missing)."""
        optional: dict[str, ast.OptionalVariable] = {}
        for opt, ns in _of(ast.OptionalVariable, statements):
            optional[expand(opt.name, ns)] = opt
        self.optional = set(optional)
        for var, _ns in _of(ast.DeclareVariable, statements):
            self._declare(var)
        for rule, ns in _of(ast.UnitsConversion, statements):
            self.rules.append(
                (self.unit(rule.actual, rule.pos), self.unit(rule.desired, rule.pos), rule.rule, ns)
            )
        declared_units: list[tuple[ast.InputVariable | ast.OutputVariable, dict[str, str]]]
        declared_units = [*_of(ast.InputVariable, statements), *_of(ast.OutputVariable, statements)]
        for st, ns in declared_units:
            if st.units and expand(st.name, ns) not in self.protocol_units:
                self.protocol_units[expand(st.name, ns)] = self.unit(st.units, st.pos)
        input_units: dict[str, str | None] = {}
        for inp, ns in _of(ast.InputVariable, statements):
            iri = expand(inp.name, ns)
            input_units[iri] = inp.units or input_units.get(iri)
            self._input(inp, iri)
        for define, ns in defines_in_dependency_order(_of(ast.DefineEquation, statements)):
            self._define(define, expand(define.name, ns), ns)
        for clamp, ns in _of(ast.ClampVariable, statements):
            self._clamp(clamp, expand(clamp.name, ns), ns)
        return input_units, self._create_defaults(optional, statements)

    def _bind(
        self,
        statements: Statements,
        input_units: dict[str, str | None],
        time_var: myokit.Variable,
        time_conv: Conversion,
    ) -> tuple[dict[str, Binding], list[str]]:
        """Bindings for every term used (outputs first, in order), and the outputs the model has."""
        outputs: list[str] = []
        output_units: dict[str, str | None] = {}
        for out, ns in _of(ast.OutputVariable, statements):
            iri = expand(out.name, ns)
            if iri not in output_units or out.units:
                output_units[iri] = out.units
            if iri not in outputs:
                outputs.append(iri)
        terms: list[str] = list(outputs)
        for s, ns in statements:
            for name in bound_names(s):
                if ":" in name or name in self.declared:
                    iri = expand(name, ns)
                    if iri not in terms:
                        terms.append(iri)
        bindings: dict[str, Binding] = {}
        recorded: list[str] = []
        for iri in terms:
            units_name = output_units.get(iri) or input_units.get(iri)
            binding = self._binding(iri, units_name, time_var, time_conv)
            if binding is None:
                continue
            bindings[iri] = binding
            if iri in outputs:
                recorded.append(iri)
        states_in_protocol_units(bindings, output_units, input_units)
        return bindings, recorded

    def _create_defaults(
        self,
        optional: dict[str, ast.OptionalVariable],
        statements: Statements,
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
                if not all(self._resolvable(name, ns) for name in names_in(s.default)):
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
        return self.variable(expand(name, ns)) is not None

    def _ns_of(self, stmt: ast.InterfaceStatement, statements: Statements) -> dict[str, str]:
        for s, ns in statements:
            if s is stmt:
                return ns
        return self.namespaces

    def _check_required(self) -> None:
        """A model lacking required terms is inapplicable: the rule the compatibility listing uses."""
        required, _optional = model_terms((part.interface, part.namespaces) for part in self.parts)
        missing = missing_terms(sorted(required), self.annotated)
        if missing:
            raise InapplicableError(missing)

    # --- statements ----------------------------------------------------------------

    def _declare(self, s: ast.DeclareVariable) -> None:
        unit = self.unit(s.units, s.pos)
        comp = self.component()
        name = safe_name(s.name)
        if comp.has_variable(name):
            raise error_at(f"variable {s.name!r} is declared twice", s.pos)
        var = comp.add_variable(name)
        var.set_unit(unit)
        var.set_rhs(myokit.Number(s.initial_value if s.initial_value is not None else 0.0, unit))
        self.declared[s.name] = var

    def _input(self, s: ast.InputVariable, iri: str) -> None:
        """``input T [units u] [= v]``: make T settable (see ``interface``'s docstring)."""
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
                    raise error_at(f"cannot convert {s.units} to the units of {s.name} ({var.unit()})", s.pos)
                value = float(conv.forward(s.initial_value))
            if var.is_state():
                if value is not None:
                    var.set_initial_value(value)
                continue
            if value is None:
                try:
                    value = float(var.eval())
                except Exception:
                    raise error_at(
                        f"input {s.name} is not a constant in this model and has no value", s.pos
                    ) from None
            make_literal(var, value)

    def _define(self, s: ast.DefineEquation, iri: str, ns: dict[str, str]) -> None:
        """``define T = e`` / ``define diff(T; t) = e``: replace T's equation, or create T."""
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
            original = original_definition(var, target, derivative=True)
            expr, unit = self._translate(s.value, ns, original)
            expr = self.convert_expr(expr, unit, target, s.pos)
            if not var.is_state():
                initial = float(var.eval()) if var.rhs() is not None else 0.0
                var.set_rhs(expr)
                var.promote(initial)
            else:
                var.set_rhs(expr)
            return
        pulse = match_pulse(s.value, self.model.time(), lambda name: self.variable(expand(name, ns)))
        if pulse is not None:
            pulse_train, amplitude = pulse
            expr, unit = self._translate(amplitude, ns)
            expr = self.convert_expr(expr, unit, var.unit(), s.pos)
            pace = self._pace_variable()
            replace_equation(var, myokit.Multiply(expr, myokit.Name(pace)))
            self.pulse = pulse_train
            return
        expr, unit = self._translate(s.value, ns, original_definition(var, var.unit(), derivative=False))
        expr = self.convert_expr(expr, unit, var.unit(), s.pos)
        replace_equation(var, expr)

    def _create_state(self, s: ast.DefineEquation, iri: str, ns: dict[str, str]) -> None:
        """``input T = v`` with ``define diff(T; t) = e`` for a T the model lacks: a new state.

        Its units are the input's (or the protocol's for T) if given, else those of ``e``
        times the model's time units (test_create_annotated_no_units).
        """
        if iri not in self.pending_initial:
            raise error_at(
                f"cannot define the derivative of {s.name}: the model has no such variable "
                f"(give it an initial value with 'input {s.name} = ...' to create it)",
                s.pos,
            )
        initial, unit = self.pending_initial[iri]
        expr, rate_unit = self._translate(s.value, ns)
        time_unit = self.model.time().unit()
        if unit is not None and time_unit is not None:
            expr = self.convert_expr(expr, rate_unit, unit / time_unit, s.pos)
        elif rate_unit is not None and time_unit is not None:
            unit = rate_unit * time_unit
        var = self.new_variable(iri, unit, expr)
        var.promote(initial)

    def _clamp(self, s: ast.ClampVariable, iri: str, ns: dict[str, str]) -> None:
        """``clamp T`` holds T at its current value; ``clamp T to e`` is ``define T = e``."""
        qnames = self.qnames(iri)
        if not qnames:
            if iri in self.optional:
                return
            if s.value is not None:
                # ``clamp T to e`` is ``define T = e`` (the original engine parses it as that
                # equation), so a model without T gets T = e, and T is optional for the model.
                expr, unit = self._translate(s.value, ns)
                self.new_variable(iri, unit, expr)
                return
            raise error_at(f"cannot clamp {s.name}: the model has no such variable", s.pos)
        for qname in qnames:
            var = self.model.get(qname)
            if s.value is None:
                value = var.initial_value(as_float=True) if var.is_state() else float(var.eval())
                replace_equation(var, myokit.Number(value, var.unit()))
            else:
                expr, unit = self._translate(s.value, ns)
                replace_equation(var, self.convert_expr(expr, unit, var.unit(), s.pos))

    def _pace_variable(self) -> myokit.Variable:
        """The variable myokit's pacing drives (one per model: a model's own pace binding is removed)."""
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
        """How the protocol reads and sets ``iri``: its variables, their kinds and unit conversions."""
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
            kind = variable_kind(var)
            conv: Conversion | None = IDENTITY
            if var is time_var:
                conv = time_conv if target is None else (conversion(var.unit(), target) or time_conv)
            elif target is not None:
                conv = conversion(var.unit(), target)
                if conv is None:
                    converted = self._apply_rule(var, target)
                    if converted is None:
                        raise ProtocolError(
                            f"cannot convert {local_name(iri)} from {var.unit()} to {units_name}: "
                            "the dimensions differ and no 'convert' rule applies"
                        )
                    var, conv = converted, IDENTITY
                    qname, kind = var.qname(), "intermediate"
            assert conv is not None
            kinds.append(kind)
            conversions.append(conv)
            final_qnames.append(qname)
        return Binding(iri, local_name(iri), final_qnames, kinds, conversions, vector)

    def _apply_rule(self, var: myokit.Variable, target: myokit.Unit) -> myokit.Variable | None:
        """Add a variable holding ``var`` converted to ``target`` by ``convert`` rules (None if none apply)."""
        expr = self._by_rules(myokit.Name(var), var.unit(), target, depth=2)
        if expr is None:
            return None
        comp = self.component()
        name = safe_name(f"{var.name()}_converted")
        i = 1
        while comp.has_variable(name):
            i += 1
            name = safe_name(f"{var.name()}_converted_{i}")
        new = comp.add_variable(name)
        new.set_unit(target)
        new.set_rhs(expr)
        return new

    # --- expressions ---------------------------------------------------------------

    def convert_expr(
        self,
        expr: myokit.Expression,
        unit: myokit.Unit | None,
        target: myokit.Unit | None,
        pos: ast.Pos | None,
    ) -> myokit.Expression:
        """``expr`` (in ``unit``) in ``target``: a factor, else ``convert`` rules; an error if neither applies."""
        if unit is None or target is None:
            return expr
        conv = conversion(unit, target)
        if conv is None:
            converted = self._by_rules(expr, unit, target, depth=2)
            if converted is None:
                raise error_at(f"cannot convert {unit} to {target}", pos)
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
        return Translator(self, ns, locals_ or {}).translate(expr)


# --------------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------------
