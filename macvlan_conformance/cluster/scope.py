"""One run's footprint on a cluster: its namespace, its labels, and the topology moved into them.

By default a run tests the cluster's own networks: its pods go into one run namespace and attach to the
NADs and SpiderIPPools the topology names, where they are. A run that brings its own networks (``--networks
create``, to bootstrap a fresh cluster) never creates objects under the topology's own names: its NADs go
into the run namespace and its cluster-scoped IP pools get ``mc-<run id>-`` as a name prefix. Pod
annotations are rewritten to match. :func:`scoped_topology` does that on the model, so expectations
(network-status names, pools) and manifests agree by construction.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass

from .. import annotations as ann
from ..bounded_yaml import excerpt
from ..topology import Topology, parse_topology

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "macvlan-conformance"
RUN_LABEL = "macvlan-conformance.io/run"
POD_LABEL = "macvlan-conformance.io/pod"
PREFIX_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,28}[a-z0-9])?$")
RUN_ID_RE = re.compile(r"^[a-z0-9]{1,16}$")


@dataclass(frozen=True)
class RunScope:
    """Names and labels of one run: namespace ``<prefix>-<run_id>``."""

    run_id: str
    prefix: str = "macvlan-conformance"

    @classmethod
    def new(cls, prefix: str = "macvlan-conformance") -> RunScope:
        return cls(secrets.token_hex(4), prefix)

    def __post_init__(self):
        """Refuse names Kubernetes would refuse, naming the option that gives them (``--run-id``,
        ``--namespace-prefix``)."""
        if not RUN_ID_RE.match(self.run_id):
            raise ValueError(f"--run-id {excerpt(self.run_id)}: a run id is 1-16 lowercase letters or digits")
        if not PREFIX_RE.match(self.prefix):
            raise ValueError(f"--namespace-prefix {excerpt(self.prefix)}: a namespace prefix is 1-30 lowercase "
                             f"letters, digits or '-', starting and ending with a letter or digit")

    @property
    def namespace(self) -> str:
        return f"{self.prefix}-{self.run_id}"

    def pool(self, name: str) -> str:
        """The cluster-scoped SpiderIPPool name of topology pool ``name`` (short: pool names stay labels)."""
        return f"mc-{self.run_id}-{name}"

    @property
    def labels(self) -> dict[str, str]:
        return {MANAGED_BY: MANAGER, RUN_LABEL: self.run_id}

    @property
    def selector(self) -> str:
        return f"{RUN_LABEL}={self.run_id}"


def _rewrite_networks(value: str, namespace: str, only_bare: bool = False) -> str:
    """``k8s.v1.cni.cncf.io/networks`` with every reference moved into ``namespace`` (form kept: text or
    JSON); with ``only_bare``, only the references without a namespace (which Multus would resolve in the
    pod's namespace) get ``namespace``."""
    if value.strip().startswith("["):
        entries = json.loads(value)
        for entry in entries:
            if not (only_bare and entry.get("namespace")):
                entry["namespace"] = namespace
        return json.dumps(entries, separators=(",", ":"))
    refs = []
    for item in (part.strip() for part in value.split(",") if part.strip()):
        ref, at, ifname = item.partition("@")
        refs.append(f"{ref if only_bare and '/' in ref else namespace + '/' + ref.rpartition('/')[2]}{at}{ifname}")
    return ",".join(refs)


def _rewrite_pools(value: str, scope: RunScope) -> str:
    """An ``ipam.spidernet.io/ippool(s)`` value with the run's name of every pool of both families (``ipv4``,
    ``ipv6``); the form (one object or a list of entries) and the other keys are kept."""
    data = json.loads(value)
    for entry in data if isinstance(data, list) else [data]:
        for family in ("ipv4", "ipv6"):
            if isinstance(entry, dict) and isinstance(entry.get(family), list):
                entry[family] = [scope.pool(p) for p in entry[family]]
    return json.dumps(data, separators=(",", ":"))


def scoped_annotations(annotations: dict[str, str], scope: RunScope) -> dict[str, str]:
    """A pod's Multus/Spiderpool annotations pointing at the run's NADs and pools."""
    result = dict(annotations)
    if ann.DEFAULT_NETWORK in result:  # any form (bare, ns/name, JSON) becomes the run's ns/name
        result[ann.DEFAULT_NETWORK] = f"{scope.namespace}/{ann.parse_default_network(result[ann.DEFAULT_NETWORK]).name}"
    if ann.NETWORKS in result:
        result[ann.NETWORKS] = _rewrite_networks(result[ann.NETWORKS], scope.namespace)
    for key in (ann.IPPOOL, ann.IPPOOLS):
        if key in result:
            result[key] = _rewrite_pools(result[key], scope)
    return result


def existing_annotations(annotations: dict[str, str], pod_namespace: str) -> dict[str, str]:
    """A pod's annotations for the run namespace, still naming the topology's own NADs and pools: every
    network reference qualified as the topology meant it (a bare default network is Multus' namespace,
    kube-system; a bare extra network the pod's own namespace, ``pod_namespace``)."""
    result = dict(annotations)
    if ann.DEFAULT_NETWORK in result:
        result[ann.DEFAULT_NETWORK] = ann.parse_default_network(result[ann.DEFAULT_NETWORK]).ref
    if ann.NETWORKS in result:
        result[ann.NETWORKS] = _rewrite_networks(result[ann.NETWORKS], pod_namespace, only_bare=True)
    return result


def scoped_topology(topology: Topology, scope: RunScope, create_networks: bool = True) -> Topology:
    """The same network with its pods in the run namespace. With ``create_networks`` (a run that brings its
    own networks) its NADs move there too and its pools get the run's prefix; without, the pods use the
    cluster's NADs and pools the topology names, where they are."""
    data = topology.model_dump(mode="json", by_alias=True, exclude_none=True)
    if not create_networks:
        for pod in data["pods"]:
            pod["annotations"] = existing_annotations(pod.get("annotations", {}), pod.get("namespace", "default"))
            pod["namespace"] = scope.namespace
        return parse_topology(data, source=f"{topology.name} (run {scope.run_id})")
    for pool in data["ippools"]:
        pool["name"] = scope.pool(pool["name"])
    for network in data["networks"]:
        network["namespace"] = scope.namespace
        if "ippool" in network:
            network["ippool"] = scope.pool(network["ippool"])
        network["ippools"] = [scope.pool(name) for name in network.get("ippools", [])]
    for pod in data["pods"]:
        pod["namespace"] = scope.namespace
        pod["annotations"] = scoped_annotations(pod.get("annotations", {}), scope)
    return parse_topology(data, source=f"{topology.name} (run {scope.run_id})")
