"""Rebuild ``diagnosis-reference.json`` from a self-test's work directory (the runs it kept), compacted to
the record fields the diagnosis reads: the healthy run's records, and per fault the fields of the records that
differ from them (same node ids). Usage, after ``macvlan-conformance selftest --topology reference --workdir W``:

    python tests/data/make_diagnosis_reference.py W/runs > tests/data/diagnosis-reference.json
"""

import json
import sys
from pathlib import Path

KEPT = ("id", "nodeid", "outcome", "src", "dst", "expected", "observed", "control")
CHANGED = ("outcome", "observed", "control", "detail", "dst")


def compact(record: dict) -> dict:
    out = {key: record.get(key) for key in KEPT}
    if record.get("detail"):
        out["detail"] = record["detail"]
    return out


def main(runs: Path) -> dict:
    healthy = json.loads((runs / "healthy.json").read_text())
    base = {r["nodeid"]: compact(r) for r in healthy["checks"]}
    faults = {}
    for path in sorted(runs.glob("*.json")):
        if path.stem == "healthy":
            continue
        changes = {}
        for record in json.loads(path.read_text())["checks"]:
            before = base.get(record["nodeid"])
            if before is None:
                continue
            diff = {k: record.get(k) for k in CHANGED if record.get(k) != before.get(k) and (record.get(k) or before.get(k))}
            leaked = (record.get("evidence") or {}).get("leaked_to") if isinstance(record.get("evidence"), dict) else None
            if leaked:
                diff["evidence"] = {"leaked_to": leaked}
            if diff:
                changes[record["nodeid"]] = diff
        faults[path.stem] = changes
    return {"about": f"The self-test's runs on the reference topology ({runs} of `macvlan-conformance selftest`), "
                     "compacted to the record fields the diagnosis reads: the healthy run's records, and per fault "
                     "the fields of the records that differ from them (same node ids). Rebuilt by "
                     "tests/data/make_diagnosis_reference.py.",
            "topology": healthy["topology"], "healthy": list(base.values()), "faults": faults}


if __name__ == "__main__":
    json.dump(main(Path(sys.argv[1])), sys.stdout, indent=1)
    sys.stdout.write("\n")
