"""The host-global neighbour (ARP) table, sized for the lab.

Every lab namespace shares one kernel ARP table, limited host-wide by
``net.ipv4.neigh.default.gc_thresh{1,2,3}`` (128/512/1024 by default). A real cluster spreads its
entries over many kernels; the lab puts them all in one, and a large topology overflows it ("neighbor
table overflow": entries are refused or collected mid-run, and probes fail for no network reason). So
``ensure_capacity`` raises the limits when a topology needs more, saving the host's values once in the
run root; ``restore`` puts them back when the last lab is gone.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..topology import Topology
from .names import run_root

SYSCTL = Path("/proc/sys/net/ipv4/neigh/default")
KEYS = ("gc_thresh1", "gc_thresh2", "gc_thresh3")


def _saved() -> Path:
    return run_root() / "neigh-defaults.json"


def needed_entries(t: Topology) -> int:
    """Entries the lab may hold at once: every interface knows its VLAN peers and gateway, the router and
    the nodes know every interface of their VLANs, plus headroom."""
    per_vlan: dict[int | None, int] = {}
    for pod in t.pods:
        for att in t.attachments(pod.name):
            key = att.vlan.id if att.vlan else None
            per_vlan[key] = per_vlan.get(key, 0) + 1
    pairs = sum(n * (n + 1) for n in per_vlan.values())
    return pairs + 2 * sum(per_vlan.values()) + 8 * len(t.nodes) + 64


def current() -> dict[str, int]:
    return {key: int((SYSCTL / key).read_text()) for key in KEYS}


def ensure_capacity(t: Topology) -> dict[str, int] | None:
    """Raise the host's limits if ``t`` needs more; returns the new values, or None if nothing changed."""
    need = needed_entries(t)
    values = current()
    if values["gc_thresh1"] >= need:
        return None
    saved = _saved()
    if not saved.exists():
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(values))
    wanted = {"gc_thresh1": need, "gc_thresh2": 2 * need, "gc_thresh3": 4 * need}
    for key in reversed(KEYS):  # thresh3 first, so the three stay ordered while they change
        (SYSCTL / key).write_text(str(max(values[key], wanted[key])))
    return current()


def restore() -> bool:
    """Put the host's saved limits back (call when no lab is left). Returns True if it did."""
    saved = _saved()
    if not saved.exists():
        return False
    values = json.loads(saved.read_text())
    for key in KEYS:  # thresh1 first: lowering in this order keeps them ordered
        (SYSCTL / key).write_text(str(values[key]))
    saved.unlink()
    return True
