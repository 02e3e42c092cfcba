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

from ded.errors import DedError, MissingDependency

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


def read_json(path: Path, chunk_bytes: int = 1 << 18) -> Iterator[Record]:
    """A JSON array of records (streamed), a dict of records (the key goes into `_key`), one record, or
    JSON lines saved with a .json suffix.

    An array — the shape the field publishes, up to GBs — is parsed element by element from a
    bounded buffer, so memory follows the largest element, not the file. A top-level dict (of
    records, or one record) is loaded whole: its keys can only be paired once it is parsed, and such
    files are small in practice. A syntax error inside an array ends the read there (the elements
    before it load; the reason says the rest was not read), since no later element can be found
    reliably after it.
    """
    f = _open_bytes(path)
    try:
        try:
            head = f.read(chunk_bytes)
        except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as e:
            yield Record(1, None, f"truncated or corrupt file: {e}", "")
            return
        first = head.lstrip()[:1]
        if first == b"[":
            yield from _stream_array(f, head, chunk_bytes)
            return
        try:
            blob = head + f.read()
        except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as e:
            yield Record(1, None, f"truncated or corrupt file: {e}", "")
            return
    finally:
        f.close()
    yield from _whole_json(path, blob)


def _whole_json(path: Path, blob: bytes) -> Iterator[Record]:
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


_WS = " \t\n\r"
_DECODER = json.JSONDecoder()


def _stream_array(f: io.BufferedIOBase, head: bytes, chunk_bytes: int) -> Iterator[Record]:
    """Yield the elements of the top-level array whose bytes start with `head` and continue in `f`.

    The C scanner of `json` decodes one element at a time (`raw_decode`) from a text buffer that
    holds the unparsed tail plus the next chunk; when an element runs past the buffer, the buffer
    at least doubles before the next try, so a long element costs O(size log size), not O(size^2)."""
    import codecs

    dec = codecs.getincrementaldecoder("utf-8")()
    st = {"buf": "", "pos": 0, "eof": False, "bytes": 0}

    def more(n: int) -> bool:
        """Append at least one read of n bytes to the unparsed tail; False at the end of the file."""
        if st["eof"]:
            return False
        try:
            b = f.read(n)
        except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as e:
            raise _Stop(f"truncated or corrupt file: {e}") from None
        st["eof"] = not b
        try:
            text = dec.decode(b, final=st["eof"])
        except UnicodeDecodeError as u:
            raise _Stop(f"invalid UTF-8 near byte {st['bytes'] + u.start}") from None
        st["bytes"] += len(b)
        st["buf"], st["pos"] = st["buf"][st["pos"]:] + text, 0
        return not st["eof"] or bool(text)

    def next_char() -> str | None:
        """Skip whitespace; the next character, or None at the end of the file."""
        while True:
            buf, pos = st["buf"], st["pos"]
            while pos < len(buf) and buf[pos] in _WS:
                pos += 1
            st["pos"] = pos
            if pos < len(buf):
                return buf[pos]
            if not more(chunk_bytes):
                return None

    def element() -> Any:
        while True:
            buf, pos = st["buf"], st["pos"]
            try:
                v, end = _DECODER.raw_decode(buf, pos)
            except json.JSONDecodeError as e:
                cut = e.msg.startswith("Unterminated string") or e.pos >= len(buf) - 12
                if cut and more(max(chunk_bytes, len(buf) - pos)):
                    continue
                raise _Stop(f"truncated file: element {i} is cut off" if cut and st["eof"]
                            else f"malformed JSON in element {i}: {e.msg}") from None
            # a number that ends the buffer may go on in the next chunk ("12" of "123")
            if end == len(buf) and isinstance(v, (int, float)) and more(chunk_bytes):
                continue
            st["pos"] = end
            return v

    st["bytes"] = len(head)
    try:
        st["buf"] = dec.decode(head, final=False)
    except UnicodeDecodeError as u:
        yield Record(1, None, f"invalid UTF-8 at byte {u.start}", _raw_text(head[: u.start + 100]))
        return
    i = 0
    try:
        next_char()
        st["pos"] += 1  # the '['
        c = next_char()
        while c != "]":
            if c is None:
                raise _Stop("truncated file: the array is not closed with ']'")
            i += 1
            v = element()
            if isinstance(v, dict):
                yield Record(i, v)
            else:
                yield Record(i, None, f"not a JSON object (got {type(v).__name__})", json.dumps(v, default=str))
            c = next_char()
            if c == ",":
                st["pos"] += 1
                c = next_char()
                if c == "]":
                    i += 1
                    raise _Stop("malformed JSON: a ',' before ']'")
            elif c is not None and c != "]":
                i += 1
                raise _Stop(f"malformed JSON: expected ',' or ']' after element {i - 1}, got {c!r}")
        st["pos"] += 1
        c = next_char()
        if c is not None:
            i += 1
            raise _Stop(f"malformed JSON: extra data after the array: {st['buf'][st['pos']:st['pos'] + 80]!r}")
    except _Stop as e:
        reason = str(e)
        if not reason.startswith("truncated"):
            reason += f"; the rest of the file was not read (record {max(i, 1)} on)"
        yield Record(max(i, 1), None, reason, st["buf"][st["pos"]: st["pos"] + 100_000])


class _Stop(Exception):
    """The array cannot be read further; the message is the reject reason."""


def read_parquet(path: Path, batch_rows: int = 2000) -> Iterator[Record]:
    import pyarrow.parquet as pq

    n = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
        for r in batch.to_pylist():
            n += 1
            yield Record(n, r)


def read_csv(path: Path, batch_rows: int = 2000) -> Iterator[Record]:
    """Every cell as the text written (CSV has no types): answers keep "033" and "4.50", and a text
    cell after a first block of numbers does not fail the rest of the file."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    opts = pcsv.ReadOptions(block_size=1 << 22)
    n = 0
    try:
        names = pcsv.open_csv(path, read_options=opts).schema.names
        conv = pcsv.ConvertOptions(strings_can_be_null=False, column_types={c: pa.string() for c in names})
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
        raise MissingDependency("datasets", why="reading Hugging Face datasets") from e
    p = Path(path_or_name)
    if p.exists():
        ds = datasets.load_from_disk(str(p))
    else:
        try:
            ds = datasets.load_dataset(path_or_name, split=split, streaming=True)
        except Exception as e:  # noqa: BLE001 - offline, gated, or unknown
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
