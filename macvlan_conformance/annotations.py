"""The Multus and Spiderpool pod annotations, parsed the way those projects read them.

Pure functions shared by the topology model (validation), the lab (Multus semantics) and the cluster
target (rendering). Errors are ``ValueError`` with a message that names the fix.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from .bounded_yaml import excerpt

DEFAULT_NETWORK = "v1.multus-cni.io/default-network"
NETWORKS = "k8s.v1.cni.cncf.io/networks"
NETWORK_STATUS = "k8s.v1.cni.cncf.io/network-status"
IPPOOL = "ipam.spidernet.io/ippool"
IPPOOLS = "ipam.spidernet.io/ippools"

MAX_IFNAME = 15
MULTUS_NAMESPACE = "kube-system"  # Multus' ``multusNamespace`` default: where a bare default-network name is
# Keys of Multus' NetworkSelectionElement (multus-cni pkg/types/types.go); others are ignored, as Go decodes
SELECTION_KEYS = frozenset({"name", "namespace", "interface", "interfaceRequest", "ips", "mac", "default-route",
                            "cni-args", "infiniband-guid", "portMappings", "bandwidth", "deviceID"})


@dataclass(frozen=True)
class NetworkSelection:
    """One entry of the NPWG network-selection annotation."""

    namespace: str
    name: str
    interface: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


def _split_ref(text: str, default_namespace: str) -> tuple[str, str]:
    text = text.strip()
    if not text:
        raise ValueError("empty network reference; write 'namespace/name' or 'name'")
    namespace, _, name = text.rpartition("/")
    if "/" in namespace:
        raise ValueError(f"network reference {text!r} has more than one '/'; write 'namespace/name'")
    return namespace or default_namespace, name


def _is_json(value: str) -> bool:
    """Multus' rule: the annotation is JSON when it contains any of ``[``, ``{`` or ``"``
    (multus-cni ``pkg/k8sclient/k8sclient.go`` ``parsePodNetworkAnnotation``)."""
    return any(ch in value for ch in '[{"')


def parse_default_network(value: str, default_namespace: str = MULTUS_NAMESPACE) -> NetworkSelection:
    """``v1.multus-cni.io/default-network``: ``ns/name`` (or a one-entry JSON list, as Multus accepts). A bare
    name is in Multus' own namespace (``multusNamespace``, kube-system by default), not the pod's
    (multus-cni ``pkg/k8sclient/k8sclient.go`` ``tryLoadK8sPodDefaultNetwork``)."""
    value = value.strip()
    if _is_json(value):
        selections = parse_networks(value, default_namespace)
        if len(selections) != 1:
            raise ValueError(f"{DEFAULT_NETWORK} must name exactly one network, got {len(selections)}")
        return selections[0]
    namespace, name = _split_ref(value.split("@", 1)[0], default_namespace)
    return NetworkSelection(namespace, name)


def parse_networks(value: str, default_namespace: str) -> list[NetworkSelection]:
    """``k8s.v1.cni.cncf.io/networks`` in the comma form (``ns/name@ifname, name``) or the JSON form."""
    value = value.strip()
    if not value:
        return []
    if _is_json(value):
        entries = _json(value, NETWORKS)
        if not isinstance(entries, list):
            raise ValueError(f'{NETWORKS} must be a JSON list like [{{"name": "net1"}}], got {excerpt(entries)}')
        return [_json_selection(entry, i, default_namespace) for i, entry in enumerate(entries)]
    selections = []
    for item in value.split(","):
        ref, _, ifname = item.strip().partition("@")
        namespace, name = _split_ref(ref, default_namespace)
        selections.append(NetworkSelection(namespace, name, ifname or None))
    return selections


def _json_selection(entry: object, i: int, default_namespace: str) -> NetworkSelection:
    """One entry of the JSON form, typed as Multus' ``NetworkSelectionElement`` decodes it."""
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise ValueError(f"{NETWORKS}[{i}] needs a string 'name', got {excerpt(entry)}")
    for key in ("namespace", "interface", "interfaceRequest"):
        if entry.get(key) is not None and not isinstance(entry[key], str):
            raise ValueError(f"{NETWORKS}[{i}].{key} must be a string, got {excerpt(entry[key])}")
    interface = entry.get("interface") or entry.get("interfaceRequest")
    return NetworkSelection(entry.get("namespace") or default_namespace, entry["name"], interface)


def _json(value: str, key: str) -> object:
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{key} is not valid JSON ({exc.msg} at char {exc.pos})") from None
    except RecursionError:
        raise ValueError(f"{key} is nested too deeply to be an annotation of ours") from None


@dataclass(frozen=True)
class PoolChoice:
    """One Spiderpool pool selection: the pool of each family (the first of its list: Spiderpool tries them in
    order; None where the annotation lists none), and whether the NIC's default routes are cleaned (None: the
    annotation does not say; the network's IPAM decides)."""

    ipv4: str | None
    ipv6: str | None = None
    clean_gateway: bool | None = None


def parse_pool_selection(annotations: dict[str, str], interfaces: Sequence[str]) -> dict[str | None, PoolChoice]:
    """Spiderpool pool choice for a pod whose interfaces are ``interfaces`` (eth0 first, in Multus' order):
    ``{ifname: PoolChoice}``; key ``None`` is the ``ippool`` form, which applies to every Spiderpool NIC of
    the pod (spidernet-io/spiderpool ``pkg/ipam/pool_selections.go`` ``getPoolCandidates``).

    ``ipam.spidernet.io/ippools`` (per interface, with ``cleangateway``) wins over ``ipam.spidernet.io/ippool``
    (whose gateway cleaning comes from the network's IPAM, never from the annotation). Entries of ``ippools``
    name their interface, or none does and the i-th entry serves the i-th interface (``pkg/ipam/utils.go``
    ``validateAndMutateMultipleNICAnnotations``). Raises ``ValueError`` naming the key, entry and field.
    """
    if IPPOOLS in annotations:
        return _parse_ippools(annotations[IPPOOLS], list(interfaces))
    if IPPOOL in annotations:
        entry = _json(annotations[IPPOOL], IPPOOL)
        if not isinstance(entry, dict):
            raise ValueError(f'{IPPOOL} must be a JSON object like {{"ipv4": ["pool"]}}, got {excerpt(entry)}')
        return {None: PoolChoice(*_family_pools(entry, IPPOOL))}
    return {}


def _parse_ippools(value: str, interfaces: list[str]) -> dict[str | None, PoolChoice]:
    entries = _json(value, IPPOOLS)
    if not isinstance(entries, list) or not entries:
        raise ValueError(f'{IPPOOLS} must be a non-empty JSON list like [{{"interface": "eth0", "ipv4": '
                         f'["pool"]}}], got {excerpt(entries)}')
    parsed = [_ippools_entry(entry, i) for i, entry in enumerate(entries)]
    named = parsed[0][0] is not None
    for i, (nic, _) in enumerate(parsed):
        if (nic is not None) != named:
            raise ValueError(f'{IPPOOLS}[{i}].interface: give every entry an "interface" or none (Spiderpool: '
                             f'"NIC should be either all specified or all unspecified")')
        if named and nic in [n for n, _ in parsed[:i]]:
            raise ValueError(f"{IPPOOLS}[{i}].interface: {excerpt(nic)} has an earlier entry too; give each "
                             f"interface one entry")
        if named and nic not in interfaces:
            raise ValueError(f"{IPPOOLS}[{i}].interface: this pod has no interface {excerpt(nic)}; its interfaces "
                             f"are {', '.join(interfaces)}: name one of them")
        if not named and i >= len(interfaces):
            raise ValueError(f'{IPPOOLS}[{i}]: entries without "interface" serve the pod\'s interfaces in order '
                             f"({', '.join(interfaces)}) and this one has none left; remove it")
    if named:
        return {nic: choice for nic, choice in parsed}
    return {interfaces[i]: choice for i, (_, choice) in enumerate(parsed)}


def _ippools_entry(entry: object, i: int) -> tuple[str | None, PoolChoice]:
    """One ``ippools`` entry, typed as Spiderpool's ``AnnoIPPoolItem`` (``pkg/types/k8s.go``): its interface
    (None when absent or empty) and its choice."""
    where = f"{IPPOOLS}[{i}]"
    if not isinstance(entry, dict):
        raise ValueError(f'{where} must be a JSON object like {{"interface": "net1", "ipv4": ["pool"]}}, '
                         f"got {excerpt(entry)}")
    nic = entry.get("interface")
    if nic is not None and not isinstance(nic, str):
        raise ValueError(f"{where}.interface must be a string (an interface name like net1), got {excerpt(nic)}")
    clean = entry.get("cleangateway")
    if clean is not None and not isinstance(clean, bool):
        raise ValueError(f"{where}.cleangateway must be true or false, got {excerpt(clean)}")
    return nic or None, PoolChoice(*_family_pools(entry, where), bool(clean))


def _family_pools(entry: dict, where: str) -> tuple[str | None, str | None]:
    """The first pool of ``entry["ipv4"]`` and of ``entry["ipv6"]`` (Spiderpool tries them in order), None for
    a family without pools; at least one family must list one (spidernet-io/spiderpool
    ``cmd/spiderpool/cmd/command_add.go``: "no Interface ... IP allocation found")."""
    first = []
    for key, example in (("ipv4", "vlan100-v4"), ("ipv6", "vlan100-v6")):
        pools = entry.get(key)
        if pools is not None and (not isinstance(pools, list) or not all(isinstance(p, str) and p for p in pools)):
            raise ValueError(f'{where}.{key} must be a list of pool names like ["{example}"], got {excerpt(pools)}')
        first.append(pools[0] if pools else None)
    if first == [None, None]:
        raise ValueError(f'{where} lists no pool; give "ipv4": ["vlan100-v4"] and/or "ipv6": ["vlan100-v6"]')
    return first[0], first[1]


def interface_names(count: int) -> list[str]:
    """Multus' naming of extra interfaces: net1, net2, ... in annotation order."""
    return [f"net{i}" for i in range(1, count + 1)]
