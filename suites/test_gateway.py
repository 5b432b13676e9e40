"""gateway: every pod resolves its VLAN's gateway to that VLAN's vlanif on the switch."""

import pytest


@pytest.mark.check("gateway.arp")
def test_gateway_resolves_to_vlanif(case, conformance, request):
    """ARP for the pool gateway is answered by the switch vlanif of the pod's VLAN, and only by it.

    MUST exactly one MAC answers ARP for the gateway IP.
    MUST that MAC is the vlanif of the pod's VLAN.
    """
    conformance.verify(request, case)
