"""Per check: the places (``paths`` tokens) one result bears on, given how it came out.

Each rule reads the case's endpoints (and its positive control, and its parameters) from the model and
follows its traffic; ``expand`` then adds the places that contain the ones named (a network contains its
interfaces, a master is one VLAN on the node, the node's bond carries every master).
"""

from __future__ import annotations

import re

from .. import expectations as ex
from ..verdicts import Verdict
from .observations import Observation
from .paths import _ALREADY_DOWN, _LEAKED, Paths, Token

_IFNAME_PROBLEM = re.compile(r"(?:^|;\s*)([A-Za-z0-9][A-Za-z0-9_.-]*): ")
_DEFENDED_BY_OTHERS = re.compile(r"defended by \[")     # addressing.dad: a DAD probe answered by another MAC too


def bearing(obs: Observation, paths: Paths) -> set[Token]:
    """The places whose fault would explain ``obs`` failing (failed) or that ``obs`` shows to work (passed)."""
    if obs.mode == "skipped" or obs.check is None:
        return set()
    if obs.case is not None:
        rule = CASE_RULES.get(obs.check)
        return expand(rule(obs, obs.case, paths), paths) if rule else set()
    if obs.pod is not None:
        return expand(_pod_facts(obs, paths), paths)
    if obs.drill is not None:
        return expand(_drill(obs, paths), paths)
    if obs.check == "rules.attachment":
        return {("admission",)}
    return set()


def direct(obs: Observation) -> set[Token]:
    """Places a failed record names itself (a tie-break between places that explain as much): a bond
    member the resilience drill found down already, the interfaces a facts check names."""
    if not obs.failed:
        return set()
    detail = obs.record.get("detail") or ""
    if obs.drill is not None:
        return {("member", obs.drill[0], nic) for nic in _ALREADY_DOWN.findall(detail)}
    if obs.pod is not None:
        return {("if", obs.pod, name) for name in _IFNAME_PROBLEM.findall(detail)}
    return set()


def expand(tokens: set[Token], paths: Paths) -> set[Token]:
    """Add the containing places: each interface's network, each VLAN-on-a-node's master, each node's bond."""
    out = set(tokens)
    derived = {"if": "net-down", "if-vlan": "net-vlan", "if-mode": "net-mode", "if-mtu": "net-mtu"}
    for token in tokens:
        kind = token[0]
        if kind in derived:
            endpoint = paths.endpoint(f"{token[1]}/{token[2]}")
            if endpoint is not None and endpoint.network is not None:
                out.add((derived[kind], endpoint.network))
        elif kind == "node-vlan":
            out |= {("master", token[1], token[2]), ("bond", token[1])}
        elif kind in ("node", "master"):
            out.add(("bond", token[1]))
    return out


# --- probed cases ----------------------------------------------------------------------------------
def _intra(obs, case: ex.Case, paths: Paths) -> set[Token]:
    """Same VLAN: the L2 path between the two interfaces (a wrong TTL or MAC is a path failure too)."""
    return paths.l2(case.src, case.dst)


def _routed(obs, case: ex.Case, paths: Paths) -> set[Token]:
    """Expected reachable: the routed path. Expected blocked (a VLAN without vlanif): its control's L2
    path, and when it breaches, the router or a vlanif where the topology has none."""
    if case.expected != Verdict.BLOCKED:
        return paths.routed(case.src, case.dst, case.ip_version)
    if obs.mode == "wrong":
        return paths.af("router", family=case.ip_version) | {("vlanif", case.src.vlan), ("vlanif", case.dst.vlan)}
    return paths.l2(case.control.src, case.control.dst)


def _ttl(obs, case: ex.Case, paths: Paths) -> set[Token]:
    return paths.ttl(case.src, case.dst, case.ip_version)


def _gateway(obs, case: ex.Case, paths: Paths) -> set[Token]:
    """ARP for the gateway: the path to the vlanif; answered by another MAC, the asker sits in another
    VLAN or someone else holds the gateway's address. Without vlanif: the control's path, or a breach. IPv6
    asks by Neighbor Solicitation: ICMPv6, which a filter on the router drops too."""
    vlan, f = case.params.get("vlan", case.src.vlan), case.ip_version
    claim = paths.af("gateway-ip", vlan, family=f)
    if case.control is None:
        if obs.mode == "wrong":
            return {("if-vlan", case.src.pod, case.src.ifname)} | claim
        nd = paths.af("icmp-filter", family=f) if f == 6 else set()
        return paths.gateway(case.src, f) | nd | (claim if obs.passed else set())
    if obs.mode == "wrong":
        return claim | {("vlanif", vlan), ("if-vlan", case.src.pod, case.src.ifname)}
    return paths.l2(case.control.src, case.control.dst)


def _ra(obs, case: ex.Case, paths: Paths) -> set[Token]:
    """Router advertisements: a pod that learned a route or address from one heard a router advertising
    in its broadcast domain (its VLAN's, or another's it sits in); the control (its own subnet route seen)
    fails when the interface is down. A pass shows the VLAN free of router advertisements."""
    e, vlan = case.src, case.params.get("vlan", case.src.vlan)
    if obs.mode == "wrong":
        return {("ra", vlan), ("if-vlan", e.pod, e.ifname)}
    return {("if", e.pod, e.ifname)} | ({("ra", vlan)} if obs.passed else set())


def _unique_ip(obs, case: ex.Case, paths: Paths) -> set[Token]:
    """ARP for a pod's address from a peer: the L2 path; answered by several or another MAC, a duplicate
    address or an asker in another broadcast domain."""
    claim = paths.af("address", case.dst.pod, case.dst.ifname, family=case.ip_version)
    if obs.mode == "wrong":
        return claim | {("if-vlan", case.src.pod, case.src.ifname)}
    return paths.l2(case.src, case.dst) | (claim if obs.passed else set())


def _dad(obs, case: ex.Case, paths: Paths) -> set[Token]:
    """IPv6 duplicate address detection: the interface's own addresses, and a peer's DAD probe defended by the
    interface alone. Each problem a failure names bears on its own places: an address dadfailed, or a probe
    defended by another MAC too, on the claim; a probe defended by nobody on the L2 path between the two; an
    address left tentative (DAD never ended: no carrier) on the interface; DAD switched off on no place of the
    network. A pass (or a failure that names nothing) bears on the path and the claim."""
    e, peer = case.src, paths.endpoint(case.params.get("peer") or "")
    claim = paths.af("address", e.pod, e.ifname, family=case.ip_version)
    path = {("if", e.pod, e.ifname)} | (paths.l2(peer, e) if peer is not None else set())
    detail = obs.record.get("detail") or ""
    if obs.passed or not detail:
        return path | claim
    return set().union(*(_dad_problem(problem, e, path, claim) for problem in detail.split("; ")))


def _dad_problem(problem: str, e: ex.Endpoint, path: set[Token], claim: set[Token]) -> set[Token]:
    if _DEFENDED_BY_OTHERS.search(problem) or "dadfailed" in problem:
        return claim
    if "defended by nobody" in problem:
        return path
    if "tentative" in problem:
        return {("if", e.pod, e.ifname)}
    return set() if "detection is off" in problem else path | claim


def _cross_arp(obs, case: ex.Case, paths: Paths) -> set[Token]:
    """ARP across VLANs: breached by either end in the wrong domain or the VLANs bridged; otherwise it
    rests on its control (ARP for a same-VLAN peer), and a pass shows the two VLANs apart."""
    leak = paths.leak(case.src, case.dst, case.dst.vlan)
    if obs.mode == "wrong":
        return leak
    control = paths.l2(case.control.src, case.control.dst)
    return control | {t for t in leak if t[0] == "l2-leak"} if obs.passed else control


def _broadcast(obs, case: ex.Case, paths: Paths) -> set[Token]:
    """A broadcast marker: its control's L2 path (sender to witness) and every receiver's capture; the
    receivers that captured it (breach) sit in the sender's domain, or the VLANs are bridged."""
    vlan = case.params.get("vlan")
    receivers = [paths.endpoint(k) for k in case.params.get("receivers", [])]
    if obs.mode == "wrong":
        leaked = [paths.endpoint(k) for k in _leaked_to(obs)]
        tokens = paths.leak(case.src, None, vlan)
        return tokens.union(*(paths.leak(r, None, None) for r in leaked if r is not None))
    tokens = paths.l2(case.control.src, case.control.dst)
    tokens |= {("if", r.pod, r.ifname) for r in receivers if r is not None}
    if obs.passed and vlan is not None and case.src.vlan is not None:
        tokens.add(("l2-leak", *sorted((case.src.vlan, vlan))))
    return tokens


def _leaked_to(obs: Observation) -> list[str]:
    leaked = (obs.record.get("evidence") or {}).get("leaked_to") if isinstance(obs.record.get("evidence"), dict) \
        else None
    if isinstance(leaked, dict):
        return list(leaked)
    found = _LEAKED.search(obs.record.get("detail") or "")
    return [k.strip() for k in found.group(1).split(",")] if found else []


def _own_master(obs, case: ex.Case, paths: Paths) -> set[Token]:
    """A child reaching its own master breaches parent isolation (its mode); otherwise the control (a pod
    on another node reaches that master) bears on both trunks."""
    if obs.mode == "wrong":
        return {("if-mode", case.src.pod, case.src.ifname)}
    return paths.master_ip(case.control)


def _ip_reuse(obs, case: ex.Case, paths: Paths) -> set[Token]:
    """A peer following an address to its new MAC: the L2 path between the two (the control's too), and the
    announcement (gratuitous ARP) that must reach the peer's kernel."""
    return paths.l2(case.src, case.dst) | {("announce",)}


def _host(obs, case: ex.Case, paths: Paths) -> set[Token]:
    """A pod's own ping to a node: through veth0, the coordinator's path (the node's route back); blocked at
    its own master, the control's path or the interface's mode; otherwise the L2 or routed path to the node's
    bond on the native VLAN."""
    node, native, src = case.params.get("node"), paths.native, case.src
    if case.params.get("dev") == "veth0":
        return {("host-route", src.pod)}
    if case.expected == Verdict.BLOCKED:
        if obs.mode == "wrong":
            return {("if-mode", src.pod, src.ifname)}
        control = case.control.src
        return ({("if", control.pod, control.ifname), ("if-vlan", control.pod, control.ifname)}
                | paths.trunk(control.node, native) | paths.trunk(node, native))
    if case.expected == Verdict.REACHABLE_L2:
        return {("if", src.pod, src.ifname), ("if-vlan", src.pod, src.ifname)} | paths.trunk(src.node, native) \
            | paths.trunk(node, native)
    low, high, f = *sorted((src.vlan, native)), case.ip_version
    return (paths.gateway(src, f) | paths.trunk(node, native) | {("vlanif", native)}
            | paths.own("gateway", native, family=f) | paths.af("router", family=f)
            | paths.af("router-filter", family=f) | paths.af("icmp-filter", family=f)
            | paths.af("pair", low, high, family=f) | paths.af("route", src.pod, src.ifname, family=f))


def _service(obs, case: ex.Case, paths: Paths) -> set[Token]:
    """The cluster's Service: through veth0, the coordinator's path to the node; from an overlay eth0, the
    overlay (the node's own Service rules)."""
    if case.params.get("dev") == "veth0":
        return {("host-route", case.src.pod)}
    return {("overlay",), ("if", case.src.pod, case.src.ifname)}


def _mtu(obs, case: ex.Case, paths: Paths) -> set[Token]:
    return paths.mtu(case.src, case.ip_version)


def _overlay(obs, case: ex.Case, paths: Paths) -> set[Token]:
    return paths.overlay(case.src, case.dst)


CASE_RULES = {
    "intra-vlan.same-node": _intra, "intra-vlan.cross-node": _intra, "inter-vlan.routed": _routed,
    "inter-vlan.ttl-expiry": _ttl, "gateway.arp": _gateway, "addressing.unique-ip": _unique_ip,
    "isolation.cross-vlan-arp": _cross_arp, "isolation.broadcast": _broadcast, "isolation.own-master": _own_master,
    "mtu.df-ping": _mtu, "overlay.coexistence": _overlay, "addressing.ip-reuse": _ip_reuse,
    "host.node-reachability": _host, "addressing.dad": _dad, "gateway.ra": _ra, "services.cluster-ip": _service,
}


# --- facts and drills ------------------------------------------------------------------------------
def _pod_facts(obs: Observation, paths: Paths) -> set[Token]:
    """A pod's facts: allocation bears on each interface (link, VLAN, mode, MTU, the default route of the
    interface that carries it, per family); a failure naming interfaces bears on those alone. network-status
    on the pod's annotations."""
    if obs.check != "allocation.interfaces":
        return {("pod", obs.pod)}
    named = {t[2] for t in direct(obs)}
    tokens = {("pod", obs.pod)}
    for e in paths.by_pod.get(obs.pod, []):
        if named and e.ifname not in named:
            continue
        tokens |= {("if", e.pod, e.ifname), ("if-vlan", e.pod, e.ifname), ("if-mode", e.pod, e.ifname),
                   ("if-mtu", e.pod, e.ifname)}
        if e.macvlan and e.default:
            tokens = tokens.union(*(paths.af("route", e.pod, e.ifname, family=f) for f in e.families))
    return tokens


def _drill(obs: Observation, paths: Paths) -> set[Token]:
    """Taking one member down needs it up before and the others to carry after: the drill bears on every
    member of the node's bond, and on the node (with nothing reachable there is nothing to fail over)."""
    node, _ = obs.drill
    return {("member", node, nic) for nic in paths.members.get(node, [])} | {("node", node)}
