"""Mathematics for myokit expressions that myokit lacks or prints in a form C does not accept.

The model interface's expressions become myokit expressions (``translate.py``);
these are the pieces they are built from where a plain myokit class will not do:
MathML functions myokit has no class for (sec, the hyperbolic functions and
their inverses, written for full precision), nan and infinity (which myokit
would print as C cannot read them), a piecewise-linear table lookup for
``interpolate``, conditions from numbers, and the product of optional units.
"""

from __future__ import annotations

import myokit
import numpy as np


def derived_function(name: str, x: myokit.Expression) -> myokit.Expression | None:
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


def piecewise_linear(x: myokit.Expression, xs: np.ndarray, ys: np.ndarray) -> myokit.Expression:
    """The linear interpolant of (xs, ys) at ``x`` as nested ifs (a balanced tree over the
    segments, so evaluation costs log(n) comparisons); nan outside [xs[0], xs[-1]].

    At a repeated x (a step) the value is the left segment's end, as at any other knot.
    """
    segments = [i for i in range(len(xs) - 1) if xs[i + 1] > xs[i]]

    def segment(i: int) -> myokit.Expression:
        slope = (ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i])
        offset = myokit.Minus(x, num(float(xs[i])))
        return myokit.Plus(num(float(ys[i])), myokit.Multiply(num(float(slope)), offset))

    def tree(lo: int, hi: int) -> myokit.Expression:  # segments[lo:hi], hi > lo
        if hi - lo == 1:
            return segment(segments[lo])
        mid = (lo + hi) // 2
        end = float(xs[segments[mid - 1] + 1])
        return myokit.If(myokit.LessEqual(x, num(end)), tree(lo, mid), tree(mid, hi))

    inside = myokit.And(myokit.MoreEqual(x, num(float(xs[0]))), myokit.LessEqual(x, num(float(xs[-1]))))
    return myokit.If(inside, tree(0, len(segments)), nan())


def nan() -> myokit.Expression:
    """nan as an expression: myokit prints a nan literal as ``nan``, which C does not accept."""
    return myokit.Divide(num(0), num(0))


def num(value: float) -> myokit.Number:
    return myokit.Number(value)


def _inv(e: myokit.Expression) -> myokit.Expression:
    return myokit.Divide(num(1), e)


def _odd(x: myokit.Expression, magnitude: myokit.Expression) -> myokit.Expression:
    """An odd function's value at ``x`` from its value at ``|x|``."""
    return myokit.If(myokit.Less(x, num(0)), myokit.PrefixMinus(magnitude), magnitude)


def _expm1(x: myokit.Expression) -> myokit.Expression:
    """exp(x) - 1 without cancellation near 0 (Kahan: (u - 1) * x / ln(u) with u = exp(x))."""
    u = myokit.Exp(x)
    kahan = myokit.Divide(myokit.Multiply(myokit.Minus(u, num(1)), x), myokit.Log(u))
    far = myokit.More(myokit.Abs(x), num(700))  # u is 0 or overflows: ln(u) is useless
    return myokit.If(myokit.Equal(u, num(1)), x, myokit.If(far, myokit.Minus(u, num(1)), kahan))


def _log1p(t: myokit.Expression) -> myokit.Expression:
    """ln(1 + t) without losing digits for small t (Goldberg: t * ln(u) / (u - 1) with u = 1 + t)."""
    u = myokit.Plus(num(1), t)
    goldberg = myokit.Divide(myokit.Multiply(t, myokit.Log(u)), myokit.Minus(u, num(1)))
    return myokit.If(myokit.Equal(u, num(1)), t, goldberg)


def _half_exp(a: myokit.Expression) -> myokit.Expression:
    """exp(a) / 2 as (exp(a/2) / 2) * exp(a/2): finite wherever the result is (sinh and cosh of large a)."""
    half = myokit.Exp(myokit.Multiply(num(0.5), a))
    return myokit.Multiply(myokit.Multiply(num(0.5), half), half)


def _sinh(x: myokit.Expression) -> myokit.Expression:
    a = myokit.Abs(x)
    e = _expm1(a)
    near = myokit.Multiply(num(0.5), myokit.Plus(e, myokit.Divide(e, myokit.Plus(e, num(1)))))
    return _odd(x, myokit.If(myokit.More(a, num(22)), _half_exp(a), near))


def _cosh(x: myokit.Expression) -> myokit.Expression:
    a = myokit.Abs(x)
    ea = myokit.Exp(a)
    near = myokit.Multiply(num(0.5), myokit.Plus(ea, _inv(ea)))
    return myokit.If(myokit.More(a, num(22)), _half_exp(a), near)


def _tanh(x: myokit.Expression) -> myokit.Expression:
    a = myokit.Abs(x)
    e = _expm1(myokit.Multiply(num(-2), a))
    near = myokit.PrefixMinus(myokit.Divide(e, myokit.Plus(e, num(2))))
    return _odd(x, myokit.If(myokit.More(a, num(22)), num(1), near))


def _asinh(x: myokit.Expression) -> myokit.Expression:
    a = myokit.Abs(x)
    a2 = myokit.Multiply(a, a)
    t = myokit.Plus(a, myokit.Divide(a2, myokit.Plus(num(1), myokit.Sqrt(myokit.Plus(num(1), a2)))))
    far = myokit.Plus(myokit.Log(a), num(float(np.log(2.0))))  # ln(2a): a * a would overflow
    return _odd(x, myokit.If(myokit.More(a, num(2.0**28)), far, _log1p(t)))


def _acosh(x: myokit.Expression) -> myokit.Expression:
    # sqrt(x - 1) * sqrt(x + 1) rather than sqrt(x * x - 1): nan below 1, as it should be
    root = myokit.Multiply(myokit.Sqrt(myokit.Minus(x, num(1))), myokit.Sqrt(myokit.Plus(x, num(1))))
    closed = myokit.Log(myokit.Plus(x, root))
    far = myokit.Plus(myokit.Log(x), num(float(np.log(2.0))))
    return myokit.If(myokit.More(x, num(2.0**28)), far, closed)


def _atanh(x: myokit.Expression) -> myokit.Expression:
    a = myokit.Abs(x)
    inner = myokit.Divide(myokit.Multiply(num(2), a), myokit.Minus(num(1), a))
    return _odd(x, myokit.Multiply(num(0.5), _log1p(inner)))


def unit_product(a: myokit.Unit | None, b: myokit.Unit | None) -> myokit.Unit | None:
    if a is None:
        return b
    if b is None:
        return a
    return a * b


def as_condition(expr: myokit.Expression) -> myokit.Expression:
    """A myokit condition for ``expr`` (a number is true when non-zero).

    myokit's ``is_conditional()`` means "contains an if", not "is a
    condition": test the type instead.
    """
    if isinstance(expr, myokit.Condition):
        return expr
    return myokit.NotEqual(expr, myokit.Number(0))
