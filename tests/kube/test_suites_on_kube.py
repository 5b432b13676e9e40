"""The same ``suites/``, unchanged, on the cluster target against the kube lab: the real kube-apiserver
(RBAC from the real authorizer: the run uses the restricted kubeconfig), the real Multus writing
network-status, node agents running the pods. The coordinator topology (production-like NADs) through
``--target kube`` is green on a healthy network and red with a vlanif down, the dual-stack topology green through it
too; the minimal topology (quicker) runs on the shared
kube lab for the rest: red where the network is broken, the same verdicts serially and with ``-n 2``, the
host probe; nothing left in the API or on the host, also after Ctrl-C and after SIGKILL (then
``cluster cleanup`` sweeps by label)."""

import signal
import subprocess
import sys
import time

from kubernetes import client

from macvlan_conformance import run_files
from macvlan_conformance.cluster.scope import MANAGED_BY, MANAGER

from ..conftest import ROOT, TOPOLOGIES, run_suites
from ..lab.conftest import cli, host_snapshot, interrupt, lab_name, sh
from macvlan_conformance.lab.names import LabNames
from macvlan_conformance.lab.state import LabState
from macvlan_conformance.topology import load_topology

# The coordinator topology is the production-like one: every NAD chains macvlan + the coordinator (its stand-in:
# the real binary cannot be built here), Spiderpool IPAM (its stand-in), the cluster's own pools; the real Multus
# runs the chain and writes network-status. The minimal topology (one node, standalone pods only, no
# coordinator) runs on the reference kube lab in a fraction of that time for the rest.
MINIMAL = "minimal"


def ours(api: client.ApiClient) -> dict:
    """What carries our run labels in the API (namespaces and pools), pods anywhere, and pod sandboxes (the
    network namespaces of pods) of any kube lab on the host."""
    selector = f"{MANAGED_BY}={MANAGER}"
    custom = client.CustomObjectsApi(api)
    sandboxes = [ns for ns in sh("ip", "netns", "list").split() if ns.startswith("mcl-k") and "-pod-" in ns]
    return {"namespaces": [n.metadata.name for n in client.CoreV1Api(api).list_namespace(label_selector=selector).items],
            "pools": [p["metadata"]["name"] for p in custom.list_cluster_custom_object(
                "spiderpool.spidernet.io", "v2beta1", "spiderippools", label_selector=selector)["items"]],
            "pods": [p.metadata.name for p in client.CoreV1Api(api).list_pod_for_all_namespaces().items] + sandboxes}


def _failed(results) -> dict[str, str]:
    return {c["nodeid"].split("[", 1)[1].rstrip("]"): c["detail"] for c in results["checks"]
            if c["outcome"] == "failed"}


def test_target_kube_builds_its_lab_runs_green_and_removes_everything(tmp_path):
    """Production-like NADs through the real API server and Multus: green, the multus-underlay mixes refused by
    the coordinator's own errors (as Multus reports the failed delegate in the sandbox event), the pods reaching
    their node through veth0 and the kubernetes Service through it (the kube-proxy stand-in on each node); the
    checks a cluster cannot answer (NIC recreation, bond control) are not applicable, not failed."""
    before = host_snapshot()
    proc, results = run_suites(tmp_path, "--target", "kube", "--topology", "coordinator")
    assert proc.returncode == 0 and results["summary"]["failed"] == 0, proc.stdout[-3000:]
    assert results["summary"]["passed"] >= 170
    rules = {c["evidence"]["case"]: c for c in results["checks"] if c["id"] == "rules.attachment"}
    for refused in ("overlay-as-default", "standalone-plus-overlay", "overlay-plus-standalone"):
        assert rules[refused]["evidence"]["enforcement"] == "enforced", rules[refused]
        assert "FailedCreatePodSandBox" in rules[refused]["detail"]
    host = [c for c in results["checks"] if c["id"] == "host.node-reachability"]
    assert host and all(c["outcome"] == "passed" for c in host)
    assert set(results["not_applicable"]) == {"addressing.ip-reuse", "resilience.bond-member-down",
                                              "addressing.dad", "gateway.ra",  # IPv6 checks, an IPv4 topology
                                              "isolation.own-master"}  # every standalone pod has veth0
    services = [c for c in results["checks"] if c["id"] == "services.cluster-ip"]
    assert len(services) == 11 and all(c["outcome"] == "passed" for c in services)
    assert {c["evidence"]["route"]["dev"] for c in services} == {"eth0", "veth0"}
    declared = [c for c in results["checks"] if c["id"] == "networks.declared"]
    assert declared and all(c["outcome"] == "passed" for c in declared)  # the NADs chain the coordinator declared
    assert results["run"]["environment"]["cluster.server_version"] == "v1.37.2"
    assert "kube-multus-ds" in results["run"]["environment"]["cluster.multus"]
    assert host_snapshot() == before


def test_dual_stack_through_the_real_api_server_and_multus(tmp_path):
    """The dual-stack topology through ``--target kube``: the cluster's own SpiderIPPools of both families
    (ipVersion 4 and 6), the Spiderpool stand-in allocating an address of each per NIC, the real macvlan plugin
    configuring them (through duplicate address detection), the real Multus reporting both in network-status
    (k8snetworkplumbingwg/network-attachment-definition-client ``pkg/utils/net-attach-def.go``
    ``CreateNetworkStatus``: every result IP, in one list); every IPv6 case passes beside its IPv4 twin."""
    before = host_snapshot()
    proc, results = run_suites(tmp_path, "--target", "kube", "--topology", "dual-stack")
    assert proc.returncode == 0 and results["summary"]["failed"] == 0, proc.stdout[-3000:]
    records = results["checks"]
    ipv6 = {c["nodeid"].removesuffix(" [ipv6]]") + "]" for c in records if c.get("ip_version") == 6}
    ipv4 = {c["nodeid"] for c in records if c.get("ip_version") == 4}
    assert len(ipv6) >= 150 and ipv6 <= ipv4 | {c["nodeid"].removesuffix(" [ipv6]]") + "]" for c in records
                                                if c["id"] in ("addressing.dad", "gateway.ra")}
    assert {"addressing.dad", "gateway.ra"} <= {c["id"] for c in records}
    declared = [c for c in records if c["id"] == "networks.declared"]
    assert declared and all(c["outcome"] == "passed" for c in declared)  # both families' pools as declared
    assert host_snapshot() == before


def test_coordinator_networks_go_red_with_a_vlanif_down_and_without_service_rules(tmp_path):
    """The same production-like networks with VLAN 200's vlanif down: the routed checks from that VLAN fail
    through the real API too, the allocation and same-VLAN checks do not. Then, vlanif back, worker1 without
    its Service rules (the kube-proxy stand-in's table deleted): services.cluster-ip fails for exactly
    worker1's pods."""
    from macvlan_conformance.lab import service_proxy
    name = lab_name("kc")
    cli("lab", "up", "--name", name, "--topology", str(TOPOLOGIES / "coordinator.yaml"), "--control-plane", "kube",
        timeout=600)
    names = LabNames(name)
    try:
        state = LabState.load(names.state_file)
        user = ("--target", "cluster", "--kubeconfig", state.kube.user_kubeconfig, "--topology", "coordinator")
        sh("ip", "-n", names.router_ns, "link", "set", LabNames.vlanif(200), "down")
        proc, results = run_suites(tmp_path, *user, "-k", "routed or gateway or allocation or intra_vlan or "
                                   "node_reachability", name="vlanif")
        sh("ip", "-n", names.router_ns, "link", "set", LabNames.vlanif(200), "up")
        service_proxy.remove(names.node_ns("worker1"))
        _, services = run_suites(tmp_path, *user, "-k", "service_cluster_ip", name="services")
    finally:
        cli("lab", "down", "--name", name, check=False)
    failed = {c["id"] for c in results["checks"] if c["outcome"] == "failed"}
    assert {"inter-vlan.routed", "gateway.arp", "host.node-reachability"} <= failed, proc.stdout[-3000:]
    assert not failed & {"allocation.interfaces", "intra-vlan.same-node", "intra-vlan.cross-node"}
    topology = load_topology(TOPOLOGIES / "coordinator.yaml")
    on_worker1 = {p.name for p in topology.pods if p.node == "worker1"}
    failed_pods = {c["src"].split("/")[-1].split(":")[0] for c in services["checks"] if c["outcome"] == "failed"}
    assert failed_pods == on_worker1


def test_a_vlanif_down_fails_routing_through_the_real_api_too(kube_lab, admin, tmp_path):
    lab, state = kube_lab
    router, vlanif = LabNames(lab).router_ns, LabNames.vlanif(200)
    sh("ip", "-n", router, "link", "set", vlanif, "down")
    try:
        proc, results = run_suites(tmp_path, "--target", "cluster", "--kubeconfig", state.kube.user_kubeconfig,
                                   "--topology", MINIMAL)
    finally:
        sh("ip", "-n", router, "link", "set", vlanif, "up")
    failed = {c["id"] for c in results["checks"] if c["outcome"] == "failed"}
    assert {"inter-vlan.routed", "gateway.arp", "inter-vlan.ttl-expiry"} <= failed
    assert "intra-vlan.same-node" not in failed and "allocation.interfaces" not in failed
    assert _wait_empty(admin) == {"namespaces": [], "pools": [], "pods": []}


def test_the_clusters_own_networks_are_tested_and_a_drifted_nad_is_named(kube_lab, admin, tmp_path):
    """By default the probe pods attach to the kube-system NADs and SpiderIPPools the topology names (the
    lab installs them as Spiderpool would): the run creates only its namespace and pods, and
    networks.declared passes for every network. A NAD whose macvlan mode drifted from the topology (here
    patched to ``private``) fails networks.declared with one line naming the NAD and the field, while the
    other networks pass."""
    import json as jsonlib
    custom = client.CustomObjectsApi(admin)
    api = ("k8s.cni.cncf.io", "v1", "kube-system", "network-attachment-definitions", "macvlan-standalone-vlan200")
    original = custom.get_namespaced_custom_object(*api)
    config = jsonlib.loads(original["spec"]["config"])
    config["plugins"][0]["mode"] = "private"
    custom.patch_namespaced_custom_object(*api, {"spec": {"config": jsonlib.dumps(config)}})
    try:
        proc, results = run_suites(tmp_path, "--target", "cluster", "--kubeconfig", kube_lab[1].kube.user_kubeconfig,
                                   "--topology", MINIMAL, "-k", "network_declared")
    finally:
        custom.patch_namespaced_custom_object(*api, {"spec": {"config": original["spec"]["config"]}})
    declared = {c["nodeid"].split("[", 1)[1].rstrip("]"): c for c in results["checks"]
                if c["id"] == "networks.declared"}
    assert set(declared) == {"kube-system/macvlan-standalone-vlan100", "kube-system/macvlan-standalone-vlan200"}
    assert declared["kube-system/macvlan-standalone-vlan100"]["outcome"] == "passed", proc.stdout[-2000:]
    drifted = declared["kube-system/macvlan-standalone-vlan200"]
    assert drifted["outcome"] == "failed"
    assert drifted["detail"] == "NAD kube-system/macvlan-standalone-vlan200: mode private (topology: bridge)"
    assert _wait_empty(admin) == {"namespaces": [], "pools": [], "pods": []}


def _start_run(kubeconfig: str, tmp_path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pytest", "suites", "-q", "--target", "cluster", "--kubeconfig",
                             kubeconfig, "--topology", MINIMAL, "--results", str(tmp_path / "r.json"),
                             "--catalogue", str(tmp_path / "c.yaml"), "--html-report", str(tmp_path / "r.html"),
                             "--history", str(tmp_path / "h.jsonl")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_pods(admin, count: int = 5, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len([p for p in client.CoreV1Api(admin).list_pod_for_all_namespaces().items
                if p.status.phase == "Running"]) >= count:
            return
        time.sleep(0.2)
    raise AssertionError("the run's pods did not come up")


def _wait_empty(admin, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while (left := ours(admin)) != {"namespaces": [], "pools": [], "pods": []} and time.monotonic() < deadline:
        time.sleep(0.25)
    return left


def test_ctrl_c_mid_run_leaves_nothing_in_the_api(kube_lab, admin, tmp_path):
    _, state = kube_lab
    proc = _start_run(state.kube.user_kubeconfig, tmp_path)
    _wait_for_pods(admin, count=3)  # every probe pod runs: the run is probing
    time.sleep(2)
    out, _ = interrupt(proc, timeout=120)
    assert proc.returncode == 2 and "removed run" in out, out[-2000:]  # pytest's "interrupted", then cleanup
    assert _wait_empty(admin) == {"namespaces": [], "pools": [], "pods": []}


def test_sigkill_mid_run_is_swept_by_cluster_cleanup_by_label(kube_lab, admin, tmp_path):
    _, state = kube_lab
    proc = _start_run(state.kube.user_kubeconfig, tmp_path)
    _wait_for_pods(admin, count=1)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert ours(admin)["namespaces"], "a SIGKILLed run cannot clean up: its namespace must still be there"
    cli("cluster", "cleanup", "--kubeconfig", state.kube.user_kubeconfig)
    assert _wait_empty(admin) == {"namespaces": [], "pools": [], "pods": []}
    run_files.sweep()  # the killed run's /tmp files (only those whose controller is gone)


def test_serial_and_xdist_give_the_same_verdicts_and_gaps(kube_lab, admin, tmp_path):
    """Capabilities, not missing facts: without host facts the masters' ifindex and MTU are "not checked" in
    the results of allocation.interfaces and mtu.df-ping, the same with -n 2 as serially (workers judge
    with the controller's preflight report)."""
    _, state = kube_lab
    runs = {}
    for name, extra in (("serial", []), ("xdist", ["-n", "2", "--dist", "loadfile"])):
        proc, results = run_suites(tmp_path, "--target", "cluster", "--kubeconfig", state.kube.user_kubeconfig,
                                   "--topology", MINIMAL, *extra, name=name)
        assert proc.returncode == 0 and not _failed(results), proc.stdout[-3000:]
        runs[name] = {c["nodeid"]: (c["outcome"].replace("flaky", "passed"), c["observed"], tuple(c["not_checked"]))
                      for c in results["checks"]}
        assert _wait_empty(admin) == {"namespaces": [], "pools": [], "pods": []}
    assert runs["serial"] == runs["xdist"]
    gaps = {gap for _, _, found in runs["serial"].values() for gap in found}
    assert "master ifindex unknown on this target" in gaps
    assert {g for g in gaps if "MTU" in g} >= {"pod MTU = bond0.100 MTU: master MTU unknown on this target",
                                               "pod MTU = bond0.200 MTU: master MTU unknown on this target"}


def test_host_probe_checks_the_masters_and_the_pods_parents(kube_lab, admin, tmp_path):
    """With --host-probe (hostNetwork pods, which the node agent runs in the node's namespace) the masters'
    ifindexes and MTUs are known, so nothing is left unchecked; a master that is down stops the run before
    any check, naming it, and leaves nothing."""
    lab, state = kube_lab
    proc, results = run_suites(tmp_path, "--target", "cluster", "--kubeconfig", state.kube.user_kubeconfig,
                               "--topology", MINIMAL, "--host-probe", name="healthy")
    assert proc.returncode == 0 and not _failed(results), proc.stdout[-3000:]
    assert not any(c["not_checked"] for c in results["checks"])
    assert "host-probe-worker1" in results["run"]["environment"]["host.facts"]
    assert _wait_empty(admin) == {"namespaces": [], "pools": [], "pods": []}
    node_ns = LabNames(lab).node_ns("worker1")
    sh("ip", "-n", node_ns, "link", "set", "bond0.100", "down")
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", "suites", "-q", "--target", "cluster", "--kubeconfig",
                               state.kube.user_kubeconfig, "--topology", MINIMAL, "--host-probe", "--results",
                               str(tmp_path / "down.json"), "--catalogue", str(tmp_path / "c.yaml"),
                               "--html-report", str(tmp_path / "d.html"), "--history", str(tmp_path / "h.jsonl")],
                              cwd=ROOT, capture_output=True, text=True, timeout=300)
    finally:
        sh("ip", "-n", node_ns, "link", "set", "bond0.100", "up")
    assert proc.returncode == 4, proc.stdout[-3000:]  # pytest's usage error: nothing ran
    assert "worker1: master bond0.100 is down" in proc.stderr
    assert _wait_empty(admin) == {"namespaces": [], "pools": [], "pods": []}
