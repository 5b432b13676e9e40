"""The opt-in host probe (``--host-probe``): one hostNetwork pod per node running the same agent, read-only,
so that the host side can be checked where kubernetes-nmstate is not installed.

It reads the node's links once (``describe``) and checks what the topology says of the node: ``bond0``
exists and is up with the topology's members, and each ``bond0.<vid>`` master exists, is up, and is a VLAN
of the bond with that id. A master that is not a kernel VLAN (an Open vSwitch port, say) is reported as
such; its VLAN id cannot be read from the host and is not judged. The masters' ifindexes let the
allocation check verify that a pod's macvlan sits on the right master.
"""

from __future__ import annotations

from ..topology import Node, Topology
from .scope import RunScope

ROLE_LABEL = "macvlan-conformance.io/role"


def pod_name(node: str) -> str:
    return f"host-probe-{node}"[:253]


def host_probe_pod(node: str, scope: RunScope, image: str) -> dict:
    """A hostNetwork pod on ``node``; it only reads (``describe``), NET_ADMIN is not needed."""
    labels = {**scope.labels, ROLE_LABEL: "host-probe"}
    container = {"name": "probe", "image": image, "imagePullPolicy": "IfNotPresent", "command": ["sleep", "infinity"],
                 "securityContext": {"allowPrivilegeEscalation": False, "runAsUser": 0,
                                     "capabilities": {"drop": ["ALL"], "add": ["NET_RAW"]}},
                 "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod_name(node), "namespace": scope.namespace, "labels": labels},
            "spec": {"nodeName": node, "hostNetwork": True, "containers": [container], "restartPolicy": "Never",
                     "terminationGracePeriodSeconds": 0, "automountServiceAccountToken": False,
                     "enableServiceLinks": False, "tolerations": [{"operator": "Exists"}]}}


def host_problems(topology: Topology, node: Node, links: list[dict]) -> tuple[list[str], list[str]]:
    """(problems, notes) for ``node`` from its ``describe`` links."""
    by_name = {link["name"]: link for link in links}
    by_index = {link["index"]: link for link in links}
    problems, notes = [], []
    bond = by_name.get(node.bond.name)
    if bond is None:
        return [f"{node.name}: no {node.bond.name} on the host (apply `macvlan-conformance render --host-config`)"], notes
    if not bond["up"]:
        problems.append(f"{node.name}: {node.bond.name} is down")
    if bond["kind"] == "bond":
        members = sorted(link["name"] for link in links if link.get("master_index") == bond["index"])
        if members != sorted(node.bond.members):
            problems.append(f"{node.name}: {node.bond.name} has members {members}, the topology says "
                            f"{sorted(node.bond.members)}")
    else:
        notes.append(f"{node.name}: {node.bond.name} is a {bond['kind'] or 'plain'} link, not a kernel bond; "
                     f"its members were not checked")
    for vid in node.vlans:
        name = f"{node.bond.name}.{vid}"
        master = by_name.get(name)
        if master is None:
            problems.append(f"{node.name}: master {name} does not exist")
            continue
        if not master["up"]:
            problems.append(f"{node.name}: master {name} is down")
        if master["kind"] == "vlan":
            parent = by_index.get(master.get("parent_index"), {}).get("name")
            if master.get("vlan_id") != vid or parent != node.bond.name:
                problems.append(f"{node.name}: master {name} is VLAN {master.get('vlan_id')} on {parent}, "
                                f"expected VLAN {vid} on {node.bond.name}")
        else:
            notes.append(f"{node.name}: master {name} is a {master['kind'] or 'plain'} link, not a kernel VLAN; "
                         f"its VLAN id was not checked")
    return problems, notes
