"""The wheel is the product: it carries the library, the suites and their fixtures, the shipped topologies,
the report template, the CRDs and the console script, and from it the suites collect as from the clone."""

import ast
import json
import os
import re
import subprocess
import sys
import tomllib
import zipfile

import pytest

from ..conftest import ROOT
from ..wheel import build_wheel

MAPPED = {"suites": "macvlan_conformance.suites", "fixtures": "macvlan_conformance.fixtures",
          "topologies": "macvlan_conformance.topologies"}
SHIPPED = {"suites": ("*.py",), "fixtures": ("*.py", "*.ini"), "topologies": ("*.yaml",)}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """The wheel's files unpacked, as pip would lay them out in site-packages."""
    site = tmp_path_factory.mktemp("site")
    zipfile.ZipFile(wheel).extractall(site)
    return site


def _tree_files() -> dict[str, str]:
    """Repository file -> where the wheel must carry it."""
    wanted = {}
    for path in (ROOT / "macvlan_conformance").rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            wanted[str(path.relative_to(ROOT))] = str(path.relative_to(ROOT))
    for folder, package in MAPPED.items():
        for path in (p for pattern in SHIPPED[folder] for p in (ROOT / folder).glob(pattern)):
            wanted[f"{folder}/{path.name}"] = f"{package.replace('.', '/')}/{path.name}"
    return wanted


def test_every_package_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(d.relative_to(ROOT).parts) for d in [ROOT / "macvlan_conformance",
                                                           *(ROOT / "macvlan_conformance").rglob("*")]
             if d.is_dir() and d.name != "__pycache__" and any(f.is_file() for f in d.iterdir())}
    expected = found | set(MAPPED.values())
    missing, stale = sorted(expected - listed), sorted(listed - expected)
    assert not missing, f"add to pyproject.toml [tool.setuptools] packages (else the wheel lacks them): {missing}"
    assert not stale, f"pyproject.toml lists packages that do not exist: {stale}"


def test_the_wheel_carries_the_product(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(f"{source} (as {inside})" for source, inside in _tree_files().items() if inside not in names)
    assert not missing, f"the wheel lacks: {missing}"
    for needed in ("suites/test_gateway.py", "fixtures/plugin.py", "fixtures/run.ini", "topologies/minimal.yaml",
                   "report/templates/conformance.html.j2", "crds/spiderpool.spidernet.io_spiderippools.yaml"):
        assert f"macvlan_conformance/{needed}" in names
    dist = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "macvlan-conformance = macvlan_conformance.cli:main" in zipfile.ZipFile(wheel).read(dist).decode()
    metadata = zipfile.ZipFile(wheel).read(dist.replace("entry_points.txt", "METADATA")).decode()
    requires = set(re.findall(r"^Requires-Dist: ([A-Za-z0-9_-]+)(?!.*extra ==)", metadata, re.M))
    assert {"pytest", "allure-pytest", "pytest-xdist"} <= requires, "`run` needs pytest and its plugins installed"


def test_fixtures_import_each_other_relatively():
    """``from fixtures.x import`` works from a clone only; the installed package is macvlan_conformance.fixtures."""
    def imported(node) -> list[str]:
        if isinstance(node, ast.ImportFrom):
            return [node.module or ""] if node.level == 0 else []
        return [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
    absolute = [f"fixtures/{path.name}:{node.lineno}" for path in sorted((ROOT / "fixtures").glob("*.py"))
                for node in ast.walk(ast.parse(path.read_text()))
                if any(name.split(".")[0] == "fixtures" for name in imported(node))]
    assert not absolute, f"use relative imports (from .state import ...): {absolute}"


def _collect(cwd, *argv, env=None):
    proc = subprocess.run([sys.executable, "-P", "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           "--results", str(cwd / "r.json"), "--catalogue", str(cwd / "c.yaml"),
                           "--html-report", str(cwd / "r.html"), "--history", str(cwd / "h.jsonl"), *argv],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=120)
    found = re.search(r"^(\d+)(?:/\d+)? tests? collected", proc.stdout, re.M)
    assert proc.returncode == 0 and found, proc.stdout[-2000:] + proc.stderr[-2000:]
    return int(found.group(1)), proc.stdout


def test_installed_suites_collect_like_the_clone(installed, tmp_path, monkeypatch):
    """From the unpacked wheel, outside the repository: the plugin, the suites and the topologies are the
    installed ones, and ``pytest -p ... --pyargs macvlan_conformance.suites`` collects what the clone does."""
    probe = ("import json; from macvlan_conformance import catalogue, run_command, topology; "
             "from macvlan_conformance.fixtures import options; print(json.dumps([str(topology.topology_dir()), "
             "str(catalogue.SUITES), str(options.SUITES), len(catalogue.build())]))")
    env = {**os.environ, "PYTHONPATH": str(installed)}
    out = subprocess.run([sys.executable, "-P", "-c", probe], capture_output=True, text=True, cwd=tmp_path, env=env)
    topologies, suites, fixture_suites, checks = json.loads(out.stdout or "null") or (None,) * 4
    assert topologies == str(installed / "macvlan_conformance" / "topologies"), out.stderr
    assert suites == fixture_suites == str(installed / "macvlan_conformance" / "suites") and checks > 0
    (tmp_path / "clone").mkdir()
    (tmp_path / "wheel").mkdir()
    clone, _ = _collect(tmp_path / "clone", str(ROOT / "suites"))
    count, listing = _collect(tmp_path / "wheel", "-p", "macvlan_conformance.fixtures.plugin", "--pyargs",
                              "macvlan_conformance.suites", env=env)
    assert count == clone and "vlan100/" in listing
    assert not list((tmp_path / "wheel").iterdir()), "collecting wrote into the working directory"
