"""The planted cases of the demo world, each recorded in `planted.json` with the rule that
should find it. docs/demo-scenarios.md lists them."""

from __future__ import annotations

import random

from rareflow.world.book import Book
from rareflow.world.certs import certificate, key_for, register_key, sign

R = 0.31  # rare-earth content of NdFeB magnets


def diversions() -> dict[str, dict[str, tuple]]:
    """Departures inside the honest chains: month -> (kind, quantity, receiver, flow id,
    destination country)."""
    return {
        "IN": {"2025-10": ("magnets", 300.0, "US-DIST-01", "PL-REEXPORT-F", "US"),
               "2025-03": ("magnets", 100.0, "IN-EDD-01", "PL-RESTRICTED-F", None),
               "2025-07": ("motors", 40, "IN-DRN-01", "PL-DRONE-F", None)},
        "KR": {"2025-05": ("military_sale", 12, None, "PL-MILSALE-F", None)},
    }


def licence_scales(country: str) -> dict:
    """Licences and certificates sized too small for what was shipped."""
    return {"JP": {2025: 0.85}, "IN": {("cert", 2025): 0.8}}.get(country, {})


def add_stock(book: Book, party: str, date: str, product: str, qty: float) -> None:
    for row in book.rows.get("stocks", []):
        if (row["party_id"], row["date"], row["product"]) == (party, date, product):
            row["qty"] = round(float(row["qty"]) + qty, 1)
            return
    book.add("stocks", party_id=party, date=date, product=product, qty=round(qty, 1))


def _ship(book: Book, did: str, date: str, exporter: str, consignee: str, dest: str, kg: float,
          licence: str | None, cert: str | None, product: str = "ndfeb_magnet",
          hs: str = "8505111000") -> None:
    book.add("shipments", declaration_id=did, date=date, exporter_id=exporter,
             consignee_id=consignee, end_user_id=consignee, destination=dest, product=product,
             hs_code=hs, net_kg=kg, value_usd=round(kg * 62), licence_id=licence,
             certificate_id=cert)


def _party(book: Book, pid: str, name: str, country: str, roles: str, sector: str | None = None,
           address: str | None = "registered address on file") -> None:
    book.add("parties", party_id=pid, name=name, country=country, roles=roles, sector=sector,
             address=address)


def vanishing_importer(book: Book, rng: random.Random, seed: int, share: float,
                       record: bool, paper_letter: bool = False) -> None:
    """VN-IMP-01 turns (1 - share) of its magnets into industrial motors sold at home; the
    rest leaves no record."""
    _party(book, "VN-IMP-01", "Hai Phong Motor Components JSC", "VN",
           "importer;manufacturer;end_user", "industrial_motor")
    _party(book, "VN-GOV", "Export Control Authority of VN", "VN", "authority")
    book.add("products", product="industrial_motor", kind="component", hs_code="8501520000",
             unit="unit", re_kg_per_unit=0.31, heavy_re_kg_per_unit=0.02, use="industrial_motor",
             description="Industrial motor with 1 kg of NdFeB magnets")
    total = 0.0
    for m in range(1, 13):
        kg = round(800 * (0.9 + 0.2 * rng.random()), 1)
        did = f"CN-VN-D-{m:05d}"
        _ship(book, did, f"2025-{m:02d}-08", "CN-MAG-01", "VN-IMP-01", "VN", kg, "L-VN-2025",
              "EUC-VN-2025")
        total += kg
        motors = int(kg * (1 - share))
        tid = f"VN-T-{m:05d}"
        book.add("transformations", transformation_id=tid, date=f"2025-{m:02d}-15",
                 party_id="VN-IMP-01", input_product="ndfeb_magnet", input_qty=motors,
                 input_ref=did, output_product="industrial_motor", output_qty=motors, scrap_kg=0)
        book.add("flows", flow_id=f"VN-F-{m:05d}", date=f"2025-{m:02d}-25", from_id="VN-IMP-01",
                 product="industrial_motor", units=motors, source_ref=tid, use="industrial_motor")
    book.add("licences", licence_id="L-VN-2025", exporter_id="CN-MAG-01",
             consignee_id="VN-IMP-01", end_user_id="VN-IMP-01", destination="VN",
             product="ndfeb_magnet", max_kg=round(total * 1.2), valid_from="2025-01-01",
             valid_to="2025-12-31", end_use="industrial_motor",
             conditions="civil_use_only;no_reexport")
    if paper_letter:
        doc = certificate("EUC-VN-2025", exporter="CN-MAG-01", importer="VN-IMP-01",
                          end_user="VN-IMP-01", country="VN", year=2025, max_kg=total * 1.3,
                          use="industrial_motor", description="industrial motors",
                          site="Hai Phong", authority=None, contract=None,
                          commitments=("civil_use_only",), signatory={"name": "T. Nguyen"})
        doc["transcription"] = {"from": "paper letter", "by": "customs officer",
                                "date": "2025-01-05"}
        book.certificates.append(doc)
    else:
        for who in ("VN-IMP-01", "VN-GOV"):
            register_key(book, key_for(seed, who), who)
        doc = certificate("EUC-VN-2025", exporter="CN-MAG-01", importer="VN-IMP-01",
                          end_user="VN-IMP-01", country="VN", year=2025, max_kg=total * 1.3,
                          use="industrial_motor", description="industrial motors",
                          site="Hai Phong", authority="VN-GOV")
        book.certificates.append(sign(doc, key_for(seed, "VN-IMP-01"), key_for(seed, "VN-GOV"),
                                      created="2025-01-02T09:00:00Z"))
    lost = total * R * share
    book.plant("vanishing_importer", "unaccounted_material", "party", "VN-IMP-01",
               ["VN-IMP-01"], f"{share:.0%} of VN-IMP-01's magnets ({lost:,.0f} kg of "
               "rare-earth content) leave no record")
    if record:
        book.expected.update(destination="VN", unaccounted_share=share, unaccounted_kg=lost)


def capacity_growth(book: Book, rng: random.Random, seed: int, record: bool,
                    revoked_key: bool = False) -> None:
    """KR-SEMI-01's receipts grow +137% while its declared capacity grows +5%."""
    _party(book, "KR-SEMI-01", "Hanbit Semiconductor Equipment Co.", "KR",
           "importer;manufacturer;end_user", "semiconductor")
    book.add("products", product="actuator", kind="component", hs_code="8505900000",
             unit="unit", re_kg_per_unit=0.31, heavy_re_kg_per_unit=0.02, use="semiconductor",
             description="Wafer-stage actuator with 1 kg of NdFeB magnets")
    received = {2024: 0.0, 2025: 0.0}
    for y, monthly in ((2024, 300.0), (2025, 711.0)):
        for m in range(1, 13):
            did = f"CN-KRS-D-{y}{m:02d}"
            kg = round(monthly, 1)
            _ship(book, did, f"{y}-{m:02d}-12", "CN-MAG-02", "KR-SEMI-01", "KR", kg,
                  f"L-KRS-{y}", f"EUC-KRS-{y}")
            received[y] += kg
            units = int(kg)
            tid = f"KRS-T-{y}{m:02d}"
            book.add("transformations", transformation_id=tid, date=f"{y}-{m:02d}-20",
                     party_id="KR-SEMI-01", input_product="ndfeb_magnet", input_qty=units,
                     input_ref=did, output_product="actuator", output_qty=units, scrap_kg=0)
            book.add("flows", flow_id=f"KRS-F-{y}{m:02d}", date=f"{y}-{m:02d}-28",
                     from_id="KR-SEMI-01", product="actuator", units=units, source_ref=tid,
                     use="semiconductor")
        book.add("licences", licence_id=f"L-KRS-{y}", exporter_id="CN-MAG-02",
                 consignee_id="KR-SEMI-01", end_user_id="KR-SEMI-01", destination="KR",
                 product="ndfeb_magnet", max_kg=round(received[y] * 1.1), valid_from=f"{y}-01-01",
                 valid_to=f"{y}-12-31", end_use="semiconductor",
                 conditions="civil_use_only;no_reexport")
    book.add("capacity", party_id="KR-SEMI-01", year=2024, product="actuator", units=3700,
             kind="capacity")
    book.add("capacity", party_id="KR-SEMI-01", year=2025, product="actuator", units=3885,
             kind="capacity")
    kp = key_for(seed, "KR-SEMI-01")
    register_key(book, kp, "KR-SEMI-01", revoked_on="2025-03-01" if revoked_key else None)
    for y in (2024, 2025):
        doc = certificate(f"EUC-KRS-{y}", exporter="CN-MAG-02", importer="KR-SEMI-01",
                          end_user="KR-SEMI-01", country="KR", year=y, max_kg=received[y] * 1.2,
                          use="semiconductor", description="wafer-stage actuators",
                          site="Icheon", authority="KR-GOV")
        created = "2025-04-01T09:00:00Z" if y == 2025 else "2024-01-02T09:00:00Z"
        book.certificates.append(sign(doc, kp, key_for(seed, "KR-GOV"), created=created))
    expected = received[2024] * 3885 / 3700
    excess = (received[2025] - expected) * R
    book.plant("capacity_growth", "capacity_mismatch", "party", "KR-SEMI-01",
               ["KR-SEMI-01", "capacity:KR-SEMI-01:2025"],
               f"receipts +{received[2025] / received[2024] - 1:.0%} against capacity +5%: "
               f"{excess:,.0f} kg of rare-earth content beyond")
    if record:
        book.expected.update(party="KR-SEMI-01", growth_excess_kg=excess)


def plant_all(book: Book, rng: random.Random, seed: int) -> None:
    """Every planted case of the `demo` scenario."""
    _party(book, "US-DIST-01", "Midwest Magnetics Distribution LLC", "US", "distributor")
    _party(book, "IN-EDD-01", "EXAMPLE DEFENCE DRONES PRIVATE LIMITED", "IN", "manufacturer")
    _party(book, "IN-DRN-01", "Bharat Aerial Systems Pvt Ltd", "IN", "manufacturer",
           "military_drone")
    _party(book, "DE-TRD-01", "Rhein Metal Trading GmbH", "DE", "trader", None, None)
    pl = book.plant
    # the diversions run inside the honest chains (chain.run_chain); the rest is here
    pl("reexport_to_named_country", "unauthorised_reexport", "party", "IN-MOT-01",
       ["PL-REEXPORT-F", "EUC-IN-2025", "L-IN-2025"],
       "IN-MOT-01 sends 300 kg of magnets to a US distributor against no_transfer:US")
    pl("reexport_certificate", "certificate_violated", "certificate", "EUC-IN-2025",
       ["PL-REEXPORT-F"], "goods of EUC-IN-2025 re-exported to the US")
    pl("restricted_receiver", "prohibited_end_use", "party", "IN-EDD-01",
       ["PL-RESTRICTED-F"], "100 kg of magnets to a restricted drone maker")
    pl("restricted_name_variant", "restricted_party", "party", "IN-EDD-01",
       ["IN-EDD-01", "MEU-0001"], "party name is a variant of a restricted-list entry")
    pl("military_contract_receiver", "prohibited_end_use", "party", "IN-DRN-01",
       ["PL-DRONE-F", "PL-O-MIL"], "40 traction motors to a party with a military contract")
    pl("teardown", "prohibited_end_use", "party", "IN-DRN-01", ["PL-O-TEAR", "PL-DRONE-F"],
       "a teardown finds the motor lot; traced back to the declaration and EUC-IN-2025")
    pl("military_sale", "prohibited_end_use", "party", "KR-MOT-01", ["PL-MILSALE-F"],
       "12 traction motors (components, controlled) sold for a military use")
    pl("military_sale_certificate", "certificate_violated", "certificate", "EUC-KR-2025",
       ["PL-MILSALE-F"], "the seller's own civil-use-only certificate, broken by its sale")
    pl("restricted_supplier", "prohibited_end_use", "party", "IN-MOT-01",
       ["PL-RESTRICTED-F", "PL-DRONE-F"], "the certificate holder answers (contract 1.1 §5): "
       "it supplied the restricted party itself, and its buyer IN-ASM-01 the military one")
    pl("certificate_overdrawn", "certificate_violated", "certificate", "EUC-IN-2025",
       ["EUC-IN-2025"], "2025 shipments beyond the certificate's 80%-sized max_kg")
    pl("licence_overdrawn", "licence_violation", "licence", "L-JP-2025", ["L-JP-2025"],
       "licence sized at 85% of the year's shipments: the last ones exceed it")
    book.add("observations", obs_id="PL-O-MIL", date="2025-05-01", party_id="IN-DRN-01",
             kind="military_contract", ref=None, detail="supplier to the armed forces")
    book.add("observations", obs_id="PL-O-TEAR", date="2025-11-02", party_id="IN-DRN-01",
             kind="teardown", ref="PL-DRONE-F", detail="traction motor found in a seized drone")
    book.add("observations", obs_id="PL-O-SITE", date="2025-06-10", party_id="IN-MOT-01",
             kind="site_visit_favourable", ref="EUC-IN-2025", detail="line and stock as declared")
    # licence cases
    _ship(book, "PL-D-NOLIC", "2025-06-15", "CN-OX-01", "KR-MOT-01", "KR", 40.0, None, None,
          "dy_metal", "2805301200")
    add_stock(book, "KR-MOT-01", "2025-12-31", "dy_metal", 40.0)
    pl("no_licence", "licence_violation", "shipment", "PL-D-NOLIC", ["PL-D-NOLIC"],
       "40 kg of dysprosium metal exported with no licence after Announcement No. 18")
    _ship(book, "PL-D-UNKNOWN", "2025-08-09", "CN-MAG-01", "IN-MOT-01", "IN", 200.0,
          "L-IN-2025-X", "EUC-IN-2025")
    add_stock(book, "IN-MOT-01", "2025-12-31", "ndfeb_magnet", 200.0)
    pl("unknown_licence", "licence_violation", "shipment", "PL-D-UNKNOWN",
       ["PL-D-UNKNOWN", "L-IN-2025-X"], "declares a licence number that was never issued")
    _ship(book, "PL-D-EXPIRED", "2025-01-20", "CN-MAG-02", "JP-MOT-01", "JP", 150.0,
          "L-JP-2024", "EUC-JP-2024")
    add_stock(book, "JP-MOT-01", "2025-12-31", "ndfeb_magnet", 150.0)
    pl("expired_licence", "licence_violation", "shipment", "PL-D-EXPIRED",
       ["PL-D-EXPIRED", "L-JP-2024"], "ships in 2025 on the 2024 licence")
    pl("expired_certificate", "certificate_violated", "certificate", "EUC-JP-2024",
       ["PL-D-EXPIRED"], "shipment after the certificate's validUntil")
    _ship(book, "PL-D-CONSIGNEE", "2025-09-10", "CN-MAG-02", "DE-TRD-01", "DE", 400.0,
          "L-DE-2025", "EUC-DE-TRD-2025")
    add_stock(book, "DE-TRD-01", "2025-12-31", "ndfeb_magnet", 400.0)
    pl("other_consignee", "licence_violation", "shipment", "PL-D-CONSIGNEE",
       ["PL-D-CONSIGNEE", "L-DE-2025"], "ships to a trader, not the licensed consignee")
    # certificates
    forger = key_for(seed, "forger")
    trader = certificate("EUC-DE-TRD-2025", exporter="CN-MAG-02", importer="DE-TRD-01",
                         end_user="DE-TRD-01", country="DE", year=2025, max_kg=500,
                         use="ev_motor", description="motors", site="Duisburg",
                         authority="DE-GOV")
    book.certificates.append(sign(trader, forger, created="2025-09-01T09:00:00Z"))
    pl("trader_without_address", "red_flag", "certificate", "EUC-DE-TRD-2025",
       ["EUC-DE-TRD-2025"], "the trader's certificate names an end user with no address on "
       "record (little business background): a low red flag, the address is optional (§7)")
    pl("unknown_key", "certificate_forged", "certificate", "EUC-DE-TRD-2025",
       ["EUC-DE-TRD-2025"], "signed with a key that is in no trust registry")
    for doc in book.certificates:
        if doc["credentialSubject"]["certificate_id"] == "EUC-KR-2025":
            doc["credentialSubject"]["items"][0]["max_kg"] = str(
                int(doc["credentialSubject"]["items"][0]["max_kg"]) * 2)
    pl("altered_after_signing", "certificate_forged", "certificate", "EUC-KR-2025",
       ["EUC-KR-2025"], "max_kg doubled after both parties signed")
    edd = key_for(seed, "IN-EDD-01")
    register_key(book, edd, "IN-EDD-01")
    twin = certificate("EUC-IN-2025", exporter="CN-MAG-01", importer="IN-EDD-01",
                       end_user="IN-EDD-01", country="IN", year=2025, max_kg=2000,
                       use="consumer_electronics", description="speakers", site="Bengaluru",
                       authority=None)
    book.certificates.append(sign(twin, edd, created="2025-02-01T09:00:00Z"))
    pl("number_reused_twin_incomplete", "certificate_incomplete", "certificate",
       "EUC-IN-2025", ["EUC-IN-2025"], "the forged twin also lacks the authority endorsement "
       "a heavy rare-earth item needs")
    pl("number_reused", "certificate_forged", "certificate", "EUC-IN-2025",
       ["EUC-IN-2025", "IN-EDD-01", "IN-MOT-01"], "a second certificate under the same number "
       "by another party")
    book.add("revocations", certificate_id="EUC-JP-2024", date="2024-11-15",
             reason="end user reported the original lost")
    pl("revoked_certificate", "certificate_forged", "certificate", "EUC-JP-2024",
       ["EUC-JP-2024"], "presented after its revocation")
    vanishing_importer(book, rng, seed, share=0.40, record=False, paper_letter=True)
    pl("paper_letter_incomplete", "certificate_incomplete", "certificate", "EUC-VN-2025",
       ["EUC-VN-2025"], "transcribed letter without contract reference, signatory's title, "
       "no-re-export commitment or endorsement")
    book.add("trade_stats", reporter="VN", partner="US", flow="export", hs_code="850511",
             period="2025", net_kg=1500)
    book.add("trade_stats", reporter="VN", partner=None, flow="production", hs_code="850511",
             period="2025", net_kg=0)
    pl("mirror_reexport", "unauthorised_reexport", "country", "VN",
       ["trade_stats:VN:850511:2025"], "VN reports magnet exports with no own production")
    book.add("observations", obs_id="PL-O-UNRESP", date="2025-09-01", party_id="VN-IMP-01",
             kind="unresponsive", ref="EUC-VN-2025", detail="no answer to a verification request")
    capacity_growth(book, rng, seed, record=False, revoked_key=True)
    pl("revoked_key", "certificate_forged", "certificate", "EUC-KRS-2025", ["EUC-KRS-2025"],
       "signed on 2025-04-01 with a key revoked on 2025-03-01")
    for app_id, d, con, kg, cert in (
        ("APP-0001", "2026-01-10", "JP-MOT-01", 600, "EUC-JP-2024"),
        ("APP-0002", "2026-01-12", "VN-IMP-01", 900, "EUC-VN-2025"),
        ("APP-0003", "2026-01-15", "DE-TRD-01", 500, "EUC-DE-TRD-2025"),
        ("APP-0004", "2026-01-20", "KR-SEMI-01", 9000, "EUC-KRS-2025"),
    ):
        book.add("applications", application_id=app_id, date=d,
                 exporter_id="CN-MAG-01" if con in ("VN-IMP-01",) else "CN-MAG-02",
                 consignee_id=con, end_user_id=con, destination=con[:2], product="ndfeb_magnet",
                 kg=kg, certificate_id=cert)
