"""(a) The reference run end to end (lab up, every suite, reports, lab down) next to two plain-command
scripts doing the same bring-up and teardown: one performs the same probes (``plain_probes``: every
probed check's cases as ``ping``/``arping``/``tcpdump``/``ip`` lines, 128 in parallel, and the bond-member
faults with rounds of probes), the other only pings every intra- and inter-VLAN pair (a floor).

Run as root: ``.venv/bin/python bench/reference_run.py [--workers 1] [--repeat 1]``. The plain scripts
print a ``FAIL`` line for every probe that did not see what its case expects: on a healthy lab, none;
as a control, the same-probes script runs once more (without the bond-member faults) with the first
routed VLAN's vlanif down, where its gateway, routed, TTL and MTU probes must fail.
"""

import argparse
import json
import subprocess
import sys
import time

from common import ROOT, bash, load_topology, plain_script, plain_teardown


def plain(topology, probes: str, fault: str = "") -> tuple[float, list[str]]:
    started = time.perf_counter()
    _, out = bash(plain_script(topology, probes=probes, fault=fault) + plain_teardown(topology))
    return time.perf_counter() - started, [line for line in out.splitlines() if line.startswith("FAIL")]


def ours(workers: int) -> tuple[float, dict, int]:
    xdist = ["-n", str(workers), "--dist", "loadfile"] if workers > 1 else []
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "suites", "-q", "--topology", "reference", *xdist,
                           "--results", "/tmp/bench-ref.json", "--html-report", "/tmp/bench-ref.html",
                           "--history", "/tmp/bench-ref-history.jsonl"], cwd=ROOT, capture_output=True, text=True)
    return time.perf_counter() - started, json.loads(open("/tmp/bench-ref.json").read())["summary"], proc.returncode


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1, help="pytest-xdist workers of our run (1: serial)")
    parser.add_argument("--repeat", type=int, default=1, help="measure each this many times, alternating")
    args = parser.parse_args()
    topology = ROOT / "topologies" / "reference.yaml"
    vlan = load_topology(topology).routed_vlans[0]
    _, control = plain(topology, "checks", fault=f"ip -n {{prefix}}-rt link set vif{vlan} down")
    print(f"control: with the vlanif of VLAN {vlan} down the same-probes script printed {len(control)} FAIL lines "
          f"({', '.join(sorted({line.split()[1] for line in control})) or 'none: the baseline probes nothing'})")
    for _ in range(args.repeat):
        same, same_fails = plain(topology, "all")
        floor, floor_fails = plain(topology, "pings")
        seconds, summary, rc = ours(args.workers)
        print(f"reference run (ours, {args.workers} worker(s)): {seconds:6.2f} s  {summary['total']} checks, "
              f"{summary['failed']} failed, {summary['flaky']} flaky (pytest exit {rc})")
        print(f"plain script, same probes:          {same:6.2f} s  ({len(same_fails)} FAIL lines)"
              + "".join(f"\n    {line}" for line in same_fails[:5]))
        print(f"plain script, pings only (a floor): {floor:6.2f} s  ({len(floor_fails)} FAIL lines)")
        print(f"ratio ours / same probes:           {seconds / same:6.2f}")
        print(f"ratio ours / pings only:            {seconds / floor:6.2f}")


if __name__ == "__main__":
    main()
