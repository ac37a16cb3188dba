"""The post-processing language and the standard libraries, checked against numpy computed independently.

Each test writes a small protocol (post-processing only) that imports the
packaged BasicLibrary and CardiacLibrary, runs it, and compares its outputs
with the same quantity computed directly with numpy in the test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from worker.fc import load_protocol
from worker.fc.errors import ProtocolError
from worker.fc.parser import parse_text

IMPORTS = 'import "BasicLibrary.txt"\nimport cardiac = "CardiacLibrary.txt"\n'


def run_pp(tmp_path: Path, body: str, outputs: list[str], *, inputs: str = "") -> dict[str, np.ndarray]:
    """Run a post-processing snippet; returns the named values (all must be computed)."""
    text = IMPORTS + (f"inputs {{\n{inputs}\n}}\n" if inputs else "")
    text += "post-processing {\n" + body + "\n}\n"
    text += "outputs {\n" + "\n".join(f"    {name} units dimensionless" for name in outputs) + "\n}\n"
    path = tmp_path / "snippet.txt"
    path.write_text(text)
    result = load_protocol(path).run(None)
    assert result.status == "success", result.messages
    return result.outputs


def run_failing(tmp_path: Path, body: str) -> str:
    path = tmp_path / "failing.txt"
    path.write_text(IMPORTS + "post-processing {\n" + body + "\n}\n")
    result = load_protocol(path).run(None)
    assert result.status == "failed"
    return "\n".join(result.messages)


def literal(a: np.ndarray) -> str:
    """A protocol-language array literal for a numpy array."""
    if a.ndim == 0:
        return repr(float(a))
    return "[" + ", ".join(literal(x) for x in a) + "]"


RNG = np.random.default_rng(20111)
M = np.round(RNG.normal(size=(3, 4, 5)), 3)


# --------------------------------------------------------------------------------------------------
# BasicLibrary
# --------------------------------------------------------------------------------------------------


def test_reductions_along_each_dimension(tmp_path: Path) -> None:
    body = f"m = {literal(M)}\n"
    names = []
    for fn in ("Max", "Min", "Sum", "Product", "Mean"):
        for dim in range(3):
            body += f"{fn.lower()}{dim} = {fn}(m, {dim})\n"
            names.append(f"{fn.lower()}{dim}")
    body += "maxd = Max(m)\n"
    out = run_pp(tmp_path, body, names + ["maxd"])
    for fn, ref in (
        ("max", np.max),
        ("min", np.min),
        ("sum", np.sum),
        ("product", np.prod),
        ("mean", np.mean),
    ):
        for dim in range(3):
            np.testing.assert_allclose(out[f"{fn}{dim}"], ref(M, axis=dim, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(out["maxd"], np.max(M, axis=2, keepdims=True))


def test_diff_grad_join_transpose_stretch(tmp_path: Path) -> None:
    x = np.cumsum(RNG.uniform(0.1, 1.0, size=12))
    y = np.sin(x)
    m2 = M[0]
    out = run_pp(
        tmp_path,
        f"""
        x = {literal(x)}
        y = {literal(y)}
        m2 = {literal(m2)}
        d = Diff(y)
        g = Grad(x, y)
        d0 = Diff(m2, 0)
        j = Join(x, y)
        j0 = Join(m2, m2, 0)
        tr = Transpose(m2)
        st = Stretch([[1], [2], [3]], 4, 1)
        last = Last(y)
        ad = AddDim(m2, 1)
        rd = RemoveDim(ad, 1)
    """,
        ["d", "g", "d0", "j", "j0", "tr", "st", "last", "ad", "rd"],
    )
    np.testing.assert_allclose(out["d"], np.diff(y))
    np.testing.assert_allclose(out["g"], np.diff(y) / np.diff(x))
    np.testing.assert_allclose(out["d0"], np.diff(m2, axis=0))
    np.testing.assert_array_equal(out["j"], np.concatenate([x, y]))
    np.testing.assert_array_equal(out["j0"], np.concatenate([m2, m2], axis=0))
    np.testing.assert_array_equal(out["tr"], m2.T)
    np.testing.assert_array_equal(out["st"], np.repeat([[1.0], [2.0], [3.0]], 4, axis=1))
    assert out["last"] == y[-1]
    np.testing.assert_array_equal(out["ad"], m2[:, np.newaxis, :])
    np.testing.assert_array_equal(out["rd"], m2)


def _edge_shift(a: np.ndarray, distance: int) -> np.ndarray:
    """Shift right by ``distance`` along the last axis, repeating the edge value (numpy reference)."""
    n = a.shape[-1]
    idx = np.clip(np.arange(n) - distance, 0, n - 1)
    return a[..., idx]


def test_shift_window_and_localise(tmp_path: Path) -> None:
    v = np.round(RNG.normal(size=9), 3)
    out = run_pp(
        tmp_path,
        f"""
        v = {literal(v)}
        s2 = Shift(v, 2)
        sm3 = Shift(v, -3)
        w = Window(v, 2)
        lmax = Localise(Max, v, 2)
        lmean = Localise(Mean, v, 1)
    """,
        ["s2", "sm3", "w", "lmax", "lmean"],
    )
    np.testing.assert_array_equal(out["s2"], _edge_shift(v, 2))
    np.testing.assert_array_equal(out["sm3"], _edge_shift(v, -3))
    window = np.stack([_edge_shift(v, d) for d in range(-2, 3)])
    np.testing.assert_array_equal(out["w"], window)
    padded = np.pad(v, 2, mode="edge")
    sliding_max = np.array([padded[i : i + 5].max() for i in range(len(v))])
    np.testing.assert_array_equal(out["lmax"], sliding_max)
    padded1 = np.pad(v, 1, mode="edge")
    np.testing.assert_allclose(out["lmean"], [padded1[i : i + 3].mean() for i in range(len(v))])


def test_interp_finds_linear_crossings(tmp_path: Path) -> None:
    xs = np.linspace(0.0, 10.0, 41)
    ys = np.cos(xs)
    # The first time after (or last before) xs == start at which ys crosses target, by linear interpolation.
    cases = [(0.5, 2.0, 1), (-0.25, 2.0, 1), (0.5, 9.0, 0)]
    body = f"xs = {literal(xs)}\nys = {literal(ys)}\n"
    for k, (target, start, after) in enumerate(cases):
        body += f"r{k} = Interp(xs, ys, [{target}], [{start}], {after})\n"
    out = run_pp(tmp_path, body, [f"r{k}" for k in range(len(cases))])
    for k, (target, start, after) in enumerate(cases):
        if after:
            segments = [j for j in range(1, len(xs)) if xs[j - 1] >= start]
        else:
            segments = [j for j in range(len(xs) - 1, 0, -1) if xs[j] <= start]
        j = next(j for j in segments if (ys[j] - target) * (ys[j - 1] - target) <= 0)
        expected = xs[j - 1] + (target - ys[j - 1]) * (xs[j] - xs[j - 1]) / (ys[j] - ys[j - 1])
        assert out[f"r{k}"][0] == pytest.approx(expected, rel=1e-9)


def test_sort_filter_count_after(tmp_path: Path) -> None:
    v = np.array([5.0, -1.0, 3.5, 2.0, 9.0, 0.5])
    out = run_pp(
        tmp_path,
        f"""
        v = {literal(v)}
        sorted = Sort(v)
        small = Filter(v, lambda x: x < 3)
        count = [Count(v, lambda x: x > 1)]
        perm = GetSortPermutation(v)
        arr = MakeArray(7, [2, 3])
    """,
        ["sorted", "small", "count", "perm", "arr"],
    )
    np.testing.assert_array_equal(out["sorted"], np.sort(v))
    np.testing.assert_array_equal(out["small"], v[v < 3])
    assert out["count"][0] == np.count_nonzero(v > 1)
    np.testing.assert_array_equal(out["perm"], np.argsort(v, kind="stable"))
    np.testing.assert_array_equal(out["arr"], np.full((2, 3), 7.0))


# --------------------------------------------------------------------------------------------------
# CardiacLibrary
# --------------------------------------------------------------------------------------------------


def synthetic_aps(t: np.ndarray, starts: list[float], rest: float, peak: float, tau: float) -> np.ndarray:
    """A train of action potentials: a 3 ms quadratic upstroke then exponential repolarisation."""
    v = np.full_like(t, rest)
    for t0 in starts:
        up = (t >= t0) & (t < t0 + 3)
        v[up] = rest + (peak - rest) * ((t[up] - t0) / 3) ** 2
        down = t >= t0 + 3
        v[down] = np.maximum(v[down], rest + (peak - rest) * np.exp(-(t[down] - t0 - 3) / tau))
    return v


def crossings(t: np.ndarray, v: np.ndarray, percent: float) -> tuple[np.ndarray, np.ndarray]:
    """AP start and end times at ``percent`` repolarisation, computed independently of the library."""
    v_rest = v.min()
    dvdt = np.diff(v) / np.diff(t)
    ups = np.nonzero(dvdt > 10)[0]
    groups = np.split(ups, np.nonzero(np.diff(ups) > 1)[0] + 1)
    starts, ends = [], []
    for g in groups:
        i_peak = g[-1] + 1
        while i_peak + 1 < len(v) and v[i_peak + 1] > v[i_peak]:
            i_peak += 1
        relax = v_rest + (1 - percent / 100) * (v[i_peak] - v_rest)
        i = i_peak
        while v[i] > relax:
            i -= 1
        starts.append(t[i] + (relax - v[i]) * (t[i + 1] - t[i]) / (v[i + 1] - v[i]))
        j = i_peak
        while v[j] > relax:
            j += 1
        ends.append(t[j - 1] + (relax - v[j - 1]) * (t[j] - t[j - 1]) / (v[j] - v[j - 1]))
    return np.array(starts), np.array(ends)


def test_apd_and_di_on_synthetic_action_potentials(tmp_path: Path) -> None:
    t = np.arange(0.0, 1200.0, 1.0)
    v1 = synthetic_aps(t, [100.0, 500.0, 900.0], -85.0, 30.0, 60.0)
    v2 = synthetic_aps(t, [150.0, 550.0, 950.0], -80.0, 40.0, 90.0)
    out = run_pp(
        tmp_path,
        f"""
        t1 = {literal(t)}
        v = [{literal(v1)}, {literal(v2)}]
        t = [t1, t1]
        apd90 = cardiac:Apd(v, t)
        apd50 = cardiac:Apd(v, t, 50)
        apds, dis = cardiac:ApdAndDi(v, t)
    """,
        ["apd90", "apd50", "apds", "dis"],
    )
    expected90 = []
    expected_di = []
    for v in (v1, v2):
        s, e = crossings(t, v, 90)
        expected90.append(e - s)
        expected_di.append(s[1:] - e[:-1])
    np.testing.assert_allclose(out["apd90"], expected90, rtol=1e-9)
    np.testing.assert_allclose(out["apds"], expected90, rtol=1e-9)
    np.testing.assert_allclose(out["dis"], expected_di, rtol=1e-9)
    expected50 = [np.subtract(*crossings(t, v, 50)[::-1]) for v in (v1, v2)]
    np.testing.assert_allclose(out["apd50"], expected50, rtol=1e-9)
    # And the independent reference agrees with the analytic APD of the synthetic trace.
    analytic90 = 3 - 0.9 + 60.0 * np.log(10)  # from 10% on the upstroke, then exponential decay to 10%
    assert expected90[0][0] == pytest.approx(analytic90, abs=1.0)


# --------------------------------------------------------------------------------------------------
# The language itself
# --------------------------------------------------------------------------------------------------


def test_views_match_python_slicing(tmp_path: Path) -> None:
    a = np.arange(1.0, 11.0)
    out = run_pp(
        tmp_path,
        f"""
        a = {literal(a)}
        rev = a[:-1:]
        r2 = a[4:-1:2]
        r3 = a[2:-2:-11]
        fwd = a[1:3:9]
        m = {literal(M)}
        sel = m[1$2][0$0]
        rest = m[*$1:3]
        last = m[2$-1]
    """,
        ["rev", "r2", "r3", "fwd", "sel", "rest", "last"],
    )
    np.testing.assert_array_equal(out["rev"], a[::-1])
    np.testing.assert_array_equal(out["r2"], a[4:2:-1])
    np.testing.assert_array_equal(out["r3"], a[2:-11:-2])
    np.testing.assert_array_equal(out["fwd"], a[1:9:3])
    np.testing.assert_array_equal(out["sel"], M[0, 2, :])
    np.testing.assert_array_equal(out["rest"], M[1:3, 1:3, 1:3])
    np.testing.assert_array_equal(out["last"], M[:, :, -1])


def test_comprehensions_with_explicit_dimensions(tmp_path: Path) -> None:
    out = run_pp(
        tmp_path,
        """
        c = [ i*3 + j for 1$j in 0:3 for 0$i in 1:3 ]
        blocks = [ [[-10+j, j], [10+j, 20+j]] for 1$j in 0:2 ]
        step = [ i for i in 10:-3:0 ]
    """,
        ["c", "blocks", "step"],
    )
    np.testing.assert_array_equal(out["c"], [[3, 4, 5], [6, 7, 8]])
    np.testing.assert_array_equal(out["blocks"], np.array([[[-10, 0], [-9, 1]], [[10, 20], [11, 21]]]))
    np.testing.assert_array_equal(out["step"], np.arange(10, 0, -3))


def test_find_and_index_with_shrink_and_pad(tmp_path: Path) -> None:
    a = np.arange(15.0).reshape(3, 5)
    out = run_pp(
        tmp_path,
        f"""
        a = {literal(a)}
        odd = find(map(lambda x: MathML:rem(x, 2), a))
        right = a{{odd, 1, shrink:1}}
        left = a{{odd, 1, shrink:-1}}
        padded = a{{odd, 1, pad:1=55}}
        padleft = a{{odd, 1, pad:-1=-55}}
    """,
        ["odd", "right", "left", "padded", "padleft"],
    )
    np.testing.assert_array_equal(out["odd"], np.argwhere(a % 2 == 1))
    rows = [a[i][a[i] % 2 == 1] for i in range(3)]
    n_min, n_max = min(map(len, rows)), max(map(len, rows))
    np.testing.assert_array_equal(out["right"], [r[:n_min] for r in rows])
    np.testing.assert_array_equal(out["left"], [r[len(r) - n_min :] for r in rows])
    np.testing.assert_array_equal(out["padded"], [np.concatenate([r, [55] * (n_max - len(r))]) for r in rows])
    np.testing.assert_array_equal(
        out["padleft"], [np.concatenate([[-55] * (n_max - len(r)), r]) for r in rows]
    )


def test_map_and_fold_with_arbitrary_functions_agree_with_python(tmp_path: Path) -> None:
    x = np.round(RNG.normal(size=(4, 6)), 3)
    y = np.round(RNG.normal(size=(4, 6)), 3)
    out = run_pp(
        tmp_path,
        f"""
        x = {literal(x)}
        y = {literal(y)}
        k = 2
        elementwise = map(lambda a, b: if a > b then a * k else MathML:exp(b) - 1, x, y)
        def helper(a, b): a * k + b
        via_call = map(lambda a, b: helper(a, b), x, y)
        folded = fold(lambda acc, v: acc * 0.5 + v, x, 0, 1)
        folded0 = fold(lambda acc, v {{ return MathML:max(acc, v) - 0.1 }}, x, default, 0)
    """,
        ["elementwise", "via_call", "folded", "folded0"],
    )
    np.testing.assert_allclose(out["elementwise"], np.where(x > y, x * 2, np.exp(y) - 1))
    np.testing.assert_allclose(out["via_call"], x * 2 + y)
    expected = np.zeros((4, 1))
    for j in range(6):
        expected = expected * 0.5 + x[:, j : j + 1]
    np.testing.assert_allclose(out["folded"], expected)
    expected0 = x[0:1]
    for i in range(1, 4):
        expected0 = np.maximum(expected0, x[i : i + 1]) - 0.1
    np.testing.assert_allclose(out["folded0"], expected0)


def test_mathml_functions_and_constants(tmp_path: Path) -> None:
    out = run_pp(
        tmp_path,
        """
        v = [MathML:exp(1), MathML:ln(10), MathML:log(1000), MathML:root(16), MathML:abs(-2.5),
             MathML:floor(-1.5), MathML:ceiling(1.2), MathML:power(2, 10), MathML:rem(7, 3),
             MathML:sin(MathML:pi / 2), MathML:arctan(1), MathML:max(1, 5, 3), MathML:min(4, -2),
             MathML:exponentiale, 7 / 2, 2 ^ 0.5, if MathML:true then 1 else 0]
    """,
        ["v"],
    )
    import math

    expected = [
        math.e,
        math.log(10),
        3.0,
        4.0,
        2.5,
        -2.0,
        2.0,
        1024.0,
        1.0,
        1.0,
        math.pi / 4,
        5.0,
        -2.0,
        math.e,
        3.5,
        math.sqrt(2),
        1.0,
    ]
    np.testing.assert_allclose(out["v"], expected, rtol=1e-12)


def test_closures_defaults_tuples_and_accessors(tmp_path: Path) -> None:
    out = run_pp(
        tmp_path,
        """
        offset = 10
        add = lambda a, b=offset: a + b
        swap = lambda a, b { return b, a }
        one, two = swap(2, 1)
        make_adder = lambda n: lambda x: x + n
        add3 = make_adder(3)
        checks = [add(1), add(1, 2), add(1, default), one, two, add3(4),
                  swap.IS_FUNCTION, null.IS_NULL, default.IS_DEFAULT, (1, 2).IS_TUPLE, "s".IS_STRING,
                  [1, 2].IS_ARRAY, (3).IS_SIMPLE_VALUE, [[1, 2, 3]].NUM_ELEMENTS]
        shape = [[1, 2, 3]].SHAPE
        optional missing = undefined_name + 1
        present = 1
    """,
        ["checks", "shape", "present"],
    )
    np.testing.assert_array_equal(out["checks"], [11, 3, 11, 1, 2, 7, 1, 1, 1, 1, 1, 1, 1, 3])
    np.testing.assert_array_equal(out["shape"], [1, 3])


def test_inputs_defaults_use_earlier_inputs_and_overrides_apply(tmp_path: Path) -> None:
    path = tmp_path / "inputs.txt"
    path.write_text(
        "inputs {\n  a = 2\n  b = a * 10\n  c = [a, b]\n}\npost-processing {\n  d = c\n}\n"
        "outputs {\n  d units dimensionless\n}\n"
    )
    assert load_protocol(path).run(None).outputs["d"].tolist() == [2, 20]
    assert load_protocol(path, {"a": 3}).run(None).outputs["d"].tolist() == [3, 30]
    assert load_protocol(path, {"b": "5 * 2"}).run(None).outputs["d"].tolist() == [2, 10]
    with pytest.raises(ProtocolError, match="no input"):
        load_protocol(path, {"zz": 1})


def test_errors_name_the_place_and_the_call_chain(tmp_path: Path) -> None:
    message = run_failing(
        tmp_path, "    sum = lambda a, dim=default: fold(@2:+, a, 0, dim)\n    bad = sum(1.0)"
    )
    assert "failing.txt:4:" in message and "cannot fold a 0-dimensional array" in message
    assert "called from" in message and "failing.txt:5:" in message
    assert "assertion failed" in run_failing(tmp_path, "    assert 1 == 2")
    assert "already defined" in run_failing(tmp_path, "    x = 1\n    x = 2")
    assert "not defined" in run_failing(tmp_path, "    y = nope + 1")
    assert "return statement not allowed" in run_failing(tmp_path, "    return 1")
    assert "out of range" in run_failing(tmp_path, "    y = [1, 2][5]")
    assert "different shapes" in run_failing(tmp_path, "    y = map(@2:+, [1, 2], [1, 2, 3])")


def test_outputs_that_fail_make_a_partial_run(tmp_path: Path) -> None:
    path = tmp_path / "partial.txt"
    path.write_text(
        "post-processing {\n  good = [1, 2]\n  bad = good[7]\n}\n"
        "outputs {\n  good units dimensionless\n  bad units dimensionless\n"
        "  optional maybe units dimensionless\n}\n"
    )
    result = load_protocol(path).run(None)
    assert result.status == "partial"
    assert list(result.outputs) == ["good"]
    assert any("partial.txt:3:" in m for m in result.messages)
    assert any("'bad' could not be computed" in m for m in result.messages)
    assert not any("maybe" in m for m in result.messages)


def test_parsed_tree_is_evaluable_directly() -> None:
    from worker.fc.environment import Environment
    from worker.fc.evaluate import evaluate, execute

    p = parse_text("post-processing {\n  f = lambda x: x * x\n  y = map(f, [1, 2, 3])\n}\n")
    env = Environment()
    execute(p.post_processing, env)
    np.testing.assert_array_equal(env.lookup("y"), [1, 4, 9])
    assert float(evaluate(parse_text("inputs {\n z = 3 + 4\n}").inputs[0].value, env)) == 7.0
