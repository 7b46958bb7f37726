"""Country-level `unauthorised_reexport` seen only in statistics (contract §6), expected
values worked out by hand."""

from __future__ import annotations

import dataclasses
import math

import pandas as pd
import pytest

from rareflow.analyses.reexport_statistics import (
    StatisticsReexportSettings,
    hs6,
    statistics_reexport_findings,
)

PRODUCTS = pd.DataFrame([
    ("re_oxide", "2846901993", "material"),
    ("ndfeb_magnet", "850511", "material"),
    ("magnet_scrap", "850511", "material"),
    ("industrial_motor", "850152", "component"),
    ("e_scooter", "871160", "final"),
], columns=["product", "hs_code", "kind"])

NO_FLOWS = pd.DataFrame(columns=["flow_id", "from_id", "from_country", "dest_country",
                                 "product", "date", "net_kg", "content_kg"])


def stats(*rows) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=["reporter", "partner", "flow", "hs_code",
                                             "period", "net_kg"])


def ships(*rows) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=["declaration_id", "destination", "product",
                                             "hs_code", "net_kg", "date", "committed"])


def flows(*rows) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=["flow_id", "from_id", "from_country",
                                             "dest_country", "product", "date", "net_kg",
                                             "content_kg"])


# conformance case 11, as the lead pulls it from the engine
CASE11_STATS = stats(
    ("CN", "IN", "export", "284690", "2025", 500),
    ("CN", "VN", "export", "284690", "2025", 1000),
    ("IN", None, "production", "284690", "2025", 1000),
    ("IN", "JP", "export", "284690", "2025", 800),
    ("VN", None, "production", "284690", "2025", 200),
    ("VN", "US", "export", "284690", "2025", 700),
)
CASE11_SHIPS = ships(
    ("D-001", "IN", "re_oxide", "2846901993", 500, "2025-05-06", True),
    ("D-002", "VN", "re_oxide", "2846901993", 1000, "2025-05-08", True),
)


def by_country(findings) -> dict[str, object]:
    assert all(f.rule == "unauthorised_reexport" and f.subject_type == "country"
               for f in findings)
    return {f.subject_id: f for f in findings}


def test_case_11_viet_nam_flagged_india_not() -> None:
    found = by_country(statistics_reexport_findings(CASE11_STATS, NO_FLOWS, CASE11_SHIPS,
                                                    PRODUCTS))
    assert set(found) == {"VN"}  # IN: 800 exported < 1,000 produced; CN is no destination
    vn = found["VN"]
    # exports 700 ± 35 (5%), production 200 ± 10: excess 500 ± sqrt(35² + 10²) = 36.4 kg,
    # 13.7 sd; capped by the 1,000 kg imported under no_reexport: 500 kg, half of it
    assert vn.severity == "medium"
    assert vn.period == "2025"
    assert vn.kg == pytest.approx(500.0)
    assert vn.share == pytest.approx(0.5)
    assert "500 ± 36 kg" in vn.message and "700 ± 35 kg" in vn.message
    assert "200 ± 10 kg" in vn.message and "1,000 ± 10 kg" in vn.message
    assert "13.7 sd" in vn.message
    assert vn.evidence == ["trade_stats:VN:284690:2025", "trade_stats:VN:export:284690:2025",
                           "trade_stats:VN:production:284690:2025", "D-002"]


def test_excess_capped_by_committed_imports() -> None:
    # exports 1,000 ± 50, no production row (0): excess 1,000; only 300 came in committed,
    # the uncommitted 2,000 kg do not count
    found = by_country(statistics_reexport_findings(
        stats(("VN", "US", "export", "850511", "2025", 1000)), NO_FLOWS,
        ships(("D-1", "VN", "ndfeb_magnet", "8505111000", 300, "2025-02-01", True),
              ("D-2", "VN", "ndfeb_magnet", "8505111000", 2000, "2025-03-01", False)),
        PRODUCTS))
    vn = found["VN"]
    assert vn.kg == pytest.approx(300.0)
    assert vn.share == pytest.approx(1.0)
    assert "300 ± 3 kg of them left again" in vn.message
    assert "D-1" in vn.evidence and "D-2" not in vn.evidence


def test_measurement_noise_does_not_flag() -> None:
    # exports 1,030 ± 51.5 against 1,000 ± 50 produced: excess 30 ± 71.8, 0.4 sd
    found = statistics_reexport_findings(
        stats(("VN", None, "production", "284690", "2025", 1000),
              ("VN", "US", "export", "284690", "2025", 1030)), NO_FLOWS,
        ships(("D-1", "VN", "re_oxide", "2846901993", 1000, "2025-05-08", True)), PRODUCTS)
    assert found == []


def test_excess_within_three_sd_does_not_flag() -> None:
    # exports 2,000 ± 100, production 1,700 ± 85: excess 300 ± 131.2 = 2.3 sd < 3
    found = statistics_reexport_findings(
        stats(("VN", None, "production", "284690", "2025", 1700),
              ("VN", "US", "export", "284690", "2025", 2000)), NO_FLOWS,
        ships(("D-1", "VN", "re_oxide", "2846901993", 1000, "2025-05-08", True)), PRODUCTS)
    assert found == []
    # a looser setting (2 sd) lets it through
    loose = StatisticsReexportSettings(k_sigma=2.0)
    found = statistics_reexport_findings(
        stats(("VN", None, "production", "284690", "2025", 1700),
              ("VN", "US", "export", "284690", "2025", 2000)), NO_FLOWS,
        ships(("D-1", "VN", "re_oxide", "2846901993", 1000, "2025-05-08", True)), PRODUCTS,
        loose)
    assert [f.kg for f in found] == [pytest.approx(300.0)]


def test_production_equal_to_exports_is_no_reexport() -> None:
    found = statistics_reexport_findings(
        stats(("IN", None, "production", "284690", "2025", 800),
              ("IN", "JP", "export", "284690", "2025", 800)), NO_FLOWS,
        ships(("D-1", "IN", "re_oxide", "2846901993", 500, "2025-05-06", True)), PRODUCTS)
    assert found == []


def test_no_committed_imports_no_finding() -> None:
    found = statistics_reexport_findings(
        CASE11_STATS, NO_FLOWS, CASE11_SHIPS.assign(committed=False), PRODUCTS)
    assert found == []


def test_no_statistics_no_finding() -> None:
    leaving = flows(("F-1", "VN-IMP-01", "VN", "US", "re_oxide", "2025-06-01", 700, 560))
    assert statistics_reexport_findings(stats(), leaving, CASE11_SHIPS, PRODUCTS) == []


def test_mirror_imports_larger_than_own_statistics() -> None:
    # VN says 300 kg went out; the US and JP say they received 600 + 300 from VN:
    # exports 900 ± 45, production 100 ± 5: excess 800 ± 45.3; committed 1,000
    found = by_country(statistics_reexport_findings(
        stats(("VN", "US", "export", "284690", "2025", 300),
              ("VN", None, "production", "284690", "2025", 100),
              ("US", "VN", "import", "284690", "2025", 600),
              ("JP", "VN", "import", "284690", "2025-03", 200),
              ("JP", "VN", "import", "284690", "2025-09", 100)),
        NO_FLOWS, CASE11_SHIPS, PRODUCTS))
    vn = found["VN"]
    assert vn.kg == pytest.approx(800.0)
    assert "900 ± 45 kg" in vn.message and "800 ± 45 kg" in vn.message
    assert "trade_stats:US:import-from-VN:284690:2025" in vn.evidence
    assert "trade_stats:JP:import-from-VN:284690:2025" in vn.evidence
    assert set(found) == {"VN"}


def test_mirror_imports_of_another_country() -> None:
    # JP received 5,000 kg from IN; IN produced 1,000 ± 50 and imported 500 committed:
    # excess 4,000 ± 254.9, capped at 500 ± 5
    found = by_country(statistics_reexport_findings(
        stats(("IN", None, "production", "284690", "2025", 1000),
              ("JP", "IN", "import", "284690", "2025", 5000)),
        NO_FLOWS, CASE11_SHIPS, PRODUCTS))
    assert set(found) == {"IN"}
    assert found["IN"].kg == pytest.approx(500.0)
    assert "500 ± 5 kg of them left again" in found["IN"].message


def test_documented_flows_in_net_kg_per_heading() -> None:
    # documented: 300 kg of magnets + 100 kg of scrap leave IN (both HS 8505.11); the
    # scooters are final goods, the flow inside IN is no export, the motors have no net_kg
    leaving = flows(
        ("F-1", "IN-MOT-01", "IN", "US", "ndfeb_magnet", "2025-06-01", 300, 93),
        ("F-2", "IN-REC-01", "IN", "DE", "magnet_scrap", "2025-07-01", 100, 31),
        ("F-3", "IN-SCO-01", "IN", "AE", "e_scooter", "2025-07-01", 5000, 600),
        ("F-4", "IN-MOT-01", "IN", "IN", "ndfeb_magnet", "2025-07-01", 900, 279),
        ("F-5", "IN-MOT-01", "IN", "US", "industrial_motor", "2025-07-01", None, 30),
    )
    shipments = ships(
        ("D-1", "IN", "ndfeb_magnet", None, 2000, "2025-02-01", True),   # heading via product
        ("D-2", "IN", "industrial_motor", "8501520000", 50, "2025-02-01", True),
    )
    # own statistics say 200 kg (less than documented); production 0 (no row)
    found = statistics_reexport_findings(
        stats(("IN", "US", "export", "850511", "2025", 200)), leaving, shipments, PRODUCTS)
    assert len(found) == 1
    f = found[0]
    # exports = documented 400 ± 4 (1%): excess 400 ± 4, 100 sd; committed 2,000
    assert (f.subject_id, f.period, f.severity) == ("IN", "2025", "medium")
    assert f.kg == pytest.approx(400.0)
    assert f.share == pytest.approx(0.2)
    assert "400 ± 4 kg" in f.message and "documented flows 400 kg" in f.message
    assert {"F-1", "F-2", "IN-MOT-01", "IN-REC-01", "D-1"} <= set(f.evidence)
    assert not {"F-3", "F-4", "F-5", "IN-SCO-01", "D-2"} & set(f.evidence)


def test_small_excess_is_low() -> None:
    # exports 40 ± 2, production 0: excess 40 kg, 20 sd, but under the 50 kg material size
    found = statistics_reexport_findings(
        stats(("VN", "US", "export", "284690", "2025", 40)), NO_FLOWS, CASE11_SHIPS,
        PRODUCTS)
    assert [(f.severity, f.kg) for f in found] == [("low", pytest.approx(40.0))]


def test_years_kept_apart() -> None:
    # 2024 imports do not cover 2025 exports, 2025 imports do not cover 2024 exports
    shipments = ships(("D-1", "VN", "re_oxide", "2846901993", 1000, "2024-05-08", True))
    assert statistics_reexport_findings(
        stats(("VN", "US", "export", "284690", "2025", 700)), NO_FLOWS, shipments,
        PRODUCTS) == []
    found = statistics_reexport_findings(
        stats(("VN", "US", "export", "284690", "2024", 700)), NO_FLOWS, shipments, PRODUCTS)
    assert [(f.period, f.kg) for f in found] == [("2024", pytest.approx(700.0))]


def test_content_estimate_in_message() -> None:
    shipments = CASE11_SHIPS.assign(content_kg=[400.0, 800.0])
    (vn,) = statistics_reexport_findings(CASE11_STATS, NO_FLOWS, shipments, PRODUCTS)
    assert "about 400 kg of rare-earth content" in vn.message


def test_settings_are_frozen_and_hs6() -> None:
    s = StatisticsReexportSettings()
    assert (s.statistics_rsd, s.customs_rsd, s.k_sigma, s.min_kg) == (0.05, 0.01, 3.0, 50.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.min_kg = 1  # type: ignore[misc]
    assert [hs6(c) for c in ("2846.90", "2846901993", 284690, 284690.0, None, "28",
                             math.nan)] == ["284690", "284690", "284690", "284690", None,
                                            None, None]


def test_flows_may_be_absent() -> None:
    for leaving in (None, pd.DataFrame()):
        (vn,) = statistics_reexport_findings(CASE11_STATS, leaving, CASE11_SHIPS, PRODUCTS)
        assert vn.kg == pytest.approx(500.0)


def test_engine_groups_give_the_same_finding_as_records() -> None:
    """The rule sums committed shipments and leaving flows per country, product, code and
    year in the engine and keeps the first ids of each group as evidence: the finding (kg,
    evidence, message with its counts) is the one the records themselves give. 120
    declarations to VN under two spellings of heading 2846.90, 70 flows by 7 senders."""
    import ibis

    from rareflow.analyses.rules.unauthorised_reexport import grouped

    class Pulls:  # what `grouped` needs of the flow model: results into Python
        def __init__(self) -> None:
            self.con = ibis.duckdb.connect()

        def pull(self, expr):
            return self.con.to_pandas(expr)

    rows = [(f"D-{i:03d}", "VN", "re_oxide", "2846901993" if i % 2 else "284690", 10.0,
             f"2025-{1 + i % 12:02d}-01", True) for i in range(120)]
    records = ships(*rows).assign(content_kg=5.0)
    leaving = flows(*[(f"F-{i:03d}", f"VN-S{i % 7}", "VN", "US", "re_oxide",
                       f"2025-{1 + i % 12:02d}-03", 20.0, 10.0) for i in range(70)])
    stats_ = stats(("VN", None, "production", "284690", "2025", 100))
    m = Pulls()
    ship_t = ibis.memtable(records.assign(date=pd.to_datetime(records.date)))
    flow_t = ibis.memtable(leaving.assign(date=pd.to_datetime(leaving.date)))
    limit = StatisticsReexportSettings().max_evidence
    g_ships = grouped(m, ship_t, ["destination", "product", "hs_code", "date"],
                      ["net_kg", "content_kg"], {"declaration_ids": "declaration_id"},
                      limit).assign(committed=True)
    g_flows = grouped(m, flow_t, ["from_country", "dest_country", "product", "date"],
                      ["net_kg"], {"flow_ids": "flow_id", "from_ids": "from_id"}, limit)
    assert len(g_ships) == 2 and int(g_ships.n.sum()) == 120  # 2 codes x 1 year

    (by_records,) = statistics_reexport_findings(stats_, leaving, records, PRODUCTS)
    (by_groups,) = statistics_reexport_findings(stats_, g_flows, g_ships, PRODUCTS)
    # exports: documented flows 1,400 kg; production 100; excess 1,300; committed 1,200
    assert by_groups.kg == by_records.kg == 1200.0
    assert by_groups.evidence == by_records.evidence
    assert by_groups.message == by_records.message
    assert "120 declaration(s), 70 not listed" in by_groups.message
    assert "from VN-S0, VN-S1, VN-S2, VN-S3, VN-S4..." in by_groups.message
