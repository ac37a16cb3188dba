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
  replace T's equation (a clamped state stops being a state); ``clamp T to e``
  is ``define T = e``, so it too creates a T the model lacks;
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
all of them, before anything else is checked; which terms are required is the
rule of ``terms.model_terms``, the one the compatibility listing uses.

This module is the entry point; the work is ``preparer.py``'s, and the types
going in and out are ``prepared.py``'s.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from .model import AnnotatedModel, load_model
from .prepared import InterfacePart, PreparedModel, parts_of
from .preparer import Preparer

__all__ = ["InterfacePart", "PreparedModel", "parts_of", "prepare"]


def prepare(
    model_path: str | os.PathLike[str] | AnnotatedModel,
    parts: Sequence[InterfacePart] | InterfacePart,
    inputs_env: object | None = None,
) -> PreparedModel:
    """Apply the interface parts (main protocol first, then nested ones) to the model."""
    if isinstance(parts, InterfacePart):
        parts = [parts]
    annotated = model_path if isinstance(model_path, AnnotatedModel) else load_model(model_path)
    return Preparer(annotated, list(parts)).run()
