"""Lab integration tests: need root, build real labs, and verify them by independent means."""

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ..conftest import ROOT


def cli(*args, check=True, timeout=120):
    """Run the macvlan-conformance CLI as a user would (a separate process)."""
    proc = subprocess.run([sys.executable, "-m", "macvlan_conformance.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(f"macvlan-conformance {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


def interrupt(proc: subprocess.Popen, timeout: float = 60) -> tuple[str, str]:
    """Ctrl-C ``proc`` and wait for it. A process that does not stop is killed and its labs swept, so a hang
    fails the test with a clear message instead of hanging CI or leaking a lab."""
    proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        cli("lab", "cleanup", check=False)
        raise AssertionError(f"still running {timeout:.0f} s after Ctrl-C (a hang); output:\n{(out or '')[-2000:]}"
                             f"\n{(err or '')[-2000:]}") from None


def sh(*argv, check=True) -> str:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check).stdout


def ip_json(*argv, netns=None):
    prefix = ["ip", "-n", netns] if netns else ["ip"]
    return json.loads(sh(*prefix, "-j", *argv) or "[]")


def host_snapshot() -> dict:
    """What a lab or a run could leave behind: namespaces, root-namespace links, OVS daemons, our run dirs,
    the shared files of pytest runs."""
    ovs = set()
    for line in sh("ps", "-eo", "pid=,stat=,comm=").splitlines():
        pid, stat, comm = line.split(None, 2)
        if comm in ("ovs-vswitchd", "ovsdb-server") and not stat.startswith("Z"):
            ovs.add(int(pid))
    run_root = Path("/run/macvlan-conformance")
    return {"netns": {line.split()[0] for line in sh("ip", "netns", "list").splitlines() if line.strip()},
            "links": {l["ifname"] for l in ip_json("link")},
            "ovs": ovs,
            "run_dirs": {p.name for p in run_root.iterdir()} if run_root.exists() else set(),
            "run_files": {p.name for p in Path(tempfile.gettempdir()).glob("macvlan-conformance-*")}}


def lab_name(prefix="it") -> str:
    return prefix + secrets.token_hex(2)


@pytest.fixture(scope="session", autouse=True)
def needs_root():
    if os.geteuid() != 0:
        pytest.fail("lab integration tests need root (network namespaces, Open vSwitch)", pytrace=False)
