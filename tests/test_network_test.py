"""Each period's balance network as a reconciliation problem: residuals equal the balances'
unaccounted, a shared flow is one measurement in two balances, the global test separates a
world with a vanishing importer from a clean one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import Worlds
from rareflow.analyses.balance_network import OUTSIDE, period_tests


def test_shared_flow_is_one_measurement() -> None:
    # A receives 100 (var 1) from outside, sends 90 to B (var 4); B sells 90 (var 9).
    streams = pd.DataFrame({
        "period": ["2025"] * 3, "src": [OUTSIDE, "A", "B"], "dst": ["A", "B", OUTSIDE],
        "kind": ["customs", "flow", "flow"], "kg": [100.0, 90.0, 90.0],
        "var": [1.0, 4.0, 9.0]})
    nodes, glob = period_tests(streams)
    a = nodes.set_index("party_id")
    assert a.loc["A", "residual_kg"] == pytest.approx(10.0)
    assert a.loc["B", "residual_kg"] == pytest.approx(0.0)
    assert a.loc["A", "residual_sd_kg"] == pytest.approx(np.sqrt(5.0))
    assert a.loc["B", "residual_sd_kg"] == pytest.approx(np.sqrt(13.0))
    # global: r' (A V A')^-1 r with the covariance -4 between the two balances
    m = np.array([[5.0, -4.0], [-4.0, 13.0]])
    r = np.array([10.0, 0.0])
    assert glob.statistic.iloc[0] == pytest.approx(r @ np.linalg.solve(m, r))
    assert glob.dof.iloc[0] == 2
    assert bool(glob.gross_error.iloc[0])


@pytest.fixture(scope="module")
def results(worlds: Worlds) -> dict:
    """The clean and unverified37 worlds, analysed once per test process (conftest.worlds,
    shared with tests/test_world.py)."""
    return {scenario: worlds.get(scenario).result for scenario in ("clean", "unverified37")}


def test_clean_world_passes_the_global_test(results) -> None:
    g = results["clean"].reconciliation
    assert len(g) == 2 and not g.gross_error.any()
    b = results["clean"].balances
    assert (b.nodal_z.abs() < 3).all()


def test_vanishing_importer_fails_the_global_and_its_nodal_test(results) -> None:
    r = results["unverified37"]
    g = r.reconciliation.set_index("period")
    assert bool(g.loc["2025", "gross_error"]) and not bool(g.loc["2024", "gross_error"])
    b = r.balances.set_index(["party_id", "period"])
    assert b.loc[("VN-IMP-01", "2025"), "nodal_z"] > 10
    others = r.balances[r.balances.party_id != "VN-IMP-01"]
    assert (others.nodal_z.abs() < 3).all()
