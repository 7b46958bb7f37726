"""The one settings object (`rareflow.settings.Settings`): defaults, the environment
(`RAREFLOW_*`) over the defaults, a command-line option over the environment, and a bad
value as a clear one-line error with exit status 2, through the real CLI."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from conftest import EXAMPLE, example_subset
from rareflow.cli.main import app
from rareflow.errors import ConfigError
from rareflow.policy import default_policy, load_policy
from rareflow.settings import Settings, debug_requested

runner = CliRunner()
PACKAGED_POLICY = Path(__file__).resolve().parents[1] / "src" / "rareflow" / "data" / "policy.yaml"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No RAREFLOW_* variable of the calling shell leaks into a test."""
    for name in list(os.environ):
        if name.upper().startswith("RAREFLOW_"):
            monkeypatch.delenv(name)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    dst = tmp_path / "data"
    shutil.copytree(EXAMPLE, dst)
    return dst


@pytest.fixture
def small(tmp_path: Path) -> Path:
    """The example's required tables only (parties, shipments): for a test of where a
    setting comes from, not of what is found, a dataset that is cheap to ingest."""
    return example_subset(tmp_path / "data")


def run(*args: object, env: dict[str, str] | None = None):
    return runner.invoke(app, [str(a) for a in args], env=env)


def one_error_line(res, *needles: str) -> None:
    """Exit 2, one `error:` line on standard error naming every needle, no traceback."""
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = [x for x in res.stderr.splitlines() if x.startswith("error:")]
    assert len(lines) == 1, res.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


# --- defaults, environment, options ----------------------------------------------------------

def test_defaults() -> None:
    s = Settings.load()
    assert s.controlling_country == "CN"
    assert s.policy is None and s.load_policy() is default_policy()
    assert s.engine == "duckdb" and s.db is None and s.lock_wait == 0.0
    assert s.epcis_schemas is None and s.epcis_schema_dirs == ()
    assert s.debug is False and not debug_requested()
    assert s.model_fields_set == set()


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for name, value in {"CONTROLLING_COUNTRY": " vn ", "ENGINE": "Spark", "LOCK_WAIT": " 2.5 ",
                        "DB": str(tmp_path / "s.duckdb"), "POLICY": str(PACKAGED_POLICY),
                        "EPCIS_SCHEMAS": f"{a}{os.pathsep}{os.pathsep}{b}",
                        "DEBUG": "yes"}.items():
        monkeypatch.setenv(f"RAREFLOW_{name}", value)
    s = Settings.load()
    assert s.controlling_country == "VN"
    assert s.engine == "spark" and s.lock_wait == 2.5
    assert s.db == tmp_path / "s.duckdb" and s.policy == PACKAGED_POLICY
    assert s.epcis_schema_dirs == (a, b)
    assert s.debug is True and debug_requested()
    assert s.load_policy().source == str(PACKAGED_POLICY)


def test_an_empty_variable_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAREFLOW_LOCK_WAIT", "")
    monkeypatch.setenv("RAREFLOW_POLICY", "")
    s = Settings.load()
    assert s.lock_wait == 0.0 and s.policy is None


def test_an_option_overrides_the_environment(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    monkeypatch.setenv("RAREFLOW_DB", str(tmp_path / "env.duckdb"))
    monkeypatch.setenv("RAREFLOW_POLICY", str(tmp_path / "missing.yaml"))
    s = Settings.load(db=tmp_path / "opt.duckdb", policy=PACKAGED_POLICY)
    assert s.db == tmp_path / "opt.duckdb" and s.policy == PACKAGED_POLICY
    # None is "option not given": the environment stands
    s = Settings.load(db=None, policy=None)
    assert s.db == tmp_path / "env.duckdb" and s.policy == tmp_path / "missing.yaml"


def test_bad_values_name_the_variable_or_the_option(monkeypatch: pytest.MonkeyPatch) -> None:
    for value in ("soon", "-1", "nan", "inf"):
        monkeypatch.setenv("RAREFLOW_LOCK_WAIT", value)
        with pytest.raises(ConfigError, match=r"RAREFLOW_LOCK_WAIT=.*give a number of seconds"):
            Settings.load()
    monkeypatch.delenv("RAREFLOW_LOCK_WAIT")
    with pytest.raises(ConfigError, match=r"--lock-wait='soon'"):
        Settings.load(lock_wait="soon")
    with pytest.raises(ConfigError, match=r"--engine='oracle': one of duckdb, spark"):
        Settings.load(engine="oracle")
    monkeypatch.setenv("RAREFLOW_CONTROLLING_COUNTRY", "China")
    with pytest.raises(ConfigError, match="two-letter ISO 3166-1") as err:
        Settings.load()
    assert err.value.exit_code == 2 and err.value.detail["setting"] == "controlling_country"
    with pytest.raises(ConfigError, match="--colour: no such setting"):
        Settings.load(colour="red")


# --- detector parameters: the policy's analysis section --------------------------------------

@dataclass(frozen=True)
class ProbeSettings:
    SECTION: ClassVar[str] = "probe"
    controlling_country: str = "CN"
    min_kg: float = 50.0
    periods: tuple[str, ...] = ("year",)


class ModelSettings(BaseModel):
    z_critical: float = 3.0


def _policy_with(tmp_path: Path, analysis: str) -> Path:
    text = PACKAGED_POLICY.read_text("utf-8")
    head = text[: text.index("\nanalysis:")]
    path = tmp_path / "policy.yaml"
    path.write_text(head + "\nanalysis:\n" + analysis, "utf-8")
    return path


def test_detector_parameters_come_from_the_policy(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path = _policy_with(tmp_path, "  probe:\n    min_kg: '75'\n    periods: [month]\n"
                                  "  model:\n    z_critical: 2\n")
    s = Settings.load(policy=path)
    assert s.analysis["probe"]["periods"] == ["month"]
    assert s.detector(ProbeSettings) == ProbeSettings(min_kg=75.0, periods=("month",))
    assert s.detector(ModelSettings) == ModelSettings(z_critical=2.0)
    assert Settings.load().detector(ProbeSettings) == ProbeSettings()  # packaged: defaults
    # the controlling country of the settings, when given, reaches a detector that has one
    monkeypatch.setenv("RAREFLOW_CONTROLLING_COUNTRY", "in")
    assert Settings.load(policy=path).detector(ProbeSettings).controlling_country == "IN"


def test_a_bad_detector_parameter_is_a_config_error(tmp_path: Path) -> None:
    policy = load_policy(_policy_with(tmp_path, "  probe:\n    min_kg: lots\n"))
    with pytest.raises(ConfigError, match=r"analysis\.probe\.min_kg='lots'"):
        policy.settings(ProbeSettings)
    policy = load_policy(_policy_with(tmp_path, "  probe:\n    min_gk: 3\n"))
    with pytest.raises(ConfigError, match="has no setting min_gk"):
        policy.settings(ProbeSettings)
    policy = load_policy(_policy_with(tmp_path, "  probe: 3\n"))
    with pytest.raises(ConfigError, match="analysis.probe is not a mapping"):
        policy.settings(ProbeSettings)


# --- through the real CLI --------------------------------------------------------------------

def test_cli_option_over_environment_over_default(small: Path, tmp_path: Path) -> None:
    data = small
    env_db, opt_db = tmp_path / "env.duckdb", tmp_path / "opt.duckdb"
    res = run("ingest", data, "--db", opt_db, env={"RAREFLOW_DB": str(env_db)})
    assert res.exit_code == 0, res.output
    assert opt_db.exists() and not env_db.exists()
    res = run("ingest", data, env={"RAREFLOW_DB": str(env_db)})
    assert res.exit_code == 0, res.output
    assert env_db.exists() and not (data / "rareflow.duckdb").exists()
    res = run("ingest", data)
    assert res.exit_code == 0, res.output
    assert (data / "rareflow.duckdb").exists()


def test_cli_policy_option_over_a_broken_environment(small: Path, tmp_path: Path) -> None:
    data = small
    env = {"RAREFLOW_POLICY": str(tmp_path / "missing.yaml")}
    res = run("analyze", data, "--out", tmp_path / "out", "--db", tmp_path / "s.duckdb",
              env=env)
    one_error_line(res, "cannot read policy", "missing.yaml")
    assert not (tmp_path / "s.duckdb").exists()  # the policy is read before the store opens
    res = run("analyze", data, "--out", tmp_path / "out", "--db", tmp_path / "s.duckdb",
              "--policy", PACKAGED_POLICY, env=env)
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize(("variable", "value", "command", "needles"), [
    ("RAREFLOW_LOCK_WAIT", "soon", "validate", ("RAREFLOW_LOCK_WAIT='soon'", "seconds")),
    ("RAREFLOW_LOCK_WAIT", "-3", "ingest", ("RAREFLOW_LOCK_WAIT='-3'",)),
    ("RAREFLOW_ENGINE", "oracle", "ingest", ("RAREFLOW_ENGINE='oracle'", "duckdb, spark")),
    ("RAREFLOW_CONTROLLING_COUNTRY", "China", "analyze", ("two-letter",)),
])
def test_cli_bad_setting_exits_two(variable: str, value: str, command: str,
                                   needles: tuple[str, ...], data: Path, tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    args = {"validate": (data,), "ingest": (data, "--db", db),
            "analyze": (data, "--db", db, "--out", tmp_path / "out"),
            "assess": (data, "--db", db, "--out", tmp_path / "out")}[command]
    res = run(command, *args, env={variable: value})
    one_error_line(res, *needles)
    assert not db.exists()  # refused before any work


def test_cli_bad_detector_parameter_exits_two(small: Path, tmp_path: Path) -> None:
    data = small  # the unaccounted_material rule needs only shipments: it runs on it
    policy = _policy_with(tmp_path, "  unaccounted:\n    min_kg: lots\n")
    res = run("analyze", data, "--out", tmp_path / "out", "--db", tmp_path / "s.duckdb",
              "--policy", policy)
    one_error_line(res, f"policy {policy}", "analysis.unaccounted.min_kg='lots'")


def test_controlling_country_reaches_the_flow_account(data: Path, tmp_path: Path) -> None:
    """The attribution follows the controlling country's exports: the example's exporters
    are in CN, so with VN in control no release is attributed (and nothing is refused)."""
    import pandas as pd

    rows = {}
    for country in ("CN", "VN"):
        out = tmp_path / country
        res = run("analyze", data, "--db", tmp_path / f"{country}.duckdb", "--out", out,
                  env={"RAREFLOW_CONTROLLING_COUNTRY": country})
        assert res.exit_code in (0, 1), res.output
        rows[country] = len(pd.read_csv(out / "attribution.csv"))
    assert rows["CN"] > 0 and rows["VN"] == 0
