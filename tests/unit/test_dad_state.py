"""addressing.dad's judgement of an interface's configured IPv6 address and DAD settings (pure: facts in,
problems out). The kernel skips DAD when both ``accept_dad`` of ``all`` and of the interface are below 1
(torvalds/linux ``net/ipv6/addrconf.c`` ``addrconf_dad_begin``: ``net->ipv6.devconf_all->accept_dad < 1 &&
idev->cnf.accept_dad < 1``), and sends no probe with ``dad_transmits`` 0 (``addrconf_dad_work``: no probes left,
DAD completes at once)."""

from macvlan_conformance.probes import _dad_state_problems

ADDRESS = "fd00:100::100"
SETTLED = {"address": ADDRESS, "scope": "global", "permanent": True, "tentative": False, "dadfailed": False}
ON = {"all": {"accept_dad": 0}, "eth0": {"accept_dad": 1, "dad_transmits": 1}}


def test_a_settled_address_with_dad_on_is_fine():
    assert _dad_state_problems("eth0", ADDRESS, [SETTLED], ON) == []
    assert _dad_state_problems("eth0", "fd00:100:0::100", [SETTLED], ON) == []  # the same address, spelt otherwise


def test_a_missing_tentative_or_failed_address_is_named():
    assert "is not configured on eth0" in _dad_state_problems("eth0", ADDRESS, [], ON)[0]
    assert _dad_state_problems("eth0", ADDRESS, [{**SETTLED, "tentative": True}], ON) == [f"{ADDRESS} is tentative"]
    failed = {**SETTLED, "tentative": True, "dadfailed": True}
    assert _dad_state_problems("eth0", ADDRESS, [failed], ON) == [f"{ADDRESS} is dadfailed"]


def test_dad_off_or_unreadable_settings_are_problems():
    off = {"all": {"accept_dad": 0}, "eth0": {"accept_dad": 0, "dad_transmits": 1}}
    assert "duplicate address detection is off on eth0" in _dad_state_problems("eth0", ADDRESS, [SETTLED], off)[0]
    no_transmits = {"all": {"accept_dad": 1}, "eth0": {"accept_dad": 1, "dad_transmits": 0}}
    assert "is off" in _dad_state_problems("eth0", ADDRESS, [SETTLED], no_transmits)[0]
    via_all = {"all": {"accept_dad": 1}, "eth0": {"accept_dad": 0, "dad_transmits": 1}}
    assert _dad_state_problems("eth0", ADDRESS, [SETTLED], via_all) == []
    assert "could not be read" in _dad_state_problems("eth0", ADDRESS, [SETTLED], {"eth0": {}})[0]
