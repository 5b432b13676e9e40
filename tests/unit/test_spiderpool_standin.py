"""The Spiderpool stand-in: pool selection, CNI results and SpiderIPPool allocation against fakes.

Upstream is github.com/spidernet-io/spiderpool; each test names the file and function it follows.
No network, no root: the API objects are in-memory fakes passed in.
"""

import copy
import io
import json
import os
import subprocess
from datetime import datetime, timezone

import pytest
from kubernetes.client import V1Namespace, V1ObjectMeta, V1Pod, V1PodSpec, V1PodStatus
from kubernetes.client.exceptions import ApiException

from macvlan_conformance.spiderpool_standin import allocation, plugin, selection
from macvlan_conformance.spiderpool_standin.allocation import Allocation, AllocationError, Owner, PoolExhausted
from macvlan_conformance.spiderpool_standin.selection import SelectionError, select_pools

NAMED = '[{"interface":"eth0","ipv4":["v200"]},{"interface":"net1","ipv4":["v100"],"cleangateway":true}]'


def pool(name, ips, subnet="10.6.0.0/24", gateway="10.6.0.1", **spec):
    return {"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderIPPool",
            "metadata": {"name": name, "resourceVersion": "1"},
            "spec": {"subnet": subnet, "ips": ips, **({"gateway": gateway} if gateway else {}), **spec}}


class FakeCustomObjects:
    """The CustomObjectsApi calls the stand-in makes, with resourceVersion checks (409 on a stale write)."""

    def __init__(self, *pools, interfere=0, writer=None):
        self.pools = {p["metadata"]["name"]: copy.deepcopy(p) for p in pools}
        self.interfere, self.writer, self.writes = interfere, writer, []

    def get_cluster_custom_object(self, group, version, plural, name):
        assert (group, version, plural) == ("spiderpool.spidernet.io", "v2beta1", "spiderippools")
        if name not in self.pools:
            raise ApiException(status=404, reason="Not Found") from None
        return copy.deepcopy(self.pools[name])

    def list_cluster_custom_object(self, group, version, plural):
        return {"items": [copy.deepcopy(p) for p in self.pools.values()]}

    def replace_cluster_custom_object_status(self, group, version, plural, name, body):
        stored = self.pools[name]
        if self.interfere:  # another agent writes first: our resourceVersion is stale now
            self.interfere -= 1
            self.writer(stored)
            stored["metadata"]["resourceVersion"] = str(int(stored["metadata"]["resourceVersion"]) + 1)
        if body["metadata"]["resourceVersion"] != stored["metadata"]["resourceVersion"]:
            raise ApiException(status=409, reason="Conflict")
        self.writes.append(copy.deepcopy(body))
        stored["status"] = copy.deepcopy(body["status"])
        stored["metadata"]["resourceVersion"] = str(int(stored["metadata"]["resourceVersion"]) + 1)
        return copy.deepcopy(stored)

    def recs(self, name):
        return json.loads(self.pools[name].get("status", {}).get("allocatedIPs") or "{}")


def owner(interface="net1", container_id="c1", uid="u1", namespace="ns", name="p"):
    return Owner(namespace, name, uid, interface, container_id, node="w1")


# --- selection -----------------------------------------------------------------------------------

def test_ippools_named_entry_for_the_nic():
    """pkg/ipam/pool_selections.go getPoolFromPodAnnoPools: the entry whose "interface" is CNI_IFNAME,
    with that entry's "cleangateway" (types.AnnoIPPoolItem)."""
    sel = select_pools("net1", ["eth0", "net1"], {selection.IPPOOLS: NAMED}, ipam_conf={"clean_gateway": False})
    assert (sel.ipv4, sel.ipv6, sel.clean_gateway) == (("v100",), (), True)
    assert select_pools("eth0", ["eth0", "net1"], {selection.IPPOOLS: NAMED}, ipam_conf={}).clean_gateway is False


@pytest.mark.parametrize("value, message", [
    (NAMED, "interface net2 must be specified"),
    ('[{"interface":"eth0","ipv4":["a"]},{"ipv4":["b"]}]', "NIC should be either all specified or all unspecified"),
    ('[{"interface":"net2","ipv4":["a"]},{"interface":"net2","ipv4":["b"]}]', "duplicate interface net2"),
    ("[]", "value requires at least one item"),
    ("[{", "invalid format of Pod annotation 'ipam.spidernet.io/ippools'"),
])
def test_ippools_errors(value, message):
    """pkg/ipam/utils.go validateAndMutateMultipleNICAnnotations: the errors Spiderpool gives, prefixed
    "wrong input, invalid format of Pod annotation 'ipam.spidernet.io/ippools'" (getPoolFromPodAnnoPools)."""
    with pytest.raises(SelectionError, match=message) as err:
        select_pools("net2", ["eth0", "net1", "net2"], {selection.IPPOOLS: value}, ipam_conf={})
    assert selection.IPPOOLS in str(err.value)


def test_ippools_unnamed_entries_by_nic_index():
    """pkg/ipam/utils.go validateAndMutateMultipleNICAnnotations names unnamed entries "0", "1", ...;
    allocate.go allocateInStandardMode renames "0" to eth0, workloadendpoint_manager.go
    UpdateAllocationNICName binds the next entry to each later NIC: entry i serves the i-th NIC."""
    value = '[{"ipv4":["a"]},{"ipv4":["b"],"cleangateway":true}]'
    order = ["eth0", "net1", "net2"]
    assert select_pools("eth0", order, {selection.IPPOOLS: value}, ipam_conf={}).ipv4 == ("a",)
    sel = select_pools("net1", order, {selection.IPPOOLS: value}, ipam_conf={})
    assert (sel.ipv4, sel.clean_gateway) == (("b",), True)
    with pytest.raises(SelectionError, match="no entry for NIC net2"):
        select_pools("net2", order, {selection.IPPOOLS: value}, ipam_conf={})


def test_nic_order_follows_the_multus_annotation():
    """pkg/ipam/allocate.go selectByPod: eth0 first, then k8s.v1.cni.cncf.io/networks with
    InterfaceRequest or fmt.Sprintf("net%d", idx+1)."""
    ann = {"k8s.v1.cni.cncf.io/networks": "ns/a, b@data0, c"}
    assert selection.nic_order(ann, "ns") == ["eth0", "net1", "data0", "net3"]
    assert selection.nic_order({}, "ns") == ["eth0"]


def test_ippools_wins_over_ippool_and_ippool_serves_every_nic():
    """pkg/ipam/pool_selections.go getPoolCandidates: "ippools" is read before "ippool"; getPoolFromPodAnnoPool
    uses the current NIC and the IPAM config's clean_gateway (cmd_types.go IPAMConfig.CleanGateway)."""
    both = {selection.IPPOOLS: NAMED, selection.IPPOOL: '{"ipv4":["single"]}'}
    assert select_pools("eth0", ["eth0"], both, ipam_conf={}).ipv4 == ("v200",)
    for nic in ("eth0", "net1", "net7"):
        sel = select_pools(nic, ["eth0"], {selection.IPPOOL: '{"ipv4":["s4"],"ipv6":["s6"]}'},
                           ipam_conf={"clean_gateway": True})
        assert (sel.nic, sel.ipv4, sel.ipv6, sel.clean_gateway) == (nic, ("s4",), ("s6",), True)


def test_default_rules_in_upstream_order():
    """pkg/ipam/pool_selections.go getPoolCandidates: Namespace annotations (getPoolFromNS), then the IPAM
    config's default_ipv4_ippool (getPoolFromNetConf), then spec.default pools (getClusterDefaultPools)."""
    ns = {selection.NS_DEFAULT_V4: '["ns-pool"]'}
    conf = {"default_ipv4_ippool": ["conf-pool"]}
    defaults = lambda: [("d4", 4), ("d6", 6)]  # noqa: E731
    assert select_pools("net1", [], {}, ipam_conf=conf, namespace_annotations=lambda: ns).ipv4 == ("ns-pool",)
    assert select_pools("net1", [], {}, ipam_conf=conf, namespace_annotations=dict).ipv4 == ("conf-pool",)
    sel = select_pools("net1", [], {}, ipam_conf={}, cluster_default_pools=defaults)
    assert (sel.ipv4, sel.ipv6) == (("d4",), ("d6",))
    with pytest.raises(SelectionError, match="no pool selection rules of any type are specified"):
        select_pools("net1", [], {}, ipam_conf={})


def test_later_rules_are_not_read_when_the_pod_selects():
    """pkg/ipam/pool_selections.go getPoolCandidates returns at the first rule that applies."""
    def boom():
        raise AssertionError("read")
    select_pools("eth0", ["eth0"], {selection.IPPOOL: '{"ipv4":["a"]}'}, ipam_conf={},
                 namespace_annotations=boom, cluster_default_pools=boom)


@pytest.mark.parametrize("ann, message", [
    ({selection.IPPOOL: '{"ipv4":["a","a"]}'}, "duplicate IPPool a specified for NIC eth0"),
    ({selection.IPPOOL: '{"ipv4":[]}'}, "no Interface eth0 IP allocation found"),
    ({selection.IPPOOL: '{"ipv4":["pool-*"]}'}, "wildcard pool name"),
    ({"ipam.spidernet.io/subnets": "[]"}, "SpiderSubnet auto pools"),
])
def test_bad_pool_lists(ann, message):
    """pkg/ipam/allocate.go precheckPoolCandidates (duplicates); cmd/spiderpool/cmd/command_add.go
    assembleResult (no IP for the NIC); wildcards and SpiderSubnet are stand-in limits."""
    with pytest.raises(SelectionError, match=message):
        select_pools("eth0", ["eth0"], ann, ipam_conf={})


def test_custom_routes_annotation():
    """pkg/ipam/utils.go getCustomRoutes: a list of {"dst", "gw"} of one IP family each."""
    ann = {selection.ROUTES: '[{"dst":"10.0.0.0/16","gw":"10.6.0.254"}]'}
    assert selection.custom_routes(ann) == [("10.0.0.0/16", "10.6.0.254")]
    with pytest.raises(SelectionError, match="mixes IPv4 and IPv6"):
        selection.custom_routes({selection.ROUTES: '[{"dst":"10.0.0.0/16","gw":"fd00::1"}]'})


# --- results -------------------------------------------------------------------------------------

V4 = Allocation("v100", 4, "10.100.0.100/24", "10.100.0.1", ())


def test_result_1_0_0_default_route_via_gateway():
    """pkg/utils/convert/convert.go ConvertResultsToIPConfigsAndAllRoutes + genDefaultRoute; command_add.go
    assembleResult: address with the pool subnet's prefix, the gateway, no interfaces."""
    assert plugin.build_result("1.0.0", [V4], clean_gateway=False) == {
        "cniVersion": "1.0.0", "ips": [{"address": "10.100.0.100/24", "gateway": "10.100.0.1"}],
        "routes": [{"dst": "0.0.0.0/0", "gw": "10.100.0.1"}], "dns": {}}


@pytest.mark.parametrize("version", ["0.3.0", "0.3.1", "0.4.0"])
def test_result_legacy_versions_carry_ip_version(version):
    """libcni types/040 IPConfig has "version"; types.PrintResult converts the 1.0.0 result down."""
    result = plugin.build_result(version, [V4], clean_gateway=False)
    assert result["ips"] == [{"version": "4", "address": "10.100.0.100/24", "gateway": "10.100.0.1"}]
    assert result["cniVersion"] == version and "interfaces" not in result


def test_cleangateway_keeps_the_gateway_but_no_default_route():
    """pkg/utils/convert/convert.go ConvertResultsToIPConfigsAndAllRoutes: `if r.CleanGateway { continue }`
    skips only the default route; GenIPConfigResult still sets the IP's gateway."""
    result = plugin.build_result("1.0.0", [V4], clean_gateway=True)
    assert result["ips"][0]["gateway"] == "10.100.0.1" and "routes" not in result


def test_pool_and_custom_routes_and_ipv6_default():
    """convert.go ConvertSpecRoutesToOAIRoutes (spec.routes) and utils.go groupCustomRoutes (a custom route
    goes to the NIC whose subnet holds its gateway); genDefaultRoute gives ::/0 for an IPv6 gateway."""
    v4 = Allocation("a", 4, "10.6.0.5/24", None, (("172.16.0.0/16", "10.6.0.254"),))
    v6 = Allocation("b", 6, "fd00::5/64", "fd00::1", ())
    custom = [("10.9.0.1/16", "10.6.0.253"), ("192.168.0.0/24", "192.168.7.1")]
    result = plugin.build_result("1.0.0", [v4, v6], clean_gateway=False, routes=custom)
    assert result["ips"] == [{"address": "10.6.0.5/24"}, {"address": "fd00::5/64", "gateway": "fd00::1"}]
    assert result["routes"] == [{"dst": "172.16.0.0/16", "gw": "10.6.0.254"},
                                {"dst": "10.9.0.0/16", "gw": "10.6.0.253"}, {"dst": "::/0", "gw": "fd00::1"}]


# --- allocation ----------------------------------------------------------------------------------

def test_lowest_free_address_and_the_status_format():
    """pkg/ippoolmanager/ippool_manager.go genRandomIP (first free of spec.ips - excludeIPs - allocated;
    ip.FindAvailableIPs) and AllocateIP (status update with the read resourceVersion); v2beta1
    PoolIPAllocation {"pod", "podUid"} in status.allocatedIPs, allocatedIPCount."""
    api = FakeCustomObjects(pool("v6", ["10.6.0.100-10.6.0.103", "10.6.0.90"], excludeIPs=["10.6.0.90-10.6.0.100"]))
    got = allocation.allocate(api, ["v6"], 4, owner())
    assert got == Allocation("v6", 4, "10.6.0.101/24", "10.6.0.1", ())
    status = api.pools["v6"]["status"]
    assert json.loads(status["allocatedIPs"]) == {"10.6.0.101": {"pod": "ns/p", "podUid": "u1", "interface": "net1",
                                                                 "containerID": "c1"}}
    assert (status["allocatedIPCount"], status["totalIPCount"]) == (1, 3)
    assert api.writes[0]["metadata"]["resourceVersion"] == "1"


def test_idempotent_per_container_and_interface():
    """ippool_manager.go genRandomIP returns the pod's recorded IP; allocate.go retrieveExistingIPAllocation
    returns the pod UID's allocation for the NIC (the stand-in keys records by NIC as well)."""
    api = FakeCustomObjects(pool("v6", ["10.6.0.100-10.6.0.110"]))
    first = allocation.allocate(api, ["v6"], 4, owner())
    assert allocation.allocate(api, ["v6"], 4, owner()) == first and len(api.writes) == 1
    assert allocation.allocate(api, ["v6"], 4, owner("net2")).address == "10.6.0.101/24"
    again = allocation.allocate(api, ["v6"], 4, owner(container_id="c2"))  # new sandbox, same pod UID
    assert again == first and api.recs("v6")["10.6.0.100"]["containerID"] == "c2"


def test_conflict_is_retried_on_a_fresh_read():
    """ippool_manager.go AllocateIP: retry.RetryOnConflictWithContext re-reads the pool on 409."""
    def other_agent(stored):
        stored["status"] = {"allocatedIPs": json.dumps({"10.6.0.100": {"pod": "ns/q", "podUid": "u9"}}),
                            "allocatedIPCount": 1}
    api = FakeCustomObjects(pool("v6", ["10.6.0.100-10.6.0.110"]), interfere=1, writer=other_agent)
    assert allocation.allocate(api, ["v6"], 4, owner()).address == "10.6.0.101/24"
    assert sorted(api.recs("v6")) == ["10.6.0.100", "10.6.0.101"]
    assert api.pools["v6"]["status"]["allocatedIPCount"] == 2


def test_conflicts_without_end_exhaust_the_retries():
    """pkg/utils/retry DefaultRetry: 5 steps, then constant.ErrRetriesExhausted."""
    api = FakeCustomObjects(pool("v6", ["10.6.0.100"]), interfere=99, writer=lambda stored: None)
    with pytest.raises(AllocationError, match=r"exhaust all retries \(5 times\).*IPPool v6"):
        allocation.allocate(api, ["v6"], 4, owner())
    assert api.interfere == 99 - allocation.RETRIES


def test_exhaustion_falls_through_to_the_next_pool_then_fails():
    """pkg/ipam/allocate.go allocateIPFromCandidate: pools are tried in order; all failing gives
    "failed to allocate any IPv4 IP address to NIC ... from IPPools ...: all IP addresses used out"."""
    api = FakeCustomObjects(pool("full", ["10.6.0.100"]), pool("spare", ["10.6.0.200"]))
    allocation.allocate(api, ["full"], 4, owner("net9", "c9", "u9"))
    assert allocation.allocate(api, ["full", "spare"], 4, owner()).pool == "spare"
    with pytest.raises(PoolExhausted, match=r"from IPPools \['full', 'spare'\]: all IP addresses used out in "
                                            r"IPPool full \(1 of 1 allocated\)"):
        allocation.allocate(api, ["full", "spare"], 4, owner("net1", "c3", "u3"))


def test_pool_filters_and_missing_pool():
    """pkg/ipam/allocate.go selectByPod / filterPoolCandidates ("no IPPool available, all IPv4 IPPools ...
    filtered out"); precheckPoolCandidates ("failed to get original IPPool")."""
    api = FakeCustomObjects(pool("off", ["10.6.0.100"], disable=True), pool("v6only", ["fd00::5"], subnet="fd00::/64",
                                                                            gateway=None),
                            pool("elsewhere", ["10.6.0.101"], nodeName=["w2"]), pool("ok", ["10.6.0.102"]))
    with pytest.raises(AllocationError, match=r"all IPv4 IPPools \['off', 'v6only', 'elsewhere'\] of net1 filtered "
                                              r"out: \['disabled IPPool off', 'expect an IPv4 IPPool, but the version "
                                              r"of the IPPool v6only is IPv6', 'unmatched Node name of IPPool "):
        allocation.allocate(api, ["off", "v6only", "elsewhere"], 4, owner())
    assert allocation.allocate(api, ["off", "ok"], 4, owner()).pool == "ok"
    with pytest.raises(AllocationError, match="failed to get original IPPool nope: 404 Not Found"):
        allocation.allocate(api, ["nope"], 4, owner())


def test_release_by_container_and_interface_is_idempotent():
    """ippool_manager.go ReleaseIP removes records and rewrites allocatedIPCount; DEL twice is fine."""
    api = FakeCustomObjects(pool("a", ["10.6.0.100-10.6.0.110"]), pool("b", ["10.6.1.100"], subnet="10.6.1.0/24"))
    allocation.allocate(api, ["a"], 4, owner("eth0"))
    allocation.allocate(api, ["b"], 4, owner("net1"))
    assert allocation.release(api, "c1", "net1") == [("b", "10.6.1.100")]
    assert "allocatedIPs" not in api.pools["b"]["status"] and api.pools["b"]["status"]["allocatedIPCount"] == 0
    assert list(api.recs("a")) == ["10.6.0.100"]
    assert allocation.release(api, "c1", "net1") == [] and allocation.release(api, "never", "eth0") == []


# --- the plugin end to end (fake API objects in place of the kubeconfig's clients) --------------

class FakeCore:
    def __init__(self, annotations, deleted=False):
        meta = V1ObjectMeta(name="p", namespace="ns", uid="u1", annotations=annotations,
                            deletion_timestamp=datetime.now(timezone.utc) if deleted else None)
        self.pod = V1Pod(metadata=meta, spec=V1PodSpec(containers=[], node_name="w1"),
                         status=V1PodStatus(phase="Running"))

    def read_namespaced_pod(self, name, namespace):
        if (namespace, name) != ("ns", "p"):
            raise ApiException(status=404, reason="Not Found")
        return self.pod

    def read_namespace(self, name):
        return V1Namespace(metadata=V1ObjectMeta(name=name, annotations={}))


def run(command, ifname="net1", version="1.0.0", cid="c1", ipam=None, **extra):
    env = {"CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_NETNS": "/var/run/netns/x", "CNI_IFNAME": ifname,
           "CNI_PATH": "/opt/cni/bin", "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p;K8S_POD_UID=u1",
           **extra}
    conf = {"cniVersion": version, "name": "vlan100", "type": "macvlan", "ipam": ipam or {"type": "spiderpool"}}
    out = io.StringIO()
    status = plugin.main(env, io.BytesIO(json.dumps(conf).encode()), out)
    return status, (json.loads(out.getvalue()) if out.getvalue() else None)


@pytest.fixture
def cluster(monkeypatch):
    api = FakeCustomObjects(pool("v100", ["10.100.0.100-10.100.0.199"], subnet="10.100.0.0/24", gateway="10.100.0.1"),
                            pool("v200", ["10.200.0.100-10.200.0.199"], subnet="10.200.0.0/24", gateway="10.200.0.1"))
    core = FakeCore({selection.IPPOOLS: NAMED, "k8s.v1.cni.cncf.io/networks": "ns/vlan100"})
    monkeypatch.setattr(plugin, "clients", lambda env: (core, api))
    return core, api


def test_add_del_through_main(cluster):
    """cmd/spiderpool/cmd/command_add.go CmdAdd prints the result; command_delete.go CmdDel releases."""
    core, api = cluster
    assert run("ADD", version="0.4.0") == (0, {"cniVersion": "0.4.0", "dns": {}, "ips": [
        {"version": "4", "address": "10.100.0.100/24", "gateway": "10.100.0.1"}]})  # cleangateway: no route
    assert run("ADD", ifname="eth0")[1]["routes"] == [{"dst": "0.0.0.0/0", "gw": "10.200.0.1"}]
    assert run("DEL") == (0, None) and run("DEL") == (0, None)
    assert api.recs("v100") == {} and list(api.recs("v200")) == ["10.200.0.100"]


def test_add_errors_name_the_annotation_and_the_nic(cluster):
    """CNI spec error result; upstream wraps agent errors in ErrPostIPAM with code 999 (skel ErrInternal)."""
    status, error = run("ADD", ifname="net2")
    assert status == 1 and error["code"] == 999 and error["cniVersion"] == "1.0.0"
    assert error["msg"].startswith("spiderpool IP allocation error: wrong input, invalid format of Pod annotation "
                                   "'ipam.spidernet.io/ippools': interface net2 must be specified")


def test_dead_pod_is_refused(cluster, monkeypatch):
    """pkg/ipam/allocate.go Allocate: podmanager.IsPodAlive false -> "dead Pod ..."."""
    monkeypatch.setattr(plugin, "clients", lambda env: (FakeCore({}, deleted=True), cluster[1]))
    assert "dead Pod ns/p" in run("ADD")[1]["msg"]


def test_version_check_and_config_errors(cluster):
    """cmd/spiderpool/main.go: PluginSupports(0.3.0, 0.3.1, 0.4.0, 1.0.0); skel's version/CHECK rules."""
    assert run("VERSION") == (0, {"cniVersion": "1.0.0", "supportedVersions": ["0.3.0", "0.3.1", "0.4.0", "1.0.0"]})
    assert run("ADD", version="0.2.0")[1]["code"] == 1
    assert run("CHECK", version="0.3.1")[1]["msg"] == "config version does not allow CHECK"
    assert run("CHECK") == (0, None)
    assert run("ADD", CNI_IFNAME="")[1] == {"cniVersion": "1.0.0", "code": 4,
                                            "msg": "required env variables [CNI_IFNAME] missing"}


def test_missing_kubeconfig_is_an_error_naming_the_variable():
    status, error = run("ADD")
    assert status == 1 and plugin.KUBECONFIG_ENV in error["msg"]


def test_install_plugin_wrapper_runs_from_any_cwd(tmp_path):
    """libcni execs "<CNI_PATH>/spiderpool"; the wrapper must run the installed package from anywhere."""
    path = plugin.install_plugin(tmp_path / "bin")
    assert path == tmp_path / "bin" / "spiderpool" and oct(path.stat().st_mode & 0o777) == "0o755"
    assert path.read_text().startswith("#!/bin/sh\nexec /")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CNI_COMMAND": "VERSION"}
    proc = subprocess.run([str(path)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["supportedVersions"] == list(plugin.SUPPORTED_VERSIONS)
    proc = subprocess.run([str(path)], cwd="/", env={**env, "CNI_COMMAND": "ADD"}, input="{}",
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and json.loads(proc.stdout)["code"] == 4


def test_unexpected_failures_are_cni_errors(monkeypatch):
    """CNI spec: a failing plugin prints an error object and exits 1, whatever broke."""
    def unreachable(env):
        raise ConnectionRefusedError("connection refused")
    monkeypatch.setattr(plugin, "clients", unreachable)
    status, error = run("DEL")
    assert status == 1 and error["code"] == 999 and "ConnectionRefusedError" in error["msg"]


def test_dual_stack_add_from_the_rendered_pools_and_nad_defaults(monkeypatch):
    """A pod naming no pool gets the NAD's default pool of each family (pkg/ipam/pool_selections.go
    getPoolFromNetConf: default_ipv4_ippool, default_ipv6_ippool), an address of each, and a default route per
    family via its pool's gateway (pkg/utils/convert/convert.go genDefaultRoute: 0.0.0.0/0 and ::/0); the
    pools are the cluster renderer's, one without ``ipVersion`` (the webhook derives it from the subnet:
    pkg/ippoolmanager/ippool_mutate.go mutateIPPool); ``clean_gateway`` drops both routes."""
    from macvlan_conformance.cluster.manifests import ippool_spec
    from macvlan_conformance.controlplane.bootstrap import installed_ipam
    from macvlan_conformance.topology import load_topology
    from ..conftest import TOPOLOGIES
    topology = load_topology(TOPOLOGIES / "dual-stack.yaml")
    specs = {p.name: ippool_spec(p) for p in topology.ippools}
    del specs["vlan100-v6"]["ipVersion"]
    api = FakeCustomObjects(*(pool(name, spec["ips"], **{k: v for k, v in spec.items() if k != "ips"})
                              for name, spec in specs.items()))
    monkeypatch.setattr(plugin, "clients", lambda env: (FakeCore({}), api))
    network = topology.network("kube-system/macvlan-standalone-vlan100")
    status, result = run("ADD", ifname="eth0", ipam=installed_ipam(network, topology))
    assert status == 0, result
    assert result["ips"] == [{"address": "10.100.0.100/24", "gateway": "10.100.0.1"},
                             {"address": "fd00:100::100/64", "gateway": "fd00:100::1"}]
    assert result["routes"] == [{"dst": "0.0.0.0/0", "gw": "10.100.0.1"}, {"dst": "::/0", "gw": "fd00:100::1"}]
    assert list(api.recs("vlan100-v6")) == ["fd00:100::100"]
    overlay = topology.network("kube-system/macvlan-overlay-vlan100")
    status, result = run("ADD", ifname="net1", cid="c2", ipam=installed_ipam(overlay, topology))
    assert status == 0 and "routes" not in result and [ip["address"] for ip in result["ips"]] == \
        ["10.100.0.101/24", "fd00:100::101/64"]
