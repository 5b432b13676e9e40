"""The conformance catalogue: every check's stable id, area and MUST lines, read from the suites' source.

Suites declare ``@pytest.mark.check("<id>")`` on a test whose docstring lists its MUST lines. The
catalogue is parsed with ``ast`` (no import, no pytest), so the CLI and the report can build it too.
"""

from __future__ import annotations

import ast
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class CatalogueEntry:
    id: str
    area: str
    test: str
    file: str
    summary: str
    must: list[str]


def _check_id(func: ast.FunctionDef) -> str | None:
    for deco in func.decorator_list:
        if isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute) and deco.func.attr == "check":
            if deco.args and isinstance(deco.args[0], ast.Constant):
                return deco.args[0].value
    return None


def build(suites_dir: Path) -> list[CatalogueEntry]:
    entries = []
    for path in sorted(Path(suites_dir).glob("test_*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and (check := _check_id(node)):
                doc = ast.get_docstring(node) or ""
                lines = [line.strip() for line in doc.splitlines() if line.strip()]
                must = [line for line in lines if line.startswith("MUST")]
                entries.append(CatalogueEntry(check, check.split(".", 1)[0], node.name, path.name,
                                              lines[0] if lines else "", must))
    return entries


def write(entries: list[CatalogueEntry], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"checks": [asdict(e) for e in entries]}, sort_keys=False, width=110))
