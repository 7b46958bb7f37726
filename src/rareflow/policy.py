"""The dated policy file: which items are controlled on which date, what a certificate needs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import TypeAdapter, ValidationError

from rareflow.errors import ConfigError

T = TypeVar("T")


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
class Listing:
    """A dated policy entry about a country (`country_status`) or a party (`party_lists`)."""

    subject: str  # ISO country code or party_id
    status: str  # e.g. permits_suspended / watch / control
    decision: str  # what an application touching it gets: request_information or deny
    since: date
    until: date | None
    reason: str

    def in_force(self, on: date) -> bool:
        return self.since <= on and (self.until is None or on < self.until)


@dataclass(frozen=True)
class Policy:
    controls: tuple[Control, ...]
    mandatory: tuple[str, ...]
    heavy_re_items: tuple[str, ...]
    source: str = field(default="rareflow:policy.yaml")
    countries: tuple[Listing, ...] = ()
    parties: tuple[Listing, ...] = ()
    analysis: dict = field(default_factory=dict)  # rule settings: {section: {name: value}}

    def settings(self, cls: type[T]) -> T:
        """A detector's settings (a dataclass or a pydantic model) with the policy's
        `analysis.<section>` values over its defaults (`section`: the class's `SECTION`,
        else its name without "Settings"), each value checked against the field's type: a
        setting the class does not have, or a value of the wrong type, is a ConfigError
        naming the policy file, the setting and what is expected."""
        section = getattr(cls, "SECTION", cls.__name__.removesuffix("Settings").lower())
        given = self.analysis.get(section) or {}
        if not isinstance(given, dict):
            raise ConfigError(f"policy {self.source}: analysis.{section} is not a mapping of "
                              "settings", file=self.source)
        known = _field_names(cls)
        unknown = sorted(set(given) - known)
        if unknown:
            raise ConfigError(f"policy {self.source}: analysis.{section} has no setting "
                              f"{', '.join(unknown)} (known: {', '.join(sorted(known))})",
                              file=self.source)
        try:
            return TypeAdapter(cls).validate_python(given)
        except ValidationError as exc:
            bad = "; ".join(f"analysis.{section}.{'.'.join(map(str, e['loc']))}="
                            f"{e.get('input')!r}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"policy {self.source}: {bad}", file=self.source) from None

    def country_status(self, country: str, on: date) -> list[Listing]:
        return [c for c in self.countries if c.subject == country and c.in_force(on)]

    def party_listings(self, party: str, on: date) -> list[Listing]:
        return [p for p in self.parties if p.subject == party and p.in_force(on)]

    def controlled_products(self) -> list[tuple[str, bool, date, tuple[tuple[date, date], ...]]]:
        """(product, heavy_only, effective_from, suspensions) for every controlled product."""
        out = []
        for c in self.controls:
            out += [(p, False, c.effective_from, c.suspended) for p in c.products]
            out += [(p, True, c.effective_from, c.suspended) for p in c.heavy_only]
        return out


def _field_names(cls: type) -> set[str]:
    if dataclasses.is_dataclass(cls):
        return {f.name for f in dataclasses.fields(cls)}
    return set(getattr(cls, "model_fields", {}))


def _date(v: object) -> date:
    return v if isinstance(v, date) else date.fromisoformat(str(v))


DECISIONS = ("request_information", "deny")


def _listing(raw: dict, key: str, default_decision: str) -> Listing:
    decision = raw.get("decision") or default_decision
    if decision not in DECISIONS:
        raise ValueError(f"decision {decision!r} of {raw.get(key)}: one of {DECISIONS}")
    until = raw.get("until")
    return Listing(subject=str(raw[key]), status=str(raw["status"]), decision=decision,
                   since=_date(raw["from"]), until=_date(until) if until else None,
                   reason=str(raw.get("reason") or ""))


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
        countries = tuple(_listing(c, "country", "request_information")
                          for c in raw.get("country_status") or [])
        parties = tuple(_listing(p, "party_id", "deny" if p.get("status") == "control"
                                 else "request_information")
                        for p in raw.get("party_lists") or [])
        analysis = raw.get("analysis") or {}
        if not isinstance(analysis, dict):
            raise ValueError("analysis: a mapping of rule settings")
        return Policy(controls, tuple(req.get("mandatory") or ()),
                      tuple(req.get("heavy_re_items") or ()), source, countries, parties,
                      analysis)
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
