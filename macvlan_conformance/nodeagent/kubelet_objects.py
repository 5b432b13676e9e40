"""The kubelet's API objects, as pure functions of their arguments (no I/O, no clock).

Contract: ``running_status`` is the ``pods/status`` strategic-merge patch (``SMP``) of a pod whose
containers run (conditions, ``hostIP``, at most one pod IP a family, one running ``containerStatus`` a
container, completed init containers); ``sandbox_failure_event`` the ``FailedCreatePodSandBox`` Warning
Event, named by ``event_name``; ``finalizing_delete`` the grace-0, UID-preconditioned ``DeleteOptions``
that ends a terminated pod. ``rfc3339`` formats times as the API does; ``error_text`` is an API error in
one line, for logs.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from datetime import datetime, timezone
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

NODE_IP = "127.0.0.1"
SMP = "application/strategic-merge-patch+json"
RUNTIME = "macvlan-conformance"


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod_ips(ips: list[str]) -> list[str]:
    """The API server's rule: at most one IP of each family, the first one given of each."""
    chosen, families = [], set()
    for ip in ips:
        family = ipaddress.ip_address(ip).version
        if family not in families:
            families.add(family)
            chosen.append(ip)
    return chosen


def container_id(pod: client.V1Pod, container: str) -> str:
    digest = hashlib.sha256(f"{pod.metadata.uid}/{container}".encode()).hexdigest()
    return f"{RUNTIME}://{digest}"


def running_status(pod: client.V1Pod, ips: list[str], now: datetime, node_ip: str = NODE_IP) -> dict:
    """The ``pods/status`` patch the kubelet makes once the pod's containers run."""
    stamp = rfc3339(now)
    addresses = [node_ip] if pod.spec.host_network else pod_ips(ips)
    conditions = [{"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": stamp}
                  for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")]
    status: dict[str, Any] = {
        "phase": "Running", "conditions": conditions, "hostIP": node_ip, "hostIPs": [{"ip": node_ip}],
        "startTime": stamp,
        "containerStatuses": [{
            "name": c.name, "ready": True, "started": True, "restartCount": 0, "image": c.image,
            "imageID": c.image, "containerID": container_id(pod, c.name),
            "state": {"running": {"startedAt": stamp}}, "lastState": {}} for c in pod.spec.containers],
    }
    if pod.spec.init_containers:
        status["initContainerStatuses"] = [{
            "name": c.name, "ready": True, "started": False, "restartCount": 0, "image": c.image,
            "imageID": c.image, "containerID": container_id(pod, c.name), "lastState": {},
            "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": stamp,
                                     "finishedAt": stamp, "containerID": container_id(pod, c.name)}}}
            for c in pod.spec.init_containers]
    if addresses:
        status["podIP"], status["podIPs"] = addresses[0], [{"ip": ip} for ip in addresses]
    if pod.metadata.generation:
        status["observedGeneration"] = pod.metadata.generation
    return {"status": status}


def sandbox_failure_event(pod: client.V1Pod, node: str, error: str, *, name: str, count: int,
                          first: datetime, last: datetime) -> dict:
    """The core/v1 Event the kubelet records when a pod's sandbox cannot be created."""
    meta = pod.metadata
    return {
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": meta.namespace},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "namespace": meta.namespace, "name": meta.name,
                           "uid": meta.uid, "resourceVersion": meta.resource_version},
        "reason": "FailedCreatePodSandBox", "message": f"Failed to create pod sandbox: {error}",
        "type": "Warning", "source": {"component": "kubelet", "host": node},
        "reportingComponent": "kubelet", "reportingInstance": node,
        "count": count, "firstTimestamp": rfc3339(first), "lastTimestamp": rfc3339(last),
    }


def event_name(pod: client.V1Pod, now: datetime) -> str:
    """``<pod>.<hex nanoseconds>``, as client-go's recorder names events."""
    return f"{pod.metadata.name}.{int(now.timestamp() * 1e9):x}"


def finalizing_delete(pod: client.V1Pod) -> dict:
    """The kubelet's last word on a terminated pod: delete now, and only this very pod."""
    return {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
            "preconditions": {"uid": pod.metadata.uid}}


def error_text(exc: Exception) -> str:
    if isinstance(exc, ApiException):
        try:
            return f"{exc.status} {json.loads(exc.body).get('message', exc.reason)}"
        except (TypeError, ValueError, AttributeError):
            return f"{exc.status} {exc.reason}"
    return str(exc) or type(exc).__name__

