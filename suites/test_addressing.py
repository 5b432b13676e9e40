"""addressing: every pod address belongs to exactly one interface in its VLAN.

MUST lines: the check registry (macvlan_conformance/checks.py), listed in reports/catalogue.yaml.
"""

import pytest


@pytest.mark.check("addressing.unique-ip")
def test_unique_ip(case, conformance, request):
    conformance.verify(request, case)
