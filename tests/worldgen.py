"""Small contract worlds for property tests, written from the data contract alone.

This generator is deliberately independent of `rareflow.world` (the project's own synthetic
world): it follows the wording of the contract (`shared/spec/dataset.md`, version 1.1) so that
it cannot share the project's misreadings. Each world is a dataset folder's worth of tables
plus the truth the generator planted:

- `expected`: per (destination, year) the rare-earth kg of each attribution category, from the
  generator's own bookkeeping (a flow account: what happened in the year, divided by what was
  released in the year; stock change = closing minus opening documented stock);
- `must_flag`: the findings a planted violation must raise (rule, subject);
- `bystanders`: parties that must get no high or medium finding.

Honest by construction: every party's books close (up to +-0.5% noise on reported flow
masses), controlled items (materials, components) leave the destination only as final goods,
nobody is military, every controlled shipment from 2025-04-04 travels under a matching licence
with `civil_use_only;no_reexport`, certificates (optional) are complete unsigned paper letters.

Product ladder (content per unit is fixed by the world's own products table):
    re_alloy (kg) -> ndfeb_magnet (kg) -> industrial_motor (unit, component) -> water_pump
    (unit, final); recycling: magnet_scrap (kg) -> re_oxide (kg) -> back into the input.
"""

from __future__ import annotations

import copy
import json
import random
from collections import deque
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
from hypothesis import strategies as st

CATEGORIES = ("verified_use", "in_stock", "reexported", "prohibited_use", "unaccounted")
EXPORTER = "CN-EXP"
REEXPORT_BUYER = "US-BUY"  # foreign receiver of re-exported controlled items
FINAL_BUYER = "AE-BUY"  # foreign buyer of final goods (allowed)
DESTINATIONS = ("IN", "VN", "TH", "KR")
USE = "industrial_motor"
POLICY_DATE = date(2025, 4, 4)  # Announcement 2025 No. 18
C_MAT = 0.3  # rare-earth kg per kg of alloy, magnet and magnet scrap
H_MAT = 0.02  # of which Dy + Tb
C_OXIDE = 0.8
LADDER = ("re_alloy", "ndfeb_magnet", "industrial_motor", "water_pump")
KG_PRODUCTS = {"re_alloy", "ndfeb_magnet", "magnet_scrap", "re_oxide"}
HS = {"re_alloy": "7202999000", "ndfeb_magnet": "8505111000", "magnet_scrap": "8549190000",
      "re_oxide": "2846901993", "industrial_motor": "8501520000", "water_pump": "8413700000"}
VIOLATIONS = ("importer_reexport", "affiliate_reexport", "military_end_use", "vanishing")

COLUMNS = {
    "parties": ["party_id", "name", "country", "roles", "sector", "aliases", "address",
                "registration_id", "website", "email", "phone"],
    "ownership": ["owner_id", "owned_id", "share"],
    "products": ["product", "kind", "hs_code", "unit", "re_kg_per_unit",
                 "heavy_re_kg_per_unit", "use"],
    "uses": ["use", "civil", "description"],
    "shipments": ["declaration_id", "date", "exporter_id", "consignee_id", "end_user_id",
                  "destination", "product", "hs_code", "net_kg", "units", "re_kg",
                  "heavy_re_kg", "value_usd", "licence_id", "certificate_id"],
    "flows": ["flow_id", "date", "from_id", "to_id", "to_country", "product", "net_kg",
              "units", "re_kg", "source_ref", "use"],
    "transformations": ["transformation_id", "date", "party_id", "input_product", "input_qty",
                        "input_ref", "output_product", "output_qty", "scrap_kg"],
    "stocks": ["party_id", "date", "product", "qty"],
    "licences": ["licence_id", "exporter_id", "consignee_id", "end_user_id", "destination",
                 "product", "max_kg", "valid_from", "valid_to", "end_use", "conditions"],
    "observations": ["obs_id", "date", "party_id", "kind", "ref", "detail"],
}
NUMERIC = {
    "ownership": ["share"],
    "products": ["re_kg_per_unit", "heavy_re_kg_per_unit"],
    "shipments": ["net_kg", "units", "re_kg", "heavy_re_kg", "value_usd"],
    "flows": ["net_kg", "units", "re_kg"],
    "transformations": ["input_qty", "output_qty", "scrap_kg"],
    "stocks": ["qty"],
    "licences": ["max_kg"],
}
# quantities that `scaled` multiplies (value_usd too, so that prices stay what they were)
SCALED = {
    "shipments": ["net_kg", "units", "value_usd"],
    "flows": ["net_kg", "units"],
    "transformations": ["input_qty", "output_qty", "scrap_kg"],
    "stocks": ["qty"],
    "licences": ["max_kg"],
}
ID_COLUMNS = {
    "parties": ["party_id"],
    "ownership": ["owner_id", "owned_id"],
    "shipments": ["declaration_id", "exporter_id", "consignee_id", "end_user_id", "licence_id",
                  "certificate_id"],
    "flows": ["flow_id", "from_id", "to_id", "source_ref"],
    "transformations": ["transformation_id", "party_id", "input_ref"],
    "stocks": ["party_id"],
    "licences": ["licence_id", "exporter_id", "consignee_id", "end_user_id"],
    "observations": ["obs_id", "party_id"],
}
LINK_COLUMNS = {"flows": "source_ref", "transformations": "input_ref"}


@dataclass(frozen=True)
class Params:
    tiers: int  # parties in each destination's chain: importer ... final seller
    ladder: tuple[str, ...]  # products of the chain, in order of transformation
    stage_tiers: tuple[int, ...]  # tier doing stage s (ladder[s] -> ladder[s + 1])
    destinations: tuple[str, ...]
    years: tuple[int, ...]
    from_april: bool  # a 2025 schedule starts after 2025-04-04 (every shipment licensed)
    magnets_per_motor: int  # kg of magnet in one motor
    motors_per_pump: int
    scrap: bool  # transformations with kg inputs report process scrap
    recycling: bool  # scrap goes to a recycler, recovered oxide comes back
    stocks: bool  # parties hold stock across year ends
    lot_links: str  # none | exact | approximate | dangling
    fmt: str  # csv | parquet
    noise: bool  # +-0.5% measurement noise on reported flow masses
    export_final: bool  # the last tier exports some final goods (allowed)
    certificates: bool
    violation: str | None = None


@dataclass(frozen=True)
class Flag:
    rule: str
    subject_type: str
    subject_id: str

    @property
    def subject(self) -> str:
        return f"{self.subject_type}:{self.subject_id}"


@dataclass
class World:
    params: Params
    tables: dict[str, pd.DataFrame]
    certificates: list[dict]
    expected: dict[tuple[str, str], dict[str, float]]  # kg: "released" + CATEGORIES
    must_flag: list[Flag]
    bystanders: list[str]  # party ids that must get no high/medium finding
    note: str = ""  # what the world's variant did (for failure messages)

    def __repr__(self) -> str:  # what hypothesis prints for a falsifying example
        return f"World({self.params}, variant={self.note or 'base'!r})"

    def _repr_pretty_(self, printer, cycle) -> None:  # hypothesis' pretty printer
        printer.text(repr(self))

    def expected_shares(self, key: tuple[str, str]) -> dict[str, float]:
        kg = self.expected[key]
        return {c: kg[c] / kg["released"] for c in CATEGORIES}

    def write(self, folder: Path) -> Path:
        """Write the dataset (CSV or Parquet, per `params.fmt`) into `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        for name, df in self.tables.items():
            if df is None or not len(df):
                continue
            out = _typed(name, df)
            if self.params.fmt == "parquet":
                out.to_parquet(folder / f"{name}.parquet", index=False)
            else:
                out.to_csv(folder / f"{name}.csv", index=False)
        if self.certificates:
            with (folder / "certificates.jsonl").open("w", encoding="utf-8") as f:
                for doc in self.certificates:
                    f.write(json.dumps(doc) + "\n")
        return folder

    def describe(self) -> str:
        lines = [f"params: {self.params}", f"variant: {self.note or 'base'}",
                 f"must_flag: {[f'{x.rule}@{x.subject}' for x in self.must_flag]}"]
        for key in sorted(self.expected):
            kg = self.expected[key]
            sh = self.expected_shares(key)
            lines.append(f"expected {key}: released {kg['released']:.2f} kg, "
                         + ", ".join(f"{c} {sh[c]:.4f}" for c in CATEGORIES))
        for name in ("shipments", "flows", "transformations", "stocks"):
            df = self.tables.get(name)
            if df is not None and len(df):
                cols = [c for c in df.columns if df[c].notna().any()
                        and c not in ("hs_code", "value_usd", "heavy_re_kg", "exporter_id",
                                      "licence_id", "certificate_id")]
                lines.append(f"--- {name}\n{df[cols].to_string(index=False)}")
        return "\n".join(lines)


def _typed(name: str, df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    num = NUMERIC.get(name, [])
    for c in out.columns:
        if c in num:
            out[c] = pd.to_numeric(out[c]).astype("float64")
        else:
            out[c] = out[c].astype("string")
    return out


# ------------------------------------------------------------------------ the simulation
class _Pool:
    """What a party holds of one product, as FIFO lots (record id, qty)."""

    def __init__(self) -> None:
        self.lots: deque[list] = deque()
        self.history: list[str] = []  # every record that ever put goods here

    @property
    def qty(self) -> float:
        return sum(q for _, q in self.lots)

    def put(self, record: str, qty: float) -> None:
        if qty > 0:
            self.lots.append([record, qty])
            self.history.append(record)

    def take(self, qty: float) -> str | None:
        """Remove qty (FIFO); return the record that contributed most (the exact lot link)."""
        contrib: dict[str, float] = {}
        left = qty
        while left > 1e-9 and self.lots:
            rec, q = self.lots[0]
            used = min(q, left)
            contrib[rec] = contrib.get(rec, 0) + used
            left -= used
            if q - used <= 1e-9:
                self.lots.popleft()
            else:
                self.lots[0][1] = q - used
        assert left <= 1e-6, f"took {qty} from a pool holding {qty - left}"
        return max(contrib, key=lambda r: contrib[r]) if contrib else None


class _Builder:
    def __init__(self, draw, p: Params) -> None:
        self.draw = draw
        self.p = p
        self.content = {
            "re_alloy": C_MAT, "ndfeb_magnet": C_MAT, "magnet_scrap": C_MAT,
            "re_oxide": C_OXIDE,
            "industrial_motor": p.magnets_per_motor * C_MAT,
            "water_pump": p.motors_per_pump * p.magnets_per_motor * C_MAT,
        }
        self.rows: dict[str, list[dict]] = {k: [] for k in COLUMNS}
        self.certs: list[dict] = []
        self.expected: dict[tuple[str, str], dict[str, float]] = {}
        self.must_flag: list[Flag] = []
        self.bystanders: list[str] = []
        self.counter = {"D": 0, "F": 0, "T": 0, "L": 0, "O": 0, "X": 0}
        self.pools: dict[tuple[str, str], _Pool] = {}
        self.reported: dict[tuple[str, str], float] = {}  # last stock report

    # --- helpers
    def new_id(self, kind: str) -> str:
        self.counter[kind] += 1
        return f"{kind}-{self.counter[kind]:04d}"

    def pool(self, party: str, product: str) -> _Pool:
        return self.pools.setdefault((party, product), _Pool())

    def link(self, party: str, product: str, exact: str | None) -> str | None:
        mode = self.p.lot_links
        if mode == "none" or exact is None:
            return None
        if mode == "exact":
            return exact
        if mode == "approximate":  # the first lot this holder ever had, not the right one
            return self.pool(party, product).history[0]
        return f"{exact[0]}-2019-{self.new_id('X')[2:]}"  # dangling: not in the dataset

    def direct(self, record: str) -> str | None:
        """The link of a record whose only possible source is `record` (scrap, oxide)."""
        if self.p.lot_links == "none":
            return None
        if self.p.lot_links == "dangling":
            return f"{record[0]}-2019-{self.new_id('X')[2:]}"
        return record

    def take(self, party: str, product: str, qty: float) -> str | None:
        return self.link(party, product, self.pool(party, product).take(qty))

    @staticmethod
    def is_kg(product: str) -> bool:
        return product in KG_PRODUCTS

    def qty_cols(self, product: str, qty: float) -> dict:
        return {"net_kg": qty, "units": None} if self.is_kg(product) else \
            {"net_kg": None, "units": qty}

    def noisy(self, product: str, qty: float) -> float:
        if not (self.p.noise and self.is_kg(product)):
            return qty
        eps = self.draw(st.integers(-45, 45)) / 10000  # within +-0.45%
        return round(qty * (1 + eps), 2)

    def party(self, pid: str, name: str, country: str, roles: str, sector: str | None = None
              ) -> None:
        n = len(self.rows["parties"]) + 1
        self.rows["parties"].append({
            "party_id": pid, "name": name, "country": country, "roles": roles,
            "sector": sector, "aliases": None,
            "address": f"{n} Property Road, Test Park {n}, {country}",
            "registration_id": f"REG-{country}-{n:05d}", "website": f"p{n}.example",
            "email": f"office@p{n}.example", "phone": f"+00 {n:04d} {n * 7:04d}"})

    # --- records (dates are filled in per destination-year after the simulation)
    def flow(self, seq: list, src: str, dst: str | None, country: str | None, product: str,
             qty: float, ref: str | None, use: str | None = None) -> str:
        fid = self.new_id("F")
        row = {"flow_id": fid, "date": None, "from_id": src, "to_id": dst,
               "to_country": country, "product": product, **self.qty_cols(product, qty),
               "re_kg": None, "source_ref": ref, "use": use}
        if row["net_kg"] is not None:
            row["net_kg"] = self.noisy(product, qty)
        self.rows["flows"].append(row)
        seq.append(row)
        return fid

    def transformation(self, seq: list, party: str, a: str, x: float, ref: str | None,
                       b: str, n: float, scrap: float) -> str:
        tid = self.new_id("T")
        row = {"transformation_id": tid, "date": None, "party_id": party, "input_product": a,
               "input_qty": x, "input_ref": ref, "output_product": b, "output_qty": n,
               "scrap_kg": scrap}
        self.rows["transformations"].append(row)
        seq.append(row)
        return tid

    # --- the world
    def build(self) -> World:
        p = self.p
        self.party(EXPORTER, "Baotou Property Magnet Co. Ltd", "CN", "exporter", USE)
        self.party(REEXPORT_BUYER, "Property Motion Inc.", "US", "importer")
        if p.export_final:
            self.party(FINAL_BUYER, "Gulf Property Pumps LLC", "AE", "importer;distributor")
        self.bystanders += [EXPORTER, REEXPORT_BUYER] + ([FINAL_BUYER] if p.export_final else [])
        self.rows["products"] = [
            {"product": prod, "kind": kind, "hs_code": HS[prod], "unit": unit,
             "re_kg_per_unit": self.content[prod],
             "heavy_re_kg_per_unit": round(self.content[prod] * H_MAT / C_MAT, 6)
             if prod != "re_oxide" else round(C_OXIDE * H_MAT / C_MAT, 6),
             "use": USE if kind == "final" or prod == "industrial_motor" else None}
            for prod, kind, unit in [
                ("re_alloy", "material", "kg"), ("ndfeb_magnet", "material", "kg"),
                ("magnet_scrap", "material", "kg"), ("re_oxide", "material", "kg"),
                ("industrial_motor", "component", "unit"), ("water_pump", "final", "unit")]]
        for di, cc in enumerate(p.destinations):
            self.destination(di, cc)
        tables = {name: pd.DataFrame(rows, columns=COLUMNS[name])
                  for name, rows in self.rows.items() if rows}
        return World(params=p, tables=tables, certificates=self.certs,
                     expected=self.expected, must_flag=self.must_flag,
                     bystanders=sorted(set(self.bystanders)))

    def destination(self, di: int, cc: str) -> None:
        p = self.p
        chain = [f"{cc}-T{i + 1}" for i in range(p.tiers)]
        stages_at = {i: [s for s, t in enumerate(p.stage_tiers) if t == i]
                     for i in range(p.tiers)}
        # the component maker (or, for imported motors, the importer) is the named end user
        if p.ladder[0] == "industrial_motor":
            end_user = chain[0]
        else:
            end_user = chain[p.stage_tiers[p.ladder.index("industrial_motor") - 1]]
        recycler = f"{cc}-RCY"
        gov = f"{cc}-GOV"
        trader = f"{cc}-TRD"
        mil = f"{cc}-DEF"
        violating = p.violation is not None and di == 0
        for i, pid in enumerate(chain):
            roles = ["importer"] if i == 0 else []
            roles.append("manufacturer" if stages_at[i] else "distributor")
            if pid == end_user:
                roles.append("end_user")
            self.party(pid, f"{cc} Property Tier {i + 1} Pvt Ltd", cc, ";".join(roles), USE)
        if p.recycling:
            self.party(recycler, f"{cc} Property Recyclers LLP", cc, "recycler")
        if p.certificates:
            self.party(gov, f"{cc} Directorate of Foreign Trade (property tests)", cc,
                       "authority")
        bystanders = list(chain) + ([recycler] if p.recycling else [])
        if violating and p.violation == "affiliate_reexport":
            self.party(trader, f"{cc} Property Trading Co.", cc, "trader")
            self.rows["ownership"].append({"owner_id": chain[0], "owned_id": trader,
                                           "share": 0.45})
            self.must_flag += [Flag("unauthorised_reexport", "party", trader),
                               Flag("unauthorised_reexport", "party", chain[0])]
            bystanders.remove(chain[0])
        elif violating and p.violation == "importer_reexport":
            self.must_flag.append(Flag("unauthorised_reexport", "party", chain[0]))
            bystanders.remove(chain[0])
        elif violating and p.violation == "vanishing":
            self.must_flag.append(Flag("unaccounted_material", "party", chain[0]))
            bystanders.remove(chain[0])
        elif violating and p.violation == "military_end_use":
            self.party(mil, f"{cc} Property Propulsion Pvt Ltd", cc, "manufacturer")
            self.rows["observations"].append({
                "obs_id": self.new_id("O"), "date": f"{p.years[0] - 1}-11-01", "party_id": mil,
                "kind": "military_contract", "ref": f"MoD-{p.years[0]}-UAV-{di + 1:03d}",
                "detail": "supplies propulsion motors for military drones"})
            self.must_flag += [Flag("prohibited_end_use", "party", mil),
                               Flag("prohibited_end_use", "party", end_user)]
            # upstream of the supplier (the licensee, its suppliers) may be answerable too
            bystanders = [b for b in bystanders
                          if b not in chain or chain.index(b) > chain.index(end_user)]
        self.bystanders += bystanders

        p_in = {i: p.ladder[sum(1 for t in p.stage_tiers if t < i)] for i in range(p.tiers)}
        p_out = {i: p.ladder[sum(1 for t in p.stage_tiers if t <= i)] for i in range(p.tiers)}
        ratio = {"ndfeb_magnet": 1, "industrial_motor": p.magnets_per_motor,
                 "water_pump": p.motors_per_pump}  # input qty per output qty
        p0 = p.ladder[0]

        for yi, year in enumerate(p.years):
            seq: list[dict] = []
            kg = dict.fromkeys(("released", *CATEGORIES), 0.0)
            first_year = yi == 0
            # 1. releases
            decls = []
            for _ in range(self.draw(st.integers(1, 3))):
                # planted violations are material (>= ~180 kg of content received a year)
                big = p.violation is not None and not decls
                if self.is_kg(p0):
                    q = 8 * self.draw(st.integers(100 if big else 25, 250))
                    net = q
                else:
                    q = self.draw(st.integers(300 if big else 40, 600 if big else 400))
                    net = q * 4 * p.magnets_per_motor
                did = self.new_id("D")
                row = {"declaration_id": did, "date": None, "exporter_id": EXPORTER,
                       "consignee_id": chain[0], "end_user_id": end_user, "destination": cc,
                       "product": p0, "hs_code": HS[p0], "net_kg": net,
                       "units": None if self.is_kg(p0) else q, "re_kg": None,
                       "heavy_re_kg": None, "value_usd": net * 60, "licence_id": None,
                       "certificate_id": None}
                self.rows["shipments"].append(row)
                seq.append(row)
                decls.append(row)
                self.pool(chain[0], p0).put(did, q)
                kg["released"] += q * self.content[p0]
            receipts_t0 = sum(d["units"] if d["units"] is not None else d["net_kg"]
                              for d in decls)

            # 2. down the chain
            for i, pid in enumerate(chain):
                if violating and i == 0 and p.violation == "vanishing":
                    v = round(0.4 * receipts_t0, 0)
                    self.pool(pid, p0).take(v)  # no record follows these
                    kg["unaccounted"] += v * self.content[p0]
                if violating and i == 0 and first_year and p.violation in (
                        "importer_reexport", "affiliate_reexport"):
                    frac = self.draw(st.sampled_from([0.2, 0.3, 0.4, 0.5]))
                    x = round(frac * receipts_t0, 0)
                    ref = self.take(pid, p0, x)
                    if p.violation == "importer_reexport":
                        self.flow(seq, pid, REEXPORT_BUYER, "US", p0, x, ref)
                    else:
                        f1 = self.flow(seq, pid, trader, None, p0, x, ref)
                        self.flow(seq, trader, REEXPORT_BUYER, "US", p0, x,
                                  self.direct(f1))
                    kg["reexported"] += x * self.content[p0]
                mil_here = (violating and first_year and p.violation == "military_end_use"
                            and pid == end_user)
                if mil_here and p0 == "industrial_motor":
                    self.military_sale(seq, pid, mil, kg)
                recycled_here = False
                for s in stages_at[i]:
                    a, b = p.ladder[s], p.ladder[s + 1]
                    r = ratio[b]
                    avail = self.pool(pid, a).qty
                    f = self.draw(st.sampled_from([0.5, 0.7, 0.9, 1.0])) if p.stocks else 1.0
                    target = avail * f
                    sigma = 0.0
                    if self.is_kg(a) and p.scrap:
                        sigma = self.draw(st.sampled_from([0.0, 0.05, 0.1, 0.2]))
                    n = int(target * (1 - sigma) // r)
                    if n <= 0:
                        continue
                    scrap = int(n * r * sigma / (1 - sigma)) if sigma else 0
                    recycle = p.recycling and scrap >= 8 and not recycled_here
                    if recycle:
                        scrap -= scrap % 8
                    x = n * r + scrap
                    tid = self.transformation(seq, pid, a, x, self.take(pid, a, x), b, n, scrap)
                    self.pool(pid, b).put(tid, n)
                    if recycle:
                        recycled_here = True
                        oxide = scrap * C_MAT / C_OXIDE
                        fs = self.flow(seq, pid, recycler, None, "magnet_scrap", scrap,
                                       self.direct(tid))
                        tr = self.transformation(seq, recycler, "magnet_scrap", scrap,
                                                 self.direct(fs), "re_oxide", oxide, 0)
                        fo = self.flow(seq, recycler, pid, None, "re_oxide", oxide,
                                       self.direct(tr))
                        self.pool(pid, "re_oxide").put(fo, oxide)
                        tb = self.transformation(seq, pid, "re_oxide", oxide,
                                                 self.take(pid, "re_oxide", oxide), a, scrap, 0)
                        self.pool(pid, a).put(tb, scrap)
                        n2 = int(scrap // r)
                        if n2 > 0:
                            tc = self.transformation(seq, pid, a, n2 * r,
                                                     self.take(pid, a, n2 * r), b, n2, 0)
                            self.pool(pid, b).put(tc, n2)
                    elif scrap:
                        kg["verified_use"] += scrap * self.content[a]  # process scrap
                    if mil_here and b == "industrial_motor":
                        self.military_sale(seq, pid, mil, kg)
                # onward
                out = p_out[i]
                avail = self.pool(pid, out).qty
                g = self.draw(st.sampled_from([0.6, 0.8, 1.0])) if p.stocks else 1.0
                q = int(avail * g)
                if q <= 0:
                    continue
                if i < p.tiers - 1:
                    for part in self.split(q):
                        fid = self.flow(seq, pid, chain[i + 1], None, out, part,
                                        self.take(pid, out, part))
                        self.pool(chain[i + 1], p_in[i + 1]).put(fid, part)
                else:
                    exported = 0
                    if p.export_final and out == "water_pump" and q >= 2:
                        exported = q // self.draw(st.sampled_from([2, 3, 4]))
                        self.flow(seq, pid, FINAL_BUYER, "AE", out, exported,
                                  self.take(pid, out, exported))
                    for part in self.split(q - exported):
                        self.flow(seq, pid, None, None, out, part, self.take(pid, out, part),
                                  use=USE)
                    kg["verified_use"] += q * self.content[out]

            # 3. dates, licences, certificates, year-end stock reports
            self.schedule(seq, year)
            self.papers(decls, cc, chain[0], end_user, gov, year)
            for pid in chain + ([recycler] if p.recycling else []):
                for prod in ("re_alloy", "ndfeb_magnet", "re_oxide", "industrial_motor",
                             "water_pump"):
                    close = self.pool(pid, prod).qty
                    before = self.reported.get((pid, prod), 0.0)
                    if close > 1e-9 or (pid, prod) in self.reported:
                        self.rows["stocks"].append({"party_id": pid, "date": f"{year}-12-31",
                                                    "product": prod, "qty": round(close, 6)})
                        self.reported[(pid, prod)] = close
                    kg["in_stock"] += (close - before) * self.content[prod]
            gap = kg["released"] - sum(kg[c] for c in CATEGORIES)
            assert abs(gap) < 1e-6, f"generator bookkeeping does not close: {gap}"
            self.expected[(cc, str(year))] = kg

    def military_sale(self, seq: list, pid: str, mil: str, kg: dict) -> None:
        avail = self.pool(pid, "industrial_motor").qty
        x = int(avail * self.draw(st.sampled_from([0.2, 0.3, 0.4])))
        if x <= 0:
            return
        self.flow(seq, pid, mil, None, "industrial_motor", x,
                  self.take(pid, "industrial_motor", x))
        kg["prohibited_use"] += x * self.content["industrial_motor"]

    def split(self, q: int) -> list[int]:
        if q >= 2 and self.draw(st.booleans()):
            k = self.draw(st.integers(1, q - 1))
            return [k, q - k]
        return [q]

    def schedule(self, seq: list[dict], year: int) -> None:
        start = date(year, 4, 7) if (year == 2025 and self.p.from_april) else date(year, 1, 6)
        span = (date(year, 12, 20) - start).days
        step = max(1, span // max(1, len(seq)))
        for k, row in enumerate(seq):
            row["date"] = (start + timedelta(days=min(span, k * step))).isoformat()

    def papers(self, decls: list[dict], cc: str, importer: str, end_user: str, gov: str,
               year: int) -> None:
        p = self.p
        cert_id = None
        if p.certificates:
            cert_id = f"EUC-{cc}-{year}-{len(self.certs) + 1:03d}"
            first = min(d["date"] for d in decls)
            issued = (date.fromisoformat(first) - timedelta(days=5)).isoformat()
            total = sum(d["net_kg"] for d in decls)
            n = len(self.certs) + 1
            self.certs.append({
                "@context": ["https://www.w3.org/ns/credentials/v2"],
                "id": f"urn:uuid:00000000-0000-4000-8000-{n:012d}",
                "type": ["VerifiableCredential", "EndUserCertificate"],
                "issuer": f"urn:rareflow:party:{end_user}",
                "validFrom": f"{issued}T00:00:00Z", "validUntil": f"{year}-12-31T23:59:59Z",
                "credentialSubject": {
                    "certificate_id": cert_id, "kind": "end_user_statement", "issued": issued,
                    "exporter_id": EXPORTER, "importer_id": importer, "end_user_id": end_user,
                    "country": cc, "contract_ref": f"C-{year}-{n:04d}",
                    "items": [{"product": p.ladder[0], "hs_code": HS[p.ladder[0]],
                               "max_kg": _num(total), "value_usd": _num(total * 60)}],
                    "end_use": {"use": USE,
                                "description": "permanent-magnet motors for pumps and fans",
                                "site": f"Works of {end_user}, {cc}"},
                    "commitments": ["civil_use_only", "no_reexport", "no_transfer:US",
                                    "consent_to_verification"],
                    "signatory": {"name": f"Signatory {n} of {end_user}",
                                  "title": "Managing Director"},
                    "endorsement": {"authority": gov, "ref": f"DFT/EUC/{year}/{n:04d}"}},
                "transcription": {"from": "paper letter with wet signature and company stamp",
                                  "by": "customs officer", "on": issued}})
        for d in decls:
            d["certificate_id"] = cert_id
            if date.fromisoformat(d["date"]) >= POLICY_DATE:
                lid = self.new_id("L")
                d["licence_id"] = lid
                self.rows["licences"].append({
                    "licence_id": lid, "exporter_id": EXPORTER, "consignee_id": importer,
                    "end_user_id": end_user, "destination": cc, "product": d["product"],
                    "max_kg": d["net_kg"],
                    "valid_from": (date.fromisoformat(d["date"]) - timedelta(days=7))
                    .isoformat(),
                    "valid_to": f"{year}-12-31", "end_use": USE,
                    "conditions": "civil_use_only;no_reexport"})


def book_gaps(world: World) -> dict[tuple[str, str, str], tuple[float, float]]:
    """Each (party, product, year): opening + in - out - closing, read back from the tables
    (not from the simulation), with the gross volume it is measured against. Parties that
    never send anything (final receivers, foreign buyers) and magnet_scrap (process scrap
    that no flow delivers is an end) are left out."""
    t = world.tables
    units = {r["product"]: r["unit"] for r in t["products"].to_dict("records")}
    moves: list[tuple[str, str, str, float]] = []  # party, product, year, signed qty

    def qty(r: dict) -> float:
        col = "net_kg" if units[r["product"]] == "kg" else "units"
        return float(r[col])

    for r in t["shipments"].to_dict("records"):
        moves.append((r["consignee_id"], r["product"], r["date"][:4], qty(r)))
    senders = set()
    if "flows" in t:
        for r in t["flows"].to_dict("records"):
            moves.append((r["from_id"], r["product"], r["date"][:4], -qty(r)))
            senders.add(r["from_id"])
            if isinstance(r["to_id"], str):
                moves.append((r["to_id"], r["product"], r["date"][:4], qty(r)))
    if "transformations" in t:
        for r in t["transformations"].to_dict("records"):
            y = r["date"][:4]
            moves.append((r["party_id"], r["input_product"], y, -float(r["input_qty"])))
            moves.append((r["party_id"], r["output_product"], y, float(r["output_qty"])))
            senders.add(r["party_id"])
    stock: dict[tuple[str, str, str], float] = {}
    if "stocks" in t:
        for r in t["stocks"].to_dict("records"):
            stock[(r["party_id"], r["product"], r["date"][:4])] = float(r["qty"])
            senders.add(r["party_id"])
    years = [str(y) for y in world.params.years]
    keys = {(pa, pr) for pa, pr, _, _ in moves} | {(pa, pr) for pa, pr, _ in stock}
    out = {}
    for party, product in sorted(keys):
        if party not in senders or product == "magnet_scrap":
            continue
        opening = 0.0
        for y in years:
            net = sum(q for pa, pr, yy, q in moves if (pa, pr, yy) == (party, product, y))
            gross = sum(abs(q) for pa, pr, yy, q in moves
                        if (pa, pr, yy) == (party, product, y))
            closing = stock.get((party, product, y), opening)
            out[(party, product, y)] = (opening + net - closing, gross)
            opening = closing
    return out


def _num(x: float) -> str:
    return f"{x:g}" if float(x) != int(x) else str(int(x))


# ------------------------------------------------------------------------ strategies
@st.composite
def params(draw, violation: str | None = None) -> Params:
    tiers = draw(st.integers(2, 5))
    n_products = draw(st.integers(1, 4))
    # every chain holds the component (industrial_motor): it ends in a component or final good
    start = draw(st.integers(max(0, 3 - n_products), min(2, 4 - n_products)))
    ladder = LADDER[start:start + n_products]
    stage_tiers = tuple(sorted(draw(st.lists(st.integers(0, tiers - 1),
                                             min_size=n_products - 1,
                                             max_size=n_products - 1))))
    has_kg_stage = any(a in KG_PRODUCTS for a in ladder[:-1])
    scrap = has_kg_stage and draw(st.booleans())
    n_dest = draw(st.integers(1, 2))
    dests = tuple(draw(st.permutations(DESTINATIONS))[:n_dest])
    first_year = 2025 if violation else draw(st.sampled_from([2024, 2025]))
    years = tuple(range(first_year, first_year + draw(st.integers(1, 2))))
    return Params(
        tiers=tiers, ladder=tuple(ladder), stage_tiers=stage_tiers, destinations=dests,
        years=years, from_april=True if violation else draw(st.booleans()),
        magnets_per_motor=draw(st.sampled_from([2, 3])),
        motors_per_pump=draw(st.sampled_from([1, 2])),
        scrap=scrap, recycling=scrap and draw(st.booleans()), stocks=draw(st.booleans()),
        lot_links=draw(st.sampled_from(["none", "exact", "approximate", "dangling"])),
        fmt=draw(st.sampled_from(["csv", "parquet"])), noise=draw(st.booleans()),
        export_final=ladder[-1] == "water_pump" and draw(st.booleans()),
        certificates=draw(st.booleans()), violation=violation)


@st.composite
def worlds(draw, violation: str | None = None) -> World:
    """An honest world, or one with a single planted violation (one of VIOLATIONS)."""
    assert violation is None or violation in VIOLATIONS
    p = draw(params(violation))
    world = _Builder(draw, p).build()
    vanishing = {f.subject_id for f in world.must_flag if f.rule == "unaccounted_material"}
    for (party, product, year), (gap, gross) in book_gaps(world).items():
        if party not in vanishing:  # the generator's own books must close, up to noise
            assert abs(gap) <= 0.006 * gross + 1e-6, (
                f"generator bug: {party} {product} {year} does not close by {gap}")
    return world


# ------------------------------------------------------------------------ variants
def _copy(world: World, note: str) -> World:
    return replace(world, tables={k: v.copy() for k, v in world.tables.items()},
                   certificates=copy.deepcopy(world.certificates),
                   expected=copy.deepcopy(world.expected), note=note)


def renamed(world: World, seed: int = 0) -> World:
    """Every id (parties, declarations, flows, transformations, licences, certificates,
    observations) replaced by an unrelated one, in an order unrelated to the old one."""
    w = _copy(world, "renamed ids")
    ids: set[str] = set()
    for name, cols in ID_COLUMNS.items():
        df = w.tables.get(name)
        if df is None:
            continue
        key = cols[0]
        ids |= {v for v in df[key].dropna()}  # keys of each table
    ids |= {c["credentialSubject"]["certificate_id"] for c in w.certificates}
    order = sorted(ids)
    random.Random(seed).shuffle(order)
    mapping = {old: f"Q{k:05d}" for k, old in enumerate(order)}

    def m(v):
        return mapping.get(v, v) if isinstance(v, str) else v

    for name, cols in ID_COLUMNS.items():
        df = w.tables.get(name)
        if df is None:
            continue
        for c in cols:
            df[c] = df[c].map(m)
    for doc in w.certificates:
        s = doc["credentialSubject"]
        for k in ("certificate_id", "exporter_id", "importer_id", "end_user_id"):
            s[k] = m(s[k])
        s["endorsement"]["authority"] = m(s["endorsement"]["authority"])
        doc["issuer"] = "urn:rareflow:party:" + m(doc["issuer"].rsplit(":", 1)[1])
    w.must_flag = [replace(f, subject_id=m(f.subject_id)) for f in w.must_flag]
    w.bystanders = [m(b) for b in w.bystanders]
    return w


def shuffled(world: World, seed: int = 0) -> World:
    w = _copy(world, "shuffled rows")
    for k, (name, df) in enumerate(sorted(w.tables.items())):
        w.tables[name] = df.sample(frac=1, random_state=seed + k).reset_index(drop=True)
    random.Random(seed).shuffle(w.certificates)
    return w


def split_flow(world: World) -> World:
    """The largest flow reported as two rows (same date, parties, product) that add up."""
    w = _copy(world, "one flow split in two rows")
    df = w.tables.get("flows")
    if df is None:
        return w
    qty = df["net_kg"].fillna(df["units"]).astype(float)
    qty = qty.where(df["net_kg"].notna() | (qty >= 2))
    if qty.isna().all():
        return w
    i = int(qty.idxmax())
    row = df.loc[i].to_dict()
    part = dict(row)
    part["flow_id"] = f"{row['flow_id']}-B"
    if pd.notna(row["net_kg"]):
        first = round(float(row["net_kg"]) * 0.4, 2)
        part["net_kg"] = round(float(row["net_kg"]) - first, 2)
        df.loc[i, "net_kg"] = first
    else:
        first = int(float(row["units"]) // 2)
        part["units"] = float(row["units"]) - first
        df.loc[i, "units"] = first
    w.tables["flows"] = pd.concat([df, pd.DataFrame([part])], ignore_index=True)
    w.note = f"flow {row['flow_id']} split in two rows"
    return w


def without_lot_links(world: World) -> World:
    w = _copy(world, "every lot link removed")
    for name, col in LINK_COLUMNS.items():
        if name in w.tables:
            w.tables[name][col] = None
    return w


def as_format(world: World, fmt: str) -> World:
    w = _copy(world, f"written as {fmt}")
    w.params = replace(w.params, fmt=fmt)
    return w


def scaled(world: World, factor: float) -> World:
    """Every quantity multiplied by `factor` (expected kg too; shares unchanged)."""
    w = _copy(world, f"every quantity x{factor:g}")
    for name, cols in SCALED.items():
        df = w.tables.get(name)
        if df is None:
            continue
        for c in cols:
            df[c] = pd.to_numeric(df[c]) * factor
    for doc in w.certificates:
        for item in doc["credentialSubject"]["items"]:
            for k in ("max_kg", "value_usd"):
                item[k] = _num(float(item[k]) * factor)
    w.expected = {k: {c: v * factor for c, v in kg.items()} for k, kg in w.expected.items()}
    return w


def variants(world: World) -> list[World]:
    """The transformations that must leave every attribution share where it was."""
    other = "parquet" if world.params.fmt == "csv" else "csv"
    return [renamed(world), shuffled(world, seed=7), split_flow(world),
            as_format(world, other), without_lot_links(world)]


__all__ = ["CATEGORIES", "VIOLATIONS", "Flag", "Params", "World", "as_format", "book_gaps",
           "params",
           "renamed", "scaled", "shuffled", "split_flow", "variants", "without_lot_links",
           "worlds"]
