"""CNI configurations and Multus' network-status construction, from known inputs."""

from macvlan_conformance import netconf
from macvlan_conformance.lab import multus
from macvlan_conformance.lab.ippool import PoolAllocator
from macvlan_conformance.topology import load_topology

from ..conftest import TOPOLOGIES

REF = load_topology(TOPOLOGIES / "reference.yaml")


def test_pool_ranges_split_at_exclusions():
    ranges = netconf.pool_ranges(REF.pool("vlan100-v4"))
    assert [(r["rangeStart"], r["rangeEnd"]) for r in ranges] == [("10.100.0.100", "10.100.0.149"),
                                                                 ("10.100.0.151", "10.100.0.199")]
    assert all(r["gateway"] == "10.100.0.1" and r["subnet"] == "10.100.0.0/24" for r in ranges)


def test_macvlan_conflist_and_static_ipam():
    net = REF.network("kube-system/macvlan-standalone-vlan100")
    conf = netconf.macvlan_conflist(net, netconf.static_ipam([(REF.pool("vlan100-v4"), "10.100.0.100")], True))
    plugin = conf["plugins"][0]
    assert conf["name"] == "macvlan-standalone-vlan100" and conf["cniVersion"] == "1.0.0"
    assert (plugin["type"], plugin["master"], plugin["mode"]) == ("macvlan", "bond0.100", "bridge")
    assert plugin["ipam"] == {"type": "static", "addresses": [{"address": "10.100.0.100/24", "gateway": "10.100.0.1"}],
                              "routes": [{"dst": "0.0.0.0/0", "gw": "10.100.0.1"}]}
    extra = netconf.static_ipam([(REF.pool("vlan100-v4"), "10.100.0.101")], False)
    assert "routes" not in extra


def test_static_ipam_dual_stack_routes_both_families():
    """Spiderpool returns a default route per family through each pool's gateway, and cleangateway drops both
    (spidernet-io/spiderpool pkg/utils/convert/convert.go ConvertResultsToIPConfigsAndAllRoutes, genDefaultRoute)."""
    dual = load_topology(TOPOLOGIES / "dual-stack.yaml")
    allocated = [(dual.pool("vlan100-v4"), "10.100.0.100"), (dual.pool("vlan100-v6"), "fd00:100::100")]
    ipam = netconf.static_ipam(allocated, True)
    assert ipam["addresses"] == [{"address": "10.100.0.100/24", "gateway": "10.100.0.1"},
                                 {"address": "fd00:100::100/64", "gateway": "fd00:100::1"}]
    assert ipam["routes"] == [{"dst": "0.0.0.0/0", "gw": "10.100.0.1"}, {"dst": "::/0", "gw": "fd00:100::1"}]
    assert "routes" not in netconf.static_ipam(allocated, False)


def test_network_status_as_multus_builds_it():
    """network-attachment-definition-client pkg/utils/net-attach-def.go CreateNetworkStatuses: one entry per
    sandbox interface, ``gateway`` from the result's default routes on every entry (not from ips[].gateway;
    a route without gw prints as "<nil>", as the differential test saw the real Multus write it)."""
    bridge_result = {"interfaces": [{"name": "ovl0", "mac": "aa"}, {"name": "veth1", "mac": "bb"},
                                    {"name": "eth0", "mac": "cc", "sandbox": "/run/netns/p"}],
                     "ips": [{"address": "10.244.1.2/24", "gateway": "10.244.1.1", "interface": 2}],
                     "routes": [{"dst": "0.0.0.0/0"}], "dns": {}}
    assert multus.network_statuses("k8s-pod-network", bridge_result, True) == [
        {"name": "k8s-pod-network", "interface": "eth0", "ips": ["10.244.1.2"], "mac": "cc", "default": True,
         "dns": {}, "gateway": ["<nil>"]}]
    extra = multus.network_statuses("kube-system/n", {"interfaces": [{"name": "net1", "mac": "dd", "sandbox": "x"}],
                                                      "ips": [{"address": "10.100.0.5/24", "interface": 0}]}, False)
    assert extra == [{"name": "kube-system/n", "interface": "net1", "ips": ["10.100.0.5"], "mac": "dd", "dns": {}}]
    routed = multus.network_statuses("kube-system/n", {"interfaces": [{"name": "net1", "mac": "dd", "sandbox": "x"}],
                                                       "ips": [{"address": "10.100.0.5/24", "interface": 0}],
                                                       "routes": [{"dst": "0.0.0.0/0", "gw": "10.100.0.1"}]}, False)
    assert routed[0]["gateway"] == ["10.100.0.1"]  # a non-default NIC with a default route shows its gateway


def test_network_status_mtu_and_addresses_without_interface_as_the_nad_client_builds_them():
    """network-attachment-definition-client v1.7.6 pkg/utils/net-attach-def.go CreateNetworkStatuses: ``Mtu:
    iface.Mtu`` (json ``mtu,omitempty``: absent from CNI 1.0 results), and an IP whose ``interface`` is unset goes
    to the last sandbox interface's entry; both families are listed."""
    result = {"interfaces": [{"name": "net1", "mac": "dd", "sandbox": "x", "mtu": 9000},
                             {"name": "shim", "mac": "ee"}],
              "ips": [{"address": "10.100.0.5/24", "interface": 0}, {"address": "fd00:100::5/64"}]}
    assert multus.network_statuses("kube-system/n", result, False) == [
        {"name": "kube-system/n", "interface": "net1", "ips": ["10.100.0.5", "fd00:100::5"], "mac": "dd",
         "dns": {}, "mtu": 9000}]


def test_cni_args_as_multus_passes_them():
    assert multus.cni_args("ns", "p", "cid", "uid") == \
        "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p;K8S_POD_INFRA_CONTAINER_ID=cid;K8S_POD_UID=uid"


def test_pool_allocator_is_per_pool_across_networks(tmp_path):
    alloc = PoolAllocator(tmp_path)
    pool = REF.pool("vlan100-v4")
    a = alloc.allocate(pool, "c1/eth0")
    b = alloc.allocate(pool, "c2/net1")
    assert (a, b) == ("10.100.0.100", "10.100.0.101")
    assert alloc.allocate(pool, "c1/eth0") == a  # idempotent per owner
    alloc.release(pool, "c1/eth0")
    assert alloc.allocate(pool, "c3/eth0") == "10.100.0.100"
