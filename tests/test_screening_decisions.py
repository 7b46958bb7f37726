"""Analysts' judgements (`screening_decisions`, the project's extension to the contract) in
`rareflow analyze`: `not_same` takes a candidate out of the findings and out of the prohibited
parties, `same` confirms one as a match; a bad judgement is a reject like any other row."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import append_rows, example_subset
from rareflow.cli import console as cli_console
from rareflow.cli.main import app
from rareflow.findings import Finding
from rareflow.workspace import AnalysisResult, Workspace

HEADER = "party_id,entity_id,decision,by,date,note"


def _prepare(example_dir: Path, *decisions: str) -> Path:
    """The example with two parties close to the listed 'Example Defence Drones Pvt Ltd'
    (MEU-EX-1, IN):
    - X-IN-8 'Example Defense Drone Pvt Ltd': defense~defence and drone~drones are one edit
      each (0.93, 0.92), the other words equal: about 0.95 of both names covered, + 0.02 for
      the same country: a `match`, high;
    - X-IN-7 'Example Defence Drone Systems Pvt Ltd': the extra word `systems` leaves the
      party's name about 0.72 covered, the listed one 0.98; half and half for companies,
      about 0.85 + 0.02: a `possible`, low.
    EX-IN-01 sends X-IN-8 100 kg of magnets (0.31 kg of rare earths per kg: 31 kg), taken out
    of its stock so that its books stay closed."""
    append_rows(example_dir / "parties.csv",
                "X-IN-8,Example Defense Drone Pvt Ltd,IN,manufacturer,,,,,,,",
                "X-IN-7,Example Defence Drone Systems Pvt Ltd,IN,manufacturer,,,,,,,")
    append_rows(example_dir / "flows.csv",
                "X-F-3,2025-07-01,EX-IN-01,X-IN-8,,ndfeb_magnet,100,,,EX-D-0002,")
    stocks = example_dir / "stocks.csv"
    stocks.write_text(stocks.read_text().replace("EX-IN-01,2025-06-30,ndfeb_magnet,1560",
                                                 "EX-IN-01,2025-06-30,ndfeb_magnet,1460"))
    if decisions:
        (example_dir / "screening_decisions.csv").write_text(
            "\n".join((HEADER, *decisions)) + "\n", encoding="utf-8")
    return example_dir


def _found(result: AnalysisResult, rule: str) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for f in result.findings:
        if f.rule == rule:
            out.setdefault(f.subject_id, []).append(f)
    return out


def test_without_judgements_match_is_high_possible_low_and_match_prohibited(
        ws: Workspace, example_dir: Path) -> None:
    ws.ingest(_prepare(example_dir))
    r = ws.analyze()
    screened = _found(r, "restricted_party")
    assert [f.severity for f in screened["X-IN-8"]] == ["high"]
    assert [f.severity for f in screened["X-IN-7"]] == ["low"]
    assert "confirmed" not in screened["X-IN-8"][0].message
    prohibited = _found(r, "prohibited_end_use")["X-IN-8"]
    assert any("X-F-3" in f.evidence for f in prohibited)
    assert r.attribution.prohibited_use_kg.sum() == pytest.approx(31.0)
    assert r.notes == []


def test_not_same_suppresses_and_same_confirms(ws: Workspace, example_dir: Path) -> None:
    report = ws.ingest(_prepare(
        example_dir, "X-IN-8,MEU-EX-1,not_same,ana,2026-11-02,registered 2024 in Pune",
        "X-IN-7,MEU-EX-1,same,bo,2026-11-03,"))
    assert report.tables["screening_decisions"].loaded == 2
    assert "screening_decisions" not in set(ws.rejects().table)
    r = ws.analyze()
    screened = _found(r, "restricted_party")
    # the judged not_same pair: no finding, no prohibition, no prohibited_use share
    assert "X-IN-8" not in screened
    assert "X-IN-8" not in _found(r, "prohibited_end_use")
    assert not any(f.subject_id == "X-IN-8" and "MEU-EX-1" in f.evidence
                   for f in r.findings)
    assert r.attribution.prohibited_use_kg.sum() == pytest.approx(0.0)
    # ... but still visible, with who judged it
    assert len(r.notes) == 1
    assert "X-IN-8" in r.notes[0] and "MEU-EX-1" in r.notes[0]
    assert "suppressed by ana on 2026-11-02: registered 2024 in Pune" in r.notes[0]
    # the possible judged the same is a match: high, saying who confirmed it
    assert [f.severity for f in screened["X-IN-7"]] == ["high"]
    assert "confirmed the same by bo on 2026-11-03" in screened["X-IN-7"][0].message
    assert "X-IN-7 matches" in screened["X-IN-7"][0].message


def test_bad_judgement_is_a_reject_with_file_line_field(ws: Workspace, tmp_path: Path) -> None:
    data = example_subset(tmp_path / "example", "restricted_parties")
    (data / "screening_decisions.csv").write_text(
        f"{HEADER}\nEX-IN-01,MEU-EX-1,not_same,ana,2026-11-02,\n"
        "EX-IN-02,MEU-EX-1,maybe,ana,2026-11-02,\n", encoding="utf-8")
    report = ws.ingest(data)
    r = ws.rejects()
    r = r[r.level == "reject"]
    assert len(r) == 1, r.to_dict("records")
    hit = r.iloc[0]
    assert hit.file.endswith("screening_decisions.csv")
    assert (hit.line, hit.column, hit.value) == (3, "decision", "maybe")
    assert "not_same" in hit.reason
    assert report.tables["screening_decisions"].loaded == 1


def test_validate_names_the_bad_judgement(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    data = example_subset(tmp_path / "example", "restricted_parties")
    (data / "screening_decisions.csv").write_text(
        f"{HEADER}\nEX-IN-01,MEU-EX-1,Same,ana,2026-11-02,\n", encoding="utf-8")
    # the results console is made once, at import, 80 columns wide off a terminal: a wide
    # one keeps the reject's row on one line whatever the temporary path
    monkeypatch.setattr(cli_console.out, "_width", 400)
    res = CliRunner().invoke(app, ["validate", str(data)])
    out = " ".join(res.output.split())
    assert res.exit_code == 1  # rows set aside (docs/commands/validate.md)
    assert "screening_decisions.csv │ 2 │ decision │ not one of: same, not_same │ Same" in out


def test_analyze_prints_and_reports_the_suppression(example_dir: Path, tmp_path: Path) -> None:
    """A suppression is never silent: `analyze` prints it and the report lists it."""
    _prepare(example_dir, "X-IN-8,MEU-EX-1,not_same,ana,2026-11-02,registered 2024 in Pune")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["analyze", str(example_dir), "--out", str(out),
                                   "--db", str(tmp_path / "s.duckdb")])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "note: restricted_party: X-IN-8" in text
    assert "suppressed by ana on 2026-11-02" in text
    page = (out / "report.html").read_text(encoding="utf-8")
    assert '<section id="notes"><h2>Judged by analysts</h2>' in page
    assert "suppressed by ana on 2026-11-02: registered 2024 in Pune" in page
