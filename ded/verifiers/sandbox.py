"""Client side of the sandbox: run untrusted programs through a pre-started server process.

`Sandbox` owns one server (`sandbox_server.py`, a separate process); `run` sends one program with
its stdin (and a functional call or a test script) and returns what happened. The engine never
executes the program itself: the server forks a jail per run (see sandbox_server's doc for the
layers: namespaces, read-only root, tmpfs, rlimits, unprivileged uid, wall limit, capped output).

When the engine runs as root (CI), each sandbox slot gets its own unprivileged uid,
`uid_base + slot` (default 61000+): no files on the host belong to it, its processes are counted
and killed apart from every other slot's, and it cannot touch the engine's files.
"""

from __future__ import annotations

import json
import os
import queue
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SERVER = Path(__file__).with_name("sandbox_server.py")


@dataclass
class Limits:
    """Per-run limits. Defaults follow LiveCodeBench where it has one (6 s per test)."""

    timeout_s: float = 6.0  # LiveCodeBench's per-test timeout (lcb_runner `--timeout 6`)
    memory_mb: int = 4096  # address space; Python + a 10^7-element list fits well under it
    max_procs: int = 32  # RLIMIT_NPROC for the jail's uid: stops fork bombs, allows a small pool
    file_size_mb: int = 16  # RLIMIT_FSIZE: largest file a program may write (in its tmpfs)
    max_open_files: int = 128
    max_output_bytes: int = 8 << 20  # stdout beyond this ends the run (status error, "output limit")
    namespaces: bool = True  # try mount/net/pid namespaces; False = rlimits + uid + temp dir only


class SandboxError(RuntimeError):
    """The sandbox itself failed (not the program): the verdict is undecidable."""


class Sandbox:
    """One sandbox server. `with Sandbox() as sb: sb.run("print(input())", stdin="hi\\n")`."""

    def __init__(self, limits: Limits | None = None, slot: int = 0, uid_base: int = 61000):
        self.limits = limits or Limits()
        self.uid = uid_base + slot if os.geteuid() == 0 else None
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Sandbox:  # noqa: PYI034
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            # -I: no user site, no PYTHON* env, no cwd on sys.path (the server imports only stdlib)
            self.proc = subprocess.Popen([sys.executable, "-I", str(SERVER)], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, close_fds=True)

    def close(self) -> None:
        if self.proc is not None:
            try:
                self.proc.stdin.close()
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def run(self, program: str, stdin: str = "", call: dict | None = None, script: str | None = None,
            timeout_s: float | None = None) -> dict:
        """Run `program` (then `call` {method, args} or `script`) in a fresh jail.

        Returns {reason (None, "timeout", "output_limit", "sandbox_error"), exit_code, signal, wall_s,
        stdout, stderr (tail), result (JSON text from a call), isolation}.
        """
        lim = self.limits
        req = {"program": program, "stdin": stdin, "call": call, "script": script,
               "timeout_s": timeout_s or lim.timeout_s, "memory_mb": lim.memory_mb, "max_procs": lim.max_procs,
               "file_size_mb": lim.file_size_mb, "max_open_files": lim.max_open_files,
               "max_output_bytes": lim.max_output_bytes, "namespaces": lim.namespaces, "uid": self.uid}
        for attempt in (0, 1):  # a dead server is restarted once; the run is then retried
            self.start()
            try:
                body = json.dumps(req).encode()
                self.proc.stdin.write(struct.pack("!I", len(body)) + body)
                self.proc.stdin.flush()
                head = self.proc.stdout.read(4)
                if len(head) == 4:
                    (n,) = struct.unpack("!I", head)
                    return json.loads(self.proc.stdout.read(n))
            except (BrokenPipeError, OSError):
                pass
            self.close()
        raise SandboxError("the sandbox server died twice in a row; run `python -I "
                           f"{SERVER}` by hand to see why")


class SandboxPool:
    """N sandboxes, one per worker thread (threads only wait on server pipes; no untrusted code here)."""

    def __init__(self, n: int, limits: Limits | None = None, uid_base: int = 61000):
        self.all = [Sandbox(limits, slot=i, uid_base=uid_base) for i in range(n)]
        self.free: queue.Queue[Sandbox] = queue.Queue()
        for sb in self.all:
            self.free.put(sb)

    def __enter__(self) -> SandboxPool:  # noqa: PYI034
        return self

    def __exit__(self, *exc) -> None:
        for sb in self.all:
            sb.close()

    def acquire(self) -> Sandbox:
        return self.free.get()

    def release(self, sb: Sandbox) -> None:
        self.free.put(sb)
