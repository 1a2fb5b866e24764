"""Serve an ``http.server`` with bounded connections, so a web page can never take the process
down: a local user holding a thousand idle connections costs neither its file descriptors nor a
core.

One thread watches every open connection with a selector; a few workers answer one request
each, and the handler closes the connection after it (no keep-alive). At most
``MAX_CONNECTIONS`` sockets are open: a new connection makes room by closing the oldest idle
one, and is refused at once when every slot is being answered. A connection that sends no
request within ``IDLE_TIMEOUT_S``, or whose request and answer outlast ``REQUEST_TIMEOUT_S``
(a header trickled byte by byte, a reader that never reads), is cut. A client that hangs up
mid-answer is logged at debug level, never as a traceback.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import selectors
import socket
import threading
import time
from http.server import HTTPServer

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 32  # open sockets at most, idle or answered: descriptors stay for the rest
WORKERS = 4  # requests answered at once
IDLE_TIMEOUT_S = 5.0  # a connection must send its request within this time, and each read
REQUEST_TIMEOUT_S = 10.0  # bound on reading one request and writing its answer
HANGUPS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)


class BoundedConnections:
    """Serves ``server`` (bound, not started) on a thread of its own until ``close``."""

    def __init__(self, server: HTTPServer, *, name: str) -> None:
        self._server, self._name = server, name
        self._max, self._idle_s, self._request_s = (
            MAX_CONNECTIONS,
            IDLE_TIMEOUT_S,
            REQUEST_TIMEOUT_S,
        )
        self._idle: dict[socket.socket, float] = {}  # waiting for a request, since
        self._busy: dict[socket.socket, float] = {}  # handed to a worker, since
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()  # close() interrupts the select at once
        self._queue: queue.SimpleQueue[socket.socket | None] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._loop, name=name, daemon=True)] + [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
            for i in range(WORKERS)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def close(self) -> None:
        """Stop accepting, cut every open connection; the caller closes the server."""
        self._stop.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        for _ in range(WORKERS):
            self._queue.put(None)
        if self._threads[0].is_alive():
            self._threads[0].join(timeout=2.0)
        with self._lock:
            for sock in [*self._idle, *self._busy]:
                _drop(sock)

    def _loop(self) -> None:
        listener = self._server.socket
        listener.setblocking(False)
        self._selector.register(listener, selectors.EVENT_READ)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        while not self._stop.is_set():
            try:
                self._turn(listener)
            except Exception:  # a bug here must neither end the page nor spin
                log.exception("%s: connection loop failed", self._name)
                self._stop.wait(0.5)
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def _turn(self, listener: socket.socket) -> None:
        for key, _ in self._selector.select(timeout=0.2):
            if key.fileobj is self._wake_r:
                return  # close() was called
            if key.fileobj is listener:
                self._accept(listener)
            elif key.fileobj in self._idle:  # not made room for earlier in this turn
                self._dispatch(key.fileobj)
        self._expire(time.monotonic())

    def _accept(self, listener: socket.socket) -> None:
        for _ in range(self._max):  # take a burst at once, then let the rest of the loop run
            try:
                sock, _ = listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:  # out of file descriptors, say: wait, do not spin
                log.debug("%s: accept failed: %s", self._name, exc)
                self._stop.wait(0.1)
                return
            with self._lock:
                if len(self._idle) + len(self._busy) >= self._max:
                    if not self._idle:
                        _drop(sock)  # every slot is being answered: refuse at once
                        continue
                    self._forget(min(self._idle, key=self._idle.__getitem__))  # the oldest
                self._idle[sock] = time.monotonic()
            sock.setblocking(False)
            self._selector.register(sock, selectors.EVENT_READ)

    def _forget(self, sock: socket.socket) -> None:
        self._selector.unregister(sock)
        del self._idle[sock]
        _drop(sock)

    def _dispatch(self, sock: socket.socket) -> None:
        self._selector.unregister(sock)
        with self._lock:
            del self._idle[sock]
            self._busy[sock] = time.monotonic()
        self._queue.put(sock)

    def _work(self) -> None:
        while (sock := self._queue.get()) is not None:
            self._answer(sock)

    def _answer(self, sock: socket.socket) -> None:
        try:
            sock.settimeout(self._idle_s)
            self._server.RequestHandlerClass(sock, sock.getpeername(), self._server)
        except HANGUPS as exc:  # the browser left mid-answer, or was too slow
            log.debug("%s: client went away: %s", self._name, exc)
        except OSError as exc:  # cut at the request deadline (below), or closed at shutdown
            log.debug("%s: connection ended: %s", self._name, exc)
        except Exception:
            log.exception("%s: request failed", self._name)
        finally:
            with self._lock:
                self._busy.pop(sock, None)
            self._server.shutdown_request(sock)

    def _expire(self, now: float) -> None:
        with self._lock:
            for sock, since in list(self._idle.items()):
                if now - since > self._idle_s:
                    self._forget(sock)
            for sock, since in self._busy.items():
                if now - since > self._request_s:
                    _cut(sock)  # the worker's read or write fails and it closes the socket


def _cut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the peer
        sock.shutdown(socket.SHUT_RDWR)


def _drop(sock: socket.socket) -> None:
    _cut(sock)
    sock.close()
