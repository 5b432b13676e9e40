"""addressing: every pod address belongs to exactly one interface in its VLAN."""

import pytest


@pytest.mark.check("addressing.unique-ip")
def test_unique_ip(case, conformance, request):
    """No address is claimed twice in a VLAN (Spiderpool pools must not hand one out twice).

    MUST an ARP who-has for a pod's address, sent by a peer in the same VLAN, is answered by exactly one
    MAC: the pod interface's own.
    """
    conformance.verify(request, case)
