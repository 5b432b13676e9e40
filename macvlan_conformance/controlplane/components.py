"""Where the real component binaries are: built by ``components/build.sh`` (pinned Go modules) into a cache
outside the repository, or named by ``MACVLAN_CONFORMANCE_COMPONENTS`` (a directory with kube-apiserver,
kube-controller-manager, etcd and multus)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .processes import ControlPlaneError

BUILD_SCRIPT = Path(__file__).resolve().parents[2] / "components" / "build.sh"
BINARIES = ("kube-apiserver", "kube-controller-manager", "etcd", "multus")


def component_binaries(progress=lambda step: None) -> Path:
    """The bin directory, building what is missing (a cold build takes about 20 minutes on 2 cores)."""
    given = os.environ.get("MACVLAN_CONFORMANCE_COMPONENTS")
    if given:
        directory = Path(given)
        missing = [b for b in BINARIES if not (directory / b).is_file()]
        if missing:
            raise ControlPlaneError(f"MACVLAN_CONFORMANCE_COMPONENTS={given}: missing {', '.join(missing)}")
        return directory
    if not BUILD_SCRIPT.exists():
        raise ControlPlaneError("the kube lab needs kube-apiserver, kube-controller-manager, etcd and multus: set "
                                "MACVLAN_CONFORMANCE_COMPONENTS to a directory holding them, or run "
                                "components/build.sh from a clone of macvlan-conformance")
    progress("control plane: building or finding the component binaries (components/build.sh)")
    proc = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-8:])
        raise ControlPlaneError(f"components/build.sh failed (exit {proc.returncode}):\n{tail}")
    return Path(proc.stdout.strip().splitlines()[-1])
