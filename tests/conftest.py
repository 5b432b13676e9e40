"""Shared helpers of our own tests."""

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
TOPOLOGIES = ROOT / "topologies"


def pytest_configure(config):
    config.addinivalue_line("markers", "sweeps_every_lab: the test runs `lab cleanup` without --name, which "
                                       "removes every lab of ours; it runs first, before any session lab exists")


def pytest_collection_modifyitems(config, items):
    """Tests that sweep every lab go first: later, the session's shared labs (reference, kube) exist."""
    items.sort(key=lambda item: item.get_closest_marker("sweeps_every_lab") is None)


def _reports_snapshot() -> dict[str, tuple[int, int]]:
    reports = ROOT / "reports"
    return {str(p.relative_to(reports)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in reports.rglob("*")} if reports.exists() else {}


@pytest.fixture(scope="session", autouse=True)
def reports_untouched():
    """Our tests write only into their temporary directories: ``reports/`` (the user's outputs) is exactly
    as it was when the session started, or the session ends with this error."""
    before = _reports_snapshot()
    yield
    after = _reports_snapshot()
    changed = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
    assert not changed, f"the tests changed reports/: {', '.join(changed)} (write into tmp_path instead)"


@pytest.fixture
def reference_data():
    """The reference topology as plain data, to mutate into bad inputs."""
    return copy.deepcopy(yaml.safe_load((TOPOLOGIES / "reference.yaml").read_text()))


def run_suites(tmp_path, *args, name="results"):
    """Run the conformance suites as a user would (a separate pytest); every output goes under tmp_path."""
    results = tmp_path / f"{name}.json"
    proc = subprocess.run([sys.executable, "-m", "pytest", "suites", "-q", "--results", str(results),
                           "--catalogue", str(tmp_path / "catalogue.yaml"), "--html-report",
                           str(tmp_path / f"{name}.html"), "--history", str(tmp_path / "history.jsonl"), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert results.exists(), f"no results.json; pytest said:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
    from macvlan_conformance.report.results import load
    return proc, load(results)  # what the suites write passes the schema they read


@pytest.fixture(scope="session")
def reference_lab():
    """The reference topology, built once by the CLI for the lab and kube tests; removed at the end."""
    from .lab.conftest import cli, lab_name
    name = lab_name("ref")
    out = cli("lab", "up", "--name", name, "--topology", str(TOPOLOGIES / "reference.yaml"))
    state = json.loads(Path(out.stdout.strip()).read_text())
    yield name, state
    cli("lab", "down", "--name", name, check=False)
