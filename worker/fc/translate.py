"""Model-interface expressions (``define``, ``clamp ... to``, ``optional ... default``, ``convert``
rules) as myokit expressions, with units tracked through them.

A variable is read in model units, a number with units (``0 :: mV``) in its
own, and conversion factors are inserted wherever units of the same dimension
meet, so the result is in the units of the variable it defines.  The model
side (which variable a name is, what units mean, how to convert) is the
``TranslationContext``'s: the preparer, which this module does not import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import myokit
import numpy as np

from . import ast
from .errors import error_at
from .myokit_maths import as_condition, derived_function, nan, num, piecewise_linear, unit_product
from .terms import UNITS_OF, expand


class TranslationContext(Protocol):
    """What the translator needs to know about the model being prepared."""

    declared: dict[str, myokit.Variable]  # ``var`` declarations by name

    def variable(self, iri: str) -> myokit.Variable | None: ...

    def unit(self, name: str | None, pos: ast.Pos | None = None) -> myokit.Unit | None: ...

    def units_of(self, name: str, ns: dict[str, str], pos: ast.Pos | None) -> myokit.Unit | None: ...

    def convert_expr(
        self,
        expr: myokit.Expression,
        unit: myokit.Unit | None,
        target: myokit.Unit | None,
        pos: ast.Pos | None,
    ) -> myokit.Expression: ...


class Translator:
    """Translates one interface expression, written with the namespaces ``ns``.

    ``locals_`` binds names the expression may use besides model variables:
    ``original_definition`` in a define, a conversion rule's parameter.
    """

    def __init__(
        self,
        context: TranslationContext,
        ns: dict[str, str],
        locals_: dict[str, tuple[myokit.Expression, myokit.Unit | None]],
    ) -> None:
        self.context = context
        self.ns = ns
        self.locals = locals_

    def translate(self, e: ast.Expr) -> tuple[myokit.Expression, myokit.Unit | None]:
        """(myokit expression, its units or None for "any units") for an FC expression."""
        if isinstance(e, ast.Number):
            unit = None
            if e.units:
                if e.units.startswith(UNITS_OF):
                    unit = self.context.units_of(e.units[len(UNITS_OF) : -1].strip(), self.ns, e.pos)
                else:
                    unit = self.context.unit(e.units, e.pos)
            return myokit.Number(float(e.value), unit), unit
        if isinstance(e, ast.Name):
            if e.name in self.locals:
                return self.locals[e.name]
            if ":" not in e.name and e.name in self.context.declared:
                var = self.context.declared[e.name]
                return myokit.Name(var), var.unit()
            iri = expand(e.name, self.ns)
            var = self.context.variable(iri)
            if var is None:
                raise error_at(f"{e.name} is not a variable of the model", e.pos)
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
                return nan(), None
            if e.name == "infinity":  # myokit would print ``inf``, which C does not accept either
                return myokit.Divide(num(1), num(0)), None
            if e.name in constants:
                return myokit.Number(constants[e.name]), None
            raise error_at(f"MathML:{e.name} is not a value", e.pos)
        if isinstance(e, ast.UnaryOp):
            operand, unit = self.translate(e.operand)
            if e.op == "-":
                return myokit.PrefixMinus(operand), unit
            return myokit.Not(as_condition(operand)), None
        if isinstance(e, ast.BinaryOp):
            return self.binary(e)
        if isinstance(e, ast.If):
            test, _ = self.translate(e.test)
            then, then_unit = self.translate(e.then)
            orelse, else_unit = self.translate(e.orelse)
            unit = then_unit or else_unit
            if then_unit is not None and else_unit is not None:
                orelse = self.context.convert_expr(orelse, else_unit, then_unit, e.pos)
            return myokit.If(as_condition(test), then, orelse), unit
        if isinstance(e, ast.Call) and isinstance(e.function, ast.MathML):
            return self.call(e.function.name, e.args, e.pos)
        if isinstance(e, ast.Interpolate):
            return self.interpolate(e)
        raise error_at(
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
            raise error_at(f"interpolate(): data file {e.path!r} not found (looked for {path})", e.pos)
        try:
            data = np.loadtxt(path, dtype=float, delimiter=",", ndmin=2, unpack=True, comments="#")
        except ValueError as exc:
            raise error_at(f"interpolate(): {path} is not a CSV of numbers: {exc}", e.pos) from None
        if data.shape[0] != 2 or data.shape[1] < 2:
            raise error_at(f"interpolate(): {path} must have two columns (x, y) and at least two rows", e.pos)
        xs, ys = data
        if np.any(np.diff(xs) < 0) or not np.all(np.isfinite(data)):
            raise error_at(f"interpolate(): the x column of {path} must be finite and increasing", e.pos)
        x, x_unit = self.translate(e.variable)
        x = self.context.convert_expr(x, x_unit, self.context.unit(e.x_units, e.pos), e.pos)
        return piecewise_linear(x, xs, ys), self.context.unit(e.y_units, e.pos)

    def binary(self, e: ast.BinaryOp) -> tuple[myokit.Expression, myokit.Unit | None]:
        left, lu = self.translate(e.left)
        right, ru = self.translate(e.right)
        op = e.op
        if op in ("+", "-", "==", "!=", "<", ">", "<=", ">="):
            if lu is not None and ru is not None:
                right = self.context.convert_expr(right, ru, lu, e.pos)
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
            return myokit.Multiply(left, right), unit_product(lu, ru)
        if op == "/":
            return myokit.Divide(left, right), unit_product(lu, None if ru is None else ru**-1)
        if op == "^":
            unit = None
            if lu is not None and isinstance(right, myokit.Number):
                unit = lu ** right.eval()
            return myokit.Power(left, right), unit
        if op == "&&":
            return myokit.And(as_condition(left), as_condition(right)), None
        if op == "||":
            return myokit.Or(as_condition(left), as_condition(right)), None
        raise error_at(f"unknown operator {op!r}", e.pos)

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
        derived = derived_function(name, exprs[0]) if len(exprs) == 1 else None
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
        raise error_at(f"MathML:{name} cannot be used in the model interface", pos)
