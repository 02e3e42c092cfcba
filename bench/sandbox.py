"""Bench: per-test overhead of the sandbox against running the same files with plain `python3 FILE`.

1,000 trivial programs (each reads a number and prints a function of it), one stdin test each.
Ours: `grade_code` through one pre-started sandbox server (fork per run, namespaces, rlimits, uid
drop as root), serially. Baseline: `subprocess.run([python3, FILE], input=...)` serially, output
compared the same way. Key `per_test_ms` = (ours - baseline) wall time per test; target <= 30 ms
(issue 3). Both sides run in the same process, same machine, same moment.

    python bench/sandbox.py [--n 1000]
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds select.py, which shadows the stdlib `select` (subprocess, multiprocessing use it)
# once `python bench/x.py` puts bench/ first on sys.path; drop it before anything imports them.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ded.verifiers.code import grade_code, same_stdout
from ded.verifiers.sandbox import Limits, Sandbox


def programs(n: int) -> list[tuple[str, str, str]]:
    out = []
    for i in range(n):
        a, b = i % 7 + 1, i % 13
        src = f"x = int(input())\nprint(x * {a} + {b})\n"
        out.append((src, f"{i}\n", f"{i * a + b}\n"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    args = ap.parse_args()
    progs = programs(args.n)

    with Sandbox(Limits()) as sb:
        grade_code(sb, "print(1)", [{"input": "", "output": "1", "testtype": "stdin"}])  # server started
        t0 = time.perf_counter()
        ok = 0
        for src, inp, exp in progs:
            v = grade_code(sb, src, [{"input": inp, "output": exp, "testtype": "stdin"}])
            ok += v["status"] == "correct"
        ours = time.perf_counter() - t0
        isolation = json.loads(v["detail"])["isolation"]

    with tempfile.TemporaryDirectory() as d:
        files = []
        for i, (src, _inp, _exp) in enumerate(progs):
            p = Path(d) / f"p{i}.py"
            p.write_text(src)
            files.append(p)
        t0 = time.perf_counter()
        ok_plain = 0
        for p, (_src, inp, exp) in zip(files, progs):
            r = subprocess.run(["python3", str(p)], input=inp, capture_output=True, text=True, timeout=30)  # noqa: PLW1510
            ok_plain += r.returncode == 0 and same_stdout(r.stdout, exp)
        plain = time.perf_counter() - t0

    ours_ms, plain_ms = ours / args.n * 1e3, plain / args.n * 1e3
    print(f"sandbox: {ours_ms:.1f} ms/test ({ok}/{args.n} correct, isolation {isolation}); "
          f"plain python3: {plain_ms:.1f} ms/test ({ok_plain}/{args.n} correct)", file=sys.stderr)
    assert ok == ok_plain == args.n, (ok, ok_plain)
    print(json.dumps({"metric": "wall ms per stdin test (sandbox vs plain python3 FILE)", "ours": round(ours_ms, 2),
                      "baseline": round(plain_ms, 2), "ratio": round(ours_ms / plain_ms, 3), "better": "lower",
                      "target": round(plain_ms + 30, 2), "per_test_ms": round(ours_ms - plain_ms, 2),
                      "per_test_ms_target": 30, "n": args.n, "isolation": isolation}))


if __name__ == "__main__":
    main()
