"""Describing an uploaded protocol reads its interface in a child process with time and memory limits.

Protocol text is untrusted: its input defaults are evaluated to read the
interface.  A protocol that computes for too long, or allocates too much,
ends as a warning on the version ("protocol interface could not be read"),
and the next protocol is described as usual.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ontology import vocab as v
from resolvers import describe
from tests.conftest import SHARED_DATA
from worker.fc import load_protocol

ROOT = Path(__file__).resolve().parents[2]
DATA = SHARED_DATA
REAL = DATA / "fc" / "protocols" / "real"
VERSION = "https://weblab.example/protocols/p/versions/" + "0" * 40

# Evaluating this input default takes minutes of interpreter time (a fold over 3 million elements).
SLOW = b"inputs {\n    n = fold(lambda a, b: a + b, [i for i in 0:3000000], 0)\n}\n"
# This one asks for a 16 GB array.
BIG = b"inputs {\n    big = [i for i in 0:2000000000]\n}\n"


def _required(desc: describe.Description) -> set[str]:
    return {t.object.value for t in desc.triples if t.predicate == v.REQUIRES_TERM}


def _real_files() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in REAL.glob("*.txt")}


def test_interface_read_in_the_child_is_the_engines() -> None:
    desc = describe.describe_version("protocol", _real_files(), "INa_late.txt", VERSION)
    # its one warning: a term of its own namespace that no loaded ontology defines
    assert [w for w in desc.warnings if "could not be read" in w] == []
    interface = load_protocol(REAL / "INa_late.txt").interface()
    assert _required(desc) == set(interface.required_terms)
    optional = {t.object.value for t in desc.triples if t.predicate == v.OPTIONAL_TERM}
    assert optional == set(interface.optional_terms)


def test_a_protocol_that_computes_too_long_is_stopped_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(describe, "INTERFACE_TIMEOUT_S", 3.0)
    desc = describe.describe_version("protocol", {"slow.txt": SLOW}, "slow.txt", VERSION)
    (warning,) = desc.warnings
    assert warning.startswith("slow.txt: protocol interface could not be read: ")
    assert "longer than 3 s" in warning
    assert _required(desc) == {v.READABLE_INTERFACE.value}, "an unread interface fits no model"
    # The stopped child was replaced: the next protocol is described as usual.
    again = describe.describe_version("protocol", _real_files(), "ICaL.txt", VERSION)
    assert again.warnings == []
    assert v.OXMETA + "membrane_L_type_calcium_current" in _required(again)


def test_a_protocol_that_allocates_too_much_is_refused_with_a_warning() -> None:
    desc = describe.describe_version("protocol", {"big.txt": BIG}, "big.txt", VERSION)
    (warning,) = desc.warnings
    assert warning.startswith("big.txt: protocol interface could not be read: ")
    assert f"more than {describe.INTERFACE_MEMORY_BYTES >> 20} MiB" in warning
    again = describe.describe_version("protocol", _real_files(), "GraphState.txt", VERSION)
    assert again.warnings == []


def test_a_protocol_cannot_import_files_outside_its_version() -> None:
    files = {"sub/main.txt": b'import x = "../../secret.txt"\n'}
    desc = describe.describe_version("protocol", files, "sub/main.txt", VERSION)
    (warning,) = desc.warnings
    assert "sub/main.txt:1:1" in warning and "leads outside" in warning
    assert "weblab-describe" not in warning


def test_files_in_subfolders_of_the_version_can_be_imported() -> None:
    files = {
        "lib/helpers.txt": b"library {\n    two = 2\n}\n",
        "main/p.txt": b'import h = "../lib/helpers.txt"\ninputs {\n    n = 1\n}\n',
    }
    desc = describe.describe_version("protocol", files, "main/p.txt", VERSION)
    assert desc.warnings == []


def test_an_engine_that_does_not_import_stops_the_platform_loudly() -> None:
    """The engine is part of the package: describing protocols without it is not a degraded mode."""
    code = "import sys; sys.modules['worker.fc'] = None\nimport resolvers.describe"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "ImportError" in done.stderr or "ModuleNotFoundError" in done.stderr
