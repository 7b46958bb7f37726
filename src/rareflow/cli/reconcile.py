"""`rareflow reconcile`: weighted-least-squares reconciliation of one balance problem
(see docs/commands/reconcile.md)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import typer
from rich.table import Table
from rich.text import Text

from rareflow import safejson
from rareflow.analyses.reconcile import Reconciliation, ReconciliationInputError, reconcile
from rareflow.cli import console as cli_console
from rareflow.errors import UnreadableFileError

out = cli_console.out


class Format(StrEnum):
    json = "json"
    text = "text"


def load_problem(path: Path) -> dict:
    """Read and check a problem file; raise UnreadableFileError (exit 2) naming the problem."""
    try:  # size and depth bounded (InputLimitError, an UnreadableFileError)
        doc = safejson.loads(safejson.read_bytes(path).decode("utf-8"), source=str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise UnreadableFileError(str(path), str(exc)) from exc
    except json.JSONDecodeError as exc:
        raise UnreadableFileError(str(path), f"not valid JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise UnreadableFileError(str(path), "expected a JSON object with keys A, measured, "
                                  "variance")
    missing = [k for k in ("A", "measured", "variance") if k not in doc]
    if missing:
        raise UnreadableFileError(str(path), f"missing key(s): {', '.join(missing)}")
    try:
        A = _matrix(doc["A"])
        measured = _numbers(doc["measured"], "measured")
        variance = _numbers(doc["variance"], "variance")
    except ValueError as exc:
        raise UnreadableFileError(str(path), str(exc)) from exc
    n = A.shape[1]
    for key, vec in (("measured", measured), ("variance", variance)):
        if len(vec) != n:
            raise UnreadableFileError(str(path), f"shape mismatch: A has {n} columns "
                                      f"(streams) but '{key}' has {len(vec)} values")
    if (variance < 0).any():
        j = int(np.argmax(variance < 0))
        raise UnreadableFileError(str(path), f"negative variance {variance[j]} for stream "
                                  f"{j + 1}")
    names = {}
    for key, size in (("nodes", A.shape[0]), ("streams", n)):
        value = doc.get(key)
        if value is None:
            continue
        if not isinstance(value, list) or len(value) != size:
            raise UnreadableFileError(str(path), f"'{key}' must be a list of {size} names")
        names[key] = [str(s) for s in value]
    return {"A": A, "measured": measured, "variance": variance, **names}


def _matrix(value) -> sp.csr_matrix:
    """`A` as a list of rows, or sparse as {"shape": [m, n], "row": [], "col": [], "data": []}."""
    if isinstance(value, dict):
        try:
            m, n = (int(s) for s in value["shape"])
            rows, cols = np.asarray(value["row"], int), np.asarray(value["col"], int)
            data = np.asarray(value["data"], float)
            if not np.isfinite(data).all():
                raise ValueError("a value is not a finite number")
            return sp.csr_matrix((data, (rows, cols)), shape=(m, n))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError("'A' in sparse form needs shape (m, n) and equal-length lists "
                             f"row, col, data inside the shape ({exc})") from exc
    if (not isinstance(value, list) or not value
            or not all(isinstance(row, list) for row in value)):
        raise ValueError("'A' must be a non-empty list of rows (lists of numbers)")
    widths = {len(row) for row in value}
    if len(widths) != 1:
        raise ValueError(f"shape mismatch: the rows of 'A' have different lengths "
                         f"({', '.join(map(str, sorted(widths)))})")
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError("'A' must contain numbers only") from exc
    if not np.isfinite(arr).all():
        raise ValueError("'A' contains a value that is not a finite number")
    return sp.csr_matrix(arr)


def _numbers(value, key: str) -> np.ndarray:
    if not isinstance(value, list):
        raise ValueError(f"'{key}' must be a list of numbers")
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"'{key}' must contain numbers only") from exc
    if arr.ndim != 1 or not np.isfinite(arr).all():
        raise ValueError(f"'{key}' must be a flat list of finite numbers")
    return arr


def show_text(res: Reconciliation) -> None:
    verdict = (("gross error suspected", "red") if res.gross_error
               else ("consistent with random errors", "green"))
    out.print(Text.assemble(f"Global test: statistic {res.statistic:.6g} on {res.dof} "
                            f"degree(s) of freedom, p = {res.p_value:.4g} "
                            f"(alpha {res.alpha:g}): ", verdict))
    nodes = Table(title="Balances (nodal test)")
    for col in ("node", "residual", "sd", "z", "p-value", "flag"):
        nodes.add_column(col, justify="left" if col == "node" else "right")
    for i, name in enumerate(res.nodes):
        nodes.add_row(Text(str(name)), f"{res.residuals[i]:.6g}", f"{res.residual_sd[i]:.4g}",
                      f"{res.node_z[i]:.3f}", f"{res.node_p[i]:.4g}",
                      Text("flagged", style="red") if res.node_flagged[i] else "")
    out.print(nodes)
    meas = Table(title="Streams (measurement test)")
    for col in ("stream", "measured", "reconciled", "sd", "adjustment", "z", "flag"):
        meas.add_column(col, justify="left" if col == "stream" else "right")
    for j, name in enumerate(res.streams):
        meas.add_row(Text(str(name)), f"{res.measured[j]:.6g}", f"{res.reconciled[j]:.6g}",
                     f"{res.sd[j]:.4g}", f"{res.adjustments[j]:.4g}",
                     f"{res.measurement_z[j]:.3f}",
                     Text("flagged", style="red") if res.measurement_flagged[j] else "")
    out.print(meas)


def reconcile_cmd(
    problem: Path = typer.Argument(..., metavar="PROBLEM.json", help="JSON file with A "
                                   "(balances, A @ x = 0: one row per node, one column per "
                                   "stream), measured and variance; optional nodes and "
                                   "streams names."),
    alpha: float = typer.Option(0.05, "--alpha", help="Significance level of every test "
                                "(global, nodal, measurement)."),
    fmt: Format = typer.Option(Format.json, "--format", "-f", help="json (machine-readable, "
                               "default) or text (tables)."),
) -> None:
    """Reconcile measurements to linear balances by weighted least squares; test for gross errors.

    Each measurement moves in proportion to its variance until every balance closes.

    A variance of 0 marks an exactly known value: it is never changed.

    Output: reconciled values and their sd, the global chi-square test, nodal and measurement tests.

    Exit status: 0 global test passes, 1 it flags a gross error (output still printed), 2 bad file.
    """
    if not 0 < alpha < 1:
        raise typer.BadParameter("must be between 0 and 1 (exclusive)", param_hint="--alpha")
    doc = load_problem(problem)
    try:
        res = reconcile(doc["A"], doc["measured"], doc["variance"], alpha=alpha,
                        nodes=doc.get("nodes"), streams=doc.get("streams"))
    except ReconciliationInputError as exc:  # a problem the file states badly: exit 2
        raise UnreadableFileError(str(problem), str(exc)) from exc
    if fmt is Format.json:
        typer.echo(json.dumps(res.to_json(), indent=1))
    else:
        show_text(res)
    if res.gross_error:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("reconcile")(reconcile_cmd)
