"""The in-cluster runner on the kube lab, as a pod would run it: the rendered ServiceAccount, ClusterRole and
binding applied to the real kube-apiserver, a token for the ServiceAccount from its TokenRequest API, the
lab's CA, and the entrypoint run with ``KUBERNETES_SERVICE_HOST``/``PORT`` pointing at the lab's API server,
in Sonobuoy mode, on the minimal topology (as tests/kube/test_suites_on_kube.py runs it on the shared lab).
It must pass with exactly the rendered RBAC (the real authorizer), leave Sonobuoy's layout, remove its run,
and leave the runner's own objects, which ``cluster cleanup`` does not touch either."""

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from urllib.parse import urlsplit
from xml.etree import ElementTree

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from macvlan_conformance.cluster.kube import connect
from macvlan_conformance.cluster.scope import RUN_LABEL
from macvlan_conformance.runner import credentials, manifests
from macvlan_conformance.runner.manifests import RunnerSettings

from ..conftest import TOPOLOGIES
from ..lab.conftest import cli

NAMESPACE = "mc-runner-test"
ACCESS = ("Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding")


def _create(api: client.ApiClient, obj: dict) -> None:
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    {"Namespace": lambda: core.create_namespace(obj),
     "ServiceAccount": lambda: core.create_namespaced_service_account(obj["metadata"]["namespace"], obj),
     "ClusterRole": lambda: rbac.create_cluster_role(obj),
     "ClusterRoleBinding": lambda: rbac.create_cluster_role_binding(obj)}[obj["kind"]]()


def _delete(api: client.ApiClient, obj: dict) -> None:
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    name = obj["metadata"]["name"]
    try:
        {"Namespace": lambda: core.delete_namespace(name),
         "ServiceAccount": lambda: core.delete_namespaced_service_account(name, obj["metadata"]["namespace"]),
         "ClusterRole": lambda: rbac.delete_cluster_role(name),
         "ClusterRoleBinding": lambda: rbac.delete_cluster_role_binding(name)}[obj["kind"]]()
    except ApiException as exc:
        if exc.status != 404:
            raise


def _exists(api: client.ApiClient, obj: dict) -> bool:
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    name = obj["metadata"]["name"]
    try:
        {"Namespace": lambda: core.read_namespace(name),
         "ServiceAccount": lambda: core.read_namespaced_service_account(name, obj["metadata"]["namespace"]),
         "ClusterRole": lambda: rbac.read_cluster_role(name),
         "ClusterRoleBinding": lambda: rbac.read_cluster_role_binding(name)}[obj["kind"]]()
        return True
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise


def _run_objects(api: client.ApiClient, timeout: float = 90) -> dict:
    """What carries a run label (namespaces, pools) and every pod, once the run's deletion has finished."""
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    deadline = time.monotonic() + timeout
    while True:
        left = {"namespaces": [n.metadata.name for n in core.list_namespace(label_selector=RUN_LABEL).items],
                "pools": [p["metadata"]["name"] for p in custom.list_cluster_custom_object(
                    "spiderpool.spidernet.io", "v2beta1", "spiderippools", label_selector=RUN_LABEL)["items"]],
                "pods": [p.metadata.name for p in core.list_pod_for_all_namespaces().items]}
        if not any(left.values()) or time.monotonic() > deadline:
            return left
        time.sleep(0.25)


@pytest.fixture
def runner_access(admin):
    """The rendered Namespace, ServiceAccount, ClusterRole and binding, applied; deleted at the end."""
    text = (TOPOLOGIES / "minimal.yaml").read_text()
    objects = [o for o in manifests.render(text, RunnerSettings(namespace=NAMESPACE)) if o["kind"] in ACCESS]
    try:
        for obj in objects:
            _create(admin, obj)
        yield objects
    finally:
        for obj in reversed(objects):
            _delete(admin, obj)
        core, deadline = client.CoreV1Api(admin), time.monotonic() + 60
        while any(n.metadata.name == NAMESPACE for n in core.list_namespace().items) and time.monotonic() < deadline:
            time.sleep(0.25)


def _service_account_dir(admin, state, directory: Path) -> tuple[Path, str]:
    """A directory like a pod's /var/run/secrets/kubernetes.io/serviceaccount: a TokenRequest token and the
    lab's CA."""
    token = client.CoreV1Api(admin).create_namespaced_service_account_token(
        manifests.SERVICE_ACCOUNT, NAMESPACE, {"spec": {"expirationSeconds": 3600}}).status.token
    directory.mkdir(mode=0o700)
    (directory / "token").write_text(token)
    shutil.copy(Path(state.kube.directory) / "pki" / "ca.crt", directory / "ca.crt")
    (directory / "namespace").write_text(NAMESPACE)
    return directory, token


def test_the_runner_runs_the_suites_as_its_service_account_and_leaves_only_itself(kube_lab, admin, runner_access,
                                                                               tmp_path):
    _, state = kube_lab
    account, token = _service_account_dir(admin, state, tmp_path / "serviceaccount")
    server = urlsplit(state.kube.server)
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env.update({"KUBERNETES_SERVICE_HOST": server.hostname, "KUBERNETES_SERVICE_PORT": str(server.port),
                credentials.SERVICEACCOUNT_DIR_ENV: str(account), "SONOBUOY_RESULTS_DIR": str(tmp_path / "results")})

    # the credentials are the ServiceAccount's, with exactly the rendered rules (the real authorizer)
    (tmp_path / "kc").mkdir(mode=0o700)
    cluster = connect(str(credentials.write_kubeconfig(tmp_path / "kc", env)))
    try:
        review = client.AuthenticationV1Api(cluster.api).create_self_subject_review(
            {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
        assert review.status.user_info.username == f"system:serviceaccount:{NAMESPACE}:{manifests.SERVICE_ACCOUNT}"
        with pytest.raises(ApiException) as forbidden:
            cluster.core.list_namespaced_secret("kube-system")
        assert forbidden.value.status == 403
    finally:
        cluster.close()

    proc = subprocess.run([sys.executable, "-m", "macvlan_conformance.runner", "--sonobuoy", "--topology",
                           str(TOPOLOGIES / "minimal.yaml")], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert token not in proc.stdout + proc.stderr

    results = tmp_path / "results"
    archive = Path((results / "done").read_text())
    assert archive.is_file() and archive.parent == results
    with tarfile.open(archive) as tar:
        assert {"junit.xml", "results.json", "conformance.html", "catalogue.yaml"} <= set(tar.getnames())
        junit = ElementTree.fromstring(tar.extractfile("junit.xml").read())
    assert len(list(junit.iter("testcase"))) >= 10 and not list(junit.iter("failure"))
    run = json.loads((results / "results.json").read_text())
    assert run["run"]["environment"]["cluster.context"] == credentials.CONTEXT
    assert run["summary"]["passed"] >= 10

    assert _run_objects(admin) == {"namespaces": [], "pools": [], "pods": []}  # the run removed itself
    assert all(_exists(admin, obj) for obj in runner_access)  # ... and left the runner
    cli("cluster", "cleanup", "--kubeconfig", state.kube.admin_kubeconfig)
    assert all(_exists(admin, obj) for obj in runner_access)  # cleanup removes runs, never the runner
