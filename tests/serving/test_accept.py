"""The workers' event loop accepts every pending connection when its listening socket becomes
readable (libuv alone accepts one per turn of the loop, so a busy worker left a burst of new
connections waiting in the kernel's queue for seconds)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from modelyard.serving.workers import _accept_all_loop, bind_socket

pytest.importorskip("uvloop")


class _Counting(asyncio.Protocol):
    made: list[Any] = []

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        _Counting.made.append(transport)

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


def echoed(client: socket.socket) -> bool:
    return bool(client.recv(4, socket.MSG_PEEK | socket.MSG_DONTWAIT)) if _ready(client) else False


def _ready(client: socket.socket) -> bool:
    try:
        client.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return False
    return True


def test_one_readiness_accepts_every_pending_connection() -> None:
    _Counting.made = []
    listening = bind_socket("127.0.0.1", 0, reuse_port=False)
    listening.listen(128)
    port = listening.getsockname()[1]
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]  # all queued in the kernel
    loop = _accept_all_loop()
    try:

        async def run() -> int:
            server = await loop.create_server(_Counting, sock=listening, backlog=128)
            server._accept()  # one readiness: the whole queue
            pending = len(server._tasks)
            while len(_Counting.made) < 40:
                await asyncio.sleep(0.01)
            clients[7].sendall(b"ping")  # an accepted connection works
            while not echoed(clients[7]):
                await asyncio.sleep(0.01)
            server.close()
            await server.wait_closed()
            return pending

        assert loop.run_until_complete(run()) == 40
        assert len(_Counting.made) == 40
        assert clients[7].recv(4) == b"ping"
    finally:
        for transport in _Counting.made:
            transport.close()
        for client in clients:
            client.close()
        listening.close()
        loop.run_until_complete(asyncio.sleep(0.05))  # the transports close on the loop
        loop.close()
