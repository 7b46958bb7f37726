"""The honest chain of one destination: CN magnets -> motor maker (with scrap to a recycler)
-> assembler -> final customers, month by month, with honest noise."""

from __future__ import annotations

import random
from dataclasses import dataclass

from rareflow.world.book import Book

MAGNET_PER_MOTOR = 1.6  # kg of NdFeB per traction motor (domain notes: 1-2 kg)
RE_MAGNET = 0.31
MONTHS = [(y, m) for y in (2024, 2025) for m in range(1, 13)]


@dataclass
class Chain:
    """Parties and settings of one destination's chain."""

    country: str
    exporter: str
    motor_maker: str
    assembler: str
    recycler: str
    authority: str
    final_product: str
    base_kg: float
    buildup: float = 0.0  # share of each receipt kept in stock (documented build-up)
    export_final_to: str | None = None  # a share of final goods exported (legitimately)


def ship(book: Book, rng: random.Random, c: Chain, date: str, kg: float, licence: str | None,
         cert: str | None, consignee: str | None = None, product: str = "ndfeb_magnet") -> str:
    did = book.next_id(f"CN-{c.country}-D")
    declared = rng.random() < 0.5
    book.add("shipments", declaration_id=did, date=date, exporter_id=c.exporter,
             consignee_id=consignee or c.motor_maker, end_user_id=consignee or c.motor_maker,
             destination=c.country, product=product, hs_code="8505111000", net_kg=round(kg, 1),
             re_kg=round(kg * RE_MAGNET, 1) if declared else None,
             heavy_re_kg=round(kg * 0.02, 1) if declared else None,
             value_usd=round(kg * 62), licence_id=licence, certificate_id=cert)
    return did


def run_chain(book: Book, rng: random.Random, c: Chain, licence: dict[int, str | None],
              cert: dict[int, str | None], divert: dict | None = None) -> dict[str, float]:
    """Ship every month, process last month's receipts, sell; report year-end stocks.
    `divert` maps 'YYYY-MM' -> (kind, kg/units, target) for planted departures."""
    divert = divert or {}
    stock_magnets = 0.0
    pending: list[tuple[str, float]] = []
    scrap_total = 0.0
    totals = {2024: 0.0, 2025: 0.0}
    for y, m in MONTHS:
        day = f"{y}-{m:02d}"
        kg = c.base_kg * (0.9 + 0.2 * rng.random())
        did = ship(book, rng, c, f"{day}-{5 + rng.randrange(10):02d}", kg, licence[y], cert[y])
        totals[y] += kg
        stock_magnets += kg
        lot_in = pending.pop() if pending else None
        pending.append((did, kg))
        if lot_in is None:
            continue
        in_id, in_kg = lot_in
        process = in_kg * (1 - c.buildup)
        extra = divert.get(day)
        if extra and extra[0] == "magnets":
            process -= extra[1]
        motors = int(process * (1 - rng.uniform(0.18, 0.26)) / MAGNET_PER_MOTOR)
        scrap = process - motors * MAGNET_PER_MOTOR
        stock_magnets -= process
        tid = book.next_id(f"{c.country}-T")
        book.add("transformations", transformation_id=tid, date=f"{day}-12",
                 party_id=c.motor_maker, input_product="ndfeb_magnet", input_qty=round(process, 3),
                 input_ref=in_id, output_product="traction_motor", output_qty=motors,
                 scrap_kg=round(scrap, 3))
        # a planted military sale: the motor maker sells motors (components, controlled
        # items) for a military use itself
        military = extra[1] if extra and extra[0] == "military_sale" else 0
        fid = book.next_id(f"{c.country}-F")
        book.add("flows", flow_id=fid, date=f"{day}-20", from_id=c.motor_maker, to_id=c.assembler,
                 product="traction_motor", units=motors - military, source_ref=tid)
        if military:
            book.add("flows", flow_id=extra[3], date=f"{day}-22", from_id=c.motor_maker,
                     product="traction_motor", units=military, source_ref=tid, use="military")
        book.add("flows", flow_id=book.next_id(f"{c.country}-F"), date=f"{day}-21",
                 from_id=c.motor_maker, to_id=c.recycler, product="magnet_scrap",
                 net_kg=round(scrap * (1 + rng.uniform(-0.01, 0.01)), 2), source_ref=tid)
        scrap_total += scrap
        if extra and extra[0] == "magnets":
            stock_magnets -= extra[1]
            book.add("flows", flow_id=extra[3], date=f"{day}-22", from_id=c.motor_maker,
                     to_id=extra[2], to_country=extra[4], product="ndfeb_magnet",
                     net_kg=round(extra[1], 1), source_ref=in_id)
        to_final = motors - military
        if extra and extra[0] == "motors":
            to_final -= extra[1]
            book.add("flows", flow_id=extra[3], date=f"{day}-24", from_id=c.assembler,
                     to_id=extra[2], product="traction_motor", units=extra[1], source_ref=fid)
        t2 = book.next_id(f"{c.country}-T")
        book.add("transformations", transformation_id=t2, date=f"{day}-25", party_id=c.assembler,
                 input_product="traction_motor", input_qty=to_final, input_ref=fid,
                 output_product=c.final_product, output_qty=to_final, scrap_kg=0)
        exported = int(to_final * 0.05) if c.export_final_to else 0
        book.add("flows", flow_id=book.next_id(f"{c.country}-F"), date=f"{day}-28",
                 from_id=c.assembler, product=c.final_product,
                 units=to_final - exported, source_ref=t2, use="ev_motor")
        if exported:
            book.add("flows", flow_id=book.next_id(f"{c.country}-F"), date=f"{day}-28",
                     from_id=c.assembler, to_country=c.export_final_to, product=c.final_product,
                     units=exported, source_ref=t2, use="ev_motor")
        if m == 12:
            book.add("stocks", party_id=c.motor_maker, date=f"{y}-12-31", product="ndfeb_magnet",
                     qty=round(stock_magnets * (1 + rng.uniform(-0.01, 0.01)), 1))
            book.add("stocks", party_id=c.recycler, date=f"{y}-12-31", product="magnet_scrap",
                     qty=round(scrap_total, 1))
    return totals
