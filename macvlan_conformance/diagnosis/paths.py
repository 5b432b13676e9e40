"""What each result bears on: the places its traffic (or its facts) depend on, derived from the case's
endpoints and the topology, never from which fault broke what.

A place is a *token*, a tuple naming one part of the network and one way it can break:

| token | the part, and how it breaks |
| --- | --- |
| ``("if", pod, ifname)`` | a pod interface is down or detached: nothing goes in or out |
| ``("if-vlan", pod, ifname)`` | a pod interface sits in another VLAN's broadcast domain |
| ``("route", pod, ifname, f)`` | the pod cannot route off its subnet through that interface (default route) |
| ``("if-mode", pod, ifname)`` | the interface's macvlan mode stops siblings on its master talking (not bridge) |
| ``("net-down" / "net-vlan" / "net-mode" / "net-mtu", network)`` | the same for every interface of a network |
| ``("node-vlan", node, vid)`` | the VLAN does not cross that node's trunk (switch ports or bond) |
| ``("master", node, vid)`` | the node's master ``bond0.<vid>`` is down: its siblings are cut off as well |
| ``("node", node)`` | nothing crosses the node's trunk (both bond members, or its switch ports) |
| ``("bond", node)`` | the node's bond is down on the node side: every master, siblings included |
| ``("member", node, nic)`` | one bond member does not carry traffic: the bond has no redundancy left |
| ``("port-mtu", node)`` | full-size frames do not cross the node's link to the switch |
| ``("vlanif", vid)`` / ``("vlanif-mtu", vid)`` | the VLAN's gateway is down / drops full-size frames |
| ``("gateway", vid, f)`` | the vlanif does not hold (answer for) the VLAN's gateway address of family f |
| ``("gateway-ip", vid, f)`` | someone else answers (too) for the VLAN's gateway address |
| ``("router", f)`` / ``("router-filter", f)`` | the router does not forward / drops every forwarded packet |
| ``("icmp-filter", f)`` | the router drops the ICMP it receives, forwards or sends (ICMPv6: Neighbor Discovery too) |
| ``("pair", a, b, f)`` | the router drops traffic between VLANs a < b (one way suffices: an echo needs both) |
| ``("pair-1", a, b, f)`` | the router drops what VLAN a starts towards VLAN b only (a stateful filter) |
| ``("l2-leak", a, b)`` | VLANs a < b are one broadcast domain |
| ``("address", pod, ifname, f)`` | another host claims the interface's address |
| ``("ra", vid)`` | a router advertises itself (IPv6 router advertisements) in the VLAN |
| ``("overlay",)``, ``("admission",)``, ``("pod", pod)`` | the overlay; the attachment rules; one pod's facts |
| ``("host-route", pod)`` | the coordinator's veth0 path between the pod and its node (the node's route back) |
| ``("announce",)`` | gratuitous ARP does not reach other nodes: peers keep a moved address's old MAC |

Address families: links (interfaces, trunks, bonds, ports, macvlan modes, VLAN membership, vlanifs) carry
both; what is configured per family (the pods' default routes, addresses and gateway addresses, the router's
forwarding and filters) is a *family-specific* token (``FAMILY_KINDS``), whose last element is the family:
``None`` for every family, and on a topology of several families (``Paths.dual``) also 4 or 6 for that
family's own. A result bears on both, so an IPv6-only failure is explained by the family's own token while
the passes of the other family contradict the token of every family.

A result that *passed* bears on every place that would have made it fail: it contradicts them. A *silent*
failure bears on the places along its path. A *wrong* answer bears only on the places that can produce
one: an asker or target in the wrong broadcast domain, a duplicate address, two VLANs bridged.
A negative check (isolation, no route, no gateway) passes or is left inconclusive on its positive
control's path, and breaches through the places that can leak.
"""

from __future__ import annotations

import re

from .. import expectations as ex
from ..topology import Topology

Token = tuple

FAMILY_KINDS = frozenset({"route", "gateway", "gateway-ip", "router", "router-filter", "icmp-filter", "pair",
                          "pair-1", "address"})

_ALREADY_DOWN = re.compile(r"(\S+) was already down before the check")
_LEAKED = re.compile(r"leaked to (.+)$")


def family(token: Token) -> int | None:
    """The family a token is specific to (4, 6); None for a link, or a family-specific token of every family."""
    return token[-1] if token[0] in FAMILY_KINDS else None


class Paths:
    """The topology's endpoints and where each result's traffic goes."""

    def __init__(self, topology: Topology):
        self.topology = topology
        self.endpoints = {e.key: e for e in ex.endpoints(topology)}
        self.by_pod: dict[str, list[ex.Endpoint]] = {}
        for e in self.endpoints.values():
            self.by_pod.setdefault(e.pod, []).append(e)
        self.native = topology.switch.native_vlan
        self.members = {n.name: list(n.bond.members) for n in topology.nodes}
        self.dual = len(topology.ip_families) > 1

    # --- families -------------------------------------------------------------------------------
    def af(self, *token, family: int) -> set[Token]:
        """A family-specific element: the token of every family, and (several families) that of ``family``."""
        return {(*token, None), (*token, family)} if self.dual else {(*token, None)}

    def own(self, *token, family: int) -> set[Token]:
        """A family-specific element whose every-family token is another place's (a vlanif's gateway address:
        the vlanif): that of ``family`` alone, on a topology of several families."""
        return {(*token, family)} if self.dual else set()

    # --- segments -------------------------------------------------------------------------------
    def l2(self, a: ex.Endpoint, b: ex.Endpoint) -> set[Token]:
        """Two interfaces of one VLAN: on one node the master switches between siblings (bridge mode); across
        nodes the frames go through both trunks."""
        tokens = {("if", a.pod, a.ifname), ("if", b.pod, b.ifname), ("if-vlan", a.pod, a.ifname),
                  ("if-vlan", b.pod, b.ifname)}
        if a.node == b.node:
            return tokens | {("if-mode", a.pod, a.ifname), ("if-mode", b.pod, b.ifname),
                             ("master", a.node, a.vlan), ("bond", a.node)}
        return tokens | self.trunk(a.node, a.vlan) | self.trunk(b.node, b.vlan)

    def trunk(self, node: str, vlan: int | None) -> set[Token]:
        tokens = {("node", node)}
        return tokens | {("node-vlan", node, vlan)} if vlan is not None else tokens

    def gateway(self, a: ex.Endpoint, f: int = 4) -> set[Token]:
        """An interface to its VLAN's vlanif in family ``f``: out of the pod, over its node's trunk, to the
        switch, and the vlanif's gateway address of that family."""
        return ({("if", a.pod, a.ifname), ("if-vlan", a.pod, a.ifname), ("vlanif", a.vlan)}
                | self.trunk(a.node, a.vlan) | self.own("gateway", a.vlan, family=f))

    def routed(self, a: ex.Endpoint, b: ex.Endpoint, f: int = 4) -> set[Token]:
        """An echo between VLANs: each end to its own vlanif, the router's forwarding (and filters) both ways,
        and each pod's default route (the reply goes off-subnet too), all in family ``f``."""
        low, high = sorted((a.vlan, b.vlan))
        return (self.gateway(a, f) | self.gateway(b, f) | self.af("router", family=f)
                | self.af("router-filter", family=f) | self.af("icmp-filter", family=f)
                | self.af("pair", low, high, family=f) | self.af("pair-1", a.vlan, b.vlan, family=f)
                | self.af("route", a.pod, a.ifname, family=f) | self.af("route", b.pod, b.ifname, family=f))

    def ttl(self, a: ex.Endpoint, b: ex.Endpoint, f: int = 4) -> set[Token]:
        """A TTL=1 probe: to the source's vlanif, which must route towards the destination's VLAN (a down
        vlanif there, or its gateway address of the family missing, takes its route away), forward at all and
        send time-exceeded (ICMP); it expires before any forwarding filter."""
        return (self.gateway(a, f) | {("vlanif", b.vlan)} | self.own("gateway", b.vlan, family=f)
                | self.af("router", family=f) | self.af("icmp-filter", family=f)
                | self.af("route", a.pod, a.ifname, family=f))

    def mtu(self, a: ex.Endpoint, f: int = 4) -> set[Token]:
        """A full-size DF ping (ICMP) to the gateway: the gateway path, and every MTU along it."""
        return self.gateway(a, f) | self.af("icmp-filter", family=f) | {
            ("port-mtu", a.node), ("vlanif-mtu", a.vlan), ("if-mtu", a.pod, a.ifname)}

    def overlay(self, a: ex.Endpoint, b: ex.Endpoint) -> set[Token]:
        """Overlay eth0 to eth0: across nodes it rides the nodes' own addresses on the native VLAN."""
        tokens = {("overlay",), ("if", a.pod, a.ifname), ("if", b.pod, b.ifname)}
        if a.node == b.node:
            return tokens
        return tokens | self.trunk(a.node, self.native) | self.trunk(b.node, self.native)

    def master_ip(self, control: ex.Case) -> set[Token]:
        """A pod on another node pings a node's own address (its bond, the native VLAN): both trunks."""
        node = control.target.split()[-1] if control.target else control.src.node
        return ({("if", control.src.pod, control.src.ifname), ("if-vlan", control.src.pod, control.src.ifname)}
                | self.trunk(control.src.node, control.src.vlan) | self.trunk(node, self.native))

    def leak(self, a: ex.Endpoint, b: ex.Endpoint | None, vlan: int | None) -> set[Token]:
        """What can make VLAN a hear VLAN b: either end in the wrong domain, or the two VLANs bridged."""
        tokens = {("if-vlan", a.pod, a.ifname)}
        if b is not None:
            tokens.add(("if-vlan", b.pod, b.ifname))
        if vlan is not None and a.vlan is not None and vlan != a.vlan:
            tokens.add(("l2-leak", *sorted((a.vlan, vlan))))
        return tokens

    def endpoint(self, key: str) -> ex.Endpoint | None:
        return self.endpoints.get(key)
