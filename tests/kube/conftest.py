"""The kube lab for our own tests: the reference network with the real control plane (etcd, kube-apiserver,
kube-controller-manager), node agents and the real Multus, built once per session by the CLI."""

import json

import pytest
from kubernetes import client, config

from macvlan_conformance.lab.names import LabNames
from macvlan_conformance.lab.state import LabState

from ..conftest import TOPOLOGIES
from ..lab.conftest import cli, lab_name


@pytest.fixture(scope="session")
def kube_lab():
    """(lab name, LabState) of a kube lab of the reference topology; removed at the end."""
    name = lab_name("kb")
    cli("lab", "up", "--name", name, "--topology", str(TOPOLOGIES / "reference.yaml"), "--control-plane", "kube",
        timeout=600)
    yield name, LabState.load(LabNames(name).state_file)
    cli("lab", "down", "--name", name, check=False)


@pytest.fixture(scope="session")
def admin(kube_lab):
    """An ApiClient with the lab's admin credentials (system:masters)."""
    api = config.new_client_from_config(kube_lab[1].kube.admin_kubeconfig)
    yield api
    api.close()


def network_status(pod) -> list[dict]:
    return json.loads((pod.metadata.annotations or {}).get("k8s.v1.cni.cncf.io/network-status", "[]"))


def wait_pod(core: client.CoreV1Api, namespace: str, name: str, timeout: float = 60):
    """The pod once it runs with its network-status, or the pod as it is at the timeout."""
    import time
    deadline = time.monotonic() + timeout
    while True:
        pod = core.read_namespaced_pod(name, namespace)
        if pod.status.phase == "Running" and network_status(pod) or time.monotonic() > deadline:
            return pod
        time.sleep(0.2)


def pod_manifest(name: str, node: str, annotations: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "annotations": annotations, "labels": {"test": "kube-lab"}},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "probe"}]}}


def pod_netns(lab: str, namespace: str, name: str) -> str:
    return LabNames(lab).pod_ns(f"{namespace}.{name}")


