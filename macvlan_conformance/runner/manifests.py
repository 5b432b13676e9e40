"""The in-cluster runner's objects (``render --runner``): its Namespace (unless it exists), ServiceAccount,
the ClusterRole with exactly a run's RBAC (``cluster.rbac.RULES``) and its binding, the topology as a
ConfigMap, a PersistentVolumeClaim for the reports (unless the user names one), and a Job, or with a
schedule a CronJob (one or the other: two runs at once would create overlapping IP pools).

Every object carries ``app.kubernetes.io/managed-by=macvlan-conformance`` and
``app.kubernetes.io/component=runner`` but no run label: ``cluster cleanup`` removes run objects only (it
selects the run label), never the runner. The pod runs as non-root with a read-only root filesystem,
fits the ``restricted`` Pod Security level, and gets SIGTERM time enough to remove its run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..cluster.rbac import RULES
from ..cluster.scope import MANAGED_BY, MANAGER

DEFAULT_NAMESPACE = "macvlan-conformance-runner"
DEFAULT_RUNNER_IMAGE = "ghcr.io/macvlan-conformance/runner:0.1.0"
NAME = "macvlan-conformance"
SERVICE_ACCOUNT = "macvlan-conformance-runner"
CLUSTER_ROLE = "macvlan-conformance-run"
TOPOLOGY_CONFIGMAP = "macvlan-conformance-topology"
REPORTS_PVC = "macvlan-conformance-reports"
TOPOLOGY_KEY = "topology.yaml"
TOPOLOGY_DIR = "/etc/macvlan-conformance"
REPORTS_DIR = "/reports"
RUNNER_COMMAND = ["python3", "-m", "macvlan_conformance.runner"]
LABELS = {MANAGED_BY: MANAGER, "app.kubernetes.io/name": NAME, "app.kubernetes.io/component": "runner"}
USER = 65532
CONTAINER_SECURITY = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
                      "runAsUser": USER, "runAsGroup": USER, "capabilities": {"drop": ["ALL"]},
                      "seccompProfile": {"type": "RuntimeDefault"}}
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
CRON_FIELD = re.compile(r"^[0-9A-Za-z*?/,\-]+$")
CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


@dataclass(frozen=True)
class RunnerSettings:
    namespace: str = DEFAULT_NAMESPACE
    image: str = DEFAULT_RUNNER_IMAGE
    schedule: str | None = None          # a CronJob instead of the Job
    existing_namespace: bool = False     # the namespace exists: no Namespace object
    reports_pvc: str | None = None       # an existing claim; None: render REPORTS_PVC
    suite_args: tuple[str, ...] = ()     # suite options (probe image, IPAM, ...)

    def __post_init__(self):
        if not DNS_LABEL.match(self.namespace):
            raise ValueError(f"--namespace {self.namespace!r}: a namespace is 1-63 lowercase letters, digits or '-', "
                             f"starting and ending with a letter or digit")
        if not self.image or any(c.isspace() for c in self.image):
            raise ValueError(f"--image {self.image!r}: an image reference has no whitespace")
        if self.reports_pvc is not None and not DNS_SUBDOMAIN.match(self.reports_pvc):
            raise ValueError(f"--reports-pvc {self.reports_pvc!r}: not a valid claim name (lowercase DNS subdomain)")
        if self.schedule is not None:
            fields = self.schedule.split()
            if not (fields in ([m] for m in CRON_MACROS) or (len(fields) == 5 and all(map(CRON_FIELD.match, fields)))):
                raise ValueError(f"--schedule {self.schedule!r}: give five cron fields (minute hour day month weekday, "
                                 f"e.g. '0 2 * * *') or one of {', '.join(CRON_MACROS)}")


def _meta(name: str, namespace: str | None = None) -> dict:
    return {"name": name, **({"namespace": namespace} if namespace else {}), "labels": dict(LABELS)}


def binding_name(namespace: str) -> str:
    """One ClusterRoleBinding per runner namespace (the ClusterRole is the same for all)."""
    return SERVICE_ACCOUNT if namespace == DEFAULT_NAMESPACE else f"{SERVICE_ACCOUNT}-{namespace}"


def access(settings: RunnerSettings) -> list[dict]:
    """The ServiceAccount, its ClusterRole (a run's exact RBAC) and the binding."""
    rbac = "rbac.authorization.k8s.io/v1"
    return [{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(SERVICE_ACCOUNT, settings.namespace)},
            {"apiVersion": rbac, "kind": "ClusterRole", "metadata": _meta(CLUSTER_ROLE), "rules": RULES},
            {"apiVersion": rbac, "kind": "ClusterRoleBinding", "metadata": _meta(binding_name(settings.namespace)),
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": CLUSTER_ROLE},
             "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": settings.namespace}]}]


def _pod_spec(settings: RunnerSettings) -> dict:
    args = ["--topology", f"{TOPOLOGY_DIR}/{TOPOLOGY_KEY}", "--reports", REPORTS_DIR]
    if settings.suite_args:
        args += ["--", *settings.suite_args]
    container = {"name": "runner", "image": settings.image, "imagePullPolicy": "IfNotPresent",
                 "command": RUNNER_COMMAND, "args": args,
                 "env": [{"name": "PYTHONUNBUFFERED", "value": "1"}, {"name": "HOME", "value": "/tmp"}],
                 "securityContext": CONTAINER_SECURITY,
                 "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
                 "volumeMounts": [{"name": "topology", "mountPath": TOPOLOGY_DIR, "readOnly": True},
                                  {"name": "reports", "mountPath": REPORTS_DIR},
                                  {"name": "tmp", "mountPath": "/tmp"}]}
    return {"serviceAccountName": SERVICE_ACCOUNT, "restartPolicy": "Never", "terminationGracePeriodSeconds": 180,
            "securityContext": {"runAsNonRoot": True, "runAsUser": USER, "runAsGroup": USER, "fsGroup": USER,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [container],
            "volumes": [{"name": "topology", "configMap": {"name": TOPOLOGY_CONFIGMAP}},
                        {"name": "reports",
                         "persistentVolumeClaim": {"claimName": settings.reports_pvc or REPORTS_PVC}},
                        {"name": "tmp", "emptyDir": {}}]}


def job_spec(settings: RunnerSettings) -> dict:
    """No retries: a failed conformance run is a result, not a crash to retry."""
    return {"backoffLimit": 0, "template": {"metadata": {"labels": dict(LABELS)}, "spec": _pod_spec(settings)}}


def workload(settings: RunnerSettings) -> dict:
    if settings.schedule is None:
        return {"apiVersion": "batch/v1", "kind": "Job", "metadata": _meta(NAME, settings.namespace),
                "spec": job_spec(settings)}
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": _meta(NAME, settings.namespace),
            "spec": {"schedule": settings.schedule, "concurrencyPolicy": "Forbid", "startingDeadlineSeconds": 3600,
                     "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 3,
                     "jobTemplate": {"metadata": {"labels": dict(LABELS)}, "spec": job_spec(settings)}}}


def render(topology_text: str, settings: RunnerSettings) -> list[dict]:
    """Every object of the runner, in the order ``kubectl apply -f`` needs them."""
    objects = [] if settings.existing_namespace else [
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"name": settings.namespace,
                      "labels": {**LABELS, "pod-security.kubernetes.io/enforce": "restricted"}}}]
    objects += access(settings)
    objects.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(TOPOLOGY_CONFIGMAP, settings.namespace),
                    "data": {TOPOLOGY_KEY: topology_text}})
    if settings.reports_pvc is None:
        objects.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                        "metadata": _meta(REPORTS_PVC, settings.namespace),
                        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
    objects.append(workload(settings))
    return objects
