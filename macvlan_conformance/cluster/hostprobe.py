"""The opt-in host probe (``--host-probe``): one hostNetwork pod per node running the same agent, read-only,
so that the host side can be checked where kubernetes-nmstate is not installed. The target reads the
node's links once through it (``describe``; judged by ``hostlinks``); their ifindexes let the allocation
check verify that a pod's macvlan sits on the right master.
"""

from __future__ import annotations

from .scope import RunScope

ROLE_LABEL = "macvlan-conformance.io/role"


def pod_name(node: str) -> str:
    return f"host-probe-{node}"[:253]


def host_probe_pod(node: str, scope: RunScope, image: str) -> dict:
    """A hostNetwork pod on ``node``; it only reads (``describe``), NET_ADMIN is not needed."""
    labels = {**scope.labels, ROLE_LABEL: "host-probe"}
    container = {"name": "probe", "image": image, "imagePullPolicy": "IfNotPresent", "command": ["sleep", "infinity"],
                 "securityContext": {"allowPrivilegeEscalation": False, "runAsUser": 0,
                                     "capabilities": {"drop": ["ALL"], "add": ["NET_RAW"]}},
                 "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod_name(node), "namespace": scope.namespace, "labels": labels},
            "spec": {"nodeName": node, "hostNetwork": True, "containers": [container], "restartPolicy": "Never",
                     "terminationGracePeriodSeconds": 0, "automountServiceAccountToken": False,
                     "enableServiceLinks": False, "tolerations": [{"operator": "Exists"}]}}

