"""Compact-syntax protocol text → ``ast.Protocol``.

The grammar (``grammar.lark``) is LALR(1) over a basic lexer.  Two features
of the language are not context free at the token level, and are handled
while feeding tokens to lark's interactive parser:

* keywords are only reserved where the grammar expects them: a post-processing
  variable may be called ``input`` or ``range``;
* ``f(x)``, ``a[1]`` and ``a{i}`` need the bracket to touch what precedes it;
  the lexer marks touching brackets (``ADJ_*``), and where the grammar has
  no use for a touching bracket (``if(x)``) it becomes an ordinary one.

When a token is one of these ambiguous kinds, a copy of the parser tries it
first; if it fails, the token is re-typed.  Syntax errors become
``ProtocolError`` with file, line, column and what was expected.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError
from lark.parsers.lalr_analysis import Shift

from . import ast
from .errors import ProtocolError

_IDENT_RE = re.compile(r"[_a-zA-Z][_0-9a-zA-Z]*(:[_a-zA-Z][_0-9a-zA-Z]*)*\Z")
_RETYPE = {"ADJ_LPAR": "LPAR", "ADJ_LSQB": "LSQB", "ADJ_LBRACE": "LBRACE"}

# Human-readable names for terminals in "expected ..." messages.
_TERMINAL_NAMES = {
    "IDENT": "a name",
    "NUMBER": "a number",
    "STRING": "a quoted string",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "COMMA": "','",
    "COLON": "':'",
    "EQUAL": "'='",
    "ADJ_LPAR": "'('",
    "ADJ_LSQB": "'['",
    "ADJ_LBRACE": "'{'",
    "$END": "end of file",
    "PLUS": "'+'",
    "MINUS": "'-'",
    "STAR": "'*'",
    "SLASH": "'/'",
    "CARET": "'^'",
    "QMARK": "'?'",
    "CMP_OP": "a comparison",
    "LOGIC_OP": "'&&' or '||'",
    "SEMICOLON": "';'",
    "DOLLAR": "'$'",
    "DOT": "'.'",
    "ACCESSOR": "an accessor like .SHAPE",
    "WRAP": "a wrapped operator like @2:+",
    "SI_PREFIX": "an SI prefix",
    "EACH_LOOP": "'each loop'",
    "PAD_KW": "'pad:'",
    "SHRINK_KW": "'shrink:'",
    "UNITS_OF": "units_of(...)",
    "DOCUMENTATION": "a documentation block",
}


@cache
def _lark() -> Lark:
    grammar = files(__package__).joinpath("grammar.lark").read_text()
    return Lark(grammar, parser="lalr", lexer="basic", propagate_positions=True, maybe_placeholders=True)


def parse_file(path: str | Path) -> ast.Protocol:
    """Parse a protocol file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProtocolError(f"cannot read protocol file: {exc.strerror or exc}", str(path), 0, 0) from exc
    return parse_text(text, str(path))


def parse_text(text: str, file: str = "<string>") -> ast.Protocol:
    """Parse protocol text; ``file`` is used in positions and error messages."""
    tree = _parse_tree(text, file)
    try:
        protocol = _ToAst(file, text).transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, ProtocolError):
            raise exc.orig_exc from None
        raise
    assert isinstance(protocol, ast.Protocol)  # the grammar's start rule
    return protocol


def expected_at(text: str, line: int | None, column: int | None) -> str:
    """The tokens the parser would take at ``line``:``column`` (for an unexpected character, which lark's lexer
    reports without them); empty when they cannot be told."""
    if not line or not column:
        return ""
    lines = text.split("\n")
    offset = sum(len(x) + 1 for x in lines[: line - 1]) + column - 1
    try:
        lark = _lark()
        interactive = lark.parse_interactive("")
        for token in lark.lex(text[:offset]):
            _feed(interactive, token, "")
        return _expected(set(interactive.accepts()))  # type: ignore[no-untyped-call]  # lark leaves it untyped
    except Exception:  # noqa: BLE001 - a best-effort hint only
        return ""


def parse_expression(text: str, file: str = "<expression>") -> ast.Expr:
    """Parse a single expression (used for ``--input NAME=VALUE`` and tests)."""
    protocol = parse_text(f"inputs {{\n__expression__ = {text}\n}}", file)
    return protocol.inputs[0].value


def _expected(names: set[str]) -> str:
    shown = sorted({_TERMINAL_NAMES.get(n, f"'{n.lower()}'") for n in names if not n.startswith("__")})
    return ", ".join(shown) if shown else "something else"


def _describe(token: Token) -> str:
    if token.type == "$END":
        return "end of file"
    return repr(str(token))


def _parse_tree(text: str, file: str) -> Tree[Token]:
    lark = _lark()
    parser = lark.parse_interactive("")
    last: Token | None = None
    try:
        pending: Token | None = None
        for token in lark.lex(text):
            if pending is not None:
                # ``optional = e`` assigns to a variable called optional (one token of lookahead)
                if pending.type == "OPTIONAL" and token.type == "EQUAL":
                    pending = Token.new_borrow_pos("IDENT", str(pending), pending)
                _feed(parser, pending, file)
                last = pending
            pending = token
        if pending is not None:
            _feed(parser, pending, file)
            last = pending
        tree: Tree[Token] = parser.feed_eof(last)  # type: ignore[no-untyped-call]  # untyped in lark
        return tree
    except UnexpectedCharacters as exc:
        raise ProtocolError(
            f"unexpected character {text[exc.pos_in_stream or 0]!r}", file, exc.line, exc.column
        ) from None
    except UnexpectedToken as exc:
        token = exc.token
        if token.type == "$END":
            line = text.count("\n") + 1
            column = len(text) - (text.rfind("\n") + 1) + 1
        else:
            line, column = token.line or 1, token.column or 1
        raise ProtocolError(
            f"unexpected {_describe(token)}; expected {_expected(exc.expected)}", file, line, column
        ) from None
    except UnexpectedInput as exc:  # pragma: no cover - other lark errors
        raise ProtocolError(
            f"syntax error: {exc}", file, getattr(exc, "line", 0), getattr(exc, "column", 0)
        ) from None


def _feed(parser: Any, token: Token, file: str) -> None:
    """Feed one token, re-typing keywords and touching brackets the grammar cannot use here."""
    alternative: str | None = None
    if token.type in _RETYPE:
        alternative = _RETYPE[token.type]
    elif token.type != "IDENT" and _IDENT_RE.match(str(token)):
        alternative = "IDENT"
    if alternative is not None:
        choices = parser.choices()
        if alternative in choices:
            if token.type not in choices:
                token = Token.new_borrow_pos(alternative, str(token), token)
            elif not _accepts(parser, token.type):
                token = Token.new_borrow_pos(alternative, str(token), token)
    parser.feed_token(token)


def _accepts(parser: Any, token_type: str) -> bool:
    """Whether the parser would shift a token of this type, after any reductions (simulated on states only)."""
    state = parser.parser_state
    states = state.parse_conf.states
    stack = list(state.state_stack)
    while True:
        entry = states[stack[-1]].get(token_type)
        if entry is None:
            return False
        action, arg = entry
        if action is Shift:
            return True
        size = len(arg.expansion)
        if size:
            del stack[-size:]
        stack.append(states[stack[-1]][arg.origin.name][1])


# --------------------------------------------------------------------------------------------------
# Parse tree → AST
# --------------------------------------------------------------------------------------------------

_PUNCTUATION = {"ADJ_LPAR", "ADJ_LSQB", "ADJ_LBRACE", "QMARK", "LPAR", "LSQB", "LBRACE"}
_MAP_FOLD_FIND = {"map", "fold", "find"}


def _unquote(token: Token) -> str:
    raw = str(token)
    body = raw[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


def _plain(token: Token, file: str, what: str) -> str:
    name = str(token)
    if ":" in name:
        raise ProtocolError(f"{what} must be a plain name, not {name!r}", file, token.line, token.column)
    return name


def _constant(expr: ast.Expr, file: str) -> float:
    """Evaluate a constant arithmetic expression (units multipliers and offsets)."""
    if isinstance(expr, ast.Number):
        return expr.value
    if isinstance(expr, ast.UnaryOp) and expr.op == "-":
        return -_constant(expr.operand, file)
    if isinstance(expr, ast.BinaryOp) and expr.op in "+-*/^":
        a, b = _constant(expr.left, file), _constant(expr.right, file)
        operations: dict[str, Callable[[float, float], float]] = {
            "+": operator.add,
            "-": operator.sub,
            "*": operator.mul,
            "/": operator.truediv,
            "^": operator.pow,
        }
        return float(operations[expr.op](float(a), float(b)))
    raise ProtocolError("expected a constant numeric expression", file, expr.pos.line, expr.pos.column)


@v_args(meta=True)
class _ToAst(Transformer[Token, Any]):
    def __init__(self, file: str, text: str) -> None:
        super().__init__()
        self.file = file
        self.text = text

    # -- helpers --------------------------------------------------------------------------------------
    def _pos(self, meta: Any) -> ast.Pos:
        if getattr(meta, "empty", True):
            return ast.NOWHERE
        return ast.Pos(self.file, meta.line, meta.column)

    def _tpos(self, token: Token) -> ast.Pos:
        return ast.Pos(self.file, token.line or 0, token.column or 0)

    @staticmethod
    def _clean(children: list[Any]) -> list[Any]:
        return [c for c in children if not (isinstance(c, Token) and c.type in _PUNCTUATION)]

    # -- protocol -------------------------------------------------------------------------------------
    def start(self, meta: Any, children: list[Any]) -> ast.Protocol:
        protocol = ast.Protocol(file=self.file, pos=ast.Pos(self.file, 1, 1))
        for kind, value in children:
            if kind == "documentation":
                protocol.documentation = value
            elif kind == "namespace":
                protocol.namespaces[value[0]] = value[1]
            elif kind == "import":
                protocol.imports.append(value)
            elif kind == "model_interface":
                protocol.model_interface = value
            elif kind in ("inputs", "library", "units", "tasks", "post_processing", "outputs", "plots"):
                getattr(protocol, kind).extend(value)
        return protocol

    def documentation(self, meta: Any, children: list[Any]) -> tuple[str, str]:
        raw = str(children[0])
        body = raw[raw.index("{") + 1 : raw.rindex("}")]
        return "documentation", body.strip("\n")

    def namespace(self, meta: Any, c: list[Any]) -> tuple[str, tuple[str, str]]:
        return "namespace", (_plain(c[0], self.file, "a namespace prefix"), _unquote(c[1]))

    def inputs(self, meta: Any, c: list[Any]) -> tuple[str, list[ast.Assign]]:
        return "inputs", list(c)

    def import_(self, meta: Any, c: list[Any]) -> tuple[str, ast.Import]:
        prefix = _plain(c[0], self.file, "an import prefix") if c[0] is not None else ""
        return "import", ast.Import(prefix, _unquote(c[1]), c[2] or [], pos=self._pos(meta))

    def import_inputs(self, meta: Any, c: list[Any]) -> list[ast.Assign]:
        return list(c)

    def library(self, meta: Any, c: list[Any]) -> tuple[str, list[ast.Statement]]:
        return "library", list(c)

    def post_processing(self, meta: Any, c: list[Any]) -> tuple[str, list[ast.Statement]]:
        return "post_processing", list(c[1:])

    def simple_assign(self, meta: Any, c: list[Any]) -> ast.Assign:
        return ast.Assign([_plain(c[0], self.file, "an input name")], c[1], pos=self._pos(meta))

    # -- units ----------------------------------------------------------------------------------------
    def units(self, meta: Any, c: list[Any]) -> tuple[str, list[ast.UnitsDef]]:
        return "units", list(c)

    def units_def(self, meta: Any, c: list[Any]) -> ast.UnitsDef:
        description = _unquote(c[-1]) if c[-1] is not None else None
        refs = [r for r in c[1:-1] if isinstance(r, ast.UnitRef)]
        return ast.UnitsDef(_plain(c[0], self.file, "a units name"), refs, description, pos=self._pos(meta))

    def unit_ref(self, meta: Any, c: list[Any]) -> ast.UnitRef:
        multiplier, prefix, name, exponent, offset = c
        return ast.UnitRef(
            str(name),
            str(prefix) if prefix is not None else None,
            multiplier,
            exponent,
            offset,
            pos=self._pos(meta),
        )

    def multiplier(self, meta: Any, c: list[Any]) -> float:
        (item,) = self._clean(c)
        return float(item) if isinstance(item, Token) else _constant(item, self.file)

    def unit_exponent(self, meta: Any, c: list[Any]) -> float:
        return [x for x in c if isinstance(x, float)][0]

    def unit_offset(self, meta: Any, c: list[Any]) -> float:
        sign, value = self._clean(c)
        number = float(value) if isinstance(value, Token) else _constant(value, self.file)
        return -number if str(sign) == "-" else number

    def signed_number(self, meta: Any, c: list[Any]) -> float:
        sign, value = c
        return -float(value) if sign is not None else float(value)

    # -- model interface ------------------------------------------------------------------------------
    def model_interface(self, meta: Any, c: list[Any]) -> tuple[str, ast.ModelInterface]:
        units = None
        statements = []
        for s in c:
            if isinstance(s, ast.SetIndependentVarUnits):
                units = s.units
            statements.append(s)
        return "model_interface", ast.ModelInterface(units, statements, pos=self._pos(meta))

    def independent_var(self, meta: Any, c: list[Any]) -> ast.SetIndependentVarUnits:
        return ast.SetIndependentVarUnits(str(c[0]), pos=self._pos(meta))

    def input_var(self, meta: Any, c: list[Any]) -> ast.InputVariable:
        return ast.InputVariable(
            str(c[0]), str(c[1]) if c[1] is not None else None, c[2], pos=self._pos(meta)
        )

    def output_var(self, meta: Any, c: list[Any]) -> ast.OutputVariable:
        return ast.OutputVariable(str(c[0]), str(c[1]) if c[1] is not None else None, pos=self._pos(meta))

    def optional_var(self, meta: Any, c: list[Any]) -> ast.OptionalVariable:
        _, name, default = c
        text = None
        if default is not None:
            text = (
                self.text[default.meta_start : default.meta_end] if hasattr(default, "meta_start") else None
            )
        return ast.OptionalVariable(str(name), default, text, pos=self._pos(meta))

    def declare_var(self, meta: Any, c: list[Any]) -> ast.DeclareVariable:
        return ast.DeclareVariable(
            _plain(c[0], self.file, "a new variable name"), str(c[1]), c[2], pos=self._pos(meta)
        )

    def clamp_var(self, meta: Any, c: list[Any]) -> ast.ClampVariable:
        return ast.ClampVariable(str(c[0]), c[1], pos=self._pos(meta))

    def define_eq(self, meta: Any, c: list[Any]) -> ast.DefineEquation:
        target, value = c
        if isinstance(target, tuple):
            return ast.DefineEquation(target[0], value, target[1], pos=self._pos(meta))
        return ast.DefineEquation(str(target), value, pos=self._pos(meta))

    def diff(self, meta: Any, c: list[Any]) -> tuple[str, str]:
        a, b = self._clean(c)
        return str(a), str(b)

    def interpolate(self, meta: Any, c: list[Any]) -> ast.Interpolate:
        path, var, xu, yu = self._clean(c)
        return ast.Interpolate(
            _unquote(path), ast.Name(str(var), pos=self._tpos(var)), str(xu), str(yu), pos=self._pos(meta)
        )

    def units_conversion(self, meta: Any, c: list[Any]) -> ast.UnitsConversion:
        return ast.UnitsConversion(str(c[0]), str(c[1]), c[2], pos=self._pos(meta))

    # -- tasks ----------------------------------------------------------------------------------------
    def tasks(self, meta: Any, c: list[Any]) -> tuple[str, list[ast.Simulation]]:
        return "tasks", list(c)

    def simulation(self, meta: Any, c: list[Any]) -> ast.Simulation:
        name, body, trace = c
        return ast.Simulation(name or "", body, trace is not None, pos=self._pos(meta))

    def sim_name(self, meta: Any, c: list[Any]) -> str:
        return _plain(c[0], self.file, "a simulation name")

    def timecourse(self, meta: Any, c: list[Any]) -> ast.Timecourse:
        return ast.Timecourse(c[0], c[1] or [], pos=self._pos(meta))

    def nested(self, meta: Any, c: list[Any]) -> ast.Nested:
        return ast.Nested(c[0], c[1] or [], c[2], pos=self._pos(meta))

    def nest_ref(self, meta: Any, c: list[Any]) -> str:
        return str(c[0])

    def one_step(self, meta: Any, c: list[Any]) -> ast.OneStep:
        return ast.OneStep(c[0], c[1] or [], pos=self._pos(meta))

    def nested_protocol(self, meta: Any, c: list[Any]) -> ast.NestedProtocol:
        written = _unquote(c[0])
        path = str(Path(self.file).parent / written)
        inputs = [x for x in c[1:] if isinstance(x, ast.Assign)]
        selects = [x for x in c[1:] if isinstance(x, ast.SelectOutput)]
        trace = isinstance(c[-1], Token) and c[-1].type == "QMARK"
        return ast.NestedProtocol(path, inputs, selects, trace, written, pos=self._pos(meta))

    def select_output(self, meta: Any, c: list[Any]) -> ast.SelectOutput:
        return ast.SelectOutput(
            _plain(c[1], self.file, "an output name"), c[0] is not None, pos=self._pos(meta)
        )

    def range(self, meta: Any, c: list[Any]) -> ast.Range:
        name = _plain(c[0], self.file, "a range name")
        units = str(c[1])
        kind, args = c[2]
        pos = self._pos(meta)
        if kind == "uniform":
            start, second, third = args
            if third is None:
                return ast.UniformRange(name, units, start, second, ast.Number(1.0, pos=pos), pos=pos)
            return ast.UniformRange(name, units, start, third, second, pos=pos)
        if kind == "vector":
            return ast.VectorRange(name, units, args[0], pos=pos)
        return ast.WhileRange(name, units, args[0], pos=pos)

    def uniform(self, meta: Any, c: list[Any]) -> tuple[str, list[Any]]:
        return "uniform", list(c)

    def vector(self, meta: Any, c: list[Any]) -> tuple[str, list[Any]]:
        return "vector", list(c)

    def while_(self, meta: Any, c: list[Any]) -> tuple[str, list[Any]]:
        return "while", list(c)

    def modifiers(self, meta: Any, c: list[Any]) -> list[ast.Modifier]:
        return list(c)

    def modifier(self, meta: Any, c: list[Any]) -> ast.Modifier:
        when, (kind, args) = c
        pos = self._pos(meta)
        if kind == "set":
            return ast.SetVariable(when, str(args[0]), args[1], pos=pos)
        if kind == "save":
            return ast.SaveState(when, _plain(args[0], self.file, "a state name"), pos=pos)
        return ast.ResetState(when, str(args[0]) if args[0] is not None else None, pos=pos)

    def when_start(self, meta: Any, c: list[Any]) -> str:
        return "start"

    def when_end(self, meta: Any, c: list[Any]) -> str:
        return "end"

    def when_each(self, meta: Any, c: list[Any]) -> str:
        return "each"

    def set_variable(self, meta: Any, c: list[Any]) -> tuple[str, list[Any]]:
        return "set", list(c)

    def save_state(self, meta: Any, c: list[Any]) -> tuple[str, list[Any]]:
        return "save", list(c)

    def reset_state(self, meta: Any, c: list[Any]) -> tuple[str, list[Any]]:
        return "reset", list(c)

    # -- outputs and plots ----------------------------------------------------------------------------
    def outputs(self, meta: Any, c: list[Any]) -> tuple[str, list[ast.OutputSpec]]:
        return "outputs", list(c)

    def output_units(self, meta: Any, c: list[Any]) -> ast.OutputSpec:
        optional, name, units, description = c
        return ast.OutputSpec(
            _plain(name, self.file, "an output name"),
            None,
            str(units),
            _unquote(description) if description is not None else None,
            optional is not None,
            pos=self._pos(meta),
        )

    def output_ref(self, meta: Any, c: list[Any]) -> ast.OutputSpec:
        optional, name, ref, units, description = c
        return ast.OutputSpec(
            _plain(name, self.file, "an output name"),
            str(ref),
            str(units) if units is not None else None,
            _unquote(description) if description is not None else None,
            optional is not None,
            pos=self._pos(meta),
        )

    def plots(self, meta: Any, c: list[Any]) -> tuple[str, list[ast.PlotSpec]]:
        return "plots", list(c)

    def plot(self, meta: Any, c: list[Any]) -> ast.PlotSpec:
        title, style, *curves = c
        return ast.PlotSpec(_unquote(title), curves, style, pos=self._pos(meta))

    def plot_style(self, meta: Any, c: list[Any]) -> str:
        return str(c[0])

    def curve(self, meta: Any, c: list[Any]) -> ast.PlotCurve:
        *names, key = c
        *ys, x = names
        return ast.PlotCurve(
            [str(y) for y in ys], str(x), str(key) if key is not None else None, pos=self._pos(meta)
        )

    # -- statements -----------------------------------------------------------------------------------
    def assign(self, meta: Any, c: list[Any]) -> ast.Assign:
        optional = c[0] is not None
        names = [_plain(t, self.file, "an assigned name") for t in c[1:] if isinstance(t, Token)]
        values = [x for x in c[1:] if isinstance(x, ast.Expr)]
        pos = self._pos(meta)
        value = values[0] if len(values) == 1 else ast.TupleExpr(values, pos=values[0].pos)
        if len(names) > 1 and len(values) > 1 and len(names) != len(values):
            raise ProtocolError(f"cannot assign {len(values)} values to {len(names)} names", *self._loc(pos))
        return ast.Assign(names, value, optional, pos=pos)

    def _loc(self, pos: ast.Pos) -> tuple[str, int, int]:
        return pos.file, pos.line, pos.column

    def def_(self, meta: Any, c: list[Any]) -> ast.Assign:
        c = self._clean(c)
        name, params, *body = c
        pos = self._pos(meta)
        fn = ast.Lambda(params, self._body(body), pos=pos)
        return ast.Assign([_plain(name, self.file, "a function name")], fn, pos=pos)

    def _body(self, body: list[Any]) -> list[ast.Statement]:
        if len(body) == 1 and isinstance(body[0], ast.Expr):
            return [ast.Return([body[0]], pos=body[0].pos)]
        return list(body)

    def return_(self, meta: Any, c: list[Any]) -> ast.Return:
        return ast.Return(list(c), pos=self._pos(meta))

    def assert_(self, meta: Any, c: list[Any]) -> ast.Assert:
        return ast.Assert(c[0], pos=self._pos(meta))

    # -- expressions ----------------------------------------------------------------------------------
    def _mark(self, node: ast.Expr, meta: Any) -> ast.Expr:
        """Record the source span of an expression (for optional-variable default text)."""
        if not getattr(meta, "empty", True):
            node.meta_start = meta.start_pos  # type: ignore[attr-defined]
            node.meta_end = meta.end_pos  # type: ignore[attr-defined]
        return node

    def lambda_expr(self, meta: Any, c: list[Any]) -> ast.Lambda:
        params, *body = c
        return self._mark(ast.Lambda(params, self._body(body), pos=self._pos(meta)), meta)  # type: ignore[return-value]

    def params(self, meta: Any, c: list[Any]) -> list[ast.Param]:
        return [p for p in c if p is not None]

    def param(self, meta: Any, c: list[Any]) -> ast.Param:
        return ast.Param(_plain(c[0], self.file, "a parameter name"), c[1], pos=self._tpos(c[0]))

    def if_expr(self, meta: Any, c: list[Any]) -> ast.If:
        return self._mark(ast.If(c[0], c[1], c[2], pos=self._pos(meta)), meta)  # type: ignore[return-value]

    def binop(self, meta: Any, c: list[Any]) -> ast.BinaryOp:
        left, op, right = c
        return self._mark(ast.BinaryOp(str(op), left, right, pos=self._tpos(op)), meta)  # type: ignore[return-value]

    def not_(self, meta: Any, c: list[Any]) -> ast.UnaryOp:
        return self._mark(ast.UnaryOp("not", c[-1], pos=self._pos(meta)), meta)  # type: ignore[return-value]

    def neg(self, meta: Any, c: list[Any]) -> ast.Expr:
        operand = c[-1]
        if isinstance(operand, ast.Number):  # a negative literal, as the original lexes it
            return self._mark(ast.Number(-operand.value, operand.units, pos=self._pos(meta)), meta)
        return self._mark(ast.UnaryOp("-", operand, pos=self._pos(meta)), meta)

    def accessor(self, meta: Any, c: list[Any]) -> ast.Accessor:
        operand, token = c
        return self._mark(ast.Accessor(operand, str(token)[1:], pos=self._tpos(token)), meta)  # type: ignore[return-value]

    def view(self, meta: Any, c: list[Any]) -> ast.View:
        array, *specs = c
        return self._mark(ast.View(array, specs, pos=self._pos(meta)), meta)  # type: ignore[return-value]

    def view_spec(self, meta: Any, c: list[Any]) -> ast.ViewSpec:
        _, dim, e1, colon1, e2, colon2, e3 = c
        dim_expr, all_dims = dim if dim is not None else (None, False)
        pos = self._pos(meta)
        if colon1 is None:
            if e1 is None:
                raise ProtocolError("empty view specification", *self._loc(pos))
            spec = ast.ViewSpec(e1, None, None, False)
        elif colon2 is None:
            spec = ast.ViewSpec(e1, None, e2, True)
        else:
            spec = ast.ViewSpec(e1, e2, e3, True)
        spec.dim, spec.all_dims, spec.pos = dim_expr, all_dims, pos
        return spec

    def view_dim(self, meta: Any, c: list[Any]) -> tuple[ast.Expr | None, bool]:
        (item,) = c
        if isinstance(item, Token):
            return None, True
        return item, False

    def view_colon(self, meta: Any, c: list[Any]) -> bool:
        return True

    def index(self, meta: Any, c: list[Any]) -> ast.Index:
        array, indices, *args = self._clean(c)
        node = ast.Index(array, indices, pos=self._pos(meta))
        for kind, values in args:
            if kind == "dim":
                node.dim = values[0]
            elif kind == "shrink":
                node.shrink = values[0]
            else:
                node.pad_direction, node.pad_value = values
        return self._mark(node, meta)  # type: ignore[return-value]

    def index_pad(self, meta: Any, c: list[Any]) -> tuple[str, list[Any]]:
        return "pad", [x for x in c if not isinstance(x, Token)]

    def index_shrink(self, meta: Any, c: list[Any]) -> tuple[str, list[Any]]:
        return "shrink", [x for x in c if not isinstance(x, Token)]

    def index_dim(self, meta: Any, c: list[Any]) -> tuple[str, list[Any]]:
        return "dim", list(c)

    def trace(self, meta: Any, c: list[ast.Expr]) -> ast.Expr:
        return c[0]

    def number(self, meta: Any, c: list[Any]) -> ast.Number:
        token, units = c
        return self._mark(ast.Number(float(token), units, pos=self._tpos(token)), meta)  # type: ignore[return-value]

    def units_ident(self, meta: Any, c: list[Any]) -> str:
        return str(c[0])

    def string(self, meta: Any, c: list[Any]) -> ast.String:
        return self._mark(ast.String(_unquote(c[0]), pos=self._tpos(c[0])), meta)  # type: ignore[return-value]

    def null(self, meta: Any, c: list[Any]) -> ast.Null:
        return self._mark(ast.Null(pos=self._pos(meta)), meta)  # type: ignore[return-value]

    def default(self, meta: Any, c: list[Any]) -> ast.Default:
        return self._mark(ast.Default(pos=self._pos(meta)), meta)  # type: ignore[return-value]

    def wrap(self, meta: Any, c: list[Any]) -> ast.Wrap:
        token = str(c[0])
        nargs, operator = token[1:].split(":", 1)
        return self._mark(ast.Wrap(int(nargs), operator, pos=self._tpos(c[0])), meta)  # type: ignore[return-value]

    def _name(self, token: Token) -> ast.Expr:
        name = str(token)
        if name.startswith("MathML:"):
            return ast.MathML(name[len("MathML:") :], pos=self._tpos(token))
        return ast.Name(name, pos=self._tpos(token))

    def name(self, meta: Any, c: list[Any]) -> ast.Expr:
        return self._mark(self._name(c[0]), meta)

    def call(self, meta: Any, c: list[Any]) -> ast.Expr:
        token, *args = self._clean(c)
        args = [a for a in args if a is not None]
        pos = self._tpos(token)
        name = str(token)
        node: ast.Expr
        if name in _MAP_FOLD_FIND:
            node = self._builtin(name, args, pos)
        else:
            node = ast.Call(self._name(token), args, pos=pos)
        return self._mark(node, meta)

    def _builtin(self, name: str, args: list[ast.Expr], pos: ast.Pos) -> ast.Expr:
        if name == "map":
            if len(args) < 2:
                raise ProtocolError("map needs a function and at least one array", *self._loc(pos))
            return ast.Map(args[0], args[1:], pos=pos)
        if name == "fold":
            if not 2 <= len(args) <= 4:
                raise ProtocolError(
                    "fold takes 2 to 4 arguments: function, array, initial value, dimension", *self._loc(pos)
                )
            padded = args + [None] * (4 - len(args))
            return ast.Fold(padded[0], padded[1], padded[2], padded[3], pos=pos)  # type: ignore[arg-type]
        if len(args) != 1:
            raise ProtocolError("find takes exactly one argument", *self._loc(pos))
        return ast.Find(args[0], pos=pos)

    def tuple_(self, meta: Any, c: list[Any]) -> ast.TupleExpr:
        return self._mark(ast.TupleExpr([x for x in c if x is not None], pos=self._pos(meta)), meta)  # type: ignore[return-value]

    def array(self, meta: Any, c: list[Any]) -> ast.ArrayExpr:
        return self._mark(ast.ArrayExpr(list(c), pos=self._pos(meta)), meta)  # type: ignore[return-value]

    def comprehension(self, meta: Any, c: list[Any]) -> ast.ArrayComprehension:
        body, *generators = c
        return self._mark(ast.ArrayComprehension(body, generators, pos=self._pos(meta)), meta)  # type: ignore[return-value]

    def generator(self, meta: Any, c: list[Any]) -> ast.Generator:
        dim, var, start, second, third = c
        pos = self._pos(meta)
        if third is None:
            return ast.Generator(str(var), start, ast.Number(1.0, pos=pos), second, dim, pos=pos)
        return ast.Generator(str(var), start, second, third, dim, pos=pos)
