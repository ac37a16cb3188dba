"""The compact-syntax parser (worker/fc/parser.py, grammar.lark): every real protocol parses, and errors say where."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA
from worker.fc import ast
from worker.fc.errors import ProtocolError
from worker.fc.parser import parse_expression, parse_file, parse_text

ROOT = Path(__file__).resolve().parents[2]
DATA = SHARED_DATA
PROTOCOLS = DATA / "fc" / "protocols"
ALL_PROTOCOLS = (
    sorted(PROTOCOLS.glob("*.txt"))
    + sorted((PROTOCOLS / "real").glob("*.txt"))
    + sorted((PROTOCOLS / "library").glob("*.txt"))
)


@pytest.mark.parametrize("path", ALL_PROTOCOLS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_protocol_parses(path: Path) -> None:
    protocol = parse_file(path)
    assert protocol.file == str(path)
    text = path.read_text()
    # Each non-empty section written in the file shows up in the tree.
    for keyword, attribute in [
        ("post-processing", "post_processing"),
        ("tasks", "tasks"),
        ("outputs", "outputs"),
        ("library", "library"),
        ("inputs", "inputs"),
    ]:
        match = re.search(rf"^{keyword}\s*\{{\s*(#[^\n]*\s*)*(\S)", text, re.M)
        if match and match.group(2) != "}":
            assert getattr(protocol, attribute), f"{keyword} section lost"


def test_ical_protocol_structure() -> None:
    p = parse_file(PROTOCOLS / "real" / "ICaL.txt")
    assert p.namespaces == {"oxmeta": "https://chaste.comlab.ox.ac.uk/cellml/ns/oxford-metadata#"}
    assert [a.names[0] for a in p.inputs] == ["holding_potential", "steady_state_time", "test_potentials"]
    assert p.imports[0].prefix == "std" and p.imports[0].path == "BasicLibrary.txt"
    units = {u.name: u for u in p.units}
    assert units["uA_per_cm2"].refs[1] == ast.UnitRef("metre", "centi", None, -2.0, None)
    assert units["uA_per_cm2"].description == "{/Symbol m}A/cm^2"
    mi = p.model_interface
    assert mi is not None
    kinds = [type(s).__name__ for s in mi.statements]
    assert kinds.count("InputVariable") == 2 and kinds.count("UnitsConversion") == 4
    define = next(s for s in mi.statements if isinstance(s, ast.DefineEquation))
    assert define.name == "oxmeta:membrane_voltage" and define.value == ast.Number(0.0, "mV")
    outer = p.tasks[1]
    assert outer.prefix == "sim" and isinstance(outer.body, ast.Nested)
    inner = outer.body.nested
    assert isinstance(inner, ast.Simulation) and isinstance(inner.body, ast.Nested)
    assert [type(m).__name__ for m in inner.body.modifiers] == ["ResetState", "SetVariable"]
    timecourse = inner.body.nested.body
    assert isinstance(timecourse, ast.Timecourse)
    assert timecourse.range == ast.UniformRange(
        "time", "ms", ast.Number(-10.0), ast.Number(500.0), ast.Number(0.01)
    )
    assert p.outputs[0].ref == "sim:extracellular_calcium_concentration"
    assert p.plots[0] == ast.PlotSpec(
        "IV curve",
        [ast.PlotCurve(["min_LCC"], "final_membrane_voltage", "step_calcium_values")],
        "linespoints",
    )


def test_positions_point_at_the_source() -> None:
    p = parse_text("post-processing {\n    x = 1\n    y = x + 2\n}\n", "mem.txt")
    assign = p.post_processing[1]
    assert (assign.pos.file, assign.pos.line, assign.pos.column) == ("mem.txt", 3, 5)
    assert assign.value.pos.line == 3 and assign.value.pos.column == 11  # the '+'


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1 + 2 * 3", ast.BinaryOp("+", ast.Number(1), ast.BinaryOp("*", ast.Number(2), ast.Number(3)))),
        ("a - b - c", ast.BinaryOp("-", ast.BinaryOp("-", ast.Name("a"), ast.Name("b")), ast.Name("c"))),
        ("2 ^ 3 ^ 2", ast.BinaryOp("^", ast.BinaryOp("^", ast.Number(2), ast.Number(3)), ast.Number(2))),
        ("-x ^ 2", ast.UnaryOp("-", ast.BinaryOp("^", ast.Name("x"), ast.Number(2)))),
        ("not a == b", ast.BinaryOp("==", ast.UnaryOp("not", ast.Name("a")), ast.Name("b"))),
        (
            "a < 1 && b || c",
            ast.BinaryOp(
                "||",
                ast.BinaryOp("&&", ast.BinaryOp("<", ast.Name("a"), ast.Number(1)), ast.Name("b")),
                ast.Name("c"),
            ),
        ),
        ("-1", ast.Number(-1)),
        ("sim:time", ast.Name("sim:time")),
        ("MathML:pi", ast.MathML("pi")),
        ("MathML:exp(1)", ast.Call(ast.MathML("exp"), [ast.Number(1)])),
        ("std:Max(a, default)", ast.Call(ast.Name("std:Max"), [ast.Name("a"), ast.Default()])),
        ("(a, b)", ast.TupleExpr([ast.Name("a"), ast.Name("b")])),
        ("@2:MathML:max", ast.Wrap(2, "MathML:max")),
        ("@1:-", ast.Wrap(1, "-")),
        (
            "x.SHAPE[0]",
            ast.View(ast.Accessor(ast.Name("x"), "SHAPE"), [ast.ViewSpec(ast.Number(0), None, None, False)]),
        ),
        (
            "if a then 1 else 2 + 3",
            ast.If(ast.Name("a"), ast.Number(1), ast.BinaryOp("+", ast.Number(2), ast.Number(3))),
        ),
        (
            "1 + if a then b else c + d",
            ast.BinaryOp(
                "+",
                ast.Number(1),
                ast.If(ast.Name("a"), ast.Name("b"), ast.BinaryOp("+", ast.Name("c"), ast.Name("d"))),
            ),
        ),
        ("map(@2:+, a, b)", ast.Map(ast.Wrap(2, "+"), [ast.Name("a"), ast.Name("b")])),
        ("fold(f, a)", ast.Fold(ast.Name("f"), ast.Name("a"))),
        ("find(a)", ast.Find(ast.Name("a"))),
        ("0 :: units_of(oxmeta:V)", ast.Number(0, "units_of(oxmeta:V)")),
    ],
)
def test_expression_shapes(text: str, expected: ast.Expr) -> None:
    assert parse_expression(text) == expected


def test_consecutive_view_brackets_form_one_view() -> None:
    # a[2$-1][0$0][*$:] selects along several dimensions at once, which is not the same as nesting views
    view = parse_expression("a[2$-1][0$0][*$:]")
    assert isinstance(view, ast.View) and len(view.specs) == 3
    s0, s1, s2 = view.specs
    assert (s0.dim, s0.start, s0.is_range) == (ast.Number(2), ast.Number(-1), False)
    assert (s1.dim, s1.start) == (ast.Number(0), ast.Number(0))
    assert s2.all_dims and s2.is_range and s2.start is None and s2.end is None


def test_view_slices_are_start_step_end() -> None:
    view = parse_expression("a[1:2:9]")
    assert view.specs[0] == ast.ViewSpec(ast.Number(1), ast.Number(2), ast.Number(9), True)
    view = parse_expression("a[3:]")
    assert view.specs[0] == ast.ViewSpec(ast.Number(3), None, None, True)


def test_index_with_shrink_and_pad() -> None:
    e = parse_expression("t{idx, dim, shrink:1}")
    assert e == ast.Index(ast.Name("t"), ast.Name("idx"), ast.Name("dim"), ast.Number(1))
    e = parse_expression("t{idx, 1, pad:-1=v}")
    assert e == ast.Index(ast.Name("t"), ast.Name("idx"), ast.Number(1), None, ast.Number(-1), ast.Name("v"))
    e = parse_expression("t{i, 0, shrink:if a then 1 else -1}")
    assert isinstance(e.shrink, ast.If)


def test_comprehensions() -> None:
    e = parse_expression("[i*3 + j for 0$i in 1:3 for 1$j in 0:2:6]")
    assert isinstance(e, ast.ArrayComprehension)
    g0, g1 = e.generators
    assert (g0.var, g0.dim, g0.start, g0.step, g0.end) == (
        "i",
        ast.Number(0),
        ast.Number(1),
        ast.Number(1),
        ast.Number(3),
    )
    assert (g1.var, g1.start, g1.step, g1.end) == ("j", ast.Number(0), ast.Number(2), ast.Number(6))


def test_keywords_are_names_where_no_keyword_fits() -> None:
    p = parse_text("post-processing {\n input = [1, 2]\n range = input\n units = 3\n}\n")
    assert [s.names[0] for s in p.post_processing] == ["input", "range", "units"]
    p = parse_text(
        "tasks {\n simulation nested = nested {\n  range i units dimensionless vector [1]\n"
        "  nests simulation timecourse { range t units ms uniform 0:1 }\n }\n}\n"
    )
    assert p.tasks[0].prefix == "nested"


def test_functions_and_lambdas() -> None:
    p = parse_text("library {\n def f(a, b=2): a + b\n g = lambda x { y = x\n return y, x }\n}\n")
    f, g = p.library
    assert f.names == ["f"] and isinstance(f.value, ast.Lambda)
    assert [(x.name, x.default) for x in f.value.params] == [("a", None), ("b", ast.Number(2))]
    assert f.value.body == [ast.Return([ast.BinaryOp("+", ast.Name("a"), ast.Name("b"))])]
    assert isinstance(g.value, ast.Lambda) and len(g.value.body) == 2
    assert g.value.body[1] == ast.Return([ast.Name("y"), ast.Name("x")])


def test_model_interface_statements() -> None:
    p = parse_text(
        """model interface {
    independent var units ms
    input oxmeta:V units mV = -80
    output oxmeta:state_variable
    optional oxmeta:Cl default 2 :: dimensionless * oxmeta:Na
    var c units uF = 1
    clamp oxmeta:Cao to 2 :: mM
    define diff(oxmeta:x; oxmeta:time) = 1 :: mV_per_ms
    convert A_per_F to uA by lambda rhs: rhs * c
}""",
        "mi.txt",
    )
    mi = p.model_interface
    assert mi is not None and mi.independent_var_units == "ms"
    s = mi.statements
    assert s[1] == ast.InputVariable("oxmeta:V", "mV", -80.0)
    assert s[2] == ast.OutputVariable("oxmeta:state_variable")
    assert isinstance(s[3], ast.OptionalVariable) and s[3].default_text == "2 :: dimensionless * oxmeta:Na"
    assert s[4] == ast.DeclareVariable("c", "uF", 1.0)
    assert s[5] == ast.ClampVariable("oxmeta:Cao", ast.Number(2, "mM"))
    assert s[6] == ast.DefineEquation("oxmeta:x", ast.Number(1, "mV_per_ms"), "oxmeta:time")
    assert isinstance(s[7], ast.UnitsConversion) and s[7].actual == "A_per_F" and s[7].desired == "uA"


def test_nested_protocol_path_is_relative_to_the_protocol() -> None:
    p = parse_file(PROTOCOLS / "test_nested_protocol.txt")
    nested = p.tasks[0].body.nested
    assert isinstance(nested, ast.NestedProtocol)
    assert Path(nested.path).exists()
    assert [o.name for o in nested.select_outputs]


@pytest.mark.parametrize(
    "text, line, column, expected",
    [
        ("post-processing {\n    a = [1, 2\n    b = 3\n}\n", 3, 5, "expected ',', ']'"),
        ("inputs {\n  a = 1 + $\n}\n", 2, 11, "unexpected '$'"),
        ("tasks {\n  simulation timecourse {\n    range t units ms uniform 0:1\n  }\n", 5, 1, "end of file"),
        ("post-processing {\n  a, b = 1, 2, 3\n}\n", 2, 3, "cannot assign 3 values to 2 names"),
        ("outputs {\n  x:y units mV\n}\n", 2, 3, "plain name"),
    ],
)
def test_syntax_errors_say_where_and_what(text: str, line: int, column: int, expected: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_text(text, "bad.txt")
    err = info.value
    assert (err.file, err.line, err.column) == ("bad.txt", line, column)
    assert expected in str(err)
    assert str(err).startswith(f"bad.txt:{line}:{column}: ")


def test_unreadable_file_is_a_protocol_error(tmp_path: Path) -> None:
    with pytest.raises(ProtocolError, match="cannot read protocol file"):
        parse_file(tmp_path / "missing.txt")


def test_units_definitions_with_multipliers_offsets_and_exponents() -> None:
    p = parse_text(
        "units {\n C = kelvin - 273.15\n F = (5/9) kelvin + (32 - 273.15 * 9 / 5)\n"
        ' litre = 1000 centi metre^3\n flux = nM . hour ^ -1 "nM/h"\n}\n'
    )
    c, f, litre, flux = p.units
    assert c.refs == [ast.UnitRef("kelvin", offset=-273.15)]
    assert f.refs[0].multiplier == pytest.approx(5 / 9)
    assert f.refs[0].offset == pytest.approx(32 - 273.15 * 9 / 5)
    assert litre.refs == [ast.UnitRef("metre", "centi", 1000.0, 3.0)]
    assert flux.refs[1] == ast.UnitRef("hour", exponent=-1.0) and flux.description == "nM/h"


def test_one_step_forms_and_optional_as_a_name() -> None:
    p = parse_text(
        "tasks {\n simulation oneStep\n simulation sim = oneStep step\n"
        " simulation oneStep { modifiers { at start set a = 1 } }\n}\n"
        "post-processing {\n optional = 2\n optional x = optional\n}\n"
    )
    bodies = [t.body for t in p.tasks]
    assert bodies[0] == ast.OneStep() and bodies[1] == ast.OneStep(ast.Name("step"))
    assert bodies[2].modifiers == [ast.SetVariable("start", "a", ast.Number(1))]
    assert p.post_processing == [
        ast.Assign(["optional"], ast.Number(2)),
        ast.Assign(["x"], ast.Name("optional"), optional=True),
    ]
