"""eth0/net1 allocation: every pod got the NICs its annotations ask for, from the right masters and pools.

MUST lines: the check registry (macvlan_conformance/checks.py), listed in reports/catalogue.yaml.
"""

import pytest

from macvlan_conformance.allocation import allocation_problems
from macvlan_conformance.checks import Capability


@pytest.mark.check("allocation.interfaces")
def test_pod_interfaces(pod, target, conformance, request):
    topology = target.topology
    node = topology.node(topology.pod(pod).node)
    masters = {node.master_name(a.vlan.id, topology.switch.native_vlan)
               for a in topology.attachments(pod) if a.vlan}
    known = Capability.MASTER_IFINDEX in target.capabilities
    indexes = {m: target.master_index(node.name, m) if known else None for m in masters}
    describe = target.agent(pod).call("describe")
    conformance.conclude(request, pod, allocation_problems(topology, pod, describe, indexes), src=pod, pod=pod,
                         evidence=describe, reproducer=target.reproducer(pod, ["ip", "-d", "addr"]),
                         not_checked=conformance.not_checked("allocation.interfaces"))
