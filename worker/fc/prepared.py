"""What applying a model interface takes and gives: interface parts in, a prepared model out.

``interface.prepare`` takes the ``InterfacePart`` of a protocol and of each
protocol it merges or nests, and returns a ``PreparedModel``: the modified
myokit model plus, for every name the protocol uses, a ``Binding`` saying which
variables it stands for, what kind they are and how their units convert.  The
simulation (``simulation.py``) works from these alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from . import ast
from .ontology import STATE_VARIABLE
from .terms import expand

if TYPE_CHECKING:  # myokit is imported when a model is used: reading a protocol's interface needs neither
    import myokit

    from .model import AnnotatedModel
    from .units import Conversion


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
    def conversion(self) -> VectorConversion:
        return VectorConversion(self.conversions, self.vector)


@dataclass
class VectorConversion:
    """A binding's unit conversion applied to values: one conversion per variable of a vector term."""

    parts: list[Conversion]
    vector: bool

    def forward(self, values: Any) -> Any:
        """Model units to protocol units (values untouched, not even copied, when nothing converts)."""
        if all(c.is_identity for c in self.parts):
            return values
        factor, shift = self._coefficients()
        return np.asarray(values, dtype=float) * factor + shift

    def inverse(self, values: Any) -> Any:
        """Protocol units to model units."""
        if all(c.is_identity for c in self.parts):
            return values
        factor, shift = self._coefficients()
        return (np.asarray(values, dtype=float) - shift) / factor

    def _coefficients(self) -> tuple[Any, Any]:
        factor = np.array([c.factor for c in self.parts])
        shift = np.array([c.shift for c in self.parts])
        if not self.vector:
            return factor[0], shift[0]
        return factor, shift


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
        iri = expand(name, self.namespaces)
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


def states_in_protocol_units(
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
