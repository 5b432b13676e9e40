"""The probe image installs only the package, scapy and pyroute2 (image/Containerfile): the agent must
start and answer with nothing else importable."""

import json
import re
import subprocess
import sys

from ..conftest import ROOT

IMAGE_PACKAGES = {"macvlan_conformance", "scapy", "pyroute2"}
BLOCKER = """
import sys
from importlib.abc import MetaPathFinder
FORBIDDEN = {forbidden!r}
class Block(MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in FORBIDDEN:
            raise ImportError(f'{{name}} is not in the probe image')
sys.meta_path.insert(0, Block())
import runpy
runpy.run_module('macvlan_conformance.agent', run_name='__main__')
"""


def test_the_containerfile_installs_exactly_the_agents_packages():
    text = (ROOT / "image" / "Containerfile").read_text()
    assert "pip install --no-cache-dir --no-deps /src" in text
    assert set(re.findall(r"(\w+)==", text)) == {"scapy", "pyroute2"}


def test_the_agent_runs_with_only_the_image_packages():
    forbidden = {"pydantic", "kubernetes", "yaml", "rich", "jinja2", "tenacity", "filelock", "allure", "pytest"}
    requests = [{"id": 1, "op": "whoami", "args": {}}, {"id": 2, "op": "describe", "args": {}}]
    proc = subprocess.run([sys.executable, "-c", BLOCKER.format(forbidden=forbidden)], cwd=ROOT, text=True,
                          input="".join(json.dumps(r) + "\n" for r in requests), capture_output=True, timeout=60)
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert lines[0]["ready"], proc.stderr
    answers = {a["id"]: a for a in lines[1:]}
    assert answers[1]["ok"] and answers[2]["ok"], answers
    assert any(link["name"] == "lo" for link in answers[2]["result"]["links"])


def test_control_the_blocker_does_block():
    """Control: with scapy blocked the agent cannot start, so the test above proves what it claims."""
    proc = subprocess.run([sys.executable, "-c", BLOCKER.format(forbidden={"scapy"})], cwd=ROOT, text=True,
                          input='{"id": 1, "op": "whoami", "args": {}}\n', capture_output=True, timeout=60)
    assert "scapy is not in the probe image" in proc.stdout + proc.stderr
