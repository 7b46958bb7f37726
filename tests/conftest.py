"""Shared fixtures: the contract's example dataset, the shared test data, a fresh workspace,
and the expensive things built once per test process (each pytest-xdist worker) and shared
read-only: the ingested example, the generated and analysed demo worlds.

Read-only means: read the folders and the results; to write to a store, open a private copy
(`example_ws`, `copy_store`). Tests that use the generated worlds are run on one xdist worker
(group `worlds`, `pytest_collection_modifyitems` below) so that each world is built once.

A test on one table uses `example_subset` (the two required tables and that one): an ingest
costs about 0.3 s per table, most of it query compilation, whatever the rows."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from rareflow.workspace import AnalysisResult, Workspace

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
EXAMPLE = SHARED / "spec" / "example"
TESTDATA = SHARED / "testdata"

REQUIRED = ("parties", "shipments")  # the tables every dataset must have
WORLD_FIXTURES = {"worlds", "demo_world"}  # tests using these share one xdist worker


@pytest.fixture
def example_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A private copy of the contract's example dataset; under the mark
    `@pytest.mark.example_tables(*tables)`, of only those tables and the required ones
    (`example_subset`)."""
    dst = tmp_path / "example"
    mark = request.node.get_closest_marker("example_tables")
    if mark is not None:
        return example_subset(dst, *mark.args)
    shutil.copytree(EXAMPLE, dst)
    return dst


def example_subset(dst: Path, *tables: str) -> Path:
    """A copy of the contract's example holding only the required tables (parties, shipments)
    and `tables` (a table's CSV file, or "certificates" for the certificates folder): a rule or
    reader test on one table ingests three small files instead of sixteen."""
    dst.mkdir(parents=True)
    for name in (*REQUIRED, *tables):
        src = EXAMPLE / name
        if src.is_dir():
            shutil.copytree(src, dst / name)
        else:
            shutil.copy(EXAMPLE / f"{name}.csv", dst / f"{name}.csv")
    return dst


@pytest.fixture
def ws() -> Workspace:
    """A workspace on an in-memory DuckDB store."""
    w = Workspace.open(None)
    yield w
    w.close()


def append_rows(path: Path, *lines: str) -> None:
    with path.open("a", encoding="utf-8") as f:
        for line in lines:
            f.write(line + "\n")


def copy_store(db: Path, dst_dir: Path) -> Path:
    """A private copy of a (closed) DuckDB store file, to write to."""
    dst_dir.mkdir(parents=True, exist_ok=True)
    dst = dst_dir / db.name
    shutil.copy(db, dst)
    return dst


# --- built once per test process, shared read-only -------------------------------------------
@dataclass(frozen=True)
class Built:
    """A dataset folder, a DuckDB store holding it (as ingested, never analysed), the ingest
    report and, if analysed, the analysis: run on a copy of the store, which stays open for the
    session (`analysed`) because parts of a result stay in the engine until they are written
    (the licence ledger). Read-only."""

    data: Path
    db: Path
    report: object  # rareflow.ingest.IngestReport
    result: AnalysisResult | None = None
    manifest: dict | None = None  # a generated world's planted.json
    analysed: Workspace | None = None


def _build(data: Path, root: Path, analyse: bool) -> Built:
    db = root / "store" / "rareflow.duckdb"
    db.parent.mkdir(parents=True)
    w = Workspace.open(db)
    try:
        report = w.ingest(data)
    finally:
        w.close()
    result = analysed = None
    if analyse:  # on a copy: analysing may write to the store (the trace index)
        analysed = Workspace.open(copy_store(db, root / "analysed"))
        result = analysed.analyze()
    planted = data / "planted.json"
    manifest = json.loads(planted.read_text()) if planted.exists() else None
    return Built(data, db, report, result, manifest, analysed)


def _close(built: Built) -> None:
    if built.analysed is not None:
        built.analysed.close()


@pytest.fixture(scope="session")
def ingested_example(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The contract's example, ingested once (no analysis): `.data`, `.db`, `.report`."""
    root = tmp_path_factory.mktemp("ingested_example")
    data = root / "example"
    shutil.copytree(EXAMPLE, data)
    return _build(data, root, analyse=False)


@pytest.fixture(scope="session")
def analysed_example(ingested_example: Built,
                     tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The contract's example ingested and analysed once (`.result`)."""
    root = tmp_path_factory.mktemp("analysed_example")
    w = Workspace.open(copy_store(ingested_example.db, root))
    built = Built(ingested_example.data, ingested_example.db, ingested_example.report,
                  w.analyze(), analysed=w)
    yield built
    _close(built)


@pytest.fixture
def example_ws(ingested_example: Built, tmp_path: Path) -> Workspace:
    """A workspace on a private copy of the ingested example (free to write to)."""
    w = Workspace.open(copy_store(ingested_example.db, tmp_path / "example_store"))
    yield w
    w.close()


class Worlds:
    """Generated demo worlds (`rareflow.world.generate`), each generated, ingested and analysed
    once per test process, on first use: `worlds.get("clean")`."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self._factory = factory
        self._built: dict[tuple[str, int], Built] = {}

    def close(self) -> None:
        for built in self._built.values():
            _close(built)

    def get(self, scenario: str, seed: int = 7) -> Built:
        key = (scenario, seed)
        if key not in self._built:
            from rareflow.world import generate

            root = self._factory.mktemp(f"world_{scenario}_{seed}")
            generate(root / "data", seed=seed, scenario=scenario)
            self._built[key] = _build(root / "data", root, analyse=True)
        return self._built[key]


@pytest.fixture(scope="session")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> Worlds:
    built = Worlds(tmp_path_factory)
    yield built
    built.close()


@pytest.fixture(scope="session")
def demo_world(worlds: Worlds) -> Built:
    """The demo world (seed 7, as `rareflow demo` makes it), ingested and analysed once."""
    return worlds.get("demo")


# the longest tests first, so that both xdist workers finish together (`--dist loadgroup`
# hands out the largest group first, then single tests in this order)
FIRST = ("test_spark.py", "test_properties.py", "test_conformance.py")


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests on the generated worlds share one xdist worker (group `worlds`, unless a test
    has its own group): the worlds are built once per run, not once per worker. The longest
    test files are run first."""
    for item in items:
        if (WORLD_FIXTURES & set(getattr(item, "fixturenames", ()))
                and item.get_closest_marker("xdist_group") is None):
            item.add_marker(pytest.mark.xdist_group("worlds"))

    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return FIRST.index(name) if name in FIRST else len(FIRST)

    items.sort(key=rank)  # stable: each file keeps its order


class _GroupIds:
    """pytest-xdist 3.8 marks a test's group by renaming `item._nodeid` to `nodeid@group`,
    which pytest 9.2 no longer reads (its node ids are structured): the groups are silently
    ignored (pytest-dev/pytest-xdist#1386). Do the renaming where pytest reads it; nothing
    to do once xdist does it itself."""

    @pytest.hookimpl(trylast=True)  # after xdist's own renaming
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                            for m in item.iter_markers("xdist_group")})
            if names and "@" not in item.nodeid and hasattr(item, "_id"):
                from _pytest.nodeid import NodeId

                item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(names)}")


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER") and config.getvalue("loadgroup"):
        config.pluginmanager.register(_GroupIds(), "rareflow-xdist-group-ids")
