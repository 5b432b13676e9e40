"""Soak: run the healthy reference suites N times on one lab and report failures and flaky passes per
check. Target: zero of both. Run as root: ``.venv/bin/python bench/soak.py [--runs 10] [--workers 2]``."""

import argparse
import collections
import secrets
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT

from macvlan_conformance.lab.cleanup import teardown
from macvlan_conformance.lab.control import lab_up
from macvlan_conformance.selftest import run_suites


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--topology", default=str(ROOT / "topologies" / "reference.yaml"))
    args = parser.parse_args()
    name = "soak" + secrets.token_hex(2)
    lab_up(args.topology, name)
    bad = collections.Counter()
    totals = collections.Counter()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(1, args.runs + 1):
                started = time.perf_counter()
                results = run_suites(name, args.workers, Path(tmp) / f"run{i}.json")
                for record in results["checks"]:
                    if record["outcome"] != "passed":
                        bad[(record["outcome"], record["nodeid"])] += 1
                totals.update(results["summary"])
                print(f"run {i}: {results['summary']['passed']} passed, {results['summary']['failed']} failed, "
                      f"{results['summary']['flaky']} flaky in {time.perf_counter() - started:.1f} s", flush=True)
    finally:
        teardown(name)
    print(f"{args.runs} runs: {totals['failed']} failures, {totals['flaky']} flaky passes")
    for (outcome, nodeid), count in bad.most_common():
        print(f"  {outcome} x{count}: {nodeid}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
