"""The HTML report of 64 pods (synthetic results, no lab) in a real browser at 1366x768: the summary counts
(and the likely causes, when there are any) in the first screen, matrices collapsed unless they hold a failure,
no matrix wider than the screen; a dual-stack run's matrices per family. Layout is measured by a script added
to a copy of the page; screenshots go to the test's temporary directory."""

import json
import re

import pytest

from macvlan_conformance.report import html
from macvlan_conformance.report import results as res

from .browser import SCREEN, Picture, dump_dom, screenshot
from .synthetic import dual_stack_results, one_vlan_results, scale_results

RED, GREEN, WHITE = (204, 34, 34), (42, 138, 42), (255, 255, 255)
PASSED_CELL, FAILED_CELL = (216, 240, 216), (246, 201, 201)
SCROLLBAR = 15  # headless Chromium's vertical scrollbar, at the right edge of a screenshot

# What the page looks like once loaded (groups as the page opened them), then with every matrix open.
MEASURE = """<script>
addEventListener("load", function () {
  function box(e) { var r = e.getBoundingClientRect(); return {top: r.top, bottom: r.bottom, right: r.right}; }
  var groups = [].map.call(document.querySelectorAll("details.matrix-group"), function (g) {
    return {id: g.id, open: g.open, failing: !!g.querySelector("td.cell.fail, td.cell.flaky")}; });
  [].forEach.call(document.querySelectorAll("details.matrix-group"), function (g) { g.open = true; });
  var matrices = [].map.call(document.querySelectorAll("table.matrix"), function (t) {
    var c = t.parentElement;
    return {scroll: c.classList.contains("matrix-scroll"), right: box(c).right, width: c.clientWidth,
            table: t.scrollWidth}; });
  var diagnosis = document.getElementById("diagnosis");
  var out = document.createElement("pre");
  out.id = "measure";
  out.textContent = JSON.stringify({width: innerWidth, height: innerHeight,
    scrollWidth: document.documentElement.scrollWidth,
    counts: box(document.getElementById("summary").nextElementSibling),
    diagnosis: diagnosis && box(diagnosis), groups: groups, matrices: matrices});
  document.body.appendChild(out);
});
</script>"""


def write(tmp_path, results: dict, name: str):
    """The page as ``report`` writes it, validated results first, and a copy with the measuring script."""
    source = tmp_path / f"{name}.json"
    source.write_text(json.dumps(results))
    page = html.write(res.load(source), tmp_path / f"{name}.html")
    measured = tmp_path / f"{name}.measured.html"
    measured.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    return page, measured


def measure(tmp_path, measured) -> dict:
    dom = dump_dom(tmp_path, measured.as_uri())
    found = re.search(r'<pre id="measure">(.*?)</pre>', dom, re.S)
    assert found, "the measuring script did not run"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def assert_fits(layout: dict) -> None:
    """No horizontal scrolling of the page; every matrix in a scroll container at most the screen wide."""
    assert layout["width"] == SCREEN[0] and layout["scrollWidth"] <= layout["width"], layout["scrollWidth"]
    assert layout["matrices"] and all(m["scroll"] for m in layout["matrices"])
    assert all(m["right"] <= layout["width"] and m["width"] <= layout["width"] for m in layout["matrices"])


def assert_right_margin_clear(picture: Picture, top: int = 0) -> None:
    """Nothing is drawn into the page's right margin (content cut at the screen's edge would be)."""
    right = picture.width - SCROLLBAR - 2
    margin = (right - 16, top, right, picture.height)
    assert picture.count(WHITE, margin, tolerance=0) == 16 * (picture.height - top), "content in the right margin"


@pytest.mark.parametrize("broken", [True, False], ids=["vlanif300-down", "healthy"])
def test_64_pods_first_screen(tmp_path, broken):
    results = scale_results(broken)
    page, measured = write(tmp_path, results, "scale")
    layout = measure(tmp_path, measured)
    assert_fits(layout)
    assert layout["counts"]["bottom"] <= layout["height"], "the summary counts are below the first screen"
    if "diagnosis" in results or layout["diagnosis"]:
        assert layout["diagnosis"] and layout["diagnosis"]["top"] < layout["height"], "likely causes not in view"
    groups = layout["groups"]
    assert len(groups) == len(res.matrices(results)) and all(g["open"] == g["failing"] for g in groups)
    assert any(g["open"] for g in groups) == broken
    picture = Picture(screenshot(tmp_path, page.as_uri(), "scale.png"))
    assert (picture.width, picture.height) == SCREEN
    counts = (0, int(layout["counts"]["top"]), 400, int(layout["counts"]["bottom"]))
    assert picture.count(RED if broken else GREEN, counts) > 200, "the summary badge is not in view"
    assert_right_margin_clear(picture)


def test_widest_matrix_scrolls_inside_the_screen(tmp_path):
    """64 pods in one VLAN: a 64 x 64 matrix, open (3 pairs fail), in a container no wider than the screen.
    The screenshot is a taller screen, with the whole matrix (headless screenshots of a scrolled page are blank)."""
    page, measured = write(tmp_path, one_vlan_results(64), "one-vlan")
    layout = measure(tmp_path, measured)
    assert_fits(layout)
    assert [g["open"] for g in layout["groups"]] == [True]
    picture = Picture(screenshot(tmp_path, page.as_uri(), "one-vlan.png", size=(SCREEN[0], 2000)))
    whole = (0, 0, picture.width, picture.height)
    assert picture.count(PASSED_CELL, whole, tolerance=4) > 64 * 60 * 100, "the matrix is not shown whole"
    assert picture.count(FAILED_CELL, whole, tolerance=4) > 3 * 100
    assert_right_margin_clear(picture)


def test_a_link_opens_the_groups_around_its_result(tmp_path):
    """A passed pair's evidence sits in a collapsed check group: following its link opens both."""
    results = one_vlan_results(8)
    index = next(i for i, r in enumerate(results["checks"]) if r["outcome"] == "passed")
    page, _ = write(tmp_path, results, "eight")
    assert not re.search(rf'<details id="ev-{index}"[^>]*open', page.read_text())
    dom = dump_dom(tmp_path, f"{page.as_uri()}#ev-{index}")
    assert re.search(rf'<details id="ev-{index}" class="pass" open="">', dom)
    assert re.search(r'<details class="check-group" id="check-intra-vlan.cross-node" open="">', dom)


def test_dual_stack_opens_only_the_matrices_of_the_failing_family(tmp_path):
    """IPv6 routing through vlanif 200 fails, IPv4 passes: each VLAN pair has an IPv4 and an IPv6 matrix, and
    only IPv6 matrices through VLAN 200 are open and hold failed cells."""
    results = dual_stack_results(broken=True)
    _, measured = write(tmp_path, results, "dual-stack")
    layout = measure(tmp_path, measured)
    assert_fits(layout)
    groups = {g["id"]: g for g in layout["groups"]}
    assert len(groups) == len(res.matrices(results)) and all(g["open"] == g["failing"] for g in groups.values())
    failing = {anchor for anchor, g in groups.items() if g["failing"]}
    assert failing == {f"m-{s}-{d}-ipv6" for s, d in (("vlan0", "vlan200"), ("vlan100", "vlan200"),
                                                     ("vlan200", "vlan0"), ("vlan200", "vlan100"))}
    assert {f"m-{a}-{b}-ipv4" for a in ("vlan0", "vlan100", "vlan200") for b in ("vlan0", "vlan100", "vlan200")} \
        <= groups.keys()
