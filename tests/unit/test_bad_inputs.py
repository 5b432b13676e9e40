"""The bad-input corpus: topology files, pod annotations, CLI options, kubeconfigs and results files that
must each be refused by the real CLI (a subprocess, as a user runs it) with a non-zero exit, no traceback,
one short line naming the file or option, the field and the fix, and nothing left behind (DESIGN.md 5)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ..conftest import ROOT, TOPOLOGIES

REFERENCE = yaml.safe_load((TOPOLOGIES / "reference.yaml").read_text())
DUAL_STACK = yaml.safe_load((TOPOLOGIES / "dual-stack.yaml").read_text())  # ippools[3:6] the IPv6 pools
IPV6_ONLY = yaml.safe_load((TOPOLOGIES / "ipv6-only.yaml").read_text())
HEALTHY = json.loads((ROOT / "tests" / "data" / "healthy.json").read_text())
BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(8))
KUBECONFIG = {"apiVersion": "v1", "kind": "Config",
              "clusters": [{"name": "lab", "cluster": {"server": "https://127.0.0.1:6443"}}],
              "users": [{"name": "me", "user": {"token": "s3cret-t0ken"}}],
              "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "me"}}],
              "current-context": "lab"}
MAX_OUTPUT = 2048


def _edit(data, changes: dict) -> object:
    """``data`` with ``changes`` applied: ``{path tuple: value}``; a value of ``...`` deletes the key."""
    data = copy.deepcopy(data)
    for path, value in changes.items():
        target = data
        for key in path[:-1]:
            target = target[key]
        if value is ...:
            del target[path[-1]]
        else:
            target[path[-1]] = value
    return data


def topology(changes: dict, base=REFERENCE) -> str:
    return yaml.safe_dump(_edit(base, changes), sort_keys=False)


def dual_stack(changes: dict) -> str:
    return topology(changes, DUAL_STACK)


def annotation(pod: int, key: str, value) -> str:
    return topology({("pods", pod, "annotations", key): value})


def kubeconfig(changes: dict) -> str:
    return yaml.safe_dump(_edit(KUBECONFIG, changes))


def results(changes: dict) -> str:
    return json.dumps(_edit(HEALTHY, changes))


def render(words, content, name="t.yaml"):
    """``render --topology t.yaml`` on ``content``: the message names the file and ``words``."""
    return ["render", "--topology", name], [name, *words], {name: content}


def cleanup(words, content, *extra):
    return ["cluster", "cleanup", "--kubeconfig", "k.yaml", *extra], ["--kubeconfig k.yaml", *words], \
        {"k.yaml": content}


def report(words, content, *, baseline=False):
    """``report`` with the bad results file as the run (or, ``baseline``, as the baseline of a good run)."""
    argv = ["report", "good.json", "--baseline", "bad.json"] if baseline else ["report", "bad.json"]
    return argv + ["--html", "out.html", "--history", "history.jsonl"], ["bad.json", *words], \
        {"bad.json": content, "good.json": json.dumps(HEALTHY)}


SPIDER = "ipam.spidernet.io/ippools"
DUAL = 7  # sa-w2-dual: eth0 in VLAN 200, net1 in VLAN 100, ippools names both
CASES = {
    # --- topology files: the classes of bad content --------------------------------------------------
    "topology/unknown key": render(["pods[0].nod", "unknown key; remove it"], topology({("pods", 0, "nod"): "x"})),
    "topology/missing key": render(["overlay: required key is missing; add it"], topology({("overlay",): ...})),
    "topology/number as text": render(["vlans[1].id", "write a whole number"], topology({("vlans", 1, "id"): "one"})),
    "topology/text for a list": render(["nodes[0].vlans", "write a YAML list"],
                                       topology({("nodes", 0, "vlans"): "100"})),
    "topology/not an address": render(["vlans[1].gateway", "write an IPv4 address"],
                                      topology({("vlans", 1, "gateway"): "gw"})),
    "topology/host bits in a subnet": render(["vlans[1].subnet", "host bits zero"],
                                             topology({("vlans", 1, "subnet"): "10.100.0.1/24"})),
    "topology/markup in a value": render(["pods[0].node: '[/red]' is not a node", "use one of worker1"],
                                         topology({("pods", 0, "node"): "[/red]"})),
    "topology/a list, not a mapping": render(["top level must be a mapping"], "- name: x\n"),
    "topology/empty file": render(["top level must be a mapping"], ""),
    "topology/syntax error": render(["not valid YAML at line", "check --topology"], "name: [x\nvlans: 1\n"),
    "topology/vlan gateway is the network address": render(
        ["vlans[1].gateway", "network address of 10.100.0.0/24", "use a host address"],
        topology({("vlans", 1, "gateway"): "10.100.0.0"})),
    "topology/vlan gateway is the broadcast address": render(
        ["vlans[2].gateway", "broadcast address", "use a host address"],
        topology({("vlans", 2, "gateway"): "10.200.0.255"})),
    "topology/pool gateway is the network address": render(
        ["ippools[1].gateway", "network address", "use a host address"],
        topology({("ippools", 1, "gateway"): "10.100.0.0"})),
    "topology/pool gateway differs from the vlan's": render(
        ["ippools[1].gateway", "Spiderpool pods route through the pool gateway",
         "set the pool's gateway to 10.100.0.1 or leave it out"], topology({("ippools", 1, "gateway"): "10.100.0.2"})),
    "topology/node ip in a pool": render(["nodes[0].ip", "ippools[0]", "excludeIPs"],
                                         topology({("nodes", 0, "ip"): "10.6.0.120"})),
    "topology/node ip is the gateway": render(["nodes[1].ip", "gateway vlans[0].gateway", "another address"],
                                              topology({("nodes", 1, "ip"): "10.6.0.1"})),
    "topology/node ip is the broadcast address": render(["nodes[1].ip", "broadcast address", "use a host address"],
                                                        topology({("nodes", 1, "ip"): "10.6.0.255"})),
    "topology/two nodes with one ip": render(["nodes[1].ip", "also the IP of nodes[0]", "its own address"],
                                             topology({("nodes", 1, "ip"): "10.6.0.11"})),
    "topology/excludeIPs outside the subnet": render(["ippools[1].excludeIPs[0]", "excludes nothing", "list only"],
                                                     topology({("ippools", 1, "excludeIPs"): ["10.99.0.1"]})),
    "topology/ips hold the network address": render(
        ["ippools[2].ips[0]", "the network address", "start it at 10.200.0.1"],
        topology({("ippools", 2, "ips"): ["10.200.0.0-10.200.0.0", "10.200.0.100-10.200.0.199"]})),
    "topology/ips hold the broadcast address": render(
        ["ippools[2].ips[0]", "the broadcast address", "end it at 10.200.0.254"],
        topology({("ippools", 2, "ips"): ["10.200.0.100-10.200.0.255"]})),
    "topology/vlan twice on a node": render(["nodes[1].vlans[2]", "listed twice", "list each VLAN once"],
                                            topology({("nodes", 1, "vlans"): [100, 200, 200]})),
    "topology/vlanif twice": render(["switch.vlanifs[1]", "listed twice", "list each VLAN once"],
                                    topology({("switch", "vlanifs"): [100, 100]})),
    "topology/a pool of a million addresses": render(["ippools[0].ips", "narrow the ranges"], topology(
        {("ippools", 0, "subnet"): "10.0.0.0/12", ("ippools", 0, "ips"): ["10.0.0.0-10.15.255.255"]})),
    "topology/a range of a million addresses outside the subnet": render(
        ["ippools[0].ips[0]", "10.15.255.255 is outside subnet 10.6.0.0/24", "list only"],
        topology({("ippools", 0, "ips"): ["10.6.0.100-10.15.255.255"]})),
    # --- dual stack: IPv6 fields ---------------------------------------------------------------------
    "topology/ipv6 prefix /127": render(["vlans[1].subnet6", "/127 leaves no room", "at most /126"],
                                        dual_stack({("vlans", 1, "subnet6"): "fd00:100::/127"})),
    "topology/gateway6 outside subnet6": render(["vlans[2].gateway6", "outside subnet fd00:200::/64",
                                                 "use an address inside it"],
                                                dual_stack({("vlans", 2, "gateway6"): "fd00:100::1"})),
    "topology/subnet6 without gateway6": render(["vlans[1]", "subnet6 without gateway6", "give both"],
                                                dual_stack({("vlans", 1, "gateway6"): ...})),
    "topology/a vlan without subnet": render(["vlans[1]: no subnet", "subnet6 + gateway6"],
                                             dual_stack({("vlans", 1): {"id": 100}})),
    "topology/an IPv6 subnet as subnet": render(["vlans[1].subnet", "an IPv6 subnet goes in subnet6"],
                                                dual_stack({("vlans", 1, "subnet"): "fd00:100::/64"})),
    "topology/ipv6 pool of IPv4 ips": render(["ippools[4].ips", "is IPv4, but the pool's subnet is IPv6", "write '"],
                                             dual_stack({("ippools", 4, "ips"): ["10.100.0.100-10.100.0.199"]})),
    "topology/ipv6 pool gateway of the other family": render(
        ["ippools[4].gateway", "is an IPv4 address", "give an IPv6 gateway"],
        dual_stack({("ippools", 4, "gateway"): "10.100.0.1"})),
    "topology/subnet-router anycast in a pool": render(
        ["ippools[5].ips[0]", "Subnet-Router anycast address of fd00:200::/64", "start it at fd00:200::1"],
        dual_stack({("ippools", 5, "ips"): ["fd00:200::-fd00:200::ff"]})),
    "topology/ipv6 range typo": render(["ippools[5].ips[0]", "fd00:2000::1ff is outside subnet fd00:200::/64"],
                                       dual_stack({("ippools", 5, "ips"): ["fd00:200::100-fd00:2000::1ff"]})),
    "topology/an ipv6 range of 2^64 addresses": render(
        ["ippools[4].ips", "18446744073709551360 addresses", "narrow the ranges"],
        dual_stack({("ippools", 4, "ips"): ["fd00:100::100-fd00:100::ffff:ffff:ffff:ffff"]})),
    "topology/network with ippool and ippools": render(["networks[1]", "both ippool and ippools", "keep one"],
                                                       dual_stack({("networks", 1, "ippool"): "vlan100-v4"})),
    "topology/network with two ipv6 pools": render(
        ["networks[1].ippools[1]", "second IPv6 pool", "one pool per family"],
        dual_stack({("networks", 1, "ippools"): ["vlan100-v6", "vlan200-v6"]})),
    "topology/native vlan without ipv4": render(["vlans[0].subnet", "no IPv4 subnet", "give it subnet + gateway"],
                                                topology({("vlans", 0, "subnet"): ..., ("vlans", 0, "gateway"): ...},
                                                         IPV6_ONLY)),
    "topology/pool name too long for a run": render(["ippools[0].name", "at most 43"],
                                                    topology({("ippools", 0, "name"): "p" * 50})),
    "topology/thirty unknown keys": render(["x0: unknown key", "and 27 more errors"],
                                           topology({(f"x{i}",): i for i in range(30)})),
    "topology/a 500 KB key": render(["unknown key; remove it"], topology({("k" * 500_000,): 1})),
    "topology/not UTF-8": render(["not UTF-8 text", "save it as UTF-8"], b"name: caf\xe9\n"),
    "topology/binary": render(["binary content", "UTF-8 YAML text"], b"\x7fELF\x02\x01\x01\x00\x00\x00"),
    "topology/a 3 MB value": render(["more than the 1048576", "shorten it"], "name: " + "x" * (3 << 20) + "\n"),
    "topology/alias bomb": render(["once its aliases are expanded", "write the values out"], BOMB),
    "topology/duplicate keys": render(["key 'vlans' is given twice", "keep one"],
                                      "name: a\nvlans: []\nvlans: []\n"),
    "topology/deep nesting": render(["nested deeper than 32 levels", "flatten it"], "a: " + "[" * 40 + "]" * 40),
    "topology/very deep nesting": render(["nested deeper than 32 levels", "flatten it"],
                                         "a: " + "[" * 100_000 + "]" * 100_000),
    "topology/missing file": (["render", "--topology", "nosuch.yaml"],
                              ["nosuch.yaml", "cannot read the file", "check --topology"], {}),
    "topology/unknown name": (["render", "--topology", "nosuch"],
                              ["nosuch", "one of: coordinator, dual-stack, ipv6-only, minimal, reference, scale"], {}),
    "topology/a directory": (["render", "--topology", "topologies"],
                             ["topologies", "Is a directory", "check --topology"], {"topologies/x": ""}),
    "topology/a device": (["render", "--topology", "/dev/zero"], ["/dev/zero", "shorten it"], {}),
    # --- annotations inside topology pods ------------------------------------------------------------
    "annotation/ippools not JSON": render(["pods[7].annotations", f"{SPIDER} is not valid JSON"],
                                          annotation(DUAL, SPIDER, "[{")),
    "annotation/ippools an object": render([f"{SPIDER} must be a non-empty JSON list"],
                                           annotation(DUAL, SPIDER, '{"interface":"eth0"}')),
    "annotation/ippools entry not an object": render([f"{SPIDER}[1] must be a JSON object"],
                                                     annotation(DUAL, SPIDER, '[{"interface":"eth0","ipv4":["a"]},'
                                                                              '"net1"]')),
    "annotation/ipv4 not a list": render([f"{SPIDER}[0].ipv4 must be a list of pool names"],
                                         annotation(DUAL, SPIDER, '[{"interface":"eth0","ipv4":"vlan200-v4"}]')),
    "annotation/cleangateway not a bool": render(
        [f"{SPIDER}[0].cleangateway must be true or false"],
        annotation(DUAL, SPIDER, '[{"interface":"eth0","ipv4":["vlan200-v4"],"cleangateway":"no"}]')),
    "annotation/interface not a string": render([f"{SPIDER}[0].interface must be a string"],
                                                annotation(DUAL, SPIDER, '[{"interface":0,"ipv4":["vlan200-v4"]}]')),
    "annotation/an interface the pod lacks": render(
        [f"{SPIDER}[1].interface", "no interface 'net2'", "its interfaces are eth0, net1"],
        annotation(DUAL, SPIDER, '[{"interface":"eth0","ipv4":["vlan200-v4"]},{"interface":"net2","ipv4":["a"]}]')),
    "annotation/a NIC without entry": render(
        [f"{SPIDER} has no entry for interface net1", 'add {"interface": "net1"'],
        annotation(DUAL, SPIDER, '[{"interface":"eth0","ipv4":["vlan200-v4"]}]')),
    "annotation/named and unnamed entries": render(
        [f"{SPIDER}[1].interface", 'every entry an "interface" or none'],
        annotation(DUAL, SPIDER, '[{"interface":"eth0","ipv4":["vlan200-v4"]},{"ipv4":["vlan100-v4"]}]')),
    "annotation/ippool not an object": render(["ipam.spidernet.io/ippool must be a JSON object"],
                                              annotation(8, "ipam.spidernet.io/ippool", '["vlan100-v4"]')),
    "annotation/unknown pool": render(["IP pool 'nope'", "use one of: vlan0-v4"],
                                      annotation(8, "ipam.spidernet.io/ippool", '{"ipv4":["nope"]}')),
    "annotation/networks interface not a string": render(
        ["k8s.v1.cni.cncf.io/networks[0].interface must be a string"],
        annotation(8, "k8s.v1.cni.cncf.io/networks", '[{"name":"macvlan-overlay-vlan100","interface":1}]')),
    "annotation/ipv6 pool listed under ipv4": render(
        ["pods[8].annotations", "lists IP pool vlan100-v6 under ipv4", "list it under ipv6"],
        topology({("pods", 8, "annotations", "ipam.spidernet.io/ippool"): '{"ipv4":["vlan100-v6"]}'}, DUAL_STACK)),
    "annotation/ipv6 asked on a vlan without subnet6": render(
        [f"pods[{DUAL}].annotations", "eth0 selects pool vlan100-v6", "VLAN 200 has no IPv6 subnet"],
        dual_stack({("vlans", 2): {"id": 200, "name": "vlan200", "subnet": "10.200.0.0/24", "gateway": "10.200.0.1"},
              ("ippools", 5): ..., ("networks", 2, "ippools"): ["vlan200-v4"],
              ("networks", 5, "ippools"): ["vlan200-v4"],
              ("pods", DUAL, "annotations", SPIDER): '[{"interface":"eth0","ipv4":["vlan200-v4"],"ipv6":'
                                                     '["vlan100-v6"]},{"interface":"net1","ipv4":["vlan100-v4"]}]'})),
    "annotation/value not a string": render(["pods[7].annotations.ipam.spidernet.io/ippools", "quote the value"],
                                            annotation(DUAL, SPIDER, [{"interface": "eth0"}])),
    # --- CLI options ---------------------------------------------------------------------------------
    "cli/render --namespace-prefix": (["render", "--namespace-prefix", "Bad_Prefix"],
                                      ["--namespace-prefix 'Bad_Prefix'", "1-30 lowercase letters"], {}),
    "cli/render --run-id": (["render", "--run-id", "RUN-1"], ["--run-id 'RUN-1'", "1-16 lowercase letters"], {}),
    "cli/render --ipam": (["render", "--ipam", "dhcp"], ["--ipam", "invalid choice: 'dhcp'", "render --help"], {}),
    "cli/render unknown option": (["render", "--topolgy", "minimal"], ["unrecognized arguments: --topolgy",
                                                                       "--help"], {}),
    "cli/report unknown option": (["report", "--bogus", "x.json"], ["unrecognized arguments", "--help"], {}),
    "cli/report --html a directory": (["report", "good.json", "--html", "outdir", "--history", "h.jsonl"],
                                      ["outdir"], {"good.json": json.dumps(HEALTHY), "outdir/keep": ""}),
    "cli/cluster cleanup --run": (["cluster", "cleanup", "--run", "Run_1"], ["--run 'Run_1'", "1-16 lowercase"], {}),
    # --- kubeconfigs ---------------------------------------------------------------------------------
    "kubeconfig/missing file": (["cluster", "cleanup", "--kubeconfig", "nosuch"],
                                ["nosuch", "cannot read the file", "--kubeconfig"], {}),
    "kubeconfig/not YAML": cleanup(["not valid YAML at line"], "clusters: [\n  - {name: x\n"),
    "kubeconfig/binary": cleanup(["binary content", "UTF-8 YAML"], b"\x00\x01kube"),
    "kubeconfig/a list": cleanup(["not a kubeconfig", "the file kubectl uses"], "- a\n- b\n"),
    "kubeconfig/no contexts": cleanup(["contexts: none", "add one"], kubeconfig({("contexts",): ...})),
    "kubeconfig/no current context": cleanup(["current-context is not set", "pass --context"],
                                             kubeconfig({("current-context",): ...})),
    "kubeconfig/current context missing": cleanup(["current-context 'gone' is not among its contexts ('lab')"],
                                                  kubeconfig({("current-context",): "gone"})),
    "kubeconfig/--context missing": cleanup(["--context 'other' is not among its contexts", "use one of them"],
                                            kubeconfig({}), "--context", "other"),
    "kubeconfig/context names no cluster": cleanup(["contexts[0].context.cluster 'nope' is not under clusters"],
                                                   kubeconfig({("contexts", 0, "context", "cluster"): "nope"})),
    "kubeconfig/server not a URL": cleanup(["clusters[0].cluster.server 'api server' is not a URL",
                                            "https://HOST:PORT"],
                                           kubeconfig({("clusters", 0, "cluster", "server"): "api server"})),
    "kubeconfig/server without scheme": cleanup(["is not a URL"],
                                                kubeconfig({("clusters", 0, "cluster", "server"): "10.0.0.1:6443"})),
    "kubeconfig/server with a bad port": cleanup(["is not a URL"], kubeconfig(
        {("clusters", 0, "cluster", "server"): "https://10.0.0.1:99999"})),
    # --- results files -------------------------------------------------------------------------------
    "results/binary": report(["not UTF-8"], b"\x00\xff\xfe\x01"),
    "results/not JSON": report(["not JSON"], "checks: []\n"),
    "results/JSON without checks": report(["checks"], results({("checks",): ...})),
    "results/a record without nodeid": report(["checks[0].nodeid"], results({("checks", 0, "nodeid"): ...})),
    "results/outcome not a string": report(["checks[1].outcome"], results({("checks", 1, "outcome"): 3})),
    "results/unknown check id": report(["unknown check id 'gateway.apr'", "checks[0].id"],
                                       results({("checks", 0, "id"): "gateway.apr"})),
    "results/missing file": (["report", "gone.json", "--html", "o.html", "--history", "h.jsonl"], ["gone.json"], {}),
    "baseline/binary": report(["not UTF-8"], b"\x89PNG\r\n\x1a\n\x00", baseline=True),
    "baseline/JSON without checks": report(["checks"], json.dumps({"run": {}}), baseline=True),
    "baseline/a record without nodeid": report(["checks[2].nodeid"], results({("checks", 2, "nodeid"): ...}),
                                               baseline=True),
    "baseline/unknown check id": report(["unknown check id"], results({("checks", 0, "id"): "nope"}), baseline=True),
}


def _write_inputs(tmp_path: Path, files: dict) -> None:
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)


def _host_snapshot() -> tuple[set[str], set[str]]:
    """Network namespaces and link names on this host (a refused input creates neither)."""
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in netns.splitlines() if line.strip()}, \
        {line.split()[0] for line in links.splitlines() if line.strip()}


def _new_netns(before: set[str], after: set[str]) -> set[str]:
    """Namespaces that appeared, but for the pods of labs that already ran before (``mcl-<lab>-...``): a lab
    another process runs on this host meanwhile is not ours, and no case here starts a lab."""
    running = {name.split("-")[1] for name in before if name.startswith("mcl-")}
    return {name for name in after - before if not (name.startswith("mcl-") and name.split("-")[1] in running)}


def _files(tmp_path: Path) -> dict[str, int]:
    return {str(p.relative_to(tmp_path)): p.stat().st_size for p in tmp_path.rglob("*") if p.is_file()}


@pytest.mark.parametrize("argv, words, files", list(CASES.values()), ids=list(CASES))
def test_bad_input_is_one_line_naming_field_and_fix(tmp_path, argv, words, files):
    _write_inputs(tmp_path, files)
    before_files, (before_netns, before_links) = _files(tmp_path), _host_snapshot()
    proc = subprocess.run([sys.executable, "-m", "macvlan_conformance.cli", *argv], cwd=tmp_path,
                          capture_output=True, text=True, errors="replace", timeout=120)
    output = proc.stdout + proc.stderr
    lines = [line for line in output.splitlines() if line.strip()]
    assert proc.returncode != 0, f"exit 0 on bad input; output:\n{output[:MAX_OUTPUT]}"
    assert "Traceback" not in output, output[-3000:]
    assert len(lines) == 1 and "error" in lines[0], f"want exactly one error line, got:\n{output[:MAX_OUTPUT]}"
    for word in words:
        assert word in lines[0], f"{word!r} not in {lines[0]!r}"
    assert len(output.encode()) < MAX_OUTPUT, f"{len(output.encode())} bytes of output"
    assert "s3cret-t0ken" not in output
    netns, links = _host_snapshot()
    left = _new_netns(before_netns, netns) | (links - before_links)
    assert not left, f"left behind: {sorted(left)}"
    assert _files(tmp_path) == before_files, "files created or changed in the working directory"


@pytest.mark.parametrize("subnet6", ["fd00:100::/64", "fd00:ab:cd::/64"])
def test_ipv6_addresses_reach_the_user_verbatim(tmp_path, subnet6):
    """An IPv6 address in a message is printed as written: groups like :100:, :a:, :ab: or :cd: are no emoji."""
    gateway6 = subnet6.replace("::/64", "::1")
    argv, _, files = render([], dual_stack({("vlans", 1, "subnet6"): subnet6, ("vlans", 1, "gateway6"): gateway6,
                                            ("vlans", 2, "gateway6"): gateway6}))
    _write_inputs(tmp_path, files)
    proc = subprocess.run([sys.executable, "-m", "macvlan_conformance.cli", *argv], cwd=tmp_path,
                          capture_output=True, text=True, errors="replace", timeout=120)
    assert proc.returncode != 0
    assert f"vlans[2].gateway6: {gateway6} is outside subnet fd00:200::/64" in proc.stderr, proc.stderr


def test_the_corpus_is_large_and_covers_every_kind():
    kinds = {case.split("/")[0] for case in CASES}
    assert len(CASES) >= 40 and kinds == {"topology", "annotation", "cli", "kubeconfig", "results", "baseline"}


def test_the_alias_bomb_stays_in_bounded_memory(tmp_path):
    """The CLI refuses the bomb (10^9 values expanded) from a fresh process whose peak RSS, measured by a
    parent that runs nothing else, stays under 200 MiB."""
    (tmp_path / "bomb.yaml").write_text(BOMB)
    code = ("import resource, subprocess, sys\n"
            "proc = subprocess.run([sys.executable, '-m', 'macvlan_conformance.cli', 'render', '--topology', "
            "'bomb.yaml'], capture_output=True, text=True)\n"
            "print(proc.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
            "print(proc.stderr.strip())")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    status, message = proc.stdout.splitlines()[0], proc.stdout.splitlines()[1]
    returncode, peak_kib = (int(v) for v in status.split())
    assert returncode == 2 and "once its aliases are expanded" in message, proc.stdout + proc.stderr
    assert peak_kib < 200 * 1024, f"peak RSS {peak_kib // 1024} MiB"


