"""The reference lab, verified with independent means (``ip -j``, ``ovs-vsctl``, ``/sys``), not the lab's code."""

import ipaddress
import time

import pytest

from macvlan_conformance.topology import load_topology

from ..conftest import TOPOLOGIES
from .conftest import ip_json, sh

REF = load_topology(TOPOLOGIES / "reference.yaml")


def vsctl(state, *args):
    return sh("ovs-vsctl", f"--db=unix:{state['ovs_db_sock']}", *args)


def link_by_index(netns, index):
    return next(l for l in ip_json("link", netns=netns) if l["ifindex"] == index)


@pytest.mark.parametrize("pod", [p.name for p in REF.pods])
def test_pod_interfaces_match_the_topology(reference_lab, pod):
    _, state = reference_lab
    pod_state = state["pods"][pod]
    node_ns = state["nodes"][pod_state["node"]]["netns"]
    links = {l["ifname"]: l for l in ip_json("-d", "addr", netns=pod_state["netns"])}
    assert set(links) == {a.ifname for a in REF.attachments(pod)} | {"lo"}
    for att in REF.attachments(pod):
        link = links[att.ifname]
        addrs = [a["local"] for a in link["addr_info"] if a["family"] == "inet"]
        assert len(addrs) == 1
        if att.network is None:
            assert link["linkinfo"]["info_kind"] == "veth"
            assert ipaddress.ip_address(addrs[0]) in REF.node_pod_cidr(pod_state["node"])
            continue
        assert link["linkinfo"]["info_kind"] == "macvlan"
        assert link["linkinfo"]["info_data"]["mode"] == att.network.mode
        master = link_by_index(node_ns, link["link_index"])["ifname"]
        assert master == REF.node(pod_state["node"]).master_name(att.vlan.id, REF.switch.native_vlan)
        assert ipaddress.ip_address(addrs[0]) in att.pool.addresses
        # the state file and network-status say the same as the kernel
        entry = next(e for e in pod_state["network_status"] if e["interface"] == att.ifname)
        assert entry["ips"] == addrs and entry["mac"] == link["address"]
        assert entry["name"] == att.network.ref and entry.get("default", False) == att.default
        mtu = int(sh("ip", "netns", "exec", pod_state["netns"], "cat", f"/sys/class/net/{att.ifname}/mtu"))
        assert mtu == 1500


def test_switch_trunks_bonds_and_marks(reference_lab):
    name, state = reference_lab
    ports = {row.split(",", 1)[0].strip('"'): row for row in vsctl(
        state, "--format=csv", "--no-headings", "--columns=name,tag,trunks,vlan_mode,bond_mode,external_ids",
        "list", "port").splitlines()}
    for node_index in (1, 2):
        for member_index in (0, 1):  # the lab names members by index: ens224 is s1-e0/n1-e0 on worker1
            row = ports[f"s{node_index}-e{member_index}"]
            assert "native-untagged" in row and "[1, 100, 200]" in row and f"macvlan-conformance={name}" in row
        assert "active-backup" in ports[f"n{node_index}-bond"]
        node = state["nodes"][f"worker{node_index}"]
        assert node["bond"]["members"] == {"ens224": f"n{node_index}-e0", "ens256": f"n{node_index}-e1"}
    assert vsctl(state, "get", "bridge", "br-switch", "datapath_type").strip() == "netdev"
    assert vsctl(state, "get", "port", "vlanif100", "tag").strip() == "100"


def test_vlanifs_live_in_the_router_and_route(reference_lab):
    _, state = reference_lab
    router = state["router_netns"]
    addrs = {l["ifname"]: [a["local"] for a in l["addr_info"] if a["family"] == "inet"]
             for l in ip_json("addr", netns=router)}
    assert addrs["vlanif100"] == ["10.100.0.1"] and addrs["vlanif200"] == ["10.200.0.1"]
    assert sh("ip", "netns", "exec", router, "cat", "/proc/sys/net/ipv4/ip_forward").strip() == "1"


def ping(state, pod, ip, count=1):
    return sh("ip", "netns", "exec", state["pods"][pod]["netns"], "ping", "-n", "-c", str(count), "-W", "1", ip,
              check=False)


def test_inter_vlan_ping_goes_through_the_router(reference_lab):
    _, state = reference_lab
    target = state["pods"]["sa-w2-b"]["network_status"][0]["ips"][0]
    out = ping(state, "sa-w1-a", target)
    assert "ttl=63" in out, out
    same_vlan = state["pods"]["sa-w2-a"]["network_status"][0]["ips"][0]
    assert "ttl=64" in ping(state, "sa-w1-a", same_vlan)


def test_bond_member_down_keeps_traffic_flowing(reference_lab):
    _, state = reference_lab
    fabric = state["fabric_netns"]
    target = state["pods"]["sa-w2-a"]["network_status"][0]["ips"][0]
    for nic in ("n1-e0", "n1-e1"):  # worker1's ens224, ens256
        sh("ip", "-n", fabric, "link", "set", nic, "down")
        try:
            deadline = time.monotonic() + 5
            out = ""
            while time.monotonic() < deadline and "1 received" not in out:
                out = ping(state, "sa-w1-a", target)
            assert "1 received" in out, f"{nic} down: {out}"
        finally:
            sh("ip", "-n", fabric, "link", "set", nic, "up")
    sh("ip", "-n", fabric, "link", "set", "n1-e0", "down")
    sh("ip", "-n", fabric, "link", "set", "n1-e1", "down")
    try:
        assert "0 received" in ping(state, "sa-w1-a", target), "both members down, yet traffic flows"
    finally:
        sh("ip", "-n", fabric, "link", "set", "n1-e0", "up")
        sh("ip", "-n", fabric, "link", "set", "n1-e1", "up")
