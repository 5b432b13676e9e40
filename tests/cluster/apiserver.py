"""A Kubernetes API double on 127.0.0.1 for testing the cluster target's client flow.

It speaks the wire protocol the official client uses: JSON objects and Status errors, bearer-token
auth, label and field selectors, watches (JSON lines), and the exec websocket (v4.channel.k8s.io:
channel 0 stdin, 1 stdout, 2 stderr, 3 status). CRDs are the real ones from ``macvlan_conformance/crds`` and
custom objects are validated against their ``openAPIV3Schema`` on create, as an API server does.

What happens to pods is a *kubelet* plugged in by the test: ``HostKubelet`` runs their exec on this host,
for the error paths of the client flow. The suites themselves run against the real kube-apiserver (the
kube lab, ``tests/kube/``), which replaced this double's lab-backed kubelet. There is no scheduler, no
admission webhook and no garbage collector beyond namespace deletion.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import sys
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import yaml
from aiohttp import WSMsgType, web

CRDS = Path(__file__).resolve().parents[2] / "macvlan_conformance" / "crds"
STATUS_OK = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}


class SandboxError(RuntimeError):
    """The kubelet could not give the pod its network (the CNI ADD failed)."""


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def status(code: int, reason: str, message: str) -> web.Response:
    return web.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                              "message": message, "reason": reason, "code": code}, status=code)


def _selector_matches(selector: str | None, labels: dict) -> bool:
    """Equality (``key=value``) and existence (``key``) terms."""
    for term in filter(None, (selector or "").split(",")):
        key, eq, value = term.partition("=")
        if (labels.get(key) != value) if eq else (key not in labels):
            return False
    return True


def _field_matches(selector: str | None, obj: dict) -> bool:
    for term in filter(None, (selector or "").split(",")):
        path, _, value = term.partition("=")
        current = obj
        for part in path.split("."):
            current = current.get(part, {}) if isinstance(current, dict) else {}
        if current != value:
            return False
    return True


class FakeApiServer:
    """Start with ``start()``; ``kubeconfig(path)`` writes a kubeconfig the official client can load."""

    def __init__(self, nodes: list[str], kubelet=None, *, token: str = "t0ken-do-not-print",
                 multus_ready: bool = True, missing_crds: tuple[str, ...] = (), forbid: tuple[tuple[str, str], ...] = (),
                 extra_crds: tuple[dict, ...] = ()):
        self.nodes, self.kubelet, self.token = nodes, kubelet, token
        self.multus_ready, self.missing_crds, self.forbid = multus_ready, set(missing_crds), set(forbid)
        self.objects: dict[tuple, dict] = {}  # (group, plural, namespace, name) -> object
        self.requests: list[tuple[str, str]] = []
        self._versions = itertools.count(1000)
        self._watchers: list[tuple[str, str, str | None, asyncio.Queue]] = []
        self._crds = {}
        for path in CRDS.glob("*.yaml"):
            crd = yaml.safe_load(path.read_text())
            self._crds[crd["metadata"]["name"]] = crd
        for crd in extra_crds:
            self._crds[crd["metadata"]["name"]] = crd
        self._lock = threading.RLock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.port = 0

    # --- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> FakeApiServer:
        ready = threading.Event()

        def serve():
            self.loop = asyncio.new_event_loop()
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._dispatch)
            self._runner = web.AppRunner(app)
            self.loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            self.loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]
            ready.set()
            self.loop.run_forever()
            self.loop.run_until_complete(self._runner.cleanup())
            self.loop.close()

        self._thread = threading.Thread(target=serve, name="fake-apiserver", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self.loop:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kubeconfig(self, path: Path, context: str = "double") -> Path:
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": context,
            "clusters": [{"name": "double", "cluster": {"server": self.url}}],
            "users": [{"name": "conformance", "user": {"token": self.token}}],
            "contexts": [{"name": context, "context": {"cluster": "double", "user": "conformance"}}]}))
        return path

    # --- store ---------------------------------------------------------------------------------------
    def seed(self, group: str, plural: str, obj: dict, namespace: str | None = None) -> None:
        """Store an object that another controller or the cluster's admin would have written (NodeNetworkState,
        the cluster's own NADs and SpiderIPPools); cluster-scoped unless ``namespace``."""
        self._put(group, plural, namespace, copy.deepcopy(obj), "ADDED")

    def list(self, plural: str, namespace: str | None = None) -> list[dict]:
        with self._lock:
            return [copy.deepcopy(o) for (_, p, ns, _), o in self.objects.items()
                    if p == plural and (namespace is None or ns == namespace)]

    def _put(self, group: str, plural: str, namespace: str | None, obj: dict, event: str) -> dict:
        with self._lock:
            obj["metadata"]["resourceVersion"] = str(next(self._versions))
            self.objects[(group, plural, namespace, obj["metadata"]["name"])] = obj
            snapshot = copy.deepcopy(obj)
        self._notify(plural, namespace, snapshot, event)
        return snapshot

    def _remove(self, group: str, plural: str, namespace: str | None, name: str) -> dict | None:
        with self._lock:
            obj = self.objects.pop((group, plural, namespace, name), None)
        if obj is not None:
            self._notify(plural, namespace, obj, "DELETED")
        return obj

    def _notify(self, plural, namespace, obj, event) -> None:
        for w_plural, w_ns, selector, queue in list(self._watchers):
            if w_plural == plural and w_ns == namespace and _selector_matches(selector, obj["metadata"].get("labels", {})):
                self.loop.call_soon_threadsafe(queue.put_nowait, {"type": event, "object": copy.deepcopy(obj)})

    def update_pod(self, namespace: str, name: str, change) -> None:
        """Apply ``change(pod)`` to a stored pod (the kubelet reporting), as a MODIFIED event."""
        with self._lock:
            pod = self.objects.get(("", "pods", namespace, name))
            if pod is None:
                return
            pod = copy.deepcopy(pod)
            change(pod)
        self._put("", "pods", namespace, pod, "MODIFIED")

    def record_event(self, namespace: str, pod: str, reason: str, message: str, type_: str = "Warning") -> None:
        name = f"{pod}.{uuid.uuid4().hex[:8]}"
        self._put("", "events", namespace, {
            "apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {"kind": "Pod", "name": pod, "namespace": namespace},
            "reason": reason, "message": message, "type": type_, "count": 1,
            "firstTimestamp": now(), "lastTimestamp": now(), "source": {"component": "kubelet"}}, "ADDED")

    # --- HTTP -------------------------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return status(401, "Unauthorized", "Unauthorized")
        parts = [p for p in request.path.split("/") if p]
        if parts == ["version"]:
            return web.json_response({"major": "1", "minor": "37", "gitVersion": "v1.37.0-apidouble",
                                      "gitCommit": "0" * 40, "gitTreeState": "clean",
                                      "buildDate": "2026-10-01T00:00:00Z", "goVersion": "go1.25.1",
                                      "compiler": "gc", "platform": "linux/amd64"})
        if parts[:1] == ["api"]:
            group, rest = "", parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, rest = parts[1], parts[3:]
        else:
            return status(404, "NotFound", f"the server could not find the requested resource ({request.path})")
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        plural, name, sub = rest[0], (rest[1] if len(rest) > 1 else None), (rest[2] if len(rest) > 2 else None)
        verb = {"GET": "get" if name else "list", "POST": "create", "DELETE": "delete", "PUT": "update",
                "PATCH": "patch"}.get(request.method, request.method.lower())
        if (verb, plural) in self.forbid:
            return status(403, "Forbidden", f'{plural} is forbidden: User "conformance" cannot {verb} resource '
                                            f'"{plural}" in API group "{group}"'
                                            + (f' in the namespace "{namespace}"' if namespace else ""))
        if sub == "exec":
            return await self._exec(request, namespace, name)
        if group == "apiextensions.k8s.io" and plural == "customresourcedefinitions":
            crd = self._crds.get(name)
            if crd is None or name in self.missing_crds:
                return status(404, "NotFound", f'customresourcedefinitions.apiextensions.k8s.io "{name}" not found')
            return web.json_response(crd)
        if plural == "nodes":
            return self._nodes(name)
        if plural == "daemonsets":
            return web.json_response({"apiVersion": "apps/v1", "kind": "DaemonSetList", "metadata": {},
                                      "items": [self._multus_daemonset()]})
        if request.method == "POST":
            return await self._create(request, group, plural, namespace)
        if request.method == "DELETE":
            return await self._delete(group, plural, namespace, name)
        if name:
            with self._lock:
                obj = self.objects.get((group, plural, namespace, name))
            if obj is None:
                return status(404, "NotFound", f'{plural} "{name}" not found')
            return web.json_response(obj)
        if request.query.get("watch", "").lower() in ("true", "1"):
            return await self._watch(request, plural, namespace)
        items = [o for o in self.list(plural, namespace)
                 if _selector_matches(request.query.get("labelSelector"), o["metadata"].get("labels", {}))
                 and _field_matches(request.query.get("fieldSelector"), o)]
        return web.json_response({"apiVersion": "v1", "kind": "List",
                                  "metadata": {"resourceVersion": str(next(self._versions))}, "items": items})

    async def _create(self, request, group, plural, namespace) -> web.Response:
        obj = await request.json()
        name = obj["metadata"]["name"]
        with self._lock:
            if (group, plural, namespace, name) in self.objects:
                return status(409, "AlreadyExists", f'{plural} "{name}" already exists')
        if namespace is not None and plural != "events":
            with self._lock:
                if ("", "namespaces", None, namespace) not in self.objects:
                    return status(404, "NotFound", f'namespaces "{namespace}" not found')
        invalid = self._invalid(group, plural, obj)
        if invalid:
            return status(422, "Invalid", invalid)
        obj["metadata"].update({"uid": str(uuid.uuid4()), "creationTimestamp": now()})
        if namespace:
            obj["metadata"]["namespace"] = namespace
        if plural == "pods":
            obj["status"] = {"phase": "Pending"}
        if plural == "namespaces":
            obj["status"] = {"phase": "Active"}
        stored = self._put(group, plural, namespace, obj, "ADDED")
        if plural == "pods" and self.kubelet is not None:
            asyncio.get_running_loop().run_in_executor(None, self._start_pod, copy.deepcopy(stored))
        return web.json_response(stored, status=201)

    def _invalid(self, group: str, plural: str, obj: dict) -> str | None:
        crd = next((c for c in self._crds.values() if c["spec"]["group"] == group
                    and c["spec"]["names"]["plural"] == plural), None)
        if crd is None:
            return None
        version = obj["apiVersion"].split("/")[1]
        schema = next((v["schema"]["openAPIV3Schema"] for v in crd["spec"]["versions"] if v["name"] == version), None)
        if schema is None:
            return f"no kind {obj['kind']} is registered for version {obj['apiVersion']}"
        try:
            jsonschema.validate({k: v for k, v in obj.items() if k != "metadata"},
                                {**schema, "properties": {k: v for k, v in schema["properties"].items() if k != "metadata"}})
        except jsonschema.ValidationError as exc:
            return f"{obj['kind']}.{group} \"{obj['metadata']['name']}\" is invalid: {exc.message}"
        return None

    async def _delete(self, group, plural, namespace, name) -> web.Response:
        with self._lock:
            obj = self.objects.get((group, plural, namespace, name))
        if obj is None:
            return status(404, "NotFound", f'{plural} "{name}" not found')
        loop = asyncio.get_running_loop()
        if plural == "namespaces":
            await loop.run_in_executor(None, self._delete_namespace, name)
            return web.json_response(STATUS_OK)
        if plural == "pods":
            await loop.run_in_executor(None, self._stop_pod, namespace, name)
        else:
            self._remove(group, plural, namespace, name)
        return web.json_response(obj)  # the API answers a delete with the object

    def _delete_namespace(self, namespace: str) -> None:
        with self._lock:
            keys = [k for k in self.objects if k[2] == namespace]
        for group, plural, ns, name in keys:
            if plural == "pods":
                self._stop_pod(ns, name)
            else:
                self._remove(group, plural, ns, name)
        self._remove("", "namespaces", None, namespace)

    async def _watch(self, request, plural, namespace) -> web.StreamResponse:
        queue: asyncio.Queue = asyncio.Queue()
        selector = request.query.get("labelSelector")
        entry = (plural, namespace, selector, queue)
        self._watchers.append(entry)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        timeout = float(request.query.get("timeoutSeconds", 60))
        try:
            since = int(request.query.get("resourceVersion") or 0)
            for obj in self.list(plural, namespace):  # what changed after the client's list
                if int(obj["metadata"]["resourceVersion"]) > since and \
                        _selector_matches(selector, obj["metadata"].get("labels", {})):
                    await response.write((json.dumps({"type": "ADDED", "object": obj}) + "\n").encode())
            deadline = asyncio.get_running_loop().time() + timeout
            while True:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                try:
                    event = await asyncio.wait_for(queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
                await response.write((json.dumps(event) + "\n").encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._watchers.remove(entry)
        return response

    # --- cluster-provided objects -----------------------------------------------------------------------
    def _nodes(self, name: str | None) -> web.Response:
        def node(n: str) -> dict:
            return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": n, "labels": {"kubernetes.io/hostname": n}},
                    "status": {"conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {
                        "architecture": "amd64", "bootID": "b", "containerRuntimeVersion": "containerd://2.1.0",
                        "kernelVersion": "6.1.0-apidouble", "kubeProxyVersion": "v1.37.0",
                        "kubeletVersion": "v1.37.0", "machineID": "m", "operatingSystem": "linux",
                        "osImage": "Debian GNU/Linux 12", "systemUUID": "s"}}}
        if name:
            return web.json_response(node(name)) if name in self.nodes else \
                status(404, "NotFound", f'nodes "{name}" not found')
        return web.json_response({"apiVersion": "v1", "kind": "NodeList", "metadata": {},
                                  "items": [node(n) for n in self.nodes]})

    def _multus_daemonset(self) -> dict:
        count = len(self.nodes)
        return {"apiVersion": "apps/v1", "kind": "DaemonSet",
                "metadata": {"name": "kube-multus-ds", "namespace": "kube-system"},
                "spec": {"selector": {"matchLabels": {"app": "multus"}},
                         "template": {"metadata": {"labels": {"app": "multus"}}, "spec": {"containers": [
                             {"name": "kube-multus", "image": "ghcr.io/k8snetworkplumbingwg/multus-cni:v4.2.2"}]}}},
                "status": {"currentNumberScheduled": count, "desiredNumberScheduled": count,
                           "numberMisscheduled": 0, "numberReady": count if self.multus_ready else 0}}

    # --- the kubelet's side -------------------------------------------------------------------------------
    def _start_pod(self, pod: dict) -> None:
        namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        try:
            network_status = self.kubelet.start(pod, self)
        except SandboxError as exc:
            self.record_event(namespace, name, "FailedCreatePodSandBox", f"Failed to create pod sandbox: {exc}")
            return

        def running(p: dict) -> None:
            if network_status is not None:  # None: a hostNetwork pod, which Multus leaves alone
                p["metadata"].setdefault("annotations", {})["k8s.v1.cni.cncf.io/network-status"] = \
                    json.dumps(network_status)
            p["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                           "containerStatuses": [{"name": "probe", "ready": True, "restartCount": 0, "image": "probe",
                                                  "imageID": "probe", "state": {"running": {"startedAt": now()}}}]}
        self.update_pod(namespace, name, running)

    def _stop_pod(self, namespace: str, name: str) -> None:
        with self._lock:
            pod = self.objects.get(("", "pods", namespace, name))
        if pod is not None and self.kubelet is not None:
            self.kubelet.stop(pod)
        self._remove("", "pods", namespace, name)

    async def _exec(self, request: web.Request, namespace: str, name: str) -> web.StreamResponse:
        with self._lock:
            pod = self.objects.get(("", "pods", namespace, name))
        if pod is None or pod.get("status", {}).get("phase") != "Running":
            return status(404 if pod is None else 400, "BadRequest", f"pod {name} is not running")
        ws = web.WebSocketResponse(protocols=("v5.channel.k8s.io", "v4.channel.k8s.io"))
        await ws.prepare(request)
        argv = self.kubelet.exec_argv(pod, request.query.getall("command"))
        proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.PIPE,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)

        async def pump(stream, channel: int):
            while chunk := await stream.read(65536):
                await ws.send_bytes(bytes([channel]) + chunk)

        pumps = [asyncio.ensure_future(pump(proc.stdout, 1)), asyncio.ensure_future(pump(proc.stderr, 2))]
        async for message in ws:
            if message.type in (WSMsgType.BINARY, WSMsgType.TEXT):
                data = message.data if isinstance(message.data, bytes) else message.data.encode()
                if data[:1] == b"\x00" and len(data) > 1:
                    proc.stdin.write(data[1:])
                    await proc.stdin.drain()
            else:
                break
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        for task in pumps:
            task.cancel()
        if not ws.closed:
            await ws.send_bytes(b"\x03" + json.dumps(STATUS_OK).encode())
            await ws.close()
        return ws


class HostKubelet:
    """Pods run nowhere: network-status is what ``status_for(pod)`` says, and exec runs on this host
    (``python3`` meaning this interpreter). For tests of the client flow and the exec transport."""

    def __init__(self, status_for, refuse=lambda pod: None):
        self.status_for, self.refuse = status_for, refuse

    def start(self, pod: dict, server: FakeApiServer) -> list[dict] | None:
        if pod["spec"].get("hostNetwork"):
            return None
        reason = self.refuse(pod)
        if reason:
            raise SandboxError(reason)
        return self.status_for(pod)

    def stop(self, pod: dict) -> None:
        pass

    @staticmethod
    def exec_argv(pod: dict, command: list[str]) -> list[str]:
        return [sys.executable if command[0] == "python3" else command[0], *command[1:]]
