"""intra-VLAN: pods in the same VLAN reach each other directly, on one node and across nodes.

MUST lines: the check registry (macvlan_conformance/checks.py), listed in reports/catalogue.yaml.
"""

import pytest


@pytest.mark.check("intra-vlan.same-node")
def test_same_node(case, conformance, request):
    conformance.verify(request, case)


@pytest.mark.check("intra-vlan.cross-node")
def test_cross_node(case, conformance, request):
    conformance.verify(request, case)
