"""`rareflow trace`: multi-hop lot traces over the store's trace index, on the demo world."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import pytest
from typer.testing import CliRunner

from conftest import Built, copy_store
from rareflow.analyses.rules.prohibited_end_use import teardown_trace
from rareflow.cli.main import app
from rareflow.findings import Finding
from rareflow.outputs.files import write_findings
from rareflow.outputs.trace_view import render_tree, trace_figure
from rareflow.trace import TraceError, trace, trace_store
from rareflow.trace import index as trace_index
from rareflow.workspace import Workspace

runner = CliRunner()


@pytest.fixture(scope="module")
def demo(demo_world: Built, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The demo world and a DuckDB store holding it (index not built yet): this module's copy
    of the store `conftest.demo_world` ingested once."""
    return demo_world.data, copy_store(demo_world.db, tmp_path_factory.mktemp("trace_demo"))


@pytest.fixture
def ws(demo: tuple[Path, Path]) -> Workspace:
    w = Workspace.open(demo[1])
    yield w
    w.close()


def _frame(ws: Workspace, sql: str) -> pd.DataFrame:
    return ws.store.raw.execute(sql).df()


def test_backward_trace_of_the_teardown_lot_reaches_declaration_and_certificate(
        ws: Workspace) -> None:
    t = trace_store(ws.store, "PL-DRONE-F", direction="backward")
    assert t.query_kind == "flow" and t.starts == ["PL-DRONE-F"] and not t.forward
    shipments = t.summary["shipments"]["ids"]
    assert shipments and all(s.startswith("CN-IN-D-") for s in shipments)
    assert "EUC-IN-2025" in t.summary["certificates"]["ids"]
    assert t.summary["licences"]["ids"]
    # what the data itself says about those declarations
    decl = _frame(ws, "SELECT declaration_id, certificate_id, licence_id FROM shipments "
                      f"WHERE declaration_id IN ({', '.join(repr(s) for s in shipments)})")
    assert set(decl.certificate_id) == {"EUC-IN-2025"}
    assert set(t.summary["licences"]["ids"]) == set(decl.licence_id)
    # the chain agrees with the single-parent walk behind the teardown finding
    obs = _frame(ws, "SELECT * FROM observations WHERE kind = 'teardown'")
    fl = _frame(ws, "SELECT flow_id, source_ref FROM flows")
    tr = _frame(ws, "SELECT transformation_id, input_ref FROM transformations")
    sh = _frame(ws, "SELECT declaration_id, certificate_id FROM shipments")
    chain = next(f for f in teardown_trace(obs, fl, tr, sh) if "PL-O-TEAR" in f.evidence)
    assert set(chain.evidence) - {"PL-O-TEAR"} <= set(t.records)
    # the tree: each level one hop up, linked by the column that names the parent
    node, relations = t.backward[0], []
    while node["children"]:
        node = node["children"][0]
        relations.append((node["kind"], node["relation"], node["hops"]))
    assert relations[:3] == [("flow", "source_ref", 1), ("transformation", "source_ref", 2),
                             ("shipment", "input_ref", 3)]
    # rare-earth content: declared or from the product table, never missing on the chain
    assert all(t.records[i]["content_kg"] > 0 for i in ["PL-DRONE-F", *shipments])


def test_forward_trace_of_a_declaration_reaches_final_sales(ws: Workspace) -> None:
    decl = trace_store(ws.store, "PL-DRONE-F", direction="backward").summary["shipments"]["ids"][0]
    t = trace_store(ws.store, decl, direction="forward")
    assert t.query_kind == "shipment" and not t.backward
    sales = t.summary["final_sales"]
    assert sales["ids"] and sales["content_kg"] > 0
    assert "PL-O-TEAR" in t.summary["teardowns"]["ids"]
    assert "PL-DRONE-F" in t.records
    # content cannot grow along the chain: sales and exports hold less than was shipped
    shipped = t.records[decl]["content_kg"]
    assert sales["content_kg"] + t.summary["exports"]["content_kg"] <= shipped
    # every final sale is a flow with no receiver, reached through a transformation
    for sid in sales["ids"]:
        assert t.records[sid]["kind"] == "flow" and t.records[sid]["to_id"] is None
    # links are in the direction the material moved: the declaration is a source only
    assert all(link["target"] != decl for link in t.links)


def test_both_directions_and_depth_limit(ws: Workspace) -> None:
    t = trace_store(ws.store, "PL-DRONE-F", depth=1)
    assert t.direction == "both" and t.truncated
    (up,) = t.backward[0]["children"]
    assert up["kind"] == "flow" and up["hops"] == 1 and not up["children"]
    assert [c["id"] for c in t.forward[0]["children"]] == ["PL-O-TEAR"]
    assert not t.summary["shipments"]["ids"]
    tree = render_tree(t)
    start, note = tree.children
    assert [str(b.label) for b in start.children] == ["[magenta]came from[/magenta]",
                                                      "[magenta]went to[/magenta]"]
    assert "truncated" in str(note.label)
    full = trace_store(ws.store, "PL-DRONE-F", depth=10)
    assert not full.truncated and full.summary["shipments"]["ids"]


def test_index_is_persisted_reused_and_rebuilt_after_ingest(demo: tuple[Path, Path],
                                                            tmp_path: Path) -> None:
    data, src_db = demo
    db = tmp_path / "copy.duckdb"
    shutil.copy(src_db, db)
    arrow_path, npz_path = trace_index.paths(db)
    assert not npz_path.exists()

    w = Workspace.open(db)
    builds = trace_index.build_count()
    first = trace_index.open_index(w.store)
    assert first.source == "built" and trace_index.build_count() == builds + 1
    assert arrow_path.exists() and npz_path.exists()
    w.close()
    stamp = (arrow_path.stat().st_mtime_ns, npz_path.stat().st_mtime_ns)

    w = Workspace.open(db)  # a new process would do the same: load, not rebuild
    again = trace_index.open_index(w.store)
    assert again.source == "loaded" and trace_index.build_count() == builds + 1
    assert again.n_links == first.n_links and again.fingerprint == first.fingerprint
    assert (arrow_path.stat().st_mtime_ns, npz_path.stat().st_mtime_ns) == stamp
    assert trace_index.open_index(w.store).source == "cached"

    # next month's rows: one more flow out of the teardown lot's sender
    more = tmp_path / "more"
    more.mkdir()
    (more / "flows.csv").write_text(
        "flow_id,date,from_id,to_id,product,units,source_ref\n"
        "NEW-F-1,2025-12-01,IN-DRN-01,,traction_motor,2,PL-DRONE-F\n", encoding="utf-8")
    report = w.ingest(more)
    assert report.tables["flows"].loaded == 1
    rebuilt = trace_index.open_index(w.store)
    assert rebuilt.source == "built" and trace_index.build_count() == builds + 2
    assert rebuilt.fingerprint != first.fingerprint
    assert npz_path.stat().st_mtime_ns != stamp[1]
    t = trace(rebuilt, "PL-DRONE-F", direction="forward")
    assert "NEW-F-1" in t.summary["final_sales"]["ids"]
    # the same rows again change nothing, so the index stays
    w.ingest(more)
    assert trace_index.open_index(w.store).source == "cached"
    w.close()


def test_in_memory_store_keeps_its_index_for_the_session(demo: tuple[Path, Path]) -> None:
    w = Workspace.open(None)
    w.ingest(demo[0])
    builds = trace_index.build_count()
    assert trace_index.open_index(w.store).source == "built"
    t = trace_store(w.store, "PL-O-TEAR", direction="backward")
    assert trace_index.build_count() == builds + 1
    assert "EUC-IN-2025" in t.summary["certificates"]["ids"]
    w.close()


def test_unrecorded_reference_is_shown_not_lost(tmp_path: Path, demo: tuple[Path, Path]
                                                ) -> None:
    db = tmp_path / "copy.duckdb"
    shutil.copy(demo[1], db)
    w = Workspace.open(db)
    more = tmp_path / "more"
    more.mkdir()
    (more / "flows.csv").write_text(
        "flow_id,date,from_id,to_id,product,net_kg,source_ref\n"
        "ORPHAN-F,2025-12-01,IN-MOT-01,IN-ASM-01,ndfeb_magnet,5,CN-IN-D-99999\n",
        encoding="utf-8")
    w.ingest(more)
    t = trace_store(w.store, "ORPHAN-F", direction="backward")
    lot = t.records["CN-IN-D-99999"]
    assert lot["kind"] == "lot" and lot["recorded"] is False
    assert t.summary["unrecorded"]["ids"] == ["CN-IN-D-99999"]
    with pytest.raises(TraceError, match="unknown id"):
        trace_store(w.store, "NO-SUCH-LOT")
    w.close()


def test_trace_figure_is_a_sankey_of_the_links(ws: Workspace) -> None:
    t = trace_store(ws.store, "PL-DRONE-F")
    fig = trace_figure(t)
    assert isinstance(fig, go.Figure)
    sankey = fig.data[0]
    assert sankey.type == "sankey"
    assert len(sankey.link.source) == len(t.links) > 0
    assert any("EUC-IN-2025" in lab for lab in sankey.node.label)
    assert all(v > 0 for v in sankey.link.value)
    # the JSON form draws the same figure
    again = trace_figure(json.loads(t.to_json()))
    assert list(again.data[0].node.label) == list(sankey.node.label)


# --- CLI --------------------------------------------------------------------------------------
def test_cli_text(demo: tuple[Path, Path]) -> None:
    res = runner.invoke(app, ["trace", "PL-DRONE-F", "--backward", "--db", str(demo[1])])
    assert res.exit_code == 0, res.output
    assert "EUC-IN-2025" in res.output and "CN-IN-D-" in res.output
    assert "export declarations (1" in res.output and "Parties" in res.output


def test_cli_json_shape(demo: tuple[Path, Path]) -> None:
    res = runner.invoke(app, ["trace", "PL-DRONE-F", "--db", str(demo[1]), "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert set(doc) == {"query", "query_kind", "direction", "depth", "starts", "truncated",
                        "finding", "not_traced", "summary", "backward", "forward", "links",
                        "parties"}
    assert doc["query"] == "PL-DRONE-F" and doc["direction"] == "both"
    assert doc["starts"] == ["PL-DRONE-F"] and doc["truncated"] is False
    root = doc["backward"][0]
    for key in ("id", "kind", "date", "product", "qty", "unit", "content_kg", "from_id",
                "to_id", "relation", "hops", "children", "recorded"):
        assert key in root
    assert root["relation"] is None and root["hops"] == 0
    assert doc["forward"][0]["children"][0]["id"] == "PL-O-TEAR"
    assert {"source", "target", "relation", "content_kg"} == set(doc["links"][0])
    assert {"PL-O-TEAR", "PL-DRONE-F"} <= {x for link in doc["links"]
                                          for x in (link["source"], link["target"])}
    assert doc["parties"]["IN-DRN-01"]["country"] == "IN"
    assert doc["summary"]["certificates"]["ids"] == ["EUC-IN-2025"]


def test_cli_finding_id_traces_its_evidence(demo: tuple[Path, Path], tmp_path: Path) -> None:
    finding = Finding(rule="prohibited_end_use", severity="high", subject_type="party",
                      subject_id="IN-DRN-01", evidence=["PL-O-TEAR", "PL-DRONE-F", "IN-DRN-01"],
                      message="Teardown PL-O-TEAR found lot PL-DRONE-F.")
    path = tmp_path / "findings.jsonl"
    write_findings([finding], path)
    res = runner.invoke(app, ["trace", finding.id, "--backward", "--db", str(demo[1]),
                              "--findings", str(path), "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["query_kind"] == "finding" and doc["finding"]["id"] == finding.id
    assert doc["starts"] == ["PL-O-TEAR", "PL-DRONE-F"]
    assert doc["not_traced"] == ["IN-DRN-01"]
    assert "EUC-IN-2025" in doc["summary"]["certificates"]["ids"]
    res = runner.invoke(app, ["trace", finding.id, "--backward", "--db", str(demo[1]),
                              "--findings", str(path)])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "ref PL-DRONE-F (its own branch)" in text and "not traced): IN-DRN-01" in text


def test_cli_data_folder_ingests_then_traces(demo: tuple[Path, Path], tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(demo[0], data)
    res = runner.invoke(app, ["trace", "PL-O-TEAR", "--data", str(data), "--backward",
                              "--format", "json"])
    assert res.exit_code == 0, res.output
    assert "EUC-IN-2025" in json.loads(res.output)["summary"]["certificates"]["ids"]
    assert trace_index.paths(data / "rareflow.duckdb")[1].exists()


@pytest.mark.parametrize(("args", "message"), [
    (["NO-SUCH-LOT"], "unknown id NO-SUCH-LOT"),
    (["IN-DRN-01"], "is a party"),
    (["F-PROH-000000000000", "--findings", "__FINDINGS__"], "nor a finding in"),
])
def test_cli_unknown_id_exits_1(demo: tuple[Path, Path], tmp_path: Path, args: list[str],
                                message: str) -> None:
    findings = tmp_path / "findings.jsonl"
    findings.write_text("", encoding="utf-8")
    args = [str(findings) if a == "__FINDINGS__" else a for a in args]
    res = runner.invoke(app, ["trace", *args, "--db", str(demo[1])])
    assert res.exit_code == 1
    assert message in " ".join(res.output.split())


def test_cli_needs_a_store(tmp_path: Path) -> None:
    res = runner.invoke(app, ["trace", "X"])
    assert res.exit_code == 2
    res = runner.invoke(app, ["trace", "X", "--db", str(tmp_path / "none.duckdb")])
    assert res.exit_code == 2 and "no store" in res.output
    assert not (tmp_path / "none.duckdb").exists()
