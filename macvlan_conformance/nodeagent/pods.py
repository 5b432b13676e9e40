"""The pods bound to one node, run as network namespaces (the kubelet's pod workers, without containers).

Contract of ``PodWorker``: it lists and watches the pods with ``spec.nodeName=<node>`` (a watch from the
list's resourceVersion, re-listed on 410 Gone, reconnected on errors) and, like the kubelet:

* a new pod gets its sandbox (``Sandbox.add``); then its status is patched (``pods/status``) to Running
  with the kubelet's conditions, IPs, ``startTime`` and one running ``containerStatus`` a container;
* a failing sandbox leaves the pod Pending, records the kubelet's ``FailedCreatePodSandBox`` Warning event
  (repeated: its ``count`` goes up) and is retried with a backoff capped at ``max_backoff`` seconds, for ever;
* a pod with ``deletionTimestamp`` (graceful deletion, also one that never ran) has its sandbox torn down
  (``Sandbox.delete``), then is deleted with grace period 0 and a UID precondition, which ends it;
* a pod that disappears otherwise (forced deletion) has its sandbox torn down.

A pod already Running when the worker starts (the agent restarted) is adopted as it is. ``running(ns, name)``
gives the pods whose sandbox is up, for exec. The payload builders are pure functions of their arguments.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Protocol

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

NODE_IP = "127.0.0.1"
SMP = "application/strategic-merge-patch+json"
RUNTIME = "macvlan-conformance"
WATCH_TIMEOUT_S = 240       # the server ends each watch after this; the worker re-watches from its RV
READ_TIMEOUT_S = 30.0       # a silent connection is re-opened (bookmarks come about once a minute)


# --- the sandbox contract ---------------------------------------------------------------------------------
class SandboxError(RuntimeError):
    """The pod's sandbox could not be created (the CNI ADD failed): ``message`` says why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class SandboxResult:
    ips: list[str] = field(default_factory=list)  # the addresses of the pod's eth0


class Sandbox(Protocol):
    def add(self, pod: client.V1Pod) -> SandboxResult: ...
    def delete(self, pod: client.V1Pod) -> None: ...      # idempotent, also when add never succeeded
    def netns(self, pod: client.V1Pod) -> str: ...
    def host_netns(self) -> str: ...                       # "" = this process' own namespace


class NetnsOnlySandbox:
    """An empty network namespace a pod (loopback up, no NIC), named ``<prefix><first 12 hex of the UID>``;
    hostNetwork pods get none and run in ``host_netns`` (default: this process' namespace)."""

    def __init__(self, node: str, prefix: str, host_netns: str = ""):
        self.node, self.prefix, self._host = node, prefix, host_netns

    def netns(self, pod: client.V1Pod) -> str:
        return self.prefix + pod.metadata.uid.replace("-", "")[:12]

    def host_netns(self) -> str:
        return self._host

    def add(self, pod: client.V1Pod) -> SandboxResult:
        if pod.spec.host_network:
            return SandboxResult([])
        name = self.netns(pod)
        add = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
        if add.returncode != 0 and "File exists" not in add.stderr:
            raise SandboxError(f"ip netns add {name}: {add.stderr.strip()}")
        up = subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], capture_output=True, text=True)
        if up.returncode != 0:
            raise SandboxError(f"ip -n {name} link set lo up: {up.stderr.strip()}")
        return SandboxResult([])

    def delete(self, pod: client.V1Pod) -> None:
        if not pod.spec.host_network:
            subprocess.run(["ip", "netns", "del", self.netns(pod)], capture_output=True)


# --- payloads (pure) ------------------------------------------------------------------------------------
def rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod_ips(ips: list[str]) -> list[str]:
    """The API server's rule: at most one IP of each family, the first one given of each."""
    chosen, families = [], set()
    for ip in ips:
        family = ipaddress.ip_address(ip).version
        if family not in families:
            families.add(family)
            chosen.append(ip)
    return chosen


def container_id(pod: client.V1Pod, container: str) -> str:
    digest = hashlib.sha256(f"{pod.metadata.uid}/{container}".encode()).hexdigest()
    return f"{RUNTIME}://{digest}"


def running_status(pod: client.V1Pod, ips: list[str], now: datetime, node_ip: str = NODE_IP) -> dict:
    """The ``pods/status`` patch the kubelet makes once the pod's containers run."""
    stamp = rfc3339(now)
    addresses = [node_ip] if pod.spec.host_network else pod_ips(ips)
    conditions = [{"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": stamp}
                  for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")]
    status: dict[str, Any] = {
        "phase": "Running", "conditions": conditions, "hostIP": node_ip, "hostIPs": [{"ip": node_ip}],
        "startTime": stamp,
        "containerStatuses": [{
            "name": c.name, "ready": True, "started": True, "restartCount": 0, "image": c.image,
            "imageID": c.image, "containerID": container_id(pod, c.name),
            "state": {"running": {"startedAt": stamp}}, "lastState": {}} for c in pod.spec.containers],
    }
    if pod.spec.init_containers:
        status["initContainerStatuses"] = [{
            "name": c.name, "ready": True, "started": False, "restartCount": 0, "image": c.image,
            "imageID": c.image, "containerID": container_id(pod, c.name), "lastState": {},
            "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": stamp,
                                     "finishedAt": stamp, "containerID": container_id(pod, c.name)}}}
            for c in pod.spec.init_containers]
    if addresses:
        status["podIP"], status["podIPs"] = addresses[0], [{"ip": ip} for ip in addresses]
    if pod.metadata.generation:
        status["observedGeneration"] = pod.metadata.generation
    return {"status": status}


def sandbox_failure_event(pod: client.V1Pod, node: str, error: str, *, name: str, count: int,
                          first: datetime, last: datetime) -> dict:
    """The core/v1 Event the kubelet records when a pod's sandbox cannot be created."""
    meta = pod.metadata
    return {
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": meta.namespace},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "namespace": meta.namespace, "name": meta.name,
                           "uid": meta.uid, "resourceVersion": meta.resource_version},
        "reason": "FailedCreatePodSandBox", "message": f"Failed to create pod sandbox: {error}",
        "type": "Warning", "source": {"component": "kubelet", "host": node},
        "reportingComponent": "kubelet", "reportingInstance": node,
        "count": count, "firstTimestamp": rfc3339(first), "lastTimestamp": rfc3339(last),
    }


def event_name(pod: client.V1Pod, now: datetime) -> str:
    """``<pod>.<hex nanoseconds>``, as client-go's recorder names events."""
    return f"{pod.metadata.name}.{int(now.timestamp() * 1e9):x}"


def finalizing_delete(pod: client.V1Pod) -> dict:
    """The kubelet's last word on a terminated pod: delete now, and only this very pod."""
    return {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
            "preconditions": {"uid": pod.metadata.uid}}


def as_result(value) -> SandboxResult:
    """A ``SandboxResult``, also from a sandbox that returns the list of IPs itself."""
    return value if isinstance(value, SandboxResult) else SandboxResult(list(value or []))


# --- per-pod state and the retry queue ---------------------------------------------------------------------
@dataclass
class PodState:
    pod: client.V1Pod
    present: bool = True          # still in the API
    running: bool = False         # sandbox up
    status_posted: bool = False
    touched: bool = False         # add() was called: delete() is owed
    torn_down: bool = False
    finalized: bool = False
    attempts: int = 0
    ips: list[str] = field(default_factory=list)
    event: dict | None = None     # the last FailedCreatePodSandBox event: name, message, count, first


class Schedule:
    """Due times by pod UID (the earliest asked for wins); a UID is handed to one worker at a time."""

    def __init__(self):
        self._cv = threading.Condition()
        self._due: dict[str, float] = {}
        self._busy: set[str] = set()
        self.stopped = False

    def put(self, uid: str, delay: float = 0.0) -> None:
        with self._cv:
            due = time.monotonic() + delay
            if self._due.get(uid, float("inf")) > due:
                self._due[uid] = due
                self._cv.notify_all()

    def take(self) -> str | None:
        """The next due UID not being worked on (blocks); None once stopped."""
        with self._cv:
            while not self.stopped:
                ready = [(due, uid) for uid, due in self._due.items() if uid not in self._busy]
                wait = 1.0
                if ready:
                    due, uid = min(ready)
                    wait = due - time.monotonic()
                    if wait <= 0:
                        del self._due[uid]
                        self._busy.add(uid)
                        return uid
                self._cv.wait(min(wait, 1.0))
        return None

    def done(self, uid: str) -> None:
        with self._cv:
            self._busy.discard(uid)
            self._cv.notify_all()

    def stop(self) -> None:
        with self._cv:
            self.stopped = True
            self._cv.notify_all()


class Gone(Exception):
    """The watch's resourceVersion is too old (410): list again."""


# --- the worker --------------------------------------------------------------------------------------------
class PodWorker:
    def __init__(self, node: str, api_factory: Callable[[], client.ApiClient], sandbox: Sandbox, *,
                 log: logging.Logger | logging.LoggerAdapter, max_backoff: float = 10.0, workers: int = 8,
                 node_ip: str = NODE_IP):
        self.node, self.sandbox, self.log = node, sandbox, log
        self.max_backoff, self.node_ip = max_backoff, node_ip
        self._watch_api, self._api = api_factory(), api_factory()
        self._core = client.CoreV1Api(self._api)
        self._states: dict[str, PodState] = {}
        self._running: dict[tuple[str, str], client.V1Pod] = {}
        self._lock = threading.Lock()
        self._schedule = Schedule()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix=f"pods:{node}")
        self._stop = threading.Event()
        self._response = None
        self._threads = [threading.Thread(target=self._watch_loop, name=f"watch:{node}", daemon=True),
                         threading.Thread(target=self._dispatch_loop, name=f"dispatch:{node}", daemon=True)]

    # --- lifecycle ---
    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._schedule.stop()
        response = self._response
        if response is not None:
            _abort(response)
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=5)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._watch_api.close()
        self._api.close()

    def running(self, namespace: str, name: str) -> client.V1Pod | None:
        with self._lock:
            return self._running.get((namespace, name))

    # --- list and watch ---
    def _watch_loop(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                version = self._list()
                delay = 0.5
                while not self._stop.is_set():
                    version = self._watch(version)
            except Gone:
                self.log.info("pod watch: resourceVersion too old, listing again")
            except Exception as exc:  # noqa: BLE001 - reconnect on anything, as a reflector does
                if not self._stop.is_set():
                    self.log.warning("pod watch failed (%s); again in %.1f s", error_text(exc), delay)
                    self._stop.wait(delay)
                    delay = min(delay * 2, 10.0)

    def _list(self) -> str:
        pods = client.CoreV1Api(self._watch_api).list_pod_for_all_namespaces(
            field_selector=f"spec.nodeName={self.node}", _request_timeout=(10, 60))
        seen = set()
        for pod in pods.items:
            seen.add(pod.metadata.uid)
            self._observe(pod)
        with self._lock:
            vanished = [uid for uid, s in self._states.items() if s.present and uid not in seen]
        for uid in vanished:
            self._vanish(uid)
        return pods.metadata.resource_version

    def _watch(self, version: str) -> str:
        """One watch request from ``version``; the version to go on from."""
        core = client.CoreV1Api(self._watch_api)
        self._response = core.list_pod_for_all_namespaces(
            field_selector=f"spec.nodeName={self.node}", watch=True, resource_version=version,
            allow_watch_bookmarks=True, timeout_seconds=WATCH_TIMEOUT_S, _preload_content=False,
            _request_timeout=(10, READ_TIMEOUT_S))
        try:
            for line in iter_resp_lines(self._response):
                if line.strip():
                    version = self._event(json.loads(line), version)
        except Exception as exc:  # noqa: BLE001 - urllib3's read timeout: a quiet watch, open it again
            if "timed out" not in str(exc).lower() and not self._stop.is_set():
                raise
        finally:
            response, self._response = self._response, None
            try:
                response.release_conn()
            except Exception:  # noqa: BLE001 - a socket stop() shut down already
                pass
        return version

    def _event(self, event: dict, version: str) -> str:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise Gone()
            raise RuntimeError(f"watch error: {obj.get('message', obj)}")
        version = obj.get("metadata", {}).get("resourceVersion", version)
        if kind in ("ADDED", "MODIFIED"):
            self._observe(self._watch_api.deserialize(json.dumps(obj), "V1Pod", "application/json"))
        elif kind == "DELETED":
            self._vanish(obj["metadata"]["uid"])
        return version

    def _observe(self, pod: client.V1Pod) -> None:
        uid = pod.metadata.uid
        with self._lock:
            state = self._states.get(uid)
            if state is None:
                state = self._states[uid] = PodState(pod)
            state.pod, state.present = pod, True
            if state.running:
                self._running[(pod.metadata.namespace, pod.metadata.name)] = pod
        self._schedule.put(uid)

    def _vanish(self, uid: str) -> None:
        with self._lock:
            state = self._states.get(uid)
            if state is not None:
                state.present = False
        if state is not None:
            self._schedule.put(uid)

    # --- sync ---
    def _dispatch_loop(self) -> None:
        while (uid := self._schedule.take()) is not None:
            try:
                self._pool.submit(self._sync_safely, uid)
            except RuntimeError:  # the pool is shutting down
                self._schedule.done(uid)
                return

    def _sync_safely(self, uid: str) -> None:
        try:
            self._sync(uid)
        except Exception:  # noqa: BLE001
            self.log.exception("pod %s: sync failed; again in %.0f s", uid, self.max_backoff)
            self._schedule.put(uid, self.max_backoff)
        finally:
            self._schedule.done(uid)

    def _sync(self, uid: str) -> None:
        with self._lock:
            state = self._states.get(uid)
        if state is None or self._stop.is_set():
            return
        pod = state.pod
        if not state.present:
            self._forget(uid, state)
        elif pod.metadata.deletion_timestamp is not None:
            self._terminate(uid, state)
        elif (pod.status.phase if pod.status else None) in ("Succeeded", "Failed"):
            return
        elif not state.running and not state.touched and pod.status and pod.status.phase == "Running":
            self._adopt(state)
        elif not state.running:
            self._start(uid, state)
        elif not state.status_posted:
            self._post_running(uid, state, [])

    def _adopt(self, state: PodState) -> None:
        pod = state.pod
        ips = [p.ip for p in (pod.status.pod_ips or [])]
        self.log.info("pod %s/%s: already Running (%s), adopted", pod.metadata.namespace, pod.metadata.name,
                      ", ".join(ips) or "no IP")
        self._mark_running(state)
        state.touched = state.status_posted = True

    def _start(self, uid: str, state: PodState) -> None:
        pod, name = state.pod, f"{state.pod.metadata.namespace}/{state.pod.metadata.name}"
        state.touched = True
        try:
            result = as_result(self.sandbox.add(pod))
        except Exception as exc:  # noqa: BLE001 - any failure of the sandbox is FailedCreatePodSandBox
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            state.attempts += 1
            delay = min(self.max_backoff, 2.0 ** (state.attempts - 1))
            self.log.warning("pod %s: sandbox failed (attempt %d, again in %.0f s): %s", name, state.attempts,
                             delay, message)
            self._record_failure(state, message)
            self._schedule.put(uid, delay)
            return
        self._mark_running(state)
        self.log.info("pod %s: sandbox up (%s)", name, ", ".join(result.ips) or "no IP")
        self._post_running(uid, state, result.ips)

    def _mark_running(self, state: PodState) -> None:
        with self._lock:
            state.running = True
            self._running[(state.pod.metadata.namespace, state.pod.metadata.name)] = state.pod

    def _post_running(self, uid: str, state: PodState, ips: list[str]) -> None:
        pod = state.pod
        state.ips = ips or state.ips
        try:
            self._core.patch_namespaced_pod_status(pod.metadata.name, pod.metadata.namespace,
                                                   running_status(pod, state.ips, _now(), self.node_ip),
                                                   _content_type=SMP)
            state.status_posted = True
        except ApiException as exc:
            if exc.status == 404:
                return
            self.log.warning("pod %s/%s: status not posted (%s); again in 1 s", pod.metadata.namespace,
                             pod.metadata.name, error_text(exc))
            self._schedule.put(uid, 1.0)

    def _record_failure(self, state: PodState, message: str) -> None:
        pod, now, event = state.pod, _now(), state.event
        try:
            if event and event["message"] == message:
                event["count"] += 1
                patch = {"count": event["count"], "lastTimestamp": rfc3339(now)}
                try:
                    self._core.patch_namespaced_event(event["name"], pod.metadata.namespace, patch,
                                                      _content_type="application/merge-patch+json")
                    return
                except ApiException as exc:
                    if exc.status != 404:
                        raise
            event = state.event = {"name": event_name(pod, now), "message": message, "count": 1, "first": now}
            body = sandbox_failure_event(pod, self.node, message, name=event["name"], count=1, first=now, last=now)
            self._core.create_namespaced_event(pod.metadata.namespace, body)
        except ApiException as exc:
            self.log.warning("pod %s/%s: event not recorded: %s", pod.metadata.namespace, pod.metadata.name,
                             error_text(exc))

    def _teardown(self, state: PodState) -> bool:
        """The sandbox's delete, once; False (and logged) when it failed."""
        if state.touched and not state.torn_down:
            try:
                self.sandbox.delete(state.pod)
            except Exception as exc:  # noqa: BLE001
                self.log.warning("pod %s/%s: sandbox teardown failed: %s", state.pod.metadata.namespace,
                                 state.pod.metadata.name, exc)
                return False
        state.torn_down = True
        with self._lock:
            state.running = False
            self._running.pop((state.pod.metadata.namespace, state.pod.metadata.name), None)
        return True

    def _terminate(self, uid: str, state: PodState) -> None:
        pod = state.pod
        if state.finalized:
            return
        if not self._teardown(state):
            self._schedule.put(uid, self.max_backoff)
            return
        try:
            self._core.delete_namespaced_pod(pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0,
                                             body=finalizing_delete(pod))
        except ApiException as exc:
            if exc.status not in (404, 409):  # gone already, or another pod of that name by now
                self.log.warning("pod %s/%s: final delete failed (%s); again in 1 s", pod.metadata.namespace,
                                 pod.metadata.name, error_text(exc))
                self._schedule.put(uid, 1.0)
                return
        state.finalized = True
        self.log.info("pod %s/%s: terminated", pod.metadata.namespace, pod.metadata.name)

    def _forget(self, uid: str, state: PodState) -> None:
        if not self._teardown(state):
            self._schedule.put(uid, self.max_backoff)
            return
        with self._lock:
            if not state.present:
                self._states.pop(uid, None)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def error_text(exc: Exception) -> str:
    if isinstance(exc, ApiException):
        try:
            return f"{exc.status} {json.loads(exc.body).get('message', exc.reason)}"
        except (TypeError, ValueError, AttributeError):
            return f"{exc.status} {exc.reason}"
    return str(exc) or type(exc).__name__


def _abort(response) -> None:
    """Shut the socket under a streaming urllib3 response down, so that a thread reading it wakes up."""
    try:
        sock = response.connection.sock if response.connection else None
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    except (AttributeError, OSError):
        pass
    try:
        response.close()
    except Exception:  # noqa: BLE001
        pass
