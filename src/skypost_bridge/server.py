"""The WebSocket side: picows (Cython framing on uvloop) accepting clients, one Session each. Messages split into
continuation frames are reassembled here; pings go out after `ping_interval` of silence and a client that does not
answer within `ping_timeout` is disconnected; the transport's write-buffer marks pause and resume the session's
outbox so that a slow client queues (bounded) instead of growing the kernel and transport buffers."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

import picows
from picows import WSMsgType

from skypost_bridge.config import BridgeConfig
from skypost_bridge.session import Backend, Session

log = logging.getLogger("rosout.skypost_bridge")
WRITE_HIGH_WATER = 256 * 1024  # transport buffer above which the outbox queues (and can drop smartly)
WRITE_LOW_WATER = 64 * 1024


class ClientConnection(picows.WSListener):
    def __init__(self, server: BridgeServer, peer: str) -> None:
        self.server = server
        self.peer = peer
        self.transport: picows.WSTransport | None = None
        self.session: Session | None = None
        self._parts: list[bytes] = []
        self._parts_size = 0
        self._parts_binary = False
        self._skip_rest = False

    # Sender -----------------------------------------------------------------------------------------------------
    def send(self, data: bytes, binary: bool) -> None:
        transport = self.transport
        if transport is not None and not transport.is_disconnected:
            transport.send(WSMsgType.BINARY if binary else WSMsgType.TEXT, data)

    def close(self, code: int, reason: str) -> None:
        transport = self.transport
        if transport is not None:
            transport.send_close(code, reason.encode()[:120])
            transport.disconnect(graceful=True)

    # picows callbacks -------------------------------------------------------------------------------------------
    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self.transport = transport
        underlying = transport.underlying_transport
        underlying.set_write_buffer_limits(high=WRITE_HIGH_WATER, low=WRITE_LOW_WATER)
        peer = underlying.get_extra_info("peername")
        if peer:
            self.peer = f"{peer[0]}:{peer[1]}"
        self.session = Session(self.server.config, self.server.backend, self.server.loop, self, self.peer)
        self.server.sessions.add(self.session)
        log.info("bridge: client %s connected (%d clients)", self.peer, len(self.server.sessions))

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        kind = frame.msg_type
        if kind == WSMsgType.TEXT or kind == WSMsgType.BINARY:
            if frame.fin:
                self.session.on_message(frame.get_payload_as_bytes())
                return
            self._parts = [frame.get_payload_as_bytes()]
            self._parts_size = len(self._parts[0])
            self._skip_rest = False
        elif kind == WSMsgType.CONTINUATION:
            if not self._skip_rest:
                self._parts.append(frame.get_payload_as_bytes())
                self._parts_size += frame.payload_size
                if self._parts_size > self.server.config.max_message_size:
                    self._parts, self._skip_rest = [], True
                    self.session.message_too_big(self._parts_size)
            if frame.fin:
                if not self._skip_rest:
                    self.session.on_message(b"".join(self._parts))
                self._parts, self._parts_size, self._skip_rest = [], 0, False
        elif kind == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        session = self.session
        if session is not None:
            session.close()
            self.server.sessions.discard(session)
            log.info("bridge: client %s disconnected (%d clients; %d frames dropped for it)", self.peer,
                     len(self.server.sessions), session.outbox.dropped)

    def pause_writing(self) -> None:
        if self.session is not None:
            self.session.outbox.pause()

    def resume_writing(self) -> None:
        if self.session is not None:
            self.session.outbox.resume()


class BridgeServer:
    def __init__(self, config: BridgeConfig, backend: Backend, loop: asyncio.AbstractEventLoop) -> None:
        self.config = config
        self.backend = backend
        self.loop = loop
        self.sessions: set[Session] = set()
        self._server: asyncio.AbstractServer | None = None
        self.port = 0

    def _accept(self, request: picows.WSUpgradeRequest) -> Any:
        if self.config.locked:
            log.error("bridge: refusing a client: auth_required is true but no secret is configured")
            return picows.WSUpgradeResponseWithListener(picows.WSUpgradeResponse.create_error_response(
                503, b"bridge auth is not configured (no secret)"), None)
        if len(self.sessions) >= self.config.max_clients:
            log.warning("bridge: refusing a client: %d clients already", len(self.sessions))
            return picows.WSUpgradeResponseWithListener(picows.WSUpgradeResponse.create_error_response(
                503, b"too many clients"), None)
        return ClientConnection(self, "?")

    async def start(self) -> int:
        self._server = await picows.ws_create_server(
            self._accept, self.config.address, self.config.port,
            websocket_handshake_timeout=10, enable_auto_ping=True,
            auto_ping_idle_timeout=self.config.ping_interval, auto_ping_reply_timeout=self.config.ping_timeout,
            enable_auto_pong=True, max_frame_size=self.config.max_message_size * 2 + 65536,
            logger_name=logging.getLogger("rosout.skypost_bridge.ws"), reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        for session in list(self.sessions):
            session.sender.close(1001, "bridge shutting down")
            session.close()
        if self._server is not None:
            self._server.close()
            await asyncio.wait_for(self._server.wait_closed(), 5.0)
