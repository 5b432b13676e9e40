"""isolation: VLANs are separate broadcast domains, and macvlan children cannot reach their own master.

Every negative check runs next to a positive control; a failed control fails the check as inconclusive.
"""

import pytest


@pytest.mark.check("isolation.cross-vlan-arp")
def test_cross_vlan_arp(case, conformance, request):
    """ARP does not cross VLANs.

    MUST an ARP who-has for an address in another VLAN gets no reply.
    MUST (control) an ARP who-has for a same-VLAN peer from the same pod gets a reply.
    """
    conformance.verify(request, case)


@pytest.mark.check("isolation.broadcast")
def test_broadcast_domain(case, conformance, request):
    """A broadcast frame stays in its VLAN.

    MUST a broadcast marker sent in one VLAN is not captured by any interface of another VLAN.
    MUST (control) the same marker is captured by another pod in the sender's VLAN.
    """
    conformance.verify(request, case)


@pytest.mark.check("isolation.own-master")
def test_own_master_unreachable(case, conformance, request):
    """macvlan parent isolation: a child cannot talk to its own master.

    MUST a ping from a macvlan pod to its own master's IP (the node IP on bond0) gets no reply.
    MUST (control) a pod of the same VLAN on another node reaches that master IP.
    """
    conformance.verify(request, case)
