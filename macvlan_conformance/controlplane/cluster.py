"""A local Kubernetes control plane made of the real binaries: etcd, kube-apiserver (RBAC and the Node
authorizer on, client-certificate users) and a kube-controller-manager with only the controllers a run
relies on. Everything lives in one directory (``pki/``, ``etcd/``, ``logs/``, kubeconfigs) and stops with
``stop()``; a process that lost track of it stops it from ``controlplane.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import processes
from .pki import Authority, KeyPair
from .processes import ControlPlaneError

ADMIN = ("macvlan-conformance-admin", ("system:masters",))
RUN_USER = "macvlan-conformance-user"     # has exactly the RBAC the README lists for a run
MULTUS_USER = "multus"                    # Multus' own ClusterRole (its daemonset manifest)
IPAM_USER = "spiderpool"                  # the Spiderpool IPAM stand-in


@dataclass
class ControlPlane:
    directory: Path
    server: str = ""
    pids: dict[str, int] = field(default_factory=dict)
    authority: Authority | None = field(default=None, repr=False)

    @property
    def pki(self) -> Path:
        return self.directory / "pki"

    @property
    def ca(self) -> Path:
        return self.pki / "ca.crt"

    def kubeconfig(self, user: str) -> Path:
        return self.directory / f"{user}.kubeconfig"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.kubeconfig(ADMIN[0])

    # --- lifecycle -------------------------------------------------------------------------------
    @classmethod
    def start(cls, directory: Path, bin_dir: Path, progress=lambda step: None) -> "ControlPlane":
        """Certificates, etcd and kube-apiserver (each waited for), kube-controller-manager (started; see
        ``check_alive``); on any failure what was started is stopped and ``ControlPlaneError`` says which
        component and shows its log."""
        plane = cls(Path(directory))
        for sub in ("logs", "etcd"):
            (plane.directory / sub).mkdir(parents=True, exist_ok=True)
        try:
            plane._start(Path(bin_dir), progress)
        except BaseException:
            plane.stop()
            raise
        return plane

    def _start(self, bin_dir: Path, progress) -> None:
        missing = [b for b in ("etcd", "kube-apiserver", "kube-controller-manager") if not (bin_dir / b).exists()]
        if missing:
            raise ControlPlaneError(f"{bin_dir}: missing {', '.join(missing)}; build them with components/build.sh")
        progress("control plane: certificates")
        ca = Authority(self.pki)
        serving = ca.issue("apiserver", "kube-apiserver", server=True,
                           hosts=("127.0.0.1", "localhost", "kubernetes", "kubernetes.default",
                                  "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "10.96.0.1"))
        kubelet_client = ca.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client",
                                  groups=("kubeadm:cluster-admins",), client=True)
        service_account = ca.service_account_key()
        logs = self.directory / "logs"
        progress("control plane: etcd")
        etcd, etcd_url = processes.etcd(bin_dir, self.directory / "etcd", logs)
        self._record(etcd)
        processes.wait_ready(etcd, f"{etcd_url}/health")
        progress("control plane: kube-apiserver")
        apiserver, self.server = processes.apiserver(bin_dir, self.pki, etcd_url, logs, serving=serving,
                                                     kubelet_client=kubelet_client, service_account=service_account)
        self._record(apiserver)
        self.authority = ca
        self.issue_user(*ADMIN)
        processes.wait_ready(apiserver, f"{self.server}/readyz", ca=self.ca,
                             client=KeyPair(self.pki / f"{ADMIN[0]}.crt", self.pki / f"{ADMIN[0]}.key"))
        progress("control plane: kube-controller-manager")
        kcm_config = self.issue_user("system:kube-controller-manager")
        self._record(processes.controller_manager(bin_dir, self.pki, kcm_config, service_account, logs))
        for user in (RUN_USER, MULTUS_USER, IPAM_USER):
            self.issue_user(user)
        self.save()

    def check_alive(self) -> None:
        """Every daemon still runs (kube-controller-manager serves no port to wait for: a crash at start shows
        here, once the node agents came up); ``ControlPlaneError`` with the log's tail otherwise."""
        for name, pid in self.pids.items():
            daemon = processes.Daemon(name, [], self.directory / "logs" / f"{name}.log", pid)
            if not daemon.alive():
                raise ControlPlaneError(f"{name} exited; last lines of {daemon.log}:\n{daemon.last_lines()}")

    def _record(self, daemon: processes.Daemon) -> None:
        self.pids[daemon.name] = daemon.pid
        self.save()

    def issue_user(self, user: str, groups: tuple[str, ...] = ()) -> Path:
        """A client certificate for ``user`` (in ``groups``) and a kubeconfig using it (only in the process
        that started the control plane: it holds the CA key in memory)."""
        pair = self.authority.issue(user.replace(":", "-"), user, groups=groups, client=True)
        path = self.kubeconfig(user.replace(":", "-"))
        write_kubeconfig(path, self.server, self.ca, pair, context=f"lab-{user.replace(':', '-')}")
        return path

    def save(self) -> None:
        state = {"directory": str(self.directory), "server": self.server, "pids": self.pids}
        (self.directory / "controlplane.json").write_text(json.dumps(state, indent=1))

    @classmethod
    def load(cls, directory: Path) -> "ControlPlane":
        data = json.loads((Path(directory) / "controlplane.json").read_text())
        return cls(Path(data["directory"]), data["server"], data["pids"])

    def stop(self) -> None:
        """Stop the daemons, the controller manager first and etcd last. Idempotent."""
        order = ["kube-controller-manager", "kube-apiserver", "etcd"]
        processes.stop([self.pids[name] for name in order if name in self.pids])
        self.pids = {}
        if self.directory.exists():
            self.save()


def write_kubeconfig(path: Path, server: str, ca: Path, client: KeyPair, context: str) -> None:
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": context, "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": context, "user": {"client-certificate": str(client.cert), "client-key": str(client.key)}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
