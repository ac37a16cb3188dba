"""The abstract syntax of the functional-curation protocol language.

The parser (``parser.py``) turns compact-syntax text into these nodes; the
interpreter (``evaluate.py``), the model-interface code (``interface.py``) and
the task runner (``tasks.py``) consume them.  Every node carries a ``pos``
(file, line, column) so that any error found later can point at the source.

Node families:

* expressions (``Expr``): ``Number``, ``String``, ``Null``, ``Default``,
  ``Name``, ``MathML``, ``BinaryOp``, ``UnaryOp``, ``If``, ``Lambda``,
  ``Call``, ``Map``, ``Fold``, ``Find``, ``TupleExpr``, ``ArrayExpr``,
  ``ArrayComprehension``, ``View``, ``Index``, ``Accessor``, ``Wrap``,
  ``Interpolate`` (model interface only);
* statements (``Statement``): ``Assign``, ``Return``, ``Assert``;
* model interface statements: ``SetIndependentVarUnits``, ``InputVariable``,
  ``OutputVariable``, ``OptionalVariable``, ``DeclareVariable``,
  ``ClampVariable``, ``DefineEquation``, ``UnitsConversion``;
* tasks: ``Simulation`` wrapping a ``Timecourse``, ``OneStep`` or ``Nested``
  (which nests a ``Simulation``, a ``NestedProtocol`` or the name of another
  simulation), with ``UniformRange`` / ``VectorRange`` / ``WhileRange`` and
  ``SetVariable`` / ``SaveState`` / ``ResetState`` modifiers;
* the whole ``Protocol`` with its sections.

Names keep their prefixes as written: ``oxmeta:membrane_voltage``,
``sim:time``, ``std:Max``.  Binary operators use the source symbols
(``+ - * / ^ == != < > <= >= && ||``); the only unary operators are ``-`` and
``not``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from typing import Literal


@dataclass(frozen=True)
class Pos:
    """Where a node starts in its source file (1-based line and column)."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


NOWHERE = Pos("<generated>", 0, 0)


@dataclass
class Node:
    """Base of every syntax node."""

    pos: Pos = field(default=NOWHERE, kw_only=True, compare=False, repr=False)


def children(node: Node) -> Iterator[Node]:
    """The nodes directly inside ``node``, in field order (lists and tuples are looked into).

    Built from the dataclass fields, so a node type added later is traversed without
    anyone having to teach each analysis about it.
    """
    for f in fields(node):
        if f.name == "pos":
            continue
        value = getattr(node, f.name)
        if isinstance(value, Node):
            yield value
        elif isinstance(value, (list, tuple)):
            yield from (item for item in value if isinstance(item, Node))


def walk(root: Node | None, *, into: Callable[[Node], bool] | None = None) -> Iterator[Node]:
    """Every node under ``root`` (itself included), parents before children, in source order.

    ``into(node)`` false stops the walk from entering ``node`` (which is still yielded):
    an analysis that must not look inside, say, a nested function's body says so here.
    """
    if root is None:
        return
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        if into is None or into(node):
            stack.extend(reversed(list(children(node))))


def name_refs(root: Node | None) -> list[str]:
    """The names read anywhere under ``root`` (its ``Name`` nodes), in source order, repeats kept."""
    return [node.name for node in walk(root) if isinstance(node, Name)]


# --------------------------------------------------------------------------------------------------
# Expressions
# --------------------------------------------------------------------------------------------------


@dataclass
class Expr(Node):
    """Base of all expressions."""


@dataclass
class Number(Expr):
    """A numeric literal, optionally with units (``0 :: mV``; used in the model interface)."""

    value: float
    units: str | None = None


@dataclass
class String(Expr):
    value: str


@dataclass
class Null(Expr):
    """The ``null`` value."""


@dataclass
class Default(Expr):
    """The ``default`` marker: use the parameter's default value."""


@dataclass
class Name(Expr):
    """A variable reference, possibly prefixed (``sim:time``, ``oxmeta:membrane_voltage``)."""

    name: str


@dataclass
class MathML(Expr):
    """A ``MathML:xxx`` identifier: an operator (``exp``, ``max``, ``abs`` ...) when called,
    or a constant (``pi``, ``exponentiale``, ``infinity``, ``notanumber``, ``true``, ``false``)."""

    name: str


BinaryOperator = Literal["+", "-", "*", "/", "^", "==", "!=", "<", ">", "<=", ">=", "&&", "||"]
UnaryOperator = Literal["-", "not"]


@dataclass
class BinaryOp(Expr):
    op: str
    left: Expr
    right: Expr


@dataclass
class UnaryOp(Expr):
    op: str
    operand: Expr


@dataclass
class If(Expr):
    test: Expr
    then: Expr
    orelse: Expr


@dataclass
class Param(Node):
    """A lambda parameter; ``default`` is used when the caller passes ``default`` or nothing."""

    name: str
    default: Expr | None = None


@dataclass
class Lambda(Expr):
    """A function literal.  ``lambda x: e`` has body ``[Return([e])]``."""

    params: list[Param]
    body: list[Statement]


@dataclass
class Call(Expr):
    """A function call.  ``function`` is a ``Name`` (user/library function) or ``MathML``."""

    function: Expr
    args: list[Expr]


@dataclass
class Map(Expr):
    """``map(f, a1, a2, ...)``: apply f element-wise to arrays of the same shape."""

    function: Expr
    arrays: list[Expr]


@dataclass
class Fold(Expr):
    """``fold(f, array, initial=default, dim=default)``: reduce along one dimension, keeping it with extent 1."""

    function: Expr
    array: Expr
    initial: Expr | None = None
    dim: Expr | None = None


@dataclass
class Find(Expr):
    """``find(array)``: the indices of the non-zero entries, as an array of shape (n, ndim)."""

    array: Expr


@dataclass
class TupleExpr(Expr):
    items: list[Expr]


@dataclass
class ArrayExpr(Expr):
    """``[a, b, c]``: an array whose entries are numbers or same-shaped arrays."""

    items: list[Expr]


@dataclass
class Generator(Node):
    """One ``for [dim$]var in start:step:end`` clause of a comprehension (end exclusive)."""

    var: str
    start: Expr
    step: Expr
    end: Expr
    dim: Expr | None = None


@dataclass
class ArrayComprehension(Expr):
    """``[body for i in a:b for j in c:d]``: the first generator varies slowest unless dims say otherwise."""

    body: Expr
    generators: list[Generator]


@dataclass
class ViewSpec(Node):
    """One ``[dim$start:step:end]`` part of a view.

    ``dim`` is None when not given (the next dimension in order); ``all_dims``
    is True for ``*$...`` (apply to all remaining dimensions).  ``start``,
    ``step`` and ``end`` are None where omitted.  ``is_range`` is False for a
    single index (``a[3]``, ``a[1$3]``), which removes that dimension; in that
    case ``start`` holds the index.
    """

    start: Expr | None
    step: Expr | None
    end: Expr | None
    is_range: bool
    dim: Expr | None = None
    all_dims: bool = False


@dataclass
class View(Expr):
    array: Expr
    specs: list[ViewSpec]


@dataclass
class Index(Expr):
    """``array{indices, dim, shrink:s, pad:p=v}``: pick the entries at ``indices`` (from ``find``) along ``dim``."""

    array: Expr
    indices: Expr
    dim: Expr | None = None
    shrink: Expr | None = None
    pad_direction: Expr | None = None
    pad_value: Expr | None = None


ACCESSORS = (
    "IS_SIMPLE_VALUE",
    "IS_ARRAY",
    "IS_STRING",
    "IS_TUPLE",
    "IS_FUNCTION",
    "IS_NULL",
    "IS_DEFAULT",
    "NUM_DIMS",
    "NUM_ELEMENTS",
    "SHAPE",
)


@dataclass
class Accessor(Expr):
    """``value.NUM_DIMS`` and the other properties in ``ACCESSORS``."""

    operand: Expr
    name: str


@dataclass
class Wrap(Expr):
    """``@2:+`` or ``@1:MathML:exp``: an operator wrapped as a function of ``nargs`` arguments."""

    nargs: int
    operator: str  # an operator symbol, or "MathML:xxx"


@dataclass
class Interpolate(Expr):
    """``interpolate("file.csv", var, x_units, y_units)`` on the right of a model-interface ``define``."""

    path: str
    variable: Name
    x_units: str
    y_units: str


# --------------------------------------------------------------------------------------------------
# Statements
# --------------------------------------------------------------------------------------------------


@dataclass
class Statement(Node):
    """Base of post-processing statements."""


@dataclass
class Assign(Statement):
    """``a = e``, ``a, b = e1, e2`` / ``a, b = tuple_expr``, ``optional a = e`` and ``def f(...)``.

    For several names, ``value`` is a ``TupleExpr`` when several expressions
    were written, otherwise an expression yielding a tuple.  ``optional``
    assignments that fail to evaluate leave the name undefined.
    """

    names: list[str]
    value: Expr
    optional: bool = False


@dataclass
class Return(Statement):
    """``return e`` or ``return e1, e2`` (which returns a tuple)."""

    values: list[Expr]


@dataclass
class Assert(Statement):
    test: Expr


# --------------------------------------------------------------------------------------------------
# Model interface
# --------------------------------------------------------------------------------------------------


@dataclass
class InterfaceStatement(Node):
    """Base of model-interface statements."""


@dataclass
class SetIndependentVarUnits(InterfaceStatement):
    units: str


@dataclass
class InputVariable(InterfaceStatement):
    """``input oxmeta:x [units u] [= value]``."""

    name: str
    units: str | None = None
    initial_value: float | None = None


@dataclass
class OutputVariable(InterfaceStatement):
    """``output oxmeta:x [units u]`` (``oxmeta:state_variable`` etc. name a category of variables)."""

    name: str
    units: str | None = None


@dataclass
class OptionalVariable(InterfaceStatement):
    """``optional oxmeta:x [default expr]``; ``default_text`` is the source text of the default."""

    name: str
    default: Expr | None = None
    default_text: str | None = None


@dataclass
class DeclareVariable(InterfaceStatement):
    """``var name units u [= value]``: a new variable added to the model."""

    name: str
    units: str
    initial_value: float | None = None


@dataclass
class ClampVariable(InterfaceStatement):
    """``clamp oxmeta:x [to expr]``; without ``to``, clamp to its current (initial) value."""

    name: str
    value: Expr | None = None


@dataclass
class DefineEquation(InterfaceStatement):
    """``define x = expr`` or, with ``wrt`` set, ``define diff(x; wrt) = expr``."""

    name: str
    value: Expr
    wrt: str | None = None


@dataclass
class UnitsConversion(InterfaceStatement):
    """``convert actual to desired by lambda rhs: ...``."""

    actual: str
    desired: str
    rule: Lambda


@dataclass
class ModelInterface(Node):
    independent_var_units: str | None
    statements: list[InterfaceStatement]


# --------------------------------------------------------------------------------------------------
# Tasks
# --------------------------------------------------------------------------------------------------


@dataclass
class Range(Node):
    name: str
    units: str


@dataclass
class UniformRange(Range):
    """``uniform start:step:end`` (end inclusive, unlike comprehensions); step defaults to 1."""

    start: Expr
    end: Expr
    step: Expr


@dataclass
class VectorRange(Range):
    values: Expr


@dataclass
class WhileRange(Range):
    """``while cond``: loop while cond holds, evaluated after each iteration (the range name counts from 0)."""

    condition: Expr


When = Literal["start", "each", "end"]


@dataclass
class Modifier(Node):
    when: str  # "start", "each" or "end"


@dataclass
class SetVariable(Modifier):
    name: str
    value: Expr


@dataclass
class SaveState(Modifier):
    state_name: str


@dataclass
class ResetState(Modifier):
    """``reset`` (to the initial state) or ``reset to saved_name``."""

    state_name: str | None = None


@dataclass
class SelectOutput(Node):
    name: str
    optional: bool = False


@dataclass
class NestedProtocol(Node):
    """``protocol "file.txt" { input = expr ... select output x }`` inside a nested simulation.

    ``path`` is resolved relative to the file that contains it; ``written`` is the path as
    written in the protocol (checked by ``protocol.py`` to stay inside the protocol's folder).
    """

    path: str
    inputs: list[Assign]
    select_outputs: list[SelectOutput]
    trace: bool = False
    written: str = ""


@dataclass
class SimulationBody(Node):
    """Base of timecourse, oneStep and nested simulations."""


@dataclass
class Timecourse(SimulationBody):
    range: Range
    modifiers: list[Modifier] = field(default_factory=list)


@dataclass
class OneStep(SimulationBody):
    step: Expr | None = None
    modifiers: list[Modifier] = field(default_factory=list)


@dataclass
class Nested(SimulationBody):
    """``nested { range ...; modifiers {...}; nests <simulation | protocol | name> }``."""

    range: Range
    modifiers: list[Modifier]
    nested: Simulation | NestedProtocol | str


@dataclass
class Simulation(Node):
    """A task; ``prefix`` (possibly empty) names its results in post-processing (``prefix:name``)."""

    prefix: str
    body: SimulationBody
    trace: bool = False


# --------------------------------------------------------------------------------------------------
# Protocol sections
# --------------------------------------------------------------------------------------------------


@dataclass
class Import(Node):
    """``import [prefix =] "file.txt" [{ input = expr ... }]``; an empty prefix merges into this protocol."""

    prefix: str
    path: str
    inputs: list[Assign] = field(default_factory=list)


@dataclass
class UnitRef(Node):
    """One factor of a units definition: ``[multiplier] [prefix]units[^exponent] [+/- offset]``."""

    units: str
    prefix: str | None = None
    multiplier: float | None = None
    exponent: float | None = None
    offset: float | None = None


@dataclass
class UnitsDef(Node):
    name: str
    refs: list[UnitRef]
    description: str | None = None


@dataclass
class OutputSpec(Node):
    """An ``outputs`` entry: ``name units u "desc"`` or ``name = ref [units u] "desc"``."""

    name: str
    ref: str | None = None
    units: str | None = None
    description: str | None = None
    optional: bool = False


@dataclass
class PlotCurve(Node):
    y: list[str]
    x: str
    key: str | None = None


@dataclass
class PlotSpec(Node):
    title: str
    curves: list[PlotCurve]
    using: str | None = None  # "lines", "points" or "linespoints"


@dataclass
class Protocol(Node):
    """A whole protocol file, sections in source order of the language."""

    file: str
    documentation: str | None = None
    namespaces: dict[str, str] = field(default_factory=dict)
    inputs: list[Assign] = field(default_factory=list)
    imports: list[Import] = field(default_factory=list)
    library: list[Statement] = field(default_factory=list)
    units: list[UnitsDef] = field(default_factory=list)
    model_interface: ModelInterface | None = None
    tasks: list[Simulation] = field(default_factory=list)
    post_processing: list[Statement] = field(default_factory=list)
    outputs: list[OutputSpec] = field(default_factory=list)
    plots: list[PlotSpec] = field(default_factory=list)
