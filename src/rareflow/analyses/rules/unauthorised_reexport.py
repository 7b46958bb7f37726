"""`unauthorised_reexport`: controlled material or components leaving the country of end use
against a no-re-export promise, naming the party that acted and the party answerable
(contract 1.1 §5, `analyses/responsibility.py`); and, seen only in statistics, a country's
exports of a controlled heading beyond its own production and unbound imports (§6,
`analyses/reexport_statistics.py`)."""

from __future__ import annotations

import pandas as pd

from rareflow.analyses.detector import Detector, of_rule
from rareflow.analyses.model import FlowModel
from rareflow.analyses.reexport_statistics import (
    StatisticsReexportSettings,
    statistics_reexport_findings,
)
from rareflow.analyses.responsibility import ResponsibilitySettings
from rareflow.findings import Finding
from rareflow.vocabulary import NONE, REEXPORT_TERMS

NAME = "unauthorised_reexport"


def in_statistics(m: FlowModel) -> list[Finding]:
    """Contract 1.1 §6: only committed shipments and flows leaving a country reach Python."""
    ship = m.shipments
    c_ids = m.committed_ids("certificate", REEXPORT_TERMS)
    l_ids = m.committed_ids("licence", REEXPORT_TERMS)
    committed = ship.filter(ship.certificate_id.isin(c_ids or [NONE])
                            | ship.licence_id.isin(l_ids or [NONE]))
    shipments = m.pull(committed.select(
        "declaration_id", "destination", "product", "hs_code", "net_kg", "date", "content_kg"
    )).assign(committed=True)
    cols = ["flow_id", "from_id", "from_country", "dest_country", "product", "date",
            "net_kg", "content_kg"]
    f = m.flows
    leaving = (m.pull(f.filter(f.dest_country != f.from_country).select(*cols))
               if f is not None else pd.DataFrame(columns=cols))
    trade = m.frame(m.t.trade_stats, "reporter", "partner", "flow", "hs_code", "period",
                    "net_kg")
    products = m.frame(m.t.products, "product", "hs_code", "kind")
    return statistics_reexport_findings(trade, leaving, shipments, products,
                                        m.settings(StatisticsReexportSettings),
                                        m.balance.controlling_country)


def build(m: FlowModel) -> list[Finding]:
    out = of_rule(m.responsibility(), NAME)
    if m.t.trade_stats is not None:
        out += in_statistics(m)
    return out


DETECTOR = Detector(
    name=NAME,
    summary="Controlled material or components leaving the country of end use against a "
    "no-re-export promise; exports beyond own production in mirror statistics.",
    severity="high when the holder acted or lot links trace the goods; medium through a "
    "buyer's mass balance or beyond k_sigma in statistics; low below the statistics' "
    "material size",
    needs=("shipments",),
    build=build,
    params=(ResponsibilitySettings, StatisticsReexportSettings),
)
