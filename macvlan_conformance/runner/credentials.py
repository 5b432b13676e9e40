"""In-cluster credentials as a kubeconfig the cluster target accepts (``cluster.kube.connect`` reads a
kubeconfig file, nothing else).

A pod's credentials: ``KUBERNETES_SERVICE_HOST``/``KUBERNETES_SERVICE_PORT`` (set by the kubelet) and the
service account's ``token`` and ``ca.crt`` in ``/var/run/secrets/kubernetes.io/serviceaccount``, or in the
directory ``$MACVLAN_CONFORMANCE_SERVICEACCOUNT_DIR`` names (tests, or a runner outside a pod). The
kubeconfig refers to the token file (``tokenFile``: every client the run opens reads it anew, so a token
the kubelet rotated is picked up) and is written 0600 into a directory the caller owns; it is never printed.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import RunnerError

SERVICEACCOUNT_DIR_ENV = "MACVLAN_CONFORMANCE_SERVICEACCOUNT_DIR"
DEFAULT_SERVICEACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
CONTEXT = "in-cluster"


@dataclass(frozen=True)
class InCluster:
    server: str
    token_file: Path
    ca_file: Path


def _server(env: dict[str, str]) -> str:
    host, port = env.get("KUBERNETES_SERVICE_HOST", "").strip(), env.get("KUBERNETES_SERVICE_PORT", "").strip()
    if not host or not port:
        missing = " and ".join(k for k, v in (("KUBERNETES_SERVICE_HOST", host), ("KUBERNETES_SERVICE_PORT", port))
                               if not v)
        raise RunnerError(f"no in-cluster credentials: {missing} not set; run the runner in a pod (the kubelet sets "
                          f"them), or set them to the API server's address")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise RunnerError(f"KUBERNETES_SERVICE_PORT {port!r} is not a port number (1-65535)")
    try:
        host = f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        pass  # a host name
    return f"https://{host}:{port}"


def _file(directory: Path, name: str, what: str) -> Path:
    path = directory / name
    try:
        if path.stat().st_size > 0:
            return path
        problem = "is empty"
    except FileNotFoundError:
        problem = "does not exist"
    except OSError as exc:
        problem = f"cannot be read ({exc.strerror})"
    raise RunnerError(f"no in-cluster credentials: the service account's {what} {path} {problem}; run the pod with "
                      f"its service-account token mounted (automountServiceAccountToken) or set "
                      f"{SERVICEACCOUNT_DIR_ENV} to a directory holding token and ca.crt")


def in_cluster(env: dict[str, str] | None = None) -> InCluster:
    """The API server address and the credential files; raises ``RunnerError`` (one line) on what is missing."""
    env = dict(os.environ if env is None else env)
    server = _server(env)
    directory = Path(env.get(SERVICEACCOUNT_DIR_ENV) or DEFAULT_SERVICEACCOUNT_DIR)
    return InCluster(server, _file(directory, "token", "token"), _file(directory, "ca.crt", "CA certificate"))


def _clean_token(found: InCluster, directory: Path) -> Path:
    """The token file as an HTTP header can carry it: a copy without surrounding whitespace if it has any."""
    token = found.token_file.read_bytes()
    if token.strip() == token:
        return found.token_file
    copy = directory / "token"
    fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(token.strip())
    return copy


def write_kubeconfig(directory: Path, env: dict[str, str] | None = None) -> Path:
    """``directory/kubeconfig`` (0600) for the in-cluster credentials, context ``in-cluster``."""
    found = in_cluster(env)
    config = {"apiVersion": "v1", "kind": "Config", "current-context": CONTEXT,
              "clusters": [{"name": CONTEXT, "cluster": {"server": found.server,
                                                         "certificate-authority": str(found.ca_file)}}],
              "users": [{"name": CONTEXT, "user": {"tokenFile": str(_clean_token(found, directory))}}],
              "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT}}]}
    path = directory / "kubeconfig"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        yaml.safe_dump(config, out, sort_keys=False)
    return path
