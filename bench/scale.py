"""(b) Run time and peak memory at 8, 16, 32 and 64 pods, and (c) probes per second, for the full
intra- and inter-VLAN matrix (every ordered pair), each on a lab built for the run.

Run as root: ``.venv/bin/python bench/scale.py [--pods 8 16 32 64]``. Peak memory is the summed RSS of
all our processes (pytest, agent hosts, OVS daemons, anything in the lab's namespaces), and their summed
PSS (pages shared between processes divided among them).
"""

import argparse
import json
import subprocess
import sys
import time

from common import ROOT, RssSampler, grid_topology

SHAPES = {8: (2, 4, 1), 16: (4, 4, 1), 32: (4, 4, 2), 64: (4, 4, 4)}  # nodes, VLANs, pods per node and VLAN


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, nargs="+", default=[8, 16, 32, 64], choices=sorted(SHAPES))
    args = parser.parse_args()
    print(f"{'pods':>5} {'pairs':>6} {'wall s':>7} {'probe s':>8} {'probes/s':>9} {'RSS MiB':>8} {'PSS MiB':>8} {'failed':>7} {'flaky':>6}")
    for pods in args.pods:
        path = grid_topology(*SHAPES[pods], name=f"scale{pods}")
        with RssSampler("/run/macvlan-conformance/") as rss:
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "pytest", "suites", "-q", "--topology", str(path),
                            "-k", "test_same_node or test_cross_node or test_routed", "--results",
                            f"/tmp/bench-scale{pods}.json", "--html-report", f"/tmp/bench-scale{pods}.html",
                            "--history", "/tmp/bench-scale-history.jsonl"], cwd=ROOT, capture_output=True)
            wall = time.perf_counter() - started
        results = json.loads(open(f"/tmp/bench-scale{pods}.json").read())
        s = results["summary"]
        probing = sum(c["duration_s"] for c in results["checks"])  # the batches, as pytest timed the tests
        print(f"{pods:5} {s['total']:6} {wall:7.1f} {probing:8.1f} {s['total'] / probing:9.0f} "
              f"{rss.peak_kib / 1024:8.0f} {rss.peak_pss_kib / 1024:8.0f} {s['failed']:7} {s['flaky']:6}")


if __name__ == "__main__":
    main()
