"""The sandbox server: a separate, pre-started process that forks one jail per program run.

Started by `ded.verifiers.sandbox.Sandbox` as `python -I sandbox_server.py`; stdlib only, so it
starts fast and imports nothing of the engine. It pre-imports the modules LiveCodeBench prepends to
every program, so a fork is ready to run at once (a fork costs ~1 ms where a fresh interpreter costs
~20 ms: that is how the sandbox meets bench/sandbox.py's per-test overhead target).

Per request (length-prefixed JSON on stdin → the same on stdout), in a forked *supervisor*:
1. `setsid`; `unshare` new mount, network and PID namespaces (plus a user namespace when not root);
   mounts made private, the root remounted read-only, fresh tmpfs on /tmp, /var/tmp, /dev/shm,
   /run/lock (the world-writable places), a working directory /tmp/work. The interpreter's prefixes
   that a tmpfs hides (a venv or clone under /tmp) are bound back read-only at their own paths; as root,
   a directory the jail's uid cannot traverse on the way to them (/root above /root/.pyenv) is hidden
   behind a read-only tmpfs and the prefix bound back inside it. Whatever the OS refuses is left out
   and the `isolation` string says what was in force.
2. fork the *jail* (PID 1 of the new namespace: when it exits, every process it forked dies too):
   rlimits (CPU, address space, processes, file size, open files, no core), then — when the server
   runs as root — `setgroups([])`, `setgid`/`setuid` to an unprivileged uid, then the program runs in
   a fresh `__main__` namespace with the test's stdin; stdout/stderr and a result channel go back
   through pipes, read by the server with a cap and a wall-clock deadline. The jail reports its set-up
   through a pipe it closes before the program starts: a jail that could not be built (or a supervisor
   that died) is `sandbox_error`, never an exit code of the program.
Without namespaces (an OS that refuses them) it still uses a fresh host temp dir, rlimits and the
uid drop, and kills everything the jail's uid owns after each run; sys.path entries the uid cannot
reach are read through /proc/self/fd/N of directories opened as root before the drop.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import select
import shutil
import signal
import struct
import sys
import tempfile
import time
import traceback

# LiveCodeBench's `import_string` (lcb_runner/evaluation/testing_util.py), prepended to every program.
PRELUDE = (
    "from string import *\nfrom re import *\nfrom datetime import *\nfrom collections import *\n"
    "from heapq import *\nfrom bisect import *\nfrom copy import *\nfrom math import *\nfrom random import *\n"
    "from statistics import *\nfrom itertools import *\nfrom functools import *\nfrom operator import *\n"
    "from io import *\nfrom sys import *\nfrom json import *\nfrom builtins import *\nfrom typing import *\n"
    "import string\nimport re\nimport datetime\nimport collections\nimport heapq\nimport bisect\nimport copy\n"
    "import math\nimport random\nimport statistics\nimport itertools\nimport functools\nimport operator\n"
    "import io\nimport sys\nimport json\nsys.setrecursionlimit(50000)\n"
)
PRELUDE_LINES = PRELUDE.count("\n")

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
_libc = ctypes.CDLL(None, use_errno=True)
WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")


def _mount(src, target, fstype, flags, data) -> bool:
    enc = lambda s: None if s is None else s.encode()
    return _libc.mount(enc(src), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) == 0


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def _python_paths() -> list[str]:
    """What a program may import from: the interpreter's prefixes (venv, base install, exec prefixes) and the
    sys.path entries inside them, each as written and resolved (a symlinked venv or stdlib), without
    paths nested in another. Entries outside every prefix (the engine's checkout, added by an editable
    install's .pth) are not for programs and are left out."""
    prefixes = {os.path.normpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix) if p}
    cands = set()
    for p in list(prefixes) + [e for e in sys.path if e and os.path.isabs(e)]:
        p = os.path.normpath(p)
        if not os.path.exists(p):
            continue
        if p in prefixes or any(_under(p, q) or _under(os.path.realpath(p), os.path.realpath(q)) for q in prefixes):
            cands.update((p, os.path.realpath(p)))
    out: list[str] = []
    for p in sorted(cands):
        if not any(_under(p, q) for q in out):
            out.append(p)
    return out


def _blocking_dir(path: str) -> str | None:
    """The topmost directory above `path` that other users cannot traverse (no o+x), e.g. /root for
    /root/.pyenv/...; None when every ancestor is traversable."""
    parts = os.path.normpath(path).split("/")[1:]
    for i in range(1, len(parts)):
        d = "/" + "/".join(parts[:i])
        if not os.stat(d).st_mode & 0o001:
            return d
    return None


def _traversable(path: str) -> bool:
    """Can any user reach `path`? (o+x on every directory above it)."""
    return _blocking_dir(path) is None


def _makedirs_public(path: str) -> None:
    """mkdir -p with mode 755 (umask ignored): the skeleton that leads the jail's uid to a bound path."""
    parts = path.split("/")[1:]
    for i in range(1, len(parts) + 1):
        d = "/" + "/".join(parts[:i])
        if not os.path.isdir(d):
            os.mkdir(d)
            os.chmod(d, 0o755)


def _isolate(uid: int | None) -> list[str]:
    """Enter new namespaces and build the filesystem view; return what is in force.

    The view: everything private, `/` read-only, fresh tmpfs over the world-writable places (WRITABLE)
    and, when programs run as another uid, over each directory that uid could not traverse on the way to
    the interpreter (a private home: /root for /root/.pyenv). The interpreter's own paths (`_python_paths`)
    that those tmpfs would hide (a venv or a clone under /tmp, a pyenv under /root) are bound back
    read-only at the same paths, from file descriptors opened before the tmpfs went on."""
    root = os.geteuid() == 0
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | (0 if root else CLONE_NEWUSER)
    got: list[str] = []
    if _libc.unshare(flags) != 0:
        if _libc.unshare(CLONE_NEWNET | (0 if root else CLONE_NEWUSER)) == 0:
            got.append("netns")
        return got
    if not root:
        ruid, rgid = os.getuid(), os.getgid()
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{ruid} {ruid} 1")
        _write("/proc/self/gid_map", f"{rgid} {rgid} 1")
        got.append("userns")
    got += ["netns", "pidns", "mountns"]
    _mount(None, "/", None, MS_REC | MS_PRIVATE, None)  # nothing below propagates to the host
    if _mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY, None):
        got.append("ro-root")
    needed = _python_paths()
    hide = [d for d in WRITABLE if os.path.isdir(d)]
    if uid is not None:  # private directories on the way to the interpreter: hidden, the interpreter bound back
        for p in needed:
            b = _blocking_dir(p)
            if b and not any(_under(b, h) for h in hide):
                hide = [h for h in hide if not _under(h, b)] + [b]
    bind = [p for p in needed if any(_under(p, h) for h in hide)]
    fds = {p: os.open(os.path.realpath(p), os.O_PATH | os.O_CLOEXEC) for p in bind}  # before the tmpfs hide them
    hidden = []
    for d in hide:
        mode = "1777" if d in WRITABLE else "755"
        if _mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV, f"size=256m,mode={mode}"):
            got.append(f"tmpfs:{d}" if d in WRITABLE else f"hidden:{d}")
            hidden.append(d)
    for p, fd in fds.items():
        if any(_under(p, h) for h in hidden):
            if os.path.isdir(f"/proc/self/fd/{fd}"):
                _makedirs_public(p)
            else:
                _makedirs_public(os.path.dirname(p))
                os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o644))
            if _mount(f"/proc/self/fd/{fd}", p, None, MS_BIND | MS_REC, None):
                _mount(None, p, None, MS_REMOUNT | MS_BIND | MS_RDONLY, None)
                got.append(f"ro-bind:{p}")
        os.close(fd)
    for d in hidden:
        if d not in WRITABLE:  # a hidden private directory holds only the skeleton: read-only too
            _mount(None, d, None, MS_REMOUNT | MS_BIND | MS_RDONLY, None)
    return got


def _fd_paths(uid: int) -> tuple[list[str], list[int]]:
    """Without a mount namespace, as root about to drop to `uid`: sys.path entries that uid cannot reach
    (a private home above the interpreter) become /proc/self/fd/N paths through directories opened here,
    so the jail reads them without any host permission changing. Returns (new sys.path, fds to keep)."""
    new, keep = [], []
    for e in sys.path:
        if e and os.path.isabs(e) and os.path.exists(e) and not _traversable(e):
            fd = os.open(os.path.realpath(e), os.O_PATH)
            keep.append(fd)
            e = f"/proc/self/fd/{fd}"
        new.append(e)
    return new, keep


def _limits(req: dict) -> None:
    cpu = int(req["timeout_s"]) + 1
    mem = int(req.get("memory_mb", 4096)) << 20
    for res, val in ((resource.RLIMIT_CPU, cpu), (resource.RLIMIT_AS, mem),
                     (resource.RLIMIT_FSIZE, int(req.get("file_size_mb", 16)) << 20),
                     (resource.RLIMIT_NOFILE, int(req.get("max_open_files", 128))),
                     (resource.RLIMIT_NPROC, int(req.get("max_procs", 32))),
                     (resource.RLIMIT_CORE, 0), (resource.RLIMIT_STACK, 256 << 20)):
        hard = resource.getrlimit(res)[1]
        val = val if hard == resource.RLIM_INFINITY else min(val, hard)
        resource.setrlimit(res, (val, val))


def _run_program(req: dict, res_w: int) -> None:
    """In the jail, after limits and the uid drop: run the program (and the call or script) and exit."""
    sys.stdin = open(0, "r", closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
    ns: dict = {"__name__": "__main__", "__builtins__": __builtins__}
    code = 0
    try:
        exec(compile(PRELUDE + req["program"], "<solution>", "exec"), ns)  # noqa: S102
        call = req.get("call")
        if call is not None:
            if "Solution" in ns and isinstance(ns["Solution"], type):
                fn = getattr(ns["Solution"](), call["method"])
            else:
                fn = ns[call["method"]]
            out = fn(*call["args"])
            try:
                payload = json.dumps({"ok": True, "value": out})
            except (TypeError, ValueError):
                payload = json.dumps({"ok": True, "repr": repr(out)[:10000]})
            os.write(res_w, payload.encode())
        if req.get("script"):
            exec(compile(req["script"], "<test>", "exec"), ns)  # noqa: S102
    except SystemExit as e:
        code = 0 if e.code in (None, 0) else 1
    except BaseException as e:  # the program's failure is the result, reported with its traceback  # noqa: BLE001
        traceback.print_exc()
        try:
            os.write(res_w, json.dumps({"ok": False, "error": f"{type(e).__name__}: {str(e)[:500]}"}).encode())
        except OSError:
            pass
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # noqa: BLE001
        code = code or 1
    os._exit(code)


def _supervise(req: dict, stdin_fd: int, out_w: int, err_w: int, res_w: int, st_w: int, workdir: str) -> None:
    """The supervisor: isolate, fork the jail, report {pid, isolation} (or {setup_error}) then {status}.

    The jail reports its own set-up through a pipe it closes before the program starts (so a program
    cannot fake it): a jail that could not be built is a sandbox failure, never the program's."""
    try:
        os.setsid()
        uid = req.get("uid")
        got = _isolate(uid) if req.get("namespaces", True) else []
        su_r, su_w = os.pipe()
        pid = os.fork()
    except BaseException as e:  # noqa: BLE001
        os.write(st_w, json.dumps({"setup_error": f"supervisor: {type(e).__name__}: {e}"}).encode() + b"\n")
        os._exit(70)
    if pid == 0:
        try:
            os.close(su_r)
            os.dup2(stdin_fd, 0)
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            keep = {0, 1, 2, res_w, su_w}
            if uid is not None and "mountns" not in got:  # the uid may not reach a private interpreter
                sys.path[:], fds = _fd_paths(uid)
                keep.update(fds)
                if fds:
                    got.append(f"fd-paths:{len(fds)}")
            for fd in range(3, 256):
                if fd not in keep:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            if "pidns" in got and "mountns" in got:  # PID 1 of the new namespace: a /proc that shows
                _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)  # only the jail
            if "tmpfs:/tmp" in got:
                workdir = "/tmp/work"
                os.mkdir(workdir, 0o700)
            if uid is not None:
                os.chown(workdir, uid, uid)
            os.chdir(workdir)
            os.environ.clear()
            os.environ.update({"PATH": "/usr/bin:/bin", "HOME": workdir or "/", "LANG": "C.UTF-8",
                               "PYTHONHASHSEED": "0"})
            _limits(req)
            if uid is not None:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
            os.write(su_w, json.dumps({"ok": True, "isolation": got}).encode())
            os.close(su_w)
        except BaseException as e:  # noqa: BLE001
            try:
                os.write(su_w, json.dumps({"ok": False, "error": f"jail set-up: {type(e).__name__}: {e}"}).encode())
            finally:
                os._exit(71)
        _run_program(req, res_w)
    os.close(su_w)
    setup = bytearray()
    while chunk := os.read(su_r, 1 << 16):
        setup += chunk
    try:
        setup_msg = json.loads(setup.decode())
    except ValueError:
        setup_msg = {"ok": False, "error": "the jail died during set-up"}
    if not setup_msg.get("ok"):
        os.write(st_w, json.dumps({"setup_error": setup_msg.get("error"), "isolation": got}).encode() + b"\n")
        os.waitpid(pid, 0)
        os._exit(0)
    os.write(st_w, json.dumps({"pid": pid, "isolation": setup_msg["isolation"]}).encode() + b"\n")
    _, status = os.waitpid(pid, 0)
    os.write(st_w, json.dumps({"status": status}).encode() + b"\n")
    os._exit(0)


def _kill_uid(uid: int) -> None:
    """Kill every process owned by `uid` (a fork that escaped its group): kill(-1) sent as that uid."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(uid)
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def run_one(req: dict) -> dict:
    """Run one program in a fresh jail; never raises for the program's sake."""
    t0 = time.monotonic()
    limit, cap = float(req["timeout_s"]), int(req.get("max_output_bytes", 8 << 20))
    stdin_fd = os.memfd_create("stdin")
    os.write(stdin_fd, (req.get("stdin") or "").encode())
    os.lseek(stdin_fd, 0, os.SEEK_SET)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    res_r, res_w = os.pipe()
    st_r, st_w = os.pipe()
    uid = req.get("uid")
    workdir = tempfile.mkdtemp(prefix="ded-sandbox-")  # used when no mount namespace hides the host /tmp
    sup = os.fork()
    if sup == 0:
        for fd in (out_r, err_r, res_r, st_r):
            os.close(fd)
        try:
            _supervise(req, stdin_fd, out_w, err_w, res_w, st_w, workdir)
        finally:
            os._exit(70)
    for fd in (stdin_fd, out_w, err_w, res_w, st_w):
        os.close(fd)
    bufs = {out_r: bytearray(), err_r: bytearray(), res_r: bytearray(), st_r: bytearray()}
    caps = {out_r: cap, err_r: 64 << 10, res_r: cap, st_r: 1 << 16}
    open_fds, reason = set(bufs), None
    while open_fds:
        left = t0 + limit - time.monotonic()
        if left <= 0:
            reason = "timeout"
            break
        ready, _, _ = select.select(list(open_fds), [], [], left)
        for fd in ready:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                open_fds.discard(fd)
                continue
            buf = bufs[fd]
            if len(buf) + len(chunk) > caps[fd]:
                buf += chunk[: caps[fd] - len(buf)]
                if fd in (out_r, res_r):
                    reason = "output_limit"
            else:
                buf += chunk
        if reason:
            break
    wall = time.monotonic() - t0
    lines = [json.loads(x) for x in bufs[st_r].decode(errors="replace").splitlines() if x.strip()]
    info = {k: v for d in lines for k, v in d.items()}
    if reason or "status" not in info:
        if "pid" in info:
            try:
                os.kill(info["pid"], signal.SIGKILL)  # PID 1 of the jail: its death ends the namespace
            except ProcessLookupError:
                pass
        try:
            os.killpg(sup, signal.SIGKILL)
        except ProcessLookupError:
            pass
    os.waitpid(sup, 0)
    if uid is not None and "pidns" not in info.get("isolation", []):
        _kill_uid(uid)
    for fd in bufs:
        os.close(fd)
    shutil.rmtree(workdir, ignore_errors=True)
    status = info.get("status")
    exit_code = signal_no = None
    if status is not None:
        if os.WIFEXITED(status):
            exit_code = os.WEXITSTATUS(status)
        elif os.WIFSIGNALED(status):
            signal_no = os.WTERMSIG(status)
    iso = info.get("isolation", [])
    iso_s = ",".join(([f"uid={uid}"] if uid is not None else ["same-uid"]) + iso + ["rlimits"])
    if "setup_error" in info or (status is None and reason is None) or (reason == "timeout" and "pid" not in info):
        # the jail was never built, or its supervisor died or hung: a sandbox failure, not the program's
        # (an output limit is always the program's: nothing else writes to its stdout)
        why = info.get("setup_error") or ("the jail's supervisor did not report within the wall limit" if reason
                                          else "the jail's supervisor died before the program started")
        return {"reason": "sandbox_error", "error": why, "isolation": iso_s, "wall_s": wall,
                "stderr": bufs[err_r].decode(errors="replace")[-4000:]}
    return {"reason": reason, "exit_code": exit_code, "signal": signal_no, "wall_s": wall,
            "stdout": bufs[out_r].decode(errors="replace"), "stderr": bufs[err_r].decode(errors="replace")[-4000:],
            "result": bufs[res_r].decode(errors="replace"), "isolation": iso_s}


def _read_msg(f) -> dict | None:
    head = f.read(4)
    if len(head) < 4:
        return None
    (n,) = struct.unpack("!I", head)
    return json.loads(f.read(n))


def serve() -> None:
    import builtins, collections, copy, datetime, functools, heapq, io, itertools, math, operator, random, re  # noqa: F401, I001
    import statistics, string, typing, bisect  # noqa: F401  (pre-imported: forks start warm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the engine, which closes us
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    while True:
        req = _read_msg(inp)
        if req is None:
            return
        try:
            resp = run_one(req)
        except Exception as e:  # a sandbox failure (not the program's): reported, the server lives on  # noqa: BLE001
            resp = {"reason": "sandbox_error", "error": f"{type(e).__name__}: {e}", "isolation": ""}
        body = json.dumps(resp).encode()
        out.write(struct.pack("!I", len(body)) + body)
        out.flush()


if __name__ == "__main__":
    serve()
