"""The HTTP connection itself, where uvicorn falls short of the service's rules: a client that opens a connection
and never finishes its request line and headers (slowloris) is closed instead of holding a file handle forever,
a request the HTTP parser cannot read is answered in JSON like every other 4xx, and a pipelined request whose
client has gone is not answered into a closed socket (a RuntimeError and two error logs per request)."""

from __future__ import annotations

import asyncio
import json

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the three guards of this module: each request head complete within
    `header_timeout_s` of the connection opening or of its first byte (idle keep-alive connections keep uvicorn's
    own timeout), parser errors in JSON, and every open request of a lost connection told so."""

    header_timeout_s = 10.0  # set per server by http_protocol
    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._open_cycles: list[RequestResponseCycle] = []  # this connection's requests not yet answered
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()
        self._open_cycles = [cycle for cycle in self._open_cycles if not cycle.response_complete]
        if self.cycle is not None:  # None when the request upgraded to a websocket
            self._open_cycles.append(self.cycle)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        # uvicorn tells only the newest request that its client left; an older pipelined one, already running,
        # would go on to write its answer to the closed transport.
        for cycle in self._open_cycles:
            if not cycle.response_complete:
                cycle.disconnected = True
                cycle.message_event.set()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to bytes that are not HTTP/1.1 (bad Content-Length, bad chunk sizes, a NUL in a
        header), as `{"error": ...}` instead of plain text; the connection closes as before."""
        body = json.dumps({"error": msg}).encode()
        head = [STATUS_LINE[400]]
        head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
        head += [b"content-type: application/json\r\n", b"content-length: %d\r\n" % len(body), b"connection: close\r\n"]
        self.transport.write(b"".join([*head, b"\r\n", body]))
        self.transport.close()

    def _arm(self) -> None:
        self._disarm()
        self._head_deadline = self.loop.call_later(self.header_timeout_s, self._head_too_slow)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def http_protocol(header_timeout_s: float) -> type[GuardedHttpProtocol]:
    """The protocol class for `uvicorn.Config(http=...)`, with this server's head deadline."""
    return type("GuardedHttpProtocol", (GuardedHttpProtocol,), {"header_timeout_s": header_timeout_s})
