"""`generate(out, seed, scenario)`: write a demo world as a dataset folder."""

from __future__ import annotations

import random
from pathlib import Path

from rareflow.world import planted
from rareflow.world.book import Book
from rareflow.world.certs import certificate, key_for, register_key, sign
from rareflow.world.chain import Chain, run_chain

SCENARIOS = ("demo", "clean", "unverified37", "capacity137")

CHAINS = [
    Chain("IN", "CN-MAG-01", "IN-MOT-01", "IN-ASM-01", "IN-REC-01", "IN-GOV", "e_scooter",
          900, export_final_to="NP"),
    Chain("KR", "CN-MAG-01", "KR-MOT-01", "KR-ASM-01", "KR-REC-01", "KR-GOV", "ev_car", 1200),
    Chain("DE", "CN-MAG-02", "DE-MOT-01", "DE-ASM-01", "DE-REC-01", "DE-GOV", "ev_car", 1500,
          buildup=0.10),
    Chain("JP", "CN-MAG-02", "JP-MOT-01", "JP-ASM-01", "JP-REC-01", "JP-GOV", "e_scooter", 700),
]
NAMES = {"IN": "Pune", "KR": "Ulsan", "DE": "Stuttgart", "JP": "Hamamatsu", "VN": "Hai Phong"}


def base_world(book: Book, seed: int) -> None:
    for pid, name, roles, sector in (
        ("CN-MAG-01", "Baotou Rare Earth Magnet Co., Ltd.", "exporter", "industrial_motor"),
        ("CN-MAG-02", "Ningbo Permanent Magnet Works", "exporter", "industrial_motor"),
        ("CN-OX-01", "Ganzhou Heavy Rare Earth Materials Co.", "exporter", None),
    ):
        book.add("parties", party_id=pid, name=name, country="CN", roles=roles, sector=sector,
                 address=f"{pid} Industrial Park, China")
    for c in CHAINS:
        city = NAMES[c.country]
        book.add("parties", party_id=c.motor_maker, name=f"{city} Traction Motors",
                 country=c.country, roles="importer;manufacturer;end_user", sector="ev_motor",
                 address=f"1 Motor Road, {city}", registration_id=f"REG-{c.motor_maker}")
        book.add("parties", party_id=c.assembler, name=f"{city} Vehicle Assembly",
                 country=c.country, roles="manufacturer", sector="ev_motor",
                 address=f"2 Assembly Road, {city}")
        book.add("parties", party_id=c.recycler, name=f"{city} Magnet Recycling",
                 country=c.country, roles="recycler", address=f"3 Scrap Lane, {city}")
        book.add("parties", party_id=c.authority, name=f"Export Control Authority of {c.country}",
                 country=c.country, roles="authority", address=f"Ministry, {c.country}")
        book.add("capacity", party_id=c.motor_maker, year=2024, product="traction_motor",
                 units=int(c.base_kg * 12 / 1.6 * 1.2), kind="capacity")
        book.add("capacity", party_id=c.motor_maker, year=2025, product="traction_motor",
                 units=int(c.base_kg * 12 / 1.6 * 1.25), kind="capacity")
        for who in (c.motor_maker, c.authority):
            register_key(book, key_for(seed, who), who)
    book.add("products", product="e_scooter", kind="final", hs_code="8711600000", unit="unit",
             re_kg_per_unit=0.496, heavy_re_kg_per_unit=0.032, use="ev_motor",
             description="Electric two-wheeler with one traction motor")
    book.add("products", product="ev_car", kind="final", hs_code="8703800000", unit="unit",
             re_kg_per_unit=0.496, heavy_re_kg_per_unit=0.032, use="ev_motor",
             description="Electric car (one traction motor)")
    book.add("products", product="traction_motor", kind="component", hs_code="8501520000",
             unit="unit", re_kg_per_unit=0.496, heavy_re_kg_per_unit=0.032, use="ev_motor",
             description="Traction motor with 1.6 kg of NdFeB magnets")
    book.add("restricted_parties", list="demo-military-end-users", entity_id="MEU-0001",
             name="Example Defence Drones Pvt Ltd", aliases="EDD;Example Def. Drones",
             country="IN", topics="mil")


def licences_and_certificates(book: Book, seed: int, c: Chain, totals: dict[int, float],
                              scale: dict[int, float] | None = None) -> None:
    scale = scale or {}
    for y in (2024, 2025):
        lic = f"L-{c.country}-{y}"
        book.add("licences", licence_id=lic, exporter_id=c.exporter, consignee_id=c.motor_maker,
                 end_user_id=c.motor_maker, destination=c.country, product="ndfeb_magnet",
                 max_kg=round(totals[y] * scale.get(y, 1.15)), valid_from=f"{y}-01-01",
                 valid_to=f"{y}-12-31", end_use="ev_motor",
                 conditions="civil_use_only;no_reexport;no_transfer:US")
        doc = certificate(f"EUC-{c.country}-{y}", exporter=c.exporter, importer=c.motor_maker,
                          end_user=c.motor_maker, country=c.country, year=y,
                          max_kg=totals[y] * scale.get(("cert", y), 1.3), use="ev_motor",
                          description="traction motors for electric vehicles",
                          site=NAMES[c.country], authority=c.authority)
        book.certificates.append(sign(doc, key_for(seed, c.motor_maker),
                                      key_for(seed, c.authority), created=f"{y}-01-02T09:00:00Z"))


def trade_statistics(book: Book, rng: random.Random) -> None:
    ships = book.rows["shipments"]
    per: dict[tuple[str, str], float] = {}
    for s in ships:
        key = (s["destination"], s["date"][:7])
        per[key] = per.get(key, 0.0) + float(s["net_kg"])
    for (dest, period), kg in sorted(per.items()):
        book.add("trade_stats", reporter="CN", partner=dest, flow="export", hs_code="850511",
                 period=period, net_kg=round(kg), value_usd=round(kg * 62))
        book.add("trade_stats", reporter=dest, partner="CN", flow="import", hs_code="850511",
                 period=period, net_kg=round(kg * rng.uniform(0.99, 1.03)),
                 value_usd=round(kg * 62 * rng.uniform(1.04, 1.07)))
    for year in ("2024", "2025"):  # India exports its own oxide to Japan: not a re-export
        book.add("trade_stats", reporter="IN", partner=None, flow="production", hs_code="284690",
                 period=year, net_kg=2_900_000)
        book.add("trade_stats", reporter="IN", partner="JP", flow="export", hs_code="284690",
                 period=year, net_kg=960_000)
        book.add("trade_stats", reporter="IN", partner="CN", flow="import", hs_code="284690",
                 period=year, net_kg=50_000)
    book.honest.append({"feature": "own production exported",
                        "ids": ["trade_stats:IN:284690"],
                        "description": "India exports 960 t of its own oxide to Japan a year "
                                       "against 2,900 t of production"})


def generate(out: Path, seed: int = 7, scenario: str = "demo") -> Book:
    """Write the world of `scenario` into `out` (created) and return what was built."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}: one of {', '.join(SCENARIOS)}")
    rng = random.Random(f"{seed}:{scenario}")
    book = Book()
    base_world(book, seed)
    diversions = planted.diversions() if scenario == "demo" else {}
    for c in CHAINS:
        lic = {2024: f"L-{c.country}-2024", 2025: f"L-{c.country}-2025"}
        cert = {2024: f"EUC-{c.country}-2024", 2025: f"EUC-{c.country}-2025"}
        totals = run_chain(book, rng, c, lic, cert, diversions.get(c.country))
        scale = planted.licence_scales(c.country) if scenario == "demo" else None
        licences_and_certificates(book, seed, c, totals, scale)
    book.honest += [
        {"feature": "measurement noise", "ids": ["flows: magnet_scrap", "stocks"],
         "description": "scrap weights and stock counts reported within +/-1%"},
        {"feature": "lag across year ends", "ids": ["stocks at 2024-12-31"],
         "description": "December receipts are processed in January; they are in the "
                        "year-end stock report"},
        {"feature": "documented stock build-up", "ids": ["DE-MOT-01"],
         "description": "DE-MOT-01 keeps 10% of each receipt in stock and reports it"},
        {"feature": "documented scrap", "ids": ["*-REC-01"],
         "description": "swarf (18-26% of magnet input) goes to recyclers, who report stock"},
        {"feature": "final goods exported", "ids": ["IN-ASM-01 -> NP"],
         "description": "5% of India's e-scooters are exported to Nepal: final goods, "
                        "not a re-export"},
    ]
    if scenario == "demo":
        planted.plant_all(book, rng, seed)
    elif scenario == "unverified37":
        planted.vanishing_importer(book, rng, seed, share=0.37, record=True)
    elif scenario == "capacity137":
        planted.capacity_growth(book, rng, seed, record=True)
    trade_statistics(book, rng)
    book.write(out, scenario, seed)
    return book
