"""Faults of IPv6 underlays (the catalogue itself is ``faults.FAULTS``): the router stops forwarding IPv6 or filters
ICMPv6, a rogue router advertises itself, an address is claimed twice. Same contract as every ``faults.Fault``;
each breaks IPv6 cases only (``families``) and applies only where the topology's pools serve IPv6."""

from __future__ import annotations

import sys
from pathlib import Path

from .faults import DuplicateIp, Fault, NotApplicable, _tagged_routed_vlan
from .lab import cleanup
from .lab.commands import in_netns, run
from .lab.target import LabTarget
from .topology import Topology

IPV6 = frozenset({6})


def _ipv6_underlay(t: Topology) -> None:
    if 6 not in t.ip_families:
        raise NotApplicable("no IPv6 pool: the pods' underlay is IPv4 only")


class _Ipv6Fault(Fault):
    def families(self, t: Topology) -> frozenset[int]:
        return IPV6


class RouterIpv6ForwardingOff(_Ipv6Fault):
    """IPv6 forwarding off on the switch's routing function (IPv4 keeps forwarding): the vlanifs still answer for
    their gateways, routed IPv6 is dropped and hop-limit-1 packets are no longer answered with time-exceeded."""

    name = "router-ipv6-forwarding-off"
    breaks = frozenset({"inter-vlan.routed", "inter-vlan.ttl-expiry"})

    def summary(self, t):
        _ipv6_underlay(t)
        return "IPv6 forwarding off on the switch's routing function (IPv4 still forwarded)"

    def place(self, t):
        return {"kind": "router"}

    def apply(self, target):
        run(["sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=0"], netns=target.state.router_netns)

    def revert(self, target):
        run(["sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1"], netns=target.state.router_netns)


class Icmpv6FilteredOnRouter(_Ipv6Fault):
    """The router drops every ICMPv6 message it receives, forwards or sends (a firewall written as for IPv4,
    where ICMP is optional): Neighbor Discovery with the gateway, routed echo, time-exceeded and the gateway's
    echo replies all stop. IPv4 and same-VLAN IPv6 are untouched."""

    name = "icmpv6-filtered-on-router"
    breaks = frozenset({"gateway.arp", "inter-vlan.routed", "inter-vlan.ttl-expiry", "mtu.df-ping"})
    TABLE = "macvlan_conformance_icmpv6"

    def summary(self, t):
        _ipv6_underlay(t)
        return "the router's firewall drops all ICMPv6 (input, forward and output), Neighbor Discovery included"

    def place(self, t):
        return {"kind": "router"}

    def apply(self, target):
        chains = "".join(f"add chain ip6 {self.TABLE} {hook} {{ type filter hook {hook} priority 0 ; }}\n"
                         f"add rule ip6 {self.TABLE} {hook} meta l4proto icmpv6 drop\n"
                         for hook in ("input", "forward", "output"))
        run(["nft", "-f", "-"], netns=target.state.router_netns, input=f"add table ip6 {self.TABLE}\n{chains}")

    def revert(self, target):
        run(["nft", "delete", "table", "ip6", self.TABLE], netns=target.state.router_netns, check=False)


class DuplicateIpv6(_Ipv6Fault, DuplicateIp):
    """A host on another node also claims a pod's IPv6 address (answering its Neighbor Solicitations, duplicate
    address detection's too, 200 ms after the owner and without the Override flag)."""

    name = "duplicate-ipv6"
    breaks = frozenset({"addressing.unique-ip", "addressing.dad"})
    version = 6

    def summary(self, t):
        _ipv6_underlay(t)
        return DuplicateIp.summary(self, t)


ROGUE_PREFIX = "fd00:bad::"   # the prefix the rogue router announces for SLAAC
RA_SCRIPT = """
import sys
from scapy.all import conf, get_if_hwaddr, sendp
from scapy.layers.inet6 import (ICMPv6ND_RA, ICMPv6NDOptPrefixInfo, ICMPv6NDOptSrcLLAddr, IPv6)
from scapy.layers.l2 import Ether
from scapy.utils6 import in6_mactoifaceid
conf.verb = 0
iface, lifetime, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
mac = get_if_hwaddr(iface)
source = "fe80::" + in6_mactoifaceid(mac)
ra = (Ether(src=mac, dst="33:33:00:00:00:01") / IPv6(src=source, dst="ff02::1", hlim=255)
      / ICMPv6ND_RA(routerlifetime=lifetime, prf=3) / ICMPv6NDOptSrcLLAddr(lladdr=mac)
      / ICMPv6NDOptPrefixInfo(prefix=prefix, prefixlen=64, L=1, A=1, validlifetime=lifetime,
                              preferredlifetime=lifetime))
sendp([ra] * 3, iface=iface, inter=0.05)
"""


class RogueRouterAdvertisement(_Ipv6Fault):
    """A host on a node announces itself as an IPv6 router in a VLAN (router advertisements with a default router
    lifetime and a SLAAC prefix): the pods of that VLAN, which accept router advertisements as every Linux host
    does, learn a second default route and an address no pool gave them. The advertisement says "low" preference,
    so the pools' routes still win and only gateway.ra sees it; the revert withdraws it (lifetime 0) and removes
    what the pods learned."""

    name = "rogue-router-advertisement"
    breaks = frozenset({"gateway.ra"})
    LIFETIME_S = 1800

    def _victim(self, t: Topology) -> tuple[int, str]:
        _ipv6_underlay(t)
        vlan = _tagged_routed_vlan(t)
        if t.vlan(vlan).subnet6 is None:
            raise NotApplicable(f"VLAN {vlan} has no IPv6 subnet")
        return vlan, t.nodes[-1].name

    def summary(self, t):
        vlan, node = self._victim(t)
        return f"a rogue router on {node} advertises itself (and prefix {ROGUE_PREFIX}/64) in VLAN {vlan}"

    def place(self, t):
        return {"kind": "vlan", "vlan": self._victim(t)[0]}  # its advertisements reach the whole VLAN, any node

    def _netns(self, target: LabTarget) -> str:
        return f"{target.names.ns_prefix}rogue-ra"

    def _advertise(self, target: LabTarget, lifetime: int) -> None:
        run(in_netns(self._netns(target), [sys.executable, "-c", RA_SCRIPT, "ra0", str(lifetime), ROGUE_PREFIX]))

    def apply(self, target):
        vlan, node_name = self._victim(target.topology)
        netns, node = self._netns(target), target.state.nodes[node_name]
        try:
            run(["ip", "netns", "add", netns])
            run(["ip", "link", "add", "ra0", "link", node.masters[vlan], "type", "macvlan", "mode", "bridge"],
                netns=node.netns)
            run(["ip", "link", "set", "ra0", "netns", netns], netns=node.netns)
            run(["ip", "link", "set", "ra0", "up"], netns=netns)
            self._advertise(target, self.LIFETIME_S)
        except BaseException:
            run(["ip", "link", "del", "ra0"], netns=node.netns, check=False)  # if it never left the node
            try:
                self.revert(target)
            except Exception:  # noqa: BLE001  (the apply's own error is the one to see)
                pass
            raise

    def revert(self, target):
        """Withdraw the advertisement (router lifetime 0), remove the rogue, and sweep what every host of the VLAN
        learned from it, pods and the nodes' VLAN masters alike (RFC 4862's two-hour rule keeps a withdrawn
        prefix's addresses; a lost withdrawal would keep the default routes too)."""
        vlan, _ = self._victim(target.topology)
        netns = self._netns(target)
        if Path(f"/run/netns/{netns}").exists():
            try:
                self._advertise(target, 0)
            finally:
                cleanup.delete_namespaces([netns])
        hosts = [(pod.netns, i.ifname) for pod in target.state.pods.values() for i in pod.interfaces
                 if i.vlan == vlan and i.network_ref]
        hosts += [(node.netns, node.masters[vlan]) for node in target.state.nodes.values() if vlan in node.masters]
        for host_netns, ifname in hosts:
            run(["ip", "-6", "route", "flush", "dev", ifname, "proto", "ra"], netns=host_netns, check=False)
            run(["ip", "-6", "route", "del", f"{ROGUE_PREFIX}/64", "dev", ifname], netns=host_netns, check=False)
            run(["ip", "-6", "addr", "flush", "dev", ifname, "scope", "global", "dynamic"], netns=host_netns,
                check=False)
