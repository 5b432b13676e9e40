"""The node agent without root: the exec server over real TLS (a test CA) speaking WebSocket and SPDY/3.1
to commands run on this host, the kubelet's payloads, and the pod worker's decisions against a fake API."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import socket
import ssl
import struct
import sys
from types import SimpleNamespace
from urllib.parse import urlencode

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from macvlan_conformance.nodeagent import command as cmd
from macvlan_conformance.nodeagent import exec_server as es
from macvlan_conformance.nodeagent import http1
from macvlan_conformance.nodeagent import kubelet_objects as ko
from macvlan_conformance.nodeagent import node as nd
from macvlan_conformance.nodeagent import pods as pw
from macvlan_conformance.nodeagent import spdy
from macvlan_conformance.nodeagent.sandbox import SandboxError
from macvlan_conformance.nodeagent.schedule import Schedule
from macvlan_conformance.nodeagent.agent import exec_argv, make_sandbox

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.timezone.utc)


# --- a test PKI ----------------------------------------------------------------------------------------------
def _cert(subject: str, key, issuer_cert=None, issuer_key=None, *, ca=False, server=False):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(name)
               .issuer_name(issuer_cert.subject if issuer_cert else name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(hours=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def _write(path, cert, key=None):
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        path.with_suffix(".key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return str(path.with_suffix(".crt")), str(path.with_suffix(".key"))


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("test-ca", ca_key, ca=True)
    ca_file, _ = _write(d / "ca", ca)
    keys = {n: ec.generate_private_key(ec.SECP256R1()) for n in ("server", "client", "rogue", "rogue-ca")}
    server = _write(d / "server", _cert("node-a", keys["server"], ca, ca_key, server=True), keys["server"])
    apiserver = _write(d / "client", _cert("kube-apiserver-kubelet-client", keys["client"], ca, ca_key), keys["client"])
    rogue_ca = _cert("rogue-ca", keys["rogue-ca"], ca=True)
    rogue = _write(d / "rogue", _cert("rogue", keys["rogue"], rogue_ca, keys["rogue-ca"]), keys["rogue"])
    return SimpleNamespace(ca=ca_file, server=server, client=apiserver, rogue=rogue)


def _client_context(pki, pair=None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pki.ca)
    if pair:
        context.load_cert_chain(*pair)
    return context


# --- an exec server running commands on this host ------------------------------------------------------------
class HostSandbox:
    """netns() of "" makes the agent's argv builder run the command as is, on this host."""

    def netns(self, pod):
        return ""

    def host_netns(self):
        return ""


def _pod(name="probe-0", namespace="ns1", uid="0f0e0d0c-0b0a-4908-8706-050403020100", host_network=False,
         containers=("probe",), phase="Pending", deleting=False):
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, namespace=namespace, uid=uid, resource_version="42", generation=1,
                                     deletion_timestamp=NOW if deleting else None),
        spec=client.V1PodSpec(node_name="node-a", host_network=host_network,
                              containers=[client.V1Container(name=c, image="probe:1") for c in containers]),
        status=client.V1PodStatus(phase=phase))


@pytest.fixture(scope="module")
def server(pki):
    pod, sandbox = _pod(), HostSandbox()

    def argv_for(namespace, name, uid, container, command):
        if (namespace, name, container) != ("ns1", "probe-0", "probe"):
            raise LookupError(f"pod {namespace}/{name} is not running")
        return exec_argv(sandbox, pod, command, sys.executable)

    srv = es.ExecServer(argv_for, *pki.server, pki.ca)
    srv.start()
    yield srv
    srv.stop()


def _exec_path(command, **flags) -> str:
    query = [("command", c) for c in command] + [(k, v) for k, v in flags.items()]
    return "/exec/ns1/probe-0/probe?" + urlencode(query)


def test_client_without_certificate_is_refused_at_the_handshake(server, pki):
    for pair in (None, pki.rogue):  # no certificate; one of another CA
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
            with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
                with _client_context(pki, pair).wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                    # TLS 1.3: the server's verdict on the certificate arrives with the first read
                    tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                    assert tls.recv(100) == b"", "an uncertified client got an answer"
                    raise ConnectionResetError("closed without an answer")


def _get(server, pki, path: str) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        with _client_context(pki, pki.client).wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            data = b""
            while chunk := tls.recv(4096):
                data += chunk
            return data


def test_healthz_and_errors(server, pki):
    assert _get(server, pki, "/healthz").endswith(b"\r\n\r\nok")
    assert _get(server, pki, "/exec/ns1/other/probe?command=true&output=1").startswith(b"HTTP/1.1 404")
    assert _get(server, pki, "/exec/ns1/probe-0/probe?command=true").startswith(b"HTTP/1.1 400")
    assert b"Upgrade request required" in _get(server, pki, "/exec/ns1/probe-0/probe?command=true&output=1")


async def _ws_exec(server, pki, path, protocols, stdin: bytes = b""):
    frames: list[bytes] = []
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"https://127.0.0.1:{server.port}{path}", protocols=protocols,
                                      ssl=_client_context(pki, pki.client)) as ws:
            if stdin:
                await ws.send_bytes(b"\x00" + stdin)
            async for message in ws:
                if message.type == aiohttp.WSMsgType.BINARY:
                    frames.append(message.data)
            return ws.protocol, frames


def _channels(frames: list[bytes]) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    for frame in frames:
        out[frame[0]] = out.get(frame[0], b"") + frame[1:]
    return out


def test_websocket_v4_exec_prints_hi_and_succeeds(server, pki):
    path = _exec_path(["python3", "-c", "print('hi')"], input="1", output="1", error="1")
    protocol, frames = asyncio.run(_ws_exec(server, pki, path, ("v4.channel.k8s.io",)))
    assert protocol == "v4.channel.k8s.io"
    assert frames[0] == b"\x01"  # the kubelet's "streams are up" on the lowest writable channel
    channels = _channels(frames)
    assert channels[1] == b"hi\n"
    assert json.loads(channels[3]) == {"metadata": {}, "status": "Success"}
    assert frames[-1][0] == 3


def test_websocket_stdin_exit_code_and_true_flags(server, pki):
    script = "import sys; sys.stdout.write(sys.stdin.readline().upper()); sys.stderr.write('e'); sys.exit(3)"
    path = _exec_path(["python3", "-c", script], stdin="true", stdout="true", stderr="true")
    protocol, frames = asyncio.run(_ws_exec(server, pki, path, ("v5.channel.k8s.io", "v4.channel.k8s.io"), b"ab\n"))
    assert protocol == "v5.channel.k8s.io"
    channels = _channels(frames)
    assert channels[1] == b"AB\n" and channels[2] == b"e"
    status = json.loads(channels[3])
    assert status["status"] == "Failure" and status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]


def test_websocket_missing_executable_is_an_error_status(server, pki):
    path = _exec_path(["/nonexistent/binary"], output="1")
    _, frames = asyncio.run(_ws_exec(server, pki, path, ("v4.channel.k8s.io",)))
    status = json.loads(_channels(frames)[3])
    assert status["status"] == "Failure" and "failed to exec" in status["message"]


# --- SPDY/3.1, as client-go's SPDY executor (the API server's stream translator) speaks it ---------------------
async def _spdy_exec(server, pki, path: str, stdin: bytes):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port, ssl=_client_context(pki, pki.client),
                                                   server_hostname="127.0.0.1")
    writer.write((f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                  "X-Stream-Protocol-Version: v5.channel.k8s.io\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n"
                  "X-Stream-Protocol-Version: channel.k8s.io\r\nContent-Length: 0\r\n\r\n").encode())
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    codec, ids = spdy.SpdyCodec(), {"error": 1, "stdin": 3, "stdout": 5, "stderr": 7}
    for kind, stream_id in ids.items():  # one at a time, each waiting for its reply, like client-go
        block = codec.encode_headers({"streamtype": [kind]})
        writer.write(spdy.SpdyCodec.control(spdy.SYN_STREAM, 0, struct.pack(">IIBB", stream_id, 0, 0, 0) + block))
        reply = await spdy.SpdyCodec.read(reader)
        assert (reply.control, reply.kind) == (True, spdy.SYN_REPLY)
        assert struct.unpack_from(">I", reply.payload)[0] == stream_id and codec.decode_headers(reply.payload[4:]) == {}
    writer.write(spdy.SpdyCodec.control(spdy.PING, 0, struct.pack(">I", 1)))
    writer.write(spdy.SpdyCodec.data(3, 0, stdin) + spdy.SpdyCodec.data(3, spdy.FLAG_FIN, b""))
    data, finished, pinged, reset = {i: b"" for i in ids.values()}, set(), False, False
    while finished != {1, 5, 7}:
        frame = await spdy.SpdyCodec.read(reader)
        if frame.control:
            pinged |= frame.kind == spdy.PING
            reset |= frame.kind == spdy.RST_STREAM and struct.unpack_from(">I", frame.payload)[0] == 3
            continue
        data[frame.kind] += frame.payload
        if frame.flags & spdy.FLAG_FIN:
            finished.add(frame.kind)
    writer.write(spdy.SpdyCodec.control(spdy.GOAWAY, 0, struct.pack(">II", 0, 0)))
    writer.close()
    return head, data, pinged, reset


def test_spdy_exec_as_the_api_servers_stream_translator(server, pki):
    script = "import sys; d = sys.stdin.read(); print(d[::-1]); print('err', file=sys.stderr)"
    path = _exec_path(["python3", "-c", script], input="1", output="1", error="1")
    head, data, pinged, reset = asyncio.run(_spdy_exec(server, pki, path, b"olleh"))
    assert head.startswith("HTTP/1.1 101") and "Upgrade: SPDY/3.1" in head
    assert "X-Stream-Protocol-Version: v4.channel.k8s.io" in head  # the kubelet's choice: v4 over SPDY
    assert data[5] == b"hello\n" and data[7] == b"err\n"
    assert json.loads(data[1]) == {"metadata": {}, "status": "Success"}
    assert pinged and reset


def test_spdy_dictionary_and_header_blocks_round_trip():
    assert len(spdy.SPDY_DICT) == 1423 and spdy.SPDY_DICT.endswith(b",*,enq=0.")
    sender, receiver = spdy.SpdyCodec(), spdy.SpdyCodec()
    for headers in ({"streamtype": ["stdout"]}, {}, {"a": ["1", "2"], "streamtype": ["error"]}):
        assert receiver.decode_headers(sender.encode_headers(headers)) == headers


# --- exec options and statuses -----------------------------------------------------------------------------
def test_exec_options_read_both_forms():
    api = cmd.exec_options({"command": ["ls", "-l"], "input": ["1"], "output": ["1"], "error": ["1"]})
    assert api == cmd.ExecOptions(["ls", "-l"], True, True, True, False)
    client_form = cmd.exec_options({"command": ["ls"], "stdout": ["true"], "stderr": ["true"], "tty": ["true"]})
    assert (client_form.stdout, client_form.stderr, client_form.tty) == (True, False, True)
    with pytest.raises(http1.HttpError):
        cmd.exec_options({"command": ["ls"]})


def test_exit_statuses():
    assert cmd.exit_status(0) == {"metadata": {}, "status": "Success"}
    assert cmd.exit_status(-9)["details"]["causes"][0]["message"] == "137"
    assert cmd.status_bytes(cmd.exit_status(0), "channel.k8s.io") == b""


# --- the kubelet's payloads ------------------------------------------------------------------------------------
def test_running_status_is_the_kubelets():
    pod = _pod()
    status = ko.running_status(pod, ["10.1.0.5", "10.1.0.6", "fd00::5"], NOW)["status"]
    assert status["phase"] == "Running" and status["hostIP"] == "127.0.0.1"
    assert status["podIP"] == "10.1.0.5"
    assert status["podIPs"] == [{"ip": "10.1.0.5"}, {"ip": "fd00::5"}]  # one a family
    assert {c["type"] for c in status["conditions"] if c["status"] == "True"} >= {
        "PodScheduled", "Initialized", "ContainersReady", "Ready"}
    assert status["startTime"] == "2026-01-02T03:04:05Z"
    (container,) = status["containerStatuses"]
    assert container["name"] == "probe" and container["ready"] and container["started"]
    assert container["restartCount"] == 0 and container["image"] == "probe:1" and container["imageID"]
    assert container["containerID"].startswith("macvlan-conformance://")
    assert container["state"] == {"running": {"startedAt": "2026-01-02T03:04:05Z"}}
    host = ko.running_status(_pod(host_network=True), [], NOW)["status"]
    assert host["podIP"] == "127.0.0.1" and host["podIPs"] == [{"ip": "127.0.0.1"}]


def test_sandbox_failure_event_is_the_kubelets():
    pod = _pod()
    event = ko.sandbox_failure_event(pod, "node-a", "plugin failed", name="probe-0.abc", count=2,
                                     first=NOW, last=NOW + dt.timedelta(seconds=4))
    assert event["type"] == "Warning" and event["reason"] == "FailedCreatePodSandBox"
    assert event["message"] == "Failed to create pod sandbox: plugin failed"
    assert event["source"] == {"component": "kubelet", "host": "node-a"}
    assert event["involvedObject"]["kind"] == "Pod" and event["involvedObject"]["uid"] == pod.metadata.uid
    assert (event["count"], event["firstTimestamp"], event["lastTimestamp"]) == (
        2, "2026-01-02T03:04:05Z", "2026-01-02T03:04:09Z")
    assert event["metadata"] == {"name": "probe-0.abc", "namespace": "ns1"}
    assert ko.event_name(pod, NOW).startswith("probe-0.")


def test_node_and_lease_payloads():
    info = nd.node_info("v1.37.2", {"machine_id": "m", "boot_id": "b", "kernel": "6.1", "os_image": "Debian",
                                    "architecture": "amd64"})
    assert info["kubeletVersion"] == "v1.37.2"
    assert info["containerRuntimeVersion"].startswith("macvlan-conformance-node-agent://")
    body = nd.node_body("node-a", 40123, info, {"cpu": "4", "memory": "1Ki", "pods": "110"}, NOW)
    assert body["metadata"]["labels"]["kubernetes.io/hostname"] == "node-a"
    status = body["status"]
    assert status["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 40123}}
    assert status["addresses"] == [{"type": "InternalIP", "address": "127.0.0.1"},
                                   {"type": "Hostname", "address": "node-a"}]
    ready = {c["type"]: c for c in status["conditions"]}
    assert ready["Ready"]["status"] == "True" and ready["Ready"]["reason"] == "KubeletReady"
    assert all(ready[t]["status"] == "False" for t in ("MemoryPressure", "DiskPressure", "PIDPressure"))
    assert status["allocatable"] == status["capacity"]
    lease = nd.lease_body("node-a", NOW, "uid-1")
    assert lease["metadata"]["namespace"] == "kube-node-lease"
    assert lease["spec"]["renewTime"] == "2026-01-02T03:04:05.678901Z"
    assert lease["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert nd.micro_time(NOW.replace(microsecond=0)).endswith(".000000Z")
    assert set(nd.host_capacity()) == {"cpu", "memory", "pods"}


def test_exec_argv_and_sandbox_factory():
    sandbox = make_sandbox("node-a", {"kind": "netns-only", "prefix": "t-", "host_netns": "t-node-a"})
    pod = _pod()
    assert exec_argv(sandbox, pod, ["python3", "-V"], "/py") == ["ip", "netns", "exec", "t-0f0e0d0c0b0a", "/py", "-V"]
    assert exec_argv(sandbox, _pod(host_network=True), ["ip", "a"], "/py")[:4] == ["ip", "netns", "exec", "t-node-a"]
    with pytest.raises(ValueError):
        make_sandbox("node-a", {"kind": "nope"})


# --- the pod worker's decisions ------------------------------------------------------------------------------
class FakeCore:
    event_gone = False

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        def call(*args, **kwargs):
            self.calls.append((name, args, kwargs))
            if name == "patch_namespaced_event" and self.event_gone:
                raise ApiException(status=404)
        return call


class FakeSandbox:
    def __init__(self, failures=0):
        self.failures, self.added, self.deleted = failures, [], []

    def add(self, pod):
        self.added.append(pod.metadata.name)
        if len(self.added) <= self.failures:
            raise SandboxError("macvlan: master eth9 not found")
        return ["10.1.0.7"]  # a sandbox may also return the IP list itself

    def delete(self, pod):
        self.deleted.append(pod.metadata.name)

    def netns(self, pod):
        return "x"

    def host_netns(self):
        return ""


def _worker(sandbox):
    worker = pw.PodWorker("node-a", client.ApiClient, sandbox, log=SimpleNamespace(
        info=lambda *a: None, warning=lambda *a: None, exception=lambda *a: None))
    worker._core = FakeCore()
    return worker


def test_pod_worker_retries_the_sandbox_with_events_then_runs_the_pod():
    sandbox = FakeSandbox(failures=2)
    worker = _worker(sandbox)
    pod = _pod()
    uid = pod.metadata.uid
    worker._observe(pod)
    worker._sync(uid)
    worker._sync(uid)
    calls = worker._core.calls
    assert [c[0] for c in calls] == ["create_namespaced_event", "patch_namespaced_event"]
    assert calls[0][1][1]["message"] == "Failed to create pod sandbox: macvlan: master eth9 not found"
    assert calls[1][1][2]["count"] == 2
    assert worker.running("ns1", "probe-0") is None and worker._schedule._due[uid] > 0
    worker._sync(uid)
    name, args, kwargs = calls[-1]
    assert name == "patch_namespaced_pod_status" and kwargs["_content_type"] == ko.SMP
    assert args[2]["status"]["podIP"] == "10.1.0.7"
    assert worker.running("ns1", "probe-0") is not None
    worker._observe(_pod(phase="Running", deleting=True))
    worker._sync(uid)
    assert sandbox.deleted == ["probe-0"] and worker.running("ns1", "probe-0") is None
    name, args, kwargs = calls[-1]
    assert name == "delete_namespaced_pod" and kwargs["grace_period_seconds"] == 0
    assert kwargs["body"]["preconditions"] == {"uid": uid}
    worker._vanish(uid)
    worker._sync(uid)
    assert uid not in worker._states and sandbox.deleted == ["probe-0"]
    worker.stop()


def test_pod_worker_finalizes_a_pod_that_never_ran_and_adopts_running_ones():
    sandbox = FakeSandbox()
    worker = _worker(sandbox)
    never = _pod(name="never", uid="u-never", deleting=True)
    worker._observe(never)
    worker._sync("u-never")
    assert sandbox.added == [] and sandbox.deleted == []  # no sandbox was ever made
    assert worker._core.calls[-1][0] == "delete_namespaced_pod"
    worker._observe(_pod(name="old", uid="u-old", phase="Running"))
    worker._sync("u-old")
    assert sandbox.added == [] and worker.running("ns1", "old") is not None
    worker.stop()


def test_schedule_hands_a_uid_to_one_worker_at_a_time():
    schedule = Schedule()
    schedule.put("a")
    assert schedule.take() == "a"
    schedule.put("a")
    schedule.put("b", 0.05)
    assert schedule.take() == "b"  # "a" is busy
    schedule.done("a")
    assert schedule.take() == "a"
    schedule.stop()
    assert schedule.take() is None
