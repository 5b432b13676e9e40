"""The lab's lifecycle as the CLI and the pytest fixtures use it: up, state, down, cleanup."""

from __future__ import annotations

from pathlib import Path

from ..topology import load_topology
from . import cleanup
from .builder import Progress, build_lab
from .names import LabNames, check_lab_name
from .preflight import check_host
from .state import LabState


class LabNotFound(RuntimeError):
    pass


CONTROL_PLANES = ("none", "kube")


def lab_up(topology_path: str | Path, name: str, progress: Progress | None = None,
           control_plane: str = "none") -> LabState:
    """Validate the topology and the host, then build the lab (with ``control_plane="kube"``: the kube lab,
    see ``lab.kube``). Nothing is left behind on failure."""
    check_lab_name(name)
    if control_plane not in CONTROL_PLANES:
        raise ValueError(f"--control-plane {control_plane!r}: use one of {', '.join(CONTROL_PLANES)}")
    topology = load_topology(topology_path)
    check_host()
    return build_lab(topology, topology_path, name, progress, control_plane)


def lab_state(name: str) -> LabState:
    check_lab_name(name)
    path = LabNames(name).state_file
    if not path.exists():
        running = ", ".join(cleanup.known_labs()) or "none"
        raise LabNotFound(f"no lab named {name!r} is running (labs here: {running}); "
                          f"start one with `macvlan-conformance lab up --name {name}`")
    return LabState.load(path)


def lab_down(name: str) -> list[str]:
    """Tear lab ``name`` down; raises ``LabNotFound`` if nothing of it exists."""
    check_lab_name(name)
    if name not in cleanup.known_labs():
        raise LabNotFound(f"no lab named {name!r} exists; `macvlan-conformance lab cleanup` sweeps every lab of ours")
    return cleanup.teardown(name)
