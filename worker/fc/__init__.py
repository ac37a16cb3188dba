"""The functional-curation (FC) engine: run Web Lab protocols on CellML models with myokit.

Public API (used by the worker and the ontology code)::

    from worker.fc import load_protocol
    protocol = load_protocol("SteadyPacing.txt", inputs={"max_paces": 1000})
    # files it names must lie in its folder (or root=...) or the packaged library
    protocol.interface()            # ProtocolInterface: required/optional terms, inputs, outputs
    protocol.missing_terms(model)   # [] when the protocol applies to the model
    result = protocol.run(model, "out/", progress=callback, cancel=threading.Event())
    result.status                   # "success" | "partial" | "failed" | "inapplicable"

The modules, the one rule for which models a protocol applies to, and the
file formats are described in ``CONTRACT.md`` (next to this file).  This
package imports nothing else from the project.
"""

from .errors import FcError, InapplicableError, ProtocolError
from .protocol import (
    InputSpec,
    OutputSpec,
    Protocol,
    ProtocolInterface,
    RunResult,
    load_protocol,
)

__all__ = [
    "FcError",
    "InapplicableError",
    "InputSpec",
    "OutputSpec",
    "Protocol",
    "ProtocolError",
    "ProtocolInterface",
    "RunResult",
    "load_protocol",
]
