"""A small simulator of the lab's network, to synthesize a run's records under any fault (also faults the
catalogue never stages), for the diagnosis tests.

It is written independently of ``macvlan_conformance.diagnosis``: it knows nothing of places or tokens,
only how frames move. A frame leaves a pod interface that is up into the broadcast domain of the VLAN
its master is really in; on one node, siblings of a master in bridge mode switch it between them; across
nodes it needs both nodes' trunks to carry that VLAN; a vlanif that is up answers ARP for any address
the router owns (Linux's default; IPv6 Neighbor Discovery answers for the vlanif's own addresses only);
the router forwards when forwarding is on and no filter drops the packet; a reply needs the way back.
Routing is per address family (each case probes one, ``Case.ip_version``): forwarding, filters, the
gateway addresses, the pods' default routes and addresses; links carry every family. The records it
writes have the shape fixtures/results.py writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from macvlan_conformance import checks
from macvlan_conformance import expectations as ex
from macvlan_conformance.topology import Topology
from macvlan_conformance.verdicts import Verdict

FULL = 1500


@dataclass
class Net:
    """The state of the network: healthy unless a field says otherwise. A field of a family-specific element
    (a filter, a claim, a default route) holds it for every family, or (its entries' last item) for one."""

    down: set = field(default_factory=set)             # "pod/ifname" links down
    elsewhere: dict = field(default_factory=dict)      # "pod/ifname" -> the VLAN it is really in
    no_default_route: set = field(default_factory=set)  # pods, or (pod, family)
    private: set = field(default_factory=set)          # "pod/ifname" attached in private mode
    members_down: set = field(default_factory=set)     # (node, nic)
    trunk_without: set = field(default_factory=set)    # (node, vid): not on that node's switch ports
    masters_down: set = field(default_factory=set)     # (node, vid): bond0.<vid> down on the node
    vlanifs_down: set = field(default_factory=set)     # vids
    extra_vlanifs: set = field(default_factory=set)    # vids routed although the topology gives them no vlanif
    forwarding: bool = True
    forwarding_off: set = field(default_factory=set)   # families the router does not forward
    icmp_filtered: set = field(default_factory=set)    # families whose ICMP the router drops (ICMPv6: ND too)
    gateways_missing: set = field(default_factory=set)  # (vid, family): the vlanif lacks that gateway address
    drops: set = field(default_factory=set)            # (src vid, dst vid[, family]): stateless forward filter
    new_drops: set = field(default_factory=set)        # (src vid, dst vid[, family]): drops only what src starts
    port_mtu: dict = field(default_factory=dict)       # node -> MTU of its link to the switch
    vlanif_mtu: dict = field(default_factory=dict)     # vid -> MTU
    claimed: dict = field(default_factory=dict)        # "pod/ifname" or ("pod/ifname", family) -> node of a host
                                                       # claiming its address too
    announcements_dropped: bool = False                 # gratuitous ARP does not leave its node
    host_route_missing: set = field(default_factory=set)  # pods whose node lost the coordinator's route back
    rogue_ra: set = field(default_factory=set)          # vids where a router advertises itself (IPv6)


def holds(entries, item: tuple, f: int) -> bool:
    """Whether ``entries`` hold ``item`` for every family or for family ``f``."""
    return item in entries or (*item, f) in entries


class Sim:
    def __init__(self, topology: Topology, net: Net):
        self.t, self.n = topology, net
        self.eps = {e.key: e for e in ex.endpoints(topology)}
        self.routed = set(topology.routed_vlans) | net.extra_vlanifs

    # --- frames ---------------------------------------------------------------------------------
    def vlan(self, e) -> int | None:
        return self.n.elsewhere.get(e.key, e.vlan)

    def up(self, e) -> bool:
        return e.key not in self.n.down and (e.vlan is None or (e.node, self.vlan(e)) not in self.n.masters_down)

    def carries(self, node: str, vid) -> bool:
        members = self.t.node(node).bond.members
        if all((node, m) in self.n.members_down for m in members):
            return False
        return (node, vid) not in self.n.trunk_without and (node, vid) not in self.n.masters_down

    def l2(self, a, b) -> bool:
        if not (self.up(a) and self.up(b)) or self.vlan(a) != self.vlan(b):
            return False
        if a.node == b.node:
            return a.key not in self.n.private and b.key not in self.n.private
        return self.carries(a.node, self.vlan(a)) and self.carries(b.node, self.vlan(b))

    def to_vlanif(self, a, size: int = 0, f: int = 4) -> bool:
        """a's frames reach the vlanif of the VLAN a really is in (and back), which holds its gateway of ``f``."""
        vid = self.vlan(a)
        ok = self.up(a) and vid in self.routed and vid not in self.n.vlanifs_down and self.carries(a.node, vid) \
            and (vid, f) not in self.n.gateways_missing
        return ok and size <= min(self.n.port_mtu.get(a.node, FULL), self.n.vlanif_mtu.get(vid, FULL))

    def gateway_mac_owner(self, a, f: int = 4) -> int | None:
        """Who answers a's ARP (IPv6: Neighbor Solicitation) for its gateway: the vlanif of the VLAN a really is
        in (for IPv4 the router answers for any of its addresses, for IPv6 for the vlanif's own), or nobody."""
        if f == 6 and (6 in self.n.icmp_filtered or self.vlan(a) != a.vlan):
            return None
        return self.vlan(a) if self.to_vlanif(a, f=f) else None

    def has_route(self, e, f: int) -> bool:
        return e.pod not in self.n.no_default_route and (e.pod, f) not in self.n.no_default_route

    def forwards(self, f: int, icmp: bool = True) -> bool:
        """The router forwards family ``f`` (an ICMP packet: unless its ICMP is filtered)."""
        return self.n.forwarding and f not in self.n.forwarding_off and not (icmp and f in self.n.icmp_filtered)

    def routed_ok(self, a, b, f: int = 4) -> bool:
        """An echo a -> b and its reply in family ``f``: both ends in their own VLAN, default routes, vlanifs,
        forwarding, no filter."""
        ends = all(self.has_route(e, f) and self.vlan(e) == e.vlan and self.to_vlanif(e, f=f) for e in (a, b))
        filters = not holds(self.n.drops, (a.vlan, b.vlan), f) and not holds(self.n.drops, (b.vlan, a.vlan), f)
        return ends and self.forwards(f) and filters and not holds(self.n.new_drops, (a.vlan, b.vlan), f)

    def answers(self, asker, target, f: int = 4) -> list[str]:
        """The interfaces answering asker's ARP (IPv6: Neighbor Solicitation) for target's address of ``f``:
        target, its pod's other interfaces in the asker's domain (Linux answers for any of its addresses), a
        host claiming it too."""
        found = [e.key for e in self.eps.values() if e.pod == target.pod and e.vlan is not None
                 and self.l2(asker, e)]
        claimer = self.n.claimed.get(target.key) or self.n.claimed.get((target.key, f))
        same_domain = claimer == asker.node or (self.carries(asker.node, target.vlan)
                                                and self.carries(claimer or asker.node, target.vlan))
        if claimer and self.up(asker) and self.vlan(asker) == target.vlan and same_domain:
            found.append("claimer")
        return found

    # --- checks ---------------------------------------------------------------------------------
    def case(self, c: ex.Case) -> tuple[str, str, dict]:
        """(outcome, observed, extra record fields) of one probed case."""
        return getattr(self, "_" + c.check.replace(".", "_").replace("-", "_"))(c)

    def _echo(self, ok: bool, a) -> tuple[str, str, dict]:
        if ok:
            return "passed", "", {}
        if not self.up(a):
            return "failed", Verdict.PROBE_ERROR.value, {"detail": f"the probe failed: {a.pod}: Network is down"}
        return "failed", Verdict.NO_ARP_REPLY.value, {}

    def _intra_vlan_same_node(self, c):
        return self._echo(self.l2(c.src, c.dst), c.src)

    _intra_vlan_cross_node = _intra_vlan_same_node

    def _inter_vlan_routed(self, c):
        f = c.ip_version
        if c.expected == Verdict.BLOCKED:
            return self._negative(self.routed_ok(c.src, c.dst, f), self.l2(c.control.src, c.control.dst),
                                  Verdict.REACHABLE_ROUTED)
        if not self.has_route(c.src, f):
            return "failed", Verdict.NO_ROUTE.value, {}
        if not self.up(c.src):
            return self._echo(False, c.src)
        return ("passed", "", {}) if self.routed_ok(c.src, c.dst, f) else ("failed", Verdict.BLOCKED.value, {})

    def _inter_vlan_ttl_expiry(self, c):
        a, f = c.src, c.ip_version
        if not self.has_route(a, f):
            return "failed", Verdict.NO_ROUTE.value, {}
        ok = self.vlan(a) == a.vlan and self.to_vlanif(a, f=f) and self.forwards(f) \
            and c.dst.vlan not in self.n.vlanifs_down and (c.dst.vlan, f) not in self.n.gateways_missing
        return ("passed", "", {}) if ok else self._echo(False, a)

    def _gateway_arp(self, c):
        if c.control is not None:
            return self._negative(self.to_vlanif(c.src, f=c.ip_version), self.l2(c.control.src, c.control.dst),
                                  Verdict.ARP_FROM_VLANIF)
        owner = self.gateway_mac_owner(c.src, c.ip_version)
        if owner == c.src.vlan:
            return "passed", "", {}
        if owner is not None:
            return "failed", Verdict.ARP_OTHER.value, {"detail": f"answered by the vlanif of VLAN {owner}"}
        return self._echo(False, c.src)

    def _addressing_unique_ip(self, c):
        found = self.answers(c.src, c.dst, c.ip_version)
        if found == [c.dst.key]:
            return "passed", "", {}
        if found:
            return "failed", Verdict.ARP_OTHER.value, {"detail": f"answered by {found}"}
        return self._echo(False, c.src)

    def _addressing_dad(self, c):
        """The interface's address is tentative while its link is down; a peer's DAD probe is defended by
        whoever answers a Neighbor Solicitation for it."""
        e, peer = c.src, self.eps.get(c.params["peer"] or "")
        if not self.up(e):
            return "failed", Verdict.MISMATCH.value, {"detail": f"fd00::{e.pod} is tentative"}
        if peer is None:
            return "passed", "", {}
        found = self.answers(peer, e, 6)
        if found == [e.key]:
            return "passed", "", {}
        return "failed", Verdict.MISMATCH.value, {
            "detail": f"a DAD probe for fd00::{e.pod} from {peer.key} was defended by {found or 'nobody'} "
                      f"(expected {[e.key]})"}

    def _gateway_ra(self, c):
        """A router advertising in the VLAN the interface really is in teaches it a route."""
        e = c.src
        heard = self.up(e) and self.vlan(e) in self.n.rogue_ra
        return self._negative(heard, self.up(e), Verdict.MISMATCH,
                              {"detail": "route ::/0 via fe80::bad from a router advertisement"})

    def _negative(self, breached: bool, control_ok: bool, seen: Verdict, extra: dict | None = None):
        if breached:
            return "failed", seen.value, extra or {}
        if not control_ok:
            return "failed", Verdict.INCONCLUSIVE.value, {"detail": "positive control failed"}
        return "passed", "", {}

    def _isolation_cross_vlan_arp(self, c):
        if not self.up(c.src):
            return self._echo(False, c.src)
        return self._negative(bool(self.answers(c.src, c.dst, c.ip_version)), self.l2(c.control.src, c.control.dst),
                              Verdict.ARP_REPLY)

    def _isolation_broadcast(self, c):
        receivers = [self.eps[k] for k in c.params["receivers"]]
        broken = [e for e in [c.src, *receivers] if not self.up(e) and e.key in self.n.down]
        if broken:
            return "failed", Verdict.PROBE_ERROR.value, {"detail": f"the probe failed: {broken[0].pod}: down"}
        leaked = [r.key for r in receivers if self.l2(c.src, r)]
        seen = {"detail": f"leaked to {', '.join(leaked)}", "evidence": {"leaked_to": {k: 3 for k in leaked}}}
        return self._negative(bool(leaked), self.l2(c.control.src, c.control.dst), Verdict.SEEN, seen)

    def _isolation_own_master(self, c):
        ctl, node = c.control.src, c.control.target.split()[-1]
        native = self.t.switch.native_vlan
        ok = self.up(ctl) and self.carries(ctl.node, self.vlan(ctl)) and self.carries(node, native)
        return self._negative(False, ok, Verdict.REACHABLE)

    def _addressing_ip_reuse(self, c):
        if not self.l2(c.src, c.dst):
            return "failed", Verdict.INCONCLUSIVE.value, {"detail": "positive control failed"}
        stale = self.n.announcements_dropped and c.src.node != c.dst.node
        return ("failed", Verdict.BLOCKED.value, {}) if stale else ("passed", "", {})

    def _host_node_reachability(self, c):
        a, node, native = c.src, c.params["node"], self.t.switch.native_vlan
        if c.params["dev"] == "veth0":
            return ("failed", Verdict.BLOCKED.value, {}) if a.pod in self.n.host_route_missing else ("passed", "", {})
        if c.expected == Verdict.BLOCKED:
            ctl = c.control.src
            ok = self.up(ctl) and self.carries(ctl.node, self.vlan(ctl)) and self.carries(node, native)
            return self._negative(False, ok, Verdict.REACHABLE)
        if c.expected == Verdict.REACHABLE_L2:
            ok = self.up(a) and self.vlan(a) == native and self.carries(a.node, native) and self.carries(node, native)
            return ("passed", "", {}) if ok else ("failed", Verdict.BLOCKED.value, {})
        f = c.ip_version
        ok = (self.has_route(a, f) and self.vlan(a) == a.vlan and self.to_vlanif(a, f=f) and self.forwards(f)
              and native not in self.n.vlanifs_down and (native, f) not in self.n.gateways_missing
              and self.carries(node, native) and not holds(self.n.drops, (a.vlan, native), f)
              and not holds(self.n.drops, (native, a.vlan), f) and not holds(self.n.new_drops, (a.vlan, native), f))
        return ("passed", "", {}) if ok else ("failed", Verdict.BLOCKED.value, {})

    def _services_cluster_ip(self, c):
        return ("failed", Verdict.BLOCKED.value, {}) if c.src.pod in self.n.host_route_missing else ("passed", "", {})

    def _mtu_df_ping(self, c):
        a, f = c.src, c.ip_version
        ok = self.vlan(a) == a.vlan and self.to_vlanif(a, size=c.params["mtu"], f=f) and f not in self.n.icmp_filtered
        return ("passed", "", {}) if ok else ("failed", Verdict.MISMATCH.value, {"detail": "DF ping failed"})

    def _overlay_coexistence(self, c):
        native = self.t.switch.native_vlan
        ok = c.src.node == c.dst.node or (self.carries(c.src.node, native) and self.carries(c.dst.node, native))
        return ("passed", "", {}) if ok else ("failed", Verdict.BLOCKED.value, {})

    # --- facts and drills -----------------------------------------------------------------------
    def allocation(self, pod: str) -> tuple[str, str, dict]:
        problems = []
        for e in (e for e in self.eps.values() if e.pod == pod):
            if e.key in self.n.down:
                problems.append(f"{e.ifname}: is down")
            if e.key in self.n.elsewhere:
                problems.append(f"{e.ifname}: parent ifindex 21, expected 22")
            if e.key in self.n.private:
                problems.append(f"{e.ifname}: mode private, expected bridge")
            for f in (f for f in e.families if e.macvlan and e.default and not self.has_route(e, f)):
                problems.append(f"{e.ifname}: no {'IPv6 ' if f == 6 else ''}default route (routes: [])")
        if problems:
            return "failed", Verdict.MISMATCH.value, {"detail": "; ".join(problems)}
        return "passed", "", {}

    def drill(self, node: str, nic: str) -> tuple[str, str, dict]:
        members = self.t.node(node).bond.members
        problems = []
        if (node, nic) in self.n.members_down:
            problems.append(f"{nic} was already down before the check: {node} has no bond redundancy left")
        if any((node, m) in self.n.members_down for m in members if m != nic):
            problems.append(f"member down: pairs of {node}: reachable before, no-arp-reply now")
        if problems:
            return "failed", Verdict.MISMATCH.value, {"detail": "; ".join(problems)}
        return "passed", "", {}


def records(topology: Topology, net: Net | None = None) -> list[dict]:
    """The records a run of the suites would write on ``topology`` in the state ``net``."""
    sim = Sim(topology, net or Net())
    out = []

    def add(check, subject, src, dst, result, ip_version=None):
        outcome, observed, extra = result
        expected = "matches" if subject != "case" else None
        tag = f" [ipv{ip_version}]" if ip_version not in (None, 4) else ""
        param = f"{subject}/{src}" + (f" -> {dst}" if dst else "") + tag
        out.append({"id": check, "nodeid": f"suites/test_sim.py::test_{check}[{param}]", "ip_version": ip_version,
                    "outcome": outcome, "src": src, "dst": dst, "expected": expected,
                    "observed": observed or expected or "as expected", "control": None,
                    "detail": extra.get("detail", ""), "evidence": extra.get("evidence", {})})

    for pod in topology.pods:
        add("allocation.interfaces", "pod", pod.name, None, sim.allocation(pod.name))
        add("network-status.consistent", "pod", pod.name, None, ("passed", "", {}))
    for c in checks.all_cases(topology):
        add(c.check, "case", c.src.label, c.dst.label if c.dst else c.target, sim.case(c), c.ip_version)
        out[-1]["expected"] = c.expected.value
    through = {n for c in ex.bond_path_cases(topology) for n in (c.src.node, c.dst.node)}
    for node in topology.nodes:
        if node.name in through:
            for nic in node.bond.members:
                add("resilience.bond-member-down", "drill", f"{node.name}/{nic}", "pairs", sim.drill(node.name, nic))
    return out
