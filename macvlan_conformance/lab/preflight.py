"""What the lab needs from the host, checked before anything is created."""

from __future__ import annotations

import os
import shutil

from .cni import find_plugin_dir

TOOLS = {
    "ip": "iproute2", "nsenter": "util-linux", "ethtool": "ethtool", "sysctl": "procps",
    "ovsdb-tool": "openvswitch-switch", "ovsdb-server": "openvswitch-switch",
    "ovs-vswitchd": "openvswitch-switch", "ovs-vsctl": "openvswitch-switch",
}


class PreflightError(RuntimeError):
    pass


def check_host() -> None:
    """Raise ``PreflightError`` naming what is missing and how to get it."""
    if os.geteuid() != 0:
        raise PreflightError("the lab needs root (network namespaces, Open vSwitch); run as root or with sudo")
    missing = sorted({pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None})
    if missing:
        raise PreflightError(f"missing host packages: {' '.join(missing)}; "
                             f"apt-get install {' '.join(missing)} (or run `make setup`)")
    try:
        find_plugin_dir()
    except FileNotFoundError as exc:
        raise PreflightError(str(exc)) from None
