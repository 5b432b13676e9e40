"""The lab's state file: what the lab owns and the facts tests need, as JSON."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from ..json_files import StateFileError, Unreadable, first_problem
from ..json_files import read as read_json


class InterfaceState(BaseModel):
    ifname: str
    network: str            # "kube-system/macvlan-standalone-vlan100", or the overlay's name
    kind: str               # standalone | overlay (the overlay default network is kind overlay, network_ref None)
    network_ref: str | None = None
    ips: list[str]          # CIDR notation
    mac: str
    vlan: int | None = None
    master: str | None = None
    pool: str | None = None
    pools: list[str] = Field(default_factory=list)   # every pool the NIC has an address from (one per family)
    gateway: str | None = None
    default: bool = False


class PodState(BaseModel):
    name: str
    namespace: str
    node: str
    netns: str
    container_id: str
    uid: str
    interfaces: list[InterfaceState] = Field(default_factory=list)
    network_status: list[dict] = Field(default_factory=list)

    def interface(self, ifname: str) -> InterfaceState:
        return next(i for i in self.interfaces if i.ifname == ifname)


class BondState(BaseModel):
    bridge: str
    port: str
    members: dict[str, str]   # NIC name in the topology -> link name in the fabric namespace


class NodeState(BaseModel):
    name: str
    index: int
    netns: str
    ip: str
    masters: dict[int, str]   # VLAN id -> master ifname in the node namespace
    bond: BondState
    pod_cidr: str
    overlay_bridge: str


class VlanifState(BaseModel):
    vlan: int
    netns: str
    ifname: str
    ip: str
    mac: str


class TrunkPortState(BaseModel):
    node: str
    nic: str
    port: str


class KubeState(BaseModel):
    """The kube lab's control plane (``lab up --control-plane kube``)."""

    server: str
    admin_kubeconfig: str
    user_kubeconfig: str        # exactly the RBAC a run needs (README)
    directory: str
    multus_version: str


class LabState(BaseModel):
    name: str
    topology_path: str
    topology_name: str
    run_dir: str
    owner_pid: int
    fabric_netns: str
    router_netns: str
    ovs_db_sock: str
    switch_bridge: str
    trunk_ports: list[TrunkPortState] = Field(default_factory=list)
    vlanifs: dict[int, VlanifState] = Field(default_factory=dict)
    nodes: dict[str, NodeState] = Field(default_factory=dict)
    pods: dict[str, PodState] = Field(default_factory=dict)
    namespaces: list[str] = Field(default_factory=list)
    kube: KubeState | None = None   # set on a kube lab: pods then come only through its API

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.model_dump_json(indent=2))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> "LabState":
        """The state in ``path``; ``StateFileError`` (one line naming the file and the fix) if damaged."""
        try:
            return cls.model_validate(read_json(path))
        except (Unreadable, ValidationError) as exc:
            why = str(exc) if isinstance(exc, Unreadable) else f"{path}: not a lab state file ({first_problem(exc)})"
        raise StateFileError(f"{why}; remove the lab with `macvlan-conformance lab cleanup --name "
                             f"{Path(path).parent.name}` and start it again")
