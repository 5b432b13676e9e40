"""A catalogue of named, reversible faults for a running lab, each declaring the checks it must break.

Every other check must keep passing under the fault. A fault is a small stateless object: ``applies(t)``
says why it cannot be staged on topology ``t`` (or None), ``summary(t)`` what it does there, ``apply`` and
``revert`` act on a ``LabTarget``. Victims (a node, a VLAN, a pod) are picked from the model each time, so
the catalogue fits any lab and a fault can be reverted by another process than the one that applied it.
Every id in ``breaks`` is a registered check (``checks.require``, checked at import).

``place(t)`` declares where the fault breaks the network, in the vocabulary of a diagnosis's place
(``diagnosis``): it is used only to measure the diagnosis (``selftest``), never by it. ``families(t)`` says which
address families' cases it may break (an IPv4 fault failing an IPv6 case is collateral, and vice versa).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

from . import checks
from . import expectations as ex
from .lab import cleanup
from .lab.builder import PodFactory
from .lab.commands import in_netns, run
from .lab.target import LabTarget
from .topology import Topology

RESPONDER_READY_S = 15.0  # the ARP responder's scapy import and capture socket


class NotApplicable(Exception):
    """The topology offers no victim for this fault; the message says what is missing."""


class Fault:
    name: ClassVar[str]
    breaks: ClassVar[frozenset[str]]

    def __init_subclass__(cls) -> None:
        if "breaks" in cls.__dict__:  # a concrete fault (helper bases declare none)
            cls.breaks = checks.require(cls.breaks, f"fault {cls.name}: breaks")

    def applies(self, t: Topology) -> str | None:
        """None when the fault can be staged on ``t``, else why not."""
        try:
            self.summary(t)
        except NotApplicable as exc:
            return str(exc)
        return None

    def summary(self, t: Topology) -> str:
        raise NotImplementedError

    def place(self, t: Topology) -> dict:
        """Where the fault breaks the network on ``t``: ``{"kind": ..., fields}`` as a diagnosis names it."""
        raise NotImplementedError

    def families(self, t: Topology) -> frozenset[int]:
        """The address families whose cases the fault may break (default: both; a link or a node breaks both)."""
        return frozenset({4, 6})

    def breaks_on(self, t: Topology) -> frozenset[str]:
        """The checks the fault breaks on ``t``: ``breaks``, unless what it does depends on the topology."""
        return self.breaks

    def apply(self, target: LabTarget) -> None:
        raise NotImplementedError

    def revert(self, target: LabTarget) -> None:
        raise NotImplementedError


# --- victims chosen from the model ---------------------------------------------------------------
def _need(value, missing: str):
    if value is None:
        raise NotApplicable(missing)
    return value


def _tagged_routed_vlan(t: Topology) -> int:
    return _need(next((v for v in t.routed_vlans if v != t.switch.native_vlan), None),
                 "no tagged VLAN with a vlanif")


def _other_routed_vlan(t: Topology) -> int:
    vlan = _tagged_routed_vlan(t)
    return _need(next((v for v in t.routed_vlans if v not in (t.switch.native_vlan, vlan)), None),
                 "needs two tagged VLANs with a vlanif")


def _standalone_pods(t: Topology, vlan: int, family: int | None = None) -> list[str]:
    """Pods whose only NIC is a standalone eth0 in ``vlan`` (with an address of ``family``, when given)."""
    pods = [p.name for p in t.pods if t.attachments(p.name)[0].network is not None
            and t.attachments(p.name)[0].vlan.id == vlan and len(t.attachments(p.name)) == 1
            and (family is None or family in t.attachments(p.name)[0].families)]
    if not pods:
        kind = f" with IPv{family}" if family else ""
        raise NotApplicable(f"no single-NIC standalone pod{kind} in VLAN {vlan}")
    return pods


def _ipv4_underlay(t: Topology) -> None:
    """An IPv4 fault needs IPv4 pool addresses to break (an IPv6-only topology probes no IPv4 path of ours)."""
    if 4 not in t.ip_families:
        raise NotApplicable("no IPv4 pool: the pods' underlay is IPv6 only")


def _settle_ipv6(netns: str, ifname: str, timeout: float = 5.0) -> None:
    """Wait until no IPv6 address of ``ifname`` is tentative (duplicate address detection done), at most
    ``timeout`` seconds, as the CNI plugin waits after configuring them."""
    import time
    deadline = time.monotonic() + timeout
    while "tentative" in run(["ip", "-6", "addr", "show", "dev", ifname], netns=netns).stdout \
            and time.monotonic() < deadline:
        time.sleep(0.1)


def _switch_ports(target: LabTarget, node: str) -> list[str]:
    return [p.port for p in target.state.trunk_ports if p.node == node]


def _in_netns(pid: int, netns: str) -> bool:
    try:
        return os.readlink(f"/proc/{pid}/ns/net") == f"net:[{os.stat(f'/run/netns/{netns}').st_ino}]"
    except OSError:
        return False


# --- the catalogue -----------------------------------------------------------------------------------
class VlanRemovedFromTrunk(Fault):
    name = "vlan-removed-from-trunk"
    breaks = frozenset({"addressing.dad",
                        "intra-vlan.cross-node", "gateway.arp", "inter-vlan.routed", "inter-vlan.ttl-expiry",
                        "mtu.df-ping", "isolation.cross-vlan-arp", "isolation.broadcast", "addressing.unique-ip",
                        "addressing.ip-reuse", "host.node-reachability"})

    def _victim(self, t: Topology) -> tuple[str, int]:
        last = t.nodes[-1]
        used = [v for v in last.vlans if any(p.node == last.name and any(a.vlan and a.vlan.id == v
                                                                          for a in t.attachments(p.name)) for p in t.pods)]
        return last.name, _need(max(used, default=None), f"{last.name} has no pod in a tagged VLAN")

    def summary(self, t):
        node, vlan = self._victim(t)
        return f"VLAN {vlan} removed from {node}'s switch trunk ports"

    def place(self, t):
        node, vlan = self._victim(t)
        return {"kind": "node-vlan", "node": node, "vlan": vlan}

    def _set(self, target: LabTarget, removed: int | None) -> None:
        t = target.topology
        node, vlan = self._victim(t)
        trunks = ",".join(str(v) for v in [t.switch.native_vlan, *t.node(node).vlans] if v != removed)
        for port in _switch_ports(target, node):
            target.ovs.vsctl("set", "port", port, f"trunks={trunks}")

    def apply(self, target):
        self._set(target, self._victim(target.topology)[1])

    def revert(self, target):
        self._set(target, None)


class VlanifDown(Fault):
    name = "vlanif-down"
    breaks = frozenset({"gateway.arp", "inter-vlan.routed", "inter-vlan.ttl-expiry", "mtu.df-ping",
                        "host.node-reachability"})

    def summary(self, t):
        vlan = _tagged_routed_vlan(t)
        return f"vlanif{vlan} (the gateway of VLAN {vlan}) down on the switch"

    def place(self, t):
        return {"kind": "vlanif", "vlan": _tagged_routed_vlan(t)}

    def _set(self, target: LabTarget, state: str) -> None:
        run(["ip", "link", "set", f"vlanif{_tagged_routed_vlan(target.topology)}", state],
            netns=target.state.router_netns)

    def apply(self, target):
        self._set(target, "down")

    def revert(self, target):
        self._set(target, "up")


class RouterForwardingOff(Fault):
    name = "router-forwarding-off"
    breaks = frozenset({"inter-vlan.routed", "inter-vlan.ttl-expiry", "host.node-reachability"})

    def summary(self, t):
        _ipv4_underlay(t)
        return "IP forwarding off on the switch's routing function"

    def place(self, t):
        return {"kind": "router"}

    def families(self, t):
        return frozenset({4})

    def apply(self, target):
        run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=0"], netns=target.state.router_netns)

    def revert(self, target):
        run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"], netns=target.state.router_netns)


class RouterOneWayFilter(Fault):
    name = "router-one-way-filter"
    breaks = frozenset({"inter-vlan.routed"})
    TABLE = "macvlan_conformance_fault"

    def _families(self, t: Topology) -> list[tuple[int, object, object]]:
        """(family, source subnet, destination subnet) of every family both VLANs have."""
        a, b = t.vlan(_tagged_routed_vlan(t)), t.vlan(_other_routed_vlan(t))
        return [(f, a.subnet_of(f), b.subnet_of(f)) for f in (4, 6) if a.subnet_of(f) and b.subnet_of(f)]

    def summary(self, t):
        families = _need(self._families(t) or None, "the two tagged VLANs share no address family")
        return (f"the router drops forwarded {'/'.join(f'IPv{f}' for f, _, _ in families)} packets from VLAN "
                f"{_tagged_routed_vlan(t)} to VLAN {_other_routed_vlan(t)} (one way)")

    def families(self, t):
        return frozenset(f for f, _, _ in self._families(t))

    def place(self, t):
        return {"kind": "vlan-pair", "src_vlan": _tagged_routed_vlan(t), "dst_vlan": _other_routed_vlan(t)}

    def apply(self, target):
        rules = "".join(f"add rule inet {self.TABLE} forward {'ip' if f == 4 else 'ip6'} saddr {a} "
                        f"{'ip' if f == 4 else 'ip6'} daddr {b} drop\n" for f, a, b in self._families(target.topology))
        run(["nft", "-f", "-"], netns=target.state.router_netns, input=(
            f"add table inet {self.TABLE}\n"
            f"add chain inet {self.TABLE} forward {{ type filter hook forward priority 0 ; }}\n{rules}"))

    def revert(self, target):
        run(["nft", "delete", "table", "inet", self.TABLE], netns=target.state.router_netns, check=False)


class _Reattach(Fault):
    """Re-attach pods' eth0 with the real plugin and a changed config (``override``), and back."""

    def victims(self, t: Topology) -> list[str]:
        raise NotImplementedError

    def override(self, target: LabTarget) -> dict:
        raise NotImplementedError

    def _reattach(self, target: LabTarget, override: dict | None) -> None:
        factory = PodFactory(target.topology, target.state)
        for pod in self.victims(target.topology):
            factory.reattach(pod, "eth0", override)
        target.reload()

    def apply(self, target):
        self._reattach(target, self.override(target))

    def revert(self, target):
        self._reattach(target, None)


class MacvlanModePrivate(_Reattach):
    name = "macvlan-mode-private"
    breaks = frozenset({"allocation.interfaces", "intra-vlan.same-node"})

    def _network(self, t: Topology):
        """A standalone network with two pods on one node (so that private mode is observable)."""
        for net in t.networks:
            nodes = [p.node for p in t.pods if t.attachments(p.name)[0].network is net]
            if net.type == "standalone" and any(nodes.count(n) > 1 for n in nodes):
                return net
        raise NotApplicable("no standalone network has two pods on one node")

    def victims(self, t):
        net = self._network(t)
        return [p.name for p in t.pods if t.attachments(p.name)[0].network is net]

    def summary(self, t):
        return f"{self._network(t).ref} attached in macvlan private mode instead of bridge"

    def place(self, t):
        return {"kind": "network", "network": self._network(t).ref}

    def override(self, target):
        return {"mode": "private"}


class MasterInWrongVlan(_Reattach):
    name = "master-in-wrong-vlan"
    breaks = frozenset({"addressing.dad",
                        "allocation.interfaces", "intra-vlan.same-node", "intra-vlan.cross-node", "gateway.arp",
                        "inter-vlan.routed", "inter-vlan.ttl-expiry", "mtu.df-ping", "isolation.cross-vlan-arp",
                        "isolation.broadcast", "addressing.unique-ip", "addressing.ip-reuse",
                        "host.node-reachability"})

    def victims(self, t):
        return _standalone_pods(t, _tagged_routed_vlan(t))[:1]

    def _wrong_master(self, t: Topology) -> str:
        return f"{t.node(t.pod(self.victims(t)[0]).node).bond.name}.{_other_routed_vlan(t)}"

    def summary(self, t):
        return (f"{self.victims(t)[0]}'s eth0 attached to {self._wrong_master(t)} (VLAN {_other_routed_vlan(t)}) "
                f"instead of VLAN {_tagged_routed_vlan(t)}")

    def place(self, t):
        return {"kind": "pod-interface", "pod": self.victims(t)[0], "ifname": "eth0"}

    def override(self, target):
        return {"master": self._wrong_master(target.topology)}


class BondMemberDown(Fault):
    name = "bond-member-down"
    breaks = frozenset({"resilience.bond-member-down"})

    def summary(self, t):
        first = t.nodes[0]
        return (f"{first.name}'s {first.bond.members[0]} down (the bond fails over; only the redundancy is gone, "
                f"which the resilience check of {first.name} reports)")

    def place(self, t):
        return {"kind": "bond-member", "node": t.nodes[0].name, "member": t.nodes[0].bond.members[0]}

    def _set(self, target: LabTarget, up: bool) -> None:
        first = target.topology.nodes[0]
        target.set_bond_member(first.name, first.bond.members[0], up=up)

    def apply(self, target):
        self._set(target, False)

    def revert(self, target):
        self._set(target, True)


class BondBothDown(Fault):
    name = "bond-both-down"
    breaks = frozenset({"addressing.dad",
                        "intra-vlan.cross-node", "gateway.arp", "inter-vlan.routed", "inter-vlan.ttl-expiry",
                        "mtu.df-ping", "isolation.cross-vlan-arp", "isolation.broadcast", "isolation.own-master",
                        "overlay.coexistence", "addressing.unique-ip", "resilience.bond-member-down",
                        "addressing.ip-reuse", "host.node-reachability"})

    def summary(self, t):
        return f"both bond members of {t.nodes[-1].name} down: its underlay is cut off"

    def place(self, t):
        return {"kind": "node", "node": t.nodes[-1].name}  # the whole bond: the node's trunk

    def _set(self, target: LabTarget, state: str) -> None:
        for link in target.state.nodes[target.topology.nodes[-1].name].bond.members.values():
            run(["ip", "link", "set", link, state], netns=target.state.fabric_netns)
        target.ovs.appctl("revalidator/purge")

    def apply(self, target):
        self._set(target, "down")

    def revert(self, target):
        self._set(target, "up")


class _PodFault(Fault):
    """A fault on the first single-NIC standalone pod of the first tagged routed VLAN."""

    def victim(self, t: Topology) -> str:
        return _standalone_pods(t, _tagged_routed_vlan(t))[0]

    def place(self, t):
        return {"kind": "pod-interface", "pod": self.victim(t), "ifname": "eth0"}

    def _default_route(self, target: LabTarget, verb: str, every_family: bool = False) -> None:
        """``ip route <verb> default`` via the victim's first pool's gateway, or via each pool's (``every_family``)."""
        t, pod = target.topology, self.victim(target.topology)
        pools = t.attachments(pod)[0].pools if every_family else t.attachments(pod)[0].pools[:1]
        for pool in (p for p in pools if p.gateway):
            run(["ip", "route", verb, "default", "via", str(pool.gateway), "dev", "eth0"],
                netns=target.state.pods[pod].netns)


class PodInterfaceDown(_PodFault):
    name = "pod-interface-down"
    breaks = frozenset({"addressing.dad", "gateway.ra",
                        "allocation.interfaces", "intra-vlan.same-node", "intra-vlan.cross-node", "gateway.arp",
                        "inter-vlan.routed", "inter-vlan.ttl-expiry", "mtu.df-ping", "isolation.cross-vlan-arp",
                        "isolation.broadcast", "addressing.unique-ip", "addressing.ip-reuse",
                        "host.node-reachability"})

    def summary(self, t):
        return f"{self.victim(t)}'s eth0 down (it is also a broadcast sender: that check turns inconclusive)"

    def breaks_on(self, t):
        """With IPv6 the NIC loses its IPv6 address (a pod flushes it on link down), which network-status still
        lists: network-status.consistent fails too."""
        ipv6 = 6 in t.attachments(self.victim(t))[0].families
        return self.breaks | ({"network-status.consistent"} if ipv6 else set())

    def apply(self, target):
        run(["ip", "link", "set", "eth0", "down"], netns=target.state.pods[self.victim(target.topology)].netns)

    def revert(self, target):
        """The link up again as the CNI left it: a link that went down lost its routes and its IPv6 addresses
        (``keep_addr_on_down`` is off in a pod, as the macvlan plugin leaves it), which come back through duplicate
        address detection."""
        pod = target.state.pods[self.victim(target.topology)]
        run(["ip", "link", "set", "eth0", "up"], netns=pod.netns)
        for address in pod.interface("eth0").ips:
            run(["ip", "addr", "replace", address, "dev", "eth0"], netns=pod.netns)
        _settle_ipv6(pod.netns, "eth0")
        self._default_route(target, "replace", every_family=True)


class PodDefaultRouteRemoved(_PodFault):
    name = "pod-default-route-removed"
    breaks = frozenset({"allocation.interfaces", "inter-vlan.routed", "inter-vlan.ttl-expiry",
                        "host.node-reachability"})

    def summary(self, t):
        pod = self.victim(t)
        _need(t.attachments(pod)[0].pool.gateway, f"{pod}'s pool has no gateway, so it has no default route to remove")
        return f"{pod}'s default route removed"

    def families(self, t):
        return frozenset({t.attachments(self.victim(t))[0].pool.family})  # the route of its first pool's family

    def apply(self, target):
        self._default_route(target, "del")

    def revert(self, target):
        self._default_route(target, "replace")


class SwitchPortMtuLowered(Fault):
    name = "switch-port-mtu-lowered"
    breaks = frozenset({"mtu.df-ping"})
    MTU = 1400

    def summary(self, t):
        return f"MTU {self.MTU} on {t.nodes[-1].name}'s switch ports (the rest of the path is {t.switch.mtu})"

    def place(self, t):
        return {"kind": "switch-port", "node": t.nodes[-1].name}

    def _set(self, target: LabTarget, mtu: int) -> None:
        for port in _switch_ports(target, target.topology.nodes[-1].name):
            run(["ip", "link", "set", port, "mtu", str(mtu)], netns=target.state.fabric_netns)

    def apply(self, target):
        self._set(target, self.MTU)

    def revert(self, target):
        self._set(target, target.topology.switch.mtu)


class DuplicateIp(Fault):
    name = "duplicate-ip"
    breaks = frozenset({"addressing.unique-ip"})
    version = 4

    def families(self, t):
        return frozenset({self.version})

    def _victims(self, t: Topology) -> tuple[str, str, int]:
        """The owner is a pod of the addressing.ip-reuse drill only where no other pod of the VLAN can be: their
        pings go through the kernel's neighbour table, which a duplicate of their own address can poison."""
        vlan = _tagged_routed_vlan(t)
        drill = {pod for case in ex.ip_reuse_cases(t) for pod in (case.src.pod, case.dst.pod)}
        pods = _standalone_pods(t, vlan, self.version)
        owner = next((pod for pod in reversed(pods) if pod not in drill), pods[-1])
        node = next((n.name for n in t.nodes if n.name != t.pod(owner).node), t.nodes[0].name)
        return owner, node, vlan

    def summary(self, t):
        owner, node, vlan = self._victims(t)
        how = "ARP" if self.version == 4 else "Neighbor Solicitations and DAD probes"
        return (f"a host on {node} also claims {owner}'s IPv{self.version} address in VLAN {vlan} (answering {how} "
                f"200 ms after the owner)")

    def place(self, t):
        return {"kind": "address", "pod": self._victims(t)[0], "ifname": "eth0"}

    def apply(self, target):
        owner, node_name, vlan = self._victims(target.topology)
        address = target.endpoint_ip(f"{owner}/eth0", self.version)
        if address is None:
            raise RuntimeError(f"{self.name}: {owner}/eth0 has no IPv{self.version} address in its network-status "
                               f"to duplicate")
        try:
            self._claim(target, node_name, vlan, address)
        except BaseException:
            self.revert(target)  # a half-staged duplicate leaves nothing behind
            raise

    def _claim(self, target: LabTarget, node_name: str, vlan: int, address: str) -> None:
        netns, node = f"{target.names.ns_prefix}dup", target.state.nodes[node_name]
        run(["ip", "netns", "add", netns])
        run(["ip", "link", "add", "dup0", "link", node.masters[vlan], "type", "macvlan", "mode", "bridge"],
            netns=node.netns)
        run(["ip", "link", "set", "dup0", "netns", netns], netns=node.netns)
        run(["ip", "link", "set", "dup0", "up"], netns=netns)
        responder = subprocess.Popen(
            in_netns(netns, [sys.executable, "-m", "macvlan_conformance.agent.arp_responder", "--ip", address,
                             "--iface", "dup0"]),
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True, text=True,
            cwd=str(Path(__file__).resolve().parent.parent))
        _await_ready(responder)

    def revert(self, target):
        netns = f"{target.names.ns_prefix}dup"
        cleanup.stop_pids([pid for pid in cleanup.owned_pids(target.state.name) if _in_netns(pid, netns)])
        cleanup.delete_namespaces([netns])


def _await_ready(proc: subprocess.Popen) -> None:
    """Wait for the responder's ``ready`` line (its capture is open); a dead or mute one is an error."""
    import select
    ready, _, _ = select.select([proc.stdout], [], [], RESPONDER_READY_S)
    line = proc.stdout.readline() if ready else ""
    proc.stdout.close()
    if line.strip() != "ready":
        proc.kill()
        raise RuntimeError(f"the duplicate-IP responder did not start within {RESPONDER_READY_S:.0f} s "
                           f"(exit status {proc.poll()})")


from .faults_addressing import CoordinatorHostRouteRemoved, GratuitousArpDropped  # noqa: E402  (they build on Fault)
from .faults_ipv6 import (DuplicateIpv6, Icmpv6FilteredOnRouter, RogueRouterAdvertisement,  # noqa: E402
                          RouterIpv6ForwardingOff)

FAULTS: tuple[Fault, ...] = (
    VlanRemovedFromTrunk(), VlanifDown(), RouterForwardingOff(), MacvlanModePrivate(), BondMemberDown(),
    BondBothDown(), PodInterfaceDown(), PodDefaultRouteRemoved(), SwitchPortMtuLowered(), RouterOneWayFilter(),
    DuplicateIp(), MasterInWrongVlan(), GratuitousArpDropped(), CoordinatorHostRouteRemoved(),
    RouterIpv6ForwardingOff(), RogueRouterAdvertisement(), DuplicateIpv6(), Icmpv6FilteredOnRouter(),
)
NAMES = tuple(f.name for f in FAULTS)


def catalogue(t: Topology) -> dict[str, Fault]:
    """The faults that apply to topology ``t``, by name. Raises ``ValueError`` for a topology without pods
    (each fault declares what it breaks from the pods it affects)."""
    if not t.pods:
        raise ValueError(f"topology {t.name} has no pods: the fault catalogue needs pods to break and probe")
    return {f.name: f for f in FAULTS if f.applies(t) is None}


def not_applicable(t: Topology) -> dict[str, str]:
    """The faults that cannot be staged on ``t``, with the reason."""
    return {f.name: reason for f in FAULTS if (reason := f.applies(t)) is not None}
