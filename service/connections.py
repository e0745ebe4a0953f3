"""The HTTP connection itself, where uvicorn falls short of the service's rules: a client that opens a connection
and never finishes its request line and headers (slowloris) is closed instead of holding a file handle forever,
a request head without end is refused instead of growing in memory (uvicorn and httptools set no limit: 200 MB of
headers held 220 MB of one process, a 100 MB header value kept it busy re-copying the value as it grew), and so are
connections past a count, each of which may hold such a head (uvicorn's own limit answers only once a head is in), a
request
the HTTP parser cannot read is answered in JSON like every other 4xx, and a pipelined request whose client has gone
is not answered into a closed socket (a RuntimeError and two error logs per request)."""

from __future__ import annotations

import asyncio
import json

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the guards of this module: each request head complete within
    `header_timeout_s` of the connection opening or of its first byte (idle keep-alive connections keep uvicorn's
    own timeout) and within `max_head_bytes`, at most `max_connections` at once, parser errors in JSON, and every
    open request of a lost connection told so."""

    header_timeout_s = 10.0  # set per server by http_protocol
    max_head_bytes = 65536
    max_connections = 2048
    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._open_cycles: list[RequestResponseCycle] = []  # this connection's requests not yet answered
        self._in_message = False  # from a request's first byte to the end of its body
        self._reading_head = False  # from a request's first byte to the end of its headers
        self._messages_begun = 0
        self._head_bytes = 0
        if len(self.connections) > self.max_connections:
            message = f"this server process holds {self.max_connections} connections (POSECAST_MAX_CONNECTIONS); retry"
            self._answer_and_close(503, message, [(b"retry-after", b"1")])
            return
        self._arm()

    def data_received(self, data: bytes) -> None:
        """Counts a read towards the open head when all of it is head: it began with that head open, or between
        requests (the next one starts at its first byte), and no other request began inside it. A read where
        pipelined requests meet is left out; the next read of the same head counts."""
        requests_expected = 0 if self._reading_head else None if self._in_message else 1
        begun_before = self._messages_begun
        super().data_received(data)
        whole_read_is_head = self._messages_begun - begun_before == requests_expected
        if whole_read_is_head and self._reading_head and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                self._answer_and_close(
                    431,
                    f"the request line and headers run past {self.max_head_bytes} bytes (POSECAST_MAX_HEAD_BYTES)",
                )

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_message = self._reading_head = True
        self._messages_begun += 1
        self._head_bytes = 0
        self._arm()

    def on_message_complete(self) -> None:
        self._in_message = False
        super().on_message_complete()

    def on_headers_complete(self) -> None:
        self._reading_head = False
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
        self._answer_and_close(400, msg)

    def _answer_and_close(self, status: int, msg: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        body = json.dumps({"error": msg}).encode()
        head = [STATUS_LINE[status]]
        head += [
            name + b": " + value + b"\r\n" for name, value in [*self.server_state.default_headers, *(headers or [])]
        ]
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


def http_protocol(header_timeout_s: float, max_head_bytes: int, max_connections: int) -> type[GuardedHttpProtocol]:
    """The protocol class for `uvicorn.Config(http=...)`, with this server's limits."""
    limits = {
        "header_timeout_s": header_timeout_s,
        "max_head_bytes": max_head_bytes,
        "max_connections": max_connections,
    }
    return type("GuardedHttpProtocol", (GuardedHttpProtocol,), limits)
