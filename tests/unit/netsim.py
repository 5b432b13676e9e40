"""A small simulator of the lab's network, to synthesize a run's records under any fault (also faults the
catalogue never stages), for the diagnosis tests.

It is written independently of ``macvlan_conformance.diagnosis``: it knows nothing of places or tokens,
only how frames move. A frame leaves a pod interface that is up into the broadcast domain of the VLAN
its master is really in; on one node, siblings of a master in bridge mode switch it between them; across
nodes it needs both nodes' trunks to carry that VLAN; a vlanif that is up answers ARP for any address
the router owns (Linux's default); the router forwards when forwarding is on and no filter drops the
packet; a reply needs the way back. The records it writes have the shape fixtures/results.py writes.
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
    """The state of the network: healthy unless a field says otherwise."""

    down: set = field(default_factory=set)             # "pod/ifname" links down
    elsewhere: dict = field(default_factory=dict)      # "pod/ifname" -> the VLAN it is really in
    no_default_route: set = field(default_factory=set)  # pods
    private: set = field(default_factory=set)          # "pod/ifname" attached in private mode
    members_down: set = field(default_factory=set)     # (node, nic)
    trunk_without: set = field(default_factory=set)    # (node, vid): not on that node's switch ports
    masters_down: set = field(default_factory=set)     # (node, vid): bond0.<vid> down on the node
    vlanifs_down: set = field(default_factory=set)     # vids
    extra_vlanifs: set = field(default_factory=set)    # vids routed although the topology gives them no vlanif
    forwarding: bool = True
    drops: set = field(default_factory=set)            # (src vid, dst vid): stateless forward filter
    new_drops: set = field(default_factory=set)        # (src vid, dst vid): drops only what src starts
    port_mtu: dict = field(default_factory=dict)       # node -> MTU of its link to the switch
    vlanif_mtu: dict = field(default_factory=dict)     # vid -> MTU
    claimed: dict = field(default_factory=dict)        # "pod/ifname" -> node of a host claiming its IP too
    announcements_dropped: bool = False                 # gratuitous ARP does not leave its node
    host_route_missing: set = field(default_factory=set)  # pods whose node lost the coordinator's route back


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

    def to_vlanif(self, a, size: int = 0) -> bool:
        """a's frames reach the vlanif of the VLAN a really is in (and back)."""
        vid = self.vlan(a)
        ok = self.up(a) and vid in self.routed and vid not in self.n.vlanifs_down and self.carries(a.node, vid)
        return ok and size <= min(self.n.port_mtu.get(a.node, FULL), self.n.vlanif_mtu.get(vid, FULL))

    def gateway_mac_owner(self, a) -> int | None:
        """Who answers a's ARP for its gateway: the vlanif of the VLAN a really is in (the router answers
        for any of its addresses), or nobody."""
        return self.vlan(a) if self.to_vlanif(a) else None

    def routed_ok(self, a, b, first: bool = True) -> bool:
        """An echo a -> b and its reply: both ends in their own VLAN, default routes, vlanifs, forwarding."""
        ends = all(e.pod not in self.n.no_default_route and self.vlan(e) == e.vlan and self.to_vlanif(e)
                   for e in (a, b))
        filters = (a.vlan, b.vlan) not in self.n.drops and (b.vlan, a.vlan) not in self.n.drops
        return ends and self.n.forwarding and filters and (a.vlan, b.vlan) not in self.n.new_drops

    def answers(self, asker, target) -> list[str]:
        """The interfaces answering asker's ARP for target's address: target, its pod's other interfaces
        in the asker's domain (Linux answers for any of its addresses), a host claiming it too."""
        found = [e.key for e in self.eps.values() if e.pod == target.pod and e.vlan is not None
                 and self.l2(asker, e)]
        claimer = self.n.claimed.get(target.key)
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
        if c.expected == Verdict.BLOCKED:
            return self._negative(self.routed_ok(c.src, c.dst), self.l2(c.control.src, c.control.dst),
                                  Verdict.REACHABLE_ROUTED)
        if c.src.pod in self.n.no_default_route:
            return "failed", Verdict.NO_ROUTE.value, {}
        if not self.up(c.src):
            return self._echo(False, c.src)
        return ("passed", "", {}) if self.routed_ok(c.src, c.dst) else ("failed", Verdict.BLOCKED.value, {})

    def _inter_vlan_ttl_expiry(self, c):
        a = c.src
        if a.pod in self.n.no_default_route:
            return "failed", Verdict.NO_ROUTE.value, {}
        ok = self.vlan(a) == a.vlan and self.to_vlanif(a) and self.n.forwarding \
            and c.dst.vlan not in self.n.vlanifs_down
        return ("passed", "", {}) if ok else self._echo(False, a)

    def _gateway_arp(self, c):
        if c.control is not None:
            return self._negative(self.to_vlanif(c.src), self.l2(c.control.src, c.control.dst),
                                  Verdict.ARP_FROM_VLANIF)
        owner = self.gateway_mac_owner(c.src)
        if owner == c.src.vlan:
            return "passed", "", {}
        if owner is not None:
            return "failed", Verdict.ARP_OTHER.value, {"detail": f"answered by the vlanif of VLAN {owner}"}
        return self._echo(False, c.src)

    def _addressing_unique_ip(self, c):
        found = self.answers(c.src, c.dst)
        if found == [c.dst.key]:
            return "passed", "", {}
        if found:
            return "failed", Verdict.ARP_OTHER.value, {"detail": f"answered by {found}"}
        return self._echo(False, c.src)

    def _negative(self, breached: bool, control_ok: bool, seen: Verdict, extra: dict | None = None):
        if breached:
            return "failed", seen.value, extra or {}
        if not control_ok:
            return "failed", Verdict.INCONCLUSIVE.value, {"detail": "positive control failed"}
        return "passed", "", {}

    def _isolation_cross_vlan_arp(self, c):
        if not self.up(c.src):
            return self._echo(False, c.src)
        return self._negative(bool(self.answers(c.src, c.dst)), self.l2(c.control.src, c.control.dst),
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
        ok = (a.pod not in self.n.no_default_route and self.vlan(a) == a.vlan and self.to_vlanif(a)
              and self.n.forwarding and native not in self.n.vlanifs_down and self.carries(node, native)
              and (a.vlan, native) not in self.n.drops and (native, a.vlan) not in self.n.drops
              and (a.vlan, native) not in self.n.new_drops)
        return ("passed", "", {}) if ok else ("failed", Verdict.BLOCKED.value, {})

    def _services_cluster_ip(self, c):
        return ("failed", Verdict.BLOCKED.value, {}) if c.src.pod in self.n.host_route_missing else ("passed", "", {})

    def _mtu_df_ping(self, c):
        a = c.src
        ok = self.vlan(a) == a.vlan and self.to_vlanif(a, size=c.params["mtu"])
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
            if e.macvlan and e.default and pod in self.n.no_default_route:
                problems.append(f"{e.ifname}: no default route (routes: [])")
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

    def add(check, subject, src, dst, result):
        outcome, observed, extra = result
        expected = "matches" if subject != "case" else None
        param = f"{subject}/{src}" + (f" -> {dst}" if dst else "")
        out.append({"id": check, "nodeid": f"suites/test_sim.py::test_{check}[{param}]",
                    "outcome": outcome, "src": src, "dst": dst, "expected": expected,
                    "observed": observed or expected or "as expected", "control": None,
                    "detail": extra.get("detail", ""), "evidence": extra.get("evidence", {})})

    for pod in topology.pods:
        add("allocation.interfaces", "pod", pod.name, None, sim.allocation(pod.name))
        add("network-status.consistent", "pod", pod.name, None, ("passed", "", {}))
    for c in checks.all_cases(topology):
        add(c.check, "case", c.src.label, c.dst.label if c.dst else c.target, sim.case(c))
        out[-1]["expected"] = c.expected.value
    through = {n for c in ex.bond_path_cases(topology) for n in (c.src.node, c.dst.node)}
    for node in topology.nodes:
        if node.name in through:
            for nic in node.bond.members:
                add("resilience.bond-member-down", "drill", f"{node.name}/{nic}", "pairs", sim.drill(node.name, nic))
    return out
