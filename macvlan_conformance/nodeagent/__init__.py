"""The node agent: the kubelet's stand-in on a lab without a container runtime.

One ``NodeAgent`` a topology node registers the Node (kept Ready with a Lease), runs the pods bound to it as
network namespaces made by a pluggable ``Sandbox`` (the lab's is the real Multus), and serves the kubelet's
exec endpoint that the real kube-apiserver proxies ``pods/exec`` to (WebSocket and SPDY/3.1).
``python -m macvlan_conformance.nodeagent --config <json>`` runs the agents of all the nodes of a lab.
"""

from .agent import SANDBOXES, NodeAgent, make_sandbox
from .exec_server import ExecServer
from .node import NodeStatus
from .pods import PodWorker
from .sandbox import NetnsOnlySandbox, Sandbox, SandboxError, SandboxResult

__all__ = ["SANDBOXES", "ExecServer", "NetnsOnlySandbox", "NodeAgent", "NodeStatus", "PodWorker", "Sandbox",
           "SandboxError", "SandboxResult", "make_sandbox"]
