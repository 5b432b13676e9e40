"""overlay coexistence: macvlan-overlay pods still talk normally to overlay pods over eth0.

MUST lines: the check registry (macvlan_conformance/checks.py), listed in reports/catalogue.yaml.
"""

import pytest


@pytest.mark.check("overlay.coexistence")
def test_overlay_pods_talk(case, conformance, request):
    conformance.verify(request, case)
