"""Running ansible-core and ansible-lint from the project's environment, for the deployment tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
INVENTORIES = {name: DEPLOY / "inventories" / name for name in ("one-host", "several-hosts")}
INSTALL = f"{Path(sys.executable).parent / 'pip'} install ansible-core ansible-lint"


def tool(name: str) -> str:
    """The path of an Ansible command; the test fails (never skips) when it is not installed."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; the deployment tests need it: {INSTALL}", pytrace=False)
    return found


def env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "NO_COLOR": "1",
        "PY_COLORS": "0",
        "PYTHONWARNINGS": "ignore",
        # never ask: a test has no terminal
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        **extra,
    }


def run(argv: list[str], *, timeout: float, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=ROOT, env=env(**extra), capture_output=True, text=True, timeout=timeout, check=False
    )


def output(result: subprocess.CompletedProcess[str]) -> str:
    return (
        f"exit {result.returncode}\n--- stdout\n{result.stdout[-20000:]}\n--- stderr\n{result.stderr[-5000:]}"
    )
