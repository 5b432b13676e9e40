"""Differential test of the embedded lab's Multus semantics (Python) against the real Multus: the reference
topology's pods, created through the kube lab's API with the topology's own annotations, get the same
interfaces in the same order and the same network-status, field by field, as the embedded lab gives them.

Values that differ by nature are compared by what they must be instead: MACs are random per link (each
must be the MAC of that interface in the pod); pool addresses are compared exactly (both allocate the lowest
free address of the pool, pods created one by one in topology order); the overlay stand-in's eth0 addresses
come from host-local, which the embedded lab runs for several pods at once, so they are compared by the
node's pod CIDR they must be in.
"""

import ipaddress
import json

from kubernetes import client

from macvlan_conformance.topology import load_topology

from ..conftest import TOPOLOGIES
from ..lab.conftest import ip_json
from .conftest import network_status, pod_netns, wait_pod

TOPOLOGY = load_topology(TOPOLOGIES / "reference.yaml")


def _create_in_order(core: client.CoreV1Api) -> dict[str, list[dict]]:
    statuses = {}
    for pod in TOPOLOGY.pods:
        core.create_namespaced_pod(pod.namespace, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod.name, "annotations": dict(pod.annotations), "labels": {"test": "differential"}},
            "spec": {"nodeName": pod.node, "containers": [{"name": "c", "image": "probe"}]}})
        running = wait_pod(core, pod.namespace, pod.name)
        assert running.status.phase == "Running", (pod.name, [e.message for e in core.list_namespaced_event(
            pod.namespace, field_selector=f"involvedObject.name={pod.name}").items][-2:])
        statuses[pod.name] = network_status(running)
    return statuses


def _comparable(entries: list[dict], node: str) -> list[dict]:
    """The entries without MACs, the overlay's addresses replaced by the pod CIDR they are in."""
    cidr = TOPOLOGY.node_pod_cidr(node)
    result = []
    for entry in entries:
        entry = {k: v for k, v in entry.items() if k != "mac"}
        if entry["name"] == TOPOLOGY.overlay.name:
            entry["ips"] = [str(cidr) if ipaddress.ip_address(ip) in cidr else ip for ip in entry["ips"]]
        result.append(entry)
    return result


def test_real_multus_writes_what_the_lab_writes(reference_lab, kube_lab, admin):
    _, embedded_state = reference_lab
    lab, _ = kube_lab
    core = client.CoreV1Api(admin)
    try:
        real = _create_in_order(core)
        for pod in TOPOLOGY.pods:
            ours = embedded_state["pods"][pod.name]["network_status"]
            assert _comparable(real[pod.name], pod.node) == _comparable(ours, pod.node), (
                f"{pod.name}:\n  real Multus: {json.dumps(real[pod.name])}\n  lab:         {json.dumps(ours)}")
            links = {l["ifname"]: l["address"] for l in ip_json("link", netns=pod_netns(lab, pod.namespace, pod.name))}
            assert all(e["mac"] == links[e["interface"]] for e in real[pod.name]), pod.name
    finally:
        for pod in TOPOLOGY.pods:
            core.delete_namespaced_pod(pod.name, pod.namespace)
        _wait_gone(core)


def _wait_gone(core: client.CoreV1Api, timeout: float = 60) -> None:
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not core.list_pod_for_all_namespaces(label_selector="test=differential").items:
            return
        time.sleep(0.2)
    raise AssertionError("the differential test's pods were not finalized")
