"""The sandbox works wherever the interpreter lives (issue 14): a prefix under a temporary directory (a clone
and its venv under /tmp, which the jail's own tmpfs on /tmp would hide), under a directory other users
cannot traverse (a private home such as /root/.pyenv, or mkdtemp's 0700), in a venv; with namespaces, without
them, and when the OS refuses them. A jail that cannot run a program importing the standard library is a
SandboxError naming the path, never a program verdict.

The interpreters here are real installs: the running Python's binary copied and its standard library
hard-linked (copied across file systems) under the directory of each case, so `sys.prefix`,
`sys.base_prefix` and every stdlib file really live there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

from ded.verifiers import grade_many
from ded.verifiers.code import grade_code
from ded.verifiers.sandbox import Limits, Sandbox, SandboxError

ROOT = os.geteuid() == 0
VER = f"python{sys.version_info[0]}.{sys.version_info[1]}"
# fractions and string are pre-imported by the server; textwrap, csv (and _csv from lib-dynload) are not
PROGRAM = ("import fractions, string, textwrap, csv, io\n"
           "w = io.StringIO(); csv.writer(w).writerow([fractions.Fraction(1, 3) + fractions.Fraction(1, 6), 'x'])\n"
           "print(w.getvalue().strip(), string.ascii_uppercase[:3], textwrap.shorten('a  b', 9))\n")
EXPECTED = "1/2,x ABC a b\n"
_SKIP = {"site-packages", "dist-packages", "test", "tests", "idlelib", "tkinter", "turtledemo", "ensurepip",
         "lib2to3", "__pycache__", "pydoc_data"}


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def make_python(parent: Path) -> Path:
    """A Python install with its prefix at parent/py: the binary copied, the standard library linked."""
    root = parent / "py"
    (root / "bin").mkdir(parents=True)
    exe = root / "bin" / VER
    shutil.copy2(os.path.realpath(sys.executable), exe)
    shutil.copytree(sysconfig.get_paths()["stdlib"], root / "lib" / VER, copy_function=_link_or_copy,
                    ignore=lambda _d, names: [n for n in names if n in _SKIP])
    out = subprocess.run([str(exe), "-I", "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True,
                         check=False)
    if out.returncode != 0 or out.stdout.strip() != str(root):
        pytest.skip(f"this Python cannot be relocated by copying ({out.stdout.strip()!r} {out.stderr[-200:]!r})")
    return exe


def _private_home() -> Path:
    """A 0700 directory outside /tmp (the home as root: /root itself is 0700 there)."""
    home = Path.home()
    if home.is_relative_to(tempfile.gettempdir()) or not os.access(home, os.W_OK):
        pytest.skip(f"no writable home outside {tempfile.gettempdir()} for the private-home case")
    return Path(tempfile.mkdtemp(prefix=".ded-sandbox-test-", dir=home))


@pytest.fixture(scope="module", params=["tmp-public", "tmp-private", "home-private", "venv-under-tmp"])
def python(request):
    """(case, interpreter) for each location; removed afterwards."""
    case = request.param
    parent = _private_home() if case == "home-private" else Path(tempfile.mkdtemp(prefix="ded-sandbox-test-"))
    try:
        if case == "venv-under-tmp":  # a venv of the running Python (whose base may sit in a private home)
            os.chmod(parent, 0o755)
            subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--copies", str(parent / "venv")],
                           check=True, capture_output=True)
            exe = parent / "venv" / "bin" / "python"
        else:
            os.chmod(parent, 0o755 if case == "tmp-public" else 0o700)
            exe = make_python(parent)
        yield case, exe
    finally:
        shutil.rmtree(parent, ignore_errors=True)


@pytest.mark.parametrize("namespaces", [True, False], ids=["namespaces", "no-namespaces"])
def test_a_program_importing_the_stdlib_runs_wherever_python_lives(python, namespaces):
    case, exe = python
    prefix = subprocess.run([str(exe), "-I", "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert prefix == str(exe.parents[1])
    if case != "home-private":
        assert prefix.startswith(tempfile.gettempdir() + "/")  # the case the jail's tmpfs on /tmp used to hide
    with Sandbox(Limits(timeout_s=10, namespaces=namespaces), python=str(exe)) as sb:
        r = sb.run(PROGRAM)
        assert (r["reason"], r["exit_code"], r["stdout"]) == (None, 0, EXPECTED), r
        iso = r["isolation"]
        if ROOT:
            assert iso.startswith("uid=")
        if "mountns" in iso and prefix.startswith(tempfile.gettempdir() + "/"):
            assert "tmpfs:/tmp" in iso and f"ro-bind:{prefix}" in iso, iso  # hidden /tmp, the prefix bound back
            # bound back read-only: the program cannot change the interpreter it runs on
            w = sb.run(f"open({os.path.join(prefix, 'planted.txt')!r}, 'w').write('x')\n")
            assert w["exit_code"] != 0 and not os.path.exists(os.path.join(prefix, "planted.txt"))
        if ROOT and not namespaces and case in ("tmp-private", "home-private"):
            assert "fd-paths:" in iso, iso  # the uid reads the private stdlib through descriptors opened as root
        # and the code verifier grades with it (stdin tests), not "runtime error"
        v = grade_code(sb, "import textwrap\nprint(textwrap.dedent(input()))\n",
                       [{"input": "hi\n", "output": "hi\n", "testtype": "stdin"}])
        assert (v["status"], v["correct"]) == ("correct", True), v


REFUSE_WRAPPER = """
import importlib.util
spec = importlib.util.spec_from_file_location("sandbox_server", {server!r})  # not its folder on sys.path:
s = importlib.util.module_from_spec(spec)  # ded/verifiers/math.py would shadow the stdlib's math
spec.loader.exec_module(s)

class Refusing:  # the OS refuses every namespace (a container without CAP_SYS_ADMIN, seccomp)
    def __init__(self, libc):
        self._libc = libc
    def unshare(self, flags):
        return -1
    def __getattr__(self, name):
        return getattr(self._libc, name)

s._libc = Refusing(s._libc)
s.serve()
"""


def test_refused_namespaces_fall_back_and_still_run_a_private_python(monkeypatch, tmp_path):
    """unshare refused (not just switched off): the jail falls back to rlimits + uid (+ fd paths) and works."""
    from ded.verifiers import sandbox

    parent = _private_home() if ROOT else Path(tempfile.mkdtemp(prefix="ded-sandbox-test-"))
    try:
        os.chmod(parent, 0o700)
        exe = make_python(parent)
        wrapper = tmp_path / "refusing_server.py"
        wrapper.write_text(REFUSE_WRAPPER.format(server=str(sandbox.SERVER)))
        monkeypatch.setattr(sandbox, "SERVER", wrapper)
        with Sandbox(Limits(timeout_s=10, namespaces=True), python=str(exe)) as sb:
            r = sb.run(PROGRAM)
        assert (r["reason"], r["exit_code"], r["stdout"]) == (None, 0, EXPECTED), r
        assert "mountns" not in r["isolation"] and "netns" not in r["isolation"], r["isolation"]
        if ROOT:
            assert "fd-paths:" in r["isolation"]
    finally:
        shutil.rmtree(parent, ignore_errors=True)


@pytest.mark.skipif(not ROOT, reason="the sandbox drops to another uid only when run as root")
@pytest.mark.parametrize("namespaces", [True, False], ids=["namespaces", "no-namespaces"])
def test_an_unreadable_stdlib_is_a_loud_sandbox_error_never_a_verdict(namespaces):
    parent = Path(tempfile.mkdtemp(prefix="ded-sandbox-test-"))
    try:
        os.chmod(parent, 0o755)
        exe = make_python(parent)
        stdlib = parent / "py" / "lib" / VER
        os.chmod(stdlib, 0o700)  # only root may read it: the sandbox uid cannot import anything not pre-imported
        sb = Sandbox(Limits(timeout_s=10, namespaces=namespaces), python=str(exe))
        try:
            with pytest.raises(SandboxError) as e:
                sb.start()
            msg = str(e.value)
            assert "standard library" in msg and str(stdlib) in msg and "chmod o+rx" in msg, msg
            # the code verifier turns it into an undecided verdict with the reason, never False
            v = grade_code(sb, "print(input())\n", [{"input": "hi\n", "output": "hi\n", "testtype": "stdin"}])
            assert (v["status"], v["correct"], v["infra"]) == ("error", None, True), v
            assert str(stdlib) in json.loads(v["detail"])["infra"]
        finally:
            sb.close()
    finally:
        shutil.rmtree(parent, ignore_errors=True)


DYING_SERVER = "import sys\nsys.exit(3)\n"
BROKEN_JAIL = """
import importlib.util
spec = importlib.util.spec_from_file_location("sandbox_server", {server!r})  # not its folder on sys.path:
s = importlib.util.module_from_spec(spec)  # ded/verifiers/math.py would shadow the stdlib's math
spec.loader.exec_module(s)
requests = [0]
real_run, real_target = s.run_one, s.{target}

def run_one(req):  # counted in the server: each jail is a fork that inherits the count
    requests[0] += 1
    return real_run(req)

def fail_after_probe(*a, **k):  # the probe (request 1) passes; every later jail fails to build
    if requests[0] > 1:
        raise OSError(28, "No space left on device (injected)")
    return real_target(*a, **k)

s.run_one, s.{target} = run_one, fail_after_probe
s.serve()
"""


@pytest.mark.parametrize("target", ["_limits", "_isolate"], ids=["jail-setup", "supervisor"])
def test_a_jail_that_cannot_be_built_is_a_sandbox_failure(monkeypatch, tmp_path, target):
    """The jail (rlimits) or its supervisor (namespaces) fails: null with the reason, not "runtime error"."""
    from ded.verifiers import sandbox

    wrapper = tmp_path / "broken_server.py"
    wrapper.write_text(BROKEN_JAIL.format(server=str(sandbox.SERVER), target=target))
    monkeypatch.setattr(sandbox, "SERVER", wrapper)
    with Sandbox(Limits(timeout_s=5)) as sb:
        r = sb.run("print(1)\n")
        assert r["reason"] == "sandbox_error" and "No space left on device" in r["error"], r
        v = grade_code(sb, "print(input())\n", [{"input": "hi\n", "output": "hi\n", "testtype": "stdin"}])
    assert (v["status"], v["correct"], v["infra"]) == ("error", None, True), v
    assert "No space left on device" in json.loads(v["detail"])["infra"]


def test_a_server_that_dies_or_cannot_start_gives_null_code_verdicts(monkeypatch, tmp_path):
    from ded.verifiers import sandbox

    items = [{"domain": "code", "response": "```python\nprint(input())\n```",
              "tests": json.dumps([{"input": "hi\n", "output": "hi\n"}])}]
    dying = tmp_path / "dying_server.py"
    dying.write_text(DYING_SERVER)
    monkeypatch.setattr(sandbox, "SERVER", dying)
    (r,) = grade_many(items, workers=1, show_progress=False)
    assert (r["status"], r["correct"], r["infra"]) == ("error", None, True), r
    assert "died at start" in json.loads(r["detail"])["infra"]
    monkeypatch.undo()
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    (r,) = grade_many(items, workers=1, show_progress=False)
    monkeypatch.undo()
    assert (r["status"], r["correct"], r["infra"]) == ("error", None, True), r
    assert "could not start" in json.loads(r["detail"])["infra"]


def test_program_failures_stay_verdicts(tmp_path):
    """The program's own failures are verdicts (False), distinct from the sandbox's (None)."""
    tests = [{"input": "3\n", "output": "3\n"}]
    with Sandbox(Limits(timeout_s=1.5)) as sb:
        crash = grade_code(sb, "raise SystemExit(int(input()))\n", tests)
        slow = grade_code(sb, "while True: pass\n", tests)
        wrong = grade_code(sb, "print(4)\n", tests)
        exits = grade_code(sb, "import os\nos._exit(71)\n", tests)  # the old set-up exit code, now the program's
        missing = grade_code(sb, "import sortedcontainers_not_a_module\n", tests)
    for v, status in ((crash, "error"), (slow, "timeout"), (wrong, "wrong"), (exits, "error"), (missing, "error")):
        assert (v["status"], v["correct"], v["infra"]) == (status, False, False), v


NOT_ROOT_DRIVER = """
import importlib.util, json, os, sys
spec = importlib.util.spec_from_file_location("sbmod", os.path.join(os.path.dirname(__file__), "sandbox.py"))
m = importlib.util.module_from_spec(spec)
sys.modules["sbmod"] = m
spec.loader.exec_module(m)
out = []
for ns in (True, False):
    with m.Sandbox(m.Limits(timeout_s=10, namespaces=ns)) as sb:
        out.append(sb.run(sys.argv[1]))
print(json.dumps(out))
"""


@pytest.mark.skipif(not ROOT or not shutil.which("setpriv"), reason="needs root and setpriv to become another user")
def test_not_root_the_user_namespace_path_works_too():
    """The engine as an ordinary user (no uid drop): a user namespace, the prefix under /tmp bound back."""
    parent = Path(tempfile.mkdtemp(prefix="ded-sandbox-test-"))
    try:
        os.chmod(parent, 0o755)
        exe = make_python(parent)
        code = parent / "code"
        code.mkdir()
        from ded.verifiers import sandbox

        for f in (sandbox.SERVER, Path(sandbox.__file__)):  # stdlib-only modules, readable by that user
            shutil.copy(f, code / f.name)
        (code / "driver.py").write_text(NOT_ROOT_DRIVER)
        subprocess.run(["chmod", "-R", "o+rX", str(parent)], check=True)
        out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(exe), "-I",
                              str(code / "driver.py"), PROGRAM], capture_output=True, text=True, timeout=120,
                             check=False, cwd="/")
        assert out.returncode == 0, out.stderr[-2000:]
        with_ns, without = json.loads(out.stdout)
        for r in (with_ns, without):
            assert (r["reason"], r["exit_code"], r["stdout"]) == (None, 0, EXPECTED), r
            assert r["isolation"].startswith("same-uid")
        if "mountns" in with_ns["isolation"]:  # unprivileged user namespaces allowed here
            assert "userns" in with_ns["isolation"] and f"ro-bind:{parent / 'py'}" in with_ns["isolation"]
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def test_limits_too_tight_for_the_interpreter_are_a_loud_error():
    """verify.memory_mb so small that no program can import the stdlib: every program would 'fail' with
    MemoryError (silently false verdicts); the probe makes it one SandboxError that names the param."""
    sb = Sandbox(Limits(memory_mb=8))
    try:
        with pytest.raises(SandboxError, match=r"verify\.memory_mb=8 is too small"):
            sb.start()
        with pytest.raises(SandboxError, match="too small"):  # and stays broken: no run is ever graded
            sb.run("print(1)\n")
    finally:
        sb.close()
