"""Pod sandboxes of the kube lab: a network namespace per pod, its NICs from the **real Multus** thin plugin.

Multus is run the way a container runtime runs the node's CNI plugin: ``CNI_COMMAND`` ADD/DEL,
``CNI_CONTAINERID``, ``CNI_NETNS``, ``CNI_IFNAME=eth0``, ``CNI_ARGS`` with ``IgnoreUnknown``,
``K8S_POD_NAMESPACE``, ``K8S_POD_NAME``, ``K8S_POD_INFRA_CONTAINER_ID`` and ``K8S_POD_UID``, and its own
configuration on stdin: the lab's kubeconfig for Multus' user, the overlay stand-in (the real ``bridge``
plugin on the node's pod CIDR) as its cluster network, a private cache directory. It runs inside the node's
namespace, so its delegates (macvlan, bridge, the Spiderpool IPAM stand-in) find the node's masters there,
and Multus itself reads NADs from and writes network-status to the API server, which the node's namespace
reaches through its ``ApiRelay``.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from .. import netconf
from ..topology import Topology
from . import service_proxy
from ..controlplane.processes import KUBERNETES_SERVICE_IP
from .api_route import ApiRelay
from .cleanup import delete_namespaces
from .commands import in_netns
from .names import LabNames

MULTUS_CONF_VERSION = "0.3.1"  # Multus' own config (its delegates keep theirs)
ADD_TIMEOUT_S = 60.0


class SandboxError(RuntimeError):
    pass


class MultusSandbox:
    def __init__(self, topology: Topology, lab: str, node: str, *, multus: Path, cni_dirs: list[Path],
                 multus_kubeconfig: Path, ipam_kubeconfig: Path):
        self.t = topology
        self.names = LabNames(lab)
        self.node = node
        self.multus = multus
        self.cni_dirs = cni_dirs
        self.ipam_kubeconfig = ipam_kubeconfig
        self.dir = self.names.run_dir / "multus" / node
        self.dir.mkdir(parents=True, exist_ok=True)
        overlay = netconf.overlay_conflist(topology, node, self.names.run_dir / "ipam" / node, LabNames.OVERLAY_BRIDGE)
        self.cluster_network = self.dir / f"{topology.overlay.name}.conflist"
        self.cluster_network.write_text(json.dumps(overlay, indent=1))
        self.config = {"cniVersion": MULTUS_CONF_VERSION, "name": "multus-cni-network", "type": "multus",
                       "kubeconfig": str(multus_kubeconfig), "clusterNetwork": str(self.cluster_network),
                       "multusNamespace": "kube-system", "cniDir": str(self.dir / "cache"),
                       "binDir": str(cni_dirs[0]), "logToStderr": True, "logLevel": "error"}
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)  # per pod UID
        self._deleted: set[str] = set()  # UIDs whose sandbox was deleted: a late ADD must not recreate it
        self._sandboxes: dict[str, str] = {}  # pod UID -> the container ID of its current sandbox
        self._attempts: Counter[str] = Counter()  # pod UID -> sandbox attempts so far
        server = yaml.safe_load(Path(multus_kubeconfig).read_text())["clusters"][0]["cluster"]["server"]
        port = urlsplit(server).port
        self.relay = ApiRelay(self.host_netns(), port)
        # the kubernetes Service, as kube-proxy would route it on this node (a stand-in: service_proxy)
        node_ip = str(topology.node(node).ip)
        self.service_relay = ApiRelay(self.host_netns(), port, address=node_ip)
        service_proxy.install(self.host_netns(), KUBERNETES_SERVICE_IP, 443, node_ip, port)

    def close(self) -> None:
        self.relay.close()
        self.service_relay.close()
        service_proxy.remove(self.host_netns())

    # --- the node agent's Sandbox protocol ---------------------------------------------------------
    def netns(self, pod) -> str:
        return self.names.pod_ns(f"{pod.metadata.namespace}.{pod.metadata.name}")

    def host_netns(self) -> str:
        return self.names.node_ns(self.node)

    def add(self, pod) -> list[str]:
        """Create the pod's namespace and run Multus ADD; the pod's eth0 addresses (a failure removes the
        namespace again and raises ``SandboxError`` with Multus' message). ADD and DEL of one pod never
        overlap, and a pod whose sandbox was deleted gets none again."""
        with self._locks[pod.metadata.uid]:
            if pod.metadata.uid in self._deleted:
                raise SandboxError(f"pod {pod.metadata.namespace}/{pod.metadata.name} is being deleted")
            return self._add(pod)

    def _add(self, pod) -> list[str]:
        """One sandbox attempt. Each attempt has a container ID of its own, as a container runtime gives
        each RunPodSandbox a new sandbox ID: a retry after a failed or timed-out attempt whose DEL did not
        finish must not be refused by host-local as a duplicate allocation of the same ID."""
        netns = self.netns(pod)
        uid = pod.metadata.uid
        container_id = self._sandboxes[uid] = f"{uid.replace('-', '')}a{self._attempts[uid]}"
        self._attempts[uid] += 1
        subprocess.run(["ip", "netns", "add", netns], check=False, capture_output=True)
        try:
            lo = subprocess.run(in_netns(netns, ["ip", "link", "set", "lo", "up"]), capture_output=True, text=True)
            if lo.returncode != 0:
                raise SandboxError(f"cannot set up the pod's network namespace {netns}: {lo.stderr.strip()}")
            result = self._multus("ADD", pod, netns, container_id)
        except SandboxError:
            self._multus("DEL", pod, netns, container_id, check=False)
            delete_namespaces([netns])
            raise
        return eth0_ips(result)

    def delete(self, pod) -> None:
        with self._locks[pod.metadata.uid]:
            self._deleted.add(pod.metadata.uid)
            netns = self.netns(pod)
            container_id = self._sandboxes.get(pod.metadata.uid)
            if container_id and Path(f"/run/netns/{netns}").exists():
                self._multus("DEL", pod, netns, container_id, check=False)
                delete_namespaces([netns])

    # --- Multus ------------------------------------------------------------------------------------
    def _multus(self, command: str, pod, netns: str, container_id: str, check: bool = True) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_SERVICE_")}
        env.update({
            "CNI_COMMAND": command, "CNI_CONTAINERID": container_id, "CNI_NETNS": f"/run/netns/{netns}",
            "CNI_IFNAME": "eth0", "CNI_PATH": ":".join(str(d) for d in self.cni_dirs),
            "CNI_ARGS": (f"IgnoreUnknown=1;K8S_POD_NAMESPACE={pod.metadata.namespace};K8S_POD_NAME="
                         f"{pod.metadata.name};K8S_POD_INFRA_CONTAINER_ID={container_id};K8S_POD_UID={pod.metadata.uid}"),
            "MACVLAN_CONFORMANCE_IPAM_KUBECONFIG": str(self.ipam_kubeconfig),
        })
        try:
            proc = subprocess.run(in_netns(self.host_netns(), [str(self.multus)]), input=json.dumps(self.config),
                                  env=env, capture_output=True, text=True, timeout=ADD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            if not check:
                return {}
            raise SandboxError(f'plugin type="multus" name="multus-cni-network" failed ({command.lower()}): no '
                               f"answer within {ADD_TIMEOUT_S:.0f} s") from None
        if proc.returncode != 0:
            if not check:
                return {}
            raise SandboxError(_cni_error(proc))
        try:
            return json.loads(proc.stdout) if proc.stdout.strip() else {}
        except json.JSONDecodeError:
            raise SandboxError(f"Multus printed no CNI result: {proc.stdout.strip()[:200]}") from None


def eth0_ips(result: dict) -> list[str]:
    """The addresses of eth0 in a CNI result (without prefix length)."""
    names = [i.get("name") for i in result.get("interfaces", [])]
    return [ip["address"].split("/")[0] for ip in result.get("ips", [])
            if ip.get("interface") is None or names[ip["interface"]] == "eth0"]


def _cni_error(proc: subprocess.CompletedProcess) -> str:
    """Multus' error as the kubelet reports it: ``plugin type="multus" name="..." failed (add): <msg>``."""
    try:
        error = json.loads(proc.stdout)
        message = error.get("msg", "") + (f": {error['details']}" if error.get("details") else "")
    except (json.JSONDecodeError, AttributeError):
        message = (proc.stdout or proc.stderr).strip() or f"exit status {proc.returncode}"
    return f'plugin type="multus" name="multus-cni-network" failed (add): {message}'


def multus_sandbox(node: str, *, lab: str, topology: str, multus: str, cni_dirs: list[str], multus_kubeconfig: str,
                   ipam_kubeconfig: str) -> MultusSandbox:
    """The node agent's factory for the ``multus`` sandbox kind (options from its JSON config)."""
    from ..topology import load_topology
    return MultusSandbox(load_topology(topology), lab, node, multus=Path(multus), cni_dirs=[Path(d) for d in cni_dirs],
                         multus_kubeconfig=Path(multus_kubeconfig), ipam_kubeconfig=Path(ipam_kubeconfig))
