"""A child process that the kernel kills when its parent dies.

A parent killed with SIGKILL runs no clean-up, and its children are handed to
init: one stuck in a long computation (a simulation, a runaway SPARQL query in
Oxigraph) would run on, unobserved, holding CPU and memory. Linux's
``PR_SET_PDEATHSIG`` has the kernel send SIGKILL instead, whatever the child is
doing, GIL or not.

The parent here is the process (strictly, the thread) that forked this one: for a
child forked by a forkserver, that is the forkserver, not the process that asked
for it (see :mod:`worker.child` for that case).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent() -> None:
    """From now on, SIGKILL this process when its parent dies (Linux; elsewhere nothing happens).

    A parent that died before this took effect leaves the process with init (pid 1) as parent:
    it exits at once."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() == 1:
            os._exit(1)
