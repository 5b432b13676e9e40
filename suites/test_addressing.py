"""addressing: every pod address belongs to exactly one interface in its VLAN (IPv6: duplicate address detection
runs and defends it), and peers follow an address that moves to a new MAC.

MUST lines: the check registry (macvlan_conformance/checks.py), listed in reports/catalogue.yaml.
"""

import pytest


@pytest.mark.check("addressing.unique-ip")
def test_unique_ip(case, conformance, request):
    conformance.verify(request, case)


@pytest.mark.check("addressing.ip-reuse")
def test_ip_reuse(case, conformance, request):
    conformance.verify(request, case)


@pytest.mark.check("addressing.dad")
def test_duplicate_address_detection(case, conformance, request):
    conformance.verify(request, case)
