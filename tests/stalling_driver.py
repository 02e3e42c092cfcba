"""`python tests/stalling_driver.py ARGS...`: `python -m ded ARGS...` whose Nth Lance merge stalls mid-commit.

For the driver-kill tests (tests/test_verify_ray_driver_kill.py): a SIGKILL has to land *inside* a commit,
not between two, and timing alone cannot promise that. With DED_TEST_STALL_MERGE=N, the Nth
`merge_insert(...).execute` of this process (Lance's, counted across tables) is fed its rows as a stream that
yields the first half, writes DED_TEST_MARKS/stalled (the merge's number) and then sleeps:
Lance has begun the commit and holds part of its data, no manifest is written, and the test kills the
process there. Every earlier merge runs unchanged, as does every later one when N is never reached.
Nothing is mocked: Lance, the lake on S3 and the Ray actors are the real ones.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def _install() -> None:
    import pyarrow as pa
    from lance.dataset import MergeInsertBuilder

    stall_at = int(os.environ.get("DED_TEST_STALL_MERGE", "0"))
    marks = Path(os.environ.get("DED_TEST_MARKS", "."))
    real = MergeInsertBuilder.execute
    calls = [0]

    def execute(self, data_obj, *, schema=None):
        calls[0] += 1
        if calls[0] != stall_at or not isinstance(data_obj, pa.Table):
            return real(self, data_obj, schema=schema)
        batches = data_obj.to_batches(max_chunksize=max(1, data_obj.num_rows // 2))

        def stream():
            yield batches[0]
            (marks / "stalled").write_text(str(calls[0]))
            time.sleep(600)  # killed here, mid-commit
            yield from batches[1:]

        return real(self, pa.RecordBatchReader.from_batches(data_obj.schema, stream()), schema=data_obj.schema)

    MergeInsertBuilder.execute = execute


if __name__ == "__main__":
    _install()
    from ded.cli import main

    sys.argv = ["ded", *sys.argv[1:]]
    main()
