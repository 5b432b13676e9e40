"""Read results.json and derive what reports show: per-area counts, failures, connectivity matrices."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from .. import json_files
from ..checks import CHECKS, REGISTRY, area  # noqa: F401  (area: re-exported for the report templates)
from .schema import SCHEMA_VERSION, Results

OUTCOMES = ("passed", "failed", "flaky")
MATRIX_CHECKS = tuple(c.id for c in CHECKS if c.matrix)


class ResultsError(ValueError):
    """A results.json this version cannot use; ``str()`` is one line naming the file and the field."""


def load(path: str | Path) -> dict:
    """A results.json, validated against the schema (``report.schema``): the file's own dict. Raises
    ``ResultsError`` (one line: the file, the field, the problem) for anything this version cannot read."""
    path = Path(path)
    try:
        data = json_files.read(path)
    except json_files.Unreadable as exc:
        raise ResultsError(str(exc)) from None
    if not isinstance(data, dict) or not ({"run", "checks"} & data.keys()):
        raise ResultsError(f"{path}: not a macvlan-conformance results.json (needs 'run' and 'checks', "
                           f"got {json_files.excerpt(data)})")
    _check_version(path, data.get("schema_version", 0))
    try:
        Results.model_validate(data)
    except ValidationError as exc:
        raise ResultsError(f"{path}: {json_files.problems(exc)}") from None
    _check_ids(path, data)
    return data


def load_baseline(path: str | Path) -> dict:
    """``load``, refusing the partial results of an interrupted run (they would compare as removed checks)."""
    data = load(path)
    if data["run"].get("interrupted"):
        raise ResultsError(f"{path}: run.interrupted: the partial results of an interrupted run cannot be a "
                           f"baseline; use the results.json of a complete run")
    return data


def _check_version(path: Path, version) -> None:
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise ResultsError(f"{path}: schema_version {version}: written by a newer macvlan-conformance (this "
                           f"version reads up to {SCHEMA_VERSION}); upgrade")


def _check_ids(path: Path, data: dict) -> None:
    """Every check id named in the file is a registered check of this version."""
    named = [(f"checks[{i}].id", r["id"]) for i, r in enumerate(data["checks"])]
    named += [(f"not_applicable[{i}]", c) for i, c in enumerate(data.get("not_applicable") or [])]
    unknown = [(where, i) for where, i in named if i is not None and i not in REGISTRY]
    if unknown:
        where, check_id = unknown[0]
        raise ResultsError(f"{path}: unknown check id {check_id!r} at {where} (not a check of this version; "
                           f"known: {', '.join(REGISTRY)})")


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


def family(record: dict) -> int | None:
    """The address family a record's probe used (4 or 6); None for a record of no probe."""
    return record.get("ip_version")


def family_tag(record: dict) -> str:
    """What a test id ends in for the record's family: " [ipv6]" for IPv6, "" for IPv4 and unprobed records."""
    version = family(record)
    return f" [ipv{version}]" if version and version != 4 else ""


def named(record: dict) -> str:
    """The record's node id, naming its family even if the node id does not (an IPv6 case's id already does)."""
    tag = family_tag(record)
    return record["nodeid"] if tag.strip() in record["nodeid"] else record["nodeid"] + tag


@dataclass
class Matrix:
    """Source x destination cells of the reachability checks of one address family between two VLANs.
    ``labelled``: the run has IPv6 records, so anchor and title name the family (an IPv4-only run's do not)."""

    src_vlan: str
    dst_vlan: str
    ip_version: int = 4
    labelled: bool = False
    sources: list[str] = field(default_factory=list)
    destinations: list[str] = field(default_factory=list)
    cells: dict[tuple[str, str], dict] = field(default_factory=dict)

    def cell(self, src: str, dst: str) -> dict | None:
        return self.cells.get((src, dst))

    @property
    def outcomes(self) -> Counter:
        return Counter(c["outcome"] for c in self.cells.values())

    @property
    def family(self) -> str:
        """"IPv4" / "IPv6" in a run with IPv6 records, else ""."""
        return f"IPv{self.ip_version}" if self.labelled else ""

    @property
    def anchor(self) -> str:
        suffix = f"-ipv{self.ip_version}" if self.labelled else ""
        return f"m-{self.src_vlan}-{self.dst_vlan}{suffix}"


def matrices(results: dict) -> list[Matrix]:
    """One matrix per (source VLAN, destination VLAN, address family) with the reachability records between
    them, a VLAN pair's IPv4 matrix before its IPv6 one. Records without ``ip_version`` are IPv4."""
    probed = [(i, r) for i, r in enumerate(results["checks"])
              if r.get("id") in MATRIX_CHECKS and r.get("src") and r.get("dst")]
    labelled = any(family(r) == 6 for _, r in probed)
    by_key: dict[tuple[str, str, int], Matrix] = {}
    for index, record in probed:
        key = (vlan_of(record["src"]), vlan_of(record["dst"]), family(record) or 4)
        matrix = by_key.setdefault(key, Matrix(*key, labelled=labelled))
        if record["src"] not in matrix.sources:
            matrix.sources.append(record["src"])
        if record["dst"] not in matrix.destinations:
            matrix.destinations.append(record["dst"])
        matrix.cells[(record["src"], record["dst"])] = {**record, "index": index}
    return [by_key[k] for k in sorted(by_key, key=lambda k: (_vlan_sort(k[0]), _vlan_sort(k[1]), k[2]))]


def _vlan_sort(label: str | None) -> tuple:
    digits = "".join(ch for ch in label or "" if ch.isdigit())
    return (int(digits) if digits else -1, label or "")


@dataclass
class PairOverview:
    """The VLAN pairs of one address family: source VLANs, destination VLANs, and the matrix of each pair."""

    family: str                   # "IPv4" / "IPv6" in a run with IPv6 records, else ""
    sources: list[str]
    destinations: list[str]
    by_pair: dict[tuple[str, str], Matrix]

    @property
    def anchor(self) -> str:
        return f"vlan-pairs-{self.family.lower()}" if self.family else "vlan-pairs"


def vlan_pairs(matrices: list[Matrix]) -> list[PairOverview]:
    """The overview of the matrices: one per address family, IPv4 first (one, unnamed, in an IPv4-only run)."""
    overviews = []
    for version in sorted({m.ip_version for m in matrices}):
        own = [m for m in matrices if m.ip_version == version]
        overviews.append(PairOverview(own[0].family, sorted({m.src_vlan for m in own}, key=_vlan_sort),
                                      sorted({m.dst_vlan for m in own}, key=_vlan_sort),
                                      {(m.src_vlan, m.dst_vlan): m for m in own}))
    return overviews


def by_check(results: dict) -> list[tuple[str | None, Counter, list[tuple[int, dict]]]]:
    """The records grouped by check id (in the order checks first appear): (id, outcome counts, [(index, record)])."""
    groups: dict[str | None, list[tuple[int, dict]]] = {}
    for index, record in enumerate(results["checks"]):
        groups.setdefault(record.get("id"), []).append((index, record))
    return [(check, Counter(r["outcome"] for _, r in rows), rows) for check, rows in groups.items()]
