"""The one settings object: where the controlling country, the policy, the schema folders,
the detector parameters and the engine options are read, and in which order.

Each value is, first found wins:

1. a command-line option (`--db`, `--policy`: `Settings.load(db=..., policy=...)`),
2. the environment variable `RAREFLOW_<NAME>` (`RAREFLOW_LOCK_WAIT=30`),
3. the default below.

The detector parameters are the policy file's `analysis:` section (`Settings.detector`),
over the defaults of each detector's settings class. A bad value is a `ConfigError` (exit
status 2) that names the option or the variable, the value and what is expected: never a
pydantic traceback.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from rareflow.errors import ConfigError

if TYPE_CHECKING:
    from rareflow.policy import Policy
    from rareflow.store import Store

T = TypeVar("T")

ENV_PREFIX = "RAREFLOW_"
ENGINES = ("duckdb", "spark")
TRUE = frozenset({"1", "true", "yes", "on", "y", "t"})


class Settings(BaseSettings):
    """Everything a run of rareflow can be told, with its defaults (see the module)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True,
                                      extra="forbid", frozen=True)

    controlling_country: str = "CN"
    """ISO 3166-1 alpha-2 code of the country whose exports are controlled (upper-cased)."""
    policy: Path | None = None
    """Policy YAML; None: the one rareflow ships (`rareflow/data/policy.yaml`)."""
    epcis_schemas: str | None = None
    """Folder(s) holding the GS1 EPCIS schemas, joined by `os.pathsep` (`epcis_schema_dirs`)."""
    engine: Literal["duckdb", "spark"] = "duckdb"
    """The store's engine: duckdb (one file, the default) or spark (a local session)."""
    db: Path | None = None
    """The store file; None: each command's own default (DIR/rareflow.duckdb)."""
    lock_wait: float = 0.0
    """Seconds to wait for a store file another process holds (0: fail at once, exit 3)."""
    debug: bool = False
    """Print the traceback of an internal error (a bug) on standard error."""

    # --- validation: each message says what is expected ---------------------------------
    @field_validator("controlling_country", mode="before")
    @classmethod
    def _country(cls, value: Any) -> Any:
        text = str(value).strip().upper()
        if not re.fullmatch(r"[A-Z]{2}", text):
            raise ValueError("give a two-letter ISO 3166-1 country code, such as CN")
        return text

    @field_validator("engine", mode="before")
    @classmethod
    def _engine(cls, value: Any) -> Any:
        text = str(value).strip().lower()
        if text not in ENGINES:
            raise ValueError(f"one of {', '.join(ENGINES)}")
        return text

    @field_validator("lock_wait", mode="before")
    @classmethod
    def _lock_wait(cls, value: Any) -> float:
        try:
            seconds = float(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            seconds = -1.0
        if not 0 <= seconds < math.inf:  # also refuses nan
            raise ValueError("give a number of seconds (0 or more)")
        return seconds

    @field_validator("debug", mode="before")
    @classmethod
    def _debug(cls, value: Any) -> Any:
        if isinstance(value, str):
            return value.strip().lower() in TRUE
        return value

    @field_validator("policy", "db", mode="before")
    @classmethod
    def _path(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            return Path(value).expanduser() if value else None
        return value

    # --- reading ------------------------------------------------------------------------
    @classmethod
    def load(cls, **options: Any) -> Settings:
        """The settings of one run: `options` (command-line values; None means "not given")
        over the environment over the defaults. A bad value is a ConfigError naming the
        option (`--lock-wait`) or the variable (`RAREFLOW_LOCK_WAIT`)."""
        given = {k: v for k, v in options.items() if v is not None}
        try:
            return cls(**given)
        except ValidationError as exc:
            raise ConfigError(_describe(exc, given), setting=_first_field(exc)) from None
        except SettingsError as exc:  # a value the environment source could not decode
            raise ConfigError(f"settings: {exc}") from None

    @property
    def epcis_schema_dirs(self) -> tuple[Path, ...]:
        """The EPCIS schema folders (`RAREFLOW_EPCIS_SCHEMAS`, split on `os.pathsep`)."""
        value = (self.epcis_schemas or "").strip()
        return tuple(Path(p).expanduser() for p in value.split(os.pathsep) if p)

    @cached_property
    def _policy(self) -> Policy:
        from rareflow.policy import load_policy

        return load_policy(self.policy)

    def load_policy(self) -> Policy:
        """The policy in force (read once per Settings; ConfigError when it cannot be)."""
        return self._policy

    @property
    def analysis(self) -> dict:
        """The detector parameters as written: the policy's `analysis:` section."""
        return self.load_policy().analysis

    def detector(self, cls: type[T]) -> T:
        """A detector's settings (`cls`: a dataclass or pydantic model): the policy's
        `analysis.<section>` over the class defaults, and the controlling country of these
        settings when it was given (option or environment) and the class has that field."""
        found = self.load_policy().settings(cls)
        if "controlling_country" in self.model_fields_set and _has_field(
                cls, "controlling_country"):
            found = _replace(found, controlling_country=self.controlling_country)
        return found

    def open_store(self, path: str | Path | None) -> Store:
        """The store of this run's engine: the DuckDB file `path` (None: in memory), waiting
        up to `lock_wait` seconds for a file another process holds; or a Spark session."""
        from rareflow.store import open_store

        return open_store(path, engine=self.engine, lock_wait=self.lock_wait)


def env_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def option_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def debug_requested() -> bool:
    """Whether RAREFLOW_DEBUG asks for tracebacks; read leniently (never raises), for the
    error handler, which must work even when the other settings are broken."""
    return os.environ.get(env_name("debug"), "").strip().lower() in TRUE


def _first_field(exc: ValidationError) -> str | None:
    errors = exc.errors()
    return str(errors[0]["loc"][0]) if errors and errors[0]["loc"] else None


def _describe(exc: ValidationError, given: dict[str, Any]) -> str:
    """One line per bad value: `RAREFLOW_LOCK_WAIT='soon': give a number of seconds (0 or
    more)`, or `--db=...` for a value given on the command line."""
    parts = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else "settings"
        where = option_name(field) if field in given else env_name(field)
        reason = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            parts.append(f"{where}: no such setting")
            continue
        parts.append(f"{where}={err.get('input')!r}: {reason}")
    return "; ".join(parts)


def _has_field(cls: type, name: str) -> bool:
    if dataclasses.is_dataclass(cls):
        return name in {f.name for f in dataclasses.fields(cls)}
    return name in getattr(cls, "model_fields", {})


def _replace(obj: T, **values: Any) -> T:
    if dataclasses.is_dataclass(obj):
        return dataclasses.replace(obj, **values)  # type: ignore[type-var]
    return obj.model_copy(update=values)  # type: ignore[attr-defined]
