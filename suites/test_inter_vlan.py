"""inter-VLAN: different VLANs reach each other through exactly one vlanif hop on the switch."""

import pytest


@pytest.mark.check("inter-vlan.routed")
def test_routed(case, conformance, request):
    """A pod reaches a pod of another VLAN through its gateway.

    MUST an ICMP echo is answered with TTL 63 (exactly one routing hop).
    MUST the reply arrives from the source VLAN's vlanif MAC.
    """
    conformance.verify(request, case)


@pytest.mark.check("inter-vlan.ttl-expiry")
def test_ttl_expiry(case, conformance, request):
    """The first hop towards another VLAN is the pod's gateway.

    MUST an ICMP echo with TTL 1 is answered by ICMP time-exceeded from the gateway IP.
    MUST that answer arrives from the source VLAN's vlanif MAC.
    """
    conformance.verify(request, case)
