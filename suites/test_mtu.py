"""MTU: pods inherit their master's MTU, and a full-size frame crosses the switch.

MUST lines: the check registry (macvlan_conformance/checks.py), listed in reports/catalogue.yaml.
"""

import pytest


@pytest.mark.check("mtu.df-ping")
def test_mtu(case, conformance, request):
    conformance.verify(request, case)
