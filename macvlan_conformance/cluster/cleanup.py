"""Remove what runs left on a cluster, by label only: namespaces (their pods and NADs go with them) and
the cluster-scoped SpiderIPPools. Objects without our labels are never touched, and neither are ours that
belong to no run (the in-cluster runner's namespace: managed-by, but no run label)."""

from __future__ import annotations

import time

from kubernetes.client.exceptions import ApiException

from .kube import Cluster, call
from .scope import MANAGED_BY, MANAGER, RUN_LABEL


def selector(run_id: str | None = None) -> str:
    """Every run of ours (managed by us and carrying a run label), or one run."""
    return f"{RUN_LABEL}={run_id}" if run_id else f"{MANAGED_BY}={MANAGER},{RUN_LABEL}"


def cleanup(cluster: Cluster, run_id: str | None = None, wait: float = 120.0) -> dict[str, list[str]]:
    """Delete the labelled namespaces and IP pools; returns the names it asked the API to delete, and under
    ``terminating`` the namespaces still being deleted after ``wait`` seconds (the namespace controller
    deletes their pods first, and each kubelet tears its pods' sandboxes down before they go)."""
    label = selector(run_id)
    namespaces = [n.metadata.name for n in
                  call(cluster, "list namespaces", cluster.core.list_namespace, label_selector=label).items]
    for name in namespaces:
        try:
            cluster.core.delete_namespace(name, propagation_policy="Background")
        except ApiException as exc:
            if exc.status != 404:
                call(cluster, f"delete namespace {name}", _raise, exc)
    pools = []
    try:
        listed = cluster.custom.list_cluster_custom_object("spiderpool.spidernet.io", "v2beta1", "spiderippools",
                                                           label_selector=label)
        pools = [p["metadata"]["name"] for p in listed.get("items", [])]
    except ApiException as exc:
        if exc.status != 404:  # 404: Spiderpool is not installed, so there are no pools of ours
            call(cluster, "list SpiderIPPools", _raise, exc)
    for name in pools:
        try:
            cluster.custom.delete_cluster_custom_object("spiderpool.spidernet.io", "v2beta1", "spiderippools", name)
        except ApiException as exc:
            if exc.status != 404:
                call(cluster, f"delete SpiderIPPool {name}", _raise, exc)
    return {"namespaces": namespaces, "spiderippools": pools,
            "terminating": _wait_gone(cluster, set(namespaces), label, wait)}


def _wait_gone(cluster: Cluster, namespaces: set[str], label: str, wait: float) -> list[str]:
    deadline = time.monotonic() + wait
    while True:
        left = namespaces & {n.metadata.name for n in call(cluster, "list namespaces", cluster.core.list_namespace,
                                                           label_selector=label).items}
        if not left or time.monotonic() >= deadline:
            return sorted(left)
        time.sleep(0.25)


def _raise(exc: Exception):
    raise exc
