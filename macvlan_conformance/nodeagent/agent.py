"""One node agent: the kubelet's stand-in for one node, made of an exec server, the Node's status and the
pod worker.

Contract: ``NodeAgent.start()`` listens for exec (a free port), then registers the Node (in the background,
retrying; ``wait_registered()`` waits for it) and starts running the pods bound to the node; ``stop()``
stops all three and leaves the Node and the pods' sandboxes as they are (the lab tears them down).
Exec runs ``ip netns exec <netns> <command>`` with the pod's netns (the node's own for hostNetwork pods,
the command as is when that is ""), ``python3`` meaning ``python``.

``SANDBOXES`` maps a sandbox kind to its factory, ``factory(node_name, **options) -> Sandbox``; the
options are the config's ``sandbox`` object without ``kind``.
"""

from __future__ import annotations

import logging
import sys
from typing import Callable

from kubernetes import client, config

from .exec_server import ExecServer
from .node import NodeStatus
from .pods import PodWorker
from .sandbox import NetnsOnlySandbox, Sandbox

def _multus_sandbox(node: str, **options) -> Sandbox:
    from ..lab.kube_sandbox import multus_sandbox  # the kube lab's: the real Multus in the node's namespace
    return multus_sandbox(node, **options)


SANDBOXES: dict[str, Callable[..., Sandbox]] = {"netns-only": NetnsOnlySandbox, "multus": _multus_sandbox}


class NodeLog(logging.LoggerAdapter):
    """Every line says its node."""

    def process(self, msg, kwargs):
        return f"[{self.extra['node']}] {msg}", kwargs


def make_sandbox(node: str, spec: dict) -> Sandbox:
    options = {k: v for k, v in spec.items() if k != "kind"}
    try:
        factory = SANDBOXES[spec["kind"]]
    except KeyError:
        raise ValueError(f"unknown sandbox kind {spec.get('kind')!r}; known: {', '.join(SANDBOXES)}") from None
    return factory(node, **options)


def exec_argv(sandbox: Sandbox, pod: client.V1Pod, command: list[str], python: str) -> list[str]:
    netns = sandbox.host_netns() if pod.spec.host_network else sandbox.netns(pod)
    argv = [python if command[0] == "python3" else command[0], *command[1:]]
    return ["ip", "netns", "exec", netns, *argv] if netns else argv


class NodeAgent:
    def __init__(self, node_name: str, kubeconfig_path: str, sandbox: Sandbox, serving_cert: str,
                 serving_key: str, client_ca: str, python: str = sys.executable, *,
                 lease_period: float = 10.0, heartbeat_period: float = 60.0, max_backoff: float = 10.0):
        self.name, self.kubeconfig, self.sandbox, self.python = node_name, kubeconfig_path, sandbox, python
        self.log = NodeLog(logging.getLogger("macvlan_conformance.nodeagent"), {"node": node_name})
        self.exec_server = ExecServer(self._argv_for, serving_cert, serving_key, client_ca, log=self.log)
        self.pods = PodWorker(node_name, self._api, sandbox, log=self.log, max_backoff=max_backoff)
        self._periods = (lease_period, heartbeat_period)
        self.status: NodeStatus | None = None

    def _api(self) -> client.ApiClient:
        return config.new_client_from_config(config_file=self.kubeconfig)

    def start(self) -> "NodeAgent":
        port = self.exec_server.start()
        self.status = NodeStatus(self.name, self._api, port, log=self.log, lease_period=self._periods[0],
                                 heartbeat_period=self._periods[1])
        self.status.start()
        self.pods.start()
        return self

    def wait_registered(self, timeout: float | None = None) -> bool:
        return self.status is not None and self.status.registered.wait(timeout)

    def stop(self) -> None:
        self.pods.stop()
        self.exec_server.stop()
        if self.status is not None:
            self.status.stop()

    def _argv_for(self, namespace: str, name: str, uid: str | None, container: str,
                  command: list[str]) -> list[str]:
        pod = self.pods.running(namespace, name)
        if pod is None or (uid and pod.metadata.uid != uid):
            raise LookupError(f"pod {namespace}/{name} is not running on node {self.name}")
        names = [c.name for c in pod.spec.containers] + [c.name for c in pod.spec.ephemeral_containers or []]
        if container not in names:
            raise LookupError(f"container {container} not found in pod {namespace}/{name}")
        return exec_argv(self.sandbox, pod, command, self.python)
