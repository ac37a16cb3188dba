"""Physical units of a protocol, as myokit units.

A protocol's ``units`` section defines names such as ``mV = milli volt`` or
``mM = milli mole . litre^-1`` on top of the CellML built-in units (the SI
base and derived units, plus ``dimensionless``). ``UnitStore`` turns those
definitions into ``myokit.Unit`` objects, so that conversion factors between
protocol and model units come from myokit's own unit arithmetic.

Units with an offset (only ``celsius``-like definitions) are kept with their
offset; a conversion between two units is then ``y = factor * x + shift``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import myokit

from . import ast
from .errors import ProtocolError

_SI_PREFIXES = {
    "yotta": 24,
    "zetta": 21,
    "exa": 18,
    "peta": 15,
    "tera": 12,
    "giga": 9,
    "mega": 6,
    "kilo": 3,
    "hecto": 2,
    "deka": 1,
    "deca": 1,
    "deci": -1,
    "centi": -2,
    "milli": -3,
    "micro": -6,
    "nano": -9,
    "pico": -12,
    "femto": -15,
    "atto": -18,
    "zepto": -21,
    "yocto": -24,
}

_BUILTIN: dict[str, myokit.Unit] = {
    "ampere": myokit.units.A,
    "becquerel": myokit.units.Bq,
    "candela": myokit.units.cd,
    "coulomb": myokit.units.C,
    "dimensionless": myokit.units.dimensionless,
    "farad": myokit.units.F,
    "gram": myokit.units.g,
    "gray": myokit.units.Gy,
    "henry": myokit.units.H,
    "hertz": myokit.units.Hz,
    "joule": myokit.units.J,
    "katal": myokit.units.kat,
    "kelvin": myokit.units.K,
    "kilogram": myokit.units.kg,
    "liter": myokit.units.L,
    "litre": myokit.units.L,
    "lumen": myokit.units.lm,
    "lux": myokit.units.lux,
    "meter": myokit.units.m,
    "metre": myokit.units.m,
    "mole": myokit.units.mol,
    "newton": myokit.units.N,
    "ohm": myokit.units.R,
    "pascal": myokit.units.Pa,
    "radian": myokit.units.radian,
    "second": myokit.units.s,
    "siemens": myokit.units.S,
    "sievert": myokit.units.Sv,
    "steradian": myokit.units.steradian,
    "tesla": myokit.units.T,
    "volt": myokit.units.V,
    "watt": myokit.units.W,
    "weber": myokit.units.Wb,
    "celsius": myokit.units.K,
}
_OFFSETS = {"celsius": 273.15}


@dataclass(frozen=True)
class Conversion:
    """``protocol_value = factor * model_value + shift`` (and its inverse)."""

    factor: float = 1.0
    shift: float = 0.0

    @property
    def is_identity(self) -> bool:
        return self.factor == 1.0 and self.shift == 0.0

    def forward(self, value: Any) -> Any:
        """Apply to a number or numpy array."""
        if self.is_identity:
            return value
        return value * self.factor + self.shift

    def inverse(self, value: Any) -> Any:
        if self.is_identity:
            return value
        return (value - self.shift) / self.factor


IDENTITY = Conversion()


class UnitStore:
    """The units a protocol may name: built-in CellML units plus its own definitions."""

    def __init__(self, definitions: Iterable[ast.UnitsDef] = ()) -> None:
        self._units: dict[str, myokit.Unit] = dict(_BUILTIN)
        self._offsets: dict[str, float] = dict(_OFFSETS)
        self.descriptions: dict[str, str] = {}
        for definition in definitions:
            self.define(definition)

    def define(self, definition: ast.UnitsDef) -> None:
        """Add one ``name = ref . ref ...`` definition; later definitions may use earlier ones."""
        unit = myokit.units.dimensionless
        offset = 0.0
        for ref in definition.refs:
            base = self._lookup(ref.units, ref.pos)
            factor = base
            if ref.prefix:
                if ref.prefix not in _SI_PREFIXES:
                    raise _error(f"unknown units prefix {ref.prefix!r}", ref.pos)
                factor = factor * 10 ** _SI_PREFIXES[ref.prefix]
            if ref.exponent is not None:
                factor = factor**ref.exponent
            if ref.multiplier is not None:
                factor = factor * ref.multiplier
            unit = unit * factor
            if ref.offset:
                offset += ref.offset
            offset += self._offsets.get(ref.units, 0.0) if len(definition.refs) == 1 else 0.0
        self._units[definition.name] = unit
        if offset:
            self._offsets[definition.name] = offset
        if definition.description:
            self.descriptions[definition.name] = definition.description

    def _lookup(self, name: str, pos: ast.Pos | None = None) -> myokit.Unit:
        try:
            return self._units[name]
        except KeyError:
            raise _error(f"unknown units {name!r}; define it in the protocol's units section", pos) from None

    def get(self, name: str, pos: ast.Pos | None = None) -> myokit.Unit:
        """The myokit unit for a protocol units name."""
        return self._lookup(name, pos)

    def __contains__(self, name: object) -> bool:
        return name in self._units

    def offset(self, name: str) -> float:
        return self._offsets.get(name, 0.0)


def conversion(from_unit: myokit.Unit | None, to_unit: myokit.Unit | None) -> Conversion | None:
    """The factor taking a value in ``from_unit`` to ``to_unit``.

    None when the units have different dimensions (the caller then looks for
    a ``convert ... by`` rule). Unknown units on either side convert as 1.
    """
    if from_unit is None or to_unit is None or from_unit == to_unit:
        return IDENTITY
    try:
        factor = myokit.Unit.conversion_factor(from_unit, to_unit)
    except myokit.IncompatibleUnitError:
        return None
    return Conversion(float(factor.value() if hasattr(factor, "value") else factor))


def same_dimensions(a: myokit.Unit | None, b: myokit.Unit | None) -> bool:
    if a is None or b is None:
        return True
    return conversion(a, b) is not None


def _error(message: str, pos: ast.Pos | None) -> ProtocolError:
    if pos is None or pos.line == 0:
        return ProtocolError(message)
    return ProtocolError(message, pos.file, pos.line, pos.column)
