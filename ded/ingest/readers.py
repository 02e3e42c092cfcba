"""Reading source records from every shape the field publishes, streaming and loss-free.

Each reader yields `Record(line, data)` for a good record or `Record(line, None, reason, raw)`
for a bad one; it never raises on bad content, so the good rows of a damaged file still load and
the bad ones are kept verbatim in `rejects`. `line` is the 1-based line (JSONL) or row/element
number (JSON, Parquet, CSV, datasets).
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:  # orjson parses long-CoT lines ~3x faster than json; both give the same objects
    import orjson

    _loads = orjson.loads
    _JSONError: tuple[type[Exception], ...] = (orjson.JSONDecodeError, ValueError)
except ImportError:  # pragma: no cover
    _loads = json.loads
    _JSONError = (ValueError,)


@dataclass
class Record:
    line: int
    data: dict[str, Any] | None
    reason: str | None = None
    raw: str | None = None


SUFFIXES = (".jsonl.gz", ".json.gz", ".jsonl", ".ndjson", ".json", ".parquet", ".csv", ".csv.gz")


def source_stem(path: str | Path) -> str:
    name = Path(str(path).rstrip("/")).name
    for s in SUFFIXES:
        if name.endswith(s):
            return name[: -len(s)]
    return name


def _open_bytes(path: Path) -> io.BufferedIOBase:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def _raw_text(b: bytes) -> str:
    return b.decode("utf-8", errors="backslashreplace")


def read_jsonl(path: Path) -> Iterator[Record]:
    n = 0
    f = _open_bytes(path)
    try:
        for n, line in enumerate(f, 1):
            if len(line) < 8 and not line.strip():
                continue
            try:
                obj = _loads(line)  # orjson also rejects invalid UTF-8
            except _JSONError as e:
                raw = line.rstrip(b"\r\n")
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError as u:
                    yield Record(n, None, f"invalid UTF-8 at byte {u.start}", _raw_text(raw))
                    continue
                yield Record(n, None, f"malformed JSON: {str(e).splitlines()[0][:200]}", _raw_text(raw))
                continue
            if not isinstance(obj, dict):
                yield Record(n, None, f"not a JSON object (got {type(obj).__name__})", _raw_text(line.rstrip(b"\r\n")))
                continue
            yield Record(n, obj)
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as e:
        yield Record(n + 1, None, f"truncated or corrupt file after line {n}: {e}", "")
    finally:
        f.close()


def read_json(path: Path) -> Iterator[Record]:
    """A JSON list of records, or a dict of records (the key goes into `_key`). Loaded whole."""
    f = _open_bytes(path)
    try:
        blob = f.read()
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as e:
        yield Record(1, None, f"truncated or corrupt file: {e}", "")
        return
    finally:
        f.close()
    try:
        obj = _loads(blob)
    except _JSONError as e:
        # maybe it is JSON lines with a .json suffix
        if blob.lstrip()[:1] == b"{" and b"\n{" in blob:
            yield from read_jsonl(path)
            return
        yield Record(1, None, f"malformed JSON: {str(e).splitlines()[0][:200]}", _raw_text(blob[:100_000]))
        return
    if isinstance(obj, dict) and not any(isinstance(v, dict) for v in obj.values()):
        obj = [obj]  # a single record
    if isinstance(obj, dict):
        for i, (k, v) in enumerate(obj.items(), 1):
            if isinstance(v, dict):
                yield Record(i, {"_key": k, **v})
            else:
                yield Record(i, None, f"not a JSON object (got {type(v).__name__})", json.dumps({k: v}, default=str))
        return
    if not isinstance(obj, list):
        yield Record(1, None, f"a .json source must hold a list or a dict of records, got {type(obj).__name__}",
                     _raw_text(blob[:100_000]))
        return
    for i, v in enumerate(obj, 1):
        if isinstance(v, dict):
            yield Record(i, v)
        else:
            yield Record(i, None, f"not a JSON object (got {type(v).__name__})", json.dumps(v, default=str))


def read_parquet(path: Path, batch_rows: int = 2000) -> Iterator[Record]:
    import pyarrow.parquet as pq

    n = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
        for r in batch.to_pylist():
            n += 1
            yield Record(n, r)


def read_csv(path: Path, batch_rows: int = 2000) -> Iterator[Record]:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    opts = pcsv.ReadOptions(block_size=1 << 22)
    conv = pcsv.ConvertOptions(strings_can_be_null=False)
    n = 0
    try:
        reader = pcsv.open_csv(path, read_options=opts, convert_options=conv)
        for batch in reader:
            for r in batch.to_pylist():
                n += 1
                yield Record(n, r)
    except (pa.ArrowInvalid, OSError) as e:
        yield Record(n + 1, None, f"malformed CSV after row {n}: {str(e).splitlines()[0][:200]}", "")


def read_hf(path_or_name: str, split: str | None = None) -> Iterator[Record]:
    """A `datasets` folder saved with save_to_disk, or a hub dataset name (needs a network)."""
    try:
        import datasets
    except ImportError as e:  # pragma: no cover
        from ded.errors import MissingDependency

        raise MissingDependency("datasets", why="reading Hugging Face datasets") from e
    p = Path(path_or_name)
    if p.exists():
        ds = datasets.load_from_disk(str(p))
    else:
        try:
            ds = datasets.load_dataset(path_or_name, split=split, streaming=True)
        except Exception as e:  # noqa: BLE001 - offline, gated, or unknown
            from ded.errors import DedError

            raise DedError(f"cannot load hub dataset {path_or_name!r}: {str(e).splitlines()[0]}; "
                           "download it where a network exists and pass the saved folder or a file") from None
    if isinstance(ds, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        splits = [split] if split else list(ds)
        items = (r for s in splits for r in ds[s])
    else:
        items = iter(ds)
    for i, r in enumerate(items, 1):
        yield Record(i, dict(r))


def is_hf_dir(p: Path) -> bool:
    return p.is_dir() and ((p / "dataset_info.json").exists() or (p / "state.json").exists()
                           or (p / "dataset_dict.json").exists())


def read_records(path: str | Path, batch_rows: int = 2000, split: str | None = None) -> Iterator[Record]:
    p = Path(path)
    name = p.name
    if p.is_dir():
        if is_hf_dir(p):
            return read_hf(str(p), split)
        raise FileNotFoundError(f"{p} is a folder but not a saved `datasets` dataset; pass its files instead")
    if not p.exists():
        if "/" in str(path) and not str(path).startswith((".", "/")) and len(str(path).split("/")) == 2:
            return read_hf(str(path), split)
        raise FileNotFoundError(f"source {p} not found")
    if name.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
        return read_jsonl(p)
    if name.endswith((".json", ".json.gz")):
        return read_json(p)
    if name.endswith(".parquet"):
        return read_parquet(p, batch_rows)
    if name.endswith((".csv", ".csv.gz")):
        return read_csv(p, batch_rows)
    raise FileNotFoundError(f"unsupported source {p}: expected .jsonl, .jsonl.gz, .json, .parquet, .csv or a datasets folder")
