"""Contradictions within one protocol's model interface, which are errors whatever the model.

As in the original engine: a variable clamped twice, both clamped and defined,
defined twice, an input declared twice with different values or units, an
output with two units, a ``var`` with neither a value nor a define, input and
output units that disagree, time units that conflict, and an output whose units
clash with those of a category it belongs to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from . import ast
from .errors import ProtocolError, error_at
from .ontology import OXMETA, category_members
from .prepared import InterfacePart
from .terms import VAR_NS, expand, local_name
from .units import UnitStore, conversion


@dataclass
class _Declared:
    """What one interface says about each term, gathered while checking its statements one by one."""

    clamps: dict[str, ast.ClampVariable] = field(default_factory=dict)
    defines: dict[str, ast.DefineEquation] = field(default_factory=dict)
    inputs: dict[str, ast.InputVariable] = field(default_factory=dict)
    outputs: dict[str, tuple[str | None, ast.OutputVariable]] = field(default_factory=dict)  # with units
    variables: dict[str, ast.DeclareVariable] = field(default_factory=dict)  # ``var`` by name


def check_consistency(part: InterfacePart, unit_store: UnitStore) -> None:
    """Raise a located ``ProtocolError`` for the first contradiction in one protocol's interface."""
    declared = _Declared()
    for st in part.interface.statements:
        if isinstance(st, ast.DeclareVariable):
            declared.variables[st.name] = st
    for st in part.interface.statements:
        _check_statement(st, _iri_of(part), declared)
    _check_variables(declared)
    _check_input_output_units(declared, unit_store)
    _check_time_units(declared, part.interface.independent_var_units)
    _check_category_units(declared)


def _iri_of(part: InterfacePart) -> Callable[[str], str]:
    return lambda name: expand(name, part.namespaces)


def _check_statement(st: ast.InterfaceStatement, iri_of: Callable[[str], str], d: _Declared) -> None:
    if isinstance(st, ast.ClampVariable):
        iri = iri_of(st.name)
        if iri in d.clamps:
            raise error_at(f"{st.name} is clamped twice", st.pos)
        if iri in d.defines:
            raise error_at(f"{st.name} cannot be both defined and clamped", st.pos)
        d.clamps[iri] = st
    elif isinstance(st, ast.DefineEquation) and not st.wrt:
        iri = iri_of(st.name)
        if iri in d.defines:
            raise error_at(f"{st.name} is defined twice (define)", st.pos)
        if iri in d.clamps:
            raise error_at(f"{st.name} cannot be both clamped and defined", st.pos)
        if st.name in d.variables and d.variables[st.name].initial_value is not None:
            raise error_at(f"var {st.name} is given both a value and a define", st.pos)
        d.defines[iri] = st
    elif isinstance(st, ast.InputVariable):
        iri = iri_of(st.name)
        previous = d.inputs.get(iri)
        if previous is not None and _inputs_differ(previous, st):
            raise error_at(f"input {st.name} is declared twice with different values or units", st.pos)
        d.inputs[iri] = st
    elif isinstance(st, ast.OutputVariable):
        iri = iri_of(st.name)
        known = d.outputs.get(iri, (None, st))[0]
        if iri in d.outputs and st.units and known and known != st.units:
            raise error_at(f"output {st.name} is declared twice with different units", st.pos)
        d.outputs[iri] = (st.units or known, st)


def _inputs_differ(a: ast.InputVariable, b: ast.InputVariable) -> bool:
    values_differ = (
        a.initial_value is not None and b.initial_value is not None and a.initial_value != b.initial_value
    )
    return values_differ or bool(a.units and b.units and a.units != b.units)


def _check_variables(d: _Declared) -> None:
    for name, var in d.variables.items():
        if var.initial_value is None and VAR_NS + name not in d.defines:
            raise error_at(f"var {name} has neither a value nor a define", var.pos)


def _check_input_output_units(d: _Declared, unit_store: UnitStore) -> None:
    """Units of the same dimension given to a term as an input and as an output must be the same."""
    for iri, st in d.inputs.items():
        out = d.outputs.get(iri)
        out_units = out[0] if out else None
        if (
            st.units
            and out_units
            and _dimensionally_equal(unit_store, st.units, out_units)
            and st.units != out_units
        ):
            raise error_at(f"{st.name} has units {st.units} as an input but {out_units} as an output", st.pos)


def _check_time_units(d: _Declared, time_units: str | None) -> None:
    if not time_units:
        return
    for iri, st in d.inputs.items():
        if iri == OXMETA + "time" and st.units and st.units != time_units:
            raise error_at(
                f"the time units conflict: independent var units {time_units}, input {st.name} units {st.units}",
                st.pos,
            )


def _check_category_units(d: _Declared) -> None:
    """An output's units apply to every member of a category it names: a member's own units must agree."""
    for iri, (units, st) in d.outputs.items():
        if not units:
            continue
        for member in category_members(iri):
            other = d.outputs.get(member)
            if other and other[0] and other[0] != units:
                raise error_at(
                    f"output {local_name(member)} has units {other[0]}, which clash with the units "
                    f"{units} of {st.name}, a category it belongs to",
                    other[1].pos,
                )


def _dimensionally_equal(units: UnitStore, a: str, b: str) -> bool:
    try:
        return conversion(units.get(a), units.get(b)) is not None
    except ProtocolError:
        return False
