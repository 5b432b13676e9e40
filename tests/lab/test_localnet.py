"""The agent's own reading of a pod's interfaces and routes (ioctls and /proc, no netlink), checked
against what iproute2 and the kernel's route lookup say about every pod of the reference lab."""

import ipaddress
import threading

import pytest

from macvlan_conformance.agent import localnet
from macvlan_conformance.netns import inside

from .conftest import ip_json

OUTSIDE = "192.0.2.1"  # TEST-NET-1: on no pod's network, so only a default route reaches it


def _in_thread(netns: str, fn):
    """``fn()`` run by a thread inside ``netns`` (what an agent thread of the agent host is)."""
    box = {}

    def run():
        with inside(netns):
            try:
                box["value"] = fn()
            except Exception as exc:  # handed back to the test
                box["error"] = exc
    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def _iproute2_routes(netns: str, iface: str) -> list:
    routes = ip_json("route", "show", "table", "main", "dev", iface, netns=netns)
    return sorted((ipaddress.IPv4Network("0.0.0.0/0" if r["dst"] == "default" else r["dst"]), r.get("gateway"),
                   r.get("metric", 0)) for r in routes)


def test_interfaces_routes_and_next_hops_match_iproute2_and_the_kernel(reference_lab):
    """Interfaces and routes as iproute2 reads them over netlink; next hops as the kernel's own route
    lookup (``ip route get``) picks them, wherever it picks the interface being asked about; and a clear
    error where the interface has no route to the destination at all."""
    _, state = reference_lab
    destinations = sorted({ip.split("/")[0] for pod in state["pods"].values() for status in pod["network_status"]
                           for ip in status.get("ips", [])} | {OUTSIDE})
    answers = {"on-link": 0, "gateway": 0, "no route": 0}
    for pod in state["pods"].values():
        netns = pod["netns"]
        for link in ip_json("addr", "show", netns=netns):
            ifname = link["ifname"]
            if ifname == "lo":
                continue
            seen = _in_thread(netns, lambda: localnet.interface(ifname))
            v4 = [a for a in link["addr_info"] if a["family"] == "inet"]
            assert (seen.index, seen.mac, seen.ipv4) == (link["ifindex"], link["address"], v4[0]["local"] if v4 else None)
            if v4:
                assert seen.network == ipaddress.IPv4Network(f"{v4[0]['local']}/{v4[0]['prefixlen']}", strict=False)
            routes = _in_thread(netns, lambda: localnet.routes(ifname))
            assert sorted(routes) == _iproute2_routes(netns, ifname)
            for dst in destinations:
                if not any(ipaddress.IPv4Address(dst) in net for net, _, _ in routes):
                    with pytest.raises(ValueError, match=f"no route to {dst} via {ifname}"):
                        _in_thread(netns, lambda: localnet.next_hop(dst, ifname))
                    answers["no route"] += 1
                    continue
                kernel = ip_json("route", "get", dst, netns=netns)[0]
                if kernel["dev"] != ifname:
                    continue  # the kernel would not use this interface: nothing to compare with
                hop = _in_thread(netns, lambda: localnet.next_hop(dst, ifname))
                assert hop == kernel.get("gateway", dst), (pod["netns"], ifname, dst)
                answers["gateway" if "gateway" in kernel else "on-link"] += 1
    assert min(answers.values()) > 5, answers  # control: every kind of answer was really compared


def test_a_missing_interface_is_named(reference_lab):
    _, state = reference_lab
    netns = next(iter(state["pods"].values()))["netns"]
    with pytest.raises(ValueError, match="no interface 'net9' in this pod"):
        _in_thread(netns, lambda: localnet.interface("net9"))
    with pytest.raises(ValueError, match="names have 1-15 bytes"):  # not cut down to "eth0" + padding
        _in_thread(netns, lambda: localnet.interface("eth0" + "x" * 12))
