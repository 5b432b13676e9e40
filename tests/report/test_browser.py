"""The HTML report in a real browser (Debian's headless Chromium): it renders the summary and the matrix
from the file alone, loading nothing from the network (its screenshot goes to the test's temporary directory)."""

import re

import pytest

from macvlan_conformance.report import html
from macvlan_conformance.report import results as res

from ..conftest import ROOT
from .browser import chromium


RESULTS = res.load(ROOT / "tests" / "data" / "broken-vlanif-down.json")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "conformance.html"
    html.write(RESULTS, path)
    return path


def test_the_page_references_nothing_outside_itself(page):
    text = page.read_text()
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', text)
    assert "<script src" not in text and "<link " not in text and "@import" not in text


def test_rendered_summary_and_matrix(page, tmp_path):
    dom = chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    assert 'id="areas"' in dom and f'{RESULTS["summary"]["failed"]} failed' in dom
    assert re.search(r'<table class="matrix" data-src="vlan100" data-dst="vlan200">', dom)
    in_matrix = [r for r in RESULTS["checks"] if r["id"] in res.MATRIX_CHECKS]
    assert dom.count('class="cell fail"') == sum(r["outcome"] == "failed" for r in in_matrix) > 0
    assert dom.count('class="cell pass"') == sum(r["outcome"] == "passed" for r in in_matrix) > 0
    screenshot = tmp_path / "conformance-screenshot.png"
    chromium(tmp_path, "--window-size=1400,2400", f"--screenshot={screenshot}", page.as_uri())
    assert screenshot.exists() and screenshot.stat().st_size > 50_000  # a real picture, not a blank page
