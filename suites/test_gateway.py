"""gateway: every pod resolves its VLAN's gateway to that VLAN's vlanif on the switch, and takes no route from
router advertisements.

MUST lines: the check registry (macvlan_conformance/checks.py), listed in reports/catalogue.yaml.
"""

import pytest


@pytest.mark.check("gateway.arp")
def test_gateway_resolves_to_vlanif(case, conformance, request):
    conformance.verify(request, case)


@pytest.mark.check("gateway.ra")
def test_no_routes_from_router_advertisements(case, conformance, request):
    conformance.verify(request, case)
