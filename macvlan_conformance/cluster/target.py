"""The live cluster target: the topology deployed as labelled objects in one run namespace, probed by
agents exec'd into the pods.

Facts come from the cluster itself: network-status from the pods' annotations, versions from the API
and the nodes, host interfaces from kubernetes-nmstate when installed. Gateway MACs come from the
topology (``vlans[].gatewayMac``); where it does not give one, the MAC that answers ARP for the gateway
(Neighbor Solicitation where the VLAN's NICs are IPv6 only) is learned once and stated as learned in the
report's environment.
"""

from __future__ import annotations

import json
import shlex
import threading
import time

from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from .. import annotations as ann
from ..agent.client import AgentClient
from ..checks import Capability
from ..target import Admission, Target
from ..verdicts import Verdict
from ..topology import Pod, Topology, resolve_attachments
from . import existing, hostlinks, hostprobe, manifests
from .hostlinks import HostLink
from .exec_agent import CONTAINER, start_agent
from .kube import Cluster, ClusterError, api_message, call, explain
from .preflight import PreflightError, PreflightReport
from .scope import RunScope, existing_annotations, scoped_annotations

# events worth showing when a pod does not come up (besides every Warning): AddedInterface is Multus
# reporting which NICs it did attach
TELLING_REASONS = ("FailedCreatePodSandBox", "FailedScheduling", "ErrImagePull", "ImagePullBackOff", "Failed",
                   "FailedMount", "AddedInterface")


class DeployError(ClusterError):
    """Pods did not come up; the message lists each pod with its events."""


def _ready(pod) -> bool:
    """Running, and (unless on the host network, which Multus leaves alone) with its network-status."""
    annotations = pod.metadata.annotations or {}
    return pod.status.phase == "Running" and (bool(pod.spec.host_network) or ann.NETWORK_STATUS in annotations)


class ClusterTarget(Target):
    kind = "cluster"

    def __init__(self, cluster: Cluster, topology: Topology, scope: RunScope, *, image: str, ipam: str = "spiderpool",
                 report: PreflightReport | None = None, host_probe: bool = False, create_networks: bool = True):
        """``topology`` is already scoped to ``scope`` (``scoped_topology``). With ``host_probe`` the run has
        one hostNetwork probe pod per node (see ``hostprobe``)."""
        self.cluster = cluster
        self.topology = topology
        self.scope = scope
        self.image = image
        self.ipam = ipam
        self.report = report or PreflightReport()
        self.host_probe = host_probe
        self.create_networks = create_networks
        self._probed_links: dict[str, dict[str, HostLink]] = {}  # node -> ifname -> link, via the host probe
        self._status: dict[str, list[dict]] = {}
        self._agents: dict[str, AgentClient] = {}
        self._agent_locks: dict[str, threading.Lock] = {}
        self._learned_macs: dict[int, str | None] = {}
        self._service: tuple[str, int] | None = None
        self._agents_lock = threading.Lock()
        self._macs_lock = threading.Lock()  # held while learning; learning starts agents (their own lock)

    @property
    def namespace(self) -> str:
        return self.scope.namespace

    @property
    def capabilities(self) -> frozenset[Capability]:
        """Host facts come from the host probe (ifindexes and MTUs) or kubernetes-nmstate (MTUs only);
        a cluster's bond members are not ours to take down."""
        objects = {Capability.NETWORK_OBJECTS, Capability.SERVICE_ROUTING}  # the NADs and pools; Services
        if self.host_probe:
            return frozenset({Capability.MASTER_IFINDEX, Capability.MASTER_MTU} | objects)
        return frozenset(({Capability.MASTER_MTU} if self.report.host_links else set()) | objects)

    def network_differences(self, network) -> list[str]:
        """The network's NAD and pool as the cluster stores them, next to the topology (``existing``)."""
        return existing.differences(self.topology, network, existing.read(self.cluster, network, self.ipam), self.ipam)

    # --- deployment ------------------------------------------------------------------------------
    def deploy(self, timeout: float = 180.0, progress=lambda line: None) -> None:
        """Create every object of the run, then wait until every pod runs with its network-status."""
        objects = manifests.render(self.topology, self.scope, image=self.image, ipam=self.ipam,
                                   cni_version=self.report.cni_version, create_networks=self.create_networks)
        probes = [hostprobe.host_probe_pod(n.name, self.scope, self.image) for n in self.topology.nodes] \
            if self.host_probe else []
        if self.report.cni_version_reason:
            progress(f"NADs declare cniVersion {self.report.cni_version}: {self.report.cni_version_reason}")
        for obj in objects + probes:
            self._create(obj)
            if obj["kind"] != "Pod":
                progress(f"created {obj['kind']} {obj['metadata']['name']}")
        names = [p.name for p in self.topology.pods] + [p["metadata"]["name"] for p in probes]
        progress(f"waiting for {len(names)} pods (at most {timeout:.0f} s)")
        self.wait_for_pods(names, timeout)
        if self.host_probe:
            self.verify_hosts()

    def verify_hosts(self) -> None:
        """Read every node's links through its host probe; raise ``PreflightError`` on what is wrong."""
        problems: list[str] = []
        for node in self.topology.nodes:
            found, notes = hostlinks.host_problems(node, self._host(node.name))
            problems += found
            self.report.host_notes += notes
        if problems:
            raise PreflightError(problems, "the host probes found problems; the run's objects are removed")

    def _host(self, node: str) -> dict[str, HostLink]:
        """The node's links: read through its host probe (once), else as kubernetes-nmstate reported them."""
        if not self.host_probe:
            return self.report.host_links.get(node, {})
        if node not in self._probed_links:
            describe = self.agent(hostprobe.pod_name(node)).call("describe")
            self._probed_links[node] = hostlinks.from_describe(describe["links"])
        return self._probed_links[node]

    def _create(self, obj: dict):
        kind, name = obj["kind"], obj["metadata"]["name"]
        doing = f"create {kind} {name}"
        if kind == "Namespace":
            return call(self.cluster, doing, self.cluster.core.create_namespace, obj)
        if kind == "Pod":
            return call(self.cluster, doing, self.cluster.core.create_namespaced_pod, self.namespace, obj)
        group, version = obj["apiVersion"].split("/")
        plural = {"SpiderIPPool": "spiderippools", "NetworkAttachmentDefinition": "network-attachment-definitions",
                  "SpiderMultusConfig": "spidermultusconfigs"}[kind]
        if kind == "SpiderIPPool":
            return call(self.cluster, doing, self.cluster.custom.create_cluster_custom_object, group, version, plural, obj)
        return call(self.cluster, doing, self.cluster.custom.create_namespaced_custom_object, group, version,
                    self.namespace, plural, obj)

    def wait_for_pods(self, names: list[str], timeout: float) -> None:
        """Watch the run's pods until all of ``names`` run with a network-status; on timeout raise
        ``DeployError`` with each missing pod's phase and events (FailedCreatePodSandBox and friends)."""
        waiting = set(names)
        deadline = time.monotonic() + timeout
        listed = call(self.cluster, "list pods", self.cluster.core.list_namespaced_pod, self.namespace,
                      label_selector=self.scope.selector)
        for pod in listed.items:
            self._see(pod, waiting)
        version = listed.metadata.resource_version
        while waiting and time.monotonic() < deadline:
            w = watch.Watch()
            try:
                for event in w.stream(self.cluster.core.list_namespaced_pod, self.namespace,
                                      label_selector=self.scope.selector, resource_version=version,
                                      timeout_seconds=max(1, int(deadline - time.monotonic()))):
                    pod = event["object"]
                    version = pod.metadata.resource_version
                    self._see(pod, waiting)
                    if not waiting or time.monotonic() >= deadline:
                        break
            except ApiException as exc:
                if exc.status != 410:
                    raise ClusterError(f"watch pods in {self.namespace}: {api_message(exc)}") from None
                version = None  # 410 Gone: our version expired; a watch without one starts with every pod
            finally:
                w.stop()
        if waiting:
            raise DeployError(self._not_ready_report(sorted(waiting), timeout))

    def _see(self, pod, waiting: set[str]) -> None:
        if pod.metadata.name in waiting and _ready(pod):
            if not pod.spec.host_network:
                self._status[pod.metadata.name] = json.loads(pod.metadata.annotations[ann.NETWORK_STATUS])
            waiting.discard(pod.metadata.name)

    def pod_events(self, name: str) -> list[str]:
        events = call(self.cluster, f"list events of pod {name}", self.cluster.core.list_namespaced_event,
                      self.namespace, field_selector=f"involvedObject.name={name}").items
        return [f"{e.reason}: {(e.message or '').strip()}" for e in events if e.type == "Warning"
                or e.reason in TELLING_REASONS]

    def _not_ready_report(self, names: list[str], timeout: float) -> str:
        lines = [f"{len(names)} pod(s) not running with a network-status after {timeout:.0f} s:"]
        for name in names:
            try:
                pod = self.cluster.core.read_namespaced_pod(name, self.namespace)
                phase = pod.status.phase
            except ApiException as exc:
                phase = f"unreadable ({api_message(exc)})"
            events = self.pod_events(name) or ["no warning events"]
            lines.append(f"  {name} ({phase}): " + " | ".join(events[-3:]))
        return "\n".join(lines)

    # --- facts -----------------------------------------------------------------------------------
    def network_status(self, pod: str) -> list[dict]:
        if pod not in self._status:
            read = call(self.cluster, f"read pod {pod}", self.cluster.core.read_namespaced_pod, pod, self.namespace)
            self._status[pod] = json.loads((read.metadata.annotations or {}).get(ann.NETWORK_STATUS, "[]"))
        return self._status[pod]

    def service_address(self) -> tuple[str, int]:
        """Service default/kubernetes: its ClusterIP and first port (every cluster has it), read once."""
        if self._service is None:
            service = call(self.cluster, "read Service default/kubernetes", self.cluster.core.read_namespaced_service,
                           "kubernetes", "default")
            self._service = (service.spec.cluster_ip, service.spec.ports[0].port)
        return self._service

    def vlanif_mac(self, vlan: int) -> str | None:
        given = next((v.gateway_mac for v in self.topology.vlans if v.id == vlan), None)
        if given:
            return given
        with self._macs_lock:
            if vlan not in self._learned_macs:
                self._learned_macs[vlan] = self._learn_gateway_mac(vlan)
            return self._learned_macs[vlan]

    def _learn_gateway_mac(self, vlan: int) -> str | None:
        """The one MAC answering for the VLAN's gateway (None when none or several do), asked as
        ``_gateway_asker`` says."""
        asker = self._gateway_asker(vlan)
        if asker is None:
            return None
        pod, att, family = asker
        operation = "arp" if family == 4 else "ndisc"
        answer = self.agent(pod).call(operation, ip=str(att.vlan.gateway_of(family)), iface=att.ifname, timeout=2.0,
                                      multi=True)
        macs = sorted({r["hwsrc"] for r in answer.get("replies", [])})
        return macs[0] if len(macs) == 1 else None

    def _gateway_asker(self, vlan: int):
        """(pod, attachment, family) that learns the VLAN's gateway MAC: the first pod interface in the VLAN, by
        ARP when it has an IPv4 address and the VLAN an IPv4 gateway, else by Neighbor Solicitation (IPv6)."""
        for pod in self.topology.pods:
            for att in self.topology.attachments(pod.name):
                if att.vlan is not None and att.vlan.id == vlan:
                    family = next((f for f in att.families if att.vlan.gateway_of(f) is not None), None)
                    return (pod.name, att, family) if family else None
        return None

    def master_index(self, node: str, master: str) -> int | None:
        """From the host probe; nmstate and the API do not show the host's ifindexes (None)."""
        link = self._host(node).get(master)
        return link.index if link else None

    def master_mtu(self, node: str, master: str) -> int | None:
        link = self._host(node).get(master)
        return link.mtu if link else None

    # --- agents and pods -------------------------------------------------------------------------
    def agent(self, pod: str) -> AgentClient:
        with self._agents_lock:  # one lock per pod: agents of different pods start in parallel
            lock = self._agent_locks.setdefault(pod, threading.Lock())
        with lock:
            if pod not in self._agents:
                self._agents[pod] = start_agent(self.cluster, self.namespace, pod)
            return self._agents[pod]

    def reproducer(self, pod: str, argv: list[str]) -> str:
        return shlex.join(["kubectl", "-n", self.namespace, "exec", pod, "-c", CONTAINER, "--", *argv])

    def try_create_pod(self, pod: Pod, timeout: float = 60.0) -> Admission:
        """Create a copy of ``pod`` (topology names; scoped here), report admission, delete it again.
        Refused = rejected by the API (a webhook) or never got its sandbox (the CNI refused it)."""
        annotations = scoped_annotations(pod.annotations, self.scope) if self.create_networks \
            else existing_annotations(pod.annotations, pod.namespace)
        scoped = pod.model_copy(update={"namespace": self.namespace, "annotations": annotations})
        name = f"rule-{pod.name}"[:63]
        manifest = manifests.probe_pod(scoped, resolve_attachments(self.topology, scoped), self.scope, self.image,
                                       name=name)
        try:
            self.cluster.core.create_namespaced_pod(self.namespace, manifest)
        except ApiException as exc:
            rbac = exc.status == 403 and "cannot create resource" in api_message(exc)
            if exc.status in (400, 403, 422) and not rbac:  # an admission webhook or validation said no
                return Admission(Verdict.REFUSED, f"rejected at admission: {api_message(exc)}")
            raise explain(exc, f"create pod {name}", self.cluster) from None
        try:
            return self._admission(name, timeout)
        finally:
            self._status.pop(name, None)
            try:
                self.cluster.core.delete_namespaced_pod(name, self.namespace, grace_period_seconds=0)
            except ApiException:
                pass

    def _admission(self, name: str, timeout: float) -> Admission:
        """Poll the pod until it runs (CREATED) or the kubelet reports that it cannot build its sandbox
        (REFUSED: a kubelet retries that for ever, so the first such event is the answer)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pod = call(self.cluster, f"read pod {name}", self.cluster.core.read_namespaced_pod, name, self.namespace)
            if _ready(pod):
                entries = json.loads(pod.metadata.annotations[ann.NETWORK_STATUS])
                detail = ", ".join(f"{e.get('interface')}={e.get('name')}" for e in entries)
                return Admission(Verdict.CREATED, f"pod came up with {detail}")
            failures = [e for e in self.pod_events(name) if e.startswith("FailedCreatePodSandBox")]
            if failures:
                return Admission(Verdict.REFUSED, f"the pod never got its sandbox: {failures[-1]}")
            time.sleep(0.25)
        return Admission(Verdict.REFUSED, f"the pod was not running after {timeout:.0f} s and reported no "
                                          f"sandbox failure: {' | '.join(self.pod_events(name)[-2:]) or 'no events'}")

    # --- faults: not on a live cluster ------------------------------------------------------------
    def set_bond_member(self, node: str, nic: str, up: bool) -> None:
        raise ClusterError("the cluster target does not take host bond members down (resilience checks are "
                           "not applicable on a cluster)")

    # --- reporting -------------------------------------------------------------------------------
    def diagnostics(self) -> dict[str, str]:
        try:
            events = self.cluster.core.list_namespaced_event(self.namespace).items
        except ApiException as exc:
            return {"events": f"unreadable: {api_message(exc)}"}
        return {"events": "\n".join(f"{e.involved_object.name}: {e.reason}: {e.message}" for e in events)}

    def environment(self) -> dict[str, str]:
        env = {"target": "cluster", "cluster.server_version": self.report.server_version,
               "cluster.context": self.cluster.context, "cluster.namespace": self.namespace,
               "cluster.multus": self.report.multus, "cluster.ipam": self.ipam, "probe.image": self.image}
        for node, info in self.report.node_info.items():
            env[f"node.{node}"] = f"kernel {info['kernel']}, kubelet {info['kubelet']}, {info['runtime']}"
        env["host.facts"] = ("host probe: hostNetwork pods " + ", ".join(hostprobe.pod_name(n.name) for n in
                             self.topology.nodes) + " (read-only)") if self.host_probe else \
            ("kubernetes-nmstate NodeNetworkState" if self.report.host_links else "none (masters not checked)")
        for i, note in enumerate(self.report.host_notes):
            env[f"host.note{i + 1}"] = note
        for vlan in self.topology.vlans:
            asker = None if vlan.gateway_mac else self._gateway_asker(vlan.id)
            protocol = "NDP" if asker and asker[2] == 6 else "ARP"
            source = "topology" if vlan.gateway_mac else f"learned from {protocol} (set vlans[].gatewayMac to check it)"
            env[f"gateway_mac.vlan{vlan.id}"] = source
        return env

    def close(self) -> None:
        with self._agents_lock:
            agents, self._agents = self._agents, {}
        for agent in agents.values():
            agent.close()

