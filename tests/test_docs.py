"""Docs are part of the change: every command and rule has its page; the contract page is
derived from the contract data and kept in step."""

from __future__ import annotations

from conftest import ROOT
from rareflow.analyses.registry import RULES
from rareflow.cli.main import app
from rareflow.contract import render_markdown


def _command_names() -> list[str]:
    names = [c.name or c.callback.__name__ for c in app.registered_commands]
    names += [g.name for g in app.registered_groups]
    return [n for n in names if n]


def test_every_command_has_a_page() -> None:
    missing = [n for n in _command_names() if not (ROOT / "docs" / "commands" / f"{n}.md").exists()]
    assert not missing


def test_every_rule_has_a_page() -> None:
    for rule in RULES:
        page = ROOT / rule.doc
        assert page.exists(), rule.name
        text = page.read_text()
        for heading in ("What it means", "How it is computed", "How to act"):
            assert heading in text, (rule.name, heading)


def test_contract_page_is_current() -> None:
    assert (ROOT / "docs" / "contract.md").read_text().strip() == render_markdown().strip()


def test_rule_pages_carry_what_the_detector_states() -> None:
    """The generated block of each rule page and the index equal what the detectors say
    now (`rareflow rules --docs docs/rules` rewrites them)."""
    from rareflow.outputs.rule_docs import block, index

    for rule in RULES:
        assert block(rule) in (ROOT / rule.doc).read_text(), rule.name
    assert (ROOT / "docs" / "rules" / "README.md").read_text() == index(RULES)


def test_every_rule_has_its_module() -> None:
    """One detector per rule, in a module named after the rule."""
    import importlib

    names = [r.name for r in RULES]
    assert len(set(names)) == len(names)
    for name in names:
        mod = importlib.import_module(f"rareflow.analyses.rules.{name}")
        assert mod.DETECTOR.name == name
    assert not (ROOT / "src" / "rareflow" / "accounting.py").exists()
