"""Multus/Spiderpool annotation parsing in both Multus forms."""

import pytest

from macvlan_conformance import annotations as ann


def test_comma_form_with_namespaces_and_ifnames():
    sel = ann.parse_networks("kube-system/a@net5, b ,other/c", "default")
    assert [(s.namespace, s.name, s.interface) for s in sel] == [
        ("kube-system", "a", "net5"), ("default", "b", None), ("other", "c", None)]


def test_json_form():
    sel = ann.parse_networks('[{"name":"a","namespace":"kube-system","interface":"net3"},{"name":"b"}]', "ns")
    assert [(s.ref, s.interface) for s in sel] == [("kube-system/a", "net3"), ("ns/b", None)]


@pytest.mark.parametrize("value, message", [
    ('[{"nam":"a"}]', "needs a string 'name'"),
    ('[{"name":"a","bogus":1}]', "unknown key"),
    ("[{", "not valid JSON"),
    ("a/b/c", "more than one '/'"),
    (" , ", "empty network reference"),
])
def test_bad_networks(value, message):
    with pytest.raises(ValueError, match=message):
        ann.parse_networks(value, "default")


def test_default_network_forms():
    assert ann.parse_default_network("kube-system/x", "default").ref == "kube-system/x"
    assert ann.parse_default_network("x", "default").ref == "default/x"
    assert ann.parse_default_network('[{"name":"x","namespace":"k"}]', "default").ref == "k/x"
    with pytest.raises(ValueError, match="exactly one"):
        ann.parse_default_network('[{"name":"x"},{"name":"y"}]', "default")


def test_pool_selection_per_interface_wins():
    chosen = ann.parse_pool_selection({
        ann.IPPOOL: '{"ipv4":["single"]}',
        ann.IPPOOLS: '[{"interface":"eth0","ipv4":["a"]},{"interface":"net1","ipv4":["b","c"]}]'})
    assert chosen == {"eth0": "a", "net1": "b"}
    assert ann.parse_pool_selection({ann.IPPOOL: '{"ipv4":["p"]}'}) == {None: "p"}
    with pytest.raises(ValueError, match='non-empty "ipv4"'):
        ann.parse_pool_selection({ann.IPPOOL: '{"ipv4":[]}'})


def test_multus_interface_names():
    assert ann.interface_names(3) == ["net1", "net2", "net3"]
