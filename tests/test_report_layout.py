"""The report as an officer reads it: in a real headless Chromium at 1,280 px (and the wider
1,400 and 1,920 px screens), no table runs off the page; no value reads nan, NaT or None; each
finding shows its id; long ids are shortened with the full value in the title; documents do
not carry material in the trace; the Sankey's colours are the bar chart's; long tables show
their top rows with counts and a link to the full file, so the page stays small at any size."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
from pathlib import Path

import orjson
import pandas as pd
import pyarrow as pa
import pytest

from conftest import Built
from rareflow.findings import Finding
from rareflow.outputs import html_report
from rareflow.outputs.decisions_report import MAX_DECISIONS
from rareflow.outputs.html_report import COLOURS, render_report
from rareflow.outputs.trace_view import DOCUMENTS, trace_figure
from rareflow.store import open_store
from rareflow.store.deferred import Deferred
from rareflow.workspace import AnalysisResult
from test_report import CHROMIUM, FLAGS, demo_report_of

needs_chromium = pytest.mark.skipif(CHROMIUM is None,
                                    reason="chromium is not installed (.ci/run installs it)")

#: Run in the page once it has loaded: writes what the layout measured into <pre id=layout>.
PROBE = """<script>
window.addEventListener('load', () => {
  const page = document.documentElement;
  const out = {inner: window.innerWidth, client: page.clientWidth, scroll: page.scrollWidth,
               tables: [], cells: []};
  for (const t of document.querySelectorAll('table')) {
    const sec = t.closest('section');
    const s = getComputedStyle(sec);
    const limit = sec.getBoundingClientRect().right - parseFloat(s.paddingRight)
                  - parseFloat(s.borderRightWidth);
    out.tables.push({where: t.id || sec.id, right: t.getBoundingClientRect().right, limit,
                     scroll: t.scrollWidth, width: t.clientWidth});
  }
  for (const c of document.querySelectorAll('td, th'))
    if (/^(nan|NaN|NaT|None|<NA>|null|undefined)$/.test(c.textContent.trim()))
      out.cells.push(c.closest('section').id + ': ' + c.outerHTML.slice(0, 200));
  out.words = document.body.innerText.match(/\\b(nan|NaN|NaT|None)\\b/g) || [];
  const pre = document.createElement('pre');
  pre.id = 'layout';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


@pytest.fixture(scope="module")
def demo_report(demo_world: Built,
                tmp_path_factory: pytest.TempPathFactory) -> tuple[AnalysisResult, Path]:
    return demo_report_of(demo_world, tmp_path_factory)


def measure(page: Path, width: int, tmp_path: Path) -> dict:
    """Open `page` with the probe in Chromium at `width` x 2,000 px; what it measured."""
    assert CHROMIUM
    probe = page.with_name(f"probe-{tmp_path.name}.html")  # beside the report, like it
    probe.write_text(page.read_text("utf-8").replace("</body>", PROBE + "</body>"), "utf-8")
    try:
        done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                               f"--window-size={width},2000", "--hide-scrollbars",
                               "--dump-dom", probe.as_uri()],
                              capture_output=True, text=True, timeout=180, check=True)
    finally:
        probe.unlink()
    found = re.search(r'<pre id="layout">(.*?)</pre>', done.stdout, re.S)
    assert found, "the probe did not run"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&lt;", "<")
                      .replace("&gt;", ">").replace("&amp;", "&"))


@needs_chromium
@pytest.mark.parametrize("width", [1280, 1400, 1920])
def test_no_table_runs_off_the_page(demo_report, tmp_path: Path, width: int) -> None:
    _, page = demo_report
    m = measure(page, width, tmp_path)
    assert m["inner"] == width  # the window is the size asked for (else the test proves nothing)
    assert len(m["tables"]) >= 8
    wide = [t for t in m["tables"] if t["right"] > t["limit"] + 1 or t["scroll"] > t["width"]]
    assert not wide, f"tables wider than their section at {width} px: {wide}"
    assert m["scroll"] <= m["client"], f"the page scrolls sideways at {width} px"


@needs_chromium
def test_no_value_reads_nan_nat_or_none(demo_report, tmp_path: Path) -> None:
    result, page = demo_report
    assert any(f.period is None for f in result.findings)  # there are missing periods to show
    m = measure(page, 1280, tmp_path)
    assert m["cells"] == []
    assert m["words"] == []
    html = page.read_text("utf-8")
    visible = re.sub(r"<script.*?</script>", "", html, flags=re.S)
    assert not re.search(r">\s*(nan|NaN|NaT|None)\s*<", visible)


def test_each_finding_shows_its_id(demo_report) -> None:
    result, page = demo_report
    html = page.read_text("utf-8")
    table = html.split('<table id="findings">', 1)[1].split("</table>", 1)[0]
    written = [orjson.loads(x)["id"] for x in
               page.with_name("findings.jsonl").read_bytes().splitlines() if x]
    assert written == [f.id for f in result.findings]
    for fid in written:  # the id rareflow trace --findings takes, in the row's first cell
        assert f'<tr id="{fid}"><td class="fid">{fid}</td>' in table
    assert "<th>finding</th>" in table


def test_long_ids_are_shortened_with_the_full_value_in_the_title(demo_report) -> None:
    _, page = demo_report
    html = page.read_text("utf-8")
    dids = set(re.findall(r"did:key:z6Mk[1-9A-HJ-NP-Za-km-z]+(?:#z6Mk[1-9A-HJ-NP-Za-km-z]+)?",
                          html))
    assert dids
    table = html.split('<table id="findings">', 1)[1].split("</table>", 1)[0]
    for did in {d for d in dids if f'title="{d}"' in table}:
        span = re.search(rf'<span class="id" title="{re.escape(did)}">([^<]*)</span>', table)
        assert span and len(span.group(1)) < len(did) and "…" in span.group(1)
    assert any(f'title="{d}"' in table for d in dids)


def test_trace_documents_carry_no_material(demo_report) -> None:
    result, _ = demo_report
    assert result.traces
    for _, tr in result.traces:
        fig = trace_figure(tr)
        link = fig.data[0].link
        labels = list(fig.data[0].node.label)
        kinds = [lab.split(" ", 1)[0] for lab in labels]
        into: dict[int, float] = {}
        out: dict[int, float] = {}
        docs = 0.0
        for s, t, v in zip(link.source, link.target, link.value, strict=True):
            if kinds[s] in DOCUMENTS:
                docs += v
                into[t] = into.get(t, 0.0) + v
            else:
                out[s] = out.get(s, 0.0) + v
        assert docs > 0  # the documents are drawn
        for node, v in into.items():  # ... beside the declaration, adding nothing to it
            assert v <= 0.02 * out[node], labels[node]


def _charts(html: str) -> list[dict]:
    return [json.loads(x.replace("<\\/", "</")) for x in
            re.findall(r'<script type="application/json" data-chart="[^"]+">(.*?)</script>',
                       html, re.S)]


def test_sankey_colours_are_the_bar_charts(demo_report) -> None:
    _, page = demo_report
    charts = _charts(page.read_text("utf-8"))
    sankey = next(c["data"][0] for c in charts if c["data"][0]["type"] == "sankey"
                  and "CN exports" in c["data"][0]["node"]["label"])
    node = dict(zip(sankey["node"]["label"], sankey["node"]["color"], strict=True))
    bars = next(c["data"] for c in charts if any(t.get("name") == "verified use"
                                                 for t in c["data"]))
    bar = {t["name"]: t["marker"]["color"] for t in bars}
    for category, colour in COLOURS.items():
        name = category.replace("_", " ")
        assert node[name] == bar[name] == colour


# --- a report at country scale stays a page ---------------------------------------------------
def _big(result: AnalysisResult, tmp_path: Path) -> tuple[AnalysisResult, Deferred]:
    did = "did:key:z6MkuLhqKKNd791heuGLro9doDnJ5VGLAvRBmqW7BB5gpbmK"
    findings = [Finding(rule="licence_violation", severity="high", subject_type="shipment",
                        subject_id=f"CN-XX-D-{i:07d}", period=None if i % 2 else "2025-03",
                        kg=None if i % 3 else 12.5, evidence=[did, *(f"L-{j}" for j in
                                                                     range(40))],
                        message=f"Shipment {i} goes beyond its licence " + "x" * 300)
                for i in range(20_000)]
    n = 200_000
    balances = pd.DataFrame({
        "party_id": [f"P-{i}" for i in range(n)], "period": "2025",
        **{c: 1.0 for c in ("received_kg", "produced_kg", "sent_kg", "used_kg", "scrap_kg",
                            "stock_change_kg", "unaccounted_sd_kg")},
        "unaccounted_kg": [float(i % 977) for i in range(n)], "nodal_z": float("nan")})
    rejects = pd.DataFrame({"table": "shipments", "file": "/data/shipments.csv",
                            "line": range(50_000), "column": "licence_id",
                            "reason": "unknown licence", "value": None, "level": "reject"})
    decisions = pd.DataFrame({"application_id": [f"APP-{i}" for i in range(5_000)],
                              "decision": "deny", "reasons": "expired", "kg": 1.0,
                              "explanation": "y" * 1_000, "evidence": ";".join([did] * 30)})
    store = open_store(None)
    rows = 200_000
    ledger = pa.table({
        "licence_id": pa.array([f"L-{i // 1000}" for i in range(rows)]),
        "declaration_id": pa.array([f"D-{i}" for i in range(rows)]),
        "date": pa.array([None] * rows, pa.date32()), "kg": pa.array([10.0] * rows),
        "cumulative_kg": pa.array([10.0 * (i % 1000 + 1) for i in range(rows)]),
        "max_kg": pa.array([5_000.0] * rows),
        "remaining_kg": pa.array([5_000.0 - 10.0 * (i % 1000 + 1) for i in range(rows)]),
        "status": pa.array(["within" if i % 1000 < 500 else "over (all of it)"
                            for i in range(rows)])})
    led = Deferred(store, store.from_arrow("ledger", ledger))
    return dataclasses.replace(result, findings=findings, balances=balances, rejects=rejects,
                               decisions=decisions, licence_ledger=led), led


def test_long_tables_show_their_top_rows_and_link_to_the_files(demo_report,
                                                               tmp_path: Path) -> None:
    result, _ = demo_report
    big, led = _big(result, tmp_path)
    try:
        html = render_report(big, dataset="big", generated_at="2026-11-30")
    finally:
        led.store.close()
    assert len(html.encode("utf-8")) < 5_000_000  # a page, not an archive

    def rows(table_id: str) -> int:
        body = html.split(f'<table id="{table_id}">', 1)[1].split("</table>", 1)[0]
        return body.count("<tr") - 1

    def section(anchor: str) -> str:
        return html.split(f'<section id="{anchor}">', 1)[1].split("</section>", 1)[0]

    assert rows("findings") == html_report.MAX_FINDINGS
    assert f"{html_report.MAX_FINDINGS:,} of 20,000 findings shown" in section("findings")
    assert '<a href="findings.jsonl">' in section("findings")
    balances = section("balances")
    assert f"{html_report.MAX_BALANCES:,} of 200,000 party balances shown" in balances
    assert '<a href="balances.csv">' in balances and "976.0 ± 1.0" in balances  # largest first
    rejects = section("rejects")
    assert f"{html_report.MAX_REJECTS:,} of 50,000 rows" in rejects
    assert '<a href="rejects.csv">' in rejects
    ledger = section("ledger")
    assert "100,000 of 200,000 shipments" in ledger and '<a href="licence_ledger.csv">' in ledger
    assert ledger.count('<tr class="over">') == html_report.MAX_LEDGER
    decisions = section("decisions")
    assert f"{MAX_DECISIONS:,} of 5,000 applications shown" in decisions
    assert '<a href="decisions.csv">' in decisions
    # at most 8 evidence ids per finding in the page; the rest counted
    assert "+ 33 more (findings.jsonl)" in section("findings")
