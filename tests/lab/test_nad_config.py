"""The NAD ``spec.config`` we render is accepted by the real macvlan plugin binary: CNI VERSION for every
IPAM choice, and a real ADD (then DEL) of the rendered config on the reference lab's masters."""

import json
import subprocess
import uuid
from ipaddress import IPv4Address

import pytest

from macvlan_conformance.cluster import manifests
from macvlan_conformance.cluster.scope import RunScope, scoped_topology
from macvlan_conformance.lab.cni import CniRuntime, RuntimeConf, find_plugin_dir
from macvlan_conformance.lab.names import LabNames
from macvlan_conformance.topology import load_topology

from ..conftest import TOPOLOGIES
from .conftest import ip_json, sh

SCOPE = RunScope("nadtest")
TOPOLOGY = scoped_topology(load_topology(TOPOLOGIES / "reference.yaml"), SCOPE)


def nad_conflist(network, ipam) -> dict:
    """Exactly what the NAD object carries in ``spec.config``."""
    return json.loads(manifests.network_attachment(network, TOPOLOGY, SCOPE, ipam)["spec"]["config"])


@pytest.mark.parametrize("ipam", manifests.IPAM_KINDS)
def test_the_macvlan_binary_accepts_the_config_version(ipam):
    conflist = nad_conflist(TOPOLOGY.networks[1], ipam)
    plugin = conflist["plugins"][0]
    conf = {**plugin, "name": conflist["name"], "cniVersion": conflist["cniVersion"]}
    proc = subprocess.run([str(find_plugin_dir() / plugin["type"])], input=json.dumps(conf), capture_output=True,
                          text=True, env={"CNI_COMMAND": "VERSION"}, timeout=10)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert conflist["cniVersion"] in json.loads(proc.stdout)["supportedVersions"]


@pytest.mark.parametrize("network", [n.name for n in TOPOLOGY.networks])
def test_a_real_add_of_the_rendered_config_on_the_lab_masters(network, reference_lab, tmp_path):
    """host-local is the IPAM whose binary is here; its ``dataDir`` is pointed into the test's tmp dir
    (the one change to the rendered config), so nothing is written to the host's /var/lib/cni."""
    lab, _ = reference_lab
    conflist = nad_conflist(TOPOLOGY.networks[[n.name for n in TOPOLOGY.networks].index(network)], "host-local")
    conflist["plugins"][0]["ipam"]["dataDir"] = str(tmp_path / "ipam")
    node_ns = LabNames(lab).node_ns("worker1")
    pod_ns = f"mcltest-nad-{uuid.uuid4().hex[:6]}"
    sh("ip", "netns", "add", pod_ns)
    runtime = CniRuntime(find_plugin_dir(), tmp_path / "cache", node_ns)
    rt = RuntimeConf(uuid.uuid4().hex, f"/run/netns/{pod_ns}", "net1", "")
    try:
        result = runtime.add(conflist, rt)
        link = next(l for l in ip_json("-d", "link", "show", "net1", netns=pod_ns))
        assert link["linkinfo"]["info_kind"] == "macvlan"
        assert link["linkinfo"]["info_data"]["mode"] == "bridge"
        pool = TOPOLOGY.pool(TOPOLOGY.network(f"{SCOPE.namespace}/{network}").ippool)
        assert IPv4Address(result["ips"][0]["address"].split("/")[0]) in pool.addresses
        runtime.delete(conflist, rt)
        assert [l["ifname"] for l in ip_json("link", netns=pod_ns)] == ["lo"]
    finally:
        sh("ip", "netns", "del", pod_ns)
