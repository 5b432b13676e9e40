"""The in-cluster runner's objects (``render --runner``) validate against the Kubernetes 1.37 schemas,
strictly; they grant exactly a run's RBAC, fit together (names, mounts), and are never what ``cluster
cleanup`` selects. The Sonobuoy plugin definition has the fields Sonobuoy reads
(vmware-tanzu/sonobuoy ``pkg/plugin/manifest/manifest.go``)."""

import io
import re
from contextlib import redirect_stdout

import kubernetes_validate
import pytest
import yaml

from macvlan_conformance import cli
from macvlan_conformance.cluster import cleanup
from macvlan_conformance.cluster.rbac import RULES
from macvlan_conformance.cluster.scope import MANAGED_BY, MANAGER, RUN_LABEL, RunScope
from macvlan_conformance.runner import manifests, sonobuoy
from macvlan_conformance.runner.manifests import RunnerSettings
from macvlan_conformance.topology import parse_topology

from ..conftest import ROOT, TOPOLOGIES
from .test_manifests import K8S_VERSION, TOPOLOGY_NAMES

VARIANTS = {"default": RunnerSettings(),
            "existing-namespace": RunnerSettings(namespace="team-net", existing_namespace=True, reports_pvc="nightly"),
            "cronjob": RunnerSettings(schedule="0 2 * * *",
                                      suite_args=("--probe-image", "reg/probe:1", "--host-probe"))}
# sonobuoy-config's fields and the definition's top-level fields (their JSON tags in manifest.go)
SONOBUOY_CONFIG_FIELDS = {"driver", "plugin-name", "skip-cleanup", "result-format", "result-files", "description",
                          "source-url", "order"}
DEFINITION_FIELDS = {"sonobuoy-config", "spec", "extra-volumes", "podSpec", "config-map"}


def render(name="minimal", settings=RunnerSettings()) -> list[dict]:
    return manifests.render((TOPOLOGIES / f"{name}.yaml").read_text(), settings)


def matches(selector: str, labels: dict) -> bool:
    """A Kubernetes label selector of equality (``k=v``) and existence (``k``) terms."""
    for term in selector.split(","):
        key, eq, value = term.partition("=")
        if (labels.get(key) != value) if eq else (key not in labels):
            return False
    return True


@pytest.mark.parametrize("name", TOPOLOGY_NAMES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_runner_object_validates_strictly(name, variant):
    objects = render(name, VARIANTS[variant])
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    kinds = [o["kind"] for o in objects]
    settings = VARIANTS[variant]
    assert ("Namespace" in kinds) != settings.existing_namespace
    assert ("PersistentVolumeClaim" in kinds) == (settings.reports_pvc is None)
    assert ("CronJob" in kinds) == (settings.schedule is not None) != ("Job" in kinds)


def test_a_schema_violation_in_the_job_is_caught():
    """Control: the validator rejects a misplaced field."""
    job = next(o for o in render() if o["kind"] == "Job")
    job["spec"]["template"]["spec"]["containers"][0]["serviceAccountName"] = "x"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, K8S_VERSION, strict=True)


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_objects_fit_together_and_grant_exactly_a_runs_rbac(variant):
    settings = VARIANTS[variant]
    by_kind = {o["kind"]: o for o in render("reference", settings)}
    assert by_kind["ClusterRole"]["rules"] == RULES
    binding = by_kind["ClusterRoleBinding"]
    assert binding["roleRef"]["name"] == by_kind["ClusterRole"]["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": manifests.SERVICE_ACCOUNT,
                                    "namespace": settings.namespace}]
    assert {o["kind"] for o in by_kind.values() if o["kind"] in ("Role", "RoleBinding")} == set()
    workload = by_kind.get("Job") or by_kind["CronJob"]
    job = workload["spec"] if "template" in workload["spec"] else workload["spec"]["jobTemplate"]["spec"]
    pod = job["template"]["spec"]
    assert pod["serviceAccountName"] == by_kind["ServiceAccount"]["metadata"]["name"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["topology"]["configMap"]["name"] == by_kind["ConfigMap"]["metadata"]["name"]
    assert volumes["reports"]["persistentVolumeClaim"]["claimName"] == (
        settings.reports_pvc or by_kind["PersistentVolumeClaim"]["metadata"]["name"])
    container = pod["containers"][0]
    assert container["args"][-len(settings.suite_args):] == list(settings.suite_args) if settings.suite_args else \
        "--" not in container["args"]
    assert {o["metadata"].get("namespace", settings.namespace) for o in by_kind.values()
            if o["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding")} == {settings.namespace}


def test_the_topology_travels_unchanged():
    text = (TOPOLOGIES / "reference.yaml").read_text()
    config_map = next(o for o in render("reference") if o["kind"] == "ConfigMap")
    assert config_map["data"][manifests.TOPOLOGY_KEY] == text
    assert parse_topology(yaml.safe_load(config_map["data"][manifests.TOPOLOGY_KEY]), "cm").name == "reference"


def test_cluster_cleanup_selects_run_objects_but_never_the_runners():
    scope = RunScope("t1234567")
    run_labels = scope.labels
    assert matches(cleanup.selector(), run_labels) and matches(cleanup.selector(scope.run_id), run_labels)
    for obj in render("reference"):
        labels = obj["metadata"]["labels"]
        assert labels[MANAGED_BY] == MANAGER and labels["app.kubernetes.io/component"] == "runner"
        assert RUN_LABEL not in labels and not matches(cleanup.selector(), labels)


def test_the_runner_pod_fits_the_restricted_pod_security_level():
    pod = next(o for o in render() if o["kind"] == "Job")["spec"]["template"]["spec"]
    container = pod["containers"][0]["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"]
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert container["allowPrivilegeEscalation"] is False and container["capabilities"] == {"drop": ["ALL"]}
    assert "hostNetwork" not in pod and pod["terminationGracePeriodSeconds"] >= 150  # time to remove its run


@pytest.mark.parametrize("bad, field", [
    ({"namespace": "Bad_NS"}, "--namespace"), ({"schedule": "nightly"}, "--schedule"),
    ({"schedule": "0 2 * *"}, "--schedule"), ({"reports_pvc": "A"}, "--reports-pvc"), ({"image": "a b"}, "--image")])
def test_bad_settings_are_refused_naming_the_option(bad, field):
    with pytest.raises(ValueError, match=re.escape(field)):
        RunnerSettings(**bad)


def test_the_sonobuoy_plugin_has_the_fields_sonobuoy_reads():
    text = (TOPOLOGIES / "minimal.yaml").read_text()
    definition = sonobuoy.plugin(text, "reg/runner:1", ["--probe-image", "reg/probe:1"])
    assert set(definition) <= DEFINITION_FIELDS and set(definition["sonobuoy-config"]) <= SONOBUOY_CONFIG_FIELDS
    config = definition["sonobuoy-config"]
    assert config["driver"] == "Job" and config["result-format"] == "junit" and config["result-files"] == ["junit.xml"]
    assert manifests.DNS_LABEL.match(config["plugin-name"])
    spec = definition["spec"]
    assert spec["name"] and spec["image"] == "reg/runner:1"
    assert {"name": "results", "mountPath": sonobuoy.DEFAULT_RESULTS_DIR} in spec["volumeMounts"]
    assert spec["command"][spec["command"].index("--topology") + 1] == f"{sonobuoy.CONFIG_DIR}/{manifests.TOPOLOGY_KEY}"
    assert "--sonobuoy" in spec["command"] and spec["command"][-2:] == ["--probe-image", "reg/probe:1"]
    assert definition["config-map"] == {manifests.TOPOLOGY_KEY: text}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "plugin"},  # the container as Sonobuoy runs it
           "spec": {"containers": [spec], "volumes": [{"name": "results", "emptyDir": {}}]}}
    kubernetes_validate.validate(pod, K8S_VERSION, strict=True)


def _render(*argv) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = cli.main(["render", *argv])
    return code, out.getvalue()


def test_render_prints_the_runner_and_the_plugin_as_separate_documents():
    code, text = _render("--runner", "--topology", "minimal", "--schedule", "@daily", "--ipam", "whereabouts")
    objects = list(yaml.safe_load_all(text))
    assert code == 0 and [o["kind"] for o in objects][-1] == "CronJob"
    args = objects[-1]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--") + 1:] == ["--probe-image", cli.manifests_default_image(), "--ipam", "whereabouts"]
    assert "topology.yaml: |" in text  # the topology as a literal block, readable in review
    code, text = _render("--sonobuoy-plugin", "--topology", "minimal", "--image", "reg/runner:2")
    definition = yaml.safe_load(text)
    assert code == 0 and definition["spec"]["image"] == "reg/runner:2" and "kind" not in definition


@pytest.mark.parametrize("argv, message", [
    (["--schedule", "@daily"], "--schedule only applies with --runner"),
    (["--sonobuoy-plugin", "--namespace", "x"], "--namespace applies to --runner only"),
    (["--runner", "--sonobuoy-plugin"], "--runner does not combine"),
    (["--runner", "--host-config"], "--host-config does not combine"),
])
def test_render_refuses_runner_options_out_of_place(argv, message, capsys):
    assert _render(*argv)[0] == 2
    assert message in capsys.readouterr().err


def test_the_readmes_reports_reader_pod_validates():
    text = (ROOT / "README.md").read_text()
    block = text[text.index("(`reports-reader.yaml`):"):].split("```yaml\n", 1)[1].split("```", 1)[0]
    pod = yaml.safe_load(block)
    kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
    assert pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == manifests.REPORTS_PVC
