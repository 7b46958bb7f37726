"""`rareflow screen`: restricted-party screening of a file of parties (or a dataset's
parties, owners and certificate signatories) against one or more lists."""

from __future__ import annotations

from pathlib import Path

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from rareflow.cli import console as cli_console
from rareflow.settings import Settings

out = cli_console.out


def run_screen(parties_path: Path, lists: list[Path], out_dir: Path,
               decisions_path: Path | None, settings: Settings) -> dict:
    """Read, screen, write OUT/screening.csv (and OUT/screening_suppressed.csv when a
    judgement suppressed a candidate). Returns the result and the paths."""
    from rareflow.screening.engine import screen
    from rareflow.screening.settings import ScreeningSettings
    from rareflow.screening.sources import read_decisions, read_lists, read_parties

    policy = settings.load_policy()
    s = policy.settings(ScreeningSettings)
    parties = read_parties(parties_path)
    entities, skipped = read_lists(lists)
    decisions = read_decisions(decisions_path) if decisions_path else None
    result = screen(parties, entities, s, decisions)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "screening.csv"
    result.candidates.to_csv(path, index=False)
    sup_path = out_dir / "screening_suppressed.csv"
    if len(result.suppressed):
        result.suppressed.to_csv(sup_path, index=False)
    return {"result": result, "path": path, "suppressed_path": sup_path,
            "parties": len(parties), "entities": len(entities), "skipped": skipped}


def screen_cmd(
    parties: Path = typer.Argument(..., help="Parties to screen: a CSV or Parquet file "
                                   "(party_id, name; aliases, country, schema, birth_date, "
                                   "registration_id when present) or a dataset folder."),
    lists: list[Path] = typer.Option(..., "--list", "-l", help="A list to screen against: "
                                     "the contract's restricted_parties CSV or FollowTheMoney "
                                     "entities as JSON lines. Repeat for several lists."),
    out_dir: Path = typer.Option(Path("out"), "--out", "-o", help="Folder for "
                                 "screening.csv."),
    decisions: Path | None = typer.Option(None, "--decisions", help="Analysts' judgements "
                                          "(CSV: party_id, entity_id, decision same|not_same, "
                                          "by, date, note), applied to this run."),
    policy: Path | None = typer.Option(None, "--policy", help="Policy YAML (its "
                                       "analysis.screening section) \\[default: "
                                       "$RAREFLOW_POLICY, else the one rareflow ships]."),
    show: int = typer.Option(20, "--show", help="Print at most this many candidates."),
) -> None:
    """Screen parties against restricted lists: fuzzy, transliterated, explained.

    Writes OUT/screening.csv: party_id, list, entity_id, entity_name, score, decision
    (match or possible), explanation; one row per candidate at or above the `possible`
    threshold, best first per party. Candidates an analyst judged not the same
    (--decisions) are left out and listed in OUT/screening_suppressed.csv. Exit status: 0
    done (whatever was found); 2 a file or setting that cannot be used."""
    settings = Settings.load(policy=policy)
    cli_console.check_out_dir(out_dir)
    r = run_screen(parties, lists, out_dir, decisions, settings)
    res = r["result"]
    c = res.candidates
    if len(c):
        table = Table(title=f"Candidates ({len(c)})", box=box.SIMPLE_HEAD, show_lines=True)
        for col in ("party", "entity", "score", "decision", "explanation"):
            table.add_column(col, overflow="fold")
        for row in c.head(show).itertuples(index=False):
            style = "red" if row.decision == "match" else "yellow"
            table.add_row(Text(str(row.party_id)),
                          Text(f"{row.entity_name}\n{row.list}:{row.entity_id}"),
                          Text(f"{row.score:.2f}"), Text(row.decision, style=style),
                          Text(row.explanation))
        out.print(table)
    n_match = int((c.decision == "match").sum()) if len(c) else 0
    st = res.stats
    out.print(Text(
        f"{r['parties']} parties ({st['party_names']} names) against {r['entities']} "
        f"entities ({st['entity_names']} names): {n_match} match, {len(c) - n_match} "
        f"possible; {st['pairs_scored']} pairs scored in {st['seconds_total']:.1f} s"))
    if r["skipped"]:
        out.print(Text(f"{r['skipped']} list entities are no party (addresses, sanctions, "
                       "relations): not screened"))
    for row in res.suppressed.itertuples(index=False):
        who = " on ".join(x for x in (row.by, row.date) if x) or "an analyst"
        out.print(Text(f"{row.party_id} / {row.list}:{row.entity_id} ({row.score:.2f}) "
                       f"suppressed by {who}" + (f": {row.note}" if row.note else ""),
                       style="yellow"))
    out.print(Text(f"written: {r['path']}"))


def register(app: typer.Typer) -> None:
    app.command("screen")(screen_cmd)
