"""Names and ownership marks of everything a lab creates.

Every network namespace of lab ``L`` is named ``mcl-L-<role>[-<name>]``; its files live in
``<run root>/L``; its OVS rows carry ``external_ids:macvlan-conformance=L``. Cleanup keys on these
marks and on nothing else.
"""

from __future__ import annotations

import hashlib

import os
import re
from dataclasses import dataclass
from pathlib import Path

PREFIX = "mcl-"
OVS_MARK = "macvlan-conformance"
LAB_NAME_RE = re.compile(r"^[a-z0-9]{1,10}$")


def run_root() -> Path:
    """Where labs keep their run directories (``MACVLAN_CONFORMANCE_RUN_ROOT`` overrides)."""
    return Path(os.environ.get("MACVLAN_CONFORMANCE_RUN_ROOT", "/run/macvlan-conformance"))


def check_lab_name(name: str) -> str:
    if not LAB_NAME_RE.match(name):
        raise ValueError(f"--name {name!r}: a lab name is 1-10 lowercase letters or digits (e.g. 'lab1')")
    return name


@dataclass(frozen=True)
class LabNames:
    """The names one lab uses. Pure: creating one creates nothing."""

    lab: str

    @property
    def ns_prefix(self) -> str:
        return f"{PREFIX}{self.lab}-"

    @property
    def run_dir(self) -> Path:
        return run_root() / self.lab

    @property
    def state_file(self) -> Path:
        return self.run_dir / "state.json"

    @property
    def fabric_ns(self) -> str:
        return f"{self.ns_prefix}fabric"

    @property
    def router_ns(self) -> str:
        return f"{self.ns_prefix}router"

    def node_ns(self, node: str) -> str:
        return f"{self.ns_prefix}node-{node}"

    def pod_ns(self, pod: str) -> str:
        return f"{self.ns_prefix}pod-{pod}"

    def container_id(self, pod: str) -> str:
        """A 64-hex ID as container runtimes make them, derived from the lab and pod (plugins cut it: the
        coordinator names its host veth ``veth`` + the first 11 characters)."""
        return hashlib.sha256(f"{self.ns_prefix}{pod}".encode()).hexdigest()

    # link names inside the fabric namespace (global to the lab's OVS instance). A bond member is named by
    # its index, not by its NIC name (which may take all 15 bytes): the node end of member j of node i
    # (both from the topology's order; i from 1) is ``n<i>-e<j>``, its switch end ``s<i>-e<j>``.
    @staticmethod
    def node_nic(node_index: int, member_index: int) -> str:
        return f"n{node_index}-e{member_index}"

    @staticmethod
    def switch_port(node_index: int, member_index: int) -> str:
        return f"s{node_index}-e{member_index}"

    @staticmethod
    def node_bridge(node_index: int) -> str:
        return f"br-n{node_index}"

    @staticmethod
    def node_bond_port(node_index: int) -> str:
        return f"n{node_index}-bond"

    @staticmethod
    def node_master_port(node_index: int, vlan_id: int) -> str:
        return f"n{node_index}-m{vlan_id}"

    @staticmethod
    def vlanif(vlan_id: int) -> str:
        return f"vlanif{vlan_id}"

    SWITCH_BRIDGE = "br-switch"
    OVERLAY_BRIDGE = "ovl0"


def lab_of_netns(netns: str) -> str | None:
    """The lab a namespace belongs to, from its name, or None if it is not ours."""
    if not netns.startswith(PREFIX):
        return None
    rest = netns[len(PREFIX):]
    lab, sep, _ = rest.partition("-")
    return lab if sep and LAB_NAME_RE.match(lab) else None
