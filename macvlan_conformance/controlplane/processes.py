"""Start and stop the real control-plane daemons (etcd, kube-apiserver, kube-controller-manager) as envtest
and ``local-up-cluster.sh`` do: loopback only, state and logs under the lab's run directory (so that the lab's
cleanup finds them by the run directory on their command line), each in a new session.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .pki import KeyPair

SERVICE_CIDR = "10.96.0.0/16"  # ClusterIPs; the nodes route only the kubernetes Service (lab/service_proxy.py)
KUBERNETES_SERVICE_IP = "10.96.0.1"  # the first address of SERVICE_CIDR: kube-apiserver gives it to default/kubernetes
READY_TIMEOUT_S = 120.0


class ControlPlaneError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Daemon:
    name: str
    argv: list[str]
    log: Path
    pid: int | None = None

    def start(self) -> "Daemon":
        with open(self.log, "ab") as log:
            proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        self.pid = proc.pid
        return self

    def alive(self) -> bool:
        if self.pid is None:
            return False
        try:
            done, _ = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # not our child (another process started it): ask the kernel
            return Path(f"/proc/{self.pid}").exists() and "zombie" not in _state(self.pid)
        return done == 0

    def last_lines(self, n: int = 5) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:", 1)[1].split("\n", 1)[0].lower()
    except (OSError, IndexError):
        return "gone"


def stop(pids: list[int], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL what is left after ``timeout``; reaps our children."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    for pid in pids:
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid):
            _reap(pid)
            time.sleep(0.05)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _reap(pid)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def etcd(bin_dir: Path, data: Path, logs: Path) -> tuple[Daemon, str]:
    client, peer = free_port(), free_port()
    url = f"http://127.0.0.1:{client}"
    argv = [str(bin_dir / "etcd"), "--name", "default", f"--data-dir={data}", f"--listen-client-urls={url}",
            f"--advertise-client-urls={url}", f"--listen-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=default=http://127.0.0.1:{peer}", "--unsafe-no-fsync=true", "--log-level=warn"]
    return Daemon("etcd", argv, logs / "etcd.log").start(), url


def apiserver(bin_dir: Path, pki: Path, etcd_url: str, logs: Path, *, serving: KeyPair, kubelet_client: KeyPair,
              service_account: KeyPair) -> tuple[Daemon, str]:
    port = free_port()
    argv = [str(bin_dir / "kube-apiserver"), f"--etcd-servers={etcd_url}", "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1", f"--secure-port={port}", f"--cert-dir={pki}",
            f"--tls-cert-file={serving.cert}", f"--tls-private-key-file={serving.key}",
            f"--client-ca-file={pki / 'ca.crt'}", "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction", f"--service-cluster-ip-range={SERVICE_CIDR}",
            f"--service-account-key-file={service_account.cert}",
            f"--service-account-signing-key-file={service_account.key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--kubelet-client-certificate={kubelet_client.cert}", f"--kubelet-client-key={kubelet_client.key}",
            f"--kubelet-certificate-authority={pki / 'ca.crt'}", "--kubelet-preferred-address-types=InternalIP",
            "--allow-privileged=true", "--profiling=false", "--endpoint-reconciler-type=none", "-v=1"]
    return Daemon("kube-apiserver", argv, logs / "kube-apiserver.log").start(), f"https://127.0.0.1:{port}"


CONTROLLERS = ("namespace-controller", "garbage-collector-controller", "serviceaccount-controller",
               "serviceaccount-token-controller", "root-ca-certificate-publisher-controller")


def controller_manager(bin_dir: Path, pki: Path, kubeconfig: Path, service_account: KeyPair,
                       logs: Path) -> Daemon:
    """Only the controllers a run relies on: namespace deletion, garbage collection, service accounts and
    their tokens, and the root CA config map the service-account volumes name."""
    argv = [str(bin_dir / "kube-controller-manager"), f"--kubeconfig={kubeconfig}",
            f"--controllers={','.join(CONTROLLERS)}", "--leader-elect=false", "--secure-port=0",
            f"--service-account-private-key-file={service_account.key}", f"--root-ca-file={pki / 'ca.crt'}",
            "--use-service-account-credentials=true", "-v=1"]
    return Daemon("kube-controller-manager", argv, logs / "kube-controller-manager.log").start()


def wait_ready(daemon: Daemon, url: str, *, ca: Path | None = None, client: KeyPair | None = None,
               timeout: float = READY_TIMEOUT_S) -> None:
    """Poll ``url`` until it answers 200, failing early (with the log's tail) when the daemon died."""
    context = None
    if ca is not None:
        context = ssl.create_default_context(cafile=str(ca))
        if client is not None:
            context.load_cert_chain(str(client.cert), str(client.key))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not daemon.alive():
            raise ControlPlaneError(f"{daemon.name} exited during start; last lines of {daemon.log}:\n"
                                    f"{daemon.last_lines()}")
        try:
            with urllib.request.urlopen(url, context=context, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise ControlPlaneError(f"{daemon.name} not ready at {url} after {timeout:.0f} s; see {daemon.log}")
