"""isolation: VLANs are separate broadcast domains, and macvlan children cannot reach their own master.

Every negative check runs next to a positive control; a failed control fails the check as inconclusive.

MUST lines: the check registry (macvlan_conformance/checks.py), listed in reports/catalogue.yaml.
"""

import pytest


@pytest.mark.check("isolation.cross-vlan-arp")
def test_cross_vlan_arp(case, conformance, request):
    conformance.verify(request, case)


@pytest.mark.check("isolation.broadcast")
def test_broadcast_domain(case, conformance, request):
    conformance.verify(request, case)


@pytest.mark.check("isolation.own-master")
def test_own_master_unreachable(case, conformance, request):
    conformance.verify(request, case)
