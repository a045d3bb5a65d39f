"""cocotb test: the Verilated top level behind a pseudo-terminal (the virtual board).

The test opens a pseudo-terminal (:func:`os.openpty`, raw mode), writes its slave's name
(``/dev/pts/N``) to the job's ``info`` file and then shuttles bytes both ways: what a
host writes to the port is bit-banged onto the top's ``rx`` pin (8N1, ``divisor`` clock
cycles per bit, :class:`dynalign.sim.tb_top.SimUARTTransport`), and every byte the
design sends on ``tx`` is decoded mid-bit and written back to the port.  The UART is
cycle-true: the design's own receiver and transmitter run at the divisor it was
elaborated for.  Of the host protocol the bridge knows only where a frame ends
(:class:`FramePacer`).

Simulated time and wall time are decoupled.  The simulation runs while the link is
*busy* -- from a host byte until the design has answered every request the host sent
(a pipelining host has several in flight) and its ``tx`` line has been quiet for
``quiet_cycles`` -- and stands still while the link is idle (the bridge then
waits on the port with ``select``, using no CPU).  A request the design never answers
keeps it busy for at most ``reply_cycles`` cycles (the bound; the stuck request is
logged as such), after which the bridge is idle again.

Fault injection: ``unplug_after`` (bytes from the host) closes the port after that
many bytes, as a pulled cable would (the host's next read or write fails); the design
keeps running (a partial frame times out, its reply is lost) and after
``replug_s`` seconds a new pseudo-terminal appears (the ``link`` symlink, when given,
follows it).

Job (JSON file named by ``DYNALIGN_PTY_JOB``): ``divisor``, ``info`` (file to write
``{"port", "plugged"}`` to), ``link`` (optional symlink path), ``quiet_cycles``,
``reply_cycles``, ``idle_exit_s`` (exit after that long without a host byte; 0: never),
``unplug_after``, ``replug_s``, ``tcp`` (the ``socket://`` URL of a loopback TCP port in
front of the pty, :mod:`dynalign.sim.tcp_port`; written to ``info`` as it is).  The
``info`` file also carries the counters, updated after every answered request:
``requests``, ``request_cycles`` (the sum, over busy spans, of the cycles from a span's
first request byte to its last reply byte: link and device time, without the host's own
time between spans; one request per span for a host that waits for each reply, a whole
pipelined stream in one span otherwise) and ``sim_cycles``.  On exit the test
writes its counters to ``DYNALIGN_PTY_RESULT``.
"""

from __future__ import annotations

import errno
import json
import os
import select
import time
import tty
from pathlib import Path

import cocotb
from cocotb.triggers import First, Timer
from cocotb.utils import get_sim_time

from dynalign.hw.wire.frames import FRAME_HEADER_LEN, FRAME_TRAILER_LEN, SYNC
from dynalign.sim.tb_top import CLOCK_PS, SimUARTTransport, reset
from dynalign.sim.tb_top_run import CLOCK_NS

#: Log every chunk of bytes both ways to the test log (``DYNALIGN_PTY_DEBUG=1``).
DEBUG = os.environ.get("DYNALIGN_PTY_DEBUG", "") not in ("", "0")

#: Cycles simulated between two looks at the port while the link is busy.
POLL_CYCLES = 256


def _now_cycles() -> int:
    return int(get_sim_time("ns") // CLOCK_NS)


class PtyPort:
    """The device's end of a pseudo-terminal (raw mode, non-blocking master)."""

    def __init__(self, *, link: str | None, info: str, tcp: str | None = None):
        self.link, self.info, self.tcp = link, info, tcp
        self.master = self.slave = None
        self.name = None
        #: the bridge's counters, published with the port (``{"counters": ...}``)
        self.counters = {"requests": 0, "request_cycles": 0, "sim_cycles": 0}

    def plug(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)             # no echo, no line discipline: bytes as they are
        os.set_blocking(self.master, False)
        self.name = os.ttyname(self.slave)
        if self.link:
            tmp = f"{self.link}.tmp{os.getpid()}"
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(self.name, tmp)
            os.replace(tmp, self.link)
        self._write_info(plugged=True)

    def unplug(self) -> None:
        # the link goes first: a host that sees the port fail (below) and waits for the
        # link to come back must not find the old one and open a dead pty
        if self.link and os.path.lexists(self.link):
            os.unlink(self.link)
        # the slave end we hold keeps the port alive when no host has it open; both
        # ends go, so the host's next read or write fails (EIO)
        for fd in (self.master, self.slave):
            if fd is not None:
                os.close(fd)
        self.master = self.slave = None
        self._write_info(plugged=False)

    @property
    def plugged(self) -> bool:
        return self.master is not None

    def publish(self, **counters) -> None:
        """Update the counters in the ``info`` file (the port stays as it is)."""
        self.counters.update(counters)
        self._write_info(plugged=self.plugged)

    def _write_info(self, *, plugged: bool) -> None:
        tmp = f"{self.info}.tmp"
        Path(tmp).write_text(json.dumps({"port": self.name, "link": self.link,
                                         "tcp": self.tcp, "plugged": plugged, "pid": os.getpid(),
                                         "counters": self.counters}))
        os.replace(tmp, self.info)

    def read(self) -> bytes:
        """Bytes the host wrote (``b""`` when none)."""
        try:
            return os.read(self.master, 4096)
        except BlockingIOError:
            return b""
        except OSError as exc:           # EIO: no host has the port open right now
            if exc.errno == errno.EIO:
                return b""
            raise

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.master, view)
            except BlockingIOError:
                select.select([], [self.master], [], 0.05)
                continue
            view = view[n:]

    def wait(self, timeout: float) -> None:
        """Block until the host writes something (or ``timeout`` seconds)."""
        select.select([self.master], [], [], timeout)


class FramePacer:
    """Where the host's byte stream stands in a link frame (``SYNC CMD SEQ LEN PAYLOAD
    CRC16``, :mod:`dynalign.hw.wire.frames`): :attr:`incomplete` while a frame has
    begun and not ended.  A USB UART delivers a frame's bytes back to back; a
    pseudo-terminal hands them over in pieces, with wall time between them, so the
    bridge collects a whole frame before it puts it on the line (while time in the
    simulation stands still) instead of letting the design's frame timeout expire in
    the gaps."""

    def __init__(self):
        self.buf = bytearray()
        self.frames = 0             #: frames completed so far

    def feed(self, data: bytes) -> None:
        for b in data:
            if not self.buf:
                if b == SYNC:
                    self.buf.append(b)
                continue
            self.buf.append(b)
            if len(self.buf) >= FRAME_HEADER_LEN:
                n = self.buf[3] | self.buf[4] << 8
                if len(self.buf) >= FRAME_HEADER_LEN + n + FRAME_TRAILER_LEN:
                    self.buf.clear()
                    self.frames += 1

    @property
    def incomplete(self) -> bool:
        return bool(self.buf)


#: Wall seconds the bridge waits for the rest of a frame the host has begun; after
#: that the bytes go on the line as they are (a truncated frame then times out in the
#: design, as it would on a board).
FRAME_WAIT_S = 0.5


@cocotb.test()
async def virtual_board(dut):
    """Serve the design behind a pseudo-terminal until the host goes quiet for good."""
    job = json.loads(Path(os.environ["DYNALIGN_PTY_JOB"]).read_text())
    await reset(dut)
    tr = SimUARTTransport(dut, divisor=job["divisor"], quiet_cycles=1)
    port = PtyPort(link=job.get("link"), info=job["info"], tcp=job.get("tcp"))
    port.plug()
    quiet, bound = job["quiet_cycles"], job["reply_cycles"]
    idle_exit, unplug_after = job.get("idle_exit_s", 0), job.get("unplug_after", 0)
    rx_bytes = tx_bytes = stuck = requests = request_cycles = 0
    busy, busy_from, last_tx, last_rx, answered = False, 0, 0, 0, False
    last_host = time.monotonic()
    unplugged_at = None
    pacer = FramePacer()
    replies = FramePacer()      # the design's frames: a pipelining host has several due
    wall0 = time.perf_counter()
    while True:
        if not port.plugged:
            if time.monotonic() - unplugged_at >= job.get("replug_s", 1.0):
                port.plug()
                last_host = time.monotonic()
            data = b""
        else:
            data = port.read()
            sent_before = pacer.frames
            if data:
                pacer.feed(data)
                end = time.monotonic() + FRAME_WAIT_S
                while pacer.incomplete and time.monotonic() < end:
                    port.wait(end - time.monotonic())
                    more = port.read()
                    pacer.feed(more)
                    data += more
        if data:
            last_host = time.monotonic()
            if unplug_after and rx_bytes < unplug_after <= rx_bytes + len(data):
                data = data[:unplug_after - rx_bytes]
                port.unplug()
                pacer = FramePacer()
                unplugged_at = time.monotonic()
                unplug_after = 0
            rx_bytes += len(data)
            if busy and answered and replies.frames >= sent_before:
                # everything before was answered: that span ends, a new one begins
                requests += 1
                request_cycles += last_tx + job["divisor"] // 2 - busy_from
                busy = False
            if not busy:
                # a new request: busy until the design answers it (and all sent with it)
                busy, busy_from = True, _now_cycles()
            answered, last_rx = False, _now_cycles()
            if DEBUG:
                cocotb.log.info(f"host -> device {len(data)} bytes at {_now_cycles()}: "
                                f"{data[:8].hex()}..{data[-4:].hex()}")
            await tr.send(data)
        if tr.buf:
            out, tr.buf = bytes(tr.buf), bytearray()
            tx_bytes += len(out)
            replies.feed(out)
            last_tx, answered = _now_cycles(), True
            if DEBUG:
                cocotb.log.info(f"device -> host {len(out)} bytes at {last_tx}: {out.hex()}")
            if port.plugged:
                port.write(out)            # while unplugged the reply is lost
        if busy:
            now = _now_cycles()
            if answered and now - last_tx >= quiet and replies.frames >= pacer.frames:
                busy = False
                # link + device time of the request: its first byte to its reply's last
                requests += 1
                request_cycles += last_tx + job["divisor"] // 2 - busy_from
                port.publish(requests=requests, request_cycles=request_cycles,
                             sim_cycles=now)
            elif now - max(busy_from, last_rx, last_tx if answered else 0) >= bound:
                # no reply byte within the bound of the last request or the last reply
                stuck += 1
                cocotb.log.warning(f"virtual board: no reply within {bound} cycles of "
                                   f"the host's request (device stuck or request ignored; "
                                   f"{max(pacer.frames - replies.frames, 1)} unanswered)")
                busy = False
            if not busy:            # (an unanswered or partial frame: count afresh)
                replies.frames = pacer.frames = 0
            else:
                # wake at the next byte from the design (its stop bit's middle) or after
                # POLL_CYCLES, whichever is first: reply times to the bit
                tr.event.clear()
                await First(tr.event.wait(), Timer(POLL_CYCLES * CLOCK_PS, unit="ps"))
                continue
        if idle_exit and time.monotonic() - last_host >= idle_exit:
            break
        if port.plugged:
            port.wait(0.2)
        else:
            time.sleep(0.05)
    if port.plugged:
        port.unplug()
    wall = time.perf_counter() - wall0
    result = os.environ.get("DYNALIGN_PTY_RESULT")
    if result:
        Path(result).write_text(json.dumps({
            "rx_bytes": rx_bytes, "tx_bytes": tx_bytes, "stuck_requests": stuck,
            "sim_cycles": _now_cycles(), "wall_s": wall}))
