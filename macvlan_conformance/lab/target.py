"""The lab as a target: facts from the state file, agents served by agent hosts (a thread per pod), faults on OVS ports."""

from __future__ import annotations

import os
import platform
import re
import shlex
import threading
from pathlib import Path

from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from ..agent.client import AgentClient, AgentHost
from ..checks import Capability
from ..target import LAB_CAPABILITIES, Admission, Target
from ..verdicts import Verdict
from ..netns import iproute
from ..topology import Pod, load_topology
from .builder import PodFactory, PodRefused
from .cni import find_plugin_dir
from .commands import run
from .names import LabNames
from .ovs import OvsInstance
from .state import LabState


# Agent host processes per target, pods dealt round-robin: one per core lets the probes' Python work use
# every core (64 pods: 20-23 s with two hosts on 2 cores, 23-27 s with one); each host costs ~90 MiB.
AGENT_HOSTS = min(4, os.cpu_count() or 1)


class LabTarget(Target):
    kind = "lab"
    capabilities = LAB_CAPABILITIES  # every part of its network, which it builds from the topology (no NADs)

    def __init__(self, state_file: Path):
        self.state_file = Path(state_file)
        self._state_stamp = self._stamp()
        self.state = LabState.load(self.state_file)
        self.topology = load_topology(self.state.topology_path)
        self.names = LabNames(self.state.name)
        self.ovs = OvsInstance(Path(self.state.run_dir), self.state.fabric_netns, self.state.name)
        self._hosts: list[AgentHost] = []
        self._agents: dict[str, AgentClient] = {}
        self._lock = threading.Lock()

    def reload(self) -> None:
        """Re-read the state file (after a pod was re-attached)."""
        self._state_stamp = self._stamp()
        self.state = LabState.load(self.state_file)

    def _stamp(self) -> tuple[int, int]:
        stat = self.state_file.stat()
        return stat.st_mtime_ns, stat.st_size

    # --- facts -----------------------------------------------------------------------------------
    def network_status(self, pod: str) -> list[dict]:
        """As the state file says now: another process of the run (an xdist worker) may have recreated a NIC."""
        if self._stamp() != self._state_stamp:
            self.reload()
        return self.state.pods[pod].network_status

    def vlanif_mac(self, vlan: int) -> str | None:
        vlanif = self.state.vlanifs.get(vlan)
        return vlanif.mac if vlanif else None

    def _node_link(self, node: str, master: str):
        with iproute(self.state.nodes[node].netns) as ipr:
            links = ipr.get_links(ifname=master)
            return links[0] if links else None

    def interface_mtu(self, key: str) -> int | None:
        pod, ifname = key.split("/", 1)
        with iproute(self.state.pods[pod].netns) as ipr:
            links = ipr.get_links(ifname=ifname)
            return links[0].get_attr("IFLA_MTU") if links else None

    def master_index(self, node: str, master: str) -> int | None:
        link = self._node_link(node, master)
        return link["index"] if link else None

    def master_mtu(self, node: str, master: str) -> int | None:
        link = self._node_link(node, master)
        return link.get_attr("IFLA_MTU") if link else None

    # --- agents and pods ---------------------------------------------------------------------------
    def agent(self, pod: str) -> AgentClient:
        with self._lock:
            if pod not in self._agents:
                if not self._hosts:  # started together, so that they import scapy side by side
                    self._hosts = [AgentHost(mark=self.state.run_dir + "/") for _ in range(AGENT_HOSTS)]
                slot = len(self._agents) % AGENT_HOSTS
                netns = self.state.pods[pod].netns
                self._agents[pod] = self._hosts[slot].spawn(f"/run/netns/{netns}", pod)
            return self._agents[pod]

    def reproducer(self, pod: str, argv: list[str]) -> str:
        return shlex.join(["ip", "netns", "exec", self.state.pods[pod].netns, *argv])

    def try_create_pod(self, pod: Pod) -> Admission:
        factory = PodFactory(self.topology, self.state)
        try:
            created = factory.create(pod)
        except PodRefused as exc:
            return Admission(Verdict.REFUSED, exc.reason)
        detail = ", ".join(f"{i.ifname}={i.network}" for i in created.interfaces)
        factory.delete(pod.name)
        return Admission(Verdict.CREATED, f"pod came up with {detail}")

    def recreate_nic(self, pod: str, ifname: str) -> str:
        """CNI DEL and ADD of the NIC with the real plugins and the configuration it was added with (its pool
        address kept, a new MAC from the macvlan plugin, which announces it with a gratuitous ARP as on any
        ADD): a NIC recreated from a misconfigured network comes back as misconfigured."""
        state = PodFactory(self.topology, self.state).reattach(pod, ifname, same_config=True)
        self.reload()
        return state.interface(ifname).mac

    # --- faults ------------------------------------------------------------------------------------
    # Bond members are named as in the topology (``enp175s0f0np0``) in and out; the lab's own link names
    # (``n1-e0``, see LabNames.node_nic) are looked up in the state file here and go no further.
    def set_bond_member(self, node: str, nic: str, up: bool) -> None:
        """Set the member's link (the node end of its NIC veth), then wait until OVS has seen both ends
        change and the bond has (re-)evaluated the member, so that probes start on a settled network."""
        link_name = self.state.nodes[node].bond.members[nic]
        switch_port = next(p.port for p in self.state.trunk_ports if p.node == node and p.nic == nic)
        with iproute(self.state.fabric_netns) as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname=link_name)[0], state="up" if up else "down")
        bond = self.state.nodes[node].bond.port
        member = f"member {link_name}: {'enabled' if up else 'disabled'}"
        link_state = "up" if up else "down"

        def settled() -> bool:
            states = self.ovs.vsctl("--columns=name,link_state", "--format=csv", "--no-headings", "list",
                                    "interface", link_name, switch_port)
            return states.count(link_state) == 2 and member in self.ovs.appctl("bond/show", bond)

        poll = Retrying(stop=stop_after_delay(5), wait=wait_fixed(0.02), retry=retry_if_result(lambda ok: not ok))
        try:
            poll(settled)
        except RetryError:
            raise TimeoutError(f"{node}/{nic} (lab link {link_name}): OVS did not report the member {link_state} "
                               f"within 5 s") from None
        # The userspace datapath may keep a cached "drop broadcasts arriving on the backup member" flow
        # after that member became active, for as long as broadcasts keep it hot. A lab artifact (the
        # emulated NIC/bond hardware), not behaviour under test: purge the flow cache.
        self.ovs.appctl("revalidator/purge")

    def bond_member_is_up(self, node: str, nic: str) -> bool:
        link_name = self.state.nodes[node].bond.members[nic]
        with iproute(self.state.fabric_netns) as ipr:
            return bool(ipr.get_links(ifname=link_name)[0]["flags"] & 1)

    def active_bond_member(self, node: str) -> str | None:
        """The NIC the node's bond currently sends on (``ovs-appctl bond/show``: "active member mac: ...(port)")."""
        bond = self.state.nodes[node].bond
        match = re.search(r"^active member mac: \S+?\((\S+)\)", self.ovs.appctl("bond/show", bond.port), re.M)
        reverse = {link: nic for nic, link in bond.members.items()}
        return reverse.get(match.group(1)) if match else None

    def mac_tables(self) -> dict[str, list[str]]:
        """Every OVS bridge's learned MACs, pod MACs named (``sa-w1-a/eth0@port7/vlan100``)."""
        names = {i.mac: f"{p.name}/{i.ifname}" for p in self.state.pods.values() for i in p.interfaces}
        names.update({v.mac: v.ifname for v in self.state.vlanifs.values()})
        ports = {}
        for row in self.ovs.vsctl("--columns=ofport,name", "--format=csv", "--no-headings", "list",
                                  "interface").splitlines():
            ofport, name = row.split(",", 1)
            ports.setdefault(ofport, []).append(name.strip('"'))
        tables = {}
        for bridge in [self.state.switch_bridge] + [n.bond.bridge for n in self.state.nodes.values()]:
            rows = []
            for line in self.ovs.appctl("fdb/show", bridge).splitlines()[1:]:
                port, vlan, mac, age = line.split()
                rows.append(f"{names.get(mac, mac)} port {port} vlan {vlan} age {age}")
            tables[bridge] = rows
        return tables

    # --- reporting ---------------------------------------------------------------------------------
    def member_links(self) -> str:
        """Which lab link is which bond member: the OVS dumps show the lab's names (``n1-e0``, ``s1-e0``)."""
        ports = {(p.node, p.nic): p.port for p in self.state.trunk_ports}
        return "\n".join(f"{link} (switch end {ports.get((node.name, nic), '?')}): {node.name}/{nic}"
                         for node in self.state.nodes.values() for nic, link in node.bond.members.items())

    def diagnostics(self) -> dict[str, str]:
        dumps = {"lab links of bond members": self.member_links(), "ovs-vsctl show": self.ovs.vsctl("show")}
        for node in self.state.nodes.values():
            try:
                dumps[f"bond/show {node.name}"] = self.ovs.appctl("bond/show", node.bond.port)
            except Exception as exc:  # a diagnostic never hides the failure it documents
                dumps[f"bond/show {node.name}"] = str(exc)
        dumps["router routes"] = run(["ip", "route"], netns=self.state.router_netns).stdout
        dumps["router neighbours"] = run(["ip", "neigh"], netns=self.state.router_netns).stdout
        return dumps

    def environment(self) -> dict[str, str]:
        ovs = run(["ovs-vswitchd", "--version"], check=False).stdout.splitlines()
        cni = run(["dpkg-query", "-W", "-f", "${Version}", "containernetworking-plugins"], check=False).stdout.split()
        cni = cni or run([str(find_plugin_dir() / "macvlan"), "--version"], check=False).stdout.strip().splitlines()
        return {"target": "lab", "lab": self.state.name, "topology": self.state.topology_name,
                "kernel": platform.release(), "ovs": ovs[0] if ovs else "unknown",
                "cni-plugins": cni[-1] if cni else "unknown"}

    def close(self) -> None:
        with self._lock:
            for client in self._agents.values():
                client.close()
            self._agents.clear()
            for host in self._hosts:
                host.close()
            self._hosts.clear()
