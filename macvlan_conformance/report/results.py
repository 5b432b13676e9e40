"""Read results.json and derive what reports show: per-area counts, failures, connectivity matrices."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ..checks import CHECKS, REGISTRY, area  # noqa: F401  (area: re-exported for the report templates)

OUTCOMES = ("passed", "failed", "flaky")
MATRIX_CHECKS = tuple(c.id for c in CHECKS if c.matrix)


class ResultsError(ValueError):
    pass


def load(path: str | Path) -> dict:
    """Load and sanity-check a results.json. Raises ``ResultsError`` naming the file and the problem."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ResultsError(f"{path}: cannot read ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("checks"), list) or "run" not in data:
        raise ResultsError(f"{path}: not a macvlan-conformance results.json (needs 'run' and 'checks')")
    ids = [r.get("id") for r in data["checks"] if isinstance(r, dict)] + list(data.get("not_applicable") or [])
    unknown = sorted({i for i in ids if i is not None and i not in REGISTRY}, key=str)
    if unknown:
        raise ResultsError(f"{path}: unknown check id {unknown[0]!r} (not a check of this version; known: "
                           f"{', '.join(REGISTRY)})")
    return data


def record_key(record: dict) -> str:
    """A record's identity across runs: its pytest node id (check id + endpoints)."""
    return record["nodeid"]


def area_summary(results: dict) -> dict[str, Counter]:
    counts: dict[str, Counter] = defaultdict(Counter)
    for record in results["checks"]:
        counts[area(record.get("id"))][record["outcome"]] += 1
    for check in results.get("not_applicable", []):
        counts[area(check)]["not applicable"] += 1
    return dict(sorted(counts.items()))


def failures(results: dict) -> list[dict]:
    return [r for r in results["checks"] if r["outcome"] == "failed"]


def vlan_of(label: str | None) -> str | None:
    return label.split("/", 1)[0] if label and "/" in label else None


@dataclass
class Matrix:
    """Source x destination cells of the reachability checks between two VLANs."""

    src_vlan: str
    dst_vlan: str
    sources: list[str] = field(default_factory=list)
    destinations: list[str] = field(default_factory=list)
    cells: dict[tuple[str, str], dict] = field(default_factory=dict)

    def cell(self, src: str, dst: str) -> dict | None:
        return self.cells.get((src, dst))


def matrices(results: dict) -> list[Matrix]:
    """One matrix per (source VLAN, destination VLAN) with the reachability records between them."""
    by_pair: dict[tuple[str, str], Matrix] = {}
    for index, record in enumerate(results["checks"]):
        if record.get("id") not in MATRIX_CHECKS or not record.get("src") or not record.get("dst"):
            continue
        pair = (vlan_of(record["src"]), vlan_of(record["dst"]))
        matrix = by_pair.setdefault(pair, Matrix(*pair))
        if record["src"] not in matrix.sources:
            matrix.sources.append(record["src"])
        if record["dst"] not in matrix.destinations:
            matrix.destinations.append(record["dst"])
        matrix.cells[(record["src"], record["dst"])] = {**record, "index": index}
    return [by_pair[k] for k in sorted(by_pair, key=lambda p: (_vlan_sort(p[0]), _vlan_sort(p[1])))]


def _vlan_sort(label: str | None) -> tuple:
    digits = "".join(ch for ch in label or "" if ch.isdigit())
    return (int(digits) if digits else -1, label or "")
