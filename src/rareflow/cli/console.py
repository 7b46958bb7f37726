"""The consoles every command prints through: nothing printed is read as rich markup.

Values from the data (party names, ids, file names, reasons quoting a cell) can hold
anything: `CN[/red]X` would crash a markup console (`MarkupError`), `Acme [pvt] Ltd` would
lose `[pvt]`, `:x:` would become an emoji. So both consoles have markup, emoji and
highlighting off, for strings printed directly and for strings inside tables and trees: a
value is printed as it is, and cannot be forgotten to be escaped. Our own colours are given
as styles: `out.print("clean", style="green")`, `Text.assemble(("error:", "red"), " ", msg)`,
`Text(value, style=...)` in a table cell.

Text that was built as markup on purpose, with every data value escaped
(`rich.markup.escape`), is turned into a `Text` by `from_markup` before it is printed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text, TextType


def make_console(*, stderr: bool = False) -> Console:
    """A console that prints strings literally (no markup, no emoji, no highlighting)."""
    return Console(stderr=stderr, markup=False, emoji=False, highlight=False)


out = make_console()  # results: standard output
err = make_console(stderr=True)  # errors, warnings, progress: standard error


def from_markup(text: str) -> Text:
    """Markup that we wrote, with every data value inside it escaped, as a Text."""
    return Text.from_markup(text, emoji=False)


def styled(*parts: str | tuple[str, str] | Text) -> Text:
    """Text from plain parts (printed as they are) and (text, style) pairs."""
    return Text.assemble(*parts)


def error(message: TextType, *, console: Console | None = None) -> None:
    """`error: MESSAGE` on standard error, the message as it is, never wrapped (a path or
    a reason stays on one line for grep)."""
    (console or err).print(styled(("error:", "red"), " ", message), soft_wrap=True)


def warning(message: TextType, *, console: Console | None = None) -> None:
    """`warning: MESSAGE` on standard error, as `error`."""
    (console or err).print(styled(("warning:", "yellow"), " ", message), soft_wrap=True)


def check_out_dir(path: Path, *, param_hint: str = "--out") -> None:
    """Before any work: `path` is a folder we can write in, or can be created as one. A
    usage error (exit status 2) names the problem; nothing is created here."""
    if path.exists() and not path.is_dir():
        raise typer.BadParameter(f"{path} exists and is not a folder", param_hint=param_hint)
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise typer.BadParameter(f"{path}: {probe} is not a folder", param_hint=param_hint)
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as exc:
        where = "" if probe == path else f" (in {probe})"
        raise typer.BadParameter(f"cannot write the folder {path}{where}: "
                                 f"{exc.strerror or exc}", param_hint=param_hint) from None
