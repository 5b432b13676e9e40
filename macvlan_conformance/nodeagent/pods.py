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
gives the pods whose sandbox is up, for exec. The sandbox contract is in ``sandbox``, the payloads in
``kubelet_objects``, the retry queue in ``schedule``; their public names are importable from here too.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from .kubelet_objects import (NODE_IP, RUNTIME, SMP, container_id, error_text, event_name, finalizing_delete,
                              pod_ips, rfc3339, running_status, sandbox_failure_event)
from .sandbox import NetnsOnlySandbox, Sandbox, SandboxError, SandboxResult, as_result
from .schedule import Schedule

__all__ = [
    "READ_TIMEOUT_S", "WATCH_TIMEOUT_S", "Gone", "PodState", "PodWorker",
    # re-exported from .kubelet_objects, .sandbox and .schedule
    "NODE_IP", "RUNTIME", "SMP", "container_id", "error_text", "event_name", "finalizing_delete", "pod_ips",
    "rfc3339", "running_status", "sandbox_failure_event",
    "NetnsOnlySandbox", "Sandbox", "SandboxError", "SandboxResult", "as_result",
    "Schedule",
]

WATCH_TIMEOUT_S = 240       # the server ends each watch after this; the worker re-watches from its RV
READ_TIMEOUT_S = 30.0       # a silent connection is re-opened (bookmarks come about once a minute)


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


class Gone(Exception):
    """The watch's resourceVersion is too old (410): list again."""


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
