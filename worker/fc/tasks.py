"""Run a protocol's ``tasks`` section on a model simulation.

``run_tasks`` runs the simulations in order on one ``ModelSimulation``
(state carries over from one to the next unless a modifier resets it) and
returns their results: by simulation prefix, then by output name, as numpy
arrays shaped like the original engine's, outer loops first (a nested loop
of n iterations over a timecourse of m points recording a k-vector gives
shape (n, m, k)).

Semantics follow the original engine (weblab-fc ``simulations.py``):

* a timecourse sets the clock to its first point, records the outputs there,
  then simulates to each later point and records again; ``at each loop``
  modifiers apply after reaching a point and before recording it;
* ``oneStep`` advances by its step and records the outputs there;
* ``nested`` runs its inner simulation (or a nested protocol) once per value
  of its range; ``at start`` modifiers apply before the first iteration,
  ``at each loop`` ones before every iteration, ``at end`` ones after the
  last; a ``while`` range evaluates its condition after each iteration, with
  the range variable counting from 0 and the results so far visible under
  the simulation's prefix.

Speed: a timecourse without ``at each loop`` modifiers is one myokit run. A
per-point modifier of the form ``set x = if cond then value else x`` only
acts where ``cond`` holds, so the condition is evaluated for every point
first (on the whole range array at once when the interpreter allows), and
the simulation runs in one piece between those points.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import ast
from .environment import Environment, model_environments
from .errors import ProtocolError
from .evaluate import evaluate
from .simulation import ModelSimulation

Results = dict[str, np.ndarray]
Progress = Callable[[int, int, str], None]


class Cancelled(Exception):
    """The run was cancelled through the context's cancel flag."""


def _child(env: Environment | None) -> Environment:
    return Environment(env, allow_overwrite=True)


def _define(env: Environment, name: str, value: Any) -> None:
    # Task environments are the runner's own: loop variables and partial
    # results are re-bound at every iteration.
    env.bindings[name] = value


def _add_prefix(env: Environment, prefix: str, sub: Environment) -> None:
    env.prefixes[prefix] = sub


@dataclass
class TaskContext:
    """Everything the task runner needs from the protocol that owns the tasks.

    ``env`` is the environment the tasks evaluate in (protocol inputs and
    library); each simulation's results are registered on it under the
    simulation's prefix (``add_prefix``), so that later simulations and the
    post-processing see them. The model's variables are made visible to
    modifiers either by ``bind_model(env, simulation)`` or, when that is not
    given, under each prefix of ``namespaces``. ``run_nested(nested,
    inputs)`` runs a nested protocol on the same simulation with the given
    input values and returns its selected outputs. ``evaluate``, ``child``,
    ``define`` and ``add_prefix`` are the interpreter operations the runner
    uses; the defaults are those of ``evaluate.py`` / ``environment.py``.
    """

    simulation: ModelSimulation
    env: Environment
    evaluate: Callable[[ast.Expr, Environment], Any] = field(default_factory=lambda: evaluate)
    child: Callable[[Environment | None], Environment] = field(default_factory=lambda: _child)
    define: Callable[[Environment, str, Any], None] = field(default_factory=lambda: _define)
    add_prefix: Callable[[Environment, str, Environment], None] = field(default_factory=lambda: _add_prefix)
    bind_model: Callable[[Environment, ModelSimulation], None] | None = None
    run_nested: Callable[[ast.NestedProtocol, dict[str, Any]], Results] | None = None
    progress: Progress | None = None
    cancel: threading.Event | None = None
    namespaces: dict[str, str] = field(default_factory=dict)
    named: dict[str, ast.Simulation] = field(default_factory=dict)

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled("the run was cancelled")


def run_tasks(protocol_tasks: list[ast.Simulation], context: TaskContext) -> dict[str, Results]:
    """Run the simulations in order; returns results by prefix (unnamed ones under "")."""
    for task in protocol_tasks:
        if task.prefix:
            context.named[task.prefix] = task
    all_results: dict[str, Results] = {}
    total = len(protocol_tasks)
    for i, task in enumerate(protocol_tasks):
        context.check_cancel()
        label = task.prefix or f"simulation {i + 1}"
        if context.progress is not None:
            context.progress(i, total, label)
        env = context.child(context.env)
        if context.bind_model is not None:
            context.bind_model(env, context.simulation)
        else:
            for prefix, model_env in model_environments(context.simulation, context.namespaces).items():
                env.prefixes[prefix] = model_env
        results = _run(task, env, context, task.prefix)
        if task.prefix:
            all_results[task.prefix] = results
            _publish(context, context.env, task.prefix, results)
        else:
            all_results.setdefault("", {}).update(results)
        if context.progress is not None:
            context.progress(i + 1, total, label)
    return all_results


def _publish(context: TaskContext, env: Environment, prefix: str, results: Results) -> None:
    sub = results_environment(context.simulation, context.namespaces)
    for name, value in results.items():
        context.define(sub, name, value)
    context.add_prefix(env, prefix, sub)


def results_environment(simulation: ModelSimulation, namespaces: dict[str, str]) -> Environment:
    """An environment for one simulation's results that also reaches the model.

    As in the original engine, ``sim:oxmeta:x`` reads the model variable
    through the simulation's prefix; protocol.py registers one of these per
    simulation prefix before running the library (``default_Cao =
    sim:oxmeta:extracellular_calcium_concentration`` in ICaL.txt) and fills
    it with the results afterwards.
    """
    env = Environment(allow_overwrite=True)
    for prefix, model_env in model_environments(simulation, namespaces).items():
        env.prefixes[prefix] = model_env
    return env


# --------------------------------------------------------------------------------------------------
# one simulation
# --------------------------------------------------------------------------------------------------


def _run(task: ast.Simulation, env: Any, context: TaskContext, prefix: str) -> Results:
    body = task.body
    try:
        if isinstance(body, ast.Timecourse):
            return _timecourse(body, env, context, prefix)
        if isinstance(body, ast.OneStep):
            return _one_step(body, env, context)
        if isinstance(body, ast.Nested):
            return _nested(body, env, context, prefix)
    except ProtocolError as e:
        raise (
            e.with_location(task.pos.file, task.pos.line, task.pos.column) if task.pos.line else e
        ) from None
    raise ProtocolError(f"unknown simulation type {type(body).__name__}")


def _range_values(rng: ast.Range, env: Any, context: TaskContext) -> np.ndarray | None:
    """The values of a uniform or vector range (None for a while range)."""
    if isinstance(rng, ast.UniformRange):
        start = _number(context.evaluate(rng.start, env), rng.start)
        end = _number(context.evaluate(rng.end, env), rng.end)
        step = _number(context.evaluate(rng.step, env), rng.step) if rng.step is not None else 1.0
        if step == 0:
            raise _err("a uniform range needs a non-zero step", rng.pos)
        # As the original engine: int() truncation of the number of steps.
        count = int((end - start) / step) + 1
        if count < 1:
            raise _err(f"the uniform range {start}:{step}:{end} is empty", rng.pos)
        return start + step * np.arange(count, dtype=float)
    if isinstance(rng, ast.VectorRange):
        values = np.asarray(_unwrap(context.evaluate(rng.values, env)), dtype=float)
        if values.ndim != 1:
            raise _err("a vector range must be a 1-d array", rng.pos)
        return values
    if isinstance(rng, ast.WhileRange):
        return None
    raise _err(f"unknown range type {type(rng).__name__}", rng.pos)


def _apply(modifiers: list[ast.Modifier], when: str, env: Any, context: TaskContext) -> None:
    sim = context.simulation
    for modifier in modifiers:
        if modifier.when != when:
            continue
        if isinstance(modifier, ast.SetVariable):
            value = _unwrap(context.evaluate(modifier.value, env))
            try:
                sim.set(modifier.name, value)
            except ProtocolError as e:
                raise e.with_location(modifier.pos.file, modifier.pos.line, modifier.pos.column) from None
        elif isinstance(modifier, ast.SaveState):
            sim.save_state(modifier.state_name)
        elif isinstance(modifier, ast.ResetState):
            sim.reset_state(modifier.state_name)


def _timecourse(body: ast.Timecourse, env: Any, context: TaskContext, prefix: str) -> Results:
    sim = context.simulation
    rng = body.range
    values = _range_values(rng, env, context)
    each = [m for m in body.modifiers if m.when == "each"]
    if values is None:
        return _timecourse_while(body, env, context, prefix)
    context.define(env, rng.name, np.array(values[0]))
    _apply(body.modifiers, "start", env, context)
    if not each:
        results = sim.timecourse(values)
    else:
        results = _timecourse_with_modifiers(values, each, rng.name, env, context)
    _apply(body.modifiers, "end", env, context)
    return results


def _timecourse_with_modifiers(
    values: np.ndarray, each: list[ast.Modifier], name: str, env: Any, context: TaskContext
) -> Results:
    """A timecourse whose modifiers act at each point, run in one piece between the points where they act."""
    sim = context.simulation
    fires = _firing_points(values, each, name, env, context)
    pieces: list[Results] = []
    n = values.size
    previous: int | None = None  # the last point recorded
    for index in (int(i) for i in np.flatnonzero(fires)):
        context.check_cancel()
        if previous is None:
            if index > 0:
                segment = sim.timecourse(values[: index + 1])
                pieces.append({k: v[:-1] for k, v in segment.items()})
            else:
                sim.set_time(float(values[0]))
        elif index > previous + 1:
            segment = sim.timecourse(values[previous : index + 1])
            pieces.append({k: v[1:-1] for k, v in segment.items()})
        else:
            sim.timecourse(values[previous : index + 1])
        # Reached this point: apply the modifiers, then record it.
        context.define(env, name, np.array(values[index]))
        _apply(each, "each", env, context)
        pieces.append(sim.timecourse(values[index : index + 1]))
        previous = index
    if previous is None:
        return sim.timecourse(values)
    if previous < n - 1:
        segment = sim.timecourse(values[previous:])
        pieces.append({k: v[1:] for k, v in segment.items()})
    return {k: np.concatenate([p[k] for p in pieces], axis=0) for k in pieces[0]}


def _firing_points(
    values: np.ndarray, each: list[ast.Modifier], name: str, env: Any, context: TaskContext
) -> np.ndarray:
    """Where at least one per-point modifier changes something."""
    fires = np.zeros(values.size, dtype=bool)
    for modifier in each:
        conditions = _conditional_set(modifier)
        if conditions is None:
            return np.ones(values.size, dtype=bool)
        for condition in conditions:
            fires |= _where_true(condition, values, name, env, context)
    return fires


def _where_true(
    condition: ast.Expr, values: np.ndarray, name: str, env: Environment, context: TaskContext
) -> np.ndarray:
    """The mask of range values for which ``condition`` holds (all at once when the interpreter allows)."""
    probe = context.child(env)
    try:
        context.define(probe, name, values)
        result = np.asarray(_unwrap(context.evaluate(condition, probe)))
        if result.shape == values.shape:
            mask: np.ndarray = result != 0
            return mask
    except Exception:  # noqa: BLE001 - not vectorisable: evaluate point by point below
        pass
    mask = np.zeros(values.size, dtype=bool)
    for i, value in enumerate(values):
        context.define(probe, name, np.array(value))
        mask[i] = bool(np.asarray(_unwrap(context.evaluate(condition, probe))))
    return mask


def _conditional_set(modifier: ast.Modifier) -> list[ast.Expr] | None:
    """For ``set x = if c1 then v1 else if c2 then v2 ... else x`` return ``[c1, c2, ...]``.

    None when the modifier may act anywhere: another form, or a condition
    that reads a model variable or a result.
    """
    if not isinstance(modifier, ast.SetVariable):
        return None
    conditions: list[ast.Expr] = []
    value: ast.Expr = modifier.value
    while isinstance(value, ast.If):
        if any(":" in n for n in ast.name_refs(value.test)):
            return None
        conditions.append(value.test)
        value = value.orelse
    if not conditions or not isinstance(value, ast.Name) or value.name != modifier.name:
        return None
    return conditions


def _timecourse_while(body: ast.Timecourse, env: Any, context: TaskContext, prefix: str) -> Results:
    """A timecourse over a while range: one point per iteration, the range variable counting 0, 1, ..."""
    sim = context.simulation
    rng = body.range
    assert isinstance(rng, ast.WhileRange)
    collector = _Collector()
    view = context.child(None)
    if prefix:
        context.add_prefix(env, prefix, view)
    count = 0
    context.define(env, rng.name, np.array(0.0))
    _apply(body.modifiers, "start", env, context)
    _apply(body.modifiers, "each", env, context)
    sim.set_time(0.0)
    while True:
        context.check_cancel()
        if count > 0:
            sim.timecourse(np.array([sim.time, float(count)]))
            _apply(body.modifiers, "each", env, context)
        collector.add(sim.outputs_now())
        collector.publish(view, context)
        count += 1
        context.define(env, rng.name, np.array(float(count)))
        if not _truthy(context.evaluate(rng.condition, env)):
            break
    _apply(body.modifiers, "end", env, context)
    return collector.results()


def _one_step(body: ast.OneStep, env: Any, context: TaskContext) -> Results:
    sim = context.simulation
    _apply(body.modifiers, "start", env, context)
    _apply(body.modifiers, "each", env, context)
    step = _number(context.evaluate(body.step, env), body.step) if body.step is not None else None
    results = sim.one_step(step)
    _apply(body.modifiers, "end", env, context)
    return results


def _nested(body: ast.Nested, env: Any, context: TaskContext, prefix: str) -> Results:
    rng = body.range
    values = _range_values(rng, env, context)
    collector = _Collector()
    view = None
    if values is None and prefix:
        view = context.child(None)
        context.add_prefix(env, prefix, view)
    count = 0
    while True:
        context.check_cancel()
        value = values[count] if values is not None else float(count)
        context.define(env, rng.name, np.array(value))
        if count == 0:
            _apply(body.modifiers, "start", env, context)
        _apply(body.modifiers, "each", env, context)
        inner_env = context.child(env)
        try:
            inner = _run_inner(body.nested, inner_env, context)
        except ProtocolError as e:
            e.partial = collector.partial(e.partial)
            raise
        collector.add(inner)
        if view is not None:
            collector.publish(view, context)
        count += 1
        if values is not None:
            if count >= values.size:
                break
        else:
            context.define(env, rng.name, np.array(float(count)))
            assert isinstance(rng, ast.WhileRange)  # the only range without values
            if not _truthy(context.evaluate(rng.condition, env)):
                break
    _apply(body.modifiers, "end", env, context)
    return collector.results()


def _run_inner(nested: ast.Simulation | ast.NestedProtocol | str, env: Any, context: TaskContext) -> Results:
    if isinstance(nested, ast.Simulation):
        return _run(nested, env, context, nested.prefix)
    if isinstance(nested, str):
        task = context.named.get(nested)
        if task is None:
            raise ProtocolError(f"there is no simulation named {nested!r} to nest")
        return _run(task, env, context, "")
    if context.run_nested is None:
        raise _err("nested protocols are not available here", nested.pos)
    inputs: dict[str, Any] = {}
    for assign in nested.inputs:
        value = context.evaluate(assign.value, env)
        for name in assign.names:
            inputs[name] = value
    return context.run_nested(nested, inputs)


# --------------------------------------------------------------------------------------------------
# collecting results
# --------------------------------------------------------------------------------------------------


class _Collector:
    """Stacks per-iteration results along a new first axis, growing buffers by doubling."""

    def __init__(self) -> None:
        self._buffers: dict[str, np.ndarray] = {}
        self._count = 0
        self._dropped: set[str] = set()

    def add(self, results: Results) -> None:
        if self._count == 0:
            for name, value in results.items():
                value = np.asarray(value, dtype=float)
                buffer = np.empty((4,) + value.shape)
                buffer[0] = value
                self._buffers[name] = buffer
        else:
            for name in list(self._buffers):
                if name not in results:
                    # An optional output missing in this iteration: drop it altogether.
                    del self._buffers[name]
                    self._dropped.add(name)
                    continue
                value = np.asarray(results[name], dtype=float)
                buffer = self._buffers[name]
                if value.shape != buffer.shape[1:]:
                    raise ProtocolError(
                        f"output {name} changed shape between iterations ({buffer.shape[1:]} then {value.shape})"
                    )
                if self._count >= buffer.shape[0]:
                    grown = np.empty((buffer.shape[0] * 2,) + buffer.shape[1:])
                    grown[: self._count] = buffer[: self._count]
                    buffer = self._buffers[name] = grown
                buffer[self._count] = value
        self._count += 1

    def partial(self, failed: Results | None) -> Results | None:
        """What to keep when an iteration fails: the iterations completed before it.

        As the original engine did, so that post-processing can still use them. When
        none completed, the failed iteration's own partial results (from a loop inside
        it) stand as the only iteration: nygren_atrial_model_1998 x ICaL diverges at the
        23rd test potential of the first calcium level, and its reference holds the 22
        that ran, as one calcium level of 22 potentials.
        """
        if self._count == 0:
            if not failed:
                return None
            self.add(failed)
        return self.results()

    def publish(self, env: Any, context: TaskContext) -> None:
        for name, buffer in self._buffers.items():
            context.define(env, name, buffer[: self._count])

    def results(self) -> Results:
        return {name: buffer[: self._count].copy() for name, buffer in self._buffers.items()}


# --------------------------------------------------------------------------------------------------
# values
# --------------------------------------------------------------------------------------------------


def _unwrap(value: Any) -> Any:
    """A numpy array from an interpreter value (arrays are numpy already; others may wrap one)."""
    if isinstance(value, np.ndarray):
        return value
    array = getattr(value, "array", None)
    if array is not None:
        return np.asarray(array)
    if isinstance(value, (int, float, bool, np.number)):
        return np.array(float(value))
    return value


def _number(value: Any, expr: ast.Expr | None) -> float:
    array = np.asarray(_unwrap(value))
    if array.size != 1:
        raise _err("expected a single number", expr.pos if expr is not None else None)
    return float(array.reshape(()))


def _truthy(value: Any) -> bool:
    array = np.asarray(_unwrap(value))
    if array.size != 1:
        raise ProtocolError("a while condition must give a single value")
    return bool(array.reshape(()))


def _err(message: str, pos: ast.Pos | None) -> ProtocolError:
    if pos is None or pos.line == 0:
        return ProtocolError(message)
    return ProtocolError(message, pos.file, pos.line, pos.column)
