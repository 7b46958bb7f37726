"""`unauthorised_reexport` seen only in statistics: the country-level test of contract §6.

For every destination country of the controlling country's customs, every controlled HS
heading and every year:

    exports    = max(documented flows leaving the country,
                     its own `trade_stats` exports,
                     its partners' mirror `import` rows naming it as partner)
    production = its own `trade_stats` `production` rows
    excess     = exports - production
    committed  = what customs released to it under a no-re-export commitment
    kg         = min(excess, committed)          when excess > 0

Own production is never a re-export: only the excess over it counts, and never more than
what came in under a commitment. The finding is `medium` (an estimate, contract §8) only when
the excess is beyond its uncertainty (`excess > k_sigma * sd`) and `kg >= min_kg`; an excess
beyond its uncertainty but below `min_kg` is `low`; anything else is no finding.

Units: everything is **net kg of goods per HS 6-digit heading**, the unit of `trade_stats`.
Statistics know headings, not product codes, and several products share one heading
(`ndfeb_magnet`, `smco_magnet`, `magnet_scrap` are all 8505.11), so the comparison is by
heading: a shipment or flow is put under the first six digits of its own `hs_code`, or of its
product's. Rare-earth content is never compared with net mass; the message gives an
approximate content of the finding's kg (the committed shipments' content per net kg) when
the shipments carry `content_kg`. Documented flows without `net_kg` (products counted in
units) do not add to the documented exports: they cannot be put in the statistics' unit, and
leaving them out can only understate an excess, never invent one. Controlled headings are
those of products whose `kind` is `material` or `component` (contract §4).

Without `trade_stats` rows there is no finding: documented flows alone are the party-level
test's (`diversion.reexport_findings`).

Periods are years (`period[:4]` of `trade_stats`, the year of each date); a country's imports
count against its exports of the same year only. A missing `production` row means no
documented production (0 kg).

Uncertainty: each figure has a relative standard deviation, a setting: statistics
(`statistics_rsd`, own and mirror rows and production), customs declarations
(`customs_rsd`) and parties' records (`records_rsd`). The exports' sd is that of the source
that gave the maximum; the excess's sd is sqrt(sd_exports^2 + sd_production^2).

Pure function of small pandas frames; the engine does the reading and sums the records per
country, product, code and year (`rules/unauthorised_reexport.in_statistics`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import ClassVar

import pandas as pd

from rareflow.findings import Finding
from rareflow.vocabulary import CONTROLLED_KINDS


@dataclass(frozen=True)
class StatisticsReexportSettings:
    """Uncertainty and size thresholds of the country-level re-export test (policy section
    `analysis.reexport_statistics`)."""

    SECTION: ClassVar[str] = "reexport_statistics"
    statistics_rsd: float = 0.05   # official statistics (exports, mirror imports, production)
    customs_rsd: float = 0.01      # the controlling country's export declarations
    records_rsd: float = 0.01      # flows reported by parties
    k_sigma: float = 3.0           # excess must exceed k_sigma standard deviations
    min_kg: float = 50.0           # material size (net kg of goods) for a medium finding
    max_evidence: int = 50         # ids listed per kind of evidence (the message counts all)


def hs6(code: object) -> str | None:
    """The HS 6-digit heading of a code as written (`2846.90`, `2846901993`, 284690)."""
    if code is None or (isinstance(code, float) and math.isnan(code)):
        return None
    text = str(code)
    if re.fullmatch(r"\d+\.0", text):  # a code read as a float
        text = text[:-2]
    digits = re.sub(r"\D", "", text)
    return digits[:6] if len(digits) >= 6 else None


def _year(value: object) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value)
    return text[:4] if re.match(r"\d{4}", text) else None


def _headings(frame: pd.DataFrame, products: pd.DataFrame) -> pd.Series:
    """HS6 of each row: its own `hs_code` when given, else its product's."""
    by_product = {str(p.product): hs6(p.hs_code) for p in products.itertuples(index=False)}
    own = (frame["hs_code"].map(hs6) if "hs_code" in frame.columns
           else pd.Series(None, index=frame.index, dtype=object))
    return own.where(own.notna(), frame["product"].map(by_product))


def _controlled(frame: pd.DataFrame, products: pd.DataFrame) -> pd.Series:
    kinds = {str(p.product): p.kind for p in products.itertuples(index=False)}
    return frame["product"].map(kinds).isin(CONTROLLED_KINDS)


def _fmt(kg: float, sd: float) -> str:
    return f"{kg:,.0f} ± {sd:,.0f} kg"


def _ids(ids: list[str], limit: int) -> list[str]:
    return ids if len(ids) <= limit else ids[:limit]


def _grouped(frame: pd.DataFrame, lists: dict[str, str]) -> pd.DataFrame:
    """Record-level rows as groups of one: `n` = 1 and each id in a list of one."""
    if "n" in frame.columns:
        return frame
    out = frame.assign(n=1)
    for many, one in lists.items():
        if one in frame.columns:
            out[many] = [[] if _missing(v) else [str(v)] for v in frame[one]]
    return out


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _first(lists: pd.Series, limit: int) -> tuple[list[str], int]:
    """The first `limit` distinct ids of groups' sorted id lists, and how many in all."""
    ids = sorted({i for group in lists for i in group})
    return ids[:limit], len(ids)


def statistics_reexport_findings(
    trade_stats: pd.DataFrame,
    flows: pd.DataFrame | None,
    shipments: pd.DataFrame,
    products: pd.DataFrame,
    settings: StatisticsReexportSettings | None = None,
    controlling_country: str = "CN",
) -> list[Finding]:
    """Country-level `unauthorised_reexport` findings (contract §6).

    - `trade_stats`: reporter, partner, flow (`import`/`export`/`production`), hs_code,
      period, net_kg.
    - `flows`: controlled flows leaving a country: from_country, dest_country, product,
      date, net_kg; optional hs_code, flow_id, from_id (the sender, cited as evidence),
      content_kg. Rows with
      dest_country == from_country and non-controlled products are ignored.
    - `shipments`: declaration_id, destination, product, hs_code, net_kg, date, committed
      (bool: the shipment's certificate commitments or licence conditions contain
      `no_reexport` or `domestic_only`); optional content_kg. Only committed rows count.
    - `products`: product, hs_code, kind.

    A row of `shipments` or `flows` may stand for a group of records (the engine sums them,
    `in_statistics`): `net_kg` and `content_kg` are then the group's sums, `n` its number of
    records, `declaration_ids` (shipments), `flow_ids` and `from_ids` (flows) lists of its
    first ids in sorted order (at least `max_evidence` of them when there are that many).
    """
    s = settings or StatisticsReexportSettings()
    shipments = _grouped(shipments, {"declaration_ids": "declaration_id"})
    if flows is not None:
        flows = _grouped(flows, {"flow_ids": "flow_id", "from_ids": "from_id"})
    if trade_stats is None or trade_stats.empty or shipments.empty:
        return []  # no statistics, no statistics test: documented flows alone are party-level
    ship = shipments.copy()
    ship["committed"] = ship["committed"].fillna(False).astype(bool)
    ship = ship[ship.committed & (ship.destination != controlling_country)
                & _controlled(ship, products)]
    if ship.empty:
        return []
    ship = ship.assign(hs6=_headings(ship, products), year=ship["date"].map(_year),
                       net_kg=pd.to_numeric(ship["net_kg"], errors="coerce"))
    ship = ship[ship.hs6.notna() & ship.year.notna() & ship.net_kg.notna()]

    ts = trade_stats.assign(hs6=trade_stats["hs_code"].map(hs6),
                            year=trade_stats["period"].map(_year),
                            net_kg=pd.to_numeric(trade_stats["net_kg"], errors="coerce"))
    ts = ts[ts.hs6.notna() & ts.year.notna() & ts.net_kg.notna()]

    if flows is not None and len(flows):
        fl = flows[(flows.dest_country != flows.from_country) & _controlled(flows, products)]
        fl = fl.assign(hs6=_headings(fl, products), year=fl["date"].map(_year),
                       net_kg=pd.to_numeric(fl["net_kg"], errors="coerce"))
        fl = fl[fl.hs6.notna() & fl.year.notna() & fl.net_kg.notna()]
    else:
        fl = pd.DataFrame(columns=["from_country", "hs6", "year", "net_kg"])

    out: list[Finding] = []
    for (country, heading, year), imp in ship.groupby(["destination", "hs6", "year"]):
        f = _country_finding(str(country), str(heading), str(year), imp, ts, fl, s,
                             controlling_country)
        if f is not None:
            out.append(f)
    return out


def _country_finding(country: str, heading: str, year: str, imp: pd.DataFrame,
                     ts: pd.DataFrame, fl: pd.DataFrame, s: StatisticsReexportSettings,
                     controlling: str) -> Finding | None:
    stats = ts[(ts.hs6 == heading) & (ts.year == year)]
    own_rows = stats[(stats.reporter == country) & (stats.flow == "export")]
    mirror_rows = stats[(stats.flow == "import") & (stats.partner == country)
                        & (stats.reporter != country)]
    prod_rows = stats[(stats.reporter == country) & (stats.flow == "production")]
    doc_rows = fl[(fl.from_country == country) & (fl.hs6 == heading) & (fl.year == year)]

    sources = [  # (what, kg, sd)
        ("its own statistics", float(own_rows.net_kg.sum()),
         s.statistics_rsd * float(own_rows.net_kg.sum())),
        ("its partners' mirror imports", float(mirror_rows.net_kg.sum()),
         s.statistics_rsd * float(mirror_rows.net_kg.sum())),
        ("documented flows", float(doc_rows.net_kg.sum()),
         s.records_rsd * float(doc_rows.net_kg.sum())),
    ]
    what, exports, sd_exports = max(sources, key=lambda x: x[1])
    production = float(prod_rows.net_kg.sum())
    sd_production = s.statistics_rsd * production
    excess = exports - production
    sd_excess = math.hypot(sd_exports, sd_production)
    if excess <= 0 or excess <= s.k_sigma * sd_excess:
        return None
    committed = float(imp.net_kg.sum())
    sd_committed = s.customs_rsd * committed
    kg, sd_kg = (excess, sd_excess) if excess <= committed else (committed, sd_committed)
    severity = "medium" if kg >= s.min_kg else "low"

    evidence = [f"trade_stats:{country}:{heading}:{year}"]
    if len(own_rows):
        evidence.append(f"trade_stats:{country}:export:{heading}:{year}")
    if len(prod_rows):
        evidence.append(f"trade_stats:{country}:production:{heading}:{year}")
    evidence += [f"trade_stats:{r}:import-from-{country}:{heading}:{year}"
                 for r in sorted(set(mirror_rows.reporter.astype(str)))]
    if "flow_ids" in doc_rows.columns:
        evidence += _first(doc_rows.flow_ids, s.max_evidence)[0]
    senders, n_senders = (_first(doc_rows.from_ids, s.max_evidence)
                          if "from_ids" in doc_rows.columns else ([], 0))
    evidence += senders
    decls, _ = _first(imp.declaration_ids, s.max_evidence)
    n_decls = int(imp.n.sum())
    evidence += decls

    z = excess / sd_excess if sd_excess > 0 else math.inf
    figures = "; ".join(f"{w} {v:,.0f} kg" for w, v, _ in sources)
    if senders:
        figures += f" from {', '.join(_ids(senders, 5))}" + ("..." if n_senders > 5 else "")
    content = ""
    if "content_kg" in imp.columns and committed > 0:
        c = pd.to_numeric(imp.content_kg, errors="coerce").sum()
        if c > 0:
            content = (f" (about {kg * c / committed:,.0f} kg of rare-earth content at the "
                       f"declarations' {c / committed:.2f} kg per kg)")
    more = f", {n_decls - s.max_evidence} not listed" if n_decls > s.max_evidence else ""
    return Finding(
        rule="unauthorised_reexport", severity=severity, subject_type="country",
        subject_id=country, period=year, kg=round(kg, 3),
        share=round(kg / committed, 4) if committed > 0 else None,
        evidence=evidence,
        message=(
            f"{country} exported {_fmt(exports, sd_exports)} of HS {heading} goods in {year} "
            f"(the largest of: {figures}) against {_fmt(production, sd_production)} of own "
            f"production: an excess of {_fmt(excess, sd_excess)} "
            f"({'beyond any' if math.isinf(z) else f'{z:.1f}'} sd). It imported "
            f"{_fmt(committed, sd_committed)} of HS {heading} goods from {controlling} in "
            f"{year} under a no-re-export commitment ({n_decls} declaration(s){more}), "
            f"so {_fmt(kg, sd_kg)} of them left again{content}. Net kg of goods, as in the "
            f"statistics; country-level estimate: confirm with party-level data before "
            f"naming a party."))
