"""Lab bring-up and teardown time next to a plain-command baseline doing the same kernel/OVS/CNI work.

Run as root: ``.venv/bin/python bench/bringup.py [--repeat 3]``. Prints median seconds and the ratio
ours/baseline for the reference topology and a 2 nodes x 2 VLANs x 8 pods topology.
"""

import argparse
import statistics
import time

from common import ROOT, bash, grid_topology, plain_script, plain_teardown

from macvlan_conformance.lab.cleanup import teardown
from macvlan_conformance.lab.control import lab_up


def measure(path, repeat):
    ours_up, ours_down, plain_up, plain_down = [], [], [], []
    for _ in range(repeat):
        started = time.perf_counter()
        lab_up(path, "bench")
        ours_up.append(time.perf_counter() - started)
        started = time.perf_counter()
        teardown("bench")
        ours_down.append(time.perf_counter() - started)
        seconds, _ = bash(plain_script(path))
        plain_up.append(seconds)
        seconds, _ = bash(plain_teardown(path))
        plain_down.append(seconds)
    return [statistics.median(x) for x in (ours_up, plain_up, ours_down, plain_down)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cases = [("reference", ROOT / "topologies" / "reference.yaml"),
             ("2x2x8 (32 pods)", grid_topology(2, 2, 8, "g2x2x8"))]
    print(f"{'topology':18} {'up ours':>8} {'up plain':>9} {'ratio':>6} {'down ours':>10} {'down plain':>11} {'ratio':>6}")
    for name, path in cases:
        up, plain_up, down, plain_down = measure(path, args.repeat)
        print(f"{name:18} {up:8.2f} {plain_up:9.2f} {up / plain_up:6.2f} {down:10.2f} {plain_down:11.2f} "
              f"{down / plain_down:6.2f}")


if __name__ == "__main__":
    main()
