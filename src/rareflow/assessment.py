"""Reduce the flow model and an analysis's findings to what `analyses.assess` needs, and decide
the dataset's licence applications (`rareflow assess`, and a section of `analyze`). Takes the
flow model, the findings and the policy: no workspace, no files."""

from __future__ import annotations

from datetime import date

import pandas as pd

from rareflow.analyses.assess import AssessContext, assess
from rareflow.analyses.model import FlowModel
from rareflow.findings import Finding


def decide_applications(model: FlowModel, findings: list[Finding],
                        as_of: date | None = None) -> pd.DataFrame | None:
    """Decisions on the `applications` table (None when the dataset has none)."""
    apps = applications_frame(model)
    if apps is None:
        return None
    return assess(apps, build_context(model, findings, as_of), model.policy)


def build_context(model: FlowModel, findings: list[Finding],
                  as_of: date | None = None) -> AssessContext:
    """Reduce the model's tables (and the findings) to what `assess` needs."""
    t = model.t

    def table(expr, *cols: str) -> pd.DataFrame | None:
        if expr is None:
            return None
        return model.pull(expr.select(*[c for c in cols if c in expr.columns]))

    certificates = table(t.certificates, "certificate_id", "document_hash", "end_user_id",
                         "document")
    keys = table(t.keys, "key_id", "controller", "public_key_multibase", "valid_from",
                 "valid_to", "revoked_on")
    revocations = table(t.revocations, "certificate_id", "date", "reason")
    observations = table(t.observations, "obs_id", "date", "party_id", "kind", "ref", "detail")
    parties = table(t.parties, "party_id", "name", "country", "roles", "address")
    products = table(t.products, "product", "kind", "unit", "re_kg_per_unit",
                     "heavy_re_kg_per_unit", "hs_code")

    # only the parties and certificates the applications name reach Python
    apps = t.applications
    users = (apps.end_user_id if apps is not None and "end_user_id" in apps.columns
             else None)
    certs = (apps.certificate_id if apps is not None and "certificate_id" in apps.columns
             else None)
    ship = model.shipments
    ship = ship.filter(ship.consignee_id.isin(users)) if users is not None else ship.limit(0)
    parts = [model.pull(ship.select(party_id=ship.consignee_id, date=ship.date.cast("date"),
                                    kg=ship.content_kg.cast("float64"),
                                    ref=ship.declaration_id))]
    f = model.flows
    if f is not None:
        f = f.filter(f.to_id.isin(users)) if users is not None else f.limit(0)
        parts.append(model.pull(f.select(party_id=f.to_id, date=f.date.cast("date"),
                                         kg=f.content_kg.cast("float64"), ref=f.flow_id)))
    receipts = pd.concat(parts, ignore_index=True)

    s = t.shipments
    s = s.filter(s.certificate_id.isin(certs)) if certs is not None else s.limit(0)
    draws = model.pull(s.select("certificate_id", "declaration_id", date=s.date.cast("date"),
                                product=s.product, net_kg=s.net_kg.cast("float64")))
    return AssessContext(findings=list(findings), certificates=certificates, keys=keys,
                         revocations=revocations, observations=observations, parties=parties,
                         products=products, capacity=model.expected_use, receipts=receipts,
                         draws=draws, as_of=as_of)


def applications_frame(model: FlowModel) -> pd.DataFrame | None:
    """The `applications` table (None when the dataset has none)."""
    a = model.t.applications
    if a is None:
        return None
    cols = [c for c in ("application_id", "date", "exporter_id", "consignee_id", "end_user_id",
                        "destination", "product", "kg", "certificate_id") if c in a.columns]
    return model.pull(a.select(*cols).order_by(["date", "application_id"]))
