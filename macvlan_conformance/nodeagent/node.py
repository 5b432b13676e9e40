"""The Node object of one node agent, kept Ready the way the kubelet keeps it.

Contract of ``NodeStatus`` (a thread): on start it creates the Node ``<name>`` (or adopts the one there)
with the kubelet's labels, addresses (InternalIP 127.0.0.1, Hostname), the exec server's port as
``daemonEndpoints.kubeletEndpoint.Port``, ``nodeInfo``, capacity/allocatable and the four conditions
(Ready=True/KubeletReady, Memory/Disk/PIDPressure=False), retrying until the API server takes it
(``registered`` is set then). Afterwards it renews the Lease ``kube-node-lease/<name>`` every
``lease_period`` seconds and refreshes the conditions' ``lastHeartbeatTime`` (a ``nodes/status`` patch)
every ``heartbeat_period``. ``stop()`` ends the thread and leaves the Node as it is.
The payload builders are pure functions of their arguments.
"""

from __future__ import annotations

import logging
import os
import platform
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from .. import __version__
from .kubelet_objects import NODE_IP, SMP, error_text, rfc3339

LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_S = 40          # the kubelet's default nodeLeaseDurationSeconds
MAX_PODS = 110
CONDITIONS = (  # type, status, reason, message: the kubelet's words
    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)


# --- payloads (pure) ------------------------------------------------------------------------------------
def micro_time(moment: datetime) -> str:
    """A ``metav1.MicroTime``: RFC 3339 with exactly six fractional digits."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def node_conditions(heartbeat: datetime, transition: datetime) -> list[dict]:
    return [{"type": t, "status": s, "reason": r, "message": m, "lastHeartbeatTime": rfc3339(heartbeat),
             "lastTransitionTime": rfc3339(transition)} for t, s, r, m in CONDITIONS]


def node_info(kubelet_version: str, host: dict[str, str]) -> dict:
    """``status.nodeInfo`` from the server's version and this host's facts (``host_facts()``)."""
    return {"machineID": host["machine_id"], "systemUUID": host["machine_id"], "bootID": host["boot_id"],
            "kernelVersion": host["kernel"], "osImage": host["os_image"], "operatingSystem": "linux",
            "architecture": host["architecture"], "kubeletVersion": kubelet_version, "kubeProxyVersion": "",
            "containerRuntimeVersion": f"macvlan-conformance-node-agent://{__version__}"}


def node_status(name: str, port: int, info: dict, capacity: dict, now: datetime, node_ip: str = NODE_IP) -> dict:
    return {"addresses": [{"type": "InternalIP", "address": node_ip}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}, "nodeInfo": info,
            "capacity": capacity, "allocatable": dict(capacity), "conditions": node_conditions(now, now)}


def node_labels(name: str, architecture: str) -> dict:
    return {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": architecture,
            "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": architecture}


def node_body(name: str, port: int, info: dict, capacity: dict, now: datetime, node_ip: str = NODE_IP) -> dict:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": node_labels(name, info["architecture"])},
            "spec": {}, "status": node_status(name, port, info, capacity, now, node_ip)}


def lease_body(name: str, now: datetime, node_uid: str | None = None) -> dict:
    metadata: dict = {"name": name, "namespace": LEASE_NAMESPACE}
    if node_uid:
        metadata["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": name, "uid": node_uid}]
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata,
            "spec": {"holderIdentity": name, "leaseDurationSeconds": LEASE_DURATION_S,
                     "renewTime": micro_time(now)}}


# --- this host ----------------------------------------------------------------------------------------------
def _read(path: str, default: str = "") -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return default


def host_facts() -> dict[str, str]:
    os_release = dict(line.split("=", 1) for line in _read("/etc/os-release").splitlines() if "=" in line)
    machine = platform.machine()
    return {"machine_id": _read("/etc/machine-id", "0" * 32), "boot_id": _read("/proc/sys/kernel/random/boot_id"),
            "kernel": platform.release(), "os_image": os_release.get("PRETTY_NAME", "Linux").strip('"'),
            "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)}


def host_capacity() -> dict[str, str]:
    meminfo = dict(line.split(":", 1) for line in _read("/proc/meminfo").splitlines() if ":" in line)
    memory_kib = meminfo.get("MemTotal", "0 kB").split()[0]
    return {"cpu": str(os.cpu_count() or 1), "memory": f"{memory_kib}Ki", "pods": str(MAX_PODS)}


# --- the thread ---------------------------------------------------------------------------------------------
class NodeStatus(threading.Thread):
    def __init__(self, name: str, api_factory: Callable[[], client.ApiClient], kubelet_port: int, *,
                 log: logging.Logger | logging.LoggerAdapter, lease_period: float = 10.0,
                 heartbeat_period: float = 60.0, node_ip: str = NODE_IP):
        super().__init__(name=f"node-status:{name}", daemon=True)
        self.node, self.port, self.log, self.node_ip = name, kubelet_port, log, node_ip
        self.lease_period, self.heartbeat_period = lease_period, heartbeat_period
        self._api = api_factory()
        self._core = client.CoreV1Api(self._api)
        self._leases = client.CoordinationV1Api(self._api)
        self._stop_event = threading.Event()
        self.registered = threading.Event()
        self._uid: str | None = None
        self._since: datetime | None = None   # the conditions' lastTransitionTime

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout=5)
        self._api.close()

    def run(self) -> None:
        delay = 0.5
        while not self._stop_event.is_set() and not self.registered.is_set():
            try:
                self._register()
            except Exception as exc:  # noqa: BLE001 - the kubelet retries registration for ever
                self.log.warning("node registration failed (%s); again in %.1f s", error_text(exc), delay)
                self._stop_event.wait(delay)
                delay = min(delay * 2, 10.0)
        next_heartbeat = 0.0
        while not self._stop_event.is_set():
            self._renew_lease()
            next_heartbeat -= self.lease_period
            if next_heartbeat <= 0:
                self._heartbeat()
                next_heartbeat = self.heartbeat_period
            self._stop_event.wait(self.lease_period)

    def _register(self) -> None:
        version = client.VersionApi(self._api).get_code().git_version
        now = _now()
        body = node_body(self.node, self.port, node_info(version, host_facts()), host_capacity(), now, self.node_ip)
        try:
            node = self._core.create_node(body)
            action = "registered"
        except ApiException as exc:
            if exc.status != 409:
                raise
            node = self._core.patch_node(self.node, {"metadata": {"labels": body["metadata"]["labels"]}},
                                         _content_type=SMP)
            action = "adopted"
        self._uid, self._since = node.metadata.uid, now
        self._core.patch_node_status(self.node, {"status": body["status"]}, _content_type=SMP)
        self._renew_lease()
        self.registered.set()
        self.log.info("node %s %s (kubelet endpoint 127.0.0.1:%d, %s)", self.node, action, self.port, version)

    def _renew_lease(self) -> None:
        now = _now()
        try:
            try:
                self._leases.patch_namespaced_lease(self.node, LEASE_NAMESPACE, {"spec": lease_body(
                    self.node, now)["spec"]}, _content_type=SMP)
            except ApiException as exc:
                if exc.status != 404:
                    raise
                self._leases.create_namespaced_lease(LEASE_NAMESPACE, lease_body(self.node, now, self._uid))
        except Exception as exc:  # noqa: BLE001 - next period tries again
            self.log.warning("lease not renewed: %s", error_text(exc))

    def _heartbeat(self) -> None:
        try:
            self._core.patch_node_status(self.node, {"status": {"conditions": node_conditions(
                _now(), self._since or _now())}}, _content_type=SMP)
        except Exception as exc:  # noqa: BLE001
            self.log.warning("node status not refreshed: %s", error_text(exc))


def _now() -> datetime:
    return datetime.now(timezone.utc)
