"""The RBAC a cluster run needs, derived from the API calls the cluster code makes, and nothing more.

``CALLS`` lists every Kubernetes client method this package calls, by module, with the permissions the
API server checks for it; ``RULES`` is their union as ClusterRole rules. ``tests/unit/test_rbac.py``
scans this package's source and fails when a call is missing here or listed but no longer made, so the
table stays next to the calls. The kube lab's run user (``controlplane.bootstrap``), the in-cluster
runner's ClusterRole (``runner.manifests``) and the README's RBAC list all come from or match ``RULES``.

The rules are cluster-wide: a run creates its namespace (``<prefix>-<run id>``, a fresh name each run),
so its pods, exec, events and NADs cannot be granted by a Role bound ahead of time.
"""

from __future__ import annotations

Permission = tuple[str, str, str]  # (API group, resource, verb)

CORE, APPS, CRDS = "", "apps", "apiextensions.k8s.io"
NADS = ("k8s.cni.cncf.io", "network-attachment-definitions")
POOLS = ("spiderpool.spidernet.io", "spiderippools")
NMSTATE = ("nmstate.io", "nodenetworkstates")

CALLS: dict[tuple[str, str], tuple[Permission, ...]] = {
    # preflight.py: GET /version is allowed to every user (ClusterRole system:public-info-viewer)
    ("preflight", "get_code"): (),
    ("preflight", "read_custom_resource_definition"): ((CRDS, "customresourcedefinitions", "get"),),
    ("preflight", "list_daemon_set_for_all_namespaces"): ((APPS, "daemonsets", "list"),),
    ("preflight", "list_node"): ((CORE, "nodes", "list"),),
    ("preflight", "get_cluster_custom_object"): ((*NMSTATE, "get"),),  # only with kubernetes-nmstate installed
    ("preflight", "read_namespaced_config_map"): ((CORE, "configmaps", "get"),),  # Multus' configuration
    # existing.py: the cluster's own NADs and SpiderIPPools that the topology names
    ("existing", "get_namespaced_custom_object"): ((*NADS, "get"),),
    ("existing", "list_cluster_custom_object"): ((*POOLS, "list"),),
    # target.py: deploy, wait (list then watch), events of pods that do not come up, attachment rules
    ("target", "create_namespace"): ((CORE, "namespaces", "create"),),
    ("target", "create_cluster_custom_object"): ((*POOLS, "create"),),
    ("target", "create_namespaced_custom_object"): ((*NADS, "create"),),
    ("target", "create_namespaced_pod"): ((CORE, "pods", "create"),),
    ("target", "list_namespaced_pod"): ((CORE, "pods", "list"), (CORE, "pods", "watch")),
    ("target", "read_namespaced_pod"): ((CORE, "pods", "get"),),
    ("target", "delete_namespaced_pod"): ((CORE, "pods", "delete"),),
    ("target", "list_namespaced_event"): ((CORE, "events", "list"),),
    ("target", "read_namespaced_service"): ((CORE, "services", "get"),),  # default/kubernetes (services.cluster-ip)
    # exec_agent.py: exec over a WebSocket is a GET, which the API server also authorizes as create from
    # Kubernetes 1.35 (AuthorizePodWebsocketUpgradeCreatePermission, kubernetes/kubernetes#134577)
    ("exec_agent", "connect_get_namespaced_pod_exec"): ((CORE, "pods/exec", "get"), (CORE, "pods/exec", "create")),
    # cleanup.py: by label; the namespace controller deletes what the namespaces hold
    ("cleanup", "list_namespace"): ((CORE, "namespaces", "list"),),
    ("cleanup", "delete_namespace"): ((CORE, "namespaces", "delete"),),
    ("cleanup", "list_cluster_custom_object"): ((*POOLS, "list"),),
    ("cleanup", "delete_cluster_custom_object"): ((*POOLS, "delete"),),
}

VERB_ORDER = ("get", "list", "watch", "create", "update", "patch", "delete")


def permissions() -> set[Permission]:
    return {p for needed in CALLS.values() for p in needed}


def rules() -> list[dict]:
    """One rule per (API group, resource), verbs in a fixed order: the ClusterRole's ``rules``."""
    verbs: dict[tuple[str, str], set[str]] = {}
    for group, resource, verb in permissions():
        verbs.setdefault((group, resource), set()).add(verb)
    return [{"apiGroups": [group], "resources": [resource], "verbs": sorted(found, key=VERB_ORDER.index)}
            for (group, resource), found in sorted(verbs.items())]


RULES = rules()
