"""What the coordinator and this turn's checks cost: the suites' wall time on the reference topology (no
coordinator) next to the coordinator topology (the same scenario with the coordinator chained on every
network), bring-up included, in one script on one machine. Each run is the same ``pytest suites`` a user runs
(``selftest.run_suites``) on a lab built for it, once with every check and once without the checks this turn
added (``-k "not ..."``: the baseline, on the same lab); per topology it prints the seconds, the ratios, the
outcome counts and the seconds spent in the checks that are new or changed by the coordinator.

Run as root: ``.venv/bin/python bench/coordinator_run.py [--repeat 3] [--json OUT]``.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

from common import on_fresh_lab, timed

from macvlan_conformance import selftest

NEW_CHECKS = ("-k", "not test_ip_reuse and not test_node_reachability and not test_service_cluster_ip")
WATCHED = ("addressing.ip-reuse", "host.node-reachability", "rules.attachment", "allocation.interfaces",
           "isolation.own-master")


def seconds_in(data: dict, checks=WATCHED) -> dict[str, float]:
    spent: dict[str, float] = {}
    for record in data["checks"]:
        if record.get("id") in checks:
            spent[record["id"]] = spent.get(record["id"], 0.0) + record.get("duration_s", 0.0)
    return {k: round(v, 2) for k, v in sorted(spent.items())}


def measure(topology: str, repeat: int, tmp: Path) -> dict:
    """Best of ``repeat``: lab up, the suites without this turn's checks, the suites, lab down (a fresh lab
    each time)."""
    best = None
    for n in range(repeat):
        up, ((base, _), (suites, data)) = on_fresh_lab(topology, "bc", lambda lab: (
            timed(selftest.run_suites, lab, 1, tmp / f"{topology}-{n}-base.json", NEW_CHECKS),
            timed(selftest.run_suites, lab, 1, tmp / f"{topology}-{n}.json")))
        row = {"topology": topology, "bring_up_s": round(up, 2), "suites_s": round(suites, 2),
               "without_new_checks_s": round(base, 2), "summary": data["summary"],
               "watched_checks_s": seconds_in(data)}
        if best is None or row["suites_s"] < best["suites_s"]:
            best = row
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per topology, best kept (default 3)")
    parser.add_argument("--topologies", default="reference,coordinator", help="shipped topologies to time")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.topologies.split(","):
            rows.append(measure(name, args.repeat, Path(tmp)))
            base = rows[0]
            row = rows[-1]
            print(f"{name:<12} up {row['bring_up_s']:5.2f} s (x{row['bring_up_s'] / base['bring_up_s']:4.2f} of "
                  f"reference)  suites {row['suites_s']:6.2f} s (x{row['suites_s'] / base['suites_s']:4.2f} of "
                  f"reference; x{row['suites_s'] / row['without_new_checks_s']:4.2f} of the same run without "
                  f"this turn's checks, {row['without_new_checks_s']:.2f} s)  {row['summary']['passed']} passed, "
                  f"{row['summary']['failed']} failed\n{'':12} {row['watched_checks_s']}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
