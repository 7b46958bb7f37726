"""Restricted-party lists as FollowTheMoney entities (`restricted_parties.jsonl`) -> rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from rareflow.contract import table_spec
from rareflow.errors import UnreadableFileError


def _first(props: dict, name: str) -> str | None:
    values = props.get(name) or []
    return str(values[0]) if values else None


def read_ftm(path: Path) -> tuple[pa.Table, list[dict[str, Any]]]:
    """One row per entity: list = its first dataset, name, aliases, country, topics."""
    rows: list[dict[str, Any]] = []
    rejects: list[dict[str, Any]] = []
    try:
        lines = path.read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UnreadableFileError(str(path), str(exc)) from exc
    for pos, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            ent = json.loads(line)
            props = ent.get("properties") or {}
        except (ValueError, AttributeError) as exc:
            rejects.append({"table": "restricted_parties", "file": str(path), "line": pos,
                            "column": "", "reason": f"not a FollowTheMoney entity: {exc}",
                            "value": line[:200], "level": "reject"})
            continue
        country = _first(props, "country") or _first(props, "jurisdiction")
        rows.append({
            "list": (ent.get("datasets") or ["ftm"])[0],
            "entity_id": ent.get("id"),
            "name": _first(props, "name"),
            "aliases": ";".join(props.get("alias") or []) or None,
            "country": country.upper() if country else None,
            "topics": ";".join(props.get("topics") or []) or None,
            "_file": str(path),
            "_line": pos,
        })
    cols = [*table_spec("restricted_parties").column_names, "_file"]
    data = {c: pa.array([r.get(c) for r in rows], pa.string()) for c in cols}
    data["_line"] = pa.array([r["_line"] for r in rows], pa.int64())
    return pa.table(data), rejects
