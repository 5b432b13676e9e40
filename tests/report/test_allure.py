"""The Allure report as ``make report`` makes it (Allure 3 from the npm registry through npx, our allurerc.json):
one HTML file that opens from the file system, its tree grouped mode > area > check by the labels
fixtures/allure_support.py sets. The results come from allure-pytest over a few throwaway tests; no lab.
The first run downloads the Allure package (npx caches it in ~/.npm)."""

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from macvlan_conformance import checks

from ..conftest import ROOT
from .browser import Picture, dump_dom, screenshot

ALLURE = re.search(r"^ALLURE\s*\?=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M).group(1)
ALLURERC = ROOT / "macvlan_conformance" / "report" / "allurerc.json"
FAILED_ICON = (244, 63, 59)  # Allure 3's red: a failed test's icon and its group's count

TESTS = '''
import pytest
from fixtures import allure_support

@pytest.mark.parametrize("pair", ["vlan100/sa-w1-a -> vlan200/sa-w2-c", "vlan100/sa-w1-a -> vlan0/sa-w1-d"])
def test_routed(pair):
    allure_support.label("inter-vlan.routed", "macvlan-standalone")
    assert "vlan0" not in pair, "[inter-vlan.routed] expected reachable-routed, observed no-arp-reply"

def test_gateway():
    allure_support.label("gateway.arp", "macvlan-overlay")

@pytest.fixture
def deployed():
    raise RuntimeError("pod sa-w1-a is not Running")

@pytest.mark.check("isolation.own-master")
def test_own_master(deployed):
    pass
'''
CONFTEST = '''
from fixtures import allure_support

def pytest_runtest_teardown(item):
    allure_support.label_unrecorded(item)
'''


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """allure-pytest's results of the throwaway tests, with our categories."""
    where = tmp_path_factory.mktemp("allure-tests")
    (where / "pytest.ini").write_text("[pytest]\nmarkers =\n    check: the check a suite test runs\n")
    (where / "conftest.py").write_text(CONFTEST)
    (where / "test_throwaway.py").write_text(TESTS)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--alluredir", "results"],
                          cwd=where, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "1 failed, 2 passed, 1 error" in proc.stdout, proc.stdout[-3000:]
    (where / "results" / "categories.json").write_text(json.dumps(checks.allure_categories()))
    return where / "results"


@pytest.fixture(scope="module")
def report(results):
    """``make report``'s command on these results; a failed download fails the test, naming the cause."""
    npx = shutil.which("npx")
    assert npx, "npx is not installed: make test installs Node.js (Debian's nodejs and npm) when it is missing"
    output = results.parent / "allure-report"
    env = {**os.environ, "NO_COLOR": "1", "npm_config_update_notifier": "false"}
    proc = subprocess.run([npx, "--yes", f"allure@{ALLURE}", "generate", "--config", str(ALLURERC), str(results),
                           "--output", str(output)], cwd=results.parent, env=env, capture_output=True, text=True,
                          timeout=600)
    if proc.returncode != 0 or not (output / "index.html").exists():
        pytest.fail(f"npx could not run allure@{ALLURE} (downloaded from the npm registry on first use, then "
                    f"cached in ~/.npm; is the registry reachable?): exit {proc.returncode}\n"
                    f"{proc.stderr[-3000:]}{proc.stdout[-2000:]}", pytrace=False)
    return output / "index.html"


def test_one_self_contained_file(report):
    """Everything is inside index.html: no scripts, styles or data beside it, no resources from the network
    but Google Analytics' tag, which Allure 3.18 always adds (asynchronous: the report works without it)."""
    beside = sorted(p.name for p in report.parent.iterdir() if p != report)
    assert all(name.endswith(".json") for name in beside), beside  # summary.json, test-results.json
    text = report.read_text()
    external = set(re.findall(r'(?:src|href)\s*=\s*"((?:https?:)?//[^"]+)"', text))
    assert all(url.startswith("https://www.googletagmanager.com/") for url in external), external


class Tree(HTMLParser):
    """The rendered Allure tree: (depth, kind, text) of each group title and test, depth = nesting."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self):
        super().__init__()
        self.stack, self.items, self.pending = [], [], None

    def handle_starttag(self, tag, attrs):
        testid = dict(attrs).get("data-testid", "")
        if tag not in self.VOID:
            self.stack.append(testid)
        if testid.startswith("tree-leaf-status-"):
            self.items.append((self.depth, "status", testid.rsplit("-", 1)[1]))
        if testid in ("tree-section-title", "tree-leaf-title"):
            self.pending = testid

    def handle_endtag(self, tag):
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if self.pending:
            self.items.append((self.depth, "group" if self.pending == "tree-section-title" else "test", data))
            self.pending = None

    @property
    def depth(self) -> int:
        return self.stack.count("tree-content")


def rendered(make, ready, attempts: int = 3):
    """What ``make`` returns once ``ready`` says it shows the tree: Allure renders its tree last, now and then
    after Chromium's virtual time budget ran out (then it is asked again)."""
    for _ in range(attempts):
        found = make()
        if ready(found):
            return found
    pytest.fail(f"the Allure tree did not render in {attempts} attempts", pytrace=False)


def tree_of(dom: str) -> Tree:
    tree = Tree()
    tree.feed(dom)
    return tree


def test_tree_groups_by_mode_area_check_and_shows_the_failure(report, tmp_path):
    budget = "--virtual-time-budget=15000"
    tree = rendered(lambda: tree_of(dump_dom(tmp_path, report.as_uri(), budget)), lambda t: t.items)
    groups = [(depth, text) for depth, kind, text in tree.items if kind == "group"]
    assert groups[:3] == [(1, "macvlan-standalone"), (2, "inter-VLAN"), (3, "inter-vlan.routed")], groups
    assert (2, "isolation") in groups and (3, "isolation.own-master") in groups  # a test that recorded nothing
    assert (1, "macvlan-overlay") in groups
    tests = [(tree.items[i - 1][2], text) for i, (depth, kind, text) in enumerate(tree.items) if kind == "test"]
    assert ("failed", "test_routed[vlan100/sa-w1-a -> vlan0/sa-w1-d]") in tests, tests
    assert ("passed", "test_routed[vlan100/sa-w1-a -> vlan200/sa-w2-c]") in tests, tests
    assert not any(text.startswith("test_throwaway") for _, text in groups), "grouped by test file"


def test_screenshot_shows_the_failed_test(report, tmp_path):
    """In the first screen, below the summary and the filters (y > 380 at 1366x768): the tree, the failed
    test's red icon and its groups' red counts."""
    tree_area = (200, 380, 1150, 768)
    rendered(lambda: Picture(screenshot(tmp_path, report.as_uri(), "allure.png", "--virtual-time-budget=15000")),
             lambda picture: picture.count(FAILED_ICON, tree_area, tolerance=30) > 300)
