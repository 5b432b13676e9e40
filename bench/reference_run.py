"""(a) The reference run end to end (lab up, every suite, reports, lab down) next to a plain-command script
that performs the same bring-up, pings every intra- and inter-VLAN pair (8 in parallel) and tears down.

Run as root: ``.venv/bin/python bench/reference_run.py [--workers 2]``. The baseline checks far less (no
ARP, isolation, MTU, allocation, rules or resilience checks, no evidence): it is a floor, not a rival.
"""

import argparse
import json
import subprocess
import sys
import time

from common import ROOT, bash, plain_script, plain_teardown


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    topology = ROOT / "topologies" / "reference.yaml"
    started = time.perf_counter()
    seconds_plain, out = bash(plain_script(topology, probes=True) + plain_teardown(topology))
    plain = time.perf_counter() - started
    xdist = ["-n", str(args.workers), "--dist", "loadfile"] if args.workers > 1 else []
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "suites", "-q", "--topology", "reference", *xdist,
                           "--results", "/tmp/bench-ref.json", "--html-report", "/tmp/bench-ref.html",
                           "--history", "/tmp/bench-ref-history.jsonl"], cwd=ROOT, capture_output=True, text=True)
    ours = time.perf_counter() - started
    summary = json.loads(open("/tmp/bench-ref.json").read())["summary"]
    print(f"reference run (ours, {args.workers} workers): {ours:6.2f} s  {summary['total']} checks, "
          f"{summary['failed']} failed, {summary['flaky']} flaky (pytest exit {proc.returncode})")
    print(f"plain-command baseline:          {plain:6.2f} s  ({out.strip() or '0'} failed pings)")
    print(f"ratio ours/baseline:             {ours / plain:6.2f}")


if __name__ == "__main__":
    main()
