"""The demo worlds (`rareflow synth`): deterministic, every planted case of an implemented rule
found, honest noise silent, and the two news re-enactments measured."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import ROOT, Worlds
from rareflow.analyses.registry import RULES
from rareflow.cli.main import app
from rareflow.world import SCENARIOS, generate
from rareflow.world.check import check_planted

IMPLEMENTED = {r.name for r in RULES}


def planted_cases(manifest: dict) -> list[dict]:
    return manifest["cases"]


def test_same_seed_same_files(tmp_path: Path) -> None:
    generate(tmp_path / "a", seed=11, scenario="demo")
    generate(tmp_path / "b", seed=11, scenario="demo")
    cmp = filecmp.dircmp(tmp_path / "a", tmp_path / "b")
    assert cmp.left_only == cmp.right_only == cmp.diff_files == []
    generate(tmp_path / "c", seed=12, scenario="demo")
    flows = [(tmp_path / x / "flows.csv").read_bytes() for x in ("a", "c")]
    assert flows[0] != flows[1]


def test_demo_plants_every_rule(worlds: Worlds) -> None:
    from rareflow.findings import RULES as CONTRACT_RULES

    manifest = worlds.get("demo").manifest
    assert {c["rule"] for c in manifest["cases"]} == {*CONTRACT_RULES, "red_flag"}


def test_demo_planted_cases_found(worlds: Worlds) -> None:
    world = worlds.get("demo")
    manifest, result = world.manifest, world.result
    check = check_planted(planted_cases(manifest), result.findings, IMPLEMENTED)
    assert not check.missed, [c["case"] for c in check.missed]
    assert len(check.found) >= 15
    by_id = {f.id: f for f in result.findings}
    for case in manifest["cases"]:
        if case["rule"] == "red_flag":  # red flags are low (contract 1.1 §8)
            assert {by_id[i].severity for i in check.found[case["case"]]} == {"low"}, case


def test_demo_honest_noise_raises_no_high_or_medium(worlds: Worlds) -> None:
    world = worlds.get("demo")
    manifest, result = world.manifest, world.result
    check = check_planted(planted_cases(manifest), result.findings, IMPLEMENTED)
    loud = [(f.rule, f.subject_id, f.message) for f in check.unexplained
            if f.severity in ("high", "medium")]
    assert not loud


def test_clean_world_raises_nothing(worlds: Worlds) -> None:
    world = worlds.get("clean")
    manifest, result = world.manifest, world.result
    assert manifest["cases"] == []
    assert result.findings == []
    att = result.attribution
    assert (att["unaccounted_share"] < 0.01).all()


def test_unverified37_reenactment(worlds: Worlds) -> None:
    result = worlds.get("unverified37").result
    att = result.attribution
    vn = att[att["destination"] == "VN"]
    assert len(vn) == 1
    assert abs(float(vn["unaccounted_share"].iloc[0]) - 0.37) <= 0.02
    shares = vn[[c for c in vn.columns if c.endswith("_share")]].sum(axis=1)
    assert abs(float(shares.iloc[0]) - 1.0) < 1e-6
    hits = [f for f in result.findings if f.rule == "unaccounted_material"]
    assert [f.subject_id for f in hits] == ["VN-IMP-01"]
    others = att[att["destination"] != "VN"]
    assert (others["unaccounted_share"] < 0.01).all()


def test_capacity137_reenactment(worlds: Worlds) -> None:
    world = worlds.get("capacity137")
    manifest, result = world.manifest, world.result
    expected = manifest["expected"]["growth_excess_kg"]
    growth = [f for f in result.findings
              if f.rule == "capacity_mismatch" and f.period == "2024/2025"]
    assert len(growth) == 1
    f = growth[0]
    assert f.subject_id == "KR-SEMI-01"
    assert "+137%" in f.message and "+5%" in f.message
    assert f.kg == pytest.approx(expected, rel=0.05)
    assert {x.rule for x in result.findings} == {"capacity_mismatch"}


def test_every_planted_case_documented(worlds: Worlds) -> None:
    text = (ROOT / "docs" / "demo-scenarios.md").read_text()
    for case in worlds.get("demo").manifest["cases"]:
        assert f"`{case['case']}`" in text, case["case"]
    for scenario in SCENARIOS:
        assert f"`{scenario}`" in text


def test_synth_cli(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["synth", "--out", str(tmp_path / "w"), "--seed", "3",
                                   "--scenario", "clean"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "w" / "shipments.csv").exists()
    assert "clean world (seed 3)" in res.output
    bad = CliRunner().invoke(app, ["synth", "--out", str(tmp_path / "x"), "--scenario", "nope"])
    assert bad.exit_code == 2
