"""Infrastructure failures: the verifier's machinery failed (a sandbox, a math worker pool, a judge backend),
not the trajectory. Such a verdict is `status=error`, `correct=None`, its `detail` says why, and the
grading result carries `infra=True`: `ded verify` counts them per verifier and stops with one `error:` line
when they pass `verify.max_infra_failure_share`; `sql/verify/pending.sql` regrades them on the next run.

Math and judge details are text that starts with PREFIX; a code detail is JSON with an `infra` key.
"""

from __future__ import annotations

PREFIX = "infrastructure failure: "


def failure(reason: str) -> str:
    """A math or judge `detail` for an infrastructure failure."""
    return PREFIX + reason


def is_failure(detail: str | None) -> bool:
    return bool(detail) and detail.startswith(PREFIX)
