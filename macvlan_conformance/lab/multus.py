"""Multus semantics the lab implements in Python: CNI_ARGS as Multus passes them, and the
``k8s.v1.cni.cncf.io/network-status`` list built from CNI results the way Multus builds it
(network-attachment-definition-client ``CreateNetworkStatuses``)."""

from __future__ import annotations


def cni_args(namespace: str, pod: str, container_id: str, uid: str) -> str:
    return (f"IgnoreUnknown=1;K8S_POD_NAMESPACE={namespace};K8S_POD_NAME={pod};"
            f"K8S_POD_INFRA_CONTAINER_ID={container_id};K8S_POD_UID={uid}")


def network_statuses(network_name: str, result: dict, default: bool) -> list[dict]:
    """One entry per result interface that has a ``sandbox``; IPs mapped by ``ips[].interface``; ``gateway``
    from the result's default routes, on every entry (network-attachment-definition-client
    ``pkg/utils/net-attach-def.go`` ``CreateNetworkStatuses``: ``routes[].gw`` of routes to 0.0.0.0/0 or ::/0);
    ``dns`` always, ``default`` only when true, ``mtu`` where the result's interface has one (``omitempty``), and
    an address without ``interface`` on the last sandbox interface (network-attachment-definition-client
    v1.7.6, the version Multus v4.2.3 builds with). A default route without ``gw`` gives ``"<nil>"``, as the Go
    code prints a nil ``net.IP`` (seen from the real Multus on the overlay's eth0)."""
    entries = []
    interfaces = result.get("interfaces", [])
    gateways = [r.get("gw") or "<nil>" for r in result.get("routes", []) if r.get("dst") in ("0.0.0.0/0", "::/0")]
    for index, iface in enumerate(interfaces):
        if not iface.get("sandbox"):
            continue
        ips = [ip["address"].split("/")[0] for ip in result.get("ips", []) if ip.get("interface") == index]
        entry = {"name": network_name, "interface": iface["name"], "ips": ips, "mac": iface.get("mac", ""),
                 "default": default, "dns": result.get("dns", {})}
        if iface.get("mtu"):  # `mtu,omitempty`: only results of CNI 1.1 plugins carry it
            entry["mtu"] = iface["mtu"]
        if gateways:
            entry["gateway"] = gateways
        if not default:
            entry.pop("default")
        entries.append(entry)
    if entries:  # an address without ``interface`` belongs to the last sandbox interface
        entries[-1]["ips"] += [ip["address"].split("/")[0] for ip in result.get("ips", []) if "interface" not in ip]
    return entries
