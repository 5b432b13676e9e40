"""Kubernetes manifests of one run, rendered from the (run-scoped) topology model.

Objects: the run Namespace, one SpiderIPPool per pool (spiderpool.spidernet.io/v2beta1, which has no
``spec.vlan``), one NetworkAttachmentDefinition per network (a macvlan conflist), optionally one
SpiderMultusConfig per network, and the probe pods. Every object carries the run's labels, so cleanup is
one label selector. ``host_config`` renders the kubernetes-nmstate policies that build ``bond0`` and its
VLAN interfaces on each node, as the seed sets hosts up.
"""

from __future__ import annotations

import json
from typing import Literal

from .. import annotations as ann
from .. import netconf
from ..topology import Attachment, IPPool, Network, Pod, Topology, family_name
from .scope import POD_LABEL, RunScope

IpamKind = Literal["spiderpool", "host-local", "whereabouts"]
IPAM_KINDS: tuple[str, ...] = ("spiderpool", "host-local", "whereabouts")
DEFAULT_PROBE_IMAGE = "ghcr.io/macvlan-conformance/probe:0.1.0"
NETWORK_TYPE_ANNOTATION = "macvlan-conformance.io/network-type"
AGENT_COMMAND = ["python3", "-m", "macvlan_conformance.agent"]


def _meta(name: str, scope: RunScope, namespace: str | None = None, **extra) -> dict:
    meta = {"name": name, "labels": dict(scope.labels)}
    if namespace:
        meta["namespace"] = namespace
    meta.update(extra)
    return meta


def namespace(scope: RunScope) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(scope.namespace, scope)}


def ippool_spec(pool: IPPool) -> dict:
    """A SpiderIPPool's ``spec`` (v2beta1) for ``pool``: ``ipVersion`` is its subnet's family, as Spiderpool's
    mutating webhook would set it (spidernet-io/spiderpool ``pkg/ippoolmanager/ippool_mutate.go`` ``mutateIPPool``)."""
    spec: dict = {"ipVersion": pool.family, "subnet": str(pool.subnet), "ips": list(pool.ips)}
    if pool.exclude_ips:
        spec["excludeIPs"] = list(pool.exclude_ips)
    if pool.gateway:
        spec["gateway"] = str(pool.gateway)
    return spec


def ippool(pool: IPPool, scope: RunScope) -> dict:
    return {"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderIPPool",
            "metadata": _meta(pool.name, scope), "spec": ippool_spec(pool)}


def family_default_route(pool: IPPool) -> dict:
    """The default route of ``pool``'s family through its gateway."""
    return {"dst": "0.0.0.0/0" if pool.family == 4 else "::/0", "gw": str(pool.gateway)}


def ipam_config(kind: IpamKind, pools: tuple[IPPool, ...], default_route: bool = True) -> dict:
    """The IPAM block of a network's NAD from its ``pools`` (one per family, IPv4 first): Spiderpool (pools
    chosen, and the gateway cleaned, by pod annotation), or one of the community plugins allocating from the
    same ranges, with a default route of each family via its pool's gateway only when ``default_route`` (a NAD
    is the same for every pod: no per-pod choice)."""
    if kind == "spiderpool":
        return netconf.spiderpool_ipam()
    if kind == "host-local":
        return _host_local_ipam(pools, default_route)
    if kind == "whereabouts":
        return _whereabouts_ipam(pools, default_route)
    raise ValueError(f"unknown IPAM {kind!r}; use one of: {', '.join(IPAM_KINDS)}")


def _host_local_ipam(pools: tuple[IPPool, ...], default_route: bool) -> dict:
    """host-local with one range set per pool; a default route without ``gw`` takes the gateway of its family's
    range set (containernetworking/plugins ``pkg/ipam/ipam_linux.go`` ``ConfigureIface``)."""
    ipam: dict = {"type": "host-local", "ranges": [netconf.pool_ranges(p) for p in pools]}
    routes = [{"dst": family_default_route(p)["dst"]} for p in pools if p.gateway]
    if routes and default_route:
        ipam["routes"] = routes
    return ipam


def _whereabouts_range(pool: IPPool) -> dict:
    """One whereabouts range: the pool's subnet from its first to its last address, the holes excluded."""
    first, last = pool.addresses[0], pool.addresses[-1]
    entry: dict = {"range": str(pool.subnet), "range_start": str(first), "range_end": str(last)}
    held, host = set(pool.addresses), pool.subnet.max_prefixlen
    excluded = [a for a in (type(first)(n) for n in range(int(first), int(last) + 1)) if a not in held]
    if excluded:
        entry["exclude"] = [f"{a}/{host}" for a in excluded]
    return entry


def _whereabouts_ipam(pools: tuple[IPPool, ...], default_route: bool) -> dict:
    """whereabouts over the pools: the top-level range of one pool, or ``ipRanges`` of several. It returns the
    ``routes`` of its config and no route of its own for ``gateway``, and sets its one ``gateway`` on every
    address it returns (k8snetworkplumbingwg/whereabouts ``pkg/types/types.go`` ``IPAMConfig``,
    ``cmd/whereabouts.go`` ``cmdAdd``): a dual-stack NAD gives each family's route its ``gw`` instead."""
    if len(pools) == 1:
        ipam: dict = {"type": "whereabouts", **_whereabouts_range(pools[0])}
        if pools[0].gateway:
            ipam["gateway"] = str(pools[0].gateway)
    else:
        ipam = {"type": "whereabouts", "ipRanges": [_whereabouts_range(p) for p in pools]}
    routes = [family_default_route(p) for p in pools if p.gateway]
    if routes and default_route:
        ipam["routes"] = routes
    return ipam


def ipam_problems(topology: Topology, kind: IpamKind) -> list[str]:
    """Why ``kind`` cannot give this topology's pods sound addresses, one line each (empty: it can).

    host-local keeps its allocations in a directory on each node (containernetworking/plugins
    ``plugins/ipam/host-local/backend/disk``), so one range in a NAD is handed out again on every node:
    refused for a network with pods on more than one node. A NAD cannot vary per pod, so with host-local or
    whereabouts a network whose NICs differ in carrying the default route is refused as well."""
    if kind == "spiderpool":
        return []
    problems = []
    for network in topology.networks:
        users = [(pod, att) for pod in topology.pods for att in topology.attachments(pod.name)
                 if att.network is network]
        nodes = sorted({pod.node for pod, _ in users})
        if kind == "host-local" and len(nodes) > 1:
            problems.append(f"--ipam host-local: network {network.ref} has pods on {', '.join(nodes)}; host-local "
                            f"allocates per node, so pods on different nodes get the same addresses; use "
                            f"--ipam spiderpool or whereabouts (cluster-wide)")
        if len({att.default_route for _, att in users}) > 1:
            problems.append(f"--ipam {kind}: network {network.ref} carries the default route on some pods' NICs and "
                            f"not on others, which one NAD cannot say; use --ipam spiderpool (per-pod cleangateway)")
    return problems


def nad_config(network: Network, topology: Topology, ipam: IpamKind = "spiderpool",
               cni_version: str = netconf.CNI_VERSION) -> dict:
    """The NAD's ``spec.config`` (parsed): a macvlan conflist on the network's master."""
    return netconf.macvlan_conflist(network, ipam_config(ipam, network_pools(network, topology),
                                                         not network.clean_gateway), cni_version=cni_version)


def network_pools(network: Network, topology: Topology) -> tuple[IPPool, ...]:
    """The network's default pools, one per family, IPv4 first."""
    return tuple(sorted((topology.pool(n) for n in network.pool_names), key=lambda p: p.family))


def family_pools(pools) -> dict[str, list[str]]:
    """``{"ipv4": [name], "ipv6": [name]}`` of ``pools`` (one per family), the families that have one, IPv4
    first: a SpiderMultusConfig's ``ippools`` and a pod annotation entry write them so."""
    return {family_name(p.family): [p.name] for p in sorted(pools, key=lambda p: p.family)}


def network_attachment(network: Network, topology: Topology, scope: RunScope, ipam: IpamKind = "spiderpool",
                       cni_version: str = netconf.CNI_VERSION) -> dict:
    meta = _meta(network.name, scope, network.namespace,
                 annotations={NETWORK_TYPE_ANNOTATION: f"macvlan-{network.type}"})
    return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition", "metadata": meta,
            "spec": {"config": json.dumps(nad_config(network, topology, ipam, cni_version), indent=2)}}


def multus_config(network: Network, topology: Topology, scope: RunScope) -> dict:
    """The SpiderMultusConfig equivalent of the NAD (Spiderpool then writes the NAD itself, its ``ippools`` as the
    IPAM's ``default_ipv4_ippool`` / ``default_ipv6_ippool``). ``enableCoordinator``
    defaults to true in the CRD, so it is written either way: the network's coordinator spec, or false."""
    node = topology.nodes[0]
    vlan = topology.master_vlan(network.master, node.bond.name)
    macvlan: dict = {"master": [node.bond.name], "ippools": family_pools(network_pools(network, topology))}
    if vlan is not None and vlan != topology.switch.native_vlan:
        macvlan["vlanID"] = vlan
    if network.mtu:
        macvlan["mtu"] = network.mtu
    meta = _meta(network.name, scope, network.namespace,
                 annotations={NETWORK_TYPE_ANNOTATION: f"macvlan-{network.type}"})
    spec: dict = {"cniType": "macvlan", "macvlan": macvlan, "enableCoordinator": network.coordinator is not None}
    if network.coordinator is not None:
        c = network.coordinator
        spec["coordinator"] = {"mode": c.mode, "tunePodRoutes": c.tune_pod_routes, "hostRuleTable": c.host_rule_table,
                               **({"podDefaultRouteNIC": c.pod_default_route_nic} if c.pod_default_route_nic else {}),
                               **({"hijackCIDR": [str(n) for n in c.hijack_cidr]} if c.hijack_cidr else {})}
    return {"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderMultusConfig", "metadata": meta,
            "spec": spec}


def pod_annotations(pod: Pod, attachments: list[Attachment]) -> dict[str, str]:
    """The pod's Multus annotations, plus the pools of every macvlan interface made explicit (``ipv4`` and/or
    ``ipv6``: one per family the NIC has), with ``cleangateway`` on every NIC whose IPAM the model says returns
    no default route (``Attachment.default_route``: the topology's own ``cleangateway``, or the network's):
    Spiderpool returns a default route of each family through its pool's gateway for each NIC it allocates unless
    its entry says ``cleangateway: true``, which drops both (spidernet-io/spiderpool
    ``cmd/spiderpool/cmd/command_add.go`` and ``pkg/utils/convert/convert.go``); with the coordinator, a later NIC's
    default route is then moved to its own table rather than cleaned."""
    result = {k: v for k, v in pod.annotations.items() if k not in (ann.IPPOOL, ann.IPPOOLS)}
    pools = [{"interface": a.ifname, **family_pools(a.pools), "cleangateway": not a.default_route}
             for a in attachments if a.pools]
    if pools:
        result[ann.IPPOOLS] = json.dumps(pools, separators=(",", ":"))
    return result


def probe_pod(pod: Pod, attachments: list[Attachment], scope: RunScope, image: str = DEFAULT_PROBE_IMAGE,
              name: str | None = None) -> dict:
    """A probe pod pinned to its node: the agent image idling until the suite execs the agent in it.
    Only NET_RAW (raw sockets: ARP, ICMP, sniffing) and NET_ADMIN (link and neighbour reads that need it)."""
    labels = dict(scope.labels)
    labels[POD_LABEL] = pod.name
    container = {
        "name": "probe", "image": image, "imagePullPolicy": "IfNotPresent",
        "command": ["sleep", "infinity"],
        "securityContext": {"allowPrivilegeEscalation": False, "runAsUser": 0,
                            "capabilities": {"drop": ["ALL"], "add": ["NET_RAW", "NET_ADMIN"]}},
        "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
    }
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name or pod.name, "namespace": pod.namespace, "labels": labels,
                         "annotations": pod_annotations(pod, attachments)},
            "spec": {"nodeName": pod.node, "containers": [container], "restartPolicy": "Never",
                     "terminationGracePeriodSeconds": 0, "automountServiceAccountToken": False,
                     "enableServiceLinks": False}}


def render(topology: Topology, scope: RunScope, *, image: str = DEFAULT_PROBE_IMAGE, ipam: IpamKind = "spiderpool",
           multus_configs: bool = False, cni_version: str = netconf.CNI_VERSION,
           create_networks: bool = True) -> list[dict]:
    """Every object of a run, in creation order. ``topology`` must already be scoped (``scoped_topology``);
    ``cni_version`` is what the cluster's Multus runs (``netconf.cni_version_for_multus``). Raises
    ``ValueError`` when ``ipam`` cannot address the topology soundly (``ipam_problems``). Without
    ``create_networks`` the pods use the cluster's own NADs and pools: only the namespace and pods."""
    problems = ipam_problems(topology, ipam) if create_networks else []
    if problems:
        raise ValueError(problems[0] + (f" (and {len(problems) - 1} more like it)" if len(problems) > 1 else ""))
    objects = [namespace(scope)]
    if ipam == "spiderpool" and create_networks:
        objects += [ippool(p, scope) for p in topology.ippools]
    for network in topology.networks if create_networks else []:
        objects.append(multus_config(network, topology, scope) if multus_configs
                       else network_attachment(network, topology, scope, ipam, cni_version))
    objects += [probe_pod(p, topology.attachments(p.name), scope, image) for p in topology.pods]
    return objects


# --- host side (kubernetes-nmstate) --------------------------------------------------------------------
def host_config(topology: Topology) -> list[dict]:
    """One NodeNetworkConfigurationPolicy per node: ``bond0`` (active-backup over the member NICs) and a
    ``bond0.<vid>`` VLAN interface per trunked VLAN, all without addresses of their own except the node
    IP on the bond (native VLAN)."""
    policies = []
    for node in topology.nodes:
        bond = node.bond
        native = topology.vlan(topology.switch.native_vlan) if topology.switch.native_vlan else None
        bond_iface: dict = {
            "name": bond.name, "type": "bond", "state": "up", "mtu": topology.switch.mtu,
            "link-aggregation": {"mode": bond.mode, "port": list(bond.members), "options": {"miimon": "100"}},
            "ipv4": {"enabled": False}}
        if native:
            bond_iface["ipv4"] = {"enabled": True, "dhcp": False,
                                  "address": [{"ip": str(node.ip), "prefix-length": native.subnet.prefixlen}]}
        interfaces = [bond_iface]
        for vid in node.vlans:
            interfaces.append({"name": f"{bond.name}.{vid}", "type": "vlan", "state": "up",
                               "mtu": topology.switch.mtu, "vlan": {"base-iface": bond.name, "id": vid},
                               "ipv4": {"enabled": False}})
        policies.append({
            "apiVersion": "nmstate.io/v1", "kind": "NodeNetworkConfigurationPolicy",
            "metadata": {"name": f"{topology.name}-{node.name}-underlay"},
            "spec": {"nodeSelector": {"kubernetes.io/hostname": node.name},
                     "desiredState": {"interfaces": interfaces}}})
    return policies
