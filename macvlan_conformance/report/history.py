"""The nightly history: one JSON line per run (time, target, topology, totals) in history.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

from .results import area_summary


def entry(results: dict) -> dict:
    return {"finished": results["run"].get("finished"), "target": results["run"].get("target"),
            "topology": results["run"].get("topology"), "summary": results.get("summary", {}),
            "areas": {a: dict(c) for a, c in area_summary(results).items()}}


def append(path: str | Path, results: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.write(json.dumps(entry(results)) + "\n")


def read(path: str | Path, last: int = 20) -> list[dict]:
    """The last ``last`` entries (unreadable lines are skipped: a history never breaks a report)."""
    path = Path(path)
    if not path.exists():
        return []
    entries = []
    for line in path.read_text().splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return entries[-last:]
