"""The kube lab: the real kube-apiserver, etcd and kube-controller-manager, the real CRDs and RBAC, node
agents standing in for kubelets, and the real Multus giving pods created through the API their NICs."""

import json
from pathlib import Path
import time

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from .conftest import network_status, pod_manifest, pod_netns, wait_pod
from ..lab.conftest import ip_json


def test_nodes_are_ready_and_the_topologys_networks_are_installed(kube_lab, admin):
    lab, state = kube_lab
    core, custom = client.CoreV1Api(admin), client.CustomObjectsApi(admin)
    nodes = {n.metadata.name: n for n in core.list_node().items}
    assert set(nodes) == {"worker1", "worker2"}
    assert all(any(c.type == "Ready" and c.status == "True" for c in n.status.conditions) for n in nodes.values())
    assert client.VersionApi(admin).get_code().git_version == "v1.37.2"
    nads = custom.list_namespaced_custom_object("k8s.cni.cncf.io", "v1", "kube-system",
                                                "network-attachment-definitions")["items"]
    assert {n["metadata"]["name"] for n in nads} >= {"macvlan-standalone-vlan100", "macvlan-overlay-vlan200"}
    pools = custom.list_cluster_custom_object("spiderpool.spidernet.io", "v2beta1", "spiderippools")["items"]
    assert {p["metadata"]["name"] for p in pools} == {"vlan0-v4", "vlan100-v4", "vlan200-v4"}


def test_a_pod_with_the_seeds_annotations_gets_its_macvlan_nic_from_real_multus(kube_lab, admin):
    """A pod anyone creates through the API (the seed's annotations, no pool named: the NAD's pool is chosen
    from the pod's annotation as Spiderpool does) runs with eth0 a macvlan on worker1's bond0.100, and the
    network-status Multus wrote names the NAD and matches the pod's real interface."""
    lab, state = kube_lab
    core = client.CoreV1Api(admin)
    annotations = {"v1.multus-cni.io/default-network": "kube-system/macvlan-standalone-vlan100",
                   "ipam.spidernet.io/ippool": json.dumps({"ipv4": ["vlan100-v4"]})}
    core.create_namespaced_pod("default", pod_manifest("seed-sa", "worker1", annotations))
    try:
        pod = wait_pod(core, "default", "seed-sa")
        assert pod.status.phase == "Running", core.list_namespaced_event("default").items[-3:]
        status = network_status(pod)
        assert [(e["name"], e["interface"], e.get("default")) for e in status] == [
            ("kube-system/macvlan-standalone-vlan100", "eth0", True)]
        links = {l["ifname"]: l for l in ip_json("-d", "addr", netns=pod_netns(lab, "default", "seed-sa"))}
        eth0 = links["eth0"]
        assert eth0["linkinfo"]["info_kind"] == "macvlan" and eth0["linkinfo"]["info_data"]["mode"] == "bridge"
        assert eth0["address"] == status[0]["mac"]
        assert [a["local"] for a in eth0["addr_info"] if a["family"] == "inet"] == status[0]["ips"]
        assert status[0]["ips"][0].startswith("10.100.0.") and pod.status.pod_ip == status[0]["ips"][0]
    finally:
        core.delete_namespaced_pod("seed-sa", "default")
    _gone(core, "default", "seed-sa")


def test_a_refused_sandbox_is_reported_as_the_kubelet_reports_it(kube_lab, admin):
    core = client.CoreV1Api(admin)
    annotations = {"v1.multus-cni.io/default-network": "kube-system/no-such-network"}
    core.create_namespaced_pod("default", pod_manifest("seed-bad", "worker2", annotations))
    try:
        deadline, events = time.monotonic() + 30, []
        while time.monotonic() < deadline and not events:
            events = [e for e in core.list_namespaced_event("default", field_selector="involvedObject.name=seed-bad")
                      .items if e.reason == "FailedCreatePodSandBox"]
            time.sleep(0.2)
        assert events and "no-such-network" in events[0].message, events
        assert core.read_namespaced_pod("seed-bad", "default").status.phase == "Pending"
    finally:
        core.delete_namespaced_pod("seed-bad", "default")
    _gone(core, "default", "seed-bad")


def test_the_real_crd_schema_rejects_a_bad_pool_and_a_bad_nad(admin):
    custom = client.CustomObjectsApi(admin)
    with pytest.raises(ApiException) as bad_pool:
        custom.create_cluster_custom_object("spiderpool.spidernet.io", "v2beta1", "spiderippools", {
            "apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderIPPool", "metadata": {"name": "bad"},
            "spec": {"ipVersion": "four", "subnet": "10.9.0.0/24"}})
    assert bad_pool.value.status == 422 and "spec.ipVersion" in bad_pool.value.body
    with pytest.raises(ApiException) as bad_nad:
        custom.create_namespaced_custom_object("k8s.cni.cncf.io", "v1", "default", "network-attachment-definitions", {
            "apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition", "metadata": {"name": "bad"},
            "spec": {"config": {"not": "a string"}}})
    assert bad_nad.value.status == 422 and "spec.config" in bad_nad.value.body


def test_the_run_users_rbac_is_enforced_by_the_real_authorizer(kube_lab):
    """The restricted kubeconfig has exactly the README's RBAC: it lists nodes (the control), but may not
    read secrets, and the refusal comes from the real authorizer naming the user."""
    user = config.new_client_from_config(kube_lab[1].kube.user_kubeconfig)
    try:
        assert client.CoreV1Api(user).list_node().items
        with pytest.raises(ApiException) as forbidden:
            client.CoreV1Api(user).list_namespaced_secret("kube-system")
        assert forbidden.value.status == 403 and "macvlan-conformance-user" in forbidden.value.body
    finally:
        user.close()


def test_deleting_a_namespace_removes_its_pods_through_the_namespace_controller(kube_lab, admin):
    lab, _ = kube_lab
    core = client.CoreV1Api(admin)
    core.create_namespace({"metadata": {"name": "doomed"}})
    _wait_default_service_account(core, "doomed")
    core.create_namespaced_pod("doomed", pod_manifest("p", "worker2", {
        "v1.multus-cni.io/default-network": "kube-system/macvlan-standalone-vlan200",
        "ipam.spidernet.io/ippool": json.dumps({"ipv4": ["vlan200-v4"]})}))
    assert wait_pod(core, "doomed", "p").status.phase == "Running"
    core.delete_namespace("doomed")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(n.metadata.name == "doomed" for n in core.list_namespace().items):
        time.sleep(0.25)
    assert not any(n.metadata.name == "doomed" for n in core.list_namespace().items)
    assert pod_netns(lab, "doomed", "p") not in {l.split()[0] for l in _netns()}


def _netns() -> list[str]:
    import subprocess
    return [l for l in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.splitlines() if l]


def _wait_default_service_account(core, namespace: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if any(sa.metadata.name == "default" for sa in core.list_namespaced_service_account(namespace).items):
            return
        time.sleep(0.1)


def _gone(core, namespace: str, name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            core.read_namespaced_pod(name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return
            raise
        time.sleep(0.2)
    raise AssertionError(f"pod {namespace}/{name} still exists {timeout:.0f} s after its deletion")


def test_a_run_without_the_rbac_it_needs_stops_at_preflight_naming_what_to_grant(kube_lab, tmp_path):
    """The real authorizer's 403, as the cluster target reports it: one line naming the request, the
    context and the fix, before anything is created, and no credential in the output. Multus' own user
    (its ClusterRole: NADs, pods, events) may not list namespaces or nodes."""
    import subprocess
    import sys

    from ..conftest import ROOT
    kubeconfig = str(Path(kube_lab[1].kube.directory) / "multus.kubeconfig")
    proc = subprocess.run([sys.executable, "-m", "pytest", "suites", "-q", "--target", "cluster", "--kubeconfig",
                           kubeconfig, "--results", str(tmp_path / "r.json"), "--catalogue", str(tmp_path / "c.yaml"),
                           "--html-report", str(tmp_path / "r.html"), "--history", str(tmp_path / "h.jsonl")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 4, proc.stdout[-2000:]
    assert "forbidden by RBAC for context 'lab-multus'" in proc.stderr, proc.stderr[-2000:]
    assert "grant the verbs listed in the README" in proc.stderr
    assert "BEGIN" not in proc.stdout + proc.stderr  # no key or certificate material


def test_preflight_reads_the_multus_version_and_the_existing_networks(kube_lab):
    """Preflight finds the Multus DaemonSet (the lab's record of the real Multus v4.2.3 its node agents run)
    and, from its image tag, the newest cniVersion that Multus runs: 1.0.0 from Multus 4.0 on
    (k8snetworkplumbingwg/multus-cni PR #879), 0.4.0 for 3.x. The cluster's own networks (the lab's
    kube-system NADs and pools) exist, so a run that tests them passes preflight; a run that would create
    copies of the same pools is refused first, naming each overlap, as Spiderpool's webhook would refuse the
    pools (spidernet-io/spiderpool pkg/ippoolmanager/ippool_validate.go validateIPPoolAvailableIPs)."""
    from macvlan_conformance.cluster.kube import connect
    from macvlan_conformance.cluster.preflight import PreflightError, preflight
    from macvlan_conformance.cluster.scope import RunScope, scoped_topology
    from macvlan_conformance.topology import load_topology

    from ..conftest import TOPOLOGIES
    topology, scope = load_topology(TOPOLOGIES / "reference.yaml"), RunScope("pf1")
    cluster = connect(kube_lab[1].kube.admin_kubeconfig, None)
    try:
        report = preflight(cluster, topology, scoped=scoped_topology(topology, scope, create_networks=False),
                           run_namespace=scope.namespace, create_networks=False)
        with pytest.raises(PreflightError) as refused:
            preflight(cluster, topology, scoped=scoped_topology(topology, scope), run_namespace=scope.namespace)
    finally:
        cluster.close()
    assert "multus" in report.multus and "v4.2" in report.cni_version_reason, report
    assert report.cni_version == "1.0.0"
    assert f"pool {scope.pool('vlan100-v4')} shares 99 addresses (first 10.100.0.100) with the existing " \
           "SpiderIPPool vlan100-v4" in str(refused.value)
