"""inter-VLAN: different VLANs reach each other through exactly one vlanif hop on the switch.

MUST lines: the check registry (macvlan_conformance/checks.py), listed in reports/catalogue.yaml.
"""

import pytest


@pytest.mark.check("inter-vlan.routed")
def test_routed(case, conformance, request):
    conformance.verify(request, case)


@pytest.mark.check("inter-vlan.ttl-expiry")
def test_ttl_expiry(case, conformance, request):
    conformance.verify(request, case)
