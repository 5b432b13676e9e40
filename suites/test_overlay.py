"""overlay coexistence: macvlan-overlay pods still talk normally to overlay pods over eth0."""

import pytest


@pytest.mark.check("overlay.coexistence")
def test_overlay_pods_talk(case, conformance, request):
    """Overlay eth0 of plain overlay pods and of macvlan-overlay pods reach each other, across nodes.

    MUST an ICMP echo over eth0 between overlay interfaces is answered.
    """
    conformance.verify(request, case)
