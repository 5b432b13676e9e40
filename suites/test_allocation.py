"""eth0/net1 allocation: every pod got the NICs its annotations ask for, from the right masters and pools."""

import pytest

from macvlan_conformance.allocation import allocation_problems
from macvlan_conformance.expectations import Judgement, Verdict


@pytest.mark.check("allocation.interfaces")
def test_pod_interfaces(pod, target, conformance, request):
    """Each pod's interfaces match its Multus annotations.

    MUST standalone: eth0 is a macvlan child (bridge mode, or the network's mode) of that node's bond0.<vid>.
    MUST standalone: eth0's IP is in the selected pool; the default route goes via the pool gateway.
    MUST overlay: eth0 is the overlay's interface (IP in the node's pod CIDR) and keeps the default route.
    MUST overlay: the macvlan is net1 (or the annotated name), IP in its pool, no default route.
    MUST dual-NIC standalone: the extra macvlan NIC sits on its own VLAN master, without a default route.
    """
    topology = target.topology
    node = topology.node(topology.pod(pod).node)
    masters = {node.master_name(a.vlan.id, topology.switch.native_vlan)
               for a in topology.attachments(pod) if a.vlan}
    describe = target.agent(pod).call("describe")
    problems = allocation_problems(topology, pod, describe, {m: target.master_index(node.name, m) for m in masters})
    judgement = Judgement(not problems, Verdict.MATCHES, Verdict.MISMATCH if problems else Verdict.MATCHES,
                          "; ".join(problems))
    conformance.record(request, "allocation.interfaces", judgement, src=pod, pod=pod, evidence=describe,
                       reproducer=target.reproducer(pod, ["ip", "-d", "addr"]))
    assert not problems, f"{pod}: " + "\n  ".join(problems)
