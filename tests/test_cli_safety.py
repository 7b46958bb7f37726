"""Hostile and messy input through the real CLI (issue 9): JSON nested 100,000 deep, XML
entity bombs, values that look like rich markup, `--version`, a bad `--out`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import EXAMPLE, example_subset
from rareflow.cli.main import app

TESTDATA = Path(__file__).resolve().parents[1].parent / "shared" / "testdata" / "epcis"
SCHEMAS = os.pathsep.join(str(p) for p in (TESTDATA / "gs1-normative-2.0.1",
                                           TESTDATA / "gs1-epcis" / "XSD"))
DEEP = "[" * 100_000 + "]" * 100_000

runner = CliRunner()


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def no_traceback(res) -> None:
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output


@pytest.fixture
def deep(tmp_path: Path) -> Path:
    path = tmp_path / "deep.json"
    path.write_text('{"a": ' + DEEP + "}")
    return path


# --- 4: deep JSON ---------------------------------------------------------------------------

def test_certificate_verify_and_sign_refuse_deep_json(deep: Path, tmp_path: Path) -> None:
    res = run("certificate", "verify", deep)
    no_traceback(res)
    assert res.exit_code == 2, res.output
    assert "deep.json" in res.output and "nested deeper than 200 levels" in res.output
    key = tmp_path / "k.json"
    assert run("keys", "new", "--out", key).exit_code == 0
    res = run("certificate", "sign", deep, "--key", key)
    no_traceback(res)
    assert res.exit_code == 2 and "nested deeper than 200 levels" in res.output
    res = run("certificate", "sign", tmp_path / "k.json", "--key", deep)  # a deep key file
    no_traceback(res)
    assert res.exit_code == 2 and "nested deeper than 200 levels" in res.output
    res = run("certificate", "verify", EXAMPLE / "certificates" / "EX-EUC-01.json",
              "--keys", EXAMPLE / "keys.csv", "--status-list", deep, "--date", "2025-06-01")
    no_traceback(res)
    assert res.exit_code == 2 and "nested deeper than 200 levels" in res.output


def test_epcis_hash_refuses_deep_json(deep: Path) -> None:
    res = run("epcis", "hash", deep)
    no_traceback(res)
    assert res.exit_code == 2, res.output
    assert "deep.json" in res.output and "nested deeper than 200 levels" in res.output


@pytest.mark.skipif(not TESTDATA.exists(), reason="EPCIS schemas not available")
def test_epcis_validate_refuses_deep_json(deep: Path) -> None:
    res = run("epcis", "validate", deep, "--schemas", SCHEMAS)
    no_traceback(res)
    assert res.exit_code == 2, res.output
    assert "deep.json" in res.output and "nested deeper than 200 levels" in res.output


def test_reconcile_refuses_deep_json(deep: Path) -> None:
    res = run("reconcile", deep)
    no_traceback(res)
    assert res.exit_code == 2, res.output
    assert "deep.json" in res.output and "nested deeper than 200 levels" in res.output


def test_huge_json_is_refused_before_it_is_read(tmp_path: Path, monkeypatch) -> None:
    big = tmp_path / "big.json"
    with big.open("wb") as f:  # sparse: 21 MB of nothing, read only up to the limit
        f.truncate(21 * 1024 * 1024)
    for args in (("certificate", "verify", big), ("epcis", "hash", big), ("reconcile", big)):
        res = run(*args)
        no_traceback(res)
        assert res.exit_code == 2 and "larger than 20 MB" in res.output, (args, res.output)


def test_a_dataset_epcis_file_nested_deep_is_a_reject(tmp_path: Path) -> None:
    data = example_subset(tmp_path / "data")
    (data / "epcis").mkdir()
    doc = {"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
           "type": "EPCISDocument", "schemaVersion": "2.0",
           "creationDate": "2025-01-01T00:00:00Z", "epcisBody": {"eventList": ["DEEP"]}}
    text = json.dumps(doc).replace('"DEEP"', '{"type": "ObjectEvent", "x": ' + DEEP + "}")
    (data / "epcis" / "deep.jsonld").write_text(text)
    res = run("validate", data)
    no_traceback(res)
    assert res.exit_code == 1, res.output
    assert "nested" in res.output and "deeper" in res.output  # (the table may wrap)


XML_DEEP = ("<EPCISDocument xmlns='urn:epcglobal:epcis:xsd:2'>" + "<a>" * 100_000
            + "</a>" * 100_000 + "</EPCISDocument>")
XML_BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lolololololololololololololololololololololololololololololololololololol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
 <!ENTITY xxe SYSTEM "file:///etc/passwd">
]>
<ObjectEvent><eventTime>&lol9;</eventTime><bizStep>&xxe;</bizStep></ObjectEvent>
"""


@pytest.mark.parametrize("text", [XML_DEEP, XML_BOMB], ids=["deep", "entities"])
def test_epcis_xml_deep_nesting_and_entities(tmp_path: Path, text: str) -> None:
    path = tmp_path / "doc.xml"
    path.write_text(text)
    res = run("epcis", "hash", path, "--prehash")
    no_traceback(res)
    assert res.exit_code in (0, 2), res.output
    assert "root:" not in res.output and "lollollol" not in res.output
    if TESTDATA.exists():
        res = run("epcis", "validate", path, "--schemas", SCHEMAS)
        no_traceback(res)
        assert res.exit_code in (1, 2), res.output
        assert "root:" not in res.output and "lollollol" not in res.output


# --- 6: values from the data printed as they are ------------------------------------------

PARTY = "Acme [pvt] Ltd :x:"


@pytest.fixture
def marked(tmp_path: Path) -> Path:
    """The contract example (its parties, shipments and flows: what the commands print from)
    with a party named like markup, and rows whose rejected values look like markup and emoji
    codes."""
    data = example_subset(tmp_path / "data [pvt]", "flows")
    parties = data / "parties.csv"
    parties.write_text(parties.read_text().replace("Pune Example Motors Pvt Ltd", PARTY))
    with (data / "shipments.csv").open("a") as f:
        f.write("EX-D-9998,2025-03-10,EX-CN-01,EX-IN-01,EX-IN-01,CN[/red]X,ndfeb_magnet,"
                "8505111000,1200,,372,24,86400,EX-L-01,EX-EUC-01\n")
        f.write("EX-D-9999,2025-03-10,EX-CN-01,EX-IN-01,EX-IN-01,IN,ndfeb_magnet,"
                "8505111000,:x:,,372,24,86400,EX-L-01,EX-EUC-01\n")
    return data


def literal(res, *values: str) -> None:
    no_traceback(res)
    text = res.output.replace("\n", "")
    for value in values:
        assert value in text, (value, res.output)
    assert "\u274c" not in res.output  # :x: never becomes an emoji


def test_validate_prints_values_literally(marked: Path) -> None:
    res = run("validate", marked)
    assert res.exit_code == 1, res.output
    literal(res, "CN[/red]X", ":x:")


def test_ingest_prints_values_literally(marked: Path, tmp_path: Path) -> None:
    res = run("ingest", marked, "--db", tmp_path / "s.duckdb")
    assert res.exit_code == 1, res.output
    literal(res, "CN[/red]X", ":x:")


def test_trace_prints_party_names_literally(marked: Path, tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    run("ingest", marked, "--db", db)
    res = run("trace", "EX-D-0001", "--db", db)
    assert res.exit_code == 0, res.output
    literal(res, "Acme [pvt] Ltd", ":x:")
    assert "[bold]" not in res.output and "[cyan]" not in res.output  # our styles still apply


def test_analyze_prints_values_literally(marked: Path, tmp_path: Path) -> None:
    out = tmp_path / "out [/red] :x:"
    res = run("analyze", marked, "--out", out, "--db", tmp_path / "s.duckdb")
    assert res.exit_code == 1, res.output
    literal(res, "out [/red] :x:")
    assert (out / "report.html").exists()


def test_errors_print_paths_literally(tmp_path: Path) -> None:
    res = run("validate", tmp_path / "CN[/red]X :x:")
    assert res.exit_code == 2, res.output
    literal(res, "CN[/red]X :x:")


# --- 10: --version, a bad --out -------------------------------------------------------------

def test_version() -> None:
    from importlib.metadata import version

    res = run("--version")
    assert res.exit_code == 0, res.output
    assert res.output.strip() == f"rareflow {version('rareflow')}"


def test_analyze_checks_out_before_any_work(tmp_path: Path) -> None:
    a_file = tmp_path / "report.txt"
    a_file.write_text("keep me")
    db = tmp_path / "s.duckdb"
    res = run("analyze", EXAMPLE, "--out", a_file, "--db", db)
    no_traceback(res)
    assert res.exit_code == 2, res.output
    assert "is not a folder" in res.output and "--out" in res.output
    assert not db.exists()  # refused before the dataset was read
    assert a_file.read_text() == "keep me"
    res = run("analyze", EXAMPLE, "--out", a_file / "sub", "--db", db)
    assert res.exit_code == 2 and "is not a folder" in res.output and not db.exists()
    res = run("analyze", EXAMPLE, "--out", "/proc/rareflow-out", "--db", db)
    assert res.exit_code == 2 and "cannot write" in res.output and not db.exists()
    res = run("assess", EXAMPLE, "--out", a_file, "--db", db)
    assert res.exit_code == 2 and "is not a folder" in res.output and not db.exists()
