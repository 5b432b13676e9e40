"""The nightly history: one JSON line per complete run (time, target, topology, totals) in history.jsonl.

The history is read defensively: a line that is not a history entry (cut by a crash, not UTF-8, not JSON,
JSON of another shape) is skipped and named, and never breaks the report of the run that reads it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from .. import json_files
from .results import area_summary
from .schema import HistoryEntry


@dataclass
class History:
    """The entries read, oldest first, and one ``path:line: why, skipped`` per line that was skipped."""

    entries: list[dict] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def entry(results: dict) -> dict:
    return {"finished": results["run"].get("finished"), "target": results["run"].get("target"),
            "topology": results["run"].get("topology"), "summary": results.get("summary", {}),
            "areas": {a: dict(c) for a, c in area_summary(results).items()}}


def append(path: str | Path, results: dict) -> None:
    """Add ``results`` as one line; a last line cut short by a crash is ended first, not extended."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cut = path.exists() and path.stat().st_size > 0 and _last_byte(path) != b"\n"
    with path.open("a") as fh:
        fh.write(("\n" if cut else "") + json.dumps(entry(results)) + "\n")


def _last_byte(path: Path) -> bytes:
    with path.open("rb") as fh:
        fh.seek(-1, 2)
        return fh.read(1)


def read(path: str | Path, last: int = 20) -> History:
    """The last ``last`` valid entries of ``path`` (none if it does not exist), and the lines skipped."""
    path = Path(path)
    if not path.exists():
        return History()
    try:
        data = json_files.read_bytes(path)
    except json_files.Unreadable as exc:
        return History(skipped=[f"{exc}; no trend shown"])
    history = History()
    for number, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            value = json_files.decode(line)
        except ValueError as exc:
            value, why = None, str(exc)
        else:
            why = invalid(value)
        if why:
            history.skipped.append(f"{path}:{number}: {why}, skipped")
        else:
            history.entries.append(value)
    history.entries = history.entries[-last:]
    return history


def invalid(value) -> str | None:
    """Why ``value`` is not a history entry (its first problem), or None when it is one."""
    if not isinstance(value, dict):
        return f"not a history entry ({json_files.excerpt(value)})"
    try:
        HistoryEntry.model_validate(value)
    except ValidationError as exc:
        return f"not a history entry ({json_files.first_problem(exc)})"
    return None
