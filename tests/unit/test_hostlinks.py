"""The judgement of a node's bond and masters, from the host probe's links and from nmstate's."""

import kubernetes_validate
import pytest

from macvlan_conformance.cluster.hostlinks import from_describe, from_nmstate, host_problems
from macvlan_conformance.cluster.hostprobe import host_probe_pod
from macvlan_conformance.cluster.scope import RunScope
from macvlan_conformance.topology import load_topology

from ..conftest import TOPOLOGIES

TOPOLOGY = load_topology(TOPOLOGIES / "reference.yaml")
NODE = TOPOLOGY.node("worker1")


def link(name, index, kind=None, up=True, vlan_id=None, parent=None, master=None):
    return {"name": name, "index": index, "kind": kind, "up": up, "vlan_id": vlan_id, "parent_index": parent,
            "master_index": master, "mtu": 1500}


def kernel_host(**changes):
    links = {"ens224": link("ens224", 2, master=4), "ens256": link("ens256", 3, master=4),
             "bond0": link("bond0", 4, "bond"), "bond0.100": link("bond0.100", 5, "vlan", vlan_id=100, parent=4),
             "bond0.200": link("bond0.200", 6, "vlan", vlan_id=200, parent=4)}
    for name, value in changes.items():
        name = name.replace("_", ".")
        if value is None:
            links.pop(name)
        else:
            links[name] = {**links[name], **value}
    return list(links.values())


def test_a_healthy_kernel_host_passes():
    assert host_problems(NODE, from_describe(kernel_host())) == ([], [])


@pytest.mark.parametrize("changes, problem", [
    ({"bond0_100": {"vlan_id": 300}}, "worker1: master bond0.100 is VLAN 300 on bond0, expected VLAN 100 on bond0"),
    ({"bond0_200": None}, "worker1: master bond0.200 does not exist"),
    ({"bond0_100": {"up": False}}, "worker1: master bond0.100 is down"),
    ({"ens256": {"master_index": None}}, "worker1: bond0 has members ['ens224'], the topology says ['ens224', 'ens256']"),
    ({"bond0": None}, "worker1: no bond0 on the host"),
])
def test_each_host_fault_is_named(changes, problem):
    problems, _ = host_problems(NODE, from_describe(kernel_host(**changes)))
    assert any(p.startswith(problem) for p in problems), problems


def test_masters_that_are_not_kernel_vlans_are_noted_not_judged():
    links = [link("bond0", 4, "tun"), link("bond0.100", 5, "tun"), link("bond0.200", 6, "tun")]
    problems, notes = host_problems(NODE, from_describe(links))
    assert problems == []
    assert "worker1: master bond0.100 is a tun link, not a kernel VLAN; its VLAN id was not checked" in notes


def test_nmstate_and_the_host_probe_are_judged_alike():
    """The same host as kubernetes-nmstate reports it: the same judgement, healthy and broken."""
    def nns(vid100=100, members=("ens224", "ens256")):
        return [{"name": "bond0", "type": "bond", "state": "up", "link-aggregation": {"port": list(members)}},
                {"name": "bond0.100", "type": "vlan", "state": "up", "vlan": {"base-iface": "bond0", "id": vid100}},
                {"name": "bond0.200", "type": "vlan", "state": "up", "vlan": {"base-iface": "bond0", "id": 200}}]
    assert host_problems(NODE, from_nmstate(nns())) == host_problems(NODE, from_describe(kernel_host()))
    broken = {"bond0_100": {"vlan_id": 101}, "ens256": {"master_index": None}}
    assert host_problems(NODE, from_nmstate(nns(101, ("ens224",)))) == \
        host_problems(NODE, from_describe(kernel_host(**broken)))
    assert len(host_problems(NODE, from_nmstate(nns(101, ("ens224",))))[0]) == 2


def test_the_host_probe_pod_validates_and_only_reads():
    pod = host_probe_pod("worker1", RunScope("abc"), "probe:1")
    kubernetes_validate.validate(pod, "1.37.0", strict=True)
    assert pod["spec"]["hostNetwork"] is True and pod["spec"]["nodeName"] == "worker1"
    assert pod["spec"]["containers"][0]["securityContext"]["capabilities"]["add"] == ["NET_RAW"]
