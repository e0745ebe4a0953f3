"""The HTTP connection itself, where uvicorn falls short of the service's rules. uvicorn and httptools set no
limit on a request head (200 MB of headers held 220 MB of one process; a 100 MB header value kept it busy re-copying
the value as it grew), on the connections that may each hold one (uvicorn's own limit answers only once a head is
in), on how long an answer may wait for a client that does not read it (20 such connections held 45 MB for as long
as they stayed open), nor on how long a request line and headers may take (slowloris). Here all four are bounded; a
request the HTTP parser cannot read is answered in JSON like every other 4xx; and a pipelined request whose client
has gone is not answered into a closed socket (a RuntimeError and two error logs per request)."""

from __future__ import annotations

import asyncio
import fcntl
import json
import sys
import termios

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle

from service.settings import Settings


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the guards of this module: each request head complete within
    `header_timeout_s` of the connection opening or of its first byte (idle keep-alive connections keep uvicorn's
    own timeout) and within `max_head_bytes`, at most `max_connections` at once, answers taken by the client within
    `send_timeout_s` of each other, parser errors in JSON, and every open request of a lost connection told so."""

    header_timeout_s: float  # these four are set per server by http_protocol, from Settings
    max_head_bytes: int
    max_connections: int
    send_timeout_s: float
    _head_deadline: asyncio.TimerHandle | None = None
    _send_deadline: asyncio.TimerHandle | None = None

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

    def pause_writing(self) -> None:
        super().pause_writing()
        self._watch_reader(self._untaken_bytes())

    def resume_writing(self) -> None:
        self._stop_watching_reader()
        super().resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._stop_watching_reader()
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

    def _watch_reader(self, untaken: int) -> None:
        self._send_deadline = self.loop.call_later(self.send_timeout_s, self._check_reader, untaken)

    def _stop_watching_reader(self) -> None:
        if self._send_deadline is not None:
            self._send_deadline.cancel()
            self._send_deadline = None

    def _check_reader(self, untaken_before: int) -> None:
        """While the answer waits to be sent: a client that took some of it since the last look gets another
        `send_timeout_s`, one that took none is dropped with what was left unsent (nginx's send_timeout)."""
        untaken = self._untaken_bytes()
        if untaken < untaken_before:
            self._watch_reader(untaken)
        else:
            self._send_deadline = None
            self.transport.abort()

    def _untaken_bytes(self) -> int:
        """The transport's buffer and the kernel's send queue (Linux; megabytes, which the buffer only sees move
        once a third of them has gone): the bytes the client has not acknowledged yet."""
        untaken = self.transport.get_write_buffer_size()
        try:
            fd = self.transport.get_extra_info("socket").fileno()
            untaken += int.from_bytes(fcntl.ioctl(fd, termios.TIOCOUTQ, bytes(4)), sys.byteorder, signed=True)
        except (OSError, AttributeError):  # no such query here, or the socket has gone
            pass
        return untaken

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def http_protocol(settings: Settings) -> type[GuardedHttpProtocol]:
    """The protocol class for `uvicorn.Config(http=...)`, with this server's limits."""
    limits = {
        "header_timeout_s": settings.header_timeout_s,
        "max_head_bytes": settings.max_head_bytes,
        "max_connections": settings.max_connections,
        "send_timeout_s": settings.send_timeout_s,
    }
    return type("GuardedHttpProtocol", (GuardedHttpProtocol,), limits)
