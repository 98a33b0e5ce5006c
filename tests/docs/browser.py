"""A headless Chromium driven over its DevTools protocol: load a page, and report what a
reader would see go wrong -- console errors, uncaught exceptions, failed requests, and
images that did not load.

Debian's ``chromium`` package is the browser (``scripts/ensure-chromium.sh``
installs it; ``make test`` calls that script). The protocol is spoken over a
WebSocket with ``websocket-client``: no browser download, no driver.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websocket

#: What each image of a page is: its source, and whether it loaded with a size.
_IMAGES_JS = """
Array.from(document.images).map(img => ({
    src: (img.currentSrc || img.src).slice(0, 120),
    loaded: img.complete && img.naturalWidth > 0,
}))
"""


def find_chromium() -> str | None:
    """The Chromium executable on PATH, or None."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class PageReport:
    """What loading one page showed."""

    url: str
    title: str = ""
    errors: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)

    @property
    def missing_images(self) -> list[str]:
        return [image["src"] for image in self.images if not image["loaded"]]


class Browser:
    """One headless Chromium, one tab, for the life of a ``with`` block."""

    def __init__(self, executable: str, profile: Path, timeout_s: float = 30.0) -> None:
        self.timeout_s = timeout_s
        self._process = subprocess.Popen(
            [executable, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-extensions", "--disable-background-networking", "--remote-debugging-port=0",
             f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        port = self._devtools_port(profile)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout_s) as reply:
            targets = json.load(reply)
        page = next(t for t in targets if t["type"] == "page")
        self._ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=timeout_s,
                                               suppress_origin=True)
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")

    def _devtools_port(self, profile: Path) -> int:
        # Chromium writes the port it chose into the profile once it listens.
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if port_file.exists() and port_file.read_text().strip():
                return int(port_file.read_text().splitlines()[0])
            if self._process.poll() is not None:
                raise RuntimeError(f"chromium exited: {self._process.stderr.read()[-2000:]}")  # type: ignore[union-attr]
            time.sleep(0.05)
        raise TimeoutError("chromium did not open its DevTools port")

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._ws.close()
        finally:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and return its result; events that arrive meanwhile are kept."""
        self._next_id += 1
        ident = self._next_id
        self._ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._events.append(message)

    def _wait_for(self, method: str) -> None:
        deadline = time.monotonic() + self.timeout_s
        while not any(e.get("method") == method for e in self._events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method} within {self.timeout_s} s")
            self._events.append(json.loads(self._ws.recv()))

    def _drain(self, quiet_s: float) -> None:
        """Keep the events that arrive until none has for ``quiet_s``."""
        self._ws.settimeout(quiet_s)
        try:
            while True:
                self._events.append(json.loads(self._ws.recv()))
        except websocket.WebSocketTimeoutException:
            pass
        finally:
            self._ws.settimeout(self.timeout_s)

    def load(self, url: str) -> PageReport:
        """Load ``url``, let its scripts settle, and report what went wrong."""
        self._events.clear()
        self.call("Page.navigate", url=url)
        self._wait_for("Page.loadEventFired")
        self._drain(quiet_s=0.5)
        report = PageReport(url)
        report.title = self.evaluate("document.title")
        report.images = self.evaluate(_IMAGES_JS)
        report.errors = [_describe(e) for e in self._events if _is_error(e)]
        return report

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")


def _is_error(event: dict[str, Any]) -> bool:
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.exceptionThrown":
        return True
    if method == "Runtime.consoleAPICalled":
        return params.get("type") in ("error", "assert")
    if method == "Log.entryAdded":
        return params.get("entry", {}).get("level") == "error"
    if method == "Network.loadingFailed":
        return not params.get("canceled", False)
    return False


def _describe(event: dict[str, Any]) -> str:
    method, params = event["method"], event.get("params", {})
    if method == "Runtime.exceptionThrown":
        details = params.get("exceptionDetails", {})
        return f"exception: {details.get('exception', {}).get('description') or details.get('text')}"
    if method == "Runtime.consoleAPICalled":
        return "console.error: " + " ".join(str(a.get("value", a.get("description"))) for a in params.get("args", []))
    if method == "Log.entryAdded":
        entry = params.get("entry", {})
        return f"log: {entry.get('text')} {entry.get('url', '')}".strip()
    return f"request failed: {params.get('errorText')} ({params.get('type')})"
