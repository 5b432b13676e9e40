"""intra-VLAN: pods in the same VLAN reach each other directly, on one node and across nodes."""

import pytest


@pytest.mark.check("intra-vlan.same-node")
def test_same_node(case, conformance, request):
    """Same VLAN, same node: macvlan bridge mode switches the frame between siblings.

    MUST an ICMP echo is answered with TTL 64 (no router on the path).
    MUST the reply's source MAC is the peer's own interface MAC.
    """
    conformance.verify(request, case)


@pytest.mark.check("intra-vlan.cross-node")
def test_cross_node(case, conformance, request):
    """Same VLAN, different nodes: across both bonds and the switch trunk, still one L2 domain.

    MUST an ICMP echo is answered with TTL 64 (no router on the path).
    MUST the reply's source MAC is the peer's own interface MAC.
    """
    conformance.verify(request, case)
