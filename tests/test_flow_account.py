"""The flow account (contract 1.1 §1-3) on reduced tables, with hand arithmetic: each party
divides what it received in the period among what it did in the period; stock change is
signed; ends add up to the release exactly; the self-check can fail."""

from __future__ import annotations

import pandas as pd
import pytest

from rareflow.analyses.flow_account import attribute, cohort, consistency
from rareflow.vocabulary import CATEGORIES


def _edges(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["period", "from_id", "target", "content_kg"])


def _bal(rows: list[tuple]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["period", "party_id", "received_kg", "stock_change_kg",
                                     "scrap_kg", "unaccounted_kg"])
    return df.assign(unaccounted_sd_kg=0.01 * df.received_kg)


def _src(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["destination", "period", "node", "content_kg"])


def _row(att: pd.DataFrame, period: str) -> pd.Series:
    return att.set_index("period").loc[period]


def test_drawdown_gives_negative_stock_and_use_above_one() -> None:
    # case 04 in reduced form: 2025: 300 in, 240 sold, +60 stocked; 2026: 150 in, 180 sold,
    # stock down 30
    edges = _edges([("2025", "M", "verified_use", 240.0), ("2026", "M", "verified_use", 180.0)])
    bal = _bal([("2025", "M", 300.0, 60.0, 0.0, 0.0), ("2026", "M", 150.0, -30.0, 0.0, 0.0)])
    att, _ = attribute(edges, bal, _src([("IN", "2025", "M", 300.0),
                                          ("IN", "2026", "M", 150.0)]), set())
    a25, a26 = _row(att, "2025"), _row(att, "2026")
    assert (a25.verified_use_share, a25.in_stock_share) == pytest.approx((0.8, 0.2))
    assert (a26.verified_use_share, a26.in_stock_share) == pytest.approx((1.2, -0.2))
    assert a26.unaccounted_kg == pytest.approx(0.0, abs=1e-9)
    for a in (a25, a26):
        assert sum(a[f"{c}_share"] for c in CATEGORIES) == pytest.approx(1.0)


def test_drawdown_passed_on_to_the_next_tier() -> None:
    # importer I: 150 in, 180 to maker M, stock -30; M: 180 in, sells 180
    edges = _edges([("2026", "I", "M", 180.0), ("2026", "M", "verified_use", 180.0)])
    bal = _bal([("2026", "I", 150.0, -30.0, 0.0, 0.0), ("2026", "M", 180.0, 0.0, 0.0, 0.0)])
    att, reached = attribute(edges, bal, _src([("IN", "2026", "I", 150.0)]), set())
    a = _row(att, "2026")
    assert a.verified_use_kg == pytest.approx(180.0)
    assert a.in_stock_kg == pytest.approx(-30.0)
    assert set(reached.party_id) == {"I", "M"}


def test_recycling_cycle_neither_loses_nor_double_counts() -> None:
    # P: 300 from customs + 60 back from recycler R; 60 to R, 300 sold. R: 60 in, 60 to P.
    edges = _edges([("2025", "P", "R", 60.0), ("2025", "P", "verified_use", 300.0),
                    ("2025", "R", "P", 60.0)])
    bal = _bal([("2025", "P", 360.0, 0.0, 0.0, 0.0), ("2025", "R", 60.0, 0.0, 0.0, 0.0)])
    att, _ = attribute(edges, bal, _src([("IN", "2025", "P", 300.0)]), set())
    a = _row(att, "2025")
    assert a.verified_use_kg == pytest.approx(300.0)
    assert a.unaccounted_kg == pytest.approx(0.0, abs=1e-9)


def test_mixed_origin_is_shared_in_proportion() -> None:
    # M gets 300 from the controlling country and 100 from elsewhere; sells 200, 200 missing
    edges = _edges([("2025", "M", "verified_use", 200.0)])
    bal = _bal([("2025", "M", 400.0, 0.0, 0.0, 200.0)])
    att, _ = attribute(edges, bal, _src([("IN", "2025", "M", 300.0)]), set())
    a = _row(att, "2025")
    assert a.verified_use_kg == pytest.approx(150.0)
    assert a.unaccounted_kg == pytest.approx(150.0)
    # M's residual sd (4 kg) in proportion to the release's part of its receipts (300/400)
    assert a.unaccounted_sd_kg == pytest.approx(3.0)


def test_documented_scrap_and_prohibited_receiver() -> None:
    # M: 300 in; 240 to military party X (an end), 60 process scrap
    edges = _edges([("2025", "M", "X", 240.0)])
    bal = _bal([("2025", "M", 300.0, 0.0, 60.0, 0.0), ("2025", "X", 240.0, 0.0, 0.0, 240.0)])
    att, _ = attribute(edges, bal, _src([("IN", "2025", "M", 300.0)]), {"X"})
    a = _row(att, "2025")
    assert (a.verified_use_kg, a.prohibited_use_kg) == pytest.approx((60.0, 240.0))


def test_a_party_without_receipts_passes_nothing_on() -> None:
    # 2024 release sits with A (no stock report); A sells in 2025 from what it had
    edges = _edges([("2025", "A", "verified_use", 100.0)])
    bal = _bal([("2024", "A", 100.0, 0.0, 0.0, 100.0), ("2025", "A", 0.0, 0.0, 0.0, -100.0)])
    src = _src([("IN", "2024", "A", 100.0)])
    att, _ = attribute(edges, bal, src, set())
    assert _row(att, "2024").unaccounted_share == pytest.approx(1.0)
    # the cohort view follows the 2024 release to its 2025 sale
    coh = cohort(edges, bal, src, set())
    assert _row(coh, "2024").verified_use_share == pytest.approx(1.0)


def test_self_check_passes_and_can_fail() -> None:
    edges = _edges([("2025", "M", "verified_use", 200.0)])
    bal = _bal([("2025", "M", 400.0, 0.0, 0.0, 200.0)])
    att, reached = attribute(edges, bal, _src([("IN", "2025", "M", 300.0)]), set())
    assert consistency(att, reached, bal).ok.all()
    broken = att.assign(unaccounted_kg=att.unaccounted_kg + 250.0)  # beyond 200 + 3 x 4 kg
    assert not consistency(broken, reached, bal).ok.any()


def test_cli_shows_a_failed_self_check_loudly(capsys) -> None:
    from rareflow.cli import dataset

    checks = pd.DataFrame([("IN", "2025", 250.0, 200.0, 4.0, False),
                           ("VN", "2025", 0.0, 0.0, 0.0, True)],
                          columns=["destination", "period", "attribution_unaccounted_kg",
                                   "balances_unaccounted_kg", "balances_sd_kg", "ok"])
    dataset._print_self_check(checks)
    text = " ".join(capsys.readouterr().err.split())
    assert "SELF-CHECK FAILED for 1 destination-year(s)" in text
    assert "IN 2025: attribution 250.0 kg, balances 200.0 ± 4.0 kg" in text
    dataset._print_self_check(checks[checks.ok])
    assert "self-check passed" in " ".join(capsys.readouterr().out.split())
