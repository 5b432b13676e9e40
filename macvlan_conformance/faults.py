"""A catalogue of named, reversible faults for a running lab, each declaring the checks it must break.

Every other check must keep passing under the fault. Faults pick their concrete victims from the
topology (a node, a VLAN, a pod), so the same catalogue applies to any lab; ``revert`` restores what the
model says, so a fault can be reverted by another process than the one that applied it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .lab import cleanup
from .lab.builder import PodFactory
from .lab.commands import in_netns, run
from .lab.target import LabTarget
from .topology import Topology

ALL_CHECKS = frozenset({
    "allocation.interfaces", "network-status.consistent", "intra-vlan.same-node", "intra-vlan.cross-node",
    "gateway.arp", "inter-vlan.routed", "inter-vlan.ttl-expiry", "isolation.cross-vlan-arp", "isolation.broadcast",
    "isolation.own-master", "rules.attachment", "overlay.coexistence", "mtu.df-ping", "resilience.bond-member-down",
    "addressing.unique-ip",
})


@dataclass(frozen=True)
class Fault:
    name: str
    summary: str
    breaks: frozenset[str]
    apply: Callable[[LabTarget], None]
    revert: Callable[[LabTarget], None]


def _in_netns(pid: int, netns: str) -> bool:
    try:
        return os.readlink(f"/proc/{pid}/ns/net") == f"net:[{os.stat(f'/run/netns/{netns}').st_ino}]"
    except OSError:
        return False


# --- victims chosen from the model ---------------------------------------------------------------
def _tagged_routed_vlan(t: Topology) -> int:
    return next(v for v in t.routed_vlans if v != t.switch.native_vlan)


def _standalone_pods(t: Topology, vlan: int) -> list[str]:
    return [p.name for p in t.pods if t.attachments(p.name)[0].network is not None
            and t.attachments(p.name)[0].vlan.id == vlan and len(t.attachments(p.name)) == 1]


def _sibling_network(t: Topology) -> str:
    """A standalone network with two pods on one node (so that private mode is observable)."""
    for net in t.networks:
        if net.type != "standalone":
            continue
        nodes = [p.node for p in t.pods if t.attachments(p.name)[0].network is net]
        if any(nodes.count(n) > 1 for n in nodes):
            return net.ref
    raise LookupError("no standalone network has two pods on one node")


def _switch_ports(target: LabTarget, node: str) -> list[str]:
    return [p.port for p in target.state.trunk_ports if p.node == node]


def _trunks(target: LabTarget, node: str) -> str:
    t = target.topology
    return ",".join(str(v) for v in [t.switch.native_vlan, *t.node(node).vlans])


# --- the catalogue -----------------------------------------------------------------------------------
def catalogue(t: Topology) -> dict[str, Fault]:
    """The faults that apply to topology ``t``, by name. Raises ``ValueError`` for a topology without pods
    (each fault declares what it breaks from the pods it affects)."""
    if not t.pods:
        raise ValueError(f"topology {t.name} has no pods: the fault catalogue needs pods to break and probe")
    faults: list[Fault] = []
    native = t.switch.native_vlan
    vlan = _tagged_routed_vlan(t)
    last = t.nodes[-1]
    removed = max(v for v in last.vlans if any(p.node == last.name and any(
        a.vlan and a.vlan.id == v for a in t.attachments(p.name)) for p in t.pods))
    kept = ",".join(str(v) for v in [native, *last.vlans] if v != removed)

    def set_trunks(value_of):
        def action(target: LabTarget) -> None:
            for port in _switch_ports(target, last.name):
                target.ovs.vsctl("set", "port", port, f"trunks={value_of(target)}")
        return action

    faults.append(Fault(
        "vlan-removed-from-trunk", f"VLAN {removed} removed from {last.name}'s switch trunk ports",
        frozenset({"intra-vlan.cross-node", "gateway.arp", "inter-vlan.routed", "inter-vlan.ttl-expiry",
                   "mtu.df-ping", "isolation.cross-vlan-arp", "isolation.broadcast", "addressing.unique-ip"}),
        set_trunks(lambda target: kept), set_trunks(lambda target: _trunks(target, last.name))))

    def vlanif(state: str):
        def action(target: LabTarget) -> None:
            run(["ip", "link", "set", f"vlanif{vlan}", state], netns=target.state.router_netns)
        return action

    faults.append(Fault(
        "vlanif-down", f"vlanif{vlan} (the gateway of VLAN {vlan}) down on the switch",
        frozenset({"gateway.arp", "inter-vlan.routed", "inter-vlan.ttl-expiry", "mtu.df-ping"}),
        vlanif("down"), vlanif("up")))

    def forwarding(value: int):
        def action(target: LabTarget) -> None:
            run(["sysctl", "-q", "-w", f"net.ipv4.ip_forward={value}"], netns=target.state.router_netns)
        return action

    faults.append(Fault(
        "router-forwarding-off", "IP forwarding off on the switch's routing function",
        frozenset({"inter-vlan.routed", "inter-vlan.ttl-expiry"}),
        forwarding(0), forwarding(1)))

    try:
        network = _sibling_network(t)
    except LookupError:
        network = None
    if network:
        victims = [p.name for p in t.pods if t.attachments(p.name)[0].network
                   and t.attachments(p.name)[0].network.ref == network]

        def mode(override):
            def action(target: LabTarget) -> None:
                factory = PodFactory(target.topology, target.state)
                for pod in victims:
                    factory.reattach(pod, "eth0", override)
                target.reload()
            return action

        faults.append(Fault(
            "macvlan-mode-private", f"{network} attached in macvlan private mode instead of bridge",
            frozenset({"allocation.interfaces", "intra-vlan.same-node"}),
            mode({"mode": "private"}), mode(None)))

    other = next(v for v in t.routed_vlans if v not in (native, vlan))
    mover = next(p for p in _standalone_pods(t, vlan))
    wrong_master = f"{t.node(t.pod(mover).node).bond.name}.{other}"

    def master(override):
        def action(target: LabTarget) -> None:
            PodFactory(target.topology, target.state).reattach(mover, "eth0", override)
            target.reload()
        return action

    first, second = t.nodes[0], t.nodes[-1]

    def bond_member(node, nics, up):
        def action(target: LabTarget) -> None:
            for nic in nics:
                target.set_bond_member(node, nic, up=up)
        return action

    faults.append(Fault(
        "bond-member-down", f"{first.name}'s {first.bond.members[0]} down (the bond fails over; only the "
                            f"redundancy is gone, which the resilience check of {first.name} reports)",
        frozenset({"resilience.bond-member-down"}),
        bond_member(first.name, first.bond.members[:1], False), bond_member(first.name, first.bond.members[:1], True)))

    def both_members(up):
        def action(target: LabTarget) -> None:
            link_state = "up" if up else "down"
            for nic, link in target.state.nodes[second.name].bond.members.items():
                run(["ip", "link", "set", link, link_state], netns=target.state.fabric_netns)
            target.ovs.appctl("revalidator/purge")
        return action

    faults.append(Fault(
        "bond-both-down", f"both bond members of {second.name} down: its underlay is cut off",
        frozenset({"intra-vlan.cross-node", "gateway.arp", "inter-vlan.routed", "inter-vlan.ttl-expiry", "mtu.df-ping",
                   "isolation.cross-vlan-arp", "isolation.broadcast", "isolation.own-master", "overlay.coexistence",
                   "addressing.unique-ip", "resilience.bond-member-down"}),
        both_members(False), both_members(True)))

    victim = _standalone_pods(t, vlan)[0]

    def pod_link(state: str):
        def action(target: LabTarget) -> None:
            run(["ip", "link", "set", "eth0", state], netns=target.state.pods[victim].netns)
            if state == "up":  # a link brought back up has lost its routes: put the default back
                gateway = str(t.attachments(victim)[0].pool.gateway)
                run(["ip", "route", "replace", "default", "via", gateway, "dev", "eth0"],
                    netns=target.state.pods[victim].netns)
        return action

    faults.append(Fault(
        "pod-interface-down", f"{victim}'s eth0 down (it is also a broadcast sender: that check turns "
                              f"inconclusive)",
        frozenset({"allocation.interfaces", "intra-vlan.same-node", "intra-vlan.cross-node", "gateway.arp",
                   "inter-vlan.routed", "inter-vlan.ttl-expiry", "mtu.df-ping", "isolation.cross-vlan-arp",
                   "isolation.broadcast", "addressing.unique-ip"}),
        pod_link("down"), pod_link("up")))

    def default_route(present: bool):
        def action(target: LabTarget) -> None:
            gateway = str(t.attachments(victim)[0].pool.gateway)
            verb = "replace" if present else "del"
            run(["ip", "route", verb, "default", "via", gateway, "dev", "eth0"], netns=target.state.pods[victim].netns)
        return action

    faults.append(Fault(
        "pod-default-route-removed", f"{victim}'s default route removed",
        frozenset({"allocation.interfaces", "inter-vlan.routed", "inter-vlan.ttl-expiry"}),
        default_route(False), default_route(True)))

    def switch_mtu(value):
        def action(target: LabTarget) -> None:
            for port in _switch_ports(target, second.name):
                run(["ip", "link", "set", port, "mtu", str(value)], netns=target.state.fabric_netns)
        return action

    faults.append(Fault(
        "switch-port-mtu-lowered", f"MTU 1400 on {second.name}'s switch ports (the rest of the path is 1500)",
        frozenset({"mtu.df-ping"}), switch_mtu(1400), switch_mtu(t.switch.mtu)))

    a, b = vlan, other
    table = "macvlan_conformance_fault"

    def one_way(present: bool):
        def action(target: LabTarget) -> None:
            if present:
                rules = (f"add table inet {table}\n"
                         f"add chain inet {table} forward {{ type filter hook forward priority 0 ; }}\n"
                         f"add rule inet {table} forward ip saddr {t.vlan(a).subnet} ip daddr {t.vlan(b).subnet} drop\n")
                run(["nft", "-f", "-"], netns=target.state.router_netns, input=rules)
            else:
                run(["nft", "delete", "table", "inet", table], netns=target.state.router_netns, check=False)
        return action

    faults.append(Fault(
        "router-one-way-filter", f"the router drops forwarded packets from VLAN {a} to VLAN {b} (one way)",
        frozenset({"inter-vlan.routed"}), one_way(True), one_way(False)))

    owner = _standalone_pods(t, vlan)[-1]
    duplicate_node = next(n for n in t.nodes if n.name != t.pod(owner).node) if len(t.nodes) > 1 else t.nodes[0]

    def duplicate(present: bool):
        def action(target: LabTarget) -> None:
            netns = f"{target.names.ns_prefix}dup"
            if not present:
                cleanup.stop_pids([pid for pid in cleanup.owned_pids(target.state.name)
                                   if _in_netns(pid, netns)])
                cleanup.delete_namespaces([netns])
                return
            node = target.state.nodes[duplicate_node.name]
            run(["ip", "netns", "add", netns])
            run(["ip", "link", "add", "dup0", "link", node.masters[vlan], "type", "macvlan", "mode", "bridge"],
                netns=node.netns)
            run(["ip", "link", "set", "dup0", "netns", netns], netns=node.netns)
            run(["ip", "link", "set", "dup0", "up"], netns=netns)
            subprocess.Popen(in_netns(netns, [sys.executable, "-m", "macvlan_conformance.agent.arp_responder",
                                              "--ip", target.endpoint_ip(f"{owner}/eth0"), "--iface", "dup0"]),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                             cwd=str(Path(__file__).resolve().parent.parent))
            time.sleep(2)  # the responder's scapy import
        return action

    faults.append(Fault(
        "duplicate-ip", f"a host on {duplicate_node.name} also claims {owner}'s address in VLAN {vlan} "
                        f"(answering ARP 200 ms after the owner)",
        frozenset({"addressing.unique-ip"}), duplicate(True), duplicate(False)))

    faults.append(Fault(
        "master-in-wrong-vlan", f"{mover}'s eth0 attached to {wrong_master} (VLAN {other}) instead of VLAN {vlan}",
        frozenset({"allocation.interfaces", "intra-vlan.same-node", "intra-vlan.cross-node", "gateway.arp",
                   "inter-vlan.routed", "inter-vlan.ttl-expiry", "mtu.df-ping", "isolation.cross-vlan-arp",
                   "isolation.broadcast", "addressing.unique-ip"}),
        master({"master": wrong_master}), master(None)))
    return {f.name: f for f in faults}
