"""Judge what a pod sees (the agent's ``describe``) and what Multus reported (network-status) against
the model. Pure functions: facts in, a list of problems out (empty = conforms)."""

from __future__ import annotations

from ipaddress import IPv4Address

from .topology import Topology


def _links(describe: dict) -> dict[str, dict]:
    return {link["name"]: link for link in describe["links"]}


def _addresses(describe: dict, ifname: str) -> list[str]:
    return [a["address"] for a in describe["addresses"] if a["ifname"] == ifname]


def _default_routes(describe: dict) -> list[dict]:
    return [r for r in describe["routes"] if r["dst"] == "0.0.0.0/0"]


def allocation_problems(topology: Topology, pod: str, describe: dict,
                        master_index: dict[str, int | None]) -> list[str]:
    """eth0/net1 of ``pod`` as the model wants them.

    ``master_index`` maps each master name on the pod's node to its ifindex (None: not visible here).
    """
    problems: list[str] = []
    links = _links(describe)
    attachments = topology.attachments(pod)
    node = topology.node(topology.pod(pod).node)
    expected_names = {a.ifname for a in attachments} | {"lo"} | set(topology.overlay.extra_interfaces)
    extra = sorted(set(links) - expected_names)
    if extra:
        problems.append(f"unexpected interfaces {extra}")
    defaults = _default_routes(describe)
    for att in attachments:
        link = links.get(att.ifname)
        if link is None:
            problems.append(f"{att.ifname}: missing")
            continue
        addresses = _addresses(describe, att.ifname)
        if len(addresses) != 1:
            problems.append(f"{att.ifname}: has {len(addresses)} IPv4 addresses {addresses}, expected 1")
        if not link["up"]:
            problems.append(f"{att.ifname}: is down")
        if att.network is None:  # the overlay's eth0
            if link["kind"] != "veth":
                problems.append(f"eth0: kind {link['kind']}, expected veth (the overlay's interface)")
            cidr = topology.node_pod_cidr(node.name)
            if addresses and IPv4Address(addresses[0]) not in cidr:
                problems.append(f"eth0: {addresses[0]} is outside the node's pod CIDR {cidr}")
        else:
            master = node.master_name(att.vlan.id, topology.switch.native_vlan)
            if link["kind"] != "macvlan":
                problems.append(f"{att.ifname}: kind {link['kind']}, expected macvlan on {master}")
            elif link["mode"] != att.network.mode:
                problems.append(f"{att.ifname}: macvlan mode {link['mode']}, expected {att.network.mode}")
            want = master_index.get(master)
            if want is not None and link["parent_index"] != want:
                problems.append(f"{att.ifname}: parent ifindex {link['parent_index']}, expected {want} ({master})")
            if addresses and IPv4Address(addresses[0]) not in att.pool.addresses:
                problems.append(f"{att.ifname}: {addresses[0]} is not in pool {att.pool.name}")
        if att.default:
            routes = [r for r in defaults if r["dev"] == att.ifname]
            gateway = str(att.pool.gateway) if att.pool and att.pool.gateway else None
            if not routes:
                problems.append(f"{att.ifname}: no default route (routes: {defaults})")
            elif gateway and routes[0]["gateway"] != gateway:
                problems.append(f"{att.ifname}: default route via {routes[0]['gateway']}, expected {gateway}")
        elif any(r["dev"] == att.ifname for r in defaults):
            problems.append(f"{att.ifname}: carries a default route; only eth0 may")
    if len(defaults) > 1:
        problems.append(f"{len(defaults)} default routes: {defaults}")
    return problems


def network_status_problems(topology: Topology, pod: str, status: list[dict], describe: dict) -> list[str]:
    """The network-status annotation vs the model and vs what the pod sees."""
    problems: list[str] = []
    defaults = [e for e in status if e.get("default")]
    if len(defaults) != 1:
        problems.append(f"{len(defaults)} entries have default: true, expected exactly 1")
    elif defaults[0].get("interface") != "eth0":
        problems.append(f"the default entry is {defaults[0].get('interface')}, expected eth0")
    links = _links(describe)
    by_ifname = {e.get("interface"): e for e in status}
    for att in topology.attachments(pod):
        entry = by_ifname.get(att.ifname)
        name = att.network.ref if att.network else topology.overlay.name
        if entry is None:
            problems.append(f"{att.ifname}: no network-status entry (expected {name})")
            continue
        if entry.get("name") != name:
            problems.append(f"{att.ifname}: network-status name {entry.get('name')!r}, expected {name!r}")
        seen_ips = sorted(_addresses(describe, att.ifname))
        if sorted(entry.get("ips", [])) != seen_ips:
            problems.append(f"{att.ifname}: network-status ips {entry.get('ips')} but the pod has {seen_ips}")
        link = links.get(att.ifname)
        if link and (entry.get("mac") or "").lower() != (link["mac"] or "").lower():
            problems.append(f"{att.ifname}: network-status mac {entry.get('mac')} but the pod has {link['mac']}")
    extra = sorted(set(by_ifname) - {a.ifname for a in topology.attachments(pod)})
    if extra:
        problems.append(f"network-status lists interfaces the model does not: {extra}")
    return problems


