"""The cluster target's client flow against the Kubernetes API double, through the official client and a
real kubeconfig: preflight, deploy, watch until ready, exec the agent, admission of rule pods, cleanup,
and every error path as one clear line that never shows a credential."""

import json
import socket
import subprocess
import sys

import pytest

from macvlan_conformance.cluster import session
from macvlan_conformance.cluster.kube import ClusterError, connect
from macvlan_conformance.cluster.preflight import PreflightError
from macvlan_conformance.cluster.scope import RUN_LABEL
from macvlan_conformance.cluster.target import DeployError
from macvlan_conformance.expectations import Verdict
from macvlan_conformance.runner.manifests import RunnerSettings
from macvlan_conformance.runner.manifests import render as render_runner
from macvlan_conformance.topology import Pod, load_topology

from ..conftest import ROOT, TOPOLOGIES
from .apiserver import FakeApiServer, HostKubelet

TOPOLOGY = load_topology(TOPOLOGIES / "reference.yaml")
NODES = [n.name for n in TOPOLOGY.nodes]


def fake_status(pod: dict) -> list[dict]:
    """What Multus would write: one default entry per pod (the content is not under test here)."""
    return [{"name": "k8s-pod-network", "interface": "eth0", "ips": ["10.244.1.5"], "mac": "02:00:00:00:00:05",
             "default": True}]


def refuse_rule_pods(pod: dict) -> str | None:
    annotations = pod["metadata"].get("annotations", {})
    if "macvlan-overlay" in annotations.get("v1.multus-cni.io/default-network", ""):
        return "plugin type=\"macvlan\" failed (add): macvlan-overlay networks may not be the default network"
    return None


@pytest.fixture
def double(tmp_path):
    server = FakeApiServer(NODES, HostKubelet(fake_status, refuse_rule_pods)).start()
    yield server
    server.stop()


def settings_for(server: FakeApiServer, tmp_path, **extra) -> session.ClusterSettings:
    return session.ClusterSettings(kubeconfig=str(server.kubeconfig(tmp_path / "kubeconfig")),
                                   **{"deploy_timeout": 20, "networks": "create", **extra})


def ours(server: FakeApiServer) -> list[tuple]:
    return [key for key, obj in server.objects.items() if RUN_LABEL in obj["metadata"].get("labels", {})
            or key[1] == "pods"]


def test_deploy_waits_for_every_pod_then_cleanup_leaves_nothing(double, tmp_path):
    settings = settings_for(double, tmp_path)
    target = session.start(TOPOLOGY, settings, "flow1")
    try:
        pods = double.list("pods", target.namespace)
        assert sorted(p["metadata"]["name"] for p in pods) == sorted(p.name for p in TOPOLOGY.pods)
        assert all(p["status"]["phase"] == "Running" for p in pods)
        assert target.network_status("sa-w1-a") == fake_status({})
        assert len(double.list("spiderippools")) == len(TOPOLOGY.ippools)
        assert len(double.list("network-attachment-definitions", target.namespace)) == len(TOPOLOGY.networks)
        assert any(m == "GET" and p.endswith("/pods") for m, p in double.requests)  # list, then watch
    finally:
        target.close()
        removed = session.finish(settings, "flow1")
    assert removed["namespaces"] == [target.namespace]
    assert ours(double) == []


def test_the_agent_runs_over_the_exec_stream_and_serves_concurrent_calls(double, tmp_path):
    settings = settings_for(double, tmp_path)
    target = session.start(TOPOLOGY, settings, "flow2")
    try:
        agent = target.agent("sa-w1-a")
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: agent.call("whoami"), range(24)))
        assert len({a["pid"] for a in answers}) == 1 and answers[0]["pid"] > 0
        assert target.reproducer("sa-w1-a", ["ip", "addr"]) == \
            f"kubectl -n {target.namespace} exec sa-w1-a -c probe -- ip addr"
    finally:
        target.close()
        session.finish(settings, "flow2")


def test_admission_of_rule_pods_reports_sandbox_refusals(double, tmp_path):
    settings = settings_for(double, tmp_path)
    target = session.start(TOPOLOGY, settings, "flow3")
    try:
        refused = target.try_create_pod(Pod(name="bad", node="worker1", annotations={
            "v1.multus-cni.io/default-network": "kube-system/macvlan-overlay-vlan100"}), timeout=5)
        assert refused.verdict == Verdict.REFUSED
        assert "FailedCreatePodSandBox" in refused.detail and "may not be the default network" in refused.detail
        allowed = target.try_create_pod(Pod(name="good", node="worker2", annotations={
            "v1.multus-cni.io/default-network": "kube-system/macvlan-standalone-vlan100"}), timeout=5)
        assert allowed.verdict == Verdict.CREATED and "eth0=k8s-pod-network" in allowed.detail
        assert not [p for p in double.list("pods", target.namespace) if p["metadata"]["name"].startswith("rule-")]
    finally:
        target.close()
        session.finish(settings, "flow3")


def test_a_pod_without_a_sandbox_fails_the_deploy_with_its_events_and_nothing_stays(tmp_path):
    topology = load_topology(TOPOLOGIES / "reference.yaml")
    server = FakeApiServer(NODES, HostKubelet(fake_status, lambda pod: "master bond0.100 not found"
                                              if pod["metadata"]["name"] == "sa-w1-a" else None)).start()
    try:
        with pytest.raises(DeployError) as caught:
            session.start(topology, settings_for(server, tmp_path, deploy_timeout=3), "flow4")
        message = str(caught.value)
        assert "sa-w1-a (Pending): FailedCreatePodSandBox: Failed to create pod sandbox: master bond0.100 not found" \
            in message and "1 pod(s)" in message
        assert ours(server) == []
    finally:
        server.stop()


@pytest.mark.parametrize("knobs, expected", [
    ({"missing_crds": ("spiderippools.spiderpool.spidernet.io",)},
     "CRD spiderippools.spiderpool.spidernet.io is missing: install Spiderpool, or run with --ipam"),
    ({"multus_ready": False}, "Multus daemonset kube-system/kube-multus-ds is not ready (0/2 pods)"),
    ({"nodes": ["worker1", "control-plane"]},
     "node worker2 of the topology does not exist; the cluster has: control-plane, worker1 (fix nodes[].name)"),
])
def test_preflight_names_each_problem_and_creates_nothing(tmp_path, knobs, expected):
    nodes = knobs.pop("nodes", NODES)
    server = FakeApiServer(nodes, HostKubelet(fake_status), **knobs).start()
    try:
        with pytest.raises(PreflightError) as caught:
            session.start(TOPOLOGY, settings_for(server, tmp_path), "flow5")
        assert expected in str(caught.value)
        assert "nothing was created" in str(caught.value)
        assert not [r for r in server.requests if r[0] in ("POST", "DELETE", "PUT", "PATCH")]
    finally:
        server.stop()


def test_host_local_ipam_does_not_need_spiderpool(tmp_path):
    """host-local on a topology it can address soundly (every network's pods on one node)."""
    minimal = load_topology(TOPOLOGIES / "minimal.yaml")
    server = FakeApiServer(NODES, HostKubelet(fake_status), missing_crds=("spiderippools.spiderpool.spidernet.io",)).start()
    try:
        settings = settings_for(server, tmp_path, ipam="host-local")
        target = session.start(minimal, settings, "flow6")
        nad = server.list("network-attachment-definitions", target.namespace)[0]
        assert json.loads(nad["spec"]["config"])["plugins"][0]["ipam"]["type"] == "host-local"
        assert server.list("spiderippools") == []
        target.close()
        session.finish(settings, "flow6")
    finally:
        server.stop()


def test_unsound_ipam_stops_at_preflight_before_anything_is_created(tmp_path):
    """host-local keeps its allocations per node (containernetworking/plugins plugins/ipam/host-local/backend/
    disk), so a NAD range used on two nodes hands out the same addresses twice: refused up front."""
    server = FakeApiServer(NODES, HostKubelet(fake_status), missing_crds=("spiderippools.spiderpool.spidernet.io",)).start()
    try:
        with pytest.raises(PreflightError) as caught:
            session.start(TOPOLOGY, settings_for(server, tmp_path, ipam="host-local"), "flow7")
        assert "host-local allocates per node" in str(caught.value)
        assert not [r for r in server.requests if r[0] in ("POST", "DELETE", "PUT", "PATCH")]
    finally:
        server.stop()


def test_rbac_refusal_is_one_line_and_the_partial_run_is_removed(tmp_path):
    server = FakeApiServer(NODES, HostKubelet(fake_status), forbid=(("create", "pods"),)).start()
    try:
        with pytest.raises(ClusterError) as caught:
            session.start(TOPOLOGY, settings_for(server, tmp_path), "flow7")
        message = str(caught.value)
        assert message.startswith("create Pod ") and "forbidden by RBAC for context 'double'" in message
        assert "\n" not in message and server.token not in message
        assert ours(server) == []
    finally:
        server.stop()


def test_rejected_credentials_and_an_unreachable_api_are_clear(double, tmp_path):
    settings = settings_for(double, tmp_path)
    double.token = "rotated"  # the kubeconfig's token no longer works
    with pytest.raises(ClusterError, match=r"rejected the credentials of context 'double' \(401\)") as caught:
        session.start(TOPOLOGY, settings, "flow8")
    assert "t0ken" not in str(caught.value)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(kubeconfig.read_text().replace(f":{double.port}", f":{closed_port}"))
    with pytest.raises(ClusterError, match=f"cannot reach the API server at http://127.0.0.1:{closed_port}"):
        session.start(TOPOLOGY, session.ClusterSettings(kubeconfig=str(kubeconfig)), "flow9")
    with pytest.raises(ClusterError, match="context"):
        connect(str(kubeconfig), "no-such-context")


def test_cluster_cleanup_removes_only_labelled_objects(double, tmp_path):
    settings = settings_for(double, tmp_path)
    target = session.start(TOPOLOGY, settings, "flow10")
    target.close()
    cluster = connect(settings.kubeconfig)
    cluster.core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "foreign"}})
    runner = next(o for o in render_runner("", RunnerSettings()) if o["kind"] == "Namespace")  # ours, but no run's
    cluster.core.create_namespace(runner)
    cluster.close()
    proc = subprocess.run([sys.executable, "-m", "macvlan_conformance.cli", "cluster", "cleanup", "--kubeconfig",
                           settings.kubeconfig], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert f"namespaces {target.namespace}" in proc.stderr and double.token not in proc.stderr + proc.stdout
    assert ours(double) == [] and \
        {n["metadata"]["name"] for n in double.list("namespaces")} == {"foreign", runner["metadata"]["name"]}


NNS_CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "nodenetworkstates.nmstate.io"},
           "spec": {"group": "nmstate.io", "scope": "Cluster",
                    "names": {"plural": "nodenetworkstates", "singular": "nodenetworkstate", "kind": "NodeNetworkState"},
                    "versions": [{"name": "v1beta1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                        "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}


def node_network_state(node: str, vid100: int = 100, members=("ens224", "ens256"), state_200: str = "up") -> dict:
    """What kubernetes-nmstate reports for a node set up by `render --host-config`."""
    interfaces = [
        {"name": "bond0", "type": "bond", "state": "up", "mtu": 1500,
         "link-aggregation": {"mode": "active-backup", "port": list(members)}},
        {"name": "bond0.100", "type": "vlan", "state": "up", "mtu": 1500, "vlan": {"base-iface": "bond0", "id": vid100}},
        {"name": "bond0.200", "type": "vlan", "state": state_200, "mtu": 1500, "vlan": {"base-iface": "bond0", "id": 200}},
    ]
    return {"apiVersion": "nmstate.io/v1beta1", "kind": "NodeNetworkState", "metadata": {"name": node},
            "status": {"currentState": {"interfaces": interfaces}}}


def test_preflight_reads_kubernetes_nmstate_for_the_host_side(tmp_path):
    server = FakeApiServer(NODES, HostKubelet(fake_status), extra_crds=(NNS_CRD,)).start()
    try:
        server.seed("nmstate.io", "nodenetworkstates", node_network_state("worker1"))
        server.seed("nmstate.io", "nodenetworkstates", node_network_state("worker2", vid100=101,
                                                                          members=("ens224",), state_200="down"))
        with pytest.raises(PreflightError) as caught:
            session.start(TOPOLOGY, settings_for(server, tmp_path), "flow11")
        problems = caught.value.problems
        assert problems == ["worker2: bond0 has members ['ens224'], the topology says ['ens224', 'ens256']",
                            "worker2: master bond0.100 is VLAN 101 on bond0, expected VLAN 100 on bond0",
                            "worker2: master bond0.200 is down"]
        server.seed("nmstate.io", "nodenetworkstates", node_network_state("worker2"))  # fixed
        settings = settings_for(server, tmp_path)
        target = session.start(TOPOLOGY, settings, "flow12")
        assert target.master_mtu("worker1", "bond0.100") == 1500
        assert target.environment()["host.facts"] == "kubernetes-nmstate NodeNetworkState"
        target.close()
        session.finish(settings, "flow12")
    finally:
        server.stop()


DUAL = load_topology(TOPOLOGIES / "dual-stack.yaml")


def test_a_dual_stack_run_creates_pools_of_both_families(double, tmp_path):
    """The API double validates every created object against the real CRDs: IPv6 SpiderIPPools (ipVersion 6)
    and pods whose ippools annotation lists both families are accepted and come up."""
    settings = settings_for(double, tmp_path)
    target = session.start(DUAL, settings, "flow13")
    try:
        pools = {p["metadata"]["name"]: p["spec"] for p in double.list("spiderippools")}
        assert sorted(s["ipVersion"] for s in pools.values()) == [4, 4, 4, 6, 6, 6]
        assert pools["mc-flow13-vlan100-v6"]["subnet"] == "fd00:100::/64"
        pod = next(p for p in double.list("pods", target.namespace) if p["metadata"]["name"] == "sa-w1-a")
        assert json.loads(pod["metadata"]["annotations"]["ipam.spidernet.io/ippools"]) == [
            {"interface": "eth0", "ipv4": ["mc-flow13-vlan100-v4"], "ipv6": ["mc-flow13-vlan100-v6"],
             "cleangateway": False}]
    finally:
        target.close()
        session.finish(settings, "flow13")
    assert ours(double) == []


def seed_installed_networks(server: FakeApiServer, topology, skip: tuple[str, ...] = ()) -> None:
    """The topology's NADs and SpiderIPPools as an installed cluster holds them (as the kube lab installs
    them), but for the pools named in ``skip``."""
    from macvlan_conformance import netconf
    from macvlan_conformance.cluster.manifests import ippool_spec
    from macvlan_conformance.controlplane.bootstrap import installed_ipam
    for pool in topology.ippools:
        if pool.name not in skip:
            server.seed("spiderpool.spidernet.io", "spiderippools", {
                "apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderIPPool",
                "metadata": {"name": pool.name}, "spec": ippool_spec(pool)})
    for network in topology.networks:
        config = netconf.macvlan_conflist(network, installed_ipam(network, topology))
        server.seed("k8s.cni.cncf.io", "network-attachment-definitions", {
            "apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": network.name, "namespace": network.namespace},
            "spec": {"config": json.dumps(config)}}, namespace=network.namespace)


def test_an_existing_networks_run_needs_the_pool_of_each_family(tmp_path):
    """Without --networks create, preflight stops on a missing pool of either family, naming the family and
    the network; with every pool there, the pods attach to the cluster's own pools of both families."""
    server = FakeApiServer(NODES, HostKubelet(fake_status)).start()
    try:
        seed_installed_networks(server, DUAL, skip=("vlan200-v6",))
        settings = settings_for(server, tmp_path, networks="existing")
        with pytest.raises(PreflightError) as caught:
            session.start(DUAL, settings, "flow14")
        assert [p for p in caught.value.problems if "vlan200-v6" in p] == [
            f"SpiderIPPool vlan200-v6 (the IPv6 pool of network {ref}) does not exist; create it, fix the "
            f"topology's pool name, or run with --networks create"
            for ref in ("kube-system/macvlan-overlay-vlan200", "kube-system/macvlan-standalone-vlan200")]
        seed_installed_networks(server, DUAL)
        target = session.start(DUAL, settings, "flow15")
        network = DUAL.network("kube-system/macvlan-standalone-vlan100")
        assert target.network_differences(network) == []
        target.close()
        session.finish(settings, "flow15")
    finally:
        server.stop()
