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
