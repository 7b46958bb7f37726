"""One exception tree for the whole library; each surface (CLI, API) maps it once.

`exit_code` is the command-line exit status of each class (the CLI's one mapping is
`rareflow.cli.errors`; the table is docs/commands/exit-codes.md): 2 unless a class says
otherwise."""

from __future__ import annotations


class RareflowError(Exception):
    """Base of every error rareflow raises on purpose."""

    exit_code = 2

    def __init__(self, message: str, **detail: object) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def to_dict(self) -> dict[str, object]:
        return {"error": type(self).__name__, "message": self.message, **self.detail}


class UnreadableFileError(RareflowError):
    """A file that cannot be read at all (missing, not CSV/Parquet/JSON, broken)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot read {path}: {reason}", file=str(path), reason=reason)


class DatasetError(RareflowError):
    """A dataset folder that breaks the contract as a whole (e.g. a required table missing)."""


class VerificationError(RareflowError):
    """A credential or signature that could not be processed at all."""

    exit_code = 1


class ConfigError(RareflowError):
    """Bad settings or a bad policy file."""


class OutputError(RareflowError):
    """An output that cannot be written: it exists (and may not be replaced), or its folder
    refuses it. The message names the file and what to do."""


class InputLimitError(UnreadableFileError):
    """A file refused before it is parsed: larger than the size limit, or nested deeper than
    the depth limit (a guard against hostile input; see `rareflow.safejson`)."""


class StoreBusyError(RareflowError):
    """The store file is held by another process (DuckDB allows one writer per file)."""

    exit_code = 3

    def __init__(self, path: str, pid: int | None, waited: float = 0.0) -> None:
        who = f"another process (pid {pid})" if pid is not None else "another process"
        after = f" (waited {waited:g} s)" if waited else ""
        super().__init__(
            f"the store {path} is in use by {who}{after}: wait for it to finish, or set "
            "RAREFLOW_LOCK_WAIT=SECONDS to wait for it",
            file=str(path), pid=pid, waited=waited)
