"""A small OSC peer for talking to ``inversynth serve``: requests, replies and subscriptions.

One UDP socket sends and receives, so the server's replies (which go to the
sender's address) and its pushes after ``/subscribe`` arrive here. Received
messages wait in a queue until :meth:`OscClient.wait_for` takes them.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import build_msg
from pythonosc.osc_packet import OscPacket, ParseError

from inversynth.errors import InversynthError

Message = tuple[str, tuple[Any, ...]]

RECEIVE_BUFFER_BYTES = 4 << 20  # ~5 000 small datagrams; Linux's default holds about 200


def widen_receive_buffer(sock: socket.socket) -> None:
    """Let a burst queue instead of vanishing (the kernel caps the request at net.core.rmem_max)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)


class OscTimeout(InversynthError):
    """The server did not answer in time."""


def parse_host_port(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``PORT``) -> (host, port)."""
    host, _, port = text.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise InversynthError(f"{text!r} is not HOST:PORT") from None
    if not 1 <= number <= 65535:
        raise InversynthError(f"port {number} is outside 1..65535")
    return host or "127.0.0.1", number


class OscClient:
    """Talks to one server; ``listener`` (optional) sees every message as it arrives, on the receiving thread."""

    def __init__(self, host: str, port: int, listener: Callable[[str, tuple[Any, ...]], None] | None = None) -> None:
        self.server = (socket.gethostbyname(host), port)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        widen_receive_buffer(self._socket)
        self._socket.bind(("127.0.0.1" if self.server[0].startswith("127.") else "0.0.0.0", 0))
        self._socket.settimeout(0.1)
        self.port = self._socket.getsockname()[1]
        self._inbox: queue.Queue[Message] = queue.Queue()
        self._listener = listener
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._receive, name="inversynth-osc-client", daemon=True)
        self._thread.start()

    def send(self, address: str, *args: Any) -> None:
        self._socket.sendto(build_msg(address, args).dgram, self.server)

    def send_raw(self, data: bytes) -> None:
        self._socket.sendto(data, self.server)

    def _receive(self) -> None:
        while not self._closed.is_set():
            try:
                data, _ = self._socket.recvfrom(65536)
            except (TimeoutError, OSError):
                continue
            try:
                messages: list[OscMessage] = [t.message for t in OscPacket(data).messages]
            except ParseError:
                continue
            for message in messages:
                item = (message.address, tuple(message.params))
                if self._listener is not None:
                    self._listener(*item)
                self._inbox.put(item)

    def wait_for(self, address: str, timeout: float = 5.0, count: int = 1) -> list[tuple[Any, ...]]:
        """The args of the next ``count`` messages at ``address`` (others that arrive meanwhile are dropped)."""
        deadline = time.monotonic() + timeout
        return [self.wait_for_any(address, timeout=deadline - time.monotonic())[1] for _ in range(count)]

    def wait_for_any(self, *addresses: str, timeout: float = 5.0) -> tuple[str, tuple[Any, ...]]:
        """The next message at one of ``addresses``: (its address, its args); others are dropped."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                wanted = " or ".join(addresses)
                raise OscTimeout(f"no {wanted} from {self.server[0]}:{self.server[1]} within {timeout:g} s")
            try:
                got, args = self._inbox.get(timeout=left)
            except queue.Empty:
                continue
            if got in addresses:
                return got, args

    def request(self, address: str, *args: Any, reply: str | None = None, timeout: float = 5.0) -> tuple[Any, ...]:
        """Send and wait for one reply (at ``reply``, default the same address)."""
        self.drain()
        self.send(address, *args)
        return self.wait_for(reply or address, timeout)[0]

    def drain(self) -> list[Message]:
        """Take every message waiting."""
        items = []
        while True:
            try:
                items.append(self._inbox.get_nowait())
            except queue.Empty:
                return items

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=1.0)
        self._socket.close()
