"""Build a lab from a topology, and create/delete pods on it with Multus semantics.

``build_lab(topology, path, name)`` returns the ``LabState`` of a running lab (saved to its state file)
or, on any error or interrupt, removes everything it made and re-raises. ``PodFactory`` attaches pods
with the real CNI plugins (and the coordinator stand-in where a network chains it); a failing ADD refuses the
pod, as a failed sandbox does in a cluster.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from .. import netconf
from ..netns import iproute
from ..topology import Attachment, Pod, Topology, resolve_attachments
from . import cleanup, multus, neighbours
from .cni import CniError, CniRuntime, RuntimeConf, find_plugin_dir
from .commands import CommandError, run
from .names import LabNames, PREFIX
from .ippool import PoolAllocator
from .ovs import OvsInstance
from .state import BondState, InterfaceState, LabState, NodeState, PodState, TrunkPortState, VlanifState

Progress = Callable[[str], None]
CNI_WORKERS = 12


def vlanif_mac(vlan_id: int) -> str:
    """The lab's vlanif MAC for a VLAN: ``02:6d:63:00:<vid high>:<vid low>`` (locally administered)."""
    return f"02:6d:63:00:{vlan_id >> 8:02x}:{vlan_id & 0xff:02x}"


@dataclass(frozen=True)
class MemberLink:
    """One bond member in the lab: a veth from the node's OVS bond (``link``) to a switch trunk port (``port``)."""

    node: str
    nic: str    # the topology's name of the NIC (what reports, faults and the target's methods use)
    link: str   # the node end, in the fabric namespace
    port: str   # the switch end


def plan_members(topology: Topology) -> list[MemberLink]:
    """Every bond member's lab link names, by node and member index (``LabNames.node_nic``). Pure."""
    return [MemberLink(node.name, nic, LabNames.node_nic(i, j), LabNames.switch_port(i, j))
            for i, node in enumerate(topology.nodes, 1) for j, nic in enumerate(node.bond.members)]


class LabExistsError(RuntimeError):
    pass


class PodRefused(RuntimeError):
    """The lab (as Multus + the multus-underlay contract) refused a pod; nothing was created."""

    def __init__(self, pod: str, reason: str):
        self.pod, self.reason = pod, reason
        super().__init__(f"pod {pod} refused: {reason}")


IFA_F_NODAD = 0x02


def _sysctl(netns: str, *settings: str) -> None:
    run(["sysctl", "-q", "-w", *settings], netns=netns)


def _create_namespaces(names: list[str]) -> None:
    script = "".join(f"netns add {n}\n" for n in names)
    proc = subprocess.run(["ip", "-batch", "-"], input=script, text=True, capture_output=True)
    if proc.returncode != 0:
        raise CommandError(["ip", "-batch", "-"], proc.returncode, proc.stdout, proc.stderr)
    for n in names:
        with iproute(n) as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")


class LabBuilder:
    """One bring-up of one lab. Use ``build_lab``."""

    def __init__(self, topology: Topology, topology_path: Path, name: str, progress: Progress | None = None,
                 control_plane: str = "none"):
        self.t = topology
        self.control_plane = control_plane
        self.names = LabNames(name)
        self.progress = progress or (lambda step: None)
        self.ovs = OvsInstance(self.names.run_dir, self.names.fabric_ns, name)
        self.native = topology.switch.native_vlan
        self.state = LabState(
            name=name, topology_path=str(Path(topology_path).resolve()), topology_name=topology.name,
            run_dir=str(self.names.run_dir), owner_pid=os.getpid(), fabric_netns=self.names.fabric_ns,
            router_netns=self.names.router_ns, ovs_db_sock=str(self.ovs.db_sock), switch_bridge=LabNames.SWITCH_BRIDGE,
        )

    def build(self) -> LabState:
        lab = self.names.lab
        if self.names.run_dir.exists() or cleanup.lab_namespaces(lab):
            raise LabExistsError(f"lab {lab!r} already exists; use another --name, or "
                                 f"`macvlan-conformance lab down --name {lab}`")
        self.names.run_dir.mkdir(parents=True)
        try:
            neighbours.ensure_capacity(self.t)
            self._namespaces()
            self.progress("starting Open vSwitch")
            self.ovs.start()
            self._fabric()
            self._nodes_and_router()
            self.state.save(self.names.state_file)
            if self.control_plane == "kube":
                from . import kube
                self.state.kube = kube.start(self.t, self.state.topology_path, lab, self.progress)
                self.state.save(self.names.state_file)
                return self.state
            self.progress(f"attaching {len(self.t.pods)} pods")
            factory = PodFactory(self.t, self.state)
            factory.create_many(self.t.pods)
            self.state.save(self.names.state_file)
            return self.state
        except BaseException:
            cleanup.teardown(lab)
            raise

    # --- steps -----------------------------------------------------------------------------------
    def _namespaces(self) -> None:
        self.progress("creating namespaces")
        names = [self.names.fabric_ns, self.names.router_ns] + [self.names.node_ns(n.name) for n in self.t.nodes]
        _create_namespaces(names)
        self.state.namespaces = names

    def _vlans_of(self, node) -> list[int]:
        return [self.native, *node.vlans]

    def _fabric(self) -> None:
        """NIC veths, the switch bridge with a trunk port per NIC and a vlanif per VLAN, the node bonds."""
        self.progress("wiring the switch and node bonds")
        members = plan_members(self.t)
        self._member_veths(members)
        self.ovs.transaction(self._switch_commands(members) + self._bond_commands(members))
        # the transaction waits until ovs-vswitchd has applied it: the internal ports exist

    def _member_veths(self, members: list[MemberLink]) -> None:
        mtu = self.t.switch.mtu
        with iproute(self.names.fabric_ns) as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
            for m in members:
                ipr.link("add", ifname=m.link, kind="veth", peer={"ifname": m.port, "mtu": mtu}, mtu=mtu)
            for end in (name for m in members for name in (m.link, m.port)):
                ipr.link("set", index=ipr.link_lookup(ifname=end)[0], state="up")
        for end in (name for m in members for name in (m.link, m.port)):
            # the userspace datapath drops GSO/partial-checksum frames otherwise
            run(["ethtool", "-K", end, "tx", "off"], netns=self.names.fabric_ns)

    def _switch_commands(self, members: list[MemberLink]) -> list[list[str]]:
        sw = LabNames.SWITCH_BRIDGE
        tx = [["add-br", sw], ["set", "bridge", sw, "datapath_type=netdev"], self.ovs.mark("bridge", sw)]
        for m in members:
            trunks = ",".join(str(v) for v in self._vlans_of(self.t.node(m.node)))
            tx += [["add-port", sw, m.port, "vlan_mode=native-untagged", f"tag={self.native}", f"trunks={trunks}"],
                   self.ovs.mark("port", m.port)]
            self.state.trunk_ports.append(TrunkPortState(node=m.node, nic=m.nic, port=m.port))
        for vid in self.t.routed_vlans:
            port = LabNames.vlanif(vid)
            tx += [["add-port", sw, port, f"tag={vid}"], ["set", "interface", port, "type=internal"],
                   self.ovs.mark("port", port)]
        return tx

    def _bond_commands(self, members: list[MemberLink]) -> list[list[str]]:
        tx = []
        for i, node in enumerate(self.t.nodes, 1):
            br, bond = LabNames.node_bridge(i), LabNames.node_bond_port(i)
            links = {m.nic: m.link for m in members if m.node == node.name}
            trunks = ",".join(str(v) for v in self._vlans_of(node))
            tx += [["add-br", br], ["set", "bridge", br, "datapath_type=netdev"], self.ovs.mark("bridge", br)]
            if len(links) == 1:
                bond = next(iter(links.values()))
                tx += [["add-port", br, bond, "vlan_mode=native-untagged", f"tag={self.native}", f"trunks={trunks}"]]
            else:
                tx += [["add-bond", br, bond, *links.values(), f"bond_mode={node.bond.mode}",
                        "vlan_mode=native-untagged", f"tag={self.native}", f"trunks={trunks}"]]
            tx += [self.ovs.mark("port", bond)]
            for vid in self._vlans_of(node):
                port = LabNames.node_master_port(i, vid)
                tx += [["add-port", br, port, f"tag={vid}"], ["set", "interface", port, "type=internal"],
                       self.ovs.mark("port", port)]
            self.state.nodes[node.name] = NodeState(
                name=node.name, index=i, netns=self.names.node_ns(node.name), ip=str(node.ip),
                masters={vid: node.master_name(vid, self.native) for vid in self._vlans_of(node)},
                bond=BondState(bridge=br, port=bond, members=links),
                pod_cidr=str(self.t.node_pod_cidr(node.name)), overlay_bridge=LabNames.OVERLAY_BRIDGE)
        return tx

    def _nodes_and_router(self) -> None:
        self.progress("configuring nodes and the router")
        mtu = self.t.switch.mtu
        moves: dict[str, list[tuple[str, str]]] = {self.names.router_ns: []}
        for vid in self.t.routed_vlans:
            moves[self.names.router_ns].append((LabNames.vlanif(vid), LabNames.vlanif(vid)))
        for node in self.state.nodes.values():
            moves[node.netns] = [(LabNames.node_master_port(node.index, vid), master)
                                 for vid, master in node.masters.items()]
        with iproute(self.names.fabric_ns) as fabric:
            for netns, links in moves.items():
                for port, _ in links:
                    fabric.link("set", index=fabric.link_lookup(ifname=port)[0], net_ns_fd=f"/run/netns/{netns}")

        with iproute(self.names.router_ns) as ipr:
            for vid in self.t.routed_vlans:
                vlan, ifname = self.t.vlan(vid), LabNames.vlanif(vid)
                idx = ipr.link_lookup(ifname=ifname)[0]
                # the topology's gatewayMac, else a stable locally administered MAC per VLAN (baselines compare)
                ipr.link("set", index=idx, mtu=mtu, address=vlan.gateway_mac or vlanif_mac(vid), state="up")
                if vlan.subnet is not None:
                    ipr.addr("add", index=idx, address=str(vlan.gateway), prefixlen=vlan.subnet.prefixlen)
                if vlan.subnet6 is not None:  # configured, as a switch's vlanif address is: no DAD wait
                    ipr.addr("add", index=idx, address=str(vlan.gateway6), prefixlen=vlan.subnet6.prefixlen,
                             flags=IFA_F_NODAD)
                mac = ipr.get_links(idx)[0].get_attr("IFLA_ADDRESS")
                self.state.vlanifs[vid] = VlanifState(vlan=vid, netns=self.names.router_ns, ifname=ifname,
                                                      ip=str(vlan.gateway or vlan.gateway6), mac=mac)
        # IPv4 and IPv6 forwarding between the vlanifs (a Linux router sends no router advertisements by itself);
        # a vlanif keeps its configured IPv6 gateway while down, as its IPv4 one and a switch's configuration do
        _sysctl(self.names.router_ns, "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
                "net.ipv6.conf.all.keep_addr_on_down=1")

        native = self.t.vlan(self.native)
        for node in self.state.nodes.values():
            with iproute(node.netns) as ipr:
                for port, master in moves[node.netns]:
                    idx = ipr.link_lookup(ifname=port)[0]
                    ipr.link("set", index=idx, ifname=master, mtu=mtu, state="up")
                bond_idx = ipr.link_lookup(ifname=node.masters[self.native])[0]
                ipr.addr("add", index=bond_idx, address=node.ip, prefixlen=native.subnet.prefixlen)
                ipr.route("add", dst="0.0.0.0/0", gateway=str(native.gateway))
                for other in self.state.nodes.values():
                    if other.name != node.name:
                        ipr.route("add", dst=other.pod_cidr, gateway=other.ip)
            _sysctl(node.netns, "net.ipv4.ip_forward=1")


class PodFactory:
    """Creates and deletes pods on a built lab: namespaces, CNI ADD/DEL per attachment, network-status."""

    def __init__(self, topology: Topology, state: LabState):
        self.t = topology
        self.state = state
        self.names = LabNames(state.name)
        self.run_dir = Path(state.run_dir)
        standins = self.run_dir / "cni-bin"
        self.plugin_dirs = [find_plugin_dir(), standins]  # the real plugins, then the stand-ins
        if any(n.coordinator is not None for n in topology.networks) and not (standins / "coordinator").exists():
            from ..coordinator_standin.plugin import install_plugin
            install_plugin(standins)
        self.pools = PoolAllocator(self.run_dir / "ippools")

    def _runtime(self, node: str) -> CniRuntime:
        return CniRuntime(self.plugin_dirs, self.run_dir / "cni-cache", self.state.nodes[node].netns)

    def _conflist(self, att: Attachment, node: str, container_id: str, override: dict | None = None) -> dict:
        if att.network is None:
            return netconf.overlay_conflist(self.t, node, self.run_dir / "ipam" / node, LabNames.OVERLAY_BRIDGE)
        allocated = [(pool, self.pools.allocate(pool, f"{container_id}/{att.ifname}")) for pool in att.pools]
        conflist = netconf.macvlan_conflist(att.network, netconf.static_ipam(allocated, att.default_route),
                                            cluster_cidrs=netconf.cluster_cidrs(self.t))
        conflist["plugins"][0].update(override or {})
        return conflist

    def _runtime_conf(self, pod: Pod, ifname: str) -> RuntimeConf:
        cid = self.names.container_id(pod.name)
        uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{PREFIX}{self.state.name}/{pod.namespace}/{pod.name}"))
        return RuntimeConf(cid, f"/run/netns/{self.names.pod_ns(pod.name)}", ifname,
                           multus.cni_args(pod.namespace, pod.name, cid, uid))

    def check_allowed(self, pod: Pod) -> list[Attachment]:
        """Multus' reading of the pod: its attachments, or ``PodRefused`` (no such node, annotations that do
        not resolve). The multus-underlay contract is not checked here: what enforces it in a cluster, the
        coordinator in an explicit mode, refuses at CNI ADD (``create``), as it does here."""
        if pod.node not in self.state.nodes:
            raise PodRefused(pod.name, f"node {pod.node!r} does not exist in this lab")
        try:
            return resolve_attachments(self.t, pod)
        except ValueError as exc:
            raise PodRefused(pod.name, str(exc)) from None

    def create_many(self, pods: list[Pod]) -> None:
        plans = [(pod, self.check_allowed(pod)) for pod in pods]
        for pod, attachments in plans:  # allocate in topology order, so that addresses are reproducible
            for att in attachments:
                for pool in att.pools:
                    self.pools.allocate(pool, f"{self.names.container_id(pod.name)}/{att.ifname}")
        _create_namespaces([self.names.pod_ns(pod.name) for pod, _ in plans])
        self.state.namespaces += [self.names.pod_ns(pod.name) for pod, _ in plans]
        with ThreadPoolExecutor(CNI_WORKERS) as pool:
            for pod_state in pool.map(lambda plan: self._attach(*plan), plans):
                self.state.pods[pod_state.name] = pod_state

    def create(self, pod: Pod) -> PodState:
        """Create one pod (refused pods create nothing). Safe to call for several pods at once: the pod's namespace
        is its claim (``ip netns add`` refuses a second one), the state file is updated under a lock once the CNI
        ADDs ran (each IPv6 address waits for duplicate address detection meanwhile)."""
        attachments = self.check_allowed(pod)
        with FileLock(str(self.names.state_file) + ".lock"):
            if pod.name in LabState.load(self.names.state_file).pods:
                raise PodRefused(pod.name, "a pod with this name already exists")
            try:
                _create_namespaces([self.names.pod_ns(pod.name)])
            except CommandError as exc:  # another create of this name holds it
                raise PodRefused(pod.name, f"its sandbox namespace exists already ({exc})") from None
        try:
            pod_state = self._attach(pod, attachments)
        except BaseException as exc:  # as Multus: the delegates added so far are deleted, the sandbox fails
            try:
                self._detach(pod, attachments, strict=False)
            finally:
                cleanup.delete_namespaces([self.names.pod_ns(pod.name)])
            if isinstance(exc, CniError):
                raise PodRefused(pod.name, f"failed to create the pod sandbox: {exc}") from None
            raise
        with FileLock(str(self.names.state_file) + ".lock"):
            fresh = LabState.load(self.names.state_file)
            fresh.pods[pod.name] = pod_state
            fresh.namespaces.append(pod_state.netns)
            fresh.save(self.names.state_file)
            self.state = fresh
        return pod_state

    def _detach(self, pod: Pod, attachments: list[Attachment], strict: bool = True) -> None:
        """CNI DEL, in reverse order, of every attachment whose ADD ran, with the configuration libcni cached for
        it, and the pool addresses released. Without ``strict`` a failing DEL is left to the namespace's deletion
        (a refused pod's cleanup); with it the error propagates once every address is released."""
        runtime = self._runtime(pod.node)
        cid = self.names.container_id(pod.name)
        failed: CniError | None = None
        for att in reversed(attachments):
            rt = self._runtime_conf(pod, att.ifname)
            added = runtime.cached_entry(att.network.name if att.network else self.t.overlay.name, rt)
            try:
                if added is not None:
                    runtime.delete(added["config"], rt)
            except CniError as exc:
                failed = failed or exc
            finally:
                for pool in att.pools:
                    self.pools.release(pool, f"{cid}/{att.ifname}")
        if failed is not None and strict:
            raise failed

    def delete(self, name: str) -> None:
        """CNI DEL of every attachment (reverse order), then remove the pod's namespace."""
        with FileLock(str(self.names.state_file) + ".lock"):
            fresh = LabState.load(self.names.state_file)
            pod_state = fresh.pods.pop(name)
            pod = Pod(name=pod_state.name, namespace=pod_state.namespace, node=pod_state.node)
            self._detach(pod, [Attachment(name, i.ifname, self.t.network(i.network_ref) if i.network_ref else None,
                                          tuple(self.t.pool(p) for p in (i.pools or [i.pool] * bool(i.pool))),
                                          None, i.default)
                               for i in pod_state.interfaces])
            cleanup.delete_namespaces([pod_state.netns])
            fresh.namespaces.remove(pod_state.netns)
            fresh.save(self.names.state_file)
            self.state = fresh

    def reattach(self, name: str, ifname: str, override: dict | None = None, same_config: bool = False) -> PodState:
        """CNI DEL then ADD of one pod interface, with plugin settings from ``override`` (``{"mode": ...}``,
        ``{"master": ...}``), or with ``same_config`` the configuration its last ADD ran with (the NIC as its
        network is now, whatever a fault made of it), or else as the model says. Keeps the pool address;
        updates the state file (MAC and network-status change with the new link)."""
        with FileLock(str(self.names.state_file) + ".lock"):
            fresh = LabState.load(self.names.state_file)
            pod_state = fresh.pods[name]
            pod = Pod(name=name, namespace=pod_state.namespace, node=pod_state.node)
            att = next(a for a in resolve_attachments(self.t, self.t.pod(name)) if a.ifname == ifname)
            runtime = self._runtime(pod_state.node)
            rt = self._runtime_conf(pod, ifname)
            previous = runtime.cached_entry(att.network.name, rt)
            if previous is not None:
                runtime.delete(previous["config"], rt)
            config = previous["config"] if same_config and previous is not None else \
                self._conflist(att, pod_state.node, pod_state.container_id, override)
            result = runtime.add(config, rt)
            status = multus.network_statuses(att.network.ref, result, att.default)
            mine = next(s for s in status if s["interface"] == ifname)
            pod_state.network_status = [mine if e["interface"] == ifname else e for e in pod_state.network_status]
            iface = pod_state.interface(ifname)
            iface.mac = mine["mac"]
            fresh.save(self.names.state_file)
            self.state = fresh
            return pod_state

    def _attach(self, pod: Pod, attachments: list[Attachment]) -> PodState:
        runtime = self._runtime(pod.node)
        node = self.t.node(pod.node)
        rt0 = self._runtime_conf(pod, "eth0")
        pod_state = PodState(name=pod.name, namespace=pod.namespace, node=pod.node,
                             netns=self.names.pod_ns(pod.name), container_id=rt0.container_id,
                             uid=rt0.args.rsplit("K8S_POD_UID=", 1)[1])
        for att in attachments:
            conflist = self._conflist(att, pod.node, pod_state.container_id)
            result = runtime.add(conflist, self._runtime_conf(pod, att.ifname))
            name = att.network.ref if att.network else self.t.overlay.name
            statuses = multus.network_statuses(name, result, att.default)
            pod_state.network_status += statuses
            mine = next(s for s in statuses if s["interface"] == att.ifname)
            ips = [ip["address"] for ip in result.get("ips", [])
                   if result["interfaces"][ip.get("interface", 0)]["name"] == att.ifname]
            gateway = next((ip.get("gateway") for ip in result.get("ips", []) if ip.get("gateway")), None)
            pod_state.interfaces.append(InterfaceState(
                ifname=att.ifname, network=name, network_ref=att.network.ref if att.network else None,
                kind=att.kind, ips=ips, mac=mine["mac"], vlan=att.vlan.id if att.vlan else None,
                master=node.master_name(att.vlan.id, self.t.switch.native_vlan) if att.vlan else None,
                pool=att.pool.name if att.pool else None, pools=[p.name for p in att.pools], gateway=gateway,
                default=att.default))
        return pod_state


def build_lab(topology: Topology, topology_path: str | Path, name: str,
              progress: Progress | None = None, control_plane: str = "none") -> LabState:
    """Bring a lab up; returns its state (also saved to the state file). Cleans up on any failure. With
    ``control_plane="kube"`` the topology's pods are not attached: the lab runs a real control plane and
    pods come through its API (``lab.kube``)."""
    return LabBuilder(topology, Path(topology_path), name, progress, control_plane).build()

