"""Cross-reference checks of a parsed topology (pods -> nodes, networks -> pools -> VLANs), each error
named by its path (``pods[2].node``) with the fix. ``check_references`` raises ``TopologyError``."""

from __future__ import annotations

from . import annotations as ann
from .bounded_yaml import excerpt
from .ifnames import ifname_problem
from . import coordinator
from .topology import IFNAME_RE, Topology, TopologyError, attachment_rule_violation, range_size, resolve_attachments


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
    _check_lists(t)
    _check_nodes(t)
    _check_pool_ranges(t)
    _check_pools(t)
    _check_pool_gateways(t)
    _check_node_addresses(t)
    _check_networks(t)
    _check_pods(t)


def _check_vlans(t: Topology) -> None:
    """VLAN subnets of each family, gateways, overlaps; the native VLAN holds the nodes' IPv4 addresses."""
    for i, vlan in enumerate(t.vlans):
        for key, subnet, gateway in (("gateway", vlan.subnet, vlan.gateway), ("gateway6", vlan.subnet6, vlan.gateway6)):
            if subnet is not None and gateway not in subnet:
                raise TopologyError(f"vlans[{i}].{key}: {gateway} is outside subnet {subnet}; "
                                    f"use an address inside it (e.g. {subnet.network_address + 1})")
        for key, subnet in (("subnet", vlan.subnet), ("subnet6", vlan.subnet6)):
            if subnet is None:
                continue
            for j, other in enumerate(t.vlans[:i]):
                theirs = other.subnet_of(subnet.version)
                if theirs is not None and subnet.overlaps(theirs):
                    raise TopologyError(f"vlans[{i}].{key}: {subnet} overlaps vlans[{j}] ({theirs}); "
                                        f"give each VLAN its own subnet")
        if vlan.subnet is None:
            continue
        if vlan.subnet.overlaps(t.overlay.pod_cidr):
            raise TopologyError(f"vlans[{i}].subnet: {vlan.subnet} overlaps overlay.podCIDR {t.overlay.pod_cidr}")
        service = t.overlay.service_cidr
        if service is not None and vlan.subnet.overlaps(service):
            raise TopologyError(f"overlay.serviceCIDR: {service} overlaps vlans[{i}].subnet {vlan.subnet} (the "
                                f"coordinator routes the Service CIDR to the node, so that VLAN would be unreachable "
                                f"from its pods); write the cluster's --service-cluster-ip-range, outside every VLAN")
    if t.overlay.service_cidr is not None and t.overlay.service_cidr.overlaps(t.overlay.pod_cidr):
        raise TopologyError(f"overlay.serviceCIDR: {t.overlay.service_cidr} overlaps overlay.podCIDR "
                            f"{t.overlay.pod_cidr}; write the cluster's --service-cluster-ip-range")


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
        if native.subnet is None:
            raise TopologyError(f"vlans[{t.vlans.index(native)}].subnet: the native VLAN {native.id} has no IPv4 "
                                f"subnet, but the nodes' IPs live there; give it subnet + gateway (IPv4) beside "
                                f"subnet6")
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
    owner: dict = {}  # address -> index of the first pool that has it
    for i, pool in enumerate(t.ippools):
        where = f"ippools[{i}]"
        vlan = t.vlan_of_subnet(pool.subnet)
        if vlan is None:
            subnets = [str(s) for v in t.vlans for s in (v.subnet, v.subnet6) if s is not None]
            raise TopologyError(f"{where}.subnet: {pool.subnet} is not the subnet of any VLAN; use one of "
                                f"{', '.join(subnets)}")
        outside = [str(a) for a in pool.addresses if a not in pool.subnet]
        if outside:
            raise TopologyError(f"{where}.ips: {outside[0]} is outside subnet {pool.subnet}")
        if not pool.addresses:
            raise TopologyError(f"{where}.ips: no address left after excludeIPs; widen 'ips'")
        if pool.gateway is not None and pool.gateway not in pool.subnet:
            raise TopologyError(f"{where}.gateway: {pool.gateway} is outside subnet {pool.subnet}")
        if pool.gateway is not None and pool.gateway in pool.addresses:
            raise TopologyError(f"{where}.ips: contains the gateway {pool.gateway}; add it to excludeIPs")
        for address in pool.addresses:
            j = owner.setdefault(address, i)
            if j != i:
                raise TopologyError(f"{where}.ips: overlaps ippools[{j}] ({t.ippools[j].name}) at {address}; "
                                    f"pools must not share addresses")


def _check_networks(t: Topology) -> None:
    """Masters carry defined VLANs; pools in the master's VLAN, at most one per family."""
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
        key = "ippool" if net.ippool is not None else "ippools"
        families: dict[int, str] = {}
        for j, name in enumerate(net.pool_names):
            at = f"{where}.{key}" + (f"[{j}]" if key == "ippools" else "")
            if name not in pools:
                raise TopologyError(f"{at}: pool {name!r} is not defined under 'ippools'")
            pool, vlan = pools[name], t.vlan(vid)
            if name in net.pool_names[:j]:
                raise TopologyError(f"{at}: {name} is listed twice; list one pool per family")
            if pool.family in families:
                raise TopologyError(f"{at}: {name} is a second IPv{pool.family} pool (after {families[pool.family]}); "
                                    f"list one pool per family")
            families[pool.family] = name
            if vlan.subnet_of(pool.family) != pool.subnet:
                raise TopologyError(f"{at}: pool {name} ({pool.subnet}) is not in VLAN {vid} "
                                    f"({_vlan_subnets(vlan)}) that master {net.master} carries; "
                                    f"{_pool_fix(t, vlan, pool.family, f'drop {name}')}")


def _vlan_subnets(vlan) -> str:
    return ", ".join(str(s) for s in (vlan.subnet, vlan.subnet6) if s is not None)


def _pool_fix(t: Topology, vlan, family: int, drop: str) -> str:
    """How to pick a pool of ``family`` for a NIC in ``vlan``: the VLAN's pools of that family, or (none: the VLAN
    has no subnet of the family) dropping the pool or giving the VLAN that family."""
    subnet = vlan.subnet_of(family)
    if subnet is None:
        keys = "subnet + gateway" if family == 4 else "subnet6 + gateway6"
        return f"VLAN {vlan.id} has no IPv{family} subnet: {drop} or give the VLAN {keys}"
    names = [p.name for p in t.ippools if p.subnet == subnet]
    return f"use a pool of {subnet} ({', '.join(names)})" if names else f"define a pool of {subnet} under 'ippools'"


def _check_nic_families(t: Topology, where: str, att) -> None:
    """A Spiderpool NIC's pools are in the VLAN its master carries, so a NIC asking for a family its VLAN has no
    subnet of is refused here. A NIC may get one family only on a dual-stack topology: Spiderpool allocates the
    families its pools name (spidernet-io/spiderpool ``pkg/ipam/config.go`` ``filterPoolMisspecified``: "for dual
    stack environment, support only ipv4 or ipv6 address")."""
    for pool in att.pools:
        if att.vlan.subnet_of(pool.family) != pool.subnet:
            fix = _pool_fix(t, att.vlan, pool.family, f"drop the ipv{pool.family} pools of this NIC")
            raise TopologyError(f"{where}.annotations: {att.ifname} selects pool {pool.name} ({pool.subnet}), which "
                                f"is not in VLAN {att.vlan.id} ({_vlan_subnets(att.vlan)}); {fix}")


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
            _check_nic_families(t, where, att)
            for pool in att.pools:
                usage[pool.name] = usage.get(pool.name, 0) + 1
        violation = attachment_rule_violation(attachments)
        if violation:
            raise TopologyError(f"{where}.annotations: {violation}")
        refusal = coordinator.refusal(attachments)
        if refusal:
            raise TopologyError(f"{where}: the coordinator of its networks would refuse this pod ({refusal}); "
                                f"change the networks' coordinator settings or the pod")
    for name, used in usage.items():
        if used > len(pools[name].addresses):
            raise TopologyError(f"ippools: pool {name} has {len(pools[name].addresses)} addresses but "
                                f"{used} interfaces use it; widen its 'ips'")


# --- duplicates and address conflicts ---------------------------------------------------------------
MAX_TOTAL_POOL_ADDRESSES = 1 << 18  # what the pools of a topology list in all (they are expanded)


def _check_lists(t: Topology) -> None:
    """Each VLAN once in a node's ``vlans`` and in ``switch.vlanifs`` (ovs-vsctl would fail on a repeat)."""
    lists = [(f"nodes[{i}].vlans", node.vlans) for i, node in enumerate(t.nodes)]
    lists.append(("switch.vlanifs", t.switch.vlanifs or []))
    for where, vids in lists:
        for j, vid in enumerate(vids):
            if vid in vids[:j]:
                raise TopologyError(f"{where}[{j}]: VLAN {vid} is listed twice (first at {where}"
                                    f"[{vids.index(vid)}]); list each VLAN once")


def _special_address(address, subnet) -> str | None:
    """``network`` or ``broadcast`` when ``address`` is that address of an IPv4 ``subnet`` (None on /31 and /32,
    which have neither: RFC 3021); ``Subnet-Router anycast`` for the all-zero host of an IPv6 one (RFC 4291
    2.6.1; IPv6 has no broadcast)."""
    if subnet.version == 6:
        return "Subnet-Router anycast" if address == subnet.network_address else None
    if subnet.prefixlen >= 31:
        return None
    if address == subnet.network_address:
        return "network"
    return "broadcast" if address == subnet.broadcast_address else None


def _check_pool_ranges(t: Topology) -> None:
    """Every ``ips`` and ``excludeIPs`` entry inside the pool's subnet, no network or broadcast address
    in ``ips``, and at most ``MAX_TOTAL_POOL_ADDRESSES`` in all (checked on the ranges, before expanding)."""
    # ranges reaching outside their pool's subnet count nothing: refused below (or by _check_pools), never expanded
    total = sum(range_size(start, end, p.subnet) for p in t.ippools for start, end in p.ip_ranges + p.exclude_ranges)
    if total > MAX_TOTAL_POOL_ADDRESSES:
        raise TopologyError(f"ippools: {total} addresses in all, more than the {MAX_TOTAL_POOL_ADDRESSES} a topology "
                            f"may list; narrow the pools' ips and excludeIPs")
    subnets = {s for v in t.vlans for s in (v.subnet, v.subnet6)}
    for i, pool in enumerate(t.ippools):
        if pool.subnet not in subnets:
            continue  # _check_pools says so
        for key, ranges in (("ips", pool.ip_ranges), ("excludeIPs", pool.exclude_ranges)):
            for j, (start, end) in enumerate(ranges):
                where = f"ippools[{i}].{key}[{j}]"
                outside = next((a for a in (start, end) if a not in pool.subnet), None)
                if outside is not None:
                    effect = "" if key == "ips" else ", so it excludes nothing"
                    raise TopologyError(f"{where}: {outside} is outside subnet {pool.subnet}{effect}; list only "
                                        f"addresses of the pool's subnet")
                if key == "ips":
                    _check_range_hosts(pool, start, end, where)


def _check_range_hosts(pool, start, end, where: str) -> None:
    """An ``ips`` range may hold the network or broadcast address only if ``excludeIPs`` takes it out."""
    subnet = pool.subnet
    specials = [(subnet.network_address, f"start it at {subnet.network_address + 1}")]
    if subnet.version == 4:
        specials.append((subnet.broadcast_address, f"end it at {subnet.broadcast_address - 1}"))
    for address, fix in specials:
        kind = _special_address(address, subnet)
        if kind and start <= address <= end and pool.allocates(address):
            raise TopologyError(f"{where}: includes {address}, the {kind} address of {subnet}, which no pod may "
                                f"hold; {fix} or add {address} to excludeIPs")


def _check_pool_gateways(t: Topology) -> None:
    """VLAN and pool gateways are host addresses; a pool's gateway is its VLAN's (or left out), and no pool
    hands out its VLAN's gateway."""
    gateways = [(f"vlans[{i}].gateway", v.gateway, v.subnet) for i, v in enumerate(t.vlans) if v.subnet is not None]
    gateways += [(f"vlans[{i}].gateway6", v.gateway6, v.subnet6) for i, v in enumerate(t.vlans)
                 if v.subnet6 is not None]
    gateways += [(f"ippools[{i}].gateway", p.gateway, p.subnet) for i, p in enumerate(t.ippools)
                 if p.gateway is not None]
    for where, gateway, subnet in gateways:
        kind = _special_address(gateway, subnet)
        if kind:
            raise TopologyError(f"{where}: {gateway} is the {kind} address of {subnet}, which no host may "
                                f"hold; use a host address such as {subnet.network_address + 1}")
    for i, pool in enumerate(t.ippools):
        vlan = t.vlan_of_subnet(pool.subnet)
        j, key = t.vlans.index(vlan), "gateway" if pool.family == 4 else "gateway6"
        vlan_gateway = vlan.gateway_of(pool.family)
        if pool.gateway is not None and pool.gateway != vlan_gateway:
            raise TopologyError(f"ippools[{i}].gateway: {pool.gateway} differs from vlans[{j}].{key} "
                                f"{vlan_gateway}: Spiderpool pods route through the pool gateway while the switch "
                                f"vlanif holds the VLAN gateway; set the pool's gateway to {vlan_gateway} or leave "
                                f"it out")
        if pool.allocates(vlan_gateway):
            raise TopologyError(f"ippools[{i}].ips: contains {vlan_gateway}, the gateway of VLAN {vlan.id} (held by "
                                f"the switch vlanif); add it to excludeIPs")


def _check_node_addresses(t: Topology) -> None:
    """Node IPs: each its own, a host address, not a gateway and not in any pool."""
    native = t.vlan(t.switch.native_vlan)
    gateways = {v.gateway: f"vlans[{j}].gateway" for j, v in enumerate(t.vlans) if v.gateway is not None}
    for j, pool in enumerate(t.ippools):
        if pool.gateway is not None:
            gateways.setdefault(pool.gateway, f"ippools[{j}].gateway")
    first: dict = {}
    for i, node in enumerate(t.nodes):
        where = f"nodes[{i}].ip"
        other = first.setdefault(node.ip, i)
        if other != i:
            raise TopologyError(f"{where}: {node.ip} is also the IP of nodes[{other}] ({t.nodes[other].name}); "
                                f"give every node its own address")
        kind = _special_address(node.ip, native.subnet)
        if kind:
            raise TopologyError(f"{where}: {node.ip} is the {kind} address of the native VLAN's subnet "
                                f"{native.subnet}; use a host address")
        if node.ip in gateways:
            raise TopologyError(f"{where}: {node.ip} is the gateway {gateways[node.ip]}, which the switch vlanif "
                                f"holds; give the node another address")
        pool = next((j for j, p in enumerate(t.ippools) if p.allocates(node.ip)), None)
        if pool is not None:
            raise TopologyError(f"{where}: {node.ip} is in ippools[{pool}] ({t.ippools[pool].name}), which would "
                                f"give it to a pod; give the node an address outside the pool or add {node.ip} "
                                f"to the pool's excludeIPs")
