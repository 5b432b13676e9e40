"""A node's links as the host side reports them, from either source, and one judgement of them.

Sources: kubernetes-nmstate's NodeNetworkState (``from_nmstate``) or the host probe's ``describe``
(``from_describe``, which also knows ifindexes). The judgement (``host_problems``) checks what the
topology says of the node: ``bond0`` exists and is up with the topology's members, and each
``bond0.<vid>`` master exists, is up, and is a VLAN of the bond with that id. A bond or master that is
not a kernel bond/VLAN (an Open vSwitch port, say) is noted as such; what only a kernel link carries
(members, VLAN id) is then not judged.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..topology import Node


@dataclass(frozen=True)
class HostLink:
    name: str
    kind: str | None                     # bond, vlan, tun, ... (None: a plain link)
    up: bool
    mtu: int | None = None
    index: int | None = None             # only the host probe sees ifindexes
    vlan_id: int | None = None
    vlan_base: str | None = None
    members: tuple[str, ...] = ()        # of a bond


def from_nmstate(interfaces: list[dict]) -> dict[str, HostLink]:
    """NodeNetworkState ``status.currentState.interfaces``."""
    return {i["name"]: HostLink(
        name=i["name"], kind=i.get("type"), up=i.get("state") == "up", mtu=i.get("mtu"),
        vlan_id=i.get("vlan", {}).get("id"), vlan_base=i.get("vlan", {}).get("base-iface"),
        members=tuple(i.get("link-aggregation", {}).get("port", []))) for i in interfaces}


def from_describe(links: list[dict]) -> dict[str, HostLink]:
    """The agent's ``describe`` links of the host network namespace."""
    names = {link["index"]: link["name"] for link in links}
    return {link["name"]: HostLink(
        name=link["name"], kind=link["kind"], up=link["up"], mtu=link["mtu"], index=link["index"],
        vlan_id=link.get("vlan_id"), vlan_base=names.get(link.get("parent_index")),
        members=tuple(sorted(m["name"] for m in links if m.get("master_index") == link["index"])))
        for link in links}


def host_problems(node: Node, links: dict[str, HostLink]) -> tuple[list[str], list[str]]:
    """(problems, notes) for ``node``."""
    problems, notes = [], []
    bond = links.get(node.bond.name)
    if bond is None:
        return [f"{node.name}: no {node.bond.name} on the host (apply `macvlan-conformance render --host-config`)"], notes
    if not bond.up:
        problems.append(f"{node.name}: {node.bond.name} is down")
    if bond.kind == "bond":
        if sorted(bond.members) != sorted(node.bond.members):
            problems.append(f"{node.name}: {node.bond.name} has members {sorted(bond.members)}, the topology says "
                            f"{sorted(node.bond.members)}")
    else:
        notes.append(f"{node.name}: {node.bond.name} is a {bond.kind or 'plain'} link, not a kernel bond; "
                     f"its members were not checked")
    for vid in node.vlans:
        name = f"{node.bond.name}.{vid}"
        master = links.get(name)
        if master is None:
            problems.append(f"{node.name}: master {name} does not exist")
            continue
        if not master.up:
            problems.append(f"{node.name}: master {name} is down")
        if master.kind != "vlan":
            notes.append(f"{node.name}: master {name} is a {master.kind or 'plain'} link, not a kernel VLAN; "
                         f"its VLAN id was not checked")
        elif master.vlan_id != vid or master.vlan_base != node.bond.name:
            problems.append(f"{node.name}: master {name} is VLAN {master.vlan_id} on {master.vlan_base}, "
                            f"expected VLAN {vid} on {node.bond.name}")
    return problems, notes
