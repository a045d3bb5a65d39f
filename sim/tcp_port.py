"""The virtual board on a loopback TCP port, next to its pseudo-terminal.

:class:`TcpPort` listens on ``127.0.0.1:PORT`` (0: a free port the system picks) and
relays the byte stream of one client at a time, unchanged both ways, to the pseudo-
terminal named in the board's ``info`` file (:func:`dynalign.sim.virtual_board.wait_port`),
so a host opens the board as pyserial's ``socket://127.0.0.1:PORT`` URL
(``serial.serial_for_url``) exactly as it opens ``/dev/pts/N``: the same frames reach the
same bridge and the same simulated UART, and the bridge's frame pacing, counters and
``--idle-exit`` see TCP traffic as pty traffic.

One client at a time, like a serial port that one program holds: a second connection
while one is served is closed at once (its first read fails: "socket disconnected").  A
new client starts with the pseudo-terminal's unread input discarded (the reply bytes of
a client that left mid-reply).  When the board unplugs its port (``--unplug-after``)
the client's connection is closed, as a pulled cable would end it; the next connection
goes to the port that reappears.
"""

from __future__ import annotations

import json
import os
import select
import socket
import termios
import threading
from pathlib import Path

from dynalign.hw.validate import check_int

__all__ = ["TcpPort", "HOST"]

#: The interface the port listens on: loopback only (the board is this machine's).
HOST = "127.0.0.1"
#: Seconds between two looks at the stop flag while nothing moves.
POLL_S = 0.2


class TcpPort:
    """A loopback TCP port in front of the pseudo-terminal named in ``info``.

    Parameters (keyword-only)
    -------------------------
    info : path of the board's ``info`` file (``{"port", "plugged", ...}``)
    port : int, 0..65535 (0: any free port; :attr:`port` is the one bound)
    """

    def __init__(self, *, info, port: int = 0):
        check_int("port", port, lo=0, hi=65535)
        self.info = Path(info)
        try:
            self._server = socket.create_server((HOST, port))
        except OSError as exc:
            raise ValueError(f"cannot listen on TCP port {port} of {HOST}: "
                             f"{exc.strerror or exc}") from None
        self.port = self._server.getsockname()[1]
        self.url = f"socket://{HOST}:{self.port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True,
                                        name=f"tcp-port-{self.port}")
        #: connections served, and refused while another was served
        self.clients = self.refused = 0

    def start(self) -> TcpPort:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5 * POLL_S)
        self._server.close()

    # -- the relay --------------------------------------------------------------------

    def _pty(self) -> str | None:
        """The board's pseudo-terminal now (``None`` while it is unplugged)."""
        try:
            state = json.loads(self.info.read_text())
        except (OSError, ValueError):
            return None
        return state.get("port") if state.get("plugged") else None

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._server], [], [], POLL_S)
            if not ready:
                continue
            conn, _ = self._server.accept()
            self.clients += 1
            try:
                self._relay(conn)
            finally:
                conn.close()

    def _relay(self, conn: socket.socket) -> None:
        name = self._pty()
        if name is None:                 # no port now (unplugged): like no cable
            return
        try:
            fd = os.open(name, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError:
            return
        try:
            termios.tcflush(fd, termios.TCIFLUSH)   # what a previous client left unread
            while not self._stop.is_set():
                ready, _, _ = select.select([conn, fd, self._server], [], [], POLL_S)
                if self._server in ready:           # one client at a time
                    extra, _ = self._server.accept()
                    self.refused += 1
                    extra.close()
                if conn in ready:
                    data = conn.recv(4096)
                    if not data:                    # the host closed its end
                        return
                    _write_all(fd, data)
                if fd in ready:
                    try:
                        data = os.read(fd, 4096)
                    except BlockingIOError:
                        continue
                    # (EIO, below: the board unplugged its port)
                    if not data:
                        return
                    conn.sendall(data)
        except OSError:          # the host reset its end, or the board's port went away
            return
        finally:
            os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            select.select([], [fd], [], POLL_S)
            continue
        view = view[n:]
