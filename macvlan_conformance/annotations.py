"""The Multus and Spiderpool pod annotations, parsed the way those projects read them.

Pure functions shared by the topology model (validation), the lab (Multus semantics) and the cluster
target (rendering). Errors are ``ValueError`` with a message that names the fix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

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
        try:
            entries = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{NETWORKS} is not valid JSON ({exc.msg} at char {exc.pos})") from None
        selections = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                raise ValueError(f"{NETWORKS}[{i}] needs a string 'name'")
            interface = entry.get("interface") or entry.get("interfaceRequest")
            selections.append(NetworkSelection(entry.get("namespace") or default_namespace, entry["name"], interface))
        return selections
    selections = []
    for item in value.split(","):
        ref, _, ifname = item.strip().partition("@")
        namespace, name = _split_ref(ref, default_namespace)
        selections.append(NetworkSelection(namespace, name, ifname or None))
    return selections


@dataclass(frozen=True)
class PoolChoice:
    """One Spiderpool pool selection: the pool, and whether the NIC's default route is cleaned (None: the
    annotation does not say; the network's IPAM decides)."""

    pool: str
    clean_gateway: bool | None = None


def parse_pool_selection(annotations: dict[str, str]) -> dict[str | None, PoolChoice]:
    """Spiderpool pool choice: ``{ifname: PoolChoice}``; key ``None`` is the ``ippool`` form, which applies
    to every Spiderpool NIC of the pod (spidernet-io/spiderpool ``pkg/ipam/pool_selections.go``
    ``getPoolCandidates``).

    ``ipam.spidernet.io/ippools`` (per interface, with ``cleangateway``) wins over ``ipam.spidernet.io/ippool``
    (whose gateway cleaning comes from the network's IPAM, never from the annotation).
    """
    if IPPOOLS in annotations:
        try:
            entries = json.loads(annotations[IPPOOLS])
        except json.JSONDecodeError as exc:
            raise ValueError(f"{IPPOOLS} is not valid JSON ({exc.msg})") from None
        if not isinstance(entries, list):
            raise ValueError(f"{IPPOOLS} must be a JSON list of {{\"interface\", \"ipv4\"}} objects")
        chosen: dict[str | None, PoolChoice] = {}
        for i, entry in enumerate(entries):
            pools = entry.get("ipv4") if isinstance(entry, dict) else None
            if not isinstance(entry, dict) or not entry.get("interface") or not pools:
                raise ValueError(f'{IPPOOLS}[{i}] needs "interface" and a non-empty "ipv4" list')
            clean = entry.get("cleangateway", False)
            if not isinstance(clean, bool):
                raise ValueError(f"{IPPOOLS}[{i}].cleangateway must be true or false, got {clean!r}")
            chosen[entry["interface"]] = PoolChoice(pools[0], clean)
        return chosen
    if IPPOOL in annotations:
        try:
            entry = json.loads(annotations[IPPOOL])
        except json.JSONDecodeError as exc:
            raise ValueError(f"{IPPOOL} is not valid JSON ({exc.msg})") from None
        pools = entry.get("ipv4") if isinstance(entry, dict) else None
        if not pools:
            raise ValueError(f'{IPPOOL} needs a non-empty "ipv4" list, e.g. {{"ipv4":["pool-a"]}}')
        return {None: PoolChoice(pools[0])}
    return {}


def interface_names(count: int) -> list[str]:
    """Multus' naming of extra interfaces: net1, net2, ... in annotation order."""
    return [f"net{i}" for i in range(1, count + 1)]
