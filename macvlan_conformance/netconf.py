"""CNI network configurations derived from the topology: the NAD ``spec.config`` of each network
(shared by the lab and the cluster renderer), and the IPAM blocks that stand in for Spiderpool."""

from __future__ import annotations

import re
from ipaddress import IPv4Address
from pathlib import Path

from .topology import Coordinator, IPPool, Network, Topology

CNI_VERSION = "1.0.0"
MULTUS3_CNI_VERSION = "0.4.0"  # the newest config version Multus 3.x (libcni v0.8.1) can run
CNI_VERSIONS = (CNI_VERSION, MULTUS3_CNI_VERSION)


def cni_version_for_multus(image: str) -> tuple[str, str]:
    """The ``cniVersion`` our NADs may declare under the Multus of ``image`` (its tag), and why.

    Multus 3.x vendors libcni v0.8.1, which runs configs up to 0.4.0; 1.0.0 arrived with Multus 4.0
    (k8snetworkplumbingwg/multus-cni PR #879, the maintainers' answer; multus-underlay's chart still ships
    3.x). A tag without a version (``stable``, ``snapshot``, a digest) gets 0.4.0, which both run."""
    tag = image.rsplit("/", 1)[-1].partition(":")[2].partition("@")[0]
    found = re.match(r"v?(\d+)\.(\d+)", tag)
    if found is None:
        return MULTUS3_CNI_VERSION, f"Multus image {image!r} names no version; {MULTUS3_CNI_VERSION} runs on 3.x and 4.x"
    if int(found.group(1)) >= 4:
        return CNI_VERSION, f"Multus {found.group(0)} runs CNI {CNI_VERSION}"
    return MULTUS3_CNI_VERSION, f"Multus {found.group(0)} runs configs up to {MULTUS3_CNI_VERSION}"


def macvlan_conflist(network: Network, ipam: dict, mtu: int | None = None, cni_version: str = CNI_VERSION,
                     cluster_cidrs: dict | None = None) -> dict:
    """The network's CNI configuration list: the macvlan plugin on ``master`` with the given IPAM, then the
    coordinator when the network chains it (``coordinator_plugin``, with ``cluster_cidrs``)."""
    plugin = {"type": "macvlan", "master": network.master, "mode": network.mode, "ipam": ipam}
    if network.mtu or mtu:
        plugin["mtu"] = network.mtu or mtu
    plugins = [plugin]
    if network.coordinator is not None:
        plugins.append(coordinator_plugin(network.coordinator, cluster_cidrs))
    return {"cniVersion": cni_version, "name": network.name, "plugins": plugins}


def coordinator_plugin(coordinator: Coordinator, cluster_cidrs: dict | None = None) -> dict:
    """The coordinator as a SpiderMultusConfig renders it into the NAD (spidernet-io/spiderpool
    ``pkg/multuscniconfig/multusconfig_informer.go`` ``generateCoordinatorCNIConf``: ``type``, ``mode``,
    ``tunePodRoutes``, ``podDefaultRouteNic``, ``hijackCIDR``; upstream never writes ``hostRuleTable``, which the
    plugin reads from the agent: written here only when the topology sets another table than 500).
    ``disabled`` is written as the plugin's own spelling ``disable`` (``cni_types.go`` ``ModeDisable``; the
    CRD's ``disabled`` would reach the plugin as an unknown mode). ``cluster_cidrs`` (``serviceCIDR``,
    ``overlayPodCIDR``) are what the real plugin asks spiderpool-agent for: only the stand-in needs them."""
    plugin: dict = {"type": "coordinator", "mode": "disable" if coordinator.mode == "disabled" else coordinator.mode,
                    "tunePodRoutes": coordinator.tune_pod_routes}
    if coordinator.pod_default_route_nic:
        plugin["podDefaultRouteNic"] = coordinator.pod_default_route_nic
    if coordinator.hijack_cidr:
        plugin["hijackCIDR"] = [str(c) for c in coordinator.hijack_cidr]
    if coordinator.host_rule_table != 500:
        plugin["hostRuleTable"] = coordinator.host_rule_table
    return {**plugin, **(cluster_cidrs or {})}


def cluster_cidrs(topology: Topology, service_cidr: str | None = None) -> dict:
    """What spiderpool-agent answers the coordinator (SpiderCoordinator status): the Service CIDR (``service_cidr``,
    the cluster's own where one runs, else the topology's) and the overlay's pod CIDR (``podCIDRType`` auto
    finds calico/cilium, which the lab's overlay stands for); for the stand-in's config."""
    service_cidr = service_cidr or (str(topology.overlay.service_cidr) if topology.overlay.service_cidr else None)
    service = [service_cidr] if service_cidr else []
    return {"serviceCIDR": service, "overlayPodCIDR": [str(topology.overlay.pod_cidr)]}


def spiderpool_ipam() -> dict:
    """IPAM as a Spiderpool cluster configures it (pool chosen by pod annotation or network default)."""
    return {"type": "spiderpool"}


def pool_ranges(pool: IPPool) -> list[dict]:
    """The pool's allocatable addresses as host-local ranges of one range set (excludeIPs split them)."""
    ranges, start, prev = [], None, None
    for address in pool.addresses:
        if start is None:
            start = prev = address
        elif int(address) == int(prev) + 1:
            prev = address
        else:
            ranges.append((start, prev))
            start = prev = address
    ranges.append((start, prev))
    result = []
    for first, last in ranges:
        entry = {"subnet": str(pool.subnet), "rangeStart": str(first), "rangeEnd": str(last)}
        if pool.gateway:
            entry["gateway"] = str(pool.gateway)
        result.append(entry)
    return result


def static_ipam(allocated: list[tuple[IPPool, str]], default_route: bool) -> dict:
    """The ``static`` IPAM plugin handing out the addresses a pool allocator chose, one per pool (the lab's
    Spiderpool): with a default route of each family through its pool's gateway, as Spiderpool returns them
    (spidernet-io/spiderpool ``pkg/utils/convert/convert.go`` ``genDefaultRoute``), unless ``default_route`` is
    off (cleangateway drops both families' routes)."""
    ipam: dict = {"type": "static", "addresses": []}
    for pool, address in allocated:
        entry = {"address": f"{address}/{pool.subnet.prefixlen}"}
        ipam["addresses"].append(entry)
        if pool.gateway:
            entry["gateway"] = str(pool.gateway)
            if default_route:
                dst = "0.0.0.0/0" if pool.family == 4 else "::/0"
                ipam.setdefault("routes", []).append({"dst": dst, "gw": str(pool.gateway)})
    return ipam


def host_local_ipam(pool: IPPool, data_dir: Path, default_route: bool) -> dict:
    """host-local IPAM allocating from ``pool``, with a lab-private ``dataDir``."""
    ipam = {"type": "host-local", "dataDir": str(data_dir), "ranges": [pool_ranges(pool)]}
    if default_route and pool.gateway:
        ipam["routes"] = [{"dst": "0.0.0.0/0"}]
    return ipam


def overlay_conflist(topology: Topology, node: str, data_dir: Path, bridge: str) -> dict:
    """The stand-in for the overlay CNI on one node: the real ``bridge`` plugin on the node's pod CIDR."""
    cidr = topology.node_pod_cidr(node)
    gateway = IPv4Address(int(cidr.network_address) + 1)
    return {"cniVersion": CNI_VERSION, "name": topology.overlay.name, "plugins": [{
        "type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": False, "hairpinMode": False,
        "ipam": {"type": "host-local", "dataDir": str(data_dir),
                 "ranges": [[{"subnet": str(cidr), "gateway": str(gateway)}]],
                 "routes": [{"dst": "0.0.0.0/0"}]},
    }]}
