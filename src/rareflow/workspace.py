"""The façade every surface uses: a `Workspace` opened on a store.

The CLI and the web service parse input, call this, and format output; they hold no logic."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pandas as pd

from rareflow.analyses.balances import BalanceSettings
from rareflow.analyses.licences import licence_ledger
from rareflow.analyses.model import FlowModel
from rareflow.analyses.registry import RULES
from rareflow.analyses.screening import ScreeningResult, screening_result, suppressed_notes
from rareflow.analyses.tables import Tables
from rareflow.assessment import decide_applications
from rareflow.contract import load_contract
from rareflow.errors import DatasetError
from rareflow.findings import Finding
from rareflow.ingest import REJECTS, IngestReport, ingest
from rareflow.policy import Policy, load_policy
from rareflow.settings import Settings
from rareflow.store import Store, open_store
from rareflow.store.deferred import Deferred
from rareflow.store.tables import all_table

Progress = Callable[[str], None]
SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}


@dataclass
class AnalysisResult:
    """Everything `analyze` computed, ready for the outputs layer."""

    findings: list[Finding]
    table_counts: dict[str, int]
    rejects: pd.DataFrame
    exports: pd.DataFrame
    licence_ledger: Deferred | None = None  # one row per shipment on a licence: in the engine
    balances: pd.DataFrame | None = None
    reconciliation: pd.DataFrame | None = None
    decisions: pd.DataFrame | None = None
    traces: list = field(default_factory=list)  # (title, trace.Trace)
    attribution: pd.DataFrame | None = None
    cohort: pd.DataFrame | None = None  # where each period's release was by the data's end
    checks: pd.DataFrame | None = None  # attribution against the balances: a failure is a bug
    notes: list[str] = field(default_factory=list)
    # the restricted-party screening the analysis made (candidates, and those judged not_same)
    screening: ScreeningResult | None = None


class Workspace:
    """A store plus the policy in force: ingest datasets, run analyses."""

    def __init__(self, store: Store, policy: Policy | None = None,
                 settings: Settings | None = None) -> None:
        self.store = store
        self.settings = settings or Settings()
        self.policy = policy or load_policy(self.settings.policy)

    @classmethod
    def open(cls, db: str | Path | None = None, *, engine: str = "duckdb",
             policy: Path | None = None) -> Workspace:
        return cls(open_store(db, engine=engine), load_policy(policy))

    def close(self) -> None:
        self.store.close()

    # --- data ---------------------------------------------------------------------------
    def ingest(self, root: Path, progress: Progress | None = None) -> IngestReport:
        return ingest(self.store, root, progress)

    def tables(self) -> Tables:
        present = self.store.names()
        if not {"parties", "shipments"} <= present:
            raise DatasetError("the store holds no dataset yet: ingest one first")
        return Tables(**{n: all_table(self.store, n, present)
                         for n in Tables.__dataclass_fields__})

    def table_counts(self) -> dict[str, int]:
        present = self.store.names()
        return {name: int(self.store.scalar(self.store.table(name).count()))
                for name in load_contract() if name in present}

    def rejects(self) -> pd.DataFrame:
        t = self.store.table_or_none(REJECTS)
        if t is None:
            return pd.DataFrame(columns=["table", "file", "line", "column", "reason", "value",
                                         "level"])
        return self.store.to_pandas(t.order_by(["file", "line", "column"]))

    def exports(self, model: FlowModel | None = None) -> pd.DataFrame:
        """Rare-earth content exported, by destination, year and product."""
        c = (model or self.model()).shipments
        c = c.mutate(year=c.date.cast("date").year().cast("string"))
        agg = c.group_by(["destination", "year", "product"]).aggregate(
            net_kg=c.net_kg.sum(), re_kg=c.content_kg.sum(), heavy_re_kg=c.heavy_kg.sum(),
            shipments=c.count())
        return self.store.to_pandas(agg.order_by(["destination", "year", "product"]))

    # --- analyses -----------------------------------------------------------------------
    def model(self, t: Tables | None = None) -> FlowModel:
        """The flow model of one analysis (each reduced problem computed once)."""
        balance = self.policy.settings(BalanceSettings)
        if "controlling_country" in self.settings.model_fields_set:
            balance = replace(balance, controlling_country=self.settings.controlling_country)
        return FlowModel(self.store, t or self.tables(), self.policy, balance)

    def findings(self, progress: Progress | None = None, t: Tables | None = None,
                 model: FlowModel | None = None) -> list[Finding]:
        """Every rule's findings (`analyses/registry.py`): the engine parts of all detectors
        in one query, the Python parts over the model's reduced problems."""
        m = model or self.model(t)
        present = {n for n in Tables.__dataclass_fields__ if getattr(m.t, n) is not None}
        engine: list[ir.Table] = []
        found: list[Finding] = []
        for rule in RULES:
            if not set(rule.needs) <= present:
                continue
            if progress:
                progress(rule.name)
            built = rule.build(m)
            for part in ([] if built is None else
                         [built] if isinstance(built, ir.Table) else built):
                if isinstance(part, Finding):
                    found.append(part)
                else:
                    engine.append(part)
        if engine:
            found += [_finding(r) for r in
                      self.store.to_pandas(ibis.union(*engine)).to_dict("records")]
        return sort_findings(found)

    def _teardown_traces(self, t: Tables, limit: int = 5) -> list:
        """Backward traces of the lots that teardowns found (for the report)."""
        if t.observations is None:
            return []
        o = t.observations
        tear = self.store.to_pandas(o.filter((o.kind == "teardown") & o.ref.notnull())
                                    .select("obs_id", "ref", "party_id").order_by("obs_id"))
        if tear.empty:
            return []
        from rareflow.trace import TraceError, trace_store

        out = []
        for r in tear.head(limit).itertuples(index=False):
            try:
                tr = trace_store(self.store, str(r.ref), direction="backward", max_nodes=200)
            except TraceError:
                continue
            out.append((f"Teardown {r.obs_id}: lot {r.ref} found at {r.party_id}, traced back",
                        tr))
        return out

    def licence_ledger(self, t: Tables | None = None) -> pd.DataFrame | None:
        """Every licence's drawdown, in Python (small datasets; `analyze` keeps it in the
        engine: `AnalysisResult.licence_ledger`)."""
        d = self._ledger(t or self.tables())
        return None if d is None else d.frame()

    def _ledger(self, t: Tables) -> Deferred | None:
        expr = licence_ledger(t)
        if expr is None:
            return None
        return Deferred(self.store, expr.order_by(["licence_id", "date", "declaration_id"]))

    def analyze(self, progress: Progress | None = None) -> AnalysisResult:
        t = self.tables()  # one lookup of the stored tables for the whole analysis
        m = self.model(t)
        findings = self.findings(progress, model=m)
        if progress:
            progress("flow accounting")
        result = AnalysisResult(
            findings=findings,
            table_counts=self.table_counts(),
            rejects=self.rejects(),
            exports=self.exports(m),
            licence_ledger=self._ledger(t),
            balances=m.balances,
            reconciliation=m.reconciliation,
            attribution=m.account.attribution,
            cohort=m.account.cohort,
            checks=m.account.checks,
        )
        result.traces = self._teardown_traces(t)
        result.notes = suppressed_notes(m)  # restricted-party candidates judged not_same
        result.screening = screening_result(m)  # computed once per analysis (FlowModel.once)
        if t.applications is not None:
            if progress:
                progress("licence applications")
            result.decisions = decide_applications(m, findings)
        return result


def _clean(v: object) -> object:
    return None if v is None or (isinstance(v, float) and pd.isna(v)) else v


def _finding(row: dict) -> Finding:
    evidence = row.get("evidence")
    return Finding(
        rule=row["rule"], severity=row["severity"], subject_type=row["subject_type"],
        subject_id=str(row["subject_id"]), period=_clean(row.get("period")),
        kg=_clean(row.get("kg")), share=_clean(row.get("share")),
        evidence=[str(e) for e in (list(evidence) if evidence is not None else []) if e],
        message=row["message"],
    )


def sort_findings(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (SEVERITY_ORDER[f.severity], f.rule,
                                           f.subject_id, f.period or "", f.id))
