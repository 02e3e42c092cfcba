"""Writing query results: an aligned text table, CSV, JSON lines or Parquet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO

import pyarrow as pa


def _cell(v: object, width: int = 60) -> str:
    if v is None:
        return "NULL"
    s = str(v).replace("\n", "\\n")
    return s if len(s) <= width else s[: width - 1] + "…"


def format_table(table: pa.Table, max_rows: int = 200) -> str:
    """A plain aligned text table (what `ded sql` prints); long cells are cut with an ellipsis."""
    names = table.column_names
    rows = table.slice(0, max_rows).to_pylist()
    cells = [[_cell(r[n]) for n in names] for r in rows]
    widths = [max([len(n)] + [len(c[i]) for c in cells]) for i, n in enumerate(names)]
    out = ["  ".join(n.ljust(w) for n, w in zip(names, widths)),
           "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    more = table.num_rows - len(rows)
    out.append(f"({table.num_rows} row{'s' if table.num_rows != 1 else ''}"
               + (f", {more} not shown; use -o FILE or --max-rows)" if more > 0 else ")"))
    return "\n".join(out)


def write_result(table: pa.Table, fmt: str, output: Path | None, max_rows: int = 200,
                 stream: IO[str] | None = None) -> None:
    if fmt == "parquet":
        if output is None:
            raise ValueError("--format parquet needs -o FILE")
        import pyarrow.parquet as pq

        pq.write_table(table, output)
        return
    if fmt == "csv":
        import pyarrow.csv as pcsv

        if output is not None:
            pcsv.write_csv(table, output)
            return
        buf = pa.BufferOutputStream()
        pcsv.write_csv(table, buf)
        text = buf.getvalue().to_pybytes().decode()
    elif fmt == "json":
        text = "".join(json.dumps(r, default=str, ensure_ascii=False) + "\n" for r in table.to_pylist())
    else:
        text = format_table(table, max_rows=max_rows if output is None else table.num_rows) + "\n"
    if output is not None:
        Path(output).write_text(text)
    else:
        (stream or __import__("sys").stdout).write(text)
