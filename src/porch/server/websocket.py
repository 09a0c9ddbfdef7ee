"""WebSocket connections (RFC 6455) for ASGI applications, on websockets' sans-I/O protocol.

The HTTP/1.1 connection (`protocol.py`) hands a handshake over as a cycle: its parser ended
HTTP on the connection with an `Upgraded` event, and reading is paused. `ASGIAdapter` checks
the handshake (400 for a bad one, before the application sees it) and runs the application on
the ASGI `websocket` scope through a `WebSocket`:

- before `websocket.accept`, the request is still an HTTP request: `websocket.close` answers
  403, the `websocket.http.response` extension sends any response, and an application that
  neither accepts nor refuses within --timeout-request-header is cut off (the connection
  closes);
- `websocket.accept` writes the 101 answer and the transport's protocol becomes the
  `WebSocket` itself, which frames and unframes with `websockets.protocol.Protocol` (masking,
  opcodes, reserved bits and fragments checked there: 1002; a message over --ws-max-size: 1009)
  and checks that text is UTF-8 (1007).

Bounded both ways: past INCOMING_HIGH_WATER bytes of messages the application has not
received, reading pauses; `send` waits while the transport holds more than its high-water mark,
and a peer that reads nothing for --timeout-send is dropped. A peer that does not answer a ping
(one every --ws-ping-interval seconds) within --ws-ping-timeout is closed with 1011. A graceful
shutdown closes every connection with 1001 after what was already sent.
"""

import asyncio
import base64
import binascii
import codecs
import dataclasses
import hashlib
import logging
import os
import struct
from collections import deque
from typing import TYPE_CHECKING, Any

from websockets.exceptions import NegotiationError
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.headers import build_extension, parse_extension
from websockets.protocol import CLOSED, OPEN, Protocol, Side

try:
    from websockets.speedups import apply_mask  # C, as websockets' own frames use
except ImportError:  # pragma: no cover - a build without its C extension
    from websockets.utils import apply_mask

from porch.http.errors import ClientDisconnected
from porch.http.native import RequestHead
from porch.server.h1 import InvalidResponse, encode_switching_head
from porch.server.settings import default_of
from porch.server.types import Message, Scope

if TYPE_CHECKING:
    from porch.server.cycle import Cycle
    from porch.server.settings import Settings
    from porch.server.state import Clock

logger = logging.getLogger("porch.error")

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
# Bytes of received messages the application has not yet taken before reading pauses.
INCOMING_HIGH_WATER = 1 << 20
# How long a peer has to answer our close frame before the connection is dropped.
CLOSE_TIMEOUT = 5.0
# Close codes (RFC 6455 §7.4.1).
NORMAL, GOING_AWAY, ABNORMAL, INTERNAL_ERROR = 1000, 1001, 1006, 1011


@dataclasses.dataclass(frozen=True)
class WebSocketConfig:
    """The --ws-* settings, as every WebSocket connection of a server uses them (the handshake
    and send timeouts are the connection's own: --timeout-request-header, --timeout-send)."""

    max_size: int = default_of("ws_max_size")
    ping_interval: float = default_of("ws_ping_interval")
    ping_timeout: float = default_of("ws_ping_timeout")
    per_message_deflate: bool = default_of("ws_per_message_deflate")

    @classmethod
    def from_settings(cls, settings: "Settings") -> "WebSocketConfig":
        return cls(
            settings.ws_max_size,
            settings.ws_ping_interval,
            settings.ws_ping_timeout,
            settings.ws_per_message_deflate,
        )


def handshake_problem(head: RequestHead) -> str | None:
    """Why a request cannot open a WebSocket (RFC 6455 §4.2.1), or None if it can."""
    if head.method != "GET":
        return "A WebSocket handshake must be a GET request"
    if head.http_version != "1.1":
        return "A WebSocket handshake needs HTTP/1.1"
    keys = [value for name, value in head.headers if name == b"sec-websocket-key"]
    if len(keys) != 1 or not _is_key(keys[0]):
        return "Missing or malformed Sec-WebSocket-Key"
    versions = [value for name, value in head.headers if name == b"sec-websocket-version"]
    if versions != [b"13"]:
        return "Unsupported Sec-WebSocket-Version (this server speaks 13)"
    return None


def _is_key(value: bytes) -> bool:
    try:
        return len(base64.b64decode(value.strip(), validate=True)) == 16
    except (binascii.Error, ValueError):
        return False


def accept_value(key: bytes) -> bytes:
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.strip() + GUID).digest())


def websocket_scope(http: Scope) -> Scope:
    """The ASGI `websocket` scope of a handshake, from its `http` scope."""
    scope = {key: value for key, value in http.items() if key != "method"}
    scope["type"] = "websocket"
    scope["scheme"] = "wss" if http["scheme"] == "https" else "ws"
    offered = [
        token.strip().decode("latin-1")
        for name, value in http["headers"]
        if name == b"sec-websocket-protocol"
        for token in value.split(b",")
        if token.strip()
    ]
    scope["subprotocols"] = offered
    scope["extensions"] = {**http["extensions"], "websocket.http.response": {}}
    scope["extensions"].pop("http.response.pathsend", None)
    return scope


class WebSocket(asyncio.Protocol):
    """One WebSocket connection: ASGI `receive` and `send`, and, once accepted, the
    transport's protocol."""

    # PERF: thousands may be open at once: slots keep each small.
    __slots__ = (
        "_close_code",
        "_close_due",
        "_close_reason",
        "_connect_sent",
        "_decoder",
        "_early",
        "_fragments",
        "_handshake_timer",
        "_messages",
        "_ping_due",
        "_ping_payload",
        "_pong_due",
        "_queued",
        "_reading_paused",
        "_received",
        "_send_due",
        "_text",
        "_writable",
        "accepted",
        "clock",
        "closed",
        "closing",
        "config",
        "cycle",
        "deadline",
        "http",
        "refused",
        "state",
        "transport",
        "writing_paused",
        "ws",
    )

    def __init__(self, cycle: "Cycle", config: WebSocketConfig, early: bytes) -> None:
        self.cycle = cycle
        self.config = config
        http = cycle.protocol
        self.http = http
        self.state = http.state
        self.clock: Clock = http.clock
        self.transport: asyncio.Transport = cycle.transport
        self._early = early  # frames that came with the handshake
        self._connect_sent = False
        self.accepted = False
        self.refused = False  # answered over HTTP instead (403, a denial response, an error)
        self.closed = False  # the transport is gone, or the close handshake is over
        self.closing = False  # the server asks for no more (shutdown, --max-requests)
        self.ws: Protocol | None = None
        # Messages not yet received, and each one's size (made at the first: an idle
        # connection's empty deque would cost it 600 bytes).
        self._messages: deque[tuple[Message, int]] | None = None
        self._queued = 0  # bytes of received messages not yet taken
        self._reading_paused = False
        self._received: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None
        self.writing_paused = False
        self._fragments: list[Any] = []  # of a message: decoded text, or bytes
        self._text = False
        self._decoder: codecs.IncrementalDecoder | None = None
        self._close_code = ABNORMAL
        self._close_reason = ""
        self.deadline = 0.0
        self._ping_due = 0.0  # when the next ping goes out (0: none)
        self._pong_due = 0.0  # when the outstanding ping must have been answered (0: none)
        self._ping_payload = b""
        self._send_due = 0.0  # the peer must read some of what waits by then (0: no wait)
        self._close_due = 0.0  # our close frame must be answered by then (0: not sent)
        self._handshake_timer = http.loop.call_later(
            http.config.timeout_request_header, self._handshake_timed_out
        )

    # ASGI.

    async def receive(self) -> Message:
        if not self._connect_sent:
            self._connect_sent = True
            return {"type": "websocket.connect"}
        while not self._messages:
            if (
                self.closed
                or self.refused
                or (self.ws is not None and self.ws.state is CLOSED)
                or (not self.accepted and self.http.closed)
            ):
                return self._disconnect()
            received = self._received = self.http.loop.create_future()
            if self.accepted:
                await received
            else:
                # Nothing comes before the handshake ends: wait for it, or for the client to go.
                gone = asyncio.ensure_future(self.cycle.wait_for_end())
                await asyncio.wait((received, gone), return_when=asyncio.FIRST_COMPLETED)
                gone.cancel()
        assert self._messages is not None
        message, size = self._messages.popleft()
        self._queued -= size
        if self._reading_paused and self._queued <= INCOMING_HIGH_WATER // 2:
            self._reading_paused = False
            if not self.closed:
                self.transport.resume_reading()
        return message

    def _disconnect(self) -> Message:
        return {
            "type": "websocket.disconnect",
            "code": self._close_code,
            "reason": self._close_reason,
        }

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if not self.accepted:
            self._before_accept(kind, message)
            return
        ws = self.ws
        assert ws is not None
        if self.closed or ws.state is not OPEN:
            raise ClientDisconnected("the WebSocket is closed")
        if kind == "websocket.send":
            data = message.get("bytes")
            if data is not None:
                payload, opcode = bytes(data), 0x82
            else:
                text = message.get("text")
                if not isinstance(text, str):
                    raise RuntimeError("ASGI: 'websocket.send' needs 'bytes' or 'text'")
                payload, opcode = text.encode(), 0x81
            if ws.extensions:
                (ws.send_binary if opcode == 0x82 else ws.send_text)(payload)
                self._flush()
            else:
                # PERF: a server's frame is a head and the payload as it is (no mask, no
                # extension): built here rather than by websockets' Frame.serialize.
                size = len(payload)
                if size < 126:
                    head = bytes((opcode, size))
                elif size < 65536:
                    head = struct.pack("!BBH", opcode, 126, size)
                else:
                    head = struct.pack("!BBQ", opcode, 127, size)
                self.transport.write(head + payload)
            if self.writing_paused:
                await self._wait_writable()
        elif kind == "websocket.close":
            self.close(int(message.get("code") or NORMAL), message.get("reason") or "")
        else:
            raise RuntimeError(f"ASGI: {kind!r} cannot be sent on an open WebSocket")

    def _before_accept(self, kind: str, message: Message) -> None:
        cycle = self.cycle
        if cycle.protocol.closed or (self.refused and cycle.response_complete):
            raise ClientDisconnected("the WebSocket handshake is over")
        if kind == "websocket.accept":
            self._accept(message)
        elif kind == "websocket.close":
            self.refuse()
            cycle.send_error(403, "WebSocket connection refused")
        elif kind == "websocket.http.response.start":
            self.refuse()
            cycle.start_response(int(message["status"]), list(message.get("headers", ())))
        elif kind == "websocket.http.response.body":
            if not self.refused or not cycle.response_started:
                raise RuntimeError(
                    "ASGI: 'websocket.http.response.body' before 'websocket.http.response.start'"
                )
            cycle.write(bytes(message.get("body", b"")), more=message.get("more_body", False))
        else:
            raise RuntimeError(
                f"ASGI: expected 'websocket.accept', 'websocket.close' or "
                f"'websocket.http.response.start', got {kind!r}"
            )

    def refuse(self) -> None:
        """The handshake ends without a WebSocket: the application refused it, failed or
        returned first (the cycle answers over HTTP)."""
        self._handshake_timer.cancel()
        self.refused = True
        self.cycle.keep_alive = False  # nothing after the handshake on this connection is HTTP
        self._wake_receiver()

    def _accept(self, message: Message) -> None:
        cycle = self.cycle
        head = cycle.head
        key = next(value for name, value in head.headers if name == b"sec-websocket-key")
        headers = [
            (b"upgrade", b"websocket"),
            (b"connection", b"Upgrade"),
            (b"sec-websocket-accept", accept_value(key)),
        ]
        subprotocol = message.get("subprotocol")
        if subprotocol:
            headers.append((b"sec-websocket-protocol", subprotocol.encode("latin-1")))
        extensions = []
        if self.config.per_message_deflate:
            extension, response = self._negotiate_deflate(head)
            if extension is not None:
                extensions.append(extension)
                headers.append((b"sec-websocket-extensions", response))
        own = {name for name, _ in headers}
        headers += [
            (bytes(name).lower(), bytes(value))
            for name, value in message.get("headers", ())
            if bytes(name).lower() not in own
        ]
        extra = cycle.protocol.clock.header_lines
        if head.request_id:
            extra += b"x-request-id: %s\r\n" % head.request_id.encode()
        try:
            data = encode_switching_head(headers, extra)
        except InvalidResponse as exc:
            raise RuntimeError(f"ASGI: bad 'websocket.accept' headers: {exc}") from None
        self._handshake_timer.cancel()
        ws = self.ws = Protocol(Side.SERVER, state=OPEN, max_size=self.config.max_size)
        ws.extensions = extensions
        self.accepted = True
        self.transport.write(data)
        cycle.status = 101
        cycle.response_started = cycle.response_complete = True
        cycle.protocol.upgrade(cycle, self)
        # From here the transport is ours.
        self.transport.set_protocol(self)
        self.state.connections.add(self)
        if self.config.ping_interval:
            self._ping_due = self.clock.now + self.config.ping_interval
        self._set_deadline()
        if self._early:
            early, self._early = self._early, b""
            self.data_received(early)
        if not self.closed and not self._reading_paused:
            self.transport.resume_reading()

    @staticmethod
    def _negotiate_deflate(head: RequestHead) -> tuple[Any, bytes]:
        offers = [
            offer
            for name, value in head.headers
            if name == b"sec-websocket-extensions"
            for offer in parse_extension(value.decode("latin-1"))
        ]
        factory = ServerPerMessageDeflateFactory()
        for name, params in offers:
            if name != factory.name:
                continue
            try:
                response, extension = factory.process_request_params(params, [])
            except NegotiationError:
                continue  # parameters we cannot take: try the next offer, or none
            return extension, build_extension([(name, response)]).encode()
        return None, b""

    def _handshake_timed_out(self) -> None:
        if self.accepted or self.refused or self.http.closed:
            return  # answered, or the client is gone (and the application told so)
        logger.warning(
            "WebSocket handshake neither accepted nor refused within %gs; closing",
            self.http.config.timeout_request_header,
        )
        self.refused = True
        self.http.abort()

    # The connection, once accepted.

    def data_received(self, data: bytes) -> None:
        ws = self.ws
        if ws is None or self.closed:
            return
        if ws.current_size is None and not ws.reader.buffer and ws.state is OPEN:
            data = self._take_whole_frames(data)
            if not data:
                return
        ws.receive_data(data)
        for frame in ws.events_received():
            self._frame(frame)  # type: ignore[arg-type]  # a Protocol's events are frames
        self._flush()
        if ws.state is CLOSED or ws.close_rcvd is not None or ws.parser_exc is not None:
            self._note_close()

    def _frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            self._text = opcode is Opcode.TEXT
            self._decoder = codecs.getincrementaldecoder("utf-8")() if self._text else None
            self._fragments = []
        elif opcode is Opcode.PONG:
            if self._pong_due and frame.data == self._ping_payload:
                self._pong_due = 0.0
                self._set_deadline()
            return
        elif opcode is not Opcode.CONT:
            return  # ping (answered by the protocol) and close (see _note_close)
        if self._decoder is not None:
            try:  # text is checked and decoded piece by piece, once
                self._fragments.append(self._decoder.decode(frame.data, final=frame.fin))
            except UnicodeDecodeError:
                self._fail(1007, "invalid UTF-8 in a text message")
                return
        else:
            self._fragments.append(bytes(frame.data))
        if not frame.fin:
            return
        fragments, self._fragments = self._fragments, []
        if self._text:
            text = "".join(fragments)
            self._deliver({"type": "websocket.receive", "text": text}, len(text))
        else:
            data = b"".join(fragments)
            self._deliver({"type": "websocket.receive", "bytes": data}, len(data))

    def _take_whole_frames(self, data: bytes) -> bytes:
        """Deliver the whole, unfragmented, masked text and binary frames that `data` begins
        with; return the rest, from the first frame that is anything else, for the protocol.

        PERF: most messages are small and come whole, one frame each: read here, they skip
        websockets' frame parser (its generators and Frame objects), half of what a message
        cost. What this does not take (control frames, fragments, reserved bits, compressed or
        oversized messages, split frames) goes through the protocol, which checks it all;
        text that is not UTF-8 too, so that it closes with 1007 there.
        """
        offset, end, most = 0, len(data), self.config.max_size
        while end - offset >= 6:
            first, second = data[offset], data[offset + 1]
            if (first != 0x81 and first != 0x82) or not second & 0x80:
                break  # not FIN + text/binary with no reserved bit, or not masked
            length = second & 0x7F
            start = offset + 6
            if length == 126:
                length = int.from_bytes(data[offset + 2 : offset + 4])
                start = offset + 8
            elif length == 127:
                break
            if length > most or start + length > end:
                break
            payload = apply_mask(data[start : start + length], data[start - 4 : start])
            if first == 0x81:
                try:
                    text = payload.decode()
                except UnicodeDecodeError:
                    break
                self._deliver({"type": "websocket.receive", "text": text}, length)
            else:
                self._deliver({"type": "websocket.receive", "bytes": payload}, length)
            offset = start + length
        return data[offset:] if offset else data

    def _deliver(self, message: Message, size: int) -> None:
        """A message for the application's receive(); reading pauses while too much waits."""
        if self._messages is None:
            self._messages = deque()
        self._messages.append((message, size))
        self._queued += size
        if self._queued > INCOMING_HIGH_WATER and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake_receiver()

    def _fail(self, code: int, reason: str) -> None:
        assert self.ws is not None
        self.ws.fail(code, reason)
        self._flush()
        self._note_close()

    def _note_close(self) -> None:
        """The close handshake happened or failed: say so to the application, and close
        the transport once the protocol says the peer has nothing more to send."""
        ws = self.ws
        assert ws is not None
        received = ws.close_rcvd
        sent = ws.close_sent
        if received is not None:
            self._close_code, self._close_reason = received.code, received.reason
        elif sent is not None:
            self._close_code, self._close_reason = sent.code, sent.reason
        if ws.state is CLOSED:
            self.transport.close()  # the peer has closed its side too
        elif not self._close_due:
            # What the peer still sends is read and dropped until it closes its side (a close
            # now would reset the connection and lose our close frame), for CLOSE_TIMEOUT.
            self._close_due = self.clock.now + CLOSE_TIMEOUT
            self._set_deadline()
        self._wake_receiver()

    def _flush(self) -> None:
        ws = self.ws
        if ws is None or self.closed:
            return
        for data in ws.data_to_send():
            if data:
                self.transport.write(data)
            elif self.transport.can_write_eof():
                self.transport.write_eof()

    def close(self, code: int = NORMAL, reason: str = "") -> None:
        """Start the close handshake (nothing if it has begun)."""
        ws = self.ws
        if ws is None or self.closed or ws.state is not OPEN:
            return
        ws.send_close(code, reason)
        self._flush()
        self._close_due = self.clock.now + CLOSE_TIMEOUT
        self._set_deadline()

    def eof_received(self) -> bool:
        ws = self.ws
        if ws is not None:
            ws.receive_eof()
            self._flush()
            self._note_close()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.deadline = 0.0
        self.state.connections.discard(self)
        ws = self.ws
        if ws is not None and ws.close_rcvd is None:
            self._close_code, self._close_reason = ABNORMAL, ""
        self._wake_receiver()
        waiter = self._writable
        if waiter is not None and not waiter.done():
            waiter.set_exception(ClientDisconnected("client disconnected"))
            waiter.exception()

    def pause_writing(self) -> None:
        self.writing_paused = True
        self._send_due = self.clock.now + self.http.config.timeout_send
        self._set_deadline()

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._send_due = 0.0
        self._set_deadline()
        waiter = self._writable
        if waiter is not None:
            self._writable = None
            if not waiter.done():
                waiter.set_result(None)

    async def _wait_writable(self) -> None:
        if self._writable is None:
            self._writable = self.http.loop.create_future()
        await self._writable

    def _wake_receiver(self) -> None:
        waiter = self._received
        if waiter is not None:
            self._received = None
            if not waiter.done():
                waiter.set_result(None)

    # What the server's ticker and shutdown call (as on HTTPProtocol).

    def _set_deadline(self) -> None:
        due = [t for t in (self._ping_due, self._pong_due, self._send_due, self._close_due) if t]
        self.deadline = min(due) if due else 0.0

    def deadline_passed(self) -> None:
        now = self.clock.now
        if (self._close_due and now >= self._close_due) or (
            self._send_due and now >= self._send_due
        ):
            self.abort()  # no answer to our close, or a peer that reads nothing
            return
        if self._pong_due and now >= self._pong_due:
            logger.info("WebSocket peer did not answer a ping within %gs", self.config.ping_timeout)
            self._pong_due = 0.0
            self.close(INTERNAL_ERROR, "keepalive ping timeout")
            return
        if self._ping_due and now >= self._ping_due and self.ws is not None:
            if self.ws.state is OPEN and not self._pong_due:
                self._ping_payload = os.urandom(4)
                self.ws.send_ping(self._ping_payload)
                self._flush()
                self._pong_due = now + self.config.ping_timeout
            self._ping_due = now + self.config.ping_interval
            self._set_deadline()

    def shutdown(self) -> None:
        """The server stops: close with 1001 after what was already sent."""
        self.closing = True
        self.close(GOING_AWAY, "server shutting down")

    def abort(self) -> None:
        task = self.cycle.task
        if task is not None and not task.done():
            task.cancel()
        if not self.closed:
            self.transport.abort()
