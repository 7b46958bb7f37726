"""`rareflow keys new` and `rareflow certificate sign|verify`: Ed25519 keys and
eddsa-jcs-2022 proofs on end-user certificates (see docs/commands/keys.md and
docs/commands/certificate.md)."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import stat
import sys
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

import typer
from rich.text import Text

from rareflow import safejson
from rareflow.cli import console as cli_console
from rareflow.errors import OutputError, RareflowError, UnreadableFileError

# literal consoles (no markup, no emoji: a did:key contains ":key:")
console = cli_console.err
out = cli_console.out

keys_app = typer.Typer(name="keys", no_args_is_help=True,
                       help="Create Ed25519 signing keys (Multikey, did:key) for certificates.")
certificate_app = typer.Typer(name="certificate", no_args_is_help=True,
                              help="Sign end-user certificates (eddsa-jcs-2022 proofs) and "
                                   "verify them against the keys and revocations tables.")

EXIT_VALID, EXIT_INVALID, EXIT_UNREADABLE, EXIT_UNTRUSTED = 0, 1, 2, 3


def _fail(message: str, code: int) -> typer.Exit:
    """A command's result that is not an error (e.g. already signed: exit 1). Errors are
    raised instead: the root command maps them (`cli/errors.py`)."""
    cli_console.error(message)
    return typer.Exit(code)


def _exists(path: Path) -> OutputError:
    return OutputError(f"{path} exists: not overwritten (use --force to replace it)",
                       file=str(path))


def _cannot_write(path: Path, exc: OSError) -> OutputError:
    return OutputError(f"cannot write {path}: {exc.strerror or exc}", file=str(path))


# --- files ----------------------------------------------------------------------------------

def _write_private(path: Path, data: bytes, *, force: bool) -> None:
    """Write `data` to `path` as a 0o600 file that never exists with other content or
    looser permissions: a private temporary file in the same folder, then an atomic
    link (no overwrite) or rename (--force). OutputError when it cannot be written, or
    exists without `force`."""
    try:
        _write_private_file(path, data, force=force)
    except FileExistsError:
        raise _exists(path) from None
    except OSError as exc:
        raise _cannot_write(path, exc) from None


def _write_private_file(path: Path, data: bytes, *, force: bool) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if force:
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)  # atomic, and fails if the path exists
        except FileExistsError:
            raise
        except OSError:  # a filesystem without hard links: exclusive create instead
            fd2 = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd2, "wb") as f:
                f.write(data)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _write_public(path: Path, text: str) -> None:
    """Replace `path` atomically (a reader never sees half a document); OutputError when
    it cannot be written."""
    try:
        _write_public_file(path, text)
    except OSError as exc:
        raise _cannot_write(path, exc) from None


def _write_public_file(path: Path, text: str) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _read_json(path: Path, what: str) -> dict:
    """A JSON object from `path`, within the size and depth limits of `rareflow.safejson`;
    every fault an UnreadableFileError naming the file (exit status 2)."""
    data = safejson.load_file(path, what=what)
    if not isinstance(data, dict):
        raise UnreadableFileError(str(path), f"{what} is not a JSON object")
    return data


def _read_table(path: Path, required: tuple[str, ...]) -> list[dict]:
    """A contract table as rows (CSV or Parquet); empty cells are None."""
    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            rows = pq.read_table(path).to_pylist()
            columns = set(rows[0]) if rows else set(pq.read_schema(path).names)
        else:
            with path.open(newline="", encoding="utf-8-sig") as f:
                reader = csv.DictReader(f)
                rows = [{k: (v if v != "" else None) for k, v in r.items()}
                        for r in reader]
                columns = set(reader.fieldnames or ())
    except FileNotFoundError:
        raise UnreadableFileError(str(path), "file not found") from None
    except (OSError, UnicodeDecodeError, csv.Error, ValueError) as exc:
        raise UnreadableFileError(str(path), str(exc)) from None
    missing = [c for c in required if c not in columns]
    if missing:
        raise UnreadableFileError(str(path), f"missing column(s) {', '.join(missing)}")
    return rows


def _load_key(path: Path):
    from rareflow.vc import KeyPair

    data = _read_json(path, "key file")
    secret = data.get("secretKeyMultibase") or data.get("privateKeyMultibase")
    if not isinstance(secret, str):
        raise UnreadableFileError(str(path), "no secretKeyMultibase in the key file")
    try:
        key = KeyPair.from_secret_multibase(secret)
    except ValueError as exc:
        raise UnreadableFileError(str(path), f"secretKeyMultibase: {exc}") from None
    public = data.get("publicKeyMultibase")
    if public is not None and public != key.public_multibase:
        raise UnreadableFileError(str(path), "publicKeyMultibase does not match the secret key")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        cli_console.warning(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
    return key


# --- keys new -------------------------------------------------------------------------------

@keys_app.command("new")
def keys_new(
    out_file: Path = typer.Option(..., "--out", "-o", help="Secret key file to create "
                                  "(JSON, mode 600)."),
    controller: str | None = typer.Option(None, "--controller", help="Party that controls "
                                          "the key (its party_id or authority code), "
                                          "recorded in the file for the keys table."),
    force: bool = typer.Option(False, "--force", help="Replace an existing key file."),
) -> None:
    """Create an Ed25519 key pair and write it to KEYFILE, readable by you only.

    Prints the public key and the verification method (the keys table's
    public_key_multibase and key_id), never the secret. Exit status: 0 written, 2 the
    file exists (without --force) or cannot be written."""
    from rareflow.vc import KeyPair

    if out_file.exists() and not force:
        raise _exists(out_file)
    key = KeyPair.generate()
    record = {"type": "Multikey", "controller": controller,
              "verificationMethod": key.verification_method,
              "publicKeyMultibase": key.public_multibase,
              "secretKeyMultibase": key.secret_multibase}
    _write_private(out_file, (json.dumps(record, indent=2) + "\n").encode(), force=force)
    out.print(f"publicKeyMultibase: {key.public_multibase}", soft_wrap=True)
    out.print(f"verificationMethod: {key.verification_method}", soft_wrap=True)
    console.print(f"secret key written to {out_file} (mode 600); add the key to "
                  "the keys table with its controller before using it", soft_wrap=True)


# --- certificate sign -----------------------------------------------------------------------

def _created(value: str | None) -> str:
    if value is None:
        return datetime.now(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("an ISO 8601 date-time such as 2025-03-01T09:00:00Z",
                                 param_hint="--created") from None
    if moment.tzinfo is None:
        raise typer.BadParameter("give a time zone (e.g. a trailing Z for UTC)",
                                 param_hint="--created")
    return value


@certificate_app.command("sign")
def sign(
    in_file: Path = typer.Argument(..., help="Certificate to sign (VC 2.0 JSON)."),
    key_file: Path = typer.Option(..., "--key", "-k", help="Secret key file from "
                                  "`rareflow keys new`."),
    out_file: Path | None = typer.Option(None, "--out", "-o", help="Where to write the signed "
                                         "certificate [default: standard output]."),
    created: str | None = typer.Option(None, "--created", help="The proof's creation time, "
                                       "ISO 8601 with a time zone [default: now, UTC]."),
) -> None:
    """Add an eddsa-jcs-2022 proof to a certificate.

    A certificate that already carries proofs gets one more: a proof set, as when the end
    user signs and the endorsing authority then signs too. Each proof signs the document
    without the proofs. Exit status: 0 signed, 1 already signed by this key, 2 unreadable
    input or key, or a document JCS cannot canonicalise."""
    from rareflow.vc import eddsa_jcs, sign_credential

    when = _created(created)
    doc = _read_json(in_file, "certificate")
    key = _load_key(key_file)
    existing = eddsa_jcs.proofs(doc)
    if any(isinstance(p, dict) and p.get("verificationMethod") == key.verification_method
           for p in existing):
        raise _fail(f"{in_file} already carries a proof by {key.verification_method}",
                    EXIT_INVALID)
    try:
        signed = sign_credential(doc, key, when)
    except (ValueError, TypeError) as exc:  # e.g. a number JCS cannot canonicalise: exit 2
        raise RareflowError(f"cannot sign {in_file}: {exc}", file=str(in_file)) from None
    text = json.dumps(signed, indent=2, ensure_ascii=False) + "\n"
    if out_file is None:
        typer.echo(text, nl=False)
        return
    _write_public(out_file, text)
    console.print(f"proof {len(existing) + 1} added by {key.verification_method} "
                  f"-> {out_file}", soft_wrap=True)


# --- certificate verify ---------------------------------------------------------------------

UNTRUSTED = "signature valid, signer not trusted"


def _status(result, trust_did_key: bool) -> tuple[str, int]:
    """("valid" | "untrusted" | "invalid", exit status). Valid needs every signer trusted:
    by the keys table, or (--trust-did-key, no keys table) by its own did:key."""
    if not result.valid:
        return "invalid", EXIT_INVALID
    if result.signers_trusted or (trust_did_key and not result.keys_checked):
        return "valid", EXIT_VALID
    return "untrusted", EXIT_UNTRUSTED


def _show(path: Path, result, status: str, trust_did_key: bool) -> None:
    title = result.certificate_id or str(path)
    if status == "valid":
        out.print(Text.assemble(("VALID", "green"), f" {title} as of {result.on_date}"),
                  soft_wrap=True)
    elif status == "untrusted":
        out.print(Text.assemble(("UNTRUSTED", "yellow"), f" {title} as of {result.on_date}: "
                                f"{UNTRUSTED} (no keys table: give --keys, or "
                                "--trust-did-key to trust self-described did:key signers)"),
                  soft_wrap=True)
    else:
        out.print(Text.assemble(("INVALID", "red"), f" {title} as of {result.on_date}: "
                                f"{', '.join(result.codes)}"), soft_wrap=True)
    for p in result.proofs:
        who = (f"{p.controller or '?'} ({p.role or 'not entitled'})" if result.keys_checked
               else "controller unchecked")
        sig = (("signature ok", "green") if p.signature_valid
               else ("signature fails", "red"))
        if result.keys_checked:
            trust = ("trusted", "green") if p.trusted else ("not trusted", "red")
        elif trust_did_key and p.signature_valid:
            trust = ("trusted as its own did:key (--trust-did-key)", "yellow")
        else:
            trust = ("key unchecked, signer not trusted", "yellow")
        out.print(Text.assemble(f"  proof {p.index}: {who}, created {p.created or '-'}, ",
                                sig, ", ", trust), soft_wrap=True)
        out.print(f"    {p.verification_method or '(no verificationMethod)'}", soft_wrap=True)
    for r in result.reasons:
        out.print(Text.assemble("  ", (r.code, "red"), f": {r.message}"), soft_wrap=True)
    for note in result.notes:
        out.print(Text.assemble("  ", ("note", "yellow"), f": {note}"), soft_wrap=True)


@certificate_app.command("verify")
def verify(
    files: list[Path] = typer.Argument(..., help="Signed certificate(s) (VC 2.0 JSON), or "
                                       "folder(s) of them (every *.json file inside).",
                                       show_default=False),
    keys: Path | None = typer.Option(None, "--keys", help="The keys table (CSV or Parquet): "
                                     "who may sign with which key. Without it (and without "
                                     "--trust-did-key) a certificate whose signatures hold "
                                     "is 'signature valid, signer not trusted' (exit 3)."),
    trust_did_key: bool = typer.Option(False, "--trust-did-key", help="Without a keys "
                                       "table: trust each proof's did:key as its signer "
                                       "(self-described: anyone can make one). Not with "
                                       "--keys."),
    revocations: Path | None = typer.Option(None, "--revocations", help="The revocations "
                                            "table (CSV or Parquet)."),
    status_list: list[Path] | None = typer.Option(None, "--status-list", help="A Bitstring "
                                                  "Status List credential (JSON) the "
                                                  "certificate refers to; repeatable."),
    on_date: str | None = typer.Option(None, "--date", help="Check as of this day, "
                                       "YYYY-MM-DD [default: today, UTC]."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON (one "
                                 "object per line for several certificates)."),
    workers: int | None = typer.Option(None, "--workers", min=1, help="Processes verifying "
                                       "a large batch [default: one per core]; the results "
                                       "do not depend on it."),
) -> None:
    """Verify certificates' proofs, keys, revocation, @context and validity period.

    One file: the result in full. Several files or a folder: one line per certificate
    (JSON Lines with --json), verified over the cores when they are many, then a count on
    standard error. Exit status: 0 valid, every signer trusted by the keys table (or, with
    --trust-did-key, by its own did:key); 1 invalid (every reason is listed); 2 a file
    that cannot be read (the message names it) or --keys with --trust-did-key; 3 no
    problem found but a signer is not trusted ("signature valid, signer not trusted":
    no keys table). Several certificates: the first of 2, 1, 3 that any of them has."""
    from rareflow.vc.trust import verify_certificate

    if keys is not None and trust_did_key:
        raise typer.BadParameter("the keys table decides who is trusted: give --keys or "
                                 "--trust-did-key, not both", param_hint="--trust-did-key")
    try:
        day = date.fromisoformat(on_date) if on_date else datetime.now(UTC).date()
    except ValueError:
        raise typer.BadParameter("a date YYYY-MM-DD", param_hint="--date") from None
    single = len(files) == 1 and not files[0].is_dir()
    doc = _read_json(files[0], "certificate") if single else None  # exit 2 when unreadable
    key_rows = (_read_table(keys, ("key_id", "controller", "public_key_multibase"))
                if keys else None)
    rev_rows = _read_table(revocations, ("certificate_id", "date")) if revocations else None
    lists = {}
    for p in status_list or ():
        cred = _read_json(p, "status list credential")
        lists[str(cred.get("id"))] = cred
    if doc is None:
        raise typer.Exit(_verify_batch(_certificate_files(files), key_rows, rev_rows, day,
                                       lists or None, trust_did_key, as_json, workers))
    result = verify_certificate(doc, key_rows, rev_rows, on_date=day,
                                status_lists=lists or None)
    status, code = _status(result, trust_did_key)
    if as_json:
        typer.echo(json.dumps(_json_result(files[0], result, status, trust_did_key), indent=2,
                              ensure_ascii=False))
    else:
        _show(files[0], result, status, trust_did_key)
    if code:
        raise typer.Exit(code)


def _json_result(path: Path, result, status: str, trust_did_key: bool) -> dict:
    data = {"file": str(path), **result.to_dict(), "valid": status == "valid",
            "status": status, "checks_passed": result.valid,
            "trust": ("keys table" if result.keys_checked else
                      "did:key (self-described)" if trust_did_key else "none")}
    if status == "untrusted":
        data["message"] = UNTRUSTED
    return data


def _certificate_files(paths: list[Path]) -> list[Path]:
    """The files named, and the *.json files of the folders named (sorted, not recursive;
    hidden files left out). A folder without any is an error (exit 2)."""
    out: list[Path] = []
    for path in paths:
        if not path.is_dir():
            out.append(path)
            continue
        found = sorted(p for p in path.iterdir()
                       if p.suffix.lower() == ".json" and not p.name.startswith(".")
                       and p.is_file())
        if not found:
            raise UnreadableFileError(str(path), "no certificate (*.json file) in the folder")
        out.extend(found)
    return out


def _verify_batch(paths: list[Path], key_rows, rev_rows, day: date, lists, trust_did_key: bool,
                  as_json: bool, workers: int | None) -> int:
    """Verify many certificates (over the cores when they are many), print one line each;
    the exit status (see `verify`)."""
    from rareflow.cli.progress import stage
    from rareflow.vc.batch import Unreadable, verify_many

    with stage("verifying", len(paths), "certificates") as progress:
        # no store is open here: the workers can be forked (the cheapest start)
        results = verify_many(paths, key_rows, rev_rows, on_date=day, status_lists=lists,
                              workers=workers, progress=progress.advance,
                              start_method="fork" if sys.platform == "linux" else None)
    counts = dict.fromkeys(("valid", "invalid", "untrusted", "unreadable"), 0)
    lines = []
    for path, result in zip(paths, results, strict=True):
        if isinstance(result, Unreadable):
            counts["unreadable"] += 1
            if as_json:
                lines.append(json.dumps({"file": str(path), "status": "unreadable",
                                         "message": result.message}, ensure_ascii=False))
            else:
                lines.append(f"UNREADABLE {path}: {result.message}")
            continue
        status, _ = _status(result, trust_did_key)
        counts[status] += 1
        if as_json:
            lines.append(json.dumps(_json_result(path, result, status, trust_did_key),
                                    ensure_ascii=False))
        else:
            what = f": {', '.join(result.codes)}" if result.codes else ""
            lines.append(f"{status.upper()} {path}: {result.certificate_id or '-'}{what}")
    if lines:
        typer.echo("\n".join(lines))
    console.print(f"{len(paths):,} certificates as of {day.isoformat()}: "
                  + ", ".join(f"{n:,} {k}" for k, n in counts.items()), soft_wrap=True)
    if counts["unreadable"]:
        return EXIT_UNREADABLE
    if counts["invalid"]:
        return EXIT_INVALID
    if counts["untrusted"]:
        return EXIT_UNTRUSTED
    return EXIT_VALID


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
    app.add_typer(certificate_app, name="certificate")
