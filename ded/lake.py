"""The lakehouse: one Lance dataset per table at `<root>/<table>.lance` (the LanceDB layout).

Every write is one Lance commit: a killed process leaves each table at its last committed
version, and readers never see half a write. Writes conform data to the table's core schema
(`ded.schema`), and a column the table does not have yet is added first (schema evolution, a
metadata-only change in Lance), so stages can grow tables without migrations.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc


def _import_lance():
    """Import lance without dragging pandas in (~0.6 s of `ded sql`'s cold start, measured by
    `python -X importtime`): pyarrow.dataset probes pandas at import time only to test whether
    scalars are DataFrames. pandas stays importable afterwards (to_pandas works), just not eagerly.
    """
    import sys

    if "lance" in sys.modules or "pandas" in sys.modules:
        import lance

        return lance

    class _NoPandas:
        def find_spec(self, name, path=None, target=None):
            if name == "pandas" or name.startswith("pandas."):
                raise ModuleNotFoundError("pandas deferred during lance import")
            return None

    blocker = _NoPandas()
    sys.meta_path.insert(0, blocker)
    try:
        import lance
    finally:
        sys.meta_path.remove(blocker)
    return lance


lance = _import_lance()

from ded.schema import KEYS, SCHEMAS, conform


class LakeError(RuntimeError):
    """A lake operation that cannot proceed; the message says what to do."""


@dataclass(frozen=True)
class TableInfo:
    name: str
    rows: int
    version: int
    size_bytes: int


@dataclass(frozen=True)
class MergeStats:
    inserted: int
    updated: int = 0
    version: int | None = None


# Lance file format 2.0: measured here 1.6x faster to write than "stable" (2.1) on long-CoT text
# (bench/ingest.py), at some cost in disk size; appends keep the format a table was created with.
STORAGE_VERSION = os.environ.get("DED_LANCE_FORMAT", "2.0")


def _write(data: Any, uri: str, mode: str, storage_options: dict[str, str] | None = None) -> int:
    kw = {"data_storage_version": STORAGE_VERSION} if mode == "create" else {}
    return lance.write_dataset(data, uri, mode=mode, storage_options=storage_options or None, **kw).version


def now() -> datetime:
    return datetime.now(timezone.utc)


def _is_local(root: str) -> bool:
    return "://" not in root or root.startswith("file://")


class Lake:
    """A directory (or object-store URI) of Lance datasets, one per table."""

    def __init__(self, root: str | os.PathLike, create: bool = True, storage_options: dict[str, str] | None = None):
        """`create=False` for readers: a lake that does not exist reads as empty and is not made (a typo'd
        `--lake` would otherwise leave an empty directory behind). `storage_options` go to every Lance and
        LanceDB call on an object-store root (endpoint, region, ...: `lake.storage_options` in params);
        credentials come from the environment (AWS_ACCESS_KEY_ID, ...), read by Lance itself."""
        self.root = str(root).rstrip("/") or "."
        self.storage_options = {str(k): str(v) for k, v in (storage_options or {}).items()}
        if create and _is_local(self.root):
            Path(self.root.removeprefix("file://")).mkdir(parents=True, exist_ok=True)

    def present(self) -> bool:
        """Whether the lake's directory exists (object stores: always)."""
        return not _is_local(self.root) or Path(self.root.removeprefix("file://")).is_dir()

    def require(self) -> "Lake":
        """This lake, or a LakeError when its directory does not exist (for commands that only read)."""
        if not self.present():
            raise LakeError(f"lake {self.root!r} does not exist; create it with `ded ingest` (or `dvc repro`, "
                            f"or `ded demo` for the demo data), or point at an existing lake with --lake DIR "
                            f"(or DED_LAKE, or lake.root in params)")
        return self

    def __repr__(self) -> str:
        return f"Lake({self.root!r})"

    # -- locating -------------------------------------------------------------------------
    def uri(self, name: str) -> str:
        return f"{self.root}/{name}.lance"

    def exists(self, name: str) -> bool:
        if _is_local(self.root):
            return (Path(self.uri(name).removeprefix("file://")) / "_versions").is_dir()
        try:
            self._open(name)
            return True
        except (ValueError, OSError):
            return False

    def table_names(self) -> list[str]:
        if not _is_local(self.root):  # one LIST of the prefix (LanceDB's), then a check of each hit
            names, token = [], None
            while True:
                page = self.lancedb().list_tables(page_token=token)
                names += page.tables
                token = page.page_token
                if not token:
                    break
            return sorted(t for t in names if self.exists(t))
        root = Path(self.root.removeprefix("file://"))
        return sorted(p.name[: -len(".lance")] for p in root.glob("*.lance") if (p / "_versions").is_dir())

    def _open(self, name: str, version: int | None = None) -> lance.LanceDataset:
        return lance.dataset(self.uri(name), version=version, storage_options=self.storage_options or None)

    def lancedb(self):
        """A LanceDB connection to this lake (the same store and options)."""
        import lancedb

        return lancedb.connect(self.root, storage_options=self.storage_options or None)

    def write_dataset(self, name: str, data: Any, mode: str) -> int:
        """A raw Lance write of `data` to table `name` (no conforming); returns the new version."""
        return _write(data, self.uri(name), mode, self.storage_options)

    def dataset(self, name: str, version: int | None = None) -> lance.LanceDataset:
        if not self.exists(name):
            raise LakeError(
                f"table {name!r} does not exist in lake {self.root!r} yet "
                f"(tables: {', '.join(self.table_names()) or 'none'}); run the stage that writes it"
            )
        try:
            return self._open(name, version)
        except ValueError as e:
            if version is not None:
                versions = [v["version"] for v in self._open(name).versions()]
                raise LakeError(f"{name} has no version {version}; versions: {versions}") from e
            raise

    # -- reading --------------------------------------------------------------------------
    def read(self, name: str, columns: list[str] | None = None, filter: str | None = None,
             version: int | None = None) -> pa.Table:
        """The table (or the given columns/rows) as Arrow; an absent table reads as empty."""
        if not self.exists(name):
            schema = SCHEMAS.get(name, pa.schema([]))
            if columns:
                schema = pa.schema([schema.field(c) for c in columns if c in schema.names])
            return schema.empty_table()
        return self.dataset(name, version).to_table(columns=columns, filter=filter)

    def scan(self, name: str, columns: list[str] | None = None, filter: str | None = None,
             batch_size: int = 8192, version: int | None = None) -> Iterator[pa.RecordBatch]:
        if not self.exists(name):
            return iter(())
        return self.dataset(name, version).to_batches(columns=columns, filter=filter, batch_size=batch_size)

    def keys(self, name: str, on: list[str] | None = None) -> set:
        """The set of key values present (tuples for composite keys): for cheap dedup before appends."""
        on = on or KEYS[name]
        if not self.exists(name):
            return set()
        t = self.read(name, columns=on)
        if len(on) == 1:
            return set(t.column(on[0]).to_pylist())
        return set(zip(*(t.column(c).to_pylist() for c in on)))

    def duplicate_keys(self, name: str, on: list[str] | None = None) -> int:
        """Rows beyond one per key: 0 unless two writers inserted the same new keys at once (Lance's
        merge_insert does not check inserted keys against a concurrent commit; docs/scale-out.md)."""
        on = on or KEYS[name]
        if not self.exists(name):
            return 0
        t = self.read(name, columns=on)
        return t.num_rows - t.group_by(on, use_threads=False).aggregate([]).num_rows

    def count(self, name: str, filter: str | None = None) -> int:
        return self.dataset(name).count_rows(filter) if self.exists(name) else 0

    def version(self, name: str) -> int | None:
        return self.dataset(name).version if self.exists(name) else None

    def versions(self, names: Iterable[str]) -> dict[str, int | None]:
        return {n: self.version(n) for n in names}

    def history(self, name: str) -> list[dict[str, Any]]:
        ds = self.dataset(name)
        out = []
        for v in ds.versions():
            n = self._open(name, v["version"]).count_rows()
            out.append({"version": v["version"], "timestamp": v["timestamp"], "rows": n,
                        "message": (v.get("metadata") or {}).get("message", "")})
        return out

    def size_bytes(self, name: str) -> int:
        if not _is_local(self.root):  # data files of the current version, from the manifest (no listing)
            return sum(d.file_size_bytes or 0 for f in self.dataset(name).get_fragments() for d in f.data_files())
        p = Path(self.uri(name).removeprefix("file://"))
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())

    def tables(self) -> list[TableInfo]:
        out = []
        for n in self.table_names():
            ds = self.dataset(n)
            out.append(TableInfo(n, ds.count_rows(), ds.version, self.size_bytes(n)))
        return out

    # -- writing --------------------------------------------------------------------------
    def _prepare(self, name: str, data: Any) -> pa.Table:
        t = conform(name, data) if name in SCHEMAS else _plain(data)
        if not self.exists(name):
            return t
        ds = self.dataset(name)
        have = ds.schema
        missing = [t.schema.field(c) for c in t.column_names if c not in have.names]
        if missing:  # schema evolution: add the new columns as all-null, metadata only
            ds.add_columns([pa.field(f.name, f.type) for f in missing])
            have = self.dataset(name).schema
        cols = []
        for f in have:
            if f.name in t.column_names:
                c = t.column(f.name)
                cols.append(c if c.type == f.type else c.cast(f.type))
            else:
                cols.append(pa.nulls(t.num_rows, f.type))
        return pa.Table.from_arrays(cols, schema=have)

    def append(self, name: str, data: Any) -> int:
        """Append rows in one commit (creates the table); returns the new version."""
        t = self._prepare(name, data)
        if t.num_rows == 0 and self.exists(name):
            return self.version(name)
        mode = "append" if self.exists(name) else "create"
        return _write(t, self.uri(name), mode, self.storage_options)

    def append_stream(self, name: str, batches: Iterable[pa.RecordBatch | pa.Table | list[dict]]) -> int:
        """Stream batches into one commit: memory stays bounded by one batch.

        All batches must share one set of columns (the first batch fixes it). A process killed
        mid-stream commits nothing; the table stays at its previous version.
        """
        it = iter(batches)
        first = None
        for b in it:
            first = self._prepare(name, b)
            if first.num_rows:
                break
        if first is None or first.num_rows == 0:
            return self.version(name)
        schema = first.schema

        def gen() -> Iterator[pa.RecordBatch]:
            yield from first.to_batches()
            for b in it:
                t = conform(name, b) if name in SCHEMAS else _plain(b)
                t = t.select(schema.names).cast(schema) if t.num_rows else t
                yield from t.to_batches()

        reader = pa.RecordBatchReader.from_batches(schema, gen())
        mode = "append" if self.exists(name) else "create"
        return _write(reader, self.uri(name), mode, self.storage_options)

    def merge(self, name: str, data: Any, on: list[str] | None = None, update: bool = False) -> MergeStats:
        """Insert rows whose key is new (and, with `update=True`, update the matching ones), one commit.

        Rows with duplicate keys inside `data` keep the last occurrence.
        """
        on = on or KEYS.get(name)
        if not on:
            raise LakeError(f"merge into {name!r} needs a key (`on=`)")
        t = self._prepare(name, data)
        t = _dedup_last(t, on)
        if t.num_rows == 0:
            return MergeStats(0, 0, self.version(name))
        if not self.exists(name):
            v = _write(t, self.uri(name), "create", self.storage_options)
            return MergeStats(t.num_rows, 0, v)
        ds = self.dataset(name)
        b = ds.merge_insert(on).when_not_matched_insert_all()
        if update:
            b = b.when_matched_update_all()
        res = b.execute(t)
        return MergeStats(int(res.get("num_inserted_rows", 0)), int(res.get("num_updated_rows", 0)),
                          self.version(name))

    def overwrite(self, name: str, data: Any) -> int:
        t = conform(name, data) if name in SCHEMAS else _plain(data)
        mode = "overwrite" if self.exists(name) else "create"
        return _write(t, self.uri(name), mode, self.storage_options)

    def delete(self, name: str, predicate: str) -> int:
        ds = self.dataset(name)
        ds.delete(predicate)
        return self.version(name)


def open_lake(params: Any, create: bool = True) -> Lake:
    """The lake of `params.lake` (root and storage options): what every stage and command opens."""
    return Lake(params.lake.root, create=create, storage_options=params.lake.storage_options)


def _plain(data: Any) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    return pa.Table.from_pylist(list(data))


def _dedup_last(t: pa.Table, on: list[str]) -> pa.Table:
    if t.num_rows < 2:
        return t
    idx = pa.array(range(t.num_rows), pa.int64())
    g = t.select(on).append_column("__i", idx).group_by(on, use_threads=False).aggregate([("__i", "max")])
    keep = pc.sort_indices(g.column("__i_max"))
    rows = pc.take(g.column("__i_max"), keep)
    return t.take(rows) if len(rows) != t.num_rows else t
