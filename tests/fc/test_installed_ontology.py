"""An installed worker expands category terms on its own (issues #17/#18).

The oxmeta ontology the engine needs ships inside ``worker.fc`` as package data. These tests build
the project's wheel, install it into an empty folder and run the engine from there, in a separate
interpreter whose working directory is outside the source tree, with no ``WEBLAB_*`` variables: the
situation of a worker on another host, which has neither this repository nor the shared data folder.
Takes about 10 s (most of it building the wheel). That the packaged copy stays identical to
``ontology/oxmeta.ttl`` is checked in test_packaged_ontology.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA

ROOT = Path(__file__).resolve().parents[2]
DATA = SHARED_DATA
MODEL = DATA / "cellml" / "beeler_reuter_model_1977.cellml"
OXMETA = "https://chaste.comlab.ox.ac.uk/cellml/ns/oxford-metadata#"

# What a source distribution would not need: left out of the copy the wheel is built from.
_NOT_SOURCES = {
    ".git",
    ".venv",
    "build",
    "weblab-data",
    "test-artifacts",
    "tests",
    "bench",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
}

PROTOCOL = f"""
namespace oxmeta = "{OXMETA}"
model interface {{
    output oxmeta:state_variable
    output oxmeta:hodgkin_huxley_gate
    output oxmeta:IonicCurrent
}}
"""

# Runs in the fresh interpreter: argv = site folder, model file, protocol text, source tree.
SCRIPT = """
import json, sys
site, model_path, protocol, source = sys.argv[1:5]
sys.path.insert(0, site)
import worker.fc
from worker.fc.interface import parts_of, prepare
from worker.fc.ontology import ontology
from worker.fc.parser import parse_text

prepared = prepare(model_path, parts_of([parse_text(protocol)]))
print(json.dumps({
    "fc_file": worker.fc.__file__,
    "source_on_path": [p for p in sys.path if p in ("", ".", source, source + "/")],
    "from_source": sorted(m.__name__ for m in list(sys.modules.values())
                          if (getattr(m, "__file__", None) or "").startswith(source + "/worker/")),
    "ontology_triples": len(ontology()),
    "bindings": {term: b.qnames for term, b in prepared.bindings.items()},
}))
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the sources, installed (no dependencies) into an empty folder."""
    tmp = tmp_path_factory.mktemp("installed")
    source = tmp / "source"
    source.mkdir()
    for entry in ROOT.iterdir():
        if entry.name in _NOT_SOURCES or entry.name.endswith(".egg-info"):
            continue
        if entry.is_dir():
            shutil.copytree(entry, source / entry.name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(entry, source / entry.name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    built = subprocess.run(
        [*pip, "wheel", "--no-deps", "-q", "-w", str(tmp / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp / "dist").glob("weblab-*.whl")
    installed = subprocess.run(
        [*pip, "install", "--no-deps", "-q", "--target", str(tmp / "site"), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr
    return tmp / "site"


def test_an_installed_worker_expands_category_terms(site: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEBLAB_", "PYTHON"))}
    run = subprocess.run(
        [sys.executable, "-I", "-c", SCRIPT, str(site), str(MODEL), PROTOCOL, str(ROOT)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)

    # The engine ran from the installed wheel, not from this source tree.
    assert Path(result["fc_file"]).is_relative_to(site)
    assert result["source_on_path"] == [] and result["from_source"] == []
    assert result["ontology_triples"] > 0

    bindings = result["bindings"]
    # oxmeta:state_variable: every state of the model (8 in Beeler-Reuter 1977).
    assert bindings[OXMETA + "state_variable"] == [
        "membrane.V",
        "sodium_current_m_gate.m",
        "sodium_current_h_gate.h",
        "sodium_current_j_gate.j",
        "slow_inward_current.Cai",
        "slow_inward_current_d_gate.d",
        "slow_inward_current_f_gate.f",
        "time_dependent_outward_current_x1_gate.x1",
    ]
    # Categories the model never names: they resolve only through the ontology's rdf:type links.
    # The file annotates the m, h, j, d and f gates (not x1) and these five currents.
    assert sorted(bindings[OXMETA + "hodgkin_huxley_gate"]) == [
        "slow_inward_current_d_gate.d",
        "slow_inward_current_f_gate.f",
        "sodium_current_h_gate.h",
        "sodium_current_j_gate.j",
        "sodium_current_m_gate.m",
    ]
    assert sorted(bindings[OXMETA + "IonicCurrent"]) == [
        "slow_inward_current.i_s",
        "sodium_current.i_Na",
        "stimulus_protocol.Istim",
        "time_dependent_outward_current.i_x1",
        "time_independent_outward_current.i_K1",
    ]
