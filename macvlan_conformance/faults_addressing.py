"""Faults of the address and host paths (the catalogue itself is ``faults.FAULTS``): announcements that never
arrive, and the coordinator's host routes. Same contract as every ``faults.Fault``."""

from __future__ import annotations

from . import coordinator
from .coordinator_standin.plugin import host_veth_name
from .faults import Fault, NotApplicable
from .lab.commands import run
from .lab.target import LabTarget
from .topology import Topology

GARP_TABLE = "mc_garp_filter"


class GratuitousArpDropped(Fault):
    """Every node's VLAN masters drop outgoing gratuitous ARP (an ARP whose sender and target address are the
    same pod address), as an uplink with ARP inspection that discards announcements does: peers on other nodes
    keep a stale neighbour entry when an address moves to a new MAC."""

    name = "gratuitous-arp-dropped"
    breaks = frozenset({"addressing.ip-reuse"})

    def families(self, t: Topology) -> frozenset[int]:
        return frozenset({4})

    def summary(self, t: Topology) -> str:
        if not any(a.network is not None and 4 in a.families for p in t.pods for a in t.attachments(p.name)):
            raise NotApplicable("no macvlan pod with IPv4 whose announcements could be dropped")
        return "gratuitous ARP for pod addresses dropped where it leaves every node (nft egress on the masters)"

    def place(self, t):
        return {"kind": "announcements"}

    def apply(self, target: LabTarget) -> None:
        addresses = sorted({ip.split("/")[0] for pod in target.state.pods.values() for i in pod.interfaces
                            if i.network_ref for ip in i.ips if ":" not in ip})  # ARP: IPv4 only
        rules = "".join(f"    arp saddr ip {a} arp daddr ip {a} drop\n" for a in addresses)
        for node in target.state.nodes.values():
            chains = "".join(f"  chain {master.replace('.', '_')} {{\n    type filter hook egress device \"{master}\" "
                             f"priority 0;\n{rules}  }}\n" for master in node.masters.values())
            script = f"table netdev {GARP_TABLE} {{\n{chains}}}\n"
            run(["nft", "-f", "-"], netns=node.netns, input=script)

    def revert(self, target: LabTarget) -> None:
        for node in target.state.nodes.values():
            run(["nft", "delete", "table", "netdev", GARP_TABLE], netns=node.netns, check=False)


class CoordinatorHostRouteRemoved(Fault):
    """The route the coordinator gave the node back to one pod (its address via the pod's host veth, in the host
    rule table) is gone: the node answers that pod's veth0 traffic through its uplink, where the pod does not
    listen for it."""

    name = "coordinator-host-route-removed"
    breaks = frozenset({"host.node-reachability"})

    def victim(self, t: Topology) -> str:
        for pod in t.pods:
            if coordinator.has_veth(t.attachments(pod.name)):
                return pod.name
        raise NotApplicable("no pod has the coordinator's veth0 (no standalone network chains it in underlay mode)")

    def families(self, t: Topology) -> frozenset[int]:
        return frozenset({4})

    def summary(self, t: Topology) -> str:
        pod = self.victim(t)
        return f"{t.pod(pod).node} lost the coordinator's route back to {pod} (table of the host rule)"

    def place(self, t):
        return {"kind": "host-route", "pod": self.victim(t)}

    def _route(self, target: LabTarget, verb: str) -> None:
        pod = target.state.pods[self.victim(target.topology)]
        eth0 = pod.interface("eth0")
        table = str(target.topology.network(eth0.network_ref).coordinator.host_rule_table)
        host_veth = host_veth_name(pod.container_id)
        for ip in (ip for ip in eth0.ips if ":" not in ip):  # the coordinator stand-in routes IPv4
            run(["ip", "route", verb, f"{ip.split('/')[0]}/32", "dev", host_veth, "scope", "link", "table", table],
                netns=target.state.nodes[pod.node].netns, check=verb != "del")

    def apply(self, target: LabTarget) -> None:
        self._route(target, "del")

    def revert(self, target: LabTarget) -> None:
        self._route(target, "replace")
