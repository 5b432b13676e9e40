"""Cross-reference checks of a parsed topology (pods -> nodes, networks -> pools -> VLANs), each error
named by its path (``pods[2].node``) with the fix. ``check_references`` raises ``TopologyError``."""

from __future__ import annotations

from . import annotations as ann
from .bounded_yaml import excerpt
from .ifnames import ifname_problem
from .topology import IFNAME_RE, Topology, TopologyError, attachment_rule_violation, resolve_attachments


def _unique(items, key: str, where: str) -> None:
    seen: set = set()
    for i, item in enumerate(items):
        value = getattr(item, key) if key != "ref" else item.ref
        if value in seen:
            raise TopologyError(f"{where}[{i}].{key}: duplicate {value!r}; every {key} must be unique")
        seen.add(value)


def check_references(t: Topology) -> None:
    _unique(t.vlans, "id", "vlans")
    _unique(t.nodes, "name", "nodes")
    _unique(t.ippools, "name", "ippools")
    _unique(t.networks, "ref", "networks")
    _unique(t.pods, "name", "pods")
    _check_vlans(t)
    _check_switch(t)
    _check_nodes(t)
    _check_pools(t)
    _check_networks(t)
    _check_pods(t)


def _check_vlans(t: Topology) -> None:
    """VLAN subnets, gateways, overlaps."""
    for i, vlan in enumerate(t.vlans):
        if vlan.gateway not in vlan.subnet:
            raise TopologyError(f"vlans[{i}].gateway: {vlan.gateway} is outside subnet {vlan.subnet}; "
                                f"use an address inside it (e.g. {next(vlan.subnet.hosts())})")
        for j, other in enumerate(t.vlans[:i]):
            if vlan.subnet.overlaps(other.subnet):
                raise TopologyError(f"vlans[{i}].subnet: {vlan.subnet} overlaps vlans[{j}] ({other.subnet}); "
                                    f"give each VLAN its own subnet")
        if vlan.subnet.overlaps(t.overlay.pod_cidr):
            raise TopologyError(f"vlans[{i}].subnet: {vlan.subnet} overlaps overlay.podCIDR {t.overlay.pod_cidr}")


def _check_switch(t: Topology) -> None:
    """Native VLAN, vlanifs, the overlay's node slices."""
    vlan_ids = {v.id for v in t.vlans}
    if t.switch.native_vlan is not None and t.switch.native_vlan not in vlan_ids:
        raise TopologyError(f"switch.nativeVlan: VLAN {t.switch.native_vlan} is not defined under 'vlans'")
    for j, vid in enumerate(t.switch.vlanifs or []):
        if vid not in vlan_ids:
            raise TopologyError(f"switch.vlanifs[{j}]: VLAN {vid} is not defined under 'vlans'")
    slices = 2 ** (t.overlay.node_prefix - t.overlay.pod_cidr.prefixlen)
    if t.overlay.node_prefix < t.overlay.pod_cidr.prefixlen or slices <= len(t.nodes):
        raise TopologyError(f"overlay.nodePrefix: /{t.overlay.node_prefix} slices of {t.overlay.pod_cidr} "
                            f"do not give {len(t.nodes)} nodes a pod CIDR each; use a longer nodePrefix")


def _check_nodes(t: Topology) -> None:
    """Trunked VLANs, the bond and its members, node IPs."""
    vlan_ids = {v.id for v in t.vlans}
    for i, node in enumerate(t.nodes):
        where = f"nodes[{i}]"
        for j, vid in enumerate(node.vlans):
            if vid not in vlan_ids:
                raise TopologyError(f"{where}.vlans[{j}]: VLAN {vid} is not defined under 'vlans'")
            if vid == t.switch.native_vlan:
                raise TopologyError(f"{where}.vlans[{j}]: VLAN {vid} is the native VLAN (untagged on "
                                    f"{node.bond.name}); list only tagged VLANs here")
            if len(f"{node.bond.name}.{vid}") > ann.MAX_IFNAME:
                raise TopologyError(f"{where}.bond.name: '{node.bond.name}.{vid}' is longer than "
                                    f"{ann.MAX_IFNAME} characters; use a shorter bond name")
        _check_bond(where, node, t.switch.native_vlan)
        if t.switch.native_vlan is None:
            raise TopologyError("switch.nativeVlan: required; node IPs live on the native VLAN")
        native = t.vlan(t.switch.native_vlan)
        if node.ip not in native.subnet:
            raise TopologyError(f"{where}.ip: {node.ip} is outside the native VLAN subnet {native.subnet}")


def _check_bond(where: str, node, native_vlan: int | None) -> None:
    """The bond's name and its members: real Linux names on the node, each once (the lab maps them)."""
    problem = ifname_problem(node.bond.name)
    if problem:
        raise TopologyError(f"{where}.bond.name: {excerpt(node.bond.name)} {problem}; use the bond's name on the node")
    masters = {node.master_name(vid, native_vlan) for vid in [native_vlan, *node.vlans]}
    for j, member in enumerate(node.bond.members):
        problem = ifname_problem(member)
        if problem:
            raise TopologyError(f"{where}.bond.members[{j}]: {excerpt(member)} {problem}; use the NIC's name "
                                f"exactly as `ip link` shows it on the node")
        if member in masters:
            raise TopologyError(f"{where}.bond.members[{j}]: {member!r} is the bond or one of its VLAN masters; "
                                f"list the NICs the bond runs over")
        if member in node.bond.members[:j]:
            raise TopologyError(f"{where}.bond.members[{j}]: duplicate NIC {member!r}; list each NIC once")


def _check_pools(t: Topology) -> None:
    """Each pool inside one VLAN, its gateway, no shared addresses."""
    for i, pool in enumerate(t.ippools):
        where = f"ippools[{i}]"
        vlan = next((v for v in t.vlans if v.subnet == pool.subnet), None)
        if vlan is None:
            raise TopologyError(f"{where}.subnet: {pool.subnet} is not the subnet of any VLAN; use one of "
                                f"{', '.join(str(v.subnet) for v in t.vlans)}")
        outside = [str(a) for a in pool.addresses if a not in pool.subnet]
        if outside:
            raise TopologyError(f"{where}.ips: {outside[0]} is outside subnet {pool.subnet}")
        if not pool.addresses:
            raise TopologyError(f"{where}.ips: no address left after excludeIPs; widen 'ips'")
        if pool.gateway is not None and pool.gateway not in pool.subnet:
            raise TopologyError(f"{where}.gateway: {pool.gateway} is outside subnet {pool.subnet}")
        if pool.gateway is not None and pool.gateway in pool.addresses:
            raise TopologyError(f"{where}.ips: contains the gateway {pool.gateway}; add it to excludeIPs")
        for j, other in enumerate(t.ippools[:i]):
            shared = set(pool.addresses) & set(other.addresses)
            if shared:
                raise TopologyError(f"{where}.ips: overlaps ippools[{j}] ({other.name}) at {min(shared)}; "
                                    f"pools must not share addresses")


def _check_networks(t: Topology) -> None:
    """Masters carry defined VLANs; pools in the master's VLAN."""
    vlan_ids = {v.id for v in t.vlans}
    pools = {p.name: p for p in t.ippools}
    for i, net in enumerate(t.networks):
        where = f"networks[{i}]"
        vid = t.master_vlan(net.master, t.nodes[0].bond.name)
        if vid is None:
            raise TopologyError(f"{where}.master: {net.master!r} is neither the bond ({t.nodes[0].bond.name}) "
                                f"nor a VLAN master '{t.nodes[0].bond.name}.<vid>'")
        if vid not in vlan_ids:
            raise TopologyError(f"{where}.master: {net.master} carries VLAN {vid}, which is not defined under 'vlans'")
        if net.ippool not in pools:
            raise TopologyError(f"{where}.ippool: pool {net.ippool!r} is not defined under 'ippools'")
        if pools[net.ippool].subnet != t.vlan(vid).subnet:
            raise TopologyError(f"{where}.ippool: pool {net.ippool} ({pools[net.ippool].subnet}) is not in "
                                f"VLAN {vid} ({t.vlan(vid).subnet}) that master {net.master} carries")


def _check_pods(t: Topology) -> None:
    """Nodes, attachments, interface names, the attachment rules, pool sizes."""
    pools = {p.name: p for p in t.ippools}
    nodes = {n.name: n for n in t.nodes}
    usage: dict[str, int] = {}
    for i, pod in enumerate(t.pods):
        where = f"pods[{i}]"
        if pod.node not in nodes:
            raise TopologyError(f"{where}.node: {pod.node!r} is not a node; use one of {', '.join(nodes)}")
        try:
            attachments = resolve_attachments(t, pod)
        except ValueError as exc:
            raise TopologyError(f"{where}.annotations: {exc}") from None
        node = nodes[pod.node]
        seen_ifnames: set[str] = set()
        for att in attachments:
            if att.ifname in seen_ifnames or len(att.ifname) > ann.MAX_IFNAME or not IFNAME_RE.match(att.ifname):
                raise TopologyError(f"{where}.annotations: interface name {att.ifname!r} is duplicate, invalid or "
                                    f"over {ann.MAX_IFNAME} characters")
            seen_ifnames.add(att.ifname)
            if att.network is None:
                continue
            vid = t.master_vlan(att.network.master, node.bond.name)
            if vid != t.switch.native_vlan and vid not in node.vlans:
                raise TopologyError(f"{where}: network {att.network.ref} uses master {att.network.master}, but "
                                    f"VLAN {vid} is not trunked to node {node.name}; add {vid} to "
                                    f"{node.name}'s vlans or move the pod")
            if att.pool.subnet != att.vlan.subnet:
                raise TopologyError(f"{where}.annotations: {att.ifname} selects pool {att.pool.name} "
                                    f"({att.pool.subnet}), which is not in VLAN {vid} ({att.vlan.subnet})")
            usage[att.pool.name] = usage.get(att.pool.name, 0) + 1
        violation = attachment_rule_violation(attachments)
        if violation:
            raise TopologyError(f"{where}.annotations: {violation}")
    for name, used in usage.items():
        if used > len(pools[name].addresses):
            raise TopologyError(f"ippools: pool {name} has {len(pools[name].addresses)} addresses but "
                                f"{used} interfaces use it; widen its 'ips'")
