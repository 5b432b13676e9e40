"""A kubelet + Multus for the API double, backed by an embedded lab: pods created through the API get real
namespaces and real macvlan NICs from the lab's CNI plugins, and exec runs the agent inside them.

It acts as Multus does: it reads the pod's annotations, looks the NetworkAttachmentDefinitions up in the
API (a missing NAD or a NAD whose macvlan config differs from the network's is a sandbox failure), takes
the pools from ``ipam.spidernet.io/ippools`` (each must exist as a SpiderIPPool), and writes the
network-status with the NADs' own namespace/name. The lab enforces the multus-underlay contract, so a
refused pod never gets its sandbox, as on a cluster. A hostNetwork pod (the host probe) runs in its
node's namespace.
"""

from __future__ import annotations

import json
import sys

from macvlan_conformance import annotations as ann
from macvlan_conformance.cluster.scope import RUN_LABEL
from macvlan_conformance.lab.builder import PodFactory, PodRefused
from macvlan_conformance.lab.names import LabNames
from macvlan_conformance.lab.state import LabState
from macvlan_conformance.topology import Pod, load_topology

from .apiserver import FakeApiServer, SandboxError

NAD = ("k8s.cni.cncf.io", "network-attachment-definitions")


class LabKubelet:
    def __init__(self, lab: str):
        self.names = LabNames(lab)
        state = LabState.load(self.names.state_file)
        self.topology = load_topology(state.topology_path)

    def _factory(self) -> PodFactory:
        return PodFactory(self.topology, LabState.load(self.names.state_file))

    def _network_ref(self, server: FakeApiServer, namespace: str, name: str) -> str:
        """The lab network behind NAD ``namespace/name``, after checking the NAD exists and agrees."""
        with server._lock:
            nad = server.objects.get((*NAD, namespace, name))
        if nad is None:
            raise SandboxError(f"Multus: cannot find a network-attachment-definition ({name}) in namespace "
                               f"({namespace})")
        network = next((n for n in self.topology.networks if n.name == name), None)
        if network is None:
            raise SandboxError(f"Multus: network {name} has no macvlan master in this lab")
        plugin = json.loads(nad["spec"]["config"])["plugins"][0]
        if (plugin.get("type"), plugin.get("master"), plugin.get("mode")) != ("macvlan", network.master, network.mode):
            raise SandboxError(f"NAD {namespace}/{name} is {plugin.get('type')} on {plugin.get('master')} "
                               f"({plugin.get('mode')}), the lab's network is macvlan on {network.master} ({network.mode})")
        return network.ref

    def _lab_pod(self, pod: dict, server: FakeApiServer) -> Pod:
        meta = pod["metadata"]
        namespace, annotations = meta["namespace"], dict(meta.get("annotations", {}))
        if ann.DEFAULT_NETWORK in annotations:
            selection = ann.parse_default_network(annotations[ann.DEFAULT_NETWORK], namespace)
            annotations[ann.DEFAULT_NETWORK] = self._network_ref(server, selection.namespace, selection.name)
        if annotations.get(ann.NETWORKS):
            refs = []
            for selection in ann.parse_networks(annotations[ann.NETWORKS], namespace):
                ref = self._network_ref(server, selection.namespace, selection.name)
                refs.append(ref + (f"@{selection.interface}" if selection.interface else ""))
            annotations[ann.NETWORKS] = ",".join(refs)
        if ann.IPPOOLS in annotations:
            prefix = f"mc-{meta['labels'][RUN_LABEL]}-"
            entries = json.loads(annotations[ann.IPPOOLS])
            for entry in entries:
                pool = entry["ipv4"][0]
                if not server.objects.get(("spiderpool.spidernet.io", "spiderippools", None, pool)):
                    raise SandboxError(f"spiderpool: SpiderIPPool {pool} not found")
                entry["ipv4"] = [pool.removeprefix(prefix)]
            annotations[ann.IPPOOLS] = json.dumps(entries)
        return Pod(name=meta["name"], namespace=namespace, node=pod["spec"]["nodeName"], annotations=annotations)

    def start(self, pod: dict, server: FakeApiServer) -> list[dict] | None:
        if pod["spec"].get("hostNetwork"):
            return None  # runs in the node's namespace, which exists
        lab_pod = self._lab_pod(pod, server)
        try:
            state = self._factory().create(lab_pod)
        except PodRefused as exc:
            raise SandboxError(f'plugin type="multus" failed (add): {exc.reason}') from None
        moved = {n.ref: f"{pod['metadata']['namespace']}/{n.name}" for n in self.topology.networks}
        return [{**entry, "name": moved.get(entry["name"], entry["name"])} for entry in state.network_status]

    def stop(self, pod: dict) -> None:
        factory = self._factory()
        if not pod["spec"].get("hostNetwork") and pod["metadata"]["name"] in factory.state.pods:
            factory.delete(pod["metadata"]["name"])

    def exec_argv(self, pod: dict, command: list[str]) -> list[str]:
        """The command inside the pod's namespace; ``python3`` is this interpreter (the image's python)."""
        argv = [sys.executable if command[0] == "python3" else command[0], *command[1:]]
        netns = self.names.node_ns(pod["spec"]["nodeName"]) if pod["spec"].get("hostNetwork") \
            else self.names.pod_ns(pod["metadata"]["name"])
        return ["ip", "netns", "exec", netns, *argv]
