"""The cluster's own networks next to the topology: where each NetworkAttachmentDefinition and SpiderIPPool
the topology names differs from what it declares, one line per difference (``networks.declared``).

The comparisons are pure functions of the stored objects (``nad_differences``, ``pool_differences``);
``read`` fetches them. What the macvlan plugin does with an absent field is what it is compared as: no
``mode`` is bridge (containernetworking/plugins ``plugins/main/macvlan/macvlan.go`` ``modeFromString``),
no ``mtu`` is the master's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

from kubernetes.client.exceptions import ApiException

from ..topology import FAMILIES, IPPool, Network, Topology, parse_range
from .kube import Cluster, explain
from .manifests import network_pools
from .scope import RUN_LABEL

NAD_API = ("k8s.cni.cncf.io", "v1", "network-attachment-definitions")
POOL_API = ("spiderpool.spidernet.io", "v2beta1", "spiderippools")
MAX_COMPARED = 1 << 20  # addresses of a stored pool compared one by one (a cluster's pool may be a /8)


@dataclass(frozen=True)
class StoredNetwork:
    """A network's objects as the API server stores them: its NAD and each of its SpiderIPPools by name (None:
    not found)."""

    nad: dict | None
    pools: dict[str, dict | None] = field(default_factory=dict)


def plugins_of(config: dict) -> list[dict]:
    """The plugins of a CNI config: a conflist's ``plugins``, or the single plugin config itself."""
    return list(config.get("plugins") or []) if "plugins" in config else [config]


def nad_differences(network: Network, nad: dict | None, ipam: str = "spiderpool",
                    pools: Sequence[IPPool] = ()) -> list[str]:
    """Where the stored NAD differs from ``network``: existence, macvlan master/mode/MTU, IPAM type, the
    pools Spiderpool defaults to per family (compared with ``pools``, the network's: ``manifests.network_pools``;
    not compared without them), and chained plugins the topology does not model."""
    if nad is None:
        return [f"NAD {network.ref} does not exist; create it (or run with --networks create)"]
    try:
        config = json.loads((nad.get("spec") or {}).get("config") or "")
    except (TypeError, ValueError):
        return [f"NAD {network.ref}: spec.config is not JSON"]
    plugins = plugins_of(config) if isinstance(config, dict) else []
    macvlan = next((p for p in plugins if isinstance(p, dict) and p.get("type") == "macvlan"), None)
    if macvlan is None:
        types = ", ".join(str(p.get("type")) for p in plugins if isinstance(p, dict)) or "none"
        return [f"NAD {network.ref} is not a macvlan network (plugins: {types})"]
    found = []
    for field, have, want in (("master", macvlan.get("master"), network.master),
                              ("mode", macvlan.get("mode") or "bridge", network.mode),
                              ("mtu", macvlan.get("mtu"), network.mtu)):
        if have != want:
            found.append(f"{field} {have if have is not None else 'unset'} (topology: "
                         f"{want if want is not None else 'unset, the master MTU'})")
    found += _ipam_differences(macvlan.get("ipam") or {}, ipam, pools)
    coordinator = next((p for p in plugins if isinstance(p, dict) and p.get("type") == "coordinator"), None)
    found += _coordinator_differences(network, coordinator)
    chained = [str(p.get("type")) for p in plugins if isinstance(p, dict) and p is not macvlan and p is not coordinator]
    if chained:
        found.append(f"chains {', '.join(chained)}, which the topology does not model (its expectations may not hold)")
    return [f"NAD {network.ref}: {line}" for line in found]


def _coordinator_differences(network: Network, plugin: dict | None) -> list[str]:
    """The chained coordinator against the topology's: whether it is there, its mode (absent: auto, the
    SpiderCoordinator default; ``disable`` is the plugin's spelling of disabled), tunePodRoutes (absent: true)
    and podDefaultRouteNic (spidernet-io/spiderpool cmd/coordinator/cmd/cni_types.go ``Config``)."""
    want = network.coordinator
    if plugin is None:
        return ["does not chain the coordinator (topology: coordinator in mode " + want.mode + ")"] if want else []
    if want is None:
        return ["chains the coordinator, which the topology does not declare for this network (add coordinator: "
                "{mode: ...} to it)"]
    mode = plugin.get("mode") or "auto"
    found = []
    if mode == "disabled":  # cni_types.go ModeDisable is "disable": the plugin fails every ADD on "disabled"
        return ["coordinator mode 'disabled', which the plugin does not know (it fails every pod with "
                "'unknown tuneMode: disabled'); write 'disable'"]
    for field, have, wanted in (("coordinator mode", "disabled" if mode == "disable" else mode, want.mode),
                                ("coordinator tunePodRoutes", plugin.get("tunePodRoutes", True), want.tune_pod_routes),
                                ("coordinator podDefaultRouteNic", plugin.get("podDefaultRouteNic", ""),
                                 want.pod_default_route_nic)):
        if have != wanted:
            found.append(f"{field} {have!r} (topology: {wanted!r})")
    return found


def _ipam_differences(ipam_conf: dict, ipam: str, pools: Sequence[IPPool]) -> list[str]:
    kind = ipam_conf.get("type")
    if kind != ipam:
        return [f"IPAM {kind or 'unset'} (topology run: {ipam})"]
    return default_pool_differences(ipam_conf, pools) if ipam == "spiderpool" and pools else []


def default_pool_differences(ipam_conf: dict, pools: Sequence[IPPool]) -> list[str]:
    """Spiderpool's default pools per family (``default_ipv4_ippool``, ``default_ipv6_ippool``: what a NIC whose
    pod names no pool gets; spidernet-io/spiderpool ``pkg/ipam/pool_selections.go`` ``getPoolFromNetConf``)
    against ``pools``, the network's one per family. A NAD listing none is not judged (the run's pods name
    their pools); one that lists defaults must list the network's pool of each family, and none of a family
    the network has no pool of."""
    lists = {family: ipam_conf.get(f"default_ipv{family}_ippool") or [] for family in FAMILIES}
    if not any(lists.values()):
        return []
    found = []
    for family, have in lists.items():
        want = next((p.name for p in pools if p.family == family), None)
        listed = ", ".join(map(str, have)) or "unset"
        if want is None and have:
            found.append(f"Spiderpool's default IPv{family} pool {listed} (topology: none, the network has no "
                         f"IPv{family} pool)")
        elif want is not None and want not in have:
            found.append(f"Spiderpool's default IPv{family} pool {listed} (topology: {want})")
    return found


def pool_differences(pool: IPPool, stored: dict | None, needed: int) -> list[str]:
    """Where the stored SpiderIPPool differs from ``pool`` (of either family): existence, subnet, gateway, its
    addresses, and whether ``needed`` of them are still free (status ``allocatedIPCount`` of ``totalIPCount``).
    Addresses are compared as addresses, not text (IPv6 has several spellings of each)."""
    if stored is None:
        return [f"IPv{pool.family} SpiderIPPool {pool.name} does not exist; create it (or run with --networks create)"]
    spec, status = stored.get("spec") or {}, stored.get("status") or {}
    found = []
    if not same_subnet(spec.get("subnet"), pool.subnet):
        found.append(f"subnet {spec.get('subnet')} (topology: {pool.subnet})")
    gateway = spec.get("gateway")
    if not _same_gateway(gateway, pool.gateway):
        found.append(f"gateway {gateway or 'unset'} (topology: {pool.gateway or 'unset'})")
    have = _addresses(spec)
    if have is not None and have != set(pool.addresses):
        extra, missing = sorted(have - set(pool.addresses)), sorted(set(pool.addresses) - have)
        found.append(f"{len(have)} addresses (topology: {len(pool.addresses)})"
                     + (f"; not in the topology: {extra[0]}..." if extra else "")
                     + (f"; missing: {missing[0]}..." if missing else ""))
    total = status.get("totalIPCount", len(have) if have is not None else None)
    allocated = status.get("allocatedIPCount", 0) or 0
    if isinstance(total, int) and total - allocated < needed:
        found.append(f"{total - allocated} free addresses of {total}, the run needs {needed}")
    return [f"SpiderIPPool {pool.name}: {line}" for line in found]


def same_subnet(text, subnet) -> bool:
    """Whether the stored subnet ``text`` is ``subnet`` (a CIDR with host bits set is not)."""
    try:
        return ip_network(str(text)) == subnet
    except ValueError:
        return False


def _same_gateway(text, gateway) -> bool:
    """Whether the stored gateway ``text`` (None or empty: unset) is ``gateway`` (None: unset)."""
    if not text or gateway is None:
        return not text and gateway is None
    try:
        return ip_address(str(text)) == gateway
    except ValueError:
        return False


def _addresses(spec: dict) -> set[IPv4Address | IPv6Address] | None:
    """The pool's allocatable addresses (``ips`` minus ``excludeIPs``), None when they cannot be read or
    are too many to compare one by one."""
    try:
        spans = {key: [parse_range(str(item)) for item in spec.get(key) or []] for key in ("ips", "excludeIPs")}
    except (TypeError, ValueError):
        return None
    if sum(int(last) - int(first) + 1 for ranges in spans.values() for first, last in ranges) > MAX_COMPARED:
        return None

    def expand(key: str) -> set[IPv4Address | IPv6Address]:
        return {type(first)(v) for first, last in spans[key] for v in range(int(first), int(last) + 1)}
    return expand("ips") - expand("excludeIPs")


def pool_usage(topology: Topology) -> dict[str, int]:
    """How many pod interfaces of the topology take an address from each pool (a dual-stack NIC from two)."""
    used: dict[str, int] = {}
    for pod in topology.pods:
        for att in topology.attachments(pod.name):
            for pool in att.pools:
                used[pool.name] = used.get(pool.name, 0) + 1
    return used


def differences(topology: Topology, network: Network, stored: StoredNetwork, ipam: str = "spiderpool") -> list[str]:
    """Every difference of one network (its NAD and, with Spiderpool, its pool of each family)."""
    pools = network_pools(network, topology)
    found = nad_differences(network, stored.nad, ipam, pools)
    if ipam == "spiderpool":
        usage = pool_usage(topology)
        for pool in pools:
            found += pool_differences(pool, stored.pools.get(pool.name), usage.get(pool.name, 0))
    return found


def list_pools(cluster: Cluster) -> list[dict]:
    """Every SpiderIPPool, as stored."""
    return (_get(cluster, "list SpiderIPPools", lambda: cluster.custom.list_cluster_custom_object(*POOL_API))
            or {}).get("items", [])


def read(cluster: Cluster, network: Network, ipam: str = "spiderpool", pools: list[dict] | None = None) -> StoredNetwork:
    """The network's NAD and (with Spiderpool) its pools, as stored; ``pools`` is a listing already made."""
    nad = _get(cluster, f"read NAD {network.ref}", lambda: cluster.custom.get_namespaced_custom_object(
        NAD_API[0], NAD_API[1], network.namespace, NAD_API[2], network.name))
    if ipam != "spiderpool":
        return StoredNetwork(nad)
    listed = {p["metadata"]["name"]: p for p in (list_pools(cluster) if pools is None else pools)}
    return StoredNetwork(nad, {name: listed.get(name) for name in network.pool_names})


def overlapping_pools(cluster: Cluster, topology: Topology) -> list[str]:
    """Existing SpiderIPPools sharing addresses with the topology's pools, one line each: Spiderpool's webhook
    refuses a pool whose IPs overlap another pool of the same subnet, so a run that creates its own pools
    lists them up front (spidernet-io/spiderpool ``pkg/ippoolmanager/ippool_validate.go``,
    ``IPPoolWebhook.validateIPPoolAvailableIPs``)."""
    lines = []
    for stored in list_pools(cluster):
        spec, meta = stored.get("spec") or {}, stored["metadata"]
        have = _addresses(spec) or set()
        for pool in topology.ippools:
            shared = have & set(pool.addresses)
            if not shared or not same_subnet(spec.get("subnet"), pool.subnet):
                continue
            fix = ("remove what that run left: `macvlan-conformance cluster cleanup`" if RUN_LABEL in (meta.get("labels") or {})
                   else "test the existing networks (--networks existing) or give the topology's pools free addresses")
            lines.append(f"pool {pool.name} shares {len(shared)} addresses (first {min(shared)}) with the existing "
                         f"SpiderIPPool {meta['name']}, which Spiderpool refuses; {fix}")
    return lines


def _get(cluster: Cluster, what: str, call):
    try:
        return call()
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise explain(exc, what, cluster) from None
