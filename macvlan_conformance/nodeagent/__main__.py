"""``python -m macvlan_conformance.nodeagent --config <json>``: the node agents of a lab, one process for all.

The config: ``{"nodes": [{"name", "kubeconfig", "cert", "key", "sandbox"?: {...per-node options}}],
"client_ca": path, "sandbox": {"kind": "netns-only", "prefix": "..."} (or another kind of
``agent.SANDBOXES``), "python"?: path}``. A node's ``sandbox`` object, if any, is merged over the common one.
Logs go to stderr, one line each, with the node's name. SIGTERM or SIGINT stops every agent and exits 0.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading

from .agent import NodeAgent, make_sandbox


def agents_from_config(cfg: dict) -> list[NodeAgent]:
    python = cfg.get("python") or sys.executable
    agents = []
    for node in cfg["nodes"]:
        sandbox = make_sandbox(node["name"], {**cfg["sandbox"], **node.get("sandbox", {})})
        agents.append(NodeAgent(node["name"], node["kubeconfig"], sandbox, node["cert"], node["key"],
                                cfg["client_ca"], python))
    return agents


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m macvlan_conformance.nodeagent", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="the JSON config (see above)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s nodeagent %(message)s")
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    with open(args.config) as f:
        cfg = json.load(f)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    agents = []
    try:
        for agent in agents_from_config(cfg):
            agents.append(agent.start())
        logging.getLogger("macvlan_conformance.nodeagent").info("%d node agent(s) running", len(agents))
        while not stop.wait(3600):
            pass
    finally:
        for agent in agents:
            agent.stop()
    logging.getLogger("macvlan_conformance.nodeagent").info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
