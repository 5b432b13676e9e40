"""Lab lifecycle: down and cleanup leave nothing of ours (also after SIGKILL mid-build), touch nothing
foreign, and several labs run side by side."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ..conftest import ROOT, TOPOLOGIES
from .conftest import cli, host_snapshot, interrupt, lab_name, sh

MINIMAL = str(TOPOLOGIES / "minimal.yaml")


def test_down_leaves_nothing_behind():
    before = host_snapshot()
    name = lab_name()
    state_path = Path(cli("lab", "up", "--name", name, "--topology", MINIMAL).stdout.strip())
    assert state_path.exists()
    assert (state_path.parent / "ippools").is_dir() and any((state_path.parent / "cni-cache").rglob("*"))
    during = host_snapshot()
    assert {ns for ns in during["netns"] - before["netns"]} == {
        f"mcl-{name}-fabric", f"mcl-{name}-router", f"mcl-{name}-node-worker1", f"mcl-{name}-pod-sa-a",
        f"mcl-{name}-pod-sa-b", f"mcl-{name}-pod-sa-c"}
    assert during["links"] == before["links"], "the lab created links in the root namespace"
    assert len(during["ovs"] - before["ovs"]) == 2
    cli("lab", "down", "--name", name)
    assert host_snapshot() == before
    assert not state_path.parent.exists()  # leases, caches and the OVS database are gone with it


def test_state_and_errors():
    name = lab_name()
    cli("lab", "up", "--name", name, "--topology", MINIMAL)
    try:
        state = cli("lab", "state", "--name", name).stdout
        assert '"topology_name": "minimal"' in state
        again = cli("lab", "up", "--name", name, "--topology", MINIMAL, check=False)
        assert again.returncode == 2 and f"lab '{name}' already exists" in again.stderr
    finally:
        cli("lab", "down", "--name", name)
    gone = cli("lab", "down", "--name", name, check=False)
    assert gone.returncode == 2 and "no lab named" in gone.stderr


def test_two_labs_side_by_side():
    before = host_snapshot()
    a, b = lab_name(), lab_name()
    try:
        cli("lab", "up", "--name", a, "--topology", MINIMAL)
        cli("lab", "up", "--name", b, "--topology", MINIMAL)
        for name in (a, b):
            out = sh("ip", "netns", "exec", f"mcl-{name}-pod-sa-a", "ping", "-c1", "-W1", "10.100.0.101", check=False)
            assert "1 received" in out, out
    finally:
        cli("lab", "down", "--name", a, check=False)
        cli("lab", "down", "--name", b, check=False)
    assert host_snapshot() == before


def start_lab_up_until(name: str, milestone: Path) -> subprocess.Popen:
    """Start ``lab up`` (reference topology) and return once ``milestone`` exists (or the build ended)."""
    proc = subprocess.Popen([sys.executable, "-m", "macvlan_conformance.cli", "lab", "up", "--name", name,
                             "--topology", str(TOPOLOGIES / "reference.yaml")], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while not milestone.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.002)
    return proc


def test_sigkill_mid_build_then_cleanup():
    before = host_snapshot()
    name = lab_name("kill")
    pidfile = Path(f"/run/macvlan-conformance/{name}/ovs/ovs-vswitchd.pid")
    proc = start_lab_up_until(name, pidfile)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert pidfile.exists(), "the build finished or failed before it could be killed mid-way"
    assert host_snapshot() != before, "a killed build left nothing: the test did not test anything"
    out = cli("lab", "cleanup", "--name", name)
    assert f"removed lab {name}" in out.stderr
    assert host_snapshot() == before


@pytest.fixture
def foreign_objects(tmp_path):
    """A namespace, a root-namespace veth pair and an OVS instance that are not ours."""
    sh("ip", "netns", "add", "foreign-ns")
    sh("ip", "link", "add", "fgn0", "type", "veth", "peer", "name", "fgn1")
    db = tmp_path / "conf.db"
    sh("ovsdb-tool", "create", str(db), "/usr/share/openvswitch/vswitch.ovsschema")
    sh("ovsdb-server", str(db), f"--remote=punix:{tmp_path}/db.sock", f"--pidfile={tmp_path}/ovsdb.pid", "--detach",
       f"--unixctl={tmp_path}/ovsdb.ctl")
    sh("ovs-vswitchd", f"unix:{tmp_path}/db.sock", "--disable-system", f"--pidfile={tmp_path}/vswitchd.pid",
       "--detach", f"--unixctl={tmp_path}/vswitchd.ctl")
    pids = [int((tmp_path / f).read_text()) for f in ("ovsdb.pid", "vswitchd.pid")]
    yield pids
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    sh("ip", "link", "del", "fgn0", check=False)
    sh("ip", "netns", "del", "foreign-ns", check=False)


@pytest.mark.sweeps_every_lab
def test_cleanup_removes_only_what_is_ours(foreign_objects):
    name = lab_name()
    cli("lab", "up", "--name", name, "--topology", MINIMAL)
    cli("lab", "cleanup")
    snapshot = host_snapshot()
    assert not any(ns.startswith(f"mcl-{name}-") for ns in snapshot["netns"])
    assert "foreign-ns" in snapshot["netns"]
    assert {"fgn0", "fgn1"} <= snapshot["links"]
    for pid in foreign_objects:
        os.kill(pid, 0)  # still alive


@pytest.mark.parametrize("args, message", [
    (["lab", "up", "--name", "Bad_Name"], "a lab name is 1-10 lowercase letters or digits"),
    (["lab", "up", "--name", "x", "--topology", "/nonexistent.yaml"], "cannot read the file"),
    (["lab", "state", "--name", "nosuchlab"], "no lab named 'nosuchlab' is running"),
])
def test_bad_cli_input_fails_fast_and_creates_nothing(args, message):
    before = host_snapshot()
    proc = cli(*args, check=False)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert host_snapshot() == before


def test_ctrl_c_during_bring_up_leaves_nothing():
    before = host_snapshot()
    name = lab_name("int")
    proc = start_lab_up_until(name, Path(f"/run/netns/mcl-{name}-fabric"))
    _, err = interrupt(proc)
    assert proc.returncode == 130, err
    assert "interrupted; everything this command created was removed" in err
    assert host_snapshot() == before
