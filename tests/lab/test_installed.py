"""The installed product: our wheel in a fresh virtualenv (dependencies as requirements.lock pins them) runs
the suites from a directory outside the repository, green on the minimal topology, writing only under
--reports and leaving nothing behind."""

import os
import re
import subprocess
import sys

import pytest

from macvlan_conformance.report.results import load
from macvlan_conformance.run_command import REPORTS

from ..conftest import ROOT
from ..wheel import build_wheel
from .conftest import host_snapshot


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A fresh virtualenv with the wheel installed (pip's cache makes the dependencies fast when warm)."""
    tmp = tmp_path_factory.mktemp("installed")
    wheel = build_wheel(tmp)
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-compile"]  # no .pyc: the run never imports most of it
    for args in (["-r", str(ROOT / "requirements.lock")], ["--no-deps", str(wheel)]):
        proc = subprocess.run([*pip, *args], capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"pip install {' '.join(args)}:\n{proc.stderr[-3000:]}"
    return venv


def _env():
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def test_run_from_the_installed_wheel_is_green_and_writes_only_its_reports(venv, tmp_path):
    cwd, reports = tmp_path / "cwd", tmp_path / "out" / "reports"
    cwd.mkdir()
    before, repo_before = host_snapshot(), sorted(p.name for p in ROOT.iterdir())
    proc = subprocess.run([str(venv / "bin" / "macvlan-conformance"), "run", "--topology", "minimal",
                           "--reports", str(reports)], cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=600)
    out = proc.stdout[-3000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, out
    assert f"rootdir: {venv}/lib/" in proc.stdout, "the installed suites ran, not the clone's\n" + out
    results = load(reports / REPORTS["results"])
    assert results["run"]["topology"] == "minimal" and results["checks"], out
    assert {c["outcome"] for c in results["checks"]} <= {"passed", "flaky"} and results["summary"]["failed"] == 0
    assert all(c["nodeid"].startswith("suites/test_") for c in results["checks"])
    assert set(REPORTS.values()) <= {p.name for p in reports.iterdir()}
    assert not list(cwd.iterdir()), "run wrote into its working directory"
    assert host_snapshot() == before and sorted(p.name for p in ROOT.iterdir()) == repo_before


def test_the_plugin_collects_the_installed_suites_from_anywhere(venv, tmp_path):
    proc = subprocess.run([str(venv / "bin" / "pytest"), "-p", "macvlan_conformance.fixtures.plugin", "--pyargs",
                           "macvlan_conformance.suites", "--collect-only", "-q", "-p", "no:cacheprovider"],
                          cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120)
    clone = subprocess.run([sys.executable, "-m", "pytest", "suites", "--collect-only", "-q"], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    counts = [re.search(r"^(\d+)(?:/\d+)? tests? collected", p.stdout, re.M) for p in (proc, clone)]
    assert proc.returncode == 0 and all(counts), proc.stdout[-2000:] + proc.stderr[-2000:]
    assert counts[0].group(1) == counts[1].group(1)
    assert not list(tmp_path.iterdir())
