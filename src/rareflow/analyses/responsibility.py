"""Who a re-export or a prohibited end use names (contract 1.1 §5): the party that acted and
the party answerable for the broken promise, each the subject of its own finding; and the
certificate whose commitments the act contradicts.

Promises: a certificate's commitments and a licence's conditions (`no_reexport`,
`domestic_only` and named `no_transfer:XX` bind against transfers abroad; `civil_use_only`
against prohibited use). A promise binds its *holders*: the consignee and end user of the
shipments that present it, the importer and end user a certificate names, the consignee and
end user a licence names (the exporter who holds a licence is not bound by its end user's
conduct).

An act is a flow of controlled items leaving the country, a flow of controlled items to a
prohibited party (restricted list, military contract), or a final sale for a military use.
It names:
- the actor: the sender of a re-export or of a military sale, the receiver of controlled
  items that is prohibited; for a re-export only when a promise binds the goods;
- the answerable party: a holder who acted itself, or whose direct buyer or affiliate
  (ownership of `ownership_threshold` or more either way) acted with goods it had received
  from the holder;
- the certificate (a `certificate_violated`): when its holder or named end user acted, or
  answers for the act, or when lot links trace the act's goods to a shipment that presented
  it. Never by a proportional share of another party's breach.

Severity (§8): `high` when the records establish the link (the holder acted, or lot links
trace the goods to the promise's shipment, or the prohibited receiver got the goods
directly); `medium` when it rests on a mass-balance estimate (a buyer or affiliate that
received controlled items from the holder and sent controlled items out, without a lot
link): the kg is then at most what it received from the holder."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pandas as pd

from rareflow.findings import Finding
from rareflow.vocabulary import CIVIL_TERMS, binds_against, terms


@dataclass(frozen=True)
class ResponsibilitySettings:
    ownership_threshold: float = 0.25  # affiliates: owned this share or more, either way
    min_kg: float = 0.5  # acts below this rare-earth content are measurement noise


@dataclass
class Promise:
    pid: str  # certificate or licence id
    kind: str  # certificate | licence
    commitments: set[str]
    holders: set[str] = field(default_factory=set)
    declarations: set[str] = field(default_factory=set)
    since: str = "9999"  # the first shipment that presented it (ISO date)

    def against_transfer(self, country: str | None) -> bool:
        return binds_against(self.commitments, country)

    def against_prohibited(self) -> bool:
        return bool(self.commitments & set(CIVIL_TERMS))


def promises(shipments: pd.DataFrame, certificates: pd.DataFrame,
             licences: pd.DataFrame) -> dict[str, Promise]:
    """`shipments` (declaration_id, consignee_id, end_user_id, certificate_id, licence_id,
    first: the earliest date of such shipments),
    `certificates` (certificate_id, commitments, importer_id, end_user_id), `licences`
    (licence_id, conditions, consignee_id, end_user_id) -> promise id -> Promise."""
    out: dict[str, Promise] = {}
    for c in certificates.itertuples(index=False):
        p = out.setdefault(f"C:{c.certificate_id}", Promise(str(c.certificate_id),
                                                            "certificate", set()))
        p.commitments |= terms(c.commitments)
        p.holders |= {x for x in (c.importer_id, c.end_user_id) if isinstance(x, str)}
    for x in licences.itertuples(index=False):
        p = out.setdefault(f"L:{x.licence_id}", Promise(str(x.licence_id), "licence", set()))
        p.commitments |= terms(x.conditions)
        p.holders |= {v for v in (x.consignee_id, x.end_user_id) if isinstance(v, str)}
    for s in shipments.itertuples(index=False):
        for key in (f"C:{s.certificate_id}", f"L:{s.licence_id}"):
            if key in out:
                out[key].holders |= {v for v in (s.consignee_id, s.end_user_id)
                                     if isinstance(v, str)}
                if isinstance(s.declaration_id, str):
                    out[key].declarations.add(s.declaration_id)
                out[key].since = min(out[key].since, str(s.first)[:10])
    return {k: v for k, v in out.items() if v.commitments}


@dataclass
class Act:
    """One flow that breaks a promise if a promise binds its goods."""

    flow_id: str
    date: str
    actor: str  # the sender (re-export, military sale) or the prohibited receiver
    sender: str
    kind: str  # reexport | prohibited_receiver | military_sale
    kg: float
    product: str
    country: str | None  # where the goods went (re-export)
    why: str = ""  # for prohibited receivers: the reason and its evidence
    why_evidence: tuple[str, ...] = ()
    named: tuple[str, ...] = ()  # promises that name the country of a re-export


def responsibility_findings(acts: list[Act], promise: Mapping[str, Promise],
                            supply: pd.DataFrame, traced: Mapping[str, set[str]],
                            owners: Mapping[str, set[str]],
                            s: ResponsibilitySettings | None = None) -> list[Finding]:
    """Findings for the acts. `supply` (from_id, to_id, content_kg): controlled items each
    party sent to each other party over the record; `traced`: flow id -> declarations its
    lot links lead back to."""
    s = s or ResponsibilitySettings()
    got = {(str(r.from_id), str(r.to_id)): float(r.content_kg)
           for r in supply.itertuples(index=False)}
    prev: dict[str, set[str]] = defaultdict(set)
    for f, t in got:
        prev[t].add(f)
    upstream: dict[str, set[str]] = {}

    def downstream_of(p: Promise, sender: str) -> bool:
        """Whether controlled items reached `sender` from a holder of `p`, at any tier."""
        if sender not in upstream:
            upstream[sender] = _reach(sender, prev)
        return bool(p.holders & upstream[sender])

    by_decl: dict[str, list[Promise]] = defaultdict(list)
    for p in promise.values():
        for d in p.declarations:
            by_decl[d].append(p)
    out: list[Finding] = []
    acted: dict[tuple[str, str], list] = defaultdict(list)  # (rule, party) -> parts
    broken: dict[str, list] = defaultdict(list)  # certificate -> parts
    for a in acts:
        if a.kg < s.min_kg:
            continue
        rule = "unauthorised_reexport" if a.kind == "reexport" else "prohibited_end_use"

        origin = traced.get(a.flow_id, set())
        lot = {p.pid: p for d in origin for p in by_decl.get(d, [])}

        def relevant(p: Promise, a: Act = a, lot: frozenset = frozenset(lot)) -> bool:
            """A promise the act can break: of the right kind, and either the one of the
            shipments the lot links trace the goods to, or (no trace) one whose goods had
            arrived by the act's date."""
            if not (p.against_transfer(a.country) if a.kind == "reexport"
                    else p.against_prohibited()):
                return False
            return p.pid in lot if lot else p.since <= a.date

        lot = {k: p for k, p in lot.items() if relevant(p)}  # noqa: B023
        answer: dict[str, tuple[str, float, list[str], str]] = {}  # holder -> (sev, kg, ..)
        certs: dict[str, tuple[str, float, str]] = {}
        for p in promise.values():
            if not relevant(p):
                continue
            how = None
            via = _linked(a.sender, p.holders, owners, got)
            if a.sender in p.holders:
                how = ("high", a.kg, {a.sender}, "the holder acted itself")
            elif p.pid in lot:
                how = ("high", a.kg, set(via), "lot links trace the goods to its shipments")
            elif via:
                kg = min(a.kg, max(via.values()))
                if kg >= s.min_kg:
                    how = ("medium", kg, set(via),
                           "mass balance: it received controlled items from the holder")
            if how is None:
                continue
            sev, kg, holders, reason = how
            if p.kind == "certificate":
                old = certs.get(p.pid)
                if old is None or (old[0] == "medium" and sev == "high"):
                    certs[p.pid] = (sev, kg, reason)
            for h in holders:
                if h == a.actor:
                    continue
                old = answer.get(h)
                if old is None or (old[0] == "medium" and sev == "high"):
                    answer[h] = (sev, kg, [p.pid], reason)
                elif old[0] == sev:
                    old[2].append(p.pid)
        binding = [p for p in promise.values() if relevant(p) and (
            a.sender in p.holders or p.pid in lot or p.pid in certs
            or any(h in answer for h in p.holders)
            or downstream_of(p, a.sender))]
        if a.kind != "reexport" or binding:
            sev = "high"
            if a.kind == "reexport" and not any(a.sender in p.holders or p.pid in lot
                                                for p in binding):
                sev = "medium"  # bound only through the mass balance of its suppliers
            ids = sorted(p.pid for p in binding)
            if a.kind == "reexport":
                a.named = tuple(sorted(p.pid for p in binding
                                       if f"no_transfer:{a.country}" in p.commitments))
            acted[(rule, a.actor)].append((a, sev, a.kg, ids, "acted"))
        for h, (sev, kg, ids, reason) in answer.items():
            acted[(rule, h)].append((a, sev, kg, sorted(ids), f"answerable: {reason}"))
        for cid, (sev, kg, reason) in certs.items():
            broken[cid].append((a, sev, kg, reason))
    for (rule, party), parts in sorted(acted.items()):
        out.append(_party_finding(rule, party, parts))
    for cid, parts in sorted(broken.items()):
        out.append(_certificate_finding(cid, parts))
    return out


def _linked(sender: str, holders: Iterable[str], owners: Mapping[str, set[str]],
            got: Mapping[tuple[str, str], float]) -> dict[str, float]:
    """Holders whose direct buyer `sender` is, or whose affiliate it is having received
    controlled items from the holder's group: holder -> kg received from it (or its group)."""
    out = {}
    for h in holders:
        group = {h} | (owners.get(h, set()) if sender in owners.get(h, set()) else set())
        kg = sum(got.get((g, sender), 0.0) for g in group if g != sender)
        if kg > 0:
            out[h] = kg
    return out


def _reach(start: str, nxt: Mapping[str, set[str]]) -> set[str]:
    """Parties reachable from `start` along `nxt` (itself included)."""
    seen, todo = {start}, [start]
    while todo:
        for q in nxt.get(todo.pop(), ()):
            if q not in seen:
                seen.add(q)
                todo.append(q)
    return seen


def _span(dates: Iterable[str]) -> str:
    ds = sorted(str(d)[:7] for d in dates)
    return ds[0] if ds[0] == ds[-1] else f"{ds[0]}/{ds[-1]}"


def _party_finding(rule: str, party: str, parts: list) -> Finding:
    sev = "high" if any(p[1] == "high" for p in parts) else "medium"
    kg = sum(p[2] for p in parts)
    flows = sorted({p[0].flow_id for p in parts})
    ids = sorted({i for p in parts for i in p[3]})
    extra = sorted({e for p in parts for e in p[0].why_evidence if p[4] == "acted"})
    against = f", against {', '.join(ids)}" if ids else ""
    listed = f"{len(flows)} flow(s): {', '.join(flows)}"
    sentences = []
    for role in sorted({p[4] for p in parts}):
        mine = [p for p in parts if p[4] == role]
        k = sum(p[2] for p in mine)
        a0 = mine[0][0]
        senders = ", ".join(sorted({p[0].sender for p in mine} - {party}))
        if role == "acted" and a0.kind == "reexport":
            where = ", ".join(sorted({str(p[0].country) for p in mine}))
            named = sorted({n for p in mine for n in p[0].named})
            if named:
                where += f", a country the promise names ({', '.join(named)})"
            sentences.append(f"{party} sent controlled items holding {k:,.1f} kg of "
                             f"rare-earth content out of its country to {where}")
        elif role == "acted" and a0.kind == "military_sale":
            sentences.append(f"{party} sold goods holding {k:,.1f} kg of rare-earth content "
                             f"for a military use")
        elif role == "acted":
            sentences.append(f"{party} ({a0.why}) received controlled items holding "
                             f"{k:,.1f} kg of rare-earth content from "
                             f"{', '.join(sorted({p[0].sender for p in mine}))}")
        elif role == "answerable: the holder acted itself":
            sentences.append(f"{party}, bound by the promise, supplied controlled items "
                             f"holding {k:,.1f} kg of rare-earth content to "
                             f"{', '.join(sorted({p[0].actor for p in mine}))} itself")
        else:
            how = role.removeprefix("answerable: ")
            sentences.append(f"{party} answers for the promise it holds: {k:,.1f} kg of "
                             f"rare-earth content it had passed on went on through its "
                             f"direct buyer or affiliate {senders} ({how})")
    return Finding(rule=rule, severity=sev, subject_type="party", subject_id=party,
                   period=_span(p[0].date for p in parts), kg=round(kg, 3),
                   evidence=[*flows, *ids, *extra],
                   message=f"{'; '.join(sentences)} ({listed}){against}.")


def _certificate_finding(cid: str, parts: list) -> Finding:
    sev = "high" if any(p[1] == "high" for p in parts) else "medium"
    kg = sum(p[2] for p in parts)
    flows = sorted({p[0].flow_id for p in parts})
    kinds = {p[0].kind for p in parts}
    what = " and ".join(sorted(
        {"re-exported (no_reexport / no_transfer)" if k == "reexport"
         else "put to a prohibited use (civil_use_only)" for k in kinds}))
    reasons = "; ".join(sorted({p[3] for p in parts}))
    return Finding(rule="certificate_violated", severity=sev, subject_type="certificate",
                   subject_id=cid, period=_span(p[0].date for p in parts), kg=round(kg, 3),
                   evidence=[cid, *flows],
                   message=(f"Certificate {cid}: goods its holder received were {what}, "
                            f"{kg:,.1f} kg of rare-earth content in {', '.join(flows)} "
                            f"(established by: {reasons})."))
