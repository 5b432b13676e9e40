"""The CNI entry point of the Spiderpool stand-in: ``spiderpool`` as libcni executes it.

Contract (CNI spec; upstream spidernet-io/spiderpool cmd/spiderpool): ``main()`` reads CNI_COMMAND,
CNI_CONTAINERID, CNI_IFNAME, CNI_ARGS (K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_UID) and, except
for VERSION, the calling plugin's network config on stdin (with ``ipam`` inside).
- ADD: GET the pod, select its pools (selection.py), allocate (allocation.py), print the result in
  the config's cniVersion: ``ips`` (address/prefix, gateway; ``"version"`` for 0.3.x/0.4.0),
  ``routes`` (pool spec.routes, ``ipam.spidernet.io/routes`` whose gateway is in the NIC's subnet,
  and a default route via the pool gateway unless cleangateway), ``dns`` and no ``interfaces``.
  (cmd/spiderpool/cmd/command_add.go assembleResult; pkg/utils/convert/convert.go
  ConvertResultsToIPConfigsAndAllRoutes, genDefaultRoute; pkg/ipam/utils.go groupCustomRoutes.)
- DEL: release the records of (container id, interface); succeeds when nothing is allocated or
  the pod is gone, and logs API failures instead of failing (command_delete.go returns nil then).
- CHECK: nothing to check (cmd/spiderpool/main.go cmdCheck); VERSION: the supported versions.
- Errors: ``{"cniVersion", "code", "msg", "details"}`` on stdout, exit status 1.

API access: real Spiderpool asks spiderpool-agent over a unix socket (``ipam_unix_socket_path``);
the stand-in talks to the API server itself with the kubeconfig named by the environment variable
``MACVLAN_CONFORMANCE_IPAM_KUBECONFIG``, which the node agent that runs Multus sets (libcni passes
Multus' environment on to the plugins it executes).
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

from kubernetes.client.exceptions import ApiException

from . import allocation, selection
from .allocation import Allocation, AllocationError, Owner
from .selection import SelectionError

SUPPORTED_VERSIONS = ("0.3.0", "0.3.1", "0.4.0", "1.0.0")  # cmd/spiderpool/cmd/cni_types.go SupportCNIVersions
SPEC_VERSION = "1.0.0"  # libcni v1.1.2 version.Current(), what VERSION reports as cniVersion
KUBECONFIG_ENV = "MACVLAN_CONFORMANCE_IPAM_KUBECONFIG"
ERR_INCOMPATIBLE, ERR_ENV, ERR_DECODING, ERR_NETCONF, ERR_INTERNAL = 1, 4, 6, 7, 999
POST_IPAM = "spiderpool IP allocation error"  # cni_types.go ErrPostIPAM
DEADLINE_SECONDS = 100  # pkg/constant/timeout.go DefaultCNIClientTimeout
REQUIRED_ENV = {"ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"),
                "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"),
                "DEL": ("CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"), "VERSION": ()}


class CniError(Exception):
    """A CNI error result: code, msg, details."""

    def __init__(self, code: int, msg: str, details: str = ""):
        super().__init__(msg)
        self.code, self.msg, self.details = code, msg, details


def parse_cni_args(value: str) -> dict[str, str]:
    """CNI_ARGS ``K=V;K=V`` as a dict."""
    pairs = (item.partition("=") for item in value.split(";") if item)
    return {key: val for key, _, val in pairs}


def load_conf(stdin: bytes) -> dict:
    """The network config; checks what libcni's skel checks (name, cniVersion)."""
    try:
        conf = json.loads(stdin)
    except ValueError as exc:
        raise CniError(ERR_DECODING, f"error unmarshall network config: {exc}") from None
    if not isinstance(conf, dict) or not conf.get("name"):
        raise CniError(ERR_NETCONF, "missing network name")
    if conf.get("cniVersion") not in SUPPORTED_VERSIONS:
        raise CniError(ERR_INCOMPATIBLE, "incompatible CNI versions",
                       f'config is "{conf.get("cniVersion")}", plugin supports {list(SUPPORTED_VERSIONS)}')
    if not isinstance(conf.get("ipam", {}), dict):
        raise CniError(ERR_DECODING, "failed to load CNI network configuration: 'ipam' must be an object")
    return conf


def _route(dst: str, gw: str) -> dict[str, str]:
    return {"dst": str(ipaddress.ip_network(dst, strict=False)), "gw": gw}


def build_result(cni_version: str, allocations: list[Allocation], clean_gateway: bool,
                 routes: list[tuple[str, str]] = ()) -> dict:
    """The IPAM result for one NIC in ``cni_version`` (no ``interfaces``: IPAM plugins return none)."""
    ips, out_routes = [], []
    legacy = cni_version != "1.0.0"
    for alloc in allocations:
        ip = {"version": str(alloc.version)} if legacy else {}
        ip["address"] = alloc.address
        if alloc.gateway:
            ip["gateway"] = alloc.gateway
        ips.append(ip)
        subnet = ipaddress.ip_interface(alloc.address).network
        out_routes += [_route(dst, gw) for dst, gw in alloc.routes]
        out_routes += [_route(dst, gw) for dst, gw in routes if ipaddress.ip_address(gw) in subnet]
        if alloc.gateway and not clean_gateway:
            out_routes.append({"dst": "0.0.0.0/0" if alloc.version == 4 else "::/0", "gw": alloc.gateway})
    result = {"cniVersion": cni_version, "ips": ips}
    if out_routes:
        result["routes"] = out_routes
    result["dns"] = {}
    return result


def pod_alive(pod) -> bool:
    """pkg/podmanager/utils.go IsPodAlive."""
    phase, restart = pod.status.phase if pod.status else None, pod.spec.restart_policy if pod.spec else None
    if pod.metadata.deletion_timestamp is not None:
        return False
    if phase == "Succeeded" and restart != "Always":
        return False
    if phase == "Failed" and (restart == "Never" or (pod.status.reason == "Evicted")):
        return False
    return True


def clients(env: Mapping[str, str]):
    """(CoreV1Api, CustomObjectsApi) from the kubeconfig in MACVLAN_CONFORMANCE_IPAM_KUBECONFIG."""
    path = env.get(KUBECONFIG_ENV)
    if not path:
        raise CniError(ERR_INTERNAL, f"unhealthy spiderpool-agent backend: {KUBECONFIG_ENV} is not set",
                       "the Spiderpool stand-in reads the API with that kubeconfig; the node agent that runs "
                       "Multus must export it")
    from kubernetes import client, config
    try:
        api_client = config.new_client_from_config(config_file=path)
    except Exception as exc:  # the loader raises several types for one cause: an unusable file
        raise CniError(ERR_INTERNAL, f"unhealthy spiderpool-agent backend: kubeconfig {path} "
                       f"({KUBECONFIG_ENV}) is unusable: {exc}") from None
    return client.CoreV1Api(api_client), client.CustomObjectsApi(api_client)


def _pod_owner(env: Mapping[str, str], core):
    k8s = parse_cni_args(env.get("CNI_ARGS", ""))
    namespace, name = k8s.get("K8S_POD_NAMESPACE"), k8s.get("K8S_POD_NAME")
    if not namespace or not name:
        raise SelectionError("CNI_ARGS has no K8S_POD_NAMESPACE/K8S_POD_NAME: Spiderpool needs the pod "
                             "(call it through Multus or set them)")
    try:
        pod = core.read_namespaced_pod(name, namespace)
    except ApiException as exc:
        raise SelectionError(f"failed to get Pod {namespace}/{name}: {allocation.api_message(exc)}") from None
    if not pod_alive(pod):
        raise SelectionError(f"dead Pod {namespace}/{name}, we cannot allocate IP addresees to it")
    owner = Owner(namespace, name, pod.metadata.uid or k8s.get("K8S_POD_UID", ""), env["CNI_IFNAME"],
                  env["CNI_CONTAINERID"], (pod.spec.node_name if pod.spec else None) or "")
    return pod.metadata.annotations or {}, owner


def _namespace_annotations(core, namespace: str):
    def read() -> dict[str, str]:
        try:
            return core.read_namespace(namespace).metadata.annotations or {}
        except ApiException as exc:
            raise SelectionError(f"failed to get Namespace {namespace}: {allocation.api_message(exc)}") from None
    return read


def cmd_add(env: Mapping[str, str], conf: dict, core, custom) -> dict:
    """ADD: the CNI result for CNI_IFNAME of the pod in CNI_ARGS."""
    ifname, ipam = env["CNI_IFNAME"], conf.get("ipam", {})
    try:
        annotations, owner = _pod_owner(env, core)
        chosen = selection.select_pools(
            ifname, selection.nic_order(annotations, owner.namespace), annotations, ipam_conf=ipam,
            namespace_annotations=_namespace_annotations(core, owner.namespace),
            cluster_default_pools=lambda: allocation.default_pools(custom))
        routes = selection.custom_routes(annotations)
        allocs = [allocation.allocate(custom, pools, version, owner) for version, pools in chosen.families()]
    except (SelectionError, AllocationError) as exc:
        raise CniError(ERR_INTERNAL, f"{POST_IPAM}: {exc}", f"NIC {ifname} (Spiderpool stand-in)") from None
    return build_result(conf["cniVersion"], allocs, chosen.clean_gateway, routes)


def cmd_del(env: Mapping[str, str], conf: dict, core, custom) -> None:
    """DEL: release (container id, interface); API failures are logged, not returned (upstream)."""
    try:
        released = allocation.release(custom, env["CNI_CONTAINERID"], env["CNI_IFNAME"])
    except AllocationError as exc:
        print(f"spiderpool (stand-in): spiderpool IP release error: {exc}", file=sys.stderr)
        return
    for pool, ip in released:
        print(f"spiderpool (stand-in): released {ip} from IPPool {pool}", file=sys.stderr)


def _dispatch(command: str, env: Mapping[str, str], stdin: bytes) -> dict | None:
    missing = [name for name in REQUIRED_ENV.get(command, ()) if not env.get(name)]
    if command not in REQUIRED_ENV:
        raise CniError(ERR_ENV, f"unknown CNI_COMMAND: {command}")
    if missing:
        raise CniError(ERR_ENV, f"required env variables [{','.join(missing)}] missing")
    if command == "VERSION":
        return {"cniVersion": SPEC_VERSION, "supportedVersions": list(SUPPORTED_VERSIONS)}
    conf = load_conf(stdin)
    if command == "CHECK":
        if conf["cniVersion"] not in ("0.4.0", "1.0.0"):
            raise CniError(ERR_INCOMPATIBLE, "config version does not allow CHECK")
        return None
    core, custom = clients(env)
    if command == "ADD":
        return cmd_add(env, conf, core, custom)
    cmd_del(env, conf, core, custom)
    return None


def _conf_version(stdin: bytes) -> str:
    try:
        version = json.loads(stdin).get("cniVersion")
    except (ValueError, AttributeError):
        version = None
    return version if version in SUPPORTED_VERSIONS else SPEC_VERSION


def _on_alarm(signum, frame):
    raise CniError(ERR_INTERNAL, f"{POST_IPAM}: no answer from the API server within {DEADLINE_SECONDS}s",
                   f"check the API server named by the kubeconfig in {KUBECONFIG_ENV}")


def _run(command: str, env: Mapping[str, str], data: bytes) -> dict | None:
    """``_dispatch`` under the CNI client deadline (SIGALRM; only in the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return _dispatch(command, env, data)
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(DEADLINE_SECONDS)
    try:
        return _dispatch(command, env, data)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def main(env: Mapping[str, str] | None = None, stdin=None, stdout=None) -> int:
    """Run one CNI command; returns the exit status (0, or 1 after printing a CNI error)."""
    env = os.environ if env is None else env
    stdout = sys.stdout if stdout is None else stdout
    command = env.get("CNI_COMMAND", "")
    if not command:
        print("Spiderpool IPAM stand-in (macvlan-conformance)\nCNI protocol versions supported: "
              + ", ".join(SUPPORTED_VERSIONS), file=sys.stderr)
        return 0
    data = b"" if command == "VERSION" else (stdin if stdin is not None else sys.stdin.buffer).read()
    try:
        result = _run(command, env, data)
    except Exception as exc:  # the CNI contract: every failure is a JSON error on stdout, exit status 1
        if not isinstance(exc, CniError):  # e.g. the API server unreachable (urllib3 errors)
            exc = CniError(ERR_INTERNAL, f"{POST_IPAM if command == 'ADD' else 'spiderpool IPAM error'}: "
                           f"{type(exc).__name__}: {exc}", f"Spiderpool stand-in, CNI_COMMAND={command}")
        error = {"cniVersion": _conf_version(data), "code": exc.code, "msg": exc.msg}
        if exc.details:
            error["details"] = exc.details
        stdout.write(json.dumps(error, indent=4) + "\n")
        return 1
    if result is not None:
        stdout.write(json.dumps(result, indent=4) + "\n")
    return 0


def install_plugin(bin_dir: Path, python: str = sys.executable) -> Path:
    """Write ``bin_dir/spiderpool``: a shell wrapper that libcni can exec (mode 755)."""
    from ..standin_install import install_python_plugin
    return install_python_plugin(bin_dir, "spiderpool", "macvlan_conformance.spiderpool_standin", python)
