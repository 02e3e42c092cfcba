"""Client side of the sandbox: run untrusted programs through a pre-started server process.

`Sandbox` owns one server (`sandbox_server.py`, a separate process); `run` sends one program with
its stdin (and a functional call or a test script) and returns what happened. The engine never
executes the program itself: the server forks a jail per run (see sandbox_server's doc for the
layers: namespaces, read-only root, tmpfs, rlimits, unprivileged uid, wall limit, capped output).

When the engine runs as root (CI), each sandbox gets its own unprivileged uid, the first free one
from `uid_base + slot` (default 61000+; an flock per uid makes it unique on the host, across
engine processes): no files on the host belong to it, its processes are counted and killed apart
from every other sandbox's, and it cannot touch the engine's files.
"""

from __future__ import annotations

import fcntl
import json
import os
import queue
import struct
import subprocess
import sys
import tempfile
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
        self._lock = None
        self.uid = self._claim_uid(uid_base + slot, uid_base + 1000) if os.geteuid() == 0 else None
        self.proc: subprocess.Popen | None = None

    def _claim_uid(self, first: int, end: int) -> int:
        """A uid no other sandbox on this host holds (an flock per uid, held while this object lives):
        two engines running at once must not count or kill each other's processes."""
        d = Path(tempfile.gettempdir()) / "ded-sandbox-uids"
        d.mkdir(mode=0o700, exist_ok=True)
        for uid in range(first, end):
            f = open(d / f"{uid}.lock", "w")  # noqa: SIM115 - held open: the lock lives with the sandbox
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.close()
                continue
            self._lock = f
            return uid
        raise SandboxError(f"no free sandbox uid in {first}..{end - 1}; other sandboxes hold them all "
                           "(raise verify.sandbox_uid_base or stop other runs)")

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
        self._close_server()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _close_server(self) -> None:
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
            self._close_server()
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
