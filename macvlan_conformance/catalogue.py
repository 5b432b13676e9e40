"""The conformance catalogue: every registered check's id, area, modes and MUST lines (``checks``), with the
suite test that runs it, found in the suites' source with ``ast`` (no import, no pytest).

A suite marker naming an unregistered check, or a registered check without a suite test, is an error:
a check can neither vanish from a run nor be listed without running.
"""

from __future__ import annotations

import ast
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from . import checks
from .shipped import shipped_dir

SUITES = shipped_dir("suites")


@dataclass(frozen=True)
class CatalogueEntry:
    id: str
    area: str
    modes: list[str]
    test: str
    file: str
    summary: str
    must: list[str]
    needs: list[str]


def _marker_ids(func: ast.FunctionDef) -> list[str]:
    return [deco.args[0].value for deco in func.decorator_list
            if isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute) and deco.func.attr == "check"
            and deco.args and isinstance(deco.args[0], ast.Constant)]


def suite_tests(suites_dir: Path = SUITES) -> dict[str, tuple[str, str]]:
    """Check id -> (test function, file) over the suites; ``UnknownCheck`` for an unregistered marker."""
    found: dict[str, tuple[str, str]] = {}
    for path in sorted(Path(suites_dir).glob("test_*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef):
                for check_id in _marker_ids(node):
                    checks.get(check_id, f"{path.name}::{node.name}")
                    if check_id in found:
                        raise checks.UnknownCheck(f"{path.name}::{node.name}: check {check_id} is already run by "
                                                  f"{found[check_id][1]}::{found[check_id][0]}")
                    found[check_id] = (node.name, path.name)
    return found


def build(suites_dir: Path = SUITES) -> list[CatalogueEntry]:
    tests = suite_tests(suites_dir)
    missing = [c.id for c in checks.CHECKS if c.id not in tests]
    if missing:
        raise checks.UnknownCheck(f"registered checks without a suite test in {suites_dir}: {', '.join(missing)}")
    return [CatalogueEntry(c.id, c.area, list(c.modes), *tests[c.id], c.summary, list(c.must),
                           sorted(n.value for n in c.needs | c.requires)) for c in checks.CHECKS]


def write(entries: list[CatalogueEntry], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"checks": [asdict(e) for e in entries]}, sort_keys=False, width=110))
