"""Scoped name environments of the protocol language.

An ``Environment`` holds its own bindings, a *parent* that unprefixed names
fall back to, and *prefixed* sub-environments: ``sim:time`` looks up ``time``
in the environment registered for prefix ``sim``, ``std:Max`` in the library
imported as ``std``, ``oxmeta:membrane_voltage`` in the model.  A prefix not
registered falls back to the parent with the full name, as in the original
engine.  Names are bound once; only environments created with
``allow_overwrite`` (protocol inputs) may change a binding.

``ModelEnvironment`` presents a running model (a ``ModelState``, implemented
by ``simulation.ModelSimulation``) as an environment: ``oxmeta:x`` reads and
``set`` modifiers write the model variable annotated ``oxmeta:x``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np

from .errors import ProtocolError
from .values import number


class ModelState(Protocol):
    """What the interpreter needs from a model: read and write variables by ``prefix:name``."""

    def get(self, name: str) -> float | np.ndarray: ...

    def set(self, name: str, value: float | np.ndarray) -> None: ...


class Environment:
    """Bindings plus a parent and prefixed delegates."""

    def __init__(
        self, parent: Environment | None = None, *, allow_overwrite: bool = False, label: str = ""
    ) -> None:
        self.bindings: dict[str, Any] = {}
        self.prefixes: dict[str, Environment] = {}
        self.parent = parent
        self.allow_overwrite = allow_overwrite
        self.label = label

    # -- lookup ---------------------------------------------------------------------------------------
    def lookup(self, name: str) -> Any:
        """The value of ``name``; ``ProtocolError`` if it is not defined anywhere reachable."""
        env: Environment | None = self
        while env is not None:
            value = env.bindings.get(name, _MISSING)
            if value is not _MISSING:
                return value
            prefix, sep, rest = name.partition(":")
            if sep and prefix in env.prefixes:
                return env.prefixes[prefix].lookup(rest)
            env = env.parent
        raise ProtocolError(f"name {name!r} is not defined")

    def __contains__(self, name: str) -> bool:
        try:
            self.lookup(name)
        except ProtocolError:
            return False
        return True

    # -- definition -----------------------------------------------------------------------------------
    def define(self, name: str, value: Any) -> None:
        if ":" in name:
            raise ProtocolError(f"cannot define {name!r}: names with a colon are not allowed")
        if name in self.bindings:
            raise ProtocolError(f"{name!r} is already defined and may not be re-bound")
        self.bindings[name] = value

    def overwrite(self, name: str, value: Any) -> None:
        """Change an existing binding where the defining environment allows it (inputs, the model)."""
        env: Environment | None = self
        while env is not None:
            if name in env.bindings:
                if not env.allow_overwrite:
                    raise ProtocolError(f"{name!r} may not be changed")
                env.bindings[name] = value
                return
            prefix, sep, rest = name.partition(":")
            if sep and prefix in env.prefixes:
                env.prefixes[prefix].overwrite(rest, value)
                return
            env = env.parent
        raise ProtocolError(f"cannot set {name!r}: it is not defined")

    def child(self, label: str = "") -> Environment:
        return Environment(self, label=label)

    def add_prefix(self, prefix: str, env: Environment) -> None:
        existing = self.prefixes.get(prefix)
        if existing is not None and existing is not env:
            raise ProtocolError(
                f"the name prefix {prefix!r} is already used here "
                "(check simulation names and import prefixes)"
            )
        self.prefixes[prefix] = env

    def prefix_env(self, prefix: str) -> Environment | None:
        return self.prefixes.get(prefix)

    def names(self) -> Iterator[str]:
        """Names bound directly here."""
        return iter(self.bindings)

    def __repr__(self) -> str:
        return f"<Environment {self.label or id(self)}: {sorted(self.bindings)}>"


_MISSING = object()


class ModelEnvironment(Environment):
    """The variables of a model under one namespace prefix, read and written through a ``ModelState``."""

    def __init__(self, state: ModelState, prefix: str) -> None:
        super().__init__(allow_overwrite=True, label=f"model:{prefix}")
        self.state = state
        self.prefix = prefix

    def lookup(self, name: str) -> Any:
        try:
            return number(self.state.get(f"{self.prefix}:{name}"))
        except KeyError:
            raise ProtocolError(f"the model has no variable {self.prefix}:{name}") from None

    def define(self, name: str, value: Any) -> None:
        raise ProtocolError(f"cannot define {name!r} in the model")

    def overwrite(self, name: str, value: Any) -> None:
        try:
            self.state.set(f"{self.prefix}:{name}", np.asarray(value, dtype=float))
        except KeyError:
            raise ProtocolError(f"the model has no variable {self.prefix}:{name}") from None


def model_environments(state: ModelState, namespaces: dict[str, str]) -> dict[str, ModelEnvironment]:
    """One ``ModelEnvironment`` per namespace prefix of a protocol."""
    return {prefix: ModelEnvironment(state, prefix) for prefix in namespaces}
