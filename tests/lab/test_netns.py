"""Entering a namespace from one thread without forking (``macvlan_conformance.netns``)."""

import os
import threading

import pytest

from macvlan_conformance.netns import inside, iproute

from .conftest import sh


@pytest.fixture
def scratch_netns():
    name = "mcltest-" + os.urandom(2).hex()
    sh("ip", "netns", "add", name)
    yield name
    sh("ip", "netns", "del", name)


def _own_netns() -> str:
    return os.readlink("/proc/thread-self/ns/net")


def test_iproute_sees_the_namespace_and_the_thread_comes_back(scratch_netns):
    home = _own_netns()
    with iproute(scratch_netns) as ipr:
        assert _own_netns() == home
        assert [link.get_attr("IFLA_IFNAME") for link in ipr.get_links()] == ["lo"]


def test_only_the_calling_thread_moves_and_an_error_still_restores_it(scratch_netns):
    home, seen, entered = _own_netns(), {}, threading.Event()

    def other_thread():  # already running when the main thread enters
        entered.wait()
        seen["other"] = _own_netns()

    worker = threading.Thread(target=other_thread)
    worker.start()
    with pytest.raises(RuntimeError), inside(scratch_netns):
        seen["inside"] = _own_netns()
        entered.set()
        worker.join()
        raise RuntimeError("boom")
    assert seen["inside"] != home and seen["other"] == home and _own_netns() == home


def test_a_missing_namespace_is_an_error_and_changes_nothing():
    home = _own_netns()
    with pytest.raises(FileNotFoundError, match="/run/netns/mcltest-missing"):
        iproute("mcltest-missing")
    assert _own_netns() == home
