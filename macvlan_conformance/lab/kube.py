"""The kube lab: the embedded lab's network with a real control plane on top (``lab up --control-plane kube``).

On the lab's nodes, switch and router (built as for the embedded lab, without its pods) it starts etcd,
kube-apiserver and kube-controller-manager (``controlplane``), installs the real CRDs, RBAC and the
topology's networks, and one node-agent process (the kubelet's stand-in, ``nodeagent``) that registers a
Node per topology node and runs the pods bound to it with the real Multus (``kube_sandbox``). Pods come
only through the API. Every process names the lab's run directory on its command line and every pod
namespace carries the lab's prefix, so ``lab down`` and ``lab cleanup`` remove it all.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from kubernetes import client, config

from ..controlplane import bootstrap
from ..controlplane.cluster import IPAM_USER, MULTUS_USER, RUN_USER, ControlPlane
from ..controlplane.components import component_binaries
from ..controlplane.processes import ControlPlaneError
from ..topology import Topology
from .cni import find_plugin_dir
from .names import LabNames
from .state import KubeState

NODES_READY_TIMEOUT_S = 60.0


def start(topology: Topology, topology_path: str, lab: str, progress) -> KubeState:
    """Control plane, bootstrap, node agents; returns when every topology node is Ready."""
    names = LabNames(lab)
    directory = names.run_dir / "kube"
    bin_dir = component_binaries(progress)
    plane = ControlPlane.start(directory, bin_dir, progress)
    api = config.new_client_from_config(str(plane.admin_kubeconfig))
    try:
        progress("control plane: CRDs, RBAC and the topology's networks")
        bootstrap.install_crds(api)
        bootstrap.grant_all(api)
        bootstrap.install_networks(api, topology)
        progress("node agents: registering the nodes")
        agent_config = _node_agent_config(plane, topology, topology_path, lab, bin_dir)
        agents = _start_node_agents(agent_config, directory)
        _wait_nodes_ready(api, [n.name for n in topology.nodes], directory, agents)
        plane.check_alive()
        version = _multus_version(bin_dir / "multus")
        bootstrap.record_multus(api, len(topology.nodes), version)
    finally:
        api.close()
    return KubeState(server=plane.server, admin_kubeconfig=str(plane.admin_kubeconfig),
                     user_kubeconfig=str(plane.kubeconfig(RUN_USER)), directory=str(directory),
                     multus_version=version)


def _node_agent_config(plane: ControlPlane, topology: Topology, topology_path: str, lab: str,
                       bin_dir: Path) -> Path:
    from ..coordinator_standin.plugin import install_plugin as install_coordinator
    from ..spiderpool_standin.plugin import install_plugin
    names = LabNames(lab)
    cni_bin = names.run_dir / "cni-bin"
    cni_bin.mkdir(exist_ok=True)
    install_plugin(cni_bin)
    install_coordinator(cni_bin)
    nodes = []
    for node in topology.nodes:
        kubeconfig = plane.issue_user(f"system:node:{node.name}", ("system:nodes",))
        serving = plane.authority.issue(f"kubelet-{node.name}", f"system:node:{node.name}", server=True,
                                        hosts=("127.0.0.1", "localhost", node.name))
        nodes.append({"name": node.name, "kubeconfig": str(kubeconfig), "cert": str(serving.cert),
                      "key": str(serving.key)})
    sandbox = {"kind": "multus", "lab": lab, "topology": topology_path,
               "multus": str(bin_dir / "multus"), "cni_dirs": [str(find_plugin_dir()), str(cni_bin)],
               "multus_kubeconfig": str(plane.kubeconfig(MULTUS_USER)),
               "ipam_kubeconfig": str(plane.kubeconfig(IPAM_USER))}
    path = plane.directory / "nodeagent.json"
    path.write_text(json.dumps({"nodes": nodes, "client_ca": str(plane.ca), "sandbox": sandbox,
                                "python": sys.executable}, indent=1))
    return path


def _start_node_agents(config_path: Path, directory: Path) -> subprocess.Popen:
    with open(directory / "logs" / "nodeagent.log", "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "macvlan_conformance.nodeagent", "--config", str(config_path)],
                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                         cwd=str(Path(__file__).resolve().parents[2]))


def _wait_nodes_ready(api: client.ApiClient, nodes: list[str], directory: Path, agents: subprocess.Popen) -> None:
    """Until every node is Ready; fails at once when the node agents' process exited."""
    core = client.CoreV1Api(api)
    deadline = time.monotonic() + NODES_READY_TIMEOUT_S
    ready: set[str] = set()
    while time.monotonic() < deadline and agents.poll() is None:
        ready = {n.metadata.name for n in core.list_node().items
                 if any(c.type == "Ready" and c.status == "True" for c in (n.status.conditions or []))}
        if set(nodes) <= ready:
            return
        time.sleep(0.2)
    log = (directory / "logs" / "nodeagent.log").read_text(errors="replace").splitlines()[-5:]
    why = f"the node agents exited ({agents.returncode})" if agents.poll() is not None else \
        f"not Ready after {NODES_READY_TIMEOUT_S:.0f} s"
    raise ControlPlaneError(f"nodes {', '.join(sorted(set(nodes) - ready))}: {why}; node agent log:\n" + "\n".join(log))


def _multus_version(multus: Path) -> str:
    proc = subprocess.run([str(multus), "-version"], capture_output=True, text=True)
    text = (proc.stdout or proc.stderr).strip()
    return text.split("version:", 1)[1].split("(", 1)[0].strip() if "version:" in text else text or "unknown"
