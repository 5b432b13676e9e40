"""Which SpiderIPPools serve one NIC: Spiderpool's pool-selection rules, as pure functions.

Contract: ``select_pools(ifname, nic_order, pod_annotations, ipam_conf, namespace_annotations,
cluster_default_pools)`` returns a ``Selection`` (pool names per family, in order, and cleangateway)
or raises ``SelectionError`` with the message Spiderpool gives plus the fix. Nothing here talks to
the API: the namespace annotations and the cluster-default pools are passed as callables, called
only when the rules reach them (Spiderpool reads them only then, too).

Rules, in upstream's order (spidernet-io/spiderpool pkg/ipam/pool_selections.go, getPoolCandidates):
1. ``ipam.spidernet.io/ippools`` (list of {"interface", "ipv4", "ipv6", "cleangateway"});
2. ``ipam.spidernet.io/ippool`` ({"ipv4", "ipv6"}, for every NIC Spiderpool serves; cleangateway
   comes from the IPAM config's ``clean_gateway``);
3. the Namespace annotations ``ipam.spidernet.io/default-ipv4-ippool`` / ``default-ipv6-ippool``;
4. the IPAM config's ``default_ipv4_ippool`` / ``default_ipv6_ippool``;
5. the SpiderIPPools with ``spec.default: true``.
The SpiderSubnet annotations (auto pools) and wildcard pool names are not implemented (an error
says so).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from macvlan_conformance import annotations as multus

IPPOOL = "ipam.spidernet.io/ippool"
IPPOOLS = "ipam.spidernet.io/ippools"
ROUTES = "ipam.spidernet.io/routes"
NS_DEFAULT_V4 = "ipam.spidernet.io/default-ipv4-ippool"
NS_DEFAULT_V6 = "ipam.spidernet.io/default-ipv6-ippool"
SUBNET_ANNOTATIONS = ("ipam.spidernet.io/subnet", "ipam.spidernet.io/subnets")
DEFAULT_IFNAME = "eth0"  # constant.ClusterDefaultInterfaceName

WRONG_INPUT = "wrong input"  # constant.ErrWrongInput
NO_POOL = "no IPPool available"  # constant.ErrNoAvailablePool


class SelectionError(ValueError):
    """The pod's annotations or the IPAM config do not select pools for this NIC."""


@dataclass(frozen=True)
class Selection:
    """The pools for one NIC, per family in the order to try them, and where they came from."""

    nic: str
    ipv4: tuple[str, ...]
    ipv6: tuple[str, ...]
    clean_gateway: bool
    source: str

    def families(self) -> list[tuple[int, tuple[str, ...]]]:
        return [(v, pools) for v, pools in ((4, self.ipv4), (6, self.ipv6)) if pools]


def nic_order(pod_annotations: Mapping[str, str], namespace: str) -> list[str]:
    """The pod's NICs in the order Multus adds them: eth0, then ``k8s.v1.cni.cncf.io/networks``.

    Each extra NIC is its ``interface`` (``@ifname``) or ``net<i+1>``: Spiderpool's own reading of
    the annotation (pkg/ipam/allocate.go, selectByPod: ``fmt.Sprintf("net%d", idx+1)``).
    """
    try:
        selections = multus.parse_networks(pod_annotations.get(multus.NETWORKS, ""), namespace)
    except ValueError as exc:
        raise SelectionError(f"failed to parse pod network annotation: {exc}") from None
    return [DEFAULT_IFNAME] + [s.interface or f"net{i}" for i, s in enumerate(selections, 1)]


def _annotation_json(annotations: Mapping[str, str], key: str) -> object:
    try:
        return json.loads(annotations[key])
    except json.JSONDecodeError as exc:
        raise SelectionError(f"{WRONG_INPUT}, invalid format of Pod annotation '{key}': {exc}") from None


def _names(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SelectionError(f"{WRONG_INPUT}, invalid format of {where}: expected a list of pool names, got {value!r}")
    for name in value:
        if "*" in name or "?" in name or ("[" in name and "]" in name):
            raise SelectionError(f"{where}: wildcard pool name {name!r} is not supported by the Spiderpool "
                                 "stand-in; name the SpiderIPPool exactly")
    return tuple(value)


def _entry(raw: object, index: int) -> tuple[str, tuple[str, ...], tuple[str, ...], bool]:
    where = f"Pod annotation '{IPPOOLS}'[{index}]"
    if not isinstance(raw, dict):
        raise SelectionError(f"{WRONG_INPUT}, invalid format of {where}: expected an object, got {raw!r}")
    nic = raw.get("interface") or ""
    clean = raw.get("cleangateway", False)
    if not isinstance(nic, str) or not isinstance(clean, bool):
        raise SelectionError(f"{WRONG_INPUT}, invalid format of {where}: 'interface' must be a string and "
                             "'cleangateway' a boolean")
    return nic, _names(raw.get("ipv4"), where + ".ipv4"), _names(raw.get("ipv6"), where + ".ipv6"), clean


def _from_ippools(annotations: Mapping[str, str], ifname: str, order: Sequence[str]) -> Selection:
    """Upstream: pool_selections.go getPoolFromPodAnnoPools + utils.go validateAndMutateMultipleNICAnnotations."""
    raw = _annotation_json(annotations, IPPOOLS)
    prefix = f"{WRONG_INPUT}, invalid format of Pod annotation '{IPPOOLS}'"
    if not isinstance(raw, list) or not raw:
        raise SelectionError(f"{prefix}: value requires at least one item")
    entries = [_entry(item, i) for i, item in enumerate(raw)]
    named = bool(entries[0][0])
    if any(bool(e[0]) != named for e in entries):
        raise SelectionError(f"{prefix}: NIC should be either all specified or all unspecified")
    if named:
        nics = [e[0] for e in entries]
        duplicate = next((n for i, n in enumerate(nics) if n in nics[:i]), None)
        if duplicate:
            raise SelectionError(f"{prefix}: duplicate interface {duplicate}")
        if ifname not in nics:
            raise SelectionError(f"{prefix}: interface {ifname} must be specified (add an entry "
                                 f'{{"interface": "{ifname}", "ipv4": [...]}} for this NIC)')
        nic, v4, v6, clean = entries[nics.index(ifname)]
        return Selection(ifname, v4, v6, clean, f"{IPPOOLS} interface {ifname}")
    return _unnamed_entry(entries, ifname, order, prefix)


def _unnamed_entry(entries: list, ifname: str, order: Sequence[str], prefix: str) -> Selection:
    """Entries without "interface": the i-th entry serves the pod's i-th NIC (eth0 first).

    Upstream (utils.go validateAndMutateMultipleNICAnnotations names them "0", "1", ...; allocate.go
    allocateInStandardMode renames "0" to eth0; workloadendpoint_manager.go UpdateAllocationNICName
    binds the next unnamed entry to each later NIC in the order its CNI ADD arrives).
    """
    if ifname not in order:
        raise SelectionError(f"{prefix}: NIC {ifname} is not among the pod's NICs {list(order)} (eth0 and "
                             f"'{multus.NETWORKS}'), so no unnamed entry can be matched to it")
    index = list(order).index(ifname)
    if index >= len(entries):
        raise SelectionError(f"{prefix}: no entry for NIC {ifname} (NIC #{index} of {list(order)}; the "
                             f"annotation has {len(entries)} unnamed entries): add one, or name the interfaces")
    _, v4, v6, clean = entries[index]
    return Selection(ifname, v4, v6, clean, f"{IPPOOLS}[{index}]")


def _from_ippool(annotations: Mapping[str, str], ifname: str, clean: bool) -> Selection:
    """Upstream: pool_selections.go getPoolFromPodAnnoPool (the same pools for every NIC)."""
    raw = _annotation_json(annotations, IPPOOL)
    where = f"Pod annotation '{IPPOOL}'"
    if not isinstance(raw, dict):
        raise SelectionError(f"{WRONG_INPUT}, invalid format of {where}: expected an object like "
                             '{"ipv4": ["pool"]}')
    return Selection(ifname, _names(raw.get("ipv4"), where + ".ipv4"), _names(raw.get("ipv6"), where + ".ipv6"),
                     clean, IPPOOL)


def _from_lists(v4: object, v6: object, ifname: str, clean: bool, where: str) -> Selection | None:
    v4, v6 = _names(v4, where), _names(v6, where)
    return Selection(ifname, v4, v6, clean, where) if v4 or v6 else None


def _namespace_defaults(ns_annotations: Mapping[str, str], ifname: str, clean: bool) -> Selection | None:
    """Upstream: pool_selections.go getPoolFromNS, namespacemanager/utils.go GetNSDefaultPools."""
    values = []
    for key in (NS_DEFAULT_V4, NS_DEFAULT_V6):
        try:
            values.append(json.loads(ns_annotations[key]) if key in ns_annotations else None)
        except json.JSONDecodeError as exc:
            raise SelectionError(f"invalid Namespace annotation '{key}': {exc}; write a JSON list of pool names")
    return _from_lists(values[0], values[1], ifname, clean, "Namespace annotations default-ipv4/6-ippool")


def _cluster_defaults(pools: Sequence[tuple[str, int]], ifname: str, clean: bool) -> Selection:
    """Upstream: pool_selections.go getClusterDefaultPools (SpiderIPPools with spec.default true)."""
    if not pools:
        raise SelectionError(f"{NO_POOL}, no pool selection rules of any type are specified (annotate the pod "
                             f"with '{IPPOOLS}' or '{IPPOOL}', or mark a SpiderIPPool spec.default: true)")
    v4 = tuple(name for name, version in pools if version == 4)
    v6 = tuple(name for name, version in pools if version != 4)
    return Selection(ifname, v4, v6, clean, "SpiderIPPools with spec.default true")


def _check(selection: Selection) -> Selection:
    """Upstream: allocate.go precheckPoolCandidates (duplicates); command_add.go assembleResult (no IPs)."""
    for pools in (selection.ipv4, selection.ipv6):
        duplicate = next((p for i, p in enumerate(pools) if p in pools[:i]), None)
        if duplicate:
            raise SelectionError(f"{WRONG_INPUT}, duplicate IPPool {duplicate} specified for NIC {selection.nic}")
    if not selection.ipv4 and not selection.ipv6:
        raise SelectionError(f"no Interface {selection.nic} IP allocation found: {selection.source} names no "
                             "ipv4 or ipv6 pool for it; list at least one pool")
    return selection


def select_pools(ifname: str, order: Sequence[str], pod_annotations: Mapping[str, str], *,
                 ipam_conf: Mapping[str, object],
                 namespace_annotations: Callable[[], Mapping[str, str]] = dict,
                 cluster_default_pools: Callable[[], Sequence[tuple[str, int]]] = list) -> Selection:
    """The pools for NIC ``ifname`` (rules in the module docstring). ``order``: see ``nic_order``."""
    for key in SUBNET_ANNOTATIONS:
        if key in pod_annotations:
            raise SelectionError(f"Pod annotation '{key}' (SpiderSubnet auto pools) is not supported by the "
                                 f"Spiderpool stand-in; use '{IPPOOLS}' or '{IPPOOL}'")
    clean = bool(ipam_conf.get("clean_gateway", False))
    if IPPOOLS in pod_annotations:
        return _check(_from_ippools(pod_annotations, ifname, order))
    if IPPOOL in pod_annotations:
        return _check(_from_ippool(pod_annotations, ifname, clean))
    chosen = _namespace_defaults(namespace_annotations(), ifname, clean)
    if chosen is None:
        chosen = _from_lists(ipam_conf.get("default_ipv4_ippool"), ipam_conf.get("default_ipv6_ippool"),
                             ifname, clean, "IPAM config default_ipv4_ippool/default_ipv6_ippool")
    return _check(chosen or _cluster_defaults(cluster_default_pools(), ifname, clean))


def custom_routes(pod_annotations: Mapping[str, str]) -> list[tuple[str, str]]:
    """``ipam.spidernet.io/routes``: [(dst, gw)], validated (upstream: pkg/ipam/utils.go getCustomRoutes)."""
    if ROUTES not in pod_annotations:
        return []
    raw = _annotation_json(pod_annotations, ROUTES)
    prefix = f"{WRONG_INPUT}, invalid format of Pod annotation '{ROUTES}'"
    if not isinstance(raw, list):
        raise SelectionError(f'{prefix}: expected a list like [{{"dst": "10.0.0.0/16", "gw": "192.168.1.1"}}]')
    routes = []
    for item in raw:
        try:
            dst, gw = ipaddress.ip_network(item["dst"], strict=False), ipaddress.ip_address(item["gw"])
        except (TypeError, KeyError, ValueError) as exc:
            raise SelectionError(f"{prefix}: route {item!r} needs a CIDR 'dst' and an IP 'gw' ({exc})") from None
        if dst.version != gw.version:
            raise SelectionError(f"{prefix}: route {item!r} mixes IPv{dst.version} and IPv{gw.version}")
        routes.append((item["dst"], item["gw"]))
    return routes
