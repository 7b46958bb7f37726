"""The dated policy file: which items are controlled on which date, what a certificate needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path

import yaml

from rareflow.errors import ConfigError


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    reference: str
    effective_from: date
    suspended: tuple[tuple[date, date], ...]
    products: tuple[str, ...]
    heavy_only: tuple[str, ...]
    tariff_lines: tuple[str, ...]

    def in_force(self, on: date) -> bool:
        if on < self.effective_from:
            return False
        return not any(start <= on < until for start, until in self.suspended)


@dataclass(frozen=True)
class Policy:
    controls: tuple[Control, ...]
    mandatory: tuple[str, ...]
    heavy_re_items: tuple[str, ...]
    source: str = field(default="rareflow:policy.yaml")

    def controlled_products(self) -> list[tuple[str, bool, date, tuple[tuple[date, date], ...]]]:
        """(product, heavy_only, effective_from, suspensions) for every controlled product."""
        out = []
        for c in self.controls:
            out += [(p, False, c.effective_from, c.suspended) for p in c.products]
            out += [(p, True, c.effective_from, c.suspended) for p in c.heavy_only]
        return out


def _date(v: object) -> date:
    return v if isinstance(v, date) else date.fromisoformat(str(v))


def parse_policy(raw: dict, source: str) -> Policy:
    try:
        controls = tuple(
            Control(
                id=c["id"], title=c.get("title", ""), reference=c.get("reference", ""),
                effective_from=_date(c["effective_from"]),
                suspended=tuple((_date(s["from"]), _date(s["until"]))
                                for s in c.get("suspended") or []),
                products=tuple(c.get("products") or []),
                heavy_only=tuple(c.get("heavy_only") or []),
                tariff_lines=tuple(str(t) for t in c.get("tariff_lines") or []),
            )
            for c in raw["controls"]
        )
        req = raw.get("certificate_requirements") or {}
        return Policy(controls, tuple(req.get("mandatory") or ()),
                      tuple(req.get("heavy_re_items") or ()), source)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"policy {source}: {exc}", file=source) from exc


@cache
def default_policy() -> Policy:
    text = resources.files("rareflow.data").joinpath("policy.yaml").read_text("utf-8")
    return parse_policy(yaml.safe_load(text), "rareflow:policy.yaml")


def load_policy(path: Path | None) -> Policy:
    if path is None:
        return default_policy()
    try:
        return parse_policy(yaml.safe_load(path.read_text("utf-8")), str(path))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read policy {path}: {exc}", file=str(path)) from exc
