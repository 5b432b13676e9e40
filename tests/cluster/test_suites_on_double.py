"""The same ``suites/``, unchanged, on ``--target cluster``: against the Kubernetes API double backed by an
embedded lab (real namespaces, macvlan NICs and agents; the pods are created through the API, probed
through the exec stream). Green on a healthy network, red where the network is broken, nothing left over."""

import subprocess
import sys

import pytest
import yaml

from macvlan_conformance.lab.names import LabNames
from macvlan_conformance.lab.state import LabState

from ..conftest import ROOT, TOPOLOGIES, run_suites
from ..lab.conftest import cli, host_snapshot, lab_name, sh
from .apiserver import FakeApiServer
from .lab_kubelet import LabKubelet


@pytest.fixture(scope="module")
def podless_lab(tmp_path_factory):
    """The reference network without its pods: pods come from the cluster target, through the API."""
    data = yaml.safe_load((TOPOLOGIES / "reference.yaml").read_text())
    data["pods"] = []
    path = tmp_path_factory.mktemp("topology") / "reference-podless.yaml"
    path.write_text(yaml.safe_dump(data))
    name = lab_name("k8s")
    cli("lab", "up", "--name", name, "--topology", str(path))
    yield name
    cli("lab", "down", "--name", name, check=False)


@pytest.fixture
def double(podless_lab):
    server = FakeApiServer(["worker1", "worker2"], LabKubelet(podless_lab)).start()
    yield server
    server.stop()


def leftovers(server: FakeApiServer, lab: str) -> dict:
    return {"api objects": sorted(k[1] + "/" + k[3] for k in server.objects),
            "lab pods": sorted(LabState.load(LabNames(lab).state_file).pods)}


def test_suites_pass_unchanged_on_a_healthy_network(double, podless_lab, tmp_path):
    before = host_snapshot()
    proc, results = run_suites(tmp_path, "--target", "cluster", "--kubeconfig",
                               str(double.kubeconfig(tmp_path / "kubeconfig")), "--topology", "reference")
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert results["summary"]["failed"] == 0 and results["summary"]["passed"] >= 150
    assert "not applicable: resilience.bond-member-down (bond control unknown on this target)" in proc.stdout
    checks = {c["id"] for c in results["checks"]}
    assert checks == {"addressing.unique-ip", "allocation.interfaces", "gateway.arp", "inter-vlan.routed",
                      "inter-vlan.ttl-expiry", "intra-vlan.cross-node", "intra-vlan.same-node", "isolation.broadcast",
                      "isolation.cross-vlan-arp", "isolation.own-master", "mtu.df-ping", "network-status.consistent",
                      "overlay.coexistence", "rules.attachment"}
    assert double.token not in proc.stdout + proc.stderr
    assert leftovers(double, podless_lab) == {"api objects": [], "lab pods": []}
    assert host_snapshot() == before


def test_serial_and_xdist_give_the_same_verdicts_and_gaps(double, podless_lab, tmp_path):
    """Capabilities, not missing facts: without host facts the masters' ifindex and MTU are "not checked" in
    the results of allocation.interfaces and mtu.df-ping, the same with -n 2 as serially (workers judge
    with the controller's preflight report)."""
    kubeconfig = str(double.kubeconfig(tmp_path / "kubeconfig"))
    runs = {}
    for name, extra in (("serial", []), ("xdist", ["-n", "2", "--dist", "loadfile"])):
        proc, results = run_suites(tmp_path, "--target", "cluster", "--kubeconfig", kubeconfig, "--topology",
                                   "reference", *extra, name=name)
        assert proc.returncode == 0, proc.stdout[-3000:]
        runs[name] = {c["nodeid"]: (c["outcome"].replace("flaky", "passed"), c["observed"], tuple(c["not_checked"]))
                      for c in results["checks"]}
    assert runs["serial"] == runs["xdist"]
    gaps = {gap for _, _, found in runs["serial"].values() for gap in found}
    assert "master ifindex unknown on this target" in gaps
    assert {g for g in gaps if "MTU" in g} >= {"pod MTU = bond0.100 MTU: master MTU unknown on this target",
                                               "pod MTU = bond0.200 MTU: master MTU unknown on this target"}
    assert leftovers(double, podless_lab) == {"api objects": [], "lab pods": []}


def test_a_broken_network_fails_on_the_cluster_target_too(double, podless_lab, tmp_path):
    """Control: with the VLAN 200 vlanif down, routing checks fail through the cluster path as on the lab."""
    router, vlanif = LabNames(podless_lab).router_ns, LabNames.vlanif(200)
    sh("ip", "-n", router, "link", "set", vlanif, "down")
    try:
        proc, results = run_suites(tmp_path, "--target", "cluster", "--kubeconfig",
                                   str(double.kubeconfig(tmp_path / "kubeconfig")), "--topology", "reference")
    finally:
        sh("ip", "-n", router, "link", "set", vlanif, "up")
    assert proc.returncode == 1
    failed = {c["id"] for c in results["checks"] if c["outcome"] == "failed"}
    assert "inter-vlan.routed" in failed and "intra-vlan.same-node" not in failed
    assert leftovers(double, podless_lab) == {"api objects": [], "lab pods": []}


def test_host_probe_checks_the_masters_and_the_pods_parents(double, podless_lab, tmp_path):
    """With --host-probe the masters' ifindexes come from the node, so allocation also checks each macvlan's
    parent; a master that is down stops the run before any check, naming it, and leaves nothing."""
    kubeconfig = str(double.kubeconfig(tmp_path / "kubeconfig"))
    proc, results = run_suites(tmp_path, "--target", "cluster", "--kubeconfig", kubeconfig, "--topology",
                               "reference", "--host-probe", name="healthy")
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert results["summary"]["failed"] == 0
    assert "host-probe-worker1" in results["run"]["environment"]["host.facts"]
    node_ns = LabNames(podless_lab).node_ns("worker2")
    sh("ip", "-n", node_ns, "link", "set", "bond0.100", "down")
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", "suites", "-q", "--target", "cluster", "--kubeconfig",
                               kubeconfig, "--topology", "reference", "--host-probe", "--results",
                               str(tmp_path / "down.json")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    finally:
        sh("ip", "-n", node_ns, "link", "set", "bond0.100", "up")
    assert proc.returncode == 4, proc.stdout[-3000:]  # pytest's usage error: nothing ran
    assert "the host probes found problems; the run's objects are removed" in proc.stderr
    assert "worker2: master bond0.100 is down" in proc.stderr
    assert leftovers(double, podless_lab) == {"api objects": [], "lab pods": []}
