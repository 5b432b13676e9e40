"""One run's footprint on a cluster: its namespace, its labels, and the topology moved into them.

A live cluster already has the seed's ``kube-system/macvlan-standalone-vlan0`` and its IP pools, so a run
never creates objects under the topology's own names. Every namespaced object (NADs, pods) goes into one
run namespace; cluster-scoped IP pools get ``mc-<run id>-`` as a name prefix; pod annotations are rewritten to
match. :func:`scoped_topology` does that on the model, so expectations (network-status names, pools) and
manifests agree by construction.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass

from .. import annotations as ann
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
        if not RUN_ID_RE.match(self.run_id):
            raise ValueError(f"run id {self.run_id!r} must be 1-16 lowercase letters or digits")
        if not PREFIX_RE.match(self.prefix):
            raise ValueError(f"namespace prefix {self.prefix!r} must be 1-30 lowercase letters, digits or '-', "
                             f"starting and ending with a letter or digit")

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


def _rewrite_networks(value: str, namespace: str) -> str:
    """``k8s.v1.cni.cncf.io/networks`` with every reference moved into ``namespace`` (form kept: text or JSON)."""
    if value.strip().startswith("["):
        entries = json.loads(value)
        for entry in entries:
            entry["namespace"] = namespace
        return json.dumps(entries, separators=(",", ":"))
    refs = []
    for item in (part.strip() for part in value.split(",") if part.strip()):
        ref, at, ifname = item.partition("@")
        refs.append(f"{namespace}/{ref.rpartition('/')[2]}{at}{ifname}")
    return ",".join(refs)


def _rewrite_pools(value: str, scope: RunScope) -> str:
    data = json.loads(value)
    for entry in data if isinstance(data, list) else [data]:
        for family in ("ipv4", "ipv6"):
            if family in entry:
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


def scoped_topology(topology: Topology, scope: RunScope) -> Topology:
    """The same network with its NADs and pods in the run namespace and its pools prefixed."""
    data = topology.model_dump(mode="json", by_alias=True, exclude_none=True)
    for pool in data["ippools"]:
        pool["name"] = scope.pool(pool["name"])
    for network in data["networks"]:
        network["namespace"] = scope.namespace
        network["ippool"] = scope.pool(network["ippool"])
    for pod in data["pods"]:
        pod["namespace"] = scope.namespace
        pod["annotations"] = scoped_annotations(pod.get("annotations", {}), scope)
    return parse_topology(data, source=f"{topology.name} (run {scope.run_id})")
