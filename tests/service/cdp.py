"""A headless Chromium driven over the DevTools protocol with `websockets` (no browser-automation dependency).

Chromium comes from Debian's `chromium` package (scripts/install-test-deps.sh). Every request the page makes
is recorded, so tests can assert that nothing leaves the server under test.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


class Page:
    """One tab: send commands, evaluate JavaScript, wait for conditions; network requests land in `requests`."""

    def __init__(self, socket: ClientConnection) -> None:
        self._socket = socket
        self._next_id = 0
        self.requests: list[str] = []
        self.console_errors: list[str] = []

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        self._socket.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv(timeout=30))
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise AssertionError(f"{method} failed: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result
            self._event(message)

    def _event(self, message: dict[str, Any]) -> None:
        if message.get("method") == "Network.requestWillBeSent":
            self.requests.append(message["params"]["request"]["url"])
        elif message.get("method") == "Runtime.exceptionThrown":
            self.console_errors.append(json.dumps(message["params"]["exceptionDetails"])[:500])

    def evaluate(self, expression: str) -> Any:
        reply = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in reply:
            raise AssertionError(f"{expression!r} threw: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float = 20) -> Any:
        """Poll until `expression` is truthy; its value."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout_s} s waiting for {expression!r}")

    def open(self, url: str) -> None:
        self.send("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'")

    def set_files(self, selector: str, paths: list[Path]) -> None:
        """Choose files in an <input type=file>, as a user would (fires `change`)."""
        root = self.send("DOM.getDocument")["root"]["nodeId"]
        node = self.send("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        self.send("DOM.setFileInputFiles", nodeId=node, files=[str(path) for path in paths])


@contextmanager
def chromium(profile: Path) -> Iterator[Page]:
    """Start Chromium on a free DevTools port and attach to its first tab; always stopped afterwards."""
    process = subprocess.Popen(
        [CHROMIUM, *FLAGS, "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port = _devtools_port(profile / "DevToolsActivePort", process)
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        tab = next(target for target in targets if target["type"] == "page")
        with connect(tab["webSocketDebuggerUrl"], max_size=None, open_timeout=10) as socket:
            page = Page(socket)
            for domain in ("Page", "Runtime", "Network", "DOM"):
                page.send(f"{domain}.enable")
            yield page
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _devtools_port(path: Path, process: subprocess.Popen[bytes], timeout_s: float = 30) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"chromium exited with {process.returncode}")
        if path.exists() and path.read_text().strip():
            return int(path.read_text().splitlines()[0])
        time.sleep(0.05)
    raise AssertionError(f"chromium wrote no {path.name} within {timeout_s} s")
