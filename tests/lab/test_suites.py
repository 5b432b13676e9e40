"""The conformance suites themselves: green on the healthy reference lab, red exactly where a lab is broken
on purpose, the same verdicts under pytest-xdist, and a session lab that leaves nothing behind."""

import json
import subprocess
import sys
import time

import pytest

from macvlan_conformance.checks import REGISTRY
from macvlan_conformance.faults import catalogue
from macvlan_conformance.lab.names import LabNames
from macvlan_conformance.lab.target import LabTarget
from macvlan_conformance.report import history
from macvlan_conformance.report import results as res

from ..conftest import ROOT, run_suites
from .conftest import host_snapshot, interrupt

DATA = ROOT / "tests" / "data"

BROKEN_LABS = ["vlan-removed-from-trunk", "vlanif-down", "router-forwarding-off", "macvlan-mode-private",
               "master-in-wrong-vlan"]


def outcomes(results):
    return {c["nodeid"]: c["outcome"] for c in results["checks"]}


def failed_checks(results):
    return {c["id"] for c in results["checks"] if c["outcome"] == "failed"}


@pytest.fixture(scope="module")
def healthy(reference_lab, tmp_path_factory):
    name, _ = reference_lab
    tmp = tmp_path_factory.mktemp("healthy")
    return run_suites(tmp, "--lab", name, name="serial")


def test_healthy_lab_passes_every_check(healthy):
    proc, results = healthy
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert results["summary"]["failed"] == 0 and results["summary"]["total"] > 150
    # every check runs but those about cluster objects (the lab builds its networks from the topology) and
    # Services (the lab runs no kube-proxy), and the IPv6 ones (the reference topology is IPv4 only: no case)
    assert results["not_applicable"] == ["addressing.dad", "gateway.ra", "networks.declared", "services.cluster-ip"]
    assert {c["id"] for c in results["checks"]} == set(REGISTRY) - {"networks.declared", "services.cluster-ip",
                                                                     "addressing.dad", "gateway.ra"}
    assert not any(c["not_checked"] for c in results["checks"])  # the lab observes everything
    assert all(c["outcome"] in ("passed", "flaky") for c in results["checks"])
    # evidence is recorded for every check, with the endpoints and verdicts
    routed = next(c for c in results["checks"] if c["id"] == "inter-vlan.routed")
    assert routed["expected"] == routed["observed"] == "reachable-routed"
    assert routed["evidence"]["replies"][0]["ttl"] == 63 and routed["reproducer"].startswith("ip netns exec ")


def test_xdist_agrees_with_a_serial_run(healthy, reference_lab, tmp_path):
    _, serial = healthy
    proc, parallel = run_suites(tmp_path, "--lab", reference_lab[0], "-n", "2", "--dist", "loadfile")
    assert proc.returncode == 0, proc.stdout[-4000:]
    as_pass = lambda r: {k: v.replace("flaky", "passed") for k, v in outcomes(r).items()}  # noqa: E731
    assert as_pass(parallel) == as_pass(serial)


@pytest.mark.parametrize("fault_name", BROKEN_LABS)
def test_broken_lab_fails_exactly_the_right_checks(reference_lab, tmp_path, fault_name):
    name, _ = reference_lab
    target = LabTarget(LabNames(name).state_file)
    fault = catalogue(target.topology)[fault_name]
    fault.apply(target)
    try:
        proc, results = run_suites(tmp_path, "--lab", name, "-n", "2", "--dist", "loadfile")
    finally:
        fault.revert(target)
        target.close()
    assert proc.returncode == 1
    breaks = fault.breaks_on(target.topology) & {c["id"] for c in results["checks"]}  # checks with cases here
    assert failed_checks(results) == breaks, (
        f"{fault.summary(target.topology)}: missed {sorted(breaks - failed_checks(results))}, "
        f"collateral {sorted(failed_checks(results) - breaks)}")


def test_session_lab_is_built_and_removed(tmp_path):
    before = host_snapshot()
    proc, results = run_suites(tmp_path, "--target", "lab", "--topology", "minimal")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert results["run"]["topology"] == "minimal" and results["summary"]["failed"] == 0
    assert host_snapshot() == before


def test_ctrl_c_during_probing_leaves_nothing(tmp_path):
    """Ctrl-C mid-run removes the lab, keeps the last complete run's results, report and history as they
    were, and writes the partial results beside them, marked interrupted."""
    before = host_snapshot()
    previous = {"r.json": (DATA / "healthy.json").read_bytes(), "r.html": b"<html>the last complete run</html>",
                "h.jsonl": (json.dumps(history.entry(res.load(DATA / "healthy.json"))) + "\n").encode()}
    for name, content in previous.items():
        (tmp_path / name).write_bytes(content)
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "suites", "-q", "--topology", "reference",
                             "--results", str(tmp_path / "r.json"), "--catalogue", str(tmp_path / "c.yaml"),
                             "--html-report", str(tmp_path / "r.html"), "--history", str(tmp_path / "h.jsonl")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until pods exist and probing has started
        if any(ns.startswith("mcl-t") and "-pod-" in ns for ns in host_snapshot()["netns"]):
            break
        time.sleep(0.05)
    time.sleep(2)
    out, _ = interrupt(proc)
    assert proc.returncode == 2 and "KeyboardInterrupt" in out, out[-3000:]  # pytest's "interrupted"
    assert host_snapshot() == before, out[-2000:]
    assert {name: (tmp_path / name).read_bytes() for name in previous} == previous, out[-2000:]
    partial = res.load(tmp_path / "r.interrupted.json")
    assert partial["run"]["interrupted"] is True and partial["schema_version"] == 1
    assert (tmp_path / "r.interrupted.html").exists()
    assert (f"interrupted: partial results in {tmp_path / 'r.interrupted.json'} (report "
            f"{tmp_path / 'r.interrupted.html'}); the previous report {tmp_path / 'r.json'} and "
            f"{tmp_path / 'r.html'} are untouched") in out, out[-3000:]
