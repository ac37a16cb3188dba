"""Edits to a myokit model that applying a model interface makes, and how it classifies variables.

Demoting a state (its derivative's references become 0), replacing an
equation, making a constant a literal that a simulation can set, pruning what
no output needs: each keeps the model valid, so the preparer can apply the
interface's statements one at a time.
"""

from __future__ import annotations

import myokit

from .terms import ORIGINAL_DEFINITION


def prune(model: myokit.Model, roots: set[str]) -> None:
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
            demote(var)
        if var.binding() is not None:
            var.set_binding(None)
        if var.label() is not None:
            var.set_label(None)
    # Children before their parents.
    for var in sorted(unused, key=lambda v: -v.qname().count(".")):
        var.parent().remove_variable(var)


def variable_kind(var: myokit.Variable) -> str:
    """How a simulation treats the variable: a literal constant can be set without recompiling."""
    if var.binding() == "time":
        return "time"
    if var.is_state():
        return "state"
    if var.is_literal() or (var.is_constant() and not var.rhs().references()):
        return "constant"
    return "intermediate"


def make_literal(var: myokit.Variable, value: float) -> None:
    """Freeze a constant's current value as a literal, so ``Simulation.set_constant`` can change it."""
    var.set_rhs(myokit.Number(value, var.unit()))


def demote(var: myokit.Variable) -> None:
    """Make a state an ordinary variable; references to its derivative become 0 (it no longer changes)."""
    derivative = myokit.Derivative(myokit.Name(var))
    for other in var.model().variables(deep=True):
        rhs = other.rhs()
        if rhs is not None and derivative in rhs.references():
            other.set_rhs(rhs.clone(subst={derivative: myokit.Number(0)}))
    var.demote()


def replace_equation(var: myokit.Variable, expr: myokit.Expression) -> None:
    """Give ``var`` a new equation; a state stops being one and a bound variable (pace) is unbound."""
    if var.is_state():
        demote(var)
    if var.binding() is not None:
        var.set_binding(None)
    var.set_rhs(expr)


def safe_name(name: str) -> str:
    """A name myokit accepts for a variable created from a term's local name."""
    cleaned = "".join(c if (c.isalnum() or c == "_") else "_" for c in name)
    if not cleaned or not (cleaned[0].isalpha()):
        cleaned = "v_" + cleaned
    return cleaned


def original_definition(
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
