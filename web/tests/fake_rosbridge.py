"""A rosbridge v2 protocol double (WebSocket server) for testing the web app's real roslibpy path.

It understands the ops the web app sends (auth, subscribe, advertise_service, call_service, service_response,
unsubscribe, advertise), answers service calls with handlers the test sets, and lets the test publish to the
client's subscriptions, call the client's advertised services and drop the connection.
"""
from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

import jwt
from websockets.asyncio.server import ServerConnection, serve


class FakeRosbridge:
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.ops: list[dict[str, Any]] = []  # every op received, in order
        self.auth_claims: list[dict[str, Any]] = []
        self.services: dict[str, Callable[[dict], dict]] = {}
        self.subscriptions: set[str] = set()
        self.advertised: set[str] = set()
        self.responses: dict[str, dict] = {}
        self.connections = 0
        self._conn: ServerConnection | None = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._server = None
        self.port = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._lock = threading.Lock()

    # lifecycle ----------------------------------------------------------------------------------------------------
    def start(self) -> FakeRosbridge:
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError("fake rosbridge did not start")
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            self._server = await serve(self._handle, "127.0.0.1", 0)
            self.port = self._server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._server.serve_forever()

        try:
            self._loop.run_until_complete(main())
        except asyncio.CancelledError:
            pass

    def stop(self) -> None:
        if self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        self._thread.join(10)

    # protocol -----------------------------------------------------------------------------------------------------
    async def _handle(self, conn: ServerConnection) -> None:
        authenticated = False
        with self._lock:
            self.connections += 1
            self._conn = conn
            self.subscriptions.clear()
            self.advertised.clear()
        async for raw in conn:
            op = json.loads(raw)
            with self._lock:
                self.ops.append(op)
            if op["op"] == "auth":
                try:
                    self.auth_claims.append(jwt.decode(op["mac"], self.secret, algorithms=["HS256"]))
                    authenticated = True
                except jwt.PyJWTError:
                    await conn.close(4001, "bad token")
                    return
                continue
            if not authenticated:  # like the bridge: nothing before a valid auth op
                await conn.close(4001, "auth first")
                return
            await self._dispatch(conn, op)

    async def _dispatch(self, conn: ServerConnection, op: dict) -> None:
        kind = op["op"]
        if kind == "subscribe":
            self.subscriptions.add(op["topic"])
        elif kind == "advertise_service":
            self.advertised.add(op["service"])
        elif kind == "service_response":
            self.responses[op.get("id", "")] = op
        elif kind == "call_service":
            handler = self.services.get(op["service"])
            if handler is None:
                reply = {"op": "service_response", "id": op.get("id"), "service": op["service"],
                         "values": "service does not exist", "result": False}
            else:
                reply = {"op": "service_response", "id": op.get("id"), "service": op["service"],
                         "values": handler(op.get("args") or {}), "result": True}
            await conn.send(json.dumps(reply))

    # test side ----------------------------------------------------------------------------------------------------
    def _send(self, message: dict) -> None:
        conn = self._conn
        if conn is None:
            raise RuntimeError("no client connected")
        asyncio.run_coroutine_threadsafe(conn.send(json.dumps(message)), self._loop).result(10)

    def publish(self, topic: str, msg: dict) -> None:
        self._send({"op": "publish", "topic": topic, "msg": msg})

    def call_client_service(self, service: str, args: dict, call_id: str) -> None:
        self._send({"op": "call_service", "id": call_id, "service": service, "args": args})

    def drop(self) -> None:
        """Close the client's connection (the client is expected to reconnect)."""
        conn = self._conn
        if conn is not None:
            asyncio.run_coroutine_threadsafe(conn.close(1001, "going away"), self._loop).result(10)

    def ops_named(self, name: str) -> list[dict]:
        with self._lock:
            return [op for op in self.ops if op["op"] == name]
