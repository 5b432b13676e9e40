"""A small libcni: run the real CNI plugin binaries for a network configuration list.

ADD runs the plugins in order (each after the first gets ``prevResult``), caches the final result the
way libcni does, and returns it; CHECK and DEL read the cached result; DEL runs in reverse order and is
idempotent. Plugins run inside the node's network namespace (they look ``master`` up there).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .commands import in_netns

DEFAULT_PLUGIN_DIRS = ("/usr/lib/cni", "/opt/cni/bin")


class CniError(RuntimeError):
    """A plugin returned an error (CNI error JSON on stdout, non-zero exit)."""

    def __init__(self, plugin: str, command: str, ifname: str, code: int | None, msg: str, details: str = ""):
        self.plugin, self.command, self.ifname, self.code, self.msg = plugin, command, ifname, code, msg
        detail = f" ({details})" if details else ""
        super().__init__(f"CNI {command} {plugin} for {ifname} failed: code {code}: {msg}{detail}")


def find_plugin_dir() -> Path:
    """The directory holding the CNI plugin binaries (Debian: /usr/lib/cni)."""
    for candidate in (os.environ.get("CNI_PATH"), *DEFAULT_PLUGIN_DIRS):
        if candidate and (Path(candidate) / "macvlan").exists():
            return Path(candidate)
    raise FileNotFoundError("CNI plugins not found in /usr/lib/cni or /opt/cni/bin; "
                            "apt-get install containernetworking-plugins")


@dataclass(frozen=True)
class RuntimeConf:
    """What the runtime (Multus, here) tells a plugin about one attachment."""

    container_id: str
    netns_path: str
    ifname: str
    args: str  # CNI_ARGS


class CniRuntime:
    """Runs plugins found in ``plugin_dir`` (a directory, or a list searched in order, as ``CNI_PATH``) inside
    ``exec_netns``; caches results under ``cache_dir``."""

    def __init__(self, plugin_dir: Path | list[Path], cache_dir: Path, exec_netns: str | None):
        self.plugin_dirs = [Path(d) for d in (plugin_dir if isinstance(plugin_dir, list) else [plugin_dir])]
        self.cache_dir = cache_dir
        self.exec_netns = exec_netns

    def _binary(self, plugin: str) -> Path:
        """The plugin's executable: the first directory that has it (libcni's FindInPath)."""
        for directory in self.plugin_dirs:
            if (directory / plugin).exists():
                return directory / plugin
        raise CniError(plugin, "ADD", "", None, f'failed to find plugin "{plugin}" in path '
                       f'{[str(d) for d in self.plugin_dirs]}')

    # --- the three verbs -------------------------------------------------------------------------
    def add(self, conflist: dict, rt: RuntimeConf) -> dict:
        prev = None
        for plugin in conflist["plugins"]:
            prev = self._exec("ADD", self._plugin_conf(conflist, plugin, prev), rt)
        cache = self._cache_path(conflist, rt)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({
            "kind": "cniCacheV1", "containerId": rt.container_id, "ifName": rt.ifname,
            "networkName": conflist["name"], "cniArgs": rt.args, "config": conflist, "result": prev,
        }))
        return prev

    def check(self, conflist: dict, rt: RuntimeConf) -> None:
        cached = self.cached_result(conflist, rt)
        if cached is None:
            raise CniError(conflist["name"], "CHECK", rt.ifname, None, "no cached result; was ADD run?")
        for plugin in conflist["plugins"]:
            self._exec("CHECK", self._plugin_conf(conflist, plugin, cached), rt)

    def delete(self, conflist: dict, rt: RuntimeConf) -> None:
        cached = self.cached_result(conflist, rt)
        for plugin in reversed(conflist["plugins"]):
            self._exec("DEL", self._plugin_conf(conflist, plugin, cached), rt)
        self._cache_path(conflist, rt).unlink(missing_ok=True)

    def cached_result(self, conflist: dict, rt: RuntimeConf) -> dict | None:
        entry = self.cached_entry(conflist["name"], rt)
        return entry["result"] if entry else None

    def cached_entry(self, network_name: str, rt: RuntimeConf) -> dict | None:
        """The cache entry of an attachment (``config`` is the conflist ADD ran with), or None."""
        try:
            return json.loads(self._cache_path({"name": network_name}, rt).read_text())
        except (OSError, ValueError):
            return None

    # --- mechanics --------------------------------------------------------------------------------
    def _cache_path(self, conflist: dict, rt: RuntimeConf) -> Path:
        return self.cache_dir / "results" / f"{conflist['name']}-{rt.container_id}-{rt.ifname}"

    @staticmethod
    def _plugin_conf(conflist: dict, plugin: dict, prev: dict | None) -> dict:
        conf = {**plugin, "name": conflist["name"], "cniVersion": conflist["cniVersion"]}
        if prev is not None:
            conf["prevResult"] = prev
        return conf

    def _exec(self, command: str, conf: dict, rt: RuntimeConf) -> dict | None:
        plugin = conf["type"]
        env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "CNI_COMMAND": command, "CNI_CONTAINERID": rt.container_id, "CNI_NETNS": rt.netns_path,
            "CNI_IFNAME": rt.ifname, "CNI_ARGS": rt.args, "CNI_PATH": ":".join(str(d) for d in self.plugin_dirs),
        }
        argv = in_netns(self.exec_netns, [str(self._binary(plugin))])
        proc = subprocess.run(argv, input=json.dumps(conf), env=env, capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            try:
                err = json.loads(proc.stdout)
                raise CniError(plugin, command, rt.ifname, err.get("code"), err.get("msg", ""), err.get("details", ""))
            except (ValueError, AttributeError):
                raise CniError(plugin, command, rt.ifname, None, (proc.stderr or proc.stdout).strip()) from None
        return json.loads(proc.stdout) if command == "ADD" and proc.stdout.strip() else None
