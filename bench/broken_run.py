"""The cost of a broken network: the suites' wall time on a healthy 3-node lab next to runs under single
faults of the catalogue (users run the suite exactly when the network is broken). Every run is the same
``pytest suites`` a user runs (``selftest.run_suites``), on one lab built once; a fault is applied before
its run and reverted after it. Prints each run's seconds, its ratio to the healthy run, and its outcome
counts, so that a faster broken run can be checked to fail the same checks.

Run as root: ``.venv/bin/python bench/broken_run.py [--faults a,b] [--repeat 1] [--json OUT]``.
To compare two versions, run the script from a checkout of each (``git worktree add /tmp/old <rev>``,
then copy this file into it): the code measured is the checkout the script lives in.
"""

import argparse
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, grid_topology  # noqa: F401  (ROOT on sys.path)

from macvlan_conformance import faults, selftest
from macvlan_conformance.lab.cleanup import teardown
from macvlan_conformance.lab.control import lab_up
from macvlan_conformance.lab.names import LabNames
from macvlan_conformance.lab.target import LabTarget
from macvlan_conformance.topology import load_topology

DEFAULT_FAULTS = "vlanif-down,vlan-removed-from-trunk,bond-both-down,duplicate-ip,router-forwarding-off"


def timed_run(lab: str, results: Path) -> tuple[float, dict]:
    started = time.perf_counter()
    data = selftest.run_suites(lab, 1, results)
    return time.perf_counter() - started, data


def seconds_by_check(data: dict, top: int = 4) -> dict[str, float]:
    """The checks that took longest in a run (sum of their tests' durations)."""
    spent: dict[str, float] = {}
    for record in data["checks"]:
        spent[record.get("id") or "?"] = spent.get(record.get("id") or "?", 0.0) + record.get("duration_s", 0.0)
    return {k: round(v, 1) for k, v in sorted(spent.items(), key=lambda kv: -kv[1])[:top]}


def failed_ids(data: dict) -> list[str]:
    return sorted({c["id"] for c in data["checks"] if c["outcome"] == "failed"})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faults", default=DEFAULT_FAULTS, help=f"faults to time (default {DEFAULT_FAULTS})")
    parser.add_argument("--repeat", type=int, default=1, help="time each run this many times (best kept)")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    path = grid_topology(nodes=3, vlans=2, pods_per_node_vlan=1, name="broken3")
    topology = load_topology(path)
    catalogue = faults.catalogue(topology)
    chosen = [catalogue[name] for name in args.faults.split(",")]
    lab = "bk" + secrets.token_hex(2)
    rows = []
    lab_up(path, lab)
    try:
        target = LabTarget(LabNames(lab).state_file)
        with tempfile.TemporaryDirectory() as tmp:
            for fault in [None, *chosen]:
                best, data = None, None
                for n in range(args.repeat):
                    if fault:
                        fault.apply(target)
                    try:
                        seconds, data = timed_run(lab, Path(tmp) / f"{fault.name if fault else 'healthy'}-{n}.json")
                    finally:
                        if fault:
                            fault.revert(target)
                            target.reload()
                    best = seconds if best is None else min(best, seconds)
                rows.append({"run": fault.name if fault else "healthy", "seconds": round(best, 2),
                             "summary": data["summary"], "failed_checks": failed_ids(data),
                             "slowest_checks_s": seconds_by_check(data)})
                print(f"{rows[-1]['run']:<26} {best:7.2f} s  x{best / rows[0]['seconds']:5.2f}  "
                      f"{data['summary']['passed']} passed, {data['summary']['failed']} failed  "
                      f"[{', '.join(rows[-1]['failed_checks'])}]\n{'':26} slowest: {rows[-1]['slowest_checks_s']}",
                      flush=True)
        target.close()
    finally:
        teardown(lab)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
