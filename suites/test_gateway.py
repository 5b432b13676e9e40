"""gateway: every pod resolves its VLAN's gateway to that VLAN's vlanif on the switch.

MUST lines: the check registry (macvlan_conformance/checks.py), listed in reports/catalogue.yaml.
"""

import pytest


@pytest.mark.check("gateway.arp")
def test_gateway_resolves_to_vlanif(case, conformance, request):
    conformance.verify(request, case)
