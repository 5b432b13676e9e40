"""Judge what a pod sees (the agent's ``describe``) and what Multus reported (network-status) against
the model. Pure functions: facts in, a list of problems out (empty = conforms)."""

from __future__ import annotations

from ipaddress import IPv4Address, ip_address

from . import coordinator
from .topology import Topology


def _links(describe: dict) -> dict[str, dict]:
    return {link["name"]: link for link in describe["links"]}


def _addresses(describe: dict, ifname: str) -> list[str]:
    return [a["address"] for a in describe["addresses"] if a["ifname"] == ifname]


def _addresses6(describe: dict, ifname: str) -> list[str]:
    """The permanent global IPv6 addresses of ``ifname`` (those an IPAM configured)."""
    return [a["address"] for a in describe.get("addresses6", []) if a["ifname"] == ifname]


def _default_routes(describe: dict, version: int = 4) -> list[dict]:
    """The main table's default routes of one family; IPv6 routes learned from router advertisements are left to
    gateway.ra."""
    if version == 4:
        return [r for r in describe["routes"] if r["dst"] == "0.0.0.0/0"]
    return [r for r in describe.get("routes6", []) if r["dst"] == "::/0" and r.get("proto") != "ra"]


def allocation_problems(topology: Topology, pod: str, describe: dict,
                        master_index: dict[str, int | None]) -> list[str]:
    """eth0/net1 of ``pod`` as the model wants them, and what the coordinator adds where a network chains it.

    ``master_index`` maps each master name on the pod's node to its ifindex (None: not visible here).
    """
    problems: list[str] = []
    links = _links(describe)
    attachments = topology.attachments(pod)
    node = topology.node(topology.pod(pod).node)
    veth = coordinator.has_veth(attachments)
    expected_names = {a.ifname for a in attachments} | {"lo"} | set(topology.overlay.extra_interfaces)
    expected_names |= {coordinator.VETH} if veth else set()
    extra = sorted(set(links) - expected_names)
    if extra:
        problems.append(f"unexpected interfaces {extra}")
    for att in attachments:
        link = links.get(att.ifname)
        if link is None:
            problems.append(f"{att.ifname}: missing")
            continue
        problems += _interface_problems(topology, node, att, link, _addresses(describe, att.ifname), master_index)
        problems += _ipv6_problems(att, _addresses6(describe, att.ifname))
    problems += _route_problems(attachments, describe)
    if 6 in topology.ip_families and not any(a.network and a.network.coordinator for a in attachments):
        problems += _route6_problems(attachments, describe)  # the coordinator's IPv6 routes are not modelled
    if veth:
        problems += _veth_problems(node, links.get(coordinator.VETH), describe)
    return problems


def _interface_problems(topology: Topology, node, att, link: dict, addresses: list[str],
                        master_index: dict[str, int | None]) -> list[str]:
    problems = []
    wanted = 1 if 4 in att.families else 0
    if len(addresses) != wanted:
        problems.append(f"{att.ifname}: has {len(addresses)} IPv4 addresses {addresses}, expected {wanted}")
    if not link["up"]:
        problems.append(f"{att.ifname}: is down")
    if att.network is None:  # the overlay's eth0
        if link["kind"] != "veth":
            problems.append(f"eth0: kind {link['kind']}, expected veth (the overlay's interface)")
        cidr = topology.node_pod_cidr(node.name)
        if addresses and IPv4Address(addresses[0]) not in cidr:
            problems.append(f"eth0: {addresses[0]} is outside the node's pod CIDR {cidr}")
        return problems
    master = node.master_name(att.vlan.id, topology.switch.native_vlan)
    if link["kind"] != "macvlan":
        problems.append(f"{att.ifname}: kind {link['kind']}, expected macvlan on {master}")
    elif link["mode"] != att.network.mode:
        problems.append(f"{att.ifname}: macvlan mode {link['mode']}, expected {att.network.mode}")
    want = master_index.get(master)
    if want is not None and link["parent_index"] != want:
        problems.append(f"{att.ifname}: parent ifindex {link['parent_index']}, expected {want} ({master})")
    pool = att.pool_of(4)
    if addresses and pool is not None and not pool.allocates(IPv4Address(addresses[0])):
        problems.append(f"{att.ifname}: {addresses[0]} is not in pool {pool.name}")
    return problems


def _ipv6_problems(att, addresses: list[str]) -> list[str]:
    """A Spiderpool NIC has one configured global IPv6 address per IPv6 pool, from that pool; others none."""
    pool = att.pool_of(6) if att.network is not None else None
    wanted = 1 if pool is not None else 0
    if len(addresses) != wanted:
        return [f"{att.ifname}: has {len(addresses)} configured IPv6 addresses {addresses}, expected {wanted}"]
    if addresses and not pool.allocates(ip_address(addresses[0])):
        return [f"{att.ifname}: {addresses[0]} is not in pool {pool.name}"]
    return []


def _route6_problems(attachments, describe: dict) -> list[str]:
    """The IPv6 default route as Spiderpool returns it: on the first NIC with an IPv6 default route (its pool's
    gateway), nowhere else in the main table (the coordinator's IPv6 routes are not modelled)."""
    defaults = _default_routes(describe, 6)
    carriers = [a for a in attachments if a.pool_of(6) is not None and a.pool_of(6).gateway and a.default_route]
    holder = carriers[0] if carriers else None
    problems = []
    for att in attachments:
        mine = [r for r in defaults if r["dev"] == att.ifname]
        if att is holder:
            gateway = str(holder.pool_of(6).gateway)
            if not mine:
                problems.append(f"{att.ifname}: no IPv6 default route (IPv6 routes: {defaults})")
            elif ip_address(mine[0]["gateway"] or "::") != ip_address(gateway):
                problems.append(f"{att.ifname}: IPv6 default route via {mine[0]['gateway']}, expected {gateway}")
        elif mine:
            problems.append(f"{att.ifname}: carries an IPv6 default route in the main table; only "
                            f"{holder.ifname if holder else 'no NIC'} may")
    if len(defaults) > 1:
        problems.append(f"{len(defaults)} IPv6 default routes: {defaults}")
    return problems


def _route_problems(attachments, describe: dict) -> list[str]:
    """Exactly one IPv4 default route in the main table, on the NIC that keeps it (among the NICs with IPv4); a NIC
    whose routes the coordinator moved has its default route (when its IPAM gave one) in its table, looked up from
    its address."""
    problems = []
    defaults = _default_routes(describe)
    tables = coordinator.route_tables(attachments)
    with_ipv4 = [a for a in attachments if 4 in a.families]
    holder = coordinator.default_route_nic(attachments)
    if holder not in {a.ifname for a in with_ipv4}:
        holder = coordinator.default_route_nic(with_ipv4) if with_ipv4 else None
    for att in with_ipv4:
        mine = [r for r in defaults if r["dev"] == att.ifname]
        pool = att.pool_of(4)
        gateway = str(pool.gateway) if pool and pool.gateway else None
        if att.ifname == holder:
            if not mine:
                problems.append(f"{att.ifname}: no default route (routes: {defaults})")
            elif gateway and mine[0]["gateway"] != gateway:
                problems.append(f"{att.ifname}: default route via {mine[0]['gateway']}, expected {gateway}")
            continue
        if mine:
            problems.append(f"{att.ifname}: carries a default route in the main table; only {holder} may")
        table = tables.get(att.ifname)
        if table is not None and att.default_route:
            problems += _policy_problems(att, table, gateway, describe)
    if len(defaults) > 1:
        problems.append(f"{len(defaults)} default routes: {defaults}")
    return problems


def _policy_problems(att, table: int, gateway: str | None, describe: dict) -> list[str]:
    """The coordinator moved the NIC's default route to ``table`` (tunePodRoutes): the route is there, and a
    rule sends the NIC's own traffic to that table."""
    problems = []
    routes = [r for r in describe.get("policy_routes", []) if r["table"] == table and r["dst"] == "0.0.0.0/0"]
    if not any(r["dev"] == att.ifname and (gateway is None or r["gateway"] == gateway) for r in routes):
        problems.append(f"{att.ifname}: no default route via {gateway} in table {table} (the coordinator moves it "
                        f"there; found {routes})")
    sources = {r["src"] for r in describe.get("rules", []) if r["table"] == table and r.get("src")}
    for address in _addresses(describe, att.ifname):
        if f"{address}/32" not in sources:
            problems.append(f"{att.ifname}: no rule 'from {address} lookup {table}' (rules to it: {sorted(sources)})")
    return problems


def _veth_problems(node, link: dict | None, describe: dict) -> list[str]:
    """The coordinator's veth0 (underlay mode): up, a veth, and the node's address routed through it."""
    if link is None:
        return [f"{coordinator.VETH}: missing (the coordinator in underlay mode gives the pod a veth to its node)"]
    problems = []
    if link["kind"] != "veth" or not link["up"]:
        state = "up" if link["up"] else "down"
        problems.append(f"{coordinator.VETH}: kind {link['kind']}, {state}; expected an up veth")
    if not any(r["dst"] == f"{node.ip}/32" and r["dev"] == coordinator.VETH for r in describe["routes"]):
        problems.append(f"{coordinator.VETH}: no route to the node's address {node.ip} through it")
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
        seen_ips = sorted(_addresses(describe, att.ifname)
                          + [a["address"] for a in describe.get("addresses6", []) if a["ifname"] == att.ifname])
        if sorted(entry.get("ips", [])) != seen_ips:
            problems.append(f"{att.ifname}: network-status ips {entry.get('ips')} but the pod has {seen_ips}")
        link = links.get(att.ifname)
        if link and (entry.get("mac") or "").lower() != (link["mac"] or "").lower():
            problems.append(f"{att.ifname}: network-status mac {entry.get('mac')} but the pod has {link['mac']}")
        if link and entry.get("mtu") and entry["mtu"] != link["mtu"]:
            problems.append(f"{att.ifname}: network-status mtu {entry['mtu']} but the pod has {link['mtu']}")
    extra = sorted(set(by_ifname) - {a.ifname for a in topology.attachments(pod)})
    if extra:
        problems.append(f"network-status lists interfaces the model does not: {extra}")
    return problems


