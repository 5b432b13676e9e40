"""Make a fresh control plane look like an installed cluster for the topology: the real CRDs (NAD and
Spiderpool), the RBAC of Multus, of the IPAM stand-in and of a run's user, and the topology's networks
where an installed cluster has them (its NetworkAttachmentDefinitions in their namespaces, its
SpiderIPPools). Every object created here carries ``LAB_LABEL`` (the lab's mark).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import yaml
from kubernetes import client

from .. import netconf
from ..cluster import manifests
from ..cluster.rbac import RULES
from .processes import SERVICE_CIDR
from ..topology import Topology
from .cluster import IPAM_USER, MULTUS_USER, RUN_USER
from .processes import ControlPlaneError

CRDS = Path(__file__).resolve().parent.parent / "crds"
LAB_LABEL = "macvlan-conformance.io/lab"
MULTUS_DAEMONSET = "kube-multus-ds"

# What a run needs, derived from the calls the cluster code makes (``cluster.rbac``): the kube lab's
# restricted kubeconfig has exactly this, as the in-cluster runner's ClusterRole does.
RUN_RULES = RULES
# Multus' ClusterRole (multus-cni deployments/multus-daemonset.yml, thin plugin).
MULTUS_RULES = [
    {"apiGroups": ["k8s.cni.cncf.io"], "resources": ["*"], "verbs": ["*"]},
    {"apiGroups": [""], "resources": ["pods", "pods/status"], "verbs": ["get", "update"]},
    {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch", "update"]},
]
# The Spiderpool IPAM stand-in: reads pods (and their namespace's default pools), allocates in the pools' status.
IPAM_RULES = [
    {"apiGroups": [""], "resources": ["pods", "namespaces"], "verbs": ["get"]},
    {"apiGroups": ["spiderpool.spidernet.io"], "resources": ["spiderippools"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["spiderpool.spidernet.io"], "resources": ["spiderippools/status"],
     "verbs": ["get", "update", "patch"]},
]


def install_crds(api: client.ApiClient, timeout: float = 60.0) -> list[str]:
    """Create the real CRDs and wait until each is Established."""
    ext = client.ApiextensionsV1Api(api)
    names = []
    for path in sorted(CRDS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        crd.setdefault("metadata", {}).setdefault("labels", {})[LAB_LABEL] = "crd"
        ext.create_custom_resource_definition(crd)
        names.append(crd["metadata"]["name"])
    deadline = time.monotonic() + timeout
    for name in names:
        while not _established(ext.read_custom_resource_definition(name)):
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"CRD {name} not Established after {timeout:.0f} s")
            time.sleep(0.1)
    return names


def _established(crd) -> bool:
    return any(c.type == "Established" and c.status == "True" for c in (crd.status.conditions or []))


def grant(api: client.ApiClient, user: str, rules: list[dict]) -> None:
    """A ClusterRole ``<user>`` with ``rules``, bound to ``user`` cluster-wide."""
    rbac = client.RbacAuthorizationV1Api(api)
    meta = {"name": user, "labels": {LAB_LABEL: "rbac"}}
    rbac.create_cluster_role({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                              "metadata": meta, "rules": rules})
    rbac.create_cluster_role_binding({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": user},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]})


def grant_all(api: client.ApiClient) -> None:
    grant(api, RUN_USER, RUN_RULES)
    grant(api, MULTUS_USER, MULTUS_RULES)
    grant(api, IPAM_USER, IPAM_RULES)


def install_networks(api: client.ApiClient, topology: Topology) -> None:
    """The topology's NADs in their namespaces and its SpiderIPPools, as an installed cluster has them."""
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    for namespace in sorted({n.namespace for n in topology.networks} - {"default", "kube-system"}):
        core.create_namespace({"metadata": {"name": namespace, "labels": {LAB_LABEL: "network"}}})
    for pool in topology.ippools:
        obj = {"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderIPPool",
               "metadata": {"name": pool.name, "labels": {LAB_LABEL: "network"}}, "spec": manifests.ippool_spec(pool)}
        custom.create_cluster_custom_object("spiderpool.spidernet.io", "v2beta1", "spiderippools", obj)
    for network in topology.networks:
        config = netconf.macvlan_conflist(network, installed_ipam(network, topology),
                                          cluster_cidrs=netconf.cluster_cidrs(topology, SERVICE_CIDR))
        obj = {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
               "metadata": {"name": network.name, "namespace": network.namespace, "labels": {LAB_LABEL: "network"},
                            "annotations": {manifests.NETWORK_TYPE_ANNOTATION: f"macvlan-{network.type}"}},
               "spec": {"config": json.dumps(config, indent=2)}}
        custom.create_namespaced_custom_object("k8s.cni.cncf.io", "v1", network.namespace,
                                               "network-attachment-definitions", obj)


def installed_ipam(network, topology: Topology) -> dict:
    """A network's IPAM as Spiderpool renders it into the NAD from a SpiderMultusConfig: the network's pool of
    each family as ``default_ipv4_ippool`` / ``default_ipv6_ippool`` (spidernet-io/spiderpool
    ``pkg/ipam/pool_selections.go`` reads them when the pod names no pool) and its ``clean_gateway``
    (``Network.clean_gateway``: by default on macvlan-overlay networks, so that the overlay's eth0 keeps the
    pod's only default route)."""
    ipam = netconf.spiderpool_ipam()
    for pool in manifests.network_pools(network, topology):
        ipam[f"default_ipv{pool.family}_ippool"] = [pool.name]
    if network.clean_gateway:
        ipam["clean_gateway"] = True
    return ipam


def record_multus(api: client.ApiClient, nodes: int, version: str) -> None:
    """Multus runs as a binary the node agents call (no container runtime here), not as DaemonSet pods.
    A stand-in DaemonSet object records it the way clusters show it, its status set to the node agents
    that run it (no DaemonSet controller runs in the lab)."""
    apps = client.AppsV1Api(api)
    labels = {"app": "multus", LAB_LABEL: "multus"}
    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet",
          "metadata": {"name": MULTUS_DAEMONSET, "namespace": "kube-system", "labels": labels,
                       "annotations": {"macvlan-conformance.io/stand-in":
                                       "Multus runs as the thin plugin binary called by the lab's node agents"}},
          "spec": {"selector": {"matchLabels": {"app": "multus"}},
                   "template": {"metadata": {"labels": {"app": "multus"}},
                                "spec": {"containers": [{"name": "kube-multus",
                                                         "image": f"multus-cni:{version} (node agent)"}]}}}}
    apps.create_namespaced_daemon_set("kube-system", ds)
    status = {"currentNumberScheduled": nodes, "desiredNumberScheduled": nodes, "numberReady": nodes,
              "numberAvailable": nodes, "numberMisscheduled": 0, "updatedNumberScheduled": nodes}
    apps.patch_namespaced_daemon_set_status(MULTUS_DAEMONSET, "kube-system", {"status": status})
