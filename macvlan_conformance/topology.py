"""The topology model: one YAML file describes the intended network; this module validates it.

``load_topology(path)`` returns a validated, immutable ``Topology`` or raises ``TopologyError`` whose
message names the field (``pods[2].node``) and the fix. Field-level checks (types, ranges, unknown
keys) come from pydantic; cross-references (pods -> nodes, networks -> pools -> VLANs) are checked
afterwards (``topology_checks``) so that every error carries its path.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from pathlib import Path
from typing import Literal

from pydantic import (BaseModel, ConfigDict, Field, IPvAnyAddress, IPvAnyNetwork, ValidationError, ValidationInfo,
                      field_validator, model_validator)

from . import annotations as ann
from .bounded_yaml import excerpt

NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
IFNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
MAC_RE = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
MAX_POOL_NAME = 63 - len("mc-") - 16 - len("-")  # the SpiderIPPool of a cluster run: mc-<run id>-<name>
MAX_POOL_ADDRESSES = 1 << 16    # a /16 of pod addresses; pools are expanded address by address
NetworkType = Literal["standalone", "overlay"]
CoordinatorMode = Literal["auto", "underlay", "overlay", "disabled"]
MacvlanMode = Literal["bridge", "private", "vepa", "passthru"]
FAMILIES = (4, 6)
MAX_IPV6_PREFIX = 126   # a VLAN's IPv6 subnet must hold its gateway and at least one pod beside the anycast address


def family_name(family: int) -> str:
    """``ipv4`` / ``ipv6``: the family as Spiderpool's annotations and the test ids write it."""
    return f"ipv{family}"


class TopologyError(ValueError):
    """A topology file is invalid. ``str()`` is the message for the user: where, what, and the fix."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _dns_label(value: str) -> str:
    if not NAME_RE.match(value) or len(value) > 63:
        raise ValueError("must be a DNS-1123 label: lowercase letters, digits and '-', at most 63 characters")
    return value


class Vlan(_Model):
    """A VLAN: its id on the trunk, its IPv4 and/or IPv6 subnet, and the gateway IP of each family its switch
    vlanif holds. ``gatewayMac`` is the vlanif's MAC when known (the lab uses it; on a cluster it is what routed
    replies must carry)."""

    id: int = Field(ge=1, le=4094)
    name: str = ""
    subnet: IPv4Network | None = None
    gateway: IPv4Address | None = None
    subnet6: IPv6Network | None = None
    gateway6: IPv6Address | None = None
    gateway_mac: str | None = Field(default=None, alias="gatewayMac")

    @field_validator("subnet6")
    @classmethod
    def _ipv6_prefix(cls, value: IPv6Network | None) -> IPv6Network | None:
        if value is not None and value.prefixlen > MAX_IPV6_PREFIX:
            raise ValueError(f"/{value.prefixlen} leaves no room for a gateway and a pod; use a prefix of at most "
                             f"/{MAX_IPV6_PREFIX} (/64 is the usual one)")
        return value

    @model_validator(mode="after")
    def _families(self) -> "Vlan":
        for subnet, gateway, keys in ((self.subnet, self.gateway, ("subnet", "gateway")),
                                      (self.subnet6, self.gateway6, ("subnet6", "gateway6"))):
            if (subnet is None) != (gateway is None):
                given, missing = keys if subnet is not None else keys[::-1]
                raise ValueError(f"{given} without {missing}; give both (the vlanif holds the gateway)")
        if self.subnet is None and self.subnet6 is None:
            raise ValueError("no subnet; give subnet + gateway (IPv4) and/or subnet6 + gateway6 (IPv6)")
        return self

    @property
    def families(self) -> tuple[int, ...]:
        """The address families of the VLAN, IPv4 first."""
        return tuple(f for f in FAMILIES if self.subnet_of(f) is not None)

    def subnet_of(self, family: int) -> IPv4Network | IPv6Network | None:
        return self.subnet if family == 4 else self.subnet6

    def gateway_of(self, family: int) -> IPv4Address | IPv6Address | None:
        return self.gateway if family == 4 else self.gateway6

    @field_validator("gateway_mac")
    @classmethod
    def _check_mac(cls, value: str | None) -> str | None:
        if value is not None and not MAC_RE.match(value):
            raise ValueError(f"{value!r} is not a MAC address; write six hex pairs like 00:1c:73:00:00:64")
        return value.lower() if value else value

    @property
    def label(self) -> str:
        return self.name or f"vlan{self.id}"


class Switch(_Model):
    """The trunk switch: which VLAN is untagged (native) and which VLANs get a routing vlanif."""

    native_vlan: int | None = Field(default=None, alias="nativeVlan", ge=1, le=4094)
    vlanifs: list[int] | None = None
    mtu: int = Field(default=1500, ge=576, le=9216)


class Overlay(_Model):
    """The overlay default network (calico/cilium in a cluster): each node gets a slice of ``podCIDR``."""

    name: str = "k8s-pod-network"
    pod_cidr: IPv4Network = Field(alias="podCIDR")
    node_prefix: int = Field(default=24, alias="nodePrefix", ge=8, le=30)
    # Interfaces the cluster's kernel or overlay CNI puts into every pod beside the attachments (calico's
    # IPIP tunl0, the fallback devices of loaded tunnel modules: gre0, sit0, ...): tolerated, never judged.
    extra_interfaces: list[str] = Field(default_factory=list, alias="extraInterfaces", max_length=32)
    # The cluster's Service CIDR (kube-apiserver --service-cluster-ip-range): the coordinator routes it to the node.
    service_cidr: IPv4Network | None = Field(default=None, alias="serviceCIDR")

    @field_validator("extra_interfaces")
    @classmethod
    def _ifnames(cls, value: list[str]) -> list[str]:
        for name in value:
            if not IFNAME_RE.match(name) or len(name.encode()) > 15:
                raise ValueError(f"{name[:20]!r} is not an interface name; list names as `ip link` shows them in a pod")
        return value


class Bond(_Model):
    """The node's uplink bond over its NICs; VLAN masters are ``<name>.<vid>``."""

    name: str = "bond0"
    mode: Literal["active-backup"] = "active-backup"
    members: list[str] = Field(min_length=1, max_length=8)


class Node(_Model):
    """A worker: its bond, the tagged VLANs trunked to it, and its IP on the native VLAN."""

    name: str
    ip: IPv4Address
    bond: Bond
    vlans: list[int] = Field(default_factory=list)

    _check_name = field_validator("name")(lambda cls, v: _dns_label(v))

    def master_name(self, vlan_id: int, native_vlan: int | None) -> str:
        return self.bond.name if vlan_id == native_vlan else f"{self.bond.name}.{vlan_id}"


class IPPool(_Model):
    """A Spiderpool-like IP pool of one family (its subnet's, as SpiderIPPool's ``ipVersion``): subnet, address
    ranges, exclusions and the gateway pods route through."""

    name: str
    subnet: IPvAnyNetwork
    ips: list[str] = Field(min_length=1)
    exclude_ips: list[str] = Field(default_factory=list, alias="excludeIPs")
    gateway: IPvAnyAddress | None = None

    @property
    def family(self) -> int:
        return self.subnet.version

    @field_validator("gateway")
    @classmethod
    def _gateway_family(cls, value, info: ValidationInfo):
        subnet = info.data.get("subnet")
        if value is not None and subnet is not None and value.version != subnet.version:
            raise ValueError(f"is an IPv{value.version} address but the pool's subnet {subnet} is IPv{subnet.version}; "
                             f"a pool is of one family: give an IPv{subnet.version} gateway")
        return value

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        """A DNS label that stays one on a cluster, where a run prefixes ``mc-<run id>-`` (up to 20 characters)."""
        if len(_dns_label(value)) > MAX_POOL_NAME:
            raise ValueError(f"is {len(value)} characters; at most {MAX_POOL_NAME}, as a cluster run prefixes "
                             f"'mc-<run id>-' to pool names")
        return value

    @field_validator("ips", "exclude_ips")
    @classmethod
    def _ranges_parse(cls, value: list[str], info: ValidationInfo) -> list[str]:
        """Every item an address or range of the subnet's family, in all at most ``MAX_POOL_ADDRESSES`` (they are
        expanded). A range reaching outside the subnet counts nothing here: the cross-check refuses it by its index
        (``ippools[1].ips[0]: ... is outside subnet``), which a typo in an IPv6 range deserves more than a count of
        10^20 addresses."""
        subnet = info.data.get("subnet")
        total = 0
        for item in value:
            start, end = parse_range(item, subnet.version if subnet is not None else None)
            total += range_size(start, end, subnet)
        if total > MAX_POOL_ADDRESSES:
            raise ValueError(f"{total} addresses, more than the {MAX_POOL_ADDRESSES} a pool may list; narrow "
                             f"the ranges")
        return value

    @cached_property
    def ip_ranges(self) -> tuple[tuple[IPv4Address | IPv6Address, IPv4Address | IPv6Address], ...]:
        """``ips`` as (first, last) pairs, in order."""
        return tuple(parse_range(item) for item in self.ips)

    @cached_property
    def exclude_ranges(self) -> tuple[tuple[IPv4Address | IPv6Address, IPv4Address | IPv6Address], ...]:
        """``excludeIPs`` as (first, last) pairs, in order."""
        return tuple(parse_range(item) for item in self.exclude_ips)

    def allocates(self, address: IPv4Address | IPv6Address) -> bool:
        """Whether ``address`` is one of ``addresses`` (without expanding them)."""
        if address.version != self.family:
            return False

        def within(ranges):
            return any(start <= address <= end for start, end in ranges)
        return within(self.ip_ranges) and not within(self.exclude_ranges)

    @cached_property
    def addresses(self) -> tuple[IPv4Address | IPv6Address, ...]:
        """Every allocatable address, in order: ``ips`` minus ``excludeIPs``."""
        excluded = {a for item in self.exclude_ips for a in expand_range(item)}
        seen: dict = {}
        for item in self.ips:
            for address in expand_range(item):
                if address not in excluded:
                    seen[address] = None
        return tuple(seen)


class Coordinator(_Model):
    """Spiderpool's coordinator chained after the network's macvlan plugin, as a SpiderMultusConfig's
    ``coordinator`` spec sets it (its CRD's defaults: mode auto, tunePodRoutes true, hostRuleTable 500;
    ``podDefaultRouteNIC`` empty: the first NIC keeps the default route). What it does: ``coordinator.py``."""

    mode: CoordinatorMode = "auto"
    pod_default_route_nic: str = Field(default="", alias="podDefaultRouteNIC", max_length=15)
    tune_pod_routes: bool = Field(default=True, alias="tunePodRoutes")
    hijack_cidr: list[IPv4Network] = Field(default_factory=list, alias="hijackCIDR", max_length=64)
    host_rule_table: int = Field(default=500, alias="hostRuleTable", ge=1, le=(1 << 32) - 1)

    @field_validator("host_rule_table")
    @classmethod
    def _table(cls, value: int) -> int:
        if value in (253, 254, 255):
            raise ValueError(f"{value} is a table of the kernel's own (default, main, local); use another number "
                             f"(Spiderpool's default is 500)")
        return value

    @field_validator("pod_default_route_nic")
    @classmethod
    def _ifname(cls, value: str) -> str:
        if value and not IFNAME_RE.match(value):
            raise ValueError(f"{value[:20]!r} is not an interface name; name a pod NIC like eth0 or net1, or leave it "
                             f"empty (the first NIC keeps the default route)")
        return value


class Network(_Model):
    """A NetworkAttachmentDefinition: a macvlan on ``master`` with addresses from ``ippool`` (one pool) or
    ``ippools`` (one per family: the IPAM config's ``default_ipv4_ippool`` and ``default_ipv6_ippool``).

    ``type`` is the multus-underlay contract: standalone networks are eth0 (or extra NICs of standalone
    pods); overlay networks are only ever extra NICs of pods whose eth0 is the overlay.
    """

    name: str
    namespace: str = "kube-system"
    type: NetworkType
    master: str
    mode: MacvlanMode = "bridge"
    ippool: str | None = None
    ippools: list[str] = Field(default_factory=list, max_length=2)
    mtu: int | None = Field(default=None, ge=576, le=9216)
    clean_gateway_setting: bool | None = Field(default=None, alias="cleanGateway")
    coordinator: Coordinator | None = None  # chained after macvlan (absent: no coordinator in the NAD)

    _check_name = field_validator("name", "namespace")(lambda cls, v: _dns_label(v))

    @model_validator(mode="after")
    def _one_pool_form(self) -> "Network":
        forms = "ippool (one pool) or ippools (one pool per family, like [vlan100-v4, vlan100-v6])"
        if self.ippool is not None and self.ippools:
            raise ValueError(f"both ippool and ippools are given; keep one: {forms}")
        if self.ippool is None and not self.ippools:
            raise ValueError(f"no pool; give {forms}")
        return self

    @property
    def pool_names(self) -> tuple[str, ...]:
        """The network's default pools (at most one per family)."""
        return (self.ippool,) if self.ippool is not None else tuple(self.ippools)

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def clean_gateway(self) -> bool:
        """Whether the network's IPAM leaves out the default route (Spiderpool's ``clean_gateway``): as
        ``cleanGateway`` says, by default for overlay networks only (their pods' eth0 keeps the route)."""
        return self.clean_gateway_setting if self.clean_gateway_setting is not None else self.type == "overlay"


class Pod(_Model):
    """A pod as Multus sees it: a node and the Multus/Spiderpool annotations."""

    name: str
    namespace: str = "default"
    node: str
    annotations: dict[str, str] = Field(default_factory=dict)

    _check_name = field_validator("name", "namespace")(lambda cls, v: _dns_label(v))


@dataclass(frozen=True)
class Attachment:
    """One pod interface after resolving the annotations. ``network`` is None for the overlay."""

    pod: str
    ifname: str
    network: Network | None
    pools: tuple[IPPool, ...]     # one per family, IPv4 first; empty for the overlay
    vlan: Vlan | None
    default: bool
    default_route: bool = False   # the IPAM returns a default route for this NIC (see resolve_attachments)

    @property
    def pool(self) -> IPPool | None:
        """The NIC's first pool (its IPv4 one on a dual-stack NIC), None for the overlay."""
        return self.pools[0] if self.pools else None

    def pool_of(self, family: int) -> IPPool | None:
        return next((p for p in self.pools if p.family == family), None)

    @property
    def families(self) -> tuple[int, ...]:
        """The families the NIC has addresses of (the overlay's eth0: IPv4)."""
        return tuple(p.family for p in self.pools) if self.network is not None else (4,)

    @property
    def kind(self) -> str:
        """``overlay`` for the overlay default network, else the network's type."""
        return "overlay" if self.network is None else self.network.type


class Topology(_Model):
    """The whole intended network. Build it with ``load_topology`` / ``parse_topology``."""

    name: str
    description: str = ""
    vlans: list[Vlan] = Field(min_length=1)
    switch: Switch = Field(default_factory=Switch)
    overlay: Overlay
    nodes: list[Node] = Field(min_length=1)
    ippools: list[IPPool] = Field(min_length=1)
    networks: list[Network] = Field(min_length=1)
    pods: list[Pod] = Field(default_factory=list)

    _check_name = field_validator("name")(lambda cls, v: _dns_label(v))

    # --- lookups -------------------------------------------------------------------------------
    def vlan(self, vlan_id: int) -> Vlan:
        return next(v for v in self.vlans if v.id == vlan_id)

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def pool(self, name: str) -> IPPool:
        return next(p for p in self.ippools if p.name == name)

    def network(self, ref: str) -> Network:
        return next(n for n in self.networks if n.ref == ref)

    def pod(self, name: str) -> Pod:
        return next(p for p in self.pods if p.name == name)

    def vlan_of_subnet(self, subnet) -> Vlan | None:
        """The VLAN whose IPv4 or IPv6 subnet is ``subnet``."""
        return next((v for v in self.vlans if subnet in (v.subnet, v.subnet6)), None)

    @property
    def ip_families(self) -> tuple[int, ...]:
        """The families Spiderpool serves (its ``enableIPv4`` / ``enableIPv6``): those of the pools, IPv4 first.
        A Spiderpool NIC gets an address of each family its pools name: on a dual-stack topology that may be one
        family only (spidernet-io/spiderpool ``pkg/ipam/config.go`` ``filterPoolMisspecified``)."""
        return tuple(f for f in FAMILIES if any(p.family == f for p in self.ippools))

    @property
    def routed_vlans(self) -> list[int]:
        """VLANs with a vlanif on the switch (all VLANs unless ``switch.vlanifs`` says otherwise)."""
        return list(self.switch.vlanifs) if self.switch.vlanifs is not None else [v.id for v in self.vlans]

    def master_vlan(self, master: str, bond: str = "bond0") -> int | None:
        """VLAN id carried by a master name (``bond0`` = native VLAN, ``bond0.100`` = 100)."""
        if master == bond:
            return self.switch.native_vlan
        prefix, _, vid = master.rpartition(".")
        if prefix == bond and vid.isdigit():
            return int(vid)
        return None

    def node_pod_cidr(self, node_name: str) -> IPv4Network:
        index = [n.name for n in self.nodes].index(node_name)
        return list(self.overlay.pod_cidr.subnets(new_prefix=self.overlay.node_prefix))[index + 1]

    def attachments(self, pod_name: str) -> list[Attachment]:
        return self._attachments[pod_name]

    @cached_property
    def _attachments(self) -> dict[str, list[Attachment]]:
        return {pod.name: resolve_attachments(self, pod) for pod in self.pods}


# --- address ranges --------------------------------------------------------------------------------
RANGE_EXAMPLES = {4: "'10.0.0.10' or '10.0.0.10-10.0.0.20'", 6: "'fd00:100::10' or 'fd00:100::10-fd00:100::20'"}


def parse_range(item: str, family: int | None = None) -> tuple[IPv4Address | IPv6Address, IPv4Address | IPv6Address]:
    """The first and last address of a range (``10.0.0.10``, ``10.0.0.10-10.0.0.20``, ``fd00::10-fd00::20``), both of
    ``family`` when given (a pool's subnet's); ``ValueError`` saying how to write it."""
    first, _, last = item.partition("-")
    examples = RANGE_EXAMPLES.get(family, f"{RANGE_EXAMPLES[4]} (IPv6: {RANGE_EXAMPLES[6]})")
    try:
        start = ip_address(first.strip())
        end = ip_address(last.strip()) if last else start
    except ValueError:
        kind = f"an IPv{family}" if family else "an"
        raise ValueError(f"{item!r} is not {kind} address or range; write {examples}") from None
    if start.version != end.version:
        raise ValueError(f"{item!r} mixes IPv4 and IPv6; write {examples}")
    if family and start.version != family:
        raise ValueError(f"{item!r} is IPv{start.version}, but the pool's subnet is IPv{family} (a pool is of one "
                         f"family); write {examples}")
    if end < start:
        raise ValueError(f"range {item!r} ends before it starts; write the lower address first")
    return start, end


def range_size(start, end, subnet=None) -> int:
    """How many addresses ``start``-``end`` holds; 0 when ``subnet`` is given and the range is not inside it."""
    if subnet is not None and (start not in subnet or end not in subnet):
        return 0
    return int(end) - int(start) + 1


def expand_range(item: str):
    """Every address of a range, in order."""
    start, end = parse_range(item)
    for value in range(int(start), int(end) + 1):
        yield IPv4Address(value) if start.version == 4 else IPv6Address(value)


# --- resolution of annotations into attachments ------------------------------------------------------
def resolve_attachments(topology: Topology, pod: Pod) -> list[Attachment]:
    """Multus' reading of the pod: eth0 from the default network, then net1, net2... (or named ifnames).

    Pools as Spiderpool picks them: the interface's ``ippools`` entry, else the ``ippool`` form (every NIC),
    else the network's pool; with ``ippools``, every Spiderpool NIC needs its entry (Spiderpool refuses the
    pod otherwise). Every Spiderpool NIC gets a default route through its pool's gateway unless its
    ``ippools`` entry says ``cleangateway: true``, or (for the other forms) the network's IPAM cleans it
    (spidernet-io/spiderpool ``cmd/spiderpool/cmd/command_add.go``, ``pkg/utils/convert/convert.go``).
    Raises ``ValueError`` for annotations that do not parse or name unknown networks, pools or interfaces.
    """
    default_value = pod.annotations.get(ann.DEFAULT_NETWORK)
    default_network = _lookup_network(topology, ann.parse_default_network(default_value), ann.DEFAULT_NETWORK) \
        if default_value else None
    extra = ann.parse_networks(pod.annotations.get(ann.NETWORKS, ""), pod.namespace)
    nics = [(default_network, "eth0", True)]
    for selection, ifname in zip(extra, ann.interface_names(len(extra))):
        nics.append((_lookup_network(topology, selection, ann.NETWORKS), selection.interface or ifname, False))
    ifnames = [ifname for _, ifname, _ in nics]
    for i, ifname in enumerate(ifnames):
        if ifname in ifnames[:i] or len(ifname) > ann.MAX_IFNAME or not IFNAME_RE.match(ifname):
            raise ValueError(f"interface name {excerpt(ifname)} is duplicate, invalid or over {ann.MAX_IFNAME} "
                             f"characters; name each interface once, in at most {ann.MAX_IFNAME} letters/digits")
    chosen = ann.parse_pool_selection(pod.annotations, ifnames)
    return [_attach(topology, pod, network, ifname, default, chosen) for network, ifname, default in nics]


def _lookup_network(topology: Topology, selection: ann.NetworkSelection, key: str) -> Network:
    for network in topology.networks:
        if network.ref == selection.ref:
            return network
    raise ValueError(f"{key} names network {excerpt(selection.ref)}, which is not defined; define it under "
                     f"'networks' or use one of: {listing(n.ref for n in topology.networks)}")


def _attach(topology: Topology, pod: Pod, network: Network | None, ifname: str, default: bool,
            chosen: dict[str | None, ann.PoolChoice]) -> Attachment:
    """One interface: the overlay (``network`` None), or a Spiderpool NIC with its pools, VLAN and route.

    A pool named under ``ipv4`` must be an IPv4 pool, under ``ipv6`` an IPv6 one (spidernet-io/spiderpool
    ``pkg/ipam/allocate.go`` ``selectByPod``: "expect an IPv4 IPPool, but the version of the IPPool ... is IPv6")."""
    if network is None:
        return Attachment(pod.name, ifname, None, (), None, default, default_route=True)
    pools = {p.name: p for p in topology.ippools}
    if ann.IPPOOLS in pod.annotations and ifname not in chosen:
        suggestion = {"interface": ifname, **_family_lists(network, pools)}
        raise ValueError(f"{ann.IPPOOLS} has no entry for interface {ifname}, and Spiderpool refuses a pod whose "
                         f"NIC has none; add {json.dumps(suggestion)}")
    choice = chosen.get(ifname) or chosen.get(None)
    names = [(f, n) for f, n in ((4, choice.ipv4), (6, choice.ipv6)) if n] if choice else \
        [(pools[n].family if n in pools else None, n) for n in network.pool_names]
    for family, name in names:
        if name not in pools:
            raise ValueError(f"interface {ifname} selects IP pool {excerpt(name)}, which is not defined under "
                             f"'ippools'; use one of: {listing(pools)}")
        if family != pools[name].family:
            raise ValueError(f"interface {ifname} lists IP pool {name} under ipv{family}, but it is an "
                             f"IPv{pools[name].family} pool (Spiderpool: expect an IPv{family} IPPool); list it "
                             f"under ipv{pools[name].family}")
    nodes = [n for n in topology.nodes if n.name == pod.node]
    vlan_id = topology.master_vlan(network.master, nodes[0].bond.name if nodes else "bond0")
    vlan = next((v for v in topology.vlans if v.id == vlan_id), None)
    clean = choice.clean_gateway if choice and choice.clean_gateway is not None else network.clean_gateway
    chosen_pools = tuple(sorted((pools[n] for _, n in names), key=lambda p: p.family))
    return Attachment(pod.name, ifname, network, chosen_pools, vlan, default, default_route=not clean)


def _family_lists(network: Network, pools: dict[str, IPPool]) -> dict[str, list[str]]:
    """``{"ipv4": [...], "ipv6": [...]}`` of the network's default pools, as an annotation entry writes them."""
    return {family_name(pools[n].family): [n] for n in network.pool_names if n in pools}


def listing(names, limit: int = 8) -> str:
    """``a, b, c`` for messages: at most ``limit`` names, then how many more (``none`` when empty)."""
    names = list(names)
    shown = ", ".join(excerpt(n, 40).strip("'") for n in names[:limit]) or "none"
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def attachment_rule_violation(attachments: list[Attachment]) -> str | None:
    """The multus-underlay contract. Returns why a pod must be refused, or None when it is allowed."""
    default = attachments[0]
    if default.network is not None and default.network.type == "overlay":
        return (f"network {default.network.ref} is of type overlay and may never be the default network "
                f"(eth0); macvlan-overlay NICs are extra interfaces of overlay pods")
    expected = "standalone" if default.network is not None else "overlay"
    for extra in attachments[1:]:
        if extra.network.type != expected:
            return (f"{extra.ifname}: network {extra.network.ref} is of type {extra.network.type}, but this pod's "
                    f"eth0 is {default.kind}; standalone and overlay networks are never mixed in one pod")
    return None


# --- entry points ----------------------------------------------------------------------------------
_HINTS = {  # pydantic error type -> the fix, for errors whose message does not say it
    "int_parsing": "write a whole number", "int_type": "write a whole number",
    "int_from_float": "write a whole number", "string_type": "write a string (quote it)",
    "list_type": "write a YAML list like [a, b]", "dict_type": "write a mapping of key: value",
    "model_type": "write a mapping of key: value", "model_attributes_type": "write a mapping of key: value",
    "bool_parsing": "write true or false", "bool_type": "write true or false",
    "ip_v4_address": "write an IPv4 address like 10.0.0.1",
    "ip_v4_network": "write an IPv4 subnet like 10.0.0.0/24 (host bits zero)",
    "ip_v6_network": "write an IPv6 subnet like fd00:100::/64 (host bits zero)",
    "ip_v6_address": "write an IPv6 address like fd00:100::1",
    "ip_any_network": "write a subnet like 10.0.0.0/24 or fd00:100::/64 (host bits zero)",
    "ip_any_address": "write an address like 10.0.0.1 or fd00:100::1",
    "too_short": "add at least one entry", "too_long": "shorten the list",
}
MAX_LISTED_ERRORS = 3


def _error_path(loc) -> str:
    path = ""
    for part in loc:
        part = part if isinstance(part, int) or len(str(part)) <= 40 else f"{str(part)[:40]}..."
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _format_error(err: dict) -> str:
    """One pydantic error as ``path: problem (got excerpt); fix``."""
    path = _error_path(err["loc"])
    if err["type"] == "extra_forbidden":
        return f"{path}: unknown key; remove it or check its spelling"
    if err["type"] == "missing":
        return f"{path}: required key is missing; add it"
    message = err["msg"].removeprefix("Value error, ")
    hint = _HINTS.get(err["type"])
    if err["type"] == "string_type" and "annotations" in err["loc"]:
        hint = "annotation values are strings: quote the value (JSON in single quotes)"
    loc = err["loc"]
    if err["type"] in ("ip_v4_address", "ip_v4_network") and loc[0] == "vlans" and loc[-1] in ("subnet", "gateway"):
        hint += f"; an IPv6 {loc[-1]} goes in {loc[-1]}6"
    if err["type"] == "too_long" and loc[0] == "networks" and loc[-1] == "ippools":
        hint = "list one pool per family: an IPv4 and/or an IPv6 one"
    return f"{path}: {message} (got {excerpt(err.get('input'))})" + (f"; {hint}" if hint else "")


def _format_validation_error(exc: ValidationError, data: dict) -> str:
    """The first few errors on one line, and how many more there are."""
    errors = exc.errors()
    text = "; ".join(_format_error(err) for err in errors[:MAX_LISTED_ERRORS])
    more = len(errors) - MAX_LISTED_ERRORS
    return text + (f"; and {more} more error{'s' * (more > 1)} (fix these first)" if more > 0 else "")


def parse_topology(data: object, source: str = "<topology>") -> Topology:
    """Validate already-loaded YAML data. Raises ``TopologyError``."""
    if not isinstance(data, dict):
        raise TopologyError(f"{source}: the top level must be a mapping with keys name, vlans, nodes, ...")
    try:
        topology = Topology.model_validate(data)
    except ValidationError as exc:
        raise TopologyError(f"{source}: {_format_validation_error(exc, data)}") from None
    try:
        from .topology_checks import check_references  # imports this module
        check_references(topology)
    except TopologyError as exc:
        raise TopologyError(f"{source}: {exc}") from None
    return topology


def load_topology(path: str | Path) -> Topology:
    """Read and validate a topology YAML file. Raises ``TopologyError``."""
    from .bounded_yaml import YamlError, load
    path = Path(path)
    try:
        data = load(path)
    except YamlError as exc:
        shipped = ", ".join(sorted(p.stem for p in topology_dir().glob("*.yaml")))
        raise TopologyError(f"{exc}; check --topology (a YAML file, or one of: {shipped})") from None
    return parse_topology(data, str(path))


def topology_dir() -> Path:
    """The shipped topologies: ``topologies/`` of the clone, or the installed package's."""
    from .shipped import shipped_dir
    return shipped_dir("topologies")


def resolve_topology_path(value: str | None) -> Path:
    """``None`` -> the reference topology; a bare name (``minimal``) -> ``topologies/minimal.yaml``."""
    if value is None:
        return topology_dir() / "reference.yaml"
    path = Path(value)
    if not path.exists() and not path.suffix and (topology_dir() / f"{value}.yaml").exists():
        return topology_dir() / f"{value}.yaml"
    return path

