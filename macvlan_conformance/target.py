"""The interface every target (the embedded lab, a live cluster) offers to the probes and suites.

A target turns the model into a deployment and reports facts about it: the addresses and MACs Multus
reported per pod interface, the gateways' MACs, the masters' indexes. It starts agents inside pods,
creates and deletes extra pods, injects the faults the resilience checks need, and says how a user
would reproduce a probe by hand.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .agent.client import AgentClient
from .checks import Capability
from .topology import Pod, Topology
from .verdicts import Verdict


MAX_CONCURRENT_ADMISSIONS = 8  # pods a rules check creates at once

# The lab builds its networks from the topology (no NADs) and runs no Services (no kube-proxy, no API server).
LAB_CAPABILITIES = frozenset(Capability) - {Capability.NETWORK_OBJECTS, Capability.SERVICE_ROUTING}


def target_capabilities(kind: str) -> frozenset[Capability]:
    """The most a target of ``kind`` (lab, cluster, kube) can have, known before anything is deployed (for
    collection): the lab has every capability but the cluster's objects and Services; a cluster (the kube lab
    too) can at most show host facts, never hand over its bonds or recreate a NIC with its address."""
    if kind == "lab":
        return LAB_CAPABILITIES
    return frozenset({Capability.MASTER_IFINDEX, Capability.MASTER_MTU, Capability.NETWORK_OBJECTS,
                      Capability.SERVICE_ROUTING})


@dataclass(frozen=True)
class Admission:
    """What happened to a pod the suite tried to create."""

    verdict: Verdict        # CREATED or REFUSED
    detail: str


class Target(ABC):
    kind: str
    topology: Topology

    @property
    @abstractmethod
    def capabilities(self) -> frozenset[Capability]:
        """What this target can observe or do. A fact behind a missing capability is never asked for:
        the check that needs it says "not checked" instead (``checks.Check.needs``)."""

    # --- facts ---------------------------------------------------------------------------------
    @abstractmethod
    def network_status(self, pod: str) -> list[dict]:
        """The pod's ``k8s.v1.cni.cncf.io/network-status`` list."""

    def network_differences(self, network) -> list[str]:
        """Where the stored objects of ``network`` (its NAD, its pool) differ from the topology, one line
        each (targets with ``Capability.NETWORK_OBJECTS``)."""
        raise NotImplementedError(f"{type(self).__name__} keeps no network objects")

    def endpoint(self, key: str) -> dict | None:
        """The network-status entry of ``pod/ifname``, or None if the pod has no such interface."""
        pod, ifname = key.split("/", 1)
        return next((e for e in self.network_status(pod) if e.get("interface") == ifname), None)

    def endpoint_ip(self, key: str, version: int = 4) -> str | None:
        """The endpoint's first address of IP ``version`` in its network-status entry (dual stack lists both)."""
        entry = self.endpoint(key)
        ips = [ip.split("/")[0] for ip in (entry or {}).get("ips") or []]
        return next((ip for ip in ips if (":" in ip) == (version == 6)), None)

    def endpoint_mac(self, key: str) -> str | None:
        entry = self.endpoint(key)
        return entry.get("mac") if entry else None

    @abstractmethod
    def vlanif_mac(self, vlan: int) -> str | None:
        """The MAC of the switch vlanif of ``vlan``, if the target knows it."""

    @abstractmethod
    def master_index(self, node: str, master: str) -> int | None:
        """The ifindex of ``master`` on ``node`` (with ``Capability.MASTER_IFINDEX``)."""

    def master_mtu(self, node: str, master: str) -> int | None:
        """The MTU of ``master`` on ``node`` (with ``Capability.MASTER_MTU``)."""
        return None

    # --- agents and pods ---------------------------------------------------------------------------
    @abstractmethod
    def agent(self, pod: str) -> AgentClient:
        """A running agent inside ``pod`` (started on first use, kept for the session)."""

    @abstractmethod
    def reproducer(self, pod: str, argv: list[str]) -> str:
        """The command a user types to run ``argv`` inside ``pod``."""

    @abstractmethod
    def try_create_pod(self, pod: Pod) -> Admission:
        """Create ``pod``, report whether it was admitted, and remove it again."""

    def try_create_pods(self, pods: list[Pod]) -> list[Admission | Exception]:
        """``try_create_pod`` of every pod at once, in the order given, each pod's admission or what creating it
        raised (one pod's error is its own): a sandbox spends most of its time waiting (for the duplicate address
        detection of its IPv6 addresses, for the kubelet), not working."""
        def attempt(pod: Pod) -> Admission | Exception:
            try:
                return self.try_create_pod(pod)
            except Exception as exc:  # noqa: BLE001  (returned to the pod's own test, raised there)
                return exc
        if not pods:
            return []
        with ThreadPoolExecutor(min(len(pods), MAX_CONCURRENT_ADMISSIONS)) as pool:
            return list(pool.map(attempt, pods))

    def service_address(self) -> tuple[str, int]:
        """The ClusterIP and port of Service ``default/kubernetes`` (with ``Capability.SERVICE_ROUTING``)."""
        raise NotImplementedError(f"{type(self).__name__} has no Services")

    def recreate_nic(self, pod: str, ifname: str) -> str:
        """Recreate the macvlan NIC ``ifname`` of ``pod`` with its address and a new MAC, as a restarted pod's
        sandbox gets it (with ``Capability.NIC_RECREATION``); returns the new MAC."""
        raise NotImplementedError(f"{type(self).__name__} cannot recreate a pod NIC with its address")

    # --- faults (resilience) ---------------------------------------------------------------------
    @abstractmethod
    def set_bond_member(self, node: str, nic: str, up: bool) -> None:
        """Take one bond member of ``node`` down or bring it back up."""

    def bond_member_is_up(self, node: str, nic: str) -> bool:
        """Whether the member is up now (so that a check can put back the state it found)."""
        return True

    def active_bond_member(self, node: str) -> str | None:
        """The NIC ``node``'s bond currently sends on, if the target can tell."""
        return None

    # --- reporting -------------------------------------------------------------------------------
    def diagnostics(self) -> dict[str, str]:
        """Text dumps for failure attachments (switch config, routes, ...)."""
        return {}

    def facts(self) -> dict:
        """Facts that should stay stable across an upgrade, for baselines: each VLAN's gateway MAC, and per
        pod interface its addresses (IPv4, IPv6), pools (one per family, comma-separated) and MTU."""
        gateways = {str(v.id): self.vlanif_mac(v.id) for v in self.topology.vlans}
        endpoints = {}
        for pod in self.topology.pods:
            for att in self.topology.attachments(pod.name):
                key = f"{pod.name}/{att.ifname}"
                endpoints[key] = {"ip": self.endpoint_ip(key), "ipv6": self.endpoint_ip(key, 6),
                                  "mac": self.endpoint_mac(key),
                                  "pool": ", ".join(p.name for p in att.pools) or None,
                                  "vlan": att.vlan.id if att.vlan else None, "mtu": self.interface_mtu(key)}
        return {"gateway_macs": gateways, "endpoints": endpoints}

    def interface_mtu(self, key: str) -> int | None:
        """The MTU of a pod interface, if the target can read it without an agent."""
        return None

    def environment(self) -> dict[str, str]:
        """Versions and settings for the report's environment section."""
        return {}

    def close(self) -> None:
        """Stop agents and release connections. Leaves the deployment as it is."""
