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
# Run at server start in a real jail: a stdlib module the server has not pre-imported (its Python part
# from lib/, its C part from lib-dynload), so a jail that cannot read the interpreter fails here, loudly.
PROBE = ("import sys\nassert 'csv' not in sys.modules, 'csv was pre-imported'\nimport csv, fractions\n"
         "print('probe' if csv.excel.delimiter == ',' and fractions.Fraction(1, 3) * 3 == 1 else 'bad', 'ok')\n")


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

    def __init__(self, limits: Limits | None = None, slot: int = 0, uid_base: int = 61000, python: str | None = None):
        self.limits = limits or Limits()
        self.python = python or sys.executable  # the interpreter the server (and so every jail) runs
        self._lock = None
        self.uid = self._claim_uid(uid_base + slot, uid_base + 1000) if os.geteuid() == 0 else None
        self.proc: subprocess.Popen | None = None
        self.broken: str | None = None  # why the jail cannot run programs here (set by the start-up probe)
        self.isolation: str | None = None  # what the probe's jail had in force

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
        """Start the server and probe it: a jail that cannot run a program importing the standard library
        (an interpreter its uid cannot read, a mount it cannot see) raises SandboxError naming the cause
        and the fix, here and on every later run, so no program is ever graded in a broken jail."""
        if self.broken:
            raise SandboxError(self.broken)
        if self.proc is None or self.proc.poll() is not None:
            # -I: no user site, no PYTHON* env, no cwd on sys.path (the server imports only stdlib)
            try:
                self.proc = subprocess.Popen([self.python, "-I", str(SERVER)], stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, close_fds=True)
            except OSError as e:
                self.broken = f"the sandbox server could not start ({self.python}: {e}); check that the interpreter runs"
                raise SandboxError(self.broken) from None
            self._probe()

    def _probe(self) -> None:
        r = self._send({"program": PROBE, "stdin": "", "call": None, "script": None, **self._limits_req(None)})
        if r is None:
            self._close_server()
            self.broken = (f"the sandbox server died at start; run `{self.python} -I {SERVER}` by hand "
                           "to see why")
            raise SandboxError(self.broken)
        if r.get("reason") is None and r.get("exit_code") == 0 and r.get("stdout") == "probe ok\n":
            self.isolation = r.get("isolation")
            return
        self._close_server()
        why = r.get("error") or ((r.get("stderr") or "").strip().splitlines() or [f"{r}"])[-1]
        iso = r.get("isolation") or ""
        self.broken = (f"the sandbox cannot run a program that imports the standard library ({why}; "
                       f"isolation {iso}){_diagnose(self.python, self.uid, self.limits, why, 'mountns' in iso)}")
        raise SandboxError(self.broken)

    def _limits_req(self, timeout_s: float | None) -> dict:
        lim = self.limits
        return {"timeout_s": max(lim.timeout_s, 10.0) if timeout_s is None else timeout_s,
                "memory_mb": lim.memory_mb, "max_procs": lim.max_procs, "file_size_mb": lim.file_size_mb,
                "max_open_files": lim.max_open_files, "max_output_bytes": lim.max_output_bytes,
                "namespaces": lim.namespaces, "uid": self.uid}

    def _send(self, req: dict) -> dict | None:
        """One request to the running server; None when it died (broken pipe, no answer)."""
        try:
            body = json.dumps(req).encode()
            self.proc.stdin.write(struct.pack("!I", len(body)) + body)
            self.proc.stdin.flush()
            head = self.proc.stdout.read(4)
            if len(head) == 4:
                (n,) = struct.unpack("!I", head)
                return json.loads(self.proc.stdout.read(n))
        except (BrokenPipeError, OSError, ValueError):
            pass
        return None

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
        req = {"program": program, "stdin": stdin, "call": call, "script": script,
               **self._limits_req(timeout_s or self.limits.timeout_s)}
        for _attempt in (0, 1):  # a dead server is restarted once; the run is then retried
            self.start()
            r = self._send(req)
            if r is not None:
                return r
            self._close_server()
        raise SandboxError("the sandbox server died twice in a row; run `python -I "
                           f"{SERVER}` by hand to see why")


def _diagnose(python: str, uid: int | None, limits: Limits, why: str, mountns: bool) -> str:
    """The likely cause of a failed probe and its fix: limits too tight for the interpreter, or (for an import
    or permission error) an interpreter directory the sandbox uid cannot read, named by path."""
    if "MemoryError" in why:
        return (f"; verify.memory_mb={limits.memory_mb} is too small for the interpreter to import the standard "
                "library: raise it (default 4096)")
    if any(k in why for k in ("ImportError", "ModuleNotFoundError", "PermissionError")):
        where = "import sys, json; print(json.dumps([sys.prefix, sys.base_prefix, sys.exec_prefix, *filter(None, sys.path)]))"
        out = subprocess.run([python, "-I", "-c", where], capture_output=True, text=True, timeout=30, check=False)
        try:
            paths = json.loads(out.stdout)
        except ValueError:
            paths = []
        for p in paths:
            parts = Path(p).parts
            # in a mount namespace the directories above a prefix are hidden and the prefix bound back: only
            # the interpreter's own directories count
            for i in range(len(parts) if mountns else 2, len(parts) + 1):
                d = Path(*parts[:i])
                try:
                    mode = d.stat().st_mode
                except OSError:
                    break
                need = 0o005 if i == len(parts) else 0o001  # the path itself readable, every parent traversable
                if uid is not None and mode & need != need:
                    return (f"; uid {uid} cannot read {d} (mode {mode & 0o777:o}), on the way to the interpreter's "
                            f"{p}: make it readable by others (chmod o+rx {d}) or use a Python installed where "
                            "other users can read it (a system Python, or a venv made from one)")
    return (f"; check the sandbox limits (verify.memory_mb, max_procs, max_open_files) and that `{python}` runs, or set "
            f"verify.namespaces: {str(not limits.namespaces).lower()} to try the other isolation mode")


class SandboxPool:
    """N sandboxes, one per worker thread (threads only wait on server pipes; no untrusted code here)."""

    def __init__(self, n: int, limits: Limits | None = None, uid_base: int = 61000, python: str | None = None):
        self.all = [Sandbox(limits, slot=i, uid_base=uid_base, python=python) for i in range(n)]
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
