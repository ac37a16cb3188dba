"""Run a prepared model with myokit's CVODES simulation.

``compile_simulation`` builds the C simulation of a prepared model once and
keeps it on disk, keyed by the SHA-256 of the prepared model's myokit code
(which holds both the model's equations and everything the model interface
changed) and the myokit version: a second run of the same model × interface
compiles nothing, in this process or in any later one.

``ModelSimulation`` is the model as the protocol sees it: the current time,
state and inputs, in protocol units. It satisfies the ``ModelState``
protocol of the interpreter (``get(name)`` / ``set(name, value)``), runs
timecourses and single steps, and saves and resets states. Inputs that are
constants in the model change with ``Simulation.set_constant``: no
recompilation. A recognised square-wave stimulus is driven by a myokit
pacing protocol, so CVODES stops exactly at each pulse edge.

Solver settings follow the original engine: relative tolerance 1e-6,
absolute tolerance 1e-8, a maximum step of 0.5 ms always (also when
pacing makes CVODES stop at the pulse edges: without the limit the solver's
error differs enough to change how many paces SteadyStateRunner needs, e.g.
10 instead of the reference's 4 on Beeler-Reuter), and up to 15 error-test
failures in one step (CVODES's default is 7, which Winslow 1999 exceeds
in SteadyStateRestitution at its default 10000 paces). myokit has no setting for the last, so
builds use myokit's own C template with that one call added.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import myokit
import numpy as np

from .errors import ProtocolError

if TYPE_CHECKING:
    from .prepared import Binding, PreparedModel

# Part of every cache key: bump it when the way builds are made changes.
_CACHE_FORMAT = b"weblab-fc-3\0"

RTOL = 1e-6
ATOL = 1e-8
MAX_ERROR_TEST_FAILURES = 15
PACE_LABEL = "pace"


class ModelState(Protocol):
    """What the interpreter needs from a model environment."""

    def get(self, name: str) -> float | np.ndarray: ...

    def set(self, name: str, value: float | np.ndarray) -> None: ...


@dataclass
class CacheStats:
    """Counts compilations and disk-cache hits in this process (for tests and benchmarks)."""

    compiled: int = 0
    loaded: int = 0
    memory_hits: int = 0


stats = CacheStats()
_memory: dict[str, tuple[str, myokit.Simulation]] = {}
_lock = threading.Lock()


def default_cache_dir() -> Path:
    """``$WEBLAB_FC_CACHE``, else ``$XDG_CACHE_HOME/weblab/fc`` (``~/.cache/weblab/fc``)."""
    env = os.environ.get("WEBLAB_FC_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "weblab" / "fc"


def cache_key(model: myokit.Model) -> str:
    """SHA-256 of the model's full myokit code and the myokit version."""
    digest = hashlib.sha256()
    digest.update(_CACHE_FORMAT)
    digest.update(myokit.__version__.encode())
    digest.update(b"\0")
    digest.update(model.code().encode())
    return digest.hexdigest()


def compile_simulation(model: myokit.Model, cache_dir: Path | None = None) -> myokit.Simulation:
    """A fresh ``myokit.Simulation`` of ``model``, compiled at most once per model code.

    The compiled extension is stored as ``<cache_dir>/<key>.zip`` (written to
    a temporary name and renamed, so that concurrent processes never read a
    half-written file); a corrupt entry is rebuilt.
    """
    # Compile the model exactly as a stored build will unpickle it: myokit's
    # pickling reorders the constants, and the compiled module takes them in
    # the order it was generated with.
    model = pickle.loads(pickle.dumps(model))
    key = cache_key(model)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = cache_dir / f"{key}.zip"
    with _lock:
        remembered = _memory.get(key)
        if remembered is not None and remembered[0] == str(path) and path.exists():
            stats.memory_hits += 1
            return _fresh(remembered[1])
        sim: myokit.Simulation | None = None
        if path.exists():
            try:
                sim = myokit.Simulation.from_path(str(path))
                stats.loaded += 1
            except Exception:  # a truncated or foreign file: rebuild it
                sim = None
        if sim is None:
            cache_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{key[:16]}.", suffix=".zip", dir=cache_dir)
            os.close(fd)
            try:
                sim = _Simulation(model, {PACE_LABEL: None}, path=tmp)
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            stats.compiled += 1
        _memory[key] = (str(path), sim)
        return _fresh(sim)


class _Simulation(myokit.Simulation):  # type: ignore[misc]  # myokit is untyped (Any)
    """myokit's CVODES simulation, built from its template plus the original engine's
    allowance of error-test failures per step (see the module docstring)."""

    def _compile(self, name: str, template: str, *args: object, **kwargs: object) -> object:
        if Path(template).name == _TEMPLATE:
            template = str(_template_with_allowance())
        return super()._compile(name, template, *args, **kwargs)


_TEMPLATE = "cvodessim.c"
_TEMPLATE_ANCHOR = "        /* Set a minimum step size (or 0.0 for none) */\n"


@functools.cache
def _template_with_allowance() -> Path:
    """myokit's template with ``CVodeSetMaxErrTestFails`` added, written once per myokit version."""
    source = (Path(myokit.DIR_CFUNC) / _TEMPLATE).read_text()
    if source.count(_TEMPLATE_ANCHOR) != 1:
        raise RuntimeError(
            f"myokit {myokit.__version__}'s {_TEMPLATE} no longer has the line this engine adds "
            "its error-test allowance before; update worker/fc/simulation.py"
        )
    call = (
        f"        flag_cvode = CVodeSetMaxErrTestFails(cvode_mem, {MAX_ERROR_TEST_FAILURES});\n"
        '        if (check_cvode_related_flag(flag_cvode, "CVodeSetMaxErrTestFails")) return sim_clean();\n'
    )
    patched = source.replace(_TEMPLATE_ANCHOR, call + _TEMPLATE_ANCHOR)
    digest = hashlib.sha256(patched.encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"weblab-{_TEMPLATE[:-2]}-{digest}.c"
    if not path.exists():
        fd, tmp = tempfile.mkstemp(suffix=".c", dir=path.parent)
        with os.fdopen(fd, "w") as f:
            f.write(patched)
        os.chmod(tmp, 0o644)  # readable by other users' engines sharing this temporary directory
        os.replace(tmp, path)
    return path


def _fresh(sim: myokit.Simulation) -> myokit.Simulation:
    """A new Simulation on the already-loaded compiled module, with its own state."""
    return myokit.Simulation(sim._model, {PACE_LABEL: None}, None, (None, sim._sim))


class ModelSimulation:
    """A prepared model being simulated; every value in protocol units."""

    def __init__(self, prepared: PreparedModel, cache_dir: Path | None = None) -> None:
        self.prepared = prepared
        self._sim = compile_simulation(prepared.model, cache_dir)
        self._sim.set_tolerance(abs_tol=ATOL, rel_tol=RTOL)
        if prepared.max_step is not None:
            self._sim.set_max_step_size(prepared.max_step)
        model = self._sim._model  # the simulation's own clone: indices match its state vector
        self._state_index = {v.qname(): v.index() for v in model.states()}
        self._initial_state = list(self._sim.default_state())
        self._constants: dict[str, float] = {}
        for binding in prepared.bindings.values():
            for qname, kind in zip(binding.qnames, binding.kinds, strict=True):
                if kind == "constant":
                    self._constants[qname] = float(model.get(qname).eval())
        self._saved: dict[str, list[float]] = {}
        self._state_qnames = [v.qname() for v in model.states()]
        self._log_qnames = sorted(
            {
                q
                for term in prepared.outputs
                for q in prepared.bindings[term].qnames
                if _loggable(model.get(q))
            }
        )
        self._run_log = sorted(set(self._log_qnames) | set(self._state_qnames))
        self._update_pacing()

    # --- names -------------------------------------------------------------------

    def binding(self, name: str) -> Binding:
        """The binding for ``oxmeta:term``, a full IRI or a local name."""
        binding = self.prepared.lookup(name)
        if binding is None:
            raise ProtocolError(f"the model has no variable for {name!r}")
        return binding

    # --- ModelState --------------------------------------------------------------

    def get(self, name: str) -> float | np.ndarray:
        binding = self.binding(name)
        values = np.array([self._value_now(q, k) for q, k in zip(binding.qnames, binding.kinds, strict=True)])
        values = binding.conversion.forward(values)
        return values if binding.vector else float(values[0])

    def set(self, name: str, value: float | np.ndarray) -> None:
        binding = self.binding(name)
        values = np.broadcast_to(np.asarray(value, dtype=float), (len(binding.qnames),))
        model_values = binding.conversion.inverse(values)
        state = None
        pacing_changed = False
        for qname, kind, v in zip(binding.qnames, binding.kinds, model_values, strict=True):
            v = float(v)
            if kind == "state":
                if state is None:
                    state = list(self._sim.state())
                state[self._state_index[qname]] = v
            elif kind == "constant":
                self._constants[qname] = v
                self._sim.set_constant(qname, v)
                pacing_changed = True
            elif kind == "time":
                self._sim.set_time(v)
            else:
                raise ProtocolError(
                    f"cannot set {name!r}: it is computed by the model; declare it as an input to change it"
                )
        if state is not None:
            self._sim.set_state(state)
        if pacing_changed and self.prepared.pulse is not None:
            self._update_pacing()

    # --- time and state ------------------------------------------------------------

    @property
    def time(self) -> float:
        """The current value of the free variable, in protocol units."""
        return float(self.prepared.time_conversion.forward(self._sim.time()))

    def set_time(self, t: float) -> None:
        self._sim.set_time(float(self.prepared.time_conversion.inverse(t)))

    def state(self) -> list[float]:
        return list(self._sim.state())

    def save_state(self, name: str) -> None:
        self._saved[name] = list(self._sim.state())

    def reset_state(self, name: str | None = None) -> None:
        """Back to the initial state (after the interface's changes), or to a saved one."""
        if name is None:
            self._sim.set_state(self._initial_state)
            return
        try:
            self._sim.set_state(self._saved[name])
        except KeyError:
            raise ProtocolError(f"no state was saved as {name!r}") from None

    # --- running -------------------------------------------------------------------

    def timecourse(self, times: np.ndarray) -> dict[str, np.ndarray]:
        """Simulate from ``times[0]`` through ``times[-1]``, recording the outputs at each time.

        Returns arrays keyed by output local name: shape (n,) for a single
        variable, (n, k) for a vector output such as ``state_variable``.
        """
        times = np.asarray(times, dtype=float)
        if times.ndim != 1 or times.size == 0:
            raise ProtocolError("a timecourse range must be a non-empty 1-d array")
        if np.any(np.diff(times) < 0):
            raise ProtocolError("timecourse output times must not decrease")
        conv = self.prepared.time_conversion
        model_times = np.asarray(conv.inverse(times), dtype=float)
        t0, t1 = float(model_times[0]), float(model_times[-1])
        # myokit logs t0 <= t < t0 + duration: run a hair past the last point,
        # then carry on from the state logged at the last point (the original
        # engine stops exactly there), with the clock on it.
        log_names = self._run_log
        start_state = list(self._sim.state())
        try:
            self._sim.set_time(t0)
            log = self._sim.run(t1 - t0 + _overrun(t1), log=log_names, log_times=model_times)
        except myokit.SimulationError as e:
            log = self._retry_without_step_limit(e, start_state, t0, t1, model_times)
        self._sim.set_state([float(log[q][-1]) for q in self._state_qnames])
        self._sim.set_time(t1)
        logged = {q: np.asarray(log[q], dtype=float) for q in self._log_qnames}
        n = times.size
        results: dict[str, np.ndarray] = {}
        for term in self.prepared.outputs:
            binding = self.prepared.bindings[term]
            columns = [
                self._column(logged, q, k, n, model_times)
                for q, k in zip(binding.qnames, binding.kinds, strict=True)
            ]
            data = np.column_stack(columns) if binding.vector else columns[0]
            results[binding.local_name] = binding.conversion.forward(data)
        return results

    def _retry_without_step_limit(
        self,
        error: myokit.SimulationError,
        start_state: list[float],
        t0: float,
        t1: float,
        model_times: np.ndarray,
    ) -> myokit.DataLog:
        """Run the interval again from its start with no step limit, after CVODES gave up with one.

        A last resort, after the original engine's allowance of error-test
        failures: just after a stimulus edge, with steps limited to 0.5 ms,
        CVODES can still fail where without the limit it gets through.
        """
        limit = self.prepared.max_step
        if limit is None:
            raise ProtocolError(f"the simulation failed: {str(error).splitlines()[0]}") from error
        self._sim.set_max_step_size(None)
        try:
            self._sim.set_state(start_state)
            self._sim.set_time(t0)
            return self._sim.run(t1 - t0 + _overrun(t1), log=self._run_log, log_times=model_times)
        except myokit.SimulationError as e:
            raise ProtocolError(f"the simulation failed: {str(e).splitlines()[0]}") from e
        finally:
            self._sim.set_max_step_size(limit)

    def one_step(self, step: float | None = None) -> dict[str, np.ndarray]:
        """Advance by ``step`` (protocol time units; default 1) and return the outputs there."""
        start = self.time
        end = start + (1.0 if step is None else float(step))
        series = self.timecourse(np.array([start, end]))
        return {name: values[-1] for name, values in series.items()}

    def outputs_now(self) -> dict[str, np.ndarray]:
        """The outputs at the current time and state, without simulating."""
        results: dict[str, np.ndarray] = {}
        for term in self.prepared.outputs:
            binding = self.prepared.bindings[term]
            results[binding.local_name] = np.asarray(self.get(term))
        return results

    # --- internals -----------------------------------------------------------------

    def _column(
        self, logged: dict[str, np.ndarray], qname: str, kind: str, n: int, model_times: np.ndarray
    ) -> np.ndarray:
        data = logged.get(qname)
        if data is not None and data.size == n:
            return data
        if kind == "time":
            return model_times.copy()
        if kind == "constant":
            return np.full(n, self._constants.get(qname, np.nan))
        var = self._sim._model.get(qname)
        if var.is_constant():
            return np.full(n, _evaluate_constant(var))
        raise ProtocolError(f"myokit did not log {qname} at every output time")

    def _value_now(self, qname: str, kind: str) -> float:
        if kind == "state":
            return float(self._sim.state()[self._state_index[qname]])
        if kind == "constant":
            return self._constants[qname]
        if kind == "time":
            return float(self._sim.time())
        # An intermediate: evaluate its equation at the current state and time.
        return _evaluate_intermediate(self._sim, qname, self._pace_level())

    def _pace_level(self) -> float:
        pulse = self.prepared.pulse
        if pulse is None:
            return 0.0
        protocol = self._sim._protocols[0]
        if protocol is None:
            return 0.0
        t = self._sim.time()
        for event in protocol.events():
            if event.start() <= t < event.start() + event.duration():
                return float(event.level())
            if event.period():
                k = (t - event.start()) // event.period()
                if k >= 0 and (not event.multiplier() or k < event.multiplier()):
                    start = event.start() + k * event.period()
                    if start <= t < start + event.duration():
                        return float(event.level())
        return 0.0

    def _update_pacing(self) -> None:
        """Rebuild the myokit pacing protocol from the current pulse-train inputs (model units)."""
        pulse = self.prepared.pulse
        if pulse is None:
            return
        offset = self._pulse_value(pulse.offset)
        period = self._pulse_value(pulse.period)
        duration = self._pulse_value(pulse.duration)
        end = self._pulse_value(pulse.end) if pulse.end is not None else None
        protocol = myokit.Protocol()
        if duration > 0 and period > 0:
            multiplier = 0
            if end is not None:
                if end < offset:
                    self._sim.set_protocol(protocol, PACE_LABEL)
                    return
                multiplier = int(np.floor((end - offset) / period)) + 1
            protocol.schedule(1, offset, min(duration, period), period, multiplier)
        elif duration > 0:
            protocol.schedule(1, offset, duration)
        self._sim.set_protocol(protocol, PACE_LABEL)

    def _pulse_value(self, source: str | float) -> float:
        if isinstance(source, str):
            return self._constants[source]
        return float(source)


def _overrun(t: float) -> float:
    """A duration that takes a run certainly past ``t`` in floating point, and is otherwise negligible."""
    return max(1e-9, abs(t) * 1e-12)


def _evaluate_constant(var: myokit.Variable) -> float:
    """A derived constant's current value, with IEEE results (inf, nan) rather than errors."""
    expr = var.rhs().clone(expand=True)
    with np.errstate(all="ignore"):
        try:
            return float(expr.pyfunc(use_numpy=True)())
        except (ArithmeticError, ValueError):
            return float("nan")


def _loggable(var: myokit.Variable) -> bool:
    """myokit logs states, bound variables and non-constant intermediates, not constants."""
    return var.is_state() or var.binding() is not None or not var.is_constant()


def _evaluate_intermediate(sim: myokit.Simulation, qname: str, pace: float) -> float:
    """Evaluate one intermediate variable at the simulation's current time and state (slow; rare)."""
    model: myokit.Model = sim._model
    subst: dict[myokit.Expression, myokit.Expression] = {}
    for var, value in zip(model.states(), sim.state(), strict=True):
        subst[myokit.Name(var)] = myokit.Number(value)
    time_var = model.time()
    if time_var is not None:
        subst[myokit.Name(time_var)] = myokit.Number(sim.time())
    for var in model.variables(deep=True):
        if var.binding() == PACE_LABEL:
            subst[myokit.Name(var)] = myokit.Number(pace)
    var = model.get(qname)
    expr = var.rhs().clone(subst=subst, expand=True, retain=list(subst))
    return float(expr.eval())
