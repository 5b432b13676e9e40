"""A STAND-IN for Spiderpool's IPAM CNI plugin (``spiderpool``), not Spiderpool itself.

The real plugin (github.com/spidernet-io/spiderpool, cmd/spiderpool) cannot be built here: its Go
module is not served by the module proxy. This package is executed by the real Multus (through
libcni, as IPAM ``type: spiderpool`` of a macvlan NAD) exactly like the real binary, and implements
Spiderpool's contract from the Kubernetes API, following upstream's source: the pod annotations
``ipam.spidernet.io/ippools`` / ``ippool`` / ``routes`` (selection.py), SpiderIPPool
``status.allocatedIPs`` with optimistic concurrency (allocation.py) and the CNI result
(plugin.py). Unlike the real one it has no spiderpool-agent, SpiderEndpoint, SpiderSubnet, GC or
IP-conflict/gateway detection; the module docstrings cite what is followed and what differs.

Public API: ``plugin.main()``, ``plugin.install_plugin(bin_dir, python)``,
``plugin.KUBECONFIG_ENV``; ``selection.select_pools``, ``selection.nic_order``;
``allocation.allocate``, ``allocation.release``.
"""

from .plugin import KUBECONFIG_ENV, install_plugin, main

__all__ = ["KUBECONFIG_ENV", "install_plugin", "main"]
