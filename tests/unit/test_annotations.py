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
    assert ann.parse_default_network("x").ref == "kube-system/x"
    assert ann.parse_default_network('[{"name":"x","namespace":"k"}]', "default").ref == "k/x"
    with pytest.raises(ValueError, match="exactly one"):
        ann.parse_default_network('[{"name":"x"},{"name":"y"}]', "default")


def test_pool_selection_per_interface_wins():
    chosen = ann.parse_pool_selection({
        ann.IPPOOL: '{"ipv4":["single"]}',
        ann.IPPOOLS: '[{"interface":"eth0","ipv4":["a"]},{"interface":"net1","ipv4":["b","c"]}]'}, NICS)
    assert chosen == {"eth0": ann.PoolChoice("a", None, False), "net1": ann.PoolChoice("b", None, False)}
    assert ann.parse_pool_selection({ann.IPPOOL: '{"ipv4":["p"]}'}, NICS) == {None: ann.PoolChoice("p", None, None)}
    with pytest.raises(ValueError, match=r"ipam.spidernet.io/ippool lists no pool"):
        ann.parse_pool_selection({ann.IPPOOL: '{"ipv4":[]}'}, NICS)


def test_pool_selection_per_family():
    """Spiderpool's annotations carry a list per family (spidernet-io/spiderpool ``pkg/types/k8s.go``
    ``AnnoPodIPPoolValue``/``AnnoIPPoolItem``: ``ipv4``, ``ipv6``); the first pool of each is the choice, and a NIC
    may name one family only (``pkg/ipam/config.go`` ``filterPoolMisspecified``)."""
    chosen = ann.parse_pool_selection({ann.IPPOOLS: '[{"interface":"eth0","ipv4":["a"],"ipv6":["a6","b6"]},'
                                                    '{"interface":"net1","ipv6":["c6"],"cleangateway":true}]'}, NICS)
    assert chosen == {"eth0": ann.PoolChoice("a", "a6", False), "net1": ann.PoolChoice(None, "c6", True)}
    assert ann.parse_pool_selection({ann.IPPOOL: '{"ipv6":["p6"]}'}, NICS) == {None: ann.PoolChoice(None, "p6")}


NICS = ["eth0", "net1"]


def test_ippools_entries_without_interface_serve_the_nics_in_order():
    """spidernet-io/spiderpool pkg/ipam/utils.go validateAndMutateMultipleNICAnnotations: entries all name
    their interface or none does; unnamed entries serve the pod's NICs in order (the Spiderpool stand-in's
    reading too: spiderpool_standin/selection.py)."""
    chosen = ann.parse_pool_selection({ann.IPPOOLS: '[{"ipv4":["a"]},{"ipv4":["b"],"cleangateway":true}]'}, NICS)
    assert chosen == {"eth0": ann.PoolChoice("a", None, False), "net1": ann.PoolChoice("b", None, True)}


BAD_POOL_SELECTIONS = [
    # (case, annotations, words the message must contain)
    ("ippools not JSON", {ann.IPPOOLS: "[{"}, ["ipam.spidernet.io/ippools is not valid JSON"]),
    ("ippools an object", {ann.IPPOOLS: '{"interface":"eth0"}'}, ["ipam.spidernet.io/ippools must be a non-empty "
                                                                    "JSON list"]),
    ("ippools empty", {ann.IPPOOLS: "[]"}, ["must be a non-empty JSON list", "got []"]),
    ("entry not an object", {ann.IPPOOLS: '["eth0"]'}, ["ipam.spidernet.io/ippools[0] must be a JSON object"]),
    ("interface not a string", {ann.IPPOOLS: '[{"interface":1,"ipv4":["a"]}]'},
     ["ipam.spidernet.io/ippools[0].interface must be a string", "got 1"]),
    ("ipv4 a string", {ann.IPPOOLS: '[{"interface":"eth0","ipv4":"a"}]'},
     ["ipam.spidernet.io/ippools[0].ipv4 must be a list of pool names", "got 'a'"]),
    ("ipv4 of numbers", {ann.IPPOOLS: '[{"interface":"eth0","ipv4":[1]}]'}, ["[0].ipv4 must be a list"]),
    ("no family", {ann.IPPOOLS: '[{"interface":"eth0"}]'}, ["ippools[0] lists no pool", '"ipv6"']),
    ("both families empty", {ann.IPPOOLS: '[{"interface":"eth0","ipv4":[],"ipv6":[]}]'}, ["[0] lists no pool"]),
    ("cleangateway a string", {ann.IPPOOLS: '[{"interface":"eth0","ipv4":["a"],"cleangateway":"yes"}]'},
     ["ipam.spidernet.io/ippools[0].cleangateway must be true or false", "got 'yes'"]),
    ("ipv6 not a list", {ann.IPPOOLS: '[{"interface":"eth0","ipv4":["a"],"ipv6":"b"}]'}, ["[0].ipv6 must be a list"]),
    ("ipv6 of numbers", {ann.IPPOOL: '{"ipv6":[6]}'}, ["ipam.spidernet.io/ippool.ipv6 must be a list", "got [6]"]),
    ("named and unnamed", {ann.IPPOOLS: '[{"interface":"eth0","ipv4":["a"]},{"ipv4":["b"]}]'},
     ["ipam.spidernet.io/ippools[1].interface", "every entry an \"interface\" or none"]),
    ("interface twice", {ann.IPPOOLS: '[{"interface":"eth0","ipv4":["a"]},{"interface":"eth0","ipv4":["b"]}]'},
     ["ipam.spidernet.io/ippools[1].interface", "'eth0' has an earlier entry"]),
    ("interface the pod lacks", {ann.IPPOOLS: '[{"interface":"eth0","ipv4":["a"]},{"interface":"net2","ipv4":["b"]}]'},
     ["ipam.spidernet.io/ippools[1].interface", "no interface 'net2'", "its interfaces are eth0, net1"]),
    ("more unnamed entries than NICs", {ann.IPPOOLS: '[{"ipv4":["a"]},{"ipv4":["b"]},{"ipv4":["c"]}]'},
     ["ipam.spidernet.io/ippools[2]", "(eth0, net1)", "remove it"]),
    ("ippool not an object", {ann.IPPOOL: '["a"]'}, ["ipam.spidernet.io/ippool must be a JSON object"]),
    ("ippool ipv4 a string", {ann.IPPOOL: '{"ipv4":"a"}'}, ["ipam.spidernet.io/ippool.ipv4 must be a list"]),
]


@pytest.mark.parametrize("case, annotations, words", BAD_POOL_SELECTIONS, ids=[b[0] for b in BAD_POOL_SELECTIONS])
def test_bad_pool_selection_names_key_entry_and_field(case, annotations, words):
    with pytest.raises(ValueError) as info:
        ann.parse_pool_selection(annotations, NICS)
    for word in words:
        assert word in str(info.value), f"{word!r} not in {str(info.value)!r}"


@pytest.mark.parametrize("value, message", [
    ('{"name":"a"}', "must be a JSON list"),
    ('[{"name":"a","interface":7}]', r"networks\[0\].interface must be a string, got 7"),
    ('[{"name":"a","namespace":["x"]}]', r"networks\[0\].namespace must be a string"),
])
def test_networks_json_fields_are_typed(value, message):
    """Multus decodes the JSON form into NetworkSelectionElement (pkg/types/types.go): a field of the wrong
    type is an error there, and here it names the entry and the field."""
    with pytest.raises(ValueError, match=message):
        ann.parse_networks(value, "default")


def test_every_spiderpool_nic_gets_a_default_route_unless_its_gateway_is_cleaned(reference_data):
    """Spiderpool returns a default route through the pool gateway for every NIC it allocates unless the
    pod's ``ippools`` entry for that NIC says ``cleangateway: true`` (spidernet-io/spiderpool
    cmd/spiderpool/cmd/command_add.go, pkg/utils/convert/convert.go); the single ``ippool`` form applies to
    every Spiderpool NIC and takes its gateway cleaning from the network's IPAM (pkg/ipam/pool_selections.go
    getPoolCandidates), which cleans it on macvlan-overlay networks here (Network.clean_gateway)."""
    from macvlan_conformance.topology import parse_topology, resolve_attachments
    t = parse_topology(reference_data)
    dual = {a.ifname: a for a in resolve_attachments(t, t.pod("sa-w2-dual"))}
    assert dual["eth0"].default_route and not dual["net1"].default_route  # cleangateway: true on net1
    pod = t.pod("sa-w2-dual").model_copy(update={"annotations": {
        **t.pod("sa-w2-dual").annotations,
        ann.IPPOOLS: '[{"interface":"eth0","ipv4":["vlan200-v4"]},{"interface":"net1","ipv4":["vlan100-v4"]}]'}})
    assert all(a.default_route for a in resolve_attachments(t, pod))  # without it: two default routes
    overlay = {a.ifname: a for a in resolve_attachments(t, t.pod("ov-w1"))}
    assert overlay["eth0"].default_route and not overlay["net1"].default_route
    with pytest.raises(ValueError, match="cleangateway must be true or false"):
        ann.parse_pool_selection({ann.IPPOOLS: '[{"interface":"eth0","ipv4":["a"],"cleangateway":"yes"}]'}, NICS)


def test_multus_interface_names():
    assert ann.interface_names(3) == ["net1", "net2", "net3"]


def test_multus_semantics_of_the_annotations():
    """As multus-cni reads them (pkg/k8sclient/k8sclient.go): a bare default-network name is in Multus' own
    namespace (tryLoadK8sPodDefaultNetwork, multusNamespace = kube-system); the networks value is JSON when
    it contains any of [{" (parsePodNetworkAnnotation); selection keys Multus does not know are ignored, as
    Go's JSON decoding ignores them, and interfaceRequest is the old name of interface (pkg/types/types.go)."""
    assert ann.parse_default_network("macvlan-standalone-vlan100").ref == "kube-system/macvlan-standalone-vlan100"
    assert [s.ref for s in ann.parse_networks(' {"name":"a"}'.replace(" {", "[{") + "]", "ns")] == ["ns/a"]
    sel = ann.parse_networks('[{"name":"a","interfaceRequest":"net7","cni-args":{"x":1},"bogus":true}]', "ns")
    assert sel == [ann.NetworkSelection("ns", "a", "net7")]
    with pytest.raises(ValueError, match="not valid JSON"):
        ann.parse_networks('a"b', "ns")  # a quote makes it JSON for Multus, and this is no JSON


# --- per-family pool lists on a dual-stack topology --------------------------------------------------------
def test_ipv6_lists_in_both_annotation_forms():
    """Each form carries an ``ipv4`` and/or an ``ipv6`` list; the first pool of each is the choice, and an empty
    list of one family leaves that family out."""
    both = ann.parse_pool_selection({ann.IPPOOL: '{"ipv4":["a","b"],"ipv6":["a6"]}'}, NICS)
    assert both == {None: ann.PoolChoice("a", "a6", None)}
    assert ann.parse_pool_selection({ann.IPPOOL: '{"ipv4":[],"ipv6":["a6"]}'}, NICS) == \
        {None: ann.PoolChoice(None, "a6", None)}
    unnamed = ann.parse_pool_selection({ann.IPPOOLS: '[{"ipv6":["a6"]},{"ipv4":["b"],"ipv6":["b6"]}]'}, NICS)
    assert unnamed == {"eth0": ann.PoolChoice(None, "a6", False), "net1": ann.PoolChoice("b", "b6", False)}


@pytest.mark.parametrize("value, words", [
    ('{"ipv6":[]}', ["ipam.spidernet.io/ippool lists no pool", '"ipv6": ["vlan100-v6"]']),
    ('{"ipv6":"a6"}', ['ipam.spidernet.io/ippool.ipv6 must be a list of pool names like ["vlan100-v6"]', "got 'a6'"]),
    ('{"ipv6":[""]}', ["ipam.spidernet.io/ippool.ipv6 must be a list of pool names"]),
    ('{"ipv4":["a"],"ipv6":{"x":1}}', ["ipam.spidernet.io/ippool.ipv6 must be a list"]),
])
def test_bad_ipv6_lists(value, words):
    with pytest.raises(ValueError) as info:
        ann.parse_pool_selection({ann.IPPOOL: value}, NICS)
    for word in words:
        assert word in str(info.value), f"{word!r} not in {str(info.value)!r}"


def _dual():
    from macvlan_conformance.topology import load_topology

    from ..conftest import TOPOLOGIES
    return load_topology(TOPOLOGIES / "dual-stack.yaml")


def _resolve(t, pod: str, annotations: dict):
    from macvlan_conformance.topology import resolve_attachments
    original = t.pod(pod)
    return resolve_attachments(t, original.model_copy(update={"annotations": {**original.annotations, **annotations}}))


def test_a_nic_gets_the_families_its_annotation_names():
    """On a dual-stack topology a NIC may take one family only (spidernet-io/spiderpool pkg/ipam/config.go
    filterPoolMisspecified); without an annotation it takes the network's pool of each family."""
    t = _dual()
    overlay = _resolve(t, "ov-w1", {ann.IPPOOL: '{"ipv6":["vlan100-v6"]}'})
    assert [(a.ifname, [p.name for p in a.pools], a.families) for a in overlay] == \
        [("eth0", [], (4,)), ("net1", ["vlan100-v6"], (6,))]
    dual = _resolve(t, "sa-w2-dual", {ann.IPPOOLS: '[{"interface":"net1","ipv6":["vlan100-v6"],"ipv4":["vlan100-v4"]},'
                                                   '{"interface":"eth0","ipv4":["vlan200-v4"]}]'})
    assert [(a.ifname, a.families, a.pool.name) for a in dual] == [("eth0", (4,), "vlan200-v4"),
                                                                   ("net1", (4, 6), "vlan100-v4")]
    plain = _resolve(t, "ov-w2", {})
    assert [p.name for p in plain[1].pools] == ["vlan200-v4", "vlan200-v6"] and plain[1].pool_of(6).family == 6


@pytest.mark.parametrize("annotations, words", [
    ({ann.IPPOOL: '{"ipv4":["vlan100-v6"]}'},
     ["interface net1 lists IP pool vlan100-v6 under ipv4, but it is an IPv6 pool", "expect an IPv4 IPPool",
      "list it under ipv6"]),
    ({ann.IPPOOL: '{"ipv4":["vlan100-v4"],"ipv6":["vlan100-v4"]}'},
     ["interface net1 lists IP pool vlan100-v4 under ipv6, but it is an IPv4 pool", "list it under ipv4"]),
    ({ann.IPPOOLS: '[{"interface":"net1","ipv6":["nope6"]}]'},
     ["interface net1 selects IP pool 'nope6', which is not defined", "vlan100-v6"]),
])
def test_a_pool_listed_under_the_other_family_is_refused(annotations, words):
    """spidernet-io/spiderpool pkg/ipam/utils.go: "expect an IPv4 IPPool, but the version of the IPPool ... is
    IPv6"."""
    with pytest.raises(ValueError) as info:
        _resolve(_dual(), "ov-w1", annotations)
    for word in words:
        assert word in str(info.value), f"{word!r} not in {str(info.value)!r}"
