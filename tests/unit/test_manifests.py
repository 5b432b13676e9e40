"""Rendered cluster manifests validate against the real schemas: Kubernetes core objects with
kubernetes-validate (strict), NADs and Spiderpool objects against the openAPIV3Schema of the real CRDs in
``macvlan_conformance/crds``, and the Multus annotations against the NPWG network-selection format."""

import json

import jsonschema
import kubernetes_validate
import pytest
import yaml

from macvlan_conformance import annotations as ann
from macvlan_conformance import netconf
from macvlan_conformance.cluster import manifests
from macvlan_conformance.cluster.scope import RUN_LABEL, RunScope, scoped_topology
from macvlan_conformance.topology import load_topology, resolve_attachments

from ..conftest import ROOT, TOPOLOGIES

CRDS = ROOT / "macvlan_conformance" / "crds"  # copies of ../shared/crds (see its README)
DATA = ROOT / "tests" / "data"
K8S_VERSION = "1.37.0"
SCOPE = RunScope("t1234567")
TOPOLOGY_NAMES = ["reference", "minimal", "scale", "dual-stack", "ipv6-only"]


def crd_schema(kind: str, version: str) -> dict:
    for path in CRDS.glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        if crd["spec"]["names"]["kind"] == kind:
            return next(v for v in crd["spec"]["versions"] if v["name"] == version)["schema"]["openAPIV3Schema"]
    raise LookupError(f"no CRD of kind {kind} in {CRDS}")


def strict(schema: dict) -> dict:
    """The CRD schema as the API server applies it: unknown fields are errors (structural pruning would
    drop them silently; for us that is a rendering bug)."""
    if isinstance(schema, dict):
        schema = {k: strict(v) for k, v in schema.items()}
        if schema.get("type") == "object" and "properties" in schema and "x-kubernetes-preserve-unknown-fields" not in schema:
            schema.setdefault("additionalProperties", False)
    elif isinstance(schema, list):
        schema = [strict(v) for v in schema]
    return schema


def validate_custom(obj: dict) -> None:
    group_version = obj["apiVersion"]
    schema = strict(crd_schema(obj["kind"], group_version.split("/")[1]))
    schema["properties"]["metadata"] = {"type": "object"}  # metadata is validated by the API server itself
    jsonschema.validate(obj, schema)


def rendered(name: str, **options) -> list[dict]:
    topology = load_topology(TOPOLOGIES / f"{name}.yaml")
    return manifests.render(scoped_topology(topology, SCOPE), SCOPE, **options)


@pytest.mark.parametrize("name", TOPOLOGY_NAMES)
@pytest.mark.parametrize("ipam", manifests.IPAM_KINDS)
def test_every_rendered_object_validates(name, ipam):
    """Every object validates against the real schemas; an IPAM that cannot address the topology soundly
    (``manifests.ipam_problems``) is refused by name instead of rendered."""
    problems = manifests.ipam_problems(load_topology(TOPOLOGIES / f"{name}.yaml"), ipam)
    if problems:
        with pytest.raises(ValueError, match=f"--ipam {ipam}: network "):
            rendered(name, ipam=ipam)
        return
    objects = rendered(name, ipam=ipam)
    kinds = {o["kind"] for o in objects}
    assert {"Namespace", "NetworkAttachmentDefinition", "Pod"} <= kinds
    assert ("SpiderIPPool" in kinds) == (ipam == "spiderpool")
    for obj in objects:
        if obj["kind"] in ("Namespace", "Pod"):
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        else:
            validate_custom(obj)
        assert obj["metadata"]["labels"][RUN_LABEL] == SCOPE.run_id


def test_spider_multus_configs_validate():
    configs = [o for o in rendered("reference", multus_configs=True) if o["kind"] == "SpiderMultusConfig"]
    assert len(configs) == 6
    for obj in configs:
        validate_custom(obj)
    by_name = {o["metadata"]["name"]: o["spec"]["macvlan"] for o in configs}
    assert by_name["macvlan-standalone-vlan100"]["vlanID"] == 100
    assert "vlanID" not in by_name["macvlan-standalone-vlan0"]  # native VLAN: the bond itself
    # enableCoordinator defaults to true in the CRD: written false where the topology declares no coordinator
    assert all(o["spec"]["enableCoordinator"] is False for o in configs)


def test_spider_multus_configs_carry_the_coordinator_spec():
    configs = {o["metadata"]["name"]: o for o in rendered("coordinator", multus_configs=True)
               if o["kind"] == "SpiderMultusConfig"}
    for obj in configs.values():
        validate_custom(obj)  # against the SpiderMultusConfig CRD's coordinator schema
    spec = configs["macvlan-standalone-vlan100"]["spec"]
    assert spec["enableCoordinator"] is True
    assert spec["coordinator"] == {"mode": "underlay", "tunePodRoutes": True, "hostRuleTable": 500}
    assert configs["macvlan-overlay-vlan200"]["spec"]["coordinator"]["mode"] == "overlay"


def test_a_schema_violation_is_caught():
    """Control: the validators reject what the API server would reject."""
    pool = next(o for o in rendered("reference") if o["kind"] == "SpiderIPPool")
    pool["spec"]["vlan"] = 100  # exists in v2beta1's predecessors, not in v2beta1
    with pytest.raises(jsonschema.ValidationError, match="vlan"):
        validate_custom(pool)
    pod = next(o for o in rendered("reference") if o["kind"] == "Pod")
    pod["spec"]["containers"][0]["capabilities"] = ["NET_RAW"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pod, K8S_VERSION, strict=True)


@pytest.mark.parametrize("name", TOPOLOGY_NAMES)
def test_annotations_follow_the_npwg_and_spiderpool_formats(name):
    selection_schema = json.loads((DATA / "npwg-network-selection.schema.json").read_text())
    for pod in (o for o in rendered(name) if o["kind"] == "Pod"):
        annotations = pod["metadata"]["annotations"]
        value = annotations.get(ann.NETWORKS, "")
        if value.startswith("["):
            jsonschema.validate(json.loads(value), selection_schema)
        for selection in ann.parse_networks(value, SCOPE.namespace):
            assert selection.namespace == SCOPE.namespace
        if ann.DEFAULT_NETWORK in annotations:
            assert annotations[ann.DEFAULT_NETWORK].startswith(SCOPE.namespace + "/")
        for entry in json.loads(annotations.get(ann.IPPOOLS, "[]")):
            assert {"interface", "cleangateway"} < set(entry) <= {"interface", "ipv4", "ipv6", "cleangateway"}
            assert all(entry[f][0].startswith(f"mc-{SCOPE.run_id}-") for f in ("ipv4", "ipv6") if f in entry)
            # Spiderpool gives every NIC a default route unless cleangateway (spidernet-io/spiderpool
            # cmd/spiderpool/cmd/command_add.go, pkg/utils/convert/convert.go): only the default NIC keeps it
            assert entry["cleangateway"] == (entry["interface"] != "eth0" or ann.DEFAULT_NETWORK not in annotations)


@pytest.mark.parametrize("name", ["reference", "dual-stack", "ipv6-only"])
def test_scoped_pods_attach_exactly_as_the_topology_says(name):
    topology = load_topology(TOPOLOGIES / f"{name}.yaml")
    scoped = scoped_topology(topology, SCOPE)
    for pod in topology.pods:
        original = resolve_attachments(topology, pod)
        moved = resolve_attachments(scoped, scoped.pod(pod.name))
        assert [(a.ifname, a.network and a.network.name, [p.name for p in a.pools], a.vlan and a.vlan.id)
                for a in original] == \
               [(a.ifname, a.network and a.network.name, [p.name.removeprefix(f"mc-{SCOPE.run_id}-") for p in a.pools],
                 a.vlan and a.vlan.id) for a in moved]
        assert all(a.network is None or a.network.namespace == SCOPE.namespace for a in moved)
    assert [n.pool_names for n in scoped.networks] == \
        [tuple(SCOPE.pool(p) for p in n.pool_names) for n in topology.networks]


def test_probe_pods_ask_only_for_what_the_agent_needs():
    for pod in (o for o in rendered("reference") if o["kind"] == "Pod"):
        spec = pod["spec"]
        assert "hostNetwork" not in spec and spec["nodeName"] in ("worker1", "worker2")
        capabilities = spec["containers"][0]["securityContext"]["capabilities"]
        assert capabilities == {"drop": ["ALL"], "add": ["NET_RAW", "NET_ADMIN"]}
        assert "privileged" not in spec["containers"][0]["securityContext"]


def test_host_config_builds_the_bond_and_its_vlans():
    policies = manifests.host_config(load_topology(TOPOLOGIES / "reference.yaml"))
    assert [p["spec"]["nodeSelector"]["kubernetes.io/hostname"] for p in policies] == ["worker1", "worker2"]
    interfaces = {i["name"]: i for i in policies[0]["spec"]["desiredState"]["interfaces"]}
    assert interfaces["bond0"]["link-aggregation"] == {"mode": "active-backup", "port": ["ens224", "ens256"],
                                                       "options": {"miimon": "100"}}
    assert interfaces["bond0.100"]["vlan"] == {"base-iface": "bond0", "id": 100}
    assert interfaces["bond0.200"]["vlan"] == {"base-iface": "bond0", "id": 200}
    assert interfaces["bond0"]["ipv4"]["address"] == [{"ip": "10.6.0.11", "prefix-length": 24}]


def test_bad_run_scope_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="1-16 lowercase letters or digits"):
        RunScope("Run_1")
    with pytest.raises(ValueError, match="namespace prefix"):
        RunScope("abc", prefix="-bad")


def test_cli_render_prints_valid_yaml(capsys):
    from macvlan_conformance.cli import main
    assert main(["render", "--topology", "minimal", "--run-id", "abc"]) == 0
    objects = list(yaml.safe_load_all(capsys.readouterr().out))
    assert objects[0] == manifests.namespace(RunScope("abc"))


@pytest.mark.parametrize("image, version", [
    ("ghcr.io/k8snetworkplumbingwg/multus-cni:v4.2.3-thick", "1.0.0"),
    ("ghcr.io/k8snetworkplumbingwg/multus-cni:v4.0.2", "1.0.0"),
    ("ghcr.io/k8snetworkplumbingwg/multus-cni:v3.9.3", "0.4.0"),
    ("docker.io/nfvpe/multus:v3.4", "0.4.0"),
    ("registry:5000/multus-cni:stable", "0.4.0"),
    ("ghcr.io/k8snetworkplumbingwg/multus-cni@sha256:" + "0" * 64, "0.4.0"),
])
def test_cni_version_follows_the_multus_version(image, version):
    """Multus 3.x vendors libcni v0.8.1 (configs up to 0.4.0); CNI 1.0.0 came with Multus 4.0
    (k8snetworkplumbingwg/multus-cni PR #879, maintainer's answer). The NADs declare what the cluster's
    Multus runs; an unversioned tag gets 0.4.0, which both major versions run."""
    chosen, reason = netconf.cni_version_for_multus(image)
    assert chosen == version and reason
    topology = load_topology(TOPOLOGIES / "reference.yaml")
    objects = manifests.render(scoped_topology(topology, SCOPE), SCOPE, cni_version=chosen)
    nads = [o for o in objects if o["kind"] == "NetworkAttachmentDefinition"]
    assert nads and all(json.loads(o["spec"]["config"])["cniVersion"] == version for o in nads)


def test_ipam_soundness_follows_the_plugins():
    """host-local allocates from a per-node store (containernetworking/plugins plugins/ipam/host-local/
    backend/disk): a network with pods on two nodes is refused. whereabouts is cluster-wide, but returns only
    the routes of its config (k8snetworkplumbingwg/whereabouts pkg/types/types.go IPAMConfig.Routes), so
    its NAD carries the default route exactly when the network's NICs do, and a network whose NICs differ
    (one NAD for all pods) is refused."""
    minimal = load_topology(TOPOLOGIES / "minimal.yaml")
    assert manifests.ipam_problems(minimal, "host-local") == []
    reference = load_topology(TOPOLOGIES / "reference.yaml")
    assert any("allocates per node" in p for p in manifests.ipam_problems(reference, "host-local"))
    assert manifests.ipam_problems(reference, "spiderpool") == []
    for network in minimal.networks:
        ipam = manifests.nad_config(network, minimal, "whereabouts")["plugins"][0]["ipam"]
        pool = minimal.pool(network.ippool)
        routes = [{"dst": "0.0.0.0/0", "gw": str(pool.gateway)}] if not network.clean_gateway else None
        assert ipam.get("routes") == routes, network.name


# --- dual stack ----------------------------------------------------------------------------------
FAMILY_KEYS = {4: "ipv4", 6: "ipv6"}


@pytest.mark.parametrize("name, families", [("dual-stack", (4, 6)), ("ipv6-only", (6,))])
def test_pools_carry_the_ip_version_of_their_subnet(name, families):
    """SpiderIPPool v2beta1 ``spec.ipVersion`` (enum 4, 6 in the CRD) is the subnet's family, as Spiderpool's
    mutating webhook derives it (spidernet-io/spiderpool pkg/ippoolmanager/ippool_mutate.go, mutateIPPool);
    ``ips`` and ``excludeIPs`` are 'start-end' ranges of that family."""
    pools = [o for o in rendered(name) if o["kind"] == "SpiderIPPool"]
    assert sorted({o["spec"]["ipVersion"] for o in pools}) == list(families)
    for obj in pools:
        validate_custom(obj)
        spec = obj["spec"]
        assert (":" in spec["subnet"]) == (spec["ipVersion"] == 6)
        assert all((":" in item) == (spec["ipVersion"] == 6) for item in spec["ips"] + spec.get("excludeIPs", []))
    v6 = next(o["spec"] for o in pools if o["metadata"]["name"] == SCOPE.pool("vlan100-v6"))
    assert v6 == {"ipVersion": 6, "subnet": "fd00:100::/64", "ips": ["fd00:100::100-fd00:100::1ff"],
                  "excludeIPs": ["fd00:100::150"], "gateway": "fd00:100::1"}


@pytest.mark.parametrize("name", ["dual-stack", "ipv6-only"])
def test_spider_multus_configs_list_the_pools_per_family(name):
    """SpiderMultusConfig ``spec.macvlan.ippools`` has an ``ipv4`` and an ``ipv6`` list (the CRD's
    SpiderpoolPools), which Spiderpool writes into the NAD as ``default_ipv4_ippool`` / ``default_ipv6_ippool``
    (spidernet-io/spiderpool pkg/multuscniconfig/multusconfig_informer.go generateMacvlanCNIConf)."""
    topology = scoped_topology(load_topology(TOPOLOGIES / f"{name}.yaml"), SCOPE)
    configs = {o["metadata"]["name"]: o for o in manifests.render(topology, SCOPE, multus_configs=True)
               if o["kind"] == "SpiderMultusConfig"}
    for network in topology.networks:
        validate_custom(configs[network.name])
        by_family = {FAMILY_KEYS[topology.pool(p).family]: [p] for p in network.pool_names}
        assert configs[network.name]["spec"]["macvlan"]["ippools"] == by_family
    lists = configs["macvlan-standalone-vlan100"]["spec"]["macvlan"]["ippools"]
    assert lists == ({"ipv4": [SCOPE.pool("vlan100-v4")], "ipv6": [SCOPE.pool("vlan100-v6")]} if name == "dual-stack"
                     else {"ipv6": [SCOPE.pool("vlan100-v6")]})


@pytest.mark.parametrize("name", ["dual-stack", "ipv6-only"])
def test_pod_annotations_name_a_pool_of_each_family_the_nic_has(name):
    """``ipam.spidernet.io/ippools`` entries carry ``ipv4`` and/or ``ipv6`` lists (spidernet-io/spiderpool
    pkg/types/k8s.go AnnoIPPoolItem); every NIC lists the run's pool of each family it has, no other."""
    topology = scoped_topology(load_topology(TOPOLOGIES / f"{name}.yaml"), SCOPE)
    pods = {o["metadata"]["name"]: o for o in manifests.render(topology, SCOPE) if o["kind"] == "Pod"}
    for pod in topology.pods:
        entries = json.loads(pods[pod.name]["metadata"]["annotations"].get(ann.IPPOOLS, "[]"))
        nics = [a for a in topology.attachments(pod.name) if a.pools]
        assert [e["interface"] for e in entries] == [a.ifname for a in nics]
        for entry, att in zip(entries, nics):
            assert {k: v for k, v in entry.items() if k in FAMILY_KEYS.values()} == \
                {FAMILY_KEYS[p.family]: [p.name] for p in att.pools}
    dual = json.loads(pods["sa-w2-dual"]["metadata"]["annotations"][ann.IPPOOLS])
    expected_v6 = [SCOPE.pool("vlan200-v6"), SCOPE.pool("vlan100-v6")]
    assert [e["ipv6"] for e in dual] == [[p] for p in expected_v6]
    assert [("ipv4" in e) for e in dual] == [name == "dual-stack"] * 2


def test_ippool_annotations_of_both_families_get_the_run_prefix():
    """The ``ippool`` form (one object) and the ``ippools`` form (a list): both families' lists renamed."""
    from macvlan_conformance.cluster.scope import scoped_annotations
    moved = scoped_annotations({ann.IPPOOL: '{"ipv4":["a"],"ipv6":["b","c"]}',
                                ann.IPPOOLS: '[{"interface":"eth0","ipv6":["b"],"cleangateway":true}]'}, SCOPE)
    assert json.loads(moved[ann.IPPOOL]) == {"ipv4": [SCOPE.pool("a")], "ipv6": [SCOPE.pool("b"), SCOPE.pool("c")]}
    assert json.loads(moved[ann.IPPOOLS]) == [{"interface": "eth0", "ipv6": [SCOPE.pool("b")], "cleangateway": True}]


def test_community_ipam_gives_each_family_its_range_and_default_route():
    """host-local takes one range set per family and a route without ``gw`` uses its family's gateway
    (containernetworking/plugins pkg/ipam/ipam_linux.go ConfigureIface); whereabouts takes several ranges as
    ``ipRanges`` and puts its one ``gateway`` on every address (k8snetworkplumbingwg/whereabouts pkg/types/
    types.go IPAMConfig, cmd/whereabouts.go cmdAdd), so a dual-stack NAD routes each family via its ``gw``;
    an IPv6 exclusion is a /128."""
    topology = load_topology(TOPOLOGIES / "dual-stack.yaml")
    network = topology.network("kube-system/macvlan-standalone-vlan100")
    host_local = manifests.nad_config(network, topology, "host-local")["plugins"][0]["ipam"]
    assert [{r["subnet"] for r in ranges} for ranges in host_local["ranges"]] == [{"10.100.0.0/24"}, {"fd00:100::/64"}]
    assert host_local["routes"] == [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}]
    whereabouts = manifests.nad_config(network, topology, "whereabouts")["plugins"][0]["ipam"]
    assert "gateway" not in whereabouts and "range" not in whereabouts
    assert whereabouts["ipRanges"][1] == {"range": "fd00:100::/64", "range_start": "fd00:100::100",
                                          "range_end": "fd00:100::1ff", "exclude": ["fd00:100::150/128"]}
    assert whereabouts["routes"] == [{"dst": "0.0.0.0/0", "gw": "10.100.0.1"}, {"dst": "::/0", "gw": "fd00:100::1"}]
    overlay = topology.network("kube-system/macvlan-overlay-vlan100")  # cleans the gateway: no route of either
    assert "routes" not in manifests.nad_config(overlay, topology, "whereabouts")["plugins"][0]["ipam"]
    v6 = load_topology(TOPOLOGIES / "ipv6-only.yaml")
    single = manifests.nad_config(v6.network(network.ref), v6, "whereabouts")["plugins"][0]["ipam"]
    assert (single["range"], single["gateway"], single["routes"]) == \
        ("fd00:100::/64", "fd00:100::1", [{"dst": "::/0", "gw": "fd00:100::1"}])
