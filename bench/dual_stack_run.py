"""What a second address family costs: the reference topology (IPv4) next to the dual-stack topology (the same
scenario with an IPv6 subnet, gateway and pool per VLAN) and the IPv6-only one, bring-up and suites, in one script
on one machine. Each run is the same ``pytest suites`` a user runs (``selftest.run_suites``) on a lab built for it.
Per topology it prints the seconds and their ratio to the reference, the cases, and where the time goes: the one
windowed batch (every check that waits out a window, both families together), the checks that create pods or NICs
(each IPv6 address waits for duplicate address detection, as on any Linux host), the rest. Last, on one dual-stack
lab, the windowed batch of the IPv4 cases alone, the IPv6 cases alone and both: the families share one window.

Run as root: ``.venv/bin/python bench/dual_stack_run.py [--repeat 3] [--json OUT]``.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

from common import on_fresh_lab, timed

from macvlan_conformance import checks, selftest

WINDOWED = {c.id for c in checks.CHECKS if c.windowed}
CREATING = {"rules.attachment", "addressing.ip-reuse", "resilience.bond-member-down"}  # pods, NICs, bond drills


def split(data: dict) -> dict[str, float]:
    """Seconds of the run's tests: the windowed batch, the checks that create pods or NICs, everything else."""
    spent = {"windowed batch": 0.0, "pods, NICs, bond drills": 0.0, "other": 0.0}
    for record in data["checks"]:
        key = ("windowed batch" if record.get("id") in WINDOWED else
               "pods, NICs, bond drills" if record.get("id") in CREATING else "other")
        spent[key] += record.get("duration_s", 0.0)
    return {k: round(v, 2) for k, v in spent.items()}


def measure(topology: str, repeat: int, tmp: Path) -> dict:
    """Best of ``repeat``: lab up, the suites, lab down (a fresh lab each time)."""
    best = None
    for n in range(repeat):
        up, (suites, data) = on_fresh_lab(topology, "bd", lambda lab: timed(
            selftest.run_suites, lab, 1, tmp / f"{topology}-{n}.json"))
        row = {"topology": topology, "bring_up_s": round(up, 2), "suites_s": round(suites, 2),
               "summary": data["summary"], "seconds": split(data),
               "cases_by_family": {str(v): sum(1 for r in data["checks"] if r.get("ip_version") == v) for v in (4, 6)}}
        if best is None or row["suites_s"] < best["suites_s"]:
            best = row
    return best


FAMILY_SUBSETS = {"IPv4 cases only": ("-k", "not ipv6"), "IPv6 cases only": ("-k", "ipv6"), "both families": ()}


def shared_window(repeat: int, tmp: Path) -> dict[str, float]:
    """On one dual-stack lab, the windowed batch's seconds with the IPv4 cases only, the IPv6 cases only and both
    (best of ``repeat`` each): one shared window costs both about what the longer family costs alone."""
    def runs(lab: str) -> dict[str, float]:
        best: dict[str, float] = {}
        for n in range(repeat):
            for label, extra in FAMILY_SUBSETS.items():
                seconds = split(selftest.run_suites(lab, 1, tmp / f"window-{n}.json", extra))["windowed batch"]
                best[label] = min(best.get(label, seconds), seconds)
        return best
    return on_fresh_lab("dual-stack", "bw", runs)[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per topology, best kept (default 3)")
    parser.add_argument("--topologies", default="reference,dual-stack,ipv6-only", help="shipped topologies to time "
                        "(the first is the baseline)")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.topologies.split(","):
            rows.append(measure(name, args.repeat, Path(tmp)))
            base, row = rows[0], rows[-1]
            ratio = lambda key: row[key] / base[key]  # noqa: E731
            windowed = row["seconds"]["windowed batch"] / max(base["seconds"]["windowed batch"], 1e-9)
            print(f"{name:<11} up {row['bring_up_s']:5.2f} s (x{ratio('bring_up_s'):4.2f})  suites "
                  f"{row['suites_s']:6.2f} s (x{ratio('suites_s'):4.2f})  cases IPv4 {row['cases_by_family']['4']}, "
                  f"IPv6 {row['cases_by_family']['6']}; {row['summary']['passed']} passed, {row['summary']['failed']} "
                  f"failed, {row['summary']['flaky']} flaky; seconds {row['seconds']} (windowed batch x{windowed:4.2f})",
                  flush=True)
        window = shared_window(args.repeat, Path(tmp))
        print("windowed batch on the dual-stack lab: " + ", ".join(f"{k} {v:.2f} s" for k, v in window.items()))
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": rows, "windowed_batch": window}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
