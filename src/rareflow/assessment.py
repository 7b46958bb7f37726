"""Reduce a workspace's tables and analysis result to what `analyses.assess` needs, and decide
the dataset's licence applications (`rareflow assess`, and a section of `analyze`)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import pandas as pd

from rareflow.analyses.assess import AssessContext, assess

if TYPE_CHECKING:
    from rareflow.workspace import AnalysisResult, Workspace


def decide_applications(ws: Workspace, result: AnalysisResult,
                        as_of: date | None = None) -> pd.DataFrame | None:
    """Decisions on the `applications` table (None when the dataset has none)."""
    apps = applications_frame(ws)
    if apps is None:
        return None
    return assess(apps, build_context(ws, result, as_of), ws.policy)


def build_context(ws: Workspace, result: AnalysisResult,
                  as_of: date | None = None) -> AssessContext:
    """Reduce the workspace's tables (and `result`'s findings) to what `assess` needs."""
    from rareflow.accounting import expected_use
    from rareflow.analyses.content import shipment_content
    from rareflow.analyses.flow_content import flow_content

    t = ws.tables()
    pd_ = ws.store.to_pandas

    def table(expr, *cols: str) -> pd.DataFrame | None:
        if expr is None:
            return None
        have = [c for c in cols if c in expr.columns]
        return pd_(expr.select(*have))

    certificates = table(t.certificates, "certificate_id", "document_hash", "end_user_id",
                         "document")
    keys = table(t.keys, "key_id", "controller", "public_key_multibase", "valid_from",
                 "valid_to", "revoked_on")
    revocations = table(t.revocations, "certificate_id", "date", "reason")
    observations = table(t.observations, "obs_id", "date", "party_id", "kind", "ref", "detail")
    parties = table(t.parties, "party_id", "name", "country", "roles", "address")
    products = table(t.products, "product", "kind", "unit", "re_kg_per_unit",
                     "heavy_re_kg_per_unit", "hs_code")

    capacity = expected_use(ws.store, t) if t.capacity is not None else None

    ship = shipment_content(t.shipments, t.products)
    parts = [pd_(ship.select(party_id=ship.consignee_id, date=ship.date.cast("date"),
                             kg=ship.content_kg.cast("float64"), ref=ship.declaration_id))]
    f = flow_content(t)
    if f is not None:
        f = f.filter(f.to_id.notnull())
        parts.append(pd_(f.select(party_id=f.to_id, date=f.date.cast("date"),
                                  kg=f.content_kg.cast("float64"), ref=f.flow_id)))
    receipts = pd.concat(parts, ignore_index=True)

    s = t.shipments.filter(t.shipments.certificate_id.notnull())
    draws = pd_(s.select("certificate_id", "declaration_id", date=s.date.cast("date"),
                         product=s.product, net_kg=s.net_kg.cast("float64")))
    return AssessContext(findings=list(result.findings), certificates=certificates, keys=keys,
                         revocations=revocations, observations=observations, parties=parties,
                         products=products, capacity=capacity, receipts=receipts, draws=draws,
                         as_of=as_of)


def applications_frame(ws: Workspace) -> pd.DataFrame | None:
    """The `applications` table (None when the dataset has none)."""
    t = ws.tables()
    if t.applications is None:
        return None
    cols = [c for c in ("application_id", "date", "exporter_id", "consignee_id", "end_user_id",
                        "destination", "product", "kg", "certificate_id")
            if c in t.applications.columns]
    return ws.store.to_pandas(t.applications.select(*cols).order_by(["date",
                                                                     "application_id"]))
