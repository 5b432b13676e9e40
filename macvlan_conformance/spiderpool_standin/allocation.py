"""Allocate and release addresses in SpiderIPPool objects, the way spiderpool-agent does.

Contract: ``allocate(api, pool_names, version, owner)`` returns an ``Allocation`` (address in the
pool subnet's prefix, gateway, the pool's spec.routes) from the first pool that accepts the owner
and has a free address; the same owner (container id + interface, or pod UID + interface) gets its
existing address back. ``release(api, container_id, interface)`` removes that owner's records from
every pool and returns what it removed. ``api`` is a ``kubernetes.client.CustomObjectsApi`` (or
anything with its ``get/list_cluster_custom_object`` and ``replace_cluster_custom_object_status``).

Upstream (spidernet-io/spiderpool): pkg/ippoolmanager/ippool_manager.go AllocateIP/genRandomIP and
ReleaseIP (read the pool, pick the first free address of spec.ips minus excludeIPs minus
allocatedIPs, write the status with the read resourceVersion, retry on Conflict with
pkg/utils/retry DefaultRetry: 5 steps from 10ms, factor 1.5); pool filters from pkg/ipam/allocate.go
selectByPod; the record format from pkg/k8s/apis/spiderpool.spidernet.io/v2beta1 PoolIPAllocation.
The stand-in's records add "interface" and "containerID" (upstream keeps those in SpiderEndpoint
objects, which the stand-in does not use); Go readers ignore the extra keys.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass

from kubernetes.client.exceptions import ApiException
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential, wait_random

GROUP, VERSION, PLURAL = "spiderpool.spidernet.io", "v2beta1", "spiderippools"
RETRIES = 5  # pkg/utils/retry DefaultRetry.Steps
MAX_RANGE = 1 << 20  # addresses one spec.ips/excludeIPs item may expand to (upstream expands them all too)
IP_USED_OUT = "all IP addresses used out"  # constant.ErrIPUsedOut
RETRIES_EXHAUSTED = "exhaust all retries"  # constant.ErrRetriesExhausted


class AllocationError(Exception):
    """A pool cannot be read, refuses the owner, or cannot be written."""


class PoolExhausted(AllocationError):
    """No free address is left in the pool."""


class _Conflict(Exception):
    """409 on the status write: re-read and try again."""


@dataclass(frozen=True)
class Owner:
    """Who an address is for: the pod, its NIC and the sandbox (container id)."""

    namespace: str
    name: str
    uid: str
    interface: str
    container_id: str
    node: str = ""

    def record(self) -> dict[str, str]:
        return {"pod": f"{self.namespace}/{self.name}", "podUid": self.uid,
                "interface": self.interface, "containerID": self.container_id}

    def holds(self, record: dict) -> bool:
        if record.get("interface") != self.interface:
            return False
        return record.get("containerID") == self.container_id or record.get("podUid") == self.uid


@dataclass(frozen=True)
class Allocation:
    """One address for one NIC: ``address`` in CIDR form with the pool subnet's prefix."""

    pool: str
    version: int
    address: str
    gateway: str | None
    routes: tuple[tuple[str, str], ...]


def api_message(exc: ApiException) -> str:
    """The API server's message (``spiderippools.spiderpool.spidernet.io "x" not found``)."""
    try:
        return json.loads(exc.body)["message"]
    except (TypeError, ValueError, KeyError):
        return f"{exc.status} {exc.reason}"


def ip_version(pool: dict) -> int:
    """spec.ipVersion, or the subnet's family (the webhook's default: ippool_mutate.go mutateIPPool)."""
    spec = pool.get("spec", {})
    if spec.get("ipVersion") in (4, 6):
        return spec["ipVersion"]
    try:
        return ipaddress.ip_network(spec.get("subnet", ""), strict=False).version
    except ValueError:
        raise AllocationError(f"IPPool {pool['metadata']['name']}: spec.subnet {spec.get('subnet')!r} is not a CIDR")


def _expand(items: list[str], version: int, where: str) -> set:
    found = set()
    for item in items or []:
        try:
            first, _, last = item.partition("-")
            start, end = ipaddress.ip_address(first.strip()), ipaddress.ip_address((last or first).strip())
        except ValueError:
            raise AllocationError(f"{where}: {item!r} is not an IP address or range 'a-b'") from None
        if start.version != version or end.version != version or end < start:
            raise AllocationError(f"{where}: {item!r} is not an IPv{version} range in ascending order")
        if int(end) - int(start) >= MAX_RANGE:
            raise AllocationError(f"{where}: {item!r} has more than {MAX_RANGE} addresses, more than the "
                                  "Spiderpool stand-in expands; split the pool")
        found.update(ipaddress.ip_address(n) for n in range(int(start), int(end) + 1))
    return found


def pool_addresses(pool: dict) -> list:
    """spec.ips minus spec.excludeIPs, lowest first (the webhook merges and sorts spec.ips)."""
    name, spec, version = pool["metadata"]["name"], pool.get("spec", {}), ip_version(pool)
    ips = _expand(spec.get("ips", []), version, f"IPPool {name} spec.ips")
    return sorted(ips - _expand(spec.get("excludeIPs", []), version, f"IPPool {name} spec.excludeIPs"))


def records(pool: dict) -> dict[str, dict]:
    """status.allocatedIPs: a JSON string mapping IP -> {"pod", "podUid", ...}."""
    data = (pool.get("status") or {}).get("allocatedIPs")
    try:
        return json.loads(data) if data else {}
    except ValueError:
        raise AllocationError(f"IPPool {pool['metadata']['name']}: status.allocatedIPs is not JSON") from None


def pool_refusal(pool: dict, version: int, owner: Owner) -> str | None:
    """Why ``pool`` may not serve ``owner`` (allocate.go selectByPod); None if it may.

    Evaluated: terminating, spec.disable, spec.ipVersion, spec.nodeName, spec.namespaceName. Not
    evaluated by the stand-in: the affinities (pod, node, namespace) and spec.multusName.
    """
    name, spec = pool["metadata"]["name"], pool.get("spec", {})
    if pool["metadata"].get("deletionTimestamp"):
        return f"terminating IPPool {name}"
    if spec.get("disable"):
        return f"disabled IPPool {name}"
    if ip_version(pool) != version:
        return f"expect an IPv{version} IPPool, but the version of the IPPool {name} is IPv{ip_version(pool)}"
    if spec.get("nodeName") and owner.node not in spec["nodeName"]:
        return f"unmatched Node name of IPPool {name}"
    if spec.get("namespaceName") and owner.namespace not in spec["namespaceName"]:
        return f"unmatched Namespace name of IPPool {name}"
    return None


def _priority(pool: dict) -> tuple:
    """ippoolmanager/utils.go ByPoolPriority: pools with more specific affinities first."""
    spec = pool.get("spec", {})
    keys = ("podAffinity", "nodeName", "nodeAffinity", "namespaceName", "namespaceAffinity", "multusName")
    return tuple(not spec.get(key) for key in keys)


def _result(pool: dict, address) -> Allocation:
    spec = pool["spec"]
    prefix = ipaddress.ip_network(spec["subnet"], strict=False).prefixlen
    routes = tuple((r["dst"], r["gw"]) for r in spec.get("routes") or [])
    return Allocation(pool["metadata"]["name"], ip_version(pool), f"{address}/{prefix}", spec.get("gateway"), routes)


def _get(api, name: str) -> dict:
    try:
        return api.get_cluster_custom_object(GROUP, VERSION, PLURAL, name)
    except ApiException as exc:
        hint = f" (create SpiderIPPool {name}, or fix the pod's pool annotation)" if exc.status == 404 else ""
        raise AllocationError(f"failed to get original IPPool {name}: {api_message(exc)}{hint}") from None


def _write(api, pool: dict, recs: dict[str, dict]) -> None:
    """Replace the status (carrying the read resourceVersion): allocatedIPs, allocatedIPCount, totalIPCount."""
    status = dict(pool.get("status") or {})
    status.pop("allocatedIPs", None)
    if recs:
        status["allocatedIPs"] = json.dumps(dict(sorted(recs.items())), separators=(",", ":"))
    status["allocatedIPCount"] = len(recs)
    status["totalIPCount"] = len(pool_addresses(pool))  # spiderpool-controller's job (ippool_informer.go)
    body = {**pool, "status": status}
    try:
        api.replace_cluster_custom_object_status(GROUP, VERSION, PLURAL, pool["metadata"]["name"], body)
    except ApiException as exc:
        if exc.status == 409:
            raise _Conflict() from None
        raise AllocationError(f"failed to update the status of IPPool {pool['metadata']['name']}: "
                              f"{api_message(exc)}") from None


def _retrying(action: str, name: str, step, *args):
    """Run ``step`` until it does not hit a Conflict (bounded like upstream's DefaultRetry)."""
    retrying = Retrying(retry=retry_if_exception_type(_Conflict), stop=stop_after_attempt(RETRIES),
                        wait=wait_exponential(multiplier=0.01, exp_base=1.5) + wait_random(0, 0.001))
    try:
        return retrying(step, *args)
    except RetryError:
        raise AllocationError(f"{RETRIES_EXHAUSTED} ({RETRIES} times), failed to {action} IPPool {name}: "
                              "the pool's status kept changing under us (409 Conflict)") from None


def _allocate_step(api, name: str, version: int, owner: Owner) -> Allocation:
    pool = _get(api, name)
    recs = records(pool)
    for ip, record in recs.items():
        if owner.holds(record):
            if record.get("containerID") != owner.container_id:
                _write(api, pool, {**recs, ip: owner.record()})
            return _result(pool, ip)
    free = next((a for a in pool_addresses(pool) if str(a) not in recs), None)
    if free is None:
        raise PoolExhausted(f"{IP_USED_OUT} in IPPool {name} ({len(recs)} of {len(pool_addresses(pool))} "
                            "allocated): add addresses to its spec.ips or delete pods that hold them")
    _write(api, pool, {**recs, str(free): owner.record()})
    return _result(pool, free)


def allocate(api, pool_names: tuple[str, ...] | list[str], version: int, owner: Owner) -> Allocation:
    """One IPv``version`` address for ``owner`` from the first suitable pool of ``pool_names``."""
    pools = [_get(api, name) for name in pool_names]
    for pool in pools:  # the owner's existing address wins (allocate.go retrieveExistingIPAllocation)
        if any(owner.holds(r) for r in records(pool).values()):
            return _retrying("allocate IP from", pool["metadata"]["name"], _allocate_step, api,
                             pool["metadata"]["name"], version, owner)
    refusals = [pool_refusal(pool, version, owner) for pool in pools]
    usable = sorted((p for p, why in zip(pools, refusals) if why is None), key=_priority)
    if not usable:
        raise AllocationError(f"no IPPool available, all IPv{version} IPPools {list(pool_names)} of "
                              f"{owner.interface} filtered out: {[r for r in refusals if r]}")
    errors = []
    for pool in usable:
        try:
            return _retrying("allocate IP from", pool["metadata"]["name"], _allocate_step, api,
                             pool["metadata"]["name"], version, owner)
        except AllocationError as exc:
            errors.append(str(exc))
    raise (PoolExhausted if all(IP_USED_OUT in e for e in errors) else AllocationError)(
        f"failed to allocate any IPv{version} IP address to NIC {owner.interface} from IPPools "
        f"{[p['metadata']['name'] for p in usable]}: {'; '.join(errors)}")


def _release_step(api, name: str, container_id: str, interface: str) -> list[str]:
    pool = _get(api, name)
    recs = records(pool)
    mine = [ip for ip, r in recs.items() if r.get("containerID") == container_id and r.get("interface") == interface]
    if mine:
        _write(api, pool, {ip: r for ip, r in recs.items() if ip not in mine})
    return mine


def release(api, container_id: str, interface: str) -> list[tuple[str, str]]:
    """Remove the records of (container id, interface) from every SpiderIPPool: [(pool, ip)] removed."""
    try:
        pools = api.list_cluster_custom_object(GROUP, VERSION, PLURAL).get("items", [])
    except ApiException as exc:
        raise AllocationError(f"failed to list SpiderIPPools: {api_message(exc)}") from None
    released = []
    for pool in pools:
        name = pool["metadata"]["name"]
        if any(r.get("containerID") == container_id and r.get("interface") == interface
               for r in records(pool).values()):
            ips = _retrying("release IP addresses from", name, _release_step, api, name, container_id, interface)
            released.extend((name, ip) for ip in ips)
    return released


def default_pools(api) -> list[tuple[str, int]]:
    """[(name, ipVersion)] of the SpiderIPPools with spec.default true (pool_selections.go getClusterDefaultPools)."""
    try:
        pools = api.list_cluster_custom_object(GROUP, VERSION, PLURAL).get("items", [])
    except ApiException as exc:
        raise AllocationError(f"failed to list SpiderIPPools: {api_message(exc)}") from None
    return [(p["metadata"]["name"], ip_version(p)) for p in pools if p.get("spec", {}).get("default")]
