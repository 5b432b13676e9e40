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
        return paths.routed(case.src, case.dst)
    if obs.mode == "wrong":
        return {("router",), ("vlanif", case.src.vlan), ("vlanif", case.dst.vlan)}
    return paths.l2(case.control.src, case.control.dst)


def _ttl(obs, case: ex.Case, paths: Paths) -> set[Token]:
    return paths.ttl(case.src, case.dst)


def _gateway(obs, case: ex.Case, paths: Paths) -> set[Token]:
    """ARP for the gateway: the path to the vlanif; answered by another MAC, the asker sits in another
    VLAN or someone else holds the gateway's address. Without vlanif: the control's path, or a breach."""
    vlan = case.params.get("vlan", case.src.vlan)
    if case.control is None:
        if obs.mode == "wrong":
            return {("if-vlan", case.src.pod, case.src.ifname), ("gateway-ip", vlan)}
        return paths.gateway(case.src) | ({("gateway-ip", vlan)} if obs.passed else set())
    if obs.mode == "wrong":
        return {("gateway-ip", vlan), ("vlanif", vlan), ("if-vlan", case.src.pod, case.src.ifname)}
    return paths.l2(case.control.src, case.control.dst)


def _unique_ip(obs, case: ex.Case, paths: Paths) -> set[Token]:
    """ARP for a pod's address from a peer: the L2 path; answered by several or another MAC, a duplicate
    address or an asker in another broadcast domain."""
    claim = ("address", case.dst.pod, case.dst.ifname)
    if obs.mode == "wrong":
        return {claim, ("if-vlan", case.src.pod, case.src.ifname)}
    return paths.l2(case.src, case.dst) | ({claim} if obs.passed else set())


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
    low, high = sorted((src.vlan, native))
    return paths.gateway(src) | paths.trunk(node, native) | {
        ("vlanif", native), ("router",), ("router-filter",), ("pair", low, high), ("route", src.pod, src.ifname)}


def _mtu(obs, case: ex.Case, paths: Paths) -> set[Token]:
    return paths.mtu(case.src)


def _overlay(obs, case: ex.Case, paths: Paths) -> set[Token]:
    return paths.overlay(case.src, case.dst)


CASE_RULES = {
    "intra-vlan.same-node": _intra, "intra-vlan.cross-node": _intra, "inter-vlan.routed": _routed,
    "inter-vlan.ttl-expiry": _ttl, "gateway.arp": _gateway, "addressing.unique-ip": _unique_ip,
    "isolation.cross-vlan-arp": _cross_arp, "isolation.broadcast": _broadcast, "isolation.own-master": _own_master,
    "mtu.df-ping": _mtu, "overlay.coexistence": _overlay, "addressing.ip-reuse": _ip_reuse,
    "host.node-reachability": _host,
}


# --- facts and drills ------------------------------------------------------------------------------
def _pod_facts(obs: Observation, paths: Paths) -> set[Token]:
    """A pod's facts: allocation bears on each interface (link, VLAN, mode, MTU, the default route of the
    interface that carries it); a failure naming interfaces bears on those alone. network-status on the
    pod's annotations."""
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
            tokens.add(("route", e.pod, e.ifname))
    return tokens


def _drill(obs: Observation, paths: Paths) -> set[Token]:
    """Taking one member down needs it up before and the others to carry after: the drill bears on every
    member of the node's bond, and on the node (with nothing reachable there is nothing to fail over)."""
    node, _ = obs.drill
    return {("member", node, nic) for nic in paths.members.get(node, [])} | {("node", node)}
