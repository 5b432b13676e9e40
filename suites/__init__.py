"""The conformance suites (``macvlan_conformance.suites`` when installed from the wheel)."""
