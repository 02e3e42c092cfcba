"""A real S3-compatible server on 127.0.0.1 for tests and benches: moto's server mode (`moto[server]`, in ded[dev]).

`S3Server()` starts `python -m moto.server` on a free port, waits until it answers, creates a bucket, and
gives the storage options and environment a lake on it needs. moto keeps objects in memory: each server is
a fresh, empty store. Not a mock of Lance: Lance, LanceDB and DuckDB talk HTTP to it as to AWS S3.
"""

from __future__ import annotations

import contextlib

import os
import socket
import subprocess
import sys
import time

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "ded-test", "AWS_SECRET_ACCESS_KEY": "ded-test-secret",
               "AWS_REGION": "us-east-1"}


def moto_missing() -> str | None:
    """Why the server cannot start here, or None."""
    try:
        import boto3  # noqa: F401
        import flask  # noqa: F401  (moto's server mode)
        import moto  # noqa: F401
    except ImportError as e:
        return f"moto server mode not installed ({e.name}): pip install -e '.[dev]'"
    return None


class S3Server:
    def __init__(self, bucket: str = "ded-lake"):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.bucket = bucket
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait()
        import boto3

        boto3.client("s3", endpoint_url=self.endpoint, region_name=CREDENTIALS["AWS_REGION"],
                     aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                     aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"]).create_bucket(Bucket=bucket)

    def _wait(self, timeout_s: float = 30.0) -> None:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto server exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"moto server did not answer on {self.endpoint} within {timeout_s} s")

    @property
    def storage_options(self) -> dict[str, str]:
        """What `lake.storage_options` holds for this server (no credentials: those are in `env`)."""
        return {"endpoint": self.endpoint, "region": CREDENTIALS["AWS_REGION"], "allow_http": "true"}

    def root(self, prefix: str) -> str:
        return f"s3://{self.bucket}/{prefix.strip('/')}"

    def env(self) -> dict[str, str]:
        """Credentials as the environment carries them (what a user exports)."""
        return dict(CREDENTIALS)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def apply_env(env: dict[str, str]) -> dict[str, str | None]:
    """Set `env` in os.environ; returns what to restore."""
    before = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    return before


def restore_env(before: dict[str, str | None]) -> None:
    for k, v in before.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@contextlib.contextmanager
def running_s3():
    """A started S3Server with its endpoint and credentials in os.environ; both undone on exit (the tests'
    module-scoped `s3` fixtures)."""
    server = S3Server()
    before = apply_env(server.env())
    try:
        yield server
    finally:
        restore_env(before)
        server.close()
