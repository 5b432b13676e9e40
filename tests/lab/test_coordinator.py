"""The coordinator on the lab: the stand-in's effects on real namespaces are the upstream plugin's (read at
spidernet-io/spiderpool cmd/coordinator/cmd, v1.0.3-146-ga7fbd3b29; the Go module cannot be fetched here, so the
real binary cannot be built and compared), the suites are green on the coordinator topology with the rules
enforced by the coordinator's own errors, and its faults are caught with no collateral."""

import json

import pytest

from macvlan_conformance.lab.names import LabNames

from ..conftest import TOPOLOGIES, run_suites
from .conftest import cli, host_snapshot, ip_json, lab_name, sh


@pytest.fixture(scope="module")
def coordinator_lab():
    before = host_snapshot()
    name = lab_name("co")
    out = cli("lab", "up", "--name", name, "--topology", str(TOPOLOGIES / "coordinator.yaml"))
    state = json.loads(open(out.stdout.strip()).read())
    yield name, state
    cli("lab", "down", "--name", name, check=False)
    assert host_snapshot() == before


def pod_ns(state, pod):
    return state["pods"][pod]["netns"]


def test_underlay_eth0_gets_the_upstream_veth_routes_rules_and_neighbours(coordinator_lab):
    """utils.go setupVeth (veth0 / veth<container id[:11]>), setupNeighborhood (permanent entries both ways),
    setupHostRoutes (node address /32 via veth0 in main and table 101; ``from all lookup 500 pref 1000`` and the
    pod's address in table 500 on the node), setupHijackRoutes (Service and pod CIDRs via the node address),
    makeReplyPacketViaVeth (fwmark 0x1 -> table 100, its default via veth0)."""
    _, state = coordinator_lab
    pod = state["pods"]["sa-w1-a"]
    node = state["nodes"]["worker1"]
    netns, ip = pod["netns"], pod["interfaces"][0]["ips"][0].split("/")[0]
    host_veth = "veth" + pod["container_id"][:11]
    assert {l["ifname"] for l in ip_json("link", netns=netns)} == {"lo", "eth0", "veth0"}
    host_link = ip_json("link", "show", "dev", host_veth, netns=node["netns"])[0]
    assert "UP" in host_link["flags"]
    main = {r["dst"]: r for r in ip_json("-4", "route", netns=netns)}
    assert main["10.6.0.11"]["dev"] == "veth0" and main["10.6.0.11"]["prefsrc"] == ip
    assert main["10.96.0.0/16"]["gateway"] == main["10.244.0.0/16"]["gateway"] == "10.6.0.11"
    assert main["default"]["dev"] == "eth0" and main["default"]["gateway"] == "10.100.0.1"
    assert any(r["dst"] == "10.6.0.11" for r in ip_json("-4", "route", "show", "table", "101", netns=netns))
    table100 = ip_json("-4", "route", "show", "table", "100", netns=netns)
    assert table100 == [{"dst": "default", "gateway": "10.6.0.11", "dev": "veth0", "prefsrc": ip, "flags": []}]
    rules = ip_json("-4", "rule", netns=netns)
    assert {"priority": 1000, "src": "all", "fwmark": "0x1", "table": "100"} in rules
    pod_neigh = {n["dst"]: n for n in ip_json("neigh", "show", "dev", "veth0", netns=netns)}
    assert pod_neigh["10.6.0.11"]["lladdr"] == host_link["address"] and "PERMANENT" in pod_neigh["10.6.0.11"]["state"]
    host_neigh = {n["dst"]: n for n in ip_json("neigh", "show", "dev", host_veth, netns=node["netns"])}
    veth0_mac = ip_json("link", "show", "dev", "veth0", netns=netns)[0]["address"]
    assert host_neigh[ip]["lladdr"] == veth0_mac and "PERMANENT" in host_neigh[ip]["state"]
    assert {"priority": 1000, "src": "all", "table": "500"} in ip_json("-4", "rule", netns=node["netns"])
    table500 = {r["dst"]: r["dev"] for r in ip_json("-4", "route", "show", "table", "500", netns=node["netns"])}
    assert table500[ip] == host_veth
    assert sh("ip", "netns", "exec", netns, "sysctl", "-n", "net.ipv4.conf.all.rp_filter").strip() == "0"


def test_a_second_underlay_nic_and_an_overlay_nic_are_tuned_into_table_101(coordinator_lab):
    """utils.go tunePodRoutes + route.go MoveRouteTable: the added NIC's default route moves to its table (its
    other routes are copied), a rule from its address looks that table up; in overlay mode also eth0's address
    looks up table 100, which gets a copy of eth0's default route (spiderpool#3683)."""
    _, state = coordinator_lab
    dual = pod_ns(state, "sa-w2-dual")
    net1 = state["pods"]["sa-w2-dual"]["interfaces"][1]["ips"][0].split("/")[0]
    assert [r["dev"] for r in ip_json("-4", "route", "show", "default", netns=dual)] == ["eth0"]
    table101 = {r["dst"]: r for r in ip_json("-4", "route", "show", "table", "101", netns=dual)}
    assert table101["default"]["dev"] == "net1" and table101["default"]["gateway"] == "10.100.0.1"
    assert table101["10.100.0.0/24"]["dev"] == "net1"
    assert any(r.get("src") == net1 and r["table"] == "101" for r in ip_json("-4", "rule", netns=dual))
    overlay = pod_ns(state, "ov-w1")
    eth0 = state["pods"]["ov-w1"]["interfaces"][0]["ips"][0].split("/")[0]
    assert {l["ifname"] for l in ip_json("link", netns=overlay)} == {"lo", "eth0", "net1"}  # no veth0
    rules = ip_json("-4", "rule", netns=overlay)
    assert any(r.get("src") == eth0 and r["table"] == "100" for r in rules)
    assert ip_json("-4", "route", "show", "table", "100", netns=overlay)[0]["dev"] == "eth0"


def test_a_deleted_pod_takes_its_host_veth_and_host_route_with_it(coordinator_lab):
    """command_del.go CmdDel: the host veth goes (and veth0 with it), and the pod's route in table 500."""
    name, state = coordinator_lab
    from macvlan_conformance.lab.builder import PodFactory
    from macvlan_conformance.lab.state import LabState
    from macvlan_conformance.topology import Pod, load_topology
    lab_state = LabState.load(LabNames(name).state_file)
    factory = PodFactory(load_topology(TOPOLOGIES / "coordinator.yaml"), lab_state)
    pod = Pod(name="co-extra", node="worker2",
              annotations={"v1.multus-cni.io/default-network": "kube-system/macvlan-standalone-vlan200"})
    node = state["nodes"]["worker2"]["netns"]
    links_before = {l["ifname"] for l in ip_json("link", netns=node)}
    created = factory.create(pod)
    ip = created.interfaces[0].ips[0].split("/")[0]
    assert "veth" + created.container_id[:11] in {l["ifname"] for l in ip_json("link", netns=node)}
    factory.delete("co-extra")
    assert {l["ifname"] for l in ip_json("link", netns=node)} == links_before
    assert ip not in {r["dst"] for r in ip_json("-4", "route", "show", "table", "500", netns=node)}


def test_the_suites_are_green_and_the_rules_are_enforced_by_the_coordinator(coordinator_lab, tmp_path):
    name, _ = coordinator_lab
    proc, results = run_suites(tmp_path, "--lab", name)
    assert proc.returncode == 0, proc.stdout[-4000:]
    rules = {c["evidence"]["case"]: c for c in results["checks"] if c["id"] == "rules.attachment"}
    for refused in ("overlay-as-default", "standalone-plus-overlay", "overlay-plus-standalone"):
        assert rules[refused]["observed"] == "refused" and rules[refused]["evidence"]["enforcement"] == "enforced"
    host = [c for c in results["checks"] if c["id"] == "host.node-reachability"]
    assert {c["observed"] for c in host} == {"reachable-l2", "reachable-routed"}
    assert "isolation.own-master" in results["not_applicable"]  # every standalone pod has veth0


def test_the_coordinator_faults_are_detected_without_collateral(tmp_path):
    proc = cli("selftest", "--topology", str(TOPOLOGIES / "coordinator.yaml"), "--faults",
               "coordinator-host-route-removed,gratuitous-arp-dropped", "--output", str(tmp_path / "st.json"),
               "--html", str(tmp_path / "st.html"), "--workdir", str(tmp_path / "runs"), check=False, timeout=600)
    matrix = json.loads((tmp_path / "st.json").read_text())
    assert proc.returncode == 0 and matrix["ok"], proc.stdout[-3000:]
    rows = {r["name"]: r for r in matrix["faults"]}
    assert rows["coordinator-host-route-removed"]["detected"] == ["host.node-reachability"]
    assert rows["gratuitous-arp-dropped"]["detected"] == ["addressing.ip-reuse"]
    assert "diagnosis: 2/2 first cause at the fault's place" in proc.stdout
