"""A stand-in for kube-proxy on the kube lab's nodes, for the one Service the lab has: ``default/kubernetes``.

kube-proxy (nftables mode) DNATs a Service's ClusterIP and port to its endpoints in the node's network
namespace, for traffic the node routes (pods behind the overlay's bridge, or behind the coordinator's veth0)
and for the node's own. The lab has no kube-proxy; this writes the equivalent rule for the ``kubernetes``
Service, whose endpoint is the API server: ``ip daddr <ClusterIP> tcp dport 443 dnat to <node IP>:<port>``,
where the node agent relays that port to kube-apiserver (``api_route.ApiRelay``). It is named a stand-in
everywhere; a standalone pod without the coordinator has no path to it, as on a cluster.
"""

from __future__ import annotations

from ..lab.commands import run

TABLE = "mc_kube_proxy"  # the stand-in's table in the node's namespace (gone with the namespace)


def rules(cluster_ip: str, port: int, node_ip: str, target_port: int) -> str:
    """The nftables ruleset: routed traffic (prerouting) and the node's own (output)."""
    match = f"ip daddr {cluster_ip} tcp dport {port} dnat ip to {node_ip}:{target_port}"
    return (f"table ip {TABLE} {{\n"
            f"  chain prerouting {{\n    type nat hook prerouting priority dstnat;\n    {match}\n  }}\n"
            f"  chain output {{\n    type nat hook output priority -100;\n    {match}\n  }}\n}}\n")


def install(netns: str, cluster_ip: str, port: int, node_ip: str, target_port: int) -> None:
    run(["nft", "-f", "-"], netns=netns, input=rules(cluster_ip, port, node_ip, target_port))


def remove(netns: str) -> None:
    run(["nft", "delete", "table", "ip", TABLE], netns=netns, check=False)
