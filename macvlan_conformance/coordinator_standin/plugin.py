"""A stand-in for Spiderpool's ``coordinator`` CNI plugin, written to its behaviour at the source
(spidernet-io/spiderpool ``cmd/coordinator/cmd``, v1.0.3-146-ga7fbd3b29; the Go module cannot be fetched here:
the module proxy refuses github.com/spidernet-io/spiderpool, so the real binary cannot be built). Chained after
macvlan as ``{"type": "coordinator", ...}``; runs in the node's network namespace like any plugin.

ADD (``command_add.go`` ``CmdAdd``, ``utils.go``): resolves the NIC's mode (``coordinator.resolve_nic``: the
plugin's own ``coordinatorModeAndFirstInvoke``, refusals included) from what the pod has now (``veth0``, up
links); then, as ``setupVeth``, ``setupNeighborhood``, ``setupHostRoutes``, ``setupHijackRoutes``,
``makeReplyPacketViaVeth`` and ``tunePodRoutes`` do:
- underlay, first NIC: veth pair ``veth0`` / ``veth<container id[:11]>`` (MTU ``vethMTU``, default 1500);
  permanent neighbours both ways; the node's addresses as /32 routes via veth0 in the main table and the NIC's
  table; the hijacked CIDRs (overlay pod CIDR, service CIDR, ``hijackCIDR``) via the first node address; new
  connections arriving on veth0 marked 0x1 and answered through table 100 (upstream uses iptables' mangle
  table; the stand-in writes the same three rules with nftables);
- a later underlay NIC or an overlay NIC (eth0 is then the overlay's veth): the node routes in the NIC's
  table, ``tunePodRoutes``;
- on the node: ``ip rule from all lookup <hostRuleTable> pref 1000`` and the NIC's addresses via the host veth
  in that table; ``net.ipv4.conf.all.rp_filter`` in the pod from ``podRPFilter`` (default 0).
Prints ``prevResult`` unchanged. DEL (``command_del.go``): deletes the host veth and the NIC's routes in the host
table; nothing in a pod namespace that is gone. CHECK: nothing. ``mode: disable`` passes through; ``disabled``
(the CRD's spelling, which SpiderMultusConfig copies verbatim) fails as ``unknown tuneMode: disabled``, as upstream.

What the real plugin asks spiderpool-agent at run time (the cluster's service and pod CIDRs, the
SpiderCoordinator's defaults) the stand-in reads from its own config: ``serviceCIDR`` and ``overlayPodCIDR``,
keys the plugin's ``Config`` also accepts and prefers over the agent's answer.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping

from ..coordinator import HOST_RULE_PRIORITY, HOST_RULE_TABLE, POD_RULE_TABLE, VETH, CoordinatorRefusal, resolve_nic

SUPPORTED_VERSIONS = ("0.3.0", "0.3.1", "0.4.0", "1.0.0")  # cmd/coordinator/cmd/cni_types.go
ERR_INTERNAL = 999
MARK = "0x1"  # getMarkInt(defaultMarkBit 0)
# GetAllHostIPRouteForPod: node interfaces whose addresses are not the node's
EXCLUDED_HOST_LINKS = re.compile(r"^(docker|cbr|dummy|virbr|lxcbr|veth|cali|flannel|kube-ipvs|cni|vx-submariner"
                                 r"|cilium)|^lo$")
NFT_TABLE = "coordinator"


class CniError(Exception):
    def __init__(self, msg: str, details: str = ""):
        super().__init__(msg)
        self.msg, self.details = msg, details


# --- the two namespaces ------------------------------------------------------------------------------------
def _run(argv: list[str], netns: str | None = None, stdin: str | None = None, what: str = "") -> str:
    """``argv`` in the node's namespace (ours) or the pod's (``netns``, a path); CniError (``what`` failed)."""
    full = (["nsenter", f"--net={netns}"] if netns else []) + argv
    proc = subprocess.run(full, input=stdin, capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise CniError(f"{what or ' '.join(argv[:5])}: {(proc.stderr or proc.stdout).strip()}", " ".join(full)[:300])
    return proc.stdout


def _ip(argv: list[str], netns: str | None = None, stdin: str | None = None) -> str:
    return _run(["ip", *argv], netns, stdin)


def _json(argv: list[str], netns: str | None = None) -> list:
    out = _ip(["-j", *argv], netns)
    return json.loads(out) if out.strip() else []


def _batch(commands: list[str], netns: str | None = None) -> None:
    if commands:
        _ip(["-batch", "-"], netns, "\n".join(commands) + "\n")


def _rule_commands(netns: str | None, wanted: list[str]) -> list[str]:
    """``rule add`` commands for the rules (``from 10.0.0.1/32 lookup 101``, ``fwmark 0x1 lookup 100``) that
    do not exist yet: upstream treats an existing rule as done (os.IsExist)."""
    have = set()
    for rule in _json(["-4", "rule", "show"], netns):
        if rule.get("fwmark"):
            have.add(f"fwmark {rule['fwmark']} lookup {rule.get('table')}")
        elif rule.get("src") and rule.get("src") != "all":
            have.add(f"from {rule['src']}/{rule.get('srclen', 32)} lookup {rule.get('table')}")
    return [f"rule add {w}" for w in wanted if w.split(" pref ")[0] not in have]


def _up_links(netns: str) -> list[dict]:
    """GetUPLinkList: the pod's links that are up, broadcast and multicast (lo, tunl0, gre0, sit0 are not)."""
    return [link for link in _json(["link", "show"], netns)
            if {"UP", "BROADCAST", "MULTICAST"} <= set(link.get("flags", []))]


def _ipv4(netns: str | None = None, ifname: str | None = None) -> dict[str, list[str]]:
    """IPv4 addresses by interface, of one interface or of all (one ``ip addr`` call)."""
    found: dict[str, list[str]] = {}
    for entry in _json(["-4", "addr", "show", *(["dev", ifname] if ifname else [])], netns):
        found[entry["ifname"]] = [a["local"] for a in entry.get("addr_info", []) if a.get("family") == "inet"]
    return found


def _mac(ifname: str, netns: str | None = None) -> str:
    return _json(["link", "show", "dev", ifname], netns)[0]["address"]


def host_ips(pod_ips: list[str]) -> list[str]:
    """GetAllHostIPRouteForPod: the node's source address towards each pod address, then every other node
    address on an interface not excluded (IPv4; link-local skipped)."""
    found: list[str] = []
    for pod_ip in pod_ips:
        route = _json(["route", "get", pod_ip])
        src = route[0].get("prefsrc") if route else None
        if src and src not in found:
            found.append(src)
    for entry in _json(["-4", "addr", "show"]):
        if EXCLUDED_HOST_LINKS.search(entry["ifname"]):
            continue
        for addr in entry.get("addr_info", []):
            ip = addr.get("local")
            if ip and ip not in found and not ipaddress.ip_address(ip).is_link_local:
                found.append(ip)
    return found


def host_veth_name(container_id: str) -> str:
    """getHostVethName: ``veth`` and the first 11 characters of the container ID."""
    return f"veth{container_id[:11]}"


# --- ADD ---------------------------------------------------------------------------------------------------
def cmd_add(env: Mapping[str, str], conf: dict) -> dict:
    prev = conf.get("prevResult") or {}
    mode = conf.get("mode") or "auto"
    if mode == "disable":  # ModeDisable; "disabled" (the CRD's spelling) is an unknown mode to the plugin
        return prev
    if mode not in ("auto", "underlay", "overlay"):
        raise CniError(f"unknown tuneMode: {mode}")
    pod, ifname, cid = env["CNI_NETNS"], env["CNI_IFNAME"], env["CNI_CONTAINERID"]
    first_nic = conf.get("podDefaultCniNic") or "eth0"
    links = _up_links(pod)
    names = [link["ifname"] for link in links]
    try:
        nic = resolve_nic(mode, ifname, VETH in names, len(links), first_nic)
    except CoordinatorRefusal as exc:
        raise CniError(str(exc)) from None
    addresses = _ipv4(pod)  # veth0, made below, gets none
    hosts = host_ips([ip for name in names for ip in addresses.get(name, [])])
    if not hosts:
        raise CniError("failed to get IPAddressOnNode: the node has no IPv4 address")
    current = addresses.get(ifname, [])
    if nic.mode == "underlay":
        pod_veth, host_veth = VETH, host_veth_name(cid)
        if nic.first:
            _setup_veth(pod, host_veth, int(conf.get("vethMTU") or 1500))
    else:
        pod_veth, host_veth = "eth0", _overlay_host_veth(pod)
    overlay_src = next(iter(addresses.get("eth0", [])), None)  # v4PodOverlayNicAddr: eth0's address
    _pod_rp_filter(pod, conf.get("podRPFilter", 0))
    _neighbours(pod, nic.first, pod_veth, host_veth, current, hosts)
    host_table = int(conf.get("hostRuleTable") or HOST_RULE_TABLE)
    _host_routes(pod, nic, pod_veth, host_veth, overlay_src, current, hosts, host_table)
    hijack = [*conf.get("overlayPodCIDR", []), *conf.get("serviceCIDR", []), *conf.get("hijackCIDR", [])]
    _batch([f"route replace {cidr} via {hosts[0]} dev {pod_veth}" + (f" src {overlay_src}" if overlay_src else "")
            + (f" table {nic.table}" if not nic.first else "") for cidr in hijack], pod)
    if nic.mode == "underlay" and nic.first:
        _reply_via_veth(pod, hosts[0], overlay_src)
    if conf.get("tunePodRoutes", True) and (not nic.first or nic.mode == "overlay"):
        _tune_pod_routes(pod, nic, ifname, addresses, conf.get("podDefaultRouteNic", ""))
    return prev


def _setup_veth(pod: str, host_veth: str, mtu: int) -> None:
    """setupVeth: the pair created in the pod, its host end moved to the node (this process's namespace)."""
    mac_pod, mac_host = _random_mac(), _random_mac()
    _ip(["link", "add", VETH, "mtu", str(mtu), "address", mac_pod, "type", "veth", "peer", "name", host_veth,
         "mtu", str(mtu), "address", mac_host, "netns", str(os.getpid())], pod)
    _ip(["link", "set", VETH, "up"], pod)
    _ip(["link", "set", host_veth, "up"])


def _random_mac() -> str:
    """A random locally administered unicast MAC (containernetworking plugins' GenerateRandMAC)."""
    raw = bytearray(os.urandom(6))
    raw[0] = (raw[0] & 0xFE) | 0x02
    return ":".join(f"{b:02x}" for b in raw)


def _overlay_host_veth(pod: str) -> str:
    """GetHostVethName: the node end of the pod's eth0 (the overlay's veth)."""
    link = _json(["link", "show", "dev", "eth0"], pod)[0]
    peer = link.get("link_index")
    for host_link in _json(["link", "show"]):
        if peer is not None and host_link["ifindex"] == peer:
            return host_link["ifname"]
    raise CniError("failed to GetHostVethName: eth0 of the pod has no veth peer on this node")


def _pod_rp_filter(pod: str, value) -> None:
    if value is not None and int(value) != -1:
        _run(["sysctl", "-q", "-w", f"net.ipv4.conf.all.rp_filter={int(value)}"], pod, what="failed to set rp_filter")


def _neighbours(pod: str, first: bool, pod_veth: str, host_veth: str, current: list[str], hosts: list[str]) -> None:
    """setupNeighborhood: the NIC's addresses -> the pod veth's MAC on the node; on the first invocation the
    node's addresses -> the host veth's MAC in the pod."""
    pod_mac, host_mac = _mac(pod_veth, pod), _mac(host_veth)
    _batch([f"neigh replace {ip} dev {host_veth} lladdr {pod_mac} nud permanent" for ip in current])
    if first:
        _batch([f"neigh replace {ip} dev {pod_veth} lladdr {host_mac} nud permanent" for ip in hosts], pod)


def _host_routes(pod: str, nic, pod_veth: str, host_veth: str, src: str | None, current: list[str],
                 hosts: list[str], host_table: int) -> None:
    """setupHostRoutes: node addresses via the pod veth (the NIC's table, and main on the first invocation);
    on the node the host rule and the NIC's addresses via the host veth in the host table."""
    via = f"dev {pod_veth} scope link" + (f" src {src}" if src else "")
    commands = [f"route replace {ip}/32 {via} table {nic.table}" for ip in hosts]
    if nic.first:
        commands += [f"route replace {ip}/32 {via}" for ip in hosts]
    _batch(commands, pod)
    try:  # pods of one node add it side by side: an existing rule is done (upstream: os.IsExist)
        _ip(["-4", "rule", "add", "from", "all", "lookup", str(host_table), "pref", str(HOST_RULE_PRIORITY)])
    except CniError as exc:
        if "File exists" not in exc.msg:
            raise
    _batch([f"route replace {ip}/32 dev {host_veth} scope link table {host_table}" for ip in current])


def _reply_via_veth(pod: str, gateway: str, src: str | None) -> None:
    """makeReplyPacketViaVeth: connections that arrive on veth0 are answered through it (mark 0x1 -> table 100)."""
    nft = (f"table ip {NFT_TABLE} {{\n"
           f"  chain prerouting {{ type filter hook prerouting priority mangle;\n"
           f"    iifname \"{VETH}\" ct state new meta mark set {MARK}\n"
           f"    meta mark {MARK} ct mark set meta mark\n  }}\n"
           f"  chain output {{ type route hook output priority mangle;\n    meta mark set ct mark\n  }}\n}}\n")
    _run(["nft", "-f", "-"], pod, nft, what="iptables ensureRule err")
    _batch(_rule_commands(pod, [f"fwmark {MARK} lookup {POD_RULE_TABLE} pref {HOST_RULE_PRIORITY}"])
           + [f"route replace default via {gateway} dev {VETH}" + (f" src {src}" if src else "")
              + f" table {POD_RULE_TABLE}"], pod)


def _tune_pod_routes(pod: str, nic, ifname: str, addresses: dict[str, list[str]], configured: str) -> None:
    """tunePodRoutes: the NIC holding the main default route keeps it; the NIC being added gets a rule from its
    addresses to its table, its default route moved there and its other routes copied (MoveRouteTable). With
    ``podDefaultRouteNic`` naming the NIC being added, the holder's routes move instead."""
    holder = _default_route_nic(pod, exclude=ifname)
    if holder is None:
        return  # "podDefaultRouteNIC no found in pod, ignore tuneRoutes"
    move = ifname
    if configured and configured != holder:
        if configured not in [link["ifname"] for link in _json(["link", "show"], pod)]:
            raise CniError(f"failed to tunePodRoutes: podDefaultRouteNIC: {configured} don't exist in pod")
        move = holder
    rules, commands = [], []
    if (configured or holder) == ifname:
        rules += [f"from {ip}/32 lookup {nic.table}" for ip in addresses.get(holder, [])]
    else:
        rules += [f"from {ip}/32 lookup {nic.table}" for ip in addresses.get(ifname, [])]
        if nic.mode == "overlay" and nic.first:  # eth0's default route copied to table 100 (spiderpool#3683)
            rules += [f"from {ip}/32 lookup {POD_RULE_TABLE}" for ip in addresses.get(holder, [])]
            commands += [_route_command("replace", r, POD_RULE_TABLE) for r in _json(["-4", "route", "show"], pod)
                         if r.get("dev") == "eth0" and r["dst"] == "default"]
    commands = _rule_commands(pod, rules) + commands
    for route in _json(["-4", "route", "show", "dev", move], pod):
        route["dev"] = move
        commands.append(_route_command("replace", route, nic.table))
        if route["dst"] == "default":
            commands.append(_route_command("del", route, None))
    _batch(commands, pod)


def _default_route_nic(pod: str, exclude: str) -> str | None:
    """GetDefaultRouteInterface: the first link (but ``exclude`` and lo) with a default route in the main table."""
    defaults = {r.get("dev") for r in _json(["-4", "route", "show", "default"], pod)}
    for link in _json(["link", "show"], pod):
        if link["ifname"] not in ("lo", exclude) and link["ifname"] in defaults:
            return link["ifname"]
    return None


def _route_command(verb: str, route: dict, table: int | None) -> str:
    words = [f"route {verb} {route['dst']}"]
    if route.get("gateway"):
        words.append(f"via {route['gateway']}")
    words.append(f"dev {route['dev']}")
    if route.get("scope") and verb != "del":
        words.append(f"scope {route['scope']}")
    if route.get("prefsrc") and verb != "del":
        words.append(f"src {route['prefsrc']}")
    if table is not None:
        words.append(f"table {table}")
    return " ".join(words)


# --- DEL -----------------------------------------------------------------------------------------------------
def cmd_del(env: Mapping[str, str], conf: dict) -> None:
    """CmdDel: the host veth goes (the pod's veth0 with it), and the NIC's routes in the host table."""
    if conf.get("mode") == "disable":
        return
    pod = env.get("CNI_NETNS", "")
    if not pod or not os.path.exists(pod):
        return
    host_veth = host_veth_name(env["CNI_CONTAINERID"])
    if any(link["ifname"] == host_veth for link in _json(["link", "show"])):
        _ip(["link", "del", host_veth])
    try:
        addresses = _ipv4(pod, env["CNI_IFNAME"]).get(env["CNI_IFNAME"], [])
    except CniError:
        addresses = []  # upstream ignores this error
    table = int(conf.get("hostRuleTable") or HOST_RULE_TABLE)
    for ip in addresses:
        subprocess.run(["ip", "route", "del", f"{ip}/32", "table", str(table)], capture_output=True)


# --- the CNI entry point -------------------------------------------------------------------------------------
def main(env: Mapping[str, str] | None = None, stdin=None, stdout=None) -> int:
    env = os.environ if env is None else env
    stdout = sys.stdout if stdout is None else stdout
    command = env.get("CNI_COMMAND", "")
    if command == "VERSION":
        stdout.write(json.dumps({"cniVersion": "1.0.0", "supportedVersions": list(SUPPORTED_VERSIONS)}) + "\n")
        return 0
    if not command:
        print("coordinator stand-in (macvlan-conformance)", file=sys.stderr)
        return 0
    data = (stdin if stdin is not None else sys.stdin.buffer).read()
    version = "1.0.0"
    try:
        conf = json.loads(data)
        version = conf.get("cniVersion", version)
        if command == "ADD":
            stdout.write(json.dumps(cmd_add(env, conf)) + "\n")
        elif command == "DEL":
            cmd_del(env, conf)
        return 0
    except Exception as exc:  # the CNI contract: a JSON error on stdout, exit status 1
        error = exc if isinstance(exc, CniError) else CniError(f"{type(exc).__name__}: {exc}")
        body = {"cniVersion": version, "code": ERR_INTERNAL, "msg": error.msg}
        if error.details:
            body["details"] = error.details
        stdout.write(json.dumps(body) + "\n")
        return 1


def install_plugin(bin_dir, python: str = sys.executable):
    """Write ``bin_dir/coordinator``, the wrapper libcni execs (see ``standin_install``)."""
    from ..standin_install import install_python_plugin
    return install_python_plugin(bin_dir, "coordinator", "macvlan_conformance.coordinator_standin", python)
