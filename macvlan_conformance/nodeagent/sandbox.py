"""The sandbox contract between the pod worker and what makes a pod's network, and the simplest sandbox.

Contract: a ``Sandbox`` makes a pod's network (``add`` -> ``SandboxResult`` with the IPs of its eth0, or
``SandboxError`` with the reason, as a failed CNI ADD), undoes it (``delete``: idempotent, also when ``add``
never succeeded) and names the network namespaces exec runs in (``netns``; ``host_netns`` for hostNetwork
pods, "" meaning this process' own). ``NetnsOnlySandbox`` makes an empty namespace a pod; ``as_result``
accepts a sandbox that returns the list of IPs itself.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from typing import Protocol

from kubernetes import client


class SandboxError(RuntimeError):
    """The pod's sandbox could not be created (the CNI ADD failed): ``message`` says why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class SandboxResult:
    ips: list[str] = field(default_factory=list)  # the addresses of the pod's eth0


class Sandbox(Protocol):
    def add(self, pod: client.V1Pod) -> SandboxResult: ...
    def delete(self, pod: client.V1Pod) -> None: ...      # idempotent, also when add never succeeded
    def netns(self, pod: client.V1Pod) -> str: ...
    def host_netns(self) -> str: ...                       # "" = this process' own namespace


class NetnsOnlySandbox:
    """An empty network namespace a pod (loopback up, no NIC), named ``<prefix><first 12 hex of the UID>``;
    hostNetwork pods get none and run in ``host_netns`` (default: this process' namespace)."""

    def __init__(self, node: str, prefix: str, host_netns: str = ""):
        self.node, self.prefix, self._host = node, prefix, host_netns

    def netns(self, pod: client.V1Pod) -> str:
        return self.prefix + pod.metadata.uid.replace("-", "")[:12]

    def host_netns(self) -> str:
        return self._host

    def add(self, pod: client.V1Pod) -> SandboxResult:
        if pod.spec.host_network:
            return SandboxResult([])
        name = self.netns(pod)
        add = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
        if add.returncode != 0 and "File exists" not in add.stderr:
            raise SandboxError(f"ip netns add {name}: {add.stderr.strip()}")
        up = subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], capture_output=True, text=True)
        if up.returncode != 0:
            raise SandboxError(f"ip -n {name} link set lo up: {up.stderr.strip()}")
        return SandboxResult([])

    def delete(self, pod: client.V1Pod) -> None:
        if not pod.spec.host_network:
            subprocess.run(["ip", "netns", "del", self.netns(pod)], capture_output=True)


def as_result(value) -> SandboxResult:
    """A ``SandboxResult``, also from a sandbox that returns the list of IPs itself."""
    return value if isinstance(value, SandboxResult) else SandboxResult(list(value or []))

