"""Before a cluster run creates anything: is the cluster able to run the topology at all?

Each problem is one line naming what is missing and how to fix it. The API being unreachable or the
credentials rejected stops the checks at once (nothing else could be asked).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from .. import netconf
from . import existing, manifests, multus_config
from ..topology import Topology
from . import hostlinks
from .hostlinks import HostLink
from .kube import Cluster, ClusterError, api_message, call, explain

REQUIRED_CRDS = {
    "network-attachment-definitions.k8s.cni.cncf.io": "install Multus (it ships the NetworkAttachmentDefinition CRD)",
    "spiderippools.spiderpool.spidernet.io": "install Spiderpool, or run with --ipam host-local|whereabouts",
}
NNS_CRD = "nodenetworkstates.nmstate.io"


class PreflightError(ClusterError):
    """The cluster cannot run this topology; ``problems`` holds one line per reason."""

    def __init__(self, problems: list[str], headline: str = "preflight failed, nothing was created"):
        self.problems = problems
        super().__init__(f"{headline}:\n  - " + "\n  - ".join(problems))


@dataclass
class PreflightReport:
    """What preflight learned on the way (reused by the target: versions, host interface states)."""

    server_version: str = ""
    multus: str = ""
    cni_version: str = netconf.CNI_VERSION  # what the NADs declare: the newest the cluster's Multus runs
    cni_version_reason: str = ""
    node_info: dict[str, dict] = field(default_factory=dict)
    host_links: dict[str, dict[str, HostLink]] = field(default_factory=dict)  # node -> ifname -> link (nmstate)
    host_notes: list[str] = field(default_factory=list)

    def save(self, path: Path) -> None:
        """Written by the run's controller, so that every xdist worker judges with the same facts."""
        Path(path).write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> "PreflightReport":
        data = json.loads(Path(path).read_text())
        links = {node: {name: HostLink(**{**link, "members": tuple(link["members"])}) for name, link in found.items()}
                 for node, found in data.pop("host_links").items()}
        return cls(**data, host_links=links)


def preflight(cluster: Cluster, topology: Topology, ipam: str = "spiderpool", scoped: Topology | None = None,
              run_namespace: str = "", create_networks: bool = True) -> PreflightReport:
    """Run every check; raise ``PreflightError`` listing all problems found. ``scoped`` is the topology as
    the run deploys it (``scope.scoped_topology``) in ``run_namespace``: without ``create_networks`` its
    NADs and pools must exist and Multus must let the run's pods use them; with it, the run's pools must
    not overlap existing ones."""
    report = PreflightReport()
    version = call(cluster, "read the API server version", client.VersionApi(cluster.api).get_code)
    report.server_version = version.git_version
    problems: list[str] = []
    crds = dict(REQUIRED_CRDS)
    if ipam != "spiderpool":
        crds.pop("spiderippools.spiderpool.spidernet.io")
    missing_crds = [name for name in crds if not _crd_exists(cluster, name, problems)]
    problems += [f"CRD {name} is missing: {crds[name]}" for name in missing_crds]
    multus_ds = _multus_daemonset(cluster)
    problems += _multus_ready(multus_ds, report)
    problems += _nodes_exist(cluster, topology, report)
    problems += _pool_capacity(topology)
    if create_networks:
        problems += manifests.ipam_problems(topology, ipam)
        if ipam == "spiderpool" and "spiderippools.spiderpool.spidernet.io" not in missing_crds:
            problems += existing.overlapping_pools(cluster, scoped or topology)
    elif not missing_crds:
        problems += _existing_networks(cluster, scoped or topology, ipam)
        problems += multus_config.problems(scoped or topology, run_namespace, _isolation(cluster, multus_ds))
    if _crd_exists(cluster, NNS_CRD, problems):
        problems += _host_masters(cluster, topology, report)
    if problems:
        raise PreflightError(problems)
    return report


def _crd_exists(cluster: Cluster, name: str, problems: list[str]) -> bool:
    try:
        cluster.crds.read_custom_resource_definition(name)
        return True
    except ApiException as exc:
        if exc.status == 404:
            return False
        if exc.status == 403:
            problems.append(f"cannot read CRD {name}: forbidden ({api_message(exc)}); grant get on "
                            f"customresourcedefinitions.apiextensions.k8s.io")
            return False
        raise explain(exc, f"read CRD {name}", cluster) from None


def _existing_networks(cluster: Cluster, topology: Topology, ipam: str) -> list[str]:
    """The NADs (and, with Spiderpool, the pools of each family) the run's pods attach to exist; how they differ
    from the topology is the ``networks.declared`` check's, not a reason to stop."""
    missing = []
    pools = existing.list_pools(cluster) if ipam == "spiderpool" else []
    for network in topology.networks:
        stored = existing.read(cluster, network, ipam, pools)
        if stored.nad is None:
            missing.append(f"NAD {network.ref} of the topology does not exist; create it, fix networks[].name/"
                           f"namespace, or run with --networks create")
        missing += [f"SpiderIPPool {name} (the IPv{topology.pool(name).family} pool of network {network.ref}) does "
                    f"not exist; create it, fix the topology's pool name, or run with --networks create"
                    for name, pool in stored.pools.items() if pool is None]
    return sorted(set(missing))


def _isolation(cluster: Cluster, ds) -> multus_config.Isolation:
    """Multus' namespace isolation, from its DaemonSet's flags or a config in a ConfigMap it mounts."""
    if ds is None:
        return multus_config.Isolation()
    namespace, spec = ds.metadata.namespace, ds.spec.template.spec
    for container in spec.containers or []:
        found = multus_config.from_args([*(container.command or []), *(container.args or [])],
                                        f"flags of {namespace}/{ds.metadata.name}")
        if found:
            return found
    for volume in spec.volumes or []:
        if volume.config_map is None:
            continue
        name = volume.config_map.name
        config_map = call(cluster, f"read ConfigMap {namespace}/{name} (Multus' configuration)",
                          lambda: cluster.core.read_namespaced_config_map(name, namespace))
        for key, text in (config_map.data or {}).items():
            found = multus_config.from_config_text(text, f"ConfigMap {namespace}/{name} {key}")
            if found:
                return found
    return multus_config.Isolation()


def _multus_daemonset(cluster: Cluster):
    """The first DaemonSet whose name contains 'multus', or None."""
    sets = call(cluster, "list daemonsets (to find Multus)", cluster.apps.list_daemon_set_for_all_namespaces).items
    return next((d for d in sets if "multus" in d.metadata.name), None)


def _multus_ready(ds, report: PreflightReport) -> list[str]:
    if ds is None:
        return ["no Multus daemonset found (a daemonset whose name contains 'multus'): install Multus"]
    image = ds.spec.template.spec.containers[0].image
    report.multus = f"{ds.metadata.namespace}/{ds.metadata.name} ({image})"
    report.cni_version, report.cni_version_reason = netconf.cni_version_for_multus(image)
    desired, ready = ds.status.desired_number_scheduled or 0, ds.status.number_ready or 0
    if desired == 0 or ready < desired:
        return [f"Multus daemonset {ds.metadata.namespace}/{ds.metadata.name} is not ready ({ready}/{desired} pods); "
                f"check `kubectl -n {ds.metadata.namespace} get pods` for its failing pods"]
    return []


def _nodes_exist(cluster: Cluster, topology: Topology, report: PreflightReport) -> list[str]:
    nodes = {n.metadata.name: n for n in call(cluster, "list nodes", cluster.core.list_node).items}
    problems = []
    for node in topology.nodes:
        found = nodes.get(node.name)
        if found is None:
            problems.append(f"node {node.name} of the topology does not exist; the cluster has: "
                            f"{', '.join(sorted(nodes)) or 'no nodes'} (fix nodes[].name)")
            continue
        info = found.status.node_info
        report.node_info[node.name] = {"kernel": info.kernel_version, "os": info.os_image,
                                       "kubelet": info.kubelet_version, "runtime": info.container_runtime_version}
        ready = next((c.status for c in found.status.conditions or [] if c.type == "Ready"), "Unknown")
        if ready != "True":
            problems.append(f"node {node.name} is not Ready ({ready})")
    return problems


def _pool_capacity(topology: Topology) -> list[str]:
    wanted = existing.pool_usage(topology)
    return [f"IP pool {name} has {len(topology.pool(name).addresses)} addresses for {count} pod interfaces; "
            f"widen its ips" for name, count in wanted.items() if count > len(topology.pool(name).addresses)]


def _host_masters(cluster: Cluster, topology: Topology, report: PreflightReport) -> list[str]:
    """With kubernetes-nmstate installed: each node's bond and masters, judged by ``hostlinks``."""
    problems = []
    for node in topology.nodes:
        try:
            nns = cluster.custom.get_cluster_custom_object("nmstate.io", "v1beta1", "nodenetworkstates", node.name)
        except ApiException as exc:
            problems.append(f"NodeNetworkState of {node.name}: {api_message(exc)}")
            continue
        links = hostlinks.from_nmstate(nns.get("status", {}).get("currentState", {}).get("interfaces", []))
        report.host_links[node.name] = links
        found, notes = hostlinks.host_problems(node, links)
        problems += found
        report.host_notes += notes
    return problems
