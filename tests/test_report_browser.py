"""The report opened in headless Chromium: it renders, its charts are visible, and it makes no network request.

Every request the browser makes is forced through a logging proxy on 127.0.0.1 (`--proxy-server` with
`--proxy-bypass-list=<-loopback>`, so even loopback is proxied); the proxy answers nothing and records each
request line. A control page that does reference the network proves the proxy sees such requests.
Chromium runs as root here (CI), hence `--no-sandbox`. CI installs Debian's `chromium` (.ci/run).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_report import RUN, build_lake, write_metrics

# Debian's /usr/bin/chromium is a wrapper that adds --enable-remote-extensions and Google API keys (both make
# the browser phone home); its binary takes our flags alone.
_DEBIAN_BINARY = Path("/usr/lib/chromium/chromium")
CHROMIUM = (str(_DEBIAN_BINARY) if _DEBIAN_BINARY.exists() else None) or shutil.which("chromium") \
    or shutil.which("chromium-browser") or shutil.which("google-chrome")

# Chromium's own background traffic, present with these flags even on about:blank (measured with Debian's
# chromium 156): the on-demand component installer (update.googleapis.com, despite --disable-component-update),
# GAIA sign-in (accounts.google.com) and network time (clients2.google.com, also off via the feature flag).
# Requests to these hosts are not the page's; every other request fails the test. The page itself also carries
# a Content-Security-Policy of default-src 'none', so a browser would refuse any fetch it tried.
BROWSER_SERVICE_HOSTS = ("update.googleapis.com", "accounts.google.com", "clients2.google.com")


def page_requests(requests: list[str]) -> list[str]:
    """The requests that are the page's: not to Chromium's service hosts, and not an empty connection (one that
    closed before sending a byte: Chromium preconnects to its services alongside their requests; seen in a CI
    run beside CONNECT accounts.google.com and update.googleapis.com). Nothing was asked for on it."""
    return [r for r in requests if r != "<empty connection>" and not any(h in r.split(" ")[1 if " " in r else 0][:80] for h in BROWSER_SERVICE_HOSTS)]
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (CI installs Debian's "
                                "`chromium`; locally: apt-get install chromium)")

# The report's palette (ded/report/svg.py PALETTE), as RGB: the first three colours fill every chart's bars.
CHART_RGB = [(0x00, 0x72, 0xB2), (0xE6, 0x9F, 0x00), (0x00, 0x9E, 0x73)]


class LoggingProxy:
    """Accepts connections on 127.0.0.1, records the first request line of each, and closes it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.requests: list[str] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._serve, daemon=True)
        self._t.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    line = conn.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
                except OSError:
                    line = "<connection without a request line>"
                self.requests.append(line or "<empty connection>")
                try:
                    conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass

    def close(self):
        self._stop.set()
        self._t.join(timeout=2)
        self.sock.close()


def screenshot(page: Path, out: Path, proxy: LoggingProxy, tmp: Path) -> Path:
    profile = tmp / f"chromium-profile-{out.stem}"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-features=NetworkTimeServiceQuerying",
           f"--user-data-dir={profile}", f"--proxy-server=http://127.0.0.1:{proxy.port}",
           "--proxy-bypass-list=<-loopback>", "--hide-scrollbars", "--window-size=1100,3000",
           "--virtual-time-budget=3000", f"--screenshot={out}", page.resolve().as_uri()]
    r = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=120)
    assert out.exists(), f"chromium wrote no screenshot (rc {r.returncode}): {r.stderr[-2000:]}"
    return out


def chart_pixels(png: Path) -> dict[tuple[int, int, int], int]:
    """How many pixels of each chart colour the screenshot shows (within a small tolerance)."""
    import numpy as np
    from PIL import Image

    img = np.asarray(Image.open(png).convert("RGB")).astype(int)
    return {c: int((np.abs(img - np.array(c)).sum(axis=2) < 24).sum()) for c in CHART_RGB}


def non_white_share(png: Path) -> float:
    import numpy as np
    from PIL import Image

    img = np.asarray(Image.open(png).convert("L"))
    return float((img < 245).mean())


@pytest.fixture
def proxy():
    p = LoggingProxy()
    yield p
    p.close()


def test_report_renders_offline_with_visible_charts(tmp_path, proxy):
    from ded.report import write_report

    lake = build_lake(tmp_path / "lake")
    write_metrics(tmp_path / "metrics")
    paths = write_report(lake, out_dir=tmp_path / "out", metrics_dir=tmp_path / "metrics", selection_run=RUN)
    png = screenshot(paths["html"], tmp_path / "report.png", proxy, tmp_path)
    assert page_requests(proxy.requests) == [], f"the report made network requests: {proxy.requests}"
    assert non_white_share(png) > 0.03, "the screenshot is (nearly) blank"
    px = chart_pixels(png)
    # bars of each of the three main colours cover over a thousand pixels when the SVG charts render
    assert all(n > 1000 for n in px.values()), f"chart colours barely visible: {px}"


def test_controls_the_checks_can_fail(tmp_path, proxy):
    """A page that fetches from the network is caught by the proxy, and a blank page has no chart pixels."""
    leaky = tmp_path / "leaky.html"
    leaky.write_text('<html><body><img src="http://example.invalid/x.png">'
                     '<link rel="stylesheet" href="https://cdn.example.invalid/a.css"></body></html>')
    screenshot(leaky, tmp_path / "leaky.png", proxy, tmp_path)
    seen = " ".join(page_requests(proxy.requests))
    assert "example.invalid/x.png" in seen and "cdn.example.invalid:443" in seen, proxy.requests
    blank = tmp_path / "blank.html"
    blank.write_text("<html><body></body></html>")
    png = screenshot(blank, tmp_path / "blank.png", proxy, tmp_path)
    assert non_white_share(png) < 0.001 and max(chart_pixels(png).values()) == 0
