"""The report: one offline HTML page that a real browser renders (charts, Sankey, filter)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import Built
from rareflow.outputs.writer import write_outputs
from rareflow.workspace import AnalysisResult

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=15000"]

_REPORTS: dict[str, tuple[AnalysisResult, Path]] = {}


def demo_report_of(demo_world: Built,
                   tmp_path_factory: pytest.TempPathFactory) -> tuple[AnalysisResult, Path]:
    """The report of the demo world (generated, ingested and analysed once per test process,
    `conftest.demo_world`, whose analysed store stays open: the licence ledger stays in the
    engine until it is written). Written once per process, for this module and
    test_report_layout.py."""
    if "demo" not in _REPORTS:
        root = tmp_path_factory.mktemp("report")
        paths = write_outputs(demo_world.result, root / "out", dataset="demo",
                              generated_at="2026-11-30")
        _REPORTS["demo"] = (demo_world.result, paths["report.html"])
    return _REPORTS["demo"]


@pytest.fixture(scope="module")
def demo_report(demo_world: Built,
                tmp_path_factory: pytest.TempPathFactory) -> tuple[AnalysisResult, Path]:
    return demo_report_of(demo_world, tmp_path_factory)


def _dump_dom(page: Path, tmp_path: Path) -> str:
    assert CHROMIUM
    done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                           "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=180, check=True)
    return done.stdout


def test_report_is_self_contained(demo_report) -> None:
    result, page = demo_report
    html = page.read_text("utf-8")
    assert not re.search(r"<script[^>]+src=", html), "no external scripts"
    assert not re.search(r"<link[^>]+href=\"https?:", html), "no external styles"
    assert html.count('id="plotly-gz"') == 1  # plotly.js once, compressed
    assert len(re.findall(r"data-chart=", html)) == 4  # exports, Sankey, attribution, trace
    # every finding is in the table (the demo has fewer than the page shows), with its id
    body = html.split('id="findings"><thead>', 1)[1].split("</table>", 1)[0]
    assert body.count("<tr") == len(result.findings) + 1
    assert all(f'<tr id="{f.id}">' in body for f in result.findings)
    for section in ("summary", "findings", "exports", "attribution", "traces", "balances",
                    "ledger", "decisions", "dataset", "rejects"):
        assert f'<section id="{section}">' in html
    assert "(kg)" in html and "±" in html  # units, and uncertainty on balances
    assert "Teardown PL-O-TEAR" in html and "CN-IN-D-" in html  # the lot traced to customs


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
def test_report_renders_in_a_browser(demo_report, tmp_path: Path) -> None:
    _, page = demo_report
    dom = _dump_dom(page, tmp_path)
    charts = len(re.findall(r'id="chart-\d+"', page.read_text("utf-8")))
    assert dom.count('class="main-svg"') >= charts  # each chart drew its SVG
    assert 'class="sankey"' in dom or "sankey-link" in dom  # the Sankey drew its links


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
def test_findings_filter_in_a_browser(demo_report, tmp_path: Path) -> None:
    result, page = demo_report
    html = page.read_text("utf-8")
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", "<script>filterRows('licence_violation')</script>"
                                              "</body>"), "utf-8")
    dom = _dump_dom(probe, tmp_path)
    table = dom.split('id="findings"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr(?: id=\"[^\"]*\")?( style=\"[^\"]*\")?>",
                      table.split("<tbody>", 1)[1])
    visible = [r for r in rows if "display: none" not in r]
    assert len(visible) == sum(f.rule == "licence_violation" for f in result.findings) > 0
