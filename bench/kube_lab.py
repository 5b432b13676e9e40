"""The kube lab: (a) ``lab up --control-plane kube`` with the binaries cached, until every Node is Ready,
next to the embedded lab's ``lab up`` of the same topology (the baseline, same script); (b) the reference
run through the real API server and Multus (``--target kube``: kube lab up, every suite, reports, down)
next to the same run on the embedded lab (``--target lab``). The first build of the binaries is measured
by ``components/build.sh`` itself (``build-info.json`` in its cache directory, printed here).

Run as root: ``.venv/bin/python bench/kube_lab.py [--repeat 1]``.
"""

import argparse
import json
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT


def cli(*args) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "macvlan_conformance.cli", *args], cwd=ROOT, check=True,
                   capture_output=True, text=True)
    return time.perf_counter() - started


def lab_up(control_plane: str) -> tuple[float, float]:
    """Seconds of ``lab up`` and of ``lab down``."""
    name = "bk" + secrets.token_hex(2)
    up = cli("lab", "up", "--name", name, "--topology", "reference", "--control-plane", control_plane)
    return up, cli("lab", "down", "--name", name)


def run(target: str) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pytest", "suites", "-q", "--target", target, "--topology", "reference",
                        "--results", f"{tmp}/r.json", "--catalogue", f"{tmp}/c.yaml", "--html-report", f"{tmp}/r.html",
                        "--history", f"{tmp}/h.jsonl"], cwd=ROOT, capture_output=True, text=True)
        return time.perf_counter() - started, json.loads(Path(f"{tmp}/r.json").read_text())["summary"]


def build_info() -> str:
    proc = subprocess.run(["bash", str(ROOT / "components" / "build.sh")], capture_output=True, text=True)
    info = json.loads((Path(proc.stdout.strip().splitlines()[-1]).parent / "build-info.json").read_text())
    rows = [f"  {name}: {b['build_seconds']} s, peak RSS {b['peak_rss_kib'] / 1048576:.2f} GiB, "
            f"{b['bytes'] / 1e6:.0f} MB" for name, b in info["binaries"].items()]
    return f"build of this cache entry ({info['built_at']}, {info['build_jobs']} jobs):\n" + "\n".join(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    print(build_info())
    for _ in range(args.repeat):
        embedded_up, embedded_down = lab_up("none")
        kube_up, kube_down = lab_up("kube")
        print(f"lab up, embedded (baseline):     {embedded_up:6.2f} s   down {embedded_down:5.2f} s")
        print(f"lab up, kube (to Nodes Ready):   {kube_up:6.2f} s   down {kube_down:5.2f} s   "
              f"ratio {kube_up / embedded_up:4.2f}")
        lab_s, lab_summary = run("lab")
        kube_s, kube_summary = run("kube")
        print(f"reference run, embedded lab:     {lab_s:6.2f} s   {lab_summary['total']} checks, "
              f"{lab_summary['failed']} failed")
        print(f"reference run, kube lab:         {kube_s:6.2f} s   {kube_summary['total']} checks, "
              f"{kube_summary['failed']} failed (rules Multus does not enforce)   ratio {kube_s / lab_s:4.2f}")


if __name__ == "__main__":
    main()
